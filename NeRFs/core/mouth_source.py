"""The mouth signal of heads trained with ``--mouth_condition``: fitted when training, chosen when driving.

    fit_mouth_predictor(root, frames) -> MouthPredictor state: aud.wav's band loudness -> the frames' mouth
    driving_mouth(choice, ids, predictor, camera, pose_frames, pose_source, sound) -> float32 [n] opening

The head is trained on each frame's measured mouth opening (step 7's ``mouth``), so the field learns what an
open and a closed mouth look like; the sound decides how far the mouth opens when driving (``--mouth``):

- ``audio``: predicted from the driving sound's per-clip normalised band loudness by the predictor fitted on
  the training video (adnerf.mouth.MouthPredictor): any voice, any loudness;
- ``pose``: the ``mouth`` values recorded with the poses (transforms_val.json: the person's own mouth on the
  frames whose poses are used; it shows what the field can render, it is not audio-driven);
- a path to an .npy [M] of mouth openings (a shorter one repeats, as the poses do);
- ``auto``: ``audio``.

The sound is the .wav of ``--aud_file`` (the file itself, or the .wav beside a .npy of the same stem: aud.npy
-> aud.wav), else ``--with_audio``; frame t of the features is frame t of the sound (both 25 per second).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from adnerf.media import read_wav
from adnerf.mouth import FPS, AUDIO_RATE, MouthPredictor, band_loudness

from .dataset import FrameSet, pose_signal
from .utils import UserError

MOUTH_CHOICES = ("auto", "audio", "pose")


def sound_bands(wav: Path, n_frames: int) -> np.ndarray:
    """A .wav -> its band loudness [max(n_frames, frames of the sound), B], one row per 40 ms video frame."""
    samples, _ = read_wav(wav)
    return band_loudness(samples, max(n_frames, int(np.ceil(len(samples) * FPS / AUDIO_RATE))))


def fit_mouth_predictor(root: Path, frames: FrameSet) -> dict:
    """The MouthPredictor state fitted on the training frames: <root>/aud.wav's bands at their aud_ids ->
    their measured opening ``frames.mouth`` [N]."""
    wav = Path(root) / "aud.wav"
    if not wav.is_file():
        raise UserError(f"--mouth_condition fits the mouth to the sound of the training video, {wav}, which is "
                        f"missing: re-run preprocessing step 0, or train without --mouth_condition")
    if frames.mouth is None:
        raise UserError(f"--mouth_condition needs the mouth opening of every training frame ('mouth' in "
                        f"{Path(root) / 'transforms_train.json'}): re-run preprocessing step 7")
    bands = sound_bands(wav, int(frames.aud_ids.max()) + 1)
    return MouthPredictor.fit(bands[frames.aud_ids], frames.mouth.numpy()).state()


def driving_sound(aud_source: str, datadir: str, with_audio: str | None) -> Path | None:
    """The .wav whose sound drives the mouth: --aud_file's own or same-stem .wav, else --with_audio."""
    given = Path(aud_source)
    path = given if given.is_absolute() or given.is_file() else Path(datadir) / given
    for wav in (path, path.with_suffix(".wav")):
        if wav.suffix.lower() == ".wav" and wav.is_file():
            return wav
    return Path(with_audio) if with_audio and Path(with_audio).is_file() else None


def driving_mouth(choice: str, ids: list[int], predictor: dict, pose_frames: list[dict], pose_source: Path,
                  sound: Path | None) -> np.ndarray:
    """The mouth opening [n] of the n driven frames: frame i has audio frame ids[i] and pose i % len(poses)."""
    n = len(ids)
    if choice in ("auto", "audio"):
        if sound is None:
            raise UserError("--mouth audio predicts the mouth from the driving sound, but no .wav was found: "
                            "pass the .wav as --aud_file (or put one of the same name beside the .npy, or "
                            "name it with --with_audio), or use --mouth pose")
        bands = sound_bands(sound, max(ids) + 1)
        signal = MouthPredictor.from_state(predictor).predict(bands)[np.asarray(ids)]
    elif choice == "pose":
        signal = pose_signal(pose_frames, "mouth", pose_source, n, "--mouth", "--mouth audio")
    else:
        signal = np.resize(reference_mouth(Path(choice)), n)
    return np.asarray(signal, dtype=np.float32)


def reference_mouth(path: Path) -> np.ndarray:
    """An .npy [M] of mouth openings (inner-lip gap / inter-ocular distance, finite, >= 0)."""
    if path.suffix.lower() != ".npy" or not path.is_file():
        raise UserError(f"--mouth {path}: not an existing .npy (expected {', '.join(MOUTH_CHOICES)} or an .npy "
                        f"of mouth openings)")
    try:
        values = np.asarray(np.load(path), dtype=np.float64).reshape(-1)
    except (ValueError, OSError) as exc:
        raise UserError(f"--mouth {path}: cannot read it as an array of mouth openings ({exc})") from exc
    if values.size == 0 or not np.isfinite(values).all() or (values < 0).any():
        raise UserError(f"--mouth {path}: the mouth signal is empty or holds NaN, inf or negative values")
    return values
