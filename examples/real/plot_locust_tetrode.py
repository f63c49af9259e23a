"""
Locust tetrode: spike templates by Conv-NMF
===========================================

An extracellular tetrode in the antennal lobe of a locust (Pouzat et al.; the tridesclous test data):
4 channels at 15 kHz, spontaneous activity. Spike sorting is Conv-NMF with signed rank-1 templates:
each unit is a spatial footprint over the 4 channels times one waveform, stamped at its spike times.

Two seconds of the recording are band-passed (300-5000 Hz, as the spike sorters compared in the
real-data README) and fitted with 6 units. The README reports, for the whole trial, noise of about
45-57 ADC units per channel, the largest units at 700-1100 ADC peak to peak, and 5 to 7 units found by
two SpikeInterface sorters. The last section sorts the whole trial with :func:`neurocine.motifs.sort_spikes`, the
sorter behind ``neurocine motifs sort``.
"""

# %%
# Read and band-pass two seconds
# ------------------------------
# The file is raw int16 with the 4 channels interleaved (read with :func:`numpy.fromfile`). The noise
# of each channel is estimated from the median absolute deviation (robust to the spikes). The example
# skips its work when the file is not there.
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import scipy.signal

import neurocine as nc
from neurocine.motifs.plotting import plot_model

# the real recordings: $NEUROCINE_REALDATA, else ../shared/realdata (next to the repository, run from its root)
realdata = Path(os.environ.get("NEUROCINE_REALDATA", "../shared/realdata"))
path = realdata / "locust_tetrode" / "locust_trial_01.raw"
have_data = path.exists()
fs = 15000.0
if have_data:
    raw = np.fromfile(path, dtype=np.int16).reshape(-1, 4)[: int(2 * fs)].astype(np.float64)
    sos = scipy.signal.butter(3, [300, 5000], btype="bandpass", fs=fs, output="sos")
    filtered = scipy.signal.sosfiltfilt(sos, raw - raw.mean(axis=0), axis=0)
    noise = np.median(np.abs(filtered), axis=0) / 0.6745
    print(f"{len(raw)} samples x 4 channels; noise per channel {np.round(noise, 1)} ADC (README: 45-57)")
else:
    print(f"{path} not found; set NEUROCINE_REALDATA to the folder holding locust_tetrode/ to run this example")

# %%
# Fit 6 units on noise-scaled data
# --------------------------------
# The amplitude prior of :class:`neurocine.ConvNMF` (``amp_rate``) is in units of the data, and its
# default suits data whose noise is about 1; so each channel is divided by its noise first (in ADC
# units, with noise near 50, every spike would fall below the prior's threshold and none would be
# found). Templates are 20 samples (1.3 ms) long.
if have_data:
    scaled = (filtered / noise).astype(np.float32)
    model = nc.ConvNMF(6, 20, n_init=2, random_state=0).fit(scaled)
    print(
        f"{model.n_spikes_} spikes in 2 s, R² {model.r2_:.3f}; residual noise {model.noise_std_:.2f} (1 = the MAD noise)"
    )
    for k in range(6):
        amplitudes = model.amplitudes_[model.amplitudes_[:, k] > 0, k]
        if amplitudes.size == 0:
            print(f"unit {k}: no spikes")
            continue
        waveform = model.templates_[k] * noise[:, None]  # back to ADC units, per unit amplitude
        ptp = np.ptp(waveform, axis=1).max()
        print(
            f"unit {k}: {amplitudes.size:4d} spikes, peak to peak on its best channel "
            f"{ptp * np.median(amplitudes):6.0f} ADC (median spike), {ptp * amplitudes.max():6.0f} (largest)"
        )

# %%
# The data with every spike drawn over it
# ---------------------------------------
# 50 ms of the 4 channels; each coloured stroke is one found spike (its template times its amplitude)
# and the ticks above mark the spike times. The right panel shows each unit's template on the channels
# where it is large: the footprint over the 4 wires is what tells units apart.
if have_data:
    fig = plot_model(
        scaled,
        model.templates_,
        model.amplitudes_,
        sampling_rate=fs,
        channel_names=[f"wire {i}" for i in range(4)],
        time_slice=(3000, 3750),
        title="band-passed tetrode, in units of the noise",
    )

# %%
# Spike counts per unit
# ---------------------
if have_data:
    fig, ax = plt.subplots(figsize=(5, 2.5))
    ax.bar(range(6), (model.amplitudes_ > 0).sum(axis=0) / (len(scaled) / fs))
    ax.set_xlabel("unit")
    ax.set_ylabel("firing rate (spikes/s)")

# %%
# The whole trial, spike-sorted
# -----------------------------
# :func:`neurocine.motifs.sort_spikes` is the sorter behind ``neurocine motifs sort``: the trial is
# band-passed and whitened (:func:`neurocine.features.preprocess_extracellular`: noise 1 on every
# channel, uncorrelated across them), Conv-NMF finds the events, and their waveforms are clustered into
# units (same-shaped neurons of different sizes are split, units found twice merged). Each unit gets
# the quality metrics spike sorters report; the README's peers find 5 and 7 units on this trial.
if have_data:
    from neurocine.motifs.sort_plotting import plot_unit_waveforms

    trial = np.fromfile(path, dtype=np.int16).reshape(-1, 4)
    signal = nc.features.preprocess_extracellular(trial, fs)
    sort = nc.motifs.sort_spikes(signal.whitened, fs, seed=0)
    for row in nc.motifs.unit_quality(sort, signal.filtered, signal.noise):
        print(
            f"unit {row['unit']}: {row['n_spikes']:4d} spikes ({row['firing_rate_hz']:.1f} Hz), "
            f"{row['peak_to_peak']:5.0f} ADC peak to peak on wire {row['best_channel']}, SNR {row['snr']:.1f}, "
            f"ISI-violation ratio {row['isi_violation_ratio']:.2f}"
        )
    fig = plot_unit_waveforms(sort, signal.filtered, channel_names=[f"wire {i}" for i in range(4)])
