"""What conditions the fields of a frame, and how head and torso are composited: the same for every backend.

The head's field reads the frame's condition (``head_cond_dim`` values): the audio code, for heads
trained with ``--eye_condition`` the frame's eye openness (adnerf.eyes: the eye aspect ratio of its
landmarks), scaled by ``eye_input``, and for heads trained with ``--mouth_condition`` its mouth opening
(adnerf.mouth: measured on the training frames, predicted from the sound when driving), scaled by
``mouth_input``; in that order. The torso reads the audio code and the encoded head pose
(``torso_cond_dim``): the eyes do not move the shoulders, and torso files stay the original's width.
Every backend's fields are built from these two widths, so none of them knows which signals they hold.

Whether a head reads the eyes or the mouth is a property of its checkpoint (``EYE_KEY``, ``MOUTH_KEY``):
the original's files and this project's older ones lack the keys and load as audio-only heads.
"""
from __future__ import annotations

import argparse

import torch

from .encoding import PositionalEncoding

POSE_FREQS = 3  # PE of Euler angles and translation: 3 x (1 + 2 * 3) = 21 channels each
POSE_DIM = 2 * 3 * (1 + 2 * POSE_FREQS)  # 42


EYE_KEY = "eye_condition"   # head checkpoints: True when the field reads the eye signal
EYE_CENTRE, EYE_SCALE = 0.25, 0.1   # eye_input: an open eye (EAR ~0.3) -> ~0.5, a closed one (~0.05) -> -2
MOUTH_KEY = "mouth_condition"   # head checkpoints: True when the field reads the mouth signal
PREDICTOR_KEY = "mouth_predictor"   # head checkpoints: adnerf.mouth.MouthPredictor.state() of the training audio
MOUTH_CENTRE, MOUTH_SCALE = 0.04, 0.04   # mouth_input: closed lips (~0.005) -> ~-0.9, wide open (~0.15) -> ~2.7


def eye_conditioned(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "eye_condition", False))


def mouth_conditioned(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "mouth_condition", False))


def checkpoint_args(args: argparse.Namespace, ckpt: dict) -> argparse.Namespace:
    """A copy of ``args`` whose eye and mouth settings are the head checkpoint's (absent: an audio-only
    head), so the head built from it fits that checkpoint whatever the options say."""
    out = argparse.Namespace(**vars(args))
    out.eye_condition = bool(ckpt.get(EYE_KEY, False))
    out.mouth_condition = bool(ckpt.get(MOUTH_KEY, False))
    return out


def reads_eyes(head) -> bool:
    """Whether a head model's field reads the eye signal."""
    return bool(getattr(head, "eye_condition", False))


def reads_mouth(head) -> bool:
    """Whether a head model's field reads the mouth signal."""
    return bool(getattr(head, "mouth_condition", False))


def head_cond_dim(args: argparse.Namespace) -> int:
    """Width of the head field's per-frame condition: the audio code (``--dim_aud``), plus 1 with eyes and
    1 with the mouth."""
    return args.dim_aud + (1 if eye_conditioned(args) else 0) + (1 if mouth_conditioned(args) else 0)


def torso_cond_dim(args: argparse.Namespace) -> int:
    """Width of the torso field's condition: the audio code and the encoded head pose."""
    return args.dim_aud + POSE_DIM


def eye_input(openness: torch.Tensor) -> torch.Tensor:
    """Eye openness (eye aspect ratio) [N] -> the field's eye input [N, 1], of the audio code's magnitude."""
    return ((openness - EYE_CENTRE) / EYE_SCALE)[..., None]


def mouth_input(opening: torch.Tensor) -> torch.Tensor:
    """Mouth opening (inner-lip gap / inter-ocular distance) [N] -> the field's mouth input [N, 1]."""
    return ((opening - MOUTH_CENTRE) / MOUTH_SCALE)[..., None]


def head_condition(codes: torch.Tensor, eyes: torch.Tensor | None,
                   mouth: torch.Tensor | None = None) -> torch.Tensor:
    """The head's condition [N, head_cond_dim]: audio codes [N, dim_aud], then for an eye-conditioned head
    eye openness [N], then for a mouth-conditioned one mouth opening [N] (None: the head does not read it)."""
    parts = [codes]
    if eyes is not None:
        parts.append(eye_input(eyes.to(codes)))
    if mouth is not None:
        parts.append(mouth_input(mouth.to(codes)))
    return torch.cat(parts, dim=-1) if len(parts) > 1 else codes


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


def torso_condition(head_cond: torch.Tensor, pose: torch.Tensor, dim_aud: int) -> torch.Tensor:
    """The torso's condition [torso_cond_dim]: the audio code (the first ``dim_aud`` values of the head's
    condition [head_cond_dim]) and the encoded pose [4, 4]."""
    return torch.cat((head_cond[:dim_aud], pose_condition(pose)))


def composite_head_torso(head_rgb: torch.Tensor, torso: dict, suffix: str = "") -> torch.Tensor:
    """C = C_head * T_torso_last + C_torso_fg. head_rgb: [R, 3]; torso: a renderer's outputs (``trans_last``
    [R], ``rgb_fg_map`` [R, 3], with ``suffix`` '0' the coarse pass's)."""
    return head_rgb * torso[f"trans_last{suffix}"][:, None] + torso[f"rgb_fg_map{suffix}"]
