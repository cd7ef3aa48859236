"""``--render_only``: the validation frames of a saved model, rendered by the serving object (serving.py).

Reads the checkpoints, transforms_train.json (camera), transforms_val.json (poses, aud_ids), the audio
features, bc.jpg, and the validation images only to score PSNR when they exist (head_imgs for the head,
com_imgs for head + torso). Writes ``basedir/expname/renderonly_val_<step>/`` in the one sequence format
(PNGs, frames.json, video.mp4) plus metrics.json.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .dataset import check_poses, frame_eyes, frame_mouth, load_audio_features, load_transforms, select_audio
from .sequence import SequenceWriter, write_metrics
from .serving import load_head_renderer, load_talking_head
from .utils import mse_to_psnr, read_image_float


def render_validation(args: argparse.Namespace, kind: str, backend=None, settings=None) -> dict:
    """Render every ``testskip``-th validation frame with its own pose and audio; kind: 'head' | 'torso';
    ``backend`` and training ``settings`` as serving takes them (default: from args).
    Returns metrics.json's content (psnr_per_frame empty without validation images)."""
    model = (load_talking_head if kind == "torso" else load_head_renderer)(args, backend, settings)
    root = Path(args.datadir)
    pose_file = root / "transforms_val.json"
    frames = load_transforms(pose_file)["frames"][::max(args.testskip, 1)]
    img_ids = np.array([int(f["img_id"]) for f in frames])
    aud_ids = np.array([int(f.get("aud_id", f["img_id"])) for f in frames])
    poses = torch.tensor(check_poses(np.array([f["transform_matrix"] for f in frames], dtype=np.float64),
                                     pose_file, img_ids), dtype=torch.float32)
    aud_path = Path(args.aud_file) if Path(args.aud_file).is_absolute() else root / args.aud_file
    feats = select_audio(load_audio_features(aud_path), aud_ids, aud_path)
    model.check_features(feats, aud_path)
    # the validation split as one sequence with its own eyes and mouth, as the trainers render it
    codes = model.codes(feats, frame_eyes(frames, pose_file), frame_mouth(frames, pose_file))
    image_dir = root / ("com_imgs" if kind == "torso" else "head_imgs")
    folder = Path(args.basedir) / args.expname / f"renderonly_val_{model.step:06d}"
    psnrs = []
    with SequenceWriter(folder, args.video_fps, kind="render_only", model=kind, step=model.step,
                        pose_file=str(pose_file), testskip=max(args.testskip, 1), aud_file=str(aud_path)) as seq:
        for k in tqdm(range(len(frames)), desc="render val", leave=False, dynamic_ncols=True):
            rgb = model.render(poses[k], codes[k])
            seq.add(rgb, img_ids[k], aud_ids[k])
            target = image_dir / f"{img_ids[k]}.jpg"
            if target.is_file():
                psnrs.append(mse_to_psnr(((rgb.cpu() - torch.from_numpy(read_image_float(target))) ** 2).mean()))
    if psnrs and len(psnrs) != len(frames):  # a partial score would not say which frames it covers
        psnrs = []
    res = write_metrics(folder, model.step, psnrs, len(frames), seq.video_path)
    msg = f"[{args.expname}] rendered {res['frames']} frames to {folder}"
    if res["psnr_mean"] is not None:
        msg += f" (PSNR {res['psnr_mean']:.2f} dB)"
    print(msg)
    return res
