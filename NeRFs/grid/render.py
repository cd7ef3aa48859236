"""Volume rendering of the grid backend: one pass of evenly spaced samples, empty space skipped.

AD-NeRF's compositing is kept as it is (``NeRFs/core/compositing.py``: density -> opacity -> weights, the
bc.jpg pixel as an opaque last sample at ``far``); what changes is which samples reach the network:

* **One pass, fewer samples.** ``samples`` stratified depths between near and far (32 by default, against
  the MLP's 64 + 128 in two passes): the occupancy grid does the coarse pass's job of finding matter.
* **Occupancy skipping.** Only samples in occupied cells (``occupancy.py``) are sent through the field,
  as one compact batch; the others count as density 0 (opacity 1e-6 * dt from the compositing's constant,
  exactly as a zero-density network output would).
* **Early termination** (display renders): the rays are marched in segments of ``segment`` samples and a
  ray stops once its transmittance is below ``early_stop_T``; the colour branch runs only for samples whose
  weight exceeds 1e-6 (as ``NeRFs/core/inference.py``).

Training (autograd) uses ``render_rays_grid``; display renders (``inference`` settings) use
``render_rays_grid_inference``; ``render_rays_grid_chunked`` runs the one named, or the one its settings were
made for (``GridSettings.for_inference``).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

import torch

from NeRFs.core.compositing import composite, finish, opacity, segment_lengths, transmittance
from NeRFs.core.sampling import points_at, ray_depths

from .field import GridField
from .occupancy import OccupancyGrid

COLOUR_EPS = 1e-6


@dataclass
class GridSettings:
    samples: int = 32  # network samples per ray (the background sample at far comes on top)
    perturb: float = 1.0
    white_bkgd: bool = True
    chunk: int = 1 << 15  # rays per batch
    use_occupancy: bool = True
    early_stop_T: float = 0.0
    amp: bool = False
    inference: bool = False
    segment: int = 16

    def for_inference(self, early_stop_T: float = 1e-4, device: torch.device | str | None = None) -> "GridSettings":
        """Settings for display renders: no jitter, early ray termination (the signature of
        ``RenderSettings.for_inference``; the grid's batches do not depend on the device)."""
        return replace(self, perturb=0.0, early_stop_T=early_stop_T, inference=True)


def _autocast(s: GridSettings, device: torch.device):
    if s.amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.float16)
    return contextlib.nullcontext()


def _setup(field, rays_o, rays_d, near, far, s, generator):
    """Depths z [R, S + 1] (last at far), points [R, S, 3], per-ray view code [R, V] or None."""
    z = ray_depths(rays_o.shape[0], near, far, s.samples + 1, False, s.perturb, rays_o, generator)
    viewdirs = rays_d / torch.linalg.norm(rays_d, dim=-1, keepdim=True)
    return z, points_at(rays_o, rays_d, z[:, :-1]), field.view_code(viewdirs)


def render_rays_grid(field: GridField, occ: OccupancyGrid | None, rays_o: torch.Tensor, rays_d: torch.Tensor,
                     near: float, far: float, bc_rgb: torch.Tensor, cond: torch.Tensor, s: GridSettings,
                     generator: torch.Generator | None = None) -> dict:
    """Training renderer (autograd). rays_o, rays_d, bc_rgb [R, 3], cond [C] -> ``composite``'s outputs:
    rgb_map [R, 3], disp/acc/depth_map [R], weights [R, S + 1], rgb_fg_map [R, 3], trans_last [R]; and
    density_kept [K], the densities of the K samples that were queried."""
    R, S = rays_o.shape[0], s.samples
    z, pts, view = _setup(field, rays_o, rays_d, near, far, s, generator)
    flat = pts.reshape(-1, 3)
    if occ is not None and s.use_occupancy:
        kept = torch.nonzero(occ.query(flat)).squeeze(-1)  # [K] indices into R * S
    else:
        kept = torch.arange(R * S, device=flat.device)
    with _autocast(s, rays_o.device):
        raw_kept = field(flat[kept], None if view is None else view[kept // S], cond).float()  # [K, 4]
    raw = torch.zeros(R * S, 4, device=flat.device, dtype=raw_kept.dtype).index_copy(0, kept, raw_kept)
    out = composite(raw.view(R, S, 4), z, rays_d, bc_rgb, s.white_bkgd)
    out["density_kept"] = raw_kept[:, 3]  # [K] densities of the queried samples (for the sparsity loss)
    return out


@torch.no_grad()
def render_rays_grid_inference(field: GridField, occ: OccupancyGrid | None, rays_o: torch.Tensor,
                               rays_d: torch.Tensor, near: float, far: float, bc_rgb: torch.Tensor,
                               cond: torch.Tensor, s: GridSettings, generator: torch.Generator | None = None) -> dict:
    """Display renderer: as ``render_rays_grid`` (no ``weights``) with early termination and colour only
    for visible samples. Returns rgb_map [R, 3], disp/acc/depth_map [R], rgb_fg_map [R, 3], trans_last [R]."""
    R, S, dev = rays_o.shape[0], s.samples, rays_o.device
    z, pts, view = _setup(field, rays_o, rays_d, near, far, s, generator)
    dists = segment_lengths(z, rays_d)  # [R, S]
    T = torch.ones(R, device=dev)
    rgb, depth, acc = torch.zeros(R, 3, device=dev), torch.zeros(R, device=dev), torch.zeros(R, device=dev)
    skip = occ is not None and s.use_occupancy
    occupied = occ.query(pts) if skip else None  # [R, S], looked up once
    # a ray that meets no occupied cell keeps T = 1 and adds nothing: it is never marched
    hit = occupied.any(1) if skip else torch.ones(R, dtype=torch.bool, device=dev)
    for s0 in range(0, S, s.segment):
        seg = slice(s0, min(s0 + s.segment, S))
        live = (T > s.early_stop_T) & hit if s.early_stop_T > 0 else hit
        active = torch.nonzero(live).squeeze(-1)
        if active.numel() == 0:
            break
        p = pts[active, seg]  # [a, k, 3]
        a, k = p.shape[:2]
        flat = p.reshape(-1, 3)
        if skip:
            kept = torch.nonzero(occupied[active, seg].reshape(-1)).squeeze(-1)
        else:
            kept = torch.arange(a * k, device=dev)
        sigma = torch.zeros(a * k, device=dev)
        if kept.numel():
            with _autocast(s, dev):
                sig_k, geo = field.density(flat[kept], cond)
            sigma[kept] = sig_k.float()
        alpha = opacity(sigma.view(a, k), dists[active, seg])
        trans = transmittance(alpha, T[active])
        w = alpha * trans[:, :-1]  # [a, k]
        if kept.numel():
            w_k = w.reshape(-1)[kept]
            vis = torch.nonzero(w_k > COLOUR_EPS).squeeze(-1)
            if vis.numel():
                ray = active[kept[vis] // k]
                with _autocast(s, dev):
                    colour = torch.sigmoid(field.colour(geo[vis], None if view is None else view[ray]).float())
                rgb.index_add_(0, ray, w_k[vis, None] * colour)
        depth.index_add_(0, active, (w * z[active, seg]).sum(-1))
        acc.index_add_(0, active, w.sum(-1))
        T[active] = trans[:, -1]
    return finish(rgb, depth, acc, T, z[:, -1], bc_rgb, s.white_bkgd)


def render_rays_grid_chunked(field, occ, rays_o, rays_d, near, far, bc_rgb, cond, s: GridSettings,
                             generator=None, keys=("rgb_map", "disp_map", "acc_map"), renderer=None) -> dict:
    """Render [R, 3] rays in batches of ``s.chunk``; returns the requested keys concatenated. ``renderer``:
    ``render_rays_grid`` or ``render_rays_grid_inference``; None: the one ``s`` was made for (``s.inference``
    from ``for_inference``), never chosen from whether autograd is on."""
    render = renderer or (render_rays_grid_inference if s.inference else render_rays_grid)
    parts: dict[str, list[torch.Tensor]] = {k: [] for k in keys}
    for i in range(0, rays_o.shape[0], s.chunk):
        out = render(field, occ, rays_o[i:i + s.chunk], rays_d[i:i + s.chunk], near, far, bc_rgb[i:i + s.chunk],
                     cond, s, generator)
        for k in keys:
            parts[k].append(out[k])
    return {k: torch.cat(v, dim=0) for k, v in parts.items()}
