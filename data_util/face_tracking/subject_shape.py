"""The person's own 3D landmark shape, fitted to a tracked sequence: the rigid tracker's identity stage.

The generic face (template.py) is nobody in particular: a wider jaw, a deeper nose or higher brows than
the template's show up, frame after frame, as a landmark error that the pose solver trades against the
rotation, so the head comes out tilted a little wrongly on some frames. With the poses of a whole
sequence, each landmark's 3D position is seen from many head poses and can be triangulated (the BFM
tracker fits its identity coefficients for the same reason). Here, shape and poses jointly:

    min_{S, poses}  mean_t sum_i w_i ||proj(R_t S_i + t_t) - l_ti||^2  +  prior * sum_i ||S_i - T_i||^2 (cm^2)

over a left-right symmetric S (the mirror pairs of the iBUG scheme share one point, reflected; the centre
line has x = 0), so an asymmetry in the landmarks can only be explained by the pose, never absorbed as a
crooked face. ``prior`` (px^2 per cm^2 of departure) keeps what a sequence does not show (the depth of
points under little yaw) at the template. The scale is fixed afterwards to the template's distance between
the outer eye corners: with a fixed focal length, size and distance cannot be told apart.
"""
from __future__ import annotations

import numpy as np
import torch

from .geometry import forward_transform
from .template import mirror_index

EYE_CORNERS = (36, 45)     # outer eye corners: the scale reference
DM_PER_CM = 0.1


def symmetrise(points: torch.Tensor) -> torch.Tensor:
    """The nearest left-right symmetric shape: points [68, 3] -> [68, 3] (mirror pairs averaged, x flipped)."""
    flip = torch.tensor([-1.0, 1.0, 1.0], dtype=points.dtype)
    return 0.5 * (points + points[torch.as_tensor(mirror_index())] * flip)


def fit_subject_shape(lms: np.ndarray, pose: np.ndarray, template: np.ndarray, weights: np.ndarray, focal: float,
                      cxy, prior: float = 1.0, iters: int = 300) -> tuple[np.ndarray, np.ndarray]:
    """The person's symmetric shape and the poses that explain landmarks lms [B, 68, 2] px best, solved
    jointly (a bundle adjustment: alternating shape and poses converges slowly, the two are coupled).

    pose [B, 6] (euler rad | trans dm): the start, e.g. the generic face's poses; weights [68] per landmark.
    Returns (shape [68, 3] dm in the template's axes and scale, poses [B, 6]); see the module docstring.
    A constant rotation of the whole sequence is left to the prior (a pitched face under pitched-back poses
    projects the same): it is the same for every frame, so the NeRF's frames stay consistent.
    """
    if not (np.isfinite(lms).all() and np.isfinite(pose).all()):
        raise ValueError("subject shape: landmarks and poses must be finite")
    target = torch.as_tensor(lms, dtype=torch.float64)
    w = torch.as_tensor(weights, dtype=torch.float64)
    start = torch.as_tensor(template, dtype=torch.float64)
    free = symmetrise(start).clone().requires_grad_(True)
    p = torch.as_tensor(pose, dtype=torch.float64).clone().requires_grad_(True)
    opt = torch.optim.LBFGS([free, p], max_iter=iters, tolerance_grad=1e-10, tolerance_change=1e-14,
                            history_size=50, line_search_fn="strong_wolfe")

    def objective():
        opt.zero_grad()
        shape = symmetrise(free)
        proj = forward_transform(shape, p[:, :3], p[:, 3:], focal, cxy)
        data = (((proj - target) ** 2).sum(-1) * w).mean(0).sum()
        loss = data + prior * (((shape - start) / DM_PER_CM) ** 2).sum()
        loss.backward()
        return loss

    opt.step(objective)
    shape, pose = symmetrise(free.detach()).numpy(), p.detach().numpy().copy()
    a, b = EYE_CORNERS
    scale = np.linalg.norm(template[a] - template[b]) / np.linalg.norm(shape[a] - shape[b])
    pose[:, 3:] *= scale                   # the same pixels: perspective projection ignores a common scale
    return shape * scale, pose
