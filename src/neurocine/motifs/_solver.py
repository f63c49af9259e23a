"""neurocine's Conv-NMF solver (``solver="default"``): vectorised MAP coordinate ascent.

Model: ``X (N x T) = sum_k a_k (*) W_k + N(0, sigma^2)``, unit-norm templates
``W_k (N x D)`` (signed rank-R, or nonnegative full-rank), nonnegative
amplitudes with an exponential prior of rate ``amp_rate`` and spikes of one
unit at least ``D`` samples apart.

What it changes with respect to the notebook's solver (``solver="seed"``):

* amplitudes are the MAP values ``max(0, score - amp_rate * sigma^2)`` (for a
  unit-norm template and non-overlapping spikes this is the exact maximiser
  of the posterior given the support), not the raw peak heights;
* spike supports come from a greedy non-maximum suppression computed on the
  device with ``max_pool1d`` (no CPU round trip);
* a unit's contribution is added to / removed from the residual by
  scattering its template at its spike times, and its template target is
  gathered from the residual at those times: the cost grows with the number
  of spikes, not with ``T * D``;
* templates are initialised (and units that lose all their spikes are
  re-seeded) from the windows of largest residual energy, not from random
  templates; several starts are run and the best posterior kept.

All arrays here are channel-first ``(N, T)`` torch tensors on one device; the
estimator in :mod:`neurocine.motifs.convnmf` converts from the public
time-first layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F


@dataclass
class SolverState:
    """Templates, spike supports and residual of one fit (channel-first)."""

    templates: torch.Tensor            # (K, N, D)
    times: list[torch.Tensor]          # per unit: spike sample indices (long)
    amps: list[torch.Tensor]           # per unit: amplitudes (same length as times)
    residual: torch.Tensor             # (N, T + D): data - prediction, zero beyond T
    log_likelihoods: list[float] = field(default_factory=list)
    objective: float = -math.inf
    min_amp: float = 0.0               # smallest amplitude worth a spike (spike cost)
    n_iter: int = 0
    converged: bool = False

    @property
    def n_timesteps(self) -> int:
        return self.residual.shape[1] - self.templates.shape[2]

    def dense_amplitudes(self) -> torch.Tensor:
        """Amplitudes as a dense (K, T) tensor."""
        k_units = self.templates.shape[0]
        out = torch.zeros(k_units, self.n_timesteps, dtype=self.residual.dtype, device=self.residual.device)
        for k in range(k_units):
            out[k, self.times[k]] = self.amps[k]
        return out


# --------------------------------------------------------------------------- #
# template projections
# --------------------------------------------------------------------------- #
def project_template(target: torch.Tensor, rank: int | None, nonnegative: bool) -> torch.Tensor:
    """Unit-norm template closest to ``target`` (N, D) in the allowed set.

    Maximises ``<target, W>`` subject to ``||W||_F = 1`` and either
    ``rank(W) <= rank`` (truncated SVD) or ``W >= 0`` (positive part). A zero
    target gives a zero template.
    """
    if nonnegative:
        w = target.clamp(min=0)
    elif rank is None or rank >= min(target.shape):
        w = target
    else:
        u, s, vh = torch.linalg.svd(target, full_matrices=False)
        w = (u[:, :rank] * s[:rank]) @ vh[:rank]
    norm = torch.linalg.norm(w)
    return w / norm if norm > 0 else torch.zeros_like(w)


def template_factors(template: torch.Tensor, rank: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Factors ``(U (N, R), V (R, D))`` with ``U @ V == template`` (R = rank or full)."""
    n, d = template.shape
    r = min(n, d) if rank is None else min(rank, n, d)
    u, s, vh = torch.linalg.svd(template, full_matrices=False)
    return u[:, :r].contiguous(), (s[:r, None] * vh[:r]).contiguous()


# --------------------------------------------------------------------------- #
# scores, supports, residual updates
# --------------------------------------------------------------------------- #
def unit_score(residual: torch.Tensor, template: torch.Tensor, rank: int | None) -> torch.Tensor:
    """``score[t] = <residual[:, t:t+D], W>`` for t < T, shape (T,).

    Uses the low-rank factors when they are cheaper than a full convolution.
    """
    n, d = template.shape
    t_len = residual.shape[1] - d
    r = min(n, d) if rank is None else min(rank, n, d)
    if r * (n + d) < n * d:
        u, v = template_factors(template, rank)
        projected = u.T @ residual                               # (R, T + D)
        score = F.conv1d(projected.unsqueeze(0), v.unsqueeze(0))[0, 0]
    else:
        score = F.conv1d(residual.unsqueeze(0), template.unsqueeze(0))[0, 0]
    return score[:t_len]


def pick_spikes(score: torch.Tensor, threshold: float, min_distance: int) -> torch.Tensor:
    """Greedy highest-first selection of peaks above ``threshold`` at least ``min_distance`` apart.

    Equivalent to repeatedly taking the highest remaining candidate and
    discarding all candidates closer than ``min_distance``; done in a few
    vectorised rounds of non-maximum suppression (``max_pool1d``).

    Returns the sorted sample indices (long tensor).
    """
    t_len = score.shape[0]
    alive = score > threshold
    if min_distance <= 1 or t_len < 2:
        return torch.nonzero(alive).flatten()
    kernel = 2 * min_distance - 1
    neg_inf = torch.tensor(-math.inf, dtype=score.dtype, device=score.device)
    kept = torch.zeros_like(alive)
    while bool(alive.any()):
        masked = torch.where(alive, score, neg_inf)
        local_max = F.max_pool1d(masked.view(1, 1, -1), kernel, stride=1, padding=min_distance - 1).view(-1)
        new = alive & (masked == local_max)
        # exact ties inside one window: keep only the earliest
        if bool(new.any()):
            idx = torch.nonzero(new).flatten()
            if idx.numel() > 1:
                close = (idx[1:] - idx[:-1]) < min_distance
                if bool(close.any()):
                    new = _drop_close_ties(new, idx, min_distance)
        kept |= new
        near = F.max_pool1d(new.to(score.dtype).view(1, 1, -1), kernel, stride=1,
                            padding=min_distance - 1).view(-1) > 0
        alive &= ~near
    return torch.nonzero(kept).flatten()


def _drop_close_ties(new: torch.Tensor, idx: torch.Tensor, min_distance: int) -> torch.Tensor:
    keep = [int(idx[0])]
    for i in idx[1:].tolist():
        if i - keep[-1] >= min_distance:
            keep.append(i)
    out = torch.zeros_like(new)
    out[torch.tensor(keep, device=new.device)] = True
    return out


def _window_index(times: torch.Tensor, d: int) -> torch.Tensor:
    return (times.unsqueeze(1) + torch.arange(d, device=times.device)).reshape(-1)


def add_unit(residual: torch.Tensor, template: torch.Tensor, times: torch.Tensor, amps: torch.Tensor,
             sign: float, observed: torch.Tensor | None = None) -> None:
    """``residual[:, t:t+D] += sign * a_t * W`` for every spike, in place (tail beyond T stays zero)."""
    if times.numel() == 0:
        return
    n, d = template.shape
    t_len = residual.shape[1] - d
    values = (sign * amps).view(-1, 1, 1) * template.unsqueeze(0)          # (S, N, D)
    residual.index_add_(1, _window_index(times, d), values.permute(1, 0, 2).reshape(n, -1))
    if int(times[-1]) > t_len - d:  # times are sorted: only the last spike can spill past T
        residual[:, t_len:] = 0
    if observed is not None:
        residual.mul_(observed)


def spike_target(residual: torch.Tensor, times: torch.Tensor, amps: torch.Tensor, d: int) -> torch.Tensor:
    """``sum_s a_s * residual[:, t_s:t_s+D]``, shape (N, D)."""
    n = residual.shape[0]
    windows = residual[:, _window_index(times, d)].view(n, -1, d)             # (N, S, D)
    return torch.einsum("s,nsd->nd", amps, windows)


def window_energy(residual: torch.Tensor, d: int) -> torch.Tensor:
    """Energy ``sum_n sum_{j<D} residual[n, t + j]^2`` of every window start t < T, shape (T,)."""
    t_len = residual.shape[1] - d
    e = torch.linalg.vector_norm(residual, dim=0).double() ** 2
    c = torch.cat([torch.zeros(1, dtype=e.dtype, device=e.device), torch.cumsum(e, 0)])
    return (c[d: d + t_len] - c[:t_len]).to(residual.dtype)


def robust_std(x: torch.Tensor) -> float:
    """Noise standard deviation from the median absolute deviation (1.4826 * MAD).

    Data that are mostly exact zeros (binned event counts) have a MAD of 0;
    then the plain standard deviation is used, and 1.0 for constant data.
    """
    flat = x.reshape(-1)
    if flat.numel() > 2_000_000:  # a strided subsample is plenty for a median
        flat = flat[:: flat.numel() // 2_000_000 + 1]
    med = flat.median()
    mad = float(1.4826 * (flat - med).abs().median())
    if mad > 0:
        return mad
    std = float(flat.std()) if flat.numel() > 1 else 0.0
    return std if std > 0 else 1.0


# --------------------------------------------------------------------------- #
# the fit
# --------------------------------------------------------------------------- #
@dataclass
class SolverConfig:
    n_components: int
    width: int
    rank: int | None
    nonnegative: bool
    amp_rate: float
    max_iter: int
    tol: float
    spike_prob: float = 0.01
    patience: int = 3
    pursuit_every: int = 0          # joint matching pursuit every n-th sweep (0: only to start)

    def spike_cost(self) -> float:
        """Log prior odds against a spike, ``log((1 - p) / p)`` (nats)."""
        p = self.spike_prob
        return math.log((1 - p) / p)


def all_scores(residual: torch.Tensor, templates: torch.Tensor, rank: int | None) -> torch.Tensor:
    """Scores of every unit at every start, ``(K, T)``: ``<residual[:, t:t+D], W_k>``."""
    k_units, n, d = templates.shape
    t_len = residual.shape[1] - d
    r = min(n, d) if rank is None else min(rank, n, d)
    if r * (n + d) < n * d:
        factors = [template_factors(w, rank) for w in templates]
        u = torch.cat([f[0].T for f in factors])                                 # (K R, N)
        v = torch.stack([f[1] for f in factors]).reshape(k_units * r, 1, d)      # (K R, 1, D)
        projected = (u @ residual).unsqueeze(0)                                  # (1, K R, T + D)
        score = F.conv1d(projected, v, groups=k_units * r)[0].view(k_units, r, -1).sum(1)
    else:
        score = F.conv1d(residual.unsqueeze(0), templates)[0]
    return score[:, :t_len]


def template_crosscorr(templates: torch.Tensor) -> torch.Tensor:
    """``X[j, k, l] = sum_{n,d} W_j[n, d] W_k[n, d + l - (D - 1)]``, shape (K, K, 2D - 1).

    Removing ``a * W_k`` at sample s lowers unit j's score at t by
    ``a * X[j, k, t - s + D - 1]`` (for ``|t - s| < D``).
    """
    d = templates.shape[-1]
    return F.conv1d(F.pad(templates, (d - 1, d - 1)), templates).permute(1, 0, 2).contiguous()


def matching_pursuit(state: SolverState, cfg: SolverConfig, shrinkage: float, detection: float,
                     observed: torch.Tensor | None, max_rounds: int = 500) -> None:
    """Find every unit's spikes jointly, from a residual holding no spikes.

    Rounds of: at each time the unit of largest score; greedy selection of
    non-overlapping (>= D apart) events by score among those above
    ``detection``; their MAP amplitudes ``score - shrinkage`` subtracted from
    the residual. A unit may not spike twice within D samples. Stops when no
    score exceeds ``detection``.

    Scores are computed once and then updated locally with the templates'
    cross-correlations (the last 2D samples, where templates are cut by the
    end of the data, are recomputed exactly). With a mask of observed
    entries, scores are recomputed each round instead.
    """
    k_units, n, d = state.templates.shape
    t_len = state.n_timesteps
    dev, dtype = state.residual.device, state.residual.dtype
    blocked = torch.zeros(k_units, t_len, dtype=torch.bool, device=dev)
    kernel = 2 * d - 1
    times = [[] for _ in range(k_units)]
    amps = [[] for _ in range(k_units)]
    xcorr = template_crosscorr(state.templates)                                  # (K, K, 2D - 1)
    offsets = torch.arange(-(d - 1), d, device=dev)
    tail = max(0, t_len - 2 * d)
    score = all_scores(state.residual, state.templates, cfg.rank)                # (K, T)
    zero = torch.zeros((), device=dev, dtype=dtype)
    for _ in range(max_rounds):
        candidate = torch.where((score > detection) & ~blocked, score, zero)
        best_score, best_unit = candidate.max(0)
        chosen = pick_spikes(best_score, 0.0, d)
        if chosen.numel() == 0:
            break
        units = best_unit[chosen]
        values = best_score[chosen] - shrinkage
        # subtract every chosen event from the residual (their windows are disjoint)
        contrib = (-values).view(-1, 1, 1) * state.templates[units]             # (S, N, D)
        state.residual.index_add_(1, _window_index(chosen, d), contrib.permute(1, 0, 2).reshape(n, -1))
        state.residual[:, t_len:] = 0
        if observed is not None:
            state.residual.mul_(observed)
            score = all_scores(state.residual, state.templates, cfg.rank)
        else:
            # local score update: score[:, s + l] -= a * X[:, k, l + D - 1]
            delta = (-values).view(-1, 1, 1) * xcorr[:, units, :].permute(1, 0, 2)  # (S, K, 2D - 1)
            idx = (chosen.view(-1, 1) + offsets.view(1, -1)).reshape(-1)
            valid = (idx >= 0) & (idx < t_len)
            score.index_add_(1, idx[valid], delta.permute(1, 0, 2).reshape(k_units, -1)[:, valid])
            score[:, tail:] = all_scores(state.residual[:, tail:], state.templates, cfg.rank)[:, : t_len - tail]
        mark = torch.zeros(k_units, t_len, dtype=dtype, device=dev)
        mark[units, chosen] = 1
        blocked |= F.max_pool1d(mark.unsqueeze(1), kernel, stride=1, padding=d - 1).squeeze(1) > 0
        for k in torch.unique(units).tolist():
            sel = units == k
            times[k].append(chosen[sel])
            amps[k].append(values[sel])
    for k in range(k_units):
        if times[k]:
            t_k = torch.cat(times[k])
            order = torch.argsort(t_k)
            state.times[k] = t_k[order]
            state.amps[k] = torch.cat(amps[k])[order]
        else:
            state.times[k] = torch.zeros(0, dtype=torch.long, device=dev)
            state.amps[k] = torch.zeros(0, dtype=dtype, device=dev)


def scores_at(residual: torch.Tensor, template: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """``<residual[:, t:t+D], W>`` at the given starts only, shape (S,)."""
    n, d = template.shape
    windows = residual[:, _window_index(times, d)].view(n, -1, d)
    return torch.einsum("nsd,nd->s", windows, template)


def _refine_unit(state: SolverState, k: int, cfg: SolverConfig, threshold: float, min_amp: float,
                 observed: torch.Tensor | None, update_template: bool = True) -> None:
    """Coordinate step for unit k: re-detect its spikes, best template, amplitudes again.

    Re-detection with the other units' spikes in place repairs overlaps that
    the greedy pursuit explained with the wrong unit or lag.
    """
    w = state.templates[k]
    add_unit(state.residual, w, state.times[k], state.amps[k], +1.0)
    score = unit_score(state.residual, w, cfg.rank)
    state.times[k] = pick_spikes(score, threshold + min_amp, cfg.width)
    if state.times[k].numel() > 0:
        amps = score[state.times[k]] - threshold
        if update_template:
            target = spike_target(state.residual, state.times[k], amps, cfg.width)
            new_w = project_template(target, cfg.rank, cfg.nonnegative)
            if torch.linalg.norm(new_w) > 0:
                state.templates[k] = new_w
        amps = scores_at(state.residual, state.templates[k], state.times[k]) - threshold
        keep = amps > min_amp
        state.times[k], state.amps[k] = state.times[k][keep], amps[keep]
    add_unit(state.residual, state.templates[k], state.times[k], state.amps[k], -1.0, observed)


def _update_amplitudes(state: SolverState, k: int, cfg: SolverConfig, threshold: float) -> None:
    score = unit_score(state.residual, state.templates[k], cfg.rank)
    times = pick_spikes(score, threshold + state.min_amp, cfg.width)
    state.times[k] = times
    state.amps[k] = score[times] - threshold


def _update_unit(state: SolverState, k: int, cfg: SolverConfig, threshold: float,
                 observed: torch.Tensor | None) -> None:
    """Single-unit step (used when seeding): add back, MAP amplitudes, best template, remove."""
    w = state.templates[k]
    add_unit(state.residual, w, state.times[k], state.amps[k], +1.0)
    _update_amplitudes(state, k, cfg, threshold)
    if state.times[k].numel() > 0:
        target = spike_target(state.residual, state.times[k], state.amps[k], cfg.width)
        new_w = project_template(target, cfg.rank, cfg.nonnegative)
        if torch.linalg.norm(new_w) > 0:
            state.templates[k] = new_w
    add_unit(state.residual, state.templates[k], state.times[k], state.amps[k], -1.0, observed)


def _seed_unit_from_residual(state: SolverState, k: int, cfg: SolverConfig, threshold: float,
                             generator: torch.Generator | None, taken: torch.Tensor | None = None,
                             candidates: int = 1) -> None:
    """Template of unit k from a high-energy window of the residual, then its spikes.

    With ``candidates > 1`` the window is drawn at random (prob. ~ energy^2)
    among the ``candidates`` best non-overlapping windows (used for restarts).
    """
    d = cfg.width
    energy = window_energy(state.residual, d)
    if taken is not None:
        energy = energy.masked_fill(taken, 0)
    if candidates > 1:
        tops = pick_spikes(energy, 0.0, d)
        if tops.numel() > candidates:
            tops = tops[torch.topk(energy[tops], candidates).indices]
        if tops.numel() == 0:
            return
        p = energy[tops].double() ** 2
        start = int(tops[torch.multinomial(p / p.sum(), 1, generator=generator)])
    else:
        start = int(torch.argmax(energy))
    window = state.residual[:, start: start + d]
    w = project_template(window, cfg.rank, cfg.nonnegative)
    if torch.linalg.norm(w) == 0:
        return
    state.templates[k] = w
    # a few amplitude/template steps on this unit alone make it a proper motif
    for _ in range(3):
        _update_unit(state, k, cfg, threshold, None)
    if taken is not None:
        lo, hi = max(0, start - d + 1), min(taken.numel(), start + d)
        taken[lo:hi] = True


def max_lagged_cosine(candidates: torch.Tensor, templates: torch.Tensor) -> torch.Tensor:
    """Largest cosine over lags ``|l| < D`` between each candidate and each template, (M, K)."""
    m, n, d = candidates.shape
    if templates.shape[0] == 0:
        return torch.zeros(m, 0, dtype=candidates.dtype, device=candidates.device)
    padded = F.pad(candidates, (d - 1, d - 1))
    corr = F.conv1d(padded, templates)                                          # (M, K, 2D - 1)
    norms = torch.linalg.norm(candidates.reshape(m, -1), dim=1).clamp(min=1e-12)
    tnorms = torch.linalg.norm(templates.reshape(templates.shape[0], -1), dim=1).clamp(min=1e-12)
    return corr.amax(-1) / (norms[:, None] * tnorms[None, :])


def _init_templates(state: SolverState, cfg: SolverConfig, generator: torch.Generator | None,
                    randomize: bool) -> None:
    """k-means++-style start: K distinct high-energy residual windows become the templates.

    Candidates are the (non-overlapping) windows of locally largest energy.
    Each next template is the candidate with the largest
    ``energy * (1 - max lagged cosine to the chosen templates)^2`` (drawn with
    that weight when ``randomize``), so similar motifs do not take two units
    and each unit starts from one motif, not from an average of several.
    """
    d, k_units = cfg.width, cfg.n_components
    energy = window_energy(state.residual, d)
    starts = pick_spikes(energy, 0.0, d)
    if starts.numel() == 0:
        return
    n_cand = min(starts.numel(), max(20 * k_units, 50))
    starts = starts[torch.topk(energy[starts], n_cand).indices]
    n = state.residual.shape[0]
    windows = state.residual[:, _window_index(starts, d)].view(n, -1, d).permute(1, 0, 2)
    cands = torch.stack([project_template(w, cfg.rank, cfg.nonnegative) for w in windows])
    weight_e = energy[starts].double()
    chosen: list[int] = []
    for k in range(k_units):
        sim = max_lagged_cosine(cands, state.templates[:k]).double()
        novelty = (1 - sim.clamp(min=0).amax(1)) if k > 0 else torch.ones_like(weight_e)
        weight = weight_e * novelty**2
        if chosen:
            weight[torch.tensor(chosen, device=weight.device)] = 0
        if float(weight.sum()) <= 0:
            break
        if randomize:
            i = int(torch.multinomial(weight / weight.sum(), 1, generator=generator))
        else:
            i = int(torch.argmax(weight))
        chosen.append(i)
        state.templates[k] = cands[i]


def _loglik(residual: torch.Tensor, t_len: int, sigma: float, observed: torch.Tensor | None) -> float:
    # the residual is kept at zero beyond T and on held-out entries: its full norm is the SSE
    sse = float(torch.linalg.vector_norm(residual)) ** 2
    count = residual.shape[0] * t_len if observed is None else float(observed[:, :t_len].sum())
    return -0.5 * sse / (count * sigma**2) - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def _objective(state: SolverState, sigma: float, amp_rate: float, spike_cost: float,
               observed: torch.Tensor | None) -> float:
    """Log posterior per observed entry (up to constants): log-likelihood minus the amplitude prior."""
    t_len = state.n_timesteps
    n = state.residual.shape[0]
    count = n * t_len if observed is None else float(observed[:, :t_len].sum())
    l1 = sum(float(a.sum()) for a in state.amps)
    n_spikes = sum(int(a.numel()) for a in state.amps)
    return (_loglik(state.residual, t_len, sigma, observed) - amp_rate * l1 / count
            - spike_cost * n_spikes / count)


def fit_one(data: torch.Tensor, cfg: SolverConfig, sigma: float, generator: torch.Generator | None,
            init_templates: torch.Tensor | None = None, random_init: bool = False,
            observed: torch.Tensor | None = None, progress_bar=None) -> SolverState:
    """One start of the coordinate ascent.

    Parameters
    ----------
    data : (N, T) tensor
    init_templates : (K, N, D) tensor or None
        Start from these templates; otherwise templates are seeded greedily
        from the residual (``random_init`` draws among the best windows).
    observed : (N, T + D) 0/1 tensor or None
        Mask of entries used for fitting (held-out entries are imputed by the
        model at every step, i.e. their residual is kept at zero).
    """
    n, t_len = data.shape
    d, k_units = cfg.width, cfg.n_components
    residual = torch.zeros(n, t_len + d, dtype=data.dtype, device=data.device)
    residual[:, :t_len] = data
    if observed is not None:
        residual.mul_(observed)
    empty_t = torch.zeros(0, dtype=torch.long, device=data.device)
    empty_a = torch.zeros(0, dtype=data.dtype, device=data.device)
    state = SolverState(templates=torch.zeros(k_units, n, d, dtype=data.dtype, device=data.device),
                        times=[empty_t] * k_units, amps=[empty_a] * k_units, residual=residual)
    threshold = amp_rate_threshold(cfg.amp_rate, sigma)
    state.min_amp = min_amp = sigma * math.sqrt(2 * cfg.spike_cost())

    if init_templates is not None:
        state.templates = init_templates.to(data.device, data.dtype).clone()
        matching_pursuit(state, cfg, threshold, threshold + min_amp, observed)
    else:
        _init_templates(state, cfg, generator, randomize=random_init)
        matching_pursuit(state, cfg, threshold, threshold + min_amp, observed)

    state.log_likelihoods = [_loglik(state.residual, t_len, sigma, observed)]
    previous_supports = None
    best_ll, stalled = state.log_likelihoods[0], 0
    for it in range(cfg.max_iter):
        # remove every spike, find them all again jointly, then refine unit by unit
        if cfg.pursuit_every and it % cfg.pursuit_every == 0:
            for k in range(k_units):
                add_unit(state.residual, state.templates[k], state.times[k], state.amps[k], +1.0)
            if observed is not None:
                state.residual.mul_(observed)
            matching_pursuit(state, cfg, threshold, threshold + min_amp, observed)
        for k in range(k_units):
            _refine_unit(state, k, cfg, threshold, min_amp, observed)
        # re-seed units left without spikes from the largest residual windows
        taken = torch.zeros(t_len, dtype=torch.bool, device=data.device)
        reseeded = False
        for k in range(k_units):
            if state.times[k].numel() == 0:
                _seed_unit_from_residual(state, k, cfg, threshold, generator, taken=taken)
                if observed is not None:
                    state.residual.mul_(observed)
                reseeded = True
        state.log_likelihoods.append(_loglik(state.residual, t_len, sigma, observed))
        state.n_iter = it + 1
        if progress_bar is not None:
            progress_bar.update(1)
        supports = [t.clone() for t in state.times]
        same = previous_supports is not None and all(
            a.shape == b.shape and bool((a == b).all()) for a, b in zip(supports, previous_supports))
        previous_supports = supports
        if reseeded:
            best_ll, stalled = -math.inf, 0
            continue
        if state.log_likelihoods[-1] > best_ll + cfg.tol:
            best_ll, stalled = state.log_likelihoods[-1], 0
        else:
            stalled += 1
        # converged: supports fixed, a step below tol, or no new best for `patience` sweeps
        if same or abs(state.log_likelihoods[-1] - state.log_likelihoods[-2]) < cfg.tol or stalled >= cfg.patience:
            state.converged = True
            break
    state.objective = _objective(state, sigma, cfg.amp_rate, cfg.spike_cost(), observed)
    return state


def amp_rate_threshold(amp_rate: float, sigma: float) -> float:
    """Score threshold ``amp_rate * sigma^2`` of the MAP amplitude (soft threshold)."""
    return float(amp_rate * sigma**2)


def _two_means(windows: torch.Tensor, weights: torch.Tensor, cfg: SolverConfig, n_iter: int = 10):
    """Split spike windows (S, N, D) into two groups by cosine; returns two templates or None."""
    s = windows.shape[0]
    flat = windows.reshape(s, -1)
    unit = flat / torch.linalg.norm(flat, dim=1, keepdim=True).clamp(min=1e-12)
    first = int(torch.argmax(weights))
    second = int(torch.argmin(unit @ unit[first]))
    centres = torch.stack([unit[first], unit[second]])
    labels = None
    for _ in range(n_iter):
        new_labels = torch.argmax(unit @ centres.T, dim=1)
        if labels is not None and bool((new_labels == labels).all()):
            break
        labels = new_labels
        if int(labels.sum()) in (0, s):
            return None
        for c in range(2):
            mean = (weights[labels == c, None] * flat[labels == c]).sum(0)
            centres[c] = mean / torch.linalg.norm(mean).clamp(min=1e-12)
    return [project_template(centres[c].view(windows.shape[1:]), cfg.rank, cfg.nonnegative) for c in range(2)]


def _split_move(state: SolverState, data: torch.Tensor, cfg: SolverConfig, sigma: float,
                observed: torch.Tensor | None, generator: torch.Generator | None,
                candidates: int = 3) -> SolverState | None:
    """Try splitting a strong unit's spikes in two, the second half replacing the weakest unit.

    Coordinate ascent cannot leave an optimum where one unit explains the
    events of two similar motifs; this move can. The refit is kept only if
    its posterior is higher. Returns the improved state or None.
    """
    k_units, n, d = state.templates.shape
    if k_units < 2:
        return None
    energy = torch.tensor([float((a.double() ** 2).sum()) for a in state.amps])
    weakest = int(torch.argmin(energy))
    order = [int(u) for u in torch.argsort(energy, descending=True) if int(u) != weakest][:candidates]
    for u in order:
        if state.times[u].numel() < 4:
            continue
        r = state.residual.clone()
        add_unit(r, state.templates[u], state.times[u], state.amps[u], +1.0)
        windows = r[:, _window_index(state.times[u], d)].view(n, -1, d).permute(1, 0, 2)
        halves = _two_means(windows, state.amps[u], cfg)
        if halves is None:
            continue
        templates = state.templates.clone()
        templates[u], templates[weakest] = halves
        trial = fit_one(data, cfg, sigma, generator, init_templates=templates, observed=observed)
        if trial.objective > state.objective + 1e-12:
            trial.log_likelihoods = state.log_likelihoods + trial.log_likelihoods[1:]
            trial.n_iter += state.n_iter
            return trial
    return None


def improve_by_splits(state: SolverState, data: torch.Tensor, cfg: SolverConfig, sigma: float,
                      observed: torch.Tensor | None, generator: torch.Generator | None) -> SolverState:
    """Apply improving split moves until none helps (at most K of them)."""
    for _ in range(cfg.n_components):
        better = _split_move(state, data, cfg, sigma, observed, generator)
        if better is None:
            break
        state = better
    return state


def fit_default(data: torch.Tensor, cfg: SolverConfig, *, noise_std: float | None, n_init: int,
                random_state: int | None, observed: torch.Tensor | None = None,
                init_templates: torch.Tensor | None = None, search_samples: int | None = 20_000,
                progress_bar=None) -> tuple[SolverState, float]:
    """Several starts, the best posterior kept and improved by split moves; returns (state, noise_std).

    With ``noise_std=None`` the noise is first taken as the robust (MAD)
    standard deviation of the data, which overestimates it where motifs are
    dense; after the search it is re-estimated from the best fit's residual
    and the fit is continued with it.

    When the data are longer than ``search_samples``, the starts and split
    moves run on a central block of that many samples and the best templates
    are then fitted to all the data.
    """
    n, t_len = data.shape
    gen_seed = 0 if random_state is None else int(random_state)
    generator = torch.Generator(device=data.device).manual_seed(gen_seed * 1000)

    def robust_residual_std(x: torch.Tensor, mask: torch.Tensor | None) -> float:
        return robust_std(x if mask is None else x[mask[:, : x.shape[1]] > 0])

    sigma = robust_residual_std(data, observed) if noise_std is None else float(noise_std)
    if init_templates is not None:
        best = fit_one(data, cfg, sigma, generator, init_templates=init_templates, observed=observed,
                       progress_bar=progress_bar)
    else:
        if search_samples is not None and t_len > max(search_samples, 4 * cfg.width):
            lo = (t_len - search_samples) // 2
            block = data[:, lo: lo + search_samples]
            block_obs = None
            if observed is not None:
                block_obs = torch.zeros(n, search_samples + cfg.width, dtype=data.dtype, device=data.device)
                block_obs[:, :search_samples] = observed[:, lo: lo + search_samples]
        else:
            block, block_obs = data, observed
        best = None
        for i in range(n_init):
            generator = torch.Generator(device=data.device).manual_seed(gen_seed * 1000 + i)
            state = fit_one(block, cfg, sigma, generator, random_init=i > 0, observed=block_obs,
                            progress_bar=progress_bar)
            if best is None or state.objective > best.objective:
                best = state
        best = improve_by_splits(best, block, cfg, sigma, block_obs, generator)
        if block is not data:
            best = fit_one(data, cfg, sigma, generator, init_templates=best.templates, observed=observed,
                           progress_bar=progress_bar)
    if noise_std is None:
        refined = robust_residual_std(best.residual[:, :t_len], observed)
        if refined > 0 and abs(refined - sigma) > 1e-3 * sigma:
            sigma = refined
            second = fit_one(data, cfg, sigma, generator, init_templates=best.templates, observed=observed,
                             progress_bar=progress_bar)
            second.log_likelihoods = best.log_likelihoods + second.log_likelihoods[1:]
            second.n_iter += best.n_iter
            best = second
    return best, sigma


def decode(data: torch.Tensor, templates: torch.Tensor, cfg: SolverConfig, sigma: float,
           sweeps: int = 5) -> torch.Tensor:
    """Amplitudes (K, T) of ``data`` (N, T) with the templates held fixed.

    Joint matching pursuit, then per-unit re-detection sweeps until the
    supports stop changing (at most ``sweeps``).
    """
    n, t_len = data.shape
    d, k_units = cfg.width, templates.shape[0]
    residual = torch.zeros(n, t_len + d, dtype=data.dtype, device=data.device)
    residual[:, :t_len] = data
    empty_t = torch.zeros(0, dtype=torch.long, device=data.device)
    empty_a = torch.zeros(0, dtype=data.dtype, device=data.device)
    state = SolverState(templates=templates.to(data.dtype).clone(), times=[empty_t] * k_units,
                        amps=[empty_a] * k_units, residual=residual)
    threshold = amp_rate_threshold(cfg.amp_rate, sigma)
    min_amp = sigma * math.sqrt(2 * cfg.spike_cost())
    matching_pursuit(state, cfg, threshold, threshold + min_amp, None)
    for _ in range(sweeps):
        before = [t.clone() for t in state.times]
        for k in range(k_units):
            _refine_unit(state, k, cfg, threshold, min_amp, None, update_template=False)
        if all(a.shape == b.shape and bool((a == b).all()) for a, b in zip(before, state.times)):
            break
    return state.dense_amplitudes()
