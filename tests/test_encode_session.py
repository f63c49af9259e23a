"""A rig's session (sync file, events, text task variables) put on the widefield frame clock, then encoded."""

from __future__ import annotations

import json

import numpy as np
import pytest
from _cli import cli
from _errors import raises_naming

from neurocine.encode.jobs import load_encode_config, prepare_data, run_encode
from neurocine.encode.session import categorical_columns, event_regressor, frame_clock, session_features, time_since
from neurocine.features.timing import convolve_regressors, hemodynamic_kernel
from neurocine.io.tables import read_sync, read_table

FPS, N_SLOTS, DAQ = 20.0, 800, 1000.0  # widefield frames, slots (recorded + dropped), DAQ samples per second
T0 = 0.5  # first widefield pulse on the DAQ clock (s)
DROPPED = [200, 201, 530]  # widefield frame slots with no frame (and no pulse)
COLUMNS = ["lick", "lick_since", "puff", "wheel", "pupil", "stimulus=left", "stimulus=right"]
BETA = np.array(  # planted weights (feature x trace), per unit of each regressor; lick_since has none
    [
        [0.8, 0.0, 0.3, -0.5, 0.0, 0.2],
        [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        [0.0, 0.6, 0.0, 0.4, -0.3, 0.0],
        [0.3, -0.2, 0.0, 0.0, 0.5, 0.1],
        [0.0, 0.4, 0.6, 0.0, 0.0, -0.3],
        [0.5, 0.0, -0.4, 0.0, 0.3, 0.0],
        [0.0, -0.5, 0.0, 0.6, 0.0, 0.4],
    ]
)
PUFF_S = 0.3  # air-puff pulse length (s)


def _smooth(rng, n, width):
    x = np.convolve(rng.normal(size=n + 4 * width), np.hanning(2 * width + 1), mode="same")[2 * width : -2 * width]
    return x / x.std()


def _write_session(root, rng=None):
    """Sync csv (TTL samples), behaviour csv (its own clock, a text stimulus column), traces; returns the truth."""
    rng = rng or np.random.default_rng(0)
    slots = np.arange(N_SLOTS)
    tau = T0 + slots / FPS  # frame slot times on the DAQ clock
    recorded = np.setdiff1d(slots, DROPPED)
    n_daq = int((tau[-1] + 1.0) * DAQ)
    t_daq = np.arange(n_daq) / DAQ
    frames = np.zeros(n_daq)
    for k in recorded:
        i = int(round(tau[k] * DAQ))
        frames[i : i + 5] = 5.0
    lick_slots = np.sort(rng.choice(np.arange(5, N_SLOTS - 5), 60, replace=False))
    lick_on = tau[lick_slots] + 0.013
    lick = np.zeros(n_daq)
    for t in lick_on:
        i = int(round(t * DAQ))
        lick[i : i + 20] = 5.0
    puff_slots = np.arange(30, N_SLOTS - 20, 37)
    puff = np.zeros(n_daq)
    for s in puff_slots:
        i = int(round((tau[s] + 0.02) * DAQ))
        puff[i : i + int(PUFF_S * DAQ)] = 5.0
    wheel = _smooth(rng, n_daq, 200)
    camera = np.zeros(n_daq)  # the face camera: 25 Hz from 0.4 s, frame slot 100 dropped
    for k in np.setdiff1d(np.arange(int((tau[-1] + 0.5 - 0.4) * 25)), [100]):
        i = int(round((0.4 + k / 25) * DAQ))
        camera[i : i + 3] = 5.0
    sync = np.column_stack([t_daq, frames, lick, puff, wheel, camera])
    header = "time,widefield,lick,puff,wheel,camera"
    np.savetxt(root / "sync.csv", sync, delimiter=",", header=header, comments="", fmt="%.9g")

    # behaviour on its own 100 Hz clock (3 ms after the DAQ's), with stimuli as text (empty: no stimulus)
    t_beh = 0.003 + np.arange(int((tau[-1] + 1.0) * 100)) / 100
    pupil = _smooth(rng, t_beh.size, 40)
    stim = np.full(t_beh.size, "", dtype=object)
    for j, start in enumerate(range(150, t_beh.size - 150, 270)):
        stim[start : start + 100] = "left" if j % 2 == 0 else "right"
    notes = np.where(np.arange(t_beh.size) % 7 == 0, "ok", "check")
    lines = ["time,pupil,stimulus,notes"] + [
        f"{t:.3f},{p:.9g},{s},{n}" for t, p, s, n in zip(t_beh, pupil, stim, notes)
    ]
    (root / "behaviour.csv").write_text("\n".join(lines) + "\n")

    # the truth on every frame slot
    row = np.floor((tau - 0.003) * 100 + 1e-9).astype(int)  # the last behaviour row at or before each slot
    lick_x = np.zeros(N_SLOTS)
    lick_x[lick_slots] = 1.0
    last = np.searchsorted(lick_on, tau, side="right") - 1
    since = np.where(last >= 0, tau - lick_on[np.maximum(last, 0)], tau - tau[0])
    puff_x = np.zeros(N_SLOTS)
    for s in puff_slots:
        puff_x[s : s + int(round((0.02 + PUFF_S) * FPS)) + 1] = (
            1.0  # frames from the onset's to the last before the end
        )
    truth = {
        "lick": lick_x,
        "lick_since": since,
        "puff": puff_x,
        "wheel": np.interp(tau, t_daq, wheel),
        "pupil": np.interp(tau, t_beh, pupil),
        "stimulus=left": (stim[row] == "left").astype(float),
        "stimulus=right": (stim[row] == "right").astype(float),
    }
    kernel = hemodynamic_kernel(FPS, 0.5, 2.0)
    X = np.column_stack([convolve_regressors(truth[c], kernel) for c in COLUMNS])[recorded]
    Y = X @ BETA + 0.02 * rng.normal(size=(recorded.size, BETA.shape[1]))
    np.save(root / "traces.npy", Y)
    (root / "encode.toml").write_text(
        "\n".join(
            [
                'name = "rig"',
                "[behaviour]",
                'path = "behaviour.csv"',
                'categorical = ["stimulus"]',
                "[sync]",
                'path = "sync.csv"',
                'frames = "widefield"',
                "threshold = 2.5",
                'signals = ["wheel"]',
                "[events.lick]",
                "since = true",
                "[events.puff]",
                'shape = "boxcar"',
                "[neural]",
                'path = "traces.npy"',
                'kind = "traces"',
                'dff = "none"',
                "[design]",
                'kernel = "hemodynamic"',
                "kernel_peak_s = 0.5",
                "kernel_length_s = 2.0",
                "[model]",
                "alphas = [0.001, 0.01, 0.1, 1.0, 10.0]",
                "cv = 3",
                "",
            ]
        )
    )
    return truth, recorded


@pytest.fixture(scope="module")
def rig(tmp_path_factory):
    root = tmp_path_factory.mktemp("rig")
    truth, recorded = _write_session(root)
    return root, truth, recorded


def test_alignment_finds_the_dropped_frames_and_puts_every_stream_on_the_frame_slots(rig):
    root, truth, recorded = rig
    data = prepare_data(load_encode_config(root / "encode.toml"))
    np.testing.assert_array_equal(data.frame_index, recorded)
    assert data.fps == pytest.approx(FPS, rel=1e-9)
    frames = data.info["sync"]["frames"]
    # slots 200-201 follow recorded frame 199; slot 530 follows recorded frame 529 - 2 = 527
    assert (frames["dropped"], frames["gaps_after"], frames["gap_sizes"]) == (3, [199, 527], [2, 1])
    assert data.info["sync"]["events"] == {"lick": 60, "puff": len(range(30, N_SLOTS - 20, 37))}
    # one-hot columns of the text column; the unlisted text column (notes) is ignored
    assert list(data.features) == ["pupil", "stimulus=left", "stimulus=right", "wheel", "lick", "lick_since", "puff"]
    assert data.groups["stimulus=left"] == data.groups["stimulus=right"] == "stimulus"
    for name in ("lick", "puff", "stimulus=left", "stimulus=right"):
        np.testing.assert_array_equal(data.features[name], truth[name], err_msg=name)
    for name in ("lick_since", "wheel", "pupil"):
        np.testing.assert_allclose(data.features[name], truth[name], atol=1e-6, err_msg=name)


def test_encode_recovers_the_planted_weights_on_the_aligned_design(rig, tmp_path):
    root, _, recorded = rig
    out = tmp_path / "out"
    run_encode(root / "encode.toml", out, figures=False)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["dropped_frames"] == 3 and summary["data"]["sync"]["frames"]["gaps_after"] == [199, 527]
    with np.load(out / "model.npz") as z:
        columns, coef, ev = list(z["columns"]), z["coef"], z["ev"]
    assert coef.shape == (len(COLUMNS), BETA.shape[1]) and ev.shape == (BETA.shape[1],)
    got = coef[[columns.index(c) for c in COLUMNS]]
    np.testing.assert_allclose(got, BETA, atol=0.03)
    assert ev.min() > 0.95  # noise SD 0.02 against signals of SD ~0.3-0.8


def test_video_features_are_interpolated_from_the_camera_pulses(rig):
    root, _, _ = rig
    cfg = load_encode_config(root / "encode.toml")
    cfg.sync["video"] = "camera"
    cfg.video = {"path": root / "face.mp4"}
    cam = 0.4 + np.setdiff1d(np.arange(int((T0 + (N_SLOTS - 1) / FPS + 0.5 - 0.4) * 25)), [100]) / 25
    me = 2.0 * cam + 1.0  # linear in time: interpolation at the widefield frames is exact
    s = session_features(
        cfg, N_SLOTS - len(DROPPED), ({"whisker_me": me}, {"whisker_me": "whisker_me"}, {"frames": cam.size})
    )
    np.testing.assert_allclose(s.features["whisker_me"], 2.0 * (T0 + np.arange(N_SLOTS) / FPS) + 1.0, atol=1e-9)
    video = s.info["sync"]["video"]
    assert (video["pulses"], video["dropped"], video["gaps_after"]) == (cam.size, 1, [99])
    assert video["rate"] == pytest.approx(25.0)
    with raises_naming("face.mp4", r"channel 'camera': has \d+ pulses but .*face.mp4 has \d+ frames \(1 more pulses\)"):
        session_features(cfg, N_SLOTS - len(DROPPED), ({"whisker_me": me[1:]}, {}, {"frames": cam.size - 1}))


def test_text_columns_are_ignored_unless_named(rig, tmp_path):
    root, truth, recorded = rig
    n = recorded.size
    rows = ["pupil,stimulus"] + [f"{truth['pupil'][k]:.9g},{'ab'[i % 2]}" for i, k in enumerate(recorded)]
    (tmp_path / "b.csv").write_text("\n".join(rows) + "\n")
    np.save(tmp_path / "y.npy", np.random.default_rng(1).normal(size=(n, 2)))
    base = '[neural]\npath = "y.npy"\nkind = "traces"\ndff = "none"\n[behaviour]\npath = "b.csv"\n'
    (tmp_path / "plain.toml").write_text("fps = 20\n" + base)
    assert list(prepare_data(load_encode_config(tmp_path / "plain.toml")).features) == ["pupil"]
    (tmp_path / "named.toml").write_text("fps = 20\n" + base + 'use = ["pupil", "stimulus"]\n')
    data = prepare_data(load_encode_config(tmp_path / "named.toml"))
    assert list(data.features) == ["pupil", "stimulus=a", "stimulus=b"] and data.frame_index is None
    np.testing.assert_array_equal(data.features["stimulus=b"], np.arange(n) % 2)


def test_a_sync_file_whose_frame_count_disagrees_with_the_movie_is_refused(rig, tmp_path, capsys):
    root, _, recorded = rig
    y = np.load(root / "traces.npy")
    np.save(root / "long.npy", np.vstack([y, y[:2]]))
    (root / "long.toml").write_text((root / "encode.toml").read_text().replace("traces.npy", "long.npy"))
    out = tmp_path / "o"
    assert cli("encode", root / "long.toml", "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert (
        "sync.csv: channel 'widefield': has 797 pulses but" in err and "long.npy has 799 frames (2 fewer pulses)" in err
    )
    assert "the first gap in the pulses is after pulse 199 (t = 10.4500 s, 2 frames missing)" in err
    assert "\n" not in err and not out.exists()


def test_a_categorical_column_with_one_level_is_refused(rig, tmp_path, capsys):
    root, _, _ = rig
    text = (root / "behaviour.csv").read_text().replace(",right,", ",left,")
    (root / "one.csv").write_text(text)
    (root / "one.toml").write_text((root / "encode.toml").read_text().replace("behaviour.csv", "one.csv"))
    out = tmp_path / "o"
    assert cli("encode", root / "one.toml", "--out", out) == 2
    err = capsys.readouterr().err.strip()
    assert "one.csv: categorical column 'stimulus' has a single level 'left'; expected at least 2 levels" in err
    assert "\n" not in err and not out.exists()


def test_clock_and_regressor_helpers():
    with raises_naming(
        "movie.npy", r"has 4 pulses but movie.npy has 3 frames \(1 more pulses\); the pulses have no gap"
    ):
        frame_clock(np.array([0.0, 0.1, 0.2, 0.3]), 3, what="sync.csv", against="movie.npy")
    clock = np.arange(10) * 0.1
    # boxcar from the onset's frame to the last frame starting before the offset
    x = event_regressor(np.array([0.25]), clock, shape="boxcar", offsets=np.array([0.5]))
    assert x.tolist() == [0, 0, 1, 1, 1, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(
        time_since(np.array([0.25, 0.6]), clock)[[2, 3, 6, 9]], [0.2, 0.05, 0.0, 0.3], atol=1e-12
    )
    with raises_naming("b.csv", "has no label"):
        categorical_columns("stim", np.array(["", ""]), source="b.csv")
    cols = categorical_columns("choice", np.array([1.0, 2.0, np.nan, 1.0]), source="b.csv")
    assert {k: v.tolist() for k, v in cols.items()} == {"choice=1": [1, 0, 0, 1], "choice=2": [0, 1, 0, 0]}


def test_sync_edge_files_and_behaviour_text(tmp_path):
    np.savez(tmp_path / "edges.npz", frames=np.arange(5) * 0.05, lick=np.array([0.07]), lick_offset=np.array([0.09]))
    s = read_sync(tmp_path / "edges.npz")
    assert s.channels == ["frames", "lick"] and s.edges["lick"][1].tolist() == [0.09]
    (tmp_path / "bad.csv").write_text("channel,onset\nframes,0.1\nframes,0.05\n")
    with raises_naming("bad.csv", "channel 'frames' not strictly increasing at index 1"):
        read_sync(tmp_path / "bad.csv")
    (tmp_path / "b.csv").write_text("pupil,stim\n1.0,a\n,b\n")
    with raises_naming("b.csv", "line 3, column 'pupil' is empty; expected a number"):
        read_table(tmp_path / "b.csv")


def test_framerates_run_on_a_session_with_dropped_frames(rig, tmp_path):
    """Decimation on the frame slots: slot 3j of the third-rate clock, targets of the recorded slots only."""
    from neurocine.encode.jobs import _resampled, build_design, run_framerates

    root, truth, recorded = rig
    cfg = load_encode_config(root / "encode.toml")
    data = prepare_data(cfg)
    ten, label = _resampled(data, "third")
    assert label == f"{FPS / 3:g} Hz" and ten.fps == pytest.approx(FPS / 3)
    on = recorded % 3 == 0
    np.testing.assert_array_equal(ten.frame_index, recorded[on] // 3)
    np.testing.assert_array_equal(ten.Y, data.Y[on])
    np.testing.assert_array_equal(ten.features["lick"], truth["lick"][::3])
    assert build_design(ten, cfg.design, fps=ten.fps).X.shape[0] == ten.Y.shape[0]
    back, _ = _resampled(data, "interpolated")
    row = {slot: i for i, slot in enumerate(back.frame_index)}
    # slot 199: its even neighbours are 198 and 200 (dropped), so it lies between 198 and 202
    y = {s: data.Y[int(np.flatnonzero(recorded == s)[0])] for s in (196, 198, 202)}
    np.testing.assert_allclose(back.Y[row[199]], 0.75 * y[198] + 0.25 * y[202], rtol=1e-12)
    np.testing.assert_allclose(back.Y[row[197]], 0.5 * (y[196] + y[198]), rtol=1e-12)
    np.testing.assert_array_equal(back.Y[row[198]], y[198])
    assert 200 not in row and 201 not in row and back.frame_index[-1] == N_SLOTS - 2

    s = run_framerates(root / "encode.toml", tmp_path / "fr", sequence=False, figures=False)["metrics"]
    study = s["studies"]["rig"]
    assert study["n_samples"][2] == recorded.size and study["n_samples"][0] == int(on.sum())
    enc = run_encode(root / "encode.toml", tmp_path / "enc", figures=False)["metrics"]
    assert study["ridge"][2] == pytest.approx(enc["ridge_test_ev"], abs=1e-12)  # the 20 Hz row is the fit's
    assert min(study["ridge"]) > 0.95  # noise SD 0.02: every rate keeps the planted linear signal
