"""The ``neurocine`` command line, run as a subprocess (``python -m neurocine.cli``).

The bad-input cases (exit 2, one line) run the same entry point, ``neurocine.cli.main``, in the test
process with stderr read at the file descriptor (``_cli.run_in_process``): a subprocess each cost
3-6 s of CPU importing torch again. Every other test runs the real subprocess.

Numbers are checked against the simulation's ground truth, against closed
forms recomputed here from the written arrays (R^2, reconstruction, precision
and recall counts) and against the Neural Screenomics notebook's printed
results (seed 7: 33 spikes; notebook solver K=4 -> 18 spikes, R2 0.75; K=2 ->
10 spikes, R2 0.44).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import run_in_process

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
def neurocine(
    *args: str | os.PathLike, cwd: Path, module: str = "neurocine.cli", env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``neurocine ARGS`` (``python -m MODULE``) in ``cwd`` with progress bars off and ``env`` added."""
    env = {**os.environ, "NEUROCINE_PROGRESS": "0", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    return proc


def summary_of(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


def reconstruct(templates: np.ndarray, amplitudes: np.ndarray) -> np.ndarray:
    """Conv-NMF model, written out: ``X[t, n] = sum_k sum_d A[t - d, k] W[k, n, d]`` (T, N)."""
    W = np.asarray(templates, dtype=np.float64)
    A = np.asarray(amplitudes, dtype=np.float64)
    T, D = A.shape[0], W.shape[2]
    pred = np.zeros((T, W.shape[1]))
    for d in range(D):
        pred[d:] += A[: T - d] @ W[:, :, d]
    return pred


def r2(X: np.ndarray, pred: np.ndarray) -> float:
    """1 - SSE / SST (SST around the grand mean)."""
    X = np.asarray(X, dtype=np.float64)
    return 1.0 - float(((X - pred) ** 2).sum()) / float(((X - X.mean()) ** 2).sum())


def leftovers(parent: Path, name: str) -> list[str]:
    """The folder ``name`` and any hidden ``.name.tmp-*`` / ``.name.old-*`` sibling in ``parent``."""
    return sorted(p.name for p in parent.iterdir() if p.name == name or p.name.startswith(f".{name}."))


def assert_png(path: Path) -> None:
    assert path.is_file(), path
    assert path.read_bytes()[:8] == PNG_MAGIC, f"{path} is not a PNG"


def without_timing(metrics: dict) -> dict:
    return {k: v for k, v in metrics.items() if k not in ("seconds",)}


# --------------------------------------------------------------------------- #
# module-scoped runs, shared by several tests
# --------------------------------------------------------------------------- #
@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="module")
def sim(workdir):
    """``neurocine motifs simulate --seed 7`` (the notebook's data); returns (process, npz path)."""
    proc = ok(neurocine("motifs", "simulate", "--seed", "7", "--out", "sim.npz", cwd=workdir))
    return proc, workdir / "sim.npz"


@pytest.fixture(scope="module")
def sim_npz(sim) -> Path:
    return sim[1]


@pytest.fixture(scope="module")
def reference_fits(workdir, sim_npz):
    """Notebook-solver fits (``--solver reference --seed 7 --amp-rate 3``), run once per K on demand."""
    cache: dict[int, tuple[subprocess.CompletedProcess, Path]] = {}

    def get(k: int):
        if k not in cache:
            out = workdir / f"reference_k{k}"
            proc = ok(
                neurocine(
                    "motifs",
                    "fit",
                    sim_npz,
                    "--components",
                    k,
                    "--width",
                    10,
                    "--solver",
                    "reference",
                    "--seed",
                    7,
                    "--amp-rate",
                    3,
                    "--out",
                    out,
                    cwd=workdir,
                )
            )
            cache[k] = (proc, out)
        return cache[k]

    return get


DEFAULT_FIT_ARGS = ("--components", "4", "--width", "10", "--seed", "0")


@pytest.fixture(scope="module")
def default_fit(workdir, sim_npz):
    """neurocine's own solver, K=4, D=10, --seed 0, on the notebook's data."""
    out = workdir / "default_k4"
    proc = ok(neurocine("motifs", "fit", sim_npz, *DEFAULT_FIT_ARGS, "--out", out, cwd=workdir))
    return proc, out


@pytest.fixture(scope="module")
def selection(workdir, sim_npz):
    """``motifs select`` over K = 2..6 (3 repeats, 3 starts each), in two worker processes."""
    out = workdir / "select"
    proc = ok(
        neurocine(
            "motifs",
            "select",
            sim_npz,
            "--components",
            "2-6",
            "--width",
            "10",
            "--repeats",
            "3",
            "--n-init",
            "3",
            "--jobs",
            "2",
            "--out",
            out,
            cwd=workdir,
        )
    )
    return proc, out


# --------------------------------------------------------------------------- #
# help and simulate
# --------------------------------------------------------------------------- #
def test_help_lists_every_command(tmp_path):
    proc = ok(neurocine("--help", cwd=tmp_path))
    for command in ("motifs", "screenome", "demo"):
        assert command in proc.stdout
    proc = ok(neurocine("motifs", "--help", cwd=tmp_path))
    for command in ("simulate", "fit", "select"):
        assert command in proc.stdout


def test_version_is_the_package_version(tmp_path):
    from importlib import metadata

    import neurocine as nc

    proc = ok(neurocine("--version", cwd=tmp_path))
    assert proc.stdout == "neurocine 0.1.0\n" == f"neurocine {nc.__version__}\n"
    assert nc.__version__ == metadata.version("neurocine")


def test_python_m_neurocine_is_the_command_line(tmp_path):
    assert (
        ok(neurocine("--help", cwd=tmp_path, module="neurocine")).stdout == ok(neurocine("--help", cwd=tmp_path)).stdout
    )
    proc = ok(neurocine("motifs", "simulate", "--out", "a.npz", "--timesteps", "200", cwd=tmp_path, module="neurocine"))
    other = ok(neurocine("motifs", "simulate", "--out", "b.npz", "--timesteps", "200", cwd=tmp_path))
    assert proc.stdout.replace("a.npz", "b.npz") == other.stdout
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    bad = neurocine("motifs", "simulate", "--out", "x.txt", cwd=tmp_path, module="neurocine")
    assert bad.returncode == 2 and bad.stderr.startswith("error: --out x.txt")


def test_shell_completion(tmp_path):
    # no shell detection: the shell is named, as a user without shellingham names it
    env = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1", "HOME": str(tmp_path)}
    script = ok(neurocine("--show-completion", "bash", cwd=tmp_path, env=env)).stdout
    assert "_NEUROCINE_COMPLETE=complete_bash" in script and "-F _neurocine_completion neurocine" in script
    ok(neurocine("--install-completion", "bash", cwd=tmp_path, env=env))
    installed = tmp_path / ".bash_completions" / "neurocine.sh"
    assert installed.read_text().strip() == script.strip()
    assert f"source '{installed}'" in (tmp_path / ".bashrc").read_text()
    # what the installed script asks for: the completions of a partial command line
    for words, cword, expected in [("neurocine mot", 1, "motifs"), ("neurocine motifs s", 2, "simulate\nsort\nselect")]:
        complete = {"_NEUROCINE_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        assert ok(neurocine(cwd=tmp_path, env=complete)).stdout.strip() == expected


def test_simulate_reproduces_the_notebook_data(sim):
    proc, path = sim
    assert "33 spikes" in proc.stdout and "oracle R2 0.877" in proc.stdout
    assert proc.stderr.strip() == ""
    with np.load(path) as f:
        X, W, A, oracle = f["data"], f["templates"], f["amplitudes"], float(f["oracle_r2"])
        noise_std = float(f["noise_std"])
    assert X.shape == (600, 10) and W.shape == (4, 10, 10) and A.shape == (600, 4)
    assert int((A > 0).sum()) == 33
    assert (A >= 0).all()
    pred = reconstruct(W, A)
    # the stored oracle R^2 is the R^2 of the true model, recomputed here from the arrays
    assert r2(X, pred) == pytest.approx(oracle, abs=1e-5)
    assert oracle == pytest.approx(0.877, abs=5e-4)
    # data = model + Gaussian noise of std --noise (1.0): the residual has that std and mean 0
    resid = X - pred
    assert noise_std == pytest.approx(1.0)
    assert resid.std() == pytest.approx(1.0, abs=0.06)
    assert abs(resid.mean()) < 4 * 1.0 / np.sqrt(resid.size)


def test_simulate_options_set_shapes_and_noise(tmp_path):
    proc = ok(
        neurocine(
            "--quiet",
            "motifs",
            "simulate",
            "--seed",
            "1",
            "--timesteps",
            "400",
            "--channels",
            "5",
            "--width",
            "8",
            "--neurons",
            "3",
            "--noise",
            "0.5",
            "--out",
            "small.npz",
            cwd=tmp_path,
        )
    )
    assert "data (400, 5)" in proc.stdout
    with np.load(tmp_path / "small.npz") as f:
        X, W, A = f["data"], f["templates"], f["amplitudes"]
    assert X.shape == (400, 5) and W.shape == (3, 5, 8) and A.shape == (400, 3)
    n_spikes = int((A > 0).sum())
    assert f"{n_spikes} spikes" in proc.stdout
    assert (X - reconstruct(W, A)).std() == pytest.approx(0.5, abs=0.04)


def test_simulate_same_seed_same_file_other_seed_differs(tmp_path, sim_npz):
    ok(neurocine("motifs", "simulate", "--seed", "7", "--out", "again.npz", cwd=tmp_path))
    ok(neurocine("motifs", "simulate", "--seed", "8", "--out", "other.npz", cwd=tmp_path))
    with np.load(sim_npz) as a, np.load(tmp_path / "again.npz") as b, np.load(tmp_path / "other.npz") as c:
        for key in ("data", "templates", "amplitudes"):
            np.testing.assert_array_equal(a[key], b[key])
        assert not np.array_equal(a["data"], c["data"])


# --------------------------------------------------------------------------- #
# motifs fit
# --------------------------------------------------------------------------- #
@pytest.mark.parametrize("k, n_spikes, r2_printed", [(4, 18, 0.75), (2, 10, 0.44)])
def test_reference_solver_reproduces_the_notebook(reference_fits, sim_npz, k, n_spikes, r2_printed):
    proc, out = reference_fits(k)
    assert f"Found {n_spikes} putative spikes (R2 = {r2_printed:.2f})" in proc.stdout
    s = summary_of(out)
    m = s["metrics"]
    assert s["job"] == "motifs fit"
    assert s["parameters"]["n_components"] == k and s["parameters"]["width"] == 10
    assert s["parameters"]["solver"] == "reference" and s["parameters"]["random_state"] == 7
    assert s["parameters"]["amp_rate"] == 3.0
    assert s["versions"]["numpy"] == np.__version__
    assert m["n_spikes"] == n_spikes
    assert round(m["r2"], 2) == r2_printed

    # fit.npz holds the model; its R^2 and spike count are what summary.json reports
    with np.load(out / "fit.npz") as f:
        W, A, ll = f["templates"], f["amplitudes"], f["log_likelihoods"]
    with np.load(sim_npz) as f:
        X, A_true = f["data"], f["amplitudes"]
    assert W.shape == (k, 10, 10) and A.shape == (600, k)
    assert int((A > 0).sum()) == n_spikes and (A >= 0).all()
    assert r2(X, reconstruct(W, A)) == pytest.approx(m["r2"], abs=1e-5)
    np.testing.assert_allclose(ll, m["log_likelihoods"], rtol=1e-6)
    assert len(ll) >= 2 and ll[-1] > ll[0]

    # ground-truth scores are counts over 18 (or 10) found and 33 true spikes
    n_true = int((A_true > 0).sum())
    assert m["n_true_spikes"] == n_true == 33
    p, rc, f1 = m["spike_precision"], m["spike_recall"], m["spike_f1"]
    assert p * n_spikes == pytest.approx(round(p * n_spikes), abs=1e-9)
    assert rc * n_true == pytest.approx(round(rc * n_true), abs=1e-9)
    assert f1 == pytest.approx(2 * p * rc / (p + rc))
    assert 0.0 <= m["template_similarity"] <= 1.0
    assert rc < 0.5  # the notebook's solver misses most spikes: what the default solver fixes

    assert s["timings"]["total_seconds"] >= s["timings"]["fit_seconds"] > 0
    for name in ("model.png", "log_likelihood.png", "ground_truth.png"):
        assert_png(out / name)
    assert leftovers(out.parent, out.name) == [out.name]


def test_default_solver_finds_the_true_spikes(default_fit, sim_npz):
    proc, out = default_fit
    m = summary_of(out)["metrics"]
    assert m["r2"] >= 0.85
    assert m["spike_f1"] >= 0.9
    assert m["template_similarity"] >= 0.95
    assert f"Found {m['n_spikes']} putative spikes (R2 = {m['r2']:.2f})" in proc.stdout
    with np.load(out / "fit.npz") as f, np.load(sim_npz) as g:
        assert r2(g["data"], reconstruct(f["templates"], f["amplitudes"])) == pytest.approx(m["r2"], abs=1e-5)
        # between the notebook's 18 spikes and the truth's 33
        assert abs(int((f["amplitudes"] > 0).sum()) - 33) <= 3


def test_rerun_is_deterministic_and_replaces_only_on_success(workdir, sim_npz, reference_fits, default_fit):
    """Same command, same --seed: identical metrics and arrays. An earlier folder survives a failing run
    and is replaced (not merged) by a successful one."""
    _, earlier = reference_fits(4)
    _, reference = default_fit
    target = workdir / "replaced"
    shutil.copytree(earlier, target)
    (target / "stale.txt").write_text("from an earlier run")
    before = (target / "summary.json").read_bytes()

    failed = neurocine("motifs", "fit", sim_npz, "--components", "4", "--width", "600", "--out", target, cwd=workdir)
    assert failed.returncode == 2
    assert (target / "summary.json").read_bytes() == before
    assert (target / "stale.txt").exists()
    assert leftovers(workdir, target.name) == [target.name]

    ok(neurocine("motifs", "fit", sim_npz, *DEFAULT_FIT_ARGS, "--out", target, cwd=workdir))
    assert not (target / "stale.txt").exists()
    assert leftovers(workdir, target.name) == [target.name]
    new, ref = summary_of(target), summary_of(reference)
    assert new["parameters"]["solver"] == "default"
    assert {k: v for k, v in new["parameters"].items() if k != "input"} == {
        k: v for k, v in ref["parameters"].items() if k != "input"
    }
    assert without_timing(new["metrics"]) == without_timing(ref["metrics"])
    with np.load(target / "fit.npz") as a, np.load(reference / "fit.npz") as b:
        for key in ("templates", "amplitudes", "log_likelihoods"):
            np.testing.assert_array_equal(a[key], b[key])


# --------------------------------------------------------------------------- #
# motifs select
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_select_recommends_the_true_k(selection):
    proc, out = selection
    assert "recommended K = 4" in proc.stdout
    s = summary_of(out)
    m = s["metrics"]
    assert s["job"] == "motifs select" and s["parameters"]["ks"] == [2, 3, 4, 5, 6] and s["parameters"]["jobs"] == 2
    assert m["recommended_k"] == 4
    sel = json.loads((out / "selection.json").read_text())
    assert sel["recommended_k"] == 4 and sel["ks"] == [2, 3, 4, 5, 6]
    heldout = np.array(sel["heldout_r2"])
    assert heldout.shape == (5, 3)
    np.testing.assert_allclose(m["heldout_r2_mean"], heldout.mean(axis=1), rtol=1e-12)
    mean = heldout.mean(axis=1)
    # held-out fit climbs until the true K and then stops improving
    assert mean[2] - mean[0] > 0.15
    assert mean[2] >= mean[1]
    assert max(mean[3:]) - mean[2] < 0.02
    assert len(m["stability_mean"]) == 5
    assert all(0.0 <= v <= 1.0 + 1e-9 for v in m["stability_mean"])
    for k, r, line in zip(sel["ks"], mean, proc.stdout.splitlines()[1:]):
        assert line.strip().startswith(f"K={k}: held-out R2 {r:.3f}")
    assert_png(out / "k_selection.png")


# --------------------------------------------------------------------------- #
# screenome -> motifs
# --------------------------------------------------------------------------- #
def test_screenome_simulate_bin_fit(tmp_path):
    proc = ok(neurocine("screenome", "simulate", "--seed", "3", "--out", "LOG.csv", cwd=tmp_path))
    assert (tmp_path / "LOG.csv").is_file() and (tmp_path / "LOG.truth.npz").is_file()
    n_events = int(re.search(r"\((\d+) events\)", proc.stdout).group(1))
    assert n_events == len((tmp_path / "LOG.csv").read_text().strip().splitlines()) - 1

    ok(neurocine("screenome", "bin", "LOG.csv", "--bin", "60s", "--out", "binned", cwd=tmp_path))
    binned = tmp_path / "binned"
    s = summary_of(binned)
    with np.load(binned / "binned.npz") as f, np.load(tmp_path / "LOG.truth.npz") as t:
        data, truth_data = f["data"], t["data"]
        assert float(f["bin_seconds"]) == 60.0
    # 10 hours at 60 s per bin, 10 apps; binning the log gives back the simulator's usage matrix
    assert data.shape == (600, 10)
    np.testing.assert_allclose(data, truth_data, atol=1e-3)
    assert (data >= 0).all() and (data <= 60.0 + 1e-3).all()  # seconds of use within a 60 s bin
    assert s["metrics"]["n_events"] == n_events
    assert s["metrics"]["n_bins"] == 600 and s["metrics"]["n_channels"] == 10
    assert s["metrics"]["total_seconds"] == pytest.approx(float(data.sum()), rel=1e-5)
    assert_png(binned / "usage.png")

    ok(
        neurocine(
            "motifs",
            "fit",
            "binned/binned.npz",
            "--components",
            "3",
            "--width",
            "10",
            "--nonnegative",
            "--noise-std",
            "2",
            "--out",
            "fit",
            cwd=tmp_path,
        )
    )
    fit = tmp_path / "fit"
    m = summary_of(fit)["metrics"]
    assert summary_of(fit)["parameters"]["nonnegative"] is True
    assert m["noise_std"] == pytest.approx(2.0)
    assert "spike_f1" not in m  # binned.npz carries no ground truth
    with np.load(fit / "fit.npz") as f:
        W, A = f["templates"], f["amplitudes"]
    assert W.shape == (3, 10, 10) and (W >= 0).all() and (A >= 0).all()
    assert r2(data, reconstruct(W, A)) == pytest.approx(m["r2"], abs=1e-5)
    assert m["r2"] >= 0.85


# --------------------------------------------------------------------------- #
# bad input: exit 2, one line, no traceback, nothing written
# --------------------------------------------------------------------------- #
def _bad_files(tmp_path: Path, sim_npz: Path) -> None:
    with np.load(sim_npz) as f:
        X = f["data"].copy()
    X[3, 2] = np.nan
    np.savez(tmp_path / "nan.npz", data=X)
    np.save(tmp_path / "one.npy", np.arange(100.0))
    (tmp_path / "empty.csv").write_text("")
    os.symlink(sim_npz, tmp_path / "sim.npz")


FIT = ("motifs", "fit")
BAD_INPUT = {
    "missing-input": (FIT + ("missing.npz", "-k", "4", "-d", "10"), ["missing.npz"]),
    "nan-in-data": (FIT + ("nan.npz", "-k", "4", "-d", "10"), ["nan.npz", "NaN"]),
    "one-d-npy": (FIT + ("one.npy", "-k", "4", "-d", "10"), ["one.npy"]),
    "width-not-below-T": (FIT + ("sim.npz", "-k", "4", "-d", "600"), ["width", "600"]),
    "zero-components": (FIT + ("sim.npz", "-k", "0", "-d", "10"), ["components", "0"]),
    "unknown-solver": (FIT + ("sim.npz", "-k", "4", "-d", "10", "--solver", "bogus"), ["solver", "bogus"]),
    "rank-with-nonnegative": (FIT + ("sim.npz", "-k", "4", "-d", "10", "--rank", "2", "--nonnegative"), ["rank"]),
    "zero-starts": (FIT + ("sim.npz", "-k", "4", "-d", "10", "--n-init", "0"), ["--n-init", "0"]),
    "negative-tolerance": (FIT + ("sim.npz", "-k", "4", "-d", "10", "--tolerance", "-1"), ["--tolerance", "-1"]),
    "cuda-without-gpu": (FIT + ("sim.npz", "-k", "4", "-d", "10", "--device", "cuda"), ["CUDA is not available"]),
    "select-reversed-range": (
        ("motifs", "select", "sim.npz", "--components", "5-2", "--width", "10"),
        ["--components", "5-2"],
    ),
    "select-width-not-below-T": (
        ("motifs", "select", "sim.npz", "--components", "2-3", "--width", "600"),
        ["--width", "600"],
    ),
    "select-zero-jobs": (
        ("motifs", "select", "sim.npz", "--components", "2-3", "--width", "10", "--jobs", "0"),
        ["--jobs", "0"],
    ),
    "bin-empty-log": (("screenome", "bin", "empty.csv", "--bin", "60s"), ["empty.csv"]),
}


@pytest.mark.parametrize("case", list(BAD_INPUT), ids=list(BAD_INPUT))
def test_bad_input_exits_2_with_one_line(tmp_path, sim_npz, case, monkeypatch, capfd):
    if case == "cuda-without-gpu":
        torch = pytest.importorskip("torch")
        if torch.cuda.is_available():
            pytest.skip("CUDA is available here")
    _bad_files(tmp_path, sim_npz)
    args, expected = BAD_INPUT[case]
    before = sorted(p.name for p in tmp_path.iterdir())
    proc = run_in_process(*args, "--out", "result", cwd=tmp_path, monkeypatch=monkeypatch, capfd=capfd)
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error: ")
    for word in expected:
        assert word in lines[0]
    assert proc.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no result folder, no .result.tmp-*


def test_fit_refuses_an_out_that_is_a_file(tmp_path, sim_npz):
    target = tmp_path / "taken.npz"
    shutil.copy(sim_npz, target)
    before = target.read_bytes()
    proc = neurocine("motifs", "fit", sim_npz, "-k", "4", "-d", "10", "--out", target.name, cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --out taken.npz") and "not a folder" in lines[0]
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.npz"]


def test_simulate_rejects_a_non_npz_output(tmp_path):
    proc = neurocine("motifs", "simulate", "--out", "x.txt", cwd=tmp_path)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "x.txt" in lines[0]
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #
@pytest.mark.slow
def test_demo_quick(workdir, reference_fits, selection):
    proc = ok(neurocine("demo", "--quick", "--out", "demo", cwd=workdir))
    out = workdir / "demo"
    assert leftovers(workdir, "demo") == ["demo"]
    assert "Found 18 putative spikes (R2 = 0.75)" in proc.stdout
    assert "Found 10 putative spikes (R2 = 0.44)" in proc.stdout
    assert "recommended K = 4" in proc.stdout

    s = summary_of(out)
    m = s["metrics"]
    assert s["job"] == "demo" and s["parameters"]["quick"] is True
    c = m["conv_nmf"]
    assert c["n_true_spikes"] == 33 and c["oracle_r2"] == pytest.approx(0.877, abs=5e-4)
    assert c["reference_k4"]["n_spikes"] == 18 and round(c["reference_k4"]["r2"], 2) == 0.75
    assert c["reference_k2"]["n_spikes"] == 10 and round(c["reference_k2"]["r2"], 2) == 0.44
    assert c["default_k4"]["r2"] >= 0.85 and c["default_k4"]["spike_f1"] >= 0.9
    assert m["k_selection"]["recommended_k"] == 4 and m["k_selection"]["true_k"] == 4
    assert m["screenome"]["spike_f1"] >= 0.8
    # V1: the true population reconstructs the held-out clips; fMRI: planted layers and identification recovered
    assert m["v1"]["true_population_video_correlation"] >= 0.5
    # the hidden-feature simulator: seed 0 measured best layer 26 % (5 taps, 2 planted regions), median r 0.12
    # against a ceiling of 0.85, pairwise identification 0.73 -- far from the circular simulator's 0.9+
    assert m["fmri"]["best_layer_accuracy"] is not None and m["fmri"]["median_test_r"] > 0.05
    assert m["fmri"]["median_test_r"] < m["fmri"]["median_ceiling"] and m["fmri"]["pairwise_identification"] >= 0.6
    for section in ("conv_nmf", "screenome", "k_selection", "video", "encoding", "v1", "fmri"):
        assert s["timings"][f"{section}_seconds"] > 0
    # encoding on the simulated widefield session: planted maps, ceiling and ranking recovered
    e = m["encoding"]
    assert e["min_beta_map_correlation"] >= 0.9 and abs(e["mean_cv_ev"] - e["ceiling_ev"]) <= 0.02
    assert e["planted_ranked_first"] and e["ranking"][-1] == "null"
    assert e["whisking"]["accuracy_test"] > e["whisking"]["chance_test"]
    assert len(e["framerates"]["ev"]) == 4 and (out / "encoding" / "framerates" / "table.md").is_file()
    # every job of the demo has its report, and the demo's report links them
    assert (out / "report.html").is_file() and (out / "encoding" / "results" / "report.html").is_file()
    assert 'href="encoding/results/report.html"' in (out / "report.html").read_text()

    # the demo's notebook fit is the CLI's, array for array
    _, cli_fit = reference_fits(4)
    with np.load(out / "conv_nmf" / "reference_k4_fit.npz") as a, np.load(cli_fit / "fit.npz") as b:
        np.testing.assert_array_equal(a["templates"], b["templates"])
        np.testing.assert_array_equal(a["amplitudes"], b["amplitudes"])
    # and its K selection (one process) is `motifs select --components 2-6 --repeats 3 --n-init 3 --seed 0`
    # (run with --jobs 2): the same numbers
    demo_sel = json.loads((out / "k_selection" / "selection.json").read_text())
    cli_sel = json.loads((selection[1] / "selection.json").read_text())
    for key in ("heldout_r2", "heldout_loglik_mean", "train_r2_mean", "stability_mean"):
        assert demo_sel[key] == cli_sel[key], key

    # index.html links every figure of the demo, and every link points at a PNG that exists
    html = (out / "index.html").read_text()
    linked = set(re.findall(r'<img src="([^"]+)"', html))
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*.png")}
    assert linked == on_disk
    assert len(linked) >= 12
    for rel in linked:
        assert_png(out / rel)
    for needle in (
        "conv_nmf/reference_k4_model.png",
        "k_selection/k_selection.png",
        "screenome/motifs_model.png",
        "encoding/results/beta_maps.png",
        "encoding/framerates/framerates.png",
    ):
        assert needle in linked

    # the page reads like a report: an overview per study with its headline numbers (as summary.json has them)
    # beside their references, every figure captioned, every link to a file that exists, no raw keys as labels
    from _pages import check_page

    page = check_page(out / "index.html")
    for sub in [out / "report.html", *out.rglob("*/report.html")]:
        check_page(sub)
    v, sc, f = m["video"], m["screenome"], m["fmri"]
    for headline in (
        f"{c['default_k4']['n_spikes']} spikes found for {c['n_true_spikes']} true ones",
        f"R² {c['default_k4']['r2']:.3f} against the true model's {c['oracle_r2']:.3f}",
        f"the notebook's solver finds {c['reference_k4']['n_spikes']} (R² {c['reference_k4']['r2']:.3f})",
        f"{sc['n_spikes']} state onsets found for",
        f"Recommended K = {m['k_selection']['recommended_k']} against the true K = 4",
        f"largest error {v['max_abs_error_vs_truth']:.2g} grey levels",
        f"explained variance {e['mean_cv_ev']:.3f} against the planted model's {e['ceiling_ev']:.3f}",
        f"correlate r = {m['v1']['true_population_video_correlation']:.3f} with the movies shown",
        f"Best layer of the planted region's rank for {f['best_layer_accuracy']:.1%} of the voxels with signal",
        f"pairwise identification {f['pairwise_identification']:.3f} (chance 0.5)",
    ):
        assert headline in page.overview, headline
    html = (out / "index.html").read_text()
    assert html.index('class="overview"') < html.index("<table>")  # the overview opens the page
    assert "v1/mouse/meta/simulation" not in html  # a data folder, not a job with a report
    assert "reference solver, K = 4" in page.row_labels and "reference_k4" not in " ".join(page.row_labels)
