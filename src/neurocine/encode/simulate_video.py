"""Synthetic videos with known motion in known ROIs, and eye videos with a known pupil (ground truth for video features).

Pure: returns arrays; write them with :func:`neurocine.io.video.write_video`
(``lossless=True`` keeps every value).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neurocine.features.rois import ROI
from neurocine.validation import check_int

__all__ = ["EyeVideo", "RoiMotionVideo", "simulate_eye_video", "simulate_roi_motion_video"]

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


@dataclass
class EyeVideo:
    """A synthetic eye video and its exact pupil.

    Attributes
    ----------
    frames : ndarray, shape (T, H, W), uint8
    diameter : ndarray, shape (T,)
        Pupil diameter ``2 √(a b)`` (pixels) of the drawn ellipse, lid or not.
    center : ndarray, shape (T, 2)
        Pupil centre ``(x, y)`` in pixels (pixel centres at ``+ 0.5``).
    visible : ndarray, shape (T,)
        Fraction of the pupil's area not covered by the lid.
    blinks : list of (int, int)
        First and last frame (inclusive) of each blink: the frames where the lid covers more than half
        of the pupil.
    gain : ndarray, shape (T,)
        The camera gain that multiplied each frame.
    """

    frames: np.ndarray
    diameter: np.ndarray
    center: np.ndarray
    visible: np.ndarray
    blinks: list
    gain: np.ndarray


def simulate_eye_video(
    n_frames: int = 200,
    height: int = 60,
    width: int = 80,
    *,
    fps: float = 20.0,
    n_blinks: int = 3,
    noise: float = 4.0,
    gain_drift: float = 0.25,
    seed: int | None = 0,
) -> EyeVideo:
    """An infrared eye: a dark elliptical pupil that dilates and moves, a corneal reflection, blinks.

    The scene is an iris (grey 120) with a dark pupil (grey 25), an ellipse of axis ratio 0.85 whose
    diameter follows a slow random trajectory between about 12 and 26 pixels and whose centre drifts
    around the middle of the frame; a saturated corneal reflection (radius 2.5 pixels) stays at a fixed
    place in the frame, so the pupil moves under it (inside, on the edge, outside). Blinks: an upper lid
    (skin, grey 170) comes down over 3 frames, covers the eye for 2 to 4 frames and goes back up over 3
    frames. Every edge is anti-aliased (4 × 4 supersampling). The camera multiplies each frame by a gain
    that drifts by ``± gain_drift`` over the video and adds Gaussian noise of ``noise`` grey levels.

    Parameters
    ----------
    n_frames, height, width : int
        Size of the video.
    fps : float
        Frame rate (Hz): sets how fast the pupil changes (seconds, not frames).
    n_blinks : int
        Blinks, spread over the video.
    noise : float
        Standard deviation of the camera noise (grey levels).
    gain_drift : float
        Amplitude of the gain drift (the gain goes from ``1 - gain_drift`` to ``1 + gain_drift``).
    seed : int or None

    Returns
    -------
    EyeVideo

    Examples
    --------
    >>> eye = simulate_eye_video(n_frames=60, n_blinks=1, seed=0)
    >>> eye.frames.shape, eye.frames.dtype, len(eye.blinks)
    ((60, 60, 80), dtype('uint8'), 1)
    """
    n_frames = check_int("n_frames", n_frames, minimum=20)
    n_blinks = check_int("n_blinks", n_blinks, minimum=0)
    rng = np.random.default_rng(seed)
    t = np.arange(n_frames) / fps

    def smooth_walk(scale: float, seconds: float) -> np.ndarray:
        steps = rng.normal(size=n_frames + 200)
        kernel = np.exp(-0.5 * (np.arange(-100, 101) / (seconds * fps)) ** 2)
        walk = np.convolve(steps, kernel / np.sqrt((kernel**2).sum()), mode="same")[100:-100]
        return scale * walk / max(np.abs(walk).max(), 1e-9)

    diameter = 19.0 + 7.0 * smooth_walk(1.0, 1.5)
    cx = width / 2 + smooth_walk(0.12 * width, 1.0)
    cy = height / 2 + smooth_walk(0.08 * height, 1.0)
    ratio, angle = 0.85, 0.4
    refl_x, refl_y = width / 2 + 4.0, height / 2 - 3.0
    # lid position: 0 open (lid above the frame) .. 1 closed (lid below the frame)
    closure = np.zeros(n_frames)
    starts = (np.linspace(0, n_frames, n_blinks + 2)[1:-1] + rng.integers(-5, 6, n_blinks)).astype(int)
    for start in starts:
        hold = int(rng.integers(2, 5))
        profile = np.concatenate([[1 / 3, 2 / 3], np.ones(hold + 1), [2 / 3, 1 / 3]])
        stop = min(n_frames, start + len(profile))
        closure[start:stop] = np.maximum(closure[start:stop], profile[: stop - start])
    gain = 1.0 + gain_drift * np.sin(2 * np.pi * (t / t[-1] - 0.25))
    k = 4  # supersampling
    ys = (np.arange(height * k) + 0.5) / k
    xs = (np.arange(width * k) + 0.5) / k
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    refl = (xx - refl_x) ** 2 + (yy - refl_y) ** 2 <= 2.5**2
    cos, sin = np.cos(angle), np.sin(angle)
    frames = np.empty((n_frames, height, width), np.uint8)
    visible = np.ones(n_frames)
    for i in range(n_frames):
        a, b = diameter[i] / 2 / np.sqrt(ratio), diameter[i] / 2 * np.sqrt(ratio)
        u = (xx - cx[i]) * cos + (yy - cy[i]) * sin
        v = -(xx - cx[i]) * sin + (yy - cy[i]) * cos
        pupil = (u / a) ** 2 + (v / b) ** 2 <= 1.0
        lid = yy < closure[i] * (height + 2 * diameter[i]) - diameter[i]
        scene = np.where(pupil, 25.0, 120.0)
        scene[refl] = 255.0
        scene[lid] = 170.0
        visible[i] = (pupil & ~lid).sum() / max(pupil.sum(), 1)
        fine = scene.reshape(height, k, width, k).mean(axis=(1, 3))
        frame = fine * gain[i] + rng.normal(0.0, noise, fine.shape)
        frames[i] = np.clip(np.rint(frame), 0, 255).astype(np.uint8)
    covered = visible < 0.5
    edges = np.flatnonzero(np.diff(np.concatenate([[0], covered.astype(int), [0]])))
    blinks = [(int(a), int(b) - 1) for a, b in zip(edges[::2], edges[1::2])]
    return EyeVideo(frames, diameter, np.stack([cx, cy], 1), visible, blinks, gain)
