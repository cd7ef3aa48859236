"""Audio codes: AudioNet per frame, and AudioAttNet smoothing over a window of neighbouring frames.

The original encodes frame i alone until ``nosmo_iters`` and afterwards the window of frames
[i - smo_size/2, i + smo_size/2) of the same split, zero features beyond the ends, weighted by AudioAttNet.
"""
from __future__ import annotations

import torch

from .networks import AudioAttNet, AudioNet


def feature_window(auds: torch.Tensor, center: int, size: int = 8) -> torch.Tensor:
    """auds: [N, 16, C] -> [size, 16, C], frames center - size/2 .. center + size/2 - 1, zero-padded."""
    half = size // 2
    lo, hi = center - half, center + half
    win = auds[max(lo, 0):min(hi, auds.shape[0])]
    pad_lo, pad_hi = max(-lo, 0), max(hi - auds.shape[0], 0)
    if pad_lo or pad_hi:
        zeros = auds.new_zeros((1,) + tuple(auds.shape[1:]))
        win = torch.cat([zeros.expand(pad_lo, -1, -1), win, zeros.expand(pad_hi, -1, -1)], dim=0)
    return win


def frame_code(audnet: AudioNet, attnet: AudioAttNet | None, auds: torch.Tensor, index: int,
               smooth: bool, smo_size: int = 8) -> torch.Tensor:
    """The conditioning code [dim_aud] of frame ``index`` of a split (auds: [N, 16, C])."""
    if not smooth or attnet is None:
        return audnet(auds[index:index + 1])[0]
    return attnet(audnet(feature_window(auds, index, smo_size)))


def sequence_codes(audnet: AudioNet, attnet: AudioAttNet | None, auds: torch.Tensor, smooth: bool,
                   smo_size: int = 8, batch: int = 1024) -> torch.Tensor:
    """Codes [N, dim_aud] of a whole sequence; AudioNet runs once per frame, not once per window."""
    codes = torch.cat([audnet(auds[i:i + batch]) for i in range(0, auds.shape[0], batch)], dim=0)
    if not smooth or attnet is None:
        return codes
    pad = audnet(auds.new_zeros((1,) + tuple(auds.shape[1:])))  # the code of zero features
    half = smo_size // 2
    padded = torch.cat([pad.expand(half, -1), codes, pad.expand(half, -1)], dim=0)
    return torch.stack([attnet(padded[i:i + smo_size]) for i in range(codes.shape[0])], dim=0)


def match_feature_statistics(feats: torch.Tensor, reference: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Features of a new voice [N, 16, C] moved into the range of the training voice's [M, 16, C]: each
    channel standardised over the clip (all frames and rows) and given the reference's mean and std.

    Why: offline features (mfcc) carry the speaker and the microphone (level, timbre) as much as the
    speech; a voice whose channels sit outside the training range drives AudioNet where it never learned.
    """
    dims = (0, 1)
    mean, std = feats.mean(dims, keepdim=True), feats.std(dims, keepdim=True)
    ref_mean, ref_std = reference.mean(dims, keepdim=True), reference.std(dims, keepdim=True)
    return (feats - mean) / (std + eps) * ref_std + ref_mean
