"""The Conv-NMF model's templates and forward model, as the Neural Screenomics notebook writes them.

:func:`generate_templates` draws the notebook's templates from torch's global generator (the
reference solver starts from them; the simulator draws its data from them);
:func:`convolve_templates` is the forward model ``sum_k a_k (*) W_k``. Both keep the notebook's
layouts: templates ``(K, N, D)``, amplitudes ``(K, T)``, data ``(N, T)``.
"""

from __future__ import annotations

import math


def generate_templates(num_channels: int, len_waveform: int, num_neurons: int):
    """Random unit-norm rank-1 templates, drawn as the notebook draws them.

    Each template is ``outer(spatial, temporal) / norm`` with a Gaussian
    spatial footprint (centre ~ U(0, N), width ~ U(1, 1 + N/10)) and a
    temporal factor ``exp(-window * sin(2 pi t / P))`` with period
    ``P = D / U(1, 2)`` and a Gaussian window centred at ``0.75 P``.
    Three uniform draws per template, from torch's global generator.

    Returns
    -------
    torch.Tensor, shape (num_neurons, num_channels, len_waveform), float32
    """
    import torch
    from torch.distributions import Uniform

    n, d = num_channels, len_waveform
    channels = torch.arange(n)
    lags = torch.arange(d)
    out = torch.empty(num_neurons, n, d)
    for k in range(num_neurons):
        centre = Uniform(0.0, n).sample()
        width = Uniform(1.0, 1.0 + n / 10.0).sample()
        spatial = torch.exp(-0.5 * (channels - centre) ** 2 / width**2)

        period = d / Uniform(1.0, 2.0).sample()
        window = torch.exp(-0.5 * ((lags - 0.75 * period) / (0.25 * period)) ** 2)
        temporal = torch.exp(-(window * torch.sin(2 * math.pi * lags / period)))

        template = torch.outer(spatial, temporal)
        out[k] = template / torch.linalg.norm(template)
    return out


def convolve_templates(amplitudes, templates):
    """Model prediction ``sum_k a_k (*) W_k`` (causal: a spike at t fills t..t+D-1).

    Parameters
    ----------
    amplitudes : torch.Tensor, shape (K, T)
    templates : torch.Tensor, shape (K, N, D)

    Returns
    -------
    torch.Tensor, shape (N, T)
    """
    import torch.nn.functional as F

    d = templates.shape[-1]
    full = F.conv1d(amplitudes.unsqueeze(0), templates.permute(1, 0, 2).flip(-1), padding=d - 1)[0]
    return full[:, : amplitudes.shape[-1]]
