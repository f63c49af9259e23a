"""The feature jobs end to end: imaging dF/F, NWB export of motion, batch over sessions on Dask."""

import csv
import json

import numpy as np
import pytest
from _cli import cli

pytest.importorskip("av")

from neurocine.encode.simulate_video import simulate_roi_motion_video
from neurocine.features.widefield import preprocess_widefield
from neurocine.io.video import write_video


def test_imaging_dff_writes_what_preprocess_widefield_computes(tmp_path):
    rng = np.random.default_rng(0)
    movie = (1000 + 30 * rng.normal(size=(90, 40, 36))).astype(np.float32)
    movie[:, 10:20, 10:20] *= 1 + 0.2 * np.sin(np.arange(90) / 5)[:, None, None]
    np.save(tmp_path / "wf.npy", movie)
    assert (
        cli("imaging", "dff", tmp_path / "wf.npy", "--window", 15, "--blur", 1.0, "--bin", 2, "--out", tmp_path / "out")
        == 0
    )
    got = np.load(tmp_path / "out" / "dff.npy")
    ref = preprocess_widefield(movie, 15, blur=1.0, bin=2)
    assert got.shape == (90, 20, 18)
    np.testing.assert_allclose(got, ref, rtol=1e-6, atol=1e-7)
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["metrics"]["frames"] == 90 and (tmp_path / "out" / "dff.png").exists()


def test_imaging_dff_otsu_mask_and_bad_mask(tmp_path, capsys):
    movie = np.full((40, 32, 32), 5.0, np.float32)
    movie[:, 8:24, 8:24] = 900 + np.random.default_rng(1).normal(size=(40, 16, 16))
    np.save(tmp_path / "wf.npy", movie)
    assert (
        cli("imaging", "dff", tmp_path / "wf.npy", "--bin", 1, "--blur", 0, "--mask", "otsu", "--out", tmp_path / "o")
        == 0
    )
    mask = np.load(tmp_path / "o" / "mask.npy")
    assert mask.sum() == 16 * 16 and mask[8:24, 8:24].all()
    dff = np.load(tmp_path / "o" / "dff.npy")
    assert np.isnan(dff[:, ~mask]).all() and np.isfinite(dff[:, mask]).all()
    assert cli("imaging", "dff", tmp_path / "wf.npy", "--mask", "nothing.npy", "--out", tmp_path / "o2") == 2
    assert "--mask nothing.npy" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()


def test_motion_nwb_round_trips_through_the_signal_reader(tmp_path):
    pytest.importorskip("pynwb")
    from neurocine.io.signals import read_signal_matrix

    sim = simulate_roi_motion_video(n_frames=40, seed=1)
    video = write_video(tmp_path / "v.mp4", sim.frames, lossless=True)
    assert cli("video", "motion", video, "--svd", 2, "--nwb", "--out", tmp_path / "m") == 0
    sig = read_signal_matrix(tmp_path / "m" / "motion.nwb")
    np.testing.assert_allclose(sig.data[:, 0], sim.full_motion_energy, atol=1e-9)
    assert (tmp_path / "m" / "motion_svd_full.nwb").exists()


def test_batch_runs_every_session_reports_the_failed_one_and_resumes(tmp_path, capsys):
    pytest.importorskip("dask.distributed")
    sims = {}
    for name, seed in (("a", 1), ("b", 2)):
        sims[name] = simulate_roi_motion_video(n_frames=60, seed=seed)
        write_video(tmp_path / f"{name}.mp4", sims[name].frames, lossless=True)
    (tmp_path / "rois.toml").write_text("".join(f"[{r.name}]\nbox = {list(r.box)}\n" for r in sims["a"].rois))
    (tmp_path / "sessions.csv").write_text("session,video\na,a.mp4\nbroken,nothing.mp4\nb,b.mp4\n")
    code = cli(
        "batch",
        "motion",
        tmp_path / "sessions.csv",
        "--rois",
        tmp_path / "rois.toml",
        "--workers",
        2,
        "--out",
        tmp_path / "batch",
    )
    assert code == 1
    assert "broken: " in capsys.readouterr().out
    rows = list(csv.DictReader((tmp_path / "batch" / "batch.csv").open()))
    assert [(r["session"], r["status"]) for r in rows] == [("a", "ok"), ("broken", "failed"), ("b", "ok")]
    assert "nothing.mp4: no such file" in rows[1]["error"]
    for name in ("a", "b"):
        with np.load(tmp_path / "batch" / name / "motion.npz") as z:
            np.testing.assert_allclose(z["motion_energy"], sims[name].motion_energy, atol=1e-12)
    # the batch folder's own summary and report: counts, the sessions x ROIs table of mean motion energy
    # (the truth's means; the failed session's row empty), and links to each session's report
    summary = json.loads((tmp_path / "batch" / "summary.json").read_text())
    assert summary["job"] == "batch motion" and summary["parameters"]["rois"] == str(tmp_path / "rois.toml")
    assert {k: summary["metrics"][k] for k in ("sessions", "ok", "failed", "skipped")} == {
        "sessions": 3,
        "ok": 2,
        "failed": 1,
        "skipped": 0,
    }
    assert summary["metrics"]["frames_this_run"] == 120
    table = list(csv.reader((tmp_path / "batch" / "mean_motion_energy.csv").open()))
    rois = [r.name for r in sims["a"].rois]
    assert table[0] == ["session", *sorted(rois)] and [row[0] for row in table[1:]] == ["a", "broken", "b"]
    assert table[2][1:] == [""] * len(rois)
    for row, name in ((table[1], "a"), (table[3], "b")):
        truth = dict(zip(rois, np.nanmean(sims[name].motion_energy, axis=0)))
        np.testing.assert_allclose([float(v) for v in row[1:]], [truth[r] for r in sorted(rois)], rtol=1e-5)
    html = (tmp_path / "batch" / "report.html").read_text()
    assert 'href="a/report.html"' in html and 'href="b/report.html"' in html and "mean_motion_energy.png" in html
    assert "broken" in html and "nothing.mp4: no such file" in html  # the batch.csv table
    # a rerun skips what is done and retries only the failed session
    (tmp_path / "sessions.csv").write_text("session,video\na,a.mp4\nb,b.mp4\n")
    assert (
        cli("batch", "motion", tmp_path / "sessions.csv", "--rois", tmp_path / "rois.toml", "--out", tmp_path / "batch")
        == 0
    )
    rows = list(csv.DictReader((tmp_path / "batch" / "batch.csv").open()))
    assert [r["status"] for r in rows] == ["skipped (done earlier)"] * 2


def test_batch_bad_sessions_file(tmp_path, capsys):
    (tmp_path / "s.csv").write_text("name,path\nx,y.mp4\n")
    assert cli("batch", "motion", tmp_path / "s.csv", "--out", tmp_path / "o") == 2
    assert "column(s) ['session', 'video'] missing" in capsys.readouterr().err
