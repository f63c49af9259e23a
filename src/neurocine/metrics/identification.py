"""Identification metrics of decoded feature vectors (pure numpy).

Rules used in the fMRI decoding literature to ask whether a decoded vector
picks out its own stimulus among others:

- :func:`pairwise_identification` -- the generic-object-decoding rule
  (Horikawa & Kamitani 2017): own candidate against each other one;
- :func:`nway_top1` -- MinD-Video's n-way top-1 with random candidate sets;
- :func:`identification_with_categories` -- pairwise, against category
  feature vectors;
- :func:`binomial_error` -- the standard error of such an accuracy.

Every comparison is a Pearson correlation, computed as a dot product of rows
made unit length by :func:`unit_rows`.
"""

from __future__ import annotations

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int, validate_signal_matrix

__all__ = [
    "binomial_error",
    "check_vectors",
    "identification_with_categories",
    "nway_top1",
    "pairwise_identification",
    "pairwise_p_value",
    "unit_rows",
]

_BLOCK_ROWS = 1024  # rows per block of a similarity matrix


def check_vectors(
    a,
    name: str,
    n_rows: int | None = None,
    n_cols: int | None = None,
    rows_of: str = "predicted",
    cols_as: str = "the feature dimension of predicted",
    dtype=np.float64,
) -> np.ndarray:
    """``a`` as a finite 2-D array (n, D) of ``dtype``, with ``n_rows`` rows and ``n_cols`` columns when given.

    Parameters
    ----------
    a : array_like, shape (n, D)
        Vectors, one per row.
    name : str
        Argument named in the error message.
    n_rows, n_cols : int or None
        Expected rows (one per row of ``rows_of``) and columns (``cols_as``).
    rows_of, cols_as : str
        What the expected rows and columns match, for the error message.
    dtype : numpy dtype, default float64

    Returns
    -------
    ndarray, shape (n, D)

    Examples
    --------
    >>> check_vectors([[1, 2], [3, 4]], "E", n_cols=2).dtype
    dtype('float64')
    """
    arr = validate_signal_matrix(a, name, min_timesteps=1, dtype=dtype)
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InputError(f"{name}: has {arr.shape[0]} rows, expected {n_rows} (one per row of {rows_of})")
    if n_cols is not None and arr.shape[1] != n_cols:
        raise InputError(f"{name}: has {arr.shape[1]} columns, expected {n_cols} ({cols_as})")
    return arr


def unit_rows(a: np.ndarray, center: bool = True) -> np.ndarray:
    """Rows centred (when ``center``) and scaled to unit norm, so that dot products of rows are correlations.

    Parameters
    ----------
    a : ndarray, shape (n, D)
        Float rows.
    center : bool, default True
        Subtract each row's mean first (Pearson correlation); False: cosine
        similarity.

    Returns
    -------
    ndarray, shape (n, D)
        Unit rows; a constant row (zero after centring) stays 0, so its
        correlation with anything is 0.

    Examples
    --------
    >>> import numpy as np
    >>> u = unit_rows(np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [5.0, 5.0, 5.0]]))
    >>> (u @ u.T).round(6).tolist()
    [[1.0, -1.0, 0.0], [-1.0, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    a = a - a.mean(1, keepdims=True) if center else a.copy()
    norm = np.linalg.norm(a, axis=1, keepdims=True)
    return np.divide(a, norm, out=np.zeros_like(a), where=norm > 0)


def _share_below(sims: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per row: count of entries below ``reference`` plus half the ties (counts, not shares)."""
    ref = reference[:, None]
    return (sims < ref).sum(1) + 0.5 * (sims == ref).sum(1)


def pairwise_identification(predicted, true, candidates=None) -> np.ndarray:
    """Pairwise identification accuracy per sample (the generic-object-decoding rule).

    For sample ``i``, the Pearson correlation of ``predicted[i]`` with its
    own ``true[i]`` is compared with its correlation with every *other*
    candidate; the accuracy of the sample is the share of those candidates
    whose correlation is below the true one (a tie counts one half). Its
    mean over samples is the pairwise identification accuracy: 1 for
    perfect predictions, 0.5 by chance.

    Parameters
    ----------
    predicted : array_like, shape (n, D)
        Decoded feature vectors (e.g. CNN features predicted from voxels).
    true : array_like, shape (n, D)
        The true feature vector of each sample.
    candidates : array_like, shape (m, D), optional
        The other candidates (distractors) every sample is compared with.
        None: the other rows of ``true`` (sample ``i`` against ``true[j]``,
        ``j != i``; needs n >= 2).

    Returns
    -------
    ndarray, shape (n,)
        Accuracy of each sample in [0, 1]; ``.mean()`` is the identification
        accuracy and :func:`binomial_error` its error.

    Notes
    -----
    A constant row has correlation 0 with everything.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).standard_normal((5, 20))
    >>> pairwise_identification(true, true).tolist()          # perfect predictions
    [1.0, 1.0, 1.0, 1.0, 1.0]
    >>> float(pairwise_identification(np.ones((5, 20)), true).mean())   # constant: all ties
    0.5
    """
    P = check_vectors(predicted, "predicted")
    T = check_vectors(true, "true", P.shape[0], P.shape[1])
    Pu, Tu = unit_rows(P), unit_rows(T)
    n = P.shape[0]
    out = np.empty(n)
    if candidates is None:
        if n < 2:
            raise InputError(
                "true: has 1 row; expected at least 2 samples (the others are the candidates), or pass candidates"
            )
        for start in range(0, n, _BLOCK_ROWS):
            stop = min(n, start + _BLOCK_ROWS)
            sims = Pu[start:stop] @ Tu.T
            rows = np.arange(stop - start)
            own = sims[rows, np.arange(start, stop)]
            out[start:stop] = (_share_below(sims, own) - 0.5) / (n - 1)  # the sample's own tie with itself
        return out
    C = check_vectors(candidates, "candidates", n_cols=P.shape[1])
    Cu = unit_rows(C)
    for start in range(0, n, _BLOCK_ROWS):
        stop = min(n, start + _BLOCK_ROWS)
        sims = Pu[start:stop] @ Cu.T
        own = np.einsum("ij,ij->i", Pu[start:stop], Tu[start:stop])
        out[start:stop] = _share_below(sims, own) / C.shape[0]
    return out


def pairwise_p_value(predicted, true, n_permutations: int = 1000, random_state=None) -> tuple[float, float]:
    """Pairwise identification accuracy and its permutation p-value (predictions shuffled across samples).

    The null distribution pairs each prediction with another sample's truth (a random permutation of
    the rows of ``predicted``); the p-value is ``(1 + #{null >= observed}) / (1 + n_permutations)``.

    Parameters
    ----------
    predicted, true : array_like, shape (n, D)
        As :func:`pairwise_identification` (candidates: the other rows of ``true``).
    n_permutations : int, default 1000
    random_state : int or numpy Generator, optional

    Returns
    -------
    (float, float)
        The accuracy (mean of :func:`pairwise_identification`) and its one-sided p-value.

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).standard_normal((30, 20))
    >>> acc, p = pairwise_p_value(true + 0.5 * np.random.default_rng(1).standard_normal((30, 20)), true, 200, 0)
    >>> acc > 0.9, p < 0.01
    (True, True)
    """
    P = check_vectors(predicted, "predicted")
    T = check_vectors(true, "true", P.shape[0], P.shape[1])
    n_perm = check_int("n_permutations", n_permutations, minimum=1)
    n = P.shape[0]
    if n < 3:
        raise InputError(f"true: has {n} rows; expected at least 3 samples for a permutation test")
    sims = unit_rows(P) @ unit_rows(T).T  # prediction i against truth j

    def accuracy(order: np.ndarray) -> float:
        s = sims[order]  # prediction order[i] now stands for sample i
        own = s[np.arange(n), np.arange(n)]
        return float(((_share_below(s, own) - 0.5) / (n - 1)).mean())

    observed = accuracy(np.arange(n))
    rng = np.random.default_rng(random_state)
    null = np.array([accuracy(rng.permutation(n)) for _ in range(n_perm)])
    return observed, float((1 + (null >= observed).sum()) / (1 + n_perm))


def nway_top1(predicted, true, n_way: int = 50, trials: int = 100, random_state=None) -> float:
    """n-way top-1 identification accuracy (MinD-Video's scoring), with random candidate sets.

    For every sample and trial, the candidates are the sample's own
    ``true[i]`` and ``n_way - 1`` other rows of ``true`` drawn at random
    without replacement; the trial is correct when the true candidate has
    the highest Pearson correlation with ``predicted[i]`` (a tie for the top
    between k candidates counts ``1 / k``). The accuracy is the mean over
    samples and trials; chance is ``1 / n_way``.

    Parameters
    ----------
    predicted, true : array_like, shape (n, D)
    n_way : int, default 50
        Candidates per trial (2 for 2-way), at most n.
    trials : int, default 100
        Random candidate draws per sample (MinD-Video repeats 100 times).
    random_state : int, numpy Generator or None
        Seed of the draws.

    Returns
    -------
    float
        Accuracy in [0, 1]; its error over the ``n`` samples is
        ``binomial_error(accuracy, n)`` (conservative: the trials of one
        sample are not independent).

    Examples
    --------
    >>> import numpy as np
    >>> true = np.random.default_rng(0).standard_normal((60, 30))
    >>> nway_top1(true, true, n_way=50, trials=5, random_state=0)
    1.0
    """
    P = check_vectors(predicted, "predicted")
    T = check_vectors(true, "true", P.shape[0], P.shape[1])
    n = P.shape[0]
    n_way = check_int("n_way", n_way, minimum=2)
    trials = check_int("trials", trials)
    if n_way > n:
        raise InputError(f"n_way: got {n_way}, expected at most the {n} samples (the candidates come from true)")
    rng = np.random.default_rng(random_state)
    sims = unit_rows(P) @ unit_rows(T).T
    own = np.diag(sims).copy()
    off = ~np.eye(n, dtype=bool)
    others = sims[off].reshape(n, n - 1)  # row i: correlations with true[j], j != i, in order of j
    total = 0.0
    for _ in range(trials):
        for start in range(0, n, 256):  # blocks of rows: the random keys take 256 x (n - 1) floats at a time
            rows, ref = others[start : start + 256], own[start : start + 256, None]
            if n_way < n:
                pick = np.argpartition(rng.random(rows.shape), n_way - 2, axis=1)[:, : n_way - 1]
                rows = np.take_along_axis(rows, pick, axis=1)
            above = (rows > ref).any(1)
            total += float(np.where(above, 0.0, 1.0 / (1.0 + (rows == ref).sum(1))).sum())
    return total / (n * trials)


def binomial_error(accuracy, n):
    """Standard error of an accuracy measured on ``n`` independent trials: ``sqrt(p (1 - p) / n)``.

    Parameters
    ----------
    accuracy : float or array_like
        Accuracies in [0, 1].
    n : int or array_like
        Numbers of trials (samples), >= 1.

    Returns
    -------
    float or ndarray
        Broadcast shape of the inputs.

    Examples
    --------
    >>> binomial_error(0.5, 100)
    0.05
    """
    p = np.asarray(accuracy, dtype=np.float64)
    count = np.asarray(n)
    if not np.all(np.isfinite(p)) or np.any(p < 0) or np.any(p > 1):
        raise InputError(f"accuracy: got {accuracy!r}, expected values in [0, 1]")
    if count.dtype.kind not in "iuf" or np.any(count < 1) or np.any(count != np.round(count)):
        raise InputError(f"n: got {n!r}, expected a positive number of trials")
    err = np.sqrt(p * (1 - p) / count.astype(np.float64))
    return float(err) if err.ndim == 0 else err


def identification_with_categories(predicted, category_features, labels) -> np.ndarray:
    """Pairwise category identification per sample (generic object decoding).

    Each sample's prediction is correlated with the feature vector of every
    category (e.g. the average CNN features of its images); the accuracy of
    the sample is the share of the *other* categories whose correlation is
    below that of its own category (ties count one half). Chance is 0.5.

    Parameters
    ----------
    predicted : array_like, shape (n, D)
        Decoded feature vectors.
    category_features : array_like, shape (m, D)
        One feature vector per category (m >= 2).
    labels : array_like of int, shape (n,)
        The category (row of ``category_features``) of each sample.

    Returns
    -------
    ndarray, shape (n,)
        Accuracy per sample; ``.mean()`` is the category identification
        accuracy.

    Examples
    --------
    >>> import numpy as np
    >>> cats = np.random.default_rng(0).standard_normal((4, 10))
    >>> identification_with_categories(cats[[2, 0, 1]], cats, [2, 0, 1]).tolist()
    [1.0, 1.0, 1.0]
    """
    P = check_vectors(predicted, "predicted")
    C = check_vectors(category_features, "category_features", n_cols=P.shape[1])
    m = C.shape[0]
    if m < 2:
        raise InputError(f"category_features: has {m} row; expected at least 2 categories")
    lab = np.asarray(labels)
    if lab.shape != (P.shape[0],):
        raise InputError(f"labels: got shape {lab.shape}, expected ({P.shape[0]},) (one per row of predicted)")
    if lab.dtype.kind not in "iu" and not (lab.dtype.kind == "f" and np.all(lab == np.round(lab))):
        raise InputError(f"labels: has dtype {lab.dtype}; expected integer category indices")
    lab = lab.astype(np.int64)
    if lab.size and (lab.min() < 0 or lab.max() >= m):
        bad = int(lab[(lab < 0) | (lab >= m)][0])
        raise InputError(f"labels: has {bad}; expected indices of category_features rows, 0 to {m - 1}")
    sims = unit_rows(P) @ unit_rows(C).T
    own = sims[np.arange(P.shape[0]), lab]
    return (_share_below(sims, own) - 0.5) / (m - 1)
