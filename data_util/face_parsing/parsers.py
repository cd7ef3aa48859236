"""The parsing backends behind one signature: parse(image uint8 RGB [H, W, 3], lms [68, 2]) -> parts uint8 [H, W].

- ``bisenet``: the original's network (needs 79999_iter.pth: see weights.py); ignores the landmarks.
- ``mediapipe``: offline; mediapipe's selfie segmentation gives the person, the landmarks split it into
  head / neck / torso (see silhouette.py).
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np
import torch

from adnerf.errors import check_choice
from data_util.face_parsing.labels import BISENET_TO_PART

BACKENDS = ("bisenet", "mediapipe")
BISENET_SIZE = 512
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Parser = Callable[[np.ndarray, np.ndarray], np.ndarray]


def bisenet_input(image: np.ndarray) -> torch.Tensor:
    """uint8 RGB [H, W, 3] -> [1, 3, 512, 512] float32: PIL bilinear resize, /255, ImageNet normalisation.

    PIL's bilinear resize (which filters when it shrinks) is what the original fed the network.
    """
    from PIL import Image
    resized = np.asarray(Image.fromarray(image).resize((BISENET_SIZE, BISENET_SIZE), Image.BILINEAR))
    x = torch.from_numpy(resized.astype(np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return ((x - mean) / std).unsqueeze(0)


@torch.no_grad()
def bisenet_parts(net: torch.nn.Module, image: np.ndarray, device: str | torch.device = "cpu") -> np.ndarray:
    """uint8 RGB [H, W, 3] -> part ids uint8 [H, W]: argmax of the main head at 512 x 512, mapped to parts,
    resized back with nearest neighbour (the original resized its colour map the same way)."""
    import cv2
    logits = net(bisenet_input(image).to(device))[0]                    # [1, 19, 512, 512]
    labels = logits[0].argmax(0).cpu().numpy()                            # [512, 512] BiSeNet classes
    parts = BISENET_TO_PART[labels]
    h, w = image.shape[:2]
    return cv2.resize(parts, (w, h), interpolation=cv2.INTER_NEAREST)


def load_parser(backend: str, *, weights: str | os.PathLike | None = None, device: str = "cpu",
                cache_dir: str | os.PathLike | None = None, progress: bool = True) -> Parser:
    """Build the parse function of ``backend`` once (weights are found / downloaded here)."""
    check_choice(backend, BACKENDS, "parsing backend")
    if backend == "bisenet":
        from data_util.face_parsing.weights import load_bisenet, resolve_bisenet_weights
        net = load_bisenet(resolve_bisenet_weights(weights, cache_dir, progress), device)
        return lambda image, lms: bisenet_parts(net, image, device)
    from data_util.face_parsing.silhouette import SilhouetteParser   # mediapipe
    return SilhouetteParser()
