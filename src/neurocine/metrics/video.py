"""Video metrics: how close a reconstructed movie is to the true one (correlations, RMSE, PSNR, SSIM),
motion energy, entropy, and matching contrast and luminance."""

from __future__ import annotations

import numpy as np


def _as_video(name: str, video) -> np.ndarray:
    from neurocine.errors import InputError

    try:
        arr = np.asarray(video, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name}: cannot be read as a numeric array; expected a (T, H, W) video") from None
    if arr.ndim != 3:
        raise InputError(
            f"{name}: got shape {arr.shape}; expected a (T, H, W) video, time first (for one frame use frame[None])"
        )
    return arr


def _video_pair(truth, recon, mask=None):
    """Validated float64 ``truth``, ``recon`` (T, H, W) and a boolean mask broadcast to (T, H, W)."""
    from neurocine.errors import InputError

    truth, recon = _as_video("truth", truth), _as_video("recon", recon)
    if truth.shape != recon.shape:
        raise InputError(f"recon: got shape {recon.shape}; expected the shape of truth {truth.shape}")
    return truth, recon, _video_mask(mask, truth.shape)


def _video_mask(mask, shape) -> np.ndarray:
    from neurocine.errors import InputError

    if mask is None:
        return np.ones(shape, bool)
    m = np.asarray(mask)
    if m.shape == shape[1:]:
        m = np.broadcast_to(m, shape)
    elif m.shape != shape:
        raise InputError(f"mask: got shape {m.shape}; expected {shape[1:]} (H, W) or {shape} (T, H, W)")
    return m.astype(bool)


def _check_skip(skip, n_frames: int) -> int:
    from neurocine.errors import InputError

    if isinstance(skip, bool) or not isinstance(skip, (int, np.integer)) or skip < 0:
        raise InputError(f"skip: got {skip!r}; expected an integer >= 0")
    if skip >= n_frames:
        raise InputError(f"skip: got {skip} but the videos have only {n_frames} frames; expected skip < {n_frames}")
    return int(skip)


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two 1-D float64 arrays; NaN when either is constant or empty."""
    if a.size < 2:
        return float("nan")
    a = a - a.mean()
    b = b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def video_correlation(truth, recon, mask=None, skip: int = 30) -> float:
    """Spatio-temporal (pixel-by-pixel) Pearson correlation of two videos.

    All pixels inside ``mask`` of the frames ``skip, skip+1, ...`` are pooled
    into one vector per video (the paper's "video correlation"; its first 30
    frames are skipped because the model has no history there).

    Parameters
    ----------
    truth, recon : array_like (T, H, W)
    mask : bool array (H, W) or (T, H, W), optional
        Evaluation mask; all pixels when omitted.
    skip : int, default 30
        Frames at the start left out.

    Returns
    -------
    float
        NaN when either video is constant in the selection.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.random.default_rng(0).uniform(0, 255, (40, 4, 5))
    >>> round(video_correlation(x, 2 * x + 3), 6)
    1.0
    """
    truth, recon, m = _video_pair(truth, recon, mask)
    skip = _check_skip(skip, truth.shape[0])
    sel = m[skip:]
    return _pearson(truth[skip:][sel], recon[skip:][sel])


def frame_correlations(truth, recon, mask=None) -> np.ndarray:
    """Per-frame Pearson correlation inside ``mask``.

    Parameters
    ----------
    truth, recon : array_like (T, H, W)
    mask : bool array (H, W) or (T, H, W), optional

    Returns
    -------
    ndarray (T,)
        NaN for frames where either video is constant inside the mask.
    """
    truth, recon, m = _video_pair(truth, recon, mask)
    return np.array([_pearson(truth[t][m[t]], recon[t][m[t]]) for t in range(truth.shape[0])])


def mean_frame_correlation(truth, recon, mask=None, skip: int = 30) -> float:
    """Mean over the frames ``>= skip`` of the per-frame correlation (:func:`frame_correlations`).

    Frames where the correlation is undefined (a constant frame) are left out
    of the mean; NaN when all are.
    """
    truth, recon, m = _video_pair(truth, recon, mask)
    skip = _check_skip(skip, truth.shape[0])
    r = frame_correlations(truth[skip:], recon[skip:], m[skip:])
    return float(np.nanmean(r)) if np.isfinite(r).any() else float("nan")


def rmse(truth, recon, mask=None) -> float:
    """Root mean squared error over the pixels inside ``mask`` (pixel units)."""
    truth, recon, m = _video_pair(truth, recon, mask)
    d = truth[m] - recon[m]
    return float(np.sqrt(np.mean(d * d))) if d.size else float("nan")


def psnr(truth, recon, mask=None, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio ``10 log10(data_range**2 / MSE)`` in dB; ``inf`` for identical videos."""
    from neurocine.errors import InputError

    if not np.isfinite(data_range) or data_range <= 0:
        raise InputError(f"data_range: got {data_range!r}; expected a positive number (255 for 0-255 videos)")
    err = rmse(truth, recon, mask)
    if err == 0:
        return float("inf")
    return float(20.0 * np.log10(data_range) - 20.0 * np.log10(err))


def ssim(truth, recon, mask=None, data_range: float = 255.0, **kwargs) -> float:
    """Structural similarity, computed per frame with :func:`skimage.metrics.structural_similarity`.

    Each frame's SSIM map (``full=True``) is averaged over the pixels inside
    the mask of that frame (over the whole frame — exactly skimage's mean SSIM —
    when no mask is given), then the frames are averaged.

    Parameters
    ----------
    truth, recon : array_like (T, H, W)
    mask : bool array (H, W) or (T, H, W), optional
    data_range : float, default 255
    **kwargs
        Passed to ``structural_similarity`` (``win_size``, ``gaussian_weights``, ``sigma`` ...).

    Returns
    -------
    float
    """
    from skimage.metrics import structural_similarity

    from neurocine.errors import InputError

    truth, recon, m = _video_pair(truth, recon, mask)
    win = kwargs.get("win_size")
    if win is None:  # skimage's default window: 7, or the Gaussian's support
        win = 2 * int(3.5 * kwargs.get("sigma", 1.5) + 0.5) + 1 if kwargs.get("gaussian_weights") else 7
    if min(truth.shape[1:]) < win:
        raise InputError(
            f"truth: frames of {truth.shape[1:]} pixels are smaller than the SSIM window {win}; "
            f"expected frames at least {win} x {win} (or pass a smaller odd win_size)"
        )
    values = []
    for t in range(truth.shape[0]):
        if mask is None:
            values.append(structural_similarity(truth[t], recon[t], data_range=data_range, **kwargs))
            continue
        if not m[t].any():
            continue
        _, smap = structural_similarity(truth[t], recon[t], data_range=data_range, full=True, **kwargs)
        values.append(float(smap[m[t]].mean()))
    return float(np.mean(values)) if values else float("nan")


def motion_energy(video, mask=None) -> np.ndarray:
    """Motion energy: mean absolute frame-to-frame difference per frame.

    Parameters
    ----------
    video : array_like (T, H, W)
    mask : bool array (H, W), optional
        Only pixels inside count.

    Returns
    -------
    ndarray (T - 1,)
        ``mean(|video[t+1] - video[t]|)`` over the (masked) pixels.
    """
    from neurocine.errors import InputError

    v = _as_video("video", video)
    if v.shape[0] < 2:
        raise InputError(f"video: got {v.shape[0]} frame(s); expected at least 2 for frame differences")
    diff = np.abs(np.diff(v, axis=0))
    if mask is None:
        return diff.mean(axis=(1, 2))
    m = np.asarray(mask)
    if m.shape != v.shape[1:]:
        raise InputError(f"mask: got shape {m.shape}; expected {v.shape[1:]} (H, W)")
    return diff[:, m.astype(bool)].mean(axis=1)


def shannon_entropy(frame, bins: int = 256, value_range=(0.0, 256.0)):
    """Shannon entropy (bits) of the pixel-value histogram of a frame, or of every frame of a video.

    Values are clipped into ``value_range`` and counted in ``bins`` equal bins;
    with the defaults each integer 0..255 has its own bin, so an integer-valued
    frame gives exactly ``skimage.measure.shannon_entropy`` of it.

    Parameters
    ----------
    frame : array_like (H, W) or (T, H, W)
    bins : int, default 256
    value_range : (float, float), default (0, 256)

    Returns
    -------
    float for one frame, ndarray (T,) for a video.
    """
    from neurocine.errors import InputError

    arr = np.asarray(frame, dtype=np.float64)
    if arr.ndim not in (2, 3):
        raise InputError(f"frame: got shape {arr.shape}; expected an (H, W) frame or a (T, H, W) video")
    if isinstance(bins, bool) or not isinstance(bins, (int, np.integer)) or bins < 1:
        raise InputError(f"bins: got {bins!r}; expected an integer >= 1")
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise InputError(f"value_range: got {value_range!r}; expected (low, high) with high > low")

    def one(f):
        counts, _ = np.histogram(np.clip(f, lo, np.nextafter(hi, lo)), bins=int(bins), range=(lo, hi))
        p = counts[counts > 0] / counts.sum()
        return float(-(p * np.log2(p)).sum())

    if arr.ndim == 2:
        return one(arr)
    return np.array([one(f) for f in arr])


def match_contrast_luminance(recon, truth, mask=None) -> np.ndarray:
    """Match the luminance (mean) and contrast (std) of ``recon`` to ``truth``.

    The mean and standard deviation are taken over all pixels inside the mask
    of all frames; the affine map ``(recon - mean_r) / std_r * std_t + mean_t``
    is applied to every pixel of ``recon``. A constant ``recon`` is only shifted.

    Parameters
    ----------
    recon, truth : array_like (T, H, W)
    mask : bool array (H, W) or (T, H, W), optional

    Returns
    -------
    ndarray (T, H, W) float32
    """
    truth, recon, m = _video_pair(truth, recon, mask)
    r, t = recon[m], truth[m]
    if r.size == 0:
        return recon.astype(np.float32)
    sd_r, sd_t = r.std(), t.std()
    scale = sd_t / sd_r if sd_r > 0 else 0.0
    return ((recon - r.mean()) * scale + t.mean()).astype(np.float32)
