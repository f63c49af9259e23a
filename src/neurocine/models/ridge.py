"""Multi-target ridge regression with a penalty chosen per target by cross-validation.

One factorisation per fold is shared by every penalty and every target: with
``X_train = U diag(s) Vᵀ`` (centred) the ridge coefficients for penalty ``α`` are

    coef(α) = V diag(s / (s² + α)) Uᵀ Y = V diag(1 / (s² + α)) Vᵀ Xᵀ Y,

so one eigendecomposition of the (p, p) training Gram matrix ``XᵀX = V diag(s²) Vᵀ``
(computed in float64 whatever ``dtype`` is) gives the coefficients for all
penalties. The held-out explained variance of every penalty is then computed
from small (p, p) and (p, q) matrices, without forming the (n_test, q)
predictions: the cost per fold and penalty is ``O(p² q)`` instead of
``O(n_test p q)``. The only products whose cost grows with ``T × q`` are the
test blocks' centred ``X_testᵀ Y_test`` (one pass over the data, in the working
``dtype``); when the test sets partition the data (k-fold), every training
cross-product and the full-data one used by the refit are assembled from those
blocks plus a rank-(k-1) term of block means, so there is no second pass and no
cancellation of large offsets (drifting recordings) in float32.

Nothing here imports torch at module import time: the torch back end loads it
when a ``RidgeCV(backend="torch")`` is fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MultiOutputMixin, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from neurocine.errors import InputError
from neurocine.runtime import progress
from neurocine.validation import check_int, validate_signal_matrix

__all__ = ["DEFAULT_ALPHAS", "BandedRidgeCV", "RidgeCV", "cv_splits", "explained_variance"]

#: Default penalty grid: 1e-2 ... 1e6, one value per decade.
DEFAULT_ALPHAS = np.logspace(-2, 6, 9)

_CHUNK_BYTES = 2**28  # 256 MiB of targets per chunk when target_chunk is None


# --------------------------------------------------------------------------- metric


def explained_variance(Y, Y_pred, *, chunk_bytes: int = 2**26) -> np.ndarray:
    """Explained variance per target: ``1 - var(y - ŷ) / var(y)`` over time.

    The same definition as scikit-learn's
    ``explained_variance_score(Y, Y_pred, multioutput="raw_values")``
    (variances around each column's own mean, so a constant offset in the
    prediction is not penalised; :func:`neurocine.metrics.r2_score` is the
    pooled, offset-sensitive R² instead). A target whose variance is 0 scores
    1.0 if its residual variance is 0 too, else 0.0 (scikit-learn's
    ``force_finite`` rule). Sums are taken in float64 over blocks of columns,
    so no full-size float64 copy is made.

    Parameters
    ----------
    Y, Y_pred : array_like, shape (T, q) or (T,)
        Data and prediction, time first.
    chunk_bytes : int, default 64 MiB
        Size of the float64 blocks of columns.

    Returns
    -------
    ndarray, shape (q,)
        One value per target (shape ``(1,)`` for 1-D input).

    Examples
    --------
    >>> import numpy as np
    >>> explained_variance(np.array([[1.0], [2.0], [3.0]]), np.array([[2.0], [3.0], [4.0]]))
    array([1.])
    """
    Y, Y_pred = np.asarray(Y), np.asarray(Y_pred)
    if Y.ndim == 1:
        Y = Y[:, None]
    if Y_pred.ndim == 1:
        Y_pred = Y_pred[:, None]
    if Y.shape != Y_pred.shape or Y.ndim != 2:
        raise InputError(f"Y_pred: has shape {Y_pred.shape}; expected the shape of Y, {Y.shape}")
    n_t, n_q = Y.shape
    step = max(1, chunk_bytes // max(1, 8 * n_t))
    out = np.empty(n_q)
    for start in range(0, n_q, step):
        s = slice(start, start + step)
        y = Y[:, s].astype(np.float64)
        num = (y - Y_pred[:, s]).var(0)
        den = y.var(0)
        out[s] = ev_from_variances(num, den)
    return out


def ev_from_variances(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Explained variance ``1 - num / den`` per target from residual (``num``) and total (``den``) sums of squares.

    A target with no variance (``den == 0``) scores 1 when predicted exactly and 0 otherwise.
    """
    ev = np.ones_like(num)
    ok = den > 0
    ev[ok] = 1.0 - num[ok] / den[ok]
    ev[(num > 0) & ~ok] = 0.0
    return ev


# --------------------------------------------------------------------------- folds


def cv_splits(
    cv: Any, n_samples: int, *, shuffle: bool = False, random_state=None, X=None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Turn ``cv`` into a list of ``(train, test)`` index arrays.

    Parameters
    ----------
    cv : int or splitter
        An int ``k >= 2`` gives scikit-learn ``KFold(k)``: contiguous blocks of
        time (``shuffle=False``) or shuffled samples (``shuffle=True``, seeded
        by ``random_state``). Any object with a ``split(X)`` method (a
        scikit-learn splitter) is used as it is.
    n_samples : int
        T, the number of time steps.
    shuffle : bool, default False
        Shuffle before splitting (int ``cv`` only).
    random_state : int, numpy Generator/RandomState or None
        Seed of the shuffled folds.
    X : array_like (T, p), optional
        Passed to ``cv.split``; a (T, 1) placeholder when not given.

    Returns
    -------
    list of (train, test)
        Integer index arrays; every train and test set is non-empty.

    Examples
    --------
    >>> [test.tolist() for _, test in cv_splits(3, 6)]
    [[0, 1], [2, 3], [4, 5]]
    """
    from sklearn.model_selection import KFold

    if X is None:
        X = np.zeros((n_samples, 1))
    if hasattr(cv, "split") and not isinstance(cv, (str, bytes)):
        try:
            splits = [(np.asarray(tr), np.asarray(te)) for tr, te in cv.split(X)]
        except (ValueError, TypeError) as exc:
            raise InputError(f"cv: {cv!r}.split(X) failed ({exc}); expected a splitter that needs only X") from None
        name = f"cv ({type(cv).__name__})"
    else:
        if isinstance(cv, bool) or not isinstance(cv, (int, np.integer)):
            raise InputError(f"cv: got {cv!r}; expected an integer >= 2 or a scikit-learn splitter (with .split(X))")
        k = check_int("cv", cv, minimum=2)
        if k > n_samples:
            raise InputError(f"cv: got {k} folds for {n_samples} time steps; expected at most {n_samples} folds")
        rs = random_state if shuffle else None
        splits = [(tr, te) for tr, te in KFold(k, shuffle=bool(shuffle), random_state=rs).split(X)]
        name = "cv"
    if not splits:
        raise InputError(f"{name}: produced no splits; expected at least one (train, test) pair")
    for i, (tr, te) in enumerate(splits):
        for what, idx in (("train", tr), ("test", te)):
            if idx.ndim != 1 or idx.size == 0:
                raise InputError(
                    f"{name}: split {i} has an empty or non 1-D {what} set; expected non-empty index arrays"
                )
            if idx.dtype.kind == "b":
                raise InputError(f"{name}: split {i} gives a boolean {what} mask; expected integer indices")
            if idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n_samples:
                raise InputError(
                    f"{name}: split {i} has {what} indices outside 0..{n_samples - 1}; "
                    f"expected integer indices of the {n_samples} time steps"
                )
    return [(tr.astype(np.int64), te.astype(np.int64)) for tr, te in splits]


# --------------------------------------------------------------------------- back ends


def _as_slice(idx: np.ndarray):
    """A slice when ``idx`` is a contiguous increasing run (views instead of copies), else ``idx``."""
    if idx.size and idx[-1] - idx[0] == idx.size - 1 and (idx.size == 1 or np.all(np.diff(idx) == 1)):
        return slice(int(idx[0]), int(idx[-1]) + 1)
    return idx


def _eigh64(a: np.ndarray):
    """Symmetric eigendecomposition with one BLAS thread.

    LAPACK's tridiagonalisation is made of small BLAS-2 steps: with several
    threads competing for busy cores it is many times slower than with one.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.eigh(a)


class _NumpyOps:
    """The few array operations the solver needs, on numpy."""

    name = "numpy"

    def __init__(self, dtype: np.dtype):
        self.dtype = self.np_dtype = np.dtype(dtype)

    def put(self, a: np.ndarray, float64: bool = False):
        return np.ascontiguousarray(a, dtype=np.float64 if float64 else self.dtype)

    def cast(self, a):
        return a.astype(self.dtype)

    def get(self, a) -> np.ndarray:
        return np.asarray(a)

    def index(self, idx: np.ndarray):
        return _as_slice(idx)

    def zeros(self, shape, float64: bool = False):
        return np.zeros(shape, dtype=np.float64 if float64 else self.dtype)

    def eigh(self, a):
        return _eigh64(a)

    def where(self, cond, a, b):
        return np.where(cond, a, b)

    def coldot(self, a, b):
        """``(a * b).sum(1)`` for (n, p, q) arrays, without the temporary."""
        return np.einsum("apq,apq->aq", a, b)

    def cat(self, arrays):
        return np.concatenate(arrays)

    def stack(self, arrays):
        return np.stack(arrays)


class _TorchOps:
    """The same operations on torch tensors (CPU or CUDA), imported lazily."""

    name = "torch"

    def __init__(self, dtype: np.dtype, device):
        import torch

        from neurocine.runtime import resolve_device

        self.torch = torch
        self.device = resolve_device(device)
        self.np_dtype = np.dtype(dtype)
        self.dtype = torch.float64 if self.np_dtype == np.float64 else torch.float32

    def put(self, a: np.ndarray, float64: bool = False):
        t = self.torch.from_numpy(np.ascontiguousarray(a))
        return t.to(device=self.device, dtype=self.torch.float64 if float64 else self.dtype)

    def cast(self, a):
        return a.to(self.dtype)

    def get(self, a) -> np.ndarray:
        return a.detach().cpu().numpy()

    def index(self, idx: np.ndarray):
        s = _as_slice(idx)
        return s if isinstance(s, slice) else self.torch.as_tensor(idx, device=self.device)

    def zeros(self, shape, float64: bool = False):
        return self.torch.zeros(shape, device=self.device, dtype=self.torch.float64 if float64 else self.dtype)

    def eigh(self, a):
        # (p, p): solved on the CPU through numpy on every device (the transfer is negligible)
        lam, V = _eigh64(self.get(a))
        return self.put(lam, float64=True), self.put(V, float64=True)

    def where(self, cond, a, b):
        return self.torch.where(cond, a, b)

    def coldot(self, a, b):
        return (a * b).sum(1)

    def cat(self, arrays):
        return self.torch.cat(arrays)

    def stack(self, arrays):
        return self.torch.stack(arrays)


def _outer(a, b):
    return a[:, None] * b[None, :]


# --------------------------------------------------------------------------- solver


class _Fold:
    """Everything about one (train, test) split that does not depend on the targets.

    Coordinates: X is the globally centred design (when fitting an
    intercept); ``a`` is the training mean of X in those coordinates. The
    rotated basis is the eigenbasis ``V`` of the centred training Gram matrix
    ``Σ_train (x - a)(x - a)ᵀ = V diag(s²) Vᵀ`` (s: singular values of the
    centred training X), computed in float64.
    """

    def __init__(
        self,
        ops,
        Xc64,
        G_all,
        sx_all,
        train: np.ndarray,
        test: np.ndarray,
        alphas: np.ndarray,
        fit_intercept: bool,
        alpha_batch: int,
    ):
        n_samples, n_features = Xc64.shape
        self.n_train, self.n_test = train.size, test.size
        joined = np.concatenate([train, test])
        self.complement = joined.size == n_samples and np.unique(joined).size == n_samples
        self.tr, self.te = ops.index(train), ops.index(test)
        Xv = Xc64[self.te]
        sx_v, G_v = Xv.sum(0), Xv.T @ Xv
        if self.complement:  # training sums = all-data sums minus test sums
            sx_t, G_t = sx_all - sx_v, G_all - G_v
        else:
            Xt = Xc64[self.tr]
            sx_t, G_t = Xt.sum(0), Xt.T @ Xt
            del Xt
        a = sx_t / self.n_train if fit_intercept else sx_t * 0
        self.xbar_test64 = sx_v / self.n_test
        self.a64 = a
        # centre both Gram matrices on the training mean a
        G_t = G_t - self.n_train * _outer(a, a)
        G_v = G_v - _outer(a, sx_v) - _outer(sx_v - self.n_test * a, a)
        lam, V = ops.eigh(G_t)
        lam = lam.clip(min=0.0)
        self.a = ops.cast(a)
        self.dx = ops.cast(self.xbar_test64 - a)  # mean of the test X minus the training mean
        self.Xv_c = ops.cast(Xv - self.xbar_test64)  # test X centred on its own mean
        self.Vt = ops.cast(V.T)
        # 1 / (s² + α) for every penalty: (n_alphas, p)
        self.inv = ops.cast(1.0 / (lam[None, :] + ops.put(alphas, float64=True)[:, None]))
        self.alpha_batch = alpha_batch
        self.gram_path = self.n_test >= n_features
        if self.gram_path:  # held-out EV from (p, p) and (p, q) matrices
            self.H = ops.cast(V.T @ G_v @ V)
            self.inv_d = self.inv * ops.cast(V.T @ (self.xbar_test64 - a))[None, :]
        else:  # fewer test samples than features: predictions are cheaper
            self.A = ops.cast((Xv - a) @ V)
        self.others = None  # set by _link_folds when the test sets partition the data

    def scores(self, ops, B, Cx, Yv, mean_y, ss, b):
        """Held-out EV for every penalty, shape (n_alphas, q_chunk).

        ``B = Vᵀ Σ_train (x - a)(y - b)ᵀ`` (so ``coef(α) = V diag(inv_α) B``);
        ``Cx = Σ_test (x - a)(y - b)ᵀ``; ``Yv`` the test targets, ``mean_y``
        their mean and ``ss`` their centred sum of squares; ``b`` the training
        mean of the targets.
        """
        n_v = self.n_test
        var_y = ss / n_v
        if self.gram_path:
            # with W = diag(inv_α) B the rotated coefficients and r the test residuals:
            # Σ r² = Σ (y - b)² - 2 Σ_k W_k (Vᵀ Cx)_k + Wᵀ H W,   mean r = mean(y) - b - dᵀ W
            cross = self.inv @ ((self.Vt @ Cx) * B)
            m_r = (mean_y - b)[None, :] - self.inv_d @ B
            s_yy = ss + n_v * (mean_y - b) ** 2  # Σ_test (y - b)²
            quad = []
            for start in range(0, self.inv.shape[0], self.alpha_batch):
                W = self.inv[start : start + self.alpha_batch, :, None] * B[None]
                quad.append(ops.coldot(W, self.H @ W))
                del W
            sse = s_yy[None, :] - 2 * cross + ops.cat(quad)
            var_r = sse / n_v - m_r * m_r
        else:
            Yv0 = Yv - b
            var_r = []
            for inv in self.inv:
                R = Yv0 - self.A @ (B * inv[:, None])
                m = R.mean(0)
                var_r.append((R * R).mean(0) - m * m)
            var_r = ops.stack(var_r)
        ok = var_y > 0
        safe = ops.where(ok, var_y, var_y * 0 + 1)
        return ops.where(ok[None, :], 1 - var_r / safe[None, :], var_r * 0)


def _link_folds(ops, folds) -> None:
    """For test sets that partition the data: n_g (x̄_g - a_f) for every other fold g, shape (p, k - 1).

    Training cross-products are then assembled from the test blocks' centred
    cross-products plus this low-rank between-block term (no large-offset
    cancellation, also in float32).
    """
    for i, f in enumerate(folds):
        f.others = [j for j in range(len(folds)) if j != i]
        cols = [folds[j].n_test * (folds[j].xbar_test64 - f.a64) for j in f.others]
        f.Xm = ops.cast(ops.stack(cols).T)


def _ridge_cv_path(
    ops, X: np.ndarray, Y: np.ndarray, alphas: np.ndarray, splits, fit_intercept: bool, target_chunk: int
):
    """Fit: returns coef (p, q), intercept (q,), best alpha index (q,), cv scores (n_alphas, q)."""
    n_samples, n_features = X.shape
    n_targets = Y.shape[1]
    n_alphas, n_splits = alphas.size, len(splits)
    np_dtype = ops.np_dtype
    # penalties handled together: (batch, p, q_chunk) temporaries no larger than the (T, q_chunk) chunk
    alpha_batch = int(min(n_alphas, max(1, n_samples // n_features)))

    x_mean = X.mean(0, dtype=np.float64) if fit_intercept else np.zeros(n_features)
    Xc64 = ops.put(X.astype(np.float64) - x_mean, float64=True)
    G_all = Xc64.T @ Xc64
    sx_all = Xc64.sum(0)
    folds = [_Fold(ops, Xc64, G_all, sx_all, tr, te, alphas, fit_intercept, alpha_batch) for tr, te in splits]
    partition = (
        all(f.complement for f in folds)
        and sum(f.n_test for f in folds) == n_samples
        and np.unique(np.concatenate([te for _, te in splits])).size == n_samples
    )
    if partition:
        _link_folds(ops, folds)
        # refit: Σ_all (x - x̄)(y - ȳ)ᵀ = Σ_blocks [centred block + n_g (x̄_g - x̄)(ȳ_g - ȳ)ᵀ]
        xbar_all = sx_all / n_samples if fit_intercept else sx_all * 0
        Xm_all = ops.cast(ops.stack([f.n_test * (f.xbar_test64 - xbar_all) for f in folds]).T)
        Xc = None
    else:
        Xc = ops.cast(Xc64)
    lam, V = ops.eigh(G_all)  # X globally centred: the centred Gram matrix of all data
    lam_full = ops.get(lam).clip(min=0.0)
    V_full, Vt_full = ops.cast(V), ops.cast(V.T)
    del Xc64, lam, V, G_all

    coef = np.empty((n_features, n_targets), dtype=np_dtype)
    intercept = np.zeros(n_targets, dtype=np.float64)
    best = np.empty(n_targets, dtype=np.int64)
    cv_scores = np.empty((n_alphas, n_targets), dtype=np.float64)
    chunks = range(0, n_targets, target_chunk)
    for start in progress(chunks, total=len(chunks), desc="RidgeCV targets"):
        s = slice(start, min(start + target_chunk, n_targets))
        y_np = np.array(Y[:, s], dtype=np_dtype, order="C")
        y_mean = y_np.mean(0, dtype=np.float64) if fit_intercept else np.zeros(y_np.shape[1])
        if fit_intercept:
            y_np -= y_mean.astype(np_dtype)
        Yc = ops.put(y_np)
        del y_np
        # per test block: its mean, centred sum of squares and centred cross-product with X
        means, sums, cross = [], [], []
        for f in folds:
            Yv = Yc[f.te]
            m = Yv.mean(0)
            D = Yv - m
            means.append(m)
            sums.append((D * D).sum(0))
            cross.append(f.Xv_c.T @ D)
            del D, Yv
        if partition:
            M_all = cross[0]
            for c in cross[1:]:
                M_all = M_all + c
            Ybar = ops.stack(means)  # (k, q)
            n_blocks = ops.put(np.array([f.n_test for f in folds], dtype=np.float64))
            y_all = (n_blocks[:, None] * Ybar).sum(0) / n_samples if fit_intercept else Ybar[0] * 0
            M_full = M_all + Xm_all @ (Ybar - y_all[None, :])
        else:
            M_full = Xc.T @ Yc
        total = None
        for i, f in enumerate(folds):
            if partition:
                Ym = ops.stack([means[j] for j in f.others])  # (k - 1, q)
                nm = [folds[j].n_test for j in f.others]
                b = sum(n * means[j] for n, j in zip(nm, f.others)) / f.n_train if fit_intercept else means[i] * 0
                Mt = M_all - cross[i] + f.Xm @ (Ym - b[None, :])
            else:
                Yt = Yc[f.tr]
                b = Yt.mean(0) if fit_intercept else means[i] * 0
                Mt = (Xc[f.tr] - f.a).T @ (Yt - b)
                del Yt
            Cx = cross[i] + _outer(f.n_test * f.dx, means[i] - b)  # Σ_test (x - a)(y - b)ᵀ
            sc = f.scores(ops, f.Vt @ Mt, Cx, Yc[f.te], means[i], sums[i], b)
            total = sc if total is None else total + sc
            del Mt, Cx, sc
        chunk_scores = ops.get(total).astype(np.float64) / n_splits
        cv_scores[:, s] = chunk_scores
        # argmax with exact ties going to the larger penalty
        idx = n_alphas - 1 - np.argmax(chunk_scores[::-1], axis=0)
        best[s] = idx
        # refit on all data: one eigendecomposition, per-target penalty
        sel = ops.put(1.0 / (lam_full[:, None] + alphas[idx][None, :]))
        coef_c = ops.get(V_full @ ((Vt_full @ M_full) * sel))
        coef[:, s] = coef_c
        if fit_intercept:
            intercept[s] = y_mean - x_mean @ coef_c.astype(np.float64)
        del Yc, M_full, total, means, sums, cross
    return coef, intercept, best, cv_scores


# --------------------------------------------------------------------------- estimator


def _check_alphas(alphas) -> np.ndarray:
    """``alphas`` as a 1-D float64 array of positive penalties; None gives :data:`DEFAULT_ALPHAS`."""
    if alphas is None:
        return DEFAULT_ALPHAS.copy()
    try:
        a = np.asarray(alphas, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"alphas: got {alphas!r}; expected a 1-D array of positive penalties") from None
    if a.ndim == 0:
        a = a[None]
    if a.ndim != 1 or a.size == 0:
        raise InputError(f"alphas: got shape {a.shape}; expected a non-empty 1-D array of positive penalties")
    if not np.all(np.isfinite(a)) or np.any(a <= 0):
        bad = float(a[~(np.isfinite(a) & (a > 0))][0])
        raise InputError(f"alphas: contains {bad!r}; expected finite penalties > 0")
    return a


def _check_matrix(data, name: str, chunk_bytes: int = 2**27) -> np.ndarray:
    """validate_signal_matrix without a full-size boolean temporary (finite check in column blocks)."""
    arr = np.asarray(data) if not isinstance(data, np.ndarray) else data
    if arr.ndim != 2 or arr.dtype.kind not in "biuf" or arr.shape[0] < 2 or arr.shape[1] < 1:
        return validate_signal_matrix(arr, name)  # raises with the shared message (or accepts)
    if arr.dtype.kind == "f":
        step = max(1, chunk_bytes // max(1, arr.shape[0]))
        for start in range(0, arr.shape[1], step):
            if not np.isfinite(arr[:, start : start + step]).all():
                validate_signal_matrix(arr, name)  # raises with count and first position
    return arr


def check_targets(Y, n_samples: int) -> tuple[np.ndarray, bool]:
    """Y as a (T, q) array (a 1-D Y is one target) and whether it was 1-D."""
    Y_arr = np.asarray(Y)
    one_d = Y_arr.ndim == 1
    if one_d and Y_arr.dtype.kind in "biuf":
        Y_arr = Y_arr[:, None]
    Y_arr = _check_matrix(Y_arr, "Y")
    if Y_arr.shape[0] != n_samples:
        raise InputError(
            f"Y: has {Y_arr.shape[0]} time steps but X has {n_samples}; expected the same number of rows (time first)"
        )
    return Y_arr, one_d


def _check_dtype(dtype) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise InputError(f"dtype: got {dtype!r}; expected 'float64' or 'float32'")
    return dt


class TargetScores:
    """``score`` (one float, scikit-learn's) and ``score_targets`` (per target) of a regressor of targets (T, q).

    Mixed into the ridge estimators and :class:`~neurocine.encode.sequence.SequenceRegressor`;
    ``_prediction_and_targets(X, Y)`` (here: ``predict(X)`` and ``Y`` of the same shape) may be
    overridden to check ``Y`` another way.
    """

    def _prediction_and_targets(self, X, Y) -> tuple[np.ndarray, np.ndarray]:
        pred = self.predict(X)
        Y = np.asarray(Y)
        if Y.shape != pred.shape:
            raise InputError(f"Y: has shape {Y.shape}; expected {pred.shape} (the shape of the prediction)")
        return pred, Y

    def score(self, X, Y, sample_weight=None) -> float:
        """Coefficient of determination R², averaged uniformly over the targets (scikit-learn's ``score``).

        Parameters
        ----------
        X : array_like, shape (T, p)
        Y : array_like, shape (T, q) or (T,)
        sample_weight : array_like, shape (T,), optional

        Returns
        -------
        float
            ``sklearn.metrics.r2_score(Y, predict(X))``; per-target explained
            variances are :meth:`score_targets`.
        """
        from sklearn.metrics import r2_score

        pred, Y = self._prediction_and_targets(X, Y)
        return float(r2_score(Y, pred, sample_weight=sample_weight))

    def score_targets(self, X, Y) -> np.ndarray:
        """Explained variance per target, ``1 - var(y - ŷ) / var(y)`` (see :func:`explained_variance`).

        Parameters
        ----------
        X : array_like, shape (T, p)
        Y : array_like, shape (T, q) or (T,)

        Returns
        -------
        ndarray, shape (q,)
            One value per target.
        """
        pred, Y = self._prediction_and_targets(X, Y)
        return explained_variance(Y, pred)


class RidgeCV(TargetScores, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Multi-target ridge regression, penalty chosen per target by k-fold cross-validation.

    For each target ``j`` the penalty ``alpha_[j]`` is the one of ``alphas``
    with the highest explained variance on held-out data, averaged over the
    folds (``cv_scores_``; exact ties go to the larger penalty); the model is
    then refitted on all the data with those penalties. Minimises, per target,
    ``||y - X w - c||² + α ||w||²`` (the intercept ``c`` is not penalised).

    Every fold uses one eigendecomposition of its (p, p) centred training Gram
    matrix (the squared singular values and right singular vectors of the
    centred training X), computed in float64, for all penalties and targets;
    held-out scores come from (p, p)·(p, q) products, so the work that grows
    with ``T × q`` is one ``XᵀY`` pass over the data. Targets are processed in
    blocks of ``target_chunk`` columns, so 100 000+ targets fit in memory.
    Suited to ``T > p`` (for ``p ≫ T`` a kernel formulation is cheaper).

    Parameters
    ----------
    alphas : array_like, shape (n_alphas,), optional
        Penalties to try (positive); None (default) is :data:`DEFAULT_ALPHAS`,
        ``np.logspace(-2, 6, 9)``.
    cv : int or scikit-learn splitter, default 5
        An int ``k`` gives ``KFold(k)``: contiguous blocks of time, or shuffled
        samples when ``shuffle=True``. Any object with ``split(X)`` is used as
        it is (e.g. ``KFold(5, shuffle=True, random_state=0)``).
    backend : {"numpy", "torch"}, default "numpy"
        Array library doing the work; the code path is the same for both.
    device : str, default "auto"
        Torch device: ``"auto"`` (CUDA when present, else CPU), ``"cpu"``,
        ``"cuda[:i]"``. The numpy back end accepts only ``"auto"``/``"cpu"``.
    dtype : {"float64", "float32"}, default "float64"
        Working precision of the target products (the (p, p) factorisations are
        always float64). ``coef_`` has this dtype.
    fit_intercept : bool, default True
        Centre X and Y on each training set (and on all data for the refit).
    shuffle : bool, default False
        Shuffled instead of contiguous folds when ``cv`` is an int.
    random_state : int, numpy Generator or None
        Seed of the shuffled folds.
    target_chunk : int or None, default None
        Targets per block; ``None`` picks about 256 MiB of targets per block.

    Notes
    -----
    The CV score of a fold is ``1 - var(y - ŷ) / var(y)`` over its test samples
    (as :func:`explained_variance`; 0 for a target constant over the fold).
    In float32 these scores are accurate to about 1e-6 (relative to var(y)),
    so penalties whose float64 scores differ by less than that may be chosen
    differently from float64; the (p, p) factorisations are float64 in both.

    Attributes
    ----------
    coef_ : ndarray, shape (p, q)
        Coefficients (features × targets), also for a 1-D ``Y`` (``q = 1``).
    intercept_ : ndarray, shape (q,)
    alpha_ : ndarray, shape (q,)
        Chosen penalty per target.
    best_alpha_index_ : ndarray of int, shape (q,)
        Index of ``alpha_`` in ``alphas_``.
    alphas_ : ndarray, shape (n_alphas,)
    cv_scores_ : ndarray, shape (n_alphas, q)
        Held-out explained variance per penalty and target, averaged over folds.
    n_features_in_ : int
    n_splits_ : int

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 5))
    >>> Y = X @ rng.standard_normal((5, 3)) + 0.1 * rng.standard_normal((200, 3))
    >>> model = RidgeCV(alphas=[0.1, 1.0, 10.0], cv=5).fit(X, Y)
    >>> model.coef_.shape, model.alpha_.shape, model.cv_scores_.shape
    ((5, 3), (3,), (3, 3))
    >>> bool(model.score_targets(X, Y).min() > 0.99), bool(model.score(X, Y) > 0.99)
    (True, True)
    """

    def __init__(
        self,
        alphas=None,
        cv=5,
        backend: str = "numpy",
        device: str = "auto",
        dtype: str = "float64",
        fit_intercept: bool = True,
        shuffle: bool = False,
        random_state=None,
        target_chunk: int | None = None,
    ):
        self.alphas = alphas
        self.cv = cv
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.random_state = random_state
        self.target_chunk = target_chunk

    def _ops(self):
        dtype = _check_dtype(self.dtype)
        if self.backend == "numpy":
            if self.device not in ("auto", "cpu", None):
                raise InputError(
                    f"device: got {self.device!r} with backend='numpy'; expected 'auto' or 'cpu' "
                    f"(use backend='torch' for a GPU)"
                )
            return _NumpyOps(dtype)
        if self.backend == "torch":
            return _TorchOps(dtype, self.device)
        raise InputError(f"backend: got {self.backend!r}; expected 'numpy' or 'torch'")

    def fit(self, X, Y):
        """Choose a penalty per target by cross-validation and refit on all data.

        Parameters
        ----------
        X : array_like, shape (T, p)
            Features, time first.
        Y : array_like, shape (T, q) or (T,)
            Targets, time first (a 1-D ``Y`` is one target).

        Returns
        -------
        self
        """
        X = validate_signal_matrix(X, "X")
        Y_arr, y_1d = check_targets(Y, X.shape[0])
        alphas = _check_alphas(self.alphas)
        ops = self._ops()
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise InputError(f"fit_intercept: got {self.fit_intercept!r}; expected True or False")
        n_samples = X.shape[0]
        splits = cv_splits(self.cv, n_samples, shuffle=self.shuffle, random_state=self.random_state, X=X)
        itemsize = np.dtype(self.dtype).itemsize
        if self.target_chunk is None:
            chunk = max(1, _CHUNK_BYTES // (itemsize * n_samples))
        else:
            chunk = check_int("target_chunk", self.target_chunk, minimum=1)
        coef, intercept, best, scores = _ridge_cv_path(ops, X, Y_arr, alphas, splits, bool(self.fit_intercept), chunk)
        self.coef_ = coef
        self.intercept_ = intercept.astype(coef.dtype)
        self.best_alpha_index_ = best
        self.alphas_ = alphas
        self.alpha_ = alphas[best]
        self.cv_scores_ = scores
        self.n_features_in_ = X.shape[1]
        self.n_splits_ = len(splits)
        self._y_1d = y_1d
        return self

    def predict(self, X) -> np.ndarray:
        """Predict the targets.

        Parameters
        ----------
        X : array_like, shape (T, p)

        Returns
        -------
        ndarray, shape (T, q), or (T,) when fitted on a 1-D ``Y``
        """
        check_is_fitted(self, "coef_")
        X = validate_signal_matrix(X, "X", min_timesteps=1)
        if X.shape[1] != self.n_features_in_:
            raise InputError(
                f"X: has {X.shape[1]} columns; expected {self.n_features_in_} (the number of features seen in fit)"
            )
        pred = X.astype(self.coef_.dtype, copy=False) @ self.coef_ + self.intercept_
        return pred[:, 0] if self._y_1d else pred


# --------------------------------------------------------------------------- banded ridge


def _band_slices(bands, n_features: int) -> list[slice]:
    """Consecutive column slices of the bands: ``bands`` is None (one band) or the band widths."""
    if bands is None:
        return [slice(0, n_features)]
    try:
        widths = [check_int("bands", b, minimum=1) for b in bands]
    except TypeError:
        raise InputError(f"bands: got {bands!r}; expected a sequence of band widths (numbers of columns)") from None
    if not widths or sum(widths) != n_features:
        raise InputError(
            f"bands: got widths {widths} (sum {sum(widths)}); expected widths summing to X's {n_features} columns"
        )
    stops = np.cumsum(widths)
    return [slice(int(b - w), int(b)) for w, b in zip(widths, stops)]


def _band_candidates(candidates, n_bands: int, random_state) -> np.ndarray:
    """Band weightings to try, shape (n, n_bands): every single band, the uniform mix and Dirichlet(1) draws."""
    if isinstance(candidates, (int, np.integer)) and not isinstance(candidates, bool):
        n_draws = check_int("n_candidates", candidates, minimum=0)
        cands = [np.eye(n_bands)[i] for i in range(n_bands)] + [np.full(n_bands, 1.0 / n_bands)]
        cands += list(np.random.default_rng(random_state).dirichlet(np.ones(n_bands), size=n_draws))
        return np.asarray(cands)
    try:
        g = np.asarray(candidates, dtype=np.float64)
    except (TypeError, ValueError):
        g = np.empty((0, 0))
    if g.ndim != 2 or g.shape[0] < 1 or g.shape[1] != n_bands or not np.isfinite(g).all() or (g < 0).any():
        raise InputError(
            f"n_candidates: got {candidates!r}; expected a count of random draws or an array (n, {n_bands}) of "
            f"non-negative band weights"
        )
    if not (g.sum(1) > 0).all():
        raise InputError("n_candidates: a row of band weights is all zero; expected some weight in every candidate")
    return g


def _band_kernel(blocks_a: list[np.ndarray], blocks_b: list[np.ndarray], weights: np.ndarray) -> np.ndarray:
    """``sum_l w_l A_l B_lᵀ`` over the bands of positive weight."""
    return sum(w * (a @ b.T) for w, a, b in zip(weights, blocks_a, blocks_b) if w > 0)


def _kernel_basis(blocks: list[np.ndarray], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenvectors ``U`` (n, r) and square roots of the eigenvalues (r,) of ``K = sum_l w_l X_l X_lᵀ``.

    Eigenvalues below ``1e-10`` times the largest are dropped; ``U diag(root)`` is an exact
    feature map of K (its rows' inner products are K).
    """
    lam, U = np.linalg.eigh(_band_kernel(blocks, blocks, weights))
    keep = lam > lam.max() * 1e-10
    lam, U = lam[keep], U[:, keep]
    return U, np.sqrt(lam)


class BandedRidgeCV(TargetScores, MultiOutputMixin, RegressorMixin, BaseEstimator):
    """Banded ridge regression: feature bands with their own scale, chosen per target by random search.

    The columns of X form consecutive ``bands`` (e.g. the layers of a CNN). For a
    band weighting ``g`` (non-negative, one weight per band) the model is ridge
    regression with the kernel ``K_g = sum_l g_l X_l X_lᵀ``, i.e. plain ridge on
    the features ``[sqrt(g_1) X_1, ..., sqrt(g_L) X_L]``. Every candidate ``g``
    (each single band, the uniform mix and ``n_candidates`` Dirichlet(1) draws,
    or the rows of an array) is fitted by :class:`RidgeCV` on an exact finite
    feature map of ``K_g`` (its eigenvectors scaled by the square roots of its
    eigenvalues, ``r <= T`` columns), and each target keeps the ``(g, alpha)``
    with the best cross-validated score: the random search of himalaya's
    ``solve_multiple_kernel_ridge_random_search``. X is used as given (scale the
    bands beforehand if they should start on an equal footing).

    Parameters
    ----------
    bands : sequence of int, optional
        Widths (numbers of columns) of the consecutive bands, summing to
        ``n_features``; None (default) is one band of every column (plain ridge).
    n_candidates : int or array_like, shape (n, n_bands), default 20
        Random band weightings (Dirichlet(1) draws) tried besides every single
        band and the uniform mix; or an array of the weightings to try.
    alphas, cv, backend, device, dtype, fit_intercept, shuffle, target_chunk
        As :class:`RidgeCV` (the ridge fitted for every candidate).
    random_state : int, numpy Generator or None
        Seed of the random band weightings (and of shuffled folds).

    Attributes
    ----------
    band_weights_ : ndarray, shape (n_candidates_total, n_bands)
        Every weighting tried, in order.
    best_candidate_ : ndarray of int, shape (q,)
        Row of ``band_weights_`` kept per target (the first of the best, on ties).
    weights_ : ndarray, shape (q, n_bands)
        ``band_weights_[best_candidate_]``.
    alpha_ : ndarray, shape (q,)
        Penalty chosen per target (with its candidate).
    cv_score_ : ndarray, shape (q,)
        Held-out explained variance of the kept ``(g, alpha)``, averaged over folds.
    share_ : ndarray, shape (q, n_bands)
        Share of each band in the target's training prediction ``ŷ``:
        ``<ŷ_l, ŷ> / <ŷ, ŷ>`` with ``ŷ_l`` the band's part (the shares sum to 1).
    X_fit_ : ndarray, shape (T, p)
        The training features (the kernel of new samples needs them).
    estimators_ : list of RidgeCV or None
        Per candidate, its ridge on the feature map (None for a candidate no target kept).
    n_features_in_ : int

    Notes
    -----
    The fitted model holds one (r, q) coefficient matrix and one (T, r) basis per
    candidate that some target keeps.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 8))
    >>> Y = X[:, :3] @ rng.standard_normal((3, 4)) + 0.1 * rng.standard_normal((200, 4))
    >>> model = BandedRidgeCV(bands=(3, 5), n_candidates=5, random_state=0).fit(X, Y)
    >>> model.weights_.shape, model.share_.shape
    ((4, 2), (4, 2))
    >>> bool((model.share_[:, 0] > 0.95).all())           # the first band explains the targets
    True
    """

    def __init__(
        self,
        bands=None,
        n_candidates=20,
        alphas=None,
        cv=5,
        backend: str = "numpy",
        device: str = "auto",
        dtype: str = "float64",
        fit_intercept: bool = True,
        shuffle: bool = False,
        random_state=None,
        target_chunk: int | None = None,
    ):
        self.bands = bands
        self.n_candidates = n_candidates
        self.alphas = alphas
        self.cv = cv
        self.backend = backend
        self.device = device
        self.dtype = dtype
        self.fit_intercept = fit_intercept
        self.shuffle = shuffle
        self.random_state = random_state
        self.target_chunk = target_chunk

    def _ridge(self) -> RidgeCV:
        """The RidgeCV fitted on every candidate's feature map (this estimator's ridge parameters)."""
        return RidgeCV(**{name: getattr(self, name) for name in RidgeCV().get_params(deep=False)})

    def _blocks(self, X: np.ndarray) -> list[np.ndarray]:
        return [np.ascontiguousarray(X[:, s]) for s in self._slices]

    def fit(self, X, Y):
        """Fit every candidate weighting and keep, per target, the best ``(g, alpha)`` by cross-validation.

        Parameters
        ----------
        X : array_like, shape (T, p)
            Features, time first; the bands are consecutive column blocks.
        Y : array_like, shape (T, q) or (T,)
            Targets (a 1-D ``Y`` is one target).

        Returns
        -------
        self
        """
        X = validate_signal_matrix(X, "X")
        Y_arr, y_1d = check_targets(Y, X.shape[0])
        slices = _band_slices(self.bands, X.shape[1])
        cands = _band_candidates(self.n_candidates, len(slices), self.random_state)
        self._slices = slices
        blocks = self._blocks(X)
        n_targets = Y_arr.shape[1]
        best = np.full(n_targets, -np.inf)
        which = np.zeros(n_targets, dtype=np.int64)
        alpha = np.zeros(n_targets)
        share = np.zeros((n_targets, len(slices)))
        estimators: list = [None] * len(cands)
        bases: list = [None] * len(cands)
        for ci, g in enumerate(cands):
            U, root = _kernel_basis(blocks, g)
            phi = U * root
            model = self._ridge().fit(phi, Y_arr)
            score = model.cv_scores_[model.best_alpha_index_, np.arange(n_targets)]
            better = score > best
            if not better.any():
                continue
            best[better] = score[better]
            which[better] = ci
            alpha[better] = model.alpha_[better]
            estimators[ci], bases[ci] = model, (U, root)
            c = (U / root) @ model.coef_[:, better]  # dual coefficients (T, v)
            fitted = phi @ model.coef_[:, better]
            parts = np.stack([g_l * (b @ (b.T @ c)) for g_l, b in zip(g, blocks)])  # (L, T, v)
            denom = (fitted * fitted).sum(0)
            share[better] = np.einsum("lnv,nv->vl", parts, fitted) / np.where(denom > 0, denom, 1.0)[:, None]
        kept = set(which.tolist())
        self.estimators_ = [m if i in kept else None for i, m in enumerate(estimators)]
        self._bases = [b if i in kept else None for i, b in enumerate(bases)]
        self.band_weights_ = cands
        self.best_candidate_ = which
        self.weights_ = cands[which]
        self.alpha_ = alpha
        self.cv_score_ = best
        self.share_ = share
        self.X_fit_ = X
        self.n_features_in_ = X.shape[1]
        self._y_1d = y_1d
        return self

    def predict(self, X) -> np.ndarray:
        """Predict the targets, each with its kept band weighting and penalty.

        Parameters
        ----------
        X : array_like, shape (T', p)

        Returns
        -------
        ndarray, shape (T', q), or (T',) when fitted on a 1-D ``Y``
        """
        check_is_fitted(self, "estimators_")
        X = validate_signal_matrix(X, "X", min_timesteps=1)
        if X.shape[1] != self.n_features_in_:
            raise InputError(
                f"X: has {X.shape[1]} columns; expected {self.n_features_in_} (the number of features seen in fit)"
            )
        blocks_fit, blocks = self._blocks(self.X_fit_), self._blocks(X)
        pred = np.zeros((X.shape[0], self.best_candidate_.size))
        for ci, model in enumerate(self.estimators_):
            if model is None:
                continue
            U, root = self._bases[ci]
            phi = (_band_kernel(blocks, blocks_fit, self.band_weights_[ci]) @ U) / root
            mine = self.best_candidate_ == ci
            pred[:, mine] = model.predict(phi)[:, mine]
        return pred[:, 0] if self._y_1d else pred
