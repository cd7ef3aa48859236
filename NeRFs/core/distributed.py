"""Data-parallel training over several processes: ``torchrun --nproc_per_node N NeRFs/HeadNeRF/run_nerf.py ...``.

Each rank draws its own rays (its randomness is a function of (seed, step, rank)), computes its gradients,
and before every optimiser step the gradients are averaged over the ranks with one all-reduce per
optimiser: the arithmetic of DistributedDataParallel, done at the optimiser because the renderers call
sub-modules of the networks (``field.density`` ...) rather than their ``forward``, which DDP's wrapper
needs. All ranks start from rank 0's weights (broadcast after resuming), so they hold identical parameters
after every step. Rank 0 alone writes checkpoints, TensorBoard and validation renders. Backend: NCCL when
the ranks use CUDA devices (one per rank, ``cuda:LOCAL_RANK``), gloo on CPU.

Works for both backends (MLP and grid) and both networks; a single process is unaffected.
"""
from __future__ import annotations

import importlib
import os

import numpy as np
import torch
import torch.distributed as dist
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors


def world_size_from_env() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def init_from_env(device_arg: str) -> tuple[int, int, str]:
    """Join the process group torchrun describes. Returns (rank, world size, the device this rank uses)."""
    rank, world, local = int(os.environ["RANK"]), world_size_from_env(), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_arg in ("auto", "cuda", None, "")
    device = f"cuda:{local}" if use_cuda else ("cpu" if device_arg in ("auto", None, "") else device_arg)
    if use_cuda:
        torch.cuda.set_device(local)
    if not dist.is_initialized():
        # torch._dynamo (which torch.optim imports on first use) takes 10 references to a process group that
        # exists when it is imported, and destroy_process_group does not drop them (measured, torch 2.14):
        # the group then outlives the interpreter and its gloo threads abort the exit. Imported first, it
        # takes none.
        importlib.import_module("torch._dynamo")
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return rank, world, device


def leave_process_group() -> None:
    """Tear the process group down (a no-op without one).

    A process that exits with its group alive can end in SIGABRT ("terminate called without an active
    exception") after its work succeeded: gloo's worker threads, woken while the interpreter shuts down,
    cannot take the GIL. No wait for the other ranks first: a rank that finishes (or fails) leaves at once,
    and a wait would stall the others behind rank 0's last validation renders."""
    if dist.is_initialized():
        dist.destroy_process_group()


def average_gradients(params: list[torch.Tensor], world: int) -> None:
    """Replace each parameter's gradient by its mean over the ranks (missing gradients count as zero)."""
    params = [p for p in params if p.requires_grad]
    if not params:
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = _flatten_dense_tensors(grads)
    dist.all_reduce(flat)
    flat /= world
    for p, g in zip(params, _unflatten_dense_tensors(flat, grads)):
        if p.grad is None:
            p.grad = g.clone()
        else:
            p.grad.copy_(g)


class DistributedMixin:
    """Mixed in front of a Trainer class by ``distributed_trainer``; see the module docstring."""

    def __init__(self, args, *more, **options):
        self.rank, self.world, args.device = init_from_env(args.device)
        super().__init__(args, *more, **options)
        self.is_main = self.rank == 0
        self._hooked: set[int] = set()
        self.hook_optimizers()

    def hook_optimizers(self) -> None:
        """Average the gradients before every optimiser's step (each optimiser once; a resumed model may
        have rebuilt its optimisers)."""
        for opt in self.optimizers():
            if id(opt) not in self._hooked:
                opt.register_step_pre_hook(self._average_hook)
                self._hooked.add(id(opt))

    def load_payloads(self, *args, **kwargs) -> None:
        super().load_payloads(*args, **kwargs)
        self.hook_optimizers()

    def optimizers(self) -> list[torch.optim.Optimizer]:
        return [v for v in vars(self).values() if isinstance(v, torch.optim.Optimizer)]

    def _average_hook(self, optimizer, *_):
        average_gradients([p for g in optimizer.param_groups for p in g["params"]], self.world)

    def train_step(self, step, rng, gen):
        logs = super().train_step(step, rng, gen)
        for occ in getattr(self, "occupancy_grids", lambda: [])():
            # each rank probed the grid with its own frame and points: keep the maximum of all probes
            dist.all_reduce(occ.density, op=dist.ReduceOp.MAX)
            occ._mask = None
        return logs

    def step_randomness(self, step: int):
        rng, gen = super().step_randomness(step)
        rng = np.random.default_rng([self.args.seed, step, self.rank])  # each rank its own rays
        gen.manual_seed(int(rng.integers(2 ** 62)))
        return rng, gen

    def broadcast_state(self) -> None:
        """Every rank takes rank 0's parameters, buffers (e.g. the occupancy grid) and optimiser moments."""
        tensors = [t for m in vars(self).values() for t in _module_tensors(m)]
        for opt in self.optimizers():
            for state in opt.state.values():
                tensors += [v for v in state.values() if isinstance(v, torch.Tensor) and v.dim() > 0]
        for t in tensors:
            dist.broadcast(t.data, src=0)

    def resume(self) -> int:
        step = super().resume()
        steps = torch.tensor([step], dtype=torch.long, device=self.device)
        dist.broadcast(steps, src=0)  # all ranks continue from rank 0's step
        if int(steps) != step:
            raise RuntimeError(f"rank {self.rank} resumed at step {step}, rank 0 at {int(steps)}: every rank must "
                               f"see the same checkpoint folder")
        self.broadcast_state()
        return step

    def fit(self) -> int:
        try:
            # no experiment lock on the other ranks: rank 0 holds it and is the only one writing
            return super().fit() if self.is_main else self._fit()
        finally:
            leave_process_group()

    # only rank 0 writes
    def save(self, step: int) -> None:
        if self.is_main:
            super().save(step)

    def write_refined_poses(self, step: int) -> None:
        if self.is_main:
            super().write_refined_poses(step)
        dist.barrier()  # the other ranks read the poses rank 0 wrote

    def log_val_image(self, step, rng) -> None:
        if self.is_main:
            super().log_val_image(step, rng)

    def validate(self, step: int) -> dict:
        return super().validate(step) if self.is_main else {}

    @property
    def writer(self):
        if self.is_main:
            return super().writer
        return _NullWriter()


class _NullWriter:
    def __getattr__(self, name):
        return lambda *a, **k: None


def _module_tensors(obj) -> list[torch.Tensor]:
    """Parameters and buffers of a module, or of the modules held by a dataclass-like container."""
    if isinstance(obj, torch.nn.Module):
        return list(obj.parameters()) + list(obj.buffers())
    if hasattr(obj, "__dataclass_fields__"):
        return [t for v in vars(obj).values() for t in _module_tensors(v)]
    return []


def distributed_trainer(cls):
    """``cls`` itself in a single process, else a subclass with DistributedMixin in front of it."""
    if world_size_from_env() <= 1:
        return cls
    return type(f"Distributed{cls.__name__}", (DistributedMixin, cls), {})
