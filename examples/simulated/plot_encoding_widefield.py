"""
Behaviour video to brain: a ridge encoding model of widefield imaging
=====================================================================

A head-fixed mouse does a two-stimulus task while a face camera films it and a widefield camera images
its dorsal cortex. The encoding model predicts every widefield pixel from task and behaviour
regressors (stimuli, motion energy of the whisker pad, snout and jaw, running, pupil), each convolved
with a slow hemodynamic-like kernel, by ridge regression. Its questions: how much of each pixel's
variance do the regressors explain, and which regressor explains which part of the cortex?

The session is simulated (2 minutes at 30 Hz, a small 32 x 32 widefield movie) with a known map for
every regressor, so the fitted maps and the explained variance can be scored against the truth.
"""

# %%
# Simulate a session
# ------------------
# ``ceiling_ev`` is the variance of the movie that the planted signal explains (the rest is noise): no
# model can explain more on average.
import matplotlib.pyplot as plt
import numpy as np

import neurocine as nc
from neurocine.features import convolve_regressors, dff, hemodynamic_kernel
from neurocine.features.motion import motion_energy
from neurocine.features.rois import roi_masks

session = nc.encode.simulate_session(duration_s=120, video_size=(60, 80), widefield_size=(32, 32), seed=0)
t_len, h, w = session.widefield.shape
print(f"face video {session.frames.shape}, widefield {session.widefield.shape}, {session.fps:.0f} Hz")
print(f"ceiling: the planted signal explains {session.ceiling_ev:.3f} of the variance inside the brain")

# %%
# Build the regressors from the raw recordings
# --------------------------------------------
# Motion energy of each face ROI comes from the video frames; the stimuli, wheel and pupil from the
# task signals. All are convolved with the hemodynamic-like kernel and centred. They should equal the
# simulator's planted regressors exactly.
masks = roi_masks(session.rois[:3], session.frames.shape[2], session.frames.shape[1])
raw = np.column_stack(
    [
        session.signals["stimulus_type"] == "visual",
        session.signals["stimulus_type"] == "auditory",
        motion_energy(session.frames, masks),
        session.signals["wheel"],
        session.signals["pupil"],
        session.features["null"],  # a smooth random regressor with no map: a control
    ]
).astype(np.float64)
kernel = hemodynamic_kernel(session.fps, 1.0, 5.0)
X = convolve_regressors(raw, kernel)
print(f"largest difference from the planted regressors: {np.abs(X - session.regressors).max():.1e}")

# %%
# dF/F and the cross-validated fit
# --------------------------------
# One baseline per pixel (the block mode with a window as long as the session) turns fluorescence into
# dF/F without removing slow signal. :class:`neurocine.RidgeCV` picks a penalty per pixel by
# leave-one-out; :func:`neurocine.models.cross_validated_ev` scores it on 5 contiguous blocks of time
# held out in turn.
movie = dff(session.widefield, window=t_len, mode="block", mask=session.brain_mask)
Y = movie[:, session.brain_mask]  # (time, pixels inside the brain)
ev = nc.models.cross_validated_ev(nc.RidgeCV(), X, Y, cv=5)
print(f"held-out explained variance, mean over pixels: {ev.mean():.3f} (ceiling {session.ceiling_ev:.3f})")

# %%
# Fitted maps against the planted maps
# ------------------------------------
# The ridge coefficients of one regressor across pixels form its map. Each column below: the planted
# map (top) and the fitted one (bottom). The correlation of the two, over brain pixels, is printed per
# regressor; the ``null`` regressor has no planted map, so its fitted map is noise.
model = nc.RidgeCV().fit(X, Y)
fig, axes = plt.subplots(2, len(session.feature_names), figsize=(13, 3.4))
for j, name in enumerate(session.feature_names):
    planted = session.beta_maps[name]
    fitted = np.full((h, w), np.nan)
    fitted[session.brain_mask] = model.coef_[j]
    if name != "null":
        r = np.corrcoef(planted[session.brain_mask], model.coef_[j])[0, 1]
        print(f"{name:18s} map correlation with the planted map: {r:.3f}")
    for ax, image in zip(axes[:, j], (planted, fitted)):
        ax.imshow(image, cmap="RdBu_r")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, j].set_title(name.replace("stimulus_", ""), fontsize=8)
for ax, label in zip(axes[:, 0], ("planted", "fitted")):
    ax.set_ylabel(label)

# %%
# Which group of regressors explains each pixel?
# ----------------------------------------------
# The *unique* contribution of a group is the explained variance lost when that group's regressors are
# shifted in time (which breaks their link with the brain but keeps their statistics). A planted group
# should lose variance where its map is; the ``null`` group should lose none.
contributions = nc.models.group_contributions(X, Y, session.groups, cv=5, random_state=0, columns=session.feature_names)
for name, unique in zip(contributions.group_names, contributions.unique):
    print(f"{name:9s} unique explained variance: mean {unique.mean():+.4f}, largest pixel {unique.max():.3f}")
fig, axes = plt.subplots(1, len(contributions.group_names), figsize=(13, 2.2))
for ax, name, unique in zip(axes, contributions.group_names, contributions.unique):
    image = np.full((h, w), np.nan)
    image[session.brain_mask] = unique
    ax.imshow(image, cmap="magma", vmin=0)
    ax.set_title(name, fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
