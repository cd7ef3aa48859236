"""Serving: a trained talking head loaded from its checkpoints, for rendering only.

``load_talking_head(args)`` (head + torso) and ``load_head_renderer(args)`` (the head over bc.jpg) read
only what rendering needs: the checkpoints, transforms_train.json (camera intrinsics, the fixed torso
camera, and with ``--skip_bg_pixels`` the frames whose parsing bounds the rendered region) and bc.jpg.
No optimiser is built and no training image is read, so a model can be served from a folder that holds
just those files. Every backend loads here: the models are the backend's (models.py), ``backend_for(args)``
by default.

    th = load_talking_head(args)
    codes = th.codes(feats, eyes, mouth)        # feats [N, 16, C], eyes, mouth [N] or None -> [N, head_cond_dim]
    rgb = th.render(pose, codes[i])             # pose [4, 4] c2w -> [H, W, 3] in [0, 1]

Driving, ``--render_only`` and the trainers' own renders (validation) use these objects; the trainers
build them around their in-memory networks (``TorsoTrainer.talking_head``).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .audio import sequence_codes
from .checkpoint import find_head_checkpoint, list_checkpoints, load_checkpoint, resume_step
from .conditioning import (checkpoint_args, composite_head_torso, head_condition, reads_eyes, reads_mouth,
                           torso_cond_dim, torso_condition)
from .dataset import frame_eyes, frame_mouth, load_transforms
from .models import TORSO_KEYS, Backend, Camera, render_image
from .networks import AudioNet
from .rays import get_rays
from .regions import region_mask, scatter_rays
from .utils import UserError, pick_device, read_image_float

__all__ = ["Camera", "HeadRenderer", "TalkingHead", "load_camera", "load_head_renderer", "load_talking_head"]


class HeadRenderer:
    """The head alone over bc.jpg (what the Head-NeRF renders). ``head``: a backend's head model
    (models.py); ``settings``: its display settings; ``smooth``: AudioAttNet smoothing of the codes (on once
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

    @property
    def reads_eyes(self) -> bool:
        """Whether the head was trained on the eye signal (then ``codes`` takes each frame's eye openness)."""
        return reads_eyes(self.head)

    @property
    def reads_mouth(self) -> bool:
        """Whether the head was trained on the mouth signal (then ``codes`` takes each frame's mouth opening)."""
        return reads_mouth(self.head)

    @property
    def mouth_predictor(self) -> dict | None:
        """The MouthPredictor state of a mouth-conditioned head (adnerf.mouth), fitted on its training audio."""
        return self.head.mouth_predictor if self.reads_mouth else None

    @torch.no_grad()
    def codes(self, feats: torch.Tensor, eyes: torch.Tensor | None = None,
              mouth: torch.Tensor | None = None) -> torch.Tensor:
        """Audio features [N, 16, C] of consecutive frames, their eye openness and mouth opening [N] -> the
        head's conditions [N, head_cond_dim] (audio codes smoothed over the sequence; the eyes and the mouth
        only for a head that reads them, at the training open eye / median mouth when None)."""
        codes = sequence_codes(self.head.audnet, self.head.attnet, feats.to(self.device), self.smooth, self.smo_size)
        n = codes.shape[0]
        eyes = self.signal("eye", eyes, n, self.camera.open_eye) if self.reads_eyes else None
        mouth = self.signal("mouth", mouth, n, self.camera.rest_mouth) if self.reads_mouth else None
        return head_condition(codes, eyes, mouth)

    def signal(self, name: str, values: torch.Tensor | None, n: int, default: float) -> torch.Tensor:
        """A per-frame signal [n] on the device (``default`` throughout when None), refused unless finite."""
        if values is None:
            values = torch.full((n,), default)
        if values.shape != (n,) or not bool(torch.isfinite(values).all()):
            raise UserError(f"the {name} signal must be {n} finite values (one per audio frame), got "
                            f"shape {list(values.shape)}")
        return values.to(self.device)

    @torch.no_grad()
    def render_head(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """pose [4, 4] c2w, code [head_cond_dim] -> rgb [h, W, 3] of the head over bc.jpg (``rows``: a band)."""
        region = self.head_region if rows == slice(None) else None
        return render_image(self.head, pose.to(self.device), code, self.camera, self.settings, rows,
                            region=region)["rgb_map"]

    def render(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        return self.render_head(pose, code, rows)


class TalkingHead(HeadRenderer):
    """Head + torso: ``C = C_head * T_torso + C_torso_fg``, the torso seen from ``camera.torso_c2w`` and
    conditioned on the head's condition and the encoded head pose. ``torso``: a backend's torso model."""

    def __init__(self, head, torso, camera: Camera, settings, smooth: bool, smo_size: int = 8,
                 head_region=None, person_region=None, step: int = 0):
        super().__init__(head, camera, settings, smooth, smo_size, head_region, step)
        self.torso, self.person_region = torso, person_region

    @torch.no_grad()
    def render(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """pose [4, 4] c2w, code [head_cond_dim] -> rgb [h, W, 3] in [0, 1] (``rows``: a band of the frame)."""
        c, pose = self.camera, pose.to(self.device)
        head = self.render_head(pose, code, rows)
        o, d = (x[rows].reshape(-1, 3) for x in get_rays(c.H, c.W, c.focal, c.torso_c2w, c.cx, c.cy))
        region = self.person_region if rows == slice(None) else None
        if region is not None:
            o, d = o[region], d[region]
        torso = self.torso.render_chunked(o, d, c.near, c.far, torch.zeros_like(o),
                                          torso_condition(code, pose, self.head.audnet.dim_aud), self.settings,
                                          keys=TORSO_KEYS)
        n = head.shape[0] * head.shape[1]
        torso = scatter_rays(torso, region, {"rgb_fg_map": torch.zeros(n, 3, device=self.device),
                                             "trans_last": torch.ones(n, device=self.device)})
        return composite_head_torso(head.reshape(-1, 3), torso).reshape(head.shape)


# ----- loading from checkpoints -----
def load_camera(args: argparse.Namespace, device: torch.device) -> tuple[Camera, np.ndarray]:
    """(Camera, train img_ids [N]) from transforms_train.json and bc.jpg."""
    root = Path(args.datadir)
    meta = load_transforms(root / "transforms_train.json")
    bc_path = root / "bc.jpg"
    if not bc_path.is_file():
        raise UserError(f"missing background image {bc_path} (written by preprocessing step 4)")
    bc = torch.from_numpy(read_image_float(bc_path)).to(device)
    H, W = bc.shape[:2]
    poses = torch.tensor(np.array([f["transform_matrix"] for f in meta["frames"]], dtype=np.float32))
    ids = np.array([int(f["img_id"]) for f in meta["frames"]])
    cam = Camera(H, W, float(meta["focal_len"]), float(meta.get("cx", W / 2)), float(meta.get("cy", H / 2)),
                 args.near, args.far, bc, poses[0].to(device), poses,
                 frame_eyes(meta["frames"], root / "transforms_train.json"),
                 frame_mouth(meta["frames"], root / "transforms_train.json"))
    return cam, ids


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


def _build_head(args, backend: type[Backend], ckpt: dict, path: Path, cam: Camera, device):
    """The backend's head model with the checkpoint's weights, in eval mode."""
    if "network_audnet_state_dict" not in ckpt:
        raise UserError(f"checkpoint {path} has no 'network_audnet_state_dict' (not a head checkpoint?)")
    head = backend.Head.build(checkpoint_args(args, ckpt), AudioNet.channels_of(ckpt["network_audnet_state_dict"]),
                              cam, device)
    head.load(ckpt, path)
    head.eval()
    return head


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


def _setup(args, backend, settings):
    if backend is None:
        from .backends import backend_for
        backend = backend_for(args)
    device = pick_device(args.device)
    settings = settings if settings is not None else backend.render_settings(args)
    return backend, device, settings.for_inference(args.early_stop_T, device)


def load_head_renderer(args: argparse.Namespace, backend: type[Backend] | None = None,
                       settings=None) -> HeadRenderer:
    """The Head-NeRF of basedir/expname: --ft_path, else its newest good ``*_<head kind>.tar``. ``backend``
    (default: ``args.backend``'s) and its training ``settings`` (default: built from args)."""
    backend, device, display = _setup(args, backend, settings)
    cam, ids = load_camera(args, device)
    path, ckpt = _newest_checkpoint(args, backend.head_kind, device, "head", "HeadNeRF")
    head = _build_head(args, backend, ckpt, path, cam, device)
    step = resume_step(ckpt, path)
    (region,) = _regions(args, cam, ids, ("head",))
    return HeadRenderer(head, cam, display, step > args.nosmo_iters, args.smo_size, region, step)


def load_talking_head(args: argparse.Namespace, backend: type[Backend] | None = None,
                      settings=None) -> TalkingHead:
    """Head + torso of basedir/expname: --ft_path, else the newest good body checkpoint; the head saved
    beside it (the head file of the same step), or --head_ckpt, or the newest head of basedir/<id>_head."""
    backend, device, display = _setup(args, backend, settings)
    cam, ids = load_camera(args, device)
    head_kind, body_kind = backend.head_kind, backend.body_kind
    body_path, body = _newest_checkpoint(args, body_kind, device, "torso", "TorsoNeRF")
    beside = body_path.with_name(body_path.name.replace(f"_{body_kind}.tar", f"_{head_kind}.tar"))
    head_path = beside if beside.is_file() and not args.head_ckpt else find_head_checkpoint(args, head_kind)
    head_ckpt = load_checkpoint(head_path, device)
    head = _build_head(args, backend, head_ckpt, head_path, cam, device)
    torso = backend.Torso.build(args, cam, torso_cond_dim(args), device)
    torso.load(body, body_path)
    torso.eval()
    head_step = resume_step(head_ckpt, head_path)
    head_region, person_region = _regions(args, cam, ids, ("head", "person"))
    return TalkingHead(head, torso, cam, display, head_step > args.nosmo_iters, args.smo_size, head_region,
                       person_region, step=resume_step(body, body_path))
