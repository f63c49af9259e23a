"""In-silico receptive-field mapping of encoding models with sparse on/off noise.

:func:`map_receptive_fields` shows an encoding model (any module following
the protocol of :mod:`neurocine.v1.reconstruction`, e.g. a trained
:class:`~neurocine.v1.dnem.DNEMNetwork` or an
:class:`~neurocine.v1.dnem.EnsembleModule`) static frames of random lit and
dark patches and averages its rates by pixel; :func:`population_rf` and
:func:`rf_centers` summarise the fields; :func:`on_off_centers` finds each
neuron's on and off centre with a reliability test, and
:func:`center_distribution` summarises where they lie on the screen (the
paper's Fig. 1-S3).
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from neurocine.errors import InputError
from neurocine.runtime import resolve_device
from neurocine.v1.dnem import DNEMNetwork, EnsembleModule
from neurocine.validation import check_int

__all__ = [
    "ReceptiveFields",
    "center_distribution",
    "map_receptive_fields",
    "on_off_centers",
    "population_rf",
    "rf_centers",
]


class ReceptiveFields(NamedTuple):
    """On and off receptive fields, each (N, H, W): mean rate with the pixel lit (dark) minus the mean rate."""

    on: np.ndarray
    off: np.ndarray


def _module_default(module: nn.Module, name: str, fallback):
    value = getattr(module, name, None)
    return fallback if value is None else value


def _reads_out_from(module: nn.Module) -> bool:
    """Whether ``module`` takes ``output_from`` (a DNEMNetwork, or an ensemble of them)."""
    if isinstance(module, EnsembleModule):
        return all(_reads_out_from(m) for m in module.members)
    return isinstance(module, DNEMNetwork)


def map_receptive_fields(
    module: nn.Module,
    frame_shape: tuple[int, int],
    *,
    n_stimuli: int = 2000,
    patch_size: int = 3,
    density: float = 0.1,
    n_frames: int | None = None,
    background: float | None = None,
    on_value: float = 255.0,
    off_value: float = 0.0,
    behavior=None,
    pupil_center=None,
    batch_size: int = 64,
    random_state: int | None = 0,
    device=None,
) -> ReceptiveFields:
    """Map every neuron's on and off receptive field in silico with sparse noise.

    Each stimulus is a ``background`` frame with square patches of
    ``patch_size`` pixels at random positions, each lit (``on_value``) or
    dark (``off_value``) with equal probability, about ``density`` of the
    screen covered; it is shown, static, for ``n_frames`` frames and the
    rate at the last frame is the response. The on field of a neuron at a
    pixel is its mean response over the stimuli where that pixel is lit
    minus its mean response over all stimuli (the response-weighted average
    of the on pixels); the off field likewise for dark pixels.

    Parameters
    ----------
    module : torch.nn.Module
        An encoding model following the protocol (``module(video, behavior,
        pupil_center) -> rates (B, T, N)``); put in eval mode.
    frame_shape : tuple (H, W)
    n_stimuli : int, default 2000
    patch_size : int, default 3
    density : float, default 0.1
        Expected fraction of the screen covered by patches.
    n_frames : int or None
        Frames per stimulus; None: the module's ``temporal_receptive_field``
        (else 16).
    background : float or None
        Grey level; None: the module's ``video_mean`` (else 127.5).
    on_value, off_value : float, default 255 and 0
    behavior, pupil_center : array_like of shape (2,) or None
        Held constant; None: the module's ``behavior_mean`` /
        ``pupil_mean`` (else 0).
    batch_size : int, default 64
        Stimuli per forward pass.
    random_state : int or None, default 0
    device : str, torch.device or None
        None: the module's device.

    Returns
    -------
    ReceptiveFields
        ``(on, off)``, each float64 (N, H, W), in rate units.
    """
    height, width = (check_int("frame_shape", int(s)) for s in frame_shape)
    n_stimuli = check_int("n_stimuli", n_stimuli, minimum=2)
    patch = check_int("patch_size", patch_size)
    if patch > min(height, width):
        raise InputError(f"patch_size: got {patch}, expected at most {min(height, width)} (the frame)")
    if not (isinstance(density, numbers.Real) and 0 < density <= 1):
        raise InputError(f"density: got {density!r}, expected a fraction in (0, 1]")
    n_frames = check_int(
        "n_frames", int(n_frames if n_frames is not None else getattr(module, "temporal_receptive_field", 16))
    )
    batch_size = check_int("batch_size", batch_size)
    if device is None:
        first = next(iter(module.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    else:
        device = resolve_device(device) if isinstance(device, str) else torch.device(device)
    if background is None:
        mean = _module_default(module, "video_mean", None)
        background = float(mean) if mean is not None else 127.5

    def constant(value, name, fallback_attr):
        if value is None:
            default = _module_default(module, fallback_attr, None)
            value = np.zeros(2) if default is None else default.detach().cpu().numpy()
        arr = np.asarray(value, dtype=np.float32).reshape(-1)
        if arr.shape != (2,):
            raise InputError(f"{name}: has shape {np.shape(value)}, expected (2,)")
        return torch.from_numpy(arr).to(device)

    beh = constant(behavior, "behavior", "behavior_mean")
    pup = constant(pupil_center, "pupil_center", "pupil_mean")
    rng = np.random.default_rng(random_state)
    n_patches = max(1, int(round(density * height * width / patch**2)))
    module.eval()
    on_sum = off_sum = None
    on_count = np.zeros((height, width))
    off_count = np.zeros((height, width))
    total = None
    for first in range(0, n_stimuli, batch_size):
        b = min(batch_size, n_stimuli - first)
        frames = np.full((b, height, width), background, dtype=np.float32)
        for s in range(b):
            rows = rng.integers(0, height - patch + 1, size=n_patches)
            cols = rng.integers(0, width - patch + 1, size=n_patches)
            values = np.where(rng.random(n_patches) < 0.5, on_value, off_value)
            for r, c, v in zip(rows, cols, values):
                frames[s, r : r + patch, c : c + patch] = v
        video = torch.from_numpy(frames).to(device)[:, None].expand(-1, n_frames, -1, -1)
        with torch.no_grad():
            inputs = (video, beh.expand(b, n_frames, 2), pup.expand(b, n_frames, 2))
            if _reads_out_from(module):  # read out the last frame only
                rates = module(*inputs, output_from=n_frames - 1)[:, -1]
            else:
                rates = module(*inputs)[:, -1]
        r = rates.double().cpu().numpy()  # (b, N)
        on = (frames == on_value).reshape(b, -1).astype(np.float64)
        off = (frames == off_value).reshape(b, -1).astype(np.float64)
        if on_sum is None:
            on_sum = np.zeros((r.shape[1], height * width))
            off_sum = np.zeros_like(on_sum)
            total = np.zeros(r.shape[1])
        on_sum += r.T @ on
        off_sum += r.T @ off
        on_count += on.sum(0).reshape(height, width)
        off_count += off.sum(0).reshape(height, width)
        total += r.sum(0)
    mean = (total / n_stimuli)[:, None, None]
    n = on_sum.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        on_rf = np.where(on_count > 0, on_sum.reshape(n, height, width) / on_count - mean, 0.0)
        off_rf = np.where(off_count > 0, off_sum.reshape(n, height, width) / off_count - mean, 0.0)
    return ReceptiveFields(on_rf, off_rf)


def population_rf(rfs) -> np.ndarray:
    """Population receptive field: the mean over neurons of ``|RF|`` normalised to a peak of 1 per neuron.

    Parameters
    ----------
    rfs : array_like, shape (N, H, W)
        E.g. ``map_receptive_fields(...).on``, or ``on - off`` for both polarities.

    Returns
    -------
    ndarray, shape (H, W)
        Neurons with an all-zero field are left out.
    """
    a = np.abs(np.asarray(rfs, dtype=np.float64))
    if a.ndim != 3:
        raise InputError(f"rfs: has shape {a.shape}, expected (N, H, W)")
    peak = a.reshape(len(a), -1).max(1)
    keep = peak > 0
    if not keep.any():
        return np.zeros(a.shape[1:])
    return (a[keep] / peak[keep, None, None]).mean(0)


def rf_centers(rfs, threshold: float = 0.5) -> np.ndarray:
    """Centre (row, column) of every receptive field: centroid of ``|RF|`` over pixels >= ``threshold`` x its peak.

    Parameters
    ----------
    rfs : array_like, shape (N, H, W)
    threshold : float, default 0.5

    Returns
    -------
    ndarray, shape (N, 2)
        Pixel coordinates (row, column); NaN for an all-zero field.
    """
    a = np.abs(np.asarray(rfs, dtype=np.float64))
    if a.ndim != 3:
        raise InputError(f"rfs: has shape {a.shape}, expected (N, H, W)")
    if not (isinstance(threshold, numbers.Real) and 0 <= threshold < 1):
        raise InputError(f"threshold: got {threshold!r}, expected a fraction in [0, 1)")
    n, h, w = a.shape
    peak = a.reshape(n, -1).max(1)[:, None, None]
    weights = np.where((a >= threshold * peak) & (peak > 0), a, 0.0)
    mass = weights.sum((1, 2))
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.stack([(weights * rows).sum((1, 2)) / mass, (weights * cols).sum((1, 2)) / mass], 1)
    centre[mass == 0] = np.nan
    return centre


def _peak_region_centers(maps: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (row, column) of the connected region around each map's peak where it is >= threshold x peak.

    Returns the centres (N, 2), NaN where the peak is not positive, and the peaks (N,).
    """
    from scipy import ndimage

    n, h, w = maps.shape
    rows, cols = np.mgrid[0:h, 0:w]
    centres = np.full((n, 2), np.nan)
    peaks = maps.reshape(n, -1).max(axis=1)
    for i, a in enumerate(maps):
        if not peaks[i] > 0:
            continue
        at = np.unravel_index(int(a.argmax()), a.shape)
        labels, _ = ndimage.label(a >= threshold * peaks[i])
        weight = np.where(labels == labels[at], a, 0.0)
        centres[i] = (weight * rows).sum() / weight.sum(), (weight * cols).sum() / weight.sum()
    return centres, peaks


def on_off_centers(
    on, off, *, threshold: float = 0.5, smooth: float = 1.0, min_snr: float = 6.0
) -> dict[str, np.ndarray]:
    """On and off centre of every neuron's receptive field, with a signal-to-noise test.

    The on centre is where lighting the screen excites the neuron most: each ``on`` map is smoothed
    (Gaussian, ``smooth`` pixels, zero beyond the screen, which damps the noisier edge pixels that
    sparse noise lights less often), and the centre is the centroid of its positive values over the
    connected region around its peak where the map is at least ``threshold`` x the peak. The off
    centre is the same on the ``off`` map (where darkening excites). A centre is reliable when the
    peak is at least ``min_snr`` times the map's noise, estimated robustly as 1.4826 x the median
    absolute deviation of the smoothed map over the screen (most of the screen is outside a receptive
    field).

    Parameters
    ----------
    on, off : array_like, shape (N, H, W)
        Receptive fields (:func:`map_receptive_fields`, or planted filters: pass ``G`` and ``-G``).
    threshold : float, default 0.5
        Fraction of the peak that bounds the region around it.
    smooth : float, default 1.0
        SD in pixels of the Gaussian smoothing before the peak is found; 0 for none.
    min_snr : float, default 6.0
        Peak over noise needed for a reliable centre. Maps of pure Gaussian noise of the Sensorium
        size (36 x 64), smoothed by 1 pixel, reach 4.5 at their 99th percentile.

    Returns
    -------
    dict of ndarray
        ``on_center``, ``off_center`` (N, 2) pixel coordinates (row, column), NaN where the map has no
        positive value; ``on_snr``, ``off_snr`` (N,) peak over noise (inf for a noise-free map);
        ``on_reliable``, ``off_reliable`` (N,) bool.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:20, 0:30]
    >>> blob = lambda r, c: np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / 8.0)
    >>> rf = (blob(6, 10) - blob(12, 20))[None]              # lit excites at (6, 10), dark at (12, 20)
    >>> out = on_off_centers(rf, -rf)
    >>> np.round(out["on_center"], 1).tolist(), np.round(out["off_center"], 1).tolist(), out["on_reliable"].tolist()
    ([[6.0, 10.0]], [[12.0, 20.0]], [True])
    """
    from scipy import ndimage

    on_ = np.asarray(on, dtype=np.float64)
    off_ = np.asarray(off, dtype=np.float64)
    if on_.ndim != 3 or on_.shape != off_.shape:
        raise InputError(f"on, off: got shapes {on_.shape} and {off_.shape}, expected two equal (N, H, W) stacks")
    if not (isinstance(threshold, numbers.Real) and 0 <= threshold < 1):
        raise InputError(f"threshold: got {threshold!r}, expected a fraction in [0, 1)")
    if not (isinstance(smooth, numbers.Real) and smooth >= 0):
        raise InputError(f"smooth: got {smooth!r}, expected a width in pixels >= 0")
    if not (isinstance(min_snr, numbers.Real) and min_snr >= 0):
        raise InputError(f"min_snr: got {min_snr!r}, expected a ratio >= 0")
    out: dict[str, np.ndarray] = {}
    for name, maps in (("on", on_), ("off", off_)):
        if smooth > 0:
            maps = ndimage.gaussian_filter(maps, (0, smooth, smooth), mode="constant")
        centres, peaks = _peak_region_centers(maps, float(threshold))
        flat = maps.reshape(len(maps), -1)
        noise = 1.4826 * np.median(np.abs(flat - np.median(flat, axis=1, keepdims=True)), axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            snr = np.where(noise > 0, peaks / noise, np.where(peaks > 0, np.inf, 0.0))
        out[f"{name}_center"] = centres
        out[f"{name}_snr"] = snr
        out[f"{name}_reliable"] = (snr >= min_snr) & np.isfinite(centres).all(axis=1)
    return out


def center_distribution(centers, frame_shape: tuple[int, int]) -> dict[str, float | int | list[float] | None]:
    """Where a set of receptive-field centres lies on the screen: median, spread and eccentricity.

    Parameters
    ----------
    centers : array_like, shape (n, 2)
        Centres (row, column) in screen pixels, e.g. the reliable ``on_center`` rows of
        :func:`on_off_centers`; rows with NaN are left out.
    frame_shape : (H, W)
        The screen in pixels; eccentricity is the distance from its centre ``((H - 1) / 2, (W - 1) / 2)``.

    Returns
    -------
    dict
        ``n``; ``median_center`` [row, column]; ``spread`` (median distance of the centres from their
        median centre); ``median_eccentricity`` (median distance from the screen centre). All in
        pixels; None when there are no centres.

    Examples
    --------
    >>> out = center_distribution([[5, 10], [5, 14], [9, 10], [9, 14]], (15, 41))  # screen centre (7, 20)
    >>> out["median_center"], round(out["spread"], 3), round(out["median_eccentricity"], 3)
    ([7.0, 12.0], 2.828, 8.261)
    """
    c = np.asarray(centers, dtype=np.float64).reshape(-1, 2)
    c = c[np.isfinite(c).all(axis=1)]
    h, w = (int(v) for v in frame_shape)
    if not len(c):
        return {"n": 0, "median_center": None, "spread": None, "median_eccentricity": None}
    median = np.median(c, axis=0)
    screen = np.array([(h - 1) / 2, (w - 1) / 2])
    return {
        "n": int(len(c)),
        "median_center": [float(v) for v in median],
        "spread": float(np.median(np.hypot(*(c - median).T))),
        "median_eccentricity": float(np.median(np.hypot(*(c - screen).T))),
    }
