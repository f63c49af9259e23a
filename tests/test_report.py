"""report.html: every figure embedded and decodable, videos and sub-reports linked, rebuild and merge."""

from __future__ import annotations

import base64
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from _cli import cli

from neurocine.io.video import VideoReader, plays_in_browsers, write_video
from neurocine.report.html import JobFolder


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.imgs, self.videos, self.links, self.cells, self.text = [], [], [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
        elif tag == "video":
            self.videos.append(a["src"])
        elif tag == "a":
            self.links.append(a["href"])

    def handle_data(self, data):
        self.text.append(data)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text())
    return page


def _png_size(data_uri: str) -> tuple[int, int]:
    assert data_uri.startswith("data:image/png;base64,")
    raw = base64.b64decode(data_uri.split(",", 1)[1])
    assert raw[:8] == b"\x89PNG\r\n\x1a\n" and raw[12:16] == b"IHDR"
    return struct.unpack(">II", raw[16:24])


# a moving gradient: 8 frames, 32 x 32 gray
CLIP = ((np.arange(32)[None, None, :] * 6 + np.arange(8)[:, None, None] * 10) % 256 * np.ones((1, 32, 1))).astype(
    np.uint8
)


@pytest.fixture()
def job(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = tmp_path / "job"
    with JobFolder(out, {"alpha": 2}, job="example") as res:
        res.metrics.update({"r2": 0.91234, "nested": {"ev": 0.5}, "note": "<script>alert(1)</script>"})
        fig, ax = plt.subplots(figsize=(4, 3))
        ax.plot([0, 1], [1, 0])
        fig.savefig(res.path("fig.png"), dpi=50)
        plt.close(fig)
        res.path("table.csv").write_text("rate,ridge\n10 Hz,0.3\n30 Hz,0.4\n")
        write_video(res.path("clip.mp4"), CLIP, lossless=True)
        write_video(res.path("movies/plain.mp4"), CLIP)  # High profile already: shown as it is
        res.path("movies/long.csv").write_text("i\n" + "".join(f"{i}\n" for i in range(100)))
        res.metrics["movies"] = {"n": 2}  # a section's own numbers are shown with it
        with JobFolder(res.path("part"), {}, job="child") as child:
            child.metrics["x"] = 1
    return out


def test_report_embeds_figures_links_video_and_parts(job):
    page = _parse(job / "report.html")
    assert len(page.imgs) == 1 and _png_size(page.imgs[0]) == (200, 150)  # 4 x 3 in at 50 dpi
    # the lossless clip (High 4:4:4 Predictive, which Firefox and Safari do not play) is shown by a High-profile
    # copy beside it, and the caption links the original; the plain High-profile mp4 is shown as it is
    assert page.videos == ["clip.browser.mp4", "movies/plain.mp4"]
    assert not plays_in_browsers(job / "clip.mp4") and plays_in_browsers(job / "clip.browser.mp4")
    assert not (job / "movies" / "plain.browser.mp4").exists()
    with VideoReader(job / "clip.browser.mp4") as copy:
        assert copy.fps == 30 and np.abs(copy.read().astype(float) - CLIP).mean() < 2.0  # crf 18: close
    assert page.links == ["#job0-movies", "clip.mp4", "part/report.html", "movies/plain.mp4"]
    assert (job / "part" / "report.html").is_file()
    text = " ".join(page.text)
    for needle in ("r2", "0.9123", "nested.ev", "10 Hz", "0.4", "example", '"alpha": 2'):
        assert needle in text, needle
    # sections: the movies sub-folder gets its heading, its metrics, and its long table cut at 40 rows
    html = (job / "report.html").read_text()
    movies = html[html.index('<div id="job0-movies">') :]
    assert "<h2>movies</h2>" in movies and "<th>n</th>" in movies and "<th>n</th>" not in html[: html.index(movies)]
    assert movies.count("<tr><td") == 40 and "and 60 more rows in <code>long.csv</code>" in movies
    html = (job / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html  # metric text is escaped


def test_index_page_links_figures_and_shows_those_of_parts(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = tmp_path / "front"
    with JobFolder(out, {}, job="front", index=True) as res:
        for name in ("top.png", "section/own.png"):
            fig, ax = plt.subplots(figsize=(2, 2))
            fig.savefig(res.path(name), dpi=20)
            plt.close(fig)
        with JobFolder(res.path("section/part"), {}, job="child") as child:
            fig, ax = plt.subplots(figsize=(3, 2))
            fig.savefig(child.path("deep/child.png"), dpi=20)
            plt.close(fig)
    index, report = _parse(out / "index.html"), _parse(out / "report.html")
    assert index.imgs == ["top.png", "section/own.png", "section/part/deep/child.png"]  # linked, parts' included
    assert all((out / src).is_file() for src in index.imgs)
    assert len(report.imgs) == 2 and all(src.startswith("data:image/png") for src in report.imgs)
    # a rebuild with `neurocine report` rebuilds the index page that is there
    (out / "index.html").write_text("stale")
    assert cli("report", out) == 0
    assert _parse(out / "index.html").imgs == index.imgs


def test_report_command_rebuilds_and_merges(job, tmp_path, capsys):
    first = (job / "report.html").read_text()
    (job / "report.html").unlink()
    assert cli("report", job) == 0
    rebuilt = (job / "report.html").read_text()
    assert rebuilt == first  # the same summary and files give the same page
    merged = tmp_path / "pages" / "all.html"
    assert cli("report", job, job / "part", "--out", merged) == 0
    page = _parse(merged)
    assert len(page.imgs) == 1 and page.videos == ["../job/clip.browser.mp4", "../job/movies/plain.mp4"]
    assert (merged.parent / page.videos[0]).resolve() == (job / "clip.browser.mp4").resolve()
    assert "neurocine results" in " ".join(page.text)


@pytest.mark.parametrize(
    "args, message",
    [
        (["{tmp}"], "has no summary.json"),
        (["{job}", "--out", "{tmp}/page.txt"], "expected an .html file path"),
        (["{tmp}/missing", "--out", "{tmp}/p.html"], "is not a folder"),
    ],
)
def test_report_bad_input(job, tmp_path, capsys, args, message):
    empty = tmp_path / "empty"
    empty.mkdir()
    argv = [a.format(tmp=empty, job=job) for a in args]
    assert cli("report", *argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_failed_job_leaves_no_report_or_folder(tmp_path):
    with pytest.raises(RuntimeError):
        with JobFolder(tmp_path / "bad", {}, job="x") as res:
            res.metrics["a"] = 1
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
