"""benchmarks/bench_eye_response.py: how far a trained head closes its eyes. Its ratios on known values, and
the command on a trained toy head that blinks, with the landmark reader replaced by one whose answers are
known (dlib finds no face in a 24 px synthetic head): the numbers file read back."""
import json

import numpy as np
import pytest

import benchmarks.bench_eye_response as bench
from adnerf.eyes import blink_runs
from data_util.synthetic_head import make_synthetic_dataset
from NeRFs.core.dataset import load_transforms
from tests.support import toy_head_argv


def test_ratios_are_closed_over_open_per_frame_without_missed_faces():
    out = bench.ratios(np.array([0.1, 0.2, np.nan, 0.28]), np.array([0.3, 0.3, 0.3, 0.28]))
    assert out["frames"] == 3 and out["below_half"] == 1   # 1/3 only; the missed face is left out
    assert out["ratio_median"] == pytest.approx(2 / 3) and out["ratio_min"] == pytest.approx(1 / 3)
    assert out["open_median"] == pytest.approx(0.3)


def test_the_command_writes_its_numbers(tmp_path_factory, tmp_path, monkeypatch):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("eyes") / "synth", n_frames=60, size=24, eyes=True)
    argv = toy_head_argv(root, tmp_path, "--frames", "3", "--json", str(tmp_path / "eyes.json"),
                         "--picture", str(tmp_path / "eyes.png"))
    # the closed renders "measure" 0.1, 0.2, 0.1 .., the open ones 0.25
    calls = []

    def fake_landmarks(images):   # one "measurement" per image, read back by the fake openness below
        calls.append(len(images))
        closed = len(calls) % 2 == 0   # open renders are measured first (their landmarks place the picture)
        return [("closed", k) if closed else ("open", k) for k in range(len(images))]

    def fake_openness(found):
        return np.array([(0.2 if k % 2 else 0.1) if kind == "closed" else 0.25 for kind, k in found])

    monkeypatch.setattr(bench, "measured_landmarks", fake_landmarks)
    monkeypatch.setattr(bench, "openness", fake_openness)
    monkeypatch.setattr(bench, "eye_strip", lambda closed, opened, lms: np.zeros((4, 8, 3), dtype=np.uint8))
    assert bench.main(argv) == 0
    numbers = json.loads((tmp_path / "eyes.json").read_text())
    eyes = np.array([f["eye"] for f in load_transforms(root / "transforms_train.json")["frames"]])
    blinks = min(3, len(blink_runs(eyes)))
    assert calls == [blinks, blinks, 3, 3]   # open then closed renders: training blinks, validation poses
    assert numbers["train_blinks_frames"] == blinks and numbers["val_closed_frames"] == 3
    assert numbers["val_closed_ratio_min"] == pytest.approx(0.4) and numbers["val_closed_below_half"] == 2
    assert numbers["val_closed_open_median"] == pytest.approx(0.25)
    assert 0 < numbers["closed_level"] < numbers["open_level"]
    assert numbers["train_blinks_truth_ratio_median"] < 0.5   # the real (synthetic) blinks close below half
    assert (tmp_path / "eyes.png").is_file()


def test_the_picture_shows_the_eyes_band_closed_beside_open():
    closed, opened = np.full((60, 60, 3), 10, np.uint8), np.full((60, 60, 3), 200, np.uint8)
    lms = np.zeros((68, 2))
    lms[36:48] = [[10, 20], [30, 24]] * 6            # the eyes span x 10..30, y 20..24: a 5 px margin (a quarter)
    strip = bench.eye_strip([closed, closed], [opened, opened], [lms, None])   # no face: that pair is left out
    assert strip.shape == (14, 60, 3)                  # rows 15..28, columns 5..34, twice
    assert (strip[:, :30] == 10).all() and (strip[:, 30:] == 200).all()
