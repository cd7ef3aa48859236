"""Torso-NeRF: a second field for the torso, seen from a fixed camera, composited under the frozen head.

Per step (as the original): the frozen head renders the frame's rays with its own camera; the torso is
rendered through the same pixels but always from the first training camera, conditioned on the
head's condition and the positional encodings (3 frequencies) of the head pose's Euler angles and
translation (conditioning.py): the torso does not move rigidly with the head, so the network learns its
motion from the pose it is given rather than from a moving camera. Composite: ``C = C_head * T_torso +
C_torso_fg`` (T_torso: the transmittance left behind the torso), trained against com_imgs. One trainer
for every backend: the models' hooks (models.py) hold what differs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .checkpoint import find_head_checkpoint, load_checkpoint, load_optimizer, resume_step
from .conditioning import (POSE_FREQS, checkpoint_args, composite_head_torso, pose_condition, rot_to_euler,
                           torso_cond_dim, torso_condition)
from .dataset import AudFaceDataset
from .head import FrameTrainer
from .models import Backend
from .rays import rays_at, sample_pixels
from .regions import BODY
from .utils import UserError, mse_to_psnr

__all__ = ["POSE_FREQS", "TorsoTrainer", "check_mask_loss", "composite_head_torso", "find_head_checkpoint",
           "pose_condition", "rot_to_euler", "torso_mask_loss"]


def draw_torso_pixels(trainer, rng: np.random.Generator):
    """The pixels of one torso training step: one random training frame k, ``N_rand`` pixels anywhere in it
    (the torso has no face rectangle). Returns k, coords [N_rand, 2] (row, col), the com_imgs target and the
    bc.jpg colours [N_rand, 3] there, the frame's head pose [4, 4], and the parsing labels [N_rand] there
    (regions.parsing_labels) when ``--torso_mask_loss`` is on, else None."""
    a, ds, dev = trainer.args, trainer.dataset, trainer.device
    train = ds.splits["train"]
    k = int(rng.integers(len(train)))
    target_img = ds.image("train", k).to(dev)
    pixels = sample_pixels(a.N_rand, ds.H, ds.W, rng)
    coords = torch.from_numpy(pixels).to(dev)
    labels = ds.parsing("train", k, pixels).to(dev) if a.torso_mask_loss > 0 else None
    return (k, coords, target_img[coords[:, 0], coords[:, 1]], trainer.bc_img[coords[:, 0], coords[:, 1]],
            train.poses[k].to(dev), labels)


def check_mask_loss(args: argparse.Namespace, dataset: AudFaceDataset) -> None:
    """--torso_mask_loss reads parsing/<id>.png of every training frame: without them, a weight the user
    asked for is a one-line error, a backend's default is turned off with a warning."""
    if args.torso_mask_loss <= 0 or "train" not in dataset.splits:
        return
    paths = (dataset.parsing_path("train", k) for k in range(len(dataset.splits["train"])))
    missing = [p for p in paths if not p.is_file()]
    if not missing:
        return
    if getattr(args, "torso_mask_loss_given", True):
        raise UserError(f"--torso_mask_loss {args.torso_mask_loss} needs the face parsing of every training frame; "
                        f"{len(missing)} missing, first: {missing[0]} (written by preprocessing step 3; or set "
                        f"torso_mask_loss = 0)")
    tqdm.write(f"warning: {len(missing)} training frames have no parsing (first: {missing[0]}); training the torso "
               f"without --torso_mask_loss")
    args.torso_mask_loss = 0.0


def torso_mask_loss(trans_last: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor | float:
    """Mean squared error between the torso's opacity 1 - T_last [R] and the parsing: 1 on neck and torso,
    0 on background and on the head (the composite puts the torso in front of the head, so an opaque torso
    there would hide the face). 0 when ``labels`` is None.

    Why: bc.jpg behind the neck was never seen and is filled from nearby pixels, so it can be close to the
    neck's own colours; the image loss alone then barely minds a see-through neck (docs/grid_backend.md).
    """
    if labels is None:
        return 0.0
    return F.mse_loss(1.0 - trans_last, (labels == BODY).to(trans_last.dtype))


class TorsoTrainer(FrameTrainer):
    """Trains the torso model of ``backend`` on its frozen head; resumes from the latest body checkpoint
    (the head file beside it holds the head)."""

    @staticmethod
    def kinds(backend) -> tuple[str, ...]:
        return (backend.body_kind, backend.head_kind)

    def __init__(self, args: argparse.Namespace, backend: type[Backend] | None = None, settings=None):
        super().__init__(args, "com_imgs", backend, settings)
        check_mask_loss(args, self.dataset)
        self.head_ckpt_path = find_head_checkpoint(args, self.backend.head_kind)
        head_ckpt = load_checkpoint(self.head_ckpt_path, self.device)
        self.load_head(head_ckpt, self.head_ckpt_path)
        self.head_step = resume_step(head_ckpt, self.head_ckpt_path)
        self.torso = self.backend.Torso.build(args, self.camera, torso_cond_dim(args), self.device)
        (self.optimizer,) = self.torso.optimizers(args)
        self.torso_c2w = self.camera.torso_c2w  # the fixed torso camera
        self.smooth = self.head_step > args.nosmo_iters
        tqdm.write(f"[{args.expname}] head from {self.head_ckpt_path} (step {self.head_step}), frozen")

    def load_head(self, ckpt: dict, path: Path) -> None:
        """The frozen head: built as its checkpoint was trained (with or without the eye and mouth signals), loaded."""
        self.head = self.backend.Head.build(checkpoint_args(self.args, ckpt), self.dataset.aud_channels,
                                            self.camera, self.device)
        self.head.load(ckpt, path)
        self.head.eval()
        self.head.freeze()

    def occupancy_grids(self):
        """The occupancy grids this trainer updates (kept identical across ranks by distributed.py)."""
        return self.torso.occupancy_grids()

    def condition(self, split: str, k: int, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(head condition [head_cond_dim], torso condition [torso_cond_dim]) of frame k of a split."""
        cond = self.frame_condition(split, k, self.smooth)
        return cond, torso_condition(cond, pose, self.args.dim_aud)

    def _probe(self, rng: np.random.Generator) -> torch.Tensor:
        train = self.dataset.splits["train"]
        k = int(rng.integers(len(train)))
        return self.condition("train", k, train.poses[k].to(self.device))[1]

    # ----- one step -----
    def train_step(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, float]:
        a, ds, cam = self.args, self.dataset, self.camera
        self.torso.before_step(step, a, lambda: self._probe(rng), gen)
        k, coords, target, bc_rgb, pose, labels = draw_torso_pixels(self, rng)
        with torch.no_grad():  # the frozen head needs no autograd graph
            cond, torso_cond = self.condition("train", k, pose)
            o, d = rays_at(coords, ds.focal, pose, ds.cx, ds.cy)
            head_rgb = self.head.render_rays(o, d, a.near, a.far, bc_rgb, cond, self.settings, gen)["rgb_map"]
        o, d = rays_at(coords, ds.focal, cam.torso_c2w, ds.cx, ds.cy)
        torso = self.torso.render_rays(o, d, a.near, a.far, torch.zeros_like(bc_rgb), torso_cond, self.settings, gen)
        img_loss = F.mse_loss(composite_head_torso(head_rgb, torso), target)
        loss = img_loss + self.torso.regulariser(torso_cond, a, gen) \
            + a.torso_mask_loss * torso_mask_loss(torso["trans_last"], labels)
        if "rgb0" in torso:  # the coarse pass is trained too (as the original)
            loss = loss + F.mse_loss(composite_head_torso(head_rgb, torso, "0"), target) \
                + a.torso_mask_loss * torso_mask_loss(torso["trans_last0"], labels)
        lr = self.torso.set_learning_rate([self.optimizer], step - 1, a)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "psnr": mse_to_psnr(img_loss.item()), "lr": lr, **self.torso.step_logs()}

    # ----- checkpoints -----
    def checkpoint_payloads(self, step: int) -> dict[str, dict]:
        body = {"global_step": step, **self.torso.state_dicts(), "optimizer_state_dict": self.optimizer.state_dict()}
        head = {"global_step": self.head_step, **self.head.state_dicts()}
        return dict(zip(self.ckpt_kinds, (body, head)))

    def load_payloads(self, ckpts: dict[str, dict], paths: dict[str, Path], with_optimizers: bool) -> None:
        body_kind, head_kind = self.ckpt_kinds
        body, path = ckpts[body_kind], paths[body_kind]
        modules = self.torso.modules()
        self.torso.load(body, path)
        if any(a is not b for a, b in zip(modules, self.torso.modules())):   # rebuilt to fit the file (grid)
            (self.optimizer,) = self.torso.optimizers(self.args)
        if head_kind in ckpts and not self.args.head_ckpt:  # the head saved beside the body (as the original)
            self.load_head(ckpts[head_kind], paths[head_kind])
        if with_optimizers and not load_optimizer(self.optimizer, body, "optimizer_state_dict"):
            tqdm.write(f"warning: {path} holds no optimiser state; the optimiser starts fresh")

    # ----- rendering -----
    def talking_head(self):
        """The serving object (serving.py) around this trainer's networks, as they are now."""
        from .serving import TalkingHead
        return TalkingHead(self.head, self.torso, self.camera, self.display_settings(), self.smooth,
                           self.args.smo_size, self.render_region("head"), self.render_region("person"), self.step)

    @torch.no_grad()
    def render_frame(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """Head + torso image [H, W, 3] (or a band of ``rows``) for a head pose [4, 4] and a condition
        [head_cond_dim]."""
        return self.talking_head().render(pose, code, rows)

    @torch.no_grad()
    def render_split(self, split: str, step: int, indices=None):
        """Yield (index, head + torso render [H, W, 3], com_imgs target [H, W, 3]) for frames of ``split``, with
        the head's codes of the whole split smoothed as when driving; the torso is in eval mode meanwhile."""
        frames = self.dataset.splits[split]
        codes = self.talking_head().codes(self.auds[split], self.eyes(split), self.mouth(split))
        self.torso.eval()
        try:
            for k in range(len(frames)) if indices is None else indices:
                yield k, self.render_frame(frames.poses[k].to(self.device), codes[k]), \
                    self.dataset.image(split, k).to(self.device)
        finally:
            self.torso.train()
