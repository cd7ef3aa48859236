"""Torso-NeRF: a second FaceNeRF for the torso, seen from a fixed camera, composited under the frozen head.

Per step (as the original): the frozen head renders the frame's rays with its own camera; the torso is
rendered through the same pixels but always from the first training camera, conditioned on the
head's smoothed audio code and the positional encodings (3 frequencies) of the head pose's Euler angles
and translation: the torso does not move rigidly with the head, so the network learns its motion from the
pose it is given rather than from a moving camera. Composite: ``C = C_head * T_torso + C_torso_fg``
(T_torso: the transmittance left behind the torso), trained against com_imgs.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .audio import frame_code, sequence_codes
from .checkpoint import list_checkpoints, load_checkpoint, load_module, load_optimizer, resume_step
from .dataset import AudFaceDataset
from .encoding import PositionalEncoding
from .head import HeadModels, build_field, render_settings
from .rays import rays_at, sample_pixels
from .regions import BODY
from .rendering import render_rays
from .trainer import Trainer
from .utils import UserError, mse_to_psnr

POSE_FREQS = 3  # PE of Euler angles and translation: 3 x (1 + 2 * 3) = 21 channels each


def rot_to_euler(R: torch.Tensor) -> torch.Tensor:
    """The original's angles of a rotation [..., 3, 3]: (atan2(R22, R12), asin(-R02), atan2(R00, -R01)).

    Not a textbook convention, but it is only a conditioning input: keeping it exactly makes original
    torso checkpoints load and behave the same.
    """
    return torch.stack((torch.atan2(R[..., 2, 2], R[..., 1, 2]), torch.asin((-R[..., 0, 2]).clamp(-1, 1)),
                        torch.atan2(R[..., 0, 0], -R[..., 0, 1])), dim=-1)


def pose_condition(c2w: torch.Tensor) -> torch.Tensor:
    """c2w [4, 4] -> [PE3(euler) | PE3(translation)], 42 values."""
    pe = PositionalEncoding(POSE_FREQS).to(c2w.device)
    return torch.cat((pe(rot_to_euler(c2w[:3, :3])), pe(c2w[:3, 3])), dim=-1)


def composite_head_torso(head_rgb: torch.Tensor, torso: dict, suffix: str = "") -> torch.Tensor:
    """C = C_head * T_torso_last + C_torso_fg. head_rgb: [R, 3]; torso: render_rays outputs."""
    return head_rgb * torso[f"trans_last{suffix}"][:, None] + torso[f"rgb_fg_map{suffix}"]


def find_head_checkpoint(args: argparse.Namespace, kind: str = "head") -> Path:
    """--head_ckpt, else the latest *_<kind>.tar in basedir/expname, else in basedir/<id>_head
    (kind 'head' for the MLP backend, 'gridhead' for the grid backend)."""
    if args.head_ckpt:
        return Path(args.head_ckpt)
    folders = [Path(args.basedir) / args.expname]
    if args.expname.endswith("_com"):
        folders.append(Path(args.basedir) / (args.expname[:-4] + "_head"))
    for folder in folders:
        found = list_checkpoints(folder, kind)
        if found:
            return found[-1]
    backend = " with --backend grid" if kind != "head" else ""
    raise UserError(f"no head checkpoint (*_{kind}.tar) in {' or '.join(map(str, folders))}: train the Head-NeRF"
                    f"{backend} first (python NeRFs/HeadNeRF/run_nerf.py --config <datadir>/HeadNeRF_config.txt"
                    f"{' --backend grid' if backend else ''}) or pass --head_ckpt PATH")


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
    asked for is a one-line error, the grid backend's default is turned off with a warning."""
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


class TorsoTrainer(Trainer):
    ckpt_kinds = ("body", "head")  # resume from the latest body; the head file beside it holds the head

    def __init__(self, args: argparse.Namespace, splits: tuple[str, ...] = ("train", "val")):
        super().__init__(args)
        self.dataset = AudFaceDataset(args.datadir, "com_imgs", args.aud_file, args.testskip, splits)
        ds = self.dataset
        check_mask_loss(args, ds)
        self.bc_img = ds.bc_img.to(self.device)
        self.auds = {k: v.auds.to(self.device) for k, v in ds.splits.items()}
        self.head = HeadModels.build(args, ds.aud_channels, self.device)
        self.head_ckpt_path = find_head_checkpoint(args)
        head_ckpt = load_checkpoint(self.head_ckpt_path, self.device)
        self.head.load(head_ckpt, self.head_ckpt_path)
        self.head_step = resume_step(head_ckpt, self.head_ckpt_path)
        self.head.eval()
        for p in self._head_parameters():
            p.requires_grad_(False)
        cond_dim = args.dim_aud + 2 * 3 * (1 + 2 * POSE_FREQS)
        self.coarse = build_field(args, args.netdepth, args.netwidth, cond_dim).to(self.device)
        self.fine = build_field(args, args.netdepth_fine, args.netwidth_fine, cond_dim).to(self.device) \
            if args.N_importance > 0 else None
        params = list(self.coarse.parameters()) + (list(self.fine.parameters()) if self.fine else [])
        self.optimizer = torch.optim.Adam(params, lr=args.lrate, betas=(0.9, 0.999))
        self.settings = render_settings(args)
        first_split = ds.splits["train"] if "train" in ds.splits else next(iter(ds.splits.values()))
        self.torso_c2w = first_split.poses[0].to(self.device)  # the fixed torso camera
        self.smooth = self.head_step > args.nosmo_iters
        tqdm.write(f"[{args.expname}] head from {self.head_ckpt_path} (step {self.head_step}), frozen")

    def _head_parameters(self):
        h = self.head
        for m in (h.coarse, h.fine, h.audnet, h.attnet):
            if m is not None:
                yield from m.parameters()

    # ----- one step -----
    def train_step(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, float]:
        a, ds = self.args, self.dataset
        k, coords, target, bc_rgb, pose, labels = draw_torso_pixels(self, rng)
        with torch.no_grad():  # the frozen head needs no autograd graph
            code = frame_code(self.head.audnet, self.head.attnet, self.auds["train"], k, self.smooth, a.smo_size)
            o, d = rays_at(coords, ds.focal, pose, ds.cx, ds.cy)
            head_rgb = render_rays(self.head.coarse, self.head.fine, o, d, a.near, a.far, bc_rgb, code,
                                   self.settings, gen)["rgb_map"]
        cond = torch.cat((code, pose_condition(pose)))
        o, d = rays_at(coords, ds.focal, self.torso_c2w, ds.cx, ds.cy)
        torso = render_rays(self.coarse, self.fine, o, d, a.near, a.far, torch.zeros_like(bc_rgb), cond,
                            self.settings, gen)
        rgb = composite_head_torso(head_rgb, torso)
        img_loss = F.mse_loss(rgb, target)
        loss = img_loss + a.torso_mask_loss * torso_mask_loss(torso["trans_last"], labels)
        if "rgb0" in torso:  # the coarse network's render is trained too (as the original)
            loss = loss + F.mse_loss(composite_head_torso(head_rgb, torso, "0"), target) \
                + a.torso_mask_loss * torso_mask_loss(torso["trans_last0"], labels)
        lr = a.lrate * 0.1 ** ((step - 1) / (a.lrate_decay * 1000))
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item(), "psnr": mse_to_psnr(img_loss.item()), "lr": lr}

    # ----- checkpoints -----
    def checkpoint_payloads(self, step: int) -> dict[str, dict]:
        body = {"global_step": step, "network_fn_state_dict": self.coarse.network.state_dict(),
                "optimizer_state_dict": self.optimizer.state_dict()}
        if self.fine is not None:
            body["network_fine_state_dict"] = self.fine.network.state_dict()
        return {"body": body, "head": {"global_step": self.head_step, **self.head.state_dicts()}}

    def load_payloads(self, ckpts: dict[str, dict], paths: dict[str, Path], with_optimizers: bool) -> None:
        body, path = ckpts["body"], paths["body"]
        from NeRFs.grid.kinds import check_backend  # a grid checkpoint here: one-line error
        check_backend(body, path, "mlp")
        load_module(self.coarse.network, body, "network_fn_state_dict", path)
        if self.fine is not None:
            load_module(self.fine.network, body, "network_fine_state_dict", path)
        if "head" in ckpts and not self.args.head_ckpt:  # the head saved beside the body (as the original)
            self.head.load(ckpts["head"], paths["head"])
        if with_optimizers and not load_optimizer(self.optimizer, body, "optimizer_state_dict"):
            tqdm.write(f"warning: {path} holds no optimiser state; the optimiser starts fresh")

    # ----- rendering -----
    def talking_head(self):
        """The serving object (serving.py) around this trainer's networks, as they are now."""
        from .serving import Camera, MLPTorso, TalkingHead
        a, ds = self.args, self.dataset
        cam = Camera(ds.H, ds.W, ds.focal, ds.cx, ds.cy, a.near, a.far, self.bc_img, self.torso_c2w)
        return TalkingHead(self.head, MLPTorso(self.coarse, self.fine), cam,
                           self.settings.for_inference(a.early_stop_T, self.device), self.smooth, a.smo_size,
                           self.render_region("head"), self.render_region("person"), self.step)

    @torch.no_grad()
    def render_frame(self, pose: torch.Tensor, code: torch.Tensor, rows: slice = slice(None)) -> torch.Tensor:
        """Head + torso image [H, W, 3] (or a band of ``rows``) for a head pose [4, 4] and a code [dim_aud]."""
        return self.talking_head().render(pose, code, rows)

    def render_split(self, split: str, step: int, indices=None):
        return render_torso_split(self, self.coarse, split, indices)


@torch.no_grad()
def render_torso_split(trainer, torso_net: torch.nn.Module, split: str, indices=None):
    """Yield (index, head + torso render [H, W, 3], com_imgs target [H, W, 3]) for frames of ``split``, with
    the audio codes of the whole split smoothed as when driving; ``torso_net`` is put in eval mode meanwhile.
    Both backends' torso trainers validate this way (``trainer.render_frame`` differs)."""
    frames = trainer.dataset.splits[split]
    codes = sequence_codes(trainer.head.audnet, trainer.head.attnet, trainer.auds[split], trainer.smooth,
                           trainer.args.smo_size)
    torso_net.eval()
    for k in range(len(frames)) if indices is None else indices:
        yield k, trainer.render_frame(frames.poses[k].to(trainer.device), codes[k]), \
            trainer.dataset.image(split, k).to(trainer.device)
    torso_net.train()
