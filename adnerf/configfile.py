"""The NeRF config files (``key = value`` lines, as configargparse reads them), read without the NeRF parser.

Preprocessing writes these files and evaluation reads them (basedir, expname, testskip); both do it through
this module so that neither needs the NeRF code, and the NeRF code uses the same reading for its checks.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_LINE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*[=:]\s*(.*?)\s*$")


def config_lines(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """(line number, key, value) of every option line; comments (``#`` to the end) and blank lines skipped."""
    lines = []
    for n, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        match = _LINE.match(line.split("#", 1)[0])
        if match:
            lines.append((n, match.group(1), match.group(2)))
    return lines


def read_config(path: str | os.PathLike) -> dict[str, str]:
    """{key: value} of a config file (a later line wins, as in configargparse); {} when the file is missing."""
    if not Path(path).is_file():
        return {}
    return {key: value for _, key, value in config_lines(path)}


def path_candidates(value: str, config_path: str | os.PathLike | None = None) -> list[Path]:
    """Where a path option of a config (datadir, basedir) may point: itself when absolute, else relative to
    the working directory, the repository and the config file's folder, in that order."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return [p]
    bases = [Path.cwd(), REPO_ROOT] + ([Path(config_path).resolve().parent] if config_path else [])
    return [(base / p).resolve() for base in bases]


# Every option a NeRF config may name (both NeRFs; the torso's superset), so that preprocessing can refuse a
# typo in --nerf_set before hours of work without importing the NeRF code. It is the NeRF parser's list
# written out: tests/NeRFs/test_config.py fails, naming the difference, when the two disagree.
NERF_OPTIONS = frozenset("""
amp aud_file aud_from_pose aud_norm aud_start audio_shuffle backend basedir chunk config datadir dataset_type device dim_aud
dim_aud_body early_stop_T eye_condition eye_frames eye_frames_audio eye_rays eyes expname factor far feature_rays fit_poses mouth mouth_condition ft_path grid_base_res grid_encoding grid_features grid_hidden
grid_levels grid_local_signals grid_lrate grid_lrate_net grid_max_res grid_cond_gate grid_cond_planes grid_samples grid_sparsity half_res head_ckpt i_embed i_img
i_print i_testset i_video i_weights lindisp llffhold lrate lrate_decay multires multires_views N_importance
N_iters N_rand N_samples near netchunk netdepth netdepth_fine netwidth netwidth_fine no_batching no_ndc
no_reload nosmo_iters occ_res occ_thresh occ_update occupancy perturb precrop_frac precrop_iters raw_noise_std
portrait portrait_region refine_poses render_factor render_only render_test rst_dir sample_rate seed shape skip_bg_pixels smo_size smooth_poses
spherify test_file test_pose_file test_size testskip torso_mask_loss use_viewdirs video_fps white_bkgd win_size with_audio
with_test
""".split())


def unknown_nerf_options(keys) -> list[str]:
    """The keys that name no NeRF option (``no-<switch>``, the off form of a switch, counts as known)."""
    return sorted(k for k in keys if k not in NERF_OPTIONS and k.removeprefix("no-") not in NERF_OPTIONS)
