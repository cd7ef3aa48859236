"""Step 7 on the original's own tracked dataset (../shared/oracle/step7): the original's cameras, face
rectangles, split and near / far / testskip, from a track_params.pt in the original's row layout
(one row per frame with a .lms; frames 4 and 50 have none)."""
import json
import shutil

import numpy as np
import pytest

from data_util.transforms_step import read_config, run_transforms
from tests.oracle import need


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    src = need("step7", "input")
    root = tmp_path_factory.mktemp("step7") / "Oracle7"
    shutil.copytree(src, root)
    record = run_transforms(root, progress=False)
    return root, record


@pytest.mark.parametrize("name", ["transforms_train.json", "transforms_val.json"])
def test_transforms_equal_the_originals(written, name):
    root, _ = written
    got = json.loads((root / name).read_text())
    want = json.loads(need("step7", "expected", name).read_text())
    for key in ("focal_len", "cx", "cy"):
        assert got[key] == pytest.approx(want[key], abs=1e-6), key
    assert [f["img_id"] for f in got["frames"]] == [f["img_id"] for f in want["frames"]]
    assert [f["aud_id"] for f in got["frames"]] == [f["aud_id"] for f in want["frames"]]
    M = np.array([f["transform_matrix"] for f in got["frames"]])
    M_want = np.array([f["transform_matrix"] for f in want["frames"]])
    assert np.abs(M - M_want).max() < 1e-5
    rects = np.array([f["face_rect"] for f in got["frames"]])
    assert np.abs(rects - np.array([f["face_rect"] for f in want["frames"]])).max() <= 1


def test_frames_without_landmarks_are_left_out_and_configs_match(written):
    root, record = written
    assert record["left_out"] == [4, 50]
    for name in ("HeadNeRF_config.txt", "TorsoNeRF_config.txt", "TorsoNeRFTest_config.txt"):
        got, want = read_config(root / name), read_config(need("step7", "expected", name))
        for key in ("near", "far"):
            assert float(got[key]) == pytest.approx(float(want[key]), abs=1e-6), (name, key)
        assert got.get("testskip") == want.get("testskip"), name
        assert got["expname"] == want["expname"].replace("Oracle7", root.name), name
        assert set(got) >= set(want), name


def test_lms_files_read_and_written_in_the_originals_text_format(tmp_path):
    """The original's ori_imgs/<n>.lms (68 lines '%f %f'): read here, and written back byte for byte."""
    from data_util.common import load_lms, save_lms
    for n in (0, 89):
        original = need("step7", "input", "ori_imgs", f"{n}.lms")
        lms = load_lms(original)
        assert lms.shape == (68, 2)
        save_lms(tmp_path / f"{n}.lms", lms)
        assert (tmp_path / f"{n}.lms").read_bytes() == original.read_bytes()
