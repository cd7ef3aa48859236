"""Fréchet Inception Distance with pytorch-fid's Inception (2048-d pool features, its published weights).

FID = |mu_g - mu_r|^2 + tr(S_g) + tr(S_r) - 2 tr((S_g S_r)^(1/2)), means and (n-1)-normalised covariances of
the pool features of the generated and the real frames. The weights (pt_inception-2015-12-05-6726825d.pth)
are downloaded from pytorch-fid's GitHub release on first use. With a few hundred frames FID is biased
upwards (it falls with n): compare runs on the same frame count only.
"""
from __future__ import annotations

from pathlib import Path
from unittest import mock

import torch

from evaluation.weights import MetricUnavailable, fetch_weights, load_state_dict

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


def random_inception_state_dict(seed: int = 0) -> dict:
    """Randomly initialised weights in the published file's format (for tests and offline dry runs)."""
    inception = _pytorch_fid()
    torch.manual_seed(seed)
    with mock.patch.object(inception, "load_state_dict_from_url", lambda *a, **k: None), \
            mock.patch("torchvision.models.inception.Inception3.load_state_dict", lambda *a, **k: None):
        return inception.fid_inception_v3().state_dict()


def load_fid_inception(device: torch.device | str = "cpu", weights_path: str | Path | None = None) -> torch.nn.Module:
    """The FID Inception with its published weights (file, cache or download)."""
    path = fetch_weights("FID Inception", FID_URL, Path(FID_URL).name, weights_path, option="--fid_weights")
    return build_fid_inception(load_state_dict(path)).to(device).eval()


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
