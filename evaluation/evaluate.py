"""Measure a rendered talking head against the ground truth: PSNR, SSIM, LPIPS, FID, LMD, NIOE, Sync-C/D, lip sync.

    python evaluation/evaluate.py --subject <id> --metrics all
    python evaluation/evaluate.py --gen_video out.mp4 --gt_video gt.mp4 --audio aud.wav --metrics psnr ssim sync
    python evaluation/evaluate.py --compare evaluation/results/A evaluation/results/B --out_dir cmp
    python evaluation/evaluate.py --video driven.mp4 --metrics lipsync     # lip sync of a video with its sound

Writes evaluation_report.txt, evaluation_results.json and metrics_plot.png to --out_dir (default
evaluation/results/<id>; evaluation/results/<id>_portrait for a portrait, whose frames.json kind is "portrait":
its report says "mode: portrait" and adds the paste-boundary band, metric portrait_seam). Metrics whose weights or packages cannot be had are marked unavailable with the
reason; the others still run. Definitions and offline use: docs/evaluation.md.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from adnerf.devices import resolve_device
from adnerf.errors import AdnerfError
from adnerf.errors import report as report_error
from evaluation import plots, report
from evaluation import lipsync_clip
from evaluation.inputs import MODES, gather_inputs, read_video
from evaluation.pairing import DESCRIPTIONS, PAIR_MODES
from evaluation.weights import MetricUnavailable
from evaluation.runner import METRICS, Options, for_inputs, labelled, parse_metrics, run_metrics

ROOT = Path(__file__).resolve().parents[1]   # dataset/ and evaluation/results/ of the checkout


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--subject", help="dataset id: dataset/<id>, its validation frames and driving output")
    p.add_argument("--dataset_root", default=str(ROOT / "dataset"))
    p.add_argument("--metrics", nargs="+", default=["all"], help=f"all, or any of {', '.join(METRICS)}")
    src = p.add_argument_group("inputs (override the subject's defaults)")
    src.add_argument("--gen_dir", help="generated frames: a rendered sequence (frames + frames.json, which pairs each "
                          "frame with its ground truth) or any folder of frames (paired by --pair) (default: "
                          "<id>_com/test_aud_rst under the basedir of TorsoNeRFTest_config.txt, dataset/<id>/logs "
                          "or ./logs)")
    src.add_argument("--gt_dir", help="ground-truth frames <img_id>.jpg (default: ori_imgs of the validation frames)")
    src.add_argument("--gen_video", help="generated video (with --subject: the video.mp4 of a rendered sequence, "
                                          "paired by the frames.json beside it)")
    src.add_argument("--gt_video", help="ground-truth video")
    src.add_argument("--video", help="a driven video with its own sound track, no ground truth: scores its lip "
                                     "sync only (--metrics lipsync)")
    src.add_argument("--audio", help="driving audio for Sync (default: the generated video's sound, "
                                      "video_with_audio.mp4 beside the frames, else dataset/<id>/aud.wav)")
    src.add_argument("--audio_start", type=int, default=None,
                     help="video frame (25 fps) of the audio that goes with generated frame 0 (default: 0 for "
                          "--audio or a video_with_audio.mp4, the first validation frame's aud_id for aud.wav)")
    src.add_argument("--pair", choices=PAIR_MODES, default="auto",
                     help="how generated frames find their ground truth: record (frames.json), name (same file "
                          "name; numeric names are img_ids: 0007.png = 7.jpg), order (i-th with i-th); auto: "
                          "the record when present, else name")
    src.add_argument("--resize", action="store_true", help="resize generated frames to the ground truth's size")
    w = p.add_argument_group("weights (local files for offline use)")
    w.add_argument("--lpips_backbone", help="torchvision AlexNet weights (alexnet-owt-7be5be79.pth)")
    w.add_argument("--lpips_heads", help="LPIPS v0.1 linear heads (alex.pth; default: the lpips package's)")
    w.add_argument("--fid_weights", help="pytorch-fid Inception weights (pt_inception-2015-12-05-6726825d.pth)")
    w.add_argument("--syncnet_weights", help="SyncNet weights (syncnet_v2.model)")
    p.add_argument("--landmark_backend", choices=("fan", "dlib"), default="fan")
    p.add_argument("--device", default="auto", help="auto (CUDA when available), cpu, cuda or cuda:N")
    p.add_argument("--batch_size", type=int, default=16)
    p.add_argument("--out_dir", help="default evaluation/results/<id> (evaluation/results/comparison for --compare alone)")
    p.add_argument("--compare", nargs="+", metavar="RESULT_JSON_OR_DIR",
                   help="put these evaluations (and this one, if inputs are given) side by side")
    p.add_argument("--no_progress", action="store_true", help="no progress bars")
    return p


def evaluate(args, device) -> dict:
    """Run the chosen metrics; returns the results dict written to evaluation_results.json."""
    selected = parse_metrics(args.metrics)
    start, timings = time.time(), {}
    inp = gather_inputs(args.subject, Path(args.dataset_root), args.gen_dir, args.gt_dir, args.gen_video,
                        args.gt_video, args.audio, args.audio_start, args.resize,
                        need_audio=bool({"sync", "lipsync"} & set(selected)),
                        progress=not args.no_progress, pair=args.pair)
    for note in inp.notes:
        print(f"note: {note}", file=sys.stderr)
    selected = for_inputs(selected, args.metrics, inp.mode)
    opts = Options(device, args.batch_size, args.landmark_backend, args.lpips_backbone, args.lpips_heads,
                   args.fid_weights, args.syncnet_weights, progress=not args.no_progress)
    timings["reading"] = round(time.time() - start, 2)
    metrics = run_metrics(inp, selected, opts, timings)
    # a portrait's numbers go to their own name and folder: never read as (or written over) the NeRF's
    name = result_name(args.subject or Path(inp.gen_all.source).name, inp.mode)
    results = {"name": name, "subject": args.subject, "mode": inp.mode, "mode_description": MODES[inp.mode],
               "created": time.strftime("%Y-%m-%d %H:%M:%S"), "gen_source": inp.gen_all.source,
               "gt_source": inp.gt_all.source, "n_gen": len(inp.gen_all.keys), "n_gt": len(inp.gt_all.keys),
               "n_pairs": len(inp.keys), "pairing": {"mode": inp.pairing, "description": DESCRIPTIONS[inp.pairing]},
               "frame_ids": inp.keys, "img_ids": inp.img_ids, "testskip": inp.testskip,
               "device": str(device), "landmark_backend": args.landmark_backend,
               "seconds": round(time.time() - start, 2), "seconds_per_metric": timings,
               "notes": inp.notes, "metrics": metrics}
    default_dir = ROOT / "evaluation" / "results" / result_name(args.subject or "custom", inp.mode)
    return write_outputs(results, Path(args.out_dir or default_dir), inp.gen, inp.gt)


def result_name(base: str, mode: str) -> str:
    """The name (and default folder) of an evaluation: <base>_portrait for a portrait's."""
    return f"{base}_portrait" if mode == "portrait" and not base.endswith("_portrait") else base


def write_outputs(results: dict, out_dir: Path, gen: list, gt: list) -> dict:
    txt, _ = report.write_results(results, out_dir)
    plots.metrics_plot(results, gen, gt, out_dir / report.PLOT_PNG)
    print(txt.read_text())
    print(f"wrote {out_dir / report.REPORT_TXT}, {report.RESULTS_JSON}, {report.PLOT_PNG}")
    return results


def evaluate_video(args) -> dict:
    """--video: the lip sync of a driven video with its own sound track (no ground truth, so nothing else)."""
    if [m for m in parse_metrics(args.metrics) if m != "lipsync"] and args.metrics != ["all"]:
        raise AdnerfError(f"--video has no ground truth, so it scores lip sync only: use --metrics lipsync "
                          f"(or --gen_video {args.video} with --gt_video / --subject for the other metrics)")
    others = [f"--{k}" for k in ("subject", "gen_dir", "gt_dir", "gen_video", "gt_video", "audio") if getattr(args, k)]
    if others:
        raise AdnerfError(f"--video scores a video with its own sound alone: leave out {', '.join(others)} "
                          "(or use --gen_video for an evaluation against a ground truth)")
    start = time.time()
    audio = lipsync_clip.driven_video_audio(args.video)
    if audio.samples is None:
        raise AdnerfError(audio.description)
    clip = read_video(args.video, "driven")
    try:
        entry = lipsync_clip.clip_entry(clip.frames, audio.samples, progress=not args.no_progress)
    except MetricUnavailable as e:
        entry = {"unavailable": str(e)}
    results = {"name": Path(args.video).stem, "subject": None, "created": time.strftime("%Y-%m-%d %H:%M:%S"),
               "gen_source": str(args.video), "gt_source": "none (--video: lip sync with the video's own sound)",
               "n_gen": len(clip.frames), "n_gt": 0, "n_pairs": 0, "frame_ids": list(range(len(clip.frames))),
               "img_ids": None, "testskip": 1, "device": "cpu", "landmark_backend": lipsync_clip.LANDMARK_BACKEND,
               "seconds": round(time.time() - start, 2), "seconds_per_metric": {"lipsync": round(time.time() - start, 2)},
               "notes": clip.notes + [audio.description], "metrics": labelled({"lipsync": entry}, ["lipsync"])}
    del results["metrics"]["lipsync_gt"]
    return write_outputs(results, Path(args.out_dir or ROOT / "evaluation" / "results" / Path(args.video).stem),
                         [], [])


def compare(paths: list[str], current: dict | None, out_dir: Path) -> None:
    runs = [report.load_results(p) for p in paths]
    for run, path in zip(runs, paths):   # runs of one subject differ by where they were written: name them so
        run["name"] = Path(path).name if Path(path).is_dir() else Path(path).parent.name
    runs += [current] if current else []
    seen = {}
    for r in runs:   # unique column names
        seen[r["name"]] = seen.get(r["name"], 0) + 1
        if seen[r["name"]] > 1:
            r["name"] = f"{r['name']}#{seen[r['name']]}"
    out_dir.mkdir(parents=True, exist_ok=True)
    text = report.comparison_text(runs)
    report.save_text(out_dir / "comparison_report.txt", text)
    plots.comparison_plot(runs, out_dir / "comparison_plot.png")
    print(text)
    print(f"wrote {out_dir / 'comparison_report.txt'}, comparison_plot.png")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    has_inputs = bool(args.subject or args.gen_dir or args.gen_video)
    try:
        device = resolve_device(args.device)
        if args.video:
            current = evaluate_video(args)
        else:
            current = evaluate(args, device) if has_inputs or not args.compare else None
        if args.compare:
            default = ROOT / "evaluation" / "results" / (args.subject or "comparison")
            compare(args.compare, current, Path(args.out_dir) if args.out_dir else default)
    except (AdnerfError, ValueError, FileNotFoundError) as e:
        return report_error(e, 2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
