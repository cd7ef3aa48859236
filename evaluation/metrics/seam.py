"""The paste boundary of a portrait: PSNR in a band along the edge of the mask that blended the rendered head
and neck into the real frame, next to the face rectangle's PSNR of the same frame (issue 19's target: the
band within 2 dB of the face, i.e. no seam that the rest of the face does not have).

The mask is the portrait's own mask/<index>.png (uint8 round(255 alpha), written by adnerf-portrait beside
each frame). The band: every pixel within BAND_PX / 2 of the mask's half-level edge, on either side (an
8 px wide strip), and every pixel of the feather ramp (0 < mask < 255; at 512 px the default 8 px ramp is
that same strip, at other sizes the ramp scales with the frame and the strip does not).
"""
from __future__ import annotations

import numpy as np
import torch

from evaluation.metrics.image import psnr_from_mse, rect_bounds, squared_error_map, to_tensor

BAND_PX = 8.0


def boundary_band(mask: np.ndarray, width: float = BAND_PX) -> np.ndarray:
    """mask uint8 [H, W] (0 = the real frame, 255 = the render) -> bool [H, W]: the band along its edge
    (module docstring); empty for a mask that is 0 or 255 everywhere."""
    from scipy.ndimage import distance_transform_edt
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a portrait mask must be [H, W], got shape {list(mask.shape)}")
    ramp = (mask > 0) & (mask < 255)
    inside = mask >= 128
    if not inside.any() or inside.all():
        return ramp
    # distance (between pixel centres) of each pixel to the nearest one on the other side of the edge
    across = np.where(inside, distance_transform_edt(inside), distance_transform_edt(~inside))
    return ramp | (across <= width / 2.0)


@torch.no_grad()
def seam_scores(gen: np.ndarray, gt: np.ndarray, mask: np.ndarray, rect=None, width: float = BAND_PX) -> dict:
    """One portrait frame gen [H, W, 3] uint8 against its ground truth gt [H, W, 3], with its mask [H, W]
    and face rect [x, y, w, h] (or None) -> {"band": PSNR dB in the band, "face": PSNR dB in the rect,
    "band_px": pixels in the band}; NaN where the band or the rect is empty."""
    err = squared_error_map(to_tensor(gen[None]), to_tensor(gt[None]))[0]   # [H, W]
    band = torch.from_numpy(boundary_band(mask, width))
    out = {"band": float("nan"), "face": float("nan"), "band_px": int(band.sum())}
    if band.any():
        out["band"] = float(psnr_from_mse(err[band].mean(dtype=torch.float64)[None])[0])
    if rect is not None:
        y0, y1, x0, x1 = rect_bounds(rect, *err.shape)
        if y1 > y0 and x1 > x0:
            out["face"] = float(psnr_from_mse(err[y0:y1, x0:x1].mean(dtype=torch.float64)[None])[0])
    return out
