"""Spike sorting (motifs sort): preprocessing, Conv-NMF sort against ground truth, quality, job, CLI, real tetrode."""

from __future__ import annotations

import ast
import os
from pathlib import Path

import numpy as np
import pytest
from _cli import cli
from _errors import raises_naming

from neurocine.features.extracellular import preprocess_extracellular, robust_noise
from neurocine.io.signals import read_raw_binary
from neurocine.motifs.scoring import score_against_truth
from neurocine.motifs.simulate import simulate_tetrode
from neurocine.motifs.sorting import SpikeSort, isi_violation_ratio, sort_spikes, template_width, unit_quality

REPO = Path(__file__).resolve().parents[1]


def realdata_file(relative: str) -> Path:
    """A file of the shared real-data folder; skips, saying why, when it is absent."""
    root = Path(os.environ.get("NEUROCINE_REALDATA", REPO.parent / "shared" / "realdata"))
    path = root / relative
    if not path.exists():
        pytest.skip(f"real data {path} absent (set NEUROCINE_REALDATA to the shared realdata folder)")
    return path


@pytest.fixture(scope="module")
def tetrode():
    return simulate_tetrode(0, seconds=6.0)


@pytest.fixture(scope="module")
def sorted_tetrode(tetrode):
    signal = preprocess_extracellular(tetrode.data, tetrode.sampling_rate)
    return signal, sort_spikes(signal.whitened, tetrode.sampling_rate, seed=0)


def _as_amplitudes(trains, t_len):
    a = np.zeros((t_len, len(trains)))
    for k, t in enumerate(trains):
        a[t, k] = 1.0
    return a


def test_preprocessing_gives_unit_white_noise(tetrode):
    signal = preprocess_extracellular(tetrode.data, tetrode.sampling_rate)
    np.testing.assert_allclose(signal.offset, 2000.0, atol=5.0)
    # white noise of std 50 keeps sqrt((5000 - 300) / 7500) of its power in the 300-5000 Hz band
    np.testing.assert_allclose(signal.noise, 50.0 * np.sqrt(4700 / 7500), rtol=0.05)
    np.testing.assert_allclose(robust_noise(signal.whitened), 1.0, atol=0.05)
    quiet = (np.abs(signal.whitened) < 4).all(axis=1)
    np.testing.assert_allclose(np.cov(signal.whitened[quiet].T), np.eye(4), atol=0.1)


def test_sort_recovers_simulated_units(tetrode, sorted_tetrode):
    _, sort = sorted_tetrode
    t_len = len(tetrode.data)
    assert sort.n_units == 3
    est = [sort.train(u) for u in sort.unit_ids]
    score = score_against_truth(
        _as_amplitudes(tetrode.trains, t_len), _as_amplitudes(est, t_len), tolerance=3, min_agreement=0.5
    )
    assert all(row["f1"] >= 0.95 for row in score.per_unit), score.per_unit
    assert score.overall["f1"] >= 0.95


def test_unit_quality_on_simulated_units(tetrode, sorted_tetrode):
    signal, sort = sorted_tetrode
    table = unit_quality(sort, signal.filtered, signal.noise)
    for row in table:
        assert row["isi_violation_ratio"] == 0.0  # the simulated units have a 3 ms refractory period
        assert row["amplitude_drift"] < 0.1  # the same waveform at every spike
        assert 4.0 <= row["firing_rate_hz"] <= 15.0
    # the deepest simulated trough, 14 noise std on wire 3, is the largest SNR (after the band-pass)
    best = max(table, key=lambda r: r["snr"])
    assert best["best_channel"] == 3
    assert 8.0 < best["snr"] < 20.0


def test_isi_violation_ratio_closed_form():
    # 100 spikes 10 ms apart in 1 s plus 2 intervals of 0.5 ms: v * T / (2 n^2 t_r)
    times = np.sort(np.concatenate([np.arange(100) * 150, [7, 157]]))
    ratio = isi_violation_ratio(times, 15000.0, 1.0)
    assert ratio == pytest.approx(2 * 1.0 / (2 * 102**2 * 0.0015))
    assert isi_violation_ratio(np.arange(100) * 150, 15000.0, 1.0) == 0.0


def test_template_width_refuses_under_three_samples():
    assert template_width(2.0, 15000.0) == 30
    with raises_naming("--fs", "2 samples"):
        template_width(2.0, 1000.0, name="--fs")


def test_sort_spikes_refuses_bad_parameters(tetrode):
    x = np.zeros((1000, 4), np.float32)
    with raises_naming("threshold"):
        sort_spikes(x, 15000.0, threshold=-1.0)
    with raises_naming("rank"):
        sort_spikes(x, 15000.0, rank=5)


def test_unit_quality_snr_and_peak_to_peak():
    x = np.zeros((1000, 2), np.float32)
    x[[100, 400, 700], 1] = -8.0
    x[[101, 401, 701], 1] = 4.0
    sort = SpikeSort(
        np.array([100, 400, 700]), np.zeros(3, int), np.array([0]), np.zeros((1, 6, 2)), np.full(3, 8.0), 2, 1000.0
    )
    row = unit_quality(sort, x, np.array([1.0, 2.0]))[0]
    assert row["best_channel"] == 1 and row["peak_to_peak"] == 12.0 and row["snr"] == 4.0


# -- job and CLI -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def raw_file(tmp_path_factory, tetrode):
    path = tmp_path_factory.mktemp("raw") / "tetrode.raw"
    np.round(tetrode.data[: int(3 * tetrode.sampling_rate)]).astype(np.int16).tofile(path)
    return path


def test_raw_reader_and_bad_sizes(raw_file, tmp_path):
    m = read_raw_binary(raw_file, dtype="int16", n_channels=4, sampling_rate=15000.0)
    assert m.data.shape == (45000, 4)
    bad = tmp_path / "odd.raw"
    bad.write_bytes(raw_file.read_bytes()[:-3])
    with raises_naming(bad, "multiple of 8"):
        read_raw_binary(bad, dtype="int16", n_channels=4)


def test_cli_sort_writes_folder_phy_can_read(raw_file, tmp_path):
    out = tmp_path / "sort"
    args = ("--dtype", "int16", "--channels", "4", "--fs", "15000", "--components", "4", "--out", out)
    assert cli("motifs", "sort", raw_file, *args) == 0
    spikes = np.load(out / "spikes.npz")
    assert set(spikes.files) >= {"times", "labels", "unit_ids", "fs"}
    assert spikes["fs"] == 15000.0 and len(spikes["unit_ids"]) == 3
    assert np.all(np.diff(spikes["times"]) >= 0)
    import json

    summary = json.loads((out / "summary.json").read_text())
    units = summary["metrics"]["quality"]
    assert [u["unit"] for u in units] == spikes["unit_ids"].tolist()
    assert max(u["isi_violation_ratio"] for u in units) <= 0.5
    for name in ("waveforms.png", "amplitudes.png", "isi.png", "traces.png", "report.html", "templates.npz"):
        assert (out / name).is_file(), name
    # phy: params.py is Python assignments; the arrays agree with spikes.npz
    params = {}
    for node in ast.parse((out / "phy" / "params.py").read_text()).body:
        params[node.targets[0].id] = ast.literal_eval(node.value)
    assert params["sample_rate"] == 15000.0 and params["n_channels_dat"] == 4 and params["dtype"] == "float32"
    np.testing.assert_array_equal(np.load(out / "phy" / "spike_times.npy"), spikes["times"])
    np.testing.assert_array_equal(np.load(out / "phy" / "spike_clusters.npy"), spikes["labels"])
    assert np.load(out / "phy" / "templates.npy").shape == (3, 30, 4)
    assert (out / "phy" / "recording.dat").stat().st_size == 45000 * 4 * 4


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("--dtype", "int16", "--channels", "7", "--fs", "15000"), "multiple of 14"),
        (("--dtype", "int16", "--channels", "4", "--fs", "1000"), "2 samples"),
        (("--dtype", "int16", "--channels", "4"), "--fs"),
        (("--channels", "4", "--fs", "15000"), "--dtype"),
    ],
)
def test_cli_sort_bad_input_exits_2_and_writes_nothing(raw_file, tmp_path, capfd, args, match):
    out = tmp_path / "sort"
    assert cli("motifs", "sort", raw_file, *args, "--out", out) == 2
    err = capfd.readouterr().err.strip()
    assert str(raw_file) in err and match in err and "\n" not in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []


# -- the real locust tetrode -----------------------------------------------------------------------------


def test_real_tetrode_noise_and_whitening():
    path = realdata_file("locust_tetrode/locust_trial_01.raw")
    m = read_raw_binary(path, dtype="int16", n_channels=4, sampling_rate=15000.0)
    assert m.data.shape == (431548, 4)
    signal = preprocess_extracellular(m.data, 15000.0)
    np.testing.assert_allclose(signal.offset, 2056, atol=5)  # the README's ADC offset
    assert np.all((signal.noise > 40) & (signal.noise < 60))  # README: 45-57 ADC per channel
    np.testing.assert_allclose(robust_noise(signal.whitened), 1.0, atol=0.05)


@pytest.mark.slow
def test_real_tetrode_sort():
    path = realdata_file("locust_tetrode/locust_trial_01.raw")
    m = read_raw_binary(path, dtype="int16", n_channels=4, sampling_rate=15000.0)
    signal = preprocess_extracellular(m.data, 15000.0)
    sort = sort_spikes(signal.whitened, 15000.0, seed=0)
    table = unit_quality(sort, signal.filtered, signal.noise)
    assert 5 <= sort.n_units <= 12  # SpikeInterface's sorters find 5 and 7
    assert max(r["isi_violation_ratio"] for r in table) <= 0.5
    assert 700 <= max(r["peak_to_peak"] for r in table) <= 1200  # README: largest units 700-1100 ADC


@pytest.mark.nwb
def test_nwb_electrical_series_gives_data_and_rate(tmp_path, tetrode):
    import datetime

    pynwb = pytest.importorskip("pynwb")
    from pynwb.ecephys import ElectricalSeries

    from neurocine.motifs.sort_jobs import read_recording

    nwbfile = pynwb.NWBFile(
        session_description="t",
        identifier="tetrode",
        session_start_time=datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC),
    )
    device = nwbfile.create_device(name="tetrode")
    group = nwbfile.create_electrode_group(name="tt", description="d", location="AL", device=device)
    for _ in range(4):
        nwbfile.add_electrode(group=group, location="AL")
    region = nwbfile.create_electrode_table_region(region=[0, 1, 2, 3], description="wires")
    data = np.round(tetrode.data[:3000]).astype(np.int16)
    nwbfile.add_acquisition(ElectricalSeries(name="ephys", data=data, electrodes=region, rate=15000.0))
    with pynwb.NWBHDF5IO(str(tmp_path / "t.nwb"), "w") as io:
        io.write(nwbfile)
    rec = read_recording(tmp_path / "t.nwb")
    assert rec.sampling_rate == 15000.0
    np.testing.assert_array_equal(rec.data, data)
    with raises_naming(tmp_path / "t.nwb", "--dtype"):
        read_recording(tmp_path / "t.nwb", dtype="int16", channels=4)


@pytest.mark.slow
def test_same_seed_same_sort(tetrode, sorted_tetrode):
    signal, sort = sorted_tetrode
    again = sort_spikes(signal.whitened, tetrode.sampling_rate, seed=0)
    np.testing.assert_array_equal(again.times, sort.times)
    np.testing.assert_array_equal(again.labels, sort.labels)
