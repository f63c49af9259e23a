"""Property-based tests (hypothesis) of parsers and numerical invariants.

* the ROI file parser (:func:`neurocine.io.rois.read_roi_specs`, and :func:`load_rois`, which checks the
  geometry): generated TOML/JSON ROI sets read back exactly; generated bad files raise InputError naming
  the file (and the ROI);
* resampling (:mod:`neurocine.features.timing`): ``decimate(upsample(x, f), f) == x`` exactly,
  interpolation returns the samples at the sample times and is exact on straight lines, the times returned
  alongside are consistent, the anti-alias filter passes straight lines, ``to_common_clock`` against a
  brute-force reference;
* ridge (:class:`neurocine.models.ridge.RidgeCV`) equals its closed form ``(XᵀX + αI)⁻¹ XᵀY`` (and
  scikit-learn's ``Ridge``), per target and per fold, on both back ends and in float32;
* Conv-NMF (:class:`neurocine.motifs.ConvNMF`): ``reconstruct(A)`` is the sum over spikes of the amplitude
  times the template placed at the spike (a plain loop), is linear, uses only the spiking unit's template,
  and reproduces :func:`neurocine.motifs.simulate.simulate_convnmf`'s data minus its noise.

Screenome logs and configs have their own property tests (tests/test_screenome.py, tests/test_config.py).
"""

from __future__ import annotations

import copy
import json
import locale
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from neurocine.encode.video_jobs import load_rois
from neurocine.errors import InputError
from neurocine.features.rois import ROI
from neurocine.features.timing import decimate, interpolate, to_common_clock, upsample
from neurocine.io.rois import read_roi_specs
from neurocine.models.ridge import RidgeCV, cv_splits

pytestmark = pytest.mark.usefixtures("one_thread")

EPS32 = float(np.finfo(np.float32).eps)


# =========================================================================== #
# ROI files
# =========================================================================== #
# any text a TOML or JSON key can hold (lone surrogates are not valid UTF-8)
NAMES = st.text(st.characters(blacklist_categories=("Cs",)), max_size=8)
INTS = st.integers(-(2**40), 2**40)
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
COORDS = st.one_of(INTS, FLOATS)
BOX = st.lists(INTS, min_size=4, max_size=4)
POLYGON = st.lists(st.lists(COORDS, min_size=2, max_size=2), min_size=3, max_size=5)
# the parser only reads: geometry (both keys, neither, empty boxes) is load_rois' business
RAW_SPECS = st.one_of(
    st.fixed_dictionaries({"box": BOX}),
    st.fixed_dictionaries({"polygon": POLYGON}),
    st.fixed_dictionaries({"box": BOX, "polygon": POLYGON}),
    st.just({}),
)
FORMATS = ("toml-tables", "toml-inline", "json")
_UTF8_LOCALE = locale.getpreferredencoding(False).lower().replace("-", "") == "utf8"


def _toml_str(s: str) -> str:
    """A TOML basic string, every character outside printable ASCII escaped (so the file is ASCII)."""
    out = []
    for ch in s:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
    return '"' + "".join(out) + '"'


def _toml_key(s: str) -> str:
    """A bare key when TOML allows one, else a quoted key."""
    return s if re.fullmatch(r"[A-Za-z0-9_-]+", s) else _toml_str(s)


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return repr(v)  # 1e+16, -0.0, nan, inf: all TOML floats
    if isinstance(v, str):
        return _toml_str(v)
    if isinstance(v, list):
        return "[" + ", ".join(map(_toml_value, v)) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def _roi_text(rois: dict, fmt: str, ascii_only: bool = True) -> str:
    if fmt == "json":
        return json.dumps(rois, indent=2, ensure_ascii=ascii_only or not _UTF8_LOCALE)
    if fmt == "toml-inline" or any(not isinstance(s, dict) for s in rois.values()):
        return "".join(f"{_toml_key(n)} = {_toml_value(s)}\n" for n, s in rois.items())
    lines = ["# ROIs"]
    for name, spec in rois.items():
        lines.append(f"[{_toml_key(name)}]")
        lines += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in spec.items()]
    return "\n".join(lines) + "\n"


def _write(factory, text, suffix):
    path = factory.mktemp("rois") / f"rois{suffix}"
    path.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    return path


def _suffix(fmt: str) -> str:
    return ".json" if fmt == "json" else ".toml"


def _same(a, b) -> bool:
    """Equal values of equal types (int stays int, float stays float, -0.0 stays -0.0), key order included."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    if isinstance(a, float):
        return repr(a) == repr(b)
    return a == b


@settings(max_examples=50, deadline=None)
@given(
    rois=st.dictionaries(NAMES, RAW_SPECS, min_size=1, max_size=5),
    fmt=st.sampled_from(FORMATS),
    upper=st.booleans(),
    ascii_only=st.booleans(),
)
def test_roi_file_round_trip_is_exact(tmp_path_factory, rois, fmt, upper, ascii_only):
    suffix = _suffix(fmt)
    path = _write(tmp_path_factory, _roi_text(rois, fmt, ascii_only), suffix.upper() if upper else suffix)
    got = read_roi_specs(path)
    assert [name for name, _ in got] == list(rois)  # the file's order
    for name, spec in got:
        assert _same(spec, rois[name]), (name, spec, rois[name])


def _valid_geometry():
    box = st.tuples(INTS, INTS, st.integers(1, 2**20), st.integers(1, 2**20)).map(
        lambda b: {"box": [b[0], b[1], b[0] + b[2], b[1] + b[3]]}
    )
    polygon = POLYGON.map(lambda p: {"polygon": p})
    return st.one_of(box, polygon)


VALID_ROIS = st.dictionaries(NAMES.filter(bool), _valid_geometry(), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(rois=VALID_ROIS, fmt=st.sampled_from(FORMATS))
def test_load_rois_turns_a_valid_file_into_the_same_rois(tmp_path_factory, rois, fmt):
    path = _write(tmp_path_factory, _roi_text(rois, fmt), _suffix(fmt))
    got = load_rois(path, None)
    assert [r.name for r in got] == list(rois)
    for roi in got:
        spec = rois[roi.name]
        if "box" in spec:
            assert roi.polygon is None and roi.box == tuple(spec["box"])
        else:
            assert roi.box is None and roi.polygon == tuple((float(x), float(y)) for x, y in spec["polygon"])


# -- files the parser refuses -----------------------------------------------------------
NOT_A_TABLE = st.one_of(INTS, FLOATS, st.booleans(), st.text(max_size=4), st.lists(INTS, max_size=3))
OTHER_KEYS = NAMES.filter(lambda k: k not in ("box", "polygon"))


@settings(max_examples=50, deadline=None)
@given(
    good=VALID_ROIS,
    bad_name=NAMES,
    kind=st.sampled_from(["not a table", "unknown key"]),
    value=NOT_A_TABLE,
    keys=st.lists(OTHER_KEYS, min_size=1, max_size=2, unique=True),
    where=st.integers(0, 5),
    fmt=st.sampled_from(FORMATS),
)
def test_a_bad_roi_is_refused_naming_the_file_and_the_roi(
    tmp_path_factory, good, bad_name, kind, value, keys, where, fmt
):
    good.pop(bad_name, None)
    if kind == "not a table":
        bad = value
    else:  # a valid ROI plus unknown keys
        bad = {"box": [0, 0, 1, 1], **dict.fromkeys(keys, 1)}
    items = list(good.items())
    items.insert(min(where, len(items)), (bad_name, bad))
    path = _write(tmp_path_factory, _roi_text(dict(items), fmt), _suffix(fmt))
    with pytest.raises(InputError) as err:
        read_roi_specs(path)
    msg = str(err.value)
    assert msg.startswith(f"{path}: ")
    if kind == "not a table":
        assert f"'{bad_name}' is a {type(value).__name__}, not a table" in msg
    else:
        assert f"[{bad_name}] has unknown key(s) {sorted(keys)}" in msg


EMPTY = {
    ".toml": ["", "# no ROI here\n", "\n\n"],
    ".json": ["{}", "[]", "3", '"whisker"', "null", '[{"box": [0, 0, 1, 1]}]'],
}


@settings(max_examples=40, deadline=None)
@given(
    rois=VALID_ROIS,
    fmt=st.sampled_from(FORMATS),
    how=st.sampled_from(["empty", "truncated", "not utf-8", "extension", "missing"]),
    pick=st.integers(0, 10),
    ext=st.text("abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=5),
)
def test_a_bad_file_is_refused_naming_the_file(tmp_path_factory, rois, fmt, how, pick, ext):
    suffix = _suffix(fmt)
    text = _roi_text(rois, fmt)
    if how == "empty":
        path = _write(tmp_path_factory, EMPTY[suffix][pick % len(EMPTY[suffix])], suffix)
        expected = "holds no ROI"
    elif how == "truncated":  # JSON without its closing brace; TOML with an unclosed table header
        path = _write(tmp_path_factory, text.rstrip()[:-1] if fmt == "json" else text + "[\n", suffix)
        expected = "cannot be parsed"
    elif how == "not utf-8":
        path = _write(tmp_path_factory, b"\xff\xfe" + text.encode(), suffix)
        expected = "cannot be parsed"
    elif how == "extension":
        if ext in ("toml", "json"):
            ext += "x"
        path = _write(tmp_path_factory, text, "." + ext)
        expected = f"unsupported ROI file extension '.{ext}'"
    else:
        path = tmp_path_factory.mktemp("rois") / f"missing{suffix}"
        expected = "no such ROI file"
    with pytest.raises(InputError) as err:
        read_roi_specs(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value)


def _bad_geometry():
    """Specs that ROI must refuse (the parser passes them through): empty boxes, wrong lengths, non-integers..."""
    empty_box = st.tuples(INTS, INTS, st.integers(-5, 0), st.integers(-5, 5), st.booleans()).map(
        lambda b: [b[0], b[1], b[0] + b[2], b[1] + b[3]] if b[4] else [b[1], b[0], b[1] + b[3], b[0] + b[2]]
    )
    return st.one_of(
        empty_box.map(lambda b: {"box": b}),
        st.lists(INTS, max_size=7).filter(lambda b: len(b) != 4).map(lambda b: {"box": b}),
        st.tuples(BOX, st.integers(0, 3), st.floats(0.01, 0.99)).map(
            lambda t: {"box": [v + t[2] if i == t[1] else v for i, v in enumerate(t[0])]}
        ),
        st.lists(st.lists(COORDS, min_size=2, max_size=2), max_size=2).map(lambda p: {"polygon": p}),
        st.tuples(POLYGON, st.sampled_from([math.nan, math.inf, -math.inf])).map(
            lambda t: {"polygon": t[0][:-1] + [[t[0][-1][0], t[1]]]}
        ),
        st.lists(st.lists(COORDS, min_size=3, max_size=3), min_size=3, max_size=4).map(lambda p: {"polygon": p}),
        st.tuples(BOX, POLYGON).map(lambda t: {"box": t[0], "polygon": t[1]}),
        st.just({}),
        # numbers written as strings, and booleans, are not coordinates (int("5") and True == 1 would pass)
        st.tuples(BOX, st.integers(0, 3), st.sampled_from([str, bool])).map(
            lambda t: {"box": [t[2](v) if i == t[1] else v for i, v in enumerate(t[0])]}
        ),
        st.tuples(POLYGON, st.sampled_from([str, bool])).map(
            lambda t: {"polygon": t[0][:-1] + [[t[1](t[0][-1][0]), t[0][-1][1]]]}
        ),
    )


@settings(max_examples=60, deadline=None)
@given(
    good=VALID_ROIS,
    bad_name=NAMES.filter(bool),
    bad=_bad_geometry(),
    where=st.integers(0, 5),
    fmt=st.sampled_from(FORMATS),
)
def test_bad_geometry_is_refused_naming_the_file_and_the_roi(tmp_path_factory, good, bad_name, bad, where, fmt):
    good.pop(bad_name, None)
    items = list(good.items())
    items.insert(min(where, len(items)), (bad_name, bad))
    path = _write(tmp_path_factory, _roi_text(dict(items), fmt), _suffix(fmt))
    assert _same(dict(read_roi_specs(path))[bad_name], bad)  # read as written...
    with pytest.raises(InputError) as err:
        load_rois(path, None)  # ... refused where the specs become ROIs
    assert str(err.value).startswith(f"{path}: ROI '{bad_name}': ")


# json.loads alone would keep the last of two equal keys and silently lose a ROI: the reader refuses the file
@pytest.mark.parametrize("fmt", ["toml-inline", "json"])
@settings(max_examples=20, deadline=None)
@given(rois=VALID_ROIS, data=st.data())
def test_a_file_naming_one_roi_twice_is_refused(tmp_path_factory, fmt, rois, data):
    name = data.draw(st.sampled_from(list(rois)))
    entries = [
        f"{json.dumps(n)}: {json.dumps(s)}" if fmt == "json" else f"{_toml_key(n)} = {_toml_value(s)}"
        for n, s in [*rois.items(), (name, {"box": [0, 0, 1, 1]})]
    ]
    text = "{" + ", ".join(entries) + "}" if fmt == "json" else "\n".join(entries) + "\n"
    path = _write(tmp_path_factory, text, _suffix(fmt))
    with pytest.raises(InputError) as err:
        load_rois(path, None)
    assert str(err.value).startswith(f"{path}: ")


# the writer of simulated sessions (neurocine.encode.simulate.rois_toml) promises text read_roi_specs reads back
SIMPLE_NAMES = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x7E, blacklist_characters='"\\'), min_size=1, max_size=8
)


@settings(max_examples=30, deadline=None)
@given(rois=st.dictionaries(SIMPLE_NAMES, _valid_geometry(), min_size=1, max_size=4))
def test_rois_toml_round_trips_through_the_parser(tmp_path_factory, rois):
    from neurocine.encode.simulate import rois_toml

    made = [ROI(name, **spec) for name, spec in rois.items()]
    path = _write(tmp_path_factory, rois_toml(made), ".toml")
    assert [ROI(name, **spec) for name, spec in read_roi_specs(path)] == made


# any name at all: non-ASCII letters (é, ², 名 are not bare TOML keys), quotes, backslashes, control characters
@settings(max_examples=60, deadline=None)
@given(
    name=st.one_of(
        st.sampled_from(["é", "²", "名", 'a"b', "a\\b", "a\x7fb", "😀", "\t"]),
        st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8),
    )
)
def test_rois_toml_round_trips_any_roi_name(tmp_path_factory, name):
    from neurocine.encode.simulate import rois_toml

    made = [ROI(name, box=(0, 0, 1, 1))]
    path = _write(tmp_path_factory, rois_toml(made), ".toml")
    assert [ROI(n, **spec) for n, spec in read_roi_specs(path)] == made


# =========================================================================== #
# resampling round trips
# =========================================================================== #
@st.composite
def samples(draw, min_len=2, max_len=25, nan=False):
    """(x, t): time-first samples (T,), (T, C) or (T, C1, C2) and strictly increasing times (T,)."""
    n = draw(st.integers(min_len, max_len))
    trailing = tuple(draw(st.lists(st.integers(1, 3), max_size=2)))
    elements = (
        st.floats(-1e6, 1e6, allow_nan=False)
        if not nan
        else st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan))
    )
    x = draw(arrays(np.float64, (n,) + trailing, elements=elements))
    start = draw(st.floats(-1e3, 1e3))
    steps = draw(arrays(np.float64, (n,), elements=st.floats(1e-3, 10.0)))
    t = start + np.cumsum(steps)
    return x, t


@settings(max_examples=50, deadline=None)
@given(xt=samples(nan=True), factor=st.integers(1, 5))
def test_decimate_undoes_upsample_exactly(xt, factor):
    x, t = xt
    y, t_up = upsample(x, factor, times=t)
    assert y.shape == ((x.shape[0] - 1) * factor + 1,) + x.shape[1:] and t_up.shape == (y.shape[0],)
    np.testing.assert_array_equal(upsample(x, factor), y)
    back, t_back = decimate(y, factor, times=t_up)  # decimate checks t_up is strictly increasing
    np.testing.assert_array_equal(back, x)  # NaN where x has NaN, bit for bit elsewhere
    np.testing.assert_array_equal(t_back, t)


@settings(max_examples=50, deadline=None)
@given(xt=samples(), factor=st.integers(2, 5), data=st.data())
def test_upsampled_frames_and_times_are_the_linear_interpolation(xt, factor, data):
    x, t = xt
    y, t_up = upsample(x, factor, times=t)
    assert np.all(np.diff(t_up) > 0)
    scale = np.abs(x).max() + 1.0
    # frame k * factor + j is at fraction j / factor between frames k and k + 1, on any time axis
    np.testing.assert_allclose(interpolate(x, t, t_up), y, rtol=0, atol=1e-9 * scale)
    frames = np.arange(x.shape[0], dtype=np.float64)
    np.testing.assert_allclose(interpolate(x, frames, np.arange(y.shape[0]) / factor), y, rtol=0, atol=1e-9 * scale)
    # every other offset of the decimation is one of the interpolated phases
    j = data.draw(st.integers(1, factor - 1))
    phase = decimate(y, factor, offset=j)
    assert phase.shape[0] == x.shape[0] - 1
    np.testing.assert_allclose(phase, interpolate(x, frames, frames[:-1] + j / factor), rtol=0, atol=1e-9 * scale)


@settings(max_examples=50, deadline=None)
@given(xt=samples(min_len=1), factor=st.integers(1, 6), data=st.data(), as_int=st.booleans())
def test_decimate_keeps_every_factor_th_frame_and_its_time(xt, factor, data, as_int):
    x, t = xt
    if as_int:
        x = np.round(x).astype(np.int64)
    offset = data.draw(st.integers(0, min(factor, x.shape[0]) - 1))
    out, t_out = decimate(x, factor, times=t, offset=offset)
    assert out.shape[0] == math.ceil((x.shape[0] - offset) / factor) and out.dtype == x.dtype
    np.testing.assert_array_equal(out, x[offset::factor])
    np.testing.assert_array_equal(t_out, t[offset::factor])


@settings(max_examples=50, deadline=None)
@given(xt=samples(nan=True), outside=st.sampled_from(["nan", "clip"]), data=st.data())
def test_interpolating_at_the_sample_times_returns_the_samples(xt, outside, data):
    x, t = xt
    order = data.draw(st.permutations(range(x.shape[0])))
    np.testing.assert_array_equal(interpolate(x, t, t, outside=outside), x)
    np.testing.assert_array_equal(interpolate(x, t, t[order], outside=outside), x[order])  # any order


@settings(max_examples=50, deadline=None)
@given(xt=samples(), data=st.data())
def test_interpolation_of_a_straight_line_is_exact(xt, data):
    _, t = xt
    k = data.draw(st.integers(1, 3))
    a = data.draw(arrays(np.float64, (k,), elements=st.floats(-1e3, 1e3)))
    b = data.draw(arrays(np.float64, (k,), elements=st.floats(-1e3, 1e3)))
    x = a + b * t[:, None]
    inside = data.draw(st.lists(st.floats(t[0], t[-1]), min_size=1, max_size=10))
    before = data.draw(st.lists(st.floats(t[0] - 100, t[0], exclude_max=True), max_size=3))
    after = data.draw(st.lists(st.floats(t[-1], t[-1] + 100, exclude_min=True), max_size=3))
    q = np.array(inside + before + after)
    scale = np.abs(a) + np.abs(b) * np.abs(t).max()
    got = interpolate(x, t, q)
    n_in = len(inside)
    np.testing.assert_allclose(got[:n_in], a + b * q[:n_in, None], rtol=0, atol=1e-9 * scale.max())
    assert np.isnan(got[n_in:]).all()
    clipped = interpolate(x, t, q, outside="clip")
    np.testing.assert_array_equal(clipped[:n_in], got[:n_in])
    np.testing.assert_array_equal(clipped[n_in : n_in + len(before)], np.broadcast_to(x[0], (len(before), k)))
    np.testing.assert_array_equal(clipped[n_in + len(before) :], np.broadcast_to(x[-1], (len(after), k)))


@settings(max_examples=40, deadline=None)
@given(t_len=st.integers(8, 60), factor=st.integers(1, 4), data=st.data())
def test_anti_alias_decimation_passes_straight_lines(t_len, factor, data):
    k = data.draw(st.integers(1, 3))
    a = data.draw(arrays(np.float64, (k,), elements=st.floats(-1e3, 1e3)))
    b = data.draw(arrays(np.float64, (k,), elements=st.floats(-10, 10)))
    x = a + b * np.arange(t_len)[:, None]
    offset = data.draw(st.integers(0, factor - 1))
    numtaps = 2 * data.draw(st.integers(1, t_len - 1)) + 1  # odd, numtaps // 2 < T
    out = decimate(x, factor, offset=offset, anti_alias=True, numtaps=numtaps)
    assert out.dtype == np.float64
    scale = (np.abs(a) + np.abs(b) * t_len).max() + 1.0
    np.testing.assert_allclose(out, x[offset::factor], rtol=0, atol=1e-10 * numtaps * scale)


@st.composite
def stream_and_clock(draw):
    x, t = draw(samples(min_len=2, max_len=12))
    mids = (t[1:] + t[:-1]) / 2  # ties for "nearest"
    points = st.one_of(st.sampled_from(list(t)), st.sampled_from(list(mids)), st.floats(t[0] - 5, t[-1] + 5))
    clock = np.unique(np.array(draw(st.lists(points, min_size=1, max_size=15))))
    return x, t, clock


@settings(max_examples=50, deadline=None)
@given(stc=stream_and_clock(), outside=st.sampled_from(["nan", "clip"]), as_text=st.booleans())
def test_to_common_clock_matches_a_brute_force_reference(stc, outside, as_text):
    x, t, clock = stc
    labels = np.array([f"s{i}" for i in range(t.size)]) if as_text else np.arange(t.size) * 10
    out = to_common_clock(
        {"x": (x, t), "prev": (labels, t), "near": (labels, t)},
        clock,
        method={"prev": "previous", "near": "nearest"},
        outside=outside,
    )
    assert set(out) == {"x", "prev", "near"} and out["x"].shape == (clock.size,) + x.shape[1:]
    np.testing.assert_array_equal(out["x"], interpolate(x, t, clock, outside=outside))
    for i, c in enumerate(clock):
        if outside == "nan" and not t[0] <= c <= t[-1]:
            for key in ("prev", "near"):
                assert out[key][i] is None if as_text else np.isnan(out[key][i])
            continue
        cc = min(max(c, t[0]), t[-1])
        previous = int(np.flatnonzero(t <= cc)[-1])
        nearest = int(np.argmin(np.abs(t - cc)))  # first of equal distances: ties to the earlier sample
        assert out["prev"][i] == labels[previous]
        assert out["near"][i] == labels[nearest]


# =========================================================================== #
# ridge equals its closed form
# =========================================================================== #
def _closed_form(X, Y, alphas, fit_intercept):
    """Per-target ridge ``(XcᵀXc + α_j I)⁻¹ XcᵀYc`` in float64 (Xc, Yc centred when fitting an intercept)."""
    X, Y = np.asarray(X, np.float64), np.asarray(Y, np.float64)
    xm = X.mean(0) if fit_intercept else np.zeros(X.shape[1])
    ym = Y.mean(0) if fit_intercept else np.zeros(Y.shape[1])
    Xc, Yc = X - xm, Y - ym
    G, M = Xc.T @ Xc, Xc.T @ Yc
    coef = np.column_stack([np.linalg.solve(G + a * np.eye(X.shape[1]), M[:, j]) for j, a in enumerate(alphas)])
    return coef, ym - xm @ coef


def _ev(y, pred):
    num, den = (y - pred).var(0), y.var(0)
    return np.where(den > 0, 1 - num / np.where(den > 0, den, 1.0), 0.0)


@st.composite
def regression(draw, max_n=14, max_p=18):
    n = draw(st.integers(3, max_n))
    p = draw(st.integers(1, max_p))  # p > n included
    q = draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    X = rng.standard_normal((n, p)) * draw(st.sampled_from([0.1, 1.0, 3.0])) + rng.uniform(-5, 5, p)
    Y = X @ rng.standard_normal((p, q)) + rng.standard_normal((n, q)) + rng.uniform(-5, 5, q)
    return X, Y


@settings(max_examples=40, deadline=None)
@given(
    XY=regression(),
    log_alpha=st.floats(-2, 3),
    fit_intercept=st.booleans(),
    backend=st.sampled_from(["numpy", "torch"]),
    dtype=st.sampled_from(["float64", "float32"]),
    data=st.data(),
)
def test_ridge_equals_its_closed_form_and_sklearn(XY, log_alpha, fit_intercept, backend, dtype, data):
    from sklearn.linear_model import Ridge

    X, Y = XY
    n, p = X.shape
    alpha = 10.0**log_alpha
    if dtype == "float32":
        alpha = max(alpha, 1.0)  # keeps the float32 error bound below well under the coefficients
        X, Y = X.astype(np.float32), Y.astype(np.float32)
    cv = data.draw(st.integers(2, min(n, 4)))
    model = RidgeCV(alphas=[alpha], cv=cv, backend=backend, device="cpu", dtype=dtype, fit_intercept=fit_intercept).fit(
        X, Y
    )
    coef, intercept = _closed_form(X, Y, [alpha] * Y.shape[1], fit_intercept)
    assert model.coef_.shape == (p, Y.shape[1]) and model.coef_.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(model.alpha_, np.full(Y.shape[1], alpha))
    if dtype == "float64":
        tol = 1e-8 * (np.abs(coef).max() + 1e-12)
        itol = 1e-8 * (np.abs(intercept).max() + np.abs(X.mean(0)).sum() * np.abs(coef).max() + 1e-12)
    else:  # rounding of the float32 products XᵀY, propagated through (XᵀX + αI)⁻¹ (norm <= 1/α)
        Xc = X.astype(np.float64) - (X.mean(0, dtype=np.float64) if fit_intercept else 0)
        Yc = Y.astype(np.float64) - (Y.mean(0, dtype=np.float64) if fit_intercept else 0)
        tol = 2 * EPS32 * (n + p) * np.linalg.norm(Xc) * np.linalg.norm(Yc) / alpha + 4 * EPS32 * np.abs(coef).max()
        itol = np.abs(X.mean(0, dtype=np.float64)).sum() * tol + 4 * EPS32 * (np.abs(intercept).max() + np.abs(Y).max())
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=tol)
    np.testing.assert_allclose(model.intercept_, intercept, rtol=0, atol=itol)
    reference = Ridge(alpha=alpha, fit_intercept=fit_intercept).fit(X.astype(np.float64), Y.astype(np.float64))
    np.testing.assert_allclose(model.coef_, reference.coef_.reshape(Y.shape[1], p).T, rtol=0, atol=tol)
    Xf = X.astype(np.float64)
    rounding = 4 * EPS32 * (np.abs(Xf) @ np.abs(coef) + np.abs(intercept)).max() if dtype == "float32" else 0.0
    np.testing.assert_allclose(
        model.predict(X),
        reference.predict(Xf).reshape(n, -1),
        rtol=0,
        atol=np.abs(Xf).sum(1).max() * tol + itol + rounding,
    )


@settings(max_examples=30, deadline=None)
@given(
    XY=regression(),
    n_alphas=st.integers(2, 4),
    fit_intercept=st.booleans(),
    backend=st.sampled_from(["numpy", "torch"]),
    splitter=st.sampled_from(["kfold", "shuffled", "time-series"]),
    data=st.data(),
)
def test_cv_scores_and_per_target_refit_equal_the_closed_form(XY, n_alphas, fit_intercept, backend, splitter, data):
    from sklearn.model_selection import TimeSeriesSplit

    X, Y = XY
    n = X.shape[0]
    alphas = np.sort(
        data.draw(
            st.lists(st.sampled_from(list(np.logspace(-2, 4, 13))), min_size=n_alphas, max_size=n_alphas, unique=True)
        )
    )
    k = data.draw(st.integers(2, min(n - 1, 4)))
    cv = {"kfold": k, "shuffled": k, "time-series": TimeSeriesSplit(k)}[splitter]
    model = RidgeCV(
        alphas=alphas,
        cv=cv,
        backend=backend,
        device="cpu",
        fit_intercept=fit_intercept,
        shuffle=splitter == "shuffled",
        random_state=3,
    ).fit(X, Y)
    splits = cv_splits(cv, n, shuffle=splitter == "shuffled", random_state=3, X=X)
    # held-out explained variance of the closed-form fit on each training set, averaged over folds
    scores = np.zeros((alphas.size, Y.shape[1]))
    for train, test in splits:
        for i, a in enumerate(alphas):
            coef, intercept = _closed_form(X[train], Y[train], [a] * Y.shape[1], fit_intercept)
            scores[i] += _ev(Y[test], X[test] @ coef + intercept) / len(splits)
    np.testing.assert_allclose(model.cv_scores_, scores, rtol=0, atol=1e-7 * (1 + np.abs(scores).max()))
    # the chosen penalty is the best score (exact ties to the larger penalty) ...
    best = alphas.size - 1 - np.argmax(model.cv_scores_[::-1], axis=0)
    np.testing.assert_array_equal(model.best_alpha_index_, best)
    np.testing.assert_array_equal(model.alpha_, alphas[best])
    # ... and the refit on all data is the closed form with each target's own penalty
    coef, intercept = _closed_form(X, Y, model.alpha_, fit_intercept)
    np.testing.assert_allclose(model.coef_, coef, rtol=0, atol=1e-8 * (np.abs(coef).max() + 1e-12))
    np.testing.assert_allclose(
        model.intercept_,
        intercept,
        rtol=0,
        atol=1e-8 * (np.abs(intercept).max() + np.abs(X.mean(0)).sum() * np.abs(coef).max() + 1e-12),
    )


# =========================================================================== #
# Conv-NMF reconstruction equals the sum of its parts
# =========================================================================== #
@pytest.fixture(scope="module")
def convnmf():
    """A tiny fitted model (its templates are what matters here, not the quality of the fit)."""
    from neurocine.motifs import ConvNMF
    from neurocine.motifs.simulate import simulate_convnmf

    sim = simulate_convnmf(3, timesteps=200, channels=6, width=8, neurons=3)
    return ConvNMF(3, 8, n_init=1, max_iter=3, random_state=0, device="cpu").fit(sim.data)


def _sum_of_parts(A, W):
    """Σ over spikes (t, k) of A[t, k] · W[k] placed at t..t+D-1 (cut at the end of the record), float64.

    Also returns the same sum of absolute values, which bounds the float32 rounding error.
    """
    A = np.asarray(A, np.float64)
    W = np.asarray(W, np.float64)
    t_len, (_, n_channels, width) = A.shape[0], W.shape
    out, mag = np.zeros((t_len, n_channels)), np.zeros((t_len, n_channels))
    for t, k in zip(*np.nonzero(A)):
        for d in range(min(width, t_len - t)):
            out[t + d] += A[t, k] * W[k, :, d]
            mag[t + d] += abs(A[t, k]) * np.abs(W[k, :, d])
    return out, mag


AMPLITUDE = st.one_of(st.just(0.0), st.floats(2.0**-10, 2.0**10, width=32))  # no subnormal products


def amplitudes(n_units, max_len=60):
    """Sparse nonnegative (T, K) float32 amplitudes, T from 1 (shorter than a template) to ``max_len``."""
    return st.integers(1, max_len).flatmap(
        lambda t_len: arrays(np.float32, (t_len, n_units), elements=AMPLITUDE, fill=st.just(np.float32(0.0)))
    )


def _assert_close_to_parts(got, A, W, rel=1e-5):
    ref, mag = _sum_of_parts(A, W)
    assert got.shape == ref.shape
    err = np.abs(got.astype(np.float64) - ref)
    assert np.all(err <= rel * mag), float((err - rel * mag).max())  # zero exactly where no template reaches


@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_reconstruct_is_the_sum_of_the_placed_templates(convnmf, data):
    K = convnmf.templates_.shape[0]
    A = data.draw(amplitudes(K))
    got = convnmf.reconstruct(A)
    assert got.dtype == np.float32
    _assert_close_to_parts(got, A, convnmf.templates_)
    # no argument: the fitted amplitudes
    np.testing.assert_array_equal(convnmf.reconstruct(), convnmf.reconstruct(convnmf.amplitudes_))
    _assert_close_to_parts(convnmf.reconstruct(), convnmf.amplitudes_, convnmf.templates_)


@settings(max_examples=40, deadline=None)
@given(data=st.data(), power=st.integers(-6, 6))
def test_reconstruct_is_linear_in_the_amplitudes(convnmf, data, power):
    K = convnmf.templates_.shape[0]
    A = data.draw(amplitudes(K))
    B = data.draw(arrays(np.float32, A.shape, elements=AMPLITUDE, fill=st.just(np.float32(0.0))))
    rA, rB, rAB = convnmf.reconstruct(A), convnmf.reconstruct(B), convnmf.reconstruct(A + B)
    _, mag = _sum_of_parts(A + B, convnmf.templates_)
    assert np.all(np.abs(rAB.astype(np.float64) - rA - rB) <= 3e-5 * mag)
    # scaling by a power of two is exact in floating point
    np.testing.assert_array_equal(convnmf.reconstruct(A * np.float32(2.0**power)), rA * np.float32(2.0**power))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**32 - 1))
def test_one_units_spikes_use_only_that_units_template(convnmf, data, seed):
    K = convnmf.templates_.shape[0]
    unit = data.draw(st.integers(0, K - 1))
    column = data.draw(amplitudes(1))
    A = np.zeros((column.shape[0], K), np.float32)
    A[:, unit] = column[:, 0]
    got = convnmf.reconstruct(A)
    _assert_close_to_parts(got, column, convnmf.templates_[unit : unit + 1])
    # any other templates: same output, bit for bit
    other = copy.copy(convnmf)
    templates = np.random.default_rng(seed).standard_normal(convnmf.templates_.shape).astype(np.float32)
    templates[unit] = convnmf.templates_[unit]
    other.templates_ = templates
    np.testing.assert_array_equal(other.reconstruct(A), got)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    t_len=st.integers(60, 300),
    channels=st.integers(1, 8),
    width=st.integers(2, 12),
    neurons=st.integers(1, 4),
    noise_std=st.floats(0.2, 3.0),
)
def test_reconstruct_of_the_truth_is_the_simulated_data_without_noise(seed, t_len, channels, width, neurons, noise_std):
    from neurocine.motifs import ConvNMF
    from neurocine.motifs.simulate import simulate_convnmf

    kw = dict(timesteps=t_len, channels=channels, width=width, neurons=neurons)
    clean = simulate_convnmf(seed, noise_std=0.0, **kw)
    noisy = simulate_convnmf(seed, noise_std=noise_std, **kw)  # the noise is drawn last: same truth
    np.testing.assert_array_equal(noisy.templates, clean.templates)
    np.testing.assert_array_equal(noisy.amplitudes, clean.amplitudes)
    W, A = clean.templates, clean.amplitudes
    assert W.shape == (neurons, channels, width) and A.shape == (t_len, neurons) and (A >= 0).all()
    np.testing.assert_allclose(np.linalg.norm(W.reshape(neurons, -1), axis=1), 1.0, rtol=1e-5)
    for times in clean.spike_times:
        assert np.all(np.diff(times) >= width)  # spikes of a unit at least D apart
    _assert_close_to_parts(clean.data, A, W)  # noise-free data: the sum of the placed templates
    truth = ConvNMF(neurons, width)
    truth.templates_ = W  # a model carrying the true templates
    _assert_close_to_parts(truth.reconstruct(A), A, W)
    np.testing.assert_allclose(truth.reconstruct(A), clean.data, rtol=0, atol=1e-5 * (np.abs(clean.data).max() + 1))
    noise = noisy.data.astype(np.float64) - truth.reconstruct(A)
    n_entries = noise.size
    assert abs(noise.std() / noise_std - 1) < 6 / math.sqrt(2 * n_entries) + 0.01
    assert abs(noise.mean()) < 6 * noise_std / math.sqrt(n_entries)
