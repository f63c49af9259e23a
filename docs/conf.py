"""Sphinx configuration of the neurocine documentation (built with ``sphinx-build -W docs docs/_build/html``)."""

from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path

import click
import typer
from typer.cli import get_docs_for_click

import neurocine
from neurocine.cli import app as cli_app

project = "neurocine"
author = "The neurocine developers"
copyright = "2026, The neurocine developers"  # the name Sphinx reads
version = release = neurocine.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "_generated", "auto_examples/*.ipynb", "auto_examples/**/*.ipynb"]
templates_path = ["_templates"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# API reference: one page per public object, generated from the docstrings
autosummary_generate = True
autosummary_imported_members = False
# the templates in _templates/autosummary give each class its members (methods and properties, also those it
# inherits from a neurocine base class); _skip_foreign_member leaves out what comes from scikit-learn or torch
autodoc_default_options = {"show-inheritance": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# the gallery runs every example at build time on CPU; real-recording examples say when their data are
# absent and skip their work (NEUROCINE_REALDATA, default ../shared/realdata next to the repository)
_root = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # gallery_scraper.py
os.environ.setdefault("NEUROCINE_REALDATA", str(_root.parent / "shared" / "realdata"))
os.environ.setdefault("MPLBACKEND", "Agg")
sphinx_gallery_conf = {
    "image_scrapers": ("gallery_scraper.pyplot_free_figures", "matplotlib"),
    "examples_dirs": ["../examples"],
    "gallery_dirs": ["auto_examples"],
    "filename_pattern": r"/plot_",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "show_memory": False,
    "matplotlib_animations": False,
    "abort_on_example_error": True,
    "min_reported_time": 5,
    # each API page ends with the examples that call its object (backreferences), and the gallery's code
    # links to the API pages
    "doc_module": ("neurocine",),
    "backreferences_dir": "api/generated/backreferences",
    "reference_url": {"neurocine": None},
}

html_theme = "pydata_sphinx_theme"
html_title = "neurocine"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False


def _skip_foreign_member(app, what, name, obj, skip, options):
    """Leave out the methods a class inherits from scikit-learn, torch or the standard library.

    ``get_params``, ``set_output``, ``nn.Module.train`` and the like are documented by their own
    projects; a neurocine class's page lists what neurocine defines.
    """
    func = obj.fget if isinstance(obj, property) else getattr(obj, "__func__", obj)
    if inspect.isroutine(func) or isinstance(obj, property):
        module = getattr(func, "__module__", None) or ""
        if not module.startswith("neurocine"):
            return True
    return None


def _with_full_short_help(command: click.Command) -> None:
    """Give each sub-command its whole first paragraph as the one-line help of the command lists.

    click cuts the listed help at 45 characters; these click objects are built for the page only.
    """
    for sub in getattr(command, "commands", {}).values():
        if not sub.short_help and sub.help:
            sub.short_help = " ".join(sub.help.strip().split("\n\n")[0].split())
        _with_full_short_help(sub)


def _quote_options(line: str) -> str:
    """``--option`` written as code outside backticks, so that it is not typeset with an en dash."""
    parts = line.split("`")
    parts[::2] = [re.sub(r"(?<![\w-])(--[a-z][\w-]*)", r"`\1`", part) for part in parts[::2]]
    return "`".join(parts)


def write_cli_reference(path: Path) -> None:
    """Write the reference of every ``neurocine`` command (typer's Markdown) to ``path``.

    Headings start at level 2, below the title of ``cli.md``, which includes the file. The file is
    rewritten only when the text changed, so an unchanged CLI does not make Sphinx rebuild the page.
    """
    command = typer.main.get_command(cli_app)
    _with_full_short_help(command)
    text = get_docs_for_click(obj=command, ctx=click.Context(command, info_name="neurocine"), name="neurocine")
    lines, in_code = [], False
    for line in text.splitlines():
        in_code ^= line.startswith("```")
        if line.startswith("#"):
            line = "#" + line
        elif not in_code and not line.startswith("```"):
            line = _quote_options(line)
        lines.append(line)
    text = "\n".join(lines) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def setup(app):
    write_cli_reference(Path(__file__).resolve().parent / "_generated" / "cli_commands.md")
    app.connect("autodoc-skip-member", _skip_foreign_member)
