"""
Motion energy and motion SVD of a video with known motion
=========================================================

Behaviour videos (a mouse's face, its body) are summarised by how much each region moves. Two features
are computed in one streaming pass over the video:

* **motion energy** of a region of interest (ROI): the mean absolute difference between consecutive
  frames over the ROI's pixels;
* **motion SVD** (as facemap): the top singular vectors of the absolute frame differences, centred over
  time: spatial masks (which pixels move together) and temporal components (when).

The video here is synthetic: a static texture where three boxes ("whisker", "snout", "jaw") move in
independent bouts, so the motion energy of each ROI is known exactly. The motion SVD, computed
incrementally chunk by chunk, is compared with the exact SVD of the same difference frames.
"""

# %%
# Simulate the video and write it as a lossless mp4
# -------------------------------------------------
import tempfile
from pathlib import Path

import numpy as np
from scipy.linalg import subspace_angles

from neurocine.encode import simulate_roi_motion_video
from neurocine.features.motion import MotionFeatures
from neurocine.features.rois import full_frame_roi, roi_masks
from neurocine.io.video import VideoReader, write_video
from neurocine.plotting.video import plot_motion_traces, plot_rois, plot_svd_masks

sim = simulate_roi_motion_video(n_frames=200, seed=0)
path = write_video(Path(tempfile.mkdtemp()) / "face.mp4", sim.frames, lossless=True)
n_frames, height, width = sim.frames.shape
print(f"{n_frames} frames of {height} x {width} pixels; ROIs: {[r.name for r in sim.rois]}")
fig = plot_rois(sim.frames.mean(axis=0), sim.rois)

# %%
# Stream the video through the motion features
# --------------------------------------------
# :class:`~neurocine.io.video.VideoReader` decodes the file in chunks;
# :class:`~neurocine.features.motion.MotionFeatures` takes them in order and carries the last frame of
# each chunk over, so no frame difference is lost at a chunk boundary. One more ROI covers the whole
# frame; 3 SVD components are kept per ROI.
rois = [*sim.rois, full_frame_roi(width, height)]
masks = roi_masks(rois, width, height)
features = MotionFeatures(masks, [r.name for r in rois], n_svd=3)
with VideoReader(path, chunk_size=64) as video:
    for chunk in video.iter_chunks():
        features.update(chunk.frames, chunk.timestamps)
result = features.result()

# %%
# Motion energy against the truth
# -------------------------------
# The simulator knows each ROI's motion energy exactly; the lossless video keeps every pixel value, so
# the two should agree to rounding.
error = np.abs(result.motion_energy[:, :3] - sim.motion_energy).max()
print(f"largest motion-energy error over {n_frames} frames x 3 ROIs: {error:.2e} (grey levels)")
print(f"full frame: largest error {np.abs(result.motion_energy[:, 3] - sim.full_motion_energy).max():.2e}")
fig = plot_motion_traces(result.motion_energy, result.timestamps, result.roi_names)

# %%
# Motion SVD against the exact SVD
# --------------------------------
# The exact reference: stack every absolute difference frame as a row and subtract the mean row; its
# singular values and right singular vectors come from the eigen-decomposition of the small
# frames x frames matrix ``D @ D.T`` (exact, and much cheaper than the SVD of the tall matrix). The
# incremental SVD should give the same singular values and span the same spatial subspace: principal
# angles near 0 degrees. Each box moves as one piece, so three components carry all of the motion (the
# fourth singular value is 0).
diffs = np.abs(np.diff(sim.frames.astype(np.float64), axis=0)).reshape(n_frames - 1, -1)
diffs -= diffs.mean(axis=0)
eigenvalues, u = np.linalg.eigh(diffs @ diffs.T)
order = np.argsort(eigenvalues)[::-1][:4]
s_exact = np.sqrt(np.clip(eigenvalues[order], 0, None))
vt_exact = (u[:, order[:3]].T @ diffs) / s_exact[:3, None]
s_found = result.svd_singular_values[3]
masks_found = result.svd_masks[3].reshape(3, -1)
angles = np.degrees(subspace_angles(masks_found.T.astype(np.float64), vt_exact[:3].T))
print("singular values, streaming:", np.round(s_found, 2))
print("singular values, exact:    ", np.round(s_exact[:4], 2))
print(f"largest principal angle between the spatial subspaces: {angles.max():.2e} degrees")
fig = plot_svd_masks(result.svd_masks[3:], ["full frame"], n_show=3)
