"""Small helpers: device choice, metrics, image and video files."""
from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import numpy as np
import torch

REPO_ROOT = Path(__file__).resolve().parents[2]


class UserError(RuntimeError):
    """A problem with the user's input (file, option, dataset): printed as one clear line, no traceback."""


def pick_device(name: str = "auto") -> torch.device:
    """``auto``: CUDA when available, else CPU. Also ``cpu``, ``cuda``, ``cuda:N``."""
    if name in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(name)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"--device {name} was asked for, but PyTorch sees no CUDA device (use --device cpu)")
    return dev


def mse_to_psnr(mse: float | torch.Tensor) -> float:
    mse = float(mse)
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an RGB image as float32 [H, W, 3] in [0, 1]; a clear error for a missing or corrupt file."""
    import imageio.v2 as imageio
    path = Path(path)
    if not path.is_file():
        raise UserError(f"image not found: {path}")
    try:
        img = imageio.imread(path)
    except Exception as exc:  # imageio raises several types for truncated/corrupt files
        raise UserError(f"cannot read image {path}: {exc} (is the file corrupt? re-run the preprocessing step "
                        f"that writes it)") from exc
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    return img[..., :3].astype(np.float32) / 255.0


def to_uint8(img: torch.Tensor | np.ndarray) -> np.ndarray:
    """[H, W, 3] float in [0, 1] -> uint8 (round(255 x)); uint8 input is returned unchanged.

    Idempotent on purpose: converting an already converted frame again used to scale it by 255 a second
    time, which made every written PNG white.
    """
    if isinstance(img, torch.Tensor):
        img = img.detach().cpu()
        img = img.numpy() if img.dtype == torch.uint8 else img.float().numpy()
    if isinstance(img, np.ndarray) and img.dtype == np.uint8:
        return img
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def write_image(path: str | os.PathLike, img) -> None:
    import imageio.v2 as imageio
    imageio.imwrite(path, to_uint8(img))


def write_video(path: str | os.PathLike, frames: list[np.ndarray], fps: int = 25) -> Path:
    """Write uint8 [H, W, 3] frames as an H.264 mp4 (yuv420p) with the ffmpeg that imageio-ffmpeg ships.

    Odd sizes are padded by one pixel (yuv420p needs even sizes). Written to a temporary name first.
    """
    import imageio.v2 as imageio
    path = Path(path)
    tmp = path.with_name(path.stem + ".partial" + path.suffix)
    with imageio.get_writer(tmp, fps=fps, codec="libx264", pixelformat="yuv420p", macro_block_size=2,
                            output_params=["-crf", "18"], ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(frame)
    os.replace(tmp, path)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
