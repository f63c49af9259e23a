"""``CITATION.cff``: valid Citation File Format 1.2.0 with the package's version and the papers it cites."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml

import neurocine

ROOT = Path(__file__).resolve().parents[1]


def citation() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def test_required_keys_and_the_package_version():
    cff = citation()
    for key in ("cff-version", "message", "title", "authors", "version", "license", "abstract", "keywords"):
        assert cff.get(key), key
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "MIT"
    assert cff["authors"] == [{"name": "The neurocine developers"}]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert isinstance(cff["version"], str) and cff["version"] == project["version"]
    if neurocine.__version__ != "0+unknown":  # an installed package: its metadata says the same
        assert cff["version"] == neurocine.__version__


def test_references_name_their_authors_year_and_where_to_find_them():
    refs = citation()["references"]
    assert len(refs) >= 8
    for ref in refs:
        assert ref["type"] in {"article", "report", "software"}, ref["title"]
        assert ref["title"] and isinstance(ref["year"], int) and 2010 <= ref["year"] <= 2030, ref["title"]
        assert ref["authors"] and all("family-names" in a or "name" in a for a in ref["authors"]), ref["title"]
        if "doi" in ref:
            assert re.fullmatch(r"10\.\d{4,9}/\S+", str(ref["doi"])), ref["doi"]
    cited = {(ref["authors"][0].get("family-names"), ref["year"]) for ref in refs}
    # the papers the studies are built on, as the docstrings cite them
    for paper in [("Mackevicius", 2019), ("McCarthy", 2019), ("Bauer", 2025), ("Wen", 2018), ("Horikawa", 2017)]:
        assert paper in cited, paper
