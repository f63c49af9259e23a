"""Run-time helpers: devices, seeds, progress bars, and a light ``import neurocine``."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import threading

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.runtime import prefetched, progress, progress_enabled, resolve_device, seed_everything, set_quiet

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def _not_quiet(monkeypatch):
    """Each test starts with quiet off and no NEUROCINE_PROGRESS; quiet is reset afterwards."""
    monkeypatch.delenv("NEUROCINE_PROGRESS", raising=False)
    set_quiet(False)
    yield
    set_quiet(False)


class _Terminal:
    """A stderr stand-in that says it is a terminal."""

    def isatty(self) -> bool:
        return True

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass


# --------------------------------------------------------------------------- #
# devices
# --------------------------------------------------------------------------- #
def test_resolve_device_cpu():
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("device", ["auto", None])
def test_resolve_device_auto_picks_cuda_only_when_present(device):
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device(device).type == expected


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:3"])
def test_resolve_device_cuda_without_gpu_is_input_error(device):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(InputError, match="CUDA is not available") as info:
        resolve_device(device)
    assert f"device: got {device!r}" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("device", ["bogus", "gpu", "cpu:x", ""])
def test_resolve_device_rejects_unknown_names(device):
    with pytest.raises(InputError, match=r"^device: got .*expected 'auto', 'cpu' or 'cuda\[:index\]'$"):
        resolve_device(device)


def test_input_error_is_a_value_error():
    assert issubclass(InputError, ValueError)


# --------------------------------------------------------------------------- #
# seeds
# --------------------------------------------------------------------------- #
def _draws(seed):
    rng = seed_everything(seed)
    return (torch.rand(5).numpy(), np.random.rand(5), random.random(), rng.normal(size=5))


@pytest.mark.parametrize("seed", [0, 7, 2**40])
def test_seed_everything_repeats_every_source(seed):
    first, second = _draws(seed), _draws(seed)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_seed_everything_different_seeds_differ():
    a, b = _draws(1), _draws(2)
    for x, y in zip(a, b):
        assert not np.array_equal(x, y)


def test_seed_everything_generator_matches_default_rng():
    rng = seed_everything(11)
    assert isinstance(rng, np.random.Generator)
    np.testing.assert_array_equal(rng.random(4), np.random.default_rng(11).random(4))


def test_seed_everything_none_gives_a_fresh_generator():
    a, b = seed_everything(None), seed_everything(None)
    assert isinstance(a, np.random.Generator)
    assert not np.array_equal(a.random(8), b.random(8))


@pytest.mark.parametrize("seed", [-1, 1.5, "3", [1]])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises(InputError, match=r"^seed: got .*expected a non-negative integer or None$"):
        seed_everything(seed)


def test_seed_everything_accepts_numpy_integers():
    a = seed_everything(np.int64(5)).random(3)
    np.testing.assert_array_equal(a, seed_everything(5).random(3))


# --------------------------------------------------------------------------- #
# progress bars
# --------------------------------------------------------------------------- #
def _is_plain(it, source) -> bool:
    return type(it) is type(iter(source))


def test_progress_off_with_env_zero(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setenv("NEUROCINE_PROGRESS", "0")
    items = [3, 1, 2]
    it = progress(items, total=3, desc="x")
    assert _is_plain(it, items) and list(it) == items
    assert progress_enabled() is False


def test_progress_off_when_quiet(monkeypatch):
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert progress_enabled() is True  # a terminal, not quiet: bars on
    set_quiet(True)
    assert progress_enabled() is False
    it = progress(range(4))
    assert _is_plain(it, range(4)) and list(it) == [0, 1, 2, 3]


def test_progress_off_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", open(__file__))  # a file: isatty() is False
    try:
        assert progress_enabled() is False
        assert _is_plain(progress("abc"), "abc")
    finally:
        sys.stderr.close()


def test_progress_forced_on_yields_the_same_items(monkeypatch):
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys, "stderr", _Terminal())
    monkeypatch.setenv("NEUROCINE_PROGRESS", "1")
    items = list(range(10))
    it = progress(items, total=10, desc="bar")
    assert not _is_plain(it, items)  # wrapped in a bar
    assert list(it) == items


def test_progress_bar_counts_on_stderr_when_on_and_writes_nothing_when_off(bars):
    from neurocine.runtime import progress_bar

    def count():
        with progress_bar(total=3, desc="stages", unit="step") as bar:
            for name in ("a", "b", "c"):
                bar.set_postfix_str(name)
                bar.update()

    _, err = bars(True, count)
    assert "stages:" in err and "step/s, c]" in err  # the label, the unit and the last stage's name
    _, err = bars(False, count)
    assert err == ""


def test_the_torch_training_loop_shows_its_epochs(bars):
    from neurocine.models.torch_base import train

    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    x, y = torch.ones(4, 2), torch.zeros(4, 1)

    def epoch() -> float:
        loss = ((model(x) - y) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return float(loss)

    def fit():
        return train(
            model,
            optimizer,
            train_epoch=epoch,
            validate=None,
            rng=np.random.default_rng(0),
            max_epochs=3,
            patience=5,
            min_delta=0.0,
            desc="toy epochs",
        )

    result, err = bars(True, fit)
    assert result.n_epochs == 3 and "toy epochs:" in err and "/3 [" in err and "epoch/s" in err
    _, err = bars(False, fit)
    assert err == ""


# --------------------------------------------------------------------------- #
# import cost
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "module",
    ["neurocine", "neurocine.runtime", "neurocine.io.results", "neurocine.jobs", "neurocine.cli", "neurocine.__main__"],
)
def test_import_is_light(module):
    code = (
        f"import json, sys, {module}; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib'})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


def test_set_threads_limits_torch_and_blas_in_a_fresh_process():
    code = (
        "import torch; from threadpoolctl import threadpool_info; from neurocine.runtime import set_threads; "
        "set_threads(1); import json; print(json.dumps([torch.get_num_threads(), "
        "sorted({p['num_threads'] for p in threadpool_info()})]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    torch_threads, pool_threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert torch_threads == 1 and pool_threads == [1]


@pytest.mark.parametrize("bad", [0, -2, True, 1.5])
def test_set_threads_rejects_non_positive_counts(bad):
    from neurocine.runtime import set_threads

    with pytest.raises(InputError, match="--threads"):
        set_threads(bad)


def test_cli_threads_zero_is_one_line_and_exit_2(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "neurocine.cli",
            "--threads",
            "0",
            "motifs",
            "simulate",
            "--out",
            str(tmp_path / "sim.npz"),
        ],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "--threads" in out.stderr
    assert not (tmp_path / "sim.npz").exists()


def test_prefetched_reads_ahead_in_order_and_hands_on_errors_and_stops():
    produced, ready, closed = [], threading.Event(), threading.Event()

    def items():
        try:
            for i in range(6):
                if i == 4:
                    raise InputError("item 4: broken; expected a whole item")
                produced.append(i)
                if i == 1:
                    ready.set()
                yield i * 10
        finally:
            closed.set()

    got = []
    with pytest.raises(InputError, match="item 4"):
        for item in prefetched(items(), depth=1):
            got.append(item)
            if item == 0:  # item 1 is produced while the caller still holds item 0: the producer runs ahead
                assert ready.wait(5.0)
                assert len(produced) <= 3  # item 0, the queued one, and at most the one being made
    assert got == [0, 10, 20, 30]
    # a caller that stops early closes the producer and leaves no thread behind
    closed.clear()
    for _ in prefetched(items(), depth=2):
        break
    assert closed.is_set()
    assert not [t for t in threading.enumerate() if t.name == "neurocine-prefetch"]
