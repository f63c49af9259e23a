"""Cross-validated ridge from per-block sufficient statistics: targets streamed once, in time chunks.

The design ``X`` (T, p) is small and stays in memory; the targets ``Y`` (T, q)
(the pixels of a widefield movie) arrive in time chunks and are never held
whole. Time is cut into contiguous *blocks* (the cross-validation folds, and
any extra boundary such as the start of a test block); for every block ``b``
:class:`BlockStatistics` keeps ``n_b``, ``Σx``, ``XᵀX`` (from ``X``) and
``XᵀY``, ``Σy``, ``Σy²`` (accumulated chunk by chunk). Every ridge fit on a
union of blocks and every held-out explained variance (EV) on another union
follows exactly from these sums: with ``a``, ``b`` the training means, the
centred training Gram matrix ``XᵀX - n a aᵀ = V diag(λ) Vᵀ`` gives the
coefficients of every penalty ``α`` as ``V diag(1 / (λ + α)) Vᵀ (XᵀY - n a bᵀ)``,
and the held-out residual sums ``Σ r`` and ``Σ r²`` are quadratic forms in
those coefficients and the test block's sums. So the nested
cross-validated penalty choice, the cross-validated EV map, the refit on all
data and the feature-group attribution (:func:`block_contributions`) need one
pass over ``Y``.

Folds of the nested cross-validation: the outer folds are ``cv`` contiguous
blocks of time (scikit-learn ``KFold(cv)`` without shuffling); the penalty of
the model of outer fold ``j`` is chosen by inner cross-validation whose folds
are the *other outer folds* (leave one more block out), and the refit on all
data chooses its penalty over the outer folds themselves (as
``RidgeCV(cv=cv)``). A test block after a boundary ``split`` (the test split)
is fitted on the blocks before it with the outer folds that lie there as
inner folds. Targets are shifted by their mean in the first chunk before
being summed, so the sums do not lose precision to large offsets (raw
fluorescence); integer targets of up to 16 bits (camera counts) are summed
as they are, exactly, and the (rounded) shift is taken out of the sums.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurocine.errors import InputError
from neurocine.models.ridge import DEFAULT_ALPHAS, ev_from_variances
from neurocine.runtime import progress
from neurocine.validation import check_int, validate_signal_matrix

__all__ = [
    "BlockStatistics",
    "BlockRidgeFit",
    "block_contributions",
    "fit_blocks",
    "fold_bounds",
]


_TILE_VALUES = 2**18  # targets x rows per tile in BlockStatistics.update (2 MiB of float64)


def fold_bounds(n_samples: int, cv: int) -> np.ndarray:
    """Boundaries ``[0, b_1, ..., T]`` of ``cv`` contiguous folds (scikit-learn ``KFold(cv)``, no shuffle).

    Examples
    --------
    >>> fold_bounds(10, 3).tolist()
    [0, 4, 7, 10]
    """
    n_samples = check_int("n_samples", n_samples, 2)
    cv = check_int("cv", cv, 2, n_samples, why=f"there are {n_samples} time steps")
    sizes = np.full(cv, n_samples // cv)
    sizes[: n_samples % cv] += 1
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


class BlockStatistics:
    """Ridge sufficient statistics of contiguous time blocks, accumulated from target chunks.

    Parameters
    ----------
    X : array_like, shape (T, m)
        Every design column any model will use (e.g. the design and its
        time-shifted copy), time first; models pick columns of it.
    bounds : array_like of int
        Increasing block boundaries ``0 = b_0 < b_1 < ... < b_n = T``.
    n_targets : int
        q, the number of targets per chunk.

    Attributes
    ----------
    XY : ndarray, shape (n_blocks, m, q)
        ``Σ_b x (y - c)ᵀ`` per block, with ``c`` the per-target shift (``shift``).
    sy, syy : ndarray, shape (n_blocks, q)
        ``Σ_b (y - c)`` and ``Σ_b (y - c)²``.
    shift : ndarray, shape (q,)
        Mean of the first chunk given to :meth:`update` (rounded, for integer targets).
    seen : ndarray of int, shape (n_blocks,)
        Rows accumulated per block (equal to the block sizes once every chunk is in).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.arange(12.0).reshape(6, 2); Y = X @ [[1.0], [2.0]]
    >>> stats = BlockStatistics(X, [0, 3, 6], 1)
    >>> stats.update(0, Y[:4]); stats.update(4, Y[4:])
    >>> bool(np.allclose(stats.XY.sum(0), X.T @ (Y - stats.shift)))
    True
    """

    def __init__(self, X, bounds, n_targets: int):
        X = validate_signal_matrix(X, "X", min_timesteps=1)
        self.X = np.asarray(X, dtype=np.float64)
        b = np.asarray(bounds, dtype=np.int64)
        if b.ndim != 1 or b.size < 2 or b[0] != 0 or b[-1] != X.shape[0] or np.any(np.diff(b) <= 0):
            raise InputError(f"bounds: got {b.tolist()}; expected increasing boundaries from 0 to T = {X.shape[0]}")
        self.bounds = b
        q = check_int("n_targets", n_targets, 1)
        n_blocks, m = b.size - 1, X.shape[1]
        self.n = np.diff(b).astype(np.float64)
        self.sx = np.stack([self.X[b[i] : b[i + 1]].sum(0) for i in range(n_blocks)])
        self.G = np.stack([self.X[b[i] : b[i + 1]].T @ self.X[b[i] : b[i + 1]] for i in range(n_blocks)])
        self.XY = np.zeros((n_blocks, m, q))
        self.sy = np.zeros((n_blocks, q))
        self.syy = np.zeros((n_blocks, q))
        self.shift: np.ndarray | None = None
        self.seen = np.zeros(n_blocks, dtype=np.int64)
        # the design's columns and a row of ones: one product gives Xᵀy and Σy of a tile together
        self._Xt = np.vstack([self.X.T, np.ones(X.shape[0])])
        self._buffer = np.empty(0)

    @property
    def n_targets(self) -> int:
        return int(self.sy.shape[1])

    def update(self, start: int, Y) -> None:
        """Add the target rows ``start:start + len(Y)`` (a (n, q) chunk, any real dtype)."""
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[1] != self.n_targets or start < 0 or start + Y.shape[0] > self.bounds[-1]:
            raise InputError(
                f"Y chunk: shape {Y.shape} at row {start}; expected (n, {self.n_targets}) rows within "
                f"0..{self.bounds[-1]}"
            )
        # integers of up to 16 bits (raw camera counts) and an integer shift: Σy, Σy² and the shifted Σ(y - c)²
        # of a chunk are integers below 2⁵³, exact in float64, so the tile is only cast and the shift is taken
        # out of the sums afterwards (one pass fewer over it, no precision lost)
        exact = Y.dtype.kind in "uib" and Y.dtype.itemsize <= 2 and Y.shape[0] * 2.0**32 < 2.0**53
        if self.shift is None:
            self.shift = Y.mean(0, dtype=np.float64)
            if exact:
                self.shift = np.round(self.shift)
        stop, q, m = start + Y.shape[0], self.n_targets, self.X.shape[1]
        first = int(np.searchsorted(self.bounds, start, side="right")) - 1
        for blk in range(first, self.bounds.size - 1):
            a, b = max(start, int(self.bounds[blk])), min(stop, int(self.bounds[blk + 1]))
            if a >= b:
                break
            rows = b - a
            # targets in tiles of about _TILE_VALUES numbers: the tile in float64, its product with X and its
            # sums stay in the CPU cache instead of streaming the whole chunk through memory four times
            width = max(1, min(q, _TILE_VALUES // rows))
            if self._buffer.size < rows * width:
                self._buffer = np.empty(rows * width)
            Xt = self._Xt[:, a:b]
            sx = Xt[:m].sum(1)
            for j in range(0, q, width):
                k = min(q, j + width)
                D = self._buffer[: rows * (k - j)].reshape(rows, k - j)
                c = self.shift[j:k]
                if exact:
                    np.copyto(D, Y[a - start : b - start, j:k], casting="unsafe")
                else:
                    np.subtract(Y[a - start : b - start, j:k], c, out=D)
                P = Xt @ D  # (m + 1, width): Xᵀy and Σy
                syy = np.einsum("tq,tq->q", D, D)
                if exact:  # Σ x (y - c) = Σ x y - c Σx; Σ (y - c)² = Σ y² - 2 c Σ y + n c²
                    P[:m] -= np.outer(sx, c)
                    syy += c * (rows * c - 2.0 * P[m])
                    P[m] -= rows * c
                self.XY[blk, :, j:k] += P[:m]
                self.sy[blk, j:k] += P[m]
                self.syy[blk, j:k] += syy
            self.seen[blk] += b - a

    def check_complete(self) -> None:
        """Raise InputError unless every row of every block was given exactly once."""
        want = np.diff(self.bounds)
        if not np.array_equal(self.seen, want):
            blk = int(np.flatnonzero(self.seen != want)[0])
            raise InputError(
                f"Y: block {blk} (rows {self.bounds[blk]}..{self.bounds[blk + 1] - 1}) got {self.seen[blk]} rows; "
                f"expected {want[blk]}, every row once"
            )

    def targets(self, idx) -> BlockStatistics:
        """The statistics of a subset of the targets (a view-free copy)."""
        out = object.__new__(BlockStatistics)
        out.__dict__.update(self.__dict__)
        out.XY, out.sy, out.syy = self.XY[:, :, idx], self.sy[:, idx], self.syy[:, idx]
        out._buffer = np.empty(0)
        out.shift = None if self.shift is None else self.shift[idx]
        return out


# --------------------------------------------------------------------------- solver


class _Sums:
    """Sums over a set of blocks for the columns ``cols`` and targets ``s``."""

    def __init__(self, st: BlockStatistics, blocks, cols, s):
        bl = np.asarray(blocks, dtype=np.int64)
        self.n = float(st.n[bl].sum())
        self.sx = st.sx[np.ix_(bl, cols)].sum(0)
        self.G = st.G[np.ix_(bl, cols, cols)].sum(0)
        self.XY = st.XY[:, :, s][np.ix_(bl, cols)].sum(0)
        self.sy = st.sy[:, s][bl].sum(0)
        self.syy = st.syy[:, s][bl].sum(0)

    def minus(self, other: _Sums) -> _Sums:
        out = object.__new__(_Sums)
        for k in ("n", "sx", "G", "XY", "sy", "syy"):
            setattr(out, k, getattr(self, k) - getattr(other, k))
        return out


class _Train:
    """A ridge fit on a set of blocks: training means, eigenbasis and rotated cross-products."""

    def __init__(self, tr: _Sums, alphas: np.ndarray):
        self.a = tr.sx / tr.n
        self.b = tr.sy / tr.n
        lam, V = np.linalg.eigh(tr.G - tr.n * np.outer(self.a, self.a))
        self.V = V
        self.inv = 1.0 / (lam.clip(min=0.0)[None, :] + alphas[:, None])  # (n_alphas, p)
        self.B = V.T @ (tr.XY - tr.n * np.outer(self.a, self.b))  # (p, q)

    def residual_sums(self, te: _Sums, W: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``Σ r`` and ``Σ r²`` on the test sums for rotated coefficients ``W`` (..., p, q)."""
        a, b = self.a, self.b
        dx = te.sx - te.n * a
        Cx = te.XY - np.outer(a, te.sy) - np.outer(te.sx, b) + te.n * np.outer(a, b)
        H = te.G - np.outer(a, te.sx) - np.outer(te.sx, a) + te.n * np.outer(a, a)
        Vt = self.V.T
        Cr, Hr, dr = Vt @ Cx, Vt @ H @ self.V, Vt @ dx
        syy_b = te.syy - 2 * b * te.sy + te.n * b * b
        sr = (te.sy - te.n * b) - np.einsum("p,...pq->...q", dr, W)
        srr = syy_b - 2 * (W * Cr).sum(-2) + (W * (Hr @ W)).sum(-2)
        return sr, srr


def _fold_scores(st, folds_train, cols, s, alphas) -> np.ndarray:
    """Mean over the inner folds of the held-out EV per penalty, (n_alphas, q) (RidgeCV's rule)."""
    total = _Sums(st, np.concatenate(folds_train), cols, s)
    scores = np.zeros((alphas.size, total.sy.size))
    for fold in folds_train:
        te = _Sums(st, fold, cols, s)
        fit = _Train(total.minus(te), alphas)
        sr, srr = fit.residual_sums(te, fit.inv[:, :, None] * fit.B[None])
        var_r = srr / te.n - (sr / te.n) ** 2
        var_y = (te.syy - te.sy**2 / te.n) / te.n
        ok = var_y > 0
        scores = scores + np.where(ok[None], 1.0 - var_r / np.where(ok, var_y, 1.0)[None], 0.0)
    return scores / len(folds_train)


def _fit(st, folds_train, cols, s, alphas):
    """Penalty by inner CV over ``folds_train``, then the refit on all of them: (fit, best index, scores)."""
    scores = _fold_scores(st, folds_train, cols, s, alphas)
    best = alphas.size - 1 - np.argmax(scores[::-1], axis=0)  # exact ties go to the larger penalty
    fit = _Train(_Sums(st, np.concatenate(folds_train), cols, s), alphas)
    W = fit.inv[best].T * fit.B  # (p, q)
    return fit, W, best, scores


@dataclass
class BlockRidgeFit:
    """Nested cross-validated ridge fitted from :class:`BlockStatistics`.

    Attributes
    ----------
    coef : ndarray, shape (p, q)
        Refit on all data (penalty per target by CV over the outer folds), per
        unit of the targets as given to :meth:`BlockStatistics.update`.
    intercept : ndarray, shape (q,)
    alpha : ndarray, shape (q,)
        Penalty of the refit per target.
    cv_scores : ndarray, shape (n_alphas, q)
        Mean held-out EV per penalty over the outer folds (the refit's choice).
    ev : ndarray, shape (q,)
        Cross-validated EV over the concatenated held-out predictions of the
        outer folds, each predicted by a model whose penalty was chosen without it.
    fold_coef : ndarray, shape (n_folds, p, q)
    fold_intercept : ndarray, shape (n_folds, q)
        The outer folds' models (held-out predictions are ``X[fold] @ fold_coef[j] + fold_intercept[j]``).
    test_ev : ndarray, shape (q,) or None
        EV on the blocks from ``split`` on, fitted on the blocks before it.
    """

    coef: np.ndarray
    intercept: np.ndarray
    alpha: np.ndarray
    cv_scores: np.ndarray
    ev: np.ndarray
    fold_coef: np.ndarray = field(repr=False)
    fold_intercept: np.ndarray = field(repr=False)
    test_ev: np.ndarray | None = None


def _folds(st: BlockStatistics, fold_edges: np.ndarray) -> list[np.ndarray]:
    """Blocks of each outer fold (``fold_edges`` must be block boundaries)."""
    starts = st.bounds[:-1]
    out = [np.flatnonzero((starts >= a) & (starts < b)) for a, b in zip(fold_edges[:-1], fold_edges[1:])]
    if any(f.size == 0 for f in out) or not np.isin(fold_edges, st.bounds).all():
        raise InputError(
            f"cv: fold edges {fold_edges.tolist()} are not boundaries of the blocks {st.bounds.tolist()}; "
            "expected the folds' edges among the blocks' (make the blocks with fold_bounds)"
        )
    return out


def _check_alpha_grid(alphas) -> np.ndarray:
    from neurocine.models.ridge import _check_alphas

    return _check_alphas(alphas)


def fit_blocks(
    st: BlockStatistics,
    cv: int,
    *,
    cols=None,
    alphas=None,
    split: int | None = None,
    target_chunk: int = 4096,
    details: bool = True,
) -> BlockRidgeFit:
    """Nested cross-validated ridge from block statistics (see the module docstring for the folds).

    Parameters
    ----------
    st : BlockStatistics
        Complete statistics (every row given once); its boundaries must include
        the ``cv`` fold edges (:func:`fold_bounds`) and ``split``.
    cv : int
        Number of contiguous outer folds.
    cols : array_like of int, optional
        Columns of ``st.X`` that form the model (default all).
    alphas : array_like, optional
        Penalty grid (default :data:`~neurocine.models.ridge.DEFAULT_ALPHAS`).
    split : int, optional
        First row of a test block: also fit on the rows before it (inner folds:
        the outer folds there) and score on the rows after (``test_ev``).
    target_chunk : int, default 4096
        Targets solved together (memory: a few ``n_alphas x p x target_chunk`` float64 arrays).
    details : bool, default True
        False: only ``ev`` (the other fields are empty), for the attribution models.

    Returns
    -------
    BlockRidgeFit

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((300, 3)); Y = X @ rng.standard_normal((3, 4)) + 0.3 * rng.standard_normal((300, 4))
    >>> st = BlockStatistics(X, fold_bounds(300, 5), 4); st.update(0, Y)
    >>> fit = fit_blocks(st, 5, alphas=[0.1, 1.0, 10.0])
    >>> fit.coef.shape, bool(np.all(fit.ev > 0.5))
    ((3, 4), True)
    """
    st.check_complete()
    T = int(st.bounds[-1])
    alphas = _check_alpha_grid(DEFAULT_ALPHAS if alphas is None else alphas)
    cols = np.arange(st.X.shape[1]) if cols is None else np.asarray(cols, dtype=np.int64)
    folds = _folds(st, fold_bounds(T, cv))
    test_blocks = None
    if split is not None:
        if split not in st.bounds[1:-1]:
            raise InputError(f"split: got {split}; expected a block boundary inside 0..{T}")
        pre = [f[st.bounds[f] < split] for f in folds]
        pre = [f for f in pre if f.size]
        test_blocks = np.flatnonzero(st.bounds[:-1] >= split)
        if len(pre) < 2:
            raise InputError(f"split: got {split}; expected at least two folds' rows before it")
    q, p, k = st.n_targets, cols.size, len(folds)
    ev = np.empty(q)
    out = {
        "coef": np.empty((p, q)) if details else np.empty((0, 0)),
        "intercept": np.empty(q) if details else np.empty(0),
        "alpha": np.empty(q) if details else np.empty(0),
        "cv_scores": np.empty((alphas.size, q)) if details else np.empty((0, 0)),
        "fold_coef": np.empty((k, p, q)) if details else np.empty((0, 0, 0)),
        "fold_intercept": np.empty((k, q)) if details else np.empty((0, 0)),
    }
    test_ev = np.empty(q) if split is not None else None
    for start in range(0, q, target_chunk):
        s = slice(start, min(q, start + target_chunk))
        sr_all, srr_all = 0.0, 0.0
        for j, fold in enumerate(folds):
            fit, W, _, _ = _fit(st, [f for i, f in enumerate(folds) if i != j], cols, s, alphas)
            te = _Sums(st, fold, cols, s)
            sr, srr = fit.residual_sums(te, W)
            sr_all, srr_all = sr_all + sr, srr_all + srr
            if details:
                c = fit.V @ W
                out["fold_coef"][j, :, s] = c
                out["fold_intercept"][j, s] = fit.b - fit.a @ c
        every = _Sums(st, np.arange(st.n.size), cols, s)
        var_r = srr_all / T - (sr_all / T) ** 2
        var_y = every.syy / T - (every.sy / T) ** 2
        ev[s] = ev_from_variances(np.maximum(var_r, 0.0), np.maximum(var_y, 0.0))
        if details:
            fit, W, best, scores = _fit(st, folds, cols, s, alphas)
            c = fit.V @ W
            out["coef"][:, s] = c
            out["intercept"][s] = fit.b - fit.a @ c
            out["alpha"][s] = alphas[best]
            out["cv_scores"][:, s] = scores
        if test_ev is not None and test_blocks is not None:
            fit, W, _, _ = _fit(st, pre, cols, s, alphas)
            te = _Sums(st, test_blocks, cols, s)
            sr, srr = fit.residual_sums(te, W)
            var_y = (te.syy - te.sy**2 / te.n) / te.n
            test_ev[s] = ev_from_variances(np.maximum(srr / te.n - (sr / te.n) ** 2, 0.0), np.maximum(var_y, 0.0))
    if details and st.shift is not None:
        out["intercept"] = out["intercept"] + st.shift
        out["fold_intercept"] = out["fold_intercept"] + st.shift[None, :]
    return BlockRidgeFit(ev=ev, test_ev=test_ev, **out)


def block_contributions(
    st: BlockStatistics,
    cv: int,
    n_design: int,
    group_columns: list,
    shifted_columns: list,
    *,
    alphas=None,
    full_ev=None,
    target_chunk: int = 4096,
):
    """Unique and single-group cross-validated EV from block statistics (one pass over the targets).

    The same quantities as :func:`~neurocine.models.attribution.group_contributions`
    with the nested folds of this module: unique = full EV minus the EV with the
    group's columns replaced by their circularly shifted copies, single = EV of
    the group's columns alone.

    Parameters
    ----------
    st : BlockStatistics
        Statistics of ``[X, X_shifted]``: the first p columns the design, the
        next ones the shifted copies.
    cv : int
        Outer folds.
    n_design : int
        p, the design's columns (the first p of ``st.X``).
    group_columns : list of array_like of int
        Columns of each group in the design (0..p-1).
    shifted_columns : list of array_like of int
        Columns of ``st.X`` holding each group's shifted copy (same order and length).
    alphas : array_like, optional
    target_chunk : int, default 4096
    full_ev : ndarray, shape (q,), optional
        The full model's EV when already fitted.

    Returns
    -------
    full_ev, reduced_ev, single : ndarray
        (q,), (n_groups, q), (n_groups, q).
    """
    design = np.arange(n_design)
    kw = {"alphas": alphas, "details": False, "target_chunk": target_chunk}
    if full_ev is None:
        full_ev = fit_blocks(st, cv, cols=design, **kw).ev
    reduced, single = [], []
    for idx, sh in progress(list(zip(group_columns, shifted_columns)), desc="groups"):
        cols = design.copy()
        cols[np.asarray(idx)] = np.asarray(sh)
        reduced.append(fit_blocks(st, cv, cols=cols, **kw).ev)
        single.append(fit_blocks(st, cv, cols=np.asarray(idx), **kw).ev)
    return full_ev, np.stack(reduced), np.stack(single)
