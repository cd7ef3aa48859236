"""What ``--render_only`` writes, read back: with ``--skip_bg_pixels`` the pixels it renders equal those of a
full render and every other pixel is the background image; the torso's frames are the model's renders
(round(255 x render) of the saved head + torso, rendered again from the checkpoints by a trainer).

Both backends, on a copy of the synthetic dataset with face parsing (tests/support.py), trained for two
steps per network by the command lines (such networks are not transparent around the person, so a skipped
pixel shows as a difference from the full render).
"""
import json
import shutil

import numpy as np
import pytest
import torch

from adnerf.media import read_image
from adnerf.sequence_record import read_sequence_record
from tests.support import make_args, parsing_with_a_hidden_neck

# the project code under test, imported in one place (a moved name is a one-line fix here)
from NeRFs.HeadNeRF.run_nerf import main as head_main
from NeRFs.TorsoNeRF.run_nerf import main as torso_main
from NeRFs.core.regions import region_mask
from NeRFs.core.torso import TorsoTrainer
from NeRFs.core.utils import mse_to_psnr


def torso_trainer(args):
    """The torso trainer of ``args.backend``, built from the options (it resumes from the checkpoints)."""
    return TorsoTrainer(args)


# a tiny model; two steps at high learning rates make renders that depend on the pose and the audio by
# several levels (at the default rates two steps change no pixel by more than 1/255)
TINY = {"netwidth": 32, "netwidth_fine": 32, "N_samples": 8, "N_importance": 8, "N_rand": 64, "grid_hidden": 16,
        "grid_max_res": 32, "grid_levels": 2, "occ_res": 16, "testskip": 2, "device": "cpu", "lrate": 2e-2,
        "grid_lrate": 0.2, "grid_lrate_net": 0.05}
STEPS = 2


def _argv(root, kind: str, backend: str, *extra: str) -> list[str]:
    cfg = root / ("HeadNeRF_config.txt" if kind == "head" else "TorsoNeRF_config.txt")
    opts = [x for k, v in {**TINY, "backend": backend}.items() for x in (f"--{k}", str(v))]
    return ["--config", str(cfg), "--datadir", str(root), "--basedir", str(root / "logs"), *opts, *extra]


@pytest.fixture(scope="module", params=["mlp", "grid"])
def trained(request, synthetic_root, tmp_path_factory):
    """(dataset root with parsing/, backend, {}): a head and a torso trained STEPS steps each by the command lines;
    the dict keeps ``_render_only``'s results for the tests that read the same renders."""
    root = tmp_path_factory.mktemp(f"equiv_{request.param}") / "synth"
    shutil.copytree(synthetic_root, root, ignore=shutil.ignore_patterns("logs"))
    parsing_with_a_hidden_neck(root)
    assert head_main(_argv(root, "head", request.param, "--N_iters", str(STEPS))) == 0
    assert torso_main(_argv(root, "torso", request.param, "--N_iters", str(STEPS))) == 0
    return root, request.param, {}


def _render_only(trained, kind: str, *extra: str) -> tuple[list[np.ndarray], dict]:
    """Run ``--render_only`` of ``kind`` (once per fixture); returns its frames (uint8 [H, W, 3], read back) and
    metrics.json."""
    root, backend, done = trained
    if (kind, extra) not in done:
        done[kind, extra] = _run_render_only(root, kind, backend, *extra)
    return done[kind, extra]


def _run_render_only(root, kind: str, backend: str, *extra: str) -> tuple[list[np.ndarray], dict]:
    main = head_main if kind == "head" else torso_main
    assert main(_argv(root, kind, backend, "--render_only", *extra)) == 0
    folder = root / "logs" / ("synth_head" if kind == "head" else "synth_com") / f"renderonly_val_{STEPS:06d}"
    record = read_sequence_record(folder)
    return [read_image(p).astype(int) for p in record.paths()], json.loads((folder / "metrics.json").read_text())


def _regions(root, shape) -> dict[str, np.ndarray]:
    """The pixels (bool [H, W]) --skip_bg_pixels renders for the head and for the torso."""
    train_ids = [f["img_id"] for f in json.loads((root / "transforms_train.json").read_text())["frames"]]
    out = {k: region_mask(root, train_ids, k, shape, torch.device("cpu")).numpy().reshape(shape)
           for k in ("head", "person")}
    for kind, region in out.items():
        assert 0 < region.sum() < region.size, f"the {kind} region is empty or the whole frame: nothing tested"
    assert not (out["head"] & ~out["person"]).any()  # the person includes the head
    return out


def test_skip_bg_pixels_head_renders_its_region_as_a_full_render_and_the_background_elsewhere(trained):
    root, backend, _ = trained
    full, _ = _render_only(trained, "head")
    skipped, _ = _render_only(trained, "head", "--skip_bg_pixels")
    bc = read_image(root / "bc.jpg").astype(int)
    region = _regions(root, bc.shape[:2])["head"]
    assert len(full) == len(skipped) == 3
    for a, b in zip(full, skipped):
        assert np.abs(b[region] - a[region]).max() <= 1  # rendered pixels: the full render's (+-1: rounding)
        assert np.array_equal(b[~region], bc[~region])  # the others: the background image itself
        # the barely trained networks are not transparent outside the region, so there the full render is
        # not the background: a render that skipped nothing would fail the line above
        assert (np.abs(a[~region] - bc[~region]).max(-1) >= 1).mean() > 0.5


def test_skip_bg_pixels_torso_renders_the_person_and_the_background_elsewhere(trained):
    """Head + torso: the head region as a full render; the rest of the person region differs from the full
    render only by the head's colour there, which the skipping render leaves out (the head is bc.jpg outside
    its region, seen through the torso); outside the person, the background image itself."""
    root, backend, _ = trained
    full, _ = _render_only(trained, "torso")
    skipped, _ = _render_only(trained, "torso", "--skip_bg_pixels")
    heads, _ = _render_only(trained, "head")  # the head alone, every pixel rendered
    bc = read_image(root / "bc.jpg").astype(int)
    regions = _regions(root, bc.shape[:2])
    head, person = regions["head"], regions["person"]
    body = person & ~head
    assert body.any()
    for a, b, h in zip(full, skipped, heads):
        assert np.abs(b[head] - a[head]).max() <= 1
        head_left_out = np.abs(h[body] - bc[body])  # |C_head - bc| there: the most C_head * T_torso can change
        assert (np.abs(b[body] - a[body]) <= head_left_out + 2).all()
        assert np.array_equal(b[~person], bc[~person])
        assert (np.abs(a[~person] - bc[~person]).max(-1) >= 1).mean() > 0.5


def test_torso_render_only_writes_the_saved_model_renders(trained):
    """Every frame = round(255 x the float render) of the checkpoints (+-1); metrics.json's PSNR is that of the
    float render against com_imgs; and the torso is in the frames (they are not the head's frames)."""
    root, backend, _ = trained
    frames, metrics = _render_only(trained, "torso")
    head_frames, _ = _render_only(trained, "head")
    args = make_args(root, root / "logs", kind="torso", datadir=str(root), backend=backend, **TINY)
    trainer = torso_trainer(args)
    assert trainer.resume() == STEPS
    rendered = list(trainer.render_split("val", STEPS))
    assert len(rendered) == len(frames) == metrics["frames"] == 3
    # the frames differ from each other by several levels: a frame rendered with another frame's pose or
    # audio would not pass the comparison below
    assert min(np.abs(frames[i] - frames[i + 1]).max() for i in range(2)) > 3
    for (k, rgb, target), png, head in zip(rendered, frames, head_frames):
        want = np.round(255 * rgb.cpu().numpy())
        assert np.abs(png - want).max() <= 1, k
        assert metrics["psnr_per_frame"][k] == pytest.approx(mse_to_psnr(((rgb - target) ** 2).mean()), abs=1e-3)
        assert (np.abs(png - head).max(-1) > 3).mean() > 0.2  # the torso is in the frames
