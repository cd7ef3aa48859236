"""The BFM tracker: the original's four stages, with its loss weights and schedules (iteration counts are options).

A focal search: for each focal of 600..1400 (step 100; scaled by the frame size / 450 and widened until the
  best is inside, focal_search.py), on every 40th frame: pose only (Adam lr 0.1),
  then identity + expression + pose, loss lan + 0.5 mean(id^2) + 0.4 mean(exp^2), lr x0.2 at 60 %;
  the focal with the smallest landmark loss is kept.
B all frames at that focal: pose only, then all, same loss (lr x0.2 at half).
C photometric, on up to 50 frames spread over the video: albedo + per-frame SH light (lr 0.1) with
  pose / expression / identity (lr 0.01); loss col + 3 lan + 2 reg_id + reg_exp, from iteration 50 on
  col + 0.05 lan + reg_id + 0.8 reg_exp (+ a small albedo prior). By default (photo_warmup 1.0) only
  albedo and light are fitted here: measured, the joint fit made landmarks and rotations worse.
D all frames in batches of 50 consecutive frames: expression, pose, light (lr 0.005), identity and albedo
  fixed; loss 0.5 col + 8 lan + 1e5 lap + reg_exp, lan weight 1.5 from iteration 30; lap = mean squared
  temporal second difference of the rigid vertices in camera space.
lan = mean squared landmark distance in px^2; col = mean over covered pixels of the RGB distance / 255.
Where this differs from the original (start poses from PnP instead of zero with lr 1.0, renderer) is
listed in docs/face_tracking.md.
"""
from __future__ import annotations

import numpy as np
import torch

from .face_model import Face3DMM
from .geometry import second_difference, to_camera, torch_threads
from .renderer import render, sh_shading, vertex_normals
from .focal_search import widening_search
from .rigid_tracker import pnp_poses

DEFAULT_ITERATIONS = {"focal_pose": 2000, "focal_all": 2500, "pose": 1500, "all": 2000, "photo": 71, "refine": 50}
PHOTO_FRAMES = 50
BATCH = 50


def lan_loss(proj: torch.Tensor, lms: torch.Tensor) -> torch.Tensor:
    return ((proj - lms) ** 2).mean()


def col_loss(image: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """image / target [B, H, W, 3] 0-255, mask [B, H, W] -> mean over covered pixels of |RGB difference| / 255."""
    dist = torch.sqrt(((image - target) ** 2).sum(-1) + 1e-8) * mask / 255.0
    return (dist.sum((1, 2)) / mask.sum((1, 2)).clamp(min=1)).mean()


def _adam_fit(params: list[dict], loss_fn, iters: int, decay_at: float | None, decay: float = 0.2,
              desc: str | None = None) -> float:
    """Run Adam on parameter groups [{'params': [...], 'lr': x}], lr x decay at iteration decay_at * iters;
    a tqdm bar named desc when desc is given."""
    if iters <= 0:
        with torch.no_grad():
            return float(loss_fn(0))
    opt = torch.optim.Adam(params)
    steps = range(iters)
    if desc:
        from tqdm import tqdm
        steps = tqdm(steps, desc=desc, unit="it", leave=False)
    for it in steps:
        if decay_at is not None and it == int(decay_at * iters):
            for group in opt.param_groups:
                group["lr"] *= decay
        loss = loss_fn(it)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        return float(loss_fn(iters))


def start_poses(model: Face3DMM, lms: np.ndarray, focal: float, cxy) -> tuple[torch.Tensor, torch.Tensor]:
    """PnP poses of the mean face's (frontal) landmarks: euler [B, 3], trans [B, 3] on the model's device."""
    zeros = torch.zeros(1, model.exp_dim, device=model.device)
    with torch.no_grad():
        front = model.landmarks_3d(torch.zeros(1, model.id_dim, device=model.device), zeros,
                                   torch.zeros(1, 3, device=model.device),
                                   torch.tensor([[0.0, 0.0, -7.0]], device=model.device), focal, cxy)[0]
    euler, trans = pnp_poses(lms, front.double().cpu().numpy(), focal, cxy)
    as_t = lambda a: torch.tensor(a, dtype=torch.float32, device=model.device)  # noqa: E731
    return as_t(euler), as_t(trans)


def fit_landmarks(model: Face3DMM, lms: torch.Tensor, focals: list[float], cxy, pose_iters: int, all_iters: int,
                  decay_at: float, id_init: torch.Tensor | None = None, desc: str | None = None) -> list[dict]:
    """Stages A / B: poses, then identity + expression + poses, on landmarks lms [S, 68, 2], for each focal.

    All focals are fitted at once as one batch of G * S rows (one identity per focal). Adam is element-wise
    and the objective is a sum of the per-focal objectives, so this equals G separate fits, G times faster.
    Returns per focal {id [1, 100], exp [S, 79], euler [S, 3], trans [S, 3], loss (whole objective), lan (px^2)}.
    """
    dev, G, S = model.device, len(focals), lms.shape[0]
    starts = [start_poses(model, lms.cpu().numpy().astype(np.float64), f, cxy) for f in focals]
    euler = torch.cat([e for e, _ in starts]).requires_grad_(True)                     # [G*S, 3]
    trans = torch.cat([t for _, t in starts]).requires_grad_(True)
    focal = torch.tensor(focals, dtype=torch.float32, device=dev).repeat_interleave(S)[:, None]   # [G*S, 1]
    group = torch.arange(G, device=dev).repeat_interleave(S)
    id_c = id_init.repeat(G, 1) if id_init is not None else torch.zeros(G, model.id_dim, device=dev)
    id_c.requires_grad_(True)
    exp = torch.zeros(G * S, model.exp_dim, device=dev, requires_grad=True)
    target = lms.repeat(G, 1, 1)

    def lan_per_focal():
        proj = model.project_landmarks(id_c[group], exp, euler, trans, focal, cxy)
        return ((proj - target) ** 2).mean((1, 2)).reshape(G, S).mean(1)                # [G]

    def objective_per_focal():
        return lan_per_focal() + 0.5 * (id_c ** 2).mean(1) + 0.4 * (exp ** 2).mean(1).reshape(G, S).mean(1)

    _adam_fit([{"params": [euler, trans], "lr": 0.1}], lambda it: lan_per_focal().sum(), pose_iters, 2 / 3,
              decay=0.1, desc=desc and f"{desc} pose")
    _adam_fit([{"params": [id_c, exp, euler, trans], "lr": 0.1}], lambda it: objective_per_focal().sum(),
              all_iters, decay_at, desc=desc and f"{desc} id+exp+pose")
    with torch.no_grad():
        lan, loss = lan_per_focal().tolist(), objective_per_focal().tolist()
    rows = lambda x, g: x[g * S:(g + 1) * S].detach()  # noqa: E731
    return [{"id": id_c[g:g + 1].detach(), "exp": rows(exp, g), "euler": rows(euler, g), "trans": rows(trans, g),
             "loss": loss[g], "lan": lan[g]} for g in range(G)]


def shaded_render(model: Face3DMM, id_c, exp, tex, light, euler, trans, focal, size):
    """Image [B, H, W, 3] (0-255) and coverage mask [B, H, W] of the textured, SH-lit face."""
    verts = model.geometry(id_c, exp)
    colors = model.albedo(tex).expand(verts.shape[0], -1, -1) * sh_shading(vertex_normals(verts, model.tris), light)
    return render(verts, colors, model.tris, euler, trans, focal, size[1], size[0])


def load_images(items, device) -> torch.Tensor:
    """Image files (or uint8 RGB arrays [H, W, 3]) -> float [B, H, W, 3] 0-255."""
    from ..common import load_image
    arrays = [item if isinstance(item, np.ndarray) else load_image(item) for item in items]
    return torch.from_numpy(np.stack(arrays)).float().to(device)


def photometric_fit(model, state, sel, lms, images, focal, cxy, size, iters, warmup: float = 1.0,
                    desc: str | None = None) -> dict:
    """Stage C on frames sel: fits albedo, per-frame light and (slowly) id / exp / pose of those frames."""
    dev = model.device
    target = load_images(images(sel), dev)
    tex = torch.zeros(1, model.tex_dim, device=dev, requires_grad=True)
    light = torch.zeros(len(sel), 27, device=dev, requires_grad=True)
    id_c = state["id"].clone().requires_grad_(True)
    exp, euler, trans = (state[k][sel].clone().requires_grad_(True) for k in ("exp", "euler", "trans"))
    target_lms = lms[sel]

    def loss_fn(it):
        image, mask = shaded_render(model, id_c, exp, tex, light, euler, trans, focal, size)
        col = col_loss(image, target, mask.detach())
        lan = lan_loss(model.project_landmarks(id_c, exp, euler, trans, focal, cxy), target_lms)
        reg_id, reg_exp, reg_tex = (id_c ** 2).mean(), (exp ** 2).mean(), (tex ** 2).mean()
        if it < 50:
            return col + 3 * lan + 2 * reg_id + reg_exp + 0.1 * reg_tex
        return col + 0.05 * lan + reg_id + 0.8 * reg_exp + 0.1 * reg_tex

    # warm-up: albedo and light alone for the first ``warmup`` fraction of the iterations (default: all of
    # them, leaving the geometry to stage D). Measured (12 synthetic frames, 1 px landmark noise, default
    # iterations, C + D): landmarks 0.476 px off the truth after B -> 0.503 with the original's joint fit
    # (warmup 0), 0.581 with warmup 0.7, 0.479 with warmup 1; mean rotation error 1.28 -> 1.09 / 1.38 / 1.03 deg.
    warm = int(round(warmup * iters))
    _adam_fit([{"params": [tex, light], "lr": 0.1}], loss_fn, warm, None, desc=desc and f"{desc} albedo+light")
    _adam_fit([{"params": [tex, light], "lr": 0.1}, {"params": [id_c, exp, euler, trans], "lr": 0.01}],
              lambda it: loss_fn(it + warm), iters - warm, None, desc=desc and f"{desc} all")
    state = dict(state)
    state["id"] = id_c.detach()
    for key, value in (("exp", exp), ("euler", euler), ("trans", trans)):
        state[key] = state[key].clone()
        state[key][sel] = value.detach()
    state["tex"], state["light"] = tex.detach(), light.detach().mean(0, keepdim=True)
    return state


def refine_batches(model, state, lms, images, focal, cxy, size, iters, progress) -> dict:
    """Stage D: consecutive batches of BATCH frames, expression / pose / light with the temporal smoothness term."""
    N = lms.shape[0]
    batches = range(0, N, BATCH)
    if progress:
        from tqdm import tqdm
        batches = tqdm(batches, desc="track: D refine", unit="batch", leave=False)
    state = {k: (v.clone() if torch.is_tensor(v) else v) for k, v in state.items()}
    for start in batches:
        sel = torch.arange(start, min(start + BATCH, N), device=model.device)
        target = load_images(images(sel.tolist()), model.device)
        exp, euler, trans = (state[k][sel].clone().requires_grad_(True) for k in ("exp", "euler", "trans"))
        light = state["light"].expand(len(sel), -1).clone().requires_grad_(True)

        def loss_fn(it):
            image, mask = shaded_render(model, state["id"], exp, state["tex"], light, euler, trans, focal, size)
            rigid = to_camera(model.geometry(state["id"], exp, model.rigid_ids), euler, trans)
            lap = (second_difference(rigid) ** 2).mean() if len(sel) >= 3 else rigid.sum() * 0
            lan = lan_loss(model.project_landmarks(state["id"], exp, euler, trans, focal, cxy), lms[sel])
            return 0.5 * col_loss(image, target, mask.detach()) + (8 if it < 30 else 1.5) * lan + 1e5 * lap \
                + (exp ** 2).mean()

        _adam_fit([{"params": [exp, euler, trans, light], "lr": 0.005}], loss_fn, iters, None)
        for key, value in (("exp", exp), ("euler", euler), ("trans", trans)):
            state[key][sel] = value.detach()
    return state


def track_bfm(lms: np.ndarray, image_size, model_dir, images=None, *, focal: float | None = None, device="cpu",
              progress: bool = False, iterations: dict | None = None, focal_every: int = 40,
              photometric: bool = True, photo_warmup: float = 1.0, threads: int | None = 1) -> dict:
    """Fit the BFM to a landmark sequence lms [N, 68, 2] (and its images for stages C / D).

    images: a function (list of sequence positions) -> image paths; None (or photometric=False) skips C and D.
    photo_warmup: fraction of stage C's iterations that fit albedo and light only (1.0: C leaves the
    geometry to stage D; 0.0: the original's joint fit).
    iterations: overrides of DEFAULT_ITERATIONS. Returns numpy arrays id [1, 100], exp [N, 79], euler [N, 3],
    trans [N, 3], errors [N, 68] px, plus focal, focal_errors and per-stage landmark errors (stage_*).
    threads: torch CPU threads on a CPU device (geometry.torch_threads; None keeps torch's setting).
    """
    with torch_threads(threads if torch.device(device).type == "cpu" else None):
        return _track_bfm(lms, image_size, model_dir, images, focal, device, progress, iterations, focal_every,
                          photometric, photo_warmup)


def _track_bfm(lms, image_size, model_dir, images, focal, device, progress, iterations, focal_every,
               photometric, photo_warmup) -> dict:
    iters = {**DEFAULT_ITERATIONS, **(iterations or {})}
    model = Face3DMM(model_dir, device=device)
    w, h = image_size
    cxy = (w / 2.0, h / 2.0)
    lms_t = torch.tensor(lms, dtype=torch.float32, device=model.device)
    N = lms_t.shape[0]
    focal_errors, focal_loss, focal_search = {}, {}, None
    id_init = None
    if focal is None:
        subset = torch.arange(0, N, focal_every) if N >= 3 * focal_every else torch.linspace(0, N - 1, min(N, 3)).long()
        fits = {}

        def evaluate(grid):  # one batched fit per round of the search (see fit_landmarks)
            found = fit_landmarks(model, lms_t[subset.to(model.device)], [float(f) for f in grid], cxy,
                                  iters["focal_pose"], iters["focal_all"], 0.6, desc=progress and "track: A focal search")
            fits.update(zip(grid, found))
            focal_errors.update({float(f): fit["lan"] for f, fit in zip(grid, found)})
            return {float(f): fit["loss"] for f, fit in zip(grid, found)}
        # the original's grid scaled to the frame size, widened until the best focal is inside
        focal, focal_loss, focal_search = widening_search(evaluate, image_size)
        id_init = fits[focal]["id"]
    focal = float(focal)
    state = fit_landmarks(model, lms_t, [focal], cxy, iters["pose"], iters["all"], 0.5, id_init,
                          desc=progress and "track: B landmarks")[0]
    record = {"stage_B_error_px": landmark_errors(model, state, lms_t, focal, cxy).mean().item()}
    if photometric and images is not None and (iters["photo"] > 0 or iters["refine"] > 0):
        sel = np.unique(np.linspace(0, N - 1, min(N, PHOTO_FRAMES)).astype(int)).tolist()
        state = photometric_fit(model, state, sel, lms_t, images, focal, cxy, image_size, iters["photo"],
                                warmup=photo_warmup, desc=progress and "track: C photometric")
        record["stage_C_error_px"] = landmark_errors(model, state, lms_t, focal, cxy).mean().item()
        state = refine_batches(model, state, lms_t, images, focal, cxy, image_size, iters["refine"], progress)
        record["stage_D_error_px"] = landmark_errors(model, state, lms_t, focal, cxy).mean().item()
    errors = landmark_errors(model, state, lms_t, focal, cxy)
    out = {k: state[k].cpu().double().numpy() for k in ("id", "exp", "euler", "trans")}
    return {**out, "focal": focal, "focal_errors": focal_errors, "focal_search": focal_search,
            "errors": errors.cpu().double().numpy(),
            "focal_loss": focal_loss, "iterations": iters, **record}


def landmark_errors(model, state, lms, focal, cxy) -> torch.Tensor:
    """Per-landmark pixel distances [N, 68] of the current fit."""
    with torch.no_grad():
        proj = model.project_landmarks(state["id"], state["exp"], state["euler"], state["trans"], focal, cxy)
        return (proj - lms).norm(dim=-1)
