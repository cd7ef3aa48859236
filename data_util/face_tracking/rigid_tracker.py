"""Rigid head-pose tracking from 68 landmarks with a generic face (no BFM): the --tracker rigid / --offline path.

Stages (mirroring the BFM tracker's, without identity / expression):
1. focal search: for each focal of the grid (600..1400, step 100, scaled by the frame size / 450 and widened
   until the best lies inside: focal_search.py) fit the poses of every 40th frame and keep
   the focal with the smallest weighted landmark error;
2. per-frame pose: OpenCV's SQPnP on the nearly rigid points (brows, nose, eyes) for a global start, then
   batched Gauss-Newton on all 68 points with per-point weights (template.rigid_weights);
3. with ``fit_shape``, the person's shape (subject_shape.py): the symmetric 3D landmarks and the
   poses that explain the whole sequence best, solved jointly from the generic face's poses;
4. temporal smoothing: one joint Levenberg-Marquardt solve over all frames of
   sum_t ||W (proj(pose_t) - lms_t)||^2 + smooth * sum(W) * sum_t ||S (pose_{t-1} - 2 pose_t + pose_{t+1})||^2,
   S converting each pose parameter to pixels of landmark motion, so ``smooth`` is unit-free: a cut-off of
   about smooth^(-1/4) rad/frame (the default 0.5 damps periods shorter than ~5 frames).
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
import torch

from .focal_search import widening_search
from .geometry import forward_transform, torch_threads
from .subject_shape import fit_subject_shape
from .template import generic_face_68, rigid_weights

FOCAL_GRID = tuple(range(600, 1401, 100))   # the original's grid at 450 px; scaled in focal_search.py
RIGID_POINTS = np.arange(17, 48)   # brows, nose, eyes: the PnP start
FACE_RADIUS = 0.8                  # dm, lever arm converting a rotation to landmark motion


def pnp_poses(lms: np.ndarray, template: np.ndarray, focal: float, cxy) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame pose start by SQPnP. lms [B, 68, 2] px; template [68, 3] -> euler [B, 3], trans [B, 3].

    OpenCV's camera looks down +Z with y down; ours looks down -Z with y up: X_cv = F X_cam, F = diag(1,-1,-1).
    """
    import cv2
    from .geometry import rotation_to_euler
    K = np.array([[focal, 0, cxy[0]], [0, focal, cxy[1]], [0, 0, 1]], dtype=np.float64)
    F = np.diag([1.0, -1.0, -1.0])
    eulers, transes = [], []
    obj = np.ascontiguousarray(template[RIGID_POINTS], dtype=np.float64)
    for frame in lms:
        img = np.ascontiguousarray(frame[RIGID_POINTS], dtype=np.float64)
        ok, rvec, tvec = cv2.solvePnP(obj, img, K, None, flags=cv2.SOLVEPNP_SQPNP)
        if not ok or tvec[2, 0] <= 0:       # fall back to a frontal face at the landmarks' scale
            rvec = np.zeros((3, 1))
            spread = np.ptp(frame, axis=0).max() / max(np.ptp(template[:, :2], axis=0).max(), 1e-6)
            z = focal / max(spread, 1e-6)
            centre = frame.mean(0) - np.asarray(cxy)
            tvec = np.array([[centre[0] * z / focal], [centre[1] * z / focal], [z]])
        R = F @ cv2.Rodrigues(rvec)[0]
        eulers.append(rotation_to_euler(torch.from_numpy(R)).numpy())
        transes.append(F @ tvec[:, 0])
    return np.array(eulers), np.array(transes)


def residuals_and_jacobian(pose: torch.Tensor, lms: torch.Tensor, template: torch.Tensor, sqrt_w: torch.Tensor,
                           focal: float, cxy) -> tuple[torch.Tensor, torch.Tensor]:
    """Weighted reprojection residuals r [B, 136] and their Jacobian J [B, 136, 6] w.r.t. pose [B, 6] (euler | trans).

    The Jacobian is by central differences in float64 (step 1e-6: errors ~1e-9 px), all 12 perturbed poses of
    all frames in one batched projection -- much faster than autograd for 6 parameters.
    """
    B = pose.shape[0]
    step = 1e-6
    offsets = torch.cat((torch.zeros(1, 6, dtype=pose.dtype), step * torch.eye(6, dtype=pose.dtype),
                         -step * torch.eye(6, dtype=pose.dtype)))                       # [13, 6]
    poses = (pose[:, None, :] + offsets[None]).reshape(-1, 6)                           # [B*13, 6]
    proj = forward_transform(template, poses[:, :3], poses[:, 3:], focal, cxy).reshape(B, 13, -1, 2)
    res = ((proj - lms[:, None]) * sqrt_w[:, None]).reshape(B, 13, -1)                  # [B, 13, 136]
    J = (res[:, 1:7] - res[:, 7:13]).transpose(1, 2) / (2 * step)
    return res[:, 0], J


def gauss_newton(pose: np.ndarray, lms: np.ndarray, template: np.ndarray, weights: np.ndarray, focal: float,
                 cxy, iters: int = 6, smooth: float = 0.0, times: np.ndarray | None = None) -> np.ndarray:
    """Levenberg-Marquardt refinement of poses [B, 6] on landmarks [B, 68, 2]; with ``smooth`` > 0 the frames
    are solved jointly with the temporal second-difference penalty. times [B]: increasing frame numbers
    (default 0..B-1); frames missing in between are solved too (smoothness only), so a gap does not bend
    its neighbours. Returns [B, 6]."""
    if smooth > 0 and len(pose) >= 3:
        times = np.arange(len(pose)) if times is None else np.asarray(times) - times[0]
        if times[-1] + 1 > len(pose):          # fill the gaps, solve on the whole timeline, keep the tracked frames
            full = np.stack([np.interp(np.arange(times[-1] + 1), times, pose[:, j]) for j in range(6)], 1)
            has_data = np.zeros(len(full), dtype=bool)
            has_data[times] = True
            full_lms = np.zeros((len(full), 68, 2))
            full_lms[times] = lms
            return _gauss_newton(full, full_lms, template, weights, focal, cxy, iters, smooth, has_data)[times]
    return _gauss_newton(pose, lms, template, weights, focal, cxy, iters, smooth, None)


def _gauss_newton(pose, lms, template, weights, focal, cxy, iters, smooth, has_data) -> np.ndarray:
    B = pose.shape[0]
    p = torch.as_tensor(pose, dtype=torch.float64).clone()
    target = torch.as_tensor(lms, dtype=torch.float64)
    tmpl = torch.as_tensor(template, dtype=torch.float64)
    sqrt_w = torch.as_tensor(np.sqrt(weights), dtype=torch.float64)
    smoothness = None
    if smooth > 0 and B >= 3:
        depth = float(np.median(np.abs(pose[:, 5])))
        scale = np.array([focal * FACE_RADIUS / depth] * 3 + [focal / depth] * 2 + [focal * FACE_RADIUS / depth ** 2])
        D = sp.diags([1.0, -2.0, 1.0], [0, 1, 2], shape=(B - 2, B))
        smoothness = smooth * weights.sum() * sp.kron((D.T @ D).tocsc(), sp.diags(scale ** 2)).tocsc()
    damping = 1e-3
    for _ in range(iters):
        r, J = residuals_and_jacobian(p, target, tmpl, sqrt_w, focal, cxy)
        JtJ = (J.transpose(1, 2) @ J).numpy()
        Jtr = (J.transpose(1, 2) @ r[..., None])[..., 0].numpy()
        if has_data is not None:               # frames without landmarks: no data term
            JtJ[~has_data], Jtr[~has_data] = 0.0, 0.0
        if smoothness is None:
            A = JtJ + damping * (np.diagonal(JtJ, axis1=1, axis2=2)[..., None] * np.eye(6) + 1e-9 * np.eye(6))
            step = np.linalg.solve(A, -Jtr[..., None])[..., 0]
        else:
            A = sp.block_diag(list(JtJ), format="csc") + smoothness
            A = A + sp.diags(damping * A.diagonal() + 1e-9)
            g = Jtr.reshape(-1) + smoothness @ p.numpy().reshape(-1)
            step = spla.spsolve(A.tocsc(), -g).reshape(B, 6)
        p = p + torch.from_numpy(step)
        if np.abs(step).max() < 1e-7:
            break
    return p.numpy()


def reprojection_errors(pose: np.ndarray, lms: np.ndarray, template: np.ndarray, focal: float, cxy) -> np.ndarray:
    """Per-landmark pixel distances [B, 68] between the projected template and the landmarks."""
    p = torch.as_tensor(pose, dtype=torch.float64)
    proj = forward_transform(torch.as_tensor(template, dtype=torch.float64)[None], p[:, :3], p[:, 3:], focal, cxy)
    return np.linalg.norm(proj.numpy() - lms, axis=-1)


def fit_poses(lms: np.ndarray, focal: float, cxy, template: np.ndarray | None = None,
              smooth: float = 0.0, iters: int = 6, times: np.ndarray | None = None) -> np.ndarray:
    """Poses [B, 6] (euler rad | trans dm) of landmarks [B, 68, 2] at a given focal (PnP start + LM)."""
    template = generic_face_68() if template is None else template
    euler, trans = pnp_poses(lms, template, focal, cxy)
    pose = np.concatenate((euler, trans), 1)
    pose = gauss_newton(pose, lms, template, rigid_weights(), focal, cxy, iters=iters)
    if smooth > 0:
        pose = gauss_newton(pose, lms, template, rigid_weights(), focal, cxy, iters=iters, smooth=smooth,
                            times=times)
    return pose


def search_focal(lms: np.ndarray, cxy, grid=FOCAL_GRID, every: int = 40, template: np.ndarray | None = None,
                 progress: bool = False) -> tuple[float, dict]:
    """The focal of ``grid`` with the smallest weighted landmark error on every ``every``-th frame.

    lms [B, 68, 2]. Returns (focal, {focal: weighted RMS error px}).
    """
    template = generic_face_68() if template is None else template
    subset = lms[::every] if len(lms) >= 3 * every else lms[np.linspace(0, len(lms) - 1, min(len(lms), 3)).astype(int)]
    w = rigid_weights()
    errors = {}
    items = grid
    if progress:
        from tqdm import tqdm
        items = tqdm(grid, desc="track: focal search", unit="focal", leave=False)
    for focal in items:
        pose = fit_poses(subset, float(focal), cxy, template)
        err = reprojection_errors(pose, subset, template, float(focal), cxy)
        errors[float(focal)] = float(np.sqrt((err ** 2 * w).sum(1).mean() / w.sum()))
    best = min(errors, key=errors.get)
    return best, errors


def track_rigid(lms: np.ndarray, image_size: tuple[int, int], *, focal: float | None = None, smooth: float = 0.5,
                focal_every: int = 40, times: np.ndarray | None = None, progress: bool = False,
                threads: int | None = 1, fit_shape: bool = False) -> dict:
    """Rigid tracking of a landmark sequence.

    lms [B, 68, 2] px; image_size (w, h); times [B] increasing frame numbers (default 0..B-1).
    threads: torch CPU threads while tracking (geometry.torch_threads; None keeps torch's setting).
    fit_shape: also fit the person's own landmark shape with the poses (default False: the generic face).
    Returns {euler [B, 3], trans [B, 3], focal, focal_errors, errors [B, 68] px, shape [68, 3] dm,
    generic_errors [B, 68] px (the generic face's, before the shape stage)} as numpy / floats.
    """
    with torch_threads(threads):
        return _track_rigid(lms, image_size, focal, smooth, focal_every, times, progress, fit_shape)


def _track_rigid(lms, image_size, focal, smooth, focal_every, times, progress, fit_shape) -> dict:
    w, h = image_size
    cxy = (w / 2.0, h / 2.0)
    template = generic_face_68()
    focal_errors, focal_search = {}, None
    if focal is None:  # the original's grid scaled to the frame, widened until the best is inside
        focal, focal_errors, focal_search = widening_search(
            lambda grid: search_focal(lms, cxy, grid, every=focal_every, template=template, progress=progress)[1],
            image_size)
    pose = fit_poses(lms, focal, cxy, template)
    generic_errors = reprojection_errors(pose, lms, template, focal, cxy)
    shape = template
    if fit_shape:
        shape, pose = fit_subject_shape(lms, pose, template, rigid_weights(), focal, cxy)
    if smooth > 0:
        pose = gauss_newton(pose, lms, shape, rigid_weights(), focal, cxy, smooth=smooth, times=times)
    errors = reprojection_errors(pose, lms, shape, focal, cxy)
    return {"euler": pose[:, :3], "trans": pose[:, 3:], "focal": float(focal), "focal_errors": focal_errors,
            "focal_search": focal_search, "errors": errors, "shape": shape, "generic_errors": generic_errors}
