"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a whole module (module-scoped fits included), restored afterwards.

    Two threads on two busy shared cores are many times slower than one. A module asks for it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def bars(monkeypatch, capsys):
    """``bars(on, fn)``: run ``fn()`` with progress bars forced on (``NEUROCINE_PROGRESS=1``) or off; its stderr.

    Returns ``(result of fn, stderr text with the bars' carriage returns as newlines)``.
    """

    from neurocine import runtime

    monkeypatch.setattr(runtime, "_QUIET", False)  # an earlier in-process CLI call may have left --quiet set

    def run(on: bool, fn):
        monkeypatch.setenv("NEUROCINE_PROGRESS", "1" if on else "0")
        capsys.readouterr()
        result = fn()
        return result, capsys.readouterr().err.replace("\r", "\n")

    return run
