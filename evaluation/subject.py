"""Where a subject's evaluation inputs are: its NeRF configs, the driving output and its frame stride.

The NeRF configs that preprocessing writes put the logs inside the dataset (``basedir = dataset/<id>/logs``),
the original's configs next to the working directory (``basedir = ./logs/``). The driving output
``<basedir>/<id>_com/test_aud_rst`` is therefore looked for where ``TorsoNeRFTest_config.txt``'s basedir
points (resolved as the NeRF code resolves it: absolute, or relative to the working directory, the
repository or the config's folder), then in ``dataset/<id>/logs`` and ``./logs`` / ``<repo>/logs``.

Driving renders pose i of ``test_pose_file[::testskip]``, the validation renders use every testskip-th
validation frame too: generated frame k shows validation frame k * testskip.
"""
from __future__ import annotations

import json
from pathlib import Path

# the config reading and the testskip default the NeRF code uses too, from the shared layer
from adnerf.configfile import path_candidates, read_config
from adnerf.constants import DEFAULT_TESTSKIP

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


def testskip_of(gen_path: Path, dataset_dir: Path, subject: str) -> tuple[int, str]:
    """(testskip, where it came from) for generated frames at gen_path: the testskip of the config whose
    run folder holds gen_path (driving: TorsoNeRFTest_config.txt), else 1 (frame k = validation frame k)."""
    gen_path = Path(gen_path).resolve()
    record = gen_path / "frames.json"  # written by the driving mode: exact, whatever the configs say now
    if record.is_file():
        try:
            return max(int(json.loads(record.read_text())["testskip"]), 1), str(record)
        except (ValueError, KeyError, TypeError):
            pass
    # <id>_com holds both the driving output (TorsoNeRFTest) and the torso's validation renders (TorsoNeRF)
    names = CONFIG_NAMES if "test_aud_rst" in gen_path.parts else CONFIG_NAMES[1:] + CONFIG_NAMES[:1]
    for name in names:
        if not (dataset_dir / name).is_file():
            continue
        for folder in run_folders(dataset_dir, name, subject):
            if gen_path == folder or folder in gen_path.parents:
                value = read_config(dataset_dir / name).get("testskip")
                try:
                    skip = int(value) if value is not None else DEFAULT_TESTSKIP
                except ValueError:
                    skip = DEFAULT_TESTSKIP
                where = f"{name}" if value is not None else f"the NeRF default (no testskip in {name})"
                return max(skip, 1), where
    return 1, "frames outside the subject's NeRF logs"
