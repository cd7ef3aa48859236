"""--eye_rays and --eye_frames_audio: what the head's closed-eye steps (--eye_frames) train on."""
import numpy as np
import pytest
import torch

from adnerf.eyes import closed_mask
from data_util.synthetic_head import make_synthetic_dataset
from NeRFs.core.dataset import feature_boxes_of
from NeRFs.core.head import HeadTrainer, draw_head_rays
from NeRFs.core.rays import face_rect_mask
from NeRFs.core.utils import UserError
from NeRFs.core.validate import validate_args
from tests.NeRFs.test_feature_rays import face_points
from tests.support import make_args


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A synthetic head with blinks (transforms 'eye') and landmarks whose eyes move from frame to frame."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("eye_rays") / "synth", n_frames=60, size=32, eyes=True)
    for k, path in enumerate(sorted((root / "ori_imgs").glob("*.jpg"))):
        np.savetxt(path.with_suffix(".lms"), face_points(8 + k % 3, 20), fmt="%.6f")
    return root


def recorded_draws(trainer, monkeypatch, steps: int, seed: int):
    """(frame, sample_pixels' boxes, share, coords, condition) of ``steps`` head ray draws."""
    import NeRFs.core.head as head
    draws, frames = [], []
    real_pixels, real_image = head.sample_pixels, trainer.dataset.image

    def pixels(*args):
        draws.append([args[6], args[7], real_pixels(*args)])
        return draws[-1][-1]

    def image(split, k):
        frames.append(int(k))
        return real_image(split, k)

    monkeypatch.setattr(head, "sample_pixels", pixels)
    monkeypatch.setattr(trainer.dataset, "image", image)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(steps):
        cond = draw_head_rays(trainer, 0, rng)[4]
        out.append((frames[-1], *draws[-1], cond))
    return out


def in_boxes(boxes, coords, H, W) -> int:
    mask = np.zeros((H, W), dtype=bool)
    for box in boxes:
        mask |= face_rect_mask(box, H, W)
    return int(mask[coords[:, 0], coords[:, 1]].sum()), int(mask.sum())


def test_eye_rays_put_that_share_of_the_closed_eye_steps_rays_on_the_eyes(root, tmp_path, monkeypatch):
    trainer = HeadTrainer(make_args(root, tmp_path, N_rand=200, backend="grid", eye_frames=0.5, eye_rays=0.5))
    train = trainer.dataset.splits["train"]
    closed = set(np.flatnonzero(closed_mask(train.eyes.numpy())).tolist())
    all_boxes = feature_boxes_of(root, train.img_ids)
    H, W = trainer.dataset.H, trainer.dataset.W
    eye_steps = other_steps = 0
    for k, boxes, share, coords, _ in recorded_draws(trainer, monkeypatch, 40, 2):
        if k in closed and share > 0:   # a closed-eye step: the two eye boxes of its own frame
            eye_steps += 1
            np.testing.assert_array_equal(boxes, all_boxes[k][1:])
            hits, area = in_boxes(boxes, coords, H, W)
            assert share == 0.5 and hits == min(100, area)
        else:   # the other steps draw as without the option (no --feature_rays: no boxes)
            other_steps += 1
            assert share == 0.0
    assert eye_steps >= 10 and other_steps >= 10


def test_eye_frames_audio_random_keeps_the_eye_and_takes_another_frames_sound(root, tmp_path, monkeypatch):
    for audio in ("own", "random"):
        trainer = HeadTrainer(make_args(root, tmp_path / audio, N_rand=64, backend="grid", eye_frames=1.0,
                                        eye_frames_audio=audio))
        dim, moved = trainer.args.dim_aud, 0
        for k, _, _, _, cond in recorded_draws(trainer, monkeypatch, 12, 4):
            expected = trainer.frame_condition("train", k, False)   # the closed-eye frame's own condition
            torch.testing.assert_close(cond[dim:], expected[dim:])   # its eye value either way
            moved += not torch.allclose(cond[:dim], expected[:dim])
        # own: the frame's own sound; random: another frame's (rarely the same frame by chance)
        assert moved == 0 if audio == "own" else moved >= 8


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_audio_shuffle_gives_that_share_of_all_steps_another_frames_sound(root, tmp_path, monkeypatch, share):
    trainer = HeadTrainer(make_args(root, tmp_path / str(share), N_rand=64, backend="grid", audio_shuffle=share))
    dim, moved, steps = trainer.args.dim_aud, 0, 40
    for k, _, _, _, cond in recorded_draws(trainer, monkeypatch, steps, 5):
        expected = trainer.frame_condition("train", k, False)
        torch.testing.assert_close(cond[dim:], expected[dim:])   # the eye input stays the frame's own
        moved += not torch.allclose(cond[:dim], expected[:dim])
    # which steps shuffle is random (binomial), and a random frame is now and then the same frame (1 in 50)
    assert moved == {0.0: 0, 0.5: pytest.approx(20, abs=8), 1.0: pytest.approx(39, abs=2)}[share]


@pytest.mark.parametrize("options, word", [({"eye_rays": 1.5, "eye_frames": 0.2}, "eye_rays"),
                                           ({"eye_rays": 0.5}, "eye_frames"),
                                           ({"audio_shuffle": -0.1}, "audio_shuffle")])
def test_bad_eye_rays_are_refused_in_one_line(root, tmp_path, options, word):
    with pytest.raises(UserError, match=word) as err:
        validate_args(make_args(root, tmp_path, **options))
    assert "\n" not in str(err.value)
