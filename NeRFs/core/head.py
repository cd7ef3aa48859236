"""Head-NeRF: the audio-conditioned NeRF of the head, trained on head_imgs against the background bc.jpg."""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .audio import frame_code
from .checkpoint import AUDATT_OPTIMIZER_KEYS, load_module, load_optimizer
from .dataset import AudFaceDataset
from .networks import AudioAttNet, AudioNet, FaceNeRF
from .rays import get_rays, rays_at, sample_pixels
from .regions import scatter_rays
from .rendering import RadianceField, RenderSettings, render_rays, render_rays_chunked, renderer_for
from .trainer import Trainer
from .utils import mse_to_psnr


def render_settings(args: argparse.Namespace) -> RenderSettings:
    return RenderSettings(N_samples=args.N_samples, N_importance=args.N_importance, perturb=args.perturb,
                          lindisp=args.lindisp, raw_noise_std=args.raw_noise_std, white_bkgd=args.white_bkgd,
                          chunk=args.chunk, netchunk=args.netchunk, amp=args.amp)


def build_field(args: argparse.Namespace, depth: int, width: int, cond_dim: int) -> RadianceField:
    """A RadianceField whose FaceNeRF starts with a positive density (see FaceNeRF.init_density_positive)."""
    in_pts = 3 if args.i_embed == -1 else 3 * (1 + 2 * args.multires)
    in_views = 3 if args.i_embed == -1 else 3 * (1 + 2 * args.multires_views)
    net = FaceNeRF(D=depth, W=width, input_ch=in_pts, dim_aud=cond_dim, input_ch_views=in_views,
                   use_viewdirs=args.use_viewdirs)
    net.init_density_positive()
    return RadianceField(net, args.multires, args.multires_views, args.i_embed)


def draw_head_rays(trainer, models, step: int, rng: np.random.Generator):
    """The rays of one head training step, drawn as the original draws them: one random training image,
    ``N_rand`` pixels of it (``sample_rate`` of them inside its face rectangle).

    Returns rays_o, rays_d, target, bc_rgb [N_rand, 3], the frame's audio code [dim_aud] (``models.audnet``,
    smoothed by ``models.attnet`` after ``nosmo_iters``) and whether smoothing is on. Shared by both backends
    so that they see the same rays for the same (seed, step)."""
    a, ds, dev = trainer.args, trainer.dataset, trainer.device
    train = ds.splits["train"]
    k = int(rng.integers(len(train)))
    target_img = ds.image("train", k).to(dev)
    coords = torch.from_numpy(sample_pixels(a.N_rand, ds.H, ds.W, rng, train.rects[k], a.sample_rate)).to(dev)
    rays_o, rays_d = rays_at(coords, ds.focal, train.poses[k].to(dev), ds.cx, ds.cy)
    target = target_img[coords[:, 0], coords[:, 1]]
    bc_rgb = trainer.bc_img[coords[:, 0], coords[:, 1]]
    smooth = trainer.smoothing(step)
    code = frame_code(models.audnet, models.attnet, trainer.auds["train"], k, smooth, a.smo_size)
    return rays_o, rays_d, target, bc_rgb, code, smooth


def step_head_optimizers(trainer, loss: torch.Tensor, smooth: bool) -> None:
    """Backpropagate ``loss`` and step the field's and AudioNet's optimisers; AudioAttNet's only while
    smoothing is on (before that it gets no gradient, as in the original)."""
    for opt in (trainer.optimizer, trainer.optimizer_aud, trainer.optimizer_audatt):
        opt.zero_grad(set_to_none=True)
    loss.backward()
    trainer.optimizer.step()
    trainer.optimizer_aud.step()
    if smooth:
        trainer.optimizer_audatt.step()


def load_head_optimizers(trainer, ckpt: dict, path: Path) -> None:
    """Restore the three Adam states of a head checkpoint; a checkpoint whose optimiser state does not fit
    (e.g. of a coarse-only run) is used for its weights only, and the optimisers start fresh."""
    try:
        load_optimizer(trainer.optimizer, ckpt, "optimizer_state_dict")
        load_optimizer(trainer.optimizer_aud, ckpt, "optimizer_aud_state_dict")
        load_optimizer(trainer.optimizer_audatt, ckpt, AUDATT_OPTIMIZER_KEYS)
    except (ValueError, KeyError) as exc:
        tqdm.write(f"warning: optimiser state of {path} not loaded ({exc}); optimisers start fresh")


@dataclass
class HeadModels:
    coarse: RadianceField
    fine: RadianceField | None
    audnet: AudioNet
    attnet: AudioAttNet

    @classmethod
    def build(cls, args: argparse.Namespace, aud_channels: int, device: torch.device) -> "HeadModels":
        coarse = build_field(args, args.netdepth, args.netwidth, args.dim_aud).to(device)
        fine = build_field(args, args.netdepth_fine, args.netwidth_fine, args.dim_aud).to(device) \
            if args.N_importance > 0 else None
        audnet = AudioNet(args.dim_aud, args.win_size, in_channels=aud_channels).to(device)
        attnet = AudioAttNet(seq_len=args.smo_size).to(device)
        return cls(coarse, fine, audnet, attnet)

    def state_dicts(self) -> dict:
        out = {"network_fn_state_dict": self.coarse.network.state_dict(),
               "network_audnet_state_dict": self.audnet.state_dict(),
               "network_audattnet_state_dict": self.attnet.state_dict()}
        if self.fine is not None:
            out["network_fine_state_dict"] = self.fine.network.state_dict()
        return out

    def load(self, ckpt: dict, path) -> None:
        from NeRFs.grid.kinds import check_backend  # a grid checkpoint here: one-line error
        check_backend(ckpt, path, "mlp")
        load_module(self.coarse.network, ckpt, "network_fn_state_dict", path)
        if self.fine is not None:
            load_module(self.fine.network, ckpt, "network_fine_state_dict", path)
        load_module(self.audnet, ckpt, "network_audnet_state_dict", path)
        if "network_audattnet_state_dict" in ckpt:  # very old checkpoints lack it
            load_module(self.attnet, ckpt, "network_audattnet_state_dict", path)

    def eval(self) -> None:
        for m in (self.coarse, self.fine, self.audnet, self.attnet):
            if m is not None:
                m.eval()

    def render_image(self, pose: torch.Tensor, code: torch.Tensor, bc_img: torch.Tensor, focal: float,
                     cx: float, cy: float, near: float, far: float, s: RenderSettings, rows: slice = slice(None),
                     region: torch.Tensor | None = None) -> dict:
        """Full-frame render (or a band of ``rows``): pose [4, 4] c2w, code [dim_aud], bc_img [H, W, 3]
        -> rgb_map [h, W, 3], disp_map, acc_map [h, W]; the renderer ``s`` was made for (``renderer_for``). ``region`` (bool [H * W], full frames only): query
        only these pixels, the others show bc_img (see regions.py)."""
        H, W = bc_img.shape[:2]
        rays_o, rays_d = get_rays(H, W, focal, pose, cx, cy)
        rays_o, rays_d, bc = rays_o[rows], rays_d[rows], bc_img[rows]
        o, d, c = rays_o.reshape(-1, 3), rays_d.reshape(-1, 3), bc.reshape(-1, 3)
        if region is not None and rows == slice(None):
            fill = {"rgb_map": c, "disp_map": torch.zeros_like(c[:, 0]), "acc_map": torch.zeros_like(c[:, 0])}
            out = scatter_rays(render_rays_chunked(self.coarse, self.fine, o[region], d[region], near, far,
                                                   c[region], code, s, renderer=renderer_for(s)), region, fill)
        else:
            out = render_rays_chunked(self.coarse, self.fine, o, d, near, far, c, code, s, renderer=renderer_for(s))
        return {k: v.reshape(*rays_o.shape[:2], *v.shape[1:]) for k, v in out.items()}


class HeadTrainer(Trainer):
    ckpt_kinds = ("head",)

    def __init__(self, args: argparse.Namespace):
        super().__init__(args)
        if not args.no_batching:
            tqdm.write("warning: --no-no_batching (rays mixed across images) is not supported for audface data; "
                       "rays come from one image per step, as in the original")
        self.dataset = AudFaceDataset(args.datadir, "head_imgs", args.aud_file, args.testskip)
        self.bc_img = self.dataset.bc_img.to(self.device)
        self.auds = {k: v.auds.to(self.device) for k, v in self.dataset.splits.items()}
        self.models = HeadModels.build(args, self.dataset.aud_channels, self.device)
        m = self.models
        nerf_params = list(m.coarse.parameters()) + (list(m.fine.parameters()) if m.fine is not None else [])
        self.optimizer = torch.optim.Adam(nerf_params, lr=args.lrate, betas=(0.9, 0.999))
        self.optimizer_aud = torch.optim.Adam(m.audnet.parameters(), lr=args.lrate, betas=(0.9, 0.999))
        self.optimizer_audatt = torch.optim.Adam(m.attnet.parameters(), lr=args.lrate * 5, betas=(0.9, 0.999))
        self.settings = render_settings(args)

    def smoothing(self, step: int) -> bool:
        return step > self.args.nosmo_iters

    def set_learning_rate(self, step: int) -> None:
        lr = self.args.lrate * 0.1 ** (step / (self.args.lrate_decay * 1000))
        for opt, scale in ((self.optimizer, 1), (self.optimizer_aud, 1), (self.optimizer_audatt, 5)):
            for group in opt.param_groups:
                group["lr"] = lr * scale

    def train_step(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, float]:
        a = self.args
        rays_o, rays_d, target, bc_rgb, code, smooth = draw_head_rays(self, self.models, step, rng)
        out = render_rays(self.models.coarse, self.models.fine, rays_o, rays_d, a.near, a.far, bc_rgb, code,
                          self.settings, gen)
        img_loss = F.mse_loss(out["rgb_map"], target)
        loss = img_loss + (F.mse_loss(out["rgb0"], target) if "rgb0" in out else 0.0)
        self.set_learning_rate(step - 1)  # lr of the step about to be taken, as the original's schedule
        step_head_optimizers(self, loss, smooth)
        return {"loss": loss.item(), "psnr": mse_to_psnr(img_loss.item()),
                "lr": self.optimizer.param_groups[0]["lr"]}

    def checkpoint_payloads(self, step: int) -> dict[str, dict]:
        payload = {"global_step": step, **self.models.state_dicts(),
                   "optimizer_state_dict": self.optimizer.state_dict(),
                   "optimizer_aud_state_dict": self.optimizer_aud.state_dict(),
                   "optimizer_audatt_state_dict": self.optimizer_audatt.state_dict()}
        return {"head": payload}

    def load_payloads(self, ckpts: dict[str, dict], paths: dict[str, Path], with_optimizers: bool) -> None:
        ckpt, path = ckpts["head"], paths["head"]
        self.models.load(ckpt, path)
        if with_optimizers:
            load_head_optimizers(self, ckpt, path)

    def head_renderer(self, step: int):
        """The serving object (serving.py) around this trainer's networks, as they are at ``step``."""
        from .serving import Camera, HeadRenderer
        ds, a = self.dataset, self.args
        cam = Camera(ds.H, ds.W, ds.focal, ds.cx, ds.cy, a.near, a.far, self.bc_img,
                     ds.splits["train"].poses[0].to(self.device))
        return HeadRenderer(self.models, cam, self.settings.for_inference(a.early_stop_T, self.device),
                            self.smoothing(step), a.smo_size, self.render_region("head"), step)

    @torch.no_grad()
    def render_split(self, split: str, step: int, indices=None):
        self.models.eval()
        frames = self.dataset.splits[split]
        renderer = self.head_renderer(step)
        codes = renderer.codes(self.auds[split])
        for k in range(len(frames)) if indices is None else indices:
            yield k, renderer.render(frames.poses[k], codes[k]), self.dataset.image(split, k).to(self.device)
        for m in (self.models.coarse, self.models.fine, self.models.audnet, self.models.attnet):
            if m is not None:
                m.train()
