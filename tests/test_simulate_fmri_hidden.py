"""The default (hidden-feature) fMRI simulator: only scanner files for the analysis, realistic noise, known truth."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from neurocine.fmri.features import log_activations
from neurocine.fmri.jobs import run_fmri_encode, run_fmri_simulate
from neurocine.fmri.simulate import TRUTH_FILE, hidden_cnn, simulate_fmri, voxel_hrfs
from neurocine.io.fmri import SCANNER_FILES
from neurocine.metrics.reliability import column_correlations

TINY = dict(
    n_voxels=60,
    layers=("blocks.2", "head"),
    frame_shape=(32, 48),
    frames_per_scan=1,
    n_segments=3,
    segment_scans=12,
    train_repeats=2,
    n_test_scans=12,
    clip_scans=2,
    n_library_clips=2,
    snr=(0.5, 2.0),
)
#: What a simulate job may leave beside the scanner's files: the truth and the job's own outputs.
JOB_FILES = {TRUTH_FILE, "summary.json", "report.html", "stimulus_examples.png", "true_layer_map.png"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("hidden") / "data"
    result = run_fmri_simulate(root, device="cpu", seed=2, figures=False, **TINY)
    return root, result


def test_folder_holds_only_scanner_files_and_the_truth(sim):
    root, result = sim
    files = {p.name for p in root.iterdir() if p.is_file()}
    assert "features.npz" not in files  # the generating features never reach the analysis
    assert files <= set(SCANNER_FILES) | JOB_FILES, files - set(SCANNER_FILES) - JOB_FILES
    assert set(SCANNER_FILES) - {"library.npz"} <= files
    info = json.loads((root / "info.json").read_text())
    assert "simulation" not in info  # no generator settings in the scanner's description
    m = result["metrics"]
    assert m["simulator"] == "hidden" and m["test_repeats"] == 2
    assert len(m["true_layer"]) == 60 and len(m["noise_ceiling"]) == 60
    assert m["n_null_voxels"] == 12 and m["true_layer"].count(-1) == 12


def test_encode_gets_the_same_result_from_the_scanner_files_alone(sim, tmp_path):
    root, _ = sim
    bare = tmp_path / "bare"
    bare.mkdir()
    for name in SCANNER_FILES:
        if (root / name).is_file():
            shutil.copy(root / name, bare / name)
    opts = dict(layers="blocks.2,head", folds=3, device="cpu", figures=False)
    a = run_fmri_encode(root, tmp_path / "full", **opts)
    b = run_fmri_encode(bare, tmp_path / "scanner", **opts)
    fa, fb = np.load(tmp_path / "full" / "encoding.npz"), np.load(tmp_path / "scanner" / "encoding.npz")
    for key in ("cv_score", "test_r", "best_layer", "alpha"):
        np.testing.assert_array_equal(fa[key], fb[key])
    assert a["metrics"]["median_test_r"] == b["metrics"]["median_test_r"]
    # the truth only scores: the full folder gets a layer accuracy, the bare one none
    assert "best_layer_accuracy" in a["metrics"] and "best_layer_accuracy" not in b["metrics"]
    assert a["metrics"]["n_scored_voxels"] == 48


def test_truth_signal_noise_and_ceiling(sim):
    root, result = sim
    t = np.load(root / TRUTH_FILE)
    y_tr, y_te = np.load(root / "fmri_train.npy"), np.load(root / "fmri_test.npy")
    null = t["true_layer"] < 0
    assert (t["signal_train"][:, null] == 0).all() and (t["signal_test"][:, null] == 0).all()
    sig = t["signal_train"][:, ~null].astype(np.float64)
    np.testing.assert_allclose(sig.std(0), 1.0, rtol=0.05)  # each showing of a segment has the unit-SD signal
    # the noise is autocorrelated (AR(1) plus drift), never white
    resid = y_tr - t["signal_train"]
    r1 = np.mean(
        [np.corrcoef(resid[a : a + 12, v][:-1], resid[a : a + 12, v][1:])[0, 1] for a in (0, 12) for v in range(60)]
    )
    assert r1 > 0.1
    # the ceiling is the noise-free signal's correlation with the mean of the two repeats
    c = column_correlations(t["signal_test"][:, ~null], y_te.mean(0)[:, ~null])
    np.testing.assert_allclose(t["ceiling"][~null], c, atol=1e-5)
    np.testing.assert_allclose(result["metrics"]["noise_ceiling"], np.round(t["ceiling"], 4), atol=1e-4)
    # HRF peaks between 4 and 7 s
    assert (t["hrf_peak"] >= 4).all() and (t["hrf_peak"] <= 7).all()


def test_voxel_hrfs_peak_where_asked():
    peak = np.array([4.0, 5.5, 7.0])
    h = voxel_hrfs(0.05, peak, np.array([16.0, 12.0, 20.0]), np.array([6.0, 3.0, 10.0]))
    # the peak is the response gamma's mode, pulled earlier a little by an early undershoot
    np.testing.assert_allclose(h.argmax(0) * 0.05, peak, atol=0.2)
    assert h.argmax(0)[0] * 0.05 == pytest.approx(4.0, abs=0.051)
    np.testing.assert_allclose(h.sum(0), 1.0)
    assert (h.min(0) < 0).all()  # every HRF has its undershoot


def test_same_seed_same_data(sim, tmp_path):
    root, _ = sim
    simulate_fmri(tmp_path / "again", seed=2, device="cpu", **TINY)
    for name in ("fmri_train.npy", "fmri_test.npy", "stimulus_test.npy"):
        np.testing.assert_array_equal(np.load(root / name), np.load(tmp_path / "again" / name))


def test_hidden_cnn_is_deterministic_and_shaped():
    frames = np.random.default_rng(0).integers(0, 255, (5, 32, 48)).astype(np.uint8)
    a, b = hidden_cnn(frames, 3), hidden_cnn(frames, 3)
    assert [x.shape for x in a] == [(5, 64), (5, 128), (5, 256), (5, 384)]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.allclose(hidden_cnn(frames, 4)[0], a[0])


def test_log_activations_closed_form():
    x = np.array([[0.0, 1.0, -3.0, 100.0]])
    np.testing.assert_allclose(log_activations(x), np.sign(x) * np.log(1 + np.abs(x)))
