"""Step 3, face parsing: colour code, the BiSeNet loading and inference path, weights download, the
offline mediapipe backend on a real photo, and the step's resume / force behaviour."""
import importlib.util

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from data_util import face_parsing
from data_util.common import StepError, load_image, save_image, save_lms
from data_util.face_parsing import labels, parsers, step, weights
from data_util.face_parsing.bisenet import BiSeNet

# the reference's table: BiSeNet label -> colour in cv2's BGR order
REFERENCE_BGR = {**{k: (255, 0, 0) for k in list(range(1, 14)) + [17, 18]},
                 14: (0, 255, 0), 15: (0, 255, 0), 16: (0, 0, 255), 0: (255, 255, 255)}


@pytest.fixture(scope="module")
def saved_bisenet(tmp_path_factory):
    """(path, state dict) of a randomly initialised BiSeNet saved like 79999_iter.pth (a bare state dict)."""
    torch.manual_seed(0)
    net = BiSeNet()
    with torch.no_grad():       # non-trivial BatchNorm statistics, so that loading them is visible
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
    path = tmp_path_factory.mktemp("weights") / "79999_iter.pth"
    torch.save(net.state_dict(), path)
    return path, net.state_dict()


def make_frames(root, images, lms=None, without_lms=()):
    for n, image in enumerate(images):
        save_image(root / "ori_imgs" / f"{n}.jpg", image)
        if n not in without_lms:
            save_lms(root / "ori_imgs" / f"{n}.lms", np.zeros((68, 2)) if lms is None else lms)
    return root


def test_colour_code_matches_the_reference_in_cv2_bgr(tmp_path):
    for label, bgr in REFERENCE_BGR.items():
        assert tuple(labels.PART_BGR[labels.BISENET_TO_PART[label]]) == bgr
    parts = np.array([[0, 1], [2, 3]], np.uint8).repeat(3, 0).repeat(3, 1)
    labels.write_parsing(tmp_path / "p.png", parts)
    bgr = cv2.imread(str(tmp_path / "p.png"))                      # what the original's later steps read
    assert tuple(bgr[0, 0]) == (255, 255, 255) and tuple(bgr[0, 5]) == (255, 0, 0)      # background, head
    assert tuple(bgr[5, 0]) == (0, 255, 0) and tuple(bgr[5, 5]) == (0, 0, 255)          # neck, torso
    rgb_on_disk = np.asarray(Image.open(tmp_path / "p.png").convert("RGB"))
    assert tuple(rgb_on_disk[0, 5]) == (0, 0, 255)                  # the head is blue in an RGB viewer
    np.testing.assert_array_equal(labels.read_parsing(tmp_path / "p.png"), parts)


def test_bisenet_has_the_layout_of_79999_iter():
    state = BiSeNet().state_dict()
    shapes = {"cp.resnet.conv1.weight": (64, 3, 7, 7), "cp.resnet.layer2.0.downsample.0.weight": (128, 64, 1, 1),
              "cp.resnet.layer4.1.bn2.running_var": (512,), "cp.arm32.conv_atten.weight": (128, 128, 1, 1),
              "cp.conv_avg.conv.weight": (128, 512, 1, 1), "ffm.convblk.conv.weight": (256, 256, 1, 1),
              "ffm.conv1.weight": (64, 256, 1, 1), "conv_out.conv_out.weight": (19, 256, 1, 1),
              "conv_out16.conv.conv.weight": (64, 128, 3, 3), "conv_out32.conv_out.weight": (19, 64, 1, 1)}
    for key, shape in shapes.items():
        assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith(("sp.", "cp.resnet.fc")) for k in state)   # no spatial path, no classifier
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k) == 13_300_416


def test_preprocessing_argmax_resize_back_and_colours():
    """A probe network checks what it is fed and labels pixels by their colour."""
    means, stds = np.array(parsers.IMAGENET_MEAN), np.array(parsers.IMAGENET_STD)

    class Probe(torch.nn.Module):
        def forward(self, x):
            assert tuple(x.shape) == (1, 3, 512, 512)
            red = x[0, :, 256, 5].numpy()                                   # left stripe is pure red
            np.testing.assert_allclose(red, (np.array([1.0, 0, 0]) - means) / stds, atol=1e-5)
            rgb = x[0] * torch.tensor(stds, dtype=torch.float32).view(3, 1, 1) + torch.tensor(means).view(3, 1, 1)
            logits = torch.zeros(1, 19, 512, 512)
            logits[0, 16] = rgb[0] - rgb[1] - rgb[2]           # red -> cloth
            logits[0, 14] = rgb[1] - rgb[0] - rgb[2]           # green -> neck
            logits[0, 17] = rgb[2] - rgb[0] - rgb[1]           # blue -> hair
            logits[0, 0] = rgb.min(0).values - 0.5             # white -> background
            return logits, logits, logits

    image = np.zeros((60, 90, 3), np.uint8)                     # four 22-23 px stripes, not square
    image[:, :22] = (255, 0, 0)
    image[:, 22:45] = (0, 255, 0)
    image[:, 45:68] = (0, 0, 255)
    image[:, 68:] = (255, 255, 255)
    parts = parsers.bisenet_parts(Probe(), image)
    assert parts.shape == (60, 90)
    expected = [(slice(0, 20), labels.TORSO), (slice(24, 43), labels.NECK), (slice(47, 66), labels.HEAD),
                (slice(70, 90), labels.BACKGROUND)]
    for cols, part in expected:
        assert (parts[:, cols] == part).all(), part


def test_run_parsing_with_saved_bisenet_weights(tmp_path, saved_bisenet):
    path, state = saved_bisenet
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 255, (40, 56, 3), dtype=np.uint8) for _ in range(2)]
    root = make_frames(tmp_path / "d", images, without_lms=(0,))
    record = face_parsing.run_parsing(root, backend="bisenet", weights=path, device="cpu", progress=False)
    assert (record["parsed"], record["frames"]) == (1, 1) and record["weights"] == str(path)
    assert not (root / "parsing" / "0.png").exists()
    # independent computation: the saved network, resize 512, normalise, argmax, nearest resize, reference colours
    net = BiSeNet()
    net.load_state_dict(state)
    net.eval()
    for n in (1,):
        frame = load_image(root / "ori_imgs" / f"{n}.jpg")
        x = np.asarray(Image.fromarray(frame).resize((512, 512), Image.BILINEAR)) / 255.0
        x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
        with torch.no_grad():
            label = net(torch.tensor(x, dtype=torch.float32).permute(2, 0, 1)[None])[0][0].argmax(0).numpy()
        label = cv2.resize(label.astype(np.uint8), (56, 40), interpolation=cv2.INTER_NEAREST)
        expected = np.array([REFERENCE_BGR[v] for v in label.ravel()], np.uint8).reshape(40, 56, 3)
        written = cv2.imread(str(root / "parsing" / f"{n}.png"))
        assert (written == expected).all(-1).mean() > 0.999    # rounding on argmax ties at most
        assert len(np.unique(written.reshape(-1, 3), axis=0)) >= 2
    loaded = weights.load_bisenet(path)
    assert torch.equal(loaded.state_dict()["cp.resnet.bn1.running_mean"], state["cp.resnet.bn1.running_mean"])


def test_weights_from_a_url_are_downloaded_once_into_the_cache(tmp_path, saved_bisenet, monkeypatch):
    path, state = saved_bisenet
    cache = tmp_path / "cache"
    got = weights.resolve_bisenet_weights(path.as_uri(), cache_dir=cache, progress=False)    # file:// URL
    assert got == cache / "79999_iter.pth" and got.read_bytes() == path.read_bytes()

    def offline(*args, **kwargs):
        raise AssertionError("downloaded again")
    monkeypatch.setattr(weights, "fetch", offline)
    assert weights.resolve_bisenet_weights(path.as_uri(), cache_dir=cache) == got
    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")           # no copy in the checkout
    monkeypatch.delenv("ADNERF_FACE_PARSING_WEIGHTS", raising=False)
    assert weights.resolve_bisenet_weights(None, cache_dir=cache) == got    # the default name is found


def test_failed_download_names_url_path_and_offline_backend(tmp_path, monkeypatch):
    monkeypatch.setenv("ADNERF_OFFLINE", "1")      # the shared helper's offline switch: same error path
    monkeypatch.setattr(weights, "REPO_ROOT", tmp_path / "repo")
    monkeypatch.delenv("ADNERF_FACE_PARSING_WEIGHTS", raising=False)
    root = make_frames(tmp_path / "d", [np.zeros((32, 32, 3), np.uint8)])
    with pytest.raises(StepError) as err:
        face_parsing.run_parsing(root, cache_dir=tmp_path / "cache", progress=False)
    message = str(err.value)
    assert weights.BISENET_URL in message and str(tmp_path / "cache" / "79999_iter.pth") in message
    assert "--parsing_backend mediapipe" in message and "--offline" in message and "\n" not in message


def test_bad_weight_files_are_clear_errors(tmp_path, saved_bisenet):
    path, state = saved_bisenet
    broken = dict(state)
    del broken["ffm.conv1.weight"]
    broken["conv_out.conv_out.weight"] = torch.zeros(18, 256, 1, 1)
    torch.save(broken, tmp_path / "broken.pth")
    with pytest.raises(StepError, match=r"does not fit.*missing: ffm.conv1.weight.*wrong shape: conv_out"):
        weights.load_bisenet(tmp_path / "broken.pth")
    (tmp_path / "junk.pth").write_bytes(b"<html>rate limited</html>")
    with pytest.raises(StepError, match="cannot read BiSeNet weights"):
        weights.load_bisenet(tmp_path / "junk.pth")
    with pytest.raises(StepError, match="cannot read"):                      # a bad download is removed
        weights.download_weights((tmp_path / "junk.pth").as_uri(), tmp_path / "cache" / "junk.pth", False)
    assert not (tmp_path / "cache" / "junk.pth").exists()
    wrapped = {"module." + k: v for k, v in state.items() if "num_batches" not in k}   # DataParallel, old torch
    torch.save(wrapped, tmp_path / "wrapped.pth")
    assert torch.equal(weights.load_bisenet(tmp_path / "wrapped.pth").state_dict()["ffm.conv1.weight"],
                       state["ffm.conv1.weight"])
    with pytest.raises(StepError, match="not found"):
        weights.resolve_bisenet_weights(tmp_path / "nowhere.pth")


def test_run_parsing_resumes_and_forces(tmp_path, monkeypatch):
    calls = []

    def fake_load_parser(backend, **kwargs):
        def parse(image, lms):
            calls.append(1)
            return np.full(image.shape[:2], labels.TORSO, np.uint8)
        return parse
    monkeypatch.setattr(step, "load_parser", fake_load_parser)
    root = make_frames(tmp_path / "d", [np.zeros((16, 20, 3), np.uint8)] * 4, without_lms=(3,))
    record = face_parsing.run_parsing(root, backend="mediapipe", progress=False)
    assert (record["parsed"], record["skipped"], len(calls)) == (3, 0, 3)
    assert record["part_fractions"]["torso"] == 1.0
    labels.write_parsing(root / "parsing" / "0.png", np.zeros((16, 20), np.uint8))
    (root / "parsing" / "1.png").unlink()
    record = face_parsing.run_parsing(root, backend="mediapipe", progress=False)
    assert (record["parsed"], record["skipped"], len(calls)) == (1, 2, 4)
    assert labels.read_parsing(root / "parsing" / "0.png").max() == labels.BACKGROUND     # kept
    assert face_parsing.run_parsing(root, backend="mediapipe", force=True, progress=False)["parsed"] == 3
    assert (labels.read_parsing(root / "parsing" / "0.png") == labels.TORSO).all()
    (root / "ori_imgs" / "2.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(StepError, match=r"ori_imgs/2.jpg"):
        face_parsing.run_parsing(root, backend="mediapipe", force=True, progress=False)
    with pytest.raises(StepError, match="choose one of bisenet, mediapipe"):
        face_parsing.run_parsing(root, backend="bisnet")
    with pytest.raises(StepError, match="step 2"):
        face_parsing.run_parsing(tmp_path / "empty")


def test_mediapipe_splits_a_real_photo_into_head_neck_torso(tmp_path):
    if importlib.util.find_spec("mediapipe") is None:      # (importing it here would load TensorFlow: ~10 s)
        pytest.skip("mediapipe is not installed")
    pytest.importorskip("dlib")
    photo = pytest.importorskip("skimage.data").astronaut()[:400, 40:440].copy()   # 400 x 400
    from data_util.landmarks import detect_landmarks
    lms = detect_landmarks([photo], backend="dlib")[0]
    assert lms is not None
    root = make_frames(tmp_path / "d", [photo], lms=lms)
    record = face_parsing.run_parsing(root, backend="mediapipe", progress=False)
    assert record["parsed"] == 1
    parts = labels.read_parsing(root / "parsing" / "0.png")
    frame = load_image(root / "ori_imgs" / "0.jpg")
    assert parts.shape == frame.shape[:2]
    hull = np.zeros(parts.shape, np.uint8)
    cv2.fillConvexPoly(hull, cv2.convexHull(np.round(lms).astype(np.int32)), 1)
    assert (parts[hull.astype(bool)] == labels.HEAD).mean() > 0.99          # the face is head
    chin_x, chin_y = np.round(lms[8]).astype(int)
    face_h = lms[8, 1] - lms[17:27, 1].mean()
    brow_y = int(lms[17:27, 1].mean())
    assert (parts[max(brow_y - int(0.4 * face_h), 0), chin_x - 5:chin_x + 6] == labels.HEAD).all()   # hair
    below = parts[chin_y + 2:chin_y + int(0.5 * face_h), chin_x - 5:chin_x + 6]
    assert np.isin(below, (labels.NECK, labels.TORSO)).all() and (below == labels.NECK).any()
    suit = parts[chin_y + int(1.5 * face_h):, chin_x - 40:chin_x + 40]
    assert (suit == labels.TORSO).mean() > 0.95                             # the suit below the chin
    assert (parts[:40, :40] == labels.BACKGROUND).mean() > 0.9               # the flag corner
    assert (parts[:, :] == labels.HEAD).sum() < 0.2 * parts.size


def test_silhouette_split_of_a_drawn_person():
    """Face ellipse, skin-coloured neck, shirt: the split follows the jaw line and the skin colour."""
    from data_util.face_parsing.silhouette import split_silhouette
    h, w, cx, cy, rx, ry = 120, 100, 50, 40, 20, 26
    y, x = np.mgrid[0:h, 0:w]
    skin, shirt = (224, 172, 140), (40, 60, 160)
    image = np.full((h, w, 3), 200, np.uint8)
    face = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1
    neck = (np.abs(x - cx) <= 8) & (y > cy) & (y < 84)
    body = (y >= 84) & (np.abs(x - cx) <= 40)
    image[body], image[neck], image[face] = shirt, skin, skin
    angles = np.linspace(np.pi, 0, 17)                             # jaw: left ear, chin, right ear
    lms = np.zeros((68, 2))
    lms[:17] = np.stack([cx + rx * np.cos(angles), cy + ry * np.sin(angles)], 1)
    lms[17:27] = np.stack([np.linspace(cx - 14, cx + 14, 10), np.full(10, cy - 10.0)], 1)   # brows
    lms[27:68] = [cx, cy + 2]                                       # nose, eyes, mouth collapsed inside
    parts = split_silhouette(face | neck | body, lms, image)
    assert (parts[face] == labels.HEAD).mean() > 0.97
    assert (parts[neck & (y > cy + ry + 2)] == labels.NECK).mean() > 0.95
    assert (parts[body] == labels.TORSO).mean() > 0.97
    from scipy.ndimage import binary_dilation
    outside = ~binary_dilation(face | neck | body)       # (the landmark hull may add a rounding pixel)
    assert (parts[outside] == labels.BACKGROUND).all()
