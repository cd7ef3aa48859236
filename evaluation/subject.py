"""Where a subject's evaluation inputs are: its NeRF configs and the driving output.

The NeRF configs that preprocessing writes put the logs inside the dataset (``basedir = dataset/<id>/logs``),
the original's configs next to the working directory (``basedir = ./logs/``). The driving output
``<basedir>/<id>_com/test_aud_rst`` is therefore looked for where ``TorsoNeRFTest_config.txt``'s basedir
points (resolved as the NeRF code resolves it: absolute, or relative to the working directory, the
repository or the config's folder), then in ``dataset/<id>/logs`` and ``./logs`` / ``<repo>/logs``.

Which validation frame a generated frame shows is not worked out here: the record frames.json beside every
rendered sequence says it (evaluation/inputs.py pairs by it).
"""
from __future__ import annotations

from pathlib import Path

# the config reading the NeRF code uses too, from the shared layer
from adnerf.configfile import path_candidates, read_config

ROOT = Path(__file__).resolve().parents[1]
CONFIG_NAMES = ("TorsoNeRFTest_config.txt", "TorsoNeRF_config.txt", "HeadNeRF_config.txt")


def run_folders(dataset_dir: Path, config_name: str, subject: str) -> list[Path]:
    """Candidate <basedir>/<expname> folders of one of the subject's NeRF runs (existing or not), best first."""
    config_path = dataset_dir / config_name
    options = read_config(config_path)
    expname = options.get("expname") or (f"{subject}_head" if config_name.startswith("Head") else f"{subject}_com")
    folders = []
    if "basedir" in options:
        folders += [base / expname for base in path_candidates(options["basedir"], config_path)]
    folders += [dataset_dir / "logs" / expname, Path.cwd() / "logs" / expname, ROOT / "logs" / expname]
    return list(dict.fromkeys(f.resolve() for f in folders))     # unique, order kept


def driving_output_candidates(dataset_dir: Path, subject: str) -> list[Path]:
    """Where logs/<id>_com/test_aud_rst may be, best first."""
    return [f / "test_aud_rst" for f in run_folders(dataset_dir, CONFIG_NAMES[0], subject)]


def find_driving_output(dataset_dir: Path, subject: str) -> Path | None:
    """The first existing driving output folder, or None."""
    return next((c for c in driving_output_candidates(dataset_dir, subject) if c.is_dir()), None)
