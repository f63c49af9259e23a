"""Stimuli and the simulated mouse V1: generators match their definitions, the population its equations.

Checks recompute properties from first principles: noise length constants from autocorrelations, grating
frequencies from FFTs and drift from frame-to-frame shifts, the behavioural gain from rate ratios, the
RF shift from shifted stimuli, the ceiling from the saved true rates and responses.
"""

import json

import numpy as np
import pytest

from neurocine import stimuli as S
from neurocine.errors import InputError
from neurocine.io.sensorium import SensoriumMouse
from neurocine.v1.simulate import V1Population, ceiling_correlation, simulate_behavior, simulate_v1

TINY = dict(
    n_neurons=60,
    n_train=3,
    n_oracle=1,
    oracle_repeats=2,
    n_test=2,
    test_repeats=2,
    n_frames=60,
    n_calibration=3,
    easy=True,  # Poisson counts, checked below; the default (hard) mouse has its own tests
)


def _acorr(v: np.ndarray, axis: int, lag: int) -> float:
    n = v.shape[axis]
    a = np.take(v, range(n - lag), axis=axis).ravel()
    b = np.take(v, range(lag, n), axis=axis).ravel()
    return float(np.corrcoef(a, b)[0, 1])


# --------------------------------------------------------------------------- stimuli


def test_natural_clips_shapes_ranges_and_sources():
    rng = np.random.default_rng(0)
    assert S.load_source("bikes").shape == (300, 272, 640)  # 10 s at 25 Hz -> 30 Hz
    assert S.load_source("bigbuckbunny").shape == (158, 360, 640)  # 5.28 s, read 2x2-binned
    clips = [S.movie_clip("bikes", 40, rng), S.photo_clip("camera", 40, rng), S.movie_clip("bigbuckbunny", 200, rng)]
    for c in clips:
        assert c.video.shape[1:] == (36, 64) and c.video.dtype == np.float32
        assert 0 <= c.video.min() and c.video.max() <= 255 and c.video.std() > 10
    assert clips[2].video.shape[0] == 200  # longer than the source: ping-pong
    x0, y0, x1, y1 = clips[0].params["crop"]
    assert abs((x1 - x0) / (y1 - y0) - 64 / 36) < 0.02
    gaze = clips[1].params["gaze"]
    steps = np.linalg.norm(np.diff(gaze, axis=0), axis=1) / clips[1].params["scale"]  # output pixels
    assert (steps > 1.5).sum() >= 1 and np.median(steps) < 0.5  # saccades among small drifts
    assert np.abs(np.diff(clips[1].video, axis=0)).mean() > 0.5  # the photo moves


def test_held_out_sources_are_disjoint():
    train, test = S.split_sources()
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(S.natural_sources())
    assert "bigbuckbunny" in test and "bikes" in train
    lib = S.natural_clip_library(8, 6, 30, 1)
    assert {c.source for c in lib["train"]} <= set(train) and {c.source for c in lib["test"]} <= set(test)
    assert {c.kind for c in lib["train"]} == {"movie", "photo"}
    with pytest.raises(InputError, match="unknown"):
        S.split_sources(["bikes", "nope"])
    with pytest.raises(InputError, match="proper subset"):
        S.split_sources(list(S.natural_sources()))


@pytest.mark.parametrize("spatial, temporal", [(1, 0), (2, 4), (4, 1), (0, 8)])
def test_gaussian_noise_length_constants(spatial, temporal):
    v = S.gaussian_noise(400, spatial, temporal, 3).astype(np.float64)
    assert v.shape == (400, 36, 64) and 0 <= v.min() and v.max() <= 255
    assert abs(v.mean() - 128) < 1 and abs(v.std() - 40) < 1
    for axis, sigma in ((2, spatial), (1, spatial), (0, temporal)):
        if sigma == 0:
            assert abs(_acorr(v, axis, 1)) < 0.03
            continue
        rho = _acorr(v, axis, sigma)  # expected exp(-1/4) at a lag of one sigma
        est = sigma / (2 * np.sqrt(-np.log(rho)))
        assert est == pytest.approx(sigma, rel=0.12), (axis, rho)


def test_gaussian_noise_suite_grid():
    suite = S.gaussian_noise_suite((0, 2), n_frames=10)
    assert [p for p, _ in suite] == [{"spatial_sigma": s, "temporal_sigma": t} for s in (0.0, 2.0) for t in (0.0, 2.0)]
    assert all(v.shape == (10, 36, 64) and v.dtype == np.float32 and v.min() >= 0 and v.max() <= 255 for _, v in suite)


@pytest.mark.parametrize("direction", S.DIRECTIONS)
def test_grating_frequencies_and_direction(direction):
    sf, tf = 1 / 16, 3.75  # 16 px period, 2 px per frame at 30 Hz
    v = S.drifting_grating(64, sf, tf, direction).astype(np.float64)
    assert v.shape == (64, 36, 64) and 0 <= v.min() and v.max() <= 255
    spec_t = np.abs(np.fft.rfft(v[:, 10, 20] - v[:, 10, 20].mean()))
    assert np.fft.rfftfreq(64, 1 / 30)[spec_t.argmax()] == pytest.approx(tf)
    horizontal = direction in ("left", "right")
    line = v[0, 10, :] if horizontal else v[0, :32, 10]
    spec_s = np.abs(np.fft.rfft(line - line.mean()))
    assert np.fft.rfftfreq(line.size)[spec_s.argmax()] == pytest.approx(sf)
    dy, dx = {"right": (0, 2), "left": (0, -2), "down": (2, 0), "up": (-2, 0)}[direction]
    for t in (0, 40):  # frame t + 1 is frame t moved by 2 px in `direction`
        np.testing.assert_allclose(v[t + 1, 2:-2, 2:-2], v[t, 2 - dy : 34 - dy, 2 - dx : 62 - dx], atol=1e-3)
    suite = S.grating_suite((0.05,), (2.0, 15.0), n_frames=5)
    assert len(suite) == 8 and {p["direction"] for p, _ in suite} == set(S.DIRECTIONS)


# --------------------------------------------------------------------------- population


@pytest.fixture(scope="module")
def pop():
    rng = np.random.default_rng(5)
    p = V1Population.random(300, rng=1)
    clips = S.make_clips(S.split_sources()[0], 4, 60, rng)
    beh = [simulate_behavior(60, rng) for _ in clips]
    p.calibrate([c.video for c in clips], [b for b, _ in beh], [e for _, e in beh])
    return p, clips, beh


def test_torch_module_matches_rates_and_is_causal(pop):
    torch = pytest.importorskip("torch")
    p, clips, beh = pop
    video = np.stack([clips[0].video, clips[1].video])
    behavior = np.stack([beh[0][0], beh[1][0]])
    eye = np.stack([beh[0][1], beh[1][1]])  # fractional, changing eye positions
    want = np.stack([p.rates(video[i], behavior[i], eye[i]) for i in range(2)])
    module = p.torch_module()
    v = torch.tensor(video, requires_grad=True)
    got = module(v, torch.tensor(behavior), torch.tensor(eye))
    assert got.shape == (2, 60, 300) and bool((got > 0).all())
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-4, atol=1e-6 * want.max())
    got[:, 30].sum().backward()  # causal: frame 30 ignores frames > 30
    grad = v.grad.abs().sum(dim=(2, 3)).numpy()
    assert (grad[:, 31:] == 0).all() and (grad[:, 21:31] > 0).all()


def test_gain_follows_running_and_pupil(pop):
    p, clips, _ = pop
    video = clips[0].video
    eye = np.tile(p.pupil_ref, (60, 1))
    rest = np.tile([p.pupil_mean, 0.0], (60, 1))
    run = np.tile([p.pupil_mean, 20.0], (60, 1))
    dilated = np.tile([p.pupil_mean + p.pupil_scale, 0.0], (60, 1))
    r0, r1, r2 = (p.rates(video, b, eye) for b in (rest, run, dilated))
    np.testing.assert_allclose(r1 / r0, np.exp(p.run_gain * np.tanh(2.0))[None].repeat(60, 0), rtol=1e-5)
    np.testing.assert_allclose(r2 / r0, np.exp(p.pupil_gain)[None].repeat(60, 0), rtol=1e-5)
    # the same from Poisson samples: mean counts running / resting follow exp(a_n tanh(v / v0))
    rng = np.random.default_rng(0)
    n0 = p.sample(np.repeat(r0, 40, axis=0), rng).mean(0)
    n1 = p.sample(np.repeat(r1, 40, axis=0), rng).mean(0)
    ok = (n0 > 0.2) & (n1 > 0.2)
    measured = np.log(n1[ok] / n0[ok])
    assert np.corrcoef(measured, p.run_gain[ok] * np.tanh(2.0))[0, 1] > 0.9


def test_rfs_follow_the_eye(pop):
    p, _, _ = pop
    rng = np.random.default_rng(2)
    video = np.full((20, 36, 64), 128, dtype=np.float32)
    video[:, 8:28, 14:44] = rng.uniform(0, 255, (20, 20, 30))  # a patch away from the borders
    beh = np.tile([18.0, 5.0], (20, 1))
    e0 = np.tile(p.pupil_ref, (20, 1))
    delta = np.array([8.0, -4.0])  # eye-camera pixels -> (2, -1) screen pixels
    shift = p.eye_shift @ delta
    moved = np.roll(video, (int(shift[1]), int(shift[0])), axis=(1, 2))
    np.testing.assert_allclose(p.rates(moved, beh, e0 + delta), p.rates(video, beh, e0), rtol=1e-4)
    assert not np.allclose(p.rates(video, beh, e0 + delta), p.rates(video, beh, e0), rtol=1e-2)
    # a neuron's preferred stimulus (its own Gabor) drives it most where the eye puts its RF
    n = int(np.argmax(~p.is_complex & (np.abs(p.x - 30) < 8)))
    g = p.spatial_filters()[n]
    stim = np.repeat((128 + 100 * g / np.abs(g).max())[None], 20, axis=0).astype(np.float32)
    at_rf = p.rates(stim, beh, e0)[-1, n]
    shifted_stim = np.roll(stim, (int(shift[1]), int(shift[0])), axis=(1, 2))
    assert p.rates(shifted_stim, beh, e0 + delta)[-1, n] == pytest.approx(at_rf, rel=1e-4)
    assert p.rates(stim, beh, e0 + 4 * delta)[-1, n] < at_rf


def test_population_save_load_and_validation(pop, tmp_path):
    p, clips, beh = pop
    p.save(tmp_path / "pop.npz")
    q = V1Population.load(tmp_path / "pop.npz")
    np.testing.assert_array_equal(q.rates(clips[1].video, *beh[1]), p.rates(clips[1].video, *beh[1]))
    assert q.spatial_filters().shape == (300, 36, 64)
    np.testing.assert_allclose(np.linalg.norm(q.spatial_filters().reshape(300, -1), axis=1), 1, rtol=1e-5)
    with pytest.raises(InputError, match=r"video: has shape \(5, 36, 60\)"):
        p.rates(np.zeros((5, 36, 60)), np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(InputError, match="not calibrated"):
        V1Population.random(3).rates(np.zeros((5, 36, 64)), np.zeros((5, 2)), np.zeros((5, 2)))


def test_behavior_is_realistic():
    beh, eye = simulate_behavior(30 * 120, 4)
    pupil, speed = beh[:, 0], beh[:, 1]
    assert speed.min() > -2 and 5 < speed.max() < 60 and (speed > 3).mean() > 0.1 and (speed < 1).mean() > 0.2
    assert pupil.min() > 3 and np.corrcoef(pupil, speed)[0, 1] > 0.3
    jumps = np.linalg.norm(np.diff(eye, axis=0), axis=1)
    assert 5 <= (jumps > 4).sum() <= 300 and np.median(jumps) < 0.5


# --------------------------------------------------------------------------- the simulated mouse


def test_simulation_deterministic_and_readable(tmp_path):
    a = simulate_v1(tmp_path / "a", seed=3, **TINY)
    b = simulate_v1(tmp_path / "b", seed=3, **TINY)
    c = simulate_v1(tmp_path / "c", seed=4, **TINY)
    ma, mb, mc = (SensoriumMouse(tmp_path / k) for k in "abc")
    assert a["ceiling_correlation"] == b["ceiling_correlation"] != c["ceiling_correlation"]
    np.testing.assert_array_equal(ma.tiers, mb.tiers)
    for tid in ma.trial_ids:
        ta, tb = ma.trial(tid), mb.trial(tid)
        for name in ("video", "responses", "behavior", "pupil_center"):
            np.testing.assert_array_equal(getattr(ta, name), getattr(tb, name))
    assert not np.array_equal(ma.trial(0).responses, mc.trial(0).responses)
    # the folder reads back: tiers, shapes, ground truth consistent with the population
    assert dict(zip(*np.unique(ma.tiers, return_counts=True))) == {"train": 3, "oracle": 2, "final_test_main": 4}
    assert ma.n_neurons == 60 and ma.frame_shape == (36, 64) and ma.simulation["seed"] == 3
    assert np.load(tmp_path / "a" / "data" / "responses" / "0.npy").dtype == np.float16
    pop = V1Population.from_folder(tmp_path / "a")
    test_ids = ma.trial_ids_of("final_test_main")
    t = ma.trial(test_ids[0])
    np.testing.assert_allclose(
        ma.true_rates(test_ids[0]), pop.rates(t.video, t.behavior, t.pupil_center), rtol=2e-3, atol=1e-4
    )
    assert np.all(t.responses == np.round(t.responses))  # Poisson counts
    vids = ma.video_ids[ma.tiers == "final_test_main"]
    assert len(set(vids)) == 2  # 2 clips x 2 repeats
    same = [i for i in test_ids if ma.video_ids[int(i)] == ma.video_ids[int(test_ids[0])]]
    np.testing.assert_array_equal(ma.trial(same[0]).video, ma.trial(same[1]).video)
    assert not np.array_equal(ma.trial(same[0]).behavior, ma.trial(same[1]).behavior)
    sources = np.load(tmp_path / "a" / "meta" / "simulation" / "trial_sources.npy")
    assert set(sources[ma.tiers == "final_test_main"]) <= set(S.DEFAULT_TEST_SOURCES)
    assert set(sources[ma.tiers != "final_test_main"]).isdisjoint(S.DEFAULT_TEST_SOURCES)
    clips = json.loads((tmp_path / "a" / "meta" / "simulation" / "clips.json").read_text())
    assert len(clips) == 3 + 1 + 2 and ma.statistics("responses")["std"].shape == (60,)
    with pytest.raises(InputError, match="already exists"):
        simulate_v1(tmp_path / "a", seed=3, **TINY)


def test_ceiling_in_band_recomputed_from_saved_truth(tmp_path):
    s = simulate_v1(
        tmp_path / "m",
        n_neurons=400,
        n_train=4,
        n_oracle=1,
        oracle_repeats=2,
        n_test=4,
        test_repeats=3,
        n_frames=110,
        n_calibration=4,
        seed=1,
        pad_to=130,
        easy=True,
    )
    mouse = SensoriumMouse(tmp_path / "m")
    ids = mouse.trial_ids_of("final_test_main")
    rates = [mouse.true_rates(i) for i in ids]
    resp = [mouse.trial(i).responses for i in ids]
    assert rates[0].shape == resp[0].shape == (110, 400)  # NaN padding trimmed for both
    lam = np.concatenate([r[50:] for r in rates]).astype(np.float64)
    y = np.concatenate([r[50:] for r in resp]).astype(np.float64)
    corr = [np.corrcoef(lam[:, n], y[:, n])[0, 1] if y[:, n].std() > 0 else 0.0 for n in range(400)]
    assert np.mean(corr) == pytest.approx(s["ceiling_correlation"], abs=1e-3)
    assert 0.2 <= np.mean(corr) <= 0.4
    # Poisson noise: correlation of rate and count is sqrt(var / (var + mean)) of the rates, per neuron
    expected = np.sqrt(lam.var(0) / (lam.var(0) + lam.mean(0)))
    assert np.mean(corr) == pytest.approx(expected.mean(), abs=0.03)
    assert ceiling_correlation(rates, resp) == pytest.approx(s["ceiling_correlation"], abs=1e-3)


# --------------------------------------------------------------------------- the hard (default) mouse


@pytest.fixture(scope="module")
def hard():
    from neurocine.v1.simulate import HARD

    rng = np.random.default_rng(7)
    p = V1Population.random(160, rng=3, **HARD)
    clips = S.make_clips(S.split_sources()[0], 2, 60, rng, movie_fraction=0)
    beh = [simulate_behavior(60, rng) for _ in clips]
    p.calibrate([c.video for c in clips], [b for b, _ in beh], [e for _, e in beh])
    return p, clips, beh


def test_hard_torch_module_matches_rates_and_is_causal(hard):
    torch = pytest.importorskip("torch")
    p, clips, beh = hard
    assert p.direction_selective.sum() > 8 and (p.surround > 0).sum() > 25 and (~p.responsive).sum() > 8
    video = np.stack([clips[0].video, clips[1].video])
    behavior, eye = np.stack([beh[0][0], beh[1][0]]), np.stack([beh[0][1], beh[1][1]])
    want = np.stack([p.rates(video[i], behavior[i], eye[i]) for i in range(2)])
    v = torch.tensor(video, requires_grad=True)
    got = p.torch_module()(v, torch.tensor(behavior), torch.tensor(eye))
    np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-4, atol=1e-6 * want.max())
    got[:, 30].sum().backward()  # causal, and the imaging frames and their readout delay the response
    grad = v.grad.abs().sum(dim=(2, 3)).numpy()
    assert (grad[:, 31:] == 0).all() and (grad[:, 16:26] > 0).all()
    assert grad[:, :31].argmax(axis=1).max() < 27  # the most influential frame lies >= 4 frames back


def test_imaging_is_the_expectation_of_the_recorded_responses(hard):
    """Without imaging noise the deconvolved, resampled responses average to imaging_matrix @ spike rates."""
    p, clips, beh = hard
    m = p.imaging_matrix(60)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)  # counts per frame are kept
    assert not np.triu(m, 1).any()  # causal: no later frame
    lam = p.spike_rates(clips[0].video, *beh[0])
    quiet = V1Population(**{f: getattr(p, f) for f in p.__dataclass_fields__})
    quiet.imaging_noise = np.zeros(p.n_neurons)
    rng = np.random.default_rng(0)
    mean = np.mean([quiet.record(lam, rng) for _ in range(600)], axis=0)
    expected = m @ lam.astype(np.float64)
    assert np.abs(mean - expected).mean() < 0.05 * expected.mean()
    assert mean.mean() == pytest.approx(expected.mean(), rel=0.03)
    np.testing.assert_allclose(p.rates(clips[0].video, *beh[0]), expected, rtol=1e-5)


def test_hard_neuron_types_behave_as_planted(hard):
    p, _, _ = hard
    beh = np.tile([p.pupil_mean, 0.0], (40, 1))
    eye = np.tile(p.pupil_ref, (40, 1))
    # unresponsive neurons: the same rate whatever the movie
    a = p.spike_rates(S.drifting_grating(40, 0.08, 4.0, "right"), beh, eye)
    b = p.spike_rates(np.full((40, 36, 64), 128.0, np.float32), beh, eye)
    np.testing.assert_allclose(a[:, ~p.responsive], b[:, ~p.responsive], rtol=1e-6)
    assert np.abs(a[:, p.responsive] - b[:, p.responsive]).mean() > 0.01
    # direction-selective neurons prefer one direction of motion along their wave vector; simple cells do not
    ds_index = []
    for n in np.flatnonzero(p.responsive & ~p.is_complex & (p.surround == 0))[:80]:
        rates = []
        for sign in (1, -1):
            t, yy, xx = np.mgrid[0:40, 0:36, 0:64].astype(np.float64)
            u = (xx - p.x[n]) * np.cos(p.orientation[n]) + (yy - p.y[n]) * np.sin(p.orientation[n])
            video = 128 + 90 * np.cos(2 * np.pi * (p.sf[n] * u - sign * 3.0 * t / 30))
            rates.append(p.spike_rates(video.astype(np.float32), beh, eye)[10:, n].mean())
        ds_index.append((abs(rates[0] - rates[1]) / (rates[0] + rates[1]), p.direction_selective[n]))
    ds = np.array([d for d, is_ds in ds_index if is_ds])
    others = np.array([d for d, is_ds in ds_index if not is_ds])
    assert ds.size >= 5 and np.median(ds) > 3 * np.median(others)
    # surround suppression: a grating over the whole screen drives a suppressed neuron less than one over its RF
    n = int(np.flatnonzero(p.responsive & (p.surround > 2) & ~p.is_complex & ~p.direction_selective)[0])
    g = p.spatial_filters()[n]
    yy, xx = np.mgrid[0:36, 0:64]
    near = np.hypot(xx - p.x[n], yy - p.y[n]) < 2 * p.sigma[n]
    centre = np.repeat((128 + 100 * g / np.abs(g).max())[None], 20, axis=0).astype(np.float32)
    texture = np.random.default_rng(0).uniform(0, 255, (36, 64))
    wide = np.where(near[None], centre, texture[None]).astype(np.float32)
    se = np.tile(p.pupil_ref, (20, 1))
    assert p.drive(wide, se)[-1, n] < p.drive(centre, se)[-1, n] - 0.2


def test_shared_factors_make_noise_correlations(hard):
    from neurocine.metrics import explainable_variance, lag_autocorrelation, noise_correlation

    p, clips, beh = hard
    lam = p.spike_rates(clips[0].video, *beh[0])
    rng = np.random.default_rng(1)
    shared = np.stack([p.record(lam, rng) for _ in range(20)])
    alone = V1Population(**{f: getattr(p, f) for f in p.__dataclass_fields__})
    alone.latent_loadings = np.zeros((p.n_neurons, 0))
    independent = np.stack([alone.record(lam, rng) for _ in range(20)])
    poisson = np.stack([p.sample(lam, rng) for _ in range(20)])
    assert noise_correlation(shared) > 0.01 and abs(noise_correlation(independent)) < 0.01
    assert abs(noise_correlation(poisson)) < 0.01
    assert np.mean(lag_autocorrelation(list(shared))) > 0.6 > 0.3 > np.mean(lag_autocorrelation(list(poisson)))
    fev = explainable_variance(shared)
    assert fev[~p.responsive].mean() < 0.02 and fev[~p.responsive].mean() < 0.5 * fev[p.responsive].mean()


def test_hard_mouse_reports_what_was_planted(tmp_path):
    size = dict(TINY, n_neurons=150, n_test=3, test_repeats=4, n_frames=110, movie_fraction=0.0)
    hard_s = simulate_v1(tmp_path / "hard", seed=2, **dict(size, easy=False))
    easy_s = simulate_v1(tmp_path / "easy", seed=2, **size)
    assert hard_s["difficulty"] == "hard" and easy_s["difficulty"] == "easy"
    assert hard_s["lag1_autocorrelation"] > 0.6 and easy_s["lag1_autocorrelation"] < 0.25
    # the easy mouse's only shared variability is the behavioural gain (different in every repeat)
    assert hard_s["noise_correlation"] > 2 * abs(easy_s["noise_correlation"])
    assert hard_s["explainable_variance_unresponsive"] < 0.5 * hard_s["explainable_variance_responsive"]
    assert hard_s["cell_types"]["unresponsive"] > 5 and hard_s["n_latent_factors"] == 3
    # the summary's numbers are those of the saved responses
    from neurocine.metrics import noise_ceiling

    mouse = SensoriumMouse(tmp_path / "hard")
    ids = mouse.trial_ids_of("final_test_main")
    by_clip: dict = {}
    for i in ids:
        by_clip.setdefault(int(mouse.video_ids[int(i)]), []).append(mouse.trial(i).responses[50:])
    stacked = np.concatenate([np.stack(v) for v in by_clip.values()], axis=1)
    assert hard_s["repeat_ceiling"] == pytest.approx(float(noise_ceiling(stacked).mean()), abs=2e-3)
    assert not np.all(mouse.trial(ids[0]).responses == np.round(mouse.trial(ids[0]).responses))  # not counts
