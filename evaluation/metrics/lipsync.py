"""A lip-sync score without SyncNet weights: does the mouth open with the loudness of the speech?

Pure maths on per-frame series (the two series are adnerf.mouth's, shared with training and driving) (the I/O, landmarks and audio decoding, is in evaluation/lipsync_clip.py):

- mouth opening [N]: inner-lip gap (mean distance of the inner-lip point pairs 61-67, 62-66, 63-65 of the
  68-point iBUG landmarks) over the inter-ocular distance (outer eye corners 36, 45), unitless;
- speech loudness [N]: the audio band-passed to the speech band (300-3000 Hz, zero-phase Butterworth, so the
  filter adds no delay), RMS per video frame (640 samples = 40 ms at 16 kHz, 25 fps), in dB full scale;
- syllable band: from both series their centred moving mean over 13 frames (0.52 s) is taken away, which
  keeps the syllable-rate ups and downs (about 2-12 Hz) and drops held postures: a laugh or smile with the
  lips apart in a quiet second, a mouth left open in a pause, slow changes of the speaking level. Centred, so
  it adds no delay. Without it one held open mouth in silence outweighed a whole real clip (docs/evaluation.md);
- correlation over lags [2 L + 1]: Pearson correlation of the syllable-band mouth[t] with the syllable-band
  loudness[t - d] for d = -L..L (L = 15 frames) over the frames where both are known. d > 0: the mouth
  follows the sound by d frames;
- offset: the lag of the highest correlation; confidence: that highest correlation (a number in [-1, 1],
  0 = no tie between mouth and sound). Also given: peak minus median over the lags;
- null: the same confidence, by the same function (`statistic`, one call for the clip's track and every
  null track), for 200 sound tracks whose loudness is shuffled in blocks of 1 s (25 frames, seeded): the
  mouth and the sound keep their own statistics and short-time structure, only their timing is broken.
  z = (confidence - null mean) / null std; p = (1 + #null >= confidence) / (1 + 200), one-sided.
"""
from __future__ import annotations

import numpy as np

from adnerf.mouth import (AUDIO_RATE, EYE_OUTER, FPS, INNER_LIP_PAIRS, SILENCE_DB, SPEECH_BAND,  # noqa: F401
                          mouth_opening, speech_loudness)

SAMPLES_PER_FRAME = AUDIO_RATE // FPS          # 640: 40 ms
MAX_LAG = 15                                   # frames either side, as SyncNet's offsets
N_NULL = 200
BLOCK_FRAMES = 25                              # 1 s blocks for the shuffled null
SYLLABLE_HIGHPASS = 13                         # frames of the moving mean taken away (0.52 s; 0: none)
MIN_FRAMES = 3 * BLOCK_FRAMES                  # shorter clips: too few block orders for a null


class LipSyncUndefined(ValueError):
    """The score cannot be computed on these series; str() says why (too short, a still mouth, silence)."""


def lagged_correlations(mouth: np.ndarray, loudness: np.ndarray, max_lag: int = MAX_LAG) -> np.ndarray:
    """mouth [N], loudness [R, N] or [N] -> Pearson correlation of mouth[t] with loudness[t - d] for
    d = -max_lag..max_lag: [R, 2 max_lag + 1] (or [2 max_lag + 1]). NaN frames are left out of each lag's
    pairs; a lag with under 10 pairs or a constant side gives NaN."""
    y_all = np.atleast_2d(np.asarray(loudness, dtype=np.float64))
    x_all = np.asarray(mouth, dtype=np.float64)
    n = x_all.shape[0]
    out = np.full((y_all.shape[0], 2 * max_lag + 1), np.nan)
    for j, d in enumerate(range(-max_lag, max_lag + 1)):
        lo, hi = max(0, d), min(n, n + d)                  # t in [lo, hi): t - d inside the series
        x, y = x_all[lo:hi], y_all[:, lo - d:hi - d]
        ok = np.isfinite(x)[None] & np.isfinite(y)         # [R, T]
        count = ok.sum(1)
        xs, ys = np.where(ok, x[None], 0.0), np.where(ok, y, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            mx, my = xs.sum(1) / count, ys.sum(1) / count
            dx, dy = np.where(ok, xs - mx[:, None], 0.0), np.where(ok, ys - my[:, None], 0.0)
            r = (dx * dy).sum(1) / np.sqrt((dx * dx).sum(1) * (dy * dy).sum(1))
        out[:, j] = np.where((count >= 10) & np.isfinite(r), r, np.nan)
    return out if np.ndim(loudness) == 2 else out[0]


def syllable_band(series: np.ndarray, width: int = SYLLABLE_HIGHPASS) -> np.ndarray:
    """series [R, N] or [N] -> the series minus its centred moving mean over `width` frames (same shape;
    NaN frames stay NaN and are bridged linearly for the mean, so a missing face shifts nothing)."""
    from scipy.ndimage import uniform_filter1d
    x = np.atleast_2d(np.asarray(series, dtype=np.float64))
    if width <= 1:
        return x if np.ndim(series) == 2 else x[0]
    known = np.isfinite(x)
    filled = x.copy()
    idx = np.arange(x.shape[1])
    for row, ok in zip(filled, known):
        if ok.any() and not ok.all():
            row[~ok] = np.interp(idx[~ok], idx[ok], row[ok])   # ends: the nearest known value
    out = np.where(known, filled - uniform_filter1d(filled, width, axis=1, mode="nearest"), np.nan)
    return out if np.ndim(series) == 2 else out[0]


def statistic(mouth: np.ndarray, loudness: np.ndarray, max_lag: int = MAX_LAG,
              highpass: int = SYLLABLE_HIGHPASS) -> tuple[np.ndarray, np.ndarray]:
    """mouth [N], loudness [R, N] -> (confidence [R], correlations [R, 2 max_lag + 1]): the syllable-band
    correlation over lags and its peak, for each loudness track. The clip's own track and the null's
    shuffled tracks all go through this one function, so the null is exactly comparable.
    highpass: the moving-mean width (0: plain correlation of the series, for comparisons)."""
    correlations = lagged_correlations(syllable_band(mouth, highpass), syllable_band(np.atleast_2d(loudness), highpass),
                                       max_lag)
    return _peak(correlations), correlations


def block_shuffles(n: int, count: int = N_NULL, block: int = BLOCK_FRAMES, seed: int = 0) -> np.ndarray:
    """count index orders [count, n] that keep blocks of `block` consecutive frames and shuffle their order."""
    rng = np.random.default_rng(seed)
    blocks = [np.arange(s, min(s + block, n)) for s in range(0, n, block)]
    return np.stack([np.concatenate([blocks[b] for b in rng.permutation(len(blocks))]) for _ in range(count)])


def _peak(correlations: np.ndarray) -> np.ndarray:
    """[..., lags] -> highest correlation [...] (NaN lags ignored)."""
    with np.errstate(invalid="ignore"):
        return np.nanmax(np.where(np.isfinite(correlations), correlations, -np.inf), axis=-1)


def sync_statistics(mouth: np.ndarray, loudness: np.ndarray, max_lag: int = MAX_LAG, n_null: int = N_NULL,
                    block: int = BLOCK_FRAMES, seed: int = 0, highpass: int = SYLLABLE_HIGHPASS) -> dict:
    """The score of one clip from mouth opening [N] and loudness [N] (see the module docstring).
    mouth_std and loudness_std are of the series as given (before the syllable band).

    Returns {confidence, offset, peak_minus_median, correlations [2 max_lag + 1], null_mean, null_std, z, p,
    n_null, n (frames with both series), mouth_std, loudness_std}. Raises LipSyncUndefined when the clip
    is too short, or the mouth or the sound does not change (a closed mouth, a muted track)."""
    mouth, loudness = np.asarray(mouth, dtype=np.float64), np.asarray(loudness, dtype=np.float64)
    if mouth.shape != loudness.shape or mouth.ndim != 1:
        raise ValueError(f"mouth {mouth.shape} and loudness {loudness.shape} must be series of one length")
    both = np.isfinite(mouth) & np.isfinite(loudness)
    n = int(both.sum())
    if n < max(MIN_FRAMES, 2 * max_lag + 10):
        raise LipSyncUndefined(f"{n} frames with both a face and sound: the score needs at least "
                               f"{max(MIN_FRAMES, 2 * max_lag + 10)} ({max(MIN_FRAMES, 2 * max_lag + 10) / FPS:.0f} s)")
    mouth_std, loud_std = float(np.std(mouth[both])), float(np.std(loudness[both]))
    if mouth_std < 1e-6:
        raise LipSyncUndefined("the mouth opening does not change (a closed or still mouth): nothing to correlate")
    if loud_std < 1e-3:
        raise LipSyncUndefined("the speech-band loudness does not change (a muted or constant track)")
    tracks = np.vstack([loudness[None], loudness[block_shuffles(len(loudness), n_null, block, seed)]])
    peaks, all_correlations = statistic(mouth, tracks, max_lag, highpass)         # [1 + n_null], [1 + n_null, lags]
    correlations = all_correlations[0]
    best = int(np.nanargmax(np.where(np.isfinite(correlations), correlations, -np.inf)))
    confidence = float(correlations[best])
    null = peaks[1:][np.isfinite(peaks[1:])]
    null_mean, null_std = float(null.mean()), float(null.std())
    return {"confidence": confidence, "offset": best - max_lag,
            "peak_minus_median": float(confidence - np.nanmedian(correlations)),
            "correlations": [None if not np.isfinite(c) else float(c) for c in correlations],
            "null_mean": null_mean, "null_std": null_std,
            "z": float((confidence - null_mean) / null_std) if null_std > 0 else None,
            "p": float((1 + np.sum(null >= confidence)) / (1 + len(null))), "n_null": int(len(null)),
            "n": n, "mouth_std": mouth_std, "loudness_std": loud_std}
