"""--grid_local_signals: the eye and mouth inputs reach the grid head through the conditioned planes only, not
the bias every point gets; off by default (files unchanged); such a file loads, renders and resumes whatever
the options say (the width of its bias decides), and the option without planes is refused."""
import pytest
import torch

from data_util.synthetic_head import make_synthetic_dataset
from NeRFs.api import load_head_renderer
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint
from NeRFs.core.head import HeadTrainer
from NeRFs.core.utils import UserError
from NeRFs.grid.field import GridField
from tests.support import make_args

GRID = {"backend": "grid", "N_rand": 64, "grid_samples": 8, "grid_hidden": 16, "grid_levels": 2, "occ_res": 16,
        "grid_max_res": 32, "N_iters": 2, "i_weights": 2, "grid_cond_planes": 2}
BOX = torch.tensor([[-1.0, -1, -1], [1, 1, 1]])


def half_planes_field(bias_dim):
    """A field of condition width 5 whose conditioned planes are zero where x < 0 (so a change that reaches the
    field through them alone leaves that half of the box as it was)."""
    torch.manual_seed(0)
    field = GridField(BOX, cond_dim=5, levels=2, base_res=8, max_res=16, use_viewdirs=False, cond_planes=2,
                      bias_dim=bias_dim)
    with torch.no_grad():
        field.cond_planes.planes.normal_()
        field.cond_planes.planes[:2] = 0.0            # the xy and yz planes: nothing
        res = field.cond_planes.planes.shape[-1]
        field.cond_planes.planes[2, :, :, :res // 2] = 0.0   # the xz plane where x < 0 (width = x)
    return field


@pytest.mark.parametrize("bias_dim, left_moves", [(None, True), (3, False)])
def test_inputs_after_the_audio_act_through_the_planes_alone(bias_dim, left_moves):
    field = half_planes_field(bias_dim)
    pts = torch.rand(400, 3) * 2 - 1
    left, right = pts[:, 0] < -0.1, pts[:, 0] > 0.1   # beyond the bilinear footprint of the zeroed half
    cond = torch.randn(5)
    signal = cond.clone()
    signal[3:] += 2.0                                  # the eye and mouth inputs move
    audio = cond.clone()
    audio[:3] += 2.0                                   # the audio code moves
    base, by_signal, by_audio = (field(pts, None, c) for c in (cond, signal, audio))
    changed = (by_signal - base).abs().sum(-1) > 1e-6
    assert bool(changed[left].any()) == left_moves
    assert changed[right].any()                        # where the planes are, the signal still acts
    assert ((by_audio - base).abs().sum(-1) > 1e-6)[left].any()   # the audio code reaches every point
    assert field.sigma_cond.in_features == (5 if bias_dim is None else 3)


def test_a_bias_wider_than_the_condition_is_refused():
    with pytest.raises(ValueError, match="bias_dim"):
        GridField(BOX, cond_dim=5, bias_dim=6)


@pytest.fixture(scope="module")
def eye_root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("local") / "synth", n_frames=12, size=32, eyes=True)


def test_a_file_with_it_loads_renders_and_resumes_as_trained(eye_root, tmp_path):
    trainer = HeadTrainer(make_args(eye_root, tmp_path, grid_local_signals=True, **GRID))
    assert trainer.models.eye_condition and trainer.models.field.sigma_cond.in_features == trainer.args.dim_aud
    trainer.fit()
    path = list_checkpoints(tmp_path / "synth_head", "gridhead")[-1]
    state = load_checkpoint(path)["grid_field_state_dict"]
    assert state["sigma_cond.weight"].shape[1] == trainer.args.dim_aud
    pose = torch.eye(4)
    pose[2, 3] = 0.8
    renders = []
    for local in (True, False):
        r = load_head_renderer(make_args(eye_root, tmp_path, grid_local_signals=local, **GRID))
        assert r.head.field.sigma_cond.in_features == trainer.args.dim_aud
        renders.append(r.render(pose, r.codes(torch.zeros(1, 16, r.aud_channels))[0]))
    assert torch.equal(renders[0], renders[1])
    resumed = HeadTrainer(make_args(eye_root, tmp_path, **{**GRID, "N_iters": 3, "i_weights": 3}))
    assert resumed.fit() == 3 and resumed.models.field.sigma_cond.in_features == trainer.args.dim_aud


def test_an_older_file_keeps_its_whole_condition_in_the_bias(eye_root, tmp_path):
    trainer = HeadTrainer(make_args(eye_root, tmp_path, **GRID))
    trainer.fit()
    r = load_head_renderer(make_args(eye_root, tmp_path, grid_local_signals=True, **GRID))
    assert r.head.field.sigma_cond.in_features == r.head.field.cond_dim == trainer.args.dim_aud + 1


def test_without_planes_the_option_is_refused_in_one_line(eye_root, tmp_path):
    with pytest.raises(UserError, match="--grid_cond_planes > 0"):
        make_args(eye_root, tmp_path, **{**GRID, "grid_cond_planes": 0, "grid_local_signals": True})
