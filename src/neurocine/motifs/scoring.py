"""Ground-truth scoring of Conv-NMF "spike sorting".

A Conv-NMF fit sorts a multichannel signal into units, each with a template
``(N channels, D lags)`` and an amplitude trace over time; a spike of unit
``k`` at sample ``t`` means ``amplitudes[t, k] > 0``. Against simulated data
(whose true templates and amplitudes are known) the sort is scored the way
SpikeInterface's ``compare_sorter_to_ground_truth`` (``GroundTruthComparison``,
Hungarian method) does it:

1. For every pair (true unit ``i``, estimated unit ``j``) count the spikes
   matched one-to-one within ``tolerance`` samples (:func:`match_spike_trains`).
2. Agreement score ``n_match / (n_true + n_est - n_match)`` (intersection
   over union of the two spike trains).
3. Assign true units to estimated units with the Hungarian algorithm
   (``scipy.optimize.linear_sum_assignment``) maximising the summed agreement;
   assigned pairs whose agreement is 0 or below ``min_agreement`` (0.5 by
   default, SpikeInterface's ``match_score``) are left unmatched.
4. Per true unit: ``tp`` = matched spikes with its assigned unit, ``fn`` =
   its spikes not matched, ``fp`` = spikes of its assigned unit not matched;
   accuracy ``tp / (tp + fn + fp)``, precision ``tp / (tp + fp)``, recall
   ``tp / (tp + fn)``, F1. Overall: the counts pooled over all units
   (unassigned estimated units add all their spikes to ``fp``, unassigned
   true units all theirs to ``fn``) and the same formulas; and the mean of the
   per-unit figures over the true units (``unit_mean_*``), which a few large
   units cannot carry.

Templates, when given, are compared with a lag-aligned cosine
(:func:`lagged_cosine`).

Everything here is numpy + scipy; no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from numbers import Real
from typing import Any, cast

import numpy as np

from neurocine.errors import InputError

__all__ = [
    "GroundTruthScore",
    "lagged_cosine",
    "match_spike_trains",
    "score_against_truth",
    "spike_times",
]


# --------------------------------------------------------------------------- validation


def _check_tolerance(tolerance: Any) -> float:
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, Real)
        or not np.isfinite(float(tolerance))
        or tolerance < 0
    ):
        raise InputError(f"tolerance: got {tolerance!r}, expected a non-negative number of samples")
    return cast(float, tolerance)  # returned as given (an int stays an int)


def _check_train(name: str, times) -> np.ndarray:
    arr = np.asarray(times)
    if arr.ndim != 1:
        raise InputError(f"{name}: got an array of shape {arr.shape}, expected a 1-D array of spike times")
    if arr.size and not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{name}: got dtype {arr.dtype}, expected numeric spike times")
    if arr.size and not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or infinite values, expected finite spike times")
    if arr.size > 1 and np.any(np.diff(arr) < 0):
        raise InputError(f"{name}: spike times are not sorted, expected a non-decreasing array")
    return arr


def _check_amplitudes(name: str, amplitudes) -> np.ndarray:
    arr = np.asarray(amplitudes)
    if arr.ndim != 2:
        raise InputError(f"{name}: got an array of shape {arr.shape}, expected amplitudes of shape (T, K)")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InputError(f"{name}: got dtype {arr.dtype}, expected numeric amplitudes of shape (T, K)")
    if arr.size and not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or infinite values, expected finite amplitudes")
    return arr


def _check_template(name: str, template) -> np.ndarray:
    arr = np.asarray(template, dtype=np.float64)
    if arr.ndim != 2:
        raise InputError(f"{name}: got an array of shape {arr.shape}, expected a template of shape (N, D)")
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or infinite values, expected a finite template")
    return arr


def _check_templates(name: str, templates, n_units: int, amplitudes_name: str) -> np.ndarray:
    arr = np.asarray(templates, dtype=np.float64)
    if arr.ndim != 3:
        raise InputError(f"{name}: got an array of shape {arr.shape}, expected templates of shape (K, N, D)")
    if arr.shape[0] != n_units:
        raise InputError(
            f"{name}: got {arr.shape[0]} templates, expected {n_units} (one per column of {amplitudes_name})"
        )
    if not np.all(np.isfinite(arr)):
        raise InputError(f"{name}: contains NaN or infinite values, expected finite templates")
    return arr


# --------------------------------------------------------------------------- spike trains


def spike_times(amplitudes) -> list[np.ndarray]:
    """Sample indices of each unit's spikes.

    Parameters
    ----------
    amplitudes : array_like, shape (T, K)
        Amplitudes, time first; a spike of unit ``k`` at sample ``t`` is
        ``amplitudes[t, k] > 0``.

    Returns
    -------
    list of ndarray of int64
        ``K`` sorted arrays of sample indices.

    Examples
    --------
    >>> a = np.zeros((6, 2)); a[1, 0] = 2.0; a[4, 0] = 0.5; a[3, 1] = 1.0
    >>> [t.tolist() for t in spike_times(a)]
    [[1, 4], [3]]
    """
    arr = _check_amplitudes("amplitudes", amplitudes)
    return [np.flatnonzero(arr[:, k] > 0).astype(np.int64) for k in range(arr.shape[1])]


def _greedy_count(true_times, est_times, tolerance) -> int:
    """Two-pointer greedy maximum matching of two sorted sequences (Python loop).

    Why it is optimal: let ``t`` be the earliest true spike and ``e`` the
    earliest estimated spike. If ``e < t - tol`` then ``e`` is too early for
    every true spike (all are >= t), so dropping it loses nothing; likewise
    ``e > t + tol`` means ``t`` can match no estimated spike. Otherwise
    ``|t - e| <= tol`` and some maximum matching pairs ``t`` with ``e``: if an
    optimum pairs ``t`` with ``e'`` and ``e`` with ``t'`` then ``t <= t'`` and
    ``e <= e'`` give ``e' <= t + tol <= t' + tol`` and
    ``e' >= e >= t' - tol``, so swapping to (t, e), (t', e') keeps the size;
    if ``t`` or ``e`` is unmatched, re-pairing the matched one with the other
    keeps the size too. Induction on the remaining spikes finishes the proof.
    """
    i = j = n = 0
    n_true, n_est = len(true_times), len(est_times)
    while i < n_true and j < n_est:
        t = true_times[i]
        e = est_times[j]
        if e < t - tolerance:
            j += 1
        elif e > t + tolerance:
            i += 1
        else:
            n += 1
            i += 1
            j += 1
    return n


def match_spike_trains(true_times, est_times, tolerance=2) -> int:
    """Number of spikes matched one-to-one between two spike trains.

    A true spike at ``t`` and an estimated spike at ``e`` may be matched when
    ``|t - e| <= tolerance``; each spike is matched at most once, and the
    returned count is the largest such matching (a maximum bipartite
    matching). For sorted trains a two-pointer greedy sweep is optimal; the
    sweep is vectorised by cutting the merged train wherever two consecutive
    events are more than ``tolerance`` apart (no match can cross such a gap),
    counting isolated (true, estimated) pairs directly and sweeping only the
    crowded stretches in Python.

    Parameters
    ----------
    true_times, est_times : array_like, shape (n_true,), (n_est,)
        Spike times in samples, sorted (non-decreasing).
    tolerance : float, default 2
        Largest allowed ``|t_true - t_est|`` in samples, >= 0.

    Returns
    -------
    int
        Number of matched pairs, ``0 <= n <= min(n_true, n_est)``.

    Raises
    ------
    InputError
        A train that is not 1-D, not numeric, not finite or not sorted; a
        negative tolerance.

    Examples
    --------
    >>> match_spike_trains([10, 20, 30], [11, 22, 33], tolerance=2)
    2
    >>> match_spike_trains([10, 11], [10], tolerance=2)
    1
    """
    tolerance = _check_tolerance(tolerance)
    t = _check_train("true_times", true_times)
    e = _check_train("est_times", est_times)
    if t.size == 0 or e.size == 0:
        return 0
    merged = np.concatenate([t, e]).astype(np.float64)
    is_true = np.concatenate([np.ones(t.size, bool), np.zeros(e.size, bool)])
    order = np.argsort(merged, kind="stable")
    values = merged[order]
    labels = is_true[order]
    # chunk boundaries: consecutive merged events more than `tolerance` apart
    chunk = np.concatenate([[0], np.cumsum(np.diff(values) > tolerance)])
    n_chunks = int(chunk[-1]) + 1
    n_t = np.bincount(chunk, weights=labels, minlength=n_chunks).astype(np.int64)
    n_e = np.bincount(chunk, weights=~labels, minlength=n_chunks).astype(np.int64)
    # one true + one estimated spike within tolerance of each other: one match
    simple = (n_t == 1) & (n_e == 1)
    count = int(simple.sum())
    crowded = (n_t >= 1) & (n_e >= 1) & ~simple
    if crowded.any():
        keep = crowded[chunk]
        sel_values = values[keep]
        sel_labels = labels[keep]
        # chunks are separated by gaps > tolerance, so one sweep over their union
        # equals the sum of per-chunk sweeps
        count += _greedy_count(sel_values[sel_labels].tolist(), sel_values[~sel_labels].tolist(), tolerance)
    return count


# --------------------------------------------------------------------------- templates


def lagged_cosine(a, b) -> tuple[float, int]:
    """Best cosine similarity of two templates over relative time shifts.

    For each lag ``l`` with ``|l| < D`` the template ``b`` is shifted by
    ``l`` samples along the lag axis (zero-filled) and compared with ``a``::

        c(l) = sum_{n, d} a[n, d] * b[n, d - l] / (||a|| ||b||)

    The norms are those of the whole templates, so a shift that pushes part
    of ``b`` off the window is penalised (``c(l) = 1`` exactly when
    ``a`` equals a positive multiple of ``b`` shifted by ``l`` with nothing
    lost) and a small overlap cannot look similar by accident. There is no
    sign flipping: a negated template has cosine ``<= 0`` where the original
    has ``>= 0``.

    Parameters
    ----------
    a, b : array_like, shape (N, D)
        Templates (channels x lags).

    Returns
    -------
    best_cosine : float
        ``max_l c(l)`` in ``[-1, 1]``; 0.0 when either template is all zeros.
    best_lag : int
        The maximising ``l`` (ties go to the smallest ``|l|``, then the
        negative lag): ``a[:, d]`` lines up with ``b[:, d - best_lag]``, i.e.
        ``a`` is ``b`` delayed by ``best_lag`` samples.

    Raises
    ------
    InputError
        Templates that are not 2-D, not finite, or of different shapes.

    Examples
    --------
    >>> b = np.zeros((2, 5)); b[0, 1] = 1.0; b[1, 2] = 2.0
    >>> a = np.roll(b, 2, axis=1)       # b delayed by 2 samples
    >>> cos, lag = lagged_cosine(a, b)
    >>> round(cos, 6), lag
    (1.0, 2)
    """
    a = _check_template("a", a)
    b = _check_template("b", b)
    if a.shape != b.shape:
        raise InputError(f"templates: got shapes {a.shape} and {b.shape}, expected the same (N, D) shape")
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    d = a.shape[1]
    if norm == 0.0 or d == 0:
        return 0.0, 0
    # lags ordered 0, -1, 1, -2, 2, ... so argmax breaks ties towards small |l|
    lags = [0]
    for k in range(1, d):
        lags.extend((-k, k))
    scores = np.empty(len(lags))
    for idx, lag in enumerate(lags):
        if lag >= 0:
            scores[idx] = np.sum(a[:, lag:] * b[:, : d - lag])
        else:
            scores[idx] = np.sum(a[:, : d + lag] * b[:, -lag:])
    best = int(np.argmax(scores))
    return float(np.clip(scores[best] / norm, -1.0, 1.0)), int(lags[best])


# --------------------------------------------------------------------------- scoring


def _safe_ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else 0.0


def _metrics(tp: int, fp: int, fn: int) -> dict:
    precision = _safe_ratio(tp, tp + fp)
    recall = _safe_ratio(tp, tp + fn)
    return {
        "accuracy": _safe_ratio(tp, tp + fn + fp),
        "precision": precision,
        "recall": recall,
        "f1": _safe_ratio(2.0 * precision * recall, precision + recall),
    }


@dataclass
class GroundTruthScore:
    """Result of :func:`score_against_truth`.

    Attributes
    ----------
    assignment : dict of int -> int or None
        True unit index -> assigned estimated unit index (``None`` when
        unmatched).
    per_unit : list of dict
        One dict per true unit with keys ``unit``, ``matched_unit``,
        ``n_true``, ``n_est`` (spikes of the matched unit, 0 if none), ``tp``,
        ``fp``, ``fn``, ``accuracy``, ``precision``, ``recall``, ``f1``,
        ``agreement`` and ``template_similarity`` (lag-aligned cosine with the
        matched template, 0.0 when unmatched, ``None`` without templates).
    overall : dict
        Pooled counts ``n_true``, ``n_est``, ``tp``, ``fp``, ``fn`` and
        ``precision``, ``recall``, ``f1``, ``accuracy`` computed from them
        (pooled); ``unit_mean_precision``, ``unit_mean_recall``,
        ``unit_mean_f1``, ``unit_mean_accuracy``: the per-unit figures averaged
        over the true units (unmatched ones count 0); ``n_matched`` true units;
        ``template_similarity`` is the mean over all true units (unmatched
        ones count 0), ``None`` without templates.
    agreement_matrix : ndarray, shape (K_true, K_est)
        Agreement scores of every (true, estimated) pair.
    tolerance : float
        The matching tolerance in samples.
    min_agreement : float
        The least agreement of a matched pair.
    """

    assignment: dict
    per_unit: list
    overall: dict
    agreement_matrix: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    tolerance: float = 2
    min_agreement: float = 0.5

    def to_dict(self) -> dict:
        """Plain-Python (JSON-serialisable) copy; assignment keys become strings."""
        return {
            "tolerance": float(self.tolerance),
            "min_agreement": float(self.min_agreement),
            "assignment": {str(k): (None if v is None else int(v)) for k, v in self.assignment.items()},
            "per_unit": [dict(row) for row in self.per_unit],
            "overall": dict(self.overall),
            "agreement_matrix": np.asarray(self.agreement_matrix, dtype=float).tolist(),
        }


def score_against_truth(
    true_amplitudes, est_amplitudes, true_templates=None, est_templates=None, tolerance=2, *, min_agreement: float = 0.5
) -> GroundTruthScore:
    """Score a sort against ground truth (SpikeInterface ground-truth comparison, Hungarian match).

    Parameters
    ----------
    true_amplitudes : array_like, shape (T, K_true)
        Ground-truth amplitudes, time first; spikes where > 0.
    est_amplitudes : array_like, shape (T, K_est)
        Estimated amplitudes on the same T samples.
    true_templates : array_like, shape (K_true, N, D), optional
    est_templates : array_like, shape (K_est, N, D), optional
        Give both (same N) to get ``template_similarity``. Templates of different widths D are
        compared after padding the narrower ones with zero lags at the end, so a fit with another
        ``width`` than the simulation's can still be scored.
    tolerance : float, default 2
        Spike-time tolerance in samples (see :func:`match_spike_trains`).
    min_agreement : float, default 0.5
        Assigned pairs with agreement below this (or equal to 0) count as
        unmatched; scores below it are zeroed before the Hungarian step, as
        SpikeInterface does with ``match_score`` (whose default is also 0.5).
        0 matches any overlapping pair, which flatters a weak sort.

    Returns
    -------
    GroundTruthScore

    Raises
    ------
    InputError
        Amplitudes that are not 2-D or differ in T; templates of the wrong
        rank, count or N; only one of the two template arrays; a negative
        tolerance or a ``min_agreement`` outside [0, 1].

    Examples
    --------
    >>> truth = np.zeros((100, 2)); truth[[10, 40, 70], 0] = 1; truth[[25, 55], 1] = 1
    >>> est = truth[:, ::-1].copy()          # same sort, labels swapped
    >>> est[41, 1], est[40, 1] = 1, 0         # one spike off by a sample
    >>> score = score_against_truth(truth, est, tolerance=2)
    >>> score.assignment
    {0: 1, 1: 0}
    >>> score.overall["f1"]
    1.0
    """
    tolerance = _check_tolerance(tolerance)
    if isinstance(min_agreement, bool) or not isinstance(min_agreement, Real) or not (0 <= min_agreement <= 1):
        raise InputError(f"min_agreement: got {min_agreement!r}, expected a number in [0, 1]")
    true_amp = _check_amplitudes("true_amplitudes", true_amplitudes)
    est_amp = _check_amplitudes("est_amplitudes", est_amplitudes)
    if true_amp.shape[0] != est_amp.shape[0]:
        raise InputError(
            f"est_amplitudes: got {est_amp.shape[0]} time samples, expected {true_amp.shape[0]} (as true_amplitudes)"
        )
    k_true, k_est = true_amp.shape[1], est_amp.shape[1]

    if (true_templates is None) != (est_templates is None):
        given = "true_templates" if est_templates is None else "est_templates"
        raise InputError(f"templates: got only {given}, expected both true_templates and est_templates or neither")
    with_templates = true_templates is not None
    if with_templates:
        true_tpl = _check_templates("true_templates", true_templates, k_true, "true_amplitudes")
        est_tpl = _check_templates("est_templates", est_templates, k_est, "est_amplitudes")
        if true_tpl.shape[1] != est_tpl.shape[1]:
            raise InputError(
                f"est_templates: got N = {est_tpl.shape[1]} channels, expected {true_tpl.shape[1]} (as true_templates)"
            )
        width = max(true_tpl.shape[2], est_tpl.shape[2])
        true_tpl, est_tpl = (np.pad(t, ((0, 0), (0, 0), (0, width - t.shape[2]))) for t in (true_tpl, est_tpl))

    true_trains = spike_times(true_amp)
    est_trains = spike_times(est_amp)
    n_true = np.array([t.size for t in true_trains], dtype=np.int64)
    n_est = np.array([e.size for e in est_trains], dtype=np.int64)

    counts = np.zeros((k_true, k_est), dtype=np.int64)
    for i, t in enumerate(true_trains):
        for j, e in enumerate(est_trains):
            counts[i, j] = match_spike_trains(t, e, tolerance)
    union = n_true[:, None] + n_est[None, :] - counts
    agreement = np.divide(counts, union, out=np.zeros(counts.shape), where=union > 0)

    assignment: dict = dict.fromkeys(range(k_true))
    if k_true and k_est:
        from scipy.optimize import linear_sum_assignment

        scores = np.where(agreement >= min_agreement, agreement, 0.0)
        rows, cols = linear_sum_assignment(scores, maximize=True)
        for i, j in zip(rows.tolist(), cols.tolist()):
            if scores[i, j] > 0:
                assignment[i] = j

    per_unit = []
    tp_sum = fp_sum = fn_sum = 0
    sim_sum = 0.0
    for i in range(k_true):
        j = assignment[i]
        tp = int(counts[i, j]) if j is not None else 0
        n_e = int(n_est[j]) if j is not None else 0
        fn = int(n_true[i]) - tp
        fp = n_e - tp
        if with_templates:
            similarity = lagged_cosine(true_tpl[i], est_tpl[j])[0] if j is not None else 0.0
            sim_sum += similarity
        else:
            similarity = None
        row = {"unit": i, "matched_unit": j, "n_true": int(n_true[i]), "n_est": n_e, "tp": tp, "fp": fp, "fn": fn}
        row.update(_metrics(tp, fp, fn))
        row["agreement"] = float(agreement[i, j]) if j is not None else 0.0
        row["template_similarity"] = similarity
        per_unit.append(row)
        tp_sum += tp
        fp_sum += fp
        fn_sum += fn

    matched_est = {j for j in assignment.values() if j is not None}
    fp_sum += int(sum(int(n_est[j]) for j in range(k_est) if j not in matched_est))
    overall = {"n_true": int(n_true.sum()), "n_est": int(n_est.sum()), "tp": tp_sum, "fp": fp_sum, "fn": fn_sum}
    overall.update(_metrics(tp_sum, fp_sum, fn_sum))
    for name in ("precision", "recall", "f1", "accuracy"):
        overall[f"unit_mean_{name}"] = float(np.mean([row[name] for row in per_unit])) if per_unit else 0.0
    overall["n_matched"] = sum(j is not None for j in assignment.values())
    overall["template_similarity"] = (sim_sum / k_true if k_true else 0.0) if with_templates else None
    return GroundTruthScore(
        assignment=assignment,
        per_unit=per_unit,
        overall=overall,
        agreement_matrix=agreement,
        tolerance=tolerance,
        min_agreement=float(min_agreement),
    )
