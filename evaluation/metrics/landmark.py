"""Mouth-landmark metrics on 68-point iBUG landmarks (adnerf.landmarks, as preprocessing).

- LMD (landmark distance, as in Chen et al. 2018 and the NeRF talking-head papers after AD-NeRF): the
  mouth points 48-67 of each frame are centred on their own mean (removing head translation), then
  LMD = mean over the 20 points of the Euclidean distance between generated and ground truth, in pixels.
- NIOE (the seed's metric): mean Euclidean distance of the uncentred mouth points 48-67 divided by the
  ground truth's inter-ocular distance (outer eye corners 36 and 45); unitless.
"""
from __future__ import annotations

import numpy as np

from adnerf.landmarks import LEFT_EYE_OUTER, MOUTH, RIGHT_EYE_OUTER


def mouth_lmd(gen_lms: np.ndarray, gt_lms: np.ndarray) -> np.ndarray:
    """gen_lms, gt_lms [N, 68, 2] -> LMD per frame [N] in pixels (mouth points mean-centred per frame)."""
    gen_mouth, gt_mouth = gen_lms[:, MOUTH], gt_lms[:, MOUTH]
    gen_mouth = gen_mouth - gen_mouth.mean(1, keepdims=True)
    gt_mouth = gt_mouth - gt_mouth.mean(1, keepdims=True)
    return np.linalg.norm(gen_mouth - gt_mouth, axis=-1).mean(1)


def mouth_nioe(gen_lms: np.ndarray, gt_lms: np.ndarray) -> np.ndarray:
    """gen_lms, gt_lms [N, 68, 2] -> mouth error over the ground truth's inter-ocular distance [N]."""
    error = np.linalg.norm(gen_lms[:, MOUTH] - gt_lms[:, MOUTH], axis=-1).mean(1)
    inter_ocular = np.linalg.norm(gt_lms[:, LEFT_EYE_OUTER] - gt_lms[:, RIGHT_EYE_OUTER], axis=-1)
    return error / np.maximum(inter_ocular, 1e-6)


def paired_landmark_scores(gen: list, gt: list) -> tuple[np.ndarray, np.ndarray, int]:
    """Landmark lists (entries [68, 2] or None) -> per-frame LMD [N], NIOE [N] (NaN where a face is missing)
    and the number of frames where a face was missing on either side."""
    n = len(gen)
    lmd, nioe = np.full(n, np.nan), np.full(n, np.nan)
    ok = [i for i in range(n) if gen[i] is not None and gt[i] is not None]
    if ok:
        g, t = np.stack([gen[i] for i in ok]), np.stack([gt[i] for i in ok])
        lmd[ok], nioe[ok] = mouth_lmd(g, t), mouth_nioe(g, t)
    return lmd, nioe, n - len(ok)
