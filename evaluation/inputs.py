"""What an evaluation compares: generated and ground-truth frames paired by id, face boxes and driving audio.

Generated frames are paired by their record when they have one (frames.json, adnerf/sequence_record.py,
written beside every rendered sequence): generated frame i was rendered with the pose of ``img_id``, so its
ground truth is the frame ``img_id``. With --subject, keys are positions k in transforms_val.json (the ground
truth of key k is ori_imgs/<img_id of validation frame k>.jpg); without, keys are img_ids, which name the
frames of a ground-truth folder (<img_id>.jpg, as ori_imgs) or video (frame number). Frames without a record
(another method's, a colleague's) are paired by file name or by order (evaluation/pairing.py, --pair).
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from adnerf.constants import FPS
from adnerf.errors import AdnerfError as InputError
from adnerf.media import read_image
from evaluation.driving_audio import (ClipAudio, driving_mismatch_note, generated_clip_audio,
                                      ground_truth_clip_audio)
from adnerf.sequence_record import RECORD_NAME, SequenceRecord, SequenceRecordError, read_sequence_record
from evaluation.pairing import (check_sizes, check_unique, frame_name, list_frame_files, pair_by_name,
                                pair_by_order)
from evaluation.subject import driving_output_candidates, find_driving_output


@dataclass
class FrameSet:
    """Frames keyed for pairing: keys[i] is the id of frames[i] (uint8 RGB [H, W, 3]); names[i] the name it
    pairs by with --pair name (evaluation/pairing.py: numeric file names as numbers, frame numbers of a video,
    img_ids of validation frames)."""
    keys: list[int]
    frames: list[np.ndarray]
    source: str
    notes: list[str] = field(default_factory=list)
    names: list[str] | None = None
    indices: list[int] | None = None         # the record's frame index of each frame (record pairing only)


# what the generated frames are, from their record's kind: a portrait's whole frame is mostly the real one, so its
# numbers are portrait numbers and are never shown as (or next to, unlabelled) the NeRF's
MODES = {"portrait": "the rendered face (or head and neck) blended into the real frame; the rest is the real frame "
                     "(body, background, and the hair with the face's region), so whole-frame and face-rect numbers "
                     "are not NeRF-torso numbers",
         "nerf": "every pixel rendered by the NeRFs",
         "unrecorded": "frames without a record, frames.json: not known how they were made"}
PORTRAIT_KIND = "portrait"   # frames.json "kind" of adnerf-portrait's sequences (docs/portrait.md)


@dataclass
class EvalInputs:
    """Everything the metrics need. gen/gt hold the paired frames only, in key order."""
    subject: str | None
    keys: list[int]
    gen: list[np.ndarray]
    gt: list[np.ndarray]
    face_rects: list | None                 # [x, y, w, h] per pair, or None without a subject
    gen_all: FrameSet                        # every generated frame (Sync scores the whole clip)
    gt_all: FrameSet
    rects_by_key: dict[int, list] | None
    notes: list[str] = field(default_factory=list)
    img_ids: list | None = None              # ori_imgs id of each pair (None without a subject)
    head_masks: list | None = None           # bool [H, W] ground-truth head (parsing) per pair, or None
    testskip: int = 1                        # the record's: every testskip-th validation pose was rendered
    gen_audio: ClipAudio = field(default_factory=lambda: ClipAudio(None, "audio not read"))
    gt_audio: ClipAudio = field(default_factory=lambda: ClipAudio(None, "audio not read"))
    pairing: str = "record"                  # how generated frames found their ground truth: record, name, order
    mode: str = "unrecorded"                 # what the generated frames are: a key of MODES
    seam_masks: list | None = None           # portrait: uint8 [H, W] mask/<index>.png of each pair, else None


def _read_image(path: Path) -> np.ndarray:
    return read_image(path, hint="replace or delete it")


def read_images(paths: list[Path], desc: str, progress: bool = True) -> list[np.ndarray]:
    """Decode images in a few threads (the decoders release the GIL)."""
    from tqdm import tqdm
    with ThreadPoolExecutor(4) as pool:
        return list(tqdm(pool.map(_read_image, paths), total=len(paths), desc=desc, unit="frame", leave=False,
                         disable=not progress))


def read_frame_dir(folder: str | Path, what: str, progress: bool = True) -> FrameSet:
    """Frames of a folder; numeric names (0.jpg, 1.jpg, ...) are keys, other names get sorted positions."""
    paths, names = list_frame_files(folder, what, unique=False)
    notes = []
    if all(p.stem.isdigit() for p in paths):
        keys = [int(p.stem) for p in paths]
    else:
        keys = list(range(len(paths)))
        notes.append(f"{what} frames in {folder} have non-numeric names: keyed by sorted position")
    return FrameSet(keys, read_images(paths, f"reading {what}", progress), str(folder), notes, names)


def read_video(path: str | Path, what: str) -> FrameSet:
    """Every frame of a video (any format ffmpeg reads), keyed 0..N-1."""
    import imageio_ffmpeg
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{what} video {path} does not exist")
    try:
        reader = imageio_ffmpeg.read_frames(str(path))
        meta = next(reader)
        w, h = meta["size"]
        frames = [np.frombuffer(buf, np.uint8).reshape(h, w, 3).copy() for buf in reader]
    except Exception as e:  # noqa: BLE001 - ffmpeg's errors vary
        raise InputError(f"cannot read {what} video {path} ({str(e).splitlines()[0]}): check it plays") from e
    if not frames:
        raise InputError(f"{what} video {path} has no frames")
    notes = [] if abs(meta.get("fps", FPS) - FPS) < 0.01 else [f"{what} video {path} runs at {meta['fps']} fps, not {FPS}"]
    return FrameSet(list(range(len(frames))), frames, str(path), notes, [str(i) for i in range(len(frames))])


def read_transforms(dataset_dir: Path, name: str = "transforms_val.json") -> list[dict]:
    """frames[] of dataset_dir/<name> (each {img_id, aud_id, transform_matrix, face_rect})."""
    path = dataset_dir / name
    if not path.is_file():
        raise InputError(f"{path} not found: is {dataset_dir} a preprocessed dataset (data_util/process_data)?")
    try:
        frames = json.loads(path.read_text())["frames"]
    except (ValueError, KeyError) as e:
        raise InputError(f"{path} is not a transforms file ({e})") from e
    if not frames:
        raise InputError(f"{path} lists no frames")
    return frames


def read_head_masks(dataset_dir: Path | None, img_ids: list | None, gt_frames: list) -> list | None:
    """Ground-truth head region of each pair: bool [H, W] from the dataset's parsing/<img_id>.png (head
    incl. hair, the part the Head-NeRF models); None unless every pair has a parsing image of its size."""
    if dataset_dir is None or not img_ids or any(i is None for i in img_ids):
        return None
    masks = []
    for img_id, gt in zip(img_ids, gt_frames):
        path = dataset_dir / "parsing" / f"{img_id}.png"
        if not path.is_file():
            return None
        rgb = _read_image(path)  # head is BGR (255, 0, 0) as cv2 reads it: RGB (0, 0, 255) on disk
        if rgb.shape[:2] != gt.shape[:2]:
            return None
        masks.append((rgb[..., 2] > 127) & (rgb[..., 0] < 128) & (rgb[..., 1] < 128))
    return masks


def read_validation_gt(dataset_dir: Path, val_frames: list[dict], progress: bool = True) -> FrameSet:
    """Ground truth: ori_imgs/<img_id>.jpg of each validation frame, keyed by its position k."""
    paths = [dataset_dir / "ori_imgs" / f"{f['img_id']}.jpg" for f in val_frames]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise InputError(f"{len(missing)} ground-truth frames missing, first {missing[0]}: re-run preprocessing "
                         "(frames step) or pass --gt_dir")
    return FrameSet(list(range(len(paths))), read_images(paths, "reading ground truth", progress),
                    f"{dataset_dir / 'ori_imgs'} (validation frames of transforms_val.json)",
                    names=[str(int(f["img_id"])) for f in val_frames])


def _resize(frame: np.ndarray, shape: tuple) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.fromarray(frame).resize((shape[1], shape[0]), Image.BILINEAR))


def pair_frames(gen: FrameSet, gt: FrameSet, resize: bool = False):
    """Frames whose keys are in both sets and whose sizes agree (or are resized to the ground truth's).

    Returns (keys, gen frames, gt frames, notes, positions: the index in ``gen`` of each pair). Raises
    InputError when nothing pairs.
    """
    notes = []
    gt_by_key = dict(zip(gt.keys, gt.frames))
    common = [(k, f, i) for i, (k, f) in enumerate(zip(gen.keys, gen.frames)) if k in gt_by_key]
    if len(common) != len(gen.keys) or len(common) != len(gt.keys):
        notes.append(f"frame counts differ: {len(gen.keys)} generated, {len(gt.keys)} ground truth; "
                     f"comparing the {len(common)} frames whose ids are in both")
    if not common:
        raise InputError(f"no frame of {gen.source} pairs with one of {gt.source} (ids {gen.keys[:3]}... "
                         f"vs {gt.keys[:3]}...): its frames.json names poses (img_id) with no ground truth there")
    keys, gen_frames, gt_frames, positions, size_mismatch, resized = [], [], [], [], [], 0
    for k, g, i in common:
        t = gt_by_key[k]
        if g.shape != t.shape:
            if not resize:
                size_mismatch.append((k, g.shape, t.shape))
                continue
            g, resized = _resize(g, t.shape), resized + 1
        keys.append(k), gen_frames.append(g), gt_frames.append(t), positions.append(i)
    if size_mismatch:
        k, gs, ts = size_mismatch[0]
        msg = (f"{len(size_mismatch)} frame pairs differ in size (e.g. id {k}: generated {gs[1]}x{gs[0]}, "
               f"ground truth {ts[1]}x{ts[0]}); they are left out (pass --resize to resize generated frames)")
        if not keys:
            raise InputError(msg.replace("they are left out", "nothing to compare"))
        notes.append(msg)
    if resized:
        notes.append(f"{resized} generated frames resized (bilinear) to the ground truth's size")
    return keys, gen_frames, gt_frames, notes, positions


def _default_generated_dir(dataset_dir: Path, subject: str) -> Path:
    found = find_driving_output(dataset_dir, subject)
    if found is None:
        tried = ", ".join(map(str, driving_output_candidates(dataset_dir, subject)))
        raise InputError(f"no driving output of {subject} found (tried {tried}): render the validation frames "
                         "(NeRFs/TorsoNeRF/run_nerf.py --config .../TorsoNeRFTest_config.txt --aud_file aud.npy "
                         "--aud_from_pose --testskip 1 --with_audio aud.wav) or pass --gen_dir / --gen_video")
    return found


def read_record(folder: Path, what: str = "generated") -> SequenceRecord:
    """The record of a generated sequence folder, as an InputError (one line) when it is missing or broken."""
    try:
        return read_sequence_record(folder)
    except SequenceRecordError as e:
        raise InputError(f"{what} frames: {e}") from None


def video_record(video: Path) -> SequenceRecord | None:
    """The record beside a generated video when it names that video (a rendered sequence's video.mp4)."""
    if not (video.parent / RECORD_NAME).is_file():
        return None
    record = read_record(video.parent)
    return record if record.video == video.name else None


def resolve_pair_mode(pair: str, gen_path: Path, is_video: bool) -> str:
    """--pair auto: the record when the generated frames have one, else their names."""
    if pair != "auto":
        return pair
    if is_video:
        return "record" if video_record(gen_path) is not None else "name"
    return "record" if (gen_path / RECORD_NAME).is_file() else "name"


def read_generated(gen_path: Path, is_video: bool, progress: bool = True):
    """(FrameSet keyed by frame index, record) of a sequence paired by its record; one-line error without."""
    if is_video:
        record = video_record(gen_path)
        if record is None:
            raise InputError(f"generated video {gen_path} has no {RECORD_NAME} beside it that names it: evaluate "
                             "the folder it was rendered to (--gen_dir), or pair by --pair name / --pair order")
        return read_video(gen_path, "generated"), record
    if not gen_path.is_dir():
        raise InputError(f"generated folder {gen_path} does not exist: render it first or pass another folder")
    record = read_record(gen_path)
    present = [f for f in record.frames if (gen_path / f.file).is_file()]
    notes = [] if len(present) == len(record.frames) else [
        f"{len(record.frames) - len(present)} frames listed in {gen_path / RECORD_NAME} are missing (first "
        f"{next(f.file for f in record.frames if f not in present)}): compared without them"]
    if not present:
        raise InputError(f"none of the frames {gen_path / RECORD_NAME} lists exists in {gen_path}: render it again")
    frames = read_images([gen_path / f.file for f in present], "reading generated", progress)
    record.frames = present
    return FrameSet([f.index for f in present], frames, str(gen_path), notes), record


def read_unrecorded(gen_path: Path, is_video: bool, gt: FrameSet, mode: str, resize: bool,
                    progress: bool = True) -> FrameSet:
    """Generated frames without a record, keyed by their ground truth's keys (mode "name" or "order",
    evaluation/pairing.py). The pairing and the sizes are checked before the generated frames are decoded
    (a folder) or right after (a video)."""
    where = str(gen_path)
    if is_video:
        video = read_video(gen_path, "generated")
        names, notes = list(video.names), video.notes
        labels = [f"#{n}" for n in names]
    else:
        paths, names = list_frame_files(gen_path, "generated", unique=mode == "name")
        labels, notes = [p.name for p in paths], []
    if mode == "name":
        check_unique(gt.names, gt.names, f"ground truth {gt.source}")
        keys = pair_by_name(names, labels, gt.names, gt.keys, where, gt.source)
    else:
        keys = pair_by_order(labels, gt.keys, gt.names, where, gt.source)
    frames = video.frames if is_video else read_images(paths, "reading generated", progress)
    if not resize:
        gt_by_key = {k: (f, n) for k, f, n in zip(gt.keys, gt.frames, gt.names)}
        check_sizes(frames, labels, [gt_by_key[k][0] for k in keys], [gt_by_key[k][1] for k in keys], where,
                    gt.source)
    return FrameSet(keys, frames, where, notes, names)


def key_by_record(gen: FrameSet, record: SequenceRecord, val_frames: list | None) -> tuple[FrameSet, list[str]]:
    """Give each generated frame the key of its ground truth: with a subject, the position of its pose's
    img_id in transforms_val.json; else the img_id itself. ``gen`` keeps every frame (key None: no ground
    truth); returns the frames that have one, and notes."""
    by_index = {f.index: f for f in record.frames}
    img_ids = [by_index[i].img_id if i in by_index else None for i in gen.keys]
    if val_frames is not None:
        position = {int(f["img_id"]): k for k, f in enumerate(val_frames)}
        keys = [position.get(i) if i is not None else None for i in img_ids]
    else:
        keys = img_ids
    kept = [(k, f, i) for k, f, i in zip(keys, gen.frames, gen.keys) if k is not None]
    notes = []
    if len(kept) != len(keys):
        notes.append(f"{len(keys) - len(kept)} generated frames show poses that are not validation frames "
                     f"(their img_id in {record.folder / RECORD_NAME}): not compared")
    if not kept:
        raise InputError(f"no generated frame of {record.folder} shows a pose with ground truth (img_ids "
                         f"{img_ids[:3]}...): render the validation poses (--aud_from_pose --testskip 1)")
    gen.keys = keys
    return FrameSet([k for k, *_ in kept], [f for _, f, _ in kept], gen.source, indices=[i for *_, i in kept]), notes


def read_seam_masks(record: SequenceRecord, indices: list[int], gen_frames: list) -> tuple[list | None, list[str]]:
    """(uint8 [H, W] mask of each paired portrait frame, notes): mask/<file> beside frame ``index`` of the
    record (adnerf-portrait writes them); None (with a note saying why) when one is missing or of another size."""
    files = {f.index: f.file for f in record.frames}
    masks = []
    for index, frame in zip(indices, gen_frames):
        path = record.folder / "mask" / Path(files[index]).name
        if not path.is_file():
            return None, [f"portrait mask {path} is missing: the paste-boundary band is not measured"]
        mask = _read_image(path)[..., 0]
        if mask.shape != frame.shape[:2]:
            return None, [f"portrait mask {path} is {mask.shape[1]}x{mask.shape[0]}, its frame "
                          f"{frame.shape[1]}x{frame.shape[0]}: the paste-boundary band is not measured"]
        masks.append(mask)
    return masks, []


def gather_inputs(subject: str | None, dataset_root: Path, gen_dir=None, gt_dir=None, gen_video=None,
                  gt_video=None, audio=None, audio_start: int | None = None, resize: bool = False,
                  need_audio: bool = True, progress: bool = True, pair: str = "auto") -> EvalInputs:
    """Resolve the command line's inputs (see docs/evaluation.md) into paired frames, face boxes and audio.

    pair: "record" (frames.json), "name", "order", or "auto" (the record when there is one, else name).
    """
    dataset_dir = val_frames = None
    if subject:
        dataset_dir = Path(dataset_root) / subject
        if not dataset_dir.is_dir():
            raise InputError(f"dataset {dataset_dir} not found: check --subject / --dataset_root")
        val_frames = read_transforms(dataset_dir)
    elif not ((gen_dir or gen_video) and (gt_dir or gt_video)):
        raise InputError("give --subject, or both a generated (--gen_dir/--gen_video) and a ground-truth "
                         "(--gt_dir/--gt_video) input")
    gen_path = Path(gen_video or gen_dir or _default_generated_dir(dataset_dir, subject))
    mode = resolve_pair_mode(pair, gen_path, bool(gen_video))
    stride_note, testskip, record, gen_mode = [], 1, None, "unrecorded"
    if mode == "record":   # read first: a missing or broken record is refused before the ground truth is read
        gen, record = read_generated(gen_path, bool(gen_video), progress)
        paired, stride_note = key_by_record(gen, record, val_frames)
        testskip = max(int(record.meta.get("testskip") or 1), 1)
        gen_mode = "portrait" if record.meta.get("kind") == PORTRAIT_KIND else "nerf"
        stride_note.append(f"generated frames paired with the ground truth by {record.folder / RECORD_NAME}")
        if record.meta.get("fit_poses"):  # the poses saw the ground-truth images: say so next to the numbers
            stride_note.append(f"poses fitted to the frames' head images before rendering (--fit_poses "
                               f"{record.meta['fit_poses']}: a photometric tracking stage, docs/nerf.md)")
    if gt_video:
        gt = read_video(gt_video, "ground-truth")
    elif gt_dir:
        gt = read_frame_dir(gt_dir, "ground-truth", progress)
    else:
        gt = read_validation_gt(dataset_dir, val_frames, progress)
    if mode != "record":
        gen = paired = read_unrecorded(gen_path, bool(gen_video), gt, mode, resize, progress)
    keys, gen_frames, gt_frames, notes, positions = pair_frames(paired, gt, resize)
    seam_masks = None
    if gen_mode == "portrait":
        seam_masks, seam_notes = read_seam_masks(record, [paired.indices[i] for i in positions], gen_frames)
        notes += seam_notes
    rects_by_key = {k: f["face_rect"] for k, f in enumerate(val_frames)} if val_frames else None
    face_rects = img_ids = None
    if rects_by_key is not None:
        face_rects = [rects_by_key.get(k) for k in keys]
        img_ids = [int(val_frames[k]["img_id"]) if k < len(val_frames) else None for k in keys]
        if any(r is None for r in face_rects):
            notes.append("some frame ids have no validation frame: face-region scores skip them")
    inputs = EvalInputs(subject, keys, gen_frames, gt_frames, face_rects, gen, gt, rects_by_key,
                        notes=stride_note + gen.notes + gt.notes + notes, img_ids=img_ids, testskip=testskip,
                        head_masks=read_head_masks(dataset_dir, img_ids, gt_frames), pairing=mode, mode=gen_mode,
                        seam_masks=seam_masks)
    if need_audio:
        inputs.gen_audio = generated_clip_audio(audio, audio_start, gen_path, bool(gen_video), dataset_dir,
                                                val_frames, testskip)
        inputs.gt_audio = ground_truth_clip_audio(inputs.gen_audio, not (gt_dir or gt_video), gt_video,
                                                  dataset_dir, val_frames)
        inputs.notes += [a.description for a in (inputs.gen_audio, inputs.gt_audio) if a.samples is not None]
        mismatch = driving_mismatch_note(inputs.gen_audio, inputs.gt_audio)
        inputs.notes += [mismatch] if mismatch else []
    return inputs
