"""The generated demo sample: a video every offline face backend reads, with a mouth that follows the voice."""
from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from data_util.common import StepError
from data_util.make_sample import encode_mp4, ffmpeg_exe, make_sample
from data_util.sample_speech import frame_envelope, speech_track

SECONDS, SIZE, FPS, RATE = 2.0, 256, 25, 16000


def decode_video(path) -> np.ndarray:
    """mp4 -> uint8 [N, SIZE, SIZE, 3]."""
    raw = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24",
                          "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, SIZE, SIZE, 3)


def decode_audio(path) -> np.ndarray:
    """mp4 / wav -> float32 [T] at 16 kHz mono."""
    raw = subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(path), "-f", "s16le", "-ac", "1", "-ar",
                          str(RATE), "-"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.int16).astype(np.float32) / 32768.0


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    out = tmp_path_factory.mktemp("vids")
    record = make_sample("demo", SECONDS, SIZE, seed=0, drive_seconds=3.0, out_dir=out, progress=False)
    frames = decode_video(out / "demo.mp4")
    return {"dir": out, "record": record, "frames": frames, "audio": decode_audio(out / "demo.mp4")}


@pytest.fixture(scope="module")
def landmarks(sample):
    from data_util.landmarks import detect_landmarks
    return detect_landmarks(sample["frames"], backend="dlib")


def test_mp4_has_h264_frames_fps_and_aac_audio_of_the_right_length(sample):
    probe = subprocess.run([ffmpeg_exe(), "-hide_banner", "-i", str(sample["dir"] / "demo.mp4")],
                           capture_output=True, text=True).stderr
    assert re.search(r"Video: h264 .*yuv420p.*256x256.* 25 fps", probe), probe
    assert re.search(r"Audio: aac .*16000 Hz, mono", probe), probe
    assert len(sample["frames"]) == SECONDS * FPS
    assert abs(len(sample["audio"]) - SECONDS * RATE) <= RATE // FPS        # within one video frame
    drive = decode_audio(sample["dir"] / "demo_drive.wav")
    assert len(drive) == 3 * RATE
    assert sample["record"]["written"] == [str(sample["dir"] / "demo.mp4"), str(sample["dir"] / "demo_drive.wav")]


def test_dlib_finds_the_face_in_every_frame_and_the_mouth_follows_the_audio(sample, landmarks):
    assert all(lms is not None for lms in landmarks), [i for i, lms in enumerate(landmarks) if lms is None]
    opening = np.array([np.linalg.norm(lms[62] - lms[66]) for lms in landmarks])      # inner lips, middle
    envelope = frame_envelope(sample["audio"], RATE, FPS)[: len(opening)]
    assert opening.max() - opening.min() > 4.0                 # the mouth visibly opens and closes (pixels)
    assert np.corrcoef(opening, envelope)[0, 1] > 0.8
    # the head moves: the face is not glued to one spot
    centres = np.array([lms[27:36].mean(axis=0) for lms in landmarks])
    assert np.ptp(centres, axis=0).max() > 1.0


def test_selfie_segmentation_covers_the_face_in_every_frame(sample, landmarks):
    import cv2
    from mediapipe.python.solutions import selfie_segmentation
    with selfie_segmentation.SelfieSegmentation(model_selection=0) as segmenter:
        for frame, lms in zip(sample["frames"], landmarks):
            mask = segmenter.process(np.ascontiguousarray(frame)).segmentation_mask > 0.5
            face = np.zeros(mask.shape, np.uint8)
            cv2.fillConvexPoly(face, cv2.convexHull(lms[:27].astype(np.int32)), 1)
            assert mask[face > 0].mean() > 0.98
            assert 0.2 < mask.mean() < 0.9                     # a person, not the whole frame


def test_same_seed_same_bytes_existing_files_kept_force_rewrites(sample, tmp_path):
    again = make_sample("demo", SECONDS, SIZE, seed=0, drive_seconds=3.0, out_dir=tmp_path, progress=False)
    for name in ("demo.mp4", "demo_drive.wav"):
        assert (tmp_path / name).read_bytes() == (sample["dir"] / name).read_bytes()
    assert again["written"]
    kept = make_sample("demo", SECONDS, SIZE, seed=0, drive_seconds=3.0, out_dir=tmp_path, progress=False)
    assert kept["written"] == []
    (tmp_path / "demo_drive.wav").unlink()                   # only the missing file is made again
    redo = make_sample("demo", SECONDS, SIZE, seed=0, drive_seconds=3.0, out_dir=tmp_path, progress=False)
    assert redo["written"] == [str(tmp_path / "demo_drive.wav")]
    forced = make_sample("demo", SECONDS, SIZE, seed=0, drive_seconds=3.0, out_dir=tmp_path, force=True,
                         progress=False)
    assert len(forced["written"]) == 2
    assert (tmp_path / "demo.mp4").read_bytes() == (sample["dir"] / "demo.mp4").read_bytes()


def test_the_jaw_warp_is_seamless_and_confined_to_the_lower_face():
    from data_util.sample_face import build_portrait, open_mouth, render_frame
    portrait = build_portrait(SIZE)
    x0, y0, x1, y1 = portrait.patch
    photo = portrait.person[y0:y1, x0:x1]
    assert np.array_equal(open_mouth(portrait, 0.0), photo)            # closed: the photograph itself
    opened = open_mouth(portrait, 1.0)
    ring = np.ones(photo.shape[:2], bool)
    ring[1:-1, 1:-1] = False
    assert np.abs(opened - photo)[ring].max() < 1e-3                    # the patch border does not move: no seam
    # the mouth (between the inner lip corners, below the upper lip) gets darker: an open mouth
    lms = portrait.landmarks - (x0, y0)
    cx, cy = lms[[62, 66]].mean(axis=0).round().astype(int)
    assert opened[cy:cy + 4, cx - 2:cx + 3].mean() < photo[cy:cy + 4, cx - 2:cx + 3].mean() - 40
    # eyes and everything above the nose tip stay exactly as in the photo
    still = render_frame(portrait, 0.0, (0.0, 0.0, 0.0)).astype(int)
    opened_frame = render_frame(portrait, 1.0, (0.0, 0.0, 0.0)).astype(int)
    top_of_patch = int(y0 + portrait.crop[1, 2]) - 1          # output row just above the patch
    assert np.array_equal(still[:top_of_patch], opened_frame[:top_of_patch])


def test_speech_is_deterministic_speech_like_and_drives_the_mouth():
    from python_speech_features import mfcc
    a, b, other = speech_track(6.0, [0, 0]), speech_track(6.0, [0, 0]), speech_track(6.0, [0, 1])
    assert np.array_equal(a.wave, b.wave) and np.array_equal(a.mouth, b.mouth)
    assert not np.allclose(a.wave, other.wave)
    assert a.wave.shape == (6 * RATE,) and a.mouth.shape == (6 * FPS,) and np.abs(a.wave).max() <= 1.0
    assert a.mouth[:5].max() < 0.05                          # the lead-in is silent with a closed mouth
    envelope = frame_envelope(a.wave)
    assert np.corrcoef(envelope, a.mouth)[0, 1] > 0.95
    pauses = (envelope < 0.05 * envelope.max()).mean()
    assert 0.05 < pauses < 0.4                                 # syllables with pauses, mostly speaking
    per_frame = mfcc(a.wave, RATE, numcep=13)[::4]              # 100 -> 25 rows per second
    loud = envelope > 0.3 * envelope.max()
    voiced = per_frame[: len(loud)][loud[: len(per_frame)]]
    assert voiced[:, 1:].std(axis=0).mean() > 5.0             # the vowels change the spectrum


def test_bad_options_and_a_failing_ffmpeg_are_one_line_errors(tmp_path):
    with pytest.raises(StepError, match="--size 100"):
        make_sample("x", 2.0, 100, out_dir=tmp_path)
    with pytest.raises(StepError, match="x.mp4"):
        encode_mp4(tmp_path / "x.mp4", [np.zeros((64, 64, 3), np.uint8)], 64, tmp_path / "missing.wav")
    assert not list(tmp_path.iterdir())                        # no half-written file left behind
