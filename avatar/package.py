"""The ``.adnerf`` file: a trained person in one zip, written atomically and read back only after checks.

Layout of the zip (every member but the manifest is listed in it with its size and SHA-256):

    manifest.json                       format, version, what the person is (below), members {name: size, sha256}
    config.txt                          the NeRF config's options (``key = value``), paths left out
    data/transforms_train.json          camera intrinsics, training poses (the grid's bounds, the torso camera)
    data/<test_pose_file>               the head poses driving follows
    data/bc.jpg                         the background
    data/preprocess.json                the audio-feature settings (backend, channel policy) a .wav is read with
    data/parsing_union.png              optional: where the parsing ever marked head / person (--skip_bg_pixels)
    checkpoints/head/<step>_<kind>.tar  the head weights, as the trainer saved them
    checkpoints/torso/<step>_<kind>.tar the torso weights

Reading (``open_avatar``) refuses, each with one line naming the file: something that is not a zip or has no
manifest, another format or version, a member name outside this layout (absolute, ``..``, links), a total
size over the limit, a member whose size or checksum differs from the manifest. ``unpack`` then writes the
members as a minimal dataset + logs folder; the checkpoints are read later by the NeRFs with
``torch.load(weights_only=True)``.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import zipfile
from dataclasses import dataclass
from pathlib import Path

from adnerf.errors import AdnerfError
from adnerf.files import atomic_path

FORMAT = "adnerf-avatar"
VERSION = 1
MANIFEST = "manifest.json"
MAX_TOTAL_BYTES = 8 * 1024 ** 3   # far above any trained person (checkpoints are MBs to a few 100 MB)
CHUNK = 1 << 20
UNION_MEMBER = "data/parsing_union.png"
_NAME = re.compile(r"^(config\.txt|data/[A-Za-z0-9_.-]+|checkpoints/(head|torso)/\d+_(head|body|gridhead|gridbody)\.tar)$")
_COMPONENT = re.compile(r"^[A-Za-z0-9_.-]+$")
_STORED = (".tar", ".jpg", ".png")   # already compressed or incompressible weights: stored, not deflated


class AvatarError(AdnerfError):
    """An .adnerf file that cannot be used (str(): one line naming the file and why)."""


def member_name_problem(name: str) -> str | None:
    """Why ``name`` may not be a member (None when it may): only the layout above, no absolute path or ``..``."""
    if name.startswith("/") or "\\" in name or ":" in name:
        return "an absolute path"
    if any(part in ("", ".", "..") for part in name.split("/")):
        return "a path with '..' or empty parts"
    if not _NAME.match(name):
        return "not part of the avatar layout"
    return None


def safe_component(value: str, what: str) -> str:
    """``value`` when it is one plain file / folder name (letters, digits, ``_.-``), else an AvatarError."""
    if not isinstance(value, str) or not _COMPONENT.match(value) or value in (".", ".."):
        raise AvatarError(f"{what} {value!r} is not a plain name")
    return value


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def write_avatar(out: str | os.PathLike, members: dict[str, Path | bytes], manifest: dict) -> Path:
    """Write ``out`` (atomically): ``members`` {name: file or bytes} and ``manifest.json`` = ``manifest`` plus
    format, version and each member's size and SHA-256."""
    listed = {}
    for name, src in members.items():
        problem = member_name_problem(name)
        if problem:
            raise AvatarError(f"cannot pack {name!r}: {problem}")
        data = src if isinstance(src, bytes) else None
        listed[name] = {"size": len(data) if data is not None else Path(src).stat().st_size,
                        "sha256": hashlib.sha256(data).hexdigest() if data is not None else sha256_of(Path(src))}
    full = {"format": FORMAT, "version": VERSION, **manifest, "members": listed}
    out = Path(out)
    with atomic_path(out) as tmp, zipfile.ZipFile(tmp, "w") as z:
        z.writestr(MANIFEST, json.dumps(full, indent=1), compress_type=zipfile.ZIP_DEFLATED)
        for name, src in members.items():
            kind = zipfile.ZIP_STORED if name.endswith(_STORED) else zipfile.ZIP_DEFLATED
            if isinstance(src, bytes):
                z.writestr(name, src, compress_type=kind)
            else:
                z.write(src, name, compress_type=kind)
    return out


@dataclass
class Avatar:
    """An opened, checked .adnerf: its path, manifest and the zip's entries by name."""
    path: Path
    manifest: dict
    entries: dict[str, zipfile.ZipInfo]

    @property
    def members(self) -> dict[str, dict]:
        return self.manifest["members"]

    def describe(self) -> str:
        """One line for people: id, backend, steps, size."""
        m = self.manifest
        size = sum(v["size"] for v in self.members.values()) / 1e6
        return (f"{m.get('id', '?')}: {m.get('backend', '?')} backend, head step {m.get('head_step', '?')}, "
                f"torso step {m.get('torso_step', '?')}, {m.get('camera', {}).get('W', '?')}x"
                f"{m.get('camera', {}).get('H', '?')} px, {size:.1f} MB")


def _read_manifest(path: Path, z: zipfile.ZipFile) -> dict:
    try:
        manifest = json.loads(z.read(MANIFEST))
    except KeyError:
        raise AvatarError(f"{path} is not an .adnerf avatar (a zip without {MANIFEST})") from None
    except (ValueError, zipfile.BadZipFile, OSError) as exc:
        raise AvatarError(f"{path}: unreadable {MANIFEST} ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        got = manifest.get("format") if isinstance(manifest, dict) else type(manifest).__name__
        raise AvatarError(f"{path} is not an .adnerf avatar (format {got!r}, expected {FORMAT!r})")
    if manifest.get("version") != VERSION:
        raise AvatarError(f"{path} is an avatar of format version {manifest.get('version')!r}; this version of "
                          f"the project reads version {VERSION} (export it again with this version)")
    if not isinstance(manifest.get("members"), dict):
        raise AvatarError(f"{path}: {MANIFEST} lists no members")
    return manifest


def open_avatar(path: str | os.PathLike, max_bytes: int = MAX_TOTAL_BYTES) -> Avatar:
    """Open and check ``path`` (format, version, names, sizes; checksums are checked by ``unpack``)."""
    path = Path(path)
    if not path.is_file():
        raise AvatarError(f"avatar file not found: {path}")
    if not zipfile.is_zipfile(path):
        raise AvatarError(f"{path} is not an .adnerf avatar (not a zip file)")
    try:
        with zipfile.ZipFile(path) as z:
            manifest = _read_manifest(path, z)
            infos = z.infolist()
    except zipfile.BadZipFile as exc:
        raise AvatarError(f"{path} is not a readable .adnerf avatar ({exc})") from exc
    entries: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        if info.filename == MANIFEST:
            continue
        problem = member_name_problem(info.filename)
        if problem or info.filename in entries:
            raise AvatarError(f"{path}: refusing member {info.filename!r} ({problem or 'listed twice'})")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise AvatarError(f"{path}: refusing member {info.filename!r} (a link)")
        entries[info.filename] = info
    members = manifest["members"]
    if set(members) != set(entries):
        diff = sorted(set(members) ^ set(entries))
        raise AvatarError(f"{path}: the members and the manifest disagree on {diff[0]!r} (damaged or edited file)")
    total = 0
    for name, info in entries.items():
        declared = members[name].get("size") if isinstance(members[name], dict) else None
        if not isinstance(declared, int) or declared != info.file_size:
            raise AvatarError(f"{path}: member {name!r} is {info.file_size} bytes, the manifest says {declared!r}")
        total += declared
    if total > max_bytes:
        raise AvatarError(f"{path} unpacks to {total / 1e6:.1f} MB, over the limit of {max_bytes / 1e6:.1f} MB")
    return Avatar(path, manifest, entries)


def extract_checked(avatar: Avatar, name: str, dest: Path) -> Path:
    """Copy member ``name`` to ``dest``, stopping at its declared size; refuse a checksum mismatch."""
    want = avatar.members[name]
    h, written = hashlib.sha256(), 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(avatar.path) as z, z.open(avatar.entries[name]) as src, open(dest, "wb") as out:
        for block in iter(lambda: src.read(CHUNK), b""):
            written += len(block)
            if written > want["size"]:
                raise AvatarError(f"{avatar.path}: member {name!r} is longer than the manifest says")
            h.update(block)
            out.write(block)
    if h.hexdigest() != want.get("sha256"):
        dest.unlink()
        raise AvatarError(f"{avatar.path}: checksum mismatch in {name!r} (damaged or edited file; copy it again)")
    return dest


def read_member(avatar: Avatar, name: str, folder: Path) -> bytes:
    """The checked bytes of a small member (extracted to ``folder`` first)."""
    return extract_checked(avatar, name, folder / name).read_bytes()


# options that name files or folders of one machine, or say what to do rather than what the person is:
# never packed, and set by the avatar's driving itself (DRIVE_OPTIONS: also left out of the pack, but a
# person driving an avatar may give them)
PATH_OPTIONS = frozenset("""config datadir basedir expname ft_path head_ckpt aud_file with_audio rst_dir test_pose_file
with_test render_only no_reload aud_from_pose""".split())
DRIVE_OPTIONS = frozenset("device aud_start test_size".split())


def check_nerf_options(tokens: list[str], where: str, forbidden=PATH_OPTIONS) -> list[str]:
    """``tokens`` (``--name [value]`` ...) when each name is a NeRF option and none is ``forbidden``."""
    from adnerf.configfile import unknown_nerf_options
    names = [t[2:].split("=", 1)[0] for t in tokens if t.startswith("--")]
    if tokens and not tokens[0].startswith("--"):
        raise AvatarError(f"{where}: unexpected argument {tokens[0]!r}")
    unknown = unknown_nerf_options(names)
    if unknown:
        raise AvatarError(f"{where}: unknown option --{unknown[0]} (see adnerf-drive --help for the NeRF options)")
    fixed = sorted(n for n in names if n.removeprefix("no-") in forbidden)
    if fixed:
        raise AvatarError(f"{where}: --{fixed[0]} cannot be given here (the avatar's driving sets it)")
    return list(tokens)
