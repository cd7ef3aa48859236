"""The record of a rendered sequence: which pose and which audio frame each output frame shows.

Every rendered sequence of the project (driving, ``--render_only``, the validation renders
``testset_<step>/``) is one folder in one format::

    00000.png, 00001.png, ...   the frames (lossless PNG, uint8 RGB)
    frames.json                 this record
    video.mp4                   the frames as H.264 at ``fps``
    video_with_audio.mp4        (driving with --with_audio) video.mp4 with the sound of its audio frames

``frames.json``::

    {"format": "adnerf-sequence/1", "fps": 25, "video": "video.mp4", "kind": "driving" | "validation" | ...,
     ... (what made it: pose_file, testskip, aud_file, step, ...),
     "frames": [{"index": 0, "file": "00000.png", "img_id": 12, "aud_id": 12}, ...]}

``img_id`` names the pose (the frame of the transforms file whose camera rendered it, = the ground-truth
image ``ori_imgs/<img_id>.jpg`` when the pose is a recorded one), ``aud_id`` the row of the audio features.
Evaluation pairs generated and ground-truth frames by this record only. This module is part of the shared
layer (it imports nothing outside adnerf/), so the NeRFs (which write it) and evaluation (which reads it)
share it without depending on each other.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .errors import AdnerfError
from .files import save_json

RECORD_NAME = "frames.json"
VIDEO_NAME = "video.mp4"
VIDEO_WITH_AUDIO_NAME = "video_with_audio.mp4"  # video.mp4 with the driving sound (driving --with_audio)
FORMAT = "adnerf-sequence/1"
HOW_TO_MAKE = ("render it with this version (NeRFs/TorsoNeRF/run_nerf.py --config <datadir>/TorsoNeRFTest_config.txt "
               "--aud_from_pose --testskip 1, or --render_only), which writes frames.json beside the frames")


class SequenceRecordError(AdnerfError, ValueError):
    """A missing or unreadable record; str() is one line naming the folder and how to make the record."""


def frame_file(index: int) -> str:
    """File name of output frame ``index`` (zero-padded, so that a file listing is in frame order)."""
    return f"{index:05d}.png"


@dataclass
class FrameEntry:
    """Output frame ``index`` is ``file``, rendered with the pose of ``img_id`` and audio row ``aud_id``."""
    index: int
    file: str
    img_id: int | None
    aud_id: int | None


@dataclass
class SequenceRecord:
    folder: Path
    frames: list[FrameEntry]
    fps: float = 25.0
    video: str | None = VIDEO_NAME
    meta: dict = field(default_factory=dict)  # everything else the writer recorded (kind, pose_file, ...)

    def paths(self) -> list[Path]:
        return [self.folder / f.file for f in self.frames]


def record_dict(frames: list[dict], fps: float, video: str | None = VIDEO_NAME, **meta) -> dict:
    """The JSON object of a record; ``frames``: [{"img_id": int | None, "aud_id": int | None}] in output order."""
    entries = [{"index": i, "file": frame_file(i), "img_id": f.get("img_id"), "aud_id": f.get("aud_id")}
               for i, f in enumerate(frames)]
    return {"format": FORMAT, "fps": fps, "video": video, **meta, "frames": entries}


def write_record(folder: str | Path, record: dict) -> Path:
    """Write ``record`` (``record_dict``'s) as folder/frames.json, atomically (adnerf/files.py)."""
    path = Path(folder) / RECORD_NAME
    save_json(path, record)
    return path


def _int_or_none(value, what: str, path: Path) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise SequenceRecordError(f"{path}: {what} {value!r} is not an integer; {HOW_TO_MAKE}") from None


def read_sequence_record(folder: str | Path) -> SequenceRecord:
    """The record of a rendered sequence folder; ``SequenceRecordError`` (one line) when there is none.

    Older driving outputs (``{"frames": [{"frame": i, "img_id", "aud_id"}]}`` with ``<i>.jpg``) are read too.
    """
    folder = Path(folder)
    path = folder / RECORD_NAME
    if not path.is_file():
        raise SequenceRecordError(f"{folder} has no {RECORD_NAME} (the record of which pose and audio frame each "
                                  f"frame shows, needed to pair frames): {HOW_TO_MAKE}")
    try:
        data = json.loads(path.read_text())
        raw = data["frames"]
        if not isinstance(raw, list):
            raise TypeError("frames is not a list")
    except (ValueError, KeyError, TypeError) as exc:
        raise SequenceRecordError(f"{path} is not a sequence record ({exc}); {HOW_TO_MAKE}") from None
    frames = []
    for i, f in enumerate(raw):
        if not isinstance(f, dict):
            raise SequenceRecordError(f"{path}: frame {i} is not an object; {HOW_TO_MAKE}")
        index = _int_or_none(f.get("index", f.get("frame", i)), "index", path)
        name = f.get("file") or f"{index}.jpg"  # the earlier driving format named frames <i>.jpg
        frames.append(FrameEntry(index, str(name), _int_or_none(f.get("img_id"), "img_id", path),
                                 _int_or_none(f.get("aud_id"), "aud_id", path)))
    meta = {k: v for k, v in data.items() if k not in ("frames", "fps", "video")}
    return SequenceRecord(folder, frames, float(data.get("fps", 25)), data.get("video"), meta)
