"""Command line and config files of HeadNeRF / TorsoNeRF (configargparse, the original option names).

The original's config files are accepted as they are. Two of its flags were ``store_false``, so writing
``--use_viewdirs`` turned view directions *off*; here ``use_viewdirs`` and ``white_bkgd`` are honest
switches (``--use_viewdirs`` / ``--no-use_viewdirs``, or ``use_viewdirs = True`` in a config) with the
original defaults (both True). Options of the original that only concerned LLFF/Blender data, or
that it parsed and never read, are accepted and ignored (not shown by --help) so old configs still parse;
options that did nothing here and were removed (``REMOVED_OPTIONS``) are accepted with a one-line warning.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import configargparse

from adnerf.configfile import config_lines, path_candidates
from adnerf.constants import DEFAULT_TESTSKIP, FPS

from .utils import UserError
from .validate import validate_args

BOOL = argparse.BooleanOptionalAction
# removed because they changed nothing: a config (or command line) naming one gets a warning, not a refusal
REMOVED_OPTIONS = {
    "dim_aud_body": (int, "the torso reads the head's audio code, of --dim_aud values"),
    "i_video": (int, "no video is rendered during training; validation renders write video.mp4 every --i_testset"),
    "no_batching": (BOOL, "rays always come from one image per step (the original's only mode for audface data)"),
}


def build_parser(kind: str = "head") -> configargparse.ArgumentParser:
    """Options shared by both NeRFs; ``kind='torso'`` adds the torso / driving options."""
    p = configargparse.ArgumentParser(description=f"AD-NeRF {kind} NeRF: train, resume, render")
    a = p.add_argument
    a("--config", is_config_file=True, help="config file path")
    a("--expname", type=str, default="exp", help="experiment name (folder under basedir)")
    a("--basedir", type=str, default="./logs/", help="where to store checkpoints and logs")
    a("--datadir", type=str, default="./dataset/Obama", help="dataset/<id> folder")
    g = p.add_argument_group("network")
    g.add_argument("--netdepth", type=int, default=8)
    g.add_argument("--netwidth", type=int, default=256)
    g.add_argument("--netdepth_fine", type=int, default=8)
    g.add_argument("--netwidth_fine", type=int, default=256)
    g.add_argument("--use_viewdirs", action=BOOL, default=True, help="feed view directions (5D input)")
    g.add_argument("--i_embed", type=int, default=0, help="0: positional encoding, -1: none")
    g.add_argument("--multires", type=int, default=10, help="log2 of max frequency for positions")
    g.add_argument("--multires_views", type=int, default=4, help="log2 of max frequency for directions")
    g.add_argument("--dim_aud", type=int, default=64, help="audio code size")
    g.add_argument("--win_size", type=int, default=16, help="audio feature rows used by AudioNet")
    g.add_argument("--smo_size", type=int, default=8, help="frames smoothed by AudioAttNet")
    g.add_argument("--eye_condition", action=BOOL, default=True,
                   help="a new head also reads each frame's eye openness (transforms 'eye', step 7); its "
                        "checkpoint records it, older and original ones load as audio-only heads")
    g.add_argument("--mouth_condition", action=BOOL, default=False,
                   help="a new head also reads each frame's mouth opening (transforms 'mouth', step 7), and "
                        "driving predicts it from the sound with a predictor fitted on aud.wav (--mouth)")
    g = p.add_argument_group("training")
    g.add_argument("--N_rand", type=int, default=2048 if kind == "head" else 1024, help="rays per step")
    g.add_argument("--lrate", type=float, default=5e-4)
    g.add_argument("--lrate_decay", type=int, default=250, help="lr x0.1 every lrate_decay*1000 steps")
    g.add_argument("--N_iters", type=int, default=400000)
    g.add_argument("--nosmo_iters", type=int, default=200000, help="AudioAttNet smoothing starts after this")
    g.add_argument("--sample_rate", type=float, default=0.95, help="share of rays inside the face rect")
    g.add_argument("--feature_rays", type=float, default=0.0,
                   help="head: share of each step's rays drawn inside the boxes of mouth and eyes (from the "
                        "frame's landmarks, ori_imgs/<id>.lms), before sample_rate splits the others")
    g.add_argument("--eye_frames", type=float, default=0.0,
                   help="head: share of the steps whose image is drawn among the training frames with closed "
                        "eyes (transforms 'eye' below half its median), so that the rare blinks are learnt")
    g.add_argument("--eye_rays", type=float, default=0.0,
                   help="head: on the --eye_frames steps, this share of the rays inside the two eyes' boxes (from "
                        "the landmarks), so that the closing lids get them")
    g.add_argument("--eye_frames_audio", choices=("own", "random"), default="own",
                   help="head: the --eye_frames steps read their frame's audio code (own) or a random training "
                        "frame's (random), so that a blink is learnt from the eye signal, not from its frames' sound")
    g.add_argument("--audio_shuffle", type=float, default=0.0,
                   help="head: share of all steps that read a random training frame's audio code, so that the eye "
                        "and mouth inputs, not the frame's own sound, explain its face (1: the audio code carries "
                        "nothing of the frame)")
    g.add_argument("--no_reload", action=BOOL, default=False, help="do not resume from checkpoints")
    g.add_argument("--ft_path", type=str, default=None, help="checkpoint to start from")
    g.add_argument("--seed", type=int, default=0, help="seeds network init, ray and depth sampling")
    g.add_argument("--device", type=str, default="auto", help="auto (CUDA if available), cpu, cuda, cuda:N")
    g.add_argument("--amp", action=BOOL, default=False, help="float16 network queries on CUDA")
    g = p.add_argument_group("rendering")
    g.add_argument("--chunk", type=int, default=1024 * 32, help="rays processed in parallel")
    g.add_argument("--netchunk", type=int, default=1024 * 64, help="points sent through the network at once (display renders on a CPU: at most 4096)")
    g.add_argument("--N_samples", type=int, default=64)
    g.add_argument("--N_importance", type=int, default=128)
    g.add_argument("--perturb", type=float, default=1.0, help="0: no jitter of depth samples")
    g.add_argument("--raw_noise_std", type=float, default=0.0)
    g.add_argument("--white_bkgd", action=BOOL, default=True, help="add 1 - opacity (no effect with bc)")
    g.add_argument("--lindisp", action=BOOL, default=False, help="sample linearly in disparity")
    g.add_argument("--near", type=float, default=0.3)
    g.add_argument("--far", type=float, default=0.9)
    g.add_argument("--render_only", action=BOOL, default=False, help="render the validation frames and exit")
    g.add_argument("--early_stop_T", type=float, default=1e-4, help="inference: stop rays below this transmittance")
    g.add_argument("--skip_bg_pixels", action=BOOL, default=False,
                   help="inference: query only pixels that the training parsing marks as head / person "
                        "(dilated); the rest is bc.jpg. Same image where the model is transparent there, faster")
    g.add_argument("--video_fps", type=int, default=FPS)
    g = p.add_argument_group("dataset")
    g.add_argument("--testskip", type=int, default=None,
                   help="use every testskip-th validation frame (default 8; driving: 1, consecutive poses, "
                        "unless given)")
    g.add_argument("--aud_file", type=str, default="aud.npy", help="audio features, relative to datadir")
    g = p.add_argument_group("logging")
    for name, default in (("i_print", 100), ("i_img", 500), ("i_weights", 10000), ("i_testset", 10000)):
        g.add_argument(f"--{name}", type=int, default=default)
    if kind == "head":
        g = p.add_argument_group("head")
        g.add_argument("--refine_poses", type=int, default=0,
                       help="past half of --N_iters, refit every training pose to its image with the field "
                            "frozen, this many steps of --N_rand rays each (0: off; about 0.3 s a frame at 10 x "
                            "512 on 2 CPU cores), rewrite transforms_train.json with them (the tracked poses "
                            "kept in transforms_train_tracked.json) and train on; once per dataset (docs/nerf.md)")
    if kind == "torso":
        g = p.add_argument_group("torso")
        g.add_argument("--head_ckpt", type=str, default=None, help="head checkpoint (default: latest in basedir/expname)")
        g.add_argument("--test_pose_file", type=str, default="transforms_val.json")
        g.add_argument("--test_size", type=int, default=-1, help="frames to drive, -1 = whole audio")
        g.add_argument("--aud_start", type=int, default=0)
        g.add_argument("--with_test", action=BOOL, default=False, help="drive with --aud_file")
        g.add_argument("--aud_from_pose", action=BOOL, default=False,
                       help="driving: audio of each pose's own aud_id (re-render the validation video)")
        g.add_argument("--with_audio", type=str, default=None, help="driving: mux this wav into the result")
        g.add_argument("--aud_norm", choices=("off", "dataset"), default="off",
                       help="driving: dataset = give the new clip's features the training clip's per-channel "
                            "mean and std (aud.npy), so another voice lands in the range AudioNet learned")
        g.add_argument("--eyes", type=str, default="auto",
                       help="driving an eye-conditioned head: natural (seeded blinks, 15-20 a minute), open, pose "
                            "(the pose file's own eye values), a video or .npy whose eyes to copy; auto: pose "
                            "with --aud_from_pose, else natural")
        g.add_argument("--mouth", type=str, default="auto",
                       help="driving a mouth-conditioned head: audio (predicted from the driving .wav), pose (the "
                            "pose file's own mouth values, not audio-driven), or an .npy of openings; auto: audio")
        g.add_argument("--fit_poses", type=int, default=0,
                       help="driving (and the validation reconstruction, --aud_from_pose): fit each pose to its "
                            "frame's head_imgs/<img_id>.jpg with the head field frozen, this many steps (0: off; "
                            "about 2 s a frame on 2 CPU cores at 30): a photometric tracking stage, docs/nerf.md")
        g.add_argument("--smooth_poses", type=int, default=0,
                       help="driving: average each pose with its neighbours over this many frames (0: off)")
        g.add_argument("--torso_mask_loss", type=float, default=None,
                       help="weight of a loss pulling the torso's opacity to the face parsing (1 on neck and "
                            "torso, 0 elsewhere); default 0.1 with --backend grid (off when the dataset has no "
                            "parsing), 0 (off, as the original) with --backend mlp")
        g.add_argument("--rst_dir", type=str, default="test_aud_rst",
                       help="driving: output folder, inside basedir/expname unless absolute")
        g.add_argument("--portrait", action=BOOL, default=False,
                       help="driving / --render_only: also write <sequence>_portrait/, the rendered face "
                            "blended into the real frames (and the full-resolution source), docs/portrait.md")
        g.add_argument("--portrait_region", type=str, default="face",
                       help="--portrait pastes the face (the real frame's landmarks) or head_neck (its parsing)")
    from .backends import BACKENDS  # --backend and each backend's own options
    p.add_argument("--backend", choices=tuple(BACKENDS), default="mlp",
                   help="mlp: AD-NeRF's networks (default); grid: tri-plane encoding + small MLPs + occupancy grid "
                        "(docs/grid_backend.md)")
    for backend in BACKENDS.values():
        backend.add_options(p)
    # accepted for old configs, ignored: the original's LLFF / Blender options, and options it parsed but
    # never read (dataset_type, test_file, render_test); hidden from --help because they do nothing
    g = p.add_argument_group("accepted for old configs, ignored")
    for name, typ, default in (("render_factor", int, 0), ("precrop_iters", int, 0), ("precrop_frac", float, 0.5),
                               ("shape", str, "greek"), ("factor", int, 8), ("llffhold", int, 8),
                               ("dataset_type", str, "audface"), ("test_file", str, "transforms_test.json")):
        g.add_argument(f"--{name}", type=typ, default=default, help=argparse.SUPPRESS)
    for name in ("half_res", "no_ndc", "spherify", "render_test"):
        g.add_argument(f"--{name}", action=BOOL, default=False, help=argparse.SUPPRESS)
    for name, (typ, _) in REMOVED_OPTIONS.items():
        g.add_argument(f"--{name}", default=None, help=argparse.SUPPRESS,
                       **({"action": typ} if typ is BOOL else {"type": typ}))
    return p


def check_config_keys(parser: argparse.ArgumentParser, config_path: Path) -> None:
    """Refuse a config line naming an unknown option, with its line number (argparse would only say
    'unrecognized arguments')."""
    if not config_path.is_file():
        raise UserError(f"config file not found: {config_path}")
    known = {s.lstrip("-") for act in parser._actions for s in act.option_strings}
    for n, key, _ in config_lines(config_path):
        if key not in known:
            raise UserError(f"{config_path}:{n}: unknown option '{key}' "
                            f"(see --help for the options; the original's option names are all accepted)")


def resolve_paths(args: argparse.Namespace) -> argparse.Namespace:
    """Make datadir / basedir absolute: an existing absolute path, or relative to the working directory,
    the repository, or the config file's folder (first that exists). A basedir that does not exist yet
    goes next to the resolved datadir's base."""
    cfg = Path(args.config).resolve() if getattr(args, "config", None) else None
    tried = path_candidates(args.datadir, cfg)
    found = [c for c in tried if c.is_dir()]
    if not found:
        raise UserError(f"datadir '{args.datadir}' not found; tried: {', '.join(map(str, tried))}")
    args.datadir = str(found[0])
    base_tried = path_candidates(args.basedir, cfg)
    existing = [c for c in base_tried if c.exists()]
    if existing:
        args.basedir = str(existing[0])
    else:
        data_base = tried.index(found[0])  # which base the datadir resolved against
        args.basedir = str(base_tried[min(data_base, len(base_tried) - 1)])
    return args


def parse_args(argv: list[str] | None = None, kind: str = "head") -> argparse.Namespace:
    parser = build_parser(kind)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    config = pre.parse_known_args(argv)[0].config
    if config:
        check_config_keys(parser, Path(config))
    args = parser.parse_args(argv)
    for name, (_, why) in REMOVED_OPTIONS.items():
        if getattr(args, name) is not None:
            print(f"warning: option '{name}' was removed ({why}); it is ignored: delete it from the config",
                  file=sys.stderr)
        delattr(args, name)
    # driving uses consecutive poses unless a testskip is named (the original skipped 8 silently)
    args.testskip_given = args.testskip is not None
    args.testskip = args.testskip if args.testskip_given else DEFAULT_TESTSKIP
    if kind == "torso":
        from .backends import backend_for
        args.torso_mask_loss_given = args.torso_mask_loss is not None
        if not args.torso_mask_loss_given:
            args.torso_mask_loss = backend_for(args).torso_mask_loss_default
    return resolve_paths(validate_args(args))
