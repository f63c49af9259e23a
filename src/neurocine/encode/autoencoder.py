"""Convolutional autoencoder of video crops: frames (T, H, W) <-> codes (T, code_size).

The "whisk CAE" and "behavioural CAE" of McCarthy (2019,
section II.H): an encoder alternating 3x3 convolutions (ReLU) and 2x2
max-pooling with 64/32/16/8 filters, a mirrored decoder alternating 3x3
convolutions and 2x up-sampling, a last convolution to one channel with a
sigmoid, and a binary cross-entropy loss on frames scaled to [0, 1]. The
flattened codes are the video features of the encoding models
(:class:`~neurocine.encode.sequence.SequenceRegressor`,
:class:`~neurocine.encode.sequence.SequenceClassifier`).

torch is imported when a model is fitted or used, not when this module is.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
from sklearn.base import TransformerMixin

from neurocine.errors import InputError
from neurocine.models.torch_base import TorchEstimator, check_sizes, holdout, keras_init
from neurocine.runtime import progress
from neurocine.validation import check_int

__all__ = ["PADDINGS", "ConvAutoencoder"]

#: How frames are padded to a multiple of ``2 ** len(filters)``.
PADDINGS = ("reflect", "zero")


def _check_frames(frames, name: str = "frames") -> np.ndarray:
    """``frames`` as an array (T, H, W) of uint8, bool or floats (not read: memory maps stay on disk)."""
    try:
        arr = frames if isinstance(frames, np.ndarray) else np.asarray(frames)
    except (ValueError, TypeError) as exc:
        raise InputError(f"{name}: cannot be read as an array ({exc}); expected frames (T, H, W)") from None
    if arr.ndim == 4 and arr.shape[-1] in (1, 3, 4):
        hint = "frames[..., 0]" if arr.shape[-1] == 1 else "a grey version, e.g. frames.mean(-1)"
        raise InputError(f"{name}: got shape {arr.shape} (channels last); expected grey frames (T, H, W): pass {hint}")
    if arr.ndim == 2:
        raise InputError(
            f"{name}: got a 2-D array of shape {arr.shape}; expected frames (T, H, W) (for one frame use frame[None])"
        )
    if arr.ndim != 3:
        raise InputError(f"{name}: got a {arr.ndim}-D array of shape {arr.shape}; expected frames (T, H, W)")
    if arr.dtype != np.uint8 and arr.dtype.kind not in "bf":
        raise InputError(f"{name}: has dtype {arr.dtype}; expected uint8 (0-255) or floats in [0, 1]")
    if min(arr.shape) < 1:
        raise InputError(f"{name}: has shape {arr.shape}; expected at least one frame of at least 1x1 pixels")
    return arr


def _to_unit(chunk: np.ndarray, name: str, first: int) -> np.ndarray:
    """A block of frames as float32 in [0, 1] (uint8 / 255); floats outside [0, 1] or non-finite raise."""
    if chunk.dtype == np.uint8:
        return chunk.astype(np.float32) / np.float32(255)
    out = np.asarray(chunk, dtype=np.float32)
    if chunk.dtype.kind == "f":
        bad = ~((out >= 0) & (out <= 1))  # NaN is bad too
        if bad.any():
            t, i, j = (int(k) for k in np.argwhere(bad)[0])
            raise InputError(
                f"{name}: frame {first + t} has value {chunk[t, i, j].item()!r} at pixel ({i}, {j}); "
                f"expected floats in [0, 1] or uint8 frames"
            )
    return out


def _bce_sum(logits, target):
    from torch.nn import functional as F

    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum")


class ConvAutoencoder(TransformerMixin, TorchEstimator):
    """Convolutional autoencoder of grey video frames, with flattened codes as features.

    Encoder: for each ``f`` in ``filters``, a ``kernel_size`` convolution
    with ``f`` output channels, same padding and ReLU, then 2x2 max-pooling.
    Decoder (mirrored): for each ``f`` in ``reversed(filters)``, a
    convolution with ``f`` channels and ReLU, then 2x nearest-neighbour
    up-sampling; a last convolution to one channel and a sigmoid. Loss:
    binary cross-entropy between the frames (scaled to [0, 1]) and their
    reconstructions; optimiser Adam; Keras' initialisation (Glorot-uniform
    kernels, zero biases: with torch's default some seeds start with dead
    code channels and never learn); early stopping on a validation set as
    :class:`~neurocine.encode.sequence.SequenceRegressor`.

    Frames of H x W pixels are padded at the bottom and right to the next
    multiple of ``m = 2 ** len(filters)`` (``padding``), so the code of a
    frame has shape ``(filters[-1], ceil(H / m), ceil(W / m))``; the
    reconstruction is cropped back to H x W and the loss counts only the
    frame's own pixels.

    Parameters
    ----------
    filters : tuple of int, default (64, 32, 16, 8)
        Output channels of the encoder convolutions (McCarthy 2019: 64/32/16/8);
        e.g. ``(16, 8)`` for a small, fast model.
    kernel_size : int, default 3
        Convolution size (odd).
    padding : {"reflect", "zero"}, default "reflect"
        How frames are padded to a multiple of ``2 ** len(filters)``:
        mirrored pixels (no artificial edge) or zeros (McCarthy 2019: "additional
        space"). ``"reflect"`` needs the padding to be smaller than the frame.
    batch_size : int, default 32
        Frames per optimiser step, and per block in :meth:`transform`,
        :meth:`inverse_transform`, :meth:`reconstruct` and :meth:`evaluate`.
    max_epochs, patience, min_delta, learning_rate
        Epoch limit, early-stopping patience (epochs) and tolerance (of the
        validation cross-entropy per pixel), Adam step size.
    validation_fraction : float, default 0.1
        Fraction of the frames, taken from the end (a contiguous block, so
        neighbouring frames do not leak), held out for early stopping when
        ``fit`` gets no ``validation``.
    checkpoint_dir : path or None, default None
        Save the training state here after every epoch; resume from it (see
        :mod:`neurocine.models.torch_base`).
    random_state : int or None
        Seed of the initial weights and of the shuffling; the same seed gives
        the same numbers on CPU.
    device : str, default "auto"
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda[:i]"``.

    Attributes
    ----------
    network_ : torch.nn.ModuleDict
        ``"encoder"`` and ``"decoder"`` (``torch.nn.Sequential``; the decoder
        ends with the last convolution, before the sigmoid).
    frame_shape_ : tuple (H, W)
    padded_shape_ : tuple (H', W')
        Frame shape after padding (multiples of ``2 ** len(filters)``).
    pad_ : tuple (rows, columns)
        Padding added at the bottom and at the right.
    code_shape_ : tuple (C, h, w)
        ``(filters[-1], H' / 2 ** len(filters), W' / 2 ** len(filters))``.
    code_size_ : int
        ``C * h * w``: columns of :meth:`transform`'s output.
    history_ : dict
        ``"loss"`` and ``"val_loss"``: mean cross-entropy per pixel, per epoch.
    best_epoch_, n_epochs_ : int
    stopped_early_ : bool

    Examples
    --------
    >>> import numpy as np
    >>> t, y, x = np.arange(200)[:, None, None], np.arange(24)[:, None], np.arange(30)
    >>> frames = np.exp(-((y - 12) ** 2 + (x - 15 - 8 * np.sin(t / 10)) ** 2) / 20)   # a moving blob
    >>> cae = ConvAutoencoder(filters=(8, 4), max_epochs=3, random_state=0).fit(frames)
    >>> cae.transform(frames).shape        # 4 channels x (24 / 4) x (32 / 4): 30 padded to 32
    (200, 192)
    >>> cae.reconstruct(frames).shape
    (200, 24, 30)
    """

    _fit_call = "fit(frames)"

    def __init__(
        self,
        filters=(64, 32, 16, 8),
        *,
        kernel_size: int = 3,
        padding: str = "reflect",
        batch_size: int = 32,
        max_epochs: int = 100,
        patience: int = 4,
        min_delta: float = 1e-4,
        learning_rate: float = 1e-3,
        validation_fraction: float = 0.1,
        checkpoint_dir=None,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.filters = filters
        self.kernel_size = kernel_size
        self.padding = padding
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.validation_fraction = validation_fraction
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ #
    # validation
    # ------------------------------------------------------------------ #
    def _check_params(self) -> tuple[int, ...]:
        filters = check_sizes("filters", self.filters, "channels of each encoder convolution", allow_int=False)
        kernel = check_int("kernel_size", self.kernel_size)
        if kernel % 2 == 0:
            raise InputError(f"kernel_size: got {kernel}, expected an odd integer (same padding)")
        if self.padding not in PADDINGS:
            raise InputError(f"padding: got {self.padding!r}, expected one of {', '.join(PADDINGS)}")
        self._check_training_params("batch_size", "max_epochs", "patience")
        if not (isinstance(self.validation_fraction, numbers.Real) and 0 < self.validation_fraction < 1):
            raise InputError(f"validation_fraction: got {self.validation_fraction!r}, expected a fraction in (0, 1)")
        return filters

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False  # grey frames (T, H, W), not a sample matrix
        tags.input_tags.three_d_array = True
        tags.target_tags.required = False
        return tags

    def _check_shape(self, frames: np.ndarray, name: str) -> None:
        if frames.shape[1:] != self.frame_shape_:
            raise InputError(
                f"{name}: has frames of {frames.shape[1]}x{frames.shape[2]} pixels, expected "
                f"{self.frame_shape_[0]}x{self.frame_shape_[1]} (as in fit)"
            )

    def _padding_for(self, shape: tuple[int, int], n_levels: int) -> tuple[int, int]:
        m = 2**n_levels
        pad = ((-shape[0]) % m, (-shape[1]) % m)
        if self.padding == "reflect" and (pad[0] >= shape[0] or pad[1] >= shape[1]):
            raise InputError(
                f"padding: 'reflect' cannot pad frames of {shape[0]}x{shape[1]} pixels by "
                f"{pad[0]}x{pad[1]} (to multiples of {m}); expected padding='zero' or fewer filters"
            )
        return pad

    # ------------------------------------------------------------------ #
    # network
    # ------------------------------------------------------------------ #
    def _build(self, filters: tuple[int, ...]):
        from torch import nn

        k, same = int(self.kernel_size), int(self.kernel_size) // 2
        encoder, channels = [], 1
        for f in filters:
            encoder += [nn.Conv2d(channels, f, k, padding=same), nn.ReLU(), nn.MaxPool2d(2)]
            channels = f
        decoder = []
        for f in reversed(filters):
            decoder += [nn.Conv2d(channels, f, k, padding=same), nn.ReLU(), nn.Upsample(scale_factor=2)]
            channels = f
        decoder.append(nn.Conv2d(channels, 1, k, padding=same))
        net = nn.ModuleDict({"encoder": nn.Sequential(*encoder), "decoder": nn.Sequential(*decoder)})
        keras_init(net)
        return net

    def _pad(self, x):
        """(B, H, W) tensor -> (B, 1, H', W'), padded at the bottom and right."""
        from torch.nn import functional as F

        pad_h, pad_w = self.pad_
        x = x[:, None]
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h), mode="reflect" if self.padding == "reflect" else "constant")
        return x

    def _logits(self, x):
        """(B, H, W) frames in [0, 1] -> reconstruction logits (B, H, W)."""
        net = self.network_
        h, w = self.frame_shape_
        return net["decoder"](net["encoder"](self._pad(x)))[:, 0, :h, :w]

    def _blocks(self, frames: np.ndarray, name: str, desc: str | None = None):
        """Yield ``(start, tensor (B, H, W) in [0, 1] on the device)`` over blocks of ``batch_size`` frames.

        A progress bar labelled ``desc`` is shown when ``desc`` is given (and bars are enabled).
        """
        import torch

        step = int(self.batch_size)
        starts = range(0, frames.shape[0], step)
        if desc is not None:
            starts = progress(starts, total=math.ceil(frames.shape[0] / step), desc=desc)
        for start in starts:
            chunk = _to_unit(np.asarray(frames[start : start + step]), name, start)
            yield start, torch.from_numpy(chunk).to(self.device_)

    # ------------------------------------------------------------------ #
    # fitting
    # ------------------------------------------------------------------ #
    def fit(self, frames, y=None, *, validation=None) -> ConvAutoencoder:
        """Train the autoencoder on ``frames`` with early stopping.

        Parameters
        ----------
        frames : array_like, shape (T, H, W)
            Grey frames: uint8 (0-255, divided by 255) or floats in [0, 1].
            A memory-mapped array is read frame block by frame block.
        y : ignored
        validation : array_like, shape (T_val, H, W), optional
            Frames for early stopping. None: the last ``validation_fraction``
            of ``frames`` (contiguous) is held out.

        Returns
        -------
        self

        Notes
        -----
        Every epoch visits the training frames once in a random order (from
        ``random_state``), in batches of ``batch_size``. With
        ``checkpoint_dir`` set, a later ``fit`` on the same frames with the
        same hyper-parameters resumes from the last epoch saved.
        """
        import torch

        filters = self._check_params()
        frames = _check_frames(frames)
        if validation is None:
            n_train = holdout(frames.shape[0], self.validation_fraction, "frames", unit="frames")
            train_frames, val_frames = frames[:n_train], frames[n_train:]
        else:
            val_frames = _check_frames(validation, "validation")
            if val_frames.shape[1:] != frames.shape[1:]:
                raise InputError(
                    f"validation: has frames of {val_frames.shape[1]}x{val_frames.shape[2]} pixels, "
                    f"expected {frames.shape[1]}x{frames.shape[2]} (as frames)"
                )
            train_frames = frames
        for arr, name in ((frames, "frames"), (val_frames, "validation")):  # range check before any training
            if arr.dtype.kind == "f":
                for start in range(0, arr.shape[0], 1024):
                    _to_unit(np.asarray(arr[start : start + 1024]), name, start)

        frame_shape = tuple(int(s) for s in frames.shape[1:])
        pad = self._padding_for(frame_shape, len(filters))
        self._forget_fit()  # a failed refit leaves an unfitted model
        self.frame_shape_, self.pad_ = frame_shape, pad
        self.padded_shape_ = (self.frame_shape_[0] + self.pad_[0], self.frame_shape_[1] + self.pad_[1])
        m = 2 ** len(filters)
        self.code_shape_ = (filters[-1], self.padded_shape_[0] // m, self.padded_shape_[1] // m)
        self.code_size_ = int(np.prod(self.code_shape_))

        rng = self._seed()
        self.device_ = self._resolve_device()
        self.network_ = net = self._build(filters).to(self.device_)
        optimizer = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
        n_train, step = train_frames.shape[0], int(self.batch_size)
        n_pixels = self.frame_shape_[0] * self.frame_shape_[1]

        def train_epoch() -> float:
            order = rng.permutation(n_train)
            total = torch.zeros((), device=self.device_)
            for start in range(0, n_train, step):
                idx = order[start : start + step]
                x = torch.from_numpy(_to_unit(np.asarray(train_frames[idx]), "frames", 0)).to(self.device_)
                loss = _bce_sum(self._logits(x), x) / x.numel()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(idx)
            return float(total) / n_train

        def validate() -> float:
            return self._bce(val_frames, "validation") / (val_frames.shape[0] * n_pixels)

        shapes = {
            "frames": f"{frames.shape} {frames.dtype}",
            "validation": "split" if validation is None else f"{val_frames.shape} {val_frames.dtype}",
        }
        self._train(
            net,
            optimizer,
            train_epoch=train_epoch,
            validate=validate,
            rng=rng,
            shapes=shapes,
            data=(frames, val_frames),
        )
        return self

    def _bce(self, frames: np.ndarray, name: str) -> float:
        """Summed cross-entropy of the reconstructions of ``frames`` (eval mode, no gradients)."""
        total = 0.0
        for _, x in self._blocks(frames, name):
            total += float(_bce_sum(self._logits(x), x))
        return total

    # ------------------------------------------------------------------ #
    # using a fitted model
    # ------------------------------------------------------------------ #
    def _frames_for_use(self, frames, name: str = "frames") -> np.ndarray:
        self._network_for_use()
        frames = _check_frames(frames, name)
        self._check_shape(frames, name)
        return frames

    def transform(self, frames) -> np.ndarray:
        """Codes of ``frames``, flattened: the video features for encoding models.

        Frames are encoded ``batch_size`` at a time, so only one block of
        activations is in memory (``frames`` may be a memory map).

        Parameters
        ----------
        frames : array_like, shape (T, H, W)
            uint8 or floats in [0, 1], of the fitted frame size.

        Returns
        -------
        ndarray, shape (T, ``code_size_``), float32
            Each row is a code of shape ``code_shape_`` (channel, row,
            column) in C order.
        """
        import torch

        frames = self._frames_for_use(frames)
        out = np.empty((frames.shape[0], self.code_size_), dtype=np.float32)
        with torch.no_grad():
            for start, x in self._blocks(frames, "frames", "encoding"):
                out[start : start + len(x)] = self.network_["encoder"](self._pad(x)).flatten(1).cpu().numpy()
        return out

    def fit_transform(self, frames, y=None, **fit_params) -> np.ndarray:
        """``fit(frames, **fit_params).transform(frames)``."""
        return self.fit(frames, **fit_params).transform(frames)

    def inverse_transform(self, codes) -> np.ndarray:
        """Frames decoded from codes.

        Parameters
        ----------
        codes : array_like, shape (T, ``code_size_``)

        Returns
        -------
        ndarray, shape (T, H, W), float32 in [0, 1]
        """
        import torch

        self._network_for_use()
        codes = np.asarray(codes, dtype=np.float32)
        if codes.ndim != 2 or codes.shape[1] != self.code_size_:
            raise InputError(f"codes: got shape {codes.shape}, expected (T, {self.code_size_}) (from transform)")
        if not np.isfinite(codes).all():
            raise InputError("codes: has NaN or infinite values; expected finite codes (from transform)")
        h, w = self.frame_shape_
        out = np.empty((codes.shape[0], h, w), dtype=np.float32)
        step = int(self.batch_size)
        with torch.no_grad():
            for start in range(0, codes.shape[0], step):
                c = torch.from_numpy(codes[start : start + step]).to(self.device_).reshape(-1, *self.code_shape_)
                out[start : start + step] = torch.sigmoid(self.network_["decoder"](c)[:, 0, :h, :w]).cpu().numpy()
        return out

    def reconstruct(self, frames) -> np.ndarray:
        """Encode and decode ``frames`` (T, H, W) block by block; returns (T, H, W) float32 in [0, 1]."""
        import torch

        frames = self._frames_for_use(frames)
        out = np.empty(frames.shape, dtype=np.float32)
        with torch.no_grad():
            for start, x in self._blocks(frames, "frames", "reconstructing"):
                out[start : start + len(x)] = torch.sigmoid(self._logits(x)).cpu().numpy()
        return out

    def evaluate(self, frames) -> dict:
        """Reconstruction quality of ``frames`` in one streaming pass.

        Parameters
        ----------
        frames : array_like, shape (T, H, W)

        Returns
        -------
        dict
            ``"bce"``: mean binary cross-entropy per pixel (the training
            loss; its floor is the mean pixel entropy, not 0, for frames
            with grey levels -- McCarthy 2019 reports 0.23-0.48); ``"r2"``:
            fraction of pixel variance explained, ``1 - SSE / SST`` with SST
            around the grand mean of all pixels (as
            :func:`neurocine.metrics.r2_score` on ``(T, H * W)``), both on
            the [0, 1] scale.
        """
        import torch

        frames = self._frames_for_use(frames)
        bce = sse = 0.0
        count, shift, s1, s2 = 0, None, 0.0, 0.0
        with torch.no_grad():
            for _, x in self._blocks(frames, "frames", "evaluating"):
                logits = self._logits(x)
                bce += float(_bce_sum(logits, x))
                x64 = x.double()
                sse += float(((torch.sigmoid(logits).double() - x64) ** 2).sum())
                shift = float(x64.mean()) if shift is None else shift  # shifted sums: no cancellation
                s1 += float((x64 - shift).sum())
                s2 += float(((x64 - shift) ** 2).sum())
                count += x.numel()
        sst = s2 - s1 * s1 / count
        return {"bce": bce / count, "r2": 1.0 - sse / sst if sst > 0 else float("nan")}

    def score(self, frames, y=None) -> float:
        """Fraction of pixel variance explained by the reconstruction (``evaluate(frames)["r2"]``)."""
        return self.evaluate(frames)["r2"]
