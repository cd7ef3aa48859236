#!/usr/bin/env bash
# Demo: install, make a synthetic talking-head sample, train the Head-NeRF and the Torso-NeRF on it,
# render the held-out frames (PNGs + mp4 + PSNR), and drive the trained person with a different speech
# clip into an mp4 with sound. Idempotent: a second run resumes / reuses what exists.
# (Preprocessing of a generated video and the evaluation report join this demo as those stages land.)
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_env.sh
PY=.venv/bin/python
DATA=dataset/demo_synthetic
# Training settings sized for a 2-core CPU (about 10 minutes); they are written into the sample's
# HeadNeRF_config.txt, which is the file to edit to scale up (more N_iters, N_rand, samples, netwidth 256).
SETTINGS=(--set N_iters=1500 --set N_rand=512 --set N_samples=32 --set N_importance=32 --set netwidth=128
          --set netwidth_fine=128 --set lrate=2e-3 --set i_weights=500 --set i_testset=100000 --set i_img=500)
if [ ! -f "$DATA/transforms_val.json" ]; then
  echo "[demo] generating the synthetic sample in $DATA"
  $PY data_util/synthetic_head.py "$DATA" --frames 220 --size 48 "${SETTINGS[@]}"
fi
echo "[demo] 1/4 training the Head-NeRF ($DATA/HeadNeRF_config.txt)"
$PY NeRFs/HeadNeRF/run_nerf.py --config "$DATA/HeadNeRF_config.txt" "$@"
echo "[demo] 2/4 rendering the held-out frames with the head"
$PY NeRFs/HeadNeRF/run_nerf.py --config "$DATA/HeadNeRF_config.txt" --render_only "$@"
echo "[demo] 3/4 training the Torso-NeRF on the frozen head ($DATA/TorsoNeRF_config.txt)"
$PY NeRFs/TorsoNeRF/run_nerf.py --config "$DATA/TorsoNeRF_config.txt" --N_iters 600 "$@"
echo "[demo] 4/4 driving the person with a different speech clip ($DATA/drive/aud.wav)"
$PY NeRFs/TorsoNeRF/run_nerf.py --config "$DATA/TorsoNeRFTest_config.txt" --aud_file drive/aud.npy \
    --test_size -1 --with_audio "$DATA/drive/aud.wav" "$@"
echo "[demo] done:"
echo "  head renders + PSNR : $DATA/logs/demo_synthetic_head/renderonly_val_*/ (video.mp4, metrics.json)"
echo "  driven, with sound  : $DATA/logs/demo_synthetic_com/test_aud_rst/result_with_audio.mp4"
echo "  TensorBoard         : .venv/bin/tensorboard --logdir $DATA/logs (pip install tensorboard)"
