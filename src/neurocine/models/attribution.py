"""Which groups of features explain the data: cross-validated unique and single-group variance.

Generic (any scikit-learn-style regressor, any grouping of columns); nothing
here knows about particular features.

Cross-validated explained variance (EV), everywhere in this module: each
held-out fold is predicted by a model fitted on the other folds, the held-out
predictions are put back in time order, and ``1 - var(y - ŷ) / var(y)`` is
computed once over all of them (not averaged over folds).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import clone

from neurocine.errors import InputError
from neurocine.models.ridge import RidgeCV, check_targets, cv_splits, ev_from_variances, explained_variance
from neurocine.runtime import progress
from neurocine.validation import validate_signal_matrix

__all__ = [
    "ComponentSpaceFit",
    "GroupContributions",
    "circular_shifts",
    "cross_validated_ev",
    "cross_validated_predictions",
    "fit_in_component_space",
    "group_contributions",
    "held_out_ev",
    "pixel_explained_variance",
]


def cross_validated_predictions(
    estimator, X, Y, cv: Any = 5, *, shuffle: bool = False, random_state=None
) -> np.ndarray:
    """Held-out predictions: each test fold predicted by a clone fitted on its training set.

    With ``RidgeCV`` as the estimator the penalty is chosen inside each
    training set (nested cross-validation), so no test sample influences its
    own prediction.

    Parameters
    ----------
    estimator : scikit-learn-style regressor
        Cloned for every fold (it is not fitted itself).
    X : array_like, shape (T, p)
    Y : array_like, shape (T, q) or (T,)
    cv : int or splitter, default 5
        As in :func:`neurocine.models.ridge.cv_splits`: an int gives contiguous
        blocks of time (shuffled with ``shuffle=True``). Test sets must not
        overlap; samples that are in no test set get NaN.
    shuffle, random_state
        Shuffled folds for an int ``cv``.

    Returns
    -------
    ndarray, shape (T, q), or (T,) for a 1-D ``Y``

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((100, 3)); y = X @ [1.0, 2.0, 0.0]
    >>> pred = cross_validated_predictions(RidgeCV(alphas=[1e-3]), X, y, cv=5)
    >>> pred.shape, bool(np.allclose(pred, y, atol=1e-3))
    ((100,), True)
    """
    X = validate_signal_matrix(X, "X")
    Y_arr, one_d = check_targets(Y, X.shape[0])
    splits = cv_splits(cv, X.shape[0], shuffle=shuffle, random_state=random_state, X=X)
    pred = np.full(Y_arr.shape, np.nan)
    seen = np.zeros(X.shape[0], dtype=bool)
    for i, (train, test) in enumerate(splits):
        if seen[test].any() or np.unique(test).size != test.size:
            raise InputError(
                f"cv: test set {i} repeats samples held out before; expected test sets that do not overlap"
            )
        seen[test] = True
        model = clone(estimator).fit(X[train], Y_arr[train])
        pred[test] = np.asarray(model.predict(X[test]), dtype=np.float64).reshape(test.size, -1)
    return pred[:, 0] if one_d else pred


def cross_validated_ev(estimator, X, Y, cv: Any = 5, *, shuffle: bool = False, random_state=None, U=None) -> np.ndarray:
    """Cross-validated explained variance per target, over the concatenated held-out predictions.

    Parameters
    ----------
    estimator, X, Y, cv, shuffle, random_state
        As in :func:`cross_validated_predictions`.
    U : array_like, shape (n_pixels, q), optional
        ``Y`` holds the q temporal components of a movie ``U @ Y.T``: the EV
        is then returned per pixel of that movie, exactly, without forming
        it (see :func:`fit_in_component_space`).

    Returns
    -------
    ndarray, shape (q,), or (n_pixels,) with ``U``
        ``1 - var(y - ŷ) / var(y)`` over the samples that were held out.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((500, 2)); y = X[:, 0] + rng.standard_normal(500)
    >>> ev = cross_validated_ev(RidgeCV(), X, y)
    >>> ev.shape, bool(0.4 < ev[0] < 0.6)
    ((1,), True)
    """
    pred = cross_validated_predictions(estimator, X, Y, cv, shuffle=shuffle, random_state=random_state)
    Y_arr = np.asarray(Y)
    if pred.ndim == 1:
        pred, Y_arr = pred[:, None], Y_arr[:, None]
    if U is not None:
        U = _check_components(U, Y_arr.shape[1])
    return held_out_ev(Y_arr, pred, U)


def _check_components(U, k: int) -> np.ndarray:
    U = validate_signal_matrix(U, "U", min_timesteps=1)
    if U.shape[1] != k:
        raise InputError(f"U: has {U.shape[1]} components (columns) but Y has {k}; expected one per column of Y")
    return U


def held_out_ev(Y, pred, U=None) -> np.ndarray:
    """EV of held-out predictions over the rows that have one (NaN rows of ``pred`` are skipped).

    With ``U`` (n_pixels, q), ``Y`` are the temporal components of the movie
    ``U @ Y.T`` and the EV is per pixel: ``1 - diag(U Σ_res Uᵀ) / diag(U Σ_Y Uᵀ)``
    (:func:`pixel_explained_variance`).

    Examples
    --------
    >>> import numpy as np
    >>> Y = np.array([[0.0], [1.0], [2.0], [3.0]]); P = np.array([[np.nan], [1.0], [2.0], [2.0]])
    >>> held_out_ev(Y, P).round(3).tolist()
    [0.667]
    """
    rows = ~np.isnan(pred[:, 0])
    if U is None:
        return explained_variance(np.asarray(Y[rows], dtype=np.float64), pred[rows])
    return pixel_explained_variance(U, *_held_out_covariances(Y, pred, rows))


def _held_out_covariances(Y, pred, rows) -> tuple[np.ndarray, np.ndarray]:
    """(k, k) covariances over the held-out ``rows`` of the residuals ``Y - pred`` and of ``Y``."""
    Yr = np.asarray(Y[rows], dtype=np.float64)
    k = Yr.shape[1]
    resid_cov = np.cov(Yr - pred[rows], rowvar=False, bias=True).reshape(k, k)
    target_cov = np.cov(Yr, rowvar=False, bias=True).reshape(k, k)
    return resid_cov, target_cov


# --------------------------------------------------------------------------- groups


@dataclass
class GroupContributions:
    """Cross-validated EV of the full model and of each group of features.

    Attributes
    ----------
    group_names : list of str
        Order of the rows below.
    full_ev : ndarray, shape (q,)
        EV of the model with all columns.
    unique : ndarray, shape (n_groups, q)
        ``full_ev`` minus the EV with the group's columns circularly shifted in
        time: the variance only that group explains.
    single : ndarray, shape (n_groups, q)
        EV of a model using only the group's columns (the others dropped).
    reduced_ev : ndarray, shape (n_groups, q)
        EV with the group's columns shifted (``full_ev - unique``).
    shifts : ndarray of int, shape (n_groups,)
        Circular shift (time steps) applied to each group.
    columns : list of ndarray
        Column indices of each group.
    """

    group_names: list[str]
    full_ev: np.ndarray
    unique: np.ndarray
    single: np.ndarray
    reduced_ev: np.ndarray
    shifts: np.ndarray
    columns: list[np.ndarray] = field(repr=False)

    def as_dict(self) -> dict[str, dict[str, np.ndarray]]:
        """``{group: {"unique": (q,), "single": (q,)}}``."""
        return {name: {"unique": self.unique[i], "single": self.single[i]} for i, name in enumerate(self.group_names)}


def _group_columns(groups, n_features: int, columns) -> tuple[list[str], list[np.ndarray]]:
    if not isinstance(groups, dict) or not groups:
        raise InputError(f"groups: got {type(groups).__name__}; expected a non-empty dict name -> list of columns")
    lookup = None
    if columns is not None:
        columns = list(columns)
        if len(columns) != n_features:
            raise InputError(
                f"columns: has {len(columns)} names but X has {n_features} columns; expected one per column"
            )
        lookup = {name: i for i, name in enumerate(columns)}
    names, cols = [], []
    for name, members in groups.items():
        members = list(np.atleast_1d(np.asarray(members, dtype=object)))
        if not members:
            raise InputError(f"groups[{name!r}]: is empty; expected at least one column")
        idx = []
        for m in members:
            if isinstance(m, (int, np.integer)) and not isinstance(m, bool):
                if not 0 <= m < n_features:
                    raise InputError(f"groups[{name!r}]: column {m} is out of range; expected 0..{n_features - 1}")
                idx.append(int(m))
            elif lookup is not None and m in lookup:
                idx.append(lookup[m])
            else:
                hint = "a name in `columns`" if lookup is not None else "integer indices (or pass `columns=` names)"
                raise InputError(f"groups[{name!r}]: unknown column {m!r}; expected {hint}")
        names.append(str(name))
        cols.append(np.unique(np.asarray(idx, dtype=np.int64)))
    return names, cols


def group_contributions(
    X,
    Y,
    groups: dict,
    estimator=None,
    cv: Any = 5,
    random_state=None,
    *,
    columns=None,
    min_shift: float = 0.1,
    shuffle: bool = False,
    U=None,
) -> GroupContributions:
    """Unique and single-group cross-validated explained variance of groups of features.

    For every group:

    * **unique contribution** = EV of the full model − EV of the full model
      with that group's columns circularly shifted in time by one random shift
      (at least ``min_shift × T`` away from 0, the same shift for all of the
      group's columns). The columns are shifted once, before the folds are
      made, so training and test sets both see the shifted columns; the
      shift keeps each column's own autocorrelation and distribution but
      breaks its alignment with Y.
    * **single-group EV** = EV of a model that uses only that group's columns
      (the other columns are dropped, not shuffled: dropping removes them
      cleanly, while shuffled columns would still cost the model some
      over-fitting).

    Every EV is cross-validated (see :func:`cross_validated_ev`) with the same
    folds for all models.

    Parameters
    ----------
    X : array_like, shape (T, p)
    Y : array_like, shape (T, q) or (T,)
    groups : dict
        Group name -> list of column indices, or of column names with ``columns``.
    estimator : regressor, default ``RidgeCV()``
        Cloned for every fit.
    cv : int or splitter, default 5
        Outer folds (contiguous blocks of time for an int).
    random_state : int, numpy Generator or None
        Seeds the shifts (and shuffled folds with ``shuffle=True``).
    columns : sequence of str, optional
        Names of the p columns, to name group members.
    min_shift : float, default 0.1
        Smallest circular shift as a fraction of T (shifts are drawn uniformly
        from ``[min_shift T, (1 - min_shift) T]``).
    shuffle : bool, default False
        Shuffled instead of contiguous folds for an int ``cv``.
    U : array_like, shape (n_pixels, q), optional
        ``Y`` are the temporal components of a movie ``U @ Y.T`` (its SVD):
        every EV is then per pixel of the movie, exact, at the cost of
        fitting q components (see :func:`cross_validated_ev`).

    Returns
    -------
    GroupContributions
        ``full_ev`` (q,), ``unique`` and ``single`` (n_groups, q); (n_pixels,)
        and (n_groups, n_pixels) with ``U``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 4))
    >>> y = 2 * X[:, 0] + X[:, 1] + rng.standard_normal(1000)
    >>> res = group_contributions(X, y, {"a": [0], "b": [1], "null": [2, 3]}, random_state=0)
    >>> res.group_names, res.unique.shape
    (['a', 'b', 'null'], (3, 1))
    >>> a, b, null = res.unique[:, 0]
    >>> bool(a > b > 0.1), bool(abs(null) < 0.01)
    (True, True)
    """
    X = validate_signal_matrix(X, "X")
    n_samples, n_features = X.shape
    Y_arr, _ = check_targets(Y, n_samples)
    names, cols = _group_columns(groups, n_features, columns)
    if estimator is None:
        estimator = RidgeCV()
    splits = cv_splits(cv, n_samples, shuffle=shuffle, random_state=random_state, X=X)

    if U is not None:
        U = _check_components(U, Y_arr.shape[1])

    def cv_ev(Xm):
        return cross_validated_ev(estimator, Xm, Y_arr, _FixedSplits(splits), U=U)

    shifts = circular_shifts(len(names), n_samples, min_shift=min_shift, random_state=random_state)
    full = cv_ev(X)
    reduced, single = [], []
    for idx, shift in progress(list(zip(cols, shifts)), total=len(names), desc="groups"):
        X_shift = X.copy()
        X_shift[:, idx] = np.roll(X[:, idx], shift, axis=0)
        reduced.append(cv_ev(X_shift))
        single.append(cv_ev(X[:, idx]))
    reduced_arr = np.stack(reduced)
    return GroupContributions(
        group_names=names,
        full_ev=full,
        unique=full[None, :] - reduced_arr,
        single=np.stack(single),
        reduced_ev=reduced_arr,
        shifts=np.asarray(shifts, dtype=np.int64),
        columns=cols,
    )


def circular_shifts(n_groups: int, n_samples: int, *, min_shift: float = 0.1, random_state=None) -> list[int]:
    """The circular time shifts of :func:`group_contributions`, one per group, in group order.

    Drawn uniformly from ``[ceil(min_shift T), T - ceil(min_shift T)]`` (at least 1) by
    ``numpy.random.default_rng(random_state)``.

    Examples
    --------
    >>> circular_shifts(3, 100, random_state=0)
    [78, 61, 51]
    """
    if not 0.0 <= float(min_shift) < 0.5:
        raise InputError(f"min_shift: got {min_shift!r}; expected a fraction in [0, 0.5)")
    rng = np.random.default_rng(random_state)
    lo = max(1, int(np.ceil(min_shift * n_samples)))
    hi = n_samples - lo
    if hi < lo:
        raise InputError(f"X: has {n_samples} time steps, too few for shifts >= {lo}; expected more time steps")
    return [int(rng.integers(lo, hi + 1)) for _ in range(n_groups)]


class _FixedSplits:
    """A splitter that replays precomputed (train, test) pairs (the same folds for every model)."""

    def __init__(self, splits):
        self.splits = splits

    def split(self, X=None, y=None, groups=None):
        yield from self.splits

    def get_n_splits(self, X=None, y=None, groups=None):
        return len(self.splits)


# --------------------------------------------------------------------------- widefield / SVD space


def pixel_explained_variance(U, residual_cov, target_cov, *, chunk: int = 65_536) -> np.ndarray:
    """Per-pixel EV from component-space covariances, without forming the pixel movie.

    A pixel's time course is ``u_i @ SVT`` (``u_i`` a row of ``U``), so its
    variance is ``u_i Σ u_iᵀ`` for the (k, k) covariance ``Σ`` of the
    component time courses; EV = ``1 - diag(U Σ_res Uᵀ) / diag(U Σ_Y Uᵀ)``.

    Parameters
    ----------
    U : array_like, shape (n_pixels, k)
        Spatial components.
    residual_cov, target_cov : array_like, shape (k, k)
        Covariances over time of the residuals and of the targets in component space.
    chunk : int
        Pixels per block.

    Returns
    -------
    ndarray, shape (n_pixels,)
        (A pixel with zero variance gets 1.0 if its residual variance is 0 too, else 0.0.)

    Examples
    --------
    >>> import numpy as np
    >>> pixel_explained_variance(np.eye(2), np.diag([0.5, 0.0]), np.eye(2))
    array([0.5, 1. ])
    """
    U = np.asarray(U, dtype=np.float64)
    R, S = np.asarray(residual_cov, dtype=np.float64), np.asarray(target_cov, dtype=np.float64)
    if U.ndim != 2 or R.shape != (U.shape[1],) * 2 or S.shape != R.shape:
        raise InputError(
            f"residual_cov/target_cov: shapes {R.shape}, {S.shape}; expected ({U.shape[-1]}, "
            f"{U.shape[-1]}) for U of shape {U.shape}"
        )
    out = np.empty(U.shape[0])
    for start in range(0, U.shape[0], chunk):
        u = U[start : start + chunk]
        num = np.einsum("ik,kl,il->i", u, R, u)
        den = np.einsum("ik,kl,il->i", u, S, u)
        out[start : start + chunk] = ev_from_variances(np.maximum(num, 0.0), np.maximum(den, 0.0))
    return out


@dataclass
class ComponentSpaceFit:
    """A model fitted to the temporal components of a movie, with per-pixel cross-validated EV.

    Attributes
    ----------
    estimator : fitted regressor
        Fitted on all data, targets = components: ``coef_`` is (p, k), and with
        ``RidgeCV`` ``alpha_`` is one penalty **per component**, not per pixel.
    pixel_ev : ndarray, shape (n_pixels,)
        Cross-validated EV of each pixel of the movie ``U @ SVT``.
    component_ev : ndarray, shape (k,)
        Cross-validated EV of each temporal component.
    residual_cov, target_cov : ndarray, shape (k, k)
        Covariances over time of the held-out residuals and of the components.
    cv_predictions : ndarray, shape (T, k)
        Held-out predictions of the components.
    """

    estimator: Any
    pixel_ev: np.ndarray
    component_ev: np.ndarray
    residual_cov: np.ndarray
    target_cov: np.ndarray
    cv_predictions: np.ndarray = field(repr=False)

    def pixel_coef(self, U) -> np.ndarray:
        """Coefficients in pixel space, ``coef_ @ Uᵀ``: shape (p, n_pixels) (beta maps)."""
        return np.asarray(self.estimator.coef_) @ np.asarray(U).T


def fit_in_component_space(
    X, U, SVT, estimator=None, cv: Any = 5, *, shuffle: bool = False, random_state=None
) -> ComponentSpaceFit:
    """Fit a widefield movie in SVD space and get exact per-pixel cross-validated EV.

    The movie (pixels × time) is ``U @ SVT``. The model is fitted to the k
    temporal components ``Y = SVT.T`` (T, k) instead of the pixels; because a
    pixel is a fixed linear mix of the components, its held-out prediction is
    the same mix of the component predictions, and its cross-validated EV is
    exactly ``1 - diag(U Σ_res Uᵀ) / diag(U Σ_Y Uᵀ)`` with ``Σ_res`` the (k, k)
    covariance of the held-out component residuals and ``Σ_Y`` that of the
    components (see :func:`pixel_explained_variance`). The pixel movie is never
    formed. With ``RidgeCV`` the penalty is chosen per component (one
    ``alpha_`` per column of ``SVT.T``), so every pixel shares the components'
    penalties; a per-pixel penalty would need fitting in pixel space.

    Parameters
    ----------
    X : array_like, shape (T, p)
        Design matrix, time first.
    U : array_like, shape (n_pixels, k)
        Spatial components (e.g. flattened ``(H, W)`` maps).
    SVT : array_like, shape (k, T)
        Temporal components (singular values included).
    estimator : regressor, default ``RidgeCV()``
    cv, shuffle, random_state
        Folds, as in :func:`cross_validated_predictions` (contiguous blocks by default).

    Returns
    -------
    ComponentSpaceFit

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((400, 3))
    >>> SVT = (X @ rng.standard_normal((3, 4)) + 0.5 * rng.standard_normal((400, 4))).T
    >>> U = rng.standard_normal((50, 4))
    >>> fit = fit_in_component_space(X, U, SVT)
    >>> fit.pixel_ev.shape, fit.estimator.coef_.shape
    ((50,), (3, 4))
    """
    X = validate_signal_matrix(X, "X")
    SVT = np.asarray(SVT)
    U = validate_signal_matrix(U, "U", min_timesteps=1)
    if SVT.ndim != 2 or SVT.shape[0] != U.shape[1]:
        raise InputError(f"SVT: has shape {SVT.shape}; expected (k, T) with k = {U.shape[1]} (the columns of U)")
    Y = validate_signal_matrix(SVT.T, "SVT.T")
    if Y.shape[0] != X.shape[0]:
        raise InputError(f"SVT: has {Y.shape[0]} time steps but X has {X.shape[0]}; expected the same T")
    if estimator is None:
        estimator = RidgeCV()
    pred = cross_validated_predictions(estimator, X, Y, cv, shuffle=shuffle, random_state=random_state)
    rows = ~np.isnan(pred[:, 0])
    Yr = np.asarray(Y[rows], dtype=np.float64)
    resid_cov, target_cov = _held_out_covariances(Y, pred, rows)
    fitted = clone(estimator).fit(X, Y)
    return ComponentSpaceFit(
        estimator=fitted,
        pixel_ev=pixel_explained_variance(U, resid_cov, target_cov),
        component_ev=explained_variance(Yr, pred[rows]),
        residual_cov=resid_cov,
        target_cov=target_cov,
        cv_predictions=pred,
    )
