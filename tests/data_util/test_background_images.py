"""Steps 4 (bc.jpg) and 5 (com_imgs / head_imgs) on generated frames with known regions."""
import numpy as np
import pytest
from scipy.spatial import cKDTree

from data_util import background as bg_step
from data_util import compose_images
from data_util.common import StepError, load_image, save_image, save_lms
from data_util.face_parsing.labels import BACKGROUND, HEAD, NECK, TORSO, write_parsing

H, W = 48, 64


def true_background() -> np.ndarray:
    """A smooth colour gradient (survives JPEG almost unchanged), uint8 [H, W, 3]."""
    y, x = np.mgrid[0:H, 0:W]
    return np.stack([40 + 3 * x, 60 + 3 * y, 200 - 2 * x], -1).astype(np.uint8)


def person_parts(cx: int) -> np.ndarray:
    """A person centred at column cx: head disc, neck bar, torso block reaching the bottom. uint8 [H, W]."""
    y, x = np.mgrid[0:H, 0:W]
    parts = np.full((H, W), BACKGROUND, np.uint8)
    parts[(y >= 34) & (np.abs(x - cx) <= 12)] = TORSO
    parts[(y >= 24) & (y < 34) & (np.abs(x - cx) <= 3)] = NECK
    parts[(y - 16) ** 2 + (x - cx) ** 2 <= 81] = HEAD
    return parts


PERSON_RGB = {HEAD: (250, 200, 160), NECK: (230, 170, 140), TORSO: (20, 20, 120)}


def make_dataset(root, centres, no_lms=()):
    """ori_imgs/<n>.jpg (+ .lms) and parsing/<n>.png for a person moving along ``centres``."""
    for n, cx in enumerate(centres):
        parts = person_parts(cx)
        frame = true_background().copy()
        for part, rgb in PERSON_RGB.items():
            frame[parts == part] = rgb
        save_image(root / "ori_imgs" / f"{n}.jpg", frame)
        if n not in no_lms:
            save_lms(root / "ori_imgs" / f"{n}.lms", np.zeros((68, 2)))
            write_parsing(root / "parsing" / f"{n}.png", parts)
    return root


def test_farthest_background_matches_a_kd_tree_per_frame():
    rng = np.random.default_rng(0)
    masks = [person_parts(cx) != BACKGROUND for cx in (14, 30, 50)]
    images = [rng.integers(0, 255, (H, W, 3), dtype=np.uint8) for _ in masks]
    max_distance, colour = bg_step.farthest_background(zip(masks, images), (H, W))
    # the original's way: KD-tree of the foreground pixels, queried by every pixel, argmax over frames
    pixels = np.stack(np.mgrid[0:H, 0:W], -1).reshape(-1, 2)
    dists = np.stack([cKDTree(np.argwhere(m)).query(pixels)[0] for m in masks])      # [3, H*W]
    np.testing.assert_allclose(max_distance.ravel(), dists.max(0), atol=1e-9)
    best = dists.argmax(0).reshape(H, W)
    expected = np.take_along_axis(np.stack(images), best[None, ..., None], 0)[0]
    np.testing.assert_array_equal(colour, expected)


def test_fill_takes_the_nearest_observed_pixel():
    rows, cols = np.mgrid[0:H, 0:W]
    position_colour = np.stack([rows, cols, np.zeros_like(rows)], -1).astype(np.uint8)    # colour = own position
    valid = np.zeros((H, W), bool)
    valid[5:12, 40:60] = True
    valid[30:, :6] = True
    filled = bg_step.fill_from_nearest(position_colour, valid)
    source = filled[..., :2].reshape(-1, 2).astype(float)
    nearest = cKDTree(np.argwhere(valid)).query(np.stack([rows, cols], -1).reshape(-1, 2))[0]
    assert valid[source[:, 0].astype(int), source[:, 1].astype(int)].all()
    np.testing.assert_allclose(np.linalg.norm(source - np.stack([rows, cols], -1).reshape(-1, 2), axis=1), nearest)


def test_background_estimate_recovers_the_scene(tmp_path):
    root = make_dataset(tmp_path / "d", centres=[24, 28, 32, 36, 40, 44], no_lms=(1,))
    record = bg_step.run_background(root, every=2)               # face frames 0,2,3,4,5 -> frames 0, 3, 5
    assert record["frames_used"] == 3 and not record["skipped"]
    bc = load_image(root / "bc.jpg").astype(int)
    truth = true_background().astype(int)
    masks = [person_parts(cx) != BACKGROUND for cx in (24, 36, 44)]
    from scipy.ndimage import distance_transform_edt
    observed = np.max([distance_transform_edt(~m) for m in masks], axis=0) > 5
    assert record["observed_fraction"] == pytest.approx(observed.mean(), abs=1e-4)
    assert 0.5 < observed.mean() < 1
    assert np.abs(bc - truth)[observed].max() <= 12              # JPEG twice; no person colour leaks in
    assert np.abs(bc - truth)[observed].mean() < 2.5
    # never-uncovered pixels (behind the torso in every sampled frame) are copied from the nearest observed ones
    torso_colour = np.array(PERSON_RGB[TORSO])
    assert np.abs(bc - torso_colour)[~observed].sum(-1).min() > 100
    assert np.abs(bc - truth)[~observed].max() <= 3 * 13 + 12
    # idempotent: kept unless forced
    save_image(root / "bc.jpg", np.zeros((H, W, 3), np.uint8))
    assert bg_step.run_background(root, every=2)["skipped"]
    assert load_image(root / "bc.jpg").max() == 0
    assert not bg_step.run_background(root, every=2, force=True)["skipped"]
    assert np.abs(load_image(root / "bc.jpg").astype(int) - bc).max() <= 2


def test_background_errors_name_the_missing_step(tmp_path):
    root = make_dataset(tmp_path / "d", centres=[12, 40])
    (root / "parsing" / "0.png").unlink()
    with pytest.raises(StepError, match=r"parsing/0.png.*step 3"):
        bg_step.run_background(root)
    write_parsing(root / "parsing" / "0.png", np.zeros((H, W), np.uint8) + TORSO)     # person everywhere
    with pytest.raises(StepError, match="cannot be estimated"):
        bg_step.run_background(root, every=5)
    with pytest.raises(StepError, match="step 2"):
        bg_step.run_background(tmp_path / "empty")


def test_images_compose_each_region(tmp_path):
    root = make_dataset(tmp_path / "d", centres=[12, 30, 50], no_lms=(2,))
    bc = np.full((H, W, 3), (10, 240, 10), np.uint8)            # a colour no frame contains
    save_image(root / "bc.jpg", bc)
    record = compose_images.run_images(root)
    assert (record["frames"], record["written"], record["skipped"]) == (2, 2, 0)
    assert not (root / "com_imgs" / "2.jpg").exists() and not (root / "head_imgs" / "2.jpg").exists()
    assert not (root / "torso_imgs").exists()      # the original's later versions wrote it; nothing reads it
    for n, cx in ((0, 12), (1, 30)):
        parts = person_parts(cx)
        frame = load_image(root / "ori_imgs" / f"{n}.jpg").astype(int)
        com = load_image(root / "com_imgs" / f"{n}.jpg").astype(int)
        head = load_image(root / "head_imgs" / f"{n}.jpg").astype(int)
        from scipy.ndimage import binary_erosion
        inner = {p: binary_erosion(parts == p, iterations=2) for p in (BACKGROUND, HEAD, TORSO)}
        assert np.abs(com - bc)[inner[BACKGROUND]].max() <= 25                # background replaced
        assert np.abs(com - frame)[inner[HEAD] | inner[TORSO]].max() <= 25    # person kept
        assert np.abs(head - frame)[inner[HEAD]].max() <= 25
        assert np.abs(head - bc)[inner[TORSO] | inner[BACKGROUND]].max() <= 25


def test_images_resume_force_and_errors(tmp_path):
    root = make_dataset(tmp_path / "d", centres=[12, 30])
    with pytest.raises(StepError, match=r"bc.jpg.*step 4"):
        compose_images.run_images(root)
    save_image(root / "bc.jpg", true_background())
    compose_images.run_images(root)
    save_image(root / "com_imgs" / "0.jpg", np.zeros((H, W, 3), np.uint8))
    (root / "head_imgs" / "1.jpg").unlink()
    record = compose_images.run_images(root)                     # only frame 1 is incomplete
    assert (record["written"], record["skipped"]) == (1, 1)
    assert load_image(root / "com_imgs" / "0.jpg").max() == 0 and (root / "head_imgs" / "1.jpg").is_file()
    assert compose_images.run_images(root, force=True)["written"] == 2
    assert load_image(root / "com_imgs" / "0.jpg").max() > 0
    (root / "parsing" / "1.png").write_bytes(b"not a png")
    with pytest.raises(StepError, match=r"parsing/1.png"):
        compose_images.run_images(root, force=True)
    save_image(root / "bc.jpg", np.zeros((H + 2, W, 3), np.uint8))
    with pytest.raises(StepError, match="differ in size"):
        compose_images.run_images(root, force=True)
