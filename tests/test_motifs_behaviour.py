"""Behaviour locking (neurocine.motifs.behaviour): event-triggered averages against a direct loop, the
permutation statistic against its definition, a planted locked unit against an unlocked one, the
``motifs fit --behaviour`` job and its bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.motifs.behaviour import behaviour_locking
from tests._errors import raises_naming

FS, FB = 10.0, 100.0  # events at 10 Hz, behaviour at 100 Hz


def planted(seed=0, t_len=600, n_events=15, n_feat=3):
    """Unit 0's events each precede a burst (+3 on every feature, 0.1-0.3 s after); unit 1 fires at random."""
    rng = np.random.default_rng(seed)
    amps = np.zeros((t_len, 3))
    amps[np.sort(rng.choice(np.arange(0, t_len - 20, 4), n_events, replace=False)), 0] = 1.0
    amps[rng.choice(t_len - 20, n_events, replace=False), 1] = 2.0  # amplitudes other than 1 are events too
    # unit 2 has no event
    behaviour = rng.normal(size=(int(t_len * FB / FS), n_feat))
    for t in np.flatnonzero(amps[:, 0]):
        behaviour[10 * t + 10 : 10 * t + 30] += 3.0
    return amps, behaviour


def test_planted_locked_unit_small_p_random_unit_not():
    amps, beh = planted()
    res = behaviour_locking(amps, beh, sampling_rate=FS, behaviour_rate=FB, window=(0, 0.5), random_state=0)
    assert res.pvalues[0] == pytest.approx(1 / 1001)  # no shift of 1000 beats the planted alignment
    assert res.pvalues[1] > 0.1
    assert res.pvalues[2] == 1.0 and np.isnan(res.statistic[2]) and np.isnan(res.averages[2]).all()
    assert res.locked.tolist() == [True, False, False] and res.n_locked == 1
    assert res.n_events.tolist() == [15, 15, 0]
    d = json.loads(json.dumps(res.to_dict()))
    assert d["locked"] == [True, False, False] and d["statistic"][2] is None and d["n_shuffles"] == 1000


def test_event_triggered_average_is_the_mean_of_the_windows():
    amps, beh = planted(seed=1)
    res = behaviour_locking(amps, beh, sampling_rate=FS, behaviour_rate=FB, window=(-0.2, 0.5), random_state=0)
    np.testing.assert_allclose(res.lags, np.arange(-20, 51) / FB)
    for k in (0, 1):
        windows = [beh[10 * t - 20 : 10 * t + 51] for t in np.flatnonzero(amps[:, k]) if 10 * t - 20 >= 0]
        np.testing.assert_allclose(res.averages[k], np.mean(windows, axis=0))
    np.testing.assert_allclose(res.baseline, beh.mean(axis=0))
    # the planted burst: +3 from 0.1 to 0.29 s after unit 0's events, over noise averaged across 15 events
    burst = res.averages[0][(res.lags >= 0.1) & (res.lags < 0.3)].mean()
    assert burst == pytest.approx(3.0, abs=0.15)


def test_statistic_and_null_are_the_squared_average_of_shifted_trains():
    """Against the definition: z-score each feature, average it within each event sample, then the mean
    over window lags and features of the squared average over (circularly shifted) events."""
    amps, beh = planted(seed=2, t_len=300)
    window = (-0.3, 0.6)
    res = behaviour_locking(
        amps, beh, sampling_rate=FS, behaviour_rate=FB, window=window, n_shuffles=25, random_state=3
    )
    z = (beh - beh.mean(0)) / beh.std(0)
    clock = z.reshape(300, 10, -1).mean(axis=1)  # 10 behaviour samples per event sample
    lags = np.arange(-3, 7)

    def stat(events):
        idx = (events[:, None] + lags[None, :]) % 300
        return (clock[idx].mean(axis=0) ** 2).mean()

    for k in (0, 1):
        ev = np.flatnonzero(amps[:, k])
        assert res.statistic[k] == pytest.approx(stat(ev), rel=1e-9)
        expected = [stat((ev + s) % 300) for s in res.shifts]
        np.testing.assert_allclose(res.null_statistic[k], expected, rtol=1e-9)
    assert res.shifts.min() >= len(lags) and res.shifts.max() <= 300 - len(lags)
    again = behaviour_locking(
        amps, beh, sampling_rate=FS, behaviour_rate=FB, window=window, n_shuffles=25, random_state=3
    )
    np.testing.assert_array_equal(again.pvalues, res.pvalues)


def test_slower_behaviour_is_interpolated_and_one_trace_accepted():
    rng = np.random.default_rng(4)
    amps = np.zeros((400, 1))
    amps[np.arange(10, 380, 37), 0] = 1.0
    trace = rng.normal(size=200)  # 5 Hz behaviour under 10 Hz events
    for t in np.flatnonzero(amps[:, 0]):
        trace[t // 2 + 1 : t // 2 + 3] += 4.0
    res = behaviour_locking(amps, trace, sampling_rate=10, behaviour_rate=5, window=(0, 1.0), random_state=0)
    assert res.averages.shape == (1, 6, 1) and res.pvalues[0] < 0.01


def test_bad_input():
    amps, beh = planted(t_len=200)
    ok = dict(sampling_rate=FS, behaviour_rate=FB)
    with raises_naming("behaviour", r"covers 1\.000 s .* events span 20\.000 s"):
        behaviour_locking(amps, beh[:100], **ok)
    with raises_naming("window", r"fewer than half"):
        behaviour_locking(amps, beh, window=(-5, 5), **ok)
    with raises_naming("window", r"start < stop"):
        behaviour_locking(amps, beh, window=(1, 0), **ok)
    with raises_naming("behaviour_rate", "positive"):
        behaviour_locking(amps, beh, sampling_rate=FS, behaviour_rate=0)
    with raises_naming("n_shuffles"):
        behaviour_locking(amps, beh, n_shuffles=0, **ok)
    with raises_naming("behaviour", "NaN"):
        behaviour_locking(amps, np.full_like(beh, np.nan), **ok)


# --------------------------------------------------------------------------- the job


def two_sequences(t_len=600, seed=0):
    """Two nonnegative sequences (a diagonal over channels 0-3, another over 4-7, 8 samples long) firing at
    random times, plus a little Gaussian noise; returns the data (T, 8) and each sequence's onsets."""
    rng = np.random.default_rng(seed)
    data = 0.05 * rng.normal(size=(t_len, 8))
    onsets = []
    for k in range(2):
        times = np.sort(rng.choice(np.arange(0, t_len - 10, 10), 12, replace=False))
        for t in times:
            data[t + 2 * np.arange(4), 4 * k + np.arange(4)] += 1.0
        onsets.append(times)
    return data, onsets


def _sim_with_song(tmp_path):
    """The two sequences (npz with its rate) and a behaviour CSV with a burst after each onset of the first."""
    from neurocine.io.signals import write_signal_npz

    data, onsets = two_sequences()
    write_signal_npz(tmp_path / "rec.npz", data, sampling_rate=FS)
    rng = np.random.default_rng(1)
    song = 0.1 * rng.random(int(len(data) * FB / FS))
    for t in onsets[0]:
        song[10 * t : 10 * t + 40] += 1.0
    csv = tmp_path / "song.csv"
    np.savetxt(csv, song[:, None], delimiter=",", header="power", comments="")
    return csv, onsets


def test_fit_job_with_behaviour(tmp_path):
    import neurocine as nc

    csv, onsets = _sim_with_song(tmp_path)
    res = nc.jobs.motifs_fit(
        tmp_path / "rec.npz",
        tmp_path / "fit",
        components=2,
        width=8,
        nonnegative=True,
        seed=0,
        behaviour=csv,
        behaviour_fs=FB,
    )
    m = res["metrics"]
    assert m["behaviour_window"] == [-0.4, 1.2]  # half a template before, one and a half after
    with np.load(tmp_path / "fit" / "fit.npz") as z:
        amps = z["amplitudes"]
    assert m["behaviour_n_events"] == (amps > 0).sum(axis=0).tolist()
    truth = np.zeros((len(amps), 2))
    for k, times in enumerate(onsets):
        truth[times, k] = 1.0
    score = nc.motifs.score_against_truth(truth, amps, tolerance=2)
    assert score.overall["f1"] > 0.9
    locked, free = score.assignment[0], score.assignment[1]
    # the unit playing the first sequence is locked to the song that follows it; the other is not
    assert m["behaviour_pvalues"][locked] < 0.01 and m["behaviour_pvalues"][free] > 0.05
    assert m["behaviour_locked"] == [k == locked for k in range(2)] and m["n_behaviour_locked"] == 1
    with np.load(tmp_path / "fit" / "behaviour.npz") as z:
        assert z["averages"].shape == (2, 161, 1)
        np.testing.assert_allclose(z["pvalues"], m["behaviour_pvalues"])
    for name in ("sequences.png", "behaviour.png"):
        assert (tmp_path / "fit" / name).stat().st_size > 1000


def test_cli_behaviour_bad_input_writes_nothing(tmp_path, capsys):
    from scipy.io import savemat

    from tests._cli import cli

    csv, _ = _sim_with_song(tmp_path)
    savemat(tmp_path / "song.mat", {"SONG": np.ones((3, 6000)), "MIC": np.ones((2, 9)), "SONGfs": 100.0})
    base = ["motifs", "fit", tmp_path / "rec.npz", "-k", "2", "-d", "8", "--out", tmp_path / "bad"]
    cases = [
        (["--behaviour", csv], "no sampling rate in the file; expected --behaviour-fs"),
        (["--behaviour-key", "SONG"], "--behaviour-key: got 'SONG' without --behaviour"),
        (["--behaviour-channels-first"], "--behaviour-channels-first: got True without --behaviour"),
        (["--behaviour", tmp_path / "song.mat", "--behaviour-fs", "SONGfs"], "'MIC', 'SONGfs'); expected key="),
        (
            ["--behaviour", tmp_path / "song.mat", "--behaviour-key", "SONG", "--behaviour-fs", "SONGfs"],
            "covers 0.030 s",  # stored frequencies x time, read without --behaviour-channels-first
        ),
        (["--behaviour", csv, "--behaviour-fs", "200"], "covers 30.000 s"),
    ]
    for extra, message in cases:
        assert cli(*base, *extra) == 2, extra
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
        assert not (tmp_path / "bad").exists()
    ok = ["--behaviour", tmp_path / "song.mat", "--behaviour-key", "SONG", "--behaviour-fs", "SONGfs"]
    assert cli(*base[:-2], "--out", tmp_path / "ok", *ok, "--behaviour-channels-first") == 0
    with pytest.raises(InputError, match="no sampling rate"):
        import neurocine as nc

        np.save(tmp_path / "rec.npy", np.load(tmp_path / "rec.npz")["data"])
        nc.jobs.motifs_fit(tmp_path / "rec.npy", tmp_path / "x", components=2, width=8, behaviour=csv)


def test_songbird_sequences_are_locked_to_the_song():
    """seqNMF's demo data: the significant units of a fit on the first 75 % are (almost all) locked to
    the song. The PyPI seqnmf port finds 3.3 ± 0.8 significant factors there (realdata README)."""
    from neurocine.io.signals import read_signal_matrix
    from neurocine.motifs import ConvNMF, evaluate_heldout
    from tests.test_io_matlab import realdata_file

    mat = realdata_file("songbird_hvc/MackeviciusData.mat")
    neural = read_signal_matrix(mat, key="NEURAL", channels_first=True, sampling_rate="VIDEOfs")
    song = read_signal_matrix(mat, key="SONG", channels_first=True, sampling_rate="SONGfs")
    assert neural.data.shape == (666, 75) and song.data.shape == (4440, 141)
    assert (neural.sampling_rate, song.sampling_rate) == (30.0, 200.0)
    x, n_train = neural.data, 499
    model = ConvNMF(10, 20, nonnegative=True, n_init=3, random_state=0, device="cpu").fit(x[:n_train])
    ev = evaluate_heldout(model, x[n_train:], random_state=0)
    amps = np.concatenate([model.amplitudes_, ev.amplitudes])
    lock = behaviour_locking(
        amps, song.data, sampling_rate=30.0, behaviour_rate=200.0, window=(-1 / 3, 1.0), random_state=0
    )
    sig = ev.significant
    assert ev.n_significant >= 4 and ev.r2 > 0.17
    assert (sig & lock.locked).sum() >= ev.n_significant - 1
    assert lock.n_locked >= 5 and lock.averages.shape == (10, 268, 141)


def test_sequence_order_turns_shuffled_sequences_into_diagonals():
    from neurocine.motifs.plotting import plot_sequences, sequence_order

    rng = np.random.default_rng(0)
    perm = rng.permutation(8)
    w = np.zeros((2, 8, 8))
    for k in range(2):
        w[k, perm[4 * k + np.arange(4)], 2 * np.arange(4)] = 1.0  # unit k: 4 channels firing 2 lags apart
    order = sequence_order(w)
    assert order.tolist() == perm.tolist()  # unit 0's channels in firing order, then unit 1's
    data, onsets = two_sequences()
    amps = np.zeros((len(data), 2))
    for k in range(2):
        amps[onsets[k], k] = 1.0
    fig = plot_sequences(data.clip(0)[:, np.argsort(perm)], w, amps, sampling_rate=FS, split=450)
    ax_h, ax_w, ax_x = fig.axes
    np.testing.assert_allclose(ax_x.images[0].get_array(), data.clip(0).T)  # sorted back to the diagonals
    assert ax_w.images[0].get_array().shape == (8, 16)


def test_plot_significance_marks_the_significant_units():
    from neurocine.motifs.plotting import plot_significance

    rng = np.random.default_rng(0)
    fig = plot_significance([3.0, 0.1, np.nan], rng.normal(size=(3, 40)), [0.001, 0.6, 1.0])
    ax_s, ax_p = fig.axes
    assert ax_p.get_title(loc="left") == "1 of 3 significant"
    assert ax_p.lines[0].get_ydata()[0] == pytest.approx(0.05 / 3)
