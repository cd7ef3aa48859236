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

For a head trained with ``--mouth_condition`` (whose mouth input stays at the rest level above), the same
training frames are also rendered with their own audio and their own measured mouth opening
(``r_own_mouth_vs_gt``: does the field reproduce the mouths it was trained on?), and with the mouth input at a
closed and an open level (the 5th and 95th percentile of the training frames' openings): ``mouth_input_gain``
is the median rendered opening change over the input's change (1: the render opens as far as the input says;
0: the input does not reach the mouth) and ``mouth_input_opens`` the share of frames whose render opens wider
at the open level, both by dlib on the renders; ``mouth_input_locality`` (no landmarks on the renders: the
frames' own mouth boxes) is the mean colour change between the two renders inside the mouth's box over that in
the rest of the face rect (1: the input changes the whole face alike; the higher, the more it acts on the
mouth alone)."""
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
from NeRFs.core.dataset import feature_boxes_of, frame_mouth, load_audio_features, load_transforms
from NeRFs.core.rays import face_rect_mask
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


def mouth_input_statistics(closed: np.ndarray, opened: np.ndarray, low: float, high: float) -> dict:
    """Rendered mouth openings [N] at the mouth input ``low`` (closed) and ``high`` (opened) -> the median
    change over the input's (gain) and the share of frames opening wider (missing faces left out)."""
    keep = np.isfinite(closed) & np.isfinite(opened)
    change = opened[keep] - closed[keep]
    if not len(change):
        return {"mouth_input_gain": float("nan"), "mouth_input_opens": float("nan")}
    return {"mouth_input_gain": float(np.median(change) / (high - low)),
            "mouth_input_opens": float(np.mean(change > 0))}


def change_locality(closed: np.ndarray, opened: np.ndarray, mouth_box, face_rect) -> float:
    """Two renders [H, W, 3] of one frame -> mean |opened - closed| inside ``mouth_box`` over that in the rest
    of ``face_rect`` (both [x, y, w, h] in pixels); NaN when either region is empty or nothing changes."""
    change = np.abs(opened.astype(np.float64) - closed.astype(np.float64)).mean(-1)
    mouth = face_rect_mask(mouth_box, *change.shape)
    rest = face_rect_mask(face_rect, *change.shape) & ~mouth
    if not mouth.any() or not rest.any() or change[rest].mean() == 0:
        return float("nan")
    return float(change[mouth].mean() / change[rest].mean())


def render_frames(model, frames: list[dict], feats: torch.Tensor, aud_ids: np.ndarray,
                  mouth: float | np.ndarray | None = None) -> list[np.ndarray]:
    """uint8 renders [H, W, 3] of ``frames`` (their poses) with the audio windows ``aud_ids`` (consecutive),
    the mouth input (heads that read it) at ``mouth`` (one value, or one per frame [N]), or at the rest
    level when None."""
    n = len(frames)
    mouth = None if mouth is None else torch.as_tensor(np.broadcast_to(mouth, (n,)).copy(), dtype=torch.float32)
    codes = model.codes(feats[torch.as_tensor(aud_ids)], mouth=mouth)
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
    gt_own = mouth_openings(ground_truth(root, ids))
    out = {"frames": len(frames), "shift": a.shift, "step": model.step,
           **drive_statistics(gt_own, mouth_openings(ground_truth(root, shifted_aud)), own, shifted)}
    train_mouth = frame_mouth(train, root / "transforms_train.json")
    if model.reads_mouth and train_mouth is not None:
        low, high = np.percentile(train_mouth.numpy(), [5, 95])
        closed, opened = (render_frames(model, frames, feats, aud, float(v)) for v in (low, high))
        measured = train_mouth.numpy()[start:start + len(frames)]   # the rendered frames' own openings
        own_mouth = mouth_openings(render_frames(model, frames, feats, aud, measured))
        out["r_own_mouth_vs_gt"] = correlation(own_mouth, gt_own)
        out.update(mouth_input_low=float(low), mouth_input_high=float(high), **mouth_input_statistics(
            mouth_openings(closed), mouth_openings(opened), float(low), float(high)))
        boxes = feature_boxes_of(root, ids)
        if boxes is not None:
            out["mouth_input_locality"] = float(np.nanmedian(
                [change_locality(c, o, b[0], f["face_rect"]) for c, o, b, f in zip(closed, opened, boxes, frames)]))
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
