"""Run a per-session job over many sessions on a Dask cluster.

``neurocine batch motion SESSIONS.csv --rois ROIS --out DIR [--scheduler ADDRESS]``
runs :func:`neurocine.encode.video_jobs.run_motion` for every row of the CSV
(columns ``session`` and ``video``; optional ``rois`` per row overrides
``--rois``). Each session writes its own result folder ``DIR/<session>``
atomically; a failed session is reported in ``DIR/batch.csv`` (status,
error line) while the others finish. ``DIR/summary.json`` and ``DIR/report.html`` summarise the
batch (a sessions x ROIs map of mean motion energy, links to every session's own report).
Sessions whose folder already holds a ``summary.json`` are skipped unless ``force=True``, so a rerun after an
interruption only does what is left.

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
from pathlib import Path

from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path
from neurocine.io.results import JobResult
from neurocine.io.video import ARRAY_EXTENSIONS, VIDEO_EXTENSIONS
from neurocine.validation import check_int

__all__ = ["read_sessions", "run_batch_motion"]


def read_sessions(path: str | os.PathLike) -> list[dict[str, str]]:
    """Rows of a sessions CSV (header with ``session`` and ``video``); relative paths are resolved from its folder."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such sessions file; expected a CSV with columns session, video[, rois]")
    expected = "expected a CSV (text) with columns session, video[, rois], one row per session"
    if path.suffix.lower() in VIDEO_EXTENSIONS + ARRAY_EXTENSIONS or path.is_dir():
        what = "a folder" if path.is_dir() else f"a {path.suffix.lower()} video or frame file"
        raise InputError(f"{path}: is {what}, not a sessions table; {expected} (the videos go in its video column)")
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return _session_rows(path, csv.DictReader(fh))
    except UnicodeDecodeError:
        raise InputError(f"{path}: is not UTF-8 text (a binary file?); {expected}") from None


def _session_rows(path: Path, reader: csv.DictReader) -> list[dict[str, str]]:
    """The rows of an open sessions CSV (see :func:`read_sessions`)."""
    header = reader.fieldnames or []
    missing = [c for c in ("session", "video") if c not in header]
    if missing:
        raise InputError(
            f"{path}: column(s) {missing} missing (found {header}); expected columns session, video[, rois]"
        )
    rows = []
    for i, row in enumerate(reader, start=2):
        name, video = (row.get("session") or "").strip(), (row.get("video") or "").strip()
        if not name or not video:
            raise InputError(f"{path} line {i}: empty session or video; expected both")
        if "/" in name or name.startswith("."):
            raise InputError(f"{path} line {i}: session {name!r} is not a plain folder name")
        entry = {"session": name, "video": str((path.parent / video).resolve())}
        if (row.get("rois") or "").strip():
            entry["rois"] = str((path.parent / row["rois"].strip()).resolve())
        rows.append(entry)
    if not rows:
        raise InputError(f"{path}: no session rows; expected at least one row after the header")
    names = [r["session"] for r in rows]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{path}: session name(s) {dupes} appear more than once; expected unique names")
    return rows


def _one_session(row: dict, out: str, options: dict) -> dict:
    """Run one session; never raises: the outcome (ok / failed with one line) is returned."""
    from neurocine.encode.video_jobs import run_motion
    from neurocine.runtime import set_quiet

    set_quiet(True)
    try:
        s = run_motion(
            row["video"],
            out,
            rois=row.get("rois", options.get("rois")),
            svd=options["svd"],
            bin=options["bin"],
            figures=options["figures"],
        )
        return {
            "session": row["session"],
            "status": "ok",
            "frames": s["frames"],
            "seconds": round(s["seconds"], 3),
            "truncated": s["truncated"],
            "error": "",
        }
    except Exception as exc:  # one failed session must not stop the others
        line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        kind = "" if isinstance(exc, InputError) else f"{type(exc).__name__}: "
        return {
            "session": row["session"],
            "status": "failed",
            "frames": "",
            "seconds": "",
            "truncated": "",
            "error": kind + line,
        }


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
    try:
        from dask.distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError("batch: needs dask.distributed; install it with pip install neurocine[dask]") from None
    t0 = time.perf_counter()
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"--out {out}: cannot write there ({exc.strerror}); expected a writable folder") from exc
    options = {"rois": None if rois is None else str(Path(rois).resolve()), "svd": svd, "bin": bin, "figures": figures}
    todo, results = [], []
    for row in rows:
        if not force and (out / row["session"] / "summary.json").exists():
            results.append(
                {
                    "session": row["session"],
                    "status": "skipped (done earlier)",
                    "frames": "",
                    "seconds": "",
                    "truncated": "",
                    "error": "",
                }
            )
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
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
            client = Client(cluster)
        try:
            futures = [
                client.submit(
                    _one_session, row, str(out / row["session"]), options, pure=False, key=f"motion-{row['session']}"
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
    fields = ["session", "status", "frames", "seconds", "truncated", "error"]
    with atomic_path(out / "batch.csv") as tmp, tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows(results)
    summary = {
        "sessions": len(rows),
        "ok": sum(r["status"] == "ok" for r in results),
        "failed": sum(r["status"] == "failed" for r in results),
        "skipped": sum(r["status"].startswith("skipped") for r in results),
        "scheduler": scheduler or "LocalCluster",
        "results": results,
    }
    _write_batch_report(
        out,
        rows,
        summary,
        {"sessions": str(sessions), **options, "scheduler": scheduler, "n_workers": n_workers, "force": force},
        time.perf_counter() - t0,
    )
    return JobResult(out, summary)


def _write_batch_report(out: Path, rows: list[dict], summary: dict, parameters: dict, seconds: float) -> None:
    """``summary.json``, the sessions x ROIs table and figure of mean motion energy (``mean_motion_energy.csv``,
    ``.png``) and ``report.html`` (linking each session's own report) for the batch folder.

    Written in place, not atomically as a whole: the sessions' folders in it are each complete, and every
    file here is replaced atomically."""
    import numpy as np

    from neurocine.io.results import job_summary, save_figure, write_json
    from neurocine.plotting.video import plot_motion_by_session
    from neurocine.report.html import write_report

    means = {}
    for row in rows:  # every session done now or earlier: read what its summary says
        try:
            s = json.loads((out / row["session"] / "summary.json").read_text())
            means[row["session"]] = s["metrics"]["mean_motion_energy"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
    frames = sum(int(r["frames"]) for r in summary["results"] if r["status"] == "ok")
    metrics = {k: summary[k] for k in ("sessions", "ok", "failed", "skipped")}
    metrics["frames_this_run"] = frames
    if means:
        rois = sorted({roi for m in means.values() for roi in m})
        names = [r["session"] for r in rows]
        table = np.array([[means.get(n, {}).get(roi, np.nan) for roi in rois] for n in names], dtype=float)
        with atomic_path(out / "mean_motion_energy.csv") as tmp, tmp.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["session", *rois])
            writer.writerows(
                [name, *("" if np.isnan(v) else f"{v:.6g}" for v in values)] for name, values in zip(names, table)
            )
        with atomic_path(out / "mean_motion_energy.png", suffix=".png") as tmp:
            save_figure(tmp, plot_motion_by_session(table, names, rois))
    extra: dict = {}
    if means:
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
    doc = job_summary(
        "batch motion",
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
