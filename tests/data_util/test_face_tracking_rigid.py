"""Face tracking step 6, rigid tracker and run_tracking: poses recovered from landmarks of known faces."""
import numpy as np
import pytest
import torch

from data_util.common import StepError, save_lms
from data_util.face_tracking import run_tracking
from data_util.face_tracking.geometry import euler_to_rotation, rotation_to_euler
from data_util.face_tracking.rigid_tracker import track_rigid
from data_util.face_tracking.synthetic import jitter, pose_sequence, project_points, rotation_errors_deg
from data_util.face_tracking.template import generic_face_68
from data_util.nerf_configs import euler_to_rotation as step7_rotation

SIZE = (450, 450)


def test_rotation_convention_is_step_7s_and_inverts():
    euler = torch.tensor([[0.3, -0.5, 0.2], [-0.1, 0.7, -1.0]], dtype=torch.float64)
    R = euler_to_rotation(euler)
    for e, r in zip(euler, R):
        np.testing.assert_allclose(r.numpy(), step7_rotation(e.numpy()), atol=1e-12)
    np.testing.assert_allclose(rotation_to_euler(R).numpy(), euler.numpy(), atol=1e-10)


def test_clean_landmarks_give_exact_poses_and_focal():
    euler, trans = pose_sequence(120, seed=1)
    lms = project_points(generic_face_68(), euler, trans, 1000.0, SIZE)
    result = track_rigid(lms, SIZE, focal_every=10)
    rot = rotation_errors_deg(result["euler"], euler)
    assert result["focal"] == 1000.0
    assert rot.max() < 2.0 and rot.mean() < 0.2, (rot.mean(), rot.max())
    assert np.abs(result["trans"] - trans).max() < 0.05      # dm (5 mm) at t_z = -7
    assert result["errors"].mean() < 0.2                     # px


def test_noisy_landmarks_of_another_face_smoothing_reduces_jitter():
    rng = np.random.default_rng(3)
    face = generic_face_68() + rng.normal(0, 0.02, (68, 3))  # another person: 2 mm per point
    euler, trans = pose_sequence(120, seed=4)
    lms = project_points(face, euler, trans, 1100.0, SIZE, noise_px=1.0, seed=5)
    smooth = track_rigid(lms, SIZE, focal_every=10)
    raw = track_rigid(lms, SIZE, focal=smooth["focal"], smooth=0.0)
    rot = rotation_errors_deg(smooth["euler"], euler)
    assert abs(smooth["focal"] - 1100.0) <= 200.0
    assert rot.mean() < 1.5, rot.mean()
    assert jitter(smooth["euler"]) < 0.5 * jitter(raw["euler"])
    assert jitter(smooth["euler"]) < 2.0 * jitter(euler)      # close to the true motion's own curvature


@pytest.fixture(scope="module")
def astronaut_sequence():
    """Real dlib landmarks of a real face, the image rolled by a known angle per frame."""
    data = pytest.importorskip("skimage.data")
    pytest.importorskip("dlib")
    import cv2
    from data_util.landmarks import detect_landmarks
    img = data.astronaut()[:260, 60:320].copy()
    angles = 6.0 * np.sin(2 * np.pi * np.arange(12) / 24)
    frames = []
    for k, a in enumerate(angles):
        M = cv2.getRotationMatrix2D((130, 100), float(a), 1.0)
        M[:, 2] += (0.5 * k, 0.3 * k)
        frames.append(cv2.warpAffine(img, M, (260, 260), borderMode=cv2.BORDER_REFLECT))
    lms = detect_landmarks(frames, backend="dlib")
    assert all(x is not None for x in lms)
    return np.stack(lms), angles


def test_real_dlib_landmarks_roll_follows_the_image(astronaut_sequence):
    lms, angles = astronaut_sequence
    result = track_rigid(lms, (260, 260), focal_every=4)
    # the stored roll has the original's sign (R = Rx Ry Rz(-e2)): opposite to the image's rotation angle
    roll = np.degrees(result["euler"][:, 2])
    offset = roll + angles                                    # the astronaut's own head tilt
    assert np.abs(offset - offset.mean()).max() < 1.5, offset
    assert result["errors"].mean() < 4.0                      # px, on a ~100 px face
    assert np.degrees(jitter(result["euler"])) < 1.0
    assert -40 < result["trans"][:, 2].mean() < -3            # in front of the camera, BFM scale


def write_dataset(root, n=30, missing=(0, 7, 8, 29), focal=900.0):
    from PIL import Image
    (root / "ori_imgs").mkdir(parents=True)
    euler, trans = pose_sequence(n, seed=7)
    lms = project_points(generic_face_68(), euler, trans, focal, SIZE)
    black = Image.new("RGB", SIZE)
    for i in range(n):
        black.save(root / "ori_imgs" / f"{i}.jpg")
        if i not in missing:
            save_lms(root / "ori_imgs" / f"{i}.lms", lms[i])
    return euler, trans


def test_run_tracking_rigid_writes_the_original_format(tmp_path):
    euler, trans = write_dataset(tmp_path)
    record = run_tracking(tmp_path, tracker="rigid", progress=False)
    params = torch.load(tmp_path / "track_params.pt", weights_only=True)
    shapes = {k: tuple(v.shape) for k, v in params.items()}
    # the original's layout: one row per frame with a .lms (26 of 30), in frame order, no 'valid'
    assert shapes == {"id": (1, 100), "exp": (26, 79), "euler": (26, 3), "trans": (26, 3), "focal": (1,)}
    assert all(params[k].dtype == torch.float32 for k in ("id", "exp", "euler", "trans", "focal"))
    assert not params["id"].any() and not params["exp"].any()
    assert float(params["focal"]) == 900.0 == record["focal"]
    assert record["no_landmarks"] == [0, 7, 8, 29] and record["tracked"] == 26
    assert record["mean_landmark_error_px"] < 0.5 and record["seconds_per_frame"] > 0
    kept = [i for i in range(30) if i not in (0, 7, 8, 29)]
    assert rotation_errors_deg(params["euler"].numpy(), euler[kept]).max() < 0.5  # row j = j-th frame with .lms
    # idempotent: kept unless forced
    mtime = (tmp_path / "track_params.pt").stat().st_mtime_ns
    assert run_tracking(tmp_path, tracker="rigid", progress=False)["skipped"]
    assert (tmp_path / "track_params.pt").stat().st_mtime_ns == mtime
    assert "skipped" not in run_tracking(tmp_path, tracker="rigid", progress=False, force=True, focal=1000.0)
    assert float(torch.load(tmp_path / "track_params.pt", weights_only=True)["focal"]) == 1000.0


def test_bfm_without_3dmm_says_what_to_do(tmp_path):
    write_dataset(tmp_path / "d", n=5, missing=())
    with pytest.raises(StepError) as err:
        run_tracking(tmp_path / "d", tracker="bfm", bfm_dir=tmp_path / "3DMM", progress=False)
    msg = str(err.value)
    for part in ("3DMM_info.npy", "convert_BFM.py", "https://faces.dmi.unibas.ch/bfm/", "--tracker rigid", "--offline"):
        assert part in msg
    assert "\n" not in msg


def test_missing_inputs_are_step_errors(tmp_path):
    with pytest.raises(StepError, match="step 1"):
        run_tracking(tmp_path, tracker="rigid")
    write_dataset(tmp_path, n=3, missing=(0, 1, 2))
    with pytest.raises(StepError, match="step 2"):
        run_tracking(tmp_path, tracker="rigid")
    with pytest.raises(StepError, match="unknown tracker"):
        run_tracking(tmp_path, tracker="flame")
