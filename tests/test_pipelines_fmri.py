"""fMRI jobs end to end on a small simulation: encoding recovers the planted layers, decoding identifies scans.

Also: the data-folder checks (bad input -> InputError naming the file or option), references (ridge
against scikit-learn, the noise-ceiling formula against a direct computation, the classifier n-way
against a loop) and determinism.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.fmri.features import scan_regressors
from neurocine.fmri.jobs import run_fmri_decode, run_fmri_encode, run_fmri_simulate
from neurocine.fmri.simulate import SMALL_SIMULATION
from neurocine.io.fmri import read_fmri_data
from neurocine.metrics import classifier_nway_accuracy, noise_ceiling

# well powered but small: 2 layers, 300 distinct training scans (each shown twice), 60 test scans x 10; the easy
# (circular) simulator, whose planted layers and features.npz cache these tests check the analysis against
SMALL = {**SMALL_SIMULATION, "seed": 1, "easy": True}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("fmri") / "data"
    run_fmri_simulate(root, device="cpu", **SMALL)
    return root


@pytest.fixture(scope="module")
def encoded(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("enc") / "out"
    summary = run_fmri_encode(data, out, layers="blocks.2,head", device="cpu")
    return out, summary


@pytest.fixture(scope="module")
def decoded(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("dec") / "out"
    summary = run_fmri_decode(data, out, layer="blocks.2", n_way=20, trials=50, device="cpu")
    return out, summary


# --------------------------------------------------------------------------- simulate


def test_simulate_job_writes_data_and_report(data):
    summary = json.loads((data / "summary.json").read_text())
    assert summary["job"] == "fmri simulate"
    assert summary["metrics"]["voxels_per_layer"] == {"blocks.2": 150, "head": 150}
    for name in ("report.html", "stimulus_examples.png", "true_layer_map.png", "features.npz", "truth.npz"):
        assert (data / name).is_file(), name
    ds = read_fmri_data(data)
    assert (ds.n_voxels, ds.n_scans_train, ds.n_scans_test, ds.fps) == (300, 600, 60, 0.5)
    assert ds.fmri_test.shape == (10, 60, 300) and ds.position.shape == (300, 2)


# --------------------------------------------------------------------------- encode


def test_encode_recovers_planted_layers_and_nears_the_ceiling(encoded, data):
    out, summary = encoded
    m = summary["metrics"]
    assert m["best_layer_accuracy"] >= 0.9
    assert min(m["best_layer_accuracy_per_layer"].values()) >= 0.85
    # the test correlation approaches the known (noise-free) ceiling
    assert m["median_fraction_of_true_ceiling"] >= 0.75
    assert m["median_test_r"] >= 0.7
    arrays = np.load(out / "encoding.npz")
    truth = np.load(data / "truth.npz")
    r, ceiling = arrays["best_test_r"], truth["ceiling"]
    assert np.median(r) <= np.median(ceiling) + 0.02  # a model cannot beat the ceiling (up to noise)
    # the ceiling estimated from the repeats matches the true one
    assert abs(m["median_ceiling"] - np.median(ceiling)) < 0.02
    for name in ("layer_map.png", "r_histogram.png", "layers.csv", "report.html"):
        assert (out / name).is_file(), name


def test_best_layer_is_chosen_on_training_cv_only(encoded):
    out, _ = encoded
    a = np.load(out / "encoding.npz")
    np.testing.assert_array_equal(a["best_layer"], a["cv_score"].argmax(0))
    np.testing.assert_allclose(a["best_test_r"], a["test_r"][a["best_layer"], np.arange(a["test_r"].shape[1])])


def test_encode_matches_sklearn_ridge_on_the_same_design(encoded, data):
    """Rebuild the 'head' design by hand (log, z-score, PCA 99 %, HRF, scan means) and refit with sklearn's Ridge."""
    from sklearn.decomposition import PCA
    from sklearn.linear_model import Ridge

    out, _ = encoded
    a = np.load(out / "encoding.npz")
    cache = np.load(data / "features.npz")
    ds = read_fmri_data(data)
    first_showing = np.concatenate([np.arange(r * 60, r * 60 + 60) for r in range(0, 10, 2)])
    f_tr = np.log1p(cache["train__head"][first_showing].astype(np.float64))  # ReLU6 output: >= 0
    f_te = np.log1p(cache["test__head"].astype(np.float64))
    mu, sd = f_tr.mean(0), f_tr.std(0)
    sd[sd == 0] = 1
    pca = PCA(0.99, svd_solver="full").fit((f_tr - mu) / sd)
    runs = np.repeat(np.arange(5), 60)
    X_tr = scan_regressors(pca.transform((f_tr - mu) / sd), 0.5, 2.0, 1, runs)
    X_te = scan_regressors(pca.transform((f_te - mu) / sd), 0.5, 2.0, 1)
    Y = ds.fmri_train.reshape(5, 2, 60, -1).mean(1).reshape(300, -1)
    ybar = ds.fmri_test.mean(0)
    li = list(a["layers"]).index("head")
    for v in (0, 151, 299):
        pred = Ridge(alpha=a["alpha"][li, v]).fit(X_tr, Y[:, v]).predict(X_te)
        r = np.corrcoef(pred, ybar[:, v])[0, 1]
        assert abs(r - a["test_r"][li, v]) < 1e-6


def test_encode_is_deterministic(encoded, data, tmp_path):
    out, _ = encoded
    run_fmri_encode(data, tmp_path / "again", layers=["blocks.2", "head"], device="cpu", figures=False)
    a, b = np.load(out / "encoding.npz"), np.load(tmp_path / "again" / "encoding.npz")
    for key in ("cv_score", "test_r", "alpha", "best_layer"):
        np.testing.assert_array_equal(a[key], b[key])


def _user_folder(data, dst, *, cache: bool):
    """The first segment's two showings and 20 test scans of ``data``, as a user would lay them out."""
    from neurocine.fmri.features import FEATURES_FILE, save_feature_cache

    dst.mkdir()
    info = json.loads((data / "info.json").read_text())
    (dst / "info.json").write_text(json.dumps({"tr": info["tr"], "frames_per_scan": info["frames_per_scan"]}))
    np.save(dst / "stimulus_train.npy", np.load(data / "stimulus_train.npy")[:120])
    np.save(dst / "stimulus_test.npy", np.load(data / "stimulus_test.npy")[:20])
    np.save(dst / "fmri_train.npy", np.load(data / "fmri_train.npy")[:120])
    np.save(dst / "fmri_test.npy", np.load(data / "fmri_test.npy")[:, :20])
    np.savez(dst / "design.npz", train_run=np.repeat([0, 1], 60), train_segment=np.zeros(120, dtype=np.int64))
    if cache:
        full = np.load(data / FEATURES_FILE)
        cfg = json.loads(str(full["config"]))
        save_feature_cache(
            dst / FEATURES_FILE,
            cfg,
            {
                "train": {layer: full[f"train__{layer}"][:120] for layer in cfg["layers"]},
                "test": {layer: full[f"test__{layer}"][:20] for layer in cfg["layers"]},
            },
        )
    return dst


def test_user_folder_without_cache_computes_the_same_features(data, tmp_path):
    """A user's folder (no features.npz, no truth) gets its CNN features computed from the frames."""
    with_cache = _user_folder(data, tmp_path / "cached", cache=True)
    without = _user_folder(data, tmp_path / "user", cache=False)
    a = run_fmri_encode(with_cache, tmp_path / "a", layers=["blocks.2", "head"], folds=3, figures=False)
    b = run_fmri_encode(without, tmp_path / "b", layers=["blocks.2", "head"], folds=3, device="cpu", figures=False)
    assert a["features"]["cache"].endswith("features.npz") and b["features"]["cache"] == "computed"
    assert "best_layer_accuracy" not in b["metrics"]
    ra, rb = np.load(tmp_path / "a" / "encoding.npz"), np.load(tmp_path / "b" / "encoding.npz")
    np.testing.assert_allclose(ra["test_r"], rb["test_r"], atol=2e-3)
    assert not (without / "features.npz").exists()  # the user's folder is left as it was


@pytest.mark.slow
def test_banded_ridge_option(data, tmp_path):
    s = run_fmri_encode(
        data,
        tmp_path / "banded",
        layers=["blocks.2", "head"],
        banded=True,
        banded_candidates=2,
        device="cpu",
        figures=False,
    )
    m = s["metrics"]
    assert m["banded_best_layer_accuracy"] >= 0.85
    assert m["banded_median_test_r"] >= m["median_test_r"] - 0.05
    a = np.load(tmp_path / "banded" / "encoding.npz")
    np.testing.assert_allclose(a["banded_weights"].sum(1), 1.0)


def test_gabor_features_as_one_layer(data, tmp_path):
    s = run_fmri_encode(data, tmp_path / "gabor", features="gabor", figures=False)
    m = s["metrics"]
    assert m["best_layer_counts"] == {"gabor": 300}
    assert m["best_layer_accuracy"] is None  # the planted layers are CNN taps
    assert m["median_test_r"] > 0.2  # motion energy explains part of the early-layer voxels


# --------------------------------------------------------------------------- decode


def test_decode_identifies_test_scans(decoded):
    out, summary = decoded
    m = summary["metrics"]
    assert m["n_test_samples"] == 57
    assert m["pairwise_identification"] >= 0.85
    assert m["nway2_accuracy"] >= 0.8
    assert m["nway20_accuracy"] >= 4 * (1 / 20)
    assert m["pairwise_identification_error"] == pytest.approx(
        np.sqrt(m["pairwise_identification"] * (1 - m["pairwise_identification"]) / 57)
    )
    assert m["category_identification"] > 0.6
    for name in ("identification.csv", "identification.png", "retrieval.png", "decoding.npz", "report.html"):
        assert (out / name).is_file(), name
    rows = (out / "identification.csv").read_text().splitlines()
    assert rows[0].startswith("score,accuracy,binomial_error,chance")
    for key in ("retrieval_ssim", "retrieval_psnr", "retrieval_pixel_r", "retrieval_ssim_chance"):
        assert np.isfinite(m[key])


def test_decode_matches_sklearn_ridge_on_raw_voxels(decoded, data):
    """Ridge on the voxels' training principal components equals ridge on the delayed raw voxels."""
    from sklearn.linear_model import Ridge

    out, _ = decoded
    a = np.load(out / "decoding.npz")
    ds = read_fmri_data(data)
    cache = np.load(data / "features.npz")
    Y = ds.fmri_train.reshape(5, 2, 60, -1).mean(1).reshape(300, -1).astype(np.float64)
    rows = np.concatenate([np.arange(r * 60, r * 60 + 57) for r in range(5)])
    X = np.hstack([Y[rows + d] for d in (1, 2, 3)])
    ybar = ds.fmri_test.mean(0).astype(np.float64)
    te = np.arange(57)
    X_te = np.hstack([ybar[te + d] for d in (1, 2, 3)])
    first_showing = np.concatenate([np.arange(r * 60, r * 60 + 60) for r in range(0, 10, 2)])
    f = cache["train__blocks.2"][first_showing].astype(np.float64)
    z = (f - a["feature_mean"]) / a["feature_std"]
    for j in (0, 7, 23):
        ref = Ridge(alpha=a["alpha"][j]).fit(X, z[rows, j]).predict(X_te)
        np.testing.assert_allclose(a["decoded"][:, j], ref, atol=1e-4 * np.abs(ref).max() + 1e-5)


def test_decode_embedding_with_the_imagenet_classifier(data, tmp_path):
    s = run_fmri_decode(data, tmp_path / "emb", n_way=20, trials=50, device="cpu", figures=False)
    m = s["metrics"]
    assert m["pairwise_identification"] > 0.7
    assert m["classifier_nway2_accuracy"] > 0.6
    assert m["classifier_nway20_accuracy"] > 2 / 20


# --------------------------------------------------------------------------- references


def test_noise_ceiling_formula_against_direct_correlation():
    rng = np.random.default_rng(0)
    n_rep, n_t, n_v = 10, 3000, 40
    snr = np.linspace(0.05, 3.0, n_v)
    s = rng.standard_normal((n_t, n_v))
    y = s[None] + rng.standard_normal((n_rep, n_t, n_v)) / np.sqrt(snr)
    est = noise_ceiling(y)
    direct = np.array([np.corrcoef(s[:, v], y.mean(0)[:, v])[0, 1] for v in range(n_v)])
    theory = np.sqrt(n_rep * snr / (n_rep * snr + 1))
    np.testing.assert_allclose(est, direct, atol=0.03)
    np.testing.assert_allclose(est, theory, atol=0.03)
    assert noise_ceiling(np.ones((3, 10, 2))).tolist() == [0.0, 0.0]
    with pytest.raises(InputError, match="repeats"):
        noise_ceiling(np.zeros((1, 10, 2)))


def test_classifier_nway_against_a_loop():
    rng = np.random.default_rng(3)
    P = rng.random((6, 12))
    t = rng.integers(0, 12, 6)
    got = classifier_nway_accuracy(P, t, n_way=4, trials=400, random_state=0)
    # exact expectation: probability that the true class beats 3 random others (no ties)
    exact = []
    from math import comb

    for i in range(6):
        below = int((P[i] < P[i, t[i]]).sum())
        exact.append(comb(below, 3) / comb(11, 3))
    assert abs(got - np.mean(exact)) < 0.03
    assert classifier_nway_accuracy(np.eye(12)[t], t, n_way=12, trials=3) == 1.0


# --------------------------------------------------------------------------- bad input


def _copy(data, tmp_path, name="bad"):
    dst = tmp_path / name
    shutil.copytree(data, dst, ignore=shutil.ignore_patterns("*.png", "*.html", "features.npz"))
    return dst


def test_missing_folder(tmp_path):
    with pytest.raises(InputError, match="no such folder"):
        run_fmri_encode(tmp_path / "nowhere", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_mismatched_voxel_counts(data, tmp_path):
    bad = _copy(data, tmp_path)
    y = np.load(bad / "fmri_test.npy")
    np.save(bad / "fmri_test.npy", np.concatenate([y, y[..., :1]], axis=2))
    with pytest.raises(InputError, match=r"fmri_test\.npy: has 301 voxels"):
        run_fmri_decode(bad, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_nan_in_fmri(data, tmp_path):
    bad = _copy(data, tmp_path)
    y = np.load(bad / "fmri_train.npy")
    y[5, 7] = np.nan
    np.save(bad / "fmri_train.npy", y)
    with pytest.raises(InputError, match=r"fmri_train\.npy: .*NaN.*\(5, 7\)"):
        run_fmri_encode(bad, tmp_path / "out")


def test_frames_not_matching_scans(data, tmp_path):
    bad = _copy(data, tmp_path)
    s = np.load(bad / "stimulus_test.npy")
    np.save(bad / "stimulus_test.npy", s[:-1])
    with pytest.raises(InputError, match=r"stimulus_test\.npy: has 59 frames; expected 60"):
        read_fmri_data(bad)


def test_bad_info_and_design(data, tmp_path):
    bad = _copy(data, tmp_path)
    info = json.loads((bad / "info.json").read_text())
    info.pop("tr")
    (bad / "info.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match=r"info\.json: tr"):
        read_fmri_data(bad)
    bad2 = _copy(data, tmp_path, "bad2")
    design = dict(np.load(bad2 / "design.npz"))
    design["train_run"] = design["train_run"][:-1]
    np.savez(bad2 / "design.npz", **design)
    with pytest.raises(InputError, match=r"design\.npz: 'train_run'"):
        read_fmri_data(bad2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"features": "alexnet"}, "--features"),
        ({"folds": 1}, "--folds"),
        ({"pca_fraction": 1.5}, "--pca-fraction"),
        ({"alphas": [-1.0]}, "--alphas"),
        ({"features": "gabor", "layers": ["head"]}, "--layers"),
        ({"seed": -2}, "--seed"),
    ],
)
def test_bad_encode_options(data, tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        run_fmri_encode(data, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"delays": [-1, 2]}, "--delays"),
        ({"delays": "a,b"}, "--delays"),
        ({"n_way": 1}, "--n-way"),
        ({"layer": ""}, "--layer"),
    ],
)
def test_bad_decode_options(data, tmp_path, kwargs, match):
    with pytest.raises(InputError, match=match):
        run_fmri_decode(data, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists()
