"""The training loop shared by HeadNeRF and TorsoNeRF: resume, steps, logging, checkpoints, validation.

A subclass says what one step is (``train_step``), what a checkpoint holds (``checkpoint_payloads`` /
``load_payloads``) and how to render the validation frames (``render_split``).

Randomness is a function of (seed, step): the ray sampling and depth jitter of step i are the same
whether the run was resumed or not (the original reseeded numpy with 0 at every start, so a resumed run
replayed the first run's sampling order).
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .checkpoint import (clean_partial_checkpoints, list_checkpoints, load_checkpoint, resume_step,
                         save_checkpoint)
from .dataset import check_images
from .preflight import ExperimentLock, check_disk_space, check_writable
from .sequence import SequenceWriter, write_metrics
from .utils import UserError, mse_to_psnr, pick_device, to_uint8


class Trainer:
    """Generic loop. Subclasses set ``ckpt_kinds`` (file suffixes, e.g. ('head',)) and the hooks below."""

    ckpt_kinds: tuple[str, ...] = ("head",)

    def __init__(self, args: argparse.Namespace):
        self.args = args
        self.device = pick_device(args.device)
        self.out_dir = Path(args.basedir) / args.expname
        check_writable(self.out_dir)  # now, not at the first checkpoint thousands of steps in
        self.step = 0
        self._writer = None
        torch.manual_seed(args.seed)  # network initialisation

    # ----- hooks -----
    def before_train_step(self, step: int) -> None:
        """Work between steps that changes what is trained on (the head's pose refinement); none here."""

    def train_step(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, float]:
        raise NotImplementedError

    def checkpoint_payloads(self, step: int) -> dict[str, dict]:
        """{kind: payload} for each checkpoint file of a step."""
        raise NotImplementedError

    def load_payloads(self, ckpts: dict[str, dict], paths: dict[str, Path], with_optimizers: bool) -> None:
        raise NotImplementedError

    def render_split(self, split: str, step: int, indices=None):
        """Yield (index, rgb [H, W, 3] tensor, target [H, W, 3] tensor or None) for frames of a split."""
        raise NotImplementedError

    # ----- shared machinery -----
    @property
    def writer(self):
        if self._writer is None:
            from tensorboardX import SummaryWriter
            self._writer = SummaryWriter(str(self.out_dir / "tensorboard"))
        return self._writer

    def render_region(self, kind: str) -> torch.Tensor | None:
        """With --skip_bg_pixels: the pixels [H * W] the head ("head") / torso ("person") network may cover
        (regions.py), computed once from the training frames' parsing; else None (render every pixel)."""
        if not getattr(self.args, "skip_bg_pixels", False):
            return None
        cache = self.__dict__.setdefault("_regions", {})
        if kind not in cache:
            from .regions import region_mask
            ds = self.dataset
            cache[kind] = region_mask(ds.root, ds.splits["train"].img_ids, kind, (ds.H, ds.W), self.device)
            if cache[kind] is None:
                tqdm.write("warning: --skip_bg_pixels needs parsing/<id>.png of the training frames; rendering "
                           "every pixel")
        return cache[kind]

    def step_randomness(self, step: int) -> tuple[np.random.Generator, torch.Generator]:
        rng = np.random.default_rng([self.args.seed, step])
        gen = torch.Generator(device=self.device)
        gen.manual_seed(int(rng.integers(2 ** 62)))
        return rng, gen

    def checkpoint_paths(self, step: int) -> dict[str, Path]:
        return {kind: self.out_dir / f"{step:06d}_{kind}.tar" for kind in self.ckpt_kinds}

    def save(self, step: int) -> None:
        # the first kind is written last: a step counts as saved once its first-kind file exists
        payloads = self.checkpoint_payloads(step)
        paths = self.checkpoint_paths(step)
        for kind in reversed(self.ckpt_kinds):
            save_checkpoint(paths[kind], payloads[kind])

    def resume(self) -> int:
        """Load --ft_path, else the newest good checkpoint of out_dir (unless --no_reload). Returns the step.

        A checkpoint that cannot be read (truncated) or holds NaN / inf is skipped, saying so, and the next
        older one is used; an explicit --ft_path is never replaced by another file.
        """
        a = self.args
        if a.ft_path:
            candidates = [Path(a.ft_path)]
        elif not a.no_reload:
            candidates = list(reversed(list_checkpoints(self.out_dir, self.ckpt_kinds[0])))
        else:
            return 0
        skipped = []
        for main in candidates:
            paths = {self.ckpt_kinds[0]: main}
            for kind in self.ckpt_kinds[1:]:
                paths[kind] = main.with_name(main.name.replace(f"_{self.ckpt_kinds[0]}.tar", f"_{kind}.tar"))
            try:
                ckpts = {k: load_checkpoint(p, self.device) for k, p in paths.items() if p.is_file()}
                if self.ckpt_kinds[0] not in ckpts:
                    ckpts[self.ckpt_kinds[0]] = load_checkpoint(main, self.device)  # raises the clear error
            except UserError as exc:
                if a.ft_path:
                    raise
                tqdm.write(f"[{a.expname}] warning: skipping unusable checkpoint: {exc}")
                skipped.append(main.name)
                continue
            self.load_payloads(ckpts, paths, with_optimizers=True)
            self.step = resume_step(ckpts[self.ckpt_kinds[0]], main)
            note = f" (newest good one; skipped {', '.join(skipped)})" if skipped else ""
            tqdm.write(f"[{a.expname}] resumed from {main} at step {self.step}{note}")
            return self.step
        if skipped:
            raise UserError(f"no usable checkpoint in {self.out_dir}: {', '.join(skipped)} are all broken; move "
                            f"them away, or start over with --no_reload")
        return 0

    def preflight(self, start: int) -> None:
        """Before the first step: every image decodes, and the disk holds what the run will write."""
        a = self.args
        n = self.dataset.check_images()
        ds = self.dataset
        # the parsing masks are read too: by --skip_bg_pixels (regions.py) and by --torso_mask_loss (torso.py)
        if getattr(a, "skip_bg_pixels", False) or getattr(a, "torso_mask_loss", 0) > 0:
            masks = [ds.parsing_path("train", k) for k in range(len(ds.splits["train"]))]
            masks = [m for m in masks if m.is_file()]
            check_images(masks, (ds.W, ds.H), "preprocessing step 3")
            n += len(masks)
        payload = self.checkpoint_payloads(start)
        per_ckpt = sum(3 * t.numel() * t.element_size()  # weights + Adam's two moments
                       for p in payload.values() for k, sd in p.items()
                       if k.endswith("state_dict") and not k.startswith("optimizer") and isinstance(sd, dict)
                       for t in sd.values() if isinstance(t, torch.Tensor))
        steps = max(a.N_iters - start, 0)
        n_val = len(self.dataset.splits["val"]) if "val" in self.dataset.splits else 0
        check_disk_space(self.out_dir, {
            f"{steps // a.i_weights + 1} checkpoints": (steps // a.i_weights + 1) * per_ckpt,
            f"{steps // a.i_testset} validation renders": (steps // a.i_testset) * n_val * self.dataset.H
            * self.dataset.W * 3})
        tqdm.write(f"[{a.expname}] checked {n} images; {self.out_dir} is writable with room for this run")

    def fit(self) -> int:
        """Train under the experiment's lock, after removing partial checkpoint files of killed runs."""
        a = self.args
        with ExperimentLock(self.out_dir, a.expname) as lock:
            if lock.took_over:
                tqdm.write(f"[{a.expname}] took over the lock of pid {lock.took_over}, which is no longer running")
            removed = clean_partial_checkpoints(self.out_dir)
            if removed:
                tqdm.write(f"[{a.expname}] removed {len(removed)} partial checkpoint file(s) of an interrupted "
                           f"save: {', '.join(p.name for p in removed[:3])}")
            return self._fit()

    def _fit(self) -> int:
        a = self.args
        start = self.resume()
        if start >= a.N_iters:
            tqdm.write(f"[{a.expname}] already trained to step {start} >= N_iters {a.N_iters}; nothing to do")
            return start
        self.preflight(start)
        last_saved = start
        bar = tqdm(range(start + 1, a.N_iters + 1), initial=start, total=a.N_iters, desc=a.expname,
                   dynamic_ncols=True)
        for step in bar:
            self.before_train_step(step)
            rng, gen = self.step_randomness(step)
            logs = self.train_step(step, rng, gen)
            if not math.isfinite(logs.get("loss", 0.0)):
                # the weights are already poisoned: stop before anything of this state is written
                kept = self.checkpoint_paths(last_saved)[self.ckpt_kinds[0]]
                kept = f"the last good checkpoint {kept} is kept" if kept.is_file() else "no checkpoint was saved"
                raise UserError(f"step {step}: the loss is {logs['loss']} (not finite); training stopped before "
                                f"saving, {kept}. Check the inputs for NaN/inf and try a lower --lrate "
                                f"(now {a.lrate})")
            self.step = step
            if step % a.i_print == 0 or step == start + 1:
                bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items()})
                for k, v in logs.items():
                    self.writer.add_scalar(f"train/{k}", v, step)
            if step % a.i_weights == 0:
                self.save(step)
                last_saved = step
            if step % a.i_img == 0:
                self.log_val_image(step, rng)
            if step % a.i_testset == 0:
                self.validate(step)
        if last_saved != a.N_iters:
            self.save(a.N_iters)
        self.writer.flush()
        return a.N_iters

    @torch.no_grad()
    def log_val_image(self, step: int, rng: np.random.Generator) -> None:
        n_val = len(self.dataset.splits["val"])
        k = int(rng.integers(n_val))
        for _, rgb, target in self.render_split("val", step, [k]):
            self.writer.add_image("val/rgb", to_uint8(rgb), step, dataformats="HWC")
            if target is not None:
                self.writer.add_scalar("val/psnr_image", mse_to_psnr(((rgb - target) ** 2).mean()), step)

    @torch.no_grad()
    def render_to_folder(self, split: str, step: int, folder: Path, video: bool = True) -> dict:
        """Render a split in the one sequence format (sequence.py: PNGs, frames.json, video.mp4); returns
        and writes (metrics.json) the per-frame PSNR when targets exist."""
        frames, psnrs = self.dataset.splits[split], []
        with SequenceWriter(folder, self.args.video_fps, video, kind="validation", split=split, step=step,
                            testskip=self.args.testskip if split != "train" else 1) as seq:
            for k, rgb, target in tqdm(self.render_split(split, step), total=len(frames), desc=f"render {split}",
                                       leave=False):
                seq.add(rgb, frames.img_ids[k], frames.aud_ids[k])
                if target is not None:
                    psnrs.append(mse_to_psnr(((rgb - target) ** 2).mean()))
        return write_metrics(folder, step, psnrs, len(frames), seq.video_path)

    def validate(self, step: int) -> dict:
        res = self.render_to_folder("val", step, self.out_dir / f"testset_{step:06d}")
        if res["psnr_mean"] is not None:
            self.writer.add_scalar("val/psnr", res["psnr_mean"], step)
            tqdm.write(f"[{self.args.expname}] step {step}: validation PSNR {res['psnr_mean']:.2f} dB "
                       f"over {res['frames']} frames")
        return res
