"""The parsing colour code of the original AD-NeRF, and conversions between labels, parts and colours.

parsing/<n>.png holds one colour per part. The original wrote it with cv2.imwrite, so its colours are BGR
triples: what cv2.imread returns is exactly the table below, and the RGB pixel on disk is the reverse
(the head is (255, 0, 0) in BGR = pure blue (0, 0, 255) in an RGB viewer).

    part        BGR (cv2.imread)   RGB on disk   BiSeNet labels
    background  (255, 255, 255)    (255,255,255) 0
    head        (255, 0, 0)        (0, 0, 255)   1-13 (skin, brows, eyes, glasses, ears, earring, nose, mouth,
                                                  lips), 17 hair, 18 hat
    neck        (0, 255, 0)        (0, 255, 0)   14 neck, 15 necklace
    torso       (0, 0, 255)        (255, 0, 0)   16 cloth
"""
from __future__ import annotations

import os

import numpy as np

BACKGROUND, HEAD, NECK, TORSO = 0, 1, 2, 3
PART_NAMES = ("background", "head", "neck", "torso")
PART_BGR = np.array([(255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255)], dtype=np.uint8)   # [4, 3]

# CelebAMask-HQ classes of face-parsing.PyTorch's BiSeNet (79999_iter.pth), index = network output channel
BISENET_LABELS = ("background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r",
                  "nose", "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")
BISENET_TO_PART = np.array([BACKGROUND] + [HEAD] * 13 + [NECK, NECK, TORSO, HEAD, HEAD], dtype=np.uint8)   # [19]


def parts_to_bgr(parts: np.ndarray) -> np.ndarray:
    """part ids uint8 [H, W] (0-3) -> BGR colour image uint8 [H, W, 3] in the original's code."""
    return PART_BGR[parts]


def bgr_to_parts(bgr: np.ndarray) -> np.ndarray:
    """BGR colour image [H, W, 3] (cv2.imread of a parsing PNG) -> part ids uint8 [H, W].

    Exact colour matches as the original tested them; any other colour counts as background.
    """
    parts = np.full(bgr.shape[:2], BACKGROUND, dtype=np.uint8)
    for part in (HEAD, NECK, TORSO):
        parts[np.all(bgr == PART_BGR[part], axis=-1)] = part
    return parts


def write_parsing(path: str | os.PathLike, parts: np.ndarray) -> None:
    """part ids [H, W] -> parsing PNG, atomically, such that cv2.imread(path) returns parts_to_bgr(parts)."""
    from data_util.common import save_image
    save_image(path, parts_to_bgr(parts)[..., ::-1])          # PIL writes RGB: reverse the BGR triples


def read_parsing(path: str | os.PathLike) -> np.ndarray:
    """parsing/<n>.png -> part ids uint8 [H, W]; StepError for a missing or corrupt file."""
    from data_util.common import load_image
    return bgr_to_parts(load_image(path)[..., ::-1])
