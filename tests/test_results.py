"""ResultFolder: atomic result folders, summary.json, and JSON conversion of numpy values."""

from __future__ import annotations

import errno
import json
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.io.results import ResultFolder, package_versions, to_jsonable


def entries(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


class Boom(RuntimeError):
    pass


# --------------------------------------------------------------------------- #
# success
# --------------------------------------------------------------------------- #
def test_success_writes_summary_and_files(tmp_path):
    out = tmp_path / "nested" / "run"  # parent created on demand
    with ResultFolder(out, {"k": np.int64(3), "width": 10, "path": Path("a/b.npz")}, job="unit test") as res:
        assert res.tmp is not None and res.tmp.parent == out.parent and res.tmp.name.startswith(".run.tmp-")
        assert not out.exists()  # nothing at the final path until the block ends
        res.metrics["r2"] = np.float32(0.5)
        res.metrics["curve"] = np.array([1.0, np.nan, 3.0])
        res.extra["input"] = {"shape": (600, 10)}
        with res.timer("step"):
            time.sleep(0.02)
        res.save_arrays("arrays/fit.npz", templates=np.ones((2, 3, 4)), amplitudes=[[0.0, 1.0]])
        res.write_json("extra.json", {"a": np.arange(3)})
        assert res.path("deep/er/file.txt").parent.is_dir()
    assert entries(out.parent) == ["run"]  # no temp sibling left
    assert entries(out) == ["arrays", "deep", "extra.json", "summary.json"]

    s = json.loads((out / "summary.json").read_text())
    assert s["job"] == "unit test"
    assert s["parameters"] == {"k": 3, "width": 10, "path": "a/b.npz"}
    assert s["metrics"]["r2"] == 0.5 and s["metrics"]["curve"] == [1.0, None, 3.0]
    assert s["input"] == {"shape": [600, 10]}
    assert s["command"] == " ".join(shlex.quote(a) for a in sys.argv)
    assert s["versions"]["numpy"] == np.__version__
    assert s["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert 0.02 <= s["timings"]["step"] <= s["timings"]["total_seconds"]
    assert "finished" in s

    with np.load(out / "arrays" / "fit.npz") as f:
        np.testing.assert_array_equal(f["templates"], np.ones((2, 3, 4)))
        np.testing.assert_array_equal(f["amplitudes"], [[0.0, 1.0]])
    assert json.loads((out / "extra.json").read_text()) == {"a": [0, 1, 2]}


def test_save_figure_writes_a_png_and_closes_it(tmp_path):
    plt = pytest.importorskip("matplotlib.pyplot")
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with ResultFolder(tmp_path / "fig", job="figure") as res:
        res.save_figure("plot.png", fig)
    assert (tmp_path / "fig" / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)


def test_summary_json_is_strict_json(tmp_path):
    with ResultFolder(tmp_path / "run") as res:
        res.metrics.update(nan=float("nan"), inf=np.float64(np.inf), arr=np.array([np.inf, -1.0]))
    text = (tmp_path / "run" / "summary.json").read_text()
    s = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert s["metrics"] == {"nan": None, "inf": None, "arr": [None, -1.0]}


# --------------------------------------------------------------------------- #
# failure and overwrite
# --------------------------------------------------------------------------- #
def test_exception_leaves_no_folder_and_no_temp_sibling(tmp_path):
    with pytest.raises(Boom):
        with ResultFolder(tmp_path / "run", {"k": 1}) as res:
            res.save_arrays("a.npz", x=np.zeros(3))
            res.metrics["r2"] = 1.0
            raise Boom("half-way")
    assert entries(tmp_path) == []


def test_exception_keeps_an_earlier_result(tmp_path):
    out = tmp_path / "run"
    with ResultFolder(out, {"version": 1}) as res:
        res.write_json("note.json", {"run": 1})
    before = (out / "summary.json").read_bytes()
    with pytest.raises(Boom):
        with ResultFolder(out, {"version": 2}) as res:
            res.write_json("note.json", {"run": 2})
            raise Boom("bad input found late")
    assert (out / "summary.json").read_bytes() == before
    assert json.loads((out / "note.json").read_text()) == {"run": 1}
    assert entries(tmp_path) == ["run"]


def test_success_replaces_an_existing_folder(tmp_path):
    out = tmp_path / "run"
    with ResultFolder(out, {"version": 1}) as res:
        res.write_json("only_in_first.json", {})
    with ResultFolder(out, {"version": 2}) as res:
        res.write_json("only_in_second.json", {})
    assert entries(out) == ["only_in_second.json", "summary.json"]  # replaced, not merged
    assert json.loads((out / "summary.json").read_text())["parameters"] == {"version": 2}
    assert entries(tmp_path) == ["run"]  # no .run.old-* left


def test_failed_publish_keeps_the_earlier_result(tmp_path, monkeypatch):
    out = tmp_path / "run"
    with ResultFolder(out, {"version": 1}):
        pass
    before = (out / "summary.json").read_bytes()
    from neurocine.io import results

    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append((src, dst))
        if Path(src).name.startswith(".run.tmp-"):  # moving the new folder into place fails
            raise OSError(errno.EXDEV, "Invalid cross-device link")
        return real_replace(src, dst)

    monkeypatch.setattr(results.os, "replace", flaky_replace)
    with pytest.raises(InputError, match="earlier results were left as they were"):
        with ResultFolder(out, {"version": 2}):
            pass
    monkeypatch.undo()
    assert entries(tmp_path) == ["run"]
    assert (out / "summary.json").read_bytes() == before


def test_existing_empty_folder_is_used(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    with ResultFolder(out, overwrite=False) as res:
        res.metrics["x"] = 1
    assert json.loads((out / "summary.json").read_text())["metrics"] == {"x": 1}


def test_no_overwrite_refuses_a_non_empty_folder(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(InputError, match=r"--out .*run.*not empty"):
        with ResultFolder(out, overwrite=False):
            pytest.fail("the block must not run")
    assert entries(out) == ["keep.txt"] and entries(tmp_path) == ["run"]


def test_out_that_is_a_file_is_refused(tmp_path):
    out = tmp_path / "run"
    out.write_text("a file")
    with pytest.raises(InputError, match=r"--out .*run.*not a folder"):
        with ResultFolder(out):
            pytest.fail("the block must not run")
    assert out.read_text() == "a file"


def _unwritable_parent(tmp_path: Path, how: str, monkeypatch) -> Path:
    if how == "permission-denied":  # what chmod 0o500 gives a non-root user, simulated so root sees it too
        import tempfile

        def denied(*args, **kwargs):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(tempfile, "mkdtemp", denied)
        return tmp_path / "run"
    if how == "chmod":
        if os.geteuid() == 0:
            pytest.skip("root ignores permission bits")
        parent = tmp_path / "locked"
        parent.mkdir()
        parent.chmod(0o500)
        return parent / "run"
    (tmp_path / "afile").write_text("a regular file, not a folder")
    return tmp_path / "afile" / "sub"


@pytest.mark.parametrize("how", ["chmod", "under-a-file", "permission-denied"])
def test_unwritable_parent_raises_input_error(tmp_path, how, monkeypatch):
    out = _unwritable_parent(tmp_path, how, monkeypatch)
    try:
        with pytest.raises(InputError) as info:
            with ResultFolder(out, {"k": 1}):
                pytest.fail("the block must not run")
        message = str(info.value)
        assert "\n" not in message
        assert message.startswith(f"--out {out}") and "writable" in message
    finally:
        if how == "chmod":
            out.parent.chmod(0o700)
    assert not out.exists()


def test_path_requires_the_context_manager(tmp_path):
    res = ResultFolder(tmp_path / "run")
    with pytest.raises(AssertionError):
        res.path("x.json")
    assert entries(tmp_path) == []


# --------------------------------------------------------------------------- #
# to_jsonable / package_versions
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize(
    "value, expected",
    [
        (np.float32(0.25), 0.25),
        (np.float64(1.5), 1.5),
        (np.int64(7), 7),
        (np.int8(-3), -3),
        (np.uint16(9), 9),
        (np.bool_(True), True),
        (np.float64(np.nan), None),
        (float("nan"), None),
        (float("-inf"), None),
        (np.array([[1, 2], [3, 4]]), [[1, 2], [3, 4]]),
        (np.array([0.5, np.nan, np.inf]), [0.5, None, None]),
        (np.float32(3.0).reshape(()), 3.0),
        ((1, np.int32(2)), [1, 2]),
        ({1: np.arange(2), "p": Path("x/y")}, {"1": [0, 1], "p": "x/y"}),
        ({"nested": [{"a": np.float16(0.5)}]}, {"nested": [{"a": 0.5}]}),
        ("text", "text"),
        (None, None),
    ],
)
def test_to_jsonable(value, expected):
    got = to_jsonable(value)
    assert got == expected
    # types are plain Python, so strict JSON round-trips
    assert json.loads(json.dumps(got, allow_nan=False)) == expected


def test_to_jsonable_plain_types():
    got = to_jsonable({"i": np.int64(2), "f": np.float32(0.5), "b": np.bool_(False), "a": np.zeros(2, np.int32)})
    assert type(got["i"]) is int and type(got["f"]) is float and type(got["b"]) is bool
    assert all(type(v) is int for v in got["a"])
    assert math.isfinite(got["f"])


def test_to_jsonable_torch_tensor():
    torch = pytest.importorskip("torch")
    assert to_jsonable(torch.tensor([[1.0, float("nan")]], requires_grad=True)) == [[1.0, None]]
    assert to_jsonable(torch.tensor(3)) == 3


def test_package_versions():
    v = package_versions()
    assert v["numpy"] == np.__version__
    import neurocine

    assert v["neurocine"] == neurocine.__version__


def test_leftovers_of_a_killed_job_are_removed_by_the_next(tmp_path):
    """A SIGKILLed job leaves .run.tmp-PID-*; the next job to the same folder removes it if PID is gone."""
    import subprocess
    import sys

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = tmp_path / f".run.tmp-{dead_pid}-abc"
    stale.mkdir()
    (stale / "half.npy").write_bytes(b"x")
    live = tmp_path / f".run.tmp-{os.getppid()}-xyz"  # a live process's work in progress is left alone
    live.mkdir()
    other = tmp_path / f".runner.tmp-{dead_pid}-q"  # another folder's leftovers are not ours
    other.mkdir()
    with ResultFolder(tmp_path / "run", {}) as res:
        res.metrics["x"] = 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["run", live.name, other.name])


@pytest.mark.parametrize(("umask", "folder_mode", "file_mode"), [(0o022, 0o755, 0o644), (0o027, 0o750, 0o640)])
def test_result_folders_honour_the_umask(tmp_path, umask, folder_mode, file_mode):
    """A result folder is as readable as any folder the user makes (tempfile.mkdtemp alone gives 0o700)."""
    import stat

    from _cli import cli

    np.save(tmp_path / "movie.npy", np.random.default_rng(0).integers(0, 255, (6, 8, 8), dtype=np.uint8))
    previous = os.umask(umask)
    try:
        with ResultFolder(tmp_path / "run") as res:
            res.write_json("a.json", {"x": 1})
        if umask == 0o022:  # and a job from the command line
            assert cli("video", "motion", tmp_path / "movie.npy", "--out", tmp_path / "motion") == 0
    finally:
        os.umask(previous)
    for folder in (tmp_path / "run", tmp_path / "motion") if umask == 0o022 else (tmp_path / "run",):
        assert stat.S_IMODE(folder.stat().st_mode) == folder_mode, oct(folder.stat().st_mode)
        assert stat.S_IMODE((folder / "summary.json").stat().st_mode) == file_mode
    if umask == 0o022:
        assert stat.S_IMODE((tmp_path / "motion" / "motion.npz").stat().st_mode) == file_mode
