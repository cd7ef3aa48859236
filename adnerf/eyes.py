"""A per-frame eye-openness signal: measured from 68-point landmarks, or made (natural blinks, always open).

    eye_openness(lms [N, 68, 2]) -> [N]      mean eye aspect ratio (EAR) of both eyes
    blink_signal(n_frames, fps, seed) -> [N] a seeded schedule of natural blinks (15-20 a minute, 100-200 ms)
    open_signal(n_frames) -> [N]             eyes that never close
    count_blinks(openness [N]) -> int        runs of frames below half the median (the measure of issue 19)
    eye_levels(openness [N]) -> (open, closed)          a dataset's open and closed levels (for blink_signal)
    match_levels(openness [M], open_value) -> [M]       another person's signal (a reference video) on this scale

Shared because three places must use one definition: preprocessing writes the signal of the training video
(step 7: ``eye`` per frame of transforms_*.json, dataset/<id>/eye.npy), driving makes one (``--eyes``), and
the evaluation measures the blinks of a rendered video from its landmarks. numpy only.

The eye aspect ratio (Soukupova and Cech, 2016) of one eye with contour points p1..p6 (p1, p4 the corners,
p2, p3 the upper lid, p6, p5 the lower lid below them) is (|p2-p6| + |p3-p5|) / (2 |p1-p4|): about 0.25-0.35
for an open eye, near 0 when closed, and independent of the face's size in pixels and of in-plane rotation.
In the 68-point (iBUG 300-W) order the eyes are points 36-41 and 42-47.
"""
from __future__ import annotations

import numpy as np

from adnerf.errors import AdnerfError

EYES = (slice(36, 42), slice(42, 48))   # the two 6-point eye contours, p1..p6 each
OPEN_VALUE = 0.30                       # a typical open-eye EAR (used when no measured level is given)
CLOSED_VALUE = 0.05                     # a typical closed-eye EAR
MIN_GAP_S = 0.5                         # the least time between the end of a blink and the start of the next


def eye_openness(lms: np.ndarray) -> np.ndarray:
    """Mean eye aspect ratio of both eyes per frame.

    lms: [N, 68, 2] (or one face [68, 2]) pixel coordinates. Returns float64 [N] (a float for one face).
    A degenerate eye (both corners at one point) raises AdnerfError rather than giving inf.
    """
    points = np.asarray(lms, dtype=np.float64)
    single = points.ndim == 2
    points = points[None] if single else points
    if points.ndim != 3 or points.shape[1:] != (68, 2):
        raise AdnerfError(f"eye_openness needs landmarks [N, 68, 2], got shape {list(np.shape(lms))}")
    if not np.isfinite(points).all():
        raise AdnerfError("eye_openness: the landmarks hold NaN or inf")
    ratios = []
    for eye in EYES:
        p = points[:, eye]                                                  # [N, 6, 2]: p1..p6
        lids = np.linalg.norm(p[:, 1] - p[:, 5], axis=-1) + np.linalg.norm(p[:, 2] - p[:, 4], axis=-1)
        width = np.linalg.norm(p[:, 0] - p[:, 3], axis=-1)
        if (width <= 0).any():
            raise AdnerfError(f"eye_openness: an eye's corners coincide in frame {int(np.argmax(width <= 0))}")
        ratios.append(lids / (2.0 * width))
    openness = (ratios[0] + ratios[1]) / 2.0
    return float(openness[0]) if single else openness


def open_signal(n_frames: int, open_value: float = OPEN_VALUE) -> np.ndarray:
    """[n_frames] float64, every frame ``open_value`` (eyes that never blink)."""
    return np.full(_frame_count(n_frames), float(open_value))


def blink_schedule(n_frames: int, fps: float = 25.0, seed: int = 0, rate_per_min=(15.0, 20.0),
                   duration_s=(0.1, 0.2), min_gap_s: float = MIN_GAP_S) -> list[tuple[int, float]]:
    """The blinks of ``blink_signal``: a list of (centre frame, duration in seconds), in time order.

    A rate is drawn in ``rate_per_min`` and the number of blinks it gives over the clip (stochastically
    rounded, so short clips average the right rate); the clip is cut into that many equal slots and each blink
    placed at random inside its own slot, leaving half ``min_gap_s`` at each slot end: blinks never overlap,
    are at least ``min_gap_s`` apart and the count over a long clip stays inside the rate bounds (a Poisson
    schedule would not). Each blink's centre falls on a frame, so every blink shows one fully closed frame.
    """
    n_frames = _frame_count(n_frames)
    low_rate, high_rate = _bounds(rate_per_min, "rate_per_min")
    low_d, high_d = _bounds(duration_s, "duration_s")
    _check_fps(fps)
    rng = np.random.default_rng(seed)
    seconds = n_frames / fps
    expected = rng.uniform(low_rate, high_rate) * seconds / 60.0
    count = int(np.floor(expected)) + int(rng.random() < expected - np.floor(expected))
    count = min(count, int(seconds // (high_d + min_gap_s)))                # what fits without overlap
    blinks = []
    if count <= 0:
        return blinks
    slot = seconds / count
    for k in range(count):
        duration = float(rng.uniform(low_d, high_d))
        # centre to slot edge, at least (half a frame more: the centre is rounded onto a frame)
        margin = (min_gap_s + duration) / 2.0 + 0.5 / fps
        centre_s = k * slot + rng.uniform(margin, slot - margin) if slot > 2 * margin else (k + 0.5) * slot
        centre = int(np.clip(round(centre_s * fps), 0, n_frames - 1))
        blinks.append((centre, duration))
    return blinks


def blink_signal(n_frames: int, fps: float = 25.0, seed: int = 0, rate_per_min=(15.0, 20.0),
                 duration_s=(0.1, 0.2), open_value: float = OPEN_VALUE, closed_value: float = CLOSED_VALUE,
                 min_gap_s: float = MIN_GAP_S) -> np.ndarray:
    """[n_frames] float64 eye openness with natural blinks; the same arguments give the same signal.

    Between blinks the value is ``open_value``; a blink of duration d centred at time c closes and reopens
    smoothly (a raised cosine: open_value - (open_value - closed_value) * (1 + cos(2 pi (t - c) / d)) / 2 for
    |t - c| < d / 2), reaching ``closed_value`` at its centre frame. Pass the dataset's own levels (e.g. the
    median of dataset/<id>/eye.npy for open) so that driving stays inside what the model was trained on.
    """
    n_frames = _frame_count(n_frames)
    if not (np.isfinite(open_value) and np.isfinite(closed_value)):
        raise AdnerfError("blink_signal: open_value and closed_value must be finite numbers")
    _check_fps(fps)
    times = np.arange(n_frames) / fps
    closure = np.zeros(n_frames)                                             # 0 open .. 1 fully closed
    for centre, duration in blink_schedule(n_frames, fps, seed, rate_per_min, duration_s, min_gap_s):
        offset = times - centre / fps
        inside = np.abs(offset) < duration / 2.0
        closure[inside] = np.maximum(closure[inside], 0.5 * (1.0 + np.cos(2.0 * np.pi * offset[inside] / duration)))
    return float(open_value) - (float(open_value) - float(closed_value)) * closure


MERGE_GAP = 2   # frames: dips this close are one blink split by landmark jitter (80 ms at 25 fps)


def closed_mask(openness: np.ndarray, fraction: float = 0.5) -> np.ndarray:
    """bool [N]: the frames whose openness [N] lies below ``fraction`` x its median (eyes closed or closing)."""
    values = np.asarray(openness, dtype=np.float64).reshape(-1)
    if not np.isfinite(values).all():
        raise AdnerfError("the eye signal holds NaN or inf (eye openness must be finite numbers)")
    return values < fraction * np.median(values) if values.size else np.zeros(0, dtype=bool)


def blink_runs(openness: np.ndarray, fraction: float = 0.5, merge_gap: int = MERGE_GAP) -> list[tuple[int, int]]:
    """(first frame, number of frames) of each run of frames below ``fraction`` x the median openness.

    openness: [N]. The median stands for the open eye (eyes are open most of the time). Runs separated by at
    most ``merge_gap`` frames are one run (measured landmarks jitter around the threshold: on the real clip of
    ../shared/realvideo one blink read as dips of 1 and 4 frames with one frame between); 0: every run counts.
    """
    below = closed_mask(openness, fraction)
    if below.size == 0:
        return []
    edges = np.diff(np.concatenate([[0], below.astype(np.int8), [0]]))
    runs: list[list[int]] = []
    for start, end in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        if runs and start - runs[-1][1] <= merge_gap:
            runs[-1][1] = int(end)
        else:
            runs.append([int(start), int(end)])
    return [(start, end - start) for start, end in runs]


def count_blinks(openness: np.ndarray, fraction: float = 0.5, merge_gap: int = MERGE_GAP) -> int:
    """Number of blinks in an openness signal [N]: runs of frames below half (``fraction``) its median,
    dips at most ``merge_gap`` frames apart counted once."""
    return len(blink_runs(openness, fraction, merge_gap))


def eye_levels(openness: np.ndarray) -> tuple[float, float]:
    """(open, closed) levels of a measured signal [N] (e.g. dataset/<id>/eye.npy), for ``blink_signal``.

    open = the median (eyes are open most of the time); closed = the 1st percentile, but at most 0.4 x open,
    so that a made blink always counts as one (below half the median) even when the training video shows few.
    """
    values = np.asarray(openness, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.isfinite(values).all():
        raise AdnerfError("eye_levels: the eye signal is empty or holds NaN or inf")
    open_value = float(np.median(values))
    return open_value, float(min(np.percentile(values, 1), 0.4 * open_value))


def match_levels(openness: np.ndarray, open_value: float) -> np.ndarray:
    """[M] openness of another face (e.g. a reference video's landmarks) scaled so that its median is
    ``open_value``: eye aspect ratios differ between people; blinks keep their depth relative to the open eye."""
    values = np.asarray(openness, dtype=np.float64).reshape(-1)
    if values.size == 0 or not np.isfinite(values).all() or np.median(values) <= 0:
        raise AdnerfError("match_levels: the reference eye signal is empty, not finite, or never open")
    return values * (float(open_value) / float(np.median(values)))


def _frame_count(n_frames) -> int:
    if int(n_frames) != n_frames or n_frames < 0:
        raise AdnerfError(f"the number of frames must be a whole number >= 0, got {n_frames}")
    return int(n_frames)


def _check_fps(fps) -> None:
    if not (np.isfinite(fps) and fps > 0):
        raise AdnerfError(f"blink_signal: fps must be a positive number, got {fps}")


def _bounds(pair, what: str) -> tuple[float, float]:
    low, high = (float(v) for v in pair)
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise AdnerfError(f"blink_signal: {what} must be (low, high) with 0 < low <= high, got {pair}")
    return low, high
