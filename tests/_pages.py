"""Read a report page as a reader would: its overview, its figures and their captions, its links, its labels."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

BROWSER_NOTE = "; a High-profile copy is shown so that every browser plays it"


class Page(HTMLParser):
    """The parts of a report page the tests look at.

    Attributes: ``imgs`` (src of every ``<img>``), ``videos``, ``links`` (every ``href``), ``text`` (text pieces),
    ``figures`` (one ``{"img": src or None, "video": src or None, "caption": text}`` per ``<figure>``),
    ``row_labels`` (the text of every ``<th>``), ``overview`` (the text of the ``div.overview``).
    """

    def __init__(self):
        super().__init__()
        self.imgs, self.videos, self.links, self.text = [], [], [], []
        self.figures: list[dict] = []
        self.row_labels: list[str] = []
        self.overview = ""
        self.img_outside_figure: list[str] = []
        self._figure: dict | None = None
        self._caption = False
        self._th: list[str] | None = None
        self._overview_depth = 0
        self._div_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a["src"])
            if self._figure is None:
                self.img_outside_figure.append(a["src"])
            else:
                self._figure["img"] = a["src"]
        elif tag == "video":
            self.videos.append(a["src"])
            if self._figure is not None:
                self._figure["video"] = a["src"]
        elif tag == "a":
            self.links.append(a["href"])
        elif tag == "figure":
            self._figure = {"img": None, "video": None, "caption": ""}
        elif tag == "figcaption":
            self._caption = True
        elif tag == "th" and "name" not in (a.get("class") or "").split():  # a data name, not a label
            self._th = []
        elif tag == "div":
            self._div_depth += 1
            if "overview" in (a.get("class") or "").split() and not self._overview_depth:
                self._overview_depth = self._div_depth

    def handle_endtag(self, tag):
        if tag == "figure" and self._figure is not None:
            self._figure["caption"] = " ".join(self._figure["caption"].split())
            self.figures.append(self._figure)
            self._figure = None
        elif tag == "figcaption":
            self._caption = False
        elif tag == "th" and self._th is not None:
            self.row_labels.append(" ".join("".join(self._th).split()))
            self._th = None
        elif tag == "div":
            if self._overview_depth == self._div_depth:
                self._overview_depth = 0
            self._div_depth -= 1

    def handle_data(self, data):
        self.text.append(data)
        if self._caption and self._figure is not None:
            self._figure["caption"] += data
        if self._th is not None:
            self._th.append(data)
        if self._overview_depth:
            self.overview += data


def parse(path: Path) -> Page:
    page = Page()
    page.feed(Path(path).read_text())
    page.overview = " ".join(page.overview.split())
    return page


def local_targets(path: Path, page: Page | None = None) -> list[str]:
    """Every link and media source of the page that names a local file (not a data URI, anchor or URL)."""
    page = page or parse(path)
    out = []
    for ref in [*page.links, *page.imgs, *page.videos]:
        url = urlparse(ref)
        if url.scheme or ref.startswith("#") or not url.path:
            continue
        out.append(unquote(url.path))
    return out


def check_page(path: Path) -> Page:
    """Assert what every report page must be: each image and video in a figure with a caption that says more
    than the file name, each local link and source an existing file, no raw dotted key as a row label."""
    path = Path(path)
    page = parse(path)
    assert not page.img_outside_figure, f"{path}: images outside a <figure>: {page.img_outside_figure}"
    for fig in page.figures:
        shown = fig["img"] or fig["video"] or ""
        # neither the file's name nor the note on the browser copy is a caption
        words = re.sub(r"\S+\.(png|gif|mp4)\b", "", fig["caption"]).replace(BROWSER_NOTE, "")
        assert len(words.split()) >= 3, f"{path}: figure {shown[:60]!r} has no caption (got {fig['caption']!r})"
    missing = [t for t in local_targets(path, page) if not (path.parent / t).is_file()]
    assert not missing, f"{path}: links to files that do not exist: {missing}"
    dotted = [label for label in page.row_labels if re.fullmatch(r"[a-z0-9_]+(\.[a-z0-9_]+)+", label)]
    assert not dotted, f"{path}: raw dotted keys shown as labels: {dotted}"
    return page
