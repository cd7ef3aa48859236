"""--grid_max_res auto: the finest resolution follows the image and the camera; files of any resolution load."""
import argparse

import pytest
import torch

from data_util.synthetic_head import make_synthetic_dataset
from NeRFs.api import load_head_renderer
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from NeRFs.core.head import HeadTrainer
from NeRFs.core.models import Camera
from NeRFs.grid.models import MAX_RES_KEY, finest_resolution, frustum_of, saved_max_res
from NeRFs.grid.options import max_resolution
from tests.support import make_args

GRID = {"backend": "grid", "N_rand": 64, "grid_samples": 8, "grid_hidden": 16, "grid_levels": 2, "occ_res": 16,
        "N_iters": 2, "i_weights": 2}


def camera_of(root) -> Camera:
    from NeRFs.core.dataset import AudFaceDataset
    ds = AudFaceDataset(root)
    train = ds.splits["train"]
    return Camera(ds.H, ds.W, ds.focal, ds.cx, ds.cy, 0.6, 1.2, ds.bc_img, train.poses[0], train.poses)


@pytest.mark.parametrize("size, expected", [(24, 128), (128, 128), (512, 512)])
def test_auto_follows_the_image_size(tmp_path, size, expected):
    """The synthetic head fills about half the frame: its box spans ~1.1 frame widths at the head's depth,
    so at 2 px a cell a 512 px frame gets 512 cells (the old fixed 128 was ~8 px a cell), small ones 128."""
    cam = camera_of(make_synthetic_dataset(tmp_path / "s", n_frames=12, size=size))
    box = frustum_of(cam, cam.train_poses)
    assert finest_resolution(argparse.Namespace(grid_max_res="auto"), box, cam) == expected
    assert finest_resolution(argparse.Namespace(grid_max_res=48), box, cam) == 48


def test_the_option_takes_auto_or_a_count():
    assert max_resolution("auto") == "auto" and max_resolution("AUTO") == "auto" and max_resolution("64") == 64
    for bad in ("1", "x", "64.5"):
        with pytest.raises(argparse.ArgumentTypeError):
            max_resolution(bad)
    with pytest.raises(argparse.ArgumentTypeError, match="neither auto nor a whole number"):
        max_resolution("x")


def test_an_older_file_of_another_resolution_loads_renders_and_resumes(synthetic_root, tmp_path):
    """A grid head trained at 32 cells whose file does not record it (as before auto): loaded with the
    default 'auto' (128 here) it is rebuilt at 32 from its planes, renders the same pixels, and resumes."""
    HeadTrainer(make_args(synthetic_root, tmp_path, grid_max_res=32, **GRID)).fit()
    path = list_checkpoints(tmp_path / "synth_head", "gridhead")[-1]
    ckpt = load_checkpoint(path)
    assert ckpt[MAX_RES_KEY] == 32
    del ckpt[MAX_RES_KEY]
    save_checkpoint(path, ckpt)
    assert saved_max_res(load_checkpoint(path)) == 32   # read from the last tri-plane's size
    pose = torch.eye(4)
    pose[2, 3] = 0.8
    renders = []
    for res in (32, "auto"):
        r = load_head_renderer(make_args(synthetic_root, tmp_path, grid_max_res=res, **GRID))
        assert r.head.field.max_res == 32
        renders.append(r.render(pose, r.codes(torch.zeros(1, 16, r.aud_channels))[0]))
    assert torch.equal(renders[0], renders[1])
    resumed = HeadTrainer(make_args(synthetic_root, tmp_path, **{**GRID, "N_iters": 3, "i_weights": 3}))
    assert resumed.models.field.max_res == 128 and resumed.fit() == 3
    assert resumed.models.field.max_res == 32
    optimised = {id(p) for g in resumed.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in optimised for p in resumed.models.field.parameters())   # the rebuilt field trains
    assert load_checkpoint(list_checkpoints(tmp_path / "synth_head", "gridhead")[-1])[MAX_RES_KEY] == 32
