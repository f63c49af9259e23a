"""The result folder every job writes, and the result object every job returns.

A job writes into a temporary sibling folder and renames it into place only
when everything succeeded, so a crash (or bad input found half-way) never
leaves a half-written folder, and an earlier result at the same path is
replaced only by a complete new one. The job then returns a :class:`JobResult`
naming that folder, its ``summary.json`` and its ``report.html``.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shlex
import shutil
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Self

import numpy as np

from neurocine.errors import InputError, Interrupted
from neurocine.io._atomic import temporary_folder
from neurocine.runtime import signals_deferred

# errors of a write that failed for lack of room or rights, not because of a bug: reported as one line
_WRITE_FAILURES = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})

_REPR_METRICS = 8  # scalar metrics a JobResult shows in its repr

_VERSIONED = ("neurocine", "numpy", "scipy", "scikit-learn", "torch", "matplotlib", "av", "pynwb", "dask")


def package_versions() -> dict[str, str]:
    """Versions of Python and of the installed packages neurocine relies on."""
    versions = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def to_jsonable(value: Any) -> Any:
    """Convert numpy / torch scalars and arrays (recursively) into JSON types."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch tensor, without importing torch
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return to_jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def job_summary(job: str, parameters: dict, metrics: dict, timings: dict, **extra: Any) -> dict[str, Any]:
    """The content of a job's ``summary.json``: job, exact command, time, parameters, metrics, timings, versions."""
    return to_jsonable(
        {
            "job": job,
            "command": " ".join(shlex.quote(a) for a in sys.argv),
            "finished": datetime.now(UTC).isoformat(timespec="seconds"),
            "parameters": parameters,
            "metrics": metrics,
            "timings": timings,
            "versions": package_versions(),
            **extra,
        }
    )


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """``obj`` (numpy/torch values converted) as indented JSON at ``path``."""
    Path(path).write_text(json.dumps(to_jsonable(obj), indent=2) + "\n")


def save_figure(path: str | os.PathLike, fig) -> None:
    """A matplotlib figure as a PNG at ``path`` (120 dpi, tight), then closed."""
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def _failed_write(exc: BaseException) -> OSError | None:
    """The ``OSError`` of a write that failed for lack of room or rights (also behind an ``InputError``), or None."""
    for e in (exc, exc.__cause__):
        if isinstance(e, OSError) and e.errno in _WRITE_FAILURES:
            return e
    return None


def checkpoint_folder(out: str | os.PathLike) -> Path:
    """``.OUT.checkpoints`` beside ``out``: where a job writing ``out`` keeps the checkpoints a rerun resumes from.

    Examples
    --------
    >>> checkpoint_folder("runs/fit1").as_posix()
    'runs/.fit1.checkpoints'
    """
    out = Path(out)
    return out.parent / f".{out.name}.checkpoints"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _remove_stale_siblings(out: Path) -> None:
    """Delete ``.OUT.tmp-PID-*`` / ``.OUT.old-PID`` left by a job that was killed (its process is gone).

    A crash inside Python cleans up after itself; a ``kill -9`` or a power cut
    cannot, so the next job writing to the same ``out`` does it.
    """
    for p in out.parent.glob(f".{out.name}.*"):
        rest = p.name[len(out.name) + 2 :]
        kind, _, tail = rest.partition("-")
        pid = tail.split("-", 1)[0]
        if kind in ("tmp", "old") and pid.isdigit() and int(pid) != os.getpid() and not _pid_alive(int(pid)):
            shutil.rmtree(p, ignore_errors=True)


class ResultFolder:
    """Writer for one job's output folder (use as a context manager).

    Parameters
    ----------
    out : path
        The final folder. Its parent is created if needed.
    parameters : dict
        The job's parameters, stored in ``summary.json``.
    job : str
        Name of the job (``"motifs fit"``...).
    overwrite : bool
        Replace an existing non-empty ``out``. The old folder is removed only
        after the new one is complete.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with ResultFolder(root / "run", {"k": 3}, job="example") as res:
    ...     res.metrics["r2"] = 0.9
    >>> sorted(p.name for p in (root / "run").iterdir())
    ['summary.json']
    """

    def __init__(
        self, out: str | os.PathLike, parameters: dict | None = None, *, job: str = "", overwrite: bool = True
    ):
        self.out = Path(out)
        self.parameters = dict(parameters or {})
        self.job = job
        self.overwrite = overwrite
        self.metrics: dict[str, Any] = {}
        self.timings: dict[str, float] = {}
        self.extra: dict[str, Any] = {}
        self.captions: dict[str, str] = {}
        self.overview: list[dict[str, str]] = []
        self.tmp: Path | None = None
        self._t0 = 0.0

    # -- context management -------------------------------------------------
    def __enter__(self) -> Self:
        if self.out.exists() and not self.out.is_dir():
            raise InputError(f"--out {self.out}: exists and is not a folder; expected a folder path")
        if self.out.exists() and any(self.out.iterdir()) and not self.overwrite:
            raise InputError(f"--out {self.out}: folder exists and is not empty; expected a new folder")
        parent = self.out.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_siblings(self.out)
            with signals_deferred():  # a stop signal here would leave a folder that no __exit__ removes
                self.tmp = temporary_folder(f".{self.out.name}.tmp-{os.getpid()}-", parent)
        except OSError as exc:
            raise InputError(
                f"--out {self.out}: cannot write there ({exc.strerror}); expected a writable folder"
            ) from exc
        except BaseException:
            if self.tmp is not None:
                shutil.rmtree(self.tmp, ignore_errors=True)
            raise
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        assert self.tmp is not None
        if exc_type is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self._note_interrupted(exc)
            failed = _failed_write(exc)
            if failed is not None:
                raise self._write_error(failed) from exc
            return False
        try:
            self.timings.setdefault("total_seconds", time.perf_counter() - self._t0)
            summary = self.summary()
            self.write_json("summary.json", summary)
            self.finalize(summary)
            self._publish()
        except BaseException as exc:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self._note_interrupted(exc)
            failed = exc if isinstance(exc, OSError) else _failed_write(exc)
            if failed is not None:
                raise self._write_error(failed) from exc
            raise
        return False

    def _note_interrupted(self, exc: BaseException | None) -> None:
        """Tell an :class:`~neurocine.errors.Interrupted` leaving the job which folder it stopped and whether it resumes."""
        if isinstance(exc, Interrupted) and exc.out is None:
            folder = checkpoint_folder(self.out)
            exc.out, exc.resumable = self.out, folder.is_dir() and any(folder.iterdir())

    def _write_error(self, failed: OSError) -> InputError:
        """One line naming ``--out`` (not the hidden temporary folder the write went to)."""
        return InputError(
            f"--out {self.out}: writing failed ({failed.strerror or failed}); earlier results were left as they were"
        )

    def finalize(self, summary: dict[str, Any]) -> None:
        """Hook run after ``summary.json`` is written and before the folder is published (default: nothing).

        Subclasses add files built from the finished folder (e.g. ``report.html``).
        """

    def _publish(self) -> None:
        assert self.tmp is not None
        with signals_deferred():  # a stop signal never leaves ``out`` moved aside and not replaced
            self._swap_into_place()

    def _swap_into_place(self) -> None:
        assert self.tmp is not None
        if self.out.exists():
            old = self.out.with_name(f".{self.out.name}.old-{os.getpid()}")
            os.replace(self.out, old)
            try:
                os.replace(self.tmp, self.out)
            except OSError:
                os.replace(old, self.out)  # put the earlier result back before reporting
                raise
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(self.tmp, self.out)

    # -- writing --------------------------------------------------------------
    def path(self, name: str) -> Path:
        """Path of ``name`` inside the (temporary) folder; parents are created."""
        assert self.tmp is not None, "use ResultFolder as a context manager"
        p = self.tmp / name
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def summary(self) -> dict[str, Any]:
        """The content of ``summary.json``: :func:`job_summary` plus ``captions`` and ``overview`` where given."""
        extra = dict(self.extra)
        if self.captions:
            extra["captions"] = dict(self.captions)
        if self.overview:
            extra["overview"] = [dict(entry) for entry in self.overview]
        return job_summary(self.job, self.parameters, self.metrics, self.timings, **extra)

    def caption(self, name: str, text: str) -> None:
        """Record what to look at in the file ``name`` (a figure, a video; path inside the folder).

        The captions go into ``summary.json`` (``captions``: file -> text) and the report prints
        each under its figure.
        """
        self.captions[name] = text

    def headline(self, result: str, *, ran: str = "", figure: str = "", title: str = "") -> None:
        """Add one line to the job's overview: what was run, the result in words, its key figure.

        Parameters
        ----------
        result : str
            The headline result in words, next to its reference (the truth, a peer, a paper): for example
            ``"31 of 33 true spikes found, R² 0.871 against the true model's 0.877"``.
        ran : str
            One sentence saying what was run, on what data.
        figure : str
            The key figure, a path inside the folder (shown beside the line at the top of the report).
        title : str
            A heading for the line (the demo gives one per study; a single job needs none).

        Examples
        --------
        >>> import tempfile, pathlib
        >>> with ResultFolder(pathlib.Path(tempfile.mkdtemp()) / "run", job="example") as res:
        ...     res.headline("R² 0.91 against the true model's 0.92", ran="A fit to simulated data.")
        >>> res.summary()["overview"]
        [{'title': '', 'ran': 'A fit to simulated data.', 'result': "R² 0.91 against the true model's 0.92", 'figure': ''}]
        """
        self.overview.append({"title": title, "ran": ran, "result": result, "figure": figure})

    def write_json(self, name: str, obj: Any) -> Path:
        p = self.path(name)
        write_json(p, obj)
        return p

    def save_arrays(self, name: str, **arrays: Any) -> Path:
        """Save arrays into ``name`` (``.npz``, compressed)."""
        p = self.path(name)
        packed: dict[str, Any] = {k: np.asarray(v) for k, v in arrays.items()}
        np.savez_compressed(p, **packed)
        return p

    def save_figure(self, name: str, fig, caption: str | None = None) -> Path:
        """Save a matplotlib figure as ``name`` (png, 120 dpi) and close it.

        ``caption`` says what to look at in it (see :meth:`caption`); the report prints it under the figure.
        """
        p = self.path(name)
        save_figure(p, fig)
        if caption:
            self.caption(name, caption)
        return p

    @contextmanager
    def timer(self, name: str):
        """Record the wall time of the ``with`` block under ``timings[name]`` (seconds)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = time.perf_counter() - t0


class JobResult(Mapping[str, Any]):
    """What a job returns: where it wrote, its parsed ``summary.json`` and its ``report.html``.

    Indexing reads the job's own return values (``result["metrics"]``, ``result["frames"]``...: the keys
    each job's docstring lists under Returns); for most jobs these are the contents of ``summary.json``.

    Parameters
    ----------
    out : path
        The job's output: its result folder, or the file it wrote (``motifs simulate`` an ``.npz``,
        ``screenome simulate`` a CSV, ``video rois`` a PNG).
    values : mapping, optional
        The job's return values (default: the folder's ``summary.json``, so ``JobResult(folder)``
        opens an earlier result).
    report : path, optional
        The HTML page showing the result (default: ``out/report.html`` where it exists).

    Attributes
    ----------
    out : Path
        As given.
    summary : dict
        ``out/summary.json`` parsed, or ``values`` for a job that writes no ``summary.json``.
    report : Path or None
        The report page, None for a job that writes none.
    job : str
        The job's name as ``summary.json`` records it (``"motifs fit"``...), ``""`` where it has none.
    metrics : dict
        ``summary["metrics"]`` (empty where there is none).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> with ResultFolder(root / "run", {"k": 3}, job="example") as res:
    ...     res.metrics["r2"] = 0.9
    >>> result = JobResult(root / "run")
    >>> result.job, result.metrics["r2"], result["parameters"]
    ('example', 0.9, {'k': 3})
    """

    def __init__(
        self,
        out: str | os.PathLike,
        values: Mapping[str, Any] | None = None,
        *,
        report: str | os.PathLike | None = None,
    ) -> None:
        self.out = Path(out)
        path = self.out / "summary.json"
        if path.is_file():
            self.summary: dict[str, Any] = json.loads(path.read_text())
        elif values is None:
            raise InputError(f"{self.out}: has no summary.json; expected a neurocine result folder")
        else:
            self.summary = dict(values)
        self._values = self.summary if values is None else dict(values)
        if report is None and (self.out / "report.html").is_file():
            report = self.out / "report.html"
        self.report = None if report is None else Path(report)

    @property
    def job(self) -> str:
        return str(self.summary.get("job", ""))

    @property
    def metrics(self) -> dict[str, Any]:
        return self.summary.get("metrics") or {}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        """The job, its output, its report and its first scalar metrics (its scalar values without metrics)."""
        label, values = ("metrics", self.metrics) if "metrics" in self.summary else ("values", self.summary)
        shown = [
            f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in values.items()
            if k != "out" and (isinstance(v, (int, float, str)) or v is None)
        ]
        more = f" (+{len(shown) - _REPR_METRICS} more)" if len(shown) > _REPR_METRICS else ""
        lines = [f"<JobResult{' ' + self.job if self.job else ''} -> {self.out}"]
        if self.report is not None:
            lines.append(f"  report: {self.report}")
        if shown:
            lines.append(f"  {label}: {', '.join(shown[:_REPR_METRICS])}{more}")
        return "\n".join(lines) + ">"
