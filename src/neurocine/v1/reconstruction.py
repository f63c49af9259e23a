"""Movie reconstruction from population activity by gradient descent on the input pixels.

The method of Bauer, Margrie & Clopath (eLife 2025, 105081), written against
any encoding model that follows the neurocine protocol (a ``torch.nn.Module``
``model(video (B, T, H, W) 0-255, behavior (B, T, 2), pupil_center (B, T, 2))
-> rates (B, T, N) > 0``, causal). Nothing here looks inside a model.

- :func:`train_transparency_mask` learns a 2-D alpha map: the pixels whose
  replacement by another trial's movie changes the models' predictions.
  :func:`masks_from_alpha` turns it into the update mask (alpha >= 0.5, the
  pixels the reconstruction may change) and the evaluation mask (alpha >= 1,
  the pixels scored).
- :func:`reconstruct` starts from a uniform grey movie and, every iteration,
  slides 32-frame windows with stride 8 over the trial (all windows in one
  batch), takes the Poisson negative log-likelihood of the recorded
  responses under the model's prediction, L2-normalises the gradient of
  each window, averages it over the windows containing each frame and over
  the models, multiplies it by the update mask, clips it and takes a
  momentum step (learning-rate warm-up), then clips the pixels to 0-255.
  Ensembles average the models' finished movies (``ensemble="videos"``, the
  paper's main method) or their gradients each step (``"gradients"``); the
  result is smoothed with a Gaussian of sigma 0.5 over (t, y, x).
  ``method="adam"`` is the faster optimiser (Adam on the pixels, larger steps,
  fewer iterations, optionally coarse-to-fine). The loop is the inversion engine of
  :mod:`neurocine.models.inversion` (:func:`~neurocine.models.inversion.descend`), which the
  fMRI feature inversion shares. ``holdout=`` (not in the
  paper) stops each movie at its lowest Poisson loss on held-out neurons,
  which with noisy responses keeps the fit from drifting into the noise.
- Helpers for the analyses: :func:`predicted_responses` (reconstruct from
  predicted activity, noise and grating suites), :func:`error_map`,
  :func:`ablate_population` (+ ``neurons=`` of :func:`reconstruct`),
  :func:`reconstruct_many`.

Arrays in and out are numpy, time first: video (T, H, W) float32 0-255,
responses (T, N), behavior (T, 2), pupil_center (T, 2). torch is imported
when a function runs, not when this module is imported.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.models.inversion import ImagePrior, StepRule, descend
from neurocine.runtime import progress, resolve_device, seed_everything

__all__ = [
    "GREY",
    "METHODS",
    "ReconstructOptions",
    "ReconstructionResult",
    "ablate_population",
    "check_reconstruct_options",
    "error_map",
    "masks_from_alpha",
    "predicted_responses",
    "reconstruct",
    "reconstruct_many",
    "train_transparency_mask",
    "window_gradient",
    "window_starts",
]

#: Grey level every reconstruction starts from (middle of 0-255).
GREY = 127.5

#: Optimisers of :func:`reconstruct` and their defaults (iterations, learning rate in pixel units, schedule).
METHODS: dict[str, dict[str, Any]] = {
    "paper": {"iterations": 1000, "lr": 1000.0, "schedule": "constant"},
    "adam": {"iterations": 250, "lr": 30.0, "schedule": "cosine"},
}

_EPS = 1e-8  # inside log() of the Poisson loss


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------


def _model_list(models) -> list:
    import torch

    items = list(models) if isinstance(models, (list, tuple)) else [models]
    if not items:
        raise InputError("models: got an empty list; expected a torch.nn.Module or a list of them")
    for i, m in enumerate(items):
        if not isinstance(m, torch.nn.Module):
            raise InputError(
                f"models[{i}]: got {type(m).__name__}; expected a torch.nn.Module following the "
                f"encoding-model protocol model(video, behavior, pupil_center) -> rates"
            )
    return items


def _float_array(name: str, value, ndim: int, expected: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError):
        raise InputError(f"{name}: cannot be read as a numeric array; expected {expected}") from None
    if arr.ndim != ndim:
        raise InputError(f"{name}: got shape {arr.shape}; expected {expected}")
    if not np.isfinite(arr).all():
        raise InputError(
            f"{name}: contains {int((~np.isfinite(arr)).sum())} NaN or infinite values; "
            f"expected finite values (cut NaN padding first)"
        )
    return arr


def _trial_arrays(responses, behavior, pupil_center):
    r = _float_array("responses", responses, 2, "a (T, N) array, time first")
    n_frames = r.shape[0]
    b = _float_array("behavior", behavior, 2, "a (T, 2) array [pupil dilation, running speed]")
    p = _float_array("pupil_center", pupil_center, 2, "a (T, 2) array [x, y]")
    for name, arr in (("behavior", b), ("pupil_center", p)):
        if arr.shape[0] != n_frames:
            raise InputError(f"{name}: got {arr.shape[0]} frames; expected {n_frames} (the rows of responses)")
    if (r < 0).any():
        raise InputError("responses: contains negative values; expected non-negative activity for the Poisson loss")
    return r, b, p


def _check_positive(name: str, value, integer: bool = False, minimum: float = 0.0, strict: bool = True):
    ok = isinstance(value, (int, np.integer)) if integer else isinstance(value, (int, float, np.integer, np.floating))
    if isinstance(value, bool) or not ok or not np.isfinite(value) or (value <= minimum if strict else value < minimum):
        kind = "an integer" if integer else "a number"
        raise InputError(f"{name}: got {value!r}; expected {kind} {'>' if strict else '>='} {minimum:g}")
    return int(value) if integer else float(value)


def _spatial_mask(name: str, mask, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(mask)
    if m.shape != tuple(shape):
        raise InputError(f"{name}: got shape {m.shape}; expected {tuple(shape)} (H, W) of the video")
    if m.dtype != bool and not np.isfinite(m.astype(np.float64)).all():
        raise InputError(f"{name}: contains NaN or infinite values; expected a boolean or 0-1 (H, W) map")
    return m.astype(np.float32)


def _prepare(models, device):
    """Models on ``device``, in eval mode, parameters frozen (only the pixels need gradients, and the
    backward pass through the weights would cost about as much again); returns what to restore."""
    flags = [(m.training, [p.requires_grad for p in m.parameters()]) for m in models]
    for m in models:
        m.to(device)
        m.eval()
        m.requires_grad_(False)
    return flags


def _restore(models, flags) -> None:
    for m, (training, grads) in zip(models, flags):
        m.train(training)
        for p, g in zip(m.parameters(), grads):
            p.requires_grad_(g)


# ---------------------------------------------------------------------------------------------
# transparency mask
# ---------------------------------------------------------------------------------------------


def _trial_fields(trial, i: int):
    try:
        video, behavior, pupil = trial.video, trial.behavior, trial.pupil_center
    except AttributeError:
        raise InputError(
            f"trials[{i}]: got {type(trial).__name__}; expected an object with attributes video "
            f"(T, H, W), behavior (T, 2) and pupil_center (T, 2)"
        ) from None
    v = _float_array(f"trials[{i}].video", video, 3, "a (T, H, W) video, time first")
    b = _float_array(f"trials[{i}].behavior", behavior, 2, "a (T, 2) array")
    p = _float_array(f"trials[{i}].pupil_center", pupil, 2, "a (T, 2) array")
    if not (v.shape[0] == b.shape[0] == p.shape[0]):
        raise InputError(
            f"trials[{i}]: video, behavior and pupil_center have {v.shape[0]}, {b.shape[0]} and "
            f"{p.shape[0]} frames; expected the same number"
        )
    return v, b, p


def train_transparency_mask(
    models,
    trials,
    *,
    iterations: int = 300,
    lr: float = 0.05,
    penalty: float = 0.5,
    length: int = 32,
    batch_size: int = 4,
    sigma: float = 5.0,
    clip_grad: float = 3.0,
    init: float = 1.0,
    random_state: int | None = 0,
    device="auto",
    return_history: bool = False,
):
    """Learn the 2-D transparency (alpha) map of the models' population receptive field.

    Each iteration draws ``batch_size`` pairs of different trials and a
    random ``length``-frame segment of each, shows the models the blend

    ``opacity * video + (1 - opacity) * other_video``,   ``opacity = 1 - exp(-alpha)``

    (with the first trial's behaviour and pupil position) and compares their
    predictions with the predictions for the unblended video. The loss is
    that mismatch plus ``penalty * mean(alpha)``: alpha grows only where the
    other movie would change the predictions. As in the paper, the gradient
    map is L2-normalised (to unit root-mean-square), clipped at
    ``±clip_grad``, summed over time (the map is 2-D) and spatially blurred
    with a Gaussian of ``sigma`` pixels before the step; the step size decays
    from ``lr`` to 0 along a cosine.

    **Alpha is not limited to [0, 1]** (only clamped at >= 0), as in the
    paper, whose unthresholded masks exceed 1 in the centre and whose
    evaluation mask is ``alpha >= 1``. In the paper alpha enters the blend
    linearly and values above 1 come from its loss (predictions scaled by
    ``1 - mean(alpha)`` compared with the recorded responses). Here the
    mismatch is taken against the models' own predictions and alpha enters
    through the opacity ``1 - exp(-alpha)`` (equal to alpha for small alpha,
    saturating at 1), so the optimum is finite and graded: alpha settles near
    ``log(sensitivity / penalty) / 2``, rising above 1 where the predictions
    depend strongly on the pixel (opacity >= 63 %), with alpha 0.5 at
    opacity 39 %.

    The mismatch is ``mean((pred_blend - pred_video)**2 / var_n)`` over
    segments, frames and neurons, ``var_n`` the variance of neuron ``n``'s
    predictions for the unblended segments of the batch: it is unitless (about
    2 when the whole movie is replaced), so ``penalty`` weighs "fraction of the
    neurons' variance lost" against "fraction of the screen kept". Several
    models add their mismatches.

    Parameters
    ----------
    models : torch.nn.Module or list of them
        Encoding models following the protocol (put in eval mode, moved to ``device``).
    trials : sequence of trials
        At least 2 objects with ``video`` (T, H, W) 0-255, ``behavior`` (T, 2) and ``pupil_center`` (T, 2).
    iterations : int, default 300
    lr : float, default 0.05
        Alpha units per iteration for a unit-RMS gradient map.
    penalty : float, default 0.5
        Weight of ``mean(alpha)``; larger gives smaller masks.
    length : int, default 32
        Frames per segment (shorter trials use their full common length).
    batch_size : int, default 4
        Trial pairs per iteration.
    sigma : float, default 5
        Spatial blur of the gradient map in pixels (the paper's 5 px on a 36 x 64 screen); 0 for none.
    clip_grad : float, default 3
        Clip of the unit-RMS gradient map.
    init : float, default 1
        Starting alpha everywhere.
    random_state : int or None, default 0
    device : str, default "auto"
    return_history : bool, default False
        Also return a dict with ``loss``, ``mismatch`` and ``mean_alpha`` per iteration.

    Returns
    -------
    alpha : ndarray (H, W) float32, >= 0
    history : dict, only with ``return_history=True``

    Examples
    --------
    >>> alpha = train_transparency_mask(model, trials)             # doctest: +SKIP
    >>> update_mask, evaluation_mask = masks_from_alpha(alpha)      # doctest: +SKIP
    """
    import torch
    from scipy.ndimage import gaussian_filter

    models = _model_list(models)
    iterations = _check_positive("iterations", iterations, integer=True)
    lr = _check_positive("lr", lr)
    penalty = _check_positive("penalty", penalty, strict=False)
    length = _check_positive("length", length, integer=True, minimum=1)
    batch_size = _check_positive("batch_size", batch_size, integer=True)
    sigma = _check_positive("sigma", sigma, strict=False)
    clip_grad = _check_positive("clip_grad", clip_grad)
    init = _check_positive("init", init, strict=False)
    trials = list(trials)
    if len(trials) < 2:
        raise InputError(
            f"trials: got {len(trials)} trial(s); expected at least 2 (each video is blended with "
            f"another trial's video)"
        )
    data = [_trial_fields(t, i) for i, t in enumerate(trials)]
    shape = data[0][0].shape[1:]
    for i, (v, _, _) in enumerate(data):
        if v.shape[1:] != shape:
            raise InputError(f"trials[{i}].video: frames of {v.shape[1:]} pixels; expected {shape} like trials[0]")
    seg = min(length, min(v.shape[0] for v, _, _ in data))

    rng = seed_everything(random_state)
    dev = resolve_device(device)
    flags = _prepare(models, dev)
    alpha = np.full(shape, init, dtype=np.float64)
    hist: dict[str, list[float]] = {"loss": [], "mismatch": [], "mean_alpha": []}
    try:
        for it in progress(range(iterations), total=iterations, desc="transparency mask"):
            first = rng.integers(len(data), size=batch_size)
            other = (first + rng.integers(1, len(data), size=batch_size)) % len(data)
            vids, others, behs, pups = [], [], [], []
            for a, b in zip(first, other):
                va, ba, pa = data[a]
                vb = data[b][0]
                sa = int(rng.integers(va.shape[0] - seg + 1))
                sb = int(rng.integers(vb.shape[0] - seg + 1))
                vids.append(va[sa : sa + seg])
                others.append(vb[sb : sb + seg])
                behs.append(ba[sa : sa + seg])
                pups.append(pa[sa : sa + seg])
            v = torch.from_numpy(np.stack(vids)).to(dev)
            vo = torch.from_numpy(np.stack(others)).to(dev)
            beh = torch.from_numpy(np.stack(behs)).to(dev)
            pup = torch.from_numpy(np.stack(pups)).to(dev)
            a_t = torch.tensor(alpha, dtype=torch.float32, device=dev, requires_grad=True)
            opacity = 1.0 - torch.exp(-a_t)
            blend = opacity * v + (1.0 - opacity) * vo
            mismatch = a_t.new_zeros(())  # plus each model's term (0 + x is x, as with the float 0.0)
            for m in models:
                with torch.no_grad():
                    ref = _call(m, v, beh, pup)
                var = ref.reshape(-1, ref.shape[-1]).var(dim=0, unbiased=False)
                var = var + 1e-6 * var.mean() + 1e-12
                mismatch = mismatch + (((_call(m, blend, beh, pup) - ref) ** 2) / var).mean()
            loss = mismatch + penalty * a_t.mean()
            (grad,) = torch.autograd.grad(loss, a_t)
            g = grad.detach().cpu().double().numpy()
            norm = np.sqrt(np.mean(g * g))
            if norm > 0:
                g = np.clip(g / norm, -clip_grad, clip_grad)
                if sigma > 0:
                    g = gaussian_filter(g, sigma, mode="nearest")
                step = lr * 0.5 * (1.0 + math.cos(math.pi * it / iterations))
                alpha = np.maximum(alpha - step * g, 0.0)
            hist["loss"].append(float(loss.detach()))
            hist["mismatch"].append(float(mismatch.detach()))
            hist["mean_alpha"].append(float(alpha.mean()))
    finally:
        _restore(models, flags)
    alpha = alpha.astype(np.float32)
    if return_history:
        return alpha, {k: np.asarray(v) for k, v in hist.items()}
    return alpha


def masks_from_alpha(alpha, update_threshold: float = 0.5, evaluation_threshold: float = 1.0):
    """Threshold an alpha map into the update and evaluation masks (the paper: 0.5 and 1).

    Parameters
    ----------
    alpha : array_like (H, W)
    update_threshold : float, default 0.5
    evaluation_threshold : float, default 1.0

    Returns
    -------
    update_mask, evaluation_mask : bool ndarray (H, W)
        ``alpha >= update_threshold`` and ``alpha >= evaluation_threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> u, e = masks_from_alpha(np.array([[0.2, 0.6, 1.3]]))
    >>> u.tolist(), e.tolist()
    ([[False, True, True]], [[False, False, True]])
    """
    a = _float_array("alpha", alpha, 2, "an (H, W) alpha map")
    for name, v in (("update_threshold", update_threshold), ("evaluation_threshold", evaluation_threshold)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or not np.isfinite(v):
            raise InputError(f"{name}: got {v!r}; expected a finite number")
    return a >= update_threshold, a >= evaluation_threshold


# ---------------------------------------------------------------------------------------------
# windows and gradients
# ---------------------------------------------------------------------------------------------


def window_starts(n_frames: int, window: int = 32, stride: int = 8) -> np.ndarray:
    """First frames of the sliding windows over a trial of ``n_frames`` frames.

    Windows start at ``0, stride, 2*stride, ...`` while they fit, plus one
    window ending at the last frame when the regular ones miss it (as in the
    paper's code). A trial shorter than ``window`` has one window, the trial.

    Examples
    --------
    >>> window_starts(50, 32, 8).tolist()
    [0, 8, 16, 18]
    """
    n_frames = _check_positive("n_frames", n_frames, integer=True)
    window = _check_positive("window", window, integer=True)
    stride = _check_positive("stride", stride, integer=True)
    if n_frames <= window:
        return np.zeros(1, dtype=np.int64)
    starts = list(range(0, n_frames - window + 1, stride))
    if starts[-1] != n_frames - window:
        starts.append(n_frames - window)
    return np.asarray(starts, dtype=np.int64)


def _call(model, video, behavior, pupil):
    """``model(video, behavior, pupil)``; a failure (wrong frame size, ...) becomes an InputError."""
    try:
        return model(video, behavior, pupil)
    except (RuntimeError, ValueError, IndexError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InputError(
            f"models: {type(model).__name__} failed on a video batch of shape {tuple(video.shape)} "
            f"({first}); expected the frame size and inputs the model was built for "
            f"(check the shapes of update_mask, truth or the trials' videos)"
        ) from exc


def _poisson_nll(rates, target):
    import torch

    return rates - target * torch.log(rates + _EPS)


class _Objective:
    """Per-model windowed Poisson gradient of one trial (torch tensors on one device)."""

    def __init__(
        self,
        models,
        responses,
        behavior,
        pupil,
        *,
        window,
        stride,
        burn_in,
        neurons,
        window_batch,
        device,
        holdout=None,
    ):
        import torch

        self.models = models
        self.dev = device
        n_frames = responses.shape[0]
        self.n_frames = n_frames
        self.starts = window_starts(n_frames, window, stride)
        self.window = min(window, n_frames)
        idx = self.starts[:, None] + np.arange(self.window)[None, :]
        self.idx = torch.from_numpy(idx).to(device)
        self.flat_idx = self.idx.reshape(-1)
        self.count = torch.bincount(self.flat_idx, minlength=n_frames).to(torch.float32)
        self.beh = torch.from_numpy(behavior).to(device)[self.idx]
        self.pup = torch.from_numpy(pupil).to(device)[self.idx]
        self.target = torch.from_numpy(responses).to(device)[self.idx]
        self.neurons = None if neurons is None else torch.as_tensor(np.asarray(neurons), device=device)
        if self.neurons is not None:
            self.target = self.target[..., self.neurons]
        # holdout: columns (of the selected neurons) left out of the gradient, scored for early stopping
        self.val_cols = self.train_cols = None
        if holdout is not None and len(holdout):
            keep = np.setdiff1d(np.arange(self.target.shape[-1]), holdout)
            self.val_cols = torch.as_tensor(np.asarray(holdout), device=device)
            self.train_cols = torch.as_tensor(keep, device=device)
        self.burn_in = burn_in
        weight = np.ones((len(self.starts), self.window), dtype=np.float32)
        weight[self.starts > 0, :burn_in] = 0.0  # incomplete history: the trial does not start there
        self.weight = torch.from_numpy(weight).to(device)
        self.window_batch = window_batch or len(self.starts)

    def gradient(self, model, video):
        """(gradient (T, H, W) averaged over windows, mean loss per scored frame and neuron,
        mean loss of the held-out neurons or NaN)."""
        import torch

        wins = video.detach()[self.idx]  # (n_windows, window, H, W)
        grads = torch.empty_like(wins)
        total, n_scored, val_total, n_val = 0.0, 0.0, 0.0, 0.0
        for s in range(0, len(self.starts), self.window_batch):
            sl = slice(s, s + self.window_batch)
            x = wins[sl].clone().requires_grad_(True)
            rates = _call(model, x, self.beh[sl], self.pup[sl])
            if rates.ndim != 3 or rates.shape[:2] != x.shape[:2]:
                raise InputError(
                    f"models: a model returned shape {tuple(rates.shape)} for a video batch of "
                    f"{tuple(x.shape)}; expected rates (B, T, N) with one output per frame"
                )
            if self.neurons is not None:
                rates = rates[..., self.neurons]
            if rates.shape[-1] != self.target.shape[-1]:
                raise InputError(
                    f"responses: got {self.target.shape[-1]} neurons; the model predicts "
                    f"{rates.shape[-1]} (select a subset with neurons=)"
                )
            target = self.target[sl]
            if self.val_cols is not None:
                with torch.no_grad():
                    val = _poisson_nll(rates[..., self.val_cols], target[..., self.val_cols]).sum(-1) * self.weight[sl]
                val_total += float(val.sum())
                n_val += float(self.weight[sl].sum()) * len(self.val_cols)
                rates, target = rates[..., self.train_cols], target[..., self.train_cols]
            nll = _poisson_nll(rates, target).sum(dim=-1) * self.weight[sl]
            (g,) = torch.autograd.grad(nll.sum(), x)
            norm = g.flatten(1).norm(dim=1).clamp_min(1e-12)
            grads[sl] = g / norm[:, None, None, None]
            total += float(nll.detach().sum())
            n_scored += float(self.weight[sl].sum()) * rates.shape[-1]
        full = torch.zeros_like(video).index_add_(0, self.flat_idx, grads.reshape(-1, *video.shape[1:]))
        full = full / self.count.clamp_min(1.0)[:, None, None]
        return full, total / max(n_scored, 1.0), (val_total / n_val if n_val else float("nan"))


def _temporal_extent(model, video, behavior, pupil, device, mass: float = 0.99) -> int:
    """Frames of history the model uses: the last ``k`` frames carry ``mass`` of d rate(last frame)/d video."""
    import torch

    g = torch.Generator(device="cpu").manual_seed(0)
    noise = torch.randn(video.shape, generator=g) * 30.0
    x = (torch.as_tensor(video) + noise).clamp(0, 255).to(device)[None].requires_grad_(True)
    rates = _call(model, x, torch.as_tensor(behavior, device=device)[None], torch.as_tensor(pupil, device=device)[None])
    (grad,) = torch.autograd.grad(rates[0, -1].sum(), x)
    per_frame = grad[0].abs().flatten(1).sum(dim=1).flip(0).cpu().double().numpy()  # from the last frame back
    total = per_frame.sum()
    if total <= 0:
        return 1
    return int(np.searchsorted(np.cumsum(per_frame) / total, mass) + 1)


def window_gradient(
    models,
    video,
    responses,
    behavior,
    pupil_center,
    *,
    window: int = 32,
    stride: int = 8,
    burn_in: int = 0,
    neurons=None,
    device="auto",
):
    """The reconstruction gradient of a video: what one iteration of :func:`reconstruct` steps along.

    The Poisson NLL of ``responses`` is taken on every window (frames with
    incomplete history skipped, see :func:`reconstruct`), each window's pixel
    gradient is divided by its L2 norm, each frame gets the mean over the
    windows containing it, and the models are averaged. (No mask, no clip.)

    Returns
    -------
    ndarray (T, H, W) float32
    """
    import torch

    models = _model_list(models)
    r, b, p = _trial_arrays(responses, behavior, pupil_center)
    v = _float_array("video", video, 3, "a (T, H, W) video, time first")
    if v.shape[0] != r.shape[0]:
        raise InputError(f"video: got {v.shape[0]} frames; expected {r.shape[0]} (the rows of responses)")
    dev = resolve_device(device)
    flags = _prepare(models, dev)
    try:
        obj = _Objective(
            models,
            r,
            b,
            p,
            window=window,
            stride=stride,
            burn_in=burn_in,
            neurons=neurons,
            window_batch=None,
            device=dev,
        )
        vt = torch.from_numpy(v).to(dev)
        g = sum(obj.gradient(m, vt)[0] for m in models) / len(models)  # no holdout here
    finally:
        _restore(models, flags)
    return g.cpu().numpy()


# ---------------------------------------------------------------------------------------------
# reconstruction
# ---------------------------------------------------------------------------------------------


@dataclass
class ReconstructionResult:
    """What :func:`reconstruct` returns.

    Attributes
    ----------
    video : ndarray (T, H, W) float32
        Final reconstruction: ``raw`` smoothed with a Gaussian of ``smooth_sigma`` over (t, y, x).
    raw : ndarray (T, H, W) float32
        Unsmoothed reconstruction (the mean of the models' movies for ``ensemble="videos"``).
    loss_history : ndarray (iterations,)
        Poisson NLL per scored frame and neuron at each iteration (mean over models).
    model_loss_history : ndarray (n_videos, iterations)
        The same per reconstructed movie (one per model for ``"videos"``, one for ``"gradients"``).
    correlation_history : ndarray (n_records,) or None
        Video correlation of the smoothed reconstruction with ``truth`` in the evaluation mask, every
        ``record_every`` iterations (and at the last) — only when ``truth`` was given.
    record_iterations : ndarray (n_records,) or None
        Iterations (number of steps taken, 0 = grey start) of ``correlation_history``.
    model_videos : ndarray (n_models, T, H, W) or None
        Each model's unsmoothed movie for ``ensemble="videos"`` with more than one model.
    video_correlation, mean_frame_correlation : float or None
        Of ``video`` with ``truth`` in the evaluation mask, when ``truth`` was given.
    validation_history : ndarray (iterations,) or None
        With ``holdout``: Poisson NLL of the held-out neurons for the iterate of each iteration.
    best_iteration : ndarray (n_videos,) int or None
        With ``holdout``: iteration (steps taken) of the movie returned, per reconstructed movie.
    timings : dict
        ``setup_s``, ``optimise_s``, ``per_iteration_s``, ``total_s``.
    params : dict
        The settings used (method, iterations, lr, burn_in, ...).
    """

    video: np.ndarray
    raw: np.ndarray
    loss_history: np.ndarray
    model_loss_history: np.ndarray
    correlation_history: np.ndarray | None = None
    record_iterations: np.ndarray | None = None
    model_videos: np.ndarray | None = None
    video_correlation: float | None = None
    mean_frame_correlation: float | None = None
    validation_history: np.ndarray | None = None
    best_iteration: np.ndarray | None = None
    timings: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def iterations_to(self, fraction: float = 0.95) -> int | None:
        """First recorded iteration whose correlation reaches ``fraction`` of the final one (None without truth)."""
        if self.correlation_history is None or not len(self.correlation_history):
            return None
        final = self.correlation_history[-1]
        if not np.isfinite(final) or final <= 0:  # "95 % of a negative correlation" has no meaning
            return None
        hit = np.nonzero(self.correlation_history >= fraction * final)[0]
        assert self.record_iterations is not None  # recorded with the correlation history
        return int(self.record_iterations[hit[0]])


def smooth_video(video: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian-smooth a video over time and space, as float32.

    Parameters
    ----------
    video : numpy.ndarray, shape (T, H, W)
        The video.
    sigma : float
        Standard deviation of the Gaussian in frames and pixels (the same on every axis);
        ``<= 0`` returns a float32 copy unchanged.

    Returns
    -------
    numpy.ndarray, shape (T, H, W), float32
        Edges extend the nearest value.

    Examples
    --------
    >>> smooth_video(np.ones((2, 3, 3)), 1.0).dtype
    dtype('float32')
    """
    from scipy.ndimage import gaussian_filter

    if sigma <= 0:
        return video.astype(np.float32, copy=True)
    return gaussian_filter(video.astype(np.float32), sigma, mode="nearest")


def _levels(coarse_to_fine: int, iterations: int, shape) -> list[tuple[int, int]]:
    """(spatial factor, iterations) per level, coarse first; iterations split evenly."""
    n = coarse_to_fine + 1
    factors = [2 ** (n - 1 - k) for k in range(n)]
    if min(shape) // factors[0] < 2:
        raise InputError(
            f"coarse_to_fine: got {coarse_to_fine}; frames of {tuple(shape)} pixels allow at most "
            f"{int(math.log2(max(min(shape) // 2, 1)))} coarser levels"
        )
    if iterations < n:
        raise InputError(f"iterations: got {iterations}; expected at least {n} for {n} coarse-to-fine levels")
    base = iterations // n
    its = [base] * n
    its[-1] += iterations - base * n
    return list(zip(factors, its))


@dataclass(frozen=True)
class ReconstructOptions:
    """The checked options of :func:`reconstruct` (what :func:`check_reconstruct_options` returns).

    Attributes
    ----------
    method, iterations, lr, momentum, beta2, adam_eps, warmup, schedule, window, stride, ensemble, \
smooth_sigma, clip, clip_grad, coarse_to_fine, holdout, record_every, correlation_skip, window_batch, \
tv_weight, spectrum_weight
        As for :func:`reconstruct`, with ``iterations``, ``lr`` and ``schedule`` resolved from the
        method's defaults and ``clip`` a float pair.

    Examples
    --------
    >>> check_reconstruct_options(method="adam").step_rule.kind
    'adam'
    """

    method: str
    iterations: int
    lr: float
    momentum: float
    beta2: float
    adam_eps: float
    warmup: int
    schedule: str
    window: int
    stride: int
    ensemble: str
    smooth_sigma: float
    clip: tuple[float, float]
    clip_grad: float
    coarse_to_fine: int
    holdout: float
    record_every: int
    correlation_skip: int
    window_batch: int | None
    tv_weight: float
    spectrum_weight: float

    @property
    def step_rule(self) -> StepRule:
        """The step of the shared inversion engine: ``"paper"`` is the momentum step, ``"adam"`` the
        relative-epsilon Adam (:class:`~neurocine.models.inversion.StepRule`)."""
        return StepRule(
            "adam" if self.method == "adam" else "momentum",
            lr=self.lr,
            beta1=self.momentum,
            beta2=self.beta2,
            eps=self.adam_eps,
            relative_eps=True,
            warmup=self.warmup,
            schedule=self.schedule,
            clip_grad=self.clip_grad,
        )

    @property
    def prior(self) -> ImagePrior:
        """The image prior on the movie's frames, pixels scaled by ``clip`` to 0-1."""
        return ImagePrior(self.tv_weight, self.spectrum_weight, self.clip)


def check_reconstruct_options(
    *,
    method: str = "paper",
    iterations: int | None = None,
    lr: float | None = None,
    momentum: float = 0.9,
    beta2: float = 0.999,
    adam_eps: float = 1.0,
    warmup: int = 10,
    schedule: str | None = None,
    window: int = 32,
    stride: int = 8,
    ensemble: str = "videos",
    smooth_sigma: float = 0.5,
    clip=(0.0, 255.0),
    clip_grad: float = 1.0,
    coarse_to_fine: int = 0,
    holdout: float = 0.0,
    record_every: int = 10,
    correlation_skip: int = 30,
    window_batch: int | None = None,
    tv_weight: float = 0.0,
    spectrum_weight: float = 0.0,
    frame_shape: tuple[int, int] | None = None,
) -> ReconstructOptions:
    """The options of :func:`reconstruct`, checked, with the method's defaults filled in.

    Jobs call it before any work (mask training, reading trials), so an
    impossible option fails at once; :func:`reconstruct` calls it too.

    Parameters
    ----------
    method, iterations, lr, momentum, beta2, adam_eps, warmup, schedule, window, stride, ensemble, \
smooth_sigma, clip, clip_grad, coarse_to_fine, holdout, record_every, correlation_skip, window_batch, \
tv_weight, spectrum_weight
        As for :func:`reconstruct`.
    frame_shape : (int, int), optional
        The frames' (H, W) in pixels: also checks that ``coarse_to_fine``
        levels fit in them and that ``iterations`` covers every level.

    Returns
    -------
    ReconstructOptions
        The checked values (``iterations``, ``lr`` and ``schedule`` resolved from the method's
        defaults; ``clip`` as a float pair).

    Raises
    ------
    InputError
        One line naming the option, what was given and what is possible.

    Examples
    --------
    >>> check_reconstruct_options(method="adam").iterations > 0
    True
    >>> check_reconstruct_options(holdout=1.5)
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: holdout: got 1.5; expected a share in [0, 1) of neurons held out
    """
    if method not in METHODS:
        raise InputError(f"method: got {method!r}; expected one of {', '.join(METHODS)}")
    if ensemble not in ("videos", "gradients"):
        raise InputError(f"ensemble: got {ensemble!r}; expected 'videos' or 'gradients'")
    defaults = METHODS[method]
    iterations = _check_positive(
        "iterations", defaults["iterations"] if iterations is None else iterations, integer=True
    )
    lr = _check_positive("lr", defaults["lr"] if lr is None else lr)
    schedule = defaults["schedule"] if schedule is None else schedule
    if schedule not in ("constant", "cosine"):
        raise InputError(f"schedule: got {schedule!r}; expected 'constant' or 'cosine'")
    for name, v in (("momentum", momentum), ("beta2", beta2)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v < 1:
            raise InputError(f"{name}: got {v!r}; expected a number in [0, 1)")
    adam_eps = _check_positive("adam_eps", adam_eps)
    warmup = _check_positive("warmup", warmup, integer=True, strict=False)
    window = _check_positive("window", window, integer=True)
    stride = _check_positive("stride", stride, integer=True)
    smooth_sigma = _check_positive("smooth_sigma", smooth_sigma, strict=False)
    clip_grad = _check_positive("clip_grad", clip_grad)
    coarse_to_fine = _check_positive("coarse_to_fine", coarse_to_fine, integer=True, strict=False)
    record_every = _check_positive("record_every", record_every, integer=True)
    if isinstance(holdout, bool) or not isinstance(holdout, (int, float)) or not 0 <= holdout < 1:
        raise InputError(f"holdout: got {holdout!r}; expected a share in [0, 1) of neurons held out")
    correlation_skip = _check_positive("correlation_skip", correlation_skip, integer=True, strict=False)
    if window_batch is not None:
        window_batch = _check_positive("window_batch", window_batch, integer=True)
    try:
        lo, hi = (float(c) for c in clip)
    except (TypeError, ValueError):
        raise InputError(f"clip: got {clip!r}; expected (low, high) pixel values") from None
    if not hi > lo:
        raise InputError(f"clip: got {clip!r}; expected low < high")
    if frame_shape is not None:
        _levels(coarse_to_fine, iterations, frame_shape)
    for name, v in (("tv_weight", tv_weight), ("spectrum_weight", spectrum_weight)):
        _check_positive(name, v, strict=False)
    return ReconstructOptions(
        method=method,
        iterations=iterations,
        lr=lr,
        momentum=float(momentum),
        beta2=float(beta2),
        adam_eps=adam_eps,
        warmup=warmup,
        schedule=schedule,
        window=window,
        stride=stride,
        ensemble=ensemble,
        smooth_sigma=smooth_sigma,
        clip=(lo, hi),
        clip_grad=clip_grad,
        coarse_to_fine=coarse_to_fine,
        holdout=holdout,
        record_every=record_every,
        correlation_skip=correlation_skip,
        window_batch=window_batch,
        tv_weight=float(tv_weight),
        spectrum_weight=float(spectrum_weight),
    )


def reconstruct(
    models,
    responses,
    behavior,
    pupil_center,
    *,
    update_mask=None,
    method: str = "paper",
    iterations: int | None = None,
    lr: float | None = None,
    momentum: float = 0.9,
    beta2: float = 0.999,
    adam_eps: float = 1.0,
    warmup: int = 10,
    schedule: str | None = None,
    window: int = 32,
    stride: int = 8,
    burn_in="auto",
    ensemble: str = "videos",
    smooth_sigma: float = 0.5,
    clip=(0.0, 255.0),
    clip_grad: float = 1.0,
    coarse_to_fine: int = 0,
    neurons=None,
    holdout: float = 0.0,
    truth=None,
    evaluation_mask=None,
    record_every: int = 10,
    correlation_skip: int = 30,
    window_batch: int | None = None,
    tv_weight: float = 0.0,
    spectrum_weight: float = 0.0,
    random_state: int | None = 0,
    device="auto",
    desc: str | None = "reconstruct",
) -> ReconstructionResult:
    """Reconstruct the movie that evoked ``responses`` by gradient descent on the input pixels.

    Every iteration:

    1. slide ``window``-frame windows with ``stride`` over the trial
       (:func:`window_starts`; all windows go through the model in one batch,
       or chunks of ``window_batch``) with the recorded behaviour and pupil
       position;
    2. Poisson NLL ``rate - response * log(rate)`` summed over neurons and
       frames; in windows that do not start at frame 0 the first ``burn_in``
       frames are left out, because the model sees a truncated history there
       (at frame 0 the trial itself starts, so nothing is left out);
    3. each window's pixel gradient divided by its L2 norm; each frame gets
       the mean over the windows that contain it; the models' gradients are
       averaged (``ensemble="gradients"``) or each model drives its own movie
       (``"videos"``);
    4. times the update mask, clipped at ``±clip_grad``;
    5. a step: ``method="paper"`` — momentum ``m = momentum * m + (1 - momentum) * g``
       (bias-corrected), step ``lr * m`` with the learning rate ramped up
       linearly over ``warmup`` iterations (the paper: 1000 iterations, lr
       1000, beta 0.9); ``method="adam"`` — Adam (``momentum``, ``beta2``) with
       a step of about ``lr`` pixel units per iteration, same warm-up, cosine
       decay;
    6. pixels clipped to ``clip``.

    Finally the movies are averaged (ensemble of videos) and smoothed with a
    Gaussian of ``smooth_sigma`` over (t, y, x).

    Steps 4-6 are the inversion engine shared with the fMRI feature inversion
    (:func:`neurocine.models.inversion.descend`); the two methods are its
    :class:`~neurocine.models.inversion.StepRule` (``check_reconstruct_options(...).step_rule``).

    ``coarse_to_fine=k`` first optimises the movie at 1/2**k of the spatial
    resolution (bilinear upsampling of a low-resolution update), then 1/2**(k-1),
    ... then full resolution, the iterations split evenly between levels.

    Parameters
    ----------
    models : torch.nn.Module or list of them
        Encoding models following the protocol; put in eval mode and moved to ``device``
        (their training flag is restored afterwards).
    responses : array_like (T, N)
        Recorded (or predicted) activity, non-negative.
    behavior, pupil_center : array_like (T, 2)
    update_mask : array_like (H, W), optional
        Boolean (or 0-1 weights) map of the pixels that may change; the others stay grey.
        When omitted every pixel may change, and the frame size comes from ``truth`` (with neither,
        pass ``update_mask=np.ones((H, W), bool)``).
    method : {"paper", "adam"}, default "paper"
    iterations : int, optional
        Default: 1000 for "paper", 250 for "adam" (:data:`METHODS`).
    lr : float, optional
        Default: 1000 for "paper" (step on unit-norm window gradients), 30 for "adam" (pixels per step).
    momentum : float, default 0.9
        Momentum of "paper", beta1 of "adam".
    beta2 : float, default 0.999
        Adam's second-moment decay.
    adam_eps : float, default 1.0
        Adam's epsilon in units of the root-mean-square gradient: pixels whose gradient is well above
        the RMS take steps of about ``lr`` pixels, pixels with little gradient take proportionally
        smaller ones (with the textbook tiny epsilon every pixel of the update mask would move by ``lr``,
        however weakly the responses constrain it).
    warmup : int, default 10
        Iterations of linear learning-rate warm-up (0 for none).
    schedule : {"constant", "cosine"}, optional
        Learning rate after warm-up; default "constant" for "paper", "cosine" for "adam".
    window, stride : int, default 32, 8
    burn_in : int or "auto", default "auto"
        Frames left out of the loss at the start of every window except the first. "auto" probes
        each model once for its temporal extent ``L`` (the last ``L`` frames carry 99 % of the gradient
        of the last frame's rates) and uses ``L - 1``; always capped at ``window - stride`` so every frame
        is scored by some window.
    ensemble : {"videos", "gradients"}, default "videos"
    smooth_sigma : float, default 0.5
        Gaussian smoothing of the final movie over (t, y, x); 0 for none.
    clip : (float, float), default (0, 255)
        Valid pixel range.
    clip_grad : float, default 1.0
    coarse_to_fine : int, default 0
        Number of coarser spatial levels (factor 2 each).
    neurons : array_like of int, optional
        Columns of ``responses`` and of the models' outputs to use (population ablation,
        :func:`ablate_population`); all when omitted.
    holdout : float in [0, 1), default 0
        Early stopping (not in the paper): this share of the (selected) neurons, drawn with
        ``random_state``, is left out of the gradient; their Poisson loss is evaluated on every
        iterate (before its step) and each movie is returned at its lowest held-out loss
        (``best_iteration``). With noisy responses the correlation with the truth peaks early and then
        falls as the movie fits the noise; the held-out loss finds that peak without the truth.
        ``correlation_history`` still follows the running iterate.
    truth : array_like (T, H, W), optional
        Ground-truth movie: gives ``correlation_history`` and the final correlations.
    evaluation_mask : array_like (H, W) bool, optional
        Pixels scored in the correlations; all when omitted.
    record_every : int, default 10
        Iterations between correlation records.
    correlation_skip : int, default 30
        Frames skipped by the video correlation (capped at ``T // 2`` for short trials).
    window_batch : int, optional
        At most this many windows per forward pass (memory); all at once by default.
    tv_weight, spectrum_weight : float, default 0, 0
        Image prior (not in the paper; :class:`~neurocine.models.inversion.ImagePrior` on the movies
        scaled by ``clip`` to 0-1): the gradient of ``tv_weight TV + spectrum_weight S`` is added to the
        normalised window gradient (whose norm per window is 1) before the mask and the clip; TV and
        S are means over the pixels, so useful weights are large and grow with the movie's size.
    random_state : int or None, default 0
    device : str, default "auto"
    desc : str or None
        Progress-bar label.

    Returns
    -------
    ReconstructionResult

    Examples
    --------
    >>> res = reconstruct(model, trial.responses, trial.behavior, trial.pupil_center,
    ...                   update_mask=update, truth=trial.video, evaluation_mask=evaluation)  # doctest: +SKIP
    >>> res.video.shape, res.video_correlation                                                # doctest: +SKIP
    """
    import torch
    import torch.nn.functional as F

    from neurocine import metrics

    t_start = time.perf_counter()
    models = _model_list(models)
    r, b, p = _trial_arrays(responses, behavior, pupil_center)
    n_frames = r.shape[0]
    o = check_reconstruct_options(
        method=method,
        iterations=iterations,
        lr=lr,
        momentum=momentum,
        beta2=beta2,
        adam_eps=adam_eps,
        warmup=warmup,
        schedule=schedule,
        window=window,
        stride=stride,
        ensemble=ensemble,
        smooth_sigma=smooth_sigma,
        clip=clip,
        clip_grad=clip_grad,
        coarse_to_fine=coarse_to_fine,
        holdout=holdout,
        record_every=record_every,
        correlation_skip=correlation_skip,
        window_batch=window_batch,
        tv_weight=tv_weight,
        spectrum_weight=spectrum_weight,
    )
    lo, hi = o.clip

    if truth is not None:
        tv = _float_array("truth", truth, 3, "a (T, H, W) video, time first")
        if tv.shape[0] != n_frames:
            raise InputError(f"truth: got {tv.shape[0]} frames; expected {n_frames} (the rows of responses)")
        shape = tv.shape[1:]
    elif update_mask is not None:
        shape = np.asarray(update_mask).shape
        if len(shape) != 2:
            raise InputError(f"update_mask: got shape {shape}; expected an (H, W) map")
    else:
        raise InputError(
            "update_mask: got None and no truth; pass update_mask=np.ones((H, W), bool) to give the frame size"
        )
    umask = np.ones(shape, np.float32) if update_mask is None else _spatial_mask("update_mask", update_mask, shape)
    emask = None if evaluation_mask is None else _spatial_mask("evaluation_mask", evaluation_mask, shape) > 0
    if emask is not None and not emask.any():
        raise InputError("evaluation_mask: is empty; expected at least one pixel to score")
    if neurons is not None:
        idx = np.asarray(neurons)
        if idx.ndim != 1 or idx.size == 0 or idx.dtype.kind not in "iu":
            raise InputError(
                f"neurons: got {idx.dtype} array of shape {idx.shape}; expected a non-empty 1-D "
                f"array of integer neuron indices"
            )
        if idx.min() < 0 or idx.max() >= r.shape[1]:
            raise InputError(
                f"neurons: indices span {idx.min()}..{idx.max()}; expected 0..{r.shape[1] - 1} "
                f"(the columns of responses)"
            )
        neurons = idx.astype(np.int64)
    skip = min(o.correlation_skip, n_frames // 2)

    rng = seed_everything(random_state)
    n_selected = r.shape[1] if neurons is None else len(neurons)
    held = None
    if o.holdout > 0:
        n_held = int(round(o.holdout * n_selected))
        if not 1 <= n_held < n_selected:
            raise InputError(
                f"holdout: {o.holdout} of {n_selected} neurons holds out {n_held}; expected at least 1 and fewer than all"
            )
        held = np.sort(rng.choice(n_selected, size=n_held, replace=False))
    dev = resolve_device(device)
    flags = _prepare(models, dev)
    try:
        with torch.no_grad():
            grey = torch.full((1, *shape), GREY, device=dev)
        if burn_in == "auto":
            probe_len = min(o.window, n_frames)
            extent = max(
                _temporal_extent(m, grey.expand(probe_len, *shape).cpu(), b[:probe_len], p[:probe_len], dev)
                for m in models
            )
            burn = extent - 1
        else:
            burn = _check_positive("burn_in", burn_in, integer=True, strict=False)
        burn = int(min(burn, max(min(o.window, n_frames) - o.stride, 0)))
        obj = _Objective(
            models,
            r,
            b,
            p,
            window=o.window,
            stride=o.stride,
            burn_in=burn,
            neurons=neurons,
            window_batch=o.window_batch,
            device=dev,
            holdout=held,
        )
        by_video = o.ensemble == "videos"
        n_videos = len(models) if by_video else 1
        mask_t = torch.from_numpy(umask).to(dev)
        videos = torch.full((n_videos, n_frames, *shape), GREY, device=dev)
        if lo > GREY or hi < GREY:
            videos.clamp_(lo, hi)
        losses = np.zeros((n_videos, o.iterations))
        val_losses = np.zeros((n_videos, o.iterations))
        best_loss = np.full(n_videos, np.inf)
        best_iter = np.zeros(n_videos, dtype=np.int64)
        best_videos = videos.clone() if held is not None else None
        corr_hist, rec_its = [], []
        truth_np = tv if truth is not None else None

        def record(step: int):
            if truth_np is None:
                return
            current = smooth_video(videos.mean(0).cpu().numpy(), o.smooth_sigma)
            corr_hist.append(metrics.video_correlation(truth_np, current, emask, skip=skip))
            rec_its.append(step)

        def gradient(current, it: int):
            """The models' windowed Poisson gradient of each movie at iteration ``it`` (losses recorded)."""
            next(bar, None)
            grads = []
            share = 1 if by_video else len(models)
            for j, m in enumerate(models):
                v_idx = j if by_video else 0
                g, loss_val, val = obj.gradient(m, current[v_idx])
                losses[v_idx, it] += loss_val / share
                val_losses[v_idx, it] += val / share
                grads.append(g)
            if best_videos is not None:  # neurons held out: keep each video's best iteration
                for v_idx in range(n_videos):
                    if val_losses[v_idx, it] < best_loss[v_idx]:
                        best_loss[v_idx] = val_losses[v_idx, it]
                        best_iter[v_idx] = it
                        best_videos[v_idx] = current[v_idx]
            return torch.stack(grads) if by_video else torch.stack(grads).mean(0, keepdim=True)

        record(0)
        t_setup = time.perf_counter()
        bar = progress(range(o.iterations), total=o.iterations, desc=desc)
        rule, prior = o.step_rule, o.prior
        done = 0
        for factor, n_its in _levels(o.coarse_to_fine, o.iterations, shape):
            base = videos.clone()
            small = (math.ceil(shape[0] / factor), math.ceil(shape[1] / factor))
            z = torch.zeros((n_videos, n_frames, *small), device=dev)

            def compose(zz, factor=factor, base=base):
                if factor == 1:  # the gradient is already masked
                    return base + zz
                return base + F.interpolate(zz, size=shape, mode="bilinear", align_corners=False) * mask_t

            def pull_back(zz, g, factor=factor, compose=compose):
                if factor == 1:
                    return g
                # chain rule through the upsampling, as a mean over the f x f block
                zz = zz.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(compose(zz), zz, grad_outputs=g)
                return g / factor**2

            def project(zz, compose=compose, base=base):  # onto the valid range
                zz.copy_(compose(zz).clamp(lo, hi) - base)

            def images(zz, compose=compose):  # the movies the models see, in the valid range
                return compose(zz).clamp(lo, hi)

            def after_step(k, zz, done=done, images=images):
                nonlocal videos
                videos = images(zz)
                step = done + k + 1
                if step % o.record_every == 0 or step == o.iterations:
                    record(step)

            def level_gradient(x, k, done=done):
                return gradient(x, done + k)

            descend(
                z,
                level_gradient,
                rule,
                n_its,
                images=images,
                pull_back=pull_back,
                prior=prior,
                mask=mask_t,
                project=project if factor == 1 else None,
                after_step=after_step,
            )
            done += n_its
            with torch.no_grad():
                videos = images(z)
        for _ in bar:  # close the progress bar
            pass
        t_opt = time.perf_counter()
        if best_videos is not None:
            videos = best_videos
        all_videos = videos.cpu().numpy().astype(np.float32)
    finally:
        _restore(models, flags)

    raw = all_videos.mean(0)
    final = smooth_video(raw, o.smooth_sigma)
    res = ReconstructionResult(
        video=final,
        raw=raw,
        loss_history=losses.mean(0),
        model_loss_history=losses,
        model_videos=all_videos if (by_video and len(models) > 1) else None,
        timings={
            "setup_s": t_setup - t_start,
            "optimise_s": t_opt - t_setup,
            "per_iteration_s": (t_opt - t_setup) / o.iterations,
            "total_s": time.perf_counter() - t_start,
        },
        params={
            "method": o.method,
            "iterations": o.iterations,
            "lr": o.lr,
            "momentum": momentum,
            "beta2": beta2,
            "adam_eps": o.adam_eps,
            "warmup": o.warmup,
            "schedule": o.schedule,
            "window": o.window,
            "stride": o.stride,
            "burn_in": burn,
            "n_windows": int(len(obj.starts)),
            "ensemble": o.ensemble,
            "n_models": len(models),
            "smooth_sigma": o.smooth_sigma,
            "clip": (lo, hi),
            "clip_grad": o.clip_grad,
            "coarse_to_fine": o.coarse_to_fine,
            "tv_weight": o.tv_weight,
            "spectrum_weight": o.spectrum_weight,
            "n_neurons": int(obj.target.shape[-1]),
            "n_holdout": 0 if held is None else int(len(held)),
            "correlation_skip": skip,
            "device": str(dev),
        },
    )
    if held is not None:
        res.validation_history = val_losses.mean(0)
        res.best_iteration = best_iter
    if truth is not None:
        res.correlation_history = np.asarray(corr_hist)
        res.record_iterations = np.asarray(rec_its, dtype=np.int64)
        res.video_correlation = metrics.video_correlation(tv, final, emask, skip=skip)
        res.mean_frame_correlation = metrics.mean_frame_correlation(tv, final, emask, skip=skip)
    return res


def reconstruct_many(models, trials, *, use_truth: bool = True, **kwargs) -> list[ReconstructionResult]:
    """:func:`reconstruct` every trial (objects with ``responses``, ``behavior``, ``pupil_center`` and,
    when ``use_truth``, ``video`` as the ground truth); keyword arguments go to :func:`reconstruct`."""
    out = []
    trials = list(trials)
    for i, trial in enumerate(progress(trials, total=len(trials), desc="trials")):
        try:
            r, b, p = trial.responses, trial.behavior, trial.pupil_center
        except AttributeError:
            raise InputError(
                f"trials[{i}]: got {type(trial).__name__}; expected an object with responses, behavior and pupil_center"
            ) from None
        kw = dict(kwargs)
        if use_truth:
            kw.setdefault("truth", getattr(trial, "video", None))
        kw.setdefault("desc", f"trial {getattr(trial, 'trial_id', i)}")
        out.append(reconstruct(models, r, b, p, **kw))
    return out


# ---------------------------------------------------------------------------------------------
# analysis helpers
# ---------------------------------------------------------------------------------------------


def predicted_responses(models, video, behavior, pupil_center, *, device="auto") -> np.ndarray:
    """The models' mean predicted rates for a movie (one forward pass over the whole trial).

    Parameters
    ----------
    models : torch.nn.Module or list of them
    video : array_like (T, H, W) 0-255
    behavior, pupil_center : array_like (T, 2)

    Returns
    -------
    ndarray (T, N) float32
        Mean over models — the target for reconstructions from predicted activity.
    """
    import torch

    models = _model_list(models)
    v = _float_array("video", video, 3, "a (T, H, W) video, time first")
    b = _float_array("behavior", behavior, 2, "a (T, 2) array")
    p = _float_array("pupil_center", pupil_center, 2, "a (T, 2) array")
    for name, arr in (("behavior", b), ("pupil_center", p)):
        if arr.shape[0] != v.shape[0]:
            raise InputError(f"{name}: got {arr.shape[0]} frames; expected {v.shape[0]} (the frames of video)")
    dev = resolve_device(device)
    flags = _prepare(models, dev)
    try:
        with torch.no_grad():
            vt, bt, pt = (torch.from_numpy(a).to(dev)[None] for a in (v, b, p))
            out = sum(_call(m, vt, bt, pt)[0].double() for m in models) / len(models)
    finally:
        _restore(models, flags)
    return out.float().cpu().numpy()


def error_map(recon_from_recorded, recon_from_predicted, mask=None) -> np.ndarray:
    """Pixel error of a reconstruction: from recorded activity minus from the predicted activity.

    Positive where the recorded activity made the pixel brighter than the
    model expected (the paper's hot colours), negative where darker.

    Parameters
    ----------
    recon_from_recorded, recon_from_predicted : array_like (T, H, W)
    mask : bool array (H, W), optional
        Pixels outside are set to 0.

    Returns
    -------
    ndarray (T, H, W) float32
    """
    a = _float_array("recon_from_recorded", recon_from_recorded, 3, "a (T, H, W) video")
    b = _float_array("recon_from_predicted", recon_from_predicted, 3, "a (T, H, W) video")
    if a.shape != b.shape:
        raise InputError(f"recon_from_predicted: got shape {b.shape}; expected {a.shape} like recon_from_recorded")
    d = a - b
    if mask is not None:
        d = d * (_spatial_mask("mask", mask, a.shape[1:]) > 0)
    return d.astype(np.float32)


def ablate_population(responses, fraction: float, random_state: int | None = 0) -> np.ndarray:
    """Indices of the neurons kept when ``fraction`` of the population is dropped at random.

    Parameters
    ----------
    responses : array_like (T, N) or int
        The responses (only N is used) or N itself.
    fraction : float in [0, 1)
        Share dropped (the paper: 0.5, 0.75, 0.875); ``round(fraction * N)`` neurons go.
    random_state : int or None, default 0

    Returns
    -------
    ndarray (N - round(fraction * N),) int64, sorted
        Pass as ``neurons=`` to :func:`reconstruct`.

    Examples
    --------
    >>> ablate_population(8, 0.75, random_state=1).size
    2
    """
    if isinstance(responses, (int, np.integer)) and not isinstance(responses, bool):
        n = int(responses)
    else:
        arr = np.asarray(responses)
        if arr.ndim != 2:
            raise InputError(f"responses: got shape {arr.shape}; expected a (T, N) array or the number N")
        n = arr.shape[1]
    if n < 1:
        raise InputError(f"responses: got {n} neurons; expected at least 1")
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)) or not 0 <= fraction < 1:
        raise InputError(f"fraction: got {fraction!r}; expected a share in [0, 1) of neurons to drop")
    n_keep = n - int(round(fraction * n))
    if n_keep < 1:
        raise InputError(f"fraction: dropping {fraction} of {n} neurons leaves none; expected a smaller fraction")
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n, size=n_keep, replace=False)).astype(np.int64)
