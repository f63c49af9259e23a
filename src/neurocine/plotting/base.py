"""Helpers every figure module uses: a pyplot-free Figure, pyplot on the Agg backend, array checks.

matplotlib is imported inside these functions, so importing this module stays light.
"""

from __future__ import annotations

import numpy as np

from neurocine.errors import InputError


def new_figure(figsize):
    """A constrained-layout Figure on its own Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (unless a backend was chosen already)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def as_float_array(name: str, value, expected: str) -> np.ndarray:
    """``value`` (array-like or torch tensor, on any device) as a float numpy array.

    Raises :class:`~neurocine.errors.InputError` naming ``name`` and ``expected`` when ``value`` is
    None or not numeric.
    """
    if value is None:
        raise InputError(f"{name}: got None, expected {expected}")
    if hasattr(value, "detach"):  # torch tensor, possibly on GPU / requiring grad
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        try:
            arr = np.asarray([float(v) for v in value], dtype=float)
        except (TypeError, ValueError):
            raise InputError(f"{name}: got {type(value).__name__} that is not numeric, expected {expected}") from None
    return arr


def grey_frame_grid(fig, rows, column_titles=None, *, title_fontsize=8, mask=None, title=None):
    """Draw rows of 0-255 grey frames on ``fig``, one row per entry of ``rows``.

    Parameters
    ----------
    fig : matplotlib Figure
        From :func:`new_figure`.
    rows : mapping of str to sequence of array (H, W)
        Row label (on the left) -> its frames, the same number in every row.
    column_titles : sequence of str, optional
        Shown above the first row, one per column.
    title_fontsize : float, default 8
        Font size of the column titles.
    mask : bool array (H, W), optional
        Drawn as a contour on every frame.
    title : str, optional
        Figure title.

    Examples
    --------
    >>> import numpy as np
    >>> fig = new_figure((3, 2))
    >>> axes = grey_frame_grid(fig, {"truth": np.zeros((2, 4, 4))}, ["a", "b"])
    >>> axes.shape
    (1, 2)
    """
    n_col = len(next(iter(rows.values())))
    axes = fig.subplots(len(rows), n_col, squeeze=False)
    for r, (label, frames) in enumerate(rows.items()):
        for c, frame in enumerate(frames):
            ax = axes[r, c]
            ax.imshow(frame, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
            if mask is not None:
                ax.contour(mask.astype(float), levels=[0.5], colors="tab:orange", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0 and column_titles is not None:
                ax.set_title(str(column_titles[c]), fontsize=title_fontsize)
            if c == 0:
                ax.set_ylabel(label, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return axes
