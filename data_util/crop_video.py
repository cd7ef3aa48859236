"""Before preprocessing: one stable square crop around the face of a video larger than the training size.

    needs_crop(width, height, size=512) -> bool      larger than size x size, or not square
    crop_box(face_boxes [K, 4], width, height, scale) -> (x0, y0, side)
    run_crop(dataset_dir, *, video, force=False, progress=True, size=512, ...) -> record
    input_video(dataset_dir, video) -> the video the steps read (the crop when one was made from ``video``)

A phone video (1920x1080, 720x1280, the face anywhere in it) is too large to train at full size and mostly
not face. The face is found (adnerf.landmarks, the run's landmark backend) on ``samples`` frames spread over
the video; its box is the landmarks' bounding box. ONE square for the whole video (a moving crop would put
the camera's motion into the head pose): centred on the median face centre horizontally, with the face
centre at ``FACE_HEIGHT_FRACTION`` of the square's height (room below for the neck and shoulders, as in
AD-NeRF's own 450x450 crops and the 512x512 real clip of ../shared/realvideo, whose landmark box is 0.39 of
the frame and centred at 0.55 of its height), of side ``scale`` x the median face size (the larger side of
the box), clamped into the frame; corner and side even (yuv420p). The square is scaled to ``size`` (never up:
a smaller square keeps its own size) and written at 25 fps (the rate step 1 uses) with the source's sound as
dataset/<id>/crop.mp4, and dataset/<id>/crop.json records it::

    {"source": "/abs/path/phone.mp4", "source_size": [W, H], "box": [x0, y0, side], "out_size": 512,
     "video": "crop.mp4", "fps": 25, "scale": 2.6, "samples": 25, "faces_found": 25, "face_size": 201.0, ...}

so that the portrait stage (portrait/) can paste the results back into the full-resolution source frames:
output pixel (u, v) of the crop shows source pixel (x0 + (u + 0.5) * side / out_size - 0.5, y0 + ...).
"""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np

from adnerf.media import ffmpeg_exe, first_frame_size, video_frames
from data_util.common import FPS, StepError, atomic_path, save_json

VERSION = 1
CROP_JSON, CROP_VIDEO = "crop.json", "crop.mp4"
TRAINING_SIZE = 512            # the largest square the NeRFs are trained at by default
FACE_SCALE = 2.6               # crop side / face size (the landmark box's larger side)
FACE_HEIGHT_FRACTION = 0.55    # the face centre's height in the crop (0 top, 1 bottom)
DETECT_MAX_SIDE = 1024         # frames are searched for the face at most this large (speed; faces stay > 80 px)
MIN_FOUND = 0.5                # a face in at least this fraction of the sampled frames, else an error
CRF = 12                       # the crop is an intermediate: near-lossless H.264


def needs_crop(width: int, height: int, size: int = TRAINING_SIZE) -> bool:
    """Whether a video of width x height is cropped before preprocessing: larger than size x size, or not square."""
    return width > size or height > size or width != height


def face_box(lms: np.ndarray) -> np.ndarray:
    """[68, 2] landmarks -> their bounding box [x0, y0, x1, y1]."""
    return np.concatenate([lms.min(axis=0), lms.max(axis=0)])


def _even(value: float) -> int:
    return int(np.floor(value / 2.0)) * 2


def crop_box(face_boxes: np.ndarray, width: int, height: int, scale: float = FACE_SCALE,
             face_height: float = FACE_HEIGHT_FRACTION) -> tuple[int, int, int]:
    """One square (x0, y0, side) in the frame for the face boxes [K, 4] (x0, y0, x1, y1) of sampled frames.

    Medians of the boxes' centres and sizes, so that a few bad detections do not move it; side =
    scale x face size, at most the frame's smaller side; clamped inside the frame; all three even.
    """
    boxes = np.asarray(face_boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0 or not np.isfinite(boxes).all():
        raise StepError("crop: no usable face box to place the crop around")
    centre_x = float(np.median((boxes[:, 0] + boxes[:, 2]) / 2))
    centre_y = float(np.median((boxes[:, 1] + boxes[:, 3]) / 2))
    face = float(np.median(np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])))
    side = max(2, min(_even(scale * face), _even(min(width, height))))
    x0 = _even(min(max(centre_x - side / 2, 0), width - side))
    y0 = _even(min(max(centre_y - face_height * side, 0), height - side))
    return x0, y0, side


def output_size(side: int, size: int = TRAINING_SIZE) -> int:
    """The crop's size in the dataset: ``size``, or the square's own side when smaller (no upscaling)."""
    return min(_even(size), side)


def input_video(dataset_dir: str | Path, video: str | Path) -> Path:
    """The video preprocessing reads for ``video``: dataset_dir/crop.mp4 when crop.json says it was cut from
    ``video`` (so that a single step run later reads the same frames as the whole run did), else ``video``."""
    dataset_dir, video = Path(dataset_dir), Path(video).resolve()
    record = read_crop(dataset_dir)
    if record and Path(record["source"]) == video and (dataset_dir / record["video"]).is_file():
        return dataset_dir / record["video"]
    return video


def read_crop(dataset_dir: str | Path) -> dict | None:
    """dataset_dir/crop.json, or None when there is none (the video was not cropped)."""
    path = Path(dataset_dir) / CROP_JSON
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
        x0, y0, side = (int(v) for v in record["box"])
        int(record["out_size"]), str(record["source"]), str(record["video"])
    except (ValueError, KeyError, TypeError) as exc:
        raise StepError(f"{path} is not a crop record ({exc}): delete it and run process_data again") from None
    if side <= 0 or x0 < 0 or y0 < 0:
        raise StepError(f"{path}: box {record['box']} is not a square inside the frame; delete it and run again")
    return record


def _source_stamp(video: Path) -> dict:
    stat = video.stat()
    return {"source_bytes": stat.st_size, "source_mtime_ns": stat.st_mtime_ns}


def detect_faces(video: Path, samples: int, frames_25: int, backend: str, device: str, progress: bool):
    """Face boxes [K, 4] in source pixels of about ``samples`` frames spread over the video (at 25 fps), and
    the numbers of the frames sampled and of those with a face."""
    from PIL import Image
    from adnerf.landmarks import load_detector
    detect = load_detector(backend, device)
    every = max(1, frames_25 // max(samples, 1))
    boxes, sampled = [], []
    items = video_frames(video, FPS, every)
    if progress:
        from tqdm import tqdm
        items = tqdm(items, total=min(samples, -(-frames_25 // every)), desc="crop: finding the face", leave=False)
    for n, frame in items:
        if len(sampled) >= samples:
            break
        sampled.append(n)
        factor = min(1.0, DETECT_MAX_SIDE / max(frame.shape[:2]))
        small = frame if factor == 1.0 else np.asarray(Image.fromarray(frame).resize(
            (round(frame.shape[1] * factor), round(frame.shape[0] * factor)), Image.BILINEAR))
        lms = detect(np.ascontiguousarray(small))
        if lms is not None:
            boxes.append(face_box((lms + 0.5) / factor - 0.5))
    if progress and hasattr(items, "close"):
        items.close()
    return np.array(boxes).reshape(-1, 4), sampled


def write_crop_video(video: Path, out: Path, box: tuple[int, int, int], out_size: int) -> None:
    """ffmpeg: crop ``box`` of every frame, scale to out_size (area filter when shrinking), 25 fps, the
    source's sound copied (re-encoded as AAC when mp4 cannot hold its codec)."""
    x0, y0, side = box
    scaling = f",scale={out_size}:{out_size}:flags=area" if out_size != side else ""
    failure = None
    for audio in (["-c:a", "copy"], ["-c:a", "aac", "-b:a", "256k"]):
        try:
            with atomic_path(out) as tmp:   # a failed encoding raises inside: nothing is renamed to crop.mp4
                cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(video),
                       "-map", "0:v:0", "-map", "0:a:0?", "-vf", f"crop={side}:{side}:{x0}:{y0}{scaling},fps={FPS}",
                       "-c:v", "libx264", "-crf", str(CRF), "-preset", "fast", "-pix_fmt", "yuv420p", *audio, str(tmp)]
                done = subprocess.run(cmd, capture_output=True, text=True, errors="replace")
                if done.returncode != 0:
                    why = done.stderr.strip().splitlines()
                    raise StepError(f"ffmpeg could not crop {video}: {why[-1] if why else done.returncode}")
            return
        except StepError as exc:
            failure = exc
    raise failure


def run_crop(dataset_dir: str | Path, *, video: str | Path, force: bool = False, progress: bool = True,
             size: int = TRAINING_SIZE, scale: float = FACE_SCALE, samples: int = 25, backend: str = "dlib",
             device: str = "cpu") -> dict:
    """Crop ``video`` around the face into dataset_dir/crop.mp4 and record crop.json (module docstring).

    Skipped when crop.json already records this source (same path, size and modification time) and crop.mp4
    is there, unless ``force``. Raises StepError when the face is found in fewer than half the sampled frames.
    """
    from data_util.frames import check_video
    start = time.perf_counter()
    dataset_dir, video = Path(dataset_dir), Path(video).resolve()
    if not (size >= 16 and scale > 0 and samples >= 1):
        raise StepError(f"crop: size {size} (>= 16), scale {scale} (> 0) and samples {samples} (>= 1) are not valid")
    info = check_video(video)
    stamp = _source_stamp(video)
    old = read_crop(dataset_dir)
    if (not force and old and Path(old["source"]) == video and old.get("source_bytes") == stamp["source_bytes"]
            and old.get("source_mtime_ns") == stamp["source_mtime_ns"] and (dataset_dir / CROP_VIDEO).is_file()):
        return {**old, "skipped": True, "seconds": round(time.perf_counter() - start, 3)}
    boxes, sampled = detect_faces(video, samples, info.frames_25, backend, device, progress)
    if len(boxes) < max(1, MIN_FOUND * len(sampled)):
        raise StepError(f"crop: a face was found in {len(boxes)} of the {len(sampled)} frames sampled from {video} "
                        f"(frames {sampled[:8]}...): is the face visible and at least ~80 px? Crop the video "
                        f"by hand to about {size}x{size} around the face, or try --landmark_backend fan")
    width, height = first_frame_size(video)      # as decoded: a phone's rotation metadata applied
    box = crop_box(boxes, width, height, scale)
    out_size = output_size(box[2], size)
    dataset_dir.mkdir(parents=True, exist_ok=True)
    write_crop_video(video, dataset_dir / CROP_VIDEO, box, out_size)
    faces = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    record = {"source": str(video), "source_size": [int(width), int(height)], "box": [int(v) for v in box],
              "out_size": int(out_size), "video": CROP_VIDEO, "fps": FPS, "version": VERSION, "scale": scale,
              "face_height": FACE_HEIGHT_FRACTION, "samples": len(sampled), "faces_found": len(boxes),
              "face_size": round(float(np.median(faces)), 2), "backend": backend, **stamp}
    save_json(dataset_dir / CROP_JSON, record)
    return {**record, "skipped": False, "seconds": round(time.perf_counter() - start, 3)}
