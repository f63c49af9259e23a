"""Locate the shared real recordings (``NEUROCINE_REALDATA``, default ``../shared/realdata``)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def realdata_file(relative: str) -> Path:
    """A file under the shared real-data folder (``NEUROCINE_REALDATA``, default ``../shared/realdata``);
    skips the test, saying why, when it is absent."""
    root = Path(os.environ.get("NEUROCINE_REALDATA", REPO.parent / "shared" / "realdata"))
    path = root / relative
    if not path.exists():
        pytest.skip(f"real data {path} absent (set NEUROCINE_REALDATA to the shared realdata folder)")
    return path
