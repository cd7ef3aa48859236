"""--refine_poses (NeRFs/core/pose_refine.py, HeadTrainer.before_train_step): halfway through the head's
training, every training pose refitted by the frozen field and written back. A known answer on the analytic
textured sphere (the file's poses land on the true ones), what the files hold afterwards, and a toy head
training that refines once, trains on, and does not refine again when resumed."""
import json
from types import SimpleNamespace

import imageio.v2 as imageio
import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation

from NeRFs.core import pose_refine
from NeRFs.core.cli import run_main, train_or_render
from NeRFs.core.dataset import check_poses
from NeRFs.core.pose_fit import corrected_pose
from tests.NeRFs.test_pose_fit import render_sphere, sphere_camera, textured_sphere
from tests.support import TOY_GRID, make_args

ERRORS = ([0.02, -0.03, 0.0, 0.01, 0.0, 0.0], [-0.025, 0.0, 0.02, 0.0, 0.012, 0.0])


def sphere_dataset(root):
    """Two training frames of the sphere seen from two true poses; the file holds poses ~2 degrees off."""
    root.mkdir()
    (root / "head_imgs").mkdir()
    true_poses, frames = [], []
    for k, (turn, error) in enumerate(zip(([0.0, 0.0, 0.0], [0.0, 0.2, 0.0]), ERRORS)):
        true = torch.eye(4, dtype=torch.float64)
        true[:3, :3] = torch.tensor(Rotation.from_rotvec(turn).as_matrix())
        true[:3, 3] = true[:3, :3] @ torch.tensor([0.0, 0.0, 1.5], dtype=torch.float64)
        image = (render_sphere(true, sphere_camera()).numpy() * 255).round().astype(np.uint8)
        imageio.imwrite(root / "head_imgs" / f"{k}.jpg", image, quality=100)
        tracked = torch.eye(4, dtype=torch.float64)
        tracked[:3] = corrected_pose(true, torch.tensor(error, dtype=torch.float64))
        true_poses.append(true)
        frames.append({"img_id": k, "aud_id": k, "transform_matrix": tracked.tolist(),
                       "face_rect": [6, 6, 52, 52]})
    (root / "transforms_train.json").write_text(json.dumps({"focal_len": 128.0, "cx": 32, "cy": 32,
                                                            "frames": frames}, indent=1))
    np.save(root / "aud.npy", np.zeros((2, 16, 29), dtype=np.float32))
    return true_poses


def sphere_model():
    """The analytic sphere as a frozen head renderer 'trained to step 7'."""
    cam = sphere_camera()
    cam.near, cam.far = 1.0, 2.0
    head = SimpleNamespace(render_rays=lambda o, d, near, far, bc, cond, s: {"rgb_map": textured_sphere(o, d, bc)})
    return SimpleNamespace(head=head, camera=cam, device=torch.device("cpu"), step=7,
                           codes=lambda feats, eyes, mouth: torch.zeros(len(feats), 1))


def test_refined_poses_are_the_true_ones_and_the_tracked_ones_are_kept(tmp_path):
    root = tmp_path / "sphere"
    true_poses = sphere_dataset(root)
    original = (root / "transforms_train.json").read_text()
    record = pose_refine.refine_pose_file(sphere_model(), None, root, 200, 1024)

    written = json.loads((root / "transforms_train.json").read_text())
    assert (root / "transforms_train_tracked.json").read_text() == original
    assert written["pose_refinement"] == record == pose_refine.refinement_record(root / "transforms_train.json")
    assert record["head_step"] == 7 and record["steps"] == 200 and record["rays"] == 1024
    assert record["frames_fitted"] == 2 and record["frames"] == 2
    assert record["tracked_poses"] == "transforms_train_tracked.json"
    assert 1.0 < record["mean_correction_deg"] < 3.0     # the errors were 2.07 and 1.83 degrees
    poses = np.array([f["transform_matrix"] for f in written["frames"]])
    check_poses(poses, root / "transforms_train.json")   # still camera poses the loader accepts
    before = json.loads(original)["frames"]
    for frame, old, true in zip(written["frames"], before, true_poses):
        assert {k: v for k, v in frame.items() if k != "transform_matrix"} == \
               {k: v for k, v in old.items() if k != "transform_matrix"}
        fitted = np.array(frame["transform_matrix"])
        start = Rotation.from_matrix(np.array(old["transform_matrix"])[:3, :3] @ true[:3, :3].numpy().T).magnitude()
        err = Rotation.from_matrix(fitted[:3, :3] @ true[:3, :3].numpy().T).magnitude()
        assert np.degrees(err) < 0.5 < np.degrees(start)
    got = pose_refine.poses_by_img_id(root / "transforms_train.json", [1, 0]).numpy()
    np.testing.assert_allclose(got, poses[[1, 0]], atol=1e-6)   # by frame id, not by position
    with pytest.raises(pose_refine.UserError, match="no longer lists frame 5"):
        pose_refine.poses_by_img_id(root / "transforms_train.json", [0, 5])

    # a second round keeps the tracker's poses as they were, not the first round's
    pose_refine.refine_pose_file(sphere_model(), None, root, 2, 64)
    assert (root / "transforms_train_tracked.json").read_text() == original


def test_non_finite_poses_leave_the_file_as_it_was(tmp_path, monkeypatch):
    root = tmp_path / "sphere"
    sphere_dataset(root)
    original = (root / "transforms_train.json").read_text()
    monkeypatch.setattr(pose_refine, "fit_sequence_poses",
                        lambda *a, **k: (torch.full((2, 4, 4), float("nan")), [None, None]))
    with pytest.raises(pose_refine.UserError, match="NaN / inf.*left as it was"):
        pose_refine.refine_pose_file(sphere_model(), None, root, 5, 64)
    assert (root / "transforms_train.json").read_text() == original
    assert not (root / "transforms_train_tracked.json").exists()


def test_frozen_restores_what_was_trainable():
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    b.bias.requires_grad_(False)
    with pose_refine.frozen((a, b)):
        assert not any(p.requires_grad for m in (a, b) for p in m.parameters())
    assert a.weight.requires_grad and a.bias.requires_grad and b.weight.requires_grad
    assert not b.bias.requires_grad


def test_head_training_refines_once_and_trains_on_the_refined_poses(dataset_copy, tmp_path, capsys):
    from NeRFs.core.head import HeadTrainer
    logs, own = tmp_path / "logs", {**TOY_GRID, "datadir": str(dataset_copy), "N_iters": 4, "refine_poses": 2}
    trainer = HeadTrainer(make_args(dataset_copy, logs, **own))
    trainer.fit()
    path = dataset_copy / "transforms_train.json"
    written = json.loads(path.read_text())
    tracked = json.loads((dataset_copy / "transforms_train_tracked.json").read_text())
    record = written["pose_refinement"]
    assert record["head_step"] == 2 and record["steps"] == 2 and record["rays"] == own["N_rand"]
    moved = [not np.allclose(a["transform_matrix"], b["transform_matrix"])
             for a, b in zip(written["frames"], tracked["frames"])]
    assert all(moved) and len(moved) == len(trainer.dataset.splits["train"].img_ids)
    assert "step 2: refined" in capsys.readouterr().out
    np.testing.assert_allclose(trainer.dataset.splits["train"].poses.cpu().numpy(),
                               np.array([f["transform_matrix"] for f in written["frames"]]), atol=1e-6)

    refined = path.read_bytes()
    resumed = HeadTrainer(make_args(dataset_copy, logs, **{**own, "N_iters": 6}))
    np.testing.assert_allclose(resumed.dataset.splits["train"].poses.cpu().numpy(),
                               np.array([f["transform_matrix"] for f in written["frames"]]), atol=1e-6)
    resumed.fit()
    assert path.read_bytes() == refined and "refined" not in capsys.readouterr().out  # once per dataset

    argv = ["--config", str(dataset_copy / "HeadNeRF_config.txt"), "--basedir", str(logs),
            "--datadir", str(dataset_copy), "--refine_poses", "-1"]
    assert run_main(train_or_render("head"), "head", argv) == 2
