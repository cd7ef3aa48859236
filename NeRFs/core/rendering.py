"""Volume rendering of AD-NeRF: coarse + fine passes over the rays, background as the last sample.

``render_rays`` is the training renderer (autograd, every output of both passes); display renders use
``inference.render_rays_inference``. ``render_rays_chunked`` takes the renderer as an argument: which one
runs never depends on whether autograd happens to be on.
"""
from __future__ import annotations

import torch

from .compositing import composite
from .field import RadianceField, RenderSettings, autocast
from .inference import render_rays_inference
from .sampling import importance_depths, points_at, ray_depths

__all__ = ["RadianceField", "RenderSettings", "composite", "render_rays", "render_rays_chunked",
           "render_rays_inference", "renderer_for"]


def render_rays(coarse: RadianceField, fine: RadianceField | None, rays_o: torch.Tensor, rays_d: torch.Tensor,
                near: float, far: float, bc_rgb: torch.Tensor, cond: torch.Tensor, s: RenderSettings,
                generator: torch.Generator | None = None) -> dict:
    """Render a batch of rays. rays_o, rays_d, bc_rgb: [R, 3]; cond: [C].

    Returns the fine pass's outputs (``rgb_map`` [R, 3], ...) and the coarse ones with suffix ``0``
    (``rgb0``, ``disp0``, ``acc0`` as the original named them, and ``rgb_fg_map0``, ``trans_last0``).
    """
    viewdirs = rays_d / torch.linalg.norm(rays_d, dim=-1, keepdim=True) if coarse.embed_dirs is not None else None
    z = ray_depths(rays_o.shape[0], near, far, s.N_samples, s.lindisp, s.perturb, rays_o, generator)
    with autocast(s, rays_o.device):
        raw = coarse(points_at(rays_o, rays_d, z[:, :-1]), viewdirs, cond, s.netchunk)
    out = composite(raw, z, rays_d, bc_rgb, s.white_bkgd, s.raw_noise_std, generator)
    if s.N_importance <= 0:
        return out
    z_all = importance_depths(z, out["weights"][:, :-1], s.N_importance, s.perturb == 0, generator)
    with autocast(s, rays_o.device):
        raw_f = (fine if fine is not None else coarse)(points_at(rays_o, rays_d, z_all[:, :-1]), viewdirs, cond,
                                                        s.netchunk)
    out_f = composite(raw_f, z_all, rays_d, bc_rgb, s.white_bkgd, s.raw_noise_std, generator)
    out_f.update(rgb0=out["rgb_map"], disp0=out["disp_map"], acc0=out["acc_map"], rgb_fg_map0=out["rgb_fg_map"],
                 trans_last0=out["trans_last"])
    return out_f


def render_rays_chunked(coarse, fine, rays_o, rays_d, near, far, bc_rgb, cond, s: RenderSettings, generator=None,
                        keys=("rgb_map", "disp_map", "acc_map"), *, renderer) -> dict:
    """Render [R, 3] rays in batches of ``s.chunk`` with ``renderer``; returns the requested keys concatenated.

    renderer: ``render_rays`` (training: autograd, coarse outputs ``rgb0`` ...) or ``render_rays_inference``
    (display: no autograd, no coarse outputs); ``renderer_for(s)`` names the one settings were made for.
    """
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    for i in range(0, rays_o.shape[0], s.chunk):
        out = renderer(coarse, fine, rays_o[i:i + s.chunk], rays_d[i:i + s.chunk], near, far,
                       bc_rgb[i:i + s.chunk], cond, s, generator)
        for k in keys:
            parts[k].append(out[k])
    return {k: torch.cat(v, dim=0) for k, v in parts.items()}


def renderer_for(s: RenderSettings):
    """The renderer settings were made for: ``render_rays_inference`` for ``RenderSettings.for_inference``
    settings (display renders), else ``render_rays``."""
    return render_rays_inference if s.inference else render_rays
