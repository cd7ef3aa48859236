#!/usr/bin/env bash
# Preprocess a talking-head video for AD-NeRF:  bash process_data.sh <id> [options]
#   dataset/vids/<id>.mp4 -> dataset/<id>/ (frames, landmarks, parsing, background, images, tracking,
#   transforms and NeRF configs). Runs data_util/process_data.py --id <id> --step k for steps 0-7, independent
#   ones concurrently, stopping at the first failing step; re-running resumes. Options: --help,
#   docs/preprocessing.md. Python: $PYTHON, else .venv/bin/python of this repository, else python3.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${PYTHON:-$root/.venv/bin/python}"
[ -x "$python" ] || python="$(command -v python3)"
if [ $# -lt 1 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
    echo "usage: bash process_data.sh <id> [options]   (dataset/vids/<id>.mp4 -> dataset/<id>/)"
    exec "$python" "$root/data_util/process_data.py" --help
fi
case "$1" in -*) echo "error: the first argument is the subject id, got option $1" >&2; exit 2 ;; esac
id="$1"
shift
exec "$python" "$root/data_util/process_data.py" --id "$id" --step all "$@"
