"""Render settings and the radiance field (positional encodings + FaceNeRF) that the renderers query."""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
from torch import nn

from .encoding import get_embedder
from .networks import FaceNeRF

CPU_INFERENCE_NETCHUNK = 4096  # points per network call when rendering on a CPU: activations stay in cache


@dataclass
class RenderSettings:
    """Sampling and compositing options (names of the original's command line)."""
    N_samples: int = 64
    N_importance: int = 128
    perturb: float = 1.0
    lindisp: bool = False
    raw_noise_std: float = 0.0
    white_bkgd: bool = True
    chunk: int = 1024 * 32  # rays per batch
    netchunk: int = 1024 * 64  # points per network call
    early_stop_T: float = 0.0  # inference renderer: stop rays below this transmittance (0: never)
    amp: bool = False  # float16 network queries on CUDA
    inference: bool = False  # made by for_inference: rendering.renderer_for names the display renderer

    def for_inference(self, early_stop_T: float = 1e-4, device: torch.device | str | None = None) -> "RenderSettings":
        """Settings for display renders: no jitter, large ray batches, early ray termination; on a CPU
        ``device``, network calls of at most ``CPU_INFERENCE_NETCHUNK`` points (faster, same pixels)."""
        netchunk = self.netchunk
        if device is not None and torch.device(device).type == "cpu":
            netchunk = min(netchunk, CPU_INFERENCE_NETCHUNK)
        return RenderSettings(**{**self.__dict__, "perturb": 0.0, "raw_noise_std": 0.0, "netchunk": netchunk,
                                 "early_stop_T": early_stop_T, "chunk": max(self.chunk, 1024 * 64),
                                 "inference": True})


def autocast(s: RenderSettings, device: torch.device):
    """float16 autocast for network queries when ``s.amp`` and on CUDA, else a no-op context."""
    if s.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


class RadianceField(nn.Module):
    """Positional encodings + FaceNeRF: raw outputs at 3D points for one condition vector."""

    def __init__(self, network: FaceNeRF, multires: int = 10, multires_views: int = 4, i_embed: int = 0):
        super().__init__()
        self.network = network
        self.embed = get_embedder(multires, 3, i_embed)
        self.embed_dirs = get_embedder(multires_views, 3, i_embed) if network.use_viewdirs else None

    def view_code(self, viewdirs: torch.Tensor) -> torch.Tensor | None:
        """Unit view directions [R, 3] -> the first colour layer's per-ray input [R, W / 2] (None without
        view dependence)."""
        if self.embed_dirs is None:
            return None
        return self.network.view_code(self.embed_dirs(viewdirs))

    def features(self, pts: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """Points [N, 3] -> the network's trunk features [N, W] (density and colour are read from them)."""
        return self.network.trunk(self.embed(pts), cond)

    def forward(self, pts: torch.Tensor, viewdirs: torch.Tensor | None, cond: torch.Tensor,
                netchunk: int = 1024 * 64) -> torch.Tensor:
        """pts: [R, S, 3], viewdirs: [R, 3] (unit), cond: [C] -> raw [R, S, 4] (rgb logits, density).

        Queried in batches of whole rays, about ``netchunk`` points each.
        """
        R, S = pts.shape[:2]
        code = self.view_code(viewdirs)
        rays = max(1, netchunk // max(S, 1))
        outs = []
        for i in range(0, R, rays):
            p = pts[i:i + rays]
            h = self.features(p.reshape(-1, 3), cond).view(*p.shape[:2], -1)
            colour = self.network.colour(h, None if code is None else code[i:i + rays, None])
            outs.append(torch.cat((colour, self.network.density(h)), dim=-1))
        return torch.cat(outs, dim=0).float()
