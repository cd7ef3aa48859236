"""``adnerf-drive``: drive a person with new speech, from an ``.adnerf`` file or from its dataset's config.

    adnerf-drive --avatar <id>.adnerf --audio speech.wav -o out.mp4 [--keep_frames DIR] [NeRF options]
    adnerf-drive --config dataset/<id>/TorsoNeRFTest_config.txt --aud_file A ...   (as before: run_nerf.py)

With ``--avatar`` the file is checked (format, version, names, sizes, checksums) and unpacked into a temporary
folder laid out as a minimal dataset + logs (``unpack``); the NeRF's own driving command line then renders it
with the options the person was exported with, and the mp4 with sound is copied to ``-o``. No dataset is
read, from any working folder. Speech may be any file ffmpeg reads (wav, mp3, m4a, webm): other than .wav it
is converted to a 16 kHz .wav first (channels kept, so the dataset's channel policy still applies).
Without ``--avatar`` every argument goes to ``NeRFs.TorsoNeRF.run_nerf.drive_main`` unchanged.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from adnerf.errors import AdnerfError, report
from adnerf.files import atomic_path

from .package import (MAX_TOTAL_BYTES, UNION_MEMBER, Avatar, AvatarError, check_nerf_options, extract_checked,
                      open_avatar, read_member, safe_component)

RESULT_NAME = "video_with_audio.mp4"   # what the NeRF's driving writes when it muxes the sound


@dataclass
class Unpacked:
    """An avatar unpacked into ``root``: the config to drive with and the options that go with it."""
    root: Path
    config: Path
    argv: list[str]


def unpack(avatar: Avatar, root: Path) -> Unpacked:
    """Write the checked members of ``avatar`` under ``root`` as data/ (dataset) and logs/ (checkpoints) and a
    config naming them; returns it and the NeRF options to drive with (``--ft_path``, ``--head_ckpt`` ...)."""
    m = avatar.manifest
    expname = safe_component(m.get("expname"), "expname")
    head, torso = m.get("head"), m.get("torso")
    if head not in avatar.members or torso not in avatar.members:
        raise AvatarError(f"{avatar.path}: the manifest names no head / torso checkpoint member")
    data, logs = root / "data", root / "logs"
    places = {}
    for name in avatar.members:
        if name.startswith("data/") and name != UNION_MEMBER:
            places[name] = data / name[len("data/"):]
    places[head] = logs / "head" / Path(head).name
    places[torso] = logs / expname / Path(torso).name
    for name, dest in places.items():
        extract_checked(avatar, name, dest)
    if UNION_MEMBER in avatar.members:  # the parsing union, as every training frame's parsing (hard links)
        union = extract_checked(avatar, UNION_MEMBER, root / "union.png")
        (data / "parsing").mkdir()
        for frame in json.loads((data / "transforms_train.json").read_text())["frames"]:
            link = data / "parsing" / f"{int(frame['img_id'])}.png"
            try:
                os.link(union, link)
            except OSError:
                shutil.copyfile(union, link)
    lines = read_member(avatar, "config.txt", root / "members").decode(errors="replace")
    check_nerf_options([f"--{line.split('=', 1)[0].strip()}" for line in lines.splitlines() if "=" in line],
                       f"{avatar.path}: config.txt")
    pose_file = safe_component(m.get("test_pose_file"), "test_pose_file")
    config = root / "TorsoNeRFTest_config.txt"
    config.write_text(lines + f"datadir = {data}\nbasedir = {logs}\nexpname = {expname}\n"
                              f"test_pose_file = {pose_file}\n")
    cli = check_nerf_options(list(m.get("cli_options", [])), f"{avatar.path}: cli_options")
    return Unpacked(root, config, cli + ["--ft_path", str(places[torso]), "--head_ckpt", str(places[head])])


def speech_wav(audio: Path, folder: Path) -> Path:
    """``audio`` itself when it is a .wav, else a 16 kHz 16-bit .wav of it in ``folder`` (ffmpeg)."""
    from adnerf.media import ffmpeg_exe, probe
    if not audio.is_file():
        raise AdnerfError(f"audio file not found: {audio}")
    if audio.suffix.lower() == ".wav":
        return audio
    if not probe(audio).has_audio:
        raise AdnerfError(f"{audio} has no audio stream")
    out = folder / "speech.wav"
    done = subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-i", str(audio), "-vn",
                           "-ar", "16000", "-c:a", "pcm_s16le", str(out)], capture_output=True, text=True)
    if done.returncode != 0 or not out.is_file():
        raise AdnerfError(f"cannot convert {audio} to a .wav: {done.stderr.strip()[-200:]}")
    return out


def drive_avatar(avatar_path: Path, audio: Path, output: Path, extra: list[str] | None = None,
                 keep_frames: Path | None = None, max_bytes: int = MAX_TOTAL_BYTES) -> int:
    """Render ``avatar_path`` speaking ``audio`` into ``output`` (mp4 with sound). Returns the exit status of
    the NeRF's driving (0: done); problems with the avatar or the audio raise AdnerfError first."""
    from NeRFs.TorsoNeRF.run_nerf import drive_main
    extra = check_nerf_options(list(extra or []), "adnerf-drive --avatar")
    avatar = open_avatar(avatar_path, max_bytes)
    with tempfile.TemporaryDirectory(prefix="adnerf-avatar-") as tmp:
        root = Path(tmp)
        layout = unpack(avatar, root / "avatar")
        wav = speech_wav(Path(audio).resolve(), root)
        frames = Path(keep_frames).resolve() if keep_frames else root / "render"
        code = drive_main(["--config", str(layout.config), *layout.argv, "--aud_file", str(wav), "--test_size",
                           "-1", "--with_audio", str(wav), "--rst_dir", str(frames), *extra])
        if code == 0:
            with atomic_path(Path(output).resolve()) as part:
                shutil.copyfile(frames / RESULT_NAME, part)
            print(f"wrote {output}")
        return code


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adnerf-drive --avatar", description=__doc__.split("\n\n")[0],
                                epilog="Other --options are NeRF options (e.g. --device cpu, --smooth_poses 3). "
                                       "Without --avatar: adnerf-drive --config C --aud_file A (run_nerf.py).")
    p.add_argument("--avatar", required=True, type=Path, help="the .adnerf file (adnerf-export)")
    p.add_argument("--audio", required=True, type=Path, help="speech to drive with: wav, mp3, m4a, ...")
    p.add_argument("-o", "--output", required=True, type=Path, help="the mp4 (with sound) to write")
    p.add_argument("--keep_frames", type=Path, default=None,
                   help="also keep the rendered sequence (PNG frames, frames.json, video) in this folder")
    return p


def main(argv=None) -> int:
    """The ``adnerf-drive`` command: ``--avatar`` drives a file, anything else is run_nerf.py's driving."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not any(a == "--avatar" or a.startswith("--avatar=") for a in argv):
        from NeRFs.TorsoNeRF.run_nerf import drive_main
        return drive_main(argv)
    args, extra = build_parser().parse_known_args(argv)
    try:
        return drive_avatar(args.avatar, args.audio, args.output, extra, args.keep_frames)
    except AdnerfError as exc:
        return report(exc, 2)


if __name__ == "__main__":
    sys.exit(main())
