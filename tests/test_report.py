"""report.html: every figure embedded and decodable, videos and sub-reports linked, rebuild and merge."""

from __future__ import annotations

import base64
import struct
from pathlib import Path

import numpy as np
import pytest
from _cli import cli
from _pages import Page, check_page, local_targets, parse

from neurocine.io.video import VideoReader, plays_in_browsers, write_video
from neurocine.report.html import JobFolder


def _parse(path: Path) -> Page:
    return parse(path)


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
        res.caption("fig.png", "The line falls from 1 to 0: look at its slope.")
        res.headline("R² 0.912 against the truth's 0.950", ran="A line fitted to two points.", figure="fig.png")
        res.path("table.csv").write_text("rate,ridge\n10 Hz,0.3\n30 Hz,0.4\n")
        write_video(res.path("clip.mp4"), CLIP, lossless=True)
        write_video(res.path("movies/plain.mp4"), CLIP)  # High profile already: shown as it is
        res.caption("clip.mp4", "A gradient moving right, lossless.")
        res.caption("movies/plain.mp4", "The same gradient, lossy.")
        res.path("movies/long.csv").write_text("i\n" + "".join(f"{i}\n" for i in range(100)))
        res.metrics["movies"] = {"n": 2}  # a section's own numbers are shown with it
        with JobFolder(res.path("part"), {}, job="child") as child:
            child.metrics["x"] = 1
    return out


def test_report_embeds_figures_links_video_and_parts(job):
    page = _parse(job / "report.html")
    # the figure, shown first as the key figure of the overview
    assert (
        len(page.imgs) == 2 and page.imgs[0] == page.imgs[1] and _png_size(page.imgs[0]) == (200, 150)
    )  # 4x3 in, 50 dpi
    # the lossless clip (High 4:4:4 Predictive, which Firefox and Safari do not play) is shown by a High-profile
    # copy beside it, and the caption links the original; the plain High-profile mp4 is shown as it is
    assert page.videos == ["clip.browser.mp4", "movies/plain.mp4"]
    assert not plays_in_browsers(job / "clip.mp4") and plays_in_browsers(job / "clip.browser.mp4")
    assert not (job / "movies" / "plain.browser.mp4").exists()
    with VideoReader(job / "clip.browser.mp4") as copy:
        assert copy.fps == 30 and np.abs(copy.read().astype(float) - CLIP).mean() < 2.0  # crf 18: close
    assert page.links == ["#job0", "#job0-movies", "clip.mp4", "part/report.html", "movies/plain.mp4"]
    assert (job / "part" / "report.html").is_file()
    text = " ".join(page.text)
    for needle in ("R² of the fit", "0.912", "explained variance", "10 Hz", "0.4", "example", '"alpha": 2'):
        assert needle in text, needle
    # sections: the movies sub-folder gets its heading, its metrics, and its long table cut at 40 rows
    html = (job / "report.html").read_text()
    movies = html[html.index('<div id="job0-movies">') :]
    assert "<h2>movies <code>movies/</code></h2>" in movies
    assert "<th>n</th>" in movies and "<th>n</th>" not in html[: html.index(movies)]
    assert movies.count("<tr><td") == 40 and "and 60 more rows in <code>long.csv</code>" in movies
    html = (job / "report.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;" in html  # metric text is escaped


def test_report_opens_with_the_overview_and_captions_every_figure(job):
    """The headline (from summary.json) and its key figure come first; every figure has its caption; labels."""
    import json

    summary = json.loads((job / "summary.json").read_text())
    assert summary["overview"] == [
        {
            "title": "",
            "ran": "A line fitted to two points.",
            "result": "R² 0.912 against the truth's 0.950",
            "figure": "fig.png",
        }
    ]
    assert summary["captions"]["fig.png"] == "The line falls from 1 to 0: look at its slope."
    for name in ("report.html", "part/report.html"):
        page = check_page(job / name)
    page = check_page(job / "report.html")
    assert "A line fitted to two points. R² 0.912 against the truth's 0.950" in page.overview
    html = (job / "report.html").read_text()
    assert html.index('class="overview"') < html.index("R² of the fit")  # the overview before the tables
    # the key figure in the overview, then again with its full caption under the section's figures
    key, *rest = page.figures
    assert [f["img"] for f in rest if f["img"]] == [key["img"]] and key[
        "caption"
    ] == "The line falls from 1 to 0: look at its slope."
    assert "The line falls from 1 to 0: look at its slope. fig.png" in [f["caption"] for f in rest]
    assert "R² of the fit" in page.row_labels and "nested" in page.row_labels


@pytest.mark.slow
def test_demo_page_opens_with_headlines_from_its_summary(tmp_path):
    """The demo's video study (a few seconds): the overview states its result from summary.json, with the key
    figure; the simulated video's motion SVD masks are the key figure; every page passes the reader's checks."""
    import json

    from neurocine.demo import run_demo

    out = tmp_path / "demo"
    run_demo(out, quick=True, only=["video"])
    video = json.loads((out / "summary.json").read_text())["metrics"]["video"]
    check_page(out / "video/motion/report.html")
    for name in ("index.html", "report.html"):
        page = check_page(out / name)
        assert f"largest error {video['max_abs_error_vs_truth']:.2g} grey levels" in page.overview, name
    index = parse(out / "index.html")
    assert index.figures[0]["img"] == "video/motion/svd_masks.png" and "motion SVD" in index.figures[0]["caption"]
    assert "Motion energy and motion SVD of a simulated video" in index.overview


def test_check_page_finds_what_a_reader_would_miss(job):
    """The page checks fail on a broken link, a figure without a caption and a raw dotted key."""
    html = (job / "report.html").read_text()
    for broken, message in (
        ('<a href="meta/simulation/report.html"></a>', "do not exist"),
        ('<figure><img src="x.png"><figcaption>x.png</figcaption></figure>', "has no caption"),
        ("<table><tr><th>seed_k4.n_spikes</th></tr></table>", "raw dotted keys"),
    ):
        (job / "bad.html").write_text(html.replace("</body>", broken + "</body>"))
        with pytest.raises(AssertionError, match=message):
            check_page(job / "bad.html")


def test_a_folder_with_a_summary_json_but_no_job_is_not_a_part(tmp_path):
    """A data folder holding a summary.json of its own (the V1 simulation record) is not linked as a sub-job."""
    out = tmp_path / "front"
    with JobFolder(out, {}, job="front", index=True) as res:
        res.write_json("mouse/meta/simulation/summary.json", {"n_neurons": 10})
        with JobFolder(res.path("part"), {}, job="child") as child:
            child.metrics["x"] = 1
    for name in ("index.html", "report.html"):
        page = check_page(out / name)
        assert "part/report.html" in page.links and not any("simulation" in t for t in local_targets(out / name))


def test_labels_read_as_words_for_both_names_of_the_reference_solver():
    from neurocine.report.labels import format_value, label_of, metric_tables, timing_label

    assert label_of("seed_k4.n_spikes") == label_of("reference_k4.n_spikes") == "reference solver, K = 4: spikes found"
    assert label_of("default_k4.template_similarity").startswith("neurocine solver, K = 4: template similarity")
    assert format_value("seconds", 3.14159) == "3.1 s" and format_value("best_layer_accuracy", 0.9) == "90.0%"
    assert format_value("planted_ranked_first", True) == "yes" and format_value("r2", None) == "–"
    assert timing_label("conv_nmf_seconds") == "Motifs in simulated neural data (Conv-NMF)"
    assert timing_label("fit_seconds") == "fit" and timing_label("total_seconds") == "total"
    tables = metric_tables(
        {
            "oracle_r2": 0.877,
            "seed_k4": {"n_spikes": 18, "r2": 0.75},
            "default_k4": {"n_spikes": 31, "r2": 0.871, "seconds": 2.0},
            "unique": {"whisker_me": 0.05, "pupil": 0.09},
            "single": {"whisker_me": 0.01, "pupil": 0.14},
        }
    )
    assert tables[0]["rows"] == [["R² of the true model", "0.877"]]
    assert tables[1]["header"] == ["", "spikes found", "R² of the fit", "wall time (s)"]
    assert tables[1]["rows"] == [
        ["reference solver, K = 4", "18", "0.750", "–"],
        ["neurocine solver, K = 4", "31", "0.871", "2.0"],
    ]
    assert tables[2]["header"][1:] == [
        "unique explained variance (drop one group)",
        "explained variance of the group alone",
    ]
    assert tables[2]["rows"] == [["whisker_me", "0.050", "0.010"], ["pupil", "0.090", "0.140"]]


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
    assert len(page.imgs) == 2 and page.videos == ["../job/clip.browser.mp4", "../job/movies/plain.mp4"]
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


def test_a_list_of_records_is_a_table_with_one_row_per_item():
    from neurocine.report.labels import metric_tables

    quality = [
        {"unit": 0, "n_spikes": 120, "isi_violation_ratio": 0.0},
        {"unit": 3, "n_spikes": 45, "isi_violation_ratio": 0.28},
    ]
    tables = metric_tables({"n_units": 2, "quality": quality})
    assert tables[0]["rows"][0][1] == "2"  # the scalar stays in the first table
    table = tables[-1]
    assert table["names"] and len(table["header"]) == 3
    assert [row[0] for row in table["rows"]] == ["unit 0", "unit 3"]
    assert [row[1] for row in table["rows"]] == ["120", "45"]
    assert not any("values]" in cell for row in tables[0]["rows"] for cell in row)  # not "[2 values]"
