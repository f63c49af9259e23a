"""The V1 jobs end to end on a tiny simulated mouse: simulate -> train -> reconstruct -> suites (CLI and API).

Numbers are checked against the simulation's ground truth (the true population as the
encoding model reconstructs the held-out clips; the ceiling the simulator reports) and
against recomputations from the written files (held-out correlations from the saved
models, the ensemble average of the per-model movies).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _cli import cli

torch = pytest.importorskip("torch")

TINY = dict(
    n_neurons=1000,
    n_train=12,
    n_oracle=2,
    oracle_repeats=2,
    n_test=2,
    test_repeats=2,
    n_frames=60,
    n_calibration=4,
    ceiling=0.5,
    easy=True,  # the jobs, not the simulator, are under test here
)
FAST = ["--method", "adam", "--iterations", "30", "--coarse-to-fine", "1", "--holdout", "0.1"]


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


@pytest.fixture(scope="module")
def mouse(tmp_path_factory):
    from neurocine.v1.jobs import run_simulate

    root = tmp_path_factory.mktemp("v1")
    summary = run_simulate(root / "data", seed=0, **TINY)
    return root / "data", summary


@pytest.fixture(scope="module")
def trained(mouse, tmp_path_factory):
    data, _ = mouse
    out = tmp_path_factory.mktemp("models") / "models"
    assert (
        cli(
            "v1",
            "train",
            data,
            "--out",
            out,
            "--instances",
            "2",
            "--epochs",
            "2",
            "--channels",
            "8",
            "--blocks",
            "2",
            "--clip-length",
            "32",
        )
        == 0
    )
    return out, json.loads((out / "summary.json").read_text())


def _summary(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def test_truth_model_reconstructs_held_out_clips(mouse, tmp_path):
    """The simulator's own population as the encoding model: held-out natural clips come back (r >= 0.6)."""
    data, _ = mouse
    out = tmp_path / "rec"
    assert cli("v1", "reconstruct", data, "--truth-model", "--out", out, "--no-error-maps", *FAST) == 0
    m = _summary(out)["metrics"]
    assert m["n_trials"] == 2 and m["n_models"] == 1
    assert m["mean_video_correlation"] >= 0.6
    from neurocine.metrics import mean_frame_correlation, video_correlation

    for row in m["trials"]:
        with np.load(out / f"trial_{row['trial']}" / "reconstruction.npz") as f:
            truth, recon = f["truth"], f["reconstruction"]
        with np.load(out / "mask.npz") as k:
            mask = k["evaluation_mask"]
        assert row["video_correlation"] == pytest.approx(video_correlation(truth, recon, mask), abs=1e-6)
        assert row["mean_frame_correlation"] == pytest.approx(mean_frame_correlation(truth, recon, mask), abs=1e-6)
        for name in ("comparison.mp4", "comparison.gif", "frames.png", "correlation.png", "ethogram.png"):
            assert (out / f"trial_{row['trial']}" / name).stat().st_size > 0
        with np.load(out / f"trial_{row['trial']}" / "ethogram.npz") as f:  # the ethogram's traces
            r = f["frame_correlation"]
            assert np.nanmean(r[30:]) == pytest.approx(row["mean_frame_correlation"], abs=1e-6)
            assert f["population_recorded"].shape == r.shape and f["top_neurons"].size == 20
    assert (out / "report.html").is_file()


def test_train_scores_recomputed_from_the_saved_models(mouse, trained):
    data, sim = mouse
    out, summary = trained
    m = summary["metrics"]
    assert m["ceiling_correlation"] == pytest.approx(sim["ceiling_correlation"])
    assert m["fraction_of_ceiling"] == pytest.approx(m["single_trial_correlation"] / m["ceiling_correlation"])
    from neurocine.io.sensorium import SensoriumMouse
    from neurocine.metrics import single_trial_correlation
    from neurocine.v1.jobs import load_models

    fitted, mask = load_models(out, "cpu")
    assert len(fitted) == 2 and set(mask) == {"alpha", "update_mask", "evaluation_mask"}
    test = SensoriumMouse(data).trials(m["test_tier"])
    preds = [f.predict_trials(test) for f in fitted]
    mean = [np.mean([p[j] for p in preds], axis=0) for j in range(len(test))]
    r = single_trial_correlation([t.responses for t in test], mean)
    assert m["single_trial_correlation"] == pytest.approx(float(np.nanmean(r)), abs=1e-5)
    # correlation to average (Sensorium): responses AND predictions averaged over the repeats of a clip;
    # the predictions of repeats differ through the behaviour, so the first repeat's alone is another number
    from neurocine.metrics import correlation_to_average

    groups: dict = {}
    for j, key in enumerate(SensoriumMouse(data).clip_keys(test.trial_ids)):
        groups.setdefault(key, []).append(j)
    repeated = [g for g in groups.values() if len(g) > 1]
    assert repeated
    responses = [[test[j].responses for j in g] for g in repeated]
    averaged = np.nanmean(correlation_to_average(responses, [[mean[j] for j in g] for g in repeated]))
    first_only = np.nanmean(correlation_to_average(responses, [mean[g[0]] for g in repeated]))
    assert m["correlation_to_average"] == pytest.approx(float(averaged), abs=1e-5)
    assert abs(averaged - first_only) > 1e-4
    assert m["test_tier"] == "final_test_main" and m["repeat_ceiling"] == pytest.approx(sim["repeat_ceiling"])
    assert m["fraction_of_repeat_ceiling"] == pytest.approx(m["correlation_to_average"] / sim["repeat_ceiling"])
    names = ("training.png", "mask.png", "receptive_fields.png", "receptive_fields.npz", "rf_centers.png")
    for name in (*names, "report.html"):
        assert (out / name).is_file()
    # the on/off centres and their summary, recomputed from the saved receptive fields
    from neurocine.v1.receptive_fields import center_distribution, on_off_centers

    with np.load(out / "receptive_fields.npz") as f, np.load(out / "rf_centers.npz") as c:
        want = on_off_centers(f["on"], f["off"])
        np.testing.assert_allclose(c["on_center"], want["on_center"], rtol=1e-5)
        ok = c["off_reliable"]
        summary = center_distribution(c["off_center"][ok], (36, 64))
    assert m["rf_centers"]["off"]["n"] == ok.sum() and m["rf_centers"]["units"] == "screen pixels"
    assert m["rf_centers"]["off"]["median_eccentricity"] == pytest.approx(summary["median_eccentricity"])
    assert not (out.parent / f".{out.name}.checkpoints").exists()


def test_reconstruct_with_trained_ensemble(mouse, trained, tmp_path):
    """Per-model movies are kept; the ensemble movie is their average (smoothed), scored as reported."""
    data, _ = mouse
    models, _ = trained
    out = tmp_path / "rec"
    assert (
        cli(
            "v1",
            "reconstruct",
            data,
            "--models",
            models,
            "--out",
            out,
            "--n-trials",
            "1",
            "--method",
            "adam",
            "--iterations",
            "5",
        )
        == 0
    )
    m = _summary(out)["metrics"]
    assert len(m["video_correlation_by_ensemble_size"]) == 2
    assert m["video_correlation_by_ensemble_size"][-1] == pytest.approx(m["mean_video_correlation"], abs=1e-6)
    row = m["trials"][0]
    with np.load(out / f"trial_{row['trial']}" / "reconstruction.npz") as f:
        assert f["model_videos"].shape[0] == 2
        np.testing.assert_allclose(f["error"], f["reconstruction"] - f["from_predicted"], atol=1e-4)
    assert (out / f"trial_{row['trial']}" / "error_map.png").is_file()


@pytest.mark.parametrize(
    "kind, extra",
    [
        ("noise", ["--lengths", "1,8", "--frames", "40"]),
        # the noise suite keeps the suite job in the default run; the other two (35 s each) run with -m slow
        pytest.param("gratings", ["--sf", "0.04", "--tf", "1.875", "--frames", "40"], marks=pytest.mark.slow),
        pytest.param("ablation", ["--fractions", "0,0.875", "--n-trials", "1"], marks=pytest.mark.slow),
    ],
)
def test_suites_with_the_true_population(mouse, tmp_path, kind, extra):
    data, _ = mouse
    out = tmp_path / kind
    assert (
        cli("v1", "suite", kind, data, "--truth-model", "--out", out, "--method", "adam", "--iterations", "30", *extra)
        == 0
    )
    m = _summary(out)["metrics"]
    if kind == "ablation":
        full, few = m["mean_video_correlation"]
        assert full > few  # 12.5 % of the neurons reconstruct worse than all of them
    elif kind == "noise":
        table = np.asarray(m["video_correlation"])
        assert table.shape == (2, 2) and table[1, 1] > table[0, 0]  # smooth noise is easier than fine noise
        # the phase-inverted twins: the true population's reconstruction follows the phase, so the
        # inverted movie is recovered as well as the original and correlates negatively with the original
        inverted = np.asarray(m["video_correlation_inverted"])
        against_original = np.asarray(m["video_correlation_with_twin"]["inverted"])
        assert inverted[1, 1] > 0.3 and against_original[1, 1] < -0.3
        np.testing.assert_allclose(against_original, -inverted, atol=1e-5)  # the inversion is exact
        assert np.asarray(m["reconstruction_pair_correlation"])[1, 1] < -0.3
        assert m["ensembling_gain"] == [[None, None], [None, None]]  # one model: no ensemble
        assert (out / "noise_suite.png").is_file()
    else:
        assert np.asarray(m["video_correlation"]).shape == (1, 1) and m["mean_video_correlation"] > 0.3
    assert (out / f"{kind}.png").is_file()


def test_noise_suite_ensembling_gain_per_stimulus(mouse, trained, tmp_path):
    """With two models every movie (and its inverted twin) reports ensemble minus the members' mean."""
    data, _ = mouse
    models, _ = trained
    out = tmp_path / "noise"
    argv = ("v1", "suite", "noise", data, "--models", models, "--out", out, "--lengths", "8", "--frames", "40")
    assert cli(*argv, "--method", "adam", "--iterations", "5") == 0
    m = _summary(out)["metrics"]
    gains = {}
    with np.load(out / "noise.npz") as f:
        for phase in ("", "_inverted"):
            single = f[f"single_model_video_correlation{phase}"]  # (1, 1, 2): both members moved
            assert single.shape == (1, 1, 2) and np.isfinite(single).all()
            # the ensemble's own score (reconstruct's smoothed average) minus the members' mean
            want = f[f"video_correlation{phase}"] - single.mean(axis=-1)
            np.testing.assert_allclose(f[f"ensembling_gain{phase}"], want, atol=1e-5)
            gains[phase] = float(want[0, 0])
    assert m["ensembling_gain"][0][0] == pytest.approx(gains[""], abs=1e-5)
    assert m["ensembling_gain_inverted"][0][0] == pytest.approx(gains["_inverted"], abs=1e-5)
    assert m["mean_ensembling_gain"] is not None


def test_bad_input_names_the_argument(mouse, tmp_path, capsys):
    data, _ = mouse
    assert cli("v1", "reconstruct", data, "--models", tmp_path / "none", "--out", tmp_path / "o") == 2
    assert "--models" in capsys.readouterr().err
    assert cli("v1", "reconstruct", data, "--truth-model", "--trials", "9999", "--out", tmp_path / "o") == 2
    assert "--trials" in capsys.readouterr().err
    assert cli("v1", "suite", "colours", data, "--truth-model", "--out", tmp_path / "o") == 2
    assert "colours" in capsys.readouterr().err
    assert cli("v1", "train", tmp_path, "--out", tmp_path / "o") == 2
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    "command, args, match",
    [
        ("reconstruct", ("--iterations", "0"), "iterations: got 0"),
        ("reconstruct", ("--holdout", "1.5"), "holdout: got 1.5"),
        ("reconstruct", ("--tv-weight", "-1"), "--tv-weight: got -1.0; expected a number >= 0"),
        ("reconstruct", ("--coarse-to-fine", "50"), "--coarse-to-fine: got 50; frames of"),
        ("reconstruct", ("--coarse-to-fine", "2", "--iterations", "2"), "expected at least 3"),
        ("suite", ("--iterations", "0"), "iterations: got 0"),
    ],
)
def test_impossible_reconstruction_options_are_refused_before_the_mask_is_learned(
    mouse, tmp_path, capsys, monkeypatch, command, args, match
):
    from neurocine.v1 import jobs

    def no_work(*a, **k):
        raise AssertionError("work started")

    monkeypatch.setattr(jobs, "_masks", no_work)
    argv = ("v1", command, *(("noise",) if command == "suite" else ()), mouse[0], "--truth-model", *args)
    assert cli(*argv, "--out", tmp_path / "o") == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], lines
    assert not (tmp_path / "o").exists()
