"""``adnerf-export``: pack a trained person (dataset + logs) into one ``.adnerf`` file.

    adnerf-export --config dataset/<id>/TorsoNeRFTest_config.txt -o <id>.adnerf [NeRF options ...]

NeRF options after the config (``--backend grid --skip_bg_pixels`` ...) are those the person was driven
with; they travel in the file and are given to the NeRF again when it is driven. The checkpoints are found
as driving finds them: the newest good torso checkpoint of the backend in basedir/expname (or ``ft_path``),
the head of the same step beside it, else ``head_ckpt``, else the newest head of basedir/expname or
basedir/<id>_head. "Good": it loads with ``torch.load(weights_only=True)`` and holds only finite numbers.
The backend is ``--backend`` (options or config), else the one whose torso checkpoints exist.
"""
from __future__ import annotations

import argparse
import io
import json
import re
import sys
from pathlib import Path

from adnerf.configfile import path_candidates, read_config
from adnerf.errors import run_command

from .package import (DRIVE_OPTIONS, PATH_OPTIONS, UNION_MEMBER, AvatarError, check_nerf_options,
                      safe_component, write_avatar)

KINDS = {"mlp": ("head", "body"), "grid": ("gridhead", "gridbody")}   # (head, torso) checkpoint kinds
_CKPT = re.compile(r"^(\d+)_(head|body|gridhead|gridbody)\.tar$")
PORTRAIT_NOTE = ("portrait mode (adnerf-portrait) blends renders into the dataset's real frames and a cropped "
                 "video's full-resolution source frames; those frames are left out of this file: driving an "
                 "avatar gives the rendered frames (head and torso over bc.jpg)")


def option_values(tokens: list[str]) -> dict[str, str]:
    """{name: value} of ``--name value`` / ``--switch`` / ``--no-switch`` tokens (values as strings)."""
    out, i = {}, 0
    while i < len(tokens):
        name = tokens[i][2:]
        if "=" in name:
            name, value = name.split("=", 1)
        elif i + 1 < len(tokens) and not re.match(r"^--[A-Za-z]", tokens[i + 1]):
            value, i = tokens[i + 1], i + 1
        else:
            value = "False" if name.startswith("no-") else "True"
            name = name.removeprefix("no-")
        out[name] = value
        i += 1
    return out


def checkpoints(folder: Path, kind: str) -> list[Path]:
    """``<step>_<kind>.tar`` files of ``folder``, newest (highest step) first."""
    found = [p for p in folder.glob(f"*_{kind}.tar") if _CKPT.match(p.name)] if folder.is_dir() else []
    return sorted(found, key=lambda p: int(_CKPT.match(p.name).group(1)), reverse=True)


def load_good(path: Path) -> dict | None:
    """The checkpoint at ``path`` when it loads (weights_only) and holds only finite numbers, else None."""
    import torch
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a checkpoint, unsafe pickle: skipped as driving skips it
        print(f"warning: skipping unusable checkpoint {path}: {exc.__class__.__name__}", file=sys.stderr)
        return None

    def finite(x) -> bool:
        if isinstance(x, dict):
            return all(finite(v) for v in x.values())
        if isinstance(x, (list, tuple)):
            return all(finite(v) for v in x)
        return not (torch.is_tensor(x) and x.is_floating_point()) or bool(torch.isfinite(x).all())
    if not isinstance(ckpt, dict) or not finite(ckpt):
        print(f"warning: skipping checkpoint {path}: not a dict of finite weights", file=sys.stderr)
        return None
    return ckpt


def newest_good(candidates: list[Path], what: str) -> tuple[Path, dict]:
    for path in candidates:
        ckpt = load_good(path)
        if ckpt is not None:
            return path, ckpt
    raise AvatarError(f"no usable {what} checkpoint ({', '.join(map(str, candidates)) or 'none found'})")


def find_dir(value: str, config: Path, what: str) -> Path:
    tried = path_candidates(value, config)
    for p in tried:
        if p.is_dir():
            return p
    raise AvatarError(f"{what} '{value}' of {config} not found; tried: {', '.join(map(str, tried))}")


def pick_backend(opts: dict, out_dir: Path) -> str:
    if "backend" in opts:
        if opts["backend"] not in KINDS:
            raise AvatarError(f"unknown backend {opts['backend']!r}: choose one of {', '.join(KINDS)}")
        return opts["backend"]
    present = [b for b, (_, body) in KINDS.items() if checkpoints(out_dir, body)]
    if len(present) != 1:
        raise AvatarError(f"{out_dir} holds torso checkpoints of {' and '.join(present) or 'no'} backend: "
                          f"name it with --backend mlp|grid")
    return present[0]


def pick_checkpoints(opts: dict, config: Path, basedir: Path, backend: str):
    """((torso path, ckpt), (head path, ckpt)) as driving picks them."""
    head_kind, body_kind = KINDS[backend]
    out_dir = basedir / opts.get("expname", "exp")
    ft = opts.get("ft_path", "None")
    torso = newest_good([Path(ft)] if ft != "None" else checkpoints(out_dir, body_kind), f"{backend} torso")
    beside = torso[0].with_name(torso[0].name.replace(f"_{body_kind}.tar", f"_{head_kind}.tar"))
    given = opts.get("head_ckpt", "None")
    if beside.is_file() and given == "None":
        heads = [beside]
    elif given != "None":
        heads = [Path(given)]
    else:
        folders = [out_dir] + ([basedir / (out_dir.name[:-4] + "_head")] if out_dir.name.endswith("_com") else [])
        heads = next((found[:1] for found in (checkpoints(f, head_kind) for f in folders) if found), [])
    return torso, newest_good(heads, f"{backend} head")


def parsing_union(datadir: Path, img_ids) -> bytes | None:
    """A PNG of where any training frame's parsing marks the head (blue) or the rest of the person (red):
    the union --skip_bg_pixels renders (over all training frames). None without parsing images."""
    import numpy as np
    from PIL import Image
    from adnerf.media import read_image
    paths = [datadir / "parsing" / f"{i}.png" for i in img_ids]
    if not paths or not all(p.is_file() for p in paths):
        return None
    head = person = None
    for p in paths:
        rgb = read_image(p)
        h = (rgb[..., 2] > 0.5) & (rgb[..., 0] < 0.5) & (rgb[..., 1] < 0.5)
        s = rgb.min(-1) < 0.5
        head, person = (h, s) if head is None else (head | h, person | s)
    out = np.full(head.shape + (3,), 255, np.uint8)
    out[person], out[head] = (255, 0, 0), (0, 0, 255)
    buf = io.BytesIO()
    Image.fromarray(out).save(buf, format="PNG")
    return buf.getvalue()


def config_text(config: Path) -> str:
    """The config's option lines without those of one machine (paths, what to do)."""
    kept = {k: v for k, v in read_config(config).items() if k not in PATH_OPTIONS | DRIVE_OPTIONS}
    return "".join(f"{k} = {v}\n" for k, v in kept.items())


def export(config: Path, out: Path, extra: list[str]) -> Path:
    """Pack the person of ``config`` (+ NeRF options ``extra``) into ``out``; returns ``out``."""
    from data_util.audio_features import CHANNELS, dataset_audio_options
    from adnerf.media import image_size
    extra = check_nerf_options(extra, "adnerf-export", PATH_OPTIONS | DRIVE_OPTIONS)
    if not config.is_file():
        raise AvatarError(f"config file not found: {config}")
    opts = {**read_config(config), **option_values(extra)}
    datadir = find_dir(opts.get("datadir", "./dataset/Obama"), config, "datadir")
    basedir = find_dir(opts.get("basedir", "./logs/"), config, "basedir")
    expname = safe_component(opts.get("expname", "exp"), "expname")
    backend = pick_backend(opts, basedir / expname)
    if "backend" not in option_values(extra) and "backend" not in read_config(config):
        extra = extra + ["--backend", backend]
    (torso, torso_ckpt), (head, head_ckpt) = pick_checkpoints(opts, config, basedir, backend)
    pose_file = datadir / opts.get("test_pose_file", "transforms_val.json")
    train_file = datadir / "transforms_train.json"
    for needed in (pose_file, train_file, datadir / "bc.jpg"):
        if not needed.is_file():
            raise AvatarError(f"{needed} not found: driving needs it (preprocessing writes it)")
    audio = dataset_audio_options(datadir)
    audnet = head_ckpt.get("network_audnet_state_dict", {}).get("encoder_conv.0.weight")
    train = json.loads(train_file.read_text())
    W, H = image_size(datadir / "bc.jpg")
    members: dict[str, Path | bytes] = {
        "config.txt": config_text(config).encode(),
        "data/transforms_train.json": train_file, f"data/{safe_component(pose_file.name, 'test_pose_file')}": pose_file,
        "data/bc.jpg": datadir / "bc.jpg",
        "data/preprocess.json": json.dumps({"steps": {"audio": {
            "backend": audio["backend"], "audio_channel": audio["audio_channel"]}}}, indent=1).encode(),
        f"checkpoints/head/{head.name}": head, f"checkpoints/torso/{torso.name}": torso}
    union = parsing_union(datadir, [f["img_id"] for f in train["frames"]])
    if union is not None:
        members[UNION_MEMBER] = union
    manifest = {
        "id": datadir.name, "expname": expname, "backend": backend, "options": read_config(config),
        "cli_options": extra, "test_pose_file": pose_file.name,
        "head": f"checkpoints/head/{head.name}", "torso": f"checkpoints/torso/{torso.name}",
        "head_step": int(head_ckpt.get("global_step", 0)), "torso_step": int(torso_ckpt.get("global_step", 0)),
        "audio": {"backend": audio["backend"], "audio_channel": audio["audio_channel"],
                  "channels": int(audnet.shape[1]) if audnet is not None else CHANNELS[audio["backend"]]},
        "camera": {"W": W, "H": H, "focal": train["focal_len"], "cx": train.get("cx", W / 2),
                   "cy": train.get("cy", H / 2), "near": float(opts.get("near", 0.3)), "far": float(opts.get("far", 0.9))},
        "poses": {"train": len(train["frames"]), "driving": len(json.loads(pose_file.read_text())["frames"])},
        "parsing_union": union is not None,
        "portrait": {"frames_included": False, "note": PORTRAIT_NOTE}}
    manifest["options"] = {k: v for k, v in manifest["options"].items() if k not in PATH_OPTIONS | DRIVE_OPTIONS}
    return write_avatar(out, members, manifest)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adnerf-export", description=__doc__.split("\n\n")[0],
                                epilog="Any other --option is a NeRF option the person is driven with "
                                       "(e.g. --backend grid --skip_bg_pixels).")
    p.add_argument("--config", required=True, type=Path, help="dataset/<id>/TorsoNeRFTest_config.txt")
    p.add_argument("-o", "--output", required=True, type=Path, help="the .adnerf file to write")
    return p


def main(argv=None) -> int:
    args, extra = build_parser().parse_known_args(argv)

    def action():
        out = export(args.config, args.output, extra)
        from .package import open_avatar
        print(f"wrote {out}: {open_avatar(out).describe()}")
    return run_command(action)


if __name__ == "__main__":
    sys.exit(main())
