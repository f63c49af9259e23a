"""Run a per-session job over many sessions on a Dask cluster.

``neurocine batch motion SESSIONS.csv --rois ROIS --out DIR [--scheduler ADDRESS]``
runs :func:`neurocine.encode.video_jobs.run_motion` for every row of the CSV
(columns ``session`` and ``video``; optional ``rois`` per row overrides
``--rois``); ``neurocine batch encode SESSIONS.csv --out DIR`` runs
:func:`neurocine.encode.jobs.run_encode` for every row (columns ``session``
and ``config``, an ``encode.toml``). Each session writes its own result folder ``DIR/<session>``
atomically; a failed session is reported in ``DIR/batch.csv`` (status,
error line) while the others finish. ``DIR/summary.json`` and ``DIR/report.html`` summarise the
batch (motion: a sessions x ROIs map of mean motion energy; encode: the EV maps side by side and
the unique EV of every feature group in every session; both link every session's own report).
Sessions whose folder already holds a ``summary.json`` are skipped unless ``force=True``, so a rerun after an
interruption only does what is left. :func:`run_sessions` is that machinery, shared by both jobs.

Without ``scheduler`` a ``LocalCluster`` (one process per worker, one thread
each) runs here; with ``scheduler="tcp://host:8786"`` the work goes to an
existing cluster, e.g. one started by dask-jobqueue on SLURM (the workers must
see the same files).
"""

from __future__ import annotations

import csv
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path
from neurocine.io.results import JobResult
from neurocine.io.video import ARRAY_EXTENSIONS, VIDEO_EXTENSIONS
from neurocine.validation import check_int

__all__ = ["read_sessions", "run_batch_encode", "run_batch_motion", "run_sessions"]

_MOTION_FIELDS = ["session", "status", "frames", "seconds", "truncated", "error"]
_ENCODE_FIELDS = ["session", "status", "frames", "targets", "mean_cv_ev", "seconds", "error"]


def read_sessions(
    path: str | os.PathLike, *, required: Sequence[str] = ("session", "video"), optional: Sequence[str] = ("rois",)
) -> list[dict[str, str]]:
    """Rows of a sessions CSV: a ``session`` name and file columns, resolved from the CSV's folder.

    Parameters
    ----------
    path : path
        The CSV (header row first).
    required : sequence of str
        Columns every row fills: ``session`` and the file columns (``video`` for ``batch motion``,
        ``config`` for ``batch encode``).
    optional : sequence of str
        File columns a row may leave empty.

    Returns
    -------
    list of dict
        One per row: ``session`` and each filled file column as an absolute path.
    """
    path = Path(path)
    columns = ", ".join(required) + "".join(f"[, {c}]" for c in optional)
    if not path.exists():
        raise InputError(f"{path}: no such sessions file; expected a CSV with columns {columns}")
    expected = f"expected a CSV (text) with columns {columns}, one row per session"
    if path.suffix.lower() in VIDEO_EXTENSIONS + ARRAY_EXTENSIONS or path.is_dir():
        what = "a folder" if path.is_dir() else f"a {path.suffix.lower()} video or frame file"
        raise InputError(f"{path}: is {what}, not a sessions table; {expected}")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return _session_rows(path, csv.DictReader(fh), required, optional, columns)
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not UTF-8 text (a binary file?); {expected}") from None


def _session_rows(
    path: Path, reader: csv.DictReader, required: Sequence[str], optional: Sequence[str], columns: str
) -> list[dict[str, str]]:
    """The rows of an open sessions CSV (see :func:`read_sessions`)."""
    header = reader.fieldnames or []
    missing = [c for c in required if c not in header]
    if missing:
        raise InputError(f"{path}: column(s) {missing} missing (found {header}); expected columns {columns}")
    rows = []
    for i, row in enumerate(reader, start=2):
        values = {c: (row.get(c) or "").strip() for c in required}
        if not all(values.values()):
            raise InputError(f"{path} line {i}: empty {' or '.join(required)}; expected every one filled")
        name = values["session"]
        if "/" in name or name.startswith("."):
            raise InputError(f"{path} line {i}: session {name!r} is not a plain folder name")
        entry = {"session": name}
        for c in [*required[1:], *optional]:
            if (row.get(c) or "").strip():
                entry[c] = str((path.parent / row[c].strip()).resolve())
        rows.append(entry)
    if not rows:
        raise InputError(f"{path}: no session rows; expected at least one row after the header")
    names = [r["session"] for r in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{path}: session name(s) {dupes} appear more than once; expected unique names")
    return rows


def _one_session(task: Callable[[dict, str, dict], dict], row: dict, out: str, options: dict, fields: list) -> dict:
    """Run one session; never raises: the outcome (ok / failed with one line) is returned."""
    from neurocine.runtime import set_quiet

    set_quiet(True)
    try:
        return {"session": row["session"], "status": "ok", "error": "", **task(row, out, options)}
    except Exception as exc:  # one failed session must not stop the others
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "" if isinstance(exc, InputError) else f"{type(exc).__name__}: "
        return {**dict.fromkeys(fields, ""), "session": row["session"], "status": "failed", "error": kind + line}


def run_sessions(
    rows: list[dict],
    out: Path,
    task: Callable[[dict, str, dict], dict],
    options: dict,
    *,
    fields: list[str],
    key: str,
    scheduler: str | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    force: bool = False,
) -> list[dict]:
    """Run ``task(row, out/<session>, options)`` for every session not done yet, on a Dask cluster.

    Parameters
    ----------
    rows : list of dict
        Sessions (:func:`read_sessions`).
    out : Path
        The batch folder; created here.
    task : callable
        A module-level function (Dask pickles it) that runs one session into its folder and returns the
        outcome's other ``fields``; its exceptions become a failed row with the error's first line.
    options : dict
        Passed to every task.
    fields : list of str
        Columns of ``batch.csv`` (``session``, ``status`` and ``error`` among them).
    key : str
        Prefix of the Dask task keys (``"<key>-<session>"``).
    scheduler : str, optional
        Address of a running scheduler; default a ``LocalCluster`` here.
    n_workers : int, optional
        LocalCluster workers (default one per session up to the cores).
    processes : bool, default True
        LocalCluster workers as processes (False: threads of this process).
    force : bool, default False
        Redo sessions whose folder already holds a ``summary.json``.

    Returns
    -------
    list of dict
        One outcome per session in the order of ``rows`` (status ``ok``, ``failed`` or
        ``skipped (done earlier)``), also written to ``out/batch.csv``.
    """
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("batch: needs dask.distributed; install it with pip install neurocine[dask]") from None
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror}); expected a writable folder") from exc
    todo, results = [], []
    for row in rows:
        if not force and (out / row["session"] / "summary.json").exists():
            results.append({**dict.fromkeys(fields, ""), "session": row["session"], "status": "skipped (done earlier)"})
        else:
            todo.append(row)
    if todo:
        cluster = None
        if scheduler:
            try:
                client = Client(scheduler, timeout="20s")
            except OSError as exc:
                raise InputError(
                    f"--scheduler {scheduler}: cannot connect ({exc}); expected the address of a "
                    f"running Dask scheduler, e.g. tcp://host:8786"
                ) from None
        else:
            workers = n_workers or max(1, min(len(todo), os.cpu_count() or 1))
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None)
            client = Client(cluster)
        try:
            futures = [
                client.submit(
                    _one_session,
                    task,
                    row,
                    str(out / row["session"]),
                    options,
                    fields,
                    pure=False,
                    key=f"{key}-{row['session']}",
                )
                for row in todo
            ]
            from neurocine.runtime import progress

            for future in progress(as_completed(futures), total=len(futures), desc="sessions"):
                results.append(future.result())
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    order = {r["session"]: i for i, r in enumerate(rows)}
    results.sort(key=lambda r: order[r["session"]])
    with atomic_path(out / "batch.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(results)
    return results


def _counts(rows: list, results: list, scheduler: str | None) -> dict[str, Any]:
    return {
        "sessions": len(rows),
        "ok": sum(r["status"] == "ok" for r in results),
        "failed": sum(r["status"] == "failed" for r in results),
        "skipped": sum(r["status"].startswith("skipped") for r in results),
        "scheduler": scheduler or "LocalCluster",
        "results": results,
    }


def _motion_session(row: dict, out: str, options: dict) -> dict:
    """One session of ``batch motion``."""
    from neurocine.encode.video_jobs import run_motion

    s = run_motion(
        row["video"],
        out,
        rois=row.get("rois", options.get("rois")),
        svd=options["svd"],
        bin=options["bin"],
        figures=options["figures"],
    )
    return {"frames": s["frames"], "seconds": round(s["seconds"], 3), "truncated": s["truncated"]}


def run_batch_motion(
    sessions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    rois: str | os.PathLike | None = None,
    svd: int = 0,
    bin: int = 1,
    scheduler: str | None = None,
    n_workers: int | None = None,
    force: bool = False,
    figures: bool = True,
) -> JobResult:
    """Motion features for every session of ``sessions`` on a Dask cluster.

    Returns
    -------
    JobResult
        The batch folder (``summary``: its ``summary.json``); indexing reads ``sessions``, ``ok``,
        ``failed``, ``skipped`` (counts), ``scheduler`` and ``results`` (one row per session: ``session``,
        ``status``, ``frames``, ``seconds``, ``truncated``, ``error``).
    """
    rows = read_sessions(sessions)
    if n_workers is not None:
        check_int("--workers", n_workers)
    if rois is not None and not Path(rois).exists():
        raise InputError(f"--rois {rois}: no such file; expected a TOML or JSON ROI file")
    t0 = time.perf_counter()
    out = Path(out)
    options = {"rois": None if rois is None else str(Path(rois).resolve()), "svd": svd, "bin": bin, "figures": figures}
    results = run_sessions(
        rows,
        out,
        _motion_session,
        options,
        fields=_MOTION_FIELDS,
        key="motion",
        scheduler=scheduler,
        n_workers=n_workers,
        force=force,
    )
    summary = _counts(rows, results, scheduler)
    _write_batch_report(
        out,
        rows,
        summary,
        {"sessions": str(sessions), **options, "scheduler": scheduler, "n_workers": n_workers, "force": force},
        time.perf_counter() - t0,
    )
    return JobResult(out, summary)


def _session_summaries(out: Path, rows: list[dict]) -> dict[str, dict]:
    """The ``summary.json`` of every session done now or earlier, by session name."""
    found = {}
    for row in rows:
        try:
            found[row["session"]] = json.loads((out / row["session"] / "summary.json").read_text())
        except (OSError, ValueError):
            continue
    return found


def _write_session_table(out: Path, stem: str, names: list[str], columns: list[str], table, title: str) -> None:
    """``<stem>.csv`` (sessions x columns, empty cells for NaN) and its heat map ``<stem>.png``."""
    import numpy as np

    from neurocine.io.results import save_figure
    from neurocine.plotting.video import plot_motion_by_session

    with atomic_path(out / f"{stem}.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["session", *columns])
        writer.writerows(
            [name, *("" if np.isnan(v) else f"{v:.6g}" for v in values)] for name, values in zip(names, table)
        )
    with atomic_path(out / f"{stem}.png", suffix=".png") as tmp:
        save_figure(tmp, plot_motion_by_session(table, names, columns, title=title))


def _write_batch_summary(
    out: Path, job: str, parameters: dict, metrics: dict, seconds: float, summary: dict, **extra: Any
) -> None:
    """The batch folder's ``summary.json`` and ``report.html`` (the batch.csv table, links to each session's report).

    Written in place, not atomically as a whole: the sessions' folders in it are each complete, and every
    file here is replaced atomically."""
    from neurocine.io.results import job_summary, write_json
    from neurocine.report.html import write_report

    doc = job_summary(
        job,
        parameters,
        metrics,
        {"total_seconds": seconds},
        scheduler=summary["scheduler"],
        results=summary["results"],
        **extra,
    )
    with atomic_path(out / "summary.json") as tmp:
        write_json(tmp, doc)
    write_report(out, summary=doc)


def _write_batch_report(out: Path, rows: list[dict], summary: dict, parameters: dict, seconds: float) -> None:
    """``batch motion``: the sessions x ROIs table and figure of mean motion energy (``mean_motion_energy.csv``,
    ``.png``), ``summary.json`` and ``report.html``."""
    import numpy as np

    means = {}
    for name, s in _session_summaries(out, rows).items():
        try:
            means[name] = dict(s["metrics"]["mean_motion_energy"])
        except (KeyError, TypeError):
            continue
    frames = sum(int(r["frames"]) for r in summary["results"] if r["status"] == "ok")
    metrics = {k: summary[k] for k in ("sessions", "ok", "failed", "skipped")}
    metrics["frames_this_run"] = frames
    extra: dict = {}
    if means:
        rois = sorted({roi for m in means.values() for roi in m})
        names = [r["session"] for r in rows]
        table = np.array([[means.get(n, {}).get(roi, np.nan) for roi in rois] for n in names], dtype=float)
        _write_session_table(out, "mean_motion_energy", names, rois, table, "mean motion energy by session and ROI")
        extra["captions"] = {
            "mean_motion_energy.png": "Mean motion energy of each region (columns) in each session (rows). "
            "Look for sessions that stand out: a moved camera or a missing region shows as an odd row."
        }
    extra["overview"] = [
        {
            "title": "",
            "ran": f"Motion energy of {metrics['sessions']} video session(s), each into its own folder.",
            "result": f"{metrics['ok']} session(s) done, {metrics['failed']} failed, {metrics['skipped']} skipped "
            f"(done earlier); {frames} frames processed in this run.",
            "figure": "mean_motion_energy.png" if means else "",
        }
    ]
    _write_batch_summary(out, "batch motion", parameters, metrics, seconds, summary, **extra)


# --------------------------------------------------------------------------- batch encode


def _encode_session(row: dict, out: str, options: dict) -> dict:
    """One session of ``batch encode``."""
    from neurocine.encode.jobs import run_encode

    t0 = time.perf_counter()
    m = run_encode(row["config"], out, figures=options["figures"]).metrics
    return {
        "frames": m["n_samples"],
        "targets": m["n_targets"],
        "mean_cv_ev": round(float(m["mean_cv_ev"]), 6),
        "seconds": round(time.perf_counter() - t0, 3),
    }


def run_batch_encode(
    sessions: str | os.PathLike,
    out: str | os.PathLike,
    *,
    scheduler: str | None = None,
    n_workers: int | None = None,
    processes: bool = True,
    force: bool = False,
    figures: bool = True,
) -> JobResult:
    """``neurocine batch encode``: one :func:`~neurocine.encode.jobs.run_encode` per session on a Dask cluster.

    ``sessions`` is a CSV with columns ``session`` (the result folder's name)
    and ``config`` (the session's ``encode.toml``, relative to the CSV). Each
    session writes ``out/<session>`` as ``neurocine encode`` does; the batch
    folder gets ``batch.csv`` (status, frames, targets, mean cross-validated EV,
    error line), ``unique_ev.csv``/``.png`` (sessions x [full model, every
    feature group]: mean cross-validated EV of the full model and the unique EV
    of each group), ``ev_maps.png`` (the widefield sessions' EV maps side by
    side), ``summary.json`` and ``report.html``.

    Parameters
    ----------
    sessions : path
        The sessions CSV.
    out : path
        The batch folder.
    scheduler : str, optional
        Address of a running Dask scheduler (e.g. one dask-jobqueue started on SLURM); default a LocalCluster.
    n_workers : int, optional
        LocalCluster workers (default one per session up to the cores).
    processes : bool, default True
        LocalCluster workers as processes; False runs them as threads of this process.
    force : bool, default False
        Redo sessions that already have a ``summary.json``.
    figures : bool, default True
        Each session's figures.

    Returns
    -------
    JobResult
        The batch folder; indexing reads ``sessions``, ``ok``, ``failed``, ``skipped``, ``scheduler`` and
        ``results`` (one row per session: ``session``, ``status``, ``frames``, ``targets``,
        ``mean_cv_ev``, ``seconds``, ``error``).
    """
    rows = read_sessions(sessions, required=("session", "config"), optional=())
    if n_workers is not None:
        check_int("--workers", n_workers)
    t0 = time.perf_counter()
    out = Path(out)
    results = run_sessions(
        rows,
        out,
        _encode_session,
        {"figures": figures},
        fields=_ENCODE_FIELDS,
        key="encode",
        scheduler=scheduler,
        n_workers=n_workers,
        processes=processes,
        force=force,
    )
    summary = _counts(rows, results, scheduler)
    parameters = {"sessions": str(sessions), "scheduler": scheduler, "n_workers": n_workers, "force": force}
    _write_encode_report(out, rows, summary, parameters, time.perf_counter() - t0)
    return JobResult(out, summary)


def _write_encode_report(out: Path, rows: list[dict], summary: dict, parameters: dict, seconds: float) -> None:
    """``batch encode``: the sessions x groups table of unique EV, the EV maps side by side, summary and report."""
    import numpy as np

    done = _session_summaries(out, rows)
    names = [r["session"] for r in rows]
    groups: list[str] = []
    for s in done.values():
        groups += [g for g in s.get("metrics", {}).get("unique", {}) if g not in groups]
    metrics: dict[str, Any] = {k: summary[k] for k in ("sessions", "ok", "failed", "skipped")}
    extra: dict[str, Any] = {"captions": {}}
    figure = ""
    if done:
        columns = ["full model", *groups]
        table = np.full((len(names), len(columns)), np.nan)
        for i, n in enumerate(names):
            m = done.get(n, {}).get("metrics", {})
            if "mean_cv_ev" in m:
                table[i, 0] = m["mean_cv_ev"]
            for j, g in enumerate(groups, start=1):
                table[i, j] = m.get("unique", {}).get(g, np.nan)
        _write_session_table(
            out, "unique_ev", names, columns, table, "cross-validated EV: full model, and unique EV of each group"
        )
        metrics["mean_cv_ev"] = {n: float(table[i, 0]) for i, n in enumerate(names) if np.isfinite(table[i, 0])}
        metrics["unique"] = {
            n: {g: float(table[i, j]) for j, g in enumerate(groups, start=1) if np.isfinite(table[i, j])}
            for i, n in enumerate(names)
            if n in done
        }
        extra["captions"]["unique_ev.png"] = (
            "Each session (rows): the full model's mean cross-validated explained variance (first column) and the "
            "unique explained variance of each feature group (what is lost when the group is shuffled). Look for "
            "groups whose unique share is consistent across sessions, and for sessions that stand out."
        )
        figure = "unique_ev.png"
        maps = {}
        for n in names:
            try:
                with np.load(out / n / "maps.npz") as z:
                    maps[n] = z["ev"]
            except (OSError, KeyError, ValueError):
                continue
        if maps:
            from neurocine.encode.plotting import plot_ev_maps
            from neurocine.io.results import save_figure

            with atomic_path(out / "ev_maps.png", suffix=".png") as tmp:
                save_figure(tmp, plot_ev_maps(maps))
            extra["captions"]["ev_maps.png"] = (
                "Cross-validated explained variance at each pixel, one panel per session, on one colour scale. Look "
                "for the same regions lighting up in every session; a session with a blank or shifted map stands out."
            )
            figure = "ev_maps.png"
    extra["overview"] = [
        {
            "title": "",
            "ran": f"A ridge encoding model (neurocine encode) for each of {metrics['sessions']} session(s), each into "
            f"its own folder.",
            "result": f"{metrics['ok']} session(s) done, {metrics['failed']} failed, {metrics['skipped']} skipped "
            f"(done earlier).",
            "figure": figure,
        }
    ]
    _write_batch_summary(out, "batch encode", parameters, metrics, seconds, summary, **extra)
