"""Screenome events -> a (T, N) matrix of seconds of use of each app per time bin.

Pure numpy: no file IO. The matrix is the multichannel signal that
convolutional NMF decomposes into "motivational state" motifs (Neural
Screenomics notebook).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from neurocine.errors import InputError

__all__ = ["BinnedUsage", "bin_events", "parse_duration", "OTHER"]

#: Name of the channel that collects the apps outside ``top_n``.
OTHER = "other"

_UNITS = {
    "ms": 1e-3,
    "msec": 1e-3,
    "millisecond": 1e-3,
    "milliseconds": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "h": 3600.0,
    "hr": 3600.0,
    "hrs": 3600.0,
    "hour": 3600.0,
    "hours": 3600.0,
    "d": 86400.0,
    "day": 86400.0,
    "days": 86400.0,
}
_DURATION_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([a-zA-Z]*)\s*$")


def parse_duration(value: str | float | int, *, name: str = "--bin") -> float:
    """Parse a duration such as ``"5s"``, ``"500ms"``, ``"1min"``, ``"2h"`` or ``"10"`` into seconds.

    A bare number is seconds. Units: ``ms``, ``s``/``sec``, ``m``/``min``,
    ``h``/``hr``, ``d``/``day`` (and their plurals), case-insensitive.

    Parameters
    ----------
    value : str or number
        The duration.
    name : str
        Argument name used in error messages.

    Returns
    -------
    float
        Seconds, finite and > 0.

    Raises
    ------
    InputError
        Unparseable, unknown unit, zero, negative or infinite.

    Examples
    --------
    >>> parse_duration("5s"), parse_duration("500ms"), parse_duration("1min"), parse_duration("2h"), parse_duration("10")
    (5.0, 0.5, 60.0, 7200.0, 10.0)
    """
    expected = "expected a positive duration such as 5s, 500ms, 1min, 2h or 10 (seconds)"
    if isinstance(value, bool):
        raise InputError(f"{name}: got {value!r}, {expected}")
    if isinstance(value, (int, float, np.integer, np.floating)):
        seconds = float(value)
    elif isinstance(value, str):
        match = _DURATION_RE.match(value)
        if match is None:
            raise InputError(f"{name}: got {value!r}, {expected}")
        number, unit = match.groups()
        unit = unit.lower()
        if unit and unit not in _UNITS:
            raise InputError(f"{name}: got {value!r} with unknown unit {unit!r}, {expected}")
        seconds = float(number) * _UNITS.get(unit, 1.0)
    else:
        raise InputError(f"{name}: got {value!r}, {expected}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise InputError(f"{name}: got {value!r}, {expected}")
    return seconds


class BinnedUsage(NamedTuple):
    """Result of :func:`bin_events` (unpacks as ``data, channels, bin_starts``).

    Attributes
    ----------
    data : ndarray, shape (T, N), float64
        Seconds of use of each channel in each bin (>= 0).
    channels : list of str
        Channel names, length N.
    bin_starts : ndarray, shape (T,), float64
        Start of each bin, in the events' seconds.
    """

    data: np.ndarray
    channels: list[str]
    bin_starts: np.ndarray


def _as_1d(name: str, value, dtype) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1:
        raise InputError(f"{name}: got shape {arr.shape}, expected a 1-D array of events")
    try:
        return arr.astype(dtype, copy=False)
    except (TypeError, ValueError):
        raise InputError(f"{name}: got dtype {arr.dtype}, expected numbers") from None


def bin_events(
    start,
    duration,
    channel,
    bin_seconds: float,
    *,
    channel_names: Sequence[str] | None = None,
    top_n: int | None = None,
) -> BinnedUsage:
    """Seconds of use of each channel in consecutive time bins, overlap-exact.

    An event ``[start, start + duration)`` adds to every bin the length of its
    overlap with that bin, so the matrix sums to the total duration. Bins
    start at ``floor(min(start) / bin_seconds) * bin_seconds`` and run until
    the bin holding the latest event end. Bins with no events are zeros.
    Events of the same channel are added even if they overlap in time
    (:func:`~neurocine.io.screenome.read_screenome_log` already clips a
    participant's overlaps).

    Parameters
    ----------
    start : array_like, shape (E,)
        Event starts, seconds (any origin, e.g. epoch seconds).
    duration : array_like, shape (E,)
        Event durations, seconds, >= 0.
    channel : array_like of int, shape (E,)
        Channel index of each event, in ``[0, N)``.
    bin_seconds : float
        Bin width in seconds, > 0.
    channel_names : sequence of str, optional
        Names of the N channels; default ``"0", "1", ...`` up to the largest index.
    top_n : int, optional
        Keep only the ``top_n`` most-used channels (by total seconds; ties
        broken by name) in their original order, and add one channel named
        ``"other"`` with the sum of the rest (only if some channel is left out).

    Returns
    -------
    BinnedUsage
        ``data`` (T, N') float64 seconds, ``channels`` (N' names),
        ``bin_starts`` (T,) seconds; N' = N, or ``top_n`` (+1 for ``other``).

    Examples
    --------
    >>> data, names, starts = bin_events([0.0, 4.0], [7.0, 2.0], [0, 1], 5.0, channel_names=["mail", "maps"])
    >>> data.tolist(), names, starts.tolist()
    ([[5.0, 1.0], [2.0, 1.0]], ['mail', 'maps'], [0.0, 5.0])
    """
    start = _as_1d("start", start, np.float64)
    duration = _as_1d("duration", duration, np.float64)
    chan_raw = np.asarray(channel)
    if chan_raw.ndim != 1:
        raise InputError(f"channel: got shape {chan_raw.shape}, expected a 1-D array of channel indices")
    if chan_raw.size and not np.issubdtype(chan_raw.dtype, np.integer):
        raise InputError(f"channel: got dtype {chan_raw.dtype}, expected integer channel indices")
    chan = chan_raw.astype(np.int64, copy=False)
    if not (start.size == duration.size == chan.size):
        raise InputError(
            f"events: start, duration and channel have lengths {start.size}, {duration.size}, "
            f"{chan.size}; expected equal lengths"
        )
    if start.size == 0:
        raise InputError("events: none; expected at least one event")
    if not np.all(np.isfinite(start)):
        raise InputError("start: contains NaN or infinite values; expected finite seconds")
    if not np.all(np.isfinite(duration)) or np.any(duration < 0):
        raise InputError("duration: contains negative, NaN or infinite values; expected finite seconds >= 0")
    if np.any(chan < 0):
        raise InputError(f"channel: got index {int(chan.min())}, expected indices >= 0")
    bin_seconds = parse_duration(bin_seconds, name="bin_seconds")
    if channel_names is None:
        channel_names = [str(i) for i in range(int(chan.max()) + 1)]
    names = [str(n) for n in channel_names]
    n_chan = len(names)
    if n_chan == 0:
        raise InputError("channel_names: empty; expected at least one channel name")
    if chan.max() >= n_chan:
        raise InputError(
            f"channel: got index {int(chan.max())} but {n_chan} channel names; expected indices < {n_chan}"
        )
    if top_n is not None and (isinstance(top_n, bool) or not isinstance(top_n, (int, np.integer)) or top_n < 1):
        raise InputError(f"top_n: got {top_n!r}, expected an integer >= 1")

    q = float(start.min()) / bin_seconds
    k = math.floor(q)
    if q - k > 1.0 - max(1e-6, 8 * float(np.spacing(q))):  # a start on a bin edge, give or take rounding
        k += 1
    origin = k * bin_seconds
    u = np.maximum((start - origin) / bin_seconds, 0.0)  # start in bins (>= 0 despite rounding)
    w = duration / bin_seconds
    v = u + w
    n_bins = max(1, int(math.ceil(float(v.max()) - 1e-9)))  # tolerance: an end on a bin edge opens no bin

    keep = w > 0
    u, v, dur, ch, st = u[keep], v[keep], duration[keep], chan[keep], start[keep]
    i0 = np.minimum(np.floor(u).astype(np.int64), n_bins - 1)
    i1 = np.clip(np.ceil(v).astype(np.int64) - 1, i0, n_bins - 1)
    single = i1 == i0
    # seconds from the start to the end of its first bin (computed in seconds: fewer rounding steps)
    to_edge = np.clip((origin + (i0 + 1) * bin_seconds) - st, 0.0, dur)
    first = np.where(single, dur, to_edge)
    n_full = np.maximum(i1 - i0 - 1, 0)
    last = np.where(single, 0.0, dur - first - n_full * bin_seconds)  # exact conservation in seconds

    size = n_bins * n_chan
    flat = np.zeros(size)
    flat += np.bincount(i0 * n_chan + ch, weights=first, minlength=size)
    flat += np.bincount(i1 * n_chan + ch, weights=last, minlength=size)
    data = flat.reshape(n_bins, n_chan)
    has_full = n_full > 0
    if has_full.any():
        diff = np.zeros((n_bins + 1) * n_chan)
        diff += np.bincount((i0[has_full] + 1) * n_chan + ch[has_full], minlength=diff.size)
        diff -= np.bincount(i1[has_full] * n_chan + ch[has_full], minlength=diff.size)
        data += np.cumsum(diff.reshape(n_bins + 1, n_chan), axis=0)[:n_bins] * bin_seconds
    np.maximum(data, 0.0, out=data)  # remove -1e-13 float residue

    if top_n is not None and top_n < n_chan:
        totals = data.sum(axis=0)
        ranked = sorted(range(n_chan), key=lambda j: (-totals[j], names[j]))
        kept = sorted(ranked[:top_n])
        rest = sorted(ranked[top_n:])
        other_name = OTHER if OTHER not in [names[j] for j in kept] else OTHER + "_rest"
        data = np.concatenate([data[:, kept], data[:, rest].sum(axis=1, keepdims=True)], axis=1)
        names = [names[j] for j in kept] + [other_name]

    bin_starts = origin + np.arange(n_bins, dtype=np.float64) * bin_seconds
    return BinnedUsage(data=data, channels=names, bin_starts=bin_starts)
