"""Session and subject metadata for the NWB files neurocine writes, and their clock.

The NWB Inspector reports a file without a ``Subject`` as CRITICAL and one
that stores the times of a constant-rate series one by one as a best-practice
violation. A job that writes NWB takes an :class:`NWBMetadata` (read by
:func:`read_nwb_metadata` from ``--nwb-meta FILE``) and gives every file it
writes the same session: one start time, one ``session_id``, identifiers
``<session_id>-<file stem>``. :func:`regular_clock` turns regular timestamps
into ``starting_time`` and ``rate``.

The metadata file is YAML (``.yaml``/``.yml``), TOML or JSON, either flat or
with its fields in an ``nwb`` table (so the ``[nwb]`` table of a neurocine
TOML config serves)::

    [nwb]
    subject_id = "m3"
    species = "Mus musculus"          # Latin binomial (or an NCBI taxonomy URL)
    sex = "M"                         # M | F | U | O
    age = "P90D"                      # ISO 8601 duration
    session_description = "open field, top camera"
    session_start_time = 2024-03-01T10:30:00+01:00
    experimenter = ["Doe, Jane"]      # "Last, First"
    institution = "Some University"
    # optional: lab, experiment_description, keywords, session_id, subject_description,
    # genotype, strain, date_of_birth
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import tomllib
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.io.signals import NWB_HINT

__all__ = ["NWBMetadata", "read_nwb_metadata", "regular_clock", "require_pynwb"]

_SEXES = ("M", "F", "U", "O")
_AGE = re.compile(r"^P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?(/P.*)?$")
_SPECIES = re.compile(r"^[A-Z][a-z]+ [a-z]+( [a-z]+)?$|^https?://")


def require_pynwb(what: str) -> Any:
    """Import pynwb, or raise InputError naming ``what`` (the file or option) and the extra to install.

    Jobs call it before any work when asked for NWB output.
    """
    try:
        import pynwb
    except ImportError:
        raise InputError(
            f"{what}: NWB needs pynwb, which is not installed; expected it installed ({NWB_HINT})"
        ) from None
    return pynwb


@dataclasses.dataclass(frozen=True)
class NWBMetadata:
    """Session and subject of the NWB files a job writes; every field optional.

    Attributes
    ----------
    subject_id, species, sex, age : str or None
        The ``Subject``: written when any subject field is given. ``species``
        a Latin binomial (``"Mus musculus"``) or an NCBI taxonomy URL; ``sex``
        M, F, U or O; ``age`` an ISO 8601 duration (``"P90D"``).
    session_description : str or None
        Default: what the job computed.
    session_start_time : datetime or None
        Timezone-aware (UTC assumed when naive); default the job's start.
    experimenter : tuple of str
        ``"Last, First"`` names.
    institution, lab, experiment_description : str or None
    keywords : tuple of str
    session_id : str or None
        Shared by the job's files; default a new UUID per job.
    subject_description, genotype, strain, date_of_birth : optional
        More ``Subject`` fields.

    Examples
    --------
    >>> m = NWBMetadata(subject_id="m3", species="Mus musculus", sex="M", age="P90D").for_job()
    >>> m.session_start_time.tzinfo is not None, len(m.session_id)
    (True, 36)
    """

    subject_id: str | None = None
    species: str | None = None
    sex: str | None = None
    age: str | None = None
    session_description: str | None = None
    session_start_time: datetime.datetime | None = None
    experimenter: tuple[str, ...] = ()
    institution: str | None = None
    lab: str | None = None
    experiment_description: str | None = None
    keywords: tuple[str, ...] = ()
    session_id: str | None = None
    subject_description: str | None = None
    genotype: str | None = None
    strain: str | None = None
    date_of_birth: datetime.datetime | None = None

    def for_job(self) -> NWBMetadata:
        """A copy with the start time (now, UTC) and ``session_id`` (a UUID) filled in when missing:
        call once per job so that all its files share them."""
        start = self.session_start_time or datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        if start.tzinfo is None:
            start = start.replace(tzinfo=datetime.UTC)
        return dataclasses.replace(self, session_start_time=start, session_id=self.session_id or str(uuid.uuid4()))

    def subject(self) -> Any:
        """A ``pynwb.file.Subject``, or None when no subject field is set."""
        fields = ("subject_id", "species", "sex", "age", "subject_description", "genotype", "strain", "date_of_birth")
        given = {f: getattr(self, f) for f in fields if getattr(self, f) is not None}
        if not given:
            return None
        from pynwb.file import Subject

        if "subject_description" in given:
            given["description"] = given.pop("subject_description")
        if "date_of_birth" in given and given["date_of_birth"].tzinfo is None:
            given["date_of_birth"] = given["date_of_birth"].replace(tzinfo=datetime.UTC)
        return Subject(**given)

    def nwbfile_kwargs(self, stem: str, default_description: str) -> dict[str, Any]:
        """Keyword arguments of ``pynwb.NWBFile`` for the file ``<stem>.nwb`` of this job."""
        job = self if self.session_id and self.session_start_time else self.for_job()
        kwargs: dict[str, Any] = {
            "session_description": job.session_description or default_description,
            "identifier": f"{job.session_id}-{stem}",
            "session_id": job.session_id,
            "session_start_time": job.session_start_time,
            "subject": job.subject(),
        }
        for name in ("institution", "lab", "experiment_description"):
            if getattr(job, name) is not None:
                kwargs[name] = getattr(job, name)
        if job.experimenter:
            kwargs["experimenter"] = list(job.experimenter)
        if job.keywords:
            kwargs["keywords"] = list(job.keywords)
        return kwargs


_STRINGS = (
    "subject_id",
    "species",
    "sex",
    "age",
    "session_description",
    "institution",
    "lab",
    "experiment_description",
    "session_id",
    "subject_description",
    "genotype",
    "strain",
)
_LISTS = ("experimenter", "keywords")
_TIMES = ("session_start_time", "date_of_birth")


def _load_table(p: Path, name: str) -> dict:
    ext = p.suffix.lower()
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(
            f"{name}: cannot be read as text ({exc.__class__.__name__}); expected a YAML/TOML/JSON file"
        ) from None
    try:
        if ext in (".yaml", ".yml"):
            try:
                import yaml  # type: ignore[import-untyped]
            except ImportError:
                raise InputError(
                    f"{name}: YAML needs pyyaml, which is not installed; expected it ({NWB_HINT})"
                ) from None
            data = yaml.safe_load(text)
        elif ext == ".toml":
            data = tomllib.loads(text)
        elif ext == ".json":
            data = json.loads(text)
        else:
            raise InputError(f"{name}: unknown extension '{p.suffix}'; expected .yaml, .yml, .toml or .json")
    except InputError:
        raise
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else exc.__class__.__name__
        raise InputError(
            f"{name}: cannot be parsed ({reason}); expected {ext[1:].upper()} holding NWB metadata"
        ) from None
    if isinstance(data, dict) and isinstance(data.get("nwb"), dict):
        data = data["nwb"]
    if not isinstance(data, dict):
        raise InputError(f"{name}: holds {type(data).__name__}; expected a table of NWB metadata (an [nwb] table)")
    return data


def _as_time(value: Any, where: str) -> datetime.datetime:
    if isinstance(value, datetime.datetime):
        return value
    if isinstance(value, datetime.date):
        return datetime.datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        try:
            return datetime.datetime.fromisoformat(value)
        except ValueError:
            pass
    raise InputError(f"{where}: got {value!r}; expected an ISO 8601 date and time (2024-03-01T10:30:00+01:00)")


def read_nwb_metadata(path: str | os.PathLike) -> NWBMetadata:
    """Read session and subject metadata from a YAML, TOML or JSON file (flat, or an ``nwb`` table).

    Parameters
    ----------
    path : path
        ``.yaml``/``.yml``, ``.toml`` or ``.json``; the fields of
        :class:`NWBMetadata` (see the module docstring for an example).

    Returns
    -------
    NWBMetadata

    Raises
    ------
    InputError
        Missing or unparsable file, unknown fields (the known ones are
        listed), values of the wrong type, ``sex`` not M/F/U/O, ``age`` not an
        ISO 8601 duration, ``species`` neither a Latin binomial nor a URL,
        times that are not ISO 8601.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "meta.toml"
    >>> _ = p.write_text('[nwb]\\nsubject_id = "m3"\\nspecies = "Mus musculus"\\nage = "P90D"\\n')
    >>> m = read_nwb_metadata(p)
    >>> m.subject_id, m.species, m.age
    ('m3', 'Mus musculus', 'P90D')
    """
    p = Path(path)
    name = str(path)
    if not p.is_file():
        raise InputError(f"{name}: file not found; expected a YAML/TOML/JSON file of NWB metadata (--nwb-meta)")
    data = _load_table(p, name)
    known = _STRINGS + _LISTS + _TIMES
    unknown = sorted(str(k) for k in data if k not in known)
    if unknown:
        raise InputError(f"{name}: unknown field(s) {unknown}; expected some of {', '.join(known)}")
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{name}: {key}"
        if key in _STRINGS:
            if not isinstance(value, (str, int)) or isinstance(value, bool) or str(value) == "":
                raise InputError(f"{where}: got {value!r}; expected a non-empty string")
            values[key] = str(value)
        elif key in _LISTS:
            items = [value] if isinstance(value, str) else value
            if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
                raise InputError(f"{where}: got {value!r}; expected a string or a list of strings")
            values[key] = tuple(items)
        else:
            values[key] = _as_time(value, where)
    if values.get("sex") is not None and values["sex"] not in _SEXES:
        raise InputError(f"{name}: sex: got {values['sex']!r}; expected one of {', '.join(_SEXES)}")
    if values.get("age") is not None and not _AGE.match(values["age"]):
        raise InputError(f"{name}: age: got {values['age']!r}; expected an ISO 8601 duration such as P90D or P12W")
    if values.get("species") is not None and not _SPECIES.match(values["species"]):
        raise InputError(
            f"{name}: species: got {values['species']!r}; expected a Latin binomial such as 'Mus musculus' "
            f"or an NCBI taxonomy URL"
        )
    return NWBMetadata(**values)


def regular_clock(timestamps: Any, tolerance: float = 1e-3) -> tuple[float, float] | None:
    """``(starting_time, rate)`` when frame times are regular, else None.

    Times are regular when each lies within ``tolerance`` frame periods of
    ``starting_time + i / rate`` (rate from the first and last time).

    Parameters
    ----------
    timestamps : array_like, shape (T,)
        Seconds, increasing.
    tolerance : float, default 1e-3
        Allowed deviation, in frame periods.

    Returns
    -------
    (float, float) or None
        Start in seconds and rate in Hz; None for fewer than 2 times or an
        irregular clock.

    Examples
    --------
    >>> import numpy as np
    >>> regular_clock(np.arange(5) / 20.0)
    (0.0, 20.0)
    >>> regular_clock([0.0, 0.05, 0.2]) is None
    True
    """
    t = np.asarray(timestamps, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or not t[-1] > t[0]:
        return None
    period = (t[-1] - t[0]) / (t.size - 1)
    ideal = t[0] + period * np.arange(t.size)
    if np.max(np.abs(t - ideal)) > tolerance * period:
        return None
    return float(t[0]), float(1.0 / period)
