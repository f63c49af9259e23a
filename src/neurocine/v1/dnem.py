"""Dynamic neural encoding model (DNEM) of mouse V1: video + behaviour -> firing rates of every neuron.

The encoding model of the movie reconstruction of Bauer, Margrie & Clopath
(eLife 2025), which used the winner of the Sensorium 2023 competition
(DwiseNeuro, Baikulov 2023). This is a scaled-down version of that design that
trains on a CPU at small scale and on a GPU at full scale:

- **core**: a stem (spatial convolution of the frame plus the behaviour and
  pupil-centre channels, broadcast over the screen, then a causal depth-wise
  temporal convolution) and inverted-residual blocks, each a point-wise
  expansion, a depth-wise spatial 3x3 convolution (optionally with stride 2),
  a depth-wise **causal** temporal convolution (left padding only), a
  point-wise projection, batch normalisation, SiLU and a residual shortcut
  ("factorised (2+1)D" depth-wise blocks);
- **readout** per neuron: ``"gaussian"`` (a learned position on the core's
  feature map, sampled bilinearly, with position noise while training as in
  neuralpredictors' Gaussian readout; the mean position at evaluation) times
  per-neuron feature weights plus a bias, or ``"linear"`` (a factorised
  spatial mask x feature weights);
- optional **shifter** (an MLP of the pupil centre that shifts every readout
  position) and **modulator** (an MLP of the behaviour giving each neuron a
  positive gain, ``ELU + 1``), softplus output.

:class:`DNEMNetwork` follows the encoding-model protocol of
:mod:`neurocine.v1.reconstruction`: ``module(video (B,T,H,W) 0-255, behavior (B,T,2),
pupil_center (B,T,2)) -> rates (B,T,N) > 0``, causal in time, with the input
normalisation inside the module (buffers set from the training data), so a
reconstruction optimises raw pixels. :class:`DNEM` is the scikit-learn-style
estimator that trains it (Poisson loss, AdamW, warm-up + cosine learning rate,
validation each epoch, checkpoints and bit-exact resume through
:func:`neurocine.models.torch_base.train`); :func:`train_ensemble` trains
several seeds and :class:`EnsembleModule` averages them.

The metrics (Sensorium 2023 definitions) are in :mod:`neurocine.metrics.neural`,
the in-silico receptive-field mapping in :mod:`neurocine.v1.receptive_fields`.

Trials are duck-typed: any object with attributes ``video`` (T, H, W) in
0-255 pixel units, ``responses`` (T, N), ``behavior`` (T, 2: pupil dilation,
running speed) and ``pupil_center`` (T, 2: x, y), time first.
"""

from __future__ import annotations

import math
import numbers
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from sklearn.base import RegressorMixin
from torch import nn
from torch.nn import functional as F

from neurocine.errors import InputError
from neurocine.io.checkpoints import data_fingerprint, save_atomic
from neurocine.metrics.neural import single_trial_correlation
from neurocine.models.torch_base import TorchEstimator, mlp, to_tensor
from neurocine.runtime import progress, resolve_device
from neurocine.validation import check_int

__all__ = ["DNEM", "DNEMNetwork", "EnsembleModule", "READOUTS", "train_ensemble"]

#: Readouts on offer.
READOUTS = ("gaussian", "linear")

_SAVE_FORMAT = 1
_PREDICT_CHUNK = 256  # frames per forward pass of predict (chunks overlap by the temporal receptive field)
_RATE_FLOOR = 1e-6  # added to every rate so that it is strictly positive


# ====================================================================== #
# network
# ====================================================================== #
_TOEPLITZ_MAX_FRAMES = 512  # longer inputs: a padded depth-wise convolution (same numbers, less memory)


class CausalDepthwiseTemporal(nn.Module):
    """Depth-wise convolution over time with left (causal) zero padding, on features ``(B, C, T, H, W)``.

    Output frame ``t`` is ``sum_k weight[c, k] * x[t - k]`` (``x`` is 0
    before the first frame), so it never sees a later frame. Computed as one
    batched product with a lower-triangular banded (Toeplitz) matrix per
    channel -- on a CPU several times faster than a depth-wise convolution
    kernel; the entries above the diagonal are exact zeros, so a later frame
    has no influence at all.
    """

    def __init__(self, channels: int, kernel: int):
        super().__init__()
        self.kernel = int(kernel)
        self.weight = nn.Parameter(torch.empty(channels, self.kernel))
        bound = 1.0 / math.sqrt(self.kernel)  # as nn.Conv3d's default for a depth-wise kernel
        nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        if t > _TOEPLITZ_MAX_FRAMES:
            kernel = self.weight.flip(1)[:, None, :, None, None]  # (C, 1, K, 1, 1), oldest frame first
            return F.conv3d(F.pad(x, (0, 0, 0, 0, self.kernel - 1, 0)), kernel, groups=c)
        idx = torch.arange(t, device=x.device)
        lag = idx[:, None] - idx[None, :]
        band = (lag >= 0) & (lag < self.kernel)
        toeplitz = self.weight[:, lag.clamp(0, self.kernel - 1)] * band  # (C, T, T)
        return torch.matmul(toeplitz, x.reshape(b, c, t, h * w)).reshape(b, c, t, h, w)


class Pointwise(nn.Module):
    """1x1x1 convolution (channel mixing) of features ``(B, C, T, H, W)``, as one matrix product."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(c_out, c_in))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as nn.Conv3d

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        out = torch.bmm(self.weight.expand(b, -1, -1), x.reshape(b, c, t * h * w))  # faster than matmul on CPU
        return out.reshape(b, -1, t, h, w)


class DepthwiseSpatial(nn.Module):
    """Depth-wise 2-D convolution of every frame of features ``(B, C, T, H, W)`` (same kernel for all frames)."""

    def __init__(self, channels: int, kernel: int, stride: int = 1):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(channels, 1, kernel, kernel))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # as nn.Conv2d
        self.stride, self.padding = int(stride), kernel // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape  # frames folded into the channels: one grouped 2-D convolution (fast on CPU)
        out = F.conv2d(
            x.reshape(b, c * t, h, w),
            self.weight.repeat_interleave(t, 0),
            stride=self.stride,
            padding=self.padding,
            groups=c * t,
        )
        return out.reshape(b, c, t, out.shape[-2], out.shape[-1])


class _Block(nn.Module):
    """Inverted residual (2+1)D block: expand 1x1x1 -> depth-wise spatial -> depth-wise causal temporal -> project."""

    def __init__(self, c_in: int, c_out: int, expansion: int, stride: int, spatial_kernel: int, temporal_kernel: int):
        super().__init__()
        hidden = c_in * expansion
        self.expand = Pointwise(c_in, hidden)
        self.bn1 = nn.BatchNorm3d(hidden)
        self.spatial = DepthwiseSpatial(hidden, spatial_kernel, stride)
        self.bn2 = nn.BatchNorm3d(hidden)
        self.temporal = CausalDepthwiseTemporal(hidden, temporal_kernel)
        self.bn3 = nn.BatchNorm3d(hidden)
        self.project = Pointwise(hidden, c_out)
        self.bn4 = nn.BatchNorm3d(c_out)
        nn.init.zeros_(self.bn4.weight)  # each block starts as its shortcut ("zero-init residual")
        self.stride = int(stride)
        self.shortcut = Pointwise(c_in, c_out) if c_in != c_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.silu(self.bn1(self.expand(x)))
        y = F.silu(self.bn2(self.spatial(y)))
        y = F.silu(self.bn3(self.temporal(y)))
        y = self.bn4(self.project(y))
        s = x
        if self.stride > 1:
            s = F.avg_pool3d(s, (1, self.stride, self.stride), ceil_mode=True, count_include_pad=False)
        if self.shortcut is not None:
            s = self.shortcut(s)
        return s + y


class _ChannelContraction(torch.autograd.Function):
    """``out[b, n] = sum_c x[b, c, n] * weight[c, n]`` without a (B, C, N) temporary in either pass.

    The readout's per-neuron feature weighting; ``(x * weight).sum(1)`` makes two full-size temporaries
    (forward and backward), which on a CPU costs more time than sampling the features.
    """

    @staticmethod
    def forward(ctx, x, weight):  # x (B, C, N), weight (C, N), both contiguous (else grad_x is strided)
        ctx.save_for_backward(x, weight)
        out = x[:, 0] * weight[0]
        for c in range(1, x.shape[1]):
            out.addcmul_(x[:, c], weight[c])
        return out

    @staticmethod
    def backward(ctx, grad):
        x, weight = ctx.saved_tensors
        grad_x = grad_weight = None
        if ctx.needs_input_grad[0]:
            grad_x = grad[:, None, :] * weight[None]
        if ctx.needs_input_grad[1]:
            grad_weight = torch.stack([(grad * x[:, c]).sum(0) for c in range(x.shape[1])])
        return grad_x, grad_weight


class _GaussianReadout(nn.Module):
    """Per-neuron position on the feature map (bilinear sample) x feature weights + bias."""

    def __init__(self, n_neurons: int, channels: int, position_noise: float, init_range: float = 0.6):
        super().__init__()
        self.mu = nn.Parameter(torch.empty(n_neurons, 2).uniform_(-init_range, init_range))
        self.sigma = nn.Parameter(torch.full((n_neurons, 1), float(position_noise)))
        self.features = nn.Parameter(torch.randn(n_neurons, channels) / channels)
        self.bias = nn.Parameter(torch.zeros(n_neurons))
        self.position_noise = float(position_noise)

    @torch.no_grad()
    def init_positions(self, positions: torch.Tensor) -> None:
        """Start the positions (N, 2), (x, y) in [-1, 1], e.g. at data-driven estimates."""
        self.mu.copy_(positions.to(self.mu).clamp(-1, 1))

    def positions(self) -> torch.Tensor:
        """Mean positions (N, 2) as (x, y) in [-1, 1] (grid_sample's convention, align_corners=False)."""
        return self.mu.clamp(-1, 1)

    def forward(self, feat: torch.Tensor, n_frames: int, shift: torch.Tensor | None) -> torch.Tensor:
        bt, c, h, w = feat.shape
        b = bt // n_frames
        grid = self.positions()[None, None]  # (1, 1, N, 2)
        if self.training and self.position_noise > 0:
            grid = grid + self.sigma.abs() * torch.randn(b, 1, grid.shape[2], 2, device=feat.device, dtype=feat.dtype)
        if shift is not None:
            grid = grid + shift.reshape(b, n_frames, 1, 2)
        grid = grid.expand(b, n_frames, -1, -1).reshape(bt, 1, -1, 2)
        sampled = F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)
        sampled = sampled.view(bt, c, -1)  # a view: indexing [:, :, 0] would zero-fill a full-size gradient
        return _ChannelContraction.apply(sampled, self.features.T.contiguous()) + self.bias


class _LinearReadout(nn.Module):
    """Factorised linear readout: per-neuron spatial mask (h, w) x feature weights (C) + bias."""

    def __init__(self, n_neurons: int, channels: int, height: int, width: int):
        super().__init__()
        self.mask = nn.Parameter(torch.randn(n_neurons, height * width) / (height * width))
        self.features = nn.Parameter(torch.randn(n_neurons, channels) / math.sqrt(channels))
        self.bias = nn.Parameter(torch.zeros(n_neurons))
        self.map_shape = (height, width)

    @torch.no_grad()
    def init_positions(self, positions: torch.Tensor, width: float = 1.0) -> None:
        """Start every mask as a Gaussian bump (SD ``width`` cells, sum 1) at ``positions`` (N, 2) in [-1, 1]."""
        h, w = self.map_shape
        ys = (torch.arange(h, device=self.mask.device) + 0.5) / h * 2 - 1
        xs = (torch.arange(w, device=self.mask.device) + 0.5) / w * 2 - 1
        p = positions.to(self.mask)
        d2 = ((xs[None, None, :] - p[:, 0, None, None]) * w / 2) ** 2 + (
            (ys[None, :, None] - p[:, 1, None, None]) * h / 2
        ) ** 2
        bump = torch.exp(-d2 / (2 * width**2)).reshape(len(p), -1)
        self.mask.copy_(bump / bump.sum(1, keepdim=True))

    def forward(self, feat: torch.Tensor, n_frames: int, shift: torch.Tensor | None) -> torch.Tensor:
        bt, c, h, w = feat.shape
        if shift is not None:  # translate the whole map: every neuron reads from position + shift
            theta = torch.zeros(bt, 2, 3, device=feat.device, dtype=feat.dtype)
            theta[:, 0, 0] = 1
            theta[:, 1, 1] = 1
            theta[:, :, 2] = shift.reshape(bt, 2)
            grid = F.affine_grid(theta, (bt, c, h, w), align_corners=False)
            feat = F.grid_sample(feat, grid, mode="bilinear", padding_mode="border", align_corners=False)
        pooled = feat.reshape(bt, c, h * w) @ self.mask.T  # (BT, C, N)
        return _ChannelContraction.apply(pooled, self.features.T.contiguous()) + self.bias


def _block_strides(n_blocks: int, downsample: int) -> list[int]:
    """Stride of every block: the stem halves the frame once (downsample >= 2), the first blocks the rest."""
    extra = max(int(round(math.log2(downsample))) - 1, 0)
    return [2 if i < extra else 1 for i in range(n_blocks)]


class DNEMNetwork(nn.Module):
    """The DNEM network: causal (2+1)D depth-wise core, per-neuron readout, shifter, modulator, softplus.

    Follows the encoding-model protocol: ``forward(video, behavior,
    pupil_center) -> rates`` with ``video`` (B, T, H, W) in 0-255 pixel units,
    ``behavior`` (B, T, 2), ``pupil_center`` (B, T, 2) and rates (B, T, N) > 0,
    one per input frame; the rate at frame t depends on frames ``<= t`` only
    (exactly, in eval mode; in train mode batch normalisation uses the
    statistics of the whole batch). Inputs are normalised inside the module
    with the buffers ``video_mean``/``video_std`` (scalars),
    ``behavior_mean``/``behavior_std`` and ``pupil_mean``/``pupil_std`` (2,),
    set from the training data by :meth:`set_input_statistics`.

    Core: the frame and (``behavior_channels``) the 4 normalised behaviour and
    pupil values as constant channels -> stem (``stem_kernel`` spatial
    convolution to ``stem_channels``, stride 2 when ``downsample >= 2``;
    causal depth-wise temporal convolution) -> ``n_blocks`` inverted residual
    blocks (1x1x1 expansion by ``expansion``, depth-wise spatial
    ``spatial_kernel`` convolution -- stride 2 in the first blocks until the
    frame is down-sampled by ``downsample`` --, depth-wise causal temporal
    ``temporal_kernel`` convolution, 1x1x1 projection to ``core_channels``;
    batch normalisation, SiLU, residual shortcut). Features live as
    ``(B, C, T, h, w)``.

    Parameters
    ----------
    n_neurons : int
        N, the number of output rates.
    frame_shape : tuple (H, W)
        Frame size in pixels.
    core_channels : int, default 32
        Channels of every core block's output (the readout's features).
    n_blocks : int, default 4
        Core blocks.
    expansion : int, default 2
        Channel expansion inside a block.
    stem_channels : int or None, default None
        Channels of the stem; None: ``core_channels // 2``.
    spatial_kernel, temporal_kernel, stem_kernel : int, default 3, 5, 7
        Depth-wise spatial kernel of a block, causal temporal kernel (stem and
        blocks), spatial kernel of the stem.
    downsample : {1, 2, 4, 8}, default 4
        Spatial down-sampling of the core's output (needs
        ``log2(downsample) - 1`` blocks).
    readout : {"gaussian", "linear"}, default "gaussian"
    shifter, modulator : bool, default True
        Pupil-centre shifter of the readout positions; behaviour gain of
        every neuron.
    position_noise : float, default 0.1
        Initial standard deviation (learned per neuron) of the Gaussian
        readout's position noise while training, in units of half the screen.
    behavior_channels : bool, default True
        Feed the normalised behaviour and pupil centre to the core as 4
        extra channels (constant over the screen).

    Attributes
    ----------
    temporal_receptive_field : int
        Frames of history (the current one included) that an output depends
        on: ``1 + (temporal_kernel - 1) * (n_blocks + 1)``.
    feature_shape : tuple (h, w)
        Size of the core's feature map.
    config : dict
        The constructor arguments (``DNEMNetwork(**config)`` rebuilds it).

    Notes
    -----
    To optimise the input (movie reconstruction) put the module in eval mode
    and freeze its parameters (``requires_grad_(False)``) so that backward
    computes the input's gradient only. With the defaults and thousands of
    neurons most of the cost of a forward + backward pass is the readout, whose
    cost grows with ``n_neurons x core_channels`` per frame.
    """

    def __init__(
        self,
        n_neurons: int,
        frame_shape: tuple[int, int],
        *,
        core_channels: int = 32,
        n_blocks: int = 4,
        expansion: int = 2,
        stem_channels: int | None = None,
        spatial_kernel: int = 3,
        temporal_kernel: int = 5,
        stem_kernel: int = 7,
        downsample: int = 4,
        readout: str = "gaussian",
        shifter: bool = True,
        modulator: bool = True,
        position_noise: float = 0.1,
        behavior_channels: bool = True,
    ):
        super().__init__()
        if readout not in READOUTS:
            raise InputError(f"readout: got {readout!r}, expected one of {', '.join(READOUTS)}")
        if downsample not in (1, 2, 4, 8):
            raise InputError(f"downsample: got {downsample!r}, expected 1, 2, 4 or 8")
        strides = _block_strides(int(n_blocks), int(downsample))
        if int(downsample) > 2 * 2 ** sum(s == 2 for s in strides):
            raise InputError(
                f"n_blocks: got {n_blocks}, expected at least {int(math.log2(downsample)) - 1} for "
                f"downsample={downsample}"
            )
        height, width = (int(s) for s in frame_shape)
        c = int(core_channels)
        c0 = max(1, c // 2) if stem_channels is None else int(stem_channels)
        self.config = dict(
            n_neurons=int(n_neurons),
            frame_shape=(height, width),
            core_channels=c,
            n_blocks=int(n_blocks),
            expansion=int(expansion),
            stem_channels=c0,
            spatial_kernel=int(spatial_kernel),
            temporal_kernel=int(temporal_kernel),
            stem_kernel=int(stem_kernel),
            downsample=int(downsample),
            readout=readout,
            shifter=bool(shifter),
            modulator=bool(modulator),
            position_noise=float(position_noise),
            behavior_channels=bool(behavior_channels),
        )
        self.n_neurons, self.frame_shape = int(n_neurons), (height, width)
        self.register_buffer("video_mean", torch.tensor(0.0))
        self.register_buffer("video_std", torch.tensor(1.0))
        self.register_buffer("behavior_mean", torch.zeros(2))
        self.register_buffer("behavior_std", torch.ones(2))
        self.register_buffer("pupil_mean", torch.zeros(2))
        self.register_buffer("pupil_std", torch.ones(2))
        self.behavior_channels = bool(behavior_channels)
        stem_stride = 2 if downsample >= 2 else 1
        self.stem = nn.Conv3d(
            5 if self.behavior_channels else 1,
            c0,
            (1, stem_kernel, stem_kernel),
            stride=(1, stem_stride, stem_stride),
            padding=(0, stem_kernel // 2, stem_kernel // 2),
            bias=False,
        )
        self.stem_bn = nn.BatchNorm3d(c0)
        self.stem_temporal = CausalDepthwiseTemporal(c0, temporal_kernel)
        self.stem_bn2 = nn.BatchNorm3d(c0)
        self.blocks = nn.ModuleList(
            _Block(c0 if i == 0 else c, c, int(expansion), s, int(spatial_kernel), int(temporal_kernel))
            for i, s in enumerate(strides)
        )
        h, w = height, width
        for s in [stem_stride] + strides:
            h, w = -(-h // s), -(-w // s)
        self.feature_shape = (h, w)
        c_out = c if strides else c0
        if readout == "gaussian":
            self.readout = _GaussianReadout(int(n_neurons), c_out, float(position_noise))
        else:
            self.readout = _LinearReadout(int(n_neurons), c_out, h, w)
        # zero last layers: the shifter starts as "no shift", the modulator as "gain 1"
        self.shifter = mlp(2, 8, 2, nn.Tanh, zero_last=True) if shifter else None
        self.modulator = mlp(2, 16, int(n_neurons), nn.SiLU, zero_last=True) if modulator else None
        self.temporal_receptive_field = 1 + (int(temporal_kernel) - 1) * (1 + int(n_blocks))

    @torch.no_grad()
    def set_input_statistics(
        self, video_mean: float, video_std: float, behavior_mean, behavior_std, pupil_mean, pupil_std, mean_rates=None
    ) -> None:
        """Store the normalisation of the inputs (and start each neuron's bias at its mean rate)."""

        def vec(v):
            return torch.as_tensor(np.asarray(v, dtype=np.float32)).to(self.video_mean.device)

        self.video_mean.fill_(float(video_mean))
        self.video_std.fill_(max(float(video_std), 1e-6))
        self.behavior_mean.copy_(vec(behavior_mean))
        self.behavior_std.copy_(vec(np.maximum(behavior_std, 1e-6)))
        self.pupil_mean.copy_(vec(pupil_mean))
        self.pupil_std.copy_(vec(np.maximum(pupil_std, 1e-6)))
        if mean_rates is not None:  # softplus(bias) = mean rate (the readout's drive starts near 0)
            r = np.maximum(np.asarray(mean_rates, dtype=np.float64), 1e-3)
            self.readout.bias.copy_(vec(np.where(r > 20, r, np.log(np.expm1(np.minimum(r, 20))))))

    def _normalised_inputs(self, video, behavior, pupil_center):
        if video.ndim != 4:
            raise InputError(f"video: has shape {tuple(video.shape)}, expected (B, T, H, W)")
        b, t = video.shape[:2]
        if tuple(video.shape[2:]) != self.frame_shape:
            raise InputError(f"video: has frames {tuple(video.shape[2:])}, expected {self.frame_shape} (as in fit)")
        if behavior is None:
            beh = video.new_zeros(b, t, 2)
        else:
            if tuple(behavior.shape) != (b, t, 2):
                raise InputError(f"behavior: has shape {tuple(behavior.shape)}, expected {(b, t, 2)}")
            beh = (behavior.to(video.dtype) - self.behavior_mean) / self.behavior_std
        if pupil_center is None:
            pup = video.new_zeros(b, t, 2)
        else:
            if tuple(pupil_center.shape) != (b, t, 2):
                raise InputError(f"pupil_center: has shape {tuple(pupil_center.shape)}, expected {(b, t, 2)}")
            pup = (pupil_center.to(video.dtype) - self.pupil_mean) / self.pupil_std
        return (video - self.video_mean) / self.video_std, beh, pup

    def core(
        self, video: torch.Tensor, behavior: torch.Tensor | None = None, pupil_center: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Core features ``(B, C, T, h, w)`` of raw inputs (normalised as in :meth:`forward`)."""
        return self._core(*self._normalised_inputs(video, behavior, pupil_center))

    def _core(self, x, beh, pup):
        b, t, h, w = x.shape
        x = x[:, None]
        if self.behavior_channels:
            extra = torch.cat([beh, pup], -1).transpose(1, 2)[..., None, None].expand(-1, -1, -1, h, w)
            x = torch.cat([x, extra], 1)
        x = F.silu(self.stem_bn(self.stem(x)))
        x = F.silu(self.stem_bn2(self.stem_temporal(x)))
        for block in self.blocks:
            x = block(x)
        return x

    def forward(
        self,
        video: torch.Tensor,
        behavior: torch.Tensor | None = None,
        pupil_center: torch.Tensor | None = None,
        *,
        output_from: int = 0,
    ) -> torch.Tensor:
        """Rates (B, T, N) > 0 for ``video`` (B, T, H, W, 0-255), ``behavior`` and ``pupil_center`` (B, T, 2).

        ``behavior`` or ``pupil_center`` None: their training means.
        ``output_from``: return only frames ``>= output_from`` (B, T - output_from, N), skipping the
        readout of the others (training scores only frames with a full history).
        """
        x, beh, pup = self._normalised_inputs(video, behavior, pupil_center)
        feat = self._core(x, beh, pup)[:, :, output_from:]  # (B, C, T', h, w) -> (B * T', C, h, w)
        beh, pup = beh[:, output_from:], pup[:, output_from:]
        b, c, t = feat.shape[:3]
        feat = feat.transpose(1, 2).reshape(b * t, c, *feat.shape[3:])
        shift = self.shifter(pup) if self.shifter is not None else None
        drive = self.readout(feat, t, shift).reshape(b, t, self.n_neurons)
        rates = F.softplus(drive)
        if self.modulator is not None:
            rates = rates * (F.elu(self.modulator(beh)) + 1)
        return rates + _RATE_FLOOR


class EnsembleModule(nn.Module):
    """Average of the rates of several encoding modules (follows the same protocol).

    Parameters
    ----------
    members : sequence of torch.nn.Module
        Each ``member(video, behavior, pupil_center) -> rates (B, T, N)``, the same N.

    Examples
    --------
    >>> import torch
    >>> members = [DNEMNetwork(5, (18, 32), core_channels=8, n_blocks=1) for _ in range(2)]
    >>> ensemble = EnsembleModule(members).eval()
    >>> ensemble(torch.full((1, 4, 18, 32), 128.0), torch.zeros(1, 4, 2), torch.zeros(1, 4, 2)).shape
    torch.Size([1, 4, 5])
    """

    def __init__(self, members):
        super().__init__()
        self.members = nn.ModuleList(members)
        if len(self.members) == 0:
            raise InputError("members: is empty; expected at least one encoding module")
        self.temporal_receptive_field = max(getattr(m, "temporal_receptive_field", 1) for m in self.members)
        first = self.members[0]
        for name in ("video_mean", "behavior_mean", "pupil_mean"):  # for RF mapping and reconstruction defaults
            if hasattr(first, name):
                self.register_buffer(name, getattr(first, name).detach().clone())

    def forward(self, video, behavior=None, pupil_center=None, **kwargs):
        """Mean over members of their rates (B, T, N); ``kwargs`` (e.g. ``output_from``) go to every member."""
        out = self.members[0](video, behavior, pupil_center, **kwargs)
        for m in self.members[1:]:
            out = out + m(video, behavior, pupil_center, **kwargs)
        return out / len(self.members)


# ====================================================================== #
# trials (duck-typed)
# ====================================================================== #
class _TrialInfo(NamedTuple):
    n_frames: list[int]
    frame_shape: tuple[int, int]
    n_neurons: int


def _trial_arrays(trial, where: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    out = []
    for attr, ndim, expect in (
        ("video", 3, "(T, H, W)"),
        ("responses", 2, "(T, N)"),
        ("behavior", 2, "(T, 2)"),
        ("pupil_center", 2, "(T, 2)"),
    ):
        if not hasattr(trial, attr):
            raise InputError(
                f"{where}: has no attribute {attr!r}; expected a trial with video (T, H, W), "
                f"responses (T, N), behavior (T, 2) and pupil_center (T, 2)"
            )
        try:
            arr = np.asarray(getattr(trial, attr), dtype=np.float32)
        except (TypeError, ValueError):
            raise InputError(f"{where}.{attr}: is not numeric; expected a float array {expect}") from None
        if arr.ndim != ndim or (attr in ("behavior", "pupil_center") and arr.shape[1] != 2):
            raise InputError(f"{where}.{attr}: has shape {arr.shape}, expected {expect}")
        out.append(arr)
    video, responses, behavior, pupil = out
    lengths = {len(a) for a in out}
    if len(lengths) != 1:
        raise InputError(
            f"{where}: video, responses, behavior and pupil_center have {video.shape[0]}, "
            f"{responses.shape[0]}, {behavior.shape[0]} and {pupil.shape[0]} frames; expected "
            f"the same number (time first)"
        )
    return video, responses, behavior, pupil


def _check_length(trials, name: str) -> int:
    try:
        n = len(trials)
    except TypeError:
        raise InputError(f"{name}: got {type(trials).__name__}, expected a sequence of trials") from None
    if n == 0:
        raise InputError(f"{name}: is empty; expected at least one trial")
    return n


class _Stats:
    """Streaming sums for the input normalisation (float64)."""

    def __init__(self):
        self.n_frames = 0
        self.video_sum = self.video_sq = 0.0
        self.n_pixels = 0
        self.beh = np.zeros((2, 2))
        self.pup = np.zeros((2, 2))
        self.resp = None

    def add(self, video, responses, behavior, pupil):
        self.n_frames += len(video)
        self.n_pixels += video.size
        v = video.astype(np.float64)
        self.video_sum += v.sum()
        self.video_sq += (v * v).sum()
        self.beh += np.stack([behavior.sum(0, dtype=np.float64), (behavior.astype(np.float64) ** 2).sum(0)])
        self.pup += np.stack([pupil.sum(0, dtype=np.float64), (pupil.astype(np.float64) ** 2).sum(0)])
        r = responses.sum(0, dtype=np.float64)
        self.resp = r if self.resp is None else self.resp + r

    @staticmethod
    def _mean_std(s1, s2, n):
        mean = s1 / n
        return mean, np.sqrt(np.maximum(s2 / n - mean**2, 0.0))

    def result(self):
        vm, vs = self._mean_std(self.video_sum, self.video_sq, self.n_pixels)
        bm, bs = self._mean_std(self.beh[0], self.beh[1], self.n_frames)
        pm, ps = self._mean_std(self.pup[0], self.pup[1], self.n_frames)
        bs = np.where(bs > 1e-6, bs, 1.0)
        ps = np.where(ps > 1e-6, ps, 1.0)
        return dict(
            video_mean=float(vm),
            video_std=float(vs) if vs > 1e-6 else 1.0,
            behavior_mean=bm,
            behavior_std=bs,
            pupil_mean=pm,
            pupil_std=ps,
            mean_rates=self.resp / self.n_frames,
        )


def _scan_trials(trials, name: str, info: _TrialInfo | None, stats: _Stats | None, digest) -> _TrialInfo:
    """One pass over ``trials``: check shapes (against ``info`` when given), finiteness; add stats and hash."""
    n = _check_length(trials, name)
    lengths = []
    for i in range(n):
        where = f"{name}[{i}]"
        video, responses, behavior, pupil = _trial_arrays(trials[i], where)
        if info is None:
            info = _TrialInfo([], (video.shape[1], video.shape[2]), responses.shape[1])
        if video.shape[1:] != info.frame_shape:
            raise InputError(
                f"{where}.video: has frames {video.shape[1:]}, expected {info.frame_shape} (as "
                f"the first training trial)"
            )
        if responses.shape[1] != info.n_neurons:
            raise InputError(
                f"{where}.responses: has {responses.shape[1]} neurons, expected {info.n_neurons} "
                f"(as the first training trial)"
            )
        for attr, arr in (("video", video), ("responses", responses), ("behavior", behavior), ("pupil_center", pupil)):
            if not np.isfinite(arr).all():
                raise InputError(
                    f"{where}.{attr}: has NaN or infinite values; expected finite values (trim "
                    f"NaN-padded frames before fitting)"
                )
        if stats is not None:
            stats.add(video, responses, behavior, pupil)
        if digest is not None:
            digest.append(data_fingerprint(video, responses, behavior, pupil))
        lengths.append(video.shape[0])
    return _TrialInfo(lengths, info.frame_shape, info.n_neurons)


def _data_positions(
    trials,
    n_trials: int,
    feature_shape: tuple[int, int],
    n_neurons: int,
    lags: int = 6,
) -> np.ndarray:
    """Data-driven start of every neuron's readout position: peak of its lagged stimulus correlation map.

    For every frame the deviation from the trial's mean grey level and its square (local contrast
    energy) are averaged over the cells of the core's feature map and summed over the last ``lags``
    frames; each neuron's responses are correlated with both maps. The position is the peak of
    ``|corr(linear)| / sd + |corr(energy)| / sd`` (SDs over the cells), refined to the centroid of its
    3 x 3 neighbourhood: the linear map finds simple (on/off, Gabor) cells, the energy map complex
    cells as well. Returns (N, 2) as (x, y) in [-1, 1] (``grid_sample``, ``align_corners=False``).
    """
    h, w = feature_shape
    cells = h * w
    sums = {
        "x": torch.zeros(2, cells, dtype=torch.float64),
        "xx": torch.zeros(2, cells, dtype=torch.float64),
        "r": torch.zeros(n_neurons, dtype=torch.float64),
        "rr": torch.zeros(n_neurons, dtype=torch.float64),
        "xr": torch.zeros(2, cells, n_neurons, dtype=torch.float64),
    }
    count = 0
    for i in range(n_trials):
        video, responses, _, _ = _trial_arrays(trials[i], f"train_trials[{i}]")
        if len(video) < lags:
            continue
        d = torch.from_numpy(video - video.mean())[:, None]
        maps = torch.cat([F.adaptive_avg_pool2d(d, (h, w)), F.adaptive_avg_pool2d(d * d, (h, w))], 1)
        maps = maps.reshape(len(video), 2, cells).cumsum(0, dtype=torch.float64)
        lagged = maps[lags - 1 :] - torch.cat([maps.new_zeros(1, 2, cells), maps[:-lags]])  # sum of the last lags
        r = torch.from_numpy(responses[lags - 1 :]).double()
        sums["x"] += lagged.sum(0)
        sums["xx"] += (lagged * lagged).sum(0)
        sums["r"] += r.sum(0)
        sums["rr"] += (r * r).sum(0)
        sums["xr"] += torch.einsum("tkc,tn->kcn", lagged.float(), r.float()).double()
        count += len(r)
    if count < 2:
        return np.zeros((n_neurons, 2))
    mx, mr = sums["x"] / count, sums["r"] / count
    sx = (sums["xx"] / count - mx**2).clamp_min(1e-12).sqrt()
    sr = (sums["rr"] / count - mr**2).clamp_min(1e-12).sqrt()
    corr = (sums["xr"] / count - mx[..., None] * mr) / (sx[..., None] * sr)  # (2, cells, N)
    score = (corr.abs() / corr.std(1, keepdim=True).clamp_min(1e-12)).sum(0).T.reshape(n_neurons, 1, h, w)
    peak = score.reshape(n_neurons, -1).argmax(1)
    py, px = (peak // w).double(), (peak % w).double()
    padded = F.pad(score, (1, 1, 1, 1), mode="replicate")[:, 0]
    rows = (py.long()[:, None] + torch.arange(3)).clamp(0, h + 1)
    cols = (px.long()[:, None] + torch.arange(3)).clamp(0, w + 1)
    patch = padded[torch.arange(n_neurons)[:, None, None], rows[:, :, None], cols[:, None, :]]  # (N, 3, 3)
    patch = (patch - patch.amin((1, 2), keepdim=True)).clamp_min(0)
    mass = patch.sum((1, 2)).clamp_min(1e-12)
    offset = torch.arange(3, dtype=torch.float64) - 1
    py = py + (patch.sum(2) * offset).sum(1) / mass
    px = px + (patch.sum(1) * offset).sum(1) / mass
    positions = torch.stack([(px + 0.5) / w * 2 - 1, (py + 0.5) / h * 2 - 1], 1)
    return positions.clamp(-1, 1).numpy()


def _check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or value < 0 or (value == 0 and not allow_zero):
        raise InputError(f"{name}: got {value!r}, expected a {'non-negative' if allow_zero else 'positive'} number")
    return float(value)


# ====================================================================== #
# estimator
# ====================================================================== #
class DNEM(RegressorMixin, TorchEstimator):
    """Dynamic neural encoding model: trains a :class:`DNEMNetwork` on trials of video, behaviour and responses.

    Training draws random clips of ``clip_length`` frames from the training
    trials (each trial contributes about ``(T - burn_in) / (clip_length -
    burn_in)`` clips per epoch), runs the network over each clip and scores
    its frames ``>= burn_in`` (those whose history lies inside the clip) with
    the Poisson loss ``rate - response * log(rate)``. AdamW with a linear
    learning-rate warm-up over ``warmup_epochs`` and a cosine decay to
    ``lr / 100`` at ``epochs``; after every epoch the model predicts every
    validation trial in one causal pass and records the Poisson loss and the
    single-trial correlation of frames ``>= burn_in``; early stopping watches
    the validation loss and the best epoch's weights are kept.

    Parameters
    ----------
    core_channels : int, default 32
        Width of the core.
    n_blocks : int, default 4
        Depth of the core (inverted residual (2+1)D blocks).
    expansion : int, default 2
        Channel expansion inside a block.
    temporal_kernel : int, default 5
        Causal temporal kernel of the stem and of every block; the temporal
        receptive field is ``1 + (temporal_kernel - 1) * (n_blocks + 1)``
        frames (21 by default, 0.7 s at 30 Hz).
    downsample : {1, 2, 4, 8}, default 4
        Spatial down-sampling of the core's feature map (36 x 64 frames ->
        9 x 16 features by default).
    readout : {"gaussian", "linear"}, default "gaussian"
        Per-neuron readout (see :class:`DNEMNetwork`).
    shifter, modulator : bool, default True
        Pupil-centre shifter; behaviour gain per neuron.
    position_noise : float, default 0.1
        Initial position noise of the Gaussian readout while training.
    position_init : {"data", "random"}, default "data"
        Start of the readout positions (Gaussian) or spatial masks (linear):
        ``"data"``, at the peak of each neuron's correlation with the recent
        local luminance and contrast of the training videos (one pass over
        the training trials; finds every neuron's receptive field in a few
        seconds, where learning it from a random start takes many epochs);
        ``"random"``, uniform in the central 60 % of the screen
        (neuralpredictors' default).
    epochs : int, default 10
        Epoch limit (the cosine schedule ends there).
    batch_size : int, default 8
        Clips per optimiser step.
    clip_length : int, default 64
        Frames per random training clip.
    burn_in : int or None, default None
        Frames at the start of a clip (or of a trial, for validation) left out
        of the loss; None: the temporal receptive field minus one (20 by
        default), the frames whose history is incomplete.
    lr : float, default 1e-2
        Peak learning rate of AdamW (on the simulated mouse 1e-2 beats 3e-3
        clearly within the 10-epoch budget).
    weight_decay : float, default 0.01
        AdamW's decoupled weight decay of the convolution kernels and readout
        weights (not of biases, normalisation, positions or noise scales).
    warmup_epochs : float, default 1
        Linear learning-rate warm-up from 0 (in epochs; fractions allowed).
    patience : int, default 5
        Epochs without a lower validation loss before stopping.
    min_delta : float, default 0
        Least decrease of the validation loss that counts as improvement.
    random_state : int or None
        Seed of the weights, the clips and the readout noise: the same seed
        gives the same weights on CPU.
    device : str, default "auto"
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda[:i]"``.
    checkpoint_dir : path or None
        Save the training state after every epoch; a later fit with the same
        hyper-parameters and data resumes from it, bit for bit on CPU.
    verbose : bool, default False
        Print one line per epoch (losses, validation correlation, time).

    Attributes
    ----------
    module_ : DNEMNetwork
        The trained network (eval mode, on ``device``), following the
        encoding-model protocol.
    history_ : dict of str to list of float
        ``"loss"`` (training Poisson loss), ``"val_loss"``, ``"val_correlation"``
        (mean single-trial correlation of the validation trials) and ``"lr"``,
        one value per epoch.
    best_epoch_, n_epochs_ : int
    stopped_early_ : bool
    n_neurons_ : int
    frame_shape_ : tuple (H, W)
    burn_in_ : int
    fit_time_ : float
        Seconds spent in :meth:`fit`.

    Notes
    -----
    ``train_trials`` and ``validation_trials`` are sequences indexed one trial
    at a time: one pass checks every trial's shapes and values and gathers
    the input statistics (and hashes the data when ``checkpoint_dir`` is
    set), a second estimates the readout positions (``position_init="data"``),
    and every training clip and every validation indexes its trial again. A
    lazy sequence (a reader that loads each trial from disk) is therefore
    read on demand and never copied whole; wrap it in a ``list`` to keep
    everything in memory when it fits.

    The defaults are sized for a CPU: on the simulated mouse of
    :func:`neurocine.v1.simulate.simulate_v1` (8000 neurons, 240 training
    trials of 150 frames at 36 x 64) a default fit reaches 0.78 of the
    simulator's ceiling correlation on the held-out test clips (0.255 vs 0.325). On a GPU, wider
    and deeper cores (``core_channels`` 64-128, ``n_blocks`` 6-8,
    ``downsample=2``) and more epochs are affordable.

    Examples
    --------
    >>> import numpy as np
    >>> from types import SimpleNamespace
    >>> rng = np.random.default_rng(0)
    >>> def trial():
    ...     video = rng.uniform(0, 255, (40, 18, 32)).astype(np.float32)
    ...     rates = 0.5 + video[:, 9, 10:13].mean(1, keepdims=True) / 100 * np.ones((1, 5))
    ...     return SimpleNamespace(video=video, responses=rng.poisson(rates).astype(np.float32),
    ...                            behavior=rng.normal(size=(40, 2)), pupil_center=rng.normal(size=(40, 2)))
    >>> trials = [trial() for _ in range(6)]
    >>> model = DNEM(core_channels=8, n_blocks=1, epochs=2, clip_length=20, random_state=0, device="cpu")
    >>> model = model.fit(trials[:4], trials[4:])
    >>> model.predict(trials[5].video, trials[5].behavior, trials[5].pupil_center).shape
    (40, 5)
    >>> [rates.shape for rates in model.predict(trials[4:])]
    [(40, 5), (40, 5)]
    """

    _fitted_attr = "module_"
    _epochs_param = "epochs"
    _fingerprint_exclude = ("checkpoint_dir", "device", "verbose")  # epochs set the cosine schedule: kept
    _fit_call = "fit(train_trials, validation_trials) or DNEM.load(path)"

    def __init__(
        self,
        core_channels: int = 32,
        n_blocks: int = 4,
        *,
        expansion: int = 2,
        temporal_kernel: int = 5,
        downsample: int = 4,
        readout: str = "gaussian",
        shifter: bool = True,
        modulator: bool = True,
        position_noise: float = 0.1,
        position_init: str = "data",
        epochs: int = 10,
        batch_size: int = 8,
        clip_length: int = 64,
        burn_in: int | None = None,
        lr: float = 1e-2,
        weight_decay: float = 0.01,
        warmup_epochs: float = 1,
        patience: int = 5,
        min_delta: float = 0.0,
        random_state: int | None = None,
        device: str = "auto",
        checkpoint_dir=None,
        verbose: bool = False,
    ):
        self.core_channels = core_channels
        self.n_blocks = n_blocks
        self.expansion = expansion
        self.temporal_kernel = temporal_kernel
        self.downsample = downsample
        self.readout = readout
        self.shifter = shifter
        self.modulator = modulator
        self.position_noise = position_noise
        self.position_init = position_init
        self.epochs = epochs
        self.batch_size = batch_size
        self.clip_length = clip_length
        self.burn_in = burn_in
        self.lr = lr
        self.weight_decay = weight_decay
        self.warmup_epochs = warmup_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.random_state = random_state
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.verbose = verbose

    # ------------------------------------------------------------------ #
    def _check_params(self) -> None:
        for name in (
            "core_channels",
            "n_blocks",
            "expansion",
            "temporal_kernel",
            "epochs",
            "batch_size",
            "clip_length",
            "patience",
        ):
            check_int(name, getattr(self, name))
        if self.readout not in READOUTS:
            raise InputError(f"readout: got {self.readout!r}, expected one of {', '.join(READOUTS)}")
        if self.downsample not in (1, 2, 4, 8) or isinstance(self.downsample, bool):
            raise InputError(f"downsample: got {self.downsample!r}, expected 1, 2, 4 or 8")
        if self.burn_in is not None:
            check_int("burn_in", self.burn_in, minimum=0)
        _check_positive("lr", self.lr)
        _check_positive("weight_decay", self.weight_decay, allow_zero=True)
        _check_positive("warmup_epochs", self.warmup_epochs, allow_zero=True)
        _check_positive("min_delta", self.min_delta, allow_zero=True)
        _check_positive("position_noise", self.position_noise, allow_zero=True)
        if self.position_init not in ("data", "random"):
            raise InputError(f"position_init: got {self.position_init!r}, expected 'data' or 'random'")

    def _network_config(self, n_neurons: int, frame_shape) -> dict:
        return dict(
            n_neurons=n_neurons,
            frame_shape=tuple(frame_shape),
            core_channels=int(self.core_channels),
            n_blocks=int(self.n_blocks),
            expansion=int(self.expansion),
            temporal_kernel=int(self.temporal_kernel),
            downsample=int(self.downsample),
            readout=self.readout,
            shifter=bool(self.shifter),
            modulator=bool(self.modulator),
            position_noise=float(self.position_noise),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # trials (video, responses, behaviour, pupil centre), not a matrix
        tags.target_tags.required = False  # the second argument of fit is the (optional) validation trials
        tags.regressor_tags.poor_score = True
        return tags

    # ------------------------------------------------------------------ #
    def fit(self, train_trials: Sequence[Any], validation_trials: Sequence[Any] | None = None):
        """Train on ``train_trials``, validating (and stopping early) on ``validation_trials``.

        Parameters
        ----------
        train_trials : sequence of trials
            Each with ``video`` (T, H, W) in 0-255 pixel units, ``responses``
            (T, N), ``behavior`` (T, 2) and ``pupil_center`` (T, 2); all with the
            same H, W and N, and T >= ``clip_length``.
        validation_trials : sequence of trials or None
            Held-out trials (same H, W, N; any T). None: early stopping and the
            choice of the best epoch use the training loss, and
            ``history_["val_correlation"]`` is NaN.

        Returns
        -------
        self
        """
        started = time.perf_counter()
        self._check_params()
        self._forget_fit("history_")  # a failed refit leaves an unfitted model
        hashing = self.checkpoint_dir is not None
        stats = _Stats()
        train_digest = [] if hashing else None
        info = _scan_trials(train_trials, "train_trials", None, stats, train_digest)
        val_info, val_digest = None, [] if hashing else None
        if validation_trials is not None:
            val_info = _scan_trials(validation_trials, "validation_trials", info, None, val_digest)
        length = int(self.clip_length)
        short = [i for i, t in enumerate(info.n_frames) if t < length]
        if short:
            raise InputError(
                f"train_trials[{short[0]}]: has {info.n_frames[short[0]]} frames, expected at least "
                f"clip_length={length} ({len(short)} training trials are shorter)"
            )

        rng = self._seed()
        device = self._resolve_device()
        net = DNEMNetwork(**self._network_config(info.n_neurons, info.frame_shape))
        burn = net.temporal_receptive_field - 1 if self.burn_in is None else int(self.burn_in)
        if burn >= length:
            raise InputError(f"burn_in: got {burn}, expected fewer than clip_length={length} frames")
        net.set_input_statistics(**stats.result())
        if self.position_init == "data":
            positions = _data_positions(train_trials, len(info.n_frames), net.feature_shape, info.n_neurons)
            net.readout.init_positions(torch.from_numpy(positions).float())
        net = net.to(device)

        decay, no_decay = [], []
        for name, param in net.named_parameters():  # no decay of biases, norms, readout positions, noise scales
            plain = param.ndim < 2 or name in ("readout.mu", "readout.sigma")
            (no_decay if plain else decay).append(param)
        optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": float(self.weight_decay)}, {"params": no_decay, "weight_decay": 0.0}],
            lr=float(self.lr),
        )
        optimizer.param_groups[0]["step_count"] = 0

        clips_per_trial = [max(1, int(round((t - burn) / (length - burn)))) for t in info.n_frames]
        n_clips = sum(clips_per_trial)
        batch_size = int(self.batch_size)
        steps_per_epoch = -(-n_clips // batch_size)
        total_steps = steps_per_epoch * int(self.epochs)
        warmup_steps = float(self.warmup_epochs) * steps_per_epoch
        peak_lr, final_lr = float(self.lr), float(self.lr) / 100

        def lr_at(step: int) -> float:
            if step < warmup_steps:
                return peak_lr * (step + 1) / warmup_steps
            progress_ = min(1.0, (step - warmup_steps) / max(1.0, total_steps - warmup_steps))
            return final_lr + 0.5 * (peak_lr - final_lr) * (1 + math.cos(math.pi * progress_))

        trial_of_clip = np.repeat(np.arange(len(info.n_frames)), clips_per_trial)
        readout_mu = getattr(net.readout, "mu", None)
        last = {"loss": float("nan"), "time": time.perf_counter()}

        def train_epoch() -> float:
            order = rng.permutation(n_clips)
            starts = [int(rng.integers(0, info.n_frames[i] - length + 1)) for i in trial_of_clip[order]]
            total, count = torch.zeros((), device=device), 0
            for first in range(0, n_clips, batch_size):
                batch = [
                    (int(trial_of_clip[order[j]]), starts[j]) for j in range(first, min(first + batch_size, n_clips))
                ]
                arrays = [[], [], [], []]
                for i, s in batch:
                    video, responses, behavior, pupil = _trial_arrays(train_trials[i], f"train_trials[{i}]")
                    for store, arr in zip(arrays, (video, responses, behavior, pupil)):
                        store.append(arr[s : s + length])
                video, responses, behavior, pupil = (to_tensor(np.stack(a), device) for a in arrays)
                step = optimizer.param_groups[0]["step_count"]
                for group in optimizer.param_groups:
                    group["lr"] = lr_at(step)
                rates = net(video, behavior, pupil, output_from=burn)
                loss = F.poisson_nll_loss(rates, responses[:, burn:], log_input=False, full=False, eps=1e-8)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                optimizer.param_groups[0]["step_count"] = step + 1
                if readout_mu is not None:
                    with torch.no_grad():
                        readout_mu.clamp_(-1, 1)
                total += loss.detach()
                count += 1
            last["loss"] = float(total) / count
            return last["loss"]

        def validate():
            lr_now = float(optimizer.param_groups[0]["lr"])
            if validation_trials is None:
                val_loss, val_corr = last["loss"], float("nan")
            else:
                loss_sum, n_frames, resp, pred = 0.0, 0, [], []
                for i in range(len(val_info.n_frames)):
                    video, responses, behavior, pupil = _trial_arrays(validation_trials[i], f"validation_trials[{i}]")
                    rates = self._run(net, video, behavior, pupil, device)
                    r = torch.from_numpy(responses[burn:])
                    p = torch.from_numpy(rates[burn:])
                    if len(r):
                        loss_sum += (
                            float(F.poisson_nll_loss(p, r, log_input=False, full=False, eps=1e-8, reduction="sum"))
                            / info.n_neurons
                        )
                        n_frames += len(r)
                        resp.append(responses)
                        pred.append(rates)
                if n_frames == 0:
                    raise InputError(
                        f"validation_trials: no trial is longer than burn_in={burn} frames; expected "
                        f"longer validation trials"
                    )
                val_loss = loss_sum / n_frames
                val_corr = float(np.mean(single_trial_correlation(resp, pred, skip=burn)))
            if self.verbose:
                epoch = optimizer.param_groups[0]["step_count"] // steps_per_epoch
                print(
                    f"DNEM epoch {epoch}/{self.epochs}: loss {last['loss']:.4f}  val_loss {val_loss:.4f}  "
                    f"val_correlation {val_corr:.4f}  lr {lr_now:.2e}  ({time.perf_counter() - last['time']:.1f} s)",
                    flush=True,
                )
                last["time"] = time.perf_counter()
            return val_loss, {"val_correlation": val_corr, "lr": lr_now}

        shapes = {
            "train": f"{len(info.n_frames)} trials, {sum(info.n_frames)} frames, {info.frame_shape}, "
            f"{info.n_neurons} neurons",
            "validation": "none"
            if val_info is None
            else f"{len(val_info.n_frames)} trials, {sum(val_info.n_frames)} frames",
        }

        def data_hash() -> str:
            return data_fingerprint(
                np.frombuffer("".join(train_digest + ["|"] + (val_digest or [])).encode(), np.uint8)
            )

        self._train(net, optimizer, train_epoch=train_epoch, validate=validate, rng=rng, shapes=shapes, data=data_hash)
        self.n_neurons_ = info.n_neurons
        self.frame_shape_ = info.frame_shape
        self.burn_in_ = burn
        self.fit_time_ = time.perf_counter() - started
        return self

    # ------------------------------------------------------------------ #
    @staticmethod
    @torch.no_grad()
    def _run(net: nn.Module, video: np.ndarray, behavior: np.ndarray, pupil: np.ndarray, device) -> np.ndarray:
        """Causal pass over one trial, in chunks of frames that overlap by the temporal receptive field."""
        net.eval()
        n = video.shape[0]
        history = getattr(net, "temporal_receptive_field", 1) - 1
        out = []
        for start in range(0, n, _PREDICT_CHUNK):
            lo = max(0, start - history)
            stop = min(n, start + _PREDICT_CHUNK)
            rates = net(
                to_tensor(video[None, lo:stop], device),
                to_tensor(behavior[None, lo:stop], device),
                to_tensor(pupil[None, lo:stop], device),
            )
            out.append(rates[0, start - lo :].cpu().numpy())
        return np.concatenate(out)

    def _check_inputs(self, video, behavior, pupil_center) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        arrays = []
        for name, value, shape in (
            ("video", video, "(T, H, W)"),
            ("behavior", behavior, "(T, 2)"),
            ("pupil_center", pupil_center, "(T, 2)"),
        ):
            try:
                arr = np.asarray(value, dtype=np.float32)
            except (TypeError, ValueError):
                raise InputError(f"{name}: is not numeric; expected a float array {shape}") from None
            if arr.ndim != (3 if name == "video" else 2) or (name != "video" and arr.shape[1] != 2):
                raise InputError(f"{name}: has shape {arr.shape}, expected {shape}")
            if not np.isfinite(arr).all():
                raise InputError(f"{name}: has NaN or infinite values; expected finite values")
            arrays.append(arr)
        video, behavior, pupil = arrays
        if video.shape[1:] != tuple(self.frame_shape_):
            raise InputError(f"video: has frames {video.shape[1:]}, expected {tuple(self.frame_shape_)} (as in fit)")
        if not (len(video) == len(behavior) == len(pupil)) or len(video) == 0:
            raise InputError(
                f"video, behavior, pupil_center: have {len(video)}, {len(behavior)} and {len(pupil)} "
                f"frames; expected the same positive number"
            )
        return video, behavior, pupil

    def predict(self, video, behavior=None, pupil_center=None):
        """Predicted rates of every neuron at every frame of one trial, or of every trial of a sequence.

        ``predict(video, behavior, pupil_center)`` predicts one trial;
        ``predict(trials)`` (as ``fit`` and ``score`` take them) every trial
        of ``trials``, as :meth:`predict_trials`.

        Parameters
        ----------
        video : array_like, shape (T, H, W), or sequence of trials
            Frames in 0-255 pixel units; or trials (objects with ``video``,
            ``behavior`` and ``pupil_center``) when ``behavior`` and
            ``pupil_center`` are None.
        behavior, pupil_center : array_like, shape (T, 2), or None
            The trial's behaviour and pupil centre (both given, or neither
            for a sequence of trials).

        Returns
        -------
        ndarray, shape (T, N), or list of them (one per trial)
            float32 rates (> 0), in the responses' units. Causal: row t
            depends on frames ``<= t`` only; the first ``burn_in_`` rows see
            less history than the rest.
        """
        if behavior is None and pupil_center is None:
            if isinstance(video, np.ndarray) and video.ndim == 3:
                raise InputError(
                    "behavior, pupil_center: missing; expected both (T, 2) arrays with a video "
                    "(T, H, W), or a sequence of trials instead of a video"
                )
            return self.predict_trials(video)
        if behavior is None or pupil_center is None:
            missing = "behavior" if behavior is None else "pupil_center"
            raise InputError(f"{missing}: missing; expected a (T, 2) array (with a video, both are needed)")
        return self._predict_one(video, behavior, pupil_center)

    def _predict_one(self, video, behavior, pupil_center) -> np.ndarray:
        net, device = self._network_for_use()
        video, behavior, pupil = self._check_inputs(video, behavior, pupil_center)
        return self._run(net, video, behavior, pupil, device)

    def predict_trials(self, trials: Sequence[Any]) -> list[np.ndarray]:
        """Predicted rates of every trial of ``trials``: a list of (T_i, N) float32 arrays."""
        return self._predict_with_responses(trials)[0]

    def _predict_with_responses(self, trials) -> tuple[list[np.ndarray], list[np.ndarray]]:
        self._check_fitted()
        predictions, recorded = [], []
        for i in range(_check_length(trials, "trials")):
            video, responses, behavior, pupil = _trial_arrays(trials[i], f"trials[{i}]")
            if responses.shape[1] != self.n_neurons_:
                raise InputError(
                    f"trials[{i}].responses: has {responses.shape[1]} neurons, expected {self.n_neurons_} (as in fit)"
                )
            predictions.append(self._predict_one(video, behavior, pupil))
            recorded.append(responses)
        return predictions, recorded

    def score(self, trials: Sequence[Any], skip: int = 50) -> float:
        """Mean over neurons of the single-trial correlation (Sensorium definition) on ``trials``.

        Parameters
        ----------
        trials : sequence of trials
        skip : int, default 50
            Frames dropped at the start of every trial.

        Returns
        -------
        float
        """
        predictions, responses = self._predict_with_responses(trials)  # one pass: each trial indexed once
        return float(np.mean(single_trial_correlation(responses, predictions, skip=skip)))

    # ------------------------------------------------------------------ #
    def save(self, path: str | os.PathLike) -> Path:
        """Write hyper-parameters, the network's configuration and weights, and the history to one file (atomic).

        Returns
        -------
        pathlib.Path
        """
        self._check_fitted()
        params = {k: (str(v) if isinstance(v, os.PathLike) else v) for k, v in self.get_params().items()}
        state = {
            "format": _SAVE_FORMAT,
            "estimator": type(self).__name__,
            "params": params,
            "network": dict(self.module_.config),
            "state_dict": {k: v.detach().cpu() for k, v in self.module_.state_dict().items()},
            "history": self.history_,
            "best_epoch": self.best_epoch_,
            "n_epochs": self.n_epochs_,
            "stopped_early": self.stopped_early_,
            "burn_in": self.burn_in_,
        }
        path = Path(path)
        if path.exists() and path.is_dir():
            raise InputError(f"path: {path} is a directory; expected a file path")
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            save_atomic(state, path)
        except OSError as exc:
            raise InputError(f"{path}: cannot be written ({exc.strerror or exc}); expected a writable path") from None
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | None = None) -> DNEM:
        """A fitted :class:`DNEM` from a file written by :meth:`save`.

        Parameters
        ----------
        path : path
        device : str or None
            Where to put the network; None: the saved ``device`` parameter
            (``"auto"``: CUDA when present).
        """
        path = Path(path)
        if not path.is_file():
            raise InputError(f"{path}: does not exist; expected a model file written by DNEM.save")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise InputError(
                f"{path}: cannot be read as a DNEM file ({exc}); expected one written by DNEM.save"
            ) from None
        if not isinstance(state, dict) or state.get("format") != _SAVE_FORMAT or state.get("estimator") != cls.__name__:
            raise InputError(
                f"{path}: is not a {cls.__name__} file of format {_SAVE_FORMAT}; expected one written "
                f"by {cls.__name__}.save"
            )
        model = cls(**state["params"])
        if device is not None:
            model.set_params(device=device)
        net = DNEMNetwork(**state["network"])
        net.load_state_dict(state["state_dict"])
        model.module_ = net.to(resolve_device(model.device)).eval()
        model.history_ = state["history"]
        model.best_epoch_ = state["best_epoch"]
        model.n_epochs_ = state["n_epochs"]
        model.stopped_early_ = state["stopped_early"]
        model.n_neurons_ = net.n_neurons
        model.frame_shape_ = net.frame_shape
        model.burn_in_ = state["burn_in"]
        return model


# ====================================================================== #
# ensembles
# ====================================================================== #
def train_ensemble(
    train_trials: Sequence[Any],
    validation_trials: Sequence[Any] | None = None,
    n_instances: int = 3,
    seeds: Sequence[int] | None = None,
    checkpoint_root: str | os.PathLike | None = None,
    **dnem_params,
) -> list[DNEM]:
    """Train ``n_instances`` DNEMs that differ only in their seed.

    Parameters
    ----------
    train_trials, validation_trials : sequence of trials
        As for :meth:`DNEM.fit`.
    n_instances : int, default 3
    seeds : sequence of int or None
        One seed per instance; None: ``random_state + i`` (``random_state``
        from ``dnem_params``, default 0).
    checkpoint_root : path or None
        Instance i checkpoints into ``checkpoint_root/instance_<i>_seed_<seed>``,
        so an interrupted ensemble resumes where it stopped (finished
        instances are not retrained).
    **dnem_params
        Hyper-parameters of every :class:`DNEM` (``random_state`` and
        ``checkpoint_dir`` are set per instance).

    Returns
    -------
    list of DNEM
        Fitted instances; ``EnsembleModule([m.module_ for m in models])``
        averages them.
    """
    n_instances = check_int("n_instances", n_instances)
    base = dnem_params.pop("random_state", None)
    dnem_params.pop("checkpoint_dir", None)
    if seeds is None:
        seeds = [(0 if base is None else int(base)) + i for i in range(n_instances)]
    seeds = list(seeds)
    if len(seeds) != n_instances or len(set(seeds)) != len(seeds):
        raise InputError(f"seeds: got {seeds!r}, expected {n_instances} distinct non-negative integers")
    models = []
    for i, seed in enumerate(progress(seeds, total=n_instances, desc="ensemble")):
        check_int(f"seeds[{i}]", seed, minimum=0)
        directory = None if checkpoint_root is None else Path(checkpoint_root) / f"instance_{i}_seed_{seed}"
        model = DNEM(**dnem_params, random_state=int(seed), checkpoint_dir=directory)
        models.append(model.fit(train_trials, validation_trials))
    return models
