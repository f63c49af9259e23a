"""The paper's checks around a reconstruction (neurocine.v1.analysis) and their place in the V1 jobs.

Numbers are checked against closed forms (Poisson loss, Pearson correlations and scipy's p-values),
against planted duplicates, and against a reconstruction where one ensemble member cannot move (a model
blind to the movie: its gradient is zero, so its movie stays at the grey start).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _cli import cli
from _errors import raises_naming

from neurocine.errors import InputError
from neurocine.metrics import video_correlation
from neurocine.v1.analysis import (
    activity_agreement,
    duplicate_clips,
    ensemble_curve,
    ensembling_gain,
    ethogram,
    mask_sweep,
    mean_curve,
    quality_correlates,
)

TINY = dict(
    n_neurons=80,
    n_train=4,
    n_oracle=1,
    oracle_repeats=2,
    n_test=2,
    test_repeats=2,
    n_frames=60,
    n_calibration=3,
    ceiling=0.5,
    movie_fraction=0.0,
    easy=True,
)


def test_ensemble_curve_leaves_out_members_that_did_not_move():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 255, (50, 6, 8))
    a = truth + rng.normal(0, 200, truth.shape)
    b = truth + rng.normal(0, 200, truth.shape)
    grey = np.full(truth.shape, 127.5)
    curve = ensemble_curve(np.stack([a, grey, b]), truth, smooth_sigma=0)
    assert curve["not_moved"] == [1] and curve["single"][1] is None
    ra, rb = video_correlation(truth, a), video_correlation(truth, b)
    assert curve["single"][0] == pytest.approx(ra) and curve["single"][2] == pytest.approx(rb)
    assert curve["by_k"][0] == pytest.approx((ra + rb) / 2)
    assert curve["by_k"][1] == pytest.approx(video_correlation(truth, (a + b) / 2))
    assert curve["by_k"][1] > curve["by_k"][0]  # averaging independent noise helps
    assert ensemble_curve(np.stack([grey, grey]), truth)["by_k"] == []
    assert mean_curve([[0.2, 0.4, 0.5], [0.4, 0.6]]) == pytest.approx([0.3, 0.5, 0.5])
    assert mean_curve([]) == []


def test_ensembling_gain_is_the_ensemble_minus_the_members_mean():
    from neurocine.v1.reconstruction import smooth_video

    rng = np.random.default_rng(4)
    truth = rng.uniform(0, 255, (45, 6, 8))
    members = truth + rng.normal(0, 250, (3, *truth.shape))
    mask = np.zeros((6, 8), bool)
    mask[1:5, 2:7] = True
    for sigma in (0.0, 0.5):
        out = ensembling_gain(members, truth, mask, smooth_sigma=sigma)
        singles = [video_correlation(truth, smooth_video(m, sigma), mask) for m in members]
        ensemble = video_correlation(truth, smooth_video(members.mean(axis=0), sigma), mask)
        assert out["mean_single"] == pytest.approx(np.mean(singles))
        assert out["ensemble"] == pytest.approx(ensemble)
        assert out["gain"] == pytest.approx(ensemble - np.mean(singles))
        assert out["gain"] > 0.1  # three members with independent noise: averaging helps a lot
    # a member left at grey does not count; one moving member has no ensemble to gain from
    grey = np.full(truth.shape, 127.5)
    out = ensembling_gain(np.stack([members[0], grey, members[1]]), truth, smooth_sigma=0)
    want = video_correlation(truth, members[:2].mean(axis=0)) - np.mean(
        [video_correlation(truth, m) for m in members[:2]]
    )
    assert out["not_moved"] == [1] and out["gain"] == pytest.approx(want)
    assert ensembling_gain(np.stack([members[0], grey]), truth)["gain"] is None


def test_phase_inversion_is_exact():
    from neurocine.stimuli import gaussian_noise, phase_inverted

    noise = gaussian_noise(40, 2.0, 1.0, 3, shape=(12, 16))
    inverse = phase_inverted(noise)
    assert inverse.dtype == np.float32 and inverse.shape == noise.shape
    np.testing.assert_array_equal(inverse, 255.0 - noise)  # 2 * 127.5 - x, no pixel clipped
    np.testing.assert_allclose(phase_inverted(inverse), noise, atol=1e-4)
    assert video_correlation(noise, inverse) == pytest.approx(-1.0, abs=1e-6)
    np.testing.assert_allclose(inverse - 127.5, -(noise - 127.5), atol=1e-4)  # contrast flips around grey
    # around another grey the pixels beyond the range are clipped
    np.testing.assert_array_equal(phase_inverted(noise, grey=100), np.clip(200.0 - noise, 0, 255))
    with raises_naming("grey"):
        phase_inverted(noise, grey=300)
    with raises_naming("video"):
        phase_inverted(noise[0])


def test_duplicates_are_the_most_correlated_first_frames():
    rng = np.random.default_rng(1)
    train = rng.uniform(0, 255, (6, 36, 64))
    test = np.stack([rng.uniform(0, 255, (36, 64)), 0.5 * train[4] + 20 + rng.normal(0, 3, (36, 64))])
    found = duplicate_clips(test, train, threshold=0.95)
    assert found["duplicate"].tolist() == [False, True] and found["best_match"][1] == 4
    assert found["correlation"][1] == pytest.approx(np.corrcoef(test[1].ravel(), train[4].ravel())[0, 1])
    assert abs(found["correlation"][0]) < 0.1
    with pytest.raises(InputError, match="first frames"):
        duplicate_clips(test, train[:, :10])


def test_activity_agreement_closed_form():
    rng = np.random.default_rng(2)
    truth = rng.uniform(0.1, 3.0, (80, 5))
    recon = truth * rng.uniform(0.5, 1.5, truth.shape)
    recorded = rng.poisson(truth).astype(float)
    out = activity_agreement(recon, truth, recorded, skip=30)
    a, b, r = recon[30:], truth[30:], recorded[30:]
    assert out["poisson_loss_truth"] == pytest.approx(np.mean(b - r * np.log(b + 1e-8)))
    assert out["poisson_loss_reconstruction"] == pytest.approx(np.mean(a - r * np.log(a + 1e-8)))
    per_neuron = [np.corrcoef(a[:, n], b[:, n])[0, 1] for n in range(5)]
    assert out["correlation"] == pytest.approx(np.mean(per_neuron))
    assert out["correlation_pooled"] == pytest.approx(np.corrcoef(a.ravel(), b.ravel())[0, 1])
    with pytest.raises(InputError, match="equal"):
        activity_agreement(recon, truth[:, :3], recorded)


def test_mask_sweep_of_a_cone():
    yy, xx = np.mgrid[0:36, 0:64]
    alpha = 3.0 - np.hypot(xx - 30, yy - 17) / 6  # alpha >= t inside radius 6 (3 - t)
    out = mask_sweep(alpha, (0.5, 1.0, 2.0, 9.0))
    for t, frac, diam in zip(out["thresholds"], out["fraction"], out["diameter"]):
        area = np.pi * (6 * (3 - t)) ** 2 if t < 3 else 0.0
        assert frac * alpha.size == pytest.approx(area, rel=0.05, abs=1)
        assert diam == pytest.approx(2 * np.sqrt(frac * alpha.size / np.pi))
    assert out["fraction"][-1] == 0 and out["fraction"][0] > out["fraction"][1] > out["fraction"][2]


def test_quality_correlates_match_scipy():
    from scipy.stats import pearsonr

    rng = np.random.default_rng(3)
    quality = rng.uniform(0.3, 0.8, 12)
    contrast = quality * 40 + rng.normal(0, 2, 12)
    out = quality_correlates(quality, {"contrast": contrast, "flat": np.ones(12)})
    want = pearsonr(quality, contrast)
    assert out["contrast"]["r"] == pytest.approx(want[0]) and out["contrast"]["p"] == pytest.approx(want[1])
    assert out["contrast"]["n"] == 12 and out["flat"]["r"] is None


@pytest.fixture(scope="module")
def mouse(tmp_path_factory):
    from neurocine.v1.simulate import simulate_v1

    root = tmp_path_factory.mktemp("v1a") / "mouse"
    simulate_v1(root, seed=0, **TINY)
    return root


def test_reconstruct_reports_a_member_that_did_not_move_and_drops_duplicates(mouse, tmp_path, monkeypatch):
    """Job level: a blind member stays grey and is excluded (curve numeric); a copied training clip is not scored."""
    torch = pytest.importorskip("torch")
    from neurocine.io.sensorium import SensoriumMouse
    from neurocine.v1 import jobs
    from neurocine.v1.simulate import V1Population

    data = tmp_path / "mouse"
    shutil.copytree(mouse, data)
    m = SensoriumMouse(data)
    test_ids = jobs._first_presentations(m, m.trial_ids_of("final_test_main"))
    copied, source = test_ids[1], m.trial_ids_of("train")[0]
    shutil.copy(data / "data" / "videos" / f"{source}.npy", data / "data" / "videos" / f"{copied}.npy")

    class Blind(torch.nn.Module):
        """Rates that ignore the movie: the pixel gradient is zero."""

        def forward(self, video, behavior, pupil_center):
            return video.new_ones((*video.shape[:2], TINY["n_neurons"])) + 0.0 * video.mean()

    truth = V1Population.from_folder(data).torch_module()
    full = np.ones((36, 64), bool)
    monkeypatch.setattr(jobs, "_encoding_models", lambda *a, **k: ([truth, Blind()], None))
    monkeypatch.setattr(jobs, "_masks", lambda *a, **k: (np.ones((36, 64), np.float32), full, full))
    res = jobs.run_reconstruct(
        data, None, tmp_path / "rec", method="adam", iterations=8, error_maps=False, figures=False, movies=False
    )
    met = res.metrics
    assert [r["trial"] for r in met["trials"]] == [test_ids[0]]
    assert met["duplicates_excluded"][0]["trial"] == copied
    assert met["duplicates_excluded"][0]["train_trial"] == source
    assert met["duplicates_excluded"][0]["correlation"] == pytest.approx(1.0)
    row = met["trials"][0]
    assert row["models_not_moved"] == [1] and met["models_not_moved"] == {test_ids[0]: [1]}
    assert row["video_correlation_single_models"][1] is None
    curve = met["video_correlation_by_ensemble_size"]
    assert curve == [pytest.approx(row["video_correlation_single_models"][0])]
    assert met["mean_video_correlation_single_model"] == pytest.approx(curve[0])
    # predicted activity for the reconstruction against that for the true movie, and the quality correlates
    assert -1 <= row["activity_correlation"] <= 1 and row["activity_poisson_loss_truth"] > 0
    assert set(met["quality_correlates"]) == {
        "frame_contrast",
        "running_speed",
        "pupil_dilation",
        "prediction_accuracy",
    }
    # scoring everything (threshold above 1) keeps the copied clip
    res = jobs.run_reconstruct(
        data,
        None,
        tmp_path / "rec2",
        method="adam",
        iterations=2,
        error_maps=False,
        figures=False,
        movies=False,
        duplicate_threshold=None,
    )
    assert [r["trial"] for r in res.metrics["trials"]] == test_ids and res.metrics["duplicates_excluded"] == []


def test_suite_takes_a_tier(mouse, tmp_path, capsys):
    assert cli("v1", "suite", "ablation", mouse, "--truth-model", "--tier", "live_main", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--tier live_main" in err[0] and "final_test_main" in err[0]
    assert not (tmp_path / "o").exists()


def test_ethogram_closed_form():
    """Motion energy of a movie brightening at a known rate, population means, ranking, z-scores, frame r."""
    t_len, n = 40, 6
    rng = np.random.default_rng(0)
    pattern = rng.uniform(50, 150, (8, 10))
    video = pattern[None] + 2.0 * np.arange(t_len)[:, None, None]  # every pixel +2 per frame
    mask = np.zeros((8, 10), bool)
    mask[2:6, 3:8] = True
    video[:, ~mask] += 5.0 * (np.arange(t_len) % 2)[:, None]  # flicker outside the mask only
    behavior = np.stack([np.linspace(12, 18, t_len), np.linspace(0, 20, t_len)], 1)
    eye = rng.normal(0, 1, (t_len, 2))
    responses = rng.poisson(2.0, (t_len, n)).astype(float)
    noise = rng.normal(0, 1, (t_len, n))
    predicted = responses + noise * np.array([0.0, 0.3, 3.0, 1.0, 10.0, 0.6])  # ranking 0, 1, 5, 3, 2, 4
    recon = 2 * video + 3
    recon[20:] = -video[20:]
    out = ethogram(
        video,
        behavior,
        eye,
        responses,
        predicted,
        reconstruction=recon,
        predicted_from_reconstruction=2 * predicted,
        mask=mask,
        n_top=4,
        skip=5,
    )
    assert np.isnan(out["motion_energy"][0])
    np.testing.assert_allclose(out["motion_energy"][1:], 2.0)  # the flicker outside the mask does not count
    full = ethogram(video, behavior, eye, responses, predicted, n_top=4)["motion_energy"]
    n_out = (~mask).sum()
    assert full[1] == pytest.approx((2.0 * mask.sum() + 7.0 * n_out) / mask.size)  # frame 0 -> 1: +2 in, +7 out
    assert full[2] == pytest.approx((2.0 * mask.sum() + 3.0 * n_out) / mask.size)  # frame 1 -> 2: +2 in, -3 out
    np.testing.assert_array_equal(out["pupil_dilation"], behavior[:, 0])
    np.testing.assert_array_equal(out["running_speed"], behavior[:, 1])
    np.testing.assert_array_equal(out["pupil_center"], eye)
    np.testing.assert_allclose(out["population_recorded"], responses.mean(1))
    np.testing.assert_allclose(out["population_predicted"], predicted.mean(1))
    np.testing.assert_allclose(out["population_from_reconstruction"], 2 * predicted.mean(1))
    assert out["top_neurons"].tolist() == [0, 1, 5, 3]
    assert out["top_correlation"][0] == pytest.approx(1.0)
    want = np.corrcoef(responses[5:, 1], predicted[5:, 1])[0, 1]
    assert out["top_correlation"][1] == pytest.approx(want)
    for name in ("recorded_top", "predicted_top", "from_reconstruction_top"):
        assert out[name].shape == (t_len, 4)
        np.testing.assert_allclose(out[name].mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(out[name].std(0), 1)
    np.testing.assert_allclose(out["recorded_top"][:, 0], out["predicted_top"][:, 0])  # neuron 0 predicted exactly
    np.testing.assert_allclose(out["frame_correlation"][:20], 1.0)
    np.testing.assert_allclose(out["frame_correlation"][20:], -1.0)
    bare = ethogram(video, behavior, eye, responses, predicted)
    assert np.isnan(bare["frame_correlation"]).all() and np.isnan(bare["population_from_reconstruction"]).all()
    assert bare["top_neurons"].size == n and not bare["from_reconstruction_top"].any()


def test_ethogram_refuses_mismatched_arrays():
    video = np.zeros((10, 4, 5))
    ok = dict(behavior=np.zeros((10, 2)), pupil_center=np.zeros((10, 2)), responses=np.ones((10, 3)))
    with raises_naming("behavior", r"\(9, 2\).*\(10, 2\)"):
        ethogram(video, np.zeros((9, 2)), ok["pupil_center"], ok["responses"], ok["responses"])
    with raises_naming("predicted", r"\(10, 4\).*\(10, 3\)"):
        ethogram(video, ok["behavior"], ok["pupil_center"], ok["responses"], np.ones((10, 4)))
    with raises_naming("reconstruction"):
        ethogram(video, *ok.values(), ok["responses"], reconstruction=video[:5])
    with raises_naming("mask"):
        ethogram(video, *ok.values(), ok["responses"], mask=np.ones((3, 3), bool))
