"""Input checks and preprocessing step 1: the video's frames at 25 fps -> ori_imgs/<n>.jpg.

    probe_video(video) -> VideoInfo           what the file holds (decodes it once to count frames exactly)
    check_video(video, need_audio=True)       VideoInfo, or StepError before any work is done
    run_frames(dataset_dir, *, video, force=False, progress=True, jpeg_quality=2, need_audio=True) -> dict

The audio features come at 25 per second (one [16, C] window per 40 ms), so a video of another frame rate
is resampled to 25 fps with ffmpeg's ``fps`` filter (nearest frame in time: frames are dropped or repeated,
never blended). probe_video counts the frames that filter gives, so step 0 (audio) knows how many feature
windows to make before step 1 has run, and both steps agree on the count by construction.

ffmpeg is the binary imageio-ffmpeg ships (no system ffmpeg); it is always called with argument lists.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from adnerf.media import ffmpeg_exe
from data_util.common import FPS, StepError, frame_ids

VERSION = 1


@dataclass
class VideoInfo:
    """What probe_video found. fps/frames describe the source video stream; frames_25 = frames at 25 fps."""
    path: str
    fps: float            # source frame rate (0 when there is no video stream)
    frames: int           # decoded source frames
    frames_25: int        # frames after resampling to 25 fps (= the number of ori_imgs, = aud.npy rows)
    width: int
    height: int
    has_audio: bool
    duration: float      # container duration in seconds (0 when unknown)

    def as_dict(self) -> dict:
        return asdict(self)


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: .*?\b(\d{2,5})x(\d{2,5})\b")
_FPS = re.compile(r"(\d+(?:\.\d+)?) fps")
_ENCODED = re.compile(r"Output stream #(\d+):0 \(video\): (\d+) frames encoded")


def probe_video(video: str | os.PathLike) -> VideoInfo:
    """Streams, size, frame rate and exact frame counts (source and at 25 fps) of ``video``.

    Raises StepError when the file is missing or ffmpeg cannot read it. A file without a video stream gives
    frames = frames_25 = 0 (check_video turns that into an error).
    """
    video = Path(video)
    if not video.is_file():
        raise StepError(f"video not found: {video} (put it at dataset/vids/<id>.mp4 or pass its path)")
    head = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(video)], capture_output=True, text=True)
    text = head.stderr
    if "Error opening input" in text or "Invalid data found" in text or "Input #0" not in text:
        raise StepError(f"cannot read video {video}: ffmpeg does not recognise it (corrupt or not a video file; "
                        f"re-export it as .mp4)")
    streams = [line for line in text.splitlines() if re.search(r"Stream #\d+:\d+", line)]
    has_audio = any(" Audio: " in s for s in streams)
    m = _DURATION.search(text)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else 0.0
    video_line = next((s for s in streams if " Video: " in s), None)
    if video_line is None:
        return VideoInfo(str(video), 0.0, 0, 0, 0, 0, has_audio, duration)
    size = _VIDEO.search(video_line)
    fps = _FPS.search(video_line)
    source, at_25 = _count_frames(video)
    return VideoInfo(str(video), float(fps.group(1)) if fps else 0.0, source, at_25,
                     int(size.group(1)) if size else 0, int(size.group(2)) if size else 0, has_audio, duration)


def _count_frames(video: Path) -> tuple[int, int]:
    """(decoded source frames, frames the fps=25 filter gives), from one decoding pass into null outputs."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-v", "verbose", "-i", str(video),
           "-filter_complex", f"[0:v:0]split[src][any];[any]fps={FPS}[at25]",
           "-map", "[src]", "-f", "null", "-", "-map", "[at25]", "-f", "null", "-"]
    res = subprocess.run(cmd, capture_output=True, text=True)
    counts = {int(i): int(n) for i, n in _ENCODED.findall(res.stderr)}
    if res.returncode != 0 or len(counts) != 2:
        last = res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit code {res.returncode}"
        raise StepError(f"cannot decode the video stream of {video}: {last} (corrupt file? re-export it as .mp4)")
    return counts[0], counts[1]


def check_video(video: str | os.PathLike, need_audio: bool = True) -> VideoInfo:
    """probe_video, plus StepError for a video without frames or (with need_audio) without an audio stream."""
    info = probe_video(video)
    if info.frames_25 == 0:
        raise StepError(f"{video} has no video frames (an audio-only or empty file?): AD-NeRF needs a video "
                        f"of the speaking person")
    if need_audio and not info.has_audio:
        raise StepError(f"{video} has no audio stream: AD-NeRF learns from the speech, so the video must "
                        f"carry its sound (mux it in, e.g. add_audio/add_audio.py --video V --audio A --output O.mp4)")
    return info


def run_frames(dataset_dir: str | os.PathLike, *, video: str | os.PathLike, force: bool = False,
               progress: bool = True, jpeg_quality: int = 2, need_audio: bool = True) -> dict:
    """Step 1: every frame of ``video`` at 25 fps -> dataset_dir/ori_imgs/<n>.jpg, n = 0 .. N-1.

    Skips the work when ori_imgs already holds exactly frames 0 .. N-1 (N = frames at 25 fps), unless
    ``force``. Frames are written by ffmpeg into a hidden folder and renamed into ori_imgs/ once all are
    done, so ori_imgs never holds a half-written image. Landmark files (.lms) in ori_imgs are left alone.
    jpeg_quality: ffmpeg's -q:v (2 = high quality, 31 = worst). need_audio: refuse a video without sound
    (the dataset needs it for step 0) before extracting anything.
    Returns the record stored in preprocess.json (counts, source fps and size, seconds, seconds per frame).
    """
    start = time.perf_counter()
    dataset_dir = Path(dataset_dir)
    info = check_video(video, need_audio=need_audio)
    out = dataset_dir / "ori_imgs"
    record = {"backend": "ffmpeg", "version": VERSION, "fps": FPS, "frames": info.frames_25,
              "source_fps": info.fps, "source_frames": info.frames, "width": info.width, "height": info.height,
              "video": str(video), "jpeg_quality": jpeg_quality}
    if not force and frame_ids(dataset_dir) == list(range(info.frames_25)):
        return {**record, "skipped": True, "seconds": round(time.perf_counter() - start, 3)}
    dataset_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dataset_dir, prefix=".ori_imgs."))
    try:
        written = _extract_jpgs(Path(video), staging, info.frames_25, jpeg_quality, progress)
        if written != info.frames_25:
            raise StepError(f"ffmpeg wrote {written} frames of {video}, expected {info.frames_25} "
                            f"(corrupt video? re-export it and run step 1 again)")
        out.mkdir(parents=True, exist_ok=True)
        for n in range(written):
            os.replace(staging / f"{n}.jpg", out / f"{n}.jpg")
        for n in frame_ids(dataset_dir):  # frames of an earlier, longer video
            if n >= written:
                (out / f"{n}.jpg").unlink()
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    seconds = time.perf_counter() - start
    return {**record, "skipped": False, "seconds": round(seconds, 3),
            "seconds_per_frame": round(seconds / max(info.frames_25, 1), 6)}


def _extract_jpgs(video: Path, folder: Path, total: int, jpeg_quality: int, progress: bool) -> int:
    """ffmpeg: video stream -> folder/<n>.jpg at 25 fps (n from 0); returns how many files it wrote."""
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error", "-y", "-i", str(video),
           "-map", "0:v:0", "-vf", f"fps={FPS}", "-q:v", str(jpeg_quality), "-start_number", "0",
           "-progress", "pipe:1", str(folder / "%d.jpg")]
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, desc="frames (25 fps)", unit="frame", leave=False)
    with tempfile.TemporaryFile(mode="w+") as errors:  # a file, not a pipe: a chatty ffmpeg cannot block
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors, text=True)
        done = 0
        for line in proc.stdout:
            if line.startswith("frame=") and bar is not None:
                n = int(line.split("=", 1)[1])
                bar.update(n - done)
                done = n
        code = proc.wait()
        if bar is not None:
            bar.close()
        if code != 0:
            errors.seek(0)
            last = errors.read().strip().splitlines()
            raise StepError(f"ffmpeg failed extracting frames of {video}: {last[-1] if last else code}")
    return sum(1 for p in folder.glob("*.jpg"))
