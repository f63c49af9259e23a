"""Cross-validated predictions, unique / single-group EV on a planted simulation, SVD-space EV."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import KFold

from neurocine.errors import InputError
from neurocine.models.attribution import (
    cross_validated_ev,
    cross_validated_predictions,
    fit_in_component_space,
    group_contributions,
    pixel_explained_variance,
)
from neurocine.models.ridge import RidgeCV, explained_variance

SIZES = {"a": 3, "b": 3, "c": 2, "null": 3}
# variance share of groups a, b, c for each of 3 targets (unit total variance; the rest is noise)
SHARES = np.array([[0.40, 0.20, 0.10], [0.10, 0.30, 0.05], [0.25, 0.05, 0.30]]).T  # (groups, targets)


def simulate_groups(seed=0, T=10_000):
    """Independent unit Gaussian features in 4 groups; Y = planted groups a, b, c + noise, null unused.

    For independent features the variance share of a group is ``||w_g||² / var(y)`` (here var(y) = 1),
    which is both its unique contribution and its single-group EV.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((T, sum(SIZES.values())))
    groups, start = {}, 0
    for name, n in SIZES.items():
        groups[name] = list(range(start, start + n))
        start += n
    Y = np.zeros((T, SHARES.shape[1]))
    for j in range(SHARES.shape[1]):
        for g, name in enumerate(["a", "b", "c"]):
            w = rng.standard_normal(SIZES[name])
            w *= np.sqrt(SHARES[g, j]) / np.linalg.norm(w)
            Y[:, j] += X[:, groups[name]] @ w
        Y[:, j] += np.sqrt(1.0 - SHARES[:, j].sum()) * rng.standard_normal(T)
    return X, Y, groups


@pytest.fixture(scope="module")
def contributions():
    X, Y, groups = simulate_groups()
    return group_contributions(X, Y, groups, random_state=0)


def test_unique_contributions_rank_planted_groups_and_null_is_zero(contributions):
    res = contributions
    assert res.group_names == ["a", "b", "c", "null"]
    assert res.unique.shape == res.single.shape == (4, 3) and res.full_ev.shape == (3,)
    for j in range(3):
        np.testing.assert_array_equal(np.argsort(-res.unique[:3, j]), np.argsort(-SHARES[:, j]))
    assert np.abs(res.unique[3]).max() < 0.01
    np.testing.assert_allclose(res.unique[:3], SHARES, atol=0.03)
    np.testing.assert_allclose(res.full_ev, SHARES.sum(0), atol=0.03)
    np.testing.assert_allclose(res.unique, res.full_ev - res.reduced_ev)


def test_single_group_ev_matches_closed_form_share(contributions):
    """Independent Gaussian features: single-group EV = ||w||² var(x) / var(y)."""
    np.testing.assert_allclose(contributions.single[:3], SHARES, atol=0.03)
    assert np.abs(contributions.single[3]).max() < 0.01


def test_shifts_are_at_least_ten_percent_and_seeded(contributions):
    T = 10_000
    assert np.all(contributions.shifts >= 0.1 * T) and np.all(contributions.shifts <= 0.9 * T)
    X, Y, groups = simulate_groups(T=1000)
    a = group_contributions(X, Y, groups, random_state=3)
    b = group_contributions(X, Y, groups, random_state=3)
    np.testing.assert_array_equal(a.shifts, b.shifts)
    np.testing.assert_array_equal(a.unique, b.unique)
    assert set(a.as_dict()) == {"a", "b", "c", "null"}


def test_groups_by_column_name():
    X, Y, groups = simulate_groups(T=1000)
    names = [f"f{i}" for i in range(X.shape[1])]
    by_name = {g: [names[i] for i in cols] for g, cols in groups.items()}
    a = group_contributions(X, Y, by_name, columns=names, random_state=1)
    b = group_contributions(X, Y, groups, random_state=1)
    np.testing.assert_array_equal(a.unique, b.unique)
    np.testing.assert_array_equal(a.single, b.single)


def test_cross_validated_predictions_are_held_out_fits():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((120, 3))
    Y = X @ rng.standard_normal((3, 2)) + rng.standard_normal((120, 2))
    pred = cross_validated_predictions(LinearRegression(), X, Y, cv=4)
    for train, test in KFold(4).split(X):
        np.testing.assert_allclose(pred[test], LinearRegression().fit(X[train], Y[train]).predict(X[test]))
    ev = cross_validated_ev(LinearRegression(), X, Y, cv=4)
    np.testing.assert_allclose(ev, explained_variance(Y, pred))
    assert cross_validated_predictions(RidgeCV(), X, Y[:, 0], cv=4).shape == (120,)


def test_samples_in_no_test_fold_are_nan_and_skipped():
    from sklearn.model_selection import TimeSeriesSplit

    rng = np.random.default_rng(1)
    X = rng.standard_normal((100, 2))
    y = X[:, 0] + 0.1 * rng.standard_normal(100)
    pred = cross_validated_predictions(LinearRegression(), X, y, cv=TimeSeriesSplit(4))
    assert np.isnan(pred[:20]).all() and not np.isnan(pred[20:]).any()
    assert cross_validated_ev(LinearRegression(), X, y, cv=TimeSeriesSplit(4))[0] > 0.95


def test_component_space_ev_equals_pixel_movie_ev():
    rng = np.random.default_rng(2)
    T, p, k, n_pix = 400, 6, 5, 300
    X = rng.standard_normal((T, p))
    SVT = (
        X @ rng.standard_normal((p, k)) * np.array([3.0, 2.0, 1.0, 0.5, 0.2]) + rng.standard_normal((T, k))
    ).T + rng.standard_normal((k, 1))
    U = rng.standard_normal((n_pix, k))
    fit = fit_in_component_space(X, U, SVT, cv=5)
    movie = U @ SVT  # (pixels, T): formed here only to check
    pred_movie = U @ fit.cv_predictions.T
    explicit = explained_variance(movie.T, pred_movie.T)
    np.testing.assert_allclose(fit.pixel_ev, explicit, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fit.component_ev, explained_variance(SVT.T, fit.cv_predictions), atol=1e-12)
    assert fit.estimator.alpha_.shape == (k,)  # one penalty per component
    assert fit.pixel_coef(U).shape == (p, n_pix)
    direct = RidgeCV().fit(X, SVT.T)
    np.testing.assert_allclose(fit.estimator.coef_, direct.coef_)


def test_group_contributions_in_component_space_equal_pixel_space():
    # with one fixed penalty a pixel's held-out prediction is the same mix of the component predictions,
    # so unique/single EVs computed through U equal those of the formed pixel movie
    rng = np.random.default_rng(3)
    T, k, n_pix = 500, 4, 120
    X = rng.standard_normal((T, 5))
    SVT = (X[:, :3] @ rng.standard_normal((3, k)) + rng.standard_normal((T, k))).T
    U = rng.standard_normal((n_pix, k))
    groups = {"a": [0], "b": [1, 2], "null": [3, 4]}
    est = RidgeCV(alphas=[10.0])
    in_components = group_contributions(X, SVT.T, groups, est, random_state=0, U=U)
    in_pixels = group_contributions(X, (U @ SVT).T, groups, est, random_state=0)
    assert in_components.full_ev.shape == (n_pix,) and in_components.unique.shape == (3, n_pix)
    np.testing.assert_allclose(in_components.full_ev, in_pixels.full_ev, atol=1e-10)
    np.testing.assert_allclose(in_components.unique, in_pixels.unique, atol=1e-10)
    np.testing.assert_allclose(in_components.single, in_pixels.single, atol=1e-10)
    with pytest.raises(InputError, match="U: has 4 components"):
        group_contributions(X, SVT.T[:, :3], groups, est, U=U)


def test_pixel_explained_variance_zero_variance_pixel():
    U = np.array([[1.0, 0.0], [0.0, 0.0]])
    ev = pixel_explained_variance(U, np.diag([0.25, 1.0]), np.eye(2))
    np.testing.assert_allclose(ev, [0.75, 1.0])


@pytest.mark.parametrize(
    "groups, kwargs, match",
    [
        ([0, 1], {}, r"^groups: got list; expected a non-empty dict"),
        ({"a": []}, {}, r"^groups\['a'\]: is empty"),
        ({"a": [20]}, {}, r"^groups\['a'\]: column 20 is out of range; expected 0\.\.10"),
        ({"a": ["f0"]}, {}, r"^groups\['a'\]: unknown column 'f0'; expected integer indices"),
        ({"a": ["zz"]}, {"columns": [f"f{i}" for i in range(11)]}, r"^groups\['a'\]: unknown column 'zz'"),
        ({"a": ["f0"]}, {"columns": ["f0"]}, r"^columns: has 1 names but X has 11 columns"),
        ({"a": [0]}, {"min_shift": 0.6}, r"^min_shift: got 0\.6"),
    ],
)
def test_group_contributions_bad_input(groups, kwargs, match):
    X, Y, _ = simulate_groups(T=200)
    with pytest.raises(InputError, match=match):
        group_contributions(X, Y, groups, **kwargs)


def test_component_space_bad_shapes():
    rng = np.random.default_rng(0)
    X, U = rng.standard_normal((50, 2)), rng.standard_normal((10, 3))
    with pytest.raises(InputError, match=r"^SVT: has shape \(4, 50\); expected \(k, T\) with k = 3"):
        fit_in_component_space(X, U, rng.standard_normal((4, 50)))
    with pytest.raises(InputError, match=r"^SVT: has 40 time steps but X has 50"):
        fit_in_component_space(X, U, rng.standard_normal((3, 40)))
