"""Pairing generated frames that have no record (frames.json) with the ground truth: by file name or by order.

- ``name``: a generated frame pairs with the ground-truth frame of the same name. Numeric names are ids:
  ``0007.png`` = ``7.jpg`` = img_id 7 (with --subject, the validation frame whose img_id is 7; for a video,
  frame number 7). Every generated frame must have a partner (else a one-line error naming the first that
  has none); ground-truth frames without a generated one are left out with a note.
- ``order``: the i-th generated frame (sorted: numeric names by number, others by name) pairs with the i-th
  ground-truth frame; the counts must be equal.
In both, a pair whose sizes differ is an error showing both sizes (unless --resize): frames from elsewhere
that differ in size are usually another crop, not a rendering to compare pixel by pixel.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from adnerf.errors import AdnerfError as InputError

PAIR_MODES = ("auto", "record", "name", "order")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
DESCRIPTIONS = {
    "record": "by frames.json (generated frame i shows the pose img_id it names)",
    "name": "by file name (numeric names are ids: 0007.png = 7.jpg = img_id 7)",
    "order": "by order (i-th generated frame, sorted by name, with the i-th ground-truth frame)",
}


def frame_name(stem: str) -> str:
    """The name a frame pairs by: numeric stems as their number ('0007' -> '7'), others as they are."""
    return str(int(stem)) if stem.isdigit() else stem


def _sort_key(path: Path):
    return (0, int(path.stem), "") if path.stem.isdigit() else (1, 0, path.name)


def list_frame_files(folder: str | Path, what: str, unique: bool = True) -> tuple[list[Path], list[str]]:
    """The image files of a folder in frame order (numeric names by number first, others by name) and
    their pairing names. One-line errors for a missing or empty folder and (unique) two files of one name."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{what} folder {folder} does not exist: render it first or pass another folder")
    paths = sorted((p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES), key=_sort_key)
    if not paths:
        raise InputError(f"{what} folder {folder} holds no .jpg/.png frames")
    names = [frame_name(p.stem) for p in paths]
    if unique:
        check_unique(names, [p.name for p in paths], f"{what} folder {folder}")
    return paths, names


def check_unique(names: list[str], labels: list[str], where: str) -> None:
    seen: dict[str, str] = {}
    for name, label in zip(names, labels):
        if name in seen:
            raise InputError(f"{where} has two frames named {name!r} ({seen[name]} and {label}): "
                             "name pairing needs one frame per name; remove one or pass --pair order")
        seen[name] = label


def _id_range(names: list[str]) -> str:
    ids = sorted(int(n) for n in names if n.isdigit())
    return f" (its numeric names run {ids[0]}..{ids[-1]})" if ids else ""


def pair_by_name(gen_names: list[str], gen_labels: list[str], gt_names: list[str], gt_keys: list,
                 gen_where: str, gt_where: str) -> list:
    """Keys (of the ground truth) for each generated frame (ground-truth frames left over are not an error).

    gen_labels: what to call each generated frame in an error (its file name). Raises InputError naming
    the first generated frame without a ground-truth partner."""
    key_of = dict(zip(gt_names, gt_keys))
    for name, label in zip(gen_names, gen_labels):
        if name not in key_of:
            raise InputError(f"generated frame {label} of {gen_where} has no ground-truth partner named {name!r} "
                             f"in {gt_where}{_id_range(gt_names)}: name the frames as the ground truth "
                             f"(<img_id>.png) or pass --pair order")
    return [key_of[n] for n in gen_names]


def pair_by_order(gen_labels: list[str], gt_keys: list, gt_names: list[str], gen_where: str,
                  gt_where: str) -> list:
    """Keys (of the ground truth) for the generated frames in order; the counts must match."""
    if len(gen_labels) != len(gt_keys):
        if len(gen_labels) > len(gt_keys):
            first = f"generated frame {gen_labels[len(gt_keys)]} of {gen_where}"
        else:
            first = f"ground-truth frame {gt_names[len(gen_labels)]!r} of {gt_where}"
        raise InputError(f"--pair order needs as many generated as ground-truth frames ({len(gen_labels)} vs "
                         f"{len(gt_keys)}): {first} (position {min(len(gen_labels), len(gt_keys))}) has no "
                         "partner")
    return list(gt_keys)


def check_sizes(gen_frames: list[np.ndarray], gen_labels: list[str], gt_frames: list[np.ndarray],
                gt_names: list[str], gen_where: str, gt_where: str) -> None:
    """A one-line error at the first pair whose sizes differ (generated WxH vs ground truth WxH)."""
    for g, t, label, name in zip(gen_frames, gt_frames, gen_labels, gt_names):
        if g.shape[:2] != t.shape[:2]:
            raise InputError(f"generated frame {label} of {gen_where} is {g.shape[1]}x{g.shape[0]} but its "
                             f"ground truth {name!r} of {gt_where} is {t.shape[1]}x{t.shape[0]} (width x height): "
                             "pass --resize to resize generated frames to the ground truth's size")
