"""Same seed, same numbers: two runs of the quick demo give identical metrics in every job's summary.json.

The demo runs the capabilities into sub-folders, each with its own ``summary.json``
(Conv-NMF fit and K selection, screen-use logs, video motion, V1 simulation and
reconstruction; encoding and fMRI have their own same-seed tests, and are left out
here to keep the suite short). Every metric must match exactly between the runs, on
CPU; only wall-clock quantities (seconds, frames per second) may differ.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

_CLOCK_WORDS = ("seconds", "per_second", "elapsed")


def _metrics(folder: Path) -> dict[str, object]:
    """Flat {job/key.path: value} of every summary.json under ``folder``, wall-clock keys dropped."""
    flat: dict[str, object] = {}

    def walk(prefix: str, value) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                if not any(w in str(k) for w in _CLOCK_WORDS):
                    walk(f"{prefix}.{k}", v)
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            for i, v in enumerate(value):
                walk(f"{prefix}[{i}]", v)
        else:
            flat[prefix] = value

    for path in sorted(folder.rglob("summary.json")):
        walk(path.parent.relative_to(folder).as_posix(), json.loads(path.read_text()).get("metrics", {}))
    return flat


@pytest.mark.slow
def test_quick_demo_twice_gives_identical_metrics(tmp_path):
    env = {**os.environ, "NEUROCINE_PROGRESS": "0"}
    for name in ("a", "b"):
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "neurocine.cli",
                "demo",
                "--quick",
                "--out",
                name,
                "--only",
                "conv_nmf,screenome,k_selection,video,v1",
            ],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        assert proc.returncode == 0, proc.stderr
    a, b = _metrics(tmp_path / "a"), _metrics(tmp_path / "b")
    sections = {k.split(".")[2] for k in a if k.startswith("..")}  # the demo's own summary: "." + ".section"
    assert sections == {"conv_nmf", "screenome", "k_selection", "video", "v1"}
    assert a.keys() == b.keys()
    different = {k: (a[k], b[k]) for k in a if a[k] != b[k]}
    assert not different
