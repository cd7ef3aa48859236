"""A differentiable mesh renderer in plain PyTorch (CPU and CUDA), replacing the original's pytorch3d.

Method: z-buffered barycentric rasterisation. Every triangle enumerates the pixel centres of its bounding
box (triangles are grouped by box size so the work stays proportional to their area); the nearest
triangle per pixel wins a ``scatter_reduce(amin)`` on an integer key (depth, triangle). That choice is
discrete (no gradient), as in any z-buffer; the pixel's colour is then the barycentric interpolation of the
vertex colours with barycentric weights recomputed differentiably from the projected vertices, so
gradients reach the vertex colours (albedo, light) and the vertex positions (pose, expression, identity)
through every covered pixel. Edges are hard; the photometric losses are masked by the coverage, as in
the original. Shading: Lambertian with 9 spherical-harmonics bands per colour channel (27 light
coefficients per frame).

Pixel (x, y) has its centre at column x, row y, the coordinates of the landmarks.
"""
from __future__ import annotations

import math

import torch

from .geometry import project, to_camera

# Lambertian SH constants (Ramamoorthi & Hanrahan): band factor * normalisation
_A = (math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0))
_C = (1 / math.sqrt(4 * math.pi), math.sqrt(3.0) / math.sqrt(4 * math.pi), 3 * math.sqrt(5.0) / math.sqrt(12 * math.pi))
AMBIENT = 1.0 / (_A[0] * _C[0])      # light coefficient 0 that gives shading 1 (light is stored relative to it)


def vertex_normals(vertices: torch.Tensor, tris: torch.Tensor) -> torch.Tensor:
    """vertices [B, V, 3], tris [T, 3] -> unit vertex normals [B, V, 3] (area-weighted face normals)."""
    a, b, c = (vertices[:, tris[:, k]] for k in range(3))
    face_n = torch.cross(b - a, c - a, dim=-1)
    normals = torch.zeros_like(vertices)
    for k in range(3):
        normals = normals.index_add(1, tris[:, k], face_n)
    return torch.nn.functional.normalize(normals, dim=-1, eps=1e-12)


def sh_shading(normals: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
    """normals [B, V, 3], light [B, 27] (9 bands x 3 channels, 0 = white ambient 1) -> shading [B, V, 3]."""
    x, y, z = normals.unbind(-1)
    one = torch.ones_like(x)
    basis = torch.stack((
        _A[0] * _C[0] * one,
        -_A[1] * _C[1] * y, _A[1] * _C[1] * z, -_A[1] * _C[1] * x,
        _A[2] * _C[2] * x * y, -_A[2] * _C[2] * y * z, _A[2] * _C[2] * 0.5 / math.sqrt(3.0) * (3 * z * z - 1),
        -_A[2] * _C[2] * x * z, _A[2] * _C[2] * 0.5 * (x * x - y * y)), -1)           # [B, V, 9]
    coeffs = light.reshape(-1, 9, 3).clone()
    coeffs[:, 0] = coeffs[:, 0] + AMBIENT
    return basis @ coeffs


def rasterize(pix: torch.Tensor, depth: torch.Tensor, tris: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Nearest triangle per pixel. pix [B, V, 2] (x, y), depth [B, V] (positive, smaller = nearer), tris [T, 3]
    -> triangle index [B, H, W] (int64, -1 where no triangle covers the pixel centre). No gradient."""
    B, T = pix.shape[0], tris.shape[0]
    device = pix.device
    with torch.no_grad():
        tri_pix = pix[:, tris]                                  # [B, T, 3, 2]
        lo = tri_pix.amin(2).ceil()
        hi = tri_pix.amax(2).floor()
        span = (hi - lo + 1).clamp(min=0).amax(-1)              # [B, T] box side in pixels
        flat_key = torch.full((B * height * width,), torch.iinfo(torch.int64).max, dtype=torch.int64, device=device)
        z_quant = 1e6 / max(float(depth.max()), 1e-6)           # depth resolution 1e-6 of the range
        size = 1
        while True:
            sel = (span > size // 2 if size > 1 else span > 0) & (span <= size)
            if sel.any():
                b_idx, t_idx = sel.nonzero(as_tuple=True)
                off = torch.arange(size, device=device, dtype=pix.dtype)
                ox, oy = torch.meshgrid(off, off, indexing="xy")
                px = lo[b_idx, t_idx, 0, None] + ox.reshape(1, -1)              # [S, size^2]
                py = lo[b_idx, t_idx, 1, None] + oy.reshape(1, -1)
                w = barycentric(tri_pix[b_idx, t_idx][:, None], torch.stack((px, py), -1))   # [S, n, 3]
                inside = (w >= -1e-6).all(-1) & (px >= 0) & (px < width) & (py >= 0) & (py < height)
                z = (w * depth[b_idx[:, None], tris[t_idx]][:, None, :]).sum(-1)      # [S, n]
                key = (z * z_quant).clamp(min=0).to(torch.int64) * T + t_idx[:, None]
                row, col = py.long().clamp(0, height - 1), px.long().clamp(0, width - 1)
                pixel = (b_idx[:, None] * height + row) * width + col
                flat_key.scatter_reduce_(0, pixel[inside], key[inside], reduce="amin")
            if size >= int(span.max().item()):
                break
            size *= 2
        tri_id = torch.where(flat_key == torch.iinfo(torch.int64).max, torch.full_like(flat_key, -1), flat_key % T)
    return tri_id.reshape(B, height, width)


def barycentric(tri: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Barycentric weights [..., 3] of points p [..., 2] in triangles tri [..., 3, 2] (broadcast)."""
    a, b, c = tri[..., 0, :], tri[..., 1, :], tri[..., 2, :]
    v0, v1, v2 = b - a, c - a, p - a
    den = v0[..., 0] * v1[..., 1] - v1[..., 0] * v0[..., 1]
    den = torch.where(den.abs() < 1e-12, torch.full_like(den, 1e-12), den)
    w1 = (v2[..., 0] * v1[..., 1] - v1[..., 0] * v2[..., 1]) / den
    w2 = (v0[..., 0] * v2[..., 1] - v2[..., 0] * v0[..., 1]) / den
    return torch.stack((1 - w1 - w2, w1, w2), -1)


def render(vertices: torch.Tensor, colors: torch.Tensor, tris: torch.Tensor, euler: torch.Tensor, trans: torch.Tensor,
           focal, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Render meshes with per-vertex colours under the tracker's camera (cx = w/2, cy = h/2).

    vertices [B, V, 3] model space, colors [B, V, C], tris [T, 3], euler / trans [B, 3]
    -> image [B, H, W, C] (0 where empty), mask [B, H, W] float (1 where covered).
    """
    cam = to_camera(vertices, euler, trans)
    pix = project(cam, focal, (width / 2.0, height / 2.0))
    tri_id = rasterize(pix, -cam[..., 2], tris, height, width)
    B = vertices.shape[0]
    covered = tri_id >= 0
    b_idx, ys, xs = covered.nonzero(as_tuple=True)
    corner = tris[tri_id[b_idx, ys, xs]]                                    # [P, 3]
    tri_pix = pix[b_idx[:, None], corner]                                   # [P, 3, 2]
    w = barycentric(tri_pix, torch.stack((xs, ys), -1).to(pix.dtype))       # [P, 3]
    values = (w[..., None] * colors[b_idx[:, None], corner]).sum(1)         # [P, C]
    image = torch.zeros(B, height, width, colors.shape[-1], dtype=colors.dtype, device=colors.device)
    image = image.index_put((b_idx, ys, xs), values)
    return image, covered.to(colors.dtype)
