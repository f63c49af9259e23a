"""``report.html``: one self-contained page per result folder, from its ``summary.json`` and files.

Every job's folder gets one (see :class:`JobFolder`); ``neurocine report DIR...``
rebuilds them or merges several folders into one page. The page shows the
job, the exact command, the metrics, small CSV tables, every figure (PNG
embedded as a data URI, so the page stands alone), every ``.mp4`` as a
``<video>`` (every ``.gif`` as an image) next to its file, links to the reports of sub-jobs (sub-folders
with their own ``summary.json``), and the parameters, timings and versions.
One jinja2 template (``templates/report.html.j2``) serves every job.
"""

from __future__ import annotations

import base64
import csv
import json
import os
from pathlib import Path
from typing import Any

from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path
from neurocine.io.results import ResultFolder

__all__ = ["JobFolder", "merge_reports", "render_report", "write_report"]

_MAX_TABLE_ROWS = 40
_MAX_TABLE_COLUMNS = 12
_MAX_LIST = 12


def _template():
    import jinja2

    env = jinja2.Environment(loader=jinja2.PackageLoader("neurocine.report", "templates"),
                             autoescape=jinja2.select_autoescape(["html", "j2"]), undefined=jinja2.StrictUndefined)
    return env.get_template("report.html.j2")


def _format(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, list):
        if len(value) <= _MAX_LIST and all(not isinstance(v, (list, dict)) for v in value):
            return ", ".join(_format(v) for v in value)
        return f"[{len(value)} values]"
    return str(value)


def _flatten(d: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Nested metrics -> (dotted key, text) rows."""
    rows = []
    for key, value in d.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            rows += _flatten(value, name + ".")
        else:
            rows.append((name, _format(value)))
    return rows


def _files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Files of this job, and the sub-folders that are jobs of their own (they have a summary.json)."""
    own, children = [], []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        if here != folder and (here / "summary.json").is_file():
            children.append(here)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        own += [here / f for f in sorted(files)]
    return own, children


def _table(path: Path) -> dict | None:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(rows) < 2 or len(rows) > _MAX_TABLE_ROWS + 1 or len(rows[0]) > _MAX_TABLE_COLUMNS:
        return None
    return {"name": path.name, "header": rows[0], "rows": rows[1:]}


def _read_summary(folder: Path) -> dict:
    path = folder / "summary.json"
    if not path.is_file():
        raise InputError(f"{folder}: has no summary.json; expected a neurocine result folder")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: is not valid JSON ({exc}); expected the summary a neurocine job wrote") from None


def _job(folder: Path, page_dir: Path, summary: dict | None = None, anchor: str = "job",
         shown_as: Path | None = None) -> dict:
    summary = _read_summary(folder) if summary is None else summary
    own, children = _files(folder)
    rel = lambda p: Path(os.path.relpath(p, page_dir)).as_posix()  # noqa: E731
    figures = [{"name": p.relative_to(folder).as_posix(),
                "data": "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")}
               for p in own if p.suffix.lower() == ".png"]
    tables = [t for t in (_table(p) for p in own if p.suffix.lower() == ".csv") if t is not None]
    kids = []
    for child in children:
        try:
            job = _read_summary(child).get("job", "")
        except InputError:
            job = "?"
        kids.append({"name": child.relative_to(folder).as_posix(), "href": rel(child / "report.html"), "job": job})
    return {
        "anchor": anchor, "name": (shown_as or folder).name, "folder": str(shown_as or folder),
        "job": summary.get("job", ""),
        "finished": summary.get("finished", ""), "command": summary.get("command", ""),
        "metrics": _flatten(summary.get("metrics", {})), "tables": tables,
        "videos": [rel(p) for p in own if p.suffix.lower() in (".mp4", ".gif")], "figures": figures, "children": kids,
        "parameters": json.dumps(summary.get("parameters", {}), indent=2),
        "timings": [(k, _format(v)) for k, v in summary.get("timings", {}).items()],
        "versions": list(summary.get("versions", {}).items()),
    }


def render_report(folders, page_dir: str | os.PathLike, *, title: str | None = None,
                  summaries: list[dict] | None = None, shown_as: Path | None = None) -> str:
    """The HTML of one page showing the result folders ``folders`` (links relative to ``page_dir``).

    ``summaries`` replace the folders' ``summary.json``; ``shown_as`` is the path
    printed for a single folder (the final path of a folder still being written).
    """
    folders = [Path(f) for f in folders]
    summaries = summaries or [None] * len(folders)
    jobs = [_job(f, Path(page_dir), s, anchor=f"job{i}", shown_as=shown_as if len(folders) == 1 else None)
            for i, (f, s) in enumerate(zip(folders, summaries))]
    if title is None:
        title = f"neurocine {jobs[0]['job']}: {jobs[0]['name']}" if len(jobs) == 1 else "neurocine results"
    return _template().render(title=title, jobs=jobs)


def write_report(folder: str | os.PathLike, *, summary: dict | None = None, title: str | None = None,
                 shown_as: str | os.PathLike | None = None) -> Path:
    """Write ``folder/report.html`` (from ``summary`` or the folder's ``summary.json``)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: is not a folder; expected a neurocine result folder")
    page = folder / "report.html"
    html = render_report([folder], folder, title=title, summaries=[summary],
                         shown_as=Path(shown_as) if shown_as is not None else None)
    with atomic_path(page) as tmp:
        Path(tmp).write_text(html)
    return page


def merge_reports(folders, out: str | os.PathLike, *, title: str | None = None) -> Path:
    """One page ``out`` (an ``.html`` file) showing several result folders, one section each."""
    folders = [Path(f) for f in folders]
    if not folders:
        raise InputError("folders: none given; expected at least one result folder")
    out = Path(out)
    if out.suffix.lower() not in (".html", ".htm"):
        raise InputError(f"--out {out}: expected an .html file path")
    for f in folders:
        if not f.is_dir():
            raise InputError(f"{f}: is not a folder; expected a neurocine result folder")
    html = render_report(folders, out.parent, title=title or "neurocine results")
    with atomic_path(out) as tmp:
        Path(tmp).write_text(html)
    return out


class JobFolder(ResultFolder):
    """A :class:`~neurocine.io.results.ResultFolder` that also writes ``report.html`` before it is published."""

    def finalize(self, summary: dict) -> None:
        assert self.tmp is not None
        write_report(self.tmp, summary=summary, shown_as=self.out)
