"""Figures for video features: ROIs on the mean frame, motion-energy traces, motion-SVD masks."""

from __future__ import annotations

import numpy as np

from neurocine.plotting.base import pyplot


def plot_rois(mean_frame: np.ndarray, rois, *, title: str = ""):
    """The mean frame with each ROI outlined and named (source-pixel coordinates)."""
    from matplotlib.patches import Patch, Polygon, Rectangle

    plt = pyplot()
    h, w = mean_frame.shape[:2]
    fig, ax = plt.subplots(figsize=(min(10, 2 + w / 80), min(8, 1.5 + h / 80)))
    ax.imshow(mean_frame, cmap="gray")
    colors = plt.cm.tab10.colors
    for i, roi in enumerate(rois):
        c = colors[i % len(colors)]
        patch: Patch
        if roi.box is not None:
            x0, y0, x1, y1 = roi.box
            patch = Rectangle((x0 - 0.5, y0 - 0.5), x1 - x0, y1 - y0, fill=False, ec=c, lw=2)
        else:
            patch = Polygon(np.asarray(roi.polygon) - 0.5, closed=True, fill=False, ec=c, lw=2)
        ax.add_patch(patch)
        bx0, by0, _, _ = roi.bounds
        ax.text(bx0, by0 - 2, roi.name, color=c, fontsize=10, va="bottom", weight="bold")
    ax.set_title(title or "ROIs on the mean frame")
    ax.set_xlabel("x (pixels)")
    ax.set_ylabel("y (pixels)")
    return fig


def plot_motion_traces(motion_energy: np.ndarray, timestamps: np.ndarray, names, *, max_points: int = 20000):
    """Motion energy of each ROI against time (one row per ROI)."""
    plt = pyplot()
    n = motion_energy.shape[1]
    step = max(1, len(timestamps) // max_points)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.2 + 1.4 * n), sharex=True, squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        ax.plot(timestamps[::step], motion_energy[::step, j], lw=0.7)
        ax.set_ylabel(f"{names[j]}\nME", rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].set_title("motion energy (mean |frame_i - frame_i-1| over the ROI)")
    return fig


def plot_svd_masks(masks: np.ndarray, names, *, n_show: int = 6):
    """The first ``n_show`` motion-SVD spatial masks of each ROI (rows: ROIs)."""
    plt = pyplot()
    n_rois, k = masks.shape[:2]
    n_show = max(1, min(n_show, k))
    fig, axes = plt.subplots(n_rois, n_show, figsize=(1.8 * n_show + 1, 1.8 * n_rois + 0.6), squeeze=False)
    for j in range(n_rois):
        support = np.abs(masks[j]).sum(axis=0) > 0  # crop each ROI's row to where it has pixels
        rows, cols = np.nonzero(support.any(axis=1))[0], np.nonzero(support.any(axis=0))[0]
        box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)) if rows.size else (slice(None),) * 2
        for c in range(n_show):
            ax = axes[j, c]
            m = masks[j, c][box]
            lim = float(np.abs(m).max()) or 1.0
            ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim)
            ax.set_xticks([])
            ax.set_yticks([])
            if j == 0:
                ax.set_title(f"SVD {c + 1}", fontsize=9)
            if c == 0:
                ax.set_ylabel(names[j])
    fig.suptitle("motion SVD spatial masks")
    return fig


def plot_motion_by_session(values: np.ndarray, sessions, rois, *, title: str = ""):
    """Heat map of one number per (session, ROI), e.g. mean motion energy: odd sessions stand out.

    ``values`` is (n_sessions, n_rois); NaN (a failed session, or an ROI the session lacks) is left grey.
    Cells are labelled with their value when the table is small enough to read.
    """
    plt = pyplot()
    values = np.asarray(values, dtype=float)
    n_s, n_r = values.shape
    fig, ax = plt.subplots(figsize=(min(14, 2.5 + 1.1 * n_r), min(16, 1.5 + 0.35 * n_s)))
    cmap = plt.cm.viridis.with_extremes(bad="#dddddd")
    image = ax.imshow(np.ma.masked_invalid(values), aspect="auto", cmap=cmap, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.05)
    slanted = n_r > 6
    ax.set_xticks(
        range(n_r), [str(r) for r in rois], rotation=45 if slanted else 0, ha="right" if slanted else "center"
    )
    if n_s <= 60:
        ax.set_yticks(range(n_s), [str(s) for s in sessions])
    else:
        ax.set_ylabel(f"{n_s} sessions")
    if n_s * n_r <= 200:
        finite = values[np.isfinite(values)]
        middle = float(np.median(finite)) if finite.size else 0.0
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(
                    j, i, f"{v:.3g}", ha="center", va="center", fontsize=8, color="black" if v > middle else "white"
                )
    ax.set_title(title or "mean motion energy by session and ROI")
    return fig


def plot_pupil(diameter: np.ndarray, blink: np.ndarray, timestamps: np.ndarray, names, *, max_points: int = 20000):
    """Pupil diameter of each eye ROI against time, blink frames shaded (one row per ROI).

    Parameters
    ----------
    diameter : ndarray, shape (T, n) or (T,)
        Pixels, NaN on blink frames.
    blink : ndarray of bool, shape (T, n) or (T,)
    timestamps : ndarray, shape (T,)
        Seconds.
    names : sequence of str
        The ROIs' names.
    """
    plt = pyplot()
    diameter = np.asarray(diameter, dtype=np.float64).reshape(len(timestamps), -1)
    blink = np.asarray(blink, bool).reshape(len(timestamps), -1)
    n = diameter.shape[1]
    step = max(1, len(timestamps) // max_points)
    fig, axes = plt.subplots(n, 1, figsize=(10, 1.4 + 1.6 * n), sharex=True, squeeze=False)
    for j, ax in enumerate(axes[:, 0]):
        ax.plot(timestamps[::step], diameter[::step, j], lw=0.8, color="k")
        edges = np.flatnonzero(np.diff(np.concatenate([[0], blink[:, j].astype(int), [0]])))
        for a, b in zip(edges[::2], edges[1::2]):
            ax.axvspan(timestamps[a], timestamps[min(b, len(timestamps) - 1)], color="tab:orange", alpha=0.35, lw=0)
        ax.set_ylabel(f"{names[j]}\ndiameter (px)", rotation=0, ha="right", va="center")
    axes[-1, 0].set_xlabel("time (s)")
    axes[0, 0].set_title("pupil diameter; blinks shaded")
    return fig
