"""Tests for neurocine.io.signals: round trips for every format and every error case."""

from __future__ import annotations

import datetime
import os
import sys

import numpy as np
import pytest
from _errors import raises_naming
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurocine.errors import InputError
from neurocine.io.signals import (
    SignalMatrix,
    _parse_csv_fast,
    _parse_csv_slow,
    read_signal_matrix,
    validate_signal_matrix,
    write_signal_npz,
)


def rng_matrix(t=7, n=3, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).normal(size=(t, n)).astype(dtype)


def write_csv(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------------------
# validate_signal_matrix
# ---------------------------------------------------------------------------
def test_validate_accepts_and_casts():
    x = [[0, 1], [2, 3], [4, 5]]
    out = validate_signal_matrix(x, "X")
    assert out.dtype.kind == "i" and out.shape == (3, 2)
    np.testing.assert_array_equal(validate_signal_matrix(x, "X", dtype=np.float32), np.array(x, np.float32))
    assert validate_signal_matrix(np.ones((1, 4)), "X", min_timesteps=1).shape == (1, 4)


@pytest.mark.parametrize(
    "data, pattern",
    [
        (np.arange(5.0), r"^X: got a 1-D array of shape \(5,\); expected a 2-D \(T, N\).*reshape\(-1, 1\)"),
        (np.zeros((2, 3, 4)), r"^X: got a 3-D array of shape \(2, 3, 4\); expected a 2-D \(T, N\)"),
        (np.float64(3.0), r"^X: got a 0-D array"),
        (np.array([["a", "b"], ["c", "d"]]), r"^X: has non-numeric dtype <U1; expected a real numeric"),
        (np.ones((3, 2), complex), r"^X: has complex dtype complex128; expected real"),
        (np.ones((1, 2)), r"^X: has 1 time step \(shape \(1, 2\)\); expected at least 2 rows"),
        (np.ones((5, 0)), r"^X: has 0 columns \(shape \(5, 0\)\); expected at least 1 channel"),
        ([[1.0, 2.0], [3.0]], r"^X: cannot be read as an array"),
    ],
)
def test_validate_errors(data, pattern):
    with pytest.raises(InputError, match=pattern):
        validate_signal_matrix(data, "X")


def test_validate_reports_nonfinite_count_and_first_index():
    x = np.zeros((8, 3))
    x[5, 0] = np.nan
    x[3, 1] = np.nan
    x[4, 2] = np.inf
    with pytest.raises(InputError) as info:
        validate_signal_matrix(x, "sig.npy")
    assert str(info.value) == (
        "sig.npy: has 2 NaNs and 1 infinite value, the first at (row 3, column 1); expected finite values"
    )
    x[:] = 0
    x[7, 2] = -np.inf
    with pytest.raises(InputError, match=r"has 1 infinite value, the first at \(row 7, column 2\)"):
        validate_signal_matrix(x, "sig.npy")


# ---------------------------------------------------------------------------
# npz / npy round trips and the writer
# ---------------------------------------------------------------------------
def test_npz_round_trip_with_truth(tmp_path):
    t, n, k, d = 40, 5, 3, 6
    data = rng_matrix(t, n, dtype=np.float32)
    templates = np.random.default_rng(1).random((k, n, d)).astype(np.float32)
    amplitudes = np.random.default_rng(2).random((t, k)).astype(np.float32)
    names = [f"electrode {i}" for i in range(n)]
    p = write_signal_npz(
        tmp_path / "sim.npz",
        data,
        channels=names,
        sampling_rate=250.0,
        templates=templates,
        amplitudes=amplitudes,
        notes=None,
    )
    assert p == tmp_path / "sim.npz"
    m = read_signal_matrix(p)
    assert isinstance(m, SignalMatrix)
    assert m.data.dtype == np.float32
    np.testing.assert_array_equal(m.data, data)
    assert m.channels == names
    assert m.sampling_rate == 250.0 and m.timestamps is None
    assert m.source == str(p)
    assert set(m.truth) == {"templates", "amplitudes"}
    np.testing.assert_array_equal(m.truth["templates"], templates)
    np.testing.assert_array_equal(m.truth["amplitudes"], amplitudes)
    assert (m.n_timesteps, m.n_channels, m.duration) == (t, n, t / 250.0)


def test_npz_defaults_float64_and_timestamps(tmp_path):
    data = rng_matrix(6, 2)  # float64
    ts = np.array([0.0, 0.1, 0.25, 0.3, 0.5, 0.55])
    p = write_signal_npz(tmp_path / "plain", data, timestamps=ts)  # suffix appended
    assert p.name == "plain.npz"
    m = read_signal_matrix(p, dtype=np.float64)
    np.testing.assert_array_equal(m.data, data)
    np.testing.assert_array_equal(m.timestamps, ts)
    assert m.channels == ["ch0", "ch1"] and m.sampling_rate is None and m.truth is None
    # default float32 is the exact float32 rounding; dtype=None keeps the file's dtype
    np.testing.assert_array_equal(read_signal_matrix(p).data, data.astype(np.float32))
    assert read_signal_matrix(p, dtype=None).data.dtype == np.float64
    m_truth_only = read_signal_matrix(write_signal_npz(tmp_path / "a.npz", data, amplitudes=np.ones((6, 2))))
    assert list(m_truth_only.truth) == ["amplitudes"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16])
def test_npy_round_trip(tmp_path, dtype):
    data = (rng_matrix(9, 4) * 100).astype(dtype)
    p = tmp_path / "x.npy"
    np.save(p, data)
    m = read_signal_matrix(p, dtype=None)
    expected_dtype = np.float64 if dtype == np.int16 else dtype  # integers become float64
    assert m.data.dtype == expected_dtype
    np.testing.assert_array_equal(m.data, data.astype(expected_dtype))
    assert m.channels == ["ch0", "ch1", "ch2", "ch3"]
    assert m.sampling_rate is None and m.timestamps is None and m.truth is None


def test_write_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "out.npz"
    write_signal_npz(p, np.ones((3, 2)))
    before = p.read_bytes()

    # a failure half-way leaves the old file untouched and no temporary behind
    def boom(fh, **arrays):
        fh.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", boom)
    with raises_naming(p, r"cannot be written \(No space left on device\)"):
        write_signal_npz(p, np.zeros((3, 2)))
    assert p.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["out.npz"]
    monkeypatch.undo()
    # a successful write replaces the file; the mode follows the umask, not mkstemp's 0600
    write_signal_npz(p, np.zeros((4, 2)))
    np.testing.assert_array_equal(read_signal_matrix(p).data, np.zeros((4, 2)))
    mask = os.umask(0)
    os.umask(mask)
    assert p.stat().st_mode & 0o777 == 0o666 & ~mask
    assert sorted(os.listdir(tmp_path)) == ["out.npz"]


def test_write_rejects_bad_input(tmp_path):
    with raises_naming(tmp_path / "bad.npz", "1-D array"):
        write_signal_npz(tmp_path / "bad.npz", np.arange(4.0))
    with pytest.raises(InputError, match="^meta: has object dtype"):
        write_signal_npz(tmp_path / "bad.npz", np.ones((2, 2)), meta={"a": 1})
    assert not any(tmp_path.iterdir())


# ---------------------------------------------------------------------------
# csv
# ---------------------------------------------------------------------------
def test_csv_round_trip_header_and_time(tmp_path):
    data = rng_matrix(6, 3)
    ts = np.array([0.0, 0.5, 1.0, 1.75, 2.0, 3.5])
    lines = ["Time,left,right,nose"] + [",".join(repr(float(v)) for v in (t, *row)) for t, row in zip(ts, data)]
    p = write_csv(tmp_path / "sig.csv", lines + [""])  # trailing blank line is fine
    m = read_signal_matrix(p, dtype=np.float64)
    np.testing.assert_array_equal(m.data, data)
    np.testing.assert_array_equal(m.timestamps, ts)
    assert m.channels == ["left", "right", "nose"]
    assert m.sampling_rate is None and m.truth is None
    np.testing.assert_array_equal(read_signal_matrix(p).data, data.astype(np.float32))


def test_csv_without_header_and_header_without_time(tmp_path):
    p = write_csv(tmp_path / "a.csv", ["1,2", "3,4.5", "-1e3, 7"])
    m = read_signal_matrix(p)
    np.testing.assert_array_equal(m.data, np.array([[1, 2], [3, 4.5], [-1000, 7]], np.float32))
    assert m.channels == ["ch0", "ch1"] and m.timestamps is None
    p = write_csv(tmp_path / "b.csv", ["\ufeffa, b", "1,2", "3,4"])  # BOM and spaces
    m = read_signal_matrix(p)
    assert m.channels == ["a", "b"] and m.timestamps is None
    np.testing.assert_array_equal(m.data, np.array([[1, 2], [3, 4]], np.float32))


@settings(max_examples=25, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(2, 6), st.integers(1, 4)),
        elements=st.floats(allow_nan=False, allow_infinity=False, width=64),
    )
)
def test_csv_round_trip_is_exact(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("csv") / "h.csv"
    write_csv(p, [",".join(repr(float(v)) for v in row) for row in data])
    np.testing.assert_array_equal(read_signal_matrix(p, dtype=np.float64).data, data)
    # the fast (numpy) and the cell-by-cell parsers agree exactly
    header, values = _parse_csv_fast(p, "h.csv")
    header_slow, values_slow, lines = _parse_csv_slow(p, "h.csv")
    assert header is None and header_slow is None and lines == list(range(1, len(data) + 1))
    np.testing.assert_array_equal(values, values_slow)


def test_csv_slow_path_blank_lines_and_quotes(tmp_path):
    # whitespace-only lines and quoted cells: parsed cell by cell, same numbers
    p = write_csv(tmp_path / "q.csv", ['"a","b"', "1,2", "   ", '"3.5",4', "", "5,6"])
    m = read_signal_matrix(p, dtype=np.float64)
    np.testing.assert_array_equal(m.data, [[1, 2], [3.5, 4], [5, 6]])
    assert m.channels == ["a", "b"]
    assert _parse_csv_slow(p, "q.csv")[2] == [2, 4, 6]
    p = write_csv(tmp_path / "gap.csv", ["time,a", "0,1", "", "2,2", "", "1,3"])
    with raises_naming(p, r"not strictly increasing at line 6 \(2.0 then 1.0\)"):
        read_signal_matrix(p)


@pytest.mark.parametrize(
    "lines, pattern",
    [
        (["a,b", "1,2", "3,x7", "5,6"], r"line 3, column 2 \('b'\) holds 'x7'; expected a number"),
        (["1,2", "3,", "5,6"], r"line 2, column 2 holds an empty cell; expected a number"),
        (["a,b", "1,2", "3,4,5", "6,7"], r"line 3 has 3 columns but the header has 2"),
        (["1,2,3", "4,5"], r"line 2 has 2 columns but line 1 has 3"),
        (["time,a", "0,1", "1,2", "1,3", "2,4"], r"column 'time' not strictly increasing at line 4 \(1.0 then 1.0\)"),
        (
            ["timestamp,a", "0,1", "2,2", "1,3"],
            r"column 'timestamp' not strictly increasing at line 4 \(2.0 then 1.0\)",
        ),
        (["time,a", "0,1", "nan,2"], r"line 3, column 'time' holds nan; expected finite times"),
        (["time", "0", "1"], r"only a 'time' column; expected at least one channel"),
        (["a,b", "1,2", "3,nan", "inf,4"], r"2 non-finite values, the first nan at line 3, column 2 \('b'\)"),
        (["a,b", "1,2"], r"has 1 time step"),
        (["a,b"], r"has a header row but no data rows"),
        (["", "  ", ""], r"holds only blank lines"),
    ],
)
def test_csv_errors(tmp_path, lines, pattern):
    p = write_csv(tmp_path / "bad.csv", lines)
    with raises_naming(p, pattern):
        read_signal_matrix(p)


# ---------------------------------------------------------------------------
# generic file errors and npz/npy content errors
# ---------------------------------------------------------------------------
def test_missing_empty_folder_and_extension(tmp_path):
    with raises_naming(tmp_path / "nope.npz", "file not found"):
        read_signal_matrix(tmp_path / "nope.npz")
    (tmp_path / "empty.csv").write_bytes(b"")
    with raises_naming(tmp_path / "empty.csv", r"file is empty \(0 bytes\)"):
        read_signal_matrix(tmp_path / "empty.csv")
    (tmp_path / "dir.npz").mkdir()
    with raises_naming(tmp_path / "dir.npz", "is a folder"):
        read_signal_matrix(tmp_path / "dir.npz")
    (tmp_path / "x.edf").write_bytes(b"abc")
    with raises_naming(
        tmp_path / "x.edf", r"unknown extension '\.edf'; expected one of \.npz, \.npy, \.csv, \.nwb, \.mat"
    ):
        read_signal_matrix(tmp_path / "x.edf")
    (tmp_path / "latin.csv").write_bytes(b"a,b\n1,2\n3,\xff\n")
    with raises_naming(tmp_path / "latin.csv", "is not UTF-8 text"):
        read_signal_matrix(tmp_path / "latin.csv")
    (tmp_path / "noext").write_bytes(b"abc")
    with raises_naming(tmp_path / "noext", "unknown no extension; expected one of"):
        read_signal_matrix(tmp_path / "noext")


def test_bad_arguments(tmp_path):
    p = write_signal_npz(tmp_path / "x.npz", np.ones((3, 2)))
    with raises_naming(p, r"series='lfp': only applies to \.nwb files"):
        read_signal_matrix(p, series="lfp")
    with pytest.raises(InputError, match="^dtype: got int32; expected a floating"):
        read_signal_matrix(p, dtype=np.int32)


def test_npz_and_npy_content_errors(tmp_path):
    p = tmp_path / "nodata.npz"
    np.savez(p, signal=np.ones((3, 2)), rate=np.array(3.0))
    with raises_naming(p, r"no key 'data' \(keys: 'signal', 'rate'\); expected 'data'"):
        read_signal_matrix(p)
    p = tmp_path / "oned.npz"
    np.savez(p, data=np.ones(5))
    with raises_naming(p, r"key 'data': got a 1-D array of shape \(5,\).*reshape\(-1, 1\)"):
        read_signal_matrix(p)
    p = tmp_path / "threed.npy"
    np.save(p, np.ones((2, 3, 4)))
    with raises_naming(p, r"got a 3-D array"):
        read_signal_matrix(p)
    p = tmp_path / "nan.npy"
    x = np.ones((4, 2))
    x[2, 1] = np.nan
    np.save(p, x)
    with raises_naming(p, r"1 NaN, the first at \(row 2, column 1\)"):
        read_signal_matrix(p)
    p = tmp_path / "obj.npy"
    np.save(p, np.array([[1, "a"]], dtype=object), allow_pickle=True)
    with raises_naming(p, "cannot be read as .npy"):
        read_signal_matrix(p)
    for name in ("garbage.npz", "garbage.npy"):
        (tmp_path / name).write_text("hello, world\n")
        with raises_naming(tmp_path / name, "does not start like a numpy"):
            read_signal_matrix(tmp_path / name)
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04 truncated")
    with raises_naming(tmp_path / "broken.npz", "cannot be read as .npz"):
        read_signal_matrix(tmp_path / "broken.npz")


@pytest.mark.parametrize(
    "extra, pattern",
    [
        ({"templates": np.ones((2, 4, 5))}, r"templates have shape \(2, 4, 5\) with N=4 channels but data has N=3"),
        ({"templates": np.ones((2, 3))}, r"templates have shape \(2, 3\).*expected a numeric \(K, N, D\)"),
        ({"amplitudes": np.ones((9, 2))}, r"amplitudes have shape \(9, 2\) with T=9 time steps but data has T=10"),
        ({"amplitudes": np.ones(10)}, r"amplitudes have shape \(10,\).*expected a numeric \(T, K\)"),
        (
            {"templates": np.ones((2, 3, 5)), "amplitudes": np.ones((10, 4))},
            r"templates have K=2 motifs but amplitudes have K=4",
        ),
        ({"amplitudes": np.full((10, 2), np.nan)}, r"amplitudes contain NaN"),
        ({"channels": np.array(["a", "b"])}, r"channels has shape \(2,\); expected \(3,\)"),
        ({"sampling_rate": np.array(-5.0)}, r"sampling_rate is -5.0; expected a positive"),
        ({"sampling_rate": np.array([1.0, 2.0])}, r"sampling_rate is .*expected one positive number"),
        ({"timestamps": np.arange(9.0)}, r"timestamps have shape \(9,\); expected \(10,\)"),
        (
            {"timestamps": np.array([0, 1, 2, 3, 5, 4, 6, 7, 8, 9.0])},
            r"timestamps not strictly increasing at index 5 \(5.0 then 4.0\)",
        ),
    ],
)
def test_npz_metadata_errors(tmp_path, extra, pattern):
    p = tmp_path / "sim.npz"
    np.savez(p, data=np.ones((10, 3)), **extra)
    with raises_naming(p, pattern):
        read_signal_matrix(p)


# ---------------------------------------------------------------------------
# NWB
# ---------------------------------------------------------------------------
try:
    import pynwb
except ImportError:  # the nwb extra is optional: skip these tests, not the module
    pynwb = None
requires_pynwb = pytest.mark.skipif(pynwb is None, reason="needs the nwb extra (pynwb)")


def make_nwb(path, *series, module=None):
    """Write an NWB file with ``series`` in acquisition and ``module`` = (name, [series]) in processing."""
    nwbfile = pynwb.NWBFile(
        session_description="test",
        identifier="neurocine-test",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    )
    for ts in series:
        nwbfile.add_acquisition(ts)
    if module is not None:
        mod = nwbfile.create_processing_module(name=module[0], description="processed")
        for ts in module[1]:
            mod.add(ts)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


@pytest.mark.nwb
@requires_pynwb
def test_nwb_round_trip_rate_and_timestamps(tmp_path):
    data = rng_matrix(12, 4, dtype=np.float32)
    ts = np.cumsum(np.random.default_rng(3).uniform(0.01, 0.02, 12))
    dff = rng_matrix(12, 2, seed=5)
    p = make_nwb(
        tmp_path / "rec.nwb",
        pynwb.TimeSeries(name="lfp", data=data, unit="V", rate=1250.0),
        module=("ophys", [pynwb.TimeSeries(name="dff", data=dff, unit="a.u.", timestamps=ts)]),
    )
    m = read_signal_matrix(p, series="lfp")
    np.testing.assert_array_equal(m.data, data)
    assert m.data.dtype == np.float32 and m.sampling_rate == 1250.0 and m.timestamps is None
    assert m.channels == ["ch0", "ch1", "ch2", "ch3"] and m.source == str(p) and m.truth is None
    for key in ("dff", "processing/ophys/dff", "ophys/dff"):
        m = read_signal_matrix(p, series=key, dtype=np.float64)
        np.testing.assert_array_equal(m.data, dff)
        np.testing.assert_array_equal(m.timestamps, ts)
        assert m.sampling_rate is None
    with raises_naming(p, r"2 TimeSeries \(acquisition/lfp, processing/ophys/dff\); expected series="):
        read_signal_matrix(p)
    with pytest.raises(InputError, match=r"^series='spikes': not found in .*rec\.nwb \(TimeSeries: acquisition/lfp"):
        read_signal_matrix(p, series="spikes")


@pytest.mark.nwb
@requires_pynwb
def test_nwb_single_series_1d_and_conversion(tmp_path):
    raw = np.arange(10, dtype=np.int16)
    p = make_nwb(
        tmp_path / "one.nwb", pynwb.TimeSeries(name="pupil", data=raw, unit="mm", rate=30.0, conversion=0.5, offset=1.0)
    )
    m = read_signal_matrix(p, dtype=np.float64)  # the only TimeSeries needs no series=
    np.testing.assert_array_equal(m.data, raw.reshape(-1, 1) * 0.5 + 1.0)
    assert m.sampling_rate == 30.0 and m.channels == ["ch0"]


@pytest.mark.nwb
@requires_pynwb
def test_nwb_electrode_labels(tmp_path):
    from pynwb.ecephys import ElectricalSeries

    nwbfile = pynwb.NWBFile(
        session_description="t", identifier="e", session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    )
    device = nwbfile.create_device(name="probe")
    group = nwbfile.create_electrode_group(name="shank", description="d", location="CA1", device=device)
    nwbfile.add_electrode_column(name="label", description="electrode label")
    for i in range(3):
        nwbfile.add_electrode(group=group, location="CA1", label=f"site{i}")
    region = nwbfile.create_electrode_table_region(region=[2, 0], description="two sites")
    data = rng_matrix(5, 2, dtype=np.float32)
    nwbfile.add_acquisition(ElectricalSeries(name="ephys", data=data, electrodes=region, rate=3e4))
    with pynwb.NWBHDF5IO(str(tmp_path / "e.nwb"), "w") as io:
        io.write(nwbfile)
    m = read_signal_matrix(tmp_path / "e.nwb")
    assert m.channels == ["site2", "site0"]
    np.testing.assert_array_equal(m.data, data)


@pytest.mark.nwb
@requires_pynwb
def test_nwb_errors(tmp_path):
    p = make_nwb(tmp_path / "none.nwb")
    with raises_naming(p, "no TimeSeries in acquisition or processing modules"):
        read_signal_matrix(p)
    p = make_nwb(
        tmp_path / "ts.nwb", pynwb.TimeSeries(name="x", data=np.ones((4, 2)), unit="V", timestamps=[0.0, 1.0, 0.5, 2.0])
    )
    with raises_naming(p, r"series 'acquisition/x': timestamps not strictly increasing at index 2 \(1.0 then 0.5\)"):
        read_signal_matrix(p)
    bad = np.ones((4, 2))
    bad[1, 0] = np.inf
    p = make_nwb(tmp_path / "inf.nwb", pynwb.TimeSeries(name="x", data=bad, unit="V", rate=1.0))
    with raises_naming(p, r"1 infinite value, the first at \(row 1, column 0\)"):
        read_signal_matrix(p)
    p = make_nwb(tmp_path / "3d.nwb", pynwb.TimeSeries(name="x", data=np.ones((4, 2, 2)), unit="V", rate=1.0))
    with raises_naming(p, r"got a 3-D array"):
        read_signal_matrix(p)
    (tmp_path / "fake.nwb").write_text("not hdf5")
    with raises_naming(tmp_path / "fake.nwb", "cannot be opened as NWB"):
        read_signal_matrix(tmp_path / "fake.nwb")


def test_nwb_without_pynwb(tmp_path, monkeypatch):
    (tmp_path / "x.nwb").write_bytes(b"\x89HDF\r\n\x1a\n")
    monkeypatch.setitem(sys.modules, "pynwb", None)  # makes `import pynwb` raise ImportError
    with raises_naming(tmp_path / "x.nwb", r"needs pynwb.*pip install neurocine\[nwb\]"):
        read_signal_matrix(tmp_path / "x.nwb")
