"""Step 7 (transforms + configs): formulas against values worked out by hand, and the real Obama files."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data_util.common import StepError, save_lms
from data_util.nerf_configs import head_pose_to_c2w, write_transforms
from data_util.transforms_step import (REPO_ROOT, config_options, face_rect, near_far, portable_path,
                                       run_transforms, split_frames, val_testskip)
from NeRFs.core.config import parse_args

OBAMA = REPO_ROOT.parent / "shared" / "adnerf-assets" / "obama"
needs_obama = pytest.mark.skipif(not OBAMA.is_dir(), reason=f"{OBAMA} absent (../shared not mounted)")
W, H = 64, 48


def lms_with(x_min: float, x_max: float, y27: float, y8: float) -> np.ndarray:
    """68 landmarks whose x range, point 27's y and point 8's y are the given values (the rest in between)."""
    lms = np.zeros((68, 2))
    lms[:, 0] = np.linspace(x_min, x_max, 68)
    lms[:, 1] = (y27 + y8) / 2
    lms[27, 1], lms[8, 1] = y27, y8
    return lms


def make_dataset(root: Path, n: int, no_face=(), invalid=(), euler=None, trans=None) -> Path:
    """ori_imgs/<n>.jpg (W x H), .lms for every frame but ``no_face``, track_params.pt ("valid" False at ``invalid``)."""
    (root / "ori_imgs").mkdir(parents=True)
    for i in range(n):
        Image.new("RGB", (W, H), (i, 0, 0)).save(root / "ori_imgs" / f"{i}.jpg")
        if i not in no_face:
            save_lms(root / "ori_imgs" / f"{i}.lms", lms_with(20, 40, 10, 30))
    euler = np.zeros((n, 3)) if euler is None else euler
    trans = np.tile([0.0, 0.0, -7.0], (n, 1)) if trans is None else trans
    valid = torch.ones(n, dtype=torch.bool)
    valid[list(invalid)] = False
    torch.save({"id": torch.zeros(1, 100), "exp": torch.zeros(n, 79), "euler": torch.tensor(euler, dtype=torch.float32),
                "trans": torch.tensor(trans, dtype=torch.float32), "focal": torch.tensor([1100.0]), "valid": valid},
               root / "track_params.pt")
    return root


def read(path: Path) -> dict:
    return json.loads(path.read_text())


def test_pose_to_c2w_by_hand(tmp_path):
    """R = Rx Ry Rz' (Rz' = Rz(-e2)); Rx(90) Ry(90) = [[0,0,1],[1,0,0],[0,1,0]] (Ry Rx would differ); c2w = [R^T | -R^T t/10]."""
    euler = np.array([[np.pi / 2, np.pi / 2, 0.0], [0.0, 0.0, np.pi / 2]])
    trans = np.array([[1.0, 2.0, -7.0], [0.0, 0.0, -5.0]])
    root = make_dataset(tmp_path / "subj", 2, euler=euler, trans=trans)
    run_transforms(root, progress=False)
    c2w0 = np.array(read(root / "transforms_train.json")["frames"][0]["transform_matrix"])  # split: 1 train, 1 val
    R = np.array([[0, 0, 1], [1, 0, 0], [0, 1, 0]], float)
    t = np.array([0.1, 0.2, -0.7])
    np.testing.assert_allclose(c2w0[:3, :3], R.T, atol=1e-6)
    np.testing.assert_allclose(c2w0[:3, 3], [-0.2, 0.7, -0.1], atol=1e-6)   # -R^T t worked out by hand
    np.testing.assert_allclose(c2w0[:3, 3], -R.T @ t, atol=1e-6)
    np.testing.assert_allclose(c2w0[3], [0, 0, 0, 1])
    # e2 = 90 deg: the original's Rz'(e2) = [[c, s, 0], [-s, c, 0], [0, 0, 1]] = [[0, 1, 0], [-1, 0, 0], [0, 0, 1]]
    # (ADNERF_BEHAVIOUR.md, 'Euler angles'), so c2w's rotation is its transpose
    c2w1 = np.array(read(root / "transforms_val.json")["frames"][0]["transform_matrix"])
    np.testing.assert_allclose(c2w1[:3, :3], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_allclose(c2w1[:3, 3], [0, 0, 0.5], atol=1e-6)


def test_face_rect_by_hand():
    # x 100..200 -> centre 150, half width int(50 * 1.5) = 75; y27 120, chin 220 -> half height
    # int(100 * 1.15) = 114 (1.15 * 100 is 114.999... in floating point, truncated as the original does)
    lms = lms_with(100, 200, 120, 220)
    assert face_rect(lms, 400, 400) == [75, 6, 150, 228]
    assert face_rect(lms, 180, 200) == [75, 6, 105, 194]          # size clamped to the image
    assert face_rect(lms_with(0, 60, 20, 60), 400, 400) == [0, 0, 90, 92]  # corner moved to 0, size kept
    assert face_rect(lms_with(0, 60, 20, 60), 50, 50) == [0, 0, 50, 50]


def test_split_testskip_near_far_by_hand():
    train, val = split_frames(list(range(8000)))
    assert (len(train), val[0], len(val)) == (7272, 7272, 728)  # Obama: val 7272-7999
    assert val_testskip(728) == 104 and val_testskip(6) == 1 and val_testskip(14) == 2
    assert split_frames(list(range(23)))[0] == list(range(20))  # int(23 * 10 / 11) = 20
    # a longer validation on request (the lip-sync score needs 3 s): taken from the end, at most half
    assert split_frames(list(range(500)), 75) == (list(range(425)), list(range(425, 500)))
    assert split_frames(list(range(500)), 10) == split_frames(list(range(500)))  # 46 already
    assert len(split_frames(list(range(100)), 75)[1]) == 50
    near, far = near_far(np.array([[0, 0, -6.0], [0, 0, -8.0]]))  # mean depth 0.7
    assert near == pytest.approx(0.5) and far == pytest.approx(1.1)


def test_val_seconds_lengthen_the_written_validation_split(tmp_path):
    root = make_dataset(tmp_path / "subj", 40)
    rec = run_transforms(root, progress=False, val_seconds=0.6)  # 15 frames at 25 fps
    val = read(root / "transforms_val.json")["frames"]
    assert rec["val"] == len(val) == 15 and [f["img_id"] for f in val] == list(range(25, 40))
    assert len(read(root / "transforms_train.json")["frames"]) == 25
    with pytest.raises(StepError, match="val_seconds"):
        run_transforms(root, progress=False, val_seconds=float("nan"))


def test_frames_without_face_or_pose_are_left_out(tmp_path):
    n = 25
    trans = np.tile([0.0, 0.0, -7.0], (n, 1))
    trans[[3, 9], 2] = -100.0  # frames without a face: their (interpolated) depth must not count
    root = make_dataset(tmp_path / "subj", n, no_face=(3, 9), invalid=(12,), trans=trans)
    rec = run_transforms(root, progress=False)
    train, val = read(root / "transforms_train.json"), read(root / "transforms_val.json")
    used = [f["img_id"] for f in train["frames"] + val["frames"]]
    assert used == [i for i in range(n) if i not in (3, 9, 12)]
    assert len(train["frames"]) == int(22 * 10 / 11) == 20 and rec["left_out"] == [3, 9, 12]
    assert all(f["aud_id"] == f["img_id"] for f in train["frames"])
    assert train["focal_len"] == 1100.0 and (train["cx"], train["cy"]) == (W / 2, H / 2)
    assert train["frames"][0]["face_rect"] == face_rect(lms_with(20, 40, 10, 30), W, H) == [15, 0, 30, 46]  # y = 10 - 23 < 0: moved to 0
    assert (rec["near"], rec["far"], rec["testskip"]) == (pytest.approx(0.5), pytest.approx(1.1), 1)


def test_configs_load_in_the_nerf_and_carry_extras(tmp_path):
    root = make_dataset(tmp_path / "subj", 16)
    run_transforms(root, progress=False, config_extra={"N_iters": 1234, "lrate": "0.001"})
    head = parse_args(["--config", str(root / "HeadNeRF_config.txt")], "head")
    torso = parse_args(["--config", str(root / "TorsoNeRF_config.txt")], "torso")
    test = parse_args(["--config", str(root / "TorsoNeRFTest_config.txt")], "torso")
    assert Path(head.datadir) == root.resolve() and Path(head.basedir) == root.resolve() / "logs"
    assert (head.expname, torso.expname, test.expname) == ("subj_head", "subj_com", "subj_com")
    assert head.near == pytest.approx(0.5) and head.far == pytest.approx(1.1) and head.testskip == 1
    assert (head.N_iters, torso.N_iters, test.N_iters, head.lrate) == (1234, 1234, 1234, 0.001)
    assert test.with_test and not torso.with_test and test.test_pose_file == "transforms_val.json"
    assert test.testskip == 8  # the original's test config has no testskip: driving uses the default
    with pytest.raises(StepError, match="unknown NeRF option.*N_itres"):
        run_transforms(root, progress=False, config_extra={"N_itres": 5})


def test_config_paths_are_portable():
    assert portable_path(REPO_ROOT / "dataset" / "Obama") == "dataset/Obama"
    assert portable_path(Path("/elsewhere/data/x")) == "/elsewhere/data/x"


def test_rerun_keeps_files_user_lines_and_force_rewrites(tmp_path):
    root = make_dataset(tmp_path / "subj", 12)
    assert not run_transforms(root, progress=False)["skipped"]
    head = root / "HeadNeRF_config.txt"
    head.write_text(head.read_text() + "N_iters = 777\n")
    stamps = {p.name: p.stat().st_mtime_ns for p in root.iterdir() if p.is_file()}
    rec = run_transforms(root, progress=False)
    assert rec["skipped"] and rec["written"] == []
    assert {p.name: p.stat().st_mtime_ns for p in root.iterdir() if p.is_file()} == stamps
    assert "N_iters = 777" in head.read_text()
    # new tracking results are never ignored: the transforms and the owned config lines follow them
    params = torch.load(root / "track_params.pt", weights_only=True)
    params["trans"][:, 2] = -9.0
    torch.save(params, root / "track_params.pt")
    rec = run_transforms(root, progress=False)
    assert set(rec["written"]) >= {"transforms_train.json", "HeadNeRF_config.txt"}
    assert "N_iters = 777" in head.read_text() and "near = 0.7" in head.read_text()
    rec = run_transforms(root, progress=False, force=True)
    assert len(rec["written"]) == 7 and "N_iters" not in head.read_text()   # 2 transforms, 3 configs, eye, mouth
    assert not [p for p in root.iterdir() if ".part" in p.name or p.name.startswith(".")]


def test_reads_the_originals_row_layout_and_the_older_valid_layout(tmp_path):
    """Original: one row per frame with a .lms (frame 2 has none, so row 2 is frame 3's pose); older project
    files: a row per frame and 'valid'. Both give frame n the pose tracked for frame n."""
    n, yaw = 12, np.linspace(-0.3, 0.3, 12)
    euler = np.stack([np.zeros(n), yaw, np.zeros(n)], 1)
    per_frame = make_dataset(tmp_path / "old", n, no_face=(2,), invalid=(2,), euler=euler)
    original = make_dataset(tmp_path / "orig", n, no_face=(2,), euler=euler)
    params = torch.load(original / "track_params.pt", weights_only=True)
    keep = [i for i in range(n) if i != 2]
    torch.save({"id": params["id"], "exp": params["exp"][keep], "euler": params["euler"][keep],
                "trans": params["trans"][keep], "focal": params["focal"]}, original / "track_params.pt")
    for root in (per_frame, original):
        assert run_transforms(root, progress=False)["left_out"] == [2]
        frames = read(root / "transforms_train.json")["frames"] + read(root / "transforms_val.json")["frames"]
        assert [f["img_id"] for f in frames] == keep
        for f in frames:  # c2w = [R^T | ...] with R = Ry(yaw): c2w[0][2] = -sin(yaw)
            assert f["transform_matrix"][0][2] == pytest.approx(-np.sin(yaw[f["img_id"]]), abs=1e-6)


def test_clear_errors(tmp_path):
    root = make_dataset(tmp_path / "subj", 6)
    (root / "track_params.pt").rename(root / "moved.pt")
    with pytest.raises(StepError, match=r"missing .*track_params.pt.*step 6"):
        run_transforms(root, progress=False)
    params = torch.load(root / "moved.pt", weights_only=True)
    torch.save({**params, "euler": params["euler"][:4], "trans": params["trans"][:4]}, root / "track_params.pt")
    with pytest.raises(StepError, match="4 poses and 6 'valid' flags but ori_imgs has 6 frames"):
        run_transforms(root, progress=False)
    del params["valid"]  # the original's layout: rows must match the frames with landmarks
    torch.save({**params, "euler": params["euler"][:4], "trans": params["trans"][:4]}, root / "track_params.pt")
    with pytest.raises(StepError, match="4 poses but ori_imgs has 6 frames with landmarks"):
        run_transforms(root, progress=False)
    root2 = make_dataset(tmp_path / "few", 5, no_face=(0, 1, 2, 3))
    with pytest.raises(StepError, match="only 1 frame"):
        run_transforms(root2, progress=False)


@needs_obama
def test_writer_reproduces_the_original_transforms_file_byte_for_byte(tmp_path):
    original = (OBAMA / "transforms_val.json").read_text()
    meta = json.loads(original)
    write_transforms(tmp_path / "t.json", meta["focal_len"], int(meta["cx"] * 2), int(meta["cy"] * 2), meta["frames"])
    assert (tmp_path / "t.json").read_text() == original


@needs_obama
def test_obama_poses_rects_and_near_far_fit_the_formulas():
    meta = json.loads((OBAMA / "transforms_val.json").read_text())
    M = np.array([f["transform_matrix"] for f in meta["frames"]])            # [728, 4, 4]
    R = M[:, :3, :3].transpose(0, 2, 1)                                      # c2w rotation is R^T
    t = -np.einsum("nij,nj->ni", R, M[:, :3, 3])                             # c2w translation is -R^T t
    # R = Rx(a) Ry(b) Rz'(c), Rz' = Rz(-c): R02 = sin b, R12 = -sin a cos b, R22 = cos a cos b,
    # R01 = +cos b sin c, R00 = cos b cos c
    euler = np.stack([np.arctan2(-R[:, 1, 2], R[:, 2, 2]), np.arcsin(R[:, 0, 2]), np.arctan2(R[:, 0, 1], R[:, 0, 0])], 1)
    rebuilt = np.array([head_pose_to_c2w(e, tt) for e, tt in zip(euler, t)])
    np.testing.assert_allclose(rebuilt, M, atol=2e-6)
    cfg = dict(line.split(" = ") for line in (OBAMA / "HeadNeRF_config.txt").read_text().splitlines())
    near, far = float(cfg["near"]), float(cfg["far"])
    assert far - near == pytest.approx(0.6, abs=1e-9)
    # the config's mean depth is over all 8000 frames; the 728 validation frames must be close to it
    assert near_far(t * 10)[0] == pytest.approx(near, abs=0.01)
    assert int(cfg["testskip"]) == val_testskip(len(meta["frames"])) == 104
    rects = np.array([f["face_rect"] for f in meta["frames"]])
    assert (rects[:, :2] >= 0).all() and (rects[:, 0] + rects[:, 2] <= 450).all() and (rects[:, 1] + rects[:, 3] <= 450).all()
    assert (rects[:, 2:] % 2 == 0).all()  # 2 x an int half size, also where the corner was moved to 0



@needs_obama
def test_configs_match_the_original_files_and_load(tmp_path, monkeypatch):
    for name, opts in config_options(REPO_ROOT / "dataset" / "Obama", "Obama", 0.5679027318954468,
                                     1.1679027318954467, 104, {}).items():
        assert "".join(f"{k} = {v}\n" for k, v in opts.items()) == (OBAMA / name).read_text(), name
    (tmp_path / "dataset" / "Obama").mkdir(parents=True)
    for name in ("HeadNeRF_config.txt", "TorsoNeRFTest_config.txt"):
        shutil.copy(OBAMA / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    args = parse_args(["--config", "TorsoNeRFTest_config.txt"], "torso")
    assert args.with_test and args.near == pytest.approx(0.5679027318954468)
    assert Path(args.datadir) == (tmp_path / "dataset" / "Obama").resolve()
    assert parse_args(["--config", "HeadNeRF_config.txt"], "head").testskip == 104


def test_eye_openness_of_the_landmarks_in_the_transforms_and_eye_npy(tmp_path):
    """Each frame's ``eye`` is adnerf.eyes.eye_openness of its .lms; eye.npy holds every frame, the median
    where a frame has no .lms; the original's keys are unchanged around it."""
    from adnerf.eyes import eye_openness
    from data_util.common import load_lms
    n = 14
    root = make_dataset(tmp_path / "subj", n, no_face=(4,))
    rng = np.random.default_rng(1)
    for i in range(n):
        if i != 4:   # eyes of different openness per frame: lids i px apart on 20 px wide eyes
            lms = lms_with(20, 40, 10, 30) + rng.normal(0, 0.3, (68, 2))
            for first, x0 in ((36, 5.0), (42, 35.0)):
                lms[first:first + 6] = [(x0, 20), (x0 + 7, 20 - i / 2), (x0 + 13, 20 - i / 2), (x0 + 20, 20),
                                        (x0 + 13, 20 + i / 2), (x0 + 7, 20 + i / 2)]
            save_lms(root / "ori_imgs" / f"{i}.lms", lms)
    run_transforms(root, progress=False)
    frames = read(root / "transforms_train.json")["frames"] + read(root / "transforms_val.json")["frames"]
    assert [f["img_id"] for f in frames] == [i for i in range(n) if i != 4]
    want = {i: eye_openness(load_lms(root / "ori_imgs" / f"{i}.lms")) for i in range(n) if i != 4}
    for f in frames:
        assert list(f) == ["img_id", "aud_id", "transform_matrix", "face_rect", "eye", "mouth"]
        assert f["eye"] == pytest.approx(want[f["img_id"]], rel=1e-12)
        assert f["eye"] == pytest.approx(f["img_id"] / 20, abs=1e-6)   # (i + i) / (2 * 20)
    eye = np.load(root / "eye.npy")
    assert eye.shape == (n,) and eye.dtype == np.float64
    np.testing.assert_allclose(np.delete(eye, 4), [want[i] for i in range(n) if i != 4], rtol=1e-12)
    assert eye[4] == pytest.approx(np.median(list(want.values())))



def test_mouth_opening_of_the_landmarks_in_the_transforms_and_mouth_npy(tmp_path):
    """Each frame's ``mouth`` is the inner-lip gap over the outer eye corners' distance: lips i px apart
    under eyes whose outer corners are 50 px apart give i / 50; mouth.npy the median where a frame has no .lms."""
    n = 12
    root = make_dataset(tmp_path / "subj", n, no_face=(3,))
    for i in range(n):
        if i != 3:
            lms = lms_with(20, 40, 10, 30)
            lms[36], lms[45] = (5.0, 20.0), (55.0, 20.0)
            lms[61:64] = [(20.0 + k, 50 - i / 2) for k in range(3)]     # upper inner lip 61, 62, 63
            lms[65:68] = [(22.0 - k, 50 + i / 2) for k in range(3)]     # lower inner lip 65, 66, 67
            save_lms(root / "ori_imgs" / f"{i}.lms", lms)
    rec = run_transforms(root, progress=False)
    frames = read(root / "transforms_train.json")["frames"] + read(root / "transforms_val.json")["frames"]
    for f in frames:
        assert f["mouth"] == pytest.approx(f["img_id"] / 50, abs=1e-9)
    mouth = np.load(root / "mouth.npy")
    assert mouth.shape == (n,) and mouth.dtype == np.float64
    np.testing.assert_allclose(np.delete(mouth, 3), [i / 50 for i in range(n) if i != 3], atol=1e-9)
    assert mouth[3] == pytest.approx(np.median([i / 50 for i in range(n) if i != 3]))
    assert rec["mouth_median"] == pytest.approx(np.median(mouth))
    assert "mouth.npy" in rec["written"] and "mouth.npy" not in run_transforms(root, progress=False)["written"]
