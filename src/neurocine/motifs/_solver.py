"""neurocine's Conv-NMF solver (``solver="default"``): vectorised MAP coordinate ascent.

Model: ``X (N x T) = sum_k a_k (*) W_k + N(0, sigma^2)``, unit-norm templates
``W_k (N x D)`` (signed rank-R, or nonnegative full-rank), nonnegative
amplitudes with an exponential prior of rate ``amp_rate``, a spike-and-slab
cost per spike, and spikes of one unit at least ``D`` samples apart.

What it changes with respect to the notebook's solver (``solver="reference"``):

* amplitudes are the MAP values ``max(0, score - amp_rate * sigma^2)`` (for a
  unit-norm template and non-overlapping spikes this is the exact maximiser
  of the posterior given the support), not the raw peak heights;
* spike supports come from an exact greedy non-maximum suppression computed
  with sliding maxima on the device (no CPU round trip, O(T) per round);
* a unit's contribution is added to / removed from the residual by
  scattering its template at its spike times, and its template target is
  gathered from the residual at those times: the cost grows with the number
  of spikes, not with ``T * D``;
* the scores of all units are computed in one pass over the residual per
  sweep (one matrix product with the stacked low-rank factors) and then kept
  up to date *locally*: adding ``a * W_k`` at sample ``s`` changes unit j's
  score only at ``|t - s| < D``, by ``a`` times the templates'
  cross-correlation, so a unit's update costs ``O(spikes * K * D)`` instead
  of another pass over the data; with the templates held fixed (decoding,
  and the spikes settling on all the data after the search block) a sweep
  needs the scores alone, and the residual is updated once at the end;
* with rank-R templates on large data, sweeps hold the residual as
  ``data - phi @ U`` (``phi`` the amplitudes convolved with the temporal
  factors, ``(T, K R)``): a unit's step rewrites its ``S D R`` entries of
  ``phi`` instead of scattering ``S D N`` numbers into the residual twice
  (see :func:`_factor_residual`);
* rank-1 templates (the default) are projected by a power iteration (matrix
  products only), not LAPACK's SVD (except tiny ones on CPU, where LAPACK is
  cheaper than the iteration's dispatch), and their factors are kept with them;
* the template step also tries small common shifts of the unit's spike
  times, which re-centres a template seeded off the motif;
* templates are learnt one at a time from the residual left by the previous
  ones (deflation) at the start, several starts are run and the best
  posterior kept; it is then improved by *moves* that coordinate ascent
  cannot make (re-splitting two similar units, re-seeding an expendable
  unit, splitting a strong one): see :func:`fit_default` for the stages.

Layout: the residual is kept **time-major**, ``(T + D, N)``, zero beyond T,
so that a spike's window ``residual[t:t+D]`` is one contiguous block (cheap
scatters and gathers) and the score pass is a plain matrix product. Scores
are channel-first ``(K, T)`` (one contiguous row per unit for the spike
picking). Everything is torch on one device; the host synchronises only
for the sizes of spike sets and loop conditions. Temporary buffers are
bounded (``_CHUNK`` elements), so memory stays at a few copies of the data,
never ``(K, N, T)`` or ``(K, T, D)``. On CPU a fit runs on one thread (see
:func:`single_thread`).

The channel-first helpers :func:`project_template`, :func:`all_scores`,
:func:`unit_score`, :func:`template_crosscorr` and :func:`pick_spikes` are
kept for direct use and tests.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch
import torch.nn.functional as F

_CHUNK = 1 << 23  # elements in one temporary buffer (32 MiB in float32)
_START_SWEEPS = 10  # sweeps of each start before the starts are compared
_STARTS = 10  # starts when n_init is None ...
_STARTS_LONG_DATA = 3  # ... and when the starts run on a search block of longer data
_TRIAL_SWEEPS = 5  # sweeps (over the units involved) of a trial move
_SEED_CANDIDATES = 10  # a randomised start draws each unit's seed window among this many best windows
_SEED_STEPS = 3  # single-unit steps that turn a seed window into a motif
_FACTOR_MIN_ENTRIES = 1 << 22  # smallest data (T N) whose residual is held factored in sweeps (_pays_to_factor)
_SPATIAL_EVERY = 3  # final sweeps on all the data update the spatial factors every third sweep (run_sweeps)
_LAPACK_MAX_WORK = 10_000  # largest batch * M * L * min(M, L) given to LAPACK's SVD on CPU (_top_singular_vectors)
_STACK_MIN_STARTS = 4  # starts run stacked in time (fit_stacked_starts) from this many starts ...
_STACK_MAX_SAMPLES = 100_000  # ... up to starts * T samples ...
_STACK_MAX_ENTRIES = 1 << 21  # ... and starts * T * N entries (beyond, stacking is no faster)


# --------------------------------------------------------------------------- #
# configuration and state
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
    change_tol: float = 1e-3  # converged when at most this fraction of the spikes changed in a sweep

    def spike_cost(self) -> float:
        """Log prior odds against a spike, ``log((1 - p) / p)`` (nats)."""
        p = self.spike_prob
        return math.log((1 - p) / p)


@dataclass
class SolverState:
    """Templates, spike supports, residual and scores of one fit.

    ``residual`` is time-major ``(T + D, N)`` (data minus prediction, zero
    beyond T, and on held-out entries between the EM steps of
    :func:`run_sweeps`). ``u``, ``v`` are the templates' low-rank factors
    (``templates[k] == u[k] @ v[k]``), or None when the templates are used
    whole (full rank / nonnegative). While ``model_phi``
    is set (inside :func:`run_sweeps`) ``residual`` is stale and the residual
    is ``data - model_phi @ U`` instead (:func:`_factor_residual`). ``score_buffer``
    holds ``score[k, t] = <residual[t:t+D], W_k>`` at column ``t + D - 1``;
    the ``D - 1`` columns of padding on both sides take the local updates
    that fall off the ends (see :func:`_shift_scores`).
    """

    templates: torch.Tensor  # (K, N, D)
    times: list[torch.Tensor]  # per unit: sorted spike sample indices (long)
    amps: list[torch.Tensor]  # per unit: amplitudes (same length as times)
    residual: torch.Tensor  # (T + D, N)
    u: torch.Tensor | None = None  # (K, N, R)
    v: torch.Tensor | None = None  # (K, R, D)
    score_buffer: torch.Tensor | None = None  # (K, T + 2D - 2)
    data: torch.Tensor | None = None  # (T, N) the data (a view), for the factored residual; with a mask,
    #                                    while it is held factored, the data imputed by the model (a copy)
    observed_data: torch.Tensor | None = None  # the data themselves meanwhile (see _factor_residual)
    model_phi: torch.Tensor | None = None  # (T + D, K R) while the residual is held factored (see run_sweeps)
    data_proj: torch.Tensor | None = None  # (T + D, K R) data @ U^T while the spatial factors are held
    segments: tuple[int, int] | None = None  # (stride, T) when starts are stacked in time (see _stack_starts);
    #                                            the score buffer then has one row per unit index k (all starts)
    log_likelihoods: list[float] = field(default_factory=list)
    objective: float = -math.inf
    min_amp: float = 0.0  # smallest amplitude worth a spike (spike cost)
    n_iter: int = 0
    converged: bool = False

    @property
    def width(self) -> int:
        return self.templates.shape[2]

    @property
    def n_timesteps(self) -> int:
        return self.residual.shape[0] - self.width

    @property
    def scores(self) -> torch.Tensor:
        """View ``(K, T)`` of the score buffer."""
        d = self.width
        return self.score_buffer[:, d - 1 : d - 1 + self.n_timesteps]

    def n_spikes(self) -> int:
        return sum(int(t.numel()) for t in self.times)

    def squared_error(self) -> float:
        """Squared error of the model on the observed entries."""
        return _sse(self.residual)

    def set_template(self, k: int, w: torch.Tensor, u: torch.Tensor | None, v: torch.Tensor | None) -> None:
        """Replace unit k's template and factors."""
        self.templates[k] = w
        if self.u is not None:
            self.u[k], self.v[k] = u, v

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
def _top_singular_vectors(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Leading singular vectors ``(u (..., M), v (..., L))`` of a batch of matrices ``(..., M, L)``.

    Power iteration on the smaller Gram matrix by repeated squaring (in
    float64, normalised at each step): ``G^32`` damps every other direction
    by ``(s_2 / s_1)^64``. Its column of largest norm (parallel to the
    leading eigenvector) is the starting vector of one plain power step.
    Only matrix products: for the many small problems of a fit this is much
    cheaper than LAPACK's SVD, and the same on CPU and GPU -- except for
    tiny matrices on CPU (``batch * M * L * min(M, L) <= _LAPACK_MAX_WORK``,
    e.g. 10 channels x 10 lags), where the ~25 products and norms cost more
    in dispatch than LAPACK's whole SVD.
    """
    m_rows, l_cols = a.shape[-2:]
    if a.device.type == "cpu" and a.numel() * min(m_rows, l_cols) <= _LAPACK_MAX_WORK:
        left, _, right = torch.linalg.svd(a, full_matrices=False)
        return left[..., :, 0], right[..., 0, :]
    work = a.double()
    flip = a.shape[-2] < a.shape[-1]  # iterate on the smaller Gram
    if flip:
        work = work.transpose(-1, -2)
    g = work.transpose(-1, -2) @ work
    tiny = torch.finfo(torch.float64).tiny
    m = g / torch.linalg.matrix_norm(g).clamp(min=tiny)[..., None, None]
    for _ in range(5):
        m = m @ m
        m = m / torch.linalg.matrix_norm(m).clamp(min=tiny)[..., None, None]
    col = torch.linalg.vector_norm(m, dim=-2).argmax(-1)
    x = g @ torch.take_along_dim(m, col[..., None, None], dim=-1)
    x = x / torch.linalg.vector_norm(x, dim=-2, keepdim=True).clamp(min=tiny)
    y = work @ x
    y = y / torch.linalg.vector_norm(y, dim=-2, keepdim=True).clamp(min=tiny)
    x, y = x[..., 0].to(a.dtype), y[..., 0].to(a.dtype)
    return (x, y) if flip else (y, x)


def uses_factors(cfg: SolverConfig, n: int) -> bool:
    """Whether templates are handled through rank-R factors (signed and R < min(N, D))."""
    return not cfg.nonnegative and cfg.rank is not None and cfg.rank < min(n, cfg.width)


def _project(
    target: torch.Tensor, rank: int | None, nonnegative: bool
) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Unit-norm templates closest to a batch of targets ``(..., N, D)``, with their factors.

    Maximises ``<target, W>`` subject to ``||W||_F = 1`` and either
    ``rank(W) <= rank`` (truncated SVD) or ``W >= 0`` (positive part). A zero
    target gives a zero template. Returns ``(W, U, V)`` with ``W == U @ V``
    when ``rank < min(N, D)`` (signed), else ``(W, None, None)``. Rank 1 (the
    default) uses :func:`_top_singular_vectors`, higher ranks LAPACK's SVD.
    """
    n, d = target.shape[-2:]
    if nonnegative or rank is None or rank >= min(n, d):
        w = target.clamp(min=0) if nonnegative else target
        norm = torch.linalg.matrix_norm(w)[..., None, None]
        return torch.where(norm > 0, w / norm.clamp(min=torch.finfo(w.dtype).tiny), 0.0), None, None
    if rank == 1:
        left, right = _top_singular_vectors(target)
        u, v = left[..., :, None], right[..., None, :]
        gain = (left[..., None, :] @ target @ right[..., :, None])[..., 0]  # s_1, (..., 1)
        u = u * (gain > 0).to(target.dtype)[..., None]  # zero target: zero template
    else:
        left, s, vh = torch.linalg.svd(target, full_matrices=False)
        s = s[..., :rank]
        norm = torch.linalg.vector_norm(s, dim=-1, keepdim=True)
        u = left[..., :rank] * (norm > 0).to(target.dtype)[..., None, :]
        v = (s / norm.clamp(min=torch.finfo(s.dtype).tiny))[..., :, None] * vh[..., :rank, :]
    return u @ v, u, v


# --------------------------------------------------------------------------- #
# residual scatter / gather (time-major residual (T + D, N))
# --------------------------------------------------------------------------- #
def _window_rows(times: torch.Tensor, d: int) -> torch.Tensor:
    return (times.unsqueeze(1) + torch.arange(d, device=times.device)).reshape(-1)


def _chunks(count: int, per_item: int):
    step = max(1, _CHUNK // max(1, per_item))
    return [slice(i, i + step) for i in range(0, count, step)]


def add_spikes(
    residual: torch.Tensor,
    times: torch.Tensor,
    amps: torch.Tensor,
    templates_tm: torch.Tensor,
    units: torch.Tensor | None = None,
    observed: torch.Tensor | None = None,
    segments: tuple[int, int] | None = None,
) -> None:
    """``residual[t_s:t_s+D] += amps_s * W^T`` for every spike s, in place.

    ``templates_tm`` is one time-major template ``(D, N)``, or ``(K, D, N)``
    with ``units`` giving each spike's unit. The part beyond T is cut (kept
    zero); held-out entries are zeroed again when ``observed`` is given.
    With ``segments=(stride, T)`` (starts stacked in time, :func:`_stack_starts`)
    each segment is cut at its own T.
    """
    d, n = templates_tm.shape[-2:]
    t_len = residual.shape[0] - d
    templates_tm = templates_tm.contiguous()
    for c in _chunks(times.numel(), d * n):
        if units is None:
            values = amps[c].view(-1, 1, 1) * templates_tm
        else:
            values = templates_tm.index_select(0, units[c]).mul_(amps[c].view(-1, 1, 1))
        residual.index_add_(0, _window_rows(times[c], d), values.view(-1, n))
    residual[t_len:] = 0
    if segments is not None:
        stride, seg_len = segments
        residual.view(-1, stride, n)[:, seg_len:] = 0
    if observed is not None:
        residual.mul_(observed)


def _windows(residual: torch.Tensor, starts: torch.Tensor, length: int) -> torch.Tensor:
    """Flattened windows ``residual[t:t+length]`` (S, length * N) at sorted starts; rows outside read as 0."""
    rows = _window_rows(starts, length)
    if starts.numel() == 0 or (int(starts[0]) >= 0 and int(starts[-1]) + length <= residual.shape[0]):
        return residual.index_select(0, rows).view(starts.numel(), -1)
    inside = (rows >= 0) & (rows < residual.shape[0])
    out = residual.index_select(0, rows.clamp(0, residual.shape[0] - 1))
    return (out * inside.unsqueeze(1)).view(starts.numel(), -1)


def spike_target(residual: torch.Tensor, starts: torch.Tensor, amps: torch.Tensor, length: int) -> torch.Tensor:
    """``sum_s a_s * residual[t_s:t_s+length]``, time-major (length, N), read in chunks."""
    n = residual.shape[1]
    acc = residual.new_zeros(length * n)
    for c in _chunks(starts.numel(), length * n):
        acc += amps[c] @ _windows(residual, starts[c], length)
    return acc.view(length, n)


def scores_at(residual: torch.Tensor, template: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """``<residual[t:t+D], W>`` at the given starts only, shape (S,), read in chunks."""
    n, d = template.shape
    flat = template.T.reshape(-1)
    parts = [_windows(residual, times[c], d) @ flat for c in _chunks(times.numel(), d * n)]
    return torch.cat(parts) if parts else residual.new_zeros(0)


def _row_energy(residual: torch.Tensor) -> torch.Tensor:
    """``||residual[t]||^2`` of every row in float64, from float32 row norms (see :func:`_sse`)."""
    return torch.linalg.vector_norm(residual, dim=1).double() ** 2


def window_energy(residual: torch.Tensor, d: int) -> torch.Tensor:
    """Energy ``sum_{j<D} ||residual[t + j]||^2`` of every window start t < T, shape (T,)."""
    t_len = residual.shape[0] - d
    e = _row_energy(residual)
    c = torch.cat([e.new_zeros(1), torch.cumsum(e, 0)])
    return (c[d : d + t_len] - c[:t_len]).to(residual.dtype)


def robust_std(x: torch.Tensor, mask: torch.Tensor | None = None, fallback: bool = False) -> float:
    """Noise standard deviation from the median absolute deviation (1.4826 * MAD).

    ``x`` is (T, N) with any strides; rows are subsampled to about two
    million entries (plenty for a median) before anything is copied. With
    ``mask`` (rows aligned with ``x``, > 0 where observed) only observed
    entries count. The MAD is 0 when most entries are equal (zero-inflated
    data); with ``fallback`` the standard deviation is returned instead.
    """
    step = x.shape[0] * x.shape[1] // 2_000_000 + 1
    rows = x[::step]
    flat = rows[mask[: x.shape[0] : step] > 0] if mask is not None else rows.reshape(-1)
    med = flat.median()
    mad = float(1.4826 * (flat - med).abs().median())
    return float(flat.std()) if fallback and mad == 0 and flat.numel() > 1 else mad


# --------------------------------------------------------------------------- #
# the residual held factored: data - phi @ U (rank-R templates)
# --------------------------------------------------------------------------- #
def _stacked_u(state: SolverState) -> torch.Tensor:
    """All units' spatial factors as rows, ``(K R, N)``: row ``k R + r`` is ``u[k][:, r]``."""
    k_units, n, r = state.u.shape
    return state.u.transpose(1, 2).reshape(k_units * r, n)


def _write_unit_phi(state: SolverState, k: int, times: torch.Tensor, amps: torch.Tensor | None) -> None:
    """Unit k's temporal factors ``amps_s * V_k`` at its spikes into ``model_phi`` (``amps=None``: zeros).

    The model is ``phi @ U`` with ``phi[t_s + j, k R + r] = a_s V_k[r, j]``
    (one unit's windows are disjoint, so its entries are written, not
    added). Rows at or beyond T stay zero: the model is cut at the end of
    the data, as the scattered residual is (:func:`add_spikes`).
    """
    r, d = state.v.shape[1:]
    phi = state.model_phi.view(state.model_phi.shape[0], -1, r)
    rows = _window_rows(times, d)
    values = 0.0 if amps is None else (amps.view(-1, 1, 1) * state.v[k].T).reshape(-1, r)
    if times.numel() and int(times[-1]) + d > state.n_timesteps:
        keep = rows < state.n_timesteps
        rows = rows[keep]
        values = values if amps is None else values[keep]
    phi[rows, k] = values


def _factor_residual(state: SolverState, observed: torch.Tensor | None = None) -> None:
    """Hold the residual as ``data - model_phi @ U``: a unit's step then rewrites its ``phi`` rows.

    Its spikes are put back and removed by writing ``S D R`` numbers instead
    of scattering ``S D N`` into the residual, and its template target is
    gathered from the data minus the other units' part of the windows,
    ``(sum_s a_s phi[windows]) @ U`` (a ``(D, K R) x (K R, N)`` product): two
    of the three passes over ``S D N`` numbers of a unit step are saved.

    With a mask of ``observed`` entries (the residual zero on the others)
    ``data`` becomes the data imputed by the model, ``residual + phi @ U``
    (an EM step's complete data, see :func:`run_sweeps`), until
    :func:`_materialize_residual`.
    """
    k_units, r, d = state.v.shape
    state.model_phi = state.residual.new_zeros(state.n_timesteps + d, k_units * r)
    for k in range(k_units):
        _write_unit_phi(state, k, state.times[k], state.amps[k])
    if observed is not None:
        u_all, t_len = _stacked_u(state), state.n_timesteps
        imputed = torch.addmm(state.residual[:t_len], state.model_phi[:t_len], u_all)
        state.observed_data, state.data = state.data, imputed


def _reimpute(state: SolverState, observed: torch.Tensor) -> float:
    """Impute the held-out entries of the (factored) data with the model again; the observed entries' squared error.

    The start of the next EM step: the residual ``data - phi @ U`` is zeroed
    on the held-out entries. Row chunks; the squared error as :func:`_sse`.
    """
    u_all, t_len = _stacked_u(state), state.n_timesteps
    data, phi, observed = state.data, state.model_phi[:t_len], observed[:t_len]
    sse = 0.0
    for c in _chunks(t_len, data.shape[1]):
        model = phi[c] @ u_all
        residual = (data[c] - model).mul_(observed[c])
        sse += float(_row_energy(residual).sum())
        data[c] = model.add_(residual)
    return sse


def _pays_to_factor(state: SolverState) -> bool:
    """Whether to hold the residual factored: rank-R factors, N >= 4 K R and ``_FACTOR_MIN_ENTRIES`` data entries.

    The factors must be much narrower than the data for writing them to be
    cheaper than scattering templates; on small data the per-operation
    overhead, not memory traffic, dominates a step and the extra operations
    cost more than they save.
    """
    if state.u is None or state.data is None:
        return False
    k_units, n, r = state.u.shape
    return n >= 4 * k_units * r and state.data.numel() >= _FACTOR_MIN_ENTRIES


def _materialize_residual(state: SolverState, observed: torch.Tensor | None = None) -> None:
    """Recompute the residual ``data - phi @ U`` (in row chunks) and leave the factored form.

    With a mask (see :func:`_factor_residual`) the residual is zeroed on the
    held-out entries and ``data`` is the data again.
    """
    phi, state.model_phi = state.model_phi, None
    u_all = _stacked_u(state)
    t_len = state.n_timesteps
    residual, phi = state.residual[:t_len], phi[:t_len]
    for c in _chunks(t_len, residual.shape[1]):
        residual[c].copy_(state.data[c]).addmm_(phi[c], u_all, alpha=-1)
    if observed is not None:
        residual.mul_(observed[:t_len])
        state.data, state.observed_data = state.observed_data, None


def _residual_rows(state: SolverState, lo: int) -> torch.Tensor:
    """Rows ``lo:`` of the residual, ``(T + D - lo, N)``, also while it is held factored."""
    if state.model_phi is None:
        return state.residual[lo:]
    out = state.residual.new_zeros(state.residual.shape[0] - lo, state.residual.shape[1])
    out[: state.n_timesteps - lo] = state.data[lo:]
    return out.addmm_(state.model_phi[lo:], _stacked_u(state), alpha=-1)


def _project_data(state: SolverState) -> None:
    """Hold the spatial factors: ``data_proj = X U^T`` (T + D, K R), zero beyond T (see :func:`_temporal_step`)."""
    u_all = _stacked_u(state)
    state.data_proj = state.residual.new_zeros(state.residual.shape[0], u_all.shape[0])
    projected = state.data_proj[: state.n_timesteps]
    for c in _chunks(projected.shape[0], state.residual.shape[1]):
        torch.mm(state.data[c], u_all.T, out=projected[c])


def _factored_scores(state: SolverState) -> None:
    """:func:`_scores` of all units on the factored residual: its projections ``U X^T - (U U^T) phi^T``.

    ``U X^T`` is read from ``data_proj`` while the spatial factors are held
    (no pass over the data).
    """
    u_all = _stacked_u(state)
    gram = u_all @ u_all.T
    t_len = state.n_timesteps

    def project(lo: int, hi: int) -> torch.Tensor:
        projected = -(gram @ state.model_phi[lo:hi].T)  # phi is zero from row T on
        if state.data_proj is not None:
            return projected.add_(state.data_proj[lo:hi].T)
        top = min(hi, t_len)
        projected[:, : top - lo] += u_all @ state.data[lo:top].T
        return projected

    _correlate_projections(project, state.v, t_len, state.scores)


# --------------------------------------------------------------------------- #
# scores and their local updates
# --------------------------------------------------------------------------- #
def _correlate(x: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Grouped cross-correlation ``out[b, t] = sum_d x[b, t + d] * taps[b, d]``, shape (B, L - D + 1).

    Small problems use a matrix product on the (copied) sliding windows:
    ``conv1d`` has a large fixed cost on CPU (it always starts a parallel
    region, which is very slow when the cores are shared); large ones use
    ``conv1d``.
    """
    b, length = x.shape
    d = taps.shape[1]
    if b * (length - d + 1) * d <= _CHUNK:
        return (x.unfold(1, d, 1) @ taps.unsqueeze(-1)).squeeze(-1)
    return F.conv1d(x.unsqueeze(0), taps.unsqueeze(1), groups=b)[0]


def _scores(
    residual: torch.Tensor,
    templates: torch.Tensor,
    u: torch.Tensor | None = None,
    v: torch.Tensor | None = None,
    out: torch.Tensor | None = None,
) -> torch.Tensor:
    """Scores of every unit at every start, ``(K, L - D)``: ``<residual[t:t+D], W_k>``.

    ``residual`` is time-major ``(L, N)``. With factors the residual is
    projected on all units' ``U`` at once (one matrix product) and the
    projections are correlated with the ``V`` rows (:func:`_correlate`);
    otherwise one matrix product of the sliding windows ``(L - D, N * D)``
    with the flattened templates. Done in time chunks so that no temporary
    exceeds ``_CHUNK`` elements.
    """
    k_units, n, d = templates.shape
    t_len = residual.shape[0] - d
    if out is None:
        out = residual.new_empty(k_units, t_len)
    if u is not None:
        u_all = u.transpose(1, 2).reshape(-1, n)
        _correlate_projections(lambda lo, hi: u_all @ residual[lo:hi].T, v, t_len, out)
        return out
    flat = templates.reshape(k_units, n * d)
    step = max(1, _CHUNK // (n * d))
    for c0 in range(0, t_len, step):
        c1 = min(t_len, c0 + step)
        chunk = residual[c0 : c1 + d - 1]
        out[:, c0:c1] = (chunk.unfold(0, d, 1).reshape(c1 - c0, n * d) @ flat.T).T
    return out


def _correlate_projections(project, v: torch.Tensor, t_len: int, out: torch.Tensor) -> None:
    """``out[k, t] = sum_{r,j} P[k R + r, t + j] * v[k, r, j]`` for t < ``t_len``, in time chunks.

    ``project(lo, hi)`` returns the columns ``lo:hi`` of the projections
    ``P`` (K R, T + D - 1) of the residual on the units' spatial factors;
    chunks keep every temporary under ``_CHUNK`` elements.
    """
    k_units, r, d = v.shape
    v_all = v.reshape(k_units * r, d)
    step = max(d, _CHUNK // (k_units * r))
    for c0 in range(0, t_len, step):
        c1 = min(t_len, c0 + step)
        out[:, c0:c1] = _correlate(project(c0, c1 + d - 1), v_all).view(k_units, r, -1).sum(1)


def _crosscorr(
    templates: torch.Tensor, u: torch.Tensor | None, v: torch.Tensor | None, units: slice | int = slice(None)
) -> torch.Tensor:
    """``X[j, k, l] = sum_{n,d} W_j[n, d] W_k[n, d + l - (D - 1)]`` for all j and the given k.

    Shape (K, K', 2D - 1). Adding ``a * W_k`` at sample s raises unit j's
    score at ``t = s + l - (D - 1)`` by ``a * X[j, k, l]``. With factors
    ``X = sum_{r,r'} (U_j^T U_k)[r, r'] * xcorr(V_j[r], V_k[r'])`` (cheap);
    otherwise from the sliding windows of the padded templates (one unit at
    a time, to bound memory).
    """
    if isinstance(units, int):
        units = slice(units, units + 1)
    k_units, n, d = templates.shape
    if u is None:
        flat = templates.reshape(k_units, n * d)
        slides = [
            F.pad(w, (d - 1, d - 1)).unfold(1, d, 1).transpose(0, 1).reshape(2 * d - 1, n * d) @ flat.T
            for w in templates[units]
        ]  # (2D - 1, K) each
        return torch.stack(slides, 2).permute(1, 2, 0).contiguous()
    r = u.shape[2]
    ub, vb = u[units], v[units]
    kb = ub.shape[0]
    gram = torch.einsum("jnr,kns->jkrs", u, ub)  # (K, K', R, R)
    slides = F.pad(vb.reshape(kb * r, d), (d - 1, d - 1)).unfold(1, d, 1)  # (K' R, 2D - 1, D)
    corr = (slides.reshape(-1, d) @ v.reshape(k_units * r, d).T).view(kb, r, 2 * d - 1, k_units, r)
    return torch.einsum("jkrs,ksljr->jkl", gram, corr).contiguous()


def _shift_scores(
    state: SolverState,
    xcorr: torch.Tensor,
    times: torch.Tensor,
    amps: torch.Tensor,
    row0: int,
    units: torch.Tensor | None = None,
) -> None:
    """Local score update for adding ``amps_s * W`` at ``times_s``, on rows ``row0:`` of the scores.

    ``xcorr[j, k]`` (from :func:`_crosscorr`) is the cross-correlation of
    the added template k with the template of the unit of row ``row0 + j``;
    ``units`` gives each spike's k (default: the only column). ``times``
    are sorted. The buffer's padding takes the updates that fall off the
    ends, so no masking is needed. A spike in the last D samples is cut by
    the end of the data, which the cross-correlation ignores: the last D
    scores are then recomputed exactly.
    """
    rows, _, lags = xcorr.shape
    if rows == 0 or times.numel() == 0:
        return
    target = state.score_buffer[row0 : row0 + rows]
    lag = torch.arange(lags, device=times.device)
    for c in _chunks(times.numel(), rows * lags):
        x = xcorr if units is None else xcorr[:, units[c]]
        # one column index shared by the rows (3x faster than a flat index per element on CPU)
        target.index_add_(1, (times[c].view(-1, 1) + lag).view(-1), (amps[c].view(1, -1, 1) * x).view(rows, -1))
    if state.segments is not None:
        stride, seg_len = state.segments
        if bool((times % stride > seg_len - state.width).any()):
            _rescore_segment_tails(state)
    elif int(times[-1]) > state.n_timesteps - state.width:
        _rescore_tail(state)


def _rescore_tail(state: SolverState) -> None:
    """Recompute the last D scores exactly (their windows reach the cut-off end of the data)."""
    lo = max(0, state.n_timesteps - state.width)
    _scores(_residual_rows(state, lo), state.templates, state.u, state.v, out=state.scores[:, lo:])


def _rescore_segment_tails(state: SolverState) -> None:
    """:func:`_rescore_tail` of every segment of stacked starts: the last D scores before each segment's end.

    The windows of those scores (each segment's last ``2 D`` residual rows,
    the end cut) are gathered and scored in one pass.
    """
    stride, seg_len = state.segments
    d = state.width
    count = _n_starts(state)
    first = stride * torch.arange(count, device=state.residual.device) + max(0, seg_len - d)
    _score_segments(state, state.residual[_window_rows(first, 2 * d)].view(count, 2 * d, -1), first, min(d, seg_len))


def refresh_scores(state: SolverState, units: list[int] | None = None) -> None:
    """One full pass: scores of every unit (or of ``units``) on the current residual."""
    k_units, _, d = state.templates.shape
    if state.score_buffer is None:
        rows = k_units if state.segments is None else k_units // _n_starts(state)
        state.score_buffer = state.residual.new_zeros(rows, state.n_timesteps + 2 * d - 2)
    if state.model_phi is not None:  # only sweeps over all units hold it factored (run_sweeps)
        if units is not None:
            raise ValueError("refresh_scores: a subset of units with the residual held factored")
        _factored_scores(state)
        return
    if state.segments is not None:  # stacked starts: each unit in its own segment only
        _refresh_stacked_scores(state)
        return
    if units is None:
        _scores(state.residual, state.templates, state.u, state.v, out=state.scores)
        return
    u, v = (None, None) if state.u is None else (state.u[units], state.v[units])
    state.scores[units] = _scores(state.residual, state.templates[units], u, v)


def _unit_score(state: SolverState, k: int) -> torch.Tensor:
    """Score of unit k alone on the current residual, shape (T,)."""
    part = slice(k, k + 1)
    return _scores(
        state.residual,
        state.templates[part],
        None if state.u is None else state.u[part],
        None if state.v is None else state.v[part],
    )[0]


def project_template(target: torch.Tensor, rank: int | None, nonnegative: bool) -> torch.Tensor:
    """Unit-norm template(s) closest to ``target`` (..., N, D) in the allowed set (see :func:`_project`)."""
    return _project(target, rank, nonnegative)[0]


def all_scores(residual: torch.Tensor, templates: torch.Tensor, rank: int | None = None) -> torch.Tensor:
    """``<residual[:, t:t+D], W_k>`` for a channel-first residual (N, T + D), shape (K, T).

    Exact for any templates (``rank`` is accepted for compatibility; the
    fit itself uses the templates' factors, see :func:`_scores`).
    """
    return _scores(residual.T, templates)


def unit_score(residual: torch.Tensor, template: torch.Tensor, rank: int | None = None) -> torch.Tensor:
    """``<residual[:, t:t+D], W>`` for a channel-first residual (N, T + D), shape (T,)."""
    return _scores(residual.T, template.unsqueeze(0))[0]


def template_crosscorr(templates: torch.Tensor) -> torch.Tensor:
    """``X[j, k, l] = sum_{n,d} W_j[n, d] W_k[n, d + l - (D - 1)]``, (K, K, 2D - 1) (see :func:`_crosscorr`)."""
    return _crosscorr(templates, None, None)


# --------------------------------------------------------------------------- #
# spike picking
# --------------------------------------------------------------------------- #
def _window_max(x: torch.Tensor, w: int) -> torch.Tensor:
    """``max(x[i:i+w])`` for ``i <= len(x) - w`` in O(len) (van Herk / Gil-Werman block prefix/suffix maxima)."""
    blocks = -(-x.shape[0] // w)
    padded = x.new_full((blocks * w,), -math.inf)
    padded[: x.shape[0]] = x
    rows = padded.view(blocks, w)
    prefix = rows.cummax(1).values.view(-1)
    suffix = rows.flip(1).cummax(1).values.flip(1).reshape(-1)
    count = x.shape[0] - w + 1
    return torch.maximum(suffix[:count], prefix[w - 1 : w - 1 + count])


def pick_spikes(score: torch.Tensor, threshold: float, min_distance: int, peaks_only: bool = False) -> torch.Tensor:
    """Greedy highest-first selection of samples above ``threshold``, at least ``min_distance`` apart.

    Exactly "repeatedly take the highest remaining candidate (ties to the
    earliest) and discard the candidates closer than ``min_distance``",
    computed in vectorised rounds: a remaining candidate is taken when the
    remaining candidates within ``min_distance - 1`` before it are lower and
    those after it are not higher (sliding maxima in O(T)) -- no candidate
    that the greedy would take first can then discard it -- and the
    neighbourhoods of the candidates taken are discarded. Most are taken in
    the first round; a few more rounds take those left further away.

    Candidates are all samples above the threshold, or with ``peaks_only``
    only the local maxima of ``score`` (first sample of a plateau): the
    solver detects events at score peaks, not on the flank of a peak that
    was discarded.

    Returns the sorted sample indices (long tensor).
    """
    t_len = score.shape[0]
    alive = score > threshold
    if peaks_only and t_len > 1:
        alive[1:] &= score[1:] > score[:-1]
        alive[:-1] &= score[:-1] >= score[1:]
    candidates = torch.nonzero(alive).flatten()
    if min_distance <= 1 or t_len < 2:
        return candidates
    if candidates.numel() * min_distance <= 2 * t_len:  # few candidates: the sparse rounds are cheaper
        return _pick_among(candidates, score[candidates], min_distance)
    half = min_distance - 1
    edge = score.new_full((half,), -math.inf)
    no_pick = torch.zeros(half, dtype=torch.long, device=score.device)
    kept = []
    while True:
        masked = torch.where(alive, score, -math.inf)
        before_after = _window_max(torch.cat([edge, masked, edge]), half)  # (T + half + 1,)
        new = alive & (masked > before_after[:t_len]) & (masked >= before_after[half + 1 :])
        picks = torch.nonzero(new).flatten()
        if picks.numel() == 0:
            return torch.sort(torch.cat(kept)).values if kept else picks
        kept.append(picks)
        count = torch.cumsum(torch.cat([no_pick, new.long(), no_pick]), 0)  # picks up to each sample
        alive[1:] &= count[2 * half + 1 :] == count[: t_len - 1]  # none within reach
        alive[:1] &= count[2 * half : 2 * half + 1] == 0


def _pick_among(times: torch.Tensor, values: torch.Tensor, min_distance: int) -> torch.Tensor:
    """:func:`pick_spikes`'s greedy on a sparse candidate list (sorted ``times``, their ``values``).

    The same rounds as the dense version, over each candidate's neighbours
    (the candidates closer than ``min_distance``, at most ``min_distance - 1``
    on each side, gathered once) instead of sliding maxima over all samples:
    when candidates are few (score peaks above a threshold) this costs
    ``O(candidates * neighbours)`` per round instead of ``O(T)``.
    """
    count = times.numel()
    if count == 0:
        return times
    lo = torch.searchsorted(times, times - (min_distance - 1))
    hi = torch.searchsorted(times, times + (min_distance - 1), right=True)
    reach = int((hi - lo).max())
    if reach == 1:  # no two candidates closer than min_distance: all are taken
        return times
    self_idx = torch.arange(count, device=times.device).unsqueeze(1)
    idx = lo.unsqueeze(1) + torch.arange(reach, device=times.device)  # (C, reach)
    real = (idx < hi.unsqueeze(1)) & (idx != self_idx)
    idx = idx.clamp(max=count - 1)
    before, after = real & (idx < self_idx), real & (idx > self_idx)
    alive = torch.ones(count, dtype=torch.bool, device=times.device)
    taken = torch.zeros_like(alive)
    while True:
        masked = torch.where(alive, values, -math.inf)
        near = masked[idx]
        new = (
            alive
            & (masked > torch.where(before, near, -math.inf).amax(1))
            & (masked >= torch.where(after, near, -math.inf).amax(1))
        )
        if not bool(new.any()):
            return times[taken]
        taken |= new
        alive &= ~new & ~(new[idx] & real).any(1)


# --------------------------------------------------------------------------- #
# joint matching pursuit
# --------------------------------------------------------------------------- #
def matching_pursuit(
    state: SolverState,
    cfg: SolverConfig,
    shrinkage: float,
    detection: float,
    observed: torch.Tensor | None,
    units: list[int] | None = None,
    max_rounds: int = 500,
) -> None:
    """Find the spikes of ``units`` (default: all) jointly; the other units' spikes stay.

    ``units`` must hold no spikes (see :func:`_remove_units`). Rounds of: at
    each time the unit of largest score; greedy selection of non-overlapping
    (>= D apart) events by score among those above ``detection``; their MAP
    amplitudes ``score - shrinkage`` subtracted from the residual. A unit may
    not spike twice within D samples. Stops when no score exceeds
    ``detection``.

    Scores are computed once and then updated locally with the templates'
    cross-correlations (the last D samples, whose windows are cut by the end
    of the data, are recomputed exactly). With a mask of ``observed`` entries
    the rounds run on the data with the held-out entries imputed by the model
    at the start (an EM step, see :func:`run_sweeps`), and the held-out
    entries of the residual are zeroed again at the end.
    """
    k_units, n, d = state.templates.shape
    t_len = state.n_timesteps
    dev = state.residual.device
    units = list(range(k_units)) if units is None else list(units)
    refresh_scores(state)
    score = state.scores
    width = state.score_buffer.shape[1]
    blocked = torch.ones(score.shape[0], width, dtype=torch.bool, device=dev)  # same padding as the scores
    if state.segments is None:
        blocked[units] = False
        xcorr = _crosscorr(state.templates, state.u, state.v)  # (K, K, 2D-1)
    else:  # stacked starts: score row k is unit k of every start
        blocked[:, d - 1 : d - 1 + t_len] = torch.arange(t_len, device=dev) % state.segments[0] >= state.segments[1]
        xcorr = _stacked_crosscorr(state, torch.arange(k_units, device=dev))
    lag = torch.arange(2 * d - 1, device=dev)
    templates_tm = state.templates.transpose(1, 2)
    found_t, found_u, found_a = [], [], []
    for _ in range(max_rounds):
        candidate = torch.where((score > detection) & ~blocked[:, d - 1 : d - 1 + t_len], score, 0)
        best_score, best_unit = candidate.max(0)
        chosen = pick_spikes(best_score, 0.0, d, peaks_only=True)
        if chosen.numel() == 0:
            break
        row = best_unit[chosen]
        who = row if state.segments is None else row * _n_starts(state) + chosen // state.segments[0]
        values = best_score[chosen] - shrinkage
        add_spikes(state.residual, chosen, -values, templates_tm, units=who, segments=state.segments)
        _shift_scores(state, xcorr, chosen, -values, 0, units=who)
        blocked.view(-1)[(row * width).view(-1, 1) + chosen.view(-1, 1) + lag] = True
        found_t.append(chosen)
        found_u.append(who)
        found_a.append(values)
    if observed is not None:
        state.residual.mul_(observed)
    if found_t:
        t, u, a = torch.cat(found_t), torch.cat(found_u), torch.cat(found_a)
        order = torch.argsort(u * t_len + t)
        counts = torch.bincount(u, minlength=k_units).tolist()
        new_t, new_a = torch.split(t[order], counts), torch.split(a[order], counts)
    else:
        new_t = [torch.zeros(0, dtype=torch.long, device=dev)] * k_units
        new_a = [state.residual.new_zeros(0)] * k_units
    for k in units:
        state.times[k], state.amps[k] = new_t[k], new_a[k]


def _remove_units(state: SolverState, units, observed: torch.Tensor | None) -> None:
    """Put the spikes of ``units`` back into the residual and forget them."""
    for k in units:
        add_spikes(state.residual, state.times[k], state.amps[k], state.templates[k].T, observed=observed)
        state.times[k], state.amps[k] = state.times[k][:0], state.amps[k][:0]


# --------------------------------------------------------------------------- #
# per-unit coordinate steps
# --------------------------------------------------------------------------- #
def _template_step(
    state: SolverState,
    k: int,
    times: torch.Tensor,
    amps: torch.Tensor,
    cfg: SolverConfig,
    threshold: float,
    min_amp: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Best template of unit k for its spikes, with the best common shift of its spike times.

    With the unit's spikes in the residual and amplitudes fixed, the
    unit-norm template maximising ``<sum_s a_s residual[t_s:t_s+D], W>`` is
    the projection of that target; trying the targets of the spike times
    shifted by ``|l| <= D // 10`` samples (one wider gather) and keeping the
    largest gain also moves a template whose window is misaligned with the
    motif (seeded off-centre) towards the whole motif. Then the MAP
    amplitudes at the (shifted) times; spikes below ``min_amp`` are dropped.
    While the spatial factors are held (``data_proj``) only the temporal
    factor changes (:func:`_temporal_step`), else the whole template
    (:func:`_whole_template_step`). Returns the new (times, amps); the
    template is updated in place (unchanged, with the spikes, for a zero target).
    """
    step = _temporal_step if state.data_proj is not None else _whole_template_step
    moved = step(state, k, times, amps, cfg)
    if moved is None:
        return times, amps
    times, scores = moved
    keep = (scores - threshold > min_amp) & (times >= 0) & (times < state.n_timesteps)
    return times[keep], scores[keep] - threshold


def _best_shift(gain: torch.Tensor, lag: int) -> torch.Tensor:
    """Index of the largest gain among the ``2 lag + 1`` shifts (last dimension; batched over the others);
    no shift (``lag``) unless it is strictly larger."""
    return torch.where(gain.amax(-1) > gain[..., lag], gain.argmax(-1), lag)


def _whole_template_step(
    state: SolverState, k: int, times: torch.Tensor, amps: torch.Tensor, cfg: SolverConfig
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """:func:`_template_step` updating the whole template: (shifted times, new template's scores there) or None."""
    d = cfg.width
    lag = d // 10
    n = state.residual.shape[1]
    wide = (d + 2 * lag) * n
    factored = state.model_phi is not None  # residual = data - phi @ U, unit k's phi at zero
    source = state.data if factored else state.residual
    windows = _windows(source, times - lag, d + 2 * lag) if times.numel() * wide <= _CHUNK else None
    target = (
        (amps @ windows).view(-1, n) if windows is not None else spike_target(source, times - lag, amps, d + 2 * lag)
    )
    if factored:
        u_all = _stacked_u(state)
        phi_windows = _windows(state.model_phi, times - lag, d + 2 * lag).view(times.numel(), d + 2 * lag, -1)
        target = target - (amps @ phi_windows.flatten(1)).view(d + 2 * lag, -1) @ u_all
    stack = target.unfold(0, d, 1)  # (2 lag + 1, N, D)
    if state.u is not None:
        # gain of each shift: energy of the target in the current spatial subspace (a lower bound of the
        # projection's gain, tight once the spatial factor has settled); exact projection for the best only
        gain = torch.linalg.matrix_norm((target @ state.u[k]).unfold(0, d, 1))
    else:
        gain = torch.linalg.matrix_norm(stack.clamp(min=0) if cfg.nonnegative else stack)
    best = int(_best_shift(gain, lag))
    w, u, v = _project(stack[best], cfg.rank, cfg.nonnegative)
    if not float(torch.linalg.matrix_norm(w)) > 0:
        return None
    state.set_template(k, w, u, v)
    times = times + (best - lag)
    if windows is not None:
        scores = torch.einsum("sdn,nd->s", windows.view(-1, d + 2 * lag, n)[:, best : best + d], w)
    else:
        scores = scores_at(source, w, times)
    if factored:
        scores = scores - phi_windows[:, best : best + d].flatten(1) @ (u_all @ w).T.reshape(-1)
    return times, scores


def _temporal_step(
    state: SolverState, k: int, times: torch.Tensor, amps: torch.Tensor, cfg: SolverConfig
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """:func:`_template_step` with unit k's spatial factor ``U_k`` held: only ``V_k`` changes.

    With ``U_k`` fixed (orthonormal columns) the best unit-norm template is
    ``U_k V`` with ``V = U_k^T target / ||U_k^T target||``, and everything
    it needs lives in the residual projected on ``U_k``: its windows are
    those of ``data_proj`` minus ``phi @ (U U_k)`` -- ``S (D + 2 lag) K R``
    numbers instead of the ``S (D + 2 lag) N`` of the data's windows (the
    residual is held factored, unit k's ``phi`` at zero). The gain of each
    shift is the one :func:`_whole_template_step` ranks shifts by.
    """
    d = cfg.width
    lag = d // 10
    length = d + 2 * lag
    r = state.v.shape[1]
    count = times.numel()
    data_part = _windows(state.data_proj[:, k * r : (k + 1) * r], times - lag, length).view(count, length, r)
    model_part = _windows(state.model_phi, times - lag, length).view(count, length, -1) @ (
        _stacked_u(state) @ state.u[k]
    )
    projected = data_part - model_part  # (S, D + 2 lag, R)
    target = (amps @ projected.flatten(1)).view(length, r)  # U_k^T target, time-major
    best = int(_best_shift(torch.linalg.matrix_norm(target.unfold(0, d, 1)), lag))
    v = target[best : best + d].T
    norm = torch.linalg.matrix_norm(v)
    if not float(norm) > 0:
        return None
    v = v / norm
    state.set_template(k, state.u[k] @ v, state.u[k], v)
    return times + (best - lag), torch.einsum("sdr,rd->s", projected[:, best : best + d], v)


def _refine_unit(
    state: SolverState, k: int, cfg: SolverConfig, threshold: float, min_amp: float, update_template: bool = True
) -> torch.Tensor | None:
    """Coordinate step for unit k: re-detect its spikes, best template, amplitudes again.

    Re-detection with the other units' spikes in place repairs overlaps that
    the greedy pursuit explained with the wrong unit or lag. The detection
    score is the maintained one plus the unit's own contribution (a local
    update), and afterwards only the scores of the units still to come in
    this sweep (rows > k) are updated.

    While the residual is held factored (:func:`_factor_residual`) returns the
    change of the squared error (float64 scalar tensor; else None), in closed
    form as in :func:`_redetect_unit`: the new amplitudes are the new
    template's scores minus ``threshold``, so ``<R + c, c'> = sum a' (a' + threshold)``.
    """
    d, t_len = cfg.width, state.n_timesteps
    factored = state.model_phi is not None
    t_old, a_old = state.times[k], state.amps[k]
    x_old = _crosscorr(state.templates, state.u, state.v, k)[k:]  # (K - k, 1, 2D - 1)
    if factored:
        _write_unit_phi(state, k, t_old, None)
    else:
        add_spikes(state.residual, t_old, a_old, state.templates[k].T)
    _shift_scores(state, x_old, t_old, a_old, k)
    score = state.scores[k]
    change = _put_back_energy(state.templates[k], t_old, a_old, score[t_old], t_len) if factored else None
    times = pick_spikes(score, threshold + min_amp, d, peaks_only=True)
    amps = score[times] - threshold
    if update_template and times.numel() > 0:
        times, amps = _template_step(state, k, times, amps, cfg, threshold, min_amp)
    state.times[k], state.amps[k] = times, amps
    if factored:
        _write_unit_phi(state, k, times, amps)
        change = change - _put_back_energy(state.templates[k], times, amps, amps.double() + threshold, t_len)
    else:
        add_spikes(state.residual, times, -amps, state.templates[k].T)
    if k + 1 < state.templates.shape[0]:
        x_new = _crosscorr(state.templates, state.u, state.v, k)[k + 1 :]
        _shift_scores(state, x_new, times, -amps, k + 1)
    return change


def _contribution_energy(template: torch.Tensor, times: torch.Tensor, amps: torch.Tensor, t_len: int) -> torch.Tensor:
    """``||sum_s amps_s * W at times_s||^2`` for spikes of one unit (>= D apart: the windows are disjoint).

    A spike in the last D samples is cut by the end of the data: only the
    template's first ``T - t`` samples count. Float64 scalar tensor.
    """
    d = template.shape[1]
    energy = torch.cumsum((template.double() ** 2).sum(0), 0)  # energy of the first j + 1 samples
    return (amps.double() ** 2 * energy[(t_len - 1 - times).clamp(max=d - 1)]).sum()


def _put_back_energy(
    template: torch.Tensor, times: torch.Tensor, amps: torch.Tensor, scores: torch.Tensor, t_len: int
) -> torch.Tensor:
    """``||R + c||^2 - ||R||^2 = 2 <s, a> - ||c||^2`` for one unit's contribution c (float64 scalar).

    ``scores`` are the unit's scores on ``R + c`` at ``times`` (its own
    windows are disjoint, so ``<R + c, c> = sum a s``).
    """
    return 2 * (amps.double() @ scores.double()) - _contribution_energy(template, times, amps, t_len)


def _redetect_unit(
    state: SolverState, k: int, xcorr: torch.Tensor, threshold: float, min_amp: float, eager_from: int
) -> torch.Tensor:
    """Re-detect unit k's spikes with all templates fixed, on the maintained scores alone.

    The step of :func:`_refine_unit` without the template: the unit's
    contribution is added to the scores of all units (``xcorr`` is
    ``_crosscorr(...)[:, k:k+1]``), its spikes are picked again and their
    contribution removed. The residual, whose scatters dominate a sweep, is
    not updated -- except by spikes at or after ``eager_from`` (``T - 2D + 1``):
    their windows reach the end of the data, where the scores are recomputed
    from the residual (:func:`_shift_scores`). :func:`_settle_residual` applies
    the others once the sweeps are over.

    Returns the change of the squared error: with ``s`` the unit's score once
    its old contribution ``c`` is added back, ``||R + c||^2 = ||R||^2 + 2 <s, a> - ||c||^2``
    over the old spikes, and removing the new ones ``c'`` subtracts
    ``2 <s, a'> - ||c'||^2`` (the unit's own windows are disjoint).
    """
    t_len = state.n_timesteps
    template = state.templates[k]
    t_old, a_old = state.times[k], state.amps[k]
    tail = int(torch.searchsorted(t_old, eager_from))
    add_spikes(state.residual, t_old[tail:], a_old[tail:], template.T)
    _shift_scores(state, xcorr, t_old, a_old, 0)
    score = state.scores[k]
    times = pick_spikes(score, threshold + min_amp, state.width, peaks_only=True)
    amps = score[times] - threshold
    change = _put_back_energy(template, t_old, a_old, score[t_old], t_len) - _put_back_energy(
        template, times, amps, score[times], t_len
    )
    state.times[k], state.amps[k] = times, amps
    tail = int(torch.searchsorted(times, eager_from))
    add_spikes(state.residual, times[tail:], -amps[tail:], template.T)
    _shift_scores(state, xcorr, times, -amps, 0)
    return change


def _settle_residual(state: SolverState, times: list[torch.Tensor], amps: list[torch.Tensor], eager_from: int) -> None:
    """Bring the residual up to date after :func:`_redetect_unit` steps that started from spikes ``times``, ``amps``.

    Puts the old spikes before ``eager_from`` back and removes the new ones
    (those after it are already applied).
    """
    for k in range(state.templates.shape[0]):
        old = int(torch.searchsorted(times[k], eager_from))
        new = int(torch.searchsorted(state.times[k], eager_from))
        add_spikes(
            state.residual,
            torch.cat([times[k][:old], state.times[k][:new]]),
            torch.cat([amps[k][:old], -state.amps[k][:new]]),
            state.templates[k].T,
        )


def _update_unit(
    state: SolverState, k: int, cfg: SolverConfig, threshold: float, observed: torch.Tensor | None
) -> None:
    """Single-unit step (used when seeding): add back, MAP amplitudes, best template, remove."""
    add_spikes(state.residual, state.times[k], state.amps[k], state.templates[k].T, observed=observed)
    score = _unit_score(state, k)
    times = pick_spikes(score, threshold + state.min_amp, cfg.width, peaks_only=True)
    amps = score[times] - threshold
    if times.numel() > 0:
        times, amps = _template_step(state, k, times, amps, cfg, threshold, state.min_amp)
    state.times[k], state.amps[k] = times, amps
    add_spikes(state.residual, times, -amps, state.templates[k].T, observed=observed)


def _seed_unit_from_residual(
    state: SolverState,
    k: int,
    cfg: SolverConfig,
    threshold: float,
    generator: torch.Generator | None,
    taken: torch.Tensor,
    observed: torch.Tensor | None,
    candidates: int = 1,
) -> None:
    """Template of unit k from a high-energy window of the residual, then its spikes.

    The window is the one of largest energy, or with ``candidates > 1`` drawn
    (probability ~ energy^2) among the ``candidates`` best non-overlapping
    windows. Window starts marked in ``taken`` (used by earlier units) are
    skipped; this unit's window is added to them. A few single-unit steps
    then turn the window into a motif (the template becomes the average of
    the events it matches) and remove its spikes from the residual.
    """
    d = cfg.width
    energy = window_energy(state.residual, d).masked_fill(taken, 0)
    if candidates > 1:
        start = _draw_window(energy, pick_spikes(energy, 0.0, d), candidates, generator)
        if start is None:
            return
    else:
        start = int(torch.argmax(energy))
    w, u, v = _project(state.residual[start : start + d].T, cfg.rank, cfg.nonnegative)
    if float(torch.linalg.matrix_norm(w)) == 0:
        return
    state.set_template(k, w, u, v)
    for _ in range(_SEED_STEPS):
        _update_unit(state, k, cfg, threshold, observed)
    taken[max(0, start - d + 1) : start + d] = True


def _draw_window(
    energy: torch.Tensor, tops: torch.Tensor, candidates: int, generator: torch.Generator | None
) -> int | None:
    """One of the ``candidates`` highest-energy window starts among ``tops``, drawn with probability ~ energy^2.

    None when ``tops`` is empty.
    """
    if tops.numel() == 0:
        return None
    tops = tops[torch.topk(energy[tops], min(candidates, tops.numel())).indices]
    p = energy[tops].double() ** 2
    return int(tops[torch.multinomial(p / p.sum(), 1, generator=generator)])


def _init_by_deflation(state: SolverState, n_units: int, seed_unit) -> None:
    """Templates learnt one at a time, each from the residual left by the previous ones.

    With dense, overlapping spikes the raw windows of largest energy are
    mixtures of several motifs; seeding each unit after the previous units'
    events are explained (:func:`_seed_unit_from_residual`, or
    :func:`_group_seed` for stacked starts: ``seed_unit(k, taken)`` for k <
    ``n_units``) gives cleaner and more distinct starting templates. The
    spikes found on the way are dropped (the residual is reset): the caller
    finds them all again jointly.
    """
    data = state.residual.clone()
    taken = torch.zeros(state.n_timesteps, dtype=torch.bool, device=data.device)
    for k in range(n_units):
        seed_unit(k, taken)
    state.residual = data
    empty_t = torch.zeros(0, dtype=torch.long, device=data.device)
    state.times = [empty_t] * state.templates.shape[0]
    state.amps = [data.new_zeros(0)] * state.templates.shape[0]


# --------------------------------------------------------------------------- #
# sweeps
# --------------------------------------------------------------------------- #
def _sse(residual: torch.Tensor) -> float:
    """Squared error: the residual is kept at zero beyond T and on held-out entries, so its squared norm.

    Row norms in float32, their sum in float64: one float32 norm over ~10^7
    entries is off by ~10^-3 relative (more than the per-entry tolerance of
    the convergence test); casting everything to float64 is 20x slower.
    """
    return float(_row_energy(residual).sum())


def _loglik_of_sse(sse: float, count: float, sigma: float) -> float:
    """Gaussian log-likelihood per entry of ``count`` entries with squared error ``sse``."""
    return -0.5 * sse / (count * sigma**2) - math.log(sigma) - 0.5 * math.log(2 * math.pi)


def _objective(state: SolverState, cfg: SolverConfig, loglik: float, count: float) -> float:
    """Log posterior per observed entry (up to constants): log-likelihood ``loglik`` minus the amplitude prior."""
    l1 = float(torch.cat(state.amps).sum())
    return loglik - cfg.amp_rate * l1 / count - cfg.spike_cost() * state.n_spikes() / count


def _n_changed(before: list[torch.Tensor], after: list[torch.Tensor]) -> int:
    """Spikes added or removed between two supports (a moved spike counts twice)."""
    total = 0
    for a, b in zip(before, after):
        total += a.numel() + b.numel() - 2 * torch.isin(a, b).sum()
    return int(total)


def _progress(cfg: SolverConfig, loglik: float, best: float, stalled: int) -> tuple[float, int]:
    """After a sweep ending at ``loglik``: the best log-likelihood, and the sweeps in a row not beating it by tol."""
    return (loglik, 0) if loglik > best + cfg.tol else (best, stalled + 1)


def _settled(cfg: SolverConfig, before: list[torch.Tensor], after: list[torch.Tensor]) -> bool:
    """Whether a sweep changed at most a fraction ``cfg.change_tol`` of the spikes (:func:`_n_changed`)."""
    return _n_changed(before, after) <= cfg.change_tol * sum(int(t.numel()) for t in after)


def amp_rate_threshold(amp_rate: float, sigma: float) -> float:
    """Score threshold ``amp_rate * sigma^2`` of the MAP amplitude (soft threshold)."""
    return float(amp_rate * sigma**2)


def _thresholds(cfg: SolverConfig, sigma: float) -> tuple[float, float]:
    """(soft threshold of the amplitudes, smallest amplitude worth a spike)."""
    return amp_rate_threshold(cfg.amp_rate, sigma), sigma * math.sqrt(2 * cfg.spike_cost())


def run_sweeps(
    state: SolverState,
    cfg: SolverConfig,
    sigma: float,
    generator: torch.Generator | None,
    observed: torch.Tensor | None,
    progress_bar=None,
    update_template: bool = True,
    max_sweeps: int | None = None,
    units: list[int] | None = None,
    spatial_every: int = 1,
) -> None:
    """Coordinate-ascent sweeps over the units until convergence (at most ``cfg.max_iter``).

    A sweep refreshes all scores in one pass, refines every unit in turn
    (:func:`_refine_unit`; only ``units`` if given), and re-seeds units left
    without spikes from the largest residual windows. Converged when at most
    a fraction ``cfg.change_tol`` of the spikes appeared, disappeared or
    moved in the last sweep -- a criterion that does not loosen with the length of the
    data, unlike a per-entry likelihood change -- or when the log-likelihood
    has not beaten its best by more than ``cfg.tol`` per entry for
    ``cfg.patience`` sweeps (oscillations).

    With a mask of ``observed`` entries a sweep is an EM step: it runs on the
    data with the held-out entries imputed by the model at the start of the
    sweep (the residual there is zero then), and the held-out entries of the
    residual are zeroed again at its end. The complete-data posterior
    bounds the observed-data posterior from below and touches it at the
    sweep's start, so whatever the sweep gains in the one the other gains at
    least as much; the fixed points are the masked MAP's. The sweeps keep
    the local score updates of the unmasked case; scoring the masked
    residual exactly instead would need every unit's score recomputed from
    the residual at each step, and its amplitudes ``score - threshold``
    would be shrunk by the held-out part of the template's energy.

    With ``update_template=False`` (all units), the sweeps re-detect the
    spikes on the maintained scores alone (:func:`_redetect_unit`; the
    squared error is tracked in closed form) and the residual is brought up
    to date once at the end (:func:`_settle_residual`). With the templates
    updated and rank-R factors, the residual is held factored during the
    sweeps (:func:`_factor_residual`) and recomputed at the end; then, with
    ``spatial_every > 1``, only every ``spatial_every``-th sweep updates the
    spatial factors: the others hold them and update the temporal factors
    alone, on the data projected on the spatial factors
    (:func:`_temporal_step`, several times cheaper), and the support test
    counts only after a sweep that updated both. :func:`fit_default` does
    so in the final sweeps on all the data, where the motifs' footprints are
    already found (``_SPATIAL_EVERY``), not in the search.

    With a mask, both keep the imputation longer: the sweeps on the scores
    alone are one EM step together, and the factored sweeps renew it only
    after a sweep that updated the spatial factors (the others work on the
    projection of the imputed data). The log-likelihoods recorded in
    between are those of the imputed data, a lower bound of the observed
    data's; the final objective is exact.
    """
    k_units = cfg.n_components
    t_len = state.n_timesteps
    threshold, min_amp = _thresholds(cfg, sigma)
    state.min_amp = min_amp
    count = state.residual.shape[1] * t_len if observed is None else float(observed[:t_len].sum())
    sse = _sse(state.residual)
    state.log_likelihoods.append(_loglik_of_sse(sse, count, sigma))
    scores_only = not update_template and units is None
    if scores_only:  # see _redetect_unit
        refresh_scores(state)
        xcorr = _crosscorr(state.templates, state.u, state.v)
        eager_from = t_len - 2 * state.width + 1
        start = list(state.times), list(state.amps)
    factored = update_template and units is None and _pays_to_factor(state)
    if factored:  # see _factor_residual; the squared error is tracked in closed form
        _factor_residual(state, observed)
    best_ll, stalled = state.log_likelihoods[-1], 0
    state.converged = False
    temporal = False  # whether the sweep held the spatial factors (see _temporal_step)
    try:
        for i in range(cfg.max_iter if max_sweeps is None else min(max_sweeps, cfg.max_iter)):
            before = list(state.times)
            if scores_only:
                sse += float(
                    sum(
                        _redetect_unit(state, k, xcorr[:, k : k + 1], threshold, min_amp, eager_from)
                        for k in range(k_units)
                    )
                )
            else:
                temporal = factored and (i + 1) % spatial_every != 0
                if not temporal:
                    state.data_proj = None
                elif state.data_proj is None:
                    _project_data(state)
                refresh_scores(state, units)
                changes = [
                    _refine_unit(state, k, cfg, threshold, min_amp, update_template)
                    for k in (range(k_units) if units is None else sorted(units))
                ]
                if observed is not None and not factored:  # the EM step's end: imputed again by the model
                    state.residual.mul_(observed)
            empty = [k for k in range(k_units) if state.times[k].numel() == 0] if update_template else []
            if empty:
                _reseed_units(state, empty, cfg, threshold, generator, observed)
            if factored and not empty:
                sse += float(sum(changes))
                if observed is not None and not temporal:  # the EM step's end (data_proj follows the data)
                    sse = _reimpute(state, observed)
            elif not scores_only:
                sse = _sse(state.residual)  # after a re-seed the (factored) residual was just materialized
            state.log_likelihoods.append(_loglik_of_sse(sse, count, sigma))
            state.n_iter += 1
            if progress_bar is not None:
                progress_bar.update(1)
            if empty:
                best_ll, stalled = -math.inf, 0
                continue
            best_ll, stalled = _progress(cfg, state.log_likelihoods[-1], best_ll, stalled)
            if (_settled(cfg, before, state.times) and not temporal) or stalled >= cfg.patience:
                state.converged = True
                break
    finally:
        if factored:
            state.data_proj = None
            _materialize_residual(state, observed)
    if scores_only:
        _settle_residual(state, *start, eager_from)
        if observed is not None:
            state.residual.mul_(observed)
    if scores_only or factored:
        sse = _sse(state.residual)  # exact again, not tracked
    state.objective = _objective(state, cfg, _loglik_of_sse(sse, count, sigma), count)


def _reseed_units(
    state: SolverState,
    units: list[int],
    cfg: SolverConfig,
    threshold: float,
    generator: torch.Generator | None,
    observed: torch.Tensor | None,
) -> None:
    """Re-seed units left without spikes from the residual (:func:`_seed_unit_from_residual`), in order."""
    factored = state.model_phi is not None
    if factored:
        _materialize_residual(state, observed)
    state.data_proj = None  # the re-seeded units' spatial factors change
    taken = torch.zeros(state.n_timesteps, dtype=torch.bool, device=state.residual.device)
    for k in units:
        _seed_unit_from_residual(state, k, cfg, threshold, generator, taken, observed)
    if factored:
        _factor_residual(state, observed)


# --------------------------------------------------------------------------- #
# fits and moves
# --------------------------------------------------------------------------- #
def _new_state(data: torch.Tensor, cfg: SolverConfig, observed: torch.Tensor | None) -> SolverState:
    """Empty state on time-major data (T, N): residual = data (masked), zero templates, no spikes."""
    t_len, n = data.shape
    d, k_units = cfg.width, cfg.n_components
    residual = data.new_zeros(t_len + d, n)
    residual[:t_len] = data
    if observed is not None:
        residual.mul_(observed)
    u = v = None
    if uses_factors(cfg, n):
        u, v = data.new_zeros(k_units, n, cfg.rank), data.new_zeros(k_units, cfg.rank, d)
    empty_t = torch.zeros(0, dtype=torch.long, device=data.device)
    return SolverState(
        templates=data.new_zeros(k_units, n, d),
        times=[empty_t] * k_units,
        amps=[data.new_zeros(0)] * k_units,
        residual=residual,
        u=u,
        v=v,
        data=data,
    )


def _set_templates(state: SolverState, templates: torch.Tensor, cfg: SolverConfig) -> None:
    """All templates from a (K, N, D) tensor (projected onto the allowed set, with factors)."""
    state.templates, state.u, state.v = _project(
        templates.to(state.residual.device, state.residual.dtype), cfg.rank, cfg.nonnegative
    )


def fit_one(
    data: torch.Tensor,
    cfg: SolverConfig,
    sigma: float,
    generator: torch.Generator | None,
    init_templates: torch.Tensor | None = None,
    random_init: bool = False,
    observed: torch.Tensor | None = None,
    progress_bar=None,
    max_sweeps: int | None = None,
    update_template: bool = True,
) -> SolverState:
    """One start of the coordinate ascent.

    Parameters
    ----------
    data : (T, N) tensor
        Time-major data (any strides).
    init_templates : (K, N, D) tensor or None
        Start from these templates; otherwise templates are learnt by
        deflation (:func:`_init_by_deflation`; ``random_init`` randomises it).
    observed : (T + D, N) 0/1 tensor or None
        Mask of entries used for fitting (held-out entries are imputed by the
        model: their residual is zeroed at the start of every sweep, see
        :func:`run_sweeps`).
    max_sweeps : int or None
        Sweep budget (never more than ``cfg.max_iter``).
    update_template : bool
        False: the sweeps keep the (initial) templates fixed.
    """
    state = _new_state(data, cfg, observed)
    threshold, min_amp = _thresholds(cfg, sigma)
    state.min_amp = min_amp
    if init_templates is not None:
        _set_templates(state, init_templates, cfg)
    else:
        _init_by_deflation(
            state,
            cfg.n_components,
            lambda k, taken: _seed_unit_from_residual(
                state, k, cfg, threshold, generator, taken, observed, _SEED_CANDIDATES if random_init else 1
            ),
        )
    matching_pursuit(state, cfg, threshold, threshold + min_amp, observed)
    run_sweeps(state, cfg, sigma, generator, observed, progress_bar, update_template, max_sweeps)
    return state


def _split_windows(windows: torch.Tensor, amps: torch.Tensor, cfg: SolverConfig, n_iter: int = 10):
    """Split spike windows (S, D * N) into two motifs; returns two (N, D) templates or None.

    Start: the sign of each window's coordinate along the leading principal
    direction of the windows once their common (amplitude-weighted mean)
    direction is removed -- the direction in which two similar motifs
    differ. Then Lloyd iterations: each group's template is the projection
    of its amplitude-weighted sum, each window goes to the template it
    matches best.
    """
    n, d = windows.shape[1] // cfg.width, cfg.width
    mean = amps @ windows
    mean = mean / torch.linalg.vector_norm(mean).clamp(min=1e-12)
    rest = windows - (windows @ mean)[:, None] * mean[None]
    # leading principal direction by power iteration, from the largest remaining window
    direction = rest[torch.linalg.vector_norm(rest, dim=1).argmax()]
    for _ in range(20):
        direction = rest.T @ (rest @ direction)
        direction = direction / torch.linalg.vector_norm(direction).clamp(min=1e-12)
    labels = rest @ direction > 0
    templates = None
    for _ in range(n_iter):
        if int(labels.sum()) in (0, labels.numel()):
            return None
        templates = [
            _project((amps[g] @ windows[g]).view(d, n).T, cfg.rank, cfg.nonnegative)[0] for g in (labels, ~labels)
        ]
        match = windows @ torch.stack([w.T.reshape(-1) for w in templates], 1)  # (S, 2)
        new_labels = match[:, 0] >= match[:, 1]
        if bool((new_labels == labels).all()):
            break
        labels = new_labels
    return templates


def _proposals(state: SolverState, max_pairs: int = 3, max_splits: int = 2) -> list[tuple[list[int], list[int] | None]]:
    """Candidate moves ``(units given new templates, units whose spikes are split or None)``, best first.

    * re-split of two similar units (lagged cosine > 0.5, most similar
      first): their pooled spikes are split anew. Coordinate ascent cannot
      move spikes between two units whose templates both fit them, so it
      keeps mixtures of two similar motifs;
    * re-seed of the most expendable unit from the residual window of
      largest energy (``None``): for a motif that no unit explains;
    * split of a strong unit (largest amplitude energy first) in two, the
      second half replacing the most expendable unit: for one unit
      explaining two motifs.

    The most expendable unit has the smallest amplitude energy times
    ``1 - c^2``, c its largest lagged cosine with another unit (a unit that
    duplicates another one is cheap to lose).
    """
    k_units = state.templates.shape[0]
    if k_units < 2:
        return []
    sim = _crosscorr(state.templates, state.u, state.v).amax(-1).cpu()
    sim.fill_diagonal_(0)
    pairs = sorted(((float(sim[i, j]), i, j) for i in range(k_units) for j in range(i + 1, k_units)), reverse=True)
    moves = [([i, j], [i, j]) for value, i, j in pairs[:max_pairs] if value > 0.5]
    energy = torch.stack([(a.double() ** 2).sum() for a in state.amps]).cpu()
    spare = int(torch.argmin(energy * (1 - sim.clamp(min=0).amax(1).double() ** 2)))
    moves.append(([spare], None))
    strong = [int(k) for k in torch.argsort(energy, descending=True) if int(k) != spare]
    moves += [([k, spare], [k]) for k in strong[:max_splits]]
    return moves


def _try_move(
    state: SolverState,
    units: list[int],
    source: list[int] | None,
    cfg: SolverConfig,
    sigma: float,
    observed: torch.Tensor | None,
    generator: torch.Generator | None,
) -> bool:
    """Apply one move in place if it raises the posterior; returns whether it did.

    The spikes of ``units`` are put back; the windows of the spikes of
    ``source`` (the strongest ones if there are too many) are split in two
    (:func:`_split_windows`) and become the templates of ``units``; their
    spikes are found again jointly (:func:`matching_pursuit`) and refined by
    sweeps over those units only. A rejected move is undone.
    """
    d = cfg.width
    threshold, min_amp = _thresholds(cfg, sigma)
    saved = [
        (
            state.times[k],
            state.amps[k],
            state.templates[k].clone(),
            None if state.u is None else state.u[k].clone(),
            None if state.v is None else state.v[k].clone(),
        )
        for k in units
    ]
    history, n_iter, objective = list(state.log_likelihoods), state.n_iter, state.objective
    if source is not None:
        times = torch.cat([state.times[k] for k in source])
        amps = torch.cat([state.amps[k] for k in source])
    _remove_units(state, units, observed)
    if source is None:
        start = window_energy(state.residual, d).argmax().view(1)
        new = [_project(_windows(state.residual, start, d).view(d, -1).T, cfg.rank, cfg.nonnegative)[0]]
    else:
        cap = max(2, _CHUNK // (d * state.residual.shape[1]))
        if times.numel() > cap:  # a subsample of the strongest spikes is enough to split
            amps, keep = torch.topk(amps, cap)
            times = times[keep]
        order = torch.argsort(times)
        times, amps = times[order], amps[order]
        new = _split_windows(_windows(state.residual, times, d), amps, cfg) if times.numel() >= 4 else None
    if new is not None:
        for k, w in zip(units, new):
            state.set_template(k, *_project(w, cfg.rank, cfg.nonnegative))
        matching_pursuit(state, cfg, threshold, threshold + min_amp, observed, units=units)
        run_sweeps(state, cfg, sigma, generator, observed, max_sweeps=_TRIAL_SWEEPS, units=units)
        if state.objective > objective + cfg.tol:
            return True
        _remove_units(state, units, observed)
    for k, (t, a, w, u, v) in zip(units, saved):
        state.set_template(k, w, u, v)
        state.times[k], state.amps[k] = t, a
        add_spikes(state.residual, t, -a, w.T, observed=observed)
    state.log_likelihoods, state.n_iter, state.objective = history, n_iter, objective
    return False


def improve_by_moves(
    state: SolverState,
    cfg: SolverConfig,
    sigma: float,
    observed: torch.Tensor | None,
    generator: torch.Generator | None,
    progress_bar=None,
) -> SolverState:
    """Apply improving moves (:func:`_proposals`, :func:`_try_move`) while they help.

    A move counts when it raises the posterior by more than ``cfg.tol`` per
    entry. At most K moves are kept and 2K tried; the first improving
    proposal is taken and the proposals are rebuilt. A rejected move is
    not tried again until a kept move changes one of its units (a re-seed,
    which depends on the whole residual: until any move is kept). After the kept moves,
    sweeps over all units bring the fit back to convergence.
    """
    tries, kept = 2 * cfg.n_components, 0
    rejected = set()  # moves not to try again until one of their units changes
    while tries > 0 and kept < cfg.n_components:
        for units, source in _proposals(state):
            move = (tuple(units), None if source is None else tuple(source))
            if move in rejected:
                continue
            tries -= 1
            if _try_move(state, units, source, cfg, sigma, observed, generator):
                kept += 1
                # a re-seed depends on the whole residual: retried after any change
                rejected = {m for m in rejected if m[1] is not None and not set(m[0]) & set(units)}
                break
            rejected.add(move)
            if tries == 0:
                break
        else:
            break
    if kept:
        run_sweeps(state, cfg, sigma, generator, observed, progress_bar)
    return state


# --------------------------------------------------------------------------- #
# starts stacked in time: the starts' per-unit steps run for all starts at once
# --------------------------------------------------------------------------- #
def _stack_starts(block: torch.Tensor, cfg: SolverConfig, count: int) -> SolverState:
    """An empty state holding ``count`` starts on the same data, laid end to end in time.

    Segment b is the data at rows ``b S .. b S + T`` (stride ``S = T + D + D // 10``:
    a template window, shifted by up to ``D // 10`` samples, never reaches the next
    segment), zeros after. Unit k of start b is unit ``k B + b`` and spikes in
    segment b only, so the B units of a group ``k B .. k B + B - 1`` touch disjoint
    parts of the residual and their steps run together (:func:`_group_refine`),
    each start evolving as it would alone. A small fit is thousands of tiny
    operations; this divides their number by B.
    """
    t_len, n = block.shape
    d = cfg.width
    stride = t_len + d + d // 10
    stacked = block.new_zeros(count * stride, n)
    stacked.view(count, stride, n)[:, :t_len] = block
    state = _new_state(stacked[:-d], replace(cfg, n_components=count * cfg.n_components), None)  # + D zero rows
    state.segments = (stride, t_len)
    return state


def _n_starts(state: SolverState) -> int:
    return state.residual.shape[0] // state.segments[0]


def _segment_columns(state: SolverState, segs: torch.Tensor) -> torch.Tensor:
    """``(G, T)`` stacked sample indices of the segments ``segs``."""
    stride, seg_len = state.segments
    return segs.unsqueeze(1) * stride + torch.arange(seg_len, device=segs.device)


def _by_start(state: SolverState, t: torch.Tensor | None) -> torch.Tensor | None:
    """Per-unit tensor of stacked starts, ``(B K, ...)`` with unit ``k B + b``, viewed as ``(B, K, ...)``."""
    if t is None:
        return None
    count = _n_starts(state)
    return t.view(t.shape[0] // count, count, *t.shape[1:]).transpose(0, 1)


def _segment_scores(
    x: torch.Tensor, templates: torch.Tensor, u: torch.Tensor | None, v: torch.Tensor | None
) -> torch.Tensor:
    """Scores ``(G, J, L - D + 1)`` of J templates per segment ``x`` (G, L, N), each on its own segment.

    ``templates`` is (G, J, N, D), ``u``, ``v`` their factors or None: one
    batched projection and one grouped correlation.
    """
    g, j, n, d = templates.shape
    length = x.shape[1]
    if u is not None:
        r = u.shape[-1]
        projected = torch.bmm(x, u.permute(0, 2, 1, 3).reshape(g, n, j * r))  # (G, L, J R)
        out = _correlate(projected.transpose(1, 2).reshape(-1, length), v.reshape(-1, d))
        return out.view(g, j, r, -1).sum(2)
    out = F.conv1d(x.transpose(1, 2).reshape(1, -1, length), templates.reshape(g * j, n, d), groups=g)[0]
    return out.view(g, j, -1)


def _score_segments(state: SolverState, x: torch.Tensor, first: torch.Tensor, length: int) -> None:
    """Score every start's units on its own rows ``x[b]`` (B, L, N), read from stacked sample ``first[b]`` on.

    Writes the first ``length`` scores of each into score row k (unit k of
    each start) at samples ``first[b] .. first[b] + length``.
    """
    scores = _segment_scores(
        x, _by_start(state, state.templates), _by_start(state, state.u), _by_start(state, state.v)
    )[:, :, :length]  # (B, K, length)
    cols = (first.view(-1, 1) + torch.arange(length, device=first.device)).view(-1)
    state.scores[:, cols] = scores.transpose(0, 1).reshape(scores.shape[1], -1)


def _refresh_stacked_scores(state: SolverState) -> None:
    """:func:`refresh_scores` of stacked starts: score row k holds unit k of each start on that start's segment."""
    count, (stride, seg_len) = _n_starts(state), state.segments
    first = stride * torch.arange(count, device=state.residual.device)
    _score_segments(state, state.residual.view(count, stride, -1), first, seg_len)


def _stacked_crosscorr(state: SolverState, members: torch.Tensor) -> torch.Tensor:
    """:func:`_crosscorr` on stacked starts: ``X[j, g]`` of unit j of member g's start with member g, (K, G, 2D - 1).

    A spike of member g changes score row j (unit j of every start) only in
    g's segment, where row j is that start's unit j.
    """
    count = _n_starts(state)
    full = _crosscorr(state.templates, state.u, state.v, members)  # (B K, G, 2D - 1)
    picked = torch.arange(members.numel(), device=members.device)
    return full.view(-1, count, members.numel(), full.shape[2])[:, members % count, picked]


def _own_scores(state: SolverState, values: torch.Tensor, segs: torch.Tensor) -> torch.Tensor:
    """Scores ``values`` (G, T) of G units in their own segments ``segs`` laid out in stacked time, -inf elsewhere.

    The segments' gaps (>= D samples of -inf) keep the greedy picks of
    different segments apart, so one :func:`pick_spikes` over the result picks
    what each start would pick alone.
    """
    stride, seg_len = state.segments
    out = values.new_full((_n_starts(state), stride), -math.inf)
    out[segs, :seg_len] = values
    return out.view(-1)


def _group_template_step(
    state: SolverState,
    members: torch.Tensor,
    times: torch.Tensor,
    amps: torch.Tensor,
    who: torch.Tensor,
    cfg: SolverConfig,
    threshold: float,
    min_amp: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`_whole_template_step` (and :func:`_template_step`'s amplitudes) for a group of stacked starts' units.

    ``who[s]`` is spike s's position in ``members``. Each unit gets its own
    target, best shift and projection; a unit whose target projects to zero
    keeps its template and spikes. Returns the new (times, amps, who).
    """
    d = cfg.width
    lag = d // 10
    length = d + 2 * lag
    count, n = members.numel(), state.residual.shape[1]
    spikes = torch.arange(times.numel(), device=times.device)
    windows = _windows(state.residual, times - lag, length)  # (S, length N)
    weights = windows.new_zeros(count, times.numel()).index_put_((who, spikes), amps)  # unit g: its spikes' amps
    target = (weights @ windows).view(count, length, n)
    stack = target.unfold(1, d, 1)  # (G, 2 lag + 1, N, D)
    if state.u is not None:
        gain = torch.linalg.matrix_norm((target @ state.u[members]).unfold(1, d, 1))
    else:
        gain = torch.linalg.matrix_norm(stack.clamp(min=0) if cfg.nonnegative else stack)
    best = _best_shift(gain, lag)
    w, u, v = _project(stack[torch.arange(count, device=best.device), best], cfg.rank, cfg.nonnegative)
    moved = torch.linalg.matrix_norm(w) > 0
    changed = members[moved]
    state.templates[changed] = w[moved]
    if state.u is not None:
        state.u[changed], state.v[changed] = u[moved], v[moved]
    rows = best[who].unsqueeze(1) + torch.arange(d, device=best.device)  # (S, D)
    if u is not None:  # windows projected on the spatial factors first: (S, length, R), not (S, D, N)
        r = u.shape[2]
        projected = (windows.view(-1, length, n) @ u.transpose(0, 1).reshape(n, count * r)).view(-1, length, count, r)
        projected = projected[spikes, :, who]  # (S, length, R)
        scores = torch.einsum("sdr,srd->s", projected[spikes.unsqueeze(1), rows], v[who])
    else:
        shifted = windows.view(-1, length, n)[spikes.unsqueeze(1), rows].view(times.numel(), -1)
        scores = (shifted @ w.transpose(1, 2).reshape(count, -1).T).gather(1, who.unsqueeze(1))[:, 0]
    stride, seg_len = state.segments
    new_times = times + (best - lag)[who]
    local = new_times - times.div(stride, rounding_mode="floor") * stride  # in the spike's own segment
    keep = (scores - threshold > min_amp) & (local >= 0) & (local < seg_len)
    moved_spike = moved[who]
    keep = torch.where(moved_spike, keep, True)
    times = torch.where(moved_spike, new_times, times)[keep]
    amps = torch.where(moved_spike, scores - threshold, amps)[keep]
    return times, amps, who[keep]


def _group_pick(
    state: SolverState,
    members: torch.Tensor,
    segs: torch.Tensor,
    scores: torch.Tensor,
    cfg: SolverConfig,
    threshold: float,
    min_amp: float,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Spikes of the units ``members`` (in segments ``segs``) from their scores (:func:`_own_scores`), then templates.

    As :func:`_refine_unit` between putting the old spikes back and removing
    the new ones: MAP amplitudes at the picked peaks, :func:`_group_template_step`.
    Stores and returns the new spikes (times, amps, position in ``members``).
    """
    stride = state.segments[0]
    times = pick_spikes(scores, threshold + min_amp, cfg.width, peaks_only=True)
    amps = scores[times] - threshold
    position = torch.full((_n_starts(state),), -1, dtype=torch.long, device=segs.device)
    position[segs] = torch.arange(segs.numel(), device=segs.device)
    who = position[times.div(stride, rounding_mode="floor")]
    if times.numel() > 0:
        times, amps, who = _group_template_step(state, members, times, amps, who, cfg, threshold, min_amp)
    counts = torch.bincount(who, minlength=members.numel()).tolist()
    for k, t, a in zip(members.tolist(), torch.split(times, counts), torch.split(amps, counts)):
        state.times[k], state.amps[k] = t, a
    return times, amps, who


def _group_spikes(state: SolverState, members: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The spikes of ``members`` in time order, with each one's position in ``members``."""
    counts = torch.tensor([state.times[k].numel() for k in members.tolist()], device=members.device)
    times = torch.cat([state.times[k] for k in members.tolist()])
    amps = torch.cat([state.amps[k] for k in members.tolist()])
    return times, amps, torch.repeat_interleave(torch.arange(members.numel(), device=members.device), counts)


def _group_refine(
    state: SolverState, k: int, segs: torch.Tensor, cfg: SolverConfig, threshold: float, min_amp: float
) -> None:
    """:func:`_refine_unit` (no mask, whole residual) of unit k of the stacked starts ``segs``, all at once."""
    count = _n_starts(state)
    members = k * count + segs
    t_old, a_old, who_old = _group_spikes(state, members)
    x_old = _stacked_crosscorr(state, members)[k:]
    add_spikes(
        state.residual, t_old, a_old, state.templates[members].transpose(1, 2), units=who_old, segments=state.segments
    )
    _shift_scores(state, x_old, t_old, a_old, k, units=who_old)
    own = _own_scores(state, state.scores[k][_segment_columns(state, segs)], segs)
    times, amps, who = _group_pick(state, members, segs, own, cfg, threshold, min_amp)
    add_spikes(
        state.residual, times, -amps, state.templates[members].transpose(1, 2), units=who, segments=state.segments
    )
    if (k + 1) * count < state.templates.shape[0]:
        x_new = _stacked_crosscorr(state, members)[k + 1 :]
        _shift_scores(state, x_new, times, -amps, k + 1, units=who)


def _group_update(
    state: SolverState, members: torch.Tensor, segs: torch.Tensor, cfg: SolverConfig, threshold: float
) -> None:
    """:func:`_update_unit` of the stacked starts' units ``members`` (segments ``segs``), all at once."""
    t_old, a_old, who_old = _group_spikes(state, members)
    add_spikes(
        state.residual, t_old, a_old, state.templates[members].transpose(1, 2), units=who_old, segments=state.segments
    )
    u, v = (None, None) if state.u is None else (state.u[members, None], state.v[members, None])
    stride, seg_len = state.segments
    x = state.residual.view(-1, stride, state.residual.shape[1])
    x = x if segs.numel() == x.shape[0] else x[segs]  # segs are sorted: all of them is the view
    own = _own_scores(state, _segment_scores(x, state.templates[members, None], u, v)[:, 0, :seg_len], segs)
    times, amps, who = _group_pick(state, members, segs, own, cfg, threshold, state.min_amp)
    add_spikes(
        state.residual, times, -amps, state.templates[members].transpose(1, 2), units=who, segments=state.segments
    )


def _group_seed(
    state: SolverState,
    k: int,
    segs: list[int],
    cfg: SolverConfig,
    threshold: float,
    generators: list,
    taken: torch.Tensor,
    candidates: list[int],
) -> None:
    """:func:`_seed_unit_from_residual` of unit k of the stacked starts ``segs``, all at once.

    Each start draws its window with its own generator (``candidates[b]``
    windows: 1 takes the best), as it would alone.
    """
    if not segs:
        return
    stride, seg_len = state.segments
    d = cfg.width
    energy = window_energy(state.residual, d).masked_fill(taken, 0)
    energy[torch.arange(energy.shape[0], device=energy.device) % stride >= seg_len] = 0  # the gaps
    if any(candidates[b] > 1 for b in segs):  # the windows of every segment, picked at once (gaps >= D)
        tops_all = pick_spikes(energy, 0.0, d)
        bounds = torch.searchsorted(tops_all, stride * torch.arange(_n_starts(state) + 1, device=energy.device))
        bounds = bounds.tolist()
    starts, seeded = [], []
    for b in segs:
        if candidates[b] > 1:
            start = _draw_window(energy, tops_all[bounds[b] : bounds[b + 1]], candidates[b], generators[b])
            if start is None:
                continue
        else:
            start = b * stride + int(torch.argmax(energy[b * stride : b * stride + seg_len]))
        starts.append(start)
        seeded.append(b)
    if not starts:
        return
    first = torch.tensor(starts, device=energy.device)
    n = state.residual.shape[1]
    w, u, v = _project(state.residual[_window_rows(first, d)].view(-1, d, n).transpose(1, 2), cfg.rank, cfg.nonnegative)
    moved = torch.linalg.matrix_norm(w) > 0
    segs_t = torch.tensor(seeded, device=energy.device)[moved]
    if segs_t.numel() == 0:
        return
    members = k * _n_starts(state) + segs_t
    state.templates[members] = w[moved]
    if state.u is not None:
        state.u[members], state.v[members] = u[moved], v[moved]
    for _ in range(_SEED_STEPS):
        _group_update(state, members, segs_t, cfg, threshold)
    for start in first[moved].tolist():
        taken[max(0, start - d + 1) : start + d] = True


def _stacked_sse(state: SolverState) -> list[float]:
    """Squared error of each stacked start (:func:`_sse` per segment)."""
    return _row_energy(state.residual).view(_n_starts(state), -1).sum(1).tolist()


def fit_stacked_starts(
    block: torch.Tensor, cfg: SolverConfig, sigma: float, generators: list, max_sweeps: int, progress_bar=None
) -> list[SolverState]:
    """:func:`fit_one` for ``len(generators)`` starts on ``block`` (no mask), run stacked in time.

    Start 0 is seeded greedily, the others randomised with their generators,
    as by :func:`fit_one`. The starts are stacked (:func:`_stack_starts`):
    deflation, joint pursuit and up to ``max_sweeps`` sweeps run for all of
    them at once, each start stopping by the rules of :func:`run_sweeps`.
    Returns one state per start, as :func:`fit_one` would.
    """
    count = len(generators)
    t_len, n = block.shape
    k_units = cfg.n_components
    state = _stack_starts(block, cfg, count)
    stride = state.segments[0]
    threshold, min_amp = _thresholds(cfg, sigma)
    state.min_amp = min_amp
    dev = block.device
    all_segs = list(range(count))
    seeding = [1] + [_SEED_CANDIDATES] * (count - 1)  # start 0 greedy, the others randomised
    _init_by_deflation(
        state, k_units, lambda k, taken: _group_seed(state, k, all_segs, cfg, threshold, generators, taken, seeding)
    )
    matching_pursuit(state, cfg, threshold, threshold + min_amp, None)
    # sweeps (run_sweeps), each start stopping on its own
    entries = n * t_len
    sse = _stacked_sse(state)
    history = [[_loglik_of_sse(e, entries, sigma)] for e in sse]
    best_ll, stalled = [h[0] for h in history], [0] * count
    converged, n_iter = [False] * count, [0] * count
    active = all_segs
    for _ in range(min(max_sweeps, cfg.max_iter)):
        before = {b: [state.times[k * count + b] for k in range(k_units)] for b in active}
        refresh_scores(state)
        segs = torch.tensor(active, device=dev)
        for k in range(k_units):
            _group_refine(state, k, segs, cfg, threshold, min_amp)
        empty = {b: [k for k in range(k_units) if state.times[k * count + b].numel() == 0] for b in active}
        if any(empty.values()):  # _reseed_units, all starts at once
            taken = torch.zeros(state.n_timesteps, dtype=torch.bool, device=dev)
            for k in range(k_units):
                _group_seed(
                    state, k, [b for b in active if k in empty[b]], cfg, threshold, generators, taken, [1] * count
                )
        sse = _stacked_sse(state)
        still = []
        for b in active:
            history[b].append(_loglik_of_sse(sse[b], entries, sigma))
            n_iter[b] += 1
            if progress_bar is not None:
                progress_bar.update(1)
            if empty[b]:
                best_ll[b], stalled[b] = -math.inf, 0
                still.append(b)
                continue
            best_ll[b], stalled[b] = _progress(cfg, history[b][-1], best_ll[b], stalled[b])
            after = [state.times[k * count + b] for k in range(k_units)]
            if _settled(cfg, before[b], after) or stalled[b] >= cfg.patience:
                converged[b] = True
            else:
                still.append(b)
        active = still
        if not active:
            break
    starts = []
    for b in range(count):
        units = [k * count + b for k in range(k_units)]
        start = SolverState(
            templates=state.templates[units].clone(),
            times=[state.times[u] - b * stride for u in units],
            amps=[state.amps[u] for u in units],
            residual=state.residual[b * stride : b * stride + t_len + cfg.width].clone(),
            u=None if state.u is None else state.u[units].clone(),
            v=None if state.v is None else state.v[units].clone(),
            data=block,
            log_likelihoods=history[b],
            min_amp=min_amp,
            n_iter=n_iter[b],
            converged=converged[b],
        )
        start.objective = _objective(start, cfg, _loglik_of_sse(sse[b], entries, sigma), entries)
        starts.append(start)
    return starts


@contextmanager
def single_thread(device: torch.device) -> Iterator[None]:
    """Run with one intra-op thread on CPU (restored afterwards; no effect on other devices).

    A fit is thousands of small tensor operations. With several threads each
    parallel operation is a fork/join of the thread pool, which costs more
    than it saves at these sizes, and far more when the cores are shared with
    other processes (for this solver and the reference solver alike).

    Parameters
    ----------
    device : torch.device
        The device the work runs on; only ``"cpu"`` changes the thread count.

    Examples
    --------
    >>> with single_thread(torch.device("cpu")):
    ...     torch.get_num_threads()
    1
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fit_default(
    data: torch.Tensor,
    cfg: SolverConfig,
    *,
    noise_std: float | None,
    n_init: int | None,
    random_state: int | None,
    observed: torch.Tensor | None = None,
    init_templates: torch.Tensor | None = None,
    search_samples: int | None = 20_000,
    progress_bar=None,
) -> tuple[SolverState, float]:
    """Several starts, the best posterior kept and improved by moves; returns (state, noise_std).

    ``data`` is channel-first (N, T), ``observed`` (N, T + D) or None; the
    returned state is time-major (see :class:`SolverState`).

    Stages:

    1. ``n_init`` starts (:func:`fit_one`; the first greedy, the others
       randomised), each given ``_START_SWEEPS`` sweeps, on a central block
       of ``search_samples`` samples when the data are longer (a start only
       has to find the motifs, and a block holds plenty of events of each).
       ``n_init=None``: ``_STARTS``, or ``_STARTS_LONG_DATA`` on such a
       block, where the starts agree. Without a mask,
       small problems run their starts stacked in time
       (:func:`fit_stacked_starts`: the same starts, fewer operations);
    2. the best one continued to convergence; with ``noise_std=None`` the
       noise is re-estimated from its residual (the robust std of the data,
       used so far, overestimates it where motifs are dense) and the fit
       continued with it;
    3. moves that coordinate ascent cannot make (:func:`improve_by_moves`),
       still on the block;
    4. on longer data, the templates fitted to all of it: joint pursuit;
       sweeps with the templates fixed until the spikes
       settle (on the maintained scores alone, several times cheaper than
       full sweeps: :func:`_redetect_unit`) and the noise re-estimated;
       sweeps to convergence (on large data two sweeps in three hold the
       spatial factors: see :func:`run_sweeps`); the noise re-estimated once more.

    The noise estimate falls back to the standard deviation of the data when
    their MAD is 0 (zero-inflated data); a residual whose MAD is 0 leaves it
    unchanged.

    With ``init_templates`` only stage 4 is run, from those templates.
    """
    with torch.inference_mode(), single_thread(data.device):
        x = data.T
        obs = None if observed is None else observed.T.contiguous()
        return _fit_default(x, cfg, noise_std, n_init, random_state, obs, init_templates, search_samples, progress_bar)


def _stage(progress_bar, text: str) -> None:
    """Show the solver's stage (which start, the best start's refinement, all samples) beside the sweep count."""
    if progress_bar is not None:
        progress_bar.set_postfix_str(text)


def _fit_default(x, cfg, noise_std, n_init, random_state, observed, init_templates, search_samples, progress_bar):
    t_len, n = x.shape
    gen_seed = 0 if random_state is None else int(random_state)
    generator = torch.Generator(device=x.device).manual_seed(gen_seed * 1000)
    sigma = robust_std(x, observed, fallback=True) if noise_std is None else float(noise_std)

    def refine_noise(state: SolverState, obs: torch.Tensor | None) -> bool:
        """Re-estimate the noise from the residual (``noise_std=None``); whether it changed by > 0.1 %."""
        nonlocal sigma
        if noise_std is None:
            refined = robust_std(state.residual[: state.n_timesteps], obs)
            if refined > 0 and abs(refined - sigma) > 1e-3 * sigma:
                sigma = refined
                return True
        return False

    if init_templates is None:
        block, block_obs = x, observed
        if search_samples is not None and t_len > max(search_samples, 4 * cfg.width):
            lo = (t_len - search_samples) // 2
            block = x[lo : lo + search_samples]
            if observed is not None:
                block_obs = observed.new_zeros(search_samples + cfg.width, n)
                block_obs[:search_samples] = observed[lo : lo + search_samples]
        if n_init is None:
            n_init = _STARTS if block is x else _STARTS_LONG_DATA
        state = None
        generators = [torch.Generator(device=x.device).manual_seed(gen_seed * 1000 + i) for i in range(n_init)]
        if (
            n_init >= _STACK_MIN_STARTS
            and block_obs is None
            and n_init * block.shape[0] <= _STACK_MAX_SAMPLES
            and n_init * block.numel() <= _STACK_MAX_ENTRIES
        ):
            _stage(progress_bar, f"{n_init} starts at once")
            trials = fit_stacked_starts(block, cfg, sigma, generators, _START_SWEEPS, progress_bar)
        else:

            def start(i: int, g: torch.Generator) -> SolverState:
                _stage(progress_bar, f"start {i + 1}/{n_init}")
                return fit_one(
                    block,
                    cfg,
                    sigma,
                    g,
                    random_init=i > 0,
                    observed=block_obs,
                    progress_bar=progress_bar,
                    max_sweeps=_START_SWEEPS,
                )

            trials = (start(i, g) for i, g in enumerate(generators))
        for trial in trials:
            if state is None or trial.objective > state.objective:
                state = trial
        generator = generators[-1]
        _stage(progress_bar, "best start")
        if not state.converged:
            run_sweeps(state, cfg, sigma, generator, block_obs, progress_bar)
        if refine_noise(state, block_obs):
            run_sweeps(state, cfg, sigma, generator, block_obs, progress_bar)
        state = improve_by_moves(state, cfg, sigma, block_obs, generator, progress_bar)
        if block is x:
            return state, sigma
        init_templates, state = state.templates, None
    _stage(progress_bar, "all samples")
    # the spikes first settle with the templates fixed (sweeps on the scores alone, several times cheaper:
    # see _redetect_unit), then the noise and the templates follow
    state = fit_one(
        x,
        cfg,
        sigma,
        generator,
        init_templates=init_templates,
        observed=observed,
        progress_bar=progress_bar,
        update_template=False,
    )
    refine_noise(state, observed)
    run_sweeps(state, cfg, sigma, generator, observed, progress_bar, spatial_every=_SPATIAL_EVERY)
    if refine_noise(state, observed):
        run_sweeps(state, cfg, sigma, generator, observed, progress_bar, spatial_every=_SPATIAL_EVERY)
    return state, sigma


def decode(data: torch.Tensor, templates: torch.Tensor, cfg: SolverConfig, noise_std: float) -> torch.Tensor:
    """Amplitudes (K, T) of channel-first data (N, T) with the templates (K, N, D) held fixed.

    Joint matching pursuit, then per-unit re-detection sweeps (templates not
    updated) until the supports settle.
    """
    with torch.inference_mode(), single_thread(data.device):
        state = _new_state(data.T, cfg, None)
        _set_templates(state, templates, cfg)
        threshold, min_amp = _thresholds(cfg, noise_std)
        matching_pursuit(state, cfg, threshold, threshold + min_amp, None)
        run_sweeps(state, cfg, noise_std, None, None, update_template=False)
        return state.dense_amplitudes()
