"""Run the ``neurocine`` CLI in the test process (faster than a subprocess)."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path


def cli(*args) -> int:
    """``neurocine -q ARGS``; returns its exit status (typer exits 0 on success, neurocine 2 on bad input)."""
    from neurocine.cli import main

    try:
        main(["-q", *map(str, args)])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


# warnings a plain ``python -m neurocine.cli`` run does not print (Python's default filters)
_HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def run_in_process(*args, cwd: Path, monkeypatch, capfd) -> subprocess.CompletedProcess:
    """``neurocine ARGS`` run by ``neurocine.cli.main`` in this process in ``cwd``, as a subprocess's result.

    stdout and stderr are read at the file descriptors; warnings the run emits that a plain run would
    print are appended to stderr (in a subprocess they would be extra lines there).
    """
    from neurocine.cli import main

    monkeypatch.chdir(cwd)
    monkeypatch.setenv("NEUROCINE_PROGRESS", "0")
    capfd.readouterr()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            main(list(map(str, args)))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out, err = capfd.readouterr()
    err += "".join(
        warnings.formatwarning(w.message, w.category, w.filename, w.lineno)
        for w in caught
        if not issubclass(w.category, _HIDDEN_WARNINGS)
    )
    return subprocess.CompletedProcess(["neurocine", *map(str, args)], code, out, err)
