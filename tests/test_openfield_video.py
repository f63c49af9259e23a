"""Motion energy and motion SVD on real footage: DeepLabCut's open-field mouse video (640 x 480 H.264
4:4:4, 30 fps), first frames, whole frame and a box, against a direct computation and the exact SVD."""

from __future__ import annotations

import numpy as np
from _realdata import realdata_file

from neurocine.features.motion import MotionFeatures, motion_energy
from neurocine.features.rois import ROI, roi_masks
from neurocine.io.video import VideoReader

N_FRAMES, BIN, K = 120, 4, 5


def principal_cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between the row spaces of a (k, P) and b (k, P)."""
    qa, qb = np.linalg.qr(a.T)[0], np.linalg.qr(b.T)[0]
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def test_openfield_motion_energy_and_svd_match_direct_and_exact():
    path = realdata_file("openfield_video/m3v1mp4.mp4")
    reader = VideoReader(path, bin=BIN)
    assert (reader.source_width, reader.source_height) == (640, 480) and abs(reader.fps - 30.0) < 1e-3
    assert reader.n_frames == 2330
    rois = [ROI("full", box=(0, 0, 640, 480)), ROI("arena_left", box=(0, 0, 320, 480))]
    masks = roi_masks(rois, 640, 480, bin=BIN)
    feats = MotionFeatures(masks, [r.name for r in rois], n_svd=K)
    frames = []
    for chunk in reader.iter_chunks(0, N_FRAMES):  # chunked, so chunk boundaries are crossed
        feats.update(chunk.frames, chunk.timestamps)
        frames.append(chunk.frames)
    res = feats.result()
    movie = np.concatenate(frames)
    assert movie.shape == (N_FRAMES, 120, 160)
    # motion energy: the streaming pass equals the definition on the same decoded frames
    direct = motion_energy(movie, masks)
    np.testing.assert_allclose(res.motion_energy, direct, rtol=0, atol=1e-9)
    assert direct[1:, 0].min() > 0  # a live mouse and camera noise: every frame differs from the last
    # motion SVD: top components span the exact SVD's of the centred |frame differences| of each ROI
    for j, m in enumerate(masks):
        diffs = np.abs(np.diff(movie[:, m].astype(np.float64), axis=0))
        diffs -= diffs.mean(axis=0)
        exact = np.linalg.svd(diffs, full_matrices=False)
        ours = res.svd_masks[j][:, m]
        cos = principal_cosines(ours, exact[2][:K])
        # the first four directions to 1e-4; the fifth, 7 % above the sixth singular value on the left half,
        # to a cosine above 0.99 (largest principal angle under 8 degrees)
        assert cos[:4].min() > 0.9995 and cos.min() > 0.99, (rois[j].name, cos)
        # the incremental SVD keeps a truncated factorisation: singular values within 1 % (0.5 % at most here)
        np.testing.assert_allclose(res.svd_singular_values[j], exact[1][:K], rtol=1e-2)
