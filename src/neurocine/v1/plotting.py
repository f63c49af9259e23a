"""Figures and movies of video reconstruction from neural activity (Bauer, Margrie & Clopath 2025).

A reconstruction is judged by eye as much as by numbers: ground truth and
reconstruction side by side as a movie, strips of frames, the frame-by-frame
correlation, error maps (reconstruction from recorded activity minus
reconstruction from the activity the model predicts for the true video), the
transparency mask, receptive fields and the correlation tables of the noise
and grating suites.

Videos are time-first ``(T, H, W)`` in 0-255 pixel units; masks ``(H, W)``
bool. Every figure function draws on its own Agg canvas (no pyplot state),
returns the :class:`matplotlib.figure.Figure` and never saves or shows it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from neurocine.errors import InputError
from neurocine.plotting.base import as_float_array, grey_frame_grid, new_figure

__all__ = [
    "comparison_frames",
    "plot_frame_strip",
    "plot_correlation_curves",
    "plot_error_maps",
    "plot_alpha_mask",
    "plot_receptive_fields",
    "plot_table",
    "plot_lines",
    "plot_ethogram",
    "plot_rf_centers",
    "plot_noise_suite",
]

_OUTSIDE_DIM = 0.35  # brightness kept outside the evaluation mask in comparison movies


def _video(name: str, value) -> np.ndarray:
    arr = as_float_array(name, value, "a (T, H, W) video")
    if arr.ndim != 3 or min(arr.shape) == 0:
        raise InputError(f"{name}: got shape {arr.shape}, expected a non-empty (T, H, W) video")
    return arr


def _frame_mask(mask, shape: tuple[int, int], name: str = "mask") -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask, dtype=bool)
    if m.shape != shape:
        raise InputError(f"{name}: got shape {m.shape}, expected {shape} like one video frame")
    return m


def _videos(videos: Mapping[str, object]) -> dict[str, np.ndarray]:
    if not videos:
        raise InputError("videos: got none, expected a mapping of row name -> (T, H, W) video")
    out = {str(k): _video(f"videos[{k!r}]", v) for k, v in videos.items()}
    shapes = {v.shape for v in out.values()}
    if len(shapes) != 1:
        raise InputError(f"videos: got shapes {sorted(shapes)}, expected every video with the same (T, H, W)")
    return out


def comparison_frames(truth, reconstruction, *, mask=None, scale: int = 4, gap: int = 2) -> np.ndarray:
    """Ground truth (left) and reconstruction (right) side by side, as uint8 frames for a movie.

    Parameters
    ----------
    truth, reconstruction : array (T, H, W), 0-255
    mask : bool array (H, W), optional
        Evaluation mask; pixels outside are dimmed in both halves.
    scale : int
        Nearest-neighbour upscaling (Sensorium frames are 36 x 64).
    gap : int
        White columns between the halves (before scaling).

    Returns
    -------
    uint8 array (T, H * scale, (2 W + gap) * scale)
        Even height and width when ``scale`` is even (what H.264 needs).
    """
    truth, recon = _video("truth", truth), _video("reconstruction", reconstruction)
    if truth.shape != recon.shape:
        raise InputError(f"reconstruction: got shape {recon.shape}, expected the truth's {truth.shape}")
    if int(scale) < 1 or int(gap) < 0:
        raise InputError(f"scale, gap: got {scale}, {gap}; expected scale >= 1 and gap >= 0")
    m = _frame_mask(mask, truth.shape[1:])
    t, h, w = truth.shape
    halves = []
    for v in (truth, recon):
        v = np.clip(v, 0, 255)
        if m is not None:
            v = np.where(m, v, v * _OUTSIDE_DIM)
        halves.append(v)
    frames = np.concatenate([halves[0], np.full((t, h, int(gap)), 255.0), halves[1]], axis=2)
    frames = np.repeat(np.repeat(frames, int(scale), axis=1), int(scale), axis=2)
    return np.round(frames).astype(np.uint8)


def _frame_indices(n_frames: int, frames, n_show: int, skip: int) -> list[int]:
    if frames is not None:
        idx = [int(f) for f in frames]
        bad = [f for f in idx if not 0 <= f < n_frames]
        if bad:
            raise InputError(f"frames: got {bad}, expected indices in [0, {n_frames})")
        return idx
    start = min(max(int(skip), 0), n_frames - 1)
    return [int(round(x)) for x in np.linspace(start, n_frames - 1, min(n_show, n_frames - start))]


def plot_frame_strip(
    videos: Mapping[str, object],
    *,
    frames: Sequence[int] | None = None,
    n_frames: int = 8,
    skip: int = 30,
    mask=None,
    fps: float = 30.0,
    title: str | None = None,
):
    """Rows of frames: one row per video (ground truth, reconstruction, ...), the same frames in every row.

    Parameters
    ----------
    videos : mapping of str to array (T, H, W)
        Row label -> video, 0-255 (shown on a fixed 0-255 grey scale).
    frames : sequence of int, optional
        Frame indices; default ``n_frames`` evenly spaced from ``skip`` to the end.
    mask : bool array (H, W), optional
        Drawn as a contour on every frame.
    """
    vids = _videos(videos)
    t, h, w = next(iter(vids.values())).shape
    m = _frame_mask(mask, (h, w))
    idx = _frame_indices(t, frames, n_frames, skip)
    fig = new_figure((1.6 * len(idx) + 0.8, 1.1 * len(vids) + 0.6))
    rows = {label: [v[f] for f in idx] for label, v in vids.items()}
    grey_frame_grid(fig, rows, [f"{f / fps:.2f} s" for f in idx], mask=m, title=title)
    return fig


def plot_correlation_curves(
    curves: Mapping[str, object],
    *,
    fps: float = 30.0,
    skip: int = 30,
    title: str | None = "frame-by-frame correlation with the ground truth",
):
    """Per-frame Pearson correlation curves (one line per named curve); frames before ``skip`` shaded."""
    if not curves:
        raise InputError("curves: got none, expected a mapping of name -> (T,) correlations")
    fig = new_figure((7, 3))
    ax = fig.subplots()
    n = 0
    for name, values in curves.items():
        y = as_float_array(f"curves[{name!r}]", values, "a (T,) curve").ravel()
        n = max(n, y.size)
        ax.plot(np.arange(y.size) / fps, y, lw=1.2, label=str(name))
    if skip > 0:
        ax.axvspan(0, min(skip, n) / fps, color="0.9", zorder=0, label=f"first {skip} frames (not scored)")
    ax.axhline(0, color="0.5", lw=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Pearson r")
    ax.set_ylim(-1, 1)
    ax.legend(fontsize=7, loc="lower right")
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_error_maps(
    truth,
    error,
    *,
    frames: Sequence[int] | None = None,
    n_frames: int = 6,
    skip: int = 30,
    mask=None,
    fps: float = 30.0,
    vmax: float | None = None,
    title: str | None = "error map: recon from recorded - recon from predicted",
):
    """The ground truth in grey with the pixel error as a hot (over) / cold (under) overlay.

    Parameters
    ----------
    truth : array (T, H, W), 0-255
    error : array (T, H, W)
        Reconstruction from recorded activity minus reconstruction from predicted activity.
    vmax : float, optional
        Colour limit of the error (default the 99th percentile of ``|error|``).
    """
    truth, error = _video("truth", truth), _video("error", error)
    if truth.shape != error.shape:
        raise InputError(f"error: got shape {error.shape}, expected the truth's {truth.shape}")
    m = _frame_mask(mask, truth.shape[1:])
    idx = _frame_indices(truth.shape[0], frames, n_frames, skip)
    shown = error[:, m] if m is not None else error
    lim = float(vmax) if vmax is not None else float(np.percentile(np.abs(shown), 99)) or 1.0
    fig = new_figure((1.8 * len(idx) + 1.0, 1.9))
    axes = fig.subplots(1, len(idx), squeeze=False)[0]
    image = None
    for ax, f in zip(axes, idx):
        ax.imshow(truth[f], cmap="gray", vmin=0, vmax=255, interpolation="nearest")
        e = np.ma.masked_where(~m, error[f]) if m is not None else error[f]
        image = ax.imshow(e, cmap="RdBu_r", vmin=-lim, vmax=lim, alpha=0.6, interpolation="nearest")
        ax.set_title(f"{f / fps:.2f} s", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(image, ax=list(axes), shrink=0.8, label="pixel error")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_alpha_mask(
    alpha,
    *,
    update_threshold: float = 0.5,
    evaluation_threshold: float = 1.0,
    population_rf=None,
    title: str | None = "transparency mask",
):
    """The learned alpha map with the update (alpha >= 0.5) and evaluation (alpha >= 1) contours."""
    a = as_float_array("alpha", alpha, "an (H, W) alpha map")
    if a.ndim != 2:
        raise InputError(f"alpha: got shape {a.shape}, expected an (H, W) alpha map")
    panels = 1 if population_rf is None else 2
    fig = new_figure((4.2 * panels, 2.8))
    axes = fig.subplots(1, panels, squeeze=False)[0]
    im = axes[0].imshow(a, cmap="magma", interpolation="nearest")
    for level, style in ((update_threshold, "--"), (evaluation_threshold, "-")):
        if a.min() < level < a.max():
            axes[0].contour(a, levels=[level], colors="cyan", linestyles=style, linewidths=1)
    axes[0].set_title(
        f"alpha (dashed >= {update_threshold:g}: update, solid >= {evaluation_threshold:g}: evaluation)", fontsize=8
    )
    fig.colorbar(im, ax=axes[0], shrink=0.8)
    if population_rf is not None:
        p = as_float_array("population_rf", population_rf, "an (H, W) map")
        im2 = axes[1].imshow(p, cmap="viridis", interpolation="nearest")
        axes[1].set_title("population receptive field", fontsize=8)
        fig.colorbar(im2, ax=axes[1], shrink=0.8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_receptive_fields(
    on,
    off,
    *,
    neurons: Sequence[int] | None = None,
    n_show: int = 6,
    truth=None,
    title: str | None = "in-silico receptive fields (on - off)",
):
    """Per-neuron receptive fields (on minus off response maps), optionally above the planted ones.

    Parameters
    ----------
    on, off : array (N, H, W)
    truth : array (N, H, W), optional
        Planted spatial RFs of a simulation, shown in a second row.
    """
    on_, off_ = as_float_array("on", on, "(N, H, W)"), as_float_array("off", off, "(N, H, W)")
    if on_.ndim != 3 or on_.shape != off_.shape:
        raise InputError(f"on, off: got shapes {on_.shape} and {off_.shape}, expected two equal (N, H, W) stacks")
    rf = on_ - off_
    idx = list(neurons) if neurons is not None else list(range(min(n_show, rf.shape[0])))
    rows = 1 if truth is None else 2
    fig = new_figure((1.9 * len(idx), 1.3 * rows + 0.5))
    axes = fig.subplots(rows, len(idx), squeeze=False)
    stacks = [("estimated (mapped)" if truth is not None else "mapped", rf)] + (
        [("true (planted)", as_float_array("truth", truth, "(N, H, W)"))] if truth is not None else []
    )
    for r, (label, stack) in enumerate(stacks):
        for c, n in enumerate(idx):
            img = stack[n]
            lim = float(np.abs(img).max()) or 1.0
            axes[r, c].imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim, interpolation="nearest")
            axes[r, c].set_xticks([])
            axes[r, c].set_yticks([])
            if r == 0:
                axes[r, c].set_title(f"neuron {n}", fontsize=8)
            if c == 0:
                axes[r, c].set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_table(
    values,
    rows: Sequence,
    columns: Sequence,
    *,
    row_label: str = "",
    column_label: str = "",
    title: str | None = None,
    cmap: str = "viridis",
    vmin: float | None = None,
    vmax: float | None = None,
):
    """A (rows x columns) table of numbers as an annotated heat map (e.g. correlation per noise length constant)."""
    v = as_float_array("values", values, "a (rows, columns) table")
    if v.ndim != 2 or v.shape != (len(rows), len(columns)):
        raise InputError(f"values: got shape {v.shape}, expected ({len(rows)}, {len(columns)}) for the labels")
    fig = new_figure((0.75 * len(columns) + 2.2, 0.45 * len(rows) + 1.4))
    ax = fig.subplots()
    im = ax.imshow(v, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.set_xticks(range(len(columns)), [str(c) for c in columns], fontsize=8)
    ax.set_yticks(range(len(rows)), [str(r) for r in rows], fontsize=8)
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    finite = v[np.isfinite(v)]
    mid = float(np.mean(finite)) if finite.size else 0.0
    for (i, j), x in np.ndenumerate(v):
        if np.isfinite(x):
            ax.text(j, i, f"{x:.2f}", ha="center", va="center", fontsize=7, color="k" if x > mid else "w")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_lines(
    x,
    series: Mapping[str, object],
    *,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    errors: Mapping[str, object] | None = None,
    logx: bool = False,
):
    """Named curves over a shared x (ensemble size, fraction of neurons dropped, optimiser iterations...)."""
    xs = as_float_array("x", x, "a (K,) axis").ravel()
    if not series:
        raise InputError("series: got none, expected a mapping of name -> (K,) values")
    fig = new_figure((5, 3.2))
    ax = fig.subplots()
    for name, values in series.items():
        y = as_float_array(f"series[{name!r}]", values, "(K,) values").ravel()
        if y.size != xs.size:
            raise InputError(f"series[{name!r}]: got {y.size} values, expected {xs.size} like x")
        err = (
            None if errors is None or name not in errors else as_float_array(f"errors[{name!r}]", errors[name], "(K,)")
        )
        ax.errorbar(xs, y, yerr=err, marker="o", ms=3, lw=1.2, capsize=2, label=str(name))
    if logx:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def plot_ethogram(traces: Mapping[str, object], *, fps: float = 30.0, skip: int = 30, title: str | None = None):
    """The summary ethogram of one trial (the paper's Fig. 1-S1): stacked panels over time.

    Parameters
    ----------
    traces : mapping
        The output of :func:`neurocine.v1.analysis.ethogram`: motion energy, pupil dilation and centre,
        running speed, the z-scored activity of the best-predicted neurons (recorded, predicted from the
        movie shown and, where not all zero, from the reconstruction), the population means and the
        frame-by-frame correlation of the reconstruction with the movie.
    fps : float, default 30
        Frame rate, for the time axis in seconds.
    skip : int, default 30
        Frames shaded in the correlation panel (not scored).
    title : str, optional
    """
    need = (
        "motion_energy",
        "pupil_dilation",
        "pupil_center",
        "running_speed",
        "recorded_top",
        "predicted_top",
        "from_reconstruction_top",
        "population_recorded",
        "population_predicted",
        "population_from_reconstruction",
        "frame_correlation",
    )
    missing = [k for k in need if k not in traces]
    if missing:
        raise InputError(f"traces: missing {missing}; expected the output of neurocine.v1.analysis.ethogram")
    tr = {k: as_float_array(f"traces[{k!r}]", traces[k], "an array") for k in need}
    t_len = tr["motion_energy"].size
    t = np.arange(t_len) / fps
    rasters = [("recorded", tr["recorded_top"]), ("predicted\n(movie)", tr["predicted_top"])]
    if np.any(tr["from_reconstruction_top"]):
        rasters.append(("predicted\n(reconstr.)", tr["from_reconstruction_top"]))
    heights = [1, 1, 1] + [1.4] * len(rasters) + [1.2, 1]
    fig = new_figure((7.5, 1.05 * sum(heights) + 0.6))
    axes = fig.subplots(len(heights), 1, sharex=True, gridspec_kw={"height_ratios": heights})
    axes[0].plot(t, tr["motion_energy"], color="k", lw=1)
    axes[0].set_ylabel("motion\nenergy", fontsize=8)
    axes[1].plot(t, tr["pupil_dilation"], color="tab:purple", lw=1, label="dilation")
    twin = axes[1].twinx()
    for j, (axis, colour) in enumerate((("x", "0.4"), ("y", "0.7"))):
        twin.plot(t, tr["pupil_center"][:, j], color=colour, lw=0.8, label=f"centre {axis}")
    axes[1].set_ylabel("pupil\n(px)", fontsize=8)
    twin.set_ylabel("centre (px)", fontsize=7)
    twin.tick_params(labelsize=6)
    twin.legend(fontsize=6, loc="upper right")
    axes[2].plot(t, tr["running_speed"], color="tab:green", lw=1)
    axes[2].set_ylabel("running\n(cm/s)", fontsize=8)
    n_top = tr["recorded_top"].shape[1] if tr["recorded_top"].ndim == 2 else 0
    for ax, (label, raster) in zip(axes[3:], rasters):
        ax.imshow(
            raster.T,
            aspect="auto",
            cmap="Greys",
            vmin=-1,
            vmax=3,
            interpolation="nearest",
            extent=(-0.5 / fps, (t_len - 0.5) / fps, n_top - 0.5, -0.5),
        )
        ax.set_ylabel(label, fontsize=8)
    pop = axes[3 + len(rasters)]
    pop.plot(t, tr["population_recorded"], color="k", lw=0.8, label="recorded")
    pop.plot(t, tr["population_predicted"], color="tab:blue", lw=1.2, label="predicted (movie)")
    if np.isfinite(tr["population_from_reconstruction"]).any():
        pop.plot(t, tr["population_from_reconstruction"], color="tab:orange", lw=1.2, label="predicted (reconstr.)")
    pop.set_ylabel("population\nmean", fontsize=8)
    pop.legend(fontsize=6, loc="upper right", ncol=3)
    corr = axes[-1]
    corr.plot(t, tr["frame_correlation"], color="tab:red", lw=1.2)
    if skip > 0:
        corr.axvspan(0, min(skip, t_len) / fps, color="0.9", zorder=0)
    corr.axhline(0, color="0.5", lw=0.6)
    corr.set_ylim(-1, 1)
    corr.set_ylabel("frame r", fontsize=8)
    corr.set_xlabel("time (s)")
    for ax in axes:
        ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_rf_centers(
    on_centers,
    off_centers,
    frame_shape: tuple[int, int],
    *,
    ring_step: float = 10.0,
    title: str | None = "receptive-field centres",
):
    """On and off receptive-field centres over the screen with eccentricity rings (the paper's Fig. 1-S3).

    Parameters
    ----------
    on_centers, off_centers : array_like, shape (n, 2)
        Centres (row, column) in screen pixels (the reliable ones of
        :func:`neurocine.v1.receptive_fields.on_off_centers`); rows with NaN are skipped.
    frame_shape : (H, W)
        The screen in pixels; the rings are centred on it.
    ring_step : float, default 10
        Pixels between eccentricity rings. The screen's geometry in degrees is not known, so the rings
        and the eccentricity histogram are in screen pixels.
    title : str, optional
    """
    h, w = (int(v) for v in frame_shape)
    if ring_step <= 0:
        raise InputError(f"ring_step: got {ring_step!r}, expected a positive number of pixels")
    sets = {}
    for name, value in (("on", on_centers), ("off", off_centers)):
        c = as_float_array(f"{name}_centers", value, "an (n, 2) array of (row, column)").reshape(-1, 2)
        sets[name] = c[np.isfinite(c).all(axis=1)]
    from matplotlib.patches import Circle, Rectangle

    fig = new_figure((9, 3.4))
    ax, hist = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    ax.add_patch(Rectangle((-0.5, -0.5), w, h, fill=False, color="0.3", lw=1))
    centre = ((w - 1) / 2, (h - 1) / 2)
    radius = ring_step
    while radius <= np.hypot(w, h) / 2:
        ax.add_patch(Circle(centre, radius, fill=False, color="0.75", lw=0.7, ls="--"))
        ax.text(centre[0] + radius * 0.71, centre[1] - radius * 0.71, f"{radius:g}", fontsize=6, color="0.5")
        radius += ring_step
    colours = {"on": "tab:red", "off": "tab:blue"}
    for name, c in sets.items():
        ax.scatter(c[:, 1], c[:, 0], s=8, alpha=0.6, color=colours[name], label=f"{name} ({len(c)})")
        if len(c):
            med = np.median(c, axis=0)
            ax.plot(med[1], med[0], marker="+", ms=12, mew=2, color=colours[name])
    ax.set_xlim(-0.5 - 0.1 * w, w - 0.5 + 0.1 * w)
    ax.set_ylim(h - 0.5 + 0.15 * h, -0.5 - 0.15 * h)
    ax.set_aspect("equal")
    ax.set_xlabel("screen column (px)")
    ax.set_ylabel("screen row (px)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"rings every {ring_step:g} px from the screen centre; + median", fontsize=8)
    screen = np.array([(h - 1) / 2, (w - 1) / 2])
    top = np.hypot(h, w) / 2
    for name, c in sets.items():
        ecc = np.hypot(*(c - screen).T) if len(c) else np.zeros(0)
        hist.hist(ecc, bins=np.linspace(0, top, 16), histtype="step", lw=1.5, color=colours[name], label=name)
    hist.set_xlabel("eccentricity (screen px)")
    hist.set_ylabel("neurons")
    hist.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_noise_suite(lengths: Sequence[float], correlation, *, inverted=None, gain=None, gain_inverted=None):
    """The Gaussian-noise suite as in the paper's Fig. 4: quality against noise scale, and the ensembling gain.

    Parameters
    ----------
    lengths : sequence of float, length L
        The length constants (pixels in space, frames in time) of the suite's rows and columns.
    correlation : array (L, L)
        Video correlation per (spatial, temporal) length constant of the original movies.
    inverted : array (L, L), optional
        The same for the phase-inverted movies.
    gain, gain_inverted : array (L, L), optional
        Ensembling gain per stimulus (:func:`~neurocine.v1.analysis.ensembling_gain`); NaN where there
        was no ensemble.

    Returns
    -------
    matplotlib.figure.Figure
        Left: correlation against the spatial length (mean over temporal lengths); middle: against the
        temporal length (mean over spatial lengths), original solid and inverted dashed; right: the
        gain of each stimulus, labelled ``spatial/temporal``.

    Examples
    --------
    >>> table = np.array([[0.1, 0.2], [0.4, 0.6]])
    >>> fig = plot_noise_suite([1, 8], table, inverted=table - 0.05, gain=table / 10)
    >>> len(fig.axes)
    3
    """
    ls = [float(x) for x in lengths]
    n = len(ls)
    tables = {"original": correlation, "inverted": inverted, "gain": gain, "gain inverted": gain_inverted}
    arrays = {}
    for name, value in tables.items():
        if value is None:
            continue
        v = as_float_array(name, value, "an (L, L) table")
        if v.shape != (n, n):
            raise InputError(f"{name}: got shape {v.shape}, expected ({n}, {n}) for {n} length constants")
        arrays[name] = v
    fig = new_figure((12, 3.4))
    axes = fig.subplots(1, 3)
    x = np.arange(n)
    for ax, axis, label in ((axes[0], 1, "spatial length (px)"), (axes[1], 0, "temporal length (frames)")):
        for name, style in (("original", "-"), ("inverted", "--")):
            if name in arrays:
                with np.errstate(all="ignore"):
                    ax.plot(x, np.nanmean(arrays[name], axis=axis), style, marker="o", ms=3, label=name)
        ax.set_xticks(x, [f"{v:g}" for v in ls], fontsize=8)
        ax.set_xlabel(label)
        ax.set_ylabel("video correlation")
        ax.axhline(0, color="0.6", lw=0.8)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    ax = axes[2]
    stimuli = [f"{a:g}/{b:g}" for a in ls for b in ls]
    k = np.arange(n * n)
    drawn = False
    for off, name in ((-0.2, "gain"), (0.2, "gain inverted")):
        if name in arrays and np.isfinite(arrays[name]).any():
            ax.bar(k + off, arrays[name].ravel(), width=0.4, label="original" if name == "gain" else "inverted")
            drawn = True
    if drawn:
        ax.legend(fontsize=7)
    else:
        ax.text(0.5, 0.5, "no ensemble\n(needs two or more models)", ha="center", va="center", transform=ax.transAxes)
    ax.axhline(0, color="0.6", lw=0.8)
    ax.set_xticks(k, stimuli, fontsize=6, rotation=90)
    ax.set_xlabel("stimulus (spatial / temporal length)")
    ax.set_ylabel("ensembling gain")
    return fig
