"""A third, trivial backend as a test double: one linear layer from (point, condition) to (colour, density),
a few evenly spaced samples per ray. It plugs in as every backend does: its Backend subclass (models and
kinds) and one entry of NeRFs/core/backends.py's table (tests/NeRFs/test_backends.py adds it)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from NeRFs.core.checkpoint import check_backend, load_module
from NeRFs.core.compositing import composite
from NeRFs.core.conditioning import eye_conditioned, head_cond_dim
from NeRFs.core.models import Backend, Model, audio_nets, condition_keys, load_audio_nets
from NeRFs.core.networks import AudioAttNet, AudioNet
from NeRFs.core.sampling import points_at, ray_depths


@dataclass
class ToySettings:
    samples: int = 6
    perturb: float = 1.0
    inference: bool = False

    def for_inference(self, early_stop_T: float = 1e-4, device=None) -> "ToySettings":
        return replace(self, perturb=0.0, inference=True)


class ToyField(nn.Module):
    def __init__(self, cond_dim: int):
        super().__init__()
        self.linear = nn.Linear(3 + cond_dim, 4)

    def forward(self, pts: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """pts [R, S, 3], cond [C] -> raw [R, S, 4]."""
        return self.linear(torch.cat((pts, cond.expand(*pts.shape[:2], -1)), dim=-1))


@dataclass
class ToyModel(Model):
    field: ToyField

    def render_rays(self, rays_o, rays_d, near, far, bc_rgb, cond, s: ToySettings, generator=None) -> dict:
        z = ray_depths(rays_o.shape[0], near, far, s.samples + 1, False, s.perturb, rays_o, generator)
        return composite(self.field(points_at(rays_o, rays_d, z[:, :-1]), cond), z, rays_d, bc_rgb, False)

    def render_chunked(self, rays_o, rays_d, near, far, bc_rgb, cond, s, keys=("rgb_map", "disp_map", "acc_map")):
        n = 4096  # rays per batch
        outs = [self.render_rays(rays_o[i:i + n], rays_d[i:i + n], near, far, bc_rgb[i:i + n], cond, s)
                for i in range(0, rays_o.shape[0], n)]
        return {k: torch.cat([o[k] for o in outs]) for k in keys}

    def load_field(self, ckpt: dict, path) -> None:
        check_backend(ckpt, path, "toy")
        load_module(self.field, ckpt, "toy_field_state_dict", path)

    def state_dicts(self) -> dict:
        return {"backend": "toy", "toy_field_state_dict": self.field.state_dict()}

    def set_learning_rate(self, optimizers, step: int, args) -> float:
        return args.lrate  # constant

    def optimizers(self, args) -> list[torch.optim.Optimizer]:
        return [torch.optim.Adam(m.parameters(), lr=args.lrate) for m in self.modules()]


@dataclass
class ToyHead(ToyModel):
    audnet: AudioNet = None
    attnet: AudioAttNet = None
    eye_condition: bool = False

    @classmethod
    def build(cls, args, aud_channels: int, camera, device) -> "ToyHead":
        return cls(ToyField(head_cond_dim(args)).to(device), *audio_nets(args, aud_channels, device),
                   eye_conditioned(args))

    def state_dicts(self) -> dict:
        return {**super().state_dicts(), "network_audnet_state_dict": self.audnet.state_dict(),
                "network_audattnet_state_dict": self.attnet.state_dict(), **condition_keys(self)}

    def load(self, ckpt: dict, path) -> None:
        self.load_field(ckpt, path)
        load_audio_nets(self, ckpt, path)


@dataclass
class ToyTorso(ToyModel):
    @classmethod
    def build(cls, args, camera, cond_dim: int, device) -> "ToyTorso":
        return cls(ToyField(cond_dim).to(device))

    def load(self, ckpt: dict, path) -> None:
        self.load_field(ckpt, path)


class ToyBackend(Backend):
    name = "toy"
    head_kind, body_kind = "toyhead", "toybody"
    Head, Torso = ToyHead, ToyTorso

    @staticmethod
    def render_settings(args) -> ToySettings:
        return ToySettings()
