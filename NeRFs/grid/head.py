"""Grid backend Head-NeRF trainer: the MLP head's data, rays, audio codes and loop, a GridField instead.

What is the same as ``NeRFs/core/head.py``: dataset (head_imgs over bc.jpg), one image per step with 95 %
of the rays in the face rectangle, AudioNet per frame and AudioAttNet smoothing after ``nosmo_iters`` (5x
learning rate), the loss (MSE of the composited colour), seeds, resume, TensorBoard, validation renders.
What differs: one render pass (no coarse network, so no coarse loss), the occupancy grid updated every
``occ_update`` steps, Adam with RAD-NeRF's settings and a learning rate decaying 10x over ``N_iters``.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from NeRFs.core.audio import frame_code, sequence_codes
from NeRFs.core.dataset import AudFaceDataset
from NeRFs.core.head import draw_head_rays, load_head_optimizers, step_head_optimizers
from NeRFs.core.trainer import Trainer
from NeRFs.core.utils import mse_to_psnr

from .field import frustum_aabb
from .kinds import GRID_HEAD
from .models import GridHeadModels, grid_optimizer, grid_settings, set_decayed_lr, box_sparsity, SPARSITY_POINTS


class GridHeadTrainer(Trainer):
    ckpt_kinds = (GRID_HEAD,)

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        ds = self.dataset = AudFaceDataset(args.datadir, "head_imgs", args.aud_file, args.testskip)
        self.bc_img = ds.bc_img.to(self.device)
        self.auds = {k: v.auds.to(self.device) for k, v in ds.splits.items()}
        aabb = frustum_aabb(ds.splits["train"].poses, ds.H, ds.W, ds.focal, ds.cx, ds.cy, args.near, args.far)
        self.models = m = GridHeadModels.build(args, ds.aud_channels, aabb, self.device)
        self.optimizer = grid_optimizer(m.field, args)
        net_lr = args.grid_lrate_net
        self.optimizer_aud = torch.optim.Adam(m.audnet.parameters(), lr=net_lr, betas=(0.9, 0.99))
        self.optimizer_audatt = torch.optim.Adam(m.attnet.parameters(), lr=net_lr * 5, betas=(0.9, 0.99))
        for opt, base in ((self.optimizer_aud, net_lr), (self.optimizer_audatt, net_lr * 5)):
            opt.param_groups[0]["base_lr"] = base
        self.settings = grid_settings(args)

    def smoothing(self, step: int) -> bool:
        return step > self.args.nosmo_iters

    def occupancy_grids(self):
        """The occupancy grids this trainer updates (kept identical across ranks by distributed.py)."""
        return [self.models.occ]

    def update_occupancy(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> None:
        """Every ``occ_update`` steps: probe the grid with the audio code of a random training frame."""
        a = self.args
        if not a.occupancy or (step - 1) % max(a.occ_update, 1):
            return
        k = int(rng.integers(len(self.dataset.splits["train"])))
        m = self.models
        with torch.no_grad():
            code = frame_code(m.audnet, m.attnet, self.auds["train"], k, self.smoothing(step), a.smo_size)
            m.occ.update(lambda p: m.field.density(p, code)[0], gen)

    def train_step(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, float]:
        a, m = self.args, self.models
        self.update_occupancy(step, rng, gen)
        rays_o, rays_d, target, bc_rgb, code, smooth = draw_head_rays(self, m, step, rng)
        out = m.render_rays(rays_o, rays_d, a.near, a.far, bc_rgb, code, self.settings, gen)
        img_loss = F.mse_loss(out["rgb_map"], target)
        loss = img_loss + a.grid_sparsity * box_sparsity(m.field, code, SPARSITY_POINTS, gen)
        lr = set_decayed_lr(self.optimizer, step - 1, a.N_iters)  # lr of the step about to be taken
        for opt in (self.optimizer, self.optimizer_aud, self.optimizer_audatt):
            set_decayed_lr(opt, step - 1, a.N_iters)
        step_head_optimizers(self, loss, smooth)
        return {"loss": loss.item(), "psnr": mse_to_psnr(img_loss.item()), "lr": lr,
                "occupied": m.occ.occupied_fraction()}

    def checkpoint_payloads(self, step: int) -> dict[str, dict]:
        payload = {"global_step": step, **self.models.state_dicts(),
                   "optimizer_state_dict": self.optimizer.state_dict(),
                   "optimizer_aud_state_dict": self.optimizer_aud.state_dict(),
                   "optimizer_audatt_state_dict": self.optimizer_audatt.state_dict()}
        return {GRID_HEAD: payload}

    def load_payloads(self, ckpts: dict[str, dict], paths: dict[str, Path], with_optimizers: bool) -> None:
        ckpt, path = ckpts[GRID_HEAD], paths[GRID_HEAD]
        self.models.load(ckpt, path)
        if with_optimizers:
            load_head_optimizers(self, ckpt, path)

    @torch.no_grad()
    def render_split(self, split: str, step: int, indices=None):
        m, ds, a = self.models, self.dataset, self.args
        m.eval()
        frames = ds.splits[split]
        codes = sequence_codes(m.audnet, m.attnet, self.auds[split], self.smoothing(step), a.smo_size)
        s = self.settings.for_inference(a.early_stop_T)
        for k in range(len(frames)) if indices is None else indices:
            out = m.render_image(frames.poses[k].to(self.device), codes[k], self.bc_img, ds.focal, ds.cx, ds.cy,
                                 a.near, a.far, s, region=self.render_region("head"))
            yield k, out["rgb_map"], ds.image(split, k).to(self.device)
        m.train()
