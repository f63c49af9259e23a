"""Timing and resampling features: closed forms, numpy/scipy references, simulated TTL and dropped frames."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal as sps

from neurocine.errors import InputError
from neurocine.features.timing import (
    align_frames_to_ttl,
    decimate,
    detect_dropped_frames,
    events_from_analog,
    interpolate,
    lagged,
    one_hot,
    running_mean,
    to_common_clock,
    ttl_edges,
    upsample,
    whisking_events,
)


def _ttl_trace(rng, n=20_000, period=100, width=40, lo=0.2, hi=4.8, noise=0.1, first=37, ramp=0):
    """Square pulses (known rising/falling sample indices) plus Gaussian noise; optional linear ramps."""
    rising = np.arange(first, n - period, period)
    falling = rising + width
    x = np.full(n, lo)
    for r, f in zip(rising, falling):
        x[r:f] = hi
        if ramp:  # a slow edge crossing the midpoint at r (and at f going down)
            x[r - ramp : r + ramp] = np.linspace(lo, hi, 2 * ramp)
            x[f - ramp : f + ramp] = np.linspace(hi, lo, 2 * ramp)
    return x + noise * rng.standard_normal(n), rising, falling


# --------------------------------------------------------------------------- #
# TTL edges and analog events
# --------------------------------------------------------------------------- #
def test_ttl_edges_recovers_known_edges_under_noise():
    rng = np.random.default_rng(0)
    x, rising, falling = _ttl_trace(rng)
    assert np.array_equal(ttl_edges(x), rising)
    assert np.array_equal(ttl_edges(x, edge="falling"), falling)
    assert np.array_equal(ttl_edges(x, edge="both"), np.sort(np.concatenate([rising, falling])))
    t = 10.0 + np.arange(x.size) / 1000.0  # 1 kHz DAQ
    np.testing.assert_array_equal(ttl_edges(x, times=t), t[rising])
    assert np.array_equal(ttl_edges(x, threshold=2.5), rising)


def test_ttl_edges_hysteresis_removes_chatter_on_slow_edges():
    rng = np.random.default_rng(1)
    x, rising, _ = _ttl_trace(rng, n=10_000, period=200, width=80, noise=0.3, ramp=10)
    plain = ttl_edges(x, threshold=2.5)
    assert plain.size > rising.size  # chatter: noise crosses the midpoint more than once per ramp
    auto = ttl_edges(x)  # estimated threshold, Schmitt band of half the swing
    assert auto.size == rising.size
    assert np.all(np.abs(auto - rising) <= 3)
    # min_separation (samples) longer than a pulse (80) and shorter than the period (200) also removes the
    # chatter (on both edges), keeping the first crossing of each rising edge
    sep = ttl_edges(x, threshold=2.5, min_separation=150)
    assert sep.size == rising.size and np.all(np.abs(sep - rising) <= 6)


def test_ttl_edges_rare_pulses_and_min_separation_in_seconds():
    rng = np.random.default_rng(2)
    x, rising, _ = _ttl_trace(rng, n=30_000, period=10_000, width=5, noise=0.05)  # 0.05 % duty cycle
    assert np.array_equal(ttl_edges(x), rising)
    t = np.arange(x.size) / 1000.0
    both = ttl_edges(x, times=t, edge="both", min_separation=1.0)  # rising and falling thinned separately
    np.testing.assert_allclose(both, np.sort(np.concatenate([t[rising], t[rising + 5]])))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"signal": np.ones(100)}, "no two distinct levels"),
        ({"signal": np.r_[0.0, np.nan, 5.0]}, "signal: has 1 NaN"),
        ({"signal": np.zeros((10, 2))}, "signal: got a 2-D array"),
        ({"signal": [0, 5, 0, 5], "times": [0.0, 1.0, 2.0]}, "times: has 3 timestamps but signal has 4 samples"),
        ({"signal": [0, 5, 0, 5], "times": [0.0, 1.0, 1.0, 2.0]}, "times: not strictly increasing at index 2"),
        ({"signal": [0, 5, 0, 5], "edge": "up"}, "edge: got 'up'"),
        ({"signal": [0, 5, 0, 5], "min_separation": -1}, "min_separation: got -1"),
        ({"signal": ["a", "b"]}, "non-numeric dtype"),
    ],
)
def test_ttl_edges_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        ttl_edges(**kwargs)


def test_ttl_edges_explicit_threshold_on_flat_trace_gives_no_edges():
    assert ttl_edges(np.ones(50), threshold=2.0).size == 0


def test_events_from_analog_hand_case_and_times():
    x = np.array([0, 3, 3, 0, 3, 0, 0, 0, 0, 4, 0], dtype=float)
    assert events_from_analog(x, 1.0).tolist() == [1, 4, 9]
    assert events_from_analog(x, 1.0, min_separation=4).tolist() == [1, 9]  # 4 is 3 after 1
    assert events_from_analog(x, 3.5).tolist() == [9]
    t = 0.5 + 0.1 * np.arange(x.size)
    np.testing.assert_allclose(events_from_analog(x, 1.0, min_separation=0.35, times=t), t[[1, 9]])
    assert events_from_analog([5.0, 5.0, 0.0], 1.0).size == 0  # starting above: no onset at 0
    with pytest.raises(InputError, match="threshold: got nan"):
        events_from_analog(x, float("nan"))
    with pytest.raises(InputError, match="times: has 2 timestamps but x has 11"):
        events_from_analog(x, 1.0, times=[0.0, 1.0])


def test_whisking_events_matches_the_two_sd_definition():
    rng = np.random.default_rng(3)
    me = rng.gamma(2.0, 1.0, 2000)
    ev = whisking_events(me)
    thr = me.mean() + 2.0 * me.std()
    assert ev.threshold == pytest.approx(thr)
    np.testing.assert_array_equal(ev.whisking, me > thr)
    # bouts rebuild the binary trace
    rebuilt = np.zeros(me.size, dtype=bool)
    for a, b in zip(ev.onsets, ev.offsets):
        assert rebuilt[a:b].sum() == 0 and b > a
        rebuilt[a:b] = True
    np.testing.assert_array_equal(rebuilt, ev.whisking)
    hand = whisking_events([9.0, 9.0, 0, 0, 0, 0, 0, 0, 0, 0, 9.0], n_sd=0.5)
    assert hand.onsets.tolist() == [0, 10] and hand.offsets.tolist() == [2, 11]
    with pytest.raises(InputError, match="motion_energy: is constant"):
        whisking_events(np.full(10, 3.0))
    with pytest.raises(InputError, match="motion_energy: got a 2-D"):
        whisking_events(np.zeros((10, 2)))


# --------------------------------------------------------------------------- #
# dropped frames and frame/TTL alignment
# --------------------------------------------------------------------------- #
def _camera(rng, n_full=1000, rate=30.0, drop=(100, 101, 500, 873), jitter=0.001, t0=3.0):
    full = t0 + np.arange(n_full) / rate + jitter * rng.standard_normal(n_full)
    kept = np.setdiff1d(np.arange(n_full), drop)
    return full, kept


def test_detect_dropped_frames_finds_simulated_drops():
    rng = np.random.default_rng(4)
    full, kept = _camera(rng)
    res = detect_dropped_frames(full[kept])
    assert res.rate == pytest.approx(30.0, rel=5e-3)
    np.testing.assert_array_equal(res.frame_index, kept)
    # gaps follow recorded frames 99 (2 dropped: 100, 101), 497 (500) and 869 (873)
    assert res.after.tolist() == [99, 497, 869]
    assert res.n_dropped.tolist() == [2, 1, 1]
    assert res.total == 4
    assert "4 dropped frames in 3 gaps" in res.report and "1000 frames expected" in res.report
    same = detect_dropped_frames(full[kept] * 1000.0, expected_rate=0.03)  # milliseconds, frames per ms
    np.testing.assert_array_equal(same.frame_index, kept)


def test_detect_dropped_frames_none_and_bad_input():
    res = detect_dropped_frames(np.arange(50) / 30.0)
    assert res.total == 0 and res.after.size == 0 and "no dropped frames" in res.report
    with pytest.raises(InputError, match=r"frame_times: not strictly increasing at index 3 \(0.1 after 0.2\)"):
        detect_dropped_frames([0.0, 0.1, 0.2, 0.1])
    with pytest.raises(InputError, match="frame_times: has 1 timestamp; expected at least 2"):
        detect_dropped_frames([0.0])
    with pytest.raises(InputError, match="expected_rate: got 0"):
        detect_dropped_frames([0.0, 0.1], expected_rate=0)
    with pytest.raises(InputError, match="frame_times: has 1 non-finite"):
        detect_dropped_frames([0.0, np.nan, 0.2])


def test_align_count_only_equal_fewer_more():
    ttl = 2.0 + np.arange(10) * 0.1
    same = align_frames_to_ttl(10, ttl)
    np.testing.assert_array_equal(same.times, ttl)
    assert same.unmatched_pulses.size == 0 and same.n_extra_frames == 0 and "one pulse per frame" in same.report
    fewer = align_frames_to_ttl(7, ttl)
    np.testing.assert_array_equal(fewer.times, ttl[:7])
    assert fewer.unmatched_pulses.tolist() == [7, 8, 9] and "assumed dropped at the end" in fewer.report
    more = align_frames_to_ttl(12, ttl)
    np.testing.assert_array_equal(more.times[:10], ttl)
    assert np.isnan(more.times[10:]).all() and more.pulse_index[10:].tolist() == [-1, -1]
    assert more.n_extra_frames == 2 and "2 frames with no pulse (frames 10, 11" in more.report
    with pytest.raises(InputError, match=r"frames: 25 frames but ttl_times has 10 pulses; the difference 15 exceeds"):
        align_frames_to_ttl(25, ttl)
    with pytest.raises(InputError, match="frames: got 0"):
        align_frames_to_ttl(0, ttl)


def test_align_with_frame_timestamps_locates_drops_and_offset():
    rng = np.random.default_rng(5)
    n_full = 600
    # DAQ pulses with irregular spacing (2 ms jitter), two extra pulses before the camera's first saved frame
    period = 1 / 30.0
    ttl = 1.0 + np.cumsum(period + 0.002 * rng.standard_normal(n_full + 2))
    drop = np.array([50, 51, 300])
    kept = np.setdiff1d(np.arange(n_full), drop)
    # camera clock: milliseconds, other origin, 50 ppm drift, sub-ms noise; sees the same exposure times
    cam = 1e3 * (1 + 5e-5) * (ttl[2:][kept] - 0.3) + 0.05 * rng.standard_normal(kept.size)
    al = align_frames_to_ttl(cam, ttl)
    assert al.shift == 2
    np.testing.assert_array_equal(al.pulse_index, kept + 2)
    np.testing.assert_array_equal(al.times, ttl[kept + 2])
    assert al.unmatched_pulses.tolist() == [0, 1, 52, 53, 302]
    assert "3 dropped frames after frames 49, 297" in al.report
    # regular pulses carry no timing information: first frame on first pulse, the rest at the end
    reg = np.arange(20) / 30.0
    al2 = align_frames_to_ttl(1000.0 * reg[:18], reg)
    assert al2.shift == 0 and al2.unmatched_pulses.tolist() == [18, 19]


# --------------------------------------------------------------------------- #
# common clock, interpolation, decimation
# --------------------------------------------------------------------------- #
def test_to_common_clock_linear_matches_np_interp_and_categorical_by_hand():
    rng = np.random.default_rng(6)
    t_a = np.sort(rng.uniform(0, 10, 200))
    a = rng.standard_normal((200, 2, 3))
    t_b = np.arange(0, 10, 0.1)
    b = np.sin(t_b)
    clock = np.arange(-0.5, 10.5, 1 / 30)
    out = to_common_clock({"a": (a, t_a), "b": (b, t_b)}, clock)
    assert out["a"].shape == (clock.size, 2, 3) and out["b"].shape == (clock.size,)
    inside = (clock >= t_a[0]) & (clock <= t_a[-1])
    for i in range(2):
        for j in range(3):
            np.testing.assert_allclose(
                out["a"][inside, i, j], np.interp(clock[inside], t_a, a[:, i, j]), rtol=1e-12, atol=1e-12
            )
    assert np.isnan(out["a"][~inside]).all()
    clipped = to_common_clock([(b, t_b)], clock, outside="clip")["0"]
    np.testing.assert_allclose(clipped, np.interp(clock, t_b, b), rtol=1e-12, atol=1e-12)

    labels = np.array([3, 1, 2])
    stamps = np.array([0.0, 1.0, 2.0])
    q = np.array([-1.0, 0.0, 0.4, 0.5, 0.6, 1.99, 2.0, 2.5])
    prev = to_common_clock({"s": (labels, stamps)}, q, method="previous", outside="clip")["s"]
    assert prev.dtype == labels.dtype and prev.tolist() == [3, 3, 3, 3, 3, 1, 2, 2]
    near = to_common_clock({"s": (labels, stamps)}, q, method="nearest")["s"]  # tie at 0.5 -> earlier
    np.testing.assert_array_equal(near, [np.nan, 3, 3, 3, 1, 2, 2, np.nan])
    words = to_common_clock({"s": (np.array(["x", "y", "z"]), stamps)}, q, method={"s": "previous"})["s"]
    assert words.tolist() == [None, "x", "x", "x", "x", "y", "z", None]


def test_to_common_clock_nan_values_stay_local():
    v = np.array([0.0, np.nan, 2.0, 3.0])
    out = to_common_clock({"v": (v, [0.0, 1.0, 2.0, 3.0])}, [0.0, 0.5, 2.0, 2.5])["v"]
    np.testing.assert_array_equal(out, [0.0, np.nan, 2.0, 2.5])


@pytest.mark.parametrize(
    "streams,clock,kwargs,match",
    [
        (
            {"whisk": ([1.0, 2.0, 3.0], [0.0, 2.0, 1.0])},
            [0.5],
            {},
            r"streams\['whisk'\] timestamps: not strictly increasing at index 2",
        ),
        (
            {"whisk": ([1.0, 2.0, 3.0], [0.0, 1.0])},
            [0.5],
            {},
            r"streams\['whisk'\] timestamps: has 2 timestamps but streams\['whisk'\] values has 3 samples",
        ),
        ({"w": (["a", "b"], [0.0, 1.0])}, [0.5], {}, r"streams\['w'\] values: has non-numeric dtype"),
        ({"w": ([1.0, 2.0], [0.0, 1.0])}, [0.5, 0.2], {}, "clock: not strictly increasing at index 1"),
        ({"w": ([1.0, 2.0], [0.0, 1.0])}, [0.5], {"method": "cubic"}, "method: got 'cubic'"),
        (
            {"w": ([1.0, 2.0], [0.0, 1.0])},
            [0.5],
            {"method": {"x": "nearest"}},
            r"method: names \['x'\] are not streams",
        ),
        ({"w": ([1.0, 2.0], [0.0, 1.0])}, [0.5], {"outside": "zero"}, "outside: got 'zero'"),
        ({"w": ([1.0], [0.0])}, [0.5], {}, r"streams\['w'\] timestamps: has 1 timestamp; expected at least 2"),
        ({"w": np.arange(3.0)}, [0.5], {}, r"streams\['w'\]: got ndarray; expected a \(values, timestamps\) pair"),
        ({}, [0.5], {}, "streams: empty"),
    ],
)
def test_to_common_clock_bad_input(streams, clock, kwargs, match):
    with pytest.raises(InputError, match=match):
        to_common_clock(streams, clock, **kwargs)


def test_interpolate_eq2_closed_form_and_np_interp():
    x0, x1, y0, y1 = 2.0, 5.0, -1.0, 8.0
    q = np.array([2.0, 3.0, 4.5, 5.0])
    np.testing.assert_allclose(interpolate([y0, y1], [x0, x1], q), (y0 * (x1 - q) + y1 * (q - x0)) / (x1 - x0))
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.uniform(0.01, 0.1, 300))
    y = rng.standard_normal((300, 4))
    new = np.sort(rng.uniform(t[0], t[-1], 1000))
    got = interpolate(y, t, new)
    for c in range(4):
        np.testing.assert_allclose(got[:, c], np.interp(new, t, y[:, c]), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(interpolate(y, t, t), y)  # exact at the samples
    edge = interpolate([1.0, 2.0], [0.0, 1.0], [-1.0, 2.0])
    assert np.isnan(edge).all()
    assert interpolate([1.0, 2.0], [0.0, 1.0], [-1.0, 2.0], outside="clip").tolist() == [1.0, 2.0]
    with pytest.raises(InputError, match=r"times: not strictly increasing at index 1 \(0.0 after 1.0\)"):
        interpolate([1.0, 2.0], [1.0, 0.0], [0.5])
    with pytest.raises(InputError, match="times: has 3 timestamps but x has 2 samples"):
        interpolate([1.0, 2.0], [0.0, 1.0, 2.0], [0.5])
    with pytest.raises(InputError, match="new_times: has 1 non-finite"):
        interpolate([1.0, 2.0], [0.0, 1.0], [np.nan])
    with pytest.raises(InputError, match="x: has complex dtype"):
        interpolate([1j, 2.0], [0.0, 1.0], [0.5])


def test_upsample_15_to_30_hz_closed_form():
    rng = np.random.default_rng(8)
    x15 = rng.standard_normal((40, 3))
    t15 = np.arange(40) / 15.0
    x30, t30 = upsample(x15, 2, times=t15)
    assert x30.shape == (79, 3)
    np.testing.assert_array_equal(x30[::2], x15)  # real frames kept exactly
    np.testing.assert_allclose(x30[1::2], 0.5 * (x15[:-1] + x15[1:]), rtol=1e-15)
    np.testing.assert_allclose(t30, np.arange(79) / 30.0, rtol=1e-12, atol=1e-15)
    x3 = upsample(x15[:, 0], 3)  # eq. 2: ((f - j) x[k] + j x[k + 1]) / f
    k, j = np.divmod(np.arange(3 * 39), 3)
    np.testing.assert_allclose(x3[:-1], ((3 - j) * x15[k, 0] + j * x15[k + 1, 0]) / 3, rtol=1e-13)
    np.testing.assert_allclose(x3, interpolate(x15[:, 0], np.arange(40.0), np.arange(118) / 3), rtol=1e-12)
    np.testing.assert_array_equal(upsample(x15, 1), x15)
    with pytest.raises(InputError, match="factor: got 1.5"):
        upsample(x15, 1.5)
    with pytest.raises(InputError, match="x: has 1 sample"):
        upsample([1.0], 2)


def test_decimate_every_nth_frame_with_offset_and_times():
    x = np.arange(30 * 4).reshape(30, 2, 2)
    t = np.arange(30) / 30.0
    y10, t10 = decimate(x, 3, times=t)
    np.testing.assert_array_equal(y10, x[::3])
    np.testing.assert_array_equal(t10, t[::3])
    assert y10.dtype == x.dtype
    y15 = decimate(x, 2, offset=1)
    np.testing.assert_array_equal(y15, x[1::2])
    np.testing.assert_array_equal(decimate([1.0, np.nan, 3.0], 2), [1.0, 3.0])  # NaN passes when only picking


def test_decimate_anti_alias_matches_scipy_in_the_interior():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((600, 3))
    for q in (2, 3):
        ours = decimate(x, q, anti_alias=True)
        ref = sps.decimate(x, q, ftype="fir", axis=0)  # zero-phase FIR, zero-padded ends
        assert ours.shape == ref.shape
        m = 10 * q // q + 1  # samples at each end touched by the padding
        np.testing.assert_allclose(ours[m:-m], ref[m:-m], rtol=1e-9, atol=1e-12)
    ramp = 5.0 + 0.3 * np.arange(200)  # odd-reflection padding passes straight lines unchanged
    np.testing.assert_allclose(decimate(ramp, 3, anti_alias=True), ramp[::3], rtol=1e-10)
    # a 12 Hz sine at 30 Hz aliases when picking every 3rd frame (10 Hz) but is removed by the low-pass
    tt = np.arange(3000) / 30.0
    sine = np.sin(2 * np.pi * 12 * tt)
    assert np.std(decimate(sine, 3)) > 0.5
    assert np.std(decimate(sine, 3, anti_alias=True)[20:-20]) < 0.01
    # offset shifts the low-passed samples
    np.testing.assert_allclose(
        decimate(x, 2, anti_alias=True, offset=1)[11:-11],
        sps.decimate(x[1:], 2, ftype="fir", axis=0)[11:-11],
        rtol=1e-9,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"factor": 2.0}, "factor: got 2.0"),
        ({"factor": 0}, "factor: got 0"),
        ({"factor": 3, "offset": 3}, r"offset: got 3; expected 0 <= offset < factor \(3\)"),
        ({"factor": 2, "anti_alias": True, "numtaps": 4}, "numtaps: got 4; expected an odd number"),
        ({"factor": 2, "times": np.arange(5.0)}, "times: has 5 timestamps but x has 10 samples"),
    ],
)
def test_decimate_bad_input(kwargs, match):
    with pytest.raises(InputError, match=match):
        decimate(np.arange(10.0), **kwargs)


def test_decimate_anti_alias_refuses_nan_and_short_input():
    with pytest.raises(InputError, match="x: has 1 NaN"):
        decimate(np.r_[np.zeros(50), np.nan], 2, anti_alias=True)
    with pytest.raises(InputError, match="anti_alias with numtaps=41 needs more than 20"):
        decimate(np.zeros(15), 2, anti_alias=True)


# --------------------------------------------------------------------------- #
# running means, lags, one-hot
# --------------------------------------------------------------------------- #
def _running_mean_reference(x, n):
    return np.stack([x[max(0, t - n + 1) : t + 1].mean(axis=0) for t in range(len(x))])


def test_running_mean_matches_the_definition_and_chunks():
    rng = np.random.default_rng(10)
    x = rng.standard_normal((500, 3))
    for n in (1, 3, 7, 600):
        np.testing.assert_allclose(running_mean(x, n), _running_mean_reference(x, n), rtol=1e-10, atol=1e-12)
    assert running_mean([2.0, 4.0, 6.0, 8.0], 3).tolist() == [2.0, 3.0, 4.0, 6.0]
    # chunk by chunk with history == all at once
    whole = running_mean(x, 5)
    parts = [running_mean(x[:123], 5)]
    for a, b in ((123, 300), (300, 500)):
        parts.append(running_mean(x[a:b], 5, history=x[:a]))
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-10, atol=1e-12)
    # precision: a large offset does not swamp the small fluctuations
    big = 1e9 + rng.standard_normal(20_000)
    np.testing.assert_allclose(
        running_mean(big, 3)[-100:] - 1e9, _running_mean_reference(big[-102:] - 1e9, 3)[-100:], atol=1e-5
    )
    assert running_mean(np.array([1, 2, 3], dtype=np.int16), 2).dtype == np.float64


def test_running_mean_bad_input():
    with pytest.raises(InputError, match="x: has 1 NaN, the first at"):
        running_mean([1.0, np.nan], 2)
    with pytest.raises(InputError, match="n: got 0"):
        running_mean([1.0, 2.0], 0)
    with pytest.raises(InputError, match=r"history: has shape \(3, 2\)"):
        running_mean(np.zeros((5, 3)), 2, history=np.zeros((3, 2)))
    with pytest.raises(InputError, match="x: got a 3-D array"):
        running_mean(np.zeros((5, 3, 2)), 2)


def test_lagged_hand_case_names_and_errors():
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    vals, names = lagged(x, [-2, 0, 1, 7], name="stim")
    assert names == ["stim_lag-2", "stim_lag0", "stim_lag1", "stim_lag7"]
    np.testing.assert_array_equal(vals.T, [[3, 4, 5, 0, 0], [1, 2, 3, 4, 5], [0, 1, 2, 3, 4], [0, 0, 0, 0, 0]])
    two = np.stack([x, 10 * x], axis=1)
    vals2, names2 = lagged(two, range(2), name=["lick", "reward"])
    assert names2 == ["lick_lag0", "lick_lag1", "reward_lag0", "reward_lag1"]
    np.testing.assert_array_equal(vals2[:, 3], [0, 10, 20, 30, 40])
    assert lagged(two, [0])[1] == ["x0_lag0", "x1_lag0"]
    assert lagged(np.array([True, False]), [0])[0].dtype == np.float64
    with pytest.raises(InputError, match="lags: 1 appears more than once"):
        lagged(x, [1, 1])
    with pytest.raises(InputError, match=r"lags: got 0.5 in \[0.5\]"):
        lagged(x, [0.5])
    with pytest.raises(InputError, match="lags: empty"):
        lagged(x, [])
    with pytest.raises(InputError, match="name: got 1 names for 2 channels"):
        lagged(two, [0], name=["a"])


def test_one_hot_levels_names_and_errors():
    vals, names = one_hot(np.array(["go", "nogo", "go", "catch"]), name="trial")
    assert names == ["trial=catch", "trial=go", "trial=nogo"]
    np.testing.assert_array_equal(vals, [[0, 1, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(vals.sum(axis=1), 1.0)
    vals, names = one_hot([1, 0, 1], levels=[1, 0, 2])
    assert names == ["1", "0", "2"]
    np.testing.assert_array_equal(vals, [[1, 0, 0], [0, 1, 0], [1, 0, 0]])
    with pytest.raises(InputError, match=r"categories: label 3 at index 2 is not among levels \[0, 1\]"):
        one_hot([0, 1, 3], levels=[0, 1])
    with pytest.raises(InputError, match=r"categories: has a missing label \(nan\) at index 1"):
        one_hot([0.0, np.nan])
    with pytest.raises(InputError, match="levels: .* has repeated levels"):
        one_hot([0, 1], levels=[0, 1, 1])
    with pytest.raises(InputError, match="categories: got a 2-D array"):
        one_hot(np.zeros((3, 2)))
