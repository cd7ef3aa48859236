"""Camera rays and the face-rect weighted pixel sampler.

Camera convention of the original (its transforms_*.json poses and checkpoints assume it): c2w maps camera to
world, the camera looks down -Z with y up;
pixel (row j, column i) has direction ((i - cx) / f, -(j - cy) / f, -1) in camera space, no half-pixel offset.
"""
from __future__ import annotations

import numpy as np
import torch


def rays_at(coords: torch.Tensor, focal: float, c2w: torch.Tensor, cx: float, cy: float
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through given pixels. coords: [..., 2] (row, column); c2w: [3, 4] or [4, 4].

    Returns rays_o, rays_d: [..., 3] (directions not normalised; z = -1 in camera space).
    """
    rows, cols = coords[..., 0].to(c2w.dtype), coords[..., 1].to(c2w.dtype)
    dirs = torch.stack(((cols - cx) / focal, -(rows - cy) / focal, -torch.ones_like(cols)), dim=-1)
    rays_d = dirs @ c2w[:3, :3].T  # R @ d for every direction
    return c2w[:3, 3].expand(rays_d.shape), rays_d


def pixel_grid(H: int, W: int, device=None) -> torch.Tensor:
    """All pixel coordinates [H, W, 2] as (row, column)."""
    rows, cols = torch.meshgrid(torch.arange(H, device=device), torch.arange(W, device=device), indexing="ij")
    return torch.stack((rows, cols), dim=-1)


def get_rays(H: int, W: int, focal: float, c2w: torch.Tensor, cx: float | None = None,
             cy: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Rays through every pixel: rays_o, rays_d [H, W, 3]."""
    cx = W * 0.5 if cx is None else cx
    cy = H * 0.5 if cy is None else cy
    return rays_at(pixel_grid(H, W, c2w.device), focal, c2w, cx, cy)


def face_rect_mask(rect, H: int, W: int) -> np.ndarray:
    """Boolean [H, W] mask of the face rectangle ``[x, y, w, h]`` (x = column, y = row, bounds inclusive).

    The original compared rows with x and columns with y (the rect mirrored about the image diagonal, so rays
    meant for the face missed part of it; docs/differences.md, row 2); here rows are compared with y and
    columns with x.
    """
    x, y, w, h = (float(v) for v in rect)
    rows = np.arange(H)[:, None]
    cols = np.arange(W)[None, :]
    return (rows >= y) & (rows <= y + h) & (cols >= x) & (cols <= x + w)


def sample_pixels(N_rand: int, H: int, W: int, rng: np.random.Generator, rect=None,
                  sample_rate: float = 0.95, boxes=None, box_rate: float = 0.0) -> np.ndarray:
    """Pick ``N_rand`` distinct pixels of one image: ``box_rate`` of them inside ``boxes`` (the mouth's and
    the eyes' [K, 4] (x, y, w, h), where the face changes most from frame to frame), and of the others
    ``sample_rate`` inside the face rect ``rect``.

    Returns [N_rand, 2] integer (row, column) coordinates. Without a rect or boxes, pixels are uniform.
    """
    n_pix = H * W
    N_rand = min(N_rand, n_pix)
    picked = []
    free = None  # pixels not yet drawn (None: all of them)
    if boxes is not None and box_rate > 0:
        in_boxes = np.zeros((H, W), dtype=bool)
        for box in boxes:
            in_boxes |= face_rect_mask(box, H, W)
        box_idx = np.flatnonzero(in_boxes)
        picked.append(rng.choice(box_idx, size=min(int(N_rand * box_rate), len(box_idx)), replace=False))
        free = ~in_boxes.reshape(-1)
    n_rest = N_rand - sum(len(p) for p in picked)
    if rect is None:
        picked.append(rng.choice(n_pix if free is None else np.flatnonzero(free), size=n_rest, replace=False))
    else:
        inside = face_rect_mask(rect, H, W).reshape(-1)
        if free is None:
            in_idx, out_idx = np.flatnonzero(inside), np.flatnonzero(~inside)
        else:
            in_idx, out_idx = np.flatnonzero(inside & free), np.flatnonzero(~inside & free)
        n_in = min(int(n_rest * sample_rate), len(in_idx))
        n_out = min(n_rest - n_in, len(out_idx))
        n_in = n_rest - n_out  # a rect covering (almost) the whole image takes the remainder
        picked += [rng.choice(in_idx, size=n_in, replace=False), rng.choice(out_idx, size=n_out, replace=False)]
    flat = np.concatenate(picked)
    return np.stack(np.divmod(flat, W), axis=-1)
