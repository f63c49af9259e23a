"""On and off receptive-field centres (neurocine.v1.receptive_fields.on_off_centers) against ground truth.

The simulator's own population (easy LN Gabor neurons, simple cells only) is mapped with sparse noise;
its on centres must sit on the positive lobe of each planted Gabor, and its off centres on the negative
lobe, both found by the same estimator on the planted filters. Maps of pure noise must be unreliable.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _errors import raises_naming

from neurocine.v1.receptive_fields import center_distribution, on_off_centers

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_on_off_centres_of_blobs_closed_form():
    """Two Gaussian blobs of opposite sign: the centres are the blob centres, sub-pixel, with no smoothing."""
    yy, xx = np.mgrid[0:24, 0:40]

    def blob(r, c, s=2.0):
        return np.exp(-((yy - r) ** 2 + (xx - c) ** 2) / (2 * s**2))

    rf = np.stack([blob(6.3, 10.6) - blob(15.0, 28.2), blob(12.5, 20.0) - 0.5 * blob(5.0, 5.0)])
    out = on_off_centers(rf, -rf, smooth=0)
    # within 0.1 px: the region above half the peak is cut on the pixel grid
    np.testing.assert_allclose(out["on_center"], [[6.3, 10.6], [12.5, 20.0]], atol=0.1)
    np.testing.assert_allclose(out["off_center"], [[15.0, 28.2], [5.0, 5.0]], atol=0.1)
    assert out["on_reliable"].all() and out["off_reliable"].all()  # noise-free maps: infinite SNR
    # a second blob below the threshold, apart from the peak, does not pull the centre
    two = (blob(6.0, 8.0) + 0.9 * blob(18.0, 32.0))[None]
    assert np.hypot(*(on_off_centers(two, -two, smooth=0)["on_center"][0] - [6.0, 8.0])) < 0.05
    # a map with no positive value has no centre
    flat = on_off_centers(-np.abs(rf[:1]), np.abs(rf[:1]), smooth=0)
    assert np.isnan(flat["on_center"]).all() and not flat["on_reliable"][0]


def test_noise_maps_are_unreliable():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 1, (50, 36, 64))
    out = on_off_centers(noise, -noise)
    assert out["on_snr"].max() < 5 and not out["on_reliable"].any() and not out["off_reliable"].any()


def test_mapped_centres_of_the_true_population_sit_on_the_planted_gabors():
    pytest.importorskip("torch")
    from neurocine.stimuli import movie_clip
    from neurocine.v1.receptive_fields import map_receptive_fields
    from neurocine.v1.simulate import V1Population, simulate_behavior

    pop = V1Population.random(40, rng=0, complex_fraction=0.0)  # LN simple cells (the easy mouse)
    videos = [movie_clip("bikes", 40, np.random.default_rng(i)).video for i in range(2)]
    behaviour = [simulate_behavior(40, rng=i) for i in range(2)]
    pop.calibrate(videos, [b for b, _ in behaviour], [e for _, e in behaviour])
    rfs = map_receptive_fields(
        pop.torch_module(),
        pop.frame_shape,
        n_stimuli=1500,
        patch_size=2,
        background=128,
        behavior=[15.0, 0.0],
        pupil_center=pop.pupil_ref,  # the eye where the planted fields sit
        random_state=0,
    )
    found = on_off_centers(rfs.on, rfs.off)
    planted = pop.spatial_filters()
    truth = on_off_centers(planted, -planted, smooth=0)
    assert found["on_reliable"].mean() >= 0.9 and found["off_reliable"].mean() >= 0.9
    on_error = np.hypot(*(found["on_center"] - truth["on_center"]).T)
    off_error = np.hypot(*(found["off_center"] - truth["off_center"]).T)
    assert np.mean(on_error < 2) >= 0.85 and np.median(on_error) < 0.8, np.round(on_error, 1)
    assert np.mean(off_error < 2) >= 0.95 and np.median(off_error) < 0.8, np.round(off_error, 1)
    # the distribution over the screen: the planted ellipse is centred at x = 40 %, y = 50 % of the screen
    summary = center_distribution(found["on_center"][found["on_reliable"]], pop.frame_shape)
    assert summary["median_center"] == pytest.approx([0.5 * 35, 0.4 * 63], abs=4)
    want = np.median(np.hypot(pop.y - np.median(pop.y), pop.x - np.median(pop.x)))
    assert summary["spread"] == pytest.approx(want, rel=0.35)


def test_bad_maps_are_refused():
    with raises_naming("on, off", r"\(3, 4\).*\(N, H, W\)"):
        on_off_centers(np.zeros((3, 4)), np.zeros((3, 4)))
    with raises_naming("min_snr"):
        on_off_centers(np.zeros((1, 3, 4)), np.zeros((1, 3, 4)), min_snr=-1)
    assert center_distribution(np.full((2, 2), np.nan), (36, 64))["n"] == 0
