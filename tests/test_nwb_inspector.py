"""NWB files the jobs write pass the NWB Inspector (no CRITICAL or BEST_PRACTICE_VIOLATION finding) when
given session and subject metadata (--nwb-meta), share one session, store regular clocks as a rate, and
--nwb fails before any work without pynwb."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _cli import cli
from _errors import raises_naming

from neurocine.io.nwbmeta import NWBMetadata, read_nwb_metadata, regular_clock
from neurocine.io.video import write_video

pynwb = pytest.importorskip("pynwb")
nwbinspector = pytest.importorskip("nwbinspector")

pytestmark = pytest.mark.nwb

META = """\
subject_id: m3
species: Mus musculus
sex: M
age: P90D
session_description: open field, top camera
session_start_time: 2024-03-01T10:30:00+01:00
experimenter: ["Doe, Jane"]
institution: Some University
"""


@pytest.fixture
def clip(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 255, size=(12, 24, 32), dtype=np.uint8)
    return write_video(tmp_path / "clip.mp4", frames, fps=20.0, lossless=True)


def inspector_findings(path):
    """(importance, check) of every finding the NWB Inspector makes on ``path``."""
    return [(m.importance.name, m.check_function_name) for m in nwbinspector.inspect_nwbfile(nwbfile_path=str(path))]


def test_every_nwb_file_of_video_motion_passes_the_inspector(tmp_path, clip):
    (tmp_path / "meta.yaml").write_text(META)
    out = tmp_path / "o"
    assert cli("video", "motion", clip, "--out", out, "--svd", 2, "--nwb-meta", tmp_path / "meta.yaml") == 0
    files = sorted(out.glob("*.nwb"))
    assert [f.name for f in files] == ["motion.nwb", "motion_svd_full.nwb"]
    sessions = set()
    for f in files:
        bad = [x for x in inspector_findings(f) if x[0] in ("CRITICAL", "BEST_PRACTICE_VIOLATION")]
        assert bad == [], (f.name, bad)
        with pynwb.NWBHDF5IO(str(f), "r") as io:
            nwb = io.read()
            assert nwb.subject.subject_id == "m3" and nwb.subject.species == "Mus musculus"
            assert nwb.subject.age == "P90D" and nwb.experimenter == ("Doe, Jane",)
            assert nwb.session_start_time.isoformat() == "2024-03-01T10:30:00+01:00"
            assert nwb.identifier == f"{nwb.session_id}-{f.stem}"
            sessions.add(nwb.session_id)
            series = [v for v in nwb.objects.values() if isinstance(v, pynwb.TimeSeries)]
            assert series  # the regular video clock is stored as a rate
            for ts in series:
                assert ts.timestamps is None and ts.rate == pytest.approx(20.0) and ts.starting_time == 0.0
    assert len(sessions) == 1  # one session across the job's files


def test_without_metadata_only_the_subject_is_missing(tmp_path, clip):
    assert cli("video", "motion", clip, "--out", tmp_path / "o", "--nwb") == 0
    found = inspector_findings(tmp_path / "o" / "motion.nwb")
    assert [x for x in found if x[0] in ("CRITICAL", "BEST_PRACTICE_VIOLATION")] == [
        ("CRITICAL", "check_subject_exists")
    ]


def test_nwb_without_pynwb_fails_before_any_work(tmp_path, clip, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynwb", None)  # import pynwb now raises ImportError
    assert cli("video", "motion", clip, "--out", tmp_path / "o", "--nwb") == 2
    err = capsys.readouterr().err
    assert "pip install neurocine[nwb]" in err and "--nwb" in err
    assert not (tmp_path / "o").exists()


def test_bad_metadata_files(tmp_path, clip):
    cases = {
        "sex.yaml": ("sex: male\n", "M, F, U, O"),
        "age.yaml": ("age: 90 days\n", "ISO 8601 duration"),
        "species.yaml": ("species: mouse\n", "Latin binomial"),
        "field.toml": ('[nwb]\nsubjekt_id = "m3"\n', "unknown field"),
        "time.json": ('{"session_start_time": "yesterday"}', "ISO 8601 date"),
    }
    for name, (text, match) in cases.items():
        (tmp_path / name).write_text(text)
        with raises_naming(name, match=match):
            read_nwb_metadata(tmp_path / name)
    assert cli("video", "motion", clip, "--out", tmp_path / "o", "--nwb-meta", tmp_path / "sex.yaml") == 2
    assert not (tmp_path / "o").exists()
    (tmp_path / "cfg.toml").write_text('[nwb]\nsubject_id = "m3"\nexperimenter = "Doe, Jane"\n')
    assert read_nwb_metadata(tmp_path / "cfg.toml") == NWBMetadata(subject_id="m3", experimenter=("Doe, Jane",))


def test_regular_clock():
    t = 3.0 + np.arange(100) / 30.0
    start, rate = regular_clock(t)
    assert start == 3.0 and rate == pytest.approx(30.0, rel=1e-12)
    jitter = t + np.r_[0.0, 1e-3, np.zeros(98)]  # 3 % of a frame
    assert regular_clock(jitter) is None
    assert regular_clock(t[:1]) is None


def test_pupil_nwb_passes_the_inspector(tmp_path):
    from neurocine.encode.simulate_video import simulate_eye_video

    eye = simulate_eye_video(n_frames=40, n_blinks=1, seed=1)
    video = write_video(tmp_path / "eye.mp4", eye.frames, fps=20, lossless=True)
    (tmp_path / "meta.yaml").write_text(META)
    out = tmp_path / "p"
    box = f"0,0,{eye.frames.shape[2]},{eye.frames.shape[1]}"
    assert cli("video", "pupil", video, "--roi", box, "--out", out, "--nwb-meta", tmp_path / "meta.yaml") == 0
    bad = [x for x in inspector_findings(out / "pupil.nwb") if x[0] in ("CRITICAL", "BEST_PRACTICE_VIOLATION")]
    assert bad == []
    with pynwb.NWBHDF5IO(str(out / "pupil.nwb"), "r") as io:
        assert io.read().subject.subject_id == "m3"
