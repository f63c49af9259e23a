"""
Conv-NMF: find spiking units in simulated multichannel data
===========================================================

Convolutional NMF models a multichannel recording ``X`` (time x channels) as a sum of units, each a
short template (channels x lags) stamped at sparse times with a positive amplitude. Here the data are
simulated from exactly that model, so every found template and spike can be scored against the truth:
4 units, 10 channels, 600 samples, templates 10 samples long and Gaussian noise of standard deviation 1.
"""

# %%
# Simulate data with known units
# -------------------------------
# :func:`neurocine.motifs.simulate_convnmf` draws the templates, the spike times and amplitudes and the
# noise. ``oracle_r2`` is the variance explained by the *true* model: no fit can beat it on average,
# since the rest is noise.
import neurocine as nc
from neurocine.motifs.plotting import plot_ground_truth_comparison, plot_k_selection, plot_model

sim = nc.motifs.simulate_convnmf(7)
print(f"data {sim.data.shape} (time x channels), {int((sim.amplitudes > 0).sum())} true spikes")
print(f"R² of the true model on the noisy data: {sim.oracle_r2():.3f}")

# %%
# Fit Conv-NMF with the true number of units
# ------------------------------------------
# :class:`neurocine.ConvNMF` follows the scikit-learn conventions: ``fit`` stores the templates
# ``templates_`` (K x channels x lags) and the amplitudes ``amplitudes_`` (time x K).
model = nc.ConvNMF(n_components=4, width=10, n_init=5, random_state=0).fit(sim.data)
print(f"fit R² {model.r2_:.3f} (true model {sim.oracle_r2():.3f}), {model.n_spikes_} spikes found")

# %%
# Score the fit against the truth
# -------------------------------
# Found units are matched to true ones by their spike trains (Hungarian assignment, spikes within 2
# samples count as the same). ``template_similarity`` is the cosine between matched templates at their
# best lag (1 = the same shape).
score = nc.motifs.score_against_truth(sim.amplitudes, model.amplitudes_, sim.templates, model.templates_)
o = score.overall
print(f"{o['tp']} of {o['n_true']} true spikes found, {o['fp']} false ones; F1 {o['f1']:.3f}")
print(f"mean template similarity to the truth: {o['template_similarity']:.3f}")
for row in score.per_unit:
    print(f"  true unit {row['unit']} -> found unit {row['matched_unit']}: F1 {row['f1']:.2f}")

# %%
# True and found templates side by side
# -------------------------------------
# Each row is one true unit (left) and the unit matched to it (right), channels down and lags across.
# Look for the same footprint (which channels) and the same time course (where along the lags).
f1 = [row["f1"] for row in score.per_unit]
fig = plot_ground_truth_comparison(sim.templates, model.templates_, score.assignment, f1)

# %%
# The data with every found spike drawn over it
# ---------------------------------------------
# Each coloured stroke is one found spike: its template scaled by its amplitude, on the channels where
# the unit is large. The ticks above the traces mark the spike times. Unexplained bumps would be missed
# spikes; strokes over flat noise would be false ones.
fig = plot_model(sim.data, model.templates_, model.amplitudes_, time_slice=(0, 300), title="first 300 samples")

# %%
# Choosing K when it is unknown
# -----------------------------
# :func:`neurocine.select_n_components` fits each K on the data with 10 % of the entries hidden and
# scores the reconstruction of the hidden entries (held-out R²). It rises while real units are added and
# flattens once K passes the number of units; the recommended K is the smallest within one standard
# error of the best (here it should be the true 4).
sel = nc.select_n_components(sim.data, [2, 3, 4, 5, 6], 10, n_repeats=2, n_init=2, random_state=0)
for k, r2 in zip(sel.ks, sel.heldout_r2.mean(axis=1)):
    print(f"K = {k}: held-out R² {r2:.3f}")
print(f"recommended K = {sel.recommended} (true K = {sim.templates.shape[0]})")
fig = plot_k_selection(sel.ks, sel.heldout_r2, stability=sel.stability, recommended=sel.recommended)
