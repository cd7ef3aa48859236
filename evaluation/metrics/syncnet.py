"""SyncNet (Chung & Zisserman 2016) and the Sync-C / Sync-D (LSE-C / LSE-D) scores of a talking-head clip.

The network's parameter names match the published syncnet_v2.model key for key (netcnnaud, netfcaud,
netcnnlip, netfclip; indices inside each nn.Sequential). Scoring follows the reference pipeline:
25 fps video, 16 kHz audio, 13 MFCC at 100 Hz, 5-frame lip windows against 20-step MFCC windows, the mean
embedding distance at 31 audio offsets (-15..15 frames); Sync-D = min distance, Sync-C = median - min,
offset = 15 - argmin (frames the audio leads the video).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from evaluation.weights import MetricUnavailable, fetch_weights, load_into, load_state_dict

SYNCNET_URL = "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model"
VSHIFT = 15                 # offsets -15..15 frames
SAMPLES_PER_FRAME = 640     # 16 kHz / 25 fps
MFCC_PER_FRAME = 4          # 100 Hz / 25 fps
CROP_SIZE = 224
CROP_PAD_VALUE = 110        # the reference pads crops that leave the frame with this grey


def _conv_bn_relu(conv: nn.Module, bn: nn.Module) -> list[nn.Module]:
    return [conv, bn, nn.ReLU(inplace=True)]


class SyncNet(nn.Module):
    """forward_aud: MFCC [B, 1, 13, 20] -> [B, 1024]; forward_lip: BGR 0..255 [B, 3, 5, 224, 224] -> [B, 1024]."""

    def __init__(self, embed_dim: int = 1024):
        super().__init__()
        c2, b2, c3, b3 = nn.Conv2d, nn.BatchNorm2d, nn.Conv3d, nn.BatchNorm3d
        self.netcnnaud = nn.Sequential(
            *_conv_bn_relu(c2(1, 64, 3, 1, 1), b2(64)), nn.MaxPool2d(1, 1),
            *_conv_bn_relu(c2(64, 192, 3, 1, 1), b2(192)), nn.MaxPool2d(3, (1, 2)),
            *_conv_bn_relu(c2(192, 384, 3, padding=1), b2(384)),
            *_conv_bn_relu(c2(384, 256, 3, padding=1), b2(256)),
            *_conv_bn_relu(c2(256, 256, 3, padding=1), b2(256)), nn.MaxPool2d(3, 2),
            *_conv_bn_relu(c2(256, 512, (5, 4), padding=0), b2(512)))
        self.netfcaud = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                      nn.Linear(512, embed_dim))
        self.netcnnlip = nn.Sequential(
            *_conv_bn_relu(c3(3, 96, (5, 7, 7), (1, 2, 2), 0), b3(96)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn_relu(c3(96, 256, (1, 5, 5), (1, 2, 2), (0, 1, 1)), b3(256)),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            *_conv_bn_relu(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_bn_relu(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)),
            *_conv_bn_relu(c3(256, 256, (1, 3, 3), padding=(0, 1, 1)), b3(256)), nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            *_conv_bn_relu(c3(256, 512, (1, 6, 6), padding=0), b3(512)))
        self.netfclip = nn.Sequential(nn.Linear(512, 512), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                                      nn.Linear(512, embed_dim))

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(device: torch.device | str = "cpu", weights_path: str | Path | None = None) -> SyncNet:
    """SyncNet with syncnet_v2.model (file, cache or download), in eval mode."""
    path = fetch_weights("SyncNet", SYNCNET_URL, "syncnet_v2.model", weights_path, option="--syncnet_weights")
    model = SyncNet()
    load_into(model, load_state_dict(path), path, "SyncNet")
    return model.to(device).eval()


def mfcc_features(audio: np.ndarray, sample_rate: int = 16000) -> np.ndarray:
    """int16-valued mono audio [S] at 16 kHz -> MFCC [13, T] at 100 Hz (python_speech_features defaults)."""
    try:
        import python_speech_features
    except ImportError as e:
        raise MetricUnavailable(f"python_speech_features is not installed ({e}): pip install python_speech_features") from e
    return np.asarray(python_speech_features.mfcc(audio.astype(np.float64), sample_rate), dtype=np.float32).T


def face_crop_box(rect, scale: float = 1.0) -> tuple[int, int, int]:
    """rect [x, y, w, h] -> square (x0, y0, side) centred on the rect with side scale * max(w, h)."""
    x, y, w, h = (float(v) for v in rect)
    side = max(1, int(round(scale * max(w, h))))
    return int(round(x + w / 2 - side / 2)), int(round(y + h / 2 - side / 2)), side


def crop_faces(frames: list[np.ndarray], rects: list, device: torch.device | str = "cpu") -> torch.Tensor:
    """uint8 RGB frames [H, W, 3] + face rects -> uint8 BGR crops [N, 3, 224, 224] (bilinear, like the
    reference's cv2.resize; uint8 keeps a long clip's crops small: 150 KB per frame).

    rect None: the central square of the frame. Parts outside the frame are filled with CROP_PAD_VALUE.
    """
    import cv2
    crops = np.empty((len(frames), CROP_SIZE, CROP_SIZE, 3), np.uint8)
    for n, (frame, rect) in enumerate(zip(frames, rects)):
        h, w = frame.shape[:2]
        x0, y0, side = face_crop_box(rect) if rect is not None else ((w - min(h, w)) // 2, (h - min(h, w)) // 2, min(h, w))
        canvas = np.full((side, side, 3), CROP_PAD_VALUE, np.uint8)
        sx0, sy0, sx1, sy1 = max(x0, 0), max(y0, 0), min(x0 + side, w), min(y0 + side, h)
        if sx1 > sx0 and sy1 > sy0:
            canvas[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = frame[sy0:sy1, sx0:sx1]
        crops[n] = cv2.resize(canvas[..., ::-1], (CROP_SIZE, CROP_SIZE), interpolation=cv2.INTER_LINEAR)
    return torch.from_numpy(crops).to(device).permute(0, 3, 1, 2)


@torch.no_grad()
def embed_clip(model: SyncNet, crops: torch.Tensor, mfcc: np.ndarray, batch_size: int = 20,
               progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Lip and audio embeddings [L, 1024] each, L = min(N, T // 4) - 5 windows (as the reference).

    crops: [N, 3, 224, 224] BGR 0..255 (uint8 or float) on the model's device; mfcc: [13, T].
    """
    device = next(model.parameters()).device
    n_windows = min(crops.shape[0], mfcc.shape[1] // MFCC_PER_FRAME) - 5
    if n_windows < 1:
        raise MetricUnavailable(f"Sync needs at least 6 frames with audio, got {crops.shape[0]} frames and "
                                f"{mfcc.shape[1] / 100:.2f} s of audio")
    mfcc_t = torch.from_numpy(mfcc).to(device)
    lips, auds = [], []
    starts = range(0, n_windows, batch_size)
    if progress:
        from tqdm import tqdm
        starts = tqdm(starts, desc="SyncNet", unit="batch", leave=False)
    for s in starts:
        idx = range(s, min(s + batch_size, n_windows))
        lip = torch.stack([crops[i:i + 5].permute(1, 0, 2, 3) for i in idx]).float()       # [b, 3, 5, 224, 224]
        aud = torch.stack([mfcc_t[:, MFCC_PER_FRAME * i:MFCC_PER_FRAME * i + 20] for i in idx])[:, None]
        lips.append(model.forward_lip(lip))
        auds.append(model.forward_aud(aud))
    return torch.cat(lips), torch.cat(auds)


def sync_scores(lip_emb: torch.Tensor, aud_emb: torch.Tensor, vshift: int = VSHIFT) -> dict:
    """Sync-C / Sync-D from embeddings [L, D] (lip window i against audio windows i-vshift..i+vshift).

    Returns {sync_d, sync_c, offset, mean_dist [2 vshift + 1], frame_conf [L], frame_dist [L]}: frame_conf
    is each window's median - min over offsets, frame_dist its distance at the clip's best offset.
    """
    n = lip_emb.shape[0]
    padded = F.pad(aud_emb, (0, 0, vshift, vshift))                                   # zero embeddings outside
    windows = torch.stack([padded[i:i + 2 * vshift + 1] for i in range(n)])          # [L, 31, D]
    dists = F.pairwise_distance(lip_emb[:, None].expand_as(windows).reshape(-1, lip_emb.shape[1]),
                                windows.reshape(-1, lip_emb.shape[1])).view(n, -1)   # [L, 31]
    mean_dist = dists.mean(0)
    min_dist, best = mean_dist.min(0)
    return {"sync_d": float(min_dist), "sync_c": float(mean_dist.median() - min_dist),
            "offset": int(vshift - best), "mean_dist": mean_dist.tolist(),
            "frame_conf": (dists.median(1).values - dists.min(1).values).tolist(),
            "frame_dist": dists[:, best].tolist()}
