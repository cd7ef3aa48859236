"""``--refine_poses N`` (Head-NeRF training): halfway through, every training pose refitted to its own image.

The offline tracker's poses are off by about a degree and a pixel or two per frame (docs/nerf.md "Pose or
field?"), so every training image tells the field a slightly different story and the field averages them
into a blur. Halfway through the head's training, with the field frozen for the moment, each training
frame's pose gets the rigid correction that best fits its image (pose_fit.fit_sequence_poses: N Adam steps
of --N_rand rays each); transforms_train.json is rewritten with the corrected poses and the training goes on
with them. The torso, driving and the portrait then read them as they read any tracked pose: the file keeps
its meaning (a c2w per frame). BARF and SyncTalk refine poses with the field; this is one round of it.

    refinement_record(path) -> dict | None
    refine_pose_file(model, settings, root, iters, n_rays, aud_file) -> record     (writes the files)
    poses_by_img_id(path, img_ids) -> poses [N, 4, 4]

The tracked poses are kept in transforms_train_tracked.json; transforms_train.json records the round under
``pose_refinement`` (the original's loader reads only the keys it knows). One round per dataset: a resumed
or repeated training finds the record and trains on the refined poses as they are. The validation frames
are held out and keep their tracked poses (``--fit_poses`` fits them at render time).
"""
from __future__ import annotations

import contextlib
import json
from pathlib import Path

import numpy as np
import torch

from adnerf.files import save_json, save_text

from .dataset import check_poses, load_audio_features, load_transforms
from .pose_fit import correction_size, fit_sequence_poses, pose_file_inputs
from .utils import UserError

TRACKED_POSES = "transforms_train_tracked.json"
RECORD_KEY = "pose_refinement"


def refinement_record(path: Path) -> dict | None:
    """The ``pose_refinement`` record of a transforms file (None: its poses are the tracker's)."""
    record = load_transforms(path).get(RECORD_KEY)
    return record if isinstance(record, dict) else None


@contextlib.contextmanager
def frozen(modules):
    """The modules' parameters without gradients for the block (a pose fit must not touch the field),
    as they were afterwards."""
    params = [p for m in modules for p in m.parameters()]
    before = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, before):
            p.requires_grad_(flag)


def refine_pose_file(model, settings, root: Path, iters: int, n_rays: int, aud_file: str = "aud.npy") -> dict:
    """Fit every pose of root/transforms_train.json to its head_imgs image with ``model`` (a head renderer:
    head, camera, codes, device, step; its field must be frozen by the caller), ``iters`` steps of ``n_rays``
    rays each, and rewrite the file atomically once every pose came out finite. Returns the record."""
    path = root / "transforms_train.json"
    aud_path = Path(aud_file) if Path(aud_file).is_absolute() else root / aud_file
    feats = load_audio_features(aud_path).to(model.device)
    frames, poses, codes = pose_file_inputs(model, path, feats)
    fitted, corrections = fit_sequence_poses(model.head, model.camera, settings, poses, codes, frames,
                                             root / "head_imgs", iters, n_rays=n_rays)
    if not torch.isfinite(fitted).all():
        raise UserError(f"refining the poses gave NaN / inf (the head at step {model.step}): {path} is left "
                        f"as it was; train without --refine_poses")
    sizes = np.array([correction_size(torch.tensor(c), p.cpu(), model.camera.focal)
                      for c, p in zip(corrections, poses) if c is not None]).reshape(-1, 2)
    if not len(sizes):
        raise UserError(f"no training frame has its image in {root / 'head_imgs'}: nothing to refine")
    raw = json.loads(path.read_text())
    if not (root / TRACKED_POSES).is_file():   # a later round must not overwrite the tracker's poses
        save_text(root / TRACKED_POSES, path.read_text())
    for frame, pose in zip(raw["frames"], fitted.double().cpu().numpy()):
        frame["transform_matrix"] = pose.tolist()
    record = {"head_step": model.step, "steps": iters, "rays": n_rays, "frames_fitted": len(sizes),
              "frames": len(frames), "mean_correction_deg": round(float(sizes[:, 0].mean()), 4),
              "mean_correction_px": round(float(sizes[:, 1].mean()), 4), "tracked_poses": TRACKED_POSES}
    raw[RECORD_KEY] = record
    save_json(path, raw)
    return record


def poses_by_img_id(path: Path, img_ids) -> torch.Tensor:
    """The poses [N, 4, 4] (float32) a transforms file gives the frames ``img_ids`` [N], checked."""
    by_id = {int(f["img_id"]): f["transform_matrix"] for f in load_transforms(path)["frames"]}
    missing = [int(i) for i in img_ids if int(i) not in by_id]
    if missing:
        raise UserError(f"{path} no longer lists frame {missing[0]}: rewrite it with preprocessing step 7")
    poses = check_poses(np.array([by_id[int(i)] for i in img_ids], dtype=np.float64), path, img_ids)
    return torch.from_numpy(poses.astype(np.float32))
