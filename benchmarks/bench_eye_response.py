"""How far does a trained eye-conditioned head close its eyes? Measured by landmarks on head renders.

    .venv/bin/python benchmarks/bench_eye_response.py --config dataset/<id>/HeadNeRF_config.txt --backend grid \
        [--frames 6] [--json out.json]

Issue 19's blink target counts a rendered frame as closed when its eye openness (dlib's 68 points,
adnerf.eyes.eye_openness) falls below half the open eye's. This asks the head directly, without driving:
- ``train``: the training frames with the deepest blinks (one per blink, up to ``--frames``), each
  rendered at its own pose and audio with its own eye value and with the open level: does the field
  reproduce the blinks it was trained on? (the ground truth's own ratio is printed beside it);
- ``val``: ``--frames`` validation poses rendered with the open and with the closed level that
  ``--eyes natural`` drives with (adnerf.eyes.eye_levels of the training eyes): does a blink carry over?
Printed per set: the median ratio rendered-closed / rendered-open, and how many frames fall below 0.5.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from adnerf.eyes import blink_runs, eye_levels, eye_openness
from adnerf.landmarks import detect_landmarks
from adnerf.media import write_image
try:  # run as a file (python benchmarks/x.py, as the other benchmarks): common.py sits next to it
    from common import report_numbers
except ImportError:  # imported as benchmarks.<name> (the tests)
    from benchmarks.common import report_numbers
from NeRFs.core.cli import model_options
from NeRFs.core.config import parse_args
from NeRFs.core.dataset import frame_eyes, frame_mouth, load_audio_features, load_transforms
from NeRFs.core.serving import load_head_renderer


def measured_landmarks(images: list[np.ndarray]) -> list[np.ndarray | None]:
    """dlib's 68 points [68, 2] of uint8 images [H, W, 3]; None where no face is found."""
    return detect_landmarks(images, "dlib", "cpu", progress=False)


def openness(found: list[np.ndarray | None]) -> np.ndarray:
    """Eye openness [N] of landmarks (measured_landmarks); NaN where no face was found."""
    return np.array([eye_openness(lms) if lms is not None else np.nan for lms in found])


def split_inputs(root: Path, split: str, feats: torch.Tensor):
    """poses [N, 4, 4], audio features [N, 16, C], eyes [N], mouth [N] or None of a transforms file."""
    path = root / f"transforms_{split}.json"
    frames = load_transforms(path)["frames"]
    aud_ids = torch.as_tensor([int(f.get("aud_id", f["img_id"])) for f in frames])
    poses = torch.tensor(np.array([f["transform_matrix"] for f in frames]), dtype=torch.float32)
    eyes = frame_eyes(frames, path)
    if eyes is None:
        raise SystemExit(f"{path}: the frames record no 'eye' value (preprocessing step 7 of an older version?)")
    return poses, feats[aud_ids], eyes, frame_mouth(frames, path)


def render_pairs(model, poses, feats, mouth, closed_eyes: torch.Tensor, open_value: float, picks: list[int]):
    """Two lists of uint8 head renders [H, W, 3] of a split's picked frames: with ``closed_eyes`` [N] and with
    the open level throughout."""
    images = []
    for eyes in (closed_eyes, torch.full_like(closed_eyes, open_value)):
        codes = model.codes(feats, eyes, mouth)  # the whole split: smoothing sees consecutive frames
        images.append([(model.render_head(poses[k], codes[k]).clamp(0, 1).cpu().numpy() * 255).round()
                       .astype(np.uint8) for k in picks])
    return images[0], images[1]


def eye_strip(closed: list[np.ndarray], opened: list[np.ndarray], opened_lms: list) -> np.ndarray:
    """uint8 [rows * h, 2 * w, 3]: for each pair, the band of the eyes of the closed and the open render side
    by side (the same band for both, placed by the open render's landmarks ``opened_lms``)."""
    rows = []
    for c, o, lms in zip(closed, opened, opened_lms):
        if lms is None:
            continue
        eyes = lms[36:48]
        (x0, y0), (x1, y1) = eyes.min(0), eyes.max(0)
        pad = 0.25 * (x1 - x0)   # a quarter of the eyes' span: brows above, the cheeks' top below
        box = (slice(max(int(y0 - pad), 0), int(y1 + pad)), slice(max(int(x0 - pad), 0), int(x1 + pad)))
        rows.append(np.concatenate([c[box], o[box]], axis=1))
    if not rows:
        return np.zeros((8, 16, 3), dtype=np.uint8)
    h, w = max(r.shape[0] for r in rows), max(r.shape[1] for r in rows)
    return np.concatenate([np.pad(r, ((0, h - r.shape[0]), (0, w - r.shape[1]), (0, 0))) for r in rows])


def ratios(closed: np.ndarray, opened: np.ndarray) -> dict:
    """Per-frame rendered closed / open openness [N] (NaN where a face was missed): median, min, count < 0.5,
    and the open renders' own median openness (against the training video's open level)."""
    ratio = closed / opened
    ratio = ratio[np.isfinite(ratio)]
    return {"frames": int(len(ratio)), "ratio_median": float(np.median(ratio)) if len(ratio) else float("nan"),
            "ratio_min": float(ratio.min()) if len(ratio) else float("nan"),
            "below_half": int((ratio < 0.5).sum()), "open_median": float(np.nanmedian(opened))}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=6, help="frames per set (default 6)")
    p.add_argument("--json", help="also write the numbers here")
    p.add_argument("--picture", help="also write the eyes of every pair here (a .png: rows closed | open)")
    a, rest = p.parse_known_args(argv)
    if a.frames < 1:
        print("--frames must be >= 1", file=sys.stderr)
        return 2
    args = parse_args(rest, "head")
    backend, settings = model_options(args)
    model = load_head_renderer(args, backend, settings)
    if not model.reads_eyes:
        print("the head does not read the eye signal (trained without --eye_condition)", file=sys.stderr)
        return 1
    root = Path(args.datadir)
    feats = load_audio_features(root / "aud.npy")
    out: dict = {"step": model.step}

    poses, tfeats, teyes, tmouth = split_inputs(root, "train", feats)
    open_value, closed_value = eye_levels(teyes.numpy())
    out.update(open_level=open_value, closed_level=closed_value)
    runs = blink_runs(teyes.numpy())
    deepest = [s + int(np.argmin(teyes.numpy()[s:s + n])) for s, n in runs][:a.frames]
    closed_r, open_r = render_pairs(model, poses, tfeats, tmouth, teyes, open_value, deepest)
    open_r_lms = measured_landmarks(open_r)
    rendered = ratios(openness(measured_landmarks(closed_r)), openness(open_r_lms))
    out.update({f"train_blinks_{k}": v for k, v in rendered.items()})
    # the ground truth's own ratio: the frame's recorded openness (dlib on the real frame) over the open level
    out["train_blinks_truth_ratio_median"] = float(np.median(teyes.numpy()[deepest]) / open_value)

    vposes, vfeats, veyes, vmouth = split_inputs(root, "val", feats)
    picks = [int(k) for k in np.linspace(0, len(vposes) - 1, a.frames).round()]
    closed_v, open_v = render_pairs(model, vposes, vfeats, vmouth, torch.full_like(veyes, closed_value),
                                    open_value, picks)
    open_v_lms = measured_landmarks(open_v)
    out.update({f"val_closed_{k}": v for k, v in ratios(openness(measured_landmarks(closed_v)),
                                                          openness(open_v_lms)).items()})
    if a.picture:
        write_image(a.picture, eye_strip(closed_r + closed_v, open_r + open_v, open_r_lms + open_v_lms))
    report_numbers(out, a.json, 32)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
