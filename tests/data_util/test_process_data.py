"""The preprocessing orchestrator: order, concurrency, stopping at the first failure, resume, --force,
preprocess.json (contents, concurrent updates), one-line errors, with fake stages; then the real thing end
to end: ``bash process_data.sh <id> --offline`` on a generated 2 s talking-face video, loaded by the NeRFs."""
import importlib.util
import json
import multiprocessing
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from data_util import process_data as pdata
from data_util.common import StepError, atomic_path
from data_util.preprocess_log import locked, read_log, record_step
from data_util.process_data import STEPS, call_stage, child_argv, parse_args, run_pipeline

ROOT = Path(__file__).resolve().parents[2]


class FakeStages:
    """Stand-ins for the eight run_* functions: each writes <name>.out, skips when it exists (unless force),
    sleeps ``delay[name]`` (cancellable), and raises StepError for the names in ``fail``."""

    def __init__(self, delay=None, fail=None):
        self.delay = delay or {}
        self.fail = fail or {}
        self.events: list[tuple[str, str, float]] = []   # (name, "start" | "end" | "cancelled", time)
        self.calls: dict[str, list[dict]] = {}
        self.cancel: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def stage(self, name):
        def run(dataset_dir, *, force=False, progress=True, **options):
            with self.lock:
                self.events.append((name, "start", time.perf_counter()))
                self.calls.setdefault(name, []).append(options)
            out = Path(dataset_dir) / f"{name}.out"
            if out.exists() and not force:
                self.events.append((name, "end", time.perf_counter()))
                return {"backend": "fake", "skipped": True, "frames": 10}
            end = time.perf_counter() + self.delay.get(name, 0.0)
            while time.perf_counter() < end:
                if self.cancel[name].wait(0.01):
                    self.events.append((name, "cancelled", time.perf_counter()))
                    raise KeyboardInterrupt
            if name in self.fail:
                raise StepError(self.fail[name])
            with atomic_path(out) as tmp:
                tmp.write_text("ok")
            self.events.append((name, "end", time.perf_counter()))
            return {"backend": "fake", "version": 3, "frames": 10, "skipped": False}
        return run

    def launch(self, step, args):
        """In-process stand-in for the child process ``--step k``: wait() -> exit code, terminate() cancels."""
        fakes = self
        fakes.cancel[step.name] = threading.Event()

        class Proc:
            def __init__(self):
                self.code = None
                self.thread = threading.Thread(target=self.main)
                self.thread.start()

            def main(self):
                try:
                    pdata.run_step(step, args, stage=fakes.stage(step.name))
                    self.code = 0
                except StepError:
                    self.code = 1
                except KeyboardInterrupt:
                    self.code = 130

            def wait(self):
                self.thread.join()
                return self.code

            def terminate(self):
                fakes.cancel[step.name].set()
        return Proc()

    def times(self, name, kind):
        return [t for n, k, t in self.events if n == name and k == kind]


class FakeInfo:
    frames_25, width, height = 10, 64, 64


@pytest.fixture
def args(tmp_path, monkeypatch):
    monkeypatch.setattr("data_util.frames.check_video", lambda video, **kw: FakeInfo())
    return parse_args(["--id", "subj", "--dataset_root", str(tmp_path), "--offline", "--no_progress",
                       "--device", "cpu", "--nerf_set", "N_iters=1000"])


def pipeline(args, fakes):
    lines = []
    code = run_pipeline(args, launch=fakes.launch, log=lines.append)
    return code, "\n".join(lines)


def test_steps_run_in_order_and_independent_ones_concurrently(args):
    fakes = FakeStages(delay={"audio": 0.3, "frames": 0.1, "landmarks": 0.05, "parsing": 0.1, "background": 0.1,
                              "images": 0.1, "tracking": 0.3})
    code, log = pipeline(args, fakes)
    assert code == 0, log
    start = {s.name: fakes.times(s.name, "start")[0] for s in STEPS}
    end = {s.name: fakes.times(s.name, "end")[0] for s in STEPS}
    for step in STEPS:  # each step starts after the steps it needs ended
        for before in step.after:
            assert start[step.name] >= end[STEPS[before].name], (step.name, STEPS[before].name)
    assert start["audio"] < end["frames"] and start["frames"] < end["audio"]              # audio beside frames
    assert start["tracking"] < end["parsing"] and start["parsing"] < end["tracking"]      # tracking beside parsing
    assert start["transforms"] >= max(end.values()) - 1e-9 - (end["transforms"] - start["transforms"])
    # each stage got its backend and options
    assert fakes.calls["audio"][0] == {"video": str(args.video), "backend": "mfcc",   # graph not given: default
                                       "audio_channel": "first"}                      # the original's channel
    assert fakes.calls["landmarks"][0] == {"backend": "dlib", "device": "cpu"}
    assert fakes.calls["parsing"][0]["backend"] == "mediapipe" and fakes.calls["tracking"][0]["tracker"] == "rigid"
    assert fakes.calls["transforms"][0] == {"config_extra": {"N_iters": "1000"}, "subject": "subj", "val_seconds": 0.0}


def test_preprocess_json_says_how_the_dataset_was_made(args):
    assert pipeline(args, FakeStages())[0] == 0
    log = json.loads((args.dataset_dir / "preprocess.json").read_text())
    assert log["id"] == "subj" and log["video"] == str(args.video)
    assert "numpy" in log["environment"]["packages"] and log["environment"]["python"].startswith("3.")
    assert list(log["steps"]) and {s.name for s in STEPS} == set(log["steps"])
    for step in STEPS:
        entry = log["steps"][step.name]
        assert entry["status"] == "done" and entry["step"] == step.number
        assert entry["backend"] == "fake" and entry["version"] == 3 and entry["frames"] == 10
        assert entry["seconds"] >= 0 and abs(entry["seconds_per_frame"] * 10 - entry["seconds"]) < 2e-3
    assert log["steps"]["tracking"]["options"] == {"tracker": "rigid", "device": "cpu", "bfm_dir": None,
                                                   "subject_shape": False}


def test_stops_at_the_first_failing_step_with_its_name_and_reason(args):
    fakes = FakeStages(delay={"tracking": 30.0}, fail={"parsing": "no face in 12 of 40 frames: 3, 4, 5"})
    t0 = time.perf_counter()
    code, log = pipeline(args, fakes)
    assert code == 1 and time.perf_counter() - t0 < 10        # tracking was stopped, not waited for
    assert "step 3 (parsing) failed: no face in 12 of 40 frames: 3, 4, 5" in log
    assert "step 4 (background), step 5 (images), step 6 (tracking), step 7 (transforms)" in log
    assert not fakes.times("background", "start") and not fakes.times("transforms", "start")
    assert fakes.times("tracking", "cancelled")
    steps = read_log(args.dataset_dir)["steps"]
    assert steps["parsing"]["status"] == "failed" and "no face" in steps["parsing"]["error"]
    assert steps["tracking"]["status"] == "interrupted" and steps["landmarks"]["status"] == "done"
    assert not (args.dataset_dir / "tracking.out").exists() and not list(args.dataset_dir.glob(".*.part*"))


def test_rerun_resumes_and_force_redoes(args):
    fakes = FakeStages(fail={"background": "bc failed"})
    assert pipeline(args, fakes)[0] == 1
    fakes.fail.clear()
    fakes.events.clear()
    code, log = pipeline(args, fakes)
    assert code == 0, log
    steps = read_log(args.dataset_dir)["steps"]
    assert steps["frames"]["skipped"] and steps["parsing"]["skipped"]              # kept from the first run
    assert not steps["background"]["skipped"] and not steps["images"]["skipped"]   # done now
    assert all(s["status"] == "done" for s in steps.values())
    args.force = True
    assert pipeline(args, fakes)[0] == 0
    assert not any(s["skipped"] for s in read_log(args.dataset_dir)["steps"].values())


def test_interrupted_writes_leave_nothing_a_step_would_trust(args):
    (args.dataset_dir / "ori_imgs").mkdir(parents=True)
    leftover = args.dataset_dir / "ori_imgs" / ".7.abc123.part.jpg"   # a write killed half-way
    leftover.write_bytes(b"\xff\xd8 half a jpeg")
    with pytest.raises(RuntimeError):
        with atomic_path(args.dataset_dir / "ori_imgs" / "8.jpg") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert not (args.dataset_dir / "ori_imgs" / "8.jpg").exists()
    assert pipeline(args, FakeStages())[0] == 0
    assert list((args.dataset_dir / "ori_imgs").iterdir()) == []


def _hammer(dataset_dir, worker, n):
    for i in range(n):
        record_step(Path(dataset_dir), f"w{worker}_{i}", {"status": "done", "i": i})


def test_concurrent_updates_of_preprocess_json_lose_nothing(tmp_path):
    ctx = multiprocessing.get_context("fork")
    workers = [ctx.Process(target=_hammer, args=(str(tmp_path), w, 25)) for w in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(30)
    assert all(w.exitcode == 0 for w in workers)
    steps = json.loads((tmp_path / "preprocess.json").read_text())["steps"]
    assert set(steps) == {f"w{w}_{i}" for w in range(4) for i in range(25)}


def test_the_lock_is_exclusive(tmp_path):
    got = []
    with locked(tmp_path):
        t = threading.Thread(target=lambda: (locked(tmp_path).__enter__(), got.append(time.perf_counter())))
        t.start()
        time.sleep(0.2)
        released = time.perf_counter()
    t.join(5)
    assert got and got[0] >= released


def test_one_run_per_dataset(args):
    with pdata.dataset_lock(args.dataset_dir):
        with pytest.raises(StepError, match="another process_data.py run"):
            pipeline(args, FakeStages())


def test_offline_backends_explicit_choice_wins_and_children_get_every_option(tmp_path):
    a = parse_args(["--id", "x", "--offline", "--tracker", "bfm", "--dataset_root", str(tmp_path),
                    "--nerf_set", "N_iters=5", "--nerf_set", "lrate=1e-3", "--force", "--max_no_face", "0.25"])
    assert (a.audio_backend, a.landmark_backend, a.parsing_backend, a.tracker) == ("mfcc", "dlib", "mediapipe", "bfm")
    assert a.video == tmp_path / "vids" / "x.mp4" and a.dataset_dir == tmp_path / "x"
    b = parse_args(child_argv(a, STEPS[3])[2:])
    assert b.step == "3" and b.config_extra == {"N_iters": "5", "lrate": "1e-3"} and b.force
    assert {k: v for k, v in vars(b).items() if k != "step"} == {k: v for k, v in vars(a).items() if k != "step"}
    online = parse_args(["--id", "x"])
    assert (online.audio_backend, online.landmark_backend, online.parsing_backend, online.tracker) == \
        ("deepspeech", "fan", "bisenet", "bfm")
    assert online.dataset_dir == ROOT / "dataset" / "x"


def test_stage_signatures_are_checked():
    def stage(dataset_dir, *, force=False, progress=True, backend="a", max_no_face=0.1):
        return {"backend": backend, "max_no_face": max_no_face}
    assert call_stage(STEPS[3], stage, Path("."), backend="b", weights=None, max_no_face=None) == \
        {"backend": "b", "max_no_face": 0.1}
    with pytest.raises(StepError, match="takes no option weights"):
        call_stage(STEPS[3], stage, Path("."), backend="b", weights="w.pth")


def test_bad_inputs_fail_before_any_step(tmp_path):
    fakes = FakeStages()
    video = tmp_path / "vids" / "subj.mp4"
    video.parent.mkdir()
    video.write_bytes(b"not a video at all" * 100)
    a = parse_args(["--id", "subj", "--dataset_root", str(tmp_path)])
    with pytest.raises(StepError, match="cannot read video"):
        run_pipeline(a, launch=fakes.launch, log=lambda m: None)
    a = parse_args(["--id", "subj", "--dataset_root", str(tmp_path), "--nerf_set", "N_itres=3"])
    with pytest.raises(StepError, match="unknown NeRF option"):
        run_pipeline(a, launch=fakes.launch, log=lambda m: None)
    assert fakes.events == []


def test_a_failing_step_prints_one_line_and_exits_nonzero(tmp_path):
    (tmp_path / "subj" / "ori_imgs").mkdir(parents=True)
    proc = subprocess.run([sys.executable, str(ROOT / "data_util" / "process_data.py"), "--id", "subj", "--step",
                           "transforms", "--dataset_root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"step 7 (transforms) failed: missing {tmp_path / 'subj' / 'track_params.pt'} (written by step 6, tracking): "
        "run process_data.py --step 6 first"]
    assert read_log(tmp_path / "subj")["steps"]["transforms"]["status"] == "failed"


# ---------------------------------------------------------------- end to end, with the real stages

E2E_MODULES = [s.module for s in STEPS] + ["data_util.make_sample"]
missing_modules = [m for m in E2E_MODULES if importlib.util.find_spec(m) is None]


def e2e(test):
    """An end-to-end test: marked slow (run by default), skipped while a stage module is missing."""
    return pytest.mark.slow(pytest.mark.skipif(bool(missing_modules), reason=f"missing: {missing_modules}")(test))


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory):
    """A 2 s, 128 x 128, 25 fps talking-face video with sound (scikit-image's astronaut photograph, animated),
    run through ``bash process_data.sh e2e --offline``."""
    root = tmp_path_factory.mktemp("e2e")
    # in a child process: the sample maker loads mediapipe (and TensorFlow), which must not share this
    # process with the NeRF's torch (importing both in one process can crash)
    subprocess.run([sys.executable, str(ROOT / "data_util" / "make_sample.py"), "--id", "e2e", "--seconds", "2",
                    "--size", "128", "--drive_seconds", "1", "--out_dir", str(root / "vids"), "--no_progress"],
                   check=True, capture_output=True, timeout=300)
    t0 = time.perf_counter()
    proc = subprocess.run(["bash", str(ROOT / "process_data.sh"), "e2e", "--offline", "--dataset_root", str(root),
                           "--no_progress", "--device", "cpu"], capture_output=True, text=True, timeout=600)
    print(f"process_data.sh on 50 frames: {time.perf_counter() - t0:.1f} s")
    return root / "e2e", proc


@e2e
def test_e2e_process_data_sh_offline_makes_a_complete_dataset(preprocessed):
    root, proc = preprocessed
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "step 7 (transforms) done" in proc.stdout
    log = read_log(root)
    steps = log["steps"]
    assert all(steps[s.name]["status"] == "done" for s in STEPS)
    assert steps["audio"]["backend"] == "mfcc" and steps["landmarks"]["backend"] == "dlib"
    assert steps["parsing"]["backend"] == "mediapipe" and steps["tracking"]["tracker"] == "rigid"
    assert all(steps[s.name]["seconds"] > 0 and "seconds_per_frame" in steps[s.name] for s in STEPS)
    aud = np.load(root / "aud.npy")
    assert aud.shape[:2] == (50, 16)
    assert len(list((root / "ori_imgs").glob("*.jpg"))) == 50
    used = len(list((root / "ori_imgs").glob("*.lms")))
    assert used >= 45 and steps["transforms"]["frames_used"] == used   # dlib finds the astronaut's face
    train = json.loads((root / "transforms_train.json").read_text())["frames"]
    val = json.loads((root / "transforms_val.json").read_text())["frames"]
    assert len(train) == int(used * 10 / 11) and len(train) + len(val) == used
    for f in train + val:   # the face rectangle holds the frame's landmarks (a margin of rounding)
        x, y, w, h = f["face_rect"]
        lms = np.loadtxt(root / "ori_imgs" / f"{f['img_id']}.lms")
        assert x <= lms[:, 0].min() + 1 and lms[:, 0].max() <= x + w + 1 and y <= lms[27, 1] <= y + h <= 128
    assert not [p for p in root.rglob(".*.part*")]


@e2e
def test_e2e_the_nerfs_load_and_train_on_the_result(preprocessed, tmp_path):
    import torch
    from tests.support import make_args
    from NeRFs.core.dataset import AudFaceDataset
    from NeRFs.core.head import HeadTrainer
    from NeRFs.core.torso import TorsoTrainer
    root, proc = preprocessed
    assert proc.returncode == 0
    data = AudFaceDataset(root, "head_imgs", testskip=1)
    assert (data.H, data.W) == (128, 128) and data.aud_channels == np.load(root / "aud.npy").shape[2]
    small = {"netwidth": 32, "netwidth_fine": 32, "N_rand": 64, "N_iters": 2}   # loading is the point, not learning
    head = HeadTrainer(make_args(root, tmp_path, **small))
    assert len(head.dataset.splits["train"]) == len(json.loads((root / "transforms_train.json").read_text())["frames"])
    assert head.fit() == 2 and (tmp_path / "e2e_head" / "000002_head.tar").is_file()
    rng, gen = head.step_randomness(3)
    assert np.isfinite(head.train_step(3, rng, gen)["loss"])
    torso = TorsoTrainer(make_args(root, tmp_path, kind="torso", **small))
    assert torso.fit() == 2 and (tmp_path / "e2e_com" / "000002_body.tar").is_file()
    assert torch.isfinite(torso.torso.coarse.network.alpha_linear.weight).all()


@e2e
def test_e2e_a_rerun_resumes_without_redoing_work(preprocessed):
    root, proc = preprocessed
    assert proc.returncode == 0
    stamps = {p: p.stat().st_mtime_ns for p in root.rglob("*") if p.is_file() and p.name != "preprocess.json"}
    for step in ("images", "transforms"):
        assert pdata.main(["--id", "e2e", "--dataset_root", str(root.parent), "--step", step, "--offline",
                           "--no_progress"]) == 0
    steps = read_log(root)["steps"]
    assert steps["images"]["skipped"] == steps["images"]["frames"] and steps["transforms"]["skipped"] is True
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
