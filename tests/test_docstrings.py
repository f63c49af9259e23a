"""Docstrings, comments and the README say what a thing does: no dates, machine loads or private file names.

Every module under ``src/neurocine`` is parsed: the docstrings of the module and of every class and function
(public, private and nested) and every ``#`` comment are searched, as is ``README.md``. Measurements belong in
``benchmarks/README.md``, the benchmarks page of the docs and ``CHANGELOG.md``; papers are cited by author and
year, not by the file names of the project's private reading list.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "src" / "neurocine").rglob("*.py"))

FORBIDDEN = {
    # a calendar date; a date-time (``2024-01-01T08:00:00``, ``2024-01-01 08:00``) is a data format example
    "date": re.compile(r"\b20\d\d-\d\d-\d\d\b(?![T ]\d\d:)"),
    "machine load": re.compile(
        r"wall on|CPU time|cores shared|min wall|this machine|load average|\d+ (shared|busy) cores", re.IGNORECASE
    ),
    "private reading list": re.compile(r"seed 00\d|shared/seeds", re.IGNORECASE),
}


def texts_of_source(source: str) -> list[tuple[int, str]]:
    """``(line, text)`` of every docstring line and every comment of Python ``source``.

    Parsing is the slow part: a source in which no pattern occurs at all has nothing to report and is skipped.
    """
    if not any(pat.search(source) for pat in FORBIDDEN.values()):
        return []
    out = [(tok.start[0], tok.string) for tok in tokenize.generate_tokens(io.StringIO(source).readline)
           if tok.type == tokenize.COMMENT]  # fmt: skip
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node, clean=False)
            if doc is not None:
                first = node.body[0].lineno
                out += [(first + i, line) for i, line in enumerate(doc.splitlines())]
    return out


def violations(texts: list[tuple[int, str]]) -> list[tuple[int, str, str]]:
    """``(line, kind, text)`` of every text that matches a forbidden pattern."""
    return [(line, kind, text.strip()) for line, text in texts for kind, pat in FORBIDDEN.items() if pat.search(text)]


def test_the_scan_finds_each_pattern_in_docstrings_and_comments_and_nothing_else():
    """The scanner itself: each forbidden phrase is found where it may hide, and data examples are left alone."""
    source = '''"""Module (measured 2026-11-21)."""
STAMP = "2026-11-21 in a string literal is data"
def _private():
    """82 s of CPU time (4.8 min wall on 2 cores shared with other jobs)."""
    x = 1  # measured on this machine
class A:
    """A log line ``2024-01-01T08:00:00,youtube``; or ``2024-01-01 08:00:00.250``."""
    def method(self):
        def nested():
            """See ../shared/seeds/000 (seed 002)."""
'''
    found = violations(texts_of_source(source))
    assert {(line, kind) for line, kind, _ in found} == {
        (1, "date"),
        (4, "machine load"),
        (5, "machine load"),
        (10, "private reading list"),
    }


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.relative_to(ROOT / "src").as_posix())
def test_source_docstrings_and_comments(path):
    found = violations(texts_of_source(path.read_text(encoding="utf-8")))
    assert not found, "\n".join(f"{path.name}:{line}: {kind}: {text}" for line, kind, text in found)


def test_readme():
    lines = list(enumerate((ROOT / "README.md").read_text(encoding="utf-8").splitlines(), 1))
    found = violations(lines)
    assert not found, "\n".join(f"README.md:{line}: {kind}: {text}" for line, kind, text in found)
