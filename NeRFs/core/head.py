"""Head-NeRF: the audio-conditioned NeRF of the head, trained on head_imgs against the background bc.jpg.

One trainer for every backend: the backend's head model (models.py) builds the fields, optimisers and
learning-rate schedule, renders the rays, adds its regulariser and runs its per-step callback; what is the
same for all is here: one random training image per step with ``sample_rate`` of its ``N_rand`` rays in the
face rectangle, AudioNet per frame and AudioAttNet smoothing after ``nosmo_iters`` (its optimiser steps
only then), the image loss (plus the coarse pass's where the model has one), checkpoints, validation.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from adnerf.eyes import closed_mask

from .audio import frame_code
from .checkpoint import AUDATT_OPTIMIZER_KEYS, load_optimizer
from .conditioning import EYE_KEY, MOUTH_KEY, head_condition, reads_eyes, reads_mouth
from .dataset import AudFaceDataset, feature_boxes_of
from .models import Backend, Camera
from .mouth_source import fit_mouth_predictor
from .pose_refine import frozen, poses_by_img_id, refine_pose_file, refinement_record
from .rays import rays_at, sample_pixels
from .trainer import Trainer
from .utils import mse_to_psnr

OPTIMIZER_KEYS = ("optimizer_state_dict", "optimizer_aud_state_dict", AUDATT_OPTIMIZER_KEYS)


def draw_head_rays(trainer, step: int, rng: np.random.Generator):
    """The rays of one head training step, drawn as the original draws them: one random training image,
    ``N_rand`` pixels of it (``sample_rate`` of them inside its face rectangle); with ``feature_rays``, that
    share of them first inside the frame's boxes of mouth and eyes; with ``eye_frames``, that share of the
    steps takes its image among the frames with closed eyes (rare in a video: ~5 % of the frames), on those
    steps ``eye_rays`` of the rays inside the eyes' boxes and, with ``eye_frames_audio`` 'random', the audio
    code of a random training frame; with ``audio_shuffle``, that share of all steps reads a random frame's
    audio code.

    Returns rays_o, rays_d, target, bc_rgb [N_rand, 3], the frame's condition [head_cond_dim] and whether
    smoothing is on."""
    a, ds, dev = trainer.args, trainer.dataset, trainer.device
    train = ds.splits["train"]
    k = int(rng.integers(len(train)))
    closed = trainer.closed_eye_frames
    eye_step = False
    if len(closed) and getattr(a, "eye_frames", 0.0) > 0 and rng.random() < a.eye_frames:
        k = int(closed[rng.integers(len(closed))])
        eye_step = True
    target_img = ds.image("train", k).to(dev)
    boxes = None if trainer.feature_boxes is None else trainer.feature_boxes[k]
    share = getattr(a, "feature_rays", 0.0)
    if eye_step and getattr(a, "eye_rays", 0.0) > 0 and boxes is not None:
        boxes, share = boxes[1:], a.eye_rays  # [2, 4]: the eyes' boxes (feature_boxes: mouth, left, right eye)
    coords = torch.from_numpy(sample_pixels(a.N_rand, ds.H, ds.W, rng, train.rects[k], a.sample_rate,
                                            boxes, share)).to(dev)
    rays_o, rays_d = rays_at(coords, ds.focal, train.poses[k].to(dev), ds.cx, ds.cy)
    target = target_img[coords[:, 0], coords[:, 1]]
    bc_rgb = trainer.bc_img[coords[:, 0], coords[:, 1]]
    smooth = trainer.smoothing(step)
    cond = trainer.frame_condition("train", k, smooth)
    shuffle = getattr(a, "audio_shuffle", 0.0)
    # the closed-eye frames are few: their own sound would be an easy code for their blinks; and any
    # frame's own sound is a code for its whole face (--audio_shuffle: the eye and mouth inputs must carry it)
    if ((eye_step and getattr(a, "eye_frames_audio", "own") == "random")
            or (shuffle > 0 and rng.random() < shuffle)):
        other = trainer.frame_condition("train", int(rng.integers(len(train))), smooth)
        cond = torch.cat([other[:a.dim_aud], cond[a.dim_aud:]])
    return rays_o, rays_d, target, bc_rgb, cond, smooth


def dataset_camera(ds: AudFaceDataset, args: argparse.Namespace, bc_img: torch.Tensor, device) -> Camera:
    """The Camera of a loaded dataset: the torso's fixed camera is the first training pose."""
    first = ds.splits["train"] if "train" in ds.splits else next(iter(ds.splits.values()))
    return Camera(ds.H, ds.W, ds.focal, ds.cx, ds.cy, args.near, args.far, bc_img, first.poses[0].to(device),
                  first.poses, first.eyes, first.mouth)


def choose_eye_condition(args: argparse.Namespace, dataset: AudFaceDataset) -> None:
    """A new head reads the eye signal with ``--eye_condition`` (the default) when every training frame has
    an ``eye`` value (preprocessing step 7 writes them; the original's datasets have none: then off, saying so)."""
    if getattr(args, "eye_condition", False) and dataset.splits["train"].eyes is None:
        tqdm.write("note: the training frames have no eye values (transforms_train.json from an older "
                   "preprocessing); the head is trained on the audio alone (re-run step 7 for eyes)")
        args.eye_condition = False


class FrameTrainer(Trainer):
    """What the head and torso trainers share: the dataset, its audio, the camera and the backend."""

    def __init__(self, args: argparse.Namespace, images: str, backend: type[Backend] | None = None, settings=None):
        super().__init__(args)
        if backend is None:
            from .backends import backend_for
            backend = backend_for(args)
        self.backend = backend
        self.ckpt_kinds = self.kinds(backend)
        self.dataset = AudFaceDataset(args.datadir, images, args.aud_file, args.testskip)
        self.bc_img = self.dataset.bc_img.to(self.device)
        self.auds = {k: v.auds.to(self.device) for k, v in self.dataset.splits.items()}
        self.camera = dataset_camera(self.dataset, args, self.bc_img, self.device)
        self.settings = settings if settings is not None else backend.render_settings(args)
        # each split's eye and mouth opening on the device once (a split without values: the training level)
        self.split_eyes = {k: (v.eyes if v.eyes is not None else torch.full((len(v),), self.camera.open_eye))
                           .to(self.device) for k, v in self.dataset.splits.items()}
        self.split_mouth = {k: (v.mouth if v.mouth is not None else torch.full((len(v),), self.camera.rest_mouth))
                            .to(self.device) for k, v in self.dataset.splits.items()}

    def eyes(self, split: str) -> torch.Tensor | None:
        """The eye openness [N] of a split's frames for an eye-conditioned head (None for an audio-only one);
        a split without eye values gets the training frames' open level."""
        return self.split_eyes[split] if reads_eyes(self.head) else None

    def mouth(self, split: str) -> torch.Tensor | None:
        """The measured mouth opening [N] of a split's frames for a mouth-conditioned head (else None)."""
        return self.split_mouth[split] if reads_mouth(self.head) else None

    def frame_condition(self, split: str, k: int, smooth: bool) -> torch.Tensor:
        """The head's condition [head_cond_dim] of frame k of a split: its audio code (AudioAttNet-smoothed
        over its neighbours when ``smooth``) and the eye / mouth openings the head reads."""
        code = frame_code(self.head.audnet, self.head.attnet, self.auds[split], k, smooth, self.args.smo_size)
        eyes, mouth = self.eyes(split), self.mouth(split)
        return head_condition(code, None if eyes is None else eyes[k], None if mouth is None else mouth[k])

    def display_settings(self):
        return self.settings.for_inference(self.args.early_stop_T, self.device)


class HeadTrainer(FrameTrainer):
    """Trains the head model of ``backend`` (default: the one ``args.backend`` names)."""

    @staticmethod
    def kinds(backend) -> tuple[str, ...]:
        return (backend.head_kind,)

    def __init__(self, args: argparse.Namespace, backend: type[Backend] | None = None, settings=None):
        super().__init__(args, "head_imgs", backend, settings)
        choose_eye_condition(args, self.dataset)
        train = self.dataset.splits["train"]
        # --mouth_condition: the predictor of the mouth from the training sound, fitted before any step
        self.mouth_predictor = (fit_mouth_predictor(self.dataset.root, train)
                                if getattr(args, "mouth_condition", False) else None)
        # [N, 3, 4] mouth and eye boxes of the training frames, read only when --feature_rays / --eye_rays need them
        boxed = getattr(args, "feature_rays", 0.0) > 0 or getattr(args, "eye_rays", 0.0) > 0
        self.feature_boxes = feature_boxes_of(self.dataset.root, train.img_ids) if boxed else None
        if boxed and self.feature_boxes is None:
            tqdm.write("note: --feature_rays / --eye_rays without landmarks for every training frame "
                       "(ori_imgs/<id>.lms, step 2): the rays are drawn from the face rect alone")
        # the training frames with closed eyes (below half the median openness), for --eye_frames
        self.closed_eye_frames = (np.flatnonzero(closed_mask(train.eyes.numpy())) if train.eyes is not None
                                  else np.zeros(0, dtype=int))
        # --refine_poses happens once per dataset: a file refined before is trained on as it is
        self.poses_refined = refinement_record(self.dataset.root / "transforms_train.json") is not None
        self.build_models(args)

    def before_train_step(self, step: int) -> None:
        """--refine_poses: past half the steps (or at the first step of a run resumed past it), the training
        poses refitted by the field of the step before, unless transforms_train.json held refined poses when
        the training started; the training goes on with the file's poses (pose_refine.py)."""
        a = self.args
        if getattr(a, "refine_poses", 0) <= 0 or step <= a.N_iters // 2 or self.poses_refined:
            return
        self.poses_refined = True
        path = self.dataset.root / "transforms_train.json"
        self.write_refined_poses(step - 1)  # every rank calls it: the distributed one meets at a barrier
        train = self.dataset.splits["train"]
        train.poses.copy_(poses_by_img_id(path, train.img_ids).to(train.poses))  # in place: the camera holds them

    def write_refined_poses(self, step: int) -> None:
        """Refit the training poses with the networks of ``step``, frozen meanwhile; write the files."""
        a = self.args
        self.models.eval()
        try:
            with frozen(self.models.modules()):
                record = refine_pose_file(self.head_renderer(step), self.settings, self.dataset.root,
                                          a.refine_poses, a.N_rand, a.aud_file)
        finally:
            self.models.train()
        tqdm.write(f"[{a.expname}] step {step}: refined {record['frames_fitted']} of {record['frames']} training "
                   f"poses (mean correction {record['mean_correction_deg']:.2f} deg, "
                   f"{record['mean_correction_px']:.2f} px); the tracked ones: {self.dataset.root / record['tracked_poses']}")
        self.writer.add_scalar("train/pose_correction_deg", record["mean_correction_deg"], step)
        self.writer.add_scalar("train/pose_correction_px", record["mean_correction_px"], step)

    def build_models(self, args: argparse.Namespace) -> None:
        self.models = self.head = self.backend.Head.build(args, self.dataset.aud_channels, self.camera, self.device)
        if reads_mouth(self.head):  # a resumed checkpoint's own predictor replaces it in load
            self.head.mouth_predictor = self.mouth_predictor
        self.optimizer, self.optimizer_aud, self.optimizer_audatt = self.models.optimizers(args)

    def smoothing(self, step: int) -> bool:
        return step > self.args.nosmo_iters

    def head_optimizers(self) -> list[torch.optim.Optimizer]:
        return [self.optimizer, self.optimizer_aud, self.optimizer_audatt]

    def occupancy_grids(self):
        """The occupancy grids this trainer updates (kept identical across ranks by distributed.py)."""
        return self.models.occupancy_grids()

    def set_learning_rate(self, step: int) -> float:
        return self.models.set_learning_rate(self.head_optimizers(), step, self.args)

    def train_step(self, step: int, rng: np.random.Generator, gen: torch.Generator) -> dict[str, float]:
        a, m = self.args, self.models
        m.before_step(step, a, lambda: self.frame_condition("train", int(rng.integers(len(self.dataset.splits[
            "train"]))), self.smoothing(step)), gen)
        rays_o, rays_d, target, bc_rgb, cond, smooth = draw_head_rays(self, step, rng)
        out = m.render_rays(rays_o, rays_d, a.near, a.far, bc_rgb, cond, self.settings, gen)
        img_loss = F.mse_loss(out["rgb_map"], target)
        loss = img_loss + m.regulariser(cond, a, gen)
        if "rgb0" in out:  # the coarse pass is trained too (as the original)
            loss = loss + F.mse_loss(out["rgb0"], target)
        lr = self.set_learning_rate(step - 1)  # lr of the step about to be taken, as the original's schedule
        for opt in self.head_optimizers():
            opt.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.optimizer_aud.step()
        if smooth:  # before smoothing AudioAttNet gets no gradient (as the original)
            self.optimizer_audatt.step()
        return {"loss": loss.item(), "psnr": mse_to_psnr(img_loss.item()), "lr": lr, **m.step_logs()}

    def checkpoint_payloads(self, step: int) -> dict[str, dict]:
        payload = {"global_step": step, **self.models.state_dicts(),
                   **{keys if isinstance(keys, str) else keys[0]: opt.state_dict()
                      for keys, opt in zip(OPTIMIZER_KEYS, self.head_optimizers())}}
        return {self.ckpt_kinds[0]: payload}

    def load_payloads(self, ckpts: dict[str, dict], paths: dict[str, Path], with_optimizers: bool) -> None:
        ckpt, path = ckpts[self.ckpt_kinds[0]], paths[self.ckpt_kinds[0]]
        for key, reads, name in ((EYE_KEY, reads_eyes, "eye"), (MOUTH_KEY, reads_mouth, "mouth")):
            if bool(ckpt.get(key, False)) != reads(self.models):  # the checkpoint's condition wins
                tqdm.write(f"note: {path} was trained {'with' if ckpt.get(key) else 'without'} the {name} "
                           f"signal; resuming it so")
                setattr(self.args, key, bool(ckpt.get(key, False)))
                self.build_models(self.args)
        modules = self.models.modules()
        self.models.load(ckpt, path)
        if any(a is not b for a, b in zip(modules, self.models.modules())):
            # the model rebuilt a module to fit the file (grid: its resolution): optimise what was loaded
            self.optimizer, self.optimizer_aud, self.optimizer_audatt = self.models.optimizers(self.args)
        if not with_optimizers:
            return
        # a checkpoint whose optimiser state does not fit (e.g. of a coarse-only run) gives its weights only
        try:
            for keys, opt in zip(OPTIMIZER_KEYS, self.head_optimizers()):
                load_optimizer(opt, ckpt, keys)
        except (ValueError, KeyError) as exc:
            tqdm.write(f"warning: optimiser state of {path} not loaded ({exc}); optimisers start fresh")

    def head_renderer(self, step: int):
        """The serving object (serving.py) around this trainer's networks, as they are at ``step``."""
        from .serving import HeadRenderer
        return HeadRenderer(self.models, self.camera, self.display_settings(), self.smoothing(step),
                            self.args.smo_size, self.render_region("head"), step)

    @torch.no_grad()
    def render_split(self, split: str, step: int, indices=None):
        frames = self.dataset.splits[split]
        renderer = self.head_renderer(step)
        self.models.eval()
        try:
            codes = renderer.codes(self.auds[split], self.eyes(split), self.mouth(split))
            for k in range(len(frames)) if indices is None else indices:
                yield k, renderer.render(frames.poses[k], codes[k]), self.dataset.image(split, k).to(self.device)
        finally:  # also when the caller stops early (next(...)): the model trains on in train mode
            self.models.train()
