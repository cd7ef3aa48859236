"""Head-NeRF command line: train (resuming from the latest checkpoint) or --render_only.

    python NeRFs/HeadNeRF/run_nerf.py --config dataset/<id>/HeadNeRF_config.txt [--render_only]
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from NeRFs.core.cli import run_main, train_or_render  # noqa: E402
from NeRFs.core.head import HeadTrainer  # noqa: E402


def main(argv=None) -> int:
    return run_main(train_or_render(HeadTrainer), "head", argv)


if __name__ == "__main__":
    sys.exit(main())
