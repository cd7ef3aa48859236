"""Driving a trained head + torso with new audio (the original's TorsoNeRFTest mode).

Frame i uses audio features ``aud_start + i`` (or, with ``--aud_from_pose``, the aud_id of its pose, so
that re-rendering the validation frames compares like with like) and the head pose ``i`` of
``test_pose_file`` (consecutive poses; every ``testskip``-th only when a testskip is named; optionally
smoothed with ``--smooth_poses``; cycling when the audio is longer). The audio codes are
smoothed over the sequence by AudioAttNet, as in the original. Output: ``basedir/expname/test_aud_rst/``
(or ``--rst_dir``) with ``<i>.jpg`` frames and ``result.mp4`` (25 fps), plus ``result_with_audio.mp4`` with ``--with_audio``.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import torch
from tqdm import tqdm

from .audio import sequence_codes
from .dataset import check_features, check_poses, load_audio_features, load_transforms
from .torso import TorsoTrainer
from .utils import UserError, to_uint8, write_video


def load_driving_features(path: str, datadir: str) -> torch.Tensor:
    p = Path(path) if Path(path).is_absolute() else Path(datadir) / path
    if not p.is_file() and Path(path).is_file():
        p = Path(path)
    if p.suffix.lower() == ".wav":
        try:
            from data_util.audio_features import compute_features, dataset_audio_options  # preprocessing step 0
            from data_util.common import StepError
        except ImportError:
            raise UserError(f"{p} is a .wav: computing speech features from audio needs preprocessing step 0 "
                            f"(data_util/audio_features.py), which is not installed in this version; pass the "
                            f"features as .npy [frames, 16, channels] instead") from None
        try:  # the dataset's own feature backend (preprocess.json), so the channels match its AudioNet
            feats = np.asarray(compute_features(p, **dataset_audio_options(datadir)), dtype=np.float32)
        except StepError as exc:
            raise UserError(str(exc)) from exc
        check_features(feats, p, "the sound itself holds NaN / inf samples: export it again as 16-bit PCM")
        return torch.from_numpy(feats)
    return load_audio_features(p, "compute them again from the sound (or pass the .wav itself as --aud_file)")


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


def drive(args: argparse.Namespace) -> Path:
    # the networks and the torso camera come from the dataset (with its own features); --aud_file drives
    from NeRFs.grid import select_trainer  # --backend grid: GridTorsoTrainer
    t = select_trainer(TorsoTrainer, args)(argparse.Namespace(**{**vars(args), "aud_file": "aud.npy"}))
    step = t.resume()
    if step == 0:
        raise UserError(f"no torso checkpoint (*_body.tar) in {t.out_dir}: train the Torso-NeRF first "
                        f"(python NeRFs/TorsoNeRF/run_nerf.py --config <datadir>/TorsoNeRF_config.txt)")
    feats = load_driving_features(args.aud_file, args.datadir).to(t.device)
    if feats.shape[-1] != t.head.audnet.encoder_conv[0].in_channels:
        raise UserError(f"audio features {args.aud_file} have {feats.shape[-1]} channels per row, the trained "
                        f"AudioNet expects {t.head.audnet.encoder_conv[0].in_channels} (other feature backend?)")
    pose_file = Path(args.datadir) / args.test_pose_file
    # consecutive poses unless a testskip was named (config or command line): the original's default of
    # every 8th validation pose made the driven head jump 8 frames of motion per output frame
    skip = max(args.testskip, 1) if getattr(args, "testskip_given", True) else 1
    frames = load_transforms(pose_file)["frames"][::skip]
    poses = check_poses(np.array([f["transform_matrix"] for f in frames], dtype=np.float64), pose_file,
                        [f.get("img_id") for f in frames])
    if getattr(args, "smooth_poses", 0) > 1:
        poses = smooth_poses(poses, args.smooth_poses)
    poses = torch.tensor(poses, dtype=torch.float32, device=t.device)
    if args.aud_from_pose:
        ids = [int(f.get("aud_id", f["img_id"])) for f in frames]
        n = len(ids) if args.test_size < 0 else min(args.test_size, len(ids))
        ids = ids[:n]
    else:
        available = feats.shape[0] - args.aud_start
        if available <= 0:
            raise UserError(f"--aud_start {args.aud_start} is past the end of {args.aud_file} ({feats.shape[0]} frames)")
        n = available if args.test_size < 0 else min(args.test_size, available)
        ids = list(range(args.aud_start, args.aud_start + n))
    if max(ids) >= feats.shape[0]:
        raise UserError(f"{args.aud_file} has {feats.shape[0]} frames, the poses of {pose_file} need aud_id {max(ids)}")
    with torch.no_grad():
        codes = sequence_codes(t.head.audnet, t.head.attnet, feats[ids], True, args.smo_size)
    out = t.out_dir / args.rst_dir  # an absolute rst_dir replaces the whole path
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.jpg"):  # frames of an earlier, longer run would be paired with the wrong audio
        if old.stem.isdigit():
            old.unlink()
    images = []
    for i in tqdm(range(n), desc="driving", dynamic_ncols=True):
        img = to_uint8(t.render_frame(poses[i % len(poses)], codes[i]))
        part = out / f".{i}.part.jpg"  # renamed when complete: a full disk leaves no half-written frame
        try:
            imageio.imwrite(part, img, quality=95)
            os.replace(part, out / f"{i}.jpg")
        finally:
            part.unlink(missing_ok=True)
        images.append(img)
    video = write_video(out / "result.mp4", images, args.video_fps)
    # which pose and audio frame each output frame shows, so evaluation pairs frames exactly
    record = {"pose_file": str(pose_file), "testskip": skip, "smooth_poses": getattr(args, "smooth_poses", 0),
              "aud_file": str(args.aud_file),
              "aud_from_pose": bool(args.aud_from_pose),
              "frames": [{"frame": i, "img_id": int(frames[i % len(frames)]["img_id"]), "aud_id": int(ids[i])}
                         for i in range(n)]}
    (out / "frames.json").write_text(json.dumps(record, indent=1))
    print(f"[{args.expname}] {n} frames and {video}")
    if args.with_audio:
        from add_audio.add_audio import MuxError, mux_audio
        start = ids[0] / args.video_fps  # the sound of the first rendered frame's audio features
        try:
            video = mux_audio(video, args.with_audio, out / "result_with_audio.mp4", audio_offset=start)
        except MuxError as exc:
            raise UserError(str(exc)) from exc
        print(f"[{args.expname}] with sound: {video}")
    return video
