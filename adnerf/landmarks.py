"""68-point facial landmarks (iBUG 300-W order, the order of FAN and dlib) behind one function.

    detect_landmarks(images, backend="fan" | "dlib", device="cpu") -> [None | float array [68, 2] (x, y)]

Backends:
- ``fan``: face-alignment's 2D FAN with its S3FD face detector, the original AD-NeRF's choice. Its weights
  are downloaded on first use from adrianbulat.com into ``<torch hub dir>/checkpoints`` (usually
  ~/.cache/torch/hub/checkpoints); offline, copy the files named in the error there.
- ``dlib``: dlib's HOG face detector and its 68-point shape predictor. Works offline: the predictor
  (``shape_predictor_68_face_landmarks.dat``) ships in the face-recognition-models package. Set
  ``ADNERF_DLIB_SHAPE_PREDICTOR`` to use another copy.
A frame without a detected face gives ``None``; with several faces the first (FAN) / most confident (dlib) is kept.

Shared because two stages must see the same points: preprocessing step 2 (data_util/landmarks.py) writes
them as ori_imgs/<n>.lms, evaluation's LMD compares them between rendered and real frames.
"""
from __future__ import annotations

import functools
import importlib.util
import os
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from adnerf.errors import AdnerfError

BACKENDS = ("fan", "dlib")
MOUTH = slice(48, 68)           # points 48-67: outer (48-59) and inner (60-67) lip contour
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)
FEATURE_PAD = 0.3               # a feature's box grows by this share of its width on every side (lids, lips)
LEFT_EYE_OUTER, RIGHT_EYE_OUTER = 36, 45

Detector = Callable[[np.ndarray], "np.ndarray | None"]


def feature_boxes(lms: np.ndarray, pad: float = FEATURE_PAD) -> np.ndarray:
    """The boxes of the mouth and of each eye, from 68 points [..., 68, 2] (x, y) -> [..., 3, 4] (x, y, w, h).

    Each box is the bounding box of its points grown by ``pad`` times its width on every side, so that an
    eye's box also holds its lids when the eye is closed and the mouth's box the lips when it is open."""
    boxes = []
    for part in (MOUTH, LEFT_EYE, RIGHT_EYE):
        pts = np.asarray(lms, dtype=np.float64)[..., part, :]
        lo, hi = pts.min(-2), pts.max(-2)
        margin = pad * (hi[..., :1] - lo[..., :1])
        boxes.append(np.concatenate((lo - margin, hi - lo + 2 * margin), axis=-1))
    return np.stack(boxes, axis=-2)


def load_lms(path: str | os.PathLike) -> np.ndarray:
    """ori_imgs/<n>.lms (68 lines 'x y') -> float64 [68, 2]; AdnerfError for an unreadable or malformed file."""
    try:
        lms = np.loadtxt(path, dtype=np.float64)
    except Exception as exc:
        raise AdnerfError(f"cannot read landmarks {path}: {exc}") from exc
    if lms.shape != (68, 2):
        raise AdnerfError(f"{path} holds {lms.shape} values; expected 68 lines of 'x y'")
    return lms


class LandmarkBackendUnavailable(AdnerfError):
    """The chosen backend cannot run here (package or weights missing); str() says why and what to do."""


def detect_landmarks(images: np.ndarray | Sequence[np.ndarray], backend: str = "dlib", device: str = "cpu",
                     progress: bool = False) -> list[np.ndarray | None]:
    """Landmarks of the (first / largest) face of each image.

    images: uint8 RGB, an array [N, H, W, 3] or a sequence of [H, W, 3] arrays.
    Returns N entries: float64 [68, 2] pixel coordinates (x right, y down), or None where no face was found.
    Raises LandmarkBackendUnavailable when the backend's package or weights cannot be had.
    """
    detect = load_detector(backend, device)
    items: Iterable = images
    if progress:
        from tqdm import tqdm
        items = tqdm(images, desc=f"landmarks ({backend})", unit="frame", leave=False)
    return [detect(np.ascontiguousarray(img, dtype=np.uint8)) for img in items]


@functools.lru_cache(maxsize=4)
def load_detector(backend: str, device: str = "cpu") -> Detector:
    """A function image [H, W, 3] uint8 RGB -> [68, 2] or None, built once per (backend, device)."""
    if backend == "dlib":
        return _dlib_detector()
    if backend == "fan":
        return _fan_detector(device)
    raise ValueError(f"unknown landmark backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def dlib_shape_predictor_path() -> Path:
    """Where shape_predictor_68_face_landmarks.dat is: $ADNERF_DLIB_SHAPE_PREDICTOR or face-recognition-models.

    The package is located with importlib instead of being imported: its __init__ imports pkg_resources,
    which setuptools >= 82 no longer provides.
    """
    override = os.environ.get("ADNERF_DLIB_SHAPE_PREDICTOR")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("face_recognition_models")
        if spec is None or not spec.submodule_search_locations:
            raise LandmarkBackendUnavailable(
                "dlib landmarks need shape_predictor_68_face_landmarks.dat: pip install face-recognition-models "
                "(or set ADNERF_DLIB_SHAPE_PREDICTOR to the .dat file)")
        path = Path(list(spec.submodule_search_locations)[0]) / "models" / "shape_predictor_68_face_landmarks.dat"
    if not path.is_file():
        raise LandmarkBackendUnavailable(f"dlib shape predictor not found at {path}: reinstall "
                                         "face-recognition-models or set ADNERF_DLIB_SHAPE_PREDICTOR")
    return path


def _dlib_detector() -> Detector:
    try:
        import dlib
    except ImportError as e:
        raise LandmarkBackendUnavailable(f"dlib is not installed ({e}): pip install dlib-bin") from e
    face_detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(str(dlib_shape_predictor_path()))

    def detect(img: np.ndarray) -> np.ndarray | None:
        # the HOG detector finds faces of about 80 px and larger; upsample small frames once
        upsample = 1 if min(img.shape[:2]) < 300 else 0
        faces, scores, _ = face_detector.run(img, upsample, 0.0)
        if len(faces) == 0:
            return None
        face = faces[int(np.argmax(scores))]
        shape = predictor(img, face)
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float64)

    return detect


def _fan_detector(device: str) -> Detector:
    try:
        import face_alignment
        from face_alignment.api import models_urls
        from face_alignment.detection.sfd.sfd_detector import models_urls as detector_urls
    except ImportError as e:
        raise LandmarkBackendUnavailable(f"face-alignment is not installed ({e}): pip install face-alignment, "
                                         "or use the offline backend dlib") from e
    import torch
    from adnerf.download import DownloadError, fetch_cached
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    urls = (models_urls["2DFAN-4"], detector_urls["s3fd"])
    names = [url.rsplit("/", 1)[-1] for url in urls]
    for url, name in zip(urls, names):
        # fetched here with the shared helper (timeouts, retries): face-alignment's own download can hang
        # forever on a server that accepts and never answers; it then finds the files in the same cache
        try:
            fetch_cached(url, cache / name, what=f"the FAN landmark weights {name}",
                         put_hint=f"FAN needs both {' and '.join(names)} there",
                         offline_hint="--landmark_backend dlib (or --offline)")
        except DownloadError as e:
            raise LandmarkBackendUnavailable(str(e)) from e
    try:
        # compile=False: torch.compile costs minutes up front and gains little for a few hundred frames
        fa = face_alignment.FaceAlignment(face_alignment.LandmarksType.TWO_D, device=device, flip_input=False,
                                          compile=False)
    except Exception as e:  # noqa: BLE001 - any failure to fetch or load the weights makes FAN unavailable
        urls = [models_urls["2DFAN-4"], detector_urls["s3fd"]]
        expected = " and ".join(str(cache / url.rsplit("/", 1)[-1]) for url in urls)
        raise LandmarkBackendUnavailable(
            f"FAN weights could not be loaded ({type(e).__name__}: {e}); they download on first use from "
            f"{' and '.join(urls)} to {expected}: copy them there to run offline, "
            "or use the offline landmark backend dlib") from e

    def detect(img: np.ndarray) -> np.ndarray | None:
        found = fa.get_landmarks_from_image(img)
        if not found:
            return None
        return np.asarray(found[0][:, :2], dtype=np.float64)

    return detect
