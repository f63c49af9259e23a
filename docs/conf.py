"""Sphinx configuration of the neurocine documentation (built with ``sphinx-build -W docs docs/_build/html``)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import neurocine

project = "neurocine"
author = "The neurocine developers"
copyright = "2026, The neurocine developers"
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
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/**/*.ipynb"]
myst_enable_extensions = ["colon_fence", "dollarmath"]
myst_heading_anchors = 3

# API reference: one page per public object, generated from the docstrings
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": False}
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
}

html_theme = "pydata_sphinx_theme"
html_title = "neurocine"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
