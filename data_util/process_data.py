"""Preprocess a talking-head video into dataset/<id>/ (the original AD-NeRF layout), step by step.

    python data_util/process_data.py --id ID [--step all]      every step, independent ones concurrently
    python data_util/process_data.py --id ID --step 3          one step (a number or a name, e.g. parsing)

Steps (module.function, each following data_util.common's contract; imported only when its step runs, so a
missing heavy package only hurts the step that needs it):

    0 audio       audio_features.run_audio         aud.wav, aud.npy
    1 frames      frames.run_frames                ori_imgs/<n>.jpg
    2 landmarks   landmarks.run_landmarks          ori_imgs/<n>.lms            (after 1)
    3 parsing     face_parsing.run_parsing         parsing/<n>.png             (after 2)
    4 background  background.run_background       bc.jpg                      (after 3)
    5 images      compose_images.run_images        com_imgs/, head_imgs/, ... (after 4)
    6 tracking    face_tracking.run_tracking       track_params.pt             (after 2)
    7 transforms  transforms_step.run_transforms   transforms_*.json, configs  (after all)

A video larger than ``--crop_size`` (512) or not square is first cut to one square around the face
(crop_video.run_crop: dataset/<id>/crop.mp4 and crop.json, which the portrait stage uses to paste results back
into the full-resolution frames); the steps then read crop.mp4.

``--step all`` checks the video, then runs each step as a child process ``--step k`` as soon as the steps it
needs are done (audio beside frames -> landmarks -> {parsing -> background -> images} and {tracking}; then
transforms). At the first failing step it stops the others and prints that step's name and reason. Every
step skips work whose outputs are complete, so re-running the same command resumes; ``--force`` redoes.
Each finished (or failed) step is recorded in dataset/<id>/preprocess.json (see preprocess_log).
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import importlib
import inspect
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from adnerf import files
from adnerf.errors import report
from data_util.common import StepError, frame_ids
from data_util.dataset_space import no_space_message, preflight
from data_util.output_checks import broken_outputs
from data_util.preprocess_log import now, read_log, record_step

REPO_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Step:
    number: int
    name: str
    module: str
    function: str
    after: tuple[int, ...]      # steps that must be done first

    def __str__(self) -> str:
        return f"step {self.number} ({self.name})" if self.number >= 0 else self.name


STEPS = (
    Step(0, "audio", "data_util.audio_features", "run_audio", ()),
    Step(1, "frames", "data_util.frames", "run_frames", ()),
    Step(2, "landmarks", "data_util.landmarks", "run_landmarks", (1,)),
    Step(3, "parsing", "data_util.face_parsing", "run_parsing", (2,)),
    Step(4, "background", "data_util.background", "run_background", (3,)),
    Step(5, "images", "data_util.compose_images", "run_images", (4,)),
    Step(6, "tracking", "data_util.face_tracking", "run_tracking", (2,)),
    Step(7, "transforms", "data_util.transforms_step", "run_transforms", (0, 5, 6)),
)
# before the steps, only for a video larger than --crop_size or not square: one square around the face
CROP = Step(-1, "crop", "data_util.crop_video", "run_crop", ())
# (online default, offline backend) of each backend option
BACKENDS = {"audio_backend": ("deepspeech", "mfcc"), "landmark_backend": ("fan", "dlib"),
            "parsing_backend": ("bisenet", "mediapipe"), "tracker": ("bfm", "rigid")}


def find_step(key: str | int) -> Step:
    for step in STEPS:
        if str(key) in (str(step.number), step.name):
            return step
    raise SystemExit(f"error: unknown step {key!r}: choose 0-7, a name ({', '.join(s.name for s in STEPS)}) or all")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                epilog="docs/preprocessing.md describes the steps, backends and preprocess.json.")
    a = p.add_argument
    a("--id", required=True, help="subject id: dataset/vids/<id>.mp4 -> dataset/<id>/")
    a("--step", default="all", help="0-7, a step name, or all (default)")
    a("--dataset_root", default=str(REPO_ROOT / "dataset"), help="folder holding <id>/ (default: dataset/ of the repo)")
    a("--video", default=None, help="input video (default: <dataset_root>/vids/<id>.mp4)")
    a("--device", default="auto", help="auto (CUDA when available), cpu, cuda, cuda:N")
    a("--audio_backend", choices=BACKENDS["audio_backend"] + ("hubert",),
      help="speech features (default deepspeech; hubert downloads facebook/hubert-large-ls960-ft)")
    a("--deepspeech_graph", default=None, help="DeepSpeech 0.1.0 frozen graph .pb (default: download / cache)")
    a("--audio_channel", choices=("first", "mix"), default="first",
      help="speech features from the sound's first channel (default, as the original) or from the mean of "
           "all channels (mix); driving with a .wav uses the dataset's choice")
    a("--landmark_backend", choices=BACKENDS["landmark_backend"], help="68 landmarks (default fan)")
    a("--parsing_backend", choices=BACKENDS["parsing_backend"], help="face parsing (default bisenet)")
    a("--bisenet_weights", default=None, help="BiSeNet 79999_iter.pth (default: download / cache)")
    a("--tracker", choices=BACKENDS["tracker"], help="face tracking (default bfm)")
    a("--bfm_dir", default=None, help="folder with the BFM 2009 model / 3DMM files for --tracker bfm")
    a("--subject_shape", action="store_true", help="step 6, rigid tracker: fit the person's own landmark "
      "shape with the poses (default: the generic face; measured: lower landmark error, no PSNR gain)")
    a("--max_no_face", type=float, default=None, help="landmarks: the largest tolerated fraction of frames "
      "without a face (default 0.1); those frames are left out of the dataset")
    a("--crop", choices=("auto", "off"), default="auto", help="auto (default): a video larger than --crop_size "
      "or not square is first cut to one square around the face (dataset/<id>/crop.mp4, crop.json); off: as it is")
    a("--crop_size", type=int, default=512, help="the largest training size: the crop is scaled to it (default 512)")
    a("--force", action="store_true", help="redo the work even where complete outputs exist")
    a("--offline", action="store_true", help="offline backends for every backend not given: audio mfcc, "
      "landmarks dlib, parsing mediapipe, tracker rigid")
    a("--val_seconds", type=float, default=0.0, help="step 7: the validation split holds at least this many "
      "seconds of the video's end (at most half of it; default 0: the original's last 1/11), e.g. 3 for the "
      "lip-sync score of a short clip")
    a("--nerf_set", action="append", default=[], metavar="KEY=VALUE",
      help="write this option into the three NeRF configs (repeatable), e.g. --nerf_set N_iters=200000")
    a("--no_progress", action="store_true", help="no progress bars")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    for option, (online, offline) in BACKENDS.items():  # an explicit choice wins over --offline
        if getattr(args, option) is None:
            setattr(args, option, offline if args.offline else online)
    args.dataset_root = Path(args.dataset_root).expanduser().resolve()
    args.dataset_dir = args.dataset_root / args.id
    args.video = Path(args.video).expanduser().resolve() if args.video else args.dataset_root / "vids" / f"{args.id}.mp4"
    extra = {}
    for item in args.nerf_set:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SystemExit(f"error: --nerf_set {item!r}: expected KEY=VALUE, e.g. N_iters=200000")
        extra[key.strip()] = value.strip()
    args.config_extra = extra
    return args


def resolve_device(name: str) -> str:
    """The device name recorded in preprocess.json and given to the steps ('auto' resolved, others checked)."""
    from adnerf.devices import resolve_device as shared
    return str(shared(name))


def step_options(step: Step, args: argparse.Namespace) -> dict:
    """The keyword arguments of ``step``'s run_* function from the command line (besides force / progress)."""
    if step.name == "audio":
        return {"video": str(args.video), "backend": args.audio_backend, "deepspeech_graph": args.deepspeech_graph,
                "audio_channel": args.audio_channel,
                "device": resolve_device(args.device) if args.audio_backend == "hubert" else None}
    if step.name == "frames":
        return {"video": str(args.video)}
    if step.name == "landmarks":
        return {"backend": args.landmark_backend, "device": resolve_device(args.device), "max_no_face": args.max_no_face}
    if step.name == "parsing":
        return {"backend": args.parsing_backend, "weights": args.bisenet_weights, "device": resolve_device(args.device)}
    if step.name == "tracking":
        return {"tracker": args.tracker, "device": resolve_device(args.device), "bfm_dir": args.bfm_dir,
                "subject_shape": args.subject_shape}
    if step.name == "transforms":
        return {"config_extra": args.config_extra, "subject": args.id, "val_seconds": args.val_seconds}
    if step.name == "crop":
        return {"video": str(args.video), "size": args.crop_size, "backend": args.landmark_backend,
                "device": resolve_device(args.device)}
    return {}


def load_stage(step: Step):
    """Import the step's module now (not at start-up) and return its run_* function."""
    try:
        module = importlib.import_module(step.module)
    except ImportError as exc:
        raise StepError(f"cannot import {step.module} ({exc}): check the environment (pip install -r "
                        f"requirements.txt) or choose another backend (--offline selects offline ones)") from exc
    return getattr(module, step.function)


def call_stage(step: Step, stage, dataset_dir: Path, **options) -> dict:
    """stage(dataset_dir, **options) without the options that were not given (None: the stage's default
    applies); a given option the stage cannot take is an error rather than silently ignored."""
    options = {k: v for k, v in options.items() if v is not None}
    params = inspect.signature(stage).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        refused = [k for k in options if k not in params]
        if refused:
            raise StepError(f"{step.module}.{step.function} takes no option {', '.join(refused)}: "
                            f"leave it out for this step's backend")
    return stage(dataset_dir, **options)


def frames_count(dataset_dir: Path, record: dict) -> int:
    n = record.get("frames")
    return n if isinstance(n, int) and n > 0 else len(frame_ids(dataset_dir))


def run_step(step: Step, args: argparse.Namespace, stage=None) -> dict:
    """Run one step in this process and record it in preprocess.json. Raises StepError (also recorded)."""
    header = {"id": args.id, "video": str(args.video)}
    args.dataset_dir.mkdir(parents=True, exist_ok=True)
    options: dict = {}
    start = time.perf_counter()
    try:
        options = step_options(step, args)
        stage = stage or load_stage(step)
        removed = remove_broken_outputs(step, args.dataset_dir)
        try:
            record = call_stage(step, stage, args.dataset_dir, force=args.force, progress=not args.no_progress,
                                **options)
        except OSError as exc:
            if not files.is_disk_full(exc):
                raise
            raise StepError(no_space_message(exc, args.dataset_dir)) from exc
        still = broken_outputs(args.dataset_dir, step.name)
        if still:
            raise StepError(f"{len(still)} output file(s) of {step} are broken after redoing it, first: "
                            f"{still[0][0]} {still[0][1]}; delete them and run again, or --force this step")
        if removed:
            record = {**(record or {}), "redone_broken_files": [str(p) for p in removed]}
        for warning in _warnings(record):  # preprocess.json keeps them too, but they matter now
            print(f"warning: {step}: {warning}", file=sys.stderr, flush=True)
    except (StepError, KeyboardInterrupt) as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        record_step(args.dataset_dir, step.name, {"step": step.number, "status": status, "error": str(exc) or status,
                                                  "finished": now(), "options": _jsonable(options)}, header)
        raise
    except Exception as exc:  # a bug, not bad input: keep the traceback, but record the failure too
        record_step(args.dataset_dir, step.name, {"step": step.number, "status": "failed", "finished": now(),
                                                  "error": f"{type(exc).__name__}: {exc}", "options": _jsonable(options)},
                    header)
        raise
    wall = time.perf_counter() - start
    record = dict(record or {})
    seconds = record.get("seconds", wall)          # the stage's own timing when it gives one (no imports)
    record.setdefault("seconds_per_frame", round(seconds / max(frames_count(args.dataset_dir, record), 1), 6))
    entry = {"step": step.number, "status": "done", "seconds": round(seconds, 3), **record,
             "wall_seconds": round(wall, 3), "options": _jsonable(options), "finished": now()}
    record_step(args.dataset_dir, step.name, entry, header)
    return entry


def remove_broken_outputs(step: Step, dataset_dir: Path) -> list[Path]:
    """Remove the outputs of ``step`` that do not read back (truncated, corrupt), saying so: the step then
    redoes exactly those, as it redoes any missing output."""
    broken = broken_outputs(dataset_dir, step.name)
    for path, why in broken:
        print(f"{step}: {path} {why}; removed, the step redoes it", file=sys.stderr, flush=True)
        path.unlink(missing_ok=True)
    return [path for path, _ in broken]


def _warnings(record) -> list[str]:
    if not isinstance(record, dict):
        return []
    found = record.get("warnings") or []
    found = [found] if isinstance(found, str) else list(found)
    return ([record["warning"]] if record.get("warning") else []) + found


def _jsonable(options: dict) -> dict:
    return {k: (v if isinstance(v, (int, float, bool, str, dict, list, type(None))) else str(v))
            for k, v in options.items()}


def child_argv(args: argparse.Namespace, step: Step) -> list[str]:
    """The command line of ``--step k`` with every option of this run (backends already resolved)."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--id", args.id, "--step", str(step.number),
            "--dataset_root", str(args.dataset_root), "--video", str(args.video), "--device", args.device,
            "--audio_channel", args.audio_channel]
    for option in BACKENDS:
        argv += [f"--{option}", getattr(args, option)]
    for option in ("deepspeech_graph", "bisenet_weights", "bfm_dir", "max_no_face"):
        if getattr(args, option) is not None:
            argv += [f"--{option}", str(getattr(args, option))]
    argv += [f"--nerf_set={item}" for item in args.nerf_set]
    argv += [flag for flag, on in (("--force", args.force), ("--no_progress", args.no_progress),
                                   ("--offline", args.offline)) if on]
    return argv


def launch_subprocess(step: Step, args: argparse.Namespace) -> subprocess.Popen:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow / mediapipe start-up chatter, not our messages
    env.setdefault("GLOG_minloglevel", "2")
    return subprocess.Popen(child_argv(args, step), env=env)


def failure_reason(args: argparse.Namespace, step: Step, returncode: int) -> str:
    entry = read_log(args.dataset_dir).get("steps", {}).get(step.name, {})
    if entry.get("status") == "failed" and entry.get("error"):
        return entry["error"]
    if shutil.disk_usage(args.dataset_dir).free < 1 << 20:  # it could not even record its failure
        return no_space_message(None, args.dataset_dir)
    return f"exited with code {returncode} (killed, e.g. out of memory?) without recording a reason"


@contextlib.contextmanager
def dataset_lock(dataset_dir: Path):
    """One ``--step all`` run per dataset at a time (two would redo and overwrite each other's work)."""
    dataset_dir.mkdir(parents=True, exist_ok=True)
    with open(dataset_dir / ".process_data.lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StepError(f"another process_data.py run is working on {dataset_dir}: wait for it to finish") from None
        yield


def remove_partial_files(dataset_dir: Path) -> int:
    """Temporary files of writes that were interrupted (no step trusts them); returns how many."""
    return len(files.remove_partial_files(dataset_dir))


def say(message: str) -> None:
    print(f"[process_data] {message}", flush=True)


def stop_all(running: dict) -> None:
    for proc in running.values():
        proc.terminate()
    for proc in running.values():
        proc.wait()


def run_pipeline(args: argparse.Namespace, launch=launch_subprocess, log=say) -> int:
    """Every step, each as soon as the steps it needs are done. 0 when all succeed; 1 at the first failure,
    after stopping the steps still running. ``launch(step, args)`` returns a process-like object (wait,
    terminate)."""
    from data_util.crop_video import needs_crop
    from data_util.frames import check_video
    from data_util.transforms_step import check_config_extra
    check_config_extra(args.config_extra)   # a typo in --nerf_set fails now, not after hours of preprocessing
    info = check_video(args.video)
    if args.crop == "auto" and needs_crop(info.width, info.height, args.crop_size):
        log(f"{args.video} is {info.width}x{info.height}: cropping one square around the face (--crop off: not)")
        with dataset_lock(args.dataset_dir):
            entry = run_step(CROP, args)
        args.video = args.dataset_dir / entry["video"]
        log(f"crop {entry['box']} (x0, y0, side) of the source, scaled to {entry['out_size']}: {args.video}")
        info = check_video(args.video)
    log(f"{args.video}: {info.frames_25} frames at 25 fps, {info.width}x{info.height} -> {args.dataset_dir}")
    preflight(args, info.frames_25, info.width, info.height)
    with dataset_lock(args.dataset_dir):
        remove_partial_files(args.dataset_dir)
        done: set[int] = set()
        running: dict[int, object] = {}
        finished: queue.Queue = queue.Queue()
        start = time.perf_counter()
        while len(done) < len(STEPS):
            for step in STEPS:
                if step.number not in done and step.number not in running and set(step.after) <= done:
                    log(f"{step} started")
                    proc = running[step.number] = launch(step, args)
                    threading.Thread(target=lambda s=step, p=proc: finished.put((s, p.wait())), daemon=True).start()
            try:
                step, returncode = finished.get()
            except KeyboardInterrupt:   # Ctrl-C or SIGTERM: stop the children too, they resume next time
                stop_all(running)
                raise
            del running[step.number]
            if returncode != 0:
                stop_all(running)
                left = [str(s) for s in STEPS if s.number not in done and s is not step]
                log(f"{step} failed: {failure_reason(args, step, returncode)}")
                log(f"not finished: {', '.join(left) or 'none'}. Fix the cause and run the same command again: "
                    "finished work is kept")
                return 1
            done.add(step.number)
            log(f"{step} done ({time.perf_counter() - start:.1f} s since start)")
    log(f"{args.dataset_dir} is ready: train with "
        f"python NeRFs/HeadNeRF/run_nerf.py --config {args.dataset_dir / 'HeadNeRF_config.txt'}")
    return 0


def _interrupt_on_sigterm() -> None:
    """SIGTERM (the orchestrator stopping a sibling of a failed step) unwinds like Ctrl-C, so the temporary
    files of atomic writes in progress are removed."""
    def handler(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, handler)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _interrupt_on_sigterm()
    try:
        if args.step == "all":
            return run_pipeline(args)
        step = find_step(args.step)
        from data_util.crop_video import input_video   # the crop, when the whole run made one of this video
        args.video = input_video(args.dataset_dir, args.video)
        entry = run_step(step, args)
        print(f"{step} done in {entry['seconds']:.1f} s")
        return 0
    except StepError as exc:
        return report(exc, 1, f"{find_step(args.step)} failed" if args.step != "all" else "process_data")
    except KeyboardInterrupt:
        print(f"{'step ' + args.step if args.step != 'all' else 'process_data'} interrupted: run the same command "
              "again to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
