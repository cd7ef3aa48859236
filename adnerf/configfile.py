"""The NeRF config files (``key = value`` lines, as configargparse reads them), read without the NeRF parser.

Preprocessing writes these files and evaluation reads them (basedir, expname, testskip); both do it through
this module so that neither needs the NeRF code, and the NeRF code uses the same reading for its checks.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
_LINE = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*[=:]\s*(.*?)\s*$")


def config_lines(path: str | os.PathLike) -> list[tuple[int, str, str]]:
    """(line number, key, value) of every option line; comments (``#`` to the end) and blank lines skipped."""
    lines = []
    for n, line in enumerate(Path(path).read_text(errors="replace").splitlines(), 1):
        match = _LINE.match(line.split("#", 1)[0])
        if match:
            lines.append((n, match.group(1), match.group(2)))
    return lines


def read_config(path: str | os.PathLike) -> dict[str, str]:
    """{key: value} of a config file (a later line wins, as in configargparse); {} when the file is missing."""
    if not Path(path).is_file():
        return {}
    return {key: value for _, key, value in config_lines(path)}


def path_candidates(value: str, config_path: str | os.PathLike | None = None) -> list[Path]:
    """Where a path option of a config (datadir, basedir) may point: itself when absolute, else relative to
    the working directory, the repository and the config file's folder, in that order."""
    p = Path(value).expanduser()
    if p.is_absolute():
        return [p]
    bases = [Path.cwd(), REPO_ROOT] + ([Path(config_path).resolve().parent] if config_path else [])
    return [(base / p).resolve() for base in bases]
