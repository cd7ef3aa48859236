"""Checkpoint format (the original's keys), atomic writes, resume at the right step, clear errors."""
import pytest
import torch

from NeRFs.core import checkpoint as ckpt_mod
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
from NeRFs.core.head import HeadTrainer
from NeRFs.core.networks import AudioAttNet, AudioNet
from NeRFs.core.utils import UserError
from tests.support import make_args
from tests.original_algorithm import OriginalFaceNeRF

ORIGINAL_KEYS = {"global_step", "network_fn_state_dict", "network_fine_state_dict", "network_audnet_state_dict",
                 "optimizer_state_dict", "optimizer_aud_state_dict", "network_audattnet_state_dict",
                 "optimizer_audatt_state_dict"}


def _weights(trainer):
    return {k: v.clone() for k, v in trainer.models.coarse.network.state_dict().items()}


def test_checkpoint_keys_step_and_loading_into_the_original_layout(synthetic_root, tmp_path):
    t = HeadTrainer(make_args(synthetic_root, tmp_path, N_iters=3, i_weights=2))
    t.fit()
    files = [p.name for p in list_checkpoints(t.out_dir)]
    assert files == ["000002_head.tar", "000003_head.tar"]
    ck = torch.load(t.out_dir / "000003_head.tar", weights_only=True)
    assert set(ck) == ORIGINAL_KEYS
    assert ck["global_step"] == 3  # the original stored one less than the file name
    # this code's weights load, key for key, into the original's module layout
    OriginalFaceNeRF().load_state_dict(ck["network_fn_state_dict"])
    OriginalFaceNeRF().load_state_dict(ck["network_fine_state_dict"])
    AudioNet().load_state_dict(ck["network_audnet_state_dict"])
    AudioAttNet().load_state_dict(ck["network_audattnet_state_dict"])


def test_resume_continues_at_the_next_step_and_matches_an_uninterrupted_run(synthetic_root, tmp_path):
    straight = HeadTrainer(make_args(synthetic_root, tmp_path / "a", N_iters=4))
    straight.fit()
    first = HeadTrainer(make_args(synthetic_root, tmp_path / "b", N_iters=2))
    first.fit()
    resumed = HeadTrainer(make_args(synthetic_root, tmp_path / "b", N_iters=4))
    assert resumed.resume() == 2
    resumed.fit()
    assert resumed.step == 4
    for k, v in _weights(straight).items():  # same sampling, same steps: same weights
        torch.testing.assert_close(_weights(resumed)[k], v, rtol=1e-5, atol=1e-6)


def test_a_run_killed_while_saving_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "000001_head.tar"
    save_checkpoint(path, {"global_step": 1, "w": torch.ones(3)})

    def dying_save(obj, f, *a, **k):
        f.write(b"partial bytes")
        raise KeyboardInterrupt  # killed mid-write

    monkeypatch.setattr(ckpt_mod.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, {"global_step": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert load_checkpoint(path)["global_step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["000001_head.tar"]  # no stray temporary file


def _original_checkpoint(audatt_key="optimizer_audatt_state_dict", global_step=9):
    """A checkpoint as the original wrote it: its module layout, its keys, global_step one below the name."""
    torch.manual_seed(1)
    fn, fine, aud, att = OriginalFaceNeRF(), OriginalFaceNeRF(), AudioNet(), AudioAttNet()
    opt = torch.optim.Adam(list(fn.parameters()) + list(fine.parameters()), lr=5e-4)
    return {"global_step": global_step, "network_fn_state_dict": fn.state_dict(),
            "network_fine_state_dict": fine.state_dict(), "network_audnet_state_dict": aud.state_dict(),
            "network_audattnet_state_dict": att.state_dict(), "optimizer_state_dict": opt.state_dict(),
            "optimizer_aud_state_dict": torch.optim.Adam(aud.parameters()).state_dict(),
            audatt_key: torch.optim.Adam(att.parameters()).state_dict()}


@pytest.mark.parametrize("audatt_key", ["optimizer_audatt_state_dict", "optimizer_aud_att_state_dict"])
def test_original_checkpoints_load_and_resume_after_their_step(synthetic_root, tmp_path, audatt_key):
    ck = _original_checkpoint(audatt_key)
    out = tmp_path / "synth_head"
    out.mkdir()
    torch.save(ck, out / "000010_head.tar")
    t = HeadTrainer(make_args(synthetic_root, tmp_path, N_iters=10))
    assert t.resume() == 10  # file 10 with global_step 9: resume after step 10, no step repeated
    for k, v in ck["network_fine_state_dict"].items():
        torch.testing.assert_close(t.models.fine.network.state_dict()[k], v)
    # --ft_path takes a checkpoint from anywhere
    t2 = HeadTrainer(make_args(synthetic_root, tmp_path / "other", ft_path=out / "000010_head.tar", N_iters=10))
    assert t2.resume() == 10


def test_wrong_architecture_and_corrupt_checkpoints_give_clear_errors(synthetic_root, tmp_path):
    out = tmp_path / "synth_head"
    out.mkdir()
    torch.save(_original_checkpoint(), out / "000010_head.tar")
    t = HeadTrainer(make_args(synthetic_root, tmp_path, netwidth=128, netwidth_fine=128))
    with pytest.raises(UserError, match="does not fit the network built from the config"):
        t.resume()
    (out / "000020_head.tar").write_bytes(b"not a checkpoint")   # the newest is broken: the previous is used
    assert HeadTrainer(make_args(synthetic_root, tmp_path)).resume() == 10
    (out / "000010_head.tar").unlink()
    with pytest.raises(UserError, match="no usable checkpoint .* 000020_head.tar"):
        HeadTrainer(make_args(synthetic_root, tmp_path)).resume()
    with pytest.raises(UserError, match="cannot load checkpoint"):   # an explicit --ft_path is not replaced
        HeadTrainer(make_args(synthetic_root, tmp_path, ft_path=out / "000020_head.tar")).resume()
