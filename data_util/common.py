"""What every preprocessing stage shares: the frame list, landmark files, and the step contract (errors,
atomic writes and image files are the shared layer's, adnerf, under the names the steps have always used).

The step contract (data_util/process_data.py orchestrates; one module per stage does the work):

    run_<stage>(dataset_dir: Path, *, force: bool = False, progress: bool = True, **backend_options) -> dict

- reads and writes only inside ``dataset_dir`` (dataset/<id>/), in the original AD-NeRF layout;
- is idempotent: outputs that exist and are complete are kept unless ``force`` (a per-frame stage skips the
  frames already done, so an interrupted run resumes where it stopped);
- writes every file atomically (``atomic_path`` / ``save_*`` below): a half-written file never has the
  final name, so a later stage can trust every file it finds;
- raises ``StepError`` with one clear sentence (what is wrong, which file, what to do) for bad input;
- returns a JSON-serialisable record (backend, version, parameters, counts, seconds, per-frame seconds)
  that the orchestrator stores in ``dataset_dir/preprocess.json`` under the step's name.

Frames: ori_imgs/<n>.jpg, n = 0 .. N-1. A frame in which no face was found has no ori_imgs/<n>.lms; it is
listed in preprocess.json (step "landmarks", key "no_face") and later stages leave it out (``face_frames``).
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adnerf.constants import AUDIO_RATE, FPS
from adnerf.errors import AdnerfError as StepError
from adnerf.files import atomic_path, save_json, save_text
from adnerf.landmarks import load_lms  # noqa: F401  (re-exported: the stages' helper)
from adnerf.media import image_size, read_image, write_image

__all__ = ["AUDIO_RATE", "FPS", "StepError", "atomic_path", "save_json", "save_text", "save_npy", "save_image",
           "load_image", "frame_size", "frame_ids", "face_frames", "load_lms", "save_lms"]


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """uint8 RGB [H, W, 3] (or [H, W]) -> .jpg / .png, atomically."""
    write_image(path, image, quality)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """uint8 RGB [H, W, 3]; StepError for a missing or corrupt file."""
    return read_image(path, hint="corrupt? re-run the step that writes it with --force")


def frame_size(dataset_dir: str | os.PathLike, frame: int) -> tuple[int, int]:
    """(width, height) of ori_imgs/<frame>.jpg, from its header."""
    return image_size(Path(dataset_dir) / "ori_imgs" / f"{frame}.jpg", "re-run step 1 (frames) with --force")


def frame_ids(dataset_dir: str | os.PathLike) -> list[int]:
    """Ids n of ori_imgs/<n>.jpg, sorted numerically."""
    folder = Path(dataset_dir) / "ori_imgs"
    return sorted(int(p.stem) for p in folder.glob("*.jpg") if p.stem.isdigit())


def face_frames(dataset_dir: str | os.PathLike) -> list[int]:
    """Ids of the frames that have landmarks (ori_imgs/<n>.lms): the frames later stages use."""
    folder = Path(dataset_dir) / "ori_imgs"
    return sorted(int(p.stem) for p in folder.glob("*.lms") if p.stem.isdigit())


def save_lms(path: str | os.PathLike, lms: np.ndarray) -> None:
    """[68, 2] -> text, '%f' per value as the original writes it."""
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.asarray(lms, dtype=np.float64).reshape(68, 2), "%f")
