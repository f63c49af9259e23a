"""Extracellular recordings before spike sorting: band-pass, robust noise, whitening.

Spike sorters compare waveforms in units of the noise, so a recording in ADC units is first
high-passed to remove the offset and the slow field potential, then each channel is divided by its
noise and the channels are decorrelated (ZCA whitening), after which the noise is about 1 on every
channel and uncorrelated across channels. :func:`preprocess_extracellular` does the three steps and
keeps what is needed to go back to the input's units.

The noise of a channel is estimated robustly from its median absolute deviation
(``1.4826 * MAD``, the standard deviation of Gaussian noise), which the spikes barely move. The
whitening matrix is estimated from the samples where no channel exceeds ``quiet`` noise units, so
that large spikes (correlated across channels by construction) do not count as noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import validate_signal_matrix

__all__ = ["ExtracellularSignal", "bandpass", "preprocess_extracellular", "robust_noise", "whitening_matrix"]

#: The MAD of Gaussian noise times this is its standard deviation.
MAD_TO_STD = 1.4826


def bandpass(data, sampling_rate: float, band: tuple[float, float] = (300.0, 5000.0), order: int = 3) -> np.ndarray:
    """Zero-phase Butterworth band-pass of each channel (``scipy.signal.sosfiltfilt``).

    Parameters
    ----------
    data : array_like, shape (T, N)
        Time-first recording.
    sampling_rate : float
        Samples per second (Hz).
    band : (float, float)
        Low and high cut-off frequencies in Hz, ``0 < low < high < sampling_rate / 2``.
    order : int
        Order of the Butterworth design (doubled by the forward-backward pass).

    Returns
    -------
    ndarray, shape (T, N), float64
        The filtered channels; no phase shift, so spike peaks stay where they were.

    Raises
    ------
    InputError
        A band outside ``(0, sampling_rate / 2)`` or with ``low >= high``.

    Examples
    --------
    >>> t = np.arange(3000) / 15000.0
    >>> x = np.stack([np.sin(2 * np.pi * 50 * t) + np.sin(2 * np.pi * 1000 * t)], axis=1)
    >>> y = bandpass(x, 15000.0)
    >>> round(float(np.std(y[500:-500])), 2)  # the 50 Hz hum is gone, the 1 kHz tone (std 0.71) stays
    0.71
    """
    low, high = (float(b) for b in band)
    nyquist = sampling_rate / 2
    if not (0 < low < high < nyquist):
        raise InputError(
            f"band: got {low:g}-{high:g} Hz at a sampling rate of {sampling_rate:g} Hz; "
            f"expected 0 < low < high < {nyquist:g} Hz (half the sampling rate)"
        )
    from scipy.signal import butter, sosfiltfilt

    sos = butter(order, [low, high], btype="bandpass", fs=sampling_rate, output="sos")
    return sosfiltfilt(sos, np.asarray(data, dtype=np.float64), axis=0)


def robust_noise(data) -> np.ndarray:
    """Noise standard deviation of each channel from its median absolute deviation.

    Parameters
    ----------
    data : array_like, shape (T, N)
        Time-first signal (band-passed: its median is near 0).

    Returns
    -------
    ndarray, shape (N,), float64
        ``1.4826 * median(|x - median(x)|)`` per channel; the standard deviation for Gaussian noise,
        barely raised by sparse spikes.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(0, 2.0, (20000, 2))
    >>> x[::100, 0] += 50.0  # one large spike every 100 samples
    >>> np.round(robust_noise(x), 1)
    array([2., 2.])
    """
    x = np.asarray(data, dtype=np.float64)
    return MAD_TO_STD * np.median(np.abs(x - np.median(x, axis=0)), axis=0)


def whitening_matrix(scaled, quiet: float = 4.0) -> np.ndarray:
    """ZCA whitening matrix of noise-scaled channels, from the samples without spikes.

    Parameters
    ----------
    scaled : array_like, shape (T, N)
        Channels divided by their noise (:func:`robust_noise`).
    quiet : float
        Samples where any channel exceeds this many noise units are left out of the covariance.

    Returns
    -------
    ndarray, shape (N, N)
        Symmetric ``C^(-1/2)`` of the noise covariance ``C``: ``scaled @ W`` has identity noise
        covariance and stays as close as possible to ``scaled`` (each whitened channel is still mostly
        its own wire).

    Raises
    ------
    InputError
        Fewer quiet samples than ``10 N``, or a noise covariance that is not positive definite
        (a channel copying another, a dead channel).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> common = rng.normal(size=(50000, 1))
    >>> x = rng.normal(size=(50000, 3)) + common   # correlated noise
    >>> w = whitening_matrix(x / x.std(0))
    >>> np.allclose(np.cov((x / x.std(0) @ w).T), np.eye(3), atol=0.02)
    True
    """
    x = np.asarray(scaled, dtype=np.float64)
    keep = (np.abs(x) < quiet).all(axis=1)
    n = x.shape[1]
    if keep.sum() < 10 * n:
        raise InputError(
            f"data: only {int(keep.sum())} samples below {quiet:g} noise units on every channel; "
            f"expected at least {10 * n} quiet samples to estimate the noise covariance"
        )
    quiet_x = x[keep] - x[keep].mean(axis=0)
    cov = quiet_x.T @ quiet_x / (len(quiet_x) - 1)
    values, vectors = np.linalg.eigh(cov)
    if values[0] <= 1e-6 * values[-1]:
        raise InputError(
            "data: the noise covariance of the channels is singular (a dead channel, or one copying another); "
            "expected channels with independent noise"
        )
    return (vectors / np.sqrt(values)) @ vectors.T


@dataclass
class ExtracellularSignal:
    """A recording band-passed and whitened for spike sorting (:func:`preprocess_extracellular`).

    Attributes
    ----------
    whitened : ndarray, shape (T, N), float32
        ``(filtered / noise) @ whitening``: noise about 1 on every channel, uncorrelated across them.
    filtered : ndarray, shape (T, N), float32
        The band-passed recording in the input's units (its offset removed).
    offset : ndarray, shape (N,)
        Median of each input channel (the ADC offset), subtracted before filtering.
    noise : ndarray, shape (N,)
        Noise standard deviation of each filtered channel, in the input's units.
    whitening : ndarray, shape (N, N)
        ZCA matrix applied to the noise-scaled channels.
    sampling_rate : float
        Hz.
    band : (float, float)
        The pass band in Hz.
    """

    whitened: np.ndarray
    filtered: np.ndarray
    offset: np.ndarray
    noise: np.ndarray
    whitening: np.ndarray
    sampling_rate: float
    band: tuple[float, float]

    def to_input_units(self, whitened) -> np.ndarray:
        """Map whitened waveforms ``(..., N)`` back to the input's units (undo the ZCA and the noise scaling)."""
        return np.asarray(whitened) @ np.linalg.inv(self.whitening) * self.noise


def preprocess_extracellular(
    data, sampling_rate: float, band: tuple[float, float] = (300.0, 5000.0), *, quiet: float = 4.0
) -> ExtracellularSignal:
    """Offset removal, zero-phase band-pass, robust noise scaling and ZCA whitening.

    Parameters
    ----------
    data : array_like, shape (T, N)
        Time-first extracellular recording (ADC units or volts).
    sampling_rate : float
        Hz.
    band : (float, float)
        Pass band in Hz (:func:`bandpass`).
    quiet : float
        Noise units above which a sample is left out of the noise covariance (:func:`whitening_matrix`).

    Returns
    -------
    ExtracellularSignal

    Raises
    ------
    InputError
        Data that is not a finite (T, N) matrix, a band the sampling rate cannot hold, a channel
        without noise (constant), too few quiet samples or a singular noise covariance.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> raw = 2056 + rng.normal(0, 50, (30000, 4))
    >>> sig = preprocess_extracellular(raw, 15000.0)
    >>> np.round(sig.offset / 100), np.round(sig.noise / 10)  # offset near 2056, filtered noise near 40
    (array([21., 21., 21., 21.]), array([4., 4., 4., 4.]))
    >>> round(float(np.median(robust_noise(sig.whitened))), 1)
    1.0
    """
    x = validate_signal_matrix(data, "data", dtype=np.float64)
    offset = np.median(x, axis=0)
    filtered = bandpass(x - offset, sampling_rate, band)
    noise = robust_noise(filtered)
    flat = np.flatnonzero(noise <= 0)
    if flat.size:
        raise InputError(f"data: channel {int(flat[0])} has no noise after band-pass; expected a live channel")
    scaled = filtered / noise
    whitening = whitening_matrix(scaled, quiet)
    return ExtracellularSignal(
        whitened=(scaled @ whitening).astype(np.float32),
        filtered=filtered.astype(np.float32),
        offset=offset,
        noise=noise,
        whitening=whitening,
        sampling_rate=float(sampling_rate),
        band=(float(band[0]), float(band[1])),
    )
