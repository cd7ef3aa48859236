"""What both run_nerf.py scripts do: parse options, train or render, print user errors as one line."""
from __future__ import annotations

import sys

from .config import parse_args
from .utils import UserError


def run_main(trainer_cls, kind: str, argv=None) -> int:
    try:
        args = parse_args(argv, kind)
        trainer = trainer_cls(args)
        if args.render_only:
            trainer.render_only()
        else:
            trainer.fit()
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the last saved checkpoint is intact; run the same command to resume", file=sys.stderr)
        return 130
    return 0
