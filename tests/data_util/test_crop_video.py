"""The crop of a large video before preprocessing: the square's geometry by hand, a real face found in a
generated wide video, crop.json and crop.mp4 read back, resume, and the orchestrator's hook."""
import json
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from adnerf.media import first_frame_size, video_frames
from data_util import crop_video
from data_util.common import StepError
from data_util.crop_video import crop_box, input_video, needs_crop, output_size, run_crop
from tests.media_samples import write_wav

W, H = 400, 280                 # a wide video: larger than the test's training size and not square
FACE_AT, FACE_SIDE = (150, 40), 200


def test_which_videos_are_cropped():
    assert not needs_crop(512, 512) and not needs_crop(128, 128)
    assert needs_crop(1920, 1080) and needs_crop(720, 1280) and needs_crop(600, 600) and needs_crop(640, 360)
    assert not needs_crop(640, 640, size=640)


def test_crop_box_by_hand():
    # face boxes 100 px, centred at x 300 (median of 290, 300, 330), y 200: side 2.6 x 100 = 260,
    # x0 = 300 - 130 = 170, y0 = 200 - 0.55 x 260 = 57 -> even 56
    boxes = np.array([[240, 150, 340, 250], [250, 150, 350, 250], [280, 150, 380, 250]], float)
    assert crop_box(boxes, 1920, 1080) == (170, 56, 260)
    # clamped into the frame: a face at the top left corner, and one at the bottom right
    assert crop_box(np.array([[0, 0, 100, 100]]), 1920, 1080) == (0, 0, 260)
    assert crop_box(np.array([[1850, 1000, 1950, 1100]]), 1920, 1080) == (1660, 820, 260)
    # a face too large for the frame: the side is the frame's smaller side; odd sizes give even numbers
    assert crop_box(np.array([[100, 100, 600, 600]]), 721, 641) == (30, 0, 640)     # centre x 350 - 320
    x0, y0, side = crop_box(np.array([[101.3, 77.7, 190.1, 181.9]]), 999, 777)
    assert x0 % 2 == y0 % 2 == side % 2 == 0 and x0 + side <= 999 and y0 + side <= 777
    assert output_size(700) == 512 and output_size(300) == 300 and output_size(301, 128) == 128
    with pytest.raises(StepError, match="no usable face box"):
        crop_box(np.zeros((0, 4)), 100, 100)


def wide_face_frame() -> np.ndarray:
    """uint8 [H, W, 3]: scikit-image's astronaut (head and shoulders) at FACE_AT on a textured backdrop."""
    import skimage.data
    from PIL import Image
    portrait = Image.fromarray(skimage.data.astronaut()[8:328, 64:384]).resize((FACE_SIDE, FACE_SIDE), Image.LANCZOS)
    yy, xx = np.mgrid[0:H, 0:W]
    frame = np.stack([(xx * 0.5) % 256, (yy * 0.7) % 256, np.full_like(xx, 100)], -1).astype(np.uint8)
    x, y = FACE_AT
    frame[y:y + FACE_SIDE, x:x + FACE_SIDE] = np.asarray(portrait)
    return frame


@pytest.fixture(scope="module")
def wide_video(tmp_path_factory) -> Path:
    """A 1 s, 25 fps, 400x280 H.264 video with sound: the same face frame throughout."""
    folder = tmp_path_factory.mktemp("wide")
    wav = write_wav(folder / "a.wav", 1.0)
    path = folder / "wide.mp4"
    writer = imageio_ffmpeg.write_frames(str(path), (W, H), fps=25, macro_block_size=1, quality=10,
                                         audio_path=str(wav), audio_codec="aac", ffmpeg_log_level="error")
    writer.send(None)
    frame = wide_face_frame()
    for _ in range(25):
        writer.send(frame.tobytes())
    writer.close()
    return path


def psnr(a, b) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def test_a_wide_video_is_cropped_around_the_face(wide_video, tmp_path):
    from PIL import Image
    record = run_crop(tmp_path / "subj", video=wide_video, size=128, samples=5, progress=False)
    saved = json.loads((tmp_path / "subj" / "crop.json").read_text())
    assert {k: saved[k] for k in ("source", "source_size", "out_size", "video")} == {
        "source": str(wide_video.resolve()), "source_size": [W, H], "out_size": 128, "video": "crop.mp4"}
    assert saved["faces_found"] == saved["samples"] == 5 and not record["skipped"]
    x0, y0, side = saved["box"]
    assert x0 % 2 == y0 % 2 == side % 2 == 0 and 0 <= x0 <= W - side and 0 <= y0 <= H - side
    # the square holds the astronaut's face (its landmark box lies at about x 195-255, y 70-130 here)
    assert x0 < 195 and x0 + side > 255 and y0 < 70 and y0 + side > 130
    assert 128 < side <= 2 * FACE_SIDE
    # crop.mp4: 128x128, 25 fps, the sound kept; each frame is that square of the source, scaled
    out = tmp_path / "subj" / "crop.mp4"
    assert first_frame_size(out) == (128, 128)
    from adnerf.media import probe
    assert probe(out).has_audio
    frames = [f for _, f in video_frames(out)]
    assert len(frames) == 25
    want = np.asarray(Image.fromarray(wide_face_frame()[y0:y0 + side, x0:x0 + side]).resize((128, 128), Image.BOX))
    assert psnr(frames[10], want) > 30
    # the steps read the crop when they are given the source; a second run keeps it
    assert input_video(tmp_path / "subj", wide_video) == out
    assert input_video(tmp_path / "subj", tmp_path / "other.mp4") == (tmp_path / "other.mp4").resolve()
    stamp = out.stat().st_mtime_ns
    assert run_crop(tmp_path / "subj", video=wide_video, size=128, samples=5, progress=False)["skipped"]
    assert out.stat().st_mtime_ns == stamp


def test_no_face_is_a_clear_error(tmp_path):
    from tests.media_samples import write_video
    video = write_video(tmp_path / "grey.mp4", 0.4, 25, audio=write_wav(tmp_path / "a.wav", 0.4), size=64)
    with pytest.raises(StepError, match="a face was found in 0 of the"):
        run_crop(tmp_path / "subj", video=video, size=32, samples=3, progress=False)
    assert not (tmp_path / "subj" / "crop.json").exists()


def test_process_data_crops_first_and_the_steps_read_the_crop(wide_video, tmp_path):
    """``bash process_data.sh <id>`` with a video larger than the training size: the crop runs first (and is
    recorded in preprocess.json), every step is given crop.mp4."""
    from data_util.process_data import parse_args, run_pipeline
    from tests.data_util.test_process_data import FakeStages
    args = parse_args(["--id", "subj", "--dataset_root", str(tmp_path), "--video", str(wide_video), "--offline",
                       "--no_progress", "--device", "cpu", "--crop_size", "128"])
    fakes, lines = FakeStages(), []
    assert run_pipeline(args, launch=fakes.launch, log=lines.append) == 0, lines
    crop = tmp_path / "subj" / "crop.mp4"
    assert fakes.calls["frames"][0]["video"] == str(crop) and fakes.calls["audio"][0]["video"] == str(crop)
    log = json.loads((tmp_path / "subj" / "preprocess.json").read_text())
    assert log["steps"]["crop"]["status"] == "done" and log["steps"]["crop"]["out_size"] == 128
    assert any("128x128" in line for line in lines)
    off = parse_args(["--id", "plain", "--dataset_root", str(tmp_path), "--video", str(wide_video), "--offline",
                      "--no_progress", "--crop", "off"])
    fakes = FakeStages()
    assert run_pipeline(off, launch=fakes.launch, log=[].append) == 0
    assert fakes.calls["frames"][0]["video"] == str(wide_video) and not (tmp_path / "plain" / "crop.json").exists()
    assert crop_video.read_crop(tmp_path / "plain") is None


def test_a_failed_encoding_leaves_no_crop_video(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video")
    with pytest.raises(StepError, match="ffmpeg could not crop"):
        crop_video.write_crop_video(tmp_path / "bad.mp4", tmp_path / "crop.mp4", (0, 0, 64), 64)
    assert list(tmp_path.iterdir()) == [tmp_path / "bad.mp4"]

