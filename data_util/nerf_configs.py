"""Writing the dataset's transforms_*.json and the NeRF config files (preprocessing step 7's outputs)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def euler_to_rotation(euler) -> np.ndarray:
    """euler [3] (radians) -> R [3, 3] in the original's convention (R = Rx Ry Rz', Rz' = Rz(-e2)); the
    face tracker's implementation, so that track_params.pt means the same pose in tracking and step 7."""
    import torch
    from data_util.face_tracking.geometry import euler_to_rotation as rotation
    return rotation(torch.as_tensor(np.asarray(euler, dtype=np.float64).reshape(3))).numpy()


def head_pose_to_c2w(euler, trans_scaled) -> np.ndarray:
    """Camera-to-world [4, 4] for a head pose X_cam = R X + t (t already divided by 10): [R^T | -R^T t]."""
    R = euler_to_rotation(euler)
    c2w = np.eye(4)
    c2w[:3, :3] = R.T
    c2w[:3, 3] = -R.T @ np.asarray(trans_scaled, dtype=np.float64)
    return c2w


SIGNAL_KEYS = ("eye", "mouth")   # per-frame landmark signals, in this order after the original's keys


def write_transforms(path: Path, focal: float, width: int, height: int, frames: list[dict]) -> None:
    """frames: [{img_id, aud_id, transform_matrix (4x4), face_rect [x, y, w, h], optional eye, mouth}].

    ``eye`` and ``mouth`` (this project's additions, adnerf.eyes, adnerf.mouth) are written only when a frame
    has them, after the original's keys: the original's readers ignore them, and frames without them give
    the original's file byte for byte."""
    meta = {"focal_len": float(focal), "cx": float(width / 2), "cy": float(height / 2), "frames": [
        {"img_id": int(f["img_id"]), "aud_id": int(f["aud_id"]),
         "transform_matrix": np.asarray(f["transform_matrix"], dtype=float).tolist(),
         "face_rect": [int(v) for v in f["face_rect"]],
         **{k: float(f[k]) for k in SIGNAL_KEYS if k in f}}
        for f in frames]}
    path.write_text(json.dumps(meta, indent=2))  # indent 2: byte-identical to the original's files


def write_config(path: Path, options: dict) -> None:
    """A configargparse file, ``key = value`` per line (booleans as True / False)."""
    path.write_text("".join(f"{k} = {v}\n" for k, v in options.items()))


def nerf_configs(dataset_dir: Path, subject: str, near: float, far: float, testskip: int,
                 extra: dict | None = None) -> dict[str, dict]:
    """The options of HeadNeRF_config.txt, TorsoNeRF_config.txt and TorsoNeRFTest_config.txt."""
    common = {"datadir": str(dataset_dir), "basedir": str(dataset_dir / "logs"), "near": f"{near:.6f}",
              "far": f"{far:.6f}", "testskip": testskip, "dataset_type": "audface"}
    common.update(extra or {})
    return {"HeadNeRF_config.txt": {"expname": f"{subject}_head", **common},
            "TorsoNeRF_config.txt": {"expname": f"{subject}_com", **common},
            "TorsoNeRFTest_config.txt": {"expname": f"{subject}_com", **common, "with_test": True,
                                         "test_pose_file": "transforms_val.json"}}
