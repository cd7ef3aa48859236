"""The project as an installed package: console commands and entry scripts work from any folder, and no
code outside tests/ edits sys.path (imports resolve through `pip install -e .`, which setup_env.sh runs)."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def console_scripts() -> dict[str, str]:
    """[project.scripts] of pyproject.toml (read by hand: tomllib is Python 3.11+, setup_env.sh allows 3.10)."""
    scripts, inside = {}, False
    for line in (ROOT / "pyproject.toml").read_text().splitlines():
        if line.startswith("["):
            inside = line.strip() == "[project.scripts]"
        elif inside and "=" in line and not line.lstrip().startswith("#"):
            name, target = (part.strip().strip('"') for part in line.split("=", 1))
            scripts[name] = target
    return scripts


SCRIPTS = console_scripts()
# the original README's entry points, kept as thin wrappers of the same main() functions
ORIGINAL_ENTRY_POINTS = ("NeRFs/HeadNeRF/run_nerf.py", "NeRFs/TorsoNeRF/run_nerf.py", "evaluation/evaluate.py",
                         "add_audio/add_audio.py", "data_util/process_data.py")
PACKAGES = ("adnerf", "NeRFs.core", "NeRFs.HeadNeRF.run_nerf", "data_util.face_parsing", "data_util.face_tracking",
            "evaluation.metrics", "add_audio.add_audio")
NOT_INSTALLED = "the project is not installed in this environment: run bash scripts/setup_env.sh (pip install -e .)"


def run_elsewhere(cmd: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_every_command_names_an_existing_main():
    assert {"adnerf-process", "adnerf-train-head", "adnerf-train-torso", "adnerf-drive", "adnerf-evaluate",
            "adnerf-mux", "adnerf-make-sample"} <= set(SCRIPTS)
    for name, target in SCRIPTS.items():
        module, func = target.split(":")
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), name
        assert re.search(rf"^def {func}\(argv", (ROOT / (module.replace(".", "/") + ".py")).read_text(), re.M), name


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_console_command_help_from_any_folder(name, tmp_path):
    exe = Path(sys.executable).parent / name
    if not exe.is_file():
        pytest.fail(f"{exe} missing: {NOT_INSTALLED}")
    run = run_elsewhere([str(exe), "--help"], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith(f"usage: {name}"), run.stdout[:200]
    assert not any(tmp_path.iterdir()), "--help wrote files into the working directory"


@pytest.mark.parametrize("script", ORIGINAL_ENTRY_POINTS)
def test_original_entry_script_help_from_any_folder(script, tmp_path):
    run = run_elsewhere([sys.executable, str(ROOT / script), "--help"], tmp_path)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.startswith("usage:")


def test_packages_import_from_any_folder(tmp_path):
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1:]]"
    run = run_elsewhere([sys.executable, "-c", code, *PACKAGES], tmp_path)
    assert run.returncode == 0, f"{NOT_INSTALLED}\n{run.stderr[-2000:]}"


def python_files_outside_tests() -> list[Path]:
    """.py files of the checkout, without tests/, hidden folders (.venv, .git) and data folders."""
    skip = {"tests", "dataset", "pretrained_models", "logs", "results", "__pycache__", "build"}
    found = []
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".") and not d.endswith(".egg-info")]
        found += [Path(folder) / f for f in files if f.endswith(".py")]
    return sorted(found)


def test_no_code_outside_tests_edits_sys_path():
    pattern = re.compile(r"\bsys\.path\b|\baddsitedir\b|PYTHONPATH")
    files = python_files_outside_tests()
    assert ROOT / "NeRFs" / "HeadNeRF" / "run_nerf.py" in files and ROOT / "benchmarks" / "common.py" in files
    offenders = []
    for path in files:
        rel = path.relative_to(ROOT)
        for n, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if pattern.search(line):
                offenders.append(f"{rel}:{n}: {line.strip()}")
    assert not offenders, "import the installed packages instead:\n" + "\n".join(offenders)


def test_setup_refuses_a_first_install_without_the_disk_it_needs(tmp_path):
    """A fresh install unpacks ~8.5 GB; with too little free disk setup_env.sh stops before pip, in one line."""
    for name in ("scripts/setup_env.sh", "requirements.txt", "requirements-nodeps.txt", "pyproject.toml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    # no index and no pip config: were the check missing, pip would fail at once instead of installing 8 GB
    env = {**os.environ, "ADNERF_SETUP_NEED_GB": "1000000", "PYTHON": sys.executable,
           "PIP_CONFIG_FILE": os.devnull, "PIP_NO_INDEX": "1"}
    run = subprocess.run(["bash", "scripts/setup_env.sh"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "needs about 1000000 GB free" in errors[0], run.stderr[-2000:]
    assert not list((tmp_path / ".venv").glob("lib/python*/site-packages/torch")), "pip ran before the check"
    assert not (tmp_path / ".venv" / ".requirements.sha256").exists()
