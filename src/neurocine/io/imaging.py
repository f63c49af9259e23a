"""Imaging stacks ``(T, H, W)``: lazy readers, NWB writers, facemap and wfield interop.

Readers
-------
:func:`open_stack` opens a movie of T frames of H x W pixels, time first, and
returns a lazy :class:`ImageStack`: frames are read only when sliced, so a
stack larger than memory can be processed chunk by chunk
(:meth:`ImageStack.iter_chunks`, or :func:`neurocine.features.widefield.dff`
which slices any such object).

``.tif`` / ``.tiff``
    a grayscale multi-page TIFF (tifffile). Uncompressed contiguous files are
    memory-mapped; compressed or scattered ones are read page by page. An
    ImageJ ``finterval`` (or ``fps``) gives the frame rate. ``key=`` picks the
    TIFF series by index (default 0).
``.npy``
    one ``(T, H, W)`` array, memory-mapped (``np.load(mmap_mode="r")``).
``.h5`` / ``.hdf5``
    an HDF5 dataset (h5py); ``key=`` names it, default the only 3-D dataset
    in the file. A ``rate``/``sampling_rate``/``fs``/``frame_rate``
    attribute (Hz) on the dataset gives the frame rate.
``.zarr``
    a zarr array, or a group and ``key=`` naming an array in it (default the
    only 3-D array). Same rate attributes as HDF5.
``.nwb``
    the ``data`` of an ``ImageSeries`` (``TwoPhotonSeries``,
    ``OnePhotonSeries`` and other subclasses) in acquisition, processing
    modules, stimulus or stimulus templates, read lazily through its HDF5
    dataset; ``series=`` picks one by name or path, default the only one.
    ``conversion`` and ``offset`` are applied on read; ``rate`` /
    ``starting_time`` or ``timestamps`` give the clock. NWB stores image
    series as ``[frame][x][y]``; the array is returned as stored, so it is
    ``(T, H, W)`` for files written time first as most labs do.
``.dat`` / ``.bin`` / ``.raw``
    a flat binary file of frames written one after the other (as wfield and
    many rigs write), read frame block by frame block; its ``shape=(T, H,
    W)`` and ``dtype=`` must be given, and the file's size must be exactly
    ``T * H * W * itemsize`` bytes. Frames are read with sequential reads
    (:class:`RawFrames`), faster than faulting in the pages of a memory map.

:func:`read_roi_traces` reads ROI traces (``RoiResponseSeries`` or another
``TimeSeries``) of an NWB file as a ``(T, N)`` :class:`SignalMatrix` through
:func:`neurocine.io.signals.read_signal_matrix`.

Writers
-------
:func:`write_features_nwb` writes a ``(T, p)`` feature matrix (or named
groups of columns) as ``TimeSeries`` in a ``BehavioralTimeSeries`` of the
``behavior`` processing module of a new NWB file;
:func:`export_motion_svd_nwb` writes motion-SVD temporal components and
masks. Both write a temporary sibling and rename it, so a crash never leaves
a half-written file.

Interop
-------
:func:`read_facemap_proc` / :func:`read_facemap_masks` read facemap's
``<video>_proc.npy``; :func:`read_wfield_svd` and :func:`reconstruct_frames`
read and expand wfield's ``U.npy`` / ``SVT.npy`` decomposition.

Every problem with the input raises :class:`neurocine.errors.InputError`
with one line naming the file or argument, what was found and what was
expected. tifffile, h5py, zarr and pynwb are imported inside the functions
that need them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any, NamedTuple, Self

import numpy as np

from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path
from neurocine.io.nwbmeta import NWBMetadata, regular_clock, require_pynwb
from neurocine.io.signals import (
    SignalMatrix,
    check_rate,
    check_timestamps,
    collect_timeseries,
    error_reason,
    read_signal_matrix,
)
from neurocine.validation import validate_signal_matrix

__all__ = [
    "AXIS_LETTERS",
    "STACK_EXTENSIONS",
    "ImageStack",
    "RawFrames",
    "WfieldSVD",
    "export_motion_svd_nwb",
    "image_series_external_file",
    "open_stack",
    "FACEMAP_CHUNK",
    "align_facemap_motion",
    "read_facemap_masks",
    "read_facemap_proc",
    "read_roi_traces",
    "read_wfield_svd",
    "reconstruct_frames",
    "time_first_plausible",
    "write_features_nwb",
]

#: File extensions :func:`open_stack` understands (case-insensitive).
STACK_EXTENSIONS = (".tif", ".tiff", ".npy", ".h5", ".hdf5", ".zarr", ".nwb", ".dat", ".bin", ".raw")

#: Flat binary extensions (need ``shape=`` and ``dtype=``).
RAW_EXTENSIONS = (".dat", ".bin", ".raw")

_RATE_ATTRS = ("rate", "sampling_rate", "fs", "frame_rate")


# ---------------------------------------------------------------------------
# the lazy stack
# ---------------------------------------------------------------------------
class ImageStack:
    """A lazy movie of T frames of H x W pixels, time first.

    Returned by :func:`open_stack`; frames are read from the file only when
    sliced. Close it (or use it in a ``with`` block) to release the file.

    Parameters
    ----------
    data : array-like, shape (T, H, W)
        The backend: anything with ``shape``, ``dtype`` and ``__getitem__``
        on time slices (numpy memmap, h5py dataset, zarr array, a TIFF page
        reader).
    source : str
        Where the stack was read from (used in messages).
    rate : float, optional
        Frames per second (Hz), when the file gives one.
    timestamps : ndarray, shape (T,), optional
        Time of each frame in seconds, when the file gives them.
    starting_time : float, default 0.0
        Time of the first frame in seconds when only ``rate`` is known.
    conversion, offset : float
        Values are ``raw * conversion + offset`` (NWB semantics); the defaults
        1 and 0 return the raw values in their own dtype.
    name : str, optional
        The dataset, array or series read inside the file.
    closers : sequence of callables
        Called by :meth:`close` to release file handles.

    Attributes
    ----------
    shape : tuple of int
        ``(T, H, W)``.
    dtype : numpy dtype
        dtype of the arrays that slicing returns.

    Examples
    --------
    >>> import numpy as np
    >>> s = ImageStack(np.arange(24).reshape(4, 2, 3), "mem", rate=10.0)
    >>> len(s), s.shape, s[1:3].shape, s[-1, 0, 2]
    (4, (4, 2, 3), (2, 2, 3), np.int64(20))
    >>> [(start, chunk.shape[0]) for start, chunk in s.iter_chunks(3)]
    [(0, 3), (3, 1)]
    """

    def __init__(
        self,
        data: Any,
        source: str,
        *,
        rate: float | None = None,
        timestamps: np.ndarray | None = None,
        starting_time: float = 0.0,
        conversion: float = 1.0,
        offset: float = 0.0,
        name: str | None = None,
        closers: Sequence[Any] = (),
    ) -> None:
        self._data = data
        self.source = source
        self.name = name
        self.rate = rate
        self.timestamps = timestamps
        self.starting_time = float(starting_time)
        self.conversion = float(conversion)
        self.offset = float(offset)
        self._closers = list(closers)
        raw = np.dtype(data.dtype)
        self._scaled = self.conversion != 1.0 or self.offset != 0.0
        self.dtype = np.result_type(raw, np.float32) if self._scaled else raw

    # -- basic protocol --------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        """``(T, H, W)``: frames, rows, columns."""
        return tuple(int(x) for x in self._data.shape)

    @property
    def ndim(self) -> int:
        """Number of axes (3)."""
        return len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def frame_times(self) -> np.ndarray | None:
        """Time of each frame in seconds, shape (T,): ``timestamps`` when the file
        has them, else ``starting_time + arange(T) / rate``; None without a clock."""
        if self.timestamps is not None:
            return self.timestamps
        if self.rate:
            return self.starting_time + np.arange(len(self), dtype=np.float64) / self.rate
        return None

    def __repr__(self) -> str:
        clock = f", rate={self.rate}" if self.rate else (", timestamps" if self.timestamps is not None else "")
        where = f"{self.source}" + (f":{self.name}" if self.name else "")
        return f"ImageStack({where!r}, shape={self.shape}, dtype={self.dtype}{clock})"

    def _read(self, sel: Any) -> np.ndarray:
        arr = np.asarray(self._data[sel])
        if self._scaled:
            arr = arr.astype(self.dtype) * self.dtype.type(self.conversion) + self.dtype.type(self.offset)
        if arr.dtype.kind in "fc" and not np.isfinite(arr).all():
            self._raise_not_finite(arr, sel)
        return arr

    def _raise_not_finite(self, arr: np.ndarray, sel: Any) -> None:
        """One line naming the file, the first bad frame and pixel, and how many values are bad."""
        bad = ~np.isfinite(arr)
        where = f"{self.source}" + (f":{self.name}" if self.name else "")
        pos = np.unravel_index(int(np.argmax(bad)), arr.shape)
        kind = "NaN" if np.isnan(arr[pos]) else "infinite value"
        if arr.ndim == 2:  # one frame
            frame, y, x = int(sel), int(pos[0]), int(pos[1])
        else:
            start, _, step = sel.indices(len(self)) if isinstance(sel, slice) else (0, 0, 1)
            frame, y, x = start + step * int(pos[0]), int(pos[1]), int(pos[2])
        raise InputError(
            f"{where}: {kind} at frame {frame}, pixel (y={y}, x={x}) ({int(bad.sum())} non-finite "
            f"values in frames read); expected finite values in the whole (T, H, W) stack"
        )

    def _empty(self) -> np.ndarray:
        return np.empty((0,) + self.shape[1:], dtype=self.dtype)

    def read_into(self, start: int, out: np.ndarray) -> np.ndarray:
        """Read frames ``start : start + len(out)`` into ``out``, a reused array, and return it.

        Flat binary files are read straight into ``out``: a pass over the movie that reuses its
        buffers then makes the kernel map no fresh memory per chunk. Other backends read as
        slicing does and copy.

        Parameters
        ----------
        start : int
            First frame.
        out : ndarray, shape (n, H, W), dtype :attr:`dtype`, C-contiguous

        Returns
        -------
        ndarray
            ``out``.

        Examples
        --------
        >>> import numpy as np
        >>> s = ImageStack(np.arange(24).reshape(4, 2, 3), "mem")
        >>> s.read_into(1, np.empty((2, 2, 3), dtype=s.dtype))[:, 0, 0].tolist()
        [6, 12]
        """
        stop = start + out.shape[0]
        if out.shape[1:] != self.shape[1:] or out.dtype != self.dtype or not 0 <= start <= stop <= len(self):
            raise InputError(
                f"{self.source}: frames {start}:{stop} into an array {out.shape} {out.dtype}; expected frames "
                f"within 0:{len(self)} into (n, {self.shape[1]}, {self.shape[2]}) {self.dtype}"
            )
        direct = getattr(self._data, "read_into", None)
        if direct is None or self._scaled or not out.flags.c_contiguous:
            np.copyto(out, self._read(slice(start, stop)))
            return out
        direct(start, out)
        if out.dtype.kind in "fc" and not np.isfinite(out).all():
            self._raise_not_finite(out, slice(start, stop))
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        """Read frames: ``stack[t]`` ``(H, W)``, ``stack[a:b]`` ``(n, H, W)``, integer or
        boolean arrays on the time axis, and any numpy index on the spatial axes."""
        key = key if isinstance(key, tuple) else (key,)
        if not key:
            key = (slice(None),)
        t_key, rest = key[0], key[1:]
        n_frames = len(self)
        if t_key is Ellipsis:
            t_key, rest = slice(None), key
        if t_key is None:
            raise IndexError("ImageStack does not support np.newaxis on the time axis")
        if isinstance(t_key, (int, np.integer)) and not isinstance(t_key, bool):
            i = int(t_key)
            if not -n_frames <= i < n_frames:
                raise IndexError(f"frame {i} is out of range for a stack of {n_frames} frames")
            out = self._read(i % n_frames)
            return out[rest] if rest else out
        if isinstance(t_key, slice):
            start, stop, step = t_key.indices(n_frames)
            idx = range(start, stop, step)
            if len(idx) == 0:
                out = self._empty()
            elif step > 0:
                out = self._read(slice(idx[0], idx[-1] + 1, step))
            else:  # read forwards (h5py/zarr refuse negative steps) and flip
                out = self._read(slice(idx[-1], idx[0] + 1, -step))[::-1]
        else:
            arr = np.asarray(t_key)
            if arr.dtype == bool:
                if arr.shape != (n_frames,):
                    raise IndexError(f"boolean index of shape {arr.shape} for a stack of {n_frames} frames")
                arr = np.flatnonzero(arr)
            if arr.dtype.kind not in "iu" or arr.ndim != 1:
                raise IndexError(
                    f"cannot index the time axis with {t_key!r}; expected an int, a slice "
                    f"or a 1-D integer/boolean array"
                )
            if arr.size and (arr.min() < -n_frames or arr.max() >= n_frames):
                raise IndexError(f"frame indices out of range for a stack of {n_frames} frames")
            arr = arr % n_frames if arr.size else arr
            out = np.stack([self._read(int(i)) for i in arr]) if arr.size else self._empty()
        return out[(slice(None),) + rest] if rest else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype, copy=False)

    def iter_chunks(self, chunk_size: int = 256) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(start, frames)`` for consecutive blocks of at most ``chunk_size`` frames.

        Only one block is in memory at a time: ``frames`` is an ndarray of shape
        ``(min(chunk_size, T - start), H, W)``.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise InputError(f"chunk_size: got {chunk_size!r}, expected an integer >= 1")
        n = len(self)
        for start in range(0, n, int(chunk_size)):
            yield start, self[start : min(n, start + int(chunk_size))]

    # -- resources -----------------------------------------------------------
    def close(self) -> None:
        """Release the file handles (further reads fail)."""
        closers, self._closers = self._closers, []
        for close in closers:
            with contextlib.suppress(Exception):  # closing is best effort
                close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _TiffPages:
    """Page-wise reader for TIFF series whose frames are not memory-mappable."""

    def __init__(self, series: Any, shape: tuple[int, ...], dtype: Any) -> None:
        self._series = series
        self.shape = shape
        self.dtype = np.dtype(dtype)

    def __getitem__(self, sel: int | slice) -> np.ndarray:
        if isinstance(sel, slice):
            idx = list(range(*sel.indices(self.shape[0])))
            if not idx:
                return np.empty((0,) + self.shape[1:], self.dtype)
            return np.asarray(self._series.asarray(key=idx)).reshape((len(idx),) + self.shape[1:])
        return np.asarray(self._series.asarray(key=int(sel))).reshape(self.shape[1:])


class _AxisView:
    """A ``(T, H, W)`` view of an array stored in another axis order (``axes``), one plane and channel."""

    def __init__(self, data: Any, axes: str, fixed: dict[str, int]) -> None:
        self._data = data
        self._axes = axes
        self._fixed = fixed
        self.shape = tuple(int(data.shape[axes.index(a)]) for a in "TYX")
        self.dtype = np.dtype(data.dtype)

    def __getitem__(self, sel: int | slice) -> np.ndarray:
        index = tuple(sel if a == "T" else self._fixed.get(a, slice(None)) for a in self._axes)
        arr = np.asarray(self._data[index])
        kept = [a for a in self._axes if a in "YX" or (a == "T" and isinstance(sel, slice))]
        return arr.transpose([kept.index(a) for a in "TYX" if a in kept])


#: Letters of an axis order: time, depth (planes), rows, columns, channels.
AXIS_LETTERS = "TZYXC"


def _check_axes(axes: Any, where: str) -> str:
    """``axes`` upper-cased after checking it names T, Y, X once each and only letters of TZYXC."""
    text = axes.upper() if isinstance(axes, str) else None
    if (
        text is None
        or any(a not in AXIS_LETTERS for a in text)
        or len(set(text)) != len(text)
        or not set("TYX") <= set(text)
    ):
        raise InputError(
            f"axes={axes!r}: not an axis order; expected letters of {AXIS_LETTERS} each at most once, "
            f"with T, Y and X (such as 'TYX', 'YXT', 'TZYXC'){'' if where == 'axes' else f' for {where}'}"
        )
    return text


def _index_on(axis: str, value: Any, size: int, option: str, where: str, axes: str) -> int:
    """The index to keep on axis Z (``plane``) or C (``channel``) of size ``size``."""
    if value is None:
        if size == 1:
            return 0
        raise InputError(
            f"{where}: axis {axis} of axes {axes!r} has {size} entries; expected {option}= picking one (0..{size - 1})"
        )
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 0 <= value < size:
        raise InputError(
            f"{option}={value!r}: out of range for {where}, whose axis {axis} has {size}; expected 0..{size - 1}"
        )
    return int(value)


def time_first_plausible(shape: Sequence[int]) -> bool:
    """False when a 3-D ``shape`` read as ``(T, H, W)`` looks like frames stored time last.

    A stack whose last axis is the shortest of the three while its first axis
    is not longer than both others (``(128, 256, 20)``: 20 frames of 128 x 256 stored
    ``YXT``, as MATLAB and some HDF5 writers store them) is ambiguous;
    :func:`open_stack` refuses it unless ``axes=`` says the order.

    Examples
    --------
    >>> time_first_plausible((20, 128, 256)), time_first_plausible((128, 256, 20))
    (True, False)
    >>> time_first_plausible((1000, 64, 48))
    True
    """
    t, h, w = (int(x) for x in shape)
    return not (w < t and w < h and t <= max(h, w))


def _orient_stack(data: Any, where: str, axes: str | None, plane: Any, channel: Any, labels: str | None = None) -> Any:
    """Check ``data`` and return a ``(T, H, W)`` backend: itself, or an :class:`_AxisView` of it.

    ``axes`` is the stored order the caller gave; ``labels`` one the file
    declares (HDF5 dimension labels). Without either, a 3-D array is read
    ``TYX`` unless its shape makes that implausible (:func:`time_first_plausible`).
    """
    shape = tuple(int(x) for x in data.shape)
    order = _check_axes(axes, where) if axes is not None else labels
    if order is not None and len(order) != len(shape):
        said = f"axes={axes!r}" if axes is not None else f"its dimension labels {labels!r}"
        raise InputError(
            f"{where}: has {len(shape)} axes (shape {shape}) but {said} names {len(order)}; "
            f"expected one letter per axis"
        )
    for axis, value, option in (("Z", plane, "plane"), ("C", channel, "channel")):
        if value is not None and (order is None or axis not in order):
            raise InputError(
                f"{option}={value!r}: {where} has no {axis} axis (axes {order or 'TYX'!r}); "
                f"expected {option} only with an axes order holding {axis}"
            )
    if order is None or order == "TYX":
        _check_stack_shape(shape, data.dtype, where)
        if order is None and not time_first_plausible(shape):
            raise InputError(
                f"{where}: shape {shape} does not look time first (its last axis is the shortest); "
                f"expected axes= giving the stored order, such as axes='YXT' (or axes='TYX' if the "
                f"{shape[0]} frames really come first)"
            )
        return data
    fixed = {}
    for axis, value, option in (("Z", plane, "plane"), ("C", channel, "channel")):
        if axis in order:
            fixed[axis] = _index_on(axis, value, shape[order.index(axis)], option, where, order)
    view = _AxisView(data, order, fixed)
    _check_stack_shape(view.shape, data.dtype, where)
    return view


# ---------------------------------------------------------------------------
# open_stack
# ---------------------------------------------------------------------------
def _check_stack_shape(shape: tuple[int, ...], dtype: Any, where: str) -> None:
    """Raise InputError unless ``shape``/``dtype`` describe a numeric (T, H, W) stack."""
    dt = np.dtype(dtype)
    if dt.kind == "c":
        raise InputError(f"{where}: has complex dtype {dt}; expected a real numeric (T, H, W) stack")
    if dt.kind not in "biuf":
        raise InputError(f"{where}: has non-numeric dtype {dt}; expected a numeric (T, H, W) stack")
    if len(shape) == 2:
        raise InputError(
            f"{where}: got a 2-D array of shape {shape}; expected a 3-D (T, H, W) stack, "
            f"time first (one frame is frame[None])"
        )
    if len(shape) != 3:
        raise InputError(
            f"{where}: got a {len(shape)}-D array of shape {shape}; expected a 3-D (T, H, W) "
            f"stack, time first (select one channel of colour or multi-channel data)"
        )
    if shape[0] == 0:
        raise InputError(f"{where}: has 0 frames (shape {shape}); expected at least 1 frame")
    if shape[1] == 0 or shape[2] == 0:
        raise InputError(f"{where}: has empty frames (shape {shape}); expected H, W >= 1")


def _stack_ext(p: Path) -> str:
    return p.suffix.lower()


def open_stack(
    path: str | os.PathLike,
    key: str | int | None = None,
    series: str | None = None,
    *,
    shape: Sequence[int] | None = None,
    dtype: Any = None,
    axes: str | None = None,
    plane: int | None = None,
    channel: int | None = None,
) -> ImageStack:
    """Open an imaging movie ``(T, H, W)`` lazily, in the axis order the file stores.

    Parameters
    ----------
    path : path
        A ``.tif``/``.tiff``, ``.npy``, ``.h5``/``.hdf5``, ``.zarr`` (folder)
        or ``.nwb`` file; see the module docstring for what each must hold.
    key : str or int, optional
        HDF5 dataset or zarr array path inside the file (default: the only
        3-D one); for TIFF the series index (default 0).
    series : str, optional
        NWB only: name or path (``acquisition/TwoPhotonSeries``) of the
        ``ImageSeries`` to read; default the only one in the file.
    shape : (T, H, W), optional
        Flat binary files (``.dat``, ``.bin``, ``.raw``) only, and required there.
    dtype : numpy dtype, optional
        Flat binary files only, and required there (e.g. ``"uint16"``; byte
        order as numpy spells it, ``"<u2"``).
    axes : str, optional
        The stored axis order, one letter per axis of the array: ``T`` time,
        ``Y`` rows, ``X`` columns, ``Z`` planes, ``C`` channels (``"TYX"``,
        ``"YXT"``, ``"TZYXC"``...). The stack is returned ``(T, H, W)``
        whatever the order. Default: the HDF5 dataset's dimension labels
        when it has them, else ``"TYX"``, refused when the shape does not
        look time first (:func:`time_first_plausible`).
    plane, channel : int, optional
        The index kept on the ``Z`` and ``C`` axes; needed when that axis
        holds more than one entry.

    Returns
    -------
    ImageStack
        Lazy ``(T, H, W)`` stack with ``rate`` (Hz) or ``timestamps`` (s)
        when the file has them. Close it, or use ``with open_stack(...) as s``.

    Raises
    ------
    InputError
        Missing or empty file, unknown extension, unreadable file, a key or
        series that is not there or is ambiguous (the candidates are listed),
        zero frames, an array that is not 3-D (its shape is named), an
        ``axes`` order that does not match the array's axes, a shape that does
        not look time first without ``axes``, a missing or out-of-range
        ``plane``/``channel``, a non-numeric dtype, pynwb/tifffile/zarr missing.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "movie.npy"
    >>> np.save(p, np.zeros((5, 4, 3), np.uint16))
    >>> with open_stack(p) as s:
    ...     s.shape, s.dtype, s[2:4].shape
    ((5, 4, 3), dtype('uint16'), (2, 4, 3))

    Frames stored last, and one plane and channel of a ``TZYXC`` volume:

    >>> np.save(p, np.zeros((4, 3, 5), np.uint16))
    >>> with open_stack(p, axes="YXT") as s:
    ...     s.shape
    (5, 4, 3)
    >>> np.save(p, np.zeros((6, 3, 4, 5, 2), np.uint8))
    >>> with open_stack(p, axes="TZYXC", plane=1, channel=0) as s:
    ...     s.shape
    (6, 4, 5)
    """
    p = Path(path)
    name = str(path)
    exts = ", ".join(STACK_EXTENSIONS)
    if not p.exists():
        raise InputError(f"{name}: file not found; expected an existing image stack ({exts})")
    ext = _stack_ext(p)
    if ext not in STACK_EXTENSIONS:
        shown = f"extension '{p.suffix}'" if p.suffix else "no extension"
        raise InputError(f"{name}: unknown {shown}; expected one of {exts}")
    if p.is_dir() and ext != ".zarr":
        raise InputError(f"{name}: is a folder; expected a {ext} file")
    if ext != ".zarr" and p.stat().st_size == 0:
        raise InputError(f"{name}: file is empty (0 bytes); expected a {ext} file holding a (T, H, W) stack")
    if ext in RAW_EXTENSIONS:
        return _open_raw(p, name, shape, dtype)
    if shape is not None or dtype is not None:
        raise InputError(
            f"shape/dtype: only apply to flat binary files ({', '.join(RAW_EXTENSIONS)}); {name} is a {ext} file"
        )
    if series is not None and ext != ".nwb":
        raise InputError(f"series={series!r}: only applies to .nwb files; {name} is a {ext} file (use key=)")
    if key is not None and ext in (".npy", ".nwb"):
        hint = " (use series=)" if ext == ".nwb" else ""
        raise InputError(
            f"key={key!r}: does not apply to {ext} files{hint}; expected key only for "
            f".h5/.hdf5/.zarr/.tif files, got {name}"
        )
    if axes is not None:
        _check_axes(axes, "axes")
    order = (axes, plane, channel)
    if ext in (".tif", ".tiff"):
        return _open_tiff(p, name, key, order)
    if ext == ".npy":
        return _open_npy(p, name, order)
    if ext in (".h5", ".hdf5"):
        return _open_h5(p, name, key, order)
    if ext == ".zarr":
        return _open_zarr(p, name, key, order)
    return _open_nwb(p, name, series, order)


def _attr_rate(attrs: Any, where: str) -> float | None:
    for attr in _RATE_ATTRS:
        if attr in attrs:
            return check_rate(attrs[attr], f"{where}: attribute '{attr}'")
    return None


#: ``(axes, plane, channel)`` as given to :func:`open_stack`.
_Order = tuple[str | None, Any, Any]


def _open_npy(p: Path, name: str, order: _Order) -> ImageStack:
    with open(p, "rb") as fh:
        head = fh.read(6)
    if head != b"\x93NUMPY":
        raise InputError(
            f"{name}: does not start like a numpy .npy file (first bytes {head!r}); expected a numpy array file"
        )
    try:
        arr = np.load(p, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{name}: cannot be read as a numeric .npy array ({error_reason(exc)}); "
            f"expected a numeric (T, H, W) array without pickled objects"
        ) from None
    return ImageStack(_orient_stack(arr, name, *order), name)


def _open_raw(p: Path, name: str, shape: Any, dtype: Any) -> ImageStack:
    if shape is None or dtype is None:
        raise InputError(
            f"{name}: a flat binary file needs shape = [T, H, W] and dtype (e.g. 'uint16'); got shape={shape!r}, "
            f"dtype={dtype!r}"
        )
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise InputError(f"dtype: got {dtype!r}; expected a numpy dtype such as 'uint16' or 'float32'") from None
    try:
        dims = tuple(int(x) for x in shape)
    except (TypeError, ValueError):
        dims = ()
    if len(dims) != 3 or min(dims) < 1:
        raise InputError(f"shape: got {shape!r}; expected [T, H, W], three positive integers")
    _check_stack_shape(dims, dt, name)
    want = int(np.prod(dims)) * dt.itemsize
    size = p.stat().st_size
    if size != want:
        frame = dims[1] * dims[2] * dt.itemsize
        frames = f"{size / frame:.6g} frames" if size % frame else f"{size // frame} whole frames"
        raise InputError(
            f"{name}: has {size} bytes ({frames} of {dims[1]} x {dims[2]} {dt}); expected {want} bytes for "
            f"shape {list(dims)} and dtype {dt}"
        )
    reader = RawFrames(p, dims, dt)
    return ImageStack(reader, name, closers=[reader.close])


class RawFrames:
    """Frames of a flat binary file read with plain sequential reads (``numpy.fromfile``), not page faults.

    A backend of :class:`ImageStack`: ``frames[a:b]`` reads ``b - a`` whole frames in one
    read, which is several times faster than faulting the pages of a memory map in,
    and keeps nothing cached in this process.

    Parameters
    ----------
    path : path
        The file: frames of ``shape[1:]`` one after the other, no header.
    shape : (T, H, W)
    dtype : numpy dtype
    """

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...], dtype: Any) -> None:
        self.shape = tuple(int(x) for x in shape)
        self.dtype = np.dtype(dtype)
        self._frame = int(np.prod(self.shape[1:]))
        self._fh = open(path, "rb")

    def _frames(self, start: int, stop: int) -> np.ndarray:
        self._fh.seek(start * self._frame * self.dtype.itemsize)
        n = (stop - start) * self._frame
        out = np.fromfile(self._fh, dtype=self.dtype, count=n)
        if out.size != n:
            raise InputError(f"{self._fh.name}: ended after {out.size} values; expected {n} (was it truncated?)")
        return out.reshape((stop - start,) + self.shape[1:])

    def read_into(self, start: int, out: np.ndarray) -> np.ndarray:
        """Frames ``start : start + len(out)`` read straight into ``out`` (C-contiguous, of :attr:`dtype`).

        This is the read of a pass over the movie: the kernel is then told that the pages just read
        will not be needed again (``posix_fadvise(POSIX_FADV_DONTNEED)``, where the system has it), so
        a pass over a movie larger than memory neither pushes everything else out of the page cache
        nor spends its time growing it (several times the CPU of the read itself on a virtual machine).
        """
        offset = start * self._frame * self.dtype.itemsize
        self._fh.seek(offset)
        view = out.data.cast("B")
        got = 0
        while got < view.nbytes:
            n = self._fh.readinto(view[got:])
            if not n:
                break
            got += n
        if got != view.nbytes:
            raise InputError(
                f"{self._fh.name}: ended after {got // self.dtype.itemsize} values; expected {out.size} "
                "(was it truncated?)"
            )
        if hasattr(os, "posix_fadvise"):
            os.posix_fadvise(self._fh.fileno(), offset, got, os.POSIX_FADV_DONTNEED)
        return out

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, (int, np.integer)):
            return self._frames(int(key), int(key) + 1)[0]
        if isinstance(key, slice):
            start, stop, step = key.indices(self.shape[0])
            if stop <= start:
                return np.empty((0,) + self.shape[1:], dtype=self.dtype)
            return self._frames(start, stop)[::step]
        raise IndexError(f"flat binary frames: cannot index with {key!r}; expected an int or a slice")

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def _describe(items: Sequence[tuple[str, Any]]) -> str:
    return ", ".join(f"{n} {tuple(int(x) for x in o.shape)}" for n, o in items) or "none"


def _pick_3d(items: list[tuple[str, Any]], name: str, kind: str, ndim: int = 3) -> tuple[str, Any]:
    cands = [(n, o) for n, o in items if len(o.shape) == ndim]
    if ndim != 3 and not cands:
        raise InputError(
            f"{name}: no {ndim}-D {kind} for the {ndim} axes given ({kind}s: {_describe(items)}); "
            f"expected key= naming one"
        )
    if not cands:
        raise InputError(
            f"{name}: no 3-D {kind} ({kind}s: {_describe(items)}); expected a (T, H, W) {kind} or key= naming one"
        )
    if len(cands) > 1:
        raise InputError(f"{name}: {len(cands)} 3-D {kind}s ({_describe(cands)}); expected key= naming one")
    return cands[0]


def _h5_labels(ds: Any) -> str | None:
    """The dataset's dimension labels as an axis order (``"TZYXC"``), when every axis has one of TZYXC."""
    try:
        labels = "".join(str(d.label) for d in ds.dims).upper()
    except Exception:  # dimension scales unreadable: no labels
        return None
    ok = len(labels) == len(ds.shape) and len(set(labels)) == len(labels) and set("TYX") <= set(labels)
    return labels if ok and all(a in AXIS_LETTERS for a in labels) else None


def _open_h5(p: Path, name: str, key: Any, order: _Order) -> ImageStack:
    import h5py

    try:
        fh = h5py.File(p, "r")
    except OSError as exc:
        raise InputError(f"{name}: cannot be opened as HDF5 ({error_reason(exc)}); expected an HDF5 file") from None
    try:
        items: list[tuple[str, Any]] = []
        fh.visititems(lambda n, o: items.append((n, o)) if isinstance(o, h5py.Dataset) else None)
        if key is not None:
            obj = fh.get(str(key))
            if not isinstance(obj, h5py.Dataset):
                found = "a group" if obj is not None else "not found"
                raise InputError(
                    f"key={key!r}: {found} in {name} (datasets: {_describe(items)}); "
                    f"expected the path of a (T, H, W) dataset"
                )
            ds_name, ds = str(key).strip("/"), obj
        else:
            labelled = [(n, o) for n, o in items if order[0] is None and _h5_labels(o) not in (None, "TYX")]
            ds_name, ds = (
                labelled[0]
                if len(labelled) == 1 and not any(len(o.shape) == 3 for _, o in items)
                else _pick_3d(items, name, "dataset", len(order[0]) if order[0] else 3)
            )
        where = f"{name}: dataset '{ds_name}'"
        data = _orient_stack(ds, where, *order, labels=_h5_labels(ds))
        rate = _attr_rate(ds.attrs, where)
    except BaseException:
        fh.close()
        raise
    return ImageStack(data, name, rate=rate, name=ds_name, closers=[fh.close])


def _open_zarr(p: Path, name: str, key: Any, order: _Order) -> ImageStack:
    try:
        import zarr
    except ImportError:
        raise InputError(
            f"{name}: reading .zarr needs zarr, which is not installed; expected it installed (pip install zarr)"
        ) from None
    try:
        root = zarr.open(str(p), mode="r")
    except Exception as exc:
        raise InputError(
            f"{name}: cannot be opened as zarr ({error_reason(exc)}); expected a zarr array or group"
        ) from None
    if isinstance(root, zarr.Group):
        items = [(n, o) for n, o in root.members(max_depth=None) if isinstance(o, zarr.Array)]
        if key is not None:
            obj = dict(items).get(str(key).strip("/"))
            if obj is None:
                raise InputError(
                    f"key={key!r}: not an array in {name} (arrays: {_describe(items)}); "
                    f"expected the path of a (T, H, W) array"
                )
            arr_name, arr = str(key).strip("/"), obj
        else:
            arr_name, arr = _pick_3d(items, name, "array", len(order[0]) if order[0] else 3)
    else:
        if key is not None:
            raise InputError(f"key={key!r}: {name} is a single zarr array, not a group; expected no key")
        arr_name, arr = None, root
    where = f"{name}: array '{arr_name}'" if arr_name else name
    data = _orient_stack(arr, where, *order)
    rate = _attr_rate(arr.attrs, where)
    return ImageStack(data, name, rate=rate, name=arr_name)


def _open_tiff(p: Path, name: str, key: Any, order: _Order) -> ImageStack:
    try:
        import tifffile
    except ImportError:
        raise InputError(
            f"{name}: reading TIFF needs tifffile, which is not installed; expected it installed (pip install tifffile)"
        ) from None
    try:
        tif = tifffile.TiffFile(p)
    except Exception as exc:
        raise InputError(f"{name}: cannot be read as TIFF ({error_reason(exc)}); expected a multi-page TIFF") from None
    keep_open = False
    try:
        all_series = tif.series
        if not all_series:
            raise InputError(f"{name}: holds no image series; expected a multi-page grayscale TIFF")
        if key is None:
            idx = 0
        elif isinstance(key, (int, np.integer)) and not isinstance(key, bool) and 0 <= key < len(all_series):
            idx = int(key)
        else:
            raise InputError(
                f"key={key!r}: not a series of {name}, which has {len(all_series)} series; "
                f"expected an integer 0..{len(all_series) - 1}"
            )
        s = all_series[idx]
        shape = tuple(int(x) for x in s.shape)
        if "S" in s.axes:
            raise InputError(
                f"{name}: series {idx} has axes '{s.axes}' and shape {shape} (colour samples); "
                f"expected a grayscale (T, H, W) stack"
            )
        probe = SimpleNamespace(shape=shape, dtype=np.dtype(s.dtype))
        pages = "TYX" if len(shape) == 3 else None  # one page per frame: time first
        stored_tyx = _orient_stack(probe, name, *order, labels=pages) is probe  # checks the order before reading
        rate = None
        meta = tif.imagej_metadata or {}
        if meta.get("finterval"):
            rate = check_rate(1.0 / float(meta["finterval"]), f"{name}: ImageJ finterval")
        elif meta.get("fps"):
            rate = check_rate(meta["fps"], f"{name}: ImageJ fps")
        if s.dataoffset is not None:
            try:
                mm = tifffile.memmap(p, series=idx, mode="r")
            except ValueError:
                mm = None
            if mm is not None and tuple(mm.shape) == shape:
                return ImageStack(_orient_stack(mm, name, *order, labels=pages), name, rate=rate)
        if stored_tyx and len(s.pages) == shape[0]:
            keep_open = True
            return ImageStack(_TiffPages(s, shape, s.dtype), name, rate=rate, closers=[tif.close])
        # frames are not one per page (e.g. one compressed volume) or not stored first: read it whole
        return ImageStack(_orient_stack(np.asarray(s.asarray()), name, *order, labels=pages), name, rate=rate)
    finally:
        if not keep_open:
            tif.close()


# -- NWB ---------------------------------------------------------------------
def _open_nwb_io(p: Path, name: str) -> tuple[Any, Any]:
    pynwb = require_pynwb(name)
    try:
        io = pynwb.NWBHDF5IO(str(p), mode="r", load_namespaces=True)
    except Exception as exc:
        raise InputError(
            f"{name}: cannot be opened as NWB ({error_reason(exc)}); expected an NWB (HDF5) file"
        ) from None
    try:
        nwbfile = io.read()
    except Exception as exc:
        io.close()
        raise InputError(f"{name}: cannot be read as NWB ({error_reason(exc)}); expected a valid NWB file") from None
    return io, nwbfile


def _image_series(nwbfile: Any) -> list[tuple[str, Any]]:
    from pynwb.image import ImageSeries

    found = collect_timeseries(nwbfile, ImageSeries)
    for group in ("stimulus", "stimulus_template"):
        for obj in (getattr(nwbfile, group, None) or {}).values():
            if isinstance(obj, ImageSeries):
                found.append((f"{group}/{obj.name}", obj))
    return found


def _match_series(found: list[tuple[str, Any]], series: str, name: str, kind: str) -> tuple[str, Any]:
    key = series.strip("/")
    listed = ", ".join(pth for pth, _ in found) or "none"
    matches = [(pth, obj) for pth, obj in found if key in (obj.name, pth) or pth.endswith("/" + key)]
    if not matches:
        raise InputError(f"series={series!r}: not found in {name} ({kind}: {listed}); expected one of these names")
    if len(matches) > 1:
        raise InputError(
            f"series={series!r}: matches {len(matches)} {kind} in {name} "
            f"({', '.join(m for m, _ in matches)}); expected a full path"
        )
    return matches[0]


def _series_listing(found: list[tuple[str, Any]]) -> str:
    return ", ".join(f"{pth} ({type(obj).__name__})" for pth, obj in found) or "none"


def _open_nwb(p: Path, name: str, series: str | None, order: _Order) -> ImageStack:
    io, nwbfile = _open_nwb_io(p, name)
    try:
        found = _image_series(nwbfile)
        if series is not None:
            path, ts = _match_series(found, series, name, "image series")
        else:
            if not found:
                from pynwb import TimeSeries

                others = _series_listing(collect_timeseries(nwbfile, TimeSeries))
                raise InputError(
                    f"{name}: no ImageSeries (TwoPhotonSeries, OnePhotonSeries, ImageSeries) in "
                    f"acquisition, processing or stimulus (other TimeSeries: {others}); "
                    f"expected one holding a (T, H, W) movie"
                )
            if len(found) > 1:
                raise InputError(
                    f"{name}: {len(found)} image series ({_series_listing(found)}); expected series= naming one"
                )
            path, ts = found[0]
        where = f"{name}: series '{path}'"
        data = ts.data
        external = getattr(ts, "external_file", None)
        if data is None or (external is not None and len(external) and int(np.prod(data.shape)) == 0):
            raise InputError(
                f"{where}: frames are stored in external files ({list(external or [])}); "
                f"expected frames inside the NWB file (open the video file instead)"
            )
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            data = np.asarray(data)
        data = _orient_stack(data, where, *order, labels="TYX" if len(data.shape) == 3 else None)  # NWB: time first
        rate = timestamps = None
        if ts.rate is not None:
            rate = check_rate(ts.rate, where)
        elif ts.timestamps is not None:
            from pynwb import TimeSeries

            stamps = ts.timestamps
            stamps = stamps.timestamps if isinstance(stamps, TimeSeries) else stamps
            timestamps = check_timestamps(np.asarray(stamps[()]), where, int(data.shape[0]))
        conversion = float(getattr(ts, "conversion", 1.0) or 1.0)
        offset = float(getattr(ts, "offset", 0.0) or 0.0)
        starting_time = float(getattr(ts, "starting_time", 0.0) or 0.0)
    except BaseException:
        io.close()
        raise
    return ImageStack(
        data,
        name,
        rate=rate,
        timestamps=timestamps,
        starting_time=starting_time,
        conversion=conversion,
        offset=offset,
        name=path,
        closers=[io.close],
    )


def image_series_external_file(path: str | os.PathLike, series: str | None = None) -> Path | None:
    """The video file an NWB ``ImageSeries`` keeps its frames in (``external_file``), or None when its frames
    are inside the NWB file.

    Parameters
    ----------
    path : str or Path
        The ``.nwb`` file.
    series : str, optional
        The ImageSeries (name or path); default the file's only one.

    Returns
    -------
    Path or None
        The external file, resolved from the NWB file's folder.

    Raises
    ------
    InputError
        The series is not there or is ambiguous, or it names several external files (one expected).
    """
    p = Path(path)
    name = str(path)
    io, nwbfile = _open_nwb_io(p, name)
    try:
        found = _image_series(nwbfile)
        if series is not None:
            where, ts = _match_series(found, series, name, "image series")
        elif len(found) == 1:
            where, ts = found[0]
        else:
            return None  # open_stack says what is missing or ambiguous
        external = list(getattr(ts, "external_file", None) or [])
        data = ts.data
        if not external or (data is not None and int(np.prod(np.shape(data))) > 0):
            return None
        if len(external) > 1:
            raise InputError(
                f"{name}: series '{where}' keeps its frames in {len(external)} external files ({external}); "
                f"expected one video file"
            )
        file = Path(str(external[0]))
        return file if file.is_absolute() else (p.parent / file).resolve()
    finally:
        io.close()


def read_roi_traces(path: str | os.PathLike, series: str | None = None, *, dtype: Any = np.float32) -> SignalMatrix:
    """Read ROI traces ``(T, N)`` from an NWB file.

    Without ``series`` the file's only ``RoiResponseSeries`` is read (or,
    when it has none, its only non-image ``TimeSeries``). The reading itself
    is :func:`neurocine.io.signals.read_signal_matrix` (conversion and offset
    applied, ROI labels as channel names when the ROI table has a ``label``
    column).

    Parameters
    ----------
    path : path
        An ``.nwb`` file.
    series : str, optional
        Name or path (``processing/ophys/Fluorescence/RoiResponseSeries``) of
        the series to read.
    dtype : floating dtype or None, default float32
        dtype of ``data``; None keeps the file's floating dtype.

    Returns
    -------
    SignalMatrix
        ``data`` ``(T, N)``; ``timestamps`` ``(T,)`` in seconds, always filled:
        from the file, or ``starting_time + arange(T) / rate`` when the series
        has a rate (then ``sampling_rate`` is set too).

    Raises
    ------
    InputError
        Missing file, not ``.nwb``, no or several candidate series (listed),
        a series not found (the available ones listed), bad data.
    """
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise InputError(f"{name}: file not found; expected an existing .nwb file")
    if p.suffix.lower() != ".nwb":
        raise InputError(f"{name}: extension '{p.suffix}'; expected an .nwb file holding ROI traces")
    pynwb = require_pynwb(name)
    from pynwb.image import ImageSeries
    from pynwb.ophys import RoiResponseSeries

    io, nwbfile = _open_nwb_io(p, name)
    with io:
        found = [
            (pth, ts) for pth, ts in collect_timeseries(nwbfile, pynwb.TimeSeries) if not isinstance(ts, ImageSeries)
        ]
        if series is not None:
            path_in, ts = _match_series(found, series, name, "TimeSeries")
        else:
            rois = [(pth, ts) for pth, ts in found if isinstance(ts, RoiResponseSeries)]
            cands = rois or found
            if len(cands) != 1:
                what = "RoiResponseSeries" if rois else "TimeSeries"
                if not cands:
                    raise InputError(
                        f"{name}: no RoiResponseSeries or other non-image TimeSeries; "
                        f"expected one holding (T, N) ROI traces"
                    )
                raise InputError(f"{name}: {len(cands)} {what} ({_series_listing(cands)}); expected series= naming one")
            path_in, ts = cands[0]
        starting_time = float(getattr(ts, "starting_time", 0.0) or 0.0)
    matrix = read_signal_matrix(p, series=path_in, dtype=dtype)
    if matrix.timestamps is None and matrix.sampling_rate:
        matrix.timestamps = starting_time + np.arange(matrix.n_timesteps, dtype=np.float64) / matrix.sampling_rate
    return matrix


# ---------------------------------------------------------------------------
# NWB writers
# ---------------------------------------------------------------------------
def _clock(t_len: int, timestamps: Any, rate: Any, starting_time: float) -> dict[str, Any]:
    """The clock keywords of a ``TimeSeries``: ``rate`` and ``starting_time`` when given or when the
    timestamps are regular (:func:`neurocine.io.nwbmeta.regular_clock`), else ``timestamps``."""
    if (timestamps is None) == (rate is None):
        found = "both" if timestamps is not None else "neither"
        raise InputError(
            f"timestamps/rate: got {found}; expected exactly one: timestamps (T,) in seconds or rate in Hz"
        )
    if timestamps is not None:
        stamps = check_timestamps(timestamps, "timestamps", t_len)
        regular = regular_clock(stamps)
        if regular is None:
            return {"timestamps": stamps}
        return {"starting_time": regular[0], "rate": regular[1]}
    return {"rate": check_rate(rate, "rate"), "starting_time": float(starting_time)}


def _check_series_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not name or "/" in name:
        raise InputError(f"{what}: got {name!r}; expected a non-empty name without '/'")
    return name


def _new_nwbfile(
    path: str | os.PathLike,
    source_nwb: Any,
    session_start_time: Any,
    session_description: str | None,
    metadata: NWBMetadata | None,
) -> Any:
    import pynwb

    meta = metadata or NWBMetadata()
    notes = None
    desc = meta.session_description or session_description
    start = meta.session_start_time or session_start_time
    if source_nwb is not None:
        src = Path(source_nwb)
        if not src.exists():
            raise InputError(f"source_nwb={str(source_nwb)!r}: file not found; expected an existing .nwb file")
        io, nwbfile = _open_nwb_io(src, str(source_nwb))
        with io:
            start = start or nwbfile.session_start_time
            desc = desc or nwbfile.session_description
            notes = f"derived by neurocine from {src.name} (identifier {nwbfile.identifier})"
    if start is not None and not isinstance(start, datetime.datetime):
        raise InputError(f"session_start_time: got {start!r}; expected a datetime")
    meta = dataclasses.replace(meta, session_start_time=start, session_description=desc).for_job()
    return pynwb.NWBFile(**meta.nwbfile_kwargs(Path(path).stem, "features computed by neurocine"), notes=notes)


def _write_nwb_atomic(path: str | os.PathLike, nwbfile: Any) -> Path:
    import pynwb

    p = Path(path)
    with atomic_path(p, suffix=".tmp.nwb") as tmp, pynwb.NWBHDF5IO(str(tmp), mode="w") as io:
        io.write(nwbfile)
    return p


def _behavior_module(nwbfile: Any) -> Any:
    return nwbfile.create_processing_module(name="behavior", description="behavioural features (neurocine)")


def write_features_nwb(
    path: str | os.PathLike,
    features: Any,
    names: Sequence[str] | None = None,
    *,
    timestamps: Any = None,
    rate: float | None = None,
    starting_time: float = 0.0,
    description: str = "feature computed by neurocine",
    unit: str = "a.u.",
    source_nwb: str | os.PathLike | None = None,
    session_start_time: datetime.datetime | None = None,
    metadata: NWBMetadata | None = None,
) -> Path:
    """Write time-first features to a new NWB file, readable by the usual NWB tools.

    Layout: ``processing/behavior/BehavioralTimeSeries/<name>``, one
    ``TimeSeries`` per column (array input) or per named group of columns
    (mapping input). With timestamps, the first series stores them and the
    others link to it (stored once).

    Parameters
    ----------
    path : path
        The ``.nwb`` file to create (replaced if it exists). Written to a
        temporary sibling and renamed, so a crash leaves no partial file.
    features : array_like, shape (T, p), or mapping of str to array_like (T,) or (T, k)
        An array gives one 1-D ``TimeSeries`` per column, named by ``names``;
        a mapping gives one ``TimeSeries`` per entry (e.g. ``{"motion_svd":
        (T, 50), "pupil_area": (T,)}``). Finite numbers.
    names : sequence of str, length p
        Column names; required with an array, not allowed with a mapping.
    timestamps : array_like, shape (T,), optional
        Time of each row in seconds (strictly increasing). Exactly one of
        ``timestamps`` and ``rate``. Regular timestamps (within 0.1 % of a
        period) are stored as ``starting_time`` and ``rate``, as NWB best
        practice asks.
    rate : float, optional
        Sampling rate in Hz (with ``starting_time`` in seconds).
    starting_time : float, default 0.0
        Time of the first row in seconds when ``rate`` is given.
    description, unit : str
        Stored on every series.
    source_nwb : path, optional
        The recording the features come from: its ``session_start_time`` and
        ``session_description`` are copied and its identifier is noted in
        ``notes``. The features are always written to a new file (the source
        is not modified or copied), which tools can open side by side.
    session_start_time : datetime, optional
        Default: the source's, else now (UTC).
    metadata : NWBMetadata, optional
        Session and subject (:func:`neurocine.io.nwbmeta.read_nwb_metadata`);
        its start time and description win over the arguments above. Pass
        the same ``metadata.for_job()`` to every file of one job so they share
        the start time and ``session_id`` (identifiers ``<session_id>-<stem>``).

    Returns
    -------
    pathlib.Path
        The written file.

    Raises
    ------
    InputError
        Bad shapes, names, clock (none or both of timestamps/rate), unreadable
        ``source_nwb``, unwritable path, pynwb missing.
    """
    require_pynwb(str(path))
    import pynwb
    from pynwb.behavior import BehavioralTimeSeries

    groups: list[tuple[str, np.ndarray]] = []
    if isinstance(features, Mapping):
        if names is not None:
            raise InputError(
                "names: given with a mapping of features; expected names only with a (T, p) array "
                "(the mapping keys name the series)"
            )
        if not features:
            raise InputError("features: empty mapping; expected at least one named feature (T,) or (T, k)")
        t_len = None
        for key, value in features.items():
            _check_series_name(key, f"features key {key!r}")
            arr = np.asarray(value)
            where = f"features[{key!r}]"
            mat = validate_signal_matrix(arr.reshape(-1, 1) if arr.ndim == 1 else arr, where, min_timesteps=1)
            if t_len is not None and mat.shape[0] != t_len:
                raise InputError(f"{where}: has {mat.shape[0]} rows; expected {t_len} like the other features")
            t_len = mat.shape[0]
            groups.append((key, arr if arr.ndim == 1 else mat))
    else:
        mat = validate_signal_matrix(features, "features", min_timesteps=1)
        t_len = mat.shape[0]
        if names is None or isinstance(names, str) or len(names) != mat.shape[1]:
            got = "none" if names is None else (repr(names) if isinstance(names, str) else f"{len(names)} names")
            raise InputError(f"names: got {got}; expected a list of {mat.shape[1]} names, one per column of features")
        for j, col in enumerate(names):
            groups.append((_check_series_name(col, f"names[{j}]"), mat[:, j]))
    seen = [g for g, _ in groups]
    dup = sorted({g for g in seen if seen.count(g) > 1})
    if dup:
        raise InputError(f"names: {dup} appear more than once; expected unique series names")
    assert t_len is not None  # features hold at least one series
    times = _clock(int(t_len), timestamps, rate, starting_time)
    nwbfile = _new_nwbfile(path, source_nwb, session_start_time, None, metadata)
    container = BehavioralTimeSeries(name="BehavioralTimeSeries")
    first = None
    for series_name, data in groups:
        clock = times if "rate" in times or first is None else {"timestamps": first}
        ts = pynwb.TimeSeries(
            name=series_name, data=np.ascontiguousarray(data), unit=unit, description=description, **clock
        )
        if first is None:
            first = ts
        container.add_timeseries(ts)
    _behavior_module(nwbfile).add(container)
    return _write_nwb_atomic(path, nwbfile)


def export_motion_svd_nwb(
    path: str | os.PathLike,
    svd_temporal: Any,
    svd_masks: Any,
    *,
    timestamps: Any = None,
    rate: float | None = None,
    starting_time: float = 0.0,
    name: str = "MotionSVD",
    downsampling_factor: float = 1.0,
    mask_coordinates: Sequence[float] | None = None,
    description: str = "motion SVD temporal components (facemap-style)",
    source_nwb: str | os.PathLike | None = None,
    session_start_time: datetime.datetime | None = None,
    metadata: NWBMetadata | None = None,
) -> Path:
    """Write motion-SVD components and their spatial masks to a new NWB file.

    The ``ndx-facemap-motionsvd`` extension (``MotionSVDSeries`` +
    ``MotionSVDMasks``) is not installable here, so core NWB types mirror its
    layout under ``processing/behavior``:

    - ``<name>Series``: a ``TimeSeries`` with ``data`` ``(T, k)``, the
      temporal components (the extension's ``MotionSVDSeries.data``);
    - ``<name>Masks``: an ``Images`` container of k ``GrayscaleImage``
      ``component_0 ... component_{k-1}`` ``(H, W)`` in component order
      (``order_of_images``), the spatial masks; its description records
      ``downsampling_factor`` and ``mask_coordinates`` (the extension's
      ``MotionSVDMasks`` columns).

    Parameters
    ----------
    path : path
        The ``.nwb`` file to create (written atomically).
    svd_temporal : array_like, shape (T, k)
        Temporal components, time first (facemap ``motSVD[i]``).
    svd_masks : array_like, shape (k, H, W)
        Spatial masks, component first (facemap ``motMask_reshape[i]`` is
        ``(H, W, k)``: pass ``np.moveaxis(m, -1, 0)``, or use
        :func:`read_facemap_masks`).
    timestamps, rate, starting_time
        The clock, as in :func:`write_features_nwb`.
    name : str, default "MotionSVD"
        Prefix of the two objects' names.
    downsampling_factor : float, default 1.0
        Spatial binning used before the SVD (facemap ``sbin``).
    mask_coordinates : sequence of 4 floats, optional
        ``(x1, y1, x2, y2)`` of the ROI in the downsampled frame; default the
        whole ``(0, 0, W, H)``.
    description, source_nwb, session_start_time, metadata
        As in :func:`write_features_nwb`.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    require_pynwb(str(path))
    import pynwb
    from pynwb.base import ImageReferences
    from pynwb.image import GrayscaleImage, Images

    _check_series_name(name, "name")
    temporal = validate_signal_matrix(svd_temporal, "svd_temporal", min_timesteps=1)
    masks = np.asarray(svd_masks)
    if masks.dtype.kind not in "biuf" or masks.ndim != 3:
        raise InputError(
            f"svd_masks: got shape {masks.shape} and dtype {masks.dtype}; expected a numeric "
            f"(k, H, W) array (facemap's (H, W, k) masks: np.moveaxis(m, -1, 0))"
        )
    k = temporal.shape[1]
    if masks.shape[0] != k:
        raise InputError(
            f"svd_masks: has {masks.shape[0]} masks (shape {masks.shape}) but svd_temporal has "
            f"k={k} components; expected ({k}, H, W)"
        )
    if not np.isfinite(masks).all():
        raise InputError("svd_masks: has NaN or infinite values; expected finite masks")
    try:
        factor = float(downsampling_factor)
    except (TypeError, ValueError):
        factor = float("nan")
    if not np.isfinite(factor) or factor <= 0:
        raise InputError(f"downsampling_factor: got {downsampling_factor!r}; expected a positive number")
    h, w = masks.shape[1:]
    coords = [0.0, 0.0, float(w), float(h)] if mask_coordinates is None else list(mask_coordinates)
    if len(coords) != 4:
        raise InputError(f"mask_coordinates: got {mask_coordinates!r}; expected 4 numbers (x1, y1, x2, y2)")
    clock = _clock(temporal.shape[0], timestamps, rate, starting_time)
    nwbfile = _new_nwbfile(path, source_nwb, session_start_time, None, metadata)
    images = [
        GrayscaleImage(
            name=f"component_{j}",
            data=np.asarray(masks[j], dtype=np.float64),
            description=f"spatial mask of motion SVD component {j}",
        )
        for j in range(k)
    ]
    mask_desc = (
        f"motion SVD spatial masks, one per column of {name}Series.data; "
        f"downsampling_factor={factor}; mask_coordinates={coords} (x1, y1, x2, y2)"
    )
    container = Images(
        name=f"{name}Masks",
        images=images,
        description=mask_desc,
        order_of_images=ImageReferences(name="order_of_images", data=images),
    )
    series = pynwb.TimeSeries(
        name=f"{name}Series",
        data=np.ascontiguousarray(temporal),
        unit="n.a.",
        description=description,
        comments=f"spatial masks in processing/behavior/{name}Masks",
        **clock,
    )
    module = _behavior_module(nwbfile)
    module.add(container)
    module.add(series)
    return _write_nwb_atomic(path, nwbfile)


# ---------------------------------------------------------------------------
# facemap
# ---------------------------------------------------------------------------
def _load_facemap(path: str | os.PathLike) -> tuple[dict, str]:
    p = Path(path)
    name = str(path)
    if not p.exists():
        raise InputError(f"{name}: file not found; expected a facemap <video>_proc.npy file")
    if p.is_dir() or p.suffix.lower() != ".npy":
        raise InputError(f"{name}: not a .npy file; expected a facemap <video>_proc.npy file")
    try:
        raw = np.load(p, allow_pickle=True)
    except Exception as exc:
        raise InputError(f"{name}: cannot be loaded ({error_reason(exc)}); expected a facemap _proc.npy file") from None
    proc = raw.item() if isinstance(raw, np.ndarray) and raw.dtype == object and raw.shape == () else raw
    if not isinstance(proc, dict):
        found = f"an array of shape {raw.shape} and dtype {raw.dtype}" if isinstance(raw, np.ndarray) else type(raw)
        raise InputError(f"{name}: holds {found}; expected a pickled dict (facemap _proc.npy)")
    return proc, name


def _as_list(value: Any) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, np.ndarray) and value.dtype == object:
        return list(value.ravel())
    return [value]


def _roi_labels(entries: list, full_first: bool) -> list[str]:
    """``full`` for facemap's multivideo entry 0, then ``roi1``, ``roi2``..."""
    if full_first:
        return ["full"] + [f"roi{j}" for j in range(1, len(entries))]
    return [f"{j}" for j in range(len(entries))]


#: Frames per chunk of facemap's ``process_ROIs`` (facemap 1.0.8): its motion energy is one frame
#: early inside the first chunk and 0 at its last frame.
FACEMAP_CHUNK = 500


def align_facemap_motion(motion: Any, chunk: int = FACEMAP_CHUNK) -> np.ndarray:
    """facemap's motion energy moved onto neurocine's frame convention.

    facemap 1.0.8 (``process_ROIs``) writes ``M[i] = |f[i+1] - f[i]|`` for the
    first ``chunk - 1`` frames, leaves ``M[chunk - 1] = 0``, and writes
    ``M[i] = |f[i] - f[i-1]|`` from frame ``chunk`` on (each chunk but the
    first starts with the previous chunk's last frame). neurocine's motion
    energy at frame ``i`` is always the change into frame ``i`` and 0 at
    frame 0. This returns ``[0, M[0], ..., M[chunk - 2], M[chunk], ...]``:
    every value at its frame, none lost.

    Parameters
    ----------
    motion : array_like, shape (T,) or (T, c)
        facemap's ``motion[j]`` (summed over the ROI's binned pixels).
    chunk : int, default 500
        facemap's chunk length.

    Returns
    -------
    ndarray, same shape, float64

    Examples
    --------
    >>> align_facemap_motion([5.0, 7.0, 0.0, 2.0, 4.0], chunk=3).tolist()
    [0.0, 5.0, 7.0, 2.0, 4.0]
    """
    m = np.asarray(motion, dtype=np.float64)
    out = np.zeros_like(m)
    head = min(chunk, len(m))
    out[1:head] = m[: head - 1]
    out[head:] = m[head:]
    return out


def read_facemap_proc(path: str | os.PathLike, *, align: bool = True) -> dict[str, np.ndarray]:
    """Read the time series of a facemap ``<video>_proc.npy`` as named ``(T, c)`` arrays.

    The file is a pickled dict (``np.load(allow_pickle=True).item()``); load
    only files you trust. Keys read, each optional (missing keys and empty
    entries are skipped):

    ========================  ==================================  ================
    proc key                  output names                        shape
    ========================  ==================================  ================
    ``motion`` (list)         ``motion_full``, ``motion_roi1``..   (T, 1)
    ``motSVD`` (list)         ``motSVD_full``, ``motSVD_roi1``..   (T, n_svd)
    ``movSVD`` (list)         ``movSVD_full``, ``movSVD_roi1``..   (T, n_svd)
    ``pupil`` (list of dict)  ``pupil0_area``, ``pupil0_com``..    (T, 1), (T, 2)
    ``blink`` (list)          ``blink0``..                        (T, 1)
    ``running`` (list)        ``running0``..                      (T, 2)
    ========================  ==================================  ================

    Entry 0 of ``motion``/``motSVD``/``movSVD`` is facemap's "multivideo"
    (whole frame) output, empty when not computed; entries 1.. follow the
    ``'motion SVD'`` ROIs in order. Pupil fields read: ``area``,
    ``area_smooth``, ``com``, ``com_smooth``, ``axlen``.

    Against neurocine's motion outputs (:class:`neurocine.features.MotionFeatures`):

    - **Frame alignment.** facemap's motion energy is one frame early over its
      first 500-frame chunk and 0 at frame 499
      (:func:`align_facemap_motion`); with ``align=True`` (default) it is
      moved so that value ``i`` is the change into frame ``i`` and frame 0 is
      0, as neurocine's. Its ``motSVD`` rows are aligned already except row
      0, a copy of row 1; ``align`` sets it to 0 like neurocine's.
    - **Scale.** facemap's motion energy is the *sum* of ``|diff|`` over the
      ROI's binned pixels; neurocine's is the *mean*: divide by the number of
      binned pixels of the ROI to compare values.
    - **Masks and temporal components.** Both store unit-norm spatial masks
      and temporal components that carry the singular values (projections
      of the centred differences on the masks), so they compare directly up
      to each component's sign. facemap centres by a mean over a subsample of
      frames and computes its masks by randomized PCA of chunks; neurocine's
      are the exact SVD's to numerical precision (``benchmarks/video.py``
      measures both against it).

    Parameters
    ----------
    path : path
        The ``_proc.npy`` file.
    align : bool, default True
        Move ``motion_*`` (and row 0 of ``motSVD_*``) onto neurocine's frame
        convention; False returns facemap's arrays as stored.

    Returns
    -------
    dict of str to ndarray, each (T, c) float64
        Every array has the same T (video frames).

    Raises
    ------
    InputError
        Missing file, not a pickled dict, no facemap output in it, arrays of
        different lengths, entries that are not 1-D/2-D numeric arrays.
    """
    proc, name = _load_facemap(path)
    out: dict[str, np.ndarray] = {}

    def add(label: str, value: Any) -> None:
        try:
            arr = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError(f"{name}: {label} is {type(value).__name__}; expected a numeric array") from None
        if arr.size == 0:
            return
        if arr.ndim == 1:
            arr = arr[:, None]
        if arr.ndim != 2:
            raise InputError(f"{name}: {label} has shape {arr.shape}; expected (T,) or (T, c), time first")
        out[label] = arr

    for key in ("motion", "motSVD", "movSVD"):
        entries = _as_list(proc.get(key))
        for lab, value in zip(_roi_labels(entries, True), entries):
            add(f"{key}_{lab}", value)
            label = f"{key}_{lab}"
            if align and label in out and key == "motion":
                out[label] = align_facemap_motion(out[label])
            elif align and label in out and key == "motSVD":
                out[label][0] = 0.0
    for j, pupil in enumerate(_as_list(proc.get("pupil"))):
        if not isinstance(pupil, dict):
            raise InputError(f"{name}: pupil[{j}] is {type(pupil).__name__}; expected a dict with 'area', 'com'")
        for field in ("area", "area_smooth", "com", "com_smooth", "axlen"):
            if field in pupil:
                add(f"pupil{j}_{field}", pupil[field])
    for key in ("blink", "running"):
        for j, value in enumerate(_as_list(proc.get(key))):
            add(f"{key}{j}", value)
    if not out:
        keys = ", ".join(sorted(map(str, proc))) or "none"
        raise InputError(
            f"{name}: no facemap outputs (motion, motSVD, movSVD, pupil, blink, running) "
            f"(keys: {keys}); expected a facemap _proc.npy with processed ROIs"
        )
    lengths = {k: v.shape[0] for k, v in out.items()}
    if len(set(lengths.values())) > 1:
        listed = ", ".join(f"{k}={v}" for k, v in lengths.items())
        raise InputError(f"{name}: outputs have different lengths ({listed}); expected one T for all")
    return out


def read_facemap_masks(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read the spatial SVD masks of a facemap ``_proc.npy``, component first.

    Returns
    -------
    dict of str to ndarray, each (n_svd, Ly, Lx) float64
        ``motMask_full``, ``motMask_roi1``... from ``motMask_reshape`` and
        ``movMask_*`` from ``movMask_reshape`` (facemap stores them
        ``(Ly, Lx, n_svd)``); empty entries are skipped. Pair them with the
        ``motSVD_*`` outputs of :func:`read_facemap_proc` for
        :func:`export_motion_svd_nwb`.
    """
    proc, name = _load_facemap(path)
    out: dict[str, np.ndarray] = {}
    for key, prefix in (("motMask_reshape", "motMask"), ("movMask_reshape", "movMask")):
        entries = _as_list(proc.get(key))
        for lab, value in zip(_roi_labels(entries, True), entries):
            arr = np.asarray(value, dtype=np.float64)
            if arr.size == 0:
                continue
            if arr.ndim == 2:
                arr = arr[:, :, None]
            if arr.ndim != 3:
                raise InputError(f"{name}: {key}[{lab}] has shape {arr.shape}; expected (Ly, Lx, n_svd)")
            out[f"{prefix}_{lab}"] = np.moveaxis(arr, -1, 0)
    return out


# ---------------------------------------------------------------------------
# wfield
# ---------------------------------------------------------------------------
class WfieldSVD(NamedTuple):
    """wfield's low-rank movie: ``frames[t] = U @ SVT[:, t]``.

    Attributes
    ----------
    U : ndarray, shape (H, W, k)
        Spatial components (memory-mapped); NaN outside the brain.
    SVT : ndarray, shape (k, T)
        Temporal components scaled by the singular values.
    mask : ndarray of bool, shape (H, W)
        True inside the brain: pixels whose k values of ``U`` are all finite.
    """

    U: np.ndarray
    SVT: np.ndarray
    mask: np.ndarray


def read_wfield_svd(path: str | os.PathLike, svt_path: str | os.PathLike | None = None) -> WfieldSVD:
    """Read a wfield decomposition: ``U.npy`` ``(H, W, k)`` and ``SVT.npy`` ``(k, T)``.

    Parameters
    ----------
    path : path
        A wfield output folder, or the ``U.npy`` file itself.
    svt_path : path, optional
        The temporal components. Default: in the folder (or beside ``U.npy``)
        ``SVTcorr.npy`` when present (wfield's hemodynamics-corrected
        components, what analyses use), else ``SVT.npy``.

    Returns
    -------
    WfieldSVD
        ``(U, SVT, mask)``: U memory-mapped, SVT in memory, mask True inside
        the brain (finite U). NaN in U marks pixels outside the brain and is
        allowed.

    Raises
    ------
    InputError
        Missing files, wrong ndim, non-numeric dtype, k that differs between
        U and SVT, infinite values in U, non-finite values in SVT, no finite
        pixel.
    """
    p = Path(path)
    if not p.exists():
        raise InputError(f"{p}: not found; expected a wfield output folder holding U.npy, or the U.npy file")
    if p.is_dir():
        u_path = p / "U.npy"
        folder = p
    else:
        u_path = p
        folder = p.parent
    if not u_path.exists():
        raise InputError(f"{u_path}: file not found; expected wfield's U.npy (H, W, k)")
    if svt_path is None:
        svt = folder / "SVTcorr.npy"
        svt = svt if svt.exists() else folder / "SVT.npy"
    else:
        svt = Path(svt_path)
    if not svt.exists():
        raise InputError(f"{svt}: file not found; expected wfield's SVT.npy or SVTcorr.npy (k, T)")

    def load(q: Path, shape_doc: str, ndim: int) -> np.ndarray:
        try:
            arr = np.load(q, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise InputError(
                f"{q}: cannot be read as .npy ({error_reason(exc)}); expected a numeric {shape_doc} array"
            ) from None
        if arr.dtype.kind not in "iuf":
            raise InputError(f"{q}: has dtype {arr.dtype}; expected a numeric {shape_doc} array")
        if arr.ndim != ndim:
            raise InputError(f"{q}: has shape {arr.shape}; expected a {ndim}-D {shape_doc} array")
        return arr

    u = load(u_path, "(H, W, k)", 3)
    s = np.asarray(load(svt, "(k, T)", 2))
    if u.shape[2] != s.shape[0]:
        raise InputError(
            f"{svt}: has k={s.shape[0]} components (shape {s.shape}) but {u_path} has "
            f"k={u.shape[2]} (shape {u.shape}); expected the same k"
        )
    if s.shape[1] == 0:
        raise InputError(f"{svt}: has 0 frames (shape {s.shape}); expected at least 1")
    if not np.isfinite(s).all():
        raise InputError(f"{svt}: has NaN or infinite values; expected finite temporal components")
    mask = np.ones(u.shape[:2], dtype=bool)
    if u.dtype.kind == "f":
        for y0 in range(0, u.shape[0], 64):  # bounded memory on the memory map
            block = np.asarray(u[y0 : y0 + 64])
            if np.isinf(block).any():
                raise InputError(f"{u_path}: has infinite values; expected finite values (NaN outside the brain)")
            mask[y0 : y0 + 64] = ~np.isnan(block).any(axis=2)
    if not mask.any():
        raise InputError(f"{u_path}: every pixel has NaN; expected finite values inside the brain")
    return WfieldSVD(u, s, mask)


def reconstruct_frames(
    U: Any, SVT: Any, frames: Any = slice(None), *, mask: Any = None, dtype: Any = np.float32
) -> np.ndarray:
    """Expand frames of a low-rank movie: ``frame[t] = U @ SVT[:, t]``.

    Parameters
    ----------
    U : array_like, shape (H, W, k)
        Spatial components; NaN outside the brain.
    SVT : array_like, shape (k, T)
        Temporal components.
    frames : int, slice or 1-D integer array, default all
        Frames to build (indices into T).
    mask : array_like of bool, shape (H, W), optional
        Pixels to compute; default where U is finite. Others are NaN.
    dtype : floating dtype, default float32

    Returns
    -------
    ndarray
        ``(n, H, W)`` for a slice or array of frames, ``(H, W)`` for an int.
    """
    u = np.asarray(U)
    s = np.asarray(SVT)
    if u.ndim != 3 or s.ndim != 2 or u.shape[2] != s.shape[0]:
        raise InputError(f"U, SVT: got shapes {u.shape} and {s.shape}; expected (H, W, k) and (k, T) with the same k")
    t_len = s.shape[1]
    try:
        idx = np.arange(t_len)[frames]
    except IndexError as exc:
        raise InputError(f"frames: {frames!r} ({exc}); expected indices into T={t_len} frames") from None
    single = np.ndim(idx) == 0
    idx = np.atleast_1d(idx)
    if mask is None:
        m = ~np.isnan(u).any(axis=2) if u.dtype.kind == "f" else np.ones(u.shape[:2], bool)
    else:
        m = np.asarray(mask, dtype=bool)
        if m.shape != u.shape[:2]:
            raise InputError(f"mask: has shape {m.shape}; expected {u.shape[:2]} like U's frames")
    out = np.full((idx.size,) + u.shape[:2], np.nan, dtype=dtype)
    out[:, m] = (u[m].astype(np.float64) @ s[:, idx].astype(np.float64)).T
    return out[0] if single else out
