"""--aud_norm dataset: a new voice's features get the training clip's per-channel statistics."""
import torch

from NeRFs.core.audio import match_feature_statistics
from NeRFs.core.config import parse_args


def test_features_take_the_reference_statistics_and_keep_their_shape_in_time():
    gen = torch.Generator().manual_seed(0)
    reference = torch.randn(300, 16, 5, generator=gen) * torch.tensor([1.0, 2, 3, 4, 5]) + torch.arange(5.0)
    voice = torch.randn(120, 16, 5, generator=gen) * 9 - 40   # another level and spread
    out = match_feature_statistics(voice, reference)
    assert out.shape == voice.shape
    assert torch.allclose(out.mean((0, 1)), reference.mean((0, 1)), atol=1e-4)
    assert torch.allclose(out.std((0, 1)), reference.std((0, 1)), atol=1e-4)
    for c in range(5):   # per channel an increasing affine map: the speech's course in time is kept
        a, b = voice[..., c].flatten(), out[..., c].flatten()
        assert torch.corrcoef(torch.stack((a, b)))[0, 1] > 0.9999
    assert torch.allclose(match_feature_statistics(reference, reference), reference, atol=1e-4)


def test_the_option_is_off_by_default(tmp_path):
    assert parse_args(["--datadir", str(tmp_path)], "torso").aud_norm == "off"
    assert parse_args(["--datadir", str(tmp_path), "--aud_norm", "dataset"], "torso").aud_norm == "dataset"


def test_without_the_training_features_driving_is_refused_before_any_work(dataset_copy, tmp_path):
    import pytest
    from NeRFs.TorsoNeRF.run_nerf import drive_command
    from NeRFs.core.utils import UserError
    from tests.support import make_args
    args = make_args(dataset_copy, tmp_path, kind="torso", datadir=str(dataset_copy),
                     aud_file=str(dataset_copy / "drive" / "aud.npy"), aud_norm="dataset", with_test=True)
    (dataset_copy / "aud.npy").unlink()
    with pytest.raises(UserError, match="--aud_norm dataset reads the training clip's features .*aud.npy"):
        drive_command(args)
    assert not (tmp_path / "synth_com").exists()   # nothing rendered, nothing written
