"""The README's demo command, end to end at a reduced size (tests/data/demo_tiny.conf): the grid backend
(the demo's default), then the MLP backend on the same dataset (one switch in the settings). It writes into
temporary folders (demo.sh's DATASET_ROOT and RESULTS_ROOT), never into the checkout's dataset/ or
evaluation/results/."""
import json
import os
import subprocess
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
ID = "ci_demo_tiny"
CONF = ROOT / "tests" / "data" / "demo_tiny.conf"
CHECKOUT_OUTPUTS = (ROOT / "dataset", ROOT / "evaluation" / "results")  # demo.sh's defaults


def checkout_outputs() -> set[Path]:
    """Every file and folder under the checkout's dataset/ and evaluation/results/."""
    return {p for folder in CHECKOUT_OUTPUTS if folder.is_dir() for p in folder.rglob("*")}


def check_psnr_record(results: dict, gen_dir: Path, data: Path) -> None:
    """The PSNR the evaluation wrote, recomputed from the files: each rendered validation frame (the PNG
    val_rst/frames.json names) against its ground truth (ori_imgs/<img_id>.jpg, img_id from the record)."""
    pairs = json.loads((gen_dir / "frames.json").read_text())["frames"]
    psnr = results["metrics"]["psnr"]
    assert results["n_pairs"] == len(pairs) == len(psnr["per_frame"]) == psnr["n"] > 0
    assert imageio.get_reader(gen_dir / "video.mp4").count_frames() == len(pairs)
    for pair, value in zip(pairs, psnr["per_frame"]):
        gen = imageio.imread(gen_dir / pair["file"]).astype(np.float64) / 255
        gt = imageio.imread(data / "ori_imgs" / f"{pair['img_id']}.jpg").astype(np.float64) / 255
        assert value == pytest.approx(-10 * np.log10(((gen - gt) ** 2).mean()), abs=0.01)
    assert psnr["mean"] == pytest.approx(np.mean(psnr["per_frame"]), abs=1e-9) and 8 < psnr["mean"] < 50


@pytest.mark.slow
def test_demo_runs_end_to_end_and_is_idempotent(tmp_path):
    before = checkout_outputs()
    datasets, report = tmp_path / "dataset", tmp_path / "results" / ID
    # the dataset folder relative to the checkout (as the default dataset/ is), the results folder absolute
    env = {**os.environ, "DEMO_CONF": str(CONF), "DATASET_ROOT": os.path.relpath(datasets, ROOT),
           "RESULTS_ROOT": str(tmp_path / "results")}
    data = datasets / ID
    run = subprocess.run(["bash", str(ROOT / "demo.sh")], env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (datasets / "vids" / f"{ID}.mp4").is_file() and (datasets / "vids" / f"{ID}_drive.wav").is_file()
    com = data / "logs" / f"{ID}_com"
    final = com / "test_aud_rst" / "video_with_audio.mp4"
    from add_audio.add_audio import probe
    info = probe(final)
    assert info.has_video and info.has_audio
    assert abs(info.duration - 1.0) < 0.2  # the 1 s driving clip
    assert (com / "val_rst" / "side_by_side.mp4").is_file()
    from avatar.package import open_avatar  # the trained person in one file (adnerf-export)
    avatar = open_avatar(data / f"{ID}.adnerf")
    assert avatar.manifest["backend"] == "grid" and avatar.manifest["cli_options"][-1] == "--skip_bg_pixels"
    for name in ("evaluation_report.txt", "evaluation_results.json", "metrics_plot.png"):
        assert (report / name).is_file(), name
    results = json.loads((report / "evaluation_results.json").read_text())
    check_psnr_record(results, com / "val_rst", data)
    # the driven video: one frame per 25 fps audio-feature frame of the 1 s clip, each recorded
    assert imageio.get_reader(final).count_frames() == 25
    driven = json.loads((com / "test_aud_rst" / "frames.json").read_text())
    assert [f["aud_id"] for f in driven["frames"]] == list(range(25)) and driven["kind"] == "driving"
    assert all((com / "test_aud_rst" / f["file"]).is_file() for f in driven["frames"])
    # a second run reuses every stage: no training, no rendering
    again = subprocess.run(["bash", str(ROOT / "demo.sh")], env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "nothing to do" in again.stdout + again.stderr
    assert "driving:" not in again.stderr
    assert (com / "test_aud_rst" / "video_with_audio.mp4.backend").read_text().strip() == "grid"
    assert list(com.glob("*_gridbody.tar")) and not list(com.glob("*_body.tar"))
    # the MLP is one switch away: BACKEND=mlp trains its own checkpoints on the same dataset and
    # re-renders, re-drives and re-evaluates (the grid outputs are not taken for the MLP's)
    mlp_conf = tmp_path / "demo_mlp.conf"
    mlp_conf.write_text(CONF.read_text() + "BACKEND=mlp\n")
    mlp = subprocess.run(["bash", str(ROOT / "demo.sh")], env={**env, "DEMO_CONF": str(mlp_conf)},
                         capture_output=True, text=True, timeout=900)
    assert mlp.returncode == 0, mlp.stdout[-3000:] + mlp.stderr[-3000:]
    assert list(com.glob("*_body.tar")) and list((data / "logs" / f"{ID}_head").glob("*_head.tar"))
    assert open_avatar(data / f"{ID}.adnerf").manifest["backend"] == "mlp"
    for out in (com / "val_rst" / "side_by_side.mp4", final, report / "evaluation_report.txt",
                data / f"{ID}.adnerf"):
        assert Path(f"{out}.backend").read_text().strip() == "mlp", out
    assert imageio.get_reader(final).count_frames() == 25
    check_psnr_record(json.loads((report / "evaluation_results.json").read_text()), com / "val_rst", data)
    new = sorted(str(p.relative_to(ROOT)) for p in checkout_outputs() - before)
    assert not new, f"demo.sh wrote into the checkout: {new[:10]}"
