"""Basel Face Model 2009 (01_MorphableModel.mat) -> 3DMM/3DMM_info.npy, as the original AD-NeRF builds it.

    python data_util/face_tracking/convert_BFM.py [--bfm_dir DIR] [--mat PATH] [--aux_dir DIR]

The .mat is the user's (register and download at https://faces.dmi.unibas.ch/bfm/, extract
BaselFaceModel.tgz, put PublicMM1/01_MorphableModel.mat in data_util/face_tracking/3DMM/). The auxiliary
files of the original (exp_info.npy, keys_info.npy, topology_info.npy) are copied from --aux_dir or
downloaded once from the original repository. None of these files is committed (.gitignore).

3DMM_info.npy is a pickled dict (np.load(..., allow_pickle=True).item()), exactly the original's keys:
    mu_shape  [3V]          mean shape of the V = 34650 sub_inds vertices, x1 y1 z1 x2 ..., BFM micrometres
    b_shape   [K_id, 3V]    shape principal components (K_id = 199 in BFM 2009), unscaled
    sig_shape [K_id]        shape standard deviations (shapeEV)
    mu_exp    [3V], b_exp [79, 3V], sig_exp [79]   expression model (exp_info.npy: mu_exp, base_exp, sig_exp)
    mu_tex    [3V]          mean albedo, 0-255
    b_tex     [K_tex, 3V], sig_tex [K_tex]          texture components and standard deviations
The face model (face_model.Face3DMM) keeps the first 100 id / 79 exp / 100 tex components, multiplies
coefficients by the sigmas, centres mu_shape + mu_exp per axis and divides geometry by 1e5 (decimetres).
"""
from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np

from adnerf.download import fetch
from adnerf.errors import run_command
from data_util.common import StepError, atomic_path

BFM_URL = "https://faces.dmi.unibas.ch/bfm/"
AUX_URL = "https://github.com/YudongGuo/AD-NeRF/raw/master/data_util/face_tracking/3DMM/{}"
AUX_FILES = ("exp_info.npy", "keys_info.npy", "topology_info.npy")
DEFAULT_DIR = Path(__file__).resolve().parent / "3DMM"
MAT_KEYS = ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV")


def load_pickled_dict(path: Path) -> dict:
    try:
        return np.load(path, allow_pickle=True).item()
    except Exception as exc:
        raise StepError(f"cannot read {path}: {exc} (delete it and run convert_BFM.py again)") from exc


def fetch_aux_files(model_dir: Path, aux_dir: Path | None = None, timeout: float = 60.0) -> None:
    """Make sure exp_info.npy, keys_info.npy and topology_info.npy are in model_dir: copy them from aux_dir,
    or download the missing ones from the original repository. StepError naming the URL when that fails."""
    model_dir.mkdir(parents=True, exist_ok=True)
    for name in AUX_FILES:
        target = model_dir / name
        if target.is_file():
            continue
        if aux_dir is not None:
            source = Path(aux_dir) / name
            if not source.is_file():
                raise StepError(f"{source} not found: --aux_dir must hold {', '.join(AUX_FILES)}")
            with atomic_path(target) as tmp:
                shutil.copyfile(source, tmp)
            continue
        url = AUX_URL.format(name)
        # the shared helper: connect / read timeouts, bounded retries, atomic; its error is a step error too
        fetch(url, target, what=f"the BFM auxiliary file {name}", read_timeout=timeout,
              put_hint="or pass --aux_dir with the original's 3DMM files",
              offline_hint="track without the BFM: --tracker rigid")


def load_bfm_mat(mat_path: Path) -> dict:
    """The arrays of 01_MorphableModel.mat; StepError for a missing file, the .tgz archive, or another .mat."""
    if not mat_path.is_file():
        raise StepError(f"{mat_path} not found: register at {BFM_URL}, download the Basel Face Model 2009, "
                        f"extract BaselFaceModel.tgz and put PublicMM1/01_MorphableModel.mat in {mat_path.parent} "
                        f"(or track without BFM: --tracker rigid / --offline)")
    with open(mat_path, "rb") as f:
        head = f.read(512)
    if head[:2] == b"\x1f\x8b" or b"ustar" in head[257:263]:
        raise StepError(f"{mat_path} is the BaselFaceModel.tgz archive, not the .mat inside it: extract it "
                        f"(tar xzf BaselFaceModel.tgz) and use PublicMM1/01_MorphableModel.mat")
    if head.lstrip()[:1] == b"<":
        raise StepError(f"{mat_path} is a web page, not the model (a failed or login-protected download): "
                        f"download 01_MorphableModel.mat again from {BFM_URL}")
    from scipy.io import loadmat
    try:
        mat = loadmat(str(mat_path))
    except NotImplementedError as exc:
        raise StepError(f"{mat_path} is a MATLAB v7.3 file, not the Basel Face Model 2009 01_MorphableModel.mat "
                        f"({exc})") from exc
    except Exception as exc:
        raise StepError(f"cannot read {mat_path} ({exc}; 'Unknown mat file type' usually means the downloaded "
                        f"archive or a partial download): use PublicMM1/01_MorphableModel.mat from "
                        f"BaselFaceModel.tgz ({BFM_URL})") from exc
    missing = [k for k in MAT_KEYS if k not in mat]
    if missing:
        raise StepError(f"{mat_path} is not the Basel Face Model 2009 (no {', '.join(missing)}): use "
                        f"PublicMM1/01_MorphableModel.mat from {BFM_URL} (BFM 2017 / 2019 files do not fit)")
    return {k: np.asarray(mat[k]) for k in MAT_KEYS}


def restrict(pc: np.ndarray, sub_inds: np.ndarray) -> np.ndarray:
    """Components [3N, K] (x1 y1 z1 x2 ...) -> [K, 3V] of the vertices sub_inds [V]."""
    K = pc.shape[1]
    return pc.T.reshape(K, -1, 3)[:, sub_inds, :].reshape(K, -1)


def build_3dmm_info(bfm: dict, topology: dict, exp_info: dict) -> dict:
    """The original's 3DMM_info dict (see the module docstring) from the .mat arrays and the aux files."""
    sub_inds = np.asarray(topology["sub_inds"], dtype=np.int64)
    n_vertices = bfm["shapeMU"].size // 3
    if sub_inds.max() >= n_vertices:
        raise StepError(f"topology_info.npy indexes vertex {sub_inds.max()} but the .mat has {n_vertices}: "
                        f"not the Basel Face Model 2009")
    base_exp = exp_info.get("base_exp", exp_info.get("b_exp"))
    if base_exp is None or "mu_exp" not in exp_info or "sig_exp" not in exp_info:
        raise StepError(f"exp_info.npy has keys {sorted(exp_info)}; expected mu_exp, base_exp, sig_exp")
    return {"mu_shape": bfm["shapeMU"].reshape(-1, 3)[sub_inds].reshape(-1),
            "b_shape": restrict(bfm["shapePC"], sub_inds), "sig_shape": bfm["shapeEV"].reshape(-1),
            "mu_exp": np.asarray(exp_info["mu_exp"]).reshape(-1), "b_exp": np.asarray(base_exp),
            "sig_exp": np.asarray(exp_info["sig_exp"]).reshape(-1),
            "mu_tex": bfm["texMU"].reshape(-1, 3)[sub_inds].reshape(-1),
            "b_tex": restrict(bfm["texPC"], sub_inds), "sig_tex": bfm["texEV"].reshape(-1)}


def convert_bfm(model_dir=DEFAULT_DIR, mat_path=None, aux_dir=None, force: bool = False) -> Path:
    """01_MorphableModel.mat (+ aux files) -> model_dir/3DMM_info.npy, written atomically. Returns its path."""
    model_dir = Path(model_dir)
    out = model_dir / "3DMM_info.npy"
    if out.is_file() and not force:
        return out
    bfm = load_bfm_mat(Path(mat_path) if mat_path else model_dir / "01_MorphableModel.mat")
    fetch_aux_files(model_dir, Path(aux_dir) if aux_dir else None)
    info = build_3dmm_info(bfm, load_pickled_dict(model_dir / "topology_info.npy"),
                           load_pickled_dict(model_dir / "exp_info.npy"))
    with atomic_path(out) as tmp:
        np.save(tmp, info, allow_pickle=True)
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bfm_dir", default=str(DEFAULT_DIR), help="folder of the 3DMM files (output too)")
    p.add_argument("--mat", default=None, help="01_MorphableModel.mat (default: <bfm_dir>/01_MorphableModel.mat)")
    p.add_argument("--aux_dir", default=None, help="folder with exp_info.npy, keys_info.npy, topology_info.npy "
                   "(default: download from the original repository)")
    p.add_argument("--force", action="store_true", help="rebuild 3DMM_info.npy even if it exists")
    args = p.parse_args(argv)
    return run_command(lambda: print(f"wrote {convert_bfm(args.bfm_dir, args.mat, args.aux_dir, args.force)}"), 1)


if __name__ == "__main__":
    sys.exit(main())
