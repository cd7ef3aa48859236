"""The one table from backend name (``--backend``) to its models: the only place that knows the backends.

The command lines look the backend up once (``backend_for(args)``) and hand it down; the trainers and
serving call its models' hooks (models.py) and never ask which one it is. A new backend is its
``models.Backend`` subclass (Head, Torso, checkpoint kinds, options, render settings) and one entry here.
"""
from __future__ import annotations

import argparse

from NeRFs.grid.models import GridBackend

from .models import Backend
from .utils import UserError

BACKENDS: dict[str, type[Backend]] = {"mlp": Backend, "grid": GridBackend}


def backend_named(name: str) -> type[Backend]:
    if name not in BACKENDS:
        raise UserError(f"unknown backend '{name}': choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name]


def backend_for(args: argparse.Namespace) -> type[Backend]:
    """The backend of ``args.backend`` ('mlp' when unset)."""
    return backend_named(getattr(args, "backend", "mlp"))
