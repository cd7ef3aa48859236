"""The original's own Head-NeRF checkpoint and renders (../shared/oracle/head): same pixels here.

The checkpoint was trained by the original for 200 steps; val0/val1.npy are its float renders of
validation frames 0 and 1 with its render_only settings (64 + 128 samples, no jitter, no smoothing).
"""
import json

import imageio.v2 as imageio
import numpy as np
import torch

from adnerf.sequence_record import frame_file
from NeRFs.core.audio import sequence_codes
from NeRFs.core.config import parse_args
from NeRFs.core.head import HeadTrainer
from NeRFs.core.render_only import render_validation
from NeRFs.core.rays import get_rays
from NeRFs.core.rendering import RenderSettings, render_rays
from tests.oracle import need
from tests.original_algorithm import OriginalFaceNeRF, render_rays as original_render_rays


def _trainer(tmp_path) -> HeadTrainer:
    data = need("head", "Oracle")
    args = parse_args(["--config", str(data / "HeadNeRF_config.txt"), "--datadir", str(data),
                       "--basedir", str(tmp_path), "--ft_path", str(need("head", "000200_head.tar")),
                       "--device", "cpu"], "head")
    return HeadTrainer(args)


def test_render_only_of_the_originals_checkpoint_matches_its_renders_and_pngs(tmp_path):
    """Float renders within 1/255 of the original's; the PNGs render_only writes equal round(255 x) of
    both the float render here and the original's (+-1); metrics.json's PSNR equals the original's."""
    t = _trainer(tmp_path)
    res = render_validation(t.args, "head")  # the serving object's render: it loads the checkpoint itself
    folder = tmp_path / "Oracle_head" / "renderonly_val_000200"
    assert t.resume() == 200
    ours = {k: rgb.cpu().numpy() for k, rgb, _ in t.render_split("val", t.step, [0, 1])}
    for k in (0, 1):
        want = np.load(need("head", f"val{k}.npy"))
        record = json.loads(need("head", f"val{k}.json").read_text())
        assert record["img_id"] == t.dataset.splits["val"].img_ids[k]
        assert np.abs(ours[k] - want).max() < 1.0 / 255
        png = imageio.imread(folder / frame_file(k)).astype(int)
        assert png.shape == want.shape
        assert np.abs(png - np.round(255 * want)).max() <= 1
        assert np.abs(png - np.round(255 * ours[k])).max() <= 1
        written = json.loads((folder / "metrics.json").read_text())
        assert abs(written["psnr_per_frame"][k] - record["psnr_vs_head_img"]) < 0.05
        assert abs(res["psnr_per_frame"][k] - record["psnr_vs_head_img"]) < 0.05
    assert written["frames"] == 3 and (folder / "video.mp4").stat().st_size > 0


def test_training_renderer_and_original_restatement_match_the_originals_render(tmp_path):
    """The training renderer (autograd path) and tests/original_algorithm.py, on every 3rd pixel of val0."""
    ckpt = torch.load(need("head", "000200_head.tar"), map_location="cpu", weights_only=True)
    t = _trainer(tmp_path)
    t.resume()
    ds, a = t.dataset, t.args
    code = sequence_codes(t.models.audnet, None, t.auds["val"], False)[0].detach()
    rays_o, rays_d = get_rays(ds.H, ds.W, ds.focal, ds.splits["val"].poses[0], ds.cx, ds.cy)
    pick = torch.arange(0, ds.H * ds.W, 3)
    o, d = rays_o.reshape(-1, 3)[pick], rays_d.reshape(-1, 3)[pick]
    bc = t.bc_img.reshape(-1, 3)[pick].cpu()
    want = torch.as_tensor(np.load(need("head", "val0.npy")), dtype=torch.float32).reshape(-1, 3)[pick]
    s = RenderSettings(N_samples=64, N_importance=128, perturb=0.0)
    with torch.no_grad():
        ours = render_rays(t.models.coarse, t.models.fine, o, d, a.near, a.far, bc, code, s)["rgb_map"]
        nets = []
        for key in ("network_fn_state_dict", "network_fine_state_dict"):
            net = OriginalFaceNeRF()
            net.load_state_dict(ckpt[key])
            nets.append(net)
        restated, _ = original_render_rays(nets[0], nets[1], o, d, a.near, a.far, bc, code, 64, 128)
    assert (ours - want).abs().max() < 1.0 / 255
    assert (restated - want).abs().max() < 1.0 / 255
