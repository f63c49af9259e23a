"""open_stack's axis order (axes=, plane=, channel=): synthetic stacks in every layout and the real
two-photon stack stored time first (TIFF) and time last (HDF5), which must read the same values."""

from __future__ import annotations

import numpy as np
import pytest
from _cli import cli
from _errors import raises_naming
from _realdata import realdata_file

from neurocine.io.imaging import open_stack, time_first_plausible

h5py = pytest.importorskip("h5py")


@pytest.fixture
def movie():
    """(T=7, H=5, W=6) with every value distinct, so a wrong axis order cannot pass."""
    return np.arange(7 * 5 * 6, dtype=np.uint16).reshape(7, 5, 6)


@pytest.mark.parametrize("axes", ["TYX", "YXT", "XYT", "TXY", "YTX"])
def test_every_3d_order_reads_time_first(tmp_path, movie, axes):
    stored = np.transpose(movie, ["TYX".index(a) for a in axes])
    np.save(tmp_path / "m.npy", stored)
    with h5py.File(tmp_path / "m.h5", "w") as f:
        f["movie"] = stored
    for path in (tmp_path / "m.npy", tmp_path / "m.h5"):
        with open_stack(path, axes=axes.lower() if axes == "YXT" else axes) as s:
            assert s.shape == movie.shape
            np.testing.assert_array_equal(s[:], movie)
            np.testing.assert_array_equal(s[3], movie[3])
            np.testing.assert_array_equal(s[1:6:2], movie[1:6:2])
            np.testing.assert_array_equal(s[::-1], movie[::-1])
            np.testing.assert_array_equal(s[[4, 0]], movie[[4, 0]])


def test_volume_plane_and_channel(tmp_path):
    rng = np.random.default_rng(0)
    vol = rng.integers(0, 255, size=(6, 3, 5, 4, 2), dtype=np.uint8)  # T Z Y X C
    with h5py.File(tmp_path / "v.h5", "w") as f:
        f["imaging"] = vol
    with open_stack(tmp_path / "v.h5", axes="TZYXC", plane=2, channel=1) as s:
        assert s.shape == (6, 5, 4)
        np.testing.assert_array_equal(s[:], vol[:, 2, :, :, 1])
        np.testing.assert_array_equal(s[4], vol[4, 2, :, :, 1])
    with raises_naming("plane=", match="0..2"):
        open_stack(tmp_path / "v.h5", axes="TZYXC", plane=3, channel=0)
    with raises_naming("v.h5", match="plane= picking one"):
        open_stack(tmp_path / "v.h5", axes="TZYXC", channel=0)
    with raises_naming("v.h5", match="channel= picking one"):
        open_stack(tmp_path / "v.h5", axes="TZYXC", plane=0)
    with raises_naming("axes='TZYX'", match="one letter per axis"):
        open_stack(tmp_path / "v.h5", key="imaging", axes="TZYX")


def test_bad_axes_and_implausible_layouts(tmp_path, movie):
    np.save(tmp_path / "m.npy", movie)
    for bad in ("TYY", "TQX", "ZYX", 3):
        with raises_naming(f"axes={bad!r}", match="TZYXC"):
            open_stack(tmp_path / "m.npy", axes=bad)
    with raises_naming("m.npy", match="names 5"):
        open_stack(tmp_path / "m.npy", axes="TZYXC")
    with raises_naming("plane=0", match="no Z axis"):
        open_stack(tmp_path / "m.npy", plane=0)
    # 20 frames of 128 x 256 stored last: refused without axes=, read with it or with an explicit TYX
    np.save(tmp_path / "yxt.npy", np.zeros((128, 256, 20), np.uint16))
    with raises_naming("yxt.npy", match="axes='YXT'"):
        open_stack(tmp_path / "yxt.npy")
    assert open_stack(tmp_path / "yxt.npy", axes="YXT").shape == (20, 128, 256)
    assert open_stack(tmp_path / "yxt.npy", axes="TYX").shape == (128, 256, 20)
    assert time_first_plausible((20, 128, 256)) and time_first_plausible((2330, 480, 640))
    assert not time_first_plausible((128, 256, 20)) and not time_first_plausible((64, 64, 10))


def test_imaging_dff_cli_reads_a_time_last_stack(tmp_path, movie):
    wf = 100.0 + np.random.default_rng(1).random((10, 16, 16))
    np.save(tmp_path / "wf.npy", np.moveaxis(wf, 0, -1))  # (16, 16, 10): Y X T
    assert cli("imaging", "dff", tmp_path / "wf.npy", "--out", tmp_path / "bad", "--window", 4, "--bin", 1) == 2
    assert not (tmp_path / "bad").exists()
    args = ("--window", 4, "--bin", 1, "--blur", 0)
    assert cli("imaging", "dff", tmp_path / "wf.npy", "--axes", "YXT", "--out", tmp_path / "o", *args) == 0
    np.save(tmp_path / "tyx.npy", wf)
    assert cli("imaging", "dff", tmp_path / "tyx.npy", "--out", tmp_path / "ref", *args) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "dff.npy"), np.load(tmp_path / "ref" / "dff.npy"))


def test_real_two_photon_tif_and_h5_hold_the_same_movie():
    tif = realdata_file("two_photon/example.tif")
    h5 = realdata_file("two_photon/example.h5")
    with raises_naming("example.h5", match="does not look time first"):
        open_stack(h5)  # stored (128, 256, 20): read as TYX it would be 128 frames of 256 x 20
    with open_stack(tif) as a, open_stack(h5, axes="YXT") as b:
        assert a.shape == b.shape == (20, 128, 256)
        assert a.dtype == b.dtype == np.uint16
        ref = a[:]
        np.testing.assert_array_equal(b[:], ref)
        np.testing.assert_array_equal(b[7], ref[7])
        np.testing.assert_array_equal(b[2:15:4], ref[2:15:4])
    # what the source documents: 12-bit values (at most 4095) around a mean near 1096
    assert ref.max() <= 4095 and 1090 < ref.mean() < 1100
    # every (noisy) frame shows the same field: it correlates with the mean frame (r >= 0.25 on this stack)
    mean = ref.mean(axis=0).ravel()
    assert min(np.corrcoef(mean, frame.ravel())[0, 1] for frame in ref.astype(np.float64)) > 0.2


def test_real_two_photon_volume_uses_its_dimension_labels():
    path = realdata_file("two_photon/example-volume.h5")
    with h5py.File(path) as f:
        raw = f["imaging"][()]  # t z y x c, labelled in the file
    with open_stack(path, plane=1, channel=1) as s:
        assert s.shape == (10, 64, 64)
        np.testing.assert_array_equal(s[:], raw[:, 1, :, :, 1])
    with open_stack(path, axes="TZYXC", plane=2, channel=0) as s:
        np.testing.assert_array_equal(s[3:5], raw[3:5, 2, :, :, 0])
    with raises_naming("example-volume.h5", match="plane= picking one"):
        open_stack(path, channel=0)


def test_video_motion_reads_a_frames_last_array_with_axes(tmp_path):
    from neurocine.features.motion import motion_energy

    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(9, 12, 16)).astype(np.uint8)
    np.save(tmp_path / "yxt.npy", np.moveaxis(frames, 0, -1))  # stored (H, W, T)
    assert cli("video", "motion", tmp_path / "yxt.npy", "--out", tmp_path / "refused") == 2
    assert cli("video", "motion", tmp_path / "yxt.npy", "--axes", "YXT", "--out", tmp_path / "o") == 0
    got = np.load(tmp_path / "o" / "motion.npz")["motion_energy"][:, 0]
    np.testing.assert_allclose(got, motion_energy(frames.astype(float))[:, 0], rtol=1e-6, atol=1e-9)
