"""dataset/<id>/preprocess.json: how a dataset was made, one entry per step.

    {"id": "Obama", "video": "...", "environment": {"python": "3.11.9", "packages": {"torch": "2.14.1", ...}},
     "steps": {"frames": {"step": 1, "status": "done", "seconds": 12.3, "seconds_per_frame": 0.0015,
                          "finished": "2026-11-25T22:31:02", "options": {...}, <the step's own record>}, ...}}

Steps that run concurrently (audio beside frames, tracking beside parsing) update the file from separate
processes, so every read-modify-write holds an exclusive fcntl lock on a lock file beside it
(``.preprocess.json.lock``: the JSON file itself is replaced on each write, so it cannot carry the lock), and
the new content is written to a temporary file and renamed (never a half-written preprocess.json).
"""
from __future__ import annotations

import contextlib
import copy
import fcntl
import functools
import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

from data_util.common import save_json

FILE_NAME = "preprocess.json"
LOCK_NAME = ".preprocess.json.lock"
# distributions whose versions say which models and code made a dataset (missing ones are left out)
PACKAGES = ("torch", "numpy", "opencv-python", "opencv-python-headless", "tensorflow-cpu", "tensorflow", "mediapipe",
            "dlib-bin", "dlib", "face-alignment", "python_speech_features", "resampy", "scikit-image", "scipy",
            "imageio-ffmpeg", "transformers")


@functools.lru_cache(maxsize=1)
def environment() -> dict:
    """Python version, platform and the versions of the packages that matter (no imports: metadata only)."""
    versions = {}
    for name in PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return {"python": platform.python_version(), "platform": platform.platform(), "packages": versions}


@contextlib.contextmanager
def locked(dataset_dir: Path) -> Iterator[None]:
    """Hold the exclusive lock on dataset_dir's preprocess.json (blocks until the other writer is done)."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    with open(dataset_dir / LOCK_NAME, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def read_log(dataset_dir: Path) -> dict:
    """The current preprocess.json ({} when absent). A corrupt file (hand-edited?) is kept aside, not lost."""
    path = Path(dataset_dir) / FILE_NAME
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict):
            return data
    except ValueError:
        pass
    path.replace(path.with_name(f"{FILE_NAME}.corrupt-{int(time.time())}"))
    return {}


def update_log(dataset_dir: Path, change: Callable[[dict], None]) -> dict:
    """Locked read-modify-write: ``change(data)`` edits the dict in place; the result is written atomically."""
    dataset_dir = Path(dataset_dir)
    with locked(dataset_dir):
        data = read_log(dataset_dir)
        data.setdefault("steps", {})
        change(data)
        data["environment"] = copy.deepcopy(environment())
        save_json(dataset_dir / FILE_NAME, data)
    return data


def record_step(dataset_dir: Path, name: str, entry: dict, header: dict | None = None) -> dict:
    """Store ``entry`` as steps[name] (replacing the previous run of that step) and the ``header`` keys."""
    def change(data: dict) -> None:
        data.update(header or {})
        data["steps"][name] = entry
    return update_log(dataset_dir, change)


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
