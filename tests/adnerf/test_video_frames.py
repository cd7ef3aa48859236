"""adnerf.media.video_frames / first_frame_size: frames at 25 fps numbered as preprocessing step 1 numbers them."""
import numpy as np
import pytest

from adnerf.errors import AdnerfError
from adnerf.media import first_frame_size, video_frames
from tests.media_samples import frame_value, write_video


def test_frames_at_25_fps_every_kth_and_early_stop(tmp_path):
    video = write_video(tmp_path / "v.mp4", 1.0, 50, size=32)   # 50 fps: frame n at 25 fps is source frame 2n
    assert first_frame_size(video) == (32, 32)
    frames = list(video_frames(video))
    assert [n for n, _ in frames] == list(range(25))
    assert all(f.shape == (32, 32, 3) and f.dtype == np.uint8 for _, f in frames)
    greys = [int(round(f.mean())) for _, f in frames]
    assert all(abs(g - frame_value(2 * n)) <= 2 for n, g in enumerate(greys)), greys
    picked = list(video_frames(video, every=10))
    assert [n for n, _ in picked] == [0, 10, 20]
    np.testing.assert_array_equal(picked[1][1], frames[10][1])
    stream = video_frames(video)
    next(stream)
    stream.close()   # ends ffmpeg without reading the rest


def test_missing_or_unreadable_video(tmp_path):
    with pytest.raises(AdnerfError, match="video not found"):
        next(video_frames(tmp_path / "none.mp4"))
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(AdnerfError, match="cannot decode a frame"):
        first_frame_size(tmp_path / "bad.mp4")
