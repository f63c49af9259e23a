"""Reconstruction figures and movies: layout of the comparison movie, the GIF writer, figure contents."""

import numpy as np
import pytest

from neurocine.errors import InputError
from neurocine.io.video import write_gif
from neurocine.v1 import plotting as pr


@pytest.fixture
def videos():
    rng = np.random.default_rng(0)
    truth = rng.uniform(0, 255, (12, 6, 10))
    return truth, 255 - truth


def test_comparison_frames_layout(videos):
    truth, recon = videos
    mask = np.zeros((6, 10), bool)
    mask[1:5, 2:8] = True
    frames = pr.comparison_frames(truth, recon, mask=mask, scale=2, gap=1)
    assert frames.dtype == np.uint8 and frames.shape == (12, 12, (2 * 10 + 1) * 2)
    left, gap, right = frames[:, ::2, ::2][..., :10], frames[:, ::2, ::2][..., 10], frames[:, ::2, ::2][..., 11:]
    np.testing.assert_array_equal(left[:, mask], np.round(truth[:, mask]))
    np.testing.assert_array_equal(right[:, mask], np.round(recon[:, mask]))
    np.testing.assert_array_equal(left[:, ~mask], np.round(truth[:, ~mask] * pr._OUTSIDE_DIM))
    assert (gap == 255).all()
    # nearest-neighbour scaling: each pixel is a 2 x 2 block
    np.testing.assert_array_equal(frames[:, 1::2, 1::2], frames[:, ::2, ::2])


def test_comparison_frames_rejects_mismatch(videos):
    truth, recon = videos
    with pytest.raises(InputError, match="reconstruction: got shape"):
        pr.comparison_frames(truth, recon[:5])
    with pytest.raises(InputError, match="mask: got shape"):
        pr.comparison_frames(truth, recon, mask=np.ones((3, 3), bool))


def test_gif_round_trip(tmp_path, videos):
    from PIL import Image

    frames = np.round(videos[0]).astype(np.uint8)
    path = write_gif(tmp_path / "clip.gif", frames, fps=25)
    with Image.open(path) as im:
        assert im.n_frames == 12 and im.info["duration"] == 40
        for i in (0, 7):
            im.seek(i)
            np.testing.assert_array_equal(np.asarray(im.convert("L")), frames[i])
    assert [p.name for p in tmp_path.iterdir()] == ["clip.gif"]
    with pytest.raises(InputError, match="expected uint8"):
        write_gif(tmp_path / "bad.gif", frames.astype(float))


def test_frame_strip_rows_and_frames(videos):
    truth, recon = videos
    fig = pr.plot_frame_strip({"truth": truth, "recon": recon}, n_frames=4, skip=3)
    axes = fig.get_axes()
    assert len(axes) == 8
    np.testing.assert_array_equal(axes[0].images[0].get_array(), truth[3])
    np.testing.assert_array_equal(axes[4 + 3].images[0].get_array(), recon[11])
    with pytest.raises(InputError, match="expected every video with the same"):
        pr.plot_frame_strip({"truth": truth, "short": recon[:4]})
    with pytest.raises(InputError, match="frames: got"):
        pr.plot_frame_strip({"truth": truth}, frames=[40])


def test_correlation_curves_error_maps_tables(videos):
    truth, recon = videos
    fig = pr.plot_correlation_curves({"a": np.linspace(-1, 1, 12)}, skip=3)
    np.testing.assert_allclose(fig.get_axes()[0].lines[0].get_ydata(), np.linspace(-1, 1, 12))
    fig = pr.plot_error_maps(truth, recon - truth, n_frames=3, skip=0)
    assert len(fig.get_axes()) == 4  # three frames and the colour bar
    values = np.arange(6.0).reshape(2, 3)
    fig = pr.plot_table(values, ["a", "b"], [1, 2, 3], title="t")
    texts = sorted(t.get_text() for t in fig.get_axes()[0].texts)
    assert texts == ["0.00", "1.00", "2.00", "3.00", "4.00", "5.00"]
    with pytest.raises(InputError, match=r"expected \(2, 2\)"):
        pr.plot_table(values, ["a", "b"], [1, 2])
    fig = pr.plot_lines([1, 2, 3], {"ens": [0.5, 0.6, 0.65]}, xlabel="models", ylabel="r")
    np.testing.assert_allclose(fig.get_axes()[0].lines[0].get_ydata(), [0.5, 0.6, 0.65])


def test_alpha_and_receptive_field_figures():
    yy, xx = np.mgrid[:6, :10]
    alpha = 1.5 * np.exp(-((yy - 3) ** 2 + (xx - 5) ** 2) / 8)
    fig = pr.plot_alpha_mask(alpha, population_rf=alpha)
    assert len(fig.get_axes()) == 4  # two panels and two colour bars
    on = np.stack([alpha, -alpha])
    fig = pr.plot_receptive_fields(on, np.zeros_like(on), truth=on)
    axes = fig.get_axes()
    assert len(axes) == 4
    np.testing.assert_allclose(axes[1].images[0].get_array(), -alpha)


def test_ethogram_and_rf_centre_figures():
    from neurocine.v1.analysis import ethogram

    rng = np.random.default_rng(0)
    video = rng.uniform(0, 255, (50, 6, 10))
    rates = rng.uniform(0.1, 2, (50, 8))
    traces = ethogram(
        video,
        rng.uniform(0, 1, (50, 2)),
        rng.normal(0, 1, (50, 2)),
        rng.poisson(rates),
        rates,
        reconstruction=video + rng.normal(0, 30, video.shape),
        predicted_from_reconstruction=rates * 0.9,
        n_top=5,
    )
    fig = pr.plot_ethogram(traces, title="t")
    axes = fig.get_axes()
    assert len(axes) == 3 + 3 + 2 + 1  # behaviour, three rasters, population and correlation, the pupil twin axis
    np.testing.assert_allclose(axes[0].lines[0].get_ydata(), traces["motion_energy"])
    np.testing.assert_allclose(axes[3].images[0].get_array(), traces["recorded_top"].T)
    np.testing.assert_allclose(axes[7].lines[0].get_ydata(), traces["frame_correlation"])
    traces["from_reconstruction_top"] = np.zeros_like(traces["from_reconstruction_top"])
    assert len(pr.plot_ethogram(traces).get_axes()) == 8  # no raster from the reconstruction
    with pytest.raises(InputError, match="traces: missing"):
        pr.plot_ethogram({"motion_energy": np.zeros(3)})
    on = np.array([[10.0, 20.0], [12.0, 25.0], [np.nan, np.nan]])
    fig = pr.plot_rf_centers(on, on + 1, (36, 64), ring_step=10)
    ax = fig.get_axes()[0]
    np.testing.assert_allclose(ax.collections[0].get_offsets(), [[20.0, 10.0], [25.0, 12.0]])  # (x, y) = (col, row)
    assert (
        len([p for p in ax.patches if type(p).__name__ == "Circle"]) == 3
    )  # rings at 10, 20, 30 px (half diagonal 36.7)
