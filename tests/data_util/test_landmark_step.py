"""Step 2, run_landmarks: ori_imgs/<n>.lms, frames without a face, resume, --force, clear errors."""
import numpy as np
import pytest

from data_util import landmarks
from data_util.common import StepError, face_frames, load_lms, save_image


@pytest.fixture
def fake_detector(monkeypatch):
    """A detector that 'finds' a face in every non-dark frame (points encode the frame's brightness)."""
    calls = []

    def load(backend, device="cpu"):
        def detect(image):
            calls.append(int(image.mean()))
            if image.mean() < 50:
                return None
            return np.tile([[image.mean(), 1.0]], (68, 1)) + np.arange(68)[:, None]
        return detect
    monkeypatch.setattr(landmarks, "load_detector", load)
    return calls


def make_frames(root, brightness):
    for n, value in enumerate(brightness):
        save_image(root / "ori_imgs" / f"{n}.jpg", np.full((16, 16, 3), value, np.uint8))
    return root


def test_dlib_step_on_a_real_face_and_a_blank_frame(tmp_path):
    photo = pytest.importorskip("skimage.data").astronaut()[:320, 60:380].copy()
    pytest.importorskip("dlib")
    save_image(tmp_path / "ori_imgs" / "0.jpg", photo)
    save_image(tmp_path / "ori_imgs" / "1.jpg", np.full_like(photo, 90))
    record = landmarks.run_landmarks(tmp_path, backend="dlib", max_no_face=0.5, progress=False)
    assert (record["detected"], record["no_face"], record["frames"]) == (1, [1], 2)
    assert record["backend"] == "dlib" and record["seconds_per_frame"] > 0
    lms = load_lms(tmp_path / "ori_imgs" / "0.lms")                       # 68 x 2, iBUG order
    assert not (tmp_path / "ori_imgs" / "1.lms").exists() and face_frames(tmp_path) == [0]
    assert lms[8, 1] == lms[0:17, 1].max()                                 # the chin is the jaw's lowest point
    assert lms[48:68, 1].mean() > lms[36:48, 1].mean() > lms[17:27, 1].mean()   # brows, eyes, mouth downwards
    assert lms[0, 0] < lms[8, 0] < lms[16, 0] and 60 < lms[16, 0] - lms[0, 0] < 160
    assert (lms > 0).all() and (lms < 320).all()
    with pytest.raises(StepError, match=r"no face found in 1 of 2 frames \(50.0 %.*frames 1;"):
        landmarks.run_landmarks(tmp_path, backend="dlib", progress=False)    # default limit 10 %
    assert (tmp_path / "ori_imgs" / "0.lms").is_file()                     # kept


def test_resume_and_force(tmp_path, fake_detector):
    root = make_frames(tmp_path, [100] * 6)
    record = landmarks.run_landmarks(root, backend="dlib", progress=False)
    assert (record["detected"], record["skipped"], len(fake_detector)) == (6, 0, 6)
    assert load_lms(root / "ori_imgs" / "3.lms")[0, 0] == pytest.approx(100, abs=1)
    (root / "ori_imgs" / "2.lms").unlink()
    marker = np.zeros((68, 2))
    np.savetxt(root / "ori_imgs" / "4.lms", marker)
    record = landmarks.run_landmarks(root, backend="dlib", progress=False)   # an interrupted run resumes
    assert (record["detected"], record["skipped"], len(fake_detector)) == (1, 5, 7)
    assert (load_lms(root / "ori_imgs" / "4.lms") == 0).all()              # kept
    save_image(root / "ori_imgs" / "5.jpg", np.zeros((16, 16, 3), np.uint8))   # the face is gone now
    record = landmarks.run_landmarks(root, backend="dlib", force=True, max_no_face=0.5, progress=False)
    assert (record["detected"], record["skipped"], record["no_face"]) == (5, 0, [5])
    assert load_lms(root / "ori_imgs" / "4.lms")[0, 0] == pytest.approx(100, abs=1)   # recomputed
    assert not (root / "ori_imgs" / "5.lms").exists()                     # the stale file is removed
    assert face_frames(root) == [0, 1, 2, 3, 4]


def test_too_many_frames_without_a_face(tmp_path, fake_detector):
    root = make_frames(tmp_path, [100, 100, 100, 0, 0, 0, 100, 0, 100, 100])
    with pytest.raises(StepError) as err:
        landmarks.run_landmarks(root, backend="dlib", progress=False)
    assert "no face found in 4 of 10 frames (40.0 %" in str(err.value) and "frames 3-5, 7;" in str(err.value)
    assert face_frames(root) == [0, 1, 2, 6, 8, 9]                         # the found ones are kept
    record = landmarks.run_landmarks(root, backend="dlib", max_no_face=0.4, progress=False)
    assert record["no_face"] == [3, 4, 5, 7] and record["skipped"] == 6
    make_frames(tmp_path / "dark", [0, 0])
    with pytest.raises(StepError, match="no face found in any of the 2 frames"):
        landmarks.run_landmarks(tmp_path / "dark", backend="dlib", max_no_face=1.0, progress=False)


def test_frame_ranges():
    assert landmarks.format_frame_ranges([8, 0, 1, 2, 5, 7]) == "0-2, 5, 7-8"
    assert landmarks.format_frame_ranges([]) == ""


def test_input_errors(tmp_path, fake_detector):
    with pytest.raises(StepError, match="step 1"):
        landmarks.run_landmarks(tmp_path / "empty", backend="dlib")
    root = make_frames(tmp_path, [100, 100, 100])
    with pytest.raises(StepError, match="choose one of fan, dlib"):
        landmarks.run_landmarks(root, backend="mediapipe")
    (root / "ori_imgs" / "1.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(StepError, match=r"ori_imgs/1.jpg.*corrupt"):
        landmarks.run_landmarks(root, backend="dlib", progress=False)


def test_fan_without_weights_names_url_path_and_offline_options(tmp_path, monkeypatch):
    face_alignment = pytest.importorskip("face_alignment")

    def offline(*args, **kwargs):
        raise OSError("<urlopen error [Errno -2] Name or service not known>")
    monkeypatch.setattr(face_alignment, "FaceAlignment", offline)
    monkeypatch.setenv("ADNERF_OFFLINE", "1")               # no network in tests, whatever the cache holds
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    landmarks.load_detector.cache_clear()
    root = make_frames(tmp_path, [100])
    try:
        with pytest.raises(landmarks.LandmarkBackendUnavailable) as unavailable:   # the detector alone (LMD)
            landmarks.detect_landmarks([np.zeros((64, 64, 3), np.uint8)], backend="fan")
        with pytest.raises(StepError) as err:
            landmarks.run_landmarks(root, backend="fan", device="cpu", progress=False)
    finally:
        landmarks.load_detector.cache_clear()
    assert "adrianbulat.com" in str(unavailable.value) and "dlib" in str(unavailable.value)
    message = str(err.value)
    assert "https://www.adrianbulat.com/downloads/python-fan/2DFAN4" in message and "s3fd" in message
    assert "checkpoints/2DFAN4" in message                                  # the expected path
    assert "--landmark_backend dlib" in message and "--offline" in message and "\n" not in message
