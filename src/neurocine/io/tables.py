"""Readers of a rig's session files: behaviour tables with text columns, and sync (TTL) files.

:func:`read_table` reads a behaviour table whose columns may hold text
(``stimulus = left``) besides numbers; :func:`read_sync` reads the
recording's sync file, either as sampled TTL channels or as edge times.
Both return plain arrays; turning them into regressors on a frame clock is
the job of :mod:`neurocine.features.timing` and :mod:`neurocine.encode.session`.

Sync files come in two forms:

samples
    ``.csv`` with a ``time`` column (seconds) and one column per channel, or
    an ``.npz`` of :func:`~neurocine.io.signals.read_signal_matrix` (``data``
    (T, N), ``channels``, and ``timestamps`` or ``sampling_rate``).
edges
    ``.csv`` with columns ``channel,onset`` and optionally ``offset``
    (seconds; one row per pulse), or an ``.npz`` without ``data`` holding
    one 1-D array of rising-edge times per channel and, optionally,
    ``<channel>_offset`` with its falling-edge times.
"""

from __future__ import annotations

import csv
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurocine.errors import InputError
from neurocine.io.signals import SignalMatrix, read_signal_matrix

__all__ = ["SyncFile", "Table", "read_sync", "read_table"]

_TIME = ("time", "timestamp", "timestamps")


@dataclass
class Table:
    """Named columns of one table, time first.

    Attributes
    ----------
    columns : dict of str -> ndarray, shape (T,)
        float64 for numeric columns, str (``<U``) for text columns; an empty
        text cell is ``""`` (a missing label).
    timestamps : ndarray, shape (T,), float64, or None
        The ``time`` column (seconds), when the file has one.
    source : str
        The path read.
    """

    columns: dict[str, np.ndarray]
    timestamps: np.ndarray | None
    source: str

    @property
    def n_rows(self) -> int:
        """Number of rows T."""
        return int(len(next(iter(self.columns.values()))))

    @property
    def text_columns(self) -> list[str]:
        """Names of the columns that hold text."""
        return [k for k, v in self.columns.items() if v.dtype.kind == "U"]


def _number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def _csv_rows(p: Path, name: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line, cells)`` of the non-blank data rows of a csv with a header."""
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            rows = [(reader.line_num, r) for r in reader if any(c.strip() for c in r)]
    except UnicodeDecodeError:
        raise InputError(f"{name}: is not UTF-8 text; expected a comma-separated text file") from None
    except csv.Error as exc:
        raise InputError(f"{name}: cannot be parsed as csv ({exc}); expected comma-separated values") from None
    if len(rows) < 2:
        raise InputError(f"{name}: has {len(rows)} non-blank line(s); expected a header row and data rows")
    header = [c.strip() for c in rows[0][1]]
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise InputError(
                f"{name}: line {line} has {len(row)} columns but the header has {len(header)}; "
                f"expected the same number on every row"
            )
    return header, rows[1:]


def read_table(path: str | os.PathLike, *, series: str | None = None) -> Table:
    """Read a behaviour table: numeric and text columns, and an optional ``time`` column.

    A ``.csv`` needs a header row; a column whose every cell is a number is
    numeric (float64; an empty cell is an error), any other column is text
    (empty cells are missing labels). A first column named
    ``time``/``timestamp``/``timestamps`` gives the timestamps (seconds,
    strictly increasing). Other formats (``.npz``, ``.npy``, ``.nwb``,
    ``.mat``) are read by :func:`~neurocine.io.signals.read_signal_matrix`
    and hold numeric columns only.

    Parameters
    ----------
    path : path
        The table.
    series : str, optional
        NWB: the ``TimeSeries`` to read.

    Returns
    -------
    Table

    Raises
    ------
    InputError
        Naming the file, line and column: ragged rows, an empty numeric cell,
        times that do not increase, and every error of ``read_signal_matrix``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.csv"
    >>> _ = p.write_text("time,stimulus,pupil\\n0.0,left,1.5\\n0.1,,1.6\\n0.2,right,1.7\\n")
    >>> t = read_table(p)
    >>> t.timestamps.tolist(), t.columns["stimulus"].tolist(), t.text_columns
    ([0.0, 0.1, 0.2], ['left', '', 'right'], ['stimulus'])
    """
    p, name = Path(path), str(path)
    if p.suffix.lower() != ".csv" or not p.is_file() or series is not None:
        return _from_matrix(read_signal_matrix(p, series=series, dtype=np.float64))
    try:  # numbers only: numpy's fast parser
        return _from_matrix(read_signal_matrix(p, dtype=np.float64))
    except InputError:
        pass  # text cells (or a real problem, found again below with its line)
    header, rows = _csv_rows(p, name)
    columns: dict[str, np.ndarray] = {}
    for j, col in enumerate(header):
        col = col or f"ch{j}"
        cells = [r[j].strip() for _, r in rows]
        values = [_number(c) for c in cells]
        text = [i for i, (c, v) in enumerate(zip(cells, values)) if c and v is None]
        if not text and any(cells):
            empty = [i for i, c in enumerate(cells) if not c]
            if empty:
                raise InputError(f"{name}: line {rows[empty[0]][0]}, column {col!r} is empty; expected a number")
            columns[col] = np.asarray(values, dtype=np.float64)
        elif j == 0 and col.lower() in _TIME:
            i = text[0] if text else 0
            raise InputError(f"{name}: line {rows[i][0]}, column {col!r} holds {cells[i]!r}; expected a time (s)")
        else:
            columns[col] = np.asarray(cells, dtype=str)
    timestamps = None
    first = header[0]
    if first.lower() in _TIME:
        timestamps = columns.pop(first)
        bad = np.flatnonzero(~(np.diff(timestamps) > 0))
        if bad.size:
            i = int(bad[0]) + 1
            raise InputError(
                f"{name}: column {first!r} not strictly increasing at line {rows[i][0]} "
                f"({timestamps[i - 1]!r} then {timestamps[i]!r}); expected increasing times"
            )
        if not columns:
            raise InputError(f"{name}: only a {first!r} column; expected data columns after it")
    for col, v in columns.items():
        if v.dtype.kind == "f" and not np.isfinite(v).all():
            i = int(np.argmax(~np.isfinite(v)))
            raise InputError(f"{name}: line {rows[i][0]}, column {col!r} holds {v[i]}; expected a finite number")
    return Table(columns, timestamps, name)


def _from_matrix(m: SignalMatrix) -> Table:
    data = np.asarray(m.data, dtype=np.float64)
    ts = m.timestamps
    if ts is None and m.sampling_rate:
        ts = np.arange(m.n_timesteps) / m.sampling_rate
    return Table({c: data[:, j] for j, c in enumerate(m.channels)}, ts, m.source)


@dataclass
class SyncFile:
    """A sync file as read: sampled channels or edge times (one of the two is set).

    Attributes
    ----------
    samples : Table or None
        Sampled channels with their ``timestamps`` (seconds).
    edges : dict of str -> (ndarray, ndarray or None), or None
        Per channel, rising-edge (onset) times and, when given, falling-edge (offset) times, seconds.
    source : str
    """

    samples: Table | None
    edges: dict[str, tuple[np.ndarray, np.ndarray | None]] | None
    source: str

    @property
    def channels(self) -> list[str]:
        """The channel names."""
        return list(self.samples.columns if self.samples is not None else self.edges or {})


def _increasing(name: str, what: str, t: np.ndarray) -> np.ndarray:
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1 or not np.isfinite(t).all():
        raise InputError(f"{name}: {what} has shape {t.shape} or non-finite values; expected 1-D finite times (s)")
    bad = np.flatnonzero(~(np.diff(t) > 0))
    if bad.size:
        i = int(bad[0]) + 1
        raise InputError(
            f"{name}: {what} not strictly increasing at index {i} ({t[i - 1]!r} then {t[i]!r}); expected increasing times"
        )
    return t


def _offsets(name: str, channel: str, on: np.ndarray, off: np.ndarray | None) -> np.ndarray | None:
    if off is None:
        return None
    off = _increasing(name, f"channel {channel!r} offsets", off)
    if off.size != on.size or np.any(off < on):
        raise InputError(
            f"{name}: channel {channel!r} has {on.size} onsets and {off.size} offsets, or an offset before "
            f"its onset; expected one offset at or after each onset"
        )
    return off


def read_sync(path: str | os.PathLike) -> SyncFile:
    """Read a rig's sync file: sampled TTL channels or edge times (see the module docstring).

    Parameters
    ----------
    path : path
        ``.csv`` or ``.npz``.

    Returns
    -------
    SyncFile

    Raises
    ------
    InputError
        Naming the file: another extension, samples without a clock (no
        ``time`` column or ``timestamps``/``sampling_rate``), edge times that
        do not increase, offsets that do not pair with onsets.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "sync.csv"
    >>> _ = p.write_text("channel,onset,offset\\nframes,0.0,0.01\\nframes,0.05,0.06\\nlick,0.02,0.03\\n")
    >>> s = read_sync(p)
    >>> s.channels, s.edges["frames"][0].tolist()
    (['frames', 'lick'], [0.0, 0.05])
    """
    p, name = Path(path), str(path)
    ext = p.suffix.lower()
    if ext not in (".csv", ".npz"):
        raise InputError(f"{name}: unknown extension {p.suffix or '(none)'!r}; expected a .csv or .npz sync file")
    if not p.is_file():
        raise InputError(f"{name}: no such sync file; expected a .csv or .npz file")
    if ext == ".npz":
        try:
            with np.load(p, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files} if "data" not in z.files else None
        except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
            raise InputError(f"{name}: cannot be read as .npz ({exc}); expected a numpy .npz archive") from None
        if arrays is None:
            samples = _from_matrix(read_signal_matrix(p, dtype=np.float64))
            if samples.timestamps is None:
                raise InputError(f"{name}: has no timestamps or sampling_rate; expected the samples' clock")
            return SyncFile(samples, None, name)
        edges = {}
        for k, v in arrays.items():
            if k.endswith("_offset"):
                continue
            on = _increasing(name, f"channel {k!r}", v)
            edges[k] = (on, _offsets(name, k, on, arrays.get(f"{k}_offset")))
        if not edges:
            raise InputError(f"{name}: holds no arrays; expected one array of edge times per channel")
        return SyncFile(None, edges, name)
    try:
        with open(p, newline="", encoding="utf-8-sig") as fh:
            lower = [h.strip().lower() for h in next(csv.reader(fh), [])]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise InputError(f"{name}: cannot be read as csv text ({exc}); expected comma-separated values") from None
    if "channel" in lower and "onset" in lower:
        header, rows = _csv_rows(p, name)
        jc, jon = lower.index("channel"), lower.index("onset")
        joff = lower.index("offset") if "offset" in lower else None
        by: dict[str, list[tuple[float, float | None]]] = {}
        for line, r in rows:
            start = _number(r[jon])
            end = _number(r[joff]) if joff is not None else None
            if start is None or (joff is not None and end is None):
                raise InputError(f"{name}: line {line} has onset {r[jon]!r}; expected numbers (s)")
            by.setdefault(r[jc].strip(), []).append((start, end))
        edges = {}
        for ch, pairs in by.items():
            on = _increasing(name, f"channel {ch!r}", np.array([a for a, _ in pairs]))
            off = np.array([b for _, b in pairs], dtype=np.float64) if joff is not None else None
            edges[ch] = (on, _offsets(name, ch, on, off))
        return SyncFile(None, edges, name)
    table = read_table(p)
    if table.timestamps is None:
        raise InputError(
            f"{name}: has no time column (found {list(table.columns)}); expected a first column 'time' (s) and one column "
            f"per TTL channel, or columns channel,onset[,offset]"
        )
    if table.text_columns:
        raise InputError(f"{name}: column(s) {table.text_columns} hold text; expected TTL samples (numbers)")
    return SyncFile(table, None, name)
