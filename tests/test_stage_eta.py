"""scripts/stage_eta.py: the time estimates behind scripts/video_grid.sh's progress lines."""
import dataclasses
import json
import re
import wave

import pytest
from PIL import Image

from scripts.stage_eta import (STAGE_SECONDS, Workload, clock, grid_resolution, main, remaining_seconds,
                               speed_ratio, stage_estimates)

ALL = list(STAGE_SECONDS)
# the calibration run: 20 s 512x512 clip (455 train + 46 val frames), 8 s of driving, 3000 / 1500 steps, auto 512
KITCHEN = Workload(frames=501, val_frames=46, drive_frames=200, width=512, height=512, head_steps=3000,
                   torso_steps=1500, grid_res=512)


def total(work: Workload, stages=ALL) -> float:
    return sum(stage_estimates(stages, work))


def test_the_calibration_run_is_estimated_at_its_measured_time():
    """19 min 55 s on the 2-core CPU (README "Measured on a real person"), each stage within 10 %."""
    assert abs(total(KITCHEN) - (19 * 60 + 55)) < 10
    measured = {"preprocess": 80, "head": 233, "torso": 120, "drive": 511, "validation": 149, "evaluation": 35,
                "portrait": 67}
    for stage, seconds in zip(ALL, stage_estimates(ALL, KITCHEN)):
        assert abs(seconds - measured[stage]) < 0.1 * measured[stage], stage


@pytest.mark.parametrize("field", ["frames", "val_frames", "drive_frames", "width", "height", "head_steps",
                                   "torso_steps", "grid_res"])
def test_more_work_never_takes_less_time(field):
    base = total(KITCHEN)
    more = total(dataclasses.replace(KITCHEN, **{field: getattr(KITCHEN, field) * 2}))
    assert more > base


def test_steps_cost_in_their_own_stage_only():
    """Twice the head's steps: only the head's estimate grows, by about its step time * steps."""
    before = stage_estimates(ALL, KITCHEN)
    after = stage_estimates(ALL, dataclasses.replace(KITCHEN, head_steps=6000))
    grown = [i for i, (b, a) in enumerate(zip(before, after)) if a != b]
    assert grown == [ALL.index("head")] and 200 < after[1] - before[1] < 220


def test_the_remaining_time_follows_the_speed_of_the_finished_stages():
    est = stage_estimates(ALL, KITCHEN)
    assert remaining_seconds(est, []) == pytest.approx(est)
    # the first two stages took twice as long: the rest is estimated twice as long
    assert remaining_seconds(est, [2 * est[0], 2 * est[1]]) == pytest.approx([2 * e for e in est[2:]])
    assert speed_ratio([est[0] / 3], [est[0]]) == pytest.approx(1 / 3)
    # a reused stage (a second run: seconds instead of minutes) says nothing of the machine's speed ...
    assert speed_ratio([1.0, 2 * est[1]], est[:2]) == pytest.approx(2.0)
    # ... unless every finished stage was that fast (a much faster machine)
    assert speed_ratio([est[0] / 20], est[:1]) == pytest.approx(1 / 20)


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (-5, "0:00"), (59.4, "0:59"), (59.6, "1:00"),
                                           (61, "1:01"), (1195, "19:55"), (3725, "62:05")])
def test_clock_is_minutes_and_two_digit_seconds(seconds, text):
    assert clock(seconds) == text


def test_auto_resolution_follows_the_frame_as_training_does():
    assert grid_resolution("auto", 512, 512) == 512 and grid_resolution("auto", 128, 96) == 128
    assert grid_resolution("auto", 64, 64) == 128 and grid_resolution("auto", 4000, 3000) == 2048
    assert grid_resolution("128", 512, 512) == 128


def test_an_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="unknown stage"):
        stage_estimates(["preprocess", "dance"], KITCHEN)


def _dataset(root, n_train, n_val, size):
    root.mkdir()
    for name, n in (("transforms_train.json", n_train), ("transforms_val.json", n_val)):
        (root / name).write_text(json.dumps({"frames": [{"img_id": i} for i in range(n)]}))
    Image.new("RGB", size).save(root / "bc.jpg")
    return root


def _wav(path, seconds):
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\0\0" * int(16000 * seconds))
    return path


LINE = re.compile(r"^\[video_grid\] stage (\d+)/(\d+) (\w+): elapsed (\d+:\d\d), estimated remaining (\d+:\d\d)$")


def _line(capsys, *args):
    main(list(map(str, args)))
    return capsys.readouterr().out.strip()


def test_the_progress_line_reads_the_preprocessed_dataset(tmp_path, capsys):
    """455 + 46 frames of 512x512 and 8 s of speech: the calibration run's estimate; then stage 3 after two."""
    data = _dataset(tmp_path / "kitchen", 455, 46, (512, 512))
    common = ["--dataset", data, "--video", tmp_path / "unused.mp4", "--speech", _wav(tmp_path / "s.wav", 8),
              "--head_steps", 3000, "--torso_steps", 1500, "--stages", ",".join(ALL)]
    first = LINE.match(_line(capsys, *common, "--elapsed", 0))
    assert first and first.groups() == ("1", "7", "preprocess", "0:00", clock(total(KITCHEN)))
    est = stage_estimates(ALL, KITCHEN)   # the first two stages went at half the speed:
    third = LINE.match(_line(capsys, *common, "--finished", f"{2 * est[0]},{2 * est[1]}", "--elapsed", 626))
    rest = sum(est[2:]) * 2               # so does the rest
    assert third and third.groups() == ("3", "7", "torso", "10:26", clock(rest))


def test_the_total_line_names_each_stage(capsys):
    out = _line(capsys, "--dataset", "x", "--video", "x", "--speech", "x", "--head_steps", 1, "--torso_steps", 1,
                "--stages", "preprocess,head", "--finished", "65,7", "--elapsed", 72, "--total")
    assert out == "[video_grid] finished in 1:12 (preprocess 1:05, head 0:07)"


def test_an_unreadable_input_gives_no_estimate_but_the_line(tmp_path, capsys):
    out = _line(capsys, "--dataset", tmp_path / "none", "--video", tmp_path / "none.mp4", "--speech",
                tmp_path / "none.wav", "--head_steps", 1, "--torso_steps", 1, "--stages", "preprocess",
                "--elapsed", 3)
    assert out.startswith("[video_grid] stage 1/1 preprocess: elapsed 0:03, estimated remaining unknown (")


def test_pose_fits_cost_in_the_stages_that_make_them():
    """--refine_poses 10 adds about 160 s to the head (455 training frames); --fit_poses 30 adds its fits to
    the validation (46 frames) and to driving (the 46 validation poses it cycles through, each fitted once)."""
    before = stage_estimates(ALL, KITCHEN)
    after = stage_estimates(ALL, dataclasses.replace(KITCHEN, refine_poses=10, fit_poses=30))
    grown = {ALL[i]: a - b for i, (b, a) in enumerate(zip(before, after)) if a != b}
    assert set(grown) == {"head", "drive", "validation"}
    assert 140 < grown["head"] < 180 and grown["drive"] == pytest.approx(grown["validation"]) and grown["drive"] > 30


def test_condition_planes_cost_in_the_head_alone():
    """--grid_cond_planes 2 (video_grid's eye recipe) makes each head step about 26 % dearer (346 s vs 275 s)."""
    before = stage_estimates(ALL, KITCHEN)
    after = stage_estimates(ALL, dataclasses.replace(KITCHEN, cond_planes=2))
    grown = {ALL[i]: a / b for i, (b, a) in enumerate(zip(before, after)) if a != b}
    assert set(grown) == {"head"} and 1.2 < grown["head"] < 1.3
