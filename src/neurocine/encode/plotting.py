"""Figures of the encoding-model pipeline (behaviour features -> widefield maps / neural traces).

Ridge regression and an LSTM predict brain activity from behaviour
features; these figures show the fitted per-feature beta maps (optionally
beside the planted maps of a simulation), the cross-validated explained
variance per pixel, the unique / single-feature contributions, predicted
against actual traces, and the frame-rate comparison of ridge vs LSTM.

Every function imports matplotlib inside the function, draws on a
:class:`matplotlib.figure.Figure` with its own Agg canvas (independent of
the pyplot backend and of pyplot's list of open figures), returns it and
never saves or shows it; save it with ``fig.savefig`` or
``ResultFolder.save_figure``.

Explained variance is passed as a fraction (1.0 = everything); the bar
charts show it in percent. Arrays are time-first, ``(T, k)``;
maps are ``(h, w)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neurocine.errors import InputError
from neurocine.plotting.base import as_float_array, new_figure

__all__ = [
    "plot_maps",
    "plot_ev_map",
    "plot_ev_maps",
    "plot_contributions",
    "plot_traces",
    "plot_framerate_table",
]

MAX_MAP_COLUMNS = 4  # panels per row in plot_maps
MAX_TRACES = 8  # rows of axes in plot_traces

# --------------------------------------------------------------------------- helpers


def _float_array(name: str, value, ndims: tuple[int, ...], expected: str, *, allow_nan: bool) -> np.ndarray:
    arr = as_float_array(name, value, expected)
    if arr.ndim not in ndims:
        raise InputError(f"{name}: got shape {arr.shape}, expected {expected}")
    if arr.size == 0:
        raise InputError(f"{name}: got empty shape {arr.shape}, expected {expected}")
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        what = "infinite" if allow_nan else "non-finite (NaN or inf)"
        allowed = " (NaN marks a missing value)" if allow_nan else ""
        raise InputError(f"{name}: {int(bad.sum())} {what} value(s), expected finite numbers{allowed}")
    return arr


def _mask(mask, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` as a bool (h, w) array; None -> everything."""
    if mask is None:
        return np.ones(shape, dtype=bool)
    if hasattr(mask, "detach"):
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.shape != shape:
        raise InputError(f"mask: got shape {arr.shape}, expected {shape} like the maps")
    if arr.dtype != bool:
        if arr.dtype.kind not in "iuf" or not np.isin(arr, (0, 1)).all():
            raise InputError(f"mask: got dtype {arr.dtype} with values other than 0/1, expected a bool (h, w) array")
        arr = arr.astype(bool)
    if not arr.any():
        raise InputError(f"mask: got no True pixel in shape {shape}, expected at least one pixel inside the mask")
    return arr


def _names(name: str, value, n: int | None, expected: str) -> list[str]:
    if isinstance(value, (str, bytes)) or not isinstance(value, (Sequence, np.ndarray)):
        raise InputError(f"{name}: got {type(value).__name__}, expected {expected}")
    out = [str(v) for v in value]
    if n is not None and len(out) != n:
        raise InputError(f"{name}: got {len(out)} names, expected {n} ({expected})")
    if n is None and not out:
        raise InputError(f"{name}: got an empty sequence, expected {expected}")
    return out


def _masked_corr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson r of ``a`` and ``b`` over the mask pixels where both are finite (NaN if undefined)."""
    ok = mask & np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 2:
        return float("nan")
    x = a[ok] - a[ok].mean()
    y = b[ok] - b[ok].mean()
    denom = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denom) if denom > 0 else float("nan")


def _blank_outside(img: np.ndarray, mask: np.ndarray) -> np.ma.MaskedArray:
    return np.ma.masked_where(~mask | ~np.isfinite(img), img)


def _image_panel(fig, ax, img: np.ndarray, mask: np.ndarray, title: str, cmap: str, units: str):
    """A map with a symmetric colour scale (+- max|img| inside the mask) and its colour bar."""
    shown = _blank_outside(img, mask)
    lim = float(np.abs(shown).max()) if shown.count() else 0.0
    lim = lim if np.isfinite(lim) and lim > 0 else 1.0
    im = ax.imshow(shown, cmap=cmap, vmin=-lim, vmax=lim, interpolation="nearest")
    ax.set_title(title, fontsize="medium")
    ax.set_xticks([])
    ax.set_yticks([])
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label=units)
    return im


# --------------------------------------------------------------------------- maps


def plot_maps(maps, *, mask=None, truth=None, title=None, cmap: str = "RdBu_r", units: str = "dF/F per unit"):
    """One panel per map (e.g. the fitted beta map of each feature), optionally beside the planted maps.

    Panels fill a grid of at most four columns, in the order of ``maps``.
    Each panel has its own symmetric colour scale (``+- max|map|`` over the
    mask pixels), a colour bar and the map's name as title. Pixels outside
    ``mask`` (and NaN pixels) are blank.

    With ``truth``, each row of fitted maps ("estimated (fitted)") is followed by a row
    with the planted map below each fitted map that has one ("true (planted)"; the
    row is left out when none of its maps has one). The fitted panel's title then
    reads ``"<name>\\nr = 0.87"``: the Pearson correlation of fitted and
    planted map over the mask pixels where both are finite (``"r = n/a"``
    when undefined, e.g. a constant map).

    Parameters
    ----------
    maps : mapping str -> array_like, shape (h, w)
        Maps to draw; all the same shape, at least one. NaN allowed (blank).
    mask : array_like of bool, shape (h, w), optional
        Pixels to show (the brain); default every pixel.
    truth : mapping str -> array_like, shape (h, w), optional
        Planted maps, keyed like ``maps`` (any subset of its keys).
    title : str, optional
        Figure title.
    cmap : str
        A diverging colour map.
    units : str
        Colour-bar label.

    Returns
    -------
    matplotlib.figure.Figure
        The fitted panels in the order of ``maps``, then the planted panels,
        each followed in ``fig.axes`` by its colour-bar axes;
        ``[ax for ax in fig.axes if ax.images]`` gives the map panels.

    Examples
    --------
    >>> beta = np.outer(np.hanning(8), np.hanning(10))
    >>> fig = plot_maps({"whisk": beta, "lick": -beta}, truth={"whisk": 2 * beta})
    >>> [ax.get_title() for ax in fig.axes if ax.images]
    ['whisk\\nr = 1.00', 'lick', 'whisk (planted)']
    """
    if not isinstance(maps, Mapping):
        raise InputError(f"maps: got {type(maps).__name__}, expected a dict name -> (h, w) array")
    if not maps:
        raise InputError("maps: got an empty dict, expected at least one name -> (h, w) array")
    fitted: dict[str, np.ndarray] = {}
    shape: tuple[int, ...] | None = None
    for key, value in maps.items():
        arr = _float_array(f"maps[{key!r}]", value, (2,), "a 2-D (h, w) map", allow_nan=True)
        if shape is None:
            shape = arr.shape
        elif arr.shape != shape:
            raise InputError(f"maps[{key!r}]: got shape {arr.shape}, expected {shape} like the first map")
        fitted[str(key)] = arr
    assert shape is not None  # maps is not empty
    inside = _mask(mask, shape)

    planted: dict[str, np.ndarray] = {}
    if truth is not None:
        if not isinstance(truth, Mapping):
            raise InputError(f"truth: got {type(truth).__name__}, expected a dict name -> (h, w) planted map")
        for key, value in truth.items():
            if str(key) not in fitted:
                raise InputError(f"truth: got key {key!r}, expected one of the maps' keys {list(fitted)}")
            arr = _float_array(f"truth[{key!r}]", value, (2,), "a 2-D (h, w) map", allow_nan=True)
            if arr.shape != shape:
                raise InputError(f"truth[{key!r}]: got shape {arr.shape}, expected {shape} like the maps")
            planted[str(key)] = arr

    names = list(fitted)
    n_cols = min(MAX_MAP_COLUMNS, len(names))
    groups = [names[i : i + n_cols] for i in range(0, len(names), n_cols)]
    # grid rows: each group's fitted row, then its planted row when any of its maps has a planted one
    cells: list[tuple[int, int, str, bool]] = []  # (row, column, name, planted?)
    n_rows = 0
    for group in groups:
        cells += [(n_rows, col, name, False) for col, name in enumerate(group)]
        n_rows += 1
        if any(name in planted for name in group):
            cells += [(n_rows, col, name, True) for col, name in enumerate(group) if name in planted]
            n_rows += 1
    h, w = shape
    panel_h = 2.6 * min(1.6, max(0.6, h / max(w, 1)))
    fig = new_figure((3.4 * n_cols, panel_h * n_rows + (0.5 if title else 0.2)))

    first_in_row: set[int] = set()
    for row, col, name, is_planted in sorted(cells, key=lambda c: (c[3], c[0], c[1])):
        ax = fig.add_subplot(n_rows, n_cols, row * n_cols + col + 1)
        if is_planted:
            label = f"{name} (planted)"
            img = planted[name]
        elif name in planted:
            r = _masked_corr(fitted[name], planted[name], inside)
            label = f"{name}\nr = {r:.2f}" if np.isfinite(r) else f"{name}\nr = n/a"
            img = fitted[name]
        else:
            label, img = name, fitted[name]
        _image_panel(fig, ax, img, inside, label, cmap, units)
        if planted and row not in first_in_row:
            ax.set_ylabel("true (planted)" if is_planted else "estimated (fitted)")
        first_in_row.add(row)
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- explained variance map


def plot_ev_map(ev, *, mask=None, title: str | None = "cross-validated explained variance", vmax=None):
    """Explained variance per pixel, 0 to ``vmax`` in viridis, with its mean inside the mask in the title.

    Parameters
    ----------
    ev : array_like, shape (h, w)
        Explained variance as a fraction (may be negative: drawn as 0).
        NaN allowed (pixels not fitted): blank and left out of the mean.
    mask : array_like of bool, shape (h, w), optional
        Pixels to show and average; default every pixel.
    title : str, optional
        First title line; the second is ``"mean in mask = 0.123 (812 pixels)"``.
    vmax : float, optional
        Top of the colour scale; default the 99th percentile of ``ev``
        inside the mask, at least 1e-3.

    Returns
    -------
    matplotlib.figure.Figure
        The map axes, then its colour-bar axes.

    Examples
    --------
    >>> fig = plot_ev_map(np.full((4, 5), 0.25))
    >>> fig.axes[0].get_title().splitlines()[-1]
    'mean in mask = 0.250 (20 pixels)'
    """
    arr = _float_array("ev", ev, (2,), "a 2-D (h, w) map of explained variance", allow_nan=True)
    inside = _mask(mask, arr.shape)
    values = arr[inside & np.isfinite(arr)]
    if values.size == 0:
        raise InputError("ev: every value inside the mask is NaN, expected some finite explained variances")
    if vmax is None:
        top = max(float(np.percentile(values, 99)), 1e-3)
    else:
        try:
            top = float(vmax)
        except (TypeError, ValueError):
            top = float("nan")
        if not (np.isfinite(top) and top > 0):
            raise InputError(f"vmax: got {vmax!r}, expected a positive number (top of the colour scale)")
    mean = float(values.mean())

    h, w = arr.shape
    fig = new_figure((5.2, 0.9 + 4.2 * min(1.5, max(0.5, h / max(w, 1)))))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(_blank_outside(arr, inside), cmap="viridis", vmin=0.0, vmax=top, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    summary = f"mean in mask = {mean:.3f} ({values.size} pixels)"
    ax.set_title(f"{title}\n{summary}" if title else summary, fontsize="medium")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02, label="explained variance (fraction)", extend="both")
    return fig


def plot_ev_maps(maps, *, title: str | None = "cross-validated explained variance by session"):
    """Explained-variance maps side by side (one panel per session) on one 0 to ``vmax`` viridis scale.

    Parameters
    ----------
    maps : mapping str -> array_like, shape (h_i, w_i)
        EV map of each session (fractions; NaN outside the brain mask: blank). Shapes may differ.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes per map (titled with its name and mean EV), then the colour-bar axes.

    Examples
    --------
    >>> fig = plot_ev_maps({"a": np.full((4, 5), 0.2), "b": np.full((6, 6), 0.4)})
    >>> [ax.get_title() for ax in fig.axes[:2]]
    ['a\\nmean 0.200', 'b\\nmean 0.400']
    """
    if not isinstance(maps, Mapping) or not maps:
        raise InputError(f"maps: got {type(maps).__name__}; expected a non-empty mapping of name -> (h, w) EV map")
    arrays = {
        str(k): _float_array(f"maps[{k!r}]", v, (2,), "a 2-D (h, w) EV map", allow_nan=True) for k, v in maps.items()
    }
    finite = np.concatenate([a[np.isfinite(a)] for a in arrays.values()])
    top = max(float(np.percentile(finite, 99)), 1e-3) if finite.size else 1.0
    n = len(arrays)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig = new_figure((3.2 * cols + 0.8, 3.2 * rows + 0.6))
    im = None
    for i, (name, arr) in enumerate(arrays.items()):
        ax = fig.add_subplot(rows, cols, i + 1)
        im = ax.imshow(np.ma.masked_invalid(arr), cmap="viridis", vmin=0.0, vmax=top, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        values = arr[np.isfinite(arr)]
        ax.set_title(
            f"{name}\nmean {values.mean():.3f}" if values.size else f"{name}\nno fitted pixel", fontsize="medium"
        )
    fig.colorbar(im, ax=fig.axes, fraction=0.03, pad=0.02, label="explained variance (fraction)", extend="both")
    if title:
        fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------- contributions


def plot_contributions(names, unique, single, *, title=None, full_ev=None):
    """Each feature's unique contribution and its explained variance alone, as horizontal bars.

    Features are sorted by unique contribution, largest at the top (ties
    keep the input order). Each has two bars: "unique (shuffled out)" (the
    loss of explained variance when that feature is shuffled out of the full
    model) and "alone" (a model of that feature only). The x axis is in
    percent (bar widths are ``100 * value``).

    Parameters
    ----------
    names : sequence of str, shape (n,)
        Feature names.
    unique, single : array_like, shape (n,)
        Explained-variance fractions (slightly negative values are drawn to
        the left of the zero line).
    title : str, optional
        Axes title.
    full_ev : float, optional
        Explained variance of the full model: a dashed vertical line
        labelled "full model".

    Returns
    -------
    matplotlib.figure.Figure
        One axes; ``ax.containers[0]`` holds the unique bars and
        ``ax.containers[1]`` the single-feature bars, top feature first.

    Examples
    --------
    >>> fig = plot_contributions(["a", "b"], [0.01, 0.05], [0.10, 0.20], full_ev=0.3)
    >>> [t.get_text() for t in fig.axes[0].get_yticklabels()]  # top first
    ['b', 'a']
    """
    u = _float_array("unique", unique, (1,), "shape (n,), one explained-variance fraction per feature", allow_nan=False)
    n = u.size
    labels = _names("names", names, n, "one str per feature, as many as unique")
    s = _float_array(
        "single", single, (1,), f"shape ({n},), one explained-variance fraction per feature", allow_nan=False
    )
    if s.shape != (n,):
        raise InputError(f"single: got shape {s.shape}, expected ({n},) like unique")
    full = None
    if full_ev is not None:
        try:
            full = float(full_ev)
        except (TypeError, ValueError):
            full = float("nan")
        if not np.isfinite(full):
            raise InputError(f"full_ev: got {full_ev!r}, expected a finite explained-variance fraction")

    order = np.argsort(-u, kind="stable")  # largest unique first
    y = np.arange(n)[::-1].astype(float)  # ... drawn at the top
    height = 0.38
    fig = new_figure((6.5, 1.3 + 0.45 * n))
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(y + height / 2, 100.0 * u[order], height=height, color="tab:blue", label="unique (shuffled out)")
    ax.barh(y - height / 2, 100.0 * s[order], height=height, color="tab:orange", label="alone")
    ax.axvline(0.0, color="0.3", lw=0.8)
    if full is not None:
        ax.axvline(100.0 * full, color="k", ls="--", lw=1.2, label="full model", gid="full_model")
    ax.set_yticks(y)
    ax.set_yticklabels([labels[i] for i in order])
    ax.set_ylim(-0.7, n - 0.3)
    ax.set_xlabel("explained variance (%)")
    _finish_bar_axes(ax, title, "x")
    return fig


# --------------------------------------------------------------------------- traces


def plot_traces(times, actual, predictions, *, names=None, max_seconds: float | None = 60.0, title=None):
    """Actual traces (black) with each model's prediction overlaid, one row per trace.

    Parameters
    ----------
    times : array_like, shape (T,)
        Sample times in seconds, non-decreasing.
    actual : array_like, shape (T, k) or (T,)
        Measured activity (e.g. dF/F of k regions or components). Only the
        first 8 columns are drawn; the figure title then says so.
    predictions : mapping str -> array_like, same shape as ``actual``
        Model label (e.g. "ridge", "LSTM") -> prediction; NaN marks samples
        a model did not predict (not drawn).
    names : sequence of k str, optional
        Row labels (default "trace 0", "trace 1", ...).
    max_seconds : float or None
        Draw only samples with ``times <= times[0] + max_seconds``; None draws everything.
    title : str, optional
        Figure title.

    Returns
    -------
    matplotlib.figure.Figure
        ``min(k, 8)`` axes sharing x, top row first; in each, line 0 is the
        actual trace, then one line per prediction in the order of
        ``predictions``. The legend is on the top axes only.

    Examples
    --------
    >>> t = np.arange(0, 100, 0.5)
    >>> fig = plot_traces(t, np.sin(t), {"ridge": 0.9 * np.sin(t)}, max_seconds=10)
    >>> len(fig.axes), float(fig.axes[0].lines[0].get_xdata().max())
    (1, 10.0)
    """
    t = _float_array("times", times, (1,), "shape (T,), sample times in seconds", allow_nan=False)
    t_len = t.size
    if t_len > 1 and (np.diff(t) < 0).any():
        raise InputError("times: got decreasing values, expected non-decreasing sample times in seconds")
    y = _float_array("actual", actual, (1, 2), f"shape ({t_len}, k) or ({t_len},)", allow_nan=True)
    if y.shape[0] != t_len:
        raise InputError(f"actual: got shape {y.shape}, expected {t_len} rows (one per sample of times)")
    shape = y.shape
    if not isinstance(predictions, Mapping):
        raise InputError(
            f"predictions: got {type(predictions).__name__}, expected a dict label -> array of shape {shape}"
        )
    preds: dict[str, np.ndarray] = {}
    for key, value in predictions.items():
        arr = _float_array(f"predictions[{key!r}]", value, (1, 2), f"shape {shape} like actual", allow_nan=True)
        if arr.shape != shape:
            raise InputError(f"predictions[{key!r}]: got shape {arr.shape}, expected {shape} like actual")
        preds[str(key)] = arr.reshape(t_len, -1)
    y = y.reshape(t_len, -1)
    k = y.shape[1]
    labels = (
        _names("names", names, k, "one str per column of actual")
        if names is not None
        else [f"trace {j}" for j in range(k)]
    )
    if max_seconds is None:
        keep = np.ones(t_len, dtype=bool)
    else:
        try:
            span = float(max_seconds)
        except (TypeError, ValueError):
            span = float("nan")
        if not (np.isfinite(span) and span > 0):
            raise InputError(f"max_seconds: got {max_seconds!r}, expected a positive number of seconds or None")
        keep = t <= t[0] + span

    n_show = min(k, MAX_TRACES)
    fig = new_figure((10.0, 1.0 + 1.5 * n_show))
    axes = fig.subplots(n_show, 1, sharex=True, squeeze=False)[:, 0]
    colors = [f"C{i}" for i in range(10)]
    tt = t[keep]
    for j, ax in enumerate(axes):
        ax.plot(tt, y[keep, j], color="k", lw=1.0, label="actual")
        for i, (label, pred) in enumerate(preds.items()):
            ax.plot(tt, pred[keep, j], color=colors[i % len(colors)], lw=1.0, alpha=0.85, label=label)
        ax.set_ylabel(labels[j], rotation=0, ha="right", va="center")
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1].set_xlabel("time (s)")
    axes[0].legend(frameon=False, fontsize="small", loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=1 + len(preds))
    parts = [title] if title else []
    if k > MAX_TRACES:
        parts.append(f"first {MAX_TRACES} of {k} traces shown")
    if parts:
        fig.suptitle(" - ".join(parts))
    return fig


# --------------------------------------------------------------------------- frame-rate table


def plot_framerate_table(rows, columns, values, *, title=None):
    """Explained variance of each model (columns) at each frame rate (rows), as grouped bars.

    One group of bars per row, one bar per column (in the order given),
    heights in percent (``100 * value``), each labelled with its value in
    percent to one decimal above it (below it when negative). NaN values
    (not run) get an empty bar and no label.

    Parameters
    ----------
    rows : sequence of str, shape (n_rows,)
        Group names, e.g. ``["10 Hz", "15 Hz", "30 Hz", "interpolated"]``.
    columns : sequence of str, shape (n_cols,)
        Bar names, e.g. ``["LSTM small", "ridge small", "LSTM large", "ridge large"]``.
    values : array_like, shape (n_rows, n_cols)
        Explained variance as fractions; NaN = not run.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        One axes; ``ax.containers[j]`` holds the bars of column ``j``
        (one per row) and ``ax.texts`` the value labels.

    Examples
    --------
    >>> fig = plot_framerate_table(["10 Hz", "30 Hz"], ["LSTM", "ridge"], [[0.41, 0.35], [0.45, np.nan]])
    >>> [t.get_text() for t in fig.axes[0].texts]
    ['41.0', '45.0', '35.0']
    """
    row_names = _names("rows", rows, None, "a non-empty sequence of str, one per group (e.g. frame rate)")
    col_names = _names("columns", columns, None, "a non-empty sequence of str, one per bar (e.g. model)")
    n_rows, n_cols = len(row_names), len(col_names)
    v = _float_array("values", values, (2,), f"shape (n_rows, n_cols) = {(n_rows, n_cols)}", allow_nan=True)
    if v.shape != (n_rows, n_cols):
        raise InputError(f"values: got shape {v.shape}, expected (n_rows, n_cols) = {(n_rows, n_cols)}")

    width = 0.8 / n_cols
    x = np.arange(n_rows, dtype=float)
    fig = new_figure((max(5.0, 2.6 + n_rows * (0.45 * n_cols + 0.5)), 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for j, name in enumerate(col_names):
        pos = x + (j - (n_cols - 1) / 2) * width
        heights = 100.0 * v[:, j]
        ax.bar(pos, heights, width=width * 0.95, color=f"C{j % 10}", label=name)
        for xi, hi in zip(pos, heights):
            if np.isfinite(hi):
                ax.text(xi, hi, f"{hi:.1f}", ha="center", va="bottom" if hi >= 0 else "top", fontsize="x-small")
    finite = v[np.isfinite(v)]
    if finite.size:
        top = 100.0 * max(float(finite.max()), 0.0)
        bottom = 100.0 * min(float(finite.min()), 0.0)
        pad = 0.12 * max(top - bottom, 1.0)
        ax.set_ylim(bottom - (pad if bottom < 0 else 0.0), top + pad)
    ax.axhline(0.0, color="0.3", lw=0.8)
    ax.set_xticks(x)
    ax.set_xticklabels(row_names)
    ax.set_ylabel("explained variance (%)")
    _finish_bar_axes(ax, title, "y")
    return fig


def _finish_bar_axes(ax, title, grid_axis: str) -> None:
    """Title, a light grid along the value axis, no top/right spines, the legend outside on the right."""
    if title:
        ax.set_title(title)
    ax.grid(True, axis=grid_axis, color="0.9", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.legend(frameon=False, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
