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

    from neurocine.simulate.convnmf import convolve_templates

    k_units = templates.shape[0]
    a = torch.from_numpy(np.ascontiguousarray(amplitudes.T, dtype=np.float32))
    w = torch.from_numpy(np.ascontiguousarray(templates, dtype=np.float32))
    return np.stack([convolve_templates(a[k: k + 1], w[k: k + 1]).T.numpy() for k in range(k_units)])


def dissimilarity(templates_a, amplitudes_a, templates_b, amplitudes_b) -> float:
    """seqNMF's dissimilarity of two factorisations (0: same units, 1: unrelated).

    Parameters
    ----------
    templates_a, templates_b : ndarray (K, N, D)
    amplitudes_a, amplitudes_b : ndarray (T, K)
    """
    ra = unit_reconstructions(templates_a, amplitudes_a).reshape(templates_a.shape[0], -1).astype(np.float64)
    rb = unit_reconstructions(templates_b, amplitudes_b).reshape(templates_b.shape[0], -1).astype(np.float64)
    na = np.linalg.norm(ra, axis=1)
    nb = np.linalg.norm(rb, axis=1)
    c = (ra @ rb.T) / np.maximum(np.outer(na, nb), np.finfo(float).tiny)
    k = max(ra.shape[0], rb.shape[0])
    return float(1.0 - (c.max(1).sum() + c.max(0).sum()) / (2 * k))


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


def select_n_components(X, ks, width: int, *, n_repeats: int = 3, mask_fraction: float = 0.1,
                        random_state: int | None = 0, **params) -> KSelection:
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
    **params
        Further :class:`~neurocine.motifs.ConvNMF` parameters (``rank``,
        ``nonnegative``, ``amp_rate``, ``n_init``...). The default solver is used.

    Returns
    -------
    KSelection

    Examples
    --------
    >>> from neurocine.simulate import simulate_convnmf
    >>> sim = simulate_convnmf(3, timesteps=1500)
    >>> sel = select_n_components(sim.data, [2, 4, 6], width=10, n_repeats=2, n_init=2)
    >>> sel.recommended in (2, 4, 6)
    True
    """
    from neurocine.motifs.convnmf import ConvNMF

    X = validate_signal_matrix(X, "X", dtype=np.float32)
    ks = parse_k_range(ks) if isinstance(ks, str) else sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise InputError(f"ks: got {ks!r}, expected K values >= 1")
    if not (0 < mask_fraction < 0.5):
        raise InputError(f"mask_fraction: got {mask_fraction!r}, expected a fraction in (0, 0.5)")
    n_repeats = check_int("n_repeats", n_repeats)
    if "solver" in params and params["solver"] != "default":
        raise InputError("solver: K selection needs masked fitting, expected solver='default'")
    rng = np.random.default_rng(random_state)
    masks = [rng.random(X.shape) >= mask_fraction for _ in range(n_repeats)]
    seeds = [int(s) for s in rng.integers(0, 2**31 - 1, size=n_repeats)]

    heldout_r2 = np.zeros((len(ks), n_repeats))
    heldout_ll = np.zeros((len(ks), n_repeats))
    train_r2 = np.zeros((len(ks), n_repeats))
    stability: list[list[float]] = []
    jobs = [(i, r) for i in range(len(ks)) for r in range(n_repeats)]
    fits: dict[tuple[int, int], ConvNMF] = {}
    for i, r in progress(jobs, total=len(jobs), desc="K selection"):
        model = ConvNMF(n_components=ks[i], width=width, random_state=seeds[r], **params)
        model.fit(X, mask=masks[r])
        pred = model.reconstruct()
        held = ~masks[r]
        resid = (X[held] - pred[held]).astype(np.float64)
        heldout_r2[i, r] = r2_score(X, pred, held)
        sigma = model.noise_std_
        heldout_ll[i, r] = float(np.mean(-0.5 * (resid / sigma) ** 2 - math.log(sigma) - 0.5 * math.log(2 * math.pi)))
        train_r2[i, r] = model.r2_
        fits[(i, r)] = model
    for i in range(len(ks)):
        pairs = [(a, b) for a in range(n_repeats) for b in range(a + 1, n_repeats)]
        stability.append([1.0 - dissimilarity(fits[(i, a)].templates_, fits[(i, a)].amplitudes_,
                                              fits[(i, b)].templates_, fits[(i, b)].amplitudes_) for a, b in pairs])
    recommended = one_se_choice(ks, heldout_r2)
    return KSelection(ks=ks, heldout_r2=heldout_r2, heldout_loglik=heldout_ll, train_r2=train_r2,
                      stability=np.array(stability, dtype=float).reshape(len(ks), -1), recommended=recommended,
                      params={"width": width, "n_repeats": n_repeats, "mask_fraction": mask_fraction,
                              "random_state": random_state, **params})
