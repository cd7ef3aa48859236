"""NeRFs' names for the shared layer's helpers (adnerf), and the PSNR of a mean squared error."""
from __future__ import annotations

import math
import os

import numpy as np
import torch

from adnerf.configfile import REPO_ROOT
from adnerf.devices import resolve_device as pick_device
from adnerf.errors import AdnerfError as UserError
from adnerf.media import to_uint8, write_image, write_video

__all__ = ["REPO_ROOT", "UserError", "pick_device", "mse_to_psnr", "read_image_float", "to_uint8", "write_image",
           "write_video"]


def mse_to_psnr(mse: float | torch.Tensor) -> float:
    mse = float(mse)
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


def read_image_float(path: str | os.PathLike) -> np.ndarray:
    """An RGB image as float32 [H, W, 3] in [0, 1] (``adnerf.media.read_image`` gives it as uint8); a
    one-line error for a missing or corrupt file."""
    from adnerf.media import read_image as read_uint8
    img = read_uint8(path, hint="is the file corrupt? re-run the preprocessing step that writes it")
    return img.astype(np.float32) / 255.0
