"""From stimulus features to fMRI regressors: canonical HRF, FIR delays, resampling to the TR, PCA to a variance share.

Pure numpy/scipy (no IO, no torch). Samples are time first: features
``(T, F)`` at the video frame rate or at the scan rate (one row per
repetition time, TR). The usual chain for voxel-wise encoding (Wen et al.
2018) is::

    feats = pca_keep_variance(train_features, 0.99)    # or per layer
    reg = convolve_hrf(features, fps)                     # at the frame rate
    reg = resample_to_tr(reg, fps, tr=2.0)                # one row per scan

or, cheaper and common with FIR models, :func:`resample_to_tr` first and then
:func:`fir_delays` (lagged copies at 1..4 TRs) instead of a fixed HRF.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import gammaln
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from neurocine.errors import InputError
from neurocine.features.timing import convolve_regressors, decimate, interpolate
from neurocine.validation import check_int, plural

__all__ = ["VariancePCA", "convolve_hrf", "fir_delays", "pca_keep_variance", "resample_to_tr", "spm_hrf"]

_RESAMPLE = ("mean", "decimate", "interpolate")


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _positive(name: str, value: Any, *, allow_zero: bool = False) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name}: got {value!r}; expected a real number")
    v = float(value)
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InputError(f"{name}: got {value!r}; expected a finite number {'>= 0' if allow_zero else '> 0'}")
    return v


def _features(name: str, x: Any, *, allow_1d: bool = True, min_len: int = 1) -> np.ndarray:
    """``x`` as a finite real (T,) or (T, F) array (dtype kept when floating, else float64)."""
    try:
        arr = np.asarray(x)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name}: cannot be read as an array ({exc}); expected (T, F) features, time first") from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: has dtype {arr.dtype}; expected real numeric (T, F) features")
    if arr.ndim not in ((1, 2) if allow_1d else (2,)):
        want = "(T,) or (T, F)" if allow_1d else "(T, F)"
        raise InputError(f"{name}: got a {arr.ndim}-D array of shape {arr.shape}; expected {want} features, time first")
    if arr.shape[0] < min_len:
        raise InputError(
            f"{name}: has {plural(arr.shape[0], 'sample')} (shape {arr.shape}); expected at least {min_len}"
        )
    if arr.dtype.kind != "f":
        arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        value = "NaN" if np.isnan(arr[idx]) else str(arr[idx])  # "inf" or "-inf"
        raise InputError(f"{name}: has a non-finite value ({value}) at index {idx}; expected finite features")
    return arr


# --------------------------------------------------------------------------- #
# hemodynamic response
# --------------------------------------------------------------------------- #
def spm_hrf(
    dt: float,
    *,
    peak_delay: float = 6.0,
    undershoot_delay: float = 16.0,
    peak_dispersion: float = 1.0,
    undershoot_dispersion: float = 1.0,
    ratio: float = 6.0,
    onset: float = 0.0,
    length: float = 32.0,
) -> np.ndarray:
    """SPM's canonical double-gamma haemodynamic response, sampled every ``dt`` seconds, summing to 1.

    ``h(t) = G(t; a1, d1) - G(t; a2, d2) / ratio`` with ``G(t; a, d)`` the gamma
    density of shape ``a / d`` and scale ``d`` (``a1 = peak_delay``,
    ``a2 = undershoot_delay``, ``d1, d2`` the dispersions), evaluated at
    ``t_j = j dt - onset`` (``G = 0`` for ``t <= 0``), ``j = 0 .. floor(length / dt)``,
    then divided by its sum. The defaults are SPM's ``p = [6 16 1 1 6 0 32]``:
    ``spm_hrf(RT)`` of SPM equals ``spm_hrf(dt=RT)`` here.

    Parameters
    ----------
    dt : float
        Sampling interval, seconds (the TR, or ``1 / fps`` at the video frame rate).
    peak_delay, undershoot_delay : float, default 6, 16
        Delays of the response and of the undershoot (s).
    peak_dispersion, undershoot_dispersion : float, default 1, 1
        Their dispersions (s).
    ratio : float, default 6
        Peak-to-undershoot ratio.
    onset : float, default 0
        Onset (s).
    length : float, default 32
        Length of the kernel (s).

    Returns
    -------
    ndarray, shape (floor(length / dt) + 1,), float64
        Weight of lag ``j`` (``j dt`` seconds); sums to 1.

    Examples
    --------
    >>> h = spm_hrf(2.0)
    >>> h.shape, int(h.argmax()), round(float(h.sum()), 12), bool(h[8] < 0)
    ((17,), 3, 1.0, True)
    """
    step = _positive("dt", dt)
    a1 = _positive("peak_delay", peak_delay)
    a2 = _positive("undershoot_delay", undershoot_delay)
    d1 = _positive("peak_dispersion", peak_dispersion)
    d2 = _positive("undershoot_dispersion", undershoot_dispersion)
    r = _positive("ratio", ratio)
    if (
        isinstance(onset, (bool, np.bool_))
        or not isinstance(onset, (int, float, np.integer, np.floating))
        or not math.isfinite(float(onset))
    ):
        raise InputError(f"onset: got {onset!r}; expected a finite number of seconds")
    span = _positive("length", length)
    n = int(math.floor(span / step + 1e-9)) + 1
    if n < 2:
        raise InputError(f"length: {length!r} s at dt = {dt!r} s gives {n} sample; expected length >= dt")
    t = np.arange(n) * step - float(onset)

    def gamma_pdf(shape: float, scale: float) -> np.ndarray:
        out = np.zeros(n)
        pos = t > 0
        tt = t[pos] / scale
        out[pos] = np.exp((shape - 1) * np.log(tt) - tt - gammaln(shape)) / scale
        return out

    h = gamma_pdf(a1 / d1, d1) - gamma_pdf(a2 / d2, d2) / r
    total = h.sum()
    if not total > 0:
        raise InputError(
            f"dt: {dt!r} s samples the response so coarsely that its samples sum to {total:g}; "
            f"expected a finer dt or a longer length"
        )
    return h / total


def convolve_hrf(x: Any, fps: float, *, hrf: Any = None, center: bool = False, **hrf_params: Any) -> np.ndarray:
    """Causal convolution of features with the canonical HRF (or any kernel), along time, by FFT.

    ``c[t] = sum_j h[j] x[t - j]`` with ``x[t < 0] = 0``:
    :func:`neurocine.features.timing.convolve_regressors` with the HRF sampled at ``fps``.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, F)
        Features sampled at ``fps``, finite.
    fps : float
        Sampling rate of ``x`` (Hz): the frame rate, or ``1 / TR`` at the scan rate.
    hrf : array_like, shape (K,), optional
        Kernel sampled at ``fps``; default ``spm_hrf(1 / fps, **hrf_params)``.
    center : bool, default False
        Subtract each column's mean over time from the result.
    **hrf_params
        Keywords of :func:`spm_hrf` (``peak_delay``, ``undershoot_delay``, ...).

    Returns
    -------
    ndarray, same shape as ``x``; float32 for float32 input, else float64

    Examples
    --------
    >>> y = convolve_hrf([1.0, 0, 0, 0, 0, 0, 0, 0], fps=0.5)     # an impulse at TR = 2 s
    >>> [round(float(v), 4) for v in y[:5]]
    [0.0, 0.0866, 0.3749, 0.3849, 0.2161]
    """
    arr = _features("x", x)
    rate = _positive("fps", fps)
    if hrf is None:
        kernel = spm_hrf(1.0 / rate, **hrf_params)
    else:
        if hrf_params:
            raise InputError(
                f"hrf: given together with {sorted(hrf_params)}; expected either a kernel or spm_hrf parameters"
            )
        kernel = np.asarray(hrf, dtype=np.float64)
        if kernel.ndim != 1 or kernel.size < 1 or not np.isfinite(kernel).all():
            raise InputError(f"hrf: got shape {kernel.shape}; expected a 1-D array of finite weights")
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    return convolve_regressors(arr, kernel, center=center).astype(dtype, copy=False)


def fir_delays(x: Any, delays: Any = (1, 2, 3, 4)) -> np.ndarray:
    """Finite-impulse-response design: copies of the features delayed by whole samples (TRs), zero-filled.

    The block for delay ``d`` holds ``x[t - d]`` at row ``t`` (0 for ``t < d``;
    a negative ``d`` looks ahead). Blocks are stacked delay-major —
    ``[x(t - d_0) | x(t - d_1) | ...]``, each ``F`` columns — the layout of a
    banded ridge with one band per delay. For named, channel-major lags see
    :func:`neurocine.features.timing.lagged`.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, F)
        Features at the scan rate, finite.
    delays : sequence of int, default (1, 2, 3, 4)
        Distinct delays in samples (TRs; 1-4 TR of 2 s span the HRF's 2-8 s peak).

    Returns
    -------
    ndarray, shape (T, F * len(delays)); float32 for float32 input, else float64

    Examples
    --------
    >>> fir_delays([1.0, 2.0, 3.0], delays=[0, 1]).tolist()
    [[1.0, 0.0], [2.0, 1.0], [3.0, 2.0]]
    """
    arr = _features("x", x)
    try:
        items = list(np.atleast_1d(np.asarray(delays, dtype=object)).ravel())
    except (TypeError, ValueError):
        raise InputError(f"delays: got {delays!r}; expected a sequence of integers") from None
    if not items or any(isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, np.integer)) for d in items):
        raise InputError(f"delays: got {delays!r}; expected a non-empty sequence of integers (samples)")
    lags = [int(d) for d in items]
    if len(set(lags)) != len(lags):
        raise InputError(f"delays: got {delays!r}; expected distinct delays")
    a2 = arr.reshape(arr.shape[0], -1)
    n_t, n_f = a2.shape
    out = np.zeros((n_t, n_f * len(lags)), dtype=a2.dtype)
    for i, d in enumerate(lags):
        block = out[:, i * n_f : (i + 1) * n_f]
        if d >= 0 and d < n_t:
            block[d:] = a2[: n_t - d]
        elif d < 0 and -d < n_t:
            block[: n_t + d] = a2[-d:]
    return out


# --------------------------------------------------------------------------- #
# frame rate -> scan rate
# --------------------------------------------------------------------------- #
def resample_to_tr(
    x: Any, fps: float, tr: float, *, method: str = "mean", n_scans: int | None = None, start: float = 0.0
) -> np.ndarray:
    """Features at the video frame rate -> one row per fMRI scan (repetition time ``tr``).

    Frame ``i`` is at ``i / fps`` seconds and scan ``k`` covers ``[start + k tr,
    start + (k + 1) tr)``.

    ``"mean"``
        Mean of the frames inside each scan's window (a box-car low-pass; the
        value stands for the window centre). Windows need not hold a whole
        number of frames (29.97 fps, TR 2 s).
    ``"decimate"``
        Anti-aliased decimation: :func:`neurocine.features.timing.decimate`
        with a zero-phase FIR low-pass at the scan Nyquist rate, keeping the
        frame at each scan onset. Needs ``fps * tr`` (and ``start * fps``) to be whole numbers.
    ``"interpolate"``
        Linear interpolation at the scan onsets
        (:func:`neurocine.features.timing.interpolate`) — for signals already
        smooth at the scan rate, e.g. after :func:`convolve_hrf`.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, F)
        Features, one row per video frame, finite.
    fps : float
        Frame rate (Hz).
    tr : float
        Repetition time (s).
    method : {"mean", "decimate", "interpolate"}, default "mean"
    n_scans : int, optional
        Scans to return; default every scan whose window ends within the video,
        ``floor((T / fps - start) / tr)``. Asking for more is an error.
    start : float, default 0
        Time of the first scan's onset on the video clock (s, >= 0).

    Returns
    -------
    ndarray, shape (n_scans,) or (n_scans, F); float32 for float32 input with ``"mean"``, else float64

    Examples
    --------
    >>> resample_to_tr([1.0, 3.0, 5.0, 7.0, 9.0], fps=2.0, tr=1.0).tolist()
    [2.0, 6.0]
    """
    arr = _features("x", x)
    rate = _positive("fps", fps)
    rep = _positive("tr", tr)
    t0 = _positive("start", start, allow_zero=True)
    if not isinstance(method, str) or method not in _RESAMPLE:
        raise InputError(f"method: got {method!r}; expected one of {', '.join(map(repr, _RESAMPLE))}")
    n_frames = arr.shape[0]
    duration = n_frames / rate
    available = int(math.floor((duration - t0) / rep + 1e-9))
    if n_scans is None:
        k = available
    else:
        k = check_int("n_scans", n_scans, minimum=1)
        if k > available:
            raise InputError(
                f"n_scans: got {k} but {plural(n_frames, 'frame')} at {rate:g} fps ({duration:g} s"
                f"{f' from start = {t0:g} s' if t0 else ''}) cover {plural(available, 'scan')} of "
                f"{rep:g} s; expected n_scans <= {available}"
            )
    if k < 1:
        raise InputError(
            f"x: {plural(n_frames, 'frame')} at {rate:g} fps ({duration:g} s) are shorter than one "
            f"scan of {rep:g} s{f' after start = {t0:g} s' if t0 else ''}; expected a longer video"
        )
    a2 = arr.reshape(n_frames, -1)
    if method == "mean":
        # frame i belongs to scan floor((i / fps - start) / tr); frames before start or after the last scan drop out
        scan = np.floor((np.arange(n_frames) / rate - t0) / rep + 1e-9).astype(np.int64)
        keep = (scan >= 0) & (scan < k)
        counts = np.bincount(scan[keep], minlength=k)
        if (counts == 0).any():
            empty = int(np.argmax(counts == 0))
            raise InputError(
                f"tr: {rep:g} s is shorter than a frame interval ({1 / rate:g} s) and scan {empty} "
                f"holds no frame; expected tr >= 1 / fps, or method='interpolate'"
            )
        sums = np.add.reduceat(a2[keep].astype(np.float64), np.r_[0, np.cumsum(counts)[:-1]], axis=0)
        out = (sums / counts[:, None]).astype(np.float32 if arr.dtype == np.float32 else np.float64)
    elif method == "decimate":
        factor = rate * rep
        offset = t0 * rate
        if abs(factor - round(factor)) > 1e-6 or abs(offset - round(offset)) > 1e-6:
            raise InputError(
                f"method: 'decimate' needs whole numbers of frames per scan and before the first "
                f"scan; got fps * tr = {factor:g} and fps * start = {offset:g}; use method='mean' "
                f"or 'interpolate'"
            )
        factor, offset = int(round(factor)), int(round(offset))
        kept = decimate(a2[offset:], factor, anti_alias=True) if factor > 1 else a2[offset:].astype(np.float64)
        out = np.asarray(kept, dtype=np.float64)[:k]
    else:
        times = np.arange(n_frames) / rate
        out = interpolate(a2, times, t0 + rep * np.arange(k), outside="clip")
    return out.reshape((k,) + arr.shape[1:])


# --------------------------------------------------------------------------- #
# PCA keeping a share of the variance
# --------------------------------------------------------------------------- #
class VariancePCA(TransformerMixin, BaseEstimator):
    """PCA keeping the fewest components that explain more than ``fraction`` of the variance.

    The number of components follows scikit-learn's ``PCA(n_components=fraction)``
    (the smallest ``k`` whose cumulative explained-variance ratio exceeds
    ``fraction``) and so do the signs (the largest-magnitude loading of each
    component is positive). Fitted from the eigen-decomposition of the smaller
    of ``Xc Xc^T`` (n x n) and ``Xc^T Xc`` (p x p), accumulated in float64 over
    blocks, so wide layer outputs (p >> n) and long recordings (n >> p) both
    stay cheap in time and memory.

    Parameters
    ----------
    fraction : float, default 0.99
        Share of the variance to keep, ``0 < fraction <= 1`` (1 keeps every
        component of non-zero variance).
    block_size : int, default 4096
        Columns (wide data) or rows (tall data) per block.

    Attributes
    ----------
    mean_ : ndarray, shape (p,)
    components_ : ndarray, shape (k, p)
        Orthonormal principal axes, by decreasing variance.
    explained_variance_ : ndarray, shape (k,)
        Variance along each axis (``ddof = 1``).
    explained_variance_ratio_ : ndarray, shape (k,)
    n_components_ : int
        ``k``.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 3)) @ rng.standard_normal((3, 50)) + 0.01 * rng.standard_normal((200, 50))
    >>> pca = VariancePCA(0.99).fit(X)
    >>> pca.n_components_, pca.transform(X).shape
    (3, (200, 3))
    """

    def __init__(self, fraction: float = 0.99, *, block_size: int = 4096) -> None:
        self.fraction = fraction
        self.block_size = block_size

    def fit(self, X: Any, y: Any = None) -> VariancePCA:
        """Fit on ``X`` (the training samples only).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Finite features, at least 2 samples.
        y : ignored

        Returns
        -------
        self
        """
        frac = self.fraction
        if (
            isinstance(frac, (bool, np.bool_))
            or not isinstance(frac, (int, float, np.integer, np.floating))
            or not 0 < float(frac) <= 1
        ):
            raise InputError(f"fraction: got {frac!r}; expected a share of variance in (0, 1]")
        block = check_int("block_size", self.block_size, minimum=1)
        arr = _features("X", X, allow_1d=False, min_len=2)
        n, p = arr.shape
        mean = arr.mean(axis=0, dtype=np.float64)
        wide = p > n
        if wide:  # Gram matrix of the centred samples
            gram = np.zeros((n, n))
            for a in range(0, p, block):
                xb = arr[:, a : a + block] - mean[a : a + block]
                gram += xb @ xb.T
        else:  # scatter matrix of the centred features
            gram = np.zeros((p, p))
            for a in range(0, n, block):
                xb = arr[a : a + block] - mean
                gram += xb.T @ xb
        evals, evecs = np.linalg.eigh(gram)
        evals, evecs = evals[::-1], evecs[:, ::-1]
        evals = np.clip(evals, 0.0, None)
        total = evals.sum()
        if not total > 0:
            raise InputError(f"X: every feature is constant over the {n} samples; expected some variance")
        tol = evals[0] * max(n, p) * np.finfo(np.float64).eps
        rank = int((evals > tol).sum())
        ratio = evals / total
        if float(frac) >= 1:
            k = rank
        else:
            k = min(int(np.searchsorted(np.cumsum(ratio), float(frac), side="right")) + 1, rank)
        if wide:
            comps = np.empty((k, p))
            scale = 1.0 / np.sqrt(evals[:k])
            for a in range(0, p, block):
                xb = arr[:, a : a + block] - mean[a : a + block]
                comps[:, a : a + block] = (evecs[:, :k].T @ xb) * scale[:, None]
        else:
            comps = evecs[:, :k].T.copy()
        biggest = np.argmax(np.abs(comps), axis=1)
        comps *= np.sign(comps[np.arange(k), biggest])[:, None]
        self.mean_ = mean
        self.components_ = comps
        self.explained_variance_ = evals[:k] / (n - 1)
        self.explained_variance_ratio_ = ratio[:k]
        self.n_components_ = k
        self.n_features_in_ = p
        self.n_samples_seen_ = n
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Project onto the kept axes.

        Parameters
        ----------
        X : array_like, shape (n_samples, ``n_features_in_``)

        Returns
        -------
        ndarray, shape (n_samples, ``n_components_``); float32 for float32 input, else float64
        """
        check_is_fitted(self, "components_")
        arr = _features("X", X, allow_1d=False)
        if arr.shape[1] != self.n_features_in_:
            raise InputError(f"X: has {arr.shape[1]} features; expected {self.n_features_in_}, as in fit")
        out = (arr - self.mean_.astype(arr.dtype)) @ self.components_.T.astype(arr.dtype)
        return out.astype(np.float32 if arr.dtype == np.float32 else np.float64, copy=False)

    def inverse_transform(self, Z: Any) -> np.ndarray:
        """Back to feature space: ``Z @ components_ + mean_``, shape (n_samples, ``n_features_in_``)."""
        check_is_fitted(self, "components_")
        arr = _features("Z", Z, allow_1d=False)
        if arr.shape[1] != self.n_components_:
            raise InputError(f"Z: has {arr.shape[1]} columns; expected n_components_ = {self.n_components_}")
        return arr @ self.components_.astype(arr.dtype) + self.mean_.astype(arr.dtype)


def pca_keep_variance(train: Any, fraction: float = 0.99) -> tuple[VariancePCA, np.ndarray]:
    """Fit a PCA on the training features and keep the components explaining ``fraction`` of their variance.

    Fit on training samples only and apply the returned transformer to the
    test samples, so nothing of the test set leaks into the features.

    Parameters
    ----------
    train : array_like, shape (n_train, F)
    fraction : float, default 0.99
        As scikit-learn's ``PCA(n_components=fraction)``.

    Returns
    -------
    pca : VariancePCA
        Fitted; ``pca.transform(test)`` reduces other samples.
    reduced : ndarray, shape (n_train, ``pca.n_components_``)
        The training features in the kept components.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> layer = rng.standard_normal((300, 5)) @ rng.standard_normal((5, 400))
    >>> pca, reduced = pca_keep_variance(layer[:200], 0.99)
    >>> reduced.shape, pca.transform(layer[200:]).shape
    ((200, 5), (100, 5))
    """
    pca = VariancePCA(fraction).fit(train)
    return pca, pca.transform(train)
