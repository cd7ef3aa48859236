"""Frames without a record (another method's, a colleague's): paired by file name or by order (--pair)."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from adnerf.sequence_record import frame_file, record_dict, write_record
from data_util.synthetic_head import make_synthetic_dataset
from evaluation import evaluate


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    """A 32 px synthetic subject (55 frames: validation frames 50..54) and a noisy 'render' of its
    validation poses in shuffled order, with its record (rendered/) and as bare <img_id>.png frames (bare/)."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("ds") / "synth", n_frames=55, size=32)
    val = json.loads((root / "transforms_val.json").read_text())["frames"]
    rng = np.random.default_rng(1)
    order = [3, 0, 4, 1, 2]
    for folder in ("rendered", "bare"):
        (root / folder).mkdir()
    for i, k in enumerate(order):
        img = np.asarray(Image.open(root / "ori_imgs" / f"{val[k]['img_id']}.jpg"), dtype=float)
        noisy = Image.fromarray(np.clip(img + rng.normal(0, 10, img.shape), 0, 255).astype(np.uint8))
        noisy.save(root / "rendered" / frame_file(i))
        noisy.save(root / "bare" / f"{val[k]['img_id']:04d}.png")       # 0052.png pairs with 52.jpg
    write_record(root / "rendered", record_dict([{"img_id": val[k]["img_id"], "aud_id": val[k]["aud_id"]}
                                                 for k in order], fps=25, testskip=1))
    return root


def run(dataset: Path, out: Path, *extra, subject: bool = True) -> int:
    args = ["--subject", "synth", "--dataset_root", str(dataset.parent)] if subject else []
    return evaluate.main(args + ["--out_dir", str(out), "--metrics", "psnr", "ssim", "--device", "cpu",
                                 "--no_progress", *map(str, extra)])


def results(out: Path) -> dict:
    return json.loads((out / "evaluation_results.json").read_text())


def by_key(res: dict, entry: str) -> dict:
    return dict(zip(res["frame_ids"], res["metrics"][entry]["per_frame"]))


def test_name_pairing_gives_the_numbers_of_the_record(dataset, tmp_path):
    assert run(dataset, tmp_path / "rec", "--gen_dir", dataset / "rendered") == 0
    assert run(dataset, tmp_path / "name", "--gen_dir", dataset / "bare") == 0      # auto: no record -> name
    rec, name = results(tmp_path / "rec"), results(tmp_path / "name")
    assert rec["pairing"]["mode"] == "record" and name["pairing"]["mode"] == "name"
    assert sorted(name["frame_ids"]) == [0, 1, 2, 3, 4] and name["img_ids"] == [50, 51, 52, 53, 54]
    for entry in ("psnr", "ssim", "psnr_face", "ssim_face"):
        assert by_key(name, entry) == by_key(rec, entry), entry
        assert name["metrics"][entry]["mean"] == pytest.approx(rec["metrics"][entry]["mean"], abs=1e-12)
    assert 20 < rec["metrics"]["psnr"]["mean"] < 40      # not identical frames: the pairing matters
    # without a subject: a ground-truth folder of <img_id>.jpg (ori_imgs) pairs by the same names
    assert run(dataset, tmp_path / "dir", "--gen_dir", dataset / "bare", "--gt_dir", dataset / "ori_imgs",
               subject=False) == 0
    plain = results(tmp_path / "dir")
    assert sorted(plain["frame_ids"]) == [50, 51, 52, 53, 54]
    assert {k - 50: v for k, v in by_key(plain, "psnr").items()} == by_key(rec, "psnr")
    # the report says how the frames were paired (read back from the written file)
    assert "paired: by file name (numeric names are ids" in (tmp_path / "dir" / "evaluation_report.txt").read_text()
    assert "paired: by frames.json" in (tmp_path / "rec" / "evaluation_report.txt").read_text()


def test_a_frame_without_partner_is_named_in_one_line(dataset, tmp_path, capsys):
    bare = Path(shutil.copytree(dataset / "bare", tmp_path / "bare"))
    shutil.copy(bare / "0050.png", bare / "0077.png")
    assert run(dataset, tmp_path / "out", "--gen_dir", bare) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0077.png" in err and "'77'" in err and "50..54" in err
    assert not (tmp_path / "out" / "evaluation_report.txt").exists()
    # two files of one name (0050.png and 50.png) cannot both pair by name
    (bare / "0077.png").rename(bare / "50.png")
    assert run(dataset, tmp_path / "out", "--gen_dir", bare) == 2
    err = capsys.readouterr().err
    assert "0050.png and 50.png" in err and "--pair order" in err


def test_a_size_mismatch_shows_both_sizes(dataset, tmp_path, capsys):
    bare = Path(shutil.copytree(dataset / "bare", tmp_path / "bare"))
    Image.open(bare / "0052.png").resize((40, 36)).save(bare / "0052.png")
    assert run(dataset, tmp_path / "out", "--gen_dir", bare) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "0052.png" in err and "40x36" in err and "32x32" in err
    assert "--resize" in err
    assert run(dataset, tmp_path / "out", "--gen_dir", bare, "--resize") == 0
    assert results(tmp_path / "out")["n_pairs"] == 5


def test_order_pairing(dataset, tmp_path, capsys):
    val = json.loads((dataset / "transforms_val.json").read_text())["frames"]
    ordered = tmp_path / "ordered"
    ordered.mkdir()
    for k, f in enumerate(val):     # any names: frame_a.png ... in validation order
        shutil.copy(dataset / "bare" / f"{f['img_id']:04d}.png", ordered / f"frame_{'abcde'[k]}.png")
    assert run(dataset, tmp_path / "rec", "--gen_dir", dataset / "rendered") == 0
    assert run(dataset, tmp_path / "ord", "--gen_dir", ordered, "--pair", "order") == 0
    res = results(tmp_path / "ord")
    assert res["pairing"]["mode"] == "order" and res["frame_ids"] == [0, 1, 2, 3, 4]
    assert by_key(res, "psnr") == by_key(results(tmp_path / "rec"), "psnr")
    assert "paired: by order" in (tmp_path / "ord" / "evaluation_report.txt").read_text()
    # by name these names have no partner; by order a count mismatch names the first frame left over
    assert run(dataset, tmp_path / "x", "--gen_dir", ordered) == 2
    assert "frame_a.png" in capsys.readouterr().err
    (ordered / "frame_e.png").unlink()
    assert run(dataset, tmp_path / "x", "--gen_dir", ordered, "--pair", "order") == 2
    err = capsys.readouterr().err
    assert "4 vs 5" in err and "'54'" in err
    # a record, when present, wins over names unless --pair says otherwise
    shutil.copy(dataset / "rendered" / "frames.json", ordered / "frames.json")
    assert run(dataset, tmp_path / "x", "--gen_dir", ordered) == 2
    assert "frames.json" in capsys.readouterr().err
