"""--grid_cond_gate: each point gates the per-frame condition; off by default (files unchanged); a gated file
loads, renders and resumes whatever the options say (the file's weights decide)."""
import torch

from NeRFs.api import load_head_renderer
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint
from NeRFs.core.head import HeadTrainer
from NeRFs.grid.field import GridField
from tests.support import make_args

GRID = {"backend": "grid", "N_rand": 64, "grid_samples": 8, "grid_hidden": 16, "grid_levels": 2, "occ_res": 16,
        "grid_max_res": 32, "N_iters": 2, "i_weights": 2}
BOX = torch.tensor([[-1.0, -1, -1], [1, 1, 1]])


def fields():
    torch.manual_seed(0)
    plain = GridField(BOX, cond_dim=5, levels=2, base_res=8, max_res=16, use_viewdirs=False)
    gated = GridField(BOX, cond_dim=5, levels=2, base_res=8, max_res=16, use_viewdirs=False, cond_gate=True)
    gated.load_state_dict({**plain.state_dict(), **{k: v for k, v in gated.state_dict().items()
                                                    if k.startswith("cond_gate.")}})
    return plain, gated


def test_off_by_default_and_the_state_is_the_ungated_one():
    plain, gated = fields()
    assert plain.cond_gate is None and not any(k.startswith("cond_gate") for k in plain.state_dict())
    assert set(gated.state_dict()) - set(plain.state_dict()) == {"cond_gate.weight", "cond_gate.bias"}


def test_the_gate_scales_the_condition_per_point():
    """h = W_e e + sigmoid(W_g e) * W_c c: a shut gate removes the condition, an open one is the plain field,
    and a gate open on one side of the box lets the condition act there only."""
    plain, gated = fields()
    pts = torch.rand(200, 3) * 2 - 1
    c0, c1 = torch.zeros(5), torch.ones(5)
    with torch.no_grad():
        gated.cond_gate.weight.zero_()
        gated.cond_gate.bias.fill_(-40.0)          # shut
        assert torch.allclose(gated(pts, None, c0), gated(pts, None, c1), atol=1e-6)
        gated.cond_gate.bias.fill_(40.0)           # open
        assert torch.allclose(gated(pts, None, c1), plain(pts, None, c1), atol=1e-6)
    changed = (plain(pts, None, c0) - plain(pts, None, c1)).abs().sum(-1) > 1e-6
    assert changed.float().mean() > 0.5            # the plain field's output depends on the condition


def test_a_gated_file_loads_renders_and_resumes_without_the_option(synthetic_root, tmp_path):
    HeadTrainer(make_args(synthetic_root, tmp_path, grid_cond_gate=True, **GRID)).fit()
    path = list_checkpoints(tmp_path / "synth_head", "gridhead")[-1]
    assert "cond_gate.weight" in load_checkpoint(path)["grid_field_state_dict"]
    pose = torch.eye(4)
    pose[2, 3] = 0.8
    renders = []
    for gate in (True, False):
        r = load_head_renderer(make_args(synthetic_root, tmp_path, grid_cond_gate=gate, **GRID))
        assert r.head.field.cond_gate is not None
        renders.append(r.render(pose, r.codes(torch.zeros(1, 16, r.aud_channels))[0]))
    assert torch.equal(renders[0], renders[1])
    resumed = HeadTrainer(make_args(synthetic_root, tmp_path, **{**GRID, "N_iters": 3, "i_weights": 3}))
    assert resumed.fit() == 3 and resumed.models.field.cond_gate is not None
    optimised = {id(p) for g in resumed.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in optimised for p in resumed.models.field.parameters())
