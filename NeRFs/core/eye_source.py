"""The eye signal a driven sequence is rendered with (``--eyes``), for heads trained on the eye signal.

    driving_eyes(choice, n, camera, pose_frames, fps, seed, aud_from_pose) -> float32 [n] eye openness

- ``natural``: blinks at a human rate (adnerf.eyes.blink_signal: 15-20 a minute, 100-200 ms each, seeded by
  ``--seed``) between the training video's own open and closed levels (adnerf.eyes.eye_levels);
- ``open``: the training video's open level throughout;
- ``pose``: the ``eye`` values recorded with the poses (transforms_val.json: the person's own blinks of the
  frames whose poses are used; what a reconstruction of those frames needs);
- a path: a video (its 68-point dlib landmarks, one value per frame at 25 fps) or an .npy [M] of eye openness,
  rescaled so that its median is the training open level (adnerf.eyes.match_levels: eye aspect ratios
  differ between people); a shorter signal repeats, as the poses do;
- ``auto``: ``pose`` with ``--aud_from_pose`` (a reconstruction), else ``natural``.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from adnerf.constants import FPS
from adnerf.eyes import blink_signal, eye_levels, eye_openness, match_levels, open_signal

from .dataset import pose_signal
from .models import Camera
from .utils import UserError


def driving_eyes(choice: str, n: int, camera: Camera, pose_frames: list[dict], pose_source: Path,
                 fps: float = FPS, seed: int = 0, aud_from_pose: bool = False) -> np.ndarray:
    """The eye openness [n] of the n driven frames (frame i has pose i % len(pose_frames))."""
    if choice == "auto":
        choice = "pose" if aud_from_pose else "natural"
    train = camera.train_eyes.numpy() if camera.train_eyes is not None else None
    open_value = camera.open_eye
    if choice == "natural":
        levels = eye_levels(train) if train is not None else (open_value, 0.4 * open_value)
        signal = blink_signal(n, fps, seed, open_value=levels[0], closed_value=levels[1])
    elif choice == "open":
        signal = open_signal(n, open_value)
    elif choice == "pose":
        signal = pose_signal(pose_frames, "eye", pose_source, n, "--eyes", "--eyes natural / open")
    else:
        signal = np.resize(match_levels(reference_eyes(Path(choice)), open_value), n)
    return np.asarray(signal, dtype=np.float32)


def reference_eyes(path: Path) -> np.ndarray:
    """Eye openness [M] of a reference: an .npy of values, or a video's frames (dlib landmarks, 25 fps);
    frames without a face take the median of the others."""
    if not path.is_file():
        raise UserError(f"--eyes {path}: no such file (expected natural, open, pose, auto, a video or an .npy)")
    if path.suffix.lower() == ".npy":
        try:
            values = np.load(path).astype(np.float64).reshape(-1)
        except (ValueError, OSError) as exc:
            raise UserError(f"--eyes {path}: cannot read it as an array of eye openness values ({exc})") from exc
        if values.size == 0 or not np.isfinite(values).all():
            raise UserError(f"--eyes {path}: the eye signal is empty or holds NaN or inf")
        return values
    from adnerf.landmarks import detect_landmarks
    from adnerf.media import video_frames
    from tqdm import tqdm
    frames = [img for _, img in tqdm(video_frames(path), desc=f"eyes of {path.name}", unit="frame", leave=False)]
    found = detect_landmarks(frames, "dlib", "cpu")
    values = np.array([eye_openness(lms) if lms is not None else np.nan for lms in found], dtype=np.float64)
    if not np.isfinite(values).any():
        raise UserError(f"--eyes {path}: no face found in any of its {len(values)} frames")
    values[~np.isfinite(values)] = np.nanmedian(values)
    return values
