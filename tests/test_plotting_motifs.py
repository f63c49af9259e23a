"""Tests for neurocine.motifs.plotting (Conv-NMF figures)."""

from __future__ import annotations

import os
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.image import imread

from neurocine.errors import InputError
from neurocine.motifs.plotting import (
    _reconstruct,
    plot_ground_truth_comparison,
    plot_k_selection,
    plot_log_likelihood,
    plot_model,
    significant_channels,
    unit_colors,
)
from neurocine.motifs.simulate import simulate_convnmf


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sim():
    return simulate_convnmf(7)


def _gid_artists(ax, gid):
    return [a for a in ax.get_children() if a.get_gid() == gid]


# --------------------------------------------------------------------------- significant_channels


def _hand_templates():
    # 2 units x 4 channels x 3 lags = 24 entries: 20 zeros, then |values| 0.5, 3, 4, 5
    w = np.zeros((2, 4, 3))
    w[0, 1, 0] = 5.0
    w[0, 3, 2] = -4.0
    w[1, 2, 1] = 3.0
    w[1, 0, 2] = 0.5
    return w


@pytest.mark.parametrize(
    ("quantile", "expected"),
    [
        # position 0.95 * 23 = 21.85 -> 3 + 0.85 * (4 - 3) = 3.85: only |5| and |-4| exceed it
        (0.95, [[False, True, False, True], [False, False, False, False]]),
        # position 0.90 * 23 = 20.7 -> 0.5 + 0.7 * 2.5 = 2.25: 5, -4 and 3 exceed it
        (0.90, [[False, True, False, True], [False, False, True, False]]),
        # position 0.8 * 23 = 18.4 -> 0: every non-zero entry exceeds it
        (0.80, [[False, True, False, True], [True, False, True, False]]),
        # the maximum itself is never strictly exceeded
        (1.0, [[False] * 4, [False] * 4]),
    ],
)
def test_significant_channels_hand_example(quantile, expected):
    np.testing.assert_array_equal(significant_channels(_hand_templates(), quantile), np.array(expected))


def test_significant_channels_matches_notebook_torch_rule(sim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    for w in (sim.templates, rng.normal(size=(5, 12, 7)).astype(np.float32)):
        t = torch.from_numpy(w)
        thresh = torch.quantile(abs(t), 0.95)
        ref = np.stack([torch.any(abs(template) > thresh, axis=1).numpy() for template in t])
        np.testing.assert_array_equal(significant_channels(w), ref)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.01, 100.0))
def test_significant_channels_invariant_to_positive_scale_and_sign(seed, scale):
    w = np.random.default_rng(seed).normal(size=(3, 6, 5))
    base = significant_channels(w)
    np.testing.assert_array_equal(significant_channels(scale * w), base)
    np.testing.assert_array_equal(significant_channels(-w), base)
    # 5 % of 90 entries lie above the 0.95 quantile: at least one significant channel in total
    assert base.any()


@pytest.mark.parametrize(
    ("templates", "quantile", "match"),
    [
        (np.zeros((3, 4)), 0.95, "templates"),
        (np.full((1, 2, 3), np.nan), 0.95, "templates"),
        (np.ones((1, 2, 3)), 1.5, "quantile"),
    ],
)
def test_significant_channels_bad_input(templates, quantile, match):
    with pytest.raises(InputError, match=match):
        significant_channels(templates, quantile)


# --------------------------------------------------------------------------- plot_model


def test_reconstruct_matches_torch_convolution(sim):
    torch = pytest.importorskip("torch")
    from neurocine.motifs.simulate import convolve_templates

    ref = convolve_templates(torch.from_numpy(sim.amplitudes.T.copy()), torch.from_numpy(sim.templates)).numpy().T
    np.testing.assert_allclose(
        _reconstruct(sim.templates.astype(float), sim.amplitudes.astype(float)), ref, rtol=1e-5, atol=1e-4
    )


@pytest.mark.parametrize("time_slice", [None, (100, 300), slice(450, None)])
def test_plot_model_draws_one_segment_per_spike(sim, time_slice):
    fig = plot_model(sim.data, sim.templates, sim.amplitudes, time_slice=time_slice)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 2
    ax, ax_w = fig.axes
    start, stop, _ = (slice(*time_slice) if isinstance(time_slice, tuple) else (time_slice or slice(None))).indices(600)
    in_window = sim.amplitudes[start:stop] > 0
    spikes = _gid_artists(ax, "spike")
    assert len(spikes) == int(in_window.sum())
    assert all(isinstance(s, LineCollection) for s in spikes)
    # the whole recording has 33 spikes (the notebook's seed 7)
    if time_slice is None:
        assert len(spikes) == 33

    # each spike is drawn over its unit's significant channels, in its unit's colour
    sig = significant_channels(sim.templates)
    colors = unit_colors(4)
    expected = sorted((k, int(sig[k].sum())) for k in range(4) for _ in range(int(in_window[:, k].sum())))
    got = []
    for s in spikes:
        rgba = tuple(s.get_colors()[0])
        k = [i for i, c in enumerate(colors) if np.allclose(c, rgba)]
        assert len(k) == 1
        got.append((k[0], len(s.get_segments())))
    assert sorted(got) == expected

    # one template per unit in the right panel, on its significant channels
    tmpl = _gid_artists(ax_w, "template")
    assert sorted(len(c.get_segments()) for c in tmpl) == sorted(int(n) for n in sig.sum(axis=1))


def test_plot_model_segment_values(sim):
    """A spike segment is offset[n] + a[t, k] * W[k, n, :] at samples t..t+D-1."""
    data, w, a = sim.data, sim.templates, sim.amplitudes
    fig = plot_model(data, w, a)
    ax = fig.axes[0]
    scale = 1.05 * np.abs(data).max()
    k = 2
    t = int(np.flatnonzero(a[:, k] > 0)[0])
    chans = np.flatnonzero(significant_channels(w)[k])
    target = [np.column_stack([np.arange(t, t + 10), -scale * n + a[t, k] * w[k, n]]) for n in chans]
    matches = [
        s
        for s in _gid_artists(ax, "spike")
        if len(s.get_segments()) == len(chans)
        and all(g.shape == e.shape and np.allclose(g, e, atol=1e-4) for g, e in zip(s.get_segments(), target))
    ]
    assert len(matches) == 1
    # unit 2's last spike (t = 597) is clipped at the end of the recording: 3 samples drawn
    assert int(np.flatnonzero(a[:, k] > 0)[-1]) == 597
    clipped = [np.column_stack([np.arange(597, 600), -scale * n + a[597, k] * w[k, n, :3]]) for n in chans]
    assert (
        sum(
            all(g.shape == e.shape and np.allclose(g, e, atol=1e-4) for g, e in zip(s.get_segments(), clipped))
            for s in _gid_artists(ax, "spike")
        )
        == 1
    )
    # channel rows: labels and positions
    np.testing.assert_allclose(ax.get_yticks(), -scale * np.arange(10), rtol=1e-6)
    assert [tl.get_text() for tl in ax.get_yticklabels()] == [f"ch {n}" for n in range(10)]


def test_plot_model_reconstruction_seconds_and_legend(sim):
    fs = 0.2  # one sample every 5 s (screenshots)
    names = [f"app {n}" for n in range(10)]
    fig = plot_model(
        sim.data,
        sim.templates,
        sim.amplitudes,
        sampling_rate=fs,
        channel_names=names,
        reconstruction=True,
        title="seed 7",
        time_slice=(0, 200),
    )
    ax = fig.axes[0]
    recon_lines = _gid_artists(ax, "reconstruction")
    assert len(recon_lines) == 10
    scale = 1.05 * np.abs(sim.data[:200]).max()
    pred = _reconstruct(sim.templates.astype(float), sim.amplitudes.astype(float))
    for n, line in enumerate(recon_lines):
        np.testing.assert_allclose(line.get_xdata(), np.arange(200) / fs)
        np.testing.assert_allclose(line.get_ydata() + scale * n, pred[:200, n], atol=1e-4)
    assert ax.get_xlabel() == "time (s)"
    assert fig.axes[1].get_xlabel() == "lag (s)"
    assert [tl.get_text() for tl in ax.get_yticklabels()] == names
    assert fig._suptitle.get_text() == "seed 7"
    counts = (sim.amplitudes > 0).sum(axis=0)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    assert texts == ["data"] + [f"unit {k} ({counts[k]} spikes)" for k in range(4)] + ["reconstruction"]
    assert counts.tolist() == [6, 6, 14, 7]


def test_plot_model_unit_without_significant_channel_uses_peak_channel():
    rng = np.random.default_rng(0)
    w = np.abs(rng.normal(size=(2, 5, 4)))
    w[1] *= 1e-3
    w[1, 3, 2] = 0.01  # peak channel of the weak unit
    assert not significant_channels(w)[1].any()
    a = np.zeros((50, 2))
    a[[5, 30], 1] = 2.0
    a[12, 0] = 1.0
    data = rng.normal(size=(50, 5))
    fig = plot_model(data, w, a)
    spikes = _gid_artists(fig.axes[0], "spike")
    assert len(spikes) == 3
    weak = [s for s in spikes if np.allclose(s.get_colors()[0], unit_colors(2)[1])]
    assert len(weak) == 2
    scale = 1.05 * np.abs(data).max()
    for s in weak:
        (seg,) = s.get_segments()
        np.testing.assert_allclose(seg[:, 1], -3 * scale + 2.0 * w[1, 3], atol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"amplitudes": np.zeros((599, 4))}, r"amplitudes: got 599 samples"),
        ({"amplitudes": np.zeros((600, 3))}, r"amplitudes: got 3 units"),
        ({"templates": np.zeros((4, 9, 10))}, r"templates: got 9 channels"),
        ({"data": np.zeros(600)}, r"data: got shape \(600,\)"),
        ({"channel_names": ["a", "b"]}, "channel_names: got 2 names"),
        ({"time_slice": (300, 300)}, "time_slice"),
        ({"time_slice": slice(0, 600, 2)}, "time_slice"),
        ({"sampling_rate": -1.0}, "sampling_rate"),
        ({"reconstruction": np.zeros((600, 9))}, "reconstruction"),
        ({"channels": np.ones((4, 3), bool)}, "channels"),
    ],
)
def test_plot_model_bad_input(sim, kwargs, match):
    args = {"data": sim.data, "templates": sim.templates, "amplitudes": sim.amplitudes}
    extra = {k: v for k, v in kwargs.items() if k not in args}
    args.update({k: v for k, v in kwargs.items() if k in args})
    with pytest.raises(InputError, match=match) as info:
        plot_model(args["data"], args["templates"], args["amplitudes"], **extra)
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- log-likelihood


def test_plot_log_likelihood_values_and_overlay():
    ll1 = [-3.2, -2.1, -1.7, -1.55, -1.52]
    fig = plot_log_likelihood(ll1, label="K = 4")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    ax = fig.axes[0]
    np.testing.assert_array_equal(ax.lines[0].get_xdata(), np.arange(5))
    np.testing.assert_allclose(ax.lines[0].get_ydata(), ll1)
    assert ax.lines[0].get_marker() == "o"
    fig2 = plot_log_likelihood(np.array([-3.0, -2.5, -2.4]), label="K = 2", ax=ax)
    assert fig2 is fig and len(ax.lines) == 2 and len(fig.axes) == 1
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["K = 4", "K = 2"]


def test_plot_log_likelihood_accepts_torch_values():
    torch = pytest.importorskip("torch")
    fig = plot_log_likelihood(torch.stack([torch.tensor(-2.0), torch.tensor(-1.0)]))
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [-2.0, -1.0])
    assert fig.axes[0].get_legend() is None


@pytest.mark.parametrize("bad", [np.zeros((2, 3)), [], [0.0, np.inf]])
def test_plot_log_likelihood_bad_input(bad):
    with pytest.raises(InputError, match="log_likelihoods"):
        plot_log_likelihood(bad)


# --------------------------------------------------------------------------- K selection


def test_plot_k_selection_two_panels_values():
    ks = [6, 2, 4]  # unsorted on purpose
    r2 = [0.70, 0.45, 0.74]
    sd = [0.02, 0.01, 0.03]
    stab = [0.5, 0.97, 0.9]
    fig = plot_k_selection(
        ks, r2, sd, stability=stab, stability_sd=[0.1, 0.0, 0.05], recommended=4, train_r2=[0.8, 0.46, 0.77]
    )
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    ax_r2, ax_st = fig.axes
    held = ax_r2.containers[0]
    np.testing.assert_array_equal(held.lines[0].get_xdata(), [2, 4, 6])
    np.testing.assert_allclose(held.lines[0].get_ydata(), [0.45, 0.74, 0.70])
    bars = held.lines[2][0].get_segments()
    np.testing.assert_allclose([b[:, 1] for b in bars], [[0.44, 0.46], [0.71, 0.77], [0.68, 0.72]])
    train = ax_r2.containers[1]
    np.testing.assert_allclose(train.lines[0].get_ydata(), [0.46, 0.77, 0.8])
    np.testing.assert_allclose(ax_st.containers[0].lines[0].get_ydata(), [0.97, 0.9, 0.5])
    for ax in fig.axes:
        (rec,) = _gid_artists(ax, "recommended")
        np.testing.assert_array_equal(rec.get_xdata(), [4, 4])
    assert ax_st.get_ylim()[0] <= 0 and ax_st.get_ylim()[1] >= 1
    labels = [t.get_text() for t in ax_r2.get_legend().get_texts()]
    assert labels == ["held-out", "train", "recommended K = 4"]


def test_plot_k_selection_repeats_give_mean_and_sample_sd():
    r2 = np.array([[0.4, 0.5, 0.6], [0.7, 0.7, 0.7]])
    fig = plot_k_selection([1, 2], r2)
    assert len(fig.axes) == 1
    held = fig.axes[0].containers[0]
    np.testing.assert_allclose(held.lines[0].get_ydata(), [0.5, 0.7])
    bars = held.lines[2][0].get_segments()
    np.testing.assert_allclose([b[:, 1] for b in bars], [[0.4, 0.6], [0.7, 0.7]], atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"heldout_r2": [0.1, 0.2]}, "heldout_r2: got shape"),
        ({"ks": [1, 1, 2]}, "ks: got repeated"),
        ({"ks": [1.5, 2, 3]}, "ks: got"),
        ({"recommended": 5}, "recommended: got 5"),
        ({"stability": [0.9, 0.8]}, "stability: got shape"),
        ({"heldout_r2_sd": [0.1, 0.1]}, "heldout_r2_sd"),
        ({"stability_sd": [0.1, 0.1, 0.1]}, "stability_sd: given without stability"),
    ],
)
def test_plot_k_selection_bad_input(kwargs, match):
    args = {"ks": [1, 2, 3], "heldout_r2": [0.1, 0.2, 0.3]}
    args.update(kwargs)
    with pytest.raises(InputError, match=match):
        plot_k_selection(**args)


# --------------------------------------------------------------------------- ground truth


def test_plot_ground_truth_comparison_pairs(sim):
    w = sim.templates.astype(float)
    est = 3.0 * w[[2, 0, 3]]  # est 0 = true 2, est 1 = true 0, est 2 = true 3; true 1 missed
    est = np.concatenate([est, np.ones((1, 10, 10))])  # est 3: unmatched extra unit
    fig = plot_ground_truth_comparison(w, est, {0: 1, 1: None, 2: 0, 3: 2}, {0: 0.95, 1: 0.0, 2: 0.9, 3: 0.8})
    assert isinstance(fig, Figure)
    rows = 4 + 1  # every true unit + the unmatched estimate
    assert len(fig.axes) == 2 * rows + 1  # heat maps + colour bar
    heat = fig.axes[: 2 * rows]
    # true 0 (left) against est 1 (right): identical after unit-norm scaling
    left, right = heat[0].images[0].get_array(), heat[1].images[0].get_array()
    np.testing.assert_allclose(left, w[0] / np.linalg.norm(w[0]), atol=1e-12)
    np.testing.assert_allclose(right, left, atol=1e-12)
    assert heat[0].get_title(loc="left") == "true 0 ↔ est. 1,  cos = 1.00,  F1 = 0.95"
    assert heat[2].get_title(loc="left") == "true 1 (no estimate),  F1 = 0.00"
    assert not heat[3].images  # "no match" panel
    assert heat[8].get_title(loc="left") == "unmatched ↔ est. 3"
    # the columns say which side is the truth
    assert [t.get_text() for t in heat[0].texts] == ["true template"]
    assert [t.get_text() for t in heat[1].texts] == ["estimated template"]
    assert not heat[8].images and heat[9].images
    # one symmetric colour scale for all heat maps
    clims = {ax.images[0].get_clim() for ax in heat if ax.images}
    assert len(clims) == 1 and list(clims)[0][0] == -list(clims)[0][1]


def test_plot_ground_truth_comparison_cosine_without_normalisation():
    a = np.zeros((1, 2, 2))
    a[0, 0, 0] = 1.0
    b = np.zeros((1, 2, 2))
    b[0, 0, 0] = 1.0
    b[0, 1, 1] = 1.0  # cos = 1/sqrt(2)
    fig = plot_ground_truth_comparison(a, b, [0], normalize=False)
    assert fig.axes[0].get_title(loc="left") == f"true 0 ↔ est. 0,  cos = {1 / np.sqrt(2):.2f}"
    np.testing.assert_array_equal(fig.axes[1].images[0].get_array(), b[0])


@pytest.mark.parametrize(
    ("est", "assignment", "f1", "match"),
    [
        (np.ones((2, 4, 5)), {0: 2}, None, "assignment: true unit 0 -> 2"),
        (np.ones((2, 4, 5)), {0: 1, 1: 1}, None, "one-to-one"),
        (np.ones((2, 4, 5)), {5: 0}, None, "assignment: key 5"),
        (np.ones((2, 3, 5)), {0: 0}, None, "est_templates: got 3 channels"),
        (np.ones((2, 4, 5)), {0: 0}, [0.5], "per_unit_f1"),
        (np.ones((2, 4, 5)), "0:0", None, "assignment: got str"),
    ],
)
def test_plot_ground_truth_comparison_bad_input(est, assignment, f1, match):
    with pytest.raises(InputError, match=match):
        plot_ground_truth_comparison(np.ones((2, 4, 5)), est, assignment, f1)


# --------------------------------------------------------------------------- PNG output, lazy import, backend


def _figures(sim):
    yield lambda: plot_model(sim.data, sim.templates, sim.amplitudes, figsize=(8.0, 4.0))
    yield lambda: plot_log_likelihood([-2.0, -1.5, -1.4], figsize=(4.0, 3.0))
    yield lambda: plot_k_selection(
        [1, 2, 3], [0.3, 0.6, 0.62], stability=[1.0, 0.9, 0.7], recommended=2, figsize=(7.0, 3.0)
    )
    yield lambda: plot_ground_truth_comparison(sim.templates, sim.templates[:2], {0: 0, 1: 1}, figsize=(5.0, 6.0))


@pytest.mark.parametrize("which", range(4))
@pytest.mark.parametrize("dpi", [40, 72])
def test_png_size_matches_figsize_times_dpi(sim, tmp_path, which, dpi):
    fig = list(_figures(sim))[which]()
    width, height = fig.get_size_inches()
    path = tmp_path / "figure.png"
    fig.savefig(path, dpi=dpi)
    assert path.stat().st_size > 1000
    img = imread(path)
    assert img.shape[:2] == (round(height * dpi), round(width * dpi))
    assert img[..., :3].std() > 0.01  # something was drawn, not a blank canvas


def test_plot_model_default_figsize_grows_with_channels(sim):
    fig = plot_model(sim.data, sim.templates, sim.amplitudes)
    np.testing.assert_allclose(fig.get_size_inches(), (13.0, 1.2 + 0.42 * 10))


def test_module_import_is_light_and_headless_uses_agg():
    code = (
        "import sys, neurocine.motifs.plotting as m\n"
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported at module import'\n"
        "fig = m.plot_log_likelihood([1.0, 2.0])\n"
        "import matplotlib\n"
        "print(matplotlib.get_backend().lower())\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    if sys.platform.startswith("linux"):
        assert out.stdout.strip() == "agg"


def test_unit_colors_stable_and_qualitative():
    from matplotlib import colormaps

    tab10 = [colormaps["tab10"](i) for i in range(10)]
    np.testing.assert_allclose(unit_colors(4), tab10[:4])
    np.testing.assert_allclose(unit_colors(25)[:10], tab10)  # same colour for unit k whatever K is
    assert len(set(unit_colors(20))) == 20
    assert unit_colors(25)[20] == unit_colors(25)[0]
    with pytest.raises(InputError, match="n_units"):
        unit_colors(-1)
