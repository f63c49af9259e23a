"""DesignMatrix: named columns and groups, feature helpers against timing functions, validation."""

from __future__ import annotations

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.features.design import DesignMatrix
from neurocine.features.timing import lagged, one_hot, running_mean


@pytest.fixture
def session():
    rng = np.random.default_rng(0)
    t = 100
    return {
        "t": t,
        "whisk": rng.gamma(2.0, 1.0, t),
        "jaw": rng.gamma(2.0, 1.0, t),
        "wheel": rng.standard_normal(t),
        "lick": (rng.random(t) < 0.1).astype(int),
        "stim": rng.choice(np.array(["left", "right", "none"]), t),
        "pupil": rng.standard_normal((t, 2)),
    }


def _build(s):
    return (
        DesignMatrix(s["t"])
        .add_running_means("whisk", s["whisk"], windows=[1, 3, 10])
        .add_running_means("jaw", s["jaw"], windows=[3], group="face")
        .add("wheel", s["wheel"])
        .add("pupil", s["pupil"], group="face", column_names=["pupil_area", "pupil_x"])
        .add_lagged("lick", s["lick"], lags=[-1, 0, 2])
        .add_one_hot("stim", s["stim"])
    )


def test_columns_groups_and_values_match_the_timing_functions(session):
    dm = _build(session)
    assert dm.columns == [
        "whisk_mean1",
        "whisk_mean3",
        "whisk_mean10",
        "jaw_mean3",
        "wheel",
        "pupil_area",
        "pupil_x",
        "lick_lag-1",
        "lick_lag0",
        "lick_lag2",
        "stim=left",
        "stim=none",
        "stim=right",
    ]
    groups = {g: idx.tolist() for g, idx in dm.groups.items()}
    assert groups == {"whisk": [0, 1, 2], "face": [3, 5, 6], "wheel": [4], "lick": [7, 8, 9], "stim": [10, 11, 12]}
    X = dm.X
    assert X.shape == (100, 13) and X.dtype == np.float64 and dm.n_columns == 13 and len(dm) == 100
    for j, n in enumerate((1, 3, 10)):
        np.testing.assert_allclose(X[:, j], running_mean(session["whisk"], n), rtol=1e-12)
    np.testing.assert_allclose(X[:, 1][2:], np.convolve(session["whisk"], np.ones(3) / 3, "valid"), rtol=1e-12)
    np.testing.assert_array_equal(X[:, 4], session["wheel"])
    np.testing.assert_array_equal(X[:, 5:7], session["pupil"])
    np.testing.assert_array_equal(X[:, 7:10], lagged(session["lick"], [-1, 0, 2])[0])
    np.testing.assert_array_equal(X[:, 10:], one_hot(session["stim"])[0])
    assert "13 columns" in repr(dm) and "face: 3" in repr(dm)


def test_x_is_read_only_and_follows_additions(session):
    dm = DesignMatrix(session["t"]).add("wheel", session["wheel"])
    with pytest.raises(ValueError):
        dm.X[0, 0] = 1.0
    dm.add("jaw", session["jaw"])
    assert dm.X.shape == (100, 2)
    assert DesignMatrix(5).X.shape == (5, 0)


def test_running_means_of_two_channels_and_default_names():
    x = np.arange(12.0).reshape(6, 2)
    dm = DesignMatrix(6).add_running_means("me", x, windows=[1, 2]).add("raw", x)
    assert dm.columns == ["me0_mean1", "me0_mean2", "me1_mean1", "me1_mean2", "raw_0", "raw_1"]
    np.testing.assert_allclose(dm.X[:, 1], [0, 1, 3, 5, 7, 9])


def test_zscore(session):
    dm = _build(session).add("const", np.full(100, 0.1))
    z = dm.zscore()
    X = dm.X
    np.testing.assert_allclose(z.X[:, :-1], (X[:, :-1] - X[:, :-1].mean(0)) / X[:, :-1].std(0), rtol=1e-12)
    np.testing.assert_allclose(z.X[:, :-1].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z.X[:, :-1].std(0), 1, rtol=1e-12)
    np.testing.assert_array_equal(z.X[:, -1], 0.0)  # constant column: zeros, not NaN
    assert z.columns == dm.columns and z.groups.keys() == dm.groups.keys()
    np.testing.assert_array_equal(dm.X, X)  # the original is unchanged


def test_select_and_shuffled_for_feature_attribution(session):
    dm = _build(session)
    alone = dm.select("whisk")
    assert alone.columns == ["whisk_mean1", "whisk_mean3", "whisk_mean10"]
    np.testing.assert_array_equal(alone.X, dm.X[:, :3])
    two = dm.select(["wheel", "face"])
    assert two.columns == ["jaw_mean3", "wheel", "pupil_area", "pupil_x"]

    sh = dm.shuffled("face", random_state=3)
    face = dm.groups["face"]
    others = np.setdiff1d(np.arange(dm.n_columns), face)
    np.testing.assert_array_equal(sh.X[:, others], dm.X[:, others])
    perm = np.random.default_rng(3).permutation(100)
    np.testing.assert_array_equal(sh.X[:, face], dm.X[perm][:, face])  # one permutation for the whole group
    assert not np.array_equal(sh.X[:, face], dm.X[:, face])
    np.testing.assert_array_equal(sh.X, dm.shuffled("face", random_state=3).X)  # reproducible
    with pytest.raises(InputError, match="groups: 'tongue' is not a group of this design matrix"):
        dm.select("tongue")
    with pytest.raises(InputError, match="groups: empty"):
        dm.shuffled([])


def test_as_dict_round_trip_with_timestamps(session):
    stamps = 5.0 + np.arange(100) / 30.0
    dm = (
        DesignMatrix(stamps)
        .add_running_means("whisk", session["whisk"], [1, 3])
        .add("wheel", session["wheel"], group="move")
    )
    d = dm.as_dict()
    assert set(d) == {"X", "columns", "groups", "blocks", "timestamps"}
    assert d["groups"].tolist() == ["whisk", "whisk", "move"]
    back = DesignMatrix.from_dict(d)
    np.testing.assert_array_equal(back.X, dm.X)
    np.testing.assert_array_equal(back.timestamps, stamps)
    assert back.columns == dm.columns
    assert {g: i.tolist() for g, i in back.groups.items()} == {g: i.tolist() for g, i in dm.groups.items()}
    with pytest.raises(InputError, match="data: has no 'groups'"):
        DesignMatrix.from_dict({"X": d["X"], "columns": d["columns"]})


@pytest.mark.parametrize(
    "call,match",
    [
        (
            lambda dm: dm.add("jaw", np.zeros(99)),
            "jaw: has 99 rows but the design matrix has 100 samples; expected equal lengths",
        ),
        (
            lambda dm: dm.add_running_means("whisk_me", np.zeros(101), [3]),
            "whisk_me: has 101 rows but the design matrix has 100 samples",
        ),
        (lambda dm: dm.add_lagged("lick", np.zeros(10), [0]), "lick: has 10 rows but the design matrix has 100"),
        (lambda dm: dm.add_one_hot("stim", ["a"] * 3), "stim: has 3 rows but the design matrix has 100"),
        (lambda dm: dm.add("wheel", np.zeros(100)), "name: 'wheel' is already a block"),
        (
            lambda dm: dm.add("other", np.zeros(100), column_names=["wheel"]),
            "other: column name 'wheel' is already used",
        ),
        (lambda dm: dm.add("two", np.zeros((100, 2)), column_names=["a", "a"]), "two: column name 'a' is already used"),
        (lambda dm: dm.add("two", np.zeros((100, 2)), column_names=["a"]), "column_names: got 1 names for 2 columns"),
        (lambda dm: dm.add("jaw", np.r_[np.zeros(99), np.nan]), r"jaw: has 1 NaN, the first at \(row 99, column 0\)"),
        (
            lambda dm: dm.add("stim", np.array(["a"] * 100)),
            r"stim: has dtype <U1; expected real numbers \(use add_one_hot",
        ),
        (lambda dm: dm.add("cube", np.zeros((100, 2, 2))), "cube: got a 3-D array"),
        (lambda dm: dm.add("", np.zeros(100)), "name: got ''"),
        (lambda dm: dm.add("z", np.zeros((100, 0))), "z: has 0 columns"),
        (lambda dm: dm.add_running_means("me", np.zeros(100), [3, 3]), "windows: .* has repeated lengths"),
        (lambda dm: dm.add_running_means("me", np.zeros(100), [0]), "windows: got 0"),
        (lambda dm: dm.add_lagged("lick", np.zeros(100), [0.5]), "lags: got 0.5"),
    ],
)
def test_bad_input(call, match):
    dm = DesignMatrix(100).add("wheel", np.zeros(100))
    with pytest.raises(InputError, match=match):
        call(dm)


@pytest.mark.parametrize(
    "samples,match",
    [
        (0, "samples: got 0"),
        (True, "samples: got True"),
        (2.5, "samples: got 2.5"),
        ([0.0, 1.0, 0.5], "samples: not strictly increasing at index 2"),
    ],
)
def test_bad_samples(samples, match):
    with pytest.raises(InputError, match=match):
        DesignMatrix(samples)
