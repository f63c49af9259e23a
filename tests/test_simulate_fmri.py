"""The simulated fMRI data set (neurocine.fmri.simulate): forward model, files, determinism, bad options."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.features.fmri import convolve_hrf
from neurocine.fmri.features import FEATURES_FILE, load_feature_cache, scan_regressors, unique_frames
from neurocine.fmri.simulate import layer_bands, simulate_fmri, voxel_grid
from neurocine.io.fmri import run_slices

TINY = dict(
    n_voxels=24,
    layers=("blocks.2", "head"),
    frame_shape=(32, 48),
    frames_per_scan=1,
    n_segments=2,
    segment_scans=8,
    train_repeats=2,
    n_test_scans=8,
    test_repeats=3,
    clip_scans=2,
    n_library_clips=3,
    snr=(0.5, 2.0),
    easy=True,
)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("simfmri")
    summary = simulate_fmri(root / "data", seed=3, device="cpu", **TINY)
    return root / "data", summary


# --------------------------------------------------------------------------- forward-model pieces


def test_scan_regressors_is_hrf_then_scan_mean_and_restarts_per_run():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 3))
    fps, tr, k = 2.0, 2.0, 4
    got = scan_regressors(x, fps, tr, k)
    ref = convolve_hrf(x, fps).reshape(10, 4, 3).mean(1)
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)
    # two runs of identical input give identical responses (nothing carries over)
    twice = scan_regressors(np.concatenate([x[:20], x[:20]]), fps, tr, k, runs=[0] * 5 + [1] * 5)
    np.testing.assert_allclose(twice[:5], twice[5:], atol=1e-12)
    np.testing.assert_allclose(twice[:5], ref[:5], atol=1e-12)


def test_scan_regressors_rejects_bad_timing():
    with pytest.raises(InputError, match="frames_per_scan"):
        scan_regressors(np.zeros((9, 2)), 2.0, 2.0, 4)
    with pytest.raises(InputError, match="fps"):
        scan_regressors(np.zeros((8, 2)), 1.0, 2.0, 4)


def test_run_slices_requires_contiguous_runs():
    assert run_slices([0, 0, 1, 1, 1], 5) == [slice(0, 2), slice(2, 5)]
    assert run_slices(None, 4) == [slice(0, 4)]
    with pytest.raises(InputError, match="contiguous"):
        run_slices([0, 1, 0], 3)
    with pytest.raises(InputError, match="one run label per scan"):
        run_slices([0, 0], 3)


def test_unique_frames_maps_repeats_to_one_copy():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 255, (4, 5, 6), dtype=np.uint8)
    frames = base[[0, 1, 2, 0, 3, 1]]
    first, inverse = unique_frames(frames)
    assert first.tolist() == [0, 1, 2, 4]
    np.testing.assert_array_equal(frames[first][inverse], frames)


def test_layer_bands_equal_counts_ordered_across_columns():
    pos, shape = voxel_grid(500)
    assert pos.shape == (500, 2) and shape[0] * shape[1] >= 500
    layer = layer_bands(pos, shape, 5, np.random.default_rng(0))
    assert np.bincount(layer).tolist() == [100] * 5
    # the mean column grows with the layer index (a hierarchy across the sheet)
    means = [pos[layer == i, 1].mean() for i in range(5)]
    assert np.all(np.diff(means) > 0)


# --------------------------------------------------------------------------- the data folder


def test_folder_files_and_shapes(tiny):
    root, summary = tiny
    info = json.loads((root / "info.json").read_text())
    assert info["tr"] == 2.0 and info["frames_per_scan"] == 1 and info["n_voxels"] == 24
    n_train = 2 * 8 * 2
    assert np.load(root / "stimulus_train.npy").shape == (n_train, 32, 48)
    assert np.load(root / "stimulus_test.npy").shape == (8, 32, 48)
    assert np.load(root / "fmri_train.npy").shape == (n_train, 24)
    assert np.load(root / "fmri_test.npy").shape == (3, 8, 24)
    design = np.load(root / "design.npz")
    # each segment shown twice, back to back, one run per showing
    assert design["train_run"].tolist() == np.repeat(np.arange(4), 8).tolist()
    assert design["train_segment"].tolist() == np.repeat([0, 0, 1, 1], 8).tolist()
    stim = np.load(root / "stimulus_train.npy")
    np.testing.assert_array_equal(stim[:8], stim[8:16])
    assert summary["voxels_per_layer"] == {"blocks.2": 12, "head": 12}
    assert (root / "summary.json").is_file()
    lib = np.load(root / "library.npz")
    assert lib["frames"].shape == (3 * 2, 32, 48) and lib["category"].shape == (6,)


def test_test_clips_come_from_held_out_sources(tiny):
    root, _ = tiny
    info = json.loads((root / "info.json").read_text())
    names = info["category_names"]
    design = np.load(root / "design.npz")
    held_out = set(info["simulation"]["test_sources"])
    assert {names[c] for c in design["test_category"]} <= held_out
    assert not ({names[c] for c in design["train_category"]} & held_out)


def test_truth_reproduces_the_noise_free_signal(tiny):
    """signal = scan_regressors(z_layer @ weights) - offset, from the cached features and truth.npz."""
    root, _ = tiny
    truth = np.load(root / "truth.npz")
    info = json.loads((root / "info.json").read_text())
    design = np.load(root / "design.npz")
    cfg = {
        "model": "efficientnet-lite0",
        "layers": ["blocks.2", "head"],
        "pooling": "mean",
        "input_size": info["simulation"]["input_size"],
    }
    feats = load_feature_cache(root / FEATURES_FILE, cfg, ["train", "test"])
    assert feats is not None
    for layer in ("blocks.2", "head"):
        vox = truth[f"voxels__{layer}"]
        mu, sd = truth[f"feature_mean__{layer}"], truth[f"feature_std__{layer}"]
        w = truth[f"weights__{layer}"].astype(np.float64)
        assert ((w != 0).sum(0) >= 3).all()
        for split, runs, key in (("train", design["train_run"], "signal_train"), ("test", None, "signal_test")):
            z = (feats[split][layer].astype(np.float64) - mu) / sd
            s = scan_regressors(z @ w, 0.5, 2.0, 1, runs) - truth["offset"][vox]
            np.testing.assert_allclose(s, truth[key][:, vox], atol=2e-3 * np.abs(truth[key]).max())
    # the training signal of the unique scans has mean 0, SD 1; noise = data - signal has the planted SD
    sig = truth["signal_train"].astype(np.float64)
    np.testing.assert_allclose(sig.std(0), 1.0, rtol=1e-3)
    resid = np.load(root / "fmri_train.npy") - sig
    ratio = resid.std(0) / truth["noise_sd"]
    assert 0.6 < np.median(ratio) < 1.4
    assert truth["true_layer"].tolist().count(0) == 12


def test_same_seed_same_data_other_seed_other_data(tiny, tmp_path):
    root, _ = tiny
    simulate_fmri(tmp_path / "again", seed=3, device="cpu", **TINY)
    for name in ("fmri_train.npy", "fmri_test.npy", "stimulus_train.npy"):
        np.testing.assert_array_equal(np.load(root / name), np.load(tmp_path / "again" / name))
    small = {**TINY, "n_voxels": 4, "n_library_clips": 0, "n_segments": 1}
    simulate_fmri(tmp_path / "other", seed=4, device="cpu", **small)
    simulate_fmri(tmp_path / "same", seed=3, device="cpu", **small)
    assert not np.array_equal(
        np.load(tmp_path / "other" / "stimulus_test.npy"), np.load(tmp_path / "same" / "stimulus_test.npy")
    )
    assert not (tmp_path / "other" / "library.npz").exists()


@pytest.mark.parametrize(
    "options, match",
    [
        ({"n_voxels": 1}, "n_voxels"),
        ({"snr": (2.0, 1.0)}, "snr"),
        ({"segment_scans": 7}, "segment_scans"),
        ({"test_sources": ("nowhere",)}, "test_sources"),
        ({"test_repeats": 1}, "test_repeats"),
        ({"density": 0.0}, "density"),
        ({"frame_shape": (8, 8)}, "frame_shape"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_options_raise_input_error_naming_them(tmp_path, options, match):
    with pytest.raises(InputError, match=match):
        simulate_fmri(tmp_path / "x", **{**TINY, **options})
    assert not (tmp_path / "x").exists()


def test_existing_file_at_out_is_refused(tmp_path):
    (tmp_path / "x").write_text("not a folder")
    with pytest.raises(InputError, match="not a folder"):
        simulate_fmri(tmp_path / "x", **TINY)
