"""Video metrics of neurocine.metrics against closed forms, numpy/scipy and scikit-image."""

import numpy as np
import pytest
from skimage.measure import shannon_entropy as sk_entropy
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from neurocine import metrics as m
from neurocine.errors import InputError


@pytest.fixture
def pair():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 255, (40, 12, 14))
    recon = 0.6 * truth + rng.normal(0, 40, truth.shape)
    mask = np.zeros((12, 14), bool)
    mask[2:7, 3:10] = True
    return truth, recon, mask


def test_video_correlation_closed_forms_and_reference(pair):
    truth, recon, mask = pair
    assert m.video_correlation(truth, 2 * truth + 3) == pytest.approx(1.0)
    assert m.video_correlation(truth, -0.5 * truth + 100, mask) == pytest.approx(-1.0)
    ref = np.corrcoef(truth[30:][:, mask].ravel(), recon[30:][:, mask].ravel())[0, 1]
    assert m.video_correlation(truth, recon, mask) == pytest.approx(ref, rel=1e-12)
    ref0 = np.corrcoef(truth.ravel(), recon.ravel())[0, 1]
    assert m.video_correlation(truth, recon, skip=0) == pytest.approx(ref0, rel=1e-12)
    # a (T, H, W) mask selects per frame
    mask3 = np.broadcast_to(mask, truth.shape).copy()
    mask3[35:] = False
    ref3 = np.corrcoef(truth[30:35][:, mask].ravel(), recon[30:35][:, mask].ravel())[0, 1]
    assert m.video_correlation(truth, recon, mask3) == pytest.approx(ref3, rel=1e-12)
    assert np.isnan(m.video_correlation(truth, np.full_like(truth, 7.0)))


def test_frame_correlations_and_mean(pair):
    truth, recon, mask = pair
    recon = recon.copy()
    recon[33] = 5.0  # a constant frame has no correlation
    r = m.frame_correlations(truth, recon, mask)
    assert r.shape == (40,) and np.isnan(r[33])
    for t in (0, 17, 39):
        assert r[t] == pytest.approx(np.corrcoef(truth[t][mask], recon[t][mask])[0, 1], rel=1e-12)
    assert m.mean_frame_correlation(truth, recon, mask) == pytest.approx(np.nanmean(r[30:]))
    assert m.mean_frame_correlation(truth, recon, mask, skip=0) == pytest.approx(np.nanmean(r))
    np.testing.assert_allclose(m.frame_correlations(truth, 3 * truth - 1), 1.0)


def test_rmse_and_psnr(pair):
    truth, recon, mask = pair
    assert m.rmse(truth, truth + 3.0) == pytest.approx(3.0)
    assert m.psnr(truth, truth + 3.0) == pytest.approx(20 * np.log10(255 / 3.0))
    assert m.psnr(truth, truth) == np.inf
    assert m.psnr(truth, recon) == pytest.approx(peak_signal_noise_ratio(truth, recon, data_range=255))
    assert m.psnr(truth, recon, data_range=1.0) == pytest.approx(peak_signal_noise_ratio(truth, recon, data_range=1))
    d = (truth - recon)[:, mask]
    assert m.rmse(truth, recon, mask) == pytest.approx(np.sqrt(np.mean(d**2)))


def test_ssim_matches_skimage(pair):
    truth, recon, mask = pair
    ref = np.mean([structural_similarity(a, b, data_range=255) for a, b in zip(truth, recon)])
    assert m.ssim(truth, recon) == pytest.approx(ref, rel=1e-12)
    ref_g = np.mean(
        [structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5) for a, b in zip(truth, recon)]
    )
    assert m.ssim(truth, recon, gaussian_weights=True, sigma=1.5) == pytest.approx(ref_g, rel=1e-12)
    maps = [structural_similarity(a, b, data_range=255, full=True)[1] for a, b in zip(truth, recon)]
    assert m.ssim(truth, recon, mask) == pytest.approx(np.mean([s[mask].mean() for s in maps]), rel=1e-12)
    assert m.ssim(truth, truth) == pytest.approx(1.0)
    with pytest.raises(InputError, match="smaller than the SSIM window"):
        m.ssim(truth[:, :5, :5], recon[:, :5, :5])
    with pytest.raises(InputError, match="smaller than the SSIM window 11"):
        m.ssim(truth[:, :9], recon[:, :9], gaussian_weights=True)


def test_motion_energy_and_entropy():
    ramp = np.arange(10, dtype=float)[:, None, None] * 4.0 + np.zeros((10, 3, 5))
    np.testing.assert_allclose(m.motion_energy(ramp), np.full(9, 4.0))
    rng = np.random.default_rng(1)
    v = rng.uniform(0, 255, (6, 4, 5))
    mask = rng.uniform(size=(4, 5)) > 0.5
    np.testing.assert_allclose(m.motion_energy(v, mask), np.abs(np.diff(v, axis=0))[:, mask].mean(axis=1))

    half = np.zeros((4, 6))
    half[:, 3:] = 255
    assert m.shannon_entropy(half) == pytest.approx(1.0)
    assert m.shannon_entropy(np.full((4, 6), 80.0)) == 0.0
    frames = rng.integers(0, 256, (3, 20, 20)).astype(np.uint8)
    ent = m.shannon_entropy(frames.astype(np.float32))
    assert ent.shape == (3,)
    np.testing.assert_allclose(ent, [sk_entropy(f) for f in frames], rtol=1e-12)
    assert m.shannon_entropy(frames[0], bins=2) == pytest.approx(
        sk_entropy((frames[0] >= 128).astype(np.uint8)), rel=1e-12
    )


def test_match_contrast_luminance(pair):
    truth, _, mask = pair
    recon = 0.3 * (truth - 20.0) + 50.0
    np.testing.assert_allclose(m.match_contrast_luminance(recon, truth), truth, rtol=1e-5, atol=1e-3)
    rng = np.random.default_rng(2)
    noisy = recon + rng.normal(0, 5, recon.shape)
    out = m.match_contrast_luminance(noisy, truth, mask)
    assert out.dtype == np.float32
    assert out[:, mask].mean() == pytest.approx(truth[:, mask].mean(), rel=1e-5)
    assert out[:, mask].std() == pytest.approx(truth[:, mask].std(), rel=1e-5)
    # an affine map: correlations are unchanged
    assert m.video_correlation(truth, out, mask) == pytest.approx(m.video_correlation(truth, noisy, mask))
    flat = m.match_contrast_luminance(np.full_like(truth, 3.0), truth, mask)
    np.testing.assert_allclose(flat, truth[:, mask].mean(), rtol=1e-6)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda t: m.video_correlation(t, t[:, :3]), r"recon: got shape \(40, 3, 14\); expected the shape of truth"),
        (lambda t: m.video_correlation(t[0], t[0]), r"truth: got shape \(12, 14\); expected a \(T, H, W\) video"),
        (lambda t: m.video_correlation(t, t, np.ones((3, 3), bool)), "mask: got shape"),
        (lambda t: m.video_correlation(t, t, skip=40), "skip: got 40 but the videos have only 40 frames"),
        (lambda t: m.mean_frame_correlation(t, t, skip=-1), "skip: got -1"),
        (lambda t: m.psnr(t, t + 1, data_range=0), "data_range: got 0"),
        (lambda t: m.motion_energy(t[:1]), "video: got 1 frame"),
        (lambda t: m.motion_energy(t, np.ones(3, bool)), "mask: got shape"),
        (lambda t: m.shannon_entropy(t[0, 0]), "frame: got shape"),
        (lambda t: m.shannon_entropy(t, bins=0), "bins: got 0"),
        (lambda t: m.match_contrast_luminance(t[:, :2], t), "recon: got shape"),
    ],
)
def test_metrics_reject_bad_input(pair, call, match):
    with pytest.raises(InputError, match=match):
        call(pair[0])
