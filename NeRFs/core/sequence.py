"""Writing a rendered sequence in the project's one format (adnerf/sequence_record.py): PNG frames, the
record frames.json (pose img_id and audio aud_id of every output frame) and video.mp4.

Used by driving, ``--render_only`` and the validation renders. Frames are streamed: each is written as a
PNG (atomically: a full disk leaves no half-written frame) and
appended to the mp4 at once, so a long driven clip never sits in memory.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from adnerf.files import atomic_path, save_json
from adnerf.sequence_record import (RECORD_NAME, VIDEO_NAME, VIDEO_WITH_AUDIO_NAME, frame_file, record_dict,
                                    write_record)

from .utils import to_uint8


def _stale_outputs(folder: Path) -> list[Path]:
    """Frames, record and video of an earlier run: a shorter run must not leave frames paired with nothing."""
    names = {RECORD_NAME, VIDEO_NAME, VIDEO_WITH_AUDIO_NAME, VIDEO_NAME.replace(".mp4", ".partial.mp4"),
             "result.mp4", "result_with_audio.mp4"}  # the last two: the earlier driving format
    return [p for p in folder.iterdir()
            if p.name in names or (p.suffix.lower() in (".png", ".jpg") and p.stem.isdigit())]


class SequenceWriter:
    """``with SequenceWriter(folder, fps, kind=...) as w: w.add(img, img_id=..., aud_id=...)``.

    img: [H, W, 3] float in [0, 1] (tensor or array) or uint8. On a clean exit the mp4 is finished and
    frames.json written last, so a folder with a record is complete. ``meta``: extra record keys.
    """

    def __init__(self, folder: str | Path, fps: float = 25, video: bool = True, **meta):
        self.folder = Path(folder)
        self.fps, self.video, self.meta = fps, video, meta
        self.entries: list[dict] = []
        self._writer = None

    def __enter__(self) -> "SequenceWriter":
        self.folder.mkdir(parents=True, exist_ok=True)
        for old in _stale_outputs(self.folder):
            old.unlink()
        return self

    def add(self, img, img_id: int | None, aud_id: int | None) -> np.ndarray:
        """Write the next frame; returns it as uint8 [H, W, 3]."""
        import imageio.v2 as imageio
        frame = to_uint8(img)
        with atomic_path(self.folder / frame_file(len(self.entries))) as part:  # a full disk: no half frame
            imageio.imwrite(part, frame)
        if self.video:
            if self._writer is None:
                self._writer = imageio.get_writer(
                    self.folder / VIDEO_NAME.replace(".mp4", ".partial.mp4"), fps=self.fps, codec="libx264",
                    pixelformat="yuv420p", macro_block_size=2, output_params=["-crf", "18"], ffmpeg_log_level="error")
            self._writer.append_data(frame)
        self.entries.append({"img_id": None if img_id is None else int(img_id),
                             "aud_id": None if aud_id is None else int(aud_id)})
        return frame

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is not None:
            self._writer.close()
            partial = self.folder / VIDEO_NAME.replace(".mp4", ".partial.mp4")
            if exc_type is None:
                os.replace(partial, self.folder / VIDEO_NAME)
            else:
                partial.unlink(missing_ok=True)
        if exc_type is None:
            write_record(self.folder, record_dict(self.entries, self.fps,
                                                  VIDEO_NAME if self._writer is not None else None, **self.meta))

    @property
    def video_path(self) -> Path | None:
        return self.folder / VIDEO_NAME if self._writer is not None else None


def write_sequence(folder: str | Path, frames, record: list[dict], fps: float = 25, video: bool = True,
                   **meta) -> Path:
    """Write ``frames`` (iterable of [H, W, 3]) with ``record`` ([{"img_id", "aud_id"}] per frame) to
    ``folder`` in the one sequence format; returns the folder."""
    with SequenceWriter(folder, fps, video, **meta) as w:
        for img, entry in zip(frames, record, strict=True):
            w.add(img, entry.get("img_id"), entry.get("aud_id"))
    return Path(folder)


def write_metrics(folder: str | Path, step: int, psnrs: list[float], frames: int, video: Path | None) -> dict:
    """metrics.json beside a sequence whose frames have ground truth: per-frame PSNR (dB) in frame order."""
    result = {"step": step, "frames": frames, "psnr_per_frame": psnrs,
              "psnr_mean": float(np.mean(psnrs)) if psnrs else None, "video": str(video) if video else None}
    save_json(Path(folder) / "metrics.json", result)
    return result
