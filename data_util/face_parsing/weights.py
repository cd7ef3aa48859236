"""Finding, downloading and loading the BiSeNet face-parsing weights (79999_iter.pth of face-parsing.PyTorch).

Search order for ``weights=None``: $ADNERF_FACE_PARSING_WEIGHTS, pretrained_models/79999_iter.pth,
data_util/face_parsing/79999_iter.pth (where the original AD-NeRF kept it), <cache>/79999_iter.pth; if none
exists the file is downloaded from BISENET_URL into <cache> (cache = $ADNERF_CACHE_DIR, else
$XDG_CACHE_HOME/adnerf, else ~/.cache/adnerf). ``weights`` may also be a file path or a URL (downloaded
once into the cache under the URL's file name). No checksum of the original file is published; a
downloaded file is instead checked by loading it key for key, and removed when it is not a BiSeNet state dict.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

from adnerf.download import fetch
from data_util.common import StepError
from data_util.face_parsing.bisenet import BiSeNet

BISENET_URL = "https://github.com/YudongGuo/AD-NeRF/raw/master/data_util/face_parsing/79999_iter.pth"
BISENET_FILE = "79999_iter.pth"
REPO_ROOT = Path(__file__).resolve().parents[2]
OFFLINE_HINT = "or use the offline parsing backend: --parsing_backend mediapipe (or --offline)"


def default_cache_dir() -> Path:
    """$ADNERF_CACHE_DIR, else $XDG_CACHE_HOME/adnerf, else ~/.cache/adnerf."""
    if os.environ.get("ADNERF_CACHE_DIR"):
        return Path(os.environ["ADNERF_CACHE_DIR"])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "adnerf"


def resolve_bisenet_weights(weights: str | os.PathLike | None = None, cache_dir: str | os.PathLike | None = None,
                            progress: bool = True) -> Path:
    """The local path of the BiSeNet weights, downloading them when needed (see the module docstring).

    Raises StepError naming the URL, the expected path and the offline alternative when a download fails.
    """
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    if weights is not None and "://" in str(weights):
        url = str(weights)
        target = cache / url.rstrip("/").rsplit("/", 1)[-1]
        return target if target.is_file() else download_weights(url, target, progress)
    if weights is not None:
        path = Path(weights).expanduser()
        if not path.is_file():
            raise StepError(f"BiSeNet weights not found: {path} (give the path of 79999_iter.pth, a URL, or leave "
                            f"--bisenet_weights out to download it; {OFFLINE_HINT})")
        return path
    candidates = [REPO_ROOT / "pretrained_models" / BISENET_FILE,
                  REPO_ROOT / "data_util" / "face_parsing" / BISENET_FILE, cache / BISENET_FILE]
    if os.environ.get("ADNERF_FACE_PARSING_WEIGHTS"):
        candidates.insert(0, Path(os.environ["ADNERF_FACE_PARSING_WEIGHTS"]))
    for path in candidates:
        if path.is_file():
            return path
    return download_weights(BISENET_URL, cache / BISENET_FILE, progress)


def download_weights(url: str, target: Path, progress: bool = True) -> Path:
    """Download ``url`` to ``target`` with the shared helper (timeouts, retries, atomic), then validate it."""
    fetch(url, target, what="the BiSeNet face-parsing weights (79999_iter.pth)", progress=progress,
          put_hint="or pass --bisenet_weights FILE", offline_hint="--parsing_backend mediapipe (or --offline)")
    try:
        read_state_dict(target)
    except StepError:
        target.unlink(missing_ok=True)     # a proxy's error page must not be found again next time
        raise
    return target


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Load the tensors of a BiSeNet checkpoint and check them against the network, key for key.

    Accepts a bare state dict (79999_iter.pth) and tolerates a 'module.' prefix (DataParallel) and
    missing BatchNorm ``num_batches_tracked`` counters (files saved by old PyTorch versions).
    """
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise StepError(f"cannot read BiSeNet weights {path} ({type(e).__name__}: {e}); corrupt or not a PyTorch "
                        f"file: delete it to download it again from {BISENET_URL}") from e
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise StepError(f"{path} is not a BiSeNet state dict (a {type(state).__name__})")
    state = {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}
    expected = _expected_shapes()
    missing = [k for k in expected if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in expected]
    wrong_shape = [f"{k} {tuple(state[k].shape)} != {shape}" for k, shape in expected.items()
                   if k in state and tuple(state[k].shape) != shape]
    if missing or unexpected or wrong_shape:
        details = "; ".join(f"{name}: {', '.join(keys[:3])}{' ...' if len(keys) > 3 else ''}"
                            for name, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", wrong_shape)) if keys)
        raise StepError(f"{path} does not fit the BiSeNet face parser of 79999_iter.pth ({details})")
    return state


@functools.lru_cache(maxsize=1)
def _expected_shapes() -> dict[str, tuple[int, ...]]:
    """Key -> shape of every tensor in BiSeNet's state dict (built once: initialising 13 M weights takes time)."""
    with torch.device("meta"):          # shapes only, no memory, no random initialisation cost
        return {k: tuple(v.shape) for k, v in BiSeNet().state_dict().items()}


def load_bisenet(path: str | os.PathLike, device: str | torch.device = "cpu") -> BiSeNet:
    """BiSeNet with the weights of ``path``, in eval mode on ``device``."""
    net = BiSeNet()
    net.load_state_dict(read_state_dict(Path(path)), strict=False)   # strict checks done above
    return net.eval().to(device)
