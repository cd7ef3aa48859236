"""The original face tracker's camera maths and the torso's rot_to_euler (../shared/oracle/geometry.npz:
the original's euler2rot, forward_transform and TorsoNeRF rot_to_euler on 64 random poses)."""
import numpy as np
import pytest
import torch

from data_util.face_tracking.geometry import euler_to_rotation, forward_transform, rotation_to_euler, to_camera
from data_util.nerf_configs import head_pose_to_c2w
from NeRFs.core.torso import rot_to_euler
from tests.oracle import need


@pytest.fixture(scope="module")
def geo():
    return dict(np.load(need("geometry.npz")))


def test_euler_to_rotation_is_the_originals_euler2rot(geo):
    R = euler_to_rotation(torch.as_tensor(geo["euler"], dtype=torch.float64)).numpy()
    assert np.abs(R - geo["R"]).max() < 1e-5
    # and its inverse recovers the stored angles (|e1| < pi/2 in the fixture)
    back = rotation_to_euler(torch.as_tensor(geo["R"], dtype=torch.float64)).numpy()
    assert np.abs(back - geo["euler"]).max() < 1e-5


def test_projection_is_the_originals_forward_transform(geo):
    as_t = lambda k: torch.as_tensor(geo[k], dtype=torch.float64)  # noqa: E731
    uv = forward_transform(as_t("points"), as_t("euler"), as_t("trans"), float(geo["focal"][0]), geo["cxy"])
    z = to_camera(as_t("points"), as_t("euler"), as_t("trans"))[..., 2]
    # the original returns (u, v, Z_cam); its float32 arithmetic limits the agreement to ~1e-5 relative
    assert np.abs(uv.numpy() - geo["proj"][..., :2]).max() < 1e-5 * np.abs(geo["proj"][..., :2]).max()
    assert np.abs(z.numpy() - geo["proj"][..., 2]).max() < 1e-5


def test_step7_camera_and_torso_angles_are_the_originals(geo):
    """c2w = [R^T | -R^T t/10] from the tracker's pose (step 7), and rot_to_euler of those cameras."""
    for e, t, c2w in zip(geo["euler"], geo["trans"], geo["torso_c2w"]):
        assert np.abs(head_pose_to_c2w(e, t / 10.0) - c2w).max() < 1e-5
    got = rot_to_euler(torch.as_tensor(geo["torso_c2w"][:, :3, :3], dtype=torch.float64)).numpy()
    assert np.abs(got - geo["torso_euler"]).max() < 1e-5
