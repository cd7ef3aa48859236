"""Our renderer against a literal restatement of the original algorithm (tests/original_algorithm.py)."""
import pytest
import torch

from NeRFs.core.networks import FaceNeRF
from NeRFs.core.rays import get_rays
from NeRFs.core.rendering import (RadianceField, RenderSettings, composite, render_rays, render_rays_chunked,
                                  render_rays_inference)
from tests.original_algorithm import OriginalFaceNeRF, render_rays as original_render_rays
from tests.support import straight_rays


def _scene(seed=0, density_scale=40.0, density_bias=2.0):
    """Two original-layout networks with a density that varies in space, and a small camera."""
    torch.manual_seed(seed)
    nets = []
    for _ in range(2):
        net = OriginalFaceNeRF()
        with torch.no_grad():
            net.pts_linears[0].weight[:, :63].mul_(6.0)  # features vary faster with position
            net.alpha_linear.weight.mul_(density_scale)
            net.alpha_linear.bias.fill_(density_bias)
        nets.append(net)
    c2w = torch.eye(4)
    c2w[:3, 3] = torch.tensor([0.02, -0.01, 0.8])
    rays_o, rays_d = get_rays(12, 12, 22.0, c2w)
    bc = torch.rand(12, 12, 3)
    aud = torch.randn(64)
    return nets, rays_o.reshape(-1, 3), rays_d.reshape(-1, 3), bc.reshape(-1, 3), aud


def _fields(nets):
    fields = []
    for net in nets:
        ours = FaceNeRF()
        ours.load_state_dict(net.state_dict())
        fields.append(RadianceField(ours))
    return fields


@pytest.mark.parametrize("seed,scale,bias", [(0, 300.0, -5.0), (1, 300.0, -5.0), (0, 1000.0, -20.0)])
def test_pixels_match_the_original_algorithm_within_1_over_255(seed, scale, bias):
    nets, o, d, bc, aud = _scene(seed, scale, bias)
    want, want0 = original_render_rays(nets[0], nets[1], o, d, 0.6, 1.2, bc, aud, 32, 64)
    coarse, fine = _fields(nets)
    s = RenderSettings(N_samples=32, N_importance=64, perturb=0.0)
    with torch.no_grad():
        got = render_rays(coarse, fine, o, d, 0.6, 1.2, bc, aud, s)
        fast = render_rays_chunked(coarse, fine, o, d, 0.6, 1.2, bc, aud, s.for_inference(1e-4),
                                    renderer=render_rays_inference)
    assert (got["rgb_map"] - want).abs().max() < 1e-4
    assert (got["rgb0"] - want0).abs().max() < 1e-4
    # inference path: large chunks + early ray termination stays within 1/255
    assert (fast["rgb_map"] - want).abs().max() < 1.0 / 255
    # the scenes are not trivial: partly see-through (background visible) or opaque enough that
    # early termination skips samples
    T = got["trans_last"]
    assert (T > 0.05).any() if scale < 1000 else (T < 1e-4).float().mean() > 0.1


def test_transparent_scene_shows_the_background_and_opaque_scene_hides_it():
    R, S = 6, 9
    z, d, raw = straight_rays(R, S, -10.0)  # no density
    bc = torch.rand(R, 3)
    out = composite(raw, z, d, bc, white_bkgd=False)
    torch.testing.assert_close(out["rgb_map"], bc, atol=1e-4, rtol=0)
    raw[..., 3] = 1e4  # opaque at the first sample
    raw[..., :3] = 10.0  # white
    out = composite(raw, z, d, bc, white_bkgd=False)
    torch.testing.assert_close(out["rgb_map"], torch.ones(R, 3), atol=1e-4, rtol=0)
    assert out["trans_last"].max() < 1e-6
    torch.testing.assert_close(out["weights"].sum(-1), torch.ones(R))


def test_gradients_reach_the_networks():
    nets, o, d, bc, aud = _scene(0)
    coarse, fine = _fields(nets)
    aud.requires_grad_(True)
    out = render_rays(coarse, fine, o[:32], d[:32], 0.6, 1.2, bc[:32], aud,
                      RenderSettings(N_samples=8, N_importance=8), torch.Generator().manual_seed(0))
    (out["rgb_map"].sum() + out["rgb0"].sum()).backward()
    assert aud.grad.abs().sum() > 0
    for field in (coarse, fine):
        assert field.network.pts_linears[0].weight.grad.abs().sum() > 0


def _full_and_fast(nets, o, d, bc, aud, monkeypatch=None, device="cpu"):
    coarse, fine = (f.to(device) for f in _fields(nets))
    o, d, bc, aud = (x.to(device) for x in (o, d, bc, aud))
    s = RenderSettings(N_samples=32, N_importance=64, perturb=0.0)
    with torch.no_grad():
        full = render_rays(coarse, fine, o, d, 0.6, 1.2, bc, aud, s)
        fast = render_rays_chunked(coarse, fine, o, d, 0.6, 1.2, bc, aud, s.for_inference(1e-4),
                                   keys=("rgb_map", "acc_map", "depth_map", "rgb_fg_map", "trans_last"),
                                   renderer=render_rays_inference)
    return full, fast, fine


@pytest.mark.parametrize("scale,bias", [(1.0, 0.1), (300.0, -5.0), (1000.0, -20.0), (3000.0, -100.0)])
def test_inference_renderer_matches_the_training_renderer(scale, bias, device):
    """See-through (an untrained network), partly opaque and mostly opaque scenes: every output of the
    inference renderer stays within 1/255 of the full render (on each device)."""
    nets, o, d, bc, aud = _scene(0, scale, bias)
    full, fast, _ = _full_and_fast(nets, o, d, bc, aud, device=device)
    assert fast["rgb_map"].device.type == device.type
    for key in ("rgb_map", "acc_map", "rgb_fg_map", "trans_last"):
        assert (fast[key] - full[key]).abs().max() < 0.5 / 255, key
    assert (fast["depth_map"] - full["depth_map"]).abs().max() < 1e-3


def test_inference_renderer_skips_colour_of_invisible_samples(monkeypatch):
    """In a scene of dense blobs in empty space (a third of the fine samples visible) the colour branch runs
    for the visible fine samples only, never for the coarse ones; the pixels stay within 1/255."""
    nets, o, d, bc, aud = _scene(0, 3000.0, -100.0)
    full, _, _ = _full_and_fast(nets, o, d, bc, aud)
    coloured = []
    original_colour = FaceNeRF.colour

    def counting_colour(self, h, view_code):
        coloured.append(h[..., 0].numel())
        return original_colour(self, h, view_code)

    monkeypatch.setattr(FaceNeRF, "colour", counting_colour)
    _, fast, _ = _full_and_fast(nets, o, d, bc, aud)
    n_full = o.shape[0] * ((32 - 1) + (32 + 64 - 1))  # the training renderer's coarse + fine samples
    n_fast = sum(coloured) - n_full  # _full_and_fast ran the training renderer as well
    assert 0 < n_fast < 0.4 * o.shape[0] * (32 + 64 - 1)
    assert full["rgb_fg_map"].max() > 0.1  # the blobs are visible
    assert (fast["rgb_map"] - full["rgb_map"]).abs().max() < 1.0 / 255


def test_cpu_inference_uses_cache_sized_network_calls():
    s = RenderSettings(netchunk=65536)
    assert s.for_inference(1e-4, "cpu").netchunk == 4096
    assert s.for_inference(1e-4, "cuda").netchunk == 65536
    assert s.for_inference(1e-4).netchunk == 65536  # no device: left as configured
    assert s.for_inference(1e-4).perturb == 0 and s.for_inference(1e-4).early_stop_T == 1e-4
    assert s.for_inference(0.0).inference and not s.inference  # --early_stop_T 0 keeps the other savings


@pytest.mark.parametrize("use_viewdirs,i_embed", [(False, 0), (True, -1)])
def test_inference_renderer_without_view_directions_or_encoding(use_viewdirs, i_embed):
    """The original's --no-use_viewdirs (one output layer) and --i_embed -1 (no encoding) render the same
    through both renderers."""
    torch.manual_seed(0)
    in_ch = 3 if i_embed == -1 else 63
    fields = []
    for _ in range(2):
        net = FaceNeRF(input_ch=in_ch, input_ch_views=3 if i_embed == -1 else 27, use_viewdirs=use_viewdirs)
        with torch.no_grad():
            head = net.alpha_linear if use_viewdirs else net.output_linear
            head.weight.mul_(300.0)
            head.bias.fill_(-5.0)
        fields.append(RadianceField(net, i_embed=i_embed))
    _, o, d, bc, aud = _scene(0)
    s = RenderSettings(N_samples=16, N_importance=32, perturb=0.0)
    with torch.no_grad():
        full = render_rays(fields[0], fields[1], o, d, 0.6, 1.2, bc, aud, s)
        fast = render_rays_chunked(fields[0], fields[1], o, d, 0.6, 1.2, bc, aud, s.for_inference(1e-4),
                                   renderer=render_rays_inference)
    assert (fast["rgb_map"] - full["rgb_map"]).abs().max() < 0.5 / 255
