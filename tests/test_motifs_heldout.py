"""Held-out evaluation (neurocine.motifs.heldout): seqNMF's significance test against a loop transcription
of test_significance.m, planted units against noise templates, and held-out R² of a fitted model."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
import torch
from scipy.stats import skew

from neurocine.errors import InputError
from neurocine.metrics import r2_score
from neurocine.motifs import ConvNMF, simulate_convnmf
from neurocine.motifs.heldout import evaluate_heldout, significance_test, template_overlap
from neurocine.motifs.templates import convolve_templates


def seqnmf_wtx(X, W):
    """seqNMF's ``WTX``, written as its loop: ``sum_l W(:,:,l)' * circshift(X, [0, -l+1])``.

    ``X`` here is (T, N) and ``W`` (K, N, D), so ``circshift(X, -l+1)`` along time is ``np.roll(X, -l, 0)``
    for the 0-based lag l."""
    out = np.zeros((X.shape[0], W.shape[0]))
    for lag in range(W.shape[2]):
        out += np.roll(X, -lag, axis=0) @ W[:, :, lag].T
    return out


def noise_templates(n, d, seed):
    rng = np.random.default_rng(seed)
    pos = np.abs(rng.normal(size=(n, d)))
    signed = rng.normal(size=(n, d))
    return np.stack([pos / np.linalg.norm(pos), signed / np.linalg.norm(signed)])


def test_overlap_is_seqnmf_wtx():
    rng = np.random.default_rng(0)
    X, W = rng.normal(size=(50, 4)), rng.normal(size=(3, 4, 7))
    np.testing.assert_allclose(template_overlap(X, W), seqnmf_wtx(X, W), atol=1e-12)


def test_null_distribution_is_seqnmfs_and_reproducible():
    rng = np.random.default_rng(1)
    X, W = rng.random((80, 5)), rng.random((2, 5, 6))
    res = significance_test(X, W, n_null=30, random_state=3)
    assert res.null_shifts.shape == (30, 2, 5) and res.null_shifts.min() >= 1 and res.null_shifts.max() <= 6
    # each null template: every channel's row circularly shifted in lag (MATLAB circshift(W(n,k,:), s))
    expected = np.empty((2, 30))
    for i in range(30):
        w_null = np.stack([[np.roll(W[k, n], res.null_shifts[i, k, n]) for n in range(5)] for k in range(2)])
        expected[:, i] = skew(seqnmf_wtx(X, w_null), axis=0, bias=True)
    np.testing.assert_allclose(res.null_skewness, expected, rtol=1e-10)
    np.testing.assert_allclose(res.skewness, skew(seqnmf_wtx(X, W), axis=0, bias=True), rtol=1e-10)
    count = (expected >= res.skewness[:, None]).sum(1)
    np.testing.assert_allclose(res.pvalues, (count + 1) / 31)
    np.testing.assert_array_equal(res.significant, res.pvalues < 0.05 / 2)
    again = significance_test(X, W, n_null=30, random_state=3)
    np.testing.assert_array_equal(again.null_skewness, res.null_skewness)
    other = significance_test(X, W, n_null=30, random_state=4)
    assert not np.array_equal(other.null_shifts, res.null_shifts)
    assert significance_test(X, W).null_skewness.shape == (2, 2 * 40)  # seqNMF's default 2 * ceil(K / alpha)


def test_planted_units_significant_noise_templates_not():
    sim = simulate_convnmf(3, timesteps=3000)  # the notebook's simulator: K=4 units, N=10, D=10
    test = sim.data[1500:]
    assert (sim.amplitudes[1500:] > 0).sum(0).min() >= 10  # every unit fires in the held-out half
    W = np.concatenate([sim.templates, noise_templates(10, 10, seed=1)])
    res = significance_test(test, W, random_state=0)
    k = W.shape[0]
    assert res.pvalues[:4].max() == pytest.approx(1 / (2 * 20 * k + 1))  # no null reaches a planted unit
    np.testing.assert_array_equal(res.significant, [True] * 4 + [False] * 2)
    assert res.pvalues[4:].min() > 10 * res.pvalues[:4].max() and res.n_significant == 4


def test_untestable_units_get_p_one():
    rng = np.random.default_rng(0)
    X = rng.random((60, 3))
    W = np.zeros((3, 3, 4))
    W[1, 0, :] = 1.0  # one channel holds all the power
    W[2] = rng.random((3, 4))
    res = significance_test(X, W, n_null=20, random_state=0)
    assert res.pvalues[0] == 1.0 and res.pvalues[1] == 1.0 and not res.significant[:2].any()
    assert np.isnan(res.skewness[:2]).all() and np.isfinite(res.skewness[2])


def test_evaluate_heldout_on_a_fitted_model():
    sim = simulate_convnmf(7, timesteps=3000)
    train, test = sim.data[:1500], sim.data[1500:]
    model = ConvNMF(4, 10, random_state=0, device="cpu").fit(train)
    ev = evaluate_heldout(model, test, random_state=0)
    assert ev.amplitudes.shape == (1500, 4)
    assert ev.r2 == pytest.approx(r2_score(test, model.reconstruct(ev.amplitudes)))
    truth = convolve_templates(torch.from_numpy(sim.amplitudes.T.copy()), torch.from_numpy(sim.templates))
    oracle = r2_score(test, truth.numpy().T[1500:])  # the true model on the held-out half
    assert oracle - 0.05 < ev.r2 <= oracle + 0.01, (ev.r2, oracle)  # fixed templates explain what the truth does
    assert ev.n_significant == 4 and ev.significant.all()
    d = ev.to_dict()
    assert d["n_significant"] == 4 and len(d["pvalues"]) == 4 and d["heldout_r2"] == ev.r2


def test_bad_input():
    X = np.ones((20, 3))
    with pytest.raises(InputError, match=r"templates: have N=4 channels but the data has 3"):
        significance_test(X, np.ones((1, 4, 5)))
    with pytest.raises(InputError, match=r"templates: got shape \(4, 5\)"):
        template_overlap(X, np.ones((4, 5)))
    with pytest.raises(InputError, match=r"alpha: got 2"):
        significance_test(X, np.ones((1, 3, 5)), alpha=2)
    with pytest.raises(InputError, match=r"n_null: got 0"):
        significance_test(X, np.ones((1, 3, 5)), n_null=0)


# --------------------------------------------------------------------------- #
# motifs fit --holdout-time (job and CLI)
# --------------------------------------------------------------------------- #
def _fit_arrays(out):
    with np.load(out / "fit.npz") as z:
        return z["templates"], z["amplitudes"]


def test_fit_job_with_holdout(tmp_path, monkeypatch):
    import json

    import neurocine as nc

    # the figures of 2000 samples take most of the job's time and are tested elsewhere (the CLI test draws them)
    monkeypatch.setattr("neurocine.motifs.jobs.fit_figures", lambda *a, **k: None)

    sim_path = tmp_path / "sim.npz"
    nc.jobs.motifs_simulate(sim_path, seed=7, timesteps=2000)
    res = nc.jobs.motifs_fit(sim_path, tmp_path / "fit", components=4, width=10, holdout_time=0.5, seed=0)
    m = json.loads((tmp_path / "fit" / "summary.json").read_text())["metrics"]
    assert m["n_train"] == 1000 and m["n_null"] == 2 * 80
    assert m["n_significant"] == 4 and m["significant"] == [True] * 4 and max(m["pvalues"]) < 0.05 / 4
    templates, amplitudes = _fit_arrays(tmp_path / "fit")
    assert amplitudes.shape == (2000, 4)
    data = np.load(sim_path)["data"]
    # the first part is the fit on it alone; the held-out part are the events found with the templates fixed
    model = ConvNMF(4, 10, random_state=0, device="cpu").fit(data[:1000])
    np.testing.assert_array_equal(amplitudes[:1000], model.amplitudes_)
    np.testing.assert_array_equal(templates, model.templates_)
    np.testing.assert_array_equal(amplitudes[1000:], model.transform(data[1000:]))
    recon = convolve_templates(torch.from_numpy(amplitudes[1000:].T.copy()), torch.from_numpy(templates))
    assert m["heldout_r2"] == pytest.approx(r2_score(data[1000:], recon.numpy().T), abs=1e-6)
    assert m["r2"] == pytest.approx(model.r2_) and m["heldout_r2"] > 0.6
    assert m["spike_f1"] > 0.8  # scored against the truth over the whole recording, both parts
    assert res["metrics"]["n_significant"] == 4


def test_fit_holdout_bad_input_writes_nothing(tmp_path):
    import neurocine as nc

    sim_path = tmp_path / "sim.npz"
    nc.jobs.motifs_simulate(sim_path, timesteps=200)
    for value, match in [(1.5, r"--holdout-time: got 1\.5, expected a fraction"), (0.97, r"both parts longer")]:
        with pytest.raises(InputError, match=match):
            nc.jobs.motifs_fit(sim_path, tmp_path / "out", components=2, width=10, holdout_time=value)
        assert not (tmp_path / "out").exists()


def test_cli_fit_mat_with_holdout(tmp_path, capsys):
    from scipy.io import savemat

    from tests._cli import cli

    sim = simulate_convnmf(7, timesteps=600)
    mat = tmp_path / "rec.mat"
    savemat(mat, {"NEURAL": sim.data.T.astype(np.float64), "VIDEOfs": 30.0})  # channels x time, as MATLAB's
    args = ["motifs", "fit", mat, "--key", "NEURAL", "--channels-first", "--fs", "VIDEOfs", "-k", "4", "-d", "10"]
    assert cli(*args, "--holdout-time", "0.5", "--out", tmp_path / "fit") == 0
    out = capsys.readouterr().out
    assert re.search(r"heldout_r2: 0\.\d+\n  n_significant: \d\n", out), out
    assert _fit_arrays(tmp_path / "fit")[1].shape == (600, 4)
    assert cli(*args[:3], "--key", "DATA", "-k", "4", "-d", "10", "--out", tmp_path / "bad") == 2
    err = capsys.readouterr().err
    assert "no variable 'DATA' (variables: 'NEURAL', 'VIDEOfs')" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()


@pytest.mark.slow
def test_songbird_hvc_end_to_end(tmp_path, capsys):
    """seqNMF's demo on its own data: K=10, L=20 frames, the last 25 % held out. The PyPI seqnmf port
    finds 3.3 ± 0.8 significant factors there with held-out R² 0.225 ± 0.025 (realdata README)."""
    import json

    from tests._cli import cli
    from tests.test_io_matlab import realdata_file

    mat = realdata_file("songbird_hvc/MackeviciusData.mat")
    args = ["motifs", "fit", mat, "--key", "NEURAL", "--channels-first", "--fs", "VIDEOfs", "-k", "10", "-d", "20"]
    song = ["--behaviour", mat, "--behaviour-key", "SONG", "--behaviour-channels-first", "--behaviour-fs", "SONGfs"]
    assert cli(*args, "--nonnegative", "--holdout-time", "0.25", "--seed", "0", *song, "--out", tmp_path / "hvc") == 0
    m = json.loads((tmp_path / "hvc" / "summary.json").read_text())["metrics"]
    print(f"songbird HVC: n_significant {m['n_significant']}, heldout_r2 {m['heldout_r2']:.3f}", file=sys.stderr)
    assert m["n_train"] == 499 and len(m["pvalues"]) == 10
    assert m["n_significant"] >= 3  # at least seqNMF's median
    assert m["heldout_r2"] > 0.15
    assert _fit_arrays(tmp_path / "hvc")[1].shape == (666, 10)
    # most significant sequences play at one place in the song (seed 0: 3 of its 4)
    locked = [s and b for s, b in zip(m["significant"], m["behaviour_locked"])]
    assert sum(locked) >= m["n_significant"] - 1 and m["n_behaviour_locked"] >= 5
    for name in ("sequences.png", "significance.png", "behaviour.png"):
        assert (tmp_path / "hvc" / name).is_file()
