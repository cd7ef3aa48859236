"""A portrait's evaluation is labelled as one and kept apart from the NeRF's (mode, name, folder, report,
comparison), and its paste-boundary band (evaluation/metrics/seam.py) measures what it says on synthetic frames."""
import json

import numpy as np
import pytest

from adnerf.media import read_image, write_image
from adnerf.sequence_record import frame_file, record_dict, write_record
from data_util.synthetic_head import make_synthetic_dataset
from evaluation import evaluate
from evaluation.metrics.seam import boundary_band, seam_scores
from evaluation.runner import for_inputs, parse_metrics
from portrait.cli import make_portrait
from tests.support import parsing_with_a_hidden_neck


def test_the_band_is_8_px_across_the_mask_edge_and_holds_the_feather_ramp():
    mask = np.zeros((64, 48), np.uint8)
    mask[:32] = 255                                   # edge between rows 31 and 32
    band = boundary_band(mask)
    assert np.array_equal(np.flatnonzero(band.any(1)), np.arange(28, 36)) and band[28:36].all()
    mask[40:44] = 100                                 # a ramp far from the edge is in the band too
    assert boundary_band(mask)[40:44].all() and not boundary_band(mask)[36:40].any()
    assert not boundary_band(np.zeros((8, 8), np.uint8)).any() and not boundary_band(np.full((8, 8), 255, np.uint8)).any()


def test_band_psnr_and_face_psnr_on_synthetic_frames():
    rng = np.random.default_rng(0)
    gt = rng.integers(20, 200, (64, 64, 3), dtype=np.uint8)
    yy, xx = np.mgrid[0:64, 0:64]
    mask = np.where((yy - 32) ** 2 + (xx - 32) ** 2 <= 18 ** 2, 255, 0).astype(np.uint8)
    band = boundary_band(mask)
    gen = gt.copy()
    gen[band] += 10                                    # an error of 10 levels on the band only: a seam
    rect = [24, 24, 16, 16]                            # the disc's centre: untouched
    scores = seam_scores(gen, gt, mask, rect)
    assert scores["band"] == pytest.approx(20 * np.log10(255 / 10), abs=1e-4)   # 28.13 dB
    assert scores["face"] == 100.0 and scores["band_px"] == int(band.sum())
    whole = [8, 8, 48, 48]                             # a rect around the disc: its share of the band's error
    share = band[8:56, 8:56].mean()
    assert seam_scores(gen, gt, mask, whole)["face"] == pytest.approx(10 * np.log10(255 ** 2 / (100 * share)), abs=1e-4)


def test_all_keeps_the_portrait_metric_for_portraits_only():
    everything = parse_metrics(["all"])
    assert "portrait_seam" in for_inputs(everything, ["all"], "portrait")
    assert "portrait_seam" not in for_inputs(everything, ["all"], "nerf")
    assert for_inputs(parse_metrics(["psnr,portrait_seam"]), ["psnr,portrait_seam"], "nerf") == ["psnr", "portrait_seam"]


@pytest.fixture(scope="module")
def subject(tmp_path_factory):
    """dataset/synth (32 px, 3 validation frames, parsing) with a noisy 'render' of the validation poses and its
    portrait (adnerf-portrait's make_portrait)."""
    root = make_synthetic_dataset(tmp_path_factory.mktemp("ds") / "dataset" / "synth", n_frames=33, size=32)
    parsing_with_a_hidden_neck(root)
    val = json.loads((root / "transforms_val.json").read_text())["frames"]
    seq = root / "logs" / "synth_com" / "val_rst"
    rng = np.random.default_rng(1)
    for k, f in enumerate(val):
        img = read_image(root / "ori_imgs" / f"{f['img_id']}.jpg").astype(float)
        write_image(seq / frame_file(k), np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8))
    write_record(seq, record_dict([{"img_id": f["img_id"], "aud_id": f["aud_id"]} for f in val], fps=25, testskip=1,
                                  kind="driving", pose_file=str(root / "transforms_val.json")))
    portrait = make_portrait(seq, grow=2, feather=4, progress=False, region="head_neck")["folder"]   # no landmarks
    return root, seq, portrait


def run(root, gen, *extra):
    return evaluate.main(["--subject", "synth", "--dataset_root", str(root.parent), "--gen_dir", str(gen),
                          "--device", "cpu", "--no_progress", "--metrics", "psnr", "portrait_seam", *extra])


def test_portrait_and_nerf_reports_are_labelled_and_written_apart(subject, tmp_path, monkeypatch):
    root, seq, portrait = subject
    monkeypatch.setattr(evaluate, "ROOT", tmp_path)   # the default folders: evaluation/results/<name>
    assert run(root, seq) == 0 and run(root, portrait) == 0
    nerf_dir, portrait_dir = tmp_path / "evaluation" / "results" / "synth", tmp_path / "evaluation" / "results" / "synth_portrait"
    nerf, port = (json.loads((d / "evaluation_results.json").read_text()) for d in (nerf_dir, portrait_dir))
    assert (nerf["mode"], nerf["name"], port["mode"], port["name"]) == ("nerf", "synth", "portrait", "synth_portrait")
    assert port["mode_description"].startswith("the rendered face (or head and neck) blended into the real frame")
    assert port["gen_source"] == str(portrait) and nerf["gen_source"] == str(seq)
    nerf_txt, port_txt = ((d / "evaluation_report.txt").read_text() for d in (nerf_dir, portrait_dir))
    assert port_txt.splitlines()[0] == "AD-NeRF evaluation report: synth (PORTRAIT numbers)"
    assert port_txt.splitlines()[1].startswith("mode: portrait (the rendered face (or head and neck) blended into")
    assert "\nportrait metric " in port_txt and "PORTRAIT" not in nerf_txt and "portrait metric" not in nerf_txt
    assert nerf_txt.splitlines()[1] == "mode: nerf (every pixel rendered by the NeRFs)"
    # the band is measured on the portrait only; the NeRF's says why not
    assert "not a portrait sequence (nerf)" in nerf["metrics"]["psnr_seam"]["unavailable"]
    band = port["metrics"]["psnr_seam"]
    assert band["n"] == 3 and "PSNR paste boundary (8 px band)" in port_txt
    val = json.loads((root / "transforms_val.json").read_text())["frames"]
    for k, f in enumerate(val):   # the report's per-frame values, recomputed from the files it read
        gen, gt = read_image(portrait / frame_file(k)), read_image(root / "ori_imgs" / f"{f['img_id']}.jpg")
        scores = seam_scores(gen, gt, read_image(portrait / "mask" / frame_file(k))[..., 0], f["face_rect"])
        assert band["per_frame"][k] == pytest.approx(scores["band"], abs=1e-4)
        assert port["metrics"]["seam_gap"]["per_frame"][k] == pytest.approx(scores["face"] - scores["band"], abs=1e-4)
    # side by side, each column says what it is, and the mix is called out
    assert evaluate.main(["--compare", str(nerf_dir), str(portrait_dir), "--out_dir", str(tmp_path / "cmp")]) == 0
    lines = (tmp_path / "cmp" / "comparison_report.txt").read_text().splitlines()
    assert next(line for line in lines if line.startswith("mode")).split() == ["mode", "nerf", "portrait"]
    assert any(line.startswith("not comparable: synth_portrait are portrait numbers") for line in lines)
