"""
Open-field mouse video: motion energy and motion SVD
====================================================

A mouse exploring an open field, filmed from above (the DeepLabCut example video
``m3v1mp4.mp4``: 640 x 480 pixels, 30 frames per second, H.264). Its motion energy (mean absolute
difference between consecutive frames) says when the mouse moves; the motion SVD (facemap's
decomposition of the absolute frame differences) says which parts of the image move together.

The features are computed in one streaming pass, chunk by chunk, by an incremental SVD. Here they are
checked against the exact SVD of the same difference frames: the same singular values and principal
angles near zero between the spatial subspaces. To stay quick, the example reads the first 20 s of the
video, binned 4 x 4 (160 x 120 pixels).
"""

# %%
# Read the video in chunks
# ------------------------
# :class:`~neurocine.io.video.VideoReader` decodes the file (PyAV), converts to grey and bins 4 x 4
# while reading. The example skips its work when the file is not there.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from scipy.linalg import subspace_angles

from neurocine.features.motion import MotionFeatures
from neurocine.io.video import VideoReader
from neurocine.plotting.video import plot_svd_masks

# the real recordings: $NEUROCINE_REALDATA, else ../shared/realdata (next to the repository, run from its root)
realdata = Path(os.environ.get("NEUROCINE_REALDATA", "../shared/realdata"))
path = realdata / "openfield_video" / "m3v1mp4.mp4"
have_data = path.exists()
n_frames, n_svd = 600, 4
if have_data:
    frames, times = [], []
    with VideoReader(path, bin=4, chunk_size=100) as video:
        print(f"{video.n_frames} frames of {video.source_width} x {video.source_height} at {video.fps:.0f} Hz")
        features = MotionFeatures(np.ones((1, *video.shape), bool), ["full frame"], n_svd=n_svd)
        for chunk in video.iter_chunks(0, n_frames):
            features.update(chunk.frames, chunk.timestamps)
            frames.append(chunk.frames)
            times.append(chunk.timestamps)
    result = features.result()
    frames = np.concatenate(frames)
    print(f"read {len(frames)} frames, binned to {frames.shape[1]} x {frames.shape[2]}")
else:
    print(f"{path} not found; set NEUROCINE_REALDATA to the folder holding openfield_video/ to run this example")

# %%
# Motion energy
# -------------
# Peaks are the mouse running or turning; the flat low stretches are it sitting still (what is left is
# camera noise).
if have_data:
    fig, ax = plt.subplots(figsize=(9, 2.5))
    ax.plot(result.timestamps, result.motion_energy[:, 0], lw=0.8)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("motion energy\n(grey levels)")
    ax.set_title("full-frame motion energy, first 20 s")

# %%
# Streaming motion SVD against the exact SVD
# ------------------------------------------
# The exact reference: every absolute difference frame as a row, minus the mean row; its singular values
# and spatial vectors come from the eigen-decomposition of the small frames x frames matrix ``D @ D.T``.
# A real video's spectrum decays slowly, so the streaming SVD (which carries a few extra components)
# matches the top components closely rather than exactly; the angles grow for the weaker components.
if have_data:
    diffs = np.abs(np.diff(frames.astype(np.float64), axis=0)).reshape(len(frames) - 1, -1)
    diffs -= diffs.mean(axis=0)
    eigenvalues, u = np.linalg.eigh(diffs @ diffs.T)
    top = np.argsort(eigenvalues)[::-1][:n_svd]
    s_exact = np.sqrt(eigenvalues[top])
    vt_exact = (u[:, top].T @ diffs) / s_exact[:, None]
    masks = result.svd_masks[0].reshape(n_svd, -1).astype(np.float64)
    print("singular values, streaming:", np.round(result.svd_singular_values[0], 1))
    print("singular values, exact:    ", np.round(s_exact, 1))
    for k in range(1, n_svd + 1):
        angle = np.degrees(subspace_angles(masks[:k].T, vt_exact[:k].T)).max()
        print(f"top {k} components: largest principal angle {angle:.3f} degrees")

# %%
# The spatial masks
# -----------------
# Each mask is a pattern of pixels whose differences rise and fall together; on an open field they
# outline where the mouse went in these 20 s (its body and its trail), with opposite signs where it
# arrived and where it left.
if have_data:
    fig = plot_svd_masks(result.svd_masks, result.roi_names, n_show=n_svd)
