"""MATLAB input to read_signal_matrix (v5 via scipy, v7.3 via h5py), key=, channels_first=, sampling_rate=."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from _errors import raises_naming
from _realdata import realdata_file
from scipy.io import savemat

from neurocine.errors import InputError
from neurocine.io.signals import read_signal_matrix, write_signal_npz


def write_mat73(path: Path, variables: dict[str, np.ndarray]) -> Path:
    """Write a MATLAB v7.3 file as MATLAB does: a 512-byte MAT header before HDF5 content, each
    array stored transposed (HDF5 is row-major, MATLAB column-major) with its MATLAB_class."""
    h5py = pytest.importorskip("h5py")
    with h5py.File(path, "w", userblock_size=512) as f:
        for name, value in variables.items():
            arr = np.atleast_2d(np.asarray(value, dtype=np.float64))
            ds = f.create_dataset(name, data=arr.T)
            ds.attrs["MATLAB_class"] = np.bytes_("double")
        f.create_group("#refs#")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: test HDF5 schema 1.00 .".ljust(116, b" ")
    header += b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header)
    return path


def neural(n=5, t=40, seed=0):
    """A channels x time array as MATLAB users store it (N, T)."""
    return np.random.default_rng(seed).random((n, t))


def test_mat_v5_key_channels_first_and_rate_key(tmp_path):
    x = neural()
    p = tmp_path / "rec.mat"
    savemat(p, {"NEURAL": x, "VIDEOfs": np.array([[30.0]]), "SONG": neural(3, 90, 1), "name": "bird"})
    m = read_signal_matrix(p, key="NEURAL", channels_first=True, sampling_rate="VIDEOfs", dtype=np.float64)
    np.testing.assert_array_equal(m.data, x.T)  # (T, N) = (40, 5)
    assert m.sampling_rate == 30.0 and m.channels == [f"ch{i}" for i in range(5)] and m.duration == 40 / 30
    # without channels_first the stored layout is read as time-first; a number overrides the rate
    m = read_signal_matrix(p, key="NEURAL", sampling_rate=12.5, dtype=np.float64)
    np.testing.assert_array_equal(m.data, x)
    assert m.sampling_rate == 12.5


def test_mat_v5_only_matrix_is_picked_without_key(tmp_path):
    p = tmp_path / "one.mat"
    savemat(p, {"X": neural(), "fs": 20.0, "label": "x"})
    m = read_signal_matrix(p, channels_first=True, sampling_rate="fs", dtype=np.float64)
    np.testing.assert_array_equal(m.data, neural().T)
    assert m.sampling_rate == 20.0


def test_mat_v73_arrays_come_back_in_matlab_orientation(tmp_path):
    x = neural(4, 30)
    p = write_mat73(tmp_path / "rec73.mat", {"NEURAL": x, "VIDEOfs": np.array(30.0)})
    with open(p, "rb") as fh:  # the file is laid out like MATLAB's: MAT header, HDF5 at byte 512
        head = fh.read(520)
    assert head.startswith(b"MATLAB 7.3") and head[512:520] == b"\x89HDF\r\n\x1a\n"
    m = read_signal_matrix(p, key="NEURAL", channels_first=True, sampling_rate="VIDEOfs", dtype=np.float64)
    np.testing.assert_array_equal(m.data, x.T)  # stored (30, 4) in HDF5 -> MATLAB (4, 30) -> time-first (30, 4)
    assert m.sampling_rate == 30.0
    m = read_signal_matrix(p, key="NEURAL", dtype=np.float64)
    np.testing.assert_array_equal(m.data, x)


def test_mat_missing_key_lists_the_variables(tmp_path):
    p = tmp_path / "rec.mat"
    savemat(p, {"NEURAL": neural(), "SONG": neural(3, 50), "VIDEOfs": 30.0})
    with raises_naming(p, r"no variable 'DATA' \(variables: 'NEURAL', 'SONG', 'VIDEOfs'\); expected key="):
        read_signal_matrix(p, key="DATA")
    with raises_naming(p, r"2 2-D numeric variables \(variables: 'NEURAL', 'SONG', 'VIDEOfs'\); expected key="):
        read_signal_matrix(p)
    with raises_naming(p, r"no variable 'fs' for the sampling rate \(variables: 'NEURAL', 'SONG', 'VIDEOfs'\)"):
        read_signal_matrix(p, key="NEURAL", sampling_rate="fs")
    with raises_naming(p, r"variable 'SONG'.*sampling_rate"):
        read_signal_matrix(p, key="NEURAL", sampling_rate="SONG")
    p73 = write_mat73(tmp_path / "rec73.mat", {"NEURAL": neural(), "VIDEOfs": 30.0})
    with raises_naming(p73, r"no variable 'DATA' \(variables: 'NEURAL', 'VIDEOfs'\)"):
        read_signal_matrix(p73, key="DATA")


def test_mat_v73_without_h5py(tmp_path, monkeypatch):
    p = write_mat73(tmp_path / "rec73.mat", {"NEURAL": neural()})
    monkeypatch.setitem(sys.modules, "h5py", None)  # import h5py now raises ImportError
    with raises_naming(p, r"MATLAB v7\.3 \(HDF5\) file and reading it needs h5py.*pip install h5py"):
        read_signal_matrix(p, key="NEURAL")


def test_mat_garbage_is_one_line(tmp_path):
    p = tmp_path / "junk.mat"
    p.write_bytes(b"not a matlab file at all" * 10)
    with raises_naming(p, r"cannot be read as a MATLAB file"):
        read_signal_matrix(p, key="X")


def test_key_channels_first_rate_for_npz_npy_and_misuse(tmp_path):
    x = neural(3, 20)
    p = write_signal_npz(tmp_path / "a.npz", np.ones((2, 2)), neural=x, fs=np.float64(50.0))
    m = read_signal_matrix(p, key="neural", channels_first=True, sampling_rate="fs", dtype=np.float64)
    np.testing.assert_array_equal(m.data, x.T)
    assert m.sampling_rate == 50.0
    with raises_naming(p, r"no key 'rate' for the sampling rate"):
        read_signal_matrix(p, key="neural", sampling_rate="rate")
    q = tmp_path / "a.npy"
    np.save(q, x)
    np.testing.assert_array_equal(read_signal_matrix(q, channels_first=True, dtype=np.float64).data, x.T)
    with raises_naming(q, r"key='neural': only applies to \.npz and \.mat files"):
        read_signal_matrix(q, key="neural")
    with raises_naming(q, r"sampling_rate='fs': not a number.*\.npy file"):
        read_signal_matrix(q, sampling_rate="fs")
    c = tmp_path / "a.csv"
    c.write_text("1,2\n3,4\n5,6\n")
    with raises_naming(c, r"channels_first: only applies to \.npz, \.npy and \.mat files"):
        read_signal_matrix(c, channels_first=True)
    with pytest.raises(InputError, match=r"sampling_rate=-3.*positive"):
        read_signal_matrix(q, sampling_rate=-3)


def test_songbird_hvc_real_file():
    p = realdata_file("songbird_hvc/MackeviciusData.mat")
    m = read_signal_matrix(p, key="NEURAL", channels_first=True, sampling_rate="VIDEOfs")
    assert m.data.shape == (666, 75) and m.n_timesteps == 666 and m.n_channels == 75
    assert m.sampling_rate == 30.0 and m.data.min() >= 0


def test_select_reads_mat_with_key(tmp_path, capsys):
    """``motifs select`` passes --key/--channels-first/--fs to the reader: a wrong key is refused naming
    the file's variables, and nothing is written."""
    from tests._cli import cli

    p = tmp_path / "rec.mat"
    savemat(p, {"NEURAL": neural(), "VIDEOfs": 30.0})
    args = ["motifs", "select", p, "--channels-first", "--fs", "VIDEOfs", "-k", "1-2", "-d", "3"]
    assert cli(*args, "--key", "DATA", "--out", tmp_path / "sel") == 2
    err = capsys.readouterr().err
    assert "no variable 'DATA' (variables: 'NEURAL', 'VIDEOfs')" in err and not (tmp_path / "sel").exists()
    assert cli(*args, "--key", "NEURAL", "--fs", "fs", "--out", tmp_path / "sel") == 2
    assert "no variable 'fs' for the sampling rate" in capsys.readouterr().err
