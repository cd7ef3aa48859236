"""Data-parallel training (NeRFs/core/distributed.py): 2 CPU processes (gloo) stay identical and learn."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from NeRFs.core.checkpoint import list_checkpoints
from NeRFs.core.utils import REPO_ROOT
from tests.support import make_args

STEPS = 16
SETTINGS = {
    "grid": {"backend": "grid", "N_rand": 256, "grid_samples": 24, "grid_max_res": 64, "grid_levels": 3,
             "occ_res": 32, "occ_update": 4},
    "mlp": {"netwidth": 64, "netwidth_fine": 64, "netdepth": 4, "netdepth_fine": 4, "N_rand": 128,
            "N_samples": 12, "N_importance": 12, "lrate": 3e-3},
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world: int, port: int, root: str, out: str, backend: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from NeRFs.core.distributed import distributed_trainer, leave_process_group
    from NeRFs.core.head import HeadTrainer
    args = make_args(Path(root), Path(out), N_iters=STEPS, **SETTINGS[backend])
    t = distributed_trainer(HeadTrainer)(args)
    t.resume()
    losses, first_rays = [], None
    for step in range(1, STEPS + 1):
        rng, gen = t.step_randomness(step)
        if step == 1:
            first_rays = int(rng.integers(1 << 30))
        losses.append(float(t.train_step(step, rng, gen)["loss"]))
    params = torch.cat([p.detach().reshape(-1) for o in t.optimizers() for g in o.param_groups for p in g["params"]])
    leave_process_group()  # what fit() ends with
    torch.save({"params": params, "losses": losses, "first_rays": first_rays, "threads": _thread_names()},
               Path(out) / f"rank{rank}.pt")


def _thread_names() -> list[str]:
    """The names of this process's native threads (gloo's are 'gloo_tcp_loop', 'pt_gloo_runloop')."""
    tasks = Path("/proc/self/task")
    return sorted((d / "comm").read_text().strip() for d in tasks.iterdir()) if tasks.is_dir() else []


@pytest.mark.parametrize("backend", ["grid", "mlp"])
def test_two_cpu_ranks_hold_identical_parameters_and_learn(backend, synthetic_root, tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(synthetic_root), str(tmp_path), backend), nprocs=2, join=True)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1))
    assert r0["first_rays"] != r1["first_rays"]  # each rank draws its own rays
    assert torch.equal(r0["params"], r1["params"])  # ... and the averaged gradients keep them identical
    # the group is really gone: a group that outlives the interpreter can abort a successful exit (SIGABRT)
    assert not [n for r in (r0, r1) for n in r["threads"] if "gloo" in n], (r0["threads"], r1["threads"])
    first, last = sum(r0["losses"][:4]) / 4, sum(r0["losses"][-4:]) / 4
    print(f"{backend}: loss {first:.4f} -> {last:.4f}")
    assert last < first


def test_torchrun_command_line(synthetic_root, tmp_path):
    """The README's command: torchrun --nproc_per_node 2 run_nerf.py ...; one checkpoint, written by rank 0."""
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
                str(_free_port())]
    cmd = torchrun + [str(REPO_ROOT / "NeRFs" / "HeadNeRF" / "run_nerf.py"), "--config",
                      str(synthetic_root / "HeadNeRF_config.txt"), "--basedir", str(tmp_path), "--N_iters", "4",
                      "--i_weights", "4", "--i_print", "1000", "--i_img", "100000", "--i_testset", "100000",
                      "--device", "cpu"] + [f"--{k}={v}" for k, v in SETTINGS["grid"].items()]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    assert "terminate called" not in run.stderr  # an exit that aborted after the work succeeded
    ckpts = list_checkpoints(tmp_path / "synth_head", "gridhead")
    assert [p.name for p in ckpts] == ["000004_gridhead.tar"]


def test_a_rank_whose_training_fails_still_leaves_the_group(synthetic_root, tmp_path, monkeypatch):
    """A failed rank exits too: with its group alive, the exit itself could abort and hide the error."""
    import torch.distributed as dist

    from NeRFs.core.distributed import DistributedMixin
    from NeRFs.core.head import HeadTrainer
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    for name in ("RANK", "LOCAL_RANK"):
        monkeypatch.setenv(name, "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    trainer = type("DistributedHead", (DistributedMixin, HeadTrainer), {})(
        make_args(synthetic_root, tmp_path, N_iters=2, device="cpu", **SETTINGS["mlp"]))

    def fails(self):
        raise RuntimeError("a step failed")
    monkeypatch.setattr(HeadTrainer, "fit", fails)
    with pytest.raises(RuntimeError, match="a step failed"):
        trainer.fit()
    assert not dist.is_initialized()


def _refine_worker(rank: int, world: int, port: int, root: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from NeRFs.core.distributed import distributed_trainer, leave_process_group
    from NeRFs.core.head import HeadTrainer
    args = make_args(Path(root), Path(out), datadir=root, N_iters=4, refine_poses=2, **SETTINGS["grid"])
    t = distributed_trainer(HeadTrainer)(args)
    t.resume()
    for step in range(1, 5):
        t.before_train_step(step)   # rank 0 refines at step 3, the other waits for it at the barrier
        rng, gen = t.step_randomness(step)
        t.train_step(step, rng, gen)
    leave_process_group()
    torch.save(t.dataset.splits["train"].poses.clone(), Path(out) / f"poses{rank}.pt")


def test_two_ranks_refine_the_poses_once_and_train_on_the_same_ones(dataset_copy, tmp_path):
    import json
    mp.spawn(_refine_worker, args=(2, _free_port(), str(dataset_copy), str(tmp_path)), nprocs=2, join=True)
    p0, p1 = (torch.load(tmp_path / f"poses{r}.pt") for r in (0, 1))
    written = json.loads((dataset_copy / "transforms_train.json").read_text())
    assert written["pose_refinement"]["head_step"] == 2
    assert torch.equal(p0, p1)
    torch.testing.assert_close(p0, torch.tensor([f["transform_matrix"] for f in written["frames"]]), atol=1e-6, rtol=0)
