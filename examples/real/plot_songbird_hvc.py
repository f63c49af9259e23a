"""
Songbird HVC: neural sequences found by Conv-NMF
================================================

Calcium imaging of 75 neurons in HVC, the premotor nucleus of a singing zebra finch (Mackevicius,
Bahle et al. 2019, eLife; the demo data of seqNMF), at 30 frames per second. During song, HVC neurons
fire in stereotyped sequences: each neuron at its own moment of a song syllable. Nonnegative Conv-NMF
with templates 20 frames (2/3 s) long finds such sequences without being told when the song was: each
template is a sequence (neurons x lags) and its amplitudes say when it played.

As in the seqNMF demo, the model is fitted on the first 75 % of the frames with K = 10 templates of
L = 20 frames, and scored on the last 25 %: the templates are held fixed and only their events are
found there (held-out R², and seqNMF's significance test per template). The song recorded with it
tells whether the sequences play at fixed places in the song.
"""

# %%
# Load the recording
# ------------------
# ``MackeviciusData.mat`` is a MATLAB v5 file: ``NEURAL`` holds neurons x frames (nonnegative), read
# with :func:`scipy.io.loadmat` and transposed to neurocine's time-first layout. The example skips its
# work when the file is not there.
import os
from pathlib import Path

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
# Held-out R² and seqNMF's significance test
# ------------------------------------------
# :func:`~neurocine.motifs.evaluate_heldout` finds each template's events on the held-out frames with
# the templates fixed, reports the R² of the reconstruction, and tests each template as seqNMF does: a
# sequence that recurs in the held-out data has a right-skewed overlap with it, unlike templates whose
# neurons are shifted at random. ``benchmarks/songbird.py`` compares this with the seqnmf port on the
# same split, both scored by the same code (see the benchmarks page).
if have_data:
    from neurocine.motifs.plotting import plot_behaviour_locking, plot_sequences, plot_significance

    ev = nc.motifs.evaluate_heldout(model, X[n_train:], random_state=0)
    print(f"held-out R² {ev.r2:.3f}; {ev.n_significant} of 10 templates significant")
    t = ev.test
    plot_significance(t.skewness, t.null_skewness, t.pvalues)

# %%
# Neurons sorted by their template: sequences appear as diagonals
# ---------------------------------------------------------------
# Each neuron is assigned to the template and lag where its template weight peaks, then neurons are
# sorted by (template, lag) (:func:`~neurocine.motifs.plotting.sequence_order`). Left: the templates
# side by side; a neuron that fires in a sequence lights up at its lag, so each shows a diagonal.
# Right: the data with neurons in the same order: the same diagonals recur each time the bird sings
# the motif. Above: each template's events, fitted on the first part, found with the templates fixed
# after the dashed line.
if have_data:
    amplitudes = np.concatenate([model.amplitudes_, ev.amplitudes])
    plot_sequences(X, model.templates_, amplitudes, sampling_rate=fps, split=n_train)

# %%
# Locked to the song
# ------------------
# ``SONG`` is the song's spectrogram (141 frequency bins x 200 frames per second), recorded from the
# same moment. :func:`~neurocine.motifs.behaviour_locking` averages it around each template's events
# and compares that average with the same events shifted circularly in time: a sequence that plays
# at one place in the song has a consistent spectrogram after its events (small p).
if have_data:
    song = np.ascontiguousarray(mat["SONG"].T)  # (frames, frequency bins)
    song_fs = float(np.squeeze(mat["SONGfs"]))
    lock = nc.motifs.behaviour_locking(
        amplitudes, song, sampling_rate=fps, behaviour_rate=song_fs, window=(-1 / 3, 1.0), random_state=0
    )
    both = int((lock.locked & ev.significant).sum())
    print(f"{lock.n_locked} of 10 templates locked to the song; {both} of the {ev.n_significant} significant ones")
    plot_behaviour_locking(lock, feature_label="frequency bin")
