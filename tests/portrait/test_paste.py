"""portrait.paste: the crop / paste-back geometry on a synthetic full-resolution frame with a known face box,
the feathered mask's bounds, the blend."""
import numpy as np
import pytest

from adnerf.errors import AdnerfError
from portrait.paste import (HEAD_RGB, NECK_RGB, blend, crop_frame, default_widths, feather_mask,
                            head_neck_region, paste_back)

SRC_W, SRC_H = 720, 400
FACE_BOX = (250, 70, 260)           # x0, y0, side: the square the preprocessing crop would choose
DOTS = [(300.0, 120.0), (380.3, 200.6), (441.7, 291.2), (262.5, 318.0)]   # (x, y) inside the box


def full_frame(dots=DOTS) -> np.ndarray:
    """uint8 [SRC_H, SRC_W, 3]: a smooth backdrop with a bright Gaussian dot (sigma 4 px) at each of ``dots``."""
    yy, xx = np.mgrid[0:SRC_H, 0:SRC_W].astype(np.float64)
    image = 40 + 30 * np.sin(xx / 37.0) + 20 * np.cos(yy / 23.0)
    for x, y in dots:
        image = image + 150 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 4.0 ** 2))
    return np.repeat(np.clip(np.rint(image), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def centroid(image: np.ndarray, x: float, y: float, radius: int = 9) -> tuple[float, float]:
    """Brightness-weighted centre (x, y) of the dot near (x, y), above the local backdrop."""
    x0, y0 = int(round(x)) - radius, int(round(y)) - radius
    patch = image[y0:y0 + 2 * radius + 1, x0:x0 + 2 * radius + 1, 0].astype(np.float64)
    weight = np.clip(patch - np.percentile(patch, 50), 0, None)
    yy, xx = np.mgrid[0:patch.shape[0], 0:patch.shape[1]]
    return x0 + float((weight * xx).sum() / weight.sum()), y0 + float((weight * yy).sum() / weight.sum())


@pytest.mark.parametrize("out_size", [128, 512])      # the crop shrunk (as preprocessing does) and enlarged
def test_crop_then_paste_back_puts_every_pixel_where_it_came_from(out_size):
    source = full_frame()
    crop = crop_frame(source, FACE_BOX, out_size)
    assert crop.shape == (out_size, out_size, 3)
    x0, y0, side = FACE_BOX
    scale = out_size / side
    for x, y in DOTS:   # in the crop, each dot is at the mapped position (pixel centres aligned)
        cx, cy = centroid(crop, (x - x0 + 0.5) * scale - 0.5, (y - y0 + 0.5) * scale - 0.5, radius=max(4, int(9 * scale)))
        assert abs(cx - ((x - x0 + 0.5) * scale - 0.5)) < 0.5 * max(1, scale) and abs(cy - ((y - y0 + 0.5) * scale - 0.5)) < 0.5 * max(1, scale)
    pasted = paste_back(source, crop, FACE_BOX)
    assert pasted.shape == source.shape
    outside = np.ones(source.shape[:2], bool)
    outside[y0:y0 + side, x0:x0 + side] = False
    np.testing.assert_array_equal(pasted[outside], source[outside])       # identity outside the box
    for x, y in DOTS:                                                      # within 1 px inside it
        px, py = centroid(pasted, x, y)
        sx, sy = centroid(source, x, y)
        assert abs(px - sx) <= 1.0 and abs(py - sy) <= 1.0, (x, y, px, py)
        assert abs(px - sx) <= 0.25 and abs(py - sy) <= 0.25, "off by a fraction of a pixel: a half-pixel convention slip"
    inner = source[y0 + 8:y0 + side - 8, x0 + 8:x0 + side - 8].astype(float)
    error = np.abs(pasted[y0 + 8:y0 + side - 8, x0 + 8:x0 + side - 8].astype(float) - inner)
    assert error.mean() < (1.5 if out_size == 128 else 0.6)


def test_paste_back_with_a_mask_changes_only_the_masked_pixels():
    source = full_frame()
    image = np.full((128, 128, 3), 250, np.uint8)                 # a render: white
    alpha = np.zeros((128, 128), np.float32)
    alpha[40:90, 30:100] = 1.0
    pasted = paste_back(source, image, FACE_BOX, alpha)
    x0, y0, side = FACE_BOX
    s = side / 128
    changed = np.any(pasted != source, axis=-1)
    ys, xs = np.nonzero(changed)
    # the mask's rectangle [30, 100) x [40, 90) of the crop, in source pixels (within the bicubic's reach of
    # 2 crop pixels: the edge of a hard mask spreads that far when enlarged)
    reach = 2 * s
    assert x0 + 30 * s - reach <= xs.min() <= x0 + 30 * s and x0 + 100 * s <= xs.max() + 1 <= x0 + 100 * s + reach
    assert y0 + 40 * s - reach <= ys.min() <= y0 + 40 * s and y0 + 90 * s <= ys.max() + 1 <= y0 + 90 * s + reach
    assert (pasted[int(y0 + 50 * s):int(y0 + 80 * s), int(x0 + 40 * s):int(x0 + 90 * s)] == 250).all()
    with pytest.raises(AdnerfError, match="does not lie inside"):
        paste_back(source, image, (600, 200, 260))


def test_feather_mask_bounds():
    yy, xx = np.mgrid[0:200, 0:200]
    region = (xx - 100) ** 2 + (yy - 100) ** 2 <= 40 ** 2
    grow, feather = 6.0, 8.0
    alpha = feather_mask(region, grow, feather)
    assert alpha.dtype == np.float32 and alpha.shape == region.shape
    assert alpha.min() >= 0.0 and alpha.max() <= 1.0
    distance = np.hypot(xx - 100, yy - 100) - 40                 # distance outside the disk (about)
    assert (alpha[region] == 1.0).all()                          # 1 deep inside, and on the whole region
    assert (alpha[distance <= grow - feather / 2 - 1] == 1.0).all()
    assert (alpha[distance >= grow + feather / 2 + 1] == 0.0).all()   # 0 far outside
    ramp = (distance > grow - feather / 2 + 1) & (distance < grow + feather / 2 - 1)
    assert ((alpha[ramp] > 0) & (alpha[ramp] < 1)).all()
    row = alpha[100, 140:160]                                    # along a ray out of the disk: falls smoothly
    assert (np.diff(row) <= 1e-6).all() and np.abs(np.diff(row)).max() < 1.6 / feather
    assert (feather_mask(np.zeros((5, 5), bool)) == 0).all()
    with pytest.raises(AdnerfError, match="feather"):
        feather_mask(region, 2.0, 0.0)
    assert default_widths(512) == (4.0, 8.0) and default_widths(128) == (1.0, 2.0)


def test_head_and_neck_from_the_parsing_colours_and_the_blend():
    parsing = np.full((4, 5, 3), 255, np.uint8)                  # background white
    parsing[0, :2] = HEAD_RGB
    parsing[1, 0] = NECK_RGB
    parsing[2, :] = (255, 0, 0)                                  # torso: not part of the portrait's paste
    region = head_neck_region(parsing)
    assert region.tolist() == [[True, True, False, False, False], [True, False, False, False, False],
                               [False] * 5, [False] * 5]
    real = np.full((4, 5, 3), 10, np.uint8)
    rendered = np.full((4, 5, 3), 210, np.uint8)
    alpha = np.zeros((4, 5), np.float32)
    alpha[0, 0], alpha[0, 1] = 1.0, 0.5
    out = blend(real, rendered, alpha)
    assert out[0, 0, 0] == 210 and out[0, 1, 0] == 110
    np.testing.assert_array_equal(out[alpha == 0], real[alpha == 0])     # the real frame outside the mask
    with pytest.raises(AdnerfError, match="must be"):
        blend(real, rendered[:3], alpha)


def synthetic_landmarks(cx=100.0, cy=110.0, r=50.0) -> np.ndarray:
    """68 points [68, 2] of a round face centred (cx, cy): jaw on the lower half circle (ear to ear through
    the chin at cy + r), brows at cy - 0.4 r, eyes at cy - 0.2 r, the mouth at cy + 0.45 r."""
    pts = np.zeros((68, 2))
    angles = np.linspace(np.pi, 0.0, 17)                       # 0: left ear, 8: chin, 16: right ear
    pts[0:17] = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], -1)
    pts[17:27] = np.stack([np.linspace(cx - 0.8 * r, cx + 0.8 * r, 10), np.full(10, cy - 0.4 * r)], -1)
    pts[27:36] = [cx, cy]
    around = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    for first, ex in ((36, cx - 0.4 * r), (42, cx + 0.4 * r)):
        pts[first:first + 6] = np.stack([ex + 0.15 * r * np.cos(around), cy - 0.2 * r + 0.05 * r * np.sin(around)], -1)
    t = np.linspace(0, 2 * np.pi, 20, endpoint=False)
    pts[48:68] = np.stack([cx + 0.35 * r * np.cos(t), cy + 0.45 * r + 0.1 * r * np.sin(t)], -1)
    pts[48], pts[54] = (cx - 0.35 * r, cy + 0.45 * r), (cx + 0.35 * r, cy + 0.45 * r)
    return pts


def test_face_region_holds_brows_eyes_mouth_and_a_lowered_chin_not_the_outline_or_hair():
    from portrait.paste import BROW_LIFT, JAW_DROP, SIDE_INSET, face_region
    lms = synthetic_landmarks()
    region = face_region(lms, (240, 200))
    height = lms[8, 1] - lms[17:27, 1].mean()                  # 70 px: brow line (90) to chin (160)
    inset = SIDE_INSET * (lms[16, 0] - lms[0, 0])              # 10 px at the ears' height
    inside = [(100, 110), (80, 100), (120, 100), (100, 132), (100, 90 - 0.8 * BROW_LIFT * height),
              (100, 160 + 0.8 * JAW_DROP * height), (50 + 1.3 * inset, 112), (150 - 1.3 * inset, 112)]
    outside = [(100, 90 - 1.5 * BROW_LIFT * height), (100, 30), (100, 160 + 1.5 * JAW_DROP * height), (40, 150),
               (160, 150), (20, 110), (50 + 0.7 * inset, 112), (150 - 0.7 * inset, 112)]
    # centre, eyes, mouth, above the brows, below the chin, the cheeks | the hair, the top, the neck, beside
    # the jaw, the background, the face's own outline at the ears' height (moved inwards by the inset)
    assert all(region[int(y), int(x)] for x, y in inside)
    assert not any(region[int(y), int(x)] for x, y in outside)
    assert region.sum() < face_region(lms, (240, 200), side_inset=0.0).sum()
    flat = face_region(lms, (240, 200), jaw_drop=0.0, side_inset=0.0)
    assert flat[159, 100] and not flat[164, 100]                # no drop: the chin where the landmarks put it
    bad = lms.copy()
    bad[5, 0] = np.nan
    with pytest.raises(AdnerfError, match="68 finite"):
        face_region(bad, (240, 200))
    with pytest.raises(AdnerfError, match="68 finite"):
        face_region(lms[:60], (240, 200))
