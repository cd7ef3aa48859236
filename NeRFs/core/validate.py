"""Option values checked before any work starts, each failure one line naming the option and its value.

argparse checks types only: ``N_rand = -5`` or ``lrate = nan`` used to end in a traceback deep inside
training, ``netwidth = 0`` or ``near > far`` trained without a word. The rules here say what the value means.
"""
from __future__ import annotations

import argparse
import math

from .utils import UserError

# option -> (smallest allowed value, what it is); counts are whole numbers
POSITIVE_COUNTS = {
    "N_rand": "rays per step", "N_samples": "coarse samples per ray (the last one is the background plane)",
    "chunk": "rays per batch", "netchunk": "points per network call", "netdepth": "layers",
    "netwidth": "units per layer", "netdepth_fine": "layers", "netwidth_fine": "units per layer",
    "dim_aud": "audio code size", "win_size": "audio rows", "smo_size": "frames smoothed",
    "lrate_decay": "thousands of steps per x0.1", "i_print": "steps between printouts",
    "i_img": "steps between validation images", "i_weights": "steps between checkpoints",
    "i_testset": "steps between validation renders", "video_fps": "frames per second",
}
NON_NEGATIVE_COUNTS = {"N_importance": "fine samples per ray (0: no fine network)", "N_iters": "training steps",
                       "nosmo_iters": "steps before smoothing", "multires": "frequencies",
                       "multires_views": "frequencies", "aud_start": "first audio frame",
                       "smooth_poses": "frames averaged (0: off)", "fit_poses": "pose fitting steps (0: off)",
                       "refine_poses": "pose fitting steps (0: off)",
                       # the original's step 7 writes testskip = int(n_val / 7), 0 for fewer than 7 validation
                       # frames, and its loader reads 0 as 1: such configs must keep loading
                       "testskip": "validation frames step (0: every frame, as 1)"}
MIN_SAMPLES = 2     # the last coarse sample is pinned at far (background): one sample leaves no interval


def _name(opt: str) -> str:
    return f"--{opt}"


def _fail(opt: str, value, rule: str) -> UserError:
    return UserError(f"option {_name(opt)} = {value}: {rule}")


def validate_args(args: argparse.Namespace) -> argparse.Namespace:
    """Raise UserError for the first value outside its meaning; returns args unchanged otherwise."""
    for opt, what in POSITIVE_COUNTS.items():
        value = getattr(args, opt, None)
        if value is not None and value < 1:
            raise _fail(opt, value, f"must be a whole number >= 1 ({what})")
    for opt, what in NON_NEGATIVE_COUNTS.items():
        value = getattr(args, opt, None)
        if value is not None and value < 0:
            raise _fail(opt, value, f"must be a whole number >= 0 ({what})")
    if args.N_samples < MIN_SAMPLES:
        raise _fail("N_samples", args.N_samples, f"must be >= {MIN_SAMPLES} (the last sample is the background)")
    if not (math.isfinite(args.lrate) and args.lrate > 0):
        raise _fail("lrate", args.lrate, "must be a finite number > 0 (Adam's learning rate)")
    for opt in ("sample_rate", "feature_rays", "eye_frames", "eye_rays", "audio_shuffle", "early_stop_T"):
        value = getattr(args, opt, 0.0)
        if not (math.isfinite(value) and 0.0 <= value <= 1.0):
            raise _fail(opt, value, "must lie in [0, 1]")
    if getattr(args, "eye_rays", 0.0) > 0 and not getattr(args, "eye_frames", 0.0) > 0:
        raise _fail("eye_rays", args.eye_rays, "acts on the --eye_frames steps: give --eye_frames > 0 too")
    if getattr(args, "grid_local_signals", False) and not getattr(args, "grid_cond_planes", 0) > 0:
        raise UserError("option --grid_local_signals sends the eye and mouth inputs through the conditioned planes: "
                        "give --grid_cond_planes > 0 too")
    for opt in ("perturb", "raw_noise_std", "torso_mask_loss"):
        value = getattr(args, opt, 0.0)
        if not (math.isfinite(value) and value >= 0):
            raise _fail(opt, value, "must be a finite number >= 0")
    for opt in ("near", "far"):
        value = getattr(args, opt)
        if not (math.isfinite(value) and value >= 0):
            raise _fail(opt, value, "must be a finite distance >= 0 (in the dataset's units, see the config)")
    if args.near >= args.far:
        raise UserError(f"options --near = {args.near} and --far = {args.far}: near must be smaller than far "
                        f"(the depth range of the rays; preprocessing step 7 writes both into the config)")
    test_size = getattr(args, "test_size", None)
    if test_size is not None and test_size == 0 or (test_size is not None and test_size < -1):
        raise _fail("test_size", test_size, "must be -1 (the whole audio) or a number of frames >= 1")
    return args
