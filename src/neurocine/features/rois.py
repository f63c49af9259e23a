"""Regions of interest on video frames: named boxes and polygons (pure: no IO).

Coordinates are pixels of the *source* video: ``x`` is the column, ``y`` the
row, the origin the top-left corner. A box ``(x0, y0, x1, y1)`` is end
exclusive (columns ``x0..x1-1``, rows ``y0..y1-1``). A pixel belongs to a
polygon when its centre ``(x + 0.5, y + 0.5)`` lies inside it (even-odd
rule), so the polygon through a box's four corners selects exactly the box.
:func:`roi_masks` maps ROIs onto the frames a :class:`~neurocine.io.video.VideoReader`
delivers after cropping and k×k binning: a binned pixel belongs to a ROI when
at least half of its source pixels do.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass

import numpy as np

from neurocine.errors import InputError

__all__ = ["ROI", "full_frame_roi", "roi_masks", "polygon_mask"]


def _is_number(value) -> bool:
    """A real number, not a bool or a string that looks like one (a ROI file's "5" is refused, not read as 5)."""
    return isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))


@dataclass(frozen=True)
class ROI:
    """A named box or polygon, in source-video pixels.

    Parameters
    ----------
    name : str
    box : (x0, y0, x1, y1), optional
        End exclusive.
    polygon : sequence of (x, y), optional
        At least three vertices.
    pupil : bool, default False
        An eye ROI: the video jobs also track the pupil and blinks in it
        (:class:`neurocine.features.pupil.PupilTracker`).

    Examples
    --------
    >>> ROI("whisker", box=(10, 20, 50, 60)).bounds
    (10, 20, 50, 60)
    """

    name: str
    box: tuple[int, int, int, int] | None = None
    polygon: tuple[tuple[float, float], ...] | None = None
    pupil: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InputError(f"ROI name: got {self.name!r}, expected a non-empty string")
        if (self.box is None) == (self.polygon is None):
            raise InputError(
                f"ROI '{self.name}': give exactly one of box = [x0, y0, x1, y1] or polygon = [[x, y], ...]"
            )
        if self.box is not None:
            try:
                box = tuple(int(v) for v in self.box) if all(map(_is_number, self.box)) else ()
            except (TypeError, ValueError):
                box = ()
            if len(box) != 4 or any(float(a) != float(b) for a, b in zip(box, self.box)):
                raise InputError(
                    f"ROI '{self.name}': box = {list(self.box)!r}; expected four integers [x0, y0, x1, y1]"
                )
            if box[2] <= box[0] or box[3] <= box[1]:
                raise InputError(
                    f"ROI '{self.name}': box = {list(box)} is empty; expected x0 < x1 and y0 < y1 (end exclusive)"
                )
            object.__setattr__(self, "box", box)
        else:
            assert self.polygon is not None  # exactly one of box and polygon, checked above
            try:
                all_numbers = all(_is_number(c) for vertex in self.polygon for c in vertex)
                poly = np.asarray(self.polygon, dtype=np.float64) if all_numbers else np.zeros((0,))
            except (TypeError, ValueError):
                poly = np.zeros((0,))
            if poly.ndim != 2 or poly.shape[1] != 2 or len(poly) < 3 or not np.isfinite(poly).all():
                raise InputError(
                    f"ROI '{self.name}': polygon = {self.polygon!r}; expected at least three [x, y] "
                    f"vertices of finite numbers"
                )
            object.__setattr__(self, "polygon", tuple((float(x), float(y)) for x, y in poly))

    @property
    def bounds(self) -> tuple[int, int, int, int]:
        """Smallest box ``(x0, y0, x1, y1)`` (end exclusive) holding the ROI's pixels."""
        if self.box is not None:
            return self.box
        poly = np.asarray(self.polygon)
        x0, y0 = np.floor(poly.min(axis=0) - 0.5).astype(int)
        x1, y1 = np.ceil(poly.max(axis=0) + 0.5).astype(int)
        return int(x0), int(y0), int(x1), int(y1)

    def to_dict(self) -> dict:
        out: dict = {"name": self.name}
        if self.box is not None:
            out["box"] = list(self.box)
        else:
            assert self.polygon is not None  # a ROI has exactly one of box and polygon
            out["polygon"] = [list(v) for v in self.polygon]
        if self.pupil:
            out["pupil"] = True
        return out


def full_frame_roi(width: int, height: int) -> ROI:
    """The ROI ``full``: every pixel of a ``width`` × ``height`` frame."""
    return ROI("full", box=(0, 0, int(width), int(height)))


def polygon_mask(polygon, height: int, width: int) -> np.ndarray:
    """Boolean ``(height, width)`` mask of the pixels whose centres are inside ``polygon`` (even-odd rule)."""
    poly = np.asarray(polygon, dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)[:, None] + 0.5
    xs = np.arange(width, dtype=np.float64)[None, :] + 0.5
    inside = np.zeros((height, width), bool)
    x_a, y_a = poly[:, 0], poly[:, 1]
    x_b, y_b = np.roll(x_a, -1), np.roll(y_a, -1)
    for xa, ya, xb, yb in zip(x_a, y_a, x_b, y_b):
        if ya == yb:
            continue
        crosses = (ya > ys) != (yb > ys)  # (H, 1)
        x_cross = xa + (ys - ya) * (xb - xa) / (yb - ya)  # (H, 1)
        inside ^= crosses & (xs < x_cross)
    return inside


def roi_masks(rois, source_width: int, source_height: int, *, crop=None, bin: int = 1) -> np.ndarray:
    """Masks ``(n_rois, H, W)`` of the ROIs on cropped, k×k-binned frames.

    Parameters
    ----------
    rois : sequence of ROI
    source_width, source_height : int
        Size of the source video frame; every ROI must lie inside it.
    crop : (x0, y0, x1, y1), optional
        The crop applied while reading (end exclusive).
    bin : int
        The binning applied while reading.

    Raises
    ------
    InputError
        A ROI outside the frame, or one that keeps no pixel after crop and binning.
    """
    x0c, y0c, x1c, y1c = (0, 0, source_width, source_height) if crop is None else tuple(int(v) for v in crop)
    hb, wb = (y1c - y0c) // bin, (x1c - x0c) // bin
    masks = np.zeros((len(rois), hb, wb), bool)
    for i, roi in enumerate(rois):
        bx0, by0, bx1, by1 = roi.bounds
        if roi.box is not None and (bx0 < 0 or by0 < 0 or bx1 > source_width or by1 > source_height):
            raise InputError(
                f"ROI '{roi.name}': box = {list(roi.box)} is outside the {source_width}x{source_height} "
                f"frame; expected 0 <= x0 < x1 <= {source_width} and 0 <= y0 < y1 <= {source_height}"
            )
        if roi.polygon is not None:
            poly = np.asarray(roi.polygon)
            if (
                poly[:, 0].min() < 0
                or poly[:, 1].min() < 0
                or poly[:, 0].max() > source_width
                or poly[:, 1].max() > source_height
            ):
                raise InputError(
                    f"ROI '{roi.name}': polygon reaches outside the {source_width}x{source_height} frame "
                    f"(x in [{poly[:, 0].min():g}, {poly[:, 0].max():g}], y in "
                    f"[{poly[:, 1].min():g}, {poly[:, 1].max():g}]); expected vertices inside it"
                )
        if roi.box is not None:
            full = np.zeros((source_height, source_width), bool)
            full[by0:by1, bx0:bx1] = True
        else:
            full = polygon_mask(roi.polygon, source_height, source_width)
        cut = full[y0c : y0c + hb * bin, x0c : x0c + wb * bin]
        if bin > 1:
            cut = cut.reshape(hb, bin, wb, bin).mean(axis=(1, 3)) >= 0.5
        if not cut.any():
            raise InputError(
                f"ROI '{roi.name}': keeps no pixel of the {wb}x{hb} frame after crop "
                f"{[x0c, y0c, x1c, y1c]} and bin {bin}; expected a ROI overlapping the frame"
            )
        masks[i] = cut
    return masks
