"""A literal, unoptimised restatement of the original AD-NeRF head rendering, for comparison in tests.

Written from ../shared/reference/ADNERF_BEHAVIOUR.md: the network input is the concatenation
[PE(x) | audio code | PE(view dir)] for every sample (the background sample included), the last sample's
colour is replaced by the bc pixel, intervals end with 1e10, density relu + 1e-6, and hierarchical sampling
uses weights[1:-1] over the mid-points. The module has the original's parameter names.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def embed(x, L):
    out = [x]
    for k in range(L):
        for fn in (torch.sin, torch.cos):
            out.append(fn(x * 2.0 ** k))
    return torch.cat(out, -1)


class OriginalFaceNeRF(nn.Module):
    def __init__(self, D=8, W=256, input_ch=63, dim_aud=64, input_ch_views=27, skips=(4,)):
        super().__init__()
        self.input_ch, self.dim_aud, self.input_ch_views, self.skips = input_ch, dim_aud, input_ch_views, skips
        c = input_ch + dim_aud
        self.pts_linears = nn.ModuleList([nn.Linear(c, W)] + [nn.Linear(W + c if i in skips else W, W)
                                                              for i in range(D - 1)])
        self.views_linears = nn.ModuleList([nn.Linear(input_ch_views + W, W // 2)] +
                                           [nn.Linear(W // 2, W // 2) for _ in range(D // 4)])
        self.feature_linear = nn.Linear(W, W)
        self.alpha_linear = nn.Linear(W, 1)
        self.rgb_linear = nn.Linear(W // 2, 3)

    def forward(self, x):
        input_pts, input_views = torch.split(x, [self.input_ch + self.dim_aud, self.input_ch_views], dim=-1)
        h = input_pts
        for i, layer in enumerate(self.pts_linears):
            h = F.relu(layer(h))
            if i in self.skips:
                h = torch.cat([input_pts, h], -1)
        alpha = self.alpha_linear(h)
        feature = h  # the original's forward: feature_linear is created but never applied
        h = torch.cat([feature, input_views], -1)
        for layer in self.views_linears:
            h = F.relu(layer(h))
        return torch.cat([self.rgb_linear(h), alpha], -1)


def query(net, pts, viewdirs, aud):
    R, S = pts.shape[:2]
    x = embed(pts.reshape(-1, 3), 10)
    x = torch.cat([x, aud[None].expand(x.shape[0], -1)], -1)
    d = embed(viewdirs[:, None].expand(R, S, 3).reshape(-1, 3), 4)
    return net(torch.cat([x, d], -1)).reshape(R, S, 4)


def raw2outputs(raw, z_vals, rays_d, bc_rgb, white_bkgd):
    dists = z_vals[..., 1:] - z_vals[..., :-1]
    dists = torch.cat([dists, torch.full_like(dists[..., :1], 1e10)], -1)
    dists = dists * torch.norm(rays_d[..., None, :], dim=-1)
    rgb = torch.sigmoid(raw[..., :3])
    rgb = torch.cat((rgb[:, :-1, :], bc_rgb.unsqueeze(1)), dim=1)
    alpha = 1.0 - torch.exp(-(F.relu(raw[..., 3]) + 1e-6) * dists)
    weights = alpha * torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10], -1), -1)[:, :-1]
    rgb_map = (weights[..., None] * rgb).sum(-2)
    acc_map = weights.sum(-1)
    if white_bkgd:
        rgb_map = rgb_map + (1.0 - acc_map[..., None])
    return rgb_map, weights


def sample_pdf_det(bins, weights, n):
    weights = weights + 1e-5
    pdf = weights / weights.sum(-1, keepdim=True)
    cdf = torch.cat([torch.zeros_like(pdf[..., :1]), torch.cumsum(pdf, -1)], -1)
    u = torch.linspace(0.0, 1.0, n, device=bins.device).expand(list(cdf.shape[:-1]) + [n]).contiguous()
    inds = torch.searchsorted(cdf, u, right=True)
    below = torch.clamp(inds - 1, min=0)
    above = torch.clamp(inds, max=cdf.shape[-1] - 1)
    g = torch.stack([below, above], -1)
    shape = [g.shape[0], g.shape[1], cdf.shape[-1]]
    cdf_g = torch.gather(cdf.unsqueeze(1).expand(shape), 2, g)
    bins_g = torch.gather(bins.unsqueeze(1).expand(shape), 2, g)
    denom = cdf_g[..., 1] - cdf_g[..., 0]
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    t = (u - cdf_g[..., 0]) / denom
    return bins_g[..., 0] + t * (bins_g[..., 1] - bins_g[..., 0])


def render_rays_with_grad(net_coarse, net_fine, rays_o, rays_d, near, far, bc_rgb, aud, n_samples, n_importance,
                white_bkgd=True):
    """perturb = 0. Returns (rgb_fine, rgb_coarse), each [R, 3]."""
    viewdirs = rays_d / torch.norm(rays_d, dim=-1, keepdim=True)
    t = torch.linspace(0.0, 1.0, n_samples, device=rays_o.device)
    z = (near * (1 - t) + far * t).expand(rays_o.shape[0], n_samples)
    raw = query(net_coarse, rays_o[:, None] + rays_d[:, None] * z[..., None], viewdirs, aud)
    rgb0, weights = raw2outputs(raw, z, rays_d, bc_rgb, white_bkgd)
    mids = 0.5 * (z[..., 1:] + z[..., :-1])
    z_s = sample_pdf_det(mids, weights[..., 1:-1], n_importance)
    z_all, _ = torch.sort(torch.cat([z, z_s], -1), -1)
    raw = query(net_fine, rays_o[:, None] + rays_d[:, None] * z_all[..., None], viewdirs, aud)
    rgb, _ = raw2outputs(raw, z_all, rays_d, bc_rgb, white_bkgd)
    return rgb, rgb0


render_rays = torch.no_grad()(render_rays_with_grad)
