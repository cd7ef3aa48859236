"""What every preprocessing stage shares: errors, atomic writes, the frame list, and the step contract.

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

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

FPS = 25
AUDIO_RATE = 16000


class StepError(RuntimeError):
    """Bad input or a failed preprocessing step: str() is one clear line naming the file and what to do."""


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it is renamed to ``final`` (atomic on POSIX).

    The temporary name keeps the suffix, so writers that choose a format by extension still work.
    On an exception the temporary file is removed and ``final`` is left as it was.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}.", suffix=f".part{final.suffix}")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_path, 0o666 & ~umask)  # mkstemp makes 0600; give the file ordinary permissions
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def save_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_json(path: str | os.PathLike, obj) -> None:
    save_text(path, json.dumps(obj, indent=1))


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, array)


def save_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95) -> None:
    """uint8 RGB [H, W, 3] (or [H, W]) -> .jpg / .png, atomically."""
    from PIL import Image
    with atomic_path(path) as tmp:
        kwargs = {"quality": quality} if Path(path).suffix.lower() in (".jpg", ".jpeg") else {}
        Image.fromarray(np.ascontiguousarray(image)).save(tmp, **kwargs)


def load_image(path: str | os.PathLike) -> np.ndarray:
    """uint8 RGB [H, W, 3]; StepError for a missing or corrupt file."""
    from PIL import Image
    path = Path(path)
    if not path.is_file():
        raise StepError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as exc:
        raise StepError(f"cannot read image {path}: {exc} (corrupt? re-run the step that writes it with --force)") from exc


def frame_ids(dataset_dir: str | os.PathLike) -> list[int]:
    """Ids n of ori_imgs/<n>.jpg, sorted numerically."""
    folder = Path(dataset_dir) / "ori_imgs"
    return sorted(int(p.stem) for p in folder.glob("*.jpg") if p.stem.isdigit())


def face_frames(dataset_dir: str | os.PathLike) -> list[int]:
    """Ids of the frames that have landmarks (ori_imgs/<n>.lms): the frames later stages use."""
    folder = Path(dataset_dir) / "ori_imgs"
    return sorted(int(p.stem) for p in folder.glob("*.lms") if p.stem.isdigit())


def load_lms(path: str | os.PathLike) -> np.ndarray:
    """ori_imgs/<n>.lms (68 lines 'x y') -> float64 [68, 2]."""
    try:
        lms = np.loadtxt(path, dtype=np.float64)
    except Exception as exc:
        raise StepError(f"cannot read landmarks {path}: {exc}") from exc
    if lms.shape != (68, 2):
        raise StepError(f"{path} holds {lms.shape} values; expected 68 lines of 'x y'")
    return lms


def save_lms(path: str | os.PathLike, lms: np.ndarray) -> None:
    """[68, 2] -> text, '%f' per value as the original writes it."""
    with atomic_path(path) as tmp:
        np.savetxt(tmp, np.asarray(lms, dtype=np.float64).reshape(68, 2), "%f")
