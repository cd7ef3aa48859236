"""Face tracking step 6, BFM path: convert_BFM end to end, the face model, the renderer, the tracker's stages.

Everything runs on a tiny synthetic morphable model written as a BFM 2009 .mat + the original's aux files.
"""
import gzip
from pathlib import Path

import numpy as np
import pytest
import torch

from data_util.common import StepError
from data_util.face_tracking import convert_BFM, run_tracking
from data_util.face_tracking.face_model import Face3DMM
from data_util.face_tracking.face_tracker import shaded_render, track_bfm
from data_util.face_tracking.renderer import render
from data_util.face_tracking.synthetic import jitter, pose_sequence, rotation_errors_deg
from data_util.face_tracking.synthetic_bfm import write_synthetic_bfm


@pytest.fixture(scope="module")
def bfm(tmp_path_factory):
    """(3DMM folder made by convert_BFM from the synthetic .mat, the writer's paths)."""
    root = tmp_path_factory.mktemp("bfm")
    written = write_synthetic_bfm(root / "src")
    out = convert_BFM.convert_bfm(root / "3DMM", written["mat"], written["aux_dir"])
    return out.parent, written


@pytest.fixture(scope="module")
def truth(bfm):
    """A known face (id, exp, albedo, light) under known poses; landmarks at focal 1000 on 450 x 450 images."""
    model = Face3DMM(bfm[0])
    rng = np.random.default_rng(0)
    n = 12
    euler, trans = pose_sequence(n, seed=3)
    f32 = lambda a: torch.tensor(a, dtype=torch.float32)  # noqa: E731
    t = {"id": f32(rng.normal(0, 0.5, (1, 100))), "exp": f32(rng.normal(0, 0.3, (n, 79))),
         "tex": f32(rng.normal(0, 0.5, (1, 100))), "euler": f32(euler), "trans": f32(trans)}
    light = torch.zeros(n, 27)
    light[:, 3], light[:, 6] = -0.3, 0.2
    t["light"] = light
    t["lms"] = model.project_landmarks(t["id"], t["exp"], t["euler"], t["trans"], 1000.0, (225.0, 225.0)).numpy()
    return model, t


def test_convert_bfm_builds_the_originals_structure(bfm):
    folder, written = bfm
    info = np.load(folder / "3DMM_info.npy", allow_pickle=True).item()
    topo = np.load(written["aux_dir"] / "topology_info.npy", allow_pickle=True).item()
    V = len(topo["sub_inds"])
    assert sorted(info) == sorted(["mu_shape", "b_shape", "sig_shape", "mu_exp", "b_exp", "sig_exp",
                                   "mu_tex", "b_tex", "sig_tex"])
    assert info["mu_shape"].shape == (3 * V,) and info["b_shape"].shape == (120, 3 * V)
    assert info["b_exp"].shape == (79, 3 * V) and info["b_tex"].shape == (110, 3 * V)
    full = written["face"]["full"]
    np.testing.assert_allclose(info["mu_shape"].reshape(-1, 3), full[topo["sub_inds"]] * 1e5, rtol=1e-5, atol=1)
    model = Face3DMM(folder)
    assert model.base_id.shape == (100, 3 * V) and model.base_tex.shape == (100, 3 * V)  # first 100 kept
    mean = model.geometry(torch.zeros(1, 100), torch.zeros(1, 79))[0].numpy()
    centred = full[topo["sub_inds"]] - full[topo["sub_inds"]].mean(0)
    np.testing.assert_allclose(mean, centred, atol=1e-5)         # /1e5 -> decimetres, centred per axis
    assert 150 < model.albedo(torch.zeros(1, 100)).mean() < 200  # 0-255


def test_convert_bfm_errors(tmp_path, bfm):
    aux = bfm[1]["aux_dir"]
    with pytest.raises(StepError, match="faces.dmi.unibas.ch/bfm"):
        convert_BFM.convert_bfm(tmp_path / "3DMM", aux_dir=aux)
    tgz = tmp_path / "01_MorphableModel.mat"
    tgz.write_bytes(gzip.compress(b"not a mat"))
    with pytest.raises(StepError, match="tar xzf"):
        convert_BFM.convert_bfm(tmp_path, tgz, aux)
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"\x00" * 300)
    with pytest.raises(StepError, match="Unknown mat file type"):
        convert_BFM.convert_bfm(tmp_path, junk, aux)
    from scipy.io import savemat
    savemat(tmp_path / "other.mat", {"shapeMU": np.zeros((3, 1))})
    with pytest.raises(StepError, match="not the Basel Face Model 2009"):
        convert_BFM.convert_bfm(tmp_path, tmp_path / "other.mat", aux)


def test_failed_download_names_the_url(tmp_path, monkeypatch):
    monkeypatch.setenv("ADNERF_OFFLINE", "1")
    with pytest.raises(StepError) as err:
        convert_BFM.fetch_aux_files(tmp_path / "3DMM")
    assert "https://github.com/YudongGuo/AD-NeRF/raw/master/data_util/face_tracking/3DMM/exp_info.npy" in str(err.value)
    assert not list((tmp_path / "3DMM").glob("*.npy"))


def test_renderer_mask_colours_and_gradients():
    # a 1 dm square facing the camera at distance 5, focal 100: 20 px wide, centred in 64 x 64
    verts = torch.tensor([[[-.5, -.5, 0], [.5, -.5, 0], [.5, .5, 0], [-.5, .5, 0]]])
    tris = torch.tensor([[0, 1, 2], [0, 2, 3]])
    colors = torch.tensor([[[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]], requires_grad=True)
    euler = torch.zeros(1, 3, requires_grad=True)
    trans = torch.tensor([[0.0, 0, -5]], requires_grad=True)
    image, mask = render(verts, colors, tris, euler, trans, 100.0, 64, 64)
    rows, cols = mask[0].nonzero().T
    assert mask.sum() == 21 * 21 and rows.min() == 22 and rows.max() == 42 and cols.min() == 22 and cols.max() == 42
    np.testing.assert_allclose(image[0, 22, 22].detach(), [1, 1, 1], atol=1e-5)     # top left = vertex 3 (y up)
    np.testing.assert_allclose(image[0, 32, 32].detach(), [0.5, 0, 0.5], atol=1e-5)  # centre: on the diagonal 0-2
    assert image[0, 0, 0].abs().sum() == 0
    (image[..., 1].sum()).backward()
    assert euler.grad.abs().sum() > 0 and trans.grad[0, :2].abs().sum() > 0 and colors.grad[0, 1, 1] > 0


def test_renderer_keeps_the_nearest_surface():
    back = torch.tensor([[-.5, -.5, 0], [.5, -.5, 0], [.5, .5, 0], [-.5, .5, 0]])
    front = back * 0.4 + torch.tensor([0.0, 0.0, 0.5])          # smaller square, nearer to the camera
    verts = torch.cat((back, front))[None]
    colors = torch.cat((torch.zeros(4, 1), torch.ones(4, 1)))[None]
    quads = [[0, 1, 2], [0, 2, 3]], [[4, 5, 6], [4, 6, 7]]
    pose = (torch.zeros(1, 3), torch.tensor([[0.0, 0, -5]]), 100.0, 64, 64)
    for order in (quads[0] + quads[1], quads[1] + quads[0]):
        image, mask = render(verts, colors, torch.tensor(order), *pose)
        assert image[0, 32, 32, 0] == 1 and image[0, 23, 23, 0] == 0 and mask.sum() == 21 * 21


def test_gradients_reach_pose_expression_and_light(truth):
    model, t = truth
    exp = t["exp"][:2].clone().requires_grad_(True)
    euler = t["euler"][:2].clone().requires_grad_(True)
    light = t["light"][:2].clone().requires_grad_(True)
    image, mask = shaded_render(model, t["id"], exp, t["tex"], light, euler, t["trans"][:2], 1000.0, (450, 450))
    assert 15000 < mask[0].sum() < 60000
    assert 30 < image[mask > 0].mean() < 255
    (image * torch.linspace(0, 1, 450)[None, None, :, None]).sum().backward()
    for grad in (exp.grad, euler.grad, light.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


def test_landmark_stages_recover_focal_and_poses(bfm, truth):
    _, t = truth
    iters = {"focal_pose": 100, "focal_all": 400, "pose": 100, "all": 300}
    result = track_bfm(t["lms"], (450, 450), bfm[0], iterations=iters, focal_every=1, photometric=False)
    rot = rotation_errors_deg(result["euler"], t["euler"].numpy())
    assert result["focal"] == 1000.0, result["focal_loss"]
    assert rot.max() < 2.0, rot
    assert result["errors"].mean() < 0.5
    assert np.abs(result["trans"] - t["trans"].numpy()).max() < 0.2


def test_photometric_stages_keep_the_landmarks(bfm, truth):
    """Noisy landmarks + rendered images (8 frames, smaller images and focal to stay fast): stages C and D (at
    D's full schedule) must not move the landmarks away from the truth (0.05 px tolerance) nor make the
    rotations or the temporal jitter worse."""
    model, full = truth
    t = {k: v[:8] if v.shape[0] > 1 else v for k, v in full.items() if k != "lms"}
    scale = 0.5
    clean = model.project_landmarks(t["id"], t["exp"], t["euler"], t["trans"], 1000 * scale, (112.5, 112.5)).numpy()
    noisy = clean + np.random.default_rng(1).normal(0, 1.0, clean.shape)
    with torch.no_grad():
        image, mask = shaded_render(model, t["id"], t["exp"], t["tex"], t["light"], t["euler"], t["trans"],
                                    1000 * scale, (225, 225))
    frames = (image + (1 - mask[..., None]) * 90).clamp(0, 255).round().byte().numpy()

    def truth_error(r):
        as_t = lambda k: torch.tensor(r[k], dtype=torch.float32)  # noqa: E731
        proj = model.project_landmarks(as_t("id"), as_t("exp"), as_t("euler"), as_t("trans"), 1000 * scale,
                                       (112.5, 112.5)).numpy()
        return np.linalg.norm(proj - clean, axis=-1).mean()

    common = dict(focal=1000 * scale, images=lambda idx: [frames[i] for i in idx])
    base = track_bfm(noisy, (225, 225), bfm[0], iterations={"pose": 100, "all": 300, "photo": 0, "refine": 0},
                     **common)
    photo = track_bfm(noisy, (225, 225), bfm[0], iterations={"pose": 100, "all": 300, "photo": 10, "refine": 50},
                      **common)
    assert truth_error(photo) < truth_error(base) + 0.05, (truth_error(base), truth_error(photo))
    rot_base = rotation_errors_deg(base["euler"], t["euler"].numpy()).mean()
    rot_photo = rotation_errors_deg(photo["euler"], t["euler"].numpy()).mean()
    assert rot_photo < rot_base + 0.1, (rot_base, rot_photo)
    assert jitter(photo["euler"]) < jitter(base["euler"])       # stage D's temporal term


def test_run_tracking_bfm_writes_identity_and_expressions(tmp_path, bfm, truth):
    from PIL import Image
    from data_util.common import save_lms
    _, t = truth
    (tmp_path / "ori_imgs").mkdir()
    for i, lms in enumerate(t["lms"]):
        Image.new("RGB", (450, 450)).save(tmp_path / "ori_imgs" / f"{i}.jpg")
        if i != 4:
            save_lms(tmp_path / "ori_imgs" / f"{i}.lms", lms)
    record = run_tracking(tmp_path, tracker="bfm", bfm_dir=bfm[0], progress=False, focal=1000.0, device="cpu",
                          iterations={"pose": 50, "all": 100}, photometric=False)
    params = torch.load(tmp_path / "track_params.pt", weights_only=True)
    assert params["id"].shape == (1, 100) and params["id"].abs().sum() > 0
    # the original's layout: one row per frame with a .lms (11 of 12: frame 4 has none), no 'valid'
    assert params["exp"].shape == (11, 79) and params["exp"][0].abs().sum() > 0
    assert params["euler"].shape == (11, 3) and "valid" not in params
    assert record["no_landmarks"] == [4]
    assert record["tracker"] == "bfm" and record["focal"] == 1000.0 and record["mean_landmark_error_px"] < 2.0


SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "adnerf-assets" / "3DMM"


@pytest.mark.skipif(not (SHARED / "keys_info.npy").is_file(), reason="needs ../shared/adnerf-assets/3DMM")
def test_real_keys_and_topology_parse_and_fit_the_template():
    keys = convert_BFM.load_pickled_dict(SHARED / "keys_info.npy")
    topo = convert_BFM.load_pickled_dict(SHARED / "topology_info.npy")
    assert keys["keyinds"].shape == (68,) and keys["left_contour"].shape == (8, 20)
    assert keys["right_contour"].shape == (8, 20) and keys["rigid_ids"].shape == (464,)
    assert topo["tris"].shape == (68746, 3) and topo["sub_inds"].shape == (34650,) and topo["tris"].max() == 34649
    for k in range(8):      # contour row k holds jaw landmark k (left) and 9 + k (right), as face_model assumes
        assert keys["keyinds"][k] in keys["left_contour"][k] and keys["keyinds"][9 + k] in keys["right_contour"][k]
    # the rigid tracker's generic face is in the BFM's metric, axes and origin (mean shape from sub_mesh.obj)
    from data_util.face_tracking.template import generic_face_68
    with open(SHARED / "sub_mesh.obj") as f:
        verts = np.array([line.split()[1:4] for line in f if line.startswith("v ")], dtype=np.float64)
    mean_lms = (verts - verts.mean(0))[keys["keyinds"]]
    dist_cm = np.linalg.norm(generic_face_68() - mean_lms, axis=1) * 10
    assert np.sqrt((dist_cm ** 2).mean()) < 0.6 and dist_cm.max() < 1.2


@pytest.mark.skipif(not (SHARED / "sub_mesh.obj").is_file(), reason="needs ../shared/adnerf-assets/3DMM")
def test_renderer_on_the_real_bfm_mesh():
    """The 34650-vertex, 68746-triangle BFM subset: outward normals and a face-sized mask at t_z = -7."""
    from data_util.face_tracking.renderer import vertex_normals
    keys = convert_BFM.load_pickled_dict(SHARED / "keys_info.npy")
    tris = torch.as_tensor(convert_BFM.load_pickled_dict(SHARED / "topology_info.npy")["tris"])
    with open(SHARED / "sub_mesh.obj") as f:
        verts = torch.tensor([[float(v) for v in line.split()[1:4]] for line in f if line.startswith("v ")])
    verts = (verts - verts.mean(0))[None]
    normals = vertex_normals(verts, tris)
    assert normals[0, keys["keyinds"][30], 2] > 0.9                   # nose tip faces the camera (+z)
    depth = verts[..., 2:].expand(-1, -1, 3).contiguous()             # colour = model z
    image, mask = render(verts, depth, tris, torch.tensor([[0.0, 0.6, 0.0]]), torch.tensor([[0.0, 0.0, -7.0]]),
                         1100.0, 450, 450)
    assert 30000 < mask.sum() < 70000


def test_restriction_keeps_the_bfm_vertex_layout_known_values():
    """BFM 2009 stores a vertex's x, y, z together (x1 y1 z1 x2 ...): entry (vertex i, axis a) of column k is
    given the value 100 i + 10 a + k, so every converted entry names where it came from."""
    n, sub_inds, K = 6, np.array([4, 0, 5]), 2
    vertex, axis = np.divmod(np.arange(3 * n), 3)
    pc = (100.0 * vertex + 10.0 * axis)[:, None] + np.arange(K)[None, :]           # [3N, K]
    mu = (100.0 * vertex + 10.0 * axis)[:, None]                                    # [3N, 1] as in the .mat
    bfm = {"shapeMU": mu, "shapePC": pc, "shapeEV": np.ones((K, 1)), "texMU": mu, "texPC": pc,
           "texEV": np.ones((K, 1))}
    exp = {"mu_exp": np.zeros(9), "base_exp": np.zeros((79, 9)), "sig_exp": np.ones(79)}
    info = convert_BFM.build_3dmm_info(bfm, {"sub_inds": sub_inds}, exp)
    want = 100.0 * sub_inds[:, None] + 10.0 * np.arange(3)[None, :]                # [V, 3]
    for key in ("b_shape", "b_tex"):
        for k in range(K):
            np.testing.assert_array_equal(info[key][k].reshape(-1, 3), want + k)
    for key in ("mu_shape", "mu_tex"):
        np.testing.assert_array_equal(info[key].reshape(-1, 3), want)


@pytest.mark.skipif(not (SHARED / "sub_mesh.obj").is_file(), reason="needs ../shared/adnerf-assets/3DMM")
def test_restriction_of_a_component_shaped_like_the_real_face_gives_the_face_back():
    """A component that holds the real BFM sub-mesh at its 34650 sub_inds (other vertices: noise), in the
    .mat layout, restricted by convert_BFM: its 68 key vertices are the rigid tracker's generic face."""
    from data_util.face_tracking.template import generic_face_68
    keys = convert_BFM.load_pickled_dict(SHARED / "keys_info.npy")
    sub_inds = np.asarray(convert_BFM.load_pickled_dict(SHARED / "topology_info.npy")["sub_inds"], dtype=np.int64)
    with open(SHARED / "sub_mesh.obj") as f:
        verts = np.array([line.split()[1:4] for line in f if line.startswith("v ")], dtype=np.float64)
    full = np.random.default_rng(0).normal(0, 1, (sub_inds.max() + 1, 3))
    full[sub_inds] = verts
    component = convert_BFM.restrict(full.reshape(-1, 1), sub_inds)[0].reshape(-1, 3)  # [V, 3]
    face = (component - component.mean(0))[keys["keyinds"]]
    dist_cm = np.linalg.norm(generic_face_68() - face, axis=1) * 10
    assert np.sqrt((dist_cm ** 2).mean()) < 0.6 and dist_cm.max() < 1.2
