"""Computing the chosen metrics on paired frames, in batches on one device; unavailable ones say why."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
from tqdm import tqdm

from evaluation import lipsync_clip
from evaluation.inputs import EvalInputs
from evaluation.metrics import fid, image, landmark, perceptual, seam, sharpness, syncnet
from evaluation.weights import MetricUnavailable

METRICS = ("psnr", "ssim", "sharpness", "lpips", "fid", "lmd", "nioe", "sync", "lipsync", "portrait_seam")
PORTRAIT_ONLY = ("portrait_seam",)   # 'all' includes them only when the generated frames are a portrait
# result entries each metric name produces, with their label, unit and better direction
ENTRIES = {
    "psnr": [("psnr", "PSNR", "dB", "higher"), ("psnr_face", "PSNR face", "dB", "higher"),
             ("psnr_head", "PSNR head", "dB", "higher")],
    "ssim": [("ssim", "SSIM", "", "higher"), ("ssim_face", "SSIM face", "", "higher")],
    "sharpness": [("sharpness", "Sharpness ratio (face rect Laplacian variance, render / GT)", "", "higher")],
    "lpips": [("lpips", "LPIPS (alex)", "", "lower")],
    "fid": [("fid", "FID", "", "lower")],
    "lmd": [("lmd", "LMD (mouth, centred)", "px", "lower")],
    "nioe": [("nioe", "NIOE (mouth / inter-ocular)", "", "lower")],
    "sync": [("sync_c", "Sync-C", "", "higher"), ("sync_d", "Sync-D", "", "lower"),
             ("sync_c_gt", "Sync-C ground truth", "", "higher"), ("sync_d_gt", "Sync-D ground truth", "", "lower")],
    "lipsync": lipsync_clip.ENTRIES,
    "portrait_seam": [("psnr_seam", f"PSNR paste boundary ({seam.BAND_PX:g} px band)", "dB", "higher"),
                      ("seam_gap", "Seam gap: PSNR(face rect) - PSNR(boundary)", "dB", "lower")],
}


@dataclass
class Options:
    device: torch.device
    batch_size: int = 16
    landmark_backend: str = "fan"
    lpips_backbone: str | None = None
    lpips_heads: str | None = None
    fid_weights: str | None = None
    syncnet_weights: str | None = None
    progress: bool = True


def parse_metrics(names: list[str]) -> list[str]:
    """['all'] or names (comma or space separated) -> metric names in canonical order."""
    wanted = {n.strip().lower() for item in names for n in item.split(",") if n.strip()}
    if "all" in wanted:
        return list(METRICS)
    unknown = wanted - set(METRICS)
    if unknown:
        raise ValueError(f"unknown metric(s) {', '.join(sorted(unknown))}: choose from all, {', '.join(METRICS)}")
    return [m for m in METRICS if m in wanted]


def for_inputs(selected: list[str], names: list[str], mode: str) -> list[str]:
    """The selected metrics that apply to inputs of ``mode`` (evaluation.inputs.MODES): --metrics all leaves
    out the portrait-only ones for anything but a portrait; named explicitly, they are kept (and say why they
    are unavailable)."""
    asked_all = any(n.strip().lower() == "all" for item in names for n in item.split(","))
    return [m for m in selected if not (asked_all and m in PORTRAIT_ONLY and mode != "portrait")]


def summary(values) -> dict:
    """Per-frame values (NaN = skipped) -> {mean, std, n, per_frame}."""
    v = np.asarray(values, dtype=np.float64)
    ok = v[np.isfinite(v)]
    return {"mean": float(ok.mean()) if ok.size else None, "std": float(ok.std()) if ok.size else None,
            "n": int(ok.size), "per_frame": [float(x) if np.isfinite(x) else None for x in v]}


def _batches(n: int, size: int, desc: str, progress: bool):
    starts = range(0, n, size)
    return tqdm(starts, desc=desc, unit="batch", leave=False) if progress else starts


@torch.no_grad()
def pixel_metrics(inp: EvalInputs, opts: Options, want: set) -> dict:
    """PSNR / SSIM over whole frames and inside each frame's face rect, in batches on the device."""
    per = {k: np.full(len(inp.keys), np.nan) for k in ("psnr", "ssim", "psnr_face", "ssim_face", "psnr_head")}
    for s in _batches(len(inp.keys), opts.batch_size, "PSNR/SSIM", opts.progress):
        gen = image.to_tensor(inp.gen[s:s + opts.batch_size], opts.device)
        gt = image.to_tensor(inp.gt[s:s + opts.batch_size], opts.device)
        rects = inp.face_rects[s:s + len(gen)] if inp.face_rects is not None else None
        masks = inp.head_masks[s:s + len(gen)] if inp.head_masks is not None else None
        for key, values in image.frame_scores(gen, gt, rects, with_ssim="ssim" in want, head_masks=masks).items():
            per[key][s:s + len(gen)] = values
    out = {}
    for m in ("psnr", "ssim"):
        if m not in want:
            continue
        out[m] = summary(per[m])
        out[f"{m}_face"] = summary(per[f"{m}_face"]) if inp.face_rects is not None else {
            "unavailable": "no face rectangles: give --subject (transforms_val.json face_rect)"}
        if m == "psnr":
            out["psnr_head"] = summary(per["psnr_head"]) if inp.head_masks is not None else {
                "unavailable": "no head masks: give --subject with parsing/<img_id>.png (preprocessing step 3)"}
    return out


def sharpness_metric(inp: EvalInputs) -> dict:
    """The face rectangle's Laplacian-variance ratio per frame (evaluation/metrics/sharpness.py), with its
    median (the issue's statistic) beside the mean."""
    rects = inp.face_rects or [None] * len(inp.keys)
    entry = summary([sharpness.sharpness_ratio(g, t, r) for g, t, r in zip(inp.gen, inp.gt, rects)])
    ok = [v for v in entry["per_frame"] if v is not None]
    entry["median"] = float(np.median(ok)) if ok else None
    entry["note"] = ("median %.3f; 1 = as detailed as the ground truth, a 1 px blur of a real face ~0.23"
                     % entry["median"] if ok else "no frame with detail in its ground truth")
    if inp.face_rects is None:
        entry["note"] += " (whole frames: no face rectangles without --subject)"
    return {"sharpness": entry}


@torch.no_grad()
def lpips_metric(inp: EvalInputs, opts: Options) -> dict:
    perceptual.check_input_size(*inp.gen[0].shape[:2])
    model = perceptual.load_lpips(opts.device, opts.lpips_backbone, opts.lpips_heads)
    values = []
    for s in _batches(len(inp.keys), opts.batch_size, "LPIPS", opts.progress):
        gen = image.to_tensor(inp.gen[s:s + opts.batch_size], opts.device)
        gt = image.to_tensor(inp.gt[s:s + opts.batch_size], opts.device)
        values.append(model(gen, gt).cpu().numpy())
    return {"lpips": summary(np.concatenate(values))}


@torch.no_grad()
def fid_metric(inp: EvalInputs, opts: Options) -> dict:
    model, weights = fid.load_fid_inception_with_source(opts.device, opts.fid_weights)
    feats = {"gen": [], "gt": []}
    for s in _batches(len(inp.keys), opts.batch_size, "FID", opts.progress):
        for side, frames in (("gen", inp.gen), ("gt", inp.gt)):
            batch = image.to_tensor(frames[s:s + opts.batch_size], opts.device)
            feats[side].append(fid.inception_features(model, batch).cpu())
    value = fid.frechet_distance(torch.cat(feats["gen"]), torch.cat(feats["gt"]))
    return {"fid": {"value": value, "n": len(inp.keys), "weights": weights, "note": f"weights: {weights}"}}


def landmark_metrics(inp: EvalInputs, opts: Options, want: set) -> dict:
    from adnerf.landmarks import LandmarkBackendUnavailable, detect_landmarks
    try:
        gen = detect_landmarks(inp.gen, opts.landmark_backend, str(opts.device), progress=opts.progress)
        gt = detect_landmarks(inp.gt, opts.landmark_backend, str(opts.device), progress=opts.progress)
    except LandmarkBackendUnavailable as e:
        offline = opts.landmark_backend == "fan" and "dlib" not in str(e)
        hint = " (or use --landmark_backend dlib, which works offline)" if offline else ""
        raise MetricUnavailable(f"landmark backend {opts.landmark_backend}: {e}{hint}") from e
    lmd, nioe, missing = landmark.paired_landmark_scores(gen, gt)
    if missing == len(inp.keys):
        raise MetricUnavailable(f"no face found by the {opts.landmark_backend} landmark detector in any frame pair")
    out = {"lmd": summary(lmd), "nioe": summary(nioe)}
    for entry in out.values():
        entry["skipped"] = missing
    return {k: v for k, v in out.items() if k in want}


def seam_metric(inp: EvalInputs) -> dict:
    """A portrait's PSNR in the band along its paste boundary (evaluation/metrics/seam.py) and the face rect's
    PSNR minus it, per frame."""
    if inp.mode != "portrait":
        raise MetricUnavailable(f"the generated frames are not a portrait sequence ({inp.mode}): the paste boundary "
                                f"is a portrait's (adnerf-portrait, or --portrait when rendering)")
    if inp.seam_masks is None:
        raise MetricUnavailable("the portrait's masks (mask/<index>.png beside its frames) could not be read: "
                                "make the portrait again with adnerf-portrait")
    rects = inp.face_rects or [None] * len(inp.keys)
    scores = [seam.seam_scores(g, t, m, r) for g, t, m, r in zip(inp.gen, inp.gt, inp.seam_masks, rects)]
    band = summary([s["band"] for s in scores])
    band["note"] = (f"pixels within {seam.BAND_PX / 2:g} px of the blend mask's edge (either side) or on its "
                    f"feather ramp; median {int(np.median([s['band_px'] for s in scores]))} px a frame")
    gap = summary([s["face"] - s["band"] for s in scores]) if inp.face_rects is not None else {
        "unavailable": "no face rectangles: give --subject (transforms_val.json face_rect)"}
    return {"psnr_seam": band, "seam_gap": gap}


def _unavailable_sync(suffix: str, reason: str) -> dict:
    return {f"sync_{m}{suffix}": {"unavailable": reason} for m in "cd"}


@torch.no_grad()
def sync_metric(inp: EvalInputs, opts: Options) -> dict:
    """Sync-C / Sync-D of every generated frame with its driving audio, and of the ground truth with its own.

    A clip without audio is unavailable for that reason (even when the weights are missing too)."""
    clips = [("", inp.gen_all, inp.gen_audio), ("_gt", inp.gt_all, inp.gt_audio)]
    out = {}
    for suffix, _, audio in clips:
        if audio.samples is None:
            out.update(_unavailable_sync(suffix, audio.description))
    todo = [c for c in clips if c[2].samples is not None]
    if not todo:
        return out
    try:
        model = syncnet.load_syncnet(opts.device, opts.syncnet_weights)
    except MetricUnavailable as e:
        for suffix, *_ in todo:
            out.update(_unavailable_sync(suffix, str(e)))
        return out
    for suffix, clip, audio in todo:
        rects = [inp.rects_by_key.get(k) for k in clip.keys] if inp.rects_by_key else [None] * len(clip.keys)
        crops = syncnet.crop_faces(clip.frames, rects, opts.device)
        try:
            lip, aud = syncnet.embed_clip(model, crops, syncnet.mfcc_features(audio.samples),
                                          max(opts.batch_size, 1), opts.progress)
        except MetricUnavailable as e:
            out.update(_unavailable_sync(suffix, str(e)))
            continue
        scores = syncnet.sync_scores(lip, aud)
        out[f"sync_c{suffix}"] = {"value": scores["sync_c"], "n": len(lip), "offset": scores["offset"],
                                  "per_frame": scores["frame_conf"], "mean_dist": scores["mean_dist"]}
        out[f"sync_d{suffix}"] = {"value": scores["sync_d"], "n": len(lip), "offset": scores["offset"],
                                  "per_frame": scores["frame_dist"]}
        if inp.rects_by_key is None:
            for m in "cd":
                out[f"sync_{m}{suffix}"]["note"] = ("no face rectangles (no --subject): SyncNet saw the central "
                                                    "square of each frame")
    return out


def run_metrics(inp: EvalInputs, selected: list[str], opts: Options, timings: dict | None = None) -> dict:
    """{entry name: result} for every entry of the selected metrics; failures give {"unavailable": reason}.

    timings, when given, receives the seconds each group of metrics took (e.g. {"psnr+ssim": 1.2})."""
    groups = [({"psnr", "ssim"}, lambda w: pixel_metrics(inp, opts, w)),
              ({"sharpness"}, lambda w: sharpness_metric(inp)),
              ({"lpips"}, lambda w: lpips_metric(inp, opts)),
              ({"fid"}, lambda w: fid_metric(inp, opts)),
              ({"lmd", "nioe"}, lambda w: landmark_metrics(inp, opts, w)),
              ({"sync"}, lambda w: sync_metric(inp, opts)),
              ({"lipsync"}, lambda w: lipsync_clip.lipsync_metric(inp, opts)),
              ({"portrait_seam"}, lambda w: seam_metric(inp))]
    results = {}
    for names, compute in groups:
        want = names & set(selected)
        if not want:
            continue
        start = time.perf_counter()
        try:
            results.update(compute(want))
        except (MetricUnavailable, ImportError) as e:
            for metric in sorted(want):
                for entry, *_ in ENTRIES[metric]:
                    results[entry] = {"unavailable": str(e)}
        if timings is not None:
            timings["+".join(sorted(want))] = round(time.perf_counter() - start, 2)
    return labelled(results, selected)


def labelled(results: dict, selected: list[str]) -> dict:
    """The entries of the selected metrics in report order, each with its label / unit / better direction."""
    for metric in selected:
        for entry, label, unit, better in ENTRIES[metric]:
            results.setdefault(entry, {"unavailable": "not computed"}).update(label=label, unit=unit, better=better)
    return {entry: results[entry] for metric in selected for entry, *_ in ENTRIES[metric]}
