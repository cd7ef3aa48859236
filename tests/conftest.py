import shutil
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from data_util.synthetic_head import make_synthetic_dataset  # noqa: E402
from NeRFs.core.config import parse_args  # noqa: E402

torch.set_num_threads(max(1, min(2, torch.get_num_threads())))

# small, fast settings for unit tests (a full-size network, few rays and samples)
FAST = {"N_rand": 128, "N_samples": 12, "N_importance": 12, "i_print": 1000, "i_img": 100000,
        "i_testset": 100000, "i_weights": 100000, "testskip": 5, "device": "cpu"}


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


def make_args(root: Path, basedir: Path, kind: str = "head", **overrides):
    opts = {**FAST, "basedir": str(basedir), **overrides}
    argv = ["--config", str(root / ("HeadNeRF_config.txt" if kind == "head" else "TorsoNeRF_config.txt"))]
    for k, v in opts.items():
        if isinstance(v, bool):
            argv.append(f"--{k}" if v else f"--no-{k}")
        else:
            argv += [f"--{k}", str(v)]
    return parse_args(argv, kind)
