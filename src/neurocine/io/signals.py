"""Reader and writer for multichannel signal matrices (time first, ``(T, N)``).

One entry point, :func:`read_signal_matrix`, reads the formats that
``neurocine motifs fit INPUT`` accepts and returns a :class:`SignalMatrix`:

``.npz``
    key ``data`` ``(T, N)``; optional ``channels`` ``(N,)`` names,
    ``sampling_rate`` (Hz, scalar), ``timestamps`` ``(T,)`` seconds, and the
    ground-truth keys of a simulation: ``templates`` ``(K, N, D)`` and
    ``amplitudes`` ``(T, K)``. Other keys are ignored.
``.npy``
    one ``(T, N)`` array.
``.csv``
    one column per channel, an optional header row of names (the first row
    is a header when any of its cells is not a number), and an optional first
    column named ``time``/``timestamp``/``timestamps`` (header needed) that
    gives the timestamps and is not a channel.
``.nwb``
    a ``TimeSeries`` (or subclass) in the file's acquisition group or in a
    processing module; ``series=`` picks one by name. Its ``data`` ``(T, N)``
    (a 1-D ``(T,)`` series is one channel) times ``conversion`` plus
    ``offset``, its ``rate`` or ``timestamps``. Needs the ``nwb`` extra.
``.mat``
    a MATLAB file: v4/v5/v7 read by :func:`scipy.io.loadmat`, v7.3 (HDF5) by
    h5py (whose arrays come back in MATLAB's own orientation: HDF5 stores them
    transposed). ``key=`` names the variable; without it the file must hold
    exactly one 2-D numeric variable.
suite2p folder
    a plane folder (``F.npy``, ``Fneu.npy``, ``spks.npy``, ``iscell.npy``),
    read by :func:`neurocine.io.suite2p.read_suite2p`: the cells' ``F`` by
    default; ``key=`` picks ``spks``, ``F-0.7*Fneu`` (neuropil corrected)
    or ``all:F`` (every ROI), see :func:`neurocine.io.suite2p.parse_suite2p_key`.

``key=`` also picks the array of an ``.npz`` (default ``data``);
``channels_first=True`` reads an ``.npz``/``.npy``/``.mat`` array stored
channels x time (as MATLAB users and seqNMF store them); ``sampling_rate=``
gives the rate in Hz or, for ``.mat``/``.npz``, the name of the variable that
holds it (``sampling_rate="VIDEOfs"``).

Every problem with the input raises :class:`neurocine.errors.InputError` with
one line naming the file (or argument), what was found and what was expected.
:func:`validate_signal_matrix` holds the checks on the array itself and is
used by the estimators too.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path
from neurocine.validation import check_float_dtype, check_int, plural, validate_signal_matrix

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "SignalMatrix",
    "default_channel_names",
    "RAW_EXTENSIONS",
    "read_raw_binary",
    "read_signal_matrix",
    "validate_signal_matrix",
    "write_signal_npz",
]

#: File extensions :func:`read_signal_matrix` understands (case-insensitive).
SUPPORTED_EXTENSIONS = (".npz", ".npy", ".csv", ".nwb", ".mat")
#: Extensions of headerless binary recordings, read by :func:`read_raw_binary` (channels interleaved).
RAW_EXTENSIONS = (".raw", ".bin", ".dat")

_TIME_COLUMN_NAMES = ("time", "timestamp", "timestamps")
#: How to install pynwb, quoted in the error raised when an ``.nwb`` file is read without it.
NWB_HINT = "pip install neurocine[nwb]"
#: The first bytes of an HDF5 file (MATLAB v7.3 puts them after a 512-byte header).
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


# ---------------------------------------------------------------------------
# container
# ---------------------------------------------------------------------------
@dataclass
class SignalMatrix:
    """A multichannel signal, time first, with its channel names and clock.

    Attributes
    ----------
    data : ndarray, shape (T, N), float32 or float64
        T time steps (rows) of N channels (columns). Finite values.
    channels : list of str, length N
        Channel names (``"ch0"``, ``"ch1"``... when the file has none).
    sampling_rate : float or None
        Samples per second (Hz), when the file gives one.
    timestamps : ndarray, shape (T,), float64, or None
        Time of each row in seconds (strictly increasing), when the file gives them.
    source : str
        The path the matrix was read from.
    truth : dict or None
        Ground truth stored next to simulated data in an ``.npz``:
        ``templates`` ``(K, N, D)`` and/or ``amplitudes`` ``(T, K)``;
        None when the file has neither.

    Examples
    --------
    >>> import numpy as np
    >>> m = SignalMatrix(np.zeros((5, 2), np.float32), ["a", "b"], 100.0, None, "x.npy", None)
    >>> m.n_timesteps, m.n_channels, m.duration
    (5, 2, 0.05)
    """

    data: np.ndarray
    channels: list[str]
    sampling_rate: float | None
    timestamps: np.ndarray | None
    source: str
    truth: dict[str, np.ndarray] | None = None

    @property
    def n_timesteps(self) -> int:
        """Number of time steps T (rows of ``data``)."""
        return int(self.data.shape[0])

    @property
    def n_channels(self) -> int:
        """Number of channels N (columns of ``data``)."""
        return int(self.data.shape[1])

    @property
    def duration(self) -> float | None:
        """Recording length in seconds: ``T / sampling_rate``, else the timestamp span
        plus one median step; None without a clock."""
        if self.sampling_rate:
            return self.n_timesteps / self.sampling_rate
        if self.timestamps is not None and len(self.timestamps) > 1:
            step = float(np.median(np.diff(self.timestamps)))
            return float(self.timestamps[-1] - self.timestamps[0]) + step
        return None


def default_channel_names(n: int) -> list[str]:
    """Names ``ch0`` to ``ch{n-1}`` for files that carry none.

    >>> default_channel_names(3)
    ['ch0', 'ch1', 'ch2']
    """
    return [f"ch{i}" for i in range(n)]


# ---------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------
def check_timestamps(ts: Any, name: str, t_len: int) -> np.ndarray:
    """Check that timestamps are a finite, strictly increasing ``(T,)`` vector.

    Parameters
    ----------
    ts : array-like, shape (T,)
        Timestamps in seconds, one per time step.
    name : str
        What the error message names (a file, an attribute).
    t_len : int
        The number of time steps ``T`` they must match.

    Returns
    -------
    numpy.ndarray, shape (T,), float64

    Raises
    ------
    InputError
        When they are not numbers, have another length, hold non-finite values or do not increase.

    Examples
    --------
    >>> check_timestamps([0.0, 0.1, 0.2], "clock", 3)
    array([0. , 0.1, 0.2])
    """
    ts = np.asarray(ts)
    if ts.dtype.kind not in "iuf":
        raise InputError(f"{name}: timestamps have dtype {ts.dtype}; expected numbers (seconds)")
    ts = ts.astype(np.float64, copy=False)
    if ts.ndim != 1 or ts.shape[0] != t_len:
        raise InputError(f"{name}: timestamps have shape {ts.shape}; expected ({t_len},), one per time step")
    bad = np.flatnonzero(~np.isfinite(ts))
    if bad.size:
        raise InputError(f"{name}: timestamp {bad[0]} is {ts[bad[0]]}; expected finite values")
    i = _first_not_increasing(ts)
    if i is not None:
        raise InputError(
            f"{name}: timestamps not strictly increasing at index {i} "
            f"({float(ts[i - 1])!r} then {float(ts[i])!r}); expected increasing times"
        )
    return ts


def check_rate(value: Any, name: str) -> float:
    """Check that a sampling rate is one positive finite number (Hz) and return it as a float.

    Parameters
    ----------
    value : number or array-like of size 1
        The sampling rate in Hz.
    name : str
        What the error message names (a file, an attribute).

    Returns
    -------
    float

    Raises
    ------
    InputError
        When it is not one number, or not positive and finite.

    Examples
    --------
    >>> check_rate(30, "video")
    30.0
    """
    arr = np.asarray(value)
    if arr.size != 1 or arr.dtype.kind not in "iuf":
        found = f"an array of shape {arr.shape}" if arr.size > 1 else repr(arr)
        raise InputError(f"{name}: sampling_rate is {found}; expected one positive number (Hz)")
    rate = float(arr.reshape(()))
    if not np.isfinite(rate) or rate <= 0:
        raise InputError(f"{name}: sampling_rate is {rate}; expected a positive finite number (Hz)")
    return rate


def _check_channels(value: Any, name: str, n_ch: int) -> list[str]:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != n_ch:
        raise InputError(f"{name}: channels has shape {arr.shape}; expected ({n_ch},), one name per column of data")
    return [x.decode() if isinstance(x, bytes) else str(x) for x in arr.tolist()]


def _first_not_increasing(t: np.ndarray) -> int | None:
    """Index of the first time not above the one before it; None when ``t`` strictly increases."""
    steps = np.diff(t)
    if steps.size and not (steps > 0).all():
        return int(np.flatnonzero(steps <= 0)[0]) + 1
    return None


def _truth_array(
    arrays: dict[str, Any], key: str, name: str, layout: str, axis: str, unit: str, size: int
) -> np.ndarray:
    """``arrays[key]`` checked to be numeric with the dimensions of ``layout`` and ``size`` along ``axis``.

    ``layout`` names the dimensions (``"(K, N, D)"``); ``axis`` is the one that must match the data
    (``"N"``, counted in ``unit``, e.g. ``"channels"``).
    """
    dims = [d.strip() for d in layout.strip("()").split(",")]
    a = np.asarray(arrays[key])
    if a.dtype.kind not in "biuf" or a.ndim != len(dims):
        raise InputError(f"{name}: {key} have shape {a.shape} and dtype {a.dtype}; expected a numeric {layout} array")
    i = dims.index(axis)
    if a.shape[i] != size:
        raise InputError(
            f"{name}: {key} have shape {a.shape} with {axis}={a.shape[i]} {unit} but data has "
            f"{axis}={size}; expected {layout.replace(axis, str(size))}"
        )
    return a


def _check_truth(arrays: dict[str, Any], name: str, t_len: int, n_ch: int, dtype: Any) -> dict[str, np.ndarray] | None:
    truth: dict[str, np.ndarray] = {}
    if "templates" in arrays:
        truth["templates"] = _truth_array(arrays, "templates", name, "(K, N, D)", "N", "channels", n_ch)
    if "amplitudes" in arrays:
        truth["amplitudes"] = _truth_array(arrays, "amplitudes", name, "(T, K)", "T", "time steps", t_len)
    if "templates" in truth and "amplitudes" in truth:
        k_w, k_h = truth["templates"].shape[0], truth["amplitudes"].shape[1]
        if k_w != k_h:
            raise InputError(f"{name}: templates have K={k_w} motifs but amplitudes have K={k_h}; expected the same K")
    for key, value in truth.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise InputError(f"{name}: {key} contain NaN or infinite values; expected finite values")
        truth[key] = value.astype(dtype if dtype is not None else np.result_type(value.dtype, np.float32), copy=False)
    return truth or None


def _cast(data: np.ndarray, dtype: Any) -> np.ndarray:
    if dtype is None:
        return data if data.dtype.kind == "f" else data.astype(np.float64)
    return data.astype(dtype, copy=False)


# ---------------------------------------------------------------------------
# readers
# ---------------------------------------------------------------------------
def read_signal_matrix(
    path: str | os.PathLike,
    *,
    series: str | None = None,
    dtype: Any = np.float32,
    key: str | None = None,
    channels_first: bool = False,
    sampling_rate: float | str | None = None,
) -> SignalMatrix:
    """Read a multichannel signal matrix (time first) from npz, npy, csv, NWB or MATLAB.

    Parameters
    ----------
    path : path
        A ``.npz``, ``.npy``, ``.csv``, ``.nwb`` or ``.mat`` file, or a
        suite2p output folder (see the module docstring for what each must
        hold).
    series : str, optional
        NWB only: the name of the ``TimeSeries`` to read (or its path such
        as ``processing/ophys/dff``). Without it the file must hold exactly
        one TimeSeries in its acquisition group and processing modules.
    dtype : floating dtype or None, default float32
        dtype of ``data`` (and of the ground-truth arrays); None keeps the
        file's floating dtype (integers become float64).
    key : str, optional
        ``.mat``: the variable holding the matrix (default: the file's only
        2-D numeric variable). ``.npz``: the array holding it (default ``data``).
        suite2p folder: the trace (``F``, ``spks``, ``F-0.7*Fneu``, ``all:F``).
    channels_first : bool, default False
        ``.npz``/``.npy``/``.mat``: the array is stored channels x time
        ``(N, T)``; it is transposed to ``(T, N)``.
    sampling_rate : float or str, optional
        Samples per second (Hz), overriding any the file gives; or, for
        ``.mat``/``.npz``, the name of the variable holding it (a scalar).

    Returns
    -------
    SignalMatrix
        ``data`` ``(T, N)``, channel names, sampling rate (Hz) or timestamps
        (s), the source path and any ground truth.

    Raises
    ------
    InputError
        Missing, empty or unreadable file, unknown extension, missing keys,
        wrong shapes, non-numeric or non-finite values, ragged csv rows,
        non-increasing timestamps, ground truth whose shapes disagree with
        ``data``, NWB files with no or several TimeSeries, pynwb missing.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.npz"
    >>> _ = write_signal_npz(p, np.arange(6.0).reshape(3, 2), channels=["a", "b"], sampling_rate=20.0)
    >>> m = read_signal_matrix(p)
    >>> m.data.shape, m.data.dtype, m.channels, m.sampling_rate
    ((3, 2), dtype('float32'), ['a', 'b'], 20.0)

    A MATLAB file holding neurons x frames and the frame rate:

    >>> from scipy.io import savemat
    >>> q = p.with_name("rec.mat")
    >>> savemat(q, {"NEURAL": np.ones((4, 50)), "VIDEOfs": 30.0})
    >>> m = read_signal_matrix(q, key="NEURAL", channels_first=True, sampling_rate="VIDEOfs")
    >>> m.data.shape, m.sampling_rate
    ((50, 4), 30.0)
    """
    p = Path(path)
    name = str(path)
    if dtype is not None:
        dtype = check_float_dtype("dtype", dtype)
    if not p.exists():
        raise InputError(f"{name}: file not found; expected an existing {', '.join(SUPPORTED_EXTENSIONS)} file")
    if p.is_dir():
        from neurocine.io.suite2p import find_suite2p_plane, parse_suite2p_key, read_suite2p

        if find_suite2p_plane(p) is None:
            raise InputError(
                f"{name}: is a folder but not a suite2p plane (F.npy or spks.npy, and iscell.npy); "
                f"expected a {', '.join(SUPPORTED_EXTENSIONS)} file or a suite2p output folder"
            )
        for given, option in ((series, "series"), (channels_first or None, "channels_first")):
            if given is not None:
                raise InputError(f"{option}={given!r}: does not apply to a suite2p folder ({name}); expected key= only")
        rate, _ = _rate_argument(sampling_rate, name, ".npy")
        return read_suite2p(
            p, **parse_suite2p_key(key), sampling_rate=rate, dtype=dtype if dtype is not None else np.float32
        )
    ext = p.suffix.lower()
    if ext not in SUPPORTED_EXTENSIONS:
        shown = f"extension '{p.suffix}'" if p.suffix else "no extension"
        raise InputError(f"{name}: unknown {shown}; expected one of {', '.join(SUPPORTED_EXTENSIONS)}")
    if p.stat().st_size == 0:
        raise InputError(f"{name}: file is empty (0 bytes); expected a {ext} file holding a (T, N) matrix")
    if series is not None and ext != ".nwb":
        raise InputError(f"series={series!r}: only applies to .nwb files; {name} is a {ext} file")
    if key is not None and ext not in (".npz", ".mat"):
        raise InputError(f"key={key!r}: only applies to .npz and .mat files; {name} is a {ext} file")
    if channels_first and ext not in (".npz", ".npy", ".mat"):
        raise InputError(f"channels_first: only applies to .npz, .npy and .mat files; {name} is a {ext} file")
    rate, rate_key = _rate_argument(sampling_rate, name, ext)
    if ext == ".npz":
        m = _read_npz(p, name, dtype, key or "data", channels_first, rate_key)
    elif ext == ".npy":
        m = _read_npy(p, name, dtype, channels_first)
    elif ext == ".csv":
        m = _read_csv(p, name, dtype)
    elif ext == ".mat":
        m = _read_mat(p, name, dtype, key, channels_first, rate_key)
    else:
        m = _read_nwb(p, name, series, dtype)
    if rate is not None:
        m.sampling_rate = rate
    return m


def _rate_argument(value: float | str | None, name: str, ext: str) -> tuple[float | None, str | None]:
    """``sampling_rate=`` as (a rate in Hz, None) or (None, the name of the variable holding it)."""
    if value is None:
        return None, None
    if isinstance(value, str):
        try:
            return check_rate(float(value), f"sampling_rate={value!r}"), None
        except ValueError:
            pass
        if ext not in (".npz", ".mat"):
            raise InputError(
                f"sampling_rate={value!r}: not a number, and only .mat and .npz files hold named values; "
                f"{name} is a {ext} file; expected a rate in Hz"
            )
        return None, value
    return check_rate(value, f"sampling_rate={value!r}"), None


def _orient(raw: np.ndarray, channels_first: bool) -> np.ndarray:
    """``raw`` as time-first: transposed when stored channels x time (2-D arrays only; others fail validation)."""
    return raw.T if channels_first and raw.ndim == 2 else raw


def _named_rate(arrays: dict[str, Any], rate_key: str, name: str, what: str) -> float:
    if rate_key not in arrays:
        listed = ", ".join(repr(k) for k in arrays) or "none"
        raise InputError(
            f"{name}: no {what} {rate_key!r} for the sampling rate ({what}s: {listed}); expected one holding it (Hz)"
        )
    return check_rate(arrays[rate_key], f"{name}: {what} {rate_key!r}")


def _read_npy(p: Path, name: str, dtype: Any, channels_first: bool = False) -> SignalMatrix:
    _check_magic(p, name, b"\x93NUMPY", "a numpy .npy file")
    try:
        raw = np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(f"{name}: cannot be read as .npy ({error_reason(exc)}); expected a numpy array file") from None
    data = validate_signal_matrix(_orient(raw, channels_first), name)
    return SignalMatrix(_cast(data, dtype), default_channel_names(data.shape[1]), None, None, name, None)


def _check_magic(p: Path, name: str, magic: bytes, expected: str) -> None:
    with open(p, "rb") as fh:
        head = fh.read(len(magic))
    if head != magic:
        raise InputError(f"{name}: does not start like {expected} (first bytes {head!r}); expected {expected}")


def error_reason(exc: BaseException) -> str:
    """The first line of an exception's message, or its class name when the message is empty.

    Parameters
    ----------
    exc : BaseException
        The exception a reader raised.

    Returns
    -------
    str
        One line, to quote inside an :class:`~neurocine.errors.InputError` message.

    Examples
    --------
    >>> error_reason(OSError("bad header"))
    'bad header'
    >>> error_reason(KeyError())
    'KeyError'
    """
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


def _read_npz(
    p: Path, name: str, dtype: Any, key: str = "data", channels_first: bool = False, rate_key: str | None = None
) -> SignalMatrix:
    _check_magic(p, name, b"PK", "a numpy .npz (zip) archive")
    try:
        with np.load(p, allow_pickle=False) as z:
            keys = list(z.files)
            if key not in keys:
                listed = ", ".join(repr(k) for k in keys) if keys else "none"
                raise InputError(f"{name}: no key {key!r} (keys: {listed}); expected {key!r} holding the (T, N) matrix")
            if rate_key is not None and rate_key not in keys:
                _named_rate(dict.fromkeys(keys), rate_key, name, "key")
            wanted = ("channels", "sampling_rate", "timestamps", "templates", "amplitudes", rate_key)
            arrays = {k: z[k] for k in keys if k in wanted and k != key}
            arrays["data"] = z[key]
    except InputError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise InputError(
            f"{name}: cannot be read as .npz ({error_reason(exc)}); expected a numpy .npz archive without pickled objects"
        ) from None
    data = validate_signal_matrix(_orient(arrays["data"], channels_first), f"{name}: key {key!r}")
    t_len, n_ch = data.shape
    channels = _check_channels(arrays["channels"], name, n_ch) if "channels" in arrays else default_channel_names(n_ch)
    if rate_key is not None:
        rate: float | None = _named_rate(arrays, rate_key, name, "key")
    else:
        rate = check_rate(arrays["sampling_rate"], name) if "sampling_rate" in arrays else None
    ts = check_timestamps(arrays["timestamps"], name, t_len) if "timestamps" in arrays else None
    truth = _check_truth(arrays, name, t_len, n_ch, dtype)
    return SignalMatrix(_cast(data, dtype), channels, rate, ts, name, truth)


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _csv_records(fh, name: str):
    """Yield ``(line number, cells)`` for the non-blank records of an open csv file."""
    reader = csv.reader(fh)
    try:
        for row in reader:
            if any(c.strip() for c in row):
                yield reader.line_num, row
    except UnicodeDecodeError:
        raise InputError(f"{name}: is not UTF-8 text; expected a comma-separated text file") from None
    except csv.Error as exc:
        raise InputError(f"{name}: cannot be parsed as csv ({exc}); expected comma-separated numbers") from None


def _csv_header(row: list[str]) -> list[str] | None:
    """The first row is a header when some cell of it is not a number."""
    return None if all(_is_number(c) for c in row) else [c.strip() for c in row]


def _parse_csv_fast(p: Path, name: str) -> tuple[list[str] | None, np.ndarray] | None:
    """numpy's C parser for well-formed files; None when anything is unusual
    (the slow parser then finds and reports the problem with its line)."""
    import warnings

    with open(p, newline="", encoding="utf-8-sig") as fh:
        first = next(_csv_records(fh, name), None)
        if first is None:
            return None
        header = _csv_header(first[1])
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fh.seek(0)
                values = np.loadtxt(
                    fh,
                    dtype=np.float64,
                    delimiter=",",
                    comments=None,
                    quotechar='"',
                    skiprows=first[0] if header is not None else 0,
                    ndmin=2,
                )
        except (ValueError, UnicodeDecodeError):
            return None
    n_cols = len(header) if header is not None else len(first[1])
    if values.shape[0] == 0 or values.shape[1] != n_cols:
        return None
    return header, values


def _parse_csv_slow(p: Path, name: str) -> tuple[list[str] | None, np.ndarray, list[int]]:
    """Cell-by-cell parse; returns the header, values and each data row's line number."""
    with open(p, newline="", encoding="utf-8-sig") as fh:
        rows = list(_csv_records(fh, name))
    if not rows:
        raise InputError(f"{name}: holds only blank lines; expected rows of comma-separated numbers")
    header = _csv_header(rows[0][1])
    if header is not None:
        rows = rows[1:]
        if not rows:
            raise InputError(f"{name}: has a header row but no data rows; expected at least 2 rows of numbers")
    n_cols = len(header) if header is not None else len(rows[0][1])
    values = np.empty((len(rows), n_cols), dtype=np.float64)
    for i, (line, row) in enumerate(rows):
        if len(row) != n_cols:
            what = "the header" if header is not None else f"line {rows[0][0]}"
            raise InputError(
                f"{name}: line {line} has {len(row)} columns but {what} has {n_cols}; "
                f"expected the same number of columns on every row"
            )
        try:
            values[i] = [float(c) for c in row]
        except ValueError:
            j = next(j for j, c in enumerate(row) if not _is_number(c))
            col = f"column {j + 1}" + (f" ({header[j]!r})" if header is not None and header[j] else "")
            found = repr(row[j]) if row[j].strip() else "an empty cell"
            raise InputError(f"{name}: line {line}, {col} holds {found}; expected a number") from None
    return header, values, [line for line, _ in rows]


def _read_csv(p: Path, name: str, dtype: Any) -> SignalMatrix:
    fast = _parse_csv_fast(p, name)
    lines: list[int] | None = None
    if fast is None:
        header, values, lines = _parse_csv_slow(p, name)
    else:
        header, values = fast

    def line_of(i: int) -> int:  # file line of data row i (found again only when reporting an error)
        return (lines if lines is not None else _parse_csv_slow(p, name)[2])[i]

    timestamps = None
    channels = header
    if header is not None and header[0].lower() in _TIME_COLUMN_NAMES:
        t_col = values[:, 0]
        bad = np.flatnonzero(~np.isfinite(t_col))
        if bad.size:
            raise InputError(
                f"{name}: line {line_of(bad[0])}, column {header[0]!r} holds {t_col[bad[0]]}; expected finite times"
            )
        i = _first_not_increasing(t_col)
        if i is not None:
            raise InputError(
                f"{name}: column {header[0]!r} not strictly increasing at line {line_of(i)} "
                f"({float(t_col[i - 1])!r} then {float(t_col[i])!r}); expected increasing times"
            )
        timestamps = t_col.copy()
        values = values[:, 1:]
        channels = header[1:]
        if not channels:
            raise InputError(f"{name}: only a {header[0]!r} column; expected at least one channel column after it")
    finite = np.isfinite(values)
    if not finite.all():
        i, j = (int(x) for x in np.argwhere(~finite)[0])
        j_file = j + (1 if timestamps is not None else 0)
        col = f"column {j_file + 1}" + (f" ({header[j_file]!r})" if header is not None and header[j_file] else "")
        raise InputError(
            f"{name}: {plural(int((~finite).sum()), 'non-finite value')}, the first "
            f"{values[i, j]} at line {line_of(i)}, {col}; expected finite numbers"
        )
    data = validate_signal_matrix(values, name)
    if channels is None:
        channels = default_channel_names(data.shape[1])
    else:
        channels = [c if c else f"ch{j}" for j, c in enumerate(channels)]
    return SignalMatrix(_cast(data, dtype), channels, None, timestamps, name, None)


# -- raw binary --------------------------------------------------------------
def read_raw_binary(
    path: str | os.PathLike,
    *,
    dtype: Any,
    n_channels: int,
    sampling_rate: float | None = None,
    out_dtype: Any = np.float32,
) -> SignalMatrix:
    """Read a headerless binary recording whose channels are interleaved (sample-major).

    The layout of Open Ephys ``.dat``, SpikeGLX ``.bin``, Intan and most acquisition systems' raw
    files: ``n_channels`` numbers of ``dtype`` for the first sample, then for the second, and so on
    (a ``(T, N)`` C-ordered array), with no header.

    Parameters
    ----------
    path : path
        The raw file.
    dtype : numpy dtype or str
        The numbers' type in the file (``"int16"``, ``"<i2"``, ``"float32"``...).
    n_channels : int
        Channels N interleaved in the file.
    sampling_rate : float, optional
        Hz.
    out_dtype : floating dtype
        dtype of the returned ``data`` (the raw values, not rescaled).

    Returns
    -------
    SignalMatrix
        ``data`` ``(T, N)`` with ``T = size / (N * itemsize)``.

    Raises
    ------
    InputError
        A missing or empty file, a dtype that is not numeric, ``n_channels`` below 1, or a file size
        that is not a whole number of samples (``N * itemsize`` bytes each).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "rec.raw"
    >>> np.arange(12, dtype=np.int16).tofile(p)
    >>> m = read_raw_binary(p, dtype="int16", n_channels=4, sampling_rate=15000.0)
    >>> m.data.shape, m.data[1].tolist(), m.sampling_rate
    ((3, 4), [4.0, 5.0, 6.0, 7.0], 15000.0)
    """
    p = Path(path)
    name = str(path)
    try:
        file_dtype = np.dtype(dtype)
    except TypeError:
        raise InputError(f"--dtype {dtype!r}: not a numpy dtype; expected one such as int16, uint16, float32") from None
    if file_dtype.kind not in "iuf":
        raise InputError(f"--dtype {dtype!r}: is {file_dtype}; expected an integer or floating type")
    n = check_int("--channels", n_channels)
    if not p.is_file():
        raise InputError(f"{name}: file not found; expected an existing raw binary file")
    size = p.stat().st_size
    frame = n * file_dtype.itemsize
    if size == 0 or size % frame:
        raise InputError(
            f"{name}: {size} bytes is not a whole number of samples of {n} channels x {file_dtype.itemsize} bytes "
            f"({file_dtype}) = {frame} bytes; expected a size that is a multiple of {frame} "
            "(check --channels and --dtype)"
        )
    rate = None if sampling_rate is None else check_rate(sampling_rate, name)
    data = np.fromfile(p, dtype=file_dtype).reshape(-1, n)
    data = validate_signal_matrix(data, name)
    out = check_float_dtype("out_dtype", out_dtype)
    return SignalMatrix(data.astype(out), default_channel_names(n), rate, None, name, None)


# -- MATLAB ------------------------------------------------------------------
def _is_hdf5(p: Path) -> bool:
    """True for an HDF5 file, with its signature at byte 0 or after MATLAB v7.3's 512-byte header."""
    with open(p, "rb") as fh:
        head = fh.read(512 + len(_HDF5_MAGIC))
    return head.startswith(_HDF5_MAGIC) or head[512:] == _HDF5_MAGIC


def _mat_v5_variables(p: Path, name: str, wanted: list[str] | None) -> dict[str, Any]:
    """The variables of a v4/v5/v7 MAT-file (all, or those in ``wanted``), as numpy arrays."""
    from scipy.io import loadmat

    try:
        raw = loadmat(p, variable_names=wanted)
    except Exception as exc:
        raise InputError(
            f"{name}: cannot be read as a MATLAB file ({error_reason(exc)}); expected a MAT-file (v5 or v7.3)"
        ) from None
    out: dict[str, Any] = {}
    for k, v in raw.items():
        if k.startswith("__"):
            continue
        out[k] = v.toarray() if hasattr(v, "toarray") else v  # a sparse MATLAB matrix
    return out


def _mat_v73_variables(p: Path, name: str, wanted: list[str] | None) -> dict[str, Any]:
    """The top-level numeric datasets of a v7.3 MAT-file, transposed back to MATLAB's orientation.

    HDF5 stores arrays row-major and MATLAB column-major, so a MATLAB ``(N, T)`` array is an HDF5 ``(T, N)``
    dataset. Groups (structs, cells) and MATLAB's bookkeeping (``#refs#``) come back as None: listed, not read.
    """
    try:
        import h5py
    except ImportError:
        raise InputError(
            f"{name}: is a MATLAB v7.3 (HDF5) file and reading it needs h5py, which is not installed; "
            "expected it installed (pip install h5py)"
        ) from None
    out: dict[str, Any] = {}
    try:
        with h5py.File(p, "r") as f:
            for k, obj in f.items():
                if k.startswith("#"):
                    continue
                if wanted is not None and k not in wanted:
                    out[k] = None
                    continue
                out[k] = np.asarray(obj[()]).T if isinstance(obj, h5py.Dataset) else None
    except OSError as exc:
        raise InputError(
            f"{name}: cannot be read as a MATLAB v7.3 (HDF5) file ({error_reason(exc)}); expected a MAT-file"
        ) from None
    return out


def _read_mat(
    p: Path, name: str, dtype: Any, key: str | None, channels_first: bool, rate_key: str | None
) -> SignalMatrix:
    """Read one variable of a MAT-file as the (T, N) matrix (and another as its sampling rate)."""
    v73 = _is_hdf5(p)
    reader = _mat_v73_variables if v73 else _mat_v5_variables
    if v73:
        variables = reader(p, name, [k for k in (key, rate_key) if k is not None] if key is not None else None)
        names = list(variables)
    else:
        from scipy.io import whosmat

        try:
            names = [entry[0] for entry in whosmat(p)]
        except Exception as exc:
            raise InputError(
                f"{name}: cannot be read as a MATLAB file ({error_reason(exc)}); expected a MAT-file (v5 or v7.3)"
            ) from None
        variables = {}
    listed = ", ".join(repr(k) for k in names) or "none"
    if key is None:
        if not v73:
            variables = reader(p, name, None)
        matrices = [k for k, v in variables.items() if v is not None and np.ndim(v) == 2 and min(np.shape(v)) > 1]
        matrices = [k for k in matrices if np.asarray(variables[k]).dtype.kind in "biuf"]
        if len(matrices) != 1:
            found = f"{len(matrices)} 2-D numeric variables" if matrices else "no 2-D numeric variable"
            raise InputError(f"{name}: {found} (variables: {listed}); expected key= naming the one holding the signal")
        key = matrices[0]
    if key not in names:
        raise InputError(f"{name}: no variable {key!r} (variables: {listed}); expected key= naming one of them")
    if rate_key is not None and rate_key not in names:
        _named_rate(dict.fromkeys(names), rate_key, name, "variable")
    if not v73 and key not in variables:
        variables = reader(p, name, [k for k in (key, rate_key) if k is not None])
    raw = variables[key]
    if raw is None:
        raise InputError(f"{name}: variable {key!r} is a struct or cell array; expected a numeric matrix")
    data = validate_signal_matrix(_orient(np.asarray(raw), channels_first), f"{name}: variable {key!r}")
    rate = _named_rate(variables, rate_key, name, "variable") if rate_key is not None else None
    return SignalMatrix(_cast(data, dtype), default_channel_names(data.shape[1]), rate, None, name, None)


# -- NWB ---------------------------------------------------------------------
def collect_timeseries(nwbfile, TimeSeries) -> list[tuple[str, Any]]:
    """List every time series of an NWB file under acquisition and processing.

    Parameters
    ----------
    nwbfile : pynwb.NWBFile
        An open NWB file.
    TimeSeries : type
        The class to collect (``pynwb.TimeSeries`` or a subclass such as ``ImageSeries``);
        passed in so that this module imports pynwb only when an NWB file is read.

    Returns
    -------
    list of (str, TimeSeries)
        ``(path, series)`` pairs, the path like ``"processing/ophys/dff"``, in the file's order.
    """
    found: list[tuple[str, Any]] = []

    def walk(obj, prefix: str) -> None:
        if isinstance(obj, TimeSeries):
            found.append((f"{prefix}/{obj.name}", obj))
            return
        for child in getattr(obj, "children", ()) or ():
            walk(child, f"{prefix}/{obj.name}")

    for obj in nwbfile.acquisition.values():
        walk(obj, "acquisition")
    for mod_name, module in nwbfile.processing.items():
        for obj in module.data_interfaces.values():
            walk(obj, f"processing/{mod_name}")
    return found


def _nwb_channel_names(ts, n_ch: int) -> list[str]:
    """Electrode / ROI labels for ElectricalSeries / RoiResponseSeries, else ch0..."""
    for attr in ("electrodes", "rois"):
        region = getattr(ts, attr, None)
        if region is None:
            continue
        try:
            idx = np.asarray(region.data[:])
            table = region.table
            if "label" in table.colnames:
                labels = [str(x) for x in np.asarray(table["label"].data[:])[idx]]
            else:
                labels = [f"{attr[:-1]}{x}" for x in np.asarray(table.id.data[:])[idx]]
        except Exception:
            continue
        if len(labels) == n_ch:
            return labels
    return default_channel_names(n_ch)


def _read_nwb(p: Path, name: str, series: str | None, dtype: Any) -> SignalMatrix:
    try:
        from pynwb import NWBHDF5IO, TimeSeries
    except ImportError:
        raise InputError(
            f"{name}: reading .nwb files needs pynwb, which is not installed; expected it installed ({NWB_HINT})"
        ) from None
    try:
        io = NWBHDF5IO(str(p), mode="r", load_namespaces=True)
    except Exception as exc:
        raise InputError(
            f"{name}: cannot be opened as NWB ({error_reason(exc)}); expected an NWB (HDF5) file"
        ) from None
    with io:
        try:
            nwbfile = io.read()
        except Exception as exc:
            raise InputError(
                f"{name}: cannot be read as NWB ({error_reason(exc)}); expected a valid NWB file"
            ) from None
        found = collect_timeseries(nwbfile, TimeSeries)
        if not found:
            raise InputError(
                f"{name}: no TimeSeries in acquisition or processing modules; expected one holding the (T, N) signal"
            )
        listed = ", ".join(path for path, _ in found)
        if series is None:
            if len(found) > 1:
                raise InputError(f"{name}: {len(found)} TimeSeries ({listed}); expected series= naming one")
            path, ts = found[0]
        else:
            key = series.strip("/")
            matches = [(pth, obj) for pth, obj in found if key in (obj.name, pth) or pth.endswith("/" + key)]
            if not matches:
                raise InputError(
                    f"series={series!r}: not found in {name} (TimeSeries: {listed}); expected one of these names"
                )
            if len(matches) > 1:
                raise InputError(
                    f"series={series!r}: matches {len(matches)} TimeSeries in {name} "
                    f"({', '.join(m for m, _ in matches)}); expected a full path"
                )
            path, ts = matches[0]
        where = f"{name}: series '{path}'"
        raw = np.asarray(ts.data[()])
        if raw.ndim == 1 and raw.dtype.kind in "biuf":
            raw = raw.reshape(-1, 1)  # NWB convention: a 1-D series is a single channel
        data = validate_signal_matrix(raw, where)
        conversion = float(getattr(ts, "conversion", 1.0) or 1.0)
        offset = float(getattr(ts, "offset", 0.0) or 0.0)
        if conversion != 1.0 or offset != 0.0:
            data = data * conversion + offset
        rate = None
        timestamps = None
        if ts.rate is not None:
            rate = check_rate(ts.rate, where)
        elif ts.timestamps is not None:
            stamps = ts.timestamps
            stamps = stamps.timestamps if isinstance(stamps, TimeSeries) else stamps
            timestamps = check_timestamps(np.asarray(stamps[()]), where, data.shape[0])
        channels = _nwb_channel_names(ts, data.shape[1])
    return SignalMatrix(_cast(data, dtype), channels, rate, timestamps, name, None)


# ---------------------------------------------------------------------------
# writer
# ---------------------------------------------------------------------------
def write_signal_npz(path: str | os.PathLike, data: Any, **extra: Any) -> Path:
    """Write ``data`` (and extra arrays) to an ``.npz`` atomically.

    The archive is written to a temporary file in the same folder and moved
    into place with :func:`os.replace`, so readers never see a partial file
    and an existing file is replaced only by a complete new one.

    Parameters
    ----------
    path : path
        Destination; ``.npz`` is appended when missing (as numpy does).
        Missing parent folders are created.
    data : array_like, shape (T, N)
        The signal matrix, time first; checked by :func:`validate_signal_matrix`.
    **extra : array_like
        Other keys to store, e.g. ``channels`` (list of str), ``sampling_rate``
        (Hz), ``timestamps`` ``(T,)``, ``templates`` ``(K, N, D)``,
        ``amplitudes`` ``(T, K)``. Keys whose value is None are skipped.

    Returns
    -------
    pathlib.Path
        The written file.

    Examples
    --------
    >>> import numpy as np, tempfile, pathlib
    >>> p = write_signal_npz(pathlib.Path(tempfile.mkdtemp()) / "sim", np.ones((4, 3)), sampling_rate=30.0)
    >>> p.name, sorted(np.load(p).files)
    ('sim.npz', ['data', 'sampling_rate'])
    """
    p = Path(path)
    if p.suffix.lower() != ".npz":
        p = p.with_name(p.name + ".npz")
    arrays: dict[str, Any] = {"data": validate_signal_matrix(data, f"{p}: data", min_timesteps=1)}
    for key, value in extra.items():
        if value is None:
            continue
        try:
            arr = np.asarray(value)
        except (ValueError, TypeError) as exc:
            raise InputError(f"{key}: cannot be stored as an array ({exc}); expected array_like") from None
        if arr.dtype.kind == "O":
            raise InputError(f"{key}: has object dtype; expected numbers or strings (npz is written without pickle)")
        arrays[key] = arr
    with atomic_path(p) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
        fh.flush()
        os.fsync(fh.fileno())
    return p
