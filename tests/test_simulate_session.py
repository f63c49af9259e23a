"""The simulated behaviour + widefield session: its documented generative model holds exactly.

Every check recomputes a property from the returned parts: motion energy from
the frames, the widefield from baseline, beta maps, kernel, features and
noise, the ceiling from the noiseless movie, the beta maps from a per-pixel
least-squares fit.
"""

import numpy as np
import pytest

from neurocine.encode.simulate import (
    Session,
    convolve_regressors,
    hemodynamic_kernel,
    rois_toml,
    simulate_session,
)
from neurocine.errors import InputError
from neurocine.features.motion import motion_energy
from neurocine.features.rois import ROI, roi_masks
from neurocine.features.widefield import brain_mask, dff, mean_frame
from neurocine.io.rois import read_roi_specs
from neurocine.models.ridge import explained_variance

PLANTED = ["stimulus_visual", "stimulus_auditory", "whisker_me", "snout_me", "jaw_me", "wheel", "pupil"]


@pytest.fixture(scope="module")
def s20() -> Session:
    return simulate_session(duration_s=20, seed=1)


@pytest.fixture(scope="module")
def s60() -> Session:
    return simulate_session(duration_s=60, seed=2)


def _arrays(s: Session) -> dict:
    out = {
        "frames": s.frames,
        "widefield": s.widefield,
        "regressors": s.regressors,
        "kernel": s.kernel,
        "baseline": s.baseline,
        "ceiling": s.ceiling_ev_map,
        "mask": s.brain_mask,
    }
    for kind in ("signals", "features", "latents", "beta_maps", "events"):
        out.update({f"{kind}.{k}": v for k, v in getattr(s, kind).items()})
    return out


def test_same_seed_same_arrays_other_seed_differs():
    kw = dict(duration_s=12, video_size=(48, 64), widefield_size=(24, 24))
    a, b, c = simulate_session(seed=3, **kw), simulate_session(seed=3, **kw), simulate_session(seed=4, **kw)
    arr_a, arr_b = _arrays(a), _arrays(b)
    assert arr_a.keys() == arr_b.keys()
    for k in arr_a:
        np.testing.assert_array_equal(arr_a[k], arr_b[k], err_msg=k)
    assert a.ceiling_ev == b.ceiling_ev
    np.testing.assert_array_equal(a.noise(), b.noise())
    assert not np.array_equal(a.frames, c.frames)
    assert not np.array_equal(a.widefield, c.widefield)
    assert not np.array_equal(a.features["wheel"], c.features["wheel"])


def test_shapes_and_types(s20):
    t_len = 600
    assert s20.frames.shape == (t_len, 120, 160) and s20.frames.dtype == np.uint8
    assert s20.widefield.shape == (t_len, 64, 64) and s20.widefield.dtype == np.float32
    np.testing.assert_allclose(s20.timestamps, np.arange(t_len) / 30.0)
    assert [r.name for r in s20.rois] == ["whisker", "snout", "jaw", "full"]
    assert s20.feature_names == PLANTED + ["null"]
    assert s20.regressors.shape == (t_len, 8)
    assert all(v.shape == (t_len,) for v in list(s20.signals.values()) + list(s20.latents.values()))
    assert all(m.shape == (64, 64) for m in s20.beta_maps.values())
    assert s20.background_source == "sklearn:flower.jpg"
    # everything is a plain numpy array (savez without pickle)
    for k, v in _arrays(s20).items():
        assert isinstance(v, np.ndarray) and v.dtype != object, k


def test_motion_energy_of_frames_is_the_planted_feature(s20, s60):
    masks = roi_masks(s20.rois, 160, 120)
    me = motion_energy(s20.frames, masks)
    for j, name in enumerate(["whisker", "snout", "jaw"]):
        np.testing.assert_array_equal(me[:, j], s20.features[f"{name}_me"])
    np.testing.assert_array_equal(me[:, 3], s20.signals["full_me"])
    # each ROI's motion energy follows its own region's activity, not the others' (independent bouts;
    # chance overlaps in a 60-s session stay below 0.35)
    for s in (s20, s60):
        for name in ["whisker", "snout", "jaw"]:
            x = s.features[f"{name}_me"]
            quiet = (s.latents[name][1:] == 0) & (s.latents[name][:-1] == 0)
            assert quiet.mean() > 0.3 and np.all(x[1:][quiet] == 0)  # no motion, no motion energy
            for other, latent in s.latents.items():
                r = np.corrcoef(x, latent)[0, 1]
                if other == name:
                    assert r > 0.9, (name, r)
                elif s is s60:
                    assert abs(r) < 0.35, (name, other, r)
    # pixels outside the moving regions never change
    moving = np.zeros((120, 160), bool)
    for r in s20.rois[:3]:
        x0, y0, x1, y1 = r.box
        moving[y0:y1, x0:x1] = True
    still = s20.frames[:, ~moving]
    assert (still == s20.background[~moving]).mean() > 0.85  # the paw is the only other mover


def test_whiskers_oscillate_at_whisking_frequencies(s60):
    x0, y0, x1, y1 = s60.rois[0].box
    pad = s60.frames[:, y0:y1, x0:x1].reshape(len(s60.frames), -1).astype(np.float64)
    pad -= pad.mean(axis=0)
    power = (np.abs(np.fft.rfft(pad, axis=0)) ** 2).sum(axis=1)
    freqs = np.fft.rfftfreq(len(pad), 1 / s60.fps)
    band = (freqs >= 8) & (freqs <= 12)
    assert power[band].sum() > 0.5 * power[freqs > 1].sum()


def test_task_and_behaviour_signals(s60):
    sig, ev, fps = s60.signals, s60.events, s60.fps
    onsets = ev["stimulus_onsets"]
    gaps = np.diff(onsets)
    assert len(onsets) >= 10 and gaps.min() >= 1.0 + 2.0 - 1e-9 and gaps.max() <= 1.0 + 5.0 + 1e-9
    assert set(ev["stimulus_types"]) == {"visual", "auditory"}
    assert abs(int((ev["stimulus_types"] == "visual").sum()) - int((ev["stimulus_types"] == "auditory").sum())) <= 1
    on_frames = np.flatnonzero(sig["stimulus_onset"])
    np.testing.assert_array_equal(on_frames, np.round(onsets * fps).astype(int))
    # last stimulus time restarts at each onset and grows by 1/fps; last type holds until the next onset
    assert np.all(sig["last_stimulus_time"][on_frames] == 0)
    steps = np.diff(sig["last_stimulus_time"])
    assert np.allclose(steps[~sig["stimulus_onset"][1:]], 1 / fps)
    np.testing.assert_array_equal(sig["last_stimulus_type"][on_frames], ev["stimulus_types"])
    assert np.all(sig["last_stimulus_type"][: on_frames[0]] == "none")
    for k in ("visual", "auditory"):
        np.testing.assert_array_equal(s60.features[f"stimulus_{k}"], sig["stimulus_type"] == k)
    assert abs(sig["stimulus_on"].sum() - len(onsets) * fps) <= 1
    # responses: 0.25-0.65 s after onset, first lick, mostly on the correct spout
    hit = np.isfinite(ev["response_times"])
    lat = ev["response_times"][hit] - onsets[hit]
    assert lat.min() >= 0.25 and lat.max() <= 0.65
    correct = np.where(ev["stimulus_types"] == "visual", "left", "right")
    assert (ev["responses"][hit] == correct[hit]).mean() >= 0.6
    assert np.all(ev["responses"][~hit] == "none")
    resp_frames = np.flatnonzero(sig["response_onset"])
    np.testing.assert_array_equal(resp_frames, np.round(ev["response_times"][hit] * fps).astype(int))
    assert np.all(sig["licks"][resp_frames])
    np.testing.assert_array_equal(sig["last_response"][resp_frames], ev["responses"][hit])
    assert np.all(sig["last_response_time"][resp_frames] == 0)
    # licking opens the jaw after responses
    assert all(s60.latents["jaw"][f + 3] > 0.3 for f in resp_frames if f + 3 < len(sig["licks"]))
    # wheel: smooth running bouts; pupil: slow, follows running
    np.testing.assert_array_equal(s60.features["wheel"], sig["wheel"])
    np.testing.assert_array_equal(s60.features["pupil"], sig["pupil"])
    assert sig["wheel"].max() > 8 and sig["wheel"].min() > -5
    assert np.corrcoef(sig["pupil"], sig["wheel"])[0, 1] > 0.3
    assert np.abs(np.diff(sig["pupil"])).max() < 0.05


def test_kernel_and_convolution():
    k = hemodynamic_kernel(30.0)
    assert k.shape == (150,) and k[0] == 0 and np.isclose(k.sum(), 1.0) and k.argmax() == 30
    x = np.random.default_rng(0).normal(size=(200, 3))
    r = convolve_regressors(x, k, center=False)
    manual = np.array(
        [[sum(k[j] * x[t - j, c] for j in range(len(k)) if t - j >= 0) for c in range(3)] for t in range(200)]
    )
    np.testing.assert_allclose(r, manual, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(convolve_regressors(x, k), manual - manual.mean(0), atol=1e-12)


def test_widefield_is_baseline_times_one_plus_signal_plus_noise(s20):
    feats = np.stack([s20.features[n] for n in s20.feature_names], axis=1)
    kernel = hemodynamic_kernel(s20.fps, 1.0, 5.0)
    np.testing.assert_array_equal(s20.kernel, kernel)
    np.testing.assert_allclose(s20.regressors, convolve_regressors(feats, kernel), rtol=0, atol=1e-12)
    betas = np.stack([s20.beta_maps[n] for n in s20.feature_names])
    signal = np.einsum("tf,fhw->thw", s20.regressors, betas)
    eps = s20.noise().astype(np.float64)
    rebuilt = s20.baseline * (1.0 + signal + eps)
    np.testing.assert_allclose(s20.widefield, rebuilt, rtol=1e-6)
    np.testing.assert_allclose(s20.signal(), signal, rtol=1e-5, atol=1e-8)
    # noise: SD noise_std at every pixel, white in time, correlated in space
    sd = eps.std(axis=0)
    assert np.all(np.abs(sd / s20.noise_std - 1) < 0.15)
    e = eps - eps.mean(0)
    lag_t = (e[1:] * e[:-1]).mean() / e.var()
    lag_x = (e[:, :, 1:] * e[:, :, :-1]).mean() / e.var()
    assert abs(lag_t) < 0.05 and lag_x > 0.6
    # beta maps: zero outside the brain; the null feature has none; no signal outside the brain
    for name, m in s20.beta_maps.items():
        assert np.all(m[~s20.brain_mask] == 0)
        assert (np.abs(m).max() > 0) == (name != "null")
    assert np.abs(signal[:, ~s20.brain_mask]).max() == 0


def test_brain_mask_and_baseline(s20):
    assert brain_mask(mean_frame(s20.widefield)).tolist() == s20.brain_mask.tolist()
    assert 0.5 < s20.brain_mask.mean() < 0.8
    inside, outside = s20.baseline[s20.brain_mask], s20.baseline[~s20.brain_mask]
    assert 500 < inside.min() and inside.max() < 1300 and 800 < inside.mean() < 1100
    assert outside.max() < 120


def test_ceiling_is_the_explained_variance_of_the_noiseless_movie(s20):
    t_len = s20.n_frames
    y = s20.widefield.reshape(t_len, -1)
    noiseless = (s20.baseline * (1.0 + s20.signal().astype(np.float64))).reshape(t_len, -1)
    ev = explained_variance(y, noiseless).reshape(64, 64)
    np.testing.assert_allclose(s20.ceiling_ev_map, ev, atol=1e-5)
    assert s20.ceiling_ev == pytest.approx(float(ev[s20.brain_mask].mean()), abs=1e-5)
    assert np.abs(s20.ceiling_ev_map[~s20.brain_mask]).max() < 1e-4
    # the same on dF/F with one baseline per pixel (the recommended preprocessing)
    d = np.asarray(dff(s20.widefield, window=t_len, mode="block")).reshape(t_len, -1)
    f_mean = y.astype(np.float64).mean(axis=0)
    ev_dff = explained_variance(d, noiseless / f_mean - 1).reshape(64, 64)
    np.testing.assert_allclose(ev_dff[s20.brain_mask], ev[s20.brain_mask], atol=1e-4)


def test_least_squares_recovers_the_beta_maps_and_reaches_the_ceiling(s60):
    t_len = s60.n_frames
    m = s60.brain_mask.ravel()
    y = np.asarray(dff(s60.widefield, window=t_len, mode="block"), dtype=np.float64).reshape(t_len, -1)[:, m]
    x = np.column_stack([np.ones(t_len), s60.regressors])
    coef = np.linalg.lstsq(x, y, rcond=None)[0][1:]
    sd = s60.regressors.std(axis=0)
    for j, name in enumerate(s60.feature_names):
        truth = s60.beta_maps[name].ravel()[m]
        if name == "null":
            # contribution (dF/F) of the null feature: within the estimation noise, far below any planted one
            assert np.abs(coef[j] * sd[j]).max() < 0.25 * min(s60.amplitudes[n] for n in PLANTED)
            continue
        r = np.corrcoef(truth, coef[j])[0, 1]
        assert r >= 0.95, (name, r)
        peak = truth.argmax()
        assert coef[j][peak] == pytest.approx(truth[peak], rel=0.2), name
        assert truth[peak] * sd[j] == pytest.approx(s60.amplitudes[name], rel=1e-9)
    # in-sample EV of the fit is the ceiling (plus what 9 columns can fit of the noise)
    ev = explained_variance(y, x @ np.linalg.lstsq(x, y, rcond=None)[0])
    assert s60.ceiling_ev - 0.005 < ev.mean() < s60.ceiling_ev + 0.01
    assert 0.2 < s60.ceiling_ev < 0.45


def test_design_matrix_and_rois_toml(s20, tmp_path):
    dm = s20.design_matrix()
    assert dm.columns == s20.feature_names
    np.testing.assert_array_equal(dm.X, s20.regressors)
    assert {g: [dm.columns[i] for i in idx] for g, idx in dm.groups.items()} == {
        "stimulus": ["stimulus_visual", "stimulus_auditory"],
        "whisk": ["whisker_me"],
        "snout": ["snout_me"],
        "jaw": ["jaw_me"],
        "wheel": ["wheel"],
        "pupil": ["pupil"],
        "null": ["null"],
    }
    assert s20.groups["stimulus"] == ["stimulus_visual", "stimulus_auditory"]
    path = tmp_path / "rois.toml"
    path.write_text(s20.rois_toml())
    assert [ROI(name, **spec) for name, spec in read_roi_specs(path)] == s20.rois
    assert s20.rois_toml() == rois_toml(s20.rois)


def test_options_change_what_they_say():
    s = simulate_session(
        duration_s=12,
        fps=60,
        seed=0,
        video_size=(64, 96),
        widefield_size=(32, 40),
        stimulus_types=("left", "right"),
        amplitudes={"wheel": 0.0},
        noise_sigma=0,
    )
    assert s.frames.shape == (720, 64, 96) and s.widefield.shape == (720, 32, 40)
    assert s.feature_names[:2] == ["stimulus_left", "stimulus_right"]
    assert np.all(s.beta_maps["wheel"] == 0)
    e = s.noise()
    assert abs((e[:, :, 1:] * e[:, :, :-1]).mean() / e.var()) < 0.05  # sigma 0: white in space too
    # seed None: fresh entropy, yet the noise is still regenerated exactly
    a, b = (simulate_session(duration_s=12, seed=None, video_size=(48, 64), widefield_size=(16, 16)) for _ in range(2))
    assert a.seed is None and not np.array_equal(a.widefield, b.widefield)
    np.testing.assert_allclose(a.widefield, a.baseline * (1.0 + a.signal() + a.noise().astype(np.float64)), rtol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"duration_s": 5},
        {"duration_s": "60"},
        {"duration_s": float("nan")},
        {"fps": 10},
        {"fps": True},
        {"video_size": (120.5, 160)},
        {"video_size": (120,)},
        {"video_size": (16, 160)},
        {"widefield_size": (64, 8)},
        {"widefield_size": "64x64"},
        {"noise_std": 0},
        {"noise_sigma": -1},
        {"seed": -1},
        {"seed": 1.5},
        {"stimulus_types": ("a", "a")},
        {"stimulus_types": ("a", "b", "c")},
        {"stimulus_types": "ab"},
        {"amplitudes": {"foo": 0.01}},
        {"amplitudes": {"wheel": -1}},
        {"iti_s": (5, 2)},
        {"stimulus_s": 0},
        {"kernel_length_s": 0.5},
    ],
)
def test_bad_input_raises_one_line(kwargs):
    with pytest.raises(InputError) as info:
        simulate_session(**{"duration_s": 12, "video_size": (48, 64), "widefield_size": (16, 16), **kwargs})
    msg = str(info.value)
    assert "\n" not in msg and msg.split(":")[0].split("[")[0] == next(iter(kwargs))
