"""A side-by-side video (ground truth | render) of the reconstructed validation frames, with their sound.

    python evaluation/side_by_side.py --subject <id> --gen_dir DIR [--testskip 1] [--output side_by_side.mp4]

Frame k of ``--gen_dir`` (``<k>.jpg``, as the driving mode with ``--aud_from_pose`` writes them) is paired
with ``ori_imgs/<img_id>.jpg`` of the k-th validation frame (every ``testskip``-th of transforms_val.json),
i.e. by frame id, not by sorted file names. The sound is the dataset's aud.wav from the first validation
frame on, so the video can be watched and listened to as it was filmed.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from adnerf.constants import FPS
from adnerf.errors import AdnerfError as UserError
from adnerf.errors import report
from adnerf.media import mux_audio, write_video
from adnerf.media import read_image as load_image

ROOT = Path(__file__).resolve().parents[1]


def labelled(image: np.ndarray, text: str) -> np.ndarray:
    """uint8 [H, W, 3] with a small caption in the top-left corner (PIL's built-in font)."""
    from PIL import Image, ImageDraw
    im = Image.fromarray(image)
    draw = ImageDraw.Draw(im)
    draw.rectangle((0, 0, 7 * len(text) + 4, 13), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(255, 255, 255))
    return np.asarray(im)


def paired_frames(dataset_dir: Path, gen_dir: Path, testskip: int) -> tuple[list[np.ndarray], int]:
    """[(gt | render) uint8 [H, 2W, 3]] for every rendered validation frame, and the first frame's aud_id."""
    meta = json.loads((dataset_dir / "transforms_val.json").read_text())
    frames = meta["frames"][::max(testskip, 1)]
    out = []
    for k, frame in enumerate(frames):
        gen_path = gen_dir / f"{k}.jpg"
        if not gen_path.is_file():
            break
        gt, gen = load_image(dataset_dir / "ori_imgs" / f"{frame['img_id']}.jpg"), load_image(gen_path)
        if gt.shape != gen.shape:
            raise UserError(f"{gen_path} is {gen.shape[1]}x{gen.shape[0]}, the ground truth is {gt.shape[1]}x{gt.shape[0]}")
        out.append(np.concatenate([labelled(gt, "ground truth"), labelled(gen, "AD-NeRF")], axis=1))
    if not out:
        raise UserError(f"no rendered frames 0.jpg, 1.jpg, ... in {gen_dir}")
    return out, int(frames[0].get("aud_id", frames[0]["img_id"]))


def side_by_side(dataset_dir: Path, gen_dir: Path, output: Path, testskip: int = 1) -> Path:
    """Write ``output`` (H.264, 25 fps, with the matching part of aud.wav when it exists)."""
    frames, first_aud = paired_frames(dataset_dir, gen_dir, testskip)
    silent = write_video(output.with_name(output.stem + "_silent.mp4"), frames, FPS)
    wav = dataset_dir / "aud.wav"
    if not wav.is_file() or testskip != 1:  # skipped frames would run ahead of the sound
        silent.replace(output)
        return output
    mux_audio(silent, wav, output, audio_offset=first_aud / FPS)
    silent.unlink()
    return output


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subject", required=True, help="dataset id (dataset/<id>) or a dataset folder")
    p.add_argument("--gen_dir", required=True, help="rendered validation frames <k>.jpg")
    p.add_argument("--testskip", type=int, default=1, help="the testskip the frames were rendered with")
    p.add_argument("--output", help="default: <gen_dir>/side_by_side.mp4")
    a = p.parse_args(argv)
    dataset_dir = Path(a.subject) if Path(a.subject).is_dir() else ROOT / "dataset" / a.subject
    gen_dir = Path(a.gen_dir)
    try:
        out = side_by_side(dataset_dir, gen_dir, Path(a.output) if a.output else gen_dir / "side_by_side.mp4",
                           a.testskip)
    except UserError as exc:
        return report(exc, 1)
    print(f"side-by-side video: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
