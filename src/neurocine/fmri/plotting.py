"""Figures of the fMRI jobs: best-layer maps, per-voxel correlations with the noise ceiling, identification, retrieval.

Every function imports matplotlib inside, draws on a
:class:`matplotlib.figure.Figure` with its own Agg canvas (no pyplot state),
returns it and never saves or shows it. Voxel values are ``(V,)`` arrays;
positions ``(V, 2)`` integer (row, column) cells of a display grid; frames
``(n, H, W)`` (or ``(n, H, W, 3)``) in 0-255.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from neurocine.errors import InputError
from neurocine.plotting.base import as_float_array, grey_frame_grid, new_figure

__all__ = [
    "plot_frame_pairs",
    "plot_identification",
    "plot_layer_map",
    "plot_method_comparison",
    "plot_r_histogram",
    "plot_training_curves",
    "voxel_image",
]


def voxel_image(values, position=None, grid_shape=None) -> np.ndarray:
    """Per-voxel values on their display grid as a 2-D float image (NaN where there is no voxel).

    Without positions the voxels fill a near-square grid in their order.
    """
    v = as_float_array("values", values, "(V,) voxel values").astype(np.float64).ravel()
    if position is None:
        cols = int(np.ceil(np.sqrt(v.size * 1.25)))
        idx = np.arange(v.size)
        pos = np.stack([idx // cols, idx % cols], axis=1)
    else:
        pos = as_float_array("position", position, "(V, 2) grid cells").astype(np.int64)
        if pos.shape != (v.size, 2) or (pos < 0).any():
            raise InputError(f"position: got shape {pos.shape}; expected ({v.size}, 2) non-negative (row, column)")
    if grid_shape is None:
        shape: tuple[int, ...] = (int(pos[:, 0].max()) + 1, int(pos[:, 1].max()) + 1)
    else:
        shape = tuple(int(s) for s in grid_shape)
        if len(shape) != 2 or pos[:, 0].max() >= shape[0] or pos[:, 1].max() >= shape[1]:
            raise InputError(f"grid_shape: got {grid_shape!r}; expected (rows, columns) holding every position")
    img = np.full(shape, np.nan)
    img[pos[:, 0], pos[:, 1]] = v
    return img


def _layer_cmap(n: int):
    import matplotlib
    from matplotlib.colors import ListedColormap

    base = matplotlib.colormaps["viridis"]
    return ListedColormap([base(i / max(n - 1, 1)) for i in range(n)])


def plot_layer_map(
    best_layer,
    layer_names: Sequence[str],
    *,
    position=None,
    grid_shape=None,
    true_layer=None,
    title: str | None = "best CNN layer per voxel (training cross-validation)",
    label: str = "estimated layer",
):
    """The best-layer index of every voxel on its grid; with ``true_layer``, the truth and a confusion matrix beside it.

    Parameters
    ----------
    best_layer : array (V,) int
        Index into ``layer_names``.
    layer_names : sequence of str
    position : array (V, 2) int, optional
        Display cells (row, column); default a near-square grid in voxel order.
    grid_shape : (rows, cols), optional
    true_layer : array (V,) int, optional
        The planted layer (simulations).
    title : str or None
        The figure's title.
    label : str
        The title of the ``best_layer`` panel (``"true layer"`` where ``best_layer`` is the planted map itself).
    """
    names = [str(n) for n in layer_names]
    n = len(names)
    best = as_float_array("best_layer", best_layer, "(V,) layer indices").astype(np.int64).ravel()
    if best.size == 0 or best.min() < 0 or best.max() >= n:
        raise InputError(f"best_layer: expected indices in [0, {n}) for {n} layer names")
    truth = None
    if true_layer is not None:
        truth = as_float_array("true_layer", true_layer, "(V,) layer indices").astype(np.int64).ravel()
        if truth.shape != best.shape or truth.min() < 0 or truth.max() >= n:
            raise InputError(f"true_layer: got shape {truth.shape}; expected {best.shape} indices in [0, {n})")
    panels = 1 if truth is None else 3
    fig = new_figure((4.2 * panels + 0.6, 3.8))
    axes = np.atleast_1d(fig.subplots(1, panels))
    cmap = _layer_cmap(n)
    im = None
    shown = [(label, best)] + ([("true layer", truth)] if truth is not None else [])
    for ax, (panel, values) in zip(axes, shown):
        img = np.ma.masked_invalid(voxel_image(values, position, grid_shape))
        im = ax.imshow(img, cmap=cmap, vmin=-0.5, vmax=n - 0.5, interpolation="nearest", aspect="equal")
        ax.set_title(panel, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    cbar = fig.colorbar(im, ax=list(axes[: len(shown)]), ticks=range(n), shrink=0.85)
    cbar.ax.set_yticklabels(names, fontsize=7)
    if truth is not None:
        conf = np.zeros((n, n))
        np.add.at(conf, (truth, best), 1)
        rows = conf.sum(1, keepdims=True)
        share = np.divide(conf, rows, out=np.zeros_like(conf), where=rows > 0)
        ax = axes[2]
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (i, j), x in np.ndenumerate(share):
            if conf[i, j]:
                ax.text(j, i, f"{x:.2f}", ha="center", va="center", fontsize=7, color="w" if x > 0.5 else "k")
        ax.set_xticks(range(n), names, fontsize=7, rotation=45, ha="right")
        ax.set_yticks(range(n), names, fontsize=7)
        ax.set_xlabel("estimated")
        ax.set_ylabel("true")
        acc = float((best == truth).mean())
        ax.set_title(f"share of each true layer (accuracy {acc:.1%})", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_r_histogram(test_r, ceiling=None, *, title: str | None = "test-set correlation per voxel"):
    """Histogram of per-voxel test correlations (with the noise ceiling's histogram) and r against the ceiling."""
    r = as_float_array("test_r", test_r, "(V,) correlations").astype(np.float64).ravel()
    if r.size == 0:
        raise InputError("test_r: empty; expected one correlation per voxel")
    c = None
    if ceiling is not None:
        c = as_float_array("ceiling", ceiling, "(V,) ceilings").astype(np.float64).ravel()
        if c.shape != r.shape:
            raise InputError(f"ceiling: got shape {c.shape}; expected {r.shape} like test_r")
    panels = 1 if c is None else 2
    fig = new_figure((4.4 * panels, 3.4))
    axes = np.atleast_1d(fig.subplots(1, panels))
    fin = r[np.isfinite(r)]
    lo = min(-0.1, float(fin.min()) if fin.size else 0.0)
    bins = np.linspace(lo, 1.0, 41)
    ax = axes[0]
    ax.hist(fin, bins=bins, color="tab:blue", alpha=0.75, label=f"model r (median {np.median(fin):.2f})")
    if c is not None:
        cf = c[np.isfinite(c)]
        ax.hist(cf, bins=bins, histtype="step", color="k", lw=1.3, label=f"noise ceiling (median {np.median(cf):.2f})")
    ax.set_xlabel("correlation with the mean of the test repeats")
    ax.set_ylabel("voxels")
    ax.legend(fontsize=7, loc="upper left")
    if c is not None:
        ax = axes[1]
        ok = np.isfinite(c) & np.isfinite(r)
        ax.scatter(c[ok], r[ok], s=4, alpha=0.5, color="tab:blue", lw=0)
        ax.plot([0, 1], [0, 1], color="k", lw=0.8, ls="--")
        ax.set_xlim(min(0.0, float(c[ok].min(initial=0))), 1)
        ax.set_ylim(min(0.0, float(r[ok].min(initial=0))), 1)
        ax.set_xlabel("noise ceiling")
        ax.set_ylabel("model r")
        ax.set_title("model vs ceiling", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_identification(
    names: Sequence[str],
    accuracy,
    error=None,
    chance=None,
    *,
    title: str | None = "identification from decoded features",
):
    """Horizontal bars of identification accuracies with binomial error bars and chance marks."""
    labels = [str(n) for n in names]
    acc = as_float_array("accuracy", accuracy, "(k,) accuracies").astype(np.float64).ravel()
    if acc.size != len(labels) or acc.size == 0:
        raise InputError(f"accuracy: got {acc.size} values; expected {len(labels)} (one per name)")
    err = None if error is None else as_float_array("error", error, "(k,)").astype(np.float64).ravel()
    ch = None if chance is None else as_float_array("chance", chance, "(k,)").astype(np.float64).ravel()
    for what, arr in (("error", err), ("chance", ch)):
        if arr is not None and arr.size != acc.size:
            raise InputError(f"{what}: got {arr.size} values; expected {acc.size}")
    fig = new_figure((6.0, 0.45 * len(labels) + 1.3))
    ax = fig.subplots()
    y = np.arange(len(labels))
    ax.barh(
        y, np.nan_to_num(acc), xerr=None if err is None else np.nan_to_num(err), color="tab:blue", alpha=0.8, capsize=3
    )
    if ch is not None:
        ax.scatter(ch, y, marker="|", s=200, color="tab:red", label="chance", zorder=3)
        ax.legend(fontsize=7, loc="lower right")
    pad = np.zeros_like(acc) if err is None else np.nan_to_num(err)
    for yi, a, e in zip(y, acc, pad):
        if np.isfinite(a):
            ax.text(min(a + e, 1.0) + 0.015, yi, f"{a:.3f}", va="center", fontsize=7)
    ax.set_yticks(y, labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.15)
    ax.set_xlabel("accuracy")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _grey(frames: np.ndarray) -> np.ndarray:
    return frames.mean(-1) if frames.ndim == 4 else frames


def plot_frame_pairs(rows: dict, *, column_titles: Sequence[str] | None = None, title: str | None = None):
    """Rows of frames (e.g. ``{"truth": (n, H, W), "retrieved": (n, H, W)}``), the same columns in every row."""
    if not rows:
        raise InputError("rows: got none; expected a mapping of row name -> (n, H, W) frames")
    arrays = {}
    for name, frames in rows.items():
        arr = as_float_array(f"rows[{name!r}]", frames, "(n, H, W) frames")
        if arr.ndim not in (3, 4) or arr.shape[0] == 0:
            raise InputError(f"rows[{name!r}]: got shape {arr.shape}; expected (n, H, W) or (n, H, W, 3) frames")
        arrays[str(name)] = _grey(arr.astype(np.float64))
    n = {a.shape[0] for a in arrays.values()}
    if len(n) != 1:
        raise InputError(f"rows: got {sorted(n)} frames per row; expected the same number in every row")
    n_col = n.pop()
    if column_titles is not None and len(column_titles) != n_col:
        raise InputError(f"column_titles: got {len(column_titles)}; expected {n_col}")
    h, w = next(iter(arrays.values())).shape[1:3]
    fig = new_figure((1.45 * n_col * w / max(h, w) * 1.3 + 0.8, 1.35 * len(arrays) + 0.5))
    grey_frame_grid(fig, arrays, column_titles, title_fontsize=7, title=title)
    return fig


def plot_method_comparison(
    names: Sequence[str],
    scores: dict,
    chance=None,
    *,
    title: str | None = "deep path vs ridge on the same test scans",
    xlabel: str = "accuracy",
):
    """Grouped horizontal bars: one group per score, one bar per method, with error bars and chance marks.

    Parameters
    ----------
    names : sequence of str
        The scores (k of them), e.g. ``["pairwise (GOD rule)", "50-way top-1"]``.
    scores : dict of str to (values, errors)
        Per method (e.g. ``{"ridge": ..., "deep": ...}``) ``(k,)`` values and ``(k,)`` errors (or None);
        NaN values are left out.
    chance : array (k,), optional
        Chance level of each score (NaN: none).
    """
    labels = [str(n) for n in names]
    k = len(labels)
    if k == 0 or not scores:
        raise InputError("names/scores: got none; expected at least one score and one method")
    methods = list(scores)
    vals, errs = {}, {}
    for m in methods:
        entry = scores[m]
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise InputError(f"scores[{m!r}]: got {type(entry).__name__}; expected a pair (values, errors)")
        v = as_float_array(f"scores[{m!r}] values", entry[0], "(k,) values").astype(np.float64).ravel()
        e = (
            None
            if entry[1] is None
            else as_float_array(f"scores[{m!r}] errors", entry[1], "(k,)").astype(np.float64).ravel()
        )
        if v.size != k or (e is not None and e.size != k):
            raise InputError(f"scores[{m!r}]: got {v.size} values; expected {k} (one per name)")
        vals[m], errs[m] = v, e
    ch = None if chance is None else as_float_array("chance", chance, "(k,)").astype(np.float64).ravel()
    if ch is not None and ch.size != k:
        raise InputError(f"chance: got {ch.size} values; expected {k}")
    fig = new_figure((6.4, 0.32 * k * len(methods) + 0.35 * k + 1.3))
    ax = fig.subplots()
    height = 0.8 / len(methods)
    colours = ["tab:grey", "tab:blue", "tab:orange", "tab:green", "tab:purple"]
    top = 0.0
    for j, m in enumerate(methods):
        y = np.arange(k) + (j - (len(methods) - 1) / 2) * height
        v = vals[m]
        err = errs[m]
        e = np.zeros(k) if err is None else np.nan_to_num(err)
        ok = np.isfinite(v)
        ax.barh(
            y[ok],
            v[ok],
            height=height * 0.92,
            xerr=e[ok],
            color=colours[j % len(colours)],
            alpha=0.85,
            capsize=2,
            label=m,
        )
        for yi, a, ei in zip(y[ok], v[ok], e[ok]):
            ax.text(a + ei + 0.01 * max(1.0, np.nanmax(np.abs(v[ok]))), yi, f"{a:.3f}", va="center", fontsize=6)
        if ok.any():
            top = max(top, float(np.nanmax(v[ok] + e[ok])))
    if ch is not None and np.isfinite(ch).any():
        good = np.isfinite(ch)
        ax.scatter(ch[good], np.arange(k)[good], marker="|", s=300, color="tab:red", label="chance", zorder=3)
    ax.set_yticks(np.arange(k), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(min(0.0, ax.get_xlim()[0]), max(1.0, top) * 1.15)
    ax.set_xlabel(xlabel)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_training_curves(histories: dict, *, title: str | None = "training of the deep models"):
    """One panel per model: training and validation loss per epoch (``history_`` of the torch estimators).

    Parameters
    ----------
    histories : dict of str to dict
        Model name -> ``{"loss": [...], "val_loss": [...]}``; the best (lowest) validation epoch is marked.
    """
    if not histories:
        raise InputError("histories: got none; expected a mapping of model name -> history")
    n = len(histories)
    cols = min(3, n)
    rows = -(-n // cols)
    fig = new_figure((3.2 * cols, 2.3 * rows + 0.4))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, (name, hist) in zip(axes, histories.items()):
        if not isinstance(hist, dict) or "loss" not in hist:
            raise InputError(f"histories[{name!r}]: got {type(hist).__name__}; expected a dict with 'loss'")
        for key, colour in (("loss", "tab:blue"), ("val_loss", "tab:orange")):
            v = np.asarray(hist.get(key, []), dtype=np.float64)
            if v.size:
                ax.plot(np.arange(1, v.size + 1), v, color=colour, lw=1.2, label=key.replace("_", " "))
        val = np.asarray(hist.get("val_loss", []), dtype=np.float64)
        if val.size and np.isfinite(val).any():
            best = int(np.nanargmin(val))
            ax.axvline(best + 1, color="grey", lw=0.8, ls=":")
        ax.set_title(str(name), fontsize=8)
        ax.set_xlabel("epoch", fontsize=7)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=6)
    for ax in axes[n:]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig
