"""Tests for neurocine.features.widefield: closed forms, direct loops, chunking invariance, bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
from scipy import ndimage

from neurocine.errors import InputError
from neurocine.features.widefield import (
    bin_frames,
    brain_mask,
    dff,
    gaussian_blur,
    mean_frame,
    otsu_threshold,
    preprocess_widefield,
)


def movie(t=23, h=5, w=4, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.uniform(50, 150, size=(h, w))
    return base * (1 + 0.1 * rng.normal(size=(t, h, w)))


def ref_sliding(x, window):
    """Direct loop: centred window, cut at the ends, mean of the frames that exist."""
    t_len = x.shape[0]
    before, after = window // 2, window - 1 - window // 2
    out = np.empty_like(x, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return _ref_sliding_loop(x, out, t_len, before, after)


def _ref_sliding_loop(x, out, t_len, before, after):
    for t in range(t_len):
        lo, hi = max(0, t - before), min(t_len, t + after + 1)
        for y in range(x.shape[1]):
            for xx in range(x.shape[2]):
                f0 = np.mean(x[lo:hi, y, xx])
                out[t, y, xx] = (x[t, y, xx] - f0) / f0
    return out


def ref_block(x, window):
    """The loop of McCarthy (2019, Fig. 2) with the intended indexing video[i*window:(i+1)*window], plus the last partial block."""
    t_len = x.shape[0]
    out = np.empty_like(x, dtype=np.float64)
    for y in range(x.shape[1]):
        for xx in range(x.shape[2]):
            for i in range(int(np.ceil(t_len / window))):
                seg = x[i * window : (i + 1) * window, y, xx]
                m = np.mean(seg)
                out[i * window : (i + 1) * window, y, xx] = (seg - m) / m
    return out


class Sliceable:
    """Minimal stack-like object: only __len__ and __getitem__ (no shape/dtype), counts frames read."""

    def __init__(self, arr):
        self.arr = arr
        self.max_read = 0

    def __len__(self):
        return self.arr.shape[0]

    def __getitem__(self, sel):
        out = self.arr[sel]
        self.max_read = max(self.max_read, out.shape[0])
        return out


# ---------------------------------------------------------------------------
# dF/F
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("window", [1, 2, 5, 6, 23])  # 23: the whole 23-frame movie, the longest window possible
def test_sliding_matches_direct_loop(window):
    x = movie()
    np.testing.assert_allclose(dff(x, window, dtype=np.float64), ref_sliding(x, window), rtol=0, atol=1e-12)


@pytest.mark.parametrize("window", [1, 4, 7, 22, 23])
def test_block_matches_seed_loop(window):
    x = movie()
    np.testing.assert_allclose(dff(x, window, mode="block", dtype=np.float64), ref_block(x, window), rtol=0, atol=1e-12)


def test_closed_form_constant_baseline():
    # F = F0 (1 + a_t) with a_t periodic of period `window` and zero mean over each period:
    # every full window (sliding or block) averages to F0, so dF/F == a_t exactly there.
    window, periods = 4, 6
    a = np.tile([0.1, -0.05, 0.02, -0.07], periods)
    f0 = np.array([[100.0, 250.0], [80.0, 1000.0]])
    x = f0[None] * (1 + a[:, None, None])
    expected = np.broadcast_to(a[:, None, None], x.shape)
    np.testing.assert_allclose(dff(x, window, mode="block", dtype=np.float64), expected, atol=1e-12)
    got = dff(x, window, dtype=np.float64)
    before, after = window // 2, window - 1 - window // 2
    inner = slice(before, len(a) - after)  # frames whose centred window is complete
    np.testing.assert_allclose(got[inner], expected[inner], atol=1e-12)
    # first frame: truncated window = frames 0..after
    f0_first = f0 * (1 + a[: after + 1].mean())
    np.testing.assert_allclose(got[0], (x[0] - f0_first) / f0_first, atol=1e-12)


@pytest.mark.parametrize("mode", ["sliding", "block"])
@pytest.mark.parametrize("chunk", [1, 2, 5, 6, 7, 11, 22, 23, 100])
def test_chunked_equals_whole(mode, chunk):
    x = movie(t=23)
    window = 6  # chunks 5, 6, 7 straddle the window, 11 is not a multiple of it
    whole = dff(x, window, mode=mode, chunk_size=1000, dtype=np.float64)
    np.testing.assert_allclose(
        dff(x, window, mode=mode, chunk_size=chunk, dtype=np.float64), whole, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("mode", ["sliding", "block"])
def test_lazy_stack_bounded_reads_and_memmap_out(tmp_path, mode):
    x = movie(t=40)
    src = Sliceable(x)
    out = np.lib.format.open_memmap(tmp_path / "dff.npy", mode="w+", dtype=np.float32, shape=x.shape)
    res = dff(src, 5, mode=mode, chunk_size=8, out=out)
    assert res is out
    out.flush()
    np.testing.assert_allclose(np.load(tmp_path / "dff.npy"), dff(x, 5, mode=mode), rtol=1e-6)
    assert src.max_read <= 8 + 5  # never reads the whole movie at once


def test_mask_excludes_dark_pixels_and_fills():
    x = movie(t=12)
    x[:, 0, 0] = 0.0  # background: zero baseline
    with pytest.raises(InputError, match=r"^stack: baseline F0 is 0\.0 at frame 0, pixel \(y=0, x=0\).*pass mask="):
        dff(x, 4)
    mask = np.ones(x.shape[1:], bool)
    mask[0, 0] = False
    got = dff(x, 4, mask=mask, dtype=np.float64)
    assert np.isnan(got[:, 0, 0]).all()
    np.testing.assert_allclose(got[:, mask], ref_sliding(x, 4)[:, mask], atol=1e-12)
    assert (dff(x, 4, mask=mask, fill_value=0.0)[:, 0, 0] == 0).all()


def test_dff_bad_inputs():
    x = movie(t=6)
    cases = [
        (lambda: dff(x, 0), r"^window: got 0, expected an integer in \[1, 6\] \(the stack has 6 frames\)$"),
        (lambda: dff(x, 7), r"^window: got 7, expected an integer in \[1, 6\] \(the stack has 6 frames\)$"),
        (lambda: dff(x, 3, mode="rolling"), r"^mode: got 'rolling'; expected 'sliding' or 'block'$"),
        (lambda: dff(x[0], 3), r"^stack: got a 2-D array of shape \(5, 4\); expected a 3-D \(T, H, W\)"),
        (lambda: dff(x[:0], 3), r"^stack: has shape \(0, 5, 4\); expected at least 1 frame"),
        (lambda: dff(x.astype(str), 3), r"^stack: has dtype <U.*; expected real numeric frames$"),
        (lambda: dff(x, 3, mask=np.ones((4, 5), bool)), r"^mask: has shape \(4, 5\); expected \(5, 4\)"),
        (lambda: dff(x, 3, mask=np.zeros((5, 4), bool)), r"^mask: selects no pixel"),
        (lambda: dff(x, 3, out=np.empty((6, 4, 5))), r"^out: has shape \(6, 4, 5\); expected \(6, 5, 4\)$"),
        (lambda: dff(x, 3, dtype=np.int16), r"^dtype: got int16; expected a floating numpy dtype"),
        (lambda: dff(x, 3, chunk_size=0), r"^chunk_size: got 0, expected an integer >= 1$"),
        (lambda: dff([x], 3), r"^stack: got a list"),
    ]
    for call, pattern in cases:
        with pytest.raises(InputError) as info:
            call()
        msg = str(info.value)
        assert "\n" not in msg and re.search(pattern, msg), msg


def test_dff_window_of_the_whole_stack_is_possible():
    """The longest window possible (T frames): in block mode F0 is each pixel's mean over the stack; in
    sliding mode the centred window cut at the ends (frame 0 averages frames 0..2 of 6)."""
    x = movie(t=6)
    f0 = x.mean(0, dtype=np.float64)
    np.testing.assert_allclose(dff(x, 6, mode="block", dtype=np.float64), (x - f0) / f0, atol=1e-12)
    first = x[:3].mean(0, dtype=np.float64)
    got = dff(x, 6, dtype=np.float64)
    np.testing.assert_allclose(got[0], (x[0] - first) / first, atol=1e-12)
    np.testing.assert_allclose(got, ref_sliding(x, 6), atol=1e-12)


# ---------------------------------------------------------------------------
# blur, binning, mean frame
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.0, 1.0, (0.5, 2.0)])
@pytest.mark.parametrize("chunk", [1, 4, 100])
def test_blur_equals_scipy_on_whole_array(sigma, chunk):
    x = movie(t=9, h=12, w=10)
    s = (sigma, sigma) if np.isscalar(sigma) else sigma
    ref = ndimage.gaussian_filter(x, sigma=(0, *s))
    np.testing.assert_allclose(gaussian_blur(x, sigma, chunk_size=chunk, dtype=np.float64), ref, atol=1e-12)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_bin_equals_reshape_mean_with_crop(k):
    x = movie(t=7, h=7, w=8)
    hb, wb = 7 // k, 8 // k
    ref = x[:, : hb * k, : wb * k].reshape(7, hb, k, wb, k).mean(axis=(2, 4))
    got = bin_frames(x, k, chunk_size=3, dtype=np.float64)
    assert got.shape == (7, hb, wb)
    np.testing.assert_allclose(got, ref, atol=1e-12)


def test_bin_2x2_closed_form_and_bad_k():
    x = np.arange(2 * 4 * 5, dtype=float).reshape(2, 4, 5)  # last column cropped
    got = bin_frames(x, 2, dtype=np.float64)
    np.testing.assert_array_equal(
        got[0], [[(0 + 1 + 5 + 6) / 4, (2 + 3 + 7 + 8) / 4], [(10 + 11 + 15 + 16) / 4, (12 + 13 + 17 + 18) / 4]]
    )
    with pytest.raises(InputError, match=r"^k: got 5; expected a bin size <= 4"):
        bin_frames(x, 5)
    with pytest.raises(InputError, match=r"^sigma: got -1"):
        gaussian_blur(x, -1)


def test_mean_frame_chunked():
    x = movie(t=11)
    np.testing.assert_allclose(mean_frame(Sliceable(x), chunk_size=4), x.mean(axis=0), atol=1e-12)


# ---------------------------------------------------------------------------
# brain mask
# ---------------------------------------------------------------------------
def test_otsu_two_level_image():
    img = np.full((20, 30), 10.0)
    img[5:15, 8:25] = 200.0
    mask, thr = brain_mask(img, return_threshold=True)
    assert 10 < thr < 200
    np.testing.assert_array_equal(mask, img == 200.0)


def brute_otsu(v, nbins=256):
    """Between-class variance (n_lo * n_hi * (mean_lo - mean_hi)^2) at every bin centre, computed
    directly on the values quantised to their histogram-bin centres (Otsu on a 256-bin histogram)."""
    _, edges = np.histogram(v, bins=nbins)
    centers = (edges[:-1] + edges[1:]) / 2
    v = centers[np.clip(np.searchsorted(edges, v, side="right") - 1, 0, nbins - 1)]
    best, best_t = -1.0, None
    for t in centers[:-1]:
        lo, hi = v[v <= t], v[v > t]
        if lo.size == 0 or hi.size == 0:
            continue
        var = lo.size * hi.size * (lo.mean() - hi.mean()) ** 2
        if var > best:
            best, best_t = var, t
    return best_t


def test_otsu_matches_brute_force_on_bimodal_noise():
    rng = np.random.default_rng(3)
    v = np.concatenate([rng.normal(20, 5, 3000), rng.normal(90, 12, 1500)])
    thr = otsu_threshold(v)
    assert thr == pytest.approx(brute_otsu(v), abs=1e-9)
    assert 35 < thr < 70


def test_brain_mask_threshold_nan_and_errors():
    img = np.array([[0.0, 5.0], [np.nan, 9.0]])
    np.testing.assert_array_equal(brain_mask(img, 4.0), [[False, True], [False, True]])
    with pytest.raises(InputError, match=r"^mean_frame: got a constant image"):
        brain_mask(np.ones((3, 3)))
    with pytest.raises(InputError, match=r"^method: got 'li'; expected 'otsu' or a threshold value$"):
        brain_mask(img, "li")
    with pytest.raises(InputError, match=r"^mean_frame: got shape \(2, 2, 1\)"):
        brain_mask(img[..., None])
    ring = np.zeros((7, 7))
    ring[1:6, 1:6] = 10.0
    ring[3, 3] = 0.0
    assert brain_mask(ring, fill_holes=True)[3, 3]


# ---------------------------------------------------------------------------
# preprocess_widefield
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["sliding", "block"])
@pytest.mark.parametrize("chunk", [1, 5, 64])
def test_preprocess_equals_composition(mode, chunk):
    x = movie(t=17, h=9, w=8)
    ref = dff(gaussian_blur(bin_frames(x, 2, dtype=np.float64), 0.8, dtype=np.float64), 5, mode=mode, dtype=np.float64)
    got = preprocess_widefield(Sliceable(x), 5, blur=0.8, bin=2, mode=mode, chunk_size=chunk, dtype=np.float64)
    assert got.shape == (17, 4, 4)
    np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-12)


def test_preprocess_with_mask_and_defaults():
    x = movie(t=10, h=6, w=6)
    x[:, :2, :] = 0.0  # dark rows outside the brain
    mf = bin_frames(mean_frame(x)[None], 2)[0]
    mask = brain_mask(mf)
    got = preprocess_widefield(x, 4, bin=2, mask=mask)
    assert got.dtype == np.float32 and got.shape == (10, 3, 3)
    assert np.isnan(got[:, 0]).all() and np.isfinite(got[:, 1:]).all()
    np.testing.assert_allclose(preprocess_widefield(x[:, 2:], 4), dff(x[:, 2:], 4), rtol=1e-6)
    with pytest.raises(InputError, match=r"^mask: has shape \(6, 6\); expected \(3, 3\)"):
        preprocess_widefield(x, 4, bin=2, mask=np.ones((6, 6), bool))
    with pytest.raises(InputError, match=r"^bin: got 0, expected an integer >= 1$"):
        preprocess_widefield(x, 4, bin=0)
