"""In-silico receptive-field mapping of encoding models with sparse on/off noise.

:func:`map_receptive_fields` shows an encoding model (any module following
the protocol of :mod:`neurocine.v1.reconstruction`, e.g. a trained
:class:`~neurocine.v1.dnem.DNEMNetwork` or an
:class:`~neurocine.v1.dnem.EnsembleModule`) static frames of random lit and
dark patches and averages its rates by pixel; :func:`population_rf` and
:func:`rf_centers` summarise the fields.
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

__all__ = ["ReceptiveFields", "map_receptive_fields", "population_rf", "rf_centers"]


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
