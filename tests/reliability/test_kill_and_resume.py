"""A training job killed with SIGKILL leaves no result folder, and the rerun resumes to the same numbers.

``neurocine encode`` with a ``[sequence]`` model writes a checkpoint after every epoch
(``.OUT.checkpoints/``). The job is killed as soon as one exists (no Python cleanup can
run), then started again: it must resume from the checkpoint, clean the killed job's
temporary folder, and finish with exactly the metrics of a run that was never
interrupted (CPU training resumes bit for bit).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def _start(args, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "NEUROCINE_PROGRESS": "0"}
    return subprocess.Popen(
        [sys.executable, "-m", "neurocine.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(args, cwd: Path) -> dict:
    proc = _start(args, cwd)
    out, err = proc.communicate(timeout=900)
    assert proc.returncode == 0, f"{out}\n{err}"
    return json.loads((cwd / args[-1] / "summary.json").read_text())


@pytest.mark.slow
def test_sigkill_then_rerun_resumes_to_the_uninterrupted_result(tmp_path):
    from neurocine.encode.jobs import write_simulated_session

    session = tmp_path / "session"
    write_simulated_session(session, duration_s=60, seed=1, video_size=(60, 80), widefield_size=(16, 16))
    config = session / "seq.toml"
    config.write_text(
        (session / "encode.toml").read_text()
        + "\n[sequence]\nhidden = [8]\ndense = 0\nmax_epochs = 8\npatience = 8\nsteps_per_epoch = 10\n"
    )

    reference = _finish(["encode", config, "--out", "reference"], tmp_path)

    proc = _start(["encode", config, "--out", "killed"], tmp_path)
    checkpoint = tmp_path / ".killed.checkpoints" / "checkpoint.pt"
    deadline = time.monotonic() + 600
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the job finished before it could be killed; make the training longer"
    assert checkpoint.exists()
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (tmp_path / "killed").exists()
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".killed.tmp-"))
    assert len(leftovers) == 1  # a killed process cannot clean up; the next run does

    resumed = _finish(["encode", config, "--out", "killed"], tmp_path)
    assert not any(p.name.startswith(".killed.") for p in tmp_path.iterdir())  # temp folder and checkpoints gone
    for key in ("sequence_test_ev", "ridge_test_ev", "sequence_epochs"):
        assert resumed["metrics"][key] == reference["metrics"][key], key
    assert resumed["metrics"]["sequence_epochs"] == 8
