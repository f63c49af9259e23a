"""Figures of a spike sort (:func:`neurocine.motifs.sorting.sort_spikes`).

Each function returns a :class:`matplotlib.figure.Figure` (no pyplot state); unit ``u`` has the colour
``unit_colors(U)[u]`` in every figure, as in the other motif figures.
"""

from __future__ import annotations

import numpy as np

from neurocine.motifs.plotting import unit_colors
from neurocine.motifs.sorting import REFRACTORY_MS, SpikeSort, waveforms
from neurocine.plotting.base import new_figure

__all__ = ["plot_amplitudes_over_time", "plot_isi_histograms", "plot_marked_traces", "plot_unit_waveforms"]


def _grid(n: int, columns: int) -> tuple[int, int]:
    cols = max(1, min(columns, n))
    return max(1, -(-n // cols)), cols


def plot_unit_waveforms(sort: SpikeSort, filtered, *, channel_names=None, units: str = "ADC", n_examples: int = 30):
    """Each unit's mean waveform on every channel (rows: units, columns: channels), with example spikes.

    Parameters
    ----------
    sort : SpikeSort
    filtered : array_like, shape (T, N)
        The band-passed recording the waveforms are cut from (input units).
    channel_names : list of str, optional
    units : str
        Label of the y axis.
    n_examples : int
        Spikes drawn thin and light behind each mean.

    Returns
    -------
    matplotlib.figure.Figure
    """
    y = np.asarray(filtered)
    n_units, n_ch = max(sort.n_units, 1), y.shape[1]
    width = sort.templates.shape[1]
    names = channel_names or [f"ch{i}" for i in range(n_ch)]
    fig = new_figure((1.6 * n_ch + 1, 1.1 * n_units + 0.8))
    axes = fig.subplots(n_units, n_ch, sharex=True, sharey=True, squeeze=False)
    t_ms = (np.arange(width) - sort.peak_index) / sort.sampling_rate * 1000
    colors = unit_colors(sort.n_units)
    for u in sort.unit_ids.tolist():
        snippets = waveforms(y, sort.train(u), sort.peak_index, width)
        if len(snippets) == 0:
            continue
        mean = snippets.mean(axis=0)
        step = max(1, len(snippets) // n_examples)
        for c in range(n_ch):
            ax = axes[u, c]
            ax.plot(t_ms, snippets[::step, :, c].T, color=colors[u], lw=0.3, alpha=0.25)
            ax.plot(t_ms, mean[:, c], color="k", lw=1.2)
        axes[u, 0].set_ylabel(f"unit {u}\n({len(snippets)})", fontsize=8)
    for c in range(n_ch):
        axes[0, c].set_title(names[c], fontsize=9)
        axes[-1, c].set_xlabel("ms")
    fig.suptitle(f"mean waveform per unit and channel ({units}); spikes in the unit's colour", fontsize=9)
    return fig


def plot_amplitudes_over_time(sort: SpikeSort, duration_s: float | None = None):
    """Each spike's amplitude (noise units) against its time, one panel per unit: drift shows as a slope."""
    n = max(sort.n_units, 1)
    rows, cols = _grid(n, 3)
    fig = new_figure((3.4 * cols, 1.6 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, squeeze=False)).ravel()
    colors = unit_colors(sort.n_units)
    for u in sort.unit_ids.tolist():
        sel = sort.labels == u
        axes[u].plot(sort.times[sel] / sort.sampling_rate, sort.amplitudes[sel], ".", ms=2, color=colors[u])
        axes[u].set_title(f"unit {u}", fontsize=8)
        axes[u].set_ylim(bottom=0)
    for ax in axes[sort.n_units :]:
        ax.axis("off")
    if duration_s:
        axes[0].set_xlim(0, duration_s)
    fig.supxlabel("time (s)", fontsize=9)
    fig.supylabel("spike amplitude (noise units)", fontsize=9)
    return fig


def plot_isi_histograms(sort: SpikeSort, max_ms: float = 50.0):
    """Histogram of each unit's inter-spike intervals; the shaded band is the refractory period."""
    n = max(sort.n_units, 1)
    rows, cols = _grid(n, 4)
    fig = new_figure((2.6 * cols, 1.6 * rows + 0.6))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    colors = unit_colors(sort.n_units)
    bins = np.linspace(0, max_ms, 51)
    for u in sort.unit_ids.tolist():
        isi = np.diff(sort.train(u)) / sort.sampling_rate * 1000
        axes[u].hist(isi[isi < max_ms], bins=bins, color=colors[u])
        axes[u].axvspan(0, REFRACTORY_MS, color="red", alpha=0.2)
        axes[u].set_title(f"unit {u}", fontsize=8)
    for ax in axes[sort.n_units :]:
        ax.axis("off")
    fig.supxlabel("inter-spike interval (ms)", fontsize=9)
    fig.supylabel("count", fontsize=9)
    return fig


def plot_marked_traces(sort: SpikeSort, filtered, start: int, stop: int, *, channel_names=None, units: str = "ADC"):
    """A stretch of the band-passed recording, channels stacked, each spike marked in its unit's colour.

    Parameters
    ----------
    sort : SpikeSort
    filtered : array_like, shape (T, N)
    start, stop : int
        Samples shown.
    channel_names : list of str, optional
    units : str
        Units of the data (for the scale label).

    Returns
    -------
    matplotlib.figure.Figure
    """
    y = np.asarray(filtered)[start:stop]
    n_ch = y.shape[1]
    names = channel_names or [f"ch{i}" for i in range(n_ch)]
    spacing = float(np.percentile(np.ptp(y, axis=0), 90)) if len(y) else 1.0
    t = (np.arange(start, start + len(y))) / sort.sampling_rate
    fig = new_figure((10, 0.9 * n_ch + 1.4))
    ax = fig.subplots()
    for c in range(n_ch):
        ax.plot(t, y[:, c] - c * spacing, color="0.3", lw=0.5)
    colors = unit_colors(sort.n_units)
    inside = (sort.times >= start) & (sort.times < start + len(y))
    top = float(y.max()) if len(y) else 0.0
    for time, label in zip(sort.times[inside], sort.labels[inside]):
        ax.plot(time / sort.sampling_rate, top * 1.1, "v", color=colors[label], ms=5)
    ax.set_yticks([-c * spacing for c in range(n_ch)], names)
    ax.set_xlabel("time (s)")
    ax.set_title(f"band-passed recording ({units}); triangles: spikes, one colour per unit", fontsize=9)
    return fig
