"""The lip-sync score on frames and sound: dlib's landmarks of a synthetic talking mouth, the GT row,
and evaluate.py --video on a driven mp4 with its own sound track."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from evaluation import evaluate
from evaluation.lipsync_clip import mouth_openings
from tests.evaluation.talking_mouth import face_frames, speech_audio, syllables, write_video, write_wav

N = 125   # 5 s at 25 fps: 5 blocks of 1 s, 120 orders for the null


@pytest.fixture(scope="module")
def talking(tmp_path_factory):
    """(folder of N face frames 00000.png.., frames, audio in sync) for a mouth that opens with the sound."""
    env = syllables(N, seed=2)
    frames = face_frames(env)
    folder = tmp_path_factory.mktemp("talking") / "frames"
    folder.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(folder / f"{i:05d}.png")
    return folder, frames, speech_audio(env)


def test_mouth_opening_of_frames_follows_the_painted_mouth():
    frames = face_frames(np.array([0.0, 0.3, 0.6, 1.0]))
    noise = np.random.default_rng(0).integers(0, 255, frames[0].shape, dtype=np.uint8)
    opening = mouth_openings(frames + [noise])
    assert np.isnan(opening[4])                         # no face: NaN, not a guess
    assert 0 < opening[0] < opening[2] < opening[3] < 0.4 and opening[3] > opening[0] + 0.05


def test_the_gt_row_equals_the_generated_row_on_the_ground_truth(talking, tmp_path):
    folder, _, audio = talking
    wav = write_wav(tmp_path / "speech.wav", audio)
    out = tmp_path / "out"
    assert evaluate.main(["--gen_dir", str(folder), "--gt_dir", str(folder), "--audio", str(wav), "--metrics",
                          "lipsync", "--out_dir", str(out), "--no_progress", "--device", "cpu"]) == 0
    m = json.loads((out / "evaluation_results.json").read_text())["metrics"]
    gen, gt = m["lipsync"], m["lipsync_gt"]
    assert "unavailable" not in gen, gen
    for key in ("value", "offset", "z", "p", "per_frame", "correlations", "null_mean", "mouth_std", "n"):
        assert gen[key] == gt[key], key
    assert gen["value"] > 0.5 and abs(gen["offset"]) <= 1 and gen["p"] < 0.05 and gen["n"] == N
    text = (out / "evaluation_report.txt").read_text()
    row = next(line for line in text.splitlines() if line.startswith("Lip sync (mouth"))
    assert f"{gen['value']:.4f} (offset {gen['offset']:+d}, p {gen['p']:.3f})" in row and f"{N} frames" in row
    assert "Lip sync ground truth" in text


def test_a_driven_video_with_its_own_sound(talking, tmp_path, capsys):
    _, frames, audio = talking
    video = write_video(tmp_path / "driven.mp4", frames, audio)
    out = tmp_path / "out"
    assert evaluate.main(["--video", str(video), "--metrics", "lipsync", "--out_dir", str(out), "--no_progress"]) == 0
    res = json.loads((out / "evaluation_results.json").read_text())
    entry = res["metrics"]["lipsync"]
    assert list(res["metrics"]) == ["lipsync"] and res["gen_source"] == str(video)
    assert entry["value"] > 0.5 and abs(entry["offset"]) <= 1 and entry["p"] < 0.05
    assert len(entry["per_frame"]) == N
    text = (out / "evaluation_report.txt").read_text()
    assert "Lip sync (mouth" in text and f"p {entry['p']:.3f}" in text and str(video) in text
    assert "syllable band (13-frame moving mean taken away)" in text and f"z {entry['z']:.1f}" in text
    # other sound: the same frames with the envelope's 1 s blocks in another order
    blocks = [audio[i:i + 16000] for i in range(0, len(audio), 16000)]
    other = write_video(tmp_path / "other.mp4", frames, np.concatenate([blocks[k] for k in (2, 0, 4, 1, 3)]))
    assert evaluate.main(["--video", str(other), "--out_dir", str(tmp_path / "o"), "--no_progress"]) == 0
    mismatched = json.loads((tmp_path / "o" / "evaluation_results.json").read_text())["metrics"]["lipsync"]
    assert mismatched["value"] < entry["value"] - 0.3 and mismatched["p"] > 0.05
    # a video without sound, and other metrics without a ground truth, are one-line errors
    silent = write_video(tmp_path / "silent.mp4", frames, None)
    assert evaluate.main(["--video", str(silent), "--out_dir", str(tmp_path / "s"), "--no_progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no audio stream" in err
    assert evaluate.main(["--video", str(video), "--metrics", "psnr", "--out_dir", str(tmp_path / "s")]) == 2
    assert "lipsync" in capsys.readouterr().err
    assert evaluate.main(["--video", str(video), "--gt_dir", str(tmp_path), "--out_dir", str(tmp_path / "s")]) == 2
    assert "leave out --gt_dir" in capsys.readouterr().err
