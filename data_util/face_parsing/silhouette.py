"""Offline parsing: mediapipe's person silhouette, split into head / neck / torso with the 68 landmarks.

mediapipe 0.10.21 ships solutions.selfie_segmentation (a TFLite model inside the wheel), which separates the
person (hair and clothes included) from the background well, but knows no parts. The split:
- head: every person pixel above the head's lower outline (the jaw line, 0-16; beside the face, the level of
  jaw points 3 / 13, so that hair and ears beside the face belong to the head), plus the landmarks' convex
  hull (the face is the head even where the silhouette misses it);
- neck: person pixels below the jaw within the neck zone (half a face width either side of the jaw's centre,
  down to 0.6 face heights below the chin) whose colour is skin-like (chroma Cr/Cb close to the face's
  median) and that touch the jaw; without a usable skin sample, a fixed band below the chin;
- torso: all other person pixels below the jaw line.
This is a heuristic: long hair falling below the jaw counts as torso (BiSeNet calls it hair, i.e. head).
"""
from __future__ import annotations

import numpy as np

from data_util.face_parsing.labels import BACKGROUND, HEAD, NECK, TORSO

JAW = slice(0, 17)
BROWS = slice(17, 27)
CHIN, NOSE_BRIDGE = 8, 28


class SilhouetteParser:
    """parse(image uint8 RGB [H, W, 3], lms [68, 2]) -> part ids uint8 [H, W]."""

    def __init__(self, threshold: float = 0.5):
        from data_util.common import StepError
        try:
            SelfieSegmentation = _import_selfie_segmentation()
        except ImportError as e:
            raise StepError(f"the mediapipe parsing backend needs mediapipe==0.10.21 ({e})") from e
        self.segmenter = SelfieSegmentation(model_selection=0)     # the general (256 x 256) model
        self.threshold = threshold

    def person_mask(self, image: np.ndarray) -> np.ndarray:
        """uint8 RGB [H, W, 3] -> bool [H, W], True on the person."""
        probability = self.segmenter.process(np.ascontiguousarray(image)).segmentation_mask    # float [H, W]
        return probability > self.threshold

    def __call__(self, image: np.ndarray, lms: np.ndarray) -> np.ndarray:
        return split_silhouette(self.person_mask(image), lms, image)


def _import_selfie_segmentation():
    """mediapipe's SelfieSegmentation class, imported without TensorFlow.

    mediapipe's package init tries ``from tensorflow.tools.docs import doc_controls`` (for its API docs only)
    and falls back to a no-op when that fails; with tensorflow-cpu installed that import alone costs ~10 s.
    Blocking it during this import (unless TensorFlow is already loaded) keeps the fallback.
    """
    import sys
    blocked = "tensorflow" not in sys.modules
    if blocked:
        sys.modules["tensorflow"] = None            # makes `import tensorflow` raise ModuleNotFoundError
    try:
        from mediapipe.python.solutions.selfie_segmentation import SelfieSegmentation
    finally:
        if blocked and sys.modules.get("tensorflow", 0) is None:
            del sys.modules["tensorflow"]
    return SelfieSegmentation


def head_bottom_per_column(lms: np.ndarray, width: int) -> np.ndarray:
    """The lowest y of the head in each image column, float [W].

    Columns the jaw line (points 0-16) crosses: its lowest crossing; columns beside it: the y of jaw point
    3 (left side of the image) / 13 (right side), about the mouth's level.
    """
    jaw = lms[JAW]
    seg_len = np.linalg.norm(np.diff(jaw, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg_len)])
    t = np.linspace(0.0, arc[-1], max(int(arc[-1] * 2), 2) + 2)        # two samples per pixel of jaw line
    xs, ys = np.interp(t, arc, jaw[:, 0]), np.interp(t, arc, jaw[:, 1])
    cols = np.clip(np.round(xs).astype(int), 0, width - 1)
    bottom = np.full(width, -np.inf)
    np.maximum.at(bottom, cols, ys)
    left_first = jaw[0, 0] <= jaw[16, 0]
    left_y, right_y = (jaw[3, 1], jaw[13, 1]) if left_first else (jaw[13, 1], jaw[3, 1])
    x_min, x_max = int(np.clip(np.round(xs.min()), 0, width - 1)), int(np.clip(np.round(xs.max()), 0, width - 1))
    bottom[:x_min] = left_y
    bottom[x_max + 1:] = right_y
    return bottom


def _skin_like(image: np.ndarray, lms: np.ndarray, region: np.ndarray) -> np.ndarray | None:
    """bool [H, W]: pixels of ``region`` whose chroma is within the face skin's spread; None without a sample."""
    import cv2
    ycrcb = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb)[..., 1:].astype(np.float32)    # [H, W, 2] Cr, Cb
    cheeks = np.zeros(image.shape[:2], np.uint8)
    polygon = np.round(np.concatenate([lms[2:15], lms[NOSE_BRIDGE:NOSE_BRIDGE + 1]])).astype(np.int32)
    cv2.fillPoly(cheeks, [polygon], 1)
    sample = ycrcb[cheeks.astype(bool)]
    if len(sample) < 30:
        return None
    median = np.median(sample, axis=0)
    spread = np.maximum(3.0 * 1.4826 * np.median(np.abs(sample - median), axis=0), 6.0)   # robust 3 sigma
    return region & np.all(np.abs(ycrcb - median) <= spread, axis=-1)


def split_silhouette(person: np.ndarray, lms: np.ndarray, image: np.ndarray | None = None) -> np.ndarray:
    """person bool [H, W], lms [68, 2] (x, y), image uint8 RGB [H, W, 3] (for the skin colour) -> parts [H, W]."""
    import cv2
    from scipy import ndimage
    h, w = person.shape
    rows = np.arange(h, dtype=np.float64)[:, None]
    above_jaw = rows <= head_bottom_per_column(lms, w)[None, :]                        # [H, W]
    face_hull = np.zeros((h, w), np.uint8)
    cv2.fillConvexPoly(face_hull, cv2.convexHull(np.round(lms).astype(np.int32)), 1)
    head = (person & above_jaw) | face_hull.astype(bool)

    jaw = lms[JAW]
    face_width = float(jaw[:, 0].max() - jaw[:, 0].min())
    chin_y = float(lms[CHIN, 1])
    face_height = max(chin_y - float(lms[BROWS, 1].mean()), 1.0)
    centre_x = float(jaw[:, 0].mean())
    cols = np.arange(w, dtype=np.float64)[None, :]
    below = person & ~head
    zone = below & (np.abs(cols - centre_x) <= 0.5 * face_width) & (rows <= chin_y + 0.6 * face_height)
    neck = _skin_like(image, lms, zone) if image is not None else None
    if neck is None or not neck.any():
        neck = zone & (np.abs(cols - centre_x) <= 0.3 * face_width) & (rows <= chin_y + 0.3 * face_height)
    else:
        neck = ndimage.binary_opening(neck, np.ones((3, 3), bool))
        # keep the skin-coloured pieces that touch the head (a neck hangs from the jaw; a hand does not)
        pieces, _ = ndimage.label(neck)
        touching = np.unique(pieces[ndimage.binary_dilation(head, np.ones((5, 5), bool)) & neck])
        neck = np.isin(pieces, touching[touching > 0])

    parts = np.full((h, w), BACKGROUND, np.uint8)
    parts[below] = TORSO
    parts[neck] = NECK
    parts[head] = HEAD
    return parts
