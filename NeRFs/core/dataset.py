"""Loading a preprocessed dataset/<id>/ folder in the original AD-NeRF layout.

Files read: transforms_train.json, transforms_val.json (focal_len, cx, cy, frames[{img_id, aud_id,
transform_matrix, face_rect, optional eye}]), <image_dir>/<img_id>.jpg (head_imgs for the head, com_imgs for the torso),
bc.jpg (background) and the audio features (aud.npy, [N, 16, C]); for the head's feature rays, on request,
ori_imgs/<img_id>.lms (``feature_boxes_of``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from adnerf.landmarks import feature_boxes
from adnerf.media import decode_problem, read_image as read_uint8_image

from .regions import parsing_labels
from .utils import UserError, read_image_float

# Audio features may legitimately be a frame or two shorter than the video (rounding of the audio
# length); more than this is a broken dataset, not rounding.
AUDIO_FRAME_TOLERANCE = 2
REWRITE_AUDIO = "re-run preprocessing step 0 (python data_util/process_data.py --id <id> --step 0 --force)"
REWRITE_POSES = ("re-run preprocessing steps 6 and 7 (python data_util/process_data.py --id <id> --step 6 "
                 "--force, then --step 7)")


def first_bad_row(arr: np.ndarray) -> int | None:
    """Index along the first axis of the first row holding NaN or inf, else None."""
    bad = ~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def check_features(arr: np.ndarray, path: Path, rewrite: str = REWRITE_AUDIO) -> None:
    """Audio features must be finite: one NaN row poisons every step that samples it."""
    row = first_bad_row(arr)
    if row is not None:
        n = int((~np.isfinite(arr.reshape(len(arr), -1)).all(axis=1)).sum())
        raise UserError(f"audio features {path}: frame {row} holds NaN or inf ({n} of {len(arr)} frames "
                        f"non-finite); {rewrite}")


def check_poses(poses: np.ndarray, path: Path, img_ids=None) -> np.ndarray:
    """transform_matrix [N, 4, 4]: finite, bottom row 0 0 0 1, rotation part orthonormal (within 1e-3)."""
    if poses.ndim != 3 or poses.shape[1:] != (4, 4):
        raise UserError(f"{path}: transform_matrix must be 4x4, got {tuple(poses.shape[1:])}; {REWRITE_POSES}")
    rot = poses[:, :3, :3]
    err = np.abs(np.einsum("nij,nkj->nik", rot, rot) - np.eye(3)).reshape(len(poses), -1).max(axis=1)
    bottom = np.abs(poses[:, 3] - np.array([0, 0, 0, 1.0])).max(axis=1)
    bad = ~np.isfinite(poses.reshape(len(poses), -1)).all(axis=1) | ~(err < 1e-3) | ~(bottom < 1e-6)
    if bad.any():
        k = int(np.argmax(bad))
        name = f"img_id {img_ids[k]}" if img_ids is not None else f"row {k}"
        raise UserError(f"{path}: the pose of frame {k} ({name}) is not a camera pose (NaN/inf, or not a "
                        f"rotation with bottom row 0 0 0 1); {REWRITE_POSES}")
    return poses


@dataclass
class FrameSet:
    """The frames of one split. poses: [N, 4, 4] c2w, rects: [N, 4] (x, y, w, h), auds: [N, 16, C];
    eyes: [N] eye openness (adnerf.eyes) and mouth: [N] mouth opening (adnerf.mouth), or None when the
    transforms hold none (the original's datasets)."""
    img_ids: np.ndarray
    aud_ids: np.ndarray
    poses: torch.Tensor
    rects: np.ndarray
    auds: torch.Tensor
    image_paths: list[Path]
    eyes: torch.Tensor | None = None
    mouth: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.img_ids)


def load_transforms(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"missing dataset file {path} (written by preprocessing step 7: "
                        f"python data_util/process_data.py --id <id> --step 7)")
    try:
        meta = json.loads(path.read_text())
        frames = meta["frames"]
        focal = float(meta["focal_len"])
    except (ValueError, KeyError, TypeError) as exc:
        raise UserError(f"{path} is not a valid transforms file ({exc!r}); expected focal_len, cx, cy, frames[]")
    if not (np.isfinite(focal) and focal > 0):
        raise UserError(f"{path}: focal_len = {focal} must be a finite number > 0; {REWRITE_POSES}")
    if not frames:
        raise UserError(f"{path} lists no frames")
    return meta


def load_audio_features(path: Path, rewrite: str = REWRITE_AUDIO) -> torch.Tensor:
    """aud.npy [N, 16, C] -> float32 tensor; clear errors for a missing file, a wrong shape or NaN / inf.
    rewrite: what makes the file again (named in the error)."""
    if not path.is_file():
        raise UserError(f"missing audio features {path} (written by preprocessing step 0, or pass --aud_file)")
    try:
        arr = np.load(path)
    except Exception as exc:
        raise UserError(f"cannot read audio features {path}: {exc}") from exc
    if arr.ndim != 3 or arr.shape[1] != 16:
        raise UserError(f"audio features {path} have shape {tuple(arr.shape)}; expected [frames, 16, channels] "
                        f"(DeepSpeech: channels = 29)")
    if not np.issubdtype(arr.dtype, np.number):
        raise UserError(f"audio features {path} hold {arr.dtype} values, expected numbers; {rewrite}")
    check_features(arr, path, rewrite)
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=np.float32))


def select_audio(auds: torch.Tensor, aud_ids: np.ndarray, source: Path) -> torch.Tensor:
    """auds[aud_ids], refusing ids far past the end (the original silently repeated the last row)."""
    n = auds.shape[0]
    too_far = aud_ids >= n + AUDIO_FRAME_TOLERANCE
    if too_far.any():
        raise UserError(f"audio features {source} cover {n} frames, but the transforms name aud_id up to "
                        f"{int(aud_ids.max())} ({int(too_far.sum())} frames without audio); re-run "
                        f"preprocessing step 0 for this video")
    return auds[torch.from_numpy(np.minimum(aud_ids, n - 1))]


def frame_signal(frames: list[dict], key: str, source: Path) -> torch.Tensor | None:
    """The ``key`` values [N] of transforms frames (float32: step 7's ``eye`` or ``mouth``), None unless
    every frame has one."""
    if not frames or any(key not in f for f in frames):
        return None
    try:
        values = np.array([f[key] for f in frames], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{source}: the frames' {key} values are not numbers ({exc}); re-run preprocessing step 7")
    if values.ndim != 1 or not np.isfinite(values).all() or (values < 0).any():
        raise UserError(f"{source}: {key} of frame {int(np.argmax(~(np.isfinite(values) & (values >= 0))))} is "
                        f"not a finite number >= 0; re-run preprocessing step 7")
    return torch.tensor(values, dtype=torch.float32)


def pose_signal(frames: list[dict], key: str, source: Path, n: int, option: str, instead: str) -> np.ndarray:
    """The recorded ``key`` values of the pose frames for n driven frames [n] (cycled as the poses are), or a
    one-line error naming ``option`` and the alternative ``instead`` when the pose file has none."""
    values = frame_signal(frames, key, source)
    if values is None:
        raise UserError(f"{option} pose: {source} holds no {key} values (an older preprocessing): re-run "
                        f"step 7, or use {instead}")
    return values.numpy()[np.arange(n) % len(values)]


def frame_eyes(frames: list[dict], source: Path) -> torch.Tensor | None:
    """The ``eye`` values [N] of transforms frames, None unless every frame has one."""
    return frame_signal(frames, "eye", source)


def frame_mouth(frames: list[dict], source: Path) -> torch.Tensor | None:
    """The ``mouth`` values [N] of transforms frames, None unless every frame has one."""
    return frame_signal(frames, "mouth", source)


def feature_boxes_of(root: Path, img_ids: np.ndarray) -> np.ndarray | None:
    """[N, 3, 4] boxes of mouth and eyes (adnerf.landmarks.feature_boxes) of the frames' ori_imgs/<id>.lms
    (written by preprocessing step 2); None unless every frame has a readable file of 68 finite points."""
    paths = [root / "ori_imgs" / f"{i}.lms" for i in img_ids]
    if not paths or not all(p.is_file() for p in paths):
        return None
    try:
        lms = np.stack([np.loadtxt(p, dtype=np.float64) for p in paths])
    except ValueError:
        return None
    if lms.shape[1:] != (68, 2) or not np.isfinite(lms).all():
        return None
    return feature_boxes(lms)


def parse_frames(meta: dict, root: Path, image_dir: str, auds: torch.Tensor, aud_source: Path,
                 skip: int = 1) -> FrameSet:
    frames = meta["frames"][::max(int(skip), 1)]
    img_ids = np.array([int(f["img_id"]) for f in frames])
    aud_ids = np.array([int(f.get("aud_id", f["img_id"])) for f in frames])
    source = root / f"transforms_{meta.get('_split', 'train')}.json"
    try:
        matrices = np.array([f["transform_matrix"] for f in frames], dtype=np.float64)
        rects = np.array([f.get("face_rect", [0, 0, 0, 0]) for f in frames], dtype=np.float64)
    except (ValueError, TypeError) as exc:
        raise UserError(f"{source}: transform_matrix / face_rect are not numbers of one shape ({exc}); "
                        f"{REWRITE_POSES}") from exc
    poses = torch.tensor(check_poses(matrices, source, img_ids), dtype=torch.float32)
    if rects.ndim != 2 or rects.shape[1] != 4 or not np.isfinite(rects).all() or (rects < 0).any():
        k = int(np.argmax(~(np.isfinite(rects) & (rects >= 0)).all(-1))) if rects.ndim == 2 else 0
        raise UserError(f"{source}: face_rect of frame {k} is not 4 finite numbers >= 0 (x, y, w, h); "
                        f"re-run preprocessing step 7")
    paths = [root / image_dir / f"{i}.jpg" for i in img_ids]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UserError(f"{len(missing)} of {len(paths)} images missing in {root / image_dir}, first: {missing[0]} "
                        f"(written by preprocessing step 5)")
    return FrameSet(img_ids, aud_ids, poses, rects, select_audio(auds, aud_ids, aud_source), paths,
                     frame_eyes(frames, source), frame_mouth(frames, source))


class AudFaceDataset:
    """A dataset/<id>/ folder: camera intrinsics, background, and the train / val frame sets."""

    def __init__(self, root: str | Path, image_dir: str = "head_imgs", aud_file: str = "aud.npy",
                 testskip: int = 1, splits: tuple[str, ...] = ("train", "val")):
        self.root = Path(root)
        if not self.root.is_dir():
            raise UserError(f"dataset folder not found: {self.root} (check datadir in the config)")
        aud_path = Path(aud_file) if Path(aud_file).is_absolute() else self.root / aud_file
        self.auds = load_audio_features(aud_path)
        bc_path = self.root / "bc.jpg"
        if not bc_path.is_file():
            raise UserError(f"missing background image {bc_path} (written by preprocessing step 4)")
        self.bc_img = torch.from_numpy(read_image_float(bc_path))  # [H, W, 3]
        self.H, self.W = self.bc_img.shape[:2]
        self.splits: dict[str, FrameSet] = {}
        for split in splits:
            meta = load_transforms(self.root / f"transforms_{split}.json")
            meta["_split"] = split  # for messages naming the file
            self.splits[split] = parse_frames(meta, self.root, image_dir, self.auds, aud_path,
                                              testskip if split != "train" else 1)
            self.focal = float(meta["focal_len"])
            self.cx = float(meta.get("cx", self.W / 2))
            self.cy = float(meta.get("cy", self.H / 2))

    def check_images(self) -> int:
        """Decode every image of the loaded splits (and the parsing masks, when given) once; returns the count."""
        paths = [p for fs in self.splits.values() for p in fs.image_paths]
        check_images(paths, (self.W, self.H), "preprocessing step 5")
        return len(paths)

    @property
    def aud_channels(self) -> int:
        return int(self.auds.shape[-1])

    def parsing_path(self, split: str, k: int) -> Path:
        return self.root / "parsing" / f"{self.splits[split].img_ids[k]}.png"

    def parsing(self, split: str, k: int, pixels: np.ndarray | None = None) -> torch.Tensor:
        """The face parsing of frame k as uint8 labels (regions.parsing_labels: 0 background, 1 neck / torso,
        2 head): [H, W], or [N] at ``pixels`` [N, 2] (row, col). Labels only the pixels asked for: a torso
        step reads N_rand of them, and labelling a whole 512 px frame took twice as long as decoding it."""
        path = self.parsing_path(split, k)
        rgb = read_uint8_image(path, hint="is the file corrupt? re-run preprocessing step 3")
        if rgb.shape[:2] != (self.H, self.W):
            raise UserError(f"{path} is {rgb.shape[1]}x{rgb.shape[0]} but bc.jpg is {self.W}x{self.H}")
        if pixels is not None:
            rgb = rgb[pixels[:, 0], pixels[:, 1]]
        return torch.from_numpy(parsing_labels(rgb.astype(np.float32) / 255.0))

    def image(self, split: str, k: int) -> torch.Tensor:
        """Frame k of a split as float32 [H, W, 3] in [0, 1]."""
        path = self.splits[split].image_paths[k]
        img = read_image_float(path)
        if img.shape[:2] != (self.H, self.W):
            raise UserError(f"{path} is {img.shape[1]}x{img.shape[0]} but bc.jpg is {self.W}x{self.H}")
        return torch.from_numpy(img)


def check_images(paths: list[Path], size: tuple[int, int], step: str) -> None:
    """Decode every image once before training, so a broken file stops the run now with its name, not
    hours later when it is first sampled. size: (W, H); step: the preprocessing step that writes them."""
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(max_workers=4) as pool:  # PIL releases the GIL while decoding
        for path, why in zip(paths, pool.map(lambda p: decode_problem(p, size), paths)):
            if why:
                why += " (the size of bc.jpg)" if why.startswith("is ") else ""
                raise UserError(f"{path} {why}; re-run {step} (python data_util/process_data.py --id <id> "
                                f"--step {step.split()[-1]} --force)")
