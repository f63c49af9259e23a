"""
Mouse V1: an encoding network and movie reconstruction
======================================================

Two-photon recordings of mouse primary visual cortex (V1) during natural movies, in the layout of the
Sensorium 2023 competition: per trial the movie, every neuron's response per frame, the running speed,
the pupil size and the eye position. Two questions are asked of such data:

1. **Encoding**: predict each neuron's response from the movie and the behaviour. The dynamic neural
   encoding model (:class:`neurocine.DNEM`: a 3-D convolutional core, a Gaussian readout per neuron, a
   shifter for eye movements and a behavioural modulator) is scored by the single-trial correlation
   between predicted and recorded responses.
2. **Reconstruction**: find the movie that makes an encoding model predict the recorded responses,
   by gradient descent on the movie's pixels.

The mouse here is simulated with the easy simulator (``easy=True``, ``v1 simulate --easy``:
linear-nonlinear-Poisson neurons with known receptive fields; the default mouse adds calcium dynamics,
shared variability and neurons that are not linear-nonlinear, as real recordings have), tiny so that it
runs in seconds: 100 neurons, 60-frame trials of 36 x 64 pixels. The simulator knows the true
firing rates, hence the **ceiling**: the correlation of the true rates with the noisy responses, which
no model can beat on average. Real use needs far more data and training than this page affords; see
``neurocine v1 train`` and ``neurocine v1 reconstruct``.
"""

# %%
# Simulate a small mouse folder
# -----------------------------
import tempfile

import matplotlib.pyplot as plt
import numpy as np

import neurocine as nc
from neurocine.io.sensorium import SensoriumMouse
from neurocine.v1.simulate import V1Population

folder = tempfile.mkdtemp()
nc.v1.simulate_v1(
    folder,
    n_neurons=100,
    n_train=6,
    n_oracle=1,
    oracle_repeats=2,
    n_test=1,
    test_repeats=2,
    n_frames=60,
    n_calibration=2,
    ceiling=0.6,
    seed=0,
    overwrite=True,
    easy=True,
)
mouse = SensoriumMouse(folder)
ceiling = mouse.simulation["ceiling_correlation"]
tiers, counts = np.unique(mouse.tiers, return_counts=True)
print(
    f"{mouse.n_neurons} neurons, frames {mouse.frame_shape}, trials per tier:",
    dict(zip(tiers.tolist(), counts.tolist())),
)
print(f"ceiling (true rates vs responses, frames >= 50 of the test trials): {ceiling:.3f}")

# %%
# Train a tiny DNEM
# -----------------
# The estimator takes sequences of trials (here the lazy ones of the mouse folder): training trials and
# validation trials for early stopping. ``score`` is the Sensorium single-trial correlation, averaged
# over neurons, skipping the first 50 frames of each trial (the network's warm-up).
test = mouse.trials("final_test_main")
model = nc.DNEM(core_channels=4, n_blocks=1, epochs=2, clip_length=30, batch_size=3, random_state=0, device="cpu")
model.fit(mouse.trials("train"), mouse.trials("oracle"))
print(f"DNEM single-trial correlation on the test trials: {model.score(test):.3f} (ceiling {ceiling:.3f})")
print(f"validation correlation per epoch: {np.round(model.history_['val_correlation'], 3)}")

# %%
# Reconstruct a test movie with the true population
# -------------------------------------------------
# The simulator's own population, as a differentiable torch module, is the best encoding model there
# can be, so reconstructing with it is the upper bound of what any trained model would give from these
# responses. :func:`neurocine.v1.reconstruct` starts from a grey movie and follows the gradient of the
# Poisson likelihood of the recorded responses; ``truth`` only scores the result (correlation with the
# movie that was shown, inside the screen region that the neurons see).
true_model = V1Population.from_folder(folder).torch_module()
trial = test[0]
result = nc.v1.reconstruct(
    [true_model],
    trial.responses,
    trial.behavior,
    trial.pupil_center,
    method="adam",
    iterations=20,
    coarse_to_fine=1,
    truth=trial.video,
    device="cpu",
    desc=None,
)
print(f"reconstruction vs shown movie: video correlation {result.video_correlation:.3f}")

# %%
# Shown and reconstructed frames
# ------------------------------
# Top: frames of the movie that was shown; bottom: the reconstruction from 100 neurons' responses after
# 20 steps. With so few neurons only blurred, oriented fragments come back, and only inside the patch
# of screen their receptive fields cover (the rest stays grey); more neurons and more steps sharpen
# them.
frames = [10, 25, 40, 55]
fig, axes = plt.subplots(2, len(frames), figsize=(10, 3.2))
for ax, i in zip(axes[0], frames):
    ax.imshow(trial.video[i], cmap="gray", vmin=0, vmax=255)
    ax.set_title(f"frame {i}", fontsize=8)
for ax, i in zip(axes[1], frames):
    ax.imshow(result.video[i], cmap="gray", vmin=0, vmax=255)
for ax in axes.ravel():
    ax.set_xticks([])
    ax.set_yticks([])
for ax, label in zip(axes[:, 0], ("shown", "reconstructed")):
    ax.set_ylabel(label)
