"""aud.npy against the original's own conv_audios_to_deepspeech output (../shared/oracle/deepspeech): the
same stand-in graph (DeepSpeech 0.1.0's tensor names and shapes), a 16 kHz stereo wav extracted as the
original's step 0 does and a 44.1 kHz stereo wav (resampled), compared on every frame."""
import numpy as np
import pytest

from data_util.audio_features import compute_features
from tests.oracle import need


@pytest.mark.parametrize("name", ["kitchen16k", "radio44k_stereo"])
def test_deepspeech_features_equal_the_originals_on_every_frame(name):
    want = np.load(need("deepspeech", "expected", f"{name}.npy"))
    got = compute_features(need("deepspeech", "input", f"{name}.wav"), "deepspeech",
                           need("deepspeech", "fake_deepspeech.pb"))
    assert got.shape == want.shape
    assert np.abs(got - want).max() < 1e-4


def test_the_first_channel_is_the_originals_choice_and_mix_differs():
    """The radio clip's channels differ: only the first channel reproduces the original's aud.npy."""
    want = np.load(need("deepspeech", "expected", "radio44k_stereo.npy"))
    mixed = compute_features(need("deepspeech", "input", "radio44k_stereo.wav"), "deepspeech",
                             need("deepspeech", "fake_deepspeech.pb"), audio_channel="mix")
    assert mixed.shape == want.shape and np.abs(mixed - want).max() > 1e-2
