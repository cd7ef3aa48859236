"""Evaluation metrics against values worked out by hand, and the weight-backed networks on test-made weights."""
import math

import numpy as np
import pytest
import torch

from evaluation.metrics import fid, image, landmark, perceptual, syncnet
from evaluation.weights import WeightsUnavailable


def smooth_image(h, w, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    base = np.stack([np.sin(6 * xx + seed), np.cos(5 * yy), np.sin(4 * (xx + yy))], -1) * 0.3 + 0.5
    return np.clip(base + 0.05 * rng.standard_normal((h, w, 3)), 0, 1)


def to_uint8(x):
    return (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)


def test_psnr_identical_is_capped_and_ssim_is_one():
    frames = to_uint8(np.stack([smooth_image(40, 48, s) for s in range(3)]))
    t = image.to_tensor(frames)
    assert torch.all(image.psnr(t, t) == image.PSNR_CAP)
    assert torch.allclose(image.ssim(t, t), torch.ones(3))


def test_psnr_of_known_gaussian_noise_matches_the_formula():
    rng = np.random.default_rng(0)
    sigma = 0.05
    gt = np.full((4, 64, 64, 3), 128, np.uint8)
    gen = to_uint8(gt / 255.0 + sigma * rng.standard_normal(gt.shape))
    # the noisy frame is rounded to 8 bits: uniform rounding error adds 1 / (12 * 255^2) to the MSE
    expected = 10 * math.log10(1 / (sigma ** 2 + 1 / (12 * 255 ** 2)))
    values = image.psnr(image.to_tensor(gen), image.to_tensor(gt))
    assert values.numpy() == pytest.approx(expected, abs=0.15)


def test_ssim_matches_the_documented_skimage_convention():
    skm = pytest.importorskip("skimage.metrics")
    a, b = to_uint8(smooth_image(37, 45, 1)), to_uint8(smooth_image(37, 45, 2))
    ours = image.ssim(image.to_tensor(a[None]), image.to_tensor(b[None])).item()
    ref = skm.structural_similarity(a / 255.0, b / 255.0, gaussian_weights=True, sigma=1.5,
                                    use_sample_covariance=False, data_range=1.0, channel_axis=-1)
    assert ours == pytest.approx(ref, abs=1e-4)
    assert 0 < ours < 1


def test_face_region_scores_look_only_inside_the_rect():
    gt = to_uint8(smooth_image(48, 48, 3))
    gen = gt.copy()
    gen[:, :10] = 0                                        # damage outside the face rect only
    p, s = image.face_region_scores(gen, gt, [12, 5, 30, 40])
    assert p == image.PSNR_CAP and s == pytest.approx(1.0)
    assert image.crop_rect(gt, [40, 40, 20, 20]).shape == (8, 8, 3)       # clipped to the frame
    assert math.isnan(image.face_region_scores(gen, gt, [40, 40, 20, 20])[1])  # < 11 px: no SSIM


def face_landmarks(seed=0):
    rng = np.random.default_rng(seed)
    lms = rng.uniform(20, 80, (68, 2))
    lms[36], lms[45] = [30.0, 40.0], [70.0, 40.0]           # inter-ocular distance 40 px
    return lms


def test_lmd_and_nioe_of_a_shifted_mouth():
    gt = face_landmarks()
    moved = gt.copy()
    moved[48:68] += [3.0, 4.0]                              # whole mouth shifted by 5 px
    assert landmark.mouth_lmd(moved[None], gt[None])[0] == pytest.approx(0.0, abs=1e-12)  # centring removes it
    assert landmark.mouth_nioe(moved[None], gt[None])[0] == pytest.approx(5.0 / 40.0)
    # lower half of the mouth points (10 of 20) moved down by d: after centring, every point is d/2 off
    opened = gt.copy()
    opened[[54, 55, 56, 57, 58, 59, 64, 65, 66, 67], 1] += 6.0
    assert landmark.mouth_lmd(opened[None], gt[None])[0] == pytest.approx(3.0)
    assert landmark.mouth_nioe(opened[None], gt[None])[0] == pytest.approx(0.5 * 6.0 / 40.0)


def test_paired_landmark_scores_skip_frames_without_a_face():
    gt = face_landmarks()
    lmd, nioe, missing = landmark.paired_landmark_scores([gt, None, gt + 1.0], [gt, gt, gt])
    assert missing == 1 and math.isnan(lmd[1])
    assert lmd[[0, 2]] == pytest.approx([0, 0]) and nioe[2] == pytest.approx(math.sqrt(2) / 40)


def test_frechet_distance_matches_the_matrix_square_root_formula():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(0)
    for na, nb, d in ((12, 15, 30), (60, 50, 8)):           # fewer and more frames than dimensions
        a, b = rng.standard_normal((na, d)), 1.3 * rng.standard_normal((nb, d)) + 0.2
        s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
        ref = (((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(s1) + np.trace(s2)
               - 2 * np.trace(linalg.sqrtm(s1 @ s2).real))
        assert fid.frechet_distance(torch.from_numpy(a), torch.from_numpy(b)) == pytest.approx(ref, rel=1e-6)
    assert fid.frechet_distance(torch.from_numpy(a), torch.from_numpy(a)) == pytest.approx(0, abs=1e-8)


def test_sync_scores_recover_a_known_offset():
    torch.manual_seed(0)
    audio = torch.randn(60, 16)
    lips = audio[3:53]                 # lip window i belongs with audio window i + 3
    scores = syncnet.sync_scores(lips, audio[:53])   # every lip window has its audio window
    assert scores["offset"] == -3
    assert scores["sync_d"] == pytest.approx(0.0, abs=1e-4)
    assert scores["sync_c"] > 1.0 and len(scores["mean_dist"]) == 31 and len(scores["frame_conf"]) == 50


def test_syncnet_loads_a_published_style_state_dict_key_for_key(tmp_path):
    torch.manual_seed(0)
    state = syncnet.SyncNet().state_dict()
    # the 2017 file predates BatchNorm's num_batches_tracked
    old_style = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    assert {k.split(".")[0] for k in old_style} == {"netcnnaud", "netfcaud", "netcnnlip", "netfclip"}
    assert "netcnnlip.0.weight" in old_style and old_style["netcnnaud.18.weight"].shape == (512, 256, 5, 4)
    assert old_style["netcnnlip.18.weight"].shape == (512, 256, 1, 6, 6)
    path = tmp_path / "syncnet_v2.model"
    torch.save(old_style, path)
    model = syncnet.load_syncnet("cpu", path)
    assert torch.equal(model.netfclip[3].weight, old_style["netfclip.3.weight"])
    frames = [np.full((40, 40, 3), 30 * i, np.uint8) for i in range(8)]
    crops = syncnet.crop_faces(frames, [[5, 5, 30, 30]] * 4 + [None] * 4)
    assert crops.shape == (8, 3, 224, 224) and crops.max() <= 255
    mfcc = syncnet.mfcc_features((1000 * np.sin(np.arange(8 * 640) / 7.0)).astype(np.int16))
    lip, aud = syncnet.embed_clip(model, crops, mfcc, batch_size=2)
    assert lip.shape == aud.shape == (min(8, mfcc.shape[1] // 4) - 5, 1024)
    bad = dict(old_style)
    bad.pop("netfcaud.0.weight")
    torch.save(bad, tmp_path / "bad.model")
    with pytest.raises(WeightsUnavailable, match="missing"):
        syncnet.load_syncnet("cpu", tmp_path / "bad.model")


def test_missing_weights_name_url_path_and_option(tmp_path, monkeypatch):
    monkeypatch.setenv("ADNERF_WEIGHTS_DIR", str(tmp_path))
    monkeypatch.setenv("ADNERF_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable) as err:
        syncnet.load_syncnet("cpu")
    msg = str(err.value)
    assert syncnet.SYNCNET_URL in msg and str(tmp_path / "syncnet_v2.model") in msg and "--syncnet_weights" in msg
    with pytest.raises(WeightsUnavailable, match="does not exist"):
        fid.load_fid_inception("cpu", tmp_path / "nope.pth")


def test_lpips_matches_the_lpips_package_on_test_made_backbone(tmp_path):
    lpips_pkg = pytest.importorskip("lpips")
    torch.manual_seed(0)
    import torchvision
    features = torchvision.models.alexnet(weights=None).features.state_dict()
    torch.save({f"features.{k}": v for k, v in features.items()}, tmp_path / "alexnet.pth")
    ours = perceptual.load_lpips("cpu", tmp_path / "alexnet.pth")
    ref = lpips_pkg.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    slices = [ref.net.slice1, ref.net.slice2, ref.net.slice3, ref.net.slice4, ref.net.slice5]
    for s in slices:                        # same backbone weights in lpips' sliced AlexNet
        for name, module in s.named_children():
            if isinstance(module, torch.nn.Conv2d):
                module.load_state_dict({"weight": features[f"{name}.weight"], "bias": features[f"{name}.bias"]})
    a = image.to_tensor(to_uint8(np.stack([smooth_image(64, 64, s) for s in range(2)])))
    b = image.to_tensor(to_uint8(np.stack([smooth_image(64, 64, s + 5) for s in range(2)])))
    with torch.no_grad():
        got, want = ours(a, b), ref(a, b, normalize=True).flatten()
        assert torch.allclose(got, want, rtol=1e-4, atol=1e-6)
        assert torch.allclose(ours(a, a), torch.zeros(2), atol=1e-7)


def test_fid_inception_runs_on_test_made_weights(tmp_path):
    path = tmp_path / "pt_inception.pth"
    torch.save(fid.random_inception_state_dict(), path)
    model = fid.load_fid_inception("cpu", path)
    with torch.no_grad():
        feats = fid.inception_features(model, torch.rand(2, 3, 48, 48))
    assert feats.shape == (2, fid.FEATURE_DIM) and torch.isfinite(feats).all()
    torch.save({"fc.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(Exception, match="do not match"):
        fid.load_fid_inception("cpu", tmp_path / "wrong.pth")


def test_ssim_opencv_and_torch_paths_agree():
    a = image.to_tensor(to_uint8(np.stack([smooth_image(30, 52, s) for s in range(2)])))
    b = image.to_tensor(to_uint8(np.stack([smooth_image(30, 52, s + 3) for s in range(2)])))
    fast, reference = image.ssim_map(a, b), image.ssim_map_torch(a, b)
    # float32 moments (E[x^2] - mu^2) round differently per pixel; the frame means agree much closer
    assert fast.shape == (2, 20, 42) and torch.allclose(fast, reference, atol=1e-4)
    assert torch.allclose(fast.mean((1, 2)), reference.mean((1, 2)), atol=2e-6)


def test_batched_face_scores_equal_scoring_the_cropped_rect():
    gen = to_uint8(np.stack([smooth_image(40, 52, s) for s in range(4)]))
    gt = to_uint8(np.stack([smooth_image(40, 52, s + 7) for s in range(4)]))
    rects = [[3, 2, 30, 25], [-5, 10, 20, 40], [45, 30, 20, 20], None]    # inside, clipped, 7x10 px, none
    got = image.frame_scores(image.to_tensor(gen), image.to_tensor(gt), rects)
    for i, rect in enumerate(rects[:3]):
        want = image.face_region_scores(gen[i], gt[i], rect)
        assert got["psnr_face"][i] == pytest.approx(want[0], abs=1e-4)
        assert (math.isnan(want[1]) and math.isnan(got["ssim_face"][i])) or got["ssim_face"][i] == pytest.approx(want[1], abs=1e-5)
    assert math.isnan(got["ssim_face"][2]) and math.isnan(got["psnr_face"][3])
    whole = image.ssim(image.to_tensor(gen), image.to_tensor(gt)).numpy()
    assert got["ssim"] == pytest.approx(whole, abs=1e-6)


def test_weights_download_into_the_cache_with_the_hash_checked(tmp_path, monkeypatch):
    """The real download path (torch.hub over a file:// URL): cached on first use, then reused."""
    import hashlib
    from evaluation import weights
    torch.manual_seed(0)
    published = tmp_path / "server" / "syncnet_v2.model"
    published.parent.mkdir()
    torch.save(syncnet.SyncNet().state_dict(), published)
    cache = tmp_path / "cache"
    monkeypatch.setenv("ADNERF_WEIGHTS_DIR", str(cache))
    monkeypatch.setattr(syncnet, "SYNCNET_URL", published.as_uri())
    model = syncnet.load_syncnet("cpu")
    assert (cache / "syncnet_v2.model").is_file()
    assert torch.equal(model.netcnnaud[0].weight, torch.load(published, weights_only=True)["netcnnaud.0.weight"])
    published.unlink()                                       # the cached copy is used from now on
    syncnet.load_syncnet("cpu")
    # a file whose SHA-256 does not start with the expected prefix is refused and not cached
    other = tmp_path / "server" / "alexnet.pth"
    torch.save({"x": torch.zeros(1)}, other)
    good = hashlib.sha256(other.read_bytes()).hexdigest()[:8]
    with pytest.raises(WeightsUnavailable, match="cannot download .*SHA256"):
        weights.fetch_weights("test", other.as_uri(), "alexnet.pth", hash_prefix="00000000" if good != "00000000" else "11111111")
    assert not (cache / "alexnet.pth").exists()
    assert weights.fetch_weights("test", other.as_uri(), "alexnet.pth", hash_prefix=good) == cache / "alexnet.pth"


def test_head_region_psnr_uses_only_the_masked_pixels():
    import numpy as np
    import torch
    from evaluation.metrics.image import frame_scores
    gt = torch.full((1, 3, 8, 8), 0.5)
    gen = gt.clone()
    gen[..., :4, :] += 0.1            # error 0.1 in the top half only
    mask = np.zeros((8, 8), bool)
    mask[:4] = True
    out = frame_scores(gen, gt, None, with_ssim=False, head_masks=[mask])
    assert abs(out["psnr_head"][0] - 20.0) < 1e-3          # -10 log10(0.01)
    assert abs(out["psnr"][0] - 23.0103) < 1e-3            # half the pixels wrong: mse 0.005
    clean = frame_scores(gen, gt, None, with_ssim=False, head_masks=[~mask])
    assert np.isinf(clean["psnr_head"][0]) or clean["psnr_head"][0] > 90
