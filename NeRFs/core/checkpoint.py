"""Checkpoints in the original AD-NeRF key layout, written atomically, loaded with weights_only=True.

Head checkpoint ``{step:06d}_head.tar`` keys (as the original): global_step, network_fn_state_dict,
network_fine_state_dict, network_audnet_state_dict, network_audattnet_state_dict, optimizer_state_dict,
optimizer_aud_state_dict, optimizer_audatt_state_dict. ``global_step`` here is the number of completed
optimisation steps and equals the number in the file name (the original stored one less).
"""
from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from adnerf.files import atomic_path, is_disk_full, no_space_message, remove_partial_files

from .utils import UserError

# Names under which the AudioAttNet optimiser state has been stored (the original's spelling first).
AUDATT_OPTIMIZER_KEYS = ("optimizer_audatt_state_dict", "optimizer_aud_att_state_dict",
                         "optimizer_audattnet_state_dict", "optimizer_AudAtt_state_dict")
_STEP_RE = re.compile(r"^(\d+)_([a-z]+)\.tar$")  # {step}_{kind}.tar; a backend names its kinds (models.Backend)


def save_checkpoint(path: str | Path, payload: dict) -> Path:
    """torch.save to a temporary file in the same folder, fsync, then rename over ``path``.

    A run killed while saving leaves at most a stray ``.<name>.*.part.tar`` file; every ``<step>_*.tar`` is complete.
    """
    path = Path(path)
    bad = first_nonfinite(payload)
    if bad is not None:  # never let a poisoned state become the newest checkpoint
        raise UserError(f"not saving {path}: '{bad}' holds NaN or inf; the earlier checkpoints are kept")
    try:
        with atomic_path(path, fsync=True) as tmp, open(tmp, "wb") as f:
            torch.save(payload, f)
    except OSError as exc:
        if is_disk_full(exc):
            raise UserError(no_space_message(f"{path.parent} while saving {path.name}",
                                             "nothing half-written was kept, the earlier checkpoints are intact: "
                                             "free some space and run the same command to resume")) from exc
        raise
    except RuntimeError as exc:  # torch.save reports a failed write as "enforce fail ... unexpected pos"
        if "unexpected pos" in str(exc) or "PytorchStreamWriter" in str(exc):
            raise UserError(f"writing {path} failed ({str(exc).splitlines()[0][:120]}): usually no space left on "
                            f"{path.parent}; nothing half-written was kept, the earlier checkpoints are intact") from exc
        raise
    return path


def first_nonfinite(obj, prefix: str = "") -> str | None:
    """The key path of the first floating tensor holding NaN / inf in a nested dict / list, else None."""
    if isinstance(obj, torch.Tensor):
        bad = obj.is_floating_point() and not bool(torch.isfinite(obj).all())
        return (prefix or "tensor") if bad else None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for key, value in items:
        found = first_nonfinite(value, f"{prefix}.{key}" if prefix else str(key))
        if found is not None:
            return found
    return None


def clean_partial_checkpoints(folder: str | Path) -> list[Path]:
    """Remove the temporary files that a save interrupted by a kill left behind (and the ``.<name>.<pid>.tmp``
    of earlier versions). Call only while holding the experiment lock (no other process can be saving)."""
    folder = Path(folder)
    older = [p for p in folder.glob(".*.tar.*.tmp") if p.is_file()] if folder.is_dir() else []
    for p in older:
        p.unlink(missing_ok=True)
    return older + remove_partial_files(folder, recursive=False)


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:
        raise UserError(f"cannot load checkpoint {path}: {exc.__class__.__name__}: {str(exc).splitlines()[0]} "
                        f"(truncated or not a PyTorch checkpoint?)") from exc
    if not isinstance(ckpt, dict):
        raise UserError(f"checkpoint {path} holds a {type(ckpt).__name__}, expected a dict of state dicts")
    bad = first_nonfinite(ckpt)
    if bad is not None:
        raise UserError(f"checkpoint {path}: '{bad}' holds NaN or inf (saved from a diverged run)")
    return ckpt


def checkpoint_step(path: Path) -> int | None:
    m = _STEP_RE.match(Path(path).name)
    return int(m.group(1)) if m else None


def list_checkpoints(folder: str | Path, kind: str = "head") -> list[Path]:
    """``{step}_{kind}.tar`` files of a folder, sorted by step."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if (m := _STEP_RE.match(p.name)) and m.group(2) == kind]
    return sorted(found, key=checkpoint_step)


def resume_step(ckpt: dict, path: Path | None) -> int:
    """Completed steps of a checkpoint. Original files named ``{i}_head.tar`` hold global_step i - 1:
    such a file resumes at step i + 1, so no step is repeated."""
    step = int(ckpt.get("global_step", 0))
    named = checkpoint_step(path) if path is not None else None
    return named if named is not None and named == step + 1 else step


def load_module(module: nn.Module, ckpt: dict, key: str, path: Path | str) -> None:
    """Strictly load ``ckpt[key]`` into ``module`` with a clear message on a missing key or a mismatch."""
    if key not in ckpt:
        raise UserError(f"checkpoint {path} has no '{key}' (keys: {', '.join(sorted(ckpt))})")
    try:
        module.load_state_dict(ckpt[key], strict=True)
    except RuntimeError as exc:
        detail = " ".join(str(exc).split())[:400]
        raise UserError(f"checkpoint {path}: '{key}' does not fit the network built from the config "
                        f"(different netdepth/netwidth/dim_aud/use_viewdirs or audio channels?): {detail}") from exc


def load_optimizer(optimizer: torch.optim.Optimizer, ckpt: dict, keys: tuple[str, ...] | str) -> bool:
    """Load the first present optimiser state of ``keys``; returns False when none is stored."""
    for key in (keys,) if isinstance(keys, str) else keys:
        if key in ckpt:
            optimizer.load_state_dict(ckpt[key])
            return True
    return False


def checkpoint_backend(ckpt: dict) -> str:
    """The backend that wrote a checkpoint: its ``backend`` key; AD-NeRF's (MLP) files carry none."""
    return str(ckpt.get("backend", "mlp"))


def check_backend(ckpt: dict, path: str | Path, expected: str) -> None:
    """Raise a one-line UserError when ``ckpt`` was written by another backend than ``expected``, before any
    weight is read (a file passed by hand with --ft_path / --head_ckpt to the wrong backend)."""
    found = checkpoint_backend(ckpt)
    if found != expected:
        raise UserError(f"checkpoint {path} was written by the {found} backend, but this run uses --backend "
                        f"{expected}: pass --backend {found} (or set 'backend = {found}' in the config), or "
                        f"train a {expected} model")


def find_head_checkpoint(args, kind: str = "head") -> Path:
    """--head_ckpt, else the latest *_<kind>.tar in basedir/expname, else in basedir/<id>_head
    (kind: the backend's head kind, 'head' for the MLP backend)."""
    if args.head_ckpt:
        return Path(args.head_ckpt)
    folders = [Path(args.basedir) / args.expname]
    if args.expname.endswith("_com"):
        folders.append(Path(args.basedir) / (args.expname[:-4] + "_head"))
    for folder in folders:
        found = list_checkpoints(folder, kind)
        if found:
            return found[-1]
    backend = f" --backend {args.backend}" if getattr(args, "backend", "mlp") != "mlp" else ""
    raise UserError(f"no head checkpoint (*_{kind}.tar) in {' or '.join(map(str, folders))}: train the Head-NeRF"
                    f"{' with' + backend if backend else ''} first (python NeRFs/HeadNeRF/run_nerf.py --config "
                    f"<datadir>/HeadNeRF_config.txt{backend}) or pass --head_ckpt PATH")
