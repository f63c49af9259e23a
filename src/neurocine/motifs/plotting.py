"""Figures for Conv-NMF motif discovery (the Neural Screenomics notebook).

All figure functions import matplotlib inside the function (never at module
import), return a :class:`matplotlib.figure.Figure` and never call
``plt.show()``; save them with ``fig.savefig`` or
``ResultFolder.save_figure``. Without a display (headless Linux, no
``MPLBACKEND``), the "Agg" backend is selected before pyplot is first
imported.

Array conventions follow the rest of neurocine: data and amplitudes are
time-first, ``(T, N)`` and ``(T, K)``; templates keep the notebook's
``(K, N, D)`` layout (unit, channel, lag).

Colours: unit ``k`` always gets ``unit_colors(K)[k]`` (the tab10 colours,
then their light tab20 tints, repeating after 20), so the same unit has the
same colour in every figure of a run.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence

import numpy as np

from neurocine.errors import InputError
from neurocine.plotting.base import as_float_array

__all__ = [
    "significant_channels",
    "unit_colors",
    "plot_model",
    "plot_log_likelihood",
    "plot_k_selection",
    "plot_ground_truth_comparison",
    "sequence_order",
    "plot_sequences",
    "plot_significance",
    "plot_behaviour_locking",
]

# gids set on the artists the figures add, so callers and tests can find them.
SPIKE_GID = "spike"  # one LineCollection per drawn spike (template segment over its channels)
SPIKE_TIME_GID = "spike_time"  # one rug of spike-time ticks per unit (top of the traces panel)
TEMPLATE_GID = "template"  # one LineCollection per unit in the templates panel
RECONSTRUCTION_GID = "reconstruction"  # one Line2D per channel


# --------------------------------------------------------------------------- helpers


def _pyplot():
    """Import pyplot, choosing "Agg" first when there is no display."""
    import matplotlib

    if "matplotlib.pyplot" not in sys.modules and not os.environ.get("MPLBACKEND"):
        headless = sys.platform.startswith("linux") and not (
            os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
        )
        if headless:
            matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _array(name: str, value, ndim: int, expected: str, *, allow_nan: bool = False) -> np.ndarray:
    arr = as_float_array(name, value, expected)
    if arr.ndim != ndim:
        raise InputError(f"{name}: got shape {arr.shape}, expected {expected}")
    if arr.size == 0:
        raise InputError(f"{name}: got empty shape {arr.shape}, expected {expected}")
    bad = ~np.isfinite(arr) if not allow_nan else np.isinf(arr)
    if bad.any():
        what = "infinite" if allow_nan else "non-finite (NaN or inf)"
        raise InputError(f"{name}: {int(bad.sum())} {what} value(s), expected finite numbers")
    return arr


def unit_colors(n_units: int) -> list[tuple[float, float, float, float]]:
    """One RGBA colour per unit from a qualitative palette.

    Units 0-9 get the tab10 colours, units 10-19 their light tints (the
    other half of tab20), and the 20 colours repeat beyond. Unit ``k`` gets
    the same colour whatever ``n_units`` is, so colours are stable across
    the figures of a run.

    Examples
    --------
    >>> cols = unit_colors(4)
    >>> len(cols), [round(c, 3) for c in cols[0][:3]]
    (4, [0.122, 0.467, 0.706])
    """
    from matplotlib import colormaps

    if isinstance(n_units, bool) or not isinstance(n_units, (int, np.integer)) or n_units < 0:
        raise InputError(f"n_units: got {n_units!r}, expected a non-negative integer")
    cmap = colormaps["tab20"]
    order = list(range(0, 20, 2)) + list(range(1, 20, 2))  # the ten tab10 hues, then their light tints
    rgba = (cmap(order[k % 20]) for k in range(int(n_units)))
    return [(float(r), float(g), float(b), float(a)) for r, g, b, a in rgba]


def _resolve_window(time_slice, t_len: int) -> tuple[int, int]:
    if time_slice is None:
        return 0, t_len
    if isinstance(time_slice, slice):
        if time_slice.step not in (None, 1):
            raise InputError(f"time_slice: got step {time_slice.step!r}, expected a contiguous slice (step 1)")
        start, stop, _ = time_slice.indices(t_len)
    else:
        try:
            start, stop = (int(v) for v in time_slice)
        except (TypeError, ValueError):
            raise InputError(
                f"time_slice: got {time_slice!r}, expected a slice or a (start, stop) pair of samples"
            ) from None
        start, stop, _ = slice(start, stop).indices(t_len)
    if stop <= start:
        raise InputError(
            f"time_slice: got {time_slice!r}, which selects no samples of the {t_len}; "
            f"expected start < stop within 0..{t_len}"
        )
    return start, stop


def _check_sampling_rate(sampling_rate) -> float | None:
    if sampling_rate is None:
        return None
    try:
        fs = float(sampling_rate)
    except (TypeError, ValueError):
        fs = float("nan")
    if not (np.isfinite(fs) and fs > 0):
        raise InputError(f"sampling_rate: got {sampling_rate!r}, expected a positive number of samples per second")
    return fs


def significant_channels(templates, quantile: float = 0.95) -> np.ndarray:
    """Channels on which each template is "significant" (the notebook's rule).

    The threshold is the ``quantile`` of ``|templates|`` over *all* entries
    (all units, channels and lags, linear interpolation as in
    ``torch.quantile``); channel ``n`` of unit ``k`` is significant when any
    ``|templates[k, n, :]|`` is strictly above it.

    Parameters
    ----------
    templates : array_like, shape (K, N, D)
        Unit ``k``'s waveform on channel ``n`` at lag ``d``.
    quantile : float in [0, 1]
        0.95 in the notebook.

    Returns
    -------
    ndarray of bool, shape (K, N)

    Examples
    --------
    >>> w = np.zeros((2, 3, 4)); w[0, 1, 2] = 1.0; w[1, 2, 0] = -2.0
    >>> significant_channels(w, quantile=0.9)
    array([[False,  True, False],
           [False, False,  True]])
    """
    w = _array("templates", templates, 3, "shape (K units, N channels, D lags)")
    try:
        q = float(quantile)
    except (TypeError, ValueError):
        q = float("nan")
    if not (0.0 <= q <= 1.0):
        raise InputError(f"quantile: got {quantile!r}, expected a number in [0, 1]")
    mag = np.abs(w)
    threshold = np.quantile(mag, q)
    return np.any(mag > threshold, axis=2)


def _display_channels(templates: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """Significant channels, with each unit that has none falling back to its peak channel."""
    out = channels.copy()
    peak = np.abs(templates).max(axis=2)  # (K, N)
    for k in np.flatnonzero(~out.any(axis=1)):
        if peak[k].max() > 0:
            out[k, int(np.argmax(peak[k]))] = True
    return out


def _reconstruct(templates: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """Model prediction ``pred[t, n] = sum_{k, d} a[t - d, k] W[k, n, d]``, shape (T, N)."""
    t_len = amplitudes.shape[0]
    _, n_ch, d_len = templates.shape
    pred = np.zeros((t_len, n_ch))
    for d in range(min(d_len, t_len)):
        pred[d:] += amplitudes[: t_len - d] @ templates[:, :, d]
    return pred


# --------------------------------------------------------------------------- plot_model


def plot_model(
    data,
    templates,
    amplitudes,
    *,
    sampling_rate=None,
    channel_names=None,
    time_slice=None,
    title=None,
    reconstruction=None,
    channels=None,
    quantile: float = 0.95,
    figsize=None,
):
    """Stacked channel traces with each spike's template drawn over them, plus the templates.

    Left (wide) panel: one row per channel (channel 0 on top), offset by
    ``scale = 1.05 * max|data|`` (over the shown window). For every spike
    (``amplitudes[t, k] > 0`` with ``t`` in the window) the scaled template
    ``amplitudes[t, k] * templates[k, n, :]`` is drawn at samples
    ``t .. t + D - 1`` over the significant channels ``n`` of unit ``k``, in
    the unit's colour (one ``LineCollection`` with gid ``"spike"`` per spike),
    and a tick in the unit's colour marks the spike time above the traces.
    The model reconstruction can be overlaid as a thin black line.
    Right (narrow) panel: every unit's template on the same channel rows, on
    its significant channels only, all scaled by one common factor (the
    largest shown template value fills 90 % of a row).

    Parameters
    ----------
    data : array_like, shape (T, N)
        The multichannel signal (NaN allowed: drawn as gaps).
    templates : array_like, shape (K, N, D)
    amplitudes : array_like, shape (T, K)
        Spike amplitudes; entries > 0 are spikes.
    sampling_rate : float, optional
        Samples per second; the time axes are then in seconds, else in samples.
    channel_names : sequence of N str, optional
        Row labels (default ``"ch 0"``, ``"ch 1"``, ...).
    time_slice : slice or (start, stop), optional
        Window of samples to show (default: everything). Spikes whose time
        falls in it are drawn; their segments are clipped at its end.
    title : str, optional
        Figure title.
    reconstruction : array_like (T, N), True or None, optional
        Model prediction to overlay; ``True`` computes it from
        ``templates`` and ``amplitudes`` (causal convolution, as the notebook).
    channels : array_like of bool, shape (K, N), optional
        Channels to draw each unit on; default
        ``significant_channels(templates, quantile)``. A unit with no such
        channel is drawn on its peak channel so its spikes stay visible.
    quantile : float
        Quantile for :func:`significant_channels`.
    figsize : (float, float), optional
        Inches; default ``(13, 1.2 + 0.42 * N)`` (at least 4 tall).

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: traces, templates.

    Examples
    --------
    >>> from neurocine.motifs.simulate import simulate_convnmf
    >>> sim = simulate_convnmf(7)
    >>> fig = plot_model(sim.data, sim.templates, sim.amplitudes, reconstruction=True)
    >>> len(fig.axes)
    2
    """
    x_data = _array("data", data, 2, "shape (T samples, N channels)", allow_nan=True)
    w = _array("templates", templates, 3, "shape (K units, N channels, D lags)")
    a = _array("amplitudes", amplitudes, 2, "shape (T samples, K units)")
    t_len, n_ch = x_data.shape
    n_units, _, d_len = w.shape
    if w.shape[1] != n_ch:
        raise InputError(
            f"templates: got {w.shape[1]} channels (shape {w.shape}), expected N = {n_ch} "
            f"channels as in data {x_data.shape}"
        )
    if a.shape[0] != t_len:
        raise InputError(
            f"amplitudes: got {a.shape[0]} samples (shape {a.shape}), expected T = {t_len} "
            f"samples as in data {x_data.shape}"
        )
    if a.shape[1] != n_units:
        raise InputError(
            f"amplitudes: got {a.shape[1]} units (shape {a.shape}), expected K = {n_units} "
            f"units as in templates {w.shape}"
        )
    fs = _check_sampling_rate(sampling_rate)
    start, stop = _resolve_window(time_slice, t_len)

    if channel_names is None:
        names = [f"ch {n}" for n in range(n_ch)]
    else:
        names = [str(c) for c in channel_names]
        if len(names) != n_ch:
            raise InputError(f"channel_names: got {len(names)} names, expected N = {n_ch} (one per data channel)")

    if channels is None:
        sig = significant_channels(w, quantile)
    else:
        sig = np.asarray(channels)
        if sig.shape != (n_units, n_ch):
            raise InputError(f"channels: got shape {sig.shape}, expected (K, N) = {(n_units, n_ch)}")
        sig = sig.astype(bool)
    shown = _display_channels(w, sig)

    recon = None
    if reconstruction is True:
        recon = _reconstruct(w, a)
    elif reconstruction is not None and reconstruction is not False:
        recon = _array("reconstruction", reconstruction, 2, f"shape (T, N) = {(t_len, n_ch)}", allow_nan=True)
        if recon.shape != (t_len, n_ch):
            raise InputError(f"reconstruction: got shape {recon.shape}, expected (T, N) = {(t_len, n_ch)} as data")

    window = x_data[start:stop]
    peak = np.nanmax(np.abs(window)) if np.isfinite(window).any() else np.nan
    if not np.isfinite(peak):
        raise InputError(f"data: every value in samples {start}..{stop} is NaN, expected some finite values")
    scale = 1.05 * peak if peak > 0 else 1.0
    offsets = -scale * np.arange(n_ch)

    unit_time = 1.0 / fs if fs else 1.0
    time_label = "time (s)" if fs else "time (samples)"
    lag_label = "lag (s)" if fs else "lag (samples)"
    times = np.arange(t_len) * unit_time
    colors = unit_colors(n_units)

    plt = _pyplot()
    from matplotlib.collections import LineCollection
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator
    from matplotlib.transforms import blended_transform_factory

    if figsize is None:
        figsize = (13.0, max(4.0, 1.2 + 0.42 * n_ch))
    fig, (ax, ax_w) = plt.subplots(
        1, 2, figsize=figsize, sharey=True, layout="constrained", gridspec_kw={"width_ratios": [5, 1]}
    )

    # traces
    tt = times[start:stop]
    trace_color = "0.55"
    for n in range(n_ch):
        ax.plot(tt, window[:, n] + offsets[n], color=trace_color, lw=0.8, zorder=1)
    if recon is not None:
        for n in range(n_ch):
            ax.plot(
                tt, recon[start:stop, n] + offsets[n], color="k", lw=0.7, alpha=0.75, zorder=1.5, gid=RECONSTRUCTION_GID
            )

    # spikes
    rug = blended_transform_factory(ax.transData, ax.transAxes)
    spike_counts = (a > 0).sum(axis=0)
    for k in range(n_units):
        chans = np.flatnonzero(shown[k])
        spike_t = np.flatnonzero(a[start:stop, k] > 0) + start
        for t in spike_t:
            end = min(t + d_len, stop)
            seg_t = times[t:end]
            segs = [np.column_stack([seg_t, offsets[n] + a[t, k] * w[k, n, : end - t]]) for n in chans]
            ax.add_collection(
                LineCollection(
                    segs,
                    colors=[colors[k]],
                    linewidths=2.0,
                    zorder=2,
                    gid=SPIKE_GID,
                    capstyle="round",
                    joinstyle="round",
                ),
                autolim=False,
            )
        if len(spike_t):
            ax.vlines(times[spike_t], 0.955, 0.995, transform=rug, colors=[colors[k]], lw=1.6, gid=SPIKE_TIME_GID)

    # leave head room above channel 0 for the spike-time rug
    top = offsets[0] + 0.5 * scale
    data_top = np.nanmax(window[:, 0]) if np.isfinite(window[:, 0]).any() else 0.0
    top = max(top, offsets[0] + data_top) + 0.22 * scale
    bottom = offsets[-1] + min(-0.5 * scale, np.nanmin(window[:, -1]) if np.isfinite(window[:, -1]).any() else 0.0)
    bottom -= 0.05 * scale
    ax.set_ylim(bottom, top)
    ax.set_xlim(times[start], times[stop - 1] + (unit_time if stop - start == 1 else 0))
    ax.set_yticks(offsets, names)
    ax.set_xlabel(time_label)
    ax.set_title("data and fitted spikes", loc="left", fontsize="medium")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)

    # templates panel
    lags = np.arange(d_len) * unit_time
    vis = np.abs(w)[shown]  # (rows, D) over all shown (unit, channel) pairs
    w_max = vis.max() if vis.size and vis.max() > 0 else 1.0
    factor = 0.9 * scale / w_max
    for k in range(n_units):
        chans = np.flatnonzero(shown[k])
        if len(chans):
            segs = [np.column_stack([lags, offsets[n] + factor * w[k, n]]) for n in chans]
            ax_w.add_collection(
                LineCollection(
                    segs, colors=[colors[k]], linewidths=2.0, gid=TEMPLATE_GID, capstyle="round", joinstyle="round"
                )
            )
    for n in range(n_ch):
        ax_w.axhline(offsets[n], color="0.85", lw=0.6, zorder=0)
    pad = 0.04 * max(lags[-1], unit_time)
    ax_w.set_xlim(-pad, lags[-1] + pad)
    if not fs:
        ax_w.xaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
    ax_w.set_xlabel(lag_label)
    ax_w.set_title("templates", loc="left", fontsize="medium")
    ax_w.tick_params(axis="y", left=False)
    for side in ("top", "right", "left"):
        ax_w.spines[side].set_visible(False)

    handles = [
        Line2D(
            [],
            [],
            color=colors[k],
            lw=2.5,
            label=f"unit {k} ({int(spike_counts[k])} spike{'s' if spike_counts[k] != 1 else ''})",
        )
        for k in range(n_units)
    ]
    if recon is not None:
        handles.append(Line2D([], [], color="k", lw=0.8, alpha=0.75, label="reconstruction"))
    handles.insert(0, Line2D([], [], color=trace_color, lw=1.0, label="data"))
    fig.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 7), frameon=False, fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- log-likelihood


def plot_log_likelihood(log_likelihoods, *, label=None, ax=None, figsize=(5.0, 3.5)):
    """Log-likelihood (per data entry) by iteration; iteration 0 is the initial value.

    Parameters
    ----------
    log_likelihoods : array_like, shape (n_iterations + 1,)
        As returned by the notebook's ``map_estimate_fast``
        (``lls[0]`` before the first update).
    label : str, optional
        Legend entry (a legend is drawn when any line of the axes has one).
    ax : matplotlib.axes.Axes, optional
        Draw into this axes (e.g. to overlay several fits); its figure is returned.
    figsize : (float, float)
        Inches, used only when ``ax`` is None.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = plot_log_likelihood([-3.1, -1.9, -1.52, -1.50, -1.50], label="K = 4")
    >>> fig.axes[0].lines[0].get_xdata().tolist()
    [0, 1, 2, 3, 4]
    """
    ll = _array("log_likelihoods", log_likelihoods, 1, "shape (n_iterations + 1,), iteration 0 = initial")
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator

    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
    else:
        fig = ax.figure
    iters = np.arange(ll.size)
    ax.plot(iters, ll, marker="o", ms=4, lw=1.5, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("iteration (0 = initial)")
    ax.set_ylabel("log-likelihood per entry")
    ax.grid(True, color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if any(not line.get_label().startswith("_") for line in ax.lines):
        ax.legend(frameon=False, fontsize="small")
    return fig


# --------------------------------------------------------------------------- K selection


def _per_k(name: str, value, n_k: int, *, sd_name: str = "sd", sd=None):
    """Mean and SD per K from a (n_K,) array (+ optional SD) or a (n_K, repeats) array."""
    arr = as_float_array(name, value, f"shape ({n_k},) or ({n_k}, repeats)")
    if arr.ndim not in (1, 2) or arr.shape[0] != n_k or arr.size == 0:
        raise InputError(f"{name}: got shape {arr.shape}, expected ({n_k},) or ({n_k}, repeats), one row per K")
    if np.isinf(arr).any():
        raise InputError(f"{name}: infinite values, expected finite numbers (NaN marks a missing value)")
    if arr.ndim == 2:
        if sd is not None:
            raise InputError(f"{sd_name}: given while {name} has repeats {arr.shape}; expected one or the other")
        counts = np.isfinite(arr).sum(axis=1)
        with np.errstate(all="ignore"):
            mean = np.where(counts > 0, np.nansum(arr, axis=1) / np.maximum(counts, 1), np.nan)
            dev = np.nansum((arr - mean[:, None]) ** 2, axis=1)
            spread: np.ndarray | None = np.where(counts > 1, np.sqrt(dev / np.maximum(counts - 1, 1)), np.nan)
        return mean, spread, arr
    spread = None
    if sd is not None:
        spread = as_float_array(sd_name, sd, f"shape ({n_k},)")
        if spread.shape != (n_k,):
            raise InputError(f"{sd_name}: got shape {spread.shape}, expected ({n_k},), one SD per K")
        if (spread[np.isfinite(spread)] < 0).any() or np.isinf(spread).any():
            raise InputError(f"{sd_name}: negative or infinite values, expected standard deviations >= 0")
    return arr, spread, None


def plot_k_selection(
    ks,
    heldout_r2,
    heldout_r2_sd=None,
    stability=None,
    stability_sd=None,
    recommended=None,
    train_r2=None,
    *,
    figsize=None,
):
    """Held-out R^2 and restart stability against the number of units K.

    Parameters
    ----------
    ks : sequence of int, shape (n_K,)
        Candidate numbers of units (distinct; plotted in increasing order).
    heldout_r2 : array_like, shape (n_K,) or (n_K, repeats)
        Held-out variance explained per K; with repeats (folds/restarts) the
        mean is plotted with a +-1 SD bar (sample SD) and the single values as dots.
    heldout_r2_sd : array_like, shape (n_K,), optional
        Error bar (one SD) for a 1-D ``heldout_r2``.
    stability : array_like, shape (n_K,) or (n_K, repeats), optional
        Similarity of the solutions across restarts (0..1). Without it the
        figure has one panel.
    stability_sd : array_like, shape (n_K,), optional
    recommended : int, optional
        The chosen K (must be one of ``ks``): a vertical dashed line on every panel.
    train_r2 : array_like, shape (n_K,) or (n_K, repeats), optional
        Training R^2, drawn dashed for comparison.
    figsize : (float, float), optional
        Default ``(9, 3.6)`` with stability, ``(5, 3.6)`` without.

    Returns
    -------
    matplotlib.figure.Figure
        Axes: R^2, then stability (when given).

    Examples
    --------
    >>> fig = plot_k_selection([1, 2, 3, 4, 5, 6], [0.2, 0.4, 0.6, 0.75, 0.74, 0.73],
    ...                        stability=[1.0, 0.95, 0.9, 0.88, 0.6, 0.5], recommended=4)
    >>> len(fig.axes)
    2
    """
    k_arr = _array("ks", ks, 1, "a 1-D sequence of integers (candidate numbers of units)")
    if not np.all(k_arr == np.round(k_arr)) or (k_arr < 0).any():
        raise InputError(f"ks: got {k_arr.tolist()}, expected non-negative integers")
    if len(np.unique(k_arr)) != k_arr.size:
        raise InputError(f"ks: got repeated values {k_arr.tolist()}, expected distinct numbers of units")
    n_k = k_arr.size
    order = np.argsort(k_arr)
    k_arr = k_arr[order].astype(int)

    r2, r2_sd, r2_all = _per_k("heldout_r2", heldout_r2, n_k, sd_name="heldout_r2_sd", sd=heldout_r2_sd)
    train = None
    if train_r2 is not None:
        train = _per_k("train_r2", train_r2, n_k)
    stab = None
    if stability is not None:
        stab = _per_k("stability", stability, n_k, sd_name="stability_sd", sd=stability_sd)
    elif stability_sd is not None:
        raise InputError("stability_sd: given without stability; expected both or neither")
    if recommended is not None:
        try:
            rec = float(recommended)
        except (TypeError, ValueError):
            rec = float("nan")
        if rec not in set(k_arr.tolist()):
            raise InputError(f"recommended: got {recommended!r}, expected one of ks {k_arr.tolist()}")
        recommended = int(rec)

    def sort(triple):
        mean, sd, allv = triple
        return mean[order], (None if sd is None else sd[order]), (None if allv is None else allv[order])

    plt = _pyplot()
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    n_panels = 2 if stab is not None else 1
    if figsize is None:
        figsize = (9.0, 3.6) if n_panels == 2 else (5.0, 3.6)
    fig, axes = plt.subplots(1, n_panels, figsize=figsize, layout="constrained", squeeze=False)
    axes = axes[0]

    def draw(ax, triple, color, label, ls="-", marker="o"):
        mean, sd, allv = sort(triple)
        if allv is not None:
            jitter = np.linspace(-0.08, 0.08, allv.shape[1]) if allv.shape[1] > 1 else np.zeros(1)
            ax.scatter(
                (k_arr[:, None] + jitter[None, :]).ravel(), allv.ravel(), s=9, color=color, alpha=0.35, lw=0, zorder=2
            )
        ax.errorbar(
            k_arr, mean, yerr=sd, color=color, ls=ls, marker=marker, ms=5, lw=1.6, capsize=3, label=label, zorder=3
        )

    ax = axes[0]
    draw(ax, (r2, r2_sd, r2_all), "tab:blue", "held-out")
    if train is not None:
        draw(ax, train, "0.45", "train", ls="--", marker="s")
    ax.set_ylabel("variance explained $R^2$")
    ax.set_title("fit vs number of units", loc="left", fontsize="medium")
    if stab is not None:
        ax2 = axes[1]
        draw(ax2, stab, "tab:green", "stability")
        ax2.set_ylim(-0.03, 1.05)
        ax2.set_ylabel("similarity across restarts")
        ax2.set_title("stability vs number of units", loc="left", fontsize="medium")
    for a in axes:
        a.set_xlabel("number of units K")
        if n_k <= 20:
            a.set_xticks(k_arr)
        else:
            a.xaxis.set_major_locator(MaxNLocator(integer=True))
        a.grid(True, color="0.9", lw=0.6)
        a.set_axisbelow(True)
        for side in ("top", "right"):
            a.spines[side].set_visible(False)
        if recommended is not None:
            a.axvline(recommended, color="tab:red", ls="--", lw=1.2, zorder=1, gid="recommended")
    handles, _ = axes[0].get_legend_handles_labels()
    if recommended is not None:
        handles.append(Line2D([], [], color="tab:red", ls="--", lw=1.2, label=f"recommended K = {recommended}"))
    if len(handles) > 1:
        axes[0].legend(handles=handles, frameon=False, fontsize="small", loc="best")
    return fig


# --------------------------------------------------------------------------- ground truth


def _as_assignment(assignment, k_true: int, k_est: int) -> dict[int, int | None]:
    if isinstance(assignment, Mapping):
        items = list(assignment.items())
    elif isinstance(assignment, (Sequence, np.ndarray)) and not isinstance(assignment, str):
        items = list(enumerate(assignment))
    else:
        raise InputError(
            f"assignment: got {type(assignment).__name__}, expected a dict true unit -> estimated unit or None"
        )
    out: dict[int, int | None] = dict.fromkeys(range(k_true))
    used: dict[int, int] = {}
    for key, val in items:
        try:
            kt = int(key)
        except (TypeError, ValueError):
            kt = -1
        if kt != key or not 0 <= kt < k_true:
            raise InputError(f"assignment: key {key!r} is not a true unit, expected integers in 0..{k_true - 1}")
        if val is None or (isinstance(val, (int, np.integer)) and not isinstance(val, bool) and val == -1):
            continue
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or not 0 <= val < k_est:
            raise InputError(
                f"assignment: true unit {kt} -> {val!r}, expected an estimated unit in 0..{k_est - 1} or None"
            )
        if int(val) in used:
            raise InputError(
                f"assignment: estimated unit {val} is matched to true units {used[int(val)]} and {kt}, "
                f"expected a one-to-one matching"
            )
        used[int(val)] = kt
        out[kt] = int(val)
    return out


def _as_f1(per_unit_f1, k_true: int) -> dict[int, float]:
    if per_unit_f1 is None:
        return {}
    if isinstance(per_unit_f1, Mapping):
        f1 = {}
        for key, val in per_unit_f1.items():
            if not isinstance(key, (int, np.integer)) or not 0 <= key < k_true:
                raise InputError(f"per_unit_f1: key {key!r} is not a true unit, expected integers in 0..{k_true - 1}")
            f1[int(key)] = float("nan") if val is None else float(val)
        return f1
    arr = as_float_array("per_unit_f1", per_unit_f1, f"shape ({k_true},)")
    if arr.shape != (k_true,):
        raise InputError(f"per_unit_f1: got shape {arr.shape}, expected ({k_true},), one F1 per true unit")
    return {k: float(v) for k, v in enumerate(arr)}


def plot_ground_truth_comparison(
    true_templates, est_templates, assignment, per_unit_f1=None, *, normalize: bool = True, figsize=None
):
    """Heat maps of true templates beside their matched estimates.

    One row per true unit (in order), then one row per estimated unit that
    no true unit is matched to. Left column: the true template (channels x
    lags), right column: the estimate matched to it, or "no match" (the columns are headed "true template"
    and "estimated template"). All
    maps share one symmetric diverging colour scale (``RdBu_r``, one colour
    bar). Each row's title names the pair, their cosine similarity (when the
    templates have the same shape) and the F1 of the spike matching if given.

    Parameters
    ----------
    true_templates : array_like, shape (K_true, N, D)
    est_templates : array_like, shape (K_est, N, D_est)
        Same channels N; the width ``D_est`` may differ.
    assignment : dict int -> int or None
        True unit -> matched estimated unit (None, or -1, for no match); a
        sequence indexed by true unit is accepted too. Missing keys mean no match.
    per_unit_f1 : dict int -> float or array_like (K_true,), optional
        Spike-detection F1 per true unit.
    normalize : bool
        Scale every template to unit Frobenius norm first (the model is only
        identified up to scale), so that shapes are compared.
    figsize : (float, float), optional
        Default ``(6.5, 0.6 + 1.7 * rows)``.

    Returns
    -------
    matplotlib.figure.Figure
        ``2 * rows`` heat-map axes (row-major: true, estimate) then the colour bar.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> w = rng.normal(size=(3, 5, 8))
    >>> fig = plot_ground_truth_comparison(w, w[[2, 0, 1]], {0: 1, 1: 2, 2: 0}, [0.9, 1.0, 0.8])
    >>> len(fig.axes)
    7
    """
    wt = _array("true_templates", true_templates, 3, "shape (K units, N channels, D lags)")
    we = _array("est_templates", est_templates, 3, "shape (K units, N channels, D lags)")
    if wt.shape[1] != we.shape[1]:
        raise InputError(
            f"est_templates: got {we.shape[1]} channels (shape {we.shape}), expected N = {wt.shape[1]} "
            f"as in true_templates {wt.shape}"
        )
    k_true, k_est = wt.shape[0], we.shape[0]
    match = _as_assignment(assignment, k_true, k_est)
    f1 = _as_f1(per_unit_f1, k_true)

    def norm(w):
        if not normalize:
            return w
        s = np.sqrt((w**2).sum(axis=(1, 2), keepdims=True))
        return w / np.where(s > 0, s, 1.0)

    wt_n, we_n = norm(wt), norm(we)
    matched_est = {v for v in match.values() if v is not None}
    rows = [(k, match[k]) for k in range(k_true)] + [(None, j) for j in range(k_est) if j not in matched_est]
    vmax = max(np.abs(wt_n).max(), np.abs(we_n).max())
    vmax = vmax if vmax > 0 else 1.0

    plt = _pyplot()
    n_rows = len(rows)
    if figsize is None:
        figsize = (6.5, 0.6 + 1.7 * n_rows)
    fig, axes = plt.subplots(n_rows, 2, figsize=figsize, layout="constrained", squeeze=False)
    colors_true, colors_est = unit_colors(k_true), unit_colors(k_est)
    image = None
    for r, (kt, je) in enumerate(rows):
        for c, (w, idx, _who, cols) in enumerate(((wt_n, kt, "true", colors_true), (we_n, je, "est.", colors_est))):
            ax = axes[r, c]
            if idx is None:
                ax.set_facecolor("0.96")
                ax.text(0.5, 0.5, "no match", ha="center", va="center", transform=ax.transAxes, color="0.4")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                continue
            image = ax.imshow(w[idx], aspect="auto", cmap="RdBu_r", vmin=-vmax, vmax=vmax, interpolation="nearest")
            ax.set_ylabel("channel", fontsize="small")
            ax.tick_params(labelsize="x-small")
            for spine in ax.spines.values():
                spine.set_edgecolor(cols[idx])
                spine.set_linewidth(2.0)
            if r == n_rows - 1 or (r + 1 < n_rows and rows[r + 1][c] is None):
                ax.set_xlabel("lag (samples)", fontsize="small")
        parts = []
        parts.append(f"true {kt}" if kt is not None else "unmatched")
        parts[-1] += f" ↔ est. {je}" if je is not None else " (no estimate)"
        if kt is not None and je is not None and wt.shape[1:] == we.shape[1:]:
            a_, b_ = wt[kt].ravel(), we[je].ravel()
            den = np.linalg.norm(a_) * np.linalg.norm(b_)
            if den > 0:
                parts.append(f"cos = {float(a_ @ b_ / den):.2f}")
        if kt is not None and kt in f1 and np.isfinite(f1[kt]):
            parts.append(f"F1 = {f1[kt]:.2f}")
        axes[r, 0].set_title(",  ".join(parts), loc="left", fontsize="small")
    for c, header in enumerate(("true template", "estimated template")):
        axes[0, c].annotate(
            header,
            xy=(0.5, 1.0),
            xycoords="axes fraction",
            xytext=(0, 18),
            textcoords="offset points",
            ha="center",
            va="bottom",
            fontweight="bold",
        )
    # K_true >= 1, so at least one heat map was drawn
    fig.colorbar(image, ax=axes, shrink=0.6, label="template value" + (" (unit norm)" if normalize else ""))
    return fig


# --------------------------------------------------------------------------- seqNMF-style figures


def sequence_order(templates) -> np.ndarray:
    """Channel order that turns sequences into diagonals (seqNMF's sorted display).

    Each channel is assigned to the unit and lag where its template weight peaks
    (``argmax`` over units and lags of ``templates[:, n, :]``) and channels are sorted by
    (unit, lag): the channels of unit 0 first, in the order they fire in its sequence.
    Channels with no weight anywhere go last.

    Parameters
    ----------
    templates : array_like, shape (K, N, D)

    Returns
    -------
    ndarray of int, shape (N,)
        A permutation of the channels: ``data[:, order]`` is the sorted data.

    Examples
    --------
    >>> w = np.zeros((2, 4, 3))
    >>> w[0, 2, 0] = w[0, 0, 2] = 1.0       # unit 0: channel 2, then channel 0
    >>> w[1, 3, 1] = 1.0                    # unit 1: channel 3
    >>> sequence_order(w).tolist()
    [2, 0, 3, 1]
    """
    w = _array("templates", templates, 3, "shape (K units, N channels, D lags)")
    k_units, n_ch, d_len = w.shape
    flat = w.transpose(1, 0, 2).reshape(n_ch, k_units * d_len)
    unit, lag = np.divmod(flat.argmax(axis=1), d_len)
    unit = np.where(flat.max(axis=1) > 0, unit, k_units)  # silent channels last
    return np.lexsort((lag, unit))


def plot_sequences(
    data,
    templates,
    amplitudes,
    *,
    sampling_rate=None,
    units=None,
    split: int | None = None,
    title: str | None = None,
    figsize=None,
):
    """seqNMF's view of a fit: sorted data heat map, the templates beside it, the unit events above.

    Channels are ordered by :func:`sequence_order`, so each unit's sequence is a diagonal both in its
    template (left) and, each time it plays, in the data (right). Above the data, each unit's
    amplitudes over time, in its colour (:func:`unit_colors`).

    Parameters
    ----------
    data : array_like, shape (T, N)
    templates : array_like, shape (K, N, D)
    amplitudes : array_like, shape (T, K)
        Events (> 0) of each unit.
    sampling_rate : float, optional
        Samples per second: time and lags in seconds, else in samples.
    units : sequence of int, optional
        Units drawn (default: those with at least one event, or all when none has).
    split : int, optional
        First held-out sample: a dashed line marks where the held-out part starts.
    title : str, optional
    figsize : (float, float), optional
        Inches; default ``(12, 2 + 0.06 * N)`` (at least 5 tall).

    Returns
    -------
    matplotlib.figure.Figure
        Three axes: events, templates, data.

    Examples
    --------
    >>> from neurocine.motifs.simulate import simulate_convnmf
    >>> sim = simulate_convnmf(7)
    >>> fig = plot_sequences(sim.data.clip(0), sim.templates.clip(0), sim.amplitudes, split=450)
    >>> len(fig.axes)
    3
    """
    x = _array("data", data, 2, "shape (T samples, N channels)")
    w = _array("templates", templates, 3, "shape (K units, N channels, D lags)")
    a = _array("amplitudes", amplitudes, 2, "shape (T samples, K units)")
    if w.shape[1] != x.shape[1] or a.shape != (x.shape[0], w.shape[0]):
        raise InputError(
            f"templates {w.shape} and amplitudes {a.shape}: expected (K, N, D) and (T, K) with data's (T, N) = {x.shape}"
        )
    fs = _check_sampling_rate(sampling_rate)
    k_units, n_ch, d_len = w.shape
    if units is None:
        units = [k for k in range(k_units) if (a[:, k] > 0).any()] or list(range(k_units))
    units = [int(k) for k in units]
    if not units or any(not 0 <= k < k_units for k in units):
        raise InputError(f"units: got {units!r}, expected unit indices in 0..{k_units - 1}")
    order = sequence_order(w[units])
    step = 1.0 / fs if fs else 1.0
    colors = unit_colors(k_units)

    plt = _pyplot()
    if figsize is None:
        figsize = (12.0, max(5.0, 2.0 + 0.06 * n_ch))
    fig = plt.figure(figsize=figsize, layout="constrained")
    grid = fig.add_gridspec(
        2, 2, width_ratios=[max(1, len(units)) * d_len, 3 * x.shape[0] // 4 + d_len], height_ratios=[1, 4]
    )
    ax_h = fig.add_subplot(grid[0, 1])
    ax_w = fig.add_subplot(grid[1, 0])
    ax_x = fig.add_subplot(grid[1, 1], sharex=ax_h, sharey=ax_w)
    top = float(np.quantile(x[x > 0], 0.99)) if (x > 0).any() else 1.0
    ax_x.imshow(
        x[:, order].T,
        aspect="auto",
        cmap="gray_r",
        interpolation="nearest",
        vmin=0,
        vmax=top,
        extent=(0, x.shape[0] * step, n_ch - 0.5, -0.5),
    )
    tiles = np.hstack([w[k][order] for k in units])
    ax_w.imshow(
        tiles,
        aspect="auto",
        cmap="gray_r",
        interpolation="nearest",
        vmin=0,
        vmax=max(float(tiles.max()), 1e-12),
        extent=(0, len(units) * d_len * step, n_ch - 0.5, -0.5),
    )
    for i, k in enumerate(units):
        ax_w.axvline(i * d_len * step, color=colors[k], lw=2)
        t = np.flatnonzero(a[:, k] > 0)
        ax_h.vlines(t * step, 0, a[t, k], color=colors[k], lw=1.5, label=f"unit {k}")
    ax_w.set_xticks([(i + 0.5) * d_len * step for i in range(len(units))], [str(k) for k in units])
    ax_w.set_xlabel("unit (templates)")
    ax_w.set_ylabel("channel, sorted by unit and lag of its peak")
    ax_x.set_xlabel("time (s)" if fs else "time (samples)")
    ax_x.tick_params(axis="y", left=False, labelleft=False)
    ax_h.set_ylabel("amplitude")
    ax_h.tick_params(axis="x", labelbottom=False)
    for side in ("top", "right"):
        ax_h.spines[side].set_visible(False)
    if split is not None:
        for ax in (ax_h, ax_x):
            ax.axvline(split * step, color="tab:red", ls="--", lw=1)
        ax_h.text(
            split * step,
            1.0,
            " held out",
            color="tab:red",
            transform=ax_h.get_xaxis_transform(),
            va="top",
            fontsize="small",
        )
    if title:
        fig.suptitle(title)
    return fig


def plot_significance(skewness, null_skewness, pvalues, *, alpha: float = 0.05, figsize=None):
    """seqNMF's held-out significance per unit: each template's skewness against its null templates'.

    Left: per unit, the distribution of the null templates' overlap skewness (a box: quartiles, whiskers
    at the 5th and 95th percentiles) and the unit's own (a dot, filled in the unit's colour when it is
    significant). Right: the p-values on a log axis with the Bonferroni threshold ``alpha / K``.

    Parameters
    ----------
    skewness : array_like, shape (K,)
        Observed skewness (NaN for an untestable unit); ``SignificanceTest.skewness``.
    null_skewness : array_like, shape (K, n_null)
        ``SignificanceTest.null_skewness``.
    pvalues : array_like, shape (K,)
    alpha : float, default 0.05
        Family-wise level; units with ``p < alpha / K`` are significant.
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: skewness, p-values.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> fig = plot_significance([3.0, 0.1], rng.normal(size=(2, 40)), [0.02, 0.6])
    >>> len(fig.axes)
    2
    """
    obs = _array("skewness", skewness, 1, "shape (K,)", allow_nan=True)
    null = _array("null_skewness", null_skewness, 2, "shape (K, n_null)", allow_nan=True)
    p = _array("pvalues", pvalues, 1, "shape (K,)")
    if null.shape[0] != obs.size or p.size != obs.size:
        raise InputError(
            f"null_skewness {null.shape}, pvalues {p.shape}: expected (K, n_null) and (K,), K = {obs.size}"
        )
    k_units = obs.size
    threshold = alpha / k_units
    colors = unit_colors(k_units)
    plt = _pyplot()
    fig, (ax_s, ax_p) = plt.subplots(
        1, 2, figsize=figsize or (max(6.0, 1.0 + 0.9 * k_units), 3.5), layout="constrained"
    )
    finite = [row[np.isfinite(row)] for row in null]
    ax_s.boxplot(
        [r if r.size else [np.nan] for r in finite],
        positions=range(k_units),
        whis=(5, 95),
        showfliers=False,
        widths=0.6,
    )
    sig = p < threshold
    for k in range(k_units):
        ax_s.plot(k, obs[k], "o", ms=8, mec=colors[k], mfc=colors[k] if sig[k] else "white", mew=2)
        ax_p.bar(k, p[k], color=colors[k] if sig[k] else "0.8")
    ax_s.set_xticks(range(k_units), [str(k) for k in range(k_units)])
    ax_s.set_xlabel("unit")
    ax_s.set_ylabel("skewness of the held-out overlap")
    ax_p.axhline(threshold, color="tab:red", ls="--", lw=1, label=f"alpha / K = {threshold:.3g}")
    ax_p.set_yscale("log")
    ax_p.set_xticks(range(k_units), [str(k) for k in range(k_units)])
    ax_p.set_xlabel("unit")
    ax_p.set_ylabel("p-value")
    ax_p.legend(frameon=False, fontsize="small")
    ax_p.set_title(f"{int(sig.sum())} of {k_units} significant", loc="left", fontsize="medium")
    for ax in (ax_s, ax_p):
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    return fig


def plot_behaviour_locking(locking, *, units=None, feature_label: str = "feature", figsize=None):
    """Event-triggered averages of a behaviour signal, one panel per unit, with the locking p-value.

    A multi-feature behaviour (a spectrogram) is drawn as an image (features up, lags across) of the
    average minus the behaviour's overall mean; a single trace as a line over its mean (dashed).

    Parameters
    ----------
    locking : BehaviourLocking
        The result of :func:`neurocine.motifs.behaviour.behaviour_locking`.
    units : sequence of int, optional
        Units drawn (default: those with events).
    feature_label : str, default "feature"
        Name of the behaviour's feature axis (e.g. "frequency bin").
    figsize : (float, float), optional

    Returns
    -------
    matplotlib.figure.Figure
        One axes per unit drawn.

    Examples
    --------
    >>> from neurocine.motifs.behaviour import behaviour_locking
    >>> rng = np.random.default_rng(0)
    >>> amps = np.zeros((300, 2)); amps[rng.choice(280, 10, replace=False)] = 1.0
    >>> res = behaviour_locking(amps, rng.normal(size=(3000, 4)), sampling_rate=10, behaviour_rate=100)
    >>> len(plot_behaviour_locking(res).axes)
    2
    """
    avg = np.asarray(locking.averages)
    k_units, _, n_feat = avg.shape
    if units is None:
        units = [k for k in range(k_units) if locking.n_events[k] > 0] or list(range(k_units))
    units = [int(k) for k in units]
    colors = unit_colors(k_units)
    lags = np.asarray(locking.lags)
    plt = _pyplot()
    cols = min(5, len(units))
    rows = -(-len(units) // cols)
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=figsize or (2.6 * cols, 2.3 * rows + 0.4),
        squeeze=False,
        sharex=True,
        sharey=True,
        layout="constrained",
    )
    dev = avg - np.asarray(locking.baseline)[None, None, :]
    lim = float(np.nanmax(np.abs(dev[units]))) if np.isfinite(dev[units]).any() else 1.0
    for ax, k in zip(axes.flat, units):
        if n_feat > 1:
            ax.imshow(
                dev[k].T,
                aspect="auto",
                origin="lower",
                cmap="RdBu_r",
                vmin=-lim,
                vmax=lim,
                extent=(lags[0], lags[-1], -0.5, n_feat - 0.5),
                interpolation="nearest",
            )
        else:
            ax.plot(lags, avg[k, :, 0], color=colors[k], lw=1.5)
            ax.axhline(float(locking.baseline[0]), color="0.5", ls="--", lw=1)
        ax.axvline(0, color="k", lw=0.8)
        mark = "*" if locking.pvalues[k] < locking.alpha else ""
        ax.set_title(
            f"unit {k}: p = {locking.pvalues[k]:.3g}{mark} (n = {locking.n_events[k]})",
            fontsize="small",
            color=colors[k],
        )
    for ax in axes.flat[len(units) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("time from event (s)")
    for ax in axes[:, 0]:
        ax.set_ylabel(feature_label if n_feat > 1 else "behaviour")
    return fig
