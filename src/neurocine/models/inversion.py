"""Feature inversion: optimise images so a differentiable model's features match targets, under an image prior.

The engine of "deep image reconstruction" (Shen et al. 2019; Mahendran & Vedaldi 2015): given a
differentiable ``model`` that maps images ``(N, C, H, W)`` to a dict of feature tensors ``(N, F_l)``
and target features per layer, :func:`invert_features` finds images whose features correlate with
the targets, layer by layer, while a natural-image prior keeps them smooth:

``loss = sum_l w_l mean_i (1 - corr(f_l(x_i), t_l,i)) + tv_weight TV(x) + spectrum_weight S(x)``

- ``corr`` is Pearson's correlation over the features of one image, so targets may be on any scale
  (decoded features are shrunk by ridge);
- ``TV(x)`` (:func:`total_variation`) is the mean squared difference of neighbouring pixels;
- ``S(x)`` (:func:`spectral_penalty`) is the power of the image spectrum weighted by ``|k|^2``
  relative to its total power: natural images fall off as ``1/|k|^2``, so this penalises power above
  that fall-off at high spatial frequencies.

The pixels are parametrised as ``lo + (hi - lo) sigmoid(z)`` (always inside the value range) and
``z`` is optimised with Adam. Pure torch; nothing here knows about fMRI.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int

__all__ = ["InversionResult", "invert_features", "spectral_penalty", "total_variation"]


def total_variation(x: Any) -> Any:
    """Mean squared difference of vertically and horizontally neighbouring pixels of ``x`` (N, C, H, W).

    Examples
    --------
    >>> import torch
    >>> float(total_variation(torch.ones(1, 1, 4, 4)))
    0.0
    """
    dy = (x[..., 1:, :] - x[..., :-1, :]).pow(2).mean()
    dx = (x[..., :, 1:] - x[..., :, :-1]).pow(2).mean()
    return dx + dy


def spectral_penalty(x: Any) -> Any:
    """Share of an image's (mean-removed) power weighted by ``|k|^2``, ``k`` in cycles per image side, ``(N, C, H, W)``.

    ``sum_k |k|^2 |X(k)|^2 / sum_k |X(k)|^2``, averaged over images: 0 for a flat image, large for
    pixel noise, small for natural images whose power falls off as ``1/|k|^2``.

    Examples
    --------
    >>> import torch
    >>> smooth = torch.cos(torch.linspace(0, 2 * math.pi, 32))[None, None, :, None].expand(1, 1, 32, 32)
    >>> noise = torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    >>> bool(spectral_penalty(smooth) < spectral_penalty(noise))
    True
    """
    import torch

    h, w = x.shape[-2:]
    spec = torch.fft.rfft2(x - x.mean(dim=(-2, -1), keepdim=True))
    power = spec.real.pow(2) + spec.imag.pow(2)
    ky = torch.fft.fftfreq(h, device=x.device) * h
    kx = torch.fft.rfftfreq(w, device=x.device) * w
    k2 = ky[:, None].pow(2) + kx[None, :].pow(2)
    total = power.sum(dim=(-2, -1)).clamp_min(1e-12)
    return ((power * k2).sum(dim=(-2, -1)) / total).mean()


def _correlation_loss(f: Any, t: Any) -> Any:
    """Mean over rows of 1 - Pearson correlation of ``f`` and ``t`` (N, F)."""
    fc = f - f.mean(1, keepdim=True)
    tc = t - t.mean(1, keepdim=True)
    r = (fc * tc).sum(1) / (fc.norm(dim=1) * tc.norm(dim=1)).clamp_min(1e-12)
    return (1.0 - r).mean()


@dataclass
class InversionResult:
    """The images found by :func:`invert_features` and the loss history.

    Attributes
    ----------
    images : ndarray, shape (N, C, H, W), float32
        In the value range.
    loss : list of float
        Total loss per step.
    feature_loss : list of float
        Its feature-matching part per step.
    layer_correlation : dict of str -> float
        Final mean correlation of the images' features with the targets, per layer.
    """

    images: np.ndarray
    loss: list[float] = field(default_factory=list)
    feature_loss: list[float] = field(default_factory=list)
    layer_correlation: dict[str, float] = field(default_factory=dict)


def invert_features(
    model: Callable[[Any], Mapping[str, Any]],
    targets: Mapping[str, Any],
    init: Any,
    *,
    layer_weights: Mapping[str, float] | None = None,
    tv_weight: float = 0.5,
    spectrum_weight: float = 1e-3,
    steps: int = 200,
    lr: float = 0.05,
    value_range: tuple[float, float] = (0.0, 1.0),
    jitter: float = 0.02,
    seed: int = 0,
    device: str = "cpu",
) -> InversionResult:
    """Images whose features under ``model`` correlate with ``targets`` (module notes).

    Parameters
    ----------
    model : callable
        Maps a float tensor ``(N, C, H, W)`` in ``value_range`` to ``{layer: (N, F_layer) tensor}``,
        differentiably (e.g. a CNN with pooled taps); it may return more layers than ``targets``.
    targets : mapping of str -> array_like, shape (N, F_layer)
        Target features per layer (any scale: the loss is a correlation).
    init : array_like, shape (N, C, H, W)
        Starting images, inside ``value_range`` (clipped 1 % inside it).
    layer_weights : mapping of str -> float, optional
        Weight of each layer's loss; default 1 / number of layers each.
    tv_weight, spectrum_weight : float, default 0.5, 1e-3
        Weights of :func:`total_variation` (on images scaled to 0-1) and :func:`spectral_penalty`.
    steps : int, default 200
        Adam steps.
    lr : float, default 0.05
        Adam's learning rate on the sigmoid's argument.
    value_range : (float, float), default (0, 1)
    jitter : float, default 0.02
        Uniform noise (share of the value range) added to ``init``: a flat image has no defined
        correlation gradient, and one huge first step would stall Adam.
    seed : int, default 0
        Of the jitter.
    device : str, default "cpu"

    Returns
    -------
    InversionResult

    Examples
    --------
    >>> import torch
    >>> target = torch.rand(2, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    >>> model = lambda x: {"pixels": x.flatten(1)}
    >>> res = invert_features(model, {"pixels": target.flatten(1)}, np.full((2, 1, 8, 8), 0.5), tv_weight=0.0,
    ...                       spectrum_weight=0.0, steps=300, lr=0.02)
    >>> res.layer_correlation["pixels"] > 0.99
    True
    """
    import torch

    if not targets:
        raise InputError("targets: empty; expected at least one layer's target features")
    n_steps = check_int("steps", steps, minimum=1)
    lo, hi = (float(v) for v in value_range)
    if not hi > lo:
        raise InputError(f"value_range: got {value_range!r}; expected (low, high) with low < high")
    for name, value in (("tv_weight", tv_weight), ("spectrum_weight", spectrum_weight), ("lr", lr)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
            raise InputError(f"{name}: got {value!r}; expected a finite number >= 0")
    x0 = np.asarray(init, dtype=np.float32)
    if x0.ndim != 4:
        raise InputError(f"init: got shape {x0.shape}; expected (N, C, H, W) images")
    names = list(targets)
    weights = {n: 1.0 / len(names) for n in names} if layer_weights is None else dict(layer_weights)
    missing = [n for n in names if n not in weights]
    if missing:
        raise InputError(f"layer_weights: no weight for {missing}; expected one per target layer")
    tgt = {}
    for n in names:
        t = torch.as_tensor(np.asarray(targets[n], dtype=np.float32), device=device)
        if t.ndim != 2 or t.shape[0] != x0.shape[0]:
            raise InputError(f"targets[{n!r}]: got shape {tuple(t.shape)}; expected ({x0.shape[0]}, F) like init")
        tgt[n] = t
    noise = np.random.default_rng(seed).uniform(-jitter / 2, jitter / 2, x0.shape).astype(np.float32)
    u = np.clip((x0 - lo) / (hi - lo) + noise, 0.01, 0.99)
    z = torch.tensor(np.log(u / (1 - u)), device=device, requires_grad=True)
    opt = torch.optim.Adam([z], lr=float(lr))
    result = InversionResult(images=x0)

    def images() -> Any:
        return lo + (hi - lo) * torch.sigmoid(z)

    for _ in range(n_steps):
        opt.zero_grad()
        x = images()
        feats = model(x)
        f_loss = sum(weights[n] * _correlation_loss(feats[n].flatten(1), tgt[n]) for n in names)
        unit = (x - lo) / (hi - lo)
        loss = f_loss + tv_weight * total_variation(unit) + spectrum_weight * spectral_penalty(unit)
        loss.backward()
        opt.step()
        result.loss.append(float(loss.detach()))
        result.feature_loss.append(float(f_loss.detach()))
    with torch.no_grad():
        x = images()
        feats = model(x)
        result.layer_correlation = {n: float(1.0 - _correlation_loss(feats[n].flatten(1), tgt[n])) for n in names}
        result.images = x.cpu().numpy().astype(np.float32)
    return result
