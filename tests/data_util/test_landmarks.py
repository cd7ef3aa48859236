"""data_util.landmarks: one API over the dlib and FAN backends."""
import numpy as np
import pytest

from data_util import landmarks
from evaluation.metrics.landmark import paired_landmark_scores


@pytest.fixture(scope="module")
def face_photo():
    data = pytest.importorskip("skimage.data")
    pytest.importorskip("dlib")
    return data.astronaut()[:320, 60:380].copy()       # a real face photo shipped with scikit-image


def test_dlib_finds_68_points_and_none_without_a_face(face_photo):
    blank = np.full((120, 120, 3), 90, np.uint8)
    found = landmarks.detect_landmarks(np.stack([face_photo, face_photo]), backend="dlib")
    assert len(found) == 2 and found[0].shape == (68, 2)
    assert np.array_equal(found[0], found[1])
    mouth, eyes = found[0][landmarks.MOUTH], found[0][[landmarks.LEFT_EYE_OUTER, landmarks.RIGHT_EYE_OUTER]]
    assert mouth[:, 1].mean() > eyes[:, 1].mean()           # the mouth is below the eyes (y down)
    assert landmarks.detect_landmarks([blank], backend="dlib") == [None]


def test_landmark_scores_of_a_shifted_face(face_photo):
    shifted = np.roll(face_photo, (6, 8), axis=(0, 1))      # 10 px shift
    found = landmarks.detect_landmarks([shifted, face_photo], backend="dlib")
    gen, gt = found[:1], found[1:]
    inter_ocular = np.linalg.norm(gt[0][36] - gt[0][45])
    lmd, nioe, missing = paired_landmark_scores(gen, gt)
    assert missing == 0
    assert lmd[0] < 1.5                                      # centring removes the translation
    assert nioe[0] == pytest.approx(10.0 / inter_ocular, rel=0.15)


def test_unknown_backend_is_a_clear_error():
    with pytest.raises(ValueError, match="fan, dlib"):
        landmarks.detect_landmarks([np.zeros((8, 8, 3), np.uint8)], backend="mediapipe")


def test_dlib_shape_predictor_override(monkeypatch, tmp_path):
    monkeypatch.setenv("ADNERF_DLIB_SHAPE_PREDICTOR", str(tmp_path / "missing.dat"))
    with pytest.raises(landmarks.LandmarkBackendUnavailable, match="missing.dat"):
        landmarks.dlib_shape_predictor_path()
