"""benchmarks/bench_pose_fit.py: how much of a head's error is the tracked pose. Its scores and correction
sizes on known values, and the command on a trained toy head (its numbers file read back)."""
import json

import numpy as np
import torch

from benchmarks.bench_pose_fit import correction_size, main, scores
from tests.support import toy_head_argv



def test_scores_are_psnr_over_the_frame_and_inside_the_rect():
    target = np.full((20, 20, 3), 0.5)
    render = target.copy()
    render[:10] += 0.1                              # rows 0-9 off by 0.1: frame MSE 0.005
    psnr, rect_psnr, sharp = scores(render, target, [0, 10, 9, 9])   # the rect covers rows 10-19 only
    assert abs(psnr - 10 * np.log10(1 / 0.005)) < 1e-9
    assert rect_psnr >= 99.9                        # identical there (the MSE floor: 100 dB)
    assert np.isnan(sharp)                          # a flat ground truth has no detail to compare


def test_correction_size_in_degrees_and_pixels():
    pose = torch.eye(4)
    pose[:3, 3] = torch.tensor([0.0, 0.9, 1.2])     # 1.5 from the head's centre
    deg, px = correction_size(torch.tensor([0.01, 0.0, 0.0, 0.003, 0.004, 0.1]), pose, focal=1500.0)
    assert abs(deg - np.degrees(0.01)) < 1e-6
    assert abs(px - 0.005 * 1500 / 1.5) < 1e-3      # the depth shift (0.1) is not an image-plane shift


def test_the_command_writes_its_numbers(synthetic_root, tmp_path):
    out = tmp_path / "pose.json"
    argv = toy_head_argv(synthetic_root, tmp_path, "--every", "3", "--iters", "2", "--json", str(out))
    assert main(argv) == 0
    numbers = json.loads(out.read_text())
    assert numbers["step"] == 2 and numbers["iters"] == 2
    assert numbers["val_frames"] == 2 and numbers["train_frames"] == 2   # 5 validation frames, every 3rd
    for split in ("val", "train"):
        for key in ("psnr_tracked", "rect_psnr_tracked", "psnr_fitted", "rect_psnr_fitted", "correction_deg"):
            assert np.isfinite(numbers[f"{split}_{key}"]), key
    assert main(["--iters", "0", "--config", str(synthetic_root / "HeadNeRF_config.txt")]) == 2
