#!/usr/bin/env bash
# Demo: install, make a synthetic talking-head sample, train the Head-NeRF on it, render the held-out
# frames to PNGs + an mp4, and print the validation PSNR. Idempotent: a second run resumes / reuses.
# (The full pipeline demo, from a generated video through Torso-NeRF, driving and evaluation, replaces
# this as those stages land; see README.)
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_env.sh
PY=.venv/bin/python
DATA=dataset/demo_synthetic
# Training settings sized for a 2-core CPU (about 10 minutes); they are written into the sample's
# HeadNeRF_config.txt, which is the file to edit to scale up (more N_iters, N_rand, samples, netwidth 256).
SETTINGS=(--set N_iters=1500 --set N_rand=512 --set N_samples=32 --set N_importance=32 --set netwidth=128
          --set netwidth_fine=128 --set lrate=2e-3 --set i_weights=500 --set i_testset=1500 --set i_img=500)
if [ ! -f "$DATA/transforms_val.json" ]; then
  echo "[demo] generating the synthetic sample in $DATA"
  $PY data_util/synthetic_head.py "$DATA" --frames 220 --size 48 "${SETTINGS[@]}"
fi
echo "[demo] training the Head-NeRF ($DATA/HeadNeRF_config.txt)"
$PY NeRFs/HeadNeRF/run_nerf.py --config "$DATA/HeadNeRF_config.txt" "$@"
$PY NeRFs/HeadNeRF/run_nerf.py --config "$DATA/HeadNeRF_config.txt" --render_only "$@"
echo "[demo] results in $DATA/logs/demo_synthetic_head/ (renderonly_val_*/video.mp4, metrics.json, tensorboard/)"
