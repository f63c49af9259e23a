"""``report.html``: one self-contained page per result folder, from its ``summary.json`` and files.

Every job's folder gets one (see :class:`JobFolder`); ``neurocine report DIR...``
rebuilds them or merges several folders into one page. The page opens with the
job's overview (``summary["overview"]``: what was run, the headline result beside
its reference, the key figure), then shows the job, the exact command, the
metrics as labelled tables (:mod:`neurocine.report.labels`), small CSV tables,
every figure with its caption (``summary["captions"]``) (PNG
embedded as a data URI, so the page stands alone), every ``.mp4`` as a
``<video>`` (every ``.gif`` as an image) next to its file (an mp4 that not every browser plays, such
as lossless H.264, by a High-profile copy written beside it), links to the reports of sub-jobs (sub-folders
with their own ``summary.json``), and the parameters, timings and versions.
One jinja2 template (``templates/report.html.j2``) serves every job.
"""

from __future__ import annotations

import base64
import csv
import itertools
import json
import os
from collections.abc import Sequence
from pathlib import Path

from neurocine.errors import InputError
from neurocine.io._atomic import atomic_path
from neurocine.io.results import ResultFolder
from neurocine.report.labels import format_value, metric_tables, section_title, timing_label

__all__ = ["JobFolder", "merge_reports", "render_report", "write_report"]

_MAX_TABLE_ROWS = 40
_MAX_TABLE_COLUMNS = 12
_BROWSER_COPY = ".browser.mp4"


def _template():
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("neurocine.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    return env.get_template("report.html.j2")


def _is_job(folder: Path) -> bool:
    """Whether ``folder`` holds a job of its own: a ``summary.json`` naming its job (not any JSON of that name,
    such as the simulation record of a V1 mouse folder)."""
    path = folder / "summary.json"
    if not path.is_file():
        return False
    try:
        summary = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return True  # a broken job folder: shown as a part, and its page says what is wrong
    return isinstance(summary, dict) and bool(summary.get("job"))


def _files(folder: Path) -> tuple[list[Path], list[Path]]:
    """Files of this job, and the sub-folders that are jobs of their own (see :func:`_is_job`)."""
    own, children = [], []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        if here != folder and _is_job(here):
            children.append(here)
            dirs[:] = []
            continue
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        own += [here / f for f in sorted(files)]
    return own, children


def _table(path: Path) -> dict | None:
    """The first rows of a small-width CSV (the rest counted, not kept), or None where it is not one."""
    try:
        with open(path, newline="") as fh:
            reader = csv.reader(fh)
            rows = list(itertools.islice(reader, _MAX_TABLE_ROWS + 1))
            more = sum(1 for _ in reader)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if len(rows) < 2 or len(rows[0]) > _MAX_TABLE_COLUMNS:
        return None
    return {"name": path.name, "header": rows[0], "rows": rows[1:], "more": more}


def _read_summary(folder: Path) -> dict:
    path = folder / "summary.json"
    if not path.is_file():
        raise InputError(f"{folder}: has no summary.json; expected a neurocine result folder")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: is not valid JSON ({exc}); expected the summary a neurocine job wrote") from None


def _videos(own: list[Path], rel, make_copies: bool, folder: Path, captions: dict[str, str]) -> list[dict]:
    """Every ``.mp4`` (as a ``<video>``) and ``.gif`` of a job; an mp4 browsers may not play is shown by its copy.

    The copy (``NAME.browser.mp4``, High-profile H.264) is written beside the file when ``make_copies`` and it is
    missing; a file that cannot be copied is shown as it is. ``captions`` (paths relative to ``folder``) say
    what to look at in each.
    """
    from neurocine.io.video import plays_in_browsers, write_browser_copy

    shown = []
    for p in own:
        suffix = p.suffix.lower()
        if suffix == ".gif":
            caption = captions.get(p.relative_to(folder).as_posix(), "")
            shown.append({"src": rel(p), "file": rel(p), "gif": True, "note": "", "caption": caption})
        elif suffix == ".mp4" and not p.name.endswith(_BROWSER_COPY):
            copy = p.with_name(p.stem + _BROWSER_COPY)
            if make_copies and not copy.is_file() and not plays_in_browsers(p):
                try:
                    write_browser_copy(p, copy)
                except InputError:
                    pass
            note = "; a High-profile copy is shown so that every browser plays it" if copy.is_file() else ""
            caption = captions.get(p.relative_to(folder).as_posix(), "")
            shown.append(
                {
                    "src": rel(copy if copy.is_file() else p),
                    "file": rel(p),
                    "gif": False,
                    "note": note,
                    "caption": caption,
                }
            )
    return shown


def _section(path: Path, folder: Path) -> str:
    """The top-level sub-folder of ``folder`` that ``path`` lies in ("" for the folder itself)."""
    parts = path.relative_to(folder).parts
    return parts[0] if len(parts) > 1 else ""


def _captions(folder: Path, summary: dict) -> dict[str, str]:
    """Captions of every file under ``folder`` (paths relative to it): the job's own and those of its sub-jobs."""
    captions = {}
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        if here == folder or "summary.json" not in files:
            continue
        try:
            sub = json.loads((here / "summary.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError, OSError):
            continue
        if isinstance(sub, dict) and isinstance(sub.get("captions"), dict):
            prefix = here.relative_to(folder).as_posix()
            captions.update({f"{prefix}/{name}": str(text) for name, text in sub["captions"].items()})
    captions.update({str(k): str(v) for k, v in (summary.get("captions") or {}).items()})
    return captions


def _job(
    folder: Path,
    page_dir: Path,
    summary: dict | None = None,
    anchor: str = "job",
    shown_as: Path | None = None,
    make_copies: bool = False,
    index: bool = False,
) -> dict:
    """What the template shows of one result folder: its overview, then its sections (top-level sub-folders).

    The overview is the job's ``summary["overview"]`` lines (what was run, the headline result, the key
    figure). A section's metrics are the job's metrics under the section's name (the demo keeps one dict per
    section), shown as labelled tables (:func:`neurocine.report.labels.metric_tables`); every figure carries
    its caption from ``summary["captions"]`` (or its sub-job's). ``index`` makes an index page: figures are
    linked by path instead of embedded, and the figures of sub-jobs are shown under their links.
    """
    summary = _read_summary(folder) if summary is None else summary
    own, children = _files(folder)
    captions = _captions(folder, summary)
    rel = lambda p: Path(os.path.relpath(p, page_dir)).as_posix()  # noqa: E731

    def figure(p: Path) -> dict:
        src = rel(p) if index else "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode("ascii")
        name = p.relative_to(folder).as_posix()
        caption = captions.get(name, "")
        # the overview shows the first sentence of the caption under the key figure
        return {"name": name, "src": src, "caption": caption, "short": caption.split(". ", 1)[0].rstrip(".") + "."}

    overview = []
    for entry in summary.get("overview") or []:
        path = folder / str(entry.get("figure") or "")
        shown = figure(path) if entry.get("figure") and path.is_file() and path.suffix.lower() == ".png" else None
        overview.append(
            {
                "title": section_title(str(entry.get("title", ""))),
                "anchor": f"{anchor}-{entry['title']}" if entry.get("title") else "",
                "ran": str(entry.get("ran", "")),
                "result": str(entry.get("result", "")),
                "figure": shown,
            }
        )

    # section name -> its files, its sub-jobs
    files: dict[str, list[Path]] = {"": []}
    parts: dict[str, list[Path]] = {"": []}
    for p in own:
        files.setdefault(_section(p, folder), []).append(p)
    for c in children:
        parts.setdefault(_section(c, folder), []).append(c)
    metrics = dict(summary.get("metrics", {}))
    first = {name: i for i, name in enumerate(metrics)}  # sections with metrics in their order, then by name
    names = sorted({*files, *parts} - {""}, key=lambda n: (first.get(n, len(first)), n))
    sections = []
    for name in ["", *names]:
        mine = files.get(name, [])
        kids = []
        for child in parts.get(name, []):
            try:
                sub = _read_summary(child)
            except InputError:
                sub = {"job": "?"}
            headline = next((str(e.get("result", "")) for e in sub.get("overview") or [] if e.get("result")), "")
            page = child / "report.html"
            kids.append(
                {
                    "name": child.relative_to(folder).as_posix(),
                    "href": rel(page) if page.is_file() else "",
                    "job": sub.get("job", ""),
                    "headline": headline,
                    "figures": [figure(f) for f in sorted(child.rglob("*.png"))] if index else [],
                }
            )
        own_metrics = metrics.pop(name) if name and isinstance(metrics.get(name), dict) else {}
        sections.append(
            {
                "name": name,
                "title": section_title(name),
                "anchor": f"{anchor}-{name}" if name else anchor,
                "metrics": metric_tables(own_metrics),
                "figures": [figure(p) for p in mine if p.suffix.lower() == ".png"],
                "tables": [t for t in (_table(p) for p in mine if p.suffix.lower() == ".csv") if t],
                "videos": _videos(mine, rel, make_copies, folder, captions),
                "children": kids,
            }
        )
    sections[0]["metrics"] = metric_tables(metrics)  # what no section took
    return {
        "anchor": anchor,
        "name": (shown_as or folder).name,
        "folder": str(shown_as or folder),
        "job": summary.get("job", ""),
        "finished": summary.get("finished", ""),
        "command": summary.get("command", ""),
        "overview": overview,
        "sections": sections,
        "parameters": json.dumps(summary.get("parameters", {}), indent=2),
        "timings": [
            (timing_label(k), format_value("seconds", v, bare=True)) for k, v in summary.get("timings", {}).items()
        ],
        "versions": list(summary.get("versions", {}).items()),
    }


def render_report(
    folders,
    page_dir: str | os.PathLike,
    *,
    title: str | None = None,
    summaries: Sequence[dict | None] | None = None,
    shown_as: Path | None = None,
    make_copies: bool = False,
    index: bool = False,
) -> str:
    """The HTML of one page showing the result folders ``folders`` (links relative to ``page_dir``).

    ``summaries`` replace the folders' ``summary.json``; ``shown_as`` is the path
    printed for a single folder (the final path of a folder still being written);
    ``make_copies`` writes the browser copies of videos that need one into their folders;
    ``index`` links figures instead of embedding them and shows the figures of sub-jobs too (see :func:`_job`).
    """
    folders = [Path(f) for f in folders]
    summaries = summaries or [None] * len(folders)
    jobs = [
        _job(
            f,
            Path(page_dir),
            s,
            anchor=f"job{i}",
            shown_as=shown_as if len(folders) == 1 else None,
            make_copies=make_copies,
            index=index,
        )
        for i, (f, s) in enumerate(zip(folders, summaries))
    ]
    if title is None:
        title = f"neurocine {jobs[0]['job']}: {jobs[0]['name']}" if len(jobs) == 1 else "neurocine results"
    return _template().render(title=title, jobs=jobs)


def write_report(
    folder: str | os.PathLike,
    *,
    summary: dict | None = None,
    title: str | None = None,
    shown_as: str | os.PathLike | None = None,
    index: bool | None = None,
) -> Path:
    """Write ``folder/report.html`` (from ``summary`` or the folder's ``summary.json``).

    With ``index`` also ``folder/index.html``: the same page with figures linked rather than embedded and
    the figures of every sub-job shown under its link (a front page for a folder of many jobs, the demo).
    By default (None) an ``index.html`` already there is rebuilt too.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: is not a folder; expected a neurocine result folder")
    if index is None:
        index = (folder / "index.html").is_file()
    pages = {"report.html": False, **({"index.html": True} if index else {})}
    for name, linked in pages.items():
        html = render_report(
            [folder],
            folder,
            title=title,
            summaries=[summary],
            shown_as=Path(shown_as) if shown_as is not None else None,
            make_copies=True,
            index=linked,
        )
        with atomic_path(folder / name) as tmp:
            Path(tmp).write_text(html)
    return folder / "report.html"


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
    """A :class:`~neurocine.io.results.ResultFolder` that also writes ``report.html`` before it is published.

    ``index=True`` (keyword) also writes ``index.html``, see :func:`write_report`.
    """

    def __init__(self, *args, index: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.index = index

    def finalize(self, summary: dict) -> None:
        assert self.tmp is not None
        write_report(self.tmp, summary=summary, shown_as=self.out, index=self.index)
