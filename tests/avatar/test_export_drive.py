"""adnerf-export -> adnerf-drive --avatar: the person in one file renders, from another folder and without the
dataset, the frames that driving from the dataset renders (within 1/255), with sound; and adnerf-drive
without --avatar is the dataset driving it always was."""
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import imageio.v2 as imageio
import numpy as np
import pytest

from adnerf.media import ffmpeg_exe, probe
from avatar import drive, export


def frames_of(folder: Path) -> list[np.ndarray]:
    record = json.loads((folder / "frames.json").read_text())
    return [imageio.imread(folder / f["file"]).astype(np.int16) for f in record["frames"]]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# the MLP renders slowly on a CPU: its case drives the first 5 frames only
@pytest.mark.parametrize("backend, options, frames", [("grid", ["--skip_bg_pixels"], 16), ("mlp", [], 5)])
def test_export_then_drive_elsewhere_without_the_dataset_gives_the_dataset_frames(person, tmp_path, monkeypatch,
                                                                                  backend, options, frames):
    config, wav = person / "TorsoNeRFTest_config.txt", person / "drive" / "aud.wav"
    nerf = ["--backend", backend, *options]
    size = ["--test_size", str(frames)]
    # driving from the dataset, through adnerf-drive's dispatcher (no --avatar: run_nerf.py's driving)
    assert drive.main(["--config", str(config), *nerf, "--aud_file", str(wav), "--with_audio", str(wav),
                       "--rst_dir", str(tmp_path / "from_dataset"), *size]) == 0
    want = frames_of(tmp_path / "from_dataset")
    out = tmp_path / "person.adnerf"
    assert export.main(["--config", str(config), "-o", str(out), *nerf]) == 0

    with zipfile.ZipFile(out) as z:
        manifest = json.loads(z.read("manifest.json"))
        for name, member in manifest["members"].items():
            assert hashlib.sha256(z.read(name)).hexdigest() == member["sha256"], name
    kinds = {"grid": ("gridhead", "gridbody"), "mlp": ("head", "body")}[backend]
    assert manifest["format"] == "adnerf-avatar" and manifest["version"] == 1 and manifest["backend"] == backend
    assert manifest["torso"] == f"checkpoints/torso/000002_{kinds[1]}.tar"
    assert manifest["members"][manifest["torso"]]["sha256"] == sha256(person / "logs" / "person_com" /
                                                                        f"000002_{kinds[1]}.tar")
    assert manifest["members"][manifest["head"]]["sha256"] == sha256(person / "logs" / "person_com" /
                                                                       f"000002_{kinds[0]}.tar")
    assert manifest["members"]["data/transforms_train.json"]["sha256"] == sha256(person / "transforms_train.json")
    assert manifest["audio"] == {"backend": "mfcc", "audio_channel": "first", "channels": 26}
    assert manifest["camera"]["W"] == manifest["camera"]["H"] == 24 and manifest["poses"] == {"train": 30, "driving": 3}
    assert manifest["cli_options"] == nerf and manifest["parsing_union"] is True
    assert not manifest["portrait"]["frames_included"] and "left out" in manifest["portrait"]["note"]
    assert "datadir" not in manifest["options"] and manifest["options"]["netwidth"] == "32"

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(wav, elsewhere / "speech.wav")
    moved = person.with_name("person_moved_away")
    person.rename(moved)  # the dataset and its logs are gone for the avatar's driving
    try:
        monkeypatch.chdir(elsewhere)
        assert drive.main(["--avatar", str(out), "--audio", "speech.wav", "-o", "out.mp4", "--keep_frames", "frames",
                           *size]) == 0
    finally:
        moved.rename(person)
    got = frames_of(elsewhere / "frames")
    assert len(got) == len(want) == frames  # 16: one per 25 fps feature window of the 0.64 s clip
    assert max(int(np.abs(g - w).max()) for g, w in zip(got, want)) <= 1
    streams = probe(elsewhere / "out.mp4")
    assert streams.has_video and streams.has_audio and abs(streams.duration - frames / 25) < 0.1
    assert imageio.get_reader(elsewhere / "out.mp4").count_frames() == frames
    assert sorted(p.name for p in elsewhere.iterdir()) == ["frames", "out.mp4", "speech.wav"]


def test_the_console_command_drives_an_m4a_from_any_folder(person, tmp_path):
    out = tmp_path / "person.adnerf"
    assert export.main(["--config", str(person / "TorsoNeRFTest_config.txt"), "-o", str(out), "--backend", "grid"]) == 0
    m4a = tmp_path / "speech.m4a"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(person / "drive" / "aud.wav"), "-c:a", "aac", str(m4a)],
                   check=True)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    exe = Path(sys.executable).parent / "adnerf-drive"
    run = subprocess.run([str(exe), "--avatar", str(out), "--audio", str(m4a), "-o", "talk.mp4"], cwd=cwd,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    streams = probe(cwd / "talk.mp4")
    assert streams.has_video and streams.has_audio
    n = imageio.get_reader(cwd / "talk.mp4").count_frames()
    assert 15 <= n <= 18  # the AAC encoder pads the 0.64 s clip by a few ms
    assert sorted(p.name for p in cwd.iterdir()) == ["talk.mp4"]  # nothing else left in the working folder


def test_export_takes_the_newest_good_checkpoint_and_says_which_backend_is_meant(person, tmp_path, capsys):
    import torch
    logs = tmp_path / "logs"
    shutil.copytree(person / "logs" / "person_com", logs / "person_com", ignore=shutil.ignore_patterns("tensorboard"))
    torch.save({"grid_field_state_dict": {"w": torch.tensor([float("nan")])}, "global_step": 3},
               logs / "person_com" / "000003_gridbody.tar")  # a diverged, newer checkpoint
    config = tmp_path / "TorsoNeRFTest_config.txt"
    config.write_text((person / "TorsoNeRFTest_config.txt").read_text() + f"basedir = {logs}\n")
    assert export.main(["--config", str(config), "-o", str(tmp_path / "a.adnerf")]) == 2
    assert "holds torso checkpoints of mlp and grid backend: name it with --backend" in capsys.readouterr().err
    assert export.main(["--config", str(config), "-o", str(tmp_path / "a.adnerf"), "--backend", "grid"]) == 0
    assert "skipping checkpoint" in capsys.readouterr().err
    with zipfile.ZipFile(tmp_path / "a.adnerf") as z:
        assert json.loads(z.read("manifest.json"))["torso"] == "checkpoints/torso/000002_gridbody.tar"
    for bad, message in ((["--datadir", "x"], "--datadir cannot be given"), (["--netwdth", "3"], "unknown option --netwdth")):
        assert export.main(["--config", str(config), "-o", str(tmp_path / "b.adnerf"), *bad]) == 2
        assert message in capsys.readouterr().err
    assert not (tmp_path / "b.adnerf").exists()
