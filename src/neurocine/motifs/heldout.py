"""Held-out evaluation of a fitted Conv-NMF model: held-out R² and seqNMF's significance test per unit.

:func:`evaluate_heldout` takes a fitted :class:`~neurocine.motifs.convnmf.ConvNMF` and data it was not
fitted on. It finds each unit's events there with the templates held fixed (``ConvNMF.transform``),
reports the fraction of variance the templates then explain, and tests each unit as seqNMF's
``test_significance.m`` does (Mackevicius, Bahle et al. 2019): a unit whose template recurs in the
held-out data has a right-skewed overlap with it (large values where the sequence occurs, small
elsewhere), while templates with each channel's row circularly shifted in lag by a random amount
keep every channel's own time course but break the sequence. The p-value is the fraction of such
null templates whose overlap is at least as skewed as the template's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import validate_signal_matrix

__all__ = ["HeldoutEvaluation", "SignificanceTest", "evaluate_heldout", "significance_test", "template_overlap"]


def _check_templates(templates, n_channels: int | None = None) -> np.ndarray:
    w = np.asarray(templates)
    if w.ndim != 3 or w.dtype.kind not in "biuf" or 0 in w.shape:
        raise InputError(f"templates: got shape {w.shape} and dtype {w.dtype}; expected a numeric (K, N, D) array")
    if n_channels is not None and w.shape[1] != n_channels:
        raise InputError(f"templates: have N={w.shape[1]} channels but the data has {n_channels}; expected the same N")
    if not np.isfinite(w).all():
        raise InputError("templates: contain NaN or infinite values; expected finite values")
    return w.astype(np.float64, copy=False)


def _lagged(X: np.ndarray, width: int) -> np.ndarray:
    """``L[t, n, d] = X[(t + d) % T, n]``, shape (T, N, D): the data seen through a window of D lags, wrapped."""
    t_len = X.shape[0]
    idx = (np.arange(t_len)[:, None] + np.arange(width)[None, :]) % t_len
    return np.ascontiguousarray(X[idx].transpose(0, 2, 1))


def template_overlap(X, templates) -> np.ndarray:
    """Overlap of each template with the data at every time step (seqNMF's ``W' X``).

    ``overlap[t, k] = sum_n sum_d W[k, n, d] * X[(t + d) % T, n]``: the transpose of the
    convolution that builds the model, i.e. the cross-correlation of the data with the template,
    wrapped circularly at the end as seqNMF's ``circshift`` does.

    Parameters
    ----------
    X : array_like, shape (T, N)
        Data, time first.
    templates : array_like, shape (K, N, D)
        K templates of N channels and D lags (``ConvNMF.templates_``).

    Returns
    -------
    ndarray, shape (T, K), float64

    Examples
    --------
    >>> import numpy as np
    >>> X = np.zeros((6, 2)); X[2, 0] = 1.0; X[3, 1] = 1.0      # channel 0 then channel 1
    >>> W = np.array([[[1.0, 0.0], [0.0, 1.0]]])                 # the same sequence, (1, 2, 2)
    >>> template_overlap(X, W)[:, 0]
    array([0., 0., 2., 0., 0., 0.])
    """
    X = validate_signal_matrix(X, "X").astype(np.float64, copy=False)
    w = _check_templates(templates, X.shape[1])
    k, n, d = w.shape
    if d > X.shape[0]:
        raise InputError(f"X: has {X.shape[0]} time steps, expected at least the templates' D={d}")
    return _lagged(X, d).reshape(X.shape[0], n * d) @ w.reshape(k, n * d).T


def _skewness(values: np.ndarray) -> np.ndarray:
    """Biased sample skewness along axis 0 (MATLAB's ``skewness(x, 1)``); NaN for a constant column."""
    from scipy.stats import skew

    with np.errstate(invalid="ignore", divide="ignore"):
        return np.asarray(skew(values, axis=0, bias=True), dtype=np.float64)


def _degenerate(w: np.ndarray) -> np.ndarray:
    """seqNMF's untestable units: an all-zero template, or one channel with > 99.9 % of the power."""
    flat = w.sum(axis=2)  # (K, N): each channel summed over lags
    power = (flat**2).sum(axis=1)
    empty = ~np.any(w != 0, axis=(1, 2))
    return empty | ((flat**2).max(axis=1) > 0.999 * power)


@dataclass
class SignificanceTest:
    """Result of :func:`significance_test`.

    Attributes
    ----------
    skewness : ndarray, shape (K,)
        Skewness of each template's overlap with the data (NaN for an untestable unit).
    null_skewness : ndarray, shape (K, n_null)
        The same for each null template (each channel's row circularly shifted in lag).
    null_shifts : ndarray of int, shape (n_null, K, N)
        The shift, in lags (1 to D, as MATLAB's ``randi(D)``; D is no shift), of every channel's row.
    pvalues : ndarray, shape (K,)
        ``(1 + #{null >= observed}) / (n_null + 1)``; 1.0 for an untestable unit (an all-zero template,
        one channel holding > 99.9 % of its power, or an overlap that does not vary).
    significant : ndarray of bool, shape (K,)
        ``pvalues < alpha / K`` (Bonferroni over the K units).
    alpha : float
        The family-wise level.
    """

    skewness: np.ndarray
    null_skewness: np.ndarray
    null_shifts: np.ndarray
    pvalues: np.ndarray
    significant: np.ndarray
    alpha: float

    @property
    def n_significant(self) -> int:
        """Number of significant units."""
        return int(self.significant.sum())


def significance_test(
    X, templates, *, n_null: int | None = None, alpha: float = 0.05, random_state=None, chunk: int = 64
) -> SignificanceTest:
    """seqNMF's significance test of each template on (held-out) data.

    For each unit k, the statistic is the skewness over time of its overlap with the data
    (:func:`template_overlap`). Each of ``n_null`` null templates shifts every channel's row of
    ``W_k`` circularly along the lags by an independent random amount (1 to D, as seqNMF's
    ``test_significance.m``), which keeps each channel's time course but breaks the sequence
    across channels. The p-value is ``(1 + #{null skewness >= observed}) / (n_null + 1)`` and a
    unit is significant when it is below ``alpha / K`` (Bonferroni).

    Parameters
    ----------
    X : array_like, shape (T, N)
        Data the templates were not fitted on, time first.
    templates : array_like, shape (K, N, D)
    n_null : int, optional
        Number of null templates per unit. Default seqNMF's ``2 * ceil(K / alpha)``, which lets the
        smallest p-value fall below ``alpha / K``.
    alpha : float, default 0.05
        Family-wise significance level.
    random_state : int, numpy Generator or None
        Seed of the shifts: the same seed gives the same null distribution.
    chunk : int, default 64
        Null templates scored per matrix product (bounds memory at about ``chunk * K * T`` floats).

    Returns
    -------
    SignificanceTest

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> W = np.zeros((1, 6, 6)); W[0, np.arange(6), np.arange(6)] = 1.0     # a diagonal sequence
    >>> X = rng.random((300, 6)) * 0.2
    >>> for t in range(10, 290, 40):
    ...     X[t + np.arange(6), np.arange(6)] += 1.0
    >>> res = significance_test(X, W, random_state=0)
    >>> bool(res.significant[0]), res.null_skewness.shape
    (True, (1, 40))
    """
    X = validate_signal_matrix(X, "X").astype(np.float64, copy=False)
    w = _check_templates(templates, X.shape[1])
    k, n, d = w.shape
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise InputError(f"alpha: got {alpha!r}, expected a number in (0, 1)")
    if n_null is None:
        n_null = 2 * math.ceil(k / alpha)
    if not (isinstance(n_null, (int, np.integer)) and n_null >= 1):
        raise InputError(f"n_null: got {n_null!r}, expected an integer >= 1")
    if d > X.shape[0]:
        raise InputError(f"X: has {X.shape[0]} time steps, expected at least the templates' D={d}")
    rng = np.random.default_rng(random_state)
    lagged = _lagged(X, d).reshape(X.shape[0], n * d)
    observed = _skewness(lagged @ w.reshape(k, n * d).T)
    shifts = rng.integers(1, d + 1, size=(n_null, k, n))
    null = np.empty((k, n_null))
    units = np.arange(k)[None, :, None, None]
    chans = np.arange(n)[None, None, :, None]
    for start in range(0, n_null, chunk):
        s = shifts[start : start + chunk]  # (c, K, N)
        lag = (np.arange(d)[None, None, None, :] - s[..., None]) % d  # circshift by s: out[d] = in[d - s]
        w_null = w[units, chans, lag]  # (c, K, N, D)
        over = lagged @ w_null.reshape(-1, n * d).T  # (T, c * K)
        null[:, start : start + len(s)] = _skewness(over).reshape(len(s), k).T
    untestable = _degenerate(w) | ~np.isfinite(observed)
    count = (null >= observed[:, None]).sum(axis=1)
    pvalues = np.where(untestable, 1.0, (1.0 + count) / (n_null + 1.0))
    observed = np.where(untestable, np.nan, observed)
    return SignificanceTest(observed, null, shifts, pvalues, pvalues < alpha / k, float(alpha))


@dataclass
class HeldoutEvaluation:
    """Result of :func:`evaluate_heldout`.

    Attributes
    ----------
    amplitudes : ndarray, shape (T_test, K)
        Each unit's events on the held-out data, templates fixed.
    r2 : float
        Fraction of the held-out data's variance (around its grand mean) the fixed templates explain.
    test : SignificanceTest
        seqNMF's significance test per unit (``pvalues``, ``significant``...).
    """

    amplitudes: np.ndarray
    r2: float
    test: SignificanceTest

    @property
    def pvalues(self) -> np.ndarray:
        """Per-unit p-values, shape (K,)."""
        return self.test.pvalues

    @property
    def significant(self) -> np.ndarray:
        """Per-unit significance after Bonferroni over K, shape (K,)."""
        return self.test.significant

    @property
    def n_significant(self) -> int:
        """Number of significant units."""
        return self.test.n_significant

    def to_dict(self) -> dict:
        """The scalar results as JSON-ready values: ``heldout_r2``, ``pvalues``, ``significant``,
        ``n_significant``, ``skewness`` (None for untestable units), ``n_null``, ``alpha``."""
        return {
            "heldout_r2": float(self.r2),
            "pvalues": [float(p) for p in self.pvalues],
            "significant": [bool(s) for s in self.significant],
            "n_significant": self.n_significant,
            "skewness": [None if not np.isfinite(s) else float(s) for s in self.test.skewness],
            "n_null": int(self.test.null_skewness.shape[1]),
            "alpha": self.test.alpha,
        }


def evaluate_heldout(
    model, X, *, n_null: int | None = None, alpha: float = 0.05, random_state=None
) -> HeldoutEvaluation:
    """Score a fitted Conv-NMF model on data it was not fitted on.

    Each unit's events on ``X`` are found with the templates held fixed
    (:meth:`~neurocine.motifs.convnmf.ConvNMF.transform`); the held-out R² is that of the
    resulting reconstruction; each unit is tested with :func:`significance_test`.

    Parameters
    ----------
    model : ConvNMF
        A fitted model (``templates_`` (K, N, D)).
    X : array_like, shape (T_test, N)
        Held-out data, time first, with the fitted channels.
    n_null, alpha, random_state
        As :func:`significance_test`.

    Returns
    -------
    HeldoutEvaluation

    Examples
    --------
    >>> from neurocine.motifs import ConvNMF, simulate_convnmf
    >>> sim = simulate_convnmf(7, timesteps=800)
    >>> model = ConvNMF(4, 10, random_state=0).fit(sim.data[:600])
    >>> ev = evaluate_heldout(model, sim.data[600:], random_state=0)
    >>> ev.amplitudes.shape, ev.r2 > 0.5
    ((200, 4), True)
    """
    from neurocine.metrics import r2_score

    amplitudes = model.transform(X)
    X = model._check_X(X)
    r2 = r2_score(X, model.reconstruct(amplitudes))
    test = significance_test(X, model.templates_, n_null=n_null, alpha=alpha, random_state=random_state)
    return HeldoutEvaluation(amplitudes, float(r2), test)
