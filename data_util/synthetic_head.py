"""A synthetic talking head in the exact dataset/<id>/ layout, for tests, benchmarks and quick checks.

A ray-traced sphere "head" with eyes, hair and a mouth whose opening follows a speech-like signal, seen
under small smooth head motion in front of a fixed background, above shoulders that follow the head
sideways (head_imgs: head over the background; com_imgs and ori_imgs: head, shoulders and background),
with aud.wav, and a second clip (drive/aud.npy, drive/aud.wav) to drive a trained model with. The audio features carry that signal in
the [N, 16, C] windowing of DeepSpeech features (row r of frame i belongs to time i + (r - 8) / 2), so a
NeRF has to read the audio to get the mouth right. Everything is deterministic given the seed.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from adnerf.constants import AUDIO_RATE, FPS
from data_util.nerf_configs import head_pose_to_c2w, nerf_configs, write_config, write_transforms

HEAD_RADIUS = 0.1
CAMERA_DISTANCE = 0.8  # head at z = -8 before the original's /10 scaling


def mouth_signal(n: int, rng: np.random.Generator) -> np.ndarray:
    """Speech-like mouth opening in [0, 1] per frame: syllables of 3-8 frames with pauses."""
    a = np.zeros(n)
    t = 0
    while t < n:
        length = int(rng.integers(3, 9))
        syllable = rng.uniform(0.4, 1.0) * np.sin(np.linspace(0, np.pi, length))
        a[t:t + length] = syllable[:n - t]
        t += length + int(rng.integers(0, 4))
    return a


def audio_features(a: np.ndarray, channels: int, rng: np.random.Generator) -> np.ndarray:
    """[N, 16, C] windows: row r of frame i carries a(i + (r - 8) / 2) times a fixed channel pattern."""
    n = len(a)
    pattern = np.random.default_rng(12345).uniform(-1, 1, channels)  # shared by every clip: one "language"
    times = np.arange(n)[:, None] + (np.arange(16)[None, :] - 8) / 2.0
    values = np.interp(times, np.arange(n), a, left=0.0, right=0.0)
    # scaled like DeepSpeech logits (magnitudes of several units), which AudioNet's init expects
    feats = 40.0 * values[..., None] * pattern + 0.2 * rng.standard_normal((n, 16, channels))
    return feats.astype(np.float64)


def speech_wav(path: Path, a: np.ndarray, rng: np.random.Generator, fps: int = FPS, rate: int = AUDIO_RATE) -> None:
    """A 16 kHz mono wav whose loudness follows the mouth signal: a voiced buzz (120 Hz and harmonics)
    plus breath noise, so that muxed results have sound in step with the mouth."""
    import wave
    n = int(len(a) * rate / fps)
    t = np.arange(n) / rate
    envelope = np.interp(t * fps, np.arange(len(a)), a)
    pitch = 120 * (1 + 0.1 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voice = sum(np.sin(k * phase) / k for k in range(1, 6)) + 0.3 * rng.standard_normal(n)
    pcm = (0.25 * envelope * voice / 2.5 * 32767).clip(-32767, 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def write_driving_clip(folder: Path, n_frames: int, seed: int, aud_channels: int = 29) -> None:
    """A different speech clip to drive a trained model: folder/aud.npy (features), folder/aud.wav and the
    mouth opening [0, 1] they carry, folder/mouth_signal.npy."""
    rng = np.random.default_rng(seed + 1000)
    folder.mkdir(parents=True, exist_ok=True)
    a = mouth_signal(n_frames, rng)
    np.save(folder / "aud.npy", audio_features(a, aud_channels, rng))
    speech_wav(folder / "aud.wav", a, rng)
    np.save(folder / "mouth_signal.npy", a)


def background(H: int, W: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
    return np.stack([0.25 + 0.3 * xx, 0.35 + 0.2 * yy, 0.55 - 0.2 * xx * yy], -1)


MOUTH_SCALE = 0.15   # a synthetic mouth at its widest (1.0) is a real one wide open (step 7's ~0.15)
EYE_RADIUS, BLINK_EYE_RADIUS = 0.11, 0.2   # angular radius of the eyes (larger in a blinking dataset)


def render_head(c2w: np.ndarray, focal: float, H: int, W: int, mouth: float, bc: np.ndarray,
                eye: float | None = None):
    """Ray-trace the head for one camera. Returns image [H, W, 3] in [0, 1] and the head mask [H, W].
    ``eye``: eye openness (eye aspect ratio, open ~0.3): larger eyes whose height follows it; None: the
    default small round eyes."""
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    dirs = np.stack([(cols - W / 2) / focal, -(rows - H / 2) / focal, -np.ones_like(cols)], -1) @ c2w[:3, :3].T
    o = c2w[:3, 3]
    # |o + s d| = r  ->  s^2 |d|^2 + 2 s o.d + |o|^2 - r^2 = 0
    a2, b = (dirs ** 2).sum(-1), (dirs @ o)
    disc = b ** 2 - a2 * (o @ o - HEAD_RADIUS ** 2)
    hit = disc > 0
    s = (-b - np.sqrt(np.where(hit, disc, 0))) / a2
    n = (o + s[..., None] * dirs) / HEAD_RADIUS  # unit normal in the head frame
    azim, elev = np.arctan2(n[..., 0], n[..., 2]), np.arcsin(np.clip(n[..., 1], -1, 1))
    light = np.array([0.3, 0.5, 1.0]) / np.linalg.norm([0.3, 0.5, 1.0])
    shade = 0.55 + 0.45 * np.clip(n @ light, 0, 1)
    color = np.array([0.87, 0.66, 0.52]) * shade[..., None]
    hair = elev > 0.55 - 0.25 * np.abs(azim) / np.pi
    color[hair] = np.array([0.25, 0.15, 0.08]) * shade[hair, None]
    radius = EYE_RADIUS if eye is None else BLINK_EYE_RADIUS
    height = 1.0 if eye is None else float(np.clip(eye / 0.3, 0.02, 1.0))   # the lids close vertically
    for side in (-1, 1):
        inside = (azim - side * 0.38) ** 2 + ((elev - 0.22) / height) ** 2 < radius ** 2
        color[inside] = [0.08, 0.08, 0.1]
    half_h = 0.04 + 0.3 * float(np.clip(mouth, 0, 1))
    lips = (azim / 0.55) ** 2 + ((elev + 0.45) / half_h) ** 2 < 1.0
    color[lips] = [0.3, 0.02, 0.05]
    img = np.where(hit[..., None], np.clip(color, 0, 1), bc)
    return img, hit


def draw_torso(bc: np.ndarray, shift_x: float) -> np.ndarray:
    """A shirt-coloured shoulder ellipse at the bottom of the frame, following the head sideways."""
    H, W = bc.shape[:2]
    rows, cols = np.mgrid[0:H, 0:W].astype(np.float64)
    inside = ((cols - W / 2 - shift_x) / (0.42 * W)) ** 2 + ((rows - 1.08 * H) / (0.32 * H)) ** 2 < 1.0
    shirt = np.array([0.18, 0.28, 0.68]) * (0.75 + 0.25 * (rows / H))[..., None]
    return np.where(inside[..., None], shirt, bc)


def face_rect(mask: np.ndarray) -> list[int]:
    rows, cols = np.nonzero(mask)
    if len(rows) == 0:
        return [0, 0, mask.shape[1], mask.shape[0]]
    return [int(cols.min()), int(rows.min()), int(cols.max() - cols.min()), int(rows.max() - rows.min())]


def blinking_eyes(n_frames: int, seed: int) -> np.ndarray:
    """Eye openness [N] with frequent blinks (about 2 a second, 120-200 ms; closed ~0.05, open 0.3), so that
    a short training sees closed eyes often enough to learn them."""
    from adnerf.eyes import blink_signal
    return blink_signal(n_frames, FPS, seed + 77, rate_per_min=(120.0, 120.0), duration_s=(0.12, 0.2),
                        min_gap_s=0.1)


def make_synthetic_dataset(root: str | Path, n_frames: int = 110, size: int = 32, seed: int = 0,
                           aud_channels: int = 29, config_extra: dict | None = None, eyes: bool = False,
                           mouth_values: bool = False) -> Path:
    """Write dataset/<id>/ (transforms, head_imgs, com_imgs, ori_imgs, bc.jpg, aud.npy, configs) at root.
    ``eyes``: blinking eyes, whose openness each frame records as ``eye`` in the transforms (and eye.npy),
    as preprocessing step 7 writes it; otherwise fixed open eyes and no eye values (the original's layout).
    ``mouth_values``: each frame records its mouth opening as ``mouth`` (and mouth.npy), on the landmark
    scale of step 7 (``MOUTH_SCALE`` x the synthetic opening in [0, 1])."""
    import imageio.v2 as imageio
    root = Path(root)
    subject = root.name
    rng = np.random.default_rng(seed)
    H = W = int(size)
    focal = 2.2 * size  # the head spans about 55% of the image
    for d in ("head_imgs", "com_imgs", "ori_imgs"):
        (root / d).mkdir(parents=True, exist_ok=True)
    bc = background(H, W)
    imageio.imwrite(root / "bc.jpg", (bc * 255 + 0.5).astype(np.uint8), quality=95)
    mouth = mouth_signal(n_frames, rng)
    np.save(root / "aud.npy", audio_features(mouth, aud_channels, rng))
    t = np.arange(n_frames)
    phases = rng.uniform(0, 2 * np.pi, 5)
    eye = blinking_eyes(n_frames, seed) if eyes else None
    frames = []
    for i in range(n_frames):
        euler = 0.08 * np.sin(t[i] / np.array([17.0, 23.0, 29.0]) + phases[:3])
        trans = np.array([0.015 * np.sin(t[i] / 19 + phases[3]), 0.015 * np.sin(t[i] / 13 + phases[4]),
                          -CAMERA_DISTANCE])
        c2w = head_pose_to_c2w(euler, trans)
        head, mask = render_head(c2w, focal, H, W, mouth[i], bc, None if eye is None else eye[i])
        full = np.where(mask[..., None], head, draw_torso(bc, 0.5 * trans[0] * focal / CAMERA_DISTANCE))
        for d, img in (("head_imgs", head), ("com_imgs", full), ("ori_imgs", full)):
            imageio.imwrite(root / d / f"{i}.jpg", (img * 255 + 0.5).astype(np.uint8), quality=95)
        frames.append({"img_id": i, "aud_id": i, "transform_matrix": c2w, "face_rect": face_rect(mask),
                       **({"eye": float(eye[i])} if eye is not None else {}),
                       **({"mouth": float(MOUTH_SCALE * mouth[i])} if mouth_values else {})})
    n_train = int(n_frames * 10 / 11)
    write_transforms(root / "transforms_train.json", focal, W, H, frames[:n_train])
    write_transforms(root / "transforms_val.json", focal, W, H, frames[n_train:])
    near, far = CAMERA_DISTANCE - 0.2, CAMERA_DISTANCE + 0.4
    for name, options in nerf_configs(root, subject, near, far, 1, config_extra).items():
        write_config(root / name, options)
    np.save(root / "mouth_signal.npy", mouth)
    if eye is not None:
        np.save(root / "eye.npy", eye)
    if mouth_values:
        np.save(root / "mouth.npy", MOUTH_SCALE * mouth)
    speech_wav(root / "aud.wav", mouth, rng)
    write_driving_clip(root / "drive", max(n_frames // 2, 10), seed, aud_channels)
    return root


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("root", help="output folder, e.g. dataset/synthetic")
    p.add_argument("--frames", type=int, default=110)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="an option written into the NeRF config files (repeatable)")
    a = p.parse_args(argv)
    extra = dict(kv.split("=", 1) for kv in a.set)
    print(make_synthetic_dataset(a.root, a.frames, a.size, a.seed, config_extra=extra))


if __name__ == "__main__":
    main()
