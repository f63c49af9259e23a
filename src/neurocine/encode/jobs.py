"""Encoding job: behaviour video + task signals -> design matrix -> ridge (+ LSTM) -> maps and attribution.

``neurocine encode CONFIG.toml --out DIR`` calls :func:`run_encode`;
``neurocine encode framerates CONFIG.toml... --out DIR`` calls
:func:`run_framerates`; ``neurocine encode simulate --out DIR`` writes the
built-in session (:func:`write_simulated_session`) with a ready config.

The config (TOML; every path relative to the config file)::

    name = "mouse1"                 # optional, default: the file's stem
    fps = 30.0                      # optional: else the video's or the stack's rate

    [video]                         # optional: motion energy of ROIs -> features "<roi>_me"
    path = "face.mp4"
    rois = "rois.toml"              # optional, default the full frame ("full"); an eye ROI with
                                    # pupil = true adds "<roi>_pupil" (diameter, group "pupil")
    use = ["whisker", "snout"]      # optional: ROI names to use (default all)
    bin = 1                         # k x k binning while decoding
    svd = 0                         # motion-SVD components per ROI -> "<roi>_svd<j>" (group <roi>_me)

    [behaviour]                     # optional: columns aligned with the frames (or, with [sync], a time column)
    path = "behaviour.csv"          # csv with a header, npz (data + channels), npy, nwb
    use = ["wheel", "pupil"]        # optional (default all numeric and categorical columns; text: ignored)
    categorical = ["stimulus"]      # optional: text or integer columns -> one-hot "stimulus=<level>"

    [sync]                          # optional: the rig's sync file puts every stream on the frame clock
    path = "sync.csv"               # (neurocine.encode.session): TTL samples or edge times
    frames = "widefield"            # channel with one pulse per frame of [neural]
    video = "camera"                # optional: one pulse per frame of [video]
    signals = ["wheel"]             # optional: analog channels resampled onto the frames
    [events.lick]                   # optional: event regressors from sync channels
    shape = "onset"                 # onset | boxcar (duration_s, or until the pulse falls); since = true

    [neural]                        # required: what the model predicts
    path = "widefield.npy"
    kind = "widefield"              # widefield (T, H, W) stack | traces (T, C) matrix or suite2p folder
    dff = "session"                 # widefield: none | sliding | block | session (one baseline per pixel)
    window = 30                     # sliding/block window (frames)
    bin = 1
    blur = 0.0                      # Gaussian sigma, binned pixels
    mask = "otsu"                   # none | otsu | MASK.npy (bool, binned coordinates)
    components = 0                  # > 0: fit the movie's top SVD components (exact per-pixel EV)
    power_iterations = 2            # of the components' randomized SVD (streaming: one pass over the movie each)
    key = "..."                     # h5/zarr dataset;   series = "..." NWB series
    shape = [52500, 640, 640]       # flat binary .dat/.bin/.raw only: (T, H, W) and dtype
    dtype = "uint16"
    streaming = "auto"              # true: one pass over the movie in chunks (neurocine.encode.streaming;
                                    # with components: 2 + power_iterations passes, neurocine.encode.components);
                                    # "auto": when the binned movie as float64 would exceed 2 GiB
    chunk = 256                     # frames per chunk of the streaming pass
    axes = "TYX"                    # widefield: stored axis order (YXT, TZYXC...); plane = 0, channel = 0 pick
                                    # one of a volume's planes / channels

    [design]
    kernel = "hemodynamic"          # none | hemodynamic (gamma kernel, causal)
    kernel_peak_s = 1.0
    kernel_length_s = 5.0
    running_means = [3]             # optional trailing means (frames) of every video feature
    zscore = true
    [design.groups]                 # optional: group name -> features (others: own group)
    stimulus = ["stimulus_visual", "stimulus_auditory"]

    [model]
    alphas = [0.1, 1.0, 10.0]       # optional, default 10^-3..10^6
    cv = 5                          # contiguous folds (outer and inner)
    backend = "numpy"               # numpy | torch
    device = "auto"
    seed = 0

    [sequence]                      # optional LSTM/GRU on the same test split as ridge
    enabled = false
    cell = "lstm"
    hidden = [13, 26]
    ...                             # dropout, dense (0: none), sequence_length, batch_size, steps_per_epoch,
                                    # max_epochs, patience, learning_rate (SequenceRegressor)

    [whisking]                      # optional: the CAE -> LSTM whisking classifier (McCarthy 2019)
    roi = "whisker"                 # n_sd = 2.0, filters = [64, 32, 16, 8], autoencoder_epochs,
                                    # classifier_epochs, classifier_hidden = [13, 26], classifier_dense = 250

    [truth]                         # optional: planted beta maps to score against
    path = "truth.npz"              # beta_<feature> (H, W), ceiling_ev, brain_mask
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.io.config import ConfigTable, read_config
from neurocine.io.results import JobResult, checkpoint_folder
from neurocine.report.html import JobFolder
from neurocine.runtime import progress

__all__ = [
    "EncodeConfig",
    "EncodingData",
    "build_design",
    "check_sequence_length",
    "load_encode_config",
    "open_neural_stack",
    "prepare_data",
    "run_encode",
    "run_framerates",
    "uses_streaming",
    "write_simulated_session",
]

_SEQUENCE_KEYS = {
    "cell": str,
    "hidden": list,
    "dropout": float,
    "dense": int,
    "sequence_length": int,
    "batch_size": int,
    "steps_per_epoch": int,
    "max_epochs": int,
    "patience": int,
    "learning_rate": float,
    "min_delta": float,
}


# --------------------------------------------------------------------------- config


@dataclass
class EncodeConfig:
    """A checked ``encode`` config (see the module docstring for the keys)."""

    file: Path
    name: str
    fps: float | None
    video: dict | None
    behaviour: dict | None
    neural: dict
    design: dict
    model: dict
    sequence: dict | None
    truth: Path | None
    whisking: dict | None = None
    sync: dict | None = None
    events: dict = field(default_factory=dict)


def load_encode_config(path: str | os.PathLike) -> EncodeConfig:
    """Read and check an encode config; InputError names the file and the key that is wrong."""
    root = read_config(path, what="encode config")
    name = root.string("name", Path(path).stem)
    fps = root.number("fps", None, positive=True)

    video = None
    t = root.table("video")
    if t is not None:
        video = {
            "path": t.path("path"),
            "rois": t.path("rois", None),
            "use": t.list_of("use", str, None),
            "bin": t.integer("bin", 1, minimum=1),
            "svd": t.integer("svd", 0, minimum=0),
        }
        t.finish()

    behaviour = None
    t = root.table("behaviour")
    if t is not None:
        behaviour = {
            "path": t.path("path"),
            "use": t.list_of("use", str, None),
            "series": t.string("series", None),
            "categorical": t.list_of("categorical", str, []),
        }
        t.finish()
    from neurocine.encode.session import load_session_tables

    sync, events = load_session_tables(root)
    if sync is not None and sync["video"] is not None and video is None:
        raise InputError(
            f"{root.file.name}: [sync] video: got {sync['video']!r} but there is no [video] table; expected both"
        )

    t = root.table("neural", required=True)
    kind = t.string("kind", "widefield", choices=("widefield", "traces"))
    neural = {
        "path": t.path("path"),
        "kind": kind,
        "key": t.string("key", None),
        "series": t.string("series", None),
        "axes": t.string("axes", None),
        "plane": t.integer("plane", None, minimum=0),
        "channel": t.integer("channel", None, minimum=0),
        "dff": t.string("dff", "sliding", choices=("none", "sliding", "block", "session")),
        "window": t.integer("window", 30, minimum=1),
        "bin": t.integer("bin", 1, minimum=1),
        "blur": t.number("blur", 0.0, minimum=0.0),
        "components": t.integer("components", 0, minimum=0),
        "power_iterations": t.integer("power_iterations", 2, minimum=0),
        "mask": t.raw("mask", "otsu" if kind == "widefield" else "none"),
        "shape": t.list_of("shape", int, None),
        "dtype": t.string("dtype", None),
        "streaming": t.raw("streaming", "auto"),
        "chunk": t.integer("chunk", 256, minimum=1),
    }
    if neural["streaming"] not in ("auto", True, False):
        raise t.error("streaming", neural["streaming"], "true, false or 'auto'")
    if neural["streaming"] is True and kind == "traces":
        raise t.error("streaming", True, "streaming only of a widefield movie (kind = 'widefield')")
    if not isinstance(neural["mask"], str):
        raise t.error("mask", neural["mask"], "'none', 'otsu' or a path to a boolean .npy mask")
    if neural["mask"] not in ("none", "otsu"):
        neural["mask"] = t.path("mask")
    if kind == "traces" and (neural["components"] or neural["mask"] != "none"):
        raise t.error(
            "components" if neural["components"] else "mask",
            neural["components"] or neural["mask"],
            "no components/mask with kind = 'traces'",
        )
    t.finish()

    t = root.table("design") or ConfigTable({}, root.file, "design")
    design = {
        "kernel": t.string("kernel", "none", choices=("none", "hemodynamic")),
        "kernel_peak_s": t.number("kernel_peak_s", 1.0, positive=True),
        "kernel_length_s": t.number("kernel_length_s", 5.0, positive=True),
        "running_means": t.list_of("running_means", int, []),
        "zscore": t.boolean("zscore", True),
        "groups": {},
    }
    if any(w < 1 for w in design["running_means"]):
        raise t.error("running_means", design["running_means"], "window lengths >= 1 frame")
    g = t.table("groups")
    if g is not None:
        for group in list(g.data):
            design["groups"][group] = g.list_of(group, str)
        g.finish()
    t.finish()

    t = root.table("model") or ConfigTable({}, root.file, "model")
    model = {
        "alphas": t.list_of("alphas", float, None),
        "cv": t.integer("cv", 5, minimum=2),
        "backend": t.string("backend", "numpy", choices=("numpy", "torch")),
        "device": t.string("device", "auto"),
        "seed": t.integer("seed", 0, minimum=0),
    }
    if model["alphas"] is not None and any(a <= 0 for a in model["alphas"]):
        raise t.error("alphas", model["alphas"], "positive penalties")
    t.finish()

    sequence = None
    t = root.table("sequence")
    if t is not None:
        enabled = t.boolean("enabled", True)
        params: dict[str, Any] = {}
        for key, kind_ in _SEQUENCE_KEYS.items():
            if key not in t:
                t.raw(key, None)
                continue
            if kind_ is str:
                params[key] = t.string(key, choices=("lstm", "gru"))
            elif kind_ is list:
                params[key] = tuple(t.list_of(key, int))
            elif kind_ is int:
                params[key] = t.integer(key, minimum=0 if key == "dense" else 1)
                if key == "dense" and params[key] == 0:
                    params[key] = None  # dense = 0: no dense layer
            else:
                params[key] = t.number(key, minimum=0.0)
        t.finish()
        sequence = params if enabled else None

    whisking = None
    t = root.table("whisking")
    if t is not None:
        whisking = {
            "roi": t.string("roi", "whisker"),
            "n_sd": t.number("n_sd", 2.0, positive=True),
            "filters": tuple(t.list_of("filters", int, [64, 32, 16, 8])),
            "autoencoder_epochs": t.integer("autoencoder_epochs", 100, minimum=1),
            "classifier_epochs": t.integer("classifier_epochs", 100, minimum=1),
            "classifier_hidden": tuple(t.list_of("classifier_hidden", int, [13, 26])),
            "classifier_dense": t.integer("classifier_dense", 250, minimum=0),
        }
        if video is None or (video["use"] is not None and whisking["roi"] not in video["use"]):
            raise t.error("roi", whisking["roi"], "a ROI of [video] (listed in its use = [...])")
        if sync is not None and sync["video"] is not None:
            raise t.error("roi", whisking["roi"], "a video on the widefield clock (no [sync] video channel)")
        t.finish()

    if neural["streaming"] is True and (whisking is not None or (sequence is not None and not neural["components"])):
        raise InputError(
            f"{root.file.name}: [neural] streaming: got true with a [{'whisking' if whisking else 'sequence'}] "
            f"table; expected streaming = false or 'auto' with it (it needs the movie in memory; a [sequence] "
            f"model streams with [neural] components = k)"
        )

    truth = None
    t = root.table("truth")
    if t is not None:
        truth = t.path("path")
        t.finish()
    root.finish()
    return EncodeConfig(
        file=Path(path),
        name=name,
        fps=fps,
        video=video,
        behaviour=behaviour,
        neural=neural,
        design=design,
        model=model,
        sequence=sequence,
        truth=truth,
        whisking=whisking,
        sync=sync,
        events=events,
    )


# --------------------------------------------------------------------------- data


@dataclass
class EncodingData:
    """Features and targets of one session, on one frame clock.

    Attributes
    ----------
    features : dict of str -> ndarray (T,)
        Raw per-frame features (before running means and the kernel), in design order.
    groups : dict of str -> str
        Feature -> group.
    video_features : list of str
        The features computed from the video (they get ``running_means``).
    Y : ndarray, shape (T, q), float64
        Targets: pixels inside the mask, SVD components (with ``U``) or traces.
    U : ndarray, shape (n_pixels, k), or None
        Spatial components when ``Y`` are temporal components.
    image_shape : (int, int) or None
        (H, W) of the preprocessed movie; pixel ``i`` of the targets sits at ``pixels[i]``.
    pixels : ndarray of int, shape (n_pixels,), or None
        Flat indices (in ``image_shape``) of the modelled pixels.
    target_names : list of str
        Traces: the channel names; widefield: ``"px<row>_<col>"``.
    fps : float
    kept_variance : float or None
        Fraction of the pixels' variance the components keep.
    frame_index : ndarray of int, shape (T,), or None
        With dropped frames: the slot of each target row in the drop-free frame sequence; ``features``
        then hold one row per slot and :func:`build_design` keeps these rows.
    """

    features: dict
    groups: dict
    video_features: list
    Y: np.ndarray
    U: np.ndarray | None
    image_shape: tuple | None
    pixels: np.ndarray | None
    target_names: list
    fps: float
    kept_variance: float | None = None
    info: dict = field(default_factory=dict)
    frame_index: np.ndarray | None = None

    @property
    def n_pixels(self) -> int:
        if self.pixels is not None:
            return int(self.pixels.size)
        return int(self.U.shape[0]) if self.U is not None else int(self.Y.shape[1])

    def pixel_series(self, i: int, values: np.ndarray | None = None) -> np.ndarray:
        """Time course (T,) of target ``i`` of ``values`` (default ``Y``; predictions of ``Y`` work too),
        through ``U`` in component space."""
        values = self.Y if values is None else values
        return values @ self.U[i] if self.U is not None else values[:, i]

    def to_image(self, values: np.ndarray) -> np.ndarray:
        """Per-target values (n_pixels,) -> an (H, W) image with NaN outside the mask."""
        img = np.full(int(np.prod(self.image_shape)), np.nan)
        img[self.pixels] = values
        return img.reshape(self.image_shape)


#: ``[neural] streaming = "auto"`` streams a binned movie larger than this as float64 (bytes).
STREAMING_BYTES = 2**31


def open_neural_stack(cfg: EncodeConfig):
    """The config's widefield movie, opened lazily (:func:`~neurocine.io.imaging.open_stack`)."""
    from neurocine.io.imaging import open_stack

    n = cfg.neural
    return open_stack(
        n["path"],
        key=n["key"],
        series=n["series"],
        shape=n["shape"],
        dtype=n["dtype"],
        axes=n["axes"],
        plane=n["plane"],
        channel=n["channel"],
    )


def uses_streaming(cfg: EncodeConfig) -> bool:
    """Whether ``neurocine encode`` takes the streaming path (:mod:`neurocine.encode.streaming`) for ``cfg``.

    ``[neural] streaming = true`` or ``false`` decides; ``"auto"`` streams a widefield
    movie without [whisking] (and without [sequence], unless in component space) whose binned
    frames as float64 exceed :data:`STREAMING_BYTES`. With ``components = k`` the streaming
    path is :func:`~neurocine.encode.components.movie_components` and the model is then
    fitted in memory to the k components.
    """
    n = cfg.neural
    if n["streaming"] is not True and (
        n["streaming"] is False
        or n["kind"] != "widefield"
        or (cfg.sequence is not None and not n["components"])
        or cfg.whisking is not None
    ):
        return False
    if n["streaming"] is True:
        return True
    with open_neural_stack(cfg) as stack:
        shape = stack.shape
    return len(shape) == 3 and shape[0] * (shape[1] // n["bin"]) * (shape[2] // n["bin"]) * 8 > STREAMING_BYTES


def _pixel_names(pixels, width: int) -> list[str]:
    """Target names of movie pixels given as flat indices into rows of ``width``: ``px<row>_<column>``."""
    return [f"px{p // width}_{p % width}" for p in pixels]


def _streaming_mask(cfg: EncodeConfig, stack) -> Any:
    """``[neural] mask`` for the chunked passes: None, ``"otsu"`` (found during the pass) or a mask file's array."""
    n = cfg.neural
    if n["mask"] in ("none", "otsu"):
        return None if n["mask"] == "none" else "otsu"
    from neurocine.encode.imaging_jobs import widefield_mask

    return widefield_mask(n["mask"], stack, n["bin"], None, label="[neural] mask")


def _read_neural(cfg: EncodeConfig, streaming: bool = False) -> tuple[np.ndarray, dict, float | None]:
    """Targets (T, q), a description (image shape, pixels, names) and the file's rate.

    ``streaming``: the movie is not read; the targets are an empty (T, 0) array.
    """
    n = cfg.neural
    if n["kind"] == "traces":
        from neurocine.io.signals import read_signal_matrix

        m = read_signal_matrix(n["path"], series=n["series"], key=n["key"], dtype=np.float64)
        return m.data, {"image_shape": None, "pixels": None, "names": list(m.channels)}, m.sampling_rate
    from neurocine.encode.imaging_jobs import widefield_mask
    from neurocine.features.widefield import preprocess_widefield

    with open_neural_stack(cfg) as stack:
        if len(stack.shape) != 3:
            raise InputError(f"{n['path']}: has shape {stack.shape}; expected a (T, H, W) widefield movie")
        t_len = stack.shape[0]
        if streaming:
            hw = (stack.shape[1] // n["bin"], stack.shape[2] // n["bin"])
            return np.empty((t_len, 0)), {"image_shape": hw, "pixels": None, "names": []}, stack.rate
        mask = widefield_mask(n["mask"], stack, n["bin"], n["blur"] or None, 256, label="[neural] mask")
        if n["dff"] == "none":
            from neurocine.features.widefield import bin_frames, gaussian_blur

            movie = np.asarray(bin_frames(stack, n["bin"]), dtype=np.float64)
            if n["blur"]:
                movie = np.asarray(gaussian_blur(movie, n["blur"]))
        else:
            mode = "block" if n["dff"] in ("block", "session") else "sliding"
            window = t_len if n["dff"] == "session" else n["window"]
            movie = preprocess_widefield(stack, window, blur=n["blur"] or None, bin=n["bin"], mask=mask, mode=mode)
        rate = stack.rate
    h, w = movie.shape[1:]
    pixels = np.flatnonzero(mask.ravel()) if mask is not None else np.arange(h * w)
    if pixels.size == 0:
        raise InputError(f"{cfg.file.name}: [neural] mask: selects no pixel; expected a mask with brain pixels")
    Y = np.asarray(movie, dtype=np.float64).reshape(t_len, h * w)[:, pixels]
    if not np.isfinite(Y).all():
        bad = int((~np.isfinite(Y)).any(axis=0).sum())
        raise InputError(
            f"{n['path']}: {bad} modelled pixels have NaN/inf values after dF/F; expected finite "
            f"values (use [neural] mask to leave out dark or empty pixels)"
        )
    return Y, {"image_shape": (h, w), "pixels": pixels, "names": _pixel_names(pixels, w), "mask": mask}, rate


def _video_features(cfg: EncodeConfig) -> tuple[dict, dict, float | None, dict]:
    from neurocine.encode.video_jobs import compute_motion

    v = cfg.video
    result, reader = compute_motion(v["path"], v["rois"], n_svd=v["svd"], bin=v["bin"])
    names = list(result.roi_names)
    use = v["use"] if v["use"] is not None else names
    missing = [u for u in use if u not in names]
    if missing:
        raise InputError(
            f"{cfg.file.name}: [video] use: ROI(s) {missing} are not in {v['rois'] or 'the ROIs'}; "
            f"expected some of {names}"
        )
    feats, groups = {}, {}
    for roi in use:
        j = names.index(roi)
        feats[f"{roi}_me"] = np.asarray(result.motion_energy[:, j], dtype=np.float64)
        groups[f"{roi}_me"] = f"{roi}_me"
        for c in range(result.svd_temporal.shape[2]):
            feats[f"{roi}_svd{c}"] = np.asarray(result.svd_temporal[:, j, c], dtype=np.float64)
            groups[f"{roi}_svd{c}"] = f"{roi}_me"
        if roi in result.pupil:  # an eye ROI (pupil = true): its pupil diameter, blink frames interpolated
            from neurocine.features.pupil import fill_blinks

            feats[f"{roi}_pupil"] = fill_blinks(result.pupil[roi].diameter, result.pupil[roi].blink)
            groups[f"{roi}_pupil"] = "pupil"
    return feats, groups, reader.fps, {"frames": int(result.motion_energy.shape[0]), "rois": names}


def prepare_data(cfg: EncodeConfig, *, streaming: bool = False) -> EncodingData:
    """Read the neural data, compute/read the features, check they share one frame clock.

    ``streaming``: leave the movie on disk (``Y`` is an empty (T, 0) array; see
    :func:`uses_streaming`), or, with ``[neural] components = k``, read it in
    chunked passes for its k components (``Y`` the (T, k) temporal components).
    """
    Y, desc, neural_rate = _read_neural(cfg, streaming)
    t_len = Y.shape[0]
    from neurocine.encode.session import session_features

    info: dict[str, Any] = {"neural": {"path": str(cfg.neural["path"]), "shape": list(Y.shape)}}
    video_rate = None
    video = None
    if cfg.video is not None:
        feats, g, video_rate, vinfo = _video_features(cfg)
        video = (feats, g, vinfo)
    session = session_features(cfg, t_len, video)  # every stream on the neural frame clock
    features, groups, video_features = session.features, session.groups, session.video_features
    info.update(session.info)
    for group, members in cfg.design["groups"].items():
        for f in members:
            one_hot = [c for c in features if c.startswith(f"{f}=")]  # a categorical column: all its levels
            if f not in features and not one_hot:
                raise InputError(
                    f"{cfg.file.name}: [design.groups] {group}: unknown feature {f!r}; expected some "
                    f"of {list(features)}"
                )
            for c in [f] if f in features else one_hot:
                groups[c] = group
    fps = cfg.fps or session.fps or video_rate or neural_rate
    if fps is None:
        raise InputError(
            f"{cfg.file.name}: fps is missing and neither the video nor the neural file gives a "
            f"rate; expected fps = <frames per second> at the top of the config"
        )
    U, kept = None, None
    if cfg.neural["components"] and streaming:  # after every cheaper check: its passes read the whole movie
        Y, U, kept, desc = _streamed_components(cfg)
        info["components"] = {"passes": desc["passes"], "seconds": desc["svd_seconds"]}
    elif cfg.neural["components"]:
        Y, U, kept = _components(Y, cfg.neural["components"], cfg.file.name, cfg.neural["power_iterations"])
    return EncodingData(
        features=features,
        groups=groups,
        video_features=video_features,
        Y=Y,
        U=U,
        image_shape=desc["image_shape"],
        pixels=desc["pixels"],
        target_names=desc["names"],
        fps=float(fps),
        kept_variance=kept,
        info=info,
        frame_index=session.frame_index,
    )


def _components(Y: np.ndarray, k: int, config_name: str, power_iterations: int) -> tuple[np.ndarray, np.ndarray, float]:
    """Top-k SVD of the (T, n_pixels) movie: temporal components (T, k) with singular values, U (n_pixels, k).

    The same randomized SVD as the streaming route (:func:`_streamed_components`), on chunks of ``Y``.
    """
    if k > min(Y.shape):
        raise InputError(
            f"{config_name}: [neural] components: got {k}; expected at most {min(Y.shape)} (time steps and pixels)"
        )
    from neurocine.encode.components import component_space
    from neurocine.features.chunked_svd import randomized_svd_chunks

    def chunks(_columns):
        return ((s, Y[s : s + 256]) for s in range(0, Y.shape[0], 256))

    svd = randomized_svd_chunks(chunks, Y.shape[0], k, n_iter=power_iterations)
    temporal, U = component_space(svd)  # mean kept so U @ temporal.T ~ Y.T
    return temporal, U, svd.kept_variance


def _streamed_components(cfg: EncodeConfig) -> tuple[np.ndarray, np.ndarray, float, dict]:
    """:func:`_components` of a movie read in chunks (:func:`~neurocine.encode.components.movie_components`)."""
    from neurocine.encode.components import movie_components

    n = cfg.neural
    with open_neural_stack(cfg) as stack:
        mask = _streaming_mask(cfg, stack)
        n_px = (stack.shape[1] // n["bin"]) * (stack.shape[2] // n["bin"])
        most = min(stack.shape[0], n_px if mask is None or isinstance(mask, str) else int(mask.sum()))
        if n["components"] > most:
            raise InputError(
                f"{cfg.file.name}: [neural] components: got {n['components']}; expected at most {most} "
                f"(time steps and pixels)"
            )
        comps = movie_components(
            stack,
            n["components"],
            dff=n["dff"],
            window=n["window"],
            bin=n["bin"],
            blur=n["blur"],
            mask=mask,
            chunk_size=n["chunk"],
            power_iterations=n["power_iterations"],
        )
    hw = comps.image_shape
    desc = {
        "image_shape": hw,
        "pixels": comps.pixels,
        "names": _pixel_names(comps.pixels, hw[1]),
        "mask": comps.mask,
        "passes": comps.passes,
        "svd_seconds": comps.seconds,
    }
    return comps.temporal, comps.U, comps.kept_variance, desc


def build_design(data: EncodingData, design: dict, fps: float | None = None):
    """Features -> :class:`~neurocine.features.design.DesignMatrix` (running means, then the kernel).

    Not z-scored: callers z-score (``design["zscore"]``) and keep the column SDs to report
    coefficients per unit of each regressor.
    """
    from neurocine.features.design import DesignMatrix
    from neurocine.features.timing import convolve_regressors, hemodynamic_kernel, running_mean

    fps = data.fps if fps is None else fps
    kernel = None
    if design["kernel"] == "hemodynamic":
        kernel = hemodynamic_kernel(fps, design["kernel_peak_s"], design["kernel_length_s"])
    rows = data.frame_index  # dropped frames: regressors built on every frame slot, then the recorded rows kept
    dm = DesignMatrix(len(next(iter(data.features.values()))) if rows is None else len(rows))
    for name, x in data.features.items():
        columns = {name: x}
        if name in data.video_features:
            for w in design["running_means"]:
                columns[f"{name}_mean{w}"] = running_mean(x, w)
        for col, values in columns.items():
            values = convolve_regressors(values, kernel) if kernel is not None else values
            dm.add(col, values if rows is None else values[rows], group=data.groups[name])
    return dm


# --------------------------------------------------------------------------- models


def _ridge(cfg_model: dict):
    from neurocine.models.ridge import DEFAULT_ALPHAS, RidgeCV

    alphas = cfg_model["alphas"] if cfg_model["alphas"] is not None else DEFAULT_ALPHAS
    return RidgeCV(alphas=alphas, cv=cfg_model["cv"], backend=cfg_model["backend"], device=cfg_model["device"])


def block_split_evs(
    X: np.ndarray, data_Y: np.ndarray, U, model_cfg: dict, sequence: dict | None, checkpoint_dir: Path | None = None
) -> dict[str, Any]:
    """Ridge and (optionally) the sequence model on one 70/10/20 contiguous split; EV on the last 20 %.

    Ridge is fitted on the first 80 % (its penalty chosen by inner CV there),
    the sequence model trains on 70 % and early-stops on the next 10 %; both are
    scored on the same test block (per pixel through ``U`` when given).
    """
    from neurocine.encode.sequence import SequenceRegressor, contiguous_split
    from neurocine.models.attribution import held_out_ev

    train, val, test = contiguous_split(X.shape[0])
    fit_rows = slice(train.start, val.stop)
    out: dict[str, Any] = {}
    ridge = _ridge(model_cfg).fit(X[fit_rows], data_Y[fit_rows])
    pred = np.full(data_Y.shape, np.nan)
    pred[test] = ridge.predict(X[test])
    out["ridge_pred"] = pred
    out["ridge_ev"] = held_out_ev(data_Y, pred, U)
    if sequence is not None:
        t0 = time.perf_counter()
        model = SequenceRegressor(
            **sequence, random_state=model_cfg["seed"], device=model_cfg["device"], checkpoint_dir=checkpoint_dir
        )
        model.fit(X, data_Y)
        pred = np.full(data_Y.shape, np.nan)
        full = model.predict(X)
        pred[test] = full[test]
        out["sequence_pred"] = pred
        out["sequence_ev"] = held_out_ev(data_Y, pred, U)
        out["sequence_epochs"] = int(model.n_epochs_)
        out["sequence_seconds"] = time.perf_counter() - t0
    return out


def check_sequence_length(sequence: dict | None, n_samples: int) -> None:
    """Refuse, before any fit, a ``[sequence] sequence_length`` the training block of ``n_samples`` cannot hold.

    The sequence model of :func:`block_split_evs` trains on the first 70 %
    of the time steps; its windows must be shorter than that block.

    Parameters
    ----------
    sequence : dict or None
        The config's ``[sequence]`` settings (None: no sequence model, nothing to check).
    n_samples : int
        Time steps of the shortest series the model will see.

    Examples
    --------
    >>> check_sequence_length({"sequence_length": 100}, 100)
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: [sequence] sequence_length: got 100, expected fewer than the 70 time steps of the training block (0.7 of T=100)
    """
    if sequence is None:
        return
    from neurocine.encode.sequence import SequenceRegressor, contiguous_split

    length = SequenceRegressor(**sequence).sequence_length
    n_train = contiguous_split(n_samples)[0].stop
    if isinstance(length, int) and length >= n_train:
        raise InputError(
            f"[sequence] sequence_length: got {length}, expected fewer than the {n_train} time steps of the "
            f"training block (0.7 of T={n_samples})"
        )


def _load_truth(path: Path | None, data: EncodingData) -> dict | None:
    if path is None:
        return None
    try:
        with np.load(path) as z:
            truth = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot be read as an .npz ({exc}); expected beta_<feature> maps") from None
    maps = {k[5:]: v for k, v in truth.items() if k.startswith("beta_")}
    if not maps:
        raise InputError(f"{path}: has no beta_<feature> arrays; expected the planted maps")
    for k, v in maps.items():
        if data.image_shape is not None and v.shape != tuple(data.image_shape):
            raise InputError(
                f"{path}: beta_{k} has shape {v.shape}; expected {tuple(data.image_shape)} (the preprocessed movie)"
            )
    return {
        "maps": maps,
        "ceiling_ev": float(truth["ceiling_ev"]) if "ceiling_ev" in truth else None,
        "brain_mask": truth.get("brain_mask"),
    }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    den = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / den) if den > 0 else float("nan")


def _mean_over(values: np.ndarray, data: EncodingData, region: np.ndarray | None) -> float:
    """Mean of per-target values over the targets inside ``region`` ((H, W) bool), or all targets."""
    if region is None or data.pixels is None:
        return float(np.mean(values))
    inside = region.ravel()[data.pixels]
    return float(np.mean(values[inside])) if inside.any() else float("nan")


def run_encode(config: str | os.PathLike, out: str | os.PathLike, *, figures: bool = True) -> JobResult:
    """``neurocine encode``: fit and explain an encoding model; write maps, figures and ``summary.json``.

    Outputs in ``out``: ``design.npz`` (the design matrix), ``model.npz``
    (coefficients ``coef`` (p, n_targets) per unit of each regressor, i.e. of each
    column of the design before z-scoring, ``intercept``, ``alpha``,
    cross-validated ``ev``, predictions), ``attribution.npz`` (``unique``,
    ``single`` (groups, n_targets), ``full_ev``), for widefield data
    ``maps.npz`` (``ev`` and ``beta_<column>`` images), figures
    (``ev_map.png``, ``beta_maps.png``, ``contributions.png``,
    ``traces.png``) and ``summary.json``.

    Returns
    -------
    JobResult
        The result folder, its ``summary.json`` (indexing reads it) and ``report.html``.
    """

    cfg = load_encode_config(config)
    out = Path(out)
    params = {
        "config": str(cfg.file),
        "name": cfg.name,
        "neural": cfg.neural,
        "video": cfg.video,
        "behaviour": cfg.behaviour,
        "design": cfg.design,
        "model": cfg.model,
        "sequence": cfg.sequence,
        **({"sync": cfg.sync, "events": cfg.events} if cfg.sync is not None else {}),
    }
    checkpoints = checkpoint_folder(out)
    streaming = uses_streaming(cfg)
    with JobFolder(out, params, job="encode") as res:
        with res.timer("read_seconds"):
            data = prepare_data(cfg, streaming=streaming)
        check_sequence_length(cfg.sequence, data.Y.shape[0])
        truth = _load_truth(cfg.truth, data)
        dm = build_design(data, cfg.design)
        scale = dm.X.std(axis=0) if cfg.design["zscore"] else np.ones(dm.n_columns)
        scale[scale == 0] = 1.0
        if cfg.design["zscore"]:
            dm = dm.zscore()
        X = dm.X
        res.save_arrays("design.npz", **dm.as_dict())
        if streaming and data.U is None:
            fitted = _fit_streaming(cfg, data, dm, res)
        else:
            fitted = _fit_in_memory(cfg, data, dm, res, checkpoints)
        ev, contrib, split = fitted["ev"], fitted["contrib"], fitted["split"]
        coef = fitted["coef"] / scale[:, None]  # per unit of each regressor
        if data.U is not None:
            coef = coef @ data.U.T  # (p, n_pixels)
        res.save_arrays(
            "model.npz",
            coef=coef,
            intercept=fitted["intercept"],
            alpha=fitted["alpha"],
            ev=ev,
            columns=np.asarray(dm.columns),
            **fitted["arrays"],
        )
        res.save_arrays(
            "attribution.npz",
            groups=np.asarray(contrib.group_names),
            unique=contrib.unique,
            single=contrib.single,
            full_ev=contrib.full_ev,
            shifts=contrib.shifts,
        )

        study = None
        if cfg.whisking is not None:
            with res.timer("whisking_seconds"):
                study = _whisking(cfg, data)
            res.save_arrays(
                "whisking.npz",
                encodings=study.encodings,
                probability=study.probability,
                whisking=study.whisking,
                ev_probability=study.ev_probability,
                ev_motion_energy=study.ev_motion_energy,
            )

        region = None
        if truth is not None and truth["brain_mask"] is not None:
            region = np.asarray(truth["brain_mask"], dtype=bool)
        unique = {g: _mean_over(contrib.unique[i], data, region) for i, g in enumerate(contrib.group_names)}
        ranking = sorted(contrib.group_names, key=lambda g: -unique[g])
        metrics: dict[str, Any] = {
            "streaming": streaming,
            "n_samples": int(X.shape[0]),
            "n_columns": int(X.shape[1]),
            "n_targets": int(data.n_pixels),
            "fps": data.fps,
            "mean_cv_ev": _mean_over(ev, data, region),
            "ridge_test_ev": _mean_over(split["ridge_ev"], data, region),
            "unique": unique,
            "single": {g: _mean_over(contrib.single[i], data, region) for i, g in enumerate(contrib.group_names)},
            "ranking": ranking,
        }
        if "sequence_ev" in split:
            metrics.update(
                {
                    "sequence_test_ev": _mean_over(split["sequence_ev"], data, region),
                    "sequence_epochs": split["sequence_epochs"],
                }
            )
        if data.kept_variance is not None:
            metrics["components_kept_variance"] = data.kept_variance
        if "sync" in data.info:  # the alignment's details are under "data" in summary.json
            metrics["dropped_frames"] = data.info["sync"]["frames"]["dropped"]
        if study is not None:
            metrics["whisking"] = {
                **study.summary(),
                "ev_probability_region": _mean_over(study.ev_probability, data, region),
                "ev_motion_energy_region": _mean_over(study.ev_motion_energy, data, region),
            }
        if truth is not None:
            metrics.update(_score_against_truth(truth, data, dm, coef, contrib, ranking))
        res.metrics.update(metrics)
        res.extra["data"] = data.info

        maps = {}
        if data.image_shape is not None:
            maps = {col: data.to_image(coef[j]) for j, col in enumerate(dm.columns)}
            res.save_arrays("maps.npz", ev=data.to_image(ev), **{f"beta_{k}": v for k, v in maps.items()})
        if figures:
            _encode_figures(res, data, ev, maps, contrib, fitted["traces"], truth, metrics)
        res.headline(
            encode_headline(metrics),
            ran=f"A ridge encoding model{' and an LSTM' if 'sequence_test_ev' in metrics else ''} predicting "
            f"{data.n_pixels} targets from {len(contrib.group_names)} feature groups ({X.shape[0]} frames at "
            f"{data.fps:g} Hz){'; a whisking classifier on the whisker video' if study is not None else ''}.",
            figure="beta_maps.png" if figures and maps else ("contributions.png" if figures else ""),
        )
        summary = res.summary()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return JobResult(res.out, summary)


def _fit_in_memory(cfg: EncodeConfig, data: EncodingData, dm, res: JobFolder, checkpoints: Path) -> dict[str, Any]:
    """Nested cross-validated ridge, attribution, refit and the test split on the targets in memory."""
    from neurocine.models.attribution import cross_validated_predictions, group_contributions, held_out_ev

    X, Y, U = dm.X, data.Y, data.U
    ridge = _ridge(cfg.model)
    with res.timer("cross_validation_seconds"):
        cv_pred = cross_validated_predictions(ridge, X, Y, cv=cfg.model["cv"])
        ev = held_out_ev(Y, cv_pred, U)
    with res.timer("attribution_seconds"):
        contrib = group_contributions(X, Y, dm.groups, ridge, cv=cfg.model["cv"], random_state=cfg.model["seed"], U=U)
    with res.timer("fit_seconds"):
        fitted = _ridge(cfg.model).fit(X, Y)
    with res.timer("test_split_seconds"):
        split = block_split_evs(X, Y, U, cfg.model, cfg.sequence, checkpoints if cfg.sequence else None)

    def traces(picks: list, stop: int) -> tuple[np.ndarray, dict]:
        def series(values=None):
            return np.stack([data.pixel_series(j, values)[:stop] for j in picks], axis=1)

        preds = {"ridge (cross-validated)": series(cv_pred)}
        if "sequence_pred" in split:
            preds["sequence model (test block)"] = series(split["sequence_pred"])
        return series(), preds

    arrays = {
        "cv_predictions": cv_pred,
        "test_predictions_ridge": split["ridge_pred"],
        **({"test_predictions_sequence": split["sequence_pred"]} if "sequence_pred" in split else {}),
        **({"U": U} if U is not None else {}),
    }
    return {
        "ev": ev,
        "contrib": contrib,
        "coef": np.asarray(fitted.coef_),
        "intercept": np.asarray(fitted.intercept_),
        "alpha": fitted.alpha_,
        "split": split,
        "arrays": arrays,
        "traces": traces,
    }


def _fit_streaming(cfg: EncodeConfig, data: EncodingData, dm, res: JobFolder) -> dict[str, Any]:
    """The same model from one chunked pass over the movie (:func:`~neurocine.encode.streaming.stream_encode`)."""
    from neurocine.encode.sequence import contiguous_split
    from neurocine.encode.streaming import stream_encode, streamed_series
    from neurocine.models.ridge import DEFAULT_ALPHAS

    n, m = cfg.neural, cfg.model
    pre = {"dff": n["dff"], "window": n["window"], "bin": n["bin"], "blur": n["blur"]}
    split_at = contiguous_split(dm.X.shape[0])[2].start
    with res.timer("streaming_seconds"), open_neural_stack(cfg) as stack:
        out = stream_encode(
            stack,
            dm.X,
            dm.groups,
            **pre,
            mask=_streaming_mask(cfg, stack),
            cv=m["cv"],
            alphas=m["alphas"] if m["alphas"] is not None else DEFAULT_ALPHAS,
            random_state=m["seed"],
            split=split_at,
            chunk_size=n["chunk"],
        )
    res.metrics["movie_pass_seconds"] = out.seconds_pass
    data.pixels, data.image_shape = out.pixels, out.image_shape
    data.target_names = _pixel_names(out.pixels, out.image_shape[1])
    data.info["streaming"] = {"blocks": out.info["blocks"], "statistics_bytes": out.info["statistics_bytes"]}
    fold = np.searchsorted(out.fold_edges, np.arange(dm.X.shape[0]), side="right") - 1

    def traces(picks: list, stop: int) -> tuple[np.ndarray, dict]:
        with open_neural_stack(cfg) as stack:
            actual = streamed_series(stack, out, picks, stop, **pre)
        rows = np.arange(stop)
        coef = out.fit.fold_coef[:, :, picks]  # (folds, p, picks): the few pixels first, then the rows' folds
        pred = np.einsum("tp,tpq->tq", dm.X[rows], coef[fold[rows]])
        pred += out.fit.fold_intercept[:, picks][fold[rows]]
        return actual, {"ridge (cross-validated)": pred}

    arrays = {
        "fold_coef": out.fit.fold_coef,
        "fold_intercept": out.fit.fold_intercept,
        "fold_edges": out.fold_edges,
    }
    return {
        "ev": out.fit.ev,
        "contrib": out.contributions,
        "coef": out.fit.coef,
        "intercept": out.fit.intercept,
        "alpha": out.fit.alpha,
        "split": {"ridge_ev": out.fit.test_ev},
        "arrays": arrays,
        "traces": traces,
    }


def _whisking(cfg: EncodeConfig, data: EncodingData):
    """The whisking study of McCarthy (2019) on the whisker ROI's crop of the video (see :mod:`neurocine.encode.whisking`)."""
    from neurocine.encode.autoencoder import ConvAutoencoder
    from neurocine.encode.sequence import SequenceClassifier
    from neurocine.encode.video_jobs import load_rois
    from neurocine.encode.whisking import whisking_study
    from neurocine.features.timing import hemodynamic_kernel
    from neurocine.io.video import VideoReader

    w, seed = cfg.whisking, cfg.model["seed"]
    with VideoReader(cfg.video["path"]) as full:
        rois = {r.name: r for r in load_rois(cfg.video["rois"], full)}
    if w["roi"] not in rois:
        raise InputError(f"{cfg.file.name}: [whisking] roi: got {w['roi']!r}; expected one of {list(rois)}")
    with VideoReader(cfg.video["path"], crop=rois[w["roi"]].bounds, bin=cfg.video["bin"]) as reader:
        crops = reader.read()
    kernel = None
    if cfg.design["kernel"] == "hemodynamic":
        kernel = hemodynamic_kernel(data.fps, cfg.design["kernel_peak_s"], cfg.design["kernel_length_s"])
    Y = data.Y @ data.U.T if data.U is not None else data.Y
    autoencoder = ConvAutoencoder(
        filters=w["filters"], max_epochs=w["autoencoder_epochs"], random_state=seed, device=cfg.model["device"]
    )
    classifier = SequenceClassifier(
        hidden=w["classifier_hidden"],
        dense=w["classifier_dense"] or None,
        max_epochs=w["classifier_epochs"],
        random_state=seed,
        device=cfg.model["device"],
    )
    return whisking_study(
        crops,
        data.features[f"{w['roi']}_me"],
        Y,
        kernel=kernel,
        n_sd=w["n_sd"],
        autoencoder=autoencoder,
        classifier=classifier,
        random_state=seed,
    )


def _score_against_truth(truth: dict, data: EncodingData, dm, coef: np.ndarray, contrib, ranking: list) -> dict:
    """Spatial correlation of fitted and planted maps, EV vs the ceiling, whether planted groups rank first."""
    out: dict[str, Any] = {}
    if data.pixels is not None:
        corr = {}
        for name, planted in truth["maps"].items():
            if name in dm.columns and np.any(planted != 0):
                corr[name] = _corr(coef[dm.columns.index(name)], planted.ravel()[data.pixels])
        out["beta_map_correlation"] = corr
        out["min_beta_map_correlation"] = min(corr.values()) if corr else None
    if truth["ceiling_ev"] is not None:
        out["ceiling_ev"] = truth["ceiling_ev"]
    planted_features = {n for n, m in truth["maps"].items() if np.any(m != 0)}
    planted_groups = {data.groups[f] for f in planted_features if f in data.groups}
    n_planted = len(planted_groups)
    out["planted_groups"] = sorted(planted_groups)
    out["planted_ranked_first"] = bool(set(ranking[:n_planted]) == planted_groups)
    return out


def encode_headline(metrics: dict[str, Any]) -> str:
    """The result of an ``encode`` job in words, beside the planted truth where there is one.

    Examples
    --------
    >>> print(encode_headline({"mean_cv_ev": 0.299, "ceiling_ev": 0.302, "ranking": ["pupil", "null"]}))
    Cross-validated explained variance 0.299 against the planted model's 0.302; pupil has the largest unique share.
    """
    text = f"Cross-validated explained variance {metrics['mean_cv_ev']:.3f}"
    if metrics.get("ceiling_ev") is not None:
        text += f" against the planted model's {metrics['ceiling_ev']:.3f}"
    if metrics.get("min_beta_map_correlation") is not None:
        text += f"; every beta map correlates r ≥ {metrics['min_beta_map_correlation']:.3f} with its planted map"
    if metrics.get("ranking"):
        text += f"; {metrics['ranking'][0]} has the largest unique share"
    return text + "."


def _encode_figures(res: JobFolder, data: EncodingData, ev, maps, contrib, traces, truth, metrics: dict) -> None:
    """The job's figures; group means come from ``metrics`` (computed once, over the same region).

    ``traces(picks, stop)`` gives the actual series (stop, len(picks)) of the targets ``picks`` and a dict of
    model name -> predictions of the same shape.
    """
    from neurocine.encode.plotting import plot_contributions, plot_ev_map, plot_maps, plot_traces

    names = contrib.group_names
    res.save_figure(
        "contributions.png",
        plot_contributions(
            names,
            np.array([metrics["unique"][g] for g in names]),
            np.array([metrics["single"][g] for g in names]),
            full_ev=metrics["mean_cv_ev"],
            title="cross-validated explained variance by feature group",
        ),
        caption="Explained variance of each feature group: unique (lost when the group is left out of the full "
        "model) and alone (the group by itself), with the full model's as a line. A group with a large unique "
        "share carries information no other group has; the null regressor should sit at zero.",
    )
    mask_img = None
    if data.image_shape is not None:
        mask_img = np.zeros(int(np.prod(data.image_shape)), bool)
        mask_img[data.pixels] = True
        mask_img = mask_img.reshape(data.image_shape)
        res.save_figure(
            "ev_map.png",
            plot_ev_map(data.to_image(ev), mask=mask_img),
            caption="Cross-validated explained variance of the full model at each pixel. Look for where the "
            "behaviour and stimuli explain activity best; pixels outside the brain mask are blank.",
        )
        planted = None
        if truth is not None:
            planted = {k: v for k, v in truth["maps"].items() if k in maps and np.any(v != 0)}
        res.save_figure(
            "beta_maps.png",
            plot_maps(
                maps,
                mask=mask_img,
                truth=planted or None,
                title="beta maps (ridge, all data)",
                units="per unit of regressor",
            ),
            caption="Ridge weight of each regressor at each pixel"
            + (
                ": the fitted map (rows marked fitted) above the planted, true map (rows marked planted), with "
                "their correlation r. Fitted and planted maps should match; the null regressor has no planted map "
                "and should show only noise."
                if planted
                else ". Look for the regions each behaviour drives."
            ),
        )
    # traces: for each group (up to 8) the target it explains most uniquely
    picks, labels = [], []
    for i, g in enumerate(names[:8]):
        j = int(np.nanargmax(contrib.unique[i]))
        if j not in picks:
            picks.append(j)
            labels.append(f"{data.target_names[j]} (best for {g})")

    stop = min(len(next(iter(data.features.values()))), int(np.ceil(60.0 * data.fps)) + 1)
    actual, preds = traces(picks, stop)
    times = np.arange(actual.shape[0]) / data.fps
    res.save_figure(
        "traces.png",
        plot_traces(times, actual, preds, names=labels, title="predicted vs actual (first 60 s)"),
        caption="Measured activity (black) and its predictions over the first 60 s, at the pixel each feature "
        "group explains best. The predictions should follow the slow changes; the fast noise is not predictable.",
    )


# --------------------------------------------------------------------------- frame rates (Table III of McCarthy 2019)


def _resampled(data: EncodingData, kind: str) -> tuple[EncodingData, str]:
    """The session at a third / half of its rate (every 3rd / 2nd frame), as is, or half-rate interpolated back.

    The features hold one row per frame slot and the targets one per recorded frame
    (``data.frame_index``, the slots of the recorded frames, with dropped frames): the
    slots ``0, k, 2k, ...`` are kept, with the targets of those that were recorded.
    Interpolated back, every recorded slot between the first and the last kept one
    gets the targets interpolated linearly in slot time from the kept recorded slots
    (without dropped frames: the mean of its two neighbours, :func:`~neurocine.features.timing.upsample`).
    """
    from dataclasses import replace

    from neurocine.features.timing import decimate, interpolate, upsample

    if kind == "original":
        return data, f"{data.fps:g} Hz"
    factor = 3 if kind == "third" else 2

    def each(x):
        y = decimate(x, factor)
        return upsample(y, 2) if kind == "interpolated" else y

    fps = data.fps / factor * (2 if kind == "interpolated" else 1)
    label = f"{data.fps / factor:g} Hz" if kind != "interpolated" else f"interpolated {data.fps / 2:g}->{fps:g} Hz"
    features = {k: each(v) for k, v in data.features.items()}
    if data.frame_index is None:
        return replace(data, features=features, Y=each(data.Y), fps=fps), label
    slots = data.frame_index
    kept = slots % factor == 0
    if kind != "interpolated":
        return replace(data, features=features, Y=data.Y[kept], fps=fps, frame_index=slots[kept] // factor), label
    known = slots[kept]
    inside = (slots >= known[0]) & (slots <= known[-1])
    Y = interpolate(data.Y[kept], known, slots[inside])
    return replace(data, features=features, Y=Y, fps=fps, frame_index=slots[inside]), label


def framerate_study(data: EncodingData, design: dict, model: dict, sequence: dict | None) -> dict[str, Any]:
    """Ridge (and the sequence model) at 1/3, 1/2 and the full rate, and half rate interpolated back.

    Every variant is built from the same session: features and targets
    decimated (every 3rd / 2nd frame, the 10 and 15 Hz datasets of McCarthy 2019 from
    30 Hz) or linearly interpolated from half rate back to the full rate
    (:func:`~neurocine.features.timing.upsample`); the design matrix is then
    rebuilt at the variant's rate (running means and kernel in its frames). A session
    with dropped frames (a ``[sync]`` table) is decimated on its frame slots, recorded or
    not (the targets of the kept slots that were recorded), so the regressors keep their
    timing across the gaps.
    Each model is scored by its test-block EV (:func:`block_split_evs`).

    Returns
    -------
    dict
        ``rows`` (labels), ``ridge`` and ``sequence`` (mean test EV per row;
        NaN without a sequence model), ``n_samples`` and ``seconds`` per row.
    """
    out: dict[str, Any] = {"rows": [], "ridge": [], "sequence": [], "n_samples": [], "seconds": []}
    check_sequence_length(sequence, _resampled(data, "third")[0].Y.shape[0])  # the shortest variant
    for kind in progress(("third", "half", "original", "interpolated"), desc="frame rates", unit="rate"):
        t0 = time.perf_counter()
        variant, label = _resampled(data, kind)
        dm = build_design(variant, design, fps=variant.fps)
        X = dm.zscore().X if design["zscore"] else dm.X
        evs = block_split_evs(X, variant.Y, variant.U, model, sequence)
        out["rows"].append(label)
        out["ridge"].append(float(np.mean(evs["ridge_ev"])))
        out["sequence"].append(float(np.mean(evs["sequence_ev"])) if "sequence_ev" in evs else float("nan"))
        out["n_samples"].append(int(X.shape[0]))
        out["seconds"].append(time.perf_counter() - t0)
    return out


def run_framerates(configs, out: str | os.PathLike, *, sequence: bool = True, figures: bool = True) -> JobResult:
    """``neurocine encode framerates``: Table III of McCarthy (2019) for one or more sessions (datasets).

    For every config (a dataset, named by its ``name``), ridge and the
    sequence model (the config's ``[sequence]`` settings, or the
    defaults of McCarthy 2019) at 10 / 15 / 30 Hz and 15 -> 30 Hz interpolated (for a 30 Hz
    session). Writes ``table.csv``, ``table.md`` (rows = rates, columns =
    model x dataset, EV in %), ``framerates.png`` and ``summary.json``.

    Returns
    -------
    JobResult
        The result folder, its ``summary.json`` (indexing reads it) and ``report.html``.
    """
    if isinstance(configs, (str, os.PathLike)):
        configs = [configs]
    configs = list(configs)
    if not configs:
        raise InputError("configs: none given; expected at least one encode config")
    cfgs = [load_encode_config(c) for c in configs]
    names = [c.name for c in cfgs]
    if len(set(names)) != len(names):
        raise InputError(f"configs: dataset names {names} repeat; expected a distinct name = ... in each config")
    params = {"configs": [str(c.file) for c in cfgs], "sequence": sequence}
    with JobFolder(out, params, job="encode framerates") as res:
        studies = {}
        for cfg in cfgs:
            data = prepare_data(cfg)
            seq = (cfg.sequence if cfg.sequence is not None else {}) if sequence else None
            with res.timer(f"{cfg.name}_seconds"):
                studies[cfg.name] = framerate_study(data, cfg.design, cfg.model, seq)
        rows = studies[names[0]]["rows"]
        for n in names[1:]:
            if studies[n]["rows"] != rows:
                raise InputError(
                    f"configs: {n} runs at a different rate ({studies[n]['rows'][2]}) than {names[0]} "
                    f"({rows[2]}); expected sessions at one frame rate"
                )
        models = (["sequence"] if sequence else []) + ["ridge"]
        columns = [f"{'LSTM' if m == 'sequence' else 'ridge'} {n}" for n in names for m in models]
        values = np.array([[studies[n][m][i] for n in names for m in models] for i in range(len(rows))])
        _write_table(res, rows, columns, values)
        res.metrics.update({"rows": rows, "columns": columns, "ev": values, "studies": studies})
        if figures:
            from neurocine.encode.plotting import plot_framerate_table

            res.save_figure(
                "framerates.png",
                plot_framerate_table(rows, columns, values, title="test-block explained variance by frame rate"),
                caption="Explained variance on the test block for each model and session (columns) when the "
                "video and behaviour are sampled at each frame rate (rows). Look for how much is lost at the lower "
                "rates, and whether interpolating back recovers it.",
            )
        best = int(np.nanargmax(values[:, -1])) if np.isfinite(values[:, -1]).any() else 0
        res.headline(
            f"Best test explained variance of {columns[-1]}: {values[best, -1]:.3f} at {rows[best]} "
            f"(at {rows[0]}: {values[0, -1]:.3f}).",
            ran=f"Ridge{' and LSTM' if sequence else ''} encoding models refitted with the data sampled at "
            f"{len(rows)} frame rates, on {len(names)} session(s): {', '.join(names)}.",
            figure="framerates.png" if figures else "",
        )
        summary = res.summary()
    return JobResult(res.out, summary)


def _write_table(res: JobFolder, rows: list, columns: list, values: np.ndarray) -> None:
    """``table.csv`` (EV fractions) and ``table.md`` (EV %, shaped like Table III of McCarthy 2019)."""
    lines = ["rate," + ",".join(columns)]
    lines += [f"{r}," + ",".join(f"{v:.6f}" for v in row) for r, row in zip(rows, values)]
    res.path("table.csv").write_text("\n".join(lines) + "\n")
    md = ["| | " + " | ".join(f"{c} EV (%)" for c in columns) + " |", "|---" * (len(columns) + 1) + "|"]
    md += [
        f"| {r} | " + " | ".join("-" if np.isnan(v) else f"{100 * v:.1f}" for v in row) + " |"
        for r, row in zip(rows, values)
    ]
    res.path("table.md").write_text("\n".join(md) + "\n")


# --------------------------------------------------------------------------- built-in data


def write_simulated_session(
    out: str | os.PathLike,
    *,
    duration_s: float = 240.0,
    seed: int = 0,
    video_size: tuple[int, int] = (120, 160),
    widefield_size: tuple[int, int] = (64, 64),
    name: str | None = None,
    sequence: dict | None = None,
    whisking: dict | None = None,
) -> JobResult:
    """Write a simulated session (:func:`~neurocine.encode.simulate.simulate_session`) and its encode config.

    Files in ``out``: ``face.mp4`` (lossless H.264, so motion energy is
    exact), ``rois.toml`` (whisker, snout, jaw, full), ``behaviour.csv``
    (stimulus indicators, wheel, pupil, and ``null``, a signal with no
    effect), ``widefield.npy`` (raw fluorescence, float32), ``truth.npz``
    (planted ``beta_<feature>`` maps, ``ceiling_ev``, ``brain_mask``) and
    ``encode.toml``, which ``neurocine encode`` runs as is. ``sequence`` and
    ``whisking`` (dicts of their config keys) add those tables to the config.

    Returns
    -------
    JobResult
        The result folder, its ``summary.json`` (indexing reads it) and ``report.html``.
    """
    from neurocine.encode.simulate import simulate_session
    from neurocine.io.video import write_video

    s = simulate_session(duration_s, seed=seed, video_size=video_size, widefield_size=widefield_size)
    name = name or f"simulated{seed}"
    params = {"duration_s": duration_s, "seed": seed, "video_size": video_size, "widefield_size": widefield_size}
    behaviour = [n for n in s.feature_names if not n.endswith("_me")]
    with JobFolder(out, params, job="encode simulate") as res:
        write_video(res.path("face.mp4"), s.frames, fps=s.fps, lossless=True)
        res.path("rois.toml").write_text(s.rois_toml())
        table = np.stack([s.features[n] for n in behaviour], axis=1)
        np.savetxt(res.path("behaviour.csv"), table, delimiter=",", header=",".join(behaviour), comments="", fmt="%.9g")
        np.save(res.path("widefield.npy"), s.widefield)
        res.save_arrays(
            "truth.npz",
            **{f"beta_{k}": v for k, v in s.beta_maps.items()},
            ceiling_ev=s.ceiling_ev,
            ceiling_ev_map=s.ceiling_ev_map,
            brain_mask=s.brain_mask,
            kernel=s.kernel,
        )
        # the simulation's groups with several features (the stimuli); the others stay one group per feature
        group_lines = [f"{g} = {_toml_value(fs)}" for g, fs in s.groups.items() if len(fs) > 1]
        extra_tables = []
        for table, values in (("sequence", sequence), ("whisking", whisking)):
            if values is not None:
                extra_tables += ["", f"[{table}]"] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
        res.path("encode.toml").write_text(
            "\n".join(
                [
                    f'name = "{name}"',
                    f"fps = {s.fps:g}",
                    "",
                    "[video]",
                    'path = "face.mp4"',
                    'rois = "rois.toml"',
                    '# the planted ROIs; adding "full" (whole-frame motion, which sums them and the paw) makes the',
                    "# whisker and jaw maps collinear with it (their map correlations fall to about 0.77)",
                    'use = ["whisker", "snout", "jaw"]',
                    "",
                    "[behaviour]",
                    'path = "behaviour.csv"',
                    "",
                    "[neural]",
                    'path = "widefield.npy"',
                    'kind = "widefield"',
                    'dff = "session"            # one baseline per pixel: keeps every pixel\'s explained variance',
                    'mask = "otsu"',
                    "",
                    "[design]",
                    'kernel = "hemodynamic"',
                    "kernel_peak_s = 1.0",
                    "kernel_length_s = 5.0",
                    "",
                    "[design.groups]",
                    *group_lines,
                    "",
                    "[model]",
                    "cv = 5",
                    "seed = 0",
                    *extra_tables,
                    "",
                    "[truth]",
                    'path = "truth.npz"',
                    "",
                ]
            )
        )
        res.metrics.update({"frames": s.n_frames, "ceiling_ev": s.ceiling_ev, "features": s.feature_names})
        res.caption(
            "face.mp4",
            "The simulated face video: whisker pad, snout and jaw move in bouts (their motion energy drives the "
            "simulated widefield activity).",
        )
        res.headline(
            f"{s.n_frames} frames at {s.fps:g} Hz with {len(s.feature_names)} planted features; the planted model "
            f"explains {s.ceiling_ev:.3f} of the widefield variance (the ceiling an encoding model can reach).",
            ran="A face video, behaviour and widefield activity simulated with known beta maps, ready for "
            "`neurocine encode encode.toml`.",
        )
        summary = res.summary()
    return JobResult(res.out, summary)


def _toml_value(value: Any) -> str:
    """A number, string or list of them as TOML (tuples as lists, strings double-quoted)."""
    return repr(list(value) if isinstance(value, tuple) else value).replace("'", '"')
