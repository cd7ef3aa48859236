"""The audio that Sync-C / Sync-D score each clip against, aligned with the clip's first frame.

Generated clip (first found):
1. ``--audio FILE`` from ``--audio_start`` (25 fps frames, default 0);
2. the sound of the generated video itself (``--gen_video`` with an audio track), or of the driving run's
   ``video_with_audio.mp4`` next to the generated frames: that is exactly the audio the frames were driven by;
3. the dataset's ``aud.wav`` from the first validation frame's ``aud_id`` (right for a render of the validation
   frames driven with ``--aud_from_pose``; wrong for consecutive frames only when testskip > 1, so then
   unavailable).
Ground-truth clip: the dataset's ``aud.wav`` from the first validation frame's ``aud_id`` for the default
ground truth, else the sound of ``--gt_video``, else the generated clip's audio.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adnerf.constants import FPS
from adnerf.errors import AdnerfError as AudioError
from adnerf.media import has_audio_stream, read_audio
from adnerf.sequence_record import VIDEO_WITH_AUDIO_NAME

__all__ = ["AudioError", "ClipAudio", "has_audio_stream", "read_audio", "generated_clip_audio",
           "ground_truth_clip_audio", "speech_correlation", "driving_mismatch_note"]


@dataclass
class ClipAudio:
    """Mono 16 kHz int16-valued samples [S] aligned with a clip's frame 0, or None with the reason."""
    samples: np.ndarray | None
    description: str            # where it came from, or why there is none


def _load(path: Path, start_frame: int, what: str) -> ClipAudio:
    if not path.is_file():
        return ClipAudio(None, f"no driving audio: {path} not found (pass --audio WAV)")
    try:
        samples = read_audio(path, start_frame / FPS)
    except AudioError as e:
        return ClipAudio(None, str(e))
    return ClipAudio(samples, f"{what} {path} from frame {start_frame} ({start_frame / FPS:.2f} s)")


def generated_clip_audio(audio: str | None, audio_start: int | None, gen_path: Path, gen_is_video: bool,
                         dataset_dir: Path | None, val_frames: list | None, testskip: int) -> ClipAudio:
    """The audio the generated frames were driven by (see the module docstring for the order)."""
    if audio:
        return _load(Path(audio), audio_start or 0, "driving audio (--audio)")
    folder = gen_path.parent if gen_is_video else gen_path
    for own in ([gen_path] if gen_is_video else []) + [folder / VIDEO_WITH_AUDIO_NAME]:
        if has_audio_stream(own):
            return _load(own, audio_start or 0, "driving audio: the sound of")
    if dataset_dir is None:
        return ClipAudio(None, "no driving audio: pass --audio (or --subject with a dataset that has aud.wav)")
    if testskip > 1:
        return ClipAudio(None, f"the generated frames are every {testskip}th validation frame (testskip), not a "
                               "continuous clip, and no video_with_audio.mp4 says what drove them: pass --audio")
    start = audio_start if audio_start is not None else int(val_frames[0].get("aud_id", val_frames[0]["img_id"]))
    return _load(dataset_dir / "aud.wav", start, "driving audio: the dataset's")


def ground_truth_clip_audio(gen_audio: ClipAudio, default_gt: bool, gt_video: str | None,
                            dataset_dir: Path | None, val_frames: list | None) -> ClipAudio:
    """The audio that goes with the ground-truth frames."""
    if default_gt:   # the validation frames were filmed with the dataset's sound
        start = int(val_frames[0].get("aud_id", val_frames[0]["img_id"]))
        return _load(dataset_dir / "aud.wav", start, "ground-truth audio: the dataset's")
    if gt_video and has_audio_stream(Path(gt_video)):
        return _load(Path(gt_video), 0, "ground-truth audio: the sound of")
    if gen_audio.samples is not None:
        return ClipAudio(gen_audio.samples, "ground-truth audio: the generated clip's (" + gen_audio.description + ")")
    return ClipAudio(None, gen_audio.description)


def speech_correlation(a: np.ndarray, b: np.ndarray, seconds: float = 2.0) -> float:
    """Normalised correlation of the first seconds of two 16 kHz clips [S] (1 = same sound, ~0 = other
    speech or shifted; lossy AAC keeps it well above 0.5). NaN when either is silent or empty."""
    n = min(len(a), len(b), int(seconds * 16000))
    if n < 1600:
        return float("nan")
    x, y = a[:n].astype(np.float64), b[:n].astype(np.float64)
    x, y = x - x.mean(), y - y.mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def driving_mismatch_note(gen: ClipAudio, gt: ClipAudio) -> str | None:
    """A note when the generated clip was driven by other sound than the ground truth was filmed with."""
    if gen.samples is None or gt.samples is None or gen.samples is gt.samples:
        return None
    corr = speech_correlation(gen.samples, gt.samples)
    if np.isfinite(corr) and corr < 0.5:
        return (f"the driving audio differs from the ground truth's (correlation {corr:.2f} over the first 2 s): "
                "the frames speak other words (or the audio is shifted), so PSNR / SSIM / LPIPS / LMD compare "
                "different mouths; re-render with --aud_from_pose to compare like with like")
    return None
