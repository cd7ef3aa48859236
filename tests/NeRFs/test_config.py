"""Options: the original names and config files, honest boolean switches, path resolution, clear errors."""
import os

import pytest

from NeRFs.core.config import build_parser, parse_args
from NeRFs.core.utils import REPO_ROOT, UserError

ORIGINAL_HEAD_CONFIG = """expname = Obama_head
datadir = {datadir}
basedir = {basedir}
near = 0.5680
far = 1.1680
testskip = 1
dataset_type = audface
N_samples = 64
N_importance = 128
N_rand = 2048
lrate = 5e-4
"""


def test_original_defaults_and_honest_switches():
    a = build_parser("head").parse_args([])
    assert (a.N_rand, a.N_samples, a.N_importance, a.lrate, a.lrate_decay) == (2048, 64, 128, 5e-4, 250)
    assert (a.nosmo_iters, a.smo_size, a.dim_aud, a.win_size, a.N_iters) == (200000, 8, 64, 16, 400000)
    assert a.use_viewdirs and a.white_bkgd  # the original's (store_false) defaults
    p = build_parser("head")
    assert p.parse_args(["--use_viewdirs"]).use_viewdirs is True  # the original turned it off here
    assert p.parse_args(["--no-use_viewdirs"]).use_viewdirs is False
    assert build_parser("torso").parse_args([]).N_rand == 1024


def test_an_original_config_file_parses(tmp_path):
    data = tmp_path / "Obama"
    data.mkdir()
    cfg = tmp_path / "HeadNeRF_config.txt"
    cfg.write_text(ORIGINAL_HEAD_CONFIG.format(datadir=data, basedir=data / "logs") + "use_viewdirs = False\n")
    a = parse_args(["--config", str(cfg)])
    assert a.expname == "Obama_head" and a.near == pytest.approx(0.568) and a.use_viewdirs is False
    assert a.datadir == str(data) and a.basedir == str(data / "logs")


def test_unknown_option_in_a_config_names_file_line_and_option(tmp_path):
    cfg = tmp_path / "c.txt"
    cfg.write_text("expname = x\nnum_rays = 5\n")
    with pytest.raises(UserError, match=r"c.txt:2: unknown option 'num_rays'"):
        parse_args(["--config", str(cfg)])
    with pytest.raises(UserError, match="config file not found"):
        parse_args(["--config", str(tmp_path / "missing.txt")])


def test_relative_paths_resolve_against_cwd_or_repository(tmp_path, monkeypatch):
    (tmp_path / "dataset" / "X").mkdir(parents=True)
    cfg = tmp_path / "c.txt"
    cfg.write_text("datadir = ./dataset/X\nbasedir = ./dataset/X/logs\n")
    monkeypatch.chdir(tmp_path)
    a = parse_args(["--config", str(cfg)])
    assert a.datadir == str(tmp_path / "dataset" / "X") and a.basedir == str(tmp_path / "dataset" / "X" / "logs")
    # from another working directory, the path is found next to the config (or the repository)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    a = parse_args(["--config", str(cfg)])
    assert a.datadir == str(tmp_path / "dataset" / "X") and a.basedir == str(tmp_path / "dataset" / "X" / "logs")
    # relative to the repository (the original's ./dataset/<id> when run from elsewhere)
    a = parse_args(["--datadir", "NeRFs", "--basedir", "NeRFs/logs_never_created"])
    assert a.datadir == str(REPO_ROOT / "NeRFs") and a.basedir == str(REPO_ROOT / "NeRFs" / "logs_never_created")
    with pytest.raises(UserError, match="datadir 'nowhere' not found"):
        parse_args(["--datadir", "nowhere"])


def test_options_that_do_nothing_are_accepted_but_not_offered():
    p = build_parser("torso")
    text = p.format_help()
    for name in ("render_test", "dataset_type", "test_file", "i_video", "half_res", "llffhold", "dim_aud_body",
                 "no_batching"):
        assert f"--{name}" not in text, name
    a = p.parse_args(["--dataset_type", "audface", "--test_file", "t.json", "--render_test"])
    assert a.render_test


@pytest.mark.parametrize("line", ["i_video = 0", "dim_aud_body = 64", "no_batching = False", "no_batching = True"])
def test_a_config_naming_a_removed_option_parses_with_a_one_line_warning(tmp_path, capsys, line):
    """--i_video (once validated: 'i_video = 0' was refused), --dim_aud_body (never read) and --no_batching
    (rays always from one image) were removed; an old config naming one still trains, and says so."""
    data = tmp_path / "Obama"
    data.mkdir()
    cfg = tmp_path / "TorsoNeRF_config.txt"
    cfg.write_text(ORIGINAL_HEAD_CONFIG.format(datadir=data, basedir=data / "logs") + line + "\n")
    a = parse_args(["--config", str(cfg)], "torso")
    name = line.split()[0]
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"warning: option '{name}' was removed" in err[0] and not hasattr(a, name)
    parse_args(["--datadir", str(data)], "head")
    assert capsys.readouterr().err == ""  # no warning without it


def test_the_shared_list_of_nerf_options_is_the_parsers():
    """Preprocessing checks --nerf_set against adnerf.configfile.NERF_OPTIONS (it may not import the NeRFs):
    that list must be exactly what the NeRF parser accepts."""
    from adnerf.configfile import NERF_OPTIONS
    parser = {s[2:] for kind in ("head", "torso") for act in build_parser(kind)._actions for s in act.option_strings
              if s.startswith("--") and not s.startswith("--no-") and s != "--help"}
    assert not parser - NERF_OPTIONS, f"add to adnerf/configfile.py NERF_OPTIONS: {sorted(parser - NERF_OPTIONS)}"
    assert not NERF_OPTIONS - parser, f"remove from NERF_OPTIONS: {sorted(NERF_OPTIONS - parser)}"
