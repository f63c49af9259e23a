"""DNEM on a small ground-truth LN-Poisson population: accuracy vs the ceiling, causality, metrics, persistence.

The population is simulated here (Gabor receptive fields on an 18 x 32 screen, an exponential temporal
filter, a softplus nonlinearity, a gain that grows with running, Poisson counts), independent of
``neurocine.v1.simulate``.
"""

from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import torch
from scipy.ndimage import gaussian_filter
from sklearn.base import is_regressor
from sklearn.exceptions import NotFittedError

from neurocine.errors import InputError
from neurocine.metrics import correlation_to_average, single_trial_correlation
from neurocine.models.torch_base import CHECKPOINT_FILE, TrainingInterrupted
from neurocine.v1.dnem import DNEM, DNEMNetwork, EnsembleModule, train_ensemble
from neurocine.v1.receptive_fields import map_receptive_fields, population_rf, rf_centers

H, W, N_NEURONS, N_FRAMES, SKIP = 18, 32, 30, 60, 10
TINY = dict(
    core_channels=16, n_blocks=2, temporal_kernel=3, downsample=2, batch_size=8, clip_length=30, lr=1e-2, device="cpu"
)


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


# ---------------------------------------------------------------------- ground truth
def smooth_noise(rng, n_frames, sigma=1.5, rho=0.8):
    """Spatially blurred, temporally AR(1) Gaussian noise, grey levels around 128 (SD 50), clipped to 0-255."""
    x = gaussian_filter(rng.standard_normal((n_frames, H, W)), (0, sigma, sigma), mode="wrap")
    out = np.empty_like(x)
    out[0] = x[0]
    for t in range(1, n_frames):
        out[t] = rho * out[t - 1] + np.sqrt(1 - rho**2) * x[t]
    return np.clip(128 + 50 * out / out.std(), 0, 255).astype(np.float32)


def gabor_population(rng, n=N_NEURONS):
    """Unit-norm Gabor RFs (SD 2.5 px, period 10 px), random orientation and phase; centres (row, col)."""
    yy, xx = np.mgrid[0:H, 0:W]
    cy, cx = rng.uniform(5, H - 6, n), rng.uniform(6, W - 7, n)
    theta, phase = rng.uniform(0, np.pi, n), rng.uniform(0, 2 * np.pi, n)
    dy, dx = yy - cy[:, None, None], xx - cx[:, None, None]
    along = dx * np.cos(theta)[:, None, None] + dy * np.sin(theta)[:, None, None]
    rf = np.exp(-(dx**2 + dy**2) / (2 * 2.5**2)) * np.cos(2 * np.pi * along / 10 + phase[:, None, None])
    rf /= np.sqrt((rf**2).sum((1, 2), keepdims=True))
    taps = np.exp(-np.arange(6) / 2.0)
    return rf, taps / taps.sum(), np.stack([cy, cx], 1)


def make_trials(rng, rf, taps, n_trials, n_frames=N_FRAMES, scale=0.12):
    """Trials with ``video``, ``responses`` (Poisson), ``behavior``, ``pupil_center`` and the true ``rates``."""
    trials = []
    for _ in range(n_trials):
        video = smooth_noise(rng, n_frames)
        drive = np.einsum("thw,nhw->tn", (video - 128) / 50, rf)
        filtered = sum(
            a * np.concatenate([np.zeros((k, drive.shape[1])), drive[: n_frames - k]]) for k, a in enumerate(taps)
        )
        running = np.abs(np.cumsum(rng.normal(0, 1.5, n_frames)))
        pupil = 15 + np.cumsum(rng.normal(0, 0.2, n_frames))
        gain = np.exp(0.4 * np.tanh(running / 10))
        rates = scale * gain[:, None] * np.log1p(np.exp(2.5 * filtered - 0.5))
        trials.append(
            SimpleNamespace(
                video=video,
                responses=rng.poisson(rates).astype(np.float32),
                behavior=np.stack([pupil, running], 1).astype(np.float32),
                pupil_center=rng.normal(0, 1, (n_frames, 2)).astype(np.float32),
                rates=rates.astype(np.float32),
            )
        )
    return trials


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    rf, taps, centres = gabor_population(rng)
    return SimpleNamespace(
        train=make_trials(rng, rf, taps, 48),
        val=make_trials(rng, rf, taps, 8),
        test=make_trials(rng, rf, taps, 8),
        rf=rf,
        centres=centres,
    )


@pytest.fixture(scope="module")
def fitted(data):
    return DNEM(**TINY, epochs=6, random_state=0).fit(data.train, data.val)


def responses(trials):
    return [t.responses for t in trials]


# ---------------------------------------------------------------------- metrics
def test_single_trial_correlation_matches_scipy_on_concatenated_frames():
    rng = np.random.default_rng(1)
    resp = [rng.poisson(2.0, (n, 4)).astype(float) for n in (70, 55, 90)]
    pred = [r + rng.normal(0, 2, r.shape) for r in resp]
    resp[0][:, 3] = resp[1][:, 3] = resp[2][:, 3] = 1.0  # a silent (constant) neuron
    got = single_trial_correlation(resp, pred, skip=50)
    cat_r = np.concatenate([r[50:] for r in resp])
    cat_p = np.concatenate([p[50:] for p in pred])
    expected = [scipy.stats.pearsonr(cat_r[:, j], cat_p[:, j])[0] for j in range(3)]
    np.testing.assert_allclose(got[:3], expected, rtol=1e-6)
    assert got[3] == 0.0  # constant responses: 0, as the competition's eps-regularised formula gives
    # skip counts per trial: with skip=0 it is the plain Pearson correlation of all frames
    np.testing.assert_allclose(
        single_trial_correlation(resp, pred, skip=0)[:3],
        [scipy.stats.pearsonr(np.concatenate(resp)[:, j], np.concatenate(pred)[:, j])[0] for j in range(3)],
        rtol=1e-6,
    )


def test_correlation_to_average_correlates_repeat_means():
    rng = np.random.default_rng(2)
    rates = [rng.gamma(2.0, 1.0, (80, 5)) for _ in range(3)]  # 3 clips
    repeats = [rng.poisson(r, size=(6, *r.shape)).astype(float) for r in rates]  # 6 repeats each
    per_repeat_pred = [np.stack([r * rng.uniform(0.8, 1.2) for _ in range(6)]) for r in rates]
    got = correlation_to_average(repeats, per_repeat_pred, skip=20)
    mean_r = np.concatenate([rep.mean(0)[20:] for rep in repeats])
    mean_p = np.concatenate([p.mean(0)[20:] for p in per_repeat_pred])
    np.testing.assert_allclose(got, [scipy.stats.pearsonr(mean_r[:, j], mean_p[:, j])[0] for j in range(5)], rtol=1e-6)
    # one (T, N) prediction per clip, and repeats given as lists, mean the same
    as_lists = correlation_to_average([list(rep) for rep in repeats], [p.mean(0) for p in per_repeat_pred], skip=20)
    np.testing.assert_allclose(as_lists, got, rtol=1e-12)
    # averaging repeats removes noise: the true rates correlate better with the average than with single trials
    single = single_trial_correlation([rep[0] for rep in repeats], rates, skip=20)
    assert correlation_to_average(repeats, rates, skip=20).mean() > single.mean() + 0.1


def test_metrics_reject_mismatched_inputs():
    a = np.ones((60, 3))
    with pytest.raises(InputError, match=r"predictions_list\[0\]: has shape \(60, 2\), expected \(60, 3\)"):
        single_trial_correlation([a], [np.ones((60, 2))])
    with pytest.raises(InputError, match="predictions_list: has 2 trials, expected 1"):
        single_trial_correlation([a], [a, a])
    with pytest.raises(InputError, match="skip: 60 leaves 0 frames"):
        single_trial_correlation([a], [a], skip=60)
    with pytest.raises(InputError, match=r"responses_by_clip\[0\]\[1\]: has shape"):
        correlation_to_average([[a, np.ones((50, 3))]], [a])


# ---------------------------------------------------------------------- training and prediction
def test_dnem_reaches_most_of_the_ceiling_on_held_out_trials(data, fitted):
    ceiling = single_trial_correlation(responses(data.test), [t.rates for t in data.test], skip=SKIP).mean()
    assert 0.5 < ceiling < 0.8  # noisy enough to be a test of the model, not of the noise
    predictions = fitted.predict_trials(data.test)
    assert is_regressor(fitted)
    for by_trials, each in zip(fitted.predict(data.test), predictions):  # predict(trials), as fit and score take
        np.testing.assert_array_equal(by_trials, each)
    achieved = single_trial_correlation(responses(data.test), predictions, skip=SKIP).mean()
    assert achieved >= 0.7 * ceiling, (achieved, ceiling)
    assert fitted.score(data.test, skip=SKIP) == pytest.approx(achieved, rel=1e-12)
    # history: one entry per epoch; the validation correlation rose while training
    history = fitted.history_
    assert len(history["loss"]) == len(history["val_loss"]) == len(history["val_correlation"]) == fitted.n_epochs_
    assert history["val_correlation"][fitted.best_epoch_ - 1] > history["val_correlation"][0] + 0.2
    assert max(history["lr"]) == pytest.approx(1e-2, rel=0.05)  # warm-up to lr, then cosine decay
    assert history["lr"][-1] < 0.2 * max(history["lr"])


def test_readout_positions_land_on_the_planted_receptive_fields(data, fitted):
    mu = fitted.module_.readout.positions().detach().numpy()  # (x, y) in [-1, 1], edges of the frame at +-1
    cols, rows = (mu[:, 0] + 1) / 2 * W - 0.5, (mu[:, 1] + 1) / 2 * H - 0.5
    error = np.hypot(rows - data.centres[:, 0], cols - data.centres[:, 1])
    assert np.median(error) < 1.5 and np.mean(error < 3) > 0.8, np.sort(error)


def test_module_follows_the_protocol_and_is_causal(data, fitted):
    net = fitted.module_.eval()
    assert not net.training
    trial = data.test[0]
    video = torch.from_numpy(np.stack([trial.video, data.test[1].video]))
    behavior = torch.from_numpy(np.stack([trial.behavior, data.test[1].behavior]))
    pupil = torch.from_numpy(np.stack([trial.pupil_center, data.test[1].pupil_center]))
    with torch.no_grad():
        rates = net(video, behavior, pupil)
    assert rates.shape == (2, N_FRAMES, N_NEURONS) and bool((rates > 0).all())
    # inputs are raw 0-255 pixels: normalisation lives in the module, from the training data
    all_video = np.concatenate([t.video for t in data.train])
    assert float(net.video_mean) == pytest.approx(all_video.mean(), rel=1e-4)
    assert float(net.video_std) == pytest.approx(all_video.std(), rel=1e-4)
    np.testing.assert_allclose(
        net.behavior_mean.numpy(), np.concatenate([t.behavior for t in data.train]).mean(0), rtol=1e-4
    )
    # changing the future (frames >= 40) of every input leaves frames < 40 unchanged, exactly
    future = video.clone(), behavior.clone(), pupil.clone()
    future[0][:, 40:] = torch.rand_like(future[0][:, 40:]) * 255
    future[1][:, 40:] += 5.0
    future[2][:, 40:] -= 3.0
    with torch.no_grad():
        changed = net(*future)
    assert torch.equal(changed[:, :40], rates[:, :40])
    assert not torch.allclose(changed[:, 40:], rates[:, 40:])
    # predict is the same pass (one trial), and a long trial is predicted in overlapping chunks
    np.testing.assert_allclose(
        fitted.predict(trial.video, trial.behavior, trial.pupil_center), rates[0].numpy(), rtol=1e-5, atol=1e-6
    )
    long = [
        np.concatenate([t.video for t in data.test[:5]]),
        np.concatenate([t.behavior for t in data.test[:5]]),
        np.concatenate([t.pupil_center for t in data.test[:5]]),
    ]  # 300 frames > the 256-frame chunk
    with torch.no_grad():
        whole = net(*(torch.from_numpy(a)[None] for a in long))[0].numpy()
    np.testing.assert_allclose(fitted.predict(*long), whole, rtol=1e-4, atol=1e-6)


def test_save_load_round_trip_gives_identical_predictions(tmp_path, data, fitted):
    path = fitted.save(tmp_path / "models" / "dnem.pt")
    assert sorted(p.name for p in path.parent.iterdir()) == ["dnem.pt"]  # atomic: no temporary file left
    loaded = DNEM.load(path)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.history_ == fitted.history_ and loaded.best_epoch_ == fitted.best_epoch_
    trial = data.test[2]
    np.testing.assert_array_equal(
        loaded.predict(trial.video, trial.behavior, trial.pupil_center),
        fitted.predict(trial.video, trial.behavior, trial.pupil_center),
    )
    with pytest.raises(InputError, match="is not a DNEM file"):
        torch.save({"format": 99}, tmp_path / "other.pt")
        DNEM.load(tmp_path / "other.pt")
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DNEM().save(tmp_path / "unfitted.pt")


def test_same_seed_same_weights_and_other_seed_differs(data):
    def weights(seed):
        model = DNEM(**TINY, epochs=1, random_state=seed).fit(data.train[:8], data.val[:2])
        return model.module_.state_dict()

    first, again, other = weights(3), weights(3), weights(4)
    assert all(torch.equal(first[k], again[k]) for k in first)
    assert not torch.equal(first["readout.features"], other["readout.features"])


def test_resumed_fit_equals_uninterrupted(tmp_path, data):
    params = dict(TINY, epochs=3, patience=10, random_state=1)
    train, val = data.train[:8], data.val[:2]
    reference = DNEM(**params).fit(train, val)
    first = DNEM(**params, checkpoint_dir=tmp_path)
    first._stop_after_epoch = 1
    with pytest.raises(TrainingInterrupted):
        first.fit(train, val)
    assert not hasattr(first, "module_")
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_FILE]
    resumed = DNEM(**params, checkpoint_dir=tmp_path).fit(train, val)
    assert resumed.n_epochs_ == reference.n_epochs_ == 3
    assert resumed.history_ == reference.history_
    ref, res = reference.module_.state_dict(), resumed.module_.state_dict()
    assert all(torch.equal(ref[k], res[k]) for k in ref)  # bit for bit, BatchNorm statistics included
    with pytest.raises(
        InputError, match=r"checkpoint\.pt: the checkpoint does not match .*lr.*delete the folder .* to start afresh"
    ):
        DNEM(**{**params, "lr": 1e-3}, checkpoint_dir=tmp_path).fit(train, val)
    with pytest.raises(InputError, match=r"checkpoint\.pt: the checkpoint does not match .*data"):
        DNEM(**params, checkpoint_dir=tmp_path).fit(data.train[8:16], val)


def test_linear_readout_without_shifter_and_modulator_learns(data):
    model = DNEM(**TINY, readout="linear", shifter=False, modulator=False, epochs=4, random_state=0)
    model.fit(data.train[:32], data.val)
    assert model.module_.shifter is None and model.module_.modulator is None
    ceiling = single_trial_correlation(responses(data.test), [t.rates for t in data.test], skip=SKIP).mean()
    assert model.score(data.test, skip=SKIP) >= 0.5 * ceiling


def test_ensemble_trains_instances_with_own_seeds_and_checkpoints(tmp_path, data):
    params = dict(TINY, epochs=1)
    models = train_ensemble(
        data.train[:8], data.val[:2], n_instances=2, checkpoint_root=tmp_path, random_state=5, **params
    )
    assert [m.random_state for m in models] == [5, 6]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance_0_seed_5", "instance_1_seed_6"]
    again = train_ensemble(
        data.train[:8], data.val[:2], n_instances=2, checkpoint_root=tmp_path, random_state=5, **params
    )  # resumes: finished instances are loaded, not retrained
    for a, b in zip(models, again):
        assert all(torch.equal(a.module_.state_dict()[k], b.module_.state_dict()[k]) for k in a.module_.state_dict())
    ensemble = EnsembleModule([m.module_ for m in models]).eval()
    trial = data.test[0]
    inputs = [torch.from_numpy(a)[None] for a in (trial.video, trial.behavior, trial.pupil_center)]
    with torch.no_grad():
        expected = (models[0].module_(*inputs) + models[1].module_(*inputs)) / 2
        torch.testing.assert_close(ensemble(*inputs), expected, rtol=0, atol=0)
    with pytest.raises(InputError, match="seeds: got"):
        train_ensemble(data.train[:8], n_instances=2, seeds=[1, 1], **params)


def test_fit_and_predict_reject_inconsistent_trials(data):
    good = data.train[:4]
    bad_behavior = SimpleNamespace(**{**vars(good[0]), "behavior": np.zeros((N_FRAMES, 3), np.float32)})
    with pytest.raises(InputError, match=r"train_trials\[1\]\.behavior: has shape \(60, 3\), expected \(T, 2\)"):
        DNEM(**TINY, epochs=1).fit([good[0], bad_behavior])
    fewer_neurons = SimpleNamespace(**{**vars(good[0]), "responses": good[0].responses[:, :5]})
    with pytest.raises(InputError, match=r"validation_trials\[0\]\.responses: has 5 neurons, expected 30"):
        DNEM(**TINY, epochs=1).fit(good, [fewer_neurons])
    short = SimpleNamespace(**{k: v[:20] for k, v in vars(good[0]).items()})
    with pytest.raises(InputError, match=r"train_trials\[0\]: has 20 frames, expected at least clip_length=30"):
        DNEM(**TINY, epochs=1).fit([short])
    mismatched = SimpleNamespace(**{**vars(good[0]), "pupil_center": good[0].pupil_center[:50]})
    with pytest.raises(
        InputError,
        match=r"train_trials\[0\]: video, responses, behavior and pupil_center have "
        r"60, 60, 60 and 50 frames",
    ):
        DNEM(**TINY, epochs=1).fit([mismatched])
    with_nan = SimpleNamespace(**{**vars(good[0]), "responses": np.full((N_FRAMES, N_NEURONS), np.nan)})
    with pytest.raises(InputError, match=r"train_trials\[0\]\.responses: has NaN"):
        DNEM(**TINY, epochs=1).fit([with_nan])
    with pytest.raises(InputError, match="readout: got 'conv'"):
        DNEM(readout="conv").fit(good)
    model = DNEM(**TINY, epochs=1, random_state=0).fit(good)
    assert np.isnan(model.history_["val_correlation"]).all()  # no validation trials: training loss watched
    t = good[0]
    with pytest.raises(InputError, match=r"video: has frames \(36, 64\), expected \(18, 32\)"):
        model.predict(np.zeros((10, 36, 64)), t.behavior[:10], t.pupil_center[:10])
    with pytest.raises(InputError, match="have 60, 59 and 60 frames"):
        model.predict(t.video, t.behavior[:59], t.pupil_center)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        DNEM().predict(t.video, t.behavior, t.pupil_center)
    with pytest.raises(InputError, match="behavior, pupil_center: missing"):
        model.predict(t.video)
    with pytest.raises(InputError, match="pupil_center: missing"):
        model.predict(t.video, t.behavior)


# ---------------------------------------------------------------------- receptive fields
class LinearCells(torch.nn.Module):
    """Ground truth for RF mapping: rate = softplus(<w_n, (frame - 128) / 64> + 0.5), Gaussian w_n of sign s_n."""

    def __init__(self, centres, signs, sigma=1.5):
        super().__init__()
        yy, xx = np.mgrid[0:H, 0:W]
        w = (
            np.exp(-((yy - centres[:, 0, None, None]) ** 2 + (xx - centres[:, 1, None, None]) ** 2) / (2 * sigma**2))
            * signs[:, None, None]
        )
        self.register_buffer("w", torch.from_numpy(w.astype(np.float32)))
        self.temporal_receptive_field = 1

    def forward(self, video, behavior, pupil_center):
        return torch.nn.functional.softplus(torch.einsum("bthw,nhw->btn", (video - 128) / 64, self.w) + 0.5)


def test_sparse_noise_mapping_recovers_planted_centres_and_polarity():
    centres = np.array([[4.0, 5.0], [9.0, 16.0], [13.5, 25.0], [6.0, 27.5], [12.0, 8.0], [9.5, 21.0]])
    signs = np.array([1, -1, 1, -1, 1, -1])
    on, off = map_receptive_fields(
        LinearCells(centres, signs), (H, W), n_stimuli=1500, patch_size=2, background=128, random_state=0
    )
    assert on.shape == off.shape == (6, H, W)
    for rfs, expected_sign in ((on, signs), (off, -signs)):
        found = rf_centers(rfs)
        assert np.hypot(*(found - centres).T).max() < 2.0, found
        at_centre = rfs[np.arange(6), np.round(centres[:, 0]).astype(int), np.round(centres[:, 1]).astype(int)]
        np.testing.assert_array_equal(np.sign(at_centre), expected_sign)  # on cells: lit patches excite
    pop = population_rf(on)
    manual = np.mean([np.abs(r) / np.abs(r).max() for r in on], axis=0)
    np.testing.assert_allclose(pop, manual)
    assert pop.max() <= 1.0 and np.unravel_index(pop.argmax(), pop.shape) != (0, 0)


def test_receptive_fields_of_a_trained_dnem_sit_on_the_planted_gabors(data, fitted):
    on, off = map_receptive_fields(fitted.module_, (H, W), n_stimuli=600, patch_size=2, random_state=0)
    found = rf_centers(on - off)
    error = np.hypot(*(found - data.centres).T)
    assert np.median(error) < 2.5, np.sort(error)


def test_network_rejects_bad_shapes_and_configurations():
    net = DNEMNetwork(3, (H, W), core_channels=8, n_blocks=1, downsample=2)
    with pytest.raises(InputError, match=r"video: has shape \(4, 18, 32\), expected \(B, T, H, W\)"):
        net(torch.zeros(4, H, W), None, None)
    with pytest.raises(InputError, match=r"behavior: has shape \(1, 4, 3\), expected \(1, 4, 2\)"):
        net(torch.zeros(1, 4, H, W), torch.zeros(1, 4, 3), torch.zeros(1, 4, 2))
    with pytest.raises(InputError, match="n_blocks: got 1, expected at least 2 for downsample=8"):
        DNEMNetwork(3, (H, W), n_blocks=1, downsample=8)
