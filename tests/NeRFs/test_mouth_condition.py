"""Mouth conditioning (issue 20): a head trained with --mouth_condition renders the mouth its signal asks for,
in both backends; the checkpoint holds the flag and the mouth predictor; driving predicts the mouth from the
sound (--mouth audio), or takes the poses' own (pose) or a file's; bad input is refused in one line."""
import json

import numpy as np
import pytest
import torch

from data_util.synthetic_head import MOUTH_SCALE, make_synthetic_dataset, render_head
from NeRFs.core.checkpoint import list_checkpoints, load_checkpoint
from NeRFs.core.conditioning import EYE_KEY, MOUTH_KEY, PREDICTOR_KEY, head_cond_dim, head_condition
from NeRFs.core.head import HeadTrainer
from NeRFs.core.models import render_image
from NeRFs.core.mouth_source import driving_mouth, driving_sound
from NeRFs.core.serving import load_head_renderer
from NeRFs.core.utils import UserError
from tests.support import CONDITION_GRID, CONDITION_MLP, make_args

MLP, GRID = CONDITION_MLP, CONDITION_GRID


@pytest.fixture(scope="module")
def talking_root(tmp_path_factory):
    return make_synthetic_dataset(tmp_path_factory.mktemp("mouth") / "synth", n_frames=110, size=32,
                                  mouth_values=True)


@pytest.fixture(scope="module", params=["mlp", "grid"])
def trained(request, talking_root, tmp_path_factory):
    opts = MLP if request.param == "mlp" else GRID
    t = HeadTrainer(make_args(talking_root, tmp_path_factory.mktemp(request.param), i_weights=opts["N_iters"],
                              mouth_condition=True, **opts))
    t.fit()
    return t


def lip_pixels(pose, ds) -> np.ndarray:
    """bool [H, W]: where the ground truth of ``pose`` differs between a closed and a wide open mouth."""
    bc = ds.bc_img.numpy()
    closed, opened = (render_head(pose.numpy().astype(np.float64), ds.focal, ds.H, ds.W, m, bc)[0] for m in (0, 1))
    return np.abs(opened - closed).sum(-1) > 0.3


def render_with_mouth(t, pose, code, mouth: float) -> np.ndarray:
    cond = head_condition(code, None, torch.tensor(mouth))
    with torch.no_grad():
        return render_image(t.models, pose, cond, t.camera, t.settings.for_inference())["rgb_map"].numpy()


def test_renders_follow_the_mouth_signal(trained):
    """One validation pose and audio code, the mouth input swept from closed to wide open: the lips' region
    turns dark red as the signal opens (its mean brightness falls monotonically), the rest hardly changes."""
    t = trained
    assert t.models.mouth_condition and not t.models.eye_condition
    assert t.models.audnet.dim_aud + 1 == head_cond_dim(t.args)
    ds = t.dataset
    pose = ds.splits["val"].poses[0]
    region = lip_pixels(pose, ds)
    assert region.sum() >= 4
    code = t.head_renderer(t.step).codes(t.auds["val"], None, ds.splits["val"].mouth)[0, :-1]
    imgs = [render_with_mouth(t, pose, code, m * MOUTH_SCALE) for m in (0.0, 0.5, 1.0)]
    brightness = [img[region].mean() for img in imgs]
    inside = np.abs(imgs[2] - imgs[0]).sum(-1)[region].mean()
    elsewhere = np.abs(imgs[2] - imgs[0]).sum(-1)[~region].mean()
    print(f"{t.backend.name}: lip-region brightness closed -> open {brightness}, change {inside:.3f} inside, "
          f"{elsewhere:.3f} elsewhere")
    assert brightness[0] > brightness[1] > brightness[2]
    assert inside > 0.3 and inside > 5 * elsewhere


def test_the_checkpoint_holds_the_flag_and_the_predictor(trained):
    """The file records the condition and the predictor; serving reads both back and predicts with it."""
    ckpt = load_checkpoint(list_checkpoints(trained.out_dir, trained.backend.head_kind)[-1])
    assert ckpt[MOUTH_KEY] is True and EYE_KEY not in ckpt
    assert ckpt[PREDICTOR_KEY] == trained.mouth_predictor and len(ckpt[PREDICTOR_KEY]["weights"]) == 36
    served = load_head_renderer(trained.args)
    assert served.reads_mouth and served.mouth_predictor == ckpt[PREDICTOR_KEY]
    feats = trained.dataset.splits["val"].auds
    mouth = trained.dataset.splits["val"].mouth
    assert torch.allclose(served.codes(feats, None, mouth), trained.head_renderer(trained.step).codes(
        trained.auds["val"], None, mouth).cpu(), atol=1e-5)


def test_driving_predicts_the_mouth_from_any_sound(trained, talking_root, tmp_path):
    """--mouth audio on the driving clip (another 'voice': its own sound) follows that clip's mouth; pose
    takes the pose file's values; an .npy is used as given; missing inputs are refused in one line."""
    src = talking_root / "transforms_val.json"
    frames = json.loads(src.read_text())["frames"]
    predictor = trained.mouth_predictor
    real = MOUTH_SCALE * np.load(talking_root / "drive" / "mouth_signal.npy")
    sound = driving_sound("drive/aud.npy", str(talking_root), None)
    assert sound == talking_root / "drive" / "aud.wav"
    ids = list(range(len(real)))
    predicted = driving_mouth("audio", ids, predictor, frames, src, sound)
    r = np.corrcoef(predicted, real)[0, 1]
    print(f"predicted vs real mouth of the driving clip: r {r:.2f}, std {predicted.std():.3f} / {real.std():.3f}")
    assert r > 0.8 and predicted.std() > 0.5 * real.std()
    assert np.array_equal(driving_mouth("auto", ids[2:5], predictor, frames, src, sound), predicted[2:5])
    pose = driving_mouth("pose", list(range(len(frames) + 2)), predictor, frames, src, None)
    assert np.allclose(pose[:len(frames)], [f["mouth"] for f in frames], atol=1e-6) and pose[-1] == pose[1]
    given = tmp_path / "mouth.npy"
    np.save(given, np.array([0.0, 0.1]))
    assert np.allclose(driving_mouth(str(given), [0, 1, 2], predictor, frames, src, None), [0.0, 0.1, 0.0])
    with pytest.raises(UserError, match="no .wav was found"):
        driving_mouth("audio", ids, predictor, frames, src, None)
    with pytest.raises(UserError, match="holds no mouth values"):
        driving_mouth("pose", ids, predictor, [{k: v for k, v in f.items() if k != "mouth"} for f in frames],
                      src, None)
    with pytest.raises(UserError, match="not an existing .npy"):
        driving_mouth("loud", ids, predictor, frames, src, None)
    np.save(given, np.array([0.1, np.nan]))
    with pytest.raises(UserError, match="NaN"):
        driving_mouth(str(given), ids, predictor, frames, src, None)


def test_training_refuses_a_dataset_without_mouth_values_or_sound(synthetic_root, talking_root, tmp_path):
    with pytest.raises(UserError, match="re-run preprocessing step 7"):
        HeadTrainer(make_args(synthetic_root, tmp_path, N_iters=1, mouth_condition=True))
    wav = talking_root / "aud.wav"
    wav.rename(wav.with_suffix(".bak"))
    try:
        with pytest.raises(UserError, match="aud.wav, which is missing"):
            HeadTrainer(make_args(talking_root, tmp_path, N_iters=1, mouth_condition=True))
    finally:
        wav.with_suffix(".bak").rename(wav)


def test_a_mouth_checkpoint_resumes_as_one_and_an_audio_only_one_stays_audio_only(talking_root, tmp_path):
    """The checkpoint's condition wins over the options, both ways."""
    first = HeadTrainer(make_args(talking_root, tmp_path / "a", N_iters=2, i_weights=2, mouth_condition=True))
    first.fit()
    path = list_checkpoints(first.out_dir, "head")[-1]
    resumed = HeadTrainer(make_args(talking_root, tmp_path / "b", N_iters=3, i_weights=3, ft_path=str(path)))
    assert not resumed.models.mouth_condition
    resumed.fit()
    assert resumed.models.mouth_condition and resumed.models.mouth_predictor == first.mouth_predictor
    plain = HeadTrainer(make_args(talking_root, tmp_path / "c", N_iters=2, i_weights=2))
    plain.fit()
    plain_path = list_checkpoints(plain.out_dir, "head")[-1]
    assert MOUTH_KEY not in load_checkpoint(plain_path) and PREDICTOR_KEY not in load_checkpoint(plain_path)
    again = HeadTrainer(make_args(talking_root, tmp_path / "d", N_iters=3, i_weights=3, ft_path=str(plain_path),
                                  mouth_condition=True))
    again.fit()
    assert not again.models.mouth_condition
