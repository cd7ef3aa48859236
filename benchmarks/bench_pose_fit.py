"""Pose or field? How much of a trained Head-NeRF's error on real frames is the tracked pose.

    .venv/bin/python benchmarks/bench_pose_fit.py --config dataset/<id>/HeadNeRF_config.txt --backend grid \
        [--every 3] [--iters 30] [--json out.json]

For every ``--every``-th validation frame and as many training frames (evenly spread), the field is frozen
and the frame's pose corrected to fit its image (NeRFs/core/pose_fit.py: a rotation about the head's centre
and a shift, ``--iters`` Adam steps on 1024 face-rect rays). Each frame is rendered at the tracked and at
the fitted pose and scored against head_imgs: PSNR over the frame and the face rect, and the face rect's
sharpness ratio (evaluation/metrics/sharpness.py). What the fit gains is what the tracker's pose costs;
what stays is the field's own error (blur, a wrong mouth). Training frames near validation frames say
whether the field memorised its frames (then the training frames would score far higher). The fitted
poses are a diagnosis, not a result: they are fitted on the very image they are scored on.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from adnerf.media import read_image
try:  # run as a file (python benchmarks/x.py, as the other benchmarks): common.py sits next to it
    from common import report_numbers
except ImportError:  # imported as benchmarks.<name> (the tests)
    from benchmarks.common import report_numbers
from evaluation.metrics.image import crop_rect
from evaluation.metrics.sharpness import sharpness_ratio
from NeRFs.core.cli import model_options
from NeRFs.core.config import parse_args
from NeRFs.core.dataset import load_audio_features, load_transforms
from NeRFs.core.models import render_image
from NeRFs.core.pose_fit import correction_size, fit_sequence_poses, pose_file_inputs
from NeRFs.core.serving import load_head_renderer
from NeRFs.core.utils import mse_to_psnr


def scores(render: np.ndarray, target: np.ndarray, rect) -> tuple[float, float, float]:
    """(PSNR over the frame, PSNR in the face rect [x, y, w, h], sharpness ratio there) of a render
    [H, W, 3] in [0, 1] against its ground truth [H, W, 3] in [0, 1]."""
    def psnr(a, b):
        return mse_to_psnr(max(float(((a - b) ** 2).mean()), 1e-10))
    as_uint8 = (lambda a: (a * 255).round().astype(np.uint8))
    return (psnr(render, target), psnr(crop_rect(render, rect), crop_rect(target, rect)),
            sharpness_ratio(as_uint8(render), as_uint8(target), rect))


def split_rows(model, settings, root: Path, split: str, picks: list[int], feats, iters: int) -> np.ndarray:
    """[len(picks), 8]: tracked (psnr, rect psnr, sharpness), fitted (the same), correction (deg, px)."""
    frames, poses, codes = pose_file_inputs(model, root / f"transforms_{split}.json", feats)
    frames, poses, codes = [frames[k] for k in picks], poses[picks], codes[picks]
    fitted, corrections = fit_sequence_poses(model.head, model.camera, settings, poses, codes, frames,
                                             root / "head_imgs", iters)
    rows = []
    for frame, pose, fit, code, corr in zip(frames, poses, fitted, codes, corrections):
        target = read_image(root / "head_imgs" / f"{frame['img_id']}.jpg").astype(np.float32) / 255
        row = []
        for p in (pose, fit):
            with torch.no_grad():
                rgb = render_image(model.head, p, code, model.camera, model.settings)["rgb_map"]
            row += scores(rgb.clamp(0, 1).cpu().numpy(), target, frame["face_rect"])
        rows.append(row + list(correction_size(torch.tensor(corr), pose.cpu(), model.camera.focal)))
    return np.array(rows)


def summary(rows: np.ndarray, prefix: str) -> dict:
    names = ("psnr_tracked", "rect_psnr_tracked", "sharpness_tracked", "psnr_fitted", "rect_psnr_fitted",
             "sharpness_fitted", "correction_deg", "correction_px")
    return {f"{prefix}_frames": len(rows), **{f"{prefix}_{n}": float(np.median(rows[:, i]) if "sharp" in n
                                                                     else rows[:, i].mean())
                                             for i, n in enumerate(names)}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--every", type=int, default=3, help="every n-th validation frame (default 3)")
    p.add_argument("--iters", type=int, default=30, help="Adam steps of each pose fit (default 30)")
    p.add_argument("--json", help="also write the numbers here")
    a, rest = p.parse_known_args(argv)
    if a.every < 1 or a.iters < 1:
        print("--every and --iters must be >= 1", file=sys.stderr)
        return 2
    args = parse_args(rest, "head")
    backend, settings = model_options(args)
    model = load_head_renderer(args, backend, settings)
    model.head.freeze()
    root = Path(args.datadir)
    feats = load_audio_features(root / "aud.npy").to(model.device)
    n_val = len(load_transforms(root / "transforms_val.json")["frames"])
    n_train = len(load_transforms(root / "transforms_train.json")["frames"])
    val_picks = list(range(0, n_val, a.every))
    train_picks = [int(k) for k in np.linspace(0, n_train - 1, len(val_picks)).round()]
    out = {"step": model.step, "iters": a.iters,
           **summary(split_rows(model, settings, root, "val", val_picks, feats, a.iters), "val"),
           **summary(split_rows(model, settings, root, "train", train_picks, feats, a.iters), "train")}
    report_numbers(out, a.json, 26)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
