"""``neurocine batch encode``: one encode per session on Dask, a failed session reported, a resume, one comparison."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from _cli import cli

import neurocine as nc

pytest.importorskip("dask.distributed")

T, H, W = 300, 6, 8


def _write_session(root, name, seed, gain):
    """A tiny widefield session: pixels driven by behaviour columns a (left half) and b (right half); null has no effect."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(T, 3))
    maps = np.zeros((3, H, W))
    maps[0, :, : W // 2] = gain
    maps[1, :, W // 2 :] = 1.0
    movie = np.einsum("tf,fhw->thw", X, maps) + 0.3 * rng.normal(size=(T, H, W))
    folder = root / name
    folder.mkdir()
    np.save(folder / "wf.npy", movie.astype(np.float32))
    np.savetxt(folder / "b.csv", X, delimiter=",", header="a,b,null", comments="")
    (folder / "encode.toml").write_text(
        f'name = "{name}"\nfps = 10\n[behaviour]\npath = "b.csv"\n[neural]\npath = "wf.npy"\ndff = "none"\n'
        'mask = "none"\n[model]\nalphas = [0.1, 10.0]\ncv = 3\n'
    )


def test_batch_encode_runs_each_session_reports_the_failed_one_resumes_and_compares(tmp_path, capsys):
    _write_session(tmp_path, "s1", 1, 0.3)
    _write_session(tmp_path, "s2", 2, 2.0)
    (tmp_path / "broken.toml").write_text('[neural]\npath = "nothing.npy"\n')
    (tmp_path / "sessions.csv").write_text("session,config\ns1,s1/encode.toml\nbroken,broken.toml\ns2,s2/encode.toml\n")
    out = tmp_path / "batch"
    res = nc.jobs.batch_encode(tmp_path / "sessions.csv", out, n_workers=1, processes=False, figures=False)
    assert (res["ok"], res["failed"], res["skipped"]) == (2, 1, 0)
    rows = list(csv.DictReader((out / "batch.csv").open()))
    assert [(r["session"], r["status"]) for r in rows] == [("s1", "ok"), ("broken", "failed"), ("s2", "ok")]
    assert "[neural] path:" in rows[1]["error"] and "nothing.npy does not exist" in rows[1]["error"]
    assert rows[0]["frames"] == str(T) and rows[0]["targets"] == str(H * W)
    # each session's folder is what neurocine encode writes; the comparison reads their summaries
    own = {n: json.loads((out / n / "summary.json").read_text())["metrics"] for n in ("s1", "s2")}
    table = {r["session"]: r for r in csv.DictReader((out / "unique_ev.csv").open())}
    assert list(table["s1"]) == ["session", "full model", "a", "b", "null"]
    assert table["broken"]["a"] == ""
    for n in ("s1", "s2"):
        assert float(table[n]["full model"]) == pytest.approx(own[n]["mean_cv_ev"], rel=1e-5)
        for g in ("a", "b", "null"):
            assert float(table[n][g]) == pytest.approx(own[n]["unique"][g], rel=1e-5, abs=1e-9)
        assert own[n]["unique"]["null"] < 0.01 < own[n]["unique"]["a"]  # the planted groups carry unique EV
    # a drives the left half (gain g, noise SD 0.3) and nothing else explains it: its unique EV averaged over
    # the pixels is half the left half's g^2 / (g^2 + 0.09)
    for n, g in (("s1", 0.3), ("s2", 2.0)):
        assert own[n]["unique"]["a"] == pytest.approx(0.5 * g**2 / (g**2 + 0.09), abs=0.03)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["job"] == "batch encode" and summary["metrics"]["unique"]["s2"]["a"] == pytest.approx(
        own["s2"]["unique"]["a"], rel=1e-5
    )
    assert (out / "ev_maps.png").stat().st_size > 0 and (out / "unique_ev.png").stat().st_size > 0
    html = (out / "report.html").read_text()
    assert 'href="s1/report.html"' in html and "ev_maps.png" in html and "nothing.npy" in html

    # resume: the done sessions are skipped, the fixed one runs
    _write_session(tmp_path, "fixed", 3, 1.0)
    (tmp_path / "sessions.csv").write_text(
        "session,config\ns1,s1/encode.toml\nbroken,fixed/encode.toml\ns2,s2/encode.toml\n"
    )
    before = (out / "s1" / "summary.json").read_text()
    res = nc.jobs.batch_encode(tmp_path / "sessions.csv", out, n_workers=1, processes=False, figures=False)
    assert [r["status"] for r in res["results"]] == ["skipped (done earlier)", "ok", "skipped (done earlier)"]
    assert (out / "s1" / "summary.json").read_text() == before
    table = {r["session"]: r for r in csv.DictReader((out / "unique_ev.csv").open())}
    assert float(table["broken"]["a"]) > 0.01


def test_batch_encode_bad_sessions_file(tmp_path, capsys):
    (tmp_path / "s.csv").write_text("session,video\nx,y.mp4\n")
    assert cli("batch", "encode", tmp_path / "s.csv", "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert "column(s) ['config'] missing" in err and "expected columns session, config" in err and "\n" not in err
    assert not (tmp_path / "o").exists()
