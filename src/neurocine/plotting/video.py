"""Figures for video features: ROIs on the mean frame, motion-energy traces, motion-SVD masks."""

from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_rois(mean_frame: np.ndarray, rois, *, title: str = ""):
    """The mean frame with each ROI outlined and named (source-pixel coordinates)."""
    from matplotlib.patches import Polygon, Rectangle

    plt = _plt()
    h, w = mean_frame.shape[:2]
    fig, ax = plt.subplots(figsize=(min(10, 2 + w / 80), min(8, 1.5 + h / 80)))
    ax.imshow(mean_frame, cmap="gray")
    colors = plt.cm.tab10.colors
    for i, roi in enumerate(rois):
        c = colors[i % len(colors)]
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
    plt = _plt()
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
    plt = _plt()
    n_rois, k = masks.shape[:2]
    n_show = max(1, min(n_show, k))
    fig, axes = plt.subplots(n_rois, n_show, figsize=(1.8 * n_show + 1, 1.8 * n_rois + 0.6), squeeze=False)
    for j in range(n_rois):
        support = np.abs(masks[j]).sum(axis=0) > 0          # crop each ROI's row to where it has pixels
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
