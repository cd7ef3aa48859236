"""Portrait mode's pixel work, as pure functions (no files): the feathered head mask, the blend, the crop
geometry and the paste-back into the full-resolution source frame.

    head_neck_region(parsing_rgb [H, W, 3]) -> bool [H, W]       head + neck of a parsing/<n>.png
    face_region(lms [68, 2], shape) -> bool [H, W]                the inner face of the landmarks
    feather_mask(region [H, W], grow, feather) -> float32 [H, W]  1 inside (and grow px around), 0 beyond
    blend(real, rendered, alpha) -> uint8 [H, W, 3]              real where alpha = 0, rendered where alpha = 1
    crop_frame(source [Hs, Ws, 3], box, out_size) -> [S, S, 3]   what preprocessing's crop makes of a frame
    paste_back(source, image [S, S, 3], box, alpha=None) -> [Hs, Ws, 3]   the inverse, into the box

Parsing colours are preprocessing step 3's file format (data_util/face_parsing/labels.py; the original wrote
them with cv2, so the RGB pixels on disk are the reverse of its BGR code): head (0, 0, 255), neck (0, 255, 0),
torso (255, 0, 0), background white. A stage reads the file, not preprocessing's code.

Coordinates: a box (x0, y0, side) of the source frame maps to the S x S crop with pixel centres aligned
(source x = x0 + (u + 0.5) * side / S - 0.5), the convention of ffmpeg's and OpenCV's resizers, so that a
crop and its paste-back put every pixel back where it came from.
"""
from __future__ import annotations

import numpy as np

from adnerf.errors import AdnerfError

HEAD_RGB, NECK_RGB = (0, 0, 255), (0, 255, 0)
GROW_PX, FEATHER_PX = 4.0, 8.0        # at 512 x 512; scaled with the frame (``default_widths``)


def _near(rgb: np.ndarray, colour) -> np.ndarray:
    """bool [H, W]: pixels within 64 of ``colour`` in every channel (a parsing PNG is lossless; the margin only
    forgives a re-saved one)."""
    return np.all(np.abs(rgb.astype(np.int16) - np.array(colour, np.int16)) < 64, axis=-1)


def head_neck_region(parsing_rgb: np.ndarray) -> np.ndarray:
    """A parsing image (uint8 RGB [H, W, 3] as read from parsing/<n>.png) -> bool [H, W]: head (with hair) or neck."""
    rgb = np.asarray(parsing_rgb)
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise AdnerfError(f"a parsing image must be RGB [H, W, 3], got shape {list(rgb.shape)}")
    return _near(rgb, HEAD_RGB) | _near(rgb, NECK_RGB)


BROW_LIFT, JAW_DROP, SIDE_INSET = 0.15, 0.10, 0.10   # shares of the face's height (brows to chin) / width


def face_region(lms: np.ndarray, shape: tuple[int, int], brow_lift: float = BROW_LIFT, jaw_drop: float = JAW_DROP,
                side_inset: float = SIDE_INSET) -> np.ndarray:
    """bool [H, W]: the inner face of 68 landmarks [68, 2] (x, y) in a frame of ``shape`` (H, W).

    The polygon runs along the jaw contour (points 0-16) and back along the brows (26 .. 17) raised by
    ``brow_lift`` times the face's height (mean brow y to chin y), so the brows and the lids lie inside it.
    Above the mouth corners the contour moves ``side_inset`` times the face's width (point 0 to 16) towards
    the nose, so that the seam lies on the cheeks' skin and beard, not on the face's outline against the
    background (where a render a pixel off or a little soft differs most from the real frame); from the mouth
    corners to the chin that inset fades out and the contour moves down instead, by up to ``jaw_drop`` times
    the height at the chin: a rendered chin that opens lower than the real frame's still lies inside. What it
    leaves out (hair, ears, the face's outline above the mouth, the neck) keeps the real frame's pixels, which
    show the same pose and do not move with the speech.
    """
    import cv2
    pts = np.asarray(lms, dtype=np.float64)
    if pts.shape != (68, 2) or not np.isfinite(pts).all():
        raise AdnerfError(f"face_region needs 68 finite (x, y) landmarks, got shape {list(pts.shape)}")
    height = max(pts[8, 1] - pts[17:27, 1].mean(), 1.0)
    mouth_y = pts[[48, 54], 1].mean()
    jaw = pts[0:17].copy()
    below = np.clip((jaw[:, 1] - mouth_y) / max(pts[8, 1] - mouth_y, 1.0), 0.0, 1.0)   # 0: mouth level, 1: chin
    centre_x = pts[27:31, 0].mean()                                                  # the nose bridge
    inset = side_inset * (pts[16, 0] - pts[0, 0]) * (1.0 - below)
    jaw[:, 0] += np.sign(centre_x - jaw[:, 0]) * np.minimum(inset, np.abs(centre_x - jaw[:, 0]))
    jaw[:, 1] += jaw_drop * height * below
    brows = pts[26:16:-1].copy()
    brows[:, 1] -= brow_lift * height
    polygon = np.rint(np.concatenate((jaw, brows))).astype(np.int32)
    region = np.zeros(tuple(int(v) for v in shape), np.uint8)
    cv2.fillPoly(region, [polygon], 1)
    return region.astype(bool)


def default_widths(height: int) -> tuple[float, float]:
    """(grow, feather) in pixels for a frame ``height`` px tall: 4 and 8 px at 512, proportionally."""
    return GROW_PX * height / 512.0, FEATHER_PX * height / 512.0


def feather_mask(region: np.ndarray, grow: float = GROW_PX, feather: float = FEATHER_PX) -> np.ndarray:
    """Soft mask float32 [H, W] in [0, 1] around a bool region [H, W].

    With d = the distance (px) of a pixel outside the region to it (0 inside): alpha = 1 for d <= grow -
    feather / 2, 0 for d >= grow + feather / 2, a smoothstep in between. The region grown by ``grow`` px
    covers the rendered head's edge (a jaw that opens lower than the real one, a silhouette a pixel larger);
    the ``feather`` px ramp hides the seam, and lies on the real frame's background or skin next to the
    head and neck, never inside them (grow >= feather / 2 by default: every region pixel is 1).
    """
    from scipy.ndimage import distance_transform_edt
    region = np.asarray(region, dtype=bool)
    if region.ndim != 2:
        raise AdnerfError(f"feather_mask needs a 2-D region, got shape {list(region.shape)}")
    if not (np.isfinite(grow) and np.isfinite(feather) and grow >= 0 and feather > 0):
        raise AdnerfError(f"feather_mask: grow {grow} must be >= 0 and feather {feather} > 0")
    if not region.any():
        return np.zeros(region.shape, np.float32)
    outside = distance_transform_edt(~region)                        # 0 inside the region
    t = np.clip((grow + feather / 2.0 - outside) / feather, 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)              # smoothstep: no kink at either end


def blend(real: np.ndarray, rendered: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] = rendered x alpha + real x (1 - alpha), rounded; exactly ``real`` where alpha is 0."""
    real, rendered = np.asarray(real), np.asarray(rendered)
    alpha = np.asarray(alpha, dtype=np.float32)
    if real.shape != rendered.shape or real.shape[:2] != alpha.shape or real.ndim != 3:
        raise AdnerfError(f"blend: the real frame {list(real.shape)}, the render {list(rendered.shape)} and the "
                          f"mask {list(alpha.shape)} must be [H, W, 3], [H, W, 3] and [H, W]")
    a = alpha[..., None]
    mixed = rendered.astype(np.float32) * a + real.astype(np.float32) * (1.0 - a)
    return np.where(a > 0, np.clip(np.rint(mixed), 0, 255), real).astype(np.uint8)


def check_box(box, width: int, height: int) -> tuple[int, int, int]:
    """(x0, y0, side) as ints, or AdnerfError when the square does not lie inside a width x height frame."""
    x0, y0, side = (int(v) for v in box)
    if side <= 0 or x0 < 0 or y0 < 0 or x0 + side > width or y0 + side > height:
        raise AdnerfError(f"crop box {list(box)} (x0, y0, side) does not lie inside the {width}x{height} source "
                          f"frame: crop.json belongs to another video?")
    return x0, y0, side


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """A square [s, s(, 3)] image to [size, size(, 3)]: area averaging to shrink, bicubic to enlarge."""
    import cv2
    if image.shape[0] == size:
        return image
    shrink = size < image.shape[0]
    out = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return out


def crop_frame(source: np.ndarray, box, out_size: int) -> np.ndarray:
    """uint8 [out_size, out_size, 3]: the box (x0, y0, side) of the source frame [Hs, Ws, 3], scaled (as
    preprocessing's crop does with ffmpeg's area filter)."""
    x0, y0, side = check_box(box, source.shape[1], source.shape[0])
    return _resize(np.ascontiguousarray(source[y0:y0 + side, x0:x0 + side]), int(out_size))


def paste_back(source: np.ndarray, image: np.ndarray, box, alpha: np.ndarray | None = None) -> np.ndarray:
    """The source frame [Hs, Ws, 3] with ``image`` [S, S, 3] (a frame of the crop) scaled to the box's side
    and put at (x0, y0); with ``alpha`` [S, S] (the portrait's mask) only where the mask is, blended by it,
    so that everything else keeps the source's own full-resolution pixels. A new array; the source is kept."""
    source, image = np.asarray(source), np.asarray(image)
    x0, y0, side = check_box(box, source.shape[1], source.shape[0])
    if image.ndim != 3 or image.shape[0] != image.shape[1]:
        raise AdnerfError(f"paste_back needs a square [S, S, 3] image, got shape {list(image.shape)}")
    out = source.copy()
    patch = _resize(np.ascontiguousarray(image), side)
    if alpha is None:
        out[y0:y0 + side, x0:x0 + side] = patch
        return out
    a = np.clip(_resize(np.ascontiguousarray(alpha, dtype=np.float32), side), 0.0, 1.0)
    out[y0:y0 + side, x0:x0 + side] = blend(source[y0:y0 + side, x0:x0 + side], patch, a)
    return out
