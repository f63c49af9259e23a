"""RidgeCV: per-target penalties against scikit-learn and himalaya, back ends, chunks, folds, errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.metrics import explained_variance_score
from sklearn.model_selection import KFold, TimeSeriesSplit

from neurocine.errors import InputError
from neurocine.models.ridge import DEFAULT_ALPHAS, BandedRidgeCV, RidgeCV, cv_splits, explained_variance

ALPHAS = np.logspace(-2, 6, 9)


def planted(seed=0, T=300, p=20, q=15, offset=3.0):
    """Planted coefficients whose scale runs over 2.5 decades, so targets want different penalties."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, p)) + offset
    W = rng.standard_normal((p, q)) * np.logspace(-2, 0.5, q)
    Y = X @ W + rng.standard_normal((T, q)) + 5.0
    return X, Y, W


def sklearn_reference(X, Y, splits, alphas=ALPHAS):
    """Ridge fitted per fold and penalty, EV per fold averaged, argmax per target, refit per target."""
    scores = np.zeros((len(alphas), Y.shape[1]))
    for train, test in splits:
        for i, alpha in enumerate(alphas):
            model = Ridge(alpha=alpha).fit(X[train], Y[train])
            scores[i] += explained_variance_score(Y[test], model.predict(X[test]), multioutput="raw_values")
    scores /= len(splits)
    best = np.argmax(scores, axis=0)
    coef = np.empty((X.shape[1], Y.shape[1]))
    intercept = np.empty(Y.shape[1])
    for j in range(Y.shape[1]):
        model = Ridge(alpha=alphas[best[j]]).fit(X, Y[:, j])
        coef[:, j], intercept[j] = model.coef_, model.intercept_
    return scores, best, coef, intercept


def rel_err(a, b):
    return np.abs(a - b).max() / np.abs(b).max()


@pytest.mark.parametrize(
    "cv",
    [5, KFold(4, shuffle=True, random_state=1), TimeSeriesSplit(4)],
    ids=["contiguous", "shuffled", "time-series-split"],
)
def test_matches_sklearn_ridge_per_fold_and_penalty(cv):
    """Includes TimeSeriesSplit, whose training sets are not the complement of the test sets."""
    X, Y, _ = planted()
    model = RidgeCV(alphas=ALPHAS, cv=cv).fit(X, Y)
    splitter = KFold(5) if cv == 5 else cv
    scores, best, coef, intercept = sklearn_reference(X, Y, list(splitter.split(X)))
    assert len(np.unique(best)) >= 3  # the targets really want different penalties
    np.testing.assert_array_equal(model.best_alpha_index_, best)
    np.testing.assert_array_equal(model.alpha_, ALPHAS[best])
    np.testing.assert_allclose(model.cv_scores_, scores, atol=1e-10)
    assert rel_err(model.coef_, coef) < 1e-5
    np.testing.assert_allclose(model.intercept_, intercept, rtol=1e-8, atol=1e-8)
    assert model.coef_.shape == (20, 15) and model.cv_scores_.shape == (9, 15)


def test_matches_sklearn_with_fewer_test_samples_than_features():
    """T=60, p=20, 5 folds: 12 test samples < 20 features takes the prediction path."""
    X, Y, _ = planted(seed=3, T=60)
    model = RidgeCV(alphas=ALPHAS, cv=5).fit(X, Y)
    scores, best, coef, _ = sklearn_reference(X, Y, list(KFold(5).split(X)))
    np.testing.assert_array_equal(model.best_alpha_index_, best)
    np.testing.assert_allclose(model.cv_scores_, scores, atol=1e-10)
    assert rel_err(model.coef_, coef) < 1e-5


def test_without_intercept_matches_sklearn():
    X, Y, _ = planted(seed=4, offset=0.0)
    Y = Y - 5.0
    model = RidgeCV(alphas=ALPHAS, cv=5, fit_intercept=False).fit(X, Y)
    splits = list(KFold(5).split(X))
    scores = np.zeros((len(ALPHAS), Y.shape[1]))
    for train, test in splits:
        for i, alpha in enumerate(ALPHAS):
            pred = Ridge(alpha=alpha, fit_intercept=False).fit(X[train], Y[train]).predict(X[test])
            scores[i] += explained_variance_score(Y[test], pred, multioutput="raw_values") / len(splits)
    np.testing.assert_allclose(model.cv_scores_, scores, atol=1e-10)
    best = np.argmax(scores, axis=0)
    coef = np.stack(
        [Ridge(alpha=ALPHAS[b], fit_intercept=False).fit(X, Y[:, j]).coef_ for j, b in enumerate(best)], axis=1
    )
    assert rel_err(model.coef_, coef) < 1e-5
    np.testing.assert_array_equal(model.intercept_, 0.0)


def test_matches_himalaya_ridgecv():
    himalaya_ridge = pytest.importorskip("himalaya.ridge")
    X, Y, _ = planted(seed=1)

    def ev_score(y_true, y_pred):  # himalaya score_func: (n_test, q) vs (n_alphas, n_test, q)
        return 1.0 - (y_true - y_pred).var(-2) / y_true.var(0)

    cv = KFold(5)
    ours = RidgeCV(alphas=ALPHAS, cv=cv).fit(X, Y)
    theirs = himalaya_ridge.RidgeCV(
        alphas=ALPHAS, fit_intercept=True, cv=cv, solver_params={"score_func": ev_score}
    ).fit(X, Y)
    np.testing.assert_allclose(ours.alpha_, np.asarray(theirs.best_alphas_), rtol=1e-12)  # himalaya: exp(-log α)
    assert len(np.unique(ours.alpha_)) >= 4
    assert rel_err(ours.coef_, np.asarray(theirs.coef_)) < 1e-8
    np.testing.assert_allclose(ours.intercept_, np.asarray(theirs.intercept_), atol=1e-8)
    # himalaya adds 1e-10 * log(alpha) to break ties
    np.testing.assert_allclose(ours.cv_scores_.max(0), np.asarray(theirs.cv_scores_), atol=1e-8)


@pytest.mark.parametrize("dtype, tol", [("float64", 1e-8), ("float32", 1e-4)])
def test_numpy_and_torch_back_ends_agree(dtype, tol):
    pytest.importorskip("torch")
    X, Y, _ = planted(seed=2)
    a = RidgeCV(alphas=ALPHAS, dtype=dtype, backend="numpy").fit(X, Y)
    b = RidgeCV(alphas=ALPHAS, dtype=dtype, backend="torch", device="cpu").fit(X, Y)
    ref = RidgeCV(alphas=ALPHAS).fit(X, Y)
    assert a.coef_.dtype == b.coef_.dtype == np.dtype(dtype)
    np.testing.assert_allclose(b.cv_scores_, a.cv_scores_, atol=tol)
    np.testing.assert_allclose(a.cv_scores_, ref.cv_scores_, atol=tol)
    # float32 cannot split penalties whose float64 CV scores differ by < ~1e-6 (target 14 here:
    # 1.2e-7 between α = 0.1 and 1); compare the choice where the float64 margin is clear, and
    # elsewhere check that the choice is as good as the best to float32 precision
    top2 = np.sort(ref.cv_scores_, axis=0)[-2:]
    clear = top2[1] - top2[0] > 1e-5
    assert clear.sum() >= 12
    for model in (a, b):
        np.testing.assert_array_equal(model.alpha_[clear], ref.alpha_[clear])
        picked = ref.cv_scores_[model.best_alpha_index_, np.arange(15)]
        np.testing.assert_allclose(picked, ref.cv_scores_.max(0), atol=1e-6)
    both = clear & (a.alpha_ == b.alpha_)
    assert rel_err(b.coef_[:, both], a.coef_[:, both]) < tol
    assert rel_err(a.coef_[:, clear], ref.coef_[:, clear]) < tol
    np.testing.assert_allclose(b.predict(X)[:, both], a.predict(X)[:, both], rtol=tol, atol=tol * np.abs(Y).max())
    if dtype == "float64":
        np.testing.assert_array_equal(a.alpha_, ref.alpha_)
        np.testing.assert_array_equal(b.alpha_, ref.alpha_)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_chunked_targets_equal_unchunked(backend):
    if backend == "torch":
        pytest.importorskip("torch")
    X, Y, _ = planted(seed=5)
    device = "cpu"
    whole = RidgeCV(alphas=ALPHAS, backend=backend, device=device).fit(X, Y)
    for chunk in (1, 4, 7):
        part = RidgeCV(alphas=ALPHAS, backend=backend, device=device, target_chunk=chunk).fit(X, Y)
        np.testing.assert_array_equal(part.alpha_, whole.alpha_)
        np.testing.assert_allclose(part.coef_, whole.coef_, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(part.cv_scores_, whole.cv_scores_, rtol=1e-12, atol=1e-12)


def test_shuffled_folds_reproducible_with_seed():
    X, Y, _ = planted(seed=6)
    a = RidgeCV(alphas=ALPHAS, shuffle=True, random_state=7).fit(X, Y)
    b = RidgeCV(alphas=ALPHAS, shuffle=True, random_state=7).fit(X, Y)
    c = RidgeCV(alphas=ALPHAS, cv=KFold(5, shuffle=True, random_state=7)).fit(X, Y)
    contiguous = RidgeCV(alphas=ALPHAS).fit(X, Y)
    other_seed = RidgeCV(alphas=ALPHAS, shuffle=True, random_state=8).fit(X, Y)
    np.testing.assert_array_equal(a.cv_scores_, b.cv_scores_)
    np.testing.assert_array_equal(a.coef_, b.coef_)
    np.testing.assert_allclose(a.cv_scores_, c.cv_scores_, rtol=0, atol=1e-13)
    assert not np.allclose(a.cv_scores_, contiguous.cv_scores_)
    assert not np.allclose(a.cv_scores_, other_seed.cv_scores_)


def test_recovers_planted_coefficients():
    rng = np.random.default_rng(10)
    X = rng.standard_normal((2000, 10))
    W = rng.standard_normal((10, 4))
    Y = X @ W + 0.3 + 0.1 * rng.standard_normal((2000, 4))
    model = RidgeCV().fit(X, Y)
    np.testing.assert_allclose(model.coef_, W, atol=0.01)
    np.testing.assert_allclose(model.intercept_, 0.3, atol=0.01)
    assert np.all(model.alpha_ <= 10.0)
    Xt = rng.standard_normal((500, 10))
    Yt = Xt @ W + 0.3 + 0.1 * rng.standard_normal((500, 4))
    ev = model.score_targets(Xt, Yt)
    assert ev.shape == (4,) and np.all(ev > 0.99)


def test_pure_noise_targets_take_the_largest_penalty():
    rng = np.random.default_rng(11)
    X = rng.standard_normal((500, 5))
    Y = np.column_stack([X @ np.ones(5) + 0.1 * rng.standard_normal(500), rng.standard_normal(500)])
    model = RidgeCV(alphas=ALPHAS).fit(X, Y)
    assert model.alpha_[0] <= 1.0
    assert model.alpha_[1] == ALPHAS[-1]
    assert np.abs(model.coef_[:, 1]).max() < 0.01


def test_one_dimensional_target():
    X, Y, _ = planted(seed=12)
    model = RidgeCV(alphas=ALPHAS).fit(X, Y[:, 3])
    full = RidgeCV(alphas=ALPHAS).fit(X, Y)
    assert model.coef_.shape == (20, 1) and model.alpha_.shape == (1,)
    np.testing.assert_allclose(model.coef_[:, 0], full.coef_[:, 3], rtol=1e-10)
    assert model.predict(X).shape == (300,)
    np.testing.assert_allclose(model.score_targets(X, Y[:, 3]), full.score_targets(X, Y)[3:4], rtol=1e-10)


def test_score_targets_is_sklearn_explained_variance():
    X, Y, _ = planted(seed=13)
    model = RidgeCV().fit(X[:200], Y[:200])
    ref = explained_variance_score(Y[200:], model.predict(X[200:]), multioutput="raw_values")
    np.testing.assert_allclose(model.score_targets(X[200:], Y[200:]), ref, rtol=1e-12)
    const = np.column_stack([np.ones(5), np.ones(5), np.arange(5.0)])
    pred = np.column_stack([np.ones(5), np.zeros(5) + np.arange(5), np.arange(5.0)])
    np.testing.assert_array_equal(
        explained_variance(const, pred), explained_variance_score(const, pred, multioutput="raw_values")
    )


def test_score_is_one_float_the_uniform_average_r2():
    from sklearn.metrics import r2_score

    X, Y, _ = planted(seed=13)
    model = RidgeCV().fit(X[:200], Y[:200])
    got = model.score(X[200:], Y[200:])
    assert isinstance(got, float)
    assert got == r2_score(Y[200:], model.predict(X[200:]))
    per_target = r2_score(Y[200:], model.predict(X[200:]), multioutput="raw_values")
    assert got == pytest.approx(per_target.mean(), rel=1e-12)
    w = np.linspace(1.0, 2.0, 100)
    assert model.score(X[200:], Y[200:], sample_weight=w) == r2_score(Y[200:], model.predict(X[200:]), sample_weight=w)


def test_cross_val_score_and_grid_search_on_two_dimensional_targets():
    from sklearn.model_selection import GridSearchCV, cross_val_score

    rng = np.random.default_rng(15)
    X = rng.standard_normal((300, 6))
    Y = X @ rng.standard_normal((6, 4)) + 0.5 * rng.standard_normal((300, 4))  # R² about 6 / 6.25
    scores = cross_val_score(RidgeCV(alphas=ALPHAS, cv=3), X, Y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.9)
    search = GridSearchCV(RidgeCV(cv=3), {"alphas": [[1e-2], [1e6]]}, cv=3).fit(X, Y)
    assert search.best_params_ == {"alphas": [1e-2]}  # a huge penalty shrinks every target to its mean


def test_repr_and_clone_with_default_and_array_alphas():
    from sklearn.base import clone

    assert repr(RidgeCV()) == "RidgeCV()"
    assert repr(RidgeCV(alphas=np.array([1.0, 2.0]), cv=3)).startswith("RidgeCV(alphas=array([1., 2.]), cv=3")
    copy = clone(RidgeCV(alphas=ALPHAS))
    assert copy.alphas is not None and np.array_equal(copy.alphas, ALPHAS)


def test_float32_input_and_default_alphas():
    X, Y, _ = planted(seed=14)
    model = RidgeCV(dtype="float32").fit(X.astype(np.float32), Y.astype(np.float32))
    np.testing.assert_array_equal(model.alphas_, DEFAULT_ALPHAS)
    assert model.coef_.dtype == np.float32 and model.predict(X).dtype == np.float32


def test_cv_splits_contiguous_blocks():
    splits = cv_splits(3, 7)
    assert [te.tolist() for _, te in splits] == [[0, 1, 2], [3, 4], [5, 6]]
    assert [tr.tolist() for tr, _ in splits][1] == [0, 1, 2, 5, 6]


def test_import_does_not_load_torch():
    code = "import sys, neurocine.models.ridge, neurocine.models.attribution; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


X0, Y0, _ = planted(seed=20, T=50, p=4, q=3)


@pytest.mark.parametrize(
    "make, args, match",
    [
        (lambda: RidgeCV(), (np.where(np.arange(200).reshape(50, 4) == 7, np.nan, X0), Y0), r"^X: has 1 NaN"),
        (lambda: RidgeCV(), (X0, np.where(np.arange(150).reshape(50, 3) == 4, np.inf, Y0)), r"^Y: has 1 infinite"),
        (lambda: RidgeCV(), (X0, Y0[:40]), r"^Y: has 40 time steps but X has 50"),
        (lambda: RidgeCV(), (X0[:, 0], Y0), r"^X: got a 1-D array"),
        (lambda: RidgeCV(), (X0, Y0[:, :, None]), r"^Y: got a 3-D array"),
        (lambda: RidgeCV(alphas=[1.0, 0.0]), (X0, Y0), r"^alphas: contains 0\.0; expected finite penalties > 0"),
        (lambda: RidgeCV(alphas=[1.0, -2.0]), (X0, Y0), r"^alphas: contains -2\.0"),
        (lambda: RidgeCV(alphas=[]), (X0, Y0), r"^alphas: got shape \(0,\)"),
        (lambda: RidgeCV(alphas=np.ones((2, 2))), (X0, Y0), r"^alphas: got shape \(2, 2\)"),
        (lambda: RidgeCV(cv=51), (X0, Y0), r"^cv: got 51 folds for 50 time steps"),
        (lambda: RidgeCV(cv=1), (X0, Y0), r"^cv: got 1, expected an integer >= 2"),
        (lambda: RidgeCV(cv="five"), (X0, Y0), r"^cv: got 'five'"),
        (lambda: RidgeCV(dtype="float16"), (X0, Y0), r"^dtype: got 'float16'"),
        (lambda: RidgeCV(backend="jax"), (X0, Y0), r"^backend: got 'jax'"),
        (lambda: RidgeCV(device="cuda"), (X0, Y0), r"^device: got 'cuda' with backend='numpy'"),
        (lambda: RidgeCV(target_chunk=0), (X0, Y0), r"^target_chunk: got 0, expected an integer >= 1"),
    ],
)
def test_bad_input_raises_one_line_input_error(make, args, match):
    with pytest.raises(InputError, match=match) as info:
        make().fit(*args)
    assert "\n" not in str(info.value)


def test_predict_checks_columns_and_fitted():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        RidgeCV().predict(X0)
    model = RidgeCV().fit(X0, Y0)
    with pytest.raises(InputError, match=r"^X: has 3 columns; expected 4"):
        model.predict(X0[:, :3])
    with pytest.raises(InputError, match=r"^Y: has shape \(50, 2\); expected \(50, 3\)"):
        model.score(X0, Y0[:, :2])
    with pytest.raises(InputError, match=r"^Y: has shape \(50, 2\); expected \(50, 3\)"):
        model.score_targets(X0, Y0[:, :2])


# --------------------------------------------------------------------------- banded ridge


def two_bands(seed=0, T=120, q=6):
    """Two bands of different widths and offsets; targets driven by the first band only."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((T + 40, 5)) + 2.0, 3.0 * rng.standard_normal((T + 40, 30)) - 1.0])
    Y = X[:, :5] @ rng.standard_normal((5, q)) + 0.5 * rng.standard_normal((T + 40, q)) + 4.0
    return X[:T], Y[:T], X[T:], Y[T:]


def test_banded_ridge_equals_sklearn_ridge_on_scaled_bands():
    """One weighting g and one penalty: ridge with intercept on [sqrt(g_1) X_1, sqrt(g_2) X_2] (closed form)."""
    X, Y, Xt, _ = two_bands()
    g = np.array([0.7, 0.3])
    model = BandedRidgeCV(bands=(5, 30), n_candidates=[g], alphas=[3.0], cv=4).fit(X, Y)
    scaled = np.hstack([np.sqrt(g[0]) * X[:, :5], np.sqrt(g[1]) * X[:, 5:]])
    scaled_t = np.hstack([np.sqrt(g[0]) * Xt[:, :5], np.sqrt(g[1]) * Xt[:, 5:]])
    ref = Ridge(alpha=3.0).fit(scaled, Y)
    np.testing.assert_allclose(model.predict(Xt), ref.predict(scaled_t), rtol=1e-8, atol=1e-8)
    # the CV scores are those of RidgeCV on the scaled features (same folds, same penalty)
    direct = RidgeCV(alphas=[3.0], cv=4).fit(scaled, Y)
    np.testing.assert_allclose(model.cv_score_, direct.cv_scores_[0], atol=1e-10)
    np.testing.assert_array_equal(model.weights_, np.tile(g, (6, 1)))


def test_banded_ridge_with_one_band_is_ridge_cv():
    X, Y, Xt, _ = two_bands(seed=1)
    model = BandedRidgeCV(n_candidates=0, alphas=ALPHAS, cv=5).fit(X, Y)
    plain = RidgeCV(alphas=ALPHAS, cv=5).fit(X, Y)
    np.testing.assert_array_equal(model.alpha_, plain.alpha_)
    np.testing.assert_allclose(model.cv_score_, plain.cv_scores_.max(0), atol=1e-10)
    np.testing.assert_allclose(model.predict(Xt), plain.predict(Xt), rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(model.share_, 1.0)


def test_banded_ridge_keeps_the_best_candidate_per_target_and_finds_the_driving_band():
    X, Y, Xt, Yt = two_bands(seed=2)
    model = BandedRidgeCV(bands=(5, 30), n_candidates=4, alphas=ALPHAS, cv=5, random_state=0).fit(X, Y)
    assert model.band_weights_.shape == (2 + 1 + 4, 2)
    np.testing.assert_allclose(model.band_weights_.sum(1), 1.0)
    # every candidate refitted by hand on its scaled features: the kept one has the best CV score
    best = np.full(Y.shape[1], -np.inf)
    for g in model.band_weights_:
        scaled = np.hstack([np.sqrt(g[0]) * X[:, :5], np.sqrt(g[1]) * X[:, 5:]])
        best = np.maximum(best, RidgeCV(alphas=ALPHAS, cv=5).fit(scaled, Y).cv_scores_.max(0))
    np.testing.assert_allclose(model.cv_score_, best, atol=1e-10)
    np.testing.assert_allclose(model.share_.sum(1), 1.0, atol=1e-10)
    assert np.all(model.share_[:, 0] > 0.95)  # the targets are driven by the first band
    assert np.all(model.weights_[:, 0] > 0.5)
    plain = RidgeCV(alphas=ALPHAS, cv=5).fit(X, Y)  # all 35 columns with one scale: the 30 noise columns hurt
    assert model.score(Xt, Yt) > plain.score(Xt, Yt) + 0.02  # measured 0.85 against 0.81
    assert model.score_targets(Xt, Yt).shape == (6,)


def test_banded_ridge_one_dimensional_target_and_errors():
    from sklearn.exceptions import NotFittedError

    X, Y, Xt, _ = two_bands(seed=3)
    with pytest.raises(NotFittedError):
        BandedRidgeCV().predict(Xt)
    one = BandedRidgeCV(bands=(5, 30), n_candidates=1, random_state=0).fit(X, Y[:, 2])
    full = BandedRidgeCV(bands=(5, 30), n_candidates=1, random_state=0).fit(X, Y)
    assert one.predict(Xt).shape == (40,)
    np.testing.assert_allclose(one.predict(Xt), full.predict(Xt)[:, 2], rtol=1e-10)
    with pytest.raises(InputError, match=r"^bands: got widths \[5, 20\] \(sum 25\); expected widths summing"):
        BandedRidgeCV(bands=(5, 20)).fit(X, Y)
    with pytest.raises(InputError, match=r"^n_candidates: got"):
        BandedRidgeCV(bands=(5, 30), n_candidates=[[1.0, -1.0]]).fit(X, Y)
    with pytest.raises(InputError, match=r"^X: has 3 columns; expected 35"):
        full.predict(Xt[:, :3])
