"""Choosing the number of units K of a Conv-NMF model.

Two criteria, computed for every K of a range:

* **held-out fit** -- a random fraction of the (time, channel) entries is
  hidden, the model is fitted to the rest (held-out entries are imputed by
  the model, see ``ConvNMF.fit(mask=...)``) and scored on the hidden ones
  (R^2 and Gaussian log-likelihood per entry). Too few units underfit;
  too many start fitting noise, and the held-out score stops improving.
* **stability** -- fits from different random starts and masks should find
  the same units. As in seqNMF, two fits are compared through their
  per-unit reconstructions ``a_k (*) W_k``: the cosine similarity matrix
  between the units of fit A and of fit B, and
  ``dissimilarity = 1 - (sum_i max_j C_ij + sum_j max_i C_ij) / (2 K)``;
  stability is ``1 - dissimilarity``, averaged over pairs of repeats.

The recommended K is the smallest K whose mean held-out R^2 is within one
standard error of the best mean (the "one-SE rule"), or within 2 % of the
spread of the means over K when that is larger.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from neurocine.errors import InputError
from neurocine.metrics import r2_score
from neurocine.runtime import progress
from neurocine.validation import check_int, validate_signal_matrix


@dataclass
class KSelection:
    """Result of :func:`select_n_components` (rows: K values, columns: repeats)."""

    ks: list[int]
    heldout_r2: np.ndarray
    heldout_loglik: np.ndarray
    train_r2: np.ndarray
    stability: np.ndarray
    recommended: int
    params: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "ks": list(self.ks),
            "recommended_k": int(self.recommended),
            "heldout_r2": self.heldout_r2.tolist(),
            "heldout_r2_mean": self.heldout_r2.mean(1).tolist(),
            "heldout_loglik_mean": self.heldout_loglik.mean(1).tolist(),
            "train_r2_mean": self.train_r2.mean(1).tolist(),
            "stability_mean": [float(np.mean(s)) if len(s) else None for s in self.stability],
            "params": self.params,
        }


def unit_reconstructions(templates: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """Each unit's contribution ``a_k (*) W_k``, shape (K, T, N)."""
    import torch

    from neurocine.motifs.templates import convolve_templates

    k_units = templates.shape[0]
    a = torch.from_numpy(np.ascontiguousarray(amplitudes.T, dtype=np.float32))
    w = torch.from_numpy(np.ascontiguousarray(templates, dtype=np.float32))
    return np.stack([convolve_templates(a[k : k + 1], w[k : k + 1]).T.numpy() for k in range(k_units)])


def _spikes(amplitudes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nonzero amplitudes of a (T, K) array as (times, units, values), sorted by time."""
    amplitudes = np.asarray(amplitudes)
    times, units = np.nonzero(amplitudes)
    return times, units, amplitudes[times, units].astype(np.float64)


def _amplitude_crosscorr(spikes_a, spikes_b, k_a: int, k_b: int, width: int, max_pairs: int = 1 << 22) -> np.ndarray:
    """``A[i, j, delta + D - 1] = sum_s a_i[s] b_j[s + delta]`` for ``|delta| < D``, shape (Ka, Kb, 2D - 1).

    From the spikes alone: each spike of ``a`` is paired with the spikes of
    ``b`` less than D samples away (read in chunks of about ``max_pairs`` pairs).
    """
    lags = 2 * width - 1
    out = np.zeros(k_a * k_b * lags)
    ta, ua, va = spikes_a
    tb, ub, vb = spikes_b
    lo = np.searchsorted(tb, ta - (width - 1), side="left")
    count = np.searchsorted(tb, ta + (width - 1), side="right") - lo
    ends = np.cumsum(count)
    start = 0
    while start < ta.size:
        stop = max(start + 1, int(np.searchsorted(ends, ends[start] - count[start] + max_pairs, side="right")))
        c = count[start:stop]
        owner = np.repeat(np.arange(start, stop), c)  # spike of a, per pair
        partner = lo[owner] + np.arange(c.sum()) - np.repeat(np.cumsum(c) - c, c)  # spike of b, per pair
        index = (ua[owner] * k_b + ub[partner]) * lags + (tb[partner] - ta[owner] + width - 1)
        out += np.bincount(index, weights=va[owner] * vb[partner], minlength=out.size)
        start = stop
    return out.reshape(k_a, k_b, lags)


def _tail(templates: np.ndarray, spikes, t_len: int) -> np.ndarray:
    """The part of each unit's reconstruction beyond the end T of the data (cut off by the model), (K, D - 1, N)."""
    k_units, n, d = templates.shape
    out = np.zeros((k_units, d - 1, n))
    times, units, values = spikes
    late = times >= t_len - (d - 1)  # a spike at t_len - (d - 1) + q reaches q + 1 rows beyond
    for t, k, a in zip(times[late], units[late], values[late]):
        q = int(t) - (t_len - (d - 1))
        out[k, : q + 1] += a * templates[k, :, d - 1 - q :].T
    return out


def _factorisation(templates, amplitudes) -> tuple[np.ndarray, tuple]:
    """A factorisation as K selection keeps it: float64 templates (K, N, D) and spikes (:func:`_spikes`)."""
    return np.asarray(templates, dtype=np.float64), _spikes(amplitudes)


def _gram(fit_a: tuple, fit_b: tuple, t_len: int) -> np.ndarray:
    """:func:`reconstruction_gram` of two factorisations (:func:`_factorisation`) on T samples."""
    (templates_a, spikes_a), (templates_b, spikes_b) = fit_a, fit_b
    d = templates_a.shape[2]
    products = np.einsum("inm,jnp->ijmp", templates_a, templates_b)  # (Ka, Kb, D, D)
    template_xcorr = np.stack([np.trace(products, offset=-lag, axis1=2, axis2=3) for lag in range(1 - d, d)], -1)
    amp_xcorr = _amplitude_crosscorr(spikes_a, spikes_b, templates_a.shape[0], templates_b.shape[0], d)
    beyond = np.einsum("irn,jrn->ij", _tail(templates_a, spikes_a, t_len), _tail(templates_b, spikes_b, t_len))
    return (amp_xcorr * template_xcorr).sum(-1) - beyond


def reconstruction_gram(templates_a, amplitudes_a, templates_b, amplitudes_b) -> np.ndarray:
    """Inner products ``<a_i (*) W_i, b_j (*) V_j>`` of the units' reconstructions (cut at T), (Ka, Kb).

    Exact without building the reconstructions (K T N numbers each): two
    spikes less than D apart, at lag ``delta``, contribute their amplitudes'
    product times the templates' cross-correlation at that lag,
    ``sum_{n, m} W_i[n, m] V_j[n, m - delta]``; the part of the reconstructions
    beyond T (spikes in the last D - 1 samples) is then taken off. Memory
    grows with the number of spikes, not with T N.

    Parameters
    ----------
    templates_a, templates_b : ndarray (K, N, D)
    amplitudes_a, amplitudes_b : ndarray (T, K)
    """
    return _gram(
        _factorisation(templates_a, amplitudes_a), _factorisation(templates_b, amplitudes_b), np.shape(amplitudes_a)[0]
    )


def _unit_norms(fit: tuple, t_len: int) -> np.ndarray:
    """Norms of the units' reconstructions of a factorisation (:func:`_factorisation`) on T samples, (K,)."""
    return np.sqrt(np.clip(np.diag(_gram(fit, fit, t_len)), 0, None))


def _dissimilarity(fit_a: tuple, fit_b: tuple, t_len: int, norm_a: np.ndarray, norm_b: np.ndarray) -> float:
    """:func:`dissimilarity` of two factorisations (:func:`_factorisation`) on T samples, given their
    :func:`_unit_norms`."""
    c = _gram(fit_a, fit_b, t_len) / np.maximum(np.outer(norm_a, norm_b), np.finfo(float).tiny)
    return float(1.0 - (c.max(1).sum() + c.max(0).sum()) / (2 * max(c.shape)))


def dissimilarity(templates_a, amplitudes_a, templates_b, amplitudes_b) -> float:
    """seqNMF's dissimilarity of two factorisations (0: same units, 1: unrelated).

    The cosines of the units' reconstructions come from
    :func:`reconstruction_gram` (memory of the order of the spikes; building
    the reconstructions would take K T N numbers per fit).

    Parameters
    ----------
    templates_a, templates_b : ndarray (K, N, D)
    amplitudes_a, amplitudes_b : ndarray (T, K)
    """
    t_len = np.shape(amplitudes_a)[0]
    fit_a, fit_b = _factorisation(templates_a, amplitudes_a), _factorisation(templates_b, amplitudes_b)
    return _dissimilarity(fit_a, fit_b, t_len, _unit_norms(fit_a, t_len), _unit_norms(fit_b, t_len))


def one_se_choice(ks: list[int], scores: np.ndarray, min_tolerance: float = 0.02) -> int:
    """Smallest K whose mean score is within tolerance of the best mean.

    The tolerance is the larger of one standard error of the best K's score
    and ``min_tolerance`` times the spread of the mean scores over K (extra
    units keep buying a sliver of held-out fit by explaining overlaps; that
    sliver is not a new motif). ``scores`` is (n_k, n_repeats).
    """
    means = scores.mean(1)
    best = int(np.nanargmax(means))
    n_rep = scores.shape[1]
    se = float(scores[best].std(ddof=1) / math.sqrt(n_rep)) if n_rep > 1 else 0.0
    tolerance = max(se, min_tolerance * float(np.nanmax(means) - np.nanmin(means)))
    for i, k in enumerate(ks):
        if means[i] >= means[best] - tolerance:
            return int(k)
    return int(ks[best])


def parse_k_range(text: str) -> list[int]:
    """Parse ``"1-8"``, ``"2,4,6"`` or ``"4"`` into a sorted list of distinct K >= 1."""
    ks: set[int] = set()
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(p) for p in part.split("-", 1))
                if hi < lo:
                    raise ValueError
                ks.update(range(lo, hi + 1))
            else:
                ks.add(int(part))
    except ValueError:
        raise InputError(f"--components: got {text!r}, expected a K, a range like 1-8 or a list like 2,4,6") from None
    if not ks or min(ks) < 1:
        raise InputError(f"--components: got {text!r}, expected values >= 1")
    return sorted(ks)


def _random_mask(rng: np.random.Generator, shape: tuple[int, int], fraction: float) -> np.ndarray:
    """``rng.random(shape) >= fraction`` drawn in blocks of rows (the same draws, without a float64 copy of X)."""
    mask = np.empty(shape, dtype=bool)
    rows = max(1, (1 << 22) // max(1, shape[1]))
    for lo in range(0, shape[0], rows):
        mask[lo : lo + rows] = rng.random((min(rows, shape[0] - lo), shape[1])) >= fraction
    return mask


def _fit_record(model, X: np.ndarray, mask: np.ndarray) -> dict:
    """What K selection keeps of one masked fit: its scores, templates and spikes (not the dense amplitudes).

    The prediction is computed on one thread, as the fit is, so a record is
    the same in any process (worker processes run one thread; the
    convolution's sums depend on the thread count).
    """
    import torch

    from neurocine.motifs._solver import single_thread

    with single_thread(torch.device("cpu")):
        pred = model.reconstruct()
    held = ~mask
    resid = (X[held] - pred[held]).astype(np.float64)
    sigma = model.noise_std_
    templates, (times, units, values) = _factorisation(model.templates_, model.amplitudes_)
    loglik = -0.5 * (resid / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)
    return {
        "heldout_r2": float(r2_score(X, pred, held)),
        "heldout_loglik": float(np.mean(loglik)),
        "train_r2": float(model.r2_),
        "templates": templates,
        "times": times,
        "units": units,
        "values": values,
    }


def _load_records(checkpoint_dir, fingerprint: dict) -> dict[str, dict]:
    """Fits already done by an interrupted run with the same fingerprint (``{}`` without a checkpoint)."""
    from neurocine.io.checkpoints import check_fingerprint, checkpoint_path, load_checkpoint

    path = checkpoint_path(checkpoint_dir)
    if path is None or not path.exists():
        return {}
    saved = load_checkpoint(path)
    check_fingerprint(saved.get("fingerprint", {}), fingerprint, path)
    return {
        key: {name: value.numpy() if hasattr(value, "numpy") else value for name, value in record.items()}
        for key, record in saved["fits"].items()
    }


def _save_records(checkpoint_dir, fingerprint: dict, records: dict[str, dict]) -> None:
    import torch

    from neurocine.io.checkpoints import CHECKPOINT_FORMAT, checkpoint_path, save_atomic

    fits = {
        key: {
            name: torch.from_numpy(np.ascontiguousarray(value)) if isinstance(value, np.ndarray) else value
            for name, value in record.items()
        }
        for key, record in records.items()
    }
    save_atomic(
        {"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "fits": fits}, checkpoint_path(checkpoint_dir)
    )


def _masked_fit(X: np.ndarray, mask: np.ndarray, k: int, width: int, seed: int, params: dict) -> dict:
    """One fit of K selection: ConvNMF with ``k`` units on the observed entries of ``X``; its :func:`_fit_record`."""
    from neurocine.motifs.convnmf import ConvNMF

    model = ConvNMF(n_components=k, width=width, random_state=seed, **params).fit(X, mask=mask)
    return _fit_record(model, X, mask)


def _masked_fit_from_files(data_path: str, mask_path: str, k: int, width: int, seed: int, params: dict) -> dict:
    """:func:`_masked_fit` in a worker process, the data and mask memory-mapped from ``.npy`` files.

    The data are mapped copy-on-write: the workers share their pages and none
    can change the file.
    """
    from neurocine.runtime import set_quiet

    set_quiet(True)  # the parent's bar counts the fits
    return _masked_fit(np.load(data_path, mmap_mode="c"), np.load(mask_path, mmap_mode="r"), k, width, seed, params)


def _fits_in_processes(
    X: np.ndarray,
    masks: list[np.ndarray],
    jobs: list[tuple[int, int]],
    seeds: list[int],
    width: int,
    params: dict,
    n_jobs: int,
):
    """(key, record) of every (K, repeat) in ``jobs``, fitted by ``n_jobs`` worker processes, as they finish.

    The data and masks are written once to ``.npy`` files in a temporary
    folder (removed at the end), which the workers map instead of receiving
    copies; a folder that cannot take them is one :class:`InputError` line.
    """
    import tempfile

    from joblib import Parallel, delayed

    nbytes = X.nbytes + sum(m.nbytes for m in masks)
    with _scratch_folder(nbytes) as tmp:
        try:
            data_path = f"{tmp}/data.npy"
            np.save(data_path, X)
            mask_paths = [f"{tmp}/mask{r}.npy" for r in range(len(masks))]
            for path, mask in zip(mask_paths, masks):
                np.save(path, mask)
        except OSError as exc:
            raise _scratch_error(tempfile.gettempdir(), exc, nbytes) from None
        tasks = (
            delayed(_keyed)(k, r, _masked_fit_from_files, data_path, mask_paths[r], k, width, seeds[r], params)
            for k, r in jobs
        )
        yield from Parallel(n_jobs=n_jobs, return_as="generator_unordered")(tasks)


def _scratch_folder(nbytes: int):
    """A temporary folder for the workers' files (``TMPDIR``); one :class:`InputError` line if none can be made."""
    import tempfile

    try:
        return tempfile.TemporaryDirectory(prefix="neurocine-select-")
    except OSError as exc:
        raise _scratch_error(tempfile.gettempdir(), exc, nbytes) from None


def _scratch_error(where: str, exc: OSError, nbytes: int) -> InputError:
    return InputError(
        f"n_jobs: cannot write the data for the worker processes in {where} "
        f"({exc.strerror or exc}); expected a writable folder with {nbytes / 1e9:.2g} GB free "
        f"(set TMPDIR), or n_jobs=1"
    )


def _keyed(k: int, r: int, fit, *args) -> tuple[str, dict]:
    return f"K={k} repeat={r}", fit(*args)


def check_fit_params(shape: tuple[int, int], k_max: int, width: int, params: dict) -> None:
    """Refuse, before any fit, the largest K, ``width`` or ``params`` that data of ``shape`` (T, N) cannot support.

    Parameters
    ----------
    shape : (int, int)
        The data's time steps T and channels N.
    k_max : int
        The largest K of the selection (at most ``T // width``).
    width : int
        Template duration D.
    params : dict
        Further :class:`~neurocine.motifs.ConvNMF` parameters (``rank`` at most ``min(N, D)``...).

    Raises
    ------
    InputError
        One line naming the parameter, what was given and what the data allow.

    Examples
    --------
    >>> check_fit_params((600, 10), 400, 10, {})
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: n_components: got 400, expected an integer in [1, 60] (600 time steps hold at most 60 templates of width 10)
    """
    from neurocine.motifs.convnmf import ConvNMF

    ConvNMF(n_components=k_max, width=width, **params)._check_params(*shape)


def _check_n_jobs(n_jobs) -> int:
    """Worker processes for ``n_jobs`` (scikit-learn's convention: None is 1, -1 all CPUs, -2 all but one...)."""
    import os

    if n_jobs is None:
        return 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, (int, np.integer)) or n_jobs == 0:
        raise InputError(f"n_jobs: got {n_jobs!r}, expected a nonzero integer (-1: all CPUs)")
    n_jobs = int(n_jobs)
    return n_jobs if n_jobs > 0 else max(1, (os.cpu_count() or 1) + 1 + n_jobs)


def select_n_components(
    X,
    ks,
    width: int,
    *,
    n_repeats: int = 3,
    mask_fraction: float = 0.1,
    random_state: int | None = 0,
    checkpoint_dir=None,
    n_jobs: int | None = 1,
    **params,
) -> KSelection:
    """Held-out fit and stability of Conv-NMF models for each K in ``ks``.

    Parameters
    ----------
    X : array_like (T, N)
    ks : iterable of int or str (``"1-8"``)
    width : int
        Template duration D.
    n_repeats : int
        Fits per K, each with its own random mask and start.
    mask_fraction : float
        Fraction of entries held out in each fit (0 < f < 0.5).
    random_state : int or None
    checkpoint_dir : path or None
        Each finished fit's scores, templates and spikes are saved there
        (``checkpoint.pt``, written atomically); a later call with the same
        data and parameters skips the fits already done, so an interrupted
        selection resumes where it stopped, with the same result. Fits are
        keyed by K and repeat: widening ``ks`` reuses them too. A checkpoint
        of other data or parameters is refused (:class:`InputError`).
    n_jobs : int or None
        Fits run at once, each in its own worker process (joblib) with one
        thread; -1 uses every CPU. The results do not depend on it: every fit
        has its own mask and seed. The data and masks are written once to a
        temporary folder (``TMPDIR``) that the workers memory-map; each
        worker then needs the memory of one fit.
    **params
        Further :class:`~neurocine.motifs.ConvNMF` parameters (``rank``,
        ``nonnegative``, ``amp_rate``, ``n_init``...). The default solver is used.

    Returns
    -------
    KSelection

    Examples
    --------
    >>> from neurocine.motifs.simulate import simulate_convnmf
    >>> sim = simulate_convnmf(3, timesteps=1500)
    >>> sel = select_n_components(sim.data, [2, 4, 6], width=10, n_repeats=2, n_init=2)
    >>> sel.recommended in (2, 4, 6)
    True
    """
    from neurocine.io.checkpoints import data_fingerprint

    X = validate_signal_matrix(X, "X", dtype=np.float32)
    ks = parse_k_range(ks) if isinstance(ks, str) else sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise InputError(f"ks: got {ks!r}, expected K values >= 1")
    check_fit_params(X.shape, ks[-1], width, params)
    if not (0 < mask_fraction < 0.5):
        raise InputError(f"mask_fraction: got {mask_fraction!r}, expected a fraction in (0, 0.5)")
    n_repeats = check_int("n_repeats", n_repeats)
    n_jobs = _check_n_jobs(n_jobs)
    if "solver" in params and params["solver"] != "default":
        raise InputError("solver: K selection needs masked fitting, expected solver='default'")
    rng = np.random.default_rng(random_state)
    masks = [_random_mask(rng, X.shape, mask_fraction) for _ in range(n_repeats)]
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=n_repeats)]

    fingerprint = {}
    if checkpoint_dir is not None:
        fingerprint = {
            "data": data_fingerprint(X),
            "width": repr(width),
            "n_repeats": repr(n_repeats),
            "mask_fraction": repr(mask_fraction),
            "random_state": repr(random_state),
            **{f"param {k}": repr(v) for k, v in sorted(params.items()) if k != "device"},
        }
    records = _load_records(checkpoint_dir, fingerprint)
    jobs = [(k, r) for k in ks for r in range(n_repeats) if f"K={k} repeat={r}" not in records]
    done = len(ks) * n_repeats - len(jobs)
    if min(n_jobs, len(jobs)) > 1:
        finished = _fits_in_processes(X, masks, jobs, seeds, width, params, min(n_jobs, len(jobs)))
    else:
        finished = (_keyed(k, r, _masked_fit, X, masks[r], k, width, seeds[r], params) for k, r in jobs)
    for key, record in progress(
        finished,
        total=len(jobs),
        desc=f"K selection ({done} fits from the checkpoint)" if done else "K selection",
        unit="fit",
    ):
        records[key] = record
        if checkpoint_dir is not None:
            _save_records(checkpoint_dir, fingerprint, records)
    fits = [[records[f"K={k} repeat={r}"] for r in range(n_repeats)] for k in ks]

    def scores(name: str) -> np.ndarray:
        return np.array([[fit[name] for fit in row] for row in fits], dtype=float)

    t_len = X.shape[0]
    pairs = [(a, b) for a in range(n_repeats) for b in range(a + 1, n_repeats)]
    stability = []
    for row in fits:  # each fit's unit norms once, for all the pairs it is in
        factorisations = [(fit["templates"], (fit["times"], fit["units"], fit["values"])) for fit in row]
        norms = [_unit_norms(f, t_len) for f in factorisations]
        stability.append(
            [1.0 - _dissimilarity(factorisations[a], factorisations[b], t_len, norms[a], norms[b]) for a, b in pairs]
        )
    heldout_r2 = scores("heldout_r2")
    return KSelection(
        ks=ks,
        heldout_r2=heldout_r2,
        heldout_loglik=scores("heldout_loglik"),
        train_r2=scores("train_r2"),
        stability=np.array(stability, dtype=float).reshape(len(ks), -1),
        recommended=one_se_choice(ks, heldout_r2),
        params={
            "width": width,
            "n_repeats": n_repeats,
            "mask_fraction": mask_fraction,
            "random_state": random_state,
            **params,
        },
    )
