"""Head-NeRF learns: validation PSNR rises, the audio drives the mouth, every seed trains, render_only works."""
import json
import subprocess
import sys

import imageio.v2 as imageio
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from adnerf.sequence_record import frame_file, read_sequence_record
from NeRFs.core.audio import sequence_codes
from NeRFs.core.head import HeadTrainer
from NeRFs.core.models import render_image
from NeRFs.core.utils import REPO_ROOT, mse_to_psnr
from tests.support import fit_measured, make_args, validation_psnr
from data_util.synthetic_head import make_synthetic_dataset, render_head

# a narrower network, fewer samples and a higher learning rate than the defaults: a ~35 s CPU run learns
LEARN = {"netwidth": 128, "netwidth_fine": 128, "lrate": 2e-3, "N_rand": 256, "N_samples": 16,
         "N_importance": 16, "testskip": 2}


@pytest.fixture(scope="module")
def learn_root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("learn") / "synth", n_frames=110, size=32)


@pytest.fixture(scope="module")
def trained(learn_root, tmp_path_factory):
    return fit_measured(HeadTrainer(make_args(learn_root, tmp_path_factory.mktemp("logs"), N_iters=400, **LEARN)))


def test_training_raises_validation_psnr_by_5_db(trained):
    _, before, after = trained
    print(f"validation PSNR {before:.2f} -> {after:.2f} dB")
    assert after - before >= 5.0


def test_the_audio_changes_the_mouth(trained, learn_root):
    """Render one validation pose with the codes of a closed-mouth and an open-mouth frame: the render
    must change where the ground truth changes (the mouth) and hardly anywhere else."""
    t, _, _ = trained
    mouth = np.load(learn_root / "mouth_signal.npy")[: len(t.dataset.splits["train"])]
    closed, opened = int(np.argmin(mouth)), int(np.argmax(mouth))
    pose = t.dataset.splits["val"].poses[0]
    with torch.no_grad():
        codes = sequence_codes(t.models.audnet, t.models.attnet, t.auds["train"], False)
        s = t.settings.for_inference()
        imgs = [render_image(t.models, pose, codes[k], t.camera, s)["rgb_map"].numpy() for k in (closed, opened)]
    bc = t.dataset.bc_img.numpy()
    gts = [render_head(pose.numpy().astype(np.float64), t.dataset.focal, t.dataset.H, t.dataset.W, mouth[k], bc)[0]
           for k in (closed, opened)]
    mouth_px = np.abs(gts[1] - gts[0]).sum(-1) > 0.1
    diff = np.abs(imgs[1] - imgs[0]).sum(-1)
    inside, outside = diff[mouth_px].mean(), diff[~mouth_px].mean()
    print(f"render change with the audio: {inside:.3f} in the mouth ({mouth_px.sum()} px), {outside:.3f} elsewhere")
    assert inside > 0.2  # clearly visible (sum over RGB)
    assert inside > 5 * outside


@pytest.mark.parametrize("seed", range(6))
def test_every_seed_starts_with_gradients_in_both_networks(synthetic_root, tmp_path, seed):
    t = HeadTrainer(make_args(synthetic_root, tmp_path, seed=seed, N_iters=1))
    rng, gen = t.step_randomness(1)
    before = {n: f.network.alpha_linear.weight.clone() for n, f in (("coarse", t.models.coarse), ("fine", t.models.fine))}
    t.train_step(1, rng, gen)
    for name, field in (("coarse", t.models.coarse), ("fine", t.models.fine)):
        assert not torch.equal(field.network.alpha_linear.weight, before[name]), f"{name} density got no gradient"


def test_several_seeds_all_learn(synthetic_root, tmp_path):
    gains = []
    for seed in (0, 1, 2):
        t = HeadTrainer(make_args(synthetic_root, tmp_path / str(seed), seed=seed, N_iters=100, **{**LEARN, "testskip": 5}))
        before = validation_psnr(t)
        t.fit()
        gains.append(validation_psnr(t) - before)
    print("PSNR gains per seed:", [f"{g:.2f}" for g in gains])
    assert min(gains) > 1.0


def test_command_line_trains_resumes_and_renders_video(dataset_copy):
    cfg = dataset_copy / "HeadNeRF_config.txt"
    common = [sys.executable, str(REPO_ROOT / "NeRFs/HeadNeRF/run_nerf.py"), "--config", str(cfg),
              "--datadir", str(dataset_copy), "--basedir", str(dataset_copy / "logs"), "--N_rand", "64",
              "--N_samples", "8", "--N_importance", "8", "--netwidth", "64", "--netwidth_fine", "64",
              "--i_weights", "2", "--i_testset", "4", "--device", "cpu", "--testskip", "1"]
    run = lambda *extra: subprocess.run(common + list(extra), capture_output=True, text=True, timeout=300)
    r = run("--N_iters", "2")
    assert r.returncode == 0, r.stderr
    r = run("--N_iters", "4")
    assert r.returncode == 0, r.stderr
    assert "resumed from" in r.stderr + r.stdout and "at step 2" in r.stderr + r.stdout
    out = dataset_copy / "logs" / "synth_head"
    assert sorted(p.name for p in out.glob("*_head.tar")) == ["000002_head.tar", "000004_head.tar"]
    assert len(list((out / "testset_000004").glob("*.png"))) == 5
    r = run("--render_only")
    assert r.returncode == 0, r.stderr
    folder = out / "renderonly_val_000004"
    pngs = sorted(folder.glob("*.png"))
    assert len(pngs) == 5 and iio.imread(pngs[0]).shape == (24, 24, 3)
    reader = imageio.get_reader(folder / "video.mp4")
    assert reader.get_meta_data()["fps"] == 25 and reader.count_frames() == 5
    # validation and render_only write the one sequence format: the record names each frame's pose and audio
    val = json.loads((dataset_copy / "transforms_val.json").read_text())["frames"]
    for seq in (folder, out / "testset_000004"):
        record = read_sequence_record(seq)
        assert [f.img_id for f in record.frames] == [f["img_id"] for f in val]
        assert [f.aud_id for f in record.frames] == [f.get("aud_id", f["img_id"]) for f in val]
        assert [p.name for p in record.paths()] == [frame_file(k) for k in range(5)]
        assert imageio.get_reader(seq / record.video).count_frames() == 5
    assert json.loads((folder / "metrics.json").read_text())["psnr_mean"] > 5
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    # what was written is the render: each PNG (validation and render_only) = round(255 x the float render)
    # of the same checkpoint (+-1), metrics.json's PSNR that of the float render against the frame
    t = HeadTrainer(make_args(dataset_copy, dataset_copy / "logs", N_rand=64, N_samples=8, N_importance=8,
                              netwidth=64, netwidth_fine=64, testskip=1))
    assert t.resume() == 4
    record = json.loads((folder / "metrics.json").read_text())
    for k, rgb, target in t.render_split("val", 4):
        want = np.round(255 * rgb.numpy())
        for png in (folder / frame_file(k), out / "testset_000004" / frame_file(k)):
            assert np.abs(iio.imread(png).astype(float) - want).max() <= 1, png
        assert record["psnr_per_frame"][k] == pytest.approx(mse_to_psnr(((rgb - target) ** 2).mean()), abs=1e-3)
    assert record["frames"] == len(record["psnr_per_frame"]) == 5
