import torch

from NeRFs.core.encoding import PositionalEncoding
from NeRFs.core.networks import AudioAttNet, AudioNet, FaceNeRF, count_parameters
from tests.original_algorithm import OriginalFaceNeRF, embed


def test_parameter_counts_match_the_original():
    assert count_parameters(FaceNeRF()) == 661_636
    assert count_parameters(AudioNet()) == 32_800
    assert count_parameters(AudioAttNet()) == 2_149


def test_state_dicts_are_interchangeable_with_the_original_layout(device):
    ours, orig = FaceNeRF().to(device), OriginalFaceNeRF().to(device)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {k: v.shape for k, v in orig.state_dict().items()}
    ours.load_state_dict(orig.state_dict())
    x, aud, d = (torch.randn(*shape, device=device) for shape in ((50, 63), (64,), (50, 27)))
    expected = orig(torch.cat([x, aud.expand(50, -1), d], -1))
    torch.testing.assert_close(ours(x, aud, d), expected, rtol=1e-5, atol=1e-5)
    # a per-point condition gives the same as a shared one
    torch.testing.assert_close(ours(x, aud.expand(50, -1), d), expected, rtol=1e-5, atol=1e-5)


def test_positional_encoding_order_and_size():
    x = torch.randn(7, 3)
    pe = PositionalEncoding(10)
    assert pe.out_dim == 63
    torch.testing.assert_close(pe(x), embed(x, 10))
    assert pe(torch.zeros(1, 3))[0, 3:6].abs().max() == 0  # sin(0) first: no factor pi, no phase


def test_audionet_shapes_and_channels(device):
    net = AudioNet(dim_aud=64, in_channels=29).to(device)
    assert net(torch.randn(5, 16, 29, device=device)).shape == (5, 64)
    assert net(torch.randn(1, 16, 29, device=device)).shape == (1, 64)  # no squeeze of a batch of one
    assert AudioNet(in_channels=13).to(device)(torch.randn(2, 16, 13, device=device)).shape == (2, 64)
    # the feature width is an explicit property, also readable from a saved state dict
    assert net.in_channels == AudioNet.channels_of(net.state_dict()) == 29 and AudioNet(in_channels=13).in_channels == 13


def test_audioattnet_is_a_convex_combination_of_its_window(device):
    att = AudioAttNet().to(device)
    codes = torch.randn(8, 64, device=device)
    w = att.attention(codes)
    assert w.shape == (8,) and torch.isclose(w.sum().cpu(), torch.tensor(1.0)) and (w >= 0).all()
    torch.testing.assert_close(att(codes), (w[:, None] * codes).sum(0))
    # only the first 32 channels drive the attention
    codes2 = codes.clone()
    codes2[:, 32:] += 5
    torch.testing.assert_close(att.attention(codes2), w)


def test_fresh_density_is_positive_for_every_seed():
    """The original's init left the density negative at every sample for ~1/3 of seeds (dead ReLU)."""
    pts = embed(torch.rand(2000, 3) * 0.2 - 0.1 + torch.tensor([0.0, 0.0, 0.0]), 10)
    dirs = embed(torch.nn.functional.normalize(torch.randn(2000, 3), dim=-1), 4)
    for seed in range(20):
        torch.manual_seed(seed)
        net = FaceNeRF()
        net.init_density_positive()
        sigma = net(pts, torch.randn(64), dirs)[:, 3]
        assert (sigma > 0).float().mean() > 0.99, seed
