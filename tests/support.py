"""Helpers that tests import (fixtures stay in conftest.py): small, fast NeRF settings and option parsing."""
from pathlib import Path

import numpy as np
import torch

from NeRFs.core.config import parse_args
from NeRFs.core.utils import mse_to_psnr

# small, fast settings for unit tests (a full-size network, few rays and samples)
FAST = {"N_rand": 128, "N_samples": 12, "N_importance": 12, "i_print": 1000, "i_img": 100000,
        "i_testset": 100000, "i_weights": 100000, "testskip": 5, "device": "cpu"}

# small heads that still learn a per-frame condition (the eye and mouth tests): MLP and grid backends
CONDITION_MLP = {"netwidth": 128, "netwidth_fine": 128, "lrate": 2e-3, "N_rand": 256, "N_samples": 16,
                 "N_importance": 16, "N_iters": 300}
CONDITION_GRID = {"backend": "grid", "N_rand": 256, "grid_samples": 32, "grid_max_res": 64, "grid_levels": 3,
                  "occ_res": 32, "occ_update": 4, "N_iters": 800}


# a grid head trained for 2 steps: enough for a benchmark command to load and run (not to learn)
TOY_GRID = {"backend": "grid", "N_rand": 64, "grid_samples": 8, "grid_hidden": 16, "grid_levels": 2, "occ_res": 16,
            "grid_max_res": 32, "N_iters": 2, "i_weights": 2}


def toy_head_argv(root: Path, basedir: Path, *options: str, **training) -> list[str]:
    """Train the TOY_GRID head (with the ``training`` options on top, e.g. mouth_condition=True) of the
    synthetic dataset ``root`` into ``basedir``; returns the command-line options [...] that load it (a
    benchmark's own ``options`` first)."""
    from NeRFs.core.head import HeadTrainer
    HeadTrainer(make_args(root, basedir, **{**TOY_GRID, **training})).fit()
    return [*options, "--config", str(root / "HeadNeRF_config.txt"), "--basedir", str(basedir),
            *[f"--{k}={v}" for k, v in TOY_GRID.items()]]


def make_args(root: Path, basedir: Path, kind: str = "head", **overrides):
    opts = {**FAST, "basedir": str(basedir), **overrides}
    argv = ["--config", str(root / ("HeadNeRF_config.txt" if kind == "head" else "TorsoNeRF_config.txt"))]
    for k, v in opts.items():
        if isinstance(v, bool):
            argv.append(f"--{k}" if v else f"--no-{k}")
        else:
            argv += [f"--{k}", str(v)]
    return parse_args(argv, kind)


def straight_rays(R: int, S: int, density: float):
    """R rays along -z, S depths in [0.6, 1.2], raw outputs [R, S - 1, 4] of one density everywhere."""
    z = torch.linspace(0.6, 1.2, S).expand(R, S)
    d = torch.tensor([[0.0, 0.0, -1.0]]).expand(R, 3)
    raw = torch.zeros(R, S - 1, 4)
    raw[..., 3] = density
    return z, d, raw


def validation_psnr(trainer, indices=None) -> float:
    """Mean PSNR (dB) of a trainer's validation renders against their targets (``indices``: None = all)."""
    return float(np.mean([mse_to_psnr(((rgb - gt) ** 2).mean())
                          for _, rgb, gt in trainer.render_split("val", trainer.step, indices)]))


def fit_measured(trainer, indices=None):
    """Train ``trainer`` to its N_iters; returns (trainer, validation PSNR before, after)."""
    before = validation_psnr(trainer, indices)
    trainer.fit()
    return trainer, before, validation_psnr(trainer, indices)


def parsing_with_a_hidden_neck(root, rise: int = 3):
    """Write parsing/<id>.png for the synthetic frames: head where head_imgs differ from bc.jpg, body where
    com_imgs do (the shirt), and a 'neck' band of ``rise`` rows above the shirt where com_imgs are bc.jpg,
    as a neck whose colours match the filled background. Returns the band of frame 0, bool [H, W]."""
    from PIL import Image
    from NeRFs.core.utils import read_image_float
    bc = read_image_float(root / "bc.jpg")
    (root / "parsing").mkdir(exist_ok=True)
    band0 = None
    for path in sorted((root / "com_imgs").glob("*.jpg")):
        head = np.abs(read_image_float(root / "head_imgs" / path.name) - bc).max(-1) > 0.08
        body = (np.abs(read_image_float(path) - bc).max(-1) > 0.08) & ~head
        band = np.zeros_like(body)
        for r in range(1, rise + 1):
            band[:-r] |= body[r:]
        band &= ~body & ~head
        parsing = np.full(body.shape + (3,), 255, np.uint8)
        parsing[head], parsing[body], parsing[band] = (0, 0, 255), (255, 0, 0), (0, 255, 0)
        Image.fromarray(parsing).save(root / "parsing" / f"{path.stem}.png")
        band0 = band if path.stem == "0" else band0
    return band0
