"""
fMRI: voxel-wise encoding with CNN layers
=========================================

While a subject watches natural movies, each fMRI voxel's response is modelled as a linear function of
the features of one layer of a convolutional network (CNN) applied to the frames, convolved with the
hemodynamic response and averaged over each scan (as in Wen et al. 2018). Fitting one ridge model per
layer and keeping the layer that predicts a voxel best on held-out data maps where along the network's
hierarchy each voxel sits: early layers (edges) for early visual cortex, late layers (objects) further
up.

The data here come from the easy simulator (``easy=True``, ``fmri simulate --easy``), which drives the
voxels with the built-in EfficientNet-Lite0's own features, so the analysis can read the planted layers
back; the default simulator hides its features from the analysis, as a real brain does. 120 voxels, half driven by an early
layer (``blocks.2``) and half by the last (``head``), arranged in bands on a display grid. The planted
layer of every voxel is known, and so is the noise ceiling (how well the noise-free response
correlates with the mean of the test repeats).
"""

# %%
# Simulate an fMRI data folder
# ----------------------------
# :func:`neurocine.fmri.simulate_fmri` writes the folder layout that ``neurocine fmri encode`` reads
# (stimulus frames, training scans, repeated test scans, the truth). This is a very small experiment:
# 120 training scans (each shown twice) and a 20-scan test movie shown 10 times.
import tempfile
from pathlib import Path

import numpy as np

import neurocine as nc
from neurocine.fmri.plotting import plot_layer_map, plot_r_histogram
from neurocine.io.fmri import read_fmri_data

root = Path(tempfile.mkdtemp())
layers = ("blocks.2", "head")
nc.fmri.simulate_fmri(
    root / "data",
    n_voxels=120,
    layers=layers,
    frame_shape=(48, 64),
    frames_per_scan=1,
    n_segments=3,
    segment_scans=40,
    n_test_scans=20,
    test_repeats=10,
    n_library_clips=0,
    snr=(1.0, 4.0),
    device="cpu",
    easy=True,
)
data = read_fmri_data(root / "data")
print(
    f"{data.n_voxels} voxels, {data.fmri_train.shape[0]} training scans, test {data.fmri_test.shape} (repeats x scans x voxels)"
)

# %%
# Fit one ridge model per layer and keep the best layer per voxel
# ---------------------------------------------------------------
# ``nc.jobs.fmri_encode`` is the ``neurocine fmri encode`` command as one call: CNN features of every
# frame, a PCA per layer, HRF convolution, a ridge model per layer with its penalty chosen per voxel by
# contiguous cross-validation on the training scans, and the test correlation of the chosen layer with
# the mean of the test repeats. Its result folder holds ``summary.json``, ``encoding.npz`` and a report.
result = nc.jobs.fmri_encode(root / "data", root / "encode", layers=list(layers), folds=5, device="cpu", figures=False)
m = result.metrics
print(f"best layer = planted layer for {m['best_layer_accuracy']:.1%} of the voxels")
print(f"median test correlation {m['median_test_r']:.3f}; median noise ceiling {m['median_ceiling']:.3f}")
print(f"median fraction of the ceiling reached: {m['median_fraction_of_ceiling']:.3f}")

# %%
# The best-layer map beside the planted one
# -----------------------------------------
# Each square is a voxel on the display grid, coloured by its layer: the planted layers (bands with wavy
# borders) and the layers chosen by cross-validation. Mismatches are mostly noisy voxels near a border.
with np.load(result.out / "encoding.npz") as arrays:
    best, true_layer = arrays["best_layer"], arrays["true_layer"]
    best_r, ceiling = arrays["best_test_r"], arrays["ceiling"]
fig = plot_layer_map(best, list(layers), position=data.position, grid_shape=data.grid_shape, true_layer=true_layer)

# %%
# Test correlation against the noise ceiling
# ------------------------------------------
# Left: the histogram of the voxels' test correlations and of their ceilings. Right: each voxel's
# correlation against its ceiling; points near the diagonal are predicted as well as their noise allows.
fig = plot_r_histogram(best_r, ceiling)
