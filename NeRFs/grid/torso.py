"""Grid backend Torso-NeRF: a GridField for the torso on top of the frozen grid head.

As ``NeRFs/core/torso.py``: the torso is seen from the first training camera, conditioned on the head's
smoothed audio code and the encoded head pose (42 values), composited ``C = C_head * T_torso + C_torso_fg``
and trained against com_imgs; the head, AudioNet and AudioAttNet stay frozen. The torso field has its own
occupancy grid over the torso camera's frustum, probed with the condition of random training frames.
Checkpoints: ``{step}_gridbody.tar`` (torso) and ``{step}_gridhead.tar`` (the head used) in basedir/expname.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from NeRFs.core.audio import frame_code
from NeRFs.core.checkpoint import load_checkpoint, load_module, load_optimizer, resume_step
from NeRFs.core.dataset import AudFaceDataset
from NeRFs.core.rays import get_rays, rays_at
from NeRFs.core.regions import scatter_rays
from NeRFs.core.torso import (POSE_FREQS, check_mask_loss, composite_head_torso, draw_torso_pixels,
                              find_head_checkpoint, pose_condition, render_torso_split, torso_mask_loss)
from NeRFs.core.trainer import Trainer
from NeRFs.core.utils import mse_to_psnr

from .field import frustum_aabb
from .kinds import GRID_BODY, GRID_HEAD, check_backend
from .models import (GridHeadModels, build_grid_field, build_occupancy, grid_optimizer, grid_settings,
                     set_decayed_lr, box_sparsity, SPARSITY_POINTS)
from .render import render_rays_grid, render_rays_grid_chunked


class GridTorsoTrainer(Trainer):
    ckpt_kinds = (GRID_BODY, GRID_HEAD)

    def __init__(self, args: argparse.Namespace, splits: tuple[str, ...] = ("train", "val")):
        super().__init__(args)
        ds = self.dataset = AudFaceDataset(args.datadir, "com_imgs", args.aud_file, args.testskip, splits)
        check_mask_loss(args, ds)
        self.bc_img = ds.bc_img.to(self.device)
        self.auds = {k: v.auds.to(self.device) for k, v in ds.splits.items()}
        first = ds.splits["train"] if "train" in ds.splits else next(iter(ds.splits.values()))
        head_aabb = frustum_aabb(first.poses, ds.H, ds.W, ds.focal, ds.cx, ds.cy, args.near, args.far)
        self.head = GridHeadModels.build(args, ds.aud_channels, head_aabb, self.device)
        self.head_ckpt_path = find_head_checkpoint(args, GRID_HEAD)
        head_ckpt = load_checkpoint(self.head_ckpt_path, self.device)
        self.head.load(head_ckpt, self.head_ckpt_path)
        self.head_step = resume_step(head_ckpt, self.head_ckpt_path)
        self.head.eval()
        for mod in self.head.modules():
            for p in mod.parameters():
                p.requires_grad_(False)
        self.torso_c2w = first.poses[0].to(self.device)  # the fixed torso camera
        aabb = frustum_aabb(self.torso_c2w[None].cpu(), ds.H, ds.W, ds.focal, ds.cx, ds.cy, args.near, args.far)
        cond_dim = args.dim_aud + 2 * 3 * (1 + 2 * POSE_FREQS)
        self.field = build_grid_field(args, aabb, cond_dim).to(self.device)
        self.occ = build_occupancy(args, aabb).to(self.device)
        self.optimizer = grid_optimizer(self.field, args)
        self.settings = grid_settings(args)
        self.smooth = self.head_step > args.nosmo_iters
        tqdm.write(f"[{args.expname}] grid head from {self.head_ckpt_path} (step {self.head_step}), frozen")

    def occupancy_grids(self):
        """The occupancy grids this trainer updates (kept identical across ranks by distributed.py)."""
        return [self.occ]

    def condition(self, split: str, k: int, pose: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(audio code [dim_aud], torso condition [dim_aud + 42]) of frame k of a split."""
        code = frame_code(self.head.audnet, self.head.attnet, self.auds[split], k, self.smooth, self.args.smo_size)
        return code, torch.cat((code, pose_condition(pose)))

    @torch.no_grad()
    def update_occupancy(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> None:
        a = self.args
        if not a.occupancy or (step - 1) % max(a.occ_update, 1):
            return
        train = self.dataset.splits["train"]
        k = int(rng.integers(len(train)))
        cond = self.condition("train", k, train.poses[k].to(self.device))[1]
        self.occ.update(lambda p: self.field.density(p, cond)[0], gen)

    def train_step(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, float]:
        a, ds = self.args, self.dataset
        self.update_occupancy(step, rng, gen)
        k, coords, target, bc_rgb, pose, labels = draw_torso_pixels(self, rng)
        with torch.no_grad():  # the frozen head needs no autograd graph
            code, cond = self.condition("train", k, pose)
            o, d = rays_at(coords, ds.focal, pose, ds.cx, ds.cy)
            head_rgb = self.head.render_rays(o, d, a.near, a.far, bc_rgb, code, self.settings, gen)["rgb_map"]
        o, d = rays_at(coords, ds.focal, self.torso_c2w, ds.cx, ds.cy)
        torso = render_rays_grid(self.field, self.occ, o, d, a.near, a.far, torch.zeros_like(bc_rgb), cond,
                                 self.settings, gen)
        img_loss = F.mse_loss(composite_head_torso(head_rgb, torso), target)
        loss = img_loss + a.grid_sparsity * box_sparsity(self.field, cond, SPARSITY_POINTS, gen) \
            + a.torso_mask_loss * torso_mask_loss(torso["trans_last"], labels)
        lr = set_decayed_lr(self.optimizer, step - 1, a.N_iters)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "psnr": mse_to_psnr(img_loss.item()), "lr": lr,
                "occupied": self.occ.occupied_fraction()}

    def checkpoint_payloads(self, step: int) -> dict[str, dict]:
        body = {"backend": "grid", "global_step": step, "grid_field_state_dict": self.field.state_dict(),
                "occupancy_state_dict": self.occ.state_dict(), "optimizer_state_dict": self.optimizer.state_dict()}
        return {GRID_BODY: body, GRID_HEAD: {"global_step": self.head_step, **self.head.state_dicts()}}

    def load_payloads(self, ckpts: dict[str, dict], paths: dict[str, Path], with_optimizers: bool) -> None:
        body, path = ckpts[GRID_BODY], paths[GRID_BODY]
        check_backend(body, path, "grid")
        load_module(self.field, body, "grid_field_state_dict", path)
        load_module(self.occ, body, "occupancy_state_dict", path)
        if GRID_HEAD in ckpts and not self.args.head_ckpt:  # the head saved beside the body
            self.head.load(ckpts[GRID_HEAD], paths[GRID_HEAD])
        if with_optimizers and not load_optimizer(self.optimizer, body, "optimizer_state_dict"):
            tqdm.write(f"warning: {path} holds no optimiser state; the optimiser starts fresh")

    @torch.no_grad()
    def render_frame(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """Head + torso image [H, W, 3] (or a band of ``rows``) for a head pose [4, 4] and a code [dim_aud]."""
        a, ds = self.args, self.dataset
        s = self.settings.for_inference(a.early_stop_T)
        full = rows == slice(None)
        head = self.head.render_image(pose, code, self.bc_img, ds.focal, ds.cx, ds.cy, a.near, a.far, s, rows,
                                      region=self.render_region("head") if full else None)
        o, d = (x[rows].reshape(-1, 3) for x in get_rays(ds.H, ds.W, ds.focal, self.torso_c2w, ds.cx, ds.cy))
        cond = torch.cat((code, pose_condition(pose)))
        region = self.render_region("person") if full else None
        if region is not None:
            o, d = o[region], d[region]
        torso = render_rays_grid_chunked(self.field, self.occ, o, d, a.near, a.far, torch.zeros_like(o), cond, s,
                                         keys=("rgb_fg_map", "trans_last"))
        n = head["rgb_map"].shape[0] * head["rgb_map"].shape[1]
        torso = scatter_rays(torso, region, {"rgb_fg_map": torch.zeros(n, 3, device=self.device),
                                             "trans_last": torch.ones(n, device=self.device)})
        return composite_head_torso(head["rgb_map"].reshape(-1, 3), torso).reshape(head["rgb_map"].shape)

    def render_split(self, split: str, step: int, indices=None):
        return render_torso_split(self, self.field, split, indices)
