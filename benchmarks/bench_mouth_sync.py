"""Issue 20's lip-sync targets on a trained person: the reconstruction against the ground truth, and a video
driven by a foreign voice against the shuffled-sound null.

    .venv/bin/python benchmarks/bench_mouth_sync.py --dataset dataset/kitchen
        [--recon dataset/kitchen/logs/kitchen_com/val_rst] [--driven .../test_aud_rst/video_with_audio.mp4]

The reconstruction (validation frames with their own audio and poses, e.g. scripts/nerf_stages.sh's
reconstruct_validation) is scored by `evaluate.py --metrics lipsync` (generated and ground-truth rows: dlib
landmarks, the same frames, the same sound); the driven video by `evaluate.py --video` (its own sound track).
The real person's mouth-opening std is that of the whole training video (step 7's mouth.npy). Prints one
line per target with its measured value and whether it is met; exits 0 either way (a benchmark, not a test).
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from evaluation import evaluate


def lipsync_rows(argv: list[str]) -> dict:
    """evaluate.py's lipsync entries (``lipsync``, and ``lipsync_gt`` with ground truth) of one run."""
    with tempfile.TemporaryDirectory() as tmp:
        if evaluate.main([*argv, "--metrics", "lipsync", "--out_dir", tmp, "--no_progress"]):
            raise SystemExit(f"evaluate.py {' '.join(argv)} failed")
        return json.loads((Path(tmp) / "evaluation_results.json").read_text())["metrics"]


def check(name: str, value: float, target: str, met: bool) -> bool:
    print(f"{name:<58} {value:>8.3f}   target {target:<12} {'met' if met else 'NOT met'}")
    return met


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", type=Path, required=True, help="dataset/<id>/ (trained: logs/<id>_com/...)")
    p.add_argument("--recon", type=Path, default=None, help="the reconstructed validation sequence folder")
    p.add_argument("--driven", type=Path, default=None, help="an mp4 with sound driven by a foreign voice")
    a = p.parse_args(argv)
    d, subject = a.dataset, a.dataset.name
    com = d / "logs" / f"{subject}_com"
    recon = a.recon or com / "val_rst"
    driven = a.driven or com / "test_aud_rst" / "video_with_audio.mp4"
    real_std = float(np.nanstd(np.load(d / "mouth.npy")))
    results = []
    if recon.is_dir():
        rows = lipsync_rows(["--dataset_root", str(d.parent), "--subject", subject, "--gen_dir", str(recon)])
        gen, gt = rows["lipsync"], rows["lipsync_gt"]
        if "unavailable" in gen or "unavailable" in gt:
            print(f"reconstruction: lip sync unavailable ({gen.get('unavailable') or gt.get('unavailable')})")
        else:
            print(f"reconstruction ({recon}): generated conf {gen['value']:.3f} offset {gen['offset']} p "
                  f"{gen['p']:.3f} std {gen['mouth_std']:.4f} | ground truth conf {gt['value']:.3f} offset "
                  f"{gt['offset']} p {gt['p']:.3f} std {gt['mouth_std']:.4f}")
            results += [check("reconstruction: mouth std / ground truth's", gen["mouth_std"] / gt["mouth_std"],
                              ">= 0.80", gen["mouth_std"] >= 0.8 * gt["mouth_std"]),
                        check("reconstruction: sync confidence / ground truth's", gen["value"] / gt["value"],
                              ">= 0.70", gen["value"] >= 0.7 * gt["value"]),
                        check("reconstruction: offset - ground truth's (frames)", gen["offset"] - gt["offset"],
                              "within 2", abs(gen["offset"] - gt["offset"]) <= 2)]
    else:
        print(f"no reconstruction at {recon}")
    if driven.is_file():
        gen = lipsync_rows(["--video", str(driven)])["lipsync"]
        if "unavailable" in gen:
            print(f"driven: lip sync unavailable ({gen['unavailable']})")
        else:
            print(f"driven ({driven}): conf {gen['value']:.3f} offset {gen['offset']} z {gen['z']:.2f} p "
                  f"{gen['p']:.3f} std {gen['mouth_std']:.4f} (real person, whole video: {real_std:.4f})")
            results += [check("driven by the foreign voice: p vs shuffled sound", gen["p"], "< 0.05", gen["p"] < 0.05),
                        check("driven: mouth std / the real person's", gen["mouth_std"] / real_std, ">= 0.70",
                              gen["mouth_std"] >= 0.7 * real_std)]
    else:
        print(f"no driven video at {driven}")
    print(f"{sum(results)} of {len(results)} targets met")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
