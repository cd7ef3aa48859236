"""Tiny generated media for the preprocessing tests: .wav files and .mp4 videos (imageio-ffmpeg)."""
from __future__ import annotations

import wave
from pathlib import Path

import imageio_ffmpeg
import numpy as np


def write_wav(path: Path, seconds: float, rate: int = 16000, channels: int = 1, bursts: bool = False,
              right_silent: bool = False) -> Path:
    """A 16-bit .wav: a 220 Hz tone with a 3 Hz tremolo, or (bursts) tone on / silence off every 0.2 s.

    right_silent: with 2 channels, channel 1 is silence (channel 0 carries the tone).
    """
    t = np.arange(int(round(seconds * rate))) / rate
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 660 * t)
    envelope = (np.floor(t / 0.2) % 2 == 0).astype(float) if bursts else 0.6 + 0.4 * np.sin(2 * np.pi * 3 * t)
    mono = (tone * envelope * 32767).astype(np.int16)
    pcm = np.repeat(mono[:, None], channels, axis=1)
    if right_silent and channels > 1:
        pcm[:, 1] = 0
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels), w.setsampwidth(2), w.setframerate(rate), w.writeframes(pcm.tobytes())
    return path


def frame_value(i: int) -> int:
    """Grey level of source frame i (steps of 4, so the frame index can be read back after JPEG)."""
    return (4 * i) % 256


def write_video(path: Path, seconds: float, fps: float, audio: Path | None = None, size: int = 64) -> Path:
    """An H.264 .mp4 of round(seconds * fps) uniform grey frames (frame i has grey frame_value(i)),
    with ``audio`` (a .wav, AAC-encoded) as its sound track if given."""
    n = int(round(seconds * fps))
    writer = imageio_ffmpeg.write_frames(str(path), (size, size), fps=fps, macro_block_size=1, quality=9,
                                         audio_path=str(audio) if audio else None,
                                         audio_codec="aac" if audio else None, ffmpeg_log_level="error")
    writer.send(None)
    for i in range(n):
        writer.send(np.full((size, size, 3), frame_value(i), np.uint8).tobytes())
    writer.close()
    return path


def write_audio_only(path: Path, wav: Path) -> Path:
    """An .mp4 holding only an AAC audio stream (no video frames)."""
    import subprocess
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(wav),
                    "-c:a", "aac", str(path)], check=True)
    return path
