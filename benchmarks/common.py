"""Helpers shared by the benchmark scripts: timing with device sync, peak memory, trainer set-up."""
from __future__ import annotations

import importlib.util
import resource
import statistics
import time
from pathlib import Path
from types import ModuleType

import torch

from NeRFs.core.allocator import keep_freed_memory
from NeRFs.core.config import parse_args

TESTS_DIR = Path(__file__).resolve().parents[1] / "tests"


def tests_module(name: str) -> ModuleType:
    """A helper module of tests/ (``original_algorithm``: the suite's literal restatement of the original),
    loaded from its file. tests/ is not an installed package, and a benchmark that times the original must
    time the very code the tests compare against, not a copy."""
    path = TESTS_DIR / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"adnerf_tests_{name}", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise FileNotFoundError(f"{path} is missing: the benchmarks need the tests/ folder of a checkout")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.max_memory_allocated(device) / 2 ** 20:.0f} MiB (CUDA allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB (process RSS)"


def bench_args(config: Path, basedir: Path, kind: str, device: str, amp: bool, **opts):
    argv = ["--config", str(config), "--basedir", str(basedir), "--device", device, "--amp" if amp else "--no-amp",
            "--i_print", "1000000"]
    for k, v in opts.items():
        argv += [f"--{k}", str(v)]
    return parse_args(argv, kind)


def seconds_per_step(trainer, steps: int) -> float:
    """Median wall time of ``steps`` training steps after one warm-up step.

    The median, because a shared 2-core machine adds occasional slow steps (up to +40 %) that say nothing
    about the code.
    """
    times = []
    for step in range(1, steps + 2):
        rng, gen = trainer.step_randomness(step)
        sync(trainer.device)
        t0 = time.perf_counter()
        trainer.train_step(step, rng, gen)
        sync(trainer.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def timed(fn, device: torch.device):
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


def add_allocator_option(parser) -> None:
    parser.add_argument("--allocator", choices=("kept", "default"), default="kept",
                        help="kept: glibc keeps freed memory, as run_nerf.py sets it; default: glibc's defaults")


def apply_allocator(choice: str) -> str:
    """Set up the allocator as ``--allocator`` says; returns a description for the report."""
    return "freed memory kept" if choice == "kept" and keep_freed_memory() else "glibc defaults"


def report_numbers(numbers: dict, json_path: str | None, width: int = 26) -> None:
    """Print a benchmark's numbers one per line (floats to 3 decimals); also write them to json_path if given."""
    import json
    for key, value in numbers.items():
        print(f"{key:{width}s} {value:.3f}" if isinstance(value, float) else f"{key:{width}s} {value}")
    if json_path:
        Path(json_path).write_text(json.dumps(numbers, indent=1))
