"""adnerf: the helpers every stage uses (errors, devices, atomic files, media, config files)."""
from __future__ import annotations

import errno
import subprocess
import sys

import numpy as np
import pytest
import torch

from adnerf import configfile, devices, errors, files, media


def test_every_stage_error_is_the_one_error():
    from add_audio.add_audio import MuxError
    from adnerf.download import DownloadError
    from adnerf.landmarks import LandmarkBackendUnavailable
    from data_util.common import StepError
    from evaluation.driving_audio import AudioError
    from evaluation.inputs import InputError
    from evaluation.weights import MetricUnavailable
    from adnerf.sequence_record import SequenceRecordError
    from NeRFs.core.utils import UserError
    for cls in (MuxError, DownloadError, LandmarkBackendUnavailable, StepError, AudioError, InputError,
                MetricUnavailable, UserError, SequenceRecordError):
        assert issubclass(cls, errors.AdnerfError), cls


def test_report_and_run_command_print_one_line(capsys):
    def fail():
        raise errors.AdnerfError("dataset/x/aud.npy: frame 7 holds NaN")
    assert errors.run_command(fail, 3) == 3
    assert capsys.readouterr().err == "error: dataset/x/aud.npy: frame 7 holds NaN\n"
    assert errors.run_command(lambda: None) == 0
    with pytest.raises(errors.AdnerfError, match=r"unknown tracker 'x': choose one of bfm, rigid"):
        errors.check_choice("x", ("bfm", "rigid"), "tracker")


def test_importing_the_shared_layer_loads_no_heavy_library():
    code = ("import sys, pkgutil, importlib, adnerf\n"
            "[importlib.import_module('adnerf.' + m.name) for m in pkgutil.iter_modules(adnerf.__path__)]\n"
            "print(sorted(k for k in ('torch', 'PIL', 'scipy', 'imageio', 'cv2', 'tensorflow') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_devices():
    assert devices.resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert devices.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(errors.AdnerfError, match="not a device"):
        devices.resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(errors.AdnerfError, match="sees no CUDA device"):
            devices.resolve_device("cuda")
    else:
        n = torch.cuda.device_count()
        assert devices.resolve_device("cuda:0").type == "cuda"
        with pytest.raises(errors.AdnerfError, match=f"sees {n} CUDA device"):
            devices.resolve_device(f"cuda:{n}")


def test_atomic_path_keeps_the_suffix_and_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "sub" / "a.png"
    with pytest.raises(RuntimeError):
        with files.atomic_path(target) as tmp:
            assert tmp.parent == target.parent and tmp.name.startswith(".a.") and tmp.name.endswith(".part.png")
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert list(target.parent.iterdir()) == []
    files.save_json(target.with_suffix(".json"), {"a": 1})
    assert target.with_suffix(".json").read_text() == '{\n "a": 1\n}'
    (tmp_path / ".b.x1.part.jpg").write_bytes(b"stale")
    assert [p.name for p in files.remove_partial_files(tmp_path)] == [".b.x1.part.jpg"]


def test_the_full_disk_line():
    exc = OSError(errno.ENOSPC, "No space left on device", "/data/me/com_imgs/3.jpg")
    assert files.is_disk_full(exc) and not files.is_disk_full(OSError(errno.EACCES, "denied"))
    where = files.full_folder(exc, "/data/me")
    assert files.no_space_message(where, "free some space") == "no space left on /data/me/com_imgs; free some space"


def test_images_round_trip_and_to_uint8_is_idempotent(tmp_path):
    rgb = torch.rand(5, 7, 3)
    once = media.to_uint8(rgb)
    assert once.dtype == np.uint8 and np.array_equal(media.to_uint8(once), once)   # a second call changes nothing
    assert np.array_equal(once, np.round(255 * rgb.numpy()).astype(np.uint8))
    media.write_image(tmp_path / "f.png", rgb)
    assert np.array_equal(media.read_image(tmp_path / "f.png"), once)
    assert media.image_size(tmp_path / "f.png") == (7, 5)
    assert media.decode_problem(tmp_path / "f.png", (7, 5)) is None
    assert media.decode_problem(tmp_path / "f.png", (8, 5)).startswith("is 7x5")
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(errors.AdnerfError, match=r"cannot read image .*bad.jpg.*\(re-run it\)$"):
        media.read_image(tmp_path / "bad.jpg", hint="re-run it")
    assert "cannot be decoded" in media.decode_problem(tmp_path / "bad.jpg")


def test_config_files(tmp_path, monkeypatch):
    cfg = tmp_path / "c.txt"
    cfg.write_text("# comment\nexpname = a_head\nbasedir: ./logs/  # trailing\n\ntestskip = 1\ntestskip = 2\n")
    assert configfile.read_config(cfg) == {"expname": "a_head", "basedir": "./logs/", "testskip": "2"}
    assert configfile.read_config(tmp_path / "missing.txt") == {}
    monkeypatch.chdir(tmp_path)
    assert configfile.path_candidates("logs", cfg) == [tmp_path / "logs", configfile.REPO_ROOT / "logs",
                                                       tmp_path / "logs"]
    assert configfile.unknown_nerf_options(["N_iters", "no-use_viewdirs", "N_itres"]) == ["N_itres"]
