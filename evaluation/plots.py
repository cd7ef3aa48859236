"""metrics_plot.png (per-frame curves and the best / worst frames) and the --compare bar chart."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from adnerf.files import atomic_path

STRIP_METRICS = ("psnr", "ssim", "lpips", "lmd")   # the first available ranks frames for the strip
# one panel per quantity; the whole-frame / face (or generated / ground-truth) variants share it
PANELS = (("psnr", "psnr_face", "psnr_head", "psnr_seam"), ("seam_gap",), ("ssim", "ssim_face"), ("lpips",), ("lmd",), ("nioe",),
          ("sync_c", "sync_c_gt"), ("sync_d", "sync_d_gt"), ("lipsync", "lipsync_gt"))
VARIANT = {"psnr_seam": "paste boundary", "psnr": "whole frame", "psnr_face": "face rect", "psnr_head": "head (parsing)", "ssim": "whole frame", "ssim_face": "face rect",
           "sync_c": "generated", "sync_c_gt": "ground truth", "sync_d": "generated", "sync_d_gt": "ground truth",
           "lipsync": "generated", "lipsync_gt": "ground truth"}
DIFF_GAIN = 4        # the difference image is amplified so that small errors show


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")   # files only, no display
    import matplotlib.pyplot as plt
    return plt


def per_frame_entries(metrics: dict) -> dict:
    return {k: e for k, e in metrics.items() if "unavailable" not in e and e.get("per_frame")}


def _values(entry: dict) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in entry["per_frame"]], dtype=float)


def best_and_worst(entry: dict, count: int) -> tuple[list[int], list[int]]:
    """Indices of the best and worst frames of a per-frame metric (NaN frames ignored)."""
    values = _values(entry)
    order = [int(i) for i in np.argsort(values) if np.isfinite(values[i])]
    if entry["better"] == "higher":
        order = order[::-1]
    return order[:count], order[::-1][:count]


def _summary(entry: dict) -> str:
    if "value" in entry:
        return f"{entry['value']:.3g}"
    return f"{entry['mean']:.3g} ± {entry['std']:.2g}" if entry.get("mean") is not None else "n/a"


def _curve_panel(ax, keys: tuple, curves: dict, frame_ids: list) -> None:
    """One quantity's per-frame curves (x = validation frame id, or sync window) with mean lines."""
    first = curves[next(k for k in keys if k in curves)]
    for key in keys:
        if key not in curves:
            continue
        entry, values = curves[key], _values(curves[key])
        sync = key.startswith(("sync", "lipsync"))   # whole clips, not the paired frames
        x = np.arange(len(values)) if sync or len(values) != len(frame_ids) else np.asarray(frame_ids)
        line, = ax.plot(x, values, lw=1.2, marker="." if len(values) <= 60 else None,
                        label=f"{VARIANT.get(key, 'per frame')}: {_summary(entry)}")
        if entry.get("mean") is not None:
            ax.axhline(entry["mean"], color=line.get_color(), ls="--", lw=0.8, alpha=0.7)
    base = first["label"].replace(" ground truth", "").replace(" face", "")
    unit = f" [{first['unit']}]" if first.get("unit") else ""
    ax.set_title(f"{base}{unit}: {first['better']} is better", fontsize=10)
    xlabel = {"sync": "sync window (generated frames i..i+4)", "lipsync": "frame of the clip"}
    ax.set_xlabel(xlabel.get(keys[0].split("_")[0], "validation frame"), fontsize=8)
    if keys[0] == "lipsync":   # the curve is the series the score correlates, the legend gives the score
        ax.set_ylabel("mouth opening / inter-ocular", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")


def _triptych(gen: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """generated | ground truth | amplified absolute difference, side by side with white gaps."""
    diff = np.clip(np.abs(gen.astype(np.int16) - gt.astype(np.int16)) * DIFF_GAIN, 0, 255).astype(np.uint8)
    gap = np.full((gen.shape[0], max(2, gen.shape[1] // 40), 3), 255, np.uint8)
    return np.concatenate([gen, gap, gt, gap, diff], axis=1)


def metrics_plot(results: dict, gen: list[np.ndarray], gt: list[np.ndarray], path: Path, strip: int = 3) -> None:
    """Per-frame curves (one panel per quantity) and the best and worst frames as generated | ground truth |
    difference strips."""
    plt = _pyplot()
    curves = per_frame_entries(results["metrics"])
    panels = [keys for keys in PANELS if any(k in curves for k in keys)]
    rank_key = next((k for k in STRIP_METRICS if k in curves), None)
    strip = min(strip, len(gen))
    curve_rows = -(-len(panels) // 2)
    strip_rows = 2 if rank_key is not None and strip else 0
    heights = [3.2] * curve_rows + [2.2] * strip_rows or [1.0]
    fig = plt.figure(figsize=(15, sum(heights) + 0.5), constrained_layout=True)
    grid = fig.add_gridspec(len(heights), 2 * strip or 2, height_ratios=heights)
    half = max(strip, 1)
    for i, keys in enumerate(panels):
        ax = fig.add_subplot(grid[i // 2, (i % 2) * half:(i % 2 + 1) * half])
        _curve_panel(ax, keys, curves, results["frame_ids"])
    if strip_rows:
        rank = curves[rank_key]
        best, worst = best_and_worst(rank, strip)
        img_ids = results.get("img_ids") or [None] * len(gen)
        for row, (title, idx) in enumerate((("best", best), ("worst", worst))):
            for j, i in enumerate(idx):
                ax = fig.add_subplot(grid[curve_rows + row, j * 2:(j + 1) * 2])
                ax.imshow(_triptych(gen[i], gt[i]))
                img = f", ori_imgs {img_ids[i]}" if img_ids[i] is not None else ""
                ax.set_title(f"{title} {rank['label']} {rank['per_frame'][i]:.4g}: frame {results['frame_ids'][i]}{img}\n"
                             f"generated | ground truth | difference x{DIFF_GAIN}", fontsize=9)
                ax.axis("off")
    if not panels and not strip_rows:
        fig.text(0.5, 0.5, "no per-frame metric was computed", ha="center")
    mode = " (PORTRAIT numbers: real frame outside the rendered head)" if results.get("mode") == "portrait" else ""
    fig.suptitle(f"evaluation of {results.get('subject') or 'custom inputs'}{mode}: {results['n_pairs']} frame pairs",
                 fontsize=12)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=80)
    plt.close(fig)


def comparison_plot(runs: list[dict], path: Path) -> None:
    """One bar panel per metric entry, one bar (mean ± std, or value) per run."""
    plt = _pyplot()
    keys = []
    for r in runs:
        keys += [k for k, e in r["metrics"].items() if "unavailable" not in e and k not in keys]
    cols = min(4, max(1, len(keys)))
    rows = max(1, -(-len(keys) // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.0 * rows), squeeze=False, constrained_layout=True)
    for ax in axes.flat[len(keys):]:
        ax.axis("off")
    for ax, key in zip(axes.flat, keys):
        heights, errors, label, better = [], [], key, ""
        for r in runs:
            e = r["metrics"].get(key, {})
            label, better = e.get("label", label), e.get("better", better)
            heights.append(e.get("value", e.get("mean")) if "unavailable" not in e else None)
            errors.append(e.get("std") or 0.0)
        x = np.arange(len(runs))
        ax.bar(x, [h if h is not None else 0 for h in heights], yerr=errors, capsize=3,
               color=[f"C{i}" for i in range(len(runs))])
        for xi, h, err in zip(x, heights, errors):   # the value above the error bar
            ax.annotate("n/a" if h is None else f"{h:.3g}", (xi, (h or 0) + err), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")
        ax.margins(y=0.15)
        ax.set_xticks(x, [r["name"] for r in runs], rotation=30, ha="right", fontsize=8)
        ax.set_title(f"{label}\n({better} is better)" if better else label, fontsize=9)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
