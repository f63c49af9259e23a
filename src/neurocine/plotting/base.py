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
