"""SequenceRegressor / SequenceClassifier against simulations with a known noise ceiling."""

import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.base import is_classifier, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import Ridge

from neurocine.encode.sequence import SequenceClassifier, SequenceRegressor, contiguous_split
from neurocine.errors import InputError
from neurocine.models.ridge import explained_variance
from neurocine.models.torch_base import CHECKPOINT_FILE, TrainingInterrupted

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# a smaller, faster net for the tests that check mechanics rather than accuracy
TINY = dict(hidden=(8, 8), dense=16, batch_size=16, steps_per_epoch=5, learning_rate=1e-2, device="cpu")


def history_simulation(n_samples=2500, noise=0.3, seed=0):
    """Targets that depend on the *past* of the inputs, plus white noise.

    ``y0`` is a leaky integrator of ``x0`` (time constant ~4.5 steps), ``y1``
    is ``x1`` three steps earlier; ``x2`` is a distractor. Each noise-free
    signal ``S`` has unit variance, so the noise ceiling of the explained
    variance is about ``1 / (1 + noise**2)`` (computed exactly in the tests
    as the EV of ``S`` itself).
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 3))
    s0 = np.convolve(X[:, 0], 0.8 ** np.arange(25))[:n_samples]
    s1 = np.r_[np.zeros(3), X[:-3, 1]]
    S = np.stack([s0 / s0.std(), s1 / s1.std()], 1)
    return X, S + noise * rng.standard_normal(S.shape), S


@pytest.fixture(scope="module")
def history_fit():
    X, Y, S = history_simulation()
    model = SequenceRegressor(learning_rate=1e-2, batch_size=64, max_epochs=30, random_state=0).fit(X, Y)
    return X, Y, S, model


def test_contiguous_split():
    assert contiguous_split(100) == (slice(0, 70), slice(70, 80), slice(80, 100))
    assert contiguous_split(10, (0.5, 0.5, 0.0)) == (slice(0, 5), slice(5, 10), slice(10, 10))
    with pytest.raises(InputError, match="fractions"):
        contiguous_split(100, (0.7, 0.2, 0.2))
    with pytest.raises(InputError, match="at least 1"):
        contiguous_split(4, (0.7, 0.1, 0.2))


def test_lstm_reaches_the_noise_ceiling_and_beats_instantaneous_ridge(history_fit):
    X, Y, S, model = history_fit
    train, _, test = contiguous_split(len(X))
    ceiling = explained_variance(Y[test], S[test])  # the true signal's EV: [0.93, 0.92]
    ev = model.score_targets(X[test], Y[test])
    assert ev.shape == (2,)
    assert np.all(ev > 0.85) and np.all(ev > ceiling - 0.05)  # measured [0.91, 0.90] at seed 0
    ridge = Ridge(alpha=1.0).fit(X[train], Y[train])  # sees only x_t: y1 is invisible to it
    ridge_ev = explained_variance(Y[test], ridge.predict(X[test]))  # measured [0.33, 0.00]
    assert np.all(ev > ridge_ev + 0.4)
    # the attributes McCarthy (2019) reports, and its train/validation/test numbers
    assert model.n_epochs_ == len(model.history_["loss"]) == len(model.history_["val_loss"])
    assert 1 <= model.best_epoch_ <= model.n_epochs_ <= 30
    scores = model.split_scores(X, Y)
    assert set(scores) == {"train", "validation", "test"}
    assert np.all(scores["train"] > 0.85) and np.all(scores["validation"] > 0.85)
    np.testing.assert_allclose(scores["test"], ev, atol=0.02)  # full pass vs. a pass started at the test block
    pred = model.predict(X[test])
    assert pred.shape == (len(X[test]), 2)
    np.testing.assert_allclose(pred.mean(0), Y[test].mean(0), atol=0.1)  # in the targets' units


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_same_seed_same_predictions(cell):
    X, Y, _ = history_simulation(600)
    fits = [SequenceRegressor(cell, max_epochs=2, random_state=seed, **TINY).fit(X, Y) for seed in (3, 3, 4)]
    preds = [m.predict(X) for m in fits]
    np.testing.assert_array_equal(preds[0], preds[1])
    assert fits[0].history_ == fits[1].history_
    assert not np.allclose(preds[0], preds[2])
    clone = pickle.loads(pickle.dumps(fits[0]))  # a fitted model travels (standard torch modules only)
    np.testing.assert_array_equal(clone.predict(X), preds[0])


def weights(model):
    return {k: v.clone() for k, v in model.network_.state_dict().items()}


@pytest.mark.parametrize("how", ["crash", "longer"])
def test_resumed_fit_equals_uninterrupted(tmp_path, how):
    X, Y, _ = history_simulation(600)
    params = dict(max_epochs=6, patience=10, random_state=1, **TINY)
    reference = SequenceRegressor(**params).fit(X, Y)

    first = SequenceRegressor(**{**params, "checkpoint_dir": tmp_path})
    if how == "crash":  # interrupted after epoch 3, as a killed job would be
        first._stop_after_epoch = 3
        with pytest.raises(TrainingInterrupted):
            first.fit(X, Y)
        assert not hasattr(first, "network_")  # no half-trained model
    else:  # a finished 3-epoch fit continued to 6 epochs
        first.set_params(max_epochs=3).fit(X, Y)
        assert first.n_epochs_ == 3
    assert (tmp_path / CHECKPOINT_FILE).exists()
    assert list(tmp_path.iterdir()) == [tmp_path / CHECKPOINT_FILE]  # no temporary file left behind

    resumed = SequenceRegressor(**{**params, "checkpoint_dir": tmp_path}).fit(X, Y)
    assert resumed.n_epochs_ == reference.n_epochs_ == 6
    assert resumed.history_ == reference.history_
    assert resumed.best_epoch_ == reference.best_epoch_
    ref_w, res_w = weights(reference), weights(resumed)
    assert all(torch.equal(ref_w[k], res_w[k]) for k in ref_w)  # bit for bit
    np.testing.assert_array_equal(resumed.predict(X), reference.predict(X))

    again = SequenceRegressor(**{**params, "checkpoint_dir": tmp_path}).fit(X, Y)  # finished: nothing to redo
    assert again.history_ == reference.history_
    with pytest.raises(
        InputError,
        match=r"checkpoint\.pt: the checkpoint does not match .*hidden.*delete the folder .* to start afresh",
    ):
        SequenceRegressor(**{**params, "hidden": (8, 9), "checkpoint_dir": tmp_path}).fit(X, Y)
    with pytest.raises(InputError, match="does not match .*data"):
        SequenceRegressor(**{**params, "checkpoint_dir": tmp_path}).fit(X, Y + 1)
    with pytest.raises(InputError, match="max_epochs: got 4, but the checkpoint"):
        SequenceRegressor(**{**params, "max_epochs": 4, "checkpoint_dir": tmp_path}).fit(X, Y)


def test_early_stopping_restores_the_best_epoch():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((1000, 2))
    Y = X @ [[1.0], [-0.5]] + 0.1 * rng.standard_normal((1000, 1))  # easy: instantaneous and linear
    model = SequenceRegressor(max_epochs=60, patience=2, min_delta=1e-3, random_state=0, **TINY).fit(X, Y)
    assert model.stopped_early_ and model.n_epochs_ < 60
    assert model.n_epochs_ == model.best_epoch_ + 2
    val_loss = model.history_["val_loss"]
    assert val_loss[model.best_epoch_ - 1] == min(val_loss[: model.best_epoch_])
    assert all(v > val_loss[model.best_epoch_ - 1] - 1e-3 for v in val_loss[model.best_epoch_ :])
    # the restored weights are the best epoch's: recompute its validation loss (standardised MSE)
    _, val, _ = contiguous_split(len(X))
    residual = (model.predict(X[val]) - Y[val]) / model.y_scale_
    assert float(np.mean(residual**2)) == pytest.approx(val_loss[model.best_epoch_ - 1], rel=1e-4)
    assert model.score_targets(X[val], Y[val])[0] > 0.9


def test_explicit_validation_set_and_1d_targets():
    X, Y, _ = history_simulation(700)
    model = SequenceRegressor(max_epochs=2, random_state=0, **TINY).fit(
        X[:500], Y[:500, 1], validation=(X[500:], Y[500:, 1])
    )
    assert model.predict(X).shape == (700,)
    assert model.score_targets(X, Y[:, 1]).shape == (1,)
    np.testing.assert_allclose(model.x_mean_, X[:500].mean(0), rtol=1e-5)  # standardised on all of X


def planted_events(n_samples=2500, seed=0):
    """Binary events where a leaky integrator of x0 (the latent) exceeds 1 SD; x1, x2 are distractors."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n_samples, 3))
    latent = np.convolve(X[:, 0], 0.8 ** np.arange(25))[:n_samples]
    return X, (latent > latent.std()).astype(int)


def test_classifier_finds_planted_events():
    X, y = planted_events()
    train, val, test = contiguous_split(len(X))
    model = SequenceClassifier(learning_rate=1e-2, batch_size=64, max_epochs=20, random_state=0).fit(X, y)
    majority = max(y[test].mean(), 1 - y[test].mean())  # ~0.84: events are ~16 % of the steps
    accuracy = model.score(X[test], y[test])  # measured 0.97 at seed 0
    assert accuracy > majority + 0.08
    proba = model.predict_proba(X[test])
    assert proba.shape == y[test].shape and proba.min() >= 0 and proba.max() <= 1
    assert set(np.unique(model.predict(X[test]))) <= {0, 1}
    np.testing.assert_array_equal(model.classes_, [0, 1])
    assert accuracy == np.mean(model.predict(X[test]) == y[test])
    scores = model.split_scores(X, y)
    assert scores["train"] > majority + 0.08 and scores["validation"] > majority + 0.08
    # an instantaneous classifier cannot see the integrator's past: logistic regression on x_t
    from sklearn.linear_model import LogisticRegression

    logistic = LogisticRegression().fit(X[train], y[train]).score(X[test], y[test])
    assert accuracy > logistic + 0.05


@pytest.mark.parametrize(
    "make_args,match",
    [
        (
            lambda X, Y: (np.where(np.arange(600)[:, None] == 5, np.nan, X), Y),
            r"X: has 3 NaNs, the first at \(row 5, column 0\)",
        ),
        (lambda X, Y: (X, Y[:-1]), "Y: has 599 time steps, expected 600"),
        (lambda X, Y: (X[:, 0], Y), r"reshape\(-1, 1\)"),
        (lambda X, Y: (X[:25], Y[:25]), "sequence_length: got 20, expected fewer than the 18 time steps"),
        (lambda X, Y: (X, np.where(np.arange(600)[:, None] == 7, np.inf, Y)), "Y: has 2 infinite values"),
    ],
)
def test_bad_input(make_args, match):
    X, Y, _ = history_simulation(600)
    with pytest.raises(InputError, match=match):
        SequenceRegressor(max_epochs=1, **TINY).fit(*make_args(X, Y))


@pytest.mark.parametrize(
    "params,match",
    [
        (dict(cell="rnn"), "cell: got 'rnn', expected one of lstm, gru"),
        (dict(hidden=(8, 0)), "hidden: got"),
        (dict(dropout=1.0), "dropout: got 1.0"),
        (dict(split=(0.8, 0.1, 0.2)), "split: got"),
        (dict(batch_size=0), "batch_size: got 0"),
    ],
)
def test_bad_parameters(params, match):
    X, Y, _ = history_simulation(600)
    with pytest.raises(InputError, match=match):
        SequenceRegressor(**params).fit(X, Y)


def test_misuse_of_a_fitted_model_and_labels():
    X, Y, _ = history_simulation(600)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        SequenceRegressor().predict(X)
    assert is_regressor(SequenceRegressor()) and is_classifier(SequenceClassifier())
    model = SequenceRegressor(max_epochs=1, random_state=0, **TINY).fit(X, Y)
    r2 = 1 - ((Y - model.predict(X)) ** 2).sum(0) / ((Y - Y.mean(0)) ** 2).sum(0)
    # one float: R² averaged over the targets; the predictions are float32, so R² agrees to float32 precision
    assert model.score(X, Y) == pytest.approx(r2.mean(), abs=1e-6)
    with pytest.raises(InputError, match=r"X: has 2 columns, expected 3 \(as in fit\)"):
        model.predict(X[:, :2])
    with pytest.raises(InputError, match=r"Y: has 1 columns, expected 2 \(as in fit\)"):
        model.score(X, Y[:, :1])
    with pytest.raises(InputError, match="validation X: has 2 columns, expected 3"):
        SequenceRegressor(max_epochs=1, **TINY).fit(X, Y, validation=(X[:, :2], Y))
    with pytest.raises(InputError, match=r"y: has value 2 at \(row 3, column 0\); expected binary labels"):
        SequenceClassifier(max_epochs=1, **TINY).fit(X, np.r_[0, 1, 0, 2, np.zeros(596, int)])


def test_import_stays_light():
    code = (
        "import sys, neurocine.encode.sequence, neurocine.encode.autoencoder, neurocine.models.torch_base; "
        "assert 'torch' not in sys.modules, 'torch imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
