"""Pupil size, position and blinks from an eye region of a video (pure: no IO).

Each frame of the eye ROI is measured on its own, so a slow drift of the camera gain or of the
illumination changes nothing:

1. **Robust levels.** The dark level is a low percentile of the ROI's pixels (the pupil), the
   background level their median (iris, sclera, skin); the first threshold lies halfway.
2. **Largest dark component.** Pixels below the threshold, the largest connected component kept.
   A morphological closing (disk of ``fill_radius`` pixels) and a hole fill put back the corneal
   reflection: a bright spot inside the pupil, or a notch where it sits on the pupil's edge (a
   convex shape is unchanged by a closing).
3. **Refined threshold.** The pupil's level (median inside the component) and the iris's (median
   of a ring around it) give the threshold halfway between the two, and step 2 runs again with it:
   an anti-aliased edge is then split where it is half pupil, half iris, so the area is unbiased.
4. **Ellipse by moments.** The component's centroid is the centre; the eigenvalues ``λ1 ≥ λ2``
   of its pixel covariance give the semi-axes ``a = 2√λ1``, ``b = 2√λ2`` of the ellipse with the
   same second moments; area ``π a b``, diameter ``2√(a b)`` (the diameter of the circle of the
   same area).

A frame has **no pupil** when nothing is darker than the background by ``min_contrast`` (as a
fraction of the background level), when the gap between the pupil's and the iris's levels is less
than :data:`MIN_SEPARATION` times their spread (a cluster of dark noise pixels), or when the
component is smaller than ``min_area`` pixels. A frame is
a **blink** when it has no pupil (eye closed, pupil lost) or when the pupil's area falls below
``blink_fraction`` of the running median of the area over ``window`` frames (a lid covering most of
it). Pupil values are NaN on blink frames; :func:`fill_blinks` interpolates over them for models
that need a value on every frame.

Coordinates: ``x`` is the column, ``y`` the row, a pixel's centre at ``(x + 0.5, y + 0.5)`` as in
:mod:`neurocine.features.rois`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int

__all__ = ["MIN_SEPARATION", "PupilResult", "PupilTracker", "fill_blinks", "measure_pupil"]

#: Least gap between the iris's and the pupil's median levels, in robust standard deviations of the two
#: (1.4826 × the sum of their median absolute deviations).
MIN_SEPARATION = 2.0


@functools.lru_cache(maxsize=16)
def _disk(radius: int) -> np.ndarray:
    r = int(radius)
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    return (yy**2 + xx**2) <= r * r + r  # a round disk (r * r + r: the lattice disk without its four spikes)


def _window(region: np.ndarray, pad: int) -> tuple[slice, slice]:
    """The bounding box of ``region`` grown by ``pad`` pixels, inside the image."""
    rows, cols = np.flatnonzero(region.any(axis=1)), np.flatnonzero(region.any(axis=0))
    h, w = region.shape
    return slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)), slice(
        max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)
    )


def _close_and_fill(region: np.ndarray, fill: np.ndarray | None) -> np.ndarray:
    """Morphological closing by ``fill`` (the image's edge does not erode it), then the holes filled."""
    from scipy import ndimage

    if fill is not None:
        pad = fill.shape[0] // 2
        region = ndimage.binary_closing(np.pad(region, pad), structure=fill)[pad:-pad, pad:-pad]
    background, n = ndimage.label(~region)
    if n > 1:
        edge = np.unique(np.concatenate([background[0], background[-1], background[:, 0], background[:, -1]]))
        region = region | ((background > 0) & ~np.isin(background, edge))
    return region


def _component(dark: np.ndarray, fill: np.ndarray | None, seed: np.ndarray | None = None) -> np.ndarray | None:
    """The largest connected component of ``dark`` (the one overlapping ``seed`` most, when given), closed and filled."""
    from scipy import ndimage

    labels, n = ndimage.label(dark)
    if n == 0:
        return None
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]
    if seed is not None:
        overlap = np.bincount(labels[seed], minlength=n + 1)[1:]
        if overlap.max() > 0:
            sizes = overlap
    region = labels == int(np.argmax(sizes)) + 1
    box = _window(region, (0 if fill is None else fill.shape[0] // 2) + 2)
    out = np.zeros_like(region)
    out[box] = _close_and_fill(region[box], fill)
    return out


def measure_pupil(
    image: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    min_contrast: float = 0.2,
    min_area: int = 12,
    fill_radius: int = 3,
    low_percentile: float = 1.0,
) -> tuple[float, float, float, float, float]:
    """Pupil of one eye image: ``(area, diameter, x, y, contrast)``, NaN (contrast kept) where none is found.

    Parameters
    ----------
    image : ndarray, shape (H, W)
        Gray levels of the eye ROI (any real dtype).
    mask : ndarray of bool, shape (H, W), optional
        Pixels that belong to the ROI (a polygon's); others are never pupil.
    min_contrast : float, default 0.2
        Least ``(iris - pupil) / iris`` of the median levels for a pupil to count.
    min_area : int, default 12
        Fewest pixels of a pupil.
    fill_radius : int, default 3
        Radius (pixels) of the closing that puts back a corneal reflection on the pupil's edge.
    low_percentile : float, default 1.0
        Percentile of the ROI's pixels taken as the dark level of the first threshold.

    Returns
    -------
    area : float
        Ellipse area ``π a b`` in pixels².
    diameter : float
        ``2 √(a b)`` in pixels.
    x, y : float
        Centre (column, row), pixel centres at ``+ 0.5``.
    contrast : float
        ``(iris - pupil) / iris`` of the component found (0 when none).

    Examples
    --------
    A hard-edged disk of radius 8 (its pixels, unit squares, reach a little beyond the circle):

    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :40] + 0.5
    >>> eye = np.where((xx - 22) ** 2 + (yy - 18) ** 2 <= 8**2, 30.0, 120.0)
    >>> area, diameter, x, y, contrast = measure_pupil(eye)
    >>> round(diameter, 1), round(x, 1), round(y, 1), round(contrast, 2)
    (16.3, 22.0, 18.0, 0.75)
    """
    from scipy import ndimage

    img = np.asarray(image, dtype=np.float32)
    if img.ndim != 2:
        raise InputError(f"image: got shape {img.shape}; expected one (H, W) eye image")
    inside = np.ones(img.shape, bool) if mask is None else np.asarray(mask, bool)
    nan = (float("nan"),) * 4
    values = img[inside]
    if values.size < min_area:
        return (*nan, 0.0)
    lo = float(np.percentile(values, low_percentile))
    background = float(np.median(values))
    if not background > lo:
        return (*nan, 0.0)
    fill = _disk(fill_radius) if fill_radius > 0 else None
    region = _component((img < 0.5 * (lo + background)) & inside, fill)
    if region is None:
        return (*nan, 0.0)
    box = _window(region, 4)
    near = region[box]
    ring = ndimage.binary_dilation(near, _disk(3)) & ~ndimage.binary_dilation(near, _disk(1)) & inside[box]
    core = img[region]
    if not ring.any() or core.size < min_area:
        return (*nan, 0.0)
    iris = img[box][ring]
    pupil_level, iris_level = float(np.median(core)), float(np.median(iris))
    contrast = (iris_level - pupil_level) / iris_level if iris_level > 0 else 0.0
    # spread of the two levels (median absolute deviations): a pupil is a uniform dark region in a
    # uniform enough iris, a cluster of dark noise pixels is not
    spread = float(np.median(np.abs(core - pupil_level)) + np.median(np.abs(iris - iris_level)))
    if contrast < min_contrast or iris_level - pupil_level < MIN_SEPARATION * 1.4826 * spread:
        return (*nan, max(contrast, 0.0))
    refined = _component((img < 0.5 * (pupil_level + iris_level)) & inside, fill, seed=region)
    if refined is None or refined.sum() < min_area:
        return (*nan, contrast)
    centre, cov = _moments(refined)
    hidden = _reflection(img, refined, iris_level + 0.5 * (iris_level - pupil_level))
    if hidden is not None:  # put back the part of the pupil under a reflection: the pixels inside the ellipse
        ys, xs = np.nonzero(hidden)
        offsets = np.stack([xs + 0.5, ys + 0.5], 1) - centre
        for _ in range(8):
            inside_ellipse = np.einsum("ni,ij,nj->n", offsets, np.linalg.pinv(cov), offsets) <= 4.0
            grown = refined.copy()
            grown[ys[inside_ellipse], xs[inside_ellipse]] = True
            new_centre, new_cov = _moments(grown)
            done = np.allclose(new_cov, cov, atol=1e-3) and np.allclose(new_centre, centre, atol=1e-3)
            centre, cov = new_centre, new_cov
            offsets = np.stack([xs + 0.5, ys + 0.5], 1) - centre
            if done:
                break
    lam = np.clip(np.linalg.eigvalsh(cov), 0.0, None)
    a, b = 2.0 * np.sqrt(lam[1]), 2.0 * np.sqrt(lam[0])
    return float(np.pi * a * b), float(2.0 * np.sqrt(a * b)), float(centre[0]), float(centre[1]), float(contrast)


def _moments(region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centre ``(x, y)`` and covariance of the area of a pixel set (each pixel a unit square: ``+ 1/12`` per axis)."""
    rows, cols = np.nonzero(region)
    points = np.stack([cols + 0.5, rows + 0.5]).astype(np.float64)
    centre = points.mean(axis=1)
    cov = np.cov(points, bias=True) + np.eye(2) / 12.0
    return centre, cov


def _reflection(img: np.ndarray, region: np.ndarray, level: float) -> np.ndarray | None:
    """Pixels of bright spots (above ``level``) touching ``region``, with their rims, outside ``region``."""
    from scipy import ndimage

    box = _window(region, 12)
    bright = img[box] > level
    if not bright.any():
        return None
    labels, n = ndimage.label(bright)
    near = ndimage.binary_dilation(region[box], _disk(2))
    touching = np.unique(labels[near & bright])
    touching = touching[touching > 0]
    if touching.size == 0:
        return None
    out = np.zeros_like(region)
    out[box] = ndimage.binary_dilation(np.isin(labels, touching), np.ones((3, 3), bool)) & ~region[box]
    return out


@dataclass
class PupilResult:
    """Pupil measurements of T frames.

    Attributes
    ----------
    diameter : ndarray, shape (T,)
        Pixels (NaN on blink frames).
    area : ndarray, shape (T,)
        Pixels² (NaN on blink frames).
    center : ndarray, shape (T, 2)
        ``(x, y)`` in pixels (NaN on blink frames).
    blink : ndarray of bool, shape (T,)
        Eye closed, pupil lost or mostly covered.
    contrast : ndarray, shape (T,)
        ``(iris - pupil) / iris`` of each frame's darkest component (0 where none).
    timestamps : ndarray, shape (T,)
        Seconds.
    """

    diameter: np.ndarray
    area: np.ndarray
    center: np.ndarray
    blink: np.ndarray
    contrast: np.ndarray
    timestamps: np.ndarray


def _running_median(values: np.ndarray, window: int) -> np.ndarray:
    """Median of the finite values within ``window // 2`` frames of each frame (NaN where none)."""
    half = window // 2
    out = np.full(len(values), np.nan)
    for i in range(len(values)):
        part = values[max(0, i - half) : i + half + 1]
        part = part[np.isfinite(part)]
        if part.size:
            out[i] = np.median(part)
    return out


class PupilTracker:
    """Streaming pupil measurement of one eye ROI: feed frames with :meth:`update`, then :meth:`result`.

    Parameters
    ----------
    mask : ndarray of bool, shape (H, W)
        The eye ROI on the frames given to :meth:`update`; the tracker measures its bounding box.
    scale : float, default 1.0
        Source pixels per frame pixel (the reader's binning); results are in source pixels.
    origin : (float, float), default (0, 0)
        Source ``(x, y)`` of the frames' top-left corner (the reader's crop).
    min_contrast, min_area, fill_radius
        See :func:`measure_pupil` (``min_area`` in frame pixels).
    blink_fraction : float, default 0.5
        A pupil smaller than this fraction of the running median area is a blink.
    window : int, default 41
        Frames of the running median.

    Examples
    --------
    >>> import numpy as np
    >>> yy, xx = np.mgrid[:40, :40] + 0.5
    >>> frames = np.stack([np.where((xx - 20) ** 2 + (yy - 20) ** 2 <= r**2, 30, 120) for r in (6, 7, 8)])
    >>> tracker = PupilTracker(np.ones((40, 40), bool))
    >>> tracker.update(frames.astype(np.uint8), np.arange(3) / 20)
    >>> np.round(tracker.result().diameter, 1).tolist()  # hard-edged disks of radius 6, 7, 8
    [12.0, 14.1, 16.3]
    """

    def __init__(
        self,
        mask: np.ndarray,
        *,
        scale: float = 1.0,
        origin: tuple[float, float] = (0.0, 0.0),
        min_contrast: float = 0.2,
        min_area: int = 12,
        fill_radius: int = 3,
        blink_fraction: float = 0.5,
        window: int = 41,
    ) -> None:
        mask = np.asarray(mask, bool)
        if mask.ndim != 2 or not mask.any():
            raise InputError(f"mask: got shape {mask.shape} with {int(mask.sum())} pixels; expected a non-empty (H, W)")
        if not 0.0 < blink_fraction < 1.0:
            raise InputError(f"blink_fraction: got {blink_fraction}, expected a number in (0, 1)")
        if not 0.0 < min_contrast < 1.0:
            raise InputError(f"min_contrast: got {min_contrast}, expected a number in (0, 1)")
        rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        self._box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        inner = mask[self._box]
        self._inner = None if inner.all() else inner
        self.frame_shape = mask.shape
        self.scale = float(scale)
        self.origin = (float(origin[0]) + cols[0] * self.scale, float(origin[1]) + rows[0] * self.scale)
        self.min_contrast = float(min_contrast)
        self.min_area = check_int("min_area", min_area)
        self.fill_radius = check_int("fill_radius", fill_radius, minimum=0)
        self.blink_fraction = float(blink_fraction)
        self.window = check_int("window", window)
        self._rows: list[tuple[float, float, float, float, float]] = []
        self._times: list[np.ndarray] = []

    def update(self, frames: np.ndarray, timestamps: np.ndarray | None = None) -> None:
        """Measure the next ``(n, H, W)`` frames (the whole frame the mask was made for)."""
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != self.frame_shape:
            raise InputError(
                f"frames: got shape {frames.shape}; expected (n, {self.frame_shape[0]}, {self.frame_shape[1]})"
            )
        for frame in frames[(slice(None),) + self._box]:
            self._rows.append(
                measure_pupil(
                    frame,
                    self._inner,
                    min_contrast=self.min_contrast,
                    min_area=self.min_area,
                    fill_radius=self.fill_radius,
                )
            )
        if timestamps is not None:
            self._times.append(np.asarray(timestamps, dtype=np.float64))

    def result(self) -> PupilResult:
        """Diameter, area and centre in source pixels, blinks, per-frame contrast."""
        if not self._rows:
            raise InputError("pupil: no frames were given; expected at least one frame")
        table = np.asarray(self._rows, dtype=np.float64)
        area, diameter = table[:, 0] * self.scale**2, table[:, 1] * self.scale
        center = np.stack([self.origin[0] + table[:, 2] * self.scale, self.origin[1] + table[:, 3] * self.scale], 1)
        lost = ~np.isfinite(area)
        blink = lost | (area < self.blink_fraction * _running_median(area, self.window))
        area[blink], diameter[blink], center[blink] = np.nan, np.nan, np.nan
        times = np.concatenate(self._times) if self._times else np.arange(len(table), dtype=np.float64)
        return PupilResult(diameter, area, center, blink, table[:, 4], times)


def fill_blinks(values: np.ndarray, blink: np.ndarray) -> np.ndarray:
    """``values`` (T,) or (T, k) with blink frames linearly interpolated from their neighbours (ends held).

    Parameters
    ----------
    values : ndarray, shape (T,) or (T, k)
    blink : ndarray of bool, shape (T,)

    Returns
    -------
    ndarray, float64, the shape of ``values``; all zeros where no frame is good.

    Examples
    --------
    >>> import numpy as np
    >>> fill_blinks(np.array([1.0, np.nan, np.nan, 4.0]), np.array([False, True, True, False])).tolist()
    [1.0, 2.0, 3.0, 4.0]
    """
    values = np.asarray(values, dtype=np.float64)
    blink = np.asarray(blink, bool) | ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
    out = values.reshape(len(values), -1).copy()
    good = np.flatnonzero(~blink)
    if good.size == 0:
        return np.zeros_like(values)
    frames = np.arange(len(values))
    for j in range(out.shape[1]):
        out[:, j] = np.interp(frames, good, out[good, j])
    return out.reshape(values.shape)
