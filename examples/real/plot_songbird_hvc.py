"""
Songbird HVC: neural sequences found by Conv-NMF
================================================

Calcium imaging of 75 neurons in HVC, the premotor nucleus of a singing zebra finch (Mackevicius,
Bahle et al. 2019, eLife; the demo data of seqNMF), at 30 frames per second. During song, HVC neurons
fire in stereotyped sequences: each neuron at its own moment of a song syllable. Nonnegative Conv-NMF
with templates 20 frames (2/3 s) long finds such sequences without being told when the song was: each
template is a sequence (neurons x lags) and its amplitudes say when it played.

As in the seqNMF demo, the model is fitted on the first 75 % of the frames with K = 10 templates of
L = 20 frames, and scored on the last 25 %: the templates are held fixed and only their amplitudes are
refit there (held-out R²). The seqNMF Python port with those settings reports a held-out R² of
0.225 ± 0.025 over 10 random seeds (see the real-data README).
"""

# %%
# Load the recording
# ------------------
# ``MackeviciusData.mat`` is a MATLAB v5 file: ``NEURAL`` holds neurons x frames (nonnegative), read
# with :func:`scipy.io.loadmat` and transposed to neurocine's time-first layout. The example skips its
# work when the file is not there.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.io

import neurocine as nc

# the real recordings: $NEUROCINE_REALDATA, else ../shared/realdata (next to the repository, run from its root)
realdata = Path(os.environ.get("NEUROCINE_REALDATA", "../shared/realdata"))
path = realdata / "songbird_hvc" / "MackeviciusData.mat"
have_data = path.exists()
if have_data:
    mat = scipy.io.loadmat(path)
    X = np.ascontiguousarray(mat["NEURAL"].T, dtype=np.float32)  # (frames, neurons)
    fps = float(np.squeeze(mat["VIDEOfs"]))
    n_train = int(0.75 * len(X))
    print(f"{X.shape[1]} neurons x {X.shape[0]} frames at {fps:.0f} Hz; fit on the first {n_train} frames")
else:
    print(f"{path} not found; set NEUROCINE_REALDATA to the folder holding songbird_hvc/ to run this example")

# %%
# Fit Conv-NMF on the first 75 %
# ------------------------------
# ``nonnegative=True`` gives every neuron its own time course inside a template (a sequence), rather
# than one shared waveform.
if have_data:
    model = nc.ConvNMF(10, 20, nonnegative=True, n_init=3, random_state=0).fit(X[:n_train])
    used = np.flatnonzero((model.amplitudes_ > 0).any(axis=0))
    print(f"training R² {model.r2_:.3f}; {len(used)} of 10 templates used, {model.n_spikes_} events")

# %%
# Held-out R² against seqNMF
# --------------------------
# ``score`` refits the amplitudes on the held-out frames with the templates fixed and returns the R² of
# the reconstruction (1 - residual sum of squares / total sum of squares around the mean).
if have_data:
    heldout = model.score(X[n_train:])
    print(f"held-out R² {heldout:.3f} (seqNMF, same settings: 0.225 ± 0.025)")

# %%
# Neurons sorted by their template: sequences appear as diagonals
# ---------------------------------------------------------------
# Each neuron is assigned to the template and lag where its template weight peaks, then neurons are
# sorted by (template, lag). Left: the templates of the used units side by side (neurons down, lags
# across): a neuron that fires in a sequence lights up at its lag, so each template shows a diagonal.
# Right: the held-out data with neurons in the same order: the same diagonals recur each time the
# bird sings the motif.
if have_data:
    W = model.templates_  # (K, neurons, lags)
    peak = W.reshape(W.shape[0], W.shape[1], -1).transpose(1, 0, 2).reshape(W.shape[1], -1).argmax(axis=1)
    unit, lag = np.divmod(peak, W.shape[2])
    order = np.lexsort((lag, unit))
    fig, (ax_w, ax_x) = plt.subplots(1, 2, figsize=(11, 5), gridspec_kw={"width_ratios": [len(used), 8]})
    ax_w.imshow(np.hstack([W[k][order] for k in used]), aspect="auto", cmap="gray_r", interpolation="nearest")
    ax_w.set_xticks([W.shape[2] * (i + 0.5) for i in range(len(used))], [str(k) for k in used])
    ax_w.set_xlabel("template")
    ax_w.set_ylabel("neuron (sorted)")
    test = X[n_train:]
    ax_x.imshow(
        test[:, order].T,
        aspect="auto",
        cmap="gray_r",
        interpolation="nearest",
        extent=(0, len(test) / fps, len(order), 0),
    )
    ax_x.set_xlabel("time in the held-out part (s)")
    ax_x.set_title("held-out frames, neurons sorted by template")
