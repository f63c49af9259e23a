"""suite2p plane folders as (T, n) traces: read_suite2p, read_signal_matrix on a folder, and the jobs
(motifs fit, encode) that take one as their neural input."""

from __future__ import annotations

import numpy as np
import pytest
from _cli import cli
from _errors import raises_naming
from _realdata import realdata_file

from neurocine.io.signals import read_signal_matrix
from neurocine.io.suite2p import parse_suite2p_key, read_suite2p


@pytest.fixture
def plane(tmp_path):
    """A tiny plane folder: 4 ROIs x 30 frames, ROIs 1 and 3 cells; F = 100 + 10 * ROI + frame."""
    d = tmp_path / "suite2p" / "plane0"
    d.mkdir(parents=True)
    t = np.arange(30, dtype=np.float32)
    F = 100.0 + 10.0 * np.arange(4, dtype=np.float32)[:, None] + t
    np.save(d / "F.npy", F)
    np.save(d / "Fneu.npy", np.full_like(F, 20.0) + 0.5 * t)
    np.save(d / "spks.npy", np.tile((t % 7 == 0).astype(np.float32), (4, 1)) * np.arange(1, 5)[:, None])
    np.save(d / "iscell.npy", np.array([[0, 0.1], [1, 0.9], [0, 0.6], [1, 0.7]]))
    np.save(d / "ops.npy", np.array({"fs": 15.0, "nframes": 30}, dtype=object), allow_pickle=True)
    return d


def test_cells_traces_and_neuropil(plane):
    m = read_suite2p(plane)
    assert m.data.shape == (30, 2) and m.channels == ["roi1", "roi3"] and m.sampling_rate == 15.0
    t = np.arange(30)
    np.testing.assert_allclose(m.data[:, 0], 110.0 + t)
    c = read_suite2p(plane, neuropil=0.7)
    np.testing.assert_allclose(c.data[:, 1], 130.0 + t - 0.7 * (20.0 + 0.5 * t), rtol=1e-6)
    s = read_suite2p(plane.parent, trace="spks", cells_only=False)  # suite2p/ with one plane
    assert s.data.shape == (30, 4)
    np.testing.assert_array_equal(s.data[7], [1, 2, 3, 4])
    assert read_suite2p(plane, min_probability=0.65).channels == ["roi1", "roi3"]
    assert read_suite2p(plane, min_probability=0.5).channels == ["roi1", "roi2", "roi3"]


def test_read_signal_matrix_reads_a_folder_with_key(plane):
    np.testing.assert_array_equal(read_signal_matrix(plane).data, read_suite2p(plane).data)
    m = read_signal_matrix(plane, key="F-0.7*Fneu", dtype=np.float64)
    np.testing.assert_allclose(m.data, read_suite2p(plane, neuropil=0.7, dtype=np.float64).data)
    assert read_signal_matrix(plane, key="all:spks", sampling_rate=30).sampling_rate == 30.0
    assert parse_suite2p_key("F - 0.5 Fneu") == {"trace": "F", "neuropil": 0.5, "cells_only": True}


def test_bad_folders(plane, tmp_path):
    with raises_naming("key='dff'", match="F-0.7\\*Fneu"):
        read_signal_matrix(plane, key="dff")
    with raises_naming("series='x'"):
        read_signal_matrix(plane, series="x")
    with raises_naming(str(tmp_path), match="not a suite2p plane"):
        read_signal_matrix(tmp_path)
    with raises_naming("neuropil=0.7", match="trace='F' only"):
        read_suite2p(plane, trace="spks", neuropil=0.7)
    np.save(plane / "iscell.npy", np.zeros((4, 2)))
    with raises_naming("iscell.npy", match="no ROI of 4"):
        read_suite2p(plane)
    np.save(plane / "iscell.npy", np.zeros((3, 2)))
    with raises_naming("iscell.npy", match="expected \\(4, 2\\)"):
        read_suite2p(plane)
    np.save(plane / "iscell.npy", np.ones((4, 2)))
    (plane / "Fneu.npy").unlink()
    with raises_naming("Fneu.npy", match="file not found"):
        read_suite2p(plane, neuropil=0.7)


def test_motifs_fit_reads_a_suite2p_folder(plane, tmp_path):
    out = tmp_path / "fit"
    args = ("--components", 1, "--width", 3, "--max-iter", 5)
    assert cli("motifs", "fit", plane, "--out", out, "--key", "all:spks", *args) == 0
    assert cli("motifs", "fit", plane, "--out", tmp_path / "bad", "--key", "dff", *args) == 2
    assert not (tmp_path / "bad").exists()


def test_real_plane_known_properties():
    folder = realdata_file("suite2p_plane0")
    m = read_suite2p(folder)
    assert m.data.shape == (2000, 20) and m.data.dtype == np.float32  # 219 ROIs, 20 flagged as cells
    assert m.channels[0] == "roi75" and m.channels[-1] == "roi210"
    F = np.load(folder / "F.npy")
    np.testing.assert_array_equal(m.data[:, 0], F[75])
    every = read_signal_matrix(folder, key="all:F")
    assert every.data.shape == (2000, 219)
    corrected = read_signal_matrix(folder, key="F-0.7*Fneu", dtype=np.float64)
    Fneu = np.load(folder / "Fneu.npy")
    np.testing.assert_allclose(corrected.data[:, 0], F[75] - 0.7 * Fneu[75].astype(np.float64), rtol=1e-6)
    # neuropil correction lowers the cells' fluorescence (the neuropil is positive everywhere)
    assert (corrected.data.mean(axis=0) < m.data.mean(axis=0)).all()
    spks = read_signal_matrix(folder, key="spks")
    assert spks.data.min() >= 0  # deconvolved activity is non-negative


def test_encode_reads_a_suite2p_folder_as_neural_traces(plane, tmp_path):
    from neurocine.encode.jobs import load_encode_config, prepare_data

    t = np.arange(30.0)
    np.savetxt(tmp_path / "beh.csv", np.c_[np.sin(t / 3), np.cos(t / 5)], delimiter=",", header="a,b", comments="")
    (tmp_path / "encode.toml").write_text(
        f'[behaviour]\npath = "beh.csv"\n[neural]\npath = "{plane}"\nkind = "traces"\nkey = "F-0.7*Fneu"\n'
        '[design]\nkernel = "none"\n'
    )
    data = prepare_data(load_encode_config(tmp_path / "encode.toml"))
    assert data.target_names == ["roi1", "roi3"] and data.fps == 15.0  # ops.npy's fs
    np.testing.assert_allclose(data.Y[:, 0], 110.0 + t - 0.7 * (20.0 + 0.5 * t), rtol=1e-6)
