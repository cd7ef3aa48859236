"""Torso-NeRF speed: seconds per torso training iteration and per driven frame (head + torso).

    .venv/bin/python benchmarks/bench_torso_nerf.py [--device auto|cpu|cuda] [--full] [--amp]

Training: N_rand 256 with 32+32 samples, the frozen head rendered without autograd; for comparison on this
machine, the same step with gradients computed through the frozen head (what the original did). Driving:
one head + torso frame at 64x64 and 450x450 with 64+128 samples (on CPU the 450x450 frame is timed on a
band of rows and scaled, unless --full).
"""
from __future__ import annotations

import argparse
import contextlib
import tempfile
from pathlib import Path
from unittest import mock

import torch

from common import add_allocator_option, apply_allocator, bench_args, peak_memory, seconds_per_step, timed
from data_util.synthetic_head import make_synthetic_dataset
from NeRFs.core import torso as torso_module
from NeRFs.core.head import HeadTrainer
from NeRFs.core.torso import TorsoTrainer


def make_trainer(size: int, tmp: Path, device: str, amp: bool, **opts) -> TorsoTrainer:
    root = make_synthetic_dataset(tmp / f"bench{size}", n_frames=22, size=size)
    head = HeadTrainer(bench_args(root / "HeadNeRF_config.txt", tmp / "logs", "head", device, amp))
    head.save(1)  # an untrained head is as expensive to render as a trained one (early stop aside)
    return TorsoTrainer(bench_args(root / "TorsoNeRF_config.txt", tmp / "logs", "torso", device, amp,
                                   head_ckpt=head.out_dir / "000001_head.tar", **opts))


def step_with_head_autograd(t: TorsoTrainer, steps: int) -> float:
    """The original's torso step: gradients flow back through the frozen head and are thrown away."""
    for m in t.head.modules():
        m.requires_grad_(True)
    with mock.patch.object(torso_module.torch, "no_grad", contextlib.nullcontext):
        sec = seconds_per_step(t, steps)
    t.head.freeze()
    return sec


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--full", action="store_true")
    p.add_argument("--amp", action="store_true")
    p.add_argument("--steps", type=int, default=5)
    add_allocator_option(p)
    a = p.parse_args()
    allocator = apply_allocator(a.allocator)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        t = make_trainer(64, Path(tmp), a.device, a.amp, N_rand=256, N_samples=32, N_importance=32)
        print(f"device: {t.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, allocator: {allocator}")
        ours = seconds_per_step(t, a.steps)
        theirs = step_with_head_autograd(t, a.steps)
        print(f"torso iteration N_rand 256, 32+32 samples: {ours:6.3f} s (head without autograd) | "
              f"{theirs:6.3f} s with gradients through the frozen head (the original's way)")
        for size in (64, 450):
            t = make_trainer(size, Path(tmp), a.device, a.amp)
            pose, code = t.dataset.splits["val"].poses[0].to(t.device), torch.randn(t.args.dim_aud, device=t.device)
            rows = size if (a.full or t.device.type == "cuda" or size <= 64) else max(8, size // 16)
            band = slice(size // 2 - rows // 2, size // 2 - rows // 2 + rows)
            _, sec = timed(lambda: t.render_frame(pose, code, band), t.device)
            note = " (scaled from a band of rows)" if rows != size else ""
            print(f"driven frame {size}x{size} (head + torso, 64+128 samples): {sec * size / rows:7.2f} s{note}")
        print(f"peak memory: {peak_memory(t.device)}")


if __name__ == "__main__":
    main()
