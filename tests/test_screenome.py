"""Screenome logs: reader, binning, simulator and pipelines."""

from __future__ import annotations

import json
import math
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurocine.errors import InputError
from neurocine.io.screenome import read_screenome_log, seconds_to_iso, write_screenome_log
from neurocine.motifs.screenome.binning import bin_events, parse_duration
from neurocine.motifs.screenome.jobs import run_screenome_bin, run_screenome_simulate, truth_path
from neurocine.motifs.screenome.simulate import simulate_screenome_log


def _write(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _reference_bins(start, duration, channel, bin_seconds, n_channels):
    """Brute-force overlap of every event with every bin (the definition)."""
    origin = math.floor(min(start) / bin_seconds) * bin_seconds
    end = max(s + d for s, d in zip(start, duration))
    n_bins = max(1, math.ceil((end - origin) / bin_seconds - 1e-9))
    out = np.zeros((n_bins, n_channels))
    lo = origin + np.arange(n_bins) * bin_seconds
    hi = lo + bin_seconds
    for s, d, c in zip(start, duration, channel):
        out[:, c] += np.maximum(0.0, np.minimum(s + d, hi) - np.maximum(s, lo))
    return out, origin + np.arange(n_bins) * bin_seconds


# -- parse_duration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("5s", 5.0),
        ("500ms", 0.5),
        ("1min", 60.0),
        ("2h", 7200.0),
        ("10", 10.0),
        ("2.5", 2.5),
        (" 3 s ", 3.0),
        ("1.5m", 90.0),
        ("1d", 86400.0),
        ("2hours", 7200.0),
        ("1e3ms", 1.0),
        ("5S", 5.0),
        (7, 7.0),
        (0.25, 0.25),
    ],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds, rel=1e-12)


@pytest.mark.parametrize("text", ["", "s", "0", "0s", "-5s", "5 parsecs", "5x", "inf", "nan", "1,5s", True, None, 0.0])
def test_parse_duration_errors(text):
    with pytest.raises(InputError, match=r"^--bin: got .*expected a positive duration"):
        parse_duration(text)


# -- bin_events ----------------------------------------------------------------------

# events (start, duration, channel) on bins of 10 s starting at 1000:
#   a [1003, 1028): 7 | 10 | 8 | 0     b [1012, 1015): 0 | 3 | 0 | 0
#   c [1029, 1031): 0 | 0 | 1 | 1      b [1035, 1035): zero length, nothing
STARTS = [1003.0, 1012.0, 1029.0, 1035.0]
DURS = [25.0, 3.0, 2.0, 0.0]
CHANS = [0, 1, 2, 1]
EXPECTED = np.array([[7, 0, 0], [10, 3, 0], [8, 0, 1], [0, 0, 1]], dtype=float)


def test_bin_events_hand_computed():
    data, names, starts = bin_events(STARTS, DURS, CHANS, 10.0, channel_names=["a", "b", "c"])
    np.testing.assert_allclose(data, EXPECTED, atol=1e-12)
    assert names == ["a", "b", "c"]
    np.testing.assert_allclose(starts, [1000, 1010, 1020, 1030])


@pytest.mark.parametrize(
    "top_n, names, expected",
    [
        (1, ["a", "other"], np.c_[EXPECTED[:, 0], EXPECTED[:, 1] + EXPECTED[:, 2]]),
        (2, ["a", "b", "other"], EXPECTED),
        (3, ["a", "b", "c"], EXPECTED),
        (10, ["a", "b", "c"], EXPECTED),
    ],
)
def test_bin_events_top_n_merges_rest_into_other(top_n, names, expected):
    data, got_names, _ = bin_events(STARTS, DURS, CHANS, 10.0, channel_names=["a", "b", "c"], top_n=top_n)
    assert got_names == names
    np.testing.assert_allclose(data, expected, atol=1e-12)
    assert data.sum() == pytest.approx(sum(DURS))


def test_bin_events_top_n_ties_broken_by_name_and_order_kept():
    # totals: zed 4, alpha 4, mid 4, low 1 -> top 2 by (total desc, name): alpha, mid; columns keep input order
    data, names, _ = bin_events(
        [0, 4, 8, 12], [4, 4, 4, 1], [0, 1, 2, 3], 5.0, channel_names=["zed", "mid", "alpha", "low"], top_n=2
    )
    assert names == ["mid", "alpha", "other"]
    np.testing.assert_allclose(data.sum(axis=0), [4, 4, 5])


def test_bin_events_end_on_edge_opens_no_bin_and_gaps_are_zero():
    data, _, starts = bin_events([0.0, 30.0], [10.0, 5.0], [0, 0], 10.0)
    np.testing.assert_allclose(data[:, 0], [10, 0, 0, 5])
    np.testing.assert_allclose(starts, [0, 10, 20, 30])
    data, _, starts = bin_events([2.0], [0.0], [0], 1.0)  # a lone zero-length event: one empty bin
    assert data.shape == (1, 1) and data[0, 0] == 0.0 and starts[0] == 2.0


def test_bin_events_start_on_edge_up_to_rounding():
    # 0.3 / 0.1 = 2.9999999999999996: the start is on the edge of bin 3, not 1e-17 s into bin 2
    data, _, starts = bin_events([0.3], [0.1], [0], 0.1)
    assert data.shape == (1, 1) and data[0, 0] == pytest.approx(0.1)
    assert starts[0] == pytest.approx(0.3)


def test_bin_events_epoch_seconds_and_subsecond_bins():
    t0 = 1_704_096_000.0  # 2024-01-01T08:00:00
    data, _, starts = bin_events([t0 + 0.25, t0 + 1.75], [1.0, 0.5], [0, 1], 0.5)
    # [t0+0.25, t0+1.25) and [t0+1.75, t0+2.25) on 0.5 s bins
    np.testing.assert_allclose(data, [[0.25, 0], [0.5, 0], [0.25, 0], [0, 0.25], [0, 0.25]], atol=1e-6)
    assert data.shape == (5, 2) and starts[0] == t0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start=[0.0], duration=[-1.0], channel=[0]), "duration: .*expected finite seconds >= 0"),
        (dict(start=[np.nan], duration=[1.0], channel=[0]), "start: contains NaN"),
        (dict(start=[0.0, 1.0], duration=[1.0], channel=[0, 0]), "expected equal lengths"),
        (dict(start=[], duration=[], channel=[]), "events: none"),
        (dict(start=[0.0], duration=[1.0], channel=[3], channel_names=["a"]), "expected indices < 1"),
        (dict(start=[0.0], duration=[1.0], channel=[0.5]), "expected integer channel indices"),
        (dict(start=[0.0], duration=[1.0], channel=[0], top_n=0), "top_n: got 0"),
        (dict(start=[0.0], duration=[1.0], channel=[0], bin_seconds=0), "bin_seconds: got 0"),
    ],
)
def test_bin_events_errors(kwargs, message):
    kwargs.setdefault("bin_seconds", 1.0)
    with pytest.raises(InputError, match=message):
        bin_events(**kwargs)


# starts and durations on a 1/64 s grid (exact in binary, so the brute-force edges are exact too)
events_strategy = st.lists(
    st.tuples(st.integers(-640_000, 640_000), st.integers(0, 32_000), st.integers(0, 3)), min_size=1, max_size=25
)


@settings(max_examples=60, deadline=None)
@given(events=events_strategy, bin_seconds=st.sampled_from([0.5, 1.0, 7.0, 60.0, 0.375]))
def test_bin_events_conserves_seconds_and_matches_brute_force(events, bin_seconds):
    start, dur, chan = (list(x) for x in zip(*events))
    start = [s / 64 for s in start]
    dur = [d / 64 for d in dur]
    data, names, starts = bin_events(start, dur, chan, bin_seconds, channel_names=list("abcd"))
    ref, ref_starts = _reference_bins(start, dur, chan, bin_seconds, 4)
    assert data.shape == ref.shape and (data >= 0).all()
    np.testing.assert_allclose(data, ref, atol=1e-6 * max(1.0, bin_seconds))
    np.testing.assert_allclose(starts, ref_starts, atol=1e-9 * max(1.0, abs(ref_starts[0])))
    # total (and per channel) seconds conserved exactly up to float rounding
    assert data.sum() == pytest.approx(sum(dur), rel=1e-9, abs=1e-9)
    per = np.bincount(chan, weights=dur, minlength=4)
    np.testing.assert_allclose(data.sum(axis=0), per, rtol=1e-9, atol=1e-9)


# -- reader --------------------------------------------------------------------------


def test_read_iso_with_duration_and_extra_columns(tmp_path):
    p = _write(
        tmp_path,
        "Timestamp, App ,duration,participant,screen_text\n"
        "2024-01-01T08:00:00,mail,3.5,P1,hello\n"
        "2024-01-01 08:00:10.250,maps,2,P1,x\n",
    )
    log = read_screenome_log(p)
    t0 = (datetime(2024, 1, 1, 8) - datetime(1970, 1, 1)).total_seconds()
    np.testing.assert_allclose(log.start, [t0, t0 + 10.25])
    np.testing.assert_allclose(log.duration, [3.5, 2.0])
    assert log.channels == ["mail", "maps"] and log.channel.tolist() == [0, 1]
    assert log.line.tolist() == [2, 3] and log.time_kind == "iso-naive" and not log.duration_inferred
    assert log.participant.tolist() == ["P1", "P1"]
    assert len(log.warnings) == 1 and "screen_text" in log.warnings[0]
    assert log.to_iso(log.start) == ["2024-01-01T08:00:00", "2024-01-01T08:00:10.250000"]


def test_read_timezones_converted_to_utc(tmp_path):
    p = _write(tmp_path, "timestamp,app,duration\n2024-01-01T08:00:00+02:00,a,1\n2024-01-01T06:00:05Z,b,1\n")
    log = read_screenome_log(p)
    utc = datetime(2024, 1, 1, 6, tzinfo=UTC).timestamp()
    np.testing.assert_allclose(log.start, [utc, utc + 5])
    assert log.time_kind == "iso-utc"
    assert seconds_to_iso(log.start[1], log.time_kind) == "2024-01-01T06:00:05+00:00"


def test_read_inferred_durations_capped_at_max_gap(tmp_path):
    # screenshot samples: each lasts until the participant's next one, at most max_gap; last one max_gap
    p = _write(tmp_path, "timestamp,app,participant\n0,a,P1\n0.5,b,P2\n5,b,P1\n7,a,P2\n30,a,P1\n")
    log = read_screenome_log(p, max_gap=5.0)
    assert log.duration_inferred and log.time_kind == "numeric"
    # by time: P1@0 (5), P2@0.5 (5, capped from 6.5), P1@5 (5, capped from 25), P2@7 (5, last), P1@30 (5, last)
    np.testing.assert_allclose(log.start, [0, 0.5, 5, 7, 30])
    np.testing.assert_allclose(log.duration, [5, 5, 5, 5, 5])
    log = read_screenome_log(p, max_gap=4.0, participant="P1")
    np.testing.assert_allclose(log.start, [0, 5, 30])
    np.testing.assert_allclose(log.duration, [4, 4, 4])
    assert log.participants == ["P1"]


def test_read_unsorted_rows_sorted_stably_with_warning(tmp_path):
    p = _write(tmp_path, "timestamp,app,duration\n10,c,1\n0,a,1\n10,d,0\n5,b,1\n")
    log = read_screenome_log(p)
    np.testing.assert_allclose(log.start, [0, 5, 10, 10])
    assert [log.channels[i] for i in log.channel] == ["a", "b", "c", "d"]  # equal times keep file order
    assert log.line.tolist() == [3, 5, 2, 4]
    assert any("not in time order (first at line 3)" in w and "sorted" in w for w in log.warnings)
    # c [10, 11) overlaps d starting at 10 -> clipped to 0 and reported
    np.testing.assert_allclose(log.duration, [1, 1, 0, 0])
    assert any("1 event(s) overlap" in w and "line 2" in w for w in log.warnings)


def test_read_overlaps_clipped_per_participant_only(tmp_path):
    p = _write(tmp_path, "timestamp,app,duration,participant\n0,a,10,P1\n4,b,3,P1\n2,a,10,P2\n")
    log = read_screenome_log(p)
    # P1's first event is cut at 4; P2's overlaps P1 but that is another phone
    np.testing.assert_allclose(log.start, [0, 2, 4])
    np.testing.assert_allclose(log.duration, [4, 10, 3])
    assert any("1 event(s) overlap" in w and "line 2" in w for w in log.warnings)
    data, names, _ = bin_events(log.start, log.duration, log.channel, 5.0, channel_names=log.channels)
    np.testing.assert_allclose(data, [[4 + 3, 1], [5, 2], [2, 0]])


@pytest.mark.parametrize(
    "channel, header, expected",
    [
        ("app", "timestamp,app,category", ["mail"]),
        ("category", "timestamp,app,category", ["communication"]),
        ("app", "timestamp,category", ["communication"]),  # no app column: falls back to category
    ],
)
def test_read_channel_column(tmp_path, channel, header, expected):
    row = {"timestamp,app,category": "0,mail,communication", "timestamp,category": "0,communication"}[header]
    log = read_screenome_log(_write(tmp_path, f"{header}\n{row}\n"), channel=channel)
    assert log.channels == expected


ERROR_CASES = [
    ("", None, "file is empty"),
    ("\n\n  \n", None, "file is empty"),
    ("timestamp,app\n", None, "header only, no event rows"),
    ("time,app\n0,a\n", None, "column 'timestamp' missing"),
    ("timestamp,duration\n0,1\n", None, "column 'app' or 'category' missing"),
    ("timestamp,app\n0,a\nyesterday,b\n", None, "line 3: timestamp 'yesterday' is not a time"),
    ("timestamp,app\n0,a\n,b\n", None, "line 3: timestamp '' is not a time"),
    ("timestamp,app\n0,a\nnan,b\n", None, "line 3: timestamp 'nan' is not a time"),
    ("timestamp,app,duration\n0,a,1\n1,b,-2\n", None, "line 3: duration '-2' in column 'duration'; expected a finite"),
    ("timestamp,app,duration\n0,a,nan\n", None, "line 2: duration 'nan'"),
    ("timestamp,app,duration\n0,a,\n", None, "line 2: duration ''"),
    ("timestamp,app\n0,a\n1,  \n", None, "line 3: empty app name"),
    (
        "timestamp,app\n2024-01-01T08:00:00,a\n2024-01-01T08:00:01+00:00,b\n",
        None,
        "line 3: timestamp .* is an ISO time with a timezone but line 2 has an ISO time without timezone",
    ),
    ("timestamp,app\n2024-01-01T08:00:00,a\n5,b\n", None, "line 3: timestamp '5' is a number"),
    ("timestamp,app\n0,a\n1,b,extra\n", None, "line 3: 3 fields; expected 2"),
    ("timestamp,app,app\n0,a,b\n", None, "line 1: column 'app' appears more than once"),
    ("timestamp,app\n0,a\n", dict(channel="category"), "column 'category' missing"),
    ("timestamp,app\n0,a\n", dict(channel="apps"), "channel: got 'apps'"),
    ("timestamp,app\n0,a\n", dict(participant="P1"), "column 'participant' missing"),
    (
        "timestamp,app,participant\n0,a,P1\n1,a,P2\n",
        dict(participant="P3"),
        "no rows for participant 'P3'; expected one of 'P1', 'P2'",
    ),
    ("timestamp,app\n0,a\n", dict(max_gap=0), "max_gap: got 0"),
    ("timestamp,app\n0,a\n", dict(max_gap=float("nan")), "max_gap: got nan"),
]


@pytest.mark.parametrize("text, kwargs, message", ERROR_CASES)
def test_read_errors_name_file_line_and_expectation(tmp_path, text, kwargs, message):
    p = _write(tmp_path, text)
    with pytest.raises(InputError, match=message) as info:
        read_screenome_log(p, **(kwargs or {}))
    msg = str(info.value)
    assert "\n" not in msg
    if not message.startswith(("channel:", "max_gap:")):
        assert msg.startswith(str(p))
        assert "expected" in msg


def test_read_missing_file_and_folder(tmp_path):
    with pytest.raises(InputError, match=r"nope\.csv: file not found; expected a CSV screenome log"):
        read_screenome_log(tmp_path / "nope.csv")
    with pytest.raises(InputError, match="is a folder"):
        read_screenome_log(tmp_path)


def test_read_line_numbers_count_blank_lines(tmp_path):
    p = _write(tmp_path, "\ntimestamp,app\n0,a\n\n1,b\nbad,c\n")
    with pytest.raises(InputError, match="line 6: timestamp 'bad'"):
        read_screenome_log(p)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    events=st.lists(
        st.tuples(st.integers(0, 10_000), st.integers(0, 3_000), st.integers(0, 2)), min_size=1, max_size=20
    ),
    bin_ms=st.sampled_from([250, 1000, 5000, 60000]),
)
def test_read_then_bin_conserves_clipped_seconds(events, bin_ms):
    # events on a millisecond grid, possibly overlapping and unsorted; one participant
    rows = [{"timestamp": s / 1000, "app": "abc"[c], "duration": d / 1000} for s, d, c in events]
    with tempfile.TemporaryDirectory() as tmp:
        p = write_screenome_log(Path(tmp) / "log.csv", rows)
        log = read_screenome_log(p)
    # reference clipping: stable time order, each event cut at the next start
    order = sorted(range(len(events)), key=lambda i: events[i][0])
    clipped = [
        min(events[i][1], (events[j][0] - events[i][0]) if j is not None else events[i][1])
        for i, j in zip(order, order[1:] + [None])
    ]
    np.testing.assert_allclose(log.duration * 1000, clipped, atol=1e-6)
    data, _, _ = bin_events(log.start, log.duration, log.channel, bin_ms / 1000, channel_names=log.channels)
    assert data.sum() == pytest.approx(sum(clipped) / 1000, rel=1e-9, abs=1e-9)


def test_write_screenome_log_errors(tmp_path):
    with pytest.raises(InputError, match="no rows to write"):
        write_screenome_log(tmp_path / "a.csv", [])
    with pytest.raises(InputError, match="row 1 has keys"):
        write_screenome_log(tmp_path / "a.csv", [{"timestamp": 0, "app": "a"}, {"timestamp": 1}])
    with pytest.raises(InputError, match="expected at least timestamp and app"):
        write_screenome_log(tmp_path / "a.csv", [{"timestamp": 0}])


# -- simulator -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "bin_seconds, hours, n_apps, n_states", [(60.0, 4.0, 10, 3), (5.0, 0.5, 6, 2), (0.5, 0.05, 4, 2)]
)
def test_simulator_round_trip(tmp_path, bin_seconds, hours, n_apps, n_states):
    rows, truth = simulate_screenome_log(
        seed=3,
        n_apps=n_apps,
        n_states=n_states,
        hours=hours,
        bin_seconds=bin_seconds,
        template_bins=8,
        onsets_per_hour=6 * 3600 / bin_seconds / 60,
    )
    p = write_screenome_log(tmp_path / "sim.csv", rows)
    log = read_screenome_log(p)
    assert log.warnings == [] and log.n_events == len(rows)
    data, names, starts = bin_events(log.start, log.duration, log.channel, bin_seconds, channel_names=log.channels)
    assert names == truth.apps
    assert data.shape == truth.data.shape == (round(hours * 3600 / bin_seconds), n_apps)
    np.testing.assert_allclose(data, truth.data, atol=1e-3)
    np.testing.assert_allclose(starts, truth.bin_starts)
    assert truth.data.sum() > 0.05 * truth.data.size * bin_seconds / n_apps  # not an empty log


def test_simulator_follows_the_convnmf_model():
    rows, truth = simulate_screenome_log(seed=11, hours=6, bin_seconds=60, template_bins=10)
    K, N, D = truth.templates.shape
    T = truth.data.shape[0]
    assert (K, N, D) == (3, 10, 10) and truth.amplitudes.shape == (T, K)
    assert (truth.templates >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(truth.templates.reshape(K, -1), axis=1), 1.0)
    for k in range(K):  # sparse onsets at least D bins apart, and some of them
        onsets = np.flatnonzero(truth.amplitudes[:, k] > 0)
        assert onsets.size >= 3 and np.diff(onsets).min() >= D
        assert 2 <= (truth.templates[k].max(axis=1) > 1e-3 * truth.templates[k].max()).sum() <= 10
    # model = causal convolution of onsets with templates, plus background (independent reference: np.convolve)
    ref = np.zeros((T, N))
    for k in range(K):
        for n in range(N):
            ref[:, n] += np.convolve(truth.amplitudes[:, k], truth.templates[k, n])[:T]
    np.testing.assert_allclose(truth.model, ref + truth.background, atol=1e-9)
    # seconds of use: clipped to [0, bin], at most one bin of screen time per bin, ms resolution
    assert (truth.data >= 0).all() and (truth.data <= 60).all()
    assert (truth.data.sum(axis=1) <= 60 + 1e-9).all()
    np.testing.assert_allclose(truth.data * 1000, np.round(truth.data * 1000), atol=1e-6)
    ok = np.clip(truth.model, 0, 60).sum(axis=1) <= 60  # unsaturated bins: data = model floored to ms
    np.testing.assert_allclose(
        truth.data[ok], np.floor(np.clip(truth.model[ok], 0, 60) * 1000 + 1e-9) / 1000, atol=1e-9
    )
    assert ok.mean() > 0.8
    # durations in the log add up to the matrix; one participant, ISO times, time-ordered
    assert sum(r["duration"] for r in rows) == pytest.approx(truth.data.sum(), abs=1e-6)
    assert {r["participant"] for r in rows} == {"P01"}
    stamps = [r["timestamp"] for r in rows]
    assert stamps == sorted(stamps) and stamps[0] == truth.start == "2024-01-01T08:00:00.000"


def test_simulator_is_deterministic_and_seed_dependent():
    a_rows, a = simulate_screenome_log(seed=5, hours=1)
    b_rows, b = simulate_screenome_log(seed=5, hours=1)
    _, c = simulate_screenome_log(seed=6, hours=1)
    assert a_rows == b_rows and np.array_equal(a.data, b.data)
    assert not np.array_equal(a.data, c.data)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_apps=0), "n_apps: got 0"),
        (dict(hours=0.01), "expected at least template_bins=10 bins"),
        (dict(bin_seconds=0.0005), "whole number of milliseconds"),
        (dict(background_rate=2), "background_rate: got 2"),
        (dict(start="noon"), "start: got 'noon'"),
        (dict(start="2024-01-01T08:00:00+01:00"), "timezone-naive"),
        (dict(n_apps=2, app_names=["a", "a"]), "2 distinct non-empty names"),
    ],
)
def test_simulator_errors(kwargs, message):
    with pytest.raises(InputError, match=message):
        simulate_screenome_log(**kwargs)


def test_simulator_aligns_start_to_bins():
    _, truth = simulate_screenome_log(seed=0, hours=1, bin_seconds=7, start="2024-01-01T08:00:00")
    assert truth.bin_starts[0] % 7 == 0 and truth.bin_starts[0] <= 1_704_096_000


# -- pipelines -----------------------------------------------------------------------


def test_pipelines_simulate_then_bin(tmp_path):
    info = run_screenome_simulate(tmp_path / "log.csv", seed=2, hours=2, bin="1min", n_apps=6)
    assert Path(info["truth"]) == tmp_path / "log.truth.npz" == truth_path(tmp_path / "log.csv")
    truth = np.load(info["truth"])  # allow_pickle=False: plain arrays only
    assert truth["data"].dtype == np.float32 and truth["data"].shape == (120, 6)
    assert truth["templates"].shape == (3, 6, 10) and truth["amplitudes"].shape == (120, 3)

    summary = run_screenome_bin(info["log"], tmp_path / "out", bin="60s")
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["binned.npz", "report.html", "summary.json", "usage.png"]
    binned = np.load(out / "binned.npz")
    assert binned["data"].dtype == np.float32
    np.testing.assert_allclose(binned["data"], truth["data"], atol=1e-3)
    assert binned["channels"].tolist() == truth["channels"].tolist()
    np.testing.assert_allclose(binned["bin_starts"], truth["bin_starts"])
    assert float(binned["bin_seconds"]) == 60.0
    assert binned["bin_starts_iso"][0] == "2024-01-01T08:00:00"
    m = summary["metrics"]
    assert m["n_events"] == info["n_events"] and m["n_bins"] == 120 and m["n_channels"] == 6
    assert m["total_seconds"] == pytest.approx(info["total_seconds"], abs=1e-3)
    assert m["warnings"] == []
    assert json.loads((out / "summary.json").read_text())["job"] == "screenome bin"
    assert (out / "usage.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # coarser bins and top-2: totals conserved, 'other' holds the rest
    summary = run_screenome_bin(info["log"], tmp_path / "out5", bin="5min", top=2)
    binned = np.load(tmp_path / "out5" / "binned.npz")
    assert binned["data"].shape == (24, 3) and binned["channels"][-1] == "other"
    t = truth["data"].astype(np.float64)
    np.testing.assert_allclose(binned["data"].sum(axis=1), t.reshape(24, 5, 6).sum(axis=(1, 2)), atol=1e-2)


def test_pipeline_bin_participant_and_gaps(tmp_path):
    p = _write(tmp_path, "timestamp,category,participant,note\n0,social,A,x\n5,social,A,x\n20,games,B,y\n")
    summary = run_screenome_bin(p, tmp_path / "out", bin="10s", participant="A", max_gap="5s")
    b = np.load(tmp_path / "out" / "binned.npz")
    np.testing.assert_allclose(b["data"], [[10.0]])
    assert "bin_starts_iso" not in b.files
    assert summary["metrics"]["channel_column"] == "category"
    assert any("note" in w for w in summary["metrics"]["warnings"])
    summary = run_screenome_bin(p, tmp_path / "all", bin="10s")
    np.testing.assert_allclose(np.load(tmp_path / "all" / "binned.npz")["data"], [[0, 10], [0, 0], [5, 0]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(bin="5 fortnights"), "--bin: got '5 fortnights'"),
        (dict(top=0), "--top: got 0"),
        (dict(max_gap="-1"), "--max-gap: got '-1'"),
    ],
)
def test_pipeline_bin_bad_arguments_write_nothing(tmp_path, kwargs, message):
    p = _write(tmp_path, "timestamp,app\n0,a\n")
    with pytest.raises(InputError, match=message):
        run_screenome_bin(p, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="line 2: timestamp 'x'"):
        run_screenome_bin(_write(tmp_path, "timestamp,app\nx,a\n", "bad.csv"), tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "log.csv"]


def test_npz_outputs_are_signal_matrices_for_motifs_fit(tmp_path):
    signals = pytest.importorskip("neurocine.io.signals")
    info = run_screenome_simulate(tmp_path / "log.csv", seed=4, hours=1, bin="30s", n_apps=5, n_states=2)
    run_screenome_bin(info["log"], tmp_path / "out", bin="30s")
    truth = signals.read_signal_matrix(info["truth"])
    binned = signals.read_signal_matrix(tmp_path / "out" / "binned.npz")
    assert binned.data.shape == truth.data.shape == (120, 5)
    np.testing.assert_allclose(binned.data, truth.data, atol=1e-3)
    assert binned.channels == truth.channels == sorted(truth.channels)
    assert binned.sampling_rate == truth.sampling_rate == pytest.approx(1 / 30)
    assert truth.truth["templates"].shape == (2, 5, 10) and truth.truth["amplitudes"].shape == (120, 2)
