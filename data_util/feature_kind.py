"""What kind of speech features an aud .npy holds, recorded beside it, and the refusal of another kind.

    feature_kind(backend, **details) -> {"backend", "model", "revision", "channels"}
    write_sidecar(npy, kind, **extra)          <npy stem>.json beside every aud .npy that step 0 writes
    read_sidecar(npy) -> kind or None
    dataset_feature_kind(datadir) -> kind or None   (preprocess.json, steps.audio)
    check_feature_kind(path, datadir)          the one-line refusal used when driving a trained model

A model learns from its dataset's features (AudioNet reads their channels), so it only understands that
kind: DeepSpeech logits (29), normalised MFCC (26) and HuBERT hidden states (1024) are different inputs,
and so are two revisions of one model. The kind is recorded in preprocess.json (steps.audio.feature_kind)
and in a sidecar ``aud.json`` beside ``aud.npy`` (any ``<name>.npy`` gets ``<name>.json``), so a .npy
carried elsewhere keeps it. Keys that one side does not know (files of the original AD-NeRF, datasets of
earlier versions) are not compared; the channel count always is.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from data_util.common import StepError, save_json

KIND_KEYS = ("backend", "model", "revision", "channels")
CHANNELS = {"deepspeech": 29, "mfcc": 26, "hubert": 1024}
MODELS = {"deepspeech": "deepspeech-0.1.0 (osmr/deepspeech_features v0.0.1)",
          "mfcc": "python_speech_features mfcc, 26 per row, normalised per clip"}


def feature_kind(backend: str, *, model: str | None = None, revision: str | None = None,
                 channels: int | None = None) -> dict:
    """The kind of ``backend``'s features; for hubert the model id and revision come from speech_model."""
    if backend == "hubert":
        from data_util.speech_model import HUBERT_REPO, HUBERT_REVISION, HUBERT_WEIGHTS_SHA256
        model = model or HUBERT_REPO
        revision = revision or f"{HUBERT_REVISION} (weights sha256 {HUBERT_WEIGHTS_SHA256[:16]})"
    return {"backend": backend, "model": model or MODELS.get(backend), "revision": revision,
            "channels": int(channels or CHANNELS.get(backend) or 0) or None}


def describe(kind: dict) -> str:
    """e.g. 'hubert (facebook/hubert-large-ls960-ft, 1024 channels)', 'unrecorded (29 channels)'."""
    details = [str(kind["model"])] if kind.get("backend") == "hubert" and kind.get("model") else []
    details += [f"{kind['channels']} channels"] if kind.get("channels") else []
    name = kind.get("backend") or "unrecorded"
    return f"{name} ({', '.join(details)})" if details else name


def differences(a: dict, b: dict, keys: tuple[str, ...] = KIND_KEYS) -> list[str]:
    """The ``keys`` that both kinds know and that differ."""
    return [k for k in keys if a.get(k) is not None and b.get(k) is not None and a[k] != b[k]]


def sidecar_path(npy: str | os.PathLike) -> Path:
    return Path(npy).with_suffix(".json")


def write_sidecar(npy: str | os.PathLike, kind: dict, **extra) -> Path:
    """<npy>.json = {"feature_kind": kind, **extra}, atomically."""
    path = sidecar_path(npy)
    save_json(path, {"feature_kind": kind, "features": Path(npy).name, **extra})
    return path


def read_sidecar(npy: str | os.PathLike) -> dict | None:
    """The kind recorded beside ``npy`` (None without a sidecar); StepError for an unreadable one."""
    path = sidecar_path(npy)
    if not path.is_file():
        return None
    try:
        kind = json.loads(path.read_text()).get("feature_kind")
    except (OSError, ValueError, AttributeError) as exc:
        raise StepError(f"cannot read {path} (the kind of {Path(npy).name}): {exc}; delete it, or compute the "
                        f"features again") from exc
    return kind if isinstance(kind, dict) else None


def dataset_feature_kind(datadir: str | os.PathLike) -> dict | None:
    """The kind of a dataset's features from preprocess.json (steps.audio): the recorded feature_kind, else
    (a dataset of an earlier version) the one of its recorded backend; None without a record of step 0."""
    path = Path(datadir) / "preprocess.json"
    try:
        step = (json.loads(path.read_text()).get("steps") or {}).get("audio")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(step, dict):
        return None
    if isinstance(step.get("feature_kind"), dict):
        return step["feature_kind"]
    backend = step.get("backend") or (step.get("options") or {}).get("backend")
    return feature_kind(backend, revision=None, channels=step.get("channels")) if backend else None


def npy_channels(path: Path) -> int | None:
    """C of an [N, 16, C] .npy, read from its header (None when it is not such an array)."""
    try:
        arr = np.load(path, mmap_mode="r")
    except (OSError, ValueError):
        return None
    return int(arr.shape[2]) if arr.ndim == 3 else None


def check_dataset_features(datadir: str | os.PathLike) -> dict | None:
    """The dataset's recorded kind, after checking that its aud.npy holds that many channels."""
    kind = dataset_feature_kind(datadir)
    npy = Path(datadir) / "aud.npy"
    found = npy_channels(npy) if kind and npy.is_file() else None
    if found is not None and kind.get("channels") and found != kind["channels"]:
        raise StepError(f"{npy} holds {found} channels, but {Path(datadir) / 'preprocess.json'} records "
                        f"{describe(kind)} features: the dataset is inconsistent; re-run preprocessing step 0 "
                        f"with --force (and train again)")
    return kind


def check_feature_kind(path: str | os.PathLike, datadir: str | os.PathLike) -> None:
    """Refuse, in one line, driving features of another kind than the dataset's (the trained model's).

    path: the --aud_file to drive with. A .npy is compared through its sidecar (its kind) and its width (its
    channels); a .wav is computed with the dataset's own backend, so only the dataset itself is checked.
    """
    kind = check_dataset_features(datadir)
    path = Path(path)
    if kind is None or path.suffix.lower() != ".npy" or not path.is_file():
        return
    given = read_sidecar(path)
    if given is None:
        found = npy_channels(path)
        given = {"channels": found} if found else None
    changed = differences(given or {}, kind)
    if changed:
        raise StepError(f"{path} holds {describe(given)} features, but the model of {datadir} was trained on "
                        f"{describe(kind)} ({', '.join(changed)} differ{'s' if len(changed) == 1 else ''}): "
                        f"compute them with the dataset's backend, e.g. pass the .wav itself as --aud_file")
