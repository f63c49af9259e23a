"""
suite2p output: neuropil-corrected dF/F and correlations between cells
======================================================================

suite2p, the two-photon pipeline, writes one folder per imaging plane: ``F.npy`` (fluorescence of every
region of interest, ROIs x frames), ``Fneu.npy`` (the surrounding neuropil of each ROI), ``spks.npy``
(its deconvolved activity) and ``iscell.npy`` (its classifier's verdict: is-cell flag and probability).
This plane (from the pynapple test data) has 219 ROIs over 2000 frames, 20 of them classified as cells.

:func:`neurocine.io.read_suite2p` reads the folder time first, cells only, with the neuropil subtracted
on request (the same reader takes the folder as input to ``motifs fit`` and ``encode``). The example
turns the cells' corrected fluorescence into dF/F with :func:`neurocine.features.dff`, and compares the
correlations between cells with those of suite2p's own deconvolved activity.
"""

# %%
# Read the plane folder
# ---------------------
# The example skips its work when the folder is not there.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import neurocine as nc

# the real recordings: $NEUROCINE_REALDATA, else ../shared/realdata (next to the repository, run from its root)
realdata = Path(os.environ.get("NEUROCINE_REALDATA", "../shared/realdata"))
folder = realdata / "suite2p_plane0"
have_data = (folder / "F.npy").exists()
if have_data:
    F, Fneu, spks = (np.load(folder / f"{name}.npy") for name in ("F", "Fneu", "spks"))
    iscell = np.load(folder / "iscell.npy")
    cells = np.flatnonzero(iscell[:, 0] > 0)
    print(f"{F.shape[0]} ROIs x {F.shape[1]} frames; {len(cells)} classified as cells (suite2p)")
else:
    print(f"{folder} not found; set NEUROCINE_REALDATA to the folder holding suite2p_plane0/ to run this example")

# %%
# Neuropil correction and dF/F
# ----------------------------
# The corrected fluorescence is ``F - 0.7 Fneu`` (suite2p's default neuropil coefficient). Its baseline
# F0 is a sliding mean over 600 frames; dF/F = (F - F0) / F0 needs F0 > 0, and ``dff`` refuses a cell
# whose corrected fluorescence falls to 0 or below (its neuropil is brighter than it), so such cells are
# left out here, and said so.
if have_data:
    traces = nc.io.read_suite2p(folder, neuropil=0.7, dtype=np.float64)  # (frames, cells), F - 0.7 Fneu
    assert [f"roi{c}" for c in cells] == traces.channels
    corrected = traces.data.T  # (cells, frames)
    positive = corrected.min(axis=1) > 0
    for c in cells[~positive]:
        print(
            f"ROI {c}: corrected fluorescence reaches {corrected[cells == c].min():.1f}; left out (no positive baseline)"
        )
    cells, corrected = cells[positive], corrected[positive]
    # dff works on (time, height, width) movies: the cells are one row of "pixels"
    dff = nc.features.dff(corrected.T[:, None, :], window=600, mode="sliding", dtype=np.float64)[:, 0, :]
    print(f"dF/F of {dff.shape[1]} cells: median peak {np.median(dff.max(axis=0)):.2f}")
    fig, ax = plt.subplots(figsize=(10, 5))
    order = np.argsort(dff.max(axis=0))[::-1]
    for row, j in enumerate(order):
        ax.plot(dff[:, j] / max(dff[:, order].max(), 1e-9) * 3 + row, lw=0.6, color="k")
    ax.set_yticks(range(len(order)), [f"ROI {cells[j]}" for j in order], fontsize=6)
    ax.set_xlabel("frame")
    ax.set_title("dF/F of the cells (all on one scale, largest at the bottom)")

# %%
# Correlation structure, against suite2p's deconvolved activity
# -------------------------------------------------------------
# Left: the correlation of every pair of cells' dF/F. Right: the same from suite2p's deconvolved
# activity (``spks``), smoothed by the same 10-frame window as a calcium transient would spread it.
# Cells that fire together are correlated in both; the agreement of the two matrices over the pairs is
# printed, as is each cell's correlation between its dF/F and its own deconvolved activity.
if have_data:
    corr_dff = np.corrcoef(dff.T)
    smoothed = nc.features.running_mean(spks[cells].T.astype(np.float64), 10)
    corr_spks = np.corrcoef(smoothed.T)
    pairs = np.triu_indices(len(cells), 1)
    print(f"mean pairwise correlation: dF/F {corr_dff[pairs].mean():.3f}, deconvolved {corr_spks[pairs].mean():.3f}")
    print(
        f"agreement of the two correlation matrices over {len(pairs[0])} pairs: r = {np.corrcoef(corr_dff[pairs], corr_spks[pairs])[0, 1]:.3f}"
    )
    own = nc.metrics.column_correlations(dff, smoothed)
    print(
        f"per cell, dF/F vs its deconvolved activity: median r = {np.median(own):.3f} (range {own.min():.2f} to {own.max():.2f})"
    )
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2))
    for ax, corr, title in zip(axes, (corr_dff, corr_spks), ("dF/F", "suite2p deconvolved (smoothed)")):
        image = ax.imshow(corr - np.eye(len(corr)), cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"{title}: correlation between cells", fontsize=9)
        ax.set_xlabel("cell")
        ax.set_ylabel("cell")
    fig.colorbar(image, ax=axes, shrink=0.8)
