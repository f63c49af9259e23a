"""
Screenome logs: recurring app-use motifs
========================================

A screenome log lists what was on a phone screen and for how long (one row per event: time, app,
duration). Binned into seconds of use per app per minute it becomes an apps x time matrix, and
nonnegative Conv-NMF looks for *motifs*: a few apps used together in a typical order over several
minutes (a "motivational state"), recurring at sparse times.

Here the log is simulated from such motifs (3 states over 10 apps, each motif 10 one-minute bins long),
written to a CSV file, read back and binned, so the motifs found can be compared with the planted ones.
"""

# %%
# Simulate a 12-hour log and write it as a CSV file
# -------------------------------------------------
import tempfile
from pathlib import Path

import numpy as np

import neurocine as nc
from neurocine.io.screenome import read_screenome_log, write_screenome_log
from neurocine.motifs.plotting import plot_ground_truth_comparison
from neurocine.motifs.screenome import bin_events, simulate_screenome_log
from neurocine.motifs.screenome.plotting import plot_usage

rows, truth = simulate_screenome_log(seed=3, n_apps=10, n_states=3, hours=12, bin_seconds=60)
log_path = Path(tempfile.mkdtemp()) / "log.csv"
write_screenome_log(log_path, rows, columns=["timestamp", "app", "duration", "participant"])
print(log_path.read_text().splitlines()[:3])

# %%
# Read the log and bin it into seconds of use per minute
# ------------------------------------------------------
# :func:`~neurocine.io.screenome.read_screenome_log` parses the times and checks every row;
# :func:`~neurocine.motifs.screenome.bin_events` adds each event to the bins it overlaps, so the matrix
# sums to the total time of use. The simulator also returns the matrix it meant to produce: the two
# must agree.
log = read_screenome_log(log_path)
binned = bin_events(log.start, log.duration, log.channel, 60, channel_names=log.channels)
print(f"{log.n_events} events, {binned.data.shape[0]} one-minute bins x {binned.data.shape[1]} apps")
print(f"largest difference from the simulator's matrix: {np.abs(binned.data - truth.data).max():.2e} s")
fig = plot_usage(binned.data, binned.channels, binned.bin_starts, 60, title="seconds of use per minute")

# %%
# Fit nonnegative Conv-NMF with 3 motifs
# --------------------------------------
# ``nonnegative=True`` gives each app its own time course inside a motif (full-rank, nonnegative
# templates). Binned use is mostly zeros, so the noise level is given (in seconds per bin) instead of
# estimated from the data.
width = truth.templates.shape[2]
model = nc.ConvNMF(3, width, nonnegative=True, noise_std=2.0, n_init=5, random_state=0).fit(binned.data)
score = nc.motifs.score_against_truth(truth.amplitudes, model.amplitudes_, truth.templates, model.templates_)
o = score.overall
print(f"motif onsets: {o['tp']} of {o['n_true']} planted onsets found (within 2 bins), {o['fp']} extra")
print(f"mean motif similarity to the planted ones: {o['template_similarity']:.3f} (1 = identical)")
print(f"variance of the binned matrix explained by the 3 motifs: R² {model.r2_:.3f}")

# %%
# Planted and found motifs
# ------------------------
# Each row: a planted motif (left; apps down, minutes across) and the motif matched to it (right).
# The same few bright apps in the same order mean the motif was recovered.
f1 = [row["f1"] for row in score.per_unit]
fig = plot_ground_truth_comparison(truth.templates, model.templates_, score.assignment, f1)
