"""Keep freed memory inside the process on glibc: fewer page faults between network calls on a CPU.

glibc's malloc hands blocks above its mmap threshold (128 KiB, raised adaptively to at most 32 MiB) straight
to the kernel and gives them back on free, and trims the heap top when over 128 KiB are free. A NeRF step
allocates and frees the same activation tensors again and again, so each of them is faulted in anew,
page by page: on a 2-core CPU that cost 40 % of a 64x64 render (23.7 s -> 13.7 s per frame when the
memory is kept). The process keeps at most its peak use, which it needs anyway.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (malloc.h)
_MMAP_THRESHOLDS = (1 << 30, 32 << 20)  # 1 GiB; glibc builds that refuse it accept 32 MiB


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds. Returns False (and changes nothing) off glibc."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others have no mallopt
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if not any(mallopt(_M_MMAP_THRESHOLD, size) == 1 for size in _MMAP_THRESHOLDS):
        return False
    return mallopt(_M_TRIM_THRESHOLD, (1 << 31) - 1) == 1
