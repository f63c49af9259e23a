"""whisking_study on a simulated session: CAE codes -> LSTM whisking classifier -> EV of its output vs the ME."""

import json

import numpy as np
import pytest

from neurocine.encode.autoencoder import ConvAutoencoder
from neurocine.encode.sequence import SequenceClassifier
from neurocine.encode.simulate import simulate_session
from neurocine.encode.whisking import whisking_study
from neurocine.errors import InputError
from neurocine.features.widefield import dff

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def small_models(random_state=0):
    """A small CAE (8/4 filters) and a one-layer LSTM: seconds on one CPU thread."""
    return {
        "autoencoder": ConvAutoencoder(filters=(8, 4), max_epochs=5, random_state=random_state, device="cpu"),
        "classifier": SequenceClassifier(
            hidden=(16,), dense=None, learning_rate=1e-2, max_epochs=10, random_state=random_state, device="cpu"
        ),
    }


def session_data(duration_s, seed=0):
    """Whisker-pad crops, whisker ME, block dF/F of the brain pixels (T, q) and the session."""
    s = simulate_session(duration_s=duration_s, video_size=(64, 96), widefield_size=(16, 16), seed=seed)
    x0, y0, x1, y1 = next(r for r in s.rois if r.name == "whisker").box
    n = s.n_frames
    Y = dff(s.widefield, window=n, mode="block").reshape(n, -1)[:, s.brain_mask.ravel()]
    return s.frames[:, y0:y1, x0:x1], s.features["whisker_me"], Y, s


@pytest.fixture(scope="module")
def study():
    crops, me, Y, s = session_data(240.0)  # 7200 frames of 19 x 29 pixels; the study takes ~7 s on one thread
    return whisking_study(crops, me, Y, kernel=s.kernel, **small_models()), s


def test_classifier_beats_chance(study):
    result, _ = study
    acc, chance = result.accuracy, result.chance_accuracy
    assert result.encodings.shape == (7200, 4 * 5 * 8)  # 19 x 29 pixels padded to 20 x 32, / 4
    assert result.probability.shape == result.whisking.shape == (7200,)
    assert result.blocks[2] == slice(5760, 7200) and result.classifier.split == (0.7, 0.1, 0.2)
    # Nearly separable: the pad's pixels move only during bouts, so the codes change only then; errors are at the
    # threshold crossings. Seed 0: train/val/test 1.000/1.000/0.983 vs chance 0.913/0.992/0.875;
    # seeds 1-5: test 0.964-0.995 vs chance 0.838-0.887.
    assert acc["test"] >= 0.85 and acc["train"] >= 0.9
    assert acc["test"] > chance["test"] + 0.05
    assert 0 < result.reconstruction_bce < 1
    summary = result.summary()
    json.dumps(summary, allow_nan=False)
    assert summary["n_whisking_frames"] == int(result.whisking.sum()) and summary["code_dim"] == 160


def test_motion_energy_explains_more_than_probability(study):
    # The widefield is generated from whisker_me (convolved with the kernel), and the labels are thresholded
    # whisker_me: the ME carries everything the probability does plus sub-threshold amplitude, so it must explain
    # more -- the reverse of McCarthy (2019)'s 4.9 % (ME) vs 9.6 % (probability).
    result, s = study
    beta = np.abs(s.beta_maps["whisker_me"][s.brain_mask])
    barrel = beta > 0.5 * beta.max()  # the map is a Gaussian blob: nonzero on every brain pixel
    ev_p, ev_me = result.ev_probability[barrel].mean(), result.ev_motion_energy[barrel].mean()
    # seed 0: 0.34 vs 0.52 on the 10 barrel pixels; 0.029 vs 0.050 over the 172 brain pixels
    # (seeds 1-5: probability 0.33-0.59, ME 0.48-0.61 on the barrel pixels, ME ahead in every one)
    assert ev_me > ev_p + 0.05
    assert result.ev_motion_energy.mean() > result.ev_probability.mean()
    assert ev_p > 0.15


def test_same_random_state_same_probability():
    crops, me, Y, _ = session_data(40.0, seed=1)
    first = whisking_study(crops, me, Y, **small_models(random_state=3))
    second = whisking_study(crops, me, Y, **small_models(random_state=3))
    np.testing.assert_array_equal(first.probability, second.probability)
    np.testing.assert_array_equal(first.encodings, second.encodings)


@pytest.mark.parametrize(
    "change, match",
    [
        (lambda c, m, y: (c, m[:-1], y), "whisk_me: has 59 values; expected 60"),
        (lambda c, m, y: (c, m, y[:-1]), "Y: has 59 rows; expected 60"),
        (lambda c, m, y: (c.astype(np.float32), m, y), "crops: has dtype float32; expected uint8"),
        (lambda c, m, y: (c[0], m, y), r"crops: got a 2-D array"),
        (lambda c, m, y: (c, np.where(np.arange(60) == 7, np.nan, m), y), "whisk_me: has 1 NaN .* frame 7"),
        (lambda c, m, y: (c, m, y[:, 0]), "Y: got a 1-D array"),
        (lambda c, m, y: (c, np.zeros(60), y), "whisk_me: is constant"),
        (lambda c, m, y: (c, np.r_[np.zeros(59), 1.0], y), "whisk_me: the training block .* 0 whisking frame"),
    ],
)
def test_input_errors(change, match):
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8)
    me, Y = rng.random(60), rng.standard_normal((60, 3))
    with pytest.raises(InputError, match=match):
        whisking_study(*change(crops, me, Y))


def test_bad_options():
    rng = np.random.default_rng(0)
    crops, me, Y = rng.integers(0, 256, (60, 8, 8), dtype=np.uint8), rng.random(60), rng.standard_normal((60, 3))
    with pytest.raises(InputError, match="kernel"):
        whisking_study(crops, me, Y, kernel=[[1.0]])
    with pytest.raises(InputError, match="split"):
        whisking_study(crops, me, Y, split=(0.9, 0.1, 0.0))
    with pytest.raises(InputError, match="classifier: got ConvAutoencoder"):
        whisking_study(crops, me, Y, classifier=ConvAutoencoder())
