#!/usr/bin/env bash
# The main job end to end on the bundled sample, offline: install, make the sample video (a real photo
# animated to a synthetic voice), preprocess it with the offline backends, train the Head-NeRF and the
# Torso-NeRF, reconstruct the validation frames (side-by-side video), drive the person with a different
# speech clip into an mp4 with sound, and evaluate. Settings: demo.conf (or DEMO_CONF=file).
# Idempotent: a second run reuses every finished stage and resumes training where it stopped.
# Runs on the GPU when PyTorch sees one, else on the CPU.
# Where it writes: DATASET_ROOT (default dataset: the sample in <root>/vids/, the dataset in <root>/<id>/) and
# RESULTS_ROOT (default evaluation/results: the report in <root>/<id>/), relative to this folder or absolute.
set -euo pipefail
cd "$(dirname "$0")"
CONF=${DEMO_CONF:-demo.conf}
[ -f "$CONF" ] || { echo "[demo] error: settings file $CONF not found" >&2; exit 1; }
# shellcheck source=demo.conf
source "$CONF"
START=$(date +%s)
stage() { echo; echo "[demo] $1   ($(( $(date +%s) - START )) s)"; }
fail() { echo "[demo] error: $1" >&2; exit 1; }

stage "0/7 Python environment (.venv; installs requirements.txt the first time)"
bash scripts/setup_env.sh
PY=.venv/bin/python
# shellcheck source=scripts/nerf_stages.sh
source scripts/nerf_stages.sh  # train_head, train_torso, reconstruct_validation, drive, evaluate_validation
ID=$DEMO_ID
DATASET_ROOT=${DATASET_ROOT:-dataset}
RESULTS_ROOT=${RESULTS_ROOT:-evaluation/results}
DATA=$DATASET_ROOT/$ID
COM=$DATA/logs/${ID}_com
DRIVE_WAV=$DATASET_ROOT/vids/${ID}_drive.wav
# the NeRF backend (demo.conf BACKEND): mlp = AD-NeRF's networks, grid = tri-plane + occupancy grid
# (docs/grid_backend.md); each has its own steps and rays, and its own checkpoint files in the same folders
BACKEND=${BACKEND:-mlp}
case "$BACKEND" in
  mlp)  BODY=body ;;
  grid) BODY=gridbody; HEAD_ITERS=${GRID_HEAD_ITERS:-$HEAD_ITERS}; TORSO_ITERS=${GRID_TORSO_ITERS:-$TORSO_ITERS}
        HEAD_RAYS=${GRID_RAYS:-$HEAD_RAYS}; TORSO_RAYS=${GRID_RAYS:-$TORSO_RAYS} ;;
  *) fail "BACKEND=$BACKEND in $CONF: expected mlp or grid" ;;
esac

stage "1/7 sample video $DATASET_ROOT/vids/$ID.mp4 (${SAMPLE_SECONDS} s, ${SAMPLE_SIZE} px) and the driving clip $DRIVE_WAV"
$PY data_util/make_sample.py --id "$ID" --seconds "$SAMPLE_SECONDS" --size "$SAMPLE_SIZE" \
    --drive_seconds "$DRIVE_SECONDS" --out_dir "$DATASET_ROOT/vids" --no_progress > /dev/null \
    || fail "making the sample failed"

stage "2/7 preprocessing: bash process_data.sh $ID --offline"
bash process_data.sh "$ID" --offline --dataset_root "$DATASET_ROOT" \
    --nerf_set "netwidth=$NETWIDTH" --nerf_set "netwidth_fine=$NETWIDTH" --nerf_set "N_samples=$N_SAMPLES" \
    --nerf_set "N_importance=$N_IMPORTANCE" --nerf_set "lrate=$LRATE" \
    || fail "preprocessing failed (see the step named above)"

stage "3/7 Head-NeRF ($BACKEND backend): $HEAD_ITERS steps ($DATA/HeadNeRF_config.txt)"
NOSMO=$(( HEAD_ITERS * 7 / 10 ))  # the last 30 % train AudioAttNet smoothing, as the original's last half
train_head "$DATA" "$BACKEND" "$HEAD_ITERS" "$HEAD_RAYS" "$NOSMO"

stage "4/7 Torso-NeRF on the frozen head: $TORSO_ITERS steps ($DATA/TorsoNeRF_config.txt)"
train_torso "$DATA" "$BACKEND" "$TORSO_ITERS" "$TORSO_RAYS" "$NOSMO"
latest_body=$(ls "$COM"/*_"$BODY".tar | sort | tail -n 1)

# a stage's output is reused when it is newer than the torso checkpoint it was rendered from and was made
# with the same backend (recorded beside it in <output>.backend)
fresh() { [ -f "$1" ] && [ "$1" -nt "$latest_body" ] && [ "$(cat "$1.backend" 2>/dev/null || echo mlp)" = "$BACKEND" ]; }
made() { echo "$BACKEND" > "$1.backend"; }

stage "5/7 reconstructing the validation frames (their own audio and poses) + side-by-side video"
if ! fresh "$COM/val_rst/side_by_side.mp4"; then
  reconstruct_validation "$DATA" "$BACKEND"
  made "$COM/val_rst/side_by_side.mp4"
fi

stage "6/7 driving the person with a different speech clip ($DRIVE_WAV) -> mp4 with sound"
if ! fresh "$COM/test_aud_rst/video_with_audio.mp4"; then
  drive "$DATA" "$BACKEND" "$(realpath "$DRIVE_WAV")"
  made "$COM/test_aud_rst/video_with_audio.mp4"
fi

stage "7/7 evaluation of the validation reconstruction (every metric; those without weights offline say why)"
REPORT=$RESULTS_ROOT/$ID
if ! fresh "$REPORT/evaluation_report.txt"; then
  evaluate_validation "$DATA" "$REPORT"
  made "$REPORT/evaluation_report.txt"
fi

# the trained person in one file, to drive anywhere without the dataset (adnerf-drive --avatar, adnerf-serve)
AVATAR=$DATA/$ID.adnerf
if ! fresh "$AVATAR"; then
  echo "[demo] exporting the trained person: $AVATAR"
  $PY -m avatar.export --config "$DATA/TorsoNeRFTest_config.txt" -o "$AVATAR" --backend "$BACKEND" --skip_bg_pixels \
      || fail "exporting $AVATAR failed"
  made "$AVATAR"
fi

echo
echo "[demo] finished in $(( $(date +%s) - START )) s. Results:"
echo "  driven by new audio, with sound : $COM/test_aud_rst/video_with_audio.mp4"
echo "  ground truth | render           : $COM/val_rst/side_by_side.mp4"
echo "  evaluation report and plot      : $REPORT/evaluation_report.txt, $REPORT/metrics_plot.png"
echo "  the person in one file          : $AVATAR (adnerf-drive --avatar $AVATAR --audio A -o O.mp4; adnerf-serve --avatar $AVATAR)"
echo "  training logs (TensorBoard)     : $DATA/logs/*/tensorboard"
echo "  validation reconstruction (the face region is the head's; see the report for every metric):"
grep -E "^(PSNR|SSIM|LMD|NIOE)" "$REPORT/evaluation_report.txt" | sed 's/^/    /' || true
