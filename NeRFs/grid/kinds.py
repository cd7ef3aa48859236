"""Checkpoint kinds: which backend wrote a checkpoint, and a one-line error when it is the wrong one.

MLP checkpoints keep the original AD-NeRF layout (``{step}_head.tar`` / ``{step}_body.tar``, no
``backend`` key). Grid checkpoints are ``{step}_gridhead.tar`` / ``{step}_gridbody.tar`` and hold
``backend: "grid"``, so neither backend ever resumes from the other's files, and a file passed by hand
(``--ft_path``, ``--head_ckpt``) to the wrong backend is refused before any weight is read.
"""
from __future__ import annotations

from pathlib import Path

from NeRFs.core.utils import UserError

GRID_HEAD, GRID_BODY = "gridhead", "gridbody"


def checkpoint_backend(ckpt: dict) -> str:
    """'grid' for this backend's checkpoints, 'mlp' for AD-NeRF ones (which carry no marker)."""
    return str(ckpt.get("backend", "mlp"))


def check_backend(ckpt: dict, path: str | Path, expected: str) -> None:
    """Raise a one-line UserError when ``ckpt`` was written by another backend than ``expected``."""
    found = checkpoint_backend(ckpt)
    if found != expected:
        raise UserError(f"checkpoint {path} was written by the {found} backend, but this run uses --backend "
                        f"{expected}: pass --backend {found} (or set 'backend = {found}' in the config), or "
                        f"train a {expected} model")
