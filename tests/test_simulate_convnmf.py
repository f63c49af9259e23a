"""The Conv-NMF simulator reproduces the Neural Screenomics notebook's draws exactly.

The reference below is an independent, literal transcription of the
notebook's ``generate_templates`` / ``generate`` (same calls to the torch
generator, in the same order); the package's implementation must give
bit-identical templates, amplitudes and data for the same seed.
"""

import numpy as np
import pytest
import torch
import torch.distributions as dist
import torch.nn.functional as F
from scipy.signal import find_peaks

from neurocine.errors import InputError
from neurocine.motifs.simulate import generate, generate_templates, simulate_convnmf


def _notebook_templates(num_channels, len_waveform, num_neurons):
    out = []
    for _ in range(num_neurons):
        center = dist.Uniform(0.0, num_channels).sample()
        width = dist.Uniform(1.0, 1.0 + num_channels / 10.0).sample()
        spatial = torch.exp(-0.5 * (torch.arange(num_channels) - center) ** 2 / width**2)
        dt = torch.arange(len_waveform)
        period = len_waveform / (dist.Uniform(1.0, 2.0).sample())
        z = (dt - 0.75 * period) / (0.25 * period)
        temporal = torch.exp(-(torch.exp(-0.5 * z**2) * torch.sin(2 * torch.pi * dt / period)))
        template = torch.outer(spatial, temporal)
        out.append(template / torch.linalg.norm(template))
    return torch.stack(out)


def _notebook_generate(T, N, D, K, mean_amplitude, shape_amplitude, noise_std=1.0, sample_freq=1000):
    templates = _notebook_templates(N, D, K)
    amplitudes = torch.zeros((K, T))
    for k in range(K):
        num_spikes = dist.Poisson(T / sample_freq * 10.0).sample()
        shape = (1 + int(num_spikes),)
        times = dist.Categorical(torch.ones(T) / T).sample(shape)
        amps = dist.Gamma(shape_amplitude, shape_amplitude / mean_amplitude).sample(shape)
        amplitudes[k, times] = amps
        times, props = find_peaks(amplitudes[k], distance=D, height=1e-3)
        amplitudes[k] = 0
        amplitudes[k, times] = torch.tensor(props["peak_heights"], dtype=torch.float32)
    data = F.conv1d(amplitudes.unsqueeze(0), templates.permute(1, 0, 2).flip(dims=(2,)), padding=D - 1)[
        0, :, : -(D - 1)
    ]
    data += dist.Normal(0.0, noise_std).sample(data.shape)
    return templates, amplitudes, data


@pytest.mark.parametrize("seed,T,N,D,K", [(7, 600, 10, 10, 4), (0, 900, 12, 8, 3), (123, 400, 6, 15, 5)])
def test_generate_is_bit_identical_to_the_notebook(seed, T, N, D, K):
    torch.manual_seed(seed)
    ref = _notebook_generate(T, N, D, K, mean_amplitude=30.0, shape_amplitude=3.0)
    torch.manual_seed(seed)
    ours = generate(T, N, D, K, mean_amplitude=30.0, shape_amplitude=3.0)
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)


def test_generate_templates_consumes_the_generator_like_the_notebook():
    torch.manual_seed(11)
    ours = generate_templates(10, 10, 3)
    after_ours = torch.rand(5)
    torch.manual_seed(11)
    ref = _notebook_templates(10, 10, 3)
    after_ref = torch.rand(5)
    assert torch.equal(ours, ref)
    assert torch.equal(after_ours, after_ref)  # same number of draws


def test_seed_7_is_the_notebooks_data_set():
    sim = simulate_convnmf(7)
    assert sim.data.shape == (600, 10) and sim.templates.shape == (4, 10, 10) and sim.amplitudes.shape == (600, 4)
    assert int((sim.amplitudes > 0).sum()) == 33  # the issue: 33 true spikes
    assert sim.oracle_r2() == pytest.approx(0.877, abs=5e-4)
    # time-first public layout is the transpose of the notebook's (N, T)
    torch.manual_seed(7)
    _, amplitudes, data = _notebook_generate(600, 10, 10, 4, mean_amplitude=30.0, shape_amplitude=3.0)
    np.testing.assert_array_equal(sim.data, data.numpy().T)
    np.testing.assert_array_equal(sim.amplitudes, amplitudes.numpy().T)


def test_ground_truth_properties():
    sim = simulate_convnmf(5, timesteps=3000, width=12)
    norms = np.linalg.norm(sim.templates.reshape(sim.templates.shape[0], -1), axis=1)
    np.testing.assert_allclose(norms, 1.0, rtol=1e-5)
    for times in sim.spike_times:
        assert np.all(np.diff(times) >= 12)  # spikes of one unit at least D apart
    assert np.all(sim.amplitudes >= 0)


def test_noise_free_data_equal_the_model():
    sim = simulate_convnmf(2, noise_std=0.0)
    assert sim.oracle_r2() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(width=600),
        dict(neurons=0),
        dict(channels=-1),
        dict(alpha=0.0),
        dict(noise_std=float("nan")),
        dict(timesteps=2.5),
    ],
)
def test_bad_parameters_raise_input_error(kwargs):
    with pytest.raises(InputError):
        simulate_convnmf(0, **kwargs)


def test_negative_seed_is_rejected():
    with pytest.raises(InputError, match="seed"):
        simulate_convnmf(-3)


def test_a_time_drawn_twice_keeps_its_last_height_at_any_length():
    """Long simulations draw repeated spike times; the notebook's assignment keeps the last draw.

    torch's index_put splits long index lists over threads and then keeps an arbitrary one of the
    repeated times' heights, so without care T = 10^6 gave different data for the same seed.
    """
    t_len, d = 400_000, 5
    torch.manual_seed(3)
    _, amplitudes, _ = generate(t_len, 1, d, 2, noise_std=0.0)
    torch.manual_seed(3)
    _notebook_templates(1, d, 2)  # the same draws, replayed one by one
    for k in range(2):
        n_spikes = int(dist.Poisson(t_len / 1000 * 10.0).sample())
        times = dist.Categorical(torch.ones(t_len) / t_len).sample((1 + n_spikes,))
        heights = dist.Gamma(3.0, 3.0 / 15.0).sample((1 + n_spikes,))
        assert times.numel() - torch.unique(times).numel() > 10  # repeated times do occur
        row = np.zeros(t_len, np.float32)
        for t, h in zip(times.tolist(), heights.numpy()):
            row[t] = h  # sequential: the last draw wins
        kept, props = find_peaks(row, distance=d, height=1e-3)
        expected = np.zeros(t_len, np.float32)
        expected[kept] = props["peak_heights"]
        np.testing.assert_array_equal(amplitudes[k].numpy(), expected)
