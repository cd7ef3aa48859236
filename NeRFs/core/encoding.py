"""Positional encoding of the original NeRF / AD-NeRF: ``[x, sin(2^0 x), cos(2^0 x), ..., sin(2^(L-1) x), cos(2^(L-1) x)]``.

No factor pi: frequencies are plain powers of two, as in the original, whose checkpoints were trained on them.
"""
from __future__ import annotations

import torch
from torch import nn


class PositionalEncoding(nn.Module):
    """Encode ``[..., D]`` into ``[..., D * (1 + 2 * num_freqs)]``.

    The output order matches the original (per frequency: sin then cos of all D inputs), so the
    first-layer weights of original checkpoints line up with these features.
    """

    def __init__(self, num_freqs: int, input_dims: int = 3, include_input: bool = True):
        super().__init__()
        self.num_freqs = num_freqs
        self.input_dims = input_dims
        self.include_input = include_input
        self.register_buffer("freq_bands", 2.0 ** torch.arange(num_freqs, dtype=torch.float32), persistent=False)

    @property
    def out_dim(self) -> int:
        return self.input_dims * (int(self.include_input) + 2 * self.num_freqs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: [..., D] -> [..., out_dim]."""
        scaled = x[..., None, :] * self.freq_bands.to(x.dtype)[:, None]  # [..., L, D]
        # interleave sin/cos per frequency: [..., L, 2, D] -> [..., 2 L D]
        periodic = torch.stack((torch.sin(scaled), torch.cos(scaled)), dim=-2).flatten(-3)
        return torch.cat((x, periodic), dim=-1) if self.include_input else periodic


def get_embedder(multires: int, input_dims: int = 3, i_embed: int = 0) -> PositionalEncoding | nn.Identity:
    """The original ``get_embedder``: ``i_embed == -1`` disables the encoding (identity, out_dim = input_dims)."""
    if i_embed == -1:
        ident = nn.Identity()
        ident.out_dim = input_dims  # type: ignore[attr-defined]
        return ident
    return PositionalEncoding(multires, input_dims)
