"""Reliability of repeated measurements: noise ceilings, per-column correlations, classifier n-way accuracy.

Noise ceiling (:func:`noise_ceiling`)
    With ``R`` repeats ``y_rt`` of the same stimulus, ``ybar_t`` their mean,
    ``sigma2 = mean_t var_r(y_rt)`` (ddof 1) the noise variance of one repeat and
    ``var_t(ybar)`` (ddof 1) the variance of the mean, the signal variance is
    ``var(s) = var_t(ybar) - sigma2 / R`` and a perfect model correlates with
    ``ybar`` at ``sqrt(var(s) / var_t(ybar)) = sqrt(max(0, 1 - sigma2 / (R var_t(ybar))))``
    (Hsu et al. 2004; Kay et al. 2013's noise ceiling in correlation units).

Explainable variance (:func:`explainable_variance`)
    The share of one repeat's variance that the stimulus explains, ``var(s) / (var(s) + sigma2)``
    with ``var(s)`` and ``sigma2`` as above (the fraction of explainable variance of mouse V1 studies);
    its square root is the expected correlation of a perfect model with a *single* repeat.

Noise correlation (:func:`noise_correlation`)
    Residuals of every repeat from the mean of the repeats, z-scored per column; the mean over all
    pairs of columns of their correlation, computed in ``O(V)`` memory from the sum of the z-scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int

__all__ = [
    "classifier_nway_accuracy",
    "column_correlations",
    "explainable_variance",
    "lag_autocorrelation",
    "noise_ceiling",
    "noise_correlation",
]


def column_correlations(a: Any, b: Any) -> np.ndarray:
    """Pearson correlation of every column of ``a`` with the same column of ``b`` (0 when either is constant).

    Parameters
    ----------
    a, b : array_like, shape (T, V)

    Returns
    -------
    ndarray, shape (V,)

    Examples
    --------
    >>> column_correlations([[0.0, 1.0], [1.0, 1.0], [2.0, 1.0]], [[0.0, 0.0], [2.0, 1.0], [4.0, 2.0]])
    array([1., 0.])
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a = a - a.mean(0)
    b = b - b.mean(0)
    den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
    return np.divide((a * b).sum(0), den, out=np.zeros(a.shape[1]), where=den > 0)


def noise_ceiling(repeats: Any) -> np.ndarray:
    """Noise ceiling per voxel: the expected correlation of a perfect model with the mean of the repeats.

    ``sqrt(max(0, 1 - sigma2 / (R var_t(ybar))))`` with ``sigma2`` the mean over time of the variance
    across the ``R`` repeats (ddof 1) and ``var_t(ybar)`` the variance over time of their mean (ddof 1);
    Hsu et al. (2004); Kay et al. (2013)'s noise ceiling in correlation units.

    Parameters
    ----------
    repeats : array_like, shape (R, T, V)
        ``R >= 2`` repeats of the same stimulus.

    Returns
    -------
    ndarray, shape (V,)
        In [0, 1]; 0 where the mean is constant.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.standard_normal((2000, 1))
    >>> y = s[None] + rng.standard_normal((4, 2000, 1))     # 4 repeats, signal and noise variance 1
    >>> round(float(noise_ceiling(y)[0]), 2)                  # sqrt(4 / 5) = 0.89
    0.89
    """
    y = np.asarray(repeats, dtype=np.float64)
    if y.ndim != 3 or y.shape[0] < 2 or y.shape[1] < 3:
        raise InputError(f"repeats: got shape {y.shape}; expected (n_repeats >= 2, n_scans >= 3, n_voxels)")
    n_rep = y.shape[0]
    noise = y.var(0, ddof=1).mean(0)
    var_mean = y.mean(0).var(0, ddof=1)
    ratio = np.divide(noise, n_rep * var_mean, out=np.ones_like(noise), where=var_mean > 0)
    return np.sqrt(np.clip(1.0 - ratio, 0.0, 1.0))


def _repeats(repeats: Any) -> np.ndarray:
    y = np.asarray(repeats, dtype=np.float64)
    if y.ndim != 3 or y.shape[0] < 2 or y.shape[1] < 3:
        raise InputError(f"repeats: got shape {y.shape}; expected (n_repeats >= 2, n_scans >= 3, n_voxels)")
    return y


def explainable_variance(repeats: Any) -> np.ndarray:
    """Fraction of explainable variance per column: the stimulus-driven share of one repeat's variance.

    ``var(s) / (var(s) + sigma2)``, ``var(s) = var_t(ybar) - sigma2 / R`` (clipped at 0), ``sigma2`` the
    mean over time of the variance across the ``R`` repeats (ddof 1), ``ybar`` their mean (see the module
    notes). A column with no stimulus-driven activity has 0; ``sqrt`` of it is the expected correlation of
    a perfect model with one repeat.

    Parameters
    ----------
    repeats : array_like, shape (R, T, V)
        ``R >= 2`` repeats of the same stimulus (several stimuli: concatenate them along ``T``).

    Returns
    -------
    ndarray, shape (V,)
        In [0, 1]; 0 where nothing varies.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> s = rng.standard_normal((4000, 1))
    >>> y = s[None] + rng.standard_normal((4, 4000, 1))    # signal and noise variance 1
    >>> round(float(explainable_variance(y)[0]), 1)
    0.5
    """
    y = _repeats(repeats)
    n_rep = y.shape[0]
    noise = y.var(0, ddof=1).mean(0)
    signal = np.maximum(y.mean(0).var(0, ddof=1) - noise / n_rep, 0.0)
    total = signal + noise
    return np.divide(signal, total, out=np.zeros_like(total), where=total > 0)


def noise_correlation(repeats: Any) -> float:
    """Mean pairwise noise correlation: correlation of the columns' deviations from the mean of the repeats.

    Parameters
    ----------
    repeats : array_like, shape (R, T, V)
        ``R >= 2`` repeats; ``V >= 2`` columns (neurons). Constant columns are left out.

    Returns
    -------
    float
        Mean over the ``V (V - 1) / 2`` pairs of columns (of the Pearson correlation of their residuals
        over repeats and time); NaN with fewer than 2 non-constant columns.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.standard_normal((5, 2000, 1))          # one factor shared by every column
    >>> y = shared + rng.standard_normal((5, 2000, 30))     # correlation 1 / 2 between any two columns
    >>> round(noise_correlation(y), 1)
    0.5
    """
    y = _repeats(repeats)
    res = (y - y.mean(0, keepdims=True)).reshape(-1, y.shape[2])
    sd = res.std(0)
    res = res[:, sd > 0] / sd[sd > 0]
    n, v = res.shape
    if v < 2:
        return float("nan")
    total = res.sum(1)
    # sum over pairs i != j of sum_t z_i z_j = ||sum_i z_i||^2 - sum_i ||z_i||^2
    return float((total @ total - (res * res).sum()) / (n * v * (v - 1)))


def lag_autocorrelation(series: Any, lag: int = 1) -> np.ndarray:
    """Autocorrelation at ``lag`` samples of every column, pooled over trials.

    Parameters
    ----------
    series : array_like (T, V) or sequence of them
        Time first; pairs ``(t, t + lag)`` are taken within each trial.
    lag : int, default 1

    Returns
    -------
    ndarray, shape (V,)
        Pearson correlation of ``x[t]`` and ``x[t + lag]``; 0 for constant columns.

    Examples
    --------
    >>> x = np.repeat(np.arange(10.0), 2)[:, None]           # every value held for two samples
    >>> round(float(lag_autocorrelation(x)[0]), 2)
    0.98
    """
    lag = check_int("lag", lag)
    trials = [np.asarray(series, dtype=np.float64)] if np.ndim(series) == 2 else list(series)
    a, b = [], []
    for i, x in enumerate(trials):
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] <= lag:
            raise InputError(f"series[{i}]: got shape {x.shape}; expected (T > {lag}, V), time first")
        a.append(x[:-lag])
        b.append(x[lag:])
    return column_correlations(np.concatenate(a), np.concatenate(b))


def classifier_nway_accuracy(
    probabilities: Any, true_class: Any, n_way: int = 50, trials: int = 100, random_state: Any = None
) -> float:
    """MinD-Video's n-way top-1 classification accuracy of decoded samples.

    For every sample and trial, ``n_way - 1`` classes other than ``true_class[i]`` are drawn at
    random (without replacement) from all classes; the trial is correct when the sample's
    probability of its true class beats every drawn class (a tie between ``k`` at the top counts
    ``1 / k``). Chance is ``1 / n_way``.

    Parameters
    ----------
    probabilities : array_like, shape (n, C)
        Class scores of the decoded samples (probabilities or logits: only the order matters).
    true_class : array_like of int, shape (n,)
        Ground-truth class (e.g. the classifier's top class of the true frame).
    n_way : int, default 50
        ``2 <= n_way <= C``.
    trials : int, default 100
    random_state : int, numpy Generator or None

    Returns
    -------
    float

    Examples
    --------
    >>> p = np.eye(5)[[0, 1, 2]]
    >>> classifier_nway_accuracy(p, [0, 1, 2], n_way=3, trials=10, random_state=0)
    1.0
    """
    P = np.asarray(probabilities, dtype=np.float64)
    if P.ndim != 2 or P.shape[0] < 1 or P.shape[1] < 2 or not np.isfinite(P).all():
        raise InputError(f"probabilities: got shape {P.shape}; expected finite (n_samples, n_classes >= 2)")
    n, n_cls = P.shape
    t = np.asarray(true_class)
    if t.shape != (n,) or t.dtype.kind not in "iu" or t.min() < 0 or t.max() >= n_cls:
        raise InputError(f"true_class: got shape {t.shape}; expected ({n},) class indices in [0, {n_cls})")
    n_way = check_int("n_way", n_way, minimum=2)
    if n_way > n_cls:
        raise InputError(f"n_way: got {n_way}; expected at most the {n_cls} classes")
    trials = check_int("trials", trials)
    rng = np.random.default_rng(random_state)
    own = P[np.arange(n), t]
    mask = np.ones((n, n_cls), dtype=bool)
    mask[np.arange(n), t] = False
    others = P[mask].reshape(n, n_cls - 1)
    total = 0.0
    for _ in range(trials):
        pick = np.argpartition(rng.random((n, n_cls - 1)), n_way - 2, axis=1)[:, : n_way - 1]
        chosen = np.take_along_axis(others, pick, axis=1)
        above = (chosen > own[:, None]).any(1)
        ties = (chosen == own[:, None]).sum(1)
        total += float(np.where(above, 0.0, 1.0 / (1.0 + ties)).sum())
    return total / (n * trials)
