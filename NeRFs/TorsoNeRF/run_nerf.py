"""Torso-NeRF command line: train on top of a frozen head, --render_only, or drive with new audio.

    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRF_config.txt            # train / resume
    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRFTest_config.txt \\
        --aud_file new_aud.npy --test_size -1 [--with_audio new.wav]                          # drive

Installed (pip install -e .) as ``adnerf-train-torso`` (the same as this script) and ``adnerf-drive``
(always drives, whatever ``with_test`` the config says).
"""
import sys

from NeRFs.core.cli import run_main, train_or_render
from NeRFs.core.driving import drive
from NeRFs.core.torso import TorsoTrainer


def action(args):
    return drive(args) if args.with_test else train_or_render(TorsoTrainer)(args)


def main(argv=None) -> int:
    return run_main(action, "torso", argv)


def drive_main(argv=None) -> int:
    return run_main(drive, "torso", argv)


if __name__ == "__main__":
    sys.exit(main())
