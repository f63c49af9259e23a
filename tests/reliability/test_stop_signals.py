"""SIGTERM, SIGHUP (and every other stop signal) end a job cleanly, as Ctrl-C does.

The command runs in a subprocess and gets the signal part way through: no temporary folder is left,
an earlier result at ``--out`` is untouched, the checkpoints stay for the rerun, one line says
"interrupted by SIG...; rerun to resume", and the exit status is 128 + the signal number.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurocine.errors import Interrupted
from neurocine.io.results import ResultFolder, checkpoint_folder
from neurocine.runtime import signals_deferred, stop_on_signals


def _start(args, cwd: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "neurocine.cli", "-q", *map(str, args)],
        cwd=cwd,
        env={**os.environ, "NEUROCINE_PROGRESS": "0"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(proc: subprocess.Popen, ready) -> None:
    deadline = time.monotonic() + 300
    while not ready() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert proc.poll() is None, "the job finished before the signal; give it more work"
    assert ready()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_mid_job_removes_the_temporary_folder(tmp_path, signum):
    movie = np.random.default_rng(0).integers(1000, 4000, (1000, 96, 96), dtype=np.uint16)
    np.save(tmp_path / "movie.npy", movie)
    (tmp_path / "dff").mkdir()
    (tmp_path / "dff" / "earlier.txt").write_text("an earlier result")
    proc = _start(["imaging", "dff", "movie.npy", "--out", "dff"], tmp_path)
    _wait_for(proc, lambda: any(tmp_path.glob(".dff.tmp-*/dff.npy")))  # mid-job: it writes dF/F
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert (
        err.strip() == f"interrupted by {name}; --out dff was not written (an earlier result there is left as it was)"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dff", "movie.npy"]
    assert [p.name for p in (tmp_path / "dff").iterdir()] == ["earlier.txt"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_stop_signal_mid_job_with_checkpoints_says_rerun_to_resume(tmp_path, signum):
    from neurocine.io.signals import write_signal_npz

    write_signal_npz(tmp_path / "x", np.random.default_rng(0).gamma(1.0, 1.0, (600, 6)), sampling_rate=100.0)
    args = ["motifs", "select", "x.npz", "--out", "sel", "-k", "1-20", "-d", "5", "--device", "cpu"]
    proc = _start(args, tmp_path)
    checkpoint = checkpoint_folder(tmp_path / "sel") / "checkpoint.pt"
    _wait_for(proc, checkpoint.exists)
    assert any(p.name.startswith(".sel.tmp-") for p in tmp_path.iterdir())  # mid-job: its temporary folder exists
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    name = signal.Signals(signum).name
    assert err.strip() == (
        f"interrupted by {name}; rerun to resume (checkpoints in .sel.checkpoints); --out sel was not written"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [".sel.checkpoints", "x.npz"]
    assert checkpoint.exists()  # kept for the rerun


def test_interrupted_names_the_folder_and_whether_it_resumes(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(Interrupted) as info:
        with ResultFolder(out):
            raise Interrupted(signal.SIGTERM)
    assert info.value.out == out and info.value.resumable is False and not any(tmp_path.iterdir())
    (checkpoint_folder(out)).mkdir()
    (checkpoint_folder(out) / "checkpoint.pt").write_bytes(b"x")
    with pytest.raises(Interrupted) as info:
        with ResultFolder(out):
            raise Interrupted(signal.SIGHUP)
    assert info.value.resumable is True and info.value.signal_name == "SIGHUP"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".run.checkpoints"]


def test_a_signal_during_a_deferred_step_is_raised_after_it():
    steps = []
    with pytest.raises(Interrupted):
        with stop_on_signals():
            with signals_deferred():
                os.kill(os.getpid(), signal.SIGUSR1)
                steps.append("finished")
    assert steps == ["finished"]
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # the handler is gone afterwards
