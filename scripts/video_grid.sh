#!/usr/bin/env bash
# One person's video -> a driven mp4 with sound, with the grid backend at settings for a CPU:
#   bash scripts/video_grid.sh <id> <video.mp4> <speech.wav> [head_steps] [torso_steps] [--quick] [--portrait]
# Steps: 3000 head / 1500 torso, the grid's resolution chosen from the image (--grid_max_res auto); halfway
# through the head, every training pose refitted to its image (--refine_poses 10), and the validation frames'
# poses (which driving cycles through) fitted to theirs before rendering (--fit_poses 30): the tracker's
# poses are off by about a degree (docs/nerf.md "Refined training poses"). The head learns the blinks: two
# condition-mixed planes (--grid_cond_planes 2) and 30 % of its steps on the closed-eye frames, 80 % of
# those steps' rays on the eyes, with a random frame's sound (--eye_frames 0.3 --eye_rays 0.8
# --eye_frames_audio random; docs/nerf.md "Eyes that close").
# --quick: a first look in a few minutes: 600 head / 300 torso steps at --grid_max_res 128, poses as tracked
# (steps given as arguments still win). A later full run on the same id resumes the quick run's 128 planes: use another id.
# --portrait: the driven and the validation renders also as portraits (the rendered face in the real
# frames, full resolution for a cropped video: docs/portrait.md), the latter evaluated to <results>/<id>_portrait/.
# The README's "Your own video" commands in order: offline preprocessing, grid Head-NeRF, grid Torso-NeRF,
# driving with the speech clip (<dataset>/<id>/logs/<id>_com/test_aud_rst/video_with_audio.mp4), the
# validation frames reconstructed (val_rst/side_by_side.mp4) and evaluated (<results>/<id>/).
# Before each stage: "[video_grid] stage k/N <name>: elapsed m:ss, estimated remaining m:ss" (scripts/stage_eta.py:
# costs measured on a 2-core CPU, rescaled by the stages already finished); at the end the total.
# Finished preprocessing steps and training are reused on a second run; the renders are made again.
# 20 s of 512x512 video took 18 min 0 s on 2 CPU cores with --portrait before the eye recipe, 32 min 15 s with it
# on a 2.2x slower machine (README, "Your own video").
# Where it writes, as demo.sh: DATASET_ROOT (default dataset: the video in <root>/vids/<id>.mp4, the dataset in
# <root>/<id>/) and RESULTS_ROOT (default evaluation/results), relative to the repository or absolute.
# VIDEO_GRID_DRY_RUN=1: print the resolved settings (key=value lines) and stop before any work.
set -euo pipefail
fail() { echo "error: $1" >&2; exit 2; }
PORTRAIT=0 QUICK=0 ARGS=()
for a in "$@"; do
  case "$a" in --portrait) PORTRAIT=1 ;; --quick) QUICK=1 ;; *) ARGS+=("$a") ;; esac
done
set -- ${ARGS[@]+"${ARGS[@]}"}
USAGE="bash scripts/video_grid.sh <id> <video.mp4> <speech.wav> [head_steps] [torso_steps] [--quick] [--portrait]"
[ $# -ge 3 ] && [ $# -le 5 ] || fail "usage: $USAGE"
if [ "$QUICK" = 1 ]; then
  ID=$1 VIDEO=$2 SPEECH=$3 HEAD=${4:-600} TORSO=${5:-300} GRID_RES=128 REFINE=0 FIT=0 EYES=0
else
  ID=$1 VIDEO=$2 SPEECH=$3 HEAD=${4:-3000} TORSO=${5:-1500} GRID_RES=auto REFINE=10 FIT=30 EYES=1
fi
[[ "$ID" =~ ^[A-Za-z0-9_-]+$ ]] || fail "id '$ID': use letters, digits, _ and - only (it names dataset/<id>/)"
[ -f "$VIDEO" ] || fail "video $VIDEO not found"
[ -f "$SPEECH" ] || fail "speech clip $SPEECH not found"
for n in "$HEAD" "$TORSO"; do [[ "$n" =~ ^[1-9][0-9]*$ ]] || fail "steps '$n': a whole number >= 1"; done
VIDEO=$(realpath "$VIDEO") SPEECH=$(realpath "$SPEECH")  # before the cd: relative to where it was called
cd "$(dirname "$0")/.."
DATASET_ROOT=${DATASET_ROOT:-dataset}
RESULTS_ROOT=${RESULTS_ROOT:-evaluation/results}
GRID_OPTS=()  # the trainings' extra options; none at the default (run_nerf.py's --grid_max_res auto)
[ "$GRID_RES" = auto ] || GRID_OPTS=(--grid_max_res "$GRID_RES")
HEAD_OPTS=() RENDER_OPTS=()
[ "$REFINE" = 0 ] || HEAD_OPTS=(--refine_poses "$REFINE")
COND_PLANES=0
if [ "$EYES" = 1 ]; then
  COND_PLANES=2
  HEAD_OPTS+=(--grid_cond_planes "$COND_PLANES" --eye_frames 0.3 --eye_rays 0.8 --eye_frames_audio random)
fi
[ "$FIT" = 0 ] || RENDER_OPTS=(--fit_poses "$FIT")
NOSMO=$(( HEAD * 7 / 10 ))  # the last 30 % of the head's steps train AudioAttNet smoothing
STAGES=preprocess,head,torso,drive,validation,evaluation
[ "$PORTRAIT" = 1 ] && STAGES+=,portrait
if [ "${VIDEO_GRID_DRY_RUN:-0}" = 1 ]; then
  printf '%s\n' "id=$ID" "video=$VIDEO" "speech=$SPEECH" "head_steps=$HEAD" "torso_steps=$TORSO" \
      "nosmo_iters=$NOSMO" "train_options=${GRID_OPTS[*]-}" \
      "head_options=${HEAD_OPTS[*]-}" "render_options=${RENDER_OPTS[*]-}" "quick=$QUICK" "portrait=$PORTRAIT" \
      "stages=$STAGES" "dataset_root=$DATASET_ROOT" "results_root=$RESULTS_ROOT"
  exit 0
fi
VIDS=$DATASET_ROOT/vids
mkdir -p "$VIDS"
if [ ! -f "$VIDS/$ID.mp4" ]; then
  cp "$VIDEO" "$VIDS/$ID.mp4"
elif ! cmp -s "$VIDEO" "$VIDS/$ID.mp4"; then
  fail "$VIDS/$ID.mp4 exists and is another video: choose another id, or remove it (and $DATASET_ROOT/$ID/)"
fi

bash scripts/setup_env.sh
PY=.venv/bin/python
# shellcheck source=scripts/nerf_stages.sh
source scripts/nerf_stages.sh
D=$DATASET_ROOT/$ID
COM=$D/logs/${ID}_com
REPORT=$RESULTS_ROOT/$ID
START=$(date +%s) STAGE_START="" FINISHED=""
eta() { $PY -m scripts.stage_eta --dataset "$D" --video "$VIDS/$ID.mp4" --speech "$SPEECH" --head_steps "$HEAD" \
    --torso_steps "$TORSO" --grid_res "$GRID_RES" --refine_poses "$REFINE" --fit_poses "$FIT" --cond_planes "$COND_PLANES" --stages "$STAGES" --finished "$FINISHED" \
    --elapsed $(( $(date +%s) - START )) "$@" || true; }   # a progress line never stops the run
# before each stage: the previous stage's seconds into FINISHED, then the progress line
stage() {
  echo
  [ -z "$STAGE_START" ] || FINISHED+="${FINISHED:+,}$(( $(date +%s) - STAGE_START ))"
  STAGE_START=$(date +%s)
  eta
}
stage
bash process_data.sh "$ID" --offline --dataset_root "$DATASET_ROOT"
stage
train_head "$D" grid "$HEAD" 512 "$NOSMO" ${GRID_OPTS[@]+"${GRID_OPTS[@]}"} ${HEAD_OPTS[@]+"${HEAD_OPTS[@]}"}
stage
train_torso "$D" grid "$TORSO" 512 "$NOSMO" ${GRID_OPTS[@]+"${GRID_OPTS[@]}"}
stage
drive "$D" grid "$SPEECH" ${RENDER_OPTS[@]+"${RENDER_OPTS[@]}"}
stage
reconstruct_validation "$D" grid ${RENDER_OPTS[@]+"${RENDER_OPTS[@]}"}
stage
evaluate_validation "$D" "$REPORT"
if [ "$PORTRAIT" = 1 ]; then   # what --portrait of the NeRF command does, on the sequences just rendered
  stage
  for seq in test_aud_rst val_rst; do $PY -m portrait.cli --sequence "$COM/$seq"; done
  $PY evaluation/evaluate.py --dataset_root "$DATASET_ROOT" --subject "$ID" --gen_dir "$COM/val_rst_portrait" \
      --metrics all --landmark_backend dlib --out_dir "${REPORT}_portrait"
fi
FINISHED+=",$(( $(date +%s) - STAGE_START ))"
echo
eta --total
echo "driven by $SPEECH, with sound: $COM/test_aud_rst/video_with_audio.mp4"
echo "ground truth | render:          $COM/val_rst/side_by_side.mp4"
echo "evaluation:                     $REPORT/evaluation_report.txt"
if [ "$PORTRAIT" = 1 ]; then
  echo "portrait, driven (with sound):   $COM/test_aud_rst_portrait/ (video_full_with_audio.mp4 for a cropped video)"
  echo "portrait evaluation:            ${REPORT}_portrait/evaluation_report.txt"
fi
