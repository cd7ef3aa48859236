import shutil
from pathlib import Path

import pytest
import torch

from data_util.synthetic_head import make_synthetic_dataset

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))


@pytest.fixture(params=["cpu", "cuda"])
def device(request) -> torch.device:
    """Tests that can run on CUDA run on the CPU always and on CUDA when PyTorch sees a GPU."""
    if request.param == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return torch.device(request.param)


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory) -> Path:
    """A 24 px synthetic dataset/<id>/ (55 frames: 50 train, 5 val), shared read-only by tests."""
    return make_synthetic_dataset(tmp_path_factory.mktemp("data") / "synth", n_frames=55, size=24)


@pytest.fixture
def dataset_copy(synthetic_root, tmp_path) -> Path:
    """A private copy of the synthetic dataset that a test may modify."""
    dst = tmp_path / "synth"
    shutil.copytree(synthetic_root, dst, ignore=shutil.ignore_patterns("logs"))
    return dst
