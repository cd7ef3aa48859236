"""Step 1 (frames) and the input checks: probing, 25 fps resampling, clear errors, idempotence."""
import os

import numpy as np
import pytest

from data_util.common import StepError, frame_ids, load_image
from data_util.frames import check_video, probe_video, run_frames
from tests.media_samples import frame_value, write_audio_only, write_video, write_wav


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    d = tmp_path_factory.mktemp("media")
    wav = write_wav(d / "tone.wav", 2.0, rate=44100, channels=2)
    files = {"v25": write_video(d / "v25.mp4", 2.0, 25, wav), "v30": write_video(d / "v30.mp4", 2.0, 30, wav),
             "silent": write_video(d / "silent.mp4", 2.0, 25), "audio_only": write_audio_only(d / "a.mp4", wav),
             "short": write_video(d / "short.mp4", 1.2, 25, wav)}
    (d / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    (d / "empty.mp4").write_bytes(b"")
    files.update(corrupt=d / "corrupt.mp4", empty=d / "empty.mp4")
    return files


def test_probe_reports_streams_sizes_and_exact_frame_counts(media):
    v30 = probe_video(media["v30"])
    assert (v30.fps, v30.frames, v30.frames_25, v30.width, v30.height) == (30.0, 60, 50, 64, 64)
    assert v30.has_audio and abs(v30.duration - 2.0) < 0.05
    v25 = probe_video(media["v25"])
    assert (v25.fps, v25.frames, v25.frames_25) == (25.0, 50, 50)
    assert not probe_video(media["silent"]).has_audio
    audio_only = probe_video(media["audio_only"])
    assert audio_only.has_audio and audio_only.frames_25 == 0


@pytest.mark.parametrize("name, message", [
    ("silent", r"silent\.mp4 has no audio stream: .*mux it in"),
    ("audio_only", r"a\.mp4 has no video frames"),
    ("corrupt", r"cannot read video .*corrupt\.mp4: .*corrupt or not a video file"),
    ("empty", r"cannot read video .*empty\.mp4"),
    ("missing", r"video not found: .*missing\.mp4"),
])
def test_bad_videos_give_one_clear_line_before_any_work(media, tmp_path, name, message):
    video = media.get(name, media["v25"].with_name("missing.mp4"))
    with pytest.raises(StepError, match=message) as err:
        check_video(video)
    assert "\n" not in str(err.value)
    with pytest.raises(StepError, match=message):
        run_frames(tmp_path / "ds", video=video, progress=False)
    assert not (tmp_path / "ds" / "ori_imgs").exists()


def test_a_30fps_video_becomes_25fps_frames_picked_by_time(media, tmp_path):
    record = run_frames(tmp_path, video=media["v30"], progress=False)
    assert record["frames"] == 50 and record["source_fps"] == 30.0 and not record["skipped"]
    assert frame_ids(tmp_path) == list(range(50))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left
    for n in (0, 10, 25, 49):
        image = load_image(tmp_path / "ori_imgs" / f"{n}.jpg")
        assert image.shape == (64, 64, 3)
        source_index = float(image.mean()) / 4  # frame_value(i) = 4 i
        assert abs(source_index - n * 30 / 25) <= 1.0, (n, source_index)  # nearest source frame in time
    assert abs(load_image(tmp_path / "ori_imgs" / "49.jpg").mean() - frame_value(59)) <= 4  # the end, not frame 49


def test_frames_are_idempotent_resumable_and_forced(media, tmp_path):
    run_frames(tmp_path, video=media["v25"], progress=False)
    first = tmp_path / "ori_imgs" / "0.jpg"
    os.utime(first, (1, 1))
    (tmp_path / "ori_imgs" / "0.lms").write_text("landmarks of step 2")
    again = run_frames(tmp_path, video=media["v25"], progress=False)
    assert again["skipped"] and first.stat().st_mtime == 1
    (tmp_path / "ori_imgs" / "17.jpg").unlink()  # an interrupted or damaged folder is completed
    assert not run_frames(tmp_path, video=media["v25"], progress=False)["skipped"]
    assert frame_ids(tmp_path) == list(range(50))
    forced = run_frames(tmp_path, video=media["v25"], progress=False, force=True)
    assert not forced["skipped"] and first.stat().st_mtime > 1
    assert (tmp_path / "ori_imgs" / "0.lms").read_text() == "landmarks of step 2"  # other steps' files stay
    shorter = run_frames(tmp_path, video=media["short"], progress=False)  # stale frames of the longer video go
    assert shorter["frames"] == 30 and frame_ids(tmp_path) == list(range(30))
    assert np.isfinite(shorter["seconds_per_frame"])
