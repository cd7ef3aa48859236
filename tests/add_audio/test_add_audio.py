"""add_audio: one video and one audio stream, cut to the shorter input; clear errors for bad inputs."""
import subprocess
import sys

import numpy as np
import pytest

from add_audio.add_audio import MuxError, main, mux_audio, probe
from NeRFs.core.utils import REPO_ROOT, write_video
from tests.media_samples import write_wav


@pytest.fixture
def clip(tmp_path):
    frames = [np.full((32, 48, 3), 10 * i, np.uint8) for i in range(25)]  # 1 s at 25 fps
    return write_video(tmp_path / "clip.mp4", frames, 25)


def test_mux_gives_one_video_and_one_audio_stream_as_long_as_the_shorter(clip, tmp_path):
    out = mux_audio(clip, write_wav(tmp_path / "long.wav", 3.0), tmp_path / "out.mp4")
    info = probe(out)
    assert info.has_video and info.has_audio and abs(info.duration - 1.0) < 0.1
    out = mux_audio(clip, write_wav(tmp_path / "short.wav", 0.5), tmp_path / "out2.mp4", vcodec="copy")
    assert abs(probe(out).duration - 0.5) < 0.15


def test_bad_inputs(clip, tmp_path):
    wav = write_wav(tmp_path / "a.wav", 1.0)
    with pytest.raises(MuxError, match="file not found"):
        mux_audio(tmp_path / "missing.mp4", wav, tmp_path / "o.mp4")
    with pytest.raises(MuxError, match="has no video stream"):
        mux_audio(wav, wav, tmp_path / "o.mp4")
    with pytest.raises(MuxError, match="has no audio stream"):
        mux_audio(clip, clip, tmp_path / "o.mp4")
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(MuxError, match="not a readable media file|has no video stream"):
        mux_audio(tmp_path / "empty.mp4", wav, tmp_path / "o.mp4")
    assert not (tmp_path / "o.mp4").exists()


def test_command_line(clip, tmp_path, capsys):
    wav = write_wav(tmp_path / "a.wav", 1.0)
    r = subprocess.run([sys.executable, str(REPO_ROOT / "add_audio/add_audio.py"), "--video", str(clip), "--audio",
                        str(wav), "--output", str(tmp_path / "o.mp4")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert main(["--video", str(wav), "--audio", str(wav), "--output", str(tmp_path / "x.mp4")]) == 2
    assert "has no video stream" in capsys.readouterr().err
