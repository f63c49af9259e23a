"""Movie reconstruction (neurocine.v1.reconstruction) against a known differentiable V1 population.

The ground truth is a small linear-nonlinear population built here (simple and
complex cells with Gabor receptive fields covering part of the screen, a
causal 5-frame temporal filter, softplus): it follows the encoding-model
protocol, so reconstruction must recover the movie it saw inside the
population's receptive-field coverage.
"""

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from scipy.ndimage import binary_dilation, gaussian_filter  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from neurocine import metrics  # noqa: E402
from neurocine.errors import InputError  # noqa: E402
from neurocine.v1 import reconstruction as rec  # noqa: E402

H, W, T = 18, 32, 60
GREY = 127.5


class LNPopulation(nn.Module):
    """Simple and complex cells: Gabor RFs in a disc, causal temporal filter, softplus; rates (B, T, N)."""

    def __init__(
        self,
        h=H,
        w=W,
        n=300,
        centre=(9.0, 16.0),
        radius=8.0,
        wavelength=(4.0, 8.0),
        envelope=(1.2, 2.2),
        n_lags=5,
        complex_fraction=0.5,
        rf_noise=0.0,
        seed=0,
        rf_seed=None,
    ):
        super().__init__()
        rng = np.random.default_rng(seed)
        rr, th = radius * np.sqrt(rng.uniform(0, 1, n)), rng.uniform(0, 2 * np.pi, n)
        y0, x0 = centre[0] + rr * np.sin(th), centre[1] + rr * np.cos(th)
        yy, xx = np.mgrid[0:h, 0:w].astype(float)
        ori, lam = rng.uniform(0, np.pi, n), rng.uniform(*wavelength, n)
        phase, sig = rng.uniform(0, 2 * np.pi, n), rng.uniform(*envelope, n)
        dy, dx = yy[None] - y0[:, None, None], xx[None] - x0[:, None, None]
        u = (dx * np.cos(ori)[:, None, None] + dy * np.sin(ori)[:, None, None]) * 2 * np.pi / lam[:, None, None]
        env = np.exp(-(dx**2 + dy**2) / (2 * sig[:, None, None] ** 2))
        even, odd = env * np.cos(u + phase[:, None, None]), env * np.sin(u + phase[:, None, None])
        if rf_noise:  # a "slightly different" model of the same population
            jitter = np.random.default_rng(rf_seed)
            even = even + rf_noise * env * jitter.standard_normal(even.shape)
            odd = odd + rf_noise * env * jitter.standard_normal(odd.shape)
        norm = np.linalg.norm(even.reshape(n, -1), axis=1)[:, None, None]
        self.register_buffer(
            "rf", torch.tensor(np.concatenate([even, odd]) / np.concatenate([norm, norm]), dtype=torch.float32)
        )
        self.register_buffer("envelope", torch.tensor(env, dtype=torch.float32))
        self.register_buffer("is_complex", torch.tensor(rng.uniform(size=n) < complex_fraction))
        self.register_buffer("gain", torch.tensor(rng.uniform(2.0, 6.0, n), dtype=torch.float32))
        k = np.arange(1, n_lags + 1, dtype=float)
        lags = k * np.exp(-k / 1.5)
        self.register_buffer("lags", torch.tensor(lags / lags.sum(), dtype=torch.float32))  # lags[j]: j frames ago
        self.n = n
        self.eval_calls = 0

    def forward(self, video, behavior, pupil_center):
        self.eval_calls += int(not self.training)
        x = (video - GREY) / GREY
        d = torch.einsum("bthw,nhw->bnt", x, self.rf)
        n_frames = d.shape[-1]
        d = sum(self.lags[j] * F.pad(d, (j, 0))[..., :n_frames] for j in range(self.lags.numel()))
        simple, quad = d[:, : self.n], d[:, self.n :]
        energy = 1.5 * torch.sqrt(simple * simple + quad * quad + 1e-6) - 0.3
        drive = torch.where(self.is_complex[None, :, None], energy, simple)
        rate = F.softplus(self.gain[None, :, None] * drive - 1.0).transpose(1, 2)
        return rate * (1.0 + 0.1 * torch.tanh(behavior[..., 1:2]))


def smooth_video(n_frames=T, h=H, w=W, sigma=(1.5, 1.2, 1.2), seed=0):
    rng = np.random.default_rng(seed)
    v = gaussian_filter(rng.standard_normal((n_frames, h, w)), sigma, mode="wrap")
    return np.clip(GREY + 45.0 * v / v.std(), 0, 255).astype(np.float32)


def coverage(model, level=0.3):
    env = model.envelope.sum(0).numpy()
    return env > level * env.max()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def setup():
    torch.manual_seed(0)
    model = LNPopulation()
    video = smooth_video()
    behavior = np.zeros((T, 2), np.float32)
    behavior[:, 1] = np.linspace(0, 1, T)
    pupil = np.zeros((T, 2), np.float32)
    responses = rec.predicted_responses(model, video, behavior, pupil)
    return SimpleNamespace(
        model=model,
        video=video,
        behavior=behavior,
        pupil=pupil,
        responses=responses,
        evaluation=coverage(model),
        full=np.ones((H, W), bool),
    )


@pytest.fixture(scope="module")
def paper_run(setup):
    s = setup
    return rec.reconstruct(
        s.model,
        s.responses,
        s.behavior,
        s.pupil,
        method="paper",
        iterations=300,
        truth=s.video,
        evaluation_mask=s.evaluation,
        record_every=10,
    )


def test_window_starts_cover_the_trial():
    assert rec.window_starts(50, 32, 8).tolist() == [0, 8, 16, 18]
    assert rec.window_starts(48, 32, 8).tolist() == [0, 8, 16]  # the last regular window already ends at 48
    assert rec.window_starts(20, 32, 8).tolist() == [0]
    starts = rec.window_starts(150, 32, 8)
    assert starts[-1] + 32 == 150 and np.all(np.diff(starts) <= 8)


def test_window_gradient_equals_direct_computation():
    torch.manual_seed(1)
    model = LNPopulation(h=4, w=5, n=6, centre=(2, 2.5), radius=1.5, n_lags=3)
    rng = np.random.default_rng(2)
    n_frames, window, stride, burn = 13, 6, 4, 2
    video = rng.uniform(0, 255, (n_frames, 4, 5)).astype(np.float32)
    responses = rng.poisson(1.0, (n_frames, 6)).astype(np.float32)
    beh, pup = rng.normal(size=(n_frames, 2)).astype(np.float32), np.zeros((n_frames, 2), np.float32)
    got = rec.window_gradient(model, video, responses, beh, pup, window=window, stride=stride, burn_in=burn)

    total = np.zeros((n_frames, 4, 5))
    count = np.zeros(n_frames)
    for s in (0, 4, 7):  # window_starts(13, 6, 4)
        x = torch.tensor(video[s : s + window][None], requires_grad=True)
        rate = model(x, torch.tensor(beh[s : s + window][None]), torch.tensor(pup[s : s + window][None]))[0]
        y = torch.tensor(responses[s : s + window])
        keep = torch.ones(window)
        if s > 0:
            keep[:burn] = 0
        loss = ((rate - y * torch.log(rate + 1e-8)).sum(1) * keep).sum()
        (g,) = torch.autograd.grad(loss, x)
        g = g[0].double().numpy()
        total[s : s + window] += g / np.linalg.norm(g)
        count[s : s + window] += 1
    np.testing.assert_allclose(got, total / count[:, None, None], rtol=1e-4, atol=1e-7)


def test_reconstruction_from_noise_free_responses(setup, paper_run):
    res = paper_run
    assert res.video.shape == res.raw.shape == (T, H, W) and res.video.dtype == np.float32
    assert res.video_correlation >= 0.9
    assert res.mean_frame_correlation >= 0.85
    assert res.params["burn_in"] == 4  # five-frame temporal filter, probed
    assert res.loss_history.shape == (300,) and res.loss_history[-1] < 0.95 * res.loss_history[0]
    assert res.record_iterations[0] == 0 and res.record_iterations[-1] == 300
    assert np.isnan(res.correlation_history[0])  # uniform grey start
    assert res.correlation_history[-1] == pytest.approx(res.video_correlation)
    assert 0 <= res.video.min() and res.video.max() <= 255
    # contrast/luminance matching changes the pixels but not the correlation
    matched = metrics.match_contrast_luminance(res.video, setup.video, setup.evaluation)
    assert metrics.video_correlation(setup.video, matched, setup.evaluation) == pytest.approx(res.video_correlation)
    # the reconstruction drives the model like the true movie
    pred = rec.predicted_responses(setup.model, res.video, setup.behavior, setup.pupil)
    assert np.corrcoef(pred[10:].ravel(), setup.responses[10:].ravel())[0, 1] > 0.95


def test_adam_reaches_the_paper_correlation_in_fewer_iterations(setup, paper_run):
    s = setup
    adam = rec.reconstruct(
        s.model,
        s.responses,
        s.behavior,
        s.pupil,
        method="adam",
        iterations=150,
        truth=s.video,
        evaluation_mask=s.evaluation,
        record_every=10,
    )
    target = 0.99 * paper_run.video_correlation

    def first(res):
        hit = np.nonzero(res.correlation_history >= target)[0]
        return res.record_iterations[hit[0]] if hit.size else np.inf

    assert first(adam) < first(paper_run)
    assert adam.video_correlation >= paper_run.video_correlation - 0.01
    assert paper_run.iterations_to(0.95) is not None and paper_run.iterations_to(0.95) <= 300


def test_coarse_to_fine_and_update_mask(setup):
    s = setup
    update = np.zeros((H, W), bool)
    update[3:15, 6:26] = True
    res = rec.reconstruct(
        s.model,
        s.responses,
        s.behavior,
        s.pupil,
        update_mask=update,
        method="adam",
        iterations=60,
        coarse_to_fine=1,
        truth=s.video,
        evaluation_mask=s.evaluation & update,
    )
    np.testing.assert_array_equal(res.raw[:, ~update], GREY)
    far = ~binary_dilation(update, iterations=3)
    np.testing.assert_allclose(res.video[:, far], GREY, atol=1e-3)  # smoothing sigma 0.5 reaches ~2 px
    assert res.video_correlation > 0.75


def _noisy_setup(setup, seed=3):
    rng = np.random.default_rng(seed)
    return rng.poisson(setup.responses).astype(np.float32)


def test_ensemble_of_videos_beats_its_members(setup):
    s = setup
    noisy = _noisy_setup(s)
    models = [LNPopulation(rf_noise=0.15, rf_seed=k) for k in (10, 11)]
    kw = dict(method="paper", iterations=30, truth=s.video, evaluation_mask=s.evaluation, record_every=30)
    ens = rec.reconstruct(models, noisy, s.behavior, s.pupil, ensemble="videos", **kw)
    assert ens.model_videos.shape == (2, T, H, W)
    np.testing.assert_allclose(ens.raw, ens.model_videos.mean(0), rtol=1e-6)
    single = [
        metrics.video_correlation(s.video, gaussian_filter(v, 0.5, mode="nearest"), s.evaluation)
        for v in ens.model_videos
    ]
    assert ens.video_correlation > np.mean(single) + 0.005
    # each member is exactly what the model reconstructs alone
    alone = rec.reconstruct(models[1], noisy, s.behavior, s.pupil, **kw)
    np.testing.assert_allclose(alone.raw, ens.model_videos[1], atol=1e-3)
    grads = rec.reconstruct(models, noisy, s.behavior, s.pupil, ensemble="gradients", **kw)
    assert grads.model_videos is None and grads.video_correlation > 0.6


def test_holdout_early_stopping_finds_the_peak_on_noisy_responses(setup):
    s = setup
    noisy = _noisy_setup(s)
    kw = dict(method="paper", iterations=100, truth=s.video, evaluation_mask=s.evaluation)
    plain = rec.reconstruct(s.model, noisy, s.behavior, s.pupil, **kw)
    held = rec.reconstruct(s.model, noisy, s.behavior, s.pupil, holdout=0.15, **kw)
    # without the truth, the held-out neurons stop the fit near the correlation peak
    assert np.nanmax(plain.correlation_history) > plain.video_correlation + 0.1  # overfitting the noise
    assert held.video_correlation > plain.video_correlation + 0.1
    assert 5 < held.best_iteration[0] < 100 and held.params["n_holdout"] == 45
    assert held.validation_history.shape == (100,)
    assert held.validation_history[held.best_iteration[0]] == held.validation_history.min()
    assert plain.validation_history is None and plain.best_iteration is None


def test_population_ablation_lowers_correlation(setup):
    s = setup
    kept = rec.ablate_population(s.responses, 0.875, random_state=4)
    assert kept.size == 300 - round(0.875 * 300) and np.all(np.diff(kept) > 0)
    np.testing.assert_array_equal(kept, rec.ablate_population(300, 0.875, random_state=4))
    kw = dict(method="adam", iterations=60, truth=s.video, evaluation_mask=s.evaluation)
    full = rec.reconstruct(s.model, s.responses, s.behavior, s.pupil, **kw)
    ablated = rec.reconstruct(s.model, s.responses, s.behavior, s.pupil, neurons=kept, **kw)
    assert ablated.params["n_neurons"] == kept.size
    assert ablated.video_correlation < full.video_correlation - 0.1


def test_deterministic_on_cpu_and_model_left_as_found(setup):
    s = setup
    model = LNPopulation(n=50)
    model.train()
    kw = dict(method="paper", iterations=5, update_mask=s.full, random_state=7, device="cpu")
    a = rec.reconstruct(model, s.responses[:, :50], s.behavior, s.pupil, **kw)
    b = rec.reconstruct(model, s.responses[:, :50], s.behavior, s.pupil, **kw)
    np.testing.assert_array_equal(a.video, b.video)
    np.testing.assert_array_equal(a.loss_history, b.loss_history)
    assert model.training and model.eval_calls > 0  # run in eval mode, training flag restored
    assert a.correlation_history is None and a.timings["per_iteration_s"] > 0


def test_transparency_mask_covers_the_receptive_fields():
    model = LNPopulation(n=250, centre=(9.0, 11.0), radius=5.0)
    rng = np.random.default_rng(5)
    trials = [
        SimpleNamespace(
            video=smooth_video(40, seed=k),
            behavior=rng.normal(size=(40, 2)).astype(np.float32),
            pupil_center=np.zeros((40, 2), np.float32),
        )
        for k in range(4)
    ]
    alpha, hist = rec.train_transparency_mask(
        model, trials, iterations=120, lr=0.1, sigma=2.5, penalty=0.5, return_history=True
    )
    assert alpha.shape == (H, W) and alpha.dtype == np.float32 and alpha.min() >= 0
    assert alpha.max() > 1.0  # not squashed into [0, 1]
    update, evaluation = rec.masks_from_alpha(alpha)
    truth = coverage(model)
    iou = (update & truth).sum() / (update | truth).sum()
    assert iou >= 0.6
    assert evaluation.sum() < update.sum() and (evaluation <= update).all()
    assert alpha[~binary_dilation(truth, iterations=3)].max() < 0.5  # the rest of the screen is not kept
    assert hist["mismatch"][-10:].mean() < 0.5 and hist["mean_alpha"].shape == (120,)


def test_helpers_error_map_and_predictions(setup):
    s = setup
    a, b = s.video, s.video[::-1].copy()
    np.testing.assert_allclose(rec.error_map(a, b), a - b)
    mask = np.zeros((H, W), bool)
    mask[:5] = True
    assert (rec.error_map(a, b, mask)[:, ~mask] == 0).all()
    m2 = LNPopulation(seed=9)
    both = rec.predicted_responses([s.model, m2], s.video, s.behavior, s.pupil)
    np.testing.assert_allclose(
        both, (s.responses + rec.predicted_responses(m2, s.video, s.behavior, s.pupil)) / 2, rtol=1e-5
    )
    u, e = rec.masks_from_alpha(np.array([[0.0, 0.5, 0.99, 1.0, 2.5]]))
    assert u.tolist() == [[False, True, True, True, True]] and e.tolist() == [[False, False, False, True, True]]
    results = rec.reconstruct_many(
        s.model,
        [SimpleNamespace(video=s.video, responses=s.responses, behavior=s.behavior, pupil_center=s.pupil)],
        method="adam",
        iterations=3,
    )
    assert len(results) == 1 and results[0].correlation_history.shape == (2,)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(responses=np.ones(T)), "responses: got shape"),
        (dict(behavior=np.zeros((T - 1, 2))), "behavior: got 59 frames"),
        (dict(pupil=np.zeros((T, 2, 1))), "pupil_center: got shape"),
        (
            dict(update_mask=np.ones((H, W + 1), bool)),
            r"models: LNPopulation failed on a video batch of shape \(1, 32, 18, 33\)",
        ),
        (dict(update_mask=np.ones((H, W + 1), bool), truth=np.zeros((T, H, W))), "update_mask: got shape"),
        (dict(truth=np.zeros((T, H))), "truth: got shape"),
        (dict(neurons=np.array([0, 400])), "neurons: indices span"),
        (dict(method="lbfgs"), "method: got 'lbfgs'"),
        (dict(ensemble="mean"), "ensemble: got 'mean'"),
        (dict(iterations=0), "iterations: got 0"),
        (dict(holdout=1.0), "holdout: got 1.0"),
        (dict(holdout=0.001), "holdout: 0.001 of 300 neurons holds out 0"),
        (dict(responses=np.ones((T, 7), np.float32)), "responses: got 7 neurons; the model predicts 300"),
        (dict(responses=-np.ones((T, 300), np.float32)), "responses: contains negative"),
        (dict(models=[]), "models: got an empty list"),
        (dict(models="model"), "models\\[0\\]: got str"),
    ],
)
def test_reconstruct_rejects_bad_input(setup, kwargs, match):
    s = setup
    args = dict(models=s.model, responses=s.responses, behavior=s.behavior, pupil=s.pupil, update_mask=s.full)
    args.update(kwargs)
    models, responses, behavior, pupil = (args.pop(k) for k in ("models", "responses", "behavior", "pupil"))
    with pytest.raises(InputError, match=match):
        rec.reconstruct(models, responses, behavior, pupil, iterations=args.pop("iterations", 1), **args)


def test_other_functions_reject_bad_input(setup):
    s = setup
    trial = SimpleNamespace(video=s.video, behavior=s.behavior, pupil_center=s.pupil)
    with pytest.raises(InputError, match="trials: got 1 trial"):
        rec.train_transparency_mask(s.model, [trial])
    with pytest.raises(InputError, match=r"trials\[1\]: got int"):
        rec.train_transparency_mask(s.model, [trial, 3])
    with pytest.raises(InputError, match="alpha: got shape"):
        rec.masks_from_alpha(np.ones(5))
    with pytest.raises(InputError, match="fraction: got 1.0"):
        rec.ablate_population(s.responses, 1.0)
    with pytest.raises(InputError, match="recon_from_predicted: got shape"):
        rec.error_map(s.video, s.video[:5])
    with pytest.raises(InputError, match="behavior: got 10 frames"):
        rec.predicted_responses(s.model, s.video, s.behavior[:10], s.pupil)


def test_iterations_to_fraction_of_final_correlation():
    from neurocine.v1.reconstruction import ReconstructionResult

    empty = np.zeros((2, 2, 2), np.float32)
    r = ReconstructionResult(
        empty,
        empty,
        np.zeros(3),
        np.zeros((1, 3)),
        correlation_history=np.array([0.0, 0.5, 0.97, 1.0]),
        record_iterations=np.array([0, 10, 20, 30]),
    )
    assert r.iterations_to(0.95) == 20 and r.iterations_to(0.5) == 10
    r.correlation_history = np.array([0.1, -0.01, -0.02])  # ends below zero: no meaningful fraction
    assert r.iterations_to(0.95) is None


def test_model_parameters_frozen_during_reconstruction_and_restored():
    import torch

    from neurocine.v1.reconstruction import _prepare, _restore

    model = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.Linear(2, 1))
    model[1].weight.requires_grad_(False)
    model.train()
    flags = _prepare([model], torch.device("cpu"))
    assert not model.training and not any(p.requires_grad for p in model.parameters())
    _restore([model], flags)
    assert model.training
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, True]


def test_reconstruction_and_mask_training_show_their_iterations_only_when_bars_are_on(setup, bars):
    s = setup
    trials = [SimpleNamespace(video=s.video, behavior=s.behavior, pupil_center=s.pupil) for _ in range(2)]

    def run():
        rec.reconstruct_many(s.model, [SimpleNamespace(responses=s.responses, **vars(trials[0]))], iterations=3)
        rec.train_transparency_mask(s.model, trials, iterations=3, batch_size=2, length=20)

    _, err = bars(True, run)
    for label in (
        "trials:",
        "trial 0:",
        "transparency mask:",
    ):  # the trial loop, each trial's and the mask's iterations
        assert label in err
    _, err = bars(False, run)
    assert err == ""
