"""Screenome logs: CSV event logs of what was on a phone screen, and when.

A screenome log (Human Screenome Project style) is a CSV file with a header
line and one row per event::

    timestamp,app,duration,participant
    2024-01-01T08:00:00,messages,12.5,P01
    2024-01-01T08:00:12.5,youtube,40,P01

Columns (names are matched case-insensitively, surrounding spaces ignored):

``timestamp`` (required)
    ISO-8601 date-times (``2024-01-01T08:00:00``, ``2024-01-01 08:00:00.250``,
    ``2024-01-01T08:00:00+02:00``, ``...Z``) *or* plain numbers of seconds
    (Unix epoch or relative to any origin). All rows must use the same kind:
    all numeric, all ISO without a timezone, or all ISO with a timezone.
    ISO times with a timezone are converted to UTC; naive ISO times are read
    as wall-clock times (seconds since ``1970-01-01T00:00:00`` of the same
    wall clock). Either way they become float seconds.
``app`` or ``category`` (one required)
    The channel: the app on screen, or its category. Empty names are an
    error. With both columns, ``app`` is used unless ``channel="category"``.
``duration`` (optional)
    Seconds the event lasted (a finite number >= 0). Without this column
    each row is a *screenshot sample* that lasts until the next row of the
    same participant, at most ``max_gap`` seconds (default 5 s, the
    screenshot period of the Human Screenome Project); the last row of each
    participant lasts ``max_gap`` seconds.
``participant`` (optional)
    Participant id. Events of different participants may overlap in time;
    events of one participant may not (see below).

Any other column is ignored and named in :attr:`ScreenomeLog.warnings`.

Documented behaviour, rather than errors:

* Rows that are not in time order (within a participant) are sorted by
  timestamp with a *stable* sort (rows with equal timestamps keep their
  file order); a warning says so.
* Overlapping events of one participant: an event that lasts past the start
  of the participant's next event is clipped at that start (a phone shows
  one app at a time); a warning gives the number of clipped events and the
  first line. Overlaps shorter than 1 microsecond (float rounding) are
  clipped silently.
* Gaps between events are periods of no use (zeros once binned).
* Blank lines are skipped.

Everything else that is wrong raises :class:`~neurocine.errors.InputError`
with one line naming the file, the 1-based line number in the file and what
was expected.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from neurocine.errors import InputError

__all__ = ["ScreenomeLog", "read_screenome_log", "write_screenome_log", "seconds_to_iso", "KNOWN_COLUMNS"]

#: Column names the reader understands.
KNOWN_COLUMNS = ("timestamp", "app", "category", "duration", "participant")

_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_OVERLAP_TOL = 1e-6  # seconds: smaller overlaps are float rounding, clipped silently
_EXPECTED_HEADER = "expected a header line such as 'timestamp,app,duration,participant'"


@dataclass
class ScreenomeLog:
    """Events of a screenome log, sorted by start time.

    Attributes
    ----------
    start : ndarray, shape (E,), float64
        Start of each event in seconds (epoch seconds for ISO timestamps,
        see :attr:`time_kind`; the file's numbers for numeric ones).
    duration : ndarray, shape (E,), float64
        Seconds each event lasted, >= 0, after clipping overlaps (or inferred
        from the next event when the file has no ``duration`` column).
    channel : ndarray, shape (E,), int64
        Index of each event's app (or category) into :attr:`channels`.
    channels : list of str
        Channel names, sorted alphabetically.
    participant : ndarray, shape (E,), str
        Participant of each event (``""`` when the file has no such column).
    line : ndarray, shape (E,), int64
        1-based line number of each event in the file.
    channel_column : str
        ``"app"`` or ``"category"``: the column the channels came from.
    time_kind : str
        ``"numeric"``, ``"iso-naive"`` or ``"iso-utc"`` (ISO with a timezone,
        converted to UTC).
    duration_inferred : bool
        True when durations were inferred (no ``duration`` column).
    path : Path
        The file read.
    warnings : list of str
        One line per documented fix-up (ignored columns, sorting, clipping).
    """

    start: np.ndarray
    duration: np.ndarray
    channel: np.ndarray
    channels: list[str]
    participant: np.ndarray
    line: np.ndarray
    channel_column: str = "app"
    time_kind: str = "numeric"
    duration_inferred: bool = False
    path: Path = field(default_factory=lambda: Path("."))
    warnings: list[str] = field(default_factory=list)

    @property
    def n_events(self) -> int:
        """Number of events."""
        return int(self.start.shape[0])

    @property
    def participants(self) -> list[str]:
        """Distinct participants, sorted."""
        return sorted(set(self.participant.tolist()))

    @property
    def end(self) -> np.ndarray:
        """End of each event in seconds, shape (E,)."""
        return self.start + self.duration

    def to_iso(self, seconds) -> list[str]:
        """Convert seconds on this log's time axis back to ISO strings (numeric logs: ``str(float)``)."""
        return [seconds_to_iso(s, self.time_kind) for s in np.atleast_1d(np.asarray(seconds, dtype=float))]


def seconds_to_iso(seconds: float, time_kind: str) -> str:
    """Inverse of the reader's timestamp conversion, to the microsecond.

    Examples
    --------
    >>> seconds_to_iso(1704096000.25, "iso-naive")
    '2024-01-01T08:00:00.250000'
    >>> seconds_to_iso(0.0, "iso-utc")
    '1970-01-01T00:00:00+00:00'
    """
    if time_kind == "numeric":
        return repr(float(seconds))
    micro = int(round(float(seconds) * 1e6))
    base = _EPOCH_UTC if time_kind == "iso-utc" else _EPOCH_NAIVE
    return (base + timedelta(microseconds=micro)).isoformat()


def _parse_timestamp(text: str):
    """(kind, value) of one timestamp cell, or None if unparseable.

    kind is ``numeric`` (value: float seconds), ``iso-naive`` or ``iso-utc``
    (value: int microseconds since the epoch, exact).
    """
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            return None
        return "numeric", value
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    if dt.tzinfo is None or dt.utcoffset() is None:
        return "iso-naive", (dt - _EPOCH_NAIVE) // timedelta(microseconds=1)
    return "iso-utc", (dt - _EPOCH_UTC) // timedelta(microseconds=1)


def _open_rows(path: Path):
    if not path.exists():
        raise InputError(f"{path}: file not found; expected a CSV screenome log")
    if path.is_dir():
        raise InputError(f"{path}: is a folder; expected a CSV screenome log file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); expected a UTF-8 CSV screenome log") from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror}); expected a readable CSV screenome log") from exc
    if not text.strip():
        raise InputError(f"{path}: file is empty; {_EXPECTED_HEADER} and event rows")
    return text


def read_screenome_log(
    path: str | os.PathLike, *, channel: str = "app", participant: str | None = None, max_gap: float = 5.0
) -> ScreenomeLog:
    """Read a screenome CSV log into sorted events.

    See the module docstring for the file format and the documented fix-ups.

    Parameters
    ----------
    path : path
        The CSV file.
    channel : {"app", "category"}
        Which column names the channels. ``"app"`` (default) uses the ``app``
        column, or ``category`` when the file has no ``app`` column;
        ``"category"`` requires a ``category`` column.
    participant : str, optional
        Keep only this participant's rows (needs a ``participant`` column).
    max_gap : float
        Seconds, > 0. Only used without a ``duration`` column: each row lasts
        until the participant's next row, at most ``max_gap`` seconds.

    Returns
    -------
    ScreenomeLog

    Raises
    ------
    InputError
        Missing/empty file, header only, missing columns, bad timestamps or
        durations (with the line number), empty app names, unknown
        participant.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = p.write_text("timestamp,app\\n0,mail\\n3,maps\\n20,mail\\n")
    >>> log = read_screenome_log(p, max_gap=5)
    >>> log.channels, log.start.tolist(), log.duration.tolist()
    (['mail', 'maps'], [0.0, 3.0, 20.0], [3.0, 5.0, 5.0])
    """
    path = Path(path)
    if channel not in ("app", "category"):
        raise InputError(f"channel: got {channel!r}, expected 'app' or 'category'")
    try:
        max_gap = float(max_gap)
    except (TypeError, ValueError):
        raise InputError(f"max_gap: got {max_gap!r}, expected a positive number of seconds") from None
    if not (math.isfinite(max_gap) and max_gap > 0):
        raise InputError(f"max_gap: got {max_gap!r}, expected a positive number of seconds")

    text = _open_rows(path)
    reader = csv.reader(text.splitlines(keepends=True))
    warnings: list[str] = []

    # -- header ---------------------------------------------------------------
    header = None
    header_line = 0
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                header = [cell.strip().lower() for cell in row]
                header_line = reader.line_num
                break
    except csv.Error as exc:
        raise InputError(f"{path} line {reader.line_num}: malformed CSV ({exc}); {_EXPECTED_HEADER}") from exc
    if header is None:
        raise InputError(f"{path}: file is empty; {_EXPECTED_HEADER} and event rows")
    found = ", ".join(repr(h) for h in header)
    dupes = sorted({h for h in header if header.count(h) > 1 and h})
    if dupes:
        raise InputError(
            f"{path} line {header_line}: column {dupes[0]!r} appears more than once; expected unique column names"
        )
    if "timestamp" not in header:
        raise InputError(
            f"{path}: column 'timestamp' missing (found {found}); expected columns timestamp, app|category"
        )
    if channel == "category":
        if "category" not in header:
            raise InputError(
                f"{path}: column 'category' missing (found {found}); expected a 'category' column with channel='category'"
            )
        channel_column = "category"
    elif "app" in header:
        channel_column = "app"
    elif "category" in header:
        channel_column = "category"
    else:
        raise InputError(
            f"{path}: column 'app' or 'category' missing (found {found}); expected columns timestamp, app|category"
        )
    unknown = [h for h in header if h not in KNOWN_COLUMNS]
    if unknown:
        warnings.append(f"{path}: ignored unknown column(s) " + ", ".join(repr(h) for h in unknown))
    col = {name: header.index(name) for name in KNOWN_COLUMNS if name in header}
    i_time, i_chan = col["timestamp"], col[channel_column]
    i_dur, i_part = col.get("duration"), col.get("participant")
    if participant is not None and i_part is None:
        raise InputError(
            f"{path}: participant {participant!r} asked for but column 'participant' missing; "
            f"expected a 'participant' column"
        )

    # -- rows -------------------------------------------------------------------
    starts: list[float] = []
    durations: list[float] = []
    names: list[str] = []
    parts: list[str] = []
    lines: list[int] = []
    seen_parts: set[str] = set()
    time_kind = None
    kind_line = 0
    n_fields = len(header)
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != n_fields:
                raise InputError(
                    f"{path} line {line}: {len(row)} fields; expected {n_fields} (columns {', '.join(header)})"
                )
            who = row[i_part].strip() if i_part is not None else ""
            seen_parts.add(who)
            if participant is not None and who != str(participant):
                continue
            stamp = row[i_time].strip()
            parsed = _parse_timestamp(stamp) if stamp else None
            if parsed is None:
                raise InputError(
                    f"{path} line {line}: timestamp {stamp!r} is not a time; expected an ISO-8601 "
                    f"date-time (2024-01-01T08:00:00) or a number of seconds"
                )
            kind, seconds = parsed
            if time_kind is None:
                time_kind, kind_line = kind, line
            elif kind != time_kind:
                what = {
                    "numeric": "a number",
                    "iso-naive": "an ISO time without timezone",
                    "iso-utc": "an ISO time with a timezone",
                }
                raise InputError(
                    f"{path} line {line}: timestamp {stamp!r} is {what[kind]} but line {kind_line} "
                    f"has {what[time_kind]}; expected every timestamp of the same kind "
                    f"(mixed timezone-naive and timezone-aware times are ambiguous)"
                )
            name = row[i_chan].strip()
            if not name:
                raise InputError(
                    f"{path} line {line}: empty {channel_column} name; expected a non-empty "
                    f"{channel_column} in column {channel_column!r}"
                )
            if i_dur is not None:
                cell = row[i_dur].strip()
                try:
                    dur = float(cell)
                except ValueError:
                    dur = None
                if dur is None or not math.isfinite(dur) or dur < 0:
                    raise InputError(
                        f"{path} line {line}: duration {cell!r} in column 'duration'; "
                        f"expected a finite number of seconds >= 0"
                    )
                durations.append(dur)
            starts.append(seconds)
            names.append(name)
            parts.append(who)
            lines.append(line)
    except csv.Error as exc:
        raise InputError(
            f"{path} line {reader.line_num}: malformed CSV ({exc}); expected comma-separated fields"
        ) from exc

    if not starts:
        if participant is not None and seen_parts:
            shown = ", ".join(repr(p) for p in sorted(seen_parts)[:10])
            raise InputError(f"{path}: no rows for participant {participant!r}; expected one of {shown}")
        raise InputError(
            f"{path}: header only, no event rows; expected at least one event row after line {header_line}"
        )

    iso = time_kind != "numeric"
    # ISO: exact integer microseconds, so gaps between events carry no float rounding
    ticks = np.asarray(starts, dtype=np.int64 if iso else np.float64)
    start = ticks / 1e6 if iso else ticks
    part = np.asarray(parts, dtype=str)
    line_arr = np.asarray(lines, dtype=np.int64)
    channels = sorted(set(names))
    lookup = {n: i for i, n in enumerate(channels)}
    chan = np.fromiter((lookup[n] for n in names), dtype=np.int64, count=len(names))

    # -- sort (stable, by participant then time to check order; final order is by time) ----------
    by_part = np.lexsort((np.arange(start.size), start, part))  # participant, time, file order
    in_file = np.argsort(part, kind="stable")  # participant, then file order
    backwards = (np.diff(ticks[in_file]) < 0) & (part[in_file][1:] == part[in_file][:-1])
    if backwards.any():
        first = int(line_arr[in_file[1:][backwards]].min())
        warnings.append(f"{path}: rows not in time order (first at line {first}); sorted by timestamp (stable sort)")

    # per-participant next start, in participant-time order
    k_sorted = ticks[by_part]
    p_sorted = part[by_part]
    same_next = np.zeros(k_sorted.size, dtype=bool)
    same_next[:-1] = p_sorted[1:] == p_sorted[:-1]
    gap_next = np.full(k_sorted.size, np.inf)
    step = np.diff(k_sorted)
    gap_next[:-1] = np.where(same_next[:-1], step / 1e6 if iso else step, np.inf)

    if i_dur is None:
        d_sorted = np.minimum(gap_next, max_gap)
        duration_inferred = True
    else:
        d_sorted = np.asarray(durations, dtype=np.float64)[by_part]
        over = d_sorted - gap_next
        clipped = over > _OVERLAP_TOL
        if clipped.any():
            first_line = int(line_arr[by_part][clipped].min())
            warnings.append(
                f"{path}: {int(clipped.sum())} event(s) overlap the next event of the same participant "
                f"(first at line {first_line}); clipped at the next event's start"
            )
        d_sorted = np.minimum(d_sorted, gap_next)
        duration_inferred = False

    duration = np.empty_like(d_sorted)
    duration[by_part] = d_sorted
    order = np.argsort(start, kind="stable")
    return ScreenomeLog(
        start=start[order],
        duration=duration[order],
        channel=chan[order],
        channels=channels,
        participant=part[order],
        line=line_arr[order],
        channel_column=channel_column,
        time_kind=time_kind or "numeric",
        duration_inferred=duration_inferred,
        path=path,
        warnings=warnings,
    )


def write_screenome_log(
    path: str | os.PathLike,
    rows: Sequence[Mapping[str, object]] | Iterable[Mapping[str, object]],
    columns: Sequence[str] | None = None,
) -> Path:
    """Write event rows as a screenome CSV log (atomically: temporary file, then rename).

    Parameters
    ----------
    path : path
        The CSV file to write; its folder is created if needed.
    rows : sequence of mappings
        One mapping per event, e.g. ``{"timestamp": "2024-01-01T08:00:00",
        "app": "mail", "duration": 3.5, "participant": "P01"}``. Every row
        has the same keys.
    columns : sequence of str, optional
        Column order; default the keys of the first row.

    Returns
    -------
    Path
        The written file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "log.csv"
    >>> _ = write_screenome_log(p, [{"timestamp": 0, "app": "mail", "duration": 2.0}])
    >>> p.read_text().splitlines()
    ['timestamp,app,duration', '0,mail,2.0']
    """
    rows = list(rows)
    path = Path(path)
    if not rows:
        raise InputError(f"{path}: no rows to write; expected at least one event")
    columns = list(columns) if columns is not None else list(rows[0].keys())
    if "timestamp" not in columns or not ({"app", "category"} & set(columns)):
        raise InputError(f"{path}: columns {columns}; expected at least timestamp and app|category")
    for i, row in enumerate(rows):
        if set(row.keys()) != set(columns):
            raise InputError(f"{path}: row {i} has keys {sorted(row.keys())}; expected {sorted(columns)}")
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh, lineterminator="\n")
            writer.writerow(columns)
            for row in rows:
                writer.writerow([row[c] for c in columns])
        os.replace(tmp, path)
    except OSError as exc:
        raise InputError(f"{path}: cannot write there ({exc.strerror}); expected a writable path") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
