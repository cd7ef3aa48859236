"""Bad datasets give one clear error that names the file and what to do."""
import json

import numpy as np
import pytest

from NeRFs.core.cli import run_main, train_or_render
from NeRFs.core.dataset import AudFaceDataset
from NeRFs.core.head import HeadTrainer
from NeRFs.core.utils import UserError
from tests.support import make_args


def test_loads_the_original_layout(synthetic_root):
    ds = AudFaceDataset(synthetic_root, "head_imgs", "aud.npy", testskip=1)
    assert (ds.H, ds.W) == (24, 24) and ds.aud_channels == 29
    assert len(ds.splits["train"]) == 50 and len(ds.splits["val"]) == 5  # int(N * 10 / 11) train frames
    assert ds.splits["val"].auds.shape == (5, 16, 29)
    assert ds.image("val", 0).shape == (24, 24, 3)
    assert len(AudFaceDataset(synthetic_root, testskip=2).splits["val"]) == 3


@pytest.mark.parametrize("missing,match", [("transforms_train.json", "missing dataset file .*transforms_train.json"),
                                           ("bc.jpg", "missing background image .*bc.jpg"),
                                           ("aud.npy", "missing audio features .*aud.npy"),
                                           ("head_imgs/3.jpg", "1 of 50 images missing .*head_imgs")])
def test_missing_files(dataset_copy, missing, match):
    (dataset_copy / missing).unlink()
    with pytest.raises(UserError, match=match):
        AudFaceDataset(dataset_copy)


def test_audio_features_far_shorter_than_the_frames(dataset_copy):
    auds = np.load(dataset_copy / "aud.npy")
    np.save(dataset_copy / "aud.npy", auds[:-1])  # one frame short: rounding, tolerated
    AudFaceDataset(dataset_copy)
    np.save(dataset_copy / "aud.npy", auds[:30])
    with pytest.raises(UserError, match="cover 30 frames, but the transforms name aud_id up to 49"):
        AudFaceDataset(dataset_copy)
    np.save(dataset_copy / "aud.npy", auds[:, :, 0])
    with pytest.raises(UserError, match=r"shape \(55, 16\); expected \[frames, 16, channels\]"):
        AudFaceDataset(dataset_copy)


def test_other_audio_feature_widths_build_a_matching_audionet(dataset_copy, tmp_path):
    np.save(dataset_copy / "aud.npy", np.random.default_rng(0).normal(size=(55, 16, 13)))
    t = HeadTrainer(make_args(dataset_copy, tmp_path, datadir=dataset_copy, N_iters=1))
    assert t.models.audnet.encoder_conv[0].in_channels == 13
    t.fit()


def test_corrupt_image_and_bad_transforms(dataset_copy):
    (dataset_copy / "head_imgs" / "0.jpg").write_bytes(b"\xff\xd8 truncated")
    ds = AudFaceDataset(dataset_copy)
    with pytest.raises(UserError, match=r"cannot read image .*head_imgs/0.jpg"):
        ds.image("train", 0)
    (dataset_copy / "transforms_val.json").write_text(json.dumps({"frames": []}))
    with pytest.raises(UserError, match="not a valid transforms file"):
        AudFaceDataset(dataset_copy)


def test_command_line_prints_one_line_errors(dataset_copy, tmp_path, capsys):
    (dataset_copy / "bc.jpg").unlink()
    code = run_main(train_or_render("head"), "head", ["--config", str(dataset_copy / "HeadNeRF_config.txt"),
                                          "--datadir", str(dataset_copy), "--basedir", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: missing background image") and "Traceback" not in err
