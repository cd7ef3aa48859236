"""Serving (NeRFs/core/serving.py) and the one sequence format (adnerf/sequence_record.py, NeRFs/core/sequence.py).

A model loaded from its checkpoints renders, for both backends and without an optimiser, the pixels of an
independent render: the trainer's networks through the training renderer, head and torso composited here
by hand; a written sequence reads back: frames, record, mp4 frame count.
"""
import argparse
import json
from dataclasses import replace

import imageio.v2 as imageio
import numpy as np
import pytest
import torch

from adnerf.sequence_record import (RECORD_NAME, SequenceRecordError, frame_file, read_sequence_record,
                                    record_dict, write_record)
from NeRFs.core.driving import drive
from NeRFs.core.head import HeadTrainer
from NeRFs.core.networks import AudioNet
from NeRFs.core.sequence import write_sequence
from NeRFs.api import load_head_renderer, load_talking_head
from NeRFs.core.conditioning import pose_condition
from NeRFs.core.rays import get_rays
from NeRFs.core.torso import TorsoTrainer
from tests.support import make_args

TINY = {"netwidth": 32, "netwidth_fine": 32, "N_samples": 8, "N_importance": 8, "N_rand": 64, "N_iters": 1,
        "grid_hidden": 16, "grid_max_res": 32, "occ_res": 16}


def _trained(root, logs, device, backend):
    """A one-step head and torso of ``backend`` saved in logs; returns the torso trainer and its args."""
    opts = {**TINY, "device": device.type, "backend": backend}
    HeadTrainer(make_args(root, logs, **opts)).fit()
    args = make_args(root, logs, kind="torso", **opts)
    torso = TorsoTrainer(args)
    torso.fit()
    return torso, args


@torch.no_grad()
def hand_composited(trainer, pose, code):
    """Head + torso [H, W, 3] from the trainer's networks through the training renderer (no early
    termination, no serving code), composited here as the paper writes it: C = C_head * T_torso + C_torso_fg."""
    ds, a, dev = trainer.dataset, trainer.args, trainer.device
    s, pose = replace(trainer.settings, perturb=0.0), pose.to(dev)
    o, d = (x.reshape(-1, 3) for x in get_rays(ds.H, ds.W, ds.focal, pose, ds.cx, ds.cy))
    head = trainer.head.render_rays(o, d, a.near, a.far, trainer.bc_img.reshape(-1, 3), code, s)["rgb_map"]
    o, d = (x.reshape(-1, 3) for x in get_rays(ds.H, ds.W, ds.focal, ds.splits["train"].poses[0].to(dev), ds.cx, ds.cy))
    cond = torch.cat((code, pose_condition(pose)))
    torso = trainer.torso.render_rays(o, d, a.near, a.far, torch.zeros_like(o), cond, s)
    return (head * torso["trans_last"][:, None] + torso["rgb_fg_map"]).reshape(ds.H, ds.W, 3)


@pytest.fixture(autouse=True)
def _no_optimiser_when_serving(monkeypatch):
    """Counts optimisers built: serving itself must build none."""
    built = []
    real = torch.optim.Optimizer.__init__

    def counting(self, *a, **k):
        built.append(type(self).__name__)
        real(self, *a, **k)
    monkeypatch.setattr(torch.optim.Optimizer, "__init__", counting)
    return built


@pytest.mark.parametrize("backend", ["mlp", "grid"])
def test_loaded_talking_head_renders_what_the_trainer_renders(synthetic_root, tmp_path, device, backend,
                                                              _no_optimiser_when_serving):
    trainer, args = _trained(synthetic_root, tmp_path / "logs", device, backend)
    built = len(_no_optimiser_when_serving)
    th = load_talking_head(args)
    assert len(_no_optimiser_when_serving) == built  # loading and rendering build no optimiser
    assert th.aud_channels == trainer.head.audnet.in_channels == 29 and th.step == 1
    val = trainer.dataset.splits["val"]
    codes = th.codes(val.auds)
    assert codes.shape == (len(val), trainer.args.dim_aud) and codes.device.type == device.type
    want = hand_composited(trainer, val.poses[0], codes[0])
    got = th.render(val.poses[0], codes[0])
    assert got.shape == (24, 24, 3) and got.device.type == device.type
    assert (want - trainer.bc_img).abs().max() > 2 / 255  # head and torso are not invisible: something is compared
    assert (got - want).abs().max().item() < 0.5 / 255
    # driving renders through it: 3 frames with the validation poses' own audio rows, read back
    drive_args = argparse.Namespace(**{**vars(args), "aud_from_pose": True, "test_size": 3, "testskip": 1,
                                       "rst_dir": str(tmp_path / "driven")})
    out = drive(drive_args, trainer.dataset.auds, "aud.npy", head=th)
    record = read_sequence_record(out.folder)
    poses = json.loads((synthetic_root / "transforms_val.json").read_text())["frames"][:3]
    assert [f.img_id for f in record.frames] == [p["img_id"] for p in poses]
    assert [f.aud_id for f in record.frames] == [p["aud_id"] for p in poses]
    assert imageio.get_reader(out.video).count_frames() == 3 and record.meta["step"] == 1
    assert len(_no_optimiser_when_serving) == built


def test_head_renderer_and_the_explicit_audio_width(synthetic_root, tmp_path, device):
    args = make_args(synthetic_root, tmp_path / "logs", **{**TINY, "device": device.type})
    t = HeadTrainer(args)
    t.fit()
    r = load_head_renderer(args)
    assert r.aud_channels == AudioNet.channels_of(t.models.audnet.state_dict()) == 29
    val = t.dataset.splits["val"]
    (k, want, _), = list(t.render_split("val", 1, [0]))
    got = r.render(val.poses[0], r.codes(val.auds)[0])
    assert (got - want).abs().max().item() < 1e-5
    from NeRFs.core.utils import UserError
    with pytest.raises(UserError, match="13 channels per row, the trained AudioNet expects 29"):
        r.check_features(torch.zeros(4, 16, 13), "narrow.npy")


def test_a_written_sequence_reads_back(tmp_path):
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (18, 22, 3), dtype=np.uint8) for _ in range(4)]
    record = [{"img_id": 10 + i, "aud_id": 3 + i} for i in range(4)]
    (tmp_path / "seq").mkdir()
    (tmp_path / "seq" / "7.jpg").write_bytes(b"old")  # a frame of an earlier, longer run
    write_sequence(tmp_path / "seq", frames, record, fps=25, kind="test", testskip=1)
    rec = read_sequence_record(tmp_path / "seq")
    assert [(f.index, f.file, f.img_id, f.aud_id) for f in rec.frames] == \
        [(i, frame_file(i), 10 + i, 3 + i) for i in range(4)]
    assert rec.meta["kind"] == "test" and rec.fps == 25 and rec.video == "video.mp4"
    for frame, path in zip(frames, rec.paths()):
        assert np.array_equal(imageio.imread(path), frame)  # PNG: lossless
    reader = imageio.get_reader(tmp_path / "seq" / rec.video)
    assert reader.count_frames() == 4 and reader.get_meta_data()["fps"] == 25
    assert sorted(p.name for p in (tmp_path / "seq").iterdir() if not p.name.startswith(".")) == \
        sorted([frame_file(i) for i in range(4)] + [RECORD_NAME, "video.mp4"])
    with pytest.raises(ValueError):  # frames and record must have one entry each
        write_sequence(tmp_path / "bad", frames, record[:2])


def test_a_missing_or_broken_record_is_one_line_naming_the_folder(tmp_path):
    with pytest.raises(SequenceRecordError) as err:
        read_sequence_record(tmp_path)
    assert str(tmp_path) in str(err.value) and "frames.json" in str(err.value) and "\n" not in str(err.value)
    (tmp_path / RECORD_NAME).write_text("{not json")
    with pytest.raises(SequenceRecordError, match="not a sequence record"):
        read_sequence_record(tmp_path)
    # the earlier driving record ({"frame": i} and <i>.jpg) is still read
    (tmp_path / RECORD_NAME).write_text(json.dumps({"testskip": 1, "frames": [{"frame": 0, "img_id": 5, "aud_id": 2}]}))
    rec = read_sequence_record(tmp_path)
    assert (rec.frames[0].file, rec.frames[0].img_id, rec.meta["testskip"]) == ("0.jpg", 5, 1)
    write_record(tmp_path, record_dict([{"img_id": None, "aud_id": 4}], fps=30))
    assert read_sequence_record(tmp_path).frames[0].img_id is None
