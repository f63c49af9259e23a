"""The inversion engine (neurocine.models.inversion: StepRule, ImagePrior, descend) that fMRI feature
inversion and the V1 movie reconstruction share, checked against closed forms and torch.optim.Adam."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from neurocine.errors import InputError  # noqa: E402
from neurocine.models import inversion  # noqa: E402
from neurocine.models.inversion import ImagePrior, StepRule, descend, invert_features, total_variation  # noqa: E402
from neurocine.v1 import reconstruction as rec  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from test_reconstruction import LNPopulation  # noqa: E402
from test_reconstruction import smooth_video as smooth_movie  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

CENTRE = torch.tensor([1.0, -2.0, 0.5, 3.0])
CURV = torch.tensor([1.0, 10.0, 0.1, 2.0])


def quadratic_grad(z):
    """Gradient of sum(curv (z - centre)^2) / 2."""
    return CURV * (z - CENTRE)


def test_textbook_adam_step_is_torch_adam():
    rule = StepRule("adam", lr=0.1, beta1=0.8, beta2=0.99, eps=1e-6)
    z = torch.zeros(4)
    descend(z, lambda x, k: quadratic_grad(x), rule, 25)
    ref = torch.zeros(4, requires_grad=True)
    opt = torch.optim.Adam([ref], lr=0.1, betas=(0.8, 0.99), eps=1e-6)
    for _ in range(25):
        opt.zero_grad()
        ref.grad = quadratic_grad(ref.detach())
        opt.step()
    torch.testing.assert_close(z, ref.detach(), rtol=0, atol=0)


def _closed_form(kind, lr, b1, b2, eps, warmup, schedule, n, relative=False):
    """The step rules written out in float64 numpy on the quadratic."""
    z = np.zeros(4)
    m, v = np.zeros(4), np.zeros(4)
    c, a = CENTRE.double().numpy(), CURV.double().numpy()
    for k in range(n):
        t = k + 1
        g = a * (z - c)
        rate = lr * min(1.0, t / warmup) if warmup else lr
        if schedule == "cosine":
            rate *= 0.5 * (1 + math.cos(math.pi * k / n))
        m = b1 * m + (1 - b1) * g
        m_hat = m / (1 - b1**t)
        if kind == "momentum":
            z = z - rate * m_hat
        else:
            v = b2 * v + (1 - b2) * g * g
            v_hat = v / (1 - b2**t)
            e = eps * np.sqrt(v_hat.mean()) if relative else eps
            z = z - rate * m_hat / (np.sqrt(v_hat) + e)
    return z


@pytest.mark.parametrize(
    "kind, relative, schedule, warmup",
    [
        ("momentum", False, "constant", 5),
        ("momentum", False, "cosine", 0),
        ("adam", True, "cosine", 3),
        ("adam", False, "cosine", 4),
    ],
)
def test_step_rules_match_their_formulas(kind, relative, schedule, warmup):
    rule = StepRule(
        kind,
        lr=0.05,
        beta1=0.9,
        beta2=0.999,
        eps=0.5 if relative else 1e-8,
        relative_eps=relative,
        warmup=warmup,
        schedule=schedule,
    )
    z = torch.zeros(4, dtype=torch.float64)
    descend(z, lambda x, k: quadratic_grad(x.float()).double(), rule, 40)
    expected = _closed_form(kind, 0.05, 0.9, 0.999, rule.eps, warmup, schedule, 40, relative)
    np.testing.assert_allclose(z.numpy(), expected, rtol=1e-5, atol=1e-6)
    assert rule.rate(0, 40) == pytest.approx(0.05 * (1 / warmup if warmup else 1.0))


def test_descend_masks_clips_and_pulls_back_through_the_parametrisation():
    target = torch.tensor([0.2, 0.7, 0.9])
    z = torch.zeros(3)
    seen = []

    def grad(x, k):
        seen.append(x.clone())
        return 100.0 * (x - target)  # clipped to +-1: every step the same size

    rule = StepRule("momentum", lr=0.05, beta1=0.0, clip_grad=1.0)
    mask = torch.tensor([1.0, 1.0, 0.0])
    descend(z, grad, rule, 400, images=torch.sigmoid, mask=mask)
    np.testing.assert_allclose(torch.sigmoid(z[:2]).numpy(), target[:2].numpy(), atol=0.01)
    assert z[2] == 0  # masked: never moves
    # step 1: the image gradient clipped to +1 (x = 0.5 > 0.2), times sigmoid'(0) = 1/4, times lr
    assert float(seen[1][0]) == pytest.approx(float(torch.sigmoid(torch.tensor(-0.05 * 0.25))))


def test_image_prior_closed_form_and_gradient():
    x = torch.zeros(1, 4, 4)
    x[..., 2:] = 255.0
    prior = ImagePrior(tv_weight=2.0, value_range=(0.0, 255.0))
    assert float(prior(x)) == pytest.approx(2 * 4 / 12)
    g, value = prior.gradient(x)
    assert value == pytest.approx(2 * 4 / 12)
    xx = x.clone().requires_grad_(True)
    (ref,) = torch.autograd.grad(2.0 * total_variation(xx / 255.0), xx)
    torch.testing.assert_close(g, ref)
    assert not ImagePrior().active and prior.active
    with pytest.raises(InputError, match="tv_weight: got -1"):
        ImagePrior(tv_weight=-1.0)
    with pytest.raises(InputError, match="kind: got 'sgd'"):
        StepRule("sgd")
    with pytest.raises(InputError, match="beta1: got 1.0"):
        StepRule(beta1=1.0)


def test_fmri_inversion_and_v1_reconstruction_run_on_the_same_engine(monkeypatch):
    """Both call the one descend(); V1's methods are the engine's step rules."""
    assert rec.descend is inversion.descend
    calls = []
    engine = inversion.descend

    def spy(params, gradient, rule, steps, **kw):
        calls.append((rule, steps))
        return engine(params, gradient, rule, steps, **kw)

    monkeypatch.setattr(inversion, "descend", spy)
    monkeypatch.setattr(rec, "descend", spy)
    invert_features(lambda x: {"p": x.flatten(1)}, {"p": np.ones((1, 16))}, np.full((1, 1, 4, 4), 0.5), steps=3)
    model = LNPopulation(h=8, w=10, n=20, centre=(4.0, 5.0), radius=3.0)
    t = 12
    zeros = np.zeros((t, 2), np.float32)
    resp = np.ones((t, 20), np.float32)
    rec.reconstruct(
        model,
        resp,
        zeros,
        zeros,
        update_mask=np.ones((8, 10), bool),
        method="adam",
        iterations=4,
        coarse_to_fine=1,
        window=8,
        stride=4,
        device="cpu",
        desc=None,
    )
    assert [(r.kind, r.relative_eps, s) for r, s in calls] == [("adam", False, 3), ("adam", True, 2), ("adam", True, 2)]
    paper = rec.check_reconstruct_options(method="paper").step_rule
    assert paper == StepRule(
        "momentum", lr=1000.0, beta1=0.9, eps=1.0, relative_eps=True, warmup=10, schedule="constant", clip_grad=1.0
    )


def _reference_reconstruction(model, resp, beh, pup, mask, method, iterations, burn):
    """The V1 loop as it was written before the engine (one level): window gradient, mask, clip, step, clip."""
    g_mom = 0.9
    lr = {"paper": 1000.0, "adam": 30.0}[method]
    video = np.full((len(resp), *mask.shape), 127.5, np.float64)
    m1, m2 = np.zeros_like(video), np.zeros_like(video)
    for k in range(iterations):
        t = k + 1
        g = rec.window_gradient(
            model, video.astype(np.float32), resp, beh, pup, window=16, stride=4, burn_in=burn, device="cpu"
        ).astype(np.float64)
        g = np.clip(g * mask, -1.0, 1.0)
        rate = lr * min(1.0, t / 10)
        if method == "adam":
            rate *= 0.5 * (1 + math.cos(math.pi * k / iterations))
        m1 = g_mom * m1 + (1 - g_mom) * g
        m_hat = m1 / (1 - g_mom**t)
        if method == "adam":
            m2 = 0.999 * m2 + 0.001 * g * g
            v_hat = m2 / (1 - 0.999**t)
            video = video - rate * m_hat / (np.sqrt(v_hat) + np.sqrt(v_hat.mean()))
        else:
            video = video - rate * m_hat
        video = np.clip(video, 0, 255)
    return video


@pytest.mark.parametrize("method", ["paper", "adam"])
def test_v1_reconstruction_is_the_loop_it_replaced(method):
    h, w, t = 10, 12, 24
    model = LNPopulation(h=h, w=w, n=40, centre=(5.0, 6.0), radius=4.0)
    video = smooth_movie(t, h, w)
    zeros = np.zeros((t, 2), np.float32)
    resp = rec.predicted_responses(model, video, zeros, zeros, device="cpu")
    mask = np.zeros((h, w), bool)
    mask[1:9, 2:11] = True
    res = rec.reconstruct(
        model,
        resp,
        zeros,
        zeros,
        update_mask=mask,
        method=method,
        iterations=12,
        window=16,
        stride=4,
        burn_in=3,
        device="cpu",
        desc=None,
    )
    ref = _reference_reconstruction(model, resp, zeros, zeros, mask, method, 12, 3)
    np.testing.assert_allclose(res.raw, ref, atol=2e-3)
    assert np.abs(ref - 127.5).max() > 20  # the movie moved


def test_v1_image_prior_option_is_off_by_default_and_checked():
    h, w, t = 10, 12, 24
    model = LNPopulation(h=h, w=w, n=40, centre=(5.0, 6.0), radius=4.0)
    zeros = np.zeros((t, 2), np.float32)
    resp = rec.predicted_responses(model, smooth_movie(t, h, w), zeros, zeros, device="cpu")
    kw = dict(update_mask=np.ones((h, w), bool), iterations=8, window=16, stride=4, burn_in=3, device="cpu", desc=None)
    plain = rec.reconstruct(model, resp, zeros, zeros, **kw)
    zero = rec.reconstruct(model, resp, zeros, zeros, tv_weight=0.0, spectrum_weight=0.0, **kw)
    np.testing.assert_array_equal(plain.raw, zero.raw)  # weight 0: the default, untouched
    with pytest.raises(InputError, match="spectrum_weight: got -1"):
        rec.reconstruct(model, resp, zeros, zeros, spectrum_weight=-1.0, **kw)


def test_v1_total_variation_prior_recovers_a_smooth_movie_from_noisy_responses():
    """Poisson-noisy responses: without a prior the fit runs into the noise; the TV prior keeps it smooth."""
    model = LNPopulation()
    t = 60
    video = smooth_movie(t)
    beh = np.zeros((t, 2), np.float32)
    beh[:, 1] = np.linspace(0, 1, t)
    pup = np.zeros((t, 2), np.float32)
    noisy = np.random.default_rng(3).poisson(rec.predicted_responses(model, video, beh, pup, device="cpu"))
    env = model.envelope.sum(0).numpy()
    kw = dict(method="paper", iterations=100, truth=video, evaluation_mask=env > 0.3 * env.max(), device="cpu")
    plain = rec.reconstruct(model, noisy.astype(np.float32), beh, pup, desc=None, **kw)
    smooth = rec.reconstruct(model, noisy.astype(np.float32), beh, pup, tv_weight=3e5, desc=None, **kw)
    assert smooth.video_correlation > plain.video_correlation + 0.2  # measured 0.91 against 0.61
    tv = [float(total_variation(torch.from_numpy(r.raw / 255.0))) for r in (plain, smooth)]
    assert tv[1] < 0.5 * tv[0]
    assert smooth.params["tv_weight"] == 3e5
