"""Torso-NeRF command line: train on top of a frozen head, --render_only, or drive with new audio.

    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRF_config.txt            # train / resume
    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRFTest_config.txt \\
        --aud_file new_aud.npy --test_size -1 [--with_audio new.wav]                          # drive

Installed (pip install -e .) as ``adnerf-train-torso`` (the same as this script) and ``adnerf-drive``
(always drives, whatever ``with_test`` the config says).

Driving is composed here, so that the stages stay apart: the speech features of a .wav come from
preprocessing step 0 (data_util), the NeRFs render them (NeRFs/core/driving.py), and the sound is muxed
into the rendered video by add_audio.
"""
import sys
from pathlib import Path

import numpy as np
import torch

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


def drive_command(args) -> Path:
    """Features of --aud_file -> rendered sequence (NeRFs) -> with --with_audio, the sound muxed in from the
    first rendered frame's audio row on. Returns the final video."""
    feats = driving_features(args.aud_file, args.datadir)
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
    return Path(video)


def action(args):
    return drive_command(args) if args.with_test else train_or_render("torso")(args)


def main(argv=None) -> int:
    return run_main(action, "torso", argv)


def drive_main(argv=None) -> int:
    return run_main(drive_command, "torso", argv)


if __name__ == "__main__":
    sys.exit(main())
