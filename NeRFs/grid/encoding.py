"""Multi-resolution spatial encodings of the grid backend, in plain PyTorch (no compiled extensions).

Two encodings, both taking points already normalised to the cube [-1, 1]^3:

* ``TriPlaneEncoding``: for every level, three learned feature planes (xy, yz, xz) read with
  ``F.grid_sample`` (bilinear); a point's feature is the concatenation over planes and levels.
  Storage grows with resolution squared, so high resolutions stay dense (no hash collisions).
* ``HashGridEncoding``: instant-ngp's multi-resolution hash grid: per level, the 8 corners of the point's
  voxel are looked up in a table of ``2^log2_table`` feature vectors (dense indexing while the level fits,
  a spatial hash beyond) and blended trilinearly; features concatenated over levels.

``benchmarks/bench_backends.py --encodings`` times both; the backend uses the tri-plane (faster here, see
docs/grid_backend.md). Both are differentiable in their parameters and in the points.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

_PLANES = ((0, 1), (1, 2), (0, 2))  # xy, yz, xz
_PRIMES = (1, 2654435761, 805459861)  # instant-ngp's hash primes


def level_resolutions(levels: int, base_res: int, max_res: int) -> list[int]:
    """Geometric progression of ``levels`` resolutions from base_res to max_res (inclusive)."""
    if levels == 1:
        return [max_res]
    growth = math.exp((math.log(max_res) - math.log(base_res)) / (levels - 1))
    return [int(round(base_res * growth ** i)) for i in range(levels)]


class TriPlaneEncoding(nn.Module):
    """Points [N, 3] in [-1, 1] -> features [N, 3 * levels * features].

    Parameters: one tensor per level [3, features, res, res] (the three planes of that level).
    Initialised uniformly in +-init_scale (small: the first MLP layer sees near-zero features at first).
    """

    def __init__(self, levels: int = 4, features: int = 8, base_res: int = 32, max_res: int = 128,
                 init_scale: float = 1e-1):
        super().__init__()
        self.resolutions = level_resolutions(levels, base_res, max_res)
        self.features = features
        self.planes = nn.ParameterList(
            nn.Parameter(torch.empty(3, features, r, r).uniform_(-init_scale, init_scale)) for r in self.resolutions)
        self.out_dim = 3 * levels * features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x [N, 3] -> [N, E], a transposed view of a contiguous [E, N] tensor (feature index: level, plane,
        channel). grid_sample returns channels first; transposing each level to [N, 3F] was a strided copy
        costing as much as the lookups themselves, while a Linear layer reads the transposed view as is."""
        n = x.shape[0]
        # grid_sample wants [B, H_out, W_out, 2] sample positions: here B = 3 planes, H_out = 1, W_out = N
        coords = torch.stack([x[:, list(p)] for p in _PLANES], dim=0).unsqueeze(1)  # [3, 1, N, 2]
        outs = []
        for planes in self.planes:
            f = F.grid_sample(planes, coords.to(planes.dtype), mode="bilinear", padding_mode="border",
                              align_corners=True)  # [3, F, 1, N]
            outs.append(f.reshape(3 * self.features, n))  # [3 * F, N], a view (also for N = 0)
        return torch.cat(outs, dim=0).t()


class ConditionedPlanes(nn.Module):
    """Points [N, 3] in [-1, 1] and per-frame weights [K] -> features [N, 3 * features] that vary with the frame.

    Parameters: ``basis`` tri-planes [3, basis * features, res, res], zero at first (the field starts as the
    static one). A frame's planes are its weights' combination of the basis, sum_k w_k P_k, read like a
    TriPlaneEncoding level: a spatial map of what the condition changes (K-Planes' time planes, with the audio
    code in place of time), learnt where the change is rather than through the MLP's shared hidden units.
    """

    def __init__(self, basis: int = 4, features: int = 4, res: int = 128):
        super().__init__()
        self.basis, self.features, self.res = basis, features, res
        self.planes = nn.Parameter(torch.zeros(3, basis * features, res, res))
        self.out_dim = 3 * features

    def forward(self, x: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        """x [N, 3], weights [K] -> [N, 3 * F] (a transposed view, as TriPlaneEncoding's)."""
        k, f, r = self.basis, self.features, self.res
        planes = (self.planes.view(3, k, f, r, r) * weights.to(self.planes.dtype).view(1, k, 1, 1, 1)).sum(1)
        coords = torch.stack([x[:, list(p)] for p in _PLANES], dim=0).unsqueeze(1)  # [3, 1, N, 2]
        out = F.grid_sample(planes, coords.to(planes.dtype), mode="bilinear", padding_mode="border",
                            align_corners=True)  # [3, F, 1, N]
        return out.reshape(3 * f, x.shape[0]).t()


class HashGridEncoding(nn.Module):
    """Points [N, 3] in [-1, 1] -> features [N, levels * features] (instant-ngp's hash encoding).

    Parameters: one table [levels, 2^log2_table, features], initialised in +-1e-4 as instant-ngp.
    """

    def __init__(self, levels: int = 16, features: int = 2, log2_table: int = 17, base_res: int = 16,
                 max_res: int = 512, init_scale: float = 1e-4):
        super().__init__()
        self.resolutions = level_resolutions(levels, base_res, max_res)
        self.table_size = 2 ** log2_table
        self.features = features
        self.table = nn.Parameter(torch.empty(levels, self.table_size, features).uniform_(-init_scale, init_scale))
        self.out_dim = levels * features
        corners = torch.tensor([[(c >> 2) & 1, (c >> 1) & 1, c & 1] for c in range(8)])  # [8, 3]
        self.register_buffer("corners", corners, persistent=False)

    def _index(self, cell: torch.Tensor, res: int) -> torch.Tensor:
        """Integer corner coordinates [N, 8, 3] (0 .. res) -> table rows [N, 8]."""
        side = res + 1
        if side ** 3 <= self.table_size:  # the level fits: one row per grid vertex, no collisions
            return (cell[..., 0] * side + cell[..., 1]) * side + cell[..., 2]
        h = cell[..., 0] * _PRIMES[0]
        h = torch.bitwise_xor(h, cell[..., 1] * _PRIMES[1])
        h = torch.bitwise_xor(h, cell[..., 2] * _PRIMES[2])
        return torch.remainder(h, self.table_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = ((x.float() + 1) * 0.5).clamp(0, 1)  # [N, 3] in [0, 1]
        outs = []
        for level, res in enumerate(self.resolutions):
            pos = u * res
            base = pos.floor().clamp(max=res - 1)
            frac = pos - base  # [N, 3]
            cell = base.long()[:, None, :] + self.corners  # [N, 8, 3]
            # trilinear weight of each corner: prod over axes of frac (corner bit 1) or 1 - frac (bit 0)
            w = torch.where(self.corners.bool(), frac[:, None, :], 1 - frac[:, None, :]).prod(-1)  # [N, 8]
            feats = F.embedding(self._index(cell, res), self.table[level])  # [N, 8, F]
            outs.append((w[..., None] * feats).sum(1))
        return torch.cat(outs, dim=-1)


def build_encoding(kind: str, **kwargs) -> nn.Module:
    """'triplane' | 'hash' -> the encoding module (kwargs: that class's options)."""
    if kind == "triplane":
        return TriPlaneEncoding(**kwargs)
    if kind == "hash":
        return HashGridEncoding(**kwargs)
    raise ValueError(f"unknown grid encoding '{kind}' (triplane | hash)")
