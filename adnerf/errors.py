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
