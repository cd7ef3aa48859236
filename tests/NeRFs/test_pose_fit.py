"""Pose corrections and their photometric fit (NeRFs/core/pose_fit.py): the rotation maths against scipy,
and a known pose error recovered on an analytic textured sphere (a frozen 'field' whose answer is known)."""
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from NeRFs.core.pose_fit import axis_angle_matrix, corrected_pose, fit_pose
from NeRFs.core.rays import get_rays


@pytest.mark.parametrize("scale", [1e-6, 1e-3, 0.3, 2.5])
def test_axis_angle_matrix_is_scipys_rotation(scale):
    w = np.random.default_rng(0).normal(size=(6, 3)) * scale
    got = axis_angle_matrix(torch.tensor(w)).numpy()
    np.testing.assert_allclose(got, Rotation.from_rotvec(w).as_matrix(), atol=1e-12)


def test_corrected_pose_is_the_correction_times_the_pose():
    rng = np.random.default_rng(1)
    c2w = np.eye(4)
    c2w[:3, :3] = Rotation.from_rotvec(rng.normal(size=3) * 0.3).as_matrix()
    c2w[:3, 3] = rng.normal(size=3)
    corr = rng.normal(size=6) * 0.05
    T = np.eye(4)
    T[:3, :3] = Rotation.from_rotvec(corr[:3]).as_matrix()
    T[:3, 3] = corr[3:]
    got = corrected_pose(torch.tensor(c2w), torch.tensor(corr)).numpy()
    np.testing.assert_allclose(got, (T @ c2w)[:3], atol=1e-12)


RADIUS, FOCAL, SIZE = 0.3, 128.0, 64


def textured_sphere(rays_o, rays_d, bc_rgb):
    """A differentiable stand-in for a trained field: a soft ball of radius 0.3 at the origin, coloured by a
    smooth pattern fixed to the world at each ray's point closest to the centre, over the background (its
    soft edge gives the silhouette a gradient, as a field's density does). [R, 3] each -> rgb [R, 3]."""
    s = -(rays_o * rays_d).sum(-1) / (rays_d * rays_d).sum(-1)
    q = rays_o + s[:, None] * rays_d
    alpha = torch.sigmoid((RADIUS ** 2 - (q * q).sum(-1)) / 0.004)[:, None]
    colour = 0.5 + 0.4 * torch.stack((torch.sin(9 * q[:, 0] + 2), torch.sin(7 * q[:, 1] - 1),
                                      torch.sin(8 * q[:, 2] + 5 * q[:, 0])), dim=-1)
    return alpha * colour + (1 - alpha) * bc_rgb


def sphere_camera():
    return SimpleNamespace(H=SIZE, W=SIZE, focal=FOCAL, cx=SIZE / 2, cy=SIZE / 2,
                           bc_img=torch.full((SIZE, SIZE, 3), 0.2, dtype=torch.float64))


def render_sphere(pose, cam):
    rays_o, rays_d = get_rays(cam.H, cam.W, cam.focal, pose, cam.cx, cam.cy)
    return textured_sphere(rays_o.reshape(-1, 3), rays_d.reshape(-1, 3), cam.bc_img.reshape(-1, 3)).reshape(
        cam.H, cam.W, 3)


def test_fit_pose_recovers_a_known_pose_error():
    """The image of the true pose, a 'tracked' pose 3 degrees and ~2 px off: the fitted correction brings it
    back to the true pose (within 0.3 degrees and 0.002 units, ~0.2 px) and the image error nearly to zero."""
    cam = sphere_camera()
    true = torch.eye(4, dtype=torch.float64)
    true[:3, :3] = torch.tensor(Rotation.from_rotvec([0.2, -0.3, 0.1]).as_matrix())
    true[:3, 3] = true[:3, :3] @ torch.tensor([0.0, 0.0, 1.5], dtype=torch.float64)  # looking at the origin
    error = torch.tensor([0.03, -0.04, 0.02, 0.02, -0.015, 0.01], dtype=torch.float64)
    tracked = torch.eye(4, dtype=torch.float64)
    tracked[:3] = corrected_pose(true, error)
    target = render_sphere(true, cam)
    rect = [SIZE / 2 - 26, SIZE / 2 - 26, 52, 52]
    corr = fit_pose(textured_sphere, tracked, target, cam, rect, iters=200, lr=2e-3)
    fitted = torch.cat((corrected_pose(tracked, corr), tracked[3:]))
    rot_err = Rotation.from_matrix((fitted[:3, :3] @ true[:3, :3].T).numpy()).magnitude()
    assert np.degrees(rot_err) < 0.3
    assert (fitted[:3, 3] - true[:3, 3]).abs().max() < 2e-3
    before = ((render_sphere(tracked, cam) - target) ** 2).mean()
    after = ((render_sphere(fitted, cam) - target) ** 2).mean()
    assert after < 0.02 * before


def test_fit_sequence_poses_fits_each_pose_to_its_image_once(tmp_path, capsys):
    """Two pose frames, the first 'tracked' 2 degrees off its image, the second without an image; driving
    cycles them over 4 output frames: the first is fitted (once, reused), the second stays as tracked."""
    import imageio.v2 as imageio
    from NeRFs.core.pose_fit import fit_sequence_poses
    cam = sphere_camera()
    cam.near, cam.far = 1.0, 2.0
    true = torch.eye(4, dtype=torch.float64)
    true[:3, 3] = torch.tensor([0.0, 0.0, 1.5], dtype=torch.float64)
    tracked = torch.eye(4, dtype=torch.float64)
    tracked[:3] = corrected_pose(true, torch.tensor([0.02, -0.03, 0.0, 0.01, 0.0, 0.0], dtype=torch.float64))
    image = (render_sphere(true, cam).numpy() * 255).round().astype(np.uint8)
    imageio.imwrite(tmp_path / "7.jpg", image, quality=100)
    frames = [{"img_id": 7, "face_rect": [6, 6, 52, 52]}, {"img_id": 8, "face_rect": [6, 6, 52, 52]}]
    head = SimpleNamespace(render_rays=lambda o, d, near, far, bc, cond, s: {"rgb_map": textured_sphere(o, d, bc)})
    poses = torch.stack((tracked, tracked, tracked, tracked))
    fitted, corrections = fit_sequence_poses(head, cam, None, poses, torch.zeros(4, 1), frames, tmp_path, 200)
    assert corrections[1] is None and corrections[3] is None and torch.equal(fitted[1], tracked)
    assert corrections[0] == corrections[2] and torch.equal(fitted[0], fitted[2])
    assert "1 of 2 pose frames have no image" in capsys.readouterr().out   # the tracked one is named
    err = Rotation.from_matrix((fitted[0, :3, :3] @ true[:3, :3].T).numpy()).magnitude()
    start = (tracked[:3, 3] - true[:3, 3]).abs().max()             # 0.054: the camera swings about the ball
    assert np.degrees(err) < 0.5 and (fitted[0, :3, 3] - true[:3, 3]).abs().max() < 0.2 * start  # from 2.1 deg
