"""Image sequences and NWB ImageSeries read like videos; a video given where the sessions table belongs."""

from __future__ import annotations

import numpy as np
import pytest
from _cli import cli
from _errors import raises_naming
from PIL import Image

from neurocine.features.motion import motion_energy
from neurocine.io.image_sequence import list_frames
from neurocine.io.video import VideoReader, write_video


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (23, 12, 16), dtype=np.uint8)


@pytest.fixture(scope="module")
def folders(frames, tmp_path_factory):
    """The same frames as 1.png … 23.png (not zero-padded) and as 00000.tif … 00022.tif."""
    root = tmp_path_factory.mktemp("seq")
    (root / "plain").mkdir()
    (root / "padded").mkdir()
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(root / "plain" / f"{i + 1}.png")
        Image.fromarray(frame).save(root / "padded" / f"{i:05d}.tif")
    return root


def test_unpadded_names_are_read_in_numeric_order(folders):
    names = [p.name for p in list_frames(folders / "plain")]
    assert names[:3] == ["1.png", "2.png", "3.png"] and names[8:11] == ["9.png", "10.png", "11.png"]
    assert names[-1] == "23.png"


@pytest.mark.parametrize("spec", ["plain", "plain/%d.png", "plain/*.png", "padded", "padded/%05d.tif", "padded/0*.tif"])
def test_every_way_of_naming_a_sequence_reads_the_frames_in_chunks(folders, frames, spec):
    with VideoReader(folders / spec, fps=20.0, chunk_size=5) as reader:
        assert (reader.n_frames, reader.fps, reader.shape) == (23, 20.0, (12, 16))
        chunks = list(reader.iter_chunks())
    assert [c.start for c in chunks] == [0, 5, 10, 15, 20]
    np.testing.assert_array_equal(np.concatenate([c.frames for c in chunks]), frames)
    np.testing.assert_allclose(np.concatenate([c.timestamps for c in chunks]), np.arange(23) / 20.0)


def test_timestamps_file_gives_the_clock(folders, tmp_path):
    times = 5.0 + np.cumsum(np.full(23, 0.04))
    (tmp_path / "t.csv").write_text("frame,timestamps\n" + "".join(f"{i},{float(t)!r}\n" for i, t in enumerate(times)))
    reader = VideoReader(folders / "plain", timestamps=tmp_path / "t.csv")
    assert reader.fps == pytest.approx(25.0)
    np.testing.assert_allclose(np.concatenate([c.timestamps for c in reader.iter_chunks()]), times)
    np.savetxt(tmp_path / "short.csv", times[:5])
    with raises_naming("short.csv", match=r"expected \(23,\)"):
        VideoReader(folders / "plain", timestamps=tmp_path / "short.csv")


def test_video_motion_cli_on_a_folder_equals_the_direct_motion_energy(folders, frames, tmp_path):
    assert cli("video", "motion", folders / "plain", "--fps", "20", "--out", tmp_path / "m") == 0
    with np.load(tmp_path / "m" / "motion.npz") as z:
        np.testing.assert_allclose(z["motion_energy"], motion_energy(frames))
        np.testing.assert_allclose(z["timestamps"], np.arange(23) / 20.0)


def test_unreadable_frame_and_frames_of_another_size_name_the_file(frames, tmp_path, capsys):
    for i, frame in enumerate(frames[:6]):
        Image.fromarray(frame).save(tmp_path / f"{i + 1}.png")
    (tmp_path / "4.png").write_bytes(b"not a png")
    reader = VideoReader(tmp_path, chunk_size=2)
    with raises_naming("4.png", match="cannot be read as an image"):
        list(reader.iter_chunks())
    Image.fromarray(np.zeros((10, 16), np.uint8)).save(tmp_path / "4.png")
    with raises_naming("4.png", match="is 16x10 gray; expected 16x12 gray like the first frame 1.png"):
        VideoReader(tmp_path).read()
    assert cli("video", "motion", tmp_path, "--out", tmp_path / "out") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "4.png" in err[0]
    assert not (tmp_path / "out").exists()
    with raises_naming("nothing", match="no such folder"):
        VideoReader(tmp_path / "nothing" / "%05d.png")
    with raises_naming("%05d.jpg", match="no files matching"):
        VideoReader(tmp_path / "%05d.jpg")


def test_nwb_image_series_with_data_or_an_external_video(frames, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    import datetime

    from pynwb.image import ImageSeries

    even = frames[:, :12, :16]
    write_video(tmp_path / "cam.mp4", even, fps=20, lossless=True)
    nwbfile = pynwb.NWBFile("s", "id", datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC))
    nwbfile.add_acquisition(ImageSeries(name="face", data=frames, unit="n.a.", format="raw", rate=25.0))
    nwbfile.add_acquisition(
        ImageSeries(
            name="body", external_file=["cam.mp4"], starting_frame=[0], format="external", rate=20.0, num_samples=23
        )
    )
    with pynwb.NWBHDF5IO(tmp_path / "session.nwb", "w") as io:
        io.write(nwbfile)
    import neurocine as nc

    face = nc.jobs.video_motion(tmp_path / "session.nwb", tmp_path / "face", series="face")
    assert cli("video", "motion", tmp_path / "session.nwb", "--series", "body", "--out", tmp_path / "body") == 0
    with np.load(tmp_path / "face" / "motion.npz") as z:
        np.testing.assert_allclose(z["motion_energy"], motion_energy(frames))
        np.testing.assert_allclose(z["timestamps"], np.arange(23) / 25.0)
    with np.load(tmp_path / "body" / "motion.npz") as z:
        np.testing.assert_allclose(z["motion_energy"], motion_energy(even))
    assert face.summary["video"]["n_frames"] == 23
    with raises_naming("series='nope'", match="face"):
        VideoReader(tmp_path / "session.nwb", series="nope")


def test_batch_motion_given_a_video_as_the_sessions_table_says_so_in_one_line(frames, tmp_path, capsys):
    write_video(tmp_path / "face.mp4", frames, fps=20, lossless=True)
    assert cli("batch", "motion", tmp_path / "face.mp4", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "face.mp4" in err[0] and "not a sessions table" in err[0], err
    (tmp_path / "binary.csv").write_bytes(bytes(range(256)) * 4)
    assert cli("batch", "motion", tmp_path / "binary.csv", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "binary.csv" in err[0] and "UTF-8" in err[0], err
    assert not (tmp_path / "o").exists()


def test_real_footage_as_png_frames_gives_the_motion_energy_of_the_mp4(tmp_path):
    """The open-field mouse video (DeepLabCut's example), its first 12 frames saved as 1.png … 12.png."""
    from test_io_matlab import realdata_file

    video = realdata_file("openfield_video/m3v1mp4.mp4")
    frames = VideoReader(video, prefetch=0).read(0, 12)
    for i, frame in enumerate(frames):
        Image.fromarray(frame).save(tmp_path / f"{i + 1}.png", compress_level=1)
    with VideoReader(tmp_path, fps=30.0, chunk_size=5) as reader:
        assert (reader.n_frames, reader.source_width, reader.source_height) == (12, 640, 480)
        from_png = np.concatenate([c.frames for c in reader.iter_chunks()])
    np.testing.assert_array_equal(from_png, frames)
    np.testing.assert_allclose(motion_energy(from_png), motion_energy(frames))
    assert motion_energy(frames)[1:].min() > 0  # a real recording: something moves between any two frames
