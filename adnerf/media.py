"""Reading and writing images, videos and sound, the same way in every stage.

    read_image(path) -> uint8 RGB [H, W, 3]         to_uint8(float image in [0, 1]) -> uint8 (idempotent)
    image_size(path) -> (W, H)                      decode_problem(path, size) -> why it does not decode, or None
    write_image(path, img)                          write_video(path, frames, fps) -> H.264 mp4
    video_frames(path, fps, every) -> (n, uint8 [H, W, 3]) ...      frame n of the video at fps, as step 1 numbers it
    read_wav(path, channel) -> (int16 [S] at 16 kHz, seconds)     read_audio(any file, start) -> int16 [S]
    probe(path) -> Streams(has_video, has_audio, duration)         ffmpeg_exe()
    mux_audio(video, audio, output) -> the video with that sound, cut to the shorter

Everything written goes through adnerf.files.atomic_path. ffmpeg is the binary imageio-ffmpeg ships (no
system ffmpeg), always called with argument lists. Problems are AdnerfError lines naming the file.
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adnerf.constants import AUDIO_RATE, FPS
from adnerf.errors import AdnerfError, check_choice
from adnerf.files import atomic_path

AUDIO_CHANNELS = ("first", "mix")
SILENT_PEAK = 1e-4  # a channel whose peak is below this fraction of full scale counts as silent


def ffmpeg_exe() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


def read_image(path: str | os.PathLike, hint: str = "corrupt? re-run the step that writes it") -> np.ndarray:
    """An image file -> uint8 RGB [H, W, 3] (grey and palette images converted, alpha dropped)."""
    from PIL import Image
    path = Path(path)
    if not path.is_file():
        raise AdnerfError(f"image not found: {path}")
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except Exception as exc:  # PIL raises several types for truncated / corrupt files
        raise AdnerfError(f"cannot read image {path}: {exc} ({hint})") from exc


def image_size(path: str | os.PathLike, hint: str = "corrupt? re-run the step that writes it") -> tuple[int, int]:
    """(width, height) of an image file, from its header only."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            return im.size
    except Exception as exc:  # noqa: BLE001 - PIL raises several types for unreadable files
        raise AdnerfError(f"cannot read {path} ({exc}): {hint}") from exc


def decode_problem(path: str | os.PathLike, size: tuple[int, int] | None = None) -> str | None:
    """Why an image file does not decode (or is not ``size`` (W, H)), or None. JPEGs are decoded at 1/8 scale
    (PIL draft): all the compressed data is still read, so a truncated file is found, about 10x faster."""
    from PIL import Image
    try:
        with Image.open(path) as im:
            if size is not None and im.size != tuple(size):
                return f"is {im.size[0]}x{im.size[1]}, not {size[0]}x{size[1]}"
            im.draft("RGB", (max(1, im.size[0] // 8), max(1, im.size[1] // 8)))
            im.load()
    except Exception as exc:  # noqa: BLE001 - PIL raises several types for truncated / corrupt files
        return f"cannot be decoded ({type(exc).__name__}: {exc})"
    return None


def to_uint8(img) -> np.ndarray:
    """[H, W, 3] float in [0, 1] (numpy or torch) -> uint8 round(255 x); uint8 input is returned unchanged.

    Idempotent on purpose: converting an already converted frame again used to scale it by 255 a second
    time, which made every written PNG white.
    """
    if hasattr(img, "detach"):  # a torch tensor; duck-typed so that this module does not import torch
        img = img.detach().cpu()
        img = img.numpy() if str(img.dtype) == "torch.uint8" else img.float().numpy()
    img = np.asarray(img)
    if img.dtype == np.uint8:
        return img
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: str | os.PathLike, img, quality: int = 95) -> None:
    """An image (uint8, or float in [0, 1]) [H, W, 3] or [H, W] -> .png / .jpg (quality), atomically."""
    from PIL import Image
    kwargs = {"quality": quality} if Path(path).suffix.lower() in (".jpg", ".jpeg") else {}
    with atomic_path(path) as tmp:
        Image.fromarray(np.ascontiguousarray(to_uint8(img))).save(tmp, **kwargs)


def write_video(path: str | os.PathLike, frames, fps: int = FPS) -> Path:
    """uint8 [H, W, 3] frames -> an H.264 mp4 (yuv420p, crf 18), atomically. Odd sizes are padded by one
    pixel (yuv420p needs even sizes)."""
    import imageio.v2 as imageio
    path = Path(path)
    with atomic_path(path) as tmp:
        with imageio.get_writer(tmp, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2,
                                output_params=["-crf", "18"], ffmpeg_log_level="error") as writer:
            for frame in frames:
                writer.append_data(to_uint8(frame))
    return path


def first_frame_size(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of the decoded frames of a video (rotation metadata applied, as ffmpeg decodes)."""
    from io import BytesIO
    from PIL import Image
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-frames:v", "1", "-f", "image2pipe",
           "-vcodec", "png", "-"]
    done = subprocess.run(cmd, capture_output=True, check=False)
    try:
        with Image.open(BytesIO(done.stdout)) as im:
            return im.size
    except Exception:  # noqa: BLE001 - no frame came out: say what ffmpeg said
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise AdnerfError(f"cannot decode a frame of {path}: {why[-1] if why else 'no video stream'}") from None


def video_frames(path: str | os.PathLike, fps: float = FPS, every: int = 1):
    """Yield (n, uint8 RGB [H, W, 3]) for the frames n = 0, every, 2 every, ... of ``path`` resampled to
    ``fps`` with ffmpeg's fps filter: the filter preprocessing step 1 uses, so frame n is the frame of
    ori_imgs/<n>.jpg. Frames stream through a pipe (one in memory at a time); stopping early ends ffmpeg."""
    path = Path(path)
    if not path.is_file():
        raise AdnerfError(f"video not found: {path}")
    width, height = first_frame_size(path)
    chain = f"fps={fps}" + (f",select=not(mod(n\\,{int(every)}))" if every > 1 else "")
    cmd = [ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:v:0", "-vf", chain, "-fps_mode", "passthrough",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    size = width * height * 3
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        k = 0
        while True:
            data = proc.stdout.read(size)
            if len(data) < size:
                break
            yield k * max(int(every), 1), np.frombuffer(data, np.uint8).reshape(height, width, 3)
            k += 1
    finally:
        proc.stdout.close()
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@dataclass
class Streams:
    has_video: bool
    has_audio: bool
    duration: float | None  # seconds, when the container says


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")


def probe(path: str | os.PathLike) -> Streams:
    """Which streams a media file has, from ``ffmpeg -i`` (which exits 1 without an output: expected)."""
    path = Path(path)
    if not path.is_file():
        raise AdnerfError(f"file not found: {path}")
    info = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True,
                          errors="replace").stderr
    if "Invalid data found" in info or "could not find codec parameters" in info.lower():
        raise AdnerfError(f"{path} is not a readable media file")
    m = _DURATION.search(info)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    streams = [line for line in info.splitlines() if re.search(r"Stream #\d+:\d+", line)]
    return Streams(any(" Video: " in s for s in streams), any(" Audio: " in s for s in streams), duration)


def has_audio_stream(path: str | os.PathLike) -> bool:
    """Whether ffmpeg sees an audio stream in path (false for a missing or unreadable file)."""
    try:
        return probe(path).has_audio
    except AdnerfError:
        return False


def read_audio(path: str | os.PathLike, start_seconds: float = 0.0) -> np.ndarray:
    """Mono 16 kHz audio from any file ffmpeg reads (wav, mp4, ...), from start_seconds on: int16 values [S]."""
    path = Path(path)
    cmd = [ffmpeg_exe(), "-v", "error", "-ss", f"{start_seconds:.3f}", "-i", str(path),
           "-vn", "-f", "s16le", "-ac", "1", "-ar", str(AUDIO_RATE), "-"]
    done = subprocess.run(cmd, capture_output=True, check=False)
    if done.returncode != 0:
        raise AdnerfError(f"cannot read audio from {path}: {done.stderr.decode(errors='replace').strip()[:200]}")
    return np.frombuffer(done.stdout, np.int16).copy()


def pick_channel(samples: np.ndarray, channel: str, path) -> np.ndarray:
    """samples [S, ch] (int16-range floats) -> [S]: the first channel (the original's choice) or the mean of
    all channels ("mix"). Warns on the console when the first channel is silent while another is not."""
    check_choice(channel, AUDIO_CHANNELS, "audio channel policy")
    if channel == "mix":
        return samples.mean(axis=1)
    peaks = np.abs(samples).max(axis=0) / 32768.0
    if peaks[0] < SILENT_PEAK and peaks.max() >= SILENT_PEAK:
        louder = int(np.argmax(peaks))
        print(f"warning: the first audio channel of {path} is silent but channel {louder + 1} of "
              f"{samples.shape[1]} is not; the features (as the original's) use the first channel. "
              f"Use --audio_channel mix to mix the channels instead.", file=sys.stderr)
    return samples[:, 0]


def read_wav(path: str | os.PathLike, channel: str = "first") -> tuple[np.ndarray, float]:
    """A .wav -> (int16 samples [S] at 16 kHz, duration in seconds of the file).

    channel: "first" (the original's: channel 0 of a multi-channel file) or "mix" (mean of the channels).
    Other rates are resampled with resampy (as the original). 8/24/32-bit and float files are rescaled to
    the int16 range first (the original cast float samples straight to int16, which turns them to silence).
    Samples beyond the int16 range after resampling are clipped (the original's cast wrapped them around).
    """
    from scipy.io import wavfile
    path = Path(path)
    if not path.is_file():
        raise AdnerfError(f"audio file not found: {path}")
    try:
        rate, data = wavfile.read(path)
    except Exception as exc:
        raise AdnerfError(f"cannot read {path} as a .wav ({exc}); convert it with ffmpeg -i IN -ac 1 -ar 16000 OUT.wav") from exc
    if data.size == 0:
        raise AdnerfError(f"{path} holds no audio samples")
    if data.dtype == np.uint8:
        samples = (data.astype(np.float64) - 128.0) * 256.0
    elif data.dtype == np.int32:
        samples = data.astype(np.float64) / 65536.0
    elif np.issubdtype(data.dtype, np.floating):
        samples = data.astype(np.float64) * 32768.0
    else:
        samples = data.astype(np.float64)
    if samples.ndim == 2:
        samples = pick_channel(samples, channel, path)
    seconds = len(data) / float(rate)
    if rate != AUDIO_RATE:
        import resampy
        samples = resampy.resample(samples, rate, AUDIO_RATE)
    return np.clip(samples, -32768, 32767).astype(np.int16), seconds


def mux_audio(video: str | os.PathLike, audio: str | os.PathLike, output: str | os.PathLike,
              vcodec: str = "libx264", acodec: str = "aac", crf: int = 18, audio_offset: float = 0.0) -> Path:
    """Write ``output`` = video stream of ``video`` + audio stream of ``audio`` (from ``audio_offset`` s),
    as long as the shorter input. Both inputs are checked first (exist, have the right stream)."""
    video, audio, output = Path(video), Path(audio), Path(output)
    v, a = probe(video), probe(audio)
    if not v.has_video:
        raise AdnerfError(f"{video} has no video stream")
    if v.duration is not None and v.duration <= 0:
        raise AdnerfError(f"{video} has no frames")
    if not a.has_audio:
        raise AdnerfError(f"{audio} has no audio stream")
    with atomic_path(output) as tmp:
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video)]
        if audio_offset > 0:
            cmd += ["-ss", f"{audio_offset:.3f}"]
        cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", vcodec]
        if vcodec == "libx264":
            cmd += ["-crf", str(crf), "-pix_fmt", "yuv420p"]
        cmd += ["-c:a", acodec, "-shortest", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
        if res.returncode != 0:
            last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode
            raise AdnerfError(f"ffmpeg failed muxing {video} + {audio}: {last}")
    return output
