"""
Two-photon imaging stack: mean image and dF/F
=============================================

Twenty frames of two-photon imaging of a hippocampal field (the SIMA test data, Kaifosh et al. 2014),
128 x 256 pixels, in two files: a multi-page TIFF (frames x rows x columns) and an HDF5 file holding
the same numbers with time as the *last* axis. :func:`neurocine.io.open_stack` opens either lazily,
reading frames only when they are sliced, in the axis order it is told (``axes="YXT"``).

The example shows the mean and standard-deviation images, checks that the two files hold the same
movie, and computes dF/F (the change of fluorescence over its baseline) of every pixel and of a few
small regions around the brightest cells, checked against the formula computed directly with numpy.
"""

# %%
# Open the TIFF stack (and the HDF5 copy)
# ---------------------------------------
# The HDF5 dataset has no attributes saying its axis order, and its shape (128, 256, 20) does not look
# time first, so ``open_stack`` refuses to guess and asks for ``axes=``; with ``axes="YXT"`` it returns
# the same (T, H, W) movie as the TIFF. The example skips its work when the files are not there.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np

import neurocine as nc

# the real recordings: $NEUROCINE_REALDATA, else ../shared/realdata (next to the repository, run from its root)
realdata = Path(os.environ.get("NEUROCINE_REALDATA", "../shared/realdata"))
folder = realdata / "two_photon"
have_data = (folder / "example.tif").exists()
if have_data:
    with nc.io.open_stack(folder / "example.tif") as stack:
        print(stack, "frame rate:", stack.rate)
        movie = stack[:].astype(np.float64)  # (T, H, W)
    if (folder / "example.h5").exists():
        try:
            nc.io.open_stack(folder / "example.h5")
        except nc.InputError as exc:
            print(f"without axes=: {exc}")
        with nc.io.open_stack(folder / "example.h5", axes="YXT") as h5:
            same = np.array_equal(h5[:], movie)
        print(f"example.h5 read with axes='YXT' has shape {h5.shape} and equals the TIFF movie: {same}")
else:
    print(f"{folder} not found; set NEUROCINE_REALDATA to the folder holding two_photon/ to run this example")

# %%
# Mean and standard-deviation images
# ----------------------------------
# The mean image shows the anatomy (cell bodies as bright rings and blobs); the standard deviation over
# the 20 frames shows where the fluorescence changed.
if have_data:
    mean_image = nc.features.mean_frame(movie)
    std_image = movie.std(axis=0)
    # three 5 x 5 regions around the brightest spots of the mean image, at least 20 pixels apart
    smooth = nc.features.gaussian_blur(mean_image[None], 2.0)[0]
    centres: list[tuple[int, int]] = []
    for flat in np.argsort(smooth, axis=None)[::-1]:
        y, x = divmod(int(flat), smooth.shape[1])
        if 3 <= y < smooth.shape[0] - 3 and 3 <= x < smooth.shape[1] - 3:
            if all(abs(y - cy) + abs(x - cx) > 20 for cy, cx in centres):
                centres.append((y, x))
        if len(centres) == 3:
            break
    fig, axes = plt.subplots(1, 2, figsize=(11, 3))
    for ax, image, title in zip(axes, (mean_image, std_image), ("mean image", "standard deviation over time")):
        ax.imshow(image, cmap="gray")
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    for i, (y, x) in enumerate(centres):
        axes[0].add_patch(plt.Rectangle((x - 2.5, y - 2.5), 5, 5, fill=False, ec=f"C{i}", lw=1.5))
        axes[0].text(x + 4, y, str(i), color=f"C{i}")

# %%
# dF/F of every pixel, checked against the formula
# ------------------------------------------------
# With one baseline per pixel over the whole recording (block mode, window = all 20 frames), dF/F is
# ``F / mean_t(F) - 1``. Pixels whose mean is 0 (if any) have no baseline and are masked out.
if have_data:
    mask = mean_image > 0
    dff = nc.features.dff(movie, window=len(movie), mode="block", mask=mask, dtype=np.float64)
    direct = movie[:, mask] / movie[:, mask].mean(axis=0) - 1
    print(f"{mask.sum()} of {mask.size} pixels have a positive baseline")
    print(f"largest difference from F / mean(F) - 1: {np.abs(dff[:, mask] - direct).max():.1e}")

# %%
# dF/F of the regions
# -------------------
# The mean fluorescence of each 5 x 5 region, over its own baseline. Twenty frames are a very short
# recording, and this is the test movie of a motion-correction package: the field shifts between
# frames, so a small region over a bright cell swings by tens of percent as the cell moves in and out
# of it. Such swings, large and shared by neighbouring regions, are what motion correction removes
# before any dF/F is trusted.
if have_data:
    fig, ax = plt.subplots(figsize=(8, 3))
    for i, (y, x) in enumerate(centres):
        trace = movie[:, y - 2 : y + 3, x - 2 : x + 3].mean(axis=(1, 2))
        region_dff = trace / trace.mean() - 1
        ax.plot(region_dff, marker="o", ms=3, color=f"C{i}", label=f"region {i} at (y={y}, x={x})")
        print(f"region {i}: baseline {trace.mean():.0f}, dF/F from {region_dff.min():+.3f} to {region_dff.max():+.3f}")
    ax.set_xlabel("frame")
    ax.set_ylabel("dF/F")
    ax.legend(fontsize=8)
