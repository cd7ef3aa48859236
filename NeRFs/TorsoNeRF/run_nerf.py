"""Torso-NeRF command line: train on top of a frozen head, --render_only, or drive with new audio.

    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRF_config.txt            # train / resume
    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRFTest_config.txt \\
        --aud_file new_aud.npy --test_size -1 [--with_audio new.wav]                          # drive

Installed (pip install -e .) as ``adnerf-train-torso`` (the same as this script) and ``adnerf-drive``
(always drives, whatever ``with_test`` the config says).

Driving is composed here, so that the stages stay apart: the speech features of a .wav come from
preprocessing step 0 (data_util), the NeRFs render them (NeRFs/core/driving.py), and the sound is muxed
into the rendered video by add_audio. With ``--portrait`` (driving and --render_only), the rendered sequence
is then blended into the real frames by the portrait stage (portrait/cli.py, docs/portrait.md):
<sequence>_portrait/ beside it.
"""
import sys
from pathlib import Path

import numpy as np
import torch

from NeRFs.core.audio import match_feature_statistics
from NeRFs.core.cli import model_options, run_main, train_or_render
from NeRFs.core.dataset import check_features, load_audio_features
from NeRFs.core.driving import drive
from NeRFs.core.serving import load_talking_head
from NeRFs.core.utils import UserError
from adnerf.sequence_record import VIDEO_WITH_AUDIO_NAME


def driving_features(path: str, datadir: str) -> torch.Tensor:
    """Speech features [N, 16, C] to drive with: a .npy (relative to datadir, else as given), or a .wav
    whose features are computed with the dataset's own backend (preprocess.json), so that the channels
    match its AudioNet."""
    p = Path(path) if Path(path).is_absolute() else Path(datadir) / path
    if not p.is_file() and Path(path).is_file():
        p = Path(path)
    from data_util.feature_kind import check_feature_kind  # features of another kind than the model's: one line
    check_feature_kind(p, datadir)
    if p.suffix.lower() != ".wav":
        return load_audio_features(p, "compute them again from the sound (or pass the .wav itself as --aud_file)")
    from data_util.audio_features import compute_features, dataset_audio_options  # preprocessing step 0
    from data_util.common import StepError
    try:
        feats = np.asarray(compute_features(p, **dataset_audio_options(datadir)), dtype=np.float32)
    except StepError as exc:
        raise UserError(str(exc)) from exc
    check_features(feats, p, "the sound itself holds NaN / inf samples: export it again as 16-bit PCM")
    return torch.from_numpy(feats)


def check_portrait(args, rendering: bool) -> None:
    """--portrait needs a rendered sequence and the dataset's real frames and parsing: refused before the
    render when either is missing (``rendering``: this run renders one)."""
    if not getattr(args, "portrait", False):
        return
    if not rendering:
        raise UserError("--portrait blends a rendered sequence into the real frames: use it when driving "
                        "(--with_test, adnerf-drive) or with --render_only, not for training")
    from portrait.cli import check_dataset
    check_dataset(args.datadir, region=args.portrait_region)


def make_portrait_of(args, folder: Path) -> Path:
    """--portrait: <folder>_portrait/ (frames, mask/, video.mp4, video_with_audio.mp4 when the sequence has
    sound, video_full*.mp4 at the source's size for a cropped dataset); returns its best video."""
    from portrait.cli import make_portrait
    result = make_portrait(folder, dataset=args.datadir, region=args.portrait_region)
    best = next(result[k] for k in ("full_video_with_audio", "full_video", "video_with_audio", "video") if result[k])
    print(f"[{args.expname}] portrait: {result['folder']} ({best.name})")
    return Path(best)


def drive_command(args) -> Path:
    """Features of --aud_file -> rendered sequence (NeRFs) -> with --with_audio, the sound muxed in from the
    first rendered frame's audio row on -> with --portrait, the portrait sequence. Returns the final video."""
    check_portrait(args, rendering=True)
    training_feats = Path(args.datadir) / "aud.npy"
    if args.aud_norm == "dataset" and not training_feats.is_file():
        raise UserError(f"--aud_norm dataset reads the training clip's features {training_feats}, which is "
                        f"missing (an exported avatar carries none): drive without --aud_norm")
    feats = driving_features(args.aud_file, args.datadir)
    if args.aud_norm == "dataset":
        feats = match_feature_statistics(feats, load_audio_features(training_feats))
    result = drive(args, feats, str(args.aud_file), head=load_talking_head(args, *model_options(args)))
    video = result.video
    if args.with_audio:
        from add_audio.add_audio import MuxError, mux_audio
        start = result.first_aud_id / args.video_fps  # the sound of the first rendered frame's features
        try:
            video = mux_audio(video, args.with_audio, result.folder / VIDEO_WITH_AUDIO_NAME, audio_offset=start)
        except MuxError as exc:
            raise UserError(str(exc)) from exc
        print(f"[{args.expname}] with sound: {video}")
    if getattr(args, "portrait", False):
        return make_portrait_of(args, result.folder)
    return Path(video)


def action(args):
    if args.with_test:
        return drive_command(args)
    check_portrait(args, rendering=args.render_only)
    result = train_or_render("torso")(args)
    if args.render_only and args.portrait:   # the validation frames' reconstruction: renderonly_val_<step>/
        make_portrait_of(args, Path(result["video"]).parent)
    return result


def main(argv=None) -> int:
    return run_main(action, "torso", argv)


def drive_main(argv=None) -> int:
    return run_main(drive_command, "torso", argv)


if __name__ == "__main__":
    sys.exit(main())
