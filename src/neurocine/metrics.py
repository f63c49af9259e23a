"""Metrics shared by every layer (pure numpy)."""

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
    blocks = range(0, data.shape[0], chunk_rows)

    def rows(a, i):
        return None if a is None else a[i: i + chunk_rows]

    def selected(a, m):
        a = a.astype(np.float64)
        return a if m is None else a[m]

    total = count = 0.0
    for i in blocks:
        x = selected(rows(data, i), rows(mask, i))
        total, count = total + float(x.sum()), count + x.size
    mean = total / count if count else 0.0
    sse = sst = 0.0
    for i in blocks:
        m = rows(mask, i)
        x, p = selected(rows(data, i), m), selected(rows(prediction, i), m)
        sse += float(((x - p) ** 2).sum())
        sst += float(((x - mean) ** 2).sum())
    return 1.0 - sse / sst if sst > 0 else float("nan")
