"""Timing and resampling: TTL edges, dropped frames, common clocks, decimation, interpolation, feature variants.

Pure numpy/scipy (no IO). Every array of samples is time first: ``(T,)``,
``(T, C)`` or ``(T, ...)``; timestamps are ``(T,)`` seconds (any origin) and
must be strictly increasing.

The feature variants follow the facial-movement seed (002): sections II.B
(threshold events, 10 Hz / 15 Hz datasets by keeping every 3rd / 2nd frame
of 30 Hz data, a 15 → 30 Hz linearly interpolated dataset), II.C (running
means of motion energy, one-hot task variables) and II.G (linear
interpolation, eq. 2: ``y = (y0 (x1 - x) + y1 (x - x0)) / (x1 - x0)``), and
the whisking-event definition of section III (motion energy above its mean
plus two standard deviations).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
from scipy import signal as sps

from neurocine.errors import InputError
from neurocine.validation import check_int, plural, validate_signal_matrix

__all__ = [
    "Columns",
    "DroppedFrames",
    "FrameAlignment",
    "WhiskEvents",
    "align_frames_to_ttl",
    "convolve_regressors",
    "decimate",
    "detect_dropped_frames",
    "events_from_analog",
    "hemodynamic_kernel",
    "interpolate",
    "lagged",
    "one_hot",
    "running_mean",
    "to_common_clock",
    "ttl_edges",
    "upsample",
    "whisking_events",
]

_METHODS = ("linear", "nearest", "previous")
_OUTSIDE = ("nan", "clip")


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _as_samples(
    name: str, x: Any, *, ndims: tuple[int, ...] = (1, 2), allow_nan: bool = False, min_len: int = 1
) -> np.ndarray:
    """``np.asarray(x)`` checked as real numeric time-first samples (shape unchanged)."""
    try:
        arr = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name}: cannot be read as an array ({exc}); expected a numeric time-first array") from None
    shapes = {1: "1-D (T,)", 2: "2-D (T, C)"}
    if arr.ndim not in ndims:
        if max(ndims) > 2:
            want = "an array with time on the first axis"
        else:
            want = "a " + " or ".join(shapes[d] for d in ndims) + " array, time first"
        raise InputError(f"{name}: got a {arr.ndim}-D array of shape {arr.shape}; expected {want}")
    if arr.shape[0] < min_len:
        raise InputError(
            f"{name}: has {plural(arr.shape[0], 'sample')} (shape {arr.shape}); expected at least {min_len}"
        )
    if arr.dtype.kind == "c":
        raise InputError(f"{name}: has complex dtype {arr.dtype}; expected real numbers")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: has non-numeric dtype {arr.dtype}; expected real numbers")
    flat = arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:], dtype=np.int64)))
    if allow_nan:
        if arr.dtype.kind == "f" and np.isinf(flat).any():
            row, col = (int(i) for i in np.argwhere(np.isinf(flat))[0])
            raise InputError(
                f"{name}: has infinite values, the first at (row {row}, column {col}); expected finite values or NaN"
            )
    else:
        validate_signal_matrix(flat, name, min_timesteps=min_len)
    return arr


def as_times(
    name: str, t: Any, n: int | None = None, *, of: str = "x", min_len: int = 1, strict: bool = True
) -> np.ndarray:
    """Check timestamps: finite float64 ``(T,)``, strictly increasing when ``strict``, of length ``n`` when given.

    Parameters
    ----------
    name : str
        The argument the error message names.
    t : array-like, shape (T,)
        Timestamps in seconds.
    n : int, optional
        The length they must have (the number of samples of ``of``).
    of : str
        What ``n`` counts, for the error message.
    min_len : int
        The fewest timestamps accepted.
    strict : bool
        Require strictly increasing times.

    Returns
    -------
    numpy.ndarray, shape (T,), float64
        ``t`` itself when it already is float64.

    Raises
    ------
    InputError
        When ``t`` is not 1-D numbers, has the wrong length, non-finite values or does not increase.

    Examples
    --------
    >>> as_times("times", [0, 1, 2])
    array([0., 1., 2.])
    """
    arr = np.asarray(t)
    if arr.ndim != 1:
        raise InputError(f"{name}: got a {arr.ndim}-D array of shape {arr.shape}; expected 1-D (T,) timestamps")
    if arr.dtype.kind not in "iuf":
        raise InputError(f"{name}: has dtype {arr.dtype}; expected numeric timestamps (seconds)")
    arr = arr.astype(np.float64, copy=False)
    if n is not None and arr.size != n:
        raise InputError(
            f"{name}: has {plural(arr.size, 'timestamp')} but {of} has {plural(n, 'sample')}; expected equal lengths"
        )
    if arr.size < min_len:
        raise InputError(f"{name}: has {plural(arr.size, 'timestamp')}; expected at least {min_len}")
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.argmax(bad))
        raise InputError(
            f"{name}: has {int(bad.sum())} non-finite value(s), the first at index {i} ({arr[i]}); "
            f"expected finite timestamps"
        )
    if strict and arr.size > 1:
        step = np.diff(arr)
        if not (step > 0).all():
            i = int(np.argmax(step <= 0)) + 1
            raise InputError(
                f"{name}: not strictly increasing at index {i} ({float(arr[i])!r} after "
                f"{float(arr[i - 1])!r}); "
                f"expected strictly increasing timestamps"
            )
    return arr


def _check_real(name: str, value: Any, *, minimum: float | None = None, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name}: got {value!r}; expected a real number")
    v = float(value)
    ok = math.isfinite(v) and (minimum is None or v >= minimum) and (not positive or v > 0)
    if not ok:
        want = "a finite number" + (" > 0" if positive else f" >= {minimum}" if minimum is not None else "")
        raise InputError(f"{name}: got {value!r}; expected {want}")
    return v


def _check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise InputError(f"{name}: got {value!r}; expected one of {', '.join(map(repr, choices))}")
    return value


def _check_lags(lags: Any) -> list[int]:
    try:
        items = (
            list(np.atleast_1d(np.asarray(lags, dtype=object)).ravel()) if not isinstance(lags, range) else list(lags)
        )
    except (TypeError, ValueError):
        raise InputError(f"lags: got {lags!r}; expected a sequence of integers") from None
    if not items:
        raise InputError("lags: empty; expected at least one integer lag")
    out = []
    for v in items:
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)):
            raise InputError(f"lags: got {v!r} in {lags!r}; expected integers (frames, negative allowed)")
        out.append(int(v))
    if len(set(out)) != len(out):
        dup = next(v for v in out if out.count(v) > 1)
        raise InputError(f"lags: {dup} appears more than once; expected distinct lags")
    return out


# --------------------------------------------------------------------------- #
# result types
# --------------------------------------------------------------------------- #
class Columns(NamedTuple):
    """Named feature columns (unpacks as ``values, names``).

    Attributes
    ----------
    values : ndarray, shape (T, p), float64
    names : list of str, length p
    """

    values: np.ndarray
    names: list[str]


class DroppedFrames(NamedTuple):
    """Result of :func:`detect_dropped_frames`.

    Attributes
    ----------
    rate : float
        Frame rate used, Hz (given, or ``1 / median`` frame interval).
    after : ndarray of int, shape (G,)
        Recorded frame indices followed by a gap (frames dropped between
        ``after[g]`` and ``after[g] + 1``).
    n_dropped : ndarray of int, shape (G,)
        Frames dropped in each gap (a gap of about ``k`` periods drops ``k - 1``).
    frame_index : ndarray of int, shape (T,)
        Position of each recorded frame in the full sequence (no drops): ``0, 1, ...``
        with the jumps of the gaps; ``frame_index[-1] + 1`` frames were expected.
    total : int
        Total frames dropped.
    report : str
        One line for logs and summaries.
    """

    rate: float
    after: np.ndarray
    n_dropped: np.ndarray
    frame_index: np.ndarray
    total: int
    report: str


class FrameAlignment(NamedTuple):
    """Result of :func:`align_frames_to_ttl`.

    Attributes
    ----------
    times : ndarray, shape (n_frames,), float64
        TTL (DAQ clock) time of each video frame; NaN for frames with no pulse.
    pulse_index : ndarray of int, shape (n_frames,)
        Pulse matched to each frame; -1 for frames with no pulse.
    unmatched_pulses : ndarray of int
        Pulses with no video frame (dropped frames, or pulses before/after the video).
    n_extra_frames : int
        Video frames with no pulse.
    shift : int
        Pulse index of the first frame's slot in the full (drop-free) sequence.
    report : str
        One line for logs and summaries.
    """

    times: np.ndarray
    pulse_index: np.ndarray
    unmatched_pulses: np.ndarray
    n_extra_frames: int
    shift: int
    report: str


class WhiskEvents(NamedTuple):
    """Result of :func:`whisking_events`.

    Attributes
    ----------
    whisking : ndarray of bool, shape (T,)
        ``motion_energy > threshold``.
    onsets : ndarray of int, shape (B,)
        First frame of each whisking bout (0 when the recording starts in a bout).
    offsets : ndarray of int, shape (B,)
        One past the last frame of each bout (``T`` when it runs to the end).
    threshold : float
        ``mean + n_sd * SD`` of the motion energy (population SD, ``ddof=0``).
    """

    whisking: np.ndarray
    onsets: np.ndarray
    offsets: np.ndarray
    threshold: float


def _fmt_list(values: np.ndarray, limit: int = 8) -> str:
    items = [str(int(v)) for v in values[:limit]]
    return ", ".join(items) + (f", ... ({len(values)} in all)" if len(values) > limit else "")


# --------------------------------------------------------------------------- #
# edges and events
# --------------------------------------------------------------------------- #
def _ttl_levels(sig: np.ndarray) -> tuple[float, float] | None:
    """Low and high levels of a two-level trace (k-medians from two starts), or None if not two-level."""
    starts = [tuple(np.percentile(sig, [0.5, 99.5])), (float(sig.min()), float(sig.max()))]
    for lo, hi in starts:
        if not hi > lo:
            continue
        for _ in range(30):
            mid = 0.5 * (lo + hi)
            low, high = sig[sig < mid], sig[sig >= mid]
            if low.size == 0 or high.size == 0:
                break
            new = float(np.median(low)), float(np.median(high))
            if new == (lo, hi):
                break
            lo, hi = new
        mid = 0.5 * (lo + hi)
        low, high = sig[sig < mid], sig[sig >= mid]
        if low.size == 0 or high.size == 0 or not hi > lo:
            continue
        spread = 1.4826 * max(float(np.median(np.abs(low - lo))), float(np.median(np.abs(high - hi))))
        if hi - lo > 6.0 * spread:
            return lo, hi
    return None


def _plain_crossings(sig: np.ndarray, thr: float) -> tuple[np.ndarray, np.ndarray]:
    above = sig >= thr
    change = np.flatnonzero(above[1:] != above[:-1]) + 1
    rising = change[above[change]]
    falling = change[~above[change]]
    return rising, falling


def _crossings(sig: np.ndarray, thr: float, hysteresis: float) -> tuple[np.ndarray, np.ndarray]:
    """Rising and falling crossing indices (first sample at/above, below ``thr``) with a Schmitt band."""
    rising, falling = _plain_crossings(sig, thr)
    if hysteresis <= 0:
        return rising, falling
    upper, lower = thr + 0.5 * hysteresis, thr - 0.5 * hysteresis
    decided = (sig >= upper) | (sig <= lower)
    if not decided.any():
        return rising[:0], falling[:0]
    pos = np.where(decided, np.arange(sig.size), -1)
    np.maximum.accumulate(pos, out=pos)
    pos[pos < 0] = int(np.argmax(decided))
    state = sig[pos] >= upper
    flips = np.flatnonzero(state[1:] != state[:-1]) + 1
    up, down = flips[state[flips]], flips[~state[flips]]
    # report each flip at the last plain crossing of ``thr`` at or before it (there is one: the state went
    # from <= lower to >= upper)
    up = rising[np.searchsorted(rising, up, side="right") - 1] if up.size else up
    down = falling[np.searchsorted(falling, down, side="right") - 1] if down.size else down
    return up, down


def _thin(idx: np.ndarray, when: np.ndarray, min_sep: float) -> np.ndarray:
    """Greedy: keep an edge if it is at least ``min_sep`` after the last kept one."""
    if idx.size < 2 or min_sep <= 0 or np.all(np.diff(when) >= min_sep):
        return idx
    keep = [0]
    last = when[0]
    for j in range(1, idx.size):
        if when[j] - last >= min_sep:
            keep.append(j)
            last = when[j]
    return idx[np.asarray(keep)]


def _edges(
    sig: np.ndarray, times: np.ndarray | None, thr: float, edge: str, hysteresis: float, min_sep: float
) -> np.ndarray:
    rising, falling = _crossings(sig, thr, hysteresis)
    clock = times if times is not None else np.arange(sig.size, dtype=np.float64)
    parts = []
    if edge in ("rising", "both"):
        parts.append(_thin(rising, clock[rising], min_sep))
    if edge in ("falling", "both"):
        parts.append(_thin(falling, clock[falling], min_sep))
    idx = np.sort(np.concatenate(parts)).astype(np.int64)
    return idx if times is None else times[idx]


def ttl_edges(
    signal: Any,
    times: Any = None,
    threshold: float | None = None,
    edge: str = "rising",
    min_separation: float = 0,
    *,
    hysteresis: float | None = None,
) -> np.ndarray:
    """Edge times (or sample indices) of an analog TTL trace.

    An edge is reported at the first sample at (rising) or below (falling)
    the threshold. With ``threshold=None`` the threshold is midway between
    the trace's robust low and high levels (k-medians of the samples,
    started from the 0.5/99.5 percentiles, then from the min/max so rare
    pulses are found too).

    Parameters
    ----------
    signal : array_like, shape (T,)
        Analog samples (volts or any unit), finite.
    times : array_like, shape (T,), optional
        Sample timestamps, seconds, strictly increasing. Without them the
        edges are returned as sample indices.
    threshold : float, optional
        Level that defines an edge; default midway between the estimated levels.
    edge : {"rising", "falling", "both"}
        Which edges to return (``"both"``: sorted together).
    min_separation : float, default 0
        Least distance between two kept edges of the same kind, seconds when
        ``times`` is given, samples otherwise; a closer edge is dropped
        (greedy, from the first).
    hysteresis : float, optional
        Width of a Schmitt-trigger band around the threshold (signal units):
        the state changes only when the trace leaves the band, which removes
        chatter from noise on slow edges. Default: half the level swing when
        ``threshold`` is estimated, 0 when it is given.

    Returns
    -------
    ndarray
        Edge times, shape (E,) float64 seconds, or sample indices (int64) when ``times`` is None.

    Raises
    ------
    InputError
        ``signal`` not 1-D, non-numeric or with NaN; ``times`` not matching,
        not finite or not strictly increasing; no two levels found when
        ``threshold`` is None; bad ``edge``, ``min_separation`` or ``hysteresis``.

    Examples
    --------
    >>> ttl = [0, 0, 5, 5, 0, 0, 5, 0]
    >>> ttl_edges(ttl).tolist(), ttl_edges(ttl, edge="falling").tolist()
    ([2, 6], [4, 7])
    >>> ttl_edges(ttl, times=[0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7]).tolist()
    [0.2, 0.6]
    """
    sig = _as_samples("signal", signal, ndims=(1,), min_len=2).astype(np.float64, copy=False)
    t = None if times is None else as_times("times", times, sig.size, of="signal")
    _check_choice("edge", edge, ("rising", "falling", "both"))
    min_sep = _check_real("min_separation", min_separation, minimum=0.0)
    if threshold is None:
        levels = _ttl_levels(sig)
        if levels is None:
            raise InputError(
                f"signal: no two distinct levels found (range {sig.min():g} to {sig.max():g}); "
                f"expected a TTL trace with low and high levels, or pass threshold="
            )
        lo, hi = levels
        thr = 0.5 * (lo + hi)
        hyst = 0.5 * (hi - lo) if hysteresis is None else _check_real("hysteresis", hysteresis, minimum=0.0)
    else:
        thr = _check_real("threshold", threshold)
        hyst = 0.0 if hysteresis is None else _check_real("hysteresis", hysteresis, minimum=0.0)
    return _edges(sig, t, thr, edge, hyst, min_sep)


def events_from_analog(x: Any, threshold: float, min_separation: float = 0, times: Any = None) -> np.ndarray:
    """Event onsets where an analog trace crosses ``threshold`` upwards (lick sensor, stimulus photodiode).

    An onset is the first sample at or above ``threshold`` after a sample
    below it (a trace that starts above the threshold gives no onset at 0).

    Parameters
    ----------
    x : array_like, shape (T,)
        Analog samples, finite.
    threshold : float
        Crossing level, in the units of ``x`` (McCarthy 2019: "threshold set by the experimentalist").
    min_separation : float, default 0
        Least distance between two onsets, seconds when ``times`` is given,
        samples otherwise; an onset closer to the last kept one is dropped.
    times : array_like, shape (T,), optional
        Sample timestamps, seconds, strictly increasing.

    Returns
    -------
    ndarray
        Onset times (float64 seconds), or sample indices (int64) when ``times`` is None.

    Examples
    --------
    >>> events_from_analog([0, 2, 0, 2, 2, 0, 0, 3], threshold=1).tolist()
    [1, 3, 7]
    >>> events_from_analog([0, 2, 0, 2, 2, 0, 0, 3], threshold=1, min_separation=3).tolist()
    [1, 7]
    """
    sig = _as_samples("x", x, ndims=(1,), min_len=1).astype(np.float64, copy=False)
    t = None if times is None else as_times("times", times, sig.size, of="x")
    thr = _check_real("threshold", threshold)
    min_sep = _check_real("min_separation", min_separation, minimum=0.0)
    return _edges(sig, t, thr, "rising", 0.0, min_sep)


def whisking_events(motion_energy: Any, n_sd: float = 2.0) -> WhiskEvents:
    """Whisking frames and bouts: motion energy above its mean plus ``n_sd`` standard deviations.

    The definition of McCarthy (2019, section III, after Musall et al. 2018): a frame is a
    whisking frame when ``ME > mean(ME) + n_sd * SD(ME)`` (strictly greater;
    population SD, ``ddof=0``, over the whole trace). A bout is a run of
    consecutive whisking frames.

    Parameters
    ----------
    motion_energy : array_like, shape (T,)
        Whisker-pad motion energy per frame, finite, not constant.
    n_sd : float, default 2.0
        Threshold in standard deviations above the mean.

    Returns
    -------
    WhiskEvents
        ``whisking`` (T,) bool, bout ``onsets`` and ``offsets`` (B,) frame
        indices (offset exclusive), and the ``threshold`` used.

    Examples
    --------
    >>> ev = whisking_events([0, 0, 0, 0, 0, 0, 0, 0, 9, 9], n_sd=1.0)
    >>> ev.whisking.astype(int).tolist(), ev.onsets.tolist(), ev.offsets.tolist()
    ([0, 0, 0, 0, 0, 0, 0, 0, 1, 1], [8], [10])
    """
    me = _as_samples("motion_energy", motion_energy, ndims=(1,), min_len=2).astype(np.float64, copy=False)
    k = _check_real("n_sd", n_sd)
    sd = float(me.std())
    if not sd > 0:
        raise InputError(f"motion_energy: is constant ({me[0]:g}); expected a varying trace (SD > 0)")
    thr = float(me.mean()) + k * sd
    whisk = me > thr
    padded = np.concatenate([[False], whisk, [False]]).astype(np.int8)
    change = np.diff(padded)
    onsets = np.flatnonzero(change == 1).astype(np.int64)
    offsets = np.flatnonzero(change == -1).astype(np.int64)
    return WhiskEvents(whisking=whisk, onsets=onsets, offsets=offsets, threshold=thr)


# --------------------------------------------------------------------------- #
# dropped frames and frame/TTL alignment
# --------------------------------------------------------------------------- #
def detect_dropped_frames(frame_times: Any, expected_rate: float | None = None) -> DroppedFrames:
    """Find where frames were dropped from the gaps in frame timestamps.

    A frame interval of about ``k`` periods (``k = round(interval * rate)``)
    means ``k - 1`` frames were dropped there. Intervals shorter than half a
    period count as one period (jitter, never negative drops).

    Parameters
    ----------
    frame_times : array_like, shape (T,)
        Timestamps of the recorded frames (any clock and unit: seconds, or
        milliseconds with ``expected_rate`` per millisecond), strictly increasing, T >= 2.
    expected_rate : float, optional
        Nominal frame rate (frames per unit of ``frame_times``); default
        ``1 / median`` interval, which needs fewer than half the intervals to be gaps.

    Returns
    -------
    DroppedFrames
        ``rate``, gap positions ``after`` and sizes ``n_dropped``,
        ``frame_index`` of every recorded frame in the full sequence,
        ``total`` and a one-line ``report``.

    Examples
    --------
    >>> res = detect_dropped_frames([0.0, 0.1, 0.2, 0.5, 0.6, 0.8])
    >>> res.after.tolist(), res.n_dropped.tolist(), res.total, res.frame_index.tolist()
    ([2, 4], [2, 1], 3, [0, 1, 2, 5, 6, 8])
    """
    t = as_times("frame_times", frame_times, min_len=2)
    step = np.diff(t)
    if expected_rate is None:
        rate = 1.0 / float(np.median(step))
        how = "inferred from the median interval"
    else:
        rate = _check_real("expected_rate", expected_rate, positive=True)
        how = "expected"
    k = np.maximum(np.rint(step * rate), 1).astype(np.int64)
    frame_index = np.concatenate([[0], np.cumsum(k)]).astype(np.int64)
    after = np.flatnonzero(k > 1).astype(np.int64)
    n_dropped = (k[after] - 1).astype(np.int64)
    total = int(n_dropped.sum())
    head = f"{plural(t.size, 'frame')} at {rate:.4g} Hz ({how})"
    if total == 0:
        report = f"{head}: no dropped frames"
    else:
        report = (
            f"{head}: {plural(total, 'dropped frame')} in {plural(after.size, 'gap')} after frames "
            f"{_fmt_list(after)}; {int(frame_index[-1]) + 1} frames expected"
        )
    return DroppedFrames(
        rate=rate, after=after, n_dropped=n_dropped, frame_index=frame_index, total=total, report=report
    )


def _fit_rms(x: np.ndarray, y: np.ndarray) -> float:
    """RMS residual of the least-squares line y = a + b x."""
    xc, yc = x - x.mean(), y - y.mean()
    den = float(xc @ xc)
    b = float(xc @ yc) / den if den > 0 else 0.0
    r = yc - b * xc
    return float(np.sqrt(np.mean(r * r)))


def align_frames_to_ttl(frames: Any, ttl_times: Any, *, max_mismatch: int = 10) -> FrameAlignment:
    """Give every video frame the time of its TTL pulse (one pulse per exposed frame).

    Two inputs are understood:

    - ``frames`` an int (the number of decoded frames): frame ``i`` is pulse
      ``i``. With fewer frames than pulses the missing frames are assumed at
      the end (the report says so: without frame timestamps nothing tells
      where they were dropped); with more frames than pulses the extra frames
      at the end get NaN times.
    - ``frames`` the frames' own timestamps (camera or container clock, any
      offset, unit or drift): gaps locate dropped frames
      (:func:`detect_dropped_frames`), giving each frame a slot in the full
      sequence; when that sequence and the pulses still differ in length, the
      slot-to-pulse shift is the one whose linear clock fit
      (``ttl = a + b * frame_time``) has the smallest residual (ties: the
      shift nearest 0, i.e. first frame on first pulse).

    Parameters
    ----------
    frames : int or array_like, shape (n_frames,)
        Frame count, or frame timestamps (strictly increasing).
    ttl_times : array_like, shape (P,)
        Pulse times on the DAQ clock, seconds, strictly increasing (e.g. from :func:`ttl_edges`).
    max_mismatch : int, default 10
        Largest accepted difference between the number of pulses and the
        number of frame slots (frames plus located drops).

    Returns
    -------
    FrameAlignment
        ``times`` and ``pulse_index`` per frame, ``unmatched_pulses``,
        ``n_extra_frames``, ``shift`` and a one-line ``report``.

    Raises
    ------
    InputError
        Counts differ by more than ``max_mismatch``; bad timestamps.

    Examples
    --------
    >>> al = align_frames_to_ttl(3, [1.0, 1.1, 1.2, 1.3])
    >>> al.times.tolist(), al.unmatched_pulses.tolist()
    ([1.0, 1.1, 1.2], [3])
    >>> al = align_frames_to_ttl([0.0, 33.3, 100.0, 133.3], [5.0, 5.0333, 5.0667, 5.1, 5.1333])
    >>> al.pulse_index.tolist(), al.unmatched_pulses.tolist()
    ([0, 1, 3, 4], [2])
    """
    ttl = as_times("ttl_times", ttl_times, min_len=1)
    tol = check_int("max_mismatch", max_mismatch, minimum=0)
    n_pulses = ttl.size
    if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool):
        n_frames = check_int("frames", frames, minimum=1)
        slots = np.arange(n_frames, dtype=np.int64)
        frame_t = None
        drop_note = ""
    else:
        frame_t = as_times("frames", frames, min_len=2)
        n_frames = frame_t.size
        found = detect_dropped_frames(frame_t)
        slots = found.frame_index
        drop_note = (
            f"; the frame timestamps locate {plural(found.total, 'dropped frame')} after frames "
            f"{_fmt_list(found.after)}"
            if found.total
            else ""
        )
    n_slots = int(slots[-1]) + 1
    diff = n_pulses - n_slots
    if abs(diff) > tol:
        what = f"{plural(n_frames, 'frame')}" + (
            f" (+{n_slots - n_frames} dropped = {n_slots} slots)" if n_slots != n_frames else ""
        )
        raise InputError(
            f"frames: {what} but ttl_times has {plural(n_pulses, 'pulse')}; the difference "
            f"{abs(diff)} exceeds max_mismatch={tol} (check the TTL channel, threshold and video)"
        )
    shift = 0
    if frame_t is not None and diff != 0:
        candidates = sorted(range(min(0, diff), max(0, diff) + 1), key=lambda s: (abs(s), s))
        scores = []
        for s in candidates:
            idx = slots + s
            ok = (idx >= 0) & (idx < n_pulses)
            scores.append(_fit_rms(frame_t[ok], ttl[idx[ok]]) if ok.sum() >= 3 else np.inf)
        scores_arr = np.asarray(scores)
        best = float(scores_arr.min())
        if np.isfinite(best):
            span = float(ttl[-1] - ttl[0]) if n_pulses > 1 else 1.0
            shift = candidates[int(np.argmax(scores_arr <= best * 1.01 + 1e-12 * span))]
    pulse = slots + shift
    ok = (pulse >= 0) & (pulse < n_pulses)
    pulse_index = np.where(ok, pulse, -1).astype(np.int64)
    times = np.full(n_frames, np.nan)
    times[ok] = ttl[pulse[ok]]
    matched = np.zeros(n_pulses, dtype=bool)
    matched[pulse[ok]] = True
    unmatched = np.flatnonzero(~matched).astype(np.int64)
    n_extra = int((~ok).sum())

    report = f"{plural(n_frames, 'frame')} aligned to {plural(n_pulses, 'TTL pulse')}"
    if unmatched.size == 0 and n_extra == 0:
        report += ": one pulse per frame" + drop_note
    else:
        if unmatched.size:
            report += f": {plural(unmatched.size, 'pulse')} without a frame ({_fmt_list(unmatched)})"
            if frame_t is None:
                report += ", assumed dropped at the end (pass frame timestamps to locate dropped frames)"
        if n_extra:
            first = np.flatnonzero(~ok)
            report += (
                f"{';' if unmatched.size else ':'} {plural(n_extra, 'frame')} with no pulse "
                f"(frames {_fmt_list(first)}, times NaN): check that the TTL recording covers the video"
            )
        report += drop_note
        if shift:
            report += f"; first frame on pulse {shift}" if shift > 0 else f"; first pulse on frame slot {-shift}"
    return FrameAlignment(
        times=times,
        pulse_index=pulse_index,
        unmatched_pulses=unmatched,
        n_extra_frames=n_extra,
        shift=int(shift),
        report=report,
    )


# --------------------------------------------------------------------------- #
# resampling
# --------------------------------------------------------------------------- #
def _linear(y: np.ndarray, t: np.ndarray, new_t: np.ndarray, outside: str) -> np.ndarray:
    """Eq. 2 of McCarthy (2019) on every column of ``y`` (T, C) float64; exact samples at exact hits."""
    q = np.clip(new_t, t[0], t[-1]) if outside == "clip" else new_t
    j = np.clip(np.searchsorted(t, q, side="right") - 1, 0, t.size - 2)
    x0, x1 = t[j], t[j + 1]
    y0, y1 = y[j], y[j + 1]
    with np.errstate(invalid="ignore"):
        out = (y0 * (x1 - q)[:, None] + y1 * (q - x0)[:, None]) / (x1 - x0)[:, None]
    hit0, hit1 = q == x0, q == x1
    out[hit0] = y0[hit0]
    out[hit1] = y1[hit1]
    if outside == "nan":
        out[(q < t[0]) | (q > t[-1])] = np.nan
    return out


def _index_select(values: np.ndarray, t: np.ndarray, new_t: np.ndarray, method: str, outside: str) -> np.ndarray:
    q = np.clip(new_t, t[0], t[-1])
    if method == "previous":
        j = np.searchsorted(t, q, side="right") - 1
    else:  # nearest, ties to the earlier sample
        right = np.clip(np.searchsorted(t, q, side="left"), 0, t.size - 1)
        left = np.clip(right - 1, 0, t.size - 1)
        j = np.where(np.abs(q - t[left]) <= np.abs(t[right] - q), left, right)
    out = values[j]
    if outside == "nan":
        out_of = (new_t < t[0]) | (new_t > t[-1])
        out = out.astype(np.float64) if values.dtype.kind in "biuf" else out.astype(object)
        out[out_of] = np.nan if values.dtype.kind in "biuf" else None
    return out


def to_common_clock(
    streams: Mapping[str, tuple[Any, Any]] | Sequence[tuple[Any, Any]],
    clock: Any,
    *,
    method: str | Mapping[str, str] = "linear",
    outside: str = "nan",
) -> dict[str, np.ndarray]:
    """Resample every stream onto one clock.

    Parameters
    ----------
    streams : mapping of name -> (values, timestamps), or a sequence of such pairs
        ``values`` shape (T_i, ...) (time first, any trailing shape) and
        ``timestamps`` shape (T_i,) seconds, strictly increasing. Numeric
        values may hold NaN (missing samples; a NaN spreads to the clock
        points between its neighbours under ``"linear"``). A sequence is named
        ``"0"``, ``"1"``, ... .
    clock : array_like, shape (M,)
        Target timestamps, seconds, strictly increasing (e.g. the imaging frames).
    method : {"linear", "nearest", "previous"} or mapping of name -> method
        ``"linear"``: eq. 2 of McCarthy (2019) between the two samples around each
        clock time (float64 output); ``"nearest"`` (ties to the earlier
        sample) and ``"previous"`` (last sample at or before): for
        categorical values (any dtype, kept).
    outside : {"nan", "clip"}
        Clock times before a stream's first or after its last timestamp:
        ``"nan"`` gives NaN (numeric values are then returned as float64,
        other values as objects with None); ``"clip"`` holds the first/last sample.

    Returns
    -------
    dict of name -> ndarray, shape (M, ...)
        Same names and trailing shapes as the streams.

    Raises
    ------
    InputError
        Naming the stream: values and timestamps of different lengths,
        timestamps not strictly increasing (with the first bad index), not
        finite, non-numeric values for ``"linear"``; a bad clock, method or ``outside``.

    Examples
    --------
    >>> out = to_common_clock({"wheel": ([0.0, 10.0], [0.0, 1.0]), "trial": (["a", "b", "c"], [0.0, 0.5, 1.0])},
    ...                       clock=[0.25, 0.75, 1.5], method={"trial": "previous"})
    >>> out["wheel"].tolist(), out["trial"].tolist()
    ([2.5, 7.5, nan], ['a', 'b', None])
    """
    if isinstance(streams, Mapping):
        items = [(str(k), v) for k, v in streams.items()]
    elif isinstance(streams, Sequence) and not isinstance(streams, (str, bytes)):
        items = [(str(i), v) for i, v in enumerate(streams)]
    else:
        raise InputError(f"streams: got {type(streams).__name__}; expected a mapping of name -> (values, timestamps)")
    if not items:
        raise InputError("streams: empty; expected at least one (values, timestamps) stream")
    new_t = as_times("clock", clock, min_len=1)
    _check_choice("outside", outside, _OUTSIDE)
    if isinstance(method, Mapping):
        unknown = sorted(set(map(str, method)) - {k for k, _ in items})
        if unknown:
            raise InputError(f"method: names {unknown} are not streams; expected some of {[k for k, _ in items]}")
        methods = {k: _check_choice(f"method[{k!r}]", method.get(k, "linear"), _METHODS) for k, _ in items}
    else:
        m = _check_choice("method", method, _METHODS)
        methods = {k: m for k, _ in items}

    out: dict[str, np.ndarray] = {}
    for key, pair in items:
        label = f"streams[{key!r}]"
        if not isinstance(pair, (tuple, list)) or len(pair) != 2:
            raise InputError(f"{label}: got {type(pair).__name__}; expected a (values, timestamps) pair")
        values, stamps = pair
        how = methods[key]
        min_len = 2 if how == "linear" else 1
        if how == "linear":
            vals = _as_samples(f"{label} values", values, ndims=tuple(range(1, 33)), allow_nan=True, min_len=1).astype(
                np.float64, copy=False
            )
        else:
            vals = np.asarray(values)
            if vals.ndim == 0:
                raise InputError(f"{label} values: got a 0-D value; expected an array with time on the first axis")
        t = as_times(f"{label} timestamps", stamps, vals.shape[0], of=f"{label} values", min_len=min_len)
        if how == "linear":
            flat = _linear(vals.reshape(vals.shape[0], -1), t, new_t, outside)
            out[key] = flat.reshape((new_t.size,) + vals.shape[1:])
        else:
            out[key] = _index_select(vals, t, new_t, how, outside)
    return out


def interpolate(x: Any, times: Any, new_times: Any, *, outside: str = "nan") -> np.ndarray:
    """Linear interpolation (eq. 2 of McCarthy 2019) of a time-first array at new times.

    For each new time ``x`` between samples ``(x0, y0)`` and ``(x1, y1)``:
    ``y = (y0 (x1 - x) + y1 (x - x0)) / (x1 - x0)``; a new time equal to a
    sample time returns that sample exactly. Use it to go to a higher rate
    or onto another stream's timestamps.

    Parameters
    ----------
    x : array_like, shape (T, ...)
        Samples, numeric; NaN allowed (spreads to the new times next to it).
    times : array_like, shape (T,)
        Sample times, strictly increasing, T >= 2.
    new_times : array_like, shape (M,)
        Where to evaluate, finite (any order).
    outside : {"nan", "clip"}
        New times outside ``[times[0], times[-1]]``: NaN, or the first/last sample.

    Returns
    -------
    ndarray, shape (M, ...), float64

    Examples
    --------
    >>> interpolate([0.0, 10.0, 0.0], [0.0, 1.0, 2.0], [0.5, 1.0, 1.75, 3.0]).tolist()
    [5.0, 10.0, 2.5, nan]
    """
    arr = _as_samples("x", x, ndims=tuple(range(1, 33)), allow_nan=True, min_len=2).astype(np.float64, copy=False)
    t = as_times("times", times, arr.shape[0], of="x", min_len=2)
    q = as_times("new_times", new_times, strict=False)
    _check_choice("outside", outside, _OUTSIDE)
    flat = _linear(arr.reshape(arr.shape[0], -1), t, q, outside)
    return flat.reshape((q.size,) + arr.shape[1:])


def upsample(x: Any, factor: int, *, times: Any = None) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Insert ``factor - 1`` linearly interpolated frames between consecutive frames.

    ``upsample(x, 2)`` turns 15 Hz features into McCarthy (2019)'s "linearly
    interpolated dataset from 15hz to 30hz". Output frame ``k * factor + j``
    (``0 <= j < factor``) is ``((factor - j) x[k] + j x[k + 1]) / factor`` (eq. 2
    with unit frame spacing); frame ``k * factor`` is ``x[k]`` exactly. The
    output ends on the last real frame: ``(T - 1) * factor + 1`` frames (no
    extrapolation). (The paper also says "adding two frames in between";
    that would be ``factor=3``, i.e. 45 Hz, so we follow its stated 15 → 30 Hz.)

    Parameters
    ----------
    x : array_like, shape (T, ...)
        Frames, numeric (NaN allowed, spreads to neighbours), T >= 2.
    factor : int
        Rate multiplier, >= 1.
    times : array_like, shape (T,), optional
        Frame timestamps (strictly increasing); interpolated the same way and returned too.

    Returns
    -------
    ndarray, shape ((T - 1) * factor + 1, ...), float64
        Or ``(x_up, times_up)`` when ``times`` is given (as :func:`scipy.signal.resample` does).

    Examples
    --------
    >>> upsample([0.0, 2.0, 8.0], 2).tolist()
    [0.0, 1.0, 2.0, 5.0, 8.0]
    """
    f = check_int("factor", factor, minimum=1)
    arr = _as_samples("x", x, ndims=tuple(range(1, 33)), allow_nan=True, min_len=2).astype(np.float64, copy=False)
    t = None if times is None else as_times("times", times, arr.shape[0], of="x")

    def up(a2: np.ndarray) -> np.ndarray:
        n = a2.shape[0]
        m = np.arange((n - 1) * f + 1)
        k = np.minimum(m // f, n - 2)
        j = (m - k * f)[:, None]
        with np.errstate(invalid="ignore"):
            out = ((f - j) * a2[k] + j * a2[k + 1]) / f
        exact0, exact1 = (j[:, 0] == 0), (j[:, 0] == f)
        out[exact0] = a2[k[exact0]]
        out[exact1] = a2[k[exact1] + 1]
        return out

    flat = up(arr.reshape(arr.shape[0], -1))
    y = flat.reshape((flat.shape[0],) + arr.shape[1:])
    if t is None:
        return y
    return y, up(t[:, None])[:, 0]


def decimate(
    x: Any, factor: int, *, times: Any = None, offset: int = 0, anti_alias: bool = False, numtaps: int | None = None
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Keep every ``factor``-th frame, optionally after a zero-phase low-pass.

    ``decimate(x30, 2)`` and ``decimate(x30, 3)`` are McCarthy (2019)'s 15 Hz and
    10 Hz datasets ("taking every 2nd / 3rd frame" of 30 Hz data): frames
    ``offset, offset + factor, ...``. With ``anti_alias=True`` the frames are
    first low-passed by a linear-phase FIR (``scipy.signal.firwin(numtaps,
    1/factor)``, Hamming window, cutoff at the new Nyquist rate, applied
    centred so there is no delay), as :func:`scipy.signal.decimate` does with
    ``ftype="fir"``; the ends are padded by odd reflection (so constants
    and straight lines pass unchanged) instead of zeros.

    Parameters
    ----------
    x : array_like, shape (T, ...)
        Frames. Any numeric dtype is kept without ``anti_alias`` (NaN allowed);
        with it, finite values and float64 output.
    factor : int
        Keep one frame in ``factor``, >= 1.
    times : array_like, shape (T,), optional
        Frame timestamps (strictly increasing), decimated the same way and returned too.
    offset : int, default 0
        First frame kept, ``0 <= offset < factor``.
    anti_alias : bool, default False
        Low-pass before keeping frames.
    numtaps : int, optional
        FIR length (odd, >= 3), default ``20 * factor + 1`` (scipy's default); needs ``T > numtaps // 2``.

    Returns
    -------
    ndarray, shape (ceil((T - offset) / factor), ...)
        Or ``(x_dec, times_dec)`` when ``times`` is given.

    Examples
    --------
    >>> decimate([0, 1, 2, 3, 4, 5, 6], 3).tolist()
    [0, 3, 6]
    >>> y, t = decimate([0, 1, 2, 3, 4, 5, 6], 2, times=[0.0, 1, 2, 3, 4, 5, 6], offset=1)
    >>> y.tolist(), t.tolist()
    ([1, 3, 5], [1.0, 3.0, 5.0])
    """
    f = check_int("factor", factor, minimum=1)
    arr = _as_samples("x", x, ndims=tuple(range(1, 33)), allow_nan=not anti_alias, min_len=1)
    t = None if times is None else as_times("times", times, arr.shape[0], of="x")
    off = check_int("offset", offset, minimum=0)
    if off >= f:
        raise InputError(f"offset: got {off}; expected 0 <= offset < factor ({f})")
    if off >= arr.shape[0]:
        raise InputError(f"offset: got {off} but x has {plural(arr.shape[0], 'sample')}; expected offset < T")
    if not isinstance(anti_alias, (bool, np.bool_)):
        raise InputError(f"anti_alias: got {anti_alias!r}; expected True or False")
    if anti_alias and f == 1:
        out = arr.astype(np.float64)
    elif anti_alias:
        taps = 20 * f + 1 if numtaps is None else check_int("numtaps", numtaps, minimum=3)
        if taps % 2 == 0:
            raise InputError(f"numtaps: got {taps}; expected an odd number (a centred, zero-phase filter)")
        half = taps // 2
        n = arr.shape[0]
        if n <= half:
            raise InputError(
                f"x: has {plural(n, 'sample')}; anti_alias with numtaps={taps} needs more than "
                f"{half} (pass a smaller numtaps or anti_alias=False)"
            )
        b = sps.firwin(taps, 1.0 / f, window="hamming")
        a2 = arr.reshape(n, -1).astype(np.float64)
        front = 2.0 * a2[0] - a2[half:0:-1]
        back = 2.0 * a2[-1] - a2[-2 : -half - 2 : -1]
        padded = np.concatenate([front, a2, back], axis=0)
        filt = sps.oaconvolve(padded, b[:, None], mode="valid", axes=0)
        out = filt[off::f].reshape((-1,) + arr.shape[1:])
    else:
        out = arr[off::f].copy()
    if t is None:
        return out
    return out, t[off::f].copy()


# --------------------------------------------------------------------------- #
# feature variants
# --------------------------------------------------------------------------- #
def running_mean(x: Any, n: int, *, history: Any = None) -> np.ndarray:
    """Trailing running mean over ``n`` frames (McCarthy 2019: "average motion energy going back three frames").

    ``out[t] = mean(x[t - n + 1 .. t])``; the first ``n - 1`` frames average
    what exists (``out[t] = mean(x[0 .. t])``) unless ``history`` supplies
    the frames before ``x``. O(T) through a float64 cumulative sum of the
    centred values (the mean is added back), so long recordings keep their precision.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Frames, finite.
    n : int
        Window length in frames, >= 1 (``n = 1`` returns ``x`` as float64).
    history : array_like, shape (H,) or (H, C), optional
        Frames just before ``x`` (the end of the previous chunk): the last
        ``n - 1`` of them complete the first windows, so processing a long
        recording chunk by chunk gives the same result as all at once.

    Returns
    -------
    ndarray, same shape as ``x``, float64

    Examples
    --------
    >>> running_mean([3.0, 6.0, 9.0, 0.0], 3).tolist()
    [3.0, 4.5, 6.0, 5.0]
    >>> running_mean([9.0, 0.0], 3, history=[3.0, 6.0]).tolist()
    [6.0, 5.0]
    """
    arr = _as_samples("x", x, min_len=1)
    w = check_int("n", n, minimum=1)
    a2 = arr.reshape(arr.shape[0], -1).astype(np.float64)
    h = 0
    if history is not None and w > 1:
        hist = _as_samples("history", history, ndims=(arr.ndim,), min_len=0)
        if hist.shape[1:] != arr.shape[1:]:
            raise InputError(f"history: has shape {hist.shape}; expected (H,) + {arr.shape[1:]} like x")
        h2 = hist.reshape(hist.shape[0], -1).astype(np.float64)[-(w - 1) :]
        h = h2.shape[0]
        a2 = np.concatenate([h2, a2], axis=0)
    ref = a2.mean(axis=0)
    c = np.zeros((a2.shape[0] + 1, a2.shape[1]))
    np.cumsum(a2 - ref, axis=0, out=c[1:])
    idx = np.arange(h, a2.shape[0])
    lo = np.maximum(idx - w + 1, 0)
    out = (c[idx + 1] - c[lo]) / (idx + 1 - lo)[:, None] + ref
    return out.reshape(arr.shape)


def lagged(x: Any, lags: Sequence[int], name: str | Sequence[str] = "x") -> Columns:
    """Time-lagged copies of each channel (event kernels), zero-filled at the ends.

    The column for lag ``L`` holds ``x[t - L]`` at frame ``t``: a positive
    lag lets a model respond ``L`` frames after an event, a negative lag
    ``|L|`` frames before it (anticipation). Frames shifted in from outside
    the recording are 0.

    Parameters
    ----------
    x : array_like, shape (T,) or (T, C)
        Events or any signal, finite (bool allowed).
    lags : sequence of int
        Distinct lags in frames, negative allowed.
    name : str or sequence of C str, default "x"
        Column name stem: ``"{name}_lag{L}"`` for 1-D ``x``; for 2-D ``x``
        a str gives ``"{name}{c}_lag{L}"`` and a sequence gives one stem per channel.

    Returns
    -------
    Columns
        ``values`` (T, C * len(lags)) float64, channel-major (all lags of
        channel 0 first), and their ``names``.

    Examples
    --------
    >>> vals, names = lagged([0, 1, 0, 0], [-1, 0, 2], name="lick")
    >>> vals.T.tolist(), names
    ([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]], ['lick_lag-1', 'lick_lag0', 'lick_lag2'])
    """
    arr = _as_samples("x", x, min_len=1)
    lag_list = _check_lags(lags)
    a2 = arr.reshape(arr.shape[0], -1).astype(np.float64)
    n_t, n_c = a2.shape
    if isinstance(name, str):
        stems = [name] if arr.ndim == 1 else [f"{name}{c}" for c in range(n_c)]
    else:
        stems = [str(s) for s in name]
        if len(stems) != n_c:
            raise InputError(f"name: got {len(stems)} names for {plural(n_c, 'channel')}; expected {n_c}")
    out = np.zeros((n_t, n_c * len(lag_list)))
    names = []
    for c in range(n_c):
        for i, lag in enumerate(lag_list):
            col = c * len(lag_list) + i
            if lag >= 0:
                if lag < n_t:
                    out[lag:, col] = a2[: n_t - lag, c]
            elif -lag < n_t:
                out[: n_t + lag, col] = a2[-lag:, c]
            names.append(f"{stems[c]}_lag{lag}")
    return Columns(values=out, names=names)


def one_hot(categories: Any, levels: Sequence[Any] | None = None, name: str | None = None) -> Columns:
    """One-hot columns of a categorical task variable (McCarthy 2019 found one-hot better than labels).

    Parameters
    ----------
    categories : array_like, shape (T,)
        One label per frame (ints, strings, bools; no NaN or None).
    levels : sequence, optional
        The levels, in column order; default the sorted distinct labels. Every
        label must be a level; a level that never occurs gives a zero column.
    name : str, optional
        Column names are ``"{name}={level}"``, or ``str(level)`` without a name.

    Returns
    -------
    Columns
        ``values`` (T, L) float64 of 0/1 and ``names`` (L,).

    Examples
    --------
    >>> vals, names = one_hot(["left", "right", "left"], name="stim")
    >>> vals.tolist(), names
    ([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]], ['stim=left', 'stim=right'])
    """
    try:
        cats = np.asarray(categories)
    except (TypeError, ValueError) as exc:
        raise InputError(f"categories: cannot be read as an array ({exc}); expected one label per frame") from None
    if cats.ndim != 1:
        raise InputError(f"categories: got a {cats.ndim}-D array of shape {cats.shape}; expected 1-D (T,) labels")
    if cats.size == 0:
        raise InputError("categories: empty; expected one label per frame")
    if cats.dtype.kind == "c":
        raise InputError(f"categories: has complex dtype {cats.dtype}; expected labels (ints, strings, bools)")
    missing = np.array(
        [
            v is None or (isinstance(v, (float, np.floating)) and not math.isfinite(v))
            for v in (cats if cats.dtype.kind in "Of" else cats[:0])
        ],
        dtype=bool,
    )
    if missing.any():
        i = int(np.argmax(missing))
        raise InputError(
            f"categories: has a missing label ({cats[i].item() if hasattr(cats[i], 'item') else cats[i]!r}) "
            f"at index {i}; expected a label per frame"
        )
    try:
        uniq, inverse = np.unique(cats, return_inverse=True)
    except TypeError:
        raise InputError("categories: holds labels of mixed types that cannot be sorted; expected one type") from None
    if levels is None:
        lev = list(uniq.tolist())
    else:
        lev = list(np.asarray(levels, dtype=object).ravel().tolist()) if not isinstance(levels, str) else [levels]
        if not lev:
            raise InputError("levels: empty; expected at least one level")
        try:
            if len(set(lev)) != len(lev):
                raise InputError(f"levels: {lev!r} has repeated levels; expected distinct levels")
        except TypeError:
            raise InputError(f"levels: {lev!r} holds unhashable values; expected labels") from None
    pos = {lv: i for i, lv in enumerate(lev)}
    col_of = np.empty(uniq.size, dtype=np.int64)
    for u, val in enumerate(uniq.tolist()):
        if val not in pos:
            i = int(np.argmax(inverse.ravel() == u))
            raise InputError(
                f"categories: label {val!r} at index {i} is not among levels {lev!r}; expected only those levels"
            )
        col_of[u] = pos[val]
    out = np.zeros((cats.size, len(lev)))
    out[np.arange(cats.size), col_of[inverse.ravel()]] = 1.0
    names = [f"{name}={lv}" if name is not None else str(lv) for lv in lev]
    return Columns(values=out, names=names)


# --------------------------------------------------------------------------- #
# convolution with a response kernel
# --------------------------------------------------------------------------- #
def hemodynamic_kernel(fps: float, peak_s: float = 1.0, length_s: float = 5.0, shape: float = 3.0) -> np.ndarray:
    """Slow hemodynamic-like kernel: a gamma density sampled at the frame rate, summing to 1.

    ``k[j] ∝ t_j^(shape - 1) exp(-t_j / b)`` with ``t_j = j / fps`` and
    ``b = peak_s / (shape - 1)`` (so the peak is at ``peak_s``), for
    ``j = 0 .. round(length_s * fps) - 1``; ``k[0] = 0`` (no response at lag 0).

    Parameters
    ----------
    fps : float
        Samples per second.
    peak_s : float, default 1.0
        Time of the peak (s).
    length_s : float, default 5.0
        Length of the kernel (s); at least ``peak_s``.
    shape : float, default 3.0
        Gamma shape, > 1.

    Returns
    -------
    ndarray, shape (K,), float64
        Weight of lag ``j`` (``j / fps`` seconds); sums to 1.

    Examples
    --------
    >>> k = hemodynamic_kernel(30.0)
    >>> k.shape, int(k.argmax()), round(float(k.sum()), 12)
    ((150,), 30, 1.0)
    """
    fps = _check_real("fps", fps, positive=True)
    peak_s = _check_real("kernel_peak_s", peak_s, positive=True)
    length_s = _check_real("kernel_length_s", length_s, positive=True)
    shape = _check_real("kernel_shape", shape, positive=True)
    if shape <= 1:
        raise InputError(f"kernel_shape: got {shape!r}; expected a gamma shape > 1")
    if length_s < peak_s:
        raise InputError(f"kernel_length_s: got {length_s!r}; expected at least kernel_peak_s = {peak_s!r}")
    n = int(round(length_s * fps))
    if n < 2:
        raise InputError(f"kernel_length_s: {length_s!r} s at {fps!r} fps gives {n} sample(s); expected >= 2")
    t = np.arange(n) / fps
    b = peak_s / (shape - 1.0)
    k = np.zeros(n)
    k[1:] = np.exp((shape - 1.0) * np.log(t[1:] / b) - t[1:] / b)
    return k / k.sum()


def convolve_regressors(x: Any, kernel: Any, *, center: bool = True) -> np.ndarray:
    """Causal convolution of features with a kernel (zero before the first sample), optionally centred.

    ``c[t] = sum_{j=0}^{K-1} kernel[j] x[t - j]`` with ``x[t < 0] = 0``; with
    ``center`` each column's mean over time is subtracted (``r = c - mean_t c``,
    the regressors of :func:`neurocine.encode.simulate.simulate_session`).

    Parameters
    ----------
    x : array_like, shape (T,) or (T, F)
        Features, time first, finite.
    kernel : array_like, shape (K,)
    center : bool, default True

    Returns
    -------
    ndarray, same shape as ``x``, float64

    Examples
    --------
    >>> convolve_regressors([1.0, 0.0, 0.0, 2.0], [0.5, 0.5], center=False).tolist()
    [0.5, 0.5, 0.0, 1.0]
    """
    arr = np.asarray(x, dtype=np.float64)
    k = np.asarray(kernel, dtype=np.float64)
    if arr.ndim not in (1, 2) or arr.shape[0] < 1:
        raise InputError(f"x: got shape {arr.shape}; expected (T,) or (T, F) features, time first")
    if k.ndim != 1 or k.size < 1 or not np.isfinite(k).all():
        raise InputError(f"kernel: got shape {k.shape}; expected a 1-D array of finite weights")
    if not np.isfinite(arr).all():
        raise InputError("x: has NaN or infinite values; expected finite features")
    a2 = arr.reshape(arr.shape[0], -1)
    # every column at once by overlap-add FFT (thousands of features x a 32 s kernel at the frame rate)
    out = sps.oaconvolve(a2, k[:, None], mode="full", axes=0)[: a2.shape[0]]
    if center:
        out -= out.mean(axis=0)
    return out.reshape(arr.shape)
