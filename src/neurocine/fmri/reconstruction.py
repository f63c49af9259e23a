"""Frames from fMRI by feature inversion (Shen et al. 2019): decoded CNN features -> pixels.

:func:`feature_model` is the built-in EfficientNet-Lite0 as a differentiable map from grey frames
(0-1) to the spatially mean-pooled features of its taps, the same numbers as
:func:`neurocine.fmri.features.cnn_features` gives for the frames at 0-255.
:func:`reconstruct_frames` finds, for every decoded sample, the frame whose z-scored features
correlate with the decoded ones across the layers, under the total-variation and 1/f priors of
:func:`neurocine.models.inversion.invert_features`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.models.inversion import InversionResult, invert_features

__all__ = ["feature_model", "reconstruct_frames"]


def feature_model(layers: Sequence[str], input_size: Sequence[int], device: str = "cpu"):
    """Differentiable ``x (N, 1 or 3, H, W) in 0-1 -> {layer: (N, F)}``: the built-in network's mean-pooled taps.

    Preprocessing as :class:`~neurocine.features.deep.DeepFeatureExtractor` (grey repeated to RGB,
    bilinear antialiased resize to ``input_size``, EfficientNet-Lite normalisation).

    Parameters
    ----------
    layers : sequence of str
        Taps (e.g. :data:`~neurocine.features.deep.DEFAULT_LAYERS`, ``"embedding"``).
    input_size : (int, int)
        Network input (height, width).
    device : str, default "cpu"

    Returns
    -------
    callable
    """
    import torch
    import torch.nn.functional as F

    from neurocine.features.deep import LITE_MEAN, LITE_STD, efficientnet_lite0

    net = efficientnet_lite0().to(device).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    modules = dict(net.named_modules())
    unknown = [n for n in layers if n not in modules or n == ""]
    if unknown:
        raise InputError(f"layers: {unknown[0]!r} is not a tap of the built-in network; expected e.g. 'blocks.2'")
    size = tuple(int(v) for v in input_size)
    mean = torch.tensor(LITE_MEAN, device=device)[:, None, None]
    std = torch.tensor(LITE_STD, device=device)[:, None, None]

    def run(x: Any) -> dict[str, Any]:
        captured: dict[str, Any] = {}
        handles = [
            modules[n].register_forward_hook(lambda _m, _i, out, n=n: captured.__setitem__(n, out)) for n in layers
        ]
        try:
            if x.shape[1] == 1:
                x = x.expand(-1, 3, -1, -1)
            if tuple(x.shape[-2:]) != size:
                x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
            net((x - mean) / std)
        finally:
            for h in handles:
                h.remove()
        return {n: (v.mean((2, 3)) if v.ndim == 4 else v.flatten(1)) for n, v in captured.items()}

    return run


def reconstruct_frames(
    decoded: Mapping[str, np.ndarray],
    mean: Mapping[str, np.ndarray],
    sd: Mapping[str, np.ndarray],
    init: np.ndarray,
    *,
    input_size: Sequence[int],
    steps: int = 100,
    lr: float = 0.05,
    tv_weight: float = 0.5,
    spectrum_weight: float = 1e-3,
    device: str = "cpu",
) -> InversionResult:
    """Grey frames whose z-scored features match decoded z-scored features, layer by layer.

    Parameters
    ----------
    decoded : mapping of layer -> ndarray, shape (N, F_layer)
        Features decoded from fMRI, z-scored with the training frames' ``mean`` and ``sd``.
    mean, sd : mapping of layer -> ndarray, shape (F_layer,)
        The z-scoring of each layer (training frames).
    init : ndarray, shape (N, H, W)
        Starting frames, 0-1.
    input_size : (int, int)
        Network input.
    steps, lr, tv_weight, spectrum_weight, device
        As :func:`~neurocine.models.inversion.invert_features`.

    Returns
    -------
    InversionResult
        ``images`` of shape (N, 1, H, W), 0-1.
    """
    import torch

    layers = list(decoded)
    base = feature_model(layers, input_size, device)
    mu = {n: torch.as_tensor(np.asarray(mean[n], np.float32), device=device) for n in layers}
    scale = {n: torch.as_tensor(np.asarray(sd[n], np.float32), device=device) for n in layers}

    def model(x: Any) -> dict[str, Any]:
        f = base(x)
        return {n: (f[n] - mu[n]) / scale[n] for n in layers}

    x0 = np.asarray(init, dtype=np.float32)[:, None]
    return invert_features(
        model,
        decoded,
        x0,
        tv_weight=tv_weight,
        spectrum_weight=spectrum_weight,
        steps=steps,
        lr=lr,
        device=device,
    )
