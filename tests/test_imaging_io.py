"""Tests for neurocine.io.imaging: every stack format round-trips, NWB writers, facemap/wfield interop, errors."""

from __future__ import annotations

import datetime
import re

import h5py
import numpy as np
import pytest
import tifffile
from _errors import raises_naming

from neurocine.errors import InputError
from neurocine.features.widefield import dff
from neurocine.io.imaging import (
    ImageStack,
    align_facemap_motion,
    export_motion_svd_nwb,
    open_stack,
    read_facemap_masks,
    read_facemap_proc,
    read_roi_traces,
    read_wfield_svd,
    reconstruct_frames,
    write_features_nwb,
)
from neurocine.io.signals import read_signal_matrix

try:
    import pynwb
except ImportError:  # the nwb extra is optional
    pynwb = None
requires_pynwb = pytest.mark.skipif(pynwb is None, reason="needs the nwb extra (pynwb)")

try:
    import zarr
except ImportError:
    zarr = None
requires_zarr = pytest.mark.skipif(zarr is None, reason="needs zarr")

START = datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)


def stack_data(t=9, h=5, w=6, dtype=np.uint16, seed=0):
    return np.random.default_rng(seed).integers(1, 1000, size=(t, h, w)).astype(dtype)


def check_stack(s, data):
    """Slicing an ImageStack behaves like slicing the numpy array."""
    assert isinstance(s, ImageStack)
    assert s.shape == data.shape and len(s) == data.shape[0] and s.ndim == 3
    assert s.dtype == data.dtype
    np.testing.assert_array_equal(s[:], data)
    for key in [
        0,
        -1,
        slice(2, 5),
        slice(None, None, 2),
        slice(7, 1, -2),
        slice(3, 3),
        [4, 0, 4],
        np.arange(data.shape[0]) % 2 == 0,
        (slice(1, 4), 2),
        (Ellipsis, 1),
        (2, slice(1, 3), 0),
    ]:
        np.testing.assert_array_equal(s[key], data[key], err_msg=repr(key))
    starts = []
    for start, block in s.iter_chunks(4):
        np.testing.assert_array_equal(block, data[start : start + 4])
        starts.append(start)
    assert starts == list(range(0, data.shape[0], 4))
    np.testing.assert_array_equal(np.asarray(s), data)


# ---------------------------------------------------------------------------
# formats
# ---------------------------------------------------------------------------
def test_npy_round_trip(tmp_path):
    data = stack_data()
    np.save(tmp_path / "m.npy", data)
    with open_stack(tmp_path / "m.npy") as s:
        check_stack(s, data)
        assert isinstance(s._data, np.memmap)
        assert s.rate is None and s.frame_times is None


@pytest.mark.parametrize("kind", ["contiguous", "imagej", "zlib", "pages"])
def test_tiff_round_trip(tmp_path, kind):
    data = stack_data()
    p = tmp_path / "m.tif"
    if kind == "contiguous":
        tifffile.imwrite(p, data, photometric="minisblack")
    elif kind == "imagej":
        tifffile.imwrite(p, data, imagej=True, metadata={"axes": "TYX", "finterval": 0.05})
    elif kind == "zlib":
        tifffile.imwrite(p, data, photometric="minisblack", compression="zlib")
    else:
        for frame in data:
            tifffile.imwrite(p, frame, append=True, photometric="minisblack", metadata=None)
    with open_stack(p) as s:
        check_stack(s, data)
        if kind in ("contiguous", "imagej"):
            assert isinstance(s._data, np.memmap)  # memory-mapped
        else:
            assert not isinstance(s._data, np.ndarray)  # read page by page
        if kind == "imagej":
            assert s.rate == pytest.approx(20.0)
            np.testing.assert_allclose(s.frame_times, np.arange(9) * 0.05)


def test_tiff_bad_shapes(tmp_path):
    tifffile.imwrite(tmp_path / "one.tif", stack_data()[0])
    with raises_naming(tmp_path / "one.tif", r"got a 2-D array of shape \(5, 6\); expected a 3-D \(T, H, W\)"):
        open_stack(tmp_path / "one.tif")
    tifffile.imwrite(tmp_path / "rgb.tif", np.zeros((4, 5, 3), np.uint8), photometric="rgb")
    with raises_naming(tmp_path / "rgb.tif", r"axes 'YXS' and shape \(4, 5, 3\) \(colour samples\)"):
        open_stack(tmp_path / "rgb.tif")
    tifffile.imwrite(tmp_path / "ok.tif", stack_data(), photometric="minisblack")
    with raises_naming("key=3", r"expected an integer 0\.\.0"):
        open_stack(tmp_path / "ok.tif", key=3)
    (tmp_path / "junk.tif").write_bytes(b"not a tiff at all")
    with raises_naming(tmp_path / "junk.tif", r"cannot be read as TIFF"):
        open_stack(tmp_path / "junk.tif")


def test_hdf5_round_trip_keys_and_rate(tmp_path):
    data = stack_data(dtype=np.float32)
    p = tmp_path / "m.h5"
    with h5py.File(p, "w") as fh:
        ds = fh.create_dataset("imaging/frames", data=data, chunks=(2, 5, 6))
        ds.attrs["sampling_rate"] = 30.0
        fh.create_dataset("trace", data=np.zeros(9))
    with open_stack(p) as s:
        check_stack(s, data)
        assert s.rate == 30.0 and s.name == "imaging/frames"
    with open_stack(p, key="/imaging/frames") as s:
        np.testing.assert_array_equal(s[3], data[3])
    with h5py.File(p, "a") as fh:
        fh.create_dataset("other", data=data[:2])
    with raises_naming(p, r"2 3-D datasets \(imaging/frames \(9, 5, 6\), other \(2, 5, 6\)\); expected key="):
        open_stack(p)
    with raises_naming("key='nope'", r"not found in .*m\.h5 \(datasets: imaging/frames \(9, 5, 6\), other"):
        open_stack(p, key="nope")
    with raises_naming("key='imaging'", r"a group in"):
        open_stack(p, key="imaging")
    with raises_naming(p, r"dataset 'trace'.*got a 1-D array of shape \(9,\); expected a 3-D"):
        open_stack(p, key="trace")
    q = tmp_path / "none.hdf5"
    with h5py.File(q, "w") as fh:
        fh.create_dataset("x", data=np.zeros((3, 4)))
    with raises_naming(q, r"no 3-D dataset \(datasets: x \(3, 4\)\)"):
        open_stack(q)


@requires_zarr
def test_zarr_round_trip_group_and_array(tmp_path):
    data = stack_data(dtype=np.int16)
    g = zarr.open_group(tmp_path / "g.zarr", mode="w")
    arr = g.create_group("sub").create_array("movie", shape=data.shape, dtype=data.dtype, chunks=(4, 5, 6))
    arr[:] = data
    arr.attrs["rate"] = 15.0
    with open_stack(tmp_path / "g.zarr") as s:
        check_stack(s, data)
        assert s.rate == 15.0 and s.name == "sub/movie"
    np.testing.assert_array_equal(open_stack(tmp_path / "g.zarr", key="sub/movie")[2], data[2])
    with raises_naming("key='x'", r"not an array in .*g\.zarr \(arrays: sub/movie \(9, 5, 6\)\)"):
        open_stack(tmp_path / "g.zarr", key="x")
    zarr.save_array(tmp_path / "a.zarr", data)
    check_stack(open_stack(tmp_path / "a.zarr"), data)
    with raises_naming("key='movie'", r"single zarr array"):
        open_stack(tmp_path / "a.zarr", key="movie")


def test_bad_inputs_common(tmp_path):
    with raises_naming(tmp_path / "missing.npy", r"file not found"):
        open_stack(tmp_path / "missing.npy")
    (tmp_path / "x.avi").write_bytes(b"1")
    with raises_naming(tmp_path / "x.avi", r"unknown extension '\.avi'; expected one of \.tif, \.tiff, \.npy"):
        open_stack(tmp_path / "x.avi")
    (tmp_path / "e.npy").write_bytes(b"")
    with raises_naming(tmp_path / "e.npy", r"file is empty"):
        open_stack(tmp_path / "e.npy")
    np.save(tmp_path / "zero.npy", np.zeros((0, 4, 4)))
    with raises_naming(tmp_path / "zero.npy", r"has 0 frames \(shape \(0, 4, 4\)\)"):
        open_stack(tmp_path / "zero.npy")
    np.save(tmp_path / "flat.npy", np.zeros((4, 4)))
    with raises_naming(tmp_path / "flat.npy", r"got a 2-D array of shape \(4, 4\)"):
        open_stack(tmp_path / "flat.npy")
    np.save(tmp_path / "col.npy", np.zeros((2, 4, 4, 3)))
    with raises_naming(tmp_path / "col.npy", r"got a 4-D array of shape \(2, 4, 4, 3\)"):
        open_stack(tmp_path / "col.npy")
    np.save(tmp_path / "str.npy", np.array([[["a"]]]))
    with raises_naming(tmp_path / "str.npy", r"non-numeric dtype <U1"):
        open_stack(tmp_path / "str.npy")
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with raises_naming(tmp_path / "obj.npy", r"cannot be read as a numeric \.npy"):
        open_stack(tmp_path / "obj.npy")
    np.save(tmp_path / "ok.npy", np.zeros((2, 3, 3)))
    with raises_naming("series='x'", r"only applies to \.nwb files"):
        open_stack(tmp_path / "ok.npy", series="x")
    with raises_naming("key='x'", r"does not apply to \.npy files"):
        open_stack(tmp_path / "ok.npy", key="x")


def test_stack_index_errors_and_chunk_size(tmp_path):
    np.save(tmp_path / "m.npy", stack_data())
    s = open_stack(tmp_path / "m.npy")
    with pytest.raises(IndexError):
        s[9]
    with pytest.raises(IndexError):
        s[[0, 12]]
    with pytest.raises(InputError, match=r"^chunk_size: got 0"):
        next(s.iter_chunks(0))
    s.close()


def test_dff_runs_on_a_lazy_stack(tmp_path):
    data = stack_data(t=20).astype(np.float32) + 100
    tifffile.imwrite(tmp_path / "m.tif", data, photometric="minisblack", compression="zlib")
    with open_stack(tmp_path / "m.tif") as s, h5py.File(tmp_path / "out.h5", "w") as fh:
        np.testing.assert_allclose(dff(s, 5, chunk_size=3), dff(data, 5), rtol=1e-6)
        out = fh.create_dataset("dff", shape=data.shape, dtype="f4")  # a writer: results go straight to disk
        dff(s, 5, mode="block", chunk_size=4, out=out)
        np.testing.assert_allclose(out[:], dff(data, 5, mode="block"), rtol=1e-6)


# ---------------------------------------------------------------------------
# NWB
# ---------------------------------------------------------------------------
def write_nwb(path, acquisition=(), processing=(), build=None):
    nwbfile = pynwb.NWBFile(session_description="test", identifier="neurocine-test", session_start_time=START)
    for obj in acquisition:
        nwbfile.add_acquisition(obj)
    if processing:
        mod = nwbfile.create_processing_module(name="ophys", description="processed")
        for obj in processing:
            mod.add(obj)
    if build is not None:
        build(nwbfile)
    with pynwb.NWBHDF5IO(str(path), "w") as io:
        io.write(nwbfile)
    return path


def imaging_plane(nwbfile):
    from pynwb.ophys import OpticalChannel

    device = nwbfile.create_device(name="scope")
    channel = OpticalChannel(name="green", description="gcamp", emission_lambda=525.0)
    return nwbfile.create_imaging_plane(
        name="plane",
        optical_channel=channel,
        description="v1",
        device=device,
        excitation_lambda=920.0,
        indicator="GCaMP6s",
        location="V1",
        imaging_rate=30.0,
    )


@requires_pynwb
@pytest.mark.nwb
@pytest.mark.parametrize("kind", ["TwoPhotonSeries", "OnePhotonSeries", "ImageSeries"])
def test_nwb_image_series_round_trip(tmp_path, kind):
    from pynwb.image import ImageSeries
    from pynwb.ophys import OnePhotonSeries, TwoPhotonSeries

    data = stack_data()
    p = tmp_path / f"{kind}.nwb"

    def build(nwbfile):
        if kind == "ImageSeries":
            ts = ImageSeries(name="movie", data=data, unit="n.a.", format="raw", rate=30.0, starting_time=2.0)
        else:
            cls = TwoPhotonSeries if kind == "TwoPhotonSeries" else OnePhotonSeries
            ts = cls(
                name="movie", data=data, unit="a.u.", imaging_plane=imaging_plane(nwbfile), rate=30.0, starting_time=2.0
            )
        nwbfile.add_acquisition(ts)

    write_nwb(p, build=build)
    with open_stack(p) as s:
        check_stack(s, data)
        assert s.name == "acquisition/movie" and s.rate == 30.0
        np.testing.assert_allclose(s.frame_times, 2.0 + np.arange(9) / 30.0)
        assert isinstance(s._data, h5py.Dataset)  # lazy
    with open_stack(p, series="movie") as s:
        np.testing.assert_array_equal(s[4], data[4])


@requires_pynwb
@pytest.mark.nwb
def test_nwb_selection_conversion_timestamps_and_errors(tmp_path):
    from pynwb.image import ImageSeries

    data = stack_data(t=6)
    ts = np.cumsum(np.full(6, 0.04)) + 1.0
    stim = ImageSeries(name="stimulus_movie", data=data[:, :3, :3], unit="n.a.", format="raw", timestamps=ts)
    raw = ImageSeries(name="raw", data=data, unit="V", format="raw", rate=10.0, conversion=0.5, offset=1.0)
    p = write_nwb(tmp_path / "two.nwb", acquisition=[raw], build=lambda f: f.add_stimulus(stim, use_sweep_table=False))
    with raises_naming(
        p,
        r"2 image series \(acquisition/raw \(ImageSeries\), stimulus/stimulus_movie "
        r"\(ImageSeries\)\); expected series= naming one",
    ):
        open_stack(p)
    with open_stack(p, series="raw") as s:
        assert s.dtype == np.float32
        np.testing.assert_allclose(s[:], data * 0.5 + 1.0)
    with open_stack(p, series="stimulus/stimulus_movie") as s:
        np.testing.assert_array_equal(s[:], data[:, :3, :3])
        np.testing.assert_allclose(s.timestamps, ts)
        assert s.rate is None
    with raises_naming(
        "series='dff'",
        r"not found in .*two\.nwb \(image series: acquisition/raw, "
        r"stimulus/stimulus_movie\); expected one of these names",
    ):
        open_stack(p, series="dff")
    q = write_nwb(
        tmp_path / "none.nwb", acquisition=[pynwb.TimeSeries(name="lfp", data=np.zeros((5, 2)), unit="V", rate=1.0)]
    )
    with raises_naming(q, r"no ImageSeries .* \(other TimeSeries: acquisition/lfp \(TimeSeries\)\)"):
        open_stack(q)
    rgb = write_nwb(
        tmp_path / "rgb.nwb",
        acquisition=[ImageSeries(name="m", data=np.zeros((5, 4, 3, 3)), unit="n.a.", format="raw", rate=1.0)],
    )
    with raises_naming(rgb, r"series 'acquisition/m': got a 4-D array of shape \(5, 4, 3, 3\)"):
        open_stack(rgb)
    (tmp_path / "bad.nwb").write_bytes(b"garbage")
    with raises_naming(tmp_path / "bad.nwb", r"cannot be opened as NWB"):
        open_stack(tmp_path / "bad.nwb")


@requires_pynwb
@pytest.mark.nwb
def test_read_roi_traces(tmp_path):
    from pynwb.ophys import Fluorescence, ImageSegmentation

    traces = np.random.default_rng(1).normal(size=(12, 3))
    movie = stack_data(t=12)

    def build(nwbfile):
        plane = imaging_plane(nwbfile)
        from pynwb.ophys import TwoPhotonSeries

        nwbfile.add_acquisition(TwoPhotonSeries(name="raw", data=movie, unit="a.u.", imaging_plane=plane, rate=30.0))
        mod = nwbfile.create_processing_module(name="ophys", description="ophys")
        seg = ImageSegmentation()
        ps = seg.create_plane_segmentation(name="cells", description="rois", imaging_plane=plane)
        for _ in range(3):
            ps.add_roi(image_mask=np.ones((5, 6)))
        mod.add(seg)
        region = ps.create_roi_table_region(region=[0, 1, 2], description="all")
        fluo = Fluorescence()
        mod.add(fluo)
        fluo.create_roi_response_series(name="dff", data=traces, rois=region, unit="a.u.", rate=30.0, starting_time=0.5)
        mod.add(pynwb.TimeSeries(name="speed", data=np.zeros(12), unit="m/s", rate=30.0))

    p = write_nwb(tmp_path / "ophys.nwb", build=build)
    m = read_roi_traces(p)
    np.testing.assert_allclose(m.data, traces, rtol=1e-6)
    assert m.sampling_rate == 30.0
    np.testing.assert_allclose(m.timestamps, 0.5 + np.arange(12) / 30.0)
    speed = read_roi_traces(p, series="speed", dtype=None)
    assert speed.data.shape == (12, 1)
    with raises_naming("series='nope'", r"not found in .*ophys\.nwb \(TimeSeries: processing/ophys/Fluorescence/dff"):
        read_roi_traces(p, series="nope")
    with raises_naming(tmp_path / "x.npy", r"file not found"):
        read_roi_traces(tmp_path / "x.npy")


# -- writers -----------------------------------------------------------------
@requires_pynwb
@pytest.mark.nwb
def test_write_features_nwb_columns_with_timestamps(tmp_path):
    feats = np.random.default_rng(2).normal(size=(20, 3))
    ts = 10.0 + np.arange(20) / 30.0 + np.r_[0.0, 0.004, np.zeros(18)]  # one frame late: an irregular clock
    p = write_features_nwb(
        tmp_path / "out" / "feat.nwb", feats, ["whisk_me", "jaw_me", "pupil"], timestamps=ts, session_start_time=START
    )
    assert p.exists() and not [f for f in p.parent.iterdir() if ".tmp" in f.name]
    with pynwb.NWBHDF5IO(str(p), "r") as io:
        nwb = io.read()
        bts = nwb.processing["behavior"]["BehavioralTimeSeries"]
        assert sorted(bts.time_series) == ["jaw_me", "pupil", "whisk_me"]
        np.testing.assert_allclose(bts["jaw_me"].data[:], feats[:, 1])
        np.testing.assert_allclose(bts["pupil"].timestamps[:], ts)
        assert nwb.session_start_time == START
    m = read_signal_matrix(p, series="whisk_me", dtype=None)
    np.testing.assert_allclose(m.data[:, 0], feats[:, 0])
    np.testing.assert_allclose(m.timestamps, ts)
    # regular timestamps are stored as starting_time and rate (NWB best practice)
    q = write_features_nwb(tmp_path / "reg.nwb", feats, ["a", "b", "c"], timestamps=10.0 + np.arange(20) / 30.0)
    with pynwb.NWBHDF5IO(str(q), "r") as io:
        ts_b = io.read().processing["behavior"]["BehavioralTimeSeries"]["b"]
        assert ts_b.timestamps is None and ts_b.starting_time == 10.0 and ts_b.rate == pytest.approx(30.0)


@requires_pynwb
@pytest.mark.nwb
def test_write_features_nwb_groups_rate_and_source(tmp_path):
    src = write_nwb(
        tmp_path / "session.nwb", acquisition=[pynwb.TimeSeries(name="lfp", data=np.zeros(4), unit="V", rate=1.0)]
    )
    groups = {"motion_svd": np.arange(30.0).reshape(10, 3), "pupil_area": np.arange(10.0)}
    p = write_features_nwb(tmp_path / "feat.nwb", groups, rate=30.0, starting_time=1.0, source_nwb=src)
    with pynwb.NWBHDF5IO(str(p), "r") as io:
        nwb = io.read()
        bts = nwb.processing["behavior"]["BehavioralTimeSeries"]
        assert bts["motion_svd"].data.shape == (10, 3) and bts["pupil_area"].data.shape == (10,)
        assert bts["motion_svd"].rate == 30.0 and bts["motion_svd"].starting_time == 1.0
        assert nwb.session_start_time == START and "neurocine-test" in nwb.notes
    # the file is replaced atomically on a second write
    write_features_nwb(p, np.ones((4, 1)), ["x"], rate=2.0)
    with pynwb.NWBHDF5IO(str(p), "r") as io:
        assert list(io.read().processing["behavior"]["BehavioralTimeSeries"].time_series) == ["x"]


@requires_pynwb
@pytest.mark.nwb
def test_write_features_nwb_bad_inputs(tmp_path):
    p = tmp_path / "f.nwb"
    x = np.ones((5, 2))
    cases = [
        (lambda: write_features_nwb(p, x, ["a"], rate=1.0), r"^names: got 1 names; expected a list of 2 names"),
        (lambda: write_features_nwb(p, x, ["a", "a"], rate=1.0), r"^names: \['a'\] appear more than once"),
        (lambda: write_features_nwb(p, x, ["a", "b/c"], rate=1.0), r"^names\[1\]: got 'b/c'; expected"),
        (lambda: write_features_nwb(p, x, ["a", "b"]), r"^timestamps/rate: got neither; expected exactly one"),
        (lambda: write_features_nwb(p, x, ["a", "b"], rate=1.0, timestamps=np.arange(5.0)), r"got both"),
        (
            lambda: write_features_nwb(p, x, ["a", "b"], timestamps=np.arange(4.0)),
            r"^timestamps: timestamps have shape \(4,\); expected \(5,\)",
        ),
        (
            lambda: write_features_nwb(p, {"a": x, "b": np.ones(4)}, rate=1.0),
            r"^features\['b'\]: has 4 rows; expected 5",
        ),
        (lambda: write_features_nwb(p, {"a": x}, ["a"], rate=1.0), r"^names: given with a mapping"),
        (lambda: write_features_nwb(p, x[:, 0], ["a"], rate=1.0), r"^features: got a 1-D array"),
        (
            lambda: write_features_nwb(p, x, ["a", "b"], rate=1.0, source_nwb=tmp_path / "no.nwb"),
            r"^source_nwb=.*no\.nwb': file not found",
        ),
    ]
    for call, pattern in cases:
        with pytest.raises(InputError) as info:
            call()
        msg = str(info.value)
        assert "\n" not in msg and re.search(pattern, msg), msg
    assert not list(tmp_path.iterdir())


@requires_pynwb
@pytest.mark.nwb
def test_export_motion_svd_nwb(tmp_path):
    rng = np.random.default_rng(4)
    temporal = rng.normal(size=(15, 4))
    masks = rng.normal(size=(4, 6, 7))
    p = export_motion_svd_nwb(
        tmp_path / "svd.nwb", temporal, masks, rate=50.0, downsampling_factor=4, session_start_time=START
    )
    with pynwb.NWBHDF5IO(str(p), "r") as io:
        beh = io.read().processing["behavior"]
        series = beh["MotionSVDSeries"]
        np.testing.assert_allclose(series.data[:], temporal)
        assert series.rate == 50.0
        imgs = beh["MotionSVDMasks"]
        names = [img.name for img in imgs.order_of_images.data]
        assert names == [f"component_{j}" for j in range(4)]
        for j, name in enumerate(names):
            np.testing.assert_allclose(imgs.images[name].data[:], masks[j])
        assert "downsampling_factor=4.0" in imgs.description and "[0.0, 0.0, 7.0, 6.0]" in imgs.description
    with raises_naming("svd_masks", r"has 3 masks \(shape \(3, 6, 7\)\) but svd_temporal has k=4"):
        export_motion_svd_nwb(tmp_path / "x.nwb", temporal, masks[:3], rate=50.0)
    with raises_naming("svd_masks", r"got shape \(6, 7\)"):
        export_motion_svd_nwb(tmp_path / "x.nwb", temporal, masks[0], rate=50.0)


# ---------------------------------------------------------------------------
# facemap and wfield
# ---------------------------------------------------------------------------
def fake_proc(tmp_path, t=25):
    rng = np.random.default_rng(5)
    proc = {
        "filenames": [["face.avi"]],
        "Ly": [40],
        "Lx": [50],
        "sbin": 4,
        "avgframe": [rng.random(100)],
        "avgmotion": [rng.random(100)],
        "motion": [np.zeros(0), rng.random(t), rng.random(t)],  # no multivideo, two ROIs
        "motSVD": [rng.normal(size=(t, 5)), rng.normal(size=(t, 3)), rng.normal(size=(t, 3))],
        "motMask_reshape": [rng.normal(size=(10, 12, 5)), rng.normal(size=(4, 5, 3)), rng.normal(size=(3, 3, 3))],
        "pupil": [
            {
                "area": rng.random(t),
                "area_smooth": rng.random(t),
                "com": rng.random((t, 2)),
                "axdir": rng.random((t, 2, 2)),
            }
        ],
        "running": [rng.random((t, 2))],
        "rois": [{"rtype": "motion SVD"}, {"rtype": "motion SVD"}, {"rtype": "Pupil"}, {"rtype": "running"}],
    }
    p = tmp_path / "face_proc.npy"
    np.save(p, proc, allow_pickle=True)
    return p, proc


def test_read_facemap_proc(tmp_path):
    p, proc = fake_proc(tmp_path)
    feats = read_facemap_proc(p)
    assert sorted(feats) == sorted(
        [
            "motion_roi1",
            "motion_roi2",
            "motSVD_full",
            "motSVD_roi1",
            "motSVD_roi2",
            "pupil0_area",
            "pupil0_area_smooth",
            "pupil0_com",
            "running0",
        ]
    )
    # aligned on neurocine's frames: value i is the change into frame i, frame 0 is 0 (T < one facemap chunk)
    np.testing.assert_array_equal(feats["motion_roi2"][:, 0], np.r_[0.0, proc["motion"][2][:-1]])
    np.testing.assert_array_equal(feats["motSVD_full"][1:], proc["motSVD"][0][1:])
    assert not feats["motSVD_full"][0].any()
    raw = read_facemap_proc(p, align=False)
    np.testing.assert_array_equal(raw["motion_roi2"][:, 0], proc["motion"][2])
    np.testing.assert_array_equal(raw["motSVD_full"], proc["motSVD"][0])
    assert feats["pupil0_com"].shape == (25, 2) and feats["pupil0_area"].shape == (25, 1)
    masks = read_facemap_masks(p)
    assert masks["motMask_full"].shape == (5, 10, 12)
    np.testing.assert_array_equal(masks["motMask_roi1"][2], proc["motMask_reshape"][1][:, :, 2])


def facemap_motion(frames, chunk=500):
    """Motion energy as facemap 1.0.8's process_ROIs writes it (checked against a facemap run on a
    1200-frame clip): |f[i+1] - f[i]| summed over pixels for i < chunk - 1, 0 at chunk - 1, then
    |f[i] - f[i-1]| from frame chunk on."""
    d = np.abs(np.diff(frames.astype(np.float64), axis=0)).sum(axis=(1, 2))  # d[i-1] = |f[i] - f[i-1]|
    m = np.zeros(len(frames))
    m[: chunk - 1] = d[: chunk - 1]
    m[chunk:] = d[chunk - 1 :]
    return m


def test_facemap_motion_aligned_equals_neurocine_motion_energy(tmp_path):
    from neurocine.features.motion import motion_energy

    frames = np.random.default_rng(7).integers(0, 255, size=(1200, 6, 5)).astype(np.uint8)
    stored = facemap_motion(frames)
    ours = motion_energy(frames)[:, 0] * 30  # mean over 30 pixels -> facemap's sum
    assert np.abs(stored - ours).max() > 100  # as stored, facemap's values sit one frame early
    np.testing.assert_allclose(align_facemap_motion(stored), ours, rtol=1e-12)
    np.save(tmp_path / "clip_proc.npy", {"motion": [stored]}, allow_pickle=True)
    np.testing.assert_allclose(read_facemap_proc(tmp_path / "clip_proc.npy")["motion_full"][:, 0], ours, rtol=1e-12)


def test_read_facemap_proc_tolerates_missing_and_rejects_bad(tmp_path):
    p = tmp_path / "min_proc.npy"
    np.save(p, {"motion": [np.arange(5.0)], "Ly": [3]}, allow_pickle=True)
    feats = read_facemap_proc(p)
    assert list(feats) == ["motion_full"] and read_facemap_masks(p) == {}
    np.save(p, {"Ly": [3], "Lx": [4]}, allow_pickle=True)
    with raises_naming(p, r"no facemap outputs .* \(keys: Lx, Ly\)"):
        read_facemap_proc(p)
    np.save(p, {"motion": [np.arange(5.0)], "blink": [np.arange(4.0)]}, allow_pickle=True)
    with raises_naming(p, r"different lengths \(motion_full=5, blink0=4\)"):
        read_facemap_proc(p)
    np.save(p, np.zeros((3, 3)))
    with raises_naming(p, r"holds an array of shape \(3, 3\) and dtype float64; expected a pickled dict"):
        read_facemap_proc(p)
    with raises_naming(tmp_path / "no_proc.npy", r"file not found"):
        read_facemap_proc(tmp_path / "no_proc.npy")


def test_wfield_round_trip_and_reconstruct(tmp_path):
    rng = np.random.default_rng(6)
    h, w, k, t = 8, 9, 4, 30
    u = rng.normal(size=(h, w, k)).astype(np.float32)
    u[:2, :3] = np.nan  # outside the brain
    svt = rng.normal(size=(k, t)).astype(np.float32)
    np.save(tmp_path / "U.npy", u)
    np.save(tmp_path / "SVT.npy", svt)
    U, SVT, mask = read_wfield_svd(tmp_path)
    assert isinstance(U, np.memmap) and SVT.shape == (k, t)
    expected_mask = np.ones((h, w), bool)
    expected_mask[:2, :3] = False
    np.testing.assert_array_equal(mask, expected_mask)
    frames = reconstruct_frames(U, SVT, slice(5, 9))
    ref = np.einsum("hwk,kt->thw", u.astype(np.float64), svt.astype(np.float64)[:, 5:9])
    np.testing.assert_allclose(frames[:, mask], ref[:, mask], rtol=1e-5, atol=1e-5)
    assert np.isnan(frames[:, ~mask]).all() and frames.dtype == np.float32
    np.testing.assert_allclose(reconstruct_frames(U, SVT, 7), frames[2], rtol=1e-6)
    # SVTcorr.npy (hemodynamics-corrected) is preferred when present; an explicit path wins
    np.save(tmp_path / "SVTcorr.npy", 2 * svt)
    np.testing.assert_allclose(read_wfield_svd(tmp_path / "U.npy").SVT, 2 * svt)
    np.testing.assert_allclose(read_wfield_svd(tmp_path, tmp_path / "SVT.npy").SVT, svt)
    np.save(tmp_path / "bad.npy", svt[:3])
    with raises_naming(tmp_path / "bad.npy", r"has k=3 components .* has k=4 .*expected the same k"):
        read_wfield_svd(tmp_path, tmp_path / "bad.npy")
    with raises_naming(tmp_path / "nope", r"not found; expected a wfield output folder"):
        read_wfield_svd(tmp_path / "nope")
    with raises_naming("frames", r"expected indices into T=30"):
        reconstruct_frames(U, SVT, 99)


def test_read_into_fills_a_reused_buffer_with_the_frames_slicing_gives(tmp_path):
    """Flat binary files read straight into the buffer; other backends copy; a wrong buffer is refused."""
    movie = np.random.default_rng(0).integers(0, 4000, (12, 5, 7)).astype(np.uint16)
    path = tmp_path / "wf.dat"
    movie.tofile(path)
    buf = np.zeros((4, 5, 7), dtype=np.uint16)
    with open_stack(path, shape=movie.shape, dtype="uint16") as stack:
        for start in (0, 3, 8):
            assert stack.read_into(start, buf) is buf
            np.testing.assert_array_equal(buf, movie[start : start + 4])
        with raises_naming(path, match=r"frames 10:14 .*expected frames within 0:12"):
            stack.read_into(10, buf)
        with raises_naming(path, match="float64"):
            stack.read_into(0, np.zeros((4, 5, 7)))
    mem = ImageStack(movie, "mem")
    np.testing.assert_array_equal(mem.read_into(5, buf), movie[5:9])
