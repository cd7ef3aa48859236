"""evaluation/evaluate.py end to end on a synthetic subject, with weights files the tests create."""
import json
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch

from adnerf.sequence_record import frame_file, record_dict, write_record
from data_util.synthetic_head import make_synthetic_dataset
from evaluation import evaluate
from evaluation.metrics import fid, syncnet


@pytest.fixture(scope="module")
def subject_root(tmp_path_factory) -> Path:
    """dataset/synth (48 px, 66 frames: 6 validation frames) with a 4 s aud.wav and a 'rendered' result."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("ds") / "dataset" / "synth", n_frames=66, size=48)
    with wave.open(str(root / "aud.wav"), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        t = np.arange(4 * 16000) / 16000
        w.writeframes((3000 * np.sin(2 * np.pi * 220 * t) * (1 + np.sin(2 * np.pi * 3 * t))).astype(np.int16).tobytes())
    val = json.loads((root / "transforms_val.json").read_text())["frames"]
    out = root / "logs" / "synth_com" / "test_aud_rst"
    out.mkdir(parents=True)
    rng = np.random.default_rng(0)
    import imageio.v2 as imageio
    for k, f in enumerate(val):   # the ground truth with noise, a rendered sequence of the validation poses
        img = imageio.imread(root / "ori_imgs" / f"{f['img_id']}.jpg").astype(float)
        imageio.imwrite(out / frame_file(k), np.clip(img + rng.normal(0, 8, img.shape), 0, 255).astype(np.uint8))
    write_record(out, record_dict([{"img_id": f["img_id"], "aud_id": f["aud_id"]} for f in val], fps=25, testskip=1))
    return root


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict:
    """Randomly initialised weights in the published formats."""
    d = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    import torchvision
    torch.save({f"features.{k}": v for k, v in torchvision.models.alexnet(weights=None).features.state_dict().items()},
               d / "alexnet.pth")
    torch.save(fid.random_inception_state_dict(), d / "inception.pth")
    torch.save(syncnet.SyncNet().state_dict(), d / "syncnet_v2.model")
    return {"--lpips_backbone": d / "alexnet.pth", "--fid_weights": d / "inception.pth",
            "--syncnet_weights": d / "syncnet_v2.model"}


def run(root: Path, out: Path, *extra) -> int:
    return evaluate.main(["--subject", "synth", "--dataset_root", str(root.parent), "--out_dir", str(out),
                          "--device", "cpu", "--no_progress", *map(str, extra)])


def test_all_metrics_on_a_synthetic_subject(subject_root, weights, tmp_path):
    args = [x for kv in weights.items() for x in kv]
    assert run(subject_root, tmp_path, "--metrics", "all", "--landmark_backend", "dlib", *args) == 0
    for name in ("evaluation_report.txt", "evaluation_results.json", "metrics_plot.png"):
        assert (tmp_path / name).stat().st_size > 0
    results = json.loads((tmp_path / "evaluation_results.json").read_text())
    m = results["metrics"]
    assert results["n_pairs"] == 6 and results["frame_ids"] == list(range(6))
    assert 25 < m["psnr"]["mean"] < 40 and len(m["psnr"]["per_frame"]) == 6       # noise sigma 8/255 ~ 30 dB
    assert 0 < m["ssim"]["mean"] < 1 and m["psnr_face"]["n"] == 6
    for key in ("lpips", "fid", "sync_c", "sync_d", "sync_c_gt"):
        assert "unavailable" not in m[key], m[key]
    assert np.isfinite(m["fid"]["value"]) and m["sync_d"]["n"] == 1
    assert m["fid"]["weights"] == f"pytorch-fid weights {weights['--fid_weights']}"   # the report names them
    # the synthetic sphere has no face dlib knows: LMD is marked unavailable with the reason
    assert "no face found" in m["lmd"]["unavailable"]
    # ... and so is the lip sync of both clips, which needs no weights but a face (rows of --metrics all)
    assert "no face found by the dlib" in m["lipsync"]["unavailable"] and "lipsync_gt" in m
    text = (tmp_path / "evaluation_report.txt").read_text()
    assert "PSNR" in text and "Sync-C" in text and "LMD (mouth, centred), NIOE (mouth / inter-ocular): unavailable: no face found" in text


def test_missing_weights_and_audio_are_reported_and_the_rest_runs(subject_root, tmp_path, monkeypatch):
    monkeypatch.setenv("ADNERF_WEIGHTS_DIR", str(tmp_path / "empty_cache"))
    monkeypatch.setenv("ADNERF_OFFLINE", "1")
    assert run(subject_root, tmp_path, "--metrics", "psnr", "lpips", "sync", "--audio", tmp_path / "none.wav") == 0
    m = json.loads((tmp_path / "evaluation_results.json").read_text())["metrics"]
    assert m["psnr"]["n"] == 6 and "ssim" not in m
    assert "download.pytorch.org" in m["lpips"]["unavailable"] and "--lpips_backbone" in m["lpips"]["unavailable"]
    assert "none.wav not found" in m["sync_c"]["unavailable"]
    assert "download.pytorch.org" in (tmp_path / "evaluation_report.txt").read_text()


def test_mismatched_counts_and_sizes_compare_what_pairs(subject_root, tmp_path):
    gen = tmp_path / "gen"
    shutil.copytree(subject_root / "logs" / "synth_com" / "test_aud_rst", gen)
    (gen / frame_file(5)).unlink()
    from PIL import Image
    Image.open(gen / frame_file(4)).resize((40, 40)).save(gen / frame_file(4))
    assert run(subject_root, tmp_path / "out", "--metrics", "psnr", "--gen_dir", gen) == 0
    results = json.loads((tmp_path / "out" / "evaluation_results.json").read_text())
    assert results["n_pairs"] == 4
    text = (tmp_path / "out" / "evaluation_report.txt").read_text()
    assert "5 generated, 6 ground truth" in text and "differ in size" in text and "--resize" in text
    assert run(subject_root, tmp_path / "out2", "--metrics", "psnr", "--gen_dir", gen, "--resize") == 0
    assert json.loads((tmp_path / "out2" / "evaluation_results.json").read_text())["n_pairs"] == 5


def test_videos_in_and_identical_inputs(subject_root, tmp_path):
    import imageio.v2 as imageio
    frames = [imageio.imread(p) for p in sorted((subject_root / "com_imgs").glob("*.jpg"), key=lambda p: int(p.stem))][:8]
    video = tmp_path / "clip.mp4"
    imageio.mimwrite(video, frames, fps=25, macro_block_size=16, quality=9)
    out = tmp_path / "out"
    assert evaluate.main(["--gen_video", str(video), "--gt_video", str(video), "--metrics", "psnr", "ssim",
                          "--out_dir", str(out), "--no_progress", "--device", "cpu"]) == 0
    m = json.loads((out / "evaluation_results.json").read_text())["metrics"]
    assert m["psnr"]["mean"] == 100.0 and m["ssim"]["mean"] == pytest.approx(1.0) and m["psnr"]["n"] == 8
    assert "face rectangles" in m["psnr_face"]["unavailable"]


def test_compare_puts_runs_side_by_side(subject_root, tmp_path):
    for name in ("a", "b"):
        assert run(subject_root, tmp_path / name, "--metrics", "psnr", "ssim") == 0
    assert evaluate.main(["--compare", str(tmp_path / "a"), str(tmp_path / "b" / "evaluation_results.json"),
                          "--out_dir", str(tmp_path / "cmp")]) == 0
    text = (tmp_path / "cmp" / "comparison_report.txt").read_text()
    header = next(line for line in text.splitlines() if line.startswith("metric"))
    assert header.split() == ["metric", "a", "b"] and "PSNR" in text
    assert (tmp_path / "cmp" / "comparison_plot.png").is_file()
    # runs with the same folder name get a suffix
    assert evaluate.main(["--compare", str(tmp_path / "a"), str(tmp_path / "a"), "--out_dir", str(tmp_path / "cmp")]) == 0
    assert "a#2" in (tmp_path / "cmp" / "comparison_report.txt").read_text()


def test_bad_inputs_give_one_line_errors(subject_root, tmp_path, capsys):
    assert evaluate.main(["--subject", "nobody", "--dataset_root", str(tmp_path)]) == 2
    assert "dataset" in capsys.readouterr().err
    assert run(subject_root, tmp_path, "--gen_dir", tmp_path / "nothing") == 2
    assert "does not exist" in capsys.readouterr().err
    assert run(subject_root, tmp_path, "--metrics", "psnr", "bogus") == 2
    assert "unknown metric" in capsys.readouterr().err
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video")
    assert run(subject_root, tmp_path, "--gen_video", bad) == 2
    assert "cannot read generated video" in capsys.readouterr().err
