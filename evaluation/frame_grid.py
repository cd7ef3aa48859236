"""One picture of the same validation frames side by side: ground truth | NeRF torso | portrait (or any sequences).

    python evaluation/frame_grid.py --dataset dataset/<id> \\
        --sequence dataset/<id>/logs/<id>_com/val_rst dataset/<id>/logs/<id>_com/val_rst_portrait \\
        (--frames 0 20 40 | --count 3) [--crop face] [--scale S] [--labels ...] [-o grid.png]

A row per frame, a column per input: the ground truth first (ori_imgs/<img_id>.jpg of validation frame k, read as
evaluation/evaluate.py reads it), then one column per rendered sequence (a folder with frames.json, as the NeRFs'
``--rst_dir`` and ``adnerf-portrait`` write them). Frame k is the k-th frame of transforms_val.json; each
sequence's frame of it is the one its frames.json records with the same pose (img_id), so sequences in other
orders or with other frames still line up. Column labels above the columns (default: "ground truth", then
"portrait" for a sequence whose record kind is portrait, else "NeRF torso"), a caption above each row
(validation frame k, its img_id).

``--crop face`` cuts every tile to one rectangle: the union of the shown frames' face_rect (transforms_val.json),
enlarged ``--enlarge`` times about its centre and clipped to the frame, so every tile shows the same pixels of
each frame, and enlarges it (``--scale``, default the whole factor that makes a tile at least 256 px high) with
nearest-neighbour so the eyes, mouth and jaw are seen pixel by pixel. A whole ``--scale`` >= 1 repeats pixels
(nearest); any other scale resamples (Lanczos), e.g. 0.5 to keep a 512 px grid small.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from adnerf.errors import AdnerfError, run_command
from adnerf.files import atomic_path
from evaluation.inputs import PORTRAIT_KIND, read_images, read_record, read_transforms, read_validation_gt
from evaluation.metrics.image import crop_rect

LABEL_HEIGHT = 14              # px of the column-label band at the top and of each row's caption band
GAP = 2                        # px of background between tiles
BACKGROUND = (255, 255, 255)   # of the bands and gaps
TEXT = (0, 0, 0)
FACE_TILE_HEIGHT = 256         # --crop face without --scale: enlarged (whole factor) to at least this height
DEFAULT_ENLARGE = 1.3          # --crop face: the face rectangles' union times this (room for the jaw and hair)


@dataclass
class Column:
    """One column of the grid: its label and the frames of the chosen rows, uint8 [H, W, 3] each."""
    label: str
    frames: list[np.ndarray]
    where: list[str]           # the file each frame was read from (for error messages)


def evenly_spaced(count: int, n_frames: int) -> list[int]:
    """``count`` frame positions spread over 0..n_frames-1, first and last included (count 1: the first)."""
    if count < 1:
        raise AdnerfError(f"--count {count}: give at least 1")
    if count > n_frames:
        raise AdnerfError(f"--count {count}: the dataset has only {n_frames} validation frames")
    if count == 1:
        return [0]
    return [round(i * (n_frames - 1) / (count - 1)) for i in range(count)]


def check_frames(frames: list[int], n_frames: int) -> list[int]:
    """The positions themselves when each is a validation frame 0..n_frames-1, else a one-line error."""
    for k in frames:
        if not 0 <= k < n_frames:
            raise AdnerfError(f"frame {k} is out of range: the dataset has {n_frames} validation frames "
                              f"(0..{n_frames - 1})")
    return frames


def sequence_column(folder: Path, img_ids: list[int], label: str | None = None) -> Column:
    """The frames of a rendered sequence that show the poses ``img_ids`` (by its frames.json), uint8 [H, W, 3].

    One-line errors: no folder, no record, a pose it did not render, a frame file missing."""
    folder = Path(folder)
    if not folder.is_dir():
        raise AdnerfError(f"sequence folder {folder} does not exist: render it first (run_nerf.py --rst_dir, "
                          f"adnerf-portrait --sequence)")
    record = read_record(folder, f"sequence {folder}")
    by_pose = {}
    for entry in record.frames:
        by_pose.setdefault(entry.img_id, entry)     # the first frame of each pose
    paths = []
    for img_id in img_ids:
        if img_id not in by_pose:
            raise AdnerfError(f"sequence {folder} has no frame of pose img_id {img_id} (its frames.json lists "
                              f"{len(record.frames)} frames): render the validation poses (--aud_from_pose "
                              f"--testskip 1 --test_size -1)")
        paths.append(folder / by_pose[img_id].file)
        if not paths[-1].is_file():
            raise AdnerfError(f"{paths[-1]} is listed in {folder / 'frames.json'} but missing: render it again")
    if label is None:
        label = "portrait" if record.meta.get("kind") == PORTRAIT_KIND else "NeRF torso"
    return Column(label, read_images(paths, f"reading {folder.name}", progress=False), [str(p) for p in paths])


def check_sizes(columns: list[Column]) -> tuple[int, int]:
    """(H, W) shared by every frame of every column, else a one-line error naming two that differ."""
    first = columns[0]
    h, w = first.frames[0].shape[:2]
    for col in columns:
        for frame, where in zip(col.frames, col.where):
            if frame.shape[:2] != (h, w):
                raise AdnerfError(f"images of different sizes: {where} is {frame.shape[1]}x{frame.shape[0]}, "
                                  f"{first.where[0]} is {w}x{h} (width x height): render the sequence from this "
                                  f"dataset")
    return h, w


def face_crop_rect(face_rects: list, enlarge: float = DEFAULT_ENLARGE) -> list[int]:
    """One rectangle [x, y, w, h] for every tile: the union of ``face_rects`` ([x, y, w, h] each, x = column)
    scaled by ``enlarge`` about its centre (not yet clipped to the frame: crop_rect does that)."""
    if not enlarge > 0 or not math.isfinite(enlarge):
        raise AdnerfError(f"--enlarge {enlarge}: give a finite number > 0")
    x0 = min(r[0] for r in face_rects)
    y0 = min(r[1] for r in face_rects)
    x1 = max(r[0] + r[2] for r in face_rects)
    y1 = max(r[1] + r[3] for r in face_rects)
    cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) * enlarge, (y1 - y0) * enlarge
    return [int(round(cx - w / 2)), int(round(cy - h / 2)), int(round(w)), int(round(h))]


def resize_tile(tile: np.ndarray, scale: float) -> np.ndarray:
    """uint8 [H, W, 3] -> [round(H s), round(W s), 3]: a whole s >= 1 repeats each pixel s x s times (nearest),
    any other s resamples with Lanczos."""
    if scale == 1:
        return tile
    if scale >= 1 and float(scale).is_integer():
        s = int(scale)
        return np.repeat(np.repeat(tile, s, axis=0), s, axis=1)
    from PIL import Image
    h, w = tile.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return np.asarray(Image.fromarray(tile).resize(size, Image.LANCZOS))


def tile_origin(row: int, col: int, tile_h: int, tile_w: int) -> tuple[int, int]:
    """(y, x) of the top-left pixel of tile (row, col) in the grid: below the label band and the row's caption."""
    return (LABEL_HEIGHT + row * (LABEL_HEIGHT + tile_h + GAP) + LABEL_HEIGHT, col * (tile_w + GAP))


def compose_grid(tiles: list[list[np.ndarray]], labels: list[str], captions: list[str]) -> np.ndarray:
    """tiles[row][col] uint8 [h, w, 3] (all one size) -> the grid uint8 [H, W, 3] with ``labels`` (one per column)
    centred above the columns and ``captions`` (one per row) above each row; H = LABEL_HEIGHT + rows
    (LABEL_HEIGHT + h + GAP) - GAP, W = cols (w + GAP) - GAP."""
    from PIL import Image, ImageDraw, ImageFont
    rows, cols = len(tiles), len(labels)
    h, w = tiles[0][0].shape[:2]
    height = LABEL_HEIGHT + rows * (LABEL_HEIGHT + h + GAP) - GAP
    canvas = Image.new("RGB", (cols * (w + GAP) - GAP, height), BACKGROUND)
    draw, font = ImageDraw.Draw(canvas), ImageFont.load_default()
    for c, label in enumerate(labels):   # drawn on a band of the column's width: a long label is cut, not spilt
        band = Image.new("RGB", (w, LABEL_HEIGHT), BACKGROUND)
        band_draw = ImageDraw.Draw(band)
        band_draw.text((max(0, (w - band_draw.textlength(label, font=font)) / 2), 1), label, fill=TEXT, font=font)
        canvas.paste(band, (c * (w + GAP), 0))
    for r, (row, caption) in enumerate(zip(tiles, captions)):
        y, _ = tile_origin(r, 0, h, w)
        draw.text((2, y - LABEL_HEIGHT + 1), caption, fill=TEXT, font=font)
        for c, tile in enumerate(row):
            canvas.paste(Image.fromarray(tile), tile_origin(r, c, h, w)[::-1])
    return np.asarray(canvas)


def frame_grid(dataset: str | Path, sequences: list[str | Path], frames: list[int] | None = None,
               count: int | None = None, crop: str = "full", scale: float | None = None,
               enlarge: float = DEFAULT_ENLARGE, labels: list[str] | None = None) -> np.ndarray:
    """The grid uint8 [H, W, 3] (compose_grid's layout): ground truth, then each sequence, for validation frames
    ``frames`` (positions in transforms_val.json) or ``count`` of them evenly spaced."""
    dataset = Path(dataset)
    if not dataset.is_dir():
        raise AdnerfError(f"dataset folder {dataset} does not exist: give dataset/<id>")
    if labels is not None and len(labels) != len(sequences) + 1:
        raise AdnerfError(f"--labels: {len(labels)} given, {len(sequences) + 1} columns (the ground truth and "
                          f"{len(sequences)} sequences)")
    if scale is not None and not (math.isfinite(scale) and scale > 0):
        raise AdnerfError(f"--scale {scale}: give a finite number > 0")
    val = read_transforms(dataset)
    chosen = check_frames(list(frames), len(val)) if frames else evenly_spaced(count or 3, len(val))
    img_ids = [int(val[k]["img_id"]) for k in chosen]
    gt = read_validation_gt(dataset, [val[k] for k in chosen], progress=False)
    gt_paths = [str(dataset / "ori_imgs" / f"{i}.jpg") for i in img_ids]
    columns = [Column("ground truth", gt.frames, gt_paths)]
    columns += [sequence_column(s, img_ids) for s in sequences]
    check_sizes(columns)
    if labels is not None:
        for col, label in zip(columns, labels):
            col.label = label
    if crop == "face":
        rect = face_crop_rect([val[k]["face_rect"] for k in chosen], enlarge)
        for col in columns:
            col.frames = [crop_rect(f, rect) for f in col.frames]
        crop_h = columns[0].frames[0].shape[0]
        if columns[0].frames[0].size == 0:
            raise AdnerfError(f"the face rectangle {rect} of transforms_val.json lies outside the frames")
        if scale is None:
            scale = max(1, math.ceil(FACE_TILE_HEIGHT / crop_h))
    elif crop != "full":
        raise AdnerfError(f"unknown --crop {crop!r}: choose one of full, face")
    tiles = [[resize_tile(col.frames[r], scale or 1) for col in columns] for r in range(len(chosen))]
    captions = [f"validation frame {k} (img_id {i})" for k, i in zip(chosen, img_ids)]
    return compose_grid(tiles, [c.label for c in columns], captions)


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """uint8 [H, W, 3] -> a PNG at ``path`` (compressed as far as PNG goes), written atomically."""
    from PIL import Image
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise AdnerfError(f"--output {path}: the grid is written as PNG, give a .png name")
    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, optimize=True)
    return path


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", required=True, help="the dataset folder, dataset/<id> (transforms_val.json, ori_imgs/)")
    p.add_argument("--sequence", nargs="+", required=True, help="rendered sequence folders (frames + frames.json), "
                   "one column each, e.g. .../val_rst .../val_rst_portrait")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--frames", type=int, nargs="+", help="validation frame positions (0 = the first of "
                       "transforms_val.json)")
    which.add_argument("--count", type=int, default=3, help="this many frames evenly spaced (default 3)")
    p.add_argument("--crop", choices=("full", "face"), default="full", help="face: one enlarged face rectangle")
    p.add_argument("--enlarge", type=float, default=DEFAULT_ENLARGE, help="--crop face: the rectangle's factor")
    p.add_argument("--scale", type=float, help="tile size factor (default 1; --crop face: tiles >= "
                   f"{FACE_TILE_HEIGHT} px high)")
    p.add_argument("--labels", nargs="+", help="column labels: the ground truth's, then one per sequence")
    p.add_argument("-o", "--output", help="the PNG (default: frame_grid.png / frame_grid_face.png in the first "
                   "sequence's folder)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def run():
        grid = frame_grid(args.dataset, args.sequence, args.frames, args.count, args.crop, args.scale,
                          args.enlarge, args.labels)
        name = "frame_grid_face.png" if args.crop == "face" else "frame_grid.png"
        out = write_png(args.output or Path(args.sequence[0]) / name, grid)
        print(f"frame grid ({grid.shape[1]}x{grid.shape[0]}): {out}")
    return run_command(run)


if __name__ == "__main__":
    sys.exit(main())
