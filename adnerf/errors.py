"""The one error base of the project and the one place that prints it.

Every stage raises ``AdnerfError`` (under its own name where it had one: ``StepError``, ``UserError``,
``InputError``, ``AudioError``, ``MuxError`` are this class) for a problem the user can fix: a missing or
corrupt file, a bad option, a full disk. str() is one line that names the file and what to do. Command
lines catch it and call ``report``, so the user sees that line, not a traceback; anything else is a bug and
keeps its traceback.

Subclasses exist only where a caller needs to tell a case apart (``DownloadError``: not retried;
``LandmarkBackendUnavailable``, ``MetricUnavailable``: the metric or backend is skipped, not the run).
"""
from __future__ import annotations

import sys


class AdnerfError(RuntimeError):
    """A problem with the user's input, files or machine: str() is one clear line, printed without traceback."""


class DownloadError(AdnerfError):
    """A download failed; str() names the URL, the path to put the file at by hand and the offline way."""


def report(exc: BaseException, code: int = 2, prefix: str = "error") -> int:
    """Print ``exc`` as the one line ``<prefix>: <message>`` on stderr and return ``code`` (the exit status)."""
    print(f"{prefix}: {exc}", file=sys.stderr, flush=True)
    return code


def check_choice(value, choices, what: str):
    """``value`` when it is one of ``choices``, else the one line ``unknown <what> 'x': choose one of a, b``."""
    if value not in choices:
        raise AdnerfError(f"unknown {what} {value!r}: choose one of {', '.join(choices)}")
    return value


def run_command(action, code: int = 2, prefix: str = "error") -> int:
    """A command line's body: 0 when ``action()`` returns, else its AdnerfError as one line and ``code``."""
    try:
        action()
    except AdnerfError as exc:
        return report(exc, code, prefix)
    return 0
