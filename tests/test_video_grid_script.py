"""scripts/video_grid.sh: a video and a speech clip -> a driven mp4 with sound, with the grid backend."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v2 as imageio
import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "video_grid.sh"
ID = "ci_video_grid"


def run(*args, timeout=900):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("args, message", [
    ((), "usage: bash scripts/video_grid.sh"),
    (("bad id", "v.mp4", "s.wav"), "id 'bad id'"),
    ((ID, "/nonexistent/v.mp4", "s.wav"), "video /nonexistent/v.mp4 not found"),
    ((ID, SCRIPT, "/nonexistent/s.wav"), "speech clip /nonexistent/s.wav not found"),
    ((ID, SCRIPT, SCRIPT, "0"), "steps '0'"),
])
def test_bad_arguments_are_one_line_errors_before_any_work(args, message):
    r = run(*args, timeout=30)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and not (ROOT / "dataset" / ID).exists()


def _clean():
    shutil.rmtree(ROOT / "dataset" / ID, ignore_errors=True)
    shutil.rmtree(ROOT / "evaluation" / "results" / ID, ignore_errors=True)
    (ROOT / "dataset" / "vids" / f"{ID}.mp4").unlink(missing_ok=True)


@pytest.mark.slow
def test_a_sample_video_is_trained_and_driven_end_to_end(tmp_path):
    """A 3 s sample video and a 1 s speech clip through every stage, at a few steps: the driven mp4 has
    sound and one frame per 25 fps feature frame, the evaluation covers the validation frames."""
    _clean()
    subprocess.run([sys.executable, str(ROOT / "data_util" / "make_sample.py"), "--id", "src",
                    "--seconds", "3", "--size", "128", "--drive_seconds", "1", "--out_dir", str(tmp_path),
                    "--no_progress"], check=True, capture_output=True, timeout=300)
    try:
        r = run(ID, tmp_path / "src.mp4", tmp_path / "src_drive.wav", 20, 8)
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        com = ROOT / "dataset" / ID / "logs" / f"{ID}_com"
        assert list(com.glob("*_gridbody.tar")) and not list(com.glob("*_body.tar"))
        final = com / "test_aud_rst" / "video_with_audio.mp4"
        from add_audio.add_audio import probe
        info = probe(final)
        assert info.has_video and info.has_audio and abs(info.duration - 1.0) < 0.2
        assert imageio.get_reader(final).count_frames() == 25
        results = json.loads((ROOT / "evaluation" / "results" / ID / "evaluation_results.json").read_text())
        val = json.loads((com / "val_rst" / "frames.json").read_text())["frames"]
        assert results["n_pairs"] == len(val) > 0 and 8 < results["metrics"]["psnr"]["mean"] < 50
        assert (com / "val_rst" / "side_by_side.mp4").is_file()
        # the same id with another video is refused before anything is touched
        other = run(ID, tmp_path / "src_drive.wav", tmp_path / "src_drive.wav", timeout=60)
        assert other.returncode == 2 and "exists and is another video" in other.stderr
    finally:
        _clean()
