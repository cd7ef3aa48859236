"""Alpha compositing of AD-NeRF: density -> opacity -> weights, with the background as the last sample.

The last depth sample of every ray sits at ``far``; its colour is the bc.jpg pixel and its interval is
1e10, so its opacity is exactly 1 in float32 and the network's output there never matters.
The renderers therefore never query the network at that sample: same pixels, same gradients, less work.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def segment_lengths(z: torch.Tensor, rays_d: torch.Tensor) -> torch.Tensor:
    """Interval lengths in world units of the network samples: z [R, S] -> [R, S - 1]."""
    return (z[:, 1:] - z[:, :-1]) * torch.linalg.norm(rays_d, dim=-1, keepdim=True)


def opacity(sigma_raw: torch.Tensor, dists: torch.Tensor, noise_std: float = 0.0,
            generator: torch.Generator | None = None) -> torch.Tensor:
    """alpha = 1 - exp(-(relu(sigma + noise) + 1e-6) * dist), elementwise; the 1e-6 is the original's."""
    if noise_std > 0:
        sigma_raw = sigma_raw + noise_std * torch.randn(sigma_raw.shape, device=sigma_raw.device,
                                                        dtype=sigma_raw.dtype, generator=generator)
    return 1.0 - torch.exp(-(F.relu(sigma_raw) + 1e-6) * dists)


def transmittance(alpha: torch.Tensor, start: torch.Tensor | None = None) -> torch.Tensor:
    """alpha [R, S] -> T [R, S + 1]: light left in front of each sample and after the last one.
    ``start`` [R]: transmittance before the first sample (1 when None)."""
    T = torch.cumprod(torch.cat((torch.ones_like(alpha[:, :1]), 1.0 - alpha + 1e-10), dim=-1), dim=-1)
    return T if start is None else T * start[:, None]


def finish(rgb_fg_map, depth_fg, acc_fg, trans_last, z_far, bc_rgb, white_bkgd) -> dict:
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
    alpha = opacity(raw_fg[..., 3], segment_lengths(z, rays_d), raw_noise_std, generator)
    trans = transmittance(alpha)  # [R, S]
    w_fg = alpha * trans[:, :-1]
    rgb_fg_map = (w_fg[..., None] * torch.sigmoid(raw_fg[..., :3])).sum(dim=1)
    out = finish(rgb_fg_map, (w_fg * z[:, :-1]).sum(-1), w_fg.sum(-1), trans[:, -1], z[:, -1], bc_rgb, white_bkgd)
    out["weights"] = torch.cat((w_fg, trans[:, -1:]), dim=-1)
    return out
