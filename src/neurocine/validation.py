"""Validation shared by readers and estimators (pure: no IO)."""

from __future__ import annotations

from typing import Any

import numpy as np

from neurocine.errors import InputError


def check_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None, *, why: str = "") -> int:
    """``value`` as an int, or InputError if it is not an integer in ``[minimum, maximum]`` (bools are refused).

    Parameters
    ----------
    name : str
        The argument (or CLI flag) named at the start of the message.
    value : object
        What was given.
    minimum : int, default 1
        Least value accepted.
    maximum : int or None, default None
        Largest value the data allow (None: no upper limit). Checked before
        any work starts, so an impossible size fails at once.
    why : str, default ""
        What sets ``maximum`` (the data's size), added to the message.

    Returns
    -------
    int

    Raises
    ------
    InputError
        One line: the name, what was given and the range possible.

    Examples
    --------
    >>> check_int("window", 5, maximum=50)
    5
    >>> check_int("window", 500, maximum=50, why="the stack has 50 frames")
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: window: got 500, expected an integer in [1, 50] (the stack has 50 frames)
    """
    reason = f" ({why})" if why else ""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        if maximum is None or maximum < minimum:
            raise InputError(f"{name}: got {value!r}, expected an integer >= {minimum}")
        raise InputError(f"{name}: got {value!r}, expected an integer in [{minimum}, {maximum}]{reason}")
    if maximum is not None and value > maximum:
        if maximum < minimum:
            raise InputError(f"{name}: got {value!r}, but no value is possible{reason}")
        raise InputError(f"{name}: got {value!r}, expected an integer in [{minimum}, {maximum}]{reason}")
    return int(value)


def check_float_dtype(name: str, dtype: Any) -> np.dtype:
    """``dtype`` as a floating numpy dtype, or InputError naming ``name``."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise InputError(f"{name}: got {dtype!r}; expected a floating numpy dtype such as float32") from None
    if dt.kind != "f":
        raise InputError(f"{name}: got {dt}; expected a floating numpy dtype such as float32")
    return dt


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def validate_signal_matrix(data: Any, name: str, *, min_timesteps: int = 2, dtype: Any = None) -> np.ndarray:
    """Check that ``data`` is a finite, real, time-first ``(T, N)`` matrix.

    Pure validation (no IO): readers call it on what they read and
    estimators on what they are given.

    Parameters
    ----------
    data : array_like, shape (T, N)
        T time steps (rows) by N channels (columns); numeric and real
        (bool, integer or floating).
    name : str
        The file or argument the data came from; starts every error message.
    min_timesteps : int, default 2
        Least number of rows accepted.
    dtype : numpy dtype, optional
        Cast the returned array to this dtype; by default it keeps its own.

    Returns
    -------
    ndarray, shape (T, N)
        ``np.asarray(data)`` (cast to ``dtype`` when given).

    Raises
    ------
    InputError
        One line naming ``name``, what was found and what was expected:
        not an array, not numeric, complex, not 2-D (a 1-D array gets a hint
        to use ``reshape(-1, 1)``), fewer than ``min_timesteps`` rows, no
        columns, NaN or infinite values (their count and the first
        ``(row, column)``).

    Examples
    --------
    >>> validate_signal_matrix([[0, 1], [2, 3], [4, 5]], "X").shape
    (3, 2)
    >>> validate_signal_matrix([0.0, 1.0, 2.0], "X")
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: X: got a 1-D array of shape (3,); expected a 2-D (T, N) array, time first (for one channel use data.reshape(-1, 1))
    """
    try:
        arr = np.asarray(data)
    except (ValueError, TypeError) as exc:  # ragged nested lists and the like
        raise InputError(
            f"{name}: cannot be read as an array ({exc}); expected a 2-D (T, N) numeric array, time first"
        ) from None
    if arr.dtype.kind == "c":
        raise InputError(f"{name}: has complex dtype {arr.dtype}; expected real numeric values")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: has non-numeric dtype {arr.dtype}; expected a real numeric (T, N) array")
    if arr.ndim == 1:
        raise InputError(
            f"{name}: got a 1-D array of shape {arr.shape}; expected a 2-D (T, N) array, "
            f"time first (for one channel use data.reshape(-1, 1))"
        )
    if arr.ndim != 2:
        raise InputError(
            f"{name}: got a {arr.ndim}-D array of shape {arr.shape}; expected a 2-D (T, N) array, time first"
        )
    t_len, n_ch = arr.shape
    if t_len < min_timesteps:
        raise InputError(
            f"{name}: has {plural(t_len, 'time step')} (shape {arr.shape}); "
            f"expected at least {min_timesteps} rows (time steps)"
        )
    if n_ch < 1:
        raise InputError(f"{name}: has 0 columns (shape {arr.shape}); expected at least 1 channel")
    if arr.dtype.kind == "f":
        finite = np.isfinite(arr)
        if not finite.all():
            n_nan = int(np.isnan(arr).sum())
            n_inf = int((~finite).sum()) - n_nan
            row, col = (int(i) for i in np.argwhere(~finite)[0])
            parts = [p for p, n in ((plural(n_nan, "NaN"), n_nan), (plural(n_inf, "infinite value"), n_inf)) if n]
            raise InputError(
                f"{name}: has {' and '.join(parts)}, the first at (row {row}, column {col}); expected finite values"
            )
    if dtype is not None:
        arr = arr.astype(dtype, copy=False)
    return arr
