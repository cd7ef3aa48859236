"""The lip-sync score (no SyncNet weights) on a real talking video: its own sound vs another voice.

    .venv/bin/python benchmarks/bench_sync.py [--video ../shared/realvideo/kitchen_20s.mp4]
                                              [--foreign_audio ../shared/realvideo/speech_radio_8s.wav]

Runs `evaluate.py --video` (the real path: frames and AAC sound read back from the mp4, dlib landmarks) on
the video with its own sound, then scores the same mouth-opening series (no second landmark pass) against
the first frames' loudness of the foreign speech (as long as the shorter of the two), against the own sound
over that length, per 4 s window, and against the own sound circularly shifted by 2..18 s (false-positive
controls: each should sit at the null). Each row is given for the score (syllable band) and, for comparison,
for plain correlation of the series. A real person with their own sound should score clearly above the
shuffled-sound null (p < 0.05); the same frames with other speech, or shifted sound, should not.
Without the videos (no ../shared/realvideo) it says so and exits 0.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from adnerf.media import read_audio
from evaluation import evaluate
from evaluation.metrics import lipsync

WINDOW = 100   # frames (4 s) per window of the breakdown; its p is coarse (4 blocks: 24 orders)
SHIFTS_S = range(2, 19)   # seconds of the circular shifts of the own sound (controls)
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
    return (f"| {name} | {e['n']} | {e['mouth_std']:.4f} | {e['confidence']:.2f} | {e['offset']:+d} | "
            f"{e['null_mean']:.2f} ± {e['null_std']:.2f} | {z} | {e['p']:.3f} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--video", default=str(SHARED / "kitchen_20s.mp4"))
    p.add_argument("--foreign_audio", default=str(SHARED / "speech_radio_8s.wav"))
    args = p.parse_args()
    video, foreign_audio = Path(args.video), Path(args.foreign_audio)
    missing = [str(f) for f in (video, foreign_audio) if not f.is_file()]
    if missing:
        print(f"skipped: {', '.join(missing)} not found (the real videos are in ../shared/realvideo)")
        return
    with tempfile.TemporaryDirectory() as tmp:
        own = score_video(video, Path(tmp) / "own")
    mouth = np.array([np.nan if v is None else v for v in own["per_frame"]])
    loudness = lipsync.speech_loudness(read_audio(video), len(mouth))
    foreign_samples = read_audio(foreign_audio)
    n = min(len(mouth), len(foreign_samples) // lipsync.SAMPLES_PER_FRAME)
    foreign = lipsync.speech_loudness(foreign_samples, n)
    start = time.perf_counter()
    lipsync.sync_statistics(mouth, loudness)
    score_seconds = time.perf_counter() - start
    print("| video | frames | mouth-opening std | confidence | offset | null mean ± std | z | p |")
    print("|---|---|---|---|---|---|---|---|")
    print(row(f"{video.name}, own sound ({len(mouth) / 25:.1f} s), evaluate.py --video", {**own, "confidence": own["value"]}))
    for label, highpass in (("", lipsync.SYLLABLE_HIGHPASS), (" [plain correlation]", 0)):
        series = [(f"{video.name}, own sound ({len(mouth) / 25:.1f} s)", mouth, loudness)] if highpass == 0 else []
        series += [(f"{video.name}, own sound, first {n / 25:.1f} s", mouth[:n], loudness[:n]),
                   (f"{video.name} mouth, first {n / 25:.1f} s + {foreign_audio.name}", mouth[:n], foreign)]
        series += [(f"own sound, frames {s}-{s + WINDOW - 1}", mouth[s:s + WINDOW], loudness[s:s + WINDOW])
                   for s in range(0, len(mouth) - WINDOW + 1, WINDOW)]
        for name, m, l in series:
            print(row(name + label, lipsync.sync_statistics(m, l, highpass=highpass)))
        shifted = [lipsync.sync_statistics(mouth, np.roll(loudness, 25 * k), highpass=highpass)["p"] for k in SHIFTS_S]
        print(f"| own sound shifted by {SHIFTS_S[0]}..{SHIFTS_S[-1]} s{label} (controls) | "
              f"p < 0.05 in {sum(q < 0.05 for q in shifted)} of {len(shifted)}, smallest p {min(shifted):.3f} |")
    print(f"(evaluate.py --video: {own['seconds']:.0f} s for {len(mouth)} frames, of which the score after the "
          f"landmarks {score_seconds * 1000:.0f} ms)")


if __name__ == "__main__":
    main()
