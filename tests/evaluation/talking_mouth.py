"""A synthetic talking mouth for the lip-sync tests: a speech-like loudness envelope, audio that follows it,
and face frames (scikit-image's astronaut photo) whose mouth opens with it, which dlib's landmarks see."""
from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import numpy as np

SIZE = 200       # frame side in pixels (dlib upsamples it once; at 160 the small openings blur)


def syllables(n: int, seed: int) -> np.ndarray:
    """A speech-like envelope in [0, 1] [n]: bursts of 3-6 frames (syllables, ~4 per second) and pauses."""
    rng = np.random.default_rng(seed)
    env = np.zeros(n + 8)
    t = 0
    while t < n:
        length = rng.integers(3, 7)
        env[t:t + length] = rng.uniform(0.4, 1.0) * np.sin(np.linspace(0, np.pi, length))
        t += length + rng.integers(1, 5)
    return env[:n]


def speech_audio(env: np.ndarray, seed: int = 0) -> np.ndarray:
    """int16 16 kHz audio [n * 640]: band noise (900 Hz tone + noise) whose amplitude follows env per frame."""
    rng = np.random.default_rng(seed)
    t = np.arange(len(env) * 640) / 16000
    carrier = np.sin(2 * np.pi * 900 * t) + 0.5 * rng.standard_normal(t.size)
    amplitude = np.repeat(env, 640) + 0.01
    return np.clip(6000 * carrier * amplitude, -32768, 32767).astype(np.int16)


def face_frames(env: np.ndarray) -> list[np.ndarray]:
    """uint8 RGB frames [SIZE, SIZE, 3]: the astronaut's face with a dark mouth cavity 1 + 12 env px high."""
    from PIL import Image, ImageDraw
    from skimage.data import astronaut
    from adnerf.landmarks import detect_landmarks
    face = Image.fromarray(astronaut()[:320, 60:380]).resize((SIZE, SIZE), Image.BILINEAR)
    lms = detect_landmarks([np.asarray(face)], "dlib")[0]
    (cx, cy), width = lms[60:68].mean(0), np.linalg.norm(lms[64] - lms[60])
    frames = []
    for e in env:
        img = face.copy()
        h = (1 + 12 * e) * SIZE / 256
        ImageDraw.Draw(img).ellipse([cx - width / 2, cy - h / 2, cx + width / 2, cy + h / 2], fill=(40, 10, 15))
        frames.append(np.asarray(img))
    return frames


def write_wav(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(samples.astype(np.int16).tobytes())
    return path


def write_video(path: Path, frames: list[np.ndarray], samples: np.ndarray | None) -> Path:
    """A 25 fps mp4 of frames, with samples as its AAC sound track when given."""
    from adnerf.media import ffmpeg_exe, write_video as write_silent
    if samples is None:
        return write_silent(path, frames)
    silent = write_silent(path.with_name(path.stem + "_silent.mp4"), frames)
    wav = write_wav(path.with_suffix(".wav"), samples)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-i", str(silent), "-i", str(wav), "-map", "0:v", "-map",
                    "1:a", "-c:v", "copy", "-c:a", "aac", "-b:a", "128k", str(path)], check=True, capture_output=True)
    return path
