"""Put sound on a rendered video: ffmpeg (the binary imageio-ffmpeg ships) with an argument list.

    python add_audio/add_audio.py --video result.mp4 --audio speech.wav --output result_audio.mp4
        [--vcodec libx264|copy] [--acodec aac] [--crf 18] [--audio_offset SECONDS]

Both inputs are checked first (they exist, the video has a video stream, the audio has an audio stream);
the output is cut to the shorter of the two and written under a temporary name, then renamed.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


class MuxError(RuntimeError):
    """A problem with the inputs or with ffmpeg, as one readable line."""


def ffmpeg_exe() -> str:
    import imageio_ffmpeg
    return imageio_ffmpeg.get_ffmpeg_exe()


@dataclass
class StreamInfo:
    has_video: bool
    has_audio: bool
    duration: float | None  # seconds


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")


def probe(path: str | Path) -> StreamInfo:
    """Which streams a media file has, from ``ffmpeg -i`` (which exits 1 without an output: expected)."""
    path = Path(path)
    if not path.is_file():
        raise MuxError(f"file not found: {path}")
    res = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    info = res.stderr
    if "Invalid data found" in info or "could not find codec parameters" in info.lower():
        raise MuxError(f"{path} is not a readable media file")
    m = _DURATION.search(info)
    duration = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    streams = [line for line in info.splitlines() if re.search(r"Stream #\d+:\d+", line)]
    return StreamInfo(any("Video:" in s for s in streams), any("Audio:" in s for s in streams), duration)


def mux_audio(video: str | Path, audio: str | Path, output: str | Path, vcodec: str = "libx264",
              acodec: str = "aac", crf: int = 18, audio_offset: float = 0.0) -> Path:
    """Write ``output`` = video stream of ``video`` + audio stream of ``audio`` (from ``audio_offset`` s),
    as long as the shorter input."""
    video, audio, output = Path(video), Path(audio), Path(output)
    v, a = probe(video), probe(audio)
    if not v.has_video:
        raise MuxError(f"{video} has no video stream")
    if v.duration is not None and v.duration <= 0:
        raise MuxError(f"{video} has no frames")
    if not a.has_audio:
        raise MuxError(f"{audio} has no audio stream")
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.stem}.partial{output.suffix}")
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video)]
    if audio_offset > 0:
        cmd += ["-ss", f"{audio_offset:.3f}"]
    cmd += ["-i", str(audio), "-map", "0:v:0", "-map", "1:a:0", "-c:v", vcodec]
    if vcodec == "libx264":
        cmd += ["-crf", str(crf), "-pix_fmt", "yuv420p"]
    cmd += ["-c:a", acodec, "-shortest", str(tmp)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise MuxError(f"ffmpeg failed muxing {video} + {audio}: {res.stderr.strip().splitlines()[-1] if res.stderr.strip() else res.returncode}")
    os.replace(tmp, output)
    return output


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="Mux a video with an audio track (output as long as the shorter).")
    p.add_argument("--video", required=True)
    p.add_argument("--audio", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--vcodec", default="libx264", choices=["libx264", "copy"])
    p.add_argument("--acodec", default="aac")
    p.add_argument("--crf", type=int, default=18)
    p.add_argument("--audio_offset", type=float, default=0.0, help="skip this many seconds of the audio")
    a = p.parse_args(argv)
    try:
        out = mux_audio(a.video, a.audio, a.output, a.vcodec, a.acodec, a.crf, a.audio_offset)
    except MuxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
