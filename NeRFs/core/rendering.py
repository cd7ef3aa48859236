"""Volume rendering of AD-NeRF: coarse + fine passes, background as the last sample.

The last depth sample of every ray sits at ``far``; its colour is the bc.jpg pixel and its interval is
1e10, so its opacity is exactly 1 in float32 and the network's output there never matters (trap 3).
This module therefore never queries the network at that sample: same pixels, same gradients, less work.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .encoding import get_embedder
from .networks import FaceNeRF
from .sampling import sample_pdf, stratified_depths


@dataclass
class RenderSettings:
    """Sampling and compositing options (names of the original's command line)."""
    N_samples: int = 64
    N_importance: int = 128
    perturb: float = 1.0
    lindisp: bool = False
    raw_noise_std: float = 0.0
    white_bkgd: bool = True
    chunk: int = 1024 * 32  # rays per batch
    netchunk: int = 1024 * 64  # points per network call
    early_stop_T: float = 0.0  # > 0: inference skips samples behind transmittance below this (1e-4)
    amp: bool = False  # float16 network queries on CUDA

    def for_inference(self, early_stop_T: float = 1e-4) -> "RenderSettings":
        return RenderSettings(**{**self.__dict__, "perturb": 0.0, "raw_noise_std": 0.0,
                                 "early_stop_T": early_stop_T, "chunk": max(self.chunk, 1024 * 64)})


class RadianceField(nn.Module):
    """Positional encodings + FaceNeRF: raw outputs at 3D points for one condition vector."""

    def __init__(self, network: FaceNeRF, multires: int = 10, multires_views: int = 4, i_embed: int = 0):
        super().__init__()
        self.network = network
        self.embed = get_embedder(multires, 3, i_embed)
        self.embed_dirs = get_embedder(multires_views, 3, i_embed) if network.use_viewdirs else None

    def forward(self, pts: torch.Tensor, viewdirs: torch.Tensor | None, cond: torch.Tensor,
                netchunk: int = 1024 * 64, amp: bool = False) -> torch.Tensor:
        """pts: [R, S, 3], viewdirs: [R, 3] (unit), cond: [C] -> raw [R, S, 4]."""
        R, S = pts.shape[:2]
        x = self.embed(pts.reshape(-1, 3))
        d = None
        if self.embed_dirs is not None:
            d = self.embed_dirs(viewdirs)[:, None, :].expand(R, S, -1).reshape(R * S, -1)
        use_amp = amp and pts.is_cuda
        ctx = torch.autocast("cuda", dtype=torch.float16) if use_amp else contextlib.nullcontext()
        with ctx:
            outs = [self.network(x[i:i + netchunk], cond, None if d is None else d[i:i + netchunk])
                    for i in range(0, R * S, netchunk)]
        return torch.cat(outs, dim=0).float().reshape(R, S, -1)


def _alpha(sigma_raw: torch.Tensor, dists: torch.Tensor, noise_std: float, generator) -> torch.Tensor:
    if noise_std > 0:
        sigma_raw = sigma_raw + noise_std * torch.randn(sigma_raw.shape, device=sigma_raw.device,
                                                        dtype=sigma_raw.dtype, generator=generator)
    return 1.0 - torch.exp(-(F.relu(sigma_raw) + 1e-6) * dists)


def _finish(rgb_fg_map, depth_fg, acc_fg, trans_last, z_far, bc_rgb, white_bkgd) -> dict:
    """Add the opaque background sample (weight = transmittance reaching it) to the foreground sums."""
    rgb_map = rgb_fg_map + trans_last[:, None] * bc_rgb
    acc = acc_fg + trans_last
    depth = depth_fg + trans_last * z_far
    disp = 1.0 / torch.maximum(1e-10 * torch.ones_like(depth), depth / acc)
    if white_bkgd:
        rgb_map = rgb_map + (1.0 - acc[:, None])
    return {"rgb_map": rgb_map, "disp_map": disp, "acc_map": acc, "depth_map": depth,
            "rgb_fg_map": rgb_fg_map, "trans_last": trans_last}


def composite(raw_fg: torch.Tensor, z: torch.Tensor, rays_d: torch.Tensor, bc_rgb: torch.Tensor,
              white_bkgd: bool = True, raw_noise_std: float = 0.0, generator=None) -> dict:
    """Alpha compositing of S-1 network samples plus the background sample.

    raw_fg: [R, S-1, 4], z: [R, S] (z[:, -1] = far), rays_d: [R, 3], bc_rgb: [R, 3].
    Returns rgb_map [R, 3], disp/acc/depth [R], weights [R, S], rgb_fg_map [R, 3] (foreground only) and
    trans_last [R] (transmittance reaching the background; the torso composite uses both).
    """
    dists = (z[:, 1:] - z[:, :-1]) * torch.linalg.norm(rays_d, dim=-1, keepdim=True)  # [R, S-1]
    alpha = _alpha(raw_fg[..., 3], dists, raw_noise_std, generator)
    ones = torch.ones_like(alpha[:, :1])
    trans = torch.cumprod(torch.cat((ones, 1.0 - alpha + 1e-10), dim=-1), dim=-1)  # [R, S]
    w_fg = alpha * trans[:, :-1]
    rgb_fg_map = (w_fg[..., None] * torch.sigmoid(raw_fg[..., :3])).sum(dim=1)
    out = _finish(rgb_fg_map, (w_fg * z[:, :-1]).sum(-1), w_fg.sum(-1), trans[:, -1], z[:, -1], bc_rgb, white_bkgd)
    out["weights"] = torch.cat((w_fg, trans[:, -1:]), dim=-1)
    return out


def composite_early_stop(field: RadianceField, pts: torch.Tensor, z: torch.Tensor, rays_d: torch.Tensor,
                         viewdirs, cond, bc_rgb, s: RenderSettings, segment: int = 32) -> dict:
    """Inference-only ``composite`` that queries the network segment by segment along the rays and stops
    a ray once its transmittance is below ``s.early_stop_T``: the skipped samples could add at most that
    much (< 1/255) to the pixel. pts: [R, S, 3] with S-1 network samples. Returns the ``composite`` keys
    without ``weights``.
    """
    R, S = z.shape
    dists = (z[:, 1:] - z[:, :-1]) * torch.linalg.norm(rays_d, dim=-1, keepdim=True)
    T = torch.ones(R, device=z.device, dtype=z.dtype)
    rgb, depth, acc = torch.zeros(R, 3, device=z.device), torch.zeros(R, device=z.device), torch.zeros(R, device=z.device)
    for s0 in range(0, S - 1, segment):
        active = torch.nonzero(T > s.early_stop_T).squeeze(-1)
        if active.numel() == 0:
            break
        seg = slice(s0, min(s0 + segment, S - 1))
        raw = field(pts[active, seg], None if viewdirs is None else viewdirs[active], cond, s.netchunk, s.amp)
        alpha = _alpha(raw[..., 3], dists[active, seg], 0.0, None)
        trans = T[active, None] * torch.cumprod(torch.cat((torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10), -1), -1)
        w = alpha * trans[:, :-1]
        rgb.index_add_(0, active, (w[..., None] * torch.sigmoid(raw[..., :3])).sum(1))
        depth.index_add_(0, active, (w * z[active, seg]).sum(-1))
        acc.index_add_(0, active, w.sum(-1))
        T[active] = trans[:, -1]
    return _finish(rgb, depth, acc, T, z[:, -1], bc_rgb, s.white_bkgd)


def render_rays(coarse: RadianceField, fine: RadianceField | None, rays_o: torch.Tensor, rays_d: torch.Tensor,
                near: float, far: float, bc_rgb: torch.Tensor, cond: torch.Tensor, s: RenderSettings,
                generator: torch.Generator | None = None) -> dict:
    """Render a batch of rays. rays_o, rays_d, bc_rgb: [R, 3]; cond: [C].

    Returns the fine pass's outputs (``rgb_map`` [R, 3], ...) and the coarse ones with suffix ``0``
    (``rgb0``, ``disp0``, ``acc0`` as the original named them, and ``rgb_fg_map0``, ``trans_last0``).
    """
    R = rays_o.shape[0]
    viewdirs = rays_d / torch.linalg.norm(rays_d, dim=-1, keepdim=True) if coarse.embed_dirs is not None else None
    near_t = torch.full((R,), float(near), device=rays_o.device, dtype=rays_o.dtype)
    far_t = torch.full((R,), float(far), device=rays_o.device, dtype=rays_o.dtype)
    z = stratified_depths(near_t, far_t, s.N_samples, s.lindisp, s.perturb, generator)
    pts = rays_o[:, None, :] + rays_d[:, None, :] * z[..., None]
    raw = coarse(pts[:, :-1], viewdirs, cond, s.netchunk, s.amp)
    out = composite(raw, z, rays_d, bc_rgb, s.white_bkgd, s.raw_noise_std, generator)
    if s.N_importance <= 0:
        return out
    z_mid = 0.5 * (z[:, 1:] + z[:, :-1])
    z_new = sample_pdf(z_mid, out["weights"][:, 1:-1], s.N_importance, s.perturb == 0, generator).detach()
    z_all, _ = torch.sort(torch.cat((z, z_new), dim=-1), dim=-1)
    pts = rays_o[:, None, :] + rays_d[:, None, :] * z_all[..., None]
    field = fine if fine is not None else coarse
    if s.early_stop_T > 0 and not torch.is_grad_enabled():
        out_f = composite_early_stop(field, pts, z_all, rays_d, viewdirs, cond, bc_rgb, s)
    else:
        raw_f = field(pts[:, :-1], viewdirs, cond, s.netchunk, s.amp)
        out_f = composite(raw_f, z_all, rays_d, bc_rgb, s.white_bkgd, s.raw_noise_std, generator)
    out_f.update(rgb0=out["rgb_map"], disp0=out["disp_map"], acc0=out["acc_map"], rgb_fg_map0=out["rgb_fg_map"],
                 trans_last0=out["trans_last"])
    return out_f


def render_rays_chunked(coarse, fine, rays_o, rays_d, near, far, bc_rgb, cond, s: RenderSettings,
                        generator=None, keys=("rgb_map", "disp_map", "acc_map")) -> dict:
    """``render_rays`` over [R, 3] rays in batches of ``s.chunk``; returns the requested keys concatenated."""
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    for i in range(0, rays_o.shape[0], s.chunk):
        out = render_rays(coarse, fine, rays_o[i:i + s.chunk], rays_d[i:i + s.chunk], near, far,
                          bc_rgb[i:i + s.chunk], cond, s, generator)
        for k in keys:
            parts[k].append(out[k])
    return {k: torch.cat(v, dim=0) for k, v in parts.items()}
