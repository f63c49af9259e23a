"""Spike sorting of extracellular recordings with Conv-NMF.

A band-passed, whitened recording (:func:`neurocine.features.extracellular.preprocess_extracellular`:
noise about 1 on every channel) is modelled as a sum of unit waveforms stamped at spike times, which is
exactly :class:`~neurocine.motifs.convnmf.ConvNMF` with signed rank-R templates (channels x lags) and
nonnegative amplitudes. :func:`sort_spikes` turns such a fit into a spike sort:

1. **find events**: ``ConvNMF(n_units, width, rank)`` on the whitened data. Its templates explain the
   recording as spikes, overlapping ones included (a template is subtracted where it fires before the
   next is looked for). Each spike is moved to its trough (the most negative sample of any channel near
   the template's peak) and kept when the trough is at least ``threshold`` noise units deep; events
   that several templates found count once (:func:`detect_events`).
2. **split and merge by clustering**: Conv-NMF templates have unit norm and a free amplitude, so one
   template can hold two neurons of the same shape but different size, and one neuron can be held by
   two templates (at two lags). The events are therefore pooled and clustered on the principal
   components of their waveforms (noise units, so size counts) by a Gaussian mixture whose number of
   units the BIC picks (:func:`cluster_events`): this splits the first case and merges the second.
   Units whose mean waveforms differ by less than ``merge_distance`` noise units at every sample, at
   the best shift of up to 2 samples (:func:`waveform_distance`), are then merged: the mixture can cut
   one unit in two by the sub-sample position of its trough.
3. **clean**: units with fewer than ``min_spikes`` spikes, or whose mean trough is shallower than
   ``threshold`` noise units, are dropped.

:func:`unit_quality` then gives each unit the quality metrics spike sorters report (SNR,
peak-to-peak, firing rate, ISI-violation ratio, amplitude stability).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int, validate_signal_matrix

__all__ = [
    "SpikeSort",
    "cluster_events",
    "detect_events",
    "isi_violation_ratio",
    "sort_spikes",
    "template_width",
    "unit_quality",
    "waveform_distance",
    "waveforms",
]

#: ISI below which a spike pair violates the refractory period (ms), as SpikeInterface's default.
REFRACTORY_MS = 1.5


@dataclass
class SpikeSort:
    """The spike trains and mean waveforms of a sort (:func:`sort_spikes`).

    Attributes
    ----------
    times : ndarray, shape (S,), int64
        Sample index of each spike's peak, sorted.
    labels : ndarray, shape (S,), int64
        Unit of each spike (a value of ``unit_ids``).
    unit_ids : ndarray, shape (U,), int64
        The units, ``0 .. U-1``, largest spikes first.
    templates : ndarray, shape (U, D, N), float32
        Mean waveform of each unit in the whitened data (noise units), D samples around the peak.
    amplitudes : ndarray, shape (S,), float32
        Each spike's peak in noise units (the whitened data at its time on its unit's best channel,
        sign removed).
    peak_index : int
        Position of the spike time inside the D samples of a template.
    sampling_rate : float
        Hz.
    """

    times: np.ndarray
    labels: np.ndarray
    unit_ids: np.ndarray
    templates: np.ndarray
    amplitudes: np.ndarray
    peak_index: int
    sampling_rate: float

    @property
    def n_units(self) -> int:
        """Number of units U."""
        return len(self.unit_ids)

    def train(self, unit: int) -> np.ndarray:
        """Spike times (samples) of one unit, sorted."""
        return self.times[self.labels == unit]

    def best_channels(self) -> np.ndarray:
        """Channel where each unit's mean waveform is largest (peak to peak), shape (U,)."""
        return np.ptp(self.templates, axis=1).argmax(axis=1) if self.n_units else np.zeros(0, np.int64)


def template_width(width_ms: float, sampling_rate: float, name: str = "fs") -> int:
    """Samples in a template of ``width_ms`` milliseconds; at least 3.

    Raises
    ------
    InputError
        Naming ``name`` (the sampling rate's argument) when the template would be under 3 samples.

    Examples
    --------
    >>> template_width(2.0, 15000.0)
    30
    """
    if not (isinstance(width_ms, (int, float)) and math.isfinite(width_ms) and width_ms > 0):
        raise InputError(f"width_ms: got {width_ms!r}, expected a positive duration in milliseconds")
    width = round(width_ms * sampling_rate / 1000.0)
    if width < 3:
        raise InputError(
            f"{name}: {sampling_rate:g} Hz makes a {width_ms:g} ms template {width} samples long; "
            f"expected a sampling rate of at least {math.ceil(3000 / width_ms):g} Hz (3 samples per template)"
        )
    return int(width)


def waveforms(data: np.ndarray, times: np.ndarray, before: int, length: int) -> np.ndarray:
    """Snippets ``data[t - before : t - before + length]`` at each time; those running off the ends are left out.

    Parameters
    ----------
    data : ndarray, shape (T, N)
    times : ndarray, shape (S,), int
    before, length : int
        Samples before the time, and the snippet length.

    Returns
    -------
    ndarray, shape (S', length, N)
        One snippet per time that fits (``S' <= S``).

    Examples
    --------
    >>> x = np.arange(20.0).reshape(10, 2)
    >>> waveforms(x, np.array([0, 4, 9]), 1, 3)[:, :, 0]
    array([[ 6.,  8., 10.]])
    """
    times = np.asarray(times, dtype=np.int64)
    starts = times - before
    starts = starts[(starts >= 0) & (starts + length <= len(data))]
    return data[starts[:, None] + np.arange(length)[None, :]]


def _peak(template: np.ndarray) -> tuple[int, int, float]:
    """(lag, channel, value) of the largest absolute value of a (D, N) waveform."""
    lag, ch = np.unravel_index(int(np.abs(template).argmax()), template.shape)
    return int(lag), int(ch), float(template[lag, ch])


def _dedupe(times: np.ndarray, min_gap: int) -> np.ndarray:
    """Sorted unique times, each one closer than ``min_gap`` samples to the last one kept dropped."""
    times = np.unique(np.asarray(times, dtype=np.int64))
    if len(times) < 2 or min_gap <= 1:
        return times
    keep = np.ones(len(times), bool)
    last = times[0]
    for i in range(1, len(times)):
        if times[i] - last < min_gap:
            keep[i] = False
        else:
            last = times[i]
    return times[keep]


def detect_events(model, data: np.ndarray, threshold: float, search: int, min_gap: int) -> np.ndarray:
    """Spike times of a fitted :class:`~neurocine.motifs.convnmf.ConvNMF`, pooled over its units.

    Each unit's spike is placed at its template's peak, then moved to the most negative sample of any
    channel within ``search`` samples (the trough of an extracellular spike); it is kept when that trough
    is at least ``threshold`` noise units deep. Events that several units found (closer than ``min_gap``
    samples) count once.

    Parameters
    ----------
    model : ConvNMF
        Fitted to ``data``.
    data : ndarray, shape (T, N)
        The whitened recording the model was fitted to.
    threshold : float
        Depth of a kept trough, in noise units.
    search : int
        Samples searched on each side of the template's peak.
    min_gap : int
        Events closer than this (samples) are one event.

    Returns
    -------
    ndarray, shape (S,), int64
        Sorted event times (samples).
    """
    events = [np.zeros(0, np.int64)]
    t_len = len(data)
    offsets = np.arange(-search, search + 1)
    for k in range(model.templates_.shape[0]):
        lag, _, _ = _peak(model.templates_[k].T)
        times = np.flatnonzero(model.amplitudes_[:, k] > 0) + lag
        times = times[(times >= search) & (times < t_len - search)]
        troughs = data[times[:, None] + offsets[None, :]].min(axis=2)  # (S, 2 search + 1)
        times = times + troughs.argmin(axis=1) - search
        events.append(times[data[times].min(axis=1) <= -threshold])
    return _dedupe(np.concatenate(events), min_gap)


def cluster_events(
    data: np.ndarray, times: np.ndarray, before: int, width: int, *, max_units: int, n_features: int, seed: int
) -> np.ndarray:
    """Label events by a Gaussian mixture on the principal components of their waveforms; BIC picks K.

    Parameters
    ----------
    data : ndarray, shape (T, N)
        Whitened recording.
    times : ndarray, shape (S,)
        Event times (samples).
    before, width : int
        Waveform window: ``width`` samples starting ``before`` samples before each event.
    max_units : int
        Largest number of mixture components tried (from 1; at most one per 10 events).
    n_features : int
        Principal components of the waveforms (``width * N`` numbers each) clustered.
    seed : int
        Seed of the mixture's initialisation.

    Returns
    -------
    ndarray, shape (S,), int64
        Cluster of each event; -1 for events whose window runs off the data.
    """
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    labels = np.full(len(times), -1, np.int64)
    inside = (times - before >= 0) & (times - before + width <= len(data))
    n_inside = int(inside.sum())
    if n_inside < 20:
        labels[inside] = 0
        return labels
    snippets = waveforms(data, times[inside], before, width).reshape(n_inside, -1).astype(np.float64)
    centred = snippets - snippets.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    features = centred @ vt[:n_features].T
    best_bic, best = np.inf, np.zeros(n_inside, np.int64)
    with threadpool_limits(1):  # tiny matrices: BLAS threads only wait for each other
        for k in range(1, min(max_units, n_inside // 10) + 1):
            gmm = GaussianMixture(k, covariance_type="full", reg_covar=1e-2, n_init=3, random_state=seed)
            bic = gmm.fit(features).bic(features)
            if bic < best_bic:
                best_bic, best = bic, gmm.predict(features)
    labels[inside] = best
    return labels


def waveform_distance(a: np.ndarray, b: np.ndarray, max_shift: int = 2) -> float:
    """Largest absolute difference of two waveforms ``(D, N)``, at the best relative shift of up to ``max_shift`` samples.

    Examples
    --------
    >>> a = np.zeros((10, 1)); a[4] = -5.0
    >>> waveform_distance(a, np.roll(a, 1, axis=0)), waveform_distance(a, 0.5 * a)
    (0.0, 2.5)
    """
    d = len(a)
    best = np.inf
    for shift in range(-max_shift, max_shift + 1):
        lo, hi = max(0, shift), min(d, d + shift)
        best = min(best, float(np.abs(a[lo:hi] - b[lo - shift : hi - shift]).max()))
    return best


def _merge_close(means: list[np.ndarray], distance: float) -> list[int]:
    """Group of each mean waveform: one within ``distance`` noise units (:func:`waveform_distance`) of an earlier one joins it."""
    group = list(range(len(means)))
    for i in range(len(means)):
        for j in range(i):
            if group[j] == j and waveform_distance(means[i], means[j]) < distance:
                group[i] = j
                break
    return group


def sort_spikes(
    whitened,
    sampling_rate: float,
    *,
    n_units: int = 12,
    width_ms: float = 2.0,
    rank: int = 2,
    threshold: float = 5.0,
    max_units: int = 15,
    n_features: int = 4,
    merge_distance: float = 2.0,
    min_spikes: int = 10,
    seed: int | None = 0,
    device: str = "cpu",
) -> SpikeSort:
    """Sort the spikes of a whitened multichannel recording (see the module docstring).

    Parameters
    ----------
    whitened : array_like, shape (T, N)
        Band-passed and whitened recording, noise about 1 on every channel
        (:func:`neurocine.features.extracellular.preprocess_extracellular`); spikes negative-going.
    sampling_rate : float
        Hz.
    n_units : int
        Templates of the Conv-NMF fit that finds the events.
    width_ms : float
        Template and waveform duration in milliseconds (at least 3 samples).
    rank : int
        Rank R of the signed templates (channels x lags), at most the number of channels.
    threshold : float
        Detection threshold: an event's trough, and a unit's mean trough, in noise units.
    max_units : int
        Most units the clustering may make.
    n_features : int
        Principal components of the waveforms that are clustered.
    merge_distance : float
        Units whose mean waveforms differ by less than this (noise units) at every sample, at the best
        shift of up to 2 samples, are merged.
    min_spikes : int
        Units with fewer spikes are dropped.
    seed : int or None
        Seed of the Conv-NMF fit and of the clustering.
    device : str
        Device of the Conv-NMF fit (``"cpu"``, ``"cuda"``, ``"auto"``).

    Returns
    -------
    SpikeSort

    Raises
    ------
    InputError
        Data that is not a finite (T, N) matrix, a template under 3 samples, or parameters out of range.

    Examples
    --------
    Three units on a simulated tetrode (ADC units, offset 2000), band-passed and whitened first:

    >>> from neurocine.features.extracellular import preprocess_extracellular
    >>> from neurocine.motifs.simulate import simulate_tetrode
    >>> sim = simulate_tetrode(0, seconds=5.0)
    >>> signal = preprocess_extracellular(sim.data, sim.sampling_rate)
    >>> sort = sort_spikes(signal.whitened, sim.sampling_rate, seed=0)
    >>> sort.n_units, sorted(np.bincount(sort.labels).tolist()), sorted(len(t) for t in sim.trains)
    (3, [32, 40, 42], [32, 40, 42])
    """
    from neurocine.motifs.convnmf import ConvNMF

    x = validate_signal_matrix(whitened, "whitened", dtype=np.float32)
    width = template_width(width_ms, sampling_rate)
    check_int("rank", rank, maximum=min(x.shape[1], width), why=f"{x.shape[1]} channels, {width}-sample templates")
    check_int("min_spikes", min_spikes)
    check_int("max_units", max_units)
    check_int("n_features", n_features, maximum=width * x.shape[1], why=f"{width * x.shape[1]} numbers per waveform")
    for name, value in (("threshold", threshold), ("merge_distance", merge_distance)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise InputError(f"{name}: got {value!r}, expected a positive number (noise units)")
    seed_value = 0 if seed is None else int(seed)
    model = ConvNMF(n_units, width, rank=rank, random_state=seed, device=device).fit(x)
    before = width // 3
    gap = max(1, round(sampling_rate / 3000))  # events closer than 1/3 ms are one
    events = detect_events(model, x, threshold, search=max(1, width // 4), min_gap=gap)
    labels = cluster_events(x, events, before, width, max_units=max_units, n_features=n_features, seed=seed_value)
    clusters = [events[labels == c] for c in range(int(labels.max()) + 1)] if len(labels) else []
    clusters = [c for c in clusters if len(c)]
    means = [waveforms(x, c, before, width).mean(axis=0) for c in clusters]
    group = _merge_close(means, merge_distance)
    merged = [np.sort(np.concatenate([c for c, g in zip(clusters, group) if g == i])) for i in sorted(set(group))]
    return _finish(x, merged, before, width, threshold, min_spikes, sampling_rate)


def _finish(
    x: np.ndarray, trains: list[np.ndarray], before: int, width: int, threshold: float, min_spikes: int, fs: float
) -> SpikeSort:
    """Drop small and weak units, number the rest by trough depth (deepest first), and pack the sort."""
    kept = []
    for times in trains:
        snippets = waveforms(x, times, before, width)
        if len(times) < min_spikes or len(snippets) == 0:
            continue
        mean = snippets.mean(axis=0)
        channel = int(mean[before].argmin())
        depth = -float(mean[before, channel])
        if depth < threshold:
            continue
        kept.append((depth, times, mean, np.abs(x[times, channel])))
    kept.sort(key=lambda item: -item[0])
    width_n = (width, x.shape[1])
    times = np.concatenate([np.zeros(0, np.int64), *(item[1] for item in kept)])
    labels = np.concatenate([np.zeros(0, np.int64), *(np.full(len(item[1]), u) for u, item in enumerate(kept))])
    amps = np.concatenate([np.zeros(0, np.float32), *(item[3] for item in kept)])
    order = np.argsort(times, kind="stable")
    return SpikeSort(
        times=times[order].astype(np.int64),
        labels=labels[order].astype(np.int64),
        unit_ids=np.arange(len(kept), dtype=np.int64),
        templates=np.stack([item[2] for item in kept]).astype(np.float32)
        if kept
        else np.zeros((0, *width_n), np.float32),
        amplitudes=amps[order].astype(np.float32),
        peak_index=before,
        sampling_rate=float(fs),
    )


def isi_violation_ratio(times, sampling_rate: float, duration_s: float, refractory_ms: float = REFRACTORY_MS) -> float:
    """Rate of refractory-period violations relative to the rate expected by chance (Hill et al. 2011).

    SpikeInterface's ``isi_violations_ratio`` with ``min_isi_ms = 0``: with ``n`` spikes in
    ``duration_s`` seconds and ``v`` inter-spike intervals under ``refractory_ms``,
    ``ratio = v * duration_s / (2 n^2 refractory_s)``. 0 for a clean unit; about 1 when the train is
    as often inside the refractory period as unrelated spikes would be.

    Parameters
    ----------
    times : array_like, shape (n,)
        Sorted spike times in samples.
    sampling_rate : float
        Hz.
    duration_s : float
        Length of the recording in seconds.
    refractory_ms : float
        Refractory period in milliseconds.

    Returns
    -------
    float

    Examples
    --------
    >>> isi_violation_ratio([0, 10, 1000, 2000], 15000.0, 10.0)  # one interval of 0.67 ms in 4 spikes
    208.33333333333334
    """
    t = np.asarray(times, dtype=np.float64)
    n = len(t)
    if n < 2:
        return 0.0
    violations = int((np.diff(t) / sampling_rate < refractory_ms / 1000.0).sum())
    return violations * duration_s / (2.0 * n * n * refractory_ms / 1000.0)


def unit_quality(sort: SpikeSort, filtered, noise, *, n_segments: int = 10) -> list[dict[str, Any]]:
    """Quality metrics of every unit of a sort.

    Parameters
    ----------
    sort : SpikeSort
    filtered : array_like, shape (T, N)
        The band-passed recording in the input's units (for waveforms in those units).
    noise : array_like, shape (N,)
        Noise standard deviation of each channel of ``filtered``.
    n_segments : int
        Equal time segments over which amplitude stability is measured.

    Returns
    -------
    list of dict
        One per unit: ``unit``, ``n_spikes``, ``firing_rate_hz``, ``best_channel`` (largest peak to peak
        of the mean waveform in ``filtered``), ``peak_to_peak`` (input units) and ``snr`` (largest
        absolute value of the mean waveform over the noise, on that channel: SpikeInterface's
        definition), ``isi_violations`` (intervals under 1.5 ms), ``isi_violation_ratio``
        (:func:`isi_violation_ratio`), ``amplitude_cv`` (standard deviation over mean of the spikes'
        peaks in noise units) and ``amplitude_drift`` (standard deviation of the median peak of each of
        ``n_segments`` time segments over the overall median: 0 for a stable unit).

    Examples
    --------
    >>> x = np.zeros((1000, 1), np.float32); x[[100, 400, 700], 0] = -5.0
    >>> sort = SpikeSort(np.array([100, 400, 700]), np.zeros(3, int), np.array([0]),
    ...                  np.zeros((1, 5, 1)), np.full(3, 5.0), 2, 1000.0)
    >>> q = unit_quality(sort, x, np.array([1.0]))[0]
    >>> q["n_spikes"], q["firing_rate_hz"], q["peak_to_peak"], q["snr"], q["isi_violation_ratio"]
    (3, 3.0, 5.0, 5.0, 0.0)
    """
    y = np.asarray(filtered)
    noise = np.asarray(noise, dtype=np.float64)
    t_len = len(y)
    duration = t_len / sort.sampling_rate
    width = sort.templates.shape[1]
    table = []
    for unit in sort.unit_ids.tolist():
        times = sort.train(unit)
        amps = sort.amplitudes[sort.labels == unit].astype(np.float64)
        snippets = waveforms(y, times, sort.peak_index, width)
        mean = snippets.mean(axis=0) if len(snippets) else np.zeros((width, y.shape[1]))
        ch = int(np.ptp(mean, axis=0).argmax())
        segment = np.minimum((times * n_segments) // max(t_len, 1), n_segments - 1)
        medians = np.array([np.median(amps[segment == s]) for s in range(n_segments) if (segment == s).any()])
        overall = float(np.median(amps)) if len(amps) else 0.0
        isis = np.diff(times) / sort.sampling_rate
        table.append(
            {
                "unit": int(unit),
                "n_spikes": len(times),
                "firing_rate_hz": len(times) / duration,
                "best_channel": ch,
                "peak_to_peak": float(np.ptp(mean[:, ch])),
                "snr": float(np.abs(mean[:, ch]).max() / noise[ch]),
                "isi_violations": int((isis < REFRACTORY_MS / 1000.0).sum()),
                "isi_violation_ratio": isi_violation_ratio(times, sort.sampling_rate, duration),
                "amplitude_cv": float(amps.std() / amps.mean()) if len(amps) and amps.mean() > 0 else 0.0,
                "amplitude_drift": float(medians.std() / overall) if overall > 0 else 0.0,
            }
        )
    return table
