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
``z`` is optimised with Adam. Pure torch; nothing here knows about fMRI or V1.

The optimisation engine is shared with the V1 movie reconstruction
(:func:`neurocine.v1.reconstruction.reconstruct`): :func:`descend` runs "parameters -> images ->
gradient of the loss against the target (+ :class:`ImagePrior`) -> mask, clip -> chain rule back to the
parameters -> :class:`StepRule`". Feature inversion plugs in a sigmoid parametrisation, the
correlation loss through the network and textbook Adam; V1 plugs in the update mask, coarse-to-fine
upsampling, its windowed Poisson gradient and its "paper" momentum or relative-epsilon Adam step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int

__all__ = [
    "ImagePrior",
    "InversionResult",
    "StepRule",
    "descend",
    "invert_features",
    "spectral_penalty",
    "total_variation",
]


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


#: Kinds of :class:`StepRule`.
STEP_KINDS = ("momentum", "adam")

#: Learning-rate schedules of :class:`StepRule` (after the warm-up).
SCHEDULES = ("constant", "cosine")


def _check_number(name: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < low or value >= high or (low_open and value == low):
        upper = "" if high == math.inf else f" and < {high:g}"
        raise InputError(f"{name}: got {value!r}; expected a number {'>' if low_open else '>='} {low:g}{upper}")
    return float(value)


@dataclass(frozen=True)
class StepRule:
    """How :func:`descend` turns a gradient ``g`` into a step of the parameters ``z``.

    At step ``k`` (0-based) of ``n``, with ``t = k + 1``:

    - first moment ``m = beta1 m + (1 - beta1) g``, bias-corrected ``m_hat = m / (1 - beta1^t)``;
    - ``kind="momentum"``: ``z -= rate m_hat`` (the V1 "paper" step, on normalised gradients);
    - ``kind="adam"``: also ``v = beta2 v + (1 - beta2) g^2``, ``v_hat = v / (1 - beta2^t)`` and
      ``z -= rate m_hat / (sqrt(v_hat) + eps)``, with ``eps`` absolute (textbook Adam, as
      :class:`torch.optim.Adam`) or, ``relative_eps=True``, ``eps sqrt(mean(v_hat))``: pixels whose
      gradient is well above the root-mean-square take steps of about ``rate``, the others
      proportionally smaller ones;
    - ``rate = lr min(1, t / warmup)`` (linear warm-up; none when ``warmup`` is 0), times
      ``(1 + cos(pi k / n)) / 2`` for the ``"cosine"`` schedule.

    ``clip_grad`` clips the image gradient at ``±clip_grad`` before the step (:func:`descend`).

    Parameters
    ----------
    kind : {"momentum", "adam"}, default "adam"
    lr : float, default 0.05
        Learning rate, in parameter units per step (per unit gradient for ``"momentum"``).
    beta1, beta2 : float in [0, 1), default 0.9, 0.999
        Decays of the first and (Adam) second moments.
    eps : float, default 1e-8
        Adam's epsilon (absolute, or in units of the root-mean-square gradient with ``relative_eps``).
    relative_eps : bool, default False
    warmup : int, default 0
        Steps of linear learning-rate warm-up.
    schedule : {"constant", "cosine"}, default "constant"
    clip_grad : float, optional
        Clip of the image gradient; none by default.

    Examples
    --------
    >>> import torch
    >>> rule = StepRule("momentum", lr=0.5, warmup=2)
    >>> z, state = torch.zeros(1), rule.start(torch.zeros(1))
    >>> rule.step(z, torch.ones(1), state, 0, 10)  # m_hat = 1, rate = 0.5 * 1/2
    >>> float(z[0])
    -0.25
    """

    kind: str = "adam"
    lr: float = 0.05
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    relative_eps: bool = False
    warmup: int = 0
    schedule: str = "constant"
    clip_grad: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in STEP_KINDS:
            raise InputError(f"kind: got {self.kind!r}; expected one of {', '.join(STEP_KINDS)}")
        if self.schedule not in SCHEDULES:
            raise InputError(f"schedule: got {self.schedule!r}; expected one of {', '.join(SCHEDULES)}")
        _check_number("lr", self.lr, 0.0)
        _check_number("beta1", self.beta1, 0.0, 1.0)
        _check_number("beta2", self.beta2, 0.0, 1.0)
        _check_number("eps", self.eps, 0.0)
        check_int("warmup", self.warmup, minimum=0)
        if self.clip_grad is not None:
            _check_number("clip_grad", self.clip_grad, 0.0, low_open=True)

    def rate(self, k: int, n: int) -> float:
        """Learning rate of step ``k`` (0-based) of ``n``: warm-up, then the schedule."""
        rate = self.lr * (min(1.0, (k + 1) / self.warmup) if self.warmup else 1.0)
        if self.schedule == "cosine":
            rate *= 0.5 * (1.0 + math.cos(math.pi * k / n))
        return rate

    def start(self, params: Any) -> dict[str, Any]:
        """The rule's state for ``params``: zero moments (for textbook Adam, a :class:`torch.optim.Adam`)."""
        import torch

        if self.kind == "adam" and not self.relative_eps:
            opt = torch.optim.Adam([params], lr=self.lr, betas=(self.beta1, self.beta2), eps=self.eps)
            return {"optimizer": opt}
        return {"m": torch.zeros_like(params), "v": torch.zeros_like(params) if self.kind == "adam" else None}

    def step(self, params: Any, grad: Any, state: dict[str, Any], k: int, n: int) -> None:
        """Step ``params`` in place along ``grad`` (same shape), updating ``state`` (step ``k`` of ``n``).

        Textbook Adam is :class:`torch.optim.Adam`'s own update, at this step's rate; the
        relative-epsilon Adam (not in torch) and the momentum step are written out.
        """
        import torch

        t = k + 1
        rate = self.rate(k, n)
        if "optimizer" in state:
            opt = state["optimizer"]
            opt.param_groups[0]["lr"] = rate
            params.grad = grad
            opt.step()
            params.grad = None
            return
        b1, b2 = self.beta1, self.beta2
        with torch.no_grad():
            m = state["m"]
            m.mul_(b1).add_(grad, alpha=1.0 - b1)
            m_hat = m / (1.0 - b1**t)
            if self.kind == "adam":
                v = state["v"]
                v.mul_(b2).addcmul_(grad, grad, value=1.0 - b2)
                v_hat = v / (1.0 - b2**t)
                eps = self.eps * float(v_hat.mean().sqrt()) + 1e-30
                params.sub_(rate * m_hat / (v_hat.sqrt() + eps))
            else:
                params.sub_(rate * m_hat)


@dataclass(frozen=True)
class ImagePrior:
    """Natural-image prior ``tv_weight TV(u) + spectrum_weight S(u)`` on images ``u`` scaled to 0-1.

    ``TV`` is :func:`total_variation`, ``S`` :func:`spectral_penalty`; ``u = (x - low) / (high - low)``
    with ``value_range = (low, high)``. Images are ``(..., H, W)``: the last two axes are space.

    Parameters
    ----------
    tv_weight, spectrum_weight : float, default 0, 0
    value_range : (float, float), default (0, 1)

    Examples
    --------
    >>> import torch
    >>> prior = ImagePrior(tv_weight=1.0, value_range=(0.0, 255.0))
    >>> x = torch.zeros(1, 4, 4); x[..., 2:] = 255.0
    >>> round(float(prior(x)), 4)  # one edge: 4 of 12 horizontal pairs differ by 1
    0.3333
    """

    tv_weight: float = 0.0
    spectrum_weight: float = 0.0
    value_range: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        _check_number("tv_weight", self.tv_weight, 0.0)
        _check_number("spectrum_weight", self.spectrum_weight, 0.0)
        lo, hi = self.value_range
        if not hi > lo:
            raise InputError(f"value_range: got {self.value_range!r}; expected (low, high) with low < high")

    @property
    def active(self) -> bool:
        """Whether any weight is above 0."""
        return self.tv_weight > 0 or self.spectrum_weight > 0

    def __call__(self, x: Any) -> Any:
        """The prior of images ``x`` (a scalar tensor, differentiable)."""
        lo, hi = self.value_range
        unit = (x - lo) / (hi - lo)
        return self.tv_weight * total_variation(unit) + self.spectrum_weight * spectral_penalty(unit)

    def gradient(self, x: Any) -> tuple[Any, float]:
        """``(d prior / d x, prior)`` at images ``x``."""
        import torch

        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            value = self(xx)
            (g,) = torch.autograd.grad(value, xx)
        return g, float(value.detach())


def descend(
    params: Any,
    gradient: Callable[[Any, int], Any],
    rule: StepRule,
    steps: int,
    *,
    images: Callable[[Any], Any] | None = None,
    pull_back: Callable[[Any, Any], Any] | None = None,
    prior: ImagePrior | None = None,
    mask: Any = None,
    project: Callable[[Any], None] | None = None,
    after_step: Callable[[int, Any], None] | None = None,
) -> list[float]:
    """Optimise ``params`` in place: parameters -> images -> model and loss against the target (+ prior) -> step.

    The engine that :func:`invert_features` and :func:`neurocine.v1.reconstruction.reconstruct`
    share. Each of ``steps`` steps ``k``:

    1. ``x = images(params)`` (no gradient tracked);
    2. ``g = gradient(x, k)``, the gradient of the loss against the target with respect to the images
       (the model, the loss and the target live in this callable: an autograd loss, or the V1 windowed
       Poisson gradient); plus the gradient of ``prior`` when it has a weight;
    3. ``g`` times ``mask`` (the pixels that may change), clipped at ``±rule.clip_grad``;
    4. pulled back to the parameters: ``pull_back(params, g)``, by default the chain rule through
       ``images`` (autograd);
    5. ``rule.step`` (:class:`StepRule`); then ``project(params)`` and ``after_step(k, params)``.

    Parameters
    ----------
    params : torch.Tensor
        The parameters, stepped in place (no ``requires_grad`` needed).
    gradient : callable
        ``(images, k) -> tensor`` of the images' shape.
    rule : StepRule
    steps : int
    images : callable, optional
        Parameters to images (e.g. a sigmoid into the value range); identity by default.
    pull_back : callable, optional
        ``(params, image gradient) -> parameter gradient``.
    prior : ImagePrior, optional
    mask : tensor, optional
        Broadcast against the images.
    project, after_step : callable, optional

    Returns
    -------
    list of float
        The prior at each step's images (empty without an active prior).

    Examples
    --------
    >>> import torch
    >>> z = torch.zeros(3)
    >>> target = torch.tensor([1.0, -2.0, 0.5])
    >>> _ = descend(z, lambda x, k: 2 * (x - target), StepRule("adam", lr=0.1), 300)
    >>> torch.allclose(z, target, atol=0.05)
    True
    """
    import torch

    n = check_int("steps", steps, minimum=1)
    active = prior is not None and prior.active
    state = rule.start(params)
    prior_values: list[float] = []
    for k in range(n):
        with torch.no_grad():
            x = params if images is None else images(params)
        g = gradient(x, k)
        if active:
            assert prior is not None
            g_prior, value = prior.gradient(x)
            g = g + g_prior
            prior_values.append(value)
        if mask is not None:
            g = g * mask
        if rule.clip_grad is not None:
            g = g.clamp(-rule.clip_grad, rule.clip_grad)
        if pull_back is not None:
            g = pull_back(params, g)
        elif images is not None:
            with torch.enable_grad():
                zz = params.detach().requires_grad_(True)
                (g,) = torch.autograd.grad(images(zz), zz, grad_outputs=g)
        rule.step(params, g, state, k, n)
        with torch.no_grad():
            if project is not None:
                project(params)
            if after_step is not None:
                after_step(k, params)
    return prior_values


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
    step_rule: StepRule | None = None,
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
        Optimisation steps.
    lr : float, default 0.05
        Adam's learning rate on the sigmoid's argument.
    value_range : (float, float), default (0, 1)
    jitter : float, default 0.02
        Uniform noise (share of the value range) added to ``init``: a flat image has no defined
        correlation gradient, and one huge first step would stall Adam.
    seed : int, default 0
        Of the jitter.
    device : str, default "cpu"
    step_rule : StepRule, optional
        How the sigmoid's argument is stepped (:func:`descend`); default textbook Adam with ``lr``
        (``StepRule("adam", lr=lr)``). Given, it replaces ``lr``.

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
    z = torch.tensor(np.log(u / (1 - u)), device=device)
    rule = StepRule("adam", lr=float(lr)) if step_rule is None else step_rule
    prior = ImagePrior(tv_weight, spectrum_weight, (lo, hi))
    result = InversionResult(images=x0)

    def images(zz: Any) -> Any:
        return lo + (hi - lo) * torch.sigmoid(zz)

    def gradient(x: Any, _k: int) -> Any:
        with torch.enable_grad():
            xx = x.detach().requires_grad_(True)
            feats = model(xx)
            f_loss = sum(weights[n] * _correlation_loss(feats[n].flatten(1), tgt[n]) for n in names)
            (g,) = torch.autograd.grad(f_loss, xx)
        result.feature_loss.append(float(f_loss.detach()))
        return g

    prior_values = descend(z, gradient, rule, n_steps, images=images, prior=prior)
    result.loss = [f + p for f, p in zip(result.feature_loss, prior_values or [0.0] * n_steps)]
    with torch.no_grad():
        x = images(z)
        feats = model(x)
        result.layer_correlation = {n: float(1.0 - _correlation_loss(feats[n].flatten(1), tgt[n])) for n in names}
        result.images = x.cpu().numpy().astype(np.float32)
    return result
