"""What both run_nerf.py scripts do: parse options, run an action, print user errors as one line."""
from __future__ import annotations

import sys
from typing import Callable

from adnerf.errors import report
from adnerf.files import full_folder, is_disk_full, no_space_message

from .allocator import keep_freed_memory
from .config import parse_args
from .utils import UserError


def model_options(args) -> tuple:
    """(backend, training render settings) of the options: the one place both are made from them; trainers,
    serving and driving are handed these."""
    from .backends import backend_for
    backend = backend_for(args)
    return backend, backend.render_settings(args)


def train_or_render(kind: str) -> Callable:
    """The default action of ``kind`` ('head' | 'torso'): ``--render_only`` renders the validation frames
    (the serving object: no trainer, no optimiser), otherwise train / resume."""
    if kind not in ("head", "torso"):
        raise ValueError(f"kind must be 'head' or 'torso', not {kind!r}")

    def action(args):
        backend, settings = model_options(args)
        if args.render_only:
            from .render_only import render_validation
            return render_validation(args, kind, backend, settings)
        from .distributed import distributed_trainer  # under torchrun: data-parallel over the ranks
        from .head import HeadTrainer
        from .torso import TorsoTrainer
        trainer_cls = HeadTrainer if kind == "head" else TorsoTrainer
        return distributed_trainer(trainer_cls)(args, backend, settings).fit()
    return action


def run_main(action: Callable, kind: str, argv=None) -> int:
    """Parse the options of ``kind`` ('head' | 'torso') and run ``action(args)``; returns an exit code."""
    keep_freed_memory()
    try:
        action(parse_args(argv, kind))
    except UserError as exc:
        return report(exc, 2)
    except OSError as exc:
        if not is_disk_full(exc):
            raise
        # any other write (renders, tensorboard, videos) that hits a full disk: one line, not a traceback
        return report(no_space_message(full_folder(exc, "the output device"), "the last saved checkpoint is intact: "
                                       "free some space and run the same command to resume"), 1)
    except KeyboardInterrupt:
        print("interrupted: the last saved checkpoint is intact; run the same command to resume", file=sys.stderr)
        return 130
    return 0
