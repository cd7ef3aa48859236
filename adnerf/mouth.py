"""A per-frame mouth-opening signal: measured from 68-point landmarks, or predicted from the speech.

    mouth_opening(lms [N, 68, 2]) -> [N]                 inner-lip gap / inter-ocular distance (unitless)
    speech_loudness(samples [S], n_frames) -> [N]        speech-band RMS per 40 ms video frame, dB full scale
    band_loudness(samples [S], n_frames) -> [N, B]       the same in B bands, normalised per clip
    MouthPredictor.fit(bands [N, B], opening [N]) / .predict(bands [M, B]) -> [M]

Shared because three places must use one definition: preprocessing writes the opening of the training
video (step 7: ``mouth`` per frame of transforms_*.json), a head trained with ``--mouth_condition`` reads it,
driving predicts it from new audio (``--mouth audio``), and the lip-sync score measures it on renders.

Why a predictor at all (the GeneFace split: audio -> mouth -> field): the head's AudioNet learns the one
recording it is trained on and, driven by a foreign voice, barely moves the lips (docs/grid_backend.md).
A mouth that opens with the loudness of the syllables is what a viewer reads as "speaking", and loudness is
the part of speech that transfers between voices. So the predictor sees only per-clip normalised band
loudness at a few neighbouring frames: ridge regression, closed form, a few hundred numbers.
numpy (+ scipy for the filters).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from adnerf.errors import AdnerfError

FPS = 25
AUDIO_RATE = 16000
SPEECH_BAND = (300.0, 3000.0)        # Hz
SILENCE_DB = -100.0                  # loudness floor (digital silence)
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
EYE_OUTER = (36, 45)
PREDICTOR_BANDS = ((300.0, 800.0), (800.0, 1500.0), (1500.0, 3000.0), (3000.0, 6000.0))
PREDICTOR_LAGS = 4                   # frames either side the predictor sees (+-160 ms: a syllable)
PREDICTOR_RIDGE = 100.0              # ridge weight on standardised columns


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """landmarks [N, 68, 2] (NaN rows where no face was found) -> inner-lip gap / inter-ocular distance [N]."""
    lms = np.asarray(landmarks, dtype=np.float64)
    gap = np.mean([np.linalg.norm(lms[:, a] - lms[:, b], axis=-1) for a, b in INNER_LIP_PAIRS], axis=0)
    inter_ocular = np.linalg.norm(lms[:, EYE_OUTER[0]] - lms[:, EYE_OUTER[1]], axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(inter_ocular > 0, gap / inter_ocular, np.nan)


def speech_loudness(samples: np.ndarray, n_frames: int, rate: int = AUDIO_RATE,
                    band: tuple[float, float] = SPEECH_BAND) -> np.ndarray:
    """int16-valued mono audio [S] -> band RMS per video frame in dB full scale [n_frames]
    (NaN for frames past the end of the audio; SILENCE_DB for digital silence). The band-pass is a
    zero-phase Butterworth, so the filter adds no delay."""
    from scipy.signal import butter, sosfiltfilt
    x = np.asarray(samples, dtype=np.float64) / 32768.0
    per_frame = rate // FPS
    out = np.full(n_frames, np.nan)
    n_audio = min(n_frames, len(x) // per_frame)
    if n_audio < 1:
        return out
    if len(x) > 3 * 12 + 1:   # sosfiltfilt needs a few samples more than its padding
        x = sosfiltfilt(butter(4, band, btype="bandpass", fs=rate, output="sos"), x)
    rms = np.sqrt(np.mean(x[:n_audio * per_frame].reshape(n_audio, per_frame) ** 2, axis=1))
    out[:n_audio] = np.maximum(20 * np.log10(np.maximum(rms, 1e-12)), SILENCE_DB)
    return out


def band_loudness(samples: np.ndarray, n_frames: int, rate: int = AUDIO_RATE,
                  bands=PREDICTOR_BANDS) -> np.ndarray:
    """Audio [S] -> [n_frames, B] loudness of each band, normalised per clip: (dB - median) / (90th - 10th
    percentile), so that a quiet and a loud recording, or two voices, land on one scale. Frames past the
    end of the audio take the clip's quietest level (silence)."""
    cols = []
    for band in bands:
        db = speech_loudness(samples, n_frames, rate, band)
        known = db[np.isfinite(db)]
        if known.size == 0:
            raise AdnerfError(f"the audio is shorter than one video frame ({len(samples)} samples)")
        db = np.where(np.isfinite(db), db, known.min())
        spread = np.percentile(db, 90) - np.percentile(db, 10)
        cols.append((db - np.median(db)) / max(spread, 1e-6))
    return np.stack(cols, axis=1)


def lagged(bands: np.ndarray, lags: int = PREDICTOR_LAGS) -> np.ndarray:
    """[N, B] -> [N, (2 lags + 1) B]: each frame with its neighbours (edges repeat); column k B + b holds
    band b at frame t + k - lags."""
    n = len(bands)
    padded = np.pad(bands, ((lags, lags), (0, 0)), mode="edge")
    return np.concatenate([padded[k: k + n] for k in range(2 * lags + 1)], axis=1)


@dataclass
class MouthPredictor:
    """Ridge regression from lagged band loudness to mouth opening, with its standardisation, scaled so that
    its predictions on the training frames vary as much as the measured opening (a ridge fit of a weak
    correlate shrinks towards the mean: a mouth that barely moves reads as mumbling).

    mean, std, weights: [(2 lags + 1) B]; bias, gain: floats; lags: frames either side."""
    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: float
    gain: float
    lags: int = PREDICTOR_LAGS

    @classmethod
    def fit(cls, bands: np.ndarray, opening: np.ndarray, lags: int = PREDICTOR_LAGS,
            ridge: float = PREDICTOR_RIDGE) -> "MouthPredictor":
        """bands [N, B] (band_loudness of the frames), opening [N] (NaN: frames left out)."""
        x, y = lagged(np.asarray(bands, np.float64), lags), np.asarray(opening, np.float64)
        keep = np.isfinite(y) & np.isfinite(x).all(1)
        if keep.sum() < 2 * x.shape[1] or np.std(y[keep]) <= 0:
            raise AdnerfError(f"too few frames with a measured, moving mouth to fit the mouth predictor "
                              f"({int(keep.sum())} of {len(y)}; needs {2 * x.shape[1]})")
        x, y = x[keep], y[keep]
        mean, std = x.mean(0), x.std(0) + 1e-9
        z = (x - mean) / std
        weights = np.linalg.solve(z.T @ z + ridge * np.eye(z.shape[1]), z.T @ (y - y.mean()))
        spread = np.std(z @ weights)
        gain = float(np.std(y) / spread) if spread > 0 else 1.0
        return cls(mean, std, weights, float(y.mean()), gain, lags)

    def predict(self, bands: np.ndarray) -> np.ndarray:
        """bands [M, B] -> predicted opening [M] (>= 0)."""
        z = (lagged(np.asarray(bands, np.float64), self.lags) - self.mean) / self.std
        if z.shape[1] != self.weights.shape[0]:
            raise AdnerfError(f"the mouth predictor reads {self.weights.shape[0]} columns, got {z.shape[1]}")
        return np.maximum(self.bias + self.gain * (z @ self.weights), 0.0)

    def state(self) -> dict:
        """Plain lists and floats (a checkpoint entry that torch.load(weights_only=True) reads back)."""
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "weights": self.weights.tolist(),
                "bias": self.bias, "gain": self.gain, "lags": self.lags}

    @classmethod
    def from_state(cls, state: dict) -> "MouthPredictor":
        try:
            arrays = [np.asarray(state[k], dtype=np.float64) for k in ("mean", "std", "weights")]
            bias, gain, lags = float(state["bias"]), float(state["gain"]), int(state["lags"])
        except (KeyError, TypeError, ValueError) as exc:
            raise AdnerfError(f"the checkpoint's mouth predictor is incomplete or not numbers ({exc})") from exc
        if len({a.shape for a in arrays}) != 1 or arrays[0].ndim != 1 or \
                not all(np.isfinite(a).all() for a in arrays) or not np.isfinite([bias, gain]).all():
            raise AdnerfError("the checkpoint's mouth predictor holds arrays of unequal length or NaN / inf")
        return cls(*arrays, bias, gain, lags)
