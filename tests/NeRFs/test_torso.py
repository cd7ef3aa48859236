"""Torso-NeRF: composite, frozen head, learning, checkpoints, driving with new audio, clear errors."""
import json

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from adnerf.sequence_record import frame_file, read_sequence_record
from NeRFs.core.checkpoint import list_checkpoints
from NeRFs.core.config import parse_args
from NeRFs.TorsoNeRF.run_nerf import drive_command
from NeRFs.core.head import HeadTrainer
from NeRFs.core.rendering import composite
from NeRFs.core.torso import TorsoTrainer, composite_head_torso, rot_to_euler
from NeRFs.core.utils import UserError
from add_audio.add_audio import probe
from data_util.synthetic_head import make_synthetic_dataset
from tests.media_samples import write_wav
from tests.support import fit_measured, make_args, straight_rays

SMALL = {"netwidth": 128, "netwidth_fine": 128, "lrate": 2e-3, "N_rand": 256, "N_samples": 16, "N_importance": 16,
         "testskip": 2}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("torso") / "synth", n_frames=66, size=32)


@pytest.fixture(scope="module")
def head_logs(root):
    """A quickly trained head in root/logs/synth_head (where the torso finds it by default)."""
    HeadTrainer(make_args(root, root / "logs", N_iters=150, **SMALL)).fit()
    return root / "logs"


@pytest.fixture(scope="module")
def trained_torso(root, head_logs):
    """A torso trained 150 steps on the frozen head, saved in head_logs/synth_com, with the head's weights
    before and its validation PSNR before / after: every test that drives uses this one, whatever the order."""
    t = TorsoTrainer(make_args(root, head_logs, kind="torso", N_iters=150, i_weights=150, **SMALL))
    head_before = {k: v.clone() for k, v in t.head.coarse.network.state_dict().items()}
    aud_before = {k: v.clone() for k, v in t.head.audnet.state_dict().items()}
    _, before, after = fit_measured(t)
    return t, head_before, aud_before, before, after


def test_composite_transparent_torso_keeps_the_head_and_opaque_torso_hides_it():
    R, S = 5, 6
    z, d, raw = straight_rays(R, S, -20.0)  # empty torso space
    head = torch.rand(R, 3)
    torso = composite(raw, z, d, torch.zeros(R, 3), white_bkgd=False)
    torch.testing.assert_close(composite_head_torso(head, torso), head, atol=1e-4, rtol=0)
    raw[..., 3], raw[..., :3] = 1e4, -10.0  # opaque black torso
    torso = composite(raw, z, d, torch.zeros(R, 3), white_bkgd=False)
    torch.testing.assert_close(composite_head_torso(head, torso), torch.zeros(R, 3), atol=1e-4, rtol=0)


def test_torso_mask_loss_pulls_opacity_to_one_on_the_body_and_to_zero_elsewhere():
    """Zero also on the head: the composite C_head * T + C_torso_fg puts the torso in front of the head."""
    from NeRFs.core.regions import BACKGROUND, BODY, HEAD
    from NeRFs.core.torso import torso_mask_loss
    trans_last = torch.tensor([0.0, 1.0, 0.5, 0.2, 0.9])
    labels = torch.tensor([BODY, BACKGROUND, HEAD, BODY, BACKGROUND], dtype=torch.uint8)
    # opacity 1 - T: [1, 0, 0.5, 0.8, 0.1] against [1, 0, 0, 1, 0]
    torch.testing.assert_close(torso_mask_loss(trans_last, labels),
                               torch.tensor((0.5 ** 2 + 0.2 ** 2 + 0.1 ** 2) / 5))
    assert torso_mask_loss(trans_last, None) == 0.0


def test_rot_to_euler_uses_the_original_convention():
    angles = rot_to_euler(torch.eye(3))
    torch.testing.assert_close(angles, torch.tensor([np.pi / 2, 0.0, np.pi / 2]))


def test_torso_learns_on_a_frozen_head_and_saves_both_checkpoints(trained_torso, head_logs):
    t, head_before, aud_before, before, after = trained_torso
    print(f"composite PSNR on com_imgs: {before:.2f} -> {after:.2f} dB")
    assert after - before > 3.0
    for k, v in head_before.items():
        assert torch.equal(t.head.coarse.network.state_dict()[k], v)
    for k, v in aud_before.items():
        assert torch.equal(t.head.audnet.state_dict()[k], v)
    out = head_logs / "synth_com"
    assert [p.name for p in list_checkpoints(out, "body")] == ["000150_body.tar"]
    assert [p.name for p in list_checkpoints(out, "head")] == ["000150_head.tar"]
    body = torch.load(out / "000150_body.tar", weights_only=True)
    assert {"global_step", "network_fn_state_dict", "network_fine_state_dict", "optimizer_state_dict"} <= set(body)
    assert body["network_fn_state_dict"]["pts_linears.0.weight"].shape[1] == 63 + 64 + 42


def _drive_args(root, logs, *extra):
    return parse_args(["--config", str(root / "TorsoNeRFTest_config.txt"), "--basedir", str(logs), "--device", "cpu",
                       "--N_samples", "16", "--N_importance", "16", "--netwidth", "128", "--netwidth_fine", "128",
                       *extra], "torso")


def test_driving_with_new_audio_gives_n_frames_a_video_and_sound(root, head_logs, trained_torso, tmp_path):
    new_aud = np.random.default_rng(5).normal(0, 10, size=(40, 16, 29))
    np.save(tmp_path / "new_aud.npy", new_aud)
    wav = write_wav(tmp_path / "new.wav", 2.0)
    video = drive_command(_drive_args(root, head_logs, "--aud_file", str(tmp_path / "new_aud.npy"), "--test_size",
                                      "12", "--aud_start", "2", "--with_audio", str(wav)))
    out = head_logs / "synth_com" / "test_aud_rst"
    assert video == out / "video_with_audio.mp4"
    # the one sequence format: PNG frames named by the record, frames.json, video.mp4 (25 fps)
    record = read_sequence_record(out)
    assert [p.name for p in record.paths()] == [frame_file(i) for i in range(12)]
    assert sorted(p.name for p in out.glob("*.png")) == [frame_file(i) for i in range(12)]
    assert imageio.imread(out / frame_file(0)).shape == (32, 32, 3)
    reader = imageio.get_reader(out / record.video)
    assert record.video == "video.mp4" and reader.count_frames() == 12 and reader.get_meta_data()["fps"] == 25
    info = probe(video)
    assert info.has_video and info.has_audio and abs(info.duration - 12 / 25) < 0.1
    # which pose and audio frame each output frame shows: aud_start + i, poses in order
    val_ids = [f["img_id"] for f in json.loads((root / "transforms_val.json").read_text())["frames"]]
    val_ids = val_ids[::record.meta["testskip"]]
    assert [f.aud_id for f in record.frames] == list(range(2, 14))
    assert [f.img_id for f in record.frames] == [val_ids[i % len(val_ids)] for i in range(12)]
    assert record.meta["kind"] == "driving" and [f.index for f in record.frames] == list(range(12))
    # -1: the whole audio (40 - aud_start frames), poses cycle through the 3 validation poses; the earlier
    # run's frames and its video with sound are gone
    drive_command(_drive_args(root, head_logs, "--aud_file", str(tmp_path / "new_aud.npy"), "--test_size", "-1",
                              "--aud_start", "10"))
    assert imageio.get_reader(out / "video.mp4").count_frames() == 30 == len(read_sequence_record(out).frames)
    assert len(list(out.glob("*.png"))) == 30 and not (out / "video_with_audio.mp4").exists()


def test_fit_poses_renders_at_fitted_poses_and_records_them(root, head_logs, trained_torso, tmp_path):
    """--fit_poses: each validation pose is fitted to its head_imgs frame; frames.json records the steps and
    one 6-number correction per output frame, and the renders differ from those at the tracked poses."""
    new_aud = np.random.default_rng(6).normal(0, 10, size=(10, 16, 29))
    np.save(tmp_path / "aud6.npy", new_aud)
    out = head_logs / "synth_com"
    for fit in ("0", "3"):
        drive_command(_drive_args(root, head_logs, "--aud_file", str(tmp_path / "aud6.npy"), "--test_size", "4",
                                  "--rst_dir", f"fit_rst{fit}", "--fit_poses", fit))
    tracked, fitted = (read_sequence_record(out / f"fit_rst{f}") for f in ("0", "3"))
    assert tracked.meta["fit_poses"] == 0 and tracked.meta["pose_corrections"] is None
    assert fitted.meta["fit_poses"] == 3 and len(fitted.meta["pose_corrections"]) == 4
    assert all(len(c) == 6 and any(v != 0 for v in c) for c in fitted.meta["pose_corrections"])
    a, b = (imageio.imread(r.folder / r.frames[0].file).astype(int) for r in (tracked, fitted))
    assert np.abs(a - b).max() > 0


def test_driving_needs_no_training_image_and_no_optimiser(root, head_logs, trained_torso, tmp_path, monkeypatch):
    """Serving reads checkpoints, transforms, bc.jpg and the features only: the train frames' images are
    deleted from a copy of the dataset, and building any optimiser fails the test."""
    import shutil
    data = tmp_path / "served"
    shutil.copytree(root, data, ignore=shutil.ignore_patterns("logs"))
    for f in json.loads((data / "transforms_train.json").read_text())["frames"]:
        for folder in ("head_imgs", "com_imgs"):
            (data / folder / f"{f['img_id']}.jpg").unlink()

    def no_optimiser(self, *a, **k):
        raise AssertionError("an optimiser was built for serving")
    monkeypatch.setattr(torch.optim.Optimizer, "__init__", no_optimiser)
    np.save(tmp_path / "a.npy", np.random.default_rng(1).normal(0, 10, size=(6, 16, 29)))
    args = _drive_args(root, head_logs, "--datadir", str(data), "--aud_file", str(tmp_path / "a.npy"),
                       "--rst_dir", str(tmp_path / "served_out"))
    drive_command(args)
    record = read_sequence_record(tmp_path / "served_out")
    assert [f.aud_id for f in record.frames] == list(range(6))
    assert imageio.get_reader(tmp_path / "served_out" / "video.mp4").count_frames() == 6


def test_driving_errors_are_clear(root, head_logs, tmp_path):
    # its own one-step torso in a private folder: independent of what other tests left in head_logs
    head_ckpt = str(next((head_logs / "synth_head").glob("*.tar")))
    logs = tmp_path / "logs"
    TorsoTrainer(make_args(root, logs, kind="torso", N_iters=1, head_ckpt=head_ckpt, **SMALL)).fit()
    np.save(tmp_path / "bad.npy", np.zeros((10, 16)))
    with pytest.raises(UserError, match=r"shape \(10, 16\); expected \[frames, 16, channels\]"):
        drive_command(_drive_args(root, logs, "--aud_file", str(tmp_path / "bad.npy")))
    np.save(tmp_path / "narrow.npy", np.zeros((10, 16, 13)))
    with pytest.raises(UserError, match="13 channels per row, the trained AudioNet expects 29"):
        drive_command(_drive_args(root, logs, "--aud_file", str(tmp_path / "narrow.npy")))
    with pytest.raises(UserError, match="no torso checkpoint"):
        drive_command(_drive_args(root, tmp_path / "empty_logs", "--head_ckpt", str(next((head_logs / "synth_head").glob("*.tar")))))


def test_missing_head_checkpoint_says_what_to_do(root, tmp_path):
    with pytest.raises(UserError, match="no head checkpoint .* train the Head-NeRF first .* --head_ckpt"):
        TorsoTrainer(make_args(root, tmp_path, kind="torso"))


def test_torso_mask_loss_default_by_backend_and_without_parsing(root, head_logs, tmp_path, capsys):
    """Default: 0.1 for the grid backend, 0 (the original) for the MLP. A dataset without parsing turns the
    default off with a warning, and refuses a weight the user asked for in one line."""
    assert make_args(root, tmp_path, kind="torso").torso_mask_loss == 0.0
    assert make_args(root, tmp_path, kind="torso", backend="grid").torso_mask_loss == 0.1
    assert make_args(root, tmp_path, kind="torso", backend="grid", torso_mask_loss=0).torso_mask_loss == 0.0
    with pytest.raises(UserError, match="--torso_mask_loss = -1"):
        make_args(root, tmp_path, kind="torso", torso_mask_loss=-1)
    assert not (root / "parsing").exists()
    args = make_args(root, head_logs, kind="torso", torso_mask_loss=0.5, **SMALL)
    with pytest.raises(UserError, match=r"--torso_mask_loss 0.5 needs the face parsing.*parsing/0.png") as exc:
        TorsoTrainer(args)
    assert "\n" not in str(exc.value)
    args = make_args(root, head_logs, kind="torso", **SMALL)
    args.torso_mask_loss, args.torso_mask_loss_given = 0.1, False  # as the grid default
    t = TorsoTrainer(args)
    assert t.args.torso_mask_loss == 0.0 and "without --torso_mask_loss" in capsys.readouterr().out


def test_mlp_torso_trains_with_the_mask_loss_on_coarse_and_fine(root, head_logs, tmp_path, monkeypatch):
    """--torso_mask_loss with the MLP backend: the parsing of the step's frame reaches both networks' loss."""
    import shutil
    from NeRFs.core import torso as torso_module
    from tests.support import parsing_with_a_hidden_neck
    data = tmp_path / "synth"
    shutil.copytree(root, data, ignore=shutil.ignore_patterns("logs"))
    parsing_with_a_hidden_neck(data)
    seen = []
    loss = torso_module.torso_mask_loss
    monkeypatch.setattr(torso_module, "torso_mask_loss", lambda t, labels: seen.append(labels) or loss(t, labels))
    t = TorsoTrainer(make_args(data, tmp_path / "logs", kind="torso", N_iters=1, datadir=str(data),
                               head_ckpt=str(list_checkpoints(head_logs / "synth_head", "head")[-1]),
                               torso_mask_loss=1.0, **SMALL))
    logs = t.train_step(1, *t.step_randomness(1))
    assert np.isfinite(logs["loss"]) and len(seen) == 2  # fine and coarse
    assert seen[0].shape == (SMALL["N_rand"],) and set(seen[0].unique().tolist()) == {0, 1, 2}
