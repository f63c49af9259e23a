"""The Neural Screenomics notebook's MAP coordinate ascent (``solver="reference"``).

Faithful to the notebook, including what later solvers improve on: units
are updated one at a time; each unit's amplitudes are the *raw* heights of
``scipy.signal.find_peaks`` on its score (height >= noise_std^2 * amp_rate,
peaks >= D apart), computed on the CPU; a unit whose amplitudes sum to
less than 1 gets a fresh random template from
:func:`~neurocine.motifs.templates.generate_templates` (drawing from torch's global
generator); templates are the rank-R truncation of the target
``sum_t residual[:, t + d] a[t]`` rescaled to unit norm; iteration stops
after ``max_iter`` sweeps or when the per-entry log-likelihood changes by
less than ``tol``.

Arrays keep the notebook's layouts: data ``(N, T)``, amplitudes ``(K, T)``,
templates ``(K, N, D)``.
"""

from __future__ import annotations

import math

from scipy.signal import find_peaks

from neurocine.runtime import progress


def gaussian_loglik_per_entry(data, prediction, noise_std: float) -> float:
    """Mean Gaussian log density of ``data`` around ``prediction`` (std ``noise_std``)."""
    z = ((data - prediction) / noise_std) ** 2
    return float(-0.5 * z.mean() - math.log(noise_std) - 0.5 * math.log(2 * math.pi))


def _unit_contribution(footprint, profile, amplitude):
    """``U_k (V_k (*) a_k)``: one unit's prediction, shape (N, T)."""
    import torch.nn.functional as F

    t_len = amplitude.shape[-1]
    d = profile.shape[-1]
    rank = profile.shape[0]
    temporal = F.conv1d(
        amplitude.reshape(1, 1, t_len).expand(1, 1, t_len), profile.flip(-1).unsqueeze(1), padding=d - 1
    )[0, :, :t_len]  # (R, T)
    return footprint @ temporal.reshape(rank, t_len)


def _unit_score(footprint, profile, residual):
    """Cross-correlation of the projected residual with the unit's profile, shape (T,)."""
    import torch.nn.functional as F

    d = profile.shape[-1]
    projected = footprint.T @ residual  # (R, T)
    score = F.conv1d(projected.unsqueeze(0), profile.unsqueeze(0), padding=d - 1)[0, 0]
    return score[d - 1 :]


def _spike_triggered_target(residual, amplitude, d: int):
    """``target[n, j] = sum_t residual[n, t + j] * a[t]`` (zero beyond the end), shape (N, D)."""
    import torch
    import torch.nn.functional as F

    t_len = residual.shape[1]
    # lagged copies of the amplitude train (D, T), as the notebook builds its regressors
    lagged = F.conv1d(
        amplitude.reshape(1, 1, t_len),
        torch.eye(d, dtype=amplitude.dtype, device=amplitude.device).flip(-1).unsqueeze(1),
        padding=d - 1,
    )[0, :, :t_len]
    return residual @ lagged.T


def _rank_r_unit_norm(target, rank: int):
    """Best rank-R approximation of ``target`` scaled to unit Frobenius norm, as (footprint, profile)."""
    import torch

    u, s, vh = torch.linalg.svd(target, full_matrices=False)
    s = s[:rank]
    return u[:, :rank], (s / torch.linalg.norm(s)).unsqueeze(1) * vh[:rank]


def fit_reference(
    data,
    templates,
    *,
    rank: int = 1,
    noise_std: float = 1.0,
    amp_rate: float = 5.0,
    max_iter: int = 20,
    tol: float = 1e-6,
    verbose: bool = False,
):
    """Run the notebook's MAP coordinate ascent.

    Parameters
    ----------
    data : torch.Tensor (N, T)
    templates : torch.Tensor (K, N, D)
        Initial templates (the notebook draws them with ``generate_templates``).

    Returns
    -------
    templates : torch.Tensor (K, N, D)
    amplitudes : torch.Tensor (K, T)
    log_likelihoods : list of float (initial value, then one per sweep)
    converged : bool
    """
    import torch

    from neurocine.motifs.templates import convolve_templates, generate_templates

    k_units, n, d = templates.shape
    t_len = data.shape[1]
    device = data.device
    amplitudes = torch.zeros(k_units, t_len, device=device, dtype=data.dtype)
    residual = data - convolve_templates(amplitudes, templates)

    u, s, vh = torch.linalg.svd(templates, full_matrices=False)
    footprints = u[..., :rank].clone()
    profiles = (s[..., :rank].unsqueeze(-1) * vh[..., :rank, :]).clone()

    lls = [gaussian_loglik_per_entry(data, convolve_templates(amplitudes, templates), noise_std)]
    threshold = noise_std**2 * amp_rate
    converged = False
    for _ in progress(range(max_iter), total=max_iter, desc="reference solver", unit="sweep"):
        for k in range(k_units):
            residual += _unit_contribution(footprints[k], profiles[k], amplitudes[k])

            score = _unit_score(footprints[k], profiles[k], residual).cpu().numpy()
            peaks, props = find_peaks(score, height=threshold, distance=d)
            amplitudes[k] = 0
            amplitudes[k, torch.as_tensor(peaks, device=device)] = torch.as_tensor(
                props["peak_heights"], dtype=data.dtype, device=device
            )

            if amplitudes[k].sum() < 1:
                target = generate_templates(n, d, 1)[0].to(device)
            else:
                target = _spike_triggered_target(residual, amplitudes[k], d)
            footprints[k], profiles[k] = _rank_r_unit_norm(target, rank)

            residual -= _unit_contribution(footprints[k], profiles[k], amplitudes[k])
        templates = footprints @ profiles
        lls.append(gaussian_loglik_per_entry(data, convolve_templates(amplitudes, templates), noise_std))
        if abs(lls[-1] - lls[-2]) < tol:
            converged = True
            if verbose:
                print("Convergence detected!")
            break
    return templates, amplitudes, lls, converged
