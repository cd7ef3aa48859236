"""Head-NeRF command line: train (resuming from the latest checkpoint) or --render_only.

    python NeRFs/HeadNeRF/run_nerf.py --config dataset/<id>/HeadNeRF_config.txt [--render_only]
    adnerf-train-head --config dataset/<id>/HeadNeRF_config.txt [--render_only]     (after pip install -e .)
"""
import sys

from NeRFs.core.cli import run_main, train_or_render


def main(argv=None) -> int:
    return run_main(train_or_render("head"), "head", argv)


if __name__ == "__main__":
    sys.exit(main())
