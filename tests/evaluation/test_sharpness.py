"""The sharpness ratio: the render's Laplacian variance over the ground truth's inside the face rect."""
import json

import imageio.v2 as imageio
import numpy as np
import pytest
from scipy.ndimage import gaussian_filter
from skimage.data import astronaut

from adnerf.sequence_record import frame_file, record_dict, write_record
from evaluation import evaluate
from evaluation.metrics.sharpness import laplacian_variance, sharpness_ratio, grey

FACE = astronaut()[:256, 96:352]   # a real face at 256 px


def blurred(img: np.ndarray, sigma: float) -> np.ndarray:
    out = np.stack([gaussian_filter(img[..., c].astype(np.float64), sigma) for c in range(3)], -1)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def test_the_ratio_is_one_for_the_truth_and_falls_with_blur():
    assert sharpness_ratio(FACE, FACE) == pytest.approx(1.0)
    ratios = [sharpness_ratio(blurred(FACE, s), FACE) for s in (0.5, 1.0, 2.0)]
    print("ratios at 0.5, 1, 2 px blur:", ratios)
    assert ratios[0] > ratios[1] > ratios[2]
    assert 0.05 < ratios[1] < 0.4 and ratios[2] < 0.1
    noisy = np.clip(FACE + np.random.default_rng(0).normal(0, 20, FACE.shape), 0, 255).astype(np.uint8)
    assert sharpness_ratio(noisy, FACE) > 1   # noise is "detail" too: read it next to PSNR


def test_the_rect_limits_where_detail_counts():
    half = FACE.copy()
    half[:, 128:] = blurred(FACE, 3.0)[:, 128:]   # the right half soft
    assert sharpness_ratio(half, FACE, [0, 0, 128, 256]) == pytest.approx(1.0)
    assert sharpness_ratio(half, FACE, [128, 0, 128, 256]) < 0.05
    assert np.isnan(sharpness_ratio(half, FACE, [0, 0, 2, 2]))


def test_laplacian_variance_of_known_images():
    assert laplacian_variance(grey(np.full((8, 8, 3), 90, np.uint8))) == 0.0
    checker = (np.indices((6, 6)).sum(0) % 2).astype(np.float64)   # Laplacian +-4 everywhere: variance 16
    import torch
    assert laplacian_variance(torch.from_numpy(checker)) == pytest.approx(16.0)


def test_evaluate_reports_the_ratio_and_its_median(tmp_path):
    for side in ("gt", "gen"):
        (tmp_path / side).mkdir()
    for k, sigma in enumerate((0.0, 1.0, 2.0)):
        imageio.imwrite(tmp_path / "gt" / f"{k}.png", FACE)
        imageio.imwrite(tmp_path / "gen" / frame_file(k), FACE if sigma == 0 else blurred(FACE, sigma))
    write_record(tmp_path / "gen", record_dict([{"img_id": k, "aud_id": k} for k in range(3)], fps=25, video=None))
    out = tmp_path / "out"
    assert evaluate.main(["--gen_dir", str(tmp_path / "gen"), "--gt_dir", str(tmp_path / "gt"), "--metrics",
                          "sharpness", "--out_dir", str(out), "--device", "cpu", "--no_progress"]) == 0
    entry = json.loads((out / "evaluation_results.json").read_text())["metrics"]["sharpness"]
    expected = [sharpness_ratio(FACE, FACE), sharpness_ratio(blurred(FACE, 1.0), FACE),
                sharpness_ratio(blurred(FACE, 2.0), FACE)]
    assert entry["per_frame"] == pytest.approx(expected)
    assert entry["median"] == pytest.approx(expected[1]) and entry["mean"] == pytest.approx(np.mean(expected))
    assert "Sharpness ratio" in (out / "evaluation_report.txt").read_text()
