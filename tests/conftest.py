"""Fixtures shared by several test modules."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def one_cpu_thread_per_test_process():
    """Every test process runs torch and the BLAS/OpenMP pools on one thread; restored at the end.

    ``pytest -n 2`` runs two test processes on two cores: with each library's default (one thread per
    core) their threads outnumber the cores and spin while they wait on each other, which cost 3-10x
    the CPU time of one thread in torch-heavy tests (EfficientNet features: 8.9 s against 0.8 s). Tests
    about threads set the count they test themselves; subprocesses (the CLI tests) keep the
    libraries' defaults, since only this process's pools are capped.
    """
    import numpy  # noqa: F401  (its BLAS is loaded before the limit is applied)
    import scipy.linalg  # noqa: F401
    import sklearn.utils  # noqa: F401  (its OpenMP runtime)
    import torch
    from threadpoolctl import threadpool_limits

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(1):
        yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a whole module (module-scoped fits included), restored afterwards.

    Two threads on two busy shared cores are many times slower than one. A module asks for it with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``. (The session fixture above already does
    this for every module; this one keeps a module on one thread if that default changes.)
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
