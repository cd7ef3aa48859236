"""The model layer: a backend's head and torso, as the trainers and serving use them (torch-ngp's split of
network -> renderer -> trainer; nerfstudio's model that owns its optimisers, losses and step callbacks).

A backend (``Backend``) names its checkpoint kinds, adds its options, builds its render settings and has a
``Head`` and a ``Torso`` class. The trainers (head.py, torso.py) and serving (serving.py) call only the
hooks below, so they never ask which backend they run; ``backends.py`` is the one table of backends.

Head models have the fields ``audnet``, ``attnet``, ``eye_condition`` and ``mouth_condition`` (whether the
field reads the eye / mouth signal: conditioning.py; built from ``args``, written to the checkpoint by
``condition_keys``) and ``mouth_predictor`` (the MouthPredictor state a mouth-conditioned head drives with,
set by its trainer, read back by ``load``).
Head and torso models share the hooks:

- ``build(args, ..., camera, device)``; ``state_dicts()`` / ``load(ckpt, path)`` (the checkpoint's keys)
- ``optimizers(args)`` (head: field, AudioNet, AudioAttNet, as the checkpoint's three optimiser states;
  torso: one) and ``set_learning_rate(optimizers, step, args)`` (the backend's schedule; returns group 0's)
- ``render_rays`` (training, autograd) and ``render_chunked`` (batches of rays, the renderer its settings
  were made for): o, d, bc [R, 3], cond [C] -> the renderer's outputs
- ``regulariser(cond, args, generator)``: a loss term added to the image loss (0.0: none)
- ``before_step(step, args, probe, generator)``: per-step callback (occupancy updates); ``probe()`` is the
  condition of a random training frame; ``occupancy_grids()``, ``step_logs()``
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass, fields

import torch
from torch import nn

from adnerf.eyes import OPEN_VALUE
from adnerf.mouth import MouthPredictor

from .checkpoint import check_backend, load_module
from .conditioning import (EYE_KEY, MOUTH_KEY, PREDICTOR_KEY, eye_conditioned, head_cond_dim,
                           mouth_conditioned, reads_mouth)
from .networks import AudioAttNet, AudioNet, FaceNeRF
from .rays import get_rays
from .regions import scatter_rays
from .rendering import RadianceField, RenderSettings, render_rays, render_rays_chunked, renderer_for
from .utils import UserError

TORSO_KEYS = ("rgb_fg_map", "trans_last")


@dataclass
class Camera:
    """Image size, intrinsics and depth range; bc_img [H, W, 3] background; torso_c2w [4, 4] the fixed
    camera the torso is rendered from (the first training pose); train_poses [N, 4, 4] (CPU), which bound
    the space a head can be in (the grid backend's box); train_eyes [N] the training frames' eye openness
    and train_mouth [N] their mouth opening (None when the transforms hold none)."""
    H: int
    W: int
    focal: float
    cx: float
    cy: float
    near: float
    far: float
    bc_img: torch.Tensor
    torso_c2w: torch.Tensor
    train_poses: torch.Tensor | None = None
    train_eyes: torch.Tensor | None = None
    train_mouth: torch.Tensor | None = None

    @property
    def open_eye(self) -> float:
        """The open-eye level the head was trained on: the median of ``train_eyes`` (eyes are open most of
        the time), adnerf.eyes.OPEN_VALUE without them."""
        return float(self.train_eyes.median()) if self.train_eyes is not None else OPEN_VALUE

    @property
    def rest_mouth(self) -> float:
        """The mouth opening of a frame without speech to go by: the training frames' median (0: none)."""
        return float(self.train_mouth.median()) if self.train_mouth is not None else 0.0


def render_image(model, pose: torch.Tensor, cond: torch.Tensor, cam: Camera, s, rows: slice = slice(None),
                 region: torch.Tensor | None = None) -> dict:
    """Full-frame render of a head model over bc.jpg (or a band of ``rows``): pose [4, 4] c2w, cond [C] ->
    rgb_map [h, W, 3], disp_map, acc_map [h, W]. ``region`` (bool [H * W], full frames only): query only
    these pixels, the others show bc_img (see regions.py)."""
    rays_o, rays_d = get_rays(cam.H, cam.W, cam.focal, pose, cam.cx, cam.cy)
    rays_o, rays_d, bc = rays_o[rows], rays_d[rows], cam.bc_img[rows]
    o, d, c = rays_o.reshape(-1, 3), rays_d.reshape(-1, 3), bc.reshape(-1, 3)
    if region is not None and rows == slice(None):
        fill = {"rgb_map": c, "disp_map": torch.zeros_like(c[:, 0]), "acc_map": torch.zeros_like(c[:, 0])}
        out = scatter_rays(model.render_chunked(o[region], d[region], cam.near, cam.far, c[region], cond, s),
                           region, fill)
    else:
        out = model.render_chunked(o, d, cam.near, cam.far, c, cond, s)
    return {k: v.reshape(*rays_o.shape[:2], *v.shape[1:]) for k, v in out.items()}


class Model:
    """What every head and torso model shares: its modules (the dataclass fields that are nn.Modules) and
    the hooks' defaults (no regulariser, no step callback)."""

    def modules(self) -> list[nn.Module]:
        return [m for m in (getattr(self, f.name) for f in fields(self)) if isinstance(m, nn.Module)]

    def eval(self) -> None:
        for m in self.modules():
            m.eval()

    def train(self) -> None:
        for m in self.modules():
            m.train()

    def freeze(self) -> None:
        for m in self.modules():
            for p in m.parameters():
                p.requires_grad_(False)

    def regulariser(self, cond: torch.Tensor, args: argparse.Namespace, generator) -> torch.Tensor | float:
        return 0.0

    def before_step(self, step: int, args: argparse.Namespace, probe, generator) -> None:
        pass

    def occupancy_grids(self) -> list:
        return []

    def step_logs(self) -> dict[str, float]:
        return {}


def audio_nets(args: argparse.Namespace, aud_channels: int, device) -> tuple[AudioNet, AudioAttNet]:
    """AudioNet (``aud_channels`` per feature row) and AudioAttNet of a head, on ``device``."""
    return (AudioNet(args.dim_aud, args.win_size, in_channels=aud_channels).to(device),
            AudioAttNet(seq_len=args.smo_size).to(device))


def condition_keys(head) -> dict:
    """What a head checkpoint records of its condition: the eye and mouth flags (and the mouth predictor),
    written only when set, so that an audio-only head's file holds exactly the original's keys."""
    out = {EYE_KEY: True} if head.eye_condition else {}
    if reads_mouth(head):
        if head.mouth_predictor is None:
            raise ValueError("a mouth-conditioned head is saved without its mouth predictor")
        out.update({MOUTH_KEY: True, PREDICTOR_KEY: head.mouth_predictor})
    return out


def head_signals(args: argparse.Namespace) -> tuple[bool, bool, None]:
    """The head fields after the audio nets: eye_condition, mouth_condition, mouth_predictor (set later)."""
    return eye_conditioned(args), mouth_conditioned(args), None


def load_condition(head, ckpt: dict, path) -> None:
    """The checkpoint's mouth predictor onto a mouth-conditioned head (a file without one cannot drive it)."""
    if reads_mouth(head):
        if PREDICTOR_KEY not in ckpt:
            raise UserError(f"{path} is a mouth-conditioned head without its mouth predictor ({PREDICTOR_KEY}); "
                            f"train it again")
        MouthPredictor.from_state(ckpt[PREDICTOR_KEY])  # refuses an incomplete one here, not mid-render
        head.mouth_predictor = ckpt[PREDICTOR_KEY]


def load_audio_nets(head, ckpt: dict, path) -> None:
    load_module(head.audnet, ckpt, "network_audnet_state_dict", path)
    if "network_audattnet_state_dict" in ckpt:  # very old checkpoints lack it
        load_module(head.attnet, ckpt, "network_audattnet_state_dict", path)


# ----- the MLP backend (AD-NeRF's networks) -----
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


def adam(params, lr: float) -> torch.optim.Adam:
    return torch.optim.Adam(params, lr=lr, betas=(0.9, 0.999))


@dataclass
class CoarseFine(Model):
    """The MLP backend's pair of fields: coarse and (with ``N_importance`` > 0) fine, in the original's keys."""
    coarse: RadianceField
    fine: RadianceField | None
    LR_SCALES = (1,)  # learning rate of each optimiser, times --lrate

    @staticmethod
    def fields_of(args: argparse.Namespace, cond_dim: int, device) -> tuple:
        coarse = build_field(args, args.netdepth, args.netwidth, cond_dim).to(device)
        fine = build_field(args, args.netdepth_fine, args.netwidth_fine, cond_dim).to(device) \
            if args.N_importance > 0 else None
        return coarse, fine

    def field_state_dicts(self) -> dict:
        out = {"network_fn_state_dict": self.coarse.network.state_dict()}
        if self.fine is not None:
            out["network_fine_state_dict"] = self.fine.network.state_dict()
        return out

    def load_fields(self, ckpt: dict, path) -> None:
        check_backend(ckpt, path, "mlp")
        load_module(self.coarse.network, ckpt, "network_fn_state_dict", path)
        if self.fine is not None:
            load_module(self.fine.network, ckpt, "network_fine_state_dict", path)

    def field_parameters(self) -> list:
        return list(self.coarse.parameters()) + (list(self.fine.parameters()) if self.fine is not None else [])

    def set_learning_rate(self, optimizers, step: int, args: argparse.Namespace) -> float:
        """lr = lrate * 0.1^(step / (lrate_decay * 1000)), times LR_SCALES (the original's schedule)."""
        lr = args.lrate * 0.1 ** (step / (args.lrate_decay * 1000))
        for opt, scale in zip(optimizers, self.LR_SCALES):
            for group in opt.param_groups:
                group["lr"] = lr * scale
        return optimizers[0].param_groups[0]["lr"]

    def render_rays(self, rays_o, rays_d, near, far, bc_rgb, cond, s: RenderSettings, generator=None) -> dict:
        return render_rays(self.coarse, self.fine, rays_o, rays_d, near, far, bc_rgb, cond, s, generator)

    def render_chunked(self, rays_o, rays_d, near, far, bc_rgb, cond, s: RenderSettings,
                       keys=("rgb_map", "disp_map", "acc_map")) -> dict:
        return render_rays_chunked(self.coarse, self.fine, rays_o, rays_d, near, far, bc_rgb, cond, s, keys=keys,
                                   renderer=renderer_for(s))


@dataclass
class MLPHead(CoarseFine):
    """AD-NeRF's head: coarse + fine FaceNeRF on the audio code, AudioNet, AudioAttNet."""
    audnet: AudioNet = None
    attnet: AudioAttNet = None
    eye_condition: bool = False   # the field reads the eye signal (conditioning.py)
    mouth_condition: bool = False   # the field reads the mouth signal
    mouth_predictor: dict | None = None   # adnerf.mouth.MouthPredictor.state() of the training audio
    LR_SCALES = (1, 1, 5)  # field, AudioNet, AudioAttNet (5x, as the original)

    @classmethod
    def build(cls, args: argparse.Namespace, aud_channels: int, camera: Camera | None, device) -> "MLPHead":
        coarse, fine = cls.fields_of(args, head_cond_dim(args), device)
        return cls(coarse, fine, *audio_nets(args, aud_channels, device), *head_signals(args))

    def state_dicts(self) -> dict:
        out = self.field_state_dicts()
        fine = out.pop("network_fine_state_dict", None)
        out.update(network_audnet_state_dict=self.audnet.state_dict(),
                   network_audattnet_state_dict=self.attnet.state_dict())
        if fine is not None:
            out["network_fine_state_dict"] = fine
        return {**out, **condition_keys(self)}

    def load(self, ckpt: dict, path) -> None:
        self.load_fields(ckpt, path)
        load_audio_nets(self, ckpt, path)
        load_condition(self, ckpt, path)

    def optimizers(self, args: argparse.Namespace) -> list[torch.optim.Optimizer]:
        return [adam(self.field_parameters(), args.lrate), adam(self.audnet.parameters(), args.lrate),
                adam(self.attnet.parameters(), args.lrate * 5)]


@dataclass
class MLPTorso(CoarseFine):
    """AD-NeRF's torso: coarse + fine FaceNeRF on the head's condition and the encoded head pose."""

    @classmethod
    def build(cls, args: argparse.Namespace, camera: Camera | None, cond_dim: int, device) -> "MLPTorso":
        return cls(*cls.fields_of(args, cond_dim, device))

    def state_dicts(self) -> dict:
        return self.field_state_dicts()

    def load(self, ckpt: dict, path) -> None:
        self.load_fields(ckpt, path)

    def optimizers(self, args: argparse.Namespace) -> list[torch.optim.Optimizer]:
        return [adam(self.field_parameters(), args.lrate)]


class Backend:
    """A backend: its name, checkpoint kinds (``{step}_{kind}.tar``), options, render settings, models.
    ``render_settings(args)`` builds the training settings; their ``for_inference(early_stop_T, device)``
    the display ones."""
    name = "mlp"
    head_kind, body_kind = "head", "body"
    Head: type = MLPHead
    Torso: type = MLPTorso
    torso_mask_loss_default = 0.0  # the original's: off
    render_settings = staticmethod(render_settings)

    @staticmethod
    def add_options(parser) -> None:
        """The backend's own command-line options (the MLP's are the original's, in config.py)."""
