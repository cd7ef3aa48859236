"""scripts/video_grid.sh: a video and a speech clip -> a driven mp4 with sound, with the grid backend."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "video_grid.sh"
ID = "ci_video_grid"


def run(*args, timeout=900, **env):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **{k: str(v) for k, v in env.items()}})


@pytest.mark.parametrize("args, message", [
    ((), "usage: bash scripts/video_grid.sh"),
    (("bad id", "v.mp4", "s.wav"), "id 'bad id'"),
    ((ID, "/nonexistent/v.mp4", "s.wav"), "video /nonexistent/v.mp4 not found"),
    ((ID, SCRIPT, "/nonexistent/s.wav"), "speech clip /nonexistent/s.wav not found"),
    ((ID, SCRIPT, SCRIPT, "0"), "steps '0'"),
    ((ID, SCRIPT, SCRIPT, "--quick", "5", "0"), "steps '0'"),
    ((ID, SCRIPT, SCRIPT, "1", "2", "3"), "usage: bash scripts/video_grid.sh"),
])
def test_bad_arguments_are_one_line_errors_before_any_work(args, message):
    r = run(*args, timeout=30)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (ROOT / "dataset" / ID).exists()


def settings(*args, **env) -> dict:
    """What the script would run (VIDEO_GRID_DRY_RUN=1: its key=value lines, before any work)."""
    r = run(ID, SCRIPT, SCRIPT, *args, timeout=30, VIDEO_GRID_DRY_RUN=1, **env)
    assert r.returncode == 0, r.stderr
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


@pytest.mark.parametrize("args, steps, options", [
    ((), ("3000", "1500"), ""),
    (("--quick",), ("600", "300"), "--grid_max_res 128"),
    (("--quick", "900"), ("900", "300"), "--grid_max_res 128"),   # steps given as arguments win
    (("--quick", "900", "40"), ("900", "40"), "--grid_max_res 128"),
    (("2000", "--quick", "40", "--portrait"), ("2000", "40"), "--grid_max_res 128"),
])
def test_quick_keeps_the_few_minute_settings_and_given_steps_win(args, steps, options, tmp_path):
    s = settings(*args, DATASET_ROOT=tmp_path / "d")
    assert (s["head_steps"], s["torso_steps"]) == steps and s["train_options"] == options
    quick = "--quick" in args   # the full run refines and fits the poses; a first look keeps them as tracked
    full_head = ("--refine_poses 10 --grid_cond_planes 2 --eye_frames 0.3 --eye_rays 0.8 "
                 "--eye_frames_audio random")   # and the head learns the blinks (docs/nerf.md "Eyes that close")
    assert (s["head_options"], s["render_options"]) == (("", "") if quick else (full_head, "--fit_poses 30"))
    assert s["nosmo_iters"] == str(int(steps[0]) * 7 // 10) and s["quick"] == str(int("--quick" in args))
    portrait = "--portrait" in args
    assert s["stages"] == "preprocess,head,torso,drive,validation,evaluation" + ",portrait" * portrait
    assert s["dataset_root"] == str(tmp_path / "d") and not (tmp_path / "d").exists()   # nothing written


def test_where_it_writes_defaults_to_the_checkout_and_follows_the_environment(tmp_path):
    assert (settings()["dataset_root"], settings()["results_root"]) == ("dataset", "evaluation/results")
    s = settings(DATASET_ROOT=tmp_path / "d", RESULTS_ROOT=tmp_path / "r")
    assert (s["dataset_root"], s["results_root"]) == (str(tmp_path / "d"), str(tmp_path / "r"))


def _entries() -> set[str]:
    """What the checkout's dataset/ and evaluation/results/ hold (names, one level and dataset/vids/)."""
    folders = [ROOT / "dataset", ROOT / "dataset" / "vids", ROOT / "evaluation" / "results"]
    return {str(p.relative_to(ROOT)) for f in folders if f.is_dir() for p in f.iterdir()}


STAGE_LINE = re.compile(r"^\[video_grid\] stage (\d)/6 (\w+): elapsed (\d+):(\d\d), estimated remaining (\d+):(\d\d)$",
                        re.M)


@pytest.mark.slow
def test_a_sample_video_is_trained_and_driven_end_to_end(tmp_path):
    """A 3 s sample video and a 1 s speech clip through every stage, at a few steps (--quick, with the steps
    given), into DATASET_ROOT / RESULTS_ROOT in tmp_path: the driven mp4 has sound and one frame per 25 fps
    feature frame, the evaluation covers the validation frames, each stage's progress line is printed, and
    nothing is written into the checkout."""
    before = _entries()
    roots = {"DATASET_ROOT": tmp_path / "data", "RESULTS_ROOT": tmp_path / "results"}
    subprocess.run([sys.executable, str(ROOT / "data_util" / "make_sample.py"), "--id", "src",
                    "--seconds", "3", "--size", "128", "--drive_seconds", "1", "--out_dir", str(tmp_path),
                    "--no_progress"], check=True, capture_output=True, timeout=300)
    r = run(ID, tmp_path / "src.mp4", tmp_path / "src_drive.wav", 20, 8, "--quick", **roots)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    # nothing of this run in the checkout (other runs may add their own folders meanwhile: not compared)
    assert not [e for e in _entries() - before if ID in e] and not (ROOT / "dataset" / ID).exists()
    lines = STAGE_LINE.findall(r.stdout)
    assert [(int(k), name) for k, name, *_ in lines] == list(enumerate(
        ["preprocess", "head", "torso", "drive", "validation", "evaluation"], 1)), r.stdout[-3000:]
    elapsed = [int(m) * 60 + int(s) for *_, m, s, _, _ in lines]
    assert elapsed[0] <= 1 and elapsed == sorted(elapsed)
    assert re.search(r"^\[video_grid\] finished in \d+:\d\d \(preprocess \d+:\d\d, .*evaluation \d+:\d\d\)$",
                     r.stdout, re.M)
    com = tmp_path / "data" / ID / "logs" / f"{ID}_com"
    assert list(com.glob("*_gridbody.tar")) and not list(com.glob("*_body.tar"))
    final = com / "test_aud_rst" / "video_with_audio.mp4"
    from add_audio.add_audio import probe
    info = probe(final)
    assert info.has_video and info.has_audio and abs(info.duration - 1.0) < 0.2
    assert imageio.get_reader(final).count_frames() == 25
    results = json.loads((tmp_path / "results" / ID / "evaluation_results.json").read_text())
    val = json.loads((com / "val_rst" / "frames.json").read_text())["frames"]
    assert results["n_pairs"] == len(val) > 0 and 8 < results["metrics"]["psnr"]["mean"] < 50
    assert (com / "val_rst" / "side_by_side.mp4").is_file()
    # the same id with another video is refused before anything is touched
    other = run(ID, tmp_path / "src_drive.wav", tmp_path / "src_drive.wav", timeout=60, **roots)
    assert other.returncode == 2 and "exists and is another video" in other.stderr
