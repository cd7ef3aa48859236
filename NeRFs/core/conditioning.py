"""What conditions the fields of a frame, and how head and torso are composited: the same for every backend.

The head's field reads the frame's condition (``head_cond_dim`` values: the audio code); the torso's reads
that condition and the encoded head pose (``torso_cond_dim``). A new per-frame signal (e.g. eye openness)
widens ``head_cond_dim`` and is appended by the trainers' ``frame_condition`` and the serving object's
``codes``: every backend's fields are built from these two widths, so none of them changes.
"""
from __future__ import annotations

import argparse

import torch

from .encoding import PositionalEncoding

POSE_FREQS = 3  # PE of Euler angles and translation: 3 x (1 + 2 * 3) = 21 channels each
POSE_DIM = 2 * 3 * (1 + 2 * POSE_FREQS)  # 42


def head_cond_dim(args: argparse.Namespace) -> int:
    """Width of the head field's per-frame condition: the audio code (``--dim_aud``)."""
    return args.dim_aud


def torso_cond_dim(args: argparse.Namespace) -> int:
    """Width of the torso field's condition: the head's condition and the encoded head pose."""
    return head_cond_dim(args) + POSE_DIM


def rot_to_euler(R: torch.Tensor) -> torch.Tensor:
    """The original's angles of a rotation [..., 3, 3]: (atan2(R22, R12), asin(-R02), atan2(R00, -R01)).

    Not a textbook convention, but it is only a conditioning input: keeping it exactly makes original
    torso checkpoints load and behave the same.
    """
    return torch.stack((torch.atan2(R[..., 2, 2], R[..., 1, 2]), torch.asin((-R[..., 0, 2]).clamp(-1, 1)),
                        torch.atan2(R[..., 0, 0], -R[..., 0, 1])), dim=-1)


def pose_condition(c2w: torch.Tensor) -> torch.Tensor:
    """c2w [4, 4] -> [PE3(euler) | PE3(translation)], POSE_DIM (42) values."""
    pe = PositionalEncoding(POSE_FREQS).to(c2w.device)
    return torch.cat((pe(rot_to_euler(c2w[:3, :3])), pe(c2w[:3, 3])), dim=-1)


def torso_condition(head_cond: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
    """The torso's condition [torso_cond_dim]: the head's [head_cond_dim] and the encoded pose [4, 4]."""
    return torch.cat((head_cond, pose_condition(pose)))


def composite_head_torso(head_rgb: torch.Tensor, torso: dict, suffix: str = "") -> torch.Tensor:
    """C = C_head * T_torso_last + C_torso_fg. head_rgb: [R, 3]; torso: a renderer's outputs (``trans_last``
    [R], ``rgb_fg_map`` [R, 3], with ``suffix`` '0' the coarse pass's)."""
    return head_rgb * torso[f"trans_last{suffix}"][:, None] + torso[f"rgb_fg_map{suffix}"]
