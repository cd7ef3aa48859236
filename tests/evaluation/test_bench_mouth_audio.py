"""benchmarks/bench_mouth_audio.py: does the audio drive the rendered mouth? The statistics on known cases,
and the command on a trained toy head (its numbers file read back)."""
import json

import numpy as np

from benchmarks.bench_mouth_audio import (change_locality, correlation, drive_statistics, main,
                                         mouth_input_statistics)
from data_util.synthetic_head import make_synthetic_dataset
from tests.NeRFs.test_feature_rays import face_points
from tests.support import toy_head_argv


def openings(n=80, seed=0):
    """A talking mouth's opening [n + 40] per frame: syllables of 4-8 frames."""
    rng = np.random.default_rng(seed)
    return np.clip(np.convolve(rng.normal(size=n + 40), np.ones(5) / 5, "same"), 0, None)


def test_a_mouth_driven_by_the_audio_follows_the_shifted_audio():
    series = openings()
    gt_pose, gt_audio = series[:80], series[40:120]
    stats = drive_statistics(gt_pose, gt_audio, own=gt_pose.copy(), shifted=gt_audio.copy())
    assert stats["r_own_vs_gt"] > 0.99 and stats["r_shifted_vs_audio_frames"] > 0.99
    assert abs(stats["r_shifted_vs_pose_frames"]) < 0.4 and abs(stats["std_ratio_own"] - 1) < 1e-9


def test_a_mouth_that_follows_the_pose_ignores_the_shifted_audio():
    series = openings(seed=1)
    gt_pose, gt_audio = series[:80], series[40:120]
    stats = drive_statistics(gt_pose, gt_audio, own=0.5 * gt_pose, shifted=0.5 * gt_pose)
    assert stats["r_shifted_vs_pose_frames"] > 0.99 and abs(stats["r_shifted_vs_audio_frames"]) < 0.4
    assert abs(stats["std_ratio_own"] - 0.5) < 1e-9


def test_correlation_leaves_out_missing_faces():
    a = np.array([0.1, 0.2, np.nan, 0.4, 0.5])
    assert abs(correlation(a, np.array([1.0, 2, 3, 4, 5])) - 1) < 1e-12
    assert np.isnan(correlation(np.array([np.nan, np.nan, 1.0, 2.0]), np.arange(4.0)))


def test_the_command_writes_its_numbers(synthetic_root, tmp_path):
    out = tmp_path / "mouth.json"
    argv = toy_head_argv(synthetic_root, tmp_path, "--frames", "4", "--shift", "3", "--json", str(out))
    assert main(argv) == 0
    numbers = json.loads(out.read_text())
    assert numbers["frames"] == 4 and numbers["shift"] == 3 and numbers["step"] == 2 and numbers["val_frames"] == 5
    assert set(numbers) >= {"r_own_vs_gt", "r_shifted_vs_audio_frames", "r_shifted_vs_pose_frames", "val_r_vs_gt"}
    assert "mouth_input_gain" not in numbers  # the toy head does not read the mouth
    assert main(["--frames", "2", "--config", str(synthetic_root / "HeadNeRF_config.txt")]) == 2


def test_the_mouth_input_gain_is_the_rendered_change_over_the_inputs():
    closed = np.array([0.02, 0.03, np.nan, 0.01])
    follows = mouth_input_statistics(closed, closed + 0.1, 0.0, 0.1)
    assert abs(follows["mouth_input_gain"] - 1) < 1e-9 and follows["mouth_input_opens"] == 1
    closes = mouth_input_statistics(closed, closed - 0.05, 0.0, 0.1)
    assert abs(closes["mouth_input_gain"] + 0.5) < 1e-9 and closes["mouth_input_opens"] == 0
    mouths = np.random.default_rng(0).uniform(0, 0.1, 41)
    ignores = mouth_input_statistics(mouths, mouths[::-1].copy(), 0.0, 0.1)  # the other frames' mouths: no gain
    assert abs(ignores["mouth_input_gain"]) < 0.1 and 0.3 < ignores["mouth_input_opens"] < 0.7
    assert np.isnan(mouth_input_statistics(np.full(3, np.nan), np.zeros(3), 0.0, 0.1)["mouth_input_gain"])


def test_the_locality_is_the_mouth_boxs_change_over_the_rest_of_the_face():
    closed = np.zeros((40, 40, 3), np.uint8)
    mouth_box, face_rect = (10, 25, 20, 8), (5, 5, 30, 32)   # x, y, w, h
    on_the_mouth = np.full_like(closed, 10)   # the whole face changes a little
    on_the_mouth[25:34, 10:31] = 90           # rows y..y+h, columns x..x+w: the mouth's box much more
    assert abs(change_locality(closed, on_the_mouth, mouth_box, face_rect) - 9) < 1e-9
    everywhere = np.full_like(closed, 30)
    assert abs(change_locality(closed, everywhere, mouth_box, face_rect) - 1) < 1e-9
    assert np.isnan(change_locality(closed, closed, mouth_box, face_rect))


def test_a_mouth_conditioned_head_gets_the_mouth_input_numbers(tmp_path):
    root = make_synthetic_dataset(tmp_path / "synth", n_frames=90, size=24, mouth_values=True)
    for path in (root / "ori_imgs").glob("*.jpg"):   # landmarks (step 2) place the mouth's box
        np.savetxt(path.with_suffix(".lms"), face_points(8, 12), fmt="%.6f")
    out = tmp_path / "mouth.json"
    assert main(toy_head_argv(root, tmp_path, "--frames", "4", "--shift", "3", "--json", str(out),
                              mouth_condition=True)) == 0
    numbers = json.loads(out.read_text())
    assert numbers["mouth_input_low"] < numbers["mouth_input_high"]
    assert {"r_own_mouth_vs_gt", "mouth_input_gain", "mouth_input_opens", "mouth_input_locality"} <= set(numbers)
