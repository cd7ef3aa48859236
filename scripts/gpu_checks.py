"""Every check that needs a GPU, in one short run (about 5-8 minutes on one GPU):

    .venv/bin/python scripts/gpu_checks.py [--out benchmarks/results/gpu_checks.json] [--quick]

1. the CUDA variants of the test suite (``pytest -k cuda``) and the grid backend's tests;
2. AMP (float16) against float32 pixels, both backends, on a briefly trained model;
3. both backends' speed side by side (benchmarks/bench_backends.py --device cuda), and the grid head's
   450x450 frames per second (the issue's GPU target: at least 100);
4. with 2 or more GPUs, a 2-process DDP smoke run (torchrun, NCCL) of the grid backend.

Without a CUDA device it prints why and exits 0, so it can sit in any script. Results: printed, and
written as JSON to --out.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def make_args(root: Path, basedir: Path, **opts):
    """Head-NeRF options of the dataset's config with ``opts`` on top (as the command line would give them)."""
    from NeRFs.core.config import parse_args
    argv = ["--config", str(root / "HeadNeRF_config.txt"), "--basedir", str(basedir), "--i_print", "1000000",
            "--i_img", "1000000", "--i_testset", "1000000", "--i_weights", "1000000"]
    for k, v in opts.items():
        argv += [f"--{k}", str(v)]
    return parse_args(argv, "head")


def render_seconds(t, size: int, repeats: int) -> float:
    """Median seconds of one size x size validation frame of trainer t (intrinsics scaled)."""
    import statistics
    import torch.nn.functional as F
    from dataclasses import replace
    from NeRFs.core.audio import sequence_codes
    from NeRFs.core.models import render_image
    ds, a, m = t.dataset, t.args, t.models
    scale = size / ds.W
    bc = F.interpolate(t.bc_img.permute(2, 0, 1)[None], size=(size, size), mode="bilinear")[0].permute(1, 2, 0)
    s = t.settings.for_inference(a.early_stop_T, t.device)
    cam = replace(t.camera, H=size, W=size, focal=ds.focal * scale, cx=ds.cx * scale, cy=ds.cy * scale, bc_img=bc)
    pose = ds.splits["val"].poses[0].to(t.device)
    times = []
    with torch.no_grad():
        code = sequence_codes(m.audnet, m.attnet, t.auds["val"], False)[0]
        for _ in range(repeats):
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            render_image(m, pose, code, cam, s)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def step(name: str, results: dict, fn) -> None:
    t0 = time.time()
    print(f"\n[gpu_checks] {name} ...", flush=True)
    try:
        results[name] = {"result": fn(), "ok": True}
    except Exception as exc:  # one failed check must not hide the others
        results[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    results[name]["seconds"] = round(time.time() - t0, 1)
    print(f"[gpu_checks] {name}: {json.dumps(results[name])[:600]}", flush=True)


def run(cmd: list[str], timeout: int, env=None) -> dict:
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"exit {p.returncode}: {(p.stdout + p.stderr)[-1500:]}")
    return {"tail": p.stdout.strip().splitlines()[-1] if p.stdout.strip() else ""}


def amp_vs_fp32(data: Path, tmp: Path) -> dict:
    """Train each backend briefly on CUDA, render a validation frame in float32 and with --amp."""
    from NeRFs.core.head import HeadTrainer
    out = {}
    for backend, opts in (("mlp", {"netwidth": 64, "netwidth_fine": 64, "N_samples": 24, "N_importance": 24,
                                   "lrate": 3e-3, "N_rand": 1024}),
                          ("grid", {"backend": "grid", "N_rand": 4096})):
        args = make_args(data, tmp / backend, N_iters=200, device="cuda", testskip=4, **opts)
        t = HeadTrainer(args)
        t.fit()
        imgs = []
        for amp in (False, True):
            t.settings.amp = amp
            imgs.append(next(t.render_split("val", t.step, [0]))[1].float())
        t.settings.amp = False
        diff = (imgs[0] - imgs[1]).abs()
        out[backend] = {"max_diff_255": round(float(diff.max()) * 255, 3),
                        "mean_diff_255": round(float(diff.mean()) * 255, 4)}
    return out


def grid_fps_450(data: Path, tmp: Path) -> dict:
    """Frames per second of the grid head (trained 300 steps) rendered at 450x450 on CUDA."""
    from NeRFs.core.head import HeadTrainer
    args = make_args(data, tmp / "fps", N_iters=300, device="cuda", backend="grid", N_rand=4096, testskip=4)
    t = HeadTrainer(args)
    t.fit()
    render_seconds(t, 450, repeats=2)  # warm-up (kernels, allocator)
    s = render_seconds(t, 450, repeats=10)
    t.settings.amp = True
    s_amp = render_seconds(t, 450, repeats=10)
    return {"fps_450_fp32": round(1 / s, 1), "fps_450_amp": round(1 / s_amp, 1)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "gpu_checks.json"))
    p.add_argument("--quick", action="store_true", help="fewer benchmark steps")
    a = p.parse_args(argv)
    if not torch.cuda.is_available():
        print("[gpu_checks] skipped: PyTorch sees no CUDA device here (run this on a machine with a GPU)")
        return 0
    n_gpu = torch.cuda.device_count()
    results: dict = {"device": torch.cuda.get_device_name(0), "gpus": n_gpu, "torch": torch.__version__}
    tmp = Path(tempfile.mkdtemp(prefix="gpu_checks_"))
    from data_util.synthetic_head import make_synthetic_dataset
    data = make_synthetic_dataset(tmp / "synth", n_frames=110, size=64)
    py = sys.executable
    step("cuda tests", results, lambda: run([py, "-m", "pytest", "-q", "-x", "-k", "cuda", "tests/NeRFs/test_networks.py",
                                            "tests/NeRFs/test_rays_sampling.py", "tests/NeRFs/test_rendering.py",
                                            "tests/NeRFs/test_grid_backend.py"], 300))
    step("amp vs fp32 pixels", results, lambda: amp_vs_fp32(data, tmp))
    step("grid head 450x450 fps", results, lambda: grid_fps_450(data, tmp))
    steps = ["--mlp_steps", "200", "--grid_steps", "200"] if a.quick else ["--mlp_steps", "1000", "--grid_steps", "1000"]
    bench_json = tmp / "bench.json"
    step("backends side by side", results, lambda: (run([py, "benchmarks/bench_backends.py", "--device", "cuda",
                                                         "--grid_rays", "4096", "--json", str(bench_json), *steps],
                                                        420), json.loads(bench_json.read_text())["summary"])[1])
    if n_gpu >= 2:
        cmd = [py, "-m", "torch.distributed.run", "--nproc_per_node", "2", "NeRFs/HeadNeRF/run_nerf.py", "--config",
               str(data / "HeadNeRF_config.txt"), "--basedir", str(tmp / "ddp"), "--backend", "grid", "--N_iters",
               "50", "--i_weights", "50", "--i_print", "10", "--i_testset", "1000000", "--i_img", "1000000",
               "--device", "cuda"]
        step("2-GPU DDP smoke", results, lambda: run(cmd, 180))
    else:
        results["2-GPU DDP smoke"] = {"ok": None, "skipped": f"{n_gpu} GPU"}
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(results, indent=1))
    print(f"\n[gpu_checks] written {a.out}")
    return 0 if all(v.get("ok") is not False for v in results.values() if isinstance(v, dict)) else 1


if __name__ == "__main__":
    raise SystemExit(main())
