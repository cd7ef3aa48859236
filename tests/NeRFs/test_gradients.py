"""Analytic gradients against finite differences (``torch.autograd.gradcheck``, double precision, small sizes)
of every differentiable operation of the renderers: the alpha compositing (opacity, transmittance, weights,
colour / depth / opacity maps), the positional encoding and the grid backend's encodings; on the CPU, and
on CUDA when PyTorch sees a GPU (the ``device`` fixture of tests/conftest.py).

A wrong backward (a detached term, a wrong sign, a cumulative product whose gradient skips a factor) passes
the "gradients are non-zero" checks of test_rendering.py, and fails these.
"""
import pytest
import torch
from torch.autograd import gradcheck
from torch.func import functional_call

# the operations under test, imported in one place (a moved name is a one-line fix here)
from NeRFs.core.compositing import composite, opacity, segment_lengths, transmittance
from NeRFs.core.encoding import PositionalEncoding
from NeRFs.grid.encoding import HashGridEncoding, TriPlaneEncoding

F64 = torch.float64


def _check(fn, inputs, **kw):
    """gradcheck of ``fn`` at ``inputs`` (every output, every input that requires grad); raises on mismatch."""
    assert gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4, **kw)


def _rays(R: int, S: int, device, seed=0):
    """z [R, S] sorted depths in [0.6, 1.2] (the last at far), rays_d [R, 3] (not unit length), double."""
    g = torch.Generator().manual_seed(seed)
    inner = torch.sort(0.6 + 0.6 * torch.rand(R, S - 2, generator=g, dtype=F64), dim=-1)[0]
    z = torch.cat((torch.full((R, 1), 0.6, dtype=F64), inner, torch.full((R, 1), 1.2, dtype=F64)), dim=-1)
    d = torch.randn(R, 3, generator=g, dtype=F64) * 0.3 + torch.tensor([0.0, 0.0, -1.0], dtype=F64)
    return z.to(device), d.to(device)


def _away_from_zero(x: torch.Tensor, margin: float = 0.05) -> torch.Tensor:
    """Values kept at least ``margin`` from 0, where relu has its kink (finite differences straddle it)."""
    return torch.where(x >= 0, x + margin, x - margin)


def test_opacity_gradcheck(device):
    g = torch.Generator().manual_seed(1)
    sigma = _away_from_zero(torch.randn(4, 7, generator=g, dtype=F64) * 3).to(device).requires_grad_(True)
    dists = (0.01 + torch.rand(4, 7, generator=g, dtype=F64) * 0.2).to(device).requires_grad_(True)
    assert (sigma < 0).any() and (sigma > 0).any()  # both sides of relu: zero and non-zero gradient
    _check(opacity, (sigma, dists))


def test_transmittance_gradcheck(device):
    g = torch.Generator().manual_seed(2)
    alpha = (0.05 + 0.9 * torch.rand(3, 6, generator=g, dtype=F64)).to(device).requires_grad_(True)
    start = (0.2 + 0.8 * torch.rand(3, generator=g, dtype=F64)).to(device).requires_grad_(True)
    _check(transmittance, (alpha,))
    _check(transmittance, (alpha, start))


def test_segment_lengths_gradcheck(device):
    z, d = _rays(3, 6, device)
    _check(segment_lengths, (z.requires_grad_(True), d.requires_grad_(True)))


@pytest.mark.parametrize("white_bkgd", [False, True])
def test_composite_gradcheck(device, white_bkgd):
    """Every output of the compositing (rgb, disp, acc, depth, weights, rgb_fg_map, trans_last) against the raw
    network outputs, the depths, the ray directions and the background colour."""
    R, S = 3, 6
    g = torch.Generator().manual_seed(3)
    z, d = _rays(R, S, device)
    raw = torch.randn(R, S - 1, 4, generator=g, dtype=F64)
    raw[..., 3] = _away_from_zero(raw[..., 3] * 2)
    raw = raw.to(device).requires_grad_(True)
    bc = torch.rand(R, 3, generator=g, dtype=F64).to(device).requires_grad_(True)
    keys = ("rgb_map", "disp_map", "acc_map", "depth_map", "weights", "rgb_fg_map", "trans_last")
    with torch.no_grad():
        trans_last = composite(raw, z, d, bc, white_bkgd)["trans_last"]
    assert 0.02 < float(trans_last.min()) and float(trans_last.max()) < 0.98  # partly see-through: all terms count
    _check(lambda r, zz, dd, b: tuple(composite(r, zz, dd, b, white_bkgd)[k] for k in keys),
           (raw, z.requires_grad_(True), d.requires_grad_(True), bc))


@pytest.mark.parametrize("num_freqs,include_input", [(4, True), (3, False)])
def test_positional_encoding_gradcheck(device, num_freqs, include_input):
    enc = PositionalEncoding(num_freqs, input_dims=3, include_input=include_input).to(device)
    x = (torch.rand(5, 3, generator=torch.Generator().manual_seed(4), dtype=F64) * 2 - 1).to(device)
    _check(enc, (x.requires_grad_(True),))


def _grid_points(n: int, device, seed: int) -> torch.Tensor:
    return (torch.rand(n, 3, generator=torch.Generator().manual_seed(seed), dtype=F64) * 1.8 - 0.9).to(device)


def test_triplane_encoding_gradcheck(device):
    """The tri-plane (bilinear reads of learned planes) in the points and in every level's planes."""
    enc = TriPlaneEncoding(levels=2, features=2, base_res=4, max_res=6).to(device, F64)
    x = _grid_points(4, device, 7).requires_grad_(True)
    params = dict(enc.named_parameters())
    assert len(params) == 2  # one tensor of planes per level

    def encode(x, *values):
        return functional_call(enc, dict(zip(params, values)), (x,))

    _check(encode, (x, *[p.detach().clone().requires_grad_(True) for p in params.values()]))


def test_hash_grid_encoding_gradcheck(device):
    """The hash grid's trilinear blend is linear in its table (checked in double precision); it computes the
    corner weights in float32 (as instant-ngp), so its gradient in the points is checked in float32 against
    central differences with a step well inside one cell of the finest level."""
    enc = HashGridEncoding(levels=2, features=2, log2_table=6, base_res=2, max_res=5).to(device)
    assert (enc.resolutions[-1] + 1) ** 3 > enc.table_size >= (enc.resolutions[0] + 1) ** 3  # hashed and dense
    x = _grid_points(4, device, 8)
    table = enc.table.detach().to(F64).requires_grad_(True)
    _check(lambda t: functional_call(enc, {"table": t}, (x,)), (table,))
    xf = x.float()
    analytic = torch.autograd.functional.jacobian(lambda p: enc(p).sum(0), xf)  # [E, N, 3]
    eps = 1e-3
    numeric = torch.stack([(enc(xf + eps * e) - enc(xf - eps * e)).sum(0) / (2 * eps)
                           for e in torch.eye(3, device=device)], dim=-1)  # [E, 3]: all points moved along e
    assert analytic.abs().sum() > 0
    torch.testing.assert_close(analytic.sum(1), numeric, atol=2e-3, rtol=1e-2)
