"""Simulated screenome logs from a convolutional NMF model of app use.

Generative model (time-first, ``T`` bins of ``bin_seconds``, ``N`` apps,
``K`` "motivational states", templates ``D`` bins long):

1. Each state ``k`` has a nonnegative template ``W_k`` of shape ``(N, D)``:
   it favours 2-3 apps (``apps_per_state``) used *in sequence*, each app a
   Gaussian bump in lag centred at an increasing position. Templates have
   unit Frobenius norm (as in :func:`neurocine.motifs.simulate.simulate_convnmf`).
2. Sparse onsets: per state, Poisson(``onsets_per_hour * hours``) candidate
   bins, thinned so that onsets of one state are at least ``D`` bins apart,
   each with a Gamma(``amplitude_shape``) amplitude whose mean makes the
   peak app busy for about ``mean_usage * bin_seconds`` seconds.
3. Expected use ``model[t, n] = sum_k sum_d a[t - d, k] W[k, n, d]`` (an
   onset at ``t`` fills bins ``t .. t + D - 1``), plus a little background
   use: each (bin, app) independently with probability ``background_rate``
   gets ``U(0, background_fraction) * bin_seconds`` seconds.
4. Seconds of use: clipped to ``[0, bin_seconds]`` per app, then, because a
   phone shows one app at a time, each bin whose total exceeds
   ``bin_seconds`` is scaled down to total ``bin_seconds``; finally rounded
   down to whole milliseconds. The first and last bins always hold some
   background use so that the log spans exactly ``T`` bins.
5. Event log: in each bin the apps in use are laid out back to back from
   the bin start (in app order), one event per (bin, app), with ms-precise
   ISO timestamps. Binning the log at ``bin_seconds`` gives ``truth.data``
   back (up to float rounding, ~1e-6 s).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.io.screenome import write_screenome_log
from neurocine.validation import check_int

__all__ = ["ScreenomeTruth", "simulate_screenome_log", "write_screenome_log", "DEFAULT_APPS"]

#: App names used by the simulator (the first ``n_apps``; then ``app10``, ``app11``...).
DEFAULT_APPS = ("browser", "camera", "email", "games", "maps", "messages", "music", "news", "social", "video")

_EPOCH = datetime(1970, 1, 1)


@dataclass
class ScreenomeTruth:
    """Ground truth of :func:`simulate_screenome_log`.

    Attributes
    ----------
    data : ndarray, shape (T, N), float64
        Seconds of use of each app per bin; what binning the log returns.
    model : ndarray, shape (T, N), float64
        Expected seconds before clipping and rounding: the Conv-NMF
        reconstruction plus background.
    background : ndarray, shape (T, N), float64
        The background part of ``model``.
    templates : ndarray, shape (K, N, D), float64
        Nonnegative state templates, unit Frobenius norm each.
    amplitudes : ndarray, shape (T, K), float64
        Sparse onset amplitudes (>= 0); onsets of one state are >= D bins apart.
    apps : list of str
        App names, in column order (alphabetical, as the reader sorts them).
    bin_seconds : float
        Bin width.
    bin_starts : ndarray, shape (T,), float64
        Bin starts, seconds since 1970-01-01 (naive wall clock, as the reader converts ISO times).
    start : str
        ISO time of the first bin.
    seed : int or None
    """

    data: np.ndarray
    model: np.ndarray
    background: np.ndarray
    templates: np.ndarray
    amplitudes: np.ndarray
    apps: list[str]
    bin_seconds: float
    bin_starts: np.ndarray
    start: str
    seed: int | None = None
    parameters: dict = field(default_factory=dict)

    def arrays(self) -> dict[str, Any]:
        """Arrays for an ``.npz`` file (``data`` first, time-first; names as a unicode array)."""
        return {
            "data": self.data.astype(np.float32),
            "model": self.model,
            "background": self.background,
            "templates": self.templates,
            "amplitudes": self.amplitudes,
            "channels": np.asarray(self.apps, dtype=str),
            "bin_starts": self.bin_starts,
            "bin_seconds": np.float64(self.bin_seconds),
            "sampling_rate": np.float64(1.0 / self.bin_seconds),
            "timestamps": self.bin_starts,
        }


def _positive(name: str, value, *, allow_zero: bool = False, maximum: float | None = None) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        x = float("nan")
    ok = math.isfinite(x) and (x >= 0 if allow_zero else x > 0) and (maximum is None or x <= maximum)
    if not ok:
        bound = ">= 0" if allow_zero else "> 0"
        if maximum is not None:
            bound += f" and <= {maximum}"
        raise InputError(f"{name}: got {value!r}, expected a finite number {bound}")
    return x


def _templates(rng: np.random.Generator, n_states: int, n_apps: int, width: int, apps_per_state: int) -> np.ndarray:
    """(K, N, D) templates: each state uses a few apps in sequence (Gaussian bumps in lag)."""
    lags = np.arange(width, dtype=np.float64)
    out = np.zeros((n_states, n_apps, width))
    per = min(apps_per_state, n_apps)
    for k in range(n_states):
        apps = rng.choice(n_apps, size=per, replace=False)
        centres = np.sort(rng.uniform(0.1, 0.9, size=per)) * (width - 1)
        spread = max(width / (2.5 * per), 0.6)
        for app, centre in zip(apps, centres):
            weight = rng.uniform(0.6, 1.0)
            out[k, app] += weight * np.exp(-0.5 * ((lags - centre) / spread) ** 2)
        out[k] /= np.linalg.norm(out[k])
    return out


def _onsets(rng: np.random.Generator, n_bins: int, width: int, rate_per_bin: float) -> np.ndarray:
    """Sorted onset bins of one state, at least ``width`` apart (greedy thinning of Poisson candidates)."""
    n = rng.poisson(rate_per_bin * n_bins)
    candidates = np.sort(rng.integers(0, n_bins, size=n))
    kept: list[int] = []
    for t in candidates:
        if not kept or t - kept[-1] >= width:
            kept.append(int(t))
    return np.asarray(kept, dtype=np.int64)


def simulate_screenome_log(
    seed: int | None = 0,
    n_apps: int = 10,
    n_states: int = 3,
    hours: float = 10.0,
    bin_seconds: float = 60.0,
    *,
    template_bins: int = 10,
    apps_per_state: int = 3,
    onsets_per_hour: float = 2.0,
    mean_usage: float = 0.7,
    amplitude_shape: float = 4.0,
    background_rate: float = 0.02,
    background_fraction: float = 0.2,
    start: str = "2024-01-01T08:00:00",
    participant: str = "P01",
    app_names: Sequence[str] | None = None,
) -> tuple[list[dict], ScreenomeTruth]:
    """Simulate a screenome event log whose binned matrix follows a Conv-NMF model.

    See the module docstring for the generative model.

    Parameters
    ----------
    seed : int or None
        Seed of ``numpy.random.default_rng``; the same seed gives the same log.
    n_apps : int
        Number of apps N (>= 1).
    n_states : int
        Number of motivational states K (>= 1).
    hours : float
        Length of the log; ``T = round(hours * 3600 / bin_seconds)`` bins (>= ``template_bins``).
    bin_seconds : float
        Bin width in seconds, a whole number of milliseconds.
    template_bins : int
        Template length D in bins.
    apps_per_state : int
        Apps each state uses, in sequence.
    onsets_per_hour : float
        Poisson rate of candidate onsets per state and hour (before thinning).
    mean_usage : float
        Mean fraction of a bin the peak app of a state is used after an onset.
    amplitude_shape : float
        Gamma shape of onset amplitudes.
    background_rate : float
        Probability that an app gets background use in a bin, in [0, 1].
    background_fraction : float
        Background use is ``U(0, background_fraction) * bin_seconds``, in (0, 1].
    start : str
        ISO time (timezone-naive) of the first bin; rounded down to a multiple
        of ``bin_seconds`` since 1970-01-01 so the reader's bins coincide.
    participant : str
        Participant id written in every row.
    app_names : sequence of str, optional
        N distinct names; default :data:`DEFAULT_APPS` (then ``app10``...).

    Returns
    -------
    rows : list of dict
        Events ``{"timestamp": ISO str, "app": str, "duration": float seconds, "participant": str}``,
        in time order; write them with :func:`write_screenome_log`.
    truth : ScreenomeTruth

    Examples
    --------
    >>> rows, truth = simulate_screenome_log(seed=0, hours=2)
    >>> truth.data.shape, truth.templates.shape, truth.amplitudes.shape
    ((120, 10), (3, 10, 10), (120, 3))
    >>> rows[0]["timestamp"][:19], bool(abs(sum(r["duration"] for r in rows) - truth.data.sum()) < 1e-6)
    ('2024-01-01T08:00:00', True)
    """
    n_apps = check_int("n_apps", n_apps, 1)
    n_states = check_int("n_states", n_states, 1)
    width = check_int("template_bins", template_bins, 1)
    apps_per_state = check_int("apps_per_state", apps_per_state, 1)
    hours = _positive("hours", hours)
    bin_seconds = _positive("bin_seconds", bin_seconds)
    bin_ms = round(bin_seconds * 1000)
    if bin_ms < 1 or abs(bin_ms - bin_seconds * 1000) > 1e-6:
        raise InputError(f"bin_seconds: got {bin_seconds!r}, expected a whole number of milliseconds >= 0.001")
    onsets_per_hour = _positive("onsets_per_hour", onsets_per_hour, allow_zero=True)
    mean_usage = _positive("mean_usage", mean_usage)
    amplitude_shape = _positive("amplitude_shape", amplitude_shape)
    background_rate = _positive("background_rate", background_rate, allow_zero=True, maximum=1.0)
    background_fraction = _positive("background_fraction", background_fraction, maximum=1.0)
    n_bins = int(round(hours * 3600.0 / bin_seconds))
    if n_bins < width:
        raise InputError(
            f"hours: got {hours!r}, which gives {n_bins} bins of {bin_seconds} s; "
            f"expected at least template_bins={width} bins"
        )
    if app_names is None:
        apps = [DEFAULT_APPS[i] if i < len(DEFAULT_APPS) else f"app{i:02d}" for i in range(n_apps)]
    else:
        apps = [str(a).strip() for a in app_names]
        if len(apps) != n_apps or len(set(apps)) != n_apps or not all(apps):
            raise InputError(f"app_names: got {list(app_names)!r}, expected {n_apps} distinct non-empty names")
    apps = sorted(apps)  # column order = the reader's (alphabetical)
    try:
        t0 = datetime.fromisoformat(str(start))
    except ValueError:
        raise InputError(f"start: got {start!r}, expected an ISO-8601 date-time such as 2024-01-01T08:00:00") from None
    if t0.tzinfo is not None:
        raise InputError(f"start: got {start!r} with a timezone, expected a timezone-naive ISO time")
    t0_ms = (t0 - _EPOCH) // timedelta(milliseconds=1)
    t0_ms = (t0_ms // bin_ms) * bin_ms  # align bins to multiples of bin_seconds since the epoch
    participant = str(participant)

    rng = np.random.default_rng(seed)
    templates = _templates(rng, n_states, n_apps, width, apps_per_state)
    # amplitude so that a typical onset fills the template peak for mean_usage of a bin
    peak = templates.max(axis=(1, 2))  # (K,)
    amplitudes = np.zeros((n_bins, n_states))
    rate_per_bin = onsets_per_hour * bin_seconds / 3600.0
    for k in range(n_states):
        times = _onsets(rng, n_bins, width, rate_per_bin)
        mean_amp = mean_usage * bin_seconds / peak[k]
        amplitudes[times, k] = rng.gamma(amplitude_shape, mean_amp / amplitude_shape, size=times.size)

    model = np.zeros((n_bins, n_apps))
    for d in range(width):
        model[d:] += amplitudes[: n_bins - d] @ templates[:, :, d]
    background = (
        (rng.random((n_bins, n_apps)) < background_rate)
        * rng.uniform(0.0, background_fraction, size=(n_bins, n_apps))
        * bin_seconds
    )
    for t in (0, n_bins - 1):  # the log must span exactly n_bins bins
        if model[t].sum() + background[t].sum() <= 1e-3:
            background[t, rng.integers(n_apps)] += max(rng.uniform(0.0, background_fraction) * bin_seconds, 1e-3)
    model += background

    used = np.clip(model, 0.0, bin_seconds)
    total = used.sum(axis=1, keepdims=True)
    used = np.where(total > bin_seconds, used * (bin_seconds / np.maximum(total, 1e-300)), used)
    used_ms = np.floor(used * 1000.0 + 1e-9).astype(np.int64)  # whole milliseconds
    over = used_ms.sum(axis=1) - bin_ms
    for row in np.flatnonzero(over > 0):  # rounding guard: never more than one bin per bin
        used_ms[row, int(np.argmax(used_ms[row]))] -= int(over[row])
    data = used_ms / 1000.0

    rows: list[dict] = []
    for t in range(n_bins):
        offset = t0_ms + t * bin_ms
        for n in np.flatnonzero(used_ms[t]):
            ms = int(used_ms[t, n])
            stamp = (_EPOCH + timedelta(milliseconds=offset)).isoformat(timespec="milliseconds")
            rows.append({"timestamp": stamp, "app": apps[n], "duration": ms / 1000.0, "participant": participant})
            offset += ms

    bin_starts = (t0_ms + np.arange(n_bins, dtype=np.int64) * bin_ms) / 1000.0
    params = dict(
        seed=seed,
        n_apps=n_apps,
        n_states=n_states,
        hours=hours,
        bin_seconds=bin_seconds,
        template_bins=width,
        apps_per_state=apps_per_state,
        onsets_per_hour=onsets_per_hour,
        mean_usage=mean_usage,
        amplitude_shape=amplitude_shape,
        background_rate=background_rate,
        background_fraction=background_fraction,
        start=start,
        participant=participant,
    )
    truth = ScreenomeTruth(
        data=data,
        model=model,
        background=background,
        templates=templates,
        amplitudes=amplitudes,
        apps=apps,
        bin_seconds=bin_seconds,
        bin_starts=bin_starts,
        start=(_EPOCH + timedelta(milliseconds=t0_ms)).isoformat(timespec="milliseconds"),
        seed=seed,
        parameters=params,
    )
    return rows, truth
