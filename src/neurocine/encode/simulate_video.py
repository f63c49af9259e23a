"""Synthetic videos with known motion in known ROIs (ground truth for motion features).

Pure: returns arrays; write them with :func:`neurocine.io.video.write_video`
(``lossless=True`` keeps every value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocine.features.rois import ROI
from neurocine.validation import check_int

__all__ = ["RoiMotionVideo", "simulate_roi_motion_video"]

DEFAULT_BOXES = {"whisker": (8, 8, 48, 40), "snout": (72, 12, 120, 44), "jaw": (40, 56, 96, 88)}


@dataclass
class RoiMotionVideo:
    """A synthetic video and its exact motion.

    Attributes
    ----------
    frames : ndarray, shape (T, H, W), uint8
    rois : list of ROI
    amplitudes : ndarray, shape (T, n_rois), int
        Offset added (with a ±1 checkerboard sign) to the pixels of each ROI at each frame.
    motion_energy : ndarray, shape (T, n_rois)
        Exact motion energy of each ROI: ``|a_t - a_{t-1}|`` (0 at frame 0).
    full_motion_energy : ndarray, shape (T,)
        Exact motion energy of the whole frame.
    """

    frames: np.ndarray
    rois: list
    amplitudes: np.ndarray
    motion_energy: np.ndarray
    full_motion_energy: np.ndarray


def simulate_roi_motion_video(
    n_frames: int = 120,
    height: int = 96,
    width: int = 128,
    *,
    boxes=None,
    bout_rate: float = 0.05,
    max_amplitude: int = 40,
    seed: int | None = 0,
) -> RoiMotionVideo:
    """A static textured background with independent motion bouts inside non-overlapping boxes.

    Inside ROI j every pixel is ``background + sign * a_j(t)`` with a fixed ±1
    checkerboard ``sign`` and an integer amplitude ``a_j(t)`` that random-walks
    during bouts (started at ``bout_rate`` per frame) and is 0 between them, so
    ``|frame_t - frame_{t-1}| = |a_j(t) - a_j(t-1)|`` on every pixel of the ROI and
    0 elsewhere: the motion energy is known exactly.
    """
    n_frames = check_int("n_frames", n_frames, minimum=2)
    boxes = dict(DEFAULT_BOXES if boxes is None else boxes)
    rng = np.random.default_rng(seed)
    rois = [ROI(name, box=box) for name, box in boxes.items()]
    background = rng.integers(max_amplitude + 10, 255 - max_amplitude - 10, (height, width)).astype(np.int16)
    yy, xx = np.mgrid[:height, :width]
    sign = np.where((yy + xx) % 2 == 0, 1, -1).astype(np.int16)
    amps = np.zeros((n_frames, len(rois)), np.int64)
    for j in range(len(rois)):
        active, a = False, 0
        for t in range(n_frames):
            if not active and rng.random() < bout_rate:
                active, remaining = True, int(rng.integers(5, 30))
            if active:
                a = int(np.clip(a + rng.integers(-8, 9), -max_amplitude, max_amplitude))
                remaining -= 1
                if remaining == 0:
                    active, a = False, 0
            amps[t, j] = a
    frames = np.repeat(background[None], n_frames, axis=0)
    for j, roi in enumerate(rois):
        x0, y0, x1, y1 = roi.bounds  # the box itself: these ROIs are boxes
        frames[:, y0:y1, x0:x1] += amps[:, j, None, None] * sign[None, y0:y1, x0:x1]
    me = np.zeros((n_frames, len(rois)))
    me[1:] = np.abs(np.diff(amps, axis=0))
    areas = np.array([(x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in (r.bounds for r in rois)], dtype=np.float64)
    full = me @ areas / (height * width)
    return RoiMotionVideo(frames.astype(np.uint8), rois, amps, me, full)
