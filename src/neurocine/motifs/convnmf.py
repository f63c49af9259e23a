"""Convolutional NMF ("spike sorting" of multichannel time series) as a scikit-learn estimator."""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from neurocine.errors import InputError
from neurocine.metrics import r2_of_squared_error, r2_score
from neurocine.runtime import progress_bar, resolve_device
from neurocine.validation import check_int, validate_signal_matrix

SOLVERS = ("default", "reference")
DEPRECATED_SOLVERS = {"seed": "reference"}


def resolve_solver(solver):
    """The current name of ``solver``: a deprecated alias is renamed, with a ``FutureWarning``.

    ``"seed"`` is the former name of ``"reference"`` (the Neural Screenomics notebook's
    solver) and fits exactly the same model. Any other value is returned unchanged (``ConvNMF``
    checks it).

    Examples
    --------
    >>> resolve_solver("default")
    'default'
    >>> import warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore", FutureWarning)
    ...     resolve_solver("seed")
    'reference'
    """
    if isinstance(solver, str) and solver in DEPRECATED_SOLVERS:
        new = DEPRECATED_SOLVERS[solver]
        warnings.warn(f'solver="{solver}" is deprecated; use solver="{new}"', FutureWarning, stacklevel=2)
        return new
    return solver


class ConvNMF(TransformerMixin, BaseEstimator):
    """Convolutional matrix factorisation into sparse spiking units.

    Model: ``X[t, n] = sum_k sum_d a[t - d, k] * W[k, n, d] + noise``: each
    unit k has a template ``W_k`` (N channels x D lags, unit Frobenius
    norm) and sparse nonnegative amplitudes ``a_k`` whose spikes are at
    least D samples apart; the noise is Gaussian with std ``noise_std``; the
    amplitudes have an exponential prior of rate ``amp_rate`` (a spike's MAP
    amplitude is ``max(0, score - amp_rate * noise_std**2)``).

    Parameters
    ----------
    n_components : int
        Number of units K, at most ``T // width`` (the templates, side by
        side, must fit in the data).
    width : int
        Template duration D in samples (must be shorter than the data).
    rank : int or None
        Rank R of signed templates (``U (N x R) @ V (R x D)``), at most
        ``min(N, D)``. None: 1 for signed templates, full for
        ``nonnegative=True`` (which takes no rank).
    nonnegative : bool
        Nonnegative full-rank templates (seqNMF-style sequences: each channel
        its own time course) instead of signed rank-R ones.
    amp_rate : float
        Rate of the exponential amplitude prior (the notebook's ``amp_rate``).
    noise_std : float or None
        Noise standard deviation. None: estimated -- as the notebook does
        (``X.std()``) for ``solver="reference"``; for ``solver="default"`` from
        the median absolute deviation of the data, then of the best fit's
        residual.
    spike_prob : float
        ``solver="default"`` only: prior probability that a unit starts a
        spike at a given sample (spike-and-slab prior). A spike is kept only
        if its posterior gain exceeds ``log((1 - p) / p)``.
    max_iter : int or None
        Sweeps per start, >= 1 (None: 20 for ``"reference"``, as the notebook; 100 for
        ``"default"``). For ``"default"`` no stage runs more sweeps than
        this: the starts (at most 10 each before they are compared), the
        trials of a split move (at most 5) and the final fit. With
        ``n_init=1`` a small value is a quick, rougher fit (see the
        benchmarks).
    tol : float or None
        Stop when the per-entry log-likelihood changes by less than this
        (None: 1e-6 for ``"reference"``, as the notebook; 1e-4 for ``"default"``,
        where a sweep gaining less than ``tol`` per entry is no progress: 3 such
        sweeps stop it, as does a sweep changing <= 0.1 % of the spikes; a
        search move must gain more than ``tol`` per entry to be kept).
    n_init : int or None
        ``solver="default"`` only: number of starts (the first greedy, the
        others randomised); the best posterior is kept and improved by
        split moves. None: 10, or 3 when the data are longer than the
        solver's 20 000-sample search block (the starts then run on that
        block, whose many events make them agree).
    solver : {"default", "reference"}
        ``"reference"`` is the Neural Screenomics notebook's coordinate ascent,
        faithful to it (initial templates drawn by
        :func:`neurocine.motifs.templates.generate_templates` after
        ``torch.manual_seed(random_state)``, raw peak heights, random
        re-seeding). ``"default"`` is neurocine's vectorised solver: joint
        matching pursuit + per-unit re-detection, MAP soft-threshold
        amplitudes, residual-peak seeding, several starts and split moves.
        ``"seed"`` is a deprecated alias of ``"reference"`` (it warns).
    random_state : int or None
        Seed of every random draw; the same seed gives the same result on CPU.
    device : str
        ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda[:i]"``.

    Attributes
    ----------
    templates_ : ndarray (K, N, D)
    amplitudes_ : ndarray (T, K)
    log_likelihoods_ : ndarray (n_sweeps + 1,)
        Gaussian log-likelihood per entry, initial value first.
    n_iter_ : int
    converged_ : bool
    noise_std_ : float
    r2_ : float
        Fraction of the data variance explained by the reconstruction.
    n_spikes_ : int
    fit_seconds_ : float
        Wall time of the fit.

    Examples
    --------
    >>> from neurocine.motifs.simulate import simulate_convnmf
    >>> sim = simulate_convnmf(7)                    # the notebook's data, (600, 10)
    >>> model = ConvNMF(n_components=4, width=10, random_state=0).fit(sim.data)
    >>> model.templates_.shape, model.amplitudes_.shape
    ((4, 10, 10), (600, 4))
    >>> round(model.r2_, 2) >= 0.85
    True
    """

    def __init__(
        self,
        n_components: int = 4,
        width: int = 10,
        rank: int | None = None,
        *,
        nonnegative: bool = False,
        amp_rate: float = 3.0,
        noise_std: float | None = None,
        spike_prob: float = 0.01,
        max_iter: int | None = None,
        tol: float | None = None,
        n_init: int | None = None,
        solver: str = "default",
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.n_components = n_components
        self.width = width
        self.rank = rank
        self.nonnegative = nonnegative
        self.amp_rate = amp_rate
        self.noise_std = noise_std
        self.spike_prob = spike_prob
        self.max_iter = max_iter
        self.tol = tol
        self.n_init = n_init
        self.solver = solver
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # the fit runs in float32 whatever X's dtype
        return tags

    # ------------------------------------------------------------------ #
    # validation
    # ------------------------------------------------------------------ #
    def _check_params(self, n_timesteps: int, n_channels: int) -> str:
        """Refuse, before any work, hyper-parameters the data's ``(n_timesteps, n_channels)`` cannot support.

        Returns the solver's current name (``"seed"`` resolves to ``"reference"``).
        """
        solver = resolve_solver(self.solver)
        check_int("width", self.width)
        if self.width >= n_timesteps:
            raise InputError(
                f"width: got {self.width} samples, expected fewer than the data's {n_timesteps} time steps"
            )
        check_int(
            "n_components",
            self.n_components,
            maximum=n_timesteps // self.width,
            why=f"{n_timesteps} time steps hold at most {n_timesteps // self.width} templates of width {self.width}",
        )
        if solver not in SOLVERS:
            raise InputError(f"solver: got {self.solver!r}, expected one of {', '.join(SOLVERS)}")
        if self.rank is not None:
            if self.nonnegative:
                raise InputError("rank: nonnegative templates are full-rank; expected rank=None with nonnegative=True")
            check_int(
                "rank",
                self.rank,
                maximum=min(n_channels, self.width),
                why=f"templates of {n_channels} channels x width {self.width} have rank at most "
                f"{min(n_channels, self.width)}",
            )
        if self.nonnegative and solver == "reference":
            raise InputError(
                "nonnegative: the reference solver fits signed rank-R templates; expected solver='default'"
            )
        for name in ("amp_rate",):
            value = getattr(self, name)
            if not (isinstance(value, (int, float, np.floating)) and math.isfinite(value) and value >= 0):
                raise InputError(f"{name}: got {value!r}, expected a non-negative number")
        if self.noise_std is not None and not (math.isfinite(self.noise_std) and self.noise_std > 0):
            raise InputError(f"noise_std: got {self.noise_std!r}, expected a positive number or None (estimated)")
        if not (0 < self.spike_prob < 1):
            raise InputError(f"spike_prob: got {self.spike_prob!r}, expected a probability in (0, 1)")
        if self.max_iter is not None:
            check_int("max_iter", self.max_iter)
        if self.n_init is not None:
            check_int("n_init", self.n_init)
        if self.tol is not None and not (self.tol >= 0):
            raise InputError(f"tol: got {self.tol!r}, expected a non-negative number")
        return solver

    def _check_X(self, X, name: str = "X", *, reset: bool = False) -> np.ndarray:
        """``X`` as float32 (T, N); unless ``reset`` (fit), N must be the fitted channels'."""
        X = validate_signal_matrix(X, name, dtype=np.float32)
        if not reset and hasattr(self, "templates_") and X.shape[1] != self.templates_.shape[1]:
            raise InputError(f"{name}: has {X.shape[1]} channels, expected {self.templates_.shape[1]} (as in fit)")
        return X

    # ------------------------------------------------------------------ #
    # fitting
    # ------------------------------------------------------------------ #
    def _solver_config(self):
        from neurocine.motifs._solver import SolverConfig

        rank = self.rank if (self.rank is not None or self.nonnegative) else 1
        max_iter = 100 if self.max_iter is None else self.max_iter
        tol = 1e-4 if self.tol is None else float(self.tol)
        return SolverConfig(
            self.n_components,
            self.width,
            rank,
            bool(self.nonnegative),
            float(self.amp_rate),
            int(max_iter),
            tol,
            float(self.spike_prob),
        )

    def fit(self, X, y=None, *, mask=None) -> ConvNMF:
        """Fit templates and amplitudes to ``X``.

        Parameters
        ----------
        X : array_like (T, N)
            Time-first data: T samples of N channels.
        mask : array_like of bool (T, N), optional
            ``solver="default"`` only: True where an entry is observed. The fit
            maximises the posterior given the observed entries alone (used to choose
            K): each sweep is an EM step, with the held-out entries imputed by
            the model of the sweep's start.

        Returns
        -------
        self
        """
        import torch

        X = self._check_X(X, reset=True)
        t_len, n = X.shape
        solver = self._check_params(t_len, n)
        if mask is not None:
            if solver == "reference":
                raise InputError("mask: masked fitting needs solver='default'")
            mask = np.asarray(mask)
            if mask.shape != X.shape or mask.dtype != bool:
                raise InputError(f"mask: got {mask.dtype} array of shape {mask.shape}, expected bool {X.shape}")
        device = resolve_device(self.device)
        t0 = time.perf_counter()
        if solver == "reference":
            self._fit_reference(torch.from_numpy(np.ascontiguousarray(X.T)).to(device))
        else:  # channel-first view of the time-major data, the solver's own layout: no copy
            sse = self._fit_default(torch.from_numpy(np.ascontiguousarray(X)).to(device).T, mask, device)
        self.fit_seconds_ = time.perf_counter() - t0
        self.n_features_in_ = n
        self.r2_ = r2_score(X, self.reconstruct(), mask) if solver == "reference" else r2_of_squared_error(X, sse, mask)
        self.n_spikes_ = int((self.amplitudes_ > 0).sum())
        return self

    def _fit_reference(self, data) -> None:
        import torch

        from neurocine.motifs._reference_solver import fit_reference
        from neurocine.motifs.templates import generate_templates

        n, _ = data.shape
        if self.random_state is not None:
            torch.manual_seed(int(self.random_state))
        init = generate_templates(n, self.width, self.n_components).to(data.device)
        noise_std = float(data.std()) if self.noise_std is None else float(self.noise_std)
        rank = 1 if self.rank is None else int(self.rank)
        max_iter = 20 if self.max_iter is None else int(self.max_iter)
        templates, amplitudes, lls, converged = fit_reference(
            data,
            init,
            rank=rank,
            noise_std=noise_std,
            amp_rate=float(self.amp_rate),
            max_iter=max_iter,
            tol=1e-6 if self.tol is None else float(self.tol),
        )
        self.templates_ = templates.cpu().numpy()
        self.amplitudes_ = amplitudes.T.contiguous().cpu().numpy()
        self.log_likelihoods_ = np.asarray(lls)
        self.n_iter_ = len(lls) - 1
        self.converged_ = bool(converged)
        self.noise_std_ = noise_std

    def _fit_default(self, data, mask, device) -> float:
        """Fit with the default solver; returns the squared error (on the observed entries)."""
        import torch

        from neurocine.motifs._solver import fit_default, single_thread

        observed = None
        if mask is not None:  # built time-major, the solver's layout, and passed channel-first: no copy
            n, t_len = data.shape
            observed = torch.zeros(t_len + self.width, n, dtype=data.dtype, device=device)
            observed[:t_len] = torch.from_numpy(np.ascontiguousarray(mask)).to(device)
            observed = observed.T
        with progress_bar(desc="Conv-NMF sweeps", unit="sweep") as bar:
            state, sigma = fit_default(
                data,
                self._solver_config(),
                noise_std=self.noise_std,
                n_init=self.n_init,
                random_state=self.random_state,
                observed=observed,
                progress_bar=bar,
            )
        self.templates_ = state.templates.cpu().numpy()
        self.amplitudes_ = state.dense_amplitudes().T.contiguous().cpu().numpy()
        self.log_likelihoods_ = np.asarray(state.log_likelihoods)
        self.n_iter_ = state.n_iter
        self.converged_ = bool(state.converged)
        self.noise_std_ = float(sigma)
        self.objective_ = float(state.objective)
        with single_thread(data.device):  # on the fit's one thread: the same sums in any process
            return state.squared_error()

    # ------------------------------------------------------------------ #
    # using a fitted model
    # ------------------------------------------------------------------ #
    def reconstruct(self, amplitudes=None) -> np.ndarray:
        """Model prediction ``sum_k a_k (*) W_k`` (T, N) for the given (default: fitted) amplitudes (T, K)."""
        import torch

        from neurocine.motifs.templates import convolve_templates

        check_is_fitted(self, "templates_")
        a = self.amplitudes_ if amplitudes is None else np.asarray(amplitudes, dtype=np.float32)
        if a.ndim != 2 or a.shape[1] != self.templates_.shape[0]:
            raise InputError(f"amplitudes: got shape {a.shape}, expected (T, {self.templates_.shape[0]})")
        pred = convolve_templates(torch.from_numpy(np.ascontiguousarray(a.T)), torch.from_numpy(self.templates_))
        return pred.T.contiguous().numpy()

    def transform(self, X) -> np.ndarray:
        """Amplitudes (T', K) of new data ``X`` (T', N) with the fitted templates held fixed.

        Spikes are found by the default solver's joint matching pursuit and
        per-unit re-detection, with the fitted ``noise_std_`` (for either solver).
        """
        import torch

        from neurocine.motifs._solver import decode

        check_is_fitted(self, "templates_")
        X = self._check_X(X)
        if self.width >= X.shape[0]:
            raise InputError(f"X: has {X.shape[0]} time steps, expected more than width={self.width}")
        device = resolve_device(self.device)
        data = torch.from_numpy(np.ascontiguousarray(X.T)).to(device)
        amps = decode(data, torch.from_numpy(self.templates_).to(device), self._solver_config(), self.noise_std_)
        return amps.T.contiguous().cpu().numpy()

    def fit_transform(self, X, y=None, **fit_params) -> np.ndarray:
        """Fit to ``X`` (T, N) and return the fitted amplitudes ``amplitudes_`` (T, K); ``fit_params`` as :meth:`fit`."""
        return self.fit(X, **fit_params).amplitudes_

    def predict(self, X) -> np.ndarray:
        """Reconstruction (T', N) of new data ``X`` from its amplitudes under the fitted templates."""
        return self.reconstruct(self.transform(X))

    def score(self, X, y=None) -> float:
        """R^2 of :meth:`predict` on ``X``: 1 - SSE / total sum of squares around the mean."""
        check_is_fitted(self, "templates_")
        X = self._check_X(X)
        return r2_score(X, self.predict(X))
