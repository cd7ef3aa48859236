"""Finding or downloading the weights of the networks behind LPIPS, FID and SyncNet.

Every network keeps its real download path. Files go to $ADNERF_WEIGHTS_DIR when set, else to torch's hub
cache (<torch hub dir>/checkpoints, usually ~/.cache/torch/hub/checkpoints), where torchvision and
pytorch-fid look too. A local file given on the command line wins over both. When nothing works a
WeightsUnavailable says which URL failed, where the file was expected and how to provide it offline.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from adnerf.download import DownloadError, fetch
from adnerf.errors import AdnerfError


class MetricUnavailable(AdnerfError):
    """A metric cannot be computed here; str() is the reason written into the report."""


class WeightsUnavailable(MetricUnavailable):
    """A network's weights could neither be found nor downloaded."""


def weights_cache_dir() -> Path:
    """$ADNERF_WEIGHTS_DIR, else <torch hub dir>/checkpoints."""
    override = os.environ.get("ADNERF_WEIGHTS_DIR")
    return Path(override) if override else Path(torch.hub.get_dir()) / "checkpoints"


def fetch_weights(what: str, url: str, filename: str, local_path: str | Path | None = None,
                  hash_prefix: str | None = None, option: str = "") -> Path:
    """Path of a weights file: local_path if given, else the cached copy, else downloaded from url.

    hash_prefix: leading hex digits of the file's SHA-256, checked on download (None: unknown, unchecked).
    option: the command-line option that passes a local copy, named in the error message.
    """
    if local_path:
        path = Path(local_path)
        if not path.is_file():
            raise WeightsUnavailable(f"{what} weights file {path} does not exist")
        return path
    target = weights_cache_dir() / filename
    if target.is_file():
        return target
    try:  # the shared helper: timeouts, bounded retries, SHA-256 prefix checked, atomic
        return fetch(url, target, what=f"the {what} weights", sha256=hash_prefix,
                     put_hint=f"or pass {option} PATH" if option else "",
                     offline_hint="the report marks this metric unavailable")
    except DownloadError as e:
        raise WeightsUnavailable(str(e)) from e


def load_state_dict(path: Path, device: torch.device | str = "cpu") -> dict:
    """A state dict from a .pth/.model file (weights_only: never unpickles code)."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as e:  # noqa: BLE001
        raise WeightsUnavailable(f"{path} is not a loadable weights file ({type(e).__name__}: {e})") from e
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise WeightsUnavailable(f"{path} does not hold a state dict")
    return state


def load_into(module: torch.nn.Module, state: dict, path: Path, what: str) -> None:
    """Load a state dict key for key; BatchNorm counters missing from old (pre-0.4 torch) files are fine."""
    try:
        result = module.load_state_dict(state, strict=False)
    except RuntimeError as e:  # shapes that do not fit
        raise WeightsUnavailable(f"{path} does not match the {what} network: {str(e).splitlines()[-1]}") from e
    missing = [k for k in result.missing_keys if not k.endswith("num_batches_tracked")]
    if missing or result.unexpected_keys:
        raise WeightsUnavailable(f"{path} does not match the {what} network: missing {missing[:4]}"
                                 f"{'...' if len(missing) > 4 else ''}, unexpected {result.unexpected_keys[:4]}")
