"""The grid backend's models (NeRFs/core/models.py's hooks): the head (GridField + OccupancyGrid + the
original AudioNet / AudioAttNet) and the torso (GridField + OccupancyGrid over the torso camera's frustum),
their optimisers (Adam with RAD-NeRF's settings, lr decaying 10x over ``N_iters``), the sparsity loss and
the occupancy updates; ``GridBackend`` plugs them in (NeRFs/core/backends.py)."""
from __future__ import annotations

import argparse
import math
from dataclasses import dataclass

import torch

from NeRFs.core.checkpoint import check_backend, load_module
from NeRFs.core.conditioning import head_cond_dim
from NeRFs.core.models import (Backend, Camera, Model, audio_nets, condition_keys, head_signals, load_audio_nets,
                               load_condition)
from NeRFs.core.networks import AudioAttNet, AudioNet

from .field import GridField, frustum_aabb
from .occupancy import OccupancyGrid
from .options import AUTO_CELL_PX, AUTO_RES_RANGE, GRID_TORSO_MASK_LOSS, add_grid_options
from .render import GridSettings, render_rays_grid, render_rays_grid_chunked


MAX_RES_KEY = "grid_max_res"   # grid checkpoints: the field's finest resolution


def saved_max_res(ckpt: dict) -> int | None:
    """The finest resolution a grid checkpoint was trained at: its record, else (older files) the size of
    its last tri-plane level; None when neither says (an older hash-grid file)."""
    if MAX_RES_KEY in ckpt:
        return int(ckpt[MAX_RES_KEY])
    planes = [k for k in ckpt.get("grid_field_state_dict", {}) if k.startswith("encoding.planes.")]
    if not planes:
        return None
    return int(ckpt["grid_field_state_dict"][max(planes, key=lambda k: int(k.rsplit(".", 1)[1]))].shape[-1])


def saved_cond_planes(ckpt: dict) -> int:
    """The number of conditioned basis planes a grid checkpoint's field has (0: none, all older files)."""
    weight = ckpt.get("grid_field_state_dict", {}).get("cond_basis.weight")
    return 0 if weight is None else int(weight.shape[0])


def saved_field_options(ckpt: dict) -> dict:
    """The GridField options a grid checkpoint's weights fix (those it does not say are left out): its finest
    resolution, whether it is gated, its number of conditioned planes and how many condition entries its bias
    reads (the width of ``sigma_cond``)."""
    state = ckpt.get("grid_field_state_dict", {})
    out = {"cond_gate": "cond_gate.weight" in state, "cond_planes": saved_cond_planes(ckpt)}
    max_res = saved_max_res(ckpt)
    if max_res is not None:
        out["max_res"] = max_res
    if "sigma_cond.weight" in state:
        out["bias_dim"] = int(state["sigma_cond.weight"].shape[1])
    return out


def finest_resolution(args: argparse.Namespace, aabb: torch.Tensor, camera: Camera) -> int:
    """--grid_max_res, or for 'auto' the power of two nearest to the box's largest side in pixels at the
    training cameras' distance from its centre, over AUTO_CELL_PX, within AUTO_RES_RANGE: the same value
    wherever the model is built (training, serving), as it depends on the transforms and the options only."""
    if args.grid_max_res != "auto":
        return int(args.grid_max_res)
    poses = camera.train_poses if camera.train_poses is not None else camera.torso_c2w[None].cpu()
    depth = float((poses[:, :3, 3].float() - aabb.mean(0)).norm(dim=-1).mean())
    span_px = float((aabb[1] - aabb[0]).max()) / max(depth, 1e-6) * camera.focal
    res = 2 ** round(math.log2(max(span_px / AUTO_CELL_PX, 1.0)))
    return int(min(max(res, AUTO_RES_RANGE[0]), AUTO_RES_RANGE[1]))


def build_grid_field(args: argparse.Namespace, aabb: torch.Tensor, cond_dim: int, max_res: int,
                     bias_dim: int | None = None) -> GridField:
    return GridField(aabb, cond_dim, bias_dim=bias_dim, encoding=args.grid_encoding, levels=args.grid_levels,
                     features=args.grid_features, base_res=args.grid_base_res, max_res=max_res,
                     hidden=args.grid_hidden, use_viewdirs=args.use_viewdirs,
                     cond_gate=getattr(args, "grid_cond_gate", False),
                     cond_planes=getattr(args, "grid_cond_planes", 0))


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
    enc = list(field.encoding.parameters()) + (list(field.cond_planes.parameters()) if field.cond_planes else [])
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
class GridModel(Model):
    """A GridField with its OccupancyGrid: what the grid head and torso share."""
    field: GridField
    occ: OccupancyGrid

    def field_state_dicts(self) -> dict:
        return {"backend": "grid", "grid_field_state_dict": self.field.state_dict(),
                "occupancy_state_dict": self.occ.state_dict(), MAX_RES_KEY: self.field.max_res}

    def load_field(self, ckpt: dict, path) -> None:
        """The checkpoint's weights; a field whose shape differs from the file's (another finest resolution,
        ``--grid_max_res auto`` against a file trained at a fixed one; with / without the condition gate or
        planes; the eye and mouth inputs in or out of the bias) is rebuilt once as the file's first, so every
        file loads whatever the options."""
        check_backend(ckpt, path, "grid")
        differs = {k: v for k, v in saved_field_options(ckpt).items() if v != self.field.options[k]}
        if differs:
            self.field = self.field.rebuilt(**differs)
        load_module(self.field, ckpt, "grid_field_state_dict", path)
        load_module(self.occ, ckpt, "occupancy_state_dict", path)

    def set_learning_rate(self, optimizers, step: int, args: argparse.Namespace) -> float:
        for opt in optimizers:
            set_decayed_lr(opt, step, args.N_iters)
        return optimizers[0].param_groups[0]["lr"]

    def regulariser(self, cond: torch.Tensor, args: argparse.Namespace, generator) -> torch.Tensor:
        return args.grid_sparsity * box_sparsity(self.field, cond, SPARSITY_POINTS, generator)

    @torch.no_grad()
    def before_step(self, step: int, args: argparse.Namespace, probe, generator) -> None:
        """Every ``occ_update`` steps: probe the grid with the condition of a random training frame."""
        if not args.occupancy or (step - 1) % max(args.occ_update, 1):
            return
        cond = probe()
        self.occ.update(lambda p: self.field.density(p, cond)[0], generator)

    def occupancy_grids(self) -> list:
        return [self.occ]

    def step_logs(self) -> dict[str, float]:
        return {"occupied": self.occ.occupied_fraction()}

    def render_rays(self, rays_o, rays_d, near, far, bc_rgb, cond, s: GridSettings, generator=None) -> dict:
        """Training render of [R, 3] rays for the condition [C] (see render.render_rays_grid)."""
        return render_rays_grid(self.field, self.occ, rays_o, rays_d, near, far, bc_rgb, cond, s, generator)

    def render_chunked(self, rays_o, rays_d, near, far, bc_rgb, cond, s: GridSettings,
                       keys=("rgb_map", "disp_map", "acc_map")) -> dict:
        return render_rays_grid_chunked(self.field, self.occ, rays_o, rays_d, near, far, bc_rgb, cond, s,
                                        keys=keys)


def grid_parts(args: argparse.Namespace, aabb: torch.Tensor, cond_dim: int, camera: Camera, device,
               bias_dim: int | None = None) -> tuple:
    field = build_grid_field(args, aabb, cond_dim, finest_resolution(args, aabb, camera), bias_dim)
    return field.to(device), build_occupancy(args, aabb).to(device)


def frustum_of(cam: Camera, poses: torch.Tensor) -> torch.Tensor:
    """The box [2, 3] that the frustums of ``poses`` [N, 4, 4] (CPU) span between near and far."""
    return frustum_aabb(poses, cam.H, cam.W, cam.focal, cam.cx, cam.cy, cam.near, cam.far)


@dataclass
class GridHead(GridModel):
    """The grid head: its field and occupancy grid over the training cameras' frustums, AudioNet, AudioAttNet."""
    audnet: AudioNet = None
    attnet: AudioAttNet = None
    eye_condition: bool = False   # the field reads the eye signal (NeRFs/core/conditioning.py)
    mouth_condition: bool = False   # the field reads the mouth signal
    mouth_predictor: dict | None = None   # adnerf.mouth.MouthPredictor.state() of the training audio

    @classmethod
    def build(cls, args: argparse.Namespace, aud_channels: int, camera: Camera, device) -> "GridHead":
        aabb = frustum_of(camera, camera.train_poses)
        # --grid_local_signals: the audio code alone in the bias, the eye and mouth inputs through the planes
        bias_dim = args.dim_aud if getattr(args, "grid_local_signals", False) else None
        return cls(*grid_parts(args, aabb, head_cond_dim(args), camera, device, bias_dim),
                   *audio_nets(args, aud_channels, device), *head_signals(args))

    def state_dicts(self) -> dict:
        return {**self.field_state_dicts(), "network_audnet_state_dict": self.audnet.state_dict(),
                "network_audattnet_state_dict": self.attnet.state_dict(), **condition_keys(self)}

    def load(self, ckpt: dict, path) -> None:
        self.load_field(ckpt, path)
        load_audio_nets(self, ckpt, path)
        load_condition(self, ckpt, path)

    def optimizers(self, args: argparse.Namespace) -> list[torch.optim.Optimizer]:
        net_lr = args.grid_lrate_net
        opts = [torch.optim.Adam(m.parameters(), lr=lr, betas=(0.9, 0.99))
                for m, lr in ((self.audnet, net_lr), (self.attnet, net_lr * 5))]
        for opt, base in zip(opts, (net_lr, net_lr * 5)):
            opt.param_groups[0]["base_lr"] = base
        return [grid_optimizer(self.field, args), *opts]


@dataclass
class GridTorso(GridModel):
    """The grid torso: a field and occupancy grid over the torso camera's frustum."""

    @classmethod
    def build(cls, args: argparse.Namespace, camera: Camera, cond_dim: int, device) -> "GridTorso":
        return cls(*grid_parts(args, frustum_of(camera, camera.torso_c2w[None].cpu()), cond_dim, camera, device))

    def state_dicts(self) -> dict:
        return self.field_state_dicts()

    def load(self, ckpt: dict, path) -> None:
        self.load_field(ckpt, path)

    def optimizers(self, args: argparse.Namespace) -> list[torch.optim.Optimizer]:
        return [grid_optimizer(self.field, args)]


class GridBackend(Backend):
    """``--backend grid``: checkpoints ``{step}_gridhead.tar`` / ``{step}_gridbody.tar`` holding
    ``backend: "grid"``, so neither backend resumes from the other's files."""
    name = "grid"
    head_kind, body_kind = "gridhead", "gridbody"
    Head = GridHead
    Torso = GridTorso
    torso_mask_loss_default = GRID_TORSO_MASK_LOSS
    add_options = staticmethod(add_grid_options)

    @staticmethod
    def render_settings(args: argparse.Namespace) -> GridSettings:
        return GridSettings(samples=args.grid_samples, perturb=args.perturb, white_bkgd=args.white_bkgd,
                            chunk=args.chunk, use_occupancy=args.occupancy, amp=args.amp)
