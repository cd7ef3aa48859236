"""Issue 12 in preprocessing: broken outputs of a finished step are redone or named, disk full is one line
and leaves nothing half-written, warnings that matter reach the console, the free space is checked first."""
import errno
import shutil

import numpy as np
import pytest
from PIL import Image

from data_util import common, dataset_space
from data_util import process_data as pdata
from data_util.common import StepError, save_image
from data_util.output_checks import broken_outputs
from data_util.process_data import find_step, parse_args, run_step


@pytest.fixture
def args(tmp_path):
    return parse_args(["--id", "subj", "--dataset_root", str(tmp_path), "--offline", "--no_progress",
                       "--device", "cpu"])


def images_stage(write=True, broken=False):
    """A stand-in for step 5: writes com_imgs/<n>.jpg for the frames 0-2 that are missing."""
    def run(dataset_dir, *, force=False, progress=True):
        for n in range(3):
            path = dataset_dir / "com_imgs" / f"{n}.jpg"
            if write and not path.is_file():
                if broken:
                    path.parent.mkdir(exist_ok=True)
                    path.write_bytes(b"\xff\xd8\xff\xe0 truncated")
                else:
                    save_image(path, np.full((16, 16, 3), 100 + n, np.uint8))
        return {"frames": 3}
    return run


def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_a_truncated_output_is_removed_and_redone(args, capsys):
    run_step(find_step("images"), args, stage=images_stage())
    truncate(args.dataset_dir / "com_imgs" / "1.jpg")
    assert [p.name for p, _ in broken_outputs(args.dataset_dir, "images")] == ["1.jpg"]
    entry = run_step(find_step("images"), args, stage=images_stage())
    err = capsys.readouterr().err
    assert f"step 5 (images): {args.dataset_dir / 'com_imgs' / '1.jpg'} cannot be decoded" in err
    assert "removed, the step redoes it" in err
    assert entry["redone_broken_files"] == [str(args.dataset_dir / "com_imgs" / "1.jpg")]
    assert not broken_outputs(args.dataset_dir, "images")


def test_a_step_that_leaves_broken_files_is_named(args):
    with pytest.raises(StepError, match=r"3 output file\(s\) of step 5 \(images\) are broken .*com_imgs/0.jpg"):
        run_step(find_step("images"), args, stage=images_stage(broken=True))


def test_broken_numbers_in_outputs_are_found(tmp_path):
    (tmp_path / "ori_imgs").mkdir()
    np.savetxt(tmp_path / "ori_imgs" / "0.lms", np.full((68, 2), np.nan))
    np.save(tmp_path / "aud.npy", np.zeros((4, 16, 29)))
    assert [why for _, why in broken_outputs(tmp_path, "landmarks")] == ["holds NaN or inf"]
    assert broken_outputs(tmp_path, "audio") == []


def test_disk_full_is_one_line_and_leaves_nothing_half_written(args, monkeypatch):
    def full(self, fp, *a, **k):
        with open(fp, "wb") as f:
            f.write(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(fp))
    monkeypatch.setattr(Image.Image, "save", full)
    with pytest.raises(StepError) as err:
        run_step(find_step("images"), args, stage=images_stage())
    assert str(err.value).startswith(f"no space left on {args.dataset_dir / 'com_imgs'}; nothing half-written")
    assert not list((args.dataset_dir / "com_imgs").iterdir())
    assert common.StepError is StepError


def test_warnings_of_a_step_reach_the_console(args, capsys):
    warning = "the sound is 3.00 s shorter than the 250 frames at 25 fps; features follow the frames"
    run_step(find_step("audio"), args, stage=lambda d, *, force=False, progress=True, **o: {"warning": warning})
    assert f"warning: step 0 (audio): {warning}" in capsys.readouterr().err


def test_free_space_and_writability_are_checked_before_any_step(args, monkeypatch):
    monkeypatch.setattr(dataset_space.shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(10, 10, 10))
    with pytest.raises(StepError, match=r"not enough space on .*subj: the steps will write about .* GB more "
                                        r"\(8000 frames of 450x450\), 0.0 GB free"):
        pdata.preflight(args, 8000, 450, 450)
    monkeypatch.undo()
    pdata.preflight(args, 10, 16, 16)
