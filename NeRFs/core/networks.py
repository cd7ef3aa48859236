"""The three networks of AD-NeRF, with the original's parameter names and shapes.

Checkpoints of the original load into these modules key for key, and ``state_dict()`` of these modules
loads into the original's. Parameter counts with the defaults: FaceNeRF 661,636, AudioNet 32,800,
AudioAttNet 2,149 (checked by the tests).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.02


def _conv_stack(channels: list[int], stride: int) -> nn.Sequential:
    """Conv1d(k=3, p=1) + LeakyReLU(0.02) per step; indices 0, 2, 4, ... hold the convolutions."""
    layers: list[nn.Module] = []
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        layers += [nn.Conv1d(c_in, c_out, kernel_size=3, stride=stride, padding=1, bias=True),
                   nn.LeakyReLU(LEAKY_SLOPE, inplace=True)]
    return nn.Sequential(*layers)


class AudioNet(nn.Module):
    """Per-frame audio code from a window of speech features.

    [B, 16, C] (C = 29 for DeepSpeech) -> [B, dim_aud]. Four stride-2 convolutions reduce the 16 time
    steps to 1, then two linear layers.
    """

    def __init__(self, dim_aud: int = 64, win_size: int = 16, in_channels: int = 29):
        super().__init__()
        self.win_size = win_size
        self.dim_aud = dim_aud
        self.encoder_conv = _conv_stack([in_channels, 32, 32, 64, 64], stride=2)
        self.encoder_fc1 = nn.Sequential(
            nn.Linear(64, 64), nn.LeakyReLU(LEAKY_SLOPE, inplace=True), nn.Linear(64, dim_aud))

    @property
    def in_channels(self) -> int:
        """C, the feature channels per row this network reads (29 for DeepSpeech, fixed by its weights)."""
        return int(self.encoder_conv[0].in_channels)

    @staticmethod
    def channels_of(state_dict: dict) -> int:
        """The ``in_channels`` of a saved AudioNet state dict (so a network of the right width can be built)."""
        return int(state_dict["encoder_conv.0.weight"].shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [B, 16, C] -> [B, dim_aud] (a centred ``win_size`` slice of the 16 rows is used)."""
        half = self.win_size // 2
        x = x[:, 8 - half:8 + half, :].permute(0, 2, 1)
        x = self.encoder_conv(x).squeeze(-1)
        return self.encoder_fc1(x)


class AudioAttNet(nn.Module):
    """Temporal smoothing of audio codes: attention weights over ``seq_len`` neighbouring frames.

    Only the first ``dim_aud`` (32) channels of the codes feed the attention: the original builds AudioAttNet with
    its default width whatever the code width is, and its checkpoints (which load here) are shaped for that.
    """

    def __init__(self, dim_aud: int = 32, seq_len: int = 8):
        super().__init__()
        self.dim_aud = dim_aud
        self.seq_len = seq_len
        self.attentionConvNet = _conv_stack([dim_aud, 16, 8, 4, 2, 1], stride=1)
        self.attentionNet = nn.Sequential(nn.Linear(seq_len, seq_len, bias=True), nn.Softmax(dim=1))

    def attention(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [seq_len, D] -> weights [seq_len] (sum to 1)."""
        y = codes[..., :self.dim_aud].permute(1, 0).unsqueeze(0)  # [1, dim_aud, seq_len]
        y = self.attentionConvNet(y)  # [1, 1, seq_len]
        return self.attentionNet(y.view(1, self.seq_len)).view(self.seq_len)

    def forward(self, codes: torch.Tensor) -> torch.Tensor:
        """codes: [seq_len, D] -> smoothed code [D]."""
        return (self.attention(codes)[:, None] * codes).sum(dim=0)


class FaceNeRF(nn.Module):
    """The conditioned NeRF MLP: ``[PE(x) | cond]`` -> 8x256 ReLU with a skip, sigma and view-dependent rgb.

    ``cond`` is the audio code (head, 64) or audio code + encoded pose (torso, 106). Because the condition
    is shared by all points of a frame, ``forward`` accepts it as one vector and folds its contribution
    into the biases of the two layers that read it, instead of concatenating it to every point.
    ``trunk`` / ``density`` / ``colour`` expose the parts so that a renderer can skip the colour where it
    is never seen; ``view_code`` is the per-ray part of the first colour layer. ``feature_linear`` exists
    (as in the original, so state dicts match key for key) but, as in the original, is never applied.
    """

    def __init__(self, D: int = 8, W: int = 256, input_ch: int = 63, dim_aud: int = 64, input_ch_views: int = 27,
                 output_ch: int = 4, skips: tuple[int, ...] = (4,), use_viewdirs: bool = True):
        super().__init__()
        self.D, self.W = D, W
        self.input_ch, self.dim_aud, self.input_ch_views = input_ch, dim_aud, input_ch_views
        self.skips = tuple(skips)
        self.use_viewdirs = use_viewdirs
        in_pts = input_ch + dim_aud
        self.pts_linears = nn.ModuleList(
            [nn.Linear(in_pts, W)] + [nn.Linear(W + in_pts if i in self.skips else W, W) for i in range(D - 1)])
        if use_viewdirs:
            self.views_linears = nn.ModuleList(
                [nn.Linear(input_ch_views + W, W // 2)] + [nn.Linear(W // 2, W // 2) for _ in range(D // 4)])
            self.feature_linear = nn.Linear(W, W)
            self.alpha_linear = nn.Linear(W, 1)
            self.rgb_linear = nn.Linear(W // 2, 3)
        else:
            self.output_linear = nn.Linear(W, output_ch)

    def _layer_with_cond(self, layer: nn.Linear, offset: int, x_pts: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``layer(cat([x_pts, cond, rest]))`` for the slice of inputs [offset, offset + input_ch + dim_aud)."""
        w_pts = layer.weight[:, offset:offset + self.input_ch]
        w_cond = layer.weight[:, offset + self.input_ch:offset + self.input_ch + self.dim_aud]
        if cond.dim() == 1:  # one condition for all points: fold it into the bias
            return F.linear(x_pts, w_pts, layer.bias + w_cond @ cond)
        return F.linear(x_pts, w_pts, layer.bias) + F.linear(cond, w_cond)

    def trunk(self, x_pts: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """The 8-layer ReLU stack. x_pts: [N, input_ch] encoded points, cond: [dim_aud] or [N, dim_aud]
        -> features [N, W] (density and colour are read from them)."""
        h = F.relu(self._layer_with_cond(self.pts_linears[0], 0, x_pts, cond), inplace=True)
        for i, layer in enumerate(self.pts_linears[1:]):
            if i in self.skips:  # this layer reads cat([x_pts, cond, h]): one product per part, no concatenation
                w_h = layer.weight[:, self.input_ch + self.dim_aud:]
                h = torch.addmm(self._layer_with_cond(layer, 0, x_pts, cond), h, w_h.t())
            else:
                h = layer(h)
            h = F.relu(h, inplace=True)
        return h

    def density(self, h: torch.Tensor) -> torch.Tensor:
        """features [..., W] -> density before its activation [..., 1]."""
        return self.alpha_linear(h) if self.use_viewdirs else self.output_linear(h)[..., 3:]

    def view_code(self, x_views: torch.Tensor) -> torch.Tensor:
        """The part of the first colour layer that reads the encoded view direction, bias included.

        x_views: [..., input_ch_views] -> [..., W // 2]. A ray's samples share their direction, so the
        renderers compute this once per ray and broadcast it (``colour``) instead of concatenating the
        27 view columns to every point.
        """
        layer = self.views_linears[0]
        return F.linear(x_views, layer.weight[:, self.W:], layer.bias)

    def colour(self, h: torch.Tensor, view_code: torch.Tensor | None) -> torch.Tensor:
        """features [..., W] and ``view_code`` (broadcastable to [..., W // 2]) -> rgb logits [..., 3]."""
        if not self.use_viewdirs:
            return self.output_linear(h)[..., :3]
        first = self.views_linears[0]
        # The original's forward reads the trunk output itself (``feature = h``): ``feature_linear`` is
        # created, so it is in every state dict, but never applied. Applying it renders its checkpoints wrong.
        h = F.linear(h, first.weight[:, :self.W]) + view_code
        h = F.relu(h, inplace=True)
        for layer in self.views_linears[1:]:
            h = F.relu(layer(h), inplace=True)
        return self.rgb_linear(h)

    def forward(self, x_pts: torch.Tensor, cond: torch.Tensor, x_views: torch.Tensor | None = None) -> torch.Tensor:
        """x_pts: [N, input_ch] encoded points, cond: [dim_aud] or [N, dim_aud], x_views: [N, input_ch_views].

        Returns raw [N, 4]: rgb logits (3) and density before its activation (1), as the original's module.
        """
        h = self.trunk(x_pts, cond)
        if not self.use_viewdirs:
            return self.output_linear(h)
        return torch.cat((self.colour(h, self.view_code(x_views)), self.density(h)), dim=-1)

    @torch.no_grad()
    def init_density_positive(self, bias: float = 0.1, weight_scale: float = 1e-2) -> None:
        """Start with a small positive density everywhere so the ReLU passes gradients for every seed.

        With the default initialisation, the density head is a nearly constant linear function of very
        similar hidden features inside the small near..far slab, so for many seeds it is negative at every
        sample: ReLU then blocks all gradients and the network never learns (the original's failure).
        Shrinking the density weights and giving it a positive bias keeps the architecture (and the
        checkpoint format) unchanged.
        """
        head = self.alpha_linear if self.use_viewdirs else self.output_linear
        if self.use_viewdirs:
            head.weight.mul_(weight_scale)
            head.bias.fill_(bias)
        else:  # density is the last output channel
            head.weight[3:].mul_(weight_scale)
            head.bias[3:].fill_(bias)


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
