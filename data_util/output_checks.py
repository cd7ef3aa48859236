"""Re-validation of a step's outputs, so a dataset is called ready only when its files are sound.

Every write of this project is atomic, but files can still break afterwards (a full disk while copying a
dataset, a file edited or truncated by hand, a dataset made by the original). A step skips outputs that
exist, so without this check a truncated com_imgs/<n>.jpg would stay, and training would find it hours in.

    broken_outputs(dataset_dir, step_name) -> [(path, why), ...]

The orchestrator removes the broken files of a step before running it (the step then redoes exactly those),
and checks again afterwards: whatever is still broken is named in the step's error.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from adnerf.media import decode_problem

# step name -> (folder or file, pattern) of the image outputs that must decode
IMAGE_OUTPUTS = {"frames": [("ori_imgs", "*.jpg")], "parsing": [("parsing", "*.png")],
                 "background": [(".", "bc.jpg")],
                 "images": [("com_imgs", "*.jpg"), ("head_imgs", "*.jpg"), ("torso_imgs", "*.png")]}


def _array_problem(path: Path) -> str | None:
    try:
        arr = np.load(path) if path.suffix == ".npy" else np.loadtxt(path, dtype=np.float64)
    except Exception as exc:  # noqa: BLE001
        return f"cannot be read ({type(exc).__name__}: {exc})"
    if path.suffix == ".lms" and arr.shape != (68, 2):
        return f"holds {arr.shape} values, expected 68 lines of 'x y'"
    if path.suffix == ".npy" and arr.ndim != 3:
        return f"has shape {arr.shape}, expected [frames, 16, channels]"
    if not np.isfinite(arr).all():
        return "holds NaN or inf"
    return None


def _tracking_problem(path: Path) -> str | None:
    import torch
    try:
        params = torch.load(path, weights_only=True)
        bad = [k for k, v in params.items() if isinstance(v, torch.Tensor) and v.is_floating_point()
               and not bool(torch.isfinite(v).all())]
    except Exception as exc:  # noqa: BLE001
        return f"cannot be read ({type(exc).__name__}: {exc})"
    return f"'{bad[0]}' holds NaN or inf" if bad else None


def broken_outputs(dataset_dir: str | Path, step_name: str) -> list[tuple[Path, str]]:
    """(path, why) of each existing output of ``step_name`` that does not read back; [] when all are sound."""
    root = Path(dataset_dir)
    checks: list[tuple[Path, object]] = []
    for folder, pattern in IMAGE_OUTPUTS.get(step_name, []):
        checks += [(p, decode_problem) for p in sorted((root / folder).glob(pattern)) if p.is_file()]
    if step_name == "audio" and (root / "aud.npy").is_file():
        checks.append((root / "aud.npy", _array_problem))
    if step_name == "landmarks":
        checks += [(p, _array_problem) for p in sorted((root / "ori_imgs").glob("*.lms"))]
    if step_name == "tracking" and (root / "track_params.pt").is_file():
        checks.append((root / "track_params.pt", _tracking_problem))
    with ThreadPoolExecutor(max_workers=4) as pool:  # decoders release the GIL
        found = pool.map(lambda c: c[1](c[0]), checks)
        return [(path, why) for (path, _), why in zip(checks, found) if why]
