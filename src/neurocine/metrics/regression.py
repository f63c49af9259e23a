"""Variance explained (R²) of a prediction, summed in float64 over row blocks of long recordings."""

from __future__ import annotations

import numpy as np


def r2_score(data, prediction, mask=None, *, chunk_rows: int = 65_536) -> float:
    """Fraction of variance explained: ``1 - SSE / SST``, SST around the grand mean.

    Sums are accumulated in float64 over blocks of ``chunk_rows`` rows, so
    no full-size float64 copy of a long recording is made.

    Parameters
    ----------
    data, prediction : array_like (T, N)
    mask : bool array (T, N), optional
        Only entries where it is True count (e.g. held-out entries).

    Returns
    -------
    float
        NaN when the data are constant.

    Examples
    --------
    >>> import numpy as np
    >>> r2_score(np.array([[1.0], [2.0], [3.0]]), np.array([[1.0], [2.0], [2.0]]))
    0.5
    """
    data, prediction = np.asarray(data), np.asarray(prediction)
    sse = 0.0
    for x, p in zip(_row_blocks(data, mask, chunk_rows), _row_blocks(prediction, mask, chunk_rows)):
        sse += float(((x - p) ** 2).sum())
    return r2_of_squared_error(data, sse, mask, chunk_rows=chunk_rows)


def r2_of_squared_error(data, sse: float, mask=None, *, chunk_rows: int = 65_536) -> float:
    """:func:`r2_score` of a prediction whose squared error ``sse`` (over the masked entries) is known."""
    data = np.asarray(data)
    total = count = 0.0
    for x in _row_blocks(data, mask, chunk_rows):
        total, count = total + float(x.sum()), count + x.size
    mean = total / count if count else 0.0
    sst = sum(float(((x - mean) ** 2).sum()) for x in _row_blocks(data, mask, chunk_rows))
    return 1.0 - sse / sst if sst > 0 else float("nan")


def _row_blocks(a: np.ndarray, mask, chunk_rows: int):
    """Blocks of ``chunk_rows`` rows of ``a`` in float64, flattened to the entries where ``mask`` is True."""
    for i in range(0, a.shape[0], chunk_rows):
        block = a[i : i + chunk_rows].astype(np.float64)
        yield block if mask is None else block[mask[i : i + chunk_rows]]


# ---------------------------------------------------------------------------------------------
# Video metrics (movie reconstruction, Bauer, Margrie & Clopath 2025). Videos are time-first
# (T, H, W) arrays on the 0-255 scale; masks are (H, W) (the same for every frame) or (T, H, W).
# ---------------------------------------------------------------------------------------------
