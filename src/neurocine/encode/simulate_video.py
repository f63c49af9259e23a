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
    amplitudes : ndarray, shape (T, n_rois, 2), int
        Offset added (with a ±1 checkerboard sign) to the pixels of each ROI's two parts at each frame: part 0
        an ellipse inside the box, part 1 the rest of the box.
    parts : ndarray, shape (n_rois, H, W), int
        Which part each pixel belongs to: 0 (the ellipse of that ROI), 1 (the rest of its box), -1 (outside).
    motion_energy : ndarray, shape (T, n_rois)
        Exact motion energy of each ROI: the mean over its pixels of ``|a_t - a_{t-1}|`` of their part
        (0 at frame 0).
    full_motion_energy : ndarray, shape (T,)
        Exact motion energy of the whole frame.
    """

    frames: np.ndarray
    rois: list
    amplitudes: np.ndarray
    parts: np.ndarray
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
    """A static textured background with independent motion bouts in two parts of each of some boxes.

    Each box holds an ellipse (its centre and size differ from box to box) and the rest of the box; the two
    parts move independently, so the motion inside a box has spatial structure (its motion SVD masks differ
    from component to component). Every pixel of part ``p`` of ROI ``j`` is ``background + sign * a_jp(t)``
    with a fixed ±1 checkerboard ``sign`` and an integer amplitude ``a_jp(t)`` that random-walks during bouts
    (started at ``bout_rate`` per frame) and is 0 between them, so ``|frame_t - frame_{t-1}| =
    |a_jp(t) - a_jp(t-1)|`` on every pixel of the part and 0 outside the boxes: the motion energy is known
    exactly.

    Parameters
    ----------
    n_frames, height, width : int
        Size of the video (frames, pixels).
    boxes : dict name -> (x0, y0, x1, y1), optional
        The ROIs (pixels, non-overlapping); default :data:`DEFAULT_BOXES`.
    bout_rate : float
        Probability per frame that a still part starts a bout of motion.
    max_amplitude : int
        Largest offset (grey levels).
    seed : int or None
        Random seed.

    Returns
    -------
    RoiMotionVideo

    Examples
    --------
    >>> sim = simulate_roi_motion_video(n_frames=20, seed=0)
    >>> sim.frames.shape, sim.amplitudes.shape, sim.motion_energy.shape
    ((20, 96, 128), (20, 3, 2), (20, 3))
    """
    n_frames = check_int("n_frames", n_frames, minimum=2)
    boxes = dict(DEFAULT_BOXES if boxes is None else boxes)
    rng = np.random.default_rng(seed)
    rois = [ROI(name, box=box) for name, box in boxes.items()]
    background = rng.integers(max_amplitude + 10, 255 - max_amplitude - 10, (height, width)).astype(np.int16)
    yy, xx = np.mgrid[:height, :width]
    sign = np.where((yy + xx) % 2 == 0, 1, -1).astype(np.int16)
    parts = np.full((len(rois), height, width), -1, np.int64)
    for j, roi in enumerate(rois):
        x0, y0, x1, y1 = roi.bounds  # the box itself: these ROIs are boxes
        # an ellipse off the box's centre (a different place and size in each box), the rest of the box around it
        cy = y0 + (y1 - y0) * (0.35 + 0.3 * ((j + 1) % 2))
        cx = x0 + (x1 - x0) * (0.3 + 0.2 * (j % 3))
        ry, rx = (y1 - y0) * 0.3, (x1 - x0) * (0.22 + 0.06 * j)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        box = (yy >= y0) & (yy < y1) & (xx >= x0) & (xx < x1)
        parts[j][box] = 1
        parts[j][box & inside] = 0
    amps = np.zeros((n_frames, len(rois), 2), np.int64)
    for j in range(len(rois)):
        for part in range(2):
            active, a = False, 0
            for t in range(n_frames):
                if not active and rng.random() < bout_rate:
                    active, remaining = True, int(rng.integers(5, 30))
                if active:
                    a = int(np.clip(a + rng.integers(-8, 9), -max_amplitude, max_amplitude))
                    remaining -= 1
                    if remaining == 0:
                        active, a = False, 0
                amps[t, j, part] = a
    frames = np.repeat(background[None], n_frames, axis=0)
    step = np.zeros((n_frames, len(rois), 2))
    step[1:] = np.abs(np.diff(amps, axis=0))
    me = np.zeros((n_frames, len(rois)))
    moved = np.zeros(n_frames)  # summed |change| over all pixels
    for j in range(len(rois)):
        for part in range(2):
            where = parts[j] == part
            frames[:, where] += amps[:, j, part, None] * sign[where][None]
            me[:, j] += step[:, j, part] * where.sum()
            moved += step[:, j, part] * where.sum()
        me[:, j] /= (parts[j] >= 0).sum()
    full = moved / (height * width)
    return RoiMotionVideo(frames.astype(np.uint8), rois, amps, parts, me, full)
