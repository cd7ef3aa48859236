"""The lip-sync score (no SyncNet weights) on a real talking video: its own sound vs another voice muxed in.

    .venv/bin/python benchmarks/bench_sync.py [--video ../shared/realvideo/kitchen_20s.mp4]
                                              [--foreign_audio ../shared/realvideo/speech_radio_8s.wav]

Runs `evaluate.py --video` (the real path: frames and AAC sound read back from the mp4, dlib landmarks) on
the video as it is, and on the video with the foreign speech muxed in instead of its own (as long as the
shorter of the two). A real person with their own sound should score clearly above the shuffled-sound null
(p < 0.05); the same frames with other speech should not. For a like-for-like row, the own sound is also
scored over the foreign clip's length, and per 4 s window (from the first run's mouth openings: no second
landmark pass), which shows where a clip's score comes from (e.g. a laugh with an open mouth and no sound).
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from adnerf.media import mux_audio, read_audio
from evaluation import evaluate
from evaluation.metrics import lipsync

WINDOW = 100   # frames (4 s) per window of the breakdown; its p is coarse (4 blocks: 24 orders)
SHARED = Path(__file__).resolve().parents[2] / "shared" / "realvideo"


def score_video(video: Path, out_dir: Path) -> dict:
    start = time.perf_counter()
    code = evaluate.main(["--video", str(video), "--metrics", "lipsync", "--out_dir", str(out_dir), "--no_progress"])
    if code:
        raise SystemExit(f"evaluate.py --video {video} failed (exit {code})")
    entry = json.loads((out_dir / "evaluation_results.json").read_text())["metrics"]["lipsync"]
    entry["seconds"] = time.perf_counter() - start
    return entry


def row(name: str, e: dict) -> str:
    if "unavailable" in e:
        return f"| {name} | unavailable: {e['unavailable']} |"
    z = "n/a" if e["z"] is None else f"{e['z']:.1f}"
    return (f"| {name} | {e['n']} | {e['mouth_std']:.4f} | {e['value']:.2f} | {e['offset']:+d} | "
            f"{e['null_mean']:.2f} ± {e['null_std']:.2f} | {z} | {e['p']:.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", default=str(SHARED / "kitchen_20s.mp4"))
    p.add_argument("--foreign_audio", default=str(SHARED / "speech_radio_8s.wav"))
    args = p.parse_args()
    video = Path(args.video)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        own = score_video(video, tmp / "own")
        foreign_video = mux_audio(video, args.foreign_audio, tmp / "foreign.mp4")
        foreign = score_video(foreign_video, tmp / "foreign")
        n = len(foreign["per_frame"])
        mouth = np.array([np.nan if v is None else v for v in own["per_frame"]])
        loudness = lipsync.speech_loudness(read_audio(video), len(mouth))
        same_span = dict(lipsync.sync_statistics(mouth[:n], loudness[:n]))
        same_span.update(value=same_span["confidence"])
        windows = [(s, dict(lipsync.sync_statistics(mouth[s:s + WINDOW], loudness[s:s + WINDOW])))
                   for s in range(0, len(mouth) - WINDOW + 1, WINDOW)]
    print("| video | frames | mouth-opening std | confidence | offset | null mean ± std | z | p |")
    print("|---|---|---|---|---|---|---|---|")
    print(row(f"{video.name}, own sound ({len(own['per_frame']) / 25:.1f} s)", own))
    print(row(f"{video.name}, own sound, first {n / 25:.1f} s", same_span))
    print(row(f"{video.name} frames + {Path(args.foreign_audio).name}", foreign))
    for s, w in windows:
        w.update(value=w["confidence"])
        print(row(f"{video.name}, own sound, frames {s}-{s + WINDOW - 1}", w))
    print(f"(evaluate.py --video: {own['seconds']:.0f} s for {len(own['per_frame'])} frames, "
          f"{foreign['seconds']:.0f} s for {n})")


if __name__ == "__main__":
    main()
