"""Stimulus features of the fMRI study: frames -> scan regressors, the built-in CNN's features and their cache.

:func:`scan_regressors` is the forward model from frame-rate signals to one row per scan (SPM's
canonical HRF at the frame rate, restarting at every run, then the mean of each scan's frames) that
both the analysis (``fmri encode``) and the simulator use. :func:`cnn_features` computes the built-in
EfficientNet-Lite0's per-frame features; :func:`save_feature_cache` / :func:`load_feature_cache` keep
them in a data folder's ``features.npz`` (format in :mod:`neurocine.fmri.simulate`);
:func:`stimulus_features` gives the features of a data folder's splits (CNN taps, from the cache when
it matches, or the Gabor motion-energy pyramid).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.features.fmri import convolve_hrf
from neurocine.io.fmri import FMRIData, run_slices
from neurocine.validation import check_int

__all__ = [
    "FEATURES_FILE",
    "FEATURE_MODEL",
    "cnn_features",
    "default_input_size",
    "feature_config",
    "gabor_features",
    "load_feature_cache",
    "log_activations",
    "save_feature_cache",
    "scan_regressors",
    "stimulus_features",
    "unique_frames",
]

#: Name of the built-in model in feature-cache configs.
FEATURE_MODEL = "efficientnet-lite0"
#: The feature cache inside a data folder.
FEATURES_FILE = "features.npz"


# --------------------------------------------------------------------------- timing: frames -> scans


def scan_regressors(x: Any, fps: float, tr: float, frames_per_scan: int, runs: Any = None) -> np.ndarray:
    """Frame-rate signals -> one row per scan: SPM canonical HRF at the frame rate, then the mean of each scan's frames.

    ``x[f]`` is shown at ``f / fps`` seconds; scan ``k`` averages the
    HRF-convolved signal over its ``frames_per_scan`` frames (the seconds
    ``[k tr, (k + 1) tr)``). The convolution restarts at every run (no carry
    over between runs).

    Parameters
    ----------
    x : array_like, shape (n_scans * frames_per_scan, F) or (n_scans * frames_per_scan,)
    fps : float
        Frame rate (Hz); ``fps * tr == frames_per_scan``.
    tr : float
        Repetition time (s).
    frames_per_scan : int
    runs : array_like of int, shape (n_scans,), optional
        Run label of each scan (contiguous runs); default one run.

    Returns
    -------
    ndarray, shape (n_scans, F) (or (n_scans,)), float64

    Examples
    --------
    >>> x = np.zeros(20); x[0] = 1.0
    >>> y = scan_regressors(x, fps=1.0, tr=2.0, frames_per_scan=2)
    >>> y.shape, int(y.argmax())
    ((10,), 2)
    """
    k = check_int("frames_per_scan", frames_per_scan)
    arr = np.asarray(x, dtype=np.float64)
    one_d = arr.ndim == 1
    a2 = arr.reshape(arr.shape[0], -1)
    if a2.shape[0] % k:
        raise InputError(f"x: has {a2.shape[0]} frames; expected a multiple of frames_per_scan = {k}")
    if abs(fps * tr - k) > 1e-6 * k:
        raise InputError(f"fps: {fps:g} Hz x tr {tr:g} s = {fps * tr:g} frames; expected frames_per_scan = {k}")
    n_scans = a2.shape[0] // k
    out = np.empty((n_scans, a2.shape[1]))
    for s in run_slices(runs, n_scans):
        block = a2[s.start * k : s.stop * k]
        conv = convolve_hrf(block, fps)
        out[s] = conv.reshape(s.stop - s.start, k, -1).mean(1)
    return out[:, 0] if one_d else out


# --------------------------------------------------------------------------- CNN features


def log_activations(x: Any) -> np.ndarray:
    """Signed log of network activations, ``sign(x) log(1 + |x|)`` (Wen et al. 2018 log-transform them before PCA).

    It compresses the heavy right tail of rectified activations (identity near 0, logarithmic for
    large values) and keeps the sign of the linear (un-rectified) outputs of some taps.

    Parameters
    ----------
    x : array_like, any shape

    Returns
    -------
    ndarray, same shape, float64

    Examples
    --------
    >>> log_activations([0.0, np.e - 1, -(np.e - 1)]).round(6).tolist()
    [0.0, 1.0, -1.0]
    """
    a = np.asarray(x, dtype=np.float64)
    return np.sign(a) * np.log1p(np.abs(a))


def default_input_size(frame_shape: Sequence[int]) -> tuple[int, int]:
    """Network input for frames of ``frame_shape``: the frame size, scaled down so the longer side is <= 224.

    Sides are rounded to multiples of 8 and at least 32.
    """
    h, w = (int(v) for v in frame_shape[:2])
    scale = min(1.0, 224.0 / max(h, w))
    return tuple(max(32, int(round(v * scale / 8.0)) * 8) for v in (h, w))  # type: ignore[return-value]


def unique_frames(frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the distinct frames and, for every frame, the index of its distinct copy.

    Returns ``(first, inverse)`` with ``frames[first][inverse]`` equal to ``frames``: repeated
    presentations (a segment shown twice) are computed once.
    """
    keys: dict[bytes, int] = {}
    first: list[int] = []
    inverse = np.empty(len(frames), dtype=np.int64)
    for i in range(len(frames)):
        key = np.ascontiguousarray(frames[i]).tobytes()
        j = keys.get(key)
        if j is None:
            j = keys[key] = len(first)
            first.append(i)
        inverse[i] = j
    return np.asarray(first, dtype=np.int64), inverse


def feature_config(layers: Sequence[str], *, pooling: str = "mean", input_size: Sequence[int] = (224, 224)) -> dict:
    """The description of built-in CNN features stored with a feature cache."""
    return {
        "model": FEATURE_MODEL,
        "layers": [str(v) for v in layers],
        "pooling": str(pooling),
        "input_size": [int(v) for v in input_size],
    }


def cnn_features(
    frames: Any,
    layers: Sequence[str],
    *,
    pooling: str = "mean",
    input_size: Sequence[int] | None = None,
    device: str = "auto",
    batch_size: int = 32,
) -> dict[str, np.ndarray]:
    """Per-frame features of the built-in EfficientNet-Lite0 at the given taps, each distinct frame computed once.

    Parameters
    ----------
    frames : array_like, shape (T, H, W) or (T, H, W, 3)
        0-255.
    layers : sequence of str
        Taps of :class:`~neurocine.features.deep.DeepFeatureExtractor` (e.g. ``DEFAULT_LAYERS`` and ``"embedding"``).
    pooling : str, default "mean"
    input_size : (int, int), optional
        Network input; default :func:`default_input_size` of the frames.
    device, batch_size
        As :class:`~neurocine.features.deep.DeepFeatureExtractor`.

    Returns
    -------
    dict of str -> ndarray, shape (T, F_layer), float32
    """
    from neurocine.features.deep import DeepFeatureExtractor

    arr = np.asarray(frames)
    if arr.ndim not in (3, 4) or len(arr) == 0:
        raise InputError(f"frames: got shape {arr.shape}; expected (T, H, W) or (T, H, W, 3) frames")
    size = default_input_size(arr.shape[1:3]) if input_size is None else tuple(int(v) for v in input_size)
    first, inverse = unique_frames(arr)
    ex = DeepFeatureExtractor(
        layers=list(layers), pooling=pooling, input_size=size, value_range=255.0, batch_size=batch_size, device=device
    )
    feats = ex.transform(np.asarray(arr[first]))
    return {k: np.ascontiguousarray(v[inverse]) for k, v in feats.items()}


def save_feature_cache(path: str | os.PathLike, config: dict, features: dict[str, dict[str, np.ndarray]]) -> None:
    """Write ``{split: {layer: (n, F)}}`` with its config (see the module notes)."""
    arrays: dict[str, Any] = {
        f"{split}__{layer}": np.asarray(v, dtype=np.float32)
        for split, per_layer in features.items()
        for layer, v in per_layer.items()
    }
    np.savez(path, config=np.asarray(json.dumps(config)), **arrays)


def load_feature_cache(path: str | os.PathLike, config: dict, splits: Sequence[str]) -> dict | None:
    """Cached features for ``config`` (same model, pooling and input size; the layers may be a subset).

    Returns ``{split: {layer: array}}`` or None when the file is missing, unreadable or does not match.
    """
    p = Path(path)
    if not p.is_file():
        return None
    try:
        with np.load(p, allow_pickle=False) as z:
            cached = json.loads(str(z["config"]))
            if any(cached.get(k) != config.get(k) for k in ("model", "pooling", "input_size")):
                return None
            out: dict[str, dict[str, np.ndarray]] = {}
            for split in splits:
                out[split] = {}
                for layer in config["layers"]:
                    key = f"{split}__{layer}"
                    if key not in z.files:
                        return None
                    out[split][layer] = z[key]
            return out
    except (OSError, ValueError, KeyError, json.JSONDecodeError):
        return None


# --------------------------------------------------------------------------- a data folder's features


def gabor_features(data: FMRIData, splits: list[str]) -> dict[str, dict[str, np.ndarray]]:
    """Gabor motion energy per frame, one run at a time (temporal filters do not cross runs)."""
    from neurocine.features.gabor import GaborPyramid

    fps = data.fps
    tfs = tuple(f for f in (0.0, 2.0, 4.0) if f < fps / 2) or (0.0,)
    width = max(1, int(fps * 2.0 / 3.0))
    shape = data.frame_shape[:2]
    pyramid = GaborPyramid(shape, fps, temporal_frequencies=tfs, temporal_width=width)

    def movie(frames: np.ndarray) -> np.ndarray:
        arr = np.asarray(frames, dtype=np.float32)
        return arr.mean(-1) if arr.ndim == 4 else arr

    out: dict[str, dict[str, np.ndarray]] = {}
    k = data.frames_per_scan
    if "train" in splits:
        runs = data.train_run if data.train_run is not None else np.zeros(data.n_scans_train, dtype=np.int64)
        parts = [
            pyramid.transform(movie(data.stimulus_train[s.start * k : s.stop * k]))
            for s in run_slices(runs, data.n_scans_train)
        ]
        out["train"] = {"gabor": np.concatenate(parts)}
    if "test" in splits:
        out["test"] = {"gabor": pyramid.transform(movie(data.stimulus_test))}
    if "library" in splits and data.library_frames is not None:
        out["library"] = {"gabor": pyramid.transform(movie(data.library_frames))}
    return out


def stimulus_features(
    data: FMRIData,
    kind: str,
    layers: list[str],
    splits: list[str],
    *,
    recompute: bool,
    input_size: Any,
    device: str,
    batch_size: int,
) -> tuple[dict, dict]:
    """Per-frame features ``{split: {layer: (n_frames, F)}}`` and a description (cache hit or computed)."""
    if kind == "gabor":
        t0 = time.perf_counter()
        per_split = gabor_features(data, splits)
        return per_split, {"features": "gabor", "cache": "not used", "seconds": time.perf_counter() - t0}
    size = default_input_size(data.frame_shape) if input_size is None else tuple(int(v) for v in input_size)
    config = feature_config(layers, pooling="mean", input_size=size)
    splits = [s for s in splits if s != "library" or data.library_frames is not None]
    if not recompute:
        cached = load_feature_cache(data.folder / FEATURES_FILE, config, splits)
        if cached is not None:
            ok = all(
                len(cached[s][layers[0]]) == n
                for s, n in (
                    ("train", len(data.stimulus_train)),
                    ("test", len(data.stimulus_test)),
                    ("library", 0 if data.library_frames is None else len(data.library_frames)),
                )
                if s in cached
            )
            if ok:
                return cached, {"features": "efficientnet", "cache": str(data.folder / FEATURES_FILE), **config}
    t0 = time.perf_counter()
    frames: dict[str, Any] = {"train": data.stimulus_train, "test": data.stimulus_test, "library": data.library_frames}
    stacked = np.concatenate([np.asarray(frames[s]) for s in splits])
    feats = cnn_features(stacked, layers, input_size=size, device=device, batch_size=batch_size)
    out: dict[str, dict[str, np.ndarray]] = {}
    start = 0
    for s in splits:
        n = len(frames[s])
        out[s] = {layer: v[start : start + n] for layer, v in feats.items()}
        start += n
    return out, {"features": "efficientnet", "cache": "computed", "seconds": time.perf_counter() - t0, **config}
