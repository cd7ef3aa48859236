"""Torso-NeRF command line: train on top of a frozen head, --render_only, or drive with new audio.

    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRF_config.txt            # train / resume
    python NeRFs/TorsoNeRF/run_nerf.py --config dataset/<id>/TorsoNeRFTest_config.txt \\
        --aud_file new_aud.npy --test_size -1 [--with_audio new.wav]                          # drive
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from NeRFs.core.cli import run_main, train_or_render  # noqa: E402
from NeRFs.core.driving import drive  # noqa: E402
from NeRFs.core.torso import TorsoTrainer  # noqa: E402


def action(args):
    return drive(args) if args.with_test else train_or_render(TorsoTrainer)(args)


def main(argv=None) -> int:
    return run_main(action, "torso", argv)


if __name__ == "__main__":
    sys.exit(main())
