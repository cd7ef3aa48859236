"""Atomic writes and the full-disk message, for every file the project writes.

A file is written under a temporary name in its own folder and renamed to its final name only when
complete (``os.replace`` is atomic on POSIX), so a reader never finds a half-written file under a final
name, whether the writer was killed or the disk filled up. Temporary names are ``.<stem>.<random>.part<suffix>``:
hidden, recognisable by ``.part`` (``remove_partial_files``), and with the final suffix kept so that writers
which choose the format by extension (PIL, imageio, ffmpeg, matplotlib) still do.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import tempfile
from pathlib import Path
from typing import Iterator

PARTIAL_GLOB = ".*.part*"   # every temporary name atomic_path makes


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``final``; on success it is renamed to ``final``.

    On an exception the temporary file is removed and ``final`` is left as it was. ``fsync``: flush the
    file to the disk before the rename (checkpoints: a power cut must not leave an empty file behind).
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
        if fsync:
            with open(tmp_path, "rb") as f:
                os.fsync(f.fileno())
        os.replace(tmp_path, final)
    finally:
        tmp_path.unlink(missing_ok=True)


def write_bytes(path: str | os.PathLike, data: bytes, *, fsync: bool = False) -> None:
    with atomic_path(path, fsync=fsync) as tmp:
        tmp.write_bytes(data)


def save_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_json(path: str | os.PathLike, obj) -> None:
    save_text(path, json.dumps(obj, indent=1))


def remove_partial_files(folder: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Remove the temporary files of writes that were interrupted (nothing trusts them). Call only while no
    other process writes in ``folder`` (under its lock)."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = folder.rglob(PARTIAL_GLOB) if recursive else folder.glob(PARTIAL_GLOB)
    stale = [p for p in found if p.is_file()]
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def is_disk_full(exc: BaseException) -> bool:
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


def no_space_message(where: str | os.PathLike, then: str = "free some space and retry") -> str:
    """The one line for a full disk, the same from every stage: ``no space left on <folder>; <then>``."""
    return f"no space left on {where}; {then}"


def full_folder(exc: OSError | None, default: str | os.PathLike) -> Path:
    """The folder of the file whose write hit the full disk, when the error names it, else ``default``."""
    return Path(exc.filename).parent if exc is not None and exc.filename else Path(default)
