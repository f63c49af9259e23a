"""Metrics of predicted neural responses (Sensorium 2023 definitions), pure numpy.

:func:`single_trial_correlation` correlates every neuron's predictions with
its responses over the frames of all trials; :func:`correlation_to_average`
with its responses averaged over repeats of the same clip. Both drop the
first ``skip`` frames of every trial (or clip), where a model's history is
incomplete.
"""

from __future__ import annotations

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int

__all__ = ["correlation_to_average", "single_trial_correlation"]


def _as_trial_list(arrays, name: str) -> list[np.ndarray]:
    if isinstance(arrays, np.ndarray):
        arrays = [arrays] if arrays.ndim == 2 else list(arrays)
    try:
        out = [np.asarray(a, dtype=np.float64) for a in arrays]
    except (TypeError, ValueError):
        raise InputError(f"{name}: expected a sequence of (T, N) arrays (one per trial)") from None
    if not out:
        raise InputError(f"{name}: is empty; expected at least one (T, N) array")
    for i, a in enumerate(out):
        if a.ndim != 2:
            raise InputError(f"{name}[{i}]: has shape {a.shape}, expected (T, N)")
    return out


def single_trial_correlation(responses_list, predictions_list, skip: int = 50, *, eps: float = 1e-8) -> np.ndarray:
    """Per-neuron Pearson correlation of responses and predictions over all trials' frames ``>= skip``.

    The Sensorium 2023 "single-trial correlation": for every trial the first
    ``skip`` frames are dropped (the model's history is incomplete there), the
    remaining frames of all trials are concatenated, and each neuron's
    responses are correlated with its predictions.

    Parameters
    ----------
    responses_list, predictions_list : sequence of array_like, each shape (T_i, N)
        Recorded responses and predictions, one pair per trial (shapes equal
        pairwise; the same N everywhere). A single (T, N) array counts as one
        trial.
    skip : int, default 50
        Frames dropped at the start of every trial.
    eps : float, default 1e-8
        Added to each standard deviation, as the competition's code does: a
        neuron whose responses (or predictions) are constant gets 0.

    Returns
    -------
    ndarray, shape (N,)
        float64 correlations.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> rates = rng.gamma(2.0, 1.0, size=(200, 3))
    >>> responses = rng.poisson(rates)
    >>> single_trial_correlation([responses], [rates], skip=50).round(2)
    array([0.64, 0.63, 0.73])
    """
    skip = check_int("skip", skip, minimum=0)
    resp = _as_trial_list(responses_list, "responses_list")
    pred = _as_trial_list(predictions_list, "predictions_list")
    if len(resp) != len(pred):
        raise InputError(f"predictions_list: has {len(pred)} trials, expected {len(resp)} (as responses_list)")
    n = resp[0].shape[1]
    for i, (r, p) in enumerate(zip(resp, pred)):
        if r.shape != p.shape:
            raise InputError(f"predictions_list[{i}]: has shape {p.shape}, expected {r.shape} (as responses_list[{i}])")
        if r.shape[1] != n:
            raise InputError(f"responses_list[{i}]: has {r.shape[1]} neurons, expected {n} (as responses_list[0])")
    kept = [(r[skip:], p[skip:]) for r, p in zip(resp, pred) if r.shape[0] > skip]
    count = sum(r.shape[0] for r, _ in kept)
    if count < 2:
        raise InputError(
            f"skip: {skip} leaves {count} frames in all; expected at least 2 (shorter skip or longer trials)"
        )
    mean_r = sum(r.sum(0) for r, _ in kept) / count
    mean_p = sum(p.sum(0) for _, p in kept) / count
    srr = np.zeros(n)
    spp = np.zeros(n)
    srp = np.zeros(n)
    for r, p in kept:
        dr, dp = r - mean_r, p - mean_p
        srr += (dr * dr).sum(0)
        spp += (dp * dp).sum(0)
        srp += (dr * dp).sum(0)
    std_r, std_p = np.sqrt(srr / count), np.sqrt(spp / count)
    return (srp / count) / ((std_r + eps) * (std_p + eps))


def _clip_mean(clip, name: str) -> np.ndarray:
    """Average over repeats: ``clip`` is (T, N) (already one trace), (R, T, N) or a sequence of (T, N) repeats."""
    if isinstance(clip, np.ndarray) and clip.ndim == 2:
        return clip.astype(np.float64)
    if isinstance(clip, np.ndarray) and clip.ndim == 3:
        return clip.mean(0, dtype=np.float64)
    reps = _as_trial_list(clip, name)
    for i, r in enumerate(reps):
        if r.shape != reps[0].shape:
            raise InputError(
                f"{name}[{i}]: has shape {r.shape}, expected {reps[0].shape} (as {name}[0]; repeats "
                f"of one clip have equal lengths)"
            )
    return np.mean(reps, axis=0)


def correlation_to_average(responses_by_clip, predictions_by_clip, skip: int = 50, *, eps: float = 1e-8) -> np.ndarray:
    """Per-neuron correlation of predictions with the responses averaged over repeats of the same clip.

    The Sensorium 2023 "correlation to average": responses to the repeats of
    every clip are averaged (as are the predictions, which differ between
    repeats through the behaviour), frames ``>= skip`` of all clips are
    concatenated, and each neuron's averaged responses are correlated with
    its averaged predictions.

    Parameters
    ----------
    responses_by_clip : sequence
        One entry per clip: an array (R, T, N) or a sequence of R arrays
        (T, N), the repeats.
    predictions_by_clip : sequence
        One entry per clip: predictions per repeat (as above) or one (T, N)
        array (e.g. already averaged).
    skip : int, default 50
        Frames dropped at the start of every clip.
    eps : float, default 1e-8
        As in :func:`single_trial_correlation`.

    Returns
    -------
    ndarray, shape (N,)

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> rates = rng.gamma(2.0, 1.0, size=(100, 2))
    >>> repeats = rng.poisson(rates, size=(10, 100, 2))   # 10 repeats of one clip
    >>> correlation_to_average([repeats], [rates], skip=0).round(2)
    array([0.94, 0.95])
    """
    if len(responses_by_clip) != len(predictions_by_clip):
        raise InputError(
            f"predictions_by_clip: has {len(predictions_by_clip)} clips, expected "
            f"{len(responses_by_clip)} (as responses_by_clip)"
        )
    resp = [_clip_mean(c, f"responses_by_clip[{i}]") for i, c in enumerate(responses_by_clip)]
    pred = [_clip_mean(c, f"predictions_by_clip[{i}]") for i, c in enumerate(predictions_by_clip)]
    return single_trial_correlation(resp, pred, skip=skip, eps=eps)
