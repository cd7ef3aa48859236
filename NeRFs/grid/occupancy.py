"""Occupancy (density) grid: which cells of the field's box may hold matter, so samples elsewhere are skipped.

A [res, res, res] grid over the field's box keeps, per cell, a decaying maximum of the density seen at
random points of the cell (instant-ngp / RAD-NeRF). A cell is *occupied* when that value, or the value of
one of its 26 neighbours (a one-cell dilation, so a thin surface between two probes is not lost), exceeds
``thresh``. The renderers query the field only at samples in occupied cells; a skipped sample counts as
density 0. A skipped sample of density below ``thresh`` over an interval dt changes a pixel by at most
thresh * dt (defaults: 0.01 * 0.01 = 1e-4, 0.026/255), a ray by at most that times its skipped samples;
the probes are random points, not a bound on the cell, so ``tests/NeRFs/test_grid_backend.py`` checks the
pixels with and without skipping on a trained model.

Because the field is audio-conditioned, each update evaluates it with the condition of a random training
frame: over many updates the maximum covers every mouth shape (cells decay slowly, by ``decay`` per update
in which they are probed).
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn


class OccupancyGrid(nn.Module):
    """Buffers (saved in checkpoints): ``density`` [res^3] decaying maxima (-1: not probed yet, occupied),
    ``aabb`` [2, 3], ``updates`` [] (count)."""

    def __init__(self, aabb: torch.Tensor, res: int = 64, thresh: float = 0.01, decay: float = 0.7):
        super().__init__()
        self.res, self.thresh, self.decay = res, thresh, decay
        self.register_buffer("aabb", torch.as_tensor(aabb, dtype=torch.float32).clone())
        # -1 = never probed, counts as occupied (finite, so checkpoints pass the NaN / inf check)
        self.register_buffer("density", torch.full((res ** 3,), -1.0))
        self.register_buffer("updates", torch.zeros((), dtype=torch.long))
        side = res + 2  # flat index strides of the padded mask (query)
        self.register_buffer("_strides", torch.tensor([side * side, side, 1], dtype=torch.float32), persistent=False)
        self._mask: torch.Tensor | None = None

    def _load_from_state_dict(self, *args, **kwargs):
        self._mask = None  # a loaded grid invalidates the cached mask
        super()._load_from_state_dict(*args, **kwargs)

    @property
    def mask(self) -> torch.Tensor:
        """Occupied cells, dilated by one cell: bool [res, res, res] (cached until the next update)."""
        return self._padded_mask()[1:-1, 1:-1, 1:-1]

    def _padded_mask(self) -> torch.Tensor:
        """``mask`` with a border of empty cells: bool [res + 2]^3, so that a lookup needs no inside test
        (a point outside the box clamps onto the border)."""
        if self._mask is None or self._mask.device != self.density.device:
            occ = ((self.density > self.thresh) | (self.density < 0)).float().view(1, 1, self.res, self.res, self.res)
            self._mask = F.pad(F.max_pool3d(occ, 3, stride=1, padding=1)[0, 0] > 0, (1, 1, 1, 1, 1, 1))
        return self._mask

    def occupied_fraction(self) -> float:
        return float(self.mask.float().mean())

    def query(self, pts: torch.Tensor) -> torch.Tensor:
        """World points [..., 3] -> bool [...]: may hold matter (False outside the box [lo, hi)).

        A display frame looks up every sample of every ray, so this takes few passes over the points: cell
        coordinates floor((p - lo) / cell) shifted by one into the padded mask and clamped onto its empty
        border, then flattened with float32 strides (elementwise, exact below 2^24 cells; a matrix product
        could run in TF32 or half precision on a GPU)."""
        lo, hi = self.aabb[0], self.aabb[1]
        scale = self.res / (hi - lo)
        u = torch.addcmul(1 - lo * scale, pts.float(), scale).floor_().clamp_(0, self.res + 1)
        return self._padded_mask().view(-1)[(u * self._strides).sum(-1).long()]

    @torch.no_grad()
    def update(self, density_fn: Callable[[torch.Tensor], torch.Tensor], generator: torch.Generator | None = None,
               fraction: float = 0.25, chunk: int = 1 << 16) -> None:
        """Probe cells at one uniformly random point each with ``density_fn`` (points [N, 3] -> density
        [N]) and fold the result into the decaying maxima. The first 2 updates probe every cell (the grid
        starts all-occupied); later ones a random ``fraction`` of the cells plus every occupied one."""
        dev, n = self.density.device, self.res ** 3
        if int(self.updates) < 2:
            cells = torch.arange(n, device=dev)
        else:
            pick = torch.rand(n, device=dev, generator=generator) < fraction
            cells = torch.nonzero(pick | (self.density > self.thresh)).squeeze(-1)
        ijk = torch.stack((cells // (self.res * self.res), (cells // self.res) % self.res, cells % self.res), -1)
        jitter = torch.rand(ijk.shape, device=dev, generator=generator)
        lo, hi = self.aabb[0], self.aabb[1]
        pts = lo + (ijk.float() + jitter) / self.res * (hi - lo)
        sigma = torch.cat([density_fn(pts[i:i + chunk]).float() for i in range(0, pts.shape[0], chunk)])
        old = self.density[cells]
        old = old.clamp(min=0)
        self.density[cells] = torch.maximum(old * self.decay, sigma)
        self.updates += 1
        self._mask = None
