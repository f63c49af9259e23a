"""Behaviour locking of Conv-NMF units: event-triggered averages and a circular-shift permutation test.

:func:`behaviour_locking` takes each unit's events (``amplitudes[t, k] > 0``, at the neural sampling
rate) and a behaviour signal recorded on its own clock (a song spectrogram at 200 Hz, a running speed,
a pupil trace...), both starting at time 0. It averages the behaviour in a window around each unit's
events (the event-triggered average) and asks whether that average departs from the behaviour's
typical course more than it would for the same event train shifted circularly in time, which keeps
the number of events and their spacing but breaks any link to the behaviour.

The statistic of unit k is the mean, over the window's lags and the behaviour's features, of the
squared event-triggered average of the z-scored behaviour (each feature standardised over time),
computed on the neural clock (the behaviour averaged within each neural sample). For every circular
shift ``s`` at once it is the circular cross-correlation of the event train with the behaviour
(computed by FFT), squared, summed over features and over the window: the null distribution costs
one FFT per unit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import validate_signal_matrix

__all__ = ["BehaviourLocking", "behaviour_locking"]


@dataclass
class BehaviourLocking:
    """Result of :func:`behaviour_locking`.

    Attributes
    ----------
    lags : ndarray, shape (L,)
        Lags of ``averages`` in seconds relative to the event (behaviour samples in the window).
    averages : ndarray, shape (K, L, F)
        Event-triggered average of the behaviour (its own units) per unit, lag and feature; NaN for a
        unit with no event whose window lies inside the behaviour recording.
    baseline : ndarray, shape (F,)
        Mean of each behaviour feature over the whole recording (what an unlocked unit's average
        approaches).
    n_events : ndarray of int, shape (K,)
        Events of each unit.
    statistic : ndarray, shape (K,)
        Mean squared event-triggered average of the z-scored behaviour over the window (NaN for a unit
        without events).
    null_statistic : ndarray, shape (K, n_shuffles)
        The same for circularly shifted event trains.
    shifts : ndarray of int, shape (n_shuffles,)
        The circular shifts, in neural samples (the same for every unit).
    pvalues : ndarray, shape (K,)
        ``(1 + #{null >= statistic}) / (n_shuffles + 1)``; 1.0 for a unit without events.
    alpha : float
        Level below which a unit is ``locked`` (not corrected for the K units).
    window : (float, float)
        The window in seconds around each event.
    """

    lags: np.ndarray
    averages: np.ndarray
    baseline: np.ndarray
    n_events: np.ndarray
    statistic: np.ndarray
    null_statistic: np.ndarray
    shifts: np.ndarray
    pvalues: np.ndarray
    alpha: float
    window: tuple[float, float]

    @property
    def locked(self) -> np.ndarray:
        """``pvalues < alpha`` per unit, shape (K,)."""
        return self.pvalues < self.alpha

    @property
    def n_locked(self) -> int:
        """Number of locked units."""
        return int(self.locked.sum())

    def to_dict(self) -> dict:
        """The scalar results as JSON-ready values: ``pvalues``, ``locked``, ``n_locked``, ``n_events``,
        ``statistic`` (None for a unit without events), ``n_shuffles``, ``alpha``, ``window``."""
        return {
            "pvalues": [float(p) for p in self.pvalues],
            "locked": [bool(x) for x in self.locked],
            "n_locked": self.n_locked,
            "n_events": [int(n) for n in self.n_events],
            "statistic": [None if not np.isfinite(s) else float(s) for s in self.statistic],
            "n_shuffles": int(self.null_statistic.shape[1]),
            "alpha": self.alpha,
            "window": [float(w) for w in self.window],
        }


def _positive(value, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name}: got {value!r}, expected a positive number (Hz)")
    if not (math.isfinite(value) and value > 0):
        raise InputError(f"{name}: got {value!r}, expected a positive finite number (Hz)")
    return float(value)


def _on_event_clock(z: np.ndarray, behaviour_rate: float, sampling_rate: float, t_len: int) -> np.ndarray:
    """The behaviour (T_b, F) on the neural clock (T, F): averaged within each neural sample, or
    interpolated at its centre when the behaviour is sampled more slowly."""
    if behaviour_rate >= sampling_rate:
        bins = np.floor(np.arange(len(z)) * (sampling_rate / behaviour_rate) + 1e-9).astype(np.int64)
        keep = bins < t_len
        counts = np.bincount(bins[keep], minlength=t_len)
        sums = np.zeros((t_len, z.shape[1]))
        np.add.at(sums, bins[keep], z[keep])
        filled = np.maximum.accumulate(np.where(counts > 0, np.arange(t_len), 0))  # an empty last bin: the one before
        return sums[filled] / counts[filled][:, None]
    t_b = np.arange(len(z)) / behaviour_rate
    t_e = (np.arange(t_len) + 0.5) / sampling_rate
    return np.stack([np.interp(t_e, t_b, z[:, f]) for f in range(z.shape[1])], axis=1)


def behaviour_locking(
    amplitudes,
    behaviour,
    *,
    sampling_rate: float,
    behaviour_rate: float,
    window: tuple[float, float] = (-0.5, 1.0),
    n_shuffles: int = 1000,
    alpha: float = 0.05,
    random_state=None,
) -> BehaviourLocking:
    """Event-triggered averages of a behaviour signal around each unit's events, and their locking.

    Parameters
    ----------
    amplitudes : array_like, shape (T, K)
        Each unit's events at the neural sampling rate (entries > 0 are events; ``fit.npz``'s
        ``amplitudes`` or :attr:`~neurocine.motifs.convnmf.ConvNMF.amplitudes_`).
    behaviour : array_like, shape (T_b, F) or (T_b,)
        The behaviour signal, time first (a spectrogram's F frequencies, or one trace), starting at
        the same moment as the neural recording and covering it.
    sampling_rate : float
        Neural samples per second (Hz).
    behaviour_rate : float
        Behaviour samples per second (Hz).
    window : (float, float), default (-0.5, 1.0)
        Seconds around each event (start < 0 < stop allowed) over which the behaviour is averaged and
        the locking statistic is taken.
    n_shuffles : int, default 1000
        Circular shifts of the event train in the null distribution, each by a whole number of neural
        samples at least the window's length from zero.
    alpha : float, default 0.05
        A unit is ``locked`` when its p-value is below ``alpha``.
    random_state : int, numpy Generator or None
        Seed of the shifts: the same seed gives the same p-values.

    Returns
    -------
    BehaviourLocking

    Raises
    ------
    InputError
        Shapes that disagree, non-finite values, a behaviour recording shorter than the neural one,
        a window that is empty or not shorter than half the recording, bad rates or counts.

    Examples
    --------
    A unit whose events each precede a burst of the behaviour, and one firing at random:

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> amps = np.zeros((600, 2))
    >>> amps[rng.choice(580, 15, replace=False), 0] = 1.0
    >>> amps[rng.choice(580, 15, replace=False), 1] = 1.0
    >>> song = rng.normal(size=(6000, 1))                      # 10 Hz events, 100 Hz behaviour
    >>> for t in np.flatnonzero(amps[:, 0]):
    ...     song[10 * t + 10 : 10 * t + 30] += 3.0
    >>> res = behaviour_locking(amps, song, sampling_rate=10, behaviour_rate=100, window=(0, 0.5), random_state=0)
    >>> res.pvalues[0] < 0.01, res.pvalues[1] > 0.05, res.averages.shape
    (np.True_, np.True_, (2, 51, 1))
    """
    fs = _positive(sampling_rate, "sampling_rate")
    fb = _positive(behaviour_rate, "behaviour_rate")
    a = validate_signal_matrix(amplitudes, "amplitudes").astype(np.float64, copy=False)
    b = np.asarray(behaviour)
    if b.ndim == 1:
        b = b[:, None]
    b = validate_signal_matrix(b, "behaviour").astype(np.float64, copy=False)
    if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
        raise InputError(f"alpha: got {alpha!r}, expected a number in (0, 1)")
    if isinstance(n_shuffles, bool) or not (isinstance(n_shuffles, (int, np.integer)) and n_shuffles >= 1):
        raise InputError(f"n_shuffles: got {n_shuffles!r}, expected an integer >= 1")
    try:
        w0, w1 = (float(x) for x in window)
    except (TypeError, ValueError):
        raise InputError(f"window: got {window!r}, expected (start, stop) in seconds") from None
    t_len, k_units = a.shape
    if not (math.isfinite(w0) and math.isfinite(w1) and w1 > w0):
        raise InputError(f"window: got {window!r}, expected finite (start, stop) seconds with start < stop")
    l0, l1 = math.floor(w0 * fs), math.ceil(w1 * fs)
    span = l1 - l0 + 1
    if 2 * span >= t_len:
        raise InputError(
            f"window: {window!r} spans {span} neural samples of the {t_len} recorded; expected fewer than half"
        )
    duration, covered = t_len / fs, len(b) / fb
    if covered < duration - 0.5 / fs:
        raise InputError(
            f"behaviour: covers {covered:.3f} s ({len(b)} samples at {fb:g} Hz) but the events span "
            f"{duration:.3f} s ({t_len} samples at {fs:g} Hz); expected a behaviour recording at least as long"
        )

    # event-triggered averages at the behaviour's own rate
    lag_idx = np.arange(math.floor(w0 * fb), math.ceil(w1 * fb) + 1)
    averages = np.full((k_units, len(lag_idx), b.shape[1]), np.nan)
    events = [np.flatnonzero(a[:, k] > 0) for k in range(k_units)]
    for k, ev in enumerate(events):
        centre = np.rint(ev / fs * fb).astype(np.int64)
        ok = (centre + lag_idx[0] >= 0) & (centre + lag_idx[-1] < len(b))
        if ok.any():
            averages[k] = b[centre[ok][:, None] + lag_idx[None, :]].mean(axis=0)

    # the statistic for every circular shift: z-scored behaviour on the neural clock
    sd = b.std(axis=0)
    z = np.divide(b - b.mean(axis=0), sd, out=np.zeros_like(b), where=sd > 0)
    z = _on_event_clock(z, fb, fs, t_len)
    z_hat = np.fft.rfft(z, axis=0)
    rng = np.random.default_rng(random_state)
    shifts = rng.integers(span, t_len - span + 1, size=n_shuffles)
    statistic = np.full(k_units, np.nan)
    null = np.full((k_units, n_shuffles), np.nan)
    for k, ev in enumerate(events):
        if len(ev) == 0:
            continue
        train = np.zeros(t_len)
        train[ev] = 1.0
        # corr[u, f] = sum_e z[(e + u) % T, f]
        corr = np.fft.irfft(np.conj(np.fft.rfft(train))[:, None] * z_hat, n=t_len, axis=0)
        power = (corr**2).sum(axis=1)
        cumulative = np.concatenate([[0.0], np.cumsum(np.tile(power, 3))])
        starts = np.arange(t_len) + t_len + l0
        per_shift = (cumulative[starts + span] - cumulative[starts]) / (len(ev) ** 2 * span * z.shape[1])
        statistic[k] = per_shift[0]
        null[k] = per_shift[shifts]
    with np.errstate(invalid="ignore"):
        count = (null >= statistic[:, None] - 1e-12 * np.abs(statistic[:, None])).sum(axis=1)
    pvalues = np.where(np.isfinite(statistic), (1.0 + count) / (n_shuffles + 1.0), 1.0)
    return BehaviourLocking(
        lag_idx / fb,
        averages,
        b.mean(axis=0),
        np.array([len(ev) for ev in events]),
        statistic,
        null,
        shifts,
        pvalues,
        float(alpha),
        (w0, w1),
    )
