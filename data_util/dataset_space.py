"""Checks of the dataset folder before any preprocessing step: it takes a file, and the disk holds what the
steps will write (so a long run does not fail halfway on a full disk)."""
from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from adnerf import files
from data_util.common import StepError


def no_space_message(exc: OSError | None, dataset_dir: Path) -> str:
    return files.no_space_message(files.full_folder(exc, dataset_dir),
                                  "nothing half-written was kept (files are written under a temporary name first): "
                                  "free some space and run the same command again")


# bytes written per frame and pixel (ori_imgs, com_imgs, head_imgs jpg + torso_imgs, parsing png), measured
# generously on portrait footage: a floor for the free-space check, not an exact forecast
BYTES_PER_FRAME_PIXEL = 0.8


def preflight(args: argparse.Namespace, frames: int, width: int, height: int) -> None:
    """Before any step: the dataset folder takes a file, and the disk holds what the steps will write."""
    folder = args.dataset_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test.{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        if files.is_disk_full(exc):
            raise StepError(no_space_message(None, folder)) from exc
        raise StepError(f"cannot write to {folder} ({exc.strerror}); choose another --dataset_root") from exc
    present = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    need = int(frames * width * height * BYTES_PER_FRAME_PIXEL) - present
    free = shutil.disk_usage(folder).free
    if need > free:
        raise StepError(f"not enough space on {folder}: the steps will write about {need / 2**30:.1f} GB more "
                        f"({frames} frames of {width}x{height}), {free / 2**30:.1f} GB free; free some space or "
                        f"choose another --dataset_root")
