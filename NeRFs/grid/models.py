"""The grid backend's head: GridField + OccupancyGrid + the original AudioNet / AudioAttNet."""
from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch

from NeRFs.core.checkpoint import load_module
from NeRFs.core.networks import AudioAttNet, AudioNet
from NeRFs.core.rays import get_rays
from NeRFs.core.regions import scatter_rays

from .field import GridField
from .kinds import check_backend
from .occupancy import OccupancyGrid
from .render import GridSettings, render_rays_grid, render_rays_grid_chunked


def grid_settings(args: argparse.Namespace) -> GridSettings:
    return GridSettings(samples=args.grid_samples, perturb=args.perturb, white_bkgd=args.white_bkgd,
                        chunk=args.chunk, use_occupancy=args.occupancy, amp=args.amp)


def build_grid_field(args: argparse.Namespace, aabb: torch.Tensor, cond_dim: int) -> GridField:
    return GridField(aabb, cond_dim, encoding=args.grid_encoding, levels=args.grid_levels,
                     features=args.grid_features, base_res=args.grid_base_res, max_res=args.grid_max_res,
                     hidden=args.grid_hidden, use_viewdirs=args.use_viewdirs)


def build_occupancy(args: argparse.Namespace, aabb: torch.Tensor) -> OccupancyGrid:
    return OccupancyGrid(aabb, args.occ_res, args.occ_thresh)


def fused_adam(module: torch.nn.Module) -> dict:
    """{'fused': True} where PyTorch has a fused Adam for the module's device (one kernel for all the
    grid's parameters instead of a dozen elementwise passes), else {}."""
    dev = next(module.parameters()).device.type
    return {"fused": True} if dev in ("cpu", "cuda") else {}


def grid_optimizer(field: GridField, args: argparse.Namespace) -> torch.optim.Optimizer:
    """Adam with the encoding at ``grid_lrate`` and the MLPs at ``grid_lrate_net`` (group 0 / 1); eps 1e-15
    as instant-ngp (the grid's rarely-touched entries get tiny second moments)."""
    enc = list(field.encoding.parameters())
    ids = {id(p) for p in enc}
    net = [p for p in field.parameters() if id(p) not in ids]
    return torch.optim.Adam([{"params": enc, "lr": args.grid_lrate, "base_lr": args.grid_lrate},
                             {"params": net, "lr": args.grid_lrate_net, "base_lr": args.grid_lrate_net}],
                            betas=(0.9, 0.99), eps=1e-15, **fused_adam(field))


def sparsity_loss(density: torch.Tensor) -> torch.Tensor:
    """Mean of log(1 + 2 density^2) over samples [K] (SNeRG's Cauchy prior): pulls small densities (empty
    space) to zero and barely touches large ones (its gradient falls as 1 / density)."""
    if density.numel() == 0:
        return density.sum()
    return torch.log1p(2 * density.float() ** 2).mean()


SPARSITY_POINTS = 4096  # random points of the box per step for the sparsity loss


def box_sparsity(field, cond: torch.Tensor, n: int, generator: torch.Generator | None) -> torch.Tensor:
    """``sparsity_loss`` at n uniformly random points of the field's box (cond [C]): it reaches the cells
    that the occupancy grid skips (which no ray sample queries), so skipped space keeps falling to zero
    density and skipping it stays invisible (tests/NeRFs/test_grid_backend.py)."""
    lo, hi = field.aabb[0], field.aabb[1]
    pts = lo + torch.rand(n, 3, device=lo.device, generator=generator) * (hi - lo)
    return sparsity_loss(field.density(pts, cond)[0])


def set_decayed_lr(optimizer: torch.optim.Optimizer, step: int, n_iters: int) -> float:
    """lr = base_lr * 0.1^(step / N_iters) for every group (RAD-NeRF's schedule); returns group 0's."""
    factor = 0.1 ** (step / max(n_iters, 1))
    for g in optimizer.param_groups:
        g["lr"] = g["base_lr"] * factor
    return optimizer.param_groups[0]["lr"]


@dataclass
class GridHeadModels:
    field: GridField
    occ: OccupancyGrid
    audnet: AudioNet
    attnet: AudioAttNet

    @classmethod
    def build(cls, args: argparse.Namespace, aud_channels: int, aabb: torch.Tensor,
              device: torch.device) -> "GridHeadModels":
        return cls(build_grid_field(args, aabb, args.dim_aud).to(device), build_occupancy(args, aabb).to(device),
                   AudioNet(args.dim_aud, args.win_size, in_channels=aud_channels).to(device),
                   AudioAttNet(seq_len=args.smo_size).to(device))

    def modules(self):
        return (self.field, self.occ, self.audnet, self.attnet)

    def state_dicts(self) -> dict:
        return {"backend": "grid", "grid_field_state_dict": self.field.state_dict(),
                "occupancy_state_dict": self.occ.state_dict(),
                "network_audnet_state_dict": self.audnet.state_dict(),
                "network_audattnet_state_dict": self.attnet.state_dict()}

    def load(self, ckpt: dict, path) -> None:
        check_backend(ckpt, path, "grid")
        load_module(self.field, ckpt, "grid_field_state_dict", path)
        load_module(self.occ, ckpt, "occupancy_state_dict", path)
        load_module(self.audnet, ckpt, "network_audnet_state_dict", path)
        load_module(self.attnet, ckpt, "network_audattnet_state_dict", path)

    def eval(self) -> None:
        for m in self.modules():
            m.eval()

    def train(self) -> None:
        for m in self.modules():
            m.train()

    def render_rays(self, rays_o, rays_d, near, far, bc_rgb, code, s: GridSettings, generator=None) -> dict:
        """Training render of [R, 3] rays for the audio code [dim_aud] (see render.render_rays_grid)."""
        return render_rays_grid(self.field, self.occ, rays_o, rays_d, near, far, bc_rgb, code, s, generator)

    def render_image(self, pose: torch.Tensor, code: torch.Tensor, bc_img: torch.Tensor, focal: float,
                     cx: float, cy: float, near: float, far: float, s: GridSettings, rows: slice = slice(None),
                     region: torch.Tensor | None = None) -> dict:
        """As HeadModels.render_image: pose [4, 4], code [dim_aud], bc_img [H, W, 3] -> rgb_map [h, W, 3],
        disp_map, acc_map [h, W]; ``region`` (bool [H * W]) renders only those pixels (regions.py)."""
        rays_o, rays_d = get_rays(bc_img.shape[0], bc_img.shape[1], focal, pose, cx, cy)
        rays_o, rays_d, bc = rays_o[rows], rays_d[rows], bc_img[rows]
        o, d, c = rays_o.reshape(-1, 3), rays_d.reshape(-1, 3), bc.reshape(-1, 3)
        if region is not None and rows == slice(None):
            fill = {"rgb_map": c, "disp_map": torch.zeros_like(c[:, 0]), "acc_map": torch.zeros_like(c[:, 0])}
            out = scatter_rays(render_rays_grid_chunked(self.field, self.occ, o[region], d[region], near, far,
                                                        c[region], code, s), region, fill)
        else:
            out = render_rays_grid_chunked(self.field, self.occ, o, d, near, far, c, code, s)
        return {k: v.reshape(*rays_o.shape[:2], *v.shape[1:]) for k, v in out.items()}
