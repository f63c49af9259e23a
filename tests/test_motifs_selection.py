"""Choosing K: parsing, seqNMF-style dissimilarity, the one-SE rule, and recovery of the true K."""

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.motifs.selection import dissimilarity, one_se_choice, parse_k_range, select_n_components
from neurocine.simulate import simulate_convnmf


@pytest.mark.parametrize("text,expected", [("1-8", list(range(1, 9))), ("2,4,6", [2, 4, 6]), ("4", [4]),
                                           ("3-5,8", [3, 4, 5, 8]), (" 2 , 2 ", [2])])
def test_parse_k_range(text, expected):
    assert parse_k_range(text) == expected


@pytest.mark.parametrize("text", ["5-2", "0-3", "a", "", "2,,3", "-1"])
def test_parse_k_range_rejects(text):
    with pytest.raises(InputError, match="--components"):
        parse_k_range(text)


def test_dissimilarity_closed_cases():
    sim = simulate_convnmf(7)
    W, A = sim.templates, sim.amplitudes
    assert dissimilarity(W, A, W, A) == pytest.approx(0.0, abs=1e-6)
    perm = [2, 0, 3, 1]
    assert dissimilarity(W, A, W[perm], A[:, perm]) == pytest.approx(0.0, abs=1e-6)   # order does not matter
    assert dissimilarity(W, A, W, 2.5 * A) == pytest.approx(0.0, abs=1e-6)            # nor scale
    # units active on disjoint channels and times share nothing: dissimilarity 1
    W1 = np.zeros((1, 4, 3), np.float32); W1[0, 0] = 1
    W2 = np.zeros((1, 4, 3), np.float32); W2[0, 3] = 1
    A1 = np.zeros((50, 1), np.float32); A1[5] = 1
    assert dissimilarity(W1, A1, W2, A1) == pytest.approx(1.0)


def test_one_se_rule():
    ks = [1, 2, 3, 4]
    scores = np.array([[0.2, 0.2, 0.2], [0.5, 0.52, 0.48], [0.6, 0.62, 0.58], [0.605, 0.64, 0.57]])
    assert one_se_choice(ks, scores) == 3         # K=4 is best on average but within one SE of K=3
    assert one_se_choice(ks, scores[:, :1]) == 3  # single repeat: 2 % of the spread (0.4) tolerance
    assert one_se_choice([2, 5], np.array([[0.1], [0.9]])) == 5


def test_recovers_the_true_number_of_units():
    sim = simulate_convnmf(7)  # four true units
    sel = select_n_components(sim.data, "2-6", width=10, n_repeats=3, n_init=3, random_state=0)
    assert sel.recommended == 4
    means = sel.heldout_r2.mean(1)
    assert means[sel.ks.index(4)] > means[sel.ks.index(2)] + 0.1   # too few units clearly underfit
    assert sel.stability.shape == (5, 3)
    d = sel.to_dict()
    assert d["recommended_k"] == 4 and len(d["heldout_r2_mean"]) == 5


def test_bad_arguments():
    sim = simulate_convnmf(7)
    with pytest.raises(InputError, match="mask_fraction"):
        select_n_components(sim.data, [2], 10, mask_fraction=0.7)
    with pytest.raises(InputError, match="solver"):
        select_n_components(sim.data, [2], 10, solver="seed")
