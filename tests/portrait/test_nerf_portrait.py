"""--portrait in the Torso-NeRF command: --render_only and driving write <sequence>_portrait/ (frames that are
the blend of the render into the real frame, the record, the videos with sound, and for a cropped dataset the
full-resolution paste-back), and a run that cannot make one is refused before it renders. On the toy backend
(tests/NeRFs/toy_backend.py: a few training steps in a second) and the 24 px synthetic dataset."""
import json
import shutil

import imageio_ffmpeg
import numpy as np
import pytest

from adnerf.media import first_frame_size, probe, read_image, video_frames
from adnerf.sequence_record import read_sequence_record
from NeRFs.api import BACKENDS
from NeRFs.HeadNeRF.run_nerf import main as head_main
from NeRFs.TorsoNeRF.run_nerf import drive_main, main as torso_main
from portrait.paste import crop_frame
from tests.NeRFs.toy_backend import ToyBackend
from tests.support import parsing_with_a_hidden_neck

FAST = ["--device", "cpu", "--N_rand", "32", "--testskip", "2", "--i_print", "1000", "--i_img", "100000",
        "--i_weights", "100000", "--i_testset", "100000", "--N_iters", "3", "--backend", "toy"]
TORSO = ["--portrait_region", "head_neck"]   # the 24 px synthetic dataset has no landmarks for the face region
SOURCE_W, SOURCE_H, BOX = 40, 32, (10, 4, 24)   # the 24 px dataset as the crop of a 40x32 "phone video"


def argv(root, config, *extra):
    torso = TORSO if config.startswith("Torso") else []
    return ["--config", str(root / config), "--datadir", str(root), "--basedir", str(root / "logs"), *FAST, *torso,
            *extra]


def write_source(root):
    """A 40x32 source video whose box (10, 4, 24) is each ori_imgs frame, and crop.json naming it."""
    source = root.parent / "phone.mp4"
    frames = sorted((root / "ori_imgs").glob("*.jpg"), key=lambda p: int(p.stem))
    writer = imageio_ffmpeg.write_frames(str(source), (SOURCE_W, SOURCE_H), fps=25, macro_block_size=1,
                                         quality=10, ffmpeg_log_level="error")
    writer.send(None)
    for path in frames:
        frame = np.full((SOURCE_H, SOURCE_W, 3), 90, np.uint8)
        frame[BOX[1]:BOX[1] + BOX[2], BOX[0]:BOX[0] + BOX[2]] = read_image(path)
        writer.send(frame.tobytes())
    writer.close()
    (root / "crop.json").write_text(json.dumps({"source": str(source), "source_size": [SOURCE_W, SOURCE_H],
                                                "box": list(BOX), "out_size": 24, "video": "crop.mp4"}))
    return source


@pytest.fixture(scope="module")
def trained(synthetic_root, tmp_path_factory):
    """A copy of the synthetic dataset with parsing and a crop record, a toy head and torso trained 3 steps."""
    root = tmp_path_factory.mktemp("nerf_portrait") / "synth"
    shutil.copytree(synthetic_root, root, ignore=shutil.ignore_patterns("logs"))
    parsing_with_a_hidden_neck(root)
    write_source(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(BACKENDS, "toy", ToyBackend)
        assert head_main(argv(root, "HeadNeRF_config.txt")) == 0
        assert torso_main(argv(root, "TorsoNeRF_config.txt")) == 0
        yield root


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(BACKENDS, "toy", ToyBackend)


def check_portrait_frames(sequence, portrait, dataset):
    """Every portrait frame is the render where its mask is 255, the real frame where it is 0, between them
    in between; the record pairs it with the same pose and audio row as the render."""
    rendered, record = read_sequence_record(sequence), read_sequence_record(portrait)
    assert record.meta["kind"] == "portrait" and record.meta["portrait_of"] == str(sequence)
    assert [(f.img_id, f.aud_id) for f in record.frames] == [(f.img_id, f.aud_id) for f in rendered.frames]
    for ours, theirs in zip(record.frames, rendered.frames):
        image = read_image(portrait / ours.file).astype(int)
        render = read_image(sequence / theirs.file).astype(int)
        real = read_image(dataset / "ori_imgs" / f"{ours.img_id}.jpg").astype(int)
        mask = read_image(portrait / "mask" / ours.file)
        assert (mask == 255).any() and (mask == 0).any()
        assert np.array_equal(image[mask == 0], real[mask == 0])
        assert np.abs(image[mask == 255] - render[mask == 255]).max() <= 1
        low, high = np.minimum(render, real) - 1, np.maximum(render, real) + 1
        assert ((image >= low) & (image <= high)).all()
    return record


def test_render_only_portrait_is_the_render_in_the_real_frame_and_pasted_into_the_source(toy, trained, capsys):
    assert torso_main(argv(trained, "TorsoNeRF_config.txt", "--render_only", "--portrait")) == 0
    sequence = trained / "logs" / "synth_com" / "renderonly_val_000003"
    portrait = sequence.parent / "renderonly_val_000003_portrait"
    assert f"portrait: {portrait} (video_full.mp4)" in capsys.readouterr().out
    record = check_portrait_frames(sequence, portrait, trained)
    assert record.meta["source_kind"] == "render_only" and len(record.frames) == 3   # testskip 2 of 5
    assert record.meta["mask"]["region"] == "head_neck"          # --portrait_region reaches adnerf-portrait
    assert record.meta["audio"] is None   # every 2nd validation frame: no continuous sound to give it
    assert first_frame_size(portrait / "video_full.mp4") == (SOURCE_W, SOURCE_H)
    sources = dict(video_frames(trained.parent / "phone.mp4"))
    for (_, full), entry in zip(video_frames(portrait / "video_full.mp4"), record.frames):
        # the box of the full frame is the portrait frame (H.264 twice: loosely), outside it the source's own
        inside = crop_frame(full, BOX, 24).astype(float)
        expected = read_image(portrait / entry.file).astype(float)
        assert np.abs(inside - expected).mean() < 6
        outside = np.ones((SOURCE_H, SOURCE_W), bool)
        outside[BOX[1]:BOX[1] + BOX[2], BOX[0]:BOX[0] + BOX[2]] = False
        assert np.abs(full[outside].astype(float) - sources[entry.img_id][outside]).mean() < 3


def test_driving_portrait_has_the_driven_sound(toy, trained):
    wav = trained / "aud.wav"
    assert drive_main(argv(trained, "TorsoNeRFTest_config.txt", "--aud_file", "aud.npy", "--aud_from_pose",
                           "--testskip", "1", "--test_size", "4", "--with_audio", str(wav), "--portrait")) == 0
    sequence = trained / "logs" / "synth_com" / "test_aud_rst"
    portrait = sequence.parent / "test_aud_rst_portrait"
    record = check_portrait_frames(sequence, portrait, trained)
    assert record.meta["source_kind"] == "driving" and len(record.frames) == 4
    assert record.meta["audio"] == str(sequence / "video_with_audio.mp4")
    for name in ("video_with_audio.mp4", "video_full_with_audio.mp4"):
        info = probe(portrait / name)
        assert info.has_video and info.has_audio, name


def test_portrait_is_refused_before_any_work_when_it_cannot_be_made(toy, trained, tmp_path, capsys):
    assert torso_main(argv(trained, "TorsoNeRF_config.txt", "--portrait", "--N_iters", "4")) == 2
    err = capsys.readouterr().err
    assert "--portrait" in err and "not for training" in err and len(err.strip().splitlines()) == 1
    assert not list((trained / "logs" / "synth_com").glob("000004_*.tar"))   # nothing trained
    bare = tmp_path / "synth"   # no parsing: said before the render
    shutil.copytree(trained, bare, ignore=shutil.ignore_patterns("parsing", "*_portrait", "renderonly_val_*"))
    assert torso_main(argv(bare, "TorsoNeRF_config.txt", "--render_only", "--portrait")) == 2
    err = capsys.readouterr().err
    assert "no ori_imgs/ or parsing/" in err and len(err.strip().splitlines()) == 1
    assert not list((bare / "logs" / "synth_com").glob("renderonly_val_*"))
    # the default region, the face, needs the landmarks this dataset lacks: said before the render
    assert torso_main(argv(trained, "TorsoNeRF_config.txt", "--render_only", "--portrait", "--portrait_region",
                           "face", "--N_iters", "5")) == 2
    err = capsys.readouterr().err
    assert "holds no landmarks" in err and "--portrait_region head_neck" in err and len(err.strip().splitlines()) == 1
    assert not list((trained / "logs" / "synth_com").glob("renderonly_val_000005*"))
    assert torso_main(argv(trained, "TorsoNeRF_config.txt", "--render_only", "--portrait", "--portrait_region",
                           "hair")) == 2
    assert "--region hair: choose one of face, head_neck" in capsys.readouterr().err
