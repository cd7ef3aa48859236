"""Camera geometry of the original face tracker, in PyTorch (batched, differentiable).

Conventions (the original's, see docs/face_tracking.md):
- a head pose is (euler [3] radians, trans [3]); R = Rx(e0) @ Ry(e1) @ Rz'(e2) with textbook Rx, Ry but
  Rz'(e2) = Rz(-e2) = [[c, s, 0], [-s, c, 0], [0, 0, 1]]: the original assembles its matrices from column
  vectors and only its z matrix comes out transposed, so a track_params.pt roll has the opposite sign of a
  textbook roll. This is the one implementation: step 7 (data_util/nerf_configs.py) uses it too;
- model points X (BFM metric: decimetres = BFM micrometres / 1e5; x to the subject's left = image right,
  y up, z out of the face) go to the camera by X_cam = R X + t; t_z is about -7 (the camera looks down -Z);
- projection u = -f X/Z + cx, v = f Y/Z + cy (pixels, x right, y down), cx = w/2, cy = h/2.
"""
from __future__ import annotations

import torch


def euler_to_rotation(euler: torch.Tensor) -> torch.Tensor:
    """euler [..., 3] (radians) -> R [..., 3, 3] = Rx(e0) @ Ry(e1) @ Rz'(e2), Rz' = textbook Rz(-e2)
    (the original's convention, see the module docstring)."""
    cx, cy, cz = torch.cos(euler).unbind(-1)
    sx, sy, sz = torch.sin(euler).unbind(-1)
    one, zero = torch.ones_like(cx), torch.zeros_like(cx)
    rx = torch.stack((one, zero, zero, zero, cx, -sx, zero, sx, cx), -1).reshape(*euler.shape[:-1], 3, 3)
    ry = torch.stack((cy, zero, sy, zero, one, zero, -sy, zero, cy), -1).reshape(*euler.shape[:-1], 3, 3)
    rz = torch.stack((cz, sz, zero, -sz, cz, zero, zero, zero, one), -1).reshape(*euler.shape[:-1], 3, 3)
    return rx @ ry @ rz


def rotation_to_euler(R: torch.Tensor) -> torch.Tensor:
    """Inverse of euler_to_rotation for |e1| < pi/2: R [..., 3, 3] -> euler [..., 3]."""
    e1 = torch.asin(R[..., 0, 2].clamp(-1.0, 1.0))
    e0 = torch.atan2(-R[..., 1, 2], R[..., 2, 2])
    e2 = torch.atan2(R[..., 0, 1], R[..., 0, 0])  # R01 = +cos(e1) sin(e2) with the original's Rz'
    return torch.stack((e0, e1, e2), -1)


def to_camera(points: torch.Tensor, euler: torch.Tensor, trans: torch.Tensor) -> torch.Tensor:
    """points [B, P, 3] (or [P, 3], shared), euler [B, 3], trans [B, 3] -> X_cam [B, P, 3] = R X + t."""
    R = euler_to_rotation(euler)
    if points.dim() == 2:
        points = points.unsqueeze(0).expand(euler.shape[0], -1, -1)
    return points @ R.transpose(-1, -2) + trans[:, None, :]


def project(cam_points: torch.Tensor, focal: torch.Tensor | float, cxy) -> torch.Tensor:
    """X_cam [B, P, 3] -> pixels [B, P, 2]: u = -f X/Z + cx, v = f Y/Z + cy."""
    X, Y, Z = cam_points.unbind(-1)
    return torch.stack((-focal * X / Z + cxy[0], focal * Y / Z + cxy[1]), -1)


def forward_transform(points: torch.Tensor, euler: torch.Tensor, trans: torch.Tensor,
                      focal: torch.Tensor | float, cxy) -> torch.Tensor:
    """Model points [B, P, 3] -> pixels [B, P, 2] under poses [B, 3] + [B, 3] and focal length."""
    return project(to_camera(points, euler, trans), focal, cxy)


def second_difference(x: torch.Tensor) -> torch.Tensor:
    """Temporal second difference along dim 0: x [T, ...] -> [T-2, ...] (x[t-1] - 2 x[t] + x[t+1])."""
    return x[:-2] - 2 * x[1:-1] + x[2:]


class torch_threads:
    """Context manager: run with ``n`` intra-op CPU threads, restoring the previous count afterwards.

    The trackers do thousands of small tensor operations; on a shared or busy CPU the thread pool's
    synchronisation then costs far more than it saves (measured: 2 threads on a loaded 2-core machine were
    20x slower than 1), so they run single-threaded on the CPU by default.
    """

    def __init__(self, n: int | None):
        self.n, self.previous = n, None

    def __enter__(self):
        if self.n:
            self.previous = torch.get_num_threads()
            torch.set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        if self.previous:
            torch.set_num_threads(self.previous)
        return False
