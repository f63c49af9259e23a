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
- :func:`ethogram`: the time courses of one reconstructed trial side by side (Fig. 1-S1): motion energy
  of the movie, pupil and running, recorded against predicted activity (population mean and the
  best-predicted neurons), activity predicted from the reconstruction, frame-by-frame correlation.
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
    "ethogram",
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


def _zscore_columns(x: np.ndarray) -> np.ndarray:
    """Each column minus its mean over time, divided by its SD (a constant column becomes 0)."""
    sd = x.std(axis=0)
    return np.divide(x - x.mean(axis=0), sd, out=np.zeros_like(x), where=sd > 0)


def ethogram(
    video: Any,
    behavior: Any,
    pupil_center: Any,
    responses: Any,
    predicted: Any,
    *,
    reconstruction: Any = None,
    predicted_from_reconstruction: Any = None,
    mask: Any = None,
    n_top: int = 20,
    skip: int = 30,
) -> dict[str, np.ndarray]:
    """The time courses of one trial for the summary ethogram (the paper's Fig. 1-S1).

    Parameters
    ----------
    video : array_like, shape (T, H, W)
        The movie shown (0-255).
    behavior : array_like, shape (T, 2)
        ``[pupil dilation, running speed]`` per frame (Sensorium order).
    pupil_center : array_like, shape (T, 2)
        Pupil position ``(x, y)`` per frame (eye-camera pixels).
    responses : array_like, shape (T, N)
        Recorded activity.
    predicted : array_like, shape (T, N)
        The models' predicted activity for the movie shown.
    reconstruction : array_like, shape (T, H, W), optional
        The reconstructed movie; gives ``frame_correlation``.
    predicted_from_reconstruction : array_like, shape (T, N), optional
        The models' predicted activity for the reconstruction.
    mask : bool array (H, W), optional
        Pixels that count for the motion energy and the frame correlation (the evaluation mask); all
        pixels when None.
    n_top : int, default 20
        Neurons in the rasters: those whose predicted and recorded activity correlate best over the
        frames ``>= skip``.
    skip : int, default 30
        Frames at the start left out of the neurons' ranking (the models have no history there).

    Returns
    -------
    dict of ndarray
        Per frame (T,): ``motion_energy`` (mean absolute change from the previous frame inside the mask;
        NaN at frame 0), ``pupil_dilation``, ``running_speed``, ``population_recorded`` and
        ``population_predicted`` (mean over neurons), ``population_from_reconstruction`` and
        ``frame_correlation`` (NaN when their inputs are not given); ``pupil_center`` (T, 2);
        ``top_neurons`` (n_top,) the best-predicted neurons, best first, with their correlation
        ``top_correlation`` (n_top,); ``recorded_top``, ``predicted_top`` and ``from_reconstruction_top``
        (T, n_top), each neuron z-scored over time (zeros when not given).

    Examples
    --------
    >>> video = np.zeros((4, 2, 2))
    >>> video[2] = 10.0                                     # one bright frame
    >>> rates = np.arange(8.0).reshape(4, 2)
    >>> out = ethogram(video, np.ones((4, 2)), np.zeros((4, 2)), rates, rates, n_top=1, skip=0)
    >>> out["motion_energy"].tolist(), out["population_recorded"].tolist()
    ([nan, 0.0, 10.0, 10.0], [0.5, 2.5, 4.5, 6.5])
    """
    from neurocine.features.motion import motion_energy
    from neurocine.metrics import column_correlations, frame_correlations
    from neurocine.validation import check_int

    v = np.asarray(video, dtype=np.float64)
    if v.ndim != 3 or v.shape[0] < 2:
        raise InputError(f"video: got shape {v.shape}; expected a (T, H, W) movie of at least 2 frames")
    t_len = v.shape[0]
    arrays = {}
    for name, value, width in (
        ("behavior", behavior, 2),
        ("pupil_center", pupil_center, 2),
        ("responses", responses, None),
        ("predicted", predicted, None),
        ("predicted_from_reconstruction", predicted_from_reconstruction, None),
    ):
        if value is None and name == "predicted_from_reconstruction":
            continue
        a = np.asarray(value, dtype=np.float64)
        if a.ndim != 2 or a.shape[0] != t_len or (width is not None and a.shape[1] != width):
            expected = f"({t_len}, {width})" if width else f"({t_len}, N)"
            raise InputError(f"{name}: got shape {a.shape}; expected {expected}, one row per frame of the video")
        arrays[name] = a
    r, p = arrays["responses"], arrays["predicted"]
    q = arrays.get("predicted_from_reconstruction")
    for name, other in (("predicted", p), ("predicted_from_reconstruction", q)):
        if other is not None and other.shape != r.shape:
            raise InputError(f"{name}: got shape {other.shape}; expected {r.shape} like responses")
    m = None if mask is None else np.asarray(mask, dtype=bool)
    if m is not None and m.shape != v.shape[1:]:
        raise InputError(f"mask: got shape {m.shape}; expected {v.shape[1:]} (H, W) like one frame")
    n_top = min(check_int("n_top", n_top), r.shape[1])
    s = min(max(int(skip), 0), t_len - 2)
    accuracy = np.nan_to_num(column_correlations(r[s:], p[s:]), nan=-np.inf)
    top = np.argsort(-accuracy, kind="stable")[:n_top]
    nan_trace = np.full(t_len, np.nan)
    if reconstruction is not None:
        recon = np.asarray(reconstruction, dtype=np.float64)
        if recon.shape != v.shape:
            raise InputError(f"reconstruction: got shape {recon.shape}; expected {v.shape} like the video")
        frame_r = frame_correlations(v, recon, m)
    else:
        frame_r = nan_trace
    return {
        "motion_energy": motion_energy(v, None if m is None else m[None], first_value=np.nan)[:, 0],
        "pupil_dilation": arrays["behavior"][:, 0],
        "running_speed": arrays["behavior"][:, 1],
        "pupil_center": arrays["pupil_center"],
        "population_recorded": r.mean(axis=1),
        "population_predicted": p.mean(axis=1),
        "population_from_reconstruction": nan_trace if q is None else q.mean(axis=1),
        "frame_correlation": frame_r,
        "top_neurons": top,
        "top_correlation": np.where(np.isfinite(accuracy[top]), accuracy[top], np.nan),
        "recorded_top": _zscore_columns(r[:, top]),
        "predicted_top": _zscore_columns(p[:, top]),
        "from_reconstruction_top": np.zeros((t_len, len(top))) if q is None else _zscore_columns(q[:, top]),
    }
