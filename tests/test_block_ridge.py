"""Ridge from block statistics equals in-memory RidgeCV with the same nested folds, to 1e-8."""

from __future__ import annotations

import numpy as np
import pytest
from _block_reference import nested_block_ridge

from neurocine.errors import InputError
from neurocine.models.attribution import circular_shifts
from neurocine.models.block_ridge import BlockStatistics, block_contributions, fit_blocks, fold_bounds
from neurocine.models.ridge import explained_variance

ALPHAS = np.logspace(-2, 4, 7)


def _reference(X, Y, edges, split=None):
    return nested_block_ridge(X, Y, edges, ALPHAS, split)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    T, p, q = 397, 5, 37
    X = rng.standard_normal((T, p))
    X[:, 4] = 0.8 * X[:, 3] + 0.6 * rng.standard_normal(T)  # collinear pair: penalties matter
    beta = rng.standard_normal((p, q)) * rng.uniform(0, 1, q)
    Y = X @ beta + rng.standard_normal((T, q)) * rng.uniform(0.3, 3.0, q) + 1000.0 + 5 * rng.standard_normal(q)
    return X, Y


def _stats(X, Y, bounds, chunk):
    st = BlockStatistics(X, bounds, Y.shape[1])
    for s in range(0, X.shape[0], chunk):
        st.update(s, Y[s : s + chunk].astype(np.float64))
    return st


def test_block_fit_equals_in_memory_nested_ridge(data):
    X, Y = data
    T, k, split = X.shape[0], 5, 311
    edges = fold_bounds(T, k)
    bounds = np.unique(np.concatenate([edges, [split]]))
    fit = fit_blocks(_stats(X, Y, bounds, chunk=23), k, alphas=ALPHAS, split=split, target_chunk=10)
    ref = _reference(X, Y, edges, split)
    np.testing.assert_allclose(fit.ev, ref["ev"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.test_ev, ref["test_ev"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(fit.coef, ref["coef"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(fit.intercept, ref["intercept"], rtol=1e-10)
    np.testing.assert_array_equal(fit.alpha, ref["alpha"])
    np.testing.assert_allclose(fit.fold_coef, ref["fold_coef"], rtol=1e-8, atol=1e-10)
    assert len(set(fit.alpha.tolist())) > 1  # the test exercises per-target penalties
    # held-out predictions from the fold models reproduce the EV
    label = np.searchsorted(edges, np.arange(T), side="right") - 1
    pred = np.stack([X[t] @ fit.fold_coef[label[t]] + fit.fold_intercept[label[t]] for t in range(T)])
    np.testing.assert_allclose(explained_variance(Y, pred), ref["ev"], atol=1e-8)


def test_block_contributions_equal_in_memory_shifted_and_single_models(data):
    X, Y = data
    T, k = X.shape[0], 4
    groups = [np.array([0, 1]), np.array([2]), np.array([3, 4])]
    shifts = circular_shifts(len(groups), T, random_state=0)
    R = X.copy()
    for idx, sh in zip(groups, shifts):
        R[:, idx] = np.roll(X[:, idx], sh, axis=0)
    edges = fold_bounds(T, k)
    st = _stats(np.hstack([X, R]), Y, edges, chunk=50)
    full, reduced, single = block_contributions(st, k, 5, groups, [g + 5 for g in groups], alphas=ALPHAS)
    np.testing.assert_allclose(full, _reference(X, Y, edges)["ev"], atol=1e-8)
    for i, idx in enumerate(groups):
        Xs = X.copy()
        Xs[:, idx] = R[:, idx]
        np.testing.assert_allclose(reduced[i], _reference(Xs, Y, edges)["ev"], atol=1e-8)
        np.testing.assert_allclose(single[i], _reference(X[:, idx], Y, edges)["ev"], atol=1e-8)


def test_incomplete_statistics_and_bad_bounds_are_refused():
    X = np.random.default_rng(0).standard_normal((20, 2))
    st = BlockStatistics(X, fold_bounds(20, 2), 3)
    st.update(0, np.zeros((15, 3)))
    with pytest.raises(InputError, match="block 1"):
        fit_blocks(st, 2)
    with pytest.raises(InputError, match="bounds"):
        BlockStatistics(X, [0, 5, 5, 20], 3)


@pytest.mark.parametrize("dtype", [np.uint16, np.int16, np.uint8])
def test_integer_targets_sum_to_the_shifted_statistics(dtype):
    """Camera counts are summed as integers and the shift is taken out afterwards: same sums as floats."""
    rng = np.random.default_rng(5)
    T, q = 700, 9
    X = rng.standard_normal((T, 3))
    info = np.iinfo(dtype)
    centre = info.max - 40 if info.max < 1000 else info.max - 400  # large offsets, small variance
    Y = np.clip(centre + rng.normal(0, 5, (T, q)) + 20 * X[:, :1], info.min, info.max).astype(dtype)
    bounds = [0, 130, 400, 700]
    st = BlockStatistics(X, bounds, q)
    for s in range(0, T, 97):  # chunks that straddle block boundaries
        st.update(s, Y[s : s + 97])
    assert np.array_equal(st.shift, np.round(Y[:97].mean(0, dtype=np.float64)))  # an integer: exact sums
    D = Y.astype(np.longdouble) - st.shift
    for b in range(3):
        rows = slice(bounds[b], bounds[b + 1])
        np.testing.assert_allclose(st.XY[b], (X[rows].T.astype(np.longdouble) @ D[rows]).astype(float), rtol=1e-11)
        np.testing.assert_allclose(st.sy[b], D[rows].sum(0).astype(float), rtol=1e-11, atol=1e-9)
        assert np.array_equal(st.syy[b], (D[rows] ** 2).sum(0).astype(float))  # exact, as the integers
