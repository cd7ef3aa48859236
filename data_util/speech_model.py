"""The ``hubert`` speech-feature backend: the pinned HuBERT model's download (checked, cached) and its inference.

    fetch_speech_model(cache_dir=None, *, base_url=None, progress=True) -> Path   (folder of the three files)
    load_speech_model(folder, device="auto") -> (model, do_normalize)
    speech_model_rows(audio int16 [S] at 16 kHz, folder, device="auto") -> float32 [ceil(S / 320), C]

The model is facebook/hubert-large-ls960-ft on the Hugging Face hub, the one GeneFace and ER-NeRF use; its
features are the encoder's last hidden state, C = 1024 (hidden_size of HuBERT-large), one row every 320
samples = 50 rows per second. Files, each from a pinned revision:
- ``config.json``, ``preprocessor_config.json``: from main at HUBERT_REVISION. No checksum of them is
  published where this was written; they are checked by content instead (model_type, hidden_size, the
  conv strides giving 50 rows/s) and their SHA-256 is recorded in preprocess.json;
- ``model.safetensors``: the hub's own safetensors conversion of the same weights (main holds them only as
  a pickle, pytorch_model.bin, whose current checksum could not be found), at the pinned commit of the branch refs/pr/1, checked
  against its published SHA-256 (HUBERT_WEIGHTS_SHA256).
Cache: $ADNERF_HUBERT_DIR, else ~/.cache/adnerf/hubert, then <repo with / as -->/<revision>/;
$ADNERF_HUBERT_URL replaces https://huggingface.co (a mirror with the same /<repo>/resolve/<rev>/<file> paths).
A folder holding these files (or a wav2vec2 model's: model_type "wav2vec2") can be passed instead.
transformers is imported only here, on first use (seconds); TensorFlow is kept out of it (USE_TF=0).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np

from adnerf.download import fetch_cached, file_digest
from data_util.common import AUDIO_RATE, StepError

HUBERT_REPO = "facebook/hubert-large-ls960-ft"
HUBERT_REVISION = "ece5fabbf034c1073acae96d5401b25be96709d8"   # main's commit "Update README.md" (12 commits)
# the commit of the hub's branch refs/pr/1 ("Adding `safetensors` variant of this model"): pinned, not the branch
HUBERT_WEIGHTS_REVISION = "ba42e7f7a888fd65f7af7849c452e3e7d5216aad"
HUBERT_WEIGHTS_SHA256 = "1fefcd85b08c83451afd1df872bc11b92333dc4b5393506def29a20baa69c4ed"
HUBERT_CHANNELS = 1024
HUB_URL = "https://huggingface.co"
CONFIG, PREPROCESSOR, WEIGHTS = "config.json", "preprocessor_config.json", "model.safetensors"
# file -> (revision, sha256 or None where none is published)
HUBERT_FILES = {CONFIG: (HUBERT_REVISION, None), PREPROCESSOR: (HUBERT_REVISION, None),
                WEIGHTS: (HUBERT_WEIGHTS_REVISION, HUBERT_WEIGHTS_SHA256)}
MODEL_CLASSES = {"hubert": "HubertModel", "wav2vec2": "Wav2Vec2Model"}
ROW_SAMPLES = 320            # 16 kHz / 50 rows per second
OFFLINE_HINT = "--audio_backend mfcc (or --offline)"
CHUNK_ROWS, CONTEXT_ROWS = 1000, 50   # 20 s per forward pass (attention is quadratic), 1 s of context each side


def default_cache_dir() -> Path:
    """$ADNERF_HUBERT_DIR, else ~/.cache/adnerf/hubert."""
    return Path(os.environ.get("ADNERF_HUBERT_DIR") or "~/.cache/adnerf/hubert").expanduser()


def file_url(name: str, base_url: str | None = None) -> str:
    """The hub URL of one of HUBERT_FILES at its pinned revision (a branch name is quoted: refs%2Fpr%2F1)."""
    base = (base_url or os.environ.get("ADNERF_HUBERT_URL") or HUB_URL).rstrip("/")
    return f"{base}/{HUBERT_REPO}/resolve/{quote(HUBERT_FILES[name][0], safe='')}/{name}"


def fetch_speech_model(cache_dir: str | os.PathLike | None = None, *, base_url: str | None = None,
                       progress: bool = True) -> Path:
    """The folder holding the pinned model's three files, downloading those not yet cached.

    The weights are checked against their published SHA-256 (a cached file that does not match is fetched
    again); a failed download or a mismatch raises DownloadError (an AdnerfError) naming the URL, the path
    to put the file at by hand and the offline alternative, and leaves no partial file.
    """
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    folder = folder / HUBERT_REPO.replace("/", "--") / HUBERT_REVISION
    for name, (_, sha256) in HUBERT_FILES.items():
        fetch_cached(file_url(name, base_url), folder / name, what=f"the HuBERT model's {name}", sha256=sha256,
                     progress=progress and name == WEIGHTS, offline_hint=OFFLINE_HINT,
                     put_hint="or pass a folder with config.json and model.safetensors")
    check_model_folder(folder)
    return folder


def read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise StepError(f"cannot read {path}: {exc}; delete it to download it again, or {OFFLINE_HINT}") from exc
    if not isinstance(data, dict):
        raise StepError(f"{path} holds no JSON object; delete it to download it again, or {OFFLINE_HINT}")
    return data


def check_model_folder(folder: str | os.PathLike) -> dict:
    """The config of a speech-model folder, checked: a known model_type, conv strides of 320 samples in all
    (50 rows per second, what the 16-row windows need) and weights present. StepError otherwise."""
    folder = Path(folder)
    config = read_json(folder / CONFIG)
    if config.get("model_type") not in MODEL_CLASSES:
        raise StepError(f"{folder / CONFIG} has model_type {config.get('model_type')!r}: not a "
                        f"{' or '.join(MODEL_CLASSES)} model")
    if math.prod(config.get("conv_stride") or [0]) != ROW_SAMPLES:
        raise StepError(f"{folder / CONFIG}: conv strides {config.get('conv_stride')} do not give one row every "
                        f"{ROW_SAMPLES} samples (50 per second), which the feature windows need")
    if not (folder / WEIGHTS).is_file():
        raise StepError(f"{folder} has no {WEIGHTS} (the model's weights); {OFFLINE_HINT}")
    return config


def receptive_field(config: dict) -> int:
    """Samples seen by one output row of the conv feature encoder (400 for HuBERT: 25 ms)."""
    field = 1
    for kernel, stride in zip(reversed(config["conv_kernel"]), reversed(config["conv_stride"])):
        field = (field - 1) * stride + kernel
    return field


def load_speech_model(folder: str | os.PathLike, device="auto"):
    """(model in eval mode on ``device``, do_normalize) from a folder with config.json and model.safetensors
    (and optionally preprocessor_config.json); HubertModel or Wav2Vec2Model by the config's model_type. A
    checkpoint of the CTC model (the hub's) loads into the bare encoder: its 'hubert.' prefix and CTC head
    are left aside by transformers."""
    from adnerf.devices import resolve_device
    folder = Path(folder)
    config = check_model_folder(folder)
    preprocessor = read_json(folder / PREPROCESSOR) if (folder / PREPROCESSOR).is_file() else {}
    os.environ.setdefault("USE_TF", "0")  # else transformers imports TensorFlow (seconds, and torch's triton first)
    try:
        import transformers
    except ImportError as exc:
        raise StepError(f"the hubert backend needs the transformers package ({exc}): pip install -r "
                        f"requirements.txt, or {OFFLINE_HINT}") from exc
    model_class = getattr(transformers, MODEL_CLASSES[config["model_type"]])
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # the unused CTC head is expected, not worth a warning
    try:
        model = model_class.from_pretrained(str(folder), local_files_only=True, use_safetensors=True)
    except (OSError, ValueError, RuntimeError) as exc:
        text = " ".join(str(exc).split())[:300]
        raise StepError(f"cannot load the speech model in {folder}: {text}; delete the folder to download it "
                        f"again, or {OFFLINE_HINT}") from exc
    finally:
        transformers.logging.set_verbosity(verbosity)
    return model.to(resolve_device(device)).eval(), bool(preprocessor.get("do_normalize", True))


def speech_model_rows(audio: np.ndarray, folder: str | os.PathLike, device="auto", *, progress: bool = False,
                      chunk_rows: int = CHUNK_ROWS, context_rows: int = CONTEXT_ROWS) -> np.ndarray:
    """int16 [S] at 16 kHz -> the encoder's last hidden state, float32 [T, C], T = ceil(S / 320).

    Row t covers samples 320 t .. 320 t + 399 (centred on t / 50 + 12.5 ms, where DeepSpeech's row t is
    centred too: 25 ms MFCC windows every 10 ms, every 2nd kept), so the windowing of audio_features treats
    both alike. The clip is scaled to [-1, 1] and, as the model's preprocessor says (do_normalize), to zero
    mean and unit variance over the clip; the end is zero-padded so that the last row exists. Long clips run
    in chunks of ``chunk_rows`` rows with ``context_rows`` rows of sound on each side (attention is quadratic
    in length): rows far from a chunk border see the same sound as in one pass.
    """
    import torch
    model, do_normalize = load_speech_model(folder, device)
    config = json.loads((Path(folder) / CONFIG).read_text())
    field = receptive_field(config)
    x = np.asarray(audio, np.float64) / 32768.0
    if do_normalize:
        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
    total = max(1, math.ceil(len(x) / ROW_SAMPLES))
    x = np.pad(x, (0, ROW_SAMPLES * (total - 1) + field - len(x))).astype(np.float32)
    device = next(model.parameters()).device
    starts = range(0, total, chunk_rows)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="HuBERT features", unit="chunk", leave=False)
    rows = []
    with torch.inference_mode():
        for start in starts:
            end = min(total, start + chunk_rows)
            first, last = max(0, start - context_rows), min(total, end + context_rows)
            segment = torch.from_numpy(x[ROW_SAMPLES * first:ROW_SAMPLES * (last - 1) + field]).to(device)
            hidden = model(segment[None]).last_hidden_state[0]
            if hidden.shape[0] != last - first:
                raise StepError(f"the speech model in {folder} gave {hidden.shape[0]} rows for {last - first} "
                                f"steps of {ROW_SAMPLES} samples: not a 50-rows-per-second encoder")
            rows.append(hidden[start - first:end - first].float().cpu().numpy())
    out = np.concatenate(rows)
    if not np.isfinite(out).all():
        raise StepError(f"the speech model in {folder} gave NaN / inf features: its weights are broken; delete "
                        f"the folder to download it again, or {OFFLINE_HINT}")
    return out


def model_files_sha256(folder: str | os.PathLike) -> dict:
    """{file name: SHA-256} of a speech-model folder's files (recorded with the features)."""
    return {name: file_digest(Path(folder) / name) for name in HUBERT_FILES if (Path(folder) / name).is_file()}
