"""Preprocessing step 5: the training images, from each frame, its parsing and the background bc.jpg.

For every frame with landmarks (data_util.common.face_frames):
- com_imgs/<n>.jpg:   the frame with its background pixels replaced by bc.jpg (the Torso-NeRF's target);
- head_imgs/<n>.jpg:  the frame with everything except the head replaced by bc.jpg (the Head-NeRF's target).
The torso-only images of the original's later versions (torso_imgs/) are not written: nothing here reads them.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from data_util.common import StepError, face_frames, load_image, save_image

OUTPUTS = (("com_imgs", ".jpg"), ("head_imgs", ".jpg"))


def compose(image: np.ndarray, parts: np.ndarray, background: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """image, background uint8 RGB [H, W, 3], parts uint8 [H, W] (labels.BACKGROUND/HEAD/NECK/TORSO)
    -> (com [H, W, 3], head [H, W, 3])."""
    from data_util.face_parsing.labels import BACKGROUND, HEAD
    com = np.where((parts == BACKGROUND)[..., None], background, image)
    head = np.where((parts == HEAD)[..., None], image, background)
    return com, head


def run_images(dataset_dir: str | os.PathLike, *, quality: int = 95, force: bool = False,
               progress: bool = True) -> dict:
    """Step 5: com_imgs/ and head_imgs/ for every face frame; a frame whose two files exist is kept
    unless ``force``. Returns the record: frames, written, skipped, seconds, seconds_per_frame."""
    from tqdm import tqdm

    from data_util.face_parsing.labels import read_parsing
    start = time.time()
    dataset_dir = Path(dataset_dir)
    frames = face_frames(dataset_dir)
    if not frames:
        raise StepError(f"no frame of {dataset_dir / 'ori_imgs'} has landmarks (<n>.lms): run step 2 (landmarks) first")
    todo = frames if force else [n for n in frames
                                 if not all((dataset_dir / d / f"{n}{ext}").is_file() for d, ext in OUTPUTS)]
    frame_seconds = []
    if todo:
        bc_path = dataset_dir / "bc.jpg"
        if not bc_path.is_file():
            raise StepError(f"missing {bc_path}: run step 4 (background) first")
        background = load_image(bc_path)
        for n in tqdm(todo, desc="images", unit="frame", disable=not progress):
            tic = time.time()
            parsing_path = dataset_dir / "parsing" / f"{n}.png"
            if not parsing_path.is_file():
                raise StepError(f"missing {parsing_path}: run step 3 (parsing) first")
            image, parts = load_image(dataset_dir / "ori_imgs" / f"{n}.jpg"), read_parsing(parsing_path)
            if image.shape != background.shape or parts.shape != image.shape[:2]:
                raise StepError(f"frame {n}, its parsing and bc.jpg differ in size ({image.shape[1]}x{image.shape[0]}, "
                                f"{parts.shape[1]}x{parts.shape[0]}, {background.shape[1]}x{background.shape[0]}): "
                                "re-run steps 3 and 4 with --force")
            for (folder, ext), picture in zip(OUTPUTS, compose(image, parts, background)):
                save_image(dataset_dir / folder / f"{n}{ext}", picture, quality=quality)
            frame_seconds.append(time.time() - tic)
    return {"frames": len(frames), "written": len(todo), "skipped": len(frames) - len(todo),
            "seconds": round(time.time() - start, 3),
            "seconds_per_frame": round(float(np.mean(frame_seconds)), 4) if frame_seconds else None}
