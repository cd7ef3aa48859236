"""LPIPS (Zhang et al. 2018), version 0.1 with the AlexNet backbone, as the lpips package defines it.

distance(x, y) = sum over the 5 AlexNet ReLU layers l of mean_hw( w_l . (f_l(x) / |f_l(x)| - f_l(y) / |f_l(y)|)^2 )
with inputs scaled to [-1, 1] then shifted / scaled per channel, f_l unit-normalised along channels, and
w_l the learned non-negative linear heads. Two weight files:
- the AlexNet backbone of torchvision (ImageNet), downloaded from download.pytorch.org on first use;
- the linear heads (alex.pth, 5 x [1, C, 1, 1]) that ship inside the lpips package (no download).
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn as nn

from evaluation.weights import MetricUnavailable, fetch_weights, load_into, load_state_dict

ALEXNET_URL = "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"
LINEAR_HEADS_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth"
TAPS = (1, 4, 7, 9, 11)            # indices of relu1..relu5 in torchvision's AlexNet.features
CHANNELS = (64, 192, 384, 256, 256)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


class LPIPSAlex(nn.Module):
    """LPIPS v0.1 / AlexNet. forward(x, y): [B, 3, H, W] in [0, 1] -> distances [B] (0 = identical)."""

    def __init__(self):
        super().__init__()
        import torchvision
        self.features = torchvision.models.alexnet(weights=None).features[:TAPS[-1] + 1]
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in CHANNELS)
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def _unit_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """[B, 3, H, W] in [0, 1] -> 5 channel-normalised feature maps."""
        h = ((2 * x - 1) - self.shift) / self.scale
        out = []
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in TAPS:
                out.append(h / (h.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        total = torch.zeros(x.shape[0], device=x.device)
        for lin, fx, fy in zip(self.lins, self._unit_features(x), self._unit_features(y)):
            total = total + lin((fx - fy) ** 2).mean((1, 2, 3))
        return total


def packaged_linear_heads() -> Path | None:
    """alex.pth inside the installed lpips package (located without importing it), or None."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "weights" / "v0.1" / "alex.pth"
    return path if path.is_file() else None


def load_lpips(device: torch.device | str = "cpu", backbone_path: str | Path | None = None,
               heads_path: str | Path | None = None) -> LPIPSAlex:
    """LPIPS with the AlexNet backbone (file, cache or download) and the linear heads (file, lpips package or
    download). The backbone file may be torchvision's full AlexNet state dict or just its features.* part."""
    model = LPIPSAlex()
    backbone = fetch_weights("LPIPS AlexNet backbone", ALEXNET_URL, Path(ALEXNET_URL).name, backbone_path,
                             hash_prefix="7be5be79", option="--lpips_backbone")
    state = load_state_dict(backbone)
    features = {k[len("features."):]: v for k, v in state.items()
                if k.startswith("features.") and int(k.split(".")[1]) <= TAPS[-1]}
    load_into(model.features, features, backbone, "AlexNet features")
    heads = heads_path or packaged_linear_heads()
    heads = fetch_weights("LPIPS linear heads", LINEAR_HEADS_URL, "lpips_v0.1_alex.pth", heads,
                          option="--lpips_heads")
    # lpips names the heads lin<l>.model.1.weight (a Dropout sits at index 0)
    lin_state = {f"{k[3]}.weight": v for k, v in load_state_dict(heads).items() if k.startswith("lin")}
    load_into(model.lins, lin_state, heads, "LPIPS linear heads")
    return model.to(device).eval()


def check_input_size(h: int, w: int) -> None:
    """AlexNet's conv/pool stack needs about 32 px; smaller frames cannot be scored."""
    if min(h, w) < 32:
        raise MetricUnavailable(f"LPIPS needs frames of at least 32x32 pixels, got {h}x{w}")
