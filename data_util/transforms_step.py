"""Preprocessing step 7: camera poses and face rectangles for the NeRFs, and their config files.

    run_transforms(dataset_dir, *, force=False, progress=True, config_extra=None, subject=None,
                   val_seconds=0) -> record

Reads track_params.pt (step 6), ori_imgs/<n>.lms (step 2) and the size of ori_imgs/<n>.jpg (step 1); writes
transforms_train.json, transforms_val.json, HeadNeRF_config.txt, TorsoNeRF_config.txt and
TorsoNeRFTest_config.txt, as the original AD-NeRF did, plus the eye and mouth signals (this project's
addition):

- pose of frame n: trans /= 10, c2w = [R^T | -R^T t] with R = Rx(e0) Ry(e1) Rz'(e2), Rz' = Rz(-e2), the
  original's convention (nerf_configs.head_pose_to_c2w, face_tracking/geometry.py);
- face_rect from the 68 landmarks (``face_rect``), clamped to the image;
- only frames with landmarks are used; train = the first int(N * 10 / 11) of them, val = the rest (with
  ``val_seconds``, val is at least that long);
- track_params.pt rows: the original's layout (one row per frame with a .lms, in frame order) or this
  project's older one (a row for every frame plus a bool ``valid`` [N]); both are read (``pose_rows``);
- near / far = mean depth - 0.2 / + 0.4, mean depth = -mean(trans_z / 10) over the frames used;
- testskip = int(n_val / 7), at least 1;
- eye openness (adnerf.eyes.eye_openness, the mean eye aspect ratio of the .lms): an ``eye`` value in each
  frame of the transforms (after the original's keys; the original's loader ignores keys it does not read)
  and eye.npy, float64 [N] for every frame n of ori_imgs (frames without a .lms get the median);
- mouth opening (adnerf.mouth.mouth_opening, inner-lip gap / inter-ocular distance of the .lms): a ``mouth``
  value after ``eye``, and mouth.npy, the same way (what the lip-sync metrics measure).

Config paths are portable: relative to the repository when the dataset lies inside it (the NeRF code resolves
them against the working directory, the repository or the config's folder), absolute otherwise.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from adnerf.configfile import read_config, unknown_nerf_options
from adnerf.constants import FPS
from adnerf.eyes import eye_openness
from adnerf.mouth import mouth_opening
from data_util.common import StepError, atomic_path, face_frames, frame_ids, frame_size, load_lms, save_npy
from data_util.nerf_configs import head_pose_to_c2w, nerf_configs, write_config, write_transforms

REPO_ROOT = Path(__file__).resolve().parents[1]
TRAIN_FRACTION = 10 / 11
NEAR_OFFSET, FAR_OFFSET = -0.2, 0.4   # around the mean head depth, in the tracker's units / 10
TRANS_SCALE = 10.0                    # the tracker's translations are divided by 10 for the NeRF
VAL_SKIP_DIVISOR = 7                  # testskip = n_val / 7: about 7 validation renders during training
EYE_NAME = "eye.npy"
MOUTH_NAME = "mouth.npy"
CONFIG_NAMES = ("HeadNeRF_config.txt", "TorsoNeRF_config.txt", "TorsoNeRFTest_config.txt")
TRANSFORM_NAMES = ("transforms_train.json", "transforms_val.json")


def face_rect(lms: np.ndarray, width: int, height: int) -> list[int]:
    """Face rectangle [x, y, w, h] (ints) from 68 landmarks [68, 2] (x, y), as the original computes it.

    Centre x = middle of the landmarks' x range, centre y = nose bridge top (point 27); half width =
    1.5 x (max x - centre x), half height = 1.15 x (chin (point 8) y - centre y); each truncated to an int.
    The corner is clamped to >= 0 and the size to the image (x + w <= width, y + h <= height); like the
    original, a corner moved to 0 keeps its full size (the rectangle shifts, it is not cut).
    """
    xs = lms[:, 0]
    cx = int((xs.min() + xs.max()) / 2.0)
    cy = int(lms[27, 1])
    half_w = int((xs.max() - cx) * 1.5)
    half_h = int((lms[8, 1] - cy) * 1.15)
    x = min(max(cx - half_w, 0), width - 1)
    y = min(max(cy - half_h, 0), height - 1)
    w = max(min(2 * half_w, width - x), 1)
    h = max(min(2 * half_h, height - y), 1)
    return [x, y, w, h]


def split_frames(ids: list[int], min_val: int = 0) -> tuple[list[int], list[int]]:
    """Sequential split: train = the first int(N * 10 / 11) ids, val = the rest (original AD-NeRF); with
    ``min_val``, the validation frames are at least that many (at most half of them), taken from the end."""
    n_train = int(len(ids) * TRAIN_FRACTION)
    n_train = min(n_train, len(ids) - min(int(min_val), len(ids) // 2))
    return ids[:n_train], ids[n_train:]


def near_far(trans: np.ndarray) -> tuple[float, float]:
    """trans [N, 3] (tracker units, not yet / 10) of the frames used -> (near, far) around the mean depth."""
    mean_z = -float(np.mean(np.asarray(trans, dtype=np.float64)[:, 2] / TRANS_SCALE))
    return mean_z + NEAR_OFFSET, mean_z + FAR_OFFSET


def val_testskip(n_val: int) -> int:
    return max(1, int(n_val / VAL_SKIP_DIVISOR))


def portable_path(path: Path) -> str:
    """Relative to the repository when inside it (configs then work from any clone), else absolute."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def load_track_params(path: Path) -> dict[str, np.ndarray]:
    """track_params.pt -> numpy arrays euler [N, 3], trans [N, 3], focal (float), valid [N] bool or None
    (present only in this project's older per-frame layout)."""
    if not path.is_file():
        raise StepError(f"missing {path} (written by step 6, tracking): run process_data.py --step 6 first")
    import torch
    try:
        params = torch.load(path, map_location="cpu", weights_only=True)
        euler = params["euler"].detach().double().numpy()
        trans = params["trans"].detach().double().numpy()
        focal = float(params["focal"].reshape(-1)[0])
    except Exception as exc:  # noqa: BLE001 - a corrupt or foreign file, whatever the exception
        raise StepError(f"cannot read {path} ({type(exc).__name__}: {exc}): re-run step 6 with --force") from exc
    if euler.ndim != 2 or euler.shape[1] != 3 or trans.shape != euler.shape:
        raise StepError(f"{path}: euler {tuple(euler.shape)} and trans {tuple(trans.shape)} must both be [N, 3]; "
                        "re-run step 6 with --force")
    valid = params.get("valid")
    valid = None if valid is None else valid.detach().cpu().numpy().astype(bool).reshape(-1)
    return {"euler": euler, "trans": trans, "focal": focal, "valid": valid}


def pose_rows(track: dict, all_ids: list[int], lms_ids: list[int], path: Path) -> dict[int, int]:
    """{frame id: row of track_params.pt} for the frames step 7 uses (they have a .lms and a pose).

    The original's file has one row per frame with a .lms, in frame order (no ``valid``); this project's
    older files have one row per frame and ``valid``. A file without ``valid`` whose rows match neither
    the frames with landmarks nor all frames is an error: its rows cannot be assigned.
    """
    n_rows = len(track["euler"])
    if track["valid"] is not None:
        if n_rows != len(all_ids) or len(track["valid"]) != n_rows:
            raise StepError(f"{path} has {n_rows} poses and {len(track['valid'])} 'valid' flags but ori_imgs has "
                            f"{len(all_ids)} frames: re-run step 6 (tracking) with --force")
        return {n: n for n in lms_ids if track["valid"][n]}
    if n_rows == len(lms_ids):  # the original's layout
        return {n: j for j, n in enumerate(lms_ids)}
    if n_rows == len(all_ids):  # a row for every frame
        return {n: n for n in lms_ids}
    raise StepError(f"{path} has {n_rows} poses but ori_imgs has {len(lms_ids)} frames with landmarks (.lms) "
                    f"of {len(all_ids)}: re-run step 6 (tracking) with --force")


def check_config_extra(extra: dict | None) -> dict[str, str]:
    """Refuse NeRF config extras that name no NeRF option (a typo would otherwise only fail at training)."""
    extra = {str(k): str(v) for k, v in (extra or {}).items()}
    if extra:
        unknown = unknown_nerf_options(extra)
        if unknown:
            raise StepError(f"unknown NeRF option(s) {', '.join(unknown)} in --nerf_set (see "
                            "python NeRFs/TorsoNeRF/run_nerf.py --help)")
    return extra


def config_options(dataset_dir: Path, subject: str, near: float, far: float, testskip: int,
                   extra: dict[str, str]) -> dict[str, dict]:
    """The three configs, written like the original's: near/far at full precision, with_test = 1, no
    testskip in the test config (driving then uses every 8th pose of transforms_val.json, the default)."""
    data = Path(portable_path(dataset_dir))
    configs = nerf_configs(data, subject, near, far, testskip)
    for name, opts in configs.items():
        opts.pop("dataset_type", None)       # the default; the original did not write it
        opts["near"], opts["far"] = repr(float(near)), repr(float(far))
        if name == "TorsoNeRFTest_config.txt":
            opts.pop("testskip", None)
            opts.pop("with_test", None)
            opts["with_test"] = 1        # last, as in the original's file
        opts.update(extra)
    return configs


def write_if_changed(path: Path, write, expected: str, force: bool = False) -> bool:
    """Atomically (re)write ``path`` with ``write(tmp_path)`` unless it already holds ``expected`` (and not
    ``force``). Returns whether it wrote."""
    if not force and path.is_file() and path.read_text() == expected:
        return False
    with atomic_path(path) as tmp:
        write(tmp)
    return True


SIGNALS = {EYE_NAME: eye_openness, MOUTH_NAME: mouth_opening}   # file -> measure [K, 68, 2] -> [K]


def landmark_signals(dataset_dir: Path, all_ids: list[int], lms_ids: list[int]) -> dict[str, np.ndarray]:
    """Each measure of ``SIGNALS`` for every frame of ori_imgs, from ori_imgs/<n>.lms read once:
    {file name: float64 [N]} (N = max id + 1); frames without a .lms (or whose measure is undefined) get
    the median of the others (eyes are open, the mouth at rest, most of the time)."""
    n_frames = max(all_ids) + 1
    lms_ids = [n for n in lms_ids if n < n_frames]
    lms = np.stack([load_lms(dataset_dir / "ori_imgs" / f"{n}.lms") for n in lms_ids]) if lms_ids else None
    signals = {}
    for name, measure in SIGNALS.items():
        values = np.full(n_frames, np.nan)
        if lms is not None:
            values[lms_ids] = measure(lms)
        known = values[np.isfinite(values)]
        values[~np.isfinite(values)] = np.median(known) if known.size else 0.0
        signals[name] = values
    return signals


def build_frames(dataset_dir: Path, ids: list[int], track: dict, rows: dict[int, int], width: int,
                 height: int, eye: np.ndarray, mouth: np.ndarray) -> list[dict]:
    """One transforms entry per frame id: img_id, aud_id (= img_id), transform_matrix, face_rect, eye, mouth.
    rows: {frame id: row of track_params.pt} (``pose_rows``); eye, mouth: [N] by frame id (``landmark_signals``)."""
    frames = []
    for n in ids:
        c2w = head_pose_to_c2w(track["euler"][rows[n]], track["trans"][rows[n]] / TRANS_SCALE)
        rect = face_rect(load_lms(dataset_dir / "ori_imgs" / f"{n}.lms"), width, height)
        frames.append({"img_id": n, "aud_id": n, "transform_matrix": c2w, "face_rect": rect, "eye": float(eye[n]),
                       "mouth": float(mouth[n])})
    return frames


def write_signal(path: Path, values: np.ndarray, force: bool) -> bool:
    """Write eye.npy / mouth.npy unless it already holds ``values`` (and not ``force``); returns whether it
    wrote."""
    if not force and path.is_file():
        try:
            if np.array_equal(np.load(path), values):
                return False
        except (OSError, ValueError):
            pass    # unreadable: rewrite it
    save_npy(path, values)
    return True


def run_transforms(dataset_dir: str | Path, *, force: bool = False, progress: bool = True,
                   config_extra: dict | None = None, subject: str | None = None, val_seconds: float = 0.0) -> dict:
    """Write transforms_{train,val}.json and the three NeRF configs (see the module docstring).

    Idempotent: files already holding what would be written are left untouched (the step is cheap, so it
    always recomputes; stale outputs after a re-tracking are thereby never kept). Config lines the user
    added (e.g. ``N_iters = 200000``) are kept unless ``force``; the lines this step owns are updated.
    ``config_extra``: {option: value} written into all three configs (e.g. {"N_iters": 200000}).
    ``val_seconds``: the validation split holds at least this much of the video's end (at 25 fps; at most half
    the frames), e.g. 3 s for the lip-sync score of a short clip; 0 keeps the original's 1/11.
    """
    start = time.perf_counter()
    dataset_dir = Path(dataset_dir).resolve()
    subject = subject or dataset_dir.name
    extra = check_config_extra(config_extra)
    if not (np.isfinite(val_seconds) and val_seconds >= 0):
        raise StepError(f"val_seconds = {val_seconds}: must be a finite number of seconds >= 0")
    track = load_track_params(dataset_dir / "track_params.pt")
    all_ids = frame_ids(dataset_dir)
    if not all_ids:
        raise StepError(f"no frames in {dataset_dir / 'ori_imgs'} (written by step 1): run step 1 first")
    rows = pose_rows(track, all_ids, face_frames(dataset_dir), dataset_dir / "track_params.pt")
    ids = sorted(rows)
    if len(ids) < 2:
        raise StepError(f"only {len(ids)} frame(s) of {len(all_ids)} have landmarks and a tracked pose in "
                        f"{dataset_dir}: need at least 2 (see step 2's 'no_face' list in preprocess.json)")
    width, height = frame_size(dataset_dir, ids[0])
    train_ids, val_ids = split_frames(ids, round(val_seconds * FPS))
    near, far = near_far(track["trans"][[rows[n] for n in ids]])
    testskip = val_testskip(len(val_ids))
    signals = landmark_signals(dataset_dir, all_ids, face_frames(dataset_dir))
    eye, mouth = signals[EYE_NAME], signals[MOUTH_NAME]
    written = [name for name, values in signals.items() if write_signal(dataset_dir / name, values, force)]
    for name, split_ids in zip(TRANSFORM_NAMES, (train_ids, val_ids)):
        frames = build_frames(dataset_dir, split_ids, track, rows, width, height, eye, mouth)
        path = dataset_dir / name
        scratch = dataset_dir / f".{name}.expected"
        try:  # render to text once, to compare with what is there
            write_transforms(scratch, track["focal"], width, height, frames)
            expected = scratch.read_text()
        finally:
            scratch.unlink(missing_ok=True)
        if write_if_changed(path, lambda tmp, t=expected: tmp.write_text(t), expected, force):
            written.append(name)
    for name, options in config_options(dataset_dir, subject, near, far, testskip, extra).items():
        path = dataset_dir / name
        if path.is_file() and not force:
            kept = read_config(path)
            options = {**kept, **{k: str(v) for k, v in options.items()}}
        text = "".join(f"{k} = {v}\n" for k, v in options.items())
        if write_if_changed(path, lambda tmp, o=options: write_config(tmp, o), text, force):
            written.append(name)
    seconds = time.perf_counter() - start
    return {"backend": "adnerf", "frames": len(all_ids), "frames_used": len(ids), "train": len(train_ids),
            "val": len(val_ids), "left_out": sorted(set(all_ids) - set(ids)), "near": near, "far": far,
            "testskip": testskip, "focal": track["focal"], "width": width, "height": height,
            "eye_median": float(np.median(eye)), "mouth_median": float(np.median(mouth)),
            "config_extra": extra, "written": written, "skipped": not written,
            "seconds": round(seconds, 3), "seconds_per_frame": round(seconds / len(all_ids), 6)}
