"""Head-NeRF speed: seconds per training iteration and per full-frame render, with peak memory.

    .venv/bin/python benchmarks/bench_head_nerf.py [--device auto|cpu|cuda] [--full] [--amp] [--allocator default]

Training: N_rand 256 with 32+32 samples, and the defaults 2048 with 64+128 samples. Rendering: 64x64 and
450x450 frames with 64+128 samples, through the inference path (no autograd, large chunks, early ray
termination) and, for comparison on this machine, through a literal restatement of the original
algorithm (tests/original_algorithm.py); the largest pixel difference between the two is printed.
On CPU the 450x450 frame is timed on a band of rows and scaled up unless --full is given. As run_nerf.py
does, the process first tells glibc to keep freed memory (NeRFs/core/allocator.py); ``--allocator default``
times everything, the original algorithm included, with glibc's default behaviour instead.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from common import (add_allocator_option, apply_allocator, bench_args, peak_memory, seconds_per_step, sync, tests_module,
                    timed)
from data_util.synthetic_head import make_synthetic_dataset
from NeRFs.core.head import HeadTrainer
from NeRFs.core.rays import get_rays
from NeRFs.core.rendering import render_rays_chunked, renderer_for

_original = tests_module("original_algorithm")
OriginalFaceNeRF, original_render_rays = _original.OriginalFaceNeRF, _original.render_rays
render_rays_with_grad = _original.render_rays_with_grad


def time_training(root: Path, tmp: Path, device: str, n_rand: int, n_s: int, n_i: int, steps: int, amp: bool):
    t = HeadTrainer(bench_args(root / "HeadNeRF_config.txt", tmp, "head", device, amp, N_rand=n_rand,
                               N_samples=n_s, N_importance=n_i))
    return seconds_per_step(t, steps), t


WARM_UP_RAYS = 256


def time_original_training(t: HeadTrainer, steps: int, anomaly: bool) -> float:
    """Median seconds of one training step of the original's math (tests/original_algorithm.py, its
    network layout: the audio code and view encoding concatenated to every point, the background sample
    queried) on ``t``'s ray count and samples: both passes with autograd, the two MSE losses, backward and
    Adam on both networks. ``anomaly``: with autograd's anomaly detection on, as the original left it."""
    a, dev = t.args, t.device
    nets = [OriginalFaceNeRF().to(dev) for _ in range(2)]
    opt = torch.optim.Adam([q for n in nets for q in n.parameters()], lr=a.lrate)
    pose = t.dataset.splits["train"].poses[0].to(dev)
    rays_o, rays_d = get_rays(t.dataset.H, t.dataset.W, t.dataset.focal, pose, t.dataset.cx, t.dataset.cy)
    times = []
    with torch.autograd.set_detect_anomaly(anomaly):
        for step in range(steps + 1):
            pick = torch.randint(0, rays_o.shape[0] * rays_o.shape[1], (a.N_rand,), device=dev)
            o, d = rays_o.reshape(-1, 3)[pick], rays_d.reshape(-1, 3)[pick]
            target, bc, code = torch.rand(a.N_rand, 3, device=dev), torch.rand(a.N_rand, 3, device=dev), \
                torch.randn(a.dim_aud, device=dev)
            sync(dev)
            t0 = time.perf_counter()
            rgb, rgb0 = render_rays_with_grad(nets[0], nets[1], o, d, a.near, a.far, bc, code, a.N_samples,
                                              a.N_importance)
            loss = ((rgb - target) ** 2).mean() + ((rgb0 - target) ** 2).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sync(dev)
            times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def time_render(t: HeadTrainer, size: int, full: bool, with_original: bool):
    a, dev = t.args, t.device
    focal = 2.2 * size
    pose = t.dataset.splits["val"].poses[0].to(dev)
    rays_o, rays_d = get_rays(size, size, focal, pose, size / 2, size / 2)
    rows = size if (full or dev.type == "cuda" or size <= 64) else max(8, size // 16)
    band = slice(size // 2 - rows // 2, size // 2 - rows // 2 + rows)  # central band: head and background
    o, d = rays_o[band].reshape(-1, 3), rays_d[band].reshape(-1, 3)
    bc = torch.rand(o.shape[0], 3, device=dev)
    code = torch.randn(a.dim_aud, device=dev)
    s = t.settings.for_inference(a.early_stop_T, t.device)
    m = t.models

    def ours_fn(n: int) -> torch.Tensor:  # the first n rays
        return render_rays_chunked(m.coarse, m.fine, o[:n], d[:n], a.near, a.far, bc[:n], code, s,
                                   renderer=renderer_for(s))["rgb_map"]

    with torch.inference_mode():
        ours_fn(WARM_UP_RAYS)  # one-off costs (first allocations, thread start) are not per frame
        ours, sec = timed(lambda: ours_fn(o.shape[0]), dev)
        sec *= size / rows
    result = {"sec": sec, "scaled": rows != size}
    if with_original:
        nets = []
        for field in (m.coarse, m.fine):
            net = OriginalFaceNeRF().to(dev)
            net.load_state_dict(field.network.state_dict())
            nets.append(net)

        def ref_fn(n: int) -> torch.Tensor:
            parts = [slice(i, min(i + 1024, n)) for i in range(0, n, 1024)]
            return torch.cat([original_render_rays(nets[0], nets[1], o[p], d[p], a.near, a.far, bc[p], code,
                                                   a.N_samples, a.N_importance)[0] for p in parts])

        with torch.no_grad():
            ref_fn(WARM_UP_RAYS)
            ref, sec = timed(lambda: ref_fn(o.shape[0]), dev)
            result["original_sec"] = sec * size / rows
        result["max_diff_255"] = float((ours - ref).abs().max()) * 255
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="auto")
    p.add_argument("--full", action="store_true", help="render the whole 450x450 frame on CPU too")
    p.add_argument("--amp", action="store_true", help="float16 network queries (CUDA only)")
    p.add_argument("--steps", type=int, default=9, help="timed training steps (N_rand 256; a third for 2048)")
    p.add_argument("--skip_original", action="store_true", help="do not time the original algorithm")
    add_allocator_option(p)
    a = p.parse_args()
    allocator = apply_allocator(a.allocator)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_synthetic_dataset(Path(tmp) / "bench", n_frames=22, size=64)
        print(f"device: {a.device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
              f"allocator: {allocator}")
        sec, t = time_training(root, Path(tmp) / "logs", a.device, 256, 32, 32, a.steps, a.amp)
        line = f"train iteration  N_rand  256, 32+32 samples : {sec:6.3f} s"
        if not a.skip_original:
            line += (f" | original algorithm {time_original_training(t, a.steps, False):6.3f} s, "
                     f"{time_original_training(t, a.steps, True):6.3f} s with anomaly detection")
        print(line)
        sec, t = time_training(root, Path(tmp) / "logs", a.device, 2048, 64, 128, max(2, a.steps // 3), a.amp)
        print(f"train iteration  N_rand 2048, 64+128 samples: {sec:6.3f} s")
        for size in (64, 450):
            r = time_render(t, size, a.full, with_original=not a.skip_original)
            line = f"render {size}x{size}, 64+128 samples: {r['sec']:7.2f} s/frame" + (" (scaled from a band of rows)" if r["scaled"] else "")
            if "original_sec" in r:
                line += (f" | original algorithm {r['original_sec']:7.2f} s/frame, speed-up "
                         f"{r['original_sec'] / r['sec']:.2f}x, max pixel difference {r['max_diff_255']:.3f}/255")
            print(line)
        print(f"peak memory: {peak_memory(t.device)}")


if __name__ == "__main__":
    main()
