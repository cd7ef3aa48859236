import numpy as np
import torch

from NeRFs.core.rays import face_rect_mask, get_rays, sample_pixels
from NeRFs.core.sampling import sample_pdf, stratified_depths


def test_rays_follow_the_original_camera_convention(device):
    c2w = torch.eye(4, device=device)
    c2w[:3, 3] = torch.tensor([0.1, 0.2, 0.8])
    o, d = get_rays(4, 6, 2.0, c2w, cx=3.0, cy=2.0)
    assert o.shape == d.shape == (4, 6, 3) and o.device.type == d.device.type == device.type
    o, d = o.cpu(), d.cpu()
    torch.testing.assert_close(o[1, 2], c2w[:3, 3].cpu())
    torch.testing.assert_close(d[2, 3], torch.tensor([0.0, 0.0, -1.0]))  # the principal point
    torch.testing.assert_close(d[0, 5], torch.tensor([(5 - 3) / 2.0, -(0 - 2) / 2.0, -1.0]))  # no half pixel


def test_face_rect_is_not_transposed():
    rect = [10, 2, 5, 3]  # x (column) 10..15, y (row) 2..5
    m = face_rect_mask(rect, 20, 30)
    rows, cols = np.nonzero(m)
    assert rows.min() == 2 and rows.max() == 5 and cols.min() == 10 and cols.max() == 15


def test_pixel_sampler_puts_95_percent_in_the_rect_without_repeats():
    rng = np.random.default_rng(0)
    rect = [20, 5, 10, 8]
    coords = sample_pixels(200, 40, 50, rng, rect, 0.95)
    assert coords.shape == (200, 2)
    assert len({tuple(c) for c in coords}) == 200
    inside = face_rect_mask(rect, 40, 50)[coords[:, 0], coords[:, 1]]
    assert inside.sum() == 99  # 99 pixels fit in the 11x9 rect; the rest come from outside
    coords = sample_pixels(40, 40, 50, rng, rect, 0.95)
    assert face_rect_mask(rect, 40, 50)[coords[:, 0], coords[:, 1]].sum() == 38


def test_stratified_depths_keep_the_background_sample_at_far(device):
    near, far = torch.full((5,), 0.6, device=device), torch.full((5,), 1.2, device=device)
    z = stratified_depths(near, far, 16)
    assert z.device.type == device.type
    torch.testing.assert_close(z[:, 0], near)
    torch.testing.assert_close(z[:, -1], far)
    g = torch.Generator(device=device).manual_seed(0)
    zp = stratified_depths(near, far, 16, perturb=1.0, generator=g)
    assert (zp[:, 1:] >= zp[:, :-1]).all() and (zp[:, -1] == 1.2).all() and not torch.equal(zp, z)


def test_sample_pdf_concentrates_where_the_weight_is(device):
    bins = torch.linspace(0, 1, 11, device=device).expand(3, 11)
    weights = torch.zeros(3, 10, device=device)
    weights[:, 7] = 1.0
    s = sample_pdf(bins, weights, 64, deterministic=True)
    inside = ((s >= 0.7) & (s <= 0.8)).float().mean()
    assert inside > 0.9
    assert (s >= 0).all() and (s <= 1).all()
