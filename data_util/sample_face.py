"""Animate a portrait photograph into talking-head frames: a jaw that opens, a head that sways.

    portrait = build_portrait(size)                       # once: landmarks, person matte, jaw warp field
    frame = render_frame(portrait, opening, motion)       # uint8 [size, size, 3]
    motion = head_motion(n_frames, fps, rng, size)        # [N, 3] (degrees, dx px, dy px)

The photograph is scikit-image's ``astronaut()`` (public domain, NASA). ``build_portrait`` finds its 68
landmarks once with dlib, separates the person from the backdrop with mediapipe's selfie segmentation and
inpaints the backdrop behind her, so the person can move over a static background (as in a real recording:
later preprocessing estimates one background image from all frames).

Mouth: a thin-plate-spline field, built once, moves the lower lip and chin landmarks down (and the mouth
corners a little) while the upper lip, nose, eyes and the sides of the face stay; a frame applies it scaled
by the opening as a smooth backward warp. The widened gap between the lips is then filled: the upper teeth
of the photo stay under the upper lip, a thin strip of the photo's gap follows the lower lip, and a dark
mouth cavity shows in between. At opening 0 the frame is the photo itself, so nothing is ever seamed.
Head: the person layer is rotated by a few degrees about the chin and shifted by a few pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from data_util.common import StepError

CROP_X0, CROP_Y0, CROP_SIDE = 64, 8, 320      # square portrait in astronaut() pixels: head, neck, shoulders
PIVOT = (225.0, 190.0)                         # head-motion pivot (chin / neck) in astronaut() pixels
MAX_LIP_DROP = 10.0                            # lower-lip drop at full opening, astronaut() pixels
MOUTH_CAVITY_RGB = (48.0, 18.0, 20.0)           # the dark back of the mouth
TONGUE_RGB = (125.0, 52.0, 52.0)                # seen just behind the lower lip

# landmark index -> vertical displacement at full opening (units of MAX_LIP_DROP); all others stay
JAW_DISPLACEMENT = {
    4: 0.15, 12: 0.15, 5: 0.35, 11: 0.35, 6: 0.6, 10: 0.6, 7: 0.8, 9: 0.8, 8: 0.85,    # jaw line and chin
    48: 0.3, 54: 0.3, 60: 0.3, 64: 0.3,                                                  # mouth corners
    55: 0.65, 59: 0.65, 56: 0.9, 58: 0.9, 57: 1.0, 65: 0.9, 67: 0.9, 66: 1.0,             # lower lip
}
UPPER_INNER = [60, 61, 62, 63, 64]
LOWER_INNER = [60, 67, 66, 65, 64]


@dataclass
class Portrait:
    person: np.ndarray        # float32 [H, W, 3] the photo at working scale (RGB, 0..255)
    matte: np.ndarray         # float32 [H, W] person opacity 0..1
    background: np.ndarray    # float32 [S, S, 3] static backdrop, already cropped to the output
    landmarks: np.ndarray     # float64 [68, 2] (x, y) of the photo at working scale
    patch: tuple[int, int, int, int]   # (x0, y0, x1, y1) region of the photo the mouth warp changes
    jaw_field: np.ndarray     # float32 [h, w] downward displacement per unit opening over the patch (px)
    lip_drop: np.ndarray      # float64 [68] downward displacement per unit opening of each landmark (px)
    crop: np.ndarray          # float64 [3, 3] working-scale photo -> output pixels
    pivot: np.ndarray         # float64 [2] head-motion pivot at working scale
    size: int


def _pixel_scale(points: np.ndarray, factor: float) -> np.ndarray:
    """Rescale pixel coordinates (pixel centres at integers) by ``factor``."""
    return (np.asarray(points, np.float64) + 0.5) * factor - 0.5


def person_matte(image: np.ndarray) -> np.ndarray:
    """uint8 [H, W, 3] -> float32 [H, W]: mediapipe selfie segmentation (general model), edges sharpened."""
    from mediapipe.python.solutions import selfie_segmentation
    with selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        soft = segmenter.process(np.ascontiguousarray(image)).segmentation_mask
    # the model's mask is a blurred low-resolution map: a steeper ramp keeps less moving backdrop around her
    return np.clip((soft - 0.35) / 0.3, 0.0, 1.0).astype(np.float32)


def jaw_field(landmarks: np.ndarray, patch: tuple[int, int, int, int], lip_drop: np.ndarray,
              neck_y: float) -> np.ndarray:
    """Thin-plate-spline interpolation of the landmarks' displacements over the patch -> float32 [h, w].

    Landmarks not in JAW_DISPLACEMENT, a row across the neck at ``neck_y`` and the patch border are fixed
    (displacement 0), so the field fades out smoothly inside the patch and is exactly 0 on its border.
    """
    from scipy.interpolate import RBFInterpolator
    x0, y0, x1, y1 = patch
    border_x = np.linspace(x0, x1 - 1, 12)
    border_y = np.linspace(y0, y1 - 1, 12)
    fixed = np.concatenate([
        np.stack([border_x, np.full(12, y0)], 1), np.stack([border_x, np.full(12, y1 - 1)], 1),
        np.stack([np.full(12, x0), border_y], 1), np.stack([np.full(12, x1 - 1), border_y], 1),
        np.stack([np.linspace(landmarks[3, 0], landmarks[13, 0], 9), np.full(9, neck_y)], 1)])
    points = np.concatenate([landmarks, fixed])
    values = np.concatenate([lip_drop, np.zeros(len(fixed))])
    rbf = RBFInterpolator(points, values, kernel="thin_plate_spline", smoothing=1e-3)
    ys, xs = np.mgrid[y0:y1, x0:x1]
    field = rbf(np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float64)).reshape(ys.shape)
    # the spline is only ~0 between the fixed border points: taper it to exactly 0 at the patch border
    to_border = np.minimum.reduce([xs - x0, x1 - 1 - xs, ys - y0, y1 - 1 - ys]).astype(np.float64)
    taper = np.clip(to_border / 6.0, 0.0, 1.0)
    return (field * taper * taper * (3.0 - 2.0 * taper)).astype(np.float32)


def build_portrait(size: int = 256, image: np.ndarray | None = None, landmarks: np.ndarray | None = None,
                   matte: np.ndarray | None = None) -> Portrait:
    """Prepare the photo for animation at output size ``size`` (landmarks / matte are found if not given).

    image: uint8 [512, 512, 3] (default skimage.data.astronaut()); landmarks: [68, 2] on that image;
    matte: float [512, 512] person opacity on that image.
    """
    if image is None:
        from skimage import data
        image = data.astronaut()
    if landmarks is None:
        from data_util.landmarks import detect_landmarks
        landmarks = detect_landmarks([image], backend="dlib")[0]
        if landmarks is None:
            raise StepError("dlib found no face in the portrait photo given to build_portrait")
    if matte is None:
        matte = person_matte(image)
    # work at (about) the output scale: one area-averaged downscale, then warps at scale ~1 do not alias
    side = int(round(image.shape[0] * size / CROP_SIDE))
    factor = side / image.shape[0]
    person = cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)
    matte = cv2.resize(np.asarray(matte, np.float32), (side, side), interpolation=cv2.INTER_AREA)
    lms = _pixel_scale(landmarks, factor)
    crop = np.array([[1.0, 0.0, -CROP_X0 * factor], [0.0, 1.0, -CROP_Y0 * factor], [0.0, 0.0, 1.0]])

    hole = (cv2.dilate((matte > 0.05).astype(np.uint8), np.ones((9, 9), np.uint8)) * 255)
    backdrop = cv2.inpaint(person, hole, 5, cv2.INPAINT_TELEA)
    background = cv2.warpAffine(backdrop, crop[:2], (size, size), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_REFLECT101).astype(np.float32)

    lip_drop = np.zeros(68)
    for index, value in JAW_DISPLACEMENT.items():
        lip_drop[index] = value * MAX_LIP_DROP * factor
    face_height = lms[8, 1] - lms[27, 1]
    neck_y = lms[8, 1] + 0.3 * face_height
    margin = int(np.ceil(0.1 * face_height))
    patch = (int(lms[1, 0]) - margin, int(lms[30, 1]), int(np.ceil(lms[15, 0])) + margin,
             int(np.ceil(neck_y)) + margin)
    return Portrait(person.astype(np.float32), matte, background, lms, patch,
                    jaw_field(lms, patch, lip_drop, neck_y), lip_drop, crop, _pixel_scale(PIVOT, factor), size)


def _clip01(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 1.0)


def open_mouth(portrait: Portrait, opening: float) -> np.ndarray:
    """The photo's mouth patch with the jaw opened by ``opening`` (0..1) -> float32 [h, w, 3]."""
    x0, y0, x1, y1 = portrait.patch
    src = portrait.person[y0:y1, x0:x1]
    h, w = src.shape[:2]
    if opening <= 0.0:
        return src.copy()
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    # backward warp: the output pixel p shows the photo at q with q + opening * D(q) = p (one fixed-point step)
    shift = opening * portrait.jaw_field
    shift = opening * cv2.remap(portrait.jaw_field, xs, ys - shift, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    out = cv2.remap(src, xs, ys - shift, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)

    lms = portrait.landmarks - (x0, y0)
    drop = opening * portrait.lip_drop
    cols = np.arange(w, dtype=np.float64)
    upper_x, lower_x = lms[UPPER_INNER, 0], lms[LOWER_INNER, 0]
    upper_0 = np.interp(cols, upper_x, lms[UPPER_INNER, 1])          # inner lip lines in the photo
    lower_0 = np.interp(cols, lower_x, lms[LOWER_INNER, 1])
    upper = upper_0 + np.interp(cols, upper_x, drop[UPPER_INNER])    # ... and in this frame
    lower = lower_0 + np.interp(cols, lower_x, drop[LOWER_INNER])
    gap_0 = np.maximum(lower_0 - upper_0, 0.0)[None]
    from_top = ys - upper[None]                                      # [h, w] distance below the upper lip
    from_bottom = lower[None] - ys                                   # [h, w] distance above the lower lip
    # inside the opened lips: upper teeth hang from the upper lip, a strip follows the lower lip, cavity between
    teeth = cv2.remap(src, xs, (upper_0[None] + from_top).astype(np.float32), cv2.INTER_LINEAR,
                      borderMode=cv2.BORDER_REPLICATE)
    lower_strip = cv2.remap(src, xs, (lower_0[None] - from_bottom).astype(np.float32), cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    w_teeth = _clip01(0.75 * gap_0 - from_top + 0.5)
    w_strip = _clip01(0.25 * gap_0 - from_bottom + 0.5)
    w_cavity = _clip01(1.0 - w_teeth - w_strip)
    total = w_teeth + w_strip + w_cavity
    depth = from_top / np.maximum(from_top + from_bottom, 1e-6)       # 0 at the upper lip, 1 at the lower
    tongue = (_clip01((depth - 0.45) / 0.55) ** 2 * 0.8)[..., None]
    cavity = (1.0 - tongue) * np.array(MOUTH_CAVITY_RGB, np.float32) + tongue * np.array(TONGUE_RGB, np.float32)
    strip_shade = 1.0 - 0.15 * opening                                # in shadow as the jaw drops
    inside = (w_teeth[..., None] * teeth + w_strip[..., None] * lower_strip * strip_shade
              + w_cavity[..., None] * cavity) / total[..., None]
    between_corners = ((cols > upper_x.min()) & (cols < upper_x.max()))[None]
    inside_alpha = _clip01(np.minimum(from_top, from_bottom) + 0.5) * between_corners
    return (out * (1.0 - inside_alpha[..., None]) + inside * inside_alpha[..., None]).astype(np.float32)


def motion_matrix(portrait: Portrait, degrees: float, dx: float, dy: float) -> np.ndarray:
    """[2, 3] affine: working-scale photo -> output, rotated about the pivot and shifted (output px)."""
    rotation = np.vstack([cv2.getRotationMatrix2D(tuple(portrait.pivot), degrees, 1.0), [0.0, 0.0, 1.0]])
    shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, dy], [0.0, 0.0, 1.0]])
    return (shift @ portrait.crop @ rotation)[:2]


def render_frame(portrait: Portrait, opening: float, motion: tuple[float, float, float]) -> np.ndarray:
    """One frame: mouth opened by ``opening`` (0..1), person moved by ``motion`` = (degrees, dx, dy).

    Returns uint8 RGB [size, size, 3].
    """
    x0, y0, x1, y1 = portrait.patch
    person = portrait.person.copy()
    person[y0:y1, x0:x1] = open_mouth(portrait, opening)
    matrix = motion_matrix(portrait, *motion)
    size = (portrait.size, portrait.size)
    moved = cv2.warpAffine(person, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    alpha = cv2.warpAffine(portrait.matte, matrix, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101)
    frame = moved * alpha[..., None] + portrait.background * (1.0 - alpha[..., None])
    return np.clip(frame + 0.5, 0, 255).astype(np.uint8)


def head_motion(n_frames: int, fps: int, rng: np.random.Generator, size: int) -> np.ndarray:
    """[N, 3] smooth small head motion: in-plane rotation (degrees, |.| < 3) and shift (output px, ~1.5 % of size).

    Each component is a mix of two slow sinusoids (0.07-0.3 Hz) with random phases.
    """
    t = np.arange(n_frames) / fps
    amplitudes = np.array([2.5, 0.015 * size, 0.01 * size])
    motion = np.zeros((n_frames, 3))
    for c in range(3):
        freqs = rng.uniform(0.07, 0.3, size=2)
        phases = rng.uniform(0.0, 2.0 * np.pi, size=2)
        weights = rng.dirichlet([2.0, 2.0])
        motion[:, c] = amplitudes[c] * (weights[0] * np.sin(2 * np.pi * freqs[0] * t + phases[0])
                                        + weights[1] * np.sin(2 * np.pi * freqs[1] * t + phases[1]))
    return motion
