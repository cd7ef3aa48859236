"""The lip-sync score of clips (frames + their sound): landmarks and audio in, report entries out.

The maths is in evaluation/metrics/lipsync.py; here the mouth opening of each frame comes from dlib's
68-point landmarks (adnerf.landmarks, offline, the same detector on every machine, so that numbers of
different runs compare), and the sound from the clip's audio (16 kHz mono, aligned with frame 0).
Entries: ``lipsync`` (the generated clip with its driving audio) and ``lipsync_gt`` (the ground truth with
its own sound); for ``evaluate.py --video`` only ``lipsync`` (a driven video with its own sound track).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from adnerf.errors import AdnerfError
from adnerf.media import has_audio_stream, read_audio
from evaluation.driving_audio import ClipAudio
from evaluation.metrics import lipsync
from evaluation.weights import MetricUnavailable

LANDMARK_BACKEND = "dlib"
ENTRIES = [("lipsync", "Lip sync (mouth opening vs loudness)", "", "higher"),
           ("lipsync_gt", "Lip sync ground truth", "", "higher")]


def mouth_openings(frames: list[np.ndarray], progress: bool = False) -> np.ndarray:
    """uint8 RGB frames [H, W, 3] -> mouth opening per frame [N] (NaN where dlib finds no face)."""
    from adnerf.landmarks import LandmarkBackendUnavailable, detect_landmarks
    try:
        found = detect_landmarks(frames, LANDMARK_BACKEND, "cpu", progress=progress)
    except LandmarkBackendUnavailable as e:
        raise MetricUnavailable(f"lip sync needs dlib's landmarks: {e}") from e
    lms = np.stack([f if f is not None else np.full((68, 2), np.nan) for f in found]) if found else np.zeros((0, 68, 2))
    return lipsync.mouth_opening(lms)


def clip_entry(frames: list[np.ndarray], samples: np.ndarray, progress: bool = False) -> dict:
    """The report entry of one clip: frames [N] and int16-valued 16 kHz audio [S] that starts with frame 0."""
    opening = mouth_openings(frames, progress)
    if len(opening) and np.isnan(opening).all():
        raise MetricUnavailable(f"no face found by the dlib landmark detector in any of the {len(opening)} frames")
    loudness = lipsync.speech_loudness(samples, len(frames))
    try:
        stats = lipsync.sync_statistics(opening, loudness)
    except lipsync.LipSyncUndefined as e:
        raise MetricUnavailable(str(e)) from e
    missing = int(np.isnan(opening).sum())
    entry = {"value": stats["confidence"], "offset": stats["offset"], "n_what": "frames",
             "per_frame": [None if np.isnan(v) else float(v) for v in opening], **stats}
    del entry["confidence"]
    entry["note"] = (f"peak correlation of mouth opening ({LANDMARK_BACKEND} landmarks) with speech loudness over "
                     f"+-{lipsync.MAX_LAG} frames, syllable band ({lipsync.SYLLABLE_HIGHPASS}-frame moving mean "
                     "taken away); "
                     f"null of {stats['n_null']} 1 s block-shuffled tracks: mean {stats['null_mean']:.2f}, "
                     f"z {_fmt(stats['z'], '.1f')}, p {stats['p']:.3f}; mouth-opening std {stats['mouth_std']:.4f}")
    if missing:
        entry["skipped"] = missing
        entry["note"] += f"; {missing} frames without a face left out"
    return entry


def _fmt(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _clip_or_reason(frames: list[np.ndarray], audio: ClipAudio, progress: bool) -> dict:
    if audio.samples is None:
        return {"unavailable": audio.description}
    try:
        return clip_entry(frames, audio.samples, progress)
    except MetricUnavailable as e:
        return {"unavailable": str(e)}


def lipsync_metric(inp, opts) -> dict:
    """lipsync / lipsync_gt of an evaluation's inputs (evaluation.inputs.EvalInputs): every generated frame
    with the driving audio, every ground-truth frame with its own."""
    return {"lipsync": _clip_or_reason(inp.gen_all.frames, inp.gen_audio, opts.progress),
            "lipsync_gt": _clip_or_reason(inp.gt_all.frames, inp.gt_audio, opts.progress)}


def driven_video_audio(path: str | Path) -> ClipAudio:
    """The sound track of a driven video, or the reason there is none."""
    path = Path(path)
    if not has_audio_stream(path):
        return ClipAudio(None, f"{path} has no audio stream: mux the driving sound in (the NeRFs' --with_audio, "
                               "or add_audio) to score its lip sync")
    try:
        return ClipAudio(read_audio(path), f"the sound of {path}")
    except AdnerfError as e:
        return ClipAudio(None, str(e))
