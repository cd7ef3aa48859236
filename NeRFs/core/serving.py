"""Serving: a trained talking head loaded from its checkpoints, for rendering only.

``load_talking_head(args)`` (head + torso) and ``load_head_renderer(args)`` (the head over bc.jpg) read
only what rendering needs: the checkpoints, transforms_train.json (camera intrinsics, the fixed torso
camera, and with ``--skip_bg_pixels`` the frames whose parsing bounds the rendered region) and bc.jpg.
No optimiser is built and no training image is read, so a model can be served from a folder that holds
just those files. Both backends (``--backend mlp`` and ``grid``) load here.

    th = load_talking_head(args)
    codes = th.codes(feats)                     # feats [N, 16, C] -> [N, dim_aud]
    rgb = th.render(pose, codes[i])             # pose [4, 4] c2w -> [H, W, 3] in [0, 1]

Driving, ``--render_only`` and the trainers' own renders (validation) use these objects; the trainers
build them around their in-memory networks (``TorsoTrainer.talking_head``).
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .audio import sequence_codes
from .checkpoint import list_checkpoints, load_checkpoint, load_module, resume_step
from .dataset import load_transforms
from .regions import region_mask, scatter_rays
from .rays import get_rays
from .rendering import render_rays_chunked, render_rays_inference
from .utils import UserError, pick_device, read_image

TORSO_KEYS = ("rgb_fg_map", "trans_last")


@dataclass
class Camera:
    """Image size, intrinsics and depth range; bc_img [H, W, 3] background; torso_c2w [4, 4] the fixed
    camera the torso is rendered from (the first training pose)."""
    H: int
    W: int
    focal: float
    cx: float
    cy: float
    near: float
    far: float
    bc_img: torch.Tensor
    torso_c2w: torch.Tensor


class MLPTorso:
    """The MLP backend's torso fields (coarse, fine) as ``render(o, d, near, far, cond, s)``."""

    def __init__(self, coarse, fine):
        self.coarse, self.fine = coarse, fine

    def modules(self):
        return [m for m in (self.coarse, self.fine) if m is not None]

    def render(self, o, d, near, far, cond, s) -> dict:
        """o, d [R, 3], cond [C] -> rgb_fg_map [R, 3], trans_last [R] (display renderer)."""
        return render_rays_chunked(self.coarse, self.fine, o, d, near, far, torch.zeros_like(o), cond, s,
                                   keys=TORSO_KEYS, renderer=render_rays_inference)


class GridTorso:
    """The grid backend's torso (field + occupancy grid) as ``render(o, d, near, far, cond, s)``."""

    def __init__(self, field, occ):
        self.field, self.occ = field, occ

    def modules(self):
        return [self.field, self.occ]

    def render(self, o, d, near, far, cond, s) -> dict:
        from NeRFs.grid.render import render_rays_grid_chunked, render_rays_grid_inference
        return render_rays_grid_chunked(self.field, self.occ, o, d, near, far, torch.zeros_like(o), cond, s,
                                        keys=TORSO_KEYS, renderer=render_rays_grid_inference)


class HeadRenderer:
    """The head alone over bc.jpg (what the Head-NeRF renders). ``head``: HeadModels or GridHeadModels;
    ``settings``: display settings of that backend; ``smooth``: AudioAttNet smoothing of the codes (on once
    the head was trained past ``nosmo_iters``); ``head_region``: bool [H * W] pixels to query, or None."""

    def __init__(self, head, camera: Camera, settings, smooth: bool, smo_size: int = 8,
                 head_region: torch.Tensor | None = None, step: int = 0):
        self.head, self.camera, self.settings = head, camera, settings
        self.smooth, self.smo_size, self.head_region, self.step = smooth, smo_size, head_region, step

    @property
    def aud_channels(self) -> int:
        """Channels C per feature row the trained AudioNet reads (29 for DeepSpeech)."""
        return self.head.audnet.in_channels

    @property
    def device(self) -> torch.device:
        return self.camera.bc_img.device

    def check_features(self, feats: torch.Tensor, source) -> None:
        if feats.ndim != 3 or feats.shape[-1] != self.aud_channels:
            raise UserError(f"audio features {source} have {feats.shape[-1]} channels per row, the trained "
                            f"AudioNet expects {self.aud_channels} (other feature backend?)")

    @torch.no_grad()
    def codes(self, feats: torch.Tensor) -> torch.Tensor:
        """Audio features [N, 16, C] of consecutive frames -> codes [N, dim_aud] (smoothed over the sequence)."""
        return sequence_codes(self.head.audnet, self.head.attnet, feats.to(self.device), self.smooth, self.smo_size)

    @torch.no_grad()
    def render_head(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """pose [4, 4] c2w, code [dim_aud] -> rgb [h, W, 3] of the head over bc.jpg (``rows``: a band)."""
        c = self.camera
        region = self.head_region if rows == slice(None) else None
        return self.head.render_image(pose.to(self.device), code, c.bc_img, c.focal, c.cx, c.cy, c.near, c.far,
                                      self.settings, rows, region=region)["rgb_map"]

    def render(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        return self.render_head(pose, code, rows)


class TalkingHead(HeadRenderer):
    """Head + torso: ``C = C_head * T_torso + C_torso_fg``, the torso seen from ``camera.torso_c2w`` and
    conditioned on the audio code and the encoded head pose. ``torso``: MLPTorso or GridTorso."""

    def __init__(self, head, torso, camera: Camera, settings, smooth: bool, smo_size: int = 8,
                 head_region=None, person_region=None, step: int = 0, torso_settings=None):
        super().__init__(head, camera, settings, smooth, smo_size, head_region, step)
        self.torso, self.person_region = torso, person_region
        self.torso_settings = torso_settings if torso_settings is not None else settings

    @torch.no_grad()
    def render(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """pose [4, 4] c2w, code [dim_aud] -> rgb [h, W, 3] in [0, 1] (``rows``: a band of the frame)."""
        from .torso import composite_head_torso, pose_condition
        c, pose = self.camera, pose.to(self.device)
        head = self.render_head(pose, code, rows)
        o, d = (x[rows].reshape(-1, 3) for x in get_rays(c.H, c.W, c.focal, c.torso_c2w, c.cx, c.cy))
        cond = torch.cat((code, pose_condition(pose)))
        region = self.person_region if rows == slice(None) else None
        if region is not None:
            o, d = o[region], d[region]
        torso = self.torso.render(o, d, c.near, c.far, cond, self.torso_settings)
        n = head.shape[0] * head.shape[1]
        torso = scatter_rays(torso, region, {"rgb_fg_map": torch.zeros(n, 3, device=self.device),
                                             "trans_last": torch.ones(n, device=self.device)})
        return composite_head_torso(head.reshape(-1, 3), torso).reshape(head.shape)


# ----- loading from checkpoints -----
def load_camera(args: argparse.Namespace, device: torch.device) -> tuple[Camera, np.ndarray, torch.Tensor]:
    """(Camera, train img_ids [N], train poses [N, 4, 4]) from transforms_train.json and bc.jpg."""
    root = Path(args.datadir)
    meta = load_transforms(root / "transforms_train.json")
    bc_path = root / "bc.jpg"
    if not bc_path.is_file():
        raise UserError(f"missing background image {bc_path} (written by preprocessing step 4)")
    bc = torch.from_numpy(read_image(bc_path)).to(device)
    H, W = bc.shape[:2]
    poses = torch.tensor(np.array([f["transform_matrix"] for f in meta["frames"]], dtype=np.float32))
    ids = np.array([int(f["img_id"]) for f in meta["frames"]])
    cam = Camera(H, W, float(meta["focal_len"]), float(meta.get("cx", W / 2)), float(meta.get("cy", H / 2)),
                 args.near, args.far, bc, poses[0].to(device))
    return cam, ids, poses


def _newest_good(candidates: list[Path], device) -> tuple[Path, dict] | None:
    """The first checkpoint of ``candidates`` (newest first) that loads; broken ones are skipped, saying so."""
    for path in candidates:
        try:
            return path, load_checkpoint(path, device)
        except UserError as exc:
            if len(candidates) == 1:
                raise
            tqdm.write(f"warning: skipping unusable checkpoint: {exc}")
    return None


def _regions(args, cam: Camera, ids, kinds) -> list:
    if not getattr(args, "skip_bg_pixels", False):
        return [None for _ in kinds]
    out = [region_mask(Path(args.datadir), ids, k, (cam.H, cam.W), cam.bc_img.device) for k in kinds]
    if any(r is None for r in out):
        tqdm.write("warning: --skip_bg_pixels needs parsing/<id>.png of the training frames; rendering every pixel")
    return out


def _build_head(args, ckpt: dict, path: Path, cam: Camera, train_poses, device):
    """(head models, display settings) of ``args.backend`` with the checkpoint's weights."""
    from .networks import AudioNet
    if "network_audnet_state_dict" not in ckpt:
        raise UserError(f"checkpoint {path} has no 'network_audnet_state_dict' (not a head checkpoint?)")
    channels = AudioNet.channels_of(ckpt["network_audnet_state_dict"])
    if getattr(args, "backend", "mlp") == "grid":
        from NeRFs.grid.field import frustum_aabb
        from NeRFs.grid.models import GridHeadModels, grid_settings
        aabb = frustum_aabb(train_poses, cam.H, cam.W, cam.focal, cam.cx, cam.cy, args.near, args.far)
        head = GridHeadModels.build(args, channels, aabb, device)
        settings = grid_settings(args).for_inference(args.early_stop_T)
    else:
        from .head import HeadModels, render_settings
        head = HeadModels.build(args, channels, device)
        settings = render_settings(args).for_inference(args.early_stop_T, device)
    head.load(ckpt, path)
    head.eval()
    return head, settings


def _kinds(args) -> tuple[str, str]:
    """(head kind, body kind) of checkpoint file names for the backend."""
    if getattr(args, "backend", "mlp") == "grid":
        from NeRFs.grid.kinds import GRID_BODY, GRID_HEAD
        return GRID_HEAD, GRID_BODY
    return "head", "body"


def _newest_checkpoint(args: argparse.Namespace, kind: str, device, what: str, script: str):
    """(path, checkpoint) of --ft_path, else of the newest good ``*_<kind>.tar`` in basedir/expname."""
    out_dir = Path(args.basedir) / args.expname
    candidates = [Path(args.ft_path)] if args.ft_path else list(reversed(list_checkpoints(out_dir, kind)))
    found = _newest_good(candidates, device) if candidates else None
    if found is None:
        name = script.replace("NeRF", "-NeRF")
        raise UserError(f"no {what} checkpoint (*_{kind}.tar) in {out_dir}: train the {name} "
                        f"first (python NeRFs/{script}/run_nerf.py --config <datadir>/{script}_config.txt)")
    return found


def load_head_renderer(args: argparse.Namespace) -> HeadRenderer:
    """The Head-NeRF of basedir/expname: --ft_path, else its newest good ``*_head.tar`` (grid: ``_gridhead``)."""
    device = pick_device(args.device)
    cam, ids, train_poses = load_camera(args, device)
    head_kind, _ = _kinds(args)
    path, ckpt = _newest_checkpoint(args, head_kind, device, "head", "HeadNeRF")
    head, settings = _build_head(args, ckpt, path, cam, train_poses, device)
    step = resume_step(ckpt, path)
    (region,) = _regions(args, cam, ids, ("head",))
    return HeadRenderer(head, cam, settings, step > args.nosmo_iters, args.smo_size, region, step)


def load_talking_head(args: argparse.Namespace) -> TalkingHead:
    """Head + torso of basedir/expname: --ft_path, else the newest good ``*_body.tar``; the head saved beside
    it (``*_head.tar`` of the same step), or --head_ckpt, or the newest head of basedir/<id>_head."""
    from .torso import POSE_FREQS, find_head_checkpoint
    device = pick_device(args.device)
    cam, ids, train_poses = load_camera(args, device)
    head_kind, body_kind = _kinds(args)
    body_path, body = _newest_checkpoint(args, body_kind, device, "torso", "TorsoNeRF")
    beside = body_path.with_name(body_path.name.replace(f"_{body_kind}.tar", f"_{head_kind}.tar"))
    if beside.is_file() and not args.head_ckpt:
        head_path = beside
    else:
        head_path = find_head_checkpoint(args, head_kind)
    head_ckpt = load_checkpoint(head_path, device)
    head, settings = _build_head(args, head_ckpt, head_path, cam, train_poses, device)
    cond_dim = args.dim_aud + 2 * 3 * (1 + 2 * POSE_FREQS)
    from NeRFs.grid.kinds import check_backend
    if head_kind == "head":
        from .head import build_field
        check_backend(body, body_path, "mlp")
        coarse = build_field(args, args.netdepth, args.netwidth, cond_dim).to(device)
        fine = build_field(args, args.netdepth_fine, args.netwidth_fine, cond_dim).to(device) \
            if args.N_importance > 0 else None
        load_module(coarse.network, body, "network_fn_state_dict", body_path)
        if fine is not None:
            load_module(fine.network, body, "network_fine_state_dict", body_path)
        torso = MLPTorso(coarse, fine)
    else:
        from NeRFs.grid.field import frustum_aabb
        from NeRFs.grid.models import build_grid_field, build_occupancy
        check_backend(body, body_path, "grid")
        aabb = frustum_aabb(cam.torso_c2w[None].cpu(), cam.H, cam.W, cam.focal, cam.cx, cam.cy, args.near, args.far)
        field, occ = build_grid_field(args, aabb, cond_dim).to(device), build_occupancy(args, aabb).to(device)
        load_module(field, body, "grid_field_state_dict", body_path)
        load_module(occ, body, "occupancy_state_dict", body_path)
        torso = GridTorso(field, occ)
    for m in torso.modules():
        m.eval()
    head_step = resume_step(head_ckpt, head_path)
    head_region, person_region = _regions(args, cam, ids, ("head", "person"))
    return TalkingHead(head, torso, cam, settings, head_step > args.nosmo_iters, args.smo_size, head_region,
                       person_region, step=resume_step(body, body_path))
