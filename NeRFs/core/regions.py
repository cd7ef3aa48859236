"""Where a trained NeRF can be non-transparent: the pixels that the dataset's face parsing ever marks.

Rendering cost grows with the pixel count, and in a portrait most pixels are background that the head
network has learnt to leave transparent (head_imgs hold bc.jpg there) and the torso network too. With
``--skip_bg_pixels`` the renderers query only the pixels inside the union of the training frames' parsing
masks (head for the head network; head, neck and torso for the torso network), dilated by a margin; every
other pixel is the background image (head) or transparent (torso). Where the networks are transparent
outside the person, as a trained model is, the image is unchanged; on a 128 px portrait it halves the time.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .utils import read_image_float

MAX_FRAMES_READ = 400  # the union over every k-th frame: head motion is slow, the margin covers the rest
BACKGROUND, BODY, HEAD = 0, 1, 2  # labels of parsing_labels


def parsing_labels(rgb: np.ndarray) -> np.ndarray:
    """A parsing/<id>.png as read (float [H, W, 3] in [0, 1]) -> uint8 labels [H, W]: BACKGROUND (white),
    HEAD (0,0,255) or BODY (neck (0,255,0), torso (255,0,0), any other colour)."""
    labels = np.where(rgb.min(-1) < 0.5, BODY, BACKGROUND).astype(np.uint8)
    labels[(rgb[..., 2] > 0.5) & (rgb[..., 0] < 0.5) & (rgb[..., 1] < 0.5)] = HEAD
    return labels


def parsing_union(root: Path, img_ids, kind: str, size: tuple[int, int], margin: int) -> np.ndarray | None:
    """bool [H, W]: pixels marked ``kind`` ("head" or "person") in any of the frames' parsing/<id>.png,
    dilated by ``margin`` px; None when the dataset has no parsing images (then everything is rendered)."""
    from scipy.ndimage import binary_dilation
    ids = list(img_ids)[::max(1, len(img_ids) // MAX_FRAMES_READ)]
    paths = [Path(root) / "parsing" / f"{i}.png" for i in ids]
    if not paths or not all(p.is_file() for p in paths):
        return None
    union = np.zeros(size, dtype=bool)
    for p in tqdm(paths, desc=f"{kind} region", leave=False, dynamic_ncols=True):
        labels = parsing_labels(read_image_float(p))
        if labels.shape != size:
            return None
        union |= labels == HEAD if kind == "head" else labels != BACKGROUND
    return binary_dilation(union, iterations=margin) if margin > 0 else union


def region_mask(root: Path, img_ids, kind: str, size: tuple[int, int], device: torch.device) -> torch.Tensor | None:
    """The region of ``parsing_union`` as a flat bool tensor [H * W] on ``device`` (margin 3 % of the width)."""
    margin = max(4, round(0.03 * size[1]))
    union = parsing_union(root, img_ids, kind, size, margin)
    return None if union is None else torch.from_numpy(union.reshape(-1)).to(device)


def scatter_rays(out: dict[str, torch.Tensor], mask: torch.Tensor | None, fill: dict[str, torch.Tensor]) -> dict:
    """Put per-ray results computed for ``mask``'s pixels back into full-frame tensors [H * W, ...] that
    start as ``fill`` (the value of an empty pixel); ``mask`` None means the results are full-frame already."""
    if mask is None:
        return out
    full = {}
    for k, v in out.items():
        t = fill[k].clone()
        t[mask] = v
        full[k] = t
    return full
