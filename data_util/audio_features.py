"""Preprocessing step 0: the video's sound -> aud.wav (16 kHz, channels kept) and speech features aud.npy [N, 16, C].

    run_audio(dataset_dir, *, video, backend="deepspeech", deepspeech_graph=None, model_dir=None,
              force=False, progress=True) -> dict record
    compute_features(wav_path, backend="deepspeech", graph_path=None, *, num_frames=None, ...) -> [N, 16, C]
    dataset_audio_options(datadir) -> {"backend": ..., "graph_path": ...}   (what driving with a .wav uses)

Every backend gives a timeline of feature rows at 50 per second (row t covers the audio around t/50 s);
the windowing is the original's: rows interpolated onto k/50, 8 zero rows padded at each end, windows of
16 rows with stride 2, so window n is centred on video frame n (time n/25) and N = frames at 25 fps.

Backends (one signature, chosen by name):
- ``deepspeech`` (default, the original): raw logits of the DeepSpeech 0.1.0 graph, C = 29. Input per row:
  26 MFCC (python_speech_features defaults, 100 per second, every 2nd kept) with 9 zero-padded context
  rows on each side (19 x 26 = 494 values), normalised by one global mean and std over the utterance.
- ``mfcc`` (offline, no model): the same 26 MFCC rows (c0 = log frame energy), each channel normalised to
  zero mean and unit standard deviation over the utterance (values within a few units, like the logits),
  C = 26. The NeRF's AudioNet takes its input width from aud.npy, so both train the same way.
- ``hubert`` (downloads the pinned facebook/hubert-large-ls960-ft from the Hugging Face hub, see speech_model):
  the encoder's last hidden state, 50 rows per second aligned as DeepSpeech's rows, C = 1024.

The kind of features (backend, model, revision, C; feature_kind) is recorded in preprocess.json and in a
sidecar aud.json beside aud.npy, so that a model trained on one kind refuses another (feature_kind).

Audio channel (``audio_channel``, step 0 and driving with a .wav alike): "first" (default, the original's
choice: the first channel of a multi-channel file) or "mix" (the mean of all channels). With "first", a
console warning says so when that channel is silent while another is not.

Frame count: with a video (step 0) N = the video's frames at 25 fps (data_util.frames counts them), so
aud.npy and ori_imgs always agree; the 50-per-second timeline is then 2N rows (the last logits row is
held where the sound ends early). Without a video (a .wav to drive with) N = ceil((round(50 * seconds) - 1) / 2),
the original's count (it drops the last 50-per-second row before padding).
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import wave
from pathlib import Path

import numpy as np

from adnerf.errors import check_choice
from adnerf.media import AUDIO_CHANNELS, ffmpeg_exe, read_wav
from data_util.common import AUDIO_RATE, FPS, StepError, atomic_path, save_npy
from data_util.deepspeech_graph import fetch_deepspeech_graph, file_sha1, run_deepspeech_graph
from data_util.feature_kind import CHANNELS, describe, differences, feature_kind, read_sidecar, write_sidecar

VERSION = 2  # 2: channels kept in aud.wav (the first one used by default), the original's last-row drop
BACKENDS = ("deepspeech", "mfcc", "hubert")
ROW_RATE = 50           # feature rows per second (DeepSpeech's BiRNN stride of 2 over 100 MFCC frames/s)
WINDOW, STRIDE = 16, 2  # rows per window, rows between consecutive windows (50 / 2 = 25 windows per second)
NUM_CEPSTRUM, NUM_CONTEXT = 26, 9


def mfcc_rows(audio: np.ndarray) -> np.ndarray:
    """int16 [S] at 16 kHz -> MFCC [T, 26] at 50 rows per second (python_speech_features defaults:
    25 ms windows every 10 ms, 26 filters, c0 = log energy, lifter 22; every 2nd frame kept)."""
    from python_speech_features import mfcc
    return mfcc(audio, samplerate=AUDIO_RATE, numcep=NUM_CEPSTRUM)[::2]


def deepspeech_input(audio: np.ndarray) -> np.ndarray:
    """int16 [S] at 16 kHz -> DeepSpeech input [T, 494]: row t = MFCC rows t-9 .. t+9 (zeros outside),
    flattened row by row, then (x - mean) / std with one scalar mean and std over the whole array."""
    rows = mfcc_rows(audio)
    context = np.zeros((NUM_CONTEXT, NUM_CEPSTRUM), rows.dtype)
    padded = np.concatenate([context, rows, context])
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * NUM_CONTEXT + 1, axis=0)  # [T, 26, 19]
    inputs = windows.transpose(0, 2, 1).reshape(len(rows), -1)
    return (inputs - inputs.mean()) / inputs.std()


def normalised_mfcc(audio: np.ndarray) -> np.ndarray:
    """The ``mfcc`` backend's rows: int16 [S] -> [T, 26], each channel zero mean, unit std over the clip
    (a channel that does not vary, e.g. in pure silence, becomes 0)."""
    rows = mfcc_rows(audio)
    return (rows - rows.mean(0)) / np.maximum(rows.std(0), 1e-3)


def rows_to_windows(rows: np.ndarray, seconds: float, num_frames: int | None = None) -> np.ndarray:
    """Feature rows [T, C] at 50 per second -> windows [N, 16, C], window n centred on time n/25.

    The rows are interpolated per channel onto k/50 for k < K (K = 2 * num_frames, or round(50 * seconds)
    as the original); as the original, the last of these K rows is dropped before 8 zero rows are padded
    at both ends (so the last windows see zeros where it was), then cut into 16-row windows every 2 rows:
    window n holds timeline rows 2n-8 .. 2n+7. N = ceil((K - 1) / 2) (= num_frames when given).
    """
    rows = np.asarray(rows, np.float64)
    total = 2 * int(num_frames) if num_frames is not None else int(round(seconds * ROW_RATE))
    t_rows = np.arange(len(rows)) / ROW_RATE
    t_out = np.arange(total) / ROW_RATE
    timeline = np.stack([np.interp(t_out, t_rows, rows[:, c]) for c in range(rows.shape[1])], axis=1) \
        if total else np.zeros((0, rows.shape[1]))
    timeline = timeline[:-1]  # the original drops the last interpolated row before padding
    pad = np.zeros((WINDOW // 2, rows.shape[1]))
    padded = np.concatenate([pad, timeline, pad])
    starts = np.arange(0, len(timeline), STRIDE)  # the original's range(0, len(padded) - 16, 2)
    index = starts[:, None] + np.arange(WINDOW)[None, :]
    return padded[index]


def compute_features(wav_path: str | os.PathLike, backend: str = "deepspeech", graph_path: str | os.PathLike | None = None,
                     *, num_frames: int | None = None, model_dir: str | os.PathLike | None = None,
                     progress: bool = False, audio_channel: str = "first", device: str = "auto") -> np.ndarray:
    """Speech features of a .wav: float32 [N, 16, C] (C = 29 deepspeech, 26 mfcc, 1024 hubert).

    num_frames: N (the video's frames at 25 fps); None = the original's count from the duration.
    graph_path: a DeepSpeech graph to use instead of the downloaded one (deepspeech backend only);
    model_dir: where the downloaded model is cached (default ~/.tensorflow/models for the DeepSpeech graph,
    ~/.cache/adnerf/hubert for HuBERT).
    audio_channel: "first" (the original's) or "mix", for a multi-channel .wav (read_wav).
    device: where HuBERT runs (auto: CUDA when available; the other backends run on the CPU).
    """
    check_choice(backend, BACKENDS, "audio backend")
    audio, seconds = read_wav(wav_path, audio_channel)
    if backend == "mfcc":
        rows = normalised_mfcc(audio)
    elif backend == "hubert":
        from data_util.speech_model import fetch_speech_model, speech_model_rows
        rows = speech_model_rows(audio, fetch_speech_model(model_dir, progress=progress), device, progress=progress)
    else:
        graph = Path(graph_path) if graph_path else fetch_deepspeech_graph(model_dir, progress=progress)
        rows = run_deepspeech_graph(deepspeech_input(audio), graph)
    features = rows_to_windows(rows, seconds, num_frames)
    if len(features) == 0:
        raise StepError(f"{wav_path} is too short ({seconds:.3f} s) to give one feature frame (40 ms)")
    return features.astype(np.float32)


def extract_wav(video: str | os.PathLike, wav_path: str | os.PathLike) -> None:
    """The first audio stream of ``video`` -> ``wav_path``: 16 kHz, 16-bit PCM, its channels kept (as the
    original's ``ffmpeg -i VIDEO -f wav -ar 16000``; the channel is chosen when the features are computed)."""
    with atomic_path(wav_path) as tmp:
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video), "-map", "0:a:0",
               "-vn", "-ar", str(AUDIO_RATE), "-c:a", "pcm_s16le", "-f", "wav", str(tmp)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            last = res.stderr.strip().splitlines()
            raise StepError(f"ffmpeg could not extract the sound of {video}: {last[-1] if last else res.returncode}")


def wav_is_complete(path: Path) -> bool:
    """True for a readable 16 kHz 16-bit .wav with samples (what extract_wav writes)."""
    try:
        with wave.open(str(path), "rb") as w:
            return (w.getframerate(), w.getsampwidth()) == (AUDIO_RATE, 2) and w.getnframes() > 0
    except (OSError, EOFError, wave.Error):
        return False


def dataset_audio_options(datadir: str | os.PathLike) -> dict:
    """{"backend", "graph_path", "audio_channel"} of a dataset's features, from datadir/preprocess.json
    (steps.audio): an absent file or key means the original's deepspeech and first channel; a recorded graph
    is used where it still exists."""
    path = Path(datadir) / "preprocess.json"
    step = {}
    if path.is_file():
        try:
            step = (json.loads(path.read_text()).get("steps") or {}).get("audio") or {}
        except (ValueError, AttributeError) as exc:
            raise StepError(f"cannot read {path}: {exc} (fix or delete it; it is rewritten by process_data.py)") from exc
    # a failed run records only its options; absent everywhere = the original's deepspeech
    backend = step.get("backend") or (step.get("options") or {}).get("backend") or "deepspeech"
    if backend not in BACKENDS:
        raise StepError(f"{path} names the audio backend {backend!r}, which this version does not know "
                        f"({', '.join(BACKENDS)})")
    recorded, current = step.get("feature_kind"), feature_kind(backend)
    changed = differences(recorded, current, ("backend", "model", "revision")) if isinstance(recorded, dict) else []
    if changed:  # e.g. a dataset made with another HuBERT revision than the one this version downloads
        raise StepError(f"{path} records {describe(recorded)} features of {recorded.get(changed[0])!r}, but this "
                        f"version computes {current.get(changed[0])!r} ({changed[0]}): drive with a .npy of the "
                        f"dataset's kind, or re-run step 0 with --force and train again")
    graph = step.get("graph") if backend == "deepspeech" else None
    channel = step.get("audio_channel") or (step.get("options") or {}).get("audio_channel") or "first"
    return {"backend": backend, "graph_path": graph if graph and Path(graph).is_file() else None,
            "audio_channel": channel if channel in AUDIO_CHANNELS else "first"}


def _recorded_audio_step(dataset_dir: Path) -> dict:
    """steps.audio of dataset_dir/preprocess.json ({} when absent or unreadable)."""
    try:
        step = (json.loads((dataset_dir / "preprocess.json").read_text()).get("steps") or {}).get("audio")
    except (OSError, ValueError, AttributeError):
        return {}
    return step if isinstance(step, dict) else {}


def _features_to_keep(npy: Path, frames: int, backend: str, graph: str | os.PathLike | None, recorded: dict,
                      audio_channel: str = "first") -> int:
    """Channels of an existing aud.npy that can stay (0 = recompute): N x 16 rows, made by ``backend`` (as
    recorded in preprocess.json, else guessed from the width: 29 deepspeech, 26 mfcc, 1024 hubert), for a given
    DeepSpeech graph by that graph (recorded SHA-1), for hubert by the same model revision."""
    try:
        old = np.load(npy, mmap_mode="r")
    except (OSError, ValueError):
        return 0
    if old.ndim != 3 or old.shape[:2] != (frames, WINDOW):
        return 0
    made_by = recorded.get("backend") or next((b for b, c in CHANNELS.items() if c == old.shape[-1]), None)
    if made_by != backend or recorded.get("audio_channel", "first") != audio_channel:
        return 0
    if recorded.get("version", VERSION) < VERSION:  # made by an earlier version of this project (mono mix)
        return 0
    if backend == "deepspeech" and graph and recorded.get("graph_sha1") not in (None, file_sha1(graph)):
        return 0
    made_as = recorded.get("feature_kind")
    if backend == "hubert" and (not isinstance(made_as, dict)
                                or differences(made_as, feature_kind("hubert", channels=old.shape[-1]))):
        return 0  # another model revision (or unrecorded): recompute
    return int(old.shape[2])


def run_audio(dataset_dir: str | os.PathLike, *, video: str | os.PathLike, backend: str = "deepspeech",
              deepspeech_graph: str | os.PathLike | None = None, model_dir: str | os.PathLike | None = None,
              force: bool = False, progress: bool = True, audio_channel: str = "first",
              device: str = "auto") -> dict:
    """Step 0: ``video`` -> dataset_dir/aud.wav (16 kHz, channels kept) and dataset_dir/aud.npy float32 [N, 16, C].

    The video is checked first (readable, has frames and sound: StepError otherwise). N = its frames at
    25 fps. A complete aud.wav is reused; a complete aud.npy of the same backend (and graph) and length is
    kept unless ``force`` (then no graph is needed: an offline re-run does not try to download it).
    deepspeech_graph: a graph .pb to use instead of the downloaded one; model_dir: the download cache.
    audio_channel: "first" (the original's) or "mix" (see read_wav); device: where HuBERT runs.
    Writes the sidecar aud.json (the feature kind, see feature_kind) beside aud.npy.
    Returns the record stored in preprocess.json under steps.audio (with "feature_kind").
    """
    from data_util.frames import check_video
    start = time.perf_counter()
    check_choice(backend, BACKENDS, "audio backend")
    check_choice(audio_channel, AUDIO_CHANNELS, "audio channel policy")
    dataset_dir = Path(dataset_dir)
    info = check_video(video, need_audio=True)
    wav, npy = dataset_dir / "aud.wav", dataset_dir / "aud.npy"
    record = {"backend": backend, "version": VERSION, "frames": info.frames_25, "fps": FPS,
              "sample_rate": AUDIO_RATE, "window": WINDOW, "window_stride": STRIDE, "row_rate": ROW_RATE,
              "video": str(video), "audio_channel": audio_channel}
    recorded = _recorded_audio_step(dataset_dir)
    # an aud.wav of an earlier version of this project was mixed to mono: extract again, keeping the channels
    if force or not wav_is_complete(wav) or recorded.get("version", VERSION) < 2:
        extract_wav(video, wav)
    with wave.open(str(wav), "rb") as w:
        record["audio_seconds"] = round(w.getnframes() / w.getframerate(), 4)
    gap = record["audio_seconds"] - info.frames_25 / FPS
    if abs(gap) > 2.0 / FPS:
        record["warning"] = (f"the sound is {abs(gap):.2f} s {'longer' if gap > 0 else 'shorter'} than the "
                             f"{info.frames_25} frames at 25 fps; features follow the frames")
    kept = 0 if force else _features_to_keep(npy, info.frames_25, backend, deepspeech_graph, recorded, audio_channel)
    if kept:
        carried = {k: recorded[k] for k in ("graph", "graph_sha1", "model_files_sha256") if k in recorded}
        kind = recorded.get("feature_kind") or _kind_of(backend, {**record, **carried}, kept)
        if read_sidecar(npy) is None:  # aud.npy of an earlier version: its kind written now
            write_sidecar(npy, kind, frames=info.frames_25, audio_channel=audio_channel)
        return {**record, **carried, "channels": kept, "feature_kind": kind, "skipped": True,
                "seconds": round(time.perf_counter() - start, 3)}
    if backend == "deepspeech":
        graph = Path(deepspeech_graph) if deepspeech_graph else fetch_deepspeech_graph(model_dir, progress=progress)
        record.update(graph=str(graph.resolve()), graph_sha1=file_sha1(graph))
    if backend == "hubert":  # downloaded (checked) before the work; the small files' SHA-256 kept as provenance
        from data_util.speech_model import fetch_speech_model, model_files_sha256
        record["model_files_sha256"] = model_files_sha256(fetch_speech_model(model_dir, progress=progress))
    features = compute_features(wav, backend, record.get("graph"), num_frames=info.frames_25, progress=progress,
                                audio_channel=audio_channel, model_dir=model_dir, device=device)
    kind = _kind_of(backend, record, int(features.shape[2]))
    save_npy(npy, features)
    write_sidecar(npy, kind, frames=info.frames_25, audio_channel=audio_channel)
    seconds = time.perf_counter() - start
    return {**record, "channels": int(features.shape[2]), "feature_kind": kind, "skipped": False,
            "seconds": round(seconds, 3), "seconds_per_frame": round(seconds / max(info.frames_25, 1), 6)}


def _kind_of(backend: str, record: dict, channels: int) -> dict:
    """The feature kind of step 0's output (a DeepSpeech graph is named by its SHA-1)."""
    return feature_kind(backend, revision=record.get("graph_sha1") if backend == "deepspeech" else None,
                        channels=channels)
