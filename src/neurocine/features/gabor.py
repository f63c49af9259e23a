"""Spatio-temporal Gabor motion-energy pyramid (Adelson & Bergen 1985; Nishimoto et al. 2011).

Pure numpy (no IO, no torch). Videos are time first: ``(T, H, W)`` gray or
``(T, H, W, 3)`` RGB (converted to BT.601 luma ``0.299 R + 0.587 G + 0.114 B``,
the gray that :class:`~neurocine.io.video.VideoReader` returns); features are
``(T, n_filters)``.

Definitions (the same as the PyPI ``pymoten`` package, so the two agree on the
same video and parameters; this is an independent, vectorised implementation)

Coordinates
    Pixel ``(i, j)`` of an ``H x W`` frame sits at ``y_i = i / (H - 1)`` (0 at
    the top, 1 at the bottom) and ``x_j = a j / (W - 1)`` with the aspect ratio
    ``a = W / H``: one unit is the frame height.
Spatial quadrature pair
    ``g(x, y) = exp(-((x - cx)^2 + (y - cy)^2) / (2 s^2)) * exp(i phi)``, with
    ``phi = (x - cx) fx + (y - cy) fy + phase_offset``,
    ``fx = -2 pi f cos(theta)``, ``fy = 2 pi f sin(theta)``; ``f`` is the spatial
    frequency in cycles per frame height, ``theta`` the direction label
    (degrees) and ``s`` the spatial envelope (Gaussian SD, frame heights).
    The cosine filter is ``Re g``, the sine filter ``Im g``. Weights with
    ``|Re g| + |Im g| <= mask_threshold`` (``1e-3``) are set to 0.
Temporal quadrature pair
    Over a window of ``L`` frames (default ``int(2 fps / 3)``, about 0.67 s),
    ``u_d = d / L - 1/2`` for ``d = 0 .. L - 1``,
    ``k_d = exp(-u_d^2 / (2 e^2)) * exp(i 2 pi w (L / fps) u_d)`` with the
    temporal frequency ``w`` (Hz) and temporal envelope ``e`` (units of the window).
Response
    With ``z(t) = sum_{x,y} frame_t(x, y) g(x, y)`` (``Re z`` = cosine filter,
    ``Im z`` = sine filter), the quadrature responses are
    ``q(t) = sum_d k_d z(t + c - 1 - d)`` with ``c = ceil(L / 2)`` (a centred,
    non-causal window of frames ``t - L + c .. t + c - 1``; frames outside the
    video count as 0). ``Re q`` is pymoten's "cos" channel and ``Im q`` its
    "sin" channel. Because the window pairs tap ``d`` with the frame ``d``
    steps *earlier*, a filter labelled ``theta`` responds best to motion toward
    ``theta + 180`` degrees (pymoten's documentation calls 0 rightward; its
    numbers, reproduced here, prefer: 0 leftward, 90 downward (toward the last
    row), 180 rightward, 270 upward). Energy ``|q|`` (or ``|q|^2``), then
    compression ``log(energy + 1e-5)`` (pymoten's default) or ``log(1 + energy)``.
Pyramid (:func:`pyramid_parameters`)
    For every non-zero spatial frequency ``f`` and direction: envelope
    ``s = min(sf_gauss_ratio / f, max_spatial_env)``; centres on a grid of step
    ``spacing * s`` around the frame centre with ``floor(((extent - spacing s)
    / (spacing s)) / 2)`` steps on each side (``extent`` = 1 vertically, ``a``
    horizontally; one more step with ``include_edges``); at every centre one
    filter per temporal frequency ``w`` with envelope
    ``e = min(tf_gauss_ratio / w, max_temporal_env)`` (``max_temporal_env`` for
    ``w = 0``), except directions ``>= 180`` at ``w = 0`` (the same filters as
    their opposites); when 0 is among the spatial frequencies, direction 0 also
    adds a non-oriented (``f = 0``) filter of the same envelope at every centre
    and temporal frequency. Filters are ordered by spatial frequency, direction,
    centre x, centre y, temporal frequency — pymoten's order.

Speed
    The spatial stage works on each filter's support only: every filter is
    zero outside a box of half-width ``s sqrt(2 ln(sqrt(2) / mask_threshold))``,
    so filters sharing an envelope are applied as one batched matrix product of
    the frame patches under their boxes (float32). The temporal stage is a
    complex FIR of ``L`` taps on every channel, streamed over chunks of frames
    so memory stays bounded by the chunk and the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.runtime import progress
from neurocine.validation import check_float_dtype, check_int

__all__ = ["GaborPyramid", "gabor_motion_energy", "pyramid_parameters", "PARAMETER_NAMES"]

#: Columns of :attr:`GaborPyramid.parameters` (one value per filter).
PARAMETER_NAMES = ("center_x", "center_y", "direction", "spatial_freq", "spatial_env", "temporal_freq", "temporal_env")

_LUMA = np.array([0.299, 0.587, 0.114])
_ENERGIES = ("amplitude", "power")
_COMPRESSIONS = ("log", "log1p", "none")


# --------------------------------------------------------------------------- #
# validation helpers
# --------------------------------------------------------------------------- #
def _real(name: str, value: Any, *, positive: bool = False, minimum: float | None = None) -> float:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name}: got {value!r}; expected a real number")
    v = float(value)
    if not math.isfinite(v) or (positive and v <= 0) or (minimum is not None and v < minimum):
        want = "a finite number" + (" > 0" if positive else f" >= {minimum}" if minimum is not None else "")
        raise InputError(f"{name}: got {value!r}; expected {want}")
    return v


def _reals(name: str, values: Any, *, minimum: float | None = None) -> np.ndarray:
    try:
        arr = np.atleast_1d(np.asarray(values, dtype=np.float64))
    except (TypeError, ValueError):
        raise InputError(f"{name}: got {values!r}; expected a sequence of real numbers") from None
    if arr.ndim != 1 or arr.size == 0:
        raise InputError(f"{name}: got {values!r}; expected a non-empty 1-D sequence of real numbers")
    if not np.isfinite(arr).all():
        raise InputError(f"{name}: got {values!r}; expected finite numbers")
    if minimum is not None and (arr < minimum).any():
        raise InputError(f"{name}: got {values!r}; expected numbers >= {minimum}")
    if np.unique(arr).size != arr.size:
        raise InputError(f"{name}: got {values!r}; expected distinct values")
    return arr


def _frame_shape(frame_shape: Any) -> tuple[int, int]:
    try:
        dims = tuple(
            int(d) if not isinstance(d, (bool, np.bool_)) and float(d) == int(d) else None for d in frame_shape
        )
    except (TypeError, ValueError):
        dims = (None,)
    if len(dims) == 3 and dims[2] == 3:
        dims = dims[:2]
    if len(dims) != 2 or any(d is None or d < 2 for d in dims):
        raise InputError(f"frame_shape: got {frame_shape!r}; expected (height, width) in pixels, both >= 2")
    return dims  # type: ignore[return-value]


# --------------------------------------------------------------------------- #
# the pyramid's filter table
# --------------------------------------------------------------------------- #
def pyramid_parameters(
    aspect_ratio: float,
    *,
    spatial_frequencies: Sequence[float] = (0, 2, 4, 8, 16),
    temporal_frequencies: Sequence[float] = (0, 2, 4),
    directions: Sequence[float] = (0, 45, 90, 135, 180, 225, 270, 315),
    sf_gauss_ratio: float = 0.6,
    max_spatial_env: float = 0.3,
    spacing: float = 3.5,
    tf_gauss_ratio: float = 10.0,
    max_temporal_env: float = 0.3,
    include_edges: bool = False,
) -> dict[str, np.ndarray]:
    """Filter table of a motion-energy pyramid tiling a frame (see the module notes for the rules).

    Parameters
    ----------
    aspect_ratio : float
        Frame width / height (> 0).
    spatial_frequencies : sequence of float, default (0, 2, 4, 8, 16)
        Cycles per frame height, >= 0; 0 adds non-oriented (local luminance) filters.
    temporal_frequencies : sequence of float, default (0, 2, 4)
        Hz, >= 0.
    directions : sequence of float, default 0, 45, ..., 315
        Direction labels, degrees (see :class:`GaborPyramid`).
    sf_gauss_ratio, max_spatial_env : float
        Spatial envelope ``min(sf_gauss_ratio / f, max_spatial_env)`` (frame heights).
    spacing : float, default 3.5
        Distance between neighbouring centres, in envelope SDs.
    tf_gauss_ratio, max_temporal_env : float
        Temporal envelope ``min(tf_gauss_ratio / w, max_temporal_env)`` (window units).
    include_edges : bool, default False
        One more ring of centres, partly outside the frame.

    Returns
    -------
    dict of str -> ndarray, shape (n_filters,), float64
        Keys :data:`PARAMETER_NAMES`: ``center_x`` (frame heights from the left
        edge, 0 .. aspect ratio), ``center_y`` (frame heights from the top),
        ``direction`` (deg), ``spatial_freq`` (cycles per frame height),
        ``spatial_env`` (frame heights), ``temporal_freq`` (Hz), ``temporal_env``.

    Examples
    --------
    >>> table = pyramid_parameters(1.0, spatial_frequencies=[8], temporal_frequencies=[0, 2], directions=[0, 90])
    >>> len(table["direction"]), np.unique(table["center_x"]).round(4).tolist()
    (36, [0.2375, 0.5, 0.7625])
    """
    aspect = _real("aspect_ratio", aspect_ratio, positive=True)
    sfs = _reals("spatial_frequencies", spatial_frequencies, minimum=0.0)
    tfs = _reals("temporal_frequencies", temporal_frequencies, minimum=0.0)
    dirs = _reals("directions", directions)
    sf_ratio = _real("sf_gauss_ratio", sf_gauss_ratio, positive=True)
    max_env = _real("max_spatial_env", max_spatial_env, positive=True)
    step_sd = _real("spacing", spacing, positive=True)
    tf_ratio = _real("tf_gauss_ratio", tf_gauss_ratio, positive=True)
    max_tenv = _real("max_temporal_env", max_temporal_env, positive=True)
    if not isinstance(include_edges, (bool, np.bool_)):
        raise InputError(f"include_edges: got {include_edges!r}; expected True or False")
    local_dc = bool((sfs == 0).any())
    t_env = np.array([max_tenv if w == 0 else min(tf_ratio / w, max_tenv) for w in tfs])
    rows: list[tuple[float, ...]] = []
    for f in sfs[sfs != 0]:
        env = min(sf_ratio / f, max_env)
        step = env * step_sd
        n_v = max(math.floor(((1.0 - step) / step) / 2.0), 0) + int(include_edges)
        n_h = max(math.floor(((aspect - step) / step) / 2.0), 0) + int(include_edges)
        ys = 0.5 + step * np.arange(-n_v, n_v + 1)
        xs = aspect / 2.0 + step * np.arange(-n_h, n_h + 1)
        for theta in dirs:
            for cx in xs:
                for cy in ys:
                    for w, e in zip(tfs, t_env):
                        if w == 0 and theta >= 180:
                            continue
                        rows.append((cx, cy, theta, f, env, w, e))
                        if local_dc and theta == 0:
                            rows.append((cx, cy, theta, 0.0, env, w, e))
    table = np.asarray(rows, dtype=np.float64).reshape(-1, len(PARAMETER_NAMES))
    return {name: table[:, i].copy() for i, name in enumerate(PARAMETER_NAMES)}


# --------------------------------------------------------------------------- #
# the pyramid
# --------------------------------------------------------------------------- #
class GaborPyramid:
    """Spatio-temporal Gabor motion-energy pyramid: video ``(T, H, W)`` -> features ``(T, n_filters)``.

    Quadrature pairs of 3-D (x, y, t) Gabor filters at several spatial
    frequencies, temporal frequencies and directions, tiled over the frame;
    each channel is the log-compressed energy ``log(sqrt(sin^2 + cos^2) + 1e-5)``.
    With the defaults it is pymoten's ``get_default_pyramid(vhsize=frame_shape,
    fps=fps)`` followed by ``project_stimulus`` (same filters, same order,
    same numbers up to float32 rounding). See the module notes for the formulas.

    Parameters
    ----------
    frame_shape : (int, int)
        ``(H, W)`` of the frames, pixels (an ``(H, W, 3)`` shape is accepted).
    fps : float
        Frame rate of the video (Hz, > 0).
    spatial_frequencies : sequence of float, default (0, 2, 4, 8, 16)
        Cycles per frame height; 0 adds non-oriented local-luminance filters.
    temporal_frequencies : sequence of float, default (0, 2, 4)
        Hz.
    directions : sequence of float, default (0, 45, ..., 315)
        Direction labels, degrees (pymoten's; the preferred motion is toward
        ``label + 180``: 0 leftward, 90 downward, 180 rightward, 270 upward).
    sf_gauss_ratio, max_spatial_env, spacing, tf_gauss_ratio, max_temporal_env, include_edges
        Tiling and envelopes, see :func:`pyramid_parameters`.
    temporal_width : int, optional
        Temporal window ``L`` in frames; default ``int(fps * 2 / 3)``.
    phase_offset : float, default 0.0
        Added to the spatial phase (radians; pymoten's ``spatial_phase_offset``,
        which it labels degrees but adds as radians).
    energy : {"amplitude", "power"}, default "amplitude"
        ``sqrt(sin^2 + cos^2)`` or ``sin^2 + cos^2``.
    compression : {"log", "log1p", "none"}, default "log"
        ``log(energy + log_offset)`` (pymoten's default), ``log(1 + energy)`` or none.
    log_offset : float, default 1e-5
    mask_threshold : float, default 1e-3
        Spatial weights with ``|cos| + |sin|`` at or below it are 0 (pymoten's
        mask); 0 keeps every weight (slower: every filter then spans the frame).
    dtype : float32 or float64, default float32
        Precision of the computation and of the output.
    chunk_size : int, optional
        Frames per chunk (memory bound); default from the frame and filter sizes.

    Attributes
    ----------
    n_filters : int
    parameters : dict of str -> ndarray, shape (n_filters,)
        The filter table, keys :data:`PARAMETER_NAMES` (see :func:`pyramid_parameters`).
    temporal_width : int
        ``L``, frames.
    aspect_ratio : float
        ``W / H``.

    Examples
    --------
    >>> import numpy as np
    >>> video = np.random.default_rng(0).random((40, 24, 32), dtype=np.float32)
    >>> pyramid = GaborPyramid((24, 32), fps=24, spatial_frequencies=[0, 2, 4])
    >>> pyramid.n_filters, pyramid.temporal_width
    (46, 16)
    >>> pyramid.transform(video).shape
    (40, 46)
    """

    def __init__(
        self,
        frame_shape: Sequence[int],
        fps: float,
        *,
        spatial_frequencies: Sequence[float] = (0, 2, 4, 8, 16),
        temporal_frequencies: Sequence[float] = (0, 2, 4),
        directions: Sequence[float] = (0, 45, 90, 135, 180, 225, 270, 315),
        sf_gauss_ratio: float = 0.6,
        max_spatial_env: float = 0.3,
        spacing: float = 3.5,
        tf_gauss_ratio: float = 10.0,
        max_temporal_env: float = 0.3,
        include_edges: bool = False,
        temporal_width: int | None = None,
        phase_offset: float = 0.0,
        energy: str = "amplitude",
        compression: str = "log",
        log_offset: float = 1e-5,
        mask_threshold: float = 1e-3,
        dtype: Any = np.float32,
        chunk_size: int | None = None,
    ) -> None:
        self.frame_shape = _frame_shape(frame_shape)
        self.fps = _real("fps", fps, positive=True)
        height, width = self.frame_shape
        self.aspect_ratio = width / float(height)
        if temporal_width is None:
            temporal_width = int(self.fps * (2.0 / 3.0))
            if temporal_width < 1:
                raise InputError(
                    f"fps: got {fps!r}, which gives a temporal window int(2 fps / 3) = "
                    f"{temporal_width} frames; expected fps >= 1.5 or an explicit temporal_width >= 1"
                )
        self.temporal_width = check_int("temporal_width", temporal_width, minimum=1)
        self.phase_offset = _real("phase_offset", phase_offset)
        if energy not in _ENERGIES:
            raise InputError(f"energy: got {energy!r}; expected one of {', '.join(map(repr, _ENERGIES))}")
        if compression is None:
            compression = "none"
        if compression not in _COMPRESSIONS:
            raise InputError(f"compression: got {compression!r}; expected one of {', '.join(map(repr, _COMPRESSIONS))}")
        self.energy = energy
        self.compression = compression
        self.log_offset = _real("log_offset", log_offset, positive=compression == "log", minimum=0.0)
        self.mask_threshold = _real("mask_threshold", mask_threshold, minimum=0.0)
        if self.mask_threshold >= 1.0:
            raise InputError(f"mask_threshold: got {mask_threshold!r}; expected a number in [0, 1)")
        self.dtype = check_float_dtype("dtype", dtype)
        self.chunk_size = None if chunk_size is None else check_int("chunk_size", chunk_size, minimum=1)
        self.parameters = pyramid_parameters(
            self.aspect_ratio,
            spatial_frequencies=spatial_frequencies,
            temporal_frequencies=temporal_frequencies,
            directions=directions,
            sf_gauss_ratio=sf_gauss_ratio,
            max_spatial_env=max_spatial_env,
            spacing=spacing,
            tf_gauss_ratio=tf_gauss_ratio,
            max_temporal_env=max_temporal_env,
            include_edges=include_edges,
        )
        self.n_filters = int(self.parameters["direction"].size)
        if self.n_filters == 0:
            raise InputError(
                f"spatial_frequencies: got {list(spatial_frequencies)!r}, which makes no filter; "
                f"expected at least one non-zero spatial frequency"
            )
        self._plan: dict | None = None

    def __repr__(self) -> str:
        return (
            f"GaborPyramid(frame_shape={self.frame_shape}, fps={self.fps:g}, n_filters={self.n_filters}, "
            f"temporal_width={self.temporal_width})"
        )

    # ------------------------------------------------------------------ filters
    def _coords(self) -> tuple[np.ndarray, np.ndarray]:
        height, width = self.frame_shape
        return (np.linspace(0.0, self.aspect_ratio, width), np.linspace(0.0, 1.0, height))

    def _spatial(self, xs: np.ndarray, ys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Complex masked spatial filters of table ``rows`` (indices) on the grid ``ys x xs``: (n, len(ys), len(xs))."""
        p = self.parameters
        keys = np.stack(
            [p[k][rows] for k in ("center_x", "center_y", "direction", "spatial_freq", "spatial_env")], axis=1
        )
        return self._spatial_from_rows(xs, ys, keys)

    def _temporal(self, temporal_freq: np.ndarray, temporal_env: np.ndarray) -> np.ndarray:
        """Complex temporal kernels, shape (n, L)."""
        n_taps = self.temporal_width
        u = np.arange(n_taps) / n_taps - 0.5
        omega = 2 * np.pi * np.asarray(temporal_freq, dtype=np.float64)[:, None] * (n_taps / self.fps)
        env = np.asarray(temporal_env, dtype=np.float64)[:, None]
        return np.exp(-(u**2) / (2 * env**2)) * np.exp(1j * omega * u)

    def kernels(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The spatial and temporal quadrature pairs of one filter, as complex arrays.

        Parameters
        ----------
        index : int
            Filter index, ``0 <= index < n_filters``.

        Returns
        -------
        spatial : ndarray, shape (H, W), complex128
            ``cos`` filter in the real part, ``sin`` filter in the imaginary part (masked).
        temporal : ndarray, shape (L,), complex128
            ``cos`` / ``sin`` temporal kernels, real / imaginary parts.
        """
        i = check_int("index", index, minimum=0)
        if i >= self.n_filters:
            raise InputError(f"index: got {index}; expected 0 <= index < n_filters = {self.n_filters}")
        xs, ys = self._coords()
        rows = np.array([i])
        spatial = self._spatial(xs, ys, rows)[0]
        temporal = self._temporal(self.parameters["temporal_freq"][rows], self.parameters["temporal_env"][rows])[0]
        return spatial, temporal

    def _build_plan(self) -> dict:
        """Group the distinct spatial filters by envelope, with their boxes and weights; map filters to them."""
        p = self.parameters
        height, width = self.frame_shape
        xs, ys = self._coords()
        step_x = self.aspect_ratio / (width - 1)
        step_y = 1.0 / (height - 1)
        spatial_keys = np.stack(
            [p["center_x"], p["center_y"], p["direction"], p["spatial_freq"], p["spatial_env"]], axis=1
        )
        uniq, spatial_of = np.unique(spatial_keys, axis=0, return_inverse=True)
        spatial_of = spatial_of.ravel()
        n_spatial = uniq.shape[0]
        if self.mask_threshold > 0:
            radius_sd = math.sqrt(2.0 * math.log(math.sqrt(2.0) / self.mask_threshold))
        else:
            radius_sd = math.inf
        groups = []
        for env in np.unique(uniq[:, 4]):
            members = np.flatnonzero(uniq[:, 4] == env)
            radius = env * radius_sd
            box_w = width if not math.isfinite(radius) else min(int(math.floor(2 * radius / step_x)) + 2, width)
            box_h = height if not math.isfinite(radius) else min(int(math.floor(2 * radius / step_y)) + 2, height)
            centres, pos_of = np.unique(uniq[members][:, :2], axis=0, return_inverse=True)
            pos_of = pos_of.ravel()
            n_pos = centres.shape[0]
            per_pos = np.bincount(pos_of, minlength=n_pos)
            m = int(per_pos.max())
            x0 = np.clip(
                np.floor((centres[:, 0] - radius) / step_x).astype(np.int64)
                if math.isfinite(radius)
                else np.zeros(n_pos, np.int64),
                0,
                width - box_w,
            )
            y0 = np.clip(
                np.floor((centres[:, 1] - radius) / step_y).astype(np.int64)
                if math.isfinite(radius)
                else np.zeros(n_pos, np.int64),
                0,
                height - box_h,
            )
            # weights (n_pos, box pixels, 2 m): columns [cos of the m filters at the position, sin of them]
            weights = np.zeros((n_pos, box_h * box_w, 2 * m), dtype=self.dtype)
            slot = np.zeros(members.size, dtype=np.int64)
            filled = np.zeros(n_pos, dtype=np.int64)
            for k, at in enumerate(pos_of):
                slot[k] = filled[at]
                filled[at] += 1
            for pos in range(n_pos):
                here = np.flatnonzero(pos_of == pos)
                gx = xs[x0[pos] : x0[pos] + box_w]
                gy = ys[y0[pos] : y0[pos] + box_h]
                g = self._spatial_from_rows(gx, gy, uniq[members[here]])
                flat = g.reshape(here.size, -1).T  # (pixels, n_here)
                weights[pos][:, slot[here]] = flat.real
                weights[pos][:, m + slot[here]] = flat.imag
            groups.append(
                {
                    "members": members,
                    "pos_of": pos_of,
                    "slot": slot,
                    "m": m,
                    "x0": x0,
                    "y0": y0,
                    "box": (box_h, box_w),
                    "weights": weights,
                }
            )
        kernels_key = np.stack([p["temporal_freq"], p["temporal_env"]], axis=1)
        kernel_keys, kernel_of = np.unique(kernels_key, axis=0, return_inverse=True)
        kernel_of = kernel_of.ravel()
        kernels = self._temporal(kernel_keys[:, 0], kernel_keys[:, 1])
        ctype = np.complex64 if self.dtype == np.float32 else np.complex128
        by_kernel = [
            (np.flatnonzero(kernel_of == j), spatial_of[kernel_of == j], kernels[j].astype(ctype))
            for j in range(kernel_keys.shape[0])
        ]
        patch_elems = max(g["weights"].shape[0] * g["weights"].shape[1] for g in groups)
        return {
            "groups": groups,
            "n_spatial": n_spatial,
            "by_kernel": by_kernel,
            "ctype": ctype,
            "patch_elems": max(patch_elems, height * width),
        }

    def _spatial_from_rows(self, xs: np.ndarray, ys: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """As :meth:`_spatial` for explicit rows ``(n, 5)`` of (cx, cy, direction, spatial_freq, env)."""
        cx, cy = rows[:, 0, None, None], rows[:, 1, None, None]
        theta = np.deg2rad(rows[:, 2])[:, None, None]
        f, env = rows[:, 3, None, None], rows[:, 4, None, None]
        dx = xs[None, None, :] - cx
        dy = ys[None, :, None] - cy
        phase = dx * (-2 * np.pi * f * np.cos(theta)) + dy * (2 * np.pi * f * np.sin(theta)) + self.phase_offset
        g = np.exp(-(dx**2 + dy**2) / (2 * env**2)) * np.exp(1j * phase)
        if self.mask_threshold > 0:
            g[np.abs(g.real) + np.abs(g.imag) <= self.mask_threshold] = 0
        return g

    # ------------------------------------------------------------------ projection
    def _check_video(self, video: Any) -> np.ndarray:
        if not isinstance(video, np.ndarray) and hasattr(video, "iter_chunks"):
            raise InputError(
                f"video: got a {type(video).__name__}; expected an array of frames "
                f"(read it first, e.g. VideoReader(path, color='gray').read())"
            )
        try:
            arr = np.asarray(video)
        except (TypeError, ValueError) as exc:
            raise InputError(f"video: cannot be read as an array ({exc}); expected (T, H, W) frames") from None
        if arr.dtype.kind not in "biuf":
            raise InputError(f"video: has dtype {arr.dtype}; expected real numeric frames")
        rgb = arr.ndim == 4 and arr.shape[-1] == 3
        if arr.ndim != 3 and not rgb:
            raise InputError(f"video: got shape {arr.shape}; expected (T, H, W) gray or (T, H, W, 3) RGB frames")
        if tuple(arr.shape[1:3]) != self.frame_shape:
            raise InputError(
                f"video: frames are {arr.shape[1]}x{arr.shape[2]} (shape {arr.shape}); expected "
                f"{self.frame_shape[0]}x{self.frame_shape[1]}, the pyramid's frame_shape"
            )
        if arr.shape[0] < 1:
            raise InputError("video: has 0 frames; expected at least 1")
        return arr

    def _gray_chunk(self, arr: np.ndarray, a: int, b: int) -> np.ndarray:
        chunk = arr[a:b]
        if chunk.ndim == 4:
            chunk = np.tensordot(chunk.astype(np.float64), _LUMA, axes=([3], [0]))
        chunk = np.asarray(chunk, dtype=self.dtype)
        if chunk.dtype.kind == "f" and not np.isfinite(chunk).all():
            bad = np.argwhere(~np.isfinite(chunk))[0]
            raise InputError(
                f"video: has a non-finite value at frame {a + int(bad[0])}, pixel "
                f"({int(bad[1])}, {int(bad[2])}); expected finite frames"
            )
        return chunk

    def _spatial_responses(self, frames: np.ndarray, plan: dict) -> np.ndarray:
        """``z`` for every distinct spatial filter: frames (n, H, W) -> (n, n_spatial) complex."""
        n = frames.shape[0]
        z = np.empty((n, plan["n_spatial"]), dtype=plan["ctype"])
        windows = None
        for g in plan["groups"]:
            box_h, box_w = g["box"]
            if (box_h, box_w) == self.frame_shape:
                patches = frames.reshape(1, n, -1)
            else:
                if windows is None or windows.shape[-2:] != (box_h, box_w):
                    windows = np.lib.stride_tricks.sliding_window_view(frames, (box_h, box_w), axis=(1, 2))
                # (n, n_pos, box_h, box_w) -> (n_pos, n, pixels)
                patches = windows[:, g["y0"], g["x0"]].reshape(n, g["x0"].size, -1).transpose(1, 0, 2)
            resp = np.matmul(patches, g["weights"])  # (n_pos | 1, n, 2 m)
            if resp.shape[0] != g["x0"].size:
                resp = np.broadcast_to(resp, (g["x0"].size,) + resp.shape[1:])
            m = g["m"]
            cos = resp[g["pos_of"], :, g["slot"]]  # (members, n)
            sin = resp[g["pos_of"], :, m + g["slot"]]
            z[:, g["members"]] = (cos + 1j * sin).T
        return z

    def _chunk(self, plan: dict) -> int:
        if self.chunk_size is not None:
            return self.chunk_size
        per_frame = max(plan["patch_elems"], plan["n_spatial"] * 4, self.n_filters * 2)
        return int(min(max((1 << 23) // per_frame, 16), 1024))

    def _stream(self, video: Any, combine) -> np.ndarray:
        arr = self._check_video(video)
        if self._plan is None:
            self._plan = self._build_plan()
        plan = self._plan
        n_frames = arr.shape[0]
        n_taps = self.temporal_width
        centre = math.ceil(n_taps / 2)
        lead, lag = n_taps - centre, centre - 1
        chunk = self._chunk(plan)
        out: np.ndarray | None = None
        # buffer of padded z rows: zpad[t + L - 1 - d] feeds output t through tap d
        buf = np.zeros((lead, plan["n_spatial"]), dtype=plan["ctype"])
        done = 0
        starts = range(0, n_frames, chunk)
        for a in progress(starts, total=len(starts), desc="gabor pyramid"):
            b = min(a + chunk, n_frames)
            z = self._spatial_responses(self._gray_chunk(arr, a, b), plan)
            buf = np.concatenate([buf, z] + ([np.zeros((lag, z.shape[1]), z.dtype)] if b == n_frames else []))
            n_out = buf.shape[0] - n_taps + 1
            if n_out <= 0:
                continue
            block = self._temporal_block(buf, n_out, plan)
            res = combine(block)
            if out is None:
                out = np.empty((n_frames,) + res.shape[1:], dtype=res.dtype)
            out[done : done + n_out] = res
            done += n_out
            buf = buf[n_out:]
        assert out is not None and done == n_frames
        return out

    def _temporal_block(self, buf: np.ndarray, n_out: int, plan: dict) -> np.ndarray:
        n_taps = self.temporal_width
        q = np.zeros((n_out, self.n_filters), dtype=plan["ctype"])
        for cols, spatial_cols, kernel in plan["by_kernel"]:
            zsel = buf[:, spatial_cols]
            acc = np.zeros((n_out, cols.size), dtype=plan["ctype"])
            for d in range(n_taps):
                start = n_taps - 1 - d
                acc += kernel[d] * zsel[start : start + n_out]
            q[:, cols] = acc
        return q

    def _finish(self, q: np.ndarray) -> np.ndarray:
        e = q.real * q.real + q.imag * q.imag
        if self.energy == "amplitude":
            np.sqrt(e, out=e)
        if self.compression == "log":
            e += self.log_offset
            np.log(e, out=e)
        elif self.compression == "log1p":
            np.log1p(e, out=e)
        return e.astype(self.dtype, copy=False)

    def transform(self, video: Any) -> np.ndarray:
        """Motion energy of every filter at every frame.

        Parameters
        ----------
        video : array_like, shape (T, H, W) or (T, H, W, 3)
            Gray frames (any real dtype and scale) or RGB frames (converted to
            BT.601 luma); ``(H, W)`` must be :attr:`frame_shape`. Finite values.

        Returns
        -------
        ndarray, shape (T, n_filters), :attr:`dtype`
            Compressed energy; column ``i`` is the filter of row ``i`` of :attr:`parameters`.
        """
        return self._stream(video, self._finish)

    def quadrature(self, video: Any) -> tuple[np.ndarray, np.ndarray]:
        """Linear responses of both filters of every quadrature pair (before energy and compression).

        Parameters
        ----------
        video : array_like, shape (T, H, W) or (T, H, W, 3)

        Returns
        -------
        sin, cos : ndarray, shape (T, n_filters), :attr:`dtype`
            pymoten's ``raw_project_stimulus`` outputs: ``energy = sqrt(sin^2 + cos^2)``.
        """
        q = self._stream(video, lambda block: block)
        return q.imag.astype(self.dtype), q.real.astype(self.dtype)


def gabor_motion_energy(video: Any, fps: float, **params: Any) -> np.ndarray:
    """Gabor motion-energy features of a video (function form of :class:`GaborPyramid`).

    Parameters
    ----------
    video : array_like, shape (T, H, W) or (T, H, W, 3)
        Frames, time first.
    fps : float
        Frame rate (Hz).
    **params
        Any keyword of :class:`GaborPyramid` (``spatial_frequencies``,
        ``temporal_frequencies``, ``directions``, ``compression``, ...).

    Returns
    -------
    ndarray, shape (T, n_filters), float32 by default

    Examples
    --------
    >>> import numpy as np
    >>> video = np.random.default_rng(0).random((30, 20, 20))
    >>> gabor_motion_energy(video, 24, spatial_frequencies=[2], directions=[0, 90]).shape
    (30, 6)
    """
    arr = np.asarray(video) if not hasattr(video, "shape") else video
    if getattr(arr, "ndim", 0) not in (3, 4):
        raise InputError(
            f"video: got shape {getattr(arr, 'shape', None)}; expected (T, H, W) gray or (T, H, W, 3) RGB frames"
        )
    return GaborPyramid(arr.shape[1:3], fps, **params).transform(arr)
