"""A simulated behaviour + widefield session with planted ground truth (after McCarthy 2019).

:func:`simulate_session` is the built-in data of the encoding pipeline and of
``neurocine demo``: a head-fixed mouse doing a two-stimulus task, filmed by a
face camera and imaged by a widefield camera, with every parameter known.

Face video ``frames`` (T, H, W) uint8
    A real photograph (the dahlia of ``sklearn.datasets.load_sample_images``,
    grayscale, box-resized) with whiskers drawn on a pad, and four moving
    regions: whisker pad (whisking, 8-12 Hz bouts), snout (sniffing, 4-8 Hz
    bouts), jaw (licking, 6-8 Hz, mostly right after each response) and a paw
    (stepping while the mouse runs; it lies outside the named ROIs and only
    reaches the full-frame motion energy). A region moves by local texture
    displacement to first order: with ``d(t, x) = D env(t) sin(theta(t) + phi(x))``
    (a travelling wave, ``env`` the region's latent activity in [0, 1],
    ``theta`` its oscillation phase) the pixel is
    ``bg(x) - d(t, x) * dbg/du(x)`` (``u`` the motion axis; the gradient is
    normalised per region to at most 1 and ``D`` is in grey levels), rounded to
    uint8. Pixels outside the moving regions never change, so the motion
    energy of each ROI tracks ``env`` and is exactly 0 between bouts.

Task and behaviour ``signals`` at the video rate
    Stimulus onsets every ``stimulus_s + U(iti_s)`` seconds, of two balanced
    types (default ``visual``/``auditory``) shown for ``stimulus_s``; a response
    (first lick, on the ``left`` spout for the first type, ``right`` for the
    second; 80 % correct, 10 % wrong, 10 % missed) 0.25-0.65 s after onset; the
    session variables of McCarthy 2019 (last stimulus time/type, last response
    time/response); wheel velocity (smooth running bouts, cm/s); pupil diameter
    (slow, following running, mm); lick contacts; full-frame motion energy.

Widefield movie ``widefield`` (T, h, w) float32, raw fluorescence
    Planted features ``x_f(t)`` (:attr:`Session.features`, in the encoding
    pipeline's names) are turned into regressors by the hemodynamic-like kernel
    ``k`` (:func:`hemodynamic_kernel`, a gamma density peaking at
    ``kernel_peak_s``) and centred::

        c_f(t) = sum_{j=0}^{K-1} k[j] x_f(t - j)        (x_f(t < 0) = 0)
        r_f(t) = c_f(t) - mean_t c_f                      (Session.regressors)
        S(p, t) = sum_f beta_f(p) r_f(t)                  (dF/F units)
        eps(p, t) = noise_std * (G_h Z_t G_w^T)(p)        (Z_t white N(0, 1) on a grid)
        F(p, t) = F0(p) * (1 + S(p, t) + eps(p, t))       (Session.widefield)

    ``G_h``, ``G_w`` are Gaussian interpolation matrices (``noise_sigma``
    pixels, from nodes ``floor(noise_sigma)`` pixels apart) whose rows have
    unit L2 norm, so ``eps`` is spatially correlated with SD
    ``noise_std`` at every pixel and white in time. ``beta_f`` are smooth maps
    (Gaussian blobs at distinct "cortical areas", zero outside ``brain_mask``),
    in dF/F per unit of ``x_f``, scaled so that ``beta_f`` times the SD of
    ``r_f`` peaks at the feature's ``amplitudes`` value. The ``null`` feature
    has a zero map. ``F0`` (:attr:`Session.baseline`) is about 1000 inside the
    brain (smooth structure, a darker midline) and about 100 outside.

Preprocessing and ceiling
    Because the regressors are centred, ``mean_t F = F0 (1 + mean_t eps)``, so
    dF/F with one baseline per pixel, ``dff(widefield, window=T,
    mode="block")`` (i.e. ``F / mean_t F - 1``), is an affine map of each
    pixel: it keeps every per-pixel explained variance and a per-pixel fit of
    it on the regressors recovers ``beta_f`` (up to ``1 + mean_t eps``, about
    1e-3). Sliding dF/F windows high-pass the movie but not the regressors:
    on the default session a split-half least-squares fit on the regressors
    reaches the ceiling (0.31) with the block baseline, 0.29 with a 1800-frame
    (60 s) sliding window, 0.07 with 300 frames and about 0 with ``dff``'s
    default 30 frames. The ceiling is the explained
    variance of the noiseless movie ``F0 (1 + S)``: per pixel
    ``ceiling_ev_map = 1 - var_t(F - F0 (1 + S)) / var_t(F)`` (the definition
    of :func:`neurocine.models.ridge.explained_variance`), and
    ``ceiling_ev`` its mean over ``brain_mask`` pixels. Both are the same on
    the raw movie and on the block dF/F above.

Rebuilding the regressors from the raw parts (what the encoding pipeline does)
    ``stimulus_<type>`` = ``signals["stimulus_type"] == type``; ``whisker_me``,
    ``snout_me``, ``jaw_me`` = :func:`~neurocine.features.motion.motion_energy`
    of ``frames`` on :func:`~neurocine.features.rois.roi_masks` of ``rois``
    (frame 0 = 0; write the video with ``lossless=True`` to keep them exact);
    ``wheel``, ``pupil`` = ``signals``; then
    ``convolve_regressors(x, hemodynamic_kernel(fps, kernel_peak_s,
    kernel_length_s))``. ``full_me`` and the other session variables of McCarthy 2019
    (last stimulus/response time and type) are in ``signals`` but carry no
    signal.

Pure: nothing is written; every array is numpy (write the video with
:func:`neurocine.io.video.write_video`, the rest with ``np.savez``).
"""

from __future__ import annotations

import importlib.util
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.features.motion import MotionFeatures
from neurocine.features.rois import ROI, full_frame_roi, roi_masks
from neurocine.features.timing import convolve_regressors, hemodynamic_kernel

__all__ = ["FEATURE_GROUPS", "Session", "convolve_regressors", "hemodynamic_kernel", "rois_toml", "simulate_session"]

#: Default contribution of each planted feature at the peak of its map: SD over time of ``beta_f * r_f``
#: (dF/F). ``stimulus0``/``stimulus1`` stand for the first and second stimulus type.
DEFAULT_AMPLITUDES = {
    "stimulus0": 0.015,
    "stimulus1": 0.015,
    "whisker_me": 0.02,
    "snout_me": 0.015,
    "jaw_me": 0.015,
    "wheel": 0.02,
    "pupil": 0.01,
    "null": 0.0,
}

#: Group of each planted feature in :meth:`Session.design_matrix` (``stimulus_*`` -> ``"stimulus"``).
FEATURE_GROUPS = {
    "whisker_me": "whisk",
    "snout_me": "snout",
    "jaw_me": "jaw",
    "wheel": "wheel",
    "pupil": "pupil",
    "null": "null",
}

# "Cortical areas" of the beta maps, in fractions of the widefield frame (anterior at the top, midline at
# u = 0.5): (distance of each blob from the midline, row, sigma across, sigma along, bilateral).
_AREAS = {
    "stimulus0": (0.20, 0.82, 0.07, 0.07, True),  # visual cortex (V1)
    "stimulus1": (0.36, 0.60, 0.05, 0.06, True),  # auditory cortex (lateral)
    "whisker_me": (0.28, 0.47, 0.07, 0.07, True),  # barrel cortex
    "snout_me": (0.22, 0.30, 0.05, 0.05, True),  # S1 nose / mouth
    "jaw_me": (0.10, 0.13, 0.06, 0.05, True),  # ALM / orofacial motor cortex
    "wheel": (0.08, 0.42, 0.05, 0.12, True),  # M2 / limb areas (medial)
    "pupil": (0.00, 0.62, 0.30, 0.30, False),  # broad arousal signal, posterior-medial
}

# Moving regions of the face video, (x0, y0, x1, y1) in fractions of the frame, and their motion:
# (displacement amplitude in grey levels, motion axis 0 = rows / 1 = columns).
_REGIONS = {
    "whisker": ((0.40, 0.30, 0.70, 0.60), 35.0, 0),
    "snout": ((0.72, 0.25, 0.92, 0.50), 30.0, 1),
    "jaw": ((0.40, 0.66, 0.68, 0.88), 32.0, 0),
    "paw": ((0.06, 0.62, 0.30, 0.92), 30.0, 1),
}
_NAMED = ("whisker", "snout", "jaw")  # the ROIs returned (plus "full"); the paw is not one

_WAVES = 2  # wavelengths of the travelling wave across each moving region
_CHUNK = 1024  # frames per chunk (video, motion energy, widefield)


# --------------------------------------------------------------------------- public helpers


def rois_toml(rois: Sequence[ROI]) -> str:
    """The ROIs as TOML text that :func:`neurocine.io.rois.read_roi_specs` reads back (boxes and polygons).

    Examples
    --------
    >>> print(rois_toml([ROI("whisker", box=(1, 2, 30, 40))]), end="")
    # x0, y0, x1, y1 in pixels, end exclusive
    [whisker]
    box = [1, 2, 30, 40]
    """
    lines = ["# x0, y0, x1, y1 in pixels, end exclusive"]
    for roi in rois:
        bare = roi.name.isascii() and roi.name.replace("_", "").replace("-", "").isalnum()
        # a quoted key is a TOML basic string: JSON's escapes (\", \\, \n, \uXXXX), UTF-8 text kept as it is
        # (no \u surrogate pairs, which TOML refuses), and DEL escaped, which JSON leaves alone and TOML must not
        quoted = json.dumps(roi.name, ensure_ascii=False).replace("\x7f", "\\u007f")
        lines.append(f"[{roi.name}]" if bare else f"[{quoted}]")
        if roi.box is not None:
            lines.append("box = [" + ", ".join(str(int(v)) for v in roi.box) + "]")
        elif roi.polygon is not None:
            lines.append("polygon = [" + ", ".join(f"[{x!r}, {y!r}]" for x, y in roi.polygon) + "]")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- the session


@dataclass
class Session:
    """A simulated session and its ground truth (see the module docstring for the generative model).

    Attributes
    ----------
    frames : ndarray, shape (T, H, W), uint8
        Face video.
    fps : float
        Frame rate of the face video and of the widefield movie (Hz).
    timestamps : ndarray, shape (T,), float64
        Frame times (s), ``arange(T) / fps``.
    rois : list of ROI
        ``whisker``, ``snout``, ``jaw`` boxes and ``full`` (the whole frame).
    signals : dict of str -> ndarray, shape (T,)
        ``stimulus_onset`` (bool), ``stimulus_on`` (bool), ``stimulus_type``
        (str, ``"none"`` between stimuli), ``last_stimulus_time`` (s since the
        last onset; since the session start before the first one),
        ``last_stimulus_type`` (str, ``"none"`` before the first onset),
        ``response_onset`` (bool, first lick of a response), ``licks`` (bool,
        lick contacts), ``last_response_time`` (s, as ``last_stimulus_time``),
        ``last_response`` (str: ``"none"``, ``"left"``, ``"right"``),
        ``wheel`` (cm/s), ``pupil`` (mm), ``full_me`` (motion energy of the
        whole frame, grey levels; not planted).
    events : dict of str -> ndarray
        Per trial: ``stimulus_onsets`` (s), ``stimulus_types`` (str),
        ``response_times`` (s, NaN when missed), ``responses`` (str,
        ``"none"`` when missed); ``lick_times`` (s).
    latents : dict of str -> ndarray, shape (T,)
        True activity envelope in [0, 1] of each moving region: ``whisker``,
        ``snout``, ``jaw``, ``paw``.
    features : dict of str -> ndarray, shape (T,), float64
        The planted features ``x_f`` before convolution, in order:
        ``stimulus_<type>`` (1 while that stimulus is on), ``whisker_me``,
        ``snout_me``, ``jaw_me`` (motion energy of the ROIs computed from
        ``frames``, frame 0 = 0), ``wheel``, ``pupil``, ``null`` (a smooth random
        signal with a zero beta map).
    regressors : ndarray, shape (T, n_features), float64
        ``r_f``: the features convolved with ``kernel`` and centred, columns
        in the order of ``features``.
    kernel : ndarray, shape (K,)
        Hemodynamic-like kernel, weight of lag ``j / fps`` s (sums to 1).
    beta_maps : dict of str -> ndarray, shape (h, w), float64
        dF/F per unit of each feature; zero outside ``brain_mask``.
    amplitudes : dict of str -> float
        SD over time of ``beta_f * r_f`` at the peak of each map (dF/F).
    widefield : ndarray, shape (T, h, w), float32
        Raw fluorescence ``F``.
    baseline : ndarray, shape (h, w), float64
        ``F0``.
    noise_std : float
        SD of ``eps`` at every pixel (dF/F).
    noise_sigma : float
        Spatial correlation length of ``eps`` (widefield pixels).
    ceiling_ev : float
        Mean of ``ceiling_ev_map`` over ``brain_mask`` pixels.
    ceiling_ev_map : ndarray, shape (h, w), float64
        ``1 - var_t(F - F0 (1 + S)) / var_t(F)`` per pixel (about 0 outside the brain).
    brain_mask : ndarray of bool, shape (h, w)
        The "cortex"; outside it ``F0`` is about 100 and there is no signal.
    background : ndarray, shape (H, W), uint8
        The still face frame (every pixel outside the moving regions, at every frame).
    background_source : str
        Where the photograph came from (``"sklearn:flower.jpg"``, or
        ``"procedural"`` when that file cannot be read).
    seed : int or None
        As given.
    """

    frames: np.ndarray
    fps: float
    timestamps: np.ndarray
    rois: list
    signals: dict
    events: dict
    latents: dict
    features: dict
    regressors: np.ndarray
    kernel: np.ndarray
    beta_maps: dict
    amplitudes: dict
    widefield: np.ndarray
    baseline: np.ndarray
    noise_std: float
    noise_sigma: float
    ceiling_ev: float
    ceiling_ev_map: np.ndarray
    brain_mask: np.ndarray
    background: np.ndarray
    background_source: str
    seed: int | None
    _noise_seed: Any = field(default=None, repr=False)

    @property
    def n_frames(self) -> int:
        """T."""
        return int(self.frames.shape[0])

    @property
    def feature_names(self) -> list[str]:
        """Names of the planted features, in the order of the columns of :attr:`regressors`."""
        return list(self.features)

    @property
    def groups(self) -> dict[str, list[str]]:
        """Group name -> feature names (``stimulus``, ``whisk``, ``snout``, ``jaw``, ``wheel``, ``pupil``, ``null``)."""
        out: dict[str, list[str]] = {}
        for name in self.features:
            out.setdefault(_group_of(name), []).append(name)
        return out

    def beta_matrix(self) -> np.ndarray:
        """The beta maps stacked as ``(n_features, h * w)``, rows in the order of :attr:`features`."""
        return np.stack([self.beta_maps[n].ravel() for n in self.features])

    def signal(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Noiseless signal ``S = sum_f beta_f r_f`` of frames ``start:stop``, shape (n, h, w), float32, dF/F.

        The noiseless movie is ``baseline * (1 + signal())``.
        """
        sl = slice(start, stop)
        h, w = self.baseline.shape
        s = self.regressors[sl] @ self.beta_matrix()
        return s.reshape(len(s), h, w).astype(np.float32)

    def noise(self) -> np.ndarray:
        """The noise ``eps`` (T, h, w), float32, dF/F, regenerated exactly from the session's seed."""
        h, w = self.baseline.shape
        out = np.empty((self.n_frames, h, w), np.float32)
        for a, chunk in _noise_chunks(self._noise_seed, self.n_frames, h, w, self.noise_std, self.noise_sigma):
            out[a : a + len(chunk)] = chunk
        return out

    def design_matrix(self):
        """The planted regressors as a :class:`~neurocine.features.design.DesignMatrix`.

        One column per feature (named as in :attr:`features`, values from
        :attr:`regressors`), grouped as :attr:`groups`, with :attr:`timestamps`.
        """
        from neurocine.features.design import DesignMatrix

        dm = DesignMatrix(self.timestamps)
        for j, name in enumerate(self.features):
            dm.add(name, self.regressors[:, j], group=_group_of(name))
        return dm

    def rois_toml(self) -> str:
        """:attr:`rois` as TOML text (see :func:`rois_toml`)."""
        return rois_toml(self.rois)


def _group_of(name: str) -> str:
    return "stimulus" if name.startswith("stimulus_") else FEATURE_GROUPS.get(name, name)


# --------------------------------------------------------------------------- validation


def _check_real(name: str, value: Any, *, positive: bool = False, minimum: float | None = None) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
    ):
        raise InputError(f"{name}: got {value!r}; expected a finite number")
    v = float(value)
    if positive and v <= 0:
        raise InputError(f"{name}: got {value!r}; expected a number > 0")
    if minimum is not None and v < minimum:
        raise InputError(f"{name}: got {value!r}; expected a number >= {minimum:g}")
    return v


def _check_size(name: str, value: Any, minimum: int) -> tuple[int, int]:
    ok = (
        isinstance(value, (tuple, list))
        and len(value) == 2
        and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value)
    )
    if not ok or min(int(v) for v in value) < minimum:
        raise InputError(f"{name}: got {value!r}; expected two integers (height, width), each >= {minimum}")
    return int(value[0]), int(value[1])


# --------------------------------------------------------------------------- behaviour


def _smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma, mode="nearest") if sigma > 0 else x


def _exp_lowpass(x: np.ndarray, tau_frames: float) -> np.ndarray:
    """First-order low-pass ``y[t] = y[t-1] + (x[t] - y[t-1]) / tau``, started at ``x[0]``."""
    from scipy.signal import lfilter

    a = 1.0 / max(tau_frames, 1.0)
    y, _ = lfilter([a], [1.0, a - 1.0], x, zi=[(1.0 - a) * x[0]])
    return y


def _bouts(
    rng: np.random.Generator,
    n: int,
    fps: float,
    starts_s: np.ndarray,
    dur_s: tuple[float, float],
    amp: tuple[float, float],
    freq_hz: tuple[float, float],
    ramp_s: float = 0.12,
):
    """Envelope in [0, 1] and per-frame oscillation frequency of bouts starting at ``starts_s``.

    Each bout: a plateau of ``U(amp)`` with raised-cosine ramps of ``ramp_s``
    at both ends, lasting ``U(dur_s)``, oscillating at ``U(freq_hz)``.
    Overlapping bouts: the larger envelope wins (and sets the frequency).
    """
    env = np.zeros(n)
    freq = np.full(n, 0.5 * (freq_hz[0] + freq_hz[1]))
    t = np.arange(n) / fps
    durs = rng.uniform(*dur_s, len(starts_s))
    amps = rng.uniform(*amp, len(starts_s))
    freqs = rng.uniform(*freq_hz, len(starts_s))
    for s, d, a, f in zip(starts_s, durs, amps, freqs):
        i0, i1 = max(int(np.floor(s * fps)), 0), min(int(np.ceil((s + d) * fps)) + 1, n)
        if i0 >= i1:
            continue
        tt = t[i0:i1] - s
        ramp = np.clip(np.minimum(tt, d - tt) / ramp_s, 0.0, 1.0)
        e = a * 0.5 * (1.0 - np.cos(np.pi * ramp))
        e[(tt < 0) | (tt > d)] = 0.0
        win = e > env[i0:i1]
        env[i0:i1] = np.where(win, e, env[i0:i1])
        freq[i0:i1] = np.where(win, f, freq[i0:i1])
    return env, freq


def _poisson_times(rng: np.random.Generator, rate_hz: float, duration_s: float) -> np.ndarray:
    return np.sort(rng.uniform(0.0, duration_s, rng.poisson(rate_hz * duration_s)))


def _since(event_frames: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Seconds since the last event at or before each frame (since t[0] before the first), and its index (-1)."""
    marks = np.zeros(len(t), np.int64)
    marks[event_frames] = np.arange(1, len(event_frames) + 1)
    last = np.maximum.accumulate(marks) - 1
    ref = np.where(last >= 0, t[event_frames[np.maximum(last, 0)]] if len(event_frames) else t[0], t[0])
    return t - ref, last


def _task(
    rng: np.random.Generator, n: int, fps: float, types: tuple[str, str], stim_s: float, iti_s: tuple[float, float]
) -> tuple[dict, dict, np.ndarray]:
    duration = n / fps
    starts: list[float] = []
    s = rng.uniform(1.0, 2.0)
    while s + stim_s < duration - 0.5:
        starts.append(s)
        s += stim_s + rng.uniform(*iti_s)
    onsets = np.asarray(starts)
    n_trials = len(onsets)
    type_idx = rng.permutation(np.arange(n_trials) % 2)  # balanced types
    outcome = rng.choice(3, size=n_trials, p=[0.8, 0.1, 0.1])  # correct, wrong, miss
    latency = rng.uniform(0.25, 0.65, n_trials)
    sides = np.array(["left", "right"])
    resp_side = np.where(outcome == 0, sides[type_idx], sides[1 - type_idx])
    resp_time = np.where(outcome == 2, np.nan, onsets + latency)
    resp_time[resp_time >= duration] = np.nan
    responded = np.isfinite(resp_time)
    responses = np.where(responded, resp_side, "none")

    t = np.arange(n) / fps
    on_frames = np.minimum(np.round(onsets * fps).astype(np.int64), n - 1)
    resp_frames = np.minimum(np.round(resp_time[responded] * fps).astype(np.int64), n - 1)
    stim_on = np.zeros(n, bool)
    stim_type = np.full(n, "none", dtype=object)
    for i0, k in zip(on_frames, type_idx):
        i1 = min(i0 + int(round(stim_s * fps)), n)
        stim_on[i0:i1] = True
        stim_type[i0:i1] = types[k]
    onset = np.zeros(n, bool)
    onset[on_frames] = True
    resp_onset = np.zeros(n, bool)
    resp_onset[resp_frames] = True
    since_stim, last_stim = _since(on_frames, t)
    since_resp, last_resp = _since(resp_frames, t)
    type_names = np.array(list(types) + ["none"], dtype=object)
    last_type = type_names[np.where(last_stim >= 0, type_idx[np.maximum(last_stim, 0)] if n_trials else 2, 2)]
    resp_names = np.array(list(responses[responded]) + ["none"], dtype=object)
    last_response = resp_names[np.where(last_resp >= 0, last_resp, len(resp_names) - 1)]
    u = max(len(x) for x in list(types) + ["none", "right"])
    signals = {
        "stimulus_onset": onset,
        "stimulus_on": stim_on,
        "stimulus_type": stim_type.astype(f"<U{u}"),
        "last_stimulus_time": since_stim,
        "last_stimulus_type": last_type.astype(f"<U{u}"),
        "response_onset": resp_onset,
        "last_response_time": since_resp,
        "last_response": last_response.astype("<U5"),
    }
    events = {
        "stimulus_onsets": onsets,
        "stimulus_types": np.array(types)[type_idx] if n_trials else np.zeros(0, f"<U{u}"),
        "response_times": resp_time,
        "responses": responses.astype("<U5"),
    }
    stim_features = np.zeros((n, 2))
    for k in range(2):
        stim_features[:, k] = stim_on & (stim_type == types[k])
    return signals, events, stim_features


def _behaviour(rng: np.random.Generator, n: int, fps: float, response_times: np.ndarray) -> dict:
    duration = n / fps
    # wheel: alternating rest (mean 10 s) and run (3-12 s at 10-30 cm/s) periods, smoothed
    running = np.zeros(n)
    target = np.zeros(n)
    s = rng.exponential(6.0)
    while s < duration:
        d = rng.uniform(3.0, 12.0)
        i0, i1 = int(s * fps), min(int((s + d) * fps), n)
        running[i0:i1] = 1.0
        target[i0:i1] = rng.uniform(10.0, 30.0)
        s += d + rng.exponential(10.0) + 1.0
    speed = _smooth(target, 0.5 * fps)
    jitter = _smooth(rng.standard_normal(n), 0.15 * fps)
    wheel = speed + 0.6 * jitter / max(jitter.std(), 1e-12)
    # pupil: arousal follows running (tau 3 s) plus a slow independent drift (tau ~10 s)
    drift = _smooth(rng.standard_normal(n), 4.0 * fps)
    drift /= max(drift.std(), 1e-12)
    pupil = 1.1 + 0.5 * _exp_lowpass(running, 3.0 * fps) + 0.08 * drift
    # face latents: independent whisking and sniffing bouts; licking after each response (+ rare grooming)
    whisk, f_whisk = _bouts(rng, n, fps, _poisson_times(rng, 0.25, duration), (0.3, 1.5), (0.4, 1.0), (8.0, 12.0))
    snout, f_snout = _bouts(rng, n, fps, _poisson_times(rng, 0.25, duration), (0.3, 1.2), (0.4, 1.0), (4.0, 8.0))
    resp = response_times[np.isfinite(response_times)]
    starts = np.concatenate([resp, _poisson_times(rng, 0.02, duration)])
    is_resp = np.r_[np.ones(len(resp), bool), np.zeros(len(starts) - len(resp), bool)]
    jaw, f_jaw = _bouts(rng, n, fps, starts, (0.6, 1.5), (0.7, 1.0), (6.0, 8.0), ramp_s=0.05)
    # licks: contacts once per licking cycle during response bouts, the first at the response time
    licks = np.zeros(n, bool)
    lick_times = []
    for s0 in starts[is_resp]:
        i = int(round(s0 * fps))
        while i < n and (jaw[i] > 0 or i == int(round(s0 * fps))):
            lick_times.append(i / fps)
            licks[i] = True
            i += max(int(round(fps / f_jaw[i])), 1)
    # paw: stepping at 2 + speed / 10 Hz while running, intensity ~ speed
    paw = np.clip(speed / 25.0, 0.0, 1.0)
    paw[paw < 0.02] = 0.0
    f_paw = 2.0 + speed / 10.0
    null = _smooth(rng.standard_normal(n), 1.0 * fps)
    null /= max(null.std(), 1e-12)
    return {
        "wheel": wheel,
        "pupil": pupil,
        "null": null,
        "licks": licks,
        "lick_times": np.asarray(lick_times),
        "latents": {"whisker": whisk, "snout": snout, "jaw": jaw, "paw": paw},
        "freqs": {"whisker": f_whisk, "snout": f_snout, "jaw": f_jaw, "paw": f_paw},
    }


# --------------------------------------------------------------------------- face video


def _photo(height: int, width: int) -> tuple[np.ndarray, str]:
    """The dahlia photograph of scikit-learn's sample images: grayscale crop of aspect W/H, box-resized."""
    try:
        from PIL import Image

        spec = importlib.util.find_spec("sklearn")
        if spec is None or not spec.submodule_search_locations:
            raise ImportError("scikit-learn is not installed")
        path = Path(spec.submodule_search_locations[0]) / "datasets" / "images" / "flower.jpg"
        with Image.open(path) as im:
            gray = im.convert("L")
            iw, ih = gray.size
            cx, cy = 310.0, 215.0  # the flower's centre
            ch = min(290.0, ih, iw * height / width)
            cw = ch * width / height
            x0 = min(max(cx - cw / 2, 0.0), iw - cw)
            y0 = min(max(cy - ch / 2, 0.0), ih - ch)
            img = gray.resize((width, height), Image.Resampling.BOX, box=(x0, y0, x0 + cw, y0 + ch))
            return np.asarray(img, dtype=np.float64), "sklearn:flower.jpg"
    except Exception:
        rng = np.random.default_rng(12345)
        from scipy.ndimage import gaussian_filter

        img = sum(gaussian_filter(rng.standard_normal((height, width)), s) * s for s in (1.0, 3.0, 8.0))
        return img, "procedural"


def _background(height: int, width: int) -> tuple[np.ndarray, str]:
    img, source = _photo(height, width)
    lo, hi = np.percentile(img, [1, 99])
    bg = 45.0 + 165.0 * (img - lo) / max(hi - lo, 1e-9)
    # whiskers: dark lines fanning back from the snout across the whisker pad
    (fx0, fy0, fx1, fy1), _, _ = _REGIONS["whisker"]
    yy, xx = np.mgrid[:height, :width] + 0.5
    px, py = fx1 * width + 0.08 * width, 0.5 * (fy0 + fy1) * height
    width_px = max(0.6, width / 200.0)
    lines = np.zeros((height, width))
    for ang in np.deg2rad(np.linspace(-30.0, 30.0, 7)):
        dx, dy = -np.cos(ang), np.sin(ang)
        along = (xx - px) * dx + (yy - py) * dy
        across = (xx - px) * dy - (yy - py) * dx
        lines = np.maximum(lines, np.exp(-0.5 * (across / width_px) ** 2) * (along > 0.05 * width))
    inside = (
        (xx >= fx0 * width - 4) & (xx < fx1 * width + 0.08 * width) & (yy >= fy0 * height - 2) & (yy < fy1 * height + 2)
    )
    bg = bg - 25.0 * lines * inside
    return np.clip(bg, 45.0, 210.0), source


def _boxes(height: int, width: int) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for name, ((fx0, fy0, fx1, fy1), _, _) in _REGIONS.items():
        x0, y0 = int(round(fx0 * width)), int(round(fy0 * height))
        x1, y1 = max(int(round(fx1 * width)), x0 + 2), max(int(round(fy1 * height)), y0 + 2)
        out[name] = (x0, y0, x1, y1)
    return out


def _render(bg: np.ndarray, boxes: dict, latents: dict, freqs: dict, fps: float) -> np.ndarray:
    """Frames (T, H, W) uint8: the still background plus first-order displacement of each moving region."""
    n = len(next(iter(latents.values())))
    bg8 = np.rint(bg).astype(np.uint8)
    frames = np.broadcast_to(bg8, (n,) + bg8.shape).copy()
    for name, (x0, y0, x1, y1) in boxes.items():
        _, amp, axis = _REGIONS[name]
        patch = bg[y0:y1, x0:x1]
        grad = np.gradient(patch, axis=axis) if patch.shape[axis] > 1 else np.zeros_like(patch)
        scale = max(float(np.percentile(np.abs(grad), 99)), 1e-9)
        tex = np.clip(grad / scale, -1.0, 1.0)
        # travelling wave: _WAVES wavelengths across the region along the motion axis
        pos = (np.arange(patch.shape[axis]) + 0.5) / patch.shape[axis]
        phi = 2 * np.pi * _WAVES * (pos[:, None] if axis == 0 else pos[None, :]) * np.ones_like(patch)
        spatial = -amp * np.stack([(tex * np.cos(phi)).ravel(), (tex * np.sin(phi)).ravel()])  # (2, P)
        theta = 2 * np.pi * np.cumsum(freqs[name]) / fps
        temporal = latents[name][:, None] * np.stack([np.sin(theta), np.cos(theta)], axis=1)  # (T, 2)
        spatial, temporal = spatial.astype(np.float32), temporal.astype(np.float32)
        flat = patch.ravel().astype(np.float32)
        for a in range(0, n, _CHUNK):
            m = temporal[a : a + _CHUNK] @ spatial
            m += flat
            np.rint(m, out=m)
            np.clip(m, 0, 255, out=m)
            frames[a : a + _CHUNK, y0:y1, x0:x1] = m.reshape(-1, y1 - y0, x1 - x0)
    return frames


def _motion_energy(frames: np.ndarray, rois: list) -> np.ndarray:
    """Motion energy of ``rois`` on ``frames`` (T, n_rois): the streaming twin of ``features.motion.motion_energy``."""
    masks = roi_masks(rois, frames.shape[2], frames.shape[1])
    mf = MotionFeatures(masks, [r.name for r in rois])
    for a in range(0, len(frames), _CHUNK):
        mf.update(frames[a : a + _CHUNK])
    return mf.result().motion_energy


# --------------------------------------------------------------------------- widefield


def _brain(h: int, w: int) -> np.ndarray:
    v, u = (np.mgrid[:h, :w] + 0.5) / np.array([h, w])[:, None, None]
    return (np.abs((u - 0.5) / 0.44) ** 2.4 + np.abs((v - 0.5) / 0.46) ** 2.4) <= 1.0


def _baseline(rng: np.random.Generator, mask: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    h, w = mask.shape
    field_ = gaussian_filter(rng.standard_normal((h, w)), 0.12 * min(h, w), mode="reflect")
    field_ /= max(field_.std(), 1e-12)
    u = (np.arange(w) + 0.5) / w
    midline = 1.0 - 0.3 * np.exp(-0.5 * ((u - 0.5) / 0.02) ** 2)
    inside = 1000.0 * (1.0 + 0.08 * field_) * midline[None, :]
    outside = 100.0 * (1.0 + 0.002 * field_)  # flat and dark: Otsu's threshold separates it cleanly
    return np.where(mask, inside, outside)


def _blob(name: str, h: int, w: int) -> np.ndarray:
    du, v0, su, sv, bilateral = _AREAS[name]
    v, u = (np.mgrid[:h, :w] + 0.5) / np.array([h, w])[:, None, None]
    centres = [0.5 - du, 0.5 + du] if bilateral else [0.5]
    b = sum(np.exp(-0.5 * (((u - c) / su) ** 2 + ((v - v0) / sv) ** 2)) for c in centres)
    return b / b.max()


def _smoothing_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, m) Gaussian interpolation from ``m = ceil(n / k)`` coarse nodes (spacing ``k = max(1, floor(sigma))``).

    Rows have unit L2 norm, so white N(0, 1) noise on the nodes maps to noise
    of unit variance at every pixel, correlated over about ``sigma`` pixels
    (identity when ``sigma < 1``). The coarse nodes keep the number of random
    draws down by ``k^2`` at no visible cost (``k <= sigma``).
    """
    if sigma < 1:
        return np.eye(n, dtype=np.float32)
    k = int(sigma)
    nodes = k * (np.arange(-(-n // k)) + 0.5)
    pix = np.arange(n) + 0.5
    g = np.exp(-0.5 * ((pix[:, None] - nodes[None, :]) / sigma) ** 2)
    return (g / np.linalg.norm(g, axis=1, keepdims=True)).astype(np.float32)


def _noise_chunks(seed_seq: np.random.SeedSequence, n: int, h: int, w: int, std: float, sigma: float):
    """Yield ``(start, eps)`` chunks of the widefield noise, (c, h, w) float32 (deterministic given ``seed_seq``).

    ``eps_t = std * G_h Z_t G_w^T`` with ``Z_t`` white N(0, 1) on the coarse nodes of :func:`_smoothing_matrix`.
    """
    rng = np.random.default_rng(seed_seq)
    gh, gw = _smoothing_matrix(h, sigma), _smoothing_matrix(w, sigma)
    mh, mw = gh.shape[1], gw.shape[1]
    for a in range(0, n, _CHUNK):
        c = min(_CHUNK, n - a)
        z = rng.standard_normal((c, mh, mw), dtype=np.float32)
        z = (z.reshape(c * mh, mw) @ gw.T).reshape(c, mh, w)  # along columns
        z = np.matmul(gh, z)  # along rows
        z *= np.float32(std)
        yield a, z


def _widefield(
    regressors: np.ndarray, betas: np.ndarray, baseline: np.ndarray, seed_seq, noise_std: float, noise_sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """``F = F0 (1 + R B + eps)`` (float32) and the per-pixel ceiling, in chunks.

    The ceiling ``1 - var_t(F0 eps) / var_t(F0 (S + eps))`` is assembled from
    sufficient statistics (``sum eps``, ``sum eps^2``, ``R^T eps`` and the
    covariance of the centred regressors), so no float64 copy of the movie is
    made; it equals the explained variance computed on the stored float32
    movie up to float32 rounding (about 1e-6).
    """
    n = len(regressors)
    h, w = baseline.shape
    p = h * w
    f0 = baseline.ravel().astype(np.float32)
    r32 = regressors.astype(np.float32)
    b32 = betas.astype(np.float32)
    widefield = np.empty((n, h, w), np.float32)
    flat = widefield.reshape(n, p)
    s_e = np.zeros(p)
    ss_e = np.zeros(p)
    re = np.zeros(betas.shape)  # R^T eps, (F, P)
    for a, eps in _noise_chunks(seed_seq, n, h, w, noise_std, noise_sigma):
        c = len(eps)
        e = eps.reshape(c, p)
        out = flat[a : a + c]
        np.matmul(r32[a : a + c], b32, out=out)  # S
        out += e
        out += np.float32(1.0)
        out *= f0
        s_e += e.sum(axis=0, dtype=np.float64)
        ss_e += np.einsum("ij,ij->j", e, e, dtype=np.float64)
        re += r32[a : a + c].T @ e
    mean_e = s_e / n
    var_e = ss_e / n - mean_e**2
    cov_r = regressors.T @ regressors / n  # regressors are centred
    var_s = np.einsum("fp,fg,gp->p", betas, cov_r, betas)
    cov_se = np.einsum("fp,fp->p", betas, re / n)  # mean_t S = 0
    var_y = var_s + 2.0 * cov_se + var_e
    ceiling = np.where(var_y > 0, 1.0 - var_e / np.where(var_y > 0, var_y, 1.0), 0.0)
    return widefield, ceiling.reshape(h, w)


# --------------------------------------------------------------------------- entry point


def simulate_session(
    duration_s: float = 240.0,
    fps: float = 30.0,
    seed: int | None = 0,
    video_size: tuple[int, int] = (120, 160),
    widefield_size: tuple[int, int] = (64, 64),
    *,
    noise_std: float = 0.015,
    noise_sigma: float = 2.0,
    stimulus_types: Sequence[str] = ("visual", "auditory"),
    stimulus_s: float = 1.0,
    iti_s: tuple[float, float] = (2.0, 5.0),
    amplitudes: Mapping[str, float] | None = None,
    kernel_peak_s: float = 1.0,
    kernel_length_s: float = 5.0,
) -> Session:
    """Simulate a face video, task signals and a widefield movie with known beta maps.

    The generative model, the planted features and the ceiling are described
    in the module docstring (:mod:`neurocine.encode.simulate`).

    Parameters
    ----------
    duration_s : float, default 240
        Session length (s); at least 10 s and twice the kernel length.
        ``T = round(duration_s * fps)`` frames.
    fps : float, default 30
        Frame rate of both cameras (Hz), 24-240 (whisking reaches 12 Hz).
    seed : int or None, default 0
        Same seed, same arrays; None draws fresh entropy (still reproducible
        within the session: :meth:`Session.noise` regenerates the noise).
    video_size : (int, int), default (120, 160)
        Face video (height, width), each >= 32.
    widefield_size : (int, int), default (64, 64)
        Widefield movie (height, width), each >= 16.
    noise_std : float, default 0.015
        SD of the widefield noise at every pixel (dF/F), > 0.
    noise_sigma : float, default 2.0
        Spatial correlation length of the noise (widefield pixels), >= 0.
    stimulus_types : two distinct str, default ("visual", "auditory")
        Feature names ``stimulus_<type>``; the first maps onto the visual
        cortex and is answered on the left spout, the second onto the
        auditory cortex and the right spout.
    stimulus_s : float, default 1.0
        Duration of each stimulus (s).
    iti_s : (float, float), default (2, 5)
        Range of the uniform gap between the end of a stimulus and the next onset (s).
    amplitudes : mapping of str -> float, optional
        Override the peak contribution (SD of ``beta_f r_f``, dF/F, >= 0) of
        some features, by feature name (``stimulus_<type>``, ``whisker_me``,
        ``snout_me``, ``jaw_me``, ``wheel``, ``pupil``). Defaults: stimuli
        0.015, whisker 0.02, snout 0.015, jaw 0.015, wheel 0.02, pupil 0.01.
    kernel_peak_s, kernel_length_s : float, default 1.0 and 5.0
        The hemodynamic-like kernel (:func:`hemodynamic_kernel`).

    Returns
    -------
    Session

    Raises
    ------
    InputError
        A bad argument (one line naming it).

    Notes
    -----
    Defaults (240 s, 7200 frames): 138 MB of video and 118 MB of widefield;
    overall ceiling about 0.30.

    Examples
    --------
    >>> s = simulate_session(duration_s=12, video_size=(48, 64), widefield_size=(16, 16))
    >>> s.frames.shape, s.widefield.shape, s.feature_names[:3]
    ((360, 48, 64), (360, 16, 16), ['stimulus_visual', 'stimulus_auditory', 'whisker_me'])
    """
    fps = _check_real("fps", fps)
    if not 24.0 <= fps <= 240.0:
        raise InputError(f"fps: got {fps!r}; expected a frame rate between 24 and 240 Hz")
    duration_s = _check_real("duration_s", duration_s)
    kernel = hemodynamic_kernel(fps, kernel_peak_s, kernel_length_s)
    min_duration = max(10.0, 2.0 * kernel_length_s)
    if duration_s < min_duration:
        raise InputError(f"duration_s: got {duration_s!r}; expected at least {min_duration:g} s")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InputError(f"seed: got {seed!r}; expected a non-negative integer or None")
    vh, vw = _check_size("video_size", video_size, 32)
    wh, ww = _check_size("widefield_size", widefield_size, 16)
    noise_std = _check_real("noise_std", noise_std, positive=True)
    noise_sigma = _check_real("noise_sigma", noise_sigma, minimum=0.0)
    stimulus_s = _check_real("stimulus_s", stimulus_s, positive=True)
    if not (isinstance(iti_s, (tuple, list)) and len(iti_s) == 2):
        raise InputError(f"iti_s: got {iti_s!r}; expected (low, high) seconds")
    iti = (_check_real("iti_s", iti_s[0], minimum=0.0), _check_real("iti_s", iti_s[1], minimum=0.0))
    if iti[1] < iti[0]:
        raise InputError(f"iti_s: got {iti_s!r}; expected low <= high")
    types = tuple(stimulus_types) if isinstance(stimulus_types, (tuple, list)) else ()
    if (
        len(types) != 2
        or not all(isinstance(x, str) and x.isidentifier() for x in types)
        or types[0] == types[1]
        or "none" in types
    ):
        raise InputError(
            f"stimulus_types: got {stimulus_types!r}; expected two distinct identifier names "
            f"(not 'none'), e.g. ('visual', 'auditory')"
        )
    names = [
        f"stimulus_{types[0]}",
        f"stimulus_{types[1]}",
        "whisker_me",
        "snout_me",
        "jaw_me",
        "wheel",
        "pupil",
        "null",
    ]
    amp = {n: DEFAULT_AMPLITUDES[k] for n, k in zip(names, ["stimulus0", "stimulus1"] + names[2:])}
    for k, v in dict(amplitudes or {}).items():
        if k not in amp or k == "null":
            raise InputError(f"amplitudes: unknown feature {k!r}; expected some of {names[:-1]}")
        amp[k] = _check_real(f"amplitudes[{k!r}]", v, minimum=0.0)

    n = int(round(duration_s * fps))
    t = np.arange(n) / fps
    root = np.random.SeedSequence(seed)
    ss_task, ss_behaviour, ss_maps, ss_noise = root.spawn(4)

    # task and behaviour
    signals, events, stim_features = _task(np.random.default_rng(ss_task), n, fps, types, stimulus_s, iti)
    beh = _behaviour(np.random.default_rng(ss_behaviour), n, fps, events["response_times"])
    signals["licks"] = beh["licks"]
    signals["wheel"] = beh["wheel"]
    signals["pupil"] = beh["pupil"]
    events["lick_times"] = beh["lick_times"]

    # face video and its motion energy
    bg, source = _background(vh, vw)
    boxes = _boxes(vh, vw)
    frames = _render(bg, boxes, beh["latents"], beh["freqs"], fps)
    rois = [ROI(name, box=boxes[name]) for name in _NAMED] + [full_frame_roi(vw, vh)]
    me = _motion_energy(frames, rois)
    signals["full_me"] = me[:, 3].copy()

    features = {
        names[0]: stim_features[:, 0],
        names[1]: stim_features[:, 1],
        "whisker_me": me[:, 0].copy(),
        "snout_me": me[:, 1].copy(),
        "jaw_me": me[:, 2].copy(),
        "wheel": beh["wheel"].copy(),
        "pupil": beh["pupil"].copy(),
        "null": beh["null"],
    }
    regressors = convolve_regressors(np.stack(list(features.values()), axis=1), kernel)

    # widefield: maps, baseline, movie and ceiling
    mask = _brain(wh, ww)
    baseline = _baseline(np.random.default_rng(ss_maps), mask)
    sd = regressors.std(axis=0)
    beta_maps = {}
    for j, name in enumerate(names):
        if name == "null" or amp[name] == 0.0:
            beta_maps[name] = np.zeros((wh, ww))
            continue
        area = ["stimulus0", "stimulus1"][j] if j < 2 else name
        beta_maps[name] = amp[name] * _blob(area, wh, ww) * mask / (sd[j] if sd[j] > 0 else 1.0)
    betas = np.stack([beta_maps[k].ravel() for k in names])  # (F, P)
    widefield, ceiling_map = _widefield(regressors, betas, baseline, ss_noise, noise_std, noise_sigma)

    return Session(
        frames=frames,
        fps=fps,
        timestamps=t,
        rois=rois,
        signals=signals,
        events=events,
        latents=beh["latents"],
        features=features,
        regressors=regressors,
        kernel=kernel,
        beta_maps=beta_maps,
        amplitudes=amp,
        widefield=widefield,
        baseline=baseline,
        noise_std=noise_std,
        noise_sigma=noise_sigma,
        ceiling_ev=float(ceiling_map[mask].mean()),
        ceiling_ev_map=ceiling_map,
        brain_mask=mask,
        background=np.rint(bg).astype(np.uint8),
        background_source=source,
        seed=None if seed is None else int(seed),
        _noise_seed=ss_noise,
    )
