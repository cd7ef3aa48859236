"""Put sound on a rendered video: ffmpeg (the binary imageio-ffmpeg ships) with an argument list.

    python add_audio/add_audio.py --video video.mp4 --audio speech.wav --output video_with_audio.mp4
        [--vcodec libx264|copy] [--acodec aac] [--crf 18] [--audio_offset SECONDS]

Both inputs are checked first (they exist, the video has a video stream, the audio has an audio stream);
the output is cut to the shorter of the two and written under a temporary name, then renamed. The muxing
itself is the shared layer's (adnerf.media.mux_audio), which driving and the side-by-side video use too.
"""
from __future__ import annotations

import argparse
import sys

from adnerf.errors import AdnerfError as MuxError
from adnerf.errors import run_command
from adnerf.media import Streams as StreamInfo
from adnerf.media import ffmpeg_exe, mux_audio, probe

__all__ = ["MuxError", "StreamInfo", "ffmpeg_exe", "mux_audio", "probe", "main"]


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
    return run_command(lambda: print(mux_audio(a.video, a.audio, a.output, a.vcodec, a.acodec, a.crf,
                                               a.audio_offset)), 2)


if __name__ == "__main__":
    sys.exit(main())
