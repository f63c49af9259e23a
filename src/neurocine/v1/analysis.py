"""The paper's analyses around a reconstruction: ensembling curve, duplicate clips, predicted activity, correlates.

Bauer, Margrie & Clopath (eLife 2025) check their reconstructions in several ways beyond the video
correlation; these are the computations, on numpy arrays, that ``neurocine v1 train`` and
``neurocine v1 reconstruct`` run and report:

- :func:`ensemble_curve`: video correlation of the average of the first ``k`` models' movies, ``k = 1..n``.
  A member whose movie never left its grey start (a held-out check stopped it at iteration 0) is
  constant, has no correlation, and is reported and left out, so the curve stays numeric.
- :func:`ensembling_gain`: per stimulus, the ensemble's video correlation minus the mean of its
  members' (the paper's Fig. 4, for each Gaussian-noise movie).
- :func:`duplicate_clips`: test clips whose first frame correlates most with a training clip's first
  frame above a threshold (the paper's Fig. 6-S1), to exclude before scoring.
- :func:`activity_agreement`: the activity the models predict for the reconstruction against the
  activity they predict for the true movie (Poisson loss against the recorded responses, and their
  correlation; Fig. 1-S2D).
- :func:`mask_sweep`: the transparency mask thresholded at several levels, with the share of the
  screen kept and the equivalent diameter (Fig. 1-S2 B/C).
- :func:`quality_correlates`: Pearson correlation, with its two-sided p-value, of the per-trial
  reconstruction quality with frame contrast, behaviour and prediction accuracy (Fig. 2-S1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neurocine.errors import InputError

__all__ = [
    "activity_agreement",
    "duplicate_clips",
    "ensemble_curve",
    "ensembling_gain",
    "mask_sweep",
    "mean_curve",
    "quality_correlates",
]


def ensemble_curve(
    model_videos: Any, truth: Any, evaluation_mask: Any = None, smooth_sigma: float = 0.5, skip: int = 30
) -> dict:
    """Video correlation of the average of the first ``k`` moving members' movies, ``k = 1..n_moved``.

    Parameters
    ----------
    model_videos : array_like, shape (n_models, T, H, W)
        Each member's unsmoothed movie (:attr:`~neurocine.v1.reconstruction.ReconstructionResult.model_videos`).
    truth : array_like, shape (T, H, W)
    evaluation_mask : bool array (H, W), optional
    smooth_sigma : float, default 0.5
        Gaussian smoothing applied to every average, as to the final reconstruction.
    skip : int, default 30
        Leading frames not scored (:func:`~neurocine.metrics.video_correlation`; a reconstruction's
        ``params["correlation_skip"]``).

    Returns
    -------
    dict
        ``single``: each member's video correlation (None for a member that did not move); ``by_k``:
        ``k = 1`` is the mean over the moving members, ``k >= 2`` the correlation of the average of the
        first ``k`` moving members (empty when none moved); ``not_moved``: indices of the members whose
        movie is constant (left at its grey start).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.uniform(0, 255, (40, 6, 8))
    >>> members = np.stack([truth + rng.normal(0, 80, truth.shape), np.full(truth.shape, 127.5)])
    >>> curve = ensemble_curve(members, truth, smooth_sigma=0)
    >>> curve["not_moved"], len(curve["by_k"])
    ([1], 1)
    """
    from neurocine.metrics import video_correlation
    from neurocine.v1.reconstruction import smooth_video

    vids = np.asarray(model_videos, dtype=np.float32)
    if vids.ndim != 4:
        raise InputError(f"model_videos: got shape {vids.shape}; expected (n_models, T, H, W)")
    moved = [i for i in range(len(vids)) if np.ptp(vids[i]) > 0]
    single: list[float | None] = [None] * len(vids)
    for i in moved:
        single[i] = video_correlation(truth, smooth_video(vids[i], smooth_sigma), evaluation_mask, skip)
    by_k: list[float] = []
    if moved:
        by_k.append(float(np.nanmean([single[i] for i in moved])))
        for k in range(2, len(moved) + 1):
            mean = vids[moved[:k]].mean(axis=0)
            by_k.append(video_correlation(truth, smooth_video(mean, smooth_sigma), evaluation_mask, skip))
    return {"single": single, "by_k": by_k, "not_moved": [i for i in range(len(vids)) if i not in moved]}


def ensembling_gain(
    model_videos: Any, truth: Any, evaluation_mask: Any = None, smooth_sigma: float = 0.5, skip: int = 30
) -> dict:
    """What ensembling adds for one stimulus: the ensemble's video correlation minus its members' mean.

    The end points of :func:`ensemble_curve`: ``ensemble`` is the correlation of the average of the
    moving members' movies (smoothed like the final reconstruction), ``mean_single`` the mean of
    each moving member's own correlation, and ``gain = ensemble - mean_single``.

    Parameters
    ----------
    model_videos : array_like, shape (n_models, T, H, W)
        Each member's unsmoothed movie for this stimulus
        (:attr:`~neurocine.v1.reconstruction.ReconstructionResult.model_videos`).
    truth : array_like, shape (T, H, W)
    evaluation_mask : bool array (H, W), optional
    smooth_sigma : float, default 0.5
    skip : int, default 30
        As for :func:`ensemble_curve`.

    Returns
    -------
    dict
        ``gain``, ``ensemble``, ``mean_single`` (floats; ``gain`` and ``ensemble`` are None with fewer
        than two moving members), ``single`` and ``not_moved`` as in :func:`ensemble_curve`.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth = rng.uniform(0, 255, (40, 6, 8))
    >>> members = truth + rng.normal(0, 150, (3, *truth.shape))
    >>> out = ensembling_gain(members, truth, smooth_sigma=0)
    >>> out["gain"] > 0.1
    True
    """
    curve = ensemble_curve(model_videos, truth, evaluation_mask, smooth_sigma, skip)
    by_k = curve["by_k"]
    ensemble = by_k[-1] if len(by_k) > 1 else None
    return {
        "gain": None if ensemble is None else ensemble - by_k[0],
        "ensemble": ensemble,
        "mean_single": by_k[0] if by_k else None,
        "single": curve["single"],
        "not_moved": curve["not_moved"],
    }


def mean_curve(curves: Sequence[Sequence[float]]) -> list[float]:
    """Element-wise mean of curves of different lengths (position ``k`` over the curves that reach it).

    Examples
    --------
    >>> mean_curve([[0.2, 0.4, 0.5], [0.4, 0.6]])
    [0.30000000000000004, 0.5, 0.5]
    """
    n = max((len(c) for c in curves), default=0)
    out = []
    for k in range(n):
        values = [float(c[k]) for c in curves if len(c) > k and np.isfinite(c[k])]
        if not values:
            break
        out.append(float(np.mean(values)))
    return out


def duplicate_clips(test_first_frames: Any, train_first_frames: Any, threshold: float = 0.9) -> dict:
    """Test clips that duplicate a training clip: the most-correlated first frame above ``threshold``.

    Parameters
    ----------
    test_first_frames : array_like, shape (n_test, H, W)
        The first frame of every test clip.
    train_first_frames : array_like, shape (n_train, H, W)
        The first frame of every training clip.
    threshold : float, default 0.9
        Pearson correlation (over pixels) at or above which a test clip counts as a duplicate.

    Returns
    -------
    dict
        ``best_match`` (n_test,) index of the most-correlated training clip, ``correlation`` (n_test,) its
        correlation, ``duplicate`` (n_test,) bool.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> train = rng.uniform(0, 255, (5, 6, 8))
    >>> test = np.stack([train[3] + rng.normal(0, 5, (6, 8)), rng.uniform(0, 255, (6, 8))])
    >>> duplicate_clips(test, train)["duplicate"].tolist()
    [True, False]
    """
    test = np.asarray(test_first_frames, dtype=np.float64)
    train = np.asarray(train_first_frames, dtype=np.float64)
    if test.ndim != 3 or train.ndim != 3 or test.shape[1:] != train.shape[1:] or not len(train):
        raise InputError(
            f"first frames: got test {test.shape} and train {train.shape}; expected (n, H, W) arrays of the same "
            f"frame size, at least one training frame"
        )
    if not -1 <= threshold <= 1:
        raise InputError(f"threshold: got {threshold!r}; expected a correlation in [-1, 1]")

    def unit(x):
        x = x.reshape(len(x), -1)
        x = x - x.mean(axis=1, keepdims=True)
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        return np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)

    corr = unit(test) @ unit(train).T  # (n_test, n_train)
    best = corr.argmax(axis=1) if len(test) else np.zeros(0, dtype=int)
    value = corr[np.arange(len(test)), best] if len(test) else np.zeros(0)
    return {"best_match": best, "correlation": value, "duplicate": value >= threshold}


def _poisson_loss(rates: np.ndarray, target: np.ndarray) -> float:
    """Mean Poisson negative log-likelihood (without the log-factorial) per frame and neuron."""
    return float(np.mean(rates - target * np.log(rates + 1e-8)))


def activity_agreement(from_reconstruction: Any, from_truth: Any, recorded: Any, skip: int = 30) -> dict:
    """Predicted activity for the reconstructed movie against the predicted activity for the true movie.

    Parameters
    ----------
    from_reconstruction, from_truth : array_like, shape (T, N)
        The models' predicted rates for the reconstruction and for the movie shown (same behaviour).
    recorded : array_like, shape (T, N)
        The recorded responses the reconstruction was made from.
    skip : int, default 30
        Frames at the start left out (no history there), as for the video correlation.

    Returns
    -------
    dict
        ``poisson_loss_reconstruction`` and ``poisson_loss_truth`` (mean Poisson loss of each prediction
        against the recorded responses; lower is better, the reconstruction can be lower as it was fitted
        to them), ``correlation`` (mean over neurons of the Pearson correlation of the two predictions over
        time) and ``correlation_pooled`` (over all frames and neurons).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> truth_rates = rng.uniform(0.1, 2, (60, 4))
    >>> out = activity_agreement(truth_rates, truth_rates, rng.poisson(truth_rates))
    >>> round(out["correlation"], 3), out["poisson_loss_reconstruction"] == out["poisson_loss_truth"]
    (1.0, True)
    """
    from neurocine.metrics import column_correlations

    a = np.asarray(from_reconstruction, dtype=np.float64)
    b = np.asarray(from_truth, dtype=np.float64)
    r = np.asarray(recorded, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape or a.shape != r.shape:
        raise InputError(
            f"activity: got {a.shape} (reconstruction), {b.shape} (truth) and {r.shape} (recorded); expected "
            f"equal (T, N) shapes"
        )
    s = min(int(skip), a.shape[0] - 2)
    a, b, r = a[s:], b[s:], r[s:]
    pooled = np.corrcoef(a.ravel(), b.ravel())[0, 1] if a.std() > 0 and b.std() > 0 else float("nan")
    return {
        "poisson_loss_reconstruction": _poisson_loss(a, r),
        "poisson_loss_truth": _poisson_loss(b, r),
        "correlation": float(np.mean(column_correlations(a, b))),
        "correlation_pooled": float(pooled),
    }


def quality_correlates(quality: Any, covariates: Mapping[str, Any]) -> dict[str, dict[str, float | None]]:
    """Pearson correlation and two-sided p-value of reconstruction quality with each covariate.

    Parameters
    ----------
    quality : array_like, shape (n,)
        Per-trial (or per-frame) reconstruction quality, e.g. video correlations.
    covariates : mapping of name to array_like (n,)
        E.g. frame contrast, mean running speed, mean pupil dilation, prediction accuracy.

    Returns
    -------
    dict
        ``{name: {"r": ..., "p": ..., "n": ...}}``; ``r`` and ``p`` are None with fewer than 3 finite
        pairs or a constant series.

    Examples
    --------
    >>> q = [0.1, 0.2, 0.3, 0.4, 0.5]
    >>> out = quality_correlates(q, {"contrast": [1, 2, 3, 4, 6], "noise": [3, 1, 4, 1, 5]})
    >>> out["contrast"]["r"] > 0.95 and out["contrast"]["p"] < 0.05
    True
    """
    from scipy.stats import pearsonr

    q = np.asarray(quality, dtype=np.float64).ravel()
    out: dict[str, dict[str, float | None]] = {}
    for name, values in covariates.items():
        x = np.asarray(values, dtype=np.float64).ravel()
        if x.shape != q.shape:
            raise InputError(f"covariates[{name!r}]: got {x.size} values; expected {q.size}, one per quality value")
        ok = np.isfinite(x) & np.isfinite(q)
        if ok.sum() < 3 or np.ptp(x[ok]) == 0 or np.ptp(q[ok]) == 0:
            out[name] = {"r": None, "p": None, "n": int(ok.sum())}
            continue
        res = pearsonr(q[ok], x[ok])
        out[name] = {"r": float(res[0]), "p": float(res[1]), "n": int(ok.sum())}
    return out


#: Thresholds of :func:`mask_sweep` by default (the paper's update and evaluation masks are 0.5 and 1).
MASK_THRESHOLDS = (0.25, 0.5, 0.75, 1.0, 1.5, 2.0)


def mask_sweep(alpha: Any, thresholds: Sequence[float] = MASK_THRESHOLDS) -> dict[str, list[float]]:
    """The alpha map thresholded at several levels: share of the screen kept and equivalent diameter.

    Parameters
    ----------
    alpha : array_like, shape (H, W)
        The transparency map of :func:`~neurocine.v1.reconstruction.train_transparency_mask`.
    thresholds : sequence of float
        Levels; a pixel is kept when ``alpha >= threshold``.

    Returns
    -------
    dict
        ``thresholds``, ``fraction`` (share of the pixels kept) and ``diameter`` (pixels: the diameter of
        a disc of the kept area, ``2 sqrt(area / pi)``), one value per threshold.

    Examples
    --------
    >>> yy, xx = np.mgrid[0:36, 0:64]
    >>> alpha = 2.0 - np.hypot(xx - 32, yy - 18) / 10      # 1 at radius 10, 0.5 at radius 15
    >>> [round(d) for d in mask_sweep(alpha, (0.5, 1.0))["diameter"]]
    [30, 20]
    """
    a = np.asarray(alpha, dtype=np.float64)
    if a.ndim != 2 or not np.isfinite(a).all():
        raise InputError(f"alpha: got shape {a.shape}; expected a finite (H, W) map")
    levels = [float(t) for t in thresholds]
    kept = [int((a >= t).sum()) for t in levels]
    return {
        "thresholds": levels,
        "fraction": [k / a.size for k in kept],
        "diameter": [2.0 * float(np.sqrt(k / np.pi)) for k in kept],
    }
