"""Do the rendered eyes blink when the signal says so? Measured by landmarks on the rendered frames.

    .venv/bin/python benchmarks/bench_eyes.py --sequence dataset/<id>/logs/<id>_com/test_aud_rst [--json out.json]

For a driven sequence of an eye-conditioned head (its frames.json records ``eye_signal``, the eye openness
each frame was rendered with: ``--eyes natural`` by default), dlib's 68 landmarks on every rendered frame
give the rendered eye openness (adnerf.eyes.eye_openness). Printed: the blinks in the signal and in the
render (adnerf.eyes.count_blinks: runs below half the median), how many signal blinks the render shows
within 2 frames, and the correlation of the two series. Issue 19's target: at least 4 rendered blinks in
8 s with ``--eyes natural``. Exits 1 when the sequence records no eye signal (an audio-only head).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from adnerf.eyes import blink_runs, eye_openness
from adnerf.landmarks import detect_landmarks
from adnerf.media import read_image
try:  # run as a file (python benchmarks/x.py, as the other benchmarks): common.py sits next to it
    from common import report_numbers
except ImportError:  # imported as benchmarks.<name> (the tests)
    from benchmarks.common import report_numbers
from adnerf.sequence_record import read_sequence_record


def matched_blinks(signal_runs, render_runs, slack: int = 2) -> int:
    """Signal blinks (first frame, length) with a rendered blink overlapping them within ``slack`` frames."""
    return sum(any(r0 - slack <= s0 + sl - 1 and s0 - slack <= r0 + rl - 1 for r0, rl in render_runs)
               for s0, sl in signal_runs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sequence", required=True, help="a driven sequence folder (frames.json with eye_signal)")
    p.add_argument("--json", help="also write the numbers here")
    a = p.parse_args(argv)
    record = read_sequence_record(a.sequence)
    signal = record.meta.get("eye_signal")
    if not signal:
        print(f"{a.sequence}: frames.json records no eye_signal (an audio-only head?)", file=sys.stderr)
        return 1
    signal = np.asarray(signal, dtype=np.float64)
    found = detect_landmarks([read_image(path) for path in record.paths()], "dlib", "cpu", progress=True)
    rendered = np.array([eye_openness(lms) if lms is not None else np.nan for lms in found])
    faces = np.isfinite(rendered)
    rendered[~faces] = np.nanmedian(rendered)
    sig_runs, ren_runs = blink_runs(signal), blink_runs(rendered)
    out = {"frames": len(signal), "seconds": len(signal) / record.fps, "eyes": record.meta.get("eyes"),
           "faces_found": int(faces.sum()), "signal_blinks": len(sig_runs), "rendered_blinks": len(ren_runs),
           "matched_blinks": matched_blinks(sig_runs, ren_runs),
           "correlation": float(np.corrcoef(signal, rendered)[0, 1]),
           "rendered_open_median": float(np.median(rendered)), "rendered_min": float(rendered.min())}
    report_numbers(out, a.json, 22)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
