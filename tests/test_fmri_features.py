"""fMRI regressors: canonical HRF (closed form, SPM values), HRF convolution, FIR delays, TR resampling, PCA 99 %."""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from neurocine.errors import InputError
from neurocine.features.fmri import (
    VariancePCA,
    convolve_hrf,
    fir_delays,
    pca_keep_variance,
    resample_to_tr,
    spm_hrf,
)
from neurocine.features.timing import convolve_regressors, decimate, lagged


# --------------------------------------------------------------------------- HRF
def _gamma_pdf(t: float, shape: float, scale: float) -> float:
    if t <= 0:
        return 0.0
    return t ** (shape - 1) * math.exp(-t / scale) / (math.gamma(shape) * scale**shape)


def _closed_form(dt, p1=6.0, p2=16.0, p3=1.0, p4=1.0, p5=6.0, p6=0.0, p7=32.0):
    """spm_hrf(RT, p) written from its definition: difference of gamma densities at j*RT - onset, sum 1."""
    n = int(math.floor(p7 / dt + 1e-9)) + 1
    h = np.array([_gamma_pdf(j * dt - p6, p1 / p3, p3) - _gamma_pdf(j * dt - p6, p2 / p4, p4) / p5 for j in range(n)])
    return h / h.sum()


@pytest.mark.parametrize("dt", [2.0, 1.0, 0.7, 1 / 25])
def test_spm_hrf_matches_closed_form(dt):
    h = spm_hrf(dt)
    ref = _closed_form(dt)
    assert h.shape == ref.shape
    np.testing.assert_allclose(h, ref, rtol=1e-10, atol=1e-14)
    assert h.sum() == pytest.approx(1.0, abs=1e-12)


def test_spm_hrf_other_parameters_match_closed_form():
    h = spm_hrf(
        0.5,
        peak_delay=5,
        undershoot_delay=12,
        peak_dispersion=0.9,
        undershoot_dispersion=1.2,
        ratio=4,
        onset=1.5,
        length=24,
    )
    np.testing.assert_allclose(h, _closed_form(0.5, 5, 12, 0.9, 1.2, 4, 1.5, 24), rtol=1e-10, atol=1e-14)
    assert h[:4].tolist() == [0.0, 0.0, 0.0, 0.0]  # nothing before the onset


def test_spm_hrf_reference_values_at_tr_2():
    # SPM12 spm_hrf(2) with the default p = [6 16 1 1 6 0 32], rounded to 4 decimals
    spm = [
        0.0,
        0.0866,
        0.3749,
        0.3849,
        0.2161,
        0.0769,
        0.0016,
        -0.0306,
        -0.0373,
        -0.0308,
        -0.0205,
        -0.0116,
        -0.0058,
        -0.0026,
        -0.0011,
        -0.0004,
        -0.0001,
    ]
    np.testing.assert_allclose(spm_hrf(2.0), spm, atol=6e-5)


def test_spm_hrf_shape_peak_and_undershoot():
    h = spm_hrf(0.01)
    t = np.arange(h.size) * 0.01
    assert t[h.argmax()] == pytest.approx(4.97, abs=0.05)  # mode of the peak gamma (5 s) pulled in by the undershoot
    assert t[h.argmin()] == pytest.approx(15.7, abs=0.3)
    assert h.min() < 0 and t[-1] == pytest.approx(32.0)


def test_spm_hrf_bad_parameters():
    with pytest.raises(InputError, match="dt"):
        spm_hrf(0)
    with pytest.raises(InputError, match="peak_delay"):
        spm_hrf(2.0, peak_delay=-1)
    with pytest.raises(InputError, match="length"):
        spm_hrf(2.0, length=1.0)
    with pytest.raises(InputError, match="onset"):
        spm_hrf(2.0, onset="soon")


# --------------------------------------------------------------------------- convolution
def test_convolve_hrf_equals_convolve_regressors():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((500, 7))
    kernel = spm_hrf(1 / 25)
    for center in (False, True):
        np.testing.assert_allclose(
            convolve_hrf(x, 25, center=center), convolve_regressors(x, kernel, center=center), atol=1e-12
        )
    impulse = np.zeros(40)
    impulse[3] = 1.0
    np.testing.assert_allclose(convolve_hrf(impulse, 0.5)[3:20], spm_hrf(2.0), atol=1e-14)
    np.testing.assert_allclose(
        convolve_hrf(x[:, 0], 10, hrf=[0.5, 0.5]), convolve_regressors(x[:, 0], [0.5, 0.5], center=False), atol=1e-12
    )
    x32 = x.astype(np.float32)
    out32 = convolve_hrf(x32, 25, peak_delay=5.0)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(
        out32, convolve_regressors(x32, spm_hrf(1 / 25, peak_delay=5.0), center=False), atol=1e-5
    )


def test_convolve_hrf_bad_input():
    with pytest.raises(InputError, match="x: has a non-finite"):
        convolve_hrf([0.0, np.nan, 1.0], 1.0)
    with pytest.raises(InputError, match="fps"):
        convolve_hrf([0.0, 1.0], 0)
    with pytest.raises(InputError, match="hrf"):
        convolve_hrf([0.0, 1.0], 1.0, hrf=[1.0], ratio=3)
    with pytest.raises(InputError, match=r"x: got a 3-D"):
        convolve_hrf(np.zeros((3, 2, 2)), 1.0)


# --------------------------------------------------------------------------- FIR
def test_fir_delays_are_lagged_copies_delay_major():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((12, 3))
    delays = [1, 2, 4, -1]
    out = fir_delays(x, delays)
    assert out.shape == (12, 12)
    ref = lagged(x, delays).values  # channel-major: channel c, lag l at column c * 4 + l
    for i in range(len(delays)):
        for c in range(3):
            np.testing.assert_array_equal(out[:, i * 3 + c], ref[:, c * 4 + i])
    np.testing.assert_array_equal(fir_delays(x, [0]), x)
    np.testing.assert_array_equal(fir_delays(x, [20]), np.zeros_like(x))
    assert fir_delays(x.astype(np.float32)).dtype == np.float32
    assert fir_delays(np.arange(5.0)).shape == (5, 4)


def test_fir_delays_bad_delays():
    with pytest.raises(InputError, match="delays"):
        fir_delays(np.zeros((4, 2)), [1, 1])
    with pytest.raises(InputError, match="delays"):
        fir_delays(np.zeros((4, 2)), [1.5])
    with pytest.raises(InputError, match="delays"):
        fir_delays(np.zeros((4, 2)), [])


# --------------------------------------------------------------------------- resampling
def test_resample_mean_is_the_window_mean():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((25 * 2 * 10 + 13, 4))  # 10 full scans of 2 s at 25 fps, and a partial one
    out = resample_to_tr(x, 25, 2.0)
    np.testing.assert_allclose(out, x[:500].reshape(10, 50, 4).mean(1), atol=1e-12)
    assert resample_to_tr(x.astype(np.float32), 25, 2.0).dtype == np.float32
    np.testing.assert_allclose(
        resample_to_tr(x, 25, 2.0, n_scans=3, start=0.4), x[10:160].reshape(3, 50, 4).mean(1), atol=1e-12
    )


def test_resample_mean_with_a_fractional_frame_rate():
    fps, tr = 30000 / 1001, 2.0
    x = np.random.default_rng(3).standard_normal((600, 2))
    out = resample_to_tr(x, fps, tr)
    t = np.arange(600) / fps
    n = int((600 / fps) // tr)
    ref = np.array([x[(t >= k * tr) & (t < (k + 1) * tr)].mean(0) for k in range(n)])
    assert out.shape == (n, 2) == (10, 2)
    np.testing.assert_allclose(out, ref, atol=1e-12)


def test_resample_decimate_and_interpolate():
    fps, tr = 25, 2.0
    t = np.arange(25 * 60) / fps
    slow = np.sin(2 * np.pi * 0.05 * t)  # 0.05 Hz, well below the scan Nyquist rate (0.25 Hz)
    fast = np.sin(2 * np.pi * 3.0 * t)  # 3 Hz, would alias at 0.5 Hz sampling
    onsets = np.arange(30) * tr
    dec = resample_to_tr(np.c_[slow, slow + fast], fps, tr, method="decimate")
    np.testing.assert_allclose(dec, decimate(np.c_[slow, slow + fast], 50, anti_alias=True)[:30], atol=1e-12)
    inner = slice(8, 22)  # away from the 20 s (1001-tap) filter's edges
    np.testing.assert_allclose(dec[inner, 0], np.sin(2 * np.pi * 0.05 * onsets[inner]), atol=0.01)
    np.testing.assert_allclose(dec[inner, 1], dec[inner, 0], atol=0.01)  # the 3 Hz part is filtered out
    ramp = 0.5 * t + 1
    np.testing.assert_allclose(resample_to_tr(ramp, fps, tr, method="interpolate"), 0.5 * onsets + 1, atol=1e-12)
    np.testing.assert_allclose(
        resample_to_tr(ramp, fps, tr, method="interpolate", start=0.3), 0.5 * (onsets[:29] + 0.3) + 1, atol=1e-12
    )  # 29 whole scans after 0.3 s


def test_resample_errors():
    x = np.zeros((100, 2))
    with pytest.raises(InputError, match=r"n_scans: got 3 but 100 frames at 25 fps \(4 s\) cover 2 scans"):
        resample_to_tr(x, 25, 2.0, n_scans=3)
    with pytest.raises(InputError, match="shorter than one scan"):
        resample_to_tr(x[:10], 25, 2.0)
    with pytest.raises(InputError, match="method"):
        resample_to_tr(x, 25, 2.0, method="median")
    with pytest.raises(InputError, match="whole numbers of frames"):
        resample_to_tr(x, 29.97, 2.0, method="decimate")
    with pytest.raises(InputError, match="holds no frame"):
        resample_to_tr(x, 2, 0.3)
    with pytest.raises(InputError, match="tr"):
        resample_to_tr(x, 25, -2.0)


# --------------------------------------------------------------------------- PCA
def _low_rank(n, p, rank, seed, noise=0.02):
    rng = np.random.default_rng(seed)
    scales = np.logspace(0, -1.5, rank)
    return (
        (rng.standard_normal((n, rank)) * scales) @ rng.standard_normal((rank, p))
        + noise * rng.standard_normal((n, p))
        + 3.0
    )


@pytest.mark.parametrize("n,p", [(400, 60), (80, 700)])  # tall (scatter matrix) and wide (Gram matrix) paths
@pytest.mark.parametrize("fraction", [0.9, 0.99])
def test_variance_pca_matches_sklearn(n, p, fraction):
    from sklearn.decomposition import PCA

    X = _low_rank(n + 50, p, 12, seed=n)
    train, test = X[:n], X[n:]
    ours = VariancePCA(fraction, block_size=97).fit(train)
    ref = PCA(n_components=fraction, svd_solver="full").fit(train)
    assert ours.n_components_ == ref.n_components_
    k = ours.n_components_
    np.testing.assert_allclose(ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=1e-8)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=1e-8)
    np.testing.assert_allclose(ours.mean_, ref.mean_, atol=1e-12)
    np.testing.assert_allclose(ours.components_, ref.components_, atol=1e-6)
    np.testing.assert_allclose(ours.transform(test), ref.transform(test), atol=1e-6)
    np.testing.assert_allclose(
        ours.inverse_transform(ours.transform(test)), ref.inverse_transform(ref.transform(test)), atol=1e-6
    )
    pca, reduced = pca_keep_variance(train, fraction)
    assert reduced.shape == (n, k) and pca.n_components_ == k
    np.testing.assert_allclose(reduced, ref.transform(train), atol=1e-6)


def test_variance_pca_keep_all_and_float32():
    X = _low_rank(50, 30, 5, seed=7, noise=0.0)
    pca = VariancePCA(1.0).fit(X)
    assert pca.n_components_ == 5  # every direction of non-zero variance (rank 5)
    np.testing.assert_allclose(pca.inverse_transform(pca.transform(X)), X, atol=1e-8)
    X32 = _low_rank(200, 40, 8, seed=8).astype(np.float32)
    Z = VariancePCA(0.99).fit_transform(X32)
    assert Z.dtype == np.float32
    ref = VariancePCA(0.99).fit(X32.astype(np.float64))
    np.testing.assert_allclose(Z, ref.transform(X32.astype(np.float64)), atol=1e-3)


def test_variance_pca_errors():
    with pytest.raises(InputError, match="fraction"):
        VariancePCA(0).fit(np.ones((5, 3)))
    with pytest.raises(InputError, match="fraction"):
        VariancePCA(1.5).fit(np.ones((5, 3)))
    with pytest.raises(InputError, match="constant"):
        VariancePCA().fit(np.ones((5, 3)))
    with pytest.raises(NotFittedError):
        VariancePCA().transform(np.ones((5, 3)))
    with pytest.raises(NotFittedError):
        VariancePCA().inverse_transform(np.ones((5, 3)))
    pca = VariancePCA().fit(np.random.default_rng(0).standard_normal((10, 4)))
    with pytest.raises(InputError, match="expected 4, as in fit"):
        pca.transform(np.ones((3, 5)))
    with pytest.raises(InputError, match=r"X: got a 1-D"):
        VariancePCA().fit(np.ones(5))
