"""The original tracker's morphable face: 3DMM_info.npy + keys_info.npy + topology_info.npy -> geometry,
albedo and the 68 landmarks (jaw points chosen dynamically on contour lines), in PyTorch.

Geometry (decimetres): mu + (id * sig_id) @ B_id + (exp * sig_exp) @ B_exp, all / 1e5, with
mu = mu_shape + mu_exp centred per axis. Albedo (0-255): mu_tex + (tex * sig_tex) @ B_tex.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .convert_BFM import load_pickled_dict
from .geometry import forward_transform

ID_DIM, EXP_DIM, TEX_DIM = 100, 79, 100


class Face3DMM:
    """Bases on one device, float32. Coefficients: id [B, 100], exp [B, 79], tex [B, 100]."""

    def __init__(self, model_dir, device="cpu", id_dim: int = ID_DIM, exp_dim: int = EXP_DIM, tex_dim: int = TEX_DIM):
        model_dir = Path(model_dir)
        info = load_pickled_dict(model_dir / "3DMM_info.npy")
        keys = load_pickled_dict(model_dir / "keys_info.npy")
        topo = load_pickled_dict(model_dir / "topology_info.npy")
        f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32), device=device)  # noqa: E731
        mu = (np.asarray(info["mu_shape"], np.float64) + np.asarray(info["mu_exp"], np.float64)).reshape(-1, 3)
        self.mu = f32((mu - mu.mean(0)).reshape(-1) / 1e5)                        # [3V]
        self.base_id = f32(np.asarray(info["b_shape"])[:id_dim] / 1e5)             # [100, 3V]
        self.base_exp = f32(np.asarray(info["b_exp"])[:exp_dim] / 1e5)             # [79, 3V]
        self.sig_id = f32(np.asarray(info["sig_shape"]).reshape(-1)[:id_dim])
        self.sig_exp = f32(np.asarray(info["sig_exp"]).reshape(-1)[:exp_dim])
        self.mu_tex = f32(info["mu_tex"])
        self.base_tex = f32(np.asarray(info["b_tex"])[:tex_dim])
        self.sig_tex = f32(np.asarray(info["sig_tex"]).reshape(-1)[:tex_dim])
        as_long = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64), device=device)  # noqa: E731
        self.keyinds = as_long(keys["keyinds"])                                    # [68]
        self.left_contour = as_long(keys["left_contour"])                          # [8, C]
        self.right_contour = as_long(keys["right_contour"])                        # [8, C]
        self.rigid_ids = as_long(keys["rigid_ids"])
        self.tris = as_long(topo["tris"])                                          # [T, 3]
        self.n_vertices = self.mu.numel() // 3
        self.id_dim, self.exp_dim, self.tex_dim = self.base_id.shape[0], self.base_exp.shape[0], self.base_tex.shape[0]
        self.device = torch.device(device)
        # landmark-related vertices: key points, then both contour grids (the landmark stages need only these)
        self.lm_vertices = torch.cat((self.keyinds, self.left_contour.reshape(-1), self.right_contour.reshape(-1)))
        cols = (3 * self.lm_vertices[:, None] + torch.arange(3, device=device)).reshape(-1)
        self._lm_bases = (self.mu[cols], self.base_id[:, cols], self.base_exp[:, cols])   # cached: used every step

    def geometry(self, id_coeffs: torch.Tensor, exp: torch.Tensor,
                 vertices: torch.Tensor | None = None) -> torch.Tensor:
        """id [1 or B, 100], exp [B, 79] -> vertices [B, V, 3] (or only ``vertices`` [P] -> [B, P, 3])."""
        if vertices is None:
            mu, b_id, b_exp = self.mu, self.base_id, self.base_exp
        elif vertices is self.lm_vertices:
            mu, b_id, b_exp = self._lm_bases
        else:
            cols = (3 * vertices[:, None] + torch.arange(3, device=vertices.device)).reshape(-1)
            mu, b_id, b_exp = self.mu[cols], self.base_id[:, cols], self.base_exp[:, cols]
        geo = (id_coeffs * self.sig_id) @ b_id + (exp * self.sig_exp) @ b_exp + mu
        return geo.reshape(exp.shape[0], -1, 3)

    def albedo(self, tex: torch.Tensor) -> torch.Tensor:
        """tex [B, 100] -> per-vertex albedo [B, V, 3] in 0-255."""
        return ((tex * self.sig_tex) @ self.base_tex + self.mu_tex).reshape(tex.shape[0], -1, 3)

    def landmarks_3d(self, id_coeffs, exp, euler, trans, focal, cxy) -> torch.Tensor:
        """The 68 landmark vertices [B, 68, 3] (model space): jaw 0-7 / 9-16 are the contour-line vertices with
        the smallest / largest projected x under the given pose (the face's silhouette), 8 and 17-67 fixed."""
        B = exp.shape[0]
        pts = self.geometry(id_coeffs, exp, self.lm_vertices)                     # [B, 68 + 16C, 3]
        n_key, C = self.keyinds.numel(), self.left_contour.shape[1]
        left = pts[:, n_key:n_key + 8 * C]
        right = pts[:, n_key + 8 * C:]
        with torch.no_grad():                  # the choice of vertex is discrete
            x_left = forward_transform(left, euler, trans, focal, cxy)[..., 0].reshape(B, 8, C)
            x_right = forward_transform(right, euler, trans, focal, cxy)[..., 0].reshape(B, 8, C)
            pick_left = x_left.argmin(-1) + torch.arange(8, device=pts.device) * C    # [B, 8]
            pick_right = x_right.argmax(-1) + torch.arange(8, device=pts.device) * C
        gather = lambda p, idx: torch.gather(p, 1, idx[..., None].expand(-1, -1, 3))  # noqa: E731
        return torch.cat((gather(left, pick_left), pts[:, 8:9], gather(right, pick_right), pts[:, 17:n_key]), 1)

    def project_landmarks(self, id_coeffs, exp, euler, trans, focal, cxy) -> torch.Tensor:
        """Projected landmarks [B, 68, 2] in pixels."""
        return forward_transform(self.landmarks_3d(id_coeffs, exp, euler, trans, focal, cxy), euler, trans, focal, cxy)
