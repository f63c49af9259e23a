"""Tests for neurocine.motifs.scoring (ground-truth scoring of Conv-NMF sorts)."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from neurocine.errors import InputError
from neurocine.motifs.scoring import (
    GroundTruthScore,
    _greedy_count,
    lagged_cosine,
    match_spike_trains,
    score_against_truth,
    spike_times,
)

# ----------------------------------------------------------------------------- helpers


def brute_force_matching(true_times, est_times, tolerance) -> int:
    """Maximum bipartite matching on the |t - e| <= tolerance graph (scipy, Hopcroft-Karp)."""
    t = np.asarray(true_times, dtype=float)
    e = np.asarray(est_times, dtype=float)
    if t.size == 0 or e.size == 0:
        return 0
    adjacency = (np.abs(t[:, None] - e[None, :]) <= tolerance).astype(np.int8)
    if not adjacency.any():
        return 0
    match = maximum_bipartite_matching(csr_matrix(adjacency), perm_type="column")
    return int((match >= 0).sum())


def amplitudes_from_trains(trains, n_samples) -> np.ndarray:
    amp = np.zeros((n_samples, len(trains)))
    for k, train in enumerate(trains):
        amp[np.asarray(train, dtype=int), k] = 1.0
    return amp


def reference_score(true_trains, est_trains, tolerance, min_agreement=0.0):
    """Independent reference: brute-force matching counts and exhaustive assignment search over the
    pairs whose agreement reaches ``min_agreement``."""
    k_true, k_est = len(true_trains), len(est_trains)
    counts = np.array(
        [[brute_force_matching(t, e, tolerance) for e in est_trains] for t in true_trains], dtype=float
    ).reshape(k_true, k_est)
    n_true = np.array([len(t) for t in true_trains], dtype=float)
    n_est = np.array([len(e) for e in est_trains], dtype=float)
    union = n_true[:, None] + n_est[None, :] - counts
    agreement = np.where(union > 0, counts / np.where(union > 0, union, 1), 0.0)
    best_total = 0.0
    # every partial injection true -> est: choose a permutation of est (padded with None)
    slots = list(range(k_est)) + [None] * k_true
    allowed = np.where(agreement >= min_agreement, agreement, 0.0)
    for perm in set(itertools.permutations(slots, k_true)):
        total = sum(allowed[i, j] for i, j in enumerate(perm) if j is not None)
        best_total = max(best_total, total)
    return counts, agreement, best_total


# ----------------------------------------------------------------------------- spike_times


def test_spike_times_picks_positive_samples():
    amp = np.zeros((8, 3))
    amp[[1, 5], 0] = [0.3, 2.0]
    amp[2, 1] = -1.0  # negative is not a spike
    amp[7, 2] = 1e-9
    trains = spike_times(amp)
    assert [t.tolist() for t in trains] == [[1, 5], [], [7]]
    assert all(t.dtype == np.int64 for t in trains)


# ----------------------------------------------------------------------------- matching


@pytest.mark.parametrize(
    ("true", "est", "tol", "expected"),
    [
        ([10, 20, 30], [10, 20, 30], 0, 3),
        ([10, 20, 30], [12, 22, 32], 2, 3),
        ([10, 20, 30], [13, 23, 33], 2, 0),
        ([10, 11], [10], 2, 1),  # each spike at most once
        ([10], [9, 10, 11], 2, 1),
        # pairing 4 with 2 would leave 0 unmatched; the sweep pairs 0-2 and 4-6
        ([0, 4], [2, 6], 2, 2),
        ([0, 4], [2], 2, 1),
        ([], [1, 2], 2, 0),
        ([1, 2], [], 2, 0),
        ([5, 5, 5], [4, 6], 1, 2),  # repeated times are allowed
    ],
)
def test_match_spike_trains_known_cases(true, est, tol, expected):
    assert match_spike_trains(true, est, tol) == expected
    assert match_spike_trains(est, true, tol) == expected  # symmetric
    assert brute_force_matching(true, est, tol) == expected


sorted_train = st.lists(st.integers(0, 60), max_size=25).map(sorted)


@settings(max_examples=300, deadline=None)
@given(true=sorted_train, est=sorted_train, tol=st.integers(0, 6))
def test_match_spike_trains_equals_maximum_bipartite_matching(true, est, tol):
    expected = brute_force_matching(true, est, tol)
    assert match_spike_trains(true, est, tol) == expected
    assert _greedy_count(true, est, tol) == expected


@pytest.mark.parametrize("seed", range(20))
def test_match_spike_trains_random_dense_and_sparse(seed):
    rng = np.random.default_rng(seed)
    n_samples = int(rng.integers(50, 2000))
    tol = int(rng.integers(0, 8))
    true = np.sort(rng.choice(n_samples, size=int(rng.integers(0, 80)), replace=False))
    # estimate: jittered copies of some true spikes plus random extras
    kept = true[rng.random(true.size) < 0.8]
    jittered = kept + rng.integers(-tol - 2, tol + 3, size=kept.size)
    extras = rng.integers(0, n_samples, size=int(rng.integers(0, 40)))
    est = np.sort(np.concatenate([jittered, extras]))
    assert match_spike_trains(true, est, tol) == brute_force_matching(true, est, tol)


def test_match_spike_trains_float_tolerance():
    assert match_spike_trains([10, 20], [11, 22], 1.5) == 1
    assert match_spike_trains([10, 20], [11, 22], 2.0) == 2


# ----------------------------------------------------------------------------- lagged_cosine


@pytest.mark.parametrize("shift", [-3, -1, 0, 2, 4])
def test_lagged_cosine_recovers_shift(shift):
    rng = np.random.default_rng(1)
    n, d = 4, 12
    base = np.zeros((n, d))
    base[:, 4:8] = rng.normal(size=(n, 4))  # support in the middle so every shift keeps it whole
    shifted = np.roll(base, shift, axis=1)  # shifted[:, d] = base[:, d - shift]
    cos, lag = lagged_cosine(shifted, base)
    assert cos == pytest.approx(1.0, abs=1e-12)
    assert lag == shift
    cos_back, lag_back = lagged_cosine(base, shifted)
    assert cos_back == pytest.approx(1.0, abs=1e-12)
    assert lag_back == -shift
    # scale invariance
    assert lagged_cosine(3.0 * shifted, 0.5 * base)[0] == pytest.approx(1.0, abs=1e-12)


def test_lagged_cosine_orthogonal_templates_is_zero():
    a = np.zeros((4, 6))
    b = np.zeros((4, 6))
    a[:2] = np.random.default_rng(0).normal(size=(2, 6))  # channels 0-1
    b[2:] = np.random.default_rng(1).normal(size=(2, 6))  # channels 2-3: orthogonal at every lag
    cos, lag = lagged_cosine(a, b)
    assert cos == 0.0
    assert lag == 0  # ties go to lag 0


def test_lagged_cosine_closed_form_and_truncation_penalty():
    # a = e_0 at lag 0 and 1, b = e_0 at lag 1 only: best lag -1 (a[:, d] vs b[:, d + 1])
    a = np.array([[1.0, 1.0, 0.0]])
    b = np.array([[0.0, 1.0, 0.0]])
    cos, lag = lagged_cosine(a, b)
    # lags 0 and -1 both give <a, shift b> = 1, ||a|| ||b|| = sqrt(2): tie -> lag 0
    assert cos == pytest.approx(1 / np.sqrt(2))
    assert lag == 0
    # a shift that pushes half the energy off the window scores 1/2, not 1
    c = np.array([[0.0, 0.0, 1.0, 1.0]])
    d = np.array([[1.0, 1.0, 0.0, 0.0]])
    assert lagged_cosine(c, d) == (pytest.approx(1.0), 2)
    e = np.array([[0.0, 0.0, 0.0, 1.0]])
    f = np.array([[1.0, 1.0, 0.0, 0.0]])
    cos, lag = lagged_cosine(e, f)
    assert cos == pytest.approx(1 / np.sqrt(2))
    assert lag in (2, 3)


def test_lagged_cosine_no_sign_flip():
    rng = np.random.default_rng(3)
    a = np.abs(rng.normal(size=(3, 5)))
    cos, _ = lagged_cosine(a, -a)
    # all shifted inner products of a non-negative template with its negation are <= 0;
    # the best is the lag with the least overlap, never +1
    assert cos <= 0.0
    expected = max(-np.sum(a[:, lag:] * a[:, : 5 - lag]) for lag in range(5)) / np.sum(a * a)
    assert cos == pytest.approx(expected)


def test_lagged_cosine_zero_template():
    assert lagged_cosine(np.zeros((2, 3)), np.ones((2, 3))) == (0.0, 0)


# ----------------------------------------------------------------------------- score_against_truth


def _spread_trains(rng, k, n_samples, n_spikes, gap):
    """k trains of n_spikes each, all spikes (across units) at least `gap` apart."""
    slots = rng.choice(n_samples // gap, size=k * n_spikes, replace=False) * gap
    return [np.sort(slots[i * n_spikes : (i + 1) * n_spikes]) for i in range(k)]


def test_perfect_sort_scores_one():
    rng = np.random.default_rng(0)
    trains = _spread_trains(rng, 3, 3000, 20, 10)
    amp = amplitudes_from_trains(trains, 3000) * rng.uniform(0.5, 2.0, size=(3000, 3))
    templates = rng.normal(size=(3, 4, 6))
    score = score_against_truth(amp, amp, templates, templates)
    assert score.assignment == {0: 0, 1: 1, 2: 2}
    for row in score.per_unit:
        assert (row["tp"], row["fp"], row["fn"]) == (20, 0, 0)
        for key in ("accuracy", "precision", "recall", "f1", "agreement"):
            assert row[key] == 1.0
        assert row["template_similarity"] == pytest.approx(1.0)
    ov = score.overall
    assert (ov["n_true"], ov["n_est"], ov["tp"], ov["fp"], ov["fn"]) == (60, 60, 60, 0, 0)
    for key in ("accuracy", "precision", "recall", "f1"):
        assert ov[key] == 1.0
    assert ov["template_similarity"] == pytest.approx(1.0)
    np.testing.assert_allclose(score.agreement_matrix, np.eye(3))


def test_templates_of_other_widths_are_compared_zero_padded():
    # a fit with a wider window than the simulation: the true template sits inside it, shifted by 2 lags
    rng = np.random.default_rng(1)
    amp = amplitudes_from_trains(_spread_trains(rng, 2, 500, 10, 12), 500)
    true = rng.normal(size=(2, 3, 5))
    wider = np.zeros((2, 3, 9))
    wider[:, :, 2:7] = true
    score = score_against_truth(amp, amp, true, wider)
    assert [row["template_similarity"] for row in score.per_unit] == pytest.approx([1.0, 1.0])
    narrower = score_against_truth(amp, amp, wider, true[:, :, :3])  # the estimate lost two lags
    expected = [np.linalg.norm(t[:, :3]) / np.linalg.norm(t) for t in true]
    assert [row["template_similarity"] for row in narrower.per_unit] == pytest.approx(expected)


def test_split_unit():
    # true unit 0 has 10 spikes; the sort splits them 6 / 4 across units A=0 and B=1
    true_train = np.arange(10) * 20 + 5
    amp_true = amplitudes_from_trains([true_train], 250)
    amp_est = amplitudes_from_trains([true_train[[0, 2, 4, 6, 8, 9]], true_train[[1, 3, 5, 7]]], 250)
    score = score_against_truth(amp_true, amp_est)
    assert score.assignment == {0: 0}
    np.testing.assert_allclose(score.agreement_matrix, [[0.6, 0.4]])
    row = score.per_unit[0]
    assert (row["n_true"], row["n_est"], row["tp"], row["fp"], row["fn"]) == (10, 6, 6, 0, 4)
    assert row["accuracy"] == pytest.approx(0.6)
    assert row["precision"] == 1.0
    assert row["recall"] == pytest.approx(0.6)
    assert row["f1"] == pytest.approx(2 * 0.6 / 1.6)
    ov = score.overall
    # B's 4 spikes are false positives overall
    assert (ov["tp"], ov["fp"], ov["fn"], ov["n_est"]) == (6, 4, 4, 10)
    assert ov["precision"] == pytest.approx(0.6)
    assert ov["recall"] == pytest.approx(0.6)
    assert ov["accuracy"] == pytest.approx(6 / 14)
    assert ov["f1"] == pytest.approx(0.6)


@pytest.mark.parametrize("tol", [0, 1, 2, 5])
@pytest.mark.parametrize("sign", [1, -1])
def test_shift_by_tolerance_vs_tolerance_plus_one(tol, sign):
    true_train = np.arange(12) * 30 + 15  # spikes 30 apart > 2 * (tol + 1)
    amp_true = amplitudes_from_trains([true_train], 400)
    inside = score_against_truth(amp_true, amplitudes_from_trains([true_train + sign * tol], 400), tolerance=tol)
    outside = score_against_truth(amp_true, amplitudes_from_trains([true_train + sign * (tol + 1)], 400), tolerance=tol)
    assert inside.overall["f1"] == 1.0 and inside.assignment == {0: 0}
    assert outside.overall["tp"] == 0
    assert outside.assignment == {0: None}  # agreement 0 -> unmatched
    assert (outside.overall["fp"], outside.overall["fn"]) == (12, 12)
    assert outside.overall["f1"] == 0.0 and outside.overall["precision"] == 0.0
    assert outside.per_unit[0]["matched_unit"] is None


def test_swapped_labels_recovered_by_hungarian():
    rng = np.random.default_rng(4)
    trains = _spread_trains(rng, 4, 4000, 15, 10)
    perm = [2, 0, 3, 1]  # est unit perm[i] holds true unit i
    est_trains = [None] * 4
    for i, j in enumerate(perm):
        est_trains[j] = trains[i] + rng.integers(-2, 3, size=trains[i].size)
    true_tpl = np.zeros((4, 3, 8))
    true_tpl[:, :, 2:6] = rng.normal(size=(4, 3, 4))
    est_tpl = np.empty_like(true_tpl)
    for i, j in enumerate(perm):
        est_tpl[j] = 2.0 * np.roll(true_tpl[i], 1, axis=1)  # rescaled and one sample late
    score = score_against_truth(
        amplitudes_from_trains(trains, 4000), amplitudes_from_trains(est_trains, 4000), true_tpl, est_tpl, tolerance=2
    )
    assert score.assignment == dict(enumerate(perm))
    assert score.overall["f1"] == 1.0
    assert score.overall["template_similarity"] == pytest.approx(1.0)


def test_extra_unmatched_unit_drops_precision_exactly():
    rng = np.random.default_rng(5)
    trains = _spread_trains(rng, 2, 3000, 25, 12)  # 50 true spikes
    extra = np.arange(7) * 12 + 6  # 7 spikes between slots, far (6 samples) from every true spike
    amp_true = amplitudes_from_trains(trains, 3000)
    amp_est = amplitudes_from_trains(trains + [extra], 3000)
    score = score_against_truth(amp_true, amp_est, tolerance=2)
    assert score.assignment == {0: 0, 1: 1}
    assert all(row["precision"] == 1.0 for row in score.per_unit)  # per unit unaffected
    ov = score.overall
    assert (ov["tp"], ov["fp"], ov["fn"]) == (50, 7, 0)
    assert ov["precision"] == pytest.approx(50 / 57)
    assert ov["recall"] == 1.0
    assert ov["accuracy"] == pytest.approx(50 / 57)
    assert ov["f1"] == pytest.approx(2 * (50 / 57) / (1 + 50 / 57))


def test_unmatched_true_unit_and_template_similarity_average():
    rng = np.random.default_rng(6)
    trains = _spread_trains(rng, 2, 2000, 10, 10)
    amp_true = amplitudes_from_trains(trains, 2000)
    amp_est = amplitudes_from_trains(trains[:1], 2000)  # unit 1 missed entirely
    n, d = 3, 10
    true_tpl = np.zeros((2, n, d))
    true_tpl[:, :, 3:7] = rng.normal(size=(2, n, 4))
    est_tpl = np.roll(true_tpl[:1], -2, axis=2)  # the found unit's template, 2 samples early
    score = score_against_truth(amp_true, amp_est, true_tpl, est_tpl)
    assert score.assignment == {0: 0, 1: None}
    assert score.per_unit[0]["template_similarity"] == pytest.approx(1.0)
    assert score.per_unit[1]["template_similarity"] == 0.0
    assert score.per_unit[1]["recall"] == 0.0 and score.per_unit[1]["fn"] == 10
    assert score.overall["template_similarity"] == pytest.approx(0.5)
    assert (score.overall["tp"], score.overall["fp"], score.overall["fn"]) == (10, 0, 10)
    assert score.overall["recall"] == pytest.approx(0.5)
    assert score.overall["precision"] == 1.0


def test_min_agreement_leaves_weak_pairs_unmatched():
    true_train = np.arange(10) * 20 + 5
    amp_true = amplitudes_from_trains([true_train], 250)
    amp_est = amplitudes_from_trains([true_train[:4]], 250)  # agreement 0.4
    assert score_against_truth(amp_true, amp_est, min_agreement=0.0).assignment == {0: 0}
    weak = score_against_truth(amp_true, amp_est)  # SpikeInterface's match_score default, 0.5
    assert weak.min_agreement == 0.5 and weak.to_dict()["min_agreement"] == 0.5
    assert weak.assignment == {0: None}
    assert (weak.overall["tp"], weak.overall["fp"], weak.overall["fn"]) == (0, 4, 10)
    assert weak.overall["n_matched"] == 0 and weak.overall["unit_mean_f1"] == 0.0


def test_unit_mean_differs_from_pooled_when_units_differ_in_size():
    """Pooled F1 follows the big unit; the mean over units weighs each true unit once."""
    big, small = np.arange(40) * 10 + 3, np.arange(4) * 100 + 7
    amp_true = amplitudes_from_trains([big, small], 450)
    amp_est = amplitudes_from_trains([big, small[:2]], 450)  # small unit: recall 0.5, precision 1
    o = score_against_truth(amp_true, amp_est, tolerance=0).overall
    assert o["n_matched"] == 2
    assert o["recall"] == pytest.approx(42 / 44)
    assert o["unit_mean_recall"] == pytest.approx((1.0 + 0.5) / 2)
    assert o["unit_mean_f1"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert o["unit_mean_precision"] == 1.0


@pytest.mark.parametrize("min_agreement", [0.0, 0.5])
@pytest.mark.parametrize("seed", range(12))
def test_random_sorts_match_reference(seed, min_agreement):
    rng = np.random.default_rng(100 + seed)
    n_samples, tol = 300, int(rng.integers(0, 4))
    k_true, k_est = int(rng.integers(1, 4)), int(rng.integers(1, 5))
    true_trains = [np.sort(rng.choice(n_samples, size=int(rng.integers(0, 15)), replace=False)) for _ in range(k_true)]
    est_trains = []
    for _ in range(k_est):
        src = true_trains[int(rng.integers(k_true))]
        keep = src[rng.random(src.size) < rng.uniform(0.2, 1.0)]
        noisy = np.clip(keep + rng.integers(-tol - 1, tol + 2, size=keep.size), 0, n_samples - 1)
        extra = rng.integers(0, n_samples, size=int(rng.integers(0, 6)))
        est_trains.append(np.unique(np.concatenate([noisy, extra])))
    score = score_against_truth(
        amplitudes_from_trains(true_trains, n_samples),
        amplitudes_from_trains(est_trains, n_samples),
        tolerance=tol,
        min_agreement=min_agreement,
    )
    counts, agreement, best_total = reference_score(true_trains, est_trains, tol, min_agreement)
    np.testing.assert_allclose(score.agreement_matrix, agreement)
    chosen = sum(agreement[i, j] for i, j in score.assignment.items() if j is not None)
    assert chosen == pytest.approx(best_total)
    assert len({j for j in score.assignment.values() if j is not None}) == sum(
        j is not None for j in score.assignment.values()
    )
    tp = fp = fn = 0
    for i, row in enumerate(score.per_unit):
        j = score.assignment[i]
        if j is not None:
            assert agreement[i, j] > 0 and agreement[i, j] >= min_agreement
            assert row["tp"] == counts[i, j]
            assert row["fp"] == len(est_trains[j]) - counts[i, j]
        assert row["tp"] + row["fn"] == len(true_trains[i])
        tp, fp, fn = tp + row["tp"], fp + row["fp"], fn + row["fn"]
    fp += sum(len(est_trains[j]) for j in range(k_est) if j not in score.assignment.values())
    ov = score.overall
    assert (ov["tp"], ov["fp"], ov["fn"]) == (tp, fp, fn)
    assert ov["tp"] + ov["fp"] == sum(len(e) for e in est_trains)
    assert ov["tp"] + ov["fn"] == sum(len(t) for t in true_trains)
    if tp + fp + fn:
        assert ov["accuracy"] == pytest.approx(tp / (tp + fp + fn))


def test_to_dict_is_json_serialisable():
    true_train = np.arange(5) * 20 + 5
    amp = amplitudes_from_trains([true_train], 120)
    tpl = np.ones((1, 2, 3))
    score = score_against_truth(amp, np.hstack([amp, amp[::-1]]), tpl, np.concatenate([tpl, -tpl]))
    assert isinstance(score, GroundTruthScore)
    payload = json.loads(json.dumps(score.to_dict()))
    assert payload["assignment"] == {"0": 0}
    assert payload["overall"]["f1"] == pytest.approx(2 * (5 / 10) * 1.0 / (5 / 10 + 1.0))
    assert set(payload["per_unit"][0]) == {
        "unit",
        "matched_unit",
        "n_true",
        "n_est",
        "tp",
        "fp",
        "fn",
        "accuracy",
        "precision",
        "recall",
        "f1",
        "agreement",
        "template_similarity",
    }
    assert set(payload["overall"]) == {
        "precision",
        "recall",
        "f1",
        "accuracy",
        "n_true",
        "n_est",
        "tp",
        "fp",
        "fn",
        "template_similarity",
        "unit_mean_precision",
        "unit_mean_recall",
        "unit_mean_f1",
        "unit_mean_accuracy",
        "n_matched",
    }
    assert payload["overall"]["template_similarity"] == pytest.approx(1.0)


def test_no_estimated_units():
    amp_true = amplitudes_from_trains([[3, 9], [15]], 20)
    score = score_against_truth(amp_true, np.zeros((20, 0)))
    assert score.assignment == {0: None, 1: None}
    assert (score.overall["tp"], score.overall["fp"], score.overall["fn"]) == (0, 0, 3)
    assert score.overall["precision"] == 0.0 and score.overall["f1"] == 0.0


# ----------------------------------------------------------------------------- input errors


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"true_amplitudes": np.zeros(10), "est_amplitudes": np.zeros((10, 1))}, "true_amplitudes"),
        ({"true_amplitudes": np.zeros((10, 1)), "est_amplitudes": np.zeros((10, 1, 1))}, "est_amplitudes"),
        ({"true_amplitudes": np.zeros((10, 1)), "est_amplitudes": np.zeros((11, 1))}, "time samples"),
        ({"true_amplitudes": np.full((10, 1), np.nan), "est_amplitudes": np.zeros((10, 1))}, "NaN"),
        ({"true_amplitudes": np.zeros((10, 1)), "est_amplitudes": np.zeros((10, 1)), "tolerance": -1}, "tolerance"),
        ({"true_amplitudes": np.zeros((10, 1)), "est_amplitudes": np.zeros((10, 1)), "tolerance": "2"}, "tolerance"),
        (
            {
                "true_amplitudes": np.zeros((10, 1)),
                "est_amplitudes": np.zeros((10, 1)),
                "true_templates": np.zeros((1, 2, 3)),
            },
            "both",
        ),
        (
            {
                "true_amplitudes": np.zeros((10, 1)),
                "est_amplitudes": np.zeros((10, 1)),
                "true_templates": np.zeros((1, 2, 3)),
                "est_templates": np.zeros((1, 3, 3)),
            },
            "N = 3 channels, expected 2",
        ),
        (
            {
                "true_amplitudes": np.zeros((10, 2)),
                "est_amplitudes": np.zeros((10, 1)),
                "true_templates": np.zeros((1, 2, 3)),
                "est_templates": np.zeros((1, 2, 3)),
            },
            "expected 2",
        ),
        (
            {
                "true_amplitudes": np.zeros((10, 1)),
                "est_amplitudes": np.zeros((10, 1)),
                "true_templates": np.zeros((2, 3)),
                "est_templates": np.zeros((1, 2, 3)),
            },
            "true_templates",
        ),
        (
            {"true_amplitudes": np.zeros((10, 1)), "est_amplitudes": np.zeros((10, 1)), "min_agreement": 1.5},
            "min_agreement",
        ),
    ],
)
def test_score_input_errors(kwargs, match):
    with pytest.raises(InputError, match=match) as info:
        score_against_truth(**kwargs)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([3, 1], [1]), "true_times.*not sorted"),
        (([1], [[1]]), "est_times.*1-D"),
        (([1], [1], -0.5), "tolerance"),
        (([np.nan], [1]), "true_times.*NaN"),
    ],
)
def test_match_input_errors(args, match):
    with pytest.raises(InputError, match=match):
        match_spike_trains(*args)


def test_lagged_cosine_input_errors():
    with pytest.raises(InputError, match="same"):
        lagged_cosine(np.zeros((2, 3)), np.zeros((2, 4)))
    with pytest.raises(InputError, match="a:"):
        lagged_cosine(np.zeros(3), np.zeros(3))
    with pytest.raises(InputError, match="amplitudes.*shape"):
        spike_times(np.zeros(5))
