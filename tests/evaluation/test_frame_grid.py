"""evaluation/frame_grid.py: the picture ground truth | NeRF torso | portrait of the same validation frames.

The inputs are noise images, different in every frame and every column, so a tile that shows another frame,
another column or shifted pixels is found; the PNG is read back and every tile compared with its input.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from adnerf.errors import AdnerfError
from adnerf.media import read_image, write_image
from adnerf.sequence_record import frame_file, record_dict, write_record
from evaluation import frame_grid

SIZE = 24                                   # px of the synthetic frames
IMG_IDS = [40, 41, 42, 43, 44]              # the validation frames' poses (positions 0..4)
FACE_RECTS = [[6, 5, 10, 12], [7, 6, 10, 12], [6, 6, 10, 11], [8, 4, 9, 12], [6, 5, 10, 12]]


def noise(seed: int, size: int = SIZE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


@pytest.fixture
def dataset(tmp_path) -> Path:
    """dataset/synth: transforms_val.json (5 frames with face_rect) and ori_imgs/<img_id>.jpg."""
    root = tmp_path / "synth"
    frames = [{"img_id": i, "aud_id": i, "transform_matrix": np.eye(4).tolist(), "face_rect": r}
              for i, r in zip(IMG_IDS, FACE_RECTS)]
    (root / "ori_imgs").mkdir(parents=True)
    (root / "transforms_val.json").write_text(json.dumps({"focal_len": 30.0, "frames": frames}))
    for i in IMG_IDS:
        write_image(root / "ori_imgs" / f"{i}.jpg", noise(i))
    return root


def make_sequence(folder: Path, img_ids: list[int], seed: int, kind: str, size: int = SIZE) -> dict[int, np.ndarray]:
    """A rendered sequence (PNG frames + frames.json) of the poses ``img_ids`` in that order; returns
    {img_id: the frame written}."""
    written = {}
    folder.mkdir(parents=True)
    for index, img_id in enumerate(img_ids):
        written[img_id] = noise(seed + img_id, size)
        write_image(folder / frame_file(index), written[img_id])
    write_record(folder, record_dict([{"img_id": i, "aud_id": i} for i in img_ids], fps=25, kind=kind))
    return written


@pytest.fixture
def sequences(dataset):
    """val_rst (every pose, in order) and val_rst_portrait (other poses first, reversed: pairing is by pose)."""
    com = dataset / "logs" / "synth_com"
    nerf = make_sequence(com / "val_rst", IMG_IDS, 1000, "driving")
    portrait = make_sequence(com / "val_rst_portrait", IMG_IDS[::-1], 2000, "portrait")
    return com / "val_rst", com / "val_rst_portrait", nerf, portrait


def tile(grid: np.ndarray, row: int, col: int, h: int, w: int) -> np.ndarray:
    """Tile (row, col) of a grid, at the layout the module documents: a label band, then per row a caption
    band and the tiles, GAP px between tiles."""
    band, gap = frame_grid.LABEL_HEIGHT, frame_grid.GAP
    y = band + row * (band + h + gap) + band
    x = col * (w + gap)
    return grid[y:y + h, x:x + w]


def test_each_tile_holds_its_frame_of_its_column(dataset, sequences, tmp_path):
    nerf_dir, portrait_dir, nerf, portrait = sequences
    out = tmp_path / "grid.png"
    assert frame_grid.main(["--dataset", str(dataset), "--sequence", str(nerf_dir), str(portrait_dir),
                            "--frames", "0", "3", "4", "-o", str(out)]) == 0
    grid = read_image(out)
    rows = 3
    assert grid.shape == (frame_grid.LABEL_HEIGHT + rows * (frame_grid.LABEL_HEIGHT + SIZE + frame_grid.GAP)
                          - frame_grid.GAP, 3 * (SIZE + frame_grid.GAP) - frame_grid.GAP, 3)
    for row, k in enumerate([0, 3, 4]):
        img_id = IMG_IDS[k]
        gt = read_image(dataset / "ori_imgs" / f"{img_id}.jpg")        # decoded as evaluation decodes it
        np.testing.assert_array_equal(tile(grid, row, 0, SIZE, SIZE), gt)
        np.testing.assert_array_equal(tile(grid, row, 1, SIZE, SIZE), nerf[img_id])
        np.testing.assert_array_equal(tile(grid, row, 2, SIZE, SIZE), portrait[img_id])
    # the label band holds text (dark pixels on white) above every column, and white above the gaps
    band = grid[:frame_grid.LABEL_HEIGHT]
    for col in range(3):
        x = col * (SIZE + frame_grid.GAP)
        assert (band[:, x:x + SIZE].min(axis=2) < 128).any()
    assert (band[:, SIZE:SIZE + frame_grid.GAP] == 255).all()


def test_labels_come_from_the_records_kind(dataset, sequences):
    nerf_dir, portrait_dir, *_ = sequences
    assert frame_grid.sequence_column(nerf_dir, [40]).label == "NeRF torso"
    assert frame_grid.sequence_column(portrait_dir, [40]).label == "portrait"


def test_count_spreads_frames_over_the_validation_set(dataset, sequences):
    assert frame_grid.evenly_spaced(3, 5) == [0, 2, 4]
    assert frame_grid.evenly_spaced(3, 46) == [0, 22, 45]
    assert frame_grid.evenly_spaced(1, 46) == [0]
    nerf_dir, _, nerf, _ = sequences
    grid = frame_grid.frame_grid(dataset, [nerf_dir], count=2)
    np.testing.assert_array_equal(tile(grid, 1, 1, SIZE, SIZE), nerf[IMG_IDS[4]])


def test_face_crop_cuts_every_tile_to_one_enlarged_rectangle(dataset, sequences, tmp_path):
    nerf_dir, portrait_dir, nerf, portrait = sequences
    out = tmp_path / "face.png"
    assert frame_grid.main(["--dataset", str(dataset), "--sequence", str(nerf_dir), str(portrait_dir),
                            "--frames", "1", "3", "--crop", "face", "--enlarge", "1.5", "--scale", "3",
                            "-o", str(out)]) == 0
    grid = read_image(out)
    # union of rects 1 and 3: x 7..17, y 4..18 (10 x 14); x1.5 about the centre (12, 11): 15 x 21 from
    # (round(4.5), round(0.5)) = (4, 0) (Python rounds half to even): the frame's pixels [0:21, 4:19]
    assert frame_grid.face_crop_rect([FACE_RECTS[1], FACE_RECTS[3]], 1.5) == [4, 0, 15, 21]
    y0, y1, x0, x1 = 0, 21, 4, 19
    h, w = (y1 - y0) * 3, (x1 - x0) * 3
    for row, k in enumerate([1, 3]):
        img_id = IMG_IDS[k]
        gt = read_image(dataset / "ori_imgs" / f"{img_id}.jpg")
        for col, frame in enumerate([gt, nerf[img_id], portrait[img_id]]):
            expected = np.repeat(np.repeat(frame[y0:y1, x0:x1], 3, axis=0), 3, axis=1)
            np.testing.assert_array_equal(tile(grid, row, col, h, w), expected)


def test_face_crop_is_clipped_to_the_frame_and_enlarged_to_a_visible_size(dataset, sequences):
    nerf_dir, _, nerf, _ = sequences
    grid = frame_grid.frame_grid(dataset, [nerf_dir], frames=[0], crop="face", enlarge=4.0)
    # rect 0 x4 about (11, 11) runs past every side: the whole 24 px frame, scaled to >= FACE_TILE_HEIGHT px
    scale = -(-frame_grid.FACE_TILE_HEIGHT // SIZE)
    expected = np.repeat(np.repeat(nerf[40], scale, axis=0), scale, axis=1)
    np.testing.assert_array_equal(tile(grid, 0, 1, SIZE * scale, SIZE * scale), expected)


def test_a_scale_below_one_resamples(dataset, sequences):
    nerf_dir, *_ = sequences
    grid = frame_grid.frame_grid(dataset, [nerf_dir], frames=[0, 1], scale=0.5)
    assert grid.shape[1] == 2 * (SIZE // 2) + frame_grid.GAP


@pytest.mark.parametrize("args, message", [
    (["--frames", "5"], "frame 5 is out of range: the dataset has 5 validation frames (0..4)"),
    (["--frames", "-1"], "frame -1 is out of range"),
    (["--count", "6"], "--count 6: the dataset has only 5 validation frames"),
])
def test_frames_out_of_range_are_refused(dataset, sequences, tmp_path, capsys, args, message):
    nerf_dir, *_ = sequences
    out = tmp_path / "grid.png"
    assert frame_grid.main(["--dataset", str(dataset), "--sequence", str(nerf_dir), *args, "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_missing_folders_are_refused_in_one_line(dataset, sequences, tmp_path, capsys):
    nerf_dir, *_ = sequences
    assert frame_grid.main(["--dataset", str(tmp_path / "nope"), "--sequence", str(nerf_dir)]) == 2
    assert f"dataset folder {tmp_path / 'nope'} does not exist" in capsys.readouterr().err
    assert frame_grid.main(["--dataset", str(dataset), "--sequence", str(tmp_path / "gone")]) == 2
    err = capsys.readouterr().err
    assert f"sequence folder {tmp_path / 'gone'} does not exist" in err and len(err.strip().splitlines()) == 1


def test_a_sequence_without_the_pose_is_refused(dataset, tmp_path):
    partial = tmp_path / "partial"
    make_sequence(partial, [40, 41], 3000, "driving")
    with pytest.raises(AdnerfError, match="has no frame of pose img_id 44"):
        frame_grid.frame_grid(dataset, [partial], frames=[0, 4])


def test_images_of_different_sizes_are_refused(dataset, tmp_path, capsys):
    small = tmp_path / "small"
    make_sequence(small, IMG_IDS, 4000, "driving", size=SIZE // 2)
    out = tmp_path / "grid.png"
    assert frame_grid.main(["--dataset", str(dataset), "--sequence", str(small), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "images of different sizes:" in err and "is 12x12" in err and f"is {SIZE}x{SIZE}" in err
    assert len(err.strip().splitlines()) == 1 and not out.exists()


def test_written_atomically_next_to_the_first_sequence_by_default(dataset, sequences):
    nerf_dir, *_ = sequences
    assert frame_grid.main(["--dataset", str(dataset), "--sequence", str(nerf_dir), "--count", "2"]) == 0
    assert (nerf_dir / "frame_grid.png").is_file()
    assert not list(nerf_dir.glob(".*.part*"))
