"""Read and write mouse folders in the Sensorium 2023 format, lazily, one trial at a time.

On-disk layout of one mouse (the released competition data and :func:`neurocine.v1.simulate.simulate_v1`)::

    <root>/data/videos/<i>.npy          (H, W, T)  stimulus, 0-255 grey levels (36 x 64 at 30 Hz)
    <root>/data/responses/<i>.npy       (N, T)     deconvolved activity (may be stored float16)
    <root>/data/behavior/<i>.npy        (2, T)     [pupil dilation, running speed]
    <root>/data/pupil_center/<i>.npy    (2, T)     [x, y] eye position
    <root>/meta/trials/tiers.npy        (n_trials,) 'train', 'oracle', 'live_test_main', 'live_test_bonus',
                                                    'final_test_main', 'final_test_bonus', 'none'
    <root>/meta/neurons/unit_ids.npy    (N,)
    <root>/meta/neurons/cell_motor_coordinates.npy  (N, 3)   optional
    <root>/meta/trials/video_ids.npy    (n_trials,)  optional: which trials show the same stimulus
    <root>/meta/statistics/<key>/all/<stat>.npy      optional: mean/std/min/max/median over the train tier
                                                     (<key> in videos, responses, behavior, pupil_center)
    <root>/meta/simulation/...          optional: ground truth written by the simulator

Trial ``i`` is the row ``i`` of every ``meta/trials`` array and the files ``<i>.npy``. Trials last up to
300 frames and are NaN-padded at the end; the reader trims the trailing frames where the video or the
responses hold a NaN and returns arrays **time first** (``(T, H, W)``, ``(T, N)``, ``(T, 2)``,
``(T, 2)``, float32), the convention of the whole package.

Validation
    :class:`SensoriumMouse` checks the folder when it opens (the four data folders, ``tiers.npy``,
    ``unit_ids.npy``, a file per trial and kind for every tier but ``'none'``) and every trial when it is
    read (2-D video frames, N rows of responses matching ``unit_ids``, 2 rows of behaviour and pupil
    centre, the same number of frames in the four files, no NaN in the video or responses inside the
    valid part). Each problem is one :class:`~neurocine.errors.InputError` line naming the file, what was
    found and what was expected.

Cleaning (options of :class:`SensoriumMouse`)
    Deconvolved responses can dip below zero; ``negative="clip"`` (default) sets them to 0,
    ``"refuse"`` raises naming the file. NaN runs in behaviour or pupil centre inside the valid frames
    of at most ``max_nan_run`` frames (default 5) are filled by linear interpolation (nearest value at
    the trial's edges); longer runs raise naming the trial and the field. :meth:`SensoriumMouse.cleaning`
    counts both over the trials read.

Withheld tiers
    The competition release stores the responses of its test tiers (``final_test_*`` and, in the
    competition version, ``live_test_*``) as zeros. :meth:`SensoriumMouse.withheld_tiers` finds the tiers
    whose responses are zero in every trial (the peers' ``not np.any(response)``);
    :meth:`SensoriumMouse.tiers_with_responses` the others.

Repeats
    :meth:`SensoriumMouse.clip_keys` names the stimulus of each trial: ``meta/trials/video_ids.npy`` when
    present, else a hash of the trial's video frames, so repeats group either way.

Lazy access
    Opening reads only the ``meta`` arrays and directory listings; :meth:`SensoriumMouse.trial` memory-maps
    the four files of one trial; :meth:`SensoriumMouse.trials` returns a lazy sequence (``len``, indexing,
    slicing, iteration) that reads a trial only when it is indexed.

Writing
    :func:`write_trial` and :func:`write_meta` write the same layout, each file atomically (into a
    temporary sibling, renamed into place when complete).

Examples
--------
>>> from neurocine.io.sensorium import SensoriumMouse               # doctest: +SKIP
>>> mouse = SensoriumMouse("dynamic29156-11-10-Video")              # doctest: +SKIP
>>> mouse.n_neurons, mouse.frame_shape, len(mouse.trials("oracle"))  # doctest: +SKIP
(7440, (36, 64), 50)
>>> trial = mouse.trials("train")[0]                                 # doctest: +SKIP
>>> trial.video.shape, trial.responses.shape                         # doctest: +SKIP
((300, 36, 64), (300, 7440))
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path

__all__ = [
    "DATA_KINDS",
    "NEGATIVE",
    "TIERS",
    "SensoriumMouse",
    "Trial",
    "TrialSequence",
    "fill_nan_runs",
    "write_meta",
    "write_trial",
]

#: The data folders of a mouse, in the order of :class:`Trial`'s arrays.
DATA_KINDS = ("videos", "responses", "behavior", "pupil_center")
#: Tier names of the Sensorium 2023 data ('none': trials excluded from every split).
TIERS = ("train", "oracle", "live_test_main", "live_test_bonus", "final_test_main", "final_test_bonus", "none")
#: Statistics stored per data kind under ``meta/statistics/<kind>/all/``.
STATISTICS = ("mean", "std", "min", "max", "median")
#: What :class:`SensoriumMouse` does with negative responses: set them to 0, or raise.
NEGATIVE = ("clip", "refuse")


class Trial(NamedTuple):
    """One trial, time first, float32.

    Attributes
    ----------
    trial_id : str
        The file stem (``"17"`` for ``17.npy``).
    tier : str
        Its row of ``meta/trials/tiers.npy``.
    video : ndarray, shape (T, H, W)
        Stimulus frames, 0-255 grey levels.
    responses : ndarray, shape (T, N)
        Activity of the N neurons (deconvolved calcium or spike counts per frame).
    behavior : ndarray, shape (T, 2)
        Pupil dilation and running speed.
    pupil_center : ndarray, shape (T, 2)
        Eye position ``[x, y]``.
    """

    trial_id: str
    tier: str
    video: np.ndarray
    responses: np.ndarray
    behavior: np.ndarray
    pupil_center: np.ndarray


# --------------------------------------------------------------------------- helpers


def _load_npy(path: Path, *, mmap: bool = False, meta: bool = False) -> np.ndarray:
    """``np.load`` of one .npy file; unreadable files become one InputError line naming the path.

    ``meta=True`` accepts object arrays (some releases store ``tiers.npy`` as Python strings).
    """
    try:
        try:
            return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
        except ValueError as exc:
            if not meta or "allow_pickle" not in str(exc):
                raise
            return np.load(path, allow_pickle=True)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file; expected a .npy array") from None
    except (OSError, ValueError, EOFError) as exc:
        raise InputError(f"{path}: cannot be read as a .npy array ({exc}); the file is truncated or corrupt") from None


def _as_str_array(arr: np.ndarray, path: Path) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.ndim != 1:
        raise InputError(f"{path}: has shape {arr.shape}; expected a 1-D array with one entry per trial")
    if arr.dtype.kind == "S":
        return arr.astype(str)
    if arr.dtype.kind in "UO":
        return np.asarray([str(x) for x in arr], dtype=str) if arr.dtype.kind == "O" else arr
    raise InputError(f"{path}: has dtype {arr.dtype}; expected strings ('train', 'oracle', ...)")


def _stem_index(folder: Path) -> set[str]:
    try:
        return {e.name[:-4] for e in os.scandir(folder) if e.name.endswith(".npy") and not e.name.startswith(".")}
    except OSError as exc:
        raise InputError(f"{folder}: cannot be listed ({exc.strerror or exc}); expected a readable folder") from None


def _trailing_invalid(bad_frames: np.ndarray) -> int:
    """Number of True values at the end of a boolean vector."""
    if not bad_frames.size or not bad_frames[-1]:
        return 0
    good = np.flatnonzero(~bad_frames)
    return int(bad_frames.size - (good[-1] + 1 if good.size else 0))


def _nan_runs(bad: np.ndarray) -> list[tuple[int, int]]:
    """(start, length) of every run of True in a boolean vector."""
    edges = np.diff(np.concatenate([[0], bad.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return [(int(a), int(b - a)) for a, b in zip(starts, ends)]


def fill_nan_runs(arr: np.ndarray, max_run: int, where: str) -> tuple[np.ndarray, int]:
    """Fill NaN runs of at most ``max_run`` frames by linear interpolation over time, column by column.

    Parameters
    ----------
    arr : ndarray, shape (T, C)
        Time first (behaviour or pupil centre of one trial).
    max_run : int
        Longest run of NaN frames filled; a longer run raises.
    where : str
        Names the array in the error (e.g. the file).

    Returns
    -------
    filled : ndarray, shape (T, C), float32
        A copy with NaN replaced (a run at the start or end takes the nearest valid value).
    n_frames : int
        Frames that held a NaN in any column.

    Raises
    ------
    InputError
        A run longer than ``max_run`` frames, or a column that is NaN in every frame.

    Examples
    --------
    >>> x = np.array([[0.0], [np.nan], [np.nan], [3.0]], dtype=np.float32)
    >>> filled, n = fill_nan_runs(x, 5, "behavior")
    >>> filled.ravel().tolist(), n
    ([0.0, 1.0, 2.0, 3.0], 2)
    """
    out = np.array(arr, dtype=np.float32)
    bad_frames = np.isnan(out).any(axis=1)
    if not bad_frames.any():
        return out, 0
    t = np.arange(out.shape[0])
    for c in range(out.shape[1]):
        bad = np.isnan(out[:, c])
        if not bad.any():
            continue
        runs = _nan_runs(bad)
        start, length = max(runs, key=lambda r: r[1])
        if length > max_run or bad.all():
            raise InputError(
                f"{where}: has NaN in frames {start}-{start + length - 1} of row {c} ({length} frames in a row) "
                f"inside the valid part; expected runs of at most {max_run} frames (max_nan_run) to interpolate"
            )
        out[bad, c] = np.interp(t[bad], t[~bad], out[~bad, c])
    return out, int(bad_frames.sum())


# --------------------------------------------------------------------------- reader


class TrialSequence(Sequence):
    """A lazy, read-only sequence of :class:`Trial` (each read from disk when indexed).

    Supports ``len``, integer indexing (negative too), slicing (another lazy sequence) and iteration.
    """

    def __init__(self, mouse: SensoriumMouse, trial_ids: Sequence[str]) -> None:
        self.mouse = mouse
        self.trial_ids = list(trial_ids)

    def __len__(self) -> int:
        return len(self.trial_ids)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return TrialSequence(self.mouse, self.trial_ids[index])
        if isinstance(index, (bool, np.bool_)) or not isinstance(index, (int, np.integer)):
            raise InputError(f"trial index: got {index!r}; expected an integer or a slice")
        return self.mouse.trial(self.trial_ids[index])

    def __iter__(self) -> Iterator[Trial]:
        for tid in self.trial_ids:
            yield self.mouse.trial(tid)

    def __repr__(self) -> str:
        return f"TrialSequence({len(self)} trials of {self.mouse.root})"


class SensoriumMouse:
    """One mouse folder of the Sensorium 2023 format, validated at open, read lazily per trial.

    Parameters
    ----------
    root : str or Path
        The mouse folder (holding ``data/`` and ``meta/``).
    negative : {"clip", "refuse"}, default "clip"
        Negative responses inside the valid frames: set to 0 (counted, see :meth:`cleaning`) or raise.
    max_nan_run : int, default 5
        Longest run of NaN frames in behaviour or pupil centre (inside the valid frames) that is filled by
        linear interpolation; a longer run raises naming the trial and the field.

    Attributes
    ----------
    root : Path
    tiers : ndarray of str, shape (n_trials,)
        Tier of every trial (``meta/trials/tiers.npy``).
    trial_ids : list of str
        ``"0"`` .. ``str(n_trials - 1)``, the row order of ``tiers``.
    unit_ids : ndarray, shape (N,)
    n_neurons : int
    cell_motor_coordinates : ndarray, shape (N, 3), or None
        Neuron positions (µm) when the folder has them.
    video_ids : ndarray, shape (n_trials,), or None
        Stimulus identity per trial (repeats share an id) when the folder has ``meta/trials/video_ids.npy``.
    frame_shape : tuple (H, W)
        Shape of one video frame (read from the header of the first trial's video).

    Raises
    ------
    InputError
        The folder, a data folder, ``tiers.npy`` or ``unit_ids.npy`` is missing or malformed, or a trial
        of a tier other than ``'none'`` lacks one of its four files.

    Examples
    --------
    >>> mouse = SensoriumMouse("mouse_folder")                   # doctest: +SKIP
    >>> for trial in mouse.trials("oracle"):                     # doctest: +SKIP
    ...     print(trial.trial_id, trial.video.shape, trial.responses.shape)
    """

    def __init__(self, root: str | os.PathLike, *, negative: str = "clip", max_nan_run: int = 5) -> None:
        self.root = Path(root)
        if negative not in NEGATIVE:
            raise InputError(f"--negative: got {negative!r}; expected one of {', '.join(NEGATIVE)}")
        if isinstance(max_nan_run, bool) or not isinstance(max_nan_run, (int, np.integer)) or max_nan_run < 0:
            raise InputError(f"max_nan_run: got {max_nan_run!r}; expected an integer >= 0 (frames)")
        self.negative = negative
        self.max_nan_run = int(max_nan_run)
        self._cleaned: dict[str, tuple[int, int, int]] = {}  # trial -> (clipped, behaviour, pupil frames filled)
        self._withheld: list[str] | None = None
        if not self.root.is_dir():
            raise InputError(f"{self.root}: no such folder; expected a Sensorium mouse folder with data/ and meta/")
        for kind in DATA_KINDS:
            folder = self.root / "data" / kind
            if not folder.is_dir():
                raise InputError(
                    f"{folder}: no such folder; expected data/{kind}/<trial>.npy files "
                    f"(a Sensorium mouse folder has data/{{{','.join(DATA_KINDS)}}})"
                )
        tiers_path = self.root / "meta" / "trials" / "tiers.npy"
        if not tiers_path.is_file():
            raise InputError(f"{tiers_path}: no such file; expected meta/trials/tiers.npy with one tier per trial")
        self.tiers = _as_str_array(_load_npy(tiers_path, meta=True), tiers_path)
        units_path = self.root / "meta" / "neurons" / "unit_ids.npy"
        if not units_path.is_file():
            raise InputError(f"{units_path}: no such file; expected meta/neurons/unit_ids.npy with one id per neuron")
        self.unit_ids = np.asarray(_load_npy(units_path, meta=True))
        if self.unit_ids.ndim != 1 or self.unit_ids.size == 0:
            raise InputError(f"{units_path}: has shape {self.unit_ids.shape}; expected a non-empty 1-D array (N,)")
        self.n_neurons = int(self.unit_ids.size)
        coords_path = self.root / "meta" / "neurons" / "cell_motor_coordinates.npy"
        self.cell_motor_coordinates = None
        if coords_path.is_file():
            coords = np.asarray(_load_npy(coords_path))
            if coords.shape != (self.n_neurons, 3):
                raise InputError(
                    f"{coords_path}: has shape {coords.shape}; expected ({self.n_neurons}, 3), "
                    f"one (x, y, z) per unit of unit_ids.npy"
                )
            self.cell_motor_coordinates = coords
        vid_path = self.root / "meta" / "trials" / "video_ids.npy"
        self.video_ids = None
        if vid_path.is_file():
            vids = np.asarray(_load_npy(vid_path, meta=True))
            if vids.shape != self.tiers.shape:
                raise InputError(
                    f"{vid_path}: has shape {vids.shape}; expected {self.tiers.shape}, one id per trial like tiers.npy"
                )
            self.video_ids = vids
        self.trial_ids = [str(i) for i in range(self.tiers.size)]
        self._index = {tid: i for i, tid in enumerate(self.trial_ids)}
        present = {kind: _stem_index(self.root / "data" / kind) for kind in DATA_KINDS}
        for tid, tier in zip(self.trial_ids, self.tiers):
            if tier == "none":
                continue
            for kind in DATA_KINDS:
                if tid not in present[kind]:
                    path = self.root / "data" / kind / f"{tid}.npy"
                    raise InputError(
                        f"{path}: no such file; expected one file per trial of tiers.npy "
                        f"(trial {tid} has tier {tier!r})"
                    )
        self.frame_shape: tuple[int, int] | None = None
        first = next((t for t, tier in zip(self.trial_ids, self.tiers) if tier != "none"), None)
        if first is not None:
            video = _load_npy(self._path("videos", first), mmap=True)
            if video.ndim != 3:
                raise InputError(
                    f"{self._path('videos', first)}: has shape {video.shape}; expected (H, W, T), "
                    f"2-D frames stacked along the last axis"
                )
            self.frame_shape = (int(video.shape[0]), int(video.shape[1]))

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.trial_ids)

    def __repr__(self) -> str:
        counts = {str(t): int(n) for t, n in zip(*np.unique(self.tiers, return_counts=True))}
        return f"SensoriumMouse({str(self.root)!r}, {self.n_neurons} neurons, trials {counts})"

    def _path(self, kind: str, trial_id: str) -> Path:
        return self.root / "data" / kind / f"{trial_id}.npy"

    def _resolve(self, trial_id: Any) -> str:
        tid = (
            str(int(trial_id))
            if isinstance(trial_id, (int, np.integer)) and not isinstance(trial_id, bool)
            else str(trial_id)
        )
        if tid not in self._index:
            raise InputError(
                f"{self.root}: no trial {trial_id!r}; expected a trial id in 0..{len(self) - 1} "
                f"(rows of meta/trials/tiers.npy)"
            )
        return tid

    def tier_of(self, trial_id: Any) -> str:
        """Tier of one trial."""
        return str(self.tiers[self._index[self._resolve(trial_id)]])

    def trial_ids_of(self, tier: str | Sequence[str] | None = None) -> list[str]:
        """Ids of the trials of ``tier`` (a name or several); ``None``: every trial whose tier is not 'none'."""
        if tier is None:
            keep = self.tiers != "none"
        else:
            names = [tier] if isinstance(tier, str) else list(tier)
            keep = np.isin(self.tiers, names)
        return [t for t, k in zip(self.trial_ids, keep) if k]

    def trials(self, tier: str | Sequence[str] | None = None) -> TrialSequence:
        """The trials of ``tier`` (see :meth:`trial_ids_of`) as a lazy sequence of :class:`Trial`."""
        return TrialSequence(self, self.trial_ids_of(tier))

    # ------------------------------------------------------------------ one trial
    def trial(self, trial_id: Any) -> Trial:
        """Read, check, trim and transpose one trial (see the module notes).

        Raises
        ------
        InputError
            Wrong shapes, a responses file whose N differs from ``unit_ids``, files with different
            numbers of frames, a NaN in the video or responses inside the valid part (naming the file and
            the frame), a NaN run in behaviour or pupil centre longer than ``max_nan_run``, a negative
            response with ``negative="refuse"``, or no valid frame at all.
        """
        tid = self._resolve(trial_id)
        paths = {kind: self._path(kind, tid) for kind in DATA_KINDS}
        arrays = {kind: _load_npy(p, mmap=True) for kind, p in paths.items()}
        video, resp, beh, pupil = (arrays[k] for k in DATA_KINDS)
        if video.ndim != 3:
            raise InputError(
                f"{paths['videos']}: has shape {video.shape}; expected (H, W, T), "
                f"2-D frames stacked along the last axis"
            )
        if self.frame_shape is not None and tuple(video.shape[:2]) != self.frame_shape:
            raise InputError(
                f"{paths['videos']}: has frames of {video.shape[0]}x{video.shape[1]}; expected "
                f"{self.frame_shape[0]}x{self.frame_shape[1]} like the other trials"
            )
        if resp.ndim != 2 or resp.shape[0] != self.n_neurons:
            raise InputError(
                f"{paths['responses']}: has shape {resp.shape}; expected ({self.n_neurons}, T), "
                f"one row per unit of meta/neurons/unit_ids.npy"
            )
        for kind, arr in (("behavior", beh), ("pupil_center", pupil)):
            if arr.ndim != 2 or arr.shape[0] != 2:
                what = "[pupil dilation, running speed]" if kind == "behavior" else "[x, y]"
                raise InputError(f"{paths[kind]}: has shape {arr.shape}; expected (2, T), rows {what}")
        for kind, arr in arrays.items():
            if arr.dtype.kind not in "biuf":
                raise InputError(f"{paths[kind]}: has dtype {arr.dtype}; expected real numbers")
        t_len = video.shape[-1]
        for kind in DATA_KINDS[1:]:
            if arrays[kind].shape[-1] != t_len:
                raise InputError(
                    f"{paths[kind]}: has {arrays[kind].shape[-1]} frames; expected {t_len} "
                    f"like {paths['videos'].name} in data/videos (same T in all four files)"
                )
        video = np.asarray(video, dtype=np.float32)
        resp = np.asarray(resp, dtype=np.float32)
        beh = np.asarray(beh, dtype=np.float32)
        pupil = np.asarray(pupil, dtype=np.float32)
        nan_v = np.isnan(video).any(axis=(0, 1))
        nan_r = np.isnan(resp).any(axis=0)
        n_valid = t_len - _trailing_invalid(nan_v | nan_r)
        if n_valid == 0:
            raise InputError(
                f"{paths['videos']}: every one of the {t_len} frames is NaN in the video or the "
                f"responses; expected at least one valid frame before the NaN padding"
            )
        for kind, bad in (("videos", nan_v), ("responses", nan_r)):
            inside = np.flatnonzero(bad[:n_valid])
            if inside.size:
                raise InputError(
                    f"{paths[kind]}: has NaN at frame {int(inside[0])} ({inside.size} frames with NaN) "
                    f"inside the valid part (frames 0-{n_valid - 1}); expected NaN only as padding "
                    f"at the end"
                )
        responses = np.ascontiguousarray(resp[:, :n_valid].T)
        negative = responses < 0
        n_negative = int(negative.sum())
        if n_negative and self.negative == "refuse":
            raise InputError(
                f"{paths['responses']}: has {n_negative} negative values (min {float(responses.min()):.3g}); "
                f"expected non-negative activity (negative='clip' sets them to 0)"
            )
        responses[negative] = 0.0
        behavior, n_beh = fill_nan_runs(beh[:, :n_valid].T, self.max_nan_run, str(paths["behavior"]))
        pupil_center, n_pup = fill_nan_runs(pupil[:, :n_valid].T, self.max_nan_run, str(paths["pupil_center"]))
        self._cleaned[tid] = (n_negative, n_beh, n_pup)
        return Trial(
            trial_id=tid,
            tier=str(self.tiers[self._index[tid]]),
            video=np.ascontiguousarray(np.moveaxis(video[:, :, :n_valid], -1, 0)),
            responses=responses,
            behavior=np.ascontiguousarray(behavior),
            pupil_center=np.ascontiguousarray(pupil_center),
        )

    def cleaning(self) -> dict[str, int]:
        """What reading changed, summed over the distinct trials read so far.

        Returns
        -------
        dict
            ``trials_read``, ``negative_values_clipped`` (responses set to 0; with ``negative="refuse"`` a
            negative raises instead), ``nan_frames_interpolated_behavior`` and
            ``nan_frames_interpolated_pupil_center`` (frames filled by :func:`fill_nan_runs`).
        """
        counts = np.array(list(self._cleaned.values()), dtype=np.int64).reshape(-1, 3).sum(axis=0)
        return {
            "trials_read": len(self._cleaned),
            "negative_values_clipped": int(counts[0]),
            "nan_frames_interpolated_behavior": int(counts[1]),
            "nan_frames_interpolated_pupil_center": int(counts[2]),
        }

    # ------------------------------------------------------------------ withheld tiers, repeats
    def withheld_tiers(self) -> list[str]:
        """Tiers (other than ``'none'``) whose responses are zero (or NaN) in every trial: withheld, not recorded.

        The Sensorium 2023 competition release stores the test tiers' responses as zeros; scoring or
        reconstructing them would use zeros. Reads each trial's responses file until one holds a non-zero
        value (so a tier with responses costs one file); the answer is cached.

        Returns
        -------
        list of str
            In the order of :data:`TIERS`.

        Examples
        --------
        >>> SensoriumMouse("mouse_folder").withheld_tiers()       # doctest: +SKIP
        ['live_test_main', 'live_test_bonus', 'final_test_main', 'final_test_bonus']
        """
        if self._withheld is None:
            present = [t for t in TIERS if t != "none" and t in set(self.tiers.tolist())]
            present += sorted(set(self.tiers.tolist()) - set(TIERS))
            withheld = []
            for tier in present:
                if not any(
                    np.any(np.nan_to_num(_load_npy(self._path("responses", tid), mmap=True)))
                    for tid in self.trial_ids_of(tier)
                ):
                    withheld.append(tier)
            self._withheld = withheld
        return list(self._withheld)

    def tiers_with_responses(self) -> list[str]:
        """Tiers (other than ``'none'``) with recorded responses, in the order of :data:`TIERS`."""
        withheld = set(self.withheld_tiers())
        present = set(self.tiers.tolist())
        return [t for t in TIERS if t != "none" and t in present and t not in withheld] + sorted(
            present - set(TIERS) - withheld
        )

    def clip_keys(self, trial_ids: Sequence[Any]) -> list[Any]:
        """The stimulus of each trial: equal keys for repeats of the same clip.

        ``meta/trials/video_ids.npy`` when the folder has it; otherwise the SHA-1 of the trial's video
        frames (float32, the NaN padding at the end cut), so repeats group without ``video_ids``.

        Parameters
        ----------
        trial_ids : sequence of int or str

        Returns
        -------
        list
            One key per trial (a video id, or a hex digest).

        Examples
        --------
        >>> mouse = SensoriumMouse("mouse_folder")                   # doctest: +SKIP
        >>> keys = mouse.clip_keys(mouse.trial_ids_of("oracle"))     # doctest: +SKIP
        """
        tids = [self._resolve(t) for t in trial_ids]
        if self.video_ids is not None:
            return [self.video_ids[self._index[t]].item() for t in tids]
        keys = []
        for tid in tids:
            video = np.asarray(_load_npy(self._path("videos", tid), mmap=True), dtype=np.float32)
            n = video.shape[-1] - _trailing_invalid(np.asarray(np.isnan(video).all(axis=(0, 1))))
            keys.append(hashlib.sha1(np.ascontiguousarray(video[:, :, :n]).tobytes()).hexdigest())
        return keys

    def first_frames(self, trial_ids: Sequence[Any]) -> np.ndarray:
        """The first video frame of each trial, ``(n, H, W)`` float32, read without loading the rest.

        Examples
        --------
        >>> mouse = SensoriumMouse("mouse_folder")                        # doctest: +SKIP
        >>> mouse.first_frames(mouse.trial_ids_of("train")).shape          # doctest: +SKIP
        (240, 36, 64)
        """
        tids = [self._resolve(t) for t in trial_ids]
        h, w = self.frame_shape or (0, 0)
        out = np.empty((len(tids), h, w), dtype=np.float32)
        for i, tid in enumerate(tids):
            out[i] = np.asarray(_load_npy(self._path("videos", tid), mmap=True)[:, :, 0], dtype=np.float32)
        return out

    # ------------------------------------------------------------------ meta
    def meta_array(self, name: str) -> np.ndarray | None:
        """``meta/<name>.npy`` (e.g. ``"trials/video_ids"``) or None when absent."""
        path = self.root / "meta" / f"{name}.npy"
        return np.asarray(_load_npy(path, meta=True)) if path.is_file() else None

    def statistics(self, kind: str) -> dict[str, np.ndarray]:
        """``meta/statistics/<kind>/all/<stat>.npy`` present for ``kind`` (``{}`` when none)."""
        if kind not in DATA_KINDS:
            raise InputError(f"statistics kind: got {kind!r}; expected one of {', '.join(DATA_KINDS)}")
        folder = self.root / "meta" / "statistics" / kind / "all"
        return {s: np.asarray(_load_npy(folder / f"{s}.npy")) for s in STATISTICS if (folder / f"{s}.npy").is_file()}

    @property
    def simulation(self) -> dict | None:
        """``meta/simulation/summary.json`` of a simulated mouse (ground truth, ceiling), else None."""
        path = self.root / "meta" / "simulation" / "summary.json"
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot be read as JSON ({exc}); expected the simulator's summary") from None

    def true_rates(self, trial_id: Any) -> np.ndarray | None:
        """Ground-truth rates ``(T, N)`` float32 of a simulated trial (``meta/simulation/true_rates/``), else None.

        Trimmed to the same frames as :meth:`trial` would return when the trial is padded.
        """
        tid = self._resolve(trial_id)
        path = self.root / "meta" / "simulation" / "true_rates" / f"{tid}.npy"
        if not path.is_file():
            return None
        arr = _load_npy(path, mmap=True)
        if arr.ndim != 2 or arr.shape[0] != self.n_neurons:
            raise InputError(f"{path}: has shape {arr.shape}; expected ({self.n_neurons}, T)")
        arr = np.asarray(arr, dtype=np.float32)
        n_valid = arr.shape[1] - _trailing_invalid(np.isnan(arr).any(axis=0))
        return np.ascontiguousarray(arr[:, :n_valid].T)


# --------------------------------------------------------------------------- writer


def _save(path: Path, arr: np.ndarray) -> None:
    with atomic_path(path, suffix=".npy") as tmp:
        np.save(tmp, arr)


def _time_first(name: str, arr: Any, ndim: int, what: str) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim != ndim:
        raise InputError(f"{name}: has shape {a.shape}; expected {what}, time first")
    if a.dtype.kind not in "biuf":
        raise InputError(f"{name}: has dtype {a.dtype}; expected real numbers")
    return a


def write_trial(
    root: str | os.PathLike,
    trial_id: Any,
    trial: Any,
    *,
    response_dtype: Any = np.float16,
    video_dtype: Any = np.float32,
    pad_to: int | None = None,
) -> None:
    """Write one trial's four files (transposed to the on-disk layout), each atomically.

    Parameters
    ----------
    root : str or Path
        The mouse folder (created when missing).
    trial_id : int or str
        File stem (``17`` → ``17.npy``); the row of ``tiers.npy`` it belongs to.
    trial : Trial or any object with ``video (T, H, W)``, ``responses (T, N)``, ``behavior (T, 2)``,
        ``pupil_center (T, 2)``
    response_dtype : numpy dtype, default float16
        Dtype of the responses on disk (float16 halves the size; counts up to 2048 stay exact); the
        reader returns float32.
    video_dtype : numpy dtype, default float32
        Dtype of the video on disk (``np.uint8`` for 8-bit stimuli: values are rounded and clipped).
    pad_to : int, optional
        NaN-pad every file to this many frames, like the competition data.
    """
    root = Path(root)
    tid = str(trial_id)
    video = _time_first("trial.video", trial.video, 3, "(T, H, W)")
    resp = _time_first("trial.responses", trial.responses, 2, "(T, N)")
    beh = _time_first("trial.behavior", trial.behavior, 2, "(T, 2)")
    pupil = _time_first("trial.pupil_center", trial.pupil_center, 2, "(T, 2)")
    t_len = video.shape[0]
    for name, arr in (("trial.responses", resp), ("trial.behavior", beh), ("trial.pupil_center", pupil)):
        if arr.shape[0] != t_len:
            raise InputError(f"{name}: has {arr.shape[0]} frames; expected {t_len} like trial.video")
    for name, arr in (("trial.behavior", beh), ("trial.pupil_center", pupil)):
        if arr.shape[1] != 2:
            raise InputError(f"{name}: has shape {arr.shape}; expected (T, 2)")
    vdt = np.dtype(video_dtype)
    if vdt.kind in "iu":
        video = np.clip(np.rint(video), np.iinfo(vdt).min, np.iinfo(vdt).max)
    out = {
        "videos": np.moveaxis(video, 0, -1).astype(vdt),
        "responses": resp.T.astype(response_dtype),
        "behavior": beh.T.astype(np.float32),
        "pupil_center": pupil.T.astype(np.float32),
    }
    if pad_to is not None:
        if pad_to < t_len:
            raise InputError(f"pad_to: got {pad_to}; expected at least the trial's {t_len} frames")
        for kind, arr in out.items():
            if arr.dtype.kind != "f":
                arr = arr.astype(np.float32)
            pad = np.full(arr.shape[:-1] + (pad_to - t_len,), np.nan, dtype=arr.dtype)
            out[kind] = np.concatenate([arr, pad], axis=-1)
    for kind, arr in out.items():
        _save(root / "data" / kind / f"{tid}.npy", np.ascontiguousarray(arr))


def write_meta(
    root: str | os.PathLike,
    unit_ids: Any,
    tiers: Any,
    *,
    cell_motor_coordinates: Any = None,
    trial_meta: Mapping[str, Any] | None = None,
    neuron_meta: Mapping[str, Any] | None = None,
    statistics: Mapping[str, Mapping[str, Any]] | None = None,
) -> None:
    """Write the ``meta`` arrays of a mouse folder, each file atomically.

    Parameters
    ----------
    root : str or Path
    unit_ids : array_like, shape (N,)
    tiers : array_like of str, shape (n_trials,)
        One of :data:`TIERS` per trial, in trial-id order.
    cell_motor_coordinates : array_like, shape (N, 3), optional
    trial_meta : mapping name -> array (n_trials, ...), optional
        Extra per-trial arrays, written to ``meta/trials/<name>.npy`` (e.g. ``video_ids``).
    neuron_meta : mapping name -> array (N, ...), optional
        Extra per-neuron arrays, written to ``meta/neurons/<name>.npy``.
    statistics : mapping kind -> mapping stat -> array, optional
        Written to ``meta/statistics/<kind>/all/<stat>.npy`` (kind in :data:`DATA_KINDS`, stat in
        mean/std/min/max/median).
    """
    root = Path(root)
    units = np.asarray(unit_ids)
    if units.ndim != 1 or units.size == 0:
        raise InputError(f"unit_ids: has shape {units.shape}; expected a non-empty 1-D array (N,)")
    tiers_arr = np.asarray(tiers)
    if tiers_arr.ndim != 1 or tiers_arr.dtype.kind not in "US":
        raise InputError(f"tiers: got shape {tiers_arr.shape}, dtype {tiers_arr.dtype}; expected a 1-D array of str")
    unknown = sorted(set(tiers_arr.astype(str)) - set(TIERS))
    if unknown:
        raise InputError(f"tiers: unknown tier names {unknown}; expected names among {', '.join(TIERS)}")
    _save(root / "meta" / "neurons" / "unit_ids.npy", units)
    _save(root / "meta" / "trials" / "tiers.npy", tiers_arr.astype(str))
    if cell_motor_coordinates is not None:
        coords = np.asarray(cell_motor_coordinates, dtype=np.float64)
        if coords.shape != (units.size, 3):
            raise InputError(f"cell_motor_coordinates: has shape {coords.shape}; expected ({units.size}, 3)")
        _save(root / "meta" / "neurons" / "cell_motor_coordinates.npy", coords)
    for folder, extra, n, what in (
        ("trials", trial_meta, tiers_arr.size, "n_trials"),
        ("neurons", neuron_meta, units.size, "N"),
    ):
        for name, value in (extra or {}).items():
            arr = np.asarray(value)
            if arr.ndim == 0 or arr.shape[0] != n:
                raise InputError(f"{folder[:-1]}_meta[{name!r}]: has shape {arr.shape}; expected ({what}={n}, ...)")
            _save(root / "meta" / folder / f"{name}.npy", arr)
    for kind, stats in (statistics or {}).items():
        if kind not in DATA_KINDS:
            raise InputError(f"statistics: unknown kind {kind!r}; expected one of {', '.join(DATA_KINDS)}")
        for stat, value in stats.items():
            if stat not in STATISTICS:
                raise InputError(f"statistics[{kind!r}]: unknown statistic {stat!r}; expected {', '.join(STATISTICS)}")
            _save(root / "meta" / "statistics" / kind / "all" / f"{stat}.npy", np.asarray(value))
