"""Tests for neurocine.encode.plotting (encoding-model figures)."""

from __future__ import annotations

import doctest
import re

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")
from matplotlib.figure import Figure

import neurocine.encode.plotting as encoding
from neurocine.encode.plotting import (
    plot_contributions,
    plot_ev_map,
    plot_framerate_table,
    plot_maps,
    plot_traces,
)
from neurocine.errors import InputError


def _image_axes(fig):
    return [ax for ax in fig.axes if ax.images]


def _blob(h=12, w=15, cy=5.0, cx=6.0, s=3.0):
    yy, xx = np.mgrid[:h, :w]
    return np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))


@pytest.fixture
def mask():
    m = np.zeros((12, 15), dtype=bool)
    m[2:10, 3:13] = True
    return m


def test_docstring_examples_run():
    result = doctest.testmod(encoding, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted >= 5 and result.failed == 0


# --------------------------------------------------------------------------- plot_maps


def test_plot_maps_one_panel_per_map_grid_and_symmetric_scales(mask):
    rng = np.random.default_rng(0)
    maps = {f"f{i}": rng.normal(size=(12, 15)) * (i + 1) for i in range(6)}
    fig = plot_maps(maps, mask=mask, title="betas")
    assert isinstance(fig, Figure)
    axes = _image_axes(fig)
    assert [ax.get_title() for ax in axes] == list(maps)
    assert len(fig.axes) == 2 * len(maps)  # one colour bar per panel
    assert fig.get_suptitle() == "betas"
    # at most four columns: panels 0-3 on the first row, 4-5 on the second
    rows = [ax.get_subplotspec().rowspan.start for ax in axes]
    cols = [ax.get_subplotspec().colspan.start for ax in axes]
    assert rows == [0, 0, 0, 0, 1, 1] and cols == [0, 1, 2, 3, 0, 1]
    for ax, (_name, m) in zip(axes, maps.items()):
        vmin, vmax = ax.images[0].get_clim()
        lim = np.abs(m[mask]).max()  # the scale ignores pixels outside the mask
        assert vmax == pytest.approx(lim) and vmin == pytest.approx(-lim)


def test_plot_maps_blanks_pixels_outside_the_mask(mask):
    m = _blob()
    m[0, 0] = 100.0  # outside the mask: neither drawn nor setting the colour scale
    fig = plot_maps({"whisk": m}, mask=mask)
    data = _image_axes(fig)[0].images[0].get_array()
    assert np.ma.isMaskedArray(data)
    np.testing.assert_array_equal(np.ma.getmaskarray(data), ~mask)
    np.testing.assert_allclose(data.compressed(), m[mask])
    assert _image_axes(fig)[0].images[0].get_clim()[1] == pytest.approx(m[mask].max())


def test_plot_maps_with_truth_reports_spatial_correlation(mask):
    a = _blob()
    b = _blob(cy=7.0, cx=9.0, s=2.0)
    fitted = {"whisk": 2.0 * a, "lick": -b, "run": a + b, "pupil": b}
    truth = {"whisk": a, "lick": b, "run": a}
    fig = plot_maps(fitted, mask=mask, truth=truth)
    axes = _image_axes(fig)
    assert len(axes) == 4 + 3
    titles = [ax.get_title() for ax in axes]
    assert titles[0] == "whisk\nr = 1.00"
    assert titles[1] == "lick\nr = -1.00"
    r_run = np.corrcoef((a + b)[mask], a[mask])[0, 1]
    assert titles[2] == f"run\nr = {r_run:.2f}"
    assert 0.0 < r_run < 0.99
    assert titles[3] == "pupil"  # no planted map: no r, no planted panel
    assert titles[4:] == ["whisk (planted)", "lick (planted)", "run (planted)"]
    # planted maps are on the row below their fitted map, same column
    spec = {ax.get_title(): ax.get_subplotspec() for ax in axes}
    for name in truth:
        fitted_spec = spec[[t for t in spec if t.startswith(name + "\n")][0]]
        planted_spec = spec[f"{name} (planted)"]
        assert planted_spec.rowspan.start == fitted_spec.rowspan.start + 1
        assert planted_spec.colspan.start == fitted_spec.colspan.start
    np.testing.assert_allclose(axes[4].images[0].get_array().compressed(), a[mask])


def test_plot_maps_planted_row_only_for_groups_with_truth(mask):
    a = _blob()
    fitted = {f"f{i}": a * (i + 1) for i in range(6)}  # columns 0-3 on the first row, 4-5 below
    fig = plot_maps(fitted, mask=mask, truth={"f1": a})
    spec = {ax.get_title(): ax.get_subplotspec() for ax in _image_axes(fig)}
    assert spec["f1 (planted)"].rowspan.start == 1 and spec["f1 (planted)"].colspan.start == 1
    assert spec["f4"].rowspan.start == 2 and spec["f5"].rowspan.start == 2  # no planted row for this group
    assert spec["f4"].get_gridspec().nrows == 3
    assert [ax.get_ylabel() for ax in _image_axes(fig)] == [
        "estimated (fitted)",
        "",
        "",
        "",
        "estimated (fitted)",
        "",
        "true (planted)",
    ]


def test_plot_maps_correlation_uses_only_mask_pixels(mask):
    a = _blob()
    fitted = a.copy()
    fitted[~mask] = -a[~mask]  # anti-correlated outside the brain only
    fig = plot_maps({"x": fitted}, mask=mask, truth={"x": a})
    assert _image_axes(fig)[0].get_title() == "x\nr = 1.00"


@pytest.mark.parametrize(
    "maps, kwargs, match",
    [
        ({}, {}, "maps: got an empty dict"),
        ([np.zeros((3, 3))], {}, "maps: got list"),
        ({"a": np.zeros((3, 3)), "b": np.zeros((3, 4))}, {}, r"maps\['b'\]: got shape \(3, 4\)"),
        ({"a": np.zeros(5)}, {}, r"maps\['a'\]: got shape \(5,\)"),
        ({"a": np.zeros((3, 3))}, {"mask": np.ones((4, 4), bool)}, r"mask: got shape \(4, 4\)"),
        ({"a": np.zeros((3, 3))}, {"mask": np.zeros((3, 3), bool)}, "mask: got no True pixel"),
        ({"a": np.zeros((3, 3))}, {"truth": {"b": np.zeros((3, 3))}}, "truth: got key 'b'"),
        ({"a": np.zeros((3, 3))}, {"truth": {"a": np.zeros((2, 3))}}, r"truth\['a'\]: got shape \(2, 3\)"),
    ],
)
def test_plot_maps_bad_input(maps, kwargs, match):
    with pytest.raises(InputError, match=match):
        plot_maps(maps, **kwargs)


# --------------------------------------------------------------------------- plot_ev_map


def test_plot_ev_map_mean_in_title_scale_and_mask(mask):
    rng = np.random.default_rng(1)
    ev = rng.uniform(-0.05, 0.6, size=(12, 15))
    ev[~mask] = 5.0  # outside: must not count in the mean or the scale
    ev[3, 4] = np.nan  # not fitted: left out
    fig = plot_ev_map(ev, mask=mask)
    ax = _image_axes(fig)[0]
    first, second = ax.get_title().split("\n")
    assert first == "cross-validated explained variance"
    got = re.fullmatch(r"mean in mask = (-?[\d.]+) \((\d+) pixels\)", second)
    inside = ev[mask & np.isfinite(ev)]
    assert float(got.group(1)) == pytest.approx(inside.mean(), abs=5e-4)
    assert int(got.group(2)) == inside.size == mask.sum() - 1
    assert ax.images[0].get_clim() == pytest.approx((0.0, np.percentile(inside, 99)))
    assert ax.images[0].get_cmap().name == "viridis"
    data = ax.images[0].get_array()
    expected_blank = ~mask.copy()
    expected_blank[3, 4] = True
    np.testing.assert_array_equal(np.ma.getmaskarray(data), expected_blank)
    assert len(fig.axes) == 2  # map + colour bar


def test_plot_ev_map_vmax_floor_and_explicit():
    fig = plot_ev_map(np.zeros((4, 4)), title=None)
    ax = _image_axes(fig)[0]
    assert ax.images[0].get_clim() == (0.0, 1e-3)
    assert ax.get_title() == "mean in mask = 0.000 (16 pixels)"
    assert _image_axes(plot_ev_map(np.zeros((4, 4)), vmax=0.5))[0].images[0].get_clim() == (0.0, 0.5)


@pytest.mark.parametrize(
    "ev, kwargs, match",
    [
        (np.zeros(4), {}, r"ev: got shape \(4,\)"),
        (np.full((3, 3), np.nan), {}, "ev: every value inside the mask is NaN"),
        (np.zeros((3, 3)), {"vmax": 0.0}, "vmax: got 0.0"),
        (np.zeros((3, 3)), {"mask": np.full((3, 3), 2)}, "mask: got dtype"),
    ],
)
def test_plot_ev_map_bad_input(ev, kwargs, match):
    with pytest.raises(InputError, match=match):
        plot_ev_map(ev, **kwargs)


# --------------------------------------------------------------------------- plot_contributions


def test_plot_contributions_sorted_by_unique_top_first():
    names = ["whisk", "lick", "run", "pupil"]
    unique = np.array([0.02, 0.10, -0.005, 0.04])
    single = np.array([0.15, 0.20, 0.01, 0.05])
    fig = plot_contributions(names, unique, single, full_ev=0.31, title="V1")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "V1"
    order = ["lick", "pupil", "whisk", "run"]
    assert [t.get_text() for t in ax.get_yticklabels()] == order  # ticks listed top first
    assert np.all(np.diff(ax.get_yticks()) < 0)
    u_bars, s_bars = ax.containers
    assert u_bars.get_label() == "unique (shuffled out)" and s_bars.get_label() == "alone"
    idx = [names.index(n) for n in order]
    np.testing.assert_allclose([b.get_width() for b in u_bars], 100 * unique[idx])
    np.testing.assert_allclose([b.get_width() for b in s_bars], 100 * single[idx])
    # bar centres: top feature highest, the two bars of a feature around its tick
    u_y = np.array([b.get_y() + b.get_height() / 2 for b in u_bars])
    s_y = np.array([b.get_y() + b.get_height() / 2 for b in s_bars])
    assert np.all(np.diff(u_y) < 0)
    np.testing.assert_allclose((u_y + s_y) / 2, ax.get_yticks())
    full = [line for line in ax.lines if line.get_gid() == "full_model"]
    assert len(full) == 1 and full[0].get_label() == "full model" and full[0].get_linestyle() == "--"
    assert full[0].get_xdata()[0] == pytest.approx(31.0)
    assert "full model" in [t.get_text() for t in ax.get_legend().get_texts()]
    assert "%" in ax.get_xlabel()


def test_plot_contributions_without_full_ev_has_no_line():
    ax = plot_contributions(["a"], [0.1], [0.2]).axes[0]
    assert not [line for line in ax.lines if line.get_gid() == "full_model"]


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((["a", "b"], [0.1], [0.1]), {}, "names: got 2 names, expected 1"),
        ((["a", "b"], [0.1, 0.2], [0.1]), {}, r"single: got shape \(1,\)"),
        ((["a"], [np.nan], [0.1]), {}, "unique: 1 non-finite"),
        (("ab", [0.1, 0.2], [0.1, 0.2]), {}, "names: got str"),
        ((["a"], [0.1], [0.1]), {"full_ev": "x"}, "full_ev: got 'x'"),
    ],
)
def test_plot_contributions_bad_input(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        plot_contributions(*args, **kwargs)


# --------------------------------------------------------------------------- plot_traces


def test_plot_traces_window_rows_colours_and_legend():
    fs = 10.0
    t = 5.0 + np.arange(0, 200, 1 / fs)  # 200 s starting at 5 s
    rng = np.random.default_rng(2)
    actual = rng.normal(size=(t.size, 3))
    ridge = actual + 0.1
    lstm = actual - 0.1
    lstm[:20] = np.nan  # first 2 s not predicted (sequence warm-up)
    fig = plot_traces(t, actual, {"ridge": ridge, "LSTM": lstm}, names=["V1", "M2", "S1"], max_seconds=30)
    assert len(fig.axes) == 3
    keep = t <= 35.0
    for j, ax in enumerate(fig.axes):
        assert len(ax.lines) == 3
        for line in ax.lines:
            x = np.asarray(line.get_xdata())
            assert x.max() == pytest.approx(35.0) and x.min() == pytest.approx(5.0)
        np.testing.assert_allclose(ax.lines[0].get_ydata(), actual[keep, j])
        np.testing.assert_allclose(ax.lines[1].get_ydata(), ridge[keep, j])
        assert np.isnan(ax.lines[2].get_ydata()[:20]).all()
        assert ax.lines[0].get_color() == "k"
        assert ax.lines[1].get_color() != ax.lines[2].get_color()
        assert ax.get_ylabel() == ["V1", "M2", "S1"][j]
    legends = [ax.get_legend() for ax in fig.axes]
    assert legends[0] is not None and legends[1:] == [None, None]
    assert [t.get_text() for t in legends[0].get_texts()] == ["actual", "ridge", "LSTM"]


def test_plot_traces_one_dimensional_and_more_than_eight():
    t = np.arange(100) / 10.0
    fig = plot_traces(t, np.sin(t), {"ridge": np.cos(t)}, max_seconds=None, title="held-out")
    assert len(fig.axes) == 1 and fig.axes[0].get_ylabel() == "trace 0"
    assert fig.axes[0].lines[0].get_xdata().max() == pytest.approx(9.9)
    actual = np.zeros((100, 12))
    fig = plot_traces(t, actual, {}, title="held-out")
    assert len(fig.axes) == 8
    assert "first 8 of 12" in fig.get_suptitle() and "held-out" in fig.get_suptitle()


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        ((np.arange(10.0), np.zeros((9, 2)), {}), {}, r"actual: got shape \(9, 2\)"),
        ((np.arange(10.0), np.zeros((10, 2)), {"ridge": np.zeros((10, 3))}), {}, r"predictions\['ridge'\]: got shape"),
        (
            (np.arange(10.0), np.zeros((10, 2)), {"ridge": np.zeros(10)}),
            {},
            r"predictions\['ridge'\]: got shape \(10,\)",
        ),
        ((np.arange(10.0), np.zeros((10, 2)), [np.zeros((10, 2))]), {}, "predictions: got list"),
        ((np.arange(10.0), np.zeros((10, 2)), {}), {"names": ["a"]}, "names: got 1 names, expected 2"),
        ((np.arange(10.0), np.zeros((10, 2)), {}), {"max_seconds": -1}, "max_seconds: got -1"),
        ((np.arange(10.0)[::-1], np.zeros((10, 2)), {}), {}, "times: got decreasing"),
    ],
)
def test_plot_traces_bad_input(args, kwargs, match):
    with pytest.raises(InputError, match=match):
        plot_traces(*args, **kwargs)


# --------------------------------------------------------------------------- plot_framerate_table


def test_plot_framerate_table_heights_labels_and_groups():
    rows = ["10 Hz", "15 Hz", "30 Hz", "interpolated"]
    columns = ["LSTM small", "ridge small", "LSTM large", "ridge large"]
    values = np.array(
        [
            [0.412, 0.351, 0.455, 0.380],
            [0.430, 0.352, np.nan, 0.381],
            [0.448, 0.349, 0.470, 0.379],
            [0.401, 0.350, 0.462, -0.012],
        ]
    )
    fig = plot_framerate_table(rows, columns, values, title="Table III")
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "Table III"
    assert [c.get_label() for c in ax.containers] == columns
    heights = np.array([[b.get_height() for b in c] for c in ax.containers]).T  # (n_rows, n_cols)
    np.testing.assert_allclose(heights, 100 * values)  # NaN where not run
    assert [t.get_text() for t in ax.get_xticklabels()] == rows
    # within a group the bars follow the column order, centred on the row's tick
    centres = np.array([[b.get_x() + b.get_width() / 2 for b in c] for c in ax.containers]).T
    assert np.all(np.diff(centres, axis=1) > 0)
    np.testing.assert_allclose(centres.mean(axis=1), np.arange(len(rows)))
    labels = {(round(t.get_position()[0], 6), t.get_text()) for t in ax.texts}
    expected = {
        (round(centres[i, j], 6), f"{100 * values[i, j]:.1f}")
        for i in range(4)
        for j in range(4)
        if np.isfinite(values[i, j])
    }
    assert labels == expected and len(ax.texts) == 15
    assert "41.2" in {t.get_text() for t in ax.texts} and "-1.2" in {t.get_text() for t in ax.texts}
    for t in ax.texts:  # each label sits at the top of its bar
        x, y = t.get_position()
        i, j = np.argwhere(np.isclose(centres, x))[0]
        assert y == pytest.approx(100 * values[i, j])
    assert "%" in ax.get_ylabel()


@pytest.mark.parametrize(
    "args, match",
    [
        ((["10 Hz"], ["LSTM", "ridge"], [[0.1, 0.2, 0.3]]), r"values: got shape \(1, 3\), expected"),
        ((["10 Hz"], ["LSTM"], [0.1]), r"values: got shape \(1,\)"),
        (([], ["LSTM"], np.zeros((0, 1))), "rows: got an empty sequence"),
        ((["10 Hz"], "LSTM", [[0.1]]), "columns: got str"),
        ((["10 Hz"], ["LSTM"], [[np.inf]]), "values: 1 infinite"),
    ],
)
def test_plot_framerate_table_bad_input(args, match):
    with pytest.raises(InputError, match=match):
        plot_framerate_table(*args)
