"""Known faces under known poses, for measuring the trackers (tests, benchmarks/bench_tracking.py).

Everything is generated from a seed: smooth head motion, landmarks projected with the tracker's camera,
optional Gaussian pixel noise, and pose-error metrics (rotation error in degrees, translation error,
temporal jitter).
"""
from __future__ import annotations

import numpy as np
import torch

from .geometry import euler_to_rotation, forward_transform


def pose_sequence(n: int, seed: int = 0, yaw_deg: float = 20.0, pitch_deg: float = 10.0, roll_deg: float = 6.0,
                  depth: float = 7.0) -> tuple[np.ndarray, np.ndarray]:
    """Smooth head motion: euler [n, 3] rad and trans [n, 3] dm (t_z around -depth)."""
    rng = np.random.default_rng(seed)
    t = np.arange(n, dtype=np.float64)
    amp = np.radians([pitch_deg, yaw_deg, roll_deg])
    periods = rng.uniform(40, 90, 6)
    phases = rng.uniform(0, 2 * np.pi, 6)
    euler = amp * np.sin(2 * np.pi * t[:, None] / periods[:3] + phases[:3])
    trans = np.array([0.3, 0.2, 0.4]) * np.sin(2 * np.pi * t[:, None] / periods[3:] + phases[3:]) + [0, 0, -depth]
    return euler, trans


def project_points(points: np.ndarray, euler: np.ndarray, trans: np.ndarray, focal: float, image_size,
                   noise_px: float = 0.0, seed: int = 0) -> np.ndarray:
    """points [P, 3] or [n, P, 3] -> pixels [n, P, 2] (+ Gaussian noise of sigma noise_px)."""
    w, h = image_size
    pts = torch.as_tensor(np.broadcast_to(points, (len(euler),) + points.shape[-2:]).copy(), dtype=torch.float64)
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    uv = forward_transform(pts, as_t(euler), as_t(trans), focal, (w / 2.0, h / 2.0)).numpy()
    return uv + np.random.default_rng(seed).normal(0.0, noise_px, uv.shape)


def rotation_errors_deg(euler_est: np.ndarray, euler_true: np.ndarray) -> np.ndarray:
    """Geodesic angle [n] in degrees between estimated and true rotations."""
    Ra = euler_to_rotation(torch.as_tensor(euler_est, dtype=torch.float64))
    Rb = euler_to_rotation(torch.as_tensor(euler_true, dtype=torch.float64))
    cos = ((Ra.transpose(-1, -2) @ Rb).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return np.degrees(np.arccos(cos.clamp(-1, 1).numpy()))


def jitter(x: np.ndarray) -> float:
    """Temporal jitter: RMS of the second difference along time of x [n, k]."""
    d2 = x[:-2] - 2 * x[1:-1] + x[2:]
    return float(np.sqrt((d2 ** 2).mean()))
