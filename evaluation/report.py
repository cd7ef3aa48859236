"""The evaluation's outputs: evaluation_report.txt, evaluation_results.json and --compare tables."""
from __future__ import annotations

import json
import math
from pathlib import Path

from adnerf.files import save_text   # atomic: a report is never half-written

REPORT_TXT, RESULTS_JSON, PLOT_PNG = "evaluation_report.txt", "evaluation_results.json", "metrics_plot.png"


def fmt(value, like=None) -> str:
    """A metric value with sensible precision (that of `like` when given, for a std beside its mean)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:.2f}" if abs(value if like is None else like) >= 10 else f"{value:.4f}"


def cell(entry: dict) -> str:
    """'mean ± std' for per-frame metrics, the value for clip-level ones (FID, Sync), else 'unavailable'."""
    if "unavailable" in entry:
        return "unavailable"
    if "value" in entry:
        extra = f" (offset {entry['offset']:+d})" if "offset" in entry else ""
        if "p" in entry:   # the lip-sync score against its shuffled-sound null
            extra = f" (offset {entry['offset']:+d}, p {entry['p']:.3f})"
        return fmt(entry["value"]) + extra
    if entry.get("mean") is None:
        return "no frames"
    return f"{fmt(entry['mean'])} ± {fmt(entry['std'], entry['mean'])}"


def heading(entry: dict) -> str:
    unit = f"{entry['unit']}, " if entry.get("unit") else ""
    return f"{entry['label']} ({unit}{entry['better']} is better)"


def frames_column(entry: dict) -> str:
    if "unavailable" in entry:
        return ""
    if "value" in entry and "offset" in entry:
        return f"{entry['n']} {entry.get('n_what', 'windows')}"
    skipped = f" ({entry['skipped']} without a face)" if entry.get("skipped") else ""
    return f"{entry['n']}{skipped}"


def report_text(results: dict) -> str:
    """The human-readable report of one evaluation."""
    metrics = results["metrics"]
    mode = results.get("mode")   # older results files have none
    lines = [f"AD-NeRF evaluation report: {results.get('subject') or 'custom inputs'}"
             + (" (PORTRAIT numbers)" if mode == "portrait" else ""),
             f"generated:    {results['gen_source']} ({results['n_gen']} frames)",
             f"ground truth: {results['gt_source']} ({results['n_gt']} frames)",
             f"frames compared: {results['n_pairs']}    device: {results['device']}    "
             f"landmark backend: {results['landmark_backend']}    created: {results['created']}"]
    if mode:
        described = f" ({results['mode_description']})" if results.get("mode_description") else ""
        lines.insert(1, f"mode: {mode}{described}")
    if results.get("pairing"):   # older results files have no pairing entry
        lines.append(f"paired: {results['pairing']['description']}")
    timings = results.get("seconds_per_metric") or {}
    if "seconds" in results:
        parts = ", ".join(f"{k} {v:.1f} s" for k, v in timings.items())
        lines.append(f"time: {results['seconds']:.1f} s" + (f" ({parts})" if parts else ""))
    lines.append("")
    if results["notes"]:
        lines += ["notes:"] + [f"  - {n}" for n in results["notes"]] + [""]
    width = max([len(heading(e)) for e in metrics.values()] + [20]) + 2
    values = max([len(cell(e)) for e in metrics.values()] + [24]) + 2
    first = "portrait metric" if mode == "portrait" else "metric"
    lines.append(f"{first:<{width}}{'mean ± std / value':<{values}}frames")
    for entry in metrics.values():
        lines.append(f"{heading(entry):<{width}}{cell(entry):<{values}}{frames_column(entry)}".rstrip())
    notes = [f"  {e['label']}: {e['note']}" for e in metrics.values() if e.get("note")]
    if notes:
        lines += ["", "metric notes:"] + notes
    by_reason: dict[str, list[str]] = {}     # one line per reason (Sync's four entries share theirs)
    for e in metrics.values():
        if "unavailable" in e:
            by_reason.setdefault(e["unavailable"], []).append(e["label"])
    skipped = [f"  {', '.join(labels)}: unavailable: {reason}" for reason, labels in by_reason.items()]
    lines += ["", "skipped:"] + (skipped or ["  nothing: every requested metric was computed"])
    return "\n".join(lines) + "\n"


def write_results(results: dict, out_dir: Path) -> tuple[Path, Path]:
    """Write evaluation_report.txt and evaluation_results.json (per-frame values, null = skipped frame)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    txt, js = out_dir / REPORT_TXT, out_dir / RESULTS_JSON
    save_text(txt, report_text(results))
    save_text(js, json.dumps(results, indent=1, allow_nan=False))
    return txt, js


def load_results(path: str | Path) -> dict:
    """An evaluation_results.json, given itself or the folder holding it."""
    path = Path(path)
    if path.is_dir():
        path = path / RESULTS_JSON
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: run evaluation/evaluate.py for that run first")
    results = json.loads(path.read_text())
    results.setdefault("name", path.parent.name)
    return results


def comparison_text(runs: list[dict]) -> str:
    """One table: a row per metric entry, a column per run."""
    names = [r["name"] for r in runs]
    entries = {}
    for r in runs:
        for key, entry in r["metrics"].items():
            entries.setdefault(key, heading(entry))
    width = max([len(h) for h in entries.values()] + [10]) + 2
    col = max([len(n) for n in names] + [24]) + 2
    modes = [r.get("mode") or "-" for r in runs]
    lines = [f"comparison of {len(runs)} evaluations", "",
             f"{'metric':<{width}}" + "".join(f"{n:<{col}}" for n in names),
             (f"{'mode':<{width}}" + "".join(f"{m:<{col}}" for m in modes)).rstrip()]
    for key, head in entries.items():
        cells = [cell(r["metrics"][key]) if key in r["metrics"] else "-" for r in runs]
        lines.append((f"{head:<{width}}" + "".join(f"{c:<{col}}" for c in cells)).rstrip())
    lines += ["", "frames compared: " + ", ".join(f"{r['name']} {r['n_pairs']}" for r in runs)]
    if "portrait" in modes and len(set(modes)) > 1:
        portraits = ", ".join(n for n, m in zip(names, modes) if m == "portrait")
        lines.append(f"not comparable: {portraits} are portrait numbers (the real frame outside the rendered head "
                     f"and neck), the others are not")
    return "\n".join(lines) + "\n"
