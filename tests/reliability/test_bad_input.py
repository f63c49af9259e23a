"""Reliability across every job: bad input gets one clear line, exit status 2, and nothing is written.

Each case runs the console entry point (``neurocine.cli.main``) on a file that is missing,
empty, truncated, corrupt, holds NaNs, has the wrong shape, is misaligned with another
stream, or a config with an unknown key. The error line must name the offending file or
argument; the working folder must be exactly as before (no result folder, no temporary
sibling). The cases run in the test process, with its stderr captured at the file
descriptor (what C libraries print included) and warnings shown as a plain run would show
them: a subprocess per case cost 3-5 s of CPU importing torch and scikit-learn again. The
real ``python -m neurocine.cli`` in a subprocess, as a user runs it, is tested by the
report, output-folder and good-input tests at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _cli import run_in_process


def neurocine(*args, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "NEUROCINE_PROGRESS": "0"}
    return subprocess.run(
        [sys.executable, "-m", "neurocine.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    """One folder of good and bad inputs shared by the cases (each case copies nothing and writes nothing)."""
    from neurocine.io.video import write_video

    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    clip = rng.integers(0, 255, (40, 32, 48), dtype=np.uint8)
    write_video(root / "good.mp4", clip, fps=30)
    data = (root / "good.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (root / "text.mp4").write_text("this is not a video\n")
    (root / "empty.npy").write_bytes(b"")
    stack = rng.uniform(100, 200, (30, 16, 16)).astype(np.float32)
    np.save(root / "stack.npy", stack)
    bad = stack.copy()
    bad[4, 3, 3] = np.nan
    np.save(root / "nan_stack.npy", bad)
    np.save(root / "flat.npy", stack[0])
    signal = rng.normal(size=(200, 6))
    np.savez(root / "signal.npz", data=signal)
    (root / "corrupt.npz").write_bytes((root / "signal.npz").read_bytes()[:100])
    with_inf = signal.copy()
    with_inf[5, 2] = np.inf
    np.savez(root / "inf.npz", data=with_inf)
    (root / "signal.txt").write_bytes((root / "signal.npz").read_bytes())
    (root / "backwards.csv").write_text(
        "time,a,b\n0,1,2\n1,2,3\n0.5,3,4\n" + "".join(f"{t},1,1\n" for t in range(2, 9))
    )
    (root / "no_app.csv").write_text("timestamp,participant\n2024-01-01 10:00:00,p1\n")
    (root / "bad_time.csv").write_text("timestamp,app\nyesterday,mail\n2024-01-01 10:00:00,mail\n")
    (root / "sessions.csv").write_text("session,path\ns1,good.mp4\n")
    (root / "good_sessions.csv").write_text("session,video\ns1,good.mp4\n")
    (root / "no_summary").mkdir()
    (root / "bad_summary").mkdir()
    (root / "bad_summary" / "summary.json").write_text("{not json")
    # an encode session: 40 frames of video, 39 rows of behaviour (misaligned), a widefield stack
    np.save(root / "wf.npy", rng.uniform(900, 1100, (40, 8, 8)).astype(np.float32))
    (root / "behaviour.csv").write_text("wheel\n" + "\n".join(f"{v:.3f}" for v in rng.normal(size=39)) + "\n")
    (root / "misaligned.toml").write_text(
        "fps = 30\n[video]\npath = 'good.mp4'\n[behaviour]\npath = 'behaviour.csv'\n[neural]\npath = 'wf.npy'\n"
    )
    (root / "unknown_key.toml").write_text("fps = 30\n[neural]\npath = 'wf.npy'\nwindw = 3\n")
    # a sync file with 38 widefield pulses (two missing after the 10th) for the 40-frame stack
    pulses = [k / 30 for k in range(40) if k not in (10, 11)]
    (root / "sync.csv").write_text("channel,onset\n" + "".join(f"widefield,{t:.6f}\n" for t in pulses))
    (root / "gap.toml").write_text(
        "[behaviour]\npath = 'behaviour.csv'\n[sync]\npath = 'sync.csv'\nframes = 'widefield'\n[neural]\npath = 'wf.npy'\n"
    )
    (root / "one_level.csv").write_text("wheel,stim\n" + "".join(f"{v:.3f},left\n" for v in rng.normal(size=40)))
    (root / "one_level.toml").write_text(
        "fps = 30\n[behaviour]\npath = 'one_level.csv'\ncategorical = ['stim']\n[neural]\npath = 'wf.npy'\n"
    )
    (root / "encode_sessions.csv").write_text("session,config\ns1,unknown_key.toml\n")
    # image sequences: one unreadable frame, one frame of another size
    from PIL import Image

    for name in ("broken_frames", "mixed_sizes"):
        (root / name).mkdir()
        for i in range(4):
            Image.fromarray(clip[i]).save(root / name / f"{i + 1}.png")
    (root / "broken_frames" / "3.png").write_bytes(b"not a png")
    Image.fromarray(clip[0, :16]).save(root / "mixed_sizes" / "2.png")
    # a raw tetrode file: 1000 samples x 4 int16 channels, and one cut 3 bytes short
    rng.integers(-100, 100, (1000, 4), dtype=np.int16).tofile(root / "tetrode.raw")
    (root / "cut.raw").write_bytes((root / "tetrode.raw").read_bytes()[:-3])
    return root


# name: (argv without --out, words the error line must contain)
CASES = {
    "motifs-missing": (("motifs", "fit", "missing.npz", "-k", "2", "-d", "5"), ["missing.npz"]),
    "motifs-corrupt-npz": (("motifs", "fit", "corrupt.npz", "-k", "2", "-d", "5"), ["corrupt.npz"]),
    "motifs-empty-npy": (("motifs", "fit", "empty.npy", "-k", "2", "-d", "5"), ["empty.npy"]),
    "motifs-inf": (("motifs", "fit", "inf.npz", "-k", "2", "-d", "5"), ["inf.npz", "infinite", "row 5"]),
    "motifs-wrong-extension": (("motifs", "fit", "signal.txt", "-k", "2", "-d", "5"), ["signal.txt", "'.txt'"]),
    "motifs-time-not-increasing": (
        ("motifs", "fit", "backwards.csv", "-k", "2", "-d", "3"),
        ["backwards.csv", "not strictly increasing", "line 4"],
    ),
    "video-missing": (("video", "motion", "missing.mp4"), ["missing.mp4"]),
    "video-not-a-video": (("video", "motion", "text.mp4"), ["text.mp4"]),
    "video-truncated": (("video", "motion", "truncated.mp4"), ["truncated.mp4"]),
    "video-unknown-first": (("video", "motion", "good.mp4", "--first", "one"), ["--first", "one"]),
    "video-frames-unreadable": (("video", "motion", "broken_frames"), ["3.png", "cannot be read"]),
    "video-frames-of-two-sizes": (("video", "motion", "mixed_sizes"), ["2.png", "48x16", "48x32"]),
    "pupil-roi-outside-frame": (("video", "pupil", "good.mp4", "--roi", "40,0,60,20"), ["'eye'", "outside"]),
    "pupil-no-dark-region": (
        ("video", "pupil", "stack.npy", "--roi", "0,0,16,16"),
        ["stack.npy", "no dark region"],
    ),
    "imaging-nan": (("imaging", "dff", "nan_stack.npy"), ["nan_stack.npy", "NaN"]),
    "imaging-2d": (("imaging", "dff", "flat.npy"), ["flat.npy"]),
    "imaging-empty": (("imaging", "dff", "empty.npy"), ["empty.npy"]),
    "screenome-no-app-column": (("screenome", "bin", "no_app.csv", "--bin", "60s"), ["no_app.csv"]),
    "screenome-bad-timestamp": (("screenome", "bin", "bad_time.csv", "--bin", "60s"), ["bad_time.csv"]),
    "encode-missing-config": (("encode", "nothing.toml"), ["nothing.toml"]),
    "encode-unknown-key": (("encode", "unknown_key.toml"), ["unknown_key.toml", "windw"]),
    "encode-misaligned": (("encode", "misaligned.toml"), ["behaviour.csv", "39"]),
    "sort-raw-not-whole-samples": (
        ("motifs", "sort", "cut.raw", "--dtype", "int16", "--channels", "4", "--fs", "15000"),
        ["cut.raw", "7997 bytes", "multiple of 8"],
    ),
    "sort-template-under-3-samples": (
        ("motifs", "sort", "tetrode.raw", "--dtype", "int16", "--channels", "4", "--fs", "1000"),
        ["tetrode.raw", "--fs", "2 samples"],
    ),
    "sort-raw-without-dtype": (("motifs", "sort", "tetrode.raw", "--channels", "4"), ["tetrode.raw", "--dtype"]),
    "batch-no-video-column": (("batch", "motion", "sessions.csv"), ["sessions.csv", "video"]),
    "batch-video-as-sessions": (("batch", "motion", "good.mp4"), ["good.mp4", "not a sessions table"]),
    "batch-zero-workers": (("batch", "motion", "good_sessions.csv", "--workers", "0"), ["--workers", "got 0"]),
    "encode-sync-pulses-disagree-with-movie": (
        ("encode", "gap.toml"),
        ["sync.csv", "has 38 pulses", "wf.npy has 40 frames (2 fewer pulses)", "after pulse 9", "2 frames missing"],
    ),
    "encode-categorical-one-level": (("encode", "one_level.toml"), ["one_level.csv", "'stim'", "single level 'left'"]),
    "batch-encode-no-config-column": (("batch", "encode", "good_sessions.csv"), ["good_sessions.csv", "config"]),
    "batch-encode-zero-workers": (("batch", "encode", "encode_sessions.csv", "--workers", "0"), ["--workers", "got 0"]),
    # sizes the data cannot hold (signal.npz is 200 x 6, stack.npy 30 frames): refused before any work
    "motifs-more-units-than-fit": (
        ("motifs", "fit", "signal.npz", "-k", "41", "-d", "5"),
        ["got 41", "[1, 40]", "200 time steps"],
    ),
    "motifs-rank-above-template": (
        ("motifs", "fit", "signal.npz", "-k", "2", "-d", "5", "--rank", "7"),
        ["got 7", "[1, 5]", "6 channels x width 5"],
    ),
    "motifs-zero-sweeps": (("motifs", "fit", "signal.npz", "-k", "2", "-d", "5", "--max-iter", "0"), ["got 0", ">= 1"]),
    "motifs-behaviour-without-rate": (
        ("motifs", "fit", "signal.npz", "-k", "2", "-d", "5", "--behaviour", "signal.npz"),
        ["--behaviour", "no sampling rate", "--fs"],
    ),
    "motifs-behaviour-missing": (
        ("motifs", "fit", "signal.npz", "-k", "2", "-d", "5", "--fs", "100", "--behaviour", "song.csv"),
        ["song.csv", "file not found"],
    ),
    "motifs-select-more-units-than-fit": (
        ("motifs", "select", "signal.npz", "--components", "2-41", "-d", "5"),
        ["got 41", "[1, 40]"],
    ),
    "video-more-svd-components-than-motion-frames": (
        ("video", "motion", "good.mp4", "--svd", "40"),
        ["got 40", "[0, 39]", "40 frames"],
    ),
    "imaging-window-longer-than-stack": (
        ("imaging", "dff", "stack.npy", "--window", "31"),
        ["window", "got 31", "[1, 30]", "30 frames"],
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_bad_input_one_line_exit_2_nothing_written(files, case, monkeypatch, capfd):
    args, words = CASES[case]
    before = sorted(p.name for p in files.iterdir())
    proc = run_in_process(*args, "--out", "result", cwd=files, monkeypatch=monkeypatch, capfd=capfd)
    assert proc.returncode == 2, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]
    assert sorted(p.name for p in files.iterdir()) == before


@pytest.mark.parametrize(
    "folder, words", [("no_summary", ["no_summary", "summary.json"]), ("bad_summary", ["summary.json", "JSON"])]
)
def test_report_of_a_folder_that_is_not_a_job(files, folder, words):
    before = sorted(p.name for p in (files / folder).iterdir())
    proc = neurocine("report", folder, cwd=files)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and all(w in lines[0] for w in words), proc.stderr
    assert sorted(p.name for p in (files / folder).iterdir()) == before


def test_output_inside_a_file_is_refused(files, tmp_path):
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    proc = neurocine("imaging", "dff", files / "stack.npy", "--out", blocker / "result", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "blocker" in lines[0], proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


def test_good_input_of_the_same_fixture_runs(files, tmp_path):
    """The bad cases fail for the reason named, not because the fixture is broken: the good twins run."""
    proc = neurocine("imaging", "dff", files / "stack.npy", "--out", tmp_path / "dff", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = neurocine("video", "motion", files / "good.mp4", "--out", tmp_path / "motion", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads((tmp_path / "motion" / "summary.json").read_text())["metrics"]["frames"] == 40


def test_the_largest_possible_sizes_of_the_same_fixture_run(files):
    """The boundary twins of the size cases: 39 motion components of 40 frames, a 30-frame window on 30 frames."""
    from neurocine.encode.video_jobs import compute_motion
    from neurocine.features.widefield import dff

    result, _ = compute_motion(files / "good.mp4", n_svd=39)
    assert result.svd_temporal.shape == (40, 1, 39) and np.isfinite(result.svd_temporal).all()
    stack = np.load(files / "stack.npy")
    f0 = stack.mean(0, dtype=np.float64)
    np.testing.assert_allclose(dff(stack, 30, mode="block", dtype=np.float64), (stack - f0) / f0, atol=1e-12)
