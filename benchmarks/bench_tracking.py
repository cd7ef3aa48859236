"""Face tracking (preprocessing step 6): seconds per frame and recovered-pose errors of both trackers.

    .venv/bin/python benchmarks/bench_tracking.py [--device cpu|cuda|auto] [--threads 1] [--frames 1000]
                                                  [--bfm_frames 400] [--bfm_scale 1.0] [--skip_bfm]

Data are synthetic with a known truth: smooth head motion (yaw +-20, pitch +-10, roll +-6 degrees), 450x450
images, focal 1000, landmarks with 1 px Gaussian noise.
- rigid: the generic 68-point face, --frames frames, the whole tracker (focal search, poses, smoothing).
- BFM: a small synthetic morphable model with the BFM file layout (about 2000 vertices; the real BFM subset
  has 34650, which matters for the photometric stages only), --bfm_frames frames; the landmark stages A+B
  at the original's iteration counts x --bfm_scale; the photometric stages C and D timed for a few
  iterations on 450x450 renders and reported per frame and iteration.
Targets (2-core CPU): rigid < 0.05 s/frame, BFM landmark stages < 0.2 s/frame.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from adnerf.devices import resolve_device
from data_util.face_tracking import face_tracker
from data_util.face_tracking.convert_BFM import convert_bfm
from data_util.face_tracking.face_model import Face3DMM
from data_util.face_tracking.geometry import torch_threads
from data_util.face_tracking.rigid_tracker import track_rigid
from data_util.face_tracking.synthetic import jitter, pose_sequence, project_points, rotation_errors_deg
from data_util.face_tracking.synthetic_bfm import write_synthetic_bfm
from data_util.face_tracking.template import generic_face_68

SIZE, FOCAL, NOISE = (450, 450), 1000.0, 1.0


def report(name: str, seconds: float, frames: int, euler, trans, true_euler, true_trans, focal) -> None:
    rot = rotation_errors_deg(euler, true_euler)
    print(f"{name}: {seconds / frames:.4f} s/frame ({frames} frames, {seconds:.1f} s) | focal {focal:.0f} "
          f"(true {FOCAL:.0f}) | rotation error mean {rot.mean():.2f} max {rot.max():.2f} deg | translation "
          f"error mean {np.abs(trans - true_trans).mean() * 100:.1f} mm | jitter {np.degrees(jitter(euler)):.3f} "
          f"deg/frame^2 (truth {np.degrees(jitter(true_euler)):.3f})", flush=True)


def bench_rigid(frames: int, threads: int) -> None:
    euler, trans = pose_sequence(frames, seed=1)
    lms = project_points(generic_face_68(), euler, trans, FOCAL, SIZE, noise_px=NOISE, seed=2)
    start = time.perf_counter()
    result = track_rigid(lms, SIZE, threads=threads)
    report("rigid tracker", time.perf_counter() - start, frames, result["euler"], result["trans"], euler, trans,
           result["focal"])


def bench_bfm(frames: int, scale: float, device: torch.device, threads: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        written = write_synthetic_bfm(Path(tmp) / "src")
        model_dir = convert_bfm(Path(tmp) / "3DMM", written["mat"], written["aux_dir"]).parent
        model = Face3DMM(model_dir, device=device)
        rng = np.random.default_rng(0)
        euler, trans = pose_sequence(frames, seed=1)
        f32 = lambda a: torch.tensor(a, dtype=torch.float32, device=device)  # noqa: E731
        truth = {"id": f32(rng.normal(0, 0.5, (1, 100))), "exp": f32(rng.normal(0, 0.3, (frames, 79))),
                 "tex": f32(rng.normal(0, 0.5, (1, 100))), "euler": f32(euler), "trans": f32(trans),
                 "light": torch.zeros(frames, 27, device=device)}
        clean = model.project_landmarks(truth["id"], truth["exp"], truth["euler"], truth["trans"], FOCAL,
                                        (SIZE[0] / 2, SIZE[1] / 2)).cpu().numpy()
        lms = clean + rng.normal(0, NOISE, clean.shape)
        iters = {k: max(1, int(v * scale)) for k, v in face_tracker.DEFAULT_ITERATIONS.items()}
        start = time.perf_counter()
        result = face_tracker.track_bfm(lms, SIZE, model_dir, device=device, iterations=iters, photometric=False,
                                        threads=threads)
        seconds = time.perf_counter() - start
        report(f"BFM landmark stages A+B (iterations x{scale:g}, {device.type})", seconds, frames, result["euler"],
               result["trans"], euler, trans, result["focal"])
        print(f"  landmark error to the noisy input {result['errors'].mean():.2f} px (noise {NOISE} px)")
        # photometric stages: a few iterations on 10 frames, per frame and iteration
        n, its = 10, 3
        with torch.no_grad():
            image, mask = face_tracker.shaded_render(model, truth["id"], truth["exp"][:n], truth["tex"],
                                                     truth["light"][:n], truth["euler"][:n], truth["trans"][:n],
                                                     FOCAL, SIZE)
        frames_u8 = (image + (1 - mask[..., None]) * 90).clamp(0, 255).round().byte().cpu().numpy()
        state = {k: torch.tensor(result[k], dtype=torch.float32, device=device)[:n] if k != "id" else
                 torch.tensor(result[k], dtype=torch.float32, device=device) for k in ("id", "exp", "euler", "trans")}
        lms_t = torch.tensor(lms[:n], dtype=torch.float32, device=device)
        cxy = (SIZE[0] / 2, SIZE[1] / 2)
        with torch_threads(threads if device.type == "cpu" else None):
            start = time.perf_counter()
            state = face_tracker.photometric_fit(model, state, list(range(n)), lms_t,
                                                 lambda idx: [frames_u8[i] for i in idx], FOCAL, cxy, SIZE, its,
                                                 warmup=0.0)
            if device.type == "cuda":
                torch.cuda.synchronize()
            per_it = (time.perf_counter() - start) / (n * its)
        print(f"  photometric iteration (render + backward, 450x450, {model.tris.shape[0]} triangles): "
              f"{per_it:.4f} s per frame; stage C = {face_tracker.DEFAULT_ITERATIONS['photo']} iterations on 50 "
              f"frames, stage D = {face_tracker.DEFAULT_ITERATIONS['refine']} iterations per frame -> D alone "
              f"{per_it * face_tracker.DEFAULT_ITERATIONS['refine']:.2f} s/frame", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (the trackers' default is 1)")
    p.add_argument("--frames", type=int, default=1000, help="frames for the rigid tracker")
    p.add_argument("--bfm_frames", type=int, default=400, help="frames for the BFM tracker")
    p.add_argument("--bfm_scale", type=float, default=1.0, help="x the original's iteration counts")
    p.add_argument("--skip_bfm", action="store_true")
    args = p.parse_args()
    device = resolve_device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {args.threads}")
    bench_rigid(args.frames, args.threads)
    if not args.skip_bfm:
        bench_bfm(args.bfm_frames, args.bfm_scale, device, args.threads)


if __name__ == "__main__":
    main()
