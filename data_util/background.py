"""Preprocessing step 4: estimate the static background bc.jpg from the parsed frames.

The original's estimate, computed with exact Euclidean distance transforms instead of a KD-tree per frame:
1. take every ``every``-th frame (of the frames with landmarks);
2. in each, the distance of every pixel to the nearest foreground (head, neck or torso) pixel of its parsing;
3. where the largest of these distances exceeds ``min_distance`` px, the pixel is observed background: take its
   colour from the frame in which it is farthest from the person (the first such frame on ties);
4. every other pixel takes the colour of the nearest observed pixel.
Only a running maximum and one colour image are kept, so memory does not grow with the number of frames.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from data_util.common import StepError, face_frames, load_image, save_image


def farthest_background(masks_and_images, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Steps 2-3 over an iterable of (foreground bool [H, W], image uint8 [H, W, 3]).

    Returns (max_distance float [H, W]: the largest distance to the person over the frames,
    colour uint8 [H, W, 3]: the pixel's colour in the frame where that maximum was reached).
    A frame without any foreground counts as infinitely far from the person everywhere.
    """
    from scipy.ndimage import distance_transform_edt
    max_distance = np.full(shape, -1.0)
    colour = np.zeros(shape + (3,), np.uint8)
    for foreground, image in masks_and_images:
        distance = distance_transform_edt(~foreground) if foreground.any() else np.full(shape, np.inf)
        farther = distance > max_distance          # strict: the first frame wins ties, as argmax did
        max_distance[farther] = distance[farther]
        colour[farther] = image[farther]
    return max_distance, colour


def fill_from_nearest(colour: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """colour uint8 [H, W, 3], valid bool [H, W] (not all False) -> [H, W, 3], invalid pixels copied from the
    nearest valid pixel (Euclidean)."""
    from scipy.ndimage import distance_transform_edt
    _, (rows, cols) = distance_transform_edt(~valid, return_indices=True)
    return colour[rows, cols]


def estimate_background(masks_and_images, shape: tuple[int, int],
                        min_distance: float = 5.0) -> tuple[np.ndarray, float]:
    """The whole estimate: -> (background uint8 [H, W, 3], fraction of pixels observed directly)."""
    max_distance, colour = farthest_background(masks_and_images, shape)
    observed = max_distance > min_distance
    if not observed.any():
        raise StepError(f"no pixel is ever farther than {min_distance:g} px from the person in the sampled frames: "
                        "the background cannot be estimated (does the person fill the whole frame?)")
    return fill_from_nearest(colour, observed), float(observed.mean())


def run_background(dataset_dir: str | os.PathLike, *, every: int = 20, min_distance: float = 5.0,
                   force: bool = False, progress: bool = True) -> dict:
    """Step 4: parsing/<n>.png + ori_imgs/<n>.jpg of every ``every``-th face frame -> bc.jpg.

    Kept when bc.jpg exists, unless ``force``. Returns the record: frames_used, observed_fraction, seconds.
    """
    from data_util.face_parsing.labels import BACKGROUND, read_parsing
    start = time.time()
    dataset_dir = Path(dataset_dir)
    target = dataset_dir / "bc.jpg"
    frames = face_frames(dataset_dir)
    if not frames:
        raise StepError(f"no frame of {dataset_dir / 'ori_imgs'} has landmarks (<n>.lms): run step 2 (landmarks) first")
    if target.is_file() and not force:
        return {"skipped": True, "seconds": round(time.time() - start, 3)}
    if every < 1:
        raise StepError(f"every (the background sampling step) must be at least 1, got {every}")
    sampled = frames[::every]
    shape = load_image(dataset_dir / "ori_imgs" / f"{sampled[0]}.jpg").shape[:2]

    def masks_and_images():
        from tqdm import tqdm
        for n in tqdm(sampled, desc="background", unit="frame", disable=not progress):
            parsing_path = dataset_dir / "parsing" / f"{n}.png"
            if not parsing_path.is_file():
                raise StepError(f"missing {parsing_path}: run step 3 (parsing) first")
            parts, image = read_parsing(parsing_path), load_image(dataset_dir / "ori_imgs" / f"{n}.jpg")
            if parts.shape != shape or image.shape[:2] != shape:
                raise StepError(f"{parsing_path} or its frame is {parts.shape[1]}x{parts.shape[0]} / "
                                f"{image.shape[1]}x{image.shape[0]}, other frames are {shape[1]}x{shape[0]}: "
                                "re-run step 3 with --force")
            yield parts != BACKGROUND, image

    background, observed = estimate_background(masks_and_images(), shape, min_distance)
    save_image(target, background)
    return {"skipped": False, "frames_used": len(sampled), "every": every, "min_distance": min_distance,
            "observed_fraction": round(observed, 4), "seconds": round(time.time() - start, 3)}
