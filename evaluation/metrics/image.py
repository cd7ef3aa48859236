"""PSNR and SSIM on batches of frames, over the whole frame and over a face rectangle.

Conventions (docs/evaluation.md):
- frames are 8-bit RGB scaled to [0, 1]; data range 1.
- PSNR = 10 log10(1 / MSE), MSE over all pixels and the three channels of one frame; identical frames
  (MSE < 1e-10) give the cap PSNR_CAP = 100 dB instead of infinity, so means and JSON stay finite.
- SSIM (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03, population (not sample)
  statistics, each RGB channel separately, averaged over the "valid" positions (window fully inside the
  image) and the channels. Equal to skimage.metrics.structural_similarity(gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1).
- Face region: the same inside face_rect [x, y, w, h] (x = column), clipped to the frame. Both come from the
  whole frame's per-pixel maps, so they cost nothing extra: PSNR from the squared errors inside the rect,
  SSIM from the SSIM map at the window centres whose 11x11 window lies inside the rect, which is exactly the
  SSIM of the cropped rect (tested against cropping).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

PSNR_CAP = 100.0
SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03


def to_tensor(frames: np.ndarray | list[np.ndarray], device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 frames [B, H, W, 3] (array or list of equal-size arrays) -> float32 [B, 3, H, W] in [0, 1]."""
    batch = torch.from_numpy(np.ascontiguousarray(np.stack(list(frames)) if isinstance(frames, list) else frames))
    return batch.to(device).permute(0, 3, 1, 2).float().div_(255.0)


def psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    """Mean squared errors [B] (data range 1) -> PSNR in dB [B], capped at PSNR_CAP."""
    return (10.0 * torch.log10(1.0 / mse.double().clamp_min(1e-10))).clamp_max(PSNR_CAP).float()


def squared_error_map(gen: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """gen, gt [B, C, H, W] -> squared error averaged over channels [B, H, W]."""
    return (gen - gt).pow(2).mean(1)


def psnr(gen: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """gen, gt [B, C, H, W] in [0, 1] -> PSNR in dB [B], capped at PSNR_CAP."""
    return psnr_from_mse(squared_error_map(gen, gt).flatten(1).mean(1, dtype=torch.float64))


def _gaussian_kernel(device: torch.device) -> torch.Tensor:
    """Normalised 1-D Gaussian [SSIM_WINDOW]."""
    x = torch.arange(SSIM_WINDOW, dtype=torch.float32, device=device) - (SSIM_WINDOW - 1) / 2
    k = torch.exp(-x ** 2 / (2 * SSIM_SIGMA ** 2))
    return k / k.sum()


def _blur_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian filter per channel, no padding: [B, C, H, W] -> [B, C, H-10, W-10]."""
    c = x.shape[1]
    x = F.conv2d(x, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _ssim_formula(mu_x, mu_y, xx, yy, xy):
    """SSIM map from the five blurred moments (any array type with arithmetic)."""
    var_x, var_y, cov = xx - mu_x ** 2, yy - mu_y ** 2, xy - mu_x * mu_y
    c1, c2 = SSIM_K1 ** 2, SSIM_K2 ** 2
    return ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x ** 2 + mu_y ** 2 + c1) * (var_x + var_y + c2))


def _ssim_map_opencv(gen: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """The CPU path: OpenCV's Gaussian filter (same kernel; the border pixels are cropped, so the border mode
    does not matter) is about 7x faster than torch's grouped convolution on CPU."""
    import cv2
    half = SSIM_WINDOW // 2
    maps = []
    for x, y in zip(gen.permute(0, 2, 3, 1).numpy(), gt.permute(0, 2, 3, 1).numpy()):
        x, y = np.ascontiguousarray(x, np.float32), np.ascontiguousarray(y, np.float32)
        moments = [cv2.GaussianBlur(m, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)
                   [half:-half, half:-half].reshape(x.shape[0] - 2 * half, x.shape[1] - 2 * half, -1)
                   for m in (x, y, x * x, y * y, x * y)]
        maps.append(torch.from_numpy(_ssim_formula(*moments).mean(-1)))
    return torch.stack(maps)


def ssim_map_torch(gen: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """SSIM map with torch convolutions (any device): [B, C, H, W] x2 -> [B, H-10, W-10] (channel mean)."""
    k = _gaussian_kernel(gen.device)
    moments = _blur_valid(torch.cat([gen, gt, gen * gen, gt * gt, gen * gt]), k)   # one filter call for all five
    return _ssim_formula(*moments.split(gen.shape[0])).mean(1)


def ssim_map(gen: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """gen, gt [B, C, H, W] in [0, 1], H and W >= 11 -> SSIM at every valid window centre, averaged over
    channels: [B, H-10, W-10] (on gen's device). Entry [b, i, j] is the window centred at (i+5, j+5).

    CPU tensors go through OpenCV (float32), others through torch convolutions; both agree to ~1e-6 (tested)."""
    if min(gen.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(f"SSIM needs frames of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {tuple(gen.shape[-2:])}")
    if gen.device.type == "cpu" and gen.shape[1] <= 4:     # OpenCV filters images of up to 4 channels fast
        return _ssim_map_opencv(gen.float(), gt.float())
    return ssim_map_torch(gen, gt)


def ssim(gen: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """gen, gt [B, C, H, W] in [0, 1], H and W >= 11 -> mean SSIM per frame [B]."""
    return ssim_map(gen, gt).flatten(1).mean(1, dtype=torch.float64).float()


def rect_bounds(rect, height: int, width: int) -> tuple[int, int, int, int]:
    """rect [x, y, w, h] (x = column) -> rows y0:y1, columns x0:x1 clipped to the frame (possibly empty)."""
    x, y, w, h = (int(round(v)) for v in rect)
    y0, x0 = min(max(y, 0), height), min(max(x, 0), width)
    return y0, max(min(y + h, height), y0), x0, max(min(x + w, width), x0)


def crop_rect(frame: np.ndarray, rect) -> np.ndarray:
    """frame [H, W, 3], rect [x, y, w, h] (x = column) -> the rectangle clipped to the frame."""
    y0, y1, x0, x1 = rect_bounds(rect, *frame.shape[:2])
    return frame[y0:y1, x0:x1]


def frame_scores(gen: torch.Tensor, gt: torch.Tensor, rects: list | None = None, with_ssim: bool = True,
                 head_masks: list | None = None) -> dict:
    """PSNR / SSIM of a batch [B, C, H, W] over whole frames and inside each frame's rect (None: skipped).

    Returns {"psnr", "ssim", "psnr_face", "ssim_face", "psnr_head"}: float64 numpy arrays [B], NaN where not
    computed (no rect, an empty rect, or a rect under 11 px for SSIM; no or an empty head mask [H, W])."""
    b, _, h, w = gen.shape
    nan = np.full(b, np.nan)
    err = squared_error_map(gen, gt)
    out = {"psnr": psnr_from_mse(err.flatten(1).mean(1, dtype=torch.float64)).cpu().numpy().astype(np.float64),
           "ssim": nan.copy(), "psnr_face": nan.copy(), "ssim_face": nan.copy(), "psnr_head": nan.copy()}
    for i, mask in enumerate(head_masks or []):
        m = torch.as_tensor(mask, device=err.device)
        if m.any():
            out["psnr_head"][i] = psnr_from_mse(err[i][m].mean(dtype=torch.float64)).item()
    smap = ssim_map(gen, gt) if with_ssim else None
    if smap is not None:
        out["ssim"] = smap.flatten(1).mean(1, dtype=torch.float64).cpu().numpy()
    for i, rect in enumerate(rects or []):
        if rect is None:
            continue
        y0, y1, x0, x1 = rect_bounds(rect, h, w)
        if y1 > y0 and x1 > x0:
            out["psnr_face"][i] = psnr_from_mse(err[i, y0:y1, x0:x1].mean(dtype=torch.float64)).item()
        if smap is not None and min(y1 - y0, x1 - x0) >= SSIM_WINDOW:
            # window centres inside the rect with their whole window inside it: map rows y0 .. y1-11
            out["ssim_face"][i] = smap[i, y0:y1 - SSIM_WINDOW + 1, x0:x1 - SSIM_WINDOW + 1].mean(dtype=torch.float64).item()
    return out


def face_region_scores(gen: np.ndarray, gt: np.ndarray, rect, device: torch.device | str = "cpu"):
    """PSNR and SSIM of the cropped rect for one pair of uint8 frames [H, W, 3] (the reference for
    frame_scores' face values); SSIM is NaN if the crop is under 11 px, both NaN if it is empty."""
    a, b = to_tensor(crop_rect(gen, rect)[None], device), to_tensor(crop_rect(gt, rect)[None], device)
    if a.numel() == 0:
        return float("nan"), float("nan")
    region_ssim = ssim(a, b).item() if min(a.shape[-2:]) >= SSIM_WINDOW else float("nan")
    return psnr(a, b).item(), region_ssim
