"""Device choice for every stage: ``--device auto | cpu | cuda | cuda:N``."""
from __future__ import annotations

from adnerf.errors import AdnerfError


def resolve_device(name: str | None = "auto"):
    """``auto`` (or empty): CUDA when PyTorch sees a GPU, else CPU; other names are checked -> torch.device.

    Asking for a CUDA device that is not there is an AdnerfError now, not a failure deep inside the first
    tensor copy.
    """
    import torch  # here, not at import: the shared layer stays importable without loading torch
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as exc:
        raise AdnerfError(f"--device {name}: not a device (use auto, cpu, cuda or cuda:N)") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise AdnerfError(f"--device {name} was asked for, but PyTorch sees no CUDA device (use --device cpu)")
        count = torch.cuda.device_count()
        if (device.index or 0) >= count:
            raise AdnerfError(f"--device {name}: PyTorch sees {count} CUDA device(s) (cuda:0 .. cuda:{count - 1}); "
                              f"use one of those or --device cpu")
    return device
