"""The progress lines of scripts/video_grid.sh: each stage's estimated seconds, from per-unit costs measured on
this project's 2-core CPU, scaled by how fast the finished stages actually went.

    .venv/bin/python -m scripts.stage_eta --dataset dataset/<id> --video V --speech S --head_steps 3000 \
        --torso_steps 1500 --grid_res auto --stages preprocess,head,torso,drive,validation,evaluation \
        --finished 80,233 --elapsed 313
    -> [video_grid] stage 3/6 torso: elapsed 5:13, estimated remaining 13:55
    (--total: "[video_grid] finished in m:ss (preprocess 1:20, head 3:53, ...)")

The frame count and image size come from dataset/<id>/ once preprocessing is done (transforms_*.json, bc.jpg),
before that from the video (duration * 25 fps, its first frame); driving renders the speech's duration * 25.

Calibration (2 idle cores, no GPU, 2026-12-03, README "Measured on a real person"): the 20 s 512x512 clip of
../shared/realvideo (502 frames: 455 train / 46 val), grid backend, head 3000 / torso 1500 steps, --portrait,
8 s of driving, 19 min 55 s in all, split by dataset/kitchen_auto/preprocess.json and its files' times:
preprocessing 80 s, head 233 s, torso 120 s, driving 511 s (200 frames), validation 149 s (46 frames and the
side-by-side video), evaluation 35 s, portrait 67 s; the same run at --grid_max_res 128 (dataset/kitchen):
head 170 s, torso 89 s, the rest alike. A training step's cost grows with the grid's finest resolution.
"""
from __future__ import annotations

import argparse
import json
import math
from dataclasses import dataclass
from pathlib import Path

from adnerf.constants import FPS

# a stage that took under this fraction of its estimate was reused (a second run): it says nothing of speed
REUSED_FRACTION = 0.1


@dataclass
class Workload:
    frames: int         # frames of the person's video (train + val)
    val_frames: int     # the validation frames that are reconstructed and evaluated
    drive_frames: int   # frames driven by the speech clip
    width: int
    height: int
    head_steps: int
    torso_steps: int
    grid_res: int       # the grid's finest resolution
    refine_poses: int = 0   # the head's --refine_poses steps per training frame (512 rays each)
    fit_poses: int = 0      # the renders' --fit_poses steps per pose frame (1024 rays each)
    cond_planes: int = 0    # the head's --grid_cond_planes

    @property
    def train_frames(self) -> int:
        return self.frames - self.val_frames

    @property
    def frame_mp(self) -> float:
        """Megapixels of one frame."""
        return self.width * self.height / 1e6


def step_seconds(res: int, at_128: float, at_512: float) -> float:
    """A training step's seconds at the finest resolution res, linear through the two measured ones."""
    return at_128 + (at_512 - at_128) * (res - 128) / (512 - 128)


# seconds of each stage (start-up + per unit), calibrated on the run in the module docstring. Preprocessing:
# its log's steps sum to 68 s of work and 78 s of wall time (8 processes starting). The renders first build the
# mask of the pixels any training frame's parsing covers (--skip_bg_pixels): seconds that grow with the frames.
REFINE_STEP_SECONDS = 0.035  # one pose-fit step of 512 rays (the head at 512: 10 steps x 455 frames ~ 160 s)
FIT_STEP_SECONDS = 0.045     # one of 1024 rays
COND_PLANE_COST = 0.13       # a head step's extra share per --grid_cond_planes basis (2: 346 s vs 275 s at 512)
STAGE_SECONDS = {
    "preprocess": lambda w: 12 + 0.517 * w.frames * w.frame_mp,
    "head": lambda w: (10 + 0.03 * w.frames + w.head_steps * step_seconds(w.grid_res, 0.0483, 0.0693)
                       * (1 + COND_PLANE_COST * w.cond_planes)
                       + REFINE_STEP_SECONDS * w.refine_poses * w.train_frames),
    "torso": lambda w: 5 + 0.01 * w.frames + w.torso_steps * step_seconds(w.grid_res, 0.0527, 0.0733),
    "drive": lambda w: (5 + 0.1 * w.frames * w.frame_mp + 9.4 * w.drive_frames * w.frame_mp
                        + FIT_STEP_SECONDS * w.fit_poses * min(w.val_frames, w.drive_frames)),  # poses cycled
    "validation": lambda w: (5 + 0.25 * w.frames * w.frame_mp + 9.4 * w.val_frames * w.frame_mp
                             + FIT_STEP_SECONDS * w.fit_poses * w.val_frames),
    "evaluation": lambda w: 10 + 2.07 * w.val_frames * w.frame_mp,
    "portrait": lambda w: 20 + 0.73 * (w.drive_frames + w.val_frames) * w.frame_mp,
}


def stage_estimates(stages: list[str], work: Workload) -> list[float]:
    """Estimated seconds of each named stage (names: STAGE_SECONDS' keys)."""
    unknown = [s for s in stages if s not in STAGE_SECONDS]
    if unknown:
        raise ValueError(f"unknown stage(s) {unknown}: expected some of {list(STAGE_SECONDS)}")
    return [float(STAGE_SECONDS[s](work)) for s in stages]


def speed_ratio(measured: list[float], estimated: list[float]) -> float:
    """measured / estimated seconds of the finished stages (1 when none): > 1 on a slower machine. Stages under
    REUSED_FRACTION of their estimate were reused and are left out, unless every finished stage was that fast."""
    pairs = [(m, e) for m, e in zip(measured, estimated) if e > 0]
    worked = [(m, e) for m, e in pairs if m >= REUSED_FRACTION * e] or pairs
    return sum(m for m, _ in worked) / sum(e for _, e in worked) if worked else 1.0


def remaining_seconds(estimates: list[float], finished: list[float]) -> list[float]:
    """Seconds of each stage not finished yet (estimates[len(finished):]), scaled by speed_ratio."""
    n = len(finished)
    ratio = speed_ratio(finished, estimates[:n])
    return [e * ratio for e in estimates[n:]]


def clock(seconds: float) -> str:
    """m:ss (minutes may exceed 59), rounded to the second."""
    s = max(0, round(seconds))
    return f"{s // 60}:{s % 60:02d}"


def grid_resolution(text: str, width: int, height: int) -> int:
    """--grid_max_res as training resolves it; 'auto' estimated as the power of two nearest to the frame's
    larger side (512 for the calibration clip), within NeRFs/grid/options.py's AUTO_RES_RANGE of 128..2048."""
    if text != "auto":
        return int(text)
    return int(min(max(2 ** round(math.log2(max(width, height, 1))), 128), 2048))


def workload(args: argparse.Namespace) -> Workload:
    """The frame counts and image size from the dataset when preprocessing made it, else from the video."""
    from adnerf.media import first_frame_size, image_size, probe
    data = Path(args.dataset)
    train, val = data / "transforms_train.json", data / "transforms_val.json"
    if train.is_file() and val.is_file() and (data / "bc.jpg").is_file():
        n_train, n_val = (len(json.loads(p.read_text())["frames"]) for p in (train, val))
        frames, (width, height) = n_train + n_val, image_size(data / "bc.jpg")
    else:
        frames = round((probe(args.video).duration or 0.0) * FPS)
        n_val = frames - frames * 10 // 11   # data_util/transforms_step.py: train = the first 10/11
        width, height = first_frame_size(args.video)
    drive_frames = round((probe(args.speech).duration or 0.0) * FPS)
    return Workload(frames, n_val, drive_frames, width, height, args.head_steps, args.torso_steps,
                    grid_resolution(args.grid_res, width, height), args.refine_poses, args.fit_poses,
                    args.cond_planes)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", required=True, help="dataset/<id> (read when preprocessing has made it)")
    p.add_argument("--video", required=True)
    p.add_argument("--speech", required=True)
    p.add_argument("--head_steps", type=int, required=True)
    p.add_argument("--torso_steps", type=int, required=True)
    p.add_argument("--grid_res", default="auto", help="the trainings' --grid_max_res")
    p.add_argument("--refine_poses", type=int, default=0, help="the head training's --refine_poses")
    p.add_argument("--fit_poses", type=int, default=0, help="the renders' --fit_poses")
    p.add_argument("--cond_planes", type=int, default=0, help="the head training's --grid_cond_planes")
    p.add_argument("--stages", required=True, help="comma-separated stage names, in order")
    p.add_argument("--finished", default="", help="comma-separated seconds of the stages finished so far")
    p.add_argument("--elapsed", type=float, required=True, help="seconds since the start")
    p.add_argument("--total", action="store_true", help="every stage is finished: print the total")
    args = p.parse_args(argv)
    stages = args.stages.split(",")
    finished = [float(s) for s in args.finished.split(",") if s]
    if args.total:
        each = ", ".join(f"{name} {clock(s)}" for name, s in zip(stages, finished))
        print(f"[video_grid] finished in {clock(args.elapsed)} ({each})", flush=True)
        return
    k = len(finished)
    try:
        left = clock(sum(remaining_seconds(stage_estimates(stages, workload(args)), finished)))
    except Exception as exc:  # noqa: BLE001 - an estimate is a courtesy: never stop the run for it
        left = f"unknown ({exc})"
    print(f"[video_grid] stage {k + 1}/{len(stages)} {stages[k]}: elapsed {clock(args.elapsed)}, "
          f"estimated remaining {left}", flush=True)


if __name__ == "__main__":
    main()
