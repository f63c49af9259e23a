"""The API reference (docs/api/index.rst) lists every public name, so it cannot silently go stale.

The page is read as text (no Sphinx build): each ``.. automodule::`` / ``.. currentmodule::`` opens the
section of a module, and each entry of an ``.. autosummary::`` table documents a name in it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import pytest

import neurocine

API_PAGE = Path(__file__).resolve().parents[1] / "docs" / "api" / "index.rst"

# modules directly under neurocine that the reference leaves out, each with its reason
NOT_IN_REFERENCE = {
    "neurocine.cli": "the command line has its own page, docs/cli.md, generated from the typer app",
    "neurocine.demo": "its one job is nc.jobs.demo, documented under neurocine.jobs",
    "neurocine.validation": "argument checks the packages share; the public ones are re-exported where used",
    "neurocine.arrays": "an array helper of the shared layers, not called by users",
    "neurocine.__main__": "the python -m neurocine entry point",
}
# packages whose modules are their interface: their sections list the modules one by one
MODULE_SECTIONS = ("neurocine.io", "neurocine.plotting", "neurocine.report")


def documented_entries(text: str) -> dict[str, list[str]]:
    """``{module of the section: [full names of its autosummary entries]}`` from the page's text."""
    sections: dict[str, list[str]] = {}
    module = "neurocine"
    in_table = False
    for line in text.splitlines():
        directive = re.match(r"\.\. (automodule|currentmodule):: (\S+)", line)
        if directive:
            module = directive.group(2)
            sections.setdefault(module, [])
            in_table = False
        elif line.startswith(".. autosummary::"):
            in_table = True
        elif in_table and line.startswith("   ") and not line.strip().startswith(":"):
            name = line.strip().lstrip("~")
            full = f"{module}.{name}"
            sections.setdefault(module, []).append(full)
        elif in_table and line and not line.startswith(" "):
            in_table = False
    return sections


def public_names(module_name: str) -> list[str]:
    """What a module or package exports: its ``__all__``, else the public classes and functions it holds.

    A package without ``__all__`` exports what its ``__init__`` imports from neurocine; a module
    exports what it defines.
    """
    module = importlib.import_module(module_name)
    if hasattr(module, "__all__"):
        return [n for n in module.__all__ if not inspect.ismodule(getattr(module, n))]
    is_package = hasattr(module, "__path__")
    names = []
    for name, value in vars(module).items():
        if name.startswith("_") or not (inspect.isclass(value) or inspect.isfunction(value)):
            continue
        owner = getattr(value, "__module__", "")
        if owner == module_name or (is_package and owner.startswith("neurocine.")):
            names.append(name)
    return names


def home(module_name: str, name: str) -> str:
    """Where the object a module exports as ``name`` is defined (``"pkg.module.Name"``), without loading it.

    Lazy exports are read from the package's ``_EXPORTS`` table, so no torch model is imported to check
    the page.
    """
    module = importlib.import_module(module_name)
    exports = getattr(module, "_EXPORTS", {})
    if name in exports:
        owner, _, attribute = exports[name].partition(":")
        return home(owner, attribute or name) if owner != module_name else f"{owner}.{attribute or name}"
    value = vars(module).get(name)
    if inspect.isclass(value) or inspect.isfunction(value):
        return f"{value.__module__}.{value.__qualname__}"
    return f"{module_name}.{name}"


def test_page_parses_into_sections():
    sections = documented_entries(API_PAGE.read_text(encoding="utf-8"))
    assert "neurocine.motifs" in sections and "neurocine.motifs.ConvNMF" in sections["neurocine.motifs"]
    assert "neurocine.io.video" in sections and "neurocine.io.video.VideoReader" in sections["neurocine.io.video"]
    # the top-level table names the objects by their package paths
    assert "neurocine.motifs.ConvNMF" in sections["neurocine"]


def test_every_package_and_top_level_module_has_a_section():
    sections = documented_entries(API_PAGE.read_text(encoding="utf-8"))
    missing = []
    for info in pkgutil.walk_packages(neurocine.__path__, "neurocine."):
        parts = info.name.split(".")
        if any(p.startswith("_") for p in parts[1:]) and info.name not in NOT_IN_REFERENCE:
            continue
        top_level_module = len(parts) == 2 and not info.ispkg
        if (info.ispkg or top_level_module) and info.name not in NOT_IN_REFERENCE and info.name not in sections:
            missing.append(info.name)
    assert not missing, f"docs/api/index.rst has no section for {missing}"


def missing_names(sections: dict[str, list[str]]) -> list[str]:
    """Public names of the documented modules that their sections do not list (by name or by where it is defined)."""
    missing = []
    for module_name, entries in sections.items():
        if module_name == "neurocine":
            names = [n for n in neurocine.__all__ if n != "__version__" and n not in neurocine._SUBPACKAGES]
            in_section = entries
        else:
            names = public_names(module_name)
            # a package's section includes the sections of its modules (neurocine.io -> neurocine.io.video)
            in_section = [
                e for m, es in sections.items() if m == module_name or m.startswith(module_name + ".") for e in es
            ]
        homes = {home(*entry.rsplit(".", 1)) for entry in in_section}
        for name in names:
            if f"{module_name}.{name}" not in in_section and home(module_name, name) not in homes:
                missing.append(f"{module_name}.{name}")
    return missing


def test_every_public_name_is_in_the_reference():
    missing = missing_names(documented_entries(API_PAGE.read_text(encoding="utf-8")))
    assert not missing, f"public names missing from docs/api/index.rst: {missing}"


@pytest.mark.parametrize("package", MODULE_SECTIONS)
def test_module_sections_cover_every_public_module(package):
    sections = documented_entries(API_PAGE.read_text(encoding="utf-8"))
    modules = [
        info.name
        for info in pkgutil.iter_modules(importlib.import_module(package).__path__, package + ".")
        if not info.name.rpartition(".")[2].startswith("_")
    ]
    assert modules, f"no public modules found in {package}"
    missing = [m for m in modules if m not in sections]
    assert not missing, f"docs/api/index.rst has no section for the modules {missing}"


def test_check_fails_on_a_missing_name():
    """Dropping a name from its package's table is caught, even though the top-level table still lists it."""
    text = API_PAGE.read_text(encoding="utf-8")
    assert text.count("\n   ConvNMF\n") == 1
    sections = documented_entries(text.replace("\n   ConvNMF\n", "\n", 1))
    assert missing_names(sections) == ["neurocine.motifs.ConvNMF"]
