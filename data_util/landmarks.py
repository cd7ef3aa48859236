"""Preprocessing step 2: ori_imgs/<n>.jpg -> ori_imgs/<n>.lms, 68 landmarks per frame.

The detectors (FAN, dlib) are the shared layer's (adnerf.landmarks), because evaluation's LMD must use the
same points; their names are kept here for the callers of this step.
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from adnerf.devices import resolve_device
from adnerf.errors import check_choice
from adnerf.landmarks import (BACKENDS, LEFT_EYE_OUTER, MOUTH, RIGHT_EYE_OUTER, Detector,  # noqa: F401
                              LandmarkBackendUnavailable, detect_landmarks, dlib_shape_predictor_path,
                              load_detector)


def run_landmarks(dataset_dir: str | os.PathLike, *, backend: str = "fan", device: str = "auto",
                  max_no_face: float = 0.1, force: bool = False, progress: bool = True) -> dict:
    """Step 2: ori_imgs/<n>.jpg -> ori_imgs/<n>.lms (68 lines 'x y', iBUG order), following data_util.common's contract.

    Frames that already have a .lms are kept (the step resumes) unless ``force``. A frame without a face gets
    no .lms (a stale one is removed) and is listed in the record's "no_face"; later steps leave it out.
    max_no_face: the largest tolerated fraction of frames without a face (0.1 = 10 %); more, or no face at all,
    is a StepError naming how many frames and which.
    Returns the record: backend, version, device, frames, detected, skipped, no_face, seconds, seconds_per_frame.
    """
    from data_util.common import StepError, frame_ids, load_image, save_lms
    from tqdm import tqdm

    start = time.time()
    folder = Path(dataset_dir) / "ori_imgs"
    ids = frame_ids(dataset_dir)
    if not ids:
        raise StepError(f"no frames ori_imgs/<n>.jpg in {folder}: run step 1 (frames) first")
    check_choice(backend, BACKENDS, "landmark backend")
    todo = ids if force else [n for n in ids if not (folder / f"{n}.lms").is_file()]

    frame_seconds = []
    if todo:
        dev = str(resolve_device(device)) if backend == "fan" else "cpu"
        try:
            detect = load_detector(backend, dev)
        except LandmarkBackendUnavailable as e:
            raise StepError(f"{e} (run with --landmark_backend dlib, or --offline)") from e
        for n in tqdm(todo, desc=f"landmarks ({backend})", unit="frame", disable=not progress):
            tic = time.time()
            lms = detect(load_image(folder / f"{n}.jpg"))
            if lms is None:
                (folder / f"{n}.lms").unlink(missing_ok=True)
            else:
                save_lms(folder / f"{n}.lms", lms)
            frame_seconds.append(time.time() - tic)
    else:
        dev = "cpu" if backend == "dlib" else str(device)

    no_face = [n for n in ids if not (folder / f"{n}.lms").is_file()]
    detected = len(set(todo) - set(no_face))
    if len(no_face) == len(ids):
        raise StepError(f"no face found in any of the {len(ids)} frames of {folder} by the {backend} detector: "
                        "check the video (one visible, roughly frontal face), or try the other --landmark_backend")
    if len(no_face) > max_no_face * len(ids):
        raise StepError(
            f"no face found in {len(no_face)} of {len(ids)} frames ({100.0 * len(no_face) / len(ids):.1f} %, "
            f"more than --max_no_face {max_no_face:g}) in {folder}: frames {format_frame_ranges(no_face)}; "
            "check that the video shows one face throughout, cut the video, or raise --max_no_face")
    return {"backend": backend, "version": _backend_version(backend), "device": str(dev), "frames": len(ids),
            "detected": detected, "skipped": len(ids) - len(todo),
            "no_face": no_face, "max_no_face": max_no_face, "seconds": round(time.time() - start, 3),
            "seconds_per_frame": round(float(np.mean(frame_seconds)), 4) if frame_seconds else None}


def format_frame_ranges(ids: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> '3-5, 9' (a short way to name many frames in one line)."""
    parts, ids = [], sorted(ids)
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        parts.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ", ".join(parts)


def _backend_version(backend: str) -> str:
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("face-alignment" if backend == "fan" else "dlib-bin")
    except PackageNotFoundError:
        return "unknown"
