"""A speech-like voice and the mouth opening that goes with it, for the generated demo sample.

    speech_track(seconds, seed, rate=16000, fps=25) -> SpeechTrack(wave [T] float32 in [-1, 1],
                                                                   mouth [N] float64 in [0, 1])

No recording of a real voice may be shipped, so the voice is synthesised the way a formant synthesiser
does it: a glottal pulse train (pitch varying within and across phrases) filtered by three vowel formant
resonators, syllable by syllable, with short consonant-like noise bursts at syllable onsets and pauses
between phrases. MFCC features (the offline audio backend) therefore change with the vowel and with the
loudness, and the mouth opening per video frame follows the same syllable envelope (open vowels open the
mouth wider and are louder), so a NeRF can learn the lips from the audio.
Everything is a function of ``seed``: the same seed gives the same samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from adnerf.constants import AUDIO_RATE, FPS

# vowel -> (formant frequencies F1, F2, F3 in Hz (an adult female voice), mouth openness 0..1)
VOWELS = {
    "a": ((850.0, 1250.0, 2800.0), 1.00),
    "e": ((560.0, 1950.0, 2750.0), 0.65),
    "o": ((580.0, 950.0, 2650.0), 0.70),
    "i": ((320.0, 2350.0, 3050.0), 0.35),
    "u": ((350.0, 880.0, 2550.0), 0.40),
}
FORMANT_BANDWIDTHS = (90.0, 110.0, 170.0)   # Hz, typical for F1..F3
LEAD_IN_S = 0.3                             # silence at the start (closed mouth)


@dataclass
class Syllable:
    start: float        # seconds, start of the vowel envelope
    duration: float     # seconds, length of the vowel envelope
    vowel: str
    f0: tuple[float, float]    # pitch at start and end (Hz)
    stress: float       # 0.6 .. 1.0, scales loudness and opening
    consonant: bool     # a short noise burst before the vowel


@dataclass
class SpeechTrack:
    wave: np.ndarray    # [T] float32, T = seconds * rate
    mouth: np.ndarray   # [N] float64 in [0, 1], N = seconds * fps, mouth opening per video frame
    rate: int
    fps: int


def plan_syllables(seconds: float, rng: np.random.Generator) -> list[Syllable]:
    """Phrases of 4-9 syllables (0.13-0.28 s each) separated by 0.2-0.5 s pauses, pitch falling per phrase."""
    syllables: list[Syllable] = []
    t = LEAD_IN_S
    vowels = list(VOWELS)
    while True:
        n = int(rng.integers(4, 10))
        base_f0 = rng.uniform(185.0, 235.0)
        for k in range(n):
            duration = rng.uniform(0.13, 0.28)
            if t + duration > seconds - 0.25:
                return syllables
            decline = 1.0 - 0.15 * k / max(n - 1, 1)      # declination over the phrase
            stress = rng.uniform(0.6, 1.0)
            f0_start = base_f0 * decline * (1.0 + 0.12 * (stress - 0.8))
            f0_end = f0_start * rng.uniform(0.93, 1.05)
            syllables.append(Syllable(t, duration, vowels[int(rng.integers(len(vowels)))], (f0_start, f0_end),
                                      stress, bool(rng.random() < 0.6)))
            # neighbouring syllables overlap a little: the mouth rarely closes completely inside a phrase
            t += duration * rng.uniform(0.7, 0.9)
        t += rng.uniform(0.2, 0.5)


def syllable_envelope(n_samples: int) -> np.ndarray:
    """[n] raised-sine attack (35 %), plateau, raised-sine release (35 %), peak 1."""
    x = np.linspace(0.0, 1.0, n_samples)
    env = np.ones(n_samples)
    rise, fall = x < 0.35, x > 0.65
    env[rise] = 0.5 - 0.5 * np.cos(np.pi * x[rise] / 0.35)
    env[fall] = 0.5 - 0.5 * np.cos(np.pi * (1.0 - x[fall]) / 0.35)
    return env


def glottal_source(f0: np.ndarray, rate: int, rng: np.random.Generator) -> np.ndarray:
    """[n] pulse train at the per-sample pitch f0 [n] (Hz), tilted like a glottal flow derivative, plus breath."""
    phase = np.cumsum(f0 / rate)
    pulses = np.diff(np.floor(phase), prepend=np.floor(phase[0])).astype(np.float64)
    # two one-pole low-passes: the glottal pulse's spectral tilt (-12 dB/octave)
    tilted = lfilter([1.0], [1.0, -0.96], lfilter([1.0], [1.0, -0.96], pulses))
    return tilted + 0.02 * rng.standard_normal(len(f0)) * np.abs(tilted).max()


def formant_filter(x: np.ndarray, formants: tuple[float, ...], rate: int) -> np.ndarray:
    """[n] -> [n]: a cascade of two-pole resonators (one per formant), then lip radiation (+6 dB/octave)."""
    for freq, bandwidth in zip(formants, FORMANT_BANDWIDTHS):
        r = np.exp(-np.pi * bandwidth / rate)
        theta = 2.0 * np.pi * freq / rate
        a = [1.0, -2.0 * r * np.cos(theta), r * r]
        x = lfilter([sum(a)], a, x)                  # unity gain at 0 Hz
    return np.diff(x, prepend=0.0)


def consonant_burst(n_samples: int, rng: np.random.Generator) -> np.ndarray:
    """[n] a fricative-like burst: high-passed noise under a short raised-sine window, RMS ~1."""
    noise = np.diff(rng.standard_normal(n_samples + 1))      # first difference: energy at high frequencies
    burst = noise * np.hanning(n_samples)
    return burst / (np.sqrt(np.mean(burst ** 2)) + 1e-12)


def speech_track(seconds: float, seed: int | list[int], rate: int = AUDIO_RATE, fps: int = FPS) -> SpeechTrack:
    """Synthesise ``seconds`` of speech-like audio and the per-frame mouth opening (see the module docstring)."""
    rng = np.random.default_rng(seed)
    n_total = int(round(seconds * rate))
    wave = np.zeros(n_total)
    mouth_curve = np.zeros(n_total)          # per-sample opening, averaged per video frame below
    for syl in plan_syllables(seconds, rng):
        start, n = int(syl.start * rate), int(syl.duration * rate)
        n = min(n, n_total - start)
        formants, openness = VOWELS[syl.vowel]
        level = openness * syl.stress
        f0 = np.linspace(syl.f0[0], syl.f0[1], n) * (1.0 + 0.01 * rng.standard_normal())
        voiced = formant_filter(glottal_source(f0, rate, rng), formants, rate)
        voiced /= np.sqrt(np.mean(voiced ** 2)) + 1e-12        # every vowel at RMS 1 before its level
        env = syllable_envelope(n)
        wave[start:start + n] += voiced * env * level
        mouth_curve[start:start + n] += env * level
        if syl.consonant:
            n_burst = int(rng.uniform(0.03, 0.05) * rate)
            b0 = max(start - n_burst // 2, 0)
            wave[b0:b0 + n_burst] += 0.12 * consonant_burst(n_burst, rng)[: n_total - b0]
    wave *= 0.5 / max(np.abs(wave).max(), 1e-9)
    hop = rate // fps
    n_frames = n_total // hop
    mouth = mouth_curve[: n_frames * hop].reshape(n_frames, hop).mean(axis=1)
    mouth = np.clip(mouth / max(mouth.max(), 1e-9), 0.0, 1.0)
    return SpeechTrack(wave.astype(np.float32), mouth, rate, fps)


def frame_envelope(wave: np.ndarray, rate: int = AUDIO_RATE, fps: int = FPS) -> np.ndarray:
    """[T] -> [N]: RMS of the audio in each video frame's window (N = T // (rate / fps))."""
    hop = rate // fps
    n = len(wave) // hop
    return np.sqrt(np.mean(np.asarray(wave[: n * hop], np.float64).reshape(n, hop) ** 2, axis=1))
