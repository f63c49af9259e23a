r"""A simulated mouse V1 recorded with natural movies, written as a Sensorium 2023 mouse folder.

:class:`V1Population` is a population of linear-nonlinear-Poisson neurons with known receptive fields;
:func:`simulate_v1` shows it natural clips (:mod:`neurocine.stimuli`) while a simulated mouse
runs, dilates its pupil and moves its eye (:func:`simulate_behavior`), and writes everything in the
layout of :mod:`neurocine.io.sensorium`, plus the ground truth. The same population, as a torch module
(:meth:`V1Population.torch_module`), follows the package's encoding-model protocol, so reconstruction
code can be tested against the true model and the simulator gives the ceiling of any encoding model.

Generative model
    Units: video ``V(t, y, x)`` in grey levels 0-255 at 30 Hz (``H x W = 36 x 64``), behaviour
    ``[p(t), v(t)]`` (pupil dilation in eye-camera pixels, running speed in cm/s), eye position
    ``e(t) = [e_x, e_y]`` (pupil centre, eye-camera pixels). For neuron ``n`` at frame ``t``::

        X(t, u)   = (V(t, u + D (e(t) - e_0)) - L) / C                     eye-shifted, normalised frame
        P_k(t)    = sum_u G_k(u) X(t, u)                                   spatial filters (Gabors)
        Q_k(t)    = sum_{j=0}^{J-1} h_n[j] P_k(t - j)                      temporal filter (P(t<0) = P(0))
        d_n(t)    = Q_n(t)                                  simple cell
                  = sqrt(Q_n(t)^2 + Q_n'(t)^2 + eps^2)      complex cell (quadrature pair n, n')
        z_n(t)    = (d_n(t) - mu_n) / s_n                                  calibrated drive
        g_n(t)    = exp(a_n tanh(v(t) / v_0) + b_n (p(t) - p_0) / p_s)     behavioural gain
        lambda_n(t) = rho_n g_n(t) [S_n(kappa_n (z_n(t) - theta_n)) + beta_n]     rate (counts / frame)
        S_n(x)    = m_n softplus(x) / (m_n + softplus(x))                  saturating softplus, < m_n
        r_n(t)    ~ Poisson(lambda_n(t))                                   responses

    * ``L = 128``, ``C = 64`` (grey level and contrast scale); pixels sampled outside the screen are
      grey (``X = 0``). ``u = (x, y)``; sampling ``V`` at ``u + D (e - e_0)`` with bilinear interpolation
      is the same as moving every receptive field by ``D (e - e_0)`` screen pixels: the RFs follow the
      eye (``D = eye_shift``, default 0.25 screen pixels per eye-camera pixel, ``e_0 = pupil_ref``).
    * ``G_k`` are Gabor functions with zero mean and unit L2 norm: centre ``(x_n, y_n)``, envelope SD
      ``sigma_n`` across and ``aspect_n * sigma_n`` along the bars, orientation ``phi_n`` (of the wave
      vector), spatial frequency ``f_n`` (cycles/pixel), phase ``psi_n``; a complex cell adds the
      quadrature Gabor (phase ``psi_n + pi/2``). Centres are uniform in an ellipse over the
      central-left part of the screen (``rf_region``: by default x within 10-70 % and y within 10-90 %
      of the screen), like the retinotopic patch of one two-photon field of view.
    * ``h_n`` (``J = 10`` frames, 333 ms) is a difference of gamma functions sampled at
      ``tau_j = (j + 1/2) / 30`` s: ``h(tau) = gamma3(tau; tau_1) - c_n gamma3(tau; tau_2)``,
      ``gamma3(tau; T) = tau^3 exp(-tau / T) / (6 T^4)``, peak ``3 tau_1`` = 45-100 ms, a negative lobe
      with ``tau_2 = 1.5-2 tau_1`` and biphasic index ``c_n`` in [0, 0.9] (sustained to transient), scaled
      to unit L2 norm.
    * ``mu_n``, ``s_n`` (mean and SD of the drive) and ``rho_n`` are **calibrated** on training clips with
      their behaviour (:meth:`V1Population.calibrate`): with ``f = g [S(...) + beta]``, a Poisson
      neuron's correlation between rate and response is ``sqrt(rho var f / (rho var f + E f))``, so
      ``rho_n = c_n^2 E f / ((1 - c_n^2) var f)`` gives it the **target ceiling** ``c_n`` (drawn from a
      Beta distribution of mean ``ceiling``, default 0.3, concentration 8), clipped so that the mean rate
      stays within 0.01-1 counts per frame (0.3-30 Hz) and the peak rate at unit gain,
      ``rho_n (m_n + beta_n)``, below 5 counts per frame (150 Hz). The saturation ``m_n`` (3-6 drive units)
      keeps the rates of neurons driven by rare high-contrast edges realistic.

    The rates are strictly positive (``rho, g, beta > 0``) and causal (frame ``t`` depends on frames
    ``<= t``).

Behaviour (:func:`simulate_behavior`)
    Running alternates rest and run bouts (a two-state Markov chain, mean bouts 8 s at rest and 5 s
    running), bout speeds 8-35 cm/s with slow fluctuations, smoothed by a 0.3 s exponential filter plus
    0.3 cm/s measurement noise. Pupil dilation = a per-trial baseline (12-18 px) + 0.25 px per cm/s of
    running low-passed with 1.5 s + a slow arousal process (Ornstein-Uhlenbeck, 3 s, SD 1.5 px). The pupil
    centre relaxes (2 s) towards a per-trial fixation point near ``pupil_ref`` with 0.15 px/frame jitter
    and makes saccades (0.3 /s at rest, 1 /s running; mostly horizontal, SD 8 px horizontally, 3 px
    vertically).

Simulated mouse (:func:`simulate_v1`)
    Tiers like the competition data: ``train`` (unique clips from the training sources), ``oracle``
    (validation: clips from the training sources, each shown ``oracle_repeats`` times) and
    ``final_test_main`` (clips from held-out sources, :data:`~neurocine.stimuli.DEFAULT_TEST_SOURCES`,
    each shown ``test_repeats`` times); every presentation has its own behaviour and Poisson noise.
    Trials are stored in a shuffled order. Videos are quantised to 8 bits (``uint8`` files), responses
    stored as float16 counts. Ground truth under ``meta/simulation/``: ``population.npz``
    (:meth:`V1Population.save`), ``true_rates/<trial>.npy`` (``(N, T)`` float16, oracle and test trials),
    ``trial_sources.npy``, ``clips.json`` (source and crop of every unique clip) and ``summary.json``.

Release-like folder (``release_like=True``)
    The same mouse written like the Sensorium 2023 competition release, to exercise the readers: responses
    stored as float32 with small negative values (Gaussian noise, SD ``RELEASE_NOISE_SD``, added to the
    counts, as deconvolved traces dip below zero), every file NaN-padded to 300 frames, tiers stored as
    ``<U16`` strings, the ``final_test_main`` responses withheld (stored as zeros; the ceiling is still
    measured on the responses before they were withheld), a 3-frame NaN gap (an eye-tracking dropout) in
    the pupil centre of the first training trial, and per-mouse statistics over the train tier.

Ceiling
    ``ceiling_correlation`` is the Sensorium single-trial metric applied to the true rates: per neuron the
    Pearson correlation between ``lambda_n`` and ``r_n`` over the frames ``>= 50`` of all test trials
    concatenated, averaged over neurons (:func:`ceiling_correlation`). Since ``lambda`` is the expected
    response given the stimulus and the behaviour, no prediction ``f`` from those inputs beats it in
    expectation (``cov(f, r) = cov(f, lambda)``, so by Cauchy-Schwarz ``corr(f, r) <= sd(lambda) / sd(r)``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from neurocine import stimuli as _stimuli
from neurocine.errors import InputError
from neurocine.io._atomic import temporary_folder
from neurocine.validation import check_int

__all__ = ["HARD", "V1Population", "ceiling_correlation", "repeat_properties", "simulate_behavior", "simulate_v1"]

_LUMINANCE = 128.0
_CONTRAST = 64.0
_EPS = 1e-3  # complex-cell amplitude floor (normalised drive units before calibration)
_N_TAPS = 10  # temporal filter length (frames)
_MEAN_RATE_RANGE = (0.01, 1.0)  # counts per frame
_PEAK_RATE = 5.0  # counts per frame at unit gain
_UNRESPONSIVE_RATE = 0.1  # counts per frame (3 Hz) of neurons without stimulus drive
_IMAGING_PAD = 15  # frames simulated before a trial for the imaging model (4 imaging frames at 8 Hz)
_HARD_FIELDS = (
    "direction_selective",
    "temporal_odd",
    "surround",
    "surround_sigma",
    "responsive",
    "latent_loadings",
    "calcium_tau",
    "imaging_noise",
    "imaging_rate",
    "latent_tau",
)
#: Population options of the default (hard) simulated mouse (:meth:`V1Population.random`); ``easy`` uses none.
HARD: dict[str, Any] = {
    "direction_fraction": 0.15,
    "surround_fraction": 0.3,
    "unresponsive_fraction": 0.1,
    "n_factors": 3,
    "imaging_rate": 8.0,
}
#: SD of the Gaussian noise added to the counts of a release-like folder (negative values appear).
RELEASE_NOISE_SD = 0.05
#: Tiers whose responses a release-like folder withholds (stored as zeros).
RELEASE_WITHHELD = ("final_test_main",)


# --------------------------------------------------------------------------- behaviour


def _ou(n: int, tau: float, sd: float, rng: np.random.Generator, fps: float) -> np.ndarray:
    """Ornstein-Uhlenbeck process with time constant ``tau`` s and stationary SD ``sd``, started stationary."""
    a = math.exp(-1.0 / (tau * fps))
    out = np.empty(n)
    x = rng.normal(0, sd)
    noise = rng.normal(0, sd * math.sqrt(1 - a * a), n)
    for t in range(n):
        x = a * x + noise[t] if t else x
        out[t] = x
    return out


def _lowpass(x: np.ndarray, tau: float, fps: float, x0: float | None = None) -> np.ndarray:
    a = math.exp(-1.0 / (tau * fps))
    out = np.empty_like(x, dtype=float)
    y = x[0] if x0 is None else x0
    for t in range(len(x)):
        y = a * y + (1 - a) * x[t]
        out[t] = y
    return out


def simulate_behavior(
    n_frames: int, rng: Any = 0, *, fps: float = 30.0, pupil_ref: tuple[float, float] = (160.0, 120.0)
) -> tuple[np.ndarray, np.ndarray]:
    """Running, pupil dilation and eye position of one trial (see the module notes).

    Parameters
    ----------
    n_frames : int
    rng : numpy Generator or int seed
    fps : float, default 30
    pupil_ref : (x, y), default (160, 120)
        Mean eye position (eye-camera pixels).

    Returns
    -------
    behavior : ndarray, shape (T, 2), float32
        ``[pupil dilation (eye-camera pixels), running speed (cm/s)]``.
    pupil_center : ndarray, shape (T, 2), float32
        ``[x, y]`` eye-camera pixels.
    """
    n = check_int("n_frames", n_frames)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    # running: two-state Markov chain (rest <-> run)
    p_on, p_off = 1.0 / (8.0 * fps), 1.0 / (5.0 * fps)
    running = rng.uniform() < p_on / (p_on + p_off)
    bout = rng.uniform(8, 35)
    target = np.empty(n)
    for t in range(n):
        if running and rng.uniform() < p_off:
            running = False
        elif not running and rng.uniform() < p_on:
            running, bout = True, rng.uniform(8, 35)
        target[t] = bout if running else 0.0
    fluct = np.exp(_ou(n, 1.0, 0.15, rng, fps))
    speed = _lowpass(target * fluct, 0.3, fps) + rng.normal(0, 0.3, n)
    # pupil dilation follows running, plus slow arousal
    pupil = rng.uniform(12, 18) + 0.25 * _lowpass(np.maximum(speed, 0), 1.5, fps) + _ou(n, 3.0, 1.5, rng, fps)
    pupil = np.maximum(pupil, 3.0)
    # eye position: relaxation to a fixation point, jitter, saccades
    fix = np.asarray(pupil_ref, dtype=float) + rng.normal(0, [4.0, 2.0])
    pos = fix + rng.normal(0, [3.0, 1.5])
    centre = np.empty((n, 2))
    relax = 1.0 / (2.0 * fps)
    for t in range(n):
        if t:
            pos = pos + (fix - pos) * relax + rng.normal(0, 0.15, 2)
            rate = (1.0 if target[t] > 0 else 0.3) / fps
            if rng.uniform() < rate:
                pos = pos + rng.normal(0, [8.0, 3.0])
        centre[t] = pos
    behavior = np.stack([pupil, speed], axis=1).astype(np.float32)
    return behavior, centre.astype(np.float32)


# --------------------------------------------------------------------------- population


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _temporal_filters(tau1: np.ndarray, tau2_ratio: np.ndarray, biphasic: np.ndarray, fps: float) -> np.ndarray:
    tau = (np.arange(_N_TAPS) + 0.5) / fps

    def gamma3(T):
        return tau[None] ** 3 * np.exp(-tau[None] / T[:, None]) / (6 * T[:, None] ** 4)

    h = gamma3(tau1) - biphasic[:, None] * gamma3(tau1 * tau2_ratio)
    return (h / np.linalg.norm(h, axis=1, keepdims=True)).astype(np.float32)


def _shift_frames(x: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``out[t, y, x] = x[t, y + dy_t, x + dx_t]`` bilinear, zeros outside (``shift[t] = [dx, dy]``)."""
    if not np.any(shift):
        return x
    t_len, h, w = x.shape
    m = int(np.ceil(np.abs(shift).max())) + 2
    pad = np.zeros((h + 2 * m, w + 2 * m), dtype=x.dtype)
    out = np.empty_like(x)
    for t in range(t_len):
        dx, dy = float(shift[t, 0]), float(shift[t, 1])
        ix, iy = math.floor(dx), math.floor(dy)
        fx, fy = dx - ix, dy - iy
        pad[m : m + h, m : m + w] = x[t]

        def s(a, b, ix=ix, iy=iy):
            return pad[m + iy + a : m + iy + a + h, m + ix + b : m + ix + b + w]

        out[t] = (1 - fy) * ((1 - fx) * s(0, 0) + fx * s(0, 1)) + fy * ((1 - fx) * s(1, 0) + fx * s(1, 1))
    return out


def _imaging_maps(n_frames: int, fps: float, rate: float) -> tuple[np.ndarray, np.ndarray]:
    """(bins (K, T + pad), interpolation (T, K)) of the imaging model; see the module notes.

    ``bins`` sums the 30 Hz frames (the ``_IMAGING_PAD`` frames before the trial first) into imaging frames
    of ``fps / rate`` frames; imaging frame ``k`` is read out at the end of imaging frame ``k + 1`` and the
    readouts are linearly interpolated at the end of every 30 Hz frame of the trial (held before the first
    and after the last), so a response depends on earlier spikes only. ``bins`` rows are divided by their
    number of frames (3 or 4 at 8 Hz): responses are in counts per 30 Hz frame.
    """
    step = fps / rate
    total = n_frames + _IMAGING_PAD
    frame_bin = np.floor(np.arange(total) / step + 1e-9).astype(int)
    n_bins = int(frame_bin[-1]) + 1
    bins = np.zeros((n_bins, total))
    bins[frame_bin, np.arange(total)] = 1.0
    ready = (np.arange(n_bins) + 2) * step
    pos = np.interp(np.arange(_IMAGING_PAD, total) + 1.0, ready, np.arange(n_bins, dtype=float))
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, n_bins - 1)
    w = pos - lo
    interp = np.zeros((n_frames, n_bins))
    np.add.at(interp, (np.arange(n_frames), lo), 1.0 - w)
    np.add.at(interp, (np.arange(n_frames), hi), w)
    return bins / bins.sum(axis=1, keepdims=True), interp


@dataclass(eq=False)
class V1Population:
    """Ground-truth LNP population (parameters as numpy arrays; the model is in the module docstring).

    Build one with :meth:`random`, calibrate it with :meth:`calibrate`, evaluate it with :meth:`rates`
    (numpy) or :meth:`torch_module` (differentiable), store it with :meth:`save` / :meth:`load`.

    Attributes (per neuron, shape (N,))
    -----------------------------------
    x, y : RF centre (screen pixels, column and row)
    sigma : envelope SD across the bars (pixels); aspect : elongation along the bars (>= 1)
    orientation : wave-vector angle (radians, 0 = vertical bars); sf : cycles/pixel; phase : radians
    is_complex : bool, complex cell (quadrature energy) or simple cell
    temporal : shape (N, 10), temporal filter taps, lag 0 first
    run_gain (a_n), pupil_gain (b_n) : behavioural gain exponents
    kappa, theta, beta, saturation : nonlinearity slope, threshold (drive SD units), spontaneous level
    and saturation m_n
    target_ceiling : c_n; drive_mean (mu_n), drive_std (s_n), rho : set by :meth:`calibrate`

    Global: frame_shape (H, W), eye_shift (2, 2) screen pixels per eye-camera pixel, pupil_ref (2,),
    running_scale v_0 (cm/s), pupil_mean p_0 and pupil_scale p_s (eye-camera pixels), fps.

    Examples
    --------
    >>> pop = V1Population.random(100, rng=0)
    >>> video = np.full((40, 36, 64), 128.0, dtype=np.float32)
    >>> beh = np.tile([15.0, 0.0], (40, 1)); eye = np.tile(pop.pupil_ref, (40, 1))
    >>> pop.calibrate([video + np.random.default_rng(1).normal(0, 40, video.shape)], [beh], [eye])
    >>> pop.rates(video, beh, eye).shape
    (40, 100)
    """

    x: np.ndarray
    y: np.ndarray
    sigma: np.ndarray
    aspect: np.ndarray
    orientation: np.ndarray
    sf: np.ndarray
    phase: np.ndarray
    is_complex: np.ndarray
    temporal: np.ndarray
    run_gain: np.ndarray
    pupil_gain: np.ndarray
    kappa: np.ndarray
    theta: np.ndarray
    beta: np.ndarray
    saturation: np.ndarray
    target_ceiling: np.ndarray
    drive_mean: np.ndarray
    drive_std: np.ndarray
    rho: np.ndarray
    direction_selective: np.ndarray = None  # type: ignore[assignment]
    temporal_odd: np.ndarray = None  # type: ignore[assignment]
    surround: np.ndarray = None  # type: ignore[assignment]
    surround_sigma: np.ndarray = None  # type: ignore[assignment]
    responsive: np.ndarray = None  # type: ignore[assignment]
    latent_loadings: np.ndarray = None  # type: ignore[assignment]
    calcium_tau: np.ndarray = None  # type: ignore[assignment]
    imaging_noise: np.ndarray = None  # type: ignore[assignment]
    imaging_rate: float = 0.0
    latent_tau: float = 2.0
    frame_shape: tuple = (36, 64)
    eye_shift: np.ndarray = None  # type: ignore[assignment]
    pupil_ref: np.ndarray = None  # type: ignore[assignment]
    running_scale: float = 10.0
    pupil_mean: float = 18.0
    pupil_scale: float = 4.0
    fps: float = 30.0
    calibrated: bool = False

    def __post_init__(self) -> None:
        if self.eye_shift is None:
            self.eye_shift = 0.25 * np.eye(2)
        if self.pupil_ref is None:
            self.pupil_ref = np.array([160.0, 120.0])
        self.eye_shift = np.asarray(self.eye_shift, dtype=np.float64).reshape(2, 2)
        self.pupil_ref = np.asarray(self.pupil_ref, dtype=np.float64).reshape(2)
        self.frame_shape = tuple(int(v) for v in self.frame_shape)
        self.is_complex = np.asarray(self.is_complex, dtype=bool)
        n = self.n_neurons
        defaults = {
            "direction_selective": np.zeros(n, bool),
            "temporal_odd": np.zeros((n, _N_TAPS)),
            "surround": np.zeros(n),
            "surround_sigma": 3.0 * np.asarray(self.sigma, float),
            "responsive": np.ones(n, bool),
            "latent_loadings": np.zeros((n, 0)),
            "calcium_tau": np.full(n, 0.5),
            "imaging_noise": np.zeros(n),
        }
        for name, value in defaults.items():
            if getattr(self, name) is None:
                setattr(self, name, value)
        self.direction_selective = np.asarray(self.direction_selective, dtype=bool)
        self.responsive = np.asarray(self.responsive, dtype=bool)
        self.latent_loadings = np.asarray(self.latent_loadings, dtype=np.float64).reshape(n, -1)
        self.imaging_rate = float(self.imaging_rate)
        self._bank_cache: np.ndarray | None = None
        self._surround_cache: np.ndarray | None = None

    # ------------------------------------------------------------------ construction
    @classmethod
    def random(
        cls,
        n_neurons: int = 8000,
        rng: Any = 0,
        *,
        frame_shape: tuple[int, int] = (36, 64),
        complex_fraction: float = 0.4,
        rf_region: tuple[float, float, float, float] = (0.4, 0.5, 0.3, 0.4),
        ceiling: float = 0.3,
        ceiling_concentration: float = 8.0,
        eye_shift: float = 0.25,
        pupil_ref: tuple[float, float] = (160.0, 120.0),
        direction_fraction: float = 0.0,
        surround_fraction: float = 0.0,
        unresponsive_fraction: float = 0.0,
        n_factors: int = 0,
        imaging_rate: float = 0.0,
    ) -> V1Population:
        """Draw a population (uncalibrated: call :meth:`calibrate` before :meth:`rates`).

        Parameters
        ----------
        n_neurons : int, default 8000
        rng : numpy Generator or int seed
        frame_shape : (H, W), default (36, 64)
        complex_fraction : float, default 0.4
            Fraction of complex cells.
        rf_region : (cx, cy, rx, ry), default (0.4, 0.5, 0.3, 0.4)
            Ellipse holding the RF centres: centre and semi-axes in fractions of W (x) and H (y).
        ceiling, ceiling_concentration : float, default 0.3 and 8
            Mean and concentration of the Beta distribution of per-neuron target ceilings ``c_n``.
        eye_shift : float, default 0.25
            Screen pixels the RFs move per eye-camera pixel of pupil centre.
        pupil_ref : (x, y), default (160, 120)
            Eye position at which RFs sit at ``(x_n, y_n)``.
        direction_fraction : float, default 0
            Fraction of the simple cells made direction selective (a space-time oriented filter).
        surround_fraction : float, default 0
            Fraction of the neurons with divisive surround suppression.
        unresponsive_fraction : float, default 0
            Fraction of neurons with no stimulus drive (behaviour and shared gain only).
        n_factors : int, default 0
            Shared latent gain factors (unobserved); 0 for independent neurons.
        imaging_rate : float, default 0
            Two-photon frame rate in Hz of the calcium-imaging observation; 0 for Poisson counts.
            :data:`HARD` holds the values of the default (hard) simulated mouse.
        """
        n = check_int("n_neurons", n_neurons)
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        h, w = (int(v) for v in frame_shape)
        if not 0 <= complex_fraction <= 1:
            raise InputError(f"complex_fraction: got {complex_fraction!r}; expected a fraction in [0, 1]")
        if not 0 < ceiling < 1:
            raise InputError(f"ceiling: got {ceiling!r}; expected a correlation in (0, 1)")
        cx, cy, rx, ry = (float(v) for v in rf_region)
        r = np.sqrt(rng.uniform(0, 1, n))
        ang = rng.uniform(0, 2 * np.pi, n)
        x = (cx + rx * r * np.cos(ang)) * (w - 1)
        y = (cy + ry * r * np.sin(ang)) * (h - 1)
        sigma = rng.uniform(2.0, 5.0, n)
        sf = rng.uniform(0.2, 0.5, n) / sigma
        tau1 = rng.uniform(0.015, 0.033, n)
        temporal = _temporal_filters(tau1, rng.uniform(1.5, 2.0, n), rng.uniform(0.0, 0.9, n), 30.0)
        a = ceiling * ceiling_concentration
        b = (1 - ceiling) * ceiling_concentration
        pop = cls(
            x=x,
            y=y,
            sigma=sigma,
            aspect=rng.uniform(1.0, 2.0, n),
            orientation=rng.uniform(0, np.pi, n),
            sf=sf,
            phase=rng.uniform(0, 2 * np.pi, n),
            is_complex=rng.uniform(size=n) < complex_fraction,
            temporal=temporal,
            run_gain=rng.normal(0.35, 0.2, n),
            pupil_gain=rng.normal(0.15, 0.15, n),
            kappa=rng.uniform(1.0, 3.0, n),
            theta=rng.uniform(0.0, 1.5, n),
            beta=rng.uniform(0.02, 0.2, n),
            saturation=rng.uniform(3.0, 6.0, n),
            target_ceiling=np.clip(rng.beta(a, b, n), 0.02, 0.9),
            drive_mean=np.zeros(n),
            drive_std=np.ones(n),
            rho=np.full(n, 0.1),
            frame_shape=(h, w),
            eye_shift=eye_shift * np.eye(2),
            pupil_ref=np.asarray(pupil_ref, float),
        )
        extras = (direction_fraction, surround_fraction, unresponsive_fraction, n_factors, imaging_rate)
        if any(extras):  # drawn after the rest: an easy population stays what it was
            pop._draw_hard(rng, *extras)
        return pop

    def _draw_hard(self, rng, direction: float, surround: float, unresponsive: float, k: int, rate: float) -> None:
        """Neuron types beyond Gabor LN, shared latent factors and the imaging model (see the module notes)."""
        for name, v in (("direction_fraction", direction), ("surround_fraction", surround)):
            if not 0 <= v <= 1:
                raise InputError(f"{name}: got {v!r}; expected a fraction in [0, 1]")
        if not 0 <= unresponsive < 1:
            raise InputError(f"unresponsive_fraction: got {unresponsive!r}; expected a fraction in [0, 1)")
        k = check_int("n_factors", k, minimum=0)
        if rate < 0 or (rate and rate > self.fps / 2):
            raise InputError(f"imaging_rate: got {rate!r} Hz; expected 0 (no imaging) or up to {self.fps / 2:g} Hz")
        n = self.n_neurons
        self.responsive = rng.uniform(size=n) >= unresponsive
        simple = ~self.is_complex
        self.direction_selective = simple & (rng.uniform(size=n) < direction / max(simple.mean(), 1e-9))
        # the odd temporal partner: the filter's time derivative, orthogonal to it, unit norm, random sign
        odd = np.gradient(self.temporal, axis=1)
        odd = odd - (odd * self.temporal).sum(1, keepdims=True) * self.temporal
        odd = odd / np.maximum(np.linalg.norm(odd, axis=1, keepdims=True), 1e-12)
        self.temporal_odd = odd * rng.choice([-1.0, 1.0], size=(n, 1))
        self.surround = np.where(rng.uniform(size=n) < surround, rng.uniform(1.0, 4.0, n), 0.0)
        self.surround_sigma = self.sigma * rng.uniform(2.5, 4.0, n)
        loadings = rng.normal(0.0, 0.2, (n, k))
        if k:
            loadings[:, 0] = rng.normal(0.45, 0.15, n)  # a global gain (arousal) factor
        self.latent_loadings = loadings
        self.calcium_tau = rng.uniform(0.3, 1.0, n)  # s, GCaMP6-like decay
        self.imaging_noise = rng.uniform(1.0, 2.5, n) if rate else np.zeros(n)
        self.imaging_rate = float(rate)
        self._bank_cache = self._surround_cache = None

    @property
    def n_neurons(self) -> int:
        return int(self.x.size)

    # ------------------------------------------------------------------ filters
    def _gabors(self, quadrature: bool) -> np.ndarray:
        h, w = self.frame_shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        idx = np.flatnonzero(self._quadrature()) if quadrature else np.arange(self.n_neurons)
        out = np.empty((idx.size, h, w), dtype=np.float32)
        for start in range(0, idx.size, 512):
            i = idx[start : start + 512]
            dx = xx[None] - self.x[i, None, None]
            dy = yy[None] - self.y[i, None, None]
            c, s = np.cos(self.orientation[i])[:, None, None], np.sin(self.orientation[i])[:, None, None]
            u = dx * c + dy * s  # along the wave vector
            v = -dx * s + dy * c  # along the bars
            sig = self.sigma[i, None, None]
            env = np.exp(-0.5 * (u / sig) ** 2 - 0.5 * (v / (sig * self.aspect[i, None, None])) ** 2)
            ph = self.phase[i, None, None] + (np.pi / 2 if quadrature else 0.0)
            g = env * np.cos(2 * np.pi * self.sf[i, None, None] * u + ph)
            g = g - env * (g.sum(axis=(1, 2), keepdims=True) / env.sum(axis=(1, 2), keepdims=True))
            out[start : start + i.size] = g / np.linalg.norm(g.reshape(i.size, -1), axis=1)[:, None, None]
        return out

    def _quadrature(self) -> np.ndarray:
        """Neurons with a quadrature Gabor: complex cells (energy) and direction-selective cells (sum)."""
        return self.is_complex | self.direction_selective

    def _taps(self) -> np.ndarray:
        """``(N + n_quadrature, J)``: each neuron's temporal filter, then those of the quadrature Gabors."""
        q = self._quadrature()
        odd = np.where(self.direction_selective[q, None], self.temporal_odd[q], self.temporal[q])
        return np.concatenate([self.temporal, odd]).astype(np.float32)

    def _surround_bank(self) -> np.ndarray:
        """``(H*W, n_surround)`` float32: annulus weights (sum 1) of the surround-suppressed neurons."""
        if self._surround_cache is None:
            h, w = self.frame_shape
            yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
            idx = np.flatnonzero(self.surround > 0)
            out = np.zeros((idx.size, h * w), dtype=np.float32)
            for j, i in enumerate(idx):
                r2 = (xx - self.x[i]) ** 2 + (yy - self.y[i]) ** 2
                ring = np.exp(-0.5 * r2 / self.surround_sigma[i] ** 2) - np.exp(-0.5 * r2 / self.sigma[i] ** 2)
                ring = np.maximum(ring, 0.0)
                out[j] = (ring / max(ring.sum(), 1e-12)).ravel()
            self._surround_cache = np.ascontiguousarray(out.T)
        return self._surround_cache

    def spatial_filters(self) -> np.ndarray:
        """Ground-truth spatial RFs ``(N, H, W)`` float32: each neuron's (first) Gabor, unit norm, zero mean."""
        return self._gabors(False)

    def _bank(self) -> np.ndarray:
        """``(H*W, N + n_quadrature)`` float32: the N Gabors, then the quadrature ones (complex and DS cells)."""
        if self._bank_cache is None:
            g = np.concatenate([self._gabors(False), self._gabors(True)])
            self._bank_cache = np.ascontiguousarray(g.reshape(g.shape[0], -1).T)
        return self._bank_cache

    # ------------------------------------------------------------------ numpy model
    def _check_inputs(self, video: Any, behavior: Any, pupil_center: Any) -> tuple[np.ndarray, ...]:
        v = np.asarray(video, dtype=np.float32)
        if v.ndim != 3 or v.shape[1:] != self.frame_shape:
            raise InputError(f"video: has shape {v.shape}; expected (T, {self.frame_shape[0]}, {self.frame_shape[1]})")
        t_len = v.shape[0]
        b = np.asarray(behavior, dtype=np.float64)
        e = np.asarray(pupil_center, dtype=np.float64)
        for name, a in (("behavior", b), ("pupil_center", e)):
            if a.shape != (t_len, 2):
                raise InputError(f"{name}: has shape {a.shape}; expected ({t_len}, 2) like the video's frames")
        return v, b, e

    def _drive_raw(self, video: np.ndarray, pupil_center: np.ndarray) -> np.ndarray:
        """``d_n(t)`` before calibration, (T, N) float64."""
        t_len = video.shape[0]
        x = (video - np.float32(_LUMINANCE)) / np.float32(_CONTRAST)
        shift = (pupil_center - self.pupil_ref) @ self.eye_shift.T
        x = _shift_frames(x, shift.astype(np.float32))
        p = x.reshape(t_len, -1) @ self._bank()  # (T, K) float32
        n = self.n_neurons
        taps = self._taps()  # (K, J)
        padded = np.concatenate([np.repeat(p[:1], _N_TAPS - 1, axis=0), p])
        q = np.zeros_like(p)
        for j in range(_N_TAPS):
            q += taps[:, j] * padded[_N_TAPS - 1 - j : _N_TAPS - 1 - j + t_len]
        d = q[:, :n].astype(np.float64)
        quad = np.flatnonzero(self._quadrature())
        energy = self.is_complex[quad]
        extra = q[:, n:].astype(np.float64)
        cidx = quad[energy]
        d[:, cidx] = np.sqrt(d[:, cidx] ** 2 + extra[:, energy] ** 2 + _EPS**2)
        if (~energy).any():  # direction selective: even Gabor x filter + odd Gabor x odd filter
            d[:, quad[~energy]] += extra[:, ~energy]
        sidx = np.flatnonzero(self.surround > 0)
        if sidx.size:  # divisive suppression by the contrast energy of the surround (last 3 frames)
            e = ((x * x).reshape(t_len, -1) @ self._surround_bank()).astype(np.float64)
            e = np.concatenate([np.repeat(e[:1], 2, axis=0), e])
            e = (e[2:] + e[1:-1] + e[:-2]) / 3.0
            d[:, sidx] = d[:, sidx] / (1.0 + self.surround[sidx] * e)
        return d

    def _gain(self, behavior: np.ndarray) -> np.ndarray:
        run = np.tanh(behavior[:, 1:2] / self.running_scale)
        pup = (behavior[:, 0:1] - self.pupil_mean) / self.pupil_scale
        return np.exp(self.run_gain[None] * run + self.pupil_gain[None] * pup)

    def _shape(self, z: np.ndarray, gain: np.ndarray) -> np.ndarray:
        sp = _softplus(self.kappa[None] * (z - self.theta[None]))
        m = self.saturation[None]
        return gain * (np.where(self.responsive[None], m * sp / (m + sp), 0.0) + self.beta[None])

    def drive(self, video: Any, pupil_center: Any) -> np.ndarray:
        """Calibrated drive ``z_n(t)`` ``(T, N)`` (unit SD on the calibration clips)."""
        v, _, e = self._check_inputs(video, np.zeros((len(video), 2)), pupil_center)
        return (self._drive_raw(v, e) - self.drive_mean[None]) / self.drive_std[None]

    def spike_rates(self, video: Any, behavior: Any, pupil_center: Any) -> np.ndarray:
        """Expected spike counts ``lambda`` ``(T, N)`` float32 per 30 Hz frame (at zero latent factors), numpy.

        Equal to :meth:`rates` without imaging (``imaging_rate == 0``). Parameters as :meth:`rates`.
        """
        if not self.calibrated:
            raise InputError(
                "V1Population: not calibrated; expected calibrate(videos, behaviors, pupil_centers) before rates()"
            )
        v, b, e = self._check_inputs(video, behavior, pupil_center)
        z = (self._drive_raw(v, e) - self.drive_mean[None]) / self.drive_std[None]
        return (self.rho[None] * self._shape(z, self._gain(b))).astype(np.float32)

    def imaging_matrix(self, n_frames: int) -> np.ndarray:
        """``(T, T)`` linear map from spike rates to expected imaged responses (identity without imaging).

        Spikes of the frames before the trial are taken at the first frame's rate (see the module notes).
        """
        n_frames = check_int("n_frames", n_frames)
        if not self.imaging_rate:
            return np.eye(n_frames)
        bins, interp = _imaging_maps(n_frames, self.fps, self.imaging_rate)
        full = interp @ bins  # (T, T + pad)
        out = full[:, _IMAGING_PAD:].copy()
        out[:, 0] += full[:, :_IMAGING_PAD].sum(axis=1)
        return out

    def record(self, spike_rates: np.ndarray, rng: Any = 0) -> np.ndarray:
        """Responses of one trial for ``spike_rates`` ``(T, N)``: latent gain, spikes, calcium, imaging, deconvolution.

        Without imaging and latent factors this is :meth:`sample` (Poisson counts). Returns ``(T, N)`` float32.
        """
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        lam = np.asarray(spike_rates, dtype=np.float64)
        n_frames, k = lam.shape[0], self.latent_loadings.shape[1]
        if not self.imaging_rate and not k:
            return self.sample(lam, rng)
        lam = np.concatenate([np.repeat(lam[:1], _IMAGING_PAD, axis=0), lam])
        if k:
            z = np.stack([_ou(len(lam), self.latent_tau, 1.0, rng, self.fps) for _ in range(k)], axis=1)
            w = self.latent_loadings
            lam = lam * np.exp(z @ w.T - 0.5 * (w * w).sum(axis=1))  # mean gain 1
        spikes = rng.poisson(lam)
        if not self.imaging_rate:
            return spikes[_IMAGING_PAD:].astype(np.float32)
        bins, interp = _imaging_maps(n_frames, self.fps, self.imaging_rate)
        per_bin = (bins > 0).sum(axis=1, keepdims=True)  # 30 Hz frames per imaging frame
        counts = (bins > 0) @ spikes  # (K, N) spikes per imaging frame
        gamma = np.exp(-1.0 / (self.imaging_rate * self.calcium_tau))
        calcium = np.empty_like(counts, dtype=np.float64)
        c = counts[0] / (1.0 - gamma)
        for j in range(len(counts)):
            c = gamma * c + counts[j] if j else c
            calcium[j] = c
        fluo = calcium + self.imaging_noise * rng.standard_normal(calcium.shape)
        # AR(1) deconvolution f[k] - gamma f[k-1] (the first frame against the noise-free calcium before it)
        previous = np.concatenate([(calcium[:1] - counts[:1]) / gamma, fluo[:-1]])
        deconvolved = np.maximum(fluo - gamma * previous, 0.0)
        return (interp @ (deconvolved / per_bin)).astype(np.float32)

    def rates(self, video: Any, behavior: Any, pupil_center: Any) -> np.ndarray:
        """Expected responses ``(T, N)`` float32 (counts per frame), numpy: imaged spike rates.

        Parameters
        ----------
        video : array_like, shape (T, H, W)
            Grey levels 0-255.
        behavior : array_like, shape (T, 2)
            [pupil dilation, running speed].
        pupil_center : array_like, shape (T, 2)
            [x, y] eye position.
        """
        lam = self.spike_rates(video, behavior, pupil_center)
        if not self.imaging_rate:
            return lam
        return (self.imaging_matrix(lam.shape[0]) @ lam.astype(np.float64)).astype(np.float32)

    def sample(self, rates: np.ndarray, rng: Any = 0) -> np.ndarray:
        """Poisson responses for ``rates`` (same shape), float32 counts."""
        rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        return rng.poisson(np.asarray(rates, dtype=np.float64)).astype(np.float32)

    def calibrate(self, videos: Sequence[Any], behaviors: Sequence[Any], pupil_centers: Sequence[Any]) -> None:
        """Set ``drive_mean``, ``drive_std`` and ``rho`` from example trials (see the module notes).

        ``rho_n`` makes the expected correlation between rate and Poisson response over these trials equal
        ``target_ceiling[n]``, within the mean-rate bounds of 0.01-1 counts per frame and a peak rate (at unit
        gain) of at most 5 counts per frame.
        """
        if not len(videos) or not (len(videos) == len(behaviors) == len(pupil_centers)):
            raise InputError(
                f"calibrate: got {len(videos)} videos, {len(behaviors)} behaviors and "
                f"{len(pupil_centers)} pupil_centers; expected as many of each, at least one"
            )
        checked = [self._check_inputs(v, b, e) for v, b, e in zip(videos, behaviors, pupil_centers)]
        drives = [self._drive_raw(v, e).astype(np.float32) for v, _, e in checked]
        n_frames = sum(len(d) for d in drives)
        mean = sum(d.sum(axis=0, dtype=np.float64) for d in drives) / n_frames
        var = sum(((d - mean) ** 2).sum(axis=0) for d in drives) / n_frames
        self.drive_mean = mean
        self.drive_std = np.maximum(np.sqrt(var), 1e-6)
        f_sum = np.zeros(self.n_neurons)
        f_sq = np.zeros(self.n_neurons)
        for d, (_, b, _) in zip(drives, checked):
            f = self._shape((d - self.drive_mean) / self.drive_std, self._gain(b))
            f_sum += f.sum(axis=0)
            f_sq += (f * f).sum(axis=0)
        mean_f = f_sum / n_frames
        var_f = np.maximum(f_sq / n_frames - mean_f**2, 1e-12)
        c2 = self.target_ceiling**2
        rho = np.clip(c2 * mean_f / ((1 - c2) * var_f), _MEAN_RATE_RANGE[0] / mean_f, _MEAN_RATE_RANGE[1] / mean_f)
        rho = np.minimum(rho, _PEAK_RATE / (self.saturation + self.beta))
        self.rho = np.where(self.responsive, rho, _UNRESPONSIVE_RATE / mean_f)
        self.calibrated = True

    # ------------------------------------------------------------------ torch
    def torch_module(self, dtype: Any = None):
        """This population as a ``torch.nn.Module`` following the encoding-model protocol.

        ``module(video (B, T, H, W) 0-255, behavior (B, T, 2), pupil_center (B, T, 2)) -> rates (B, T, N)``,
        strictly positive, causal, differentiable in the video; the same numbers as :meth:`rates` (float32:
        to about 1e-5 relative). Parameters are buffers (nothing to train); move it with ``.to(device)``.
        """
        if not self.calibrated:
            raise InputError("V1Population: not calibrated; expected calibrate(...) before torch_module()")
        return _make_module(self, dtype)

    # ------------------------------------------------------------------ storage
    def save(self, path: str | os.PathLike) -> None:
        """Write every parameter to an ``.npz`` file (atomically)."""
        from neurocine.io._atomic import atomic_path

        arrays: dict[str, Any] = {f.name: np.asarray(getattr(self, f.name)) for f in fields(self)}
        arrays["format"] = np.asarray("neurocine.V1Population/1")
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, **arrays)

    @classmethod
    def from_folder(cls, root: str | os.PathLike) -> V1Population:
        """The ground-truth population of a folder written by :func:`simulate_v1`."""
        path = Path(root) / "meta" / "simulation" / "population.npz"
        if not path.is_file():
            raise InputError(f"{path}: no such file; expected a mouse folder written by simulate_v1")
        return cls.load(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> V1Population:
        """Read a population written by :meth:`save`."""
        try:
            with np.load(path, allow_pickle=False) as z:
                data = {k: z[k] for k in z.files}
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as a V1Population .npz ({exc})") from None
        if str(data.pop("format", "")) != "neurocine.V1Population/1":
            raise InputError(f"{path}: is not a V1Population file; expected one written by V1Population.save")
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in data:
                if f.name in _HARD_FIELDS:  # written before the hard simulator: an easy population
                    continue
                raise InputError(f"{path}: lacks {f.name!r}; expected every V1Population parameter")
            v = data[f.name]
            if v.dtype == object or (v.ndim == 0 and v.item() is None):
                continue
            kwargs[f.name] = v.item() if v.ndim == 0 else (tuple(int(i) for i in v) if f.name == "frame_shape" else v)
        return cls(**kwargs)


def _make_module(pop: V1Population, dtype: Any):
    import torch
    import torch.nn.functional as F

    dt = dtype or torch.float32
    n = pop.n_neurons

    class V1Module(torch.nn.Module):
        """Ground-truth V1 population (see :mod:`neurocine.v1.simulate`); buffers only."""

        # the buffers registered in __init__
        bank: torch.Tensor
        taps: torch.Tensor
        complex_index: torch.Tensor
        is_complex: torch.Tensor
        direction_selective: torch.Tensor
        responsive: torch.Tensor
        surround_index: torch.Tensor
        surround_strength: torch.Tensor
        surround_bank: torch.Tensor
        drive_mean: torch.Tensor
        drive_std: torch.Tensor
        rho: torch.Tensor
        kappa: torch.Tensor
        theta: torch.Tensor
        beta: torch.Tensor
        saturation: torch.Tensor
        run_gain: torch.Tensor
        pupil_gain: torch.Tensor
        eye_shift: torch.Tensor
        pupil_ref: torch.Tensor

        def __init__(self) -> None:
            super().__init__()

            def buf(name, value, kind=dt):
                self.register_buffer(name, torch.as_tensor(np.asarray(value), dtype=kind))

            buf("bank", pop._bank())
            buf("taps", pop._taps())
            buf("complex_index", np.flatnonzero(pop._quadrature()), torch.long)
            buf("is_complex", pop.is_complex, torch.bool)
            buf("direction_selective", pop.direction_selective, torch.bool)
            buf("responsive", pop.responsive, torch.bool)
            buf("surround_index", np.flatnonzero(pop.surround > 0), torch.long)
            buf("surround_strength", pop.surround[pop.surround > 0])
            buf("surround_bank", pop._surround_bank())
            for name in (
                "drive_mean",
                "drive_std",
                "rho",
                "kappa",
                "theta",
                "beta",
                "saturation",
                "run_gain",
                "pupil_gain",
            ):
                buf(name, getattr(pop, name))
            buf("eye_shift", pop.eye_shift)
            buf("pupil_ref", pop.pupil_ref)
            self.frame_shape = pop.frame_shape
            self.n_neurons = n
            self.running_scale = float(pop.running_scale)
            self.pupil_mean = float(pop.pupil_mean)
            self.pupil_scale = float(pop.pupil_scale)
            self.population = pop  # the imaging matrix of each trial length, made when first needed
            self.imaging: dict[int, torch.Tensor] = {}

        def forward(self, video, behavior, pupil_center):
            b, t_len, h, w = video.shape
            if (h, w) != self.frame_shape:
                raise InputError(f"video: has frames of {h}x{w}; expected {self.frame_shape[0]}x{self.frame_shape[1]}")
            x = (video.to(self.bank.dtype) - _LUMINANCE) / _CONTRAST
            shift = (pupil_center.to(self.bank.dtype) - self.pupil_ref) @ self.eye_shift.T  # (B, T, 2)
            if bool((shift != 0).any()):
                ys = torch.arange(h, dtype=x.dtype, device=x.device)
                xs = torch.arange(w, dtype=x.dtype, device=x.device)
                gx = (xs[None, None, :] + shift.reshape(-1, 1, 2)[..., 0:1]) * (2.0 / (w - 1)) - 1.0  # (BT, 1, W)
                gy = (ys[None, :, None] + shift.reshape(-1, 1, 2)[..., 1:2].transpose(1, 2)) * (2.0 / (h - 1)) - 1.0
                grid = torch.stack([gx.expand(-1, h, w), gy.expand(-1, h, w)], dim=-1)  # (BT, H, W, 2)
                x = F.grid_sample(
                    x.reshape(-1, 1, h, w), grid, mode="bilinear", padding_mode="zeros", align_corners=True
                ).reshape(b, t_len, h, w)
            p = x.reshape(b, t_len, h * w) @ self.bank  # (B, T, K)
            j_len = self.taps.shape[1]
            padded = torch.cat([p[:, :1].expand(b, j_len - 1, p.shape[-1]), p], dim=1)
            q = p.new_zeros(())  # a zero that broadcasts, as the int 0 did
            for j in range(j_len):
                q = q + self.taps[:, j] * padded[:, j_len - 1 - j : j_len - 1 - j + t_len]
            d = q[..., :n]
            quad = torch.zeros_like(d).index_copy(-1, self.complex_index, q[..., n:])
            d = torch.where(self.is_complex, torch.sqrt(d * d + quad * quad + _EPS**2), d)
            d = torch.where(self.direction_selective, d + quad, d)
            if self.surround_index.numel():
                e = (x * x).reshape(b, t_len, h * w) @ self.surround_bank  # (B, T, S)
                e = torch.cat([e[:, :1], e[:, :1], e], dim=1)
                e = (e[:, 2:] + e[:, 1:-1] + e[:, :-2]) / 3.0
                scale = torch.ones_like(d).index_copy(-1, self.surround_index, 1.0 + self.surround_strength * e)
                d = d / scale
            z = (d - self.drive_mean) / self.drive_std
            beh = behavior.to(self.bank.dtype)
            gain = torch.exp(
                self.run_gain * torch.tanh(beh[..., 1:2] / self.running_scale)
                + self.pupil_gain * (beh[..., 0:1] - self.pupil_mean) / self.pupil_scale
            )
            sp = F.softplus(self.kappa * (z - self.theta))
            shaped = torch.where(self.responsive, self.saturation * sp / (self.saturation + sp), 0.0)
            rates = self.rho * gain * (shaped + self.beta)
            if not self.population.imaging_rate:
                return rates
            if t_len not in self.imaging:
                self.imaging[t_len] = torch.as_tensor(self.population.imaging_matrix(t_len), dtype=rates.dtype)
            matrix = self.imaging[t_len].to(rates.device)
            return torch.einsum("st,btn->bsn", matrix, rates)

    return V1Module()


# --------------------------------------------------------------------------- ceiling


def ceiling_correlation(
    rates: Sequence[np.ndarray], responses: Sequence[np.ndarray], *, skip: int = 50, per_neuron: bool = False
):
    """Sensorium single-trial correlation of ``rates`` with ``responses``.

    Per neuron: Pearson correlation over the frames ``>= skip`` of all trials concatenated; neurons with
    a constant series count as 0. Returns the mean over neurons (or the ``(N,)`` vector).

    Parameters
    ----------
    rates, responses : sequences of arrays, each (T_i, N)
    """
    if len(rates) != len(responses) or not len(rates):
        raise InputError(
            f"ceiling_correlation: got {len(rates)} rate and {len(responses)} response trials; "
            f"expected the same number, at least one"
        )
    a = np.concatenate([np.asarray(r, dtype=np.float64)[skip:] for r in rates])
    b = np.concatenate([np.asarray(r, dtype=np.float64)[skip:] for r in responses])
    if a.shape != b.shape or a.shape[0] < 2:
        raise InputError(
            f"ceiling_correlation: rates {a.shape} and responses {b.shape} after dropping the first "
            f"{skip} frames; expected equal shapes with at least 2 frames"
        )
    a = a - a.mean(axis=0)
    b = b - b.mean(axis=0)
    den = np.sqrt((a * a).sum(axis=0) * (b * b).sum(axis=0))
    corr = np.where(den > 0, (a * b).sum(axis=0) / np.where(den > 0, den, 1.0), 0.0)
    return corr if per_neuron else float(corr.mean())


def repeat_properties(clips: Sequence[np.ndarray], responsive: np.ndarray | None = None) -> dict[str, Any]:
    """What a reviewer measures on real recordings, from repeated presentations of the same clips.

    Parameters
    ----------
    clips : sequence of arrays, each (R, T, N)
        The responses to each clip, ``R >= 2`` presentations (the same ``R`` for every clip), time second.
    responsive : bool array (N,), optional
        Splits the explainable variance into responsive and unresponsive neurons.

    Returns
    -------
    dict
        ``lag1_autocorrelation`` (:func:`~neurocine.metrics.lag_autocorrelation`, mean over neurons),
        ``noise_correlation`` (:func:`~neurocine.metrics.noise_correlation`), ``explainable_variance``
        (:func:`~neurocine.metrics.explainable_variance`, mean), ``repeat_ceiling``
        (:func:`~neurocine.metrics.noise_ceiling`, mean) and ``repeat_ceiling_single_trial`` (mean of the
        square root of the explainable variance), plus ``explainable_variance_responsive`` /
        ``_unresponsive`` when ``responsive`` is given and both kinds exist. Empty without repeats or
        with fewer than 3 frames in all.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> signal = rng.poisson(2.0, (1, 100, 5)).astype(float)
    >>> props = repeat_properties([signal + rng.normal(0, 1, (3, 100, 5))])
    >>> 0.5 < props["explainable_variance"] < 0.8
    True
    """
    from neurocine.metrics import explainable_variance, lag_autocorrelation, noise_ceiling, noise_correlation

    clips = [np.asarray(c, dtype=np.float64) for c in clips if np.asarray(c).shape[0] >= 2]
    if not clips or len({c.shape[0] for c in clips}) != 1:
        return {}
    stacked = np.concatenate(clips, axis=1)  # (R, sum T, N)
    if stacked.shape[1] < 3 or min(c.shape[1] for c in clips) < 2:
        return {}  # too few frames after the first 50 to measure anything
    fev = explainable_variance(stacked)
    out: dict[str, Any] = {
        "lag1_autocorrelation": float(np.mean(lag_autocorrelation([t for c in clips for t in c]))),
        "noise_correlation": noise_correlation(stacked),
        "explainable_variance": float(fev.mean()),
        "repeat_ceiling": float(noise_ceiling(stacked).mean()),
        "repeat_ceiling_single_trial": float(np.sqrt(fev).mean()),
    }
    if responsive is not None and responsive.any() and not responsive.all():
        out["explainable_variance_responsive"] = float(fev[responsive].mean())
        out["explainable_variance_unresponsive"] = float(fev[~responsive].mean())
    return out


class _CorrSums:
    """Running sums for per-neuron Pearson correlations over concatenated trials (O(N) memory)."""

    def __init__(self, n: int) -> None:
        self.n = 0
        self.sums = np.zeros((5, n))

    def add(self, a: np.ndarray, b: np.ndarray) -> None:
        a = np.asarray(a, dtype=np.float64)
        b = np.asarray(b, dtype=np.float64)
        self.n += a.shape[0]
        self.sums += np.stack([a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), (a * b).sum(0)])

    def mean_correlation(self) -> float:
        sa, sb, saa, sbb, sab = self.sums / self.n
        cov, va, vb = sab - sa * sb, np.maximum(saa - sa * sa, 0), np.maximum(sbb - sb * sb, 0)
        den = np.sqrt(va * vb)
        return float(np.where(den > 0, cov / np.where(den > 0, den, 1.0), 0.0).mean())


# --------------------------------------------------------------------------- the simulated mouse


def simulate_v1(
    out: str | os.PathLike,
    *,
    n_neurons: int = 8000,
    n_train: int = 240,
    n_oracle: int = 5,
    oracle_repeats: int = 4,
    n_test: int = 6,
    test_repeats: int = 5,
    n_frames: int = 150,
    seed: int = 0,
    test_sources: Sequence[str] = _stimuli.DEFAULT_TEST_SOURCES,
    ceiling: float = 0.3,
    complex_fraction: float = 0.4,
    n_calibration: int = 24,
    pad_to: int | None = None,
    release_like: bool = False,
    movie_fraction: float = 0.5,
    easy: bool = False,
    overwrite: bool = False,
) -> dict:
    """Simulate a mouse V1 recorded with natural clips and write it as a Sensorium 2023 folder.

    See the module docstring for the model, the tiers and the ground-truth files.

    Parameters
    ----------
    out : str or Path
        The mouse folder to write (written into a temporary sibling, renamed at the end).
    n_neurons : int, default 8000
        Like one Sensorium mouse (7-8k neurons).
    n_train : int, default 240
        Unique training clips (one presentation each).
    n_oracle, oracle_repeats : int, default 5 and 4
        Validation clips (training sources) and presentations of each.
    n_test, test_repeats : int, default 6 and 5
        Test clips (held-out ``test_sources``) and presentations of each (tier ``final_test_main``).
    n_frames : int, default 150
        Frames per trial (5 s at 30 Hz), at most 300.
    seed : int, default 0
        Same seed, same folder (population, stimuli, behaviour and noise have separate streams).
    test_sources : sequence of str
        Sources held out of training and validation.
    ceiling : float, default 0.3
        Mean target ceiling of the neurons (:meth:`V1Population.random`).
    complex_fraction : float, default 0.4
    n_calibration : int, default 24
        Training trials used to calibrate the population.
    pad_to : int, optional
        NaN-pad every file to this many frames (like the competition's 300), to exercise readers.
    release_like : bool, default False
        Write the folder like the competition release (see the module notes): float32 responses with
        small negative values, padding to 300 frames (unless ``pad_to``), ``<U16`` tiers, the test tier's
        responses withheld as zeros, a short NaN gap in one trial's pupil centre.
    movie_fraction : float, default 0.5
        Share of the clips cut from movies rather than panned over photos (:func:`~neurocine.stimuli.make_clips`;
        0 skips reading the movies, the fastest for tests).
    easy : bool, default False
        The easy mouse: Gabor LN neurons with independent Poisson counts. By default the mouse is as hard as
        real recordings (:data:`HARD`: calcium imaging at 8 Hz resampled to 30 Hz with deconvolution noise,
        shared latent gain, direction-selective, surround-suppressed and unresponsive neurons).
    overwrite : bool, default False
        Replace an existing non-empty ``out``.

    Returns
    -------
    dict
        The summary also written to ``meta/simulation/summary.json``: sizes, tiers, sources,
        ``ceiling_correlation`` (test tier), ``ceiling_correlation_oracle``, mean rate, ``size_bytes``,
        ``elapsed_s``, and the properties measured on the test tier's repeats as on real data
        (:func:`repeat_properties`): ``lag1_autocorrelation``, ``noise_correlation``,
        ``explainable_variance`` (also ``_unresponsive`` and ``_responsive``), ``repeat_ceiling`` and
        ``repeat_ceiling_single_trial``; ``difficulty`` (``"hard"`` or ``"easy"``) and ``cell_types``.

    Notes
    -----
    Easy mouse, defaults (seed 0): 290 trials (240 train, 5 x 4 oracle, 6 x 5 test), 919 MB (responses 664 MB, true
    rates 116 MB, videos 97 MB), ``ceiling_correlation`` 0.325 (oracle 0.283), mean rate 5.0 Hz, 86 % of
    the response bins zero; 1 GB of memory at most. Time and size scale with ``n_neurons`` x trials x ``n_frames``.
    """
    from neurocine.io.sensorium import Trial, write_meta, write_trial
    from neurocine.runtime import progress

    t0 = time.perf_counter()
    out = Path(out)
    n_neurons = check_int("n_neurons", n_neurons)
    n_train = check_int("n_train", n_train)
    n_oracle = check_int("n_oracle", n_oracle, minimum=0)
    oracle_repeats = check_int("oracle_repeats", oracle_repeats)
    n_test = check_int("n_test", n_test)
    test_repeats = check_int("test_repeats", test_repeats)
    n_frames = check_int("n_frames", n_frames, minimum=51)
    if n_frames > 300:
        raise InputError(f"n_frames: got {n_frames}; expected at most 300 (10 s at 30 Hz, the Sensorium maximum)")
    seed = check_int("seed", seed, minimum=0)
    n_calibration = check_int("n_calibration", n_calibration)
    if out.exists() and (not out.is_dir() or any(out.iterdir())) and not overwrite:
        raise InputError(f"{out}: already exists and is not empty; expected a new folder (or overwrite=True)")
    train_sources, held_out = _stimuli.split_sources(test_sources)

    if release_like and pad_to is None:
        pad_to = 300
    ss = np.random.SeedSequence(seed)
    # a sixth stream for the release-like changes leaves the first five (and default folders) as they were
    rng_pop, rng_stim, rng_beh, rng_noise, rng_order, rng_release = (np.random.default_rng(s) for s in ss.spawn(6))
    hard = {} if easy else HARD
    pop = V1Population.random(n_neurons, rng_pop, complex_fraction=complex_fraction, ceiling=ceiling, **hard)

    # stimuli: unique clips per tier, then presentations
    clip_sets = [
        ("train", _stimuli.make_clips(train_sources, n_train, n_frames, rng_stim, movie_fraction=movie_fraction), 1),
        (
            "oracle",
            _stimuli.make_clips(train_sources, n_oracle, n_frames, rng_stim, movie_fraction=movie_fraction),
            oracle_repeats,
        ),
        (
            "final_test_main",
            _stimuli.make_clips(held_out, n_test, n_frames, rng_stim, movie_fraction=movie_fraction),
            test_repeats,
        ),
    ]
    clips, presentations = [], []  # presentations: (tier, clip index)
    for tier, cs, reps in clip_sets:
        for c in cs:
            clips.append((tier, c))
            presentations += [(tier, len(clips) - 1)] * reps
    videos = [np.clip(np.rint(c.video), 0, 255).astype(np.uint8) for _, c in clips]
    order = rng_order.permutation(len(presentations))
    presentations = [presentations[i] for i in order]
    behaviour = [simulate_behavior(n_frames, rng_beh, pupil_ref=tuple(pop.pupil_ref)) for _ in presentations]

    cal = [i for i, (tier, _) in enumerate(presentations) if tier == "train"][:n_calibration]
    pop.calibrate(
        [videos[presentations[i][1]] for i in cal], [behaviour[i][0] for i in cal], [behaviour[i][1] for i in cal]
    )

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None  # None once published
    tmp = temporary_folder(f".{out.name}.", out.parent)
    try:
        v_sum, v_sq, v_n = 0.0, 0.0, 0  # training videos: sum, sum of squares, number of values
        resp_sum = np.zeros(n_neurons)
        resp_sq = np.zeros(n_neurons)
        resp_min = np.full(n_neurons, np.inf)
        resp_max = np.full(n_neurons, -np.inf)
        beh_frames: list[np.ndarray] = []
        eye_frames: list[np.ndarray] = []
        accum = {"oracle": _CorrSums(n_neurons), "final_test_main": _CorrSums(n_neurons)}
        repeats: dict[int, list[np.ndarray]] = {}  # test clip -> its responses (frames >= 50)
        for k in progress(range(len(presentations)), total=len(presentations), desc="simulate V1"):
            tier, ci = presentations[k]
            video = videos[ci].astype(np.float32)
            beh, eye = behaviour[k]
            spikes = pop.spike_rates(video, beh, eye)
            resp = pop.record(spikes, rng_noise)
            lam = spikes if easy else (pop.imaging_matrix(n_frames) @ spikes.astype(np.float64)).astype(np.float32)
            if tier == "final_test_main":
                repeats.setdefault(ci, []).append(resp[50:].astype(np.float32))
            stored = resp
            dtype: Any = np.float16
            if release_like:
                resp = (resp + rng_release.normal(0.0, RELEASE_NOISE_SD, resp.shape)).astype(np.float32)
                stored, dtype = (np.zeros_like(resp) if tier in RELEASE_WITHHELD else resp), np.float32
                if tier == "train" and not beh_frames:
                    eye = eye.copy()
                    eye[n_frames // 2 : n_frames // 2 + 3] = np.nan  # an eye-tracking dropout
            write_trial(
                tmp,
                k,
                Trial(str(k), tier, video, stored, beh, eye),
                video_dtype=np.uint8,
                response_dtype=dtype,
                pad_to=pad_to,
            )
            if tier == "train":
                v_sum += float(video.sum())
                v_sq += float((video.astype(np.float64) ** 2).sum())
                v_n += video.size
                resp_sum += resp.sum(axis=0)
                resp_sq += (resp.astype(np.float64) ** 2).sum(axis=0)
                resp_min = np.minimum(resp_min, resp.min(axis=0))
                resp_max = np.maximum(resp_max, resp.max(axis=0))
                beh_frames.append(beh)
                eye_frames.append(eye)
            else:
                lam16 = lam.T.astype(np.float16)
                path = tmp / "meta" / "simulation" / "true_rates" / f"{k}.npy"
                path.parent.mkdir(parents=True, exist_ok=True)
                arr = (
                    lam16
                    if pad_to is None
                    else np.concatenate([lam16, np.full((n_neurons, pad_to - n_frames), np.nan, np.float16)], axis=1)
                )
                np.save(path, arr)
                accum[tier].add(lam16.T.astype(np.float64)[50:], resp[50:])

        n_train_frames = n_train * n_frames
        v_mean = v_sum / v_n
        beh_all, eye_all = np.concatenate(beh_frames), np.concatenate(eye_frames)
        r_mean = resp_sum / n_train_frames
        statistics: dict[str, dict[str, Any]] = {
            "videos": {
                "mean": np.float32(v_mean),
                "std": np.float32(math.sqrt(max(v_sq / v_n - v_mean**2, 0))),
                "min": np.float32(0),
                "max": np.float32(255),
            },
            "responses": {
                "mean": r_mean.astype(np.float32),
                "std": np.sqrt(np.maximum(resp_sq / n_train_frames - r_mean**2, 0)).astype(np.float32),
                "min": resp_min.astype(np.float32),
                "max": resp_max.astype(np.float32),
            },
            "behavior": {
                s: getattr(np, "nan" + s)(beh_all, axis=0).astype(np.float32)
                for s in ("mean", "std", "min", "max", "median")
            },
            "pupil_center": {
                s: getattr(np, "nan" + s)(eye_all, axis=0).astype(np.float32)
                for s in ("mean", "std", "min", "max", "median")
            },
        }
        tiers = np.array([t for t, _ in presentations], dtype="<U16" if release_like else None)
        video_ids = np.array([ci for _, ci in presentations], dtype=np.int64)
        coords = np.stack([pop.x * 10.0, pop.y * 10.0, np.random.default_rng(seed).uniform(200, 300, n_neurons)], 1)
        write_meta(
            tmp,
            np.arange(1, n_neurons + 1),
            tiers,
            cell_motor_coordinates=coords,
            trial_meta={"video_ids": video_ids},
            statistics=statistics,
        )
        sim = tmp / "meta" / "simulation"
        sim.mkdir(parents=True, exist_ok=True)
        pop.save(sim / "population.npz")
        np.save(sim / "trial_sources.npy", np.array([clips[ci][1].source for _, ci in presentations]))
        clip_info = [
            {
                "video_id": i,
                "tier": tier,
                "source": c.source,
                "kind": c.kind,
                "params": {k: (list(v) if isinstance(v, tuple) else v) for k, v in c.params.items() if k != "gaze"},
            }
            for i, (tier, c) in enumerate(clips)
        ]
        (sim / "clips.json").write_text(json.dumps(clip_info, indent=1))

        measured = repeat_properties([np.stack(r) for r in repeats.values()], responsive=pop.responsive)
        ceil = accum["final_test_main"].mean_correlation()
        ceil_oracle = accum["oracle"].mean_correlation() if accum["oracle"].n else None
        size = sum(f.stat().st_size for f in tmp.rglob("*") if f.is_file())
        summary = {
            "simulator": "neurocine.v1.simulate",
            "seed": seed,
            "n_neurons": n_neurons,
            "n_frames": n_frames,
            "fps": 30.0,
            "frame_shape": list(pop.frame_shape),
            "tiers": {t: int((tiers == t).sum()) for t in ("train", "oracle", "final_test_main")},
            "release_like": bool(release_like),
            "withheld_tiers": list(RELEASE_WITHHELD) if release_like else [],
            "unique_clips": {"train": n_train, "oracle": n_oracle, "final_test_main": n_test},
            "repeats": {"oracle": oracle_repeats, "final_test_main": test_repeats},
            "train_sources": list(train_sources),
            "test_sources": list(held_out),
            "difficulty": "easy" if easy else "hard",
            "cell_types": {
                "simple": int((~pop.is_complex & ~pop.direction_selective & pop.responsive).sum()),
                "complex": int((pop.is_complex & pop.responsive).sum()),
                "direction_selective": int((pop.direction_selective & pop.responsive).sum()),
                "surround_suppressed": int(((pop.surround > 0) & pop.responsive).sum()),
                "unresponsive": int((~pop.responsive).sum()),
            },
            "n_latent_factors": int(pop.latent_loadings.shape[1]),
            "imaging_rate_hz": pop.imaging_rate or None,
            **measured,
            "complex_fraction": float(pop.is_complex.mean()),
            "target_ceiling_mean": float(pop.target_ceiling.mean()),
            "ceiling_correlation": ceil,
            "ceiling_correlation_oracle": ceil_oracle,
            "ceiling_definition": "mean over neurons of the Pearson correlation between true rates and responses "
            "over frames >= 50 of all final_test_main trials concatenated",
            "repeat_definition": "final_test_main repeats, frames >= 50: lag-1 autocorrelation of the responses, "
            "mean pairwise noise correlation, fraction of explainable variance and noise ceiling (correlation of a "
            "perfect model with the mean of the repeats; single trial: sqrt of the explainable variance), "
            "means over neurons",
            "mean_rate_per_frame": float(r_mean.mean()),
            "mean_rate_hz": float(r_mean.mean() * 30.0),
            "population": "meta/simulation/population.npz",
            "true_rates": "meta/simulation/true_rates/<trial>.npy",
            "size_bytes": int(size),
            "elapsed_s": round(time.perf_counter() - t0, 2),
        }
        (sim / "summary.json").write_text(json.dumps(summary, indent=1))
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
        tmp = None
    finally:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return summary
