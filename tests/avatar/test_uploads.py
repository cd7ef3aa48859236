"""What the web page accepts as speech (avatar/jobs.py): any audio ffmpeg reads, converted to a 16 kHz mono
.wav; empty, unreadable, silent or too long uploads are refused with the line the page shows."""
import io
import subprocess
import wave

import numpy as np
import pytest

from adnerf.media import ffmpeg_exe
from avatar.jobs import UploadError, checked_speech, frames_for


def wav_bytes(seconds: float, rate: int = 44100, channels: int = 2, loud: bool = True) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    tone = (0.3 * np.sin(2 * np.pi * 220 * t) * 32767 * loud).astype(np.int16)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(tone[:, None], channels, 1).tobytes())
    return buf.getvalue()


def test_a_stereo_44k_wav_and_an_mp3_become_16k_mono_wavs(tmp_path):
    wav, seconds = checked_speech(wav_bytes(1.5), "talk.wav", tmp_path / "a")
    with wave.open(str(wav)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        assert w.getnframes() == 24000
    assert seconds == pytest.approx(1.5) and frames_for(seconds) == 37  # as driving counts feature windows
    assert frames_for(0.64) == 16  # the synthetic driving clip: 16 frames driven (test_export_drive)
    src = tmp_path / "talk.wav"
    src.write_bytes(wav_bytes(1.0))
    mp3 = tmp_path / "talk.mp3"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-i", str(src), str(mp3)], check=True)
    _, seconds = checked_speech(mp3.read_bytes(), "talk.mp3", tmp_path / "b")
    assert seconds == pytest.approx(1.0, abs=0.06)


@pytest.mark.parametrize("data, name, message", [
    (b"", "empty.wav", "empty.wav is empty"),
    (b"GIF89a not a sound at all", "picture.wav", "picture.wav is not an audio file"),
    (wav_bytes(1.0, loud=False), "silence.wav", "silence.wav holds no sound"),
    (wav_bytes(3.0, rate=8000, channels=1), "long.wav", "long.wav is 3.0 s long; the page drives at most 2 s"),
])
def test_refused_uploads(tmp_path, data, name, message):
    with pytest.raises(UploadError) as err:
        checked_speech(data, name, tmp_path, max_seconds=2)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "speech.wav").exists()
