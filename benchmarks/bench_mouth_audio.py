"""Does the audio drive the rendered mouth? A trained Head-NeRF against its own training frames.

    .venv/bin/python benchmarks/bench_mouth_audio.py --config dataset/<id>/HeadNeRF_config.txt --backend grid \
        [--frames 40] [--shift 40] [--json out.json]

Renders ``--frames`` consecutive training frames (from the middle of the split) twice with their own poses:
once with their own audio, once with the audio of the frames ``--shift`` later; and every validation frame.
dlib's mouth opening (evaluation.metrics.lipsync.mouth_opening) on each render is correlated with the ground
truth's (head_imgs). If the audio drives the mouth, the shifted renders follow the ground truth of the frames
whose audio they were given (``r_shifted_vs_audio_frames`` high) rather than that of their poses; if the
mouth follows the pose, or nothing, both stay near 0. The training frames tell whether the audio path was
learnt at all, before any question of generalising to new audio. Render options (--skip_bg_pixels etc.)
are those of run_nerf.py; the eyes stay open at the training level.
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
from evaluation.lipsync_clip import mouth_openings
from NeRFs.core.cli import model_options
from NeRFs.core.config import parse_args
from NeRFs.core.dataset import load_audio_features, load_transforms
from NeRFs.core.serving import load_head_renderer


def correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson r of two series [N] over the entries finite in both (NaN with fewer than 3)."""
    keep = np.isfinite(a) & np.isfinite(b)
    if keep.sum() < 3 or np.std(a[keep]) == 0 or np.std(b[keep]) == 0:
        return float("nan")
    return float(np.corrcoef(a[keep], b[keep])[0, 1])


def std_ratio(a: np.ndarray, b: np.ndarray) -> float:
    """std(a) / std(b) over each series' finite entries (NaN where either has fewer than 2)."""
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2 or np.std(b) == 0:
        return float("nan")
    return float(np.std(a) / np.std(b))


def drive_statistics(gt_pose: np.ndarray, gt_audio: np.ndarray, own: np.ndarray, shifted: np.ndarray) -> dict:
    """Mouth openings [N] of the ground truth of the rendered frames (gt_pose), of the frames the shifted
    audio came from (gt_audio), and of the renders with their own (own) and the shifted (shifted) audio."""
    return {"r_own_vs_gt": correlation(own, gt_pose),
            "r_shifted_vs_audio_frames": correlation(shifted, gt_audio),
            "r_shifted_vs_pose_frames": correlation(shifted, gt_pose),
            "std_ratio_own": std_ratio(own, gt_pose)}


def render_frames(model, frames: list[dict], feats: torch.Tensor, aud_ids: np.ndarray) -> list[np.ndarray]:
    """uint8 renders [H, W, 3] of ``frames`` (their poses) with the audio windows ``aud_ids`` (consecutive)."""
    codes = model.codes(feats[torch.as_tensor(aud_ids)])
    out = []
    for k, frame in enumerate(frames):
        rgb = model.render(torch.tensor(np.array(frame["transform_matrix"]), dtype=torch.float32), codes[k])
        out.append((rgb.clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8))
    return out


def ground_truth(root: Path, ids) -> list[np.ndarray]:
    """head_imgs/<id>.jpg of each id; a black frame (no face: NaN opening) where there is none."""
    size = read_image(next((root / "head_imgs").glob("*.jpg"))).shape
    return [read_image(root / "head_imgs" / f"{i}.jpg") if (root / "head_imgs" / f"{i}.jpg").is_file()
            else np.zeros(size, np.uint8) for i in ids]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0], add_help=True)
    p.add_argument("--frames", type=int, default=40, help="consecutive training frames rendered (default 40)")
    p.add_argument("--shift", type=int, default=40, help="frames between a render's pose and its shifted audio")
    p.add_argument("--json", help="also write the numbers here")
    a, rest = p.parse_known_args(argv)
    args = parse_args(rest, "head")
    if a.frames < 3 or a.shift < 1:
        print("--frames must be >= 3 and --shift >= 1", file=sys.stderr)
        return 2
    backend, settings = model_options(args)
    model = load_head_renderer(args, backend, settings)
    root = Path(args.datadir)
    feats = load_audio_features(root / "aud.npy")
    train = load_transforms(root / "transforms_train.json")["frames"]
    start = max(len(train) // 2 - a.frames // 2, 0)
    frames = train[start:start + a.frames]
    ids = np.array([int(f["img_id"]) for f in frames])
    aud = np.array([int(f.get("aud_id", f["img_id"])) for f in frames])
    shifted_aud = np.clip(aud + a.shift, 0, len(feats) - 1)
    own = mouth_openings(render_frames(model, frames, feats, aud))
    shifted = mouth_openings(render_frames(model, frames, feats, shifted_aud))
    out = {"frames": len(frames), "shift": a.shift, "step": model.step,
           **drive_statistics(mouth_openings(ground_truth(root, ids)), mouth_openings(ground_truth(root, shifted_aud)),
                              own, shifted)}
    val = load_transforms(root / "transforms_val.json")["frames"]
    val_ids = np.array([int(f["img_id"]) for f in val])
    val_aud = np.array([int(f.get("aud_id", f["img_id"])) for f in val])
    val_render, val_gt = mouth_openings(render_frames(model, val, feats, val_aud)), mouth_openings(ground_truth(root, val_ids))
    out.update({"val_frames": len(val), "val_r_vs_gt": correlation(val_render, val_gt),
                "val_std_ratio": std_ratio(val_render, val_gt)})
    report_numbers(out, a.json, 26)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
