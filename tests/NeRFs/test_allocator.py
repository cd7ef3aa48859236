"""NeRFs/core/allocator.py: glibc keeps freed memory, observed in glibc's own accounting (mallinfo2).

Each case runs in a fresh interpreter (the thresholds are process-wide and cannot be undone), mallocs and frees
one block well above glibc's default mmap threshold (128 KiB, raised adaptively to at most 32 MiB) and below
the 32 MiB that keep_freed_memory sets at least, and reports mallinfo2() before, while allocated and after.
"""
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = 16 << 20  # bytes

# mallinfo2 (glibc >= 2.33): the fields of struct mallinfo2 in malloc.h, in order, all size_t
PROBE = r"""
import ctypes, ctypes.util, json, sys
from NeRFs.core.allocator import keep_freed_memory
libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
if not hasattr(libc, "mallinfo2"):
    print(json.dumps({"skip": "this glibc has no mallinfo2 (glibc < 2.33)"})); sys.exit()
FIELDS = ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")
class MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in FIELDS]
libc.mallinfo2.restype = MallInfo2
libc.malloc.argtypes, libc.malloc.restype = (ctypes.c_size_t,), ctypes.c_void_p
libc.free.argtypes, libc.free.restype = (ctypes.c_void_p,), None
def info():
    m = libc.mallinfo2()
    return {name: getattr(m, name) for name in FIELDS}
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
before = info()
block = libc.malloc(int(sys.argv[2]))
assert block
allocated = info()
libc.free(block)
print(json.dumps({"kept": kept, "before": before, "allocated": allocated, "freed": info()}))
"""


def probe(mode: str) -> dict:
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        pytest.skip(f"glibc's malloc accounting only: this is {sys.platform} with {platform.libc_ver()[0] or 'no glibc'}")
    # glibc also reads its thresholds from the environment: leave them at the defaults in the child
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_") and k != "GLIBC_TUNABLES"}
    out = subprocess.run([sys.executable, "-c", PROBE, mode, str(BLOCK)], cwd=ROOT, env=env, capture_output=True,
                         text=True, check=True, timeout=60)
    record = json.loads(out.stdout.strip().splitlines()[-1])
    if "skip" in record:
        pytest.skip(record["skip"])
    return record


def test_glibc_defaults_map_a_large_block_and_unmap_it_on_free():
    """The control: without keep_freed_memory the block is its own mmap, given back to the kernel on free."""
    r = probe("default")
    before, allocated, freed = r["before"], r["allocated"], r["freed"]
    assert allocated["hblks"] == before["hblks"] + 1 and allocated["hblkhd"] - before["hblkhd"] >= BLOCK
    assert allocated["arena"] == before["arena"]  # not from the heap
    assert freed["hblkhd"] == before["hblkhd"] and freed["hblks"] == before["hblks"]


def test_keep_freed_memory_serves_the_block_from_the_heap_and_keeps_it_after_free():
    r = probe("keep")
    before, allocated, freed = r["before"], r["allocated"], r["freed"]
    assert r["kept"] is True
    assert allocated["hblkhd"] == before["hblkhd"] and allocated["hblks"] == before["hblks"]  # no mmap
    assert allocated["uordblks"] - before["uordblks"] >= BLOCK
    assert allocated["arena"] - before["arena"] >= BLOCK - before["fordblks"]  # the heap grew to hold it
    # after free the heap is not trimmed: the memory stays in the process, free for the next allocation
    assert freed["arena"] == allocated["arena"] and freed["fordblks"] >= BLOCK
    assert freed["uordblks"] <= allocated["uordblks"] - BLOCK
