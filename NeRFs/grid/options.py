"""Command-line / config options of the grid backend (added to both NeRFs' parsers by NeRFs/core/config.py)."""
from __future__ import annotations

import argparse

# the grid torso's default --torso_mask_loss: on the real video it closes the see-through neck
# (docs/grid_backend.md "On a real video"); the MLP backend keeps the original's 0
GRID_TORSO_MASK_LOSS = 0.1


# --grid_max_res auto: the finest cell covers about AUTO_CELL_PX pixels of the frame at the head's depth.
# Measured on the real 512 px clip of ../shared/realvideo (focal 2048 px): 128 (a cell of ~7.6 px: the old
# fixed default) gave a soft face (sharpness 0.11), 512 (~1.9 px) +0.7 dB head PSNR and sharpness 0.13
# (docs/grid_backend.md); small frames keep 128, so nothing changes for them.
AUTO_CELL_PX = 2.0
AUTO_RES_RANGE = (128, 2048)


def whole_number(text: str, minimum: int, what: str, alternative: str = "") -> int:
    """int(text) if >= minimum, else argparse's one-line error naming ``what`` (and the other accepted word)."""
    try:
        value = int(text)
    except ValueError:
        either = f"neither {alternative} nor" if alternative else "not"
        raise argparse.ArgumentTypeError(f"'{text}' is {either} a whole number") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"{value}: {what} must be >= {minimum}")
    return value


def max_resolution(text: str) -> str | int:
    """'auto' or a whole number >= 2 (argparse type of --grid_max_res)."""
    if str(text).strip().lower() == "auto":
        return "auto"
    return whole_number(text, 2, "the finest resolution (cells)", alternative="auto")


def basis_count(text: str) -> int:
    """A whole number >= 0 (argparse type of --grid_cond_planes)."""
    return whole_number(text, 0, "the number of conditioned planes")


def add_grid_options(parser) -> None:
    """The grid backend's own options (ignored by the other backends)."""
    g = parser.add_argument_group("grid backend (docs/grid_backend.md)")
    g.add_argument("--grid_encoding", choices=("triplane", "hash"), default="triplane",
                   help="spatial encoding of the grid backend")
    g.add_argument("--grid_levels", type=int, default=4, help="grid backend: encoding levels")
    g.add_argument("--grid_features", type=int, default=8, help="grid backend: features per plane / level")
    g.add_argument("--grid_base_res", type=int, default=32, help="grid backend: coarsest level's resolution")
    g.add_argument("--grid_max_res", type=max_resolution, default="auto",
                   help="grid backend: finest level's resolution; auto: from the image size and the camera, a cell "
                        f"of ~{AUTO_CELL_PX:g} px at the head's depth ({AUTO_RES_RANGE[0]}..{AUTO_RES_RANGE[1]})")
    g.add_argument("--grid_hidden", type=int, default=64, help="grid backend: MLP width")
    g.add_argument("--grid_cond_gate", action=argparse.BooleanOptionalAction, default=False,
                   help="grid backend: each point gates the per-frame condition (audio) by its own sigmoid of its "
                        "encoding, so the audio can act on the mouth alone (ER-NeRF's region attention)")
    g.add_argument("--grid_cond_planes", type=basis_count, default=0,
                   help="grid backend: K > 0 adds K tri-planes that the per-frame condition (audio, eyes) mixes, "
                        "so it changes the features where the face changes (the mouth) directly; 0: none")
    g.add_argument("--grid_local_signals", action=argparse.BooleanOptionalAction, default=False,
                   help="grid backend, new heads: the eye and mouth inputs reach the field through the conditioned "
                        "planes only (needs --grid_cond_planes > 0), not the bias that every point gets, so they "
                        "change the eyes and the lips rather than the whole face; the audio code reaches both")
    g.add_argument("--grid_samples", type=int, default=32, help="grid backend: samples per ray (one pass)")
    g.add_argument("--grid_lrate", type=float, default=4e-2, help="grid backend: learning rate of the encoding")
    g.add_argument("--grid_lrate_net", type=float, default=8e-3,
                   help="grid backend: learning rate of the MLPs and AudioNet (AudioAttNet: 5x)")
    g.add_argument("--grid_sparsity", type=float, default=1e-3,
                   help="grid backend: weight of the sparsity loss log(1 + 2 density^2) at random points of the "
                        "box, which drives empty space to zero density (so skipping it cannot change a pixel)")
    g.add_argument("--occ_res", type=int, default=64, help="grid backend: occupancy grid cells per side")
    g.add_argument("--occ_thresh", type=float, default=0.005, help="grid backend: density below which a cell is empty")
    g.add_argument("--occ_update", type=int, default=16, help="grid backend: steps between occupancy updates")
    g.add_argument("--occupancy", action=argparse.BooleanOptionalAction, default=True,
                   help="grid backend: skip samples in empty cells (--no-occupancy: query every sample)")
