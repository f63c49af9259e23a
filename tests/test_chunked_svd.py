"""The chunked randomized SVD: the exact truncated SVD of the centred matrix, whatever the chunks."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.linalg import subspace_angles

from neurocine.errors import InputError
from neurocine.features.chunked_svd import randomized_svd_chunks


def _chunks(Y, size):
    def source(columns):
        return (
            (s, Y[s : s + size] if columns is None else Y[s : s + size][:, columns]) for s in range(0, len(Y), size)
        )

    return source


@pytest.fixture(scope="module")
def matrix():
    """400 x 150, a decaying rank-12 signal on a large offset plus white noise."""
    rng = np.random.default_rng(3)
    signal = (rng.standard_normal((400, 12)) * np.logspace(1, -1, 12)) @ rng.standard_normal((12, 150))
    return 500.0 + signal + 0.01 * rng.standard_normal((400, 150))


def test_equals_the_exact_truncated_svd(matrix):
    Yc = matrix - matrix.mean(0)
    _, s, Vt = np.linalg.svd(Yc, full_matrices=False)
    res = randomized_svd_chunks(_chunks(matrix, 37), 400, 6, n_iter=2)
    assert res.passes == 4
    np.testing.assert_allclose(res.singular_values, s[:6], rtol=1e-10)
    assert subspace_angles(res.spatial, Vt[:6].T).max() < 1e-8
    np.testing.assert_allclose(res.spatial.T @ res.spatial, np.eye(6), atol=1e-12)
    np.testing.assert_allclose(res.mean, matrix.mean(0), rtol=1e-13)
    assert res.kept_variance == pytest.approx((s[:6] ** 2).sum() / (s**2).sum(), rel=1e-10)
    # the best rank-6 approximation: its error is the tail of the spectrum
    err = Yc - res.temporal * res.singular_values @ res.spatial.T
    assert np.sqrt((err**2).sum()) == pytest.approx(np.sqrt((s[6:] ** 2).sum()), rel=1e-8)


def test_the_chunking_does_not_change_the_result(matrix):
    a = randomized_svd_chunks(_chunks(matrix, 400), 400, 5, random_state=4)
    b = randomized_svd_chunks(_chunks(matrix, 9), 400, 5, random_state=4)
    for key in ("temporal", "singular_values", "spatial"):
        np.testing.assert_allclose(getattr(a, key), getattr(b, key), rtol=0, atol=1e-11, err_msg=key)


def test_columns_and_affine_map_chosen_after_the_first_pass(matrix):
    """Keeping every other column scaled by 1/mean (a dF/F baseline) equals the SVD of that matrix."""
    keep = np.arange(0, 150, 2)
    got = randomized_svd_chunks(
        _chunks(matrix, 50), 400, 4, after_first_pass=lambda mean: (keep, 1.0 / mean[keep], -1.0)
    )
    Y = matrix[:, keep] / matrix[:, keep].mean(0) - 1.0
    want = randomized_svd_chunks(_chunks(Y, 50), 400, 4)
    np.testing.assert_array_equal(got.columns, keep)
    for key in ("temporal", "singular_values", "spatial", "mean"):
        np.testing.assert_allclose(getattr(got, key), getattr(want, key), rtol=1e-9, atol=1e-12, err_msg=key)


def test_bad_chunks_and_k(matrix):
    with pytest.raises(InputError, match="k: got 200; expected at most 150"):
        randomized_svd_chunks(_chunks(matrix, 100), 400, 200)
    with pytest.raises(InputError, match="chunks: covered 300 rows; expected 400"):
        randomized_svd_chunks(lambda c: ((s, matrix[s : s + 100]) for s in range(0, 300, 100)), 400, 3)
    with pytest.raises(InputError, match="expected consecutive"):
        randomized_svd_chunks(lambda c: ((s, matrix[s : s + 100]) for s in (0, 200, 100, 300)), 400, 3)
