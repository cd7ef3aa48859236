"""benchmarks/bench_mouth_audio.py: does the audio drive the rendered mouth? The statistics on known cases,
and the command on a trained toy head (its numbers file read back)."""
import json

import numpy as np

from benchmarks.bench_mouth_audio import correlation, drive_statistics, main
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
    assert main(["--frames", "2", "--config", str(synthetic_root / "HeadNeRF_config.txt")]) == 2
