"""The rig's session on one frame clock: sync file, video and behaviour streams, events, task variables.

An ``encode`` config may describe a session as the rig recorded it rather
than as arrays already aligned: a ``[sync]`` table names the sync file (TTL
channels sampled by the DAQ, or their edge times) and its channels; the
widefield frames' pulses are the model's clock. Every other stream is put on
that clock here:

- the behaviour video's features, at its camera's pulses, linearly
  interpolated (eq. 2 of McCarthy 2019) at the frame times;
- analog channels of the sync file (``signals``, e.g. wheel velocity), likewise;
- a behaviour table with a ``time`` column (sync-file clock): numeric columns
  linearly, text and categorical columns as the last label at or before each
  frame (the "last stimulus type" of the seed's Table II);
- ``[events.NAME]`` tables: pulses of a channel as onsets (count per frame) or
  boxcars (onset to offset, or a fixed duration), and optionally the seconds
  since the last onset (Table II's "last stimulus / response time").

Dropped frames show as gaps in a channel's pulses
(:func:`~neurocine.features.timing.detect_dropped_frames`) and are reported.
Regressors are built on the drop-free sequence of frame slots (the gaps'
times interpolated), so running means and the kernel see an even clock; the
design keeps the rows of the recorded frames (:attr:`SessionFeatures.frame_index`).

Categorical columns (``[behaviour] categorical``, text or integers) become
one-hot columns ``"<column>=<level>"`` (:func:`~neurocine.features.timing.one_hot`)
in one group named by the column; frames with a missing label (an empty cell,
or before the table's first row) are zero in every column.

The config keys::

    [sync]
    path = "sync.csv"       # TTL samples or edge times (see neurocine.io.tables)
    frames = "widefield"    # channel with one pulse per frame of [neural]
    video = "camera"        # optional: one pulse per frame of [video]
    threshold = 2.5         # optional: TTL level (default midway between each channel's levels)
    signals = ["wheel"]     # optional: analog channels resampled onto the frames

    [events.lick]           # one table per event regressor
    channel = "lick"        # default: the table's name
    shape = "onset"         # onset | boxcar
    duration_s = 0.2        # boxcar length (default: until the pulse falls)
    since = true            # also "lick_since": seconds since the last onset
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.features.timing import (
    DroppedFrames,
    detect_dropped_frames,
    one_hot,
    to_common_clock,
    ttl_edges,
)
from neurocine.io.config import ConfigTable
from neurocine.io.tables import SyncFile, Table, read_sync, read_table
from neurocine.validation import plural

__all__ = [
    "FrameClock",
    "SessionFeatures",
    "categorical_columns",
    "event_regressor",
    "frame_clock",
    "load_session_tables",
    "session_features",
    "sync_edges",
    "time_since",
]


# --------------------------------------------------------------------------- config


def load_session_tables(root: ConfigTable) -> tuple[dict | None, dict[str, dict]]:
    """The ``[sync]`` and ``[events.*]`` tables of an encode config, checked (see the module docstring)."""
    sync = None
    t = root.table("sync")
    if t is not None:
        threshold = t.raw("threshold", None)
        if threshold is not None:
            threshold = t.number("threshold")
        sync = {
            "path": t.path("path"),
            "frames": t.string("frames"),
            "video": t.string("video", None),
            "threshold": threshold,
            "signals": t.list_of("signals", str, []),
        }
        t.finish()
    events: dict[str, dict] = {}
    t = root.table("events")
    if t is not None:
        if sync is None:
            raise InputError(f"{root.file.name}: [events] needs a [sync] table; expected the sync file's path there")
        for name in list(t.data):
            e = t.table(name)
            assert e is not None
            ev = {
                "channel": e.string("channel", name),
                "shape": e.string("shape", "onset", choices=("onset", "boxcar")),
                "duration_s": e.number("duration_s", None, positive=True),
                "since": e.boolean("since", False),
            }
            if ev["duration_s"] is not None and ev["shape"] != "boxcar":
                raise e.error("duration_s", ev["duration_s"], "no duration with shape = 'onset'")
            e.finish()
            events[name] = ev
        t.finish()
    return sync, events


# --------------------------------------------------------------------------- clock


@dataclass
class FrameClock:
    """The frames of a stream on the sync file's clock.

    Attributes
    ----------
    times : ndarray, shape (n_slots,), float64
        Time (s) of every frame slot, recorded or dropped (a dropped slot's time is interpolated).
    frame_index : ndarray of int, shape (T,)
        Slot of each recorded frame.
    dropped : DroppedFrames
        The gaps found in the pulses.
    """

    times: np.ndarray
    frame_index: np.ndarray
    dropped: DroppedFrames

    @property
    def recorded_times(self) -> np.ndarray:
        """Times (s) of the recorded frames, shape (T,)."""
        return self.times[self.frame_index]

    def summary(self, channel: str) -> dict[str, Any]:
        """The alignment for ``summary.json``: pulses, rate, dropped frames and where."""
        d = self.dropped
        return {
            "channel": channel,
            "pulses": int(self.frame_index.size),
            "rate": float(d.rate),
            "dropped": int(d.total),
            "gaps_after": d.after.tolist(),
            "gap_sizes": d.n_dropped.tolist(),
            "report": d.report,
        }


def frame_clock(
    pulses: np.ndarray, n_frames: int, *, what: str, against: str, expected_rate: float | None = None
) -> FrameClock:
    """One pulse per recorded frame, checked, and the drop-free slots between them.

    Parameters
    ----------
    pulses : ndarray, shape (P,)
        Rising-edge times (s) of the frame channel, increasing.
    n_frames : int
        Frames in the recording the pulses belong to.
    what, against : str
        How the channel and the recording are named in messages.
    expected_rate : float, optional
        Nominal frame rate (Hz); default from the median pulse interval.

    Returns
    -------
    FrameClock

    Raises
    ------
    InputError
        ``P != n_frames``: says by how many and where the first gap in the pulses is.

    Examples
    --------
    >>> c = frame_clock(np.array([0.0, 0.1, 0.2, 0.5, 0.6]), 5, what="sync", against="movie")
    >>> c.frame_index.tolist(), c.times.round(3).tolist(), c.dropped.total
    ([0, 1, 2, 5, 6], [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6], 2)
    """
    pulses = np.asarray(pulses, dtype=np.float64)
    if pulses.size < 2:
        raise InputError(f"{what}: has {plural(pulses.size, 'pulse')}; expected one pulse per frame of {against}")
    dropped = detect_dropped_frames(pulses, expected_rate)
    if pulses.size != n_frames:
        diff = pulses.size - n_frames
        if dropped.after.size:
            a = int(dropped.after[0])
            gap = (
                f"the first gap in the pulses is after pulse {a} (t = {pulses[a]:.4f} s, "
                f"{plural(int(dropped.n_dropped[0]), 'frame')} missing)"
            )
        else:
            gap = "the pulses have no gap (the frames differ at the start or the end)"
        raise InputError(
            f"{what}: has {plural(pulses.size, 'pulse')} but {against} has {plural(n_frames, 'frame')} "
            f"({abs(diff)} {'more' if diff > 0 else 'fewer'} pulses); {gap}; expected one pulse per frame"
        )
    slots = np.arange(int(dropped.frame_index[-1]) + 1)
    times = np.interp(slots, dropped.frame_index, pulses)
    return FrameClock(times=times, frame_index=dropped.frame_index, dropped=dropped)


def sync_edges(sync: SyncFile, channel: str, threshold: float | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Onset (rising-edge) and offset (falling-edge) times (s) of a channel of the sync file.

    Sampled channels go through :func:`~neurocine.features.timing.ttl_edges`;
    each onset is paired with the first falling edge after it (None for an
    edge-times file without offsets).

    Examples
    --------
    >>> from neurocine.io.tables import Table
    >>> t = Table({"ttl": np.array([0.0, 5, 5, 0, 0, 5, 0])}, np.arange(7) / 10, "sync.csv")
    >>> on, off = sync_edges(SyncFile(t, None, "sync.csv"), "ttl")
    >>> on.tolist(), off.tolist()
    ([0.1, 0.5], [0.3, 0.6])
    """
    if channel not in sync.channels:
        raise InputError(f"{sync.source}: no channel {channel!r}; expected one of {sync.channels}")
    if sync.edges is not None:
        return sync.edges[channel]
    assert sync.samples is not None and sync.samples.timestamps is not None
    sig, t = sync.samples.columns[channel], sync.samples.timestamps
    try:
        on = ttl_edges(sig, t, threshold, "rising")
        fall = ttl_edges(sig, t, threshold, "falling")
    except InputError as exc:
        raise InputError(f"{sync.source}: channel {channel!r}: {exc}") from None
    j = np.searchsorted(fall, on, side="right")
    off = np.full(on.size, float(t[-1]))  # a pulse still high at the end lasts to the last sample
    off[j < fall.size] = fall[j[j < fall.size]]
    return on, off


# --------------------------------------------------------------------------- regressors


def _frame_of(times: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """Frame slot holding each time: the last slot starting at or before it; -1 before the first or
    after the last slot's end (one median period after its start)."""
    period = float(np.median(np.diff(clock))) if clock.size > 1 else 1.0
    k = np.searchsorted(clock, times, side="right") - 1
    return np.where((k < 0) | (times >= clock[-1] + period), -1, k)


def event_regressor(
    onsets: np.ndarray,
    clock: np.ndarray,
    *,
    shape: str = "onset",
    offsets: np.ndarray | None = None,
    duration_s: float | None = None,
) -> np.ndarray:
    """An event regressor on a frame clock.

    ``shape="onset"``: the number of onsets in each frame (frame ``k`` holds
    the times from ``clock[k]`` up to ``clock[k + 1]``); ``"boxcar"``: 1 in
    every frame from the onset's to the one holding ``offset`` (or
    ``onset + duration_s``), exclusive of an offset that falls exactly on a frame start.

    Parameters
    ----------
    onsets : ndarray, shape (E,)
        Event times (s), same clock as ``clock``.
    clock : ndarray, shape (n,)
        Frame start times (s), increasing.
    shape : {"onset", "boxcar"}
    offsets : ndarray, shape (E,), optional
        Event ends (s), for a boxcar without ``duration_s``.
    duration_s : float, optional
        Fixed boxcar length (s).

    Returns
    -------
    ndarray, shape (n,), float64

    Examples
    --------
    >>> clock = np.arange(6) * 0.1
    >>> event_regressor(np.array([0.05, 0.12, 0.18]), clock).tolist()
    [1.0, 2.0, 0.0, 0.0, 0.0, 0.0]
    >>> event_regressor(np.array([0.1]), clock, shape="boxcar", duration_s=0.3).tolist()
    [0.0, 1.0, 1.0, 1.0, 0.0, 0.0]
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    x = np.zeros(clock.size)
    if shape == "onset":
        k = _frame_of(onsets, clock)
        np.add.at(x, k[k >= 0], 1.0)
        return x
    if duration_s is not None:
        ends = onsets + duration_s
    elif offsets is not None:
        ends = np.asarray(offsets, dtype=np.float64)
    else:
        raise InputError("event_regressor: a boxcar needs offsets or duration_s; expected one of them")
    first = np.searchsorted(clock, onsets, side="right") - 1
    last = np.searchsorted(clock, ends, side="left") - 1  # the last frame starting before the end
    for a, b in zip(np.maximum(first, 0), np.minimum(last, clock.size - 1)):
        if b >= a:
            x[a : b + 1] = 1.0
    return x


def time_since(onsets: np.ndarray, clock: np.ndarray) -> np.ndarray:
    """Seconds from the last onset at or before each frame time; before the first onset, from the first frame.

    Examples
    --------
    >>> time_since(np.array([0.15]), np.arange(5) * 0.1).round(3).tolist()
    [0.0, 0.1, 0.05, 0.15, 0.25]
    """
    onsets = np.asarray(onsets, dtype=np.float64)
    j = np.searchsorted(onsets, clock, side="right") - 1
    last = np.where(j >= 0, onsets[np.maximum(j, 0)] if onsets.size else clock[0], clock[0])
    return clock - last


def categorical_columns(name: str, labels: Any, *, source: str) -> dict[str, np.ndarray]:
    """One-hot columns ``"<name>=<level>"`` of a categorical variable; missing labels give zero rows.

    Parameters
    ----------
    name : str
        The variable (column) name.
    labels : array_like, shape (T,)
        Text or integer labels; ``""``, None and NaN are missing.
    source : str
        The file, for messages.

    Returns
    -------
    dict of str -> ndarray, shape (T,), float64
        One column per level, in sorted order.

    Raises
    ------
    InputError
        Fewer than two levels (the one-hot columns would be constant, or
        collinear with the intercept).

    Examples
    --------
    >>> cols = categorical_columns("stim", np.array(["left", "", "right", "left"]), source="b.csv")
    >>> {k: v.tolist() for k, v in cols.items()}
    {'stim=left': [1.0, 0.0, 0.0, 1.0], 'stim=right': [0.0, 0.0, 1.0, 0.0]}
    """
    arr = np.asarray(labels, dtype=object)
    missing = np.array(
        [v is None or v == "" or (isinstance(v, (float, np.floating)) and not np.isfinite(v)) for v in arr], bool
    )
    present = arr[~missing]
    if present.size and all(isinstance(v, (float, np.floating)) and float(v).is_integer() for v in present):
        present = present.astype(np.int64)  # integer codes read as floats
    elif present.size:
        present = present.astype(str)
    levels = np.unique(present) if present.size else np.array([])
    if levels.size < 2:
        found = f"a single level {levels[0].item()!r}" if levels.size else "no label"
        raise InputError(
            f"{source}: categorical column {name!r} has {found}; expected at least 2 levels "
            f"(one level gives a constant one-hot column)"
        )
    values, names = one_hot(present, name=name)
    out = np.zeros((arr.size, values.shape[1]))
    out[~missing] = values
    return {n: out[:, j] for j, n in enumerate(names)}


# --------------------------------------------------------------------------- the session


@dataclass
class SessionFeatures:
    """A session's raw features on the model's frame clock (see :func:`session_features`).

    Attributes
    ----------
    features : dict of str -> ndarray, shape (n_slots,)
        In design order.
    groups : dict of str -> str
        Feature -> group.
    video_features : list of str
    fps : float or None
        The frame rate the sync file measured (None without ``[sync]``).
    frame_index : ndarray of int, shape (T,), or None
        Slot of each recorded frame when frames were dropped (features hold one row per slot); None otherwise.
    info : dict
        What was aligned, for ``summary.json``.
    """

    features: dict[str, np.ndarray] = field(default_factory=dict)
    groups: dict[str, str] = field(default_factory=dict)
    video_features: list[str] = field(default_factory=list)
    fps: float | None = None
    frame_index: np.ndarray | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray, group: str, source: str) -> None:
        if name in self.features:
            raise InputError(
                f"{source}: column {name!r} is also a feature of the video, behaviour table or sync file; "
                f"expected distinct names"
            )
        self.features[name] = np.asarray(values, dtype=np.float64)
        self.groups[name] = group


def _resample(values: np.ndarray, times: np.ndarray, clock: np.ndarray, method: str) -> np.ndarray:
    if method == "linear":
        return to_common_clock({"x": (values, times)}, clock, method="linear", outside="clip")["x"]
    return to_common_clock({"x": (values, times)}, clock, method="previous", outside="nan")["x"]


def _behaviour(cfg: Any, out: SessionFeatures, t_len: int, clock: FrameClock | None) -> None:
    b = cfg.behaviour
    path = b["path"]
    table: Table = read_table(path, series=b["series"])
    categorical = list(b.get("categorical") or [])
    numeric = [c for c in table.columns if c not in table.text_columns]
    use = b["use"] if b["use"] is not None else numeric + [c for c in categorical if c not in numeric]
    columns = use + [c for c in categorical if c not in use]
    for col in columns:
        if col not in table.columns:
            key = "use" if col in use else "categorical"
            raise InputError(
                f"{cfg.file.name}: [behaviour] {key}: column {col!r} is not in {path}; "
                f"expected some of {list(table.columns)}"
            )
    if clock is not None and table.timestamps is not None:
        times, target, how = table.timestamps, clock.times, f"resampled from its time column onto {cfg.sync['frames']}"
    elif table.n_rows != t_len:
        raise InputError(
            f"{path}: has {table.n_rows} rows but {cfg.neural['path']} has "
            f"{t_len} time steps; expected one row per frame (same clock)"
            + (", or a time column on the sync file's clock" if clock is not None else "")
        )
    elif clock is not None and clock.dropped.total:
        times, target, how = clock.recorded_times, clock.times, "one row per recorded frame"
    else:
        times, target, how = None, None, "one row per frame"
    for col in columns:
        values = table.columns[col]
        is_cat = col in categorical or values.dtype.kind == "U"
        if times is not None and target is not None:
            values = _resample(values, times, target, "previous" if is_cat else "linear")
        if is_cat:
            for name, x in categorical_columns(col, values, source=str(path)).items():
                out.add(name, x, col, str(path))
        else:
            out.add(col, values, col, str(path))
    out.info["behaviour"] = {"path": str(path), "columns": use, "categorical": categorical, "clock": how}


def session_features(cfg: Any, t_len: int, video: tuple[dict, dict, dict] | None) -> SessionFeatures:
    """Every stream of an encode config's session on the neural frame clock.

    Parameters
    ----------
    cfg : EncodeConfig
        The checked config (its ``video``, ``behaviour``, ``sync``, ``events`` and ``neural`` tables).
    t_len : int
        Frames (time steps) of the neural recording.
    video : (features, groups, info) or None
        The video's per-frame features (``info["frames"]`` frames), when there is a ``[video]``.

    Returns
    -------
    SessionFeatures

    Raises
    ------
    InputError
        A stream whose length disagrees with the neural recording (or its
        pulses with its frames), an unknown column or channel, a categorical
        column with a single level.
    """
    out = SessionFeatures()
    sync = getattr(cfg, "sync", None)
    clock = None
    sf = None
    if sync is not None:
        sf = read_sync(sync["path"])
        pulses, _ = sync_edges(sf, sync["frames"], sync["threshold"])
        clock = frame_clock(
            pulses,
            t_len,
            what=f"{sf.source}: channel {sync['frames']!r}",
            against=str(cfg.neural["path"]),
            expected_rate=cfg.fps,
        )
        out.fps = float(cfg.fps or clock.dropped.rate)
        out.frame_index = clock.frame_index if clock.dropped.total else None
        out.info["sync"] = {"path": str(sync["path"]), "frames": clock.summary(sync["frames"])}
    if video is not None:
        feats, groups, vinfo = video
        if sync is not None and sync["video"] is not None:
            assert sf is not None and clock is not None
            cam, _ = sync_edges(sf, sync["video"], sync["threshold"])
            cam_clock = frame_clock(
                cam, vinfo["frames"], what=f"{sf.source}: channel {sync['video']!r}", against=str(cfg.video["path"])
            )
            feats = {k: _resample(v, cam_clock.recorded_times, clock.times, "linear") for k, v in feats.items()}
            out.info["sync"]["video"] = cam_clock.summary(sync["video"])
        elif vinfo["frames"] != t_len:
            raise InputError(
                f"{cfg.video['path']}: has {vinfo['frames']} frames but {cfg.neural['path']} has "
                f"{t_len} time steps; expected one neural sample per video frame (same clock)"
                + ("" if sync is None else f", or [sync] video = the camera's channel in {sync['path'].name}")
            )
        elif clock is not None and clock.dropped.total:
            feats = {k: _resample(v, clock.recorded_times, clock.times, "linear") for k, v in feats.items()}
        out.features.update(feats)
        out.groups.update(groups)
        out.video_features = list(feats)
        out.info["video"] = vinfo
    if cfg.behaviour is not None:
        _behaviour(cfg, out, t_len, clock)
    if sync is not None:
        assert sf is not None and clock is not None
        if sync["signals"] and sf.samples is None:
            raise InputError(
                f"{cfg.file.name}: [sync] signals: {sf.source} holds edge times; expected a file of sampled channels"
            )
        for ch in sync["signals"]:
            if sf.samples is None or ch not in sf.samples.columns:
                raise InputError(f"{cfg.file.name}: [sync] signals: no channel {ch!r}; expected one of {sf.channels}")
            assert sf.samples.timestamps is not None
            out.add(ch, _resample(sf.samples.columns[ch], sf.samples.timestamps, clock.times, "linear"), ch, sf.source)
        counts = {}
        for name, ev in cfg.events.items():
            on, off = sync_edges(sf, ev["channel"], sync["threshold"])
            if ev["shape"] == "boxcar" and ev["duration_s"] is None and off is None:
                raise InputError(
                    f"{cfg.file.name}: [events.{name}] shape = 'boxcar': {sf.source} has no offsets for channel "
                    f"{ev['channel']!r}; expected duration_s = <seconds>"
                )
            x = event_regressor(on, clock.times, shape=ev["shape"], offsets=off, duration_s=ev["duration_s"])
            out.add(name, x, name, sf.source)
            if ev["since"]:
                out.add(f"{name}_since", time_since(on, clock.times), f"{name}_since", sf.source)
            counts[name] = int(x.sum()) if ev["shape"] == "onset" else int(np.asarray(on).size)
        out.info["sync"]["events"] = counts
    if not out.features:
        raise InputError(f"{cfg.file.name}: no features; expected a [video] and/or a [behaviour] table")
    return out
