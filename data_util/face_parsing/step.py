"""Preprocessing step 3: ori_imgs/<n>.jpg (+ <n>.lms) -> parsing/<n>.png in the original's colour code."""
from __future__ import annotations

import os
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from adnerf.errors import check_choice
from data_util.common import StepError, face_frames, load_image, load_lms
from data_util.face_parsing.labels import PART_NAMES, write_parsing
from data_util.face_parsing.parsers import BACKENDS, load_parser


def run_parsing(dataset_dir: str | os.PathLike, *, backend: str = "bisenet", weights: str | os.PathLike | None = None,
                device: str = "auto", cache_dir: str | os.PathLike | None = None, force: bool = False,
                progress: bool = True) -> dict:
    """Parse every frame that has landmarks (data_util.common.face_frames) into parsing/<n>.png.

    backend: "bisenet" (the original's network; weights = path or URL of 79999_iter.pth, found or downloaded
    as in weights.py) or "mediapipe" (offline; uses ori_imgs/<n>.lms). Frames whose PNG exists are kept
    unless ``force``. Returns the record: backend, version, device, weights, frames, parsed, skipped,
    part_fractions (mean share of each part over the parsed frames), seconds, seconds_per_frame.
    """
    start = time.time()
    dataset_dir = Path(dataset_dir)
    check_choice(backend, BACKENDS, "parsing backend")
    frames = face_frames(dataset_dir)
    if not frames:
        raise StepError(f"no frame of {dataset_dir / 'ori_imgs'} has landmarks (<n>.lms): run step 2 (landmarks) first")
    out_dir = dataset_dir / "parsing"
    todo = frames if force else [n for n in frames if not (out_dir / f"{n}.png").is_file()]

    dev, weights_used, fractions, frame_seconds = "cpu", None, [], []
    if todo:
        if backend == "bisenet":
            from data_util.face_parsing.weights import resolve_bisenet_weights
            from adnerf.devices import resolve_device
            dev = str(resolve_device(device))
            weights_used = str(resolve_bisenet_weights(weights, cache_dir, progress))
        parse = load_parser(backend, weights=weights_used, device=dev, cache_dir=cache_dir, progress=progress)
        from tqdm import tqdm
        for n in tqdm(todo, desc=f"parsing ({backend})", unit="frame", disable=not progress):
            tic = time.time()
            image = load_image(dataset_dir / "ori_imgs" / f"{n}.jpg")
            parts = parse(image, load_lms(dataset_dir / "ori_imgs" / f"{n}.lms"))
            write_parsing(out_dir / f"{n}.png", parts)
            fractions.append(np.bincount(parts.ravel(), minlength=len(PART_NAMES)) / parts.size)
            frame_seconds.append(time.time() - tic)
    mean_fractions = np.mean(fractions, axis=0) if fractions else None
    return {"backend": backend, "version": _backend_version(backend), "device": dev, "weights": weights_used,
            "frames": len(frames), "parsed": len(todo), "skipped": len(frames) - len(todo),
            "part_fractions": None if mean_fractions is None else
            {name: round(float(f), 4) for name, f in zip(PART_NAMES, mean_fractions)},
            "seconds": round(time.time() - start, 3),
            "seconds_per_frame": round(float(np.mean(frame_seconds)), 4) if frame_seconds else None}


def _backend_version(backend: str) -> str:
    try:
        return version("mediapipe") if backend == "mediapipe" else f"BiSeNet 79999_iter, torch {version('torch')}"
    except PackageNotFoundError:
        return "unknown"
