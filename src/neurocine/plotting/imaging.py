"""Figures for widefield imaging: the dF/F variability map and example frames."""

from __future__ import annotations

import numpy as np

from neurocine.plotting.base import pyplot


def plot_dff_summary(dff, std_map: np.ndarray, mask: np.ndarray | None = None, n_frames: int = 4):
    """Standard deviation of dF/F per pixel, and ``n_frames`` frames spread over the movie."""
    plt = pyplot()
    t_len = len(dff)
    picks = np.linspace(0, t_len - 1, n_frames).astype(int)
    fig, axes = plt.subplots(1, n_frames + 1, figsize=(2.6 * (n_frames + 1), 2.8))
    im = axes[0].imshow(std_map, cmap="magma")
    axes[0].set_title("std of dF/F")
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    lim = float(np.nanpercentile(np.abs(np.asarray(dff[picks])), 99)) or 1.0
    for ax, t in zip(axes[1:], picks):
        ax.imshow(np.asarray(dff[t]), cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(f"frame {t}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
        if mask is not None:
            ax.contour(mask, levels=[0.5], colors="k", linewidths=0.6)
    return fig
