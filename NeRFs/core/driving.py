"""Driving a trained head + torso with new audio (the original's TorsoNeRFTest mode).

Frame i uses audio features ``aud_start + i`` (or, with ``--aud_from_pose``, the aud_id of its pose, so
that re-rendering the validation frames compares like with like) and the head pose ``i`` of
``test_pose_file`` (consecutive poses; every ``testskip``-th only when a testskip is named; optionally
smoothed with ``--smooth_poses``; cycling when the audio is longer). The audio codes are
smoothed over the sequence by AudioAttNet, as in the original. A head trained on the eye signal gets the
eyes ``--eyes`` chooses (eye_source.py; recorded as ``eyes`` and ``eye_signal`` in frames.json), one
trained on the mouth signal the mouth ``--mouth`` chooses (mouth_source.py; ``mouth``, ``mouth_signal``).
The model is a serving object (serving.py: checkpoints, transforms and bc.jpg only; no trainer, no
optimiser, no training image).

Output: ``basedir/expname/test_aud_rst/`` (or ``--rst_dir``) in the one sequence format
(adnerf/sequence_record.py): ``00000.png ...``, ``frames.json`` (img_id of the pose and aud_id of every
output frame) and ``video.mp4`` (``--video_fps``, 25). Reading a .wav and muxing the sound
(``video_with_audio.mp4``) are the command line's (NeRFs/TorsoNeRF/run_nerf.py): this stage takes features.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .dataset import check_poses, load_transforms
from .eye_source import driving_eyes
from .mouth_source import driving_mouth, driving_sound
from .pose_fit import fit_sequence_poses
from .sequence import SequenceWriter
from .serving import TalkingHead, load_talking_head
from .utils import UserError


def smooth_poses(poses: np.ndarray, window: int) -> np.ndarray:
    """Average each c2w [N, 4, 4] with its neighbours over ``window`` frames (clamped at the ends): the mean
    of the translations, and the mean of the rotation matrices projected back onto a rotation (SVD)."""
    half = window // 2
    out = poses.copy()
    for i in range(len(poses)):
        part = poses[max(0, i - half): i + half + 1]
        u, _, vt = np.linalg.svd(part[:, :3, :3].mean(0))
        rot = u @ vt
        if np.linalg.det(rot) < 0:   # keep a proper rotation
            u[:, -1] *= -1
            rot = u @ vt
        out[i, :3, :3] = rot
        out[i, :3, 3] = part[:, :3, 3].mean(0)
    return out


@dataclass
class DrivenSequence:
    """What ``drive`` wrote: the sequence folder, its mp4, and the audio row of its first frame."""
    folder: Path
    video: Path
    first_aud_id: int
    frames: int


def fit_poses_to_frames(args: argparse.Namespace, th: TalkingHead, poses: torch.Tensor, codes: torch.Tensor,
                        frames: list[dict], n: int) -> tuple[torch.Tensor, list]:
    """``--fit_poses``: the n output frames' poses [n, 4, 4] fitted to their pose frames' head_imgs
    (pose_fit.py), and the corrections; the head's training render settings drive the fit."""
    from .backends import backend_for
    settings = backend_for(args).render_settings(args)
    index = torch.arange(n) % len(poses)
    th.head.freeze()
    return fit_sequence_poses(th.head, th.camera, settings, poses[index], codes[:n], frames,
                              Path(args.datadir) / "head_imgs", args.fit_poses)


def drive(args: argparse.Namespace, feats: torch.Tensor, aud_source: str | None = None,
          head: TalkingHead | None = None) -> DrivenSequence:
    """Render the trained talking head of basedir/expname with audio features ``feats`` [N, 16, C] (already
    read or computed by the command line) into ``basedir/expname/<rst_dir>`` (the one sequence format).

    ``head``: a loaded TalkingHead (default: ``load_talking_head(args)``, checkpoints + transforms only).
    """
    aud_source = aud_source or str(args.aud_file)
    th = head if head is not None else load_talking_head(args)
    th.check_features(feats, aud_source)
    pose_file = Path(args.datadir) / args.test_pose_file
    # consecutive poses unless a testskip was named (config or command line): the original's default of
    # every 8th validation pose made the driven head jump 8 frames of motion per output frame
    skip = max(args.testskip, 1) if getattr(args, "testskip_given", True) else 1
    frames = load_transforms(pose_file)["frames"][::skip]
    poses = check_poses(np.array([f["transform_matrix"] for f in frames], dtype=np.float64), pose_file,
                        [f.get("img_id") for f in frames])
    if getattr(args, "smooth_poses", 0) > 1:
        poses = smooth_poses(poses, args.smooth_poses)
    poses = torch.tensor(poses, dtype=torch.float32, device=th.device)
    if args.aud_from_pose:
        ids = [int(f.get("aud_id", f["img_id"])) for f in frames]
        n = len(ids) if args.test_size < 0 else min(args.test_size, len(ids))
        ids = ids[:n]
    else:
        available = feats.shape[0] - args.aud_start
        if available <= 0:
            raise UserError(f"--aud_start {args.aud_start} is past the end of {aud_source} ({feats.shape[0]} frames)")
        n = available if args.test_size < 0 else min(args.test_size, available)
        ids = list(range(args.aud_start, args.aud_start + n))
    if max(ids) >= feats.shape[0]:
        raise UserError(f"{aud_source} has {feats.shape[0]} frames, the poses of {pose_file} need aud_id {max(ids)}")
    eyes = None
    if th.reads_eyes:
        eyes = driving_eyes(getattr(args, "eyes", "auto"), n, th.camera, frames, pose_file, args.video_fps,
                            args.seed, bool(args.aud_from_pose))
    mouth = None
    if th.reads_mouth:
        mouth = driving_mouth(getattr(args, "mouth", "auto"), ids, th.mouth_predictor, frames, pose_file,
                              driving_sound(aud_source, args.datadir, getattr(args, "with_audio", None)))
    codes = th.codes(feats[ids], None if eyes is None else torch.from_numpy(eyes),
                     None if mouth is None else torch.from_numpy(mouth))
    corrections = None
    if getattr(args, "fit_poses", 0) > 0:
        poses, corrections = fit_poses_to_frames(args, th, poses, codes, frames, n)
    out = Path(args.basedir) / args.expname / args.rst_dir  # an absolute rst_dir replaces the whole path
    meta = {"kind": "driving", "step": th.step, "pose_file": str(pose_file), "testskip": skip,
            "smooth_poses": getattr(args, "smooth_poses", 0), "aud_file": aud_source,
            "aud_from_pose": bool(args.aud_from_pose), "aud_start": None if args.aud_from_pose else args.aud_start,
            "eyes": None if eyes is None else getattr(args, "eyes", "auto"),
            "eye_signal": None if eyes is None else [round(float(v), 4) for v in eyes],
            "mouth": None if mouth is None else getattr(args, "mouth", "auto"),
            "mouth_signal": None if mouth is None else [round(float(v), 4) for v in mouth],
            "fit_poses": getattr(args, "fit_poses", 0), "pose_corrections": corrections}
    with SequenceWriter(out, args.video_fps, **meta) as seq:
        for i in tqdm(range(n), desc="driving", dynamic_ncols=True):
            seq.add(th.render(poses[i % len(poses)], codes[i]), frames[i % len(frames)]["img_id"], ids[i])
    print(f"[{args.expname}] {n} frames and {seq.video_path} in {out}")
    return DrivenSequence(out, seq.video_path, int(ids[0]), n)
