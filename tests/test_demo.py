"""The README's demo command, end to end at a reduced size (tests/data/demo_tiny.conf)."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ID = "ci_demo_tiny"


def _clean():
    shutil.rmtree(ROOT / "dataset" / ID, ignore_errors=True)
    shutil.rmtree(ROOT / "evaluation" / "results" / ID, ignore_errors=True)
    for p in (ROOT / "dataset" / "vids").glob(f"{ID}*"):
        p.unlink()


@pytest.mark.slow
def test_demo_runs_end_to_end_and_is_idempotent():
    _clean()
    env = {**os.environ, "DEMO_CONF": str(ROOT / "tests" / "data" / "demo_tiny.conf")}
    try:
        run = subprocess.run(["bash", str(ROOT / "demo.sh")], env=env, capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        com = ROOT / "dataset" / ID / "logs" / f"{ID}_com"
        final = com / "test_aud_rst" / "result_with_audio.mp4"
        from add_audio.add_audio import probe
        info = probe(final)
        assert info.has_video and info.has_audio
        assert abs(info.duration - 1.0) < 0.2  # the 1 s driving clip
        assert (com / "val_rst" / "side_by_side.mp4").is_file()
        report = ROOT / "evaluation" / "results" / ID
        for name in ("evaluation_report.txt", "evaluation_results.json", "metrics_plot.png"):
            assert (report / name).is_file(), name
        results = json.loads((report / "evaluation_results.json").read_text())
        assert "psnr" in json.dumps(results).lower()
        # a second run reuses every stage: no training, no rendering
        again = subprocess.run(["bash", str(ROOT / "demo.sh")], env=env, capture_output=True, text=True, timeout=600)
        assert again.returncode == 0, again.stderr[-3000:]
        assert "nothing to do" in again.stdout + again.stderr
        assert "driving:" not in again.stderr
    finally:
        _clean()
