"""adnerf.eyes: the eye aspect ratio of known geometry, natural blink schedules, blink counting."""
from __future__ import annotations

import numpy as np
import pytest

from adnerf import eyes
from adnerf.errors import AdnerfError


def face_with_eyes(width: float, lid_gaps: tuple[float, float], right_gaps=None, scale=1.0, angle=0.0):
    """[68, 2] landmarks whose eyes are hexagons of known corner distance and lid gaps (other points random).

    Each eye: p1 and p4 the corners ``width`` apart, p2/p6 and p3/p5 vertical pairs ``lid_gaps`` apart; the
    whole face is scaled by ``scale`` and rotated by ``angle`` (radians) about the origin.
    """
    lms = np.random.default_rng(0).uniform(0, 100, (68, 2))
    for first, centre_x, gaps in ((36, 30.0, lid_gaps), (42, 70.0, right_gaps or lid_gaps)):
        x0 = centre_x - width / 2
        g1, g2 = gaps
        lms[first:first + 6] = [(x0, 50), (x0 + width / 3, 50 - g1 / 2), (x0 + 2 * width / 3, 50 - g2 / 2),
                                (x0 + width, 50), (x0 + 2 * width / 3, 50 + g2 / 2), (x0 + width / 3, 50 + g1 / 2)]
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    return scale * lms @ rotation.T


def test_eye_aspect_ratio_of_known_geometry():
    # (|p2-p6| + |p3-p5|) / (2 |p1-p4|) = (6 + 4) / (2 * 20) = 0.25 for both eyes
    assert eyes.eye_openness(face_with_eyes(20.0, (6.0, 4.0))) == pytest.approx(0.25)
    # the mean of both eyes: left 0.25, right (2 + 2) / 40 = 0.1
    assert eyes.eye_openness(face_with_eyes(20.0, (6.0, 4.0), right_gaps=(2.0, 2.0))) == pytest.approx(0.175)
    # independent of size and in-plane rotation; a batch gives one value per frame
    batch = np.stack([face_with_eyes(20.0, (6.0, 4.0), scale=3.0, angle=0.4), face_with_eyes(20.0, (0.0, 0.0))])
    np.testing.assert_allclose(eyes.eye_openness(batch), [0.25, 0.0], atol=1e-12)
    assert eyes.eye_openness(batch).shape == (2,)


def test_eye_aspect_ratio_refuses_bad_landmarks():
    with pytest.raises(AdnerfError, match=r"\[N, 68, 2\]"):
        eyes.eye_openness(np.zeros((3, 5, 2)))
    broken = face_with_eyes(20.0, (6.0, 4.0))
    broken[40, 0] = np.nan
    with pytest.raises(AdnerfError, match="NaN"):
        eyes.eye_openness(broken)
    with pytest.raises(AdnerfError, match="corners coincide"):
        eyes.eye_openness(face_with_eyes(0.0, (6.0, 4.0)))


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7, 42])
def test_natural_blinks_over_a_minute_keep_the_human_rate_and_duration(seed):
    fps = 25
    schedule = eyes.blink_schedule(60 * fps, fps=fps, seed=seed)
    assert 15 <= len(schedule) <= 20
    assert all(0.1 <= duration <= 0.2 for _, duration in schedule)
    # no overlap, and at least the minimum gap between one blink's end and the next one's start
    for (c1, d1), (c2, d2) in zip(schedule, schedule[1:]):
        assert (c2 - c1) / fps - (d1 + d2) / 2 >= eyes.MIN_GAP_S - 1e-9
    signal = eyes.blink_signal(60 * fps, fps=fps, seed=seed, open_value=0.3, closed_value=0.05)
    assert signal.shape == (60 * fps,)
    assert signal.max() == pytest.approx(0.3) and signal.min() == pytest.approx(0.05)
    # each blink is seen once by the measure, and lasts at most its duration (plus one frame)
    runs = eyes.blink_runs(signal)
    assert len(runs) == len(schedule)
    closed_frames = signal < 0.3
    assert closed_frames.sum() <= sum(d * fps + 1 for _, d in schedule)
    for (start, length), (centre, _) in zip(runs, schedule):
        assert start <= centre < start + length and signal[centre] == pytest.approx(0.05)


def test_blinks_close_and_open_smoothly():
    signal = eyes.blink_signal(1000, fps=100, seed=5, duration_s=(0.2, 0.2))   # 0.2 s = 20 samples per blink
    centre, _ = eyes.blink_schedule(1000, fps=100, seed=5, duration_s=(0.2, 0.2))[0]
    closing = signal[centre - 10:centre + 1]
    assert (np.diff(closing) <= 1e-12).all() and (np.diff(signal[centre:centre + 11]) >= -1e-12).all()
    assert np.abs(np.diff(signal)).max() < 0.25 * (eyes.OPEN_VALUE - eyes.CLOSED_VALUE)


def test_blink_signal_is_deterministic_and_seeded():
    a = eyes.blink_signal(500, seed=3)
    np.testing.assert_array_equal(a, eyes.blink_signal(500, seed=3))
    assert not np.array_equal(a, eyes.blink_signal(500, seed=4))


def test_short_clips_average_the_rate():
    counts = [len(eyes.blink_schedule(200, fps=25, seed=s)) for s in range(200)]   # 8 s: 2-2.7 blinks expected
    assert set(counts) <= {2, 3} and 2.0 <= np.mean(counts) <= 2.7
    assert eyes.blink_schedule(0) == [] and eyes.blink_signal(0).shape == (0,)


def test_count_blinks_on_a_made_signal():
    signal = np.full(100, 0.3)
    signal[10:13] = 0.05        # a blink of three frames
    signal[40] = 0.1            # one frame, below half the median (0.15)
    signal[60:62] = 0.2         # a half-closed eye: above half the median, not a blink
    signal[98:] = 0.0           # a blink running to the end
    assert eyes.blink_runs(signal) == [(10, 3), (40, 1), (98, 2)]
    assert eyes.count_blinks(signal) == 3
    signal[14:16] = 0.05        # a dip 1 frame after the first: jitter, the same blink
    assert eyes.blink_runs(signal) == [(10, 6), (40, 1), (98, 2)]
    assert eyes.blink_runs(signal, merge_gap=0) == [(10, 3), (14, 2), (40, 1), (98, 2)]
    assert eyes.count_blinks(eyes.open_signal(50, 0.28)) == 0
    np.testing.assert_array_equal(eyes.open_signal(4, 0.28), [0.28] * 4)
    with pytest.raises(AdnerfError, match="NaN"):
        eyes.count_blinks(np.array([0.3, np.nan]))


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(AdnerfError, match="rate_per_min"):
        eyes.blink_signal(10, rate_per_min=(20, 15))
    with pytest.raises(AdnerfError, match="whole number"):
        eyes.blink_signal(-1)
    with pytest.raises(AdnerfError, match="fps"):
        eyes.blink_signal(10, fps=0)


def test_levels_of_a_measured_signal_and_a_reference_on_this_scale():
    measured = np.full(200, 0.3)
    measured[[20, 21, 90]] = 0.08                 # a few blinks in the training video
    open_value, closed_value = eyes.eye_levels(measured)
    assert open_value == pytest.approx(0.3) and closed_value == pytest.approx(0.08)
    open_value, closed_value = eyes.eye_levels(np.full(50, 0.25))   # no blink seen: a closure is still made
    assert closed_value == pytest.approx(0.1)
    made = eyes.blink_signal(60 * 25, seed=1, open_value=open_value, closed_value=closed_value)
    assert eyes.count_blinks(made) == len(eyes.blink_schedule(60 * 25, seed=1))
    reference = np.full(100, 0.36)
    reference[40:43] = 0.06
    matched = eyes.match_levels(reference, 0.24)
    assert np.median(matched) == pytest.approx(0.24) and matched[41] == pytest.approx(0.04)
    assert eyes.count_blinks(matched) == eyes.count_blinks(reference) == 1
    with pytest.raises(AdnerfError, match="never open"):
        eyes.match_levels(np.zeros(5), 0.3)

