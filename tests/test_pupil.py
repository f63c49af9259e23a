"""Pupil and blinks: the science on a synthetic eye with a known pupil, the job, the ROI kind, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cli import cli
from _errors import raises_naming

from neurocine.encode.simulate_video import simulate_eye_video
from neurocine.features.pupil import PupilTracker, fill_blinks, measure_pupil
from neurocine.io.video import write_video

# the eye sits in this box of a larger frame (x0, y0, x1, y1)
BOX = (30, 20, 110, 80)


@pytest.fixture(scope="module")
def eye():
    return simulate_eye_video(n_frames=160, n_blinks=3, seed=1)


@pytest.fixture(scope="module")
def eye_mp4(eye, tmp_path_factory):
    frames = np.full((len(eye.frames), 100, 128), 90, np.uint8)
    frames[:, BOX[1] : BOX[3], BOX[0] : BOX[2]] = eye.frames
    path = tmp_path_factory.mktemp("eye") / "eye.mp4"
    return write_video(path, frames, fps=20, lossless=True)


def check_against_truth(eye, diameter, center, blink, offset=(0.0, 0.0)):
    """Diameter within 5 % and centre within half a pixel where the lid is off the pupil; every blink found."""
    clear = eye.visible > 0.999
    assert not blink[clear].any(), np.flatnonzero(blink & clear)
    error = np.abs(diameter[clear] / eye.diameter[clear] - 1)
    assert error.max() < 0.05, error.max()
    assert abs(np.mean(diameter[clear] / eye.diameter[clear] - 1)) < 0.01  # no bias
    assert np.abs(center[clear] - (eye.center[clear] + offset)).max() < 0.5
    assert eye.blinks and all(blink[a : b + 1].any() for a, b in eye.blinks), (eye.blinks, np.flatnonzero(blink))
    assert not blink[eye.visible > 0.9].any()  # no blink where the lid covers at most a tenth of the pupil
    assert np.isnan(diameter[blink]).all() and np.isfinite(diameter[~blink]).all()


def test_tracker_finds_the_known_pupil_and_every_blink_despite_reflection_noise_and_gain_drift(eye):
    assert eye.gain.max() / eye.gain.min() > 1.5  # the gain drifts by half
    tracker = PupilTracker(np.ones(eye.frames.shape[1:], bool))
    for a in range(0, len(eye.frames), 64):  # chunks give the same as one block
        tracker.update(eye.frames[a : a + 64], np.arange(a, min(a + 64, len(eye.frames))) / 20)
    res = tracker.result()
    check_against_truth(eye, res.diameter, res.center, res.blink)
    np.testing.assert_allclose(res.area[~res.blink], np.pi * res.diameter[~res.blink] ** 2 / 4)
    np.testing.assert_allclose(res.timestamps, np.arange(len(eye.frames)) / 20)


def test_the_corneal_reflection_is_put_back_in_the_pupil():
    """A reflection on the pupil's edge hides pixels of it; the ellipse with them put back has the true size."""
    yy, xx = np.mgrid[:60, :60] + 0.5
    pupil = (xx - 30) ** 2 + (yy - 30) ** 2 <= 10**2
    for rx in (30.0, 36.0, 40.0):  # reflection at the centre, half-way out, on the edge
        img = np.where(pupil, 25.0, 120.0)
        img[(xx - rx) ** 2 + (yy - 30) ** 2 <= 3**2] = 255.0
        _, diameter, x, y, _ = measure_pupil(img)
        assert diameter == pytest.approx(20.0, rel=0.02) and x == pytest.approx(30.0, abs=0.3), (rx, diameter, x)


def test_no_pupil_in_a_uniform_or_closed_eye():
    rng = np.random.default_rng(0)
    area, diameter, x, y, contrast = measure_pupil(170 + rng.normal(0, 4, (40, 50)))
    assert np.isnan([area, diameter, x, y]).all() and contrast < 0.2


def test_fill_blinks_interpolates_and_holds_the_ends():
    values = np.array([[np.nan, 1.0], [2.0, 2.0], [np.nan, 5.0], [4.0, 4.0], [np.nan, 0.0]])
    blink = np.array([True, False, True, False, True])
    np.testing.assert_allclose(fill_blinks(values, blink), [[2, 2], [2, 2], [3, 3], [4, 4], [4, 4]])


def test_video_pupil_job_and_cli_write_the_pupil_in_source_pixels(eye, eye_mp4, tmp_path):
    code = cli("video", "pupil", eye_mp4, "--roi", ",".join(map(str, BOX)), "--out", tmp_path / "pupil")
    assert code == 0
    with np.load(tmp_path / "pupil" / "pupil.npz") as z:
        assert z["pupil_diameter"].shape == z["blink"].shape == (len(eye.frames),)
        assert z["pupil_center"].shape == (len(eye.frames), 2)
        check_against_truth(eye, z["pupil_diameter"], z["pupil_center"], z["blink"], offset=BOX[:2])
        np.testing.assert_allclose(z["timestamps"], np.arange(len(eye.frames)) / 20, atol=1e-6)
        direct = np.abs(np.diff(eye.frames.astype(float), axis=0)).mean(axis=(1, 2))
        np.testing.assert_allclose(z["motion_energy"][1:], direct)
    summary = json.loads((tmp_path / "pupil" / "summary.json").read_text())
    assert summary["metrics"]["blinks"] == len(eye.blinks)
    assert (tmp_path / "pupil" / "pupil.png").exists() and (tmp_path / "pupil" / "report.html").exists()


def test_pupil_roi_kind_joins_motion_npz_in_the_same_pass(eye, eye_mp4, tmp_path):
    rois = tmp_path / "rois.toml"
    rois.write_text(f"[face]\nbox = [0, 0, 128, 100]\n\n[eye]\nbox = {list(BOX)}\npupil = true\n")
    import neurocine as nc

    nc.jobs.video_motion(eye_mp4, tmp_path / "motion", rois=rois)
    with np.load(tmp_path / "motion" / "motion.npz") as z:
        assert z["pupil_roi_names"].tolist() == ["eye"] and z["roi_names"].tolist() == ["face", "eye"]
        assert z["pupil_diameter"].shape == z["blink"].shape == (len(eye.frames), 1)
        check_against_truth(eye, z["pupil_diameter"][:, 0], z["pupil_center"][:, 0], z["blink"][:, 0], BOX[:2])
    summary = json.loads((tmp_path / "motion" / "summary.json").read_text())
    assert summary["metrics"]["pupil_eye"]["blinks"] == len(eye.blinks)


def test_pupil_feature_joins_the_encode_design(eye, eye_mp4, tmp_path):
    from neurocine.encode.jobs import load_encode_config, prepare_data

    rois = tmp_path / "rois.toml"
    rois.write_text(f"[eye]\nbox = {list(BOX)}\npupil = true\n")
    np.save(tmp_path / "traces.npy", np.random.default_rng(0).normal(size=(len(eye.frames), 3)))
    config = tmp_path / "session.toml"
    config.write_text(
        f'fps = 20.0\n[video]\npath = "{eye_mp4}"\nrois = "rois.toml"\n'
        '[neural]\npath = "traces.npy"\nkind = "traces"\n[design]\nkernel = "none"\n'
    )
    data = prepare_data(load_encode_config(config))
    assert "eye_pupil" in data.features and "eye_pupil" in data.video_features
    pupil = data.features["eye_pupil"]
    assert np.isfinite(pupil).all()  # blink frames interpolated
    clear = eye.visible > 0.999
    assert np.abs(pupil[clear] / eye.diameter[clear] - 1).max() < 0.05


def test_bad_pupil_input_is_one_line_and_writes_nothing(eye_mp4, tmp_path, capsys):
    import neurocine as nc

    with raises_naming("'eye'", match="outside the 128x100 frame"):
        nc.jobs.video_pupil(eye_mp4, tmp_path / "a", roi=(100, 0, 140, 40))
    with raises_naming("eye.mp4", match="no dark region"):
        nc.jobs.video_pupil(eye_mp4, tmp_path / "b", roi=(0, 0, 20, 20))  # the plain grey border
    assert cli("video", "pupil", eye_mp4, "--roi", "0,0,20,20", "--out", tmp_path / "c") == 2
    assert cli("video", "pupil", eye_mp4, "--roi", "0,0,20", "--out", tmp_path / "d") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "--roi" in err[1]
    assert not any((tmp_path / d).exists() for d in "abcd")


def test_roi_file_pupil_key_must_be_a_bool(tmp_path):
    from neurocine.io.rois import read_roi_specs

    path = tmp_path / "rois.toml"
    path.write_text('[eye]\nbox = [0, 0, 10, 10]\npupil = "yes"\n')
    with raises_naming(path, match="pupil"):
        read_roi_specs(path)
    path.write_text("[eye]\nbox = [0, 0, 10, 10]\npupill = true\n")
    with raises_naming(path, match="did you mean 'pupil'"):
        read_roi_specs(path)


def test_pupil_joins_motion_nwb_with_blinks_interpolated(eye, eye_mp4, tmp_path):
    pynwb = pytest.importorskip("pynwb")
    import neurocine as nc

    rois = tmp_path / "rois.toml"
    rois.write_text(f"[eye]\nbox = {list(BOX)}\npupil = true\n")
    nc.jobs.video_motion(eye_mp4, tmp_path / "m", rois=rois, nwb=True, figures=False)
    with np.load(tmp_path / "m" / "motion.npz") as z:
        diameter, blink = z["pupil_diameter"][:, 0], z["blink"][:, 0]
    with pynwb.NWBHDF5IO(tmp_path / "m" / "motion.nwb", "r") as io:
        series = io.read().processing["behavior"]["BehavioralTimeSeries"].time_series
        assert set(series) == {"motion_energy_eye", "pupil_diameter_eye", "pupil_area_eye"} | {
            "pupil_x_eye",
            "pupil_y_eye",
            "blink_eye",
        }
        stored = series["pupil_diameter_eye"].data[:]
        np.testing.assert_array_equal(series["blink_eye"].data[:], blink.astype(float))
    np.testing.assert_allclose(stored[~blink], diameter[~blink])
    np.testing.assert_allclose(stored, fill_blinks(diameter, blink))
