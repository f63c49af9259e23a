"""The README's quick starts run as written, and the README keeps its set-up commands and stays short.

Every ```python block of ``README.md`` is executed in a fresh namespace, in an empty temporary folder, with
matplotlib on its Agg backend and torch on one thread (two threads on two busy shared cores are many times
slower). A block that raises fails its test with the block's own traceback.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# the commands CI and users rely on (`.ci/run` runs exactly the README's test command)
SETUP_COMMANDS = (
    "pip install -e . && neurocine demo --quick --out demo-out",
    'pip install -e ".[test]" && python -m pytest -q -n 2',
)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every fenced ```python block of a Markdown text; ``line`` is the fence's line (1-based)."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in FENCE.finditer(text)]


def test_python_blocks_finds_each_block_and_its_line():
    text = "# t\n\n```python\nx = 1\n```\n\n```bash\nls\n```\n```python\ny = 2\nz = 3\n```\n"
    assert python_blocks(text) == [(3, "x = 1\n"), (10, "y = 2\nz = 3\n")]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


def test_readme_is_short_and_keeps_its_commands():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) < 200
    for command in SETUP_COMMANDS:
        assert command in text
    assert len(BLOCKS) >= 6  # a quick start per study


def test_readme_and_docs_link_nothing_users_do_not_have():
    """``../shared`` (the project's private data and reading list) is not part of a user's checkout."""
    pages = [README, *sorted((README.parent / "docs").rglob("*.md"))]
    found = [p.name for p in pages if "../shared" in p.read_text(encoding="utf-8")]
    assert not found


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line{line}" for line, _ in BLOCKS])
def test_quick_start_runs_as_written(line, code, tmp_path, monkeypatch, one_thread):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    compiled = compile(code, f"README.md (block at line {line})", "exec")
    exec(compiled, {"__name__": "__main__"})
