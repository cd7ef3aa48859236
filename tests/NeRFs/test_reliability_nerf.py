"""Issue 12 on the NeRF side: bad numbers refused where they enter, option values checked, a diverged run
never saved or resumed, a lock per experiment, problems found before the first step, disk full."""
import errno
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from NeRFs.core import checkpoint as ckpt_mod
from NeRFs.core import preflight
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from NeRFs.core.cli import run_main, train_or_render
from NeRFs.core.dataset import AudFaceDataset
from NeRFs.core.driving import smooth_poses
from NeRFs.core.head import HeadTrainer
from NeRFs.core.utils import UserError
from tests.support import make_args


def test_nan_in_audio_features_names_file_frame_and_step(dataset_copy):
    auds = np.load(dataset_copy / "aud.npy")
    auds[7, 3, 2] = np.nan
    np.save(dataset_copy / "aud.npy", auds)
    with pytest.raises(UserError, match=r"aud.npy: frame 7 holds NaN or inf \(1 of .*step 0"):
        AudFaceDataset(dataset_copy)


def test_nan_pose_names_file_frame_and_step(dataset_copy):
    meta = json.loads((dataset_copy / "transforms_train.json").read_text())
    meta["frames"][4]["transform_matrix"][0][3] = float("nan")
    (dataset_copy / "transforms_train.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"transforms_train.json: the pose of frame 4 \(img_id 4\).*steps 6 and 7"):
        AudFaceDataset(dataset_copy)


@pytest.mark.parametrize("option, value, message", [
    ("N_rand", "-5", "option --N_rand = -5: must be a whole number >= 1"),
    ("N_samples", "0", "option --N_samples = 0: must be a whole number >= 1"),
    ("N_samples", "1", "option --N_samples = 1: must be >= 2"),
    ("i_weights", "0", "option --i_weights = 0: must be a whole number >= 1"),
    ("lrate", "nan", "option --lrate = nan: must be a finite number > 0"),
    ("netwidth", "0", "option --netwidth = 0: must be a whole number >= 1"),
    ("near", "2.0", "options --near = 2.0 and --far = "),
    ("N_importance", "-1", "option --N_importance = -1: must be a whole number >= 0"),
])
def test_option_values_are_one_line_errors(synthetic_root, tmp_path, capsys, option, value, message):
    code = run_main(train_or_render("head"), "head", ["--config", str(synthetic_root / "HeadNeRF_config.txt"),
                                                           "--basedir", str(tmp_path), f"--{option}", value])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: " + message) and err.count("\n") == 1


def test_a_non_finite_loss_stops_before_saving_and_keeps_the_last_good_checkpoint(synthetic_root, tmp_path,
                                                                                  monkeypatch, capsys):
    real = HeadTrainer.train_step

    def diverging(self, step, rng, gen):
        logs = real(self, step, rng, gen)
        if step == 3:
            with torch.no_grad():
                next(self.models.coarse.network.parameters()).fill_(float("nan"))
            logs["loss"] = float("nan")
        return logs
    monkeypatch.setattr(HeadTrainer, "train_step", diverging)
    argv = ["--config", str(synthetic_root / "HeadNeRF_config.txt"), "--basedir", str(tmp_path), "--N_iters", "4",
            "--i_weights", "2", "--N_rand", "64", "--N_samples", "8", "--N_importance", "8", "--device", "cpu"]
    assert run_main(train_or_render("head"), "head", argv) == 2
    err = capsys.readouterr().err
    assert "error: step 3: the loss is nan (not finite); training stopped before saving, the last good " \
           "checkpoint" in err and "000002_head.tar is kept" in err
    assert [p.name for p in list_checkpoints(tmp_path / "synth_head")] == ["000002_head.tar"]


def test_checkpoints_with_nan_are_never_written_and_skipped_when_found(synthetic_root, tmp_path, capsys):
    with pytest.raises(UserError, match="not saving .*'w' holds NaN"):
        save_checkpoint(tmp_path / "000001_head.tar", {"w": torch.tensor([float("nan")])})
    assert not list(tmp_path.iterdir())
    t = HeadTrainer(make_args(synthetic_root, tmp_path, N_iters=2, i_weights=1))
    t.fit()
    bad = load_checkpoint(tmp_path / "synth_head" / "000002_head.tar")
    bad["network_fn_state_dict"]["pts_linears.0.weight"][0, 0] = float("inf")
    torch.save(bad, tmp_path / "synth_head" / "000002_head.tar")   # as a diverged run of the original saves
    assert HeadTrainer(make_args(synthetic_root, tmp_path)).resume() == 1
    out = capsys.readouterr().out
    assert "skipping unusable checkpoint: checkpoint" in out and "pts_linears.0.weight' holds NaN or inf" in out
    assert "(newest good one; skipped 000002_head.tar)" in out


def test_lock_per_experiment_and_stale_partial_files(synthetic_root, tmp_path, capsys):
    out = tmp_path / "synth_head"
    out.mkdir()
    (out / ".000010_head.tar.4242.tmp").write_bytes(b"partial")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (out / preflight.LOCK_NAME).write_text(dead.stdout)                    # left by a killed run
    t = HeadTrainer(make_args(synthetic_root, tmp_path, N_iters=1))
    t.fit()
    text = capsys.readouterr().out
    assert f"took over the lock of pid {int(dead.stdout)}, which is no longer running" in text
    assert "removed 1 partial checkpoint file(s) of an interrupted save: .000010_head.tar.4242.tmp" in text
    assert not (out / ".000010_head.tar.4242.tmp").exists()
    with preflight.ExperimentLock(out, "synth_head"):                      # a training is running
        with pytest.raises(UserError, match=rf"another training of 'synth_head' is running in .* \(pid {os.getpid()}\)"):
            HeadTrainer(make_args(synthetic_root, tmp_path, N_iters=2)).fit()


def test_unwritable_output_folder_is_found_before_training(synthetic_root, tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match=r"cannot write to the output folder .*file/synth_head .*--basedir"):
        HeadTrainer(make_args(synthetic_root, tmp_path / "file"))


def test_truncated_training_image_and_full_disk_stop_before_the_first_step(dataset_copy, tmp_path, monkeypatch):
    jpg = dataset_copy / "head_imgs" / "3.jpg"
    jpg.write_bytes(jpg.read_bytes()[: len(jpg.read_bytes()) // 2])
    t = HeadTrainer(make_args(dataset_copy, tmp_path, N_iters=2, datadir=str(dataset_copy)))
    with pytest.raises(UserError, match=r"head_imgs/3.jpg cannot be decoded .*--step 5 --force"):
        t.fit()
    assert not list((tmp_path / "synth_head").glob("*.tar"))
    jpg.write_bytes((dataset_copy / "head_imgs" / "4.jpg").read_bytes())
    monkeypatch.setattr(preflight.shutil, "disk_usage", lambda p: type("U", (), {"free": 1000})())
    with pytest.raises(UserError, match=r"not enough space on .*: this run will write about .* 1000.0 B free"):
        HeadTrainer(make_args(dataset_copy, tmp_path, N_iters=2, datadir=str(dataset_copy))).fit()


def test_disk_full_while_saving_says_so_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "000002_head.tar"
    save_checkpoint(tmp_path / "000001_head.tar", {"global_step": 1})

    def full(obj, f, *a, **k):
        f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(ckpt_mod.torch, "save", full)
    with pytest.raises(UserError, match=f"no space left on {tmp_path} while saving 000002_head.tar"):
        save_checkpoint(path, {"global_step": 2})
    assert [p.name for p in tmp_path.iterdir()] == ["000001_head.tar"]


def test_driving_poses_are_consecutive_unless_a_testskip_is_named(synthetic_root, tmp_path):
    args = make_args(synthetic_root, tmp_path)
    assert args.testskip_given and args.testskip == 5                      # FAST names one
    from NeRFs.core.config import parse_args
    plain = parse_args(["--datadir", str(synthetic_root), "--near", "0.5", "--far", "1.5"])
    assert not plain.testskip_given and plain.testskip == 8               # validation during training as before
    rng = np.random.default_rng(0)
    poses = np.tile(np.eye(4), (9, 1, 1))
    poses[:, :3, 3] = rng.normal(size=(9, 3))
    # real rotations: about one axis by angles 0.1 i, so the mean of 3 neighbours projected back onto a
    # rotation (the SVD branch) is the rotation by their mean angle
    angles = 0.1 * np.arange(9)
    c, s_ = np.cos(angles), np.sin(angles)
    poses[:, 0, 0], poses[:, 0, 1], poses[:, 1, 0], poses[:, 1, 1] = c, -s_, s_, c
    smoothed = smooth_poses(poses, 3)
    np.testing.assert_allclose(smoothed[4, :3, 3], poses[3:6, :3, 3].mean(0))
    np.testing.assert_allclose(smoothed[1:-1, :3, :3], poses[1:-1, :3, :3], atol=1e-12)  # mean angle = own angle
    np.testing.assert_allclose(smoothed[0, :3, :3], smooth_poses(poses[:2], 3)[0, :3, :3], atol=1e-12)
    half = np.mean(angles[:2])  # the first frame averages itself and its one neighbour
    np.testing.assert_allclose(smoothed[0, :2, :2], [[np.cos(half), -np.sin(half)], [np.sin(half), np.cos(half)]],
                               atol=1e-12)
    assert not np.allclose(poses[:3, :3, :3].mean(0), smoothed[1, :3, :3])  # the mean itself is not a rotation
    for r in smoothed[:, :3, :3]:
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)


def test_driving_features_with_nan_name_the_file_and_what_to_do(synthetic_root, tmp_path):
    from NeRFs.TorsoNeRF.run_nerf import driving_features
    feats = np.zeros((5, 16, 29), np.float32)
    feats[2, 0, 0] = np.inf
    np.save(tmp_path / "drive.npy", feats)
    with pytest.raises(UserError, match=r"drive.npy: frame 2 holds NaN or inf .*pass the .wav itself as --aud_file"):
        driving_features(str(tmp_path / "drive.npy"), str(synthetic_root))


def test_a_broken_parsing_mask_is_found_before_training_when_masks_are_used(dataset_copy, tmp_path):
    from PIL import Image
    (dataset_copy / "parsing").mkdir()
    for n in range(3):  # the synthetic dataset has no parsing: a few masks, the third truncated
        Image.fromarray(np.full((24, 24, 3), 255, np.uint8)).save(dataset_copy / "parsing" / f"{n}.png")
    png = dataset_copy / "parsing" / "2.png"
    png.write_bytes(png.read_bytes()[:40])
    t = HeadTrainer(make_args(dataset_copy, tmp_path, N_iters=1, datadir=str(dataset_copy), skip_bg_pixels=True))
    with pytest.raises(UserError, match=r"parsing/2.png cannot be decoded .*--step 3 --force"):
        t.fit()
