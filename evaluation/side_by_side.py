"""A side-by-side video (ground truth | render) of the reconstructed validation frames, with their sound.

    python evaluation/side_by_side.py --subject <id> --gen_dir DIR [--output side_by_side.mp4]

``--gen_dir`` is a rendered sequence (e.g. driving with ``--aud_from_pose``): each frame is paired with
``ori_imgs/<img_id>.jpg`` of the pose that rendered it, as its frames.json records. When the frames'
audio rows are consecutive, the sound is the dataset's aud.wav from the first one on, so the video can be
watched and listened to as it was filmed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from adnerf.constants import FPS
from adnerf.errors import AdnerfError as UserError
from adnerf.errors import report
from adnerf.media import mux_audio, write_video
from adnerf.media import read_image as load_image
from adnerf.sequence_record import SequenceRecordError, read_sequence_record

ROOT = Path(__file__).resolve().parents[1]


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """uint8 [H, W, 3] with a small caption in the top-left corner (PIL's built-in font)."""
    from PIL import Image, ImageDraw
    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 7 * len(text) + 4, 13), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(255, 255, 255))
    return np.asarray(im)


def paired_frames(dataset_dir: Path, gen_dir: Path) -> tuple[list[np.ndarray], list[int | None]]:
    """[(gt | render) uint8 [H, 2W, 3]] for every recorded frame whose pose has a ground-truth image, and
    the aud_id of each."""
    try:
        record = read_sequence_record(gen_dir)
    except SequenceRecordError as exc:
        raise UserError(str(exc)) from None
    out, aud_ids = [], []
    for f in record.frames:
        gt_path = dataset_dir / "ori_imgs" / f"{f.img_id}.jpg"
        if f.img_id is None or not gt_path.is_file():
            continue
        gen_path = gen_dir / f.file
        gt, gen = load_image(gt_path), load_image(gen_path)
        if gt.shape != gen.shape:
            raise UserError(f"{gen_path} is {gen.shape[1]}x{gen.shape[0]}, the ground truth is {gt.shape[1]}x{gt.shape[0]}")
        out.append(np.concatenate([labelled(gt, "ground truth"), labelled(gen, "AD-NeRF")], axis=1))
        aud_ids.append(f.aud_id)
    if not out:
        raise UserError(f"no frame of {gen_dir} shows a pose with a ground-truth image in {dataset_dir / 'ori_imgs'}")
    return out, aud_ids


def side_by_side(dataset_dir: Path, gen_dir: Path, output: Path) -> Path:
    """Write ``output`` (H.264, 25 fps, with the matching part of aud.wav when the audio rows run on)."""
    frames, aud_ids = paired_frames(dataset_dir, gen_dir)
    silent = write_video(output.with_name(output.stem + "_silent.mp4"), frames, FPS)
    wav = dataset_dir / "aud.wav"
    consecutive = None not in aud_ids and aud_ids == list(range(aud_ids[0], aud_ids[0] + len(aud_ids)))
    if not wav.is_file() or not consecutive:  # skipped frames would run ahead of the sound
        silent.replace(output)
        return output
    mux_audio(silent, wav, output, audio_offset=aud_ids[0] / FPS)
    silent.unlink()
    return output


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subject", required=True, help="dataset id (dataset/<id>) or a dataset folder")
    p.add_argument("--gen_dir", required=True, help="a rendered sequence (frames + frames.json)")
    p.add_argument("--output", help="default: <gen_dir>/side_by_side.mp4")
    a = p.parse_args(argv)
    dataset_dir = Path(a.subject) if Path(a.subject).is_dir() else ROOT / "dataset" / a.subject
    gen_dir = Path(a.gen_dir)
    try:
        out = side_by_side(dataset_dir, gen_dir, Path(a.output) if a.output else gen_dir / "side_by_side.mp4")
    except UserError as exc:
        return report(exc, 1)
    print(f"side-by-side video: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
