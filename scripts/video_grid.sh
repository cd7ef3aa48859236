#!/usr/bin/env bash
# One person's video -> a driven mp4 with sound, with the grid backend at settings for a CPU:
#   bash scripts/video_grid.sh <id> <video.mp4> <speech.wav> [head_steps (3000)] [torso_steps (1500)]
# The README's "Your own video" commands in order: offline preprocessing, grid Head-NeRF, grid Torso-NeRF,
# driving with the speech clip (dataset/<id>/logs/<id>_com/test_aud_rst/video_with_audio.mp4), the
# validation frames reconstructed (val_rst/side_by_side.mp4) and evaluated (evaluation/results/<id>/).
# Finished preprocessing steps and training are reused on a second run; the renders are made again.
# 20 s of 512x512 video took about 15 min on 2 CPU cores (docs/grid_backend.md, "On a real video").
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "error: $1" >&2; exit 2; }
[ $# -ge 3 ] && [ $# -le 5 ] || fail "usage: bash scripts/video_grid.sh <id> <video.mp4> <speech.wav> [head_steps] [torso_steps]"
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
D=dataset/$ID
NOSMO=$(( HEAD * 7 / 10 ))  # the last 30 % of the head's steps train AudioAttNet smoothing
every() { echo $(( $1 >= 3 ? $1 / 3 : 1 )); }
bash process_data.sh "$ID" --offline
$PY NeRFs/HeadNeRF/run_nerf.py --config "$D/HeadNeRF_config.txt" --backend grid --N_iters "$HEAD" --N_rand 512 \
    --nosmo_iters "$NOSMO" --i_weights "$(every "$HEAD")" --i_img "$(every "$HEAD")"
$PY NeRFs/TorsoNeRF/run_nerf.py --config "$D/TorsoNeRF_config.txt" --backend grid --N_iters "$TORSO" --N_rand 512 \
    --nosmo_iters "$NOSMO" --i_weights "$(every "$TORSO")" --i_img "$(every "$TORSO")"
$PY NeRFs/TorsoNeRF/run_nerf.py --config "$D/TorsoNeRFTest_config.txt" --backend grid --aud_file "$SPEECH" \
    --test_size -1 --with_audio "$SPEECH" --rst_dir test_aud_rst --skip_bg_pixels
$PY NeRFs/TorsoNeRF/run_nerf.py --config "$D/TorsoNeRFTest_config.txt" --backend grid --aud_file aud.npy \
    --aud_from_pose --testskip 1 --test_size -1 --rst_dir val_rst --skip_bg_pixels
$PY evaluation/side_by_side.py --subject "$D" --gen_dir "$D/logs/${ID}_com/val_rst"
$PY evaluation/evaluate.py --subject "$ID" --gen_dir "$D/logs/${ID}_com/val_rst" --metrics all \
    --landmark_backend dlib --out_dir "evaluation/results/$ID"
echo
echo "driven by $SPEECH, with sound: $D/logs/${ID}_com/test_aud_rst/video_with_audio.mp4"
echo "ground truth | render:          $D/logs/${ID}_com/val_rst/side_by_side.mp4"
echo "evaluation:                     evaluation/results/$ID/evaluation_report.txt"
