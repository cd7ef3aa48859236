#!/usr/bin/env bash
# Create (or update) the project's one Python environment in .venv with pip.
# Re-running is cheap: each pip step runs only when its inputs changed since its last successful run:
#   requirements.txt                            -> pip install -r requirements.txt
#   requirements-nodeps.txt, pyproject.toml, here -> pip install --no-deps (those wheels, then this project,
#                                                    editable: the packages and the adnerf-* commands)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; sys.exit(0 if sys.version_info[:2] >= (3, 10) else 1)' \
  || { echo "error: Python 3.10+ is needed (3.11 recommended); set PYTHON=/path/to/python3.11" >&2; exit 1; }
if [ ! -x .venv/bin/python ]; then
  echo "[setup] creating .venv with $("$PY" --version)"
  "$PY" -m venv .venv
fi
stamp=.venv/.requirements.sha256
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  # a first install unpacks about 8.3 GB (torch's CUDA libraries are most of it): say so before pip fails halfway
  need_gb=${ADNERF_SETUP_NEED_GB:-9}  # the installed .venv measured 8.3 GB
  free_gb=$(( $(df -Pk .venv | awk 'NR==2 {print $4}') / 1048576 ))
  if ! compgen -G ".venv/lib/python*/site-packages/torch" >/dev/null && [ "$free_gb" -lt "$need_gb" ]; then
    echo "error: installing requirements.txt into $(pwd)/.venv needs about $need_gb GB free there; $free_gb GB is free" >&2
    exit 1
  fi
  echo "[setup] installing requirements.txt into .venv (torch is large: a few minutes the first time)"
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -r requirements.txt
  echo "$want" > "$stamp"
fi
# --no-deps: requirements.txt installed every dependency already (pip would otherwise re-resolve them all);
# the checkout's path is part of the stamp because an editable install points at it.
stamp=.venv/.package.sha256
want=$(cat requirements-nodeps.txt pyproject.toml | sha256sum | cut -d' ' -f1)-$(pwd | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "[setup] installing requirements-nodeps.txt and this project (pip install -e .) into .venv"
  .venv/bin/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
  # the venv's own setuptools builds the editable install when it can (no download of a build environment)
  if .venv/bin/python -c 'import sys, setuptools; sys.exit(int(setuptools.__version__.split(".")[0]) < 64)' 2>/dev/null; then
    .venv/bin/python -m pip install --quiet --no-deps --no-build-isolation -e .
  else
    .venv/bin/python -m pip install --quiet --no-deps -e .
  fi
  echo "$want" > "$stamp"
fi
