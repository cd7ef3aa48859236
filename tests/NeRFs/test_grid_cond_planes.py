"""--grid_cond_planes K: K tri-planes mixed by the per-frame condition; off by default (files unchanged); a file
with them loads, renders and resumes whatever the options say (the file's weights decide)."""
import torch

from NeRFs.api import load_head_renderer
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint
from NeRFs.core.head import HeadTrainer
from NeRFs.grid.encoding import ConditionedPlanes
from NeRFs.grid.field import GridField
from tests.support import make_args

GRID = {"backend": "grid", "N_rand": 64, "grid_samples": 8, "grid_hidden": 16, "grid_levels": 2, "occ_res": 16,
        "grid_max_res": 32, "N_iters": 2, "i_weights": 2}
BOX = torch.tensor([[-1.0, -1, -1], [1, 1, 1]])
NEW_KEYS = {"cond_basis.weight", "cond_basis.bias", "cond_planes.planes", "sigma_dyn.weight"}


def test_off_by_default_and_the_extra_state_is_named():
    plain = GridField(BOX, cond_dim=5, levels=2, base_res=8, max_res=16)
    mixed = GridField(BOX, cond_dim=5, levels=2, base_res=8, max_res=16, cond_planes=3)
    assert plain.cond_planes is None
    assert set(mixed.state_dict()) - set(plain.state_dict()) == NEW_KEYS
    assert mixed.state_dict()["cond_planes.planes"].shape[1] == 3 * mixed.cond_planes.features


def test_a_frame_reads_its_weights_combination_of_the_basis():
    """The features at a point are sum_k w_k P_k(x): linear in the weights, and a basis plane that is non-zero
    on one side of the box changes the features there only."""
    torch.manual_seed(0)
    planes = ConditionedPlanes(basis=2, features=3, res=8)
    with torch.no_grad():
        planes.planes.normal_()
        planes.planes[:2, :3] = 0.0          # basis 0 (channels 0..2): zero on the xy and yz planes,
        planes.planes[2, :3, :, :4] = 0.0    # and on the xz plane where x < 0 (width = x)
    x = torch.rand(50, 3) * 2 - 1
    w1, w2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    both = planes(x, 2 * w1 + 3 * w2)
    assert torch.allclose(both, 2 * planes(x, w1) + 3 * planes(x, w2), atol=1e-5)
    left = x[:, 0] < -0.3                    # beyond the bilinear footprint of the zeroed half
    assert torch.all(planes(x[left], w1) == 0) and planes(x[~left & (x[:, 0] > 0.3)], w1).abs().sum() > 0


def test_starts_as_the_static_field_and_learns_a_condition_the_mlp_alone_would_not_see():
    """Zero planes: the output equals the field without them (same weights); one gradient step on a loss that
    depends on the condition moves the planes."""
    torch.manual_seed(0)
    plain = GridField(BOX, cond_dim=5, levels=2, base_res=8, max_res=16, use_viewdirs=False)
    mixed = GridField(BOX, cond_dim=5, levels=2, base_res=8, max_res=16, use_viewdirs=False, cond_planes=2)
    mixed.load_state_dict({**mixed.state_dict(), **plain.state_dict()})
    pts, cond = torch.rand(100, 3) * 2 - 1, torch.randn(5)
    assert torch.allclose(mixed(pts, None, cond), plain(pts, None, cond), atol=1e-6)
    mixed(pts, None, cond)[:, :3].sum().backward()
    assert mixed.cond_planes.planes.grad.abs().sum() > 0


def test_a_file_with_them_loads_renders_and_resumes_without_the_option(synthetic_root, tmp_path):
    HeadTrainer(make_args(synthetic_root, tmp_path, grid_cond_planes=2, **GRID)).fit()
    path = list_checkpoints(tmp_path / "synth_head", "gridhead")[-1]
    assert NEW_KEYS <= set(load_checkpoint(path)["grid_field_state_dict"])
    pose = torch.eye(4)
    pose[2, 3] = 0.8
    renders = []
    for basis in (2, 0, 5):
        r = load_head_renderer(make_args(synthetic_root, tmp_path, grid_cond_planes=basis, **GRID))
        assert r.head.field.cond_planes.basis == 2
        renders.append(r.render(pose, r.codes(torch.zeros(1, 16, r.aud_channels))[0]))
    assert torch.equal(renders[0], renders[1]) and torch.equal(renders[0], renders[2])
    resumed = HeadTrainer(make_args(synthetic_root, tmp_path, **{**GRID, "N_iters": 3, "i_weights": 3}))
    assert resumed.fit() == 3 and resumed.models.field.cond_planes.basis == 2
    groups = resumed.optimizer.param_groups
    assert any(p is resumed.models.field.cond_planes.planes for p in groups[0]["params"])  # the grid's rate
    optimised = {id(p) for g in groups for p in g["params"]}
    assert all(id(p) in optimised for p in resumed.models.field.parameters())


def test_a_negative_count_is_refused_by_the_command_line(capsys, synthetic_root):
    import pytest

    from NeRFs.core.config import parse_args
    with pytest.raises(SystemExit):
        parse_args(["--datadir", str(synthetic_root), "--backend", "grid", "--grid_cond_planes", "-1"], "head")
    assert "must be >= 0" in capsys.readouterr().err
    ok = parse_args(["--datadir", str(synthetic_root), "--backend", "grid", "--grid_cond_planes", "3"], "head")
    assert ok.grid_cond_planes == 3
