"""Top-k SVD of a tall matrix read in row chunks, in a few passes: a randomized SVD held to k columns of memory.

:func:`randomized_svd_chunks` computes the truncated SVD of the column-centred
matrix ``Yc = Y - mean`` (T rows, q columns: a movie's frames by its pixels)
without ever holding ``Y``: the rows arrive in chunks, and every pass over
them accumulates a product with a thin matrix (Halko, Martinsson and Tropp
2011, algorithms 4.3 and 5.1, applied to ``Ycᵀ``):

1. the sketch ``S = Ycᵀ Ω`` (q x l, ``Ω`` a Gaussian T x l matrix,
   ``l = k + oversamples``), summed over the chunks, and the column means;
   ``Q = orth(S)``;
2. ``n_iter`` power iterations, one pass each: ``Z = Yc Q`` row by row and
   ``Ycᵀ Z`` summed over the chunks (``Ycᵀ Yc = Σ_chunks Ycᵀ_c Yc_c``), then
   ``Q = orth(Ycᵀ Z)``;
3. a last pass for ``Z = Yc Q`` (T x l); the SVD of the small ``Z`` gives
   ``Yc ≈ Z Qᵀ = temporal · diag(s) · spatialᵀ``.

So ``2 + n_iter`` passes; memory: ``Ω`` and ``Z`` (T x l), ``S`` and ``Q``
(q x l) and one chunk, never T x q. The centring is applied to the sums
after the first pass (the means are only known then). An optional hook
between the first pass and the others keeps a subset of the columns and
applies a per-column affine map ``y = v * scale + offset`` (e.g. a brain
mask and a dF/F baseline found in the first pass). The same function on the
chunks of an in-memory array gives the in-memory route's decomposition.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.runtime import progress
from neurocine.validation import check_int

__all__ = ["ChunkedSVD", "randomized_svd_chunks"]

#: ``chunks(columns)`` -> (start row, (n, q) values) pairs; ``columns`` None on the first pass.
ChunkSource = Callable[[np.ndarray | None], Iterable[tuple[int, np.ndarray]]]


@dataclass
class ChunkedSVD:
    """Result of :func:`randomized_svd_chunks`: ``Y - mean ≈ temporal @ diag(singular_values) @ spatial.T``.

    Attributes
    ----------
    temporal : ndarray, shape (T, k)
        Left singular vectors (orthonormal columns).
    singular_values : ndarray, shape (k,)
        Decreasing.
    spatial : ndarray, shape (q, k)
        Right singular vectors (orthonormal columns), one row per kept column; the
        largest-magnitude entry of each is positive.
    mean : ndarray, shape (q,)
        Column means of the (mapped) values.
    columns : ndarray of int or None
        The first pass's columns that were kept (None: all).
    total_variance : float
        ``‖Y - mean‖²_F`` of the kept columns.
    passes : int
        Passes over the rows.
    """

    temporal: np.ndarray
    singular_values: np.ndarray
    spatial: np.ndarray
    mean: np.ndarray
    columns: np.ndarray | None
    total_variance: float
    passes: int

    @property
    def kept_variance(self) -> float:
        """Fraction of ``total_variance`` the k components keep."""
        return float((self.singular_values**2).sum() / max(self.total_variance, 1e-300))


def _rows(chunks: Iterable[tuple[int, np.ndarray]], n_rows: int, desc: str, n_chunks: int | None):
    """The chunks as float64 (n, q) arrays, checking that they cover rows 0..n_rows - 1 once, in order."""
    expected = 0
    for start, values in progress(chunks, total=n_chunks, desc=desc, unit="chunk"):
        v = np.asarray(values, dtype=np.float64)
        if v.ndim != 2 or start != expected or start + v.shape[0] > n_rows:
            raise InputError(
                f"chunks: got rows {start}..{start + v.shape[0] - 1} of shape {v.shape}; expected consecutive "
                f"(n, q) chunks from row {expected}, within the {n_rows} rows"
            )
        expected += v.shape[0]
        yield start, v
    if expected != n_rows:
        raise InputError(f"chunks: covered {expected} rows; expected {n_rows}")


def _orth(a: np.ndarray) -> np.ndarray:
    return np.linalg.qr(a)[0]


def randomized_svd_chunks(
    chunks: ChunkSource,
    n_rows: int,
    k: int,
    *,
    oversamples: int = 20,
    n_iter: int = 2,
    random_state: int = 0,
    after_first_pass: Callable[[np.ndarray], tuple] | None = None,
    n_chunks: int | None = None,
    desc: str = "SVD",
) -> ChunkedSVD:
    """Top-k SVD of the column-centred rows delivered by ``chunks``, in ``2 + n_iter`` passes.

    Parameters
    ----------
    chunks : callable
        ``chunks(columns)`` returns an iterable of ``(start, values)``: consecutive
        row chunks ``(n, q)`` covering rows ``0 .. n_rows - 1`` once. ``columns`` is
        None on the first pass, then the columns kept by ``after_first_pass``
        (the chunks then hold only those columns, in that order).
    n_rows : int
        T, the number of rows.
    k : int
        Components returned, at most ``min(T, q)``.
    oversamples : int, default 20
        Extra columns of the random sketch (``l = k + oversamples``, capped at ``min(T, q)``).
    n_iter : int, default 2
        Power iterations (one pass each): more resolve a slowly decaying spectrum better.
    random_state : int, default 0
        Seeds the Gaussian test matrix: the same seed and rows give the same result
        however they are chunked (to rounding).
    after_first_pass : callable, optional
        ``after_first_pass(mean)`` with the first pass's column means (q,) returns
        ``(columns, scale, offset)``: the columns to keep (int array or None for all)
        and the per-kept-column map ``y = v * scale + offset`` (arrays or None).
    n_chunks : int, optional
        Chunks per pass, for the progress bar.
    desc : str, default "SVD"
        Progress-bar label.

    Returns
    -------
    ChunkedSVD

    Raises
    ------
    InputError
        ``k`` larger than ``min(T, q)``; chunks that do not cover the rows once.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Y = rng.standard_normal((200, 3)) @ rng.standard_normal((3, 40)) + 5.0
    >>> res = randomized_svd_chunks(lambda cols: ((s, Y[s:s + 64]) for s in range(0, 200, 64)), 200, 3)
    >>> Yc = Y - Y.mean(0)
    >>> bool(np.allclose(res.temporal * res.singular_values @ res.spatial.T, Yc))
    True
    """
    t_len = check_int("n_rows", n_rows, 1)
    k = check_int("k", k, 1)
    oversamples = check_int("oversamples", oversamples, 0)
    n_iter = check_int("n_iter", n_iter, 0)
    passes = 2 + n_iter
    rng = np.random.default_rng(random_state)
    omega: np.ndarray | None = None
    shift = s1 = s2 = sketch = None
    buffer = np.empty((0, 0))  # one centred chunk, reused: no fresh pages per chunk

    def centred(v: np.ndarray, by: Any) -> np.ndarray:
        nonlocal buffer
        if buffer.shape[0] < v.shape[0] or buffer.shape[1] != v.shape[1]:
            buffer = np.empty(v.shape)
        return np.subtract(v, by, out=buffer[: v.shape[0]])

    for start, v in _rows(chunks(None), t_len, f"{desc} pass 1/{passes}", n_chunks):
        if omega is None:
            q_all = v.shape[1]
            width = min(k + oversamples, q_all, t_len)
            if k > min(q_all, t_len):
                raise InputError(f"k: got {k}; expected at most {min(q_all, t_len)} (the rows and columns)")
            omega = rng.standard_normal((t_len, width))
            shift = v.mean(0)
            s1, s2, sketch = np.zeros(q_all), np.zeros(q_all), np.zeros((q_all, width))
        d = centred(v, shift)
        sketch += d.T @ omega[start : start + d.shape[0]]
        s1 += d.sum(0)
        s2 += np.einsum("tq,tq->q", d, d)
    assert omega is not None and shift is not None and s1 is not None and s2 is not None and sketch is not None
    del v, d  # the last chunk may be a view of the source's frame buffer: let it go
    dm = s1 / t_len  # mean - shift
    sketch -= np.outer(dm, omega.sum(0))  # Σ (v - mean) Ωᵀ
    mean = shift + dm
    sumsq = np.maximum(s2 - t_len * dm * dm, 0.0)
    columns, scale, offset = after_first_pass(mean) if after_first_pass is not None else (None, None, None)
    if columns is not None:
        columns = np.asarray(columns, dtype=np.int64)
        sketch, mean, sumsq = sketch[columns], mean[columns], sumsq[columns]
    scale = np.ones(mean.size) if scale is None else np.asarray(scale, dtype=np.float64)
    if k > min(mean.size, t_len):
        raise InputError(f"k: got {k}; expected at most {min(mean.size, t_len)} (the rows and kept columns)")
    Q = _orth(scale[:, None] * sketch)
    del sketch, omega
    Z = np.empty((t_len, Q.shape[1]))
    for it in range(n_iter + 1):
        last = it == n_iter
        Qs = scale[:, None] * Q  # Yc Q = (V - mean) diag(scale) Q
        W = None if last else np.zeros_like(Q)
        for start, v in _rows(chunks(columns), t_len, f"{desc} pass {it + 2}/{passes}", n_chunks):
            d = centred(v, mean)
            z = np.matmul(d, Qs, out=Z[start : start + d.shape[0]])
            if W is not None:
                W += d.T @ z
        if W is not None:
            Q = _orth(scale[:, None] * W)
    A, s, Bt = np.linalg.svd(Z, full_matrices=False)  # Yc ≈ Z Qᵀ = A diag(s) (Q Btᵀ)ᵀ
    spatial = Q @ Bt[:k].T
    flip = np.sign(spatial[np.abs(spatial).argmax(axis=0), np.arange(k)])
    flip[flip == 0] = 1.0
    mean_y = mean * scale + (0.0 if offset is None else np.asarray(offset, dtype=np.float64))
    return ChunkedSVD(
        temporal=A[:, :k] * flip,
        singular_values=s[:k],
        spatial=spatial * flip,
        mean=mean_y,
        columns=columns,
        total_variance=float((scale * scale * sumsq).sum()),
        passes=passes,
    )
