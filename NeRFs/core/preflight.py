"""Checks before long work starts, and the lock that keeps two trainings out of one experiment folder.

- ``ExperimentLock``: an fcntl lock on ``<basedir>/<expname>/.train.lock`` holding the owner's pid. Two
  trainings of one experiment would overwrite each other's checkpoints. The operating system drops the
  lock when its process dies, so a lock file left by a killed run is simply taken over (and said so).
- ``check_writable``: the output folder accepts a file now, not at the first checkpoint 10,000 steps in.
- ``check_disk_space``: the free space covers what the run will write (checkpoints, validation renders).
"""
from __future__ import annotations

import fcntl
import os
import shutil
from pathlib import Path

from adnerf.files import is_disk_full, no_space_message

from .utils import UserError

LOCK_NAME = ".train.lock"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ExperimentLock:
    """``with ExperimentLock(folder, name) as lock:`` holds the folder's lock; ``lock.took_over`` names the
    pid of a dead run whose lock file was found (None otherwise)."""

    def __init__(self, folder: Path, name: str):
        self.path = Path(folder) / LOCK_NAME
        self.name = name
        self.fd: int | None = None
        self.took_over: int | None = None

    def __enter__(self) -> "ExperimentLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = os.pread(self.fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(self.fd)
            self.fd = None
            raise UserError(f"another training of '{self.name}' is running in {self.path.parent} (pid {owner}); "
                            f"wait for it to end or stop it, or train under another --expname") from None
        previous = os.pread(self.fd, 32, 0).decode(errors="replace").strip()
        if previous.isdigit() and int(previous) != os.getpid() and not _pid_alive(int(previous)):
            self.took_over = int(previous)
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"{os.getpid()}\n".encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)   # an empty file: nobody holds it
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def check_writable(folder: Path) -> None:
    """Create the folder and a probe file in it; one line naming the folder when that fails."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write_test.{os.getpid()}"
        with open(probe, "wb") as f:
            f.write(b"ok")
        probe.unlink()
    except OSError as exc:
        if is_disk_full(exc):
            raise UserError(no_space_message(folder, "free some space first")) from exc
        raise UserError(f"cannot write to the output folder {folder} ({exc.strerror}); choose a writable "
                        f"--basedir (or fix the folder's permissions)") from exc


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def check_disk_space(folder: Path, planned: dict[str, int]) -> int:
    """planned: {what: bytes}; raises UserError when the folder's free space is smaller than the sum."""
    need = sum(planned.values())
    free = shutil.disk_usage(folder).free
    if free < need:
        parts = ", ".join(f"{what} {_human(b)}" for what, b in planned.items() if b)
        raise UserError(f"not enough space on {folder}: this run will write about {_human(need)} ({parts}), "
                        f"{_human(free)} free; free some space, choose another --basedir, or write fewer "
                        f"checkpoints (--i_weights) / validation renders (--i_testset)")
    return need
