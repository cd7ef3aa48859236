"""Generate the demo sample video: a real face photograph that talks, and a second clip to drive it with.

    python data_util/make_sample.py [--id demo] [--seconds 30] [--size 256] [--seed 0] [--drive_seconds 10]
                                    [--out_dir dataset/vids] [--force]

writes ``<out_dir>/<id>.mp4`` (H.264 yuv420p + AAC, 25 fps, size x size) and ``<out_dir>/<id>_drive.wav``
(16 kHz mono, a different sentence of the same voice). No video of a real person may be downloaded where
this project is built and tested, so the sample is made from material in registry packages: scikit-image's
public-domain ``astronaut()`` photograph, animated by data_util/sample_face.py (jaw opening, head sway),
speaking a synthetic speech-like voice from data_util/sample_speech.py whose syllables drive the mouth.

Deterministic: the same seed and options give the same frames, audio and mp4 bytes (x264 runs with one
thread and bitexact flags). Idempotent: existing outputs are kept unless ``--force``. With your own video,
skip this script and put it at dataset/vids/<id>.mp4.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from adnerf.errors import report
from adnerf.media import ffmpeg_exe
from data_util.common import AUDIO_RATE, FPS, StepError, atomic_path
from data_util.sample_speech import speech_track

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT_DIR = REPO / "dataset" / "vids"
# seeds of the independent random parts, derived from the user's seed
TRAIN_VOICE, DRIVE_VOICE, MOTION = 0, 1, 2
MIN_SIZE = 128        # the face is then ~36 px wide; at 96 px dlib missed it in 38 of 100 frames


def write_wav(path: str | Path, wave: np.ndarray, rate: int = AUDIO_RATE) -> None:
    """float [T] in [-1, 1] -> 16-bit mono WAV, atomically."""
    from scipy.io import wavfile
    pcm = np.clip(np.round(np.asarray(wave, np.float64) * 32767.0), -32768, 32767).astype(np.int16)
    with atomic_path(path) as tmp:
        wavfile.write(tmp, rate, pcm)


def encode_mp4(path: str | Path, frames, size: int, wav_path: str | Path, fps: int = FPS, crf: int = 18) -> None:
    """Encode frames (an iterable of uint8 RGB [size, size, 3]) with the audio of ``wav_path`` -> H.264/AAC mp4.

    ffmpeg (imageio-ffmpeg's binary) reads raw RGB from a pipe; the file appears atomically on success.
    """
    with atomic_path(path) as tmp, tempfile.TemporaryFile() as log:
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size}x{size}", "-r", str(fps), "-i", "-",
               "-i", str(wav_path), "-map", "0:v:0", "-map", "1:a:0",
               # one x264 thread and bitexact flags: the same frames give the same bytes on any machine
               "-c:v", "libx264", "-preset", "medium", "-crf", str(crf), "-pix_fmt", "yuv420p", "-threads", "1",
               "-c:a", "aac", "-b:a", "96k", "-map_metadata", "-1", "-fflags", "+bitexact",
               "-flags:v", "+bitexact", "-flags:a", "+bitexact", "-movflags", "+faststart", str(tmp)]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=log)
        try:
            for frame in frames:
                proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        except BrokenPipeError:
            pass                                   # ffmpeg stopped early: its message is in the log
        finally:
            proc.stdin.close()
            rc = proc.wait()
        if rc != 0:
            log.seek(0)
            lines = log.read().decode(errors="replace").strip().splitlines()
            raise StepError(f"ffmpeg could not write {path}: {lines[-1] if lines else f'exit code {rc}'}")


def sample_frames(mouth: np.ndarray, size: int, seed: int, progress: bool = True):
    """Yield uint8 [size, size, 3] frames, one per entry of ``mouth`` ([N] opening 0..1)."""
    from data_util.sample_face import build_portrait, head_motion, render_frame
    portrait = build_portrait(size)
    motion = head_motion(len(mouth), FPS, np.random.default_rng([seed, MOTION]), size)
    indices = range(len(mouth))
    if progress:
        from tqdm import tqdm
        indices = tqdm(indices, desc="sample frames", unit="frame", leave=False)
    for i in indices:
        yield render_frame(portrait, float(mouth[i]), tuple(motion[i]))


def contact_sheet(video: str | Path, png: str | Path, frame_indices: list[int], size: int) -> None:
    """Write the given frames of ``video`` side by side as one PNG (256-colour palette: small enough for docs)."""
    from PIL import Image
    select = "+".join(f"eq(n\\,{i})" for i in frame_indices)
    raw = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(video), "-vf", f"select={select}",
                          "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, size, size, 3)
    sheet = Image.fromarray(np.concatenate(list(frames), axis=1)).quantize(256, dither=Image.Dither.NONE)
    with atomic_path(png) as tmp:
        sheet.save(tmp, optimize=True)


def telling_frames(mouth: np.ndarray, count: int = 4) -> list[int]:
    """Indices of ``count`` frames, one per equal part of the clip, whose openings span closed .. widest."""
    parts = np.array_split(np.arange(len(mouth)), count)
    targets = np.linspace(0.0, 1.0, count)
    return [int(part[np.argmin(np.abs(mouth[part] - target))]) for part, target in zip(parts, targets)]


def make_sample(sample_id: str = "demo", seconds: float = 30.0, size: int = 256, seed: int = 0,
                drive_seconds: float = 10.0, out_dir: str | Path = DEFAULT_OUT_DIR, *, force: bool = False,
                progress: bool = True) -> dict:
    """Write <out_dir>/<sample_id>.mp4 and <out_dir>/<sample_id>_drive.wav; keep existing ones unless ``force``.

    Returns a JSON-serialisable record: paths, what was written or kept, frame count, seconds, size, seed.
    """
    if seconds < 1.0 or drive_seconds < 1.0:
        raise StepError(f"--seconds ({seconds}) and --drive_seconds ({drive_seconds}) must be at least 1")
    if size < MIN_SIZE or size % 2:
        raise StepError(f"--size {size}: use an even size of at least {MIN_SIZE} (smaller faces escape dlib's "
                        "face detector in some frames)")
    seconds = round(seconds * FPS) / FPS          # whole frames: video and audio end together
    out_dir = Path(out_dir)
    video, drive = out_dir / f"{sample_id}.mp4", out_dir / f"{sample_id}_drive.wav"
    start = time.perf_counter()
    record = {"video": str(video), "drive_wav": str(drive), "seconds": seconds, "frames": int(round(seconds * FPS)),
              "size": size, "seed": seed, "drive_seconds": drive_seconds, "written": []}
    if force or not video.is_file():
        track = speech_track(seconds, [seed, TRAIN_VOICE], AUDIO_RATE, FPS)
        with tempfile.TemporaryDirectory() as tmp:
            wav = Path(tmp) / "voice.wav"
            write_wav(wav, track.wave)
            encode_mp4(video, sample_frames(track.mouth, size, seed, progress), size, wav)
        record["written"].append(str(video))
    if force or not drive.is_file():
        write_wav(drive, speech_track(drive_seconds, [seed, DRIVE_VOICE], AUDIO_RATE, FPS).wave)
        record["written"].append(str(drive))
    record["seconds_taken"] = round(time.perf_counter() - start, 2)
    return record


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--id", default="demo", help="sample name: writes <out_dir>/<id>.mp4 and <id>_drive.wav")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of the training video")
    parser.add_argument("--size", type=int, default=256, help=f"frame width = height in pixels (even, >= {MIN_SIZE})")
    parser.add_argument("--seed", type=int, default=0, help="the same seed gives the same files")
    parser.add_argument("--drive_seconds", type=float, default=10.0, help="length of the driving clip")
    parser.add_argument("--out_dir", default=str(DEFAULT_OUT_DIR), help="default: dataset/vids of the repository")
    parser.add_argument("--force", action="store_true", help="regenerate existing files")
    parser.add_argument("--contact_sheet", metavar="PNG", help="also write 4 frames of the video side by side")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        record = make_sample(args.id, args.seconds, args.size, args.seed, args.drive_seconds, args.out_dir,
                             force=args.force, progress=not args.no_progress)
    except StepError as exc:
        return report(exc, 1)
    if args.contact_sheet:
        mouth = speech_track(args.seconds, [args.seed, TRAIN_VOICE], AUDIO_RATE, FPS).mouth
        contact_sheet(record["video"], args.contact_sheet, telling_frames(mouth), args.size)
    if not record["written"]:
        print(f"kept existing {record['video']} and {record['drive_wav']} (--force regenerates them)")
    print(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
