"""Learning-rate schedules of both backends and the start of AudioAttNet smoothing, read from what the
command lines write: a checkpoint per step (``--i_weights 1``) holds each optimiser's learning rate and the
AudioAttNet weights as they were after that step.

Schedules (the k-th step, k = 1, 2, ..., takes the rate of the k - 1 steps already taken):
- MLP (README, the original's): ``lrate * 0.1 ** ((k - 1) / (lrate_decay * 1000))`` for the NeRF and AudioNet
  optimisers, 5x that for AudioAttNet's; the torso's NeRF optimiser the same.
- grid (docs/grid_backend.md, RAD-NeRF's): ``base * 0.1 ** ((k - 1) / N_iters)``, base ``grid_lrate`` for the
  encoding, ``grid_lrate_net`` for the MLPs and AudioNet, 5 x ``grid_lrate_net`` for AudioAttNet.
- AudioAttNet takes part (and its optimiser steps) only in steps k > ``nosmo_iters``, in both backends.
"""
import pytest
import torch

# the command lines under test, imported in one place (a moved name is a one-line fix here)
from NeRFs.HeadNeRF.run_nerf import main as head_main
from NeRFs.TorsoNeRF.run_nerf import main as torso_main

# a tiny model and few rays: a step takes milliseconds; a checkpoint every step
TINY = ["--netwidth", "32", "--netwidth_fine", "32", "--N_samples", "8", "--N_importance", "8", "--N_rand", "64",
        "--grid_hidden", "16", "--grid_max_res", "32", "--grid_levels", "2", "--occ_res", "16",
        "--i_weights", "1", "--i_img", "100000", "--i_testset", "100000", "--i_print", "100000", "--testskip", "5",
        "--device", "cpu"]
LRATE, DECAY, NOSMO = 1e-3, 1, 2  # lrate_decay 1: x0.1 every 1000 steps, so a few steps already move the rate
GRID_LRATE, GRID_LRATE_NET = 3e-2, 6e-3


def _train(main, root, logs, kind: str, *extra: str) -> None:
    cfg = root / ("HeadNeRF_config.txt" if kind == "head" else "TorsoNeRF_config.txt")
    argv = ["--config", str(cfg), "--datadir", str(root), "--basedir", str(logs), *TINY, *extra]
    assert main(argv) == 0


def _checkpoints(folder, kind: str, steps) -> dict[int, dict]:
    out = {}
    for k in steps:
        path = folder / f"{k:06d}_{kind}.tar"
        assert path.is_file(), f"no checkpoint {path.name}"
        out[k] = torch.load(path, map_location="cpu", weights_only=True)
    return out


def _rates(ckpt: dict, key: str) -> list[float]:
    return [g["lr"] for g in ckpt[key]["param_groups"]]


def _mlp_rate(k: int) -> float:
    return LRATE * 0.1 ** ((k - 1) / (DECAY * 1000))


def _grid_rate(base: float, k: int, n_iters: int) -> float:
    return base * 0.1 ** ((k - 1) / n_iters)


def _check_attnet_smoothing(ckpts: dict[int, dict]) -> None:
    """AudioAttNet's weights and Adam state: untouched by steps 1 .. NOSMO, changed by every step after,
    whose count its Adam state holds; AudioNet changes at every step (so the steps did train)."""
    att = {k: c["network_audattnet_state_dict"] for k, c in ckpts.items()}
    aud = {k: c["network_audnet_state_dict"] for k, c in ckpts.items()}
    same = lambda a, b: all(torch.equal(a[n], b[n]) for n in a)  # noqa: E731
    steps = sorted(ckpts)
    for prev, k in zip(steps, steps[1:]):
        assert not same(aud[prev], aud[k]), f"AudioNet did not change in step {k}"
        assert same(att[prev], att[k]) == (k <= NOSMO), \
            f"AudioAttNet {'changed' if k <= NOSMO else 'did not change'} in step {k} (nosmo_iters {NOSMO})"
    for k in steps:
        state = ckpts[k]["optimizer_audatt_state_dict"]["state"]
        taken = {int(s["step"]) for s in state.values()}
        assert taken == ({k - NOSMO} if k > NOSMO else set()), f"AudioAttNet's Adam at step {k}: {taken}"


def test_mlp_head_learning_rate_and_smoothing_through_a_resume(synthetic_root, tmp_path):
    """4 steps in two runs (the second resumes at step 2): the rates follow the global step."""
    _train(head_main, synthetic_root, tmp_path, "head", "--N_iters", "2", "--nosmo_iters", str(NOSMO),
           "--lrate", str(LRATE), "--lrate_decay", str(DECAY))
    _train(head_main, synthetic_root, tmp_path, "head", "--N_iters", "4", "--nosmo_iters", str(NOSMO),
           "--lrate", str(LRATE), "--lrate_decay", str(DECAY))
    ckpts = _checkpoints(tmp_path / "synth_head", "head", range(1, 5))
    for k, ckpt in ckpts.items():
        assert _rates(ckpt, "optimizer_state_dict") == pytest.approx([_mlp_rate(k)], rel=1e-12), k
        assert _rates(ckpt, "optimizer_aud_state_dict") == pytest.approx([_mlp_rate(k)], rel=1e-12), k
        assert _rates(ckpt, "optimizer_audatt_state_dict") == pytest.approx([5 * _mlp_rate(k)], rel=1e-12), k
    assert _mlp_rate(4) < 0.995 * LRATE  # the rate did move: the comparison above can tell schedules apart
    _check_attnet_smoothing(ckpts)


def test_grid_head_learning_rate_and_smoothing(synthetic_root, tmp_path):
    n = 4
    _train(head_main, synthetic_root, tmp_path, "head", "--backend", "grid", "--N_iters", str(n),
           "--nosmo_iters", str(NOSMO), "--grid_lrate", str(GRID_LRATE), "--grid_lrate_net", str(GRID_LRATE_NET))
    ckpts = _checkpoints(tmp_path / "synth_head", "gridhead", range(1, n + 1))
    for k, ckpt in ckpts.items():
        assert _rates(ckpt, "optimizer_state_dict") == pytest.approx(
            [_grid_rate(GRID_LRATE, k, n), _grid_rate(GRID_LRATE_NET, k, n)], rel=1e-12), k
        assert _rates(ckpt, "optimizer_aud_state_dict") == pytest.approx(
            [_grid_rate(GRID_LRATE_NET, k, n)], rel=1e-12), k
        assert _rates(ckpt, "optimizer_audatt_state_dict") == pytest.approx(
            [5 * _grid_rate(GRID_LRATE_NET, k, n)], rel=1e-12), k
    _check_attnet_smoothing(ckpts)


@pytest.mark.parametrize("backend", ["mlp", "grid"])
def test_torso_learning_rate(synthetic_root, tmp_path, backend):
    """The torso's optimiser follows its backend's schedule over the torso's own steps; the frozen head's
    weights saved beside every body checkpoint are those of the head it was trained on."""
    n = 3
    grid = backend == "grid"
    opts = ["--backend", backend, "--lrate", str(LRATE), "--lrate_decay", str(DECAY), "--grid_lrate",
            str(GRID_LRATE), "--grid_lrate_net", str(GRID_LRATE_NET)]
    _train(head_main, synthetic_root, tmp_path, "head", "--N_iters", "1", *opts)
    _train(torso_main, synthetic_root, tmp_path, "torso", "--N_iters", str(n), *opts)
    head_kind, body_kind = ("gridhead", "gridbody") if grid else ("head", "body")
    bodies = _checkpoints(tmp_path / "synth_com", body_kind, range(1, n + 1))
    for k, body in bodies.items():
        want = [_grid_rate(GRID_LRATE, k, n), _grid_rate(GRID_LRATE_NET, k, n)] if grid else [_mlp_rate(k)]
        assert _rates(body, "optimizer_state_dict") == pytest.approx(want, rel=1e-12), k
    trained_head = _checkpoints(tmp_path / "synth_head", head_kind, [1])[1]
    beside = _checkpoints(tmp_path / "synth_com", head_kind, [n])[n]
    for name, value in trained_head["network_audnet_state_dict"].items():
        assert torch.equal(beside["network_audnet_state_dict"][name], value)
