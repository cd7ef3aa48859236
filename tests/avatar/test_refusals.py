"""An .adnerf that cannot be trusted is refused before anything is unpacked, with one line naming the file:
not a zip, no manifest, another format or version, a checksum or size that differs from the manifest, a
member outside the layout (path traversal, absolute path), a total size over the limit."""
import json
import zipfile
from pathlib import Path

import pytest

from avatar import drive, export
from avatar.package import AvatarError, open_avatar


@pytest.fixture(scope="module")
def good(person, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("good") / "person.adnerf"
    assert export.main(["--config", str(person / "TorsoNeRFTest_config.txt"), "-o", str(out), "--backend", "grid"]) == 0
    return out


def repack(src: Path, dst: Path, manifest=None, replace=None, add=None) -> Path:
    """A copy of ``src`` with ``manifest(m)`` applied to its manifest, members replaced / added (name: bytes)."""
    replace, add = replace or {}, add or {}
    with zipfile.ZipFile(src) as z, zipfile.ZipFile(dst, "w") as out:
        m = json.loads(z.read("manifest.json"))
        if manifest:
            manifest(m)
        out.writestr("manifest.json", json.dumps(m))
        for info in z.infolist():
            if info.filename != "manifest.json":
                out.writestr(info.filename, replace.get(info.filename, z.read(info.filename)))
        for name, data in add.items():
            out.writestr(name, data)
    return dst


def refused(path: Path, **kw) -> str:
    with pytest.raises(AvatarError) as err:
        open_avatar(path, **kw)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


def test_the_good_file_opens(good):
    avatar = open_avatar(good)
    assert avatar.manifest["version"] == 1 and "person: grid backend" in avatar.describe()


def test_not_an_avatar_another_format_another_version(good, tmp_path):
    text = tmp_path / "notes.adnerf"
    text.write_text("hello")
    assert "not an .adnerf avatar (not a zip file)" in refused(text)
    plain = tmp_path / "plain.adnerf"
    with zipfile.ZipFile(plain, "w") as z:
        z.writestr("readme.txt", "x")
    assert "without manifest.json" in refused(plain)
    other = repack(good, tmp_path / "other.adnerf", manifest=lambda m: m.update(format="someone-elses-model"))
    assert "format 'someone-elses-model', expected 'adnerf-avatar'" in refused(other)
    newer = repack(good, tmp_path / "newer.adnerf", manifest=lambda m: m.update(version=2))
    assert "format version 2; this version of the project reads version 1" in refused(newer)


def test_a_checksum_mismatch_is_refused_when_unpacking(good, tmp_path, capsys):
    with zipfile.ZipFile(good) as z:
        bc = bytearray(z.read("data/bc.jpg"))
    bc[-3] ^= 0xFF  # same size, other bytes
    edited = repack(good, tmp_path / "edited.adnerf", replace={"data/bc.jpg": bytes(bc)})
    speech = tmp_path / "speech.wav"
    speech.write_bytes(b"")  # never read: the avatar is refused first
    assert drive.main(["--avatar", str(edited), "--audio", str(speech), "-o", str(tmp_path / "out.mp4")]) == 2
    err = capsys.readouterr().err
    assert "checksum mismatch in 'data/bc.jpg'" in err and err.count("\n") == 1
    assert not (tmp_path / "out.mp4").exists()


@pytest.mark.parametrize("name, why", [("../outside.txt", "a path with '..'"), ("data/../../x.json", "a path with '..'"),
                                       ("/etc/cron.d/x", "an absolute path"), ("data/sub/dir.json", "not part of")])
def test_members_outside_the_layout_are_refused(good, tmp_path, name, why):
    def listed(m):
        m["members"][name] = {"size": 5, "sha256": "0" * 64}
    bad = repack(good, tmp_path / "bad.adnerf", manifest=listed, add={name: b"owned"})
    assert f"refusing member {name!r} ({why}" in refused(bad)
    assert not (tmp_path.parent / "outside.txt").exists()


def test_sizes_unlisted_members_and_the_total_limit(good, tmp_path):
    def wrong_size(m):
        m["members"]["data/bc.jpg"]["size"] += 1
    assert "'data/bc.jpg' is" in refused(repack(good, tmp_path / "size.adnerf", manifest=wrong_size))
    extra = repack(good, tmp_path / "extra.adnerf", add={"data/extra.json": b"{}"})
    assert "the members and the manifest disagree on 'data/extra.json'" in refused(extra)
    total = sum(v["size"] for v in open_avatar(good).members.values())
    assert "over the limit of 0.1 MB" in refused(good, max_bytes=100_000)
    assert open_avatar(good, max_bytes=total).path == good


def test_a_missing_avatar_and_options_the_avatar_sets(good, tmp_path, capsys):
    assert drive.main(["--avatar", str(tmp_path / "nope.adnerf"), "--audio", "a.wav", "-o", "o.mp4"]) == 2
    assert "avatar file not found" in capsys.readouterr().err
    assert drive.main(["--avatar", str(good), "--audio", "a.wav", "-o", "o.mp4", "--datadir", "x"]) == 2
    assert "--datadir cannot be given here" in capsys.readouterr().err
