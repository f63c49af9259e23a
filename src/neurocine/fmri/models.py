"""Deep models of fMRI and video: masked brain modelling, contrastive alignment, frame generators, encoder-decoder.

The deep path of video reconstruction from fMRI (MinD-Video, Chen, Qing & Zhou 2023;
Kupershmidt et al. 2022):

- :class:`MaskedBrainAutoencoder` -- MinD-Video's masked brain modelling
  (MBM): voxel vectors cut into patches of 16 voxels, 75 % of the patches
  hidden, a transformer encoder on the visible ones and a light decoder
  reconstructing every patch; the loss is the MSE on the hidden patches.
  Its encoder gives fMRI embeddings (:meth:`~MaskedBrainAutoencoder.transform`).
- :class:`ContrastiveAligner` -- MinD-Video's contrastive step: a head on
  voxels (or on a fitted MBM encoder) trained with a symmetric InfoNCE loss
  so that each scan's embedding points at the embedding of its own image
  (CNN features here, CLIP when a user has it) among the others of a batch.
- :class:`ConditionalFrameDecoder` -- frames generated from an (aligned)
  embedding by an MLP and a small transposed-convolution decoder: the light
  stand-in for MinD-Video's diffusion generator.
- :class:`VideoFMRIEncoder` and :class:`FMRIVideoDecoder` -- the
  self-supervised encoder-decoder of Kupershmidt et al. (2022): a video ->
  fMRI encoder trained with ``||r - r_hat||_2 + alpha (1 - cos(r, r_hat))``
  (alpha = 0.5, Adam, learning rate 1e-4 multiplied by 0.2 every 3 epochs,
  10 epochs), and an fMRI -> video decoder trained with
  ``0.35 L_im + 0.35 L_vid + 0.3 L_R`` on paired data and, through the
  frozen encoder, on unpaired natural videos (video -> fMRI -> video).

The identification metrics of the survey (pairwise, n-way top-1, by
category) are in :mod:`neurocine.metrics.identification`.

Conventions: samples first. fMRI responses ``X`` are ``(n_samples,
n_voxels)``; embeddings ``(n_samples, D)``; frames ``(n_samples, H, W)``,
``(n_samples, K, H, W)`` (K frames per clip), or either with a trailing RGB
axis of length 3 (``(n, H, W, 3)``, ``(n, K, H, W, 3)``), in any units (e.g.
grey levels 0-255); predicted frames come back in the layout and units of
the training frames. Every trainer runs on
:func:`neurocine.models.torch_base.train` (early stopping on a validation set,
atomic checkpoints in ``checkpoint_dir`` and bit-exact resume on CPU).

torch is imported when a model is fitted or used, not when this module is.
"""

from __future__ import annotations

import copy
import math
import numbers

import numpy as np
from scipy import sparse
from sklearn.base import RegressorMixin, TransformerMixin

from neurocine.errors import InputError
from neurocine.metrics.identification import check_vectors, unit_rows
from neurocine.models.torch_base import TorchEstimator, check_sizes, holdout, keras_init, mlp, standardiser, to_tensor
from neurocine.validation import check_int

__all__ = [
    "ConditionalFrameDecoder",
    "ContrastiveAligner",
    "FMRIVideoDecoder",
    "MaskedBrainAutoencoder",
    "VideoFMRIEncoder",
]


# =============================================================================================
# shared helpers
# =============================================================================================
def _check_real(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and np.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        lo = "" if low is None else f"{'(' if low_open else '['}{low:g}"
        hi = "" if high is None else f"{high:g}{')' if high_open else ']'}"
        where = f" in {lo or '(-inf'}, {hi or 'inf)'}" if (lo or hi) else ""
        raise InputError(f"{name}: got {value!r}, expected a number{where}")
    return float(value)


def _check_samples(
    a, name: str, n_rows: int | None = None, n_cols: int | None = None, rows_of: str = "X", cols_as: str = "in fit"
) -> np.ndarray:
    if sparse.issparse(a):
        raise InputError(
            f"{name}: is a sparse {type(a).__name__}; expected a dense array (sparse input is not supported)"
        )
    return check_vectors(a, name, n_rows, n_cols, rows_of, cols_as, dtype=np.float32)


def _check_frames(
    frames, name: str, n_rows: int | None = None, spec: tuple | None = None, rows_of: str = "X"
) -> tuple[np.ndarray, tuple]:
    """Frames as float32 (n, K * C, H, W) (clip frames and colours stacked as channels) and their layout.

    Layouts: (n, H, W); (n, K, H, W); (n, H, W, 3); (n, K, H, W, 3) -- a last
    axis of length 3 on a 4-D or 5-D array is read as RGB. ``spec`` is
    ``frames.shape[1:]``.
    """
    try:
        arr = frames if isinstance(frames, np.ndarray) else np.asarray(frames)
    except (ValueError, TypeError) as exc:
        raise InputError(
            f"{name}: cannot be read as an array ({exc}); expected frames (n, H, W) or (n, K, H, W)"
        ) from None
    expected = "(n, H, W), (n, K, H, W), (n, H, W, 3) or (n, K, H, W, 3)"
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: has dtype {arr.dtype}; expected real numbers (grey levels or RGB values)")
    if arr.ndim == 3:
        canon = arr[:, None, :, :, None]
    elif arr.ndim == 4:
        canon = arr[:, None] if arr.shape[-1] == 3 else arr[..., None]
    elif arr.ndim == 5 and arr.shape[-1] == 3:
        canon = arr
    else:
        raise InputError(f"{name}: got shape {arr.shape}; expected frames {expected}, samples first")
    if min(arr.shape) < 1:
        raise InputError(f"{name}: has shape {arr.shape}; expected at least one sample of at least 1x1 pixels")
    if n_rows is not None and arr.shape[0] != n_rows:
        raise InputError(f"{name}: has {arr.shape[0]} samples, expected {n_rows} (one per row of {rows_of})")
    if spec is not None and tuple(arr.shape[1:]) != tuple(spec):
        raise InputError(f"{name}: has samples of shape {tuple(arr.shape[1:])}, expected {tuple(spec)} (as in fit)")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        first = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise InputError(f"{name}: has NaN or infinite values, the first at {first}; expected finite values")
    n, k, h, w, c = canon.shape
    out = np.ascontiguousarray(canon.transpose(0, 1, 4, 2, 3).reshape(n, k * c, h, w), dtype=np.float32)
    return out, tuple(int(s) for s in arr.shape[1:])


def _frames_from_channels(out: np.ndarray, spec: tuple) -> np.ndarray:
    """Inverse of :func:`_check_frames`: (n, K * C, H, W) -> the layout ``spec`` describes."""
    n = out.shape[0]
    if len(spec) == 2:
        return out[:, 0]
    if len(spec) == 3 and spec[-1] == 3:
        return out.transpose(0, 2, 3, 1)
    if len(spec) == 3:
        return out
    k, h, w, c = spec
    return out.reshape(n, k, c, h, w).transpose(0, 1, 3, 4, 2)


def _frame_geometry(spec: tuple) -> tuple[int, int, int, int]:
    """(K, C, H, W) of a frame layout."""
    if len(spec) == 2:
        return 1, 1, spec[0], spec[1]
    if len(spec) == 3 and spec[-1] == 3:
        return 1, 3, spec[0], spec[1]
    if len(spec) == 3:
        return spec[0], 1, spec[1], spec[2]
    return spec[0], spec[3], spec[1], spec[2]


def _sample_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each sample (flattened) of ``a`` with the same sample of ``b``."""
    a = a.reshape(len(a), -1).astype(np.float64)
    b = b.reshape(len(b), -1).astype(np.float64)
    return np.einsum("ij,ij->i", unit_rows(a), unit_rows(b))


def _column_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of each column of ``a`` with the same column of ``b`` (0 for a constant column)."""
    return np.einsum("ij,ij->i", unit_rows(a.T.astype(np.float64)), unit_rows(b.T.astype(np.float64)))


def _validation_pair(validation, first: str, second: str) -> tuple:
    if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
        raise InputError(
            f"validation: got {type(validation).__name__}, expected a tuple ({first}_val, {second}_val) or None"
        )
    return validation[0], validation[1]


def _split_validation(
    est, first: np.ndarray, second: np.ndarray, validation, names: tuple[str, str], check_pair
) -> tuple:
    """``(first_tr, second_tr, first_va, second_va)`` of a fit.

    ``validation=None``: the last ``est.validation_fraction`` of the rows; else the pair ``validation``,
    checked by ``check_pair(first_val, second_val) -> (first_val, second_val)``, and all rows train.
    """
    if validation is None:
        n_train = holdout(first.shape[0], float(est.validation_fraction), names[0], min_train=2)
        return first[:n_train], second[:n_train], first[n_train:], second[n_train:]
    return (first, second, *check_pair(*_validation_pair(validation, *names)))


def _mean_batch_loss(batch_loss, n: int, batch_size: int) -> float:
    """Sample-weighted mean of ``batch_loss(rows)`` over consecutive slices of ``batch_size`` of ``n`` rows."""
    return (
        sum(float(batch_loss(slice(s, s + batch_size))) * (min(s + batch_size, n) - s) for s in range(0, n, batch_size))
        / n
    )


def _check_lr_schedule(est) -> None:
    """Check the StepLR hyper-parameters ``lr_step_epochs`` (int >= 1 or None) and ``lr_gamma`` (in (0, 1])."""
    if est.lr_step_epochs is not None:
        check_int("lr_step_epochs", est.lr_step_epochs)
    _check_real("lr_gamma", est.lr_gamma, 0, 1, low_open=True)


def _lr_schedule(est) -> tuple[float, int | None, float]:
    """``(base_lr, step_epochs, gamma)`` of :func:`_step_learning_rate` from the hyper-parameters of ``est``."""
    return (
        float(est.learning_rate),
        None if est.lr_step_epochs is None else int(est.lr_step_epochs),
        float(est.lr_gamma),
    )


def _step_learning_rate(optimizer, base_lr: float, step_epochs: int | None, gamma: float) -> None:
    """Set this epoch's learning rate (StepLR: ``base_lr * gamma ** (epoch // step_epochs)``).

    The epoch count lives in the optimiser's parameter groups, so it is saved
    with the optimiser in every checkpoint and a resumed fit carries on with
    the right rate.
    """
    epoch = int(optimizer.param_groups[0].get("neurocine_epoch", 0))
    lr = base_lr * gamma ** (epoch // step_epochs) if step_epochs else base_lr
    for group in optimizer.param_groups:
        group["lr"] = lr
        group["neurocine_epoch"] = epoch + 1


def _batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """``order`` cut into ceil(n / batch_size) nearly equal batches (no batch of 1 left over)."""
    return np.array_split(order, max(1, math.ceil(len(order) / batch_size)))


def _check_common(est) -> None:
    for name in ("batch_size", "max_epochs", "patience"):
        check_int(name, getattr(est, name))
    _check_real("min_delta", est.min_delta, 0)
    _check_real("learning_rate", est.learning_rate, 0, low_open=True)
    _check_real("weight_decay", est.weight_decay, 0)
    _check_real("validation_fraction", est.validation_fraction, 0, 1, high_open=True)


def _adamw(est, params):
    """AdamW on ``params`` with the ``learning_rate`` and ``weight_decay`` of ``est``."""
    import torch

    return torch.optim.AdamW(params, lr=float(est.learning_rate), weight_decay=float(est.weight_decay))


def _shuffled_epoch(optimizer, rng: np.random.Generator, n: int, batch_size: int, device, batch_loss) -> float:
    """One epoch of optimiser steps over ``n`` rows in a random order, cut by :func:`_batches`.

    ``batch_loss(ids)`` returns the loss of the rows ``ids`` (an index tensor
    on ``device``). Returns the epoch's sample-weighted mean loss.
    """
    import torch

    total = 0.0
    for idx in _batches(rng.permutation(n), batch_size):
        loss = batch_loss(torch.from_numpy(idx).to(device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        total += float(loss.detach()) * len(idx)
    return total / n


def _held_out_loss(batch_loss, n: int, batch_size: int):
    """``validate`` closure of :meth:`TorchEstimator._train`: :func:`_mean_batch_loss` of ``n`` held-out rows.

    None when ``n`` is 0 (``validation_fraction=0``): early stopping then watches the training loss.
    """
    return (lambda: _mean_batch_loss(batch_loss, n, batch_size)) if n else None


class _FrameNet(TorchEstimator):
    """What the fMRI nets on frames share: frame standardisation, generated frames and their score."""

    def _fit_pixel_scaling(self, frames: np.ndarray) -> None:
        """``pixel_mean_``, ``pixel_scale_``: mean and standard deviation of all pixels (float64; 1 when constant)."""
        self.pixel_mean_ = float(frames.mean(dtype=np.float64))
        self.pixel_scale_ = float(frames.std(dtype=np.float64)) or 1.0

    def _scale_frames(self, F: np.ndarray) -> np.ndarray:
        return (F - self.pixel_mean_) / self.pixel_scale_

    def _paired_inputs(
        self, X, frames, name: str, *, n_cols: int | None = None, cols_as: str = "in fit", spec: tuple | None = None
    ) -> tuple[np.ndarray, np.ndarray, tuple]:
        """Checked samples ``X`` (called ``name``) and their frames, as ``(X, frames (n, K * C, H, W), layout)``.

        ``n_cols``/``cols_as`` and ``spec`` constrain the columns and the
        frame layout. Then the model is unfitted (a failed refit leaves none).
        """
        X = _check_samples(X, name, n_cols=n_cols, cols_as=cols_as)
        F, spec = _check_frames(frames, "frames", n_rows=X.shape[0], spec=spec, rows_of=name)
        self._forget_fit()
        return X, F, spec

    def _split_pairs(
        self, X: np.ndarray, F: np.ndarray, spec: tuple, validation, name: str, *, frames_first: bool = False
    ) -> tuple:
        """Training and validation rows of checked samples ``X`` (called ``name``) and their frames ``F``.

        As :func:`_split_validation`, the pairs in the order of ``fit``'s
        arguments: ``(X_tr, F_tr, X_va, F_va)``, or ``(F_tr, X_tr, F_va,
        X_va)`` when ``frames_first`` (then ``validation`` is ``(frames_val,
        X_val)``). Validation samples are checked before their frames.
        """

        def check_pair(*pair):
            xv, fv = pair[::-1] if frames_first else pair
            X_va = _check_samples(xv, f"validation {name}", n_cols=X.shape[1], cols_as=f"the columns of {name}")
            F_va = _check_frames(
                fv, "validation frames", n_rows=X_va.shape[0], spec=spec, rows_of=f"validation {name}"
            )[0]
            return (F_va, X_va) if frames_first else (X_va, F_va)

        if frames_first:
            return _split_validation(self, F, X, validation, ("frames", name), check_pair)
        return _split_validation(self, X, F, validation, (name, "frames"), check_pair)

    def _scale_inputs(self, X: np.ndarray) -> np.ndarray:
        """The network's input units of checked samples (frame generators)."""
        raise NotImplementedError

    def _generate(self, X, name: str) -> np.ndarray:
        """Frames generated from samples ``X`` (n, ``n_features_in_``): in the training frames' units and layout."""
        net, device = self._network_for_use()
        X = _check_samples(X, name, n_cols=self.n_features_in_)
        hw = _frame_geometry(self.frame_shape_)[2:]
        out = _predict_blocks(lambda z: _decode(net, z, hw), self._scale_inputs(X), int(self.batch_size), device)
        return _frames_from_channels(out * self.pixel_scale_ + self.pixel_mean_, self.frame_shape_)

    def _frame_score(self, pred: np.ndarray, frames, rows_of: str) -> float:
        """Mean over samples of the Pearson correlation between generated frames ``pred`` and true ``frames``."""
        true, _ = _check_frames(frames, "frames", n_rows=len(pred), spec=self.frame_shape_, rows_of=rows_of)
        return float(_sample_correlations(_check_frames(pred, "prediction")[0], true).mean())


def _frame_decoder(
    n_in: int, hidden: int, channels: tuple[int, ...], out_channels: int, dropout: float, frame_hw: tuple[int, int]
):
    """MLP to a (channels[0], h0, w0) map, ``len(channels)`` transposed convolutions (x2 each), a 3x3 output conv."""
    from torch import nn

    n_up = len(channels)
    h0, w0 = math.ceil(frame_hw[0] / 2**n_up), math.ceil(frame_hw[1] / 2**n_up)
    layers = [
        nn.Linear(n_in, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, channels[0] * h0 * w0),
        nn.ReLU(),
        nn.Unflatten(1, (channels[0], h0, w0)),
    ]
    width = channels[0]
    for nxt in (*channels[1:], channels[-1]):
        layers += [nn.ConvTranspose2d(width, nxt, 4, stride=2, padding=1), nn.ReLU()]
        width = nxt
    layers.append(nn.Conv2d(width, out_channels, 3, padding=1))
    net = nn.Sequential(*layers)
    keras_init(net)
    return net


def _decode(net, z, frame_hw: tuple[int, int]):
    return net(z)[:, :, : frame_hw[0], : frame_hw[1]]


def _gradient_mse(a, b):
    """MSE between the horizontal and vertical pixel differences of two (B, C, H, W) tensors."""
    import torch

    terms = []
    if a.shape[-1] > 1:
        terms.append(((a.diff(dim=-1) - b.diff(dim=-1)) ** 2).mean())
    if a.shape[-2] > 1:
        terms.append(((a.diff(dim=-2) - b.diff(dim=-2)) ** 2).mean())
    return torch.stack(terms).mean() if terms else a.new_zeros(())


def _predict_blocks(fn, a: np.ndarray, batch_size: int, device) -> np.ndarray:
    """Apply ``fn`` (tensor -> tensor) to ``a`` block by block, without gradients; returns float32 numpy."""
    import torch

    outs = []
    with torch.no_grad():
        for start in range(0, a.shape[0], batch_size):
            outs.append(fn(to_tensor(a[start : start + batch_size], device)).cpu().numpy())
    return np.concatenate(outs).astype(np.float32, copy=False)


# =============================================================================================
# masked brain modelling
# =============================================================================================
POOLINGS = ("mean", "cls")
PATCH_WEIGHTS = ("separate", "shared")


def _mae_network(
    n_patches: int,
    patch_size: int,
    embed_dim: int,
    depth: int,
    num_heads: int,
    mlp_ratio: float,
    decoder_dim: int,
    decoder_depth: int,
    decoder_heads: int,
    dropout: float,
    separate: bool = False,
):
    import torch
    from torch import nn

    def stack(dim, layers, heads):
        layer = nn.TransformerEncoderLayer(
            dim,
            heads,
            dim_feedforward=max(1, int(round(dim * mlp_ratio))),
            dropout=dropout,
            activation="gelu",
            batch_first=True,
            norm_first=True,
        )
        return nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)

    net = nn.ModuleDict(
        {
            "patch": nn.Linear(patch_size, embed_dim),
            "encoder": stack(embed_dim, depth, num_heads),
            "norm": nn.LayerNorm(embed_dim),
            "dec_embed": nn.Linear(embed_dim, decoder_dim),
            "decoder": stack(decoder_dim, decoder_depth, decoder_heads),
            "dec_norm": nn.LayerNorm(decoder_dim),
            "pred": nn.Linear(decoder_dim, patch_size),
        }
    )
    keras_init(net)
    tokens = {
        "pos": nn.Parameter(_sincos(n_patches, embed_dim), requires_grad=False),
        "cls": nn.Parameter(torch.randn(1, 1, embed_dim) * 0.02),
        "mask": nn.Parameter(torch.randn(1, 1, decoder_dim) * 0.02),
        "dec_pos": nn.Parameter(_sincos(n_patches, decoder_dim), requires_grad=False),
    }
    if separate:  # one linear embedding and one read-out per patch position
        del net["patch"], net["pred"]
        bound_in = math.sqrt(6 / (patch_size + embed_dim))
        bound_out = math.sqrt(6 / (patch_size + decoder_dim))
        tokens.update(
            patch_w=nn.Parameter((torch.rand(n_patches, patch_size, embed_dim) * 2 - 1) * bound_in),
            patch_b=nn.Parameter(torch.zeros(n_patches, embed_dim)),
            pred_w=nn.Parameter((torch.rand(n_patches, decoder_dim, patch_size) * 2 - 1) * bound_out),
            pred_b=nn.Parameter(torch.zeros(n_patches, patch_size)),
        )
    net["tokens"] = nn.ParameterDict(tokens)
    return net


def _sincos(n_patches: int, dim: int):
    """Fixed 1-D sine-cosine positional embedding (1, 1 + n_patches, dim), zeros for the CLS slot (as MAE)."""
    import torch

    half = dim // 2
    freq = 1.0 / 10000 ** (np.arange(half, dtype=np.float64) / max(1, half))
    angle = np.arange(n_patches, dtype=np.float64)[:, None] * freq
    table = np.zeros((n_patches + 1, dim), dtype=np.float32)
    table[1:, :half], table[1:, half : 2 * half] = np.sin(angle), np.cos(angle)
    return torch.from_numpy(table)[None]


def _mae_encode(net, patches, keep=None):
    """(B, P, p) patches -> tokens (B, 1 + n_visible, d): the CLS token, then the visible patches (``keep``)."""
    import torch

    tok = net["tokens"]
    if "patch" in net:
        x = net["patch"](patches) + tok["pos"][:, 1:]
    else:
        x = torch.einsum("bpi,pid->bpd", patches, tok["patch_w"]) + tok["patch_b"] + tok["pos"][:, 1:]
    if keep is not None:
        x = torch.gather(x, 1, keep[..., None].expand(-1, -1, x.shape[-1]))
    cls = (tok["cls"] + tok["pos"][:, :1]).expand(x.shape[0], -1, -1)
    return net["norm"](net["encoder"](torch.cat([cls, x], 1)))


def _mae_decode(net, latent, keep, n_patches: int):
    """Encoder tokens -> predicted patches (B, P, p); hidden patches start from the mask token."""
    import torch

    tok = net["tokens"]
    y = net["dec_embed"](latent)
    batch, _, dim = y.shape
    if keep is None:
        full = y[:, 1:]
    else:
        full = tok["mask"].expand(batch, n_patches, dim).scatter(1, keep[..., None].expand(-1, -1, dim), y[:, 1:])
    h = torch.cat([y[:, :1], full], 1) + tok["dec_pos"]
    h = net["dec_norm"](net["decoder"](h))[:, 1:]
    if "pred" in net:
        return net["pred"](h)
    return torch.einsum("bpd,pdo->bpo", h, tok["pred_w"]) + tok["pred_b"]


def _mae_pool(tokens, pooling: str):
    return tokens[:, 0] if pooling == "cls" else tokens[:, 1:].mean(1)


def _normalise_patches(target, valid):
    """Each patch standardised over its real voxels (padding excluded)."""
    count = valid.sum(-1).clamp(min=1)
    mean = (target * valid).sum(-1, keepdim=True) / count[..., None]
    var = (((target - mean) * valid) ** 2).sum(-1, keepdim=True) / count[..., None]
    return (target - mean) / (var + 1e-6).sqrt() * valid


class MaskedBrainAutoencoder(TransformerMixin, TorchEstimator):
    """Masked brain modelling (MinD-Video's MBM) on voxel vectors: pretraining and fMRI embeddings.

    Each scan (a row of ``X``, voxels standardised with the training means and
    standard deviations) is cut into patches of ``patch_size`` consecutive
    voxels (the last patch zero-padded; padding never counts in the loss). A
    linear patch embedding (see ``patch_weights``) plus a fixed sine-cosine
    positional embedding (as MAE's) turns patches into tokens; for every
    sample a random ``mask_ratio`` of the patches is hidden and a
    transformer encoder (pre-norm, GELU, with a CLS token) sees only the
    visible ones. A lighter transformer decoder gets the encoded
    visible tokens and a shared mask token at every hidden position (plus
    its own positional embedding) and predicts every patch. The loss is the
    mean squared error on the hidden patches only, in standardised units, or
    on patches standardised one by one (``normalize_patches``, MAE's
    ``norm_pix_loss``). Optimiser AdamW; early stopping on the masked loss of
    a validation set with masks drawn once.

    MinD-Video's MBM uses the same patch size (16) and mask ratio (0.75) with
    a much larger transformer (width 1024, depth 24, decoder 512 x 8); the
    defaults here are small enough for a CPU.

    Parameters
    ----------
    patch_size : int, default 16
        Voxels per patch.
    mask_ratio : float, default 0.75
        Fraction of the patches hidden from the encoder during training
        (``int(n_patches * (1 - mask_ratio))`` stay visible, at least one).
    embed_dim, depth, num_heads : int, default 64, 2, 4
        Width, layers and attention heads of the encoder (``embed_dim``
        divisible by ``num_heads``).
    mlp_ratio : float, default 2.0
        Feed-forward width of every transformer layer, as a multiple of its width.
    decoder_dim, decoder_depth, decoder_heads : int, default 32, 1, 4
        Width, layers and heads of the decoder.
    patch_weights : {"separate", "shared"}, default "separate"
        ``"shared"``: one linear patch embedding and one linear read-out for
        all patches (MinD-Video's Conv1d embedding, as image MAEs).
        ``"separate"``: each patch position has its own embedding and
        read-out matrices. Voxel patches, unlike image patches, mean
        different things at different positions; on the low-rank
        simulation of the tests, "separate" reaches a hidden-patch MSE of
        0.27 x the variance in 25 epochs, "shared" 0.34 after 111 epochs.
    normalize_patches : bool, default False
        Standardise every target patch on its own (MAE's ``norm_pix_loss``);
        the decoder then predicts patch shapes, not levels.
    pooling : {"mean", "cls"}, default "mean"
        Embedding of :meth:`transform`: the mean of the patch tokens or the
        CLS token.
    dropout : float, default 0.0
        Dropout inside the transformer layers.
    batch_size : int, default 64
    max_epochs, patience : int, default 100, 10
        Epoch limit; epochs without improvement of the validation loss
        before stopping (the best epoch's weights are kept).
    min_delta : float, default 1e-4
    learning_rate, weight_decay : float, default 1e-3, 0.05
        AdamW settings.
    validation_fraction : float, default 0.1
        Last fraction of the rows of ``X`` held out for early stopping when
        ``fit`` gets no ``X_val``; 0: none (early stopping then watches the
        training loss).
    checkpoint_dir : path or None, default None
        Save the training state after every epoch; resume from it.
    random_state : int or None
        Seed of the weights, the masks and the batch order: the same seed
        gives the same numbers on CPU.
    device : str, default "auto"
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda[:i]"``.

    Attributes
    ----------
    network_ : torch.nn.ModuleDict
        ``encoder``, ``norm``, ``dec_embed``, ``decoder``, ``dec_norm``,
        ``tokens`` (``pos``, ``cls``, ``mask``, ``dec_pos`` and, with
        separate patch weights, ``patch_w``, ``patch_b``, ``pred_w``,
        ``pred_b``) and, with shared ones, ``patch`` and ``pred``.
    n_features_in_ : int
        Voxels V.
    n_patches_ : int
        ``ceil(V / patch_size)``.
    n_visible_ : int
        Patches the encoder sees in training.
    embedding_dim_ : int
        Columns of :meth:`transform` (``embed_dim``).
    x_mean_, x_scale_ : ndarray, shape (V,)
        Standardisation of the voxels.
    history_, best_epoch_, n_epochs_, stopped_early_
        As :class:`~neurocine.encode.autoencoder.ConvAutoencoder`
        (``history_`` holds the masked MSE).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((200, 4)) @ rng.standard_normal((4, 100))   # 100 voxels, rank 4
    >>> mbm = MaskedBrainAutoencoder(max_epochs=2, random_state=0).fit(X)
    >>> mbm.n_patches_, mbm.n_visible_, mbm.transform(X).shape
    (7, 1, (200, 64))
    >>> X_hat, hidden = mbm.reconstruct(X[:5])
    >>> X_hat.shape, hidden.shape
    ((5, 100), (5, 100))
    """

    _fit_call = "fit(X)"

    def __init__(
        self,
        patch_size: int = 16,
        mask_ratio: float = 0.75,
        *,
        embed_dim: int = 64,
        depth: int = 2,
        num_heads: int = 4,
        mlp_ratio: float = 2.0,
        decoder_dim: int = 32,
        decoder_depth: int = 1,
        decoder_heads: int = 4,
        patch_weights: str = "separate",
        normalize_patches: bool = False,
        pooling: str = "mean",
        dropout: float = 0.0,
        batch_size: int = 64,
        max_epochs: int = 100,
        patience: int = 10,
        min_delta: float = 1e-4,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.05,
        validation_fraction: float = 0.1,
        checkpoint_dir=None,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.patch_size = patch_size
        self.mask_ratio = mask_ratio
        self.embed_dim = embed_dim
        self.depth = depth
        self.num_heads = num_heads
        self.mlp_ratio = mlp_ratio
        self.decoder_dim = decoder_dim
        self.decoder_depth = decoder_depth
        self.decoder_heads = decoder_heads
        self.patch_weights = patch_weights
        self.normalize_patches = normalize_patches
        self.pooling = pooling
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float32"]  # embeddings are float32 whatever the input
        return tags

    # -- validation -------------------------------------------------------------------------
    def _check_params(self) -> None:
        for name in ("patch_size", "embed_dim", "depth", "num_heads", "decoder_dim", "decoder_depth", "decoder_heads"):
            check_int(name, getattr(self, name))
        _check_real("mask_ratio", self.mask_ratio, 0, 1, low_open=True, high_open=True)
        _check_real("mlp_ratio", self.mlp_ratio, 0, low_open=True)
        _check_real("dropout", self.dropout, 0, 1, high_open=True)
        if self.embed_dim % self.num_heads:
            raise InputError(f"embed_dim: got {self.embed_dim}, expected a multiple of num_heads={self.num_heads}")
        if self.decoder_dim % self.decoder_heads:
            raise InputError(
                f"decoder_dim: got {self.decoder_dim}, expected a multiple of decoder_heads={self.decoder_heads}"
            )
        if self.pooling not in POOLINGS:
            raise InputError(f"pooling: got {self.pooling!r}, expected one of {', '.join(POOLINGS)}")
        if self.patch_weights not in PATCH_WEIGHTS:
            raise InputError(f"patch_weights: got {self.patch_weights!r}, expected one of {', '.join(PATCH_WEIGHTS)}")
        if not isinstance(self.normalize_patches, (bool, np.bool_)):
            raise InputError(f"normalize_patches: got {self.normalize_patches!r}, expected True or False")
        _check_common(self)

    def _n_visible(self, mask_ratio: float, n_patches: int) -> int:
        return max(1, int(n_patches * (1 - mask_ratio)))

    def _patches(self, X: np.ndarray) -> np.ndarray:
        """Standardised, zero-padded patches (n, P, p) float32."""
        z = (X - self.x_mean_) / self.x_scale_
        p, n_pat = int(self.patch_size), self.n_patches_
        out = np.zeros((X.shape[0], n_pat * p), dtype=np.float32)
        out[:, : X.shape[1]] = z
        return out.reshape(X.shape[0], n_pat, p)

    def _valid(self, device):
        p = int(self.patch_size)
        valid = np.zeros(self.n_patches_ * p, dtype=np.float32)
        valid[: self.n_features_in_] = 1
        return to_tensor(valid.reshape(self.n_patches_, p), device)

    def _draw_keep(self, rng: np.random.Generator, n: int, n_visible: int) -> np.ndarray:
        return np.argsort(rng.random((n, self.n_patches_)), axis=1)[:, :n_visible]

    def _masked_error(self, pred, patches, keep, valid):
        """(sum of squared errors on hidden real voxels, their count, sum of squared targets)."""
        import torch

        target = _normalise_patches(patches, valid) if self.normalize_patches else patches
        hidden = torch.ones(patches.shape[:2], device=patches.device)
        hidden.scatter_(1, keep, 0.0)
        weight = hidden[..., None] * valid
        return (((pred - target) ** 2) * weight).sum(), weight.sum(), ((target**2) * weight).sum()

    # -- fitting ----------------------------------------------------------------------------
    def fit(self, X, y=None, *, X_val=None) -> MaskedBrainAutoencoder:
        """Pretrain on scans ``X`` by masked patch reconstruction.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_voxels)
            fMRI responses, one scan (or one averaged stimulus response) per row.
        y : ignored
        X_val : array_like, shape (n_val, n_voxels), optional
            Scans for early stopping; None: the last ``validation_fraction``
            of ``X`` (contiguous, so neighbouring scans do not leak).

        Returns
        -------
        self
        """
        import torch

        self._check_params()
        X = _check_samples(X, "X")
        self._forget_fit()  # a failed refit leaves an unfitted model
        if X_val is None:
            n_train = holdout(X.shape[0], float(self.validation_fraction), "X", min_train=2)
            X_train, X_hold = X[:n_train], X[n_train:]
        else:
            X_train, X_hold = X, _check_samples(X_val, "X_val", n_cols=X.shape[1], cols_as="the columns of X")
        n_pat = math.ceil(X.shape[1] / int(self.patch_size))
        n_vis = self._n_visible(float(self.mask_ratio), n_pat)
        if n_vis >= n_pat:
            raise InputError(
                f"X: {X.shape[1]} voxels make {n_pat} patches of {self.patch_size}, of which "
                f"mask_ratio={self.mask_ratio} hides none; expected more voxels, a smaller "
                f"patch_size or a larger mask_ratio"
            )
        self.n_features_in_, self.n_patches_, self.n_visible_ = X.shape[1], n_pat, n_vis
        self.embedding_dim_ = int(self.embed_dim)
        self.x_mean_, self.x_scale_ = standardiser(X_train)

        rng = self._seed()
        device = self._resolve_device()
        net = _mae_network(
            n_pat,
            int(self.patch_size),
            int(self.embed_dim),
            int(self.depth),
            int(self.num_heads),
            float(self.mlp_ratio),
            int(self.decoder_dim),
            int(self.decoder_depth),
            int(self.decoder_heads),
            float(self.dropout),
            self.patch_weights == "separate",
        ).to(device)
        optimizer = _adamw(self, net.parameters())
        train_patches = to_tensor(self._patches(X_train), device)
        hold_patches = to_tensor(self._patches(X_hold), device) if len(X_hold) else None
        hold_keep = torch.from_numpy(self._draw_keep(rng, len(X_hold), n_vis)).to(device)
        valid = self._valid(device)
        bs = int(self.batch_size)

        def train_epoch() -> float:
            total = count = 0.0
            for idx in _batches(rng.permutation(len(X_train)), bs):
                patches = train_patches[torch.from_numpy(idx).to(device)]
                keep = torch.from_numpy(self._draw_keep(rng, len(idx), n_vis)).to(device)
                pred = _mae_decode(net, _mae_encode(net, patches, keep), keep, n_pat)
                sse, n, _ = self._masked_error(pred, patches, keep, valid)
                loss = sse / n
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += float(sse.detach())
                count += float(n)
            return total / count

        def validate() -> float:
            sse = count = 0.0
            for start in range(0, hold_patches.shape[0], bs):
                patches, keep = hold_patches[start : start + bs], hold_keep[start : start + bs]
                pred = _mae_decode(net, _mae_encode(net, patches, keep), keep, n_pat)
                s, n, _ = self._masked_error(pred, patches, keep, valid)
                sse, count = sse + float(s), count + float(n)
            return sse / count

        self._train(
            net,
            optimizer,
            train_epoch=train_epoch,
            validate=None if hold_patches is None else validate,
            rng=rng,
            shapes={"X": X.shape, "X_val": "split" if X_val is None else X_hold.shape},
            data=(X, X_hold),
        )
        return self

    # -- using a fitted model ---------------------------------------------------------------
    def _X_for_use(self, X, name: str = "X"):
        """Checked ``X`` and the device of the fitted network (in eval mode)."""
        _, device = self._network_for_use()
        return _check_samples(X, name, n_cols=self.n_features_in_), device

    def _embed_tensor(self, patches):
        """Pooled embedding (B, embed_dim) of standardised patches (B, P, p), no masking (differentiable)."""
        return _mae_pool(_mae_encode(self.network_, patches), self.pooling)

    def transform(self, X) -> np.ndarray:
        """fMRI embeddings: the encoder on every patch (nothing masked), pooled.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_voxels)

        Returns
        -------
        ndarray, shape (n_samples, embed_dim), float32
            Mean of the patch tokens (``pooling="mean"``) or the CLS token.
        """
        X, device = self._X_for_use(X)
        return _predict_blocks(self._embed_tensor, self._patches(X), int(self.batch_size), device)

    def _reconstruct(self, X, mask_ratio, random_state):
        import torch

        X, device = self._X_for_use(X)
        ratio = (
            float(self.mask_ratio)
            if mask_ratio is None
            else _check_real("mask_ratio", mask_ratio, 0, 1, high_open=True)
        )
        n_vis = self.n_patches_ if ratio == 0 else self._n_visible(ratio, self.n_patches_)
        patches = self._patches(X)
        keep = self._draw_keep(np.random.default_rng(random_state), X.shape[0], n_vis)
        net, valid, bs = self.network_, self._valid(device), int(self.batch_size)
        preds, sse, count, sst = [], 0.0, 0.0, 0.0
        with torch.no_grad():
            for start in range(0, X.shape[0], bs):
                p = to_tensor(patches[start : start + bs], device)
                k = torch.from_numpy(keep[start : start + bs]).to(device)
                pred = _mae_decode(net, _mae_encode(net, p, k), k, self.n_patches_)
                s, n, t = self._masked_error(pred, p, k, valid)
                sse, count, sst = sse + float(s), count + float(n), sst + float(t)
                preds.append(pred.cpu().numpy())
        pred = np.concatenate(preds).reshape(X.shape[0], -1)[:, : self.n_features_in_]
        hidden = np.ones((X.shape[0], self.n_patches_), dtype=bool)
        np.put_along_axis(hidden, keep, False, axis=1)
        hidden = np.repeat(hidden, int(self.patch_size), axis=1)[:, : self.n_features_in_]
        return pred, hidden, (sse, count, sst)

    def reconstruct(self, X, mask_ratio: float | None = None, random_state=None) -> tuple[np.ndarray, np.ndarray]:
        """Hide random patches of every scan and predict all voxels from the visible ones.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_voxels)
        mask_ratio : float in [0, 1), optional
            Fraction of patches hidden; None: the training ``mask_ratio``.
        random_state : int, numpy Generator or None
            Seed of the masks.

        Returns
        -------
        X_hat : ndarray, shape (n_samples, n_voxels), float32
            The decoder's prediction of every voxel, in the units of ``X``
            (with ``normalize_patches=True``: of every patch standardised on
            its own, since the decoder then predicts patch shapes only).
        hidden : ndarray of bool, shape (n_samples, n_voxels)
            True where a voxel was hidden from the encoder; compare
            ``X_hat[hidden]`` with ``X[hidden]``.
        """
        pred, hidden, _ = self._reconstruct(X, mask_ratio, random_state)
        if not self.normalize_patches:
            pred = pred * self.x_scale_ + self.x_mean_
        return pred.astype(np.float32, copy=False), hidden

    def score(self, X, y=None, *, mask_ratio: float | None = None, random_state=0) -> float:
        """Fraction of the variance of hidden voxels explained: ``1 - SSE / SS`` in standardised units.

        SS is the sum of squares of the hidden (standardised) voxels, i.e.
        the error of predicting the training mean (with
        ``normalize_patches``: the patch mean). Masks come from
        ``random_state`` (fixed by default, so scores are comparable).

        Returns
        -------
        float
        """
        _, _, (sse, _, sst) = self._reconstruct(X, mask_ratio, random_state)
        return 1.0 - sse / sst if sst > 0 else float("nan")


# =============================================================================================
# contrastive alignment
# =============================================================================================
class ContrastiveAligner(TransformerMixin, TorchEstimator):
    """Contrastive (InfoNCE) alignment of fMRI embeddings to image embeddings (MinD-Video's CLIP step).

    A head -- an MLP on standardised voxels, or on the embedding of a fitted
    :class:`MaskedBrainAutoencoder` -- maps each scan to a vector of the
    image-embedding space. Training minimises the symmetric InfoNCE loss of
    CLIP over the batch: with unit vectors ``f_i`` (scan ``i``) and ``e_j``
    (image ``j``, centred on the training mean when ``center_targets``),
    logits ``s_ij = f_i . e_j / tau`` and
    ``loss = (CE(s, diag) + CE(s.T, diag)) / 2``. The image embeddings stay
    fixed (as MinD-Video aligns to frozen CLIP); the temperature ``tau`` is
    learned (as CLIP's logit scale, capped at 1/100) or fixed. Optimiser
    AdamW; early stopping on the InfoNCE loss of a validation set
    (batches in a fixed order).

    Parameters
    ----------
    encoder : MaskedBrainAutoencoder or None, default None
        A fitted masked brain model whose embeddings (``encoder.transform``)
        feed the head; None: the head reads the voxels. A copy is used, the
        given model is never changed (note that ``sklearn.base.clone``
        returns an unfitted encoder).
    fine_tune_encoder : bool, default False
        Train the copy of ``encoder`` with the head (MinD-Video co-trains its
        fMRI encoder); False: its embeddings are computed once and frozen.
    hidden : tuple of int, default (512,)
        Hidden layers of the head (GELU, dropout); ``()`` for a linear head.
    dropout : float, default 0.1
    temperature : float, default 0.07
        Initial (``learn_temperature=True``) or fixed temperature.
    learn_temperature : bool, default True
    center_targets : bool, default True
        Subtract the training mean of the image embeddings before the cosine
        similarities (pooled CNN features are all positive: uncentred, every
        pair is similar).
    batch_size : int, default 64
        Scans per InfoNCE batch: the number of negatives + 1. Batches are
        split evenly (no batch of one).
    max_epochs, patience, min_delta, learning_rate, weight_decay
        Default 200, 20, 1e-4, 1e-3, 1e-4.
    validation_fraction : float, default 0.1
        Last fraction of the rows held out for early stopping when ``fit``
        gets no ``validation``; 0: none.
    checkpoint_dir, random_state, device
        As :class:`MaskedBrainAutoencoder`.

    Attributes
    ----------
    network_ : torch.nn.ModuleDict
        ``head``, ``scale`` (``logit_scale`` = log(1 / tau)) and, when
        fine-tuning, ``encoder``.
    temperature_ : float
        The final temperature.
    target_mean_ : ndarray, shape (D_img,)
        Centre of the image embeddings (zeros without ``center_targets``).
    target_norm_ : float
        Median norm of the centred training image embeddings: the length of
        the vectors :meth:`transform` returns.
    n_features_in_ : int
        Voxels.
    n_targets_ : int
        D_img.
    history_, best_epoch_, n_epochs_, stopped_early_
        As :class:`MaskedBrainAutoencoder` (InfoNCE losses).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> Z = rng.standard_normal((300, 5))
    >>> X = Z @ rng.standard_normal((5, 80)) + 0.1 * rng.standard_normal((300, 80))   # scans
    >>> E = np.tanh(Z @ rng.standard_normal((5, 32)))                                # image embeddings
    >>> aligner = ContrastiveAligner(hidden=(64,), max_epochs=5, random_state=0).fit(X[:250], E[:250])
    >>> aligner.transform(X[250:]).shape
    (50, 32)
    >>> 0 <= aligner.score(X[250:], E[250:]) <= 1     # top-1 retrieval among the 50 held-out images
    True
    """

    _fit_call = "fit(X, E)"

    def __init__(
        self,
        encoder=None,
        *,
        fine_tune_encoder: bool = False,
        hidden=(512,),
        dropout: float = 0.1,
        temperature: float = 0.07,
        learn_temperature: bool = True,
        center_targets: bool = True,
        batch_size: int = 64,
        max_epochs: int = 200,
        patience: int = 20,
        min_delta: float = 1e-4,
        learning_rate: float = 1e-3,
        weight_decay: float = 1e-4,
        validation_fraction: float = 0.1,
        checkpoint_dir=None,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.encoder = encoder
        self.fine_tune_encoder = fine_tune_encoder
        self.hidden = hidden
        self.dropout = dropout
        self.temperature = temperature
        self.learn_temperature = learn_temperature
        self.center_targets = center_targets
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True  # E is a 2-D matrix of image embeddings
        tags.target_tags.single_output = False
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags

    def _check_params(self) -> tuple[int, ...]:
        hidden = check_sizes("hidden", self.hidden, allow_empty=True)
        _check_real("dropout", self.dropout, 0, 1, high_open=True)
        _check_real("temperature", self.temperature, 0.01, 10)
        for name in ("fine_tune_encoder", "learn_temperature", "center_targets"):
            if not isinstance(getattr(self, name), (bool, np.bool_)):
                raise InputError(f"{name}: got {getattr(self, name)!r}, expected True or False")
        if self.encoder is not None:
            if not isinstance(self.encoder, MaskedBrainAutoencoder):
                raise InputError(
                    f"encoder: got {type(self.encoder).__name__}, expected a fitted MaskedBrainAutoencoder or None"
                )
            if not hasattr(self.encoder, "network_"):
                raise InputError("encoder: the MaskedBrainAutoencoder is not fitted; call its fit(X) first")
        elif self.fine_tune_encoder:
            raise InputError(
                "fine_tune_encoder: is True but encoder is None; expected a fitted MaskedBrainAutoencoder to fine-tune"
            )
        _check_common(self)
        return hidden

    # inputs of the trained part: standardised voxels, frozen embeddings, or patches for fine-tuning
    def _inputs(self, X: np.ndarray) -> np.ndarray:
        if self.encoder_ is None:
            return (X - self.input_mean_) / self.input_scale_
        if self.fine_tune_encoder:
            return self.encoder_._patches(X)
        return (self.encoder_.transform(X) - self.input_mean_) / self.input_scale_

    def _features(self, net, x):
        """Head output (B, D_img), not normalised."""
        if "encoder" in net:
            enc = self.encoder_
            z = _mae_pool(_mae_encode(net["encoder"], x), enc.pooling)
            x = (z - self._embed_shift) / self._embed_scale
        return net["head"](x)

    def fit(self, X, E, *, validation=None) -> ContrastiveAligner:
        """Align scans ``X`` to image embeddings ``E`` (rows are pairs).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_voxels)
        E : array_like, shape (n_samples, D_img)
            The embedding of the stimulus of each scan.
        validation : tuple (X_val, E_val) or None
            Pairs for early stopping; None: the last ``validation_fraction``
            of the rows.

        Returns
        -------
        self

        Notes
        -----
        Repeated stimuli in one batch are false negatives for InfoNCE;
        average the repeats of a stimulus into one row first.
        """
        import torch
        from torch import nn
        from torch.nn import functional as F

        hidden = self._check_params()
        X = _check_samples(X, "X")
        E = _check_samples(E, "E", n_rows=X.shape[0])
        self._forget_fit()

        def check_pair(xv, ev):
            X_va = _check_samples(xv, "validation X", n_cols=X.shape[1], cols_as="the columns of X")
            return X_va, _check_samples(
                ev,
                "validation E",
                n_rows=X_va.shape[0],
                n_cols=E.shape[1],
                rows_of="validation X",
                cols_as="the columns of E",
            )

        X_tr, E_tr, X_va, E_va = _split_validation(self, X, E, validation, ("X", "E"), check_pair)
        if self.encoder is not None and self.encoder.n_features_in_ != X.shape[1]:
            raise InputError(
                f"X: has {X.shape[1]} columns, expected the {self.encoder.n_features_in_} voxels "
                f"the encoder was fitted on"
            )
        self.n_features_in_, self.n_targets_ = X.shape[1], E.shape[1]
        self.target_mean_ = E_tr.mean(0) if self.center_targets else np.zeros(E.shape[1], np.float32)
        centred = E_tr - self.target_mean_
        self.target_norm_ = float(np.median(np.linalg.norm(centred, axis=1)))

        rng = self._seed()
        device = self._resolve_device()
        self.encoder_ = None if self.encoder is None else copy.deepcopy(self.encoder)
        modules = {}
        if self.encoder_ is None:
            self.input_mean_, self.input_scale_ = standardiser(X_tr)
            n_in = X.shape[1]
        else:
            self.encoder_.network_.to(device)
            emb = self.encoder_.transform(X_tr)
            self.input_mean_, self.input_scale_ = standardiser(emb)
            n_in = emb.shape[1]
            if self.fine_tune_encoder:
                modules["encoder"] = self.encoder_.network_
        self._embed_shift, self._embed_scale = to_tensor(self.input_mean_, device), to_tensor(self.input_scale_, device)
        modules["head"] = mlp(n_in, hidden, E.shape[1], nn.GELU, dropout=float(self.dropout))
        keras_init(modules["head"])
        scale = nn.Parameter(
            torch.tensor(math.log(1.0 / float(self.temperature))), requires_grad=bool(self.learn_temperature)
        )
        modules["scale"] = nn.ParameterDict({"logit_scale": scale})
        net = nn.ModuleDict(modules).to(device)
        optimizer = _adamw(self, [p for p in net.parameters() if p.requires_grad])

        def unit_targets(e):
            return F.normalize(to_tensor(e - self.target_mean_, device), dim=1)

        x_tr, e_tr = to_tensor(self._inputs(X_tr), device), unit_targets(E_tr)
        x_va, e_va = to_tensor(self._inputs(X_va), device), unit_targets(E_va)
        bs, max_scale = int(self.batch_size), math.log(100.0)

        def info_nce(x, e):
            f = F.normalize(self._features(net, x), dim=1)
            logits = net["scale"]["logit_scale"].clamp(max=max_scale).exp() * f @ e.T
            labels = torch.arange(len(x), device=device)
            return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2

        def train_epoch() -> float:
            return _shuffled_epoch(optimizer, rng, len(x_tr), bs, device, lambda ids: info_nce(x_tr[ids], e_tr[ids]))

        def validate() -> float:
            parts = _batches(np.arange(len(x_va)), bs)
            total = sum(float(info_nce(x_va[p[0] : p[-1] + 1], e_va[p[0] : p[-1] + 1])) * len(p) for p in parts)
            return total / len(x_va)

        self._train(
            net,
            optimizer,
            train_epoch=train_epoch,
            validate=validate if len(x_va) >= 2 else None,  # InfoNCE needs 2 samples
            rng=rng,
            shapes={
                "X": X.shape,
                "E": E.shape,
                "validation": "split" if validation is None else (X_va.shape, E_va.shape),
            },
            data=(X, E, X_va, E_va),
        )
        self.temperature_ = float(1.0 / net["scale"]["logit_scale"].detach().clamp(max=max_scale).exp())
        return self

    def _directions(self, X) -> np.ndarray:
        """Unit vectors (n, D_img) of the head output."""
        net, device = self._network_for_use()
        X = _check_samples(X, "X", n_cols=self.n_features_in_)
        if self.encoder_ is not None:
            self.encoder_.network_.eval()
        out = _predict_blocks(lambda x: self._features(net, x), self._inputs(X), int(self.batch_size), device)
        return unit_rows(out.astype(np.float64), center=False)

    def transform(self, X) -> np.ndarray:
        """Aligned embeddings of scans, in the image-embedding space.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_voxels)

        Returns
        -------
        ndarray, shape (n_samples, D_img), float32
            ``target_mean_ + target_norm_ * u`` with ``u`` the unit vector of
            the head: the direction is what InfoNCE trains; the centre and
            length put it where image embeddings lie (e.g. to feed a
            :class:`ConditionalFrameDecoder` fitted on image embeddings).
        """
        directions = self._directions(X)  # checks first that the model is fitted
        return (self.target_mean_ + self.target_norm_ * directions).astype(np.float32)

    def similarity(self, X, E) -> np.ndarray:
        """Cosine similarities (n_scans, n_candidates) of aligned scans with candidate image embeddings.

        Candidates are centred with ``target_mean_`` as in training; the
        best match of scan ``i`` is ``similarity(X, E)[i].argmax()``
        (retrieval).
        """
        d = self._directions(X)
        E = _check_samples(E, "E", n_cols=self.n_targets_, cols_as="D_img as in fit")
        return d @ unit_rows(E.astype(np.float64) - self.target_mean_, center=False).T

    def score(self, X, E) -> float:
        """Top-1 retrieval accuracy: share of scans whose own image is the most similar row of ``E``.

        Scan ``i`` is correct when ``E[i]`` has the highest cosine
        similarity among all rows of ``E`` (an n-way test, chance 1/n; a tie
        for the top between k rows counts 1/k).

        Parameters
        ----------
        X : array_like, shape (n, n_voxels)
        E : array_like, shape (n, D_img)

        Returns
        -------
        float
        """
        sims = self.similarity(X, E)
        if sims.shape[0] != sims.shape[1]:
            raise InputError(f"E: has {sims.shape[1]} rows, expected {sims.shape[0]} (one per row of X)")
        own = np.diag(sims)
        off = sims[~np.eye(len(own), dtype=bool)].reshape(len(own), -1)
        above = (off > own[:, None]).any(1)
        return float(np.where(above, 0.0, 1.0 / (1.0 + (off == own[:, None]).sum(1))).mean())


# =============================================================================================
# frames from embeddings
# =============================================================================================
class ConditionalFrameDecoder(RegressorMixin, _FrameNet):
    """Frames generated from an embedding: MLP -> transposed-convolution decoder.

    The embedding (standardised per dimension with the training statistics)
    goes through a dense layer of ``hidden`` ReLU units to a map of
    ``channels[0]`` channels at ``1 / 2 ** len(channels)`` of the frame
    size; ``len(channels)`` transposed convolutions (kernel 4, stride 2,
    ReLU) double it each, and a 3x3 convolution gives ``K * C`` output
    channels (the K frames of a clip and C colours), cropped to H x W.
    Frames are standardised with the training mean and standard deviation of
    all pixels; predictions come back in the frames' units and layout. Loss:
    pixel MSE plus ``gradient_weight`` x the MSE of the horizontal and
    vertical pixel differences (sharper edges). Optimiser AdamW.

    This is the light stand-in for MinD-Video's diffusion generator: trained
    on (aligned fMRI or image) embeddings and their frames, it paints the
    frames an embedding stands for.

    Parameters
    ----------
    hidden : int, default 256
        Units of the dense layer.
    channels : tuple of int, default (64, 32, 16)
        Channels of the up-sampling stages (their number sets the up-sampling).
    dropout : float, default 0.0
        Dropout after the dense layer.
    gradient_weight : float, default 0.0
        Weight of the image-gradient loss.
    batch_size, max_epochs, patience, min_delta, learning_rate, weight_decay
        Default 32, 100, 10, 1e-4, 1e-3, 0.0.
    validation_fraction, checkpoint_dir, random_state, device
        As :class:`MaskedBrainAutoencoder`.

    Attributes
    ----------
    network_ : torch.nn.Sequential
    frame_shape_ : tuple
        ``frames.shape[1:]`` in fit.
    n_features_in_ : int
        Embedding dimension.
    history_, best_epoch_, n_epochs_, stopped_early_
        (standardised MSE + gradient term).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> E = rng.uniform(-1, 1, (200, 2))                             # blob positions
    >>> y, x = np.mgrid[:16, :16] / 8.0 - 1
    >>> frames = 255 * np.exp(-((y - E[:, :1, None]) ** 2 + (x - E[:, 1:, None]) ** 2) / 0.1)
    >>> dec = ConditionalFrameDecoder(max_epochs=2, random_state=0).fit(E, frames)
    >>> dec.predict(E[:3]).shape
    (3, 16, 16)
    """

    _fit_call = "fit(E, frames)"

    def __init__(
        self,
        hidden: int = 256,
        channels=(64, 32, 16),
        *,
        dropout: float = 0.0,
        gradient_weight: float = 0.0,
        batch_size: int = 32,
        max_epochs: int = 100,
        patience: int = 10,
        min_delta: float = 1e-4,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        checkpoint_dir=None,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.hidden = hidden
        self.channels = channels
        self.dropout = dropout
        self.gradient_weight = gradient_weight
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # the target is frames (n, H, W), (n, K, H, W) or RGB
        tags.target_tags.single_output = False
        return tags

    def _check_params(self) -> tuple[int, ...]:
        check_int("hidden", self.hidden)
        channels = check_sizes("channels", self.channels)
        _check_real("dropout", self.dropout, 0, 1, high_open=True)
        _check_real("gradient_weight", self.gradient_weight, 0)
        _check_common(self)
        return channels

    def _loss(self, pred, target):
        loss = ((pred - target) ** 2).mean()
        if self.gradient_weight:
            loss = loss + float(self.gradient_weight) * _gradient_mse(pred, target)
        return loss

    def fit(self, E, frames, *, validation=None) -> ConditionalFrameDecoder:
        """Learn to paint ``frames`` from embeddings ``E`` (rows are pairs).

        Parameters
        ----------
        E : array_like, shape (n_samples, D)
        frames : array_like, shape (n_samples, H, W) or (n_samples, K, H, W)
            Also ``(..., 3)`` RGB; any units (e.g. 0-255).
        validation : tuple (E_val, frames_val) or None
            Pairs for early stopping; None: the last ``validation_fraction``
            of the rows.

        Returns
        -------
        self
        """
        channels = self._check_params()
        E, F_all, spec = self._paired_inputs(E, frames, "E")
        E_tr, F_tr, E_va, F_va = self._split_pairs(E, F_all, spec, validation, "E")
        self.frame_shape_, self.n_features_in_ = spec, E.shape[1]
        self.e_mean_, self.e_scale_ = standardiser(E_tr)
        self._fit_pixel_scaling(F_tr)

        rng = self._seed()
        device = self._resolve_device()
        hw = F_all.shape[2:]
        net = _frame_decoder(E.shape[1], int(self.hidden), channels, F_all.shape[1], float(self.dropout), hw).to(device)
        optimizer = _adamw(self, net.parameters())
        e_tr, f_tr = to_tensor(self._scale_E(E_tr), device), to_tensor(self._scale_frames(F_tr), device)
        e_va, f_va = to_tensor(self._scale_E(E_va), device), to_tensor(self._scale_frames(F_va), device)
        bs = int(self.batch_size)

        def loss(e, f):
            return self._loss(_decode(net, e, hw), f)

        self._train(
            net,
            optimizer,
            train_epoch=lambda: _shuffled_epoch(
                optimizer, rng, len(e_tr), bs, device, lambda ids: loss(e_tr[ids], f_tr[ids])
            ),
            validate=_held_out_loss(lambda rows: loss(e_va[rows], f_va[rows]), len(e_va), bs),
            rng=rng,
            shapes={
                "E": E.shape,
                "frames": (F_all.shape, spec),
                "validation": "split" if validation is None else (E_va.shape, F_va.shape),
            },
            data=(E, F_all, E_va, F_va),
        )
        return self

    def _scale_E(self, E: np.ndarray) -> np.ndarray:
        return (E - self.e_mean_) / self.e_scale_

    _scale_inputs = _scale_E

    def predict(self, E) -> np.ndarray:
        """Frames painted from embeddings.

        Parameters
        ----------
        E : array_like, shape (n_samples, D)

        Returns
        -------
        ndarray, shape (n_samples, ``*frame_shape_``), float32
            In the units and layout of the training frames.
        """
        return self._generate(E, "E")

    def score(self, E, frames) -> float:
        """Mean over samples of the Pearson correlation between predicted and true pixels (of a sample)."""
        return self._frame_score(self.predict(E), frames, rows_of="E")


# =============================================================================================
# Kupershmidt et al.: video -> fMRI encoder, fMRI -> video decoder, self-supervised cycle
# =============================================================================================
def _frame_encoder(in_channels: int, channels: tuple[int, ...], frame_hw: tuple[int, int], n_out: int, dropout: float):
    """3x3 stride-2 convolutions (ReLU) -> flattened features; dropout and a linear read-out of the voxels."""
    from torch import nn

    layers, width, h, w = [], in_channels, frame_hw[0], frame_hw[1]
    for c in channels:
        layers += [nn.Conv2d(width, c, 3, stride=2, padding=1), nn.ReLU()]
        width, h, w = c, math.ceil(h / 2), math.ceil(w / 2)
    layers.append(nn.Flatten())
    net = nn.ModuleDict(
        {
            "features": nn.Sequential(*layers),
            "head": nn.Sequential(nn.Dropout(dropout), nn.Linear(width * h * w, n_out)),
        }
    )
    keras_init(net)
    return net


def _encoder_loss(r, r_hat, alpha: float, normalise_norm: bool = False):
    """Kupershmidt et al.'s fMRI loss per sample, averaged: ``||r - r_hat||_2 + alpha (1 - cos(r, r_hat))``.

    ``normalise_norm`` divides the norm by sqrt(V) (the RMS error), as the
    decoder's ``L_R`` term does so that its three terms have similar scales.
    """
    from torch.nn import functional as F

    dist = (r - r_hat).norm(dim=1)
    if normalise_norm:
        dist = dist / math.sqrt(r.shape[1])
    return (dist + alpha * (1 - F.cosine_similarity(r, r_hat, dim=1, eps=1e-8))).mean()


class VideoFMRIEncoder(RegressorMixin, _FrameNet):
    """Video -> fMRI encoder of Kupershmidt et al. (2022), trained with their loss and schedule.

    Each sample's frames (a clip of K frames, grey or RGB, stacked as input
    channels and standardised with the training mean and standard deviation
    of all pixels) pass through ``len(channels)`` 3x3 stride-2 convolutions
    with ReLU; the flattened feature map (its spatial layout kept, as voxels
    have receptive fields) is read out linearly, after dropout, into the
    voxels (standardised per voxel). Loss, per sample and averaged over a
    batch:

    ``L_E(r, r_hat) = ||r - r_hat||_2 + alpha * (1 - cos(r, r_hat))``, alpha = 0.5

    (the survey prints ``+ alpha cos``, which would reward dissimilar
    patterns; the cosine *distance* is meant). Optimiser Adam, learning rate
    1e-4 multiplied by 0.2 every 3 epochs (StepLR), 10 epochs, as in the
    paper. The paper's encoder starts from pretrained AlexNet layers; this
    one is small and trained from scratch. Early stopping watches
    ``L_E`` on a validation set (with ``patience >= max_epochs`` all epochs
    run and the best one is kept).

    Parameters
    ----------
    channels : tuple of int, default (16, 32, 64)
        Channels of the convolutions.
    alpha : float, default 0.5
        Weight of the cosine distance.
    dropout : float, default 0.2
        Dropout before the read-out.
    batch_size : int, default 16
    max_epochs : int, default 10
    learning_rate : float, default 1e-4
    lr_step_epochs : int or None, default 3
        Epochs between learning-rate reductions; None: constant.
    lr_gamma : float, default 0.2
        Factor of each reduction.
    weight_decay : float, default 0.0
        Adam's L2 penalty.
    patience, min_delta : default 10, 0.0
    validation_fraction, checkpoint_dir, random_state, device
        As :class:`MaskedBrainAutoencoder`.

    Attributes
    ----------
    network_ : torch.nn.ModuleDict
        ``features`` (convolutions, flattened) and ``head`` (dropout, linear).
    frame_shape_ : tuple
        ``frames.shape[1:]`` in fit.
    n_voxels_ : int
    pixel_mean_, pixel_scale_ : float
        Frame standardisation.
    y_mean_, y_scale_ : ndarray, shape (V,)
        Voxel standardisation.
    history_, best_epoch_, n_epochs_, stopped_early_
        (``L_E`` in standardised units).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frames = rng.uniform(0, 255, (120, 2, 16, 16))           # 120 clips of 2 frames
    >>> X = frames.reshape(120, -1) @ rng.standard_normal((512, 30)) / 255   # 30 voxels
    >>> enc = VideoFMRIEncoder(max_epochs=2, random_state=0).fit(frames, X)
    >>> enc.predict(frames).shape, enc.score_targets(frames, X).shape   # per-voxel r
    ((120, 30), (30,))
    """

    _fit_call = "fit(frames, X)"

    def __init__(
        self,
        channels=(16, 32, 64),
        *,
        alpha: float = 0.5,
        dropout: float = 0.2,
        batch_size: int = 16,
        max_epochs: int = 10,
        learning_rate: float = 1e-4,
        lr_step_epochs: int | None = 3,
        lr_gamma: float = 0.2,
        weight_decay: float = 0.0,
        patience: int = 10,
        min_delta: float = 0.0,
        validation_fraction: float = 0.1,
        checkpoint_dir=None,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.channels = channels
        self.alpha = alpha
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.learning_rate = learning_rate
        self.lr_step_epochs = lr_step_epochs
        self.lr_gamma = lr_gamma
        self.weight_decay = weight_decay
        self.patience = patience
        self.min_delta = min_delta
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # the input is frames (n, H, W), (n, K, H, W) or RGB
        tags.input_tags.three_d_array = True
        tags.target_tags.multi_output = True  # scans (n, n_voxels)
        return tags

    def _check_params(self) -> tuple[int, ...]:
        channels = check_sizes("channels", self.channels)
        _check_real("alpha", self.alpha, 0)
        _check_real("dropout", self.dropout, 0, 1, high_open=True)
        _check_lr_schedule(self)
        _check_common(self)
        return channels

    def fit(self, frames, X, *, validation=None) -> VideoFMRIEncoder:
        """Learn to predict scans ``X`` from the frames shown.

        Parameters
        ----------
        frames : array_like, shape (n_samples, H, W) or (n_samples, K, H, W)
            Also ``(..., 3)`` RGB; the stimulus of each scan (e.g. the clip
            of the last TR, shifted for the haemodynamic lag).
        X : array_like, shape (n_samples, n_voxels)
        validation : tuple (frames_val, X_val) or None
            Pairs for early stopping; None: the last ``validation_fraction``
            of the rows.

        Returns
        -------
        self
        """
        import torch

        channels = self._check_params()
        X, F_all, spec = self._paired_inputs(X, frames, "X")
        F_tr, X_tr, F_va, X_va = self._split_pairs(X, F_all, spec, validation, "X", frames_first=True)
        self.frame_shape_, self.n_voxels_ = spec, X.shape[1]
        self._fit_pixel_scaling(F_tr)
        self.y_mean_, self.y_scale_ = standardiser(X_tr)

        rng = self._seed()
        device = self._resolve_device()
        net = _frame_encoder(F_all.shape[1], channels, F_all.shape[2:], X.shape[1], float(self.dropout)).to(device)
        optimizer = torch.optim.Adam(
            net.parameters(), lr=float(self.learning_rate), weight_decay=float(self.weight_decay)
        )
        f_tr, y_tr = to_tensor(self._scale_frames(F_tr), device), to_tensor(self._scale_X(X_tr), device)
        f_va, y_va = to_tensor(self._scale_frames(F_va), device), to_tensor(self._scale_X(X_va), device)
        bs, alpha, schedule = int(self.batch_size), float(self.alpha), _lr_schedule(self)

        def loss(f, y):
            return _encoder_loss(y, net["head"](net["features"](f)), alpha)

        def train_epoch() -> float:
            _step_learning_rate(optimizer, *schedule)
            return _shuffled_epoch(optimizer, rng, len(f_tr), bs, device, lambda ids: loss(f_tr[ids], y_tr[ids]))

        self._train(
            net,
            optimizer,
            train_epoch=train_epoch,
            validate=_held_out_loss(lambda rows: loss(f_va[rows], y_va[rows]), len(f_va), bs),
            rng=rng,
            shapes={
                "frames": (F_all.shape, spec),
                "X": X.shape,
                "validation": "split" if validation is None else (F_va.shape, X_va.shape),
            },
            data=(F_all, X, F_va, X_va),
        )
        return self

    def _scale_X(self, X: np.ndarray) -> np.ndarray:
        return (X - self.y_mean_) / self.y_scale_

    def predict(self, frames) -> np.ndarray:
        """Predicted scans.

        Parameters
        ----------
        frames : array_like, shape (n_samples, ``*frame_shape_``)

        Returns
        -------
        ndarray, shape (n_samples, n_voxels), float32
            In the units of the training ``X``.
        """
        net, device = self._network_for_use()
        F, _ = _check_frames(frames, "frames", spec=self.frame_shape_)
        out = _predict_blocks(
            lambda f: net["head"](net["features"](f)), self._scale_frames(F), int(self.batch_size), device
        )
        return out * self.y_scale_ + self.y_mean_

    def score_targets(self, frames, X) -> np.ndarray:
        """Pearson correlation per voxel between predicted and measured scans (over samples).

        Parameters
        ----------
        frames : array_like, shape (n_samples, ``*frame_shape_``)
        X : array_like, shape (n_samples, n_voxels)
            The measured scans.

        Returns
        -------
        ndarray, shape (n_voxels,)
            0 for a voxel whose prediction or measurement is constant.
        """
        pred = self.predict(frames)
        X = _check_samples(X, "X", n_rows=len(pred), n_cols=self.n_voxels_, rows_of="frames")
        return _column_correlations(X, pred)

    def score(self, frames, X) -> float:
        """Mean over voxels of :meth:`score_targets`: the mean prediction accuracy (Pearson r) of a voxel.

        Parameters
        ----------
        frames : array_like, shape (n_samples, ``*frame_shape_``)
        X : array_like, shape (n_samples, n_voxels)

        Returns
        -------
        float
        """
        return float(self.score_targets(frames, X).mean())


class FMRIVideoDecoder(RegressorMixin, _FrameNet):
    """fMRI -> video decoder of Kupershmidt et al. (2022), with their self-supervised video -> fMRI -> video cycle.

    The decoder maps a scan (voxels standardised with the statistics of the
    fitted ``encoder``) to the frames of its clip, with the network of
    :class:`ConditionalFrameDecoder` (dense layer, transposed convolutions),
    in the encoder's standardised pixel units. Its loss, for decoded frames
    ``x_hat = D(r)`` of true frames ``x`` and scan ``r``, is

    ``L_D = 0.35 L_im + 0.35 L_vid + 0.3 L_R (+ tv_weight * TV(x_hat))``

    where the paper leaves the terms loosely specified; here:

    - ``L_im`` (image level): the mean squared pixel error over all frames
      of the clip;
    - ``L_vid`` (video level): the mean squared distance between the frozen
      encoder's convolutional embeddings of the decoded and the true clip
      (the "L2 distance between embeddings" of the survey; the encoder sees
      the whole clip) plus, for clips of K >= 2 frames, the mean squared
      error of the temporal frame differences ``x[k+1] - x[k]``;
    - ``L_R``: the encoder loss of re-encoding the decoded frames with the
      frozen encoder, ``||r - E(x_hat)||_2 / sqrt(V) + alpha (1 - cos(r,
      E(x_hat)))`` (the norm divided by sqrt(V) so the three terms have
      similar scales; ``alpha`` is the encoder's);
    - the survey reads ``L_R`` as a smoothness regulariser instead: that is
      the optional total-variation term ``tv_weight`` (mean absolute pixel
      difference between neighbours), 0 by default.

    Self-supervised cycle (no fMRI needed): with ``unpaired`` videos, every
    optimiser step also draws a batch of them, encodes it with the frozen
    encoder (``r~ = E(v)``), decodes ``D(r~)`` and adds ``unpaired_weight``
    x the same loss with ``(v, r~)`` in place of ``(x, r)``. The decoder
    thus learns to invert the encoder on many natural videos, beyond the
    few paired scans. Early stopping watches ``L_D`` on paired validation
    data only.

    Parameters
    ----------
    encoder : VideoFMRIEncoder
        A fitted encoder (required; a copy is used, frozen). The decoder
        adopts its frame layout and its pixel and voxel standardisation.
    hidden : int, default 256
    channels : tuple of int, default (64, 32, 16)
        As :class:`ConditionalFrameDecoder`.
    loss_weights : tuple of 3 floats, default (0.35, 0.35, 0.3)
        Weights of ``L_im``, ``L_vid`` and ``L_R`` (the paper's beta, gamma, delta).
    unpaired_weight : float, default 1.0
        Weight of the loss on unpaired videos.
    cycle_noise : float, default 0.0
        Gaussian noise added to the encoder's predictions ``r~`` of unpaired
        videos, per voxel with this multiple of the standard deviation of
        the encoder's residuals on the paired training scans, so that the
        cycle's inputs are as noisy as real scans (an addition to the
        paper; 0: off). On the simulation of the tests the cycle raises the
        held-out pixel correlation by 0.002-0.012 without noise and by
        0.012-0.018 with ``cycle_noise=1`` (3 seeds).
    tv_weight : float, default 0.0
    dropout : float, default 0.0
    batch_size : int, default 16
        Paired samples per step (and unpaired videos per step).
    max_epochs, patience, min_delta : default 100, 10, 1e-4
        An epoch is one pass over the paired samples.
    learning_rate : float, default 1e-3
    lr_step_epochs : int or None, default None
    lr_gamma : float, default 0.2
        StepLR schedule as :class:`VideoFMRIEncoder` (off by default).
    weight_decay : float, default 0.0
    validation_fraction, checkpoint_dir, random_state, device
        As :class:`MaskedBrainAutoencoder`.

    Attributes
    ----------
    network_ : torch.nn.Sequential
        The decoder.
    frame_shape_ : tuple
    n_features_in_ : int
        Voxels.
    history_, best_epoch_, n_epochs_, stopped_early_
        (``L_D``, plus the unpaired term in ``history_["loss"]``).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> frames = rng.uniform(0, 255, (100, 16, 16))
    >>> X = frames.reshape(100, -1) @ rng.standard_normal((256, 30)) / 255
    >>> enc = VideoFMRIEncoder(max_epochs=1, random_state=0).fit(frames, X)
    >>> videos = rng.uniform(0, 255, (50, 16, 16))                        # no fMRI for these
    >>> dec = FMRIVideoDecoder(enc, max_epochs=1, random_state=0).fit(X, frames, unpaired=videos)
    >>> dec.predict(X[:4]).shape
    (4, 16, 16)
    """

    _fit_call = "fit(X, frames)"

    def __init__(
        self,
        encoder=None,
        *,
        hidden: int = 256,
        channels=(64, 32, 16),
        loss_weights=(0.35, 0.35, 0.3),
        unpaired_weight: float = 1.0,
        cycle_noise: float = 0.0,
        tv_weight: float = 0.0,
        dropout: float = 0.0,
        batch_size: int = 16,
        max_epochs: int = 100,
        patience: int = 10,
        min_delta: float = 1e-4,
        learning_rate: float = 1e-3,
        lr_step_epochs: int | None = None,
        lr_gamma: float = 0.2,
        weight_decay: float = 0.0,
        validation_fraction: float = 0.1,
        checkpoint_dir=None,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.encoder = encoder
        self.hidden = hidden
        self.channels = channels
        self.loss_weights = loss_weights
        self.unpaired_weight = unpaired_weight
        self.cycle_noise = cycle_noise
        self.tv_weight = tv_weight
        self.dropout = dropout
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.lr_step_epochs = lr_step_epochs
        self.lr_gamma = lr_gamma
        self.weight_decay = weight_decay
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # the target is frames (n, *encoder.frame_shape_)
        tags.target_tags.single_output = False
        return tags

    def _check_params(self) -> tuple[tuple[int, ...], tuple[float, float, float]]:
        if not isinstance(self.encoder, VideoFMRIEncoder):
            raise InputError(
                f"encoder: got {type(self.encoder).__name__}, expected a fitted VideoFMRIEncoder "
                f"(its frozen copy scores L_vid and L_R and drives the video -> fMRI -> video cycle)"
            )
        if not hasattr(self.encoder, "network_"):
            raise InputError("encoder: the VideoFMRIEncoder is not fitted; call its fit(frames, X) first")
        check_int("hidden", self.hidden)
        channels = check_sizes("channels", self.channels)
        try:
            weights = tuple(float(w) for w in self.loss_weights)
        except (TypeError, ValueError):
            weights = ()
        if len(weights) != 3 or not all(np.isfinite(weights)) or min(weights) < 0 or sum(weights) <= 0:
            raise InputError(
                f"loss_weights: got {self.loss_weights!r}, expected 3 non-negative weights "
                f"(L_im, L_vid, L_R), not all 0"
            )
        _check_real("unpaired_weight", self.unpaired_weight, 0)
        _check_real("cycle_noise", self.cycle_noise, 0)
        _check_real("tv_weight", self.tv_weight, 0)
        _check_real("dropout", self.dropout, 0, 1, high_open=True)
        _check_lr_schedule(self)
        _check_common(self)
        return channels, weights  # type: ignore[return-value]

    def fit(self, X, frames, *, unpaired=None, validation=None) -> FMRIVideoDecoder:
        """Learn to decode frames from scans, with the self-supervised cycle on ``unpaired`` videos.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_voxels)
            Scans (the voxels of the encoder).
        frames : array_like, shape (n_samples, ``*encoder.frame_shape_``)
            The stimulus frames of each scan.
        unpaired : array_like, shape (n_videos, ``*encoder.frame_shape_``), optional
            Extra natural video clips without fMRI, for the video -> fMRI ->
            video cycle.
        validation : tuple (X_val, frames_val) or None
            Pairs for early stopping; None: the last ``validation_fraction``
            of the rows.

        Returns
        -------
        self
        """
        import torch

        channels, weights = self._check_params()
        enc = self.encoder
        X, F_all, spec = self._paired_inputs(
            X, frames, "X", n_cols=enc.n_voxels_, cols_as="the voxels of the encoder", spec=enc.frame_shape_
        )
        F_un = None if unpaired is None else _check_frames(unpaired, "unpaired", spec=enc.frame_shape_)[0]
        X_tr, F_tr, X_va, F_va = self._split_pairs(X, F_all, spec, validation, "X")
        self.frame_shape_, self.n_features_in_ = spec, X.shape[1]
        k_frames, n_colours = _frame_geometry(spec)[:2]

        rng = self._seed()
        device = self._resolve_device()
        frozen = copy.deepcopy(enc.network_).to(device).eval()
        for p in frozen.parameters():
            p.requires_grad_(False)
        hw = F_all.shape[2:]
        net = _frame_decoder(X.shape[1], int(self.hidden), channels, F_all.shape[1], float(self.dropout), hw).to(device)
        optimizer = _adamw(self, net.parameters())
        r_tr, f_tr = to_tensor(enc._scale_X(X_tr), device), to_tensor(enc._scale_frames(F_tr), device)
        r_va, f_va = to_tensor(enc._scale_X(X_va), device), to_tensor(enc._scale_frames(F_va), device)
        f_un = None if F_un is None else to_tensor(enc._scale_frames(F_un), device)
        bs, schedule = int(self.batch_size), _lr_schedule(self)
        w_im, w_vid, w_r = weights
        alpha, w_un, w_tv = float(enc.alpha), float(self.unpaired_weight), float(self.tv_weight)
        noise_sd = None
        if f_un is not None and float(self.cycle_noise) > 0:
            with torch.no_grad():  # per-voxel residual of the encoder on the paired training scans
                resid = r_tr - torch.cat(
                    [frozen["head"](frozen["features"](f_tr[s : s + bs])) for s in range(0, len(f_tr), bs)]
                )
            noise_sd = float(self.cycle_noise) * resid.std(0, keepdim=True)

        def decoder_loss(r, x):
            x_hat = _decode(net, r, hw)
            loss = w_im * ((x_hat - x) ** 2).mean()
            emb_hat = frozen["features"](x_hat)
            if w_vid:
                l_vid = ((emb_hat - frozen["features"](x)) ** 2).mean()
                if k_frames > 1:
                    shape = (len(x), k_frames, n_colours, *hw)
                    d_hat, d = x_hat.reshape(shape).diff(dim=1), x.reshape(shape).diff(dim=1)
                    l_vid = l_vid + ((d_hat - d) ** 2).mean()
                loss = loss + w_vid * l_vid
            if w_r:
                loss = loss + w_r * _encoder_loss(r, frozen["head"](emb_hat), alpha, normalise_norm=True)
            if w_tv:
                loss = loss + w_tv * (x_hat.diff(dim=-1).abs().mean() + x_hat.diff(dim=-2).abs().mean()) / 2
            return loss

        def batch_loss(ids):
            loss = decoder_loss(r_tr[ids], f_tr[ids])
            if f_un is not None and w_un:
                pick = rng.choice(len(f_un), size=min(len(f_un), len(ids)), replace=False)
                v = f_un[torch.from_numpy(pick).to(device)]
                with torch.no_grad():
                    r_cycle = frozen["head"](frozen["features"](v))
                    if noise_sd is not None:
                        r_cycle = r_cycle + noise_sd * torch.randn(r_cycle.shape, device=device)
                loss = loss + w_un * decoder_loss(r_cycle, v)
            return loss

        def train_epoch() -> float:
            _step_learning_rate(optimizer, *schedule)
            return _shuffled_epoch(optimizer, rng, len(r_tr), bs, device, batch_loss)

        self._train(
            net,
            optimizer,
            train_epoch=train_epoch,
            validate=_held_out_loss(lambda rows: decoder_loss(r_va[rows], f_va[rows]), len(r_va), bs),
            rng=rng,
            shapes={
                "X": X.shape,
                "frames": (F_all.shape, spec),
                "unpaired": None if F_un is None else F_un.shape,
                "validation": "split" if validation is None else (X_va.shape, F_va.shape),
            },
            data=(X, F_all, X_va, F_va) + (() if F_un is None else (F_un,)),
        )
        self.pixel_mean_, self.pixel_scale_ = enc.pixel_mean_, enc.pixel_scale_
        self.y_mean_, self.y_scale_ = enc.y_mean_.copy(), enc.y_scale_.copy()
        return self

    def predict(self, X) -> np.ndarray:
        """Frames decoded from scans.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_voxels)

        Returns
        -------
        ndarray, shape (n_samples, ``*frame_shape_``), float32
            In the units and layout of the training frames.
        """
        return self._generate(X, "X")

    def _scale_inputs(self, X: np.ndarray) -> np.ndarray:
        return (X - self.y_mean_) / self.y_scale_

    def score(self, X, frames) -> float:
        """Mean over samples of the Pearson correlation between decoded and true pixels (of a sample)."""
        return self._frame_score(self.predict(X), frames, rows_of="X")
