"""The two Head-NeRF backends side by side on the same data and machine: training speed, time to a
validation PSNR, render speed at 128 and 450 px, peak memory.

    .venv/bin/python benchmarks/bench_backends.py [--data dataset/<id>] [--mlp_steps 1000] [--grid_steps 3000]
        [--device auto|cpu|cuda] [--json out.json]

Without --data a 64 px synthetic dataset (data_util/synthetic_head.py) is made in a temporary folder. With
a dataset made by demo.sh (``dataset/demo``) the MLP runs with the demo's settings (its config, N_rand 512,
smoothing over the last 30 %), the grid with its defaults and ``--grid_rays`` rays per step.

Each backend trains in its own process (so its peak memory is its own) for its number of steps; training
time counts only the steps, not the validation renders in between. The validation PSNR is measured in the
head region (the parsing masks' head class, the part the Head-NeRF models) against head_imgs, over the
validation frames of the config (every testskip-th). Reported: seconds per step (median), the MLP's final
PSNR and training time, when the grid first reached that PSNR, the grid's PSNR at the MLP's training time
(or at its own end, if shorter: a lower bound), seconds per rendered frame (inference renderers) at the
dataset size and at 450x450 (intrinsics scaled), and peak memory.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from common import bench_args, peak_memory, sync

REPO = Path(__file__).resolve().parents[1]
DEMO_MLP = {"netwidth": 64, "netwidth_fine": 64, "N_samples": 24, "N_importance": 24, "lrate": 3e-3}


def head_masks(ds) -> list[torch.Tensor]:
    """Head-class pixels (parsing/<id>.png, blue) of each validation frame, bool [H, W]; all True if absent."""
    from NeRFs.core.utils import read_image_float
    out = []
    for img_id in ds.splits["val"].img_ids:
        p = ds.root / "parsing" / f"{img_id}.png"
        if p.is_file():
            rgb = read_image_float(p)
            out.append(torch.from_numpy((rgb[..., 2] > 0.5) & (rgb[..., 0] < 0.5) & (rgb[..., 1] < 0.5)))
        else:
            out.append(torch.ones(ds.H, ds.W, dtype=torch.bool))
    return out


@torch.no_grad()
def validation_psnr(t, masks) -> tuple[float, float]:
    """(head-region PSNR, whole-frame PSNR) over the validation frames, from the mean squared errors."""
    se_head, n_head, se_all, n_all = 0.0, 0, 0.0, 0
    for k, rgb, gt in t.render_split("val", t.step):
        err = ((rgb - gt) ** 2).sum(-1).cpu()
        m = masks[k]
        se_head, n_head = se_head + float(err[m].sum()), n_head + int(m.sum()) * 3
        se_all, n_all = se_all + float(err.sum()), n_all + err.numel() * 3
    return -10 * np.log10(se_head / max(n_head, 1)), -10 * np.log10(se_all / n_all)


@torch.no_grad()
def render_seconds(t, size: int | None, repeats: int = 2) -> float:
    """Median seconds of one full validation frame through the backend's inference renderer; ``size``
    renders a size x size frame with the intrinsics scaled (None: the dataset's size)."""
    from dataclasses import replace
    from NeRFs.core.audio import sequence_codes
    from NeRFs.core.models import render_image
    ds, a = t.dataset, t.args
    scale = 1.0 if size is None else size / ds.W
    bc = t.bc_img if size is None else F.interpolate(t.bc_img.permute(2, 0, 1)[None], size=(size, size),
                                                     mode="bilinear", align_corners=False)[0].permute(1, 2, 0)
    models = t.models
    s = t.settings.for_inference(a.early_stop_T, t.device)
    cam = replace(t.camera, H=bc.shape[0], W=bc.shape[1], focal=ds.focal * scale, cx=ds.cx * scale, cy=ds.cy * scale,
                  bc_img=bc)
    pose = ds.splits["val"].poses[0].to(t.device)
    code = sequence_codes(models.audnet, models.attnet, t.auds["val"], False)[0]
    models.eval()
    times = []
    for _ in range(repeats):
        sync(t.device)
        t0 = time.perf_counter()
        render_image(models, pose, code, cam, s)
        sync(t.device)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@torch.no_grad()
def validation_lmd(t) -> float | None:
    """Mean mouth LMD (pixels, evaluation/metrics/landmark.py) of the validation renders against head_imgs,
    with dlib landmarks; None when dlib finds no face pair."""
    from adnerf.landmarks import detect_landmarks
    from evaluation.metrics.landmark import paired_landmark_scores
    from NeRFs.core.utils import to_uint8
    gen, gt = [], []
    for _, rgb, target in t.render_split("val", t.step):
        gen.append(to_uint8(rgb))
        gt.append(to_uint8(target))
    lmd, _, missing = paired_landmark_scores(detect_landmarks(gen, "dlib"), detect_landmarks(gt, "dlib"))
    return None if np.isnan(lmd).all() else round(float(np.nanmean(lmd)), 3)


def evaluate_now(step: int, every: int, last: int) -> bool:
    """Dense early (every ``every`` steps up to 16 x every), then 4x sparser: the time to reach a PSNR is
    resolved finely where it matters while long runs spend little time in validation renders."""
    stride = every if step <= 16 * every else 4 * every
    return step % stride == 0 or step == last


def run_backend(cfg: dict) -> dict:
    """Train one backend for cfg['steps'] steps, evaluating every cfg['eval_every']; then time renders."""
    from NeRFs.core.allocator import keep_freed_memory
    from NeRFs.core.head import HeadTrainer
    keep_freed_memory()
    torch.set_num_threads(cfg["threads"]) if cfg["threads"] else None
    args = bench_args(Path(cfg["config"]), Path(cfg["basedir"]), "head", cfg["device"], False, **cfg["opts"])
    t = HeadTrainer(args)
    masks = head_masks(t.dataset)
    curve, step_times, train_s = [], [], 0.0
    for step in range(1, cfg["steps"] + 1):
        rng, gen = t.step_randomness(step)
        sync(t.device)
        t0 = time.perf_counter()
        t.train_step(step, rng, gen)
        sync(t.device)
        dt = time.perf_counter() - t0
        t.step = step
        step_times.append(dt)
        train_s += dt
        if evaluate_now(step, cfg["eval_every"], cfg["steps"]):
            head, full = validation_psnr(t, masks)
            curve.append({"step": step, "train_s": round(train_s, 2), "psnr_head": round(head, 3),
                          "psnr_frame": round(full, 3)})
            print(f"[{cfg['name']}] step {step}: {train_s:.0f} s of training, validation PSNR head region "
                  f"{head:.2f} dB, frame {full:.2f} dB", flush=True)
    res = {"name": cfg["name"], "s_per_step": statistics.median(step_times), "train_s": train_s, "curve": curve,
           "render_s_native": render_seconds(t, None), "native_size": t.dataset.W}
    try:
        res["lmd"] = validation_lmd(t)
    except Exception as exc:  # e.g. no dlib: the other numbers still count
        res["lmd"] = f"unavailable: {exc}"
    print(f"[{cfg['name']}] render {t.dataset.W} px: {res['render_s_native']:.2f} s/frame", flush=True)
    res["render_s_450"] = render_seconds(t, 450, repeats=1)
    res["peak_memory"] = peak_memory(t.device)
    if t.args.backend == "grid":
        res["occupied"] = t.models.occ.occupied_fraction()
    return res


def time_encodings(device: str, n: int = 1 << 15, repeats: int = 5) -> None:
    """Milliseconds per n points of both encodings (+ a 64-wide layer), forward and forward + backward."""
    from NeRFs.grid.encoding import HashGridEncoding, TriPlaneEncoding
    for enc in (TriPlaneEncoding(), HashGridEncoding(levels=16, features=2, log2_table=17, base_res=16, max_res=512),
                HashGridEncoding(levels=8, features=4, log2_table=17, base_res=16, max_res=256)):
        enc = enc.to(device)
        head = torch.nn.Linear(enc.out_dim, 64).to(device)
        x = torch.rand(n, 3, device=device) * 2 - 1
        for train in (False, True):
            times = []
            for _ in range(repeats + 1):
                sync(torch.device(device))
                t0 = time.perf_counter()
                with torch.set_grad_enabled(train):
                    y = head(enc(x))
                    if train:
                        y.square().mean().backward()
                sync(torch.device(device))
                times.append(time.perf_counter() - t0)
            print(f"{type(enc).__name__:17s} levels {len(enc.resolutions):2d} out {enc.out_dim:3d} "
                  f"{'fwd+bwd' if train else 'fwd    '}: {statistics.median(times[1:]) * 1e3:8.1f} ms / {n} points")


def in_child(cfg: dict) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as ex:
        return ex.submit(run_backend, cfg).result()


def summarise(mlp: dict, grid: dict) -> dict:
    target = mlp["curve"][-1]["psnr_head"]
    reached = next((c for c in grid["curve"] if c["psnr_head"] >= target), None)
    within = [c for c in grid["curve"] if c["train_s"] <= mlp["train_s"]]
    at_mlp_time = within[-1] if within else grid["curve"][0]
    return {
        "mlp_final_psnr_head": target, "mlp_train_s": round(mlp["train_s"], 1),
        "grid_s_to_mlp_psnr": reached["train_s"] if reached else None,
        "time_ratio": round(reached["train_s"] / mlp["train_s"], 3) if reached else None,
        "grid_psnr_head_at_mlp_time": at_mlp_time["psnr_head"],
        "grid_psnr_gain_db": round(at_mlp_time["psnr_head"] - target, 2),
        "grid_time_covered_s": at_mlp_time["train_s"],
        "lmd_mlp": mlp.get("lmd"), "lmd_grid": grid.get("lmd"),
        "render_speedup_native": round(mlp["render_s_native"] / grid["render_s_native"], 1),
        "render_speedup_450": round(mlp["render_s_450"] / grid["render_s_450"], 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", help="dataset/<id> folder (default: a synthetic 64 px dataset)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--mlp_steps", type=int, default=1000, help="the demo's head steps")
    p.add_argument("--mlp_rays", type=int, default=512, help="the demo's N_rand")
    p.add_argument("--grid_steps", type=int, default=3000, help="covers the demo MLP's training time on a 2-core CPU")
    p.add_argument("--grid_rays", type=int, default=512)
    p.add_argument("--mlp_eval_every", type=int, default=250)
    p.add_argument("--grid_eval_every", type=int, default=25)
    p.add_argument("--threads", type=int, default=0, help="torch threads per process (0: PyTorch's choice)")
    p.add_argument("--json", help="also write the results here")
    p.add_argument("--encodings", action="store_true", help="only time the two spatial encodings")
    a = p.parse_args(argv)
    if a.encodings:
        time_encodings(a.device)
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="bench_backends_"))
    data = Path(a.data) if a.data else None
    mlp_net = {}
    if data is None:
        from data_util.synthetic_head import make_synthetic_dataset
        data = make_synthetic_dataset(tmp / "synth", n_frames=110, size=64)
        mlp_net = DEMO_MLP  # the demo's network and samples (dataset configs of demo.sh carry them)
    common = {"config": str(data / "HeadNeRF_config.txt"), "basedir": str(tmp / "logs"), "device": a.device,
              "threads": a.threads}
    mlp_opts = {**mlp_net, "N_rand": a.mlp_rays, "N_iters": a.mlp_steps, "nosmo_iters": a.mlp_steps * 7 // 10,
                "expname": "bench_mlp"}
    grid_opts = {"backend": "grid", "N_rand": a.grid_rays, "N_iters": a.grid_steps,
                 "nosmo_iters": a.grid_steps * 7 // 10, "expname": "bench_grid"}
    mlp = in_child({**common, "name": "mlp", "steps": a.mlp_steps, "eval_every": a.mlp_eval_every, "opts": mlp_opts})
    grid = in_child({**common, "name": "grid", "steps": a.grid_steps, "eval_every": a.grid_eval_every,
                     "opts": grid_opts})
    summary = summarise(mlp, grid)
    print("\nbackend  s/step  train s  final head PSNR  LMD  render %dpx  render 450px  peak memory" % mlp["native_size"])
    for r in (mlp, grid):
        print(f"{r['name']:7s} {r['s_per_step']:7.3f} {r['train_s']:8.0f} {r['curve'][-1]['psnr_head']:16.2f} "
              f"{r.get('lmd')} {r['render_s_native']:10.2f} s {r['render_s_450']:11.2f} s  {r['peak_memory']}")
    print(json.dumps(summary, indent=1))
    if a.json:
        Path(a.json).write_text(json.dumps({"data": str(data), "device": a.device, "mlp": mlp, "grid": grid,
                                            "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
