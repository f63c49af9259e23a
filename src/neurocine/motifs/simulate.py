"""Simulated multichannel data from the Conv-NMF model of the Neural Screenomics notebook.

``X (N channels x T samples) = sum_k a_k (*) W_k + Gaussian noise``, with
unit-norm rank-1 templates ``W_k (N x D)`` (a Gaussian spatial footprint
times a warped temporal bump) and sparse gamma-distributed amplitudes
``a_k`` whose spikes are at least ``D`` samples apart.

:func:`generate_templates` and :func:`generate` take their random numbers
from torch's global generator in exactly the order the notebook does, so
``torch.manual_seed(s)`` followed by either call gives the notebook's
templates, amplitudes and data. Their arrays keep the notebook's layouts
(templates ``(K, N, D)``, amplitudes ``(K, T)``, data ``(N, T)``);
:func:`simulate_convnmf` is the public, time-first entry point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import find_peaks

from neurocine.errors import InputError
from neurocine.metrics import r2_score
from neurocine.motifs.templates import convolve_templates, generate_templates
from neurocine.validation import check_int


def _put_last_wins(row, times, heights) -> None:
    """The notebook's ``row[times] = heights``, where a time drawn twice keeps its last height.

    Torch's ``index_put_`` does that on one thread, but splits long index
    lists over threads, and then which of the repeated times' heights is kept
    varies from run to run (at T = 10^6 a unit draws ~10 000 times, ~50 of
    them twice). The last draw is found explicitly, so any T gives the same
    data for the same seed.
    """
    import torch

    last = torch.from_numpy(times.numel() - 1 - np.unique(times.flip(0).numpy(), return_index=True)[1])
    row[times[last]] = heights[last]


def generate(
    num_timesteps: int,
    num_channels: int,
    len_waveform: int,
    num_neurons: int,
    mean_amplitude: float = 15.0,
    shape_amplitude: float = 3.0,
    noise_std: float = 1.0,
    sample_freq: float = 1000.0,
):
    """Templates, amplitudes and noisy data, drawn as the notebook's ``generate``.

    Per neuron: a Poisson number of spikes (rate ``10 T / sample_freq``),
    ``1 + n`` uniformly drawn times and Gamma(shape, shape / mean)
    amplitudes; of these only local maxima at least ``D`` apart are kept
    (``scipy.signal.find_peaks``). Then the data are the convolution plus
    N(0, noise_std^2) noise.

    Returns
    -------
    templates : torch.Tensor (K, N, D)
    amplitudes : torch.Tensor (K, T)
    data : torch.Tensor (N, T)
    """
    import torch
    from torch.distributions import Categorical, Gamma, Normal, Poisson

    t_len = num_timesteps
    templates = generate_templates(num_channels, len_waveform, num_neurons)
    amplitudes = torch.zeros(num_neurons, t_len)
    for k in range(num_neurons):
        n_spikes = int(Poisson(t_len / sample_freq * 10.0).sample())
        shape = (1 + n_spikes,)
        times = Categorical(torch.ones(t_len) / t_len).sample(shape)
        heights = Gamma(shape_amplitude, shape_amplitude / mean_amplitude).sample(shape)
        _put_last_wins(amplitudes[k], times, heights)
        kept, props = find_peaks(amplitudes[k].numpy(), distance=len_waveform, height=1e-3)
        amplitudes[k] = 0
        amplitudes[k, kept] = torch.tensor(props["peak_heights"], dtype=torch.float32)

    data = convolve_templates(amplitudes, templates)
    if noise_std > 0:  # noise-free data draw nothing more from the generator
        data += Normal(0.0, noise_std).sample(data.shape)
    return templates, amplitudes, data


@dataclass
class ConvNMFSimulation:
    """A simulated data set with its ground truth (time-first arrays).

    Attributes
    ----------
    data : ndarray (T, N) float32
    templates : ndarray (K, N, D) float32, unit Frobenius norm
    amplitudes : ndarray (T, K) float32, >= 0, sparse
    noise_std : float
    seed : int
    """

    data: np.ndarray
    templates: np.ndarray
    amplitudes: np.ndarray
    noise_std: float
    seed: int | None

    @property
    def spike_times(self) -> list[np.ndarray]:
        """Sample indices of each unit's spikes."""
        return [np.flatnonzero(self.amplitudes[:, k] > 0) for k in range(self.amplitudes.shape[1])]

    def oracle_r2(self) -> float:
        """R^2 of the true model (true templates and amplitudes) on the noisy data."""
        import torch

        pred = convolve_templates(torch.from_numpy(self.amplitudes.T.copy()), torch.from_numpy(self.templates))
        return r2_score(self.data, pred.numpy().T)


def simulate_convnmf(
    seed: int | None = 7,
    *,
    timesteps: int = 600,
    channels: int = 10,
    width: int = 10,
    neurons: int = 4,
    alpha: float = 3.0,
    beta: float = 0.1,
    noise_std: float = 1.0,
    sample_freq: float = 1000.0,
) -> ConvNMFSimulation:
    """Simulate Conv-NMF data as the notebook does, returned time-first.

    Seeds torch's global generator with ``seed`` (as the notebook's
    ``torch.manual_seed``), then calls :func:`generate` with gamma shape
    ``alpha`` and mean ``alpha / beta``. The defaults are the notebook's
    (seed 7, T=600, N=10, D=10, K=4, alpha 3, beta 0.1).

    Examples
    --------
    >>> sim = simulate_convnmf(7)
    >>> sim.data.shape, sim.templates.shape, sim.amplitudes.shape
    ((600, 10), (4, 10, 10), (600, 4))
    >>> int((sim.amplitudes > 0).sum())
    33
    """
    import torch

    timesteps = check_int("timesteps", timesteps)
    channels = check_int("channels", channels)
    width = check_int("width", width)
    neurons = check_int("neurons", neurons)
    if width >= timesteps:
        raise InputError(f"width: got {width}, expected fewer samples than timesteps ({timesteps})")
    for name, value in (("alpha", alpha), ("beta", beta), ("sample_freq", sample_freq)):
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name}: got {value!r}, expected a positive number")
    if not (np.isfinite(noise_std) and noise_std >= 0):
        raise InputError(f"noise: got {noise_std!r}, expected a non-negative number")
    if seed is not None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise InputError(f"seed: got {seed!r}, expected a non-negative integer")
        torch.manual_seed(int(seed))
    templates, amplitudes, data = generate(
        timesteps,
        channels,
        width,
        neurons,
        mean_amplitude=alpha / beta,
        shape_amplitude=alpha,
        noise_std=noise_std,
        sample_freq=sample_freq,
    )
    return ConvNMFSimulation(
        data=data.T.contiguous().numpy(),
        templates=templates.numpy(),
        amplitudes=amplitudes.T.contiguous().numpy(),
        noise_std=float(noise_std),
        seed=seed,
    )


@dataclass
class TetrodeSimulation:
    """A simulated extracellular tetrode with known spike times (:func:`simulate_tetrode`).

    Attributes
    ----------
    data : ndarray, shape (T, N), float64
        ADC-like recording: offset + noise + spikes.
    trains : list of ndarray
        Sample index of each spike's trough, one sorted array per unit.
    footprints : ndarray, shape (U, N)
        Trough depth of each unit on each channel, in noise standard deviations.
    sampling_rate : float
        Hz.
    noise_std : float
        Noise standard deviation (ADC units) before filtering.
    """

    data: np.ndarray
    trains: list[np.ndarray]
    footprints: np.ndarray
    sampling_rate: float
    noise_std: float


#: Trough depth (noise standard deviations) of the default units on the 4 wires of a tetrode.
TETRODE_FOOTPRINTS = ((12.0, 4.0, 2.0, 1.0), (3.0, 11.0, 6.0, 1.0), (2.0, 2.0, 5.0, 14.0))


def simulate_tetrode(
    seed: int | None = 0,
    *,
    seconds: float = 10.0,
    sampling_rate: float = 15000.0,
    rates=(8.0, 6.0, 10.0),
    footprints=TETRODE_FOOTPRINTS,
    noise_std: float = 50.0,
    offset: float = 2000.0,
    refractory_ms: float = 3.0,
) -> TetrodeSimulation:
    """A tetrode recording with a few units of known spike times, in white noise, for spike-sorting tests.

    Each unit fires as a Poisson process of rate ``rates[u]`` with a refractory period; every spike
    adds the same biphasic waveform (a trough of 0.15 ms standard deviation 0.5 ms into a 2 ms window, then a smaller,
    broader positive bump) scaled on each channel by ``footprints[u]`` (trough depth in noise
    standard deviations).

    Parameters
    ----------
    seed : int or None
        Seed of numpy's generator.
    seconds, sampling_rate : float
        Duration (s) and Hz.
    rates : sequence of float
        Firing rate of each unit (Hz).
    footprints : array_like, shape (U, N)
        Trough depth of each unit on each channel (noise standard deviations).
    noise_std, offset : float
        Noise standard deviation and constant offset, in ADC units.
    refractory_ms : float
        Shortest interval between two spikes of one unit.

    Returns
    -------
    TetrodeSimulation

    Examples
    --------
    >>> sim = simulate_tetrode(0, seconds=2.0)
    >>> sim.data.shape, [len(t) for t in sim.trains]
    ((30000, 4), [15, 13, 20])
    """
    rng = np.random.default_rng(seed)
    feet = np.asarray(footprints, dtype=np.float64)
    if feet.ndim != 2 or len(feet) != len(rates):
        raise InputError(f"footprints: got shape {feet.shape}, expected (U, N) with U = {len(rates)} (one per rate)")
    t_len = int(round(seconds * sampling_rate))
    width = int(round(0.002 * sampling_rate))
    trough = int(round(0.0005 * sampling_rate))
    lags = np.arange(width) / sampling_rate * 1000.0  # ms
    shape = -np.exp(-0.5 * ((lags - 0.5) / 0.15) ** 2) + 0.3 * np.exp(-0.5 * ((lags - 1.1) / 0.3) ** 2)
    shape /= -shape.min()
    x = rng.normal(0.0, 1.0, (t_len, feet.shape[1]))
    trains = []
    dead = refractory_ms / 1000.0 * sampling_rate
    for rate, foot in zip(rates, feet):
        isi = rng.exponential(sampling_rate / rate, int(seconds * rate * 2) + 10) + dead
        starts = np.cumsum(isi).astype(np.int64)
        starts = starts[starts < t_len - width]
        for s in starts:
            x[s : s + width] += np.outer(shape, foot)
        trains.append(starts + trough)
    return TetrodeSimulation(offset + noise_std * x, trains, feet, float(sampling_rate), float(noise_std))
