"""Depth samples along rays: stratified (coarse) and hierarchical inverse-CDF (fine)."""
from __future__ import annotations

import torch


def stratified_depths(near: torch.Tensor, far: torch.Tensor, n_samples: int, lindisp: bool = False,
                      perturb: float = 0.0, generator: torch.Generator | None = None) -> torch.Tensor:
    """Coarse depths between near and far.

    near, far: [R]. Returns z: [R, n_samples], sorted, with the last sample at ``far`` also when perturbed:
    that sample is the background plane (its colour is the bc.jpg pixel), see ``rendering``.
    """
    t = torch.linspace(0.0, 1.0, n_samples, device=near.device, dtype=near.dtype)
    near, far = near[:, None], far[:, None]
    if lindisp:
        z = 1.0 / (1.0 / near * (1.0 - t) + 1.0 / far * t)
    else:
        z = near * (1.0 - t) + far * t
    if perturb > 0:
        mids = 0.5 * (z[:, 1:] + z[:, :-1])
        upper = torch.cat((mids, z[:, -1:]), dim=-1)
        lower = torch.cat((z[:, :1], mids), dim=-1)
        u = torch.rand(z.shape, device=z.device, dtype=z.dtype, generator=generator)
        z = lower + (upper - lower) * u
        z = torch.cat((z[:, :-1], far.expand(-1, 1)), dim=-1)
    return z


def ray_depths(n_rays: int, near: float, far: float, n_samples: int, lindisp: bool, perturb: float,
               like: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """``stratified_depths`` [n_rays, n_samples] for scalar near / far, on ``like``'s device and dtype."""
    near_t = torch.full((n_rays,), float(near), device=like.device, dtype=like.dtype)
    far_t = torch.full((n_rays,), float(far), device=like.device, dtype=like.dtype)
    return stratified_depths(near_t, far_t, n_samples, lindisp, perturb, generator)


def points_at(rays_o: torch.Tensor, rays_d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
    """rays_o, rays_d [R, 3], depths z [R, S] -> points [R, S, 3]."""
    return rays_o[:, None, :] + rays_d[:, None, :] * z[..., None]


def importance_depths(z: torch.Tensor, w_fg: torch.Tensor, n_importance: int, deterministic: bool,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """The fine pass's depths: z [R, S] coarse depths (the last at far) and the coarse weights of their
    network samples w_fg [R, S - 1] -> the sorted union of z and ``n_importance`` samples of the pdf
    given by w_fg[:, 1:] on the mid-points (as the original: weights[1:-1]), [R, S + n_importance]."""
    z_mid = 0.5 * (z[:, 1:] + z[:, :-1])
    z_new = sample_pdf(z_mid, w_fg[:, 1:], n_importance, deterministic, generator).detach()
    return torch.sort(torch.cat((z, z_new), dim=-1), dim=-1)[0]


def sample_pdf(bins: torch.Tensor, weights: torch.Tensor, n_samples: int, deterministic: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Inverse-transform sampling of the piecewise-constant pdf given by ``weights`` on ``bins``.

    bins: [R, B + 1] bin edges, weights: [R, B]. Returns [R, n_samples] depths (not sorted).
    """
    weights = weights + 1e-5  # avoid a zero pdf
    pdf = weights / weights.sum(dim=-1, keepdim=True)
    cdf = torch.cumsum(pdf, dim=-1)
    cdf = torch.cat((torch.zeros_like(cdf[:, :1]), cdf), dim=-1)  # [R, B + 1]
    if deterministic:
        u = torch.linspace(0.0, 1.0, n_samples, device=bins.device, dtype=bins.dtype).expand(cdf.shape[0], n_samples)
    else:
        u = torch.rand((cdf.shape[0], n_samples), device=bins.device, dtype=bins.dtype, generator=generator)
    u = u.contiguous()
    idx = torch.searchsorted(cdf, u, right=True)
    below = (idx - 1).clamp(min=0)
    above = idx.clamp(max=cdf.shape[-1] - 1)
    cdf_lo, cdf_hi = torch.gather(cdf, 1, below), torch.gather(cdf, 1, above)
    bin_lo, bin_hi = torch.gather(bins, 1, below), torch.gather(bins, 1, above)
    denom = cdf_hi - cdf_lo
    denom = torch.where(denom < 1e-5, torch.ones_like(denom), denom)
    t = (u - cdf_lo) / denom
    return bin_lo + t * (bin_hi - bin_lo)
