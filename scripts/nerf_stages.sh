# The NeRF stages after preprocessing, as shell functions: sourced by demo.sh and scripts/video_grid.sh so
# that both run the same commands. Needs PY (the venv's python) and the repository root as working folder.
# Each takes the dataset folder DATA (e.g. dataset/<id>; its name is the id: logs <id>_head and <id>_com)
# and the backend (mlp | grid).

# every N steps (N / parts, at least 1): checkpoints and validation images
every() { echo $(( $1 >= $2 ? $1 / $2 : 1 )); }

# train_head DATA BACKEND STEPS RAYS NOSMO [OPTION...]: Head-NeRF (resumes; nothing to do when trained to
# STEPS); any further arguments go to run_nerf.py as they are (e.g. --grid_max_res 128)
train_head() {
  $PY NeRFs/HeadNeRF/run_nerf.py --config "$1/HeadNeRF_config.txt" --backend "$2" --N_iters "$3" \
      --N_rand "$4" --nosmo_iters "$5" --i_weights "$(every "$3" 4)" --i_img "$(every "$3" 4)" --i_testset 100000000 \
      "${@:6}"
}

# train_torso DATA BACKEND STEPS RAYS NOSMO [OPTION...]: Torso-NeRF on the frozen head (options as train_head)
train_torso() {
  $PY NeRFs/TorsoNeRF/run_nerf.py --config "$1/TorsoNeRF_config.txt" --backend "$2" --N_iters "$3" \
      --N_rand "$4" --nosmo_iters "$5" --i_weights "$(every "$3" 2)" --i_img "$(every "$3" 2)" --i_testset 100000000 \
      "${@:6}"
}

# The renders query only the pixels that some training frame's parsing marks as head / person
# (--skip_bg_pixels, NeRFs/core/regions.py).

# reconstruct_validation DATA BACKEND [OPTION...]: the validation frames with their own audio and poses ->
# val_rst/, and ground truth | render as val_rst/side_by_side.mp4 (options: the render's, e.g. --fit_poses 30)
reconstruct_validation() {
  $PY NeRFs/TorsoNeRF/run_nerf.py --config "$1/TorsoNeRFTest_config.txt" --backend "$2" --aud_file aud.npy \
      --aud_from_pose --testskip 1 --test_size -1 --rst_dir val_rst --skip_bg_pixels "${@:3}"
  $PY evaluation/side_by_side.py --subject "$1" --gen_dir "$1/logs/$(basename "$1")_com/val_rst"
}

# drive DATA BACKEND WAV [OPTION...]: the person speaking WAV (an absolute path) -> test_aud_rst/video_with_audio.mp4
drive() {
  $PY NeRFs/TorsoNeRF/run_nerf.py --config "$1/TorsoNeRFTest_config.txt" --backend "$2" --aud_file "$3" \
      --test_size -1 --with_audio "$3" --rst_dir test_aud_rst --skip_bg_pixels "${@:4}"
}

# evaluate_validation DATA REPORT: every metric of val_rst against the ground truth -> the folder REPORT
# (e.g. evaluation/results/<id>)
evaluate_validation() {
  local id
  id=$(basename "$1")
  $PY evaluation/evaluate.py --dataset_root "$(dirname "$1")" --subject "$id" --gen_dir "$1/logs/${id}_com/val_rst" \
      --metrics all --landmark_backend dlib --out_dir "$2"
}
