"""A tiny morphable face with the Basel Face Model's file structure, for tests and benchmarks (no real BFM).

write_synthetic_bfm(folder) writes
  folder/01_MorphableModel.mat   shapeMU/shapePC/shapeEV/texMU/texPC/texEV like BFM 2009 (micrometres, 0-255)
  folder/aux/{exp_info,keys_info,topology_info}.npy  the original's auxiliary files, same keys and layout
The face is a height field over a grid (x right, y up, z out; 3 mm spacing) cut to a face outline, with a
nose, eye sockets, a chin; landmarks are the grid vertices nearest the generic 68-point template; contour
lines are the rows of the jaw landmarks; the albedo has darker brows, eyes and lips so that images carry
pose information.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from .template import generic_face_68

SPACING = 0.03          # dm
N_ID, N_TEX, N_EXP = 120, 110, 79
CONTOUR = 6             # vertices per contour line


def _surface(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Depth z (dm) of the synthetic face at (x, y)."""
    gauss = lambda cx, cy, sx, sy: np.exp(-((x - cx) / sx) ** 2 - ((y - cy) / sy) ** 2)  # noqa: E731
    z = 0.25 + 0.35 * np.sqrt(np.clip(1 - (x / 0.85) ** 2, 0, 1)) - 0.12 * ((y - 0.1) / 0.9) ** 2
    z += 0.2 * gauss(0, 0.0, 0.1, 0.25) - 0.05 * gauss(-0.3, 0.28, 0.12, 0.06) - 0.05 * gauss(0.3, 0.28, 0.12, 0.06)
    return z + 0.05 * gauss(0, -0.4, 0.2, 0.1) + 0.04 * gauss(0, -0.75, 0.2, 0.1)


def _smooth_fields(x, y, n, rng, centre=None, width=None) -> np.ndarray:
    """n random smooth displacement / colour fields over the vertices: [n, V, 3], unit RMS per field."""
    freqs = rng.uniform(0.5, 4.0, (n, 2, 3))
    phases = rng.uniform(0, 2 * np.pi, (n, 2, 3))
    f = np.cos(freqs[:, 0, None, :] * x[None, :, None] * np.pi + phases[:, 0, None, :]) * \
        np.cos(freqs[:, 1, None, :] * y[None, :, None] * np.pi + phases[:, 1, None, :])
    if centre is not None:
        f *= np.exp(-((x - centre[0]) ** 2 + (y - centre[1]) ** 2) / width ** 2)[None, :, None]
    return f / np.sqrt((f ** 2).mean(axis=(1, 2), keepdims=True))


def synthetic_face(seed: int = 0) -> dict:
    """The full-grid model (in dm) and its sub-mesh, landmarks and topology (all numpy)."""
    rng = np.random.default_rng(seed)
    xs = np.arange(-0.78, 0.78 + 1e-9, SPACING)
    ys = np.arange(-0.95, 0.75 + 1e-9, SPACING)
    gx, gy = np.meshgrid(xs, ys)                               # rows = y
    inside = (gx / 0.72) ** 2 + ((gy - 0.05) / 0.9) ** 2 <= 1.0
    inside &= gy <= 0.68
    full = np.stack((gx, gy, _surface(gx, gy)), -1).reshape(-1, 3)
    sub_inds = np.flatnonzero(inside.reshape(-1))
    sub_of_full = -np.ones(len(full), dtype=np.int64)
    sub_of_full[sub_inds] = np.arange(len(sub_inds))
    # triangles of grid cells whose 4 corners are inside (two per cell, counter-clockwise seen from +z)
    rows, cols = gx.shape
    tris = []
    for r in range(rows - 1):
        for c in range(cols - 1):
            a, b, d, e = r * cols + c, r * cols + c + 1, (r + 1) * cols + c, (r + 1) * cols + c + 1
            if inside.reshape(-1)[[a, b, d, e]].all():
                tris += [(a, b, e), (a, e, d)]            # y grows with r: (x, y) counter-clockwise
    tris = sub_of_full[np.array(tris)]
    sub = full[sub_inds]
    template = generic_face_68()
    keyinds = np.array([np.argmin(((sub[:, :2] - p[:2]) ** 2).sum(1)) for p in template])
    left, right = [], []
    for k in range(8):                                       # jaw rows: contour lines from the outline inwards
        for contour, side, landmark in ((left, 1, k), (right, -1, 16 - k)):
            row = np.flatnonzero(np.abs(sub[:, 1] - template[landmark, 1]) < SPACING / 2 + 1e-9)
            row = row[np.argsort(side * sub[row, 0])][:CONTOUR]
            contour.append(row)
            keyinds[landmark] = row[0]
    right = right[::-1]                                      # right[k] belongs to landmark 9 + k
    rigid_ids = np.flatnonzero((sub[:, 1] > 0.15) & (np.abs(sub[:, 0]) < 0.45))[::3][:64]
    vert_tris = np.zeros((len(sub), 8), dtype=np.int64)
    for v in range(len(sub)):
        adj = np.flatnonzero((tris == v).any(1))[:8]
        vert_tris[v] = np.resize(adj, 8) if len(adj) else 0
    return {"full": full, "sub_inds": sub_inds, "tris": tris, "keyinds": keyinds, "left": np.array(left),
            "right": np.array(right), "rigid_ids": rigid_ids, "vert_tris": vert_tris, "rng": rng}


def write_synthetic_bfm(folder, seed: int = 0) -> dict:
    """Write the .mat and the aux files into folder (see module docstring). Returns paths and the face."""
    from scipy.io import savemat
    folder = Path(folder)
    (folder / "aux").mkdir(parents=True, exist_ok=True)
    face = synthetic_face(seed)
    rng = face["rng"]
    full = face["full"]
    n_full = len(full)
    x, y = full[:, 0], full[:, 1]
    shape_pc = _smooth_fields(x, y, N_ID, rng).reshape(N_ID, -1).T / np.sqrt(3 * n_full)   # unit-norm columns
    shape_ev = 0.03 * 1e5 * np.sqrt(3 * n_full) * np.exp(-np.arange(N_ID) / 8)   # ~3 mm for id 0, PCA-like decay
    tex_pc = _smooth_fields(x, y, N_TEX, rng).reshape(N_TEX, -1).T / np.sqrt(3 * n_full)
    tex_ev = 12.0 * np.sqrt(3 * n_full) / (1 + np.arange(N_TEX) / 10)
    skin = np.array([200.0, 150.0, 130.0])
    dark = np.zeros(n_full)
    for px, py, sx, sy in ((-0.3, 0.48, 0.12, 0.03), (0.3, 0.48, 0.12, 0.03), (-0.3, 0.3, 0.07, 0.025),
                           (0.3, 0.3, 0.07, 0.025), (0, -0.33, 0.22, 0.05), (0, -0.12, 0.1, 0.03)):
        dark = np.maximum(dark, np.exp(-((x - px) / sx) ** 2 - ((y - py) / sy) ** 2))
    tex_mu = skin * (1 - 0.6 * dark[:, None]) + 8 * np.sin(25 * x)[:, None] * np.cos(21 * y)[:, None]
    savemat(folder / "01_MorphableModel.mat", {
        "shapeMU": (full * 1e5).reshape(-1, 1).astype(np.float32), "shapePC": shape_pc.astype(np.float32),
        "shapeEV": shape_ev.reshape(-1, 1).astype(np.float32), "texMU": tex_mu.reshape(-1, 1).astype(np.float32),
        "texPC": tex_pc.astype(np.float32), "texEV": tex_ev.reshape(-1, 1).astype(np.float32)})
    sub = full[face["sub_inds"]]
    V = len(sub)
    exp_fields = np.concatenate((
        _smooth_fields(sub[:, 0], sub[:, 1], 40, rng, centre=(0, -0.45), width=0.3),   # mouth and jaw
        _smooth_fields(sub[:, 0], sub[:, 1], 39, rng, centre=(0, 0.4), width=0.4)))    # eyes and brows
    base_exp = (exp_fields.reshape(N_EXP, -1) / np.sqrt(3 * V)).astype(np.float32)
    sig_exp = (0.03 * 1e5 * np.sqrt(3 * V) * np.exp(-np.arange(N_EXP) / 8)).astype(np.float32)
    np.save(folder / "aux" / "exp_info.npy", {"mu_exp": np.zeros(3 * V, np.float32), "base_exp": base_exp,
                                              "sig_exp": sig_exp}, allow_pickle=True)
    np.save(folder / "aux" / "keys_info.npy", {"keyinds": face["keyinds"], "left_contour": face["left"],
                                               "right_contour": face["right"], "rigid_ids": face["rigid_ids"]},
            allow_pickle=True)
    np.save(folder / "aux" / "topology_info.npy", {"tris": face["tris"], "vert_tris": face["vert_tris"],
                                                   "sub_inds": face["sub_inds"]}, allow_pickle=True)
    return {"mat": folder / "01_MorphableModel.mat", "aux_dir": folder / "aux", "face": face}
