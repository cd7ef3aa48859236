"""Eye conditioning (issue 19): a head trained on blinking eyes renders the eyes the signal asks for, in both
backends; checkpoints record it; older (audio-only) checkpoints load and render as before; driving picks
the eyes with --eyes."""
import json

import numpy as np
import pytest
import torch

from adnerf.eyes import count_blinks
from data_util.synthetic_head import make_synthetic_dataset, render_head
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint
from NeRFs.core.conditioning import EYE_KEY, head_condition
from NeRFs.core.eye_source import driving_eyes
from NeRFs.core.head import HeadTrainer
from NeRFs.core.models import render_image
from NeRFs.core.utils import UserError
from tests.support import CONDITION_GRID, CONDITION_MLP, make_args

MLP, GRID = CONDITION_MLP, CONDITION_GRID


@pytest.fixture(scope="module")
def blinking_root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("eyes") / "synth", n_frames=110, size=32, eyes=True)


@pytest.fixture(scope="module", params=["mlp", "grid"])
def trained(request, blinking_root, tmp_path_factory):
    opts = MLP if request.param == "mlp" else GRID
    t = HeadTrainer(make_args(blinking_root, tmp_path_factory.mktemp(request.param), i_weights=opts["N_iters"],
                              **opts))
    t.fit()
    return t


def eye_pixels(root, pose, ds) -> np.ndarray:
    """bool [H, W]: where the ground truth of ``pose`` differs between open and closed eyes."""
    bc = ds.bc_img.numpy()
    opened, closed = (render_head(pose.numpy().astype(np.float64), ds.focal, ds.H, ds.W, 0.0, bc, e)[0]
                      for e in (0.3, 0.05))
    return np.abs(opened - closed).sum(-1) > 0.3


def render_with_eye(t, pose, code, eye: float) -> np.ndarray:
    cond = head_condition(code, torch.tensor(eye))
    with torch.no_grad():
        return render_image(t.models, pose, cond, t.camera, t.settings.for_inference())["rgb_map"].numpy()


def test_renders_follow_the_eye_signal(trained, blinking_root):
    """One validation pose and audio code, the eye input swept from closed to open: the eye region turns
    dark as the signal opens (its mean brightness falls monotonically), the rest of the face hardly changes."""
    t = trained
    assert t.models.eye_condition
    ds = t.dataset
    pose = ds.splits["val"].poses[0]
    region = eye_pixels(blinking_root, pose, ds)
    assert region.sum() >= 4
    code = t.head_renderer(t.step).codes(t.auds["val"], ds.splits["val"].eyes)[0, :-1]
    imgs = [render_with_eye(t, pose, code, e) for e in (0.05, 0.15, 0.3)]
    brightness = [img[region].mean() for img in imgs]
    elsewhere = np.abs(imgs[2] - imgs[0]).sum(-1)[~region].mean()
    inside = np.abs(imgs[2] - imgs[0]).sum(-1)[region].mean()
    print(f"{t.backend.name}: eye-region brightness closed -> open {brightness}, change {inside:.3f} inside, "
          f"{elsewhere:.3f} elsewhere")
    assert brightness[0] > brightness[1] > brightness[2]
    assert inside > 0.3 and inside > 5 * elsewhere


def test_the_checkpoint_records_the_eye_condition(trained):
    ckpt = load_checkpoint(list_checkpoints(t_out := trained.out_dir, trained.backend.head_kind)[-1])
    assert ckpt[EYE_KEY] is True, t_out


def test_an_audio_only_checkpoint_resumes_and_serves_without_eyes(blinking_root, synthetic_root, tmp_path):
    """A checkpoint without the key (the original's, or trained on a dataset without eye values) is an
    audio-only head wherever it is loaded, though the options ask for eyes by default."""
    old = HeadTrainer(make_args(synthetic_root, tmp_path, N_iters=2, i_weights=2))
    assert not old.models.eye_condition  # the synthetic dataset without eyes: off, saying so
    old.fit()
    path = list_checkpoints(old.out_dir, "head")[-1]
    assert EYE_KEY not in load_checkpoint(path)   # exactly the original's keys
    resumed = HeadTrainer(make_args(blinking_root, tmp_path, N_iters=3, i_weights=3, ft_path=str(path)))
    assert resumed.models.eye_condition   # the dataset has eyes ...
    resumed.fit()
    assert not resumed.models.eye_condition   # ... but the checkpoint's condition wins
    assert EYE_KEY not in load_checkpoint(list_checkpoints(resumed.out_dir, "head")[-1])


def test_driving_eyes_choices(trained, tmp_path):
    cam = trained.camera
    frames = json.loads((trained.dataset.root / "transforms_val.json").read_text())["frames"]
    src = trained.dataset.root / "transforms_val.json"
    natural = driving_eyes("natural", 200, cam, frames, src, seed=3)   # 8 s
    assert 1 <= count_blinks(natural) <= 4 and natural.max() == pytest.approx(cam.open_eye, abs=1e-6)
    assert np.array_equal(natural, driving_eyes("natural", 200, cam, frames, src, seed=3))
    assert not np.array_equal(natural, driving_eyes("natural", 200, cam, frames, src, seed=4))
    assert np.allclose(driving_eyes("open", 7, cam, frames, src), cam.open_eye)
    pose = driving_eyes("pose", len(frames) + 2, cam, frames, src)
    assert np.allclose(pose[:len(frames)], [f["eye"] for f in frames], atol=1e-6) and pose[-1] == pose[1]
    assert np.array_equal(driving_eyes("auto", 5, cam, frames, src, aud_from_pose=True), pose[:5])
    reference = tmp_path / "ref.npy"
    np.save(reference, np.array([0.6, 0.6, 0.1]))   # another person's scale: median 0.6
    copied = driving_eyes(str(reference), 4, cam, frames, src)
    assert np.allclose(copied, np.array([1, 1, 1 / 6, 1]) * cam.open_eye, atol=1e-6)
    with pytest.raises(UserError, match="no such file"):
        driving_eyes(str(tmp_path / "missing.mp4"), 4, cam, frames, src)
    no_eyes = [{k: v for k, v in f.items() if k != "eye"} for f in frames]
    with pytest.raises(UserError, match="holds no eye values"):
        driving_eyes("pose", 4, cam, no_eyes, src)
