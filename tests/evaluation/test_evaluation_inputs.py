"""Where evaluation/evaluate.py finds a subject's rendered frames, how it pairs them, and which audio Sync uses."""
import json
import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest

from adnerf.sequence_record import frame_file, record_dict, write_record
from data_util.synthetic_head import make_synthetic_dataset
from evaluation import evaluate, subject
from evaluation.driving_audio import generated_clip_audio, ground_truth_clip_audio


@pytest.fixture(scope="module")
def base_dataset(tmp_path_factory) -> Path:
    """A 32 px synthetic subject (55 frames: 5 validation frames 50..54) with a 3 s aud.wav."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("ds") / "synth", n_frames=55, size=32)
    with wave.open(str(root / "aud.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes((2000 * np.sin(np.arange(3 * 16000) / 9.0)).astype(np.int16).tobytes())
    return root


@pytest.fixture
def dataset(base_dataset, tmp_path) -> Path:
    """A private copy under tmp_path/dataset/synth."""
    return Path(shutil.copytree(base_dataset, tmp_path / "dataset" / "synth", ignore=shutil.ignore_patterns("logs")))


def set_config(dataset: Path, config: str = "TorsoNeRFTest_config.txt", **options) -> None:
    """Rewrite options of a config (value None removes the line)."""
    path = dataset / config
    lines = [ln for ln in path.read_text().splitlines() if ln.split("=")[0].strip() not in options]
    lines += [f"{k} = {v}" for k, v in options.items() if v is not None]
    path.write_text("\n".join(lines) + "\n")


def copy_val_frames(dataset: Path, folder: Path, positions: list[int], testskip: int = 1, **meta) -> None:
    """The ground truth of the given validation positions as a rendered sequence (lossless PNGs named as the
    NeRFs name them, and the record frames.json with each frame's pose img_id and aud_id)."""
    from PIL import Image
    val = json.loads((dataset / "transforms_val.json").read_text())["frames"]
    folder.mkdir(parents=True, exist_ok=True)
    for i, k in enumerate(positions):
        Image.open(dataset / "ori_imgs" / f"{val[k]['img_id']}.jpg").save(folder / frame_file(i))
    write_record(folder, record_dict([{"img_id": val[k]["img_id"], "aud_id": val[k].get("aud_id", val[k]["img_id"])}
                                      for k in positions], fps=25, testskip=testskip, **meta))


def evaluate_psnr(dataset: Path, out: Path, *extra) -> dict:
    assert evaluate.main(["--subject", "synth", "--dataset_root", str(dataset.parent), "--out_dir", str(out),
                          "--metrics", "psnr", "--device", "cpu", "--no_progress", *map(str, extra)]) == 0
    return json.loads((out / "evaluation_results.json").read_text())


def test_original_style_logs_pair_by_the_record(dataset, tmp_path, monkeypatch):
    # the original's configs: basedir ./logs/ relative to the working directory; every 2nd pose rendered
    monkeypatch.chdir(tmp_path)
    set_config(dataset, basedir="./logs/", testskip=2)
    rendered = tmp_path / "logs" / "synth_com" / "test_aud_rst"
    copy_val_frames(dataset, rendered, [0, 2, 4], testskip=2)
    assert subject.find_driving_output(dataset, "synth") == rendered.resolve()
    results = evaluate_psnr(dataset, tmp_path / "out")
    assert results["testskip"] == 2 and results["frame_ids"] == [0, 2, 4]
    assert results["img_ids"] == [50, 52, 54]
    # frame i shows validation frame 2i, as the record says: every pair is identical
    assert results["metrics"]["psnr"]["per_frame"] == [100.0, 100.0, 100.0]
    assert "frames.json" in (tmp_path / "out" / "evaluation_report.txt").read_text()


def test_the_record_alone_pairs_whatever_the_configs_say(dataset, tmp_path):
    for config in ("TorsoNeRF_config.txt", "TorsoNeRFTest_config.txt"):
        set_config(dataset, config, basedir=None, testskip=3)
    rendered = dataset / "logs" / "synth_com" / "test_aud_rst"
    copy_val_frames(dataset, rendered, [3, 1])  # any order, any subset
    results = evaluate_psnr(dataset, tmp_path / "out")
    assert results["frame_ids"] == [3, 1] and results["metrics"]["psnr"]["per_frame"] == [100.0, 100.0]
    copy_val_frames(dataset, tmp_path / "mine", [0, 1, 2, 3, 4])
    mine = evaluate_psnr(dataset, tmp_path / "out2", "--gen_dir", tmp_path / "mine")
    assert mine["testskip"] == 1 and mine["metrics"]["psnr"]["per_frame"] == [100.0] * 5
    # the mp4 of a sequence is paired by the record beside it
    from NeRFs.core.sequence import write_sequence
    import imageio.v2 as imageio
    from adnerf.sequence_record import read_sequence_record
    rec = read_sequence_record(tmp_path / "mine")
    write_sequence(tmp_path / "seq", [imageio.imread(p) for p in rec.paths()],
                   [{"img_id": f.img_id, "aud_id": f.aud_id} for f in rec.frames])
    video = evaluate_psnr(dataset, tmp_path / "out3", "--gen_video", tmp_path / "seq" / "video.mp4")
    assert video["frame_ids"] == [0, 1, 2, 3, 4] and video["metrics"]["psnr"]["mean"] > 30


def test_fitted_poses_are_noted_in_the_report(dataset, tmp_path):
    rendered = dataset / "logs" / "synth_com" / "test_aud_rst"
    copy_val_frames(dataset, rendered, [0, 1], fit_poses=30, pose_corrections=[[0.0] * 6] * 2)
    evaluate_psnr(dataset, tmp_path / "fitted")
    assert "--fit_poses 30" in (tmp_path / "fitted" / "evaluation_report.txt").read_text()
    copy_val_frames(dataset, rendered, [0, 1], fit_poses=0, pose_corrections=None)
    evaluate_psnr(dataset, tmp_path / "tracked")
    assert "fit_poses" not in (tmp_path / "tracked" / "evaluation_report.txt").read_text()


def test_frames_without_a_record_are_refused_in_one_line_with_pair_record(dataset, tmp_path, capsys):
    folder = tmp_path / "bare"
    copy_val_frames(dataset, folder, [0, 1])
    (folder / "frames.json").unlink()
    assert evaluate.main(["--subject", "synth", "--dataset_root", str(dataset.parent), "--out_dir",
                          str(tmp_path / "out"), "--metrics", "psnr", "--no_progress", "--gen_dir", str(folder),
                          "--pair", "record"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(folder) in err and "frames.json" in err and "--aud_from_pose" in err


def test_missing_driving_output_names_where_it_looked(dataset, tmp_path, capsys):
    assert evaluate.main(["--subject", "synth", "--dataset_root", str(dataset.parent), "--out_dir",
                          str(tmp_path / "out"), "--metrics", "psnr", "--no_progress"]) == 2
    err = capsys.readouterr().err
    assert "no driving output of synth" in err and str(dataset / "logs" / "synth_com" / "test_aud_rst") in err
    assert "--gen_dir" in err


def write_clip_with_sound(path: Path, seconds: float) -> None:
    """A black 32x32 25 fps mp4 with a 440 Hz AAC track (ffmpeg's own generators)."""
    import imageio_ffmpeg
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=black:s=32x32:d={seconds}",
           "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}", "-c:v", "libx264", "-pix_fmt", "yuv420p",
           "-c:a", "aac", "-shortest", str(path)]
    subprocess.run(cmd, check=True, capture_output=True)


def test_sync_audio_comes_from_the_driving_run(dataset, tmp_path):
    val = json.loads((dataset / "transforms_val.json").read_text())["frames"]
    rendered = tmp_path / "rst"
    rendered.mkdir()
    # no video_with_audio.mp4: the dataset's aud.wav from the first validation frame's aud_id ...
    audio = generated_clip_audio(None, None, rendered, False, dataset, val, testskip=1)
    assert "aud.wav from frame 50" in audio.description
    assert len(audio.samples) == pytest.approx(3 * 16000 - 50 * 640, abs=700)
    # ... which is no continuous clip when only every 2nd frame was rendered
    skipped = generated_clip_audio(None, None, rendered, False, dataset, val, testskip=2)
    assert skipped.samples is None and "pass --audio" in skipped.description
    # the driving run's own sound wins
    write_clip_with_sound(rendered / "video_with_audio.mp4", 1.0)
    audio = generated_clip_audio(None, None, rendered, False, dataset, val, testskip=2)
    assert "video_with_audio.mp4" in audio.description
    assert len(audio.samples) == pytest.approx(16000, abs=1200) and np.abs(audio.samples).max() > 1000
    # --audio wins over everything; a missing file is a reason, not a crash
    missing = generated_clip_audio(str(tmp_path / "none.wav"), None, rendered, False, dataset, val, 1)
    assert missing.samples is None and "none.wav not found" in missing.description
    # the default ground truth always goes with the dataset's sound at the validation frames
    gt = ground_truth_clip_audio(audio, True, None, dataset, val)
    assert "aud.wav from frame 50" in gt.description
    # a ground-truth video with sound brings its own
    write_clip_with_sound(tmp_path / "gt.mp4", 0.6)
    gt = ground_truth_clip_audio(audio, False, str(tmp_path / "gt.mp4"), None, None)
    assert "gt.mp4" in gt.description and len(gt.samples) == pytest.approx(0.6 * 16000, abs=1200)


def test_other_driving_speech_is_noted():
    from evaluation.driving_audio import ClipAudio, driving_mismatch_note, speech_correlation
    rng = np.random.default_rng(0)
    speech = (3000 * rng.standard_normal(32000)).astype(np.int16)
    coded = (speech + 300 * rng.standard_normal(32000)).astype(np.int16)        # the same sound, lossy
    assert speech_correlation(speech, coded) > 0.9
    assert driving_mismatch_note(ClipAudio(coded, "a"), ClipAudio(speech, "b")) is None
    other = (3000 * rng.standard_normal(32000)).astype(np.int16)
    note = driving_mismatch_note(ClipAudio(other, "a"), ClipAudio(speech, "b"))
    assert note is not None and "--aud_from_pose" in note
