"""Where the original AD-NeRF's own outputs live (../shared/oracle, see its README), for the oracle tests.

The fixtures are never copied into the project: tests that need one skip when ../shared or the file is
missing.
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ORACLE = ROOT.parent / "shared" / "oracle"
ASSETS_3DMM = ROOT.parent / "shared" / "adnerf-assets" / "3DMM"


def need(*parts: str, base: Path = ORACLE) -> Path:
    """The path base/parts..., or skip the calling test when it is absent."""
    path = base.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not here (fixtures of the original live in ../shared)")
    return path
