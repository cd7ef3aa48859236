"""The rigid tracker's shape stage: another person's face, under known poses, is tracked better on the
shape fitted to its own landmarks than on the generic face (ground truth: the poses that made them)."""
import numpy as np
import pytest
import torch

from data_util.face_tracking.rigid_tracker import fit_poses, track_rigid
from data_util.face_tracking.subject_shape import EYE_CORNERS, fit_subject_shape, symmetrise
from data_util.face_tracking.synthetic import pose_sequence, project_points, rotation_errors_deg
from data_util.face_tracking.template import generic_face_68, mirror_index, rigid_weights

SIZE = (512, 512)
FOCAL = 1200.0


def another_face() -> np.ndarray:
    """A symmetric face unlike the template: a wider jaw, a deeper nose, higher brows, a lower chin (dm)."""
    face = generic_face_68().copy()
    face[0:17, 0] *= 1.15
    face[27:36, 2] += 0.08
    face[17:27, 1] += 0.05
    face[5:12, 1] -= 0.05
    a, b = EYE_CORNERS
    return face * (np.linalg.norm(generic_face_68()[a] - generic_face_68()[b]) / np.linalg.norm(face[a] - face[b]))


@pytest.fixture(scope="module")
def sequence():
    euler, trans = pose_sequence(150, seed=11, yaw_deg=25.0, pitch_deg=12.0)
    return euler, trans, project_points(another_face(), euler, trans, FOCAL, SIZE, noise_px=0.5, seed=12)


def test_mirror_index_pairs_the_ibug_points():
    index = mirror_index()
    assert (index[index] == np.arange(68)).all()
    assert index[36] == 45 and index[0] == 16 and index[48] == 54 and index[30] == 30 and index[8] == 8
    T = generic_face_68()
    np.testing.assert_allclose(T[index] * [-1, 1, 1], T, atol=1e-12)   # the template is symmetric


def test_the_fitted_shape_is_the_persons_and_symmetric(sequence):
    euler, trans, lms = sequence
    pose = np.concatenate((euler, trans), 1)
    shape, fitted = fit_subject_shape(lms, pose, generic_face_68(), rigid_weights(), FOCAL, (256.0, 256.0))
    truth, template = another_face(), generic_face_68()
    np.testing.assert_allclose(symmetrise(torch.from_numpy(shape)).numpy(), shape, atol=1e-12)
    error = np.linalg.norm(shape - truth, axis=1)
    assert error.mean() < 0.3 * np.linalg.norm(template - truth, axis=1).mean(), error.mean()
    assert error.mean() < 0.02, error.mean()                        # 2 mm on average
    assert rotation_errors_deg(fitted[:, :3], euler).mean() < 0.3


def relative_errors_deg(estimate: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Rotation errors [n] once the sequence's constant offset is removed: a rotation shared by every frame
    is a choice of the face's axes, not an error between frames."""
    return rotation_errors_deg(estimate - (estimate - truth).mean(0), truth)


def test_tracking_on_the_persons_shape_recovers_the_poses_better(sequence):
    euler, trans, lms = sequence
    own = track_rigid(lms, SIZE, focal=FOCAL, fit_shape=True)
    generic = track_rigid(lms, SIZE, focal=FOCAL)   # the default: the generic face
    rot_own, rot_generic = relative_errors_deg(own["euler"], euler), relative_errors_deg(generic["euler"], euler)
    assert rot_own.mean() < 0.3 * rot_generic.mean(), (rot_own.mean(), rot_generic.mean())
    assert rotation_errors_deg(own["euler"], euler).mean() < 0.4 * rotation_errors_deg(generic["euler"], euler).mean()
    assert own["errors"].mean() < 0.5 * own["generic_errors"].mean()
    assert abs(generic["errors"].mean() - generic["generic_errors"].mean()) < 0.2  # off: the template
    assert np.abs(own["trans"] - trans).max() < np.abs(generic["trans"] - trans).max()


def test_the_generic_face_tracks_as_before(sequence):
    euler, trans, lms = sequence
    generic = track_rigid(lms, SIZE, focal=FOCAL, fit_shape=False, smooth=0.0)
    np.testing.assert_allclose(np.concatenate((generic["euler"], generic["trans"]), 1),
                               fit_poses(lms, FOCAL, (256.0, 256.0)), atol=1e-9)
    assert generic["shape"] is not None and np.array_equal(generic["shape"], generic_face_68())


def test_non_finite_landmarks_are_refused(sequence):
    euler, trans, lms = sequence
    bad = lms.copy()
    bad[3, 5, 0] = np.nan
    with pytest.raises(ValueError, match="finite"):
        fit_subject_shape(bad, np.concatenate((euler, trans), 1), generic_face_68(), rigid_weights(), FOCAL,
                          (256.0, 256.0))


def test_process_data_passes_the_choice_and_the_record_says_it(tmp_path):
    from data_util.face_tracking.pipeline import run_tracking
    from data_util.process_data import STEPS, parse_args, step_options
    from tests.data_util.test_face_tracking_rigid import write_dataset
    tracking = next(s for s in STEPS if s.name == "tracking")
    assert step_options(tracking, parse_args(["--id", "x", "--offline"]))["subject_shape"] is False
    assert step_options(tracking, parse_args(["--id", "x", "--offline", "--subject_shape"]))["subject_shape"] is True
    write_dataset(tmp_path)
    record = run_tracking(tmp_path, tracker="rigid", progress=False, subject_shape=True)
    assert record["subject_shape"] is True
    assert record["mean_landmark_error_px"] < record["generic_face_landmark_error_px"] + 0.05  # the template's own face
    plain = run_tracking(tmp_path, tracker="rigid", progress=False, force=True)
    assert plain["subject_shape"] is False
    assert abs(plain["mean_landmark_error_px"] - plain["generic_face_landmark_error_px"]) < 0.2
