"""How well does a tracked pose fit a trained field? Rigid corrections of a head pose, fitted photometrically.

    axis_angle_matrix(w [..., 3]) -> [..., 3, 3]
    corrected_pose(c2w [..., 4, 4], correction [..., 6]) -> [..., 3, 4]      [R(w) | t] @ c2w
    fit_pose(render_rays, pose, target, camera, rect) -> correction [6]
    fit_sequence_poses(head, camera, settings, poses, codes, frames, image_dir, iters) -> poses, corrections
    pose_file_inputs(model, path, feats) -> frames, tracked poses [N, 4, 4], head conditions [N, C]
    correction_size(correction [6], pose [4, 4], focal) -> (degrees, pixels)

A correction acts in the head's (world) frame: a rotation about the head's centre and a shift, so that a
rotation of the head and a shift of it do not trade off as they would about the camera's centre. Fitting
it with the field frozen tells how much of a frame's error is its pose (benchmarks/bench_pose_fit.py,
docs/nerf.md "Pose or field?"); SyncTalk's head-pose stabiliser and BARF's pose optimisation fit poses
the same way.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .dataset import frame_eyes, frame_mouth, load_transforms
from .rays import rays_at, sample_pixels
from .utils import read_image_float


def axis_angle_matrix(w: torch.Tensor) -> torch.Tensor:
    """Rotation matrices [..., 3, 3] of axis-angle vectors w [..., 3] (Rodrigues; exact at w = 0)."""
    theta2 = (w * w).sum(-1, keepdim=True)[..., None]           # [..., 1, 1]
    zero = torch.zeros_like(w[..., 0])
    K = torch.stack((zero, -w[..., 2], w[..., 1],
                     w[..., 2], zero, -w[..., 0],
                     -w[..., 1], w[..., 0], zero), dim=-1).reshape(*w.shape[:-1], 3, 3)
    small = theta2 < 1e-8
    theta = theta2.clamp_min(1e-8).sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / theta2.clamp_min(1e-8))
    eye = torch.eye(3, dtype=w.dtype, device=w.device).expand(K.shape)
    return eye + a * K + b * (K @ K)


def corrected_pose(c2w: torch.Tensor, correction: torch.Tensor) -> torch.Tensor:
    """``[R(w) | t] @ c2w``. c2w: [..., 3 or 4, 4]; correction: [..., 6] (w, t). Returns [..., 3, 4]."""
    R = axis_angle_matrix(correction[..., :3])
    rot = R @ c2w[..., :3, :3]
    trans = (R @ c2w[..., :3, 3:4])[..., 0] + correction[..., 3:]
    return torch.cat((rot, trans[..., None]), dim=-1)


def fit_pose(render_rays, pose: torch.Tensor, target: torch.Tensor, camera, rect, iters: int = 30,
             lr: float = 2e-3, n_rays: int = 1024, seed: int = 0) -> torch.Tensor:
    """The correction [6] that best aligns a frozen field with one image: ``iters`` Adam steps on the colour
    error of ``n_rays`` pixels per step (95 % inside the face rect [x, y, w, h]), the learning rate falling
    linearly to a tenth so that weakly determined directions (the depth) stop drifting.

    render_rays(rays_o, rays_d [R, 3], bc_rgb [R, 3]) -> rgb [R, 3], the field with its frame condition;
    pose: [4, 4] tracked c2w; target: [H, W, 3] image; camera: anything with H, W, focal, cx, cy, bc_img.
    """
    rng = np.random.default_rng(seed)
    corr = torch.zeros(6, dtype=pose.dtype, device=pose.device, requires_grad=True)
    opt = torch.optim.Adam([corr], lr=lr)
    schedule = torch.optim.lr_scheduler.LinearLR(opt, 1.0, 0.1, total_iters=max(iters - 1, 1))
    for _ in range(iters):
        coords = torch.from_numpy(sample_pixels(n_rays, camera.H, camera.W, rng, rect, 0.95)).to(pose.device)
        rays_o, rays_d = rays_at(coords, camera.focal, corrected_pose(pose, corr), camera.cx, camera.cy)
        rgb = render_rays(rays_o, rays_d, camera.bc_img[coords[:, 0], coords[:, 1]])
        loss = ((rgb - target[coords[:, 0], coords[:, 1]]) ** 2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        schedule.step()
    return corr.detach()


def fit_sequence_poses(head, camera, settings, poses: torch.Tensor, codes: torch.Tensor, frames: list[dict],
                       image_dir: Path, iters: int, n_rays: int = 1024) -> tuple[torch.Tensor, list[list[float] | None]]:
    """Each pose fitted to its frame's image with the head field frozen: a photometric tracking stage with
    the trained head as the face model (the original's tracker fitted a 3DMM to every frame's pixels; the
    offline tracker fits landmarks only).

    head: a head model (render_rays); settings: its training render settings; poses [N, 4, 4] and codes
    [N, C] of the output frames; frames: their pose file's entries (img_id, face_rect); image_dir: the
    frames' images (head_imgs); iters, n_rays: each fit's steps and rays per step. A pose whose image is missing stays as tracked (its correction None); a
    pose used again (driving cycles the poses) reuses its first fit. Returns the poses [N, 4, 4] and the
    corrections (6 numbers each: axis-angle, translation)."""
    fitted, corrections, done = poses.clone(), [], {}
    for i in tqdm(range(len(poses)), desc="fitting poses", leave=False, dynamic_ncols=True):
        frame = frames[i % len(frames)]
        if i % len(frames) not in done:
            corr, path = None, image_dir / f"{frame['img_id']}.jpg"
            if path.is_file():
                target = torch.from_numpy(read_image_float(path)).to(poses)
                cond = codes[i]
                corr = fit_pose(lambda o, d, bc: head.render_rays(o, d, camera.near, camera.far, bc, cond,
                                                                  settings)["rgb_map"],
                                poses[i], target, camera, frame.get("face_rect"), iters=iters, n_rays=n_rays)
            done[i % len(frames)] = corr
        corr = done[i % len(frames)]
        if corr is not None:
            fitted[i, :3] = corrected_pose(poses[i], corr)
        corrections.append(None if corr is None else [round(float(v), 6) for v in corr])
    missing = sorted({str(frames[k]["img_id"]) for k, c in done.items() if c is None})
    if missing:  # asked for a fit, got tracked poses: say which frames and why
        tqdm.write(f"note: {len(missing)} of {len(done)} pose frames have no image in {image_dir} (first: "
                   f"{missing[0]}.jpg): rendered at their tracked poses")
    return fitted, corrections


def pose_file_inputs(model, path: Path, feats: torch.Tensor) -> tuple[list[dict], torch.Tensor, torch.Tensor]:
    """What fitting a pose file's frames needs: its frames, their tracked poses [N, 4, 4] on the model's
    device and the head's conditions [N, C] from each frame's own audio (feats [M, 16, C'], indexed by
    aud_id), eyes and mouth. model: a head renderer (serving.HeadRenderer: codes, device)."""
    frames = load_transforms(path)["frames"]
    aud_ids = torch.as_tensor([int(f.get("aud_id", f["img_id"])) for f in frames])
    codes = model.codes(feats[aud_ids], frame_eyes(frames, path), frame_mouth(frames, path))
    poses = torch.tensor(np.array([f["transform_matrix"] for f in frames]), dtype=torch.float32, device=model.device)
    return frames, poses, codes


def correction_size(correction: torch.Tensor, pose: torch.Tensor, focal: float) -> tuple[float, float]:
    """(rotation in degrees, image-plane shift of the head's centre in pixels) of a correction [6] applied
    to a pose [4, 4] seen with the focal length ``focal`` (pixels)."""
    depth = float(pose[:3, 3].norm())
    return float(np.degrees(correction[:3].norm())), float(correction[3:5].norm()) * focal / depth
