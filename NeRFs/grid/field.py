"""The grid backend's radiance field: a multi-resolution spatial encoding + small audio-conditioned MLPs.

Layout (RAD-NeRF's concatenation design, sizes for a CPU):

    x [N, 3] --normalise to the box--> [-1, 1]^3 --encoding--> e [N, E]
    h = ReLU(W_e e + W_c cond + b)                   # = one linear layer on concat(e, cond)
    h -> ReLU(Linear) -> Linear -> (density logit, geo [G])
    density = max(exp(logit) - 1, 0)                  # what compositing.opacity reads as raw sigma
    colour logits = MLP(concat(geo, PE2(view dir)))

``cond`` is the per-frame condition: the audio code (head) or audio code + encoded pose (torso). It is the
same for every point of a frame, so ``W_c cond`` is computed once per call and added as a bias: the same
function as concatenating it to every point, for a fraction of the work.

With ``cond_gate`` (``--grid_cond_gate``), each point scales that bias by its own gate, a per-unit
sigmoid(W_g e) of its encoding: h = ReLU(W_e e + sigmoid(W_g e) * (W_c cond) + b), so the condition can act
where it matters (the mouth for the audio) and be shut out elsewhere; the spatial attention of ER-NeRF's
region attention module, in the hidden layer's space so that W_c cond is still computed once per frame.
With ``cond_planes`` K > 0 (``--grid_cond_planes``), h also gets W_d P(x; Linear(cond)): K tri-planes mixed
per frame (ConditionedPlanes), so the condition changes features where the face changes.
With ``bias_dim`` B < C (``--grid_local_signals``), only cond[:B] (the audio code) enters the bias W_c cond:
the inputs after it (the eyes, the mouth) reach h through the conditioned planes alone, so that they change
the features where the planes say (the eyes, the lips) rather than every point of the face.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from NeRFs.core.encoding import PositionalEncoding

from .encoding import ConditionedPlanes, build_encoding

DENSITY_LOGIT_INIT = 0.2
COND_PLANE_FEATURES, COND_PLANE_RES = 4, 128  # --grid_cond_planes: features per basis plane, cells per side
DENSITY_LOGIT_MAX = 15.0  # exp(15) ~ 3.3e6: opaque in any interval; the clamp keeps float32 finite


def density_activation(logit: torch.Tensor) -> torch.Tensor:
    """max(exp(logit) - 1, 0): exactly zero for logit <= 0, so empty space is truly empty (skipping it then
    changes no pixel at all) and is reached by crossing 0 rather than by driving exp(logit) towards 0;
    exponential above 0, so opaque matter (densities of hundreds) is a few logit units away."""
    return F.relu(torch.expm1(logit.clamp(max=DENSITY_LOGIT_MAX)))


class GridField(nn.Module):
    """Density and colour at points inside an axis-aligned box.

    aabb: [2, 3] (min corner, max corner) in world units, stored as a buffer (saved in checkpoints).
    cond_dim: size of the per-frame condition vector. encoding: 'triplane' | 'hash'.
    bias_dim: how many leading condition entries enter the bias every point gets (None: all of them).
    """

    def __init__(self, aabb: torch.Tensor, cond_dim: int, encoding: str = "triplane", levels: int = 4,
                 features: int = 8, base_res: int = 32, max_res: int = 128, hidden: int = 64, geo_dim: int = 15,
                 use_viewdirs: bool = True, view_freqs: int = 2, cond_gate: bool = False, cond_planes: int = 0,
                 bias_dim: int | None = None):
        super().__init__()
        bias_dim = cond_dim if bias_dim is None else int(bias_dim)
        if not 0 < bias_dim <= cond_dim:
            raise ValueError(f"bias_dim {bias_dim} must lie in 1..cond_dim ({cond_dim})")
        self.options = {"encoding": encoding, "levels": levels, "features": features, "base_res": base_res,
                        "max_res": max_res, "hidden": hidden, "geo_dim": geo_dim, "use_viewdirs": use_viewdirs,
                        "view_freqs": view_freqs, "cond_gate": cond_gate, "cond_planes": cond_planes,
                        "bias_dim": bias_dim}
        self.register_buffer("aabb", torch.as_tensor(aabb, dtype=torch.float32).clone())
        self.encoding = build_encoding(encoding, levels=levels, features=features, base_res=base_res,
                                       max_res=max_res)
        self.cond_dim = cond_dim
        self.sigma_in = nn.Linear(self.encoding.out_dim, hidden)
        self.sigma_cond = nn.Linear(bias_dim, hidden, bias=False)
        self.cond_gate = nn.Linear(self.encoding.out_dim, hidden) if cond_gate else None
        self.cond_basis = nn.Linear(cond_dim, cond_planes) if cond_planes else None
        self.cond_planes = ConditionedPlanes(cond_planes, COND_PLANE_FEATURES, COND_PLANE_RES) if cond_planes else None
        self.sigma_dyn = nn.Linear(self.cond_planes.out_dim, hidden, bias=False) if cond_planes else None
        self.sigma_net = nn.Sequential(nn.ReLU(inplace=True), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                       nn.Linear(hidden, 1 + geo_dim))
        with torch.no_grad():  # start as a light fog (density ~0.2): see-through, above the occupancy
            self.sigma_net[-1].bias[0] = DENSITY_LOGIT_INIT  # threshold (nothing skipped before training)
        self.use_viewdirs = use_viewdirs
        self.view_pe = PositionalEncoding(view_freqs, 3) if use_viewdirs else None
        view_dim = self.view_pe.out_dim if use_viewdirs else 0
        self.colour_net = nn.Sequential(nn.Linear(geo_dim + view_dim, hidden), nn.ReLU(inplace=True),
                                        nn.Linear(hidden, 3))

    @property
    def max_res(self) -> int:
        return int(self.options["max_res"])

    def rebuilt(self, **options) -> "GridField":
        """A fresh field like this one (box, condition, sizes, device) but for ``options`` (e.g. max_res)."""
        return GridField(self.aabb, self.cond_dim, **{**self.options, **options}).to(self.aabb.device)

    def normalise(self, pts: torch.Tensor) -> torch.Tensor:
        """World points [N, 3] -> [-1, 1]^3 box coordinates [N, 3] (outside the box: beyond +-1)."""
        lo, hi = self.aabb[0], self.aabb[1]
        return (pts - lo) / (hi - lo) * 2 - 1

    def view_code(self, viewdirs: torch.Tensor | None) -> torch.Tensor | None:
        """Unit view directions [R, 3] -> per-ray colour input [R, V] (None without view dependence)."""
        if self.view_pe is None or viewdirs is None:
            return None
        return self.view_pe(viewdirs)

    def density(self, pts: torch.Tensor, cond: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """pts [N, 3], cond [C] -> density [N] (>= 0; 0 outside the box), geo features [N, G]."""
        x = self.normalise(pts)
        e, bias = self.encoding(x), self.sigma_cond(cond[..., :self.sigma_cond.in_features])
        if self.cond_gate is not None:
            bias = torch.sigmoid(self.cond_gate(e)) * bias
        h = self.sigma_in(e) + bias
        if self.cond_planes is not None:
            h = h + self.sigma_dyn(self.cond_planes(x, self.cond_basis(cond)))
        out = self.sigma_net(h)
        # the box is the modelled volume: nothing outside it (validation and driving poses may reach a
        # little beyond the training frustums), so skipping such points or querying them gives one image
        inside = (x.abs() <= 1).all(-1)
        return density_activation(out[:, 0]) * inside, out[:, 1:]

    def colour(self, geo: torch.Tensor, view: torch.Tensor | None) -> torch.Tensor:
        """geo [N, G], view [N, V] or None -> colour logits [N, 3] (sigmoid gives RGB)."""
        return self.colour_net(geo if view is None else torch.cat((geo, view.to(geo.dtype)), dim=-1))

    def forward(self, pts: torch.Tensor, view: torch.Tensor | None, cond: torch.Tensor) -> torch.Tensor:
        """pts [N, 3], view [N, V] or None, cond [C] -> raw [N, 4]: colour logits and density."""
        sigma, geo = self.density(pts, cond)
        return torch.cat((self.colour(geo, view), sigma[:, None].to(geo.dtype)), dim=-1)


def frustum_aabb(poses: torch.Tensor, H: int, W: int, focal: float, cx: float, cy: float, near: float,
                 far: float, margin: float = 0.02) -> torch.Tensor:
    """The box [2, 3] holding every point the cameras poses [N, 4, 4] sample between near and far:
    the corners of each camera's frustum, plus ``margin`` of the box size on every side."""
    corners = torch.tensor([[0, 0], [0, W - 1], [H - 1, 0], [H - 1, W - 1]], dtype=torch.float32)
    dirs = torch.stack(((corners[:, 1] - cx) / focal, -(corners[:, 0] - cy) / focal, -torch.ones(4)), -1)
    rot, trans = poses[:, :3, :3].float(), poses[:, :3, 3].float()
    d = torch.einsum("nij,kj->nki", rot, dirs)  # [N, 4, 3]
    pts = torch.cat([trans[:, None] + d * z for z in (near, far)], dim=1).reshape(-1, 3)
    lo, hi = pts.min(0).values, pts.max(0).values
    pad = (hi - lo) * margin
    return torch.stack((lo - pad, hi + pad))
