"""adnerf-portrait on a generated dataset cut from a larger video: every file it writes read back (frames,
frames.json, the videos and their sound, the full-resolution paste-back) and compared with what it must hold."""
import json
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from adnerf.errors import AdnerfError
from adnerf.media import first_frame_size, probe, read_image, video_frames, write_image
from adnerf.sequence_record import read_sequence_record, record_dict, write_record
from portrait.cli import main, make_portrait
from portrait.paste import (HEAD_RGB, NECK_RGB, blend, crop_frame, default_widths, feather_mask, head_neck_region,
                            paste_back)
from tests.media_samples import write_wav

SRC_W, SRC_H, BOX, SIZE = 160, 120, (40, 20, 80), 64
IMG_IDS, AUD_IDS = [2, 0, 3], [5, 6, 7]


def source_frame(n: int) -> np.ndarray:
    yy, xx = np.mgrid[0:SRC_H, 0:SRC_W]
    return np.stack([(xx * 1.5 + 20 * n) % 256, (yy * 2) % 256, np.full_like(xx, 60 + 30 * n)], -1).astype(np.uint8)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """dataset/subj cut (crop.json) from a 160x120 source video of 6 frames; a driven sequence of 3 frames."""
    root = tmp_path_factory.mktemp("portrait")
    source = root / "vids" / "subj_full.mp4"
    source.parent.mkdir()
    writer = imageio_ffmpeg.write_frames(str(source), (SRC_W, SRC_H), fps=25, macro_block_size=1, quality=10,
                                         ffmpeg_log_level="error")
    writer.send(None)
    for n in range(6):
        writer.send(source_frame(n).tobytes())
    writer.close()
    data = root / "subj"
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    for n, frame in video_frames(source):         # the crop as preprocessing made it: ori_imgs + parsing
        write_image(data / "ori_imgs" / f"{n}.jpg", crop_frame(frame, BOX, SIZE))
        parsing = np.full((SIZE, SIZE, 3), 255, np.uint8)
        parsing[(xx - 32) ** 2 + (yy - 24 - n) ** 2 <= 12 ** 2] = HEAD_RGB
        parsing[38 + n:48, 26:38] = NECK_RGB
        parsing[48:, :] = (255, 0, 0)
        write_image(data / "parsing" / f"{n}.png", parsing)
    write_wav(data / "aud.wav", 1.0)
    (data / "crop.json").write_text(json.dumps({"source": str(source), "source_size": [SRC_W, SRC_H],
                                                "box": list(BOX), "out_size": SIZE, "video": "crop.mp4"}))
    seq = data / "logs" / "subj_com" / "test_aud_rst"
    for k in range(3):
        write_image(seq / f"{k:05d}.png", np.full((SIZE, SIZE, 3), (200, 40 * k, 50), np.uint8))
    write_record(seq, record_dict([{"img_id": i, "aud_id": a} for i, a in zip(IMG_IDS, AUD_IDS)], 25,
                                  kind="driving", pose_file=str(data / "transforms_val.json"), step=7))
    return data


def psnr(a, b) -> float:
    return float(10 * np.log10(255.0 ** 2 / max(np.mean((a.astype(float) - b.astype(float)) ** 2), 1e-10)))


def test_portrait_frames_record_videos_and_full_resolution_paste_back(dataset, capsys):
    seq = dataset / "logs" / "subj_com" / "test_aud_rst"
    assert main(["--sequence", str(seq), "--region", "head_neck", "--no_progress"]) == 0
    out = seq.parent / "test_aud_rst_portrait"
    assert f"video_with_audio: {out / 'video_with_audio.mp4'}" in capsys.readouterr().out
    record = read_sequence_record(out)
    assert record.meta["kind"] == "portrait" and record.meta["source_kind"] == "driving"
    assert record.meta["portrait_of"] == str(seq) and record.meta["step"] == 7
    assert (record.meta["mask"]["grow"], record.meta["mask"]["feather"]) == default_widths(SIZE) == (0.5, 1.0)
    assert [f.img_id for f in record.frames] == IMG_IDS and [f.aud_id for f in record.frames] == AUD_IDS
    assert record.meta["full_resolution"] == {"video": "video_full.mp4", "size": [SRC_W, SRC_H],
                                              "source": str(dataset.parent / "vids" / "subj_full.mp4"),
                                              "box": list(BOX), "video_with_audio": "video_full_with_audio.mp4"}
    sources = dict(video_frames(dataset.parent / "vids" / "subj_full.mp4"))
    full = [f for _, f in video_frames(out / "video_full.mp4")]
    assert len(full) == 3 and first_frame_size(out / "video_full.mp4") == (SRC_W, SRC_H)
    for k, img_id in enumerate(IMG_IDS):
        real = read_image(dataset / "ori_imgs" / f"{img_id}.jpg")
        rendered = read_image(seq / f"{k:05d}.png")
        alpha = feather_mask(head_neck_region(read_image(dataset / "parsing" / f"{img_id}.png")), *default_widths(SIZE))
        frame = read_image(out / f"{k:05d}.png")
        np.testing.assert_array_equal(frame, blend(real, rendered, alpha))
        np.testing.assert_array_equal(read_image(out / "mask" / f"{k:05d}.png")[..., 0], np.rint(alpha * 255))
        np.testing.assert_array_equal(frame[alpha == 0], real[alpha == 0])   # the real frame outside the mask
        assert (frame[alpha == 1] == rendered[alpha == 1]).all() and (alpha == 1).sum() > 300
        # the full-resolution frame: the source of that frame number, the render pasted where the mask is
        want = paste_back(sources[img_id], frame, BOX, alpha)
        assert psnr(full[k], want) > 35
        x0, y0, side = BOX
        assert psnr(full[k][:, :x0], sources[img_id][:, :x0]) > 35            # left of the box: the source
        assert np.abs(full[k][y0 + 30, x0 + 40].astype(int) - (200, 40 * k, 50)).max() <= 12   # in the head: the render
    assert len([f for _, f in video_frames(out / "video.mp4")]) == 3
    for name in ("video_with_audio.mp4", "video_full_with_audio.mp4"):
        assert probe(out / name).has_audio and probe(out / name).has_video
    assert json.loads((out / "frames.json").read_text())["audio"] == str(dataset / "aud.wav")


def test_no_full_and_clear_errors(dataset, tmp_path):
    seq = dataset / "logs" / "subj_com" / "test_aud_rst"
    result = make_portrait(seq, out=str(tmp_path / "p"), full=False, progress=False, grow=0.0, feather=3.0,
                           region="head_neck")
    assert result["full_video"] is None and not (tmp_path / "p" / "video_full.mp4").exists()
    assert read_sequence_record(tmp_path / "p").meta["full_resolution"] is None
    with pytest.raises(AdnerfError, match="already a portrait sequence"):
        make_portrait(tmp_path / "p", dataset=str(dataset), progress=False)
    bad = tmp_path / "noid"
    write_image(bad / "00000.png", np.zeros((SIZE, SIZE, 3), np.uint8))
    write_record(bad, record_dict([{"img_id": None, "aud_id": 0}], 25, kind="driving"))
    with pytest.raises(AdnerfError, match="has no img_id"):
        make_portrait(bad, dataset=str(dataset), progress=False)
    with pytest.raises(AdnerfError, match="not a preprocessed dataset"):
        make_portrait(seq, dataset=str(tmp_path), progress=False)
    assert main(["--sequence", str(tmp_path / "none"), "--no_progress"]) == 2
    # a validation render names no pose file: the dataset is the one the sequence lies in (logs/<exp>/<seq>)
    val = dataset / "logs" / "subj_com" / "testset_000100"
    write_image(val / "00000.png", np.zeros((SIZE, SIZE, 3), np.uint8))
    write_record(val, record_dict([{"img_id": 1, "aud_id": 1}], 25, kind="validation"))
    assert make_portrait(val, full=False, progress=False, region="head_neck")["video_with_audio"] == val.parent / "testset_000100_portrait" / "video_with_audio.mp4"
    write_record(bad, record_dict([{"img_id": 1, "aud_id": 0}], 25, kind="driving"))
    with pytest.raises(AdnerfError, match="give --dataset"):
        make_portrait(bad, progress=False)


def test_face_region_pastes_the_landmarks_inner_face(dataset, tmp_path):
    from portrait.paste import face_region
    from tests.portrait.test_paste import synthetic_landmarks
    seq = dataset / "logs" / "subj_com" / "test_aud_rst"
    with pytest.raises(AdnerfError, match=r"holds no landmarks .*--region face needs"):
        make_portrait(seq, out=str(tmp_path / "none"), full=False, progress=False, region="face")
    with pytest.raises(AdnerfError, match="--region hair: choose one of face, head_neck"):
        make_portrait(seq, out=str(tmp_path / "none"), full=False, progress=False, region="hair")
    for n in range(6):   # a face of radius 12 px around the parsing's head circle
        np.savetxt(dataset / "ori_imgs" / f"{n}.lms", synthetic_landmarks(32.0, 24.0 + n, 12.0), fmt="%.3f")
    try:
        out = tmp_path / "face"
        assert main(["--sequence", str(seq), "--out", str(out), "--no_full", "--no_progress"]) == 0   # the default
        record = read_sequence_record(out)
        assert record.meta["mask"]["parts"] == ["face"] and record.meta["mask"]["region"] == "face"
        for k, img_id in enumerate(IMG_IDS):
            parsing = read_image(dataset / "parsing" / f"{img_id}.png")
            region = face_region(synthetic_landmarks(32.0, 24.0 + img_id, 12.0), (SIZE, SIZE))
            alpha = feather_mask(region, *default_widths(SIZE))
            np.testing.assert_array_equal(read_image(out / "mask" / f"{k:05d}.png")[..., 0], np.rint(alpha * 255))
            real, rendered = read_image(dataset / "ori_imgs" / f"{img_id}.jpg"), read_image(seq / f"{k:05d}.png")
            np.testing.assert_array_equal(read_image(out / f"{k:05d}.png"), blend(real, rendered, alpha))
            top = (14 + img_id, 32)                                   # the parsing's head, above the brows
            assert head_neck_region(parsing)[top] and alpha[top] == 0 and alpha[24 + img_id, 32] == 1
            assert alpha[46, 32] == 0 and head_neck_region(parsing)[46, 32]            # the neck stays real
        (dataset / "ori_imgs" / f"{IMG_IDS[1]}.lms").unlink()
        with pytest.raises(AdnerfError, match=r"missing .*0\.lms .*--region face needs the landmarks"):
            make_portrait(seq, out=str(tmp_path / "none"), full=False, progress=False)
    finally:
        for n in range(6):
            (dataset / "ori_imgs" / f"{n}.lms").unlink(missing_ok=True)
