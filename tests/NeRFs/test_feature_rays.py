"""--feature_rays: a share of the head's training rays inside the boxes of mouth and eyes (from the landmarks)."""
import numpy as np
import pytest

from adnerf.landmarks import LEFT_EYE, MOUTH, RIGHT_EYE, feature_boxes
from data_util.synthetic_head import make_synthetic_dataset
from NeRFs.core.dataset import AudFaceDataset, feature_boxes_of
from NeRFs.core.head import HeadTrainer, draw_head_rays
from NeRFs.core.rays import face_rect_mask, sample_pixels
from NeRFs.core.utils import UserError
from NeRFs.core.validate import validate_args
from tests.support import make_args


def face_points(mouth_x: float, mouth_y: float) -> np.ndarray:
    """68 points [68, 2]: all at (0, 0) except a 10x4 mouth at (mouth_x, mouth_y) and two 6x2 eyes above it."""
    lms = np.zeros((68, 2))
    lms[MOUTH] = [mouth_x, mouth_y] + np.array([[0, 0], [10, 4]])[np.arange(20) % 2]
    lms[LEFT_EYE] = [mouth_x - 4, mouth_y - 12] + np.array([[0, 0], [6, 2]])[np.arange(6) % 2]
    lms[RIGHT_EYE] = [mouth_x + 8, mouth_y - 12] + np.array([[0, 0], [6, 2]])[np.arange(6) % 2]
    return lms


def test_feature_boxes_hold_each_part_grown_by_its_width():
    boxes = feature_boxes(face_points(20, 30))
    assert boxes.shape == (3, 4)
    np.testing.assert_allclose(boxes[0], [20 - 3, 30 - 3, 16, 10])   # mouth 10 wide: 3 px more on each side
    np.testing.assert_allclose(boxes[1], [16 - 1.8, 18 - 1.8, 9.6, 5.6])
    np.testing.assert_allclose(boxes[2], [28 - 1.8, 18 - 1.8, 9.6, 5.6])
    assert feature_boxes(np.stack([face_points(20, 30)] * 5)).shape == (5, 3, 4)


def test_sampler_puts_the_feature_share_inside_the_boxes_without_repeats():
    H, W, rect = 60, 50, [5, 5, 40, 50]
    boxes = feature_boxes(face_points(20, 30))
    in_boxes = np.zeros((H, W), dtype=bool)
    for box in boxes:
        in_boxes |= face_rect_mask(box, H, W)
    coords = sample_pixels(400, H, W, np.random.default_rng(0), rect, 0.95, boxes, 0.25)
    assert coords.shape == (400, 2) and len({tuple(c) for c in coords}) == 400
    inside_boxes = in_boxes[coords[:, 0], coords[:, 1]].sum()
    assert inside_boxes == 100  # exactly the share: the others are drawn from outside the boxes
    inside_rect = face_rect_mask(rect, H, W)[coords[:, 0], coords[:, 1]] & ~in_boxes[coords[:, 0], coords[:, 1]]
    assert inside_rect.sum() == int(300 * 0.95)
    # without the share (or without boxes) the draw is the original's, ray for ray
    plain = sample_pixels(400, H, W, np.random.default_rng(0), rect, 0.95)
    np.testing.assert_array_equal(sample_pixels(400, H, W, np.random.default_rng(0), rect, 0.95, boxes, 0.0), plain)


def test_sampler_takes_every_box_pixel_when_the_boxes_are_small():
    boxes = np.array([[2, 2, 1, 1]])  # 2x2 pixels
    coords = sample_pixels(20, 10, 10, np.random.default_rng(1), None, 0.95, boxes, 0.9)
    assert len({tuple(c) for c in coords}) == 20
    assert face_rect_mask(boxes[0], 10, 10)[coords[:, 0], coords[:, 1]].sum() == 4


@pytest.fixture(scope="module")
def root_with_landmarks(tmp_path_factory):
    root = make_synthetic_dataset(tmp_path_factory.mktemp("feature_rays") / "synth", n_frames=30, size=32)
    for k, path in enumerate(sorted((root / "ori_imgs").glob("*.jpg"))):
        np.savetxt(path.with_suffix(".lms"), face_points(8 + k % 3, 20), fmt="%.6f")
    return root


def test_the_boxes_of_every_frame_are_read_or_none(root_with_landmarks, tmp_path):
    train = AudFaceDataset(root_with_landmarks).splits["train"]
    boxes = feature_boxes_of(root_with_landmarks, train.img_ids)
    assert boxes.shape == (len(train), 3, 4)
    np.testing.assert_allclose(boxes[1], feature_boxes(face_points(8 + int(train.img_ids[1]) % 3, 20)))
    (root_with_landmarks / "ori_imgs" / f"{train.img_ids[0]}.lms").rename(tmp_path / "moved.lms")
    try:
        assert feature_boxes_of(root_with_landmarks, train.img_ids) is None
    finally:
        (tmp_path / "moved.lms").rename(root_with_landmarks / "ori_imgs" / f"{train.img_ids[0]}.lms")


def test_head_training_rays_follow_the_frame_boxes(root_with_landmarks, tmp_path, monkeypatch):
    import NeRFs.core.head as head
    drawn = []
    real = head.sample_pixels

    def recording(*args):
        drawn.append((args, real(*args)))
        return drawn[-1][1]

    monkeypatch.setattr(head, "sample_pixels", recording)
    trainer = HeadTrainer(make_args(root_with_landmarks, tmp_path, N_rand=200, feature_rays=0.5, backend="grid"))
    train = trainer.dataset.splits["train"]
    rng = np.random.default_rng(3)
    for _ in range(3):
        replay = np.random.default_rng()
        replay.bit_generator.state = rng.bit_generator.state
        k = int(replay.integers(len(train)))  # the frame draw_head_rays picks first
        draw_head_rays(trainer, 0, rng)
        (n, H, W, _, rect, rate, boxes, share), coords = drawn[-1]
        np.testing.assert_array_equal(rect, train.rects[k])
        np.testing.assert_array_equal(boxes, feature_boxes_of(root_with_landmarks, train.img_ids)[k])
        assert (n, share, rate) == (200, 0.5, trainer.args.sample_rate)
        in_boxes = np.zeros((H, W), dtype=bool)
        for box in boxes:
            in_boxes |= face_rect_mask(box, H, W)
        assert in_boxes[coords[:, 0], coords[:, 1]].sum() == min(100, in_boxes.sum())


def test_feature_share_outside_zero_to_one_is_refused(root_with_landmarks, tmp_path):
    with pytest.raises(UserError, match="feature_rays"):
        validate_args(make_args(root_with_landmarks, tmp_path, feature_rays=1.5))


def drawn_frames(trainer, steps: int, seed: int) -> list[int]:
    """The training frame of each of ``steps`` draws (read back from the rays' target pixels' source)."""
    import NeRFs.core.head as head
    seen = []
    real_image = trainer.dataset.image

    def image(split, k):
        seen.append(int(k))
        return real_image(split, k)

    trainer.dataset.image = image
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        head.draw_head_rays(trainer, 0, rng)
    trainer.dataset.image = real_image
    return seen


def test_eye_frames_draw_the_closed_eye_frames_that_share_of_the_steps(tmp_path_factory, tmp_path):
    from adnerf.eyes import closed_mask
    root = make_synthetic_dataset(tmp_path_factory.mktemp("eye_frames") / "synth", n_frames=60, size=24, eyes=True)
    plain = HeadTrainer(make_args(root, tmp_path / "a", backend="grid"))
    closed = set(np.flatnonzero(closed_mask(plain.dataset.splits["train"].eyes.numpy())).tolist())
    assert 0 < len(closed) < len(plain.dataset.splits["train"]) / 4
    assert set(plain.closed_eye_frames.tolist()) == closed
    base = drawn_frames(plain, 200, 5)
    always = HeadTrainer(make_args(root, tmp_path / "b", backend="grid", eye_frames=1.0))
    assert set(drawn_frames(always, 200, 5)) <= closed
    half = HeadTrainer(make_args(root, tmp_path / "c", backend="grid", eye_frames=0.5))
    share = np.mean([k in closed for k in drawn_frames(half, 400, 6)])
    assert 0.4 < share < 0.7 and np.mean([k in closed for k in base]) < 0.25
    # at 0 the draw is the original's
    assert drawn_frames(HeadTrainer(make_args(root, tmp_path / "d", backend="grid", eye_frames=0.0)), 200, 5) == base
