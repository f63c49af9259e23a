"""Figures of binned screenome usage (matplotlib imported inside the functions, Agg canvas)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["plot_usage"]


def plot_usage(
    data,
    channels: Sequence[str],
    bin_starts=None,
    bin_seconds: float = 1.0,
    *,
    title: str | None = None,
    start_label: str | None = None,
    channel_label: str = "app",
    max_columns: int = 2000,
):
    """Heat map of seconds of use: apps on the y axis, time on the x axis.

    Parameters
    ----------
    data : array_like, shape (T, N)
        Seconds of use of each app per bin.
    channels : sequence of str, length N
        App (or category) names.
    bin_starts : array_like, shape (T,), optional
        Bin starts in seconds; the x axis shows hours since the first bin.
    bin_seconds : float
        Bin width in seconds (labels the colour bar).
    title : str, optional
    start_label : str, optional
        How to name the first bin on the x axis (e.g. its ISO time); default
        its start in seconds.
    channel_label : str
        Label of the y axis (``"app"`` or ``"category"``).
    max_columns : int
        Longer recordings are averaged over blocks of consecutive bins so the
        image has at most this many columns.

    Returns
    -------
    matplotlib.figure.Figure
        A figure on an Agg canvas (independent of the pyplot backend).

    Examples
    --------
    >>> fig = plot_usage(np.eye(3) * 5.0, ["a", "b", "c"], bin_seconds=5.0)
    >>> len(fig.axes)
    2
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = np.asarray(data, dtype=np.float64)
    n_bins, n_chan = data.shape
    block = max(1, int(np.ceil(n_bins / max_columns)))
    if block > 1:
        pad = (-n_bins) % block
        padded = np.concatenate([data, np.full((pad, n_chan), np.nan)]) if pad else data
        shown = np.nanmean(padded.reshape(-1, block, n_chan), axis=1)
    else:
        shown = data
    first = float(np.asarray(bin_starts)[0]) if bin_starts is not None and len(bin_starts) else 0.0
    span_h = n_bins * bin_seconds / 3600.0

    fig = Figure(figsize=(10, 1.2 + 0.3 * n_chan))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(
        shown.T,
        aspect="auto",
        interpolation="nearest",
        cmap="viridis",
        origin="upper",
        extent=(0.0, span_h, n_chan - 0.5, -0.5),
        vmin=0.0,
        vmax=max(float(bin_seconds), float(np.nanmax(shown)) if shown.size else 1.0),
    )
    ax.set_yticks(np.arange(n_chan))
    ax.set_yticklabels(list(channels))
    if start_label is None and bin_starts is not None:
        start_label = f"{first:g} s"
    ax.set_xlabel("hours since first bin" + (f" ({start_label})" if start_label else ""))
    ax.set_ylabel(channel_label)
    if title:
        ax.set_title(title)
    label = f"seconds of use per {bin_seconds:g} s bin" + (f" (mean of {block} bins)" if block > 1 else "")
    fig.colorbar(image, ax=ax, label=label)
    return fig
