"""The lip-sync score's maths on series (evaluation/metrics/lipsync.py): a synthetic talking mouth."""
import numpy as np
import pytest

from evaluation.metrics import lipsync
from tests.evaluation.talking_mouth import speech_audio, syllables

N = 250   # 10 s at 25 fps


def mouth_for(env: np.ndarray, shift: int = 0, seed: int = 1) -> np.ndarray:
    """Mouth opening [n] (inter-ocular units, closed 0.02, open up to 0.17) that follows env `shift` frames late."""
    rng = np.random.default_rng(seed)
    lagged = np.concatenate([np.zeros(shift), env[:len(env) - shift]]) if shift else env
    return 0.02 + 0.15 * lagged + 0.01 * rng.standard_normal(len(env))


@pytest.fixture(scope="module")
def loudness():
    env = syllables(N, seed=0)
    return env, lipsync.speech_loudness(speech_audio(env), N)


def test_loudness_follows_the_envelope_per_40_ms_frame():
    env = np.r_[np.zeros(10), np.ones(10), np.zeros(5)]
    db = lipsync.speech_loudness(speech_audio(env), 30)
    assert db.shape == (30,) and np.isnan(db[25:]).all()          # no audio for the last 5 frames
    assert db[12:18].min() > db[2:8].max() + 25                   # speech 30+ dB above the pause
    # out of band (50 Hz hum) is not speech
    hum = (8000 * np.sin(2 * np.pi * 50 * np.arange(16000) / 16000)).astype(np.int16)
    tone = (8000 * np.sin(2 * np.pi * 1000 * np.arange(16000) / 16000)).astype(np.int16)
    assert np.nanmean(lipsync.speech_loudness(tone, 25)) > np.nanmean(lipsync.speech_loudness(hum, 25)) + 30


def test_in_sync_shifted_and_shuffled(loudness):
    env, db = loudness
    sync = lipsync.sync_statistics(mouth_for(env), db)
    assert sync["offset"] == 0 and sync["confidence"] > 0.6
    assert sync["z"] > 4 and sync["p"] == pytest.approx(1 / 201)
    assert len(sync["correlations"]) == 31 and sync["n"] == N and sync["n_null"] == 200
    late = lipsync.sync_statistics(mouth_for(env, shift=5), db)
    assert late["offset"] == 5 and late["confidence"] > 0.6 and late["p"] < 0.01
    # other speech (its own envelope, block-shuffled in time): no tie
    other_db = db[lipsync.block_shuffles(N, 1, seed=7)[0]]
    shuffled = lipsync.sync_statistics(mouth_for(env), other_db)
    assert shuffled["confidence"] < sync["confidence"] - 0.3 and shuffled["p"] > 0.05 and abs(shuffled["z"]) < 2


def test_the_null_is_seeded_and_keeps_blocks():
    orders = lipsync.block_shuffles(60, 5, block=25, seed=3)
    assert orders.shape == (5, 60) and all(sorted(o) == list(range(60)) for o in orders)
    assert (orders == lipsync.block_shuffles(60, 5, block=25, seed=3)).all()
    for o in orders:   # every block stays in one piece
        starts = [i for i in range(60) if o[i] % 25 == 0]
        assert all(list(o[s:s + len(range(o[s], min(o[s] + 25, 60)))]) == list(range(o[s], min(o[s] + 25, 60)))
                   for s in starts)


def test_lagged_correlation_by_hand():
    x = np.array([0, 1, 0, 2, 0, 3, 0, 1, 0, 2, 0, 1.0] * 2)
    y = np.roll(x, -2)   # y[t - 2] = x[t]: mouth x follows sound y by 2 frames
    r = lipsync.lagged_correlations(x, y, max_lag=3)
    assert r.shape == (7,) and r[3 + 2] == pytest.approx(1.0) and int(np.nanargmax(r)) - 3 == 2
    assert r[3] == pytest.approx(np.corrcoef(x, y)[0, 1])
    # missing frames (no face) are left out of the pairs
    x_gap = x.copy()
    x_gap[4] = np.nan
    assert lipsync.lagged_correlations(x_gap, y, 3)[5] == pytest.approx(1.0)


def test_where_the_score_is_undefined(loudness):
    env, db = loudness
    with pytest.raises(lipsync.LipSyncUndefined, match="closed or still mouth"):
        lipsync.sync_statistics(np.full(N, 0.03), db)
    with pytest.raises(lipsync.LipSyncUndefined, match="muted"):
        lipsync.sync_statistics(mouth_for(env), lipsync.speech_loudness(np.zeros(N * 640, np.int16), N))
    with pytest.raises(lipsync.LipSyncUndefined, match="at least 75"):
        lipsync.sync_statistics(mouth_for(env)[:60], db[:60])


def test_mouth_opening_from_landmarks():
    lms = np.zeros((2, 68, 2))
    lms[:, 36], lms[:, 45] = (0, 0), (100, 0)            # inter-ocular 100 px
    for a, b in lipsync.INNER_LIP_PAIRS:
        lms[0, a], lms[0, b] = (50, 120), (50, 126)      # 6 px gap
    lms[1] = np.nan                                      # no face
    opening = lipsync.mouth_opening(lms)
    assert opening[0] == pytest.approx(0.06) and np.isnan(opening[1])
