"""adnerf.mouth: the mouth signal's loudness features and its predictor, on signals whose answer is known."""
import numpy as np
import pytest
import torch

from adnerf.errors import AdnerfError
from adnerf.mouth import MouthPredictor, band_loudness, lagged, speech_loudness

RATE, PER_FRAME = 16000, 640


def syllables(n_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A 1 kHz tone switched on and off in random runs of frames -> (int16 samples, on/off per frame)."""
    rng = np.random.default_rng(seed)
    on = np.repeat(rng.random(n_frames // 4 + 1) > 0.5, 4)[:n_frames].astype(float)
    t = np.arange(n_frames * PER_FRAME) / RATE
    envelope = np.repeat(0.02 + on, PER_FRAME)
    return (8000 * envelope * np.sin(2 * np.pi * 1000 * t)).astype(np.int16), on


def test_band_loudness_is_per_clip_normalised():
    samples, on = syllables(200)
    bands = band_loudness(samples, 200)
    assert bands.shape == (200, 4)
    quiet = band_loudness((samples * 0.1).astype(np.int16), 200)   # the same speech 20 dB quieter
    np.testing.assert_allclose(quiet[:, 1], bands[:, 1], atol=0.05)  # the 1 kHz band: one scale
    assert bands[on == 1, 1].mean() > bands[on == 0, 1].mean() + 0.5


def test_band_loudness_fills_frames_past_the_end_with_silence():
    samples, _ = syllables(50)
    bands = band_loudness(samples, 60)
    assert np.isfinite(bands).all()
    np.testing.assert_allclose(bands[50:], np.broadcast_to(bands[:50].min(0), (10, 4)))
    with pytest.raises(AdnerfError, match="shorter than one video frame"):
        band_loudness(samples[:100], 5)


def test_lagged_columns_hold_the_neighbours():
    bands = np.arange(10, dtype=float).reshape(5, 2)   # band b of frame t = 2 t + b
    x = lagged(bands, 1)
    assert x.shape == (5, 6)
    np.testing.assert_array_equal(x[2], [2, 3, 4, 5, 6, 7])     # frames 1, 2, 3
    np.testing.assert_array_equal(x[0, :2], [0, 1])              # the edge repeats


def test_predictor_learns_a_delayed_mouth_and_matches_its_spread():
    samples, on = syllables(400)
    bands = band_loudness(samples, 400)
    opening = 0.02 + 0.1 * np.roll(on, 2)                        # the mouth lags the sound by 2 frames
    opening[:5] = np.nan                                         # unmeasured frames are left out
    model = MouthPredictor.fit(bands, opening)
    test_samples, test_on = syllables(300, seed=1)               # another "voice" (other timing)
    predicted = model.predict(band_loudness(test_samples, 300))
    expected = 0.02 + 0.1 * np.roll(test_on, 2)
    assert np.corrcoef(predicted[5:], expected[5:])[0, 1] > 0.9
    assert (predicted >= 0).all()


def test_predictor_gain_restores_the_spread_of_a_noisy_mouth():
    samples, on = syllables(400)
    bands = band_loudness(samples, 400)
    opening = 0.05 + 0.1 * on + 0.1 * np.random.default_rng(3).standard_normal(400)   # r ~0.45 with the sound
    predicted = MouthPredictor.fit(bands, opening).predict(bands)
    assert 0.8 < predicted.std() / opening.std() < 1.25   # a plain ridge fit would vary about half as much


def test_predictor_refuses_a_still_mouth_and_too_few_frames():
    samples, _ = syllables(200)
    with pytest.raises(AdnerfError, match="moving mouth"):
        MouthPredictor.fit(band_loudness(samples, 200), np.full(200, 0.05))
    with pytest.raises(AdnerfError, match="too few frames"):
        MouthPredictor.fit(band_loudness(samples, 200)[:20], np.linspace(0, 1, 20))


def test_predictor_state_survives_a_weights_only_checkpoint(tmp_path):
    samples, on = syllables(200)
    bands = band_loudness(samples, 200)
    model = MouthPredictor.fit(bands, 0.05 + 0.1 * on)
    torch.save({"mouth_predictor": model.state()}, tmp_path / "head.tar")
    back = MouthPredictor.from_state(torch.load(tmp_path / "head.tar", weights_only=True)["mouth_predictor"])
    np.testing.assert_allclose(back.predict(bands), model.predict(bands))


@pytest.mark.parametrize("broken", [{"weights": [1.0]}, {"gain": float("nan")}, {"mean": None}])
def test_predictor_state_refuses_broken_entries(broken):
    samples, on = syllables(200)
    state = {**MouthPredictor.fit(band_loudness(samples, 200), 0.05 + 0.1 * on).state(), **broken}
    with pytest.raises(AdnerfError, match="mouth predictor"):
        MouthPredictor.from_state(state)


def test_speech_loudness_is_nan_past_the_end():
    samples, _ = syllables(10)
    db = speech_loudness(samples, 12)
    assert np.isfinite(db[:10]).all() and np.isnan(db[10:]).all()
