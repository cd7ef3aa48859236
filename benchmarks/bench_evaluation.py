"""Evaluation speed: PSNR / SSIM / LMD (+ NIOE) of a 700-frame 450x450 result, against rendering those frames.

    .venv/bin/python benchmarks/bench_evaluation.py [--frames 700] [--size 450] [--device auto|cpu|cuda]
                                                     [--render_seconds_per_frame S | --skip_render]

Builds a dataset in a temporary folder (a real face photo from scikit-image, moving a few pixels from frame
to frame, as ori_imgs + transforms_val.json, and a noisy copy as the "rendered" test_aud_rst), then times
`evaluate.py --metrics psnr ssim lmd nioe --landmark_backend dlib` end to end (reading frames included).
Evaluating should take no longer than rendering the frames it scores: the rendering time is measured on the
same machine and device as benchmarks/bench_head_nerf.py measures it (one 450x450 Head-NeRF frame, 64+128
samples; on CPU a band of rows, scaled), which is a lower bound of the driving render (head + torso).
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from data_util.nerf_configs import write_transforms
from evaluation import evaluate


def face_frames(n: int, size: int, seed: int = 0):
    """n ground-truth frames [size, size, 3] (a face moving smoothly) and noisy 'rendered' copies."""
    from PIL import Image
    from skimage.data import astronaut
    face = Image.fromarray(astronaut()[:320, 60:380]).resize((size + 16, size + 16), Image.BILINEAR)
    face = np.asarray(face)
    rng = np.random.default_rng(seed)
    for i in range(n):
        dy, dx = (8 + 7 * np.sin(np.array([i / 23.0, i / 31.0]))).astype(int)
        gt = face[dy:dy + size, dx:dx + size]
        gen = np.clip(gt + rng.normal(0, 6, gt.shape), 0, 255).astype(np.uint8)
        yield gt, gen


def build_dataset(root: Path, n: int, size: int) -> None:
    import imageio.v2 as imageio
    (root / "ori_imgs").mkdir(parents=True)
    rendered = root / "logs" / f"{root.name}_com" / "test_aud_rst"
    rendered.mkdir(parents=True)
    frames = []
    for k, (gt, gen) in enumerate(face_frames(n, size)):
        imageio.imwrite(root / "ori_imgs" / f"{k}.jpg", gt, quality=95)
        imageio.imwrite(rendered / f"{k}.jpg", gen, quality=95)
        frames.append({"img_id": k, "aud_id": k, "transform_matrix": np.eye(4),
                       "face_rect": [size // 4, size // 4, size // 2, size // 2]})
    write_transforms(root / "transforms_val.json", 1100.0, size, size, frames)


def head_render_seconds(size: int, device: str) -> float:
    """Seconds to render one size x size frame with a default-size Head-NeRF (64+128 samples) through the
    inference path, as benchmarks/bench_head_nerf.py times it; on CPU a band of 4 central rows, scaled."""
    import torch
    from common import bench_args, timed
    from data_util.synthetic_head import make_synthetic_dataset
    from NeRFs.core.head import HeadTrainer
    from NeRFs.core.rays import get_rays
    from NeRFs.core.rendering import render_rays_chunked, renderer_for
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_synthetic_dataset(Path(tmp) / "render", n_frames=22, size=64)
        t = HeadTrainer(bench_args(root / "HeadNeRF_config.txt", Path(tmp) / "logs", "head", device, False,
                                   N_samples=64, N_importance=128))
        a, dev = t.args, t.device
        rays_o, rays_d = get_rays(size, size, 2.2 * size, t.dataset.splits["val"].poses[0].to(dev), size / 2, size / 2)
        rows = size if dev.type == "cuda" else 4
        band = slice(size // 2 - rows // 2, size // 2 - rows // 2 + rows)
        o, d = rays_o[band].reshape(-1, 3), rays_d[band].reshape(-1, 3)
        bc, code = torch.rand(o.shape[0], 3, device=dev), torch.randn(a.dim_aud, device=dev)
        settings, m = t.settings.for_inference(a.early_stop_T, t.device), t.models
        with torch.inference_mode():
            _, sec = timed(lambda: render_rays_chunked(m.coarse, m.fine, o, d, a.near, a.far, bc, code, settings,
                                                       renderer=renderer_for(settings)), dev)
        return sec * size / rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=700)
    p.add_argument("--size", type=int, default=450)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--render_seconds_per_frame", type=float, default=None,
                   help="seconds per rendered frame (default: measured here)")
    p.add_argument("--skip_render", action="store_true", help="do not measure the rendering time")
    a = p.parse_args()
    if a.render_seconds_per_frame is None and not a.skip_render:
        a.render_seconds_per_frame = head_render_seconds(a.size, a.device)
        print(f"rendering one {a.size}x{a.size} Head-NeRF frame (64+128 samples): {a.render_seconds_per_frame:.2f} s")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "bench"
        t = time.time()
        build_dataset(root, a.frames, a.size)
        print(f"built {a.frames} frames of {a.size}x{a.size} in {time.time() - t:.1f} s")
        t = time.time()
        evaluate.main(["--subject", "bench", "--dataset_root", tmp, "--out_dir", str(Path(tmp) / "out"),
                       "--metrics", "psnr", "ssim", "lmd", "nioe", "--landmark_backend", "dlib",
                       "--device", a.device, "--batch_size", str(a.batch_size)])
        seconds = time.time() - t
    print(f"evaluation of {a.frames} frames ({a.size}x{a.size}, PSNR/SSIM/LMD/NIOE): {seconds:.1f} s, "
          f"{seconds / a.frames:.3f} s per frame")
    if a.render_seconds_per_frame:
        render = a.render_seconds_per_frame * a.frames
        print(f"rendering them: {render:.1f} s; evaluation / rendering = {seconds / render:.3f} "
              f"({'OK' if seconds <= render else 'TOO SLOW'})")


if __name__ == "__main__":
    main()
