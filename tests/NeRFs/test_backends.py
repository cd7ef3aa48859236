"""Backends are plug-ins: a third one (tests/NeRFs/toy_backend.py) is its models class and one table entry,
and then trains, renders (--render_only) and drives through the same command lines as mlp and grid."""
import json

import numpy as np
import pytest
import torch

from adnerf.sequence_record import read_sequence_record
from NeRFs.api import BACKENDS, load_talking_head, parse_args
from NeRFs.HeadNeRF.run_nerf import main as head_main
from NeRFs.TorsoNeRF.run_nerf import drive_main, main as torso_main
from tests.NeRFs.toy_backend import ToyBackend

FAST = ["--device", "cpu", "--N_rand", "32", "--testskip", "2", "--i_print", "1000", "--i_img", "100000",
        "--i_weights", "100000", "--i_testset", "100000", "--N_iters", "3", "--backend", "toy"]


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setitem(BACKENDS, "toy", ToyBackend)  # the one table entry


def _argv(root, logs, config, *extra):
    return ["--config", str(root / config), "--basedir", str(logs), *FAST, *extra]


def test_a_third_backend_plugs_in_with_its_models_and_one_table_entry(toy, synthetic_root, tmp_path):
    logs = tmp_path / "logs"
    assert head_main(_argv(synthetic_root, logs, "HeadNeRF_config.txt")) == 0
    assert torso_main(_argv(synthetic_root, logs, "TorsoNeRF_config.txt")) == 0
    assert sorted(p.name for p in (logs / "synth_head").glob("*.tar")) == ["000003_toyhead.tar"]
    assert sorted(p.name for p in (logs / "synth_com").glob("*.tar")) == ["000003_toybody.tar", "000003_toyhead.tar"]
    assert torso_main(_argv(synthetic_root, logs, "TorsoNeRF_config.txt", "--render_only")) == 0
    metrics = json.loads((logs / "synth_com" / "renderonly_val_000003" / "metrics.json").read_text())
    assert metrics["frames"] == 3 and len(metrics["psnr_per_frame"]) == 3
    assert drive_main(_argv(synthetic_root, logs, "TorsoNeRFTest_config.txt", "--aud_file", "aud.npy",
                            "--test_size", "2")) == 0
    assert [f.aud_id for f in read_sequence_record(logs / "synth_com" / "test_aud_rst").frames] == [0, 1]
    th = load_talking_head(parse_args(_argv(synthetic_root, logs, "TorsoNeRF_config.txt"), "torso"))
    assert type(th.head).__name__ == "ToyHead" and type(th.torso).__name__ == "ToyTorso"
    feats = np.load(synthetic_root / "aud.npy")[:1]
    rgb = th.render(torch.eye(4), th.codes(torch.from_numpy(feats).float())[0])
    assert rgb.shape == (24, 24, 3) and bool(torch.isfinite(rgb).all())


def test_a_backend_not_in_the_table_is_refused(synthetic_root, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # the option parser's usage error, before any work
        head_main(_argv(synthetic_root, tmp_path, "HeadNeRF_config.txt"))
    assert exc.value.code == 2 and "invalid choice: 'toy' (choose from 'mlp', 'grid')" in capsys.readouterr().err
