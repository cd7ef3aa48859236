#!/usr/bin/env bash
# One person's video -> a driven mp4 with sound, with the grid backend at settings for a CPU:
#   bash scripts/video_grid.sh <id> <video.mp4> <speech.wav> [head_steps (3000)] [torso_steps (1500)] [--portrait]
# --portrait: the driven and the validation renders also as portraits (the rendered head and neck in the real
# frames, full resolution for a cropped video: docs/portrait.md), the latter evaluated to evaluation/results/<id>_portrait/.
# The README's "Your own video" commands in order: offline preprocessing, grid Head-NeRF, grid Torso-NeRF,
# driving with the speech clip (dataset/<id>/logs/<id>_com/test_aud_rst/video_with_audio.mp4), the
# validation frames reconstructed (val_rst/side_by_side.mp4) and evaluated (evaluation/results/<id>/).
# Finished preprocessing steps and training are reused on a second run; the renders are made again.
# 20 s of 512x512 video took 13.5 min on 2 CPU cores (docs/grid_backend.md, "On a real video").
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "error: $1" >&2; exit 2; }
PORTRAIT=0 ARGS=()
for a in "$@"; do if [ "$a" = --portrait ]; then PORTRAIT=1; else ARGS+=("$a"); fi; done
set -- ${ARGS[@]+"${ARGS[@]}"}
[ $# -ge 3 ] && [ $# -le 5 ] || fail "usage: bash scripts/video_grid.sh <id> <video.mp4> <speech.wav> [head_steps] [torso_steps] [--portrait]"
ID=$1 VIDEO=$2 SPEECH=$3 HEAD=${4:-3000} TORSO=${5:-1500}
[[ "$ID" =~ ^[A-Za-z0-9_-]+$ ]] || fail "id '$ID': use letters, digits, _ and - only (it names dataset/<id>/)"
[ -f "$VIDEO" ] || fail "video $VIDEO not found"
[ -f "$SPEECH" ] || fail "speech clip $SPEECH not found"
for n in "$HEAD" "$TORSO"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || fail "steps '$n': a whole number >= 1"; done
SPEECH=$(realpath "$SPEECH")
mkdir -p dataset/vids
if [ ! -f "dataset/vids/$ID.mp4" ]; then
  cp "$VIDEO" "dataset/vids/$ID.mp4"
elif ! cmp -s "$VIDEO" "dataset/vids/$ID.mp4"; then
  fail "dataset/vids/$ID.mp4 exists and is another video: choose another id, or remove it (and dataset/$ID/)"
fi

bash scripts/setup_env.sh
PY=.venv/bin/python
# shellcheck source=scripts/nerf_stages.sh
source scripts/nerf_stages.sh
NOSMO=$(( HEAD * 7 / 10 ))  # the last 30 % of the head's steps train AudioAttNet smoothing
bash process_data.sh "$ID" --offline
D=dataset/$ID
train_head "$D" grid "$HEAD" 512 "$NOSMO"
train_torso "$D" grid "$TORSO" 512 "$NOSMO"
drive "$D" grid "$SPEECH"
reconstruct_validation "$D" grid
evaluate_validation "$D" "evaluation/results/$ID"
COM=$D/logs/${ID}_com
if [ "$PORTRAIT" = 1 ]; then   # what --portrait of the NeRF command does, on the sequences just rendered
  for seq in test_aud_rst val_rst; do $PY -m portrait.cli --sequence "$COM/$seq"; done
  $PY evaluation/evaluate.py --dataset_root dataset --subject "$ID" --gen_dir "$COM/val_rst_portrait" \
      --metrics all --landmark_backend dlib --out_dir "evaluation/results/${ID}_portrait"
fi
echo
echo "driven by $SPEECH, with sound: $D/logs/${ID}_com/test_aud_rst/video_with_audio.mp4"
echo "ground truth | render:          $D/logs/${ID}_com/val_rst/side_by_side.mp4"
echo "evaluation:                     evaluation/results/$ID/evaluation_report.txt"
if [ "$PORTRAIT" = 1 ]; then
  echo "portrait, driven (with sound):   $COM/test_aud_rst_portrait/ (video_full_with_audio.mp4 for a cropped video)"
  echo "portrait evaluation:            evaluation/results/${ID}_portrait/evaluation_report.txt"
fi
