"""The public API: ``import neurocine as nc`` (light, lazy), ``nc.jobs`` (one call per CLI command), ``JobResult``.

Each job called from Python must give the same numbers as its CLI command, and those numbers are checked
against ground truth or closed forms recomputed here from the written arrays.
"""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import cli

import neurocine as nc
from neurocine.errors import InputError
from neurocine.io.results import JobResult, to_jsonable

# the CLI commands, as `neurocine GROUP COMMAND` -> the nc.jobs name
COMMANDS = {
    ("motifs", "simulate"): "motifs_simulate",
    ("motifs", "fit"): "motifs_fit",
    ("motifs", "select"): "motifs_select",
    ("motifs", "sort"): "motifs_sort",
    ("screenome", "bin"): "screenome_bin",
    ("screenome", "simulate"): "screenome_simulate",
    ("video", "motion"): "video_motion",
    ("video", "pupil"): "video_pupil",
    ("video", "rois"): "video_rois",
    ("imaging", "dff"): "imaging_dff",
    ("batch", "motion"): "batch_motion",
    ("batch", "encode"): "batch_encode",
    ("encode", "fit"): "encode_fit",
    ("encode", "framerates"): "encode_framerates",
    ("encode", "simulate"): "encode_simulate",
    ("v1", "simulate"): "v1_simulate",
    ("v1", "train"): "v1_train",
    ("v1", "reconstruct"): "v1_reconstruct",
    ("v1", "suite"): "v1_suite",
    ("fmri", "simulate"): "fmri_simulate",
    ("fmri", "encode"): "fmri_encode",
    ("fmri", "decode"): "fmri_decode",
    ("fmri", "pretrain"): "fmri_pretrain",
    ("fmri", "reconstruct"): "fmri_reconstruct",
    ("report",): "report",
    ("demo",): "demo",
}


def untimed(d: dict) -> dict:
    """``d`` without wall-time entries (they differ between two runs of the same job)."""
    return {k: v for k, v in d.items() if "seconds" not in k and k != "frames_per_second"}


def summary_of(folder: Path) -> dict:
    return json.loads((folder / "summary.json").read_text())


# --------------------------------------------------------------------------- #
# names and import cost
# --------------------------------------------------------------------------- #
def test_every_public_name_resolves():
    for name in nc.__all__:
        assert getattr(nc, name) is not None, name
    assert set(nc.__all__) <= set(dir(nc))
    # estimators are the sub-packages' own objects, not copies
    assert nc.ConvNMF is nc.motifs.ConvNMF and nc.RidgeCV is nc.models.RidgeCV and nc.DNEM is nc.v1.DNEM
    assert nc.SequenceRegressor is nc.encode.SequenceRegressor and nc.DiffusionDecoder is nc.fmri.DiffusionDecoder
    assert nc.JobResult is JobResult and nc.__version__ == "0.1.0"
    with pytest.raises(AttributeError, match="has no attribute 'no_such_name'"):
        nc.no_such_name  # noqa: B018


def test_every_cli_command_is_one_job_function():
    from typer.main import get_command

    from neurocine.cli import app

    root = get_command(app)
    commands = set()
    for name, command in root.commands.items():
        sub = getattr(command, "commands", None)
        commands |= {(name, s) for s in sub} if sub else {(name,)}
    assert commands == set(COMMANDS)
    assert sorted(COMMANDS.values()) == nc.jobs.__all__
    for name in nc.jobs.__all__:
        assert callable(getattr(nc.jobs, name)), name
    assert nc.jobs.motifs_fit.__name__ == "run_fit"  # the job itself (its signature and docstring), not a wrapper


def test_import_neurocine_loads_neither_torch_nor_matplotlib():
    code = (
        "import json, sys; import neurocine as nc; nc.jobs; nc.motifs; nc.fmri; nc.v1; nc.encode; dir(nc); "
        # a sub-package that a package's docstring names resolves as an attribute (the gallery uses it)
        "nc.motifs.screenome.bin_events; "
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'matplotlib'})))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == []


# --------------------------------------------------------------------------- #
# jobs in Python == the CLI, and right
# --------------------------------------------------------------------------- #
def test_motifs_simulate_and_fit_match_the_cli(tmp_path):
    sim = nc.jobs.motifs_simulate(tmp_path / "py.npz", timesteps=300, channels=6, neurons=2, seed=3)
    assert cli("motifs", "simulate", "--out", tmp_path / "cli.npz", "--timesteps", 300, "--channels", 6,
               "--neurons", 2, "--seed", 3) == 0  # fmt: skip
    with np.load(tmp_path / "py.npz") as a, np.load(tmp_path / "cli.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            np.testing.assert_array_equal(a[key], b[key])
        assert sim["n_spikes"] == int((a["amplitudes"] > 0).sum()) and sim["data_shape"] == [300, 6]
        assert sim["oracle_r2"] == float(a["oracle_r2"])
        data = a["data"]
    assert sim.out == tmp_path / "py.npz" and sim.report is None and sim.summary == dict(sim)

    options = {"components": 2, "width": 10, "n_init": 1, "max_iter": 30, "seed": 1}
    fit = nc.jobs.motifs_fit(tmp_path / "py.npz", tmp_path / "fit_py", **options)
    assert cli("motifs", "fit", tmp_path / "cli.npz", "--out", tmp_path / "fit_cli", "-k", 2, "-d", 10,
               "--n-init", 1, "--max-iter", 30, "--seed", 1) == 0  # fmt: skip
    other = summary_of(tmp_path / "fit_cli")
    assert untimed(fit.metrics) == untimed(other["metrics"])
    assert {**fit.summary["parameters"], "input": ""} == {**other["parameters"], "input": ""}
    # the result object: the folder, its summary.json as written, its report; indexing reads the summary
    assert fit.out == tmp_path / "fit_py" and fit.job == "motifs fit"
    assert fit.summary == summary_of(tmp_path / "fit_py") and fit["metrics"] == fit.metrics
    assert fit.report == tmp_path / "fit_py" / "report.html" and fit.report.is_file()
    # R^2 recomputed from the written model: X[t] = sum_k sum_d A[t - d, k] W[k, :, d]
    with np.load(tmp_path / "fit_py" / "fit.npz") as f:
        W, A = f["templates"].astype(np.float64), f["amplitudes"].astype(np.float64)
    pred = np.zeros(data.shape)
    for d in range(W.shape[2]):
        pred[d:] += A[: len(A) - d] @ W[:, :, d]
    X = data.astype(np.float64)
    assert fit.metrics["r2"] == pytest.approx(1 - ((X - pred) ** 2).sum() / ((X - X.mean()) ** 2).sum(), abs=1e-5)
    assert fit.metrics["n_spikes"] == int((A > 0).sum())


def test_motifs_fit_solver_seed_warns_and_records_reference(tmp_path):
    """The deprecated ``solver="seed"`` of the job: one FutureWarning, the reference solver's numbers, and the
    summary records the current name."""
    nc.jobs.motifs_simulate(tmp_path / "sim.npz", timesteps=300, channels=6, neurons=2, seed=3)
    options = {"components": 2, "width": 10, "seed": 1}
    with pytest.warns(FutureWarning, match='use solver="reference"') as record:
        old = nc.jobs.motifs_fit(tmp_path / "sim.npz", tmp_path / "old", solver="seed", **options)
    assert len(record) == 1
    new = nc.jobs.motifs_fit(tmp_path / "sim.npz", tmp_path / "new", solver="reference", **options)
    assert old.summary["parameters"]["solver"] == new.summary["parameters"]["solver"] == "reference"
    assert untimed(old.metrics) == untimed(new.metrics)
    with np.load(tmp_path / "old" / "fit.npz") as a, np.load(tmp_path / "new" / "fit.npz") as b:
        np.testing.assert_array_equal(a["amplitudes"], b["amplitudes"])


def test_screenome_simulate_and_bin_match_the_cli(tmp_path):
    log = nc.jobs.screenome_simulate(tmp_path / "py.csv", seed=2, hours=2, n_apps=6, bin="1min")
    assert cli("screenome", "simulate", "--out", tmp_path / "cli.csv", "--seed", 2, "--hours", 2, "--apps", 6,
               "--bin", "1min") == 0  # fmt: skip
    assert (tmp_path / "py.csv").read_bytes() == (tmp_path / "cli.csv").read_bytes()
    n_rows = len((tmp_path / "py.csv").read_text().splitlines()) - 1
    assert log["n_events"] == n_rows and log.out == tmp_path / "py.csv" and log.report is None

    binned = nc.jobs.screenome_bin(log["log"], tmp_path / "bin_py", bin="5min", top=3)
    assert cli("screenome", "bin", tmp_path / "cli.csv", "--out", tmp_path / "bin_cli", "--bin", "5min",
               "--top", 3) == 0  # fmt: skip
    other = summary_of(tmp_path / "bin_cli")
    assert untimed(binned.metrics) == untimed(other["metrics"])
    with np.load(tmp_path / "bin_py" / "binned.npz") as a, np.load(tmp_path / "bin_cli" / "binned.npz") as b:
        np.testing.assert_array_equal(a["data"], b["data"])
        data = a["data"]
    # closed forms: every event is binned once, top 3 apps + "other" channels, seconds of use add up
    assert binned.metrics["n_events"] == n_rows and binned.metrics["n_channels"] == data.shape[1] == 4
    assert binned.metrics["n_bins"] == data.shape[0] == 24  # 2 h in 5 min bins
    assert binned.metrics["total_seconds"] == pytest.approx(float(data.sum(dtype=np.float64)), rel=1e-6)
    assert binned.job == "screenome bin" and binned.report.is_file()


@pytest.fixture(scope="module")
def roi_video(tmp_path_factory):
    """A 40-frame video with known motion energy in three boxes, as an .npy frame stack, and its ROI file."""
    sim = nc.encode.simulate_roi_motion_video(n_frames=40, seed=1)
    root = tmp_path_factory.mktemp("video")
    np.save(root / "frames.npy", sim.frames)
    (root / "rois.toml").write_text("".join(f"[{r.name}]\nbox = {list(r.box)}\n" for r in sim.rois))
    return sim, root


def test_video_motion_matches_the_cli_and_the_truth(tmp_path, roi_video):
    sim, root = roi_video
    result = nc.jobs.video_motion(root / "frames.npy", tmp_path / "py", rois=root / "rois.toml", svd=2)
    assert cli("video", "motion", root / "frames.npy", "--out", tmp_path / "cli", "--rois", root / "rois.toml",
               "--svd", 2) == 0  # fmt: skip
    assert untimed(result.metrics) == untimed(summary_of(tmp_path / "cli")["metrics"])
    with np.load(tmp_path / "py" / "motion.npz") as a, np.load(tmp_path / "cli" / "motion.npz") as b:
        for key in ("motion_energy", "svd_temporal", "svd_singular_values"):
            np.testing.assert_array_equal(a[key], b[key])
        np.testing.assert_allclose(a["motion_energy"], sim.motion_energy, atol=1e-9)  # ground truth
    assert result["frames"] == 40 and result["rois"] == [r.name for r in sim.rois] and not result["truncated"]
    assert result.job == "video motion" and result.out == tmp_path / "py"


def test_imaging_dff_matches_the_cli_and_the_in_memory_transform(tmp_path):
    from neurocine.features.widefield import preprocess_widefield

    rng = np.random.default_rng(0)
    stack = (100 + 10 * rng.random((40, 12, 16))).astype(np.float32)
    np.save(tmp_path / "stack.npy", stack)
    result = nc.jobs.imaging_dff(tmp_path / "stack.npy", tmp_path / "py", window=10, blur=0, bin=2)
    assert cli("imaging", "dff", tmp_path / "stack.npy", "--out", tmp_path / "cli", "--window", 10, "--blur", 0,
               "--bin", 2) == 0  # fmt: skip
    assert untimed(result.metrics) == untimed(summary_of(tmp_path / "cli")["metrics"])
    dff = np.load(tmp_path / "py" / "dff.npy")
    np.testing.assert_array_equal(dff, np.load(tmp_path / "cli" / "dff.npy"))
    np.testing.assert_array_equal(dff, preprocess_widefield(stack, 10, blur=None, bin=2))
    assert result["shape"] == [40, 6, 8] == list(dff.shape) and result["frames"] == 40


# --------------------------------------------------------------------------- #
# JobResult and the report job
# --------------------------------------------------------------------------- #
def test_job_result_opens_a_folder_and_reads_like_its_values(tmp_path, roi_video):
    _, root = roi_video
    run = nc.jobs.video_motion(root / "frames.npy", tmp_path / "run", rois=root / "rois.toml")
    again = nc.JobResult(tmp_path / "run")  # an earlier result, opened from its folder
    assert again.summary == run.summary and dict(again) == run.summary and again.report == run.report
    assert set(run) == {"out", "frames", "seconds", "rois", "truncated", "n_decoded"}  # the job's values
    text = repr(run)
    assert text.startswith(f"<JobResult video motion -> {tmp_path / 'run'}")
    assert f"report: {run.report}" in text and "metrics: frames 40" in text
    assert json.loads(json.dumps(to_jsonable(run))) == json.loads(json.dumps(to_jsonable(dict(run))))
    copy = pickle.loads(pickle.dumps(run))
    assert copy == run and copy.summary == run.summary and copy.out == run.out
    with pytest.raises(InputError, match=r"has no summary\.json; expected a neurocine result folder"):
        nc.JobResult(root)


def test_report_job_rebuilds_or_merges_pages(tmp_path, roi_video):
    _, root = roi_video
    for name in ("a", "b"):
        nc.jobs.video_motion(root / "frames.npy", tmp_path / name, rois=root / "rois.toml", figures=False)
    (tmp_path / "a" / "report.html").unlink()
    pages = nc.jobs.report([tmp_path / "a", tmp_path / "b"], title="two runs")
    assert [p.report for p in pages] == [tmp_path / "a" / "report.html", tmp_path / "b" / "report.html"]
    assert all(p.report.is_file() and "two runs" in p.report.read_text() for p in pages)
    assert [p.job for p in pages] == ["video motion"] * 2
    merged = nc.jobs.report([tmp_path / "a", tmp_path / "b"], out=tmp_path / "both.html")
    assert [p.report for p in merged] == [tmp_path / "both.html"] * 2 and (tmp_path / "both.html").is_file()
    assert cli("report", tmp_path / "a", "--out", tmp_path / "cli.html") == 0
    assert (tmp_path / "cli.html").is_file()
