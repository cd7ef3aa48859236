"""NeRFs/core/allocator.py: glibc keeps freed memory (checked in a fresh interpreter)."""
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_keep_freed_memory_takes_effect_on_glibc_and_is_harmless_elsewhere():
    code = ("from NeRFs.core.allocator import keep_freed_memory; import torch; ok = keep_freed_memory(); "
            "x = [torch.ones(1 << 22) for _ in range(3)]; del x; print(ok)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    expected = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert out.stdout.strip() == str(expected)
