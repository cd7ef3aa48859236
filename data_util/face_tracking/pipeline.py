"""Preprocessing step 6: ori_imgs/<n>.lms (+ images for the BFM tracker) -> dataset/<id>/track_params.pt.

track_params.pt, the original's layout (float32 torch tensors, N = number of frames that have a .lms):
    id [1, 100], exp [N, 79], euler [N, 3] rad, trans [N, 3] (BFM decimetres, t_z ~ -7), focal [1].
Row j belongs to the j-th frame with landmarks in frame order; frames without a .lms have no row (step 7
leaves them out, as the original's does). Euler convention: geometry.euler_to_rotation.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from adnerf.devices import resolve_device
from adnerf.errors import check_choice

from ..common import StepError, atomic_path, face_frames, frame_ids, frame_size, load_lms
from .focal_search import describe

TRACKERS = ("bfm", "rigid")
ID_DIM, EXP_DIM = 100, 79
BFM_URL = "https://faces.dmi.unibas.ch/bfm/"
DEFAULT_3DMM_DIR = Path(__file__).resolve().parent / "3DMM"


def missing_3dmm_error(model_dir: Path) -> StepError:
    return StepError(
        f"the BFM tracker needs {model_dir / '3DMM_info.npy'}: register at {BFM_URL} and download the Basel Face "
        f"Model 2009, put 01_MorphableModel.mat in {model_dir} and run "
        f"`python data_util/face_tracking/convert_BFM.py --bfm_dir {model_dir}`; or track without BFM with "
        f"`--tracker rigid` (or `--offline`)")


def existing_record(path: Path, n_rows: int) -> dict | None:
    """The record of a complete track_params.pt in the original's layout with n_rows rows (frames with
    landmarks), or None (missing, stale, the older layout with 'valid', or unreadable)."""
    if not path.is_file():
        return None
    try:
        params = torch.load(path, weights_only=True)
        if params["euler"].shape[0] != n_rows or params["exp"].shape[0] != n_rows or "valid" in params:
            return None
    except Exception:
        return None
    return {"skipped": True, "tracked": n_rows, "focal": float(params["focal"].reshape(-1)[0]),
            "params": str(path)}


def save_track_params(path: Path, *, id_coeffs, exp, euler, trans, focal: float) -> None:
    """Write track_params.pt atomically: float32 tensors, the original's keys and layout (exp, euler, trans
    [N, k]: one row per frame with landmarks, in frame order)."""
    as_tensor = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32).contiguous()  # noqa: E731
    params = {"id": as_tensor(id_coeffs).reshape(1, ID_DIM), "exp": as_tensor(exp), "euler": as_tensor(euler),
              "trans": as_tensor(trans), "focal": torch.tensor([float(focal)], dtype=torch.float32)}
    with atomic_path(path) as tmp:
        torch.save(params, tmp)


def run_tracking(dataset_dir, *, tracker: str = "bfm", device: str = "auto", bfm_dir=None, force: bool = False,
                 progress: bool = True, focal: float | None = None, smooth: float = 0.5, threads: int | None = 1,
                 subject_shape: bool = False, **bfm_options) -> dict:
    """Track the head (and, with BFM, identity / expression) of every frame with landmarks; write
    track_params.pt (one row per such frame, the original's layout).

    tracker: "bfm" (the original's 3DMM fitting; needs 3DMM/3DMM_info.npy, see convert_BFM.py) or "rigid"
    (generic face, no BFM). focal: skip the focal search and use this focal. smooth: temporal smoothing of
    the rigid tracker. subject_shape: the rigid tracker also fits the person's own landmark shape with the
    poses (subject_shape.py; default False: the generic face). threads: CPU threads while tracking (1 by
    default: many small operations; None keeps torch's setting). bfm_options: iterations, photometric, photo_warmup, focal_every of face_tracker.track_bfm.
    Returns the step record (tracker, focal, mean landmark error px, seconds per frame, ...).
    """
    dataset_dir = Path(dataset_dir)
    check_choice(tracker, TRACKERS, "tracker")
    ids = frame_ids(dataset_dir)
    if not ids:
        raise StepError(f"no frames in {dataset_dir / 'ori_imgs'}: run step 1 (frames) first")
    n_frames = ids[-1] + 1
    if ids != list(range(n_frames)):
        raise StepError(f"{dataset_dir / 'ori_imgs'} has gaps in its frame numbers: re-run step 1 with --force")
    valid_ids = np.array(face_frames(dataset_dir), dtype=np.int64)
    if len(valid_ids) == 0:
        raise StepError(f"no landmarks in {dataset_dir / 'ori_imgs'} (no <n>.lms): run step 2 (landmarks) first")
    out_path = dataset_dir / "track_params.pt"
    model_dir = Path(bfm_dir) if bfm_dir else DEFAULT_3DMM_DIR
    if tracker == "bfm" and not (model_dir / "3DMM_info.npy").is_file():
        raise missing_3dmm_error(model_dir)
    if not force:
        record = existing_record(out_path, len(valid_ids))
        if record is not None:
            return {"tracker": tracker, **record}

    start = time.perf_counter()
    lms = np.stack([load_lms(dataset_dir / "ori_imgs" / f"{i}.lms") for i in valid_ids])
    size = frame_size(dataset_dir, ids[0])
    if tracker == "rigid":
        from .rigid_tracker import track_rigid
        result = track_rigid(lms, size, focal=focal, smooth=smooth, times=valid_ids, progress=progress,
                             threads=threads, fit_shape=subject_shape)
        id_coeffs = np.zeros((1, ID_DIM))
        exp_valid = np.zeros((len(valid_ids), EXP_DIM))
        run_device = "cpu"
    else:
        from .face_tracker import track_bfm
        run_device = resolve_device(device)
        result = track_bfm(lms, size, model_dir, images=lambda idx: [dataset_dir / "ori_imgs" / f"{valid_ids[i]}.jpg"
                                                                      for i in idx],
                           focal=focal, device=run_device, progress=progress, threads=threads, **bfm_options)
        id_coeffs, exp_valid = result["id"], result["exp"]
        run_device = str(run_device)
    trans = np.asarray(result["trans"], dtype=np.float64)
    save_track_params(out_path, id_coeffs=id_coeffs, exp=exp_valid, euler=result["euler"], trans=trans,
                      focal=result["focal"])
    seconds = time.perf_counter() - start
    record = {"tracker": tracker, "device": run_device, "frames": n_frames, "tracked": int(len(valid_ids)),
              "no_landmarks": sorted(set(range(n_frames)) - set(valid_ids.tolist())),
              "focal": float(result["focal"]),
              "focal_errors": {f"{k:g}": round(v, 4) for k, v in sorted(result["focal_errors"].items())},
              "focal_search": result.get("focal_search"),
              "mean_landmark_error_px": float(result["errors"].mean()),
              "mean_trans_z": float(trans[:, 2].mean()), "seconds": round(seconds, 3),
              "seconds_per_frame": round(seconds / n_frames, 5), "params": str(out_path)}
    if result.get("focal_search"):  # which range was searched and what came out, on the console too
        print(f"step 6 (tracking): {describe(result['focal_search'])}", flush=True)
        if not result["focal_search"]["inside"]:
            record["warning"] = describe(result["focal_search"])
    if tracker == "rigid":
        record["smooth"] = smooth
        record["subject_shape"] = subject_shape
        record["generic_face_landmark_error_px"] = float(result["generic_errors"].mean())
    else:
        record.update({k: v for k, v in result.items() if k.startswith("stage_") or k == "iterations"})
    return record
