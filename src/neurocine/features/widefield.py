"""Widefield imaging preprocessing: dF/F, spatial blur, binning, brain mask.

Pure numpy/scipy (no IO). Every function takes a *stack*: a numpy array
``(T, H, W)``, time first, or any object with ``__len__`` and ``__getitem__``
returning numpy arrays for time slices (``stack[a:b]`` ``(b - a, H, W)``),
such as :class:`neurocine.io.imaging.ImageStack` or a memory map. Stacks are
processed in chunks of ``chunk_size`` frames, so memory stays bounded by a
few chunks of float64 frames whatever T is, and results go to ``out=``: a
preallocated array of the output shape (numpy array or memmap, h5py dataset,
zarr array: anything supporting ``out[a:b] = block``), or a new in-memory
array when ``out`` is None.

McCarthy (2019, Sec. II.C, Fig. 2) blurs the widefield movie
spatially with a Gaussian and computes dF/F against a per-pixel mean baseline
over windows of ``window`` frames; Sec. II.D bins the frames 2 x 2.
:func:`preprocess_widefield` chains bin -> blur -> dF/F in one chunked pass.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from neurocine.arrays import block_mean
from neurocine.errors import InputError
from neurocine.runtime import prefetched
from neurocine.validation import check_float_dtype, check_int, plural

__all__ = [
    "bin_frames",
    "brain_mask",
    "DffStream",
    "check_window",
    "dff",
    "gaussian_blur",
    "mean_frame",
    "otsu_threshold",
    "preprocess_widefield",
]

_DEFAULT_CHUNK = 256
_PREFETCH = 1  # chunks DffStream reads ahead of the caller


# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------
def _stack_info(stack: Any, name: str = "stack") -> tuple[int, int, int]:
    """``(T, H, W)`` of a stack-like object, checked: 3-D, numeric, at least one frame."""
    if isinstance(stack, (list, tuple)):
        raise InputError(
            f"{name}: got a {type(stack).__name__}; expected an array-like (T, H, W) stack (np.asarray it first)"
        )
    if not hasattr(stack, "__getitem__") or not hasattr(stack, "__len__"):
        raise InputError(
            f"{name}: got {type(stack).__name__}; expected a (T, H, W) array or an object "
            f"with __len__ and __getitem__ on time slices"
        )
    shape = getattr(stack, "shape", None)
    dtype = getattr(stack, "dtype", None)
    if shape is None or dtype is None:
        first = np.asarray(stack[0:1])
        shape = (len(stack),) + first.shape[1:]
        dtype = first.dtype
    shape = tuple(int(x) for x in shape)
    dt = np.dtype(dtype)
    if dt.kind not in "biuf":
        raise InputError(f"{name}: has dtype {dt}; expected real numeric frames")
    if len(shape) != 3:
        raise InputError(
            f"{name}: got a {len(shape)}-D array of shape {shape}; expected a 3-D (T, H, W) stack, time first"
        )
    if shape[0] == 0 or shape[1] == 0 or shape[2] == 0:
        raise InputError(f"{name}: has shape {shape}; expected at least 1 frame of at least 1 x 1 pixels")
    return shape


def _read(stack: Any, a: int, b: int, hw: tuple[int, int], name: str = "stack") -> np.ndarray:
    """Frames ``a:b`` as float64, shape checked."""
    block = np.asarray(stack[a:b], dtype=np.float64)
    if block.shape != (b - a,) + hw:
        raise InputError(f"{name}[{a}:{b}]: returned shape {block.shape}; expected {(b - a,) + hw}")
    return block


def _chunk(chunk_size: Any) -> int:
    return check_int("chunk_size", chunk_size, 1)


def _prepare_out(out: Any, shape: tuple[int, ...], dtype: np.dtype | None) -> Any:
    if out is None:
        return np.empty(shape, dtype=dtype)
    got = getattr(out, "shape", None)
    if got is None or tuple(int(x) for x in got) != tuple(shape):
        raise InputError(f"out: has shape {None if got is None else tuple(got)}; expected {tuple(shape)}")
    return out


def _check_mask(mask: Any, hw: tuple[int, int], name: str = "mask") -> np.ndarray | None:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.dtype != bool:
        if m.dtype.kind not in "iuf" or not np.isin(m, (0, 1)).all():
            raise InputError(f"{name}: has dtype {m.dtype}; expected booleans (True inside the brain)")
        m = m.astype(bool)
    if m.shape != hw:
        raise InputError(f"{name}: has shape {m.shape}; expected {hw}, the frame shape")
    if not m.any():
        raise InputError(f"{name}: selects no pixel; expected True inside the brain")
    return m


def _sigma_pair(sigma: Any) -> tuple[float, float]:
    arr = np.atleast_1d(np.asarray(sigma, dtype=object))
    try:
        vals = [float(x) for x in arr]
    except (TypeError, ValueError):
        vals = []
    if len(vals) == 1:
        vals = vals * 2
    if len(vals) != 2 or not all(np.isfinite(v) and v >= 0 for v in vals):
        raise InputError(f"sigma: got {sigma!r}; expected a number >= 0 or a pair (sigma_y, sigma_x) in pixels")
    return vals[0], vals[1]


# ---------------------------------------------------------------------------
# dF/F
# ---------------------------------------------------------------------------
def check_window(window, n_frames: int) -> int:
    """The dF/F baseline ``window`` as an int in ``[1, n_frames]``, else a one-line InputError.

    Examples
    --------
    >>> check_window(500, 50)
    Traceback (most recent call last):
    ...
    neurocine.errors.InputError: window: got 500, expected an integer in [1, 50] (the stack has 50 frames)
    """
    return check_int("window", window, 1, n_frames, why=f"the stack has {plural(n_frames, 'frame')}")


def dff(
    stack: Any,
    window: int = 30,
    *,
    mode: str = "sliding",
    mask: Any = None,
    chunk_size: int = _DEFAULT_CHUNK,
    out: Any = None,
    dtype: Any = np.float32,
    fill_value: float = np.nan,
) -> Any:
    """dF/F per pixel: ``(F - F0) / F0`` with a running-mean baseline F0.

    Parameters
    ----------
    stack : array-like, shape (T, H, W)
        Fluorescence movie, time first (numpy array, memmap, ImageStack...).
    window : int, default 30
        Baseline window in frames.
    mode : {"sliding", "block"}, default "sliding"
        ``"sliding"``: F0[t] is the mean of the centred window of ``window``
        frames ``t - window // 2 ... t - window // 2 + window - 1`` (for even
        ``window`` one more frame before t than after). Near the ends the
        window is cut to the frames that exist and F0 is the mean of those
        (fewer frames, no padding).
        ``"block"``: the algorithm of McCarthy (2019, Fig. 2): non-overlapping blocks of
        ``window`` frames ``[b * window, (b + 1) * window)``, F0 the mean of
        each block; the last partial block uses its own frames (the paper
        dropped them). The paper indexes the block as
        ``video[i:(i*window+window)]``, which starts every block at frame
        ``i`` instead of ``i * window`` (overlapping, growing windows); the
        evident intent, per-pixel means over consecutive windows of
        ``window`` frames, is implemented here.
    mask : array_like of bool, shape (H, W), optional
        True inside the brain. Only these pixels are computed and checked;
        the others are set to ``fill_value``. Use it to exclude the dark
        (zero-baseline) background, e.g.
        ``brain_mask(mean_frame(stack))``.
    chunk_size : int, default 256
        Output frames per chunk. Memory: about ``chunk_size + window`` input
        frames (float64) in sliding mode, ``max(chunk_size, window)`` in block
        mode. Results do not depend on it (to float64 rounding).
    out : array-like, shape (T, H, W), optional
        Where to write (numpy array or memmap, h5py dataset, zarr array...);
        default a new in-memory array.
    dtype : floating dtype, default float32
        dtype of the new array when ``out`` is None.
    fill_value : float, default NaN
        Value outside ``mask``.

    Returns
    -------
    array-like, shape (T, H, W)
        ``out`` (dimensionless ratio; 0.05 is a 5 % rise above baseline).

    Raises
    ------
    InputError
        Bad stack, window, mode, mask or out; a baseline F0 <= 0 or NaN at a
        computed pixel (the message names the frame and pixel; mask such
        pixels out). Frames before the failing chunk are already written to
        ``out``.

    Examples
    --------
    >>> import numpy as np
    >>> f = np.full((6, 1, 1), 100.0); f[::2] += 10  # 110, 100, 110, ...
    >>> dff(f, window=2, mode="block")[:, 0, 0]
    array([ 0.04761905, -0.04761905,  0.04761905, -0.04761905,  0.04761905,
           -0.04761905], dtype=float32)
    """
    t_len, h, w = _stack_info(stack)
    window = check_window(window, t_len)
    if mode not in ("sliding", "block"):
        raise InputError(f"mode: got {mode!r}; expected 'sliding' or 'block'")
    chunk = _chunk(chunk_size)
    dt = check_float_dtype("dtype", dtype) if out is None else None
    m = _check_mask(mask, (h, w))
    out = _prepare_out(out, (t_len, h, w), dt)

    def load(a: int, b: int) -> np.ndarray:
        block = _read(stack, a, b, (h, w))
        return block[:, m] if m is not None else block.reshape(b - a, h * w)

    def emit(s: int, f: np.ndarray, f0: np.ndarray) -> None:
        bad = ~(f0 > 0)
        if bad.any():
            i, j = (int(x) for x in np.argwhere(bad)[0])
            y, x = np.argwhere(m)[j] if m is not None else divmod(j, w)
            raise InputError(
                f"stack: baseline F0 is {f0[i, j]} at frame {s + i}, pixel (y={int(y)}, x={int(x)}) "
                f"({plural(int(bad.sum()), 'non-positive or NaN baseline')} in frames {s}.."
                f"{s + f0.shape[0] - 1}); expected F0 > 0: pass mask= (True inside the brain) "
                f"to exclude dark pixels"
            )
        r = (f - f0) / f0
        e = s + r.shape[0]
        if m is None:
            out[s:e] = r.reshape(e - s, h, w)
        else:
            full = np.full((e - s, h, w), fill_value, dtype=np.float64)
            full[:, m] = r
            out[s:e] = full

    for s, f, f0 in _baseline_blocks(load, t_len, window, mode, chunk):
        emit(s, f, f0)
    return out


def _baseline_blocks(load: Any, t_len: int, window: int, mode: str, chunk: int, stop: int | None = None) -> Any:
    """Yield ``(start, F, F0)`` blocks of the frames ``0:stop`` (default T): fluorescence and its baseline.

    ``load(a, b)`` returns frames ``a:b`` as (b - a, n_pixels) float64; the
    baseline rules are those of :func:`dff`.
    """
    stop = t_len if stop is None else stop
    if mode == "sliding":
        before = window // 2
        after = window - 1 - before
        for s in range(0, stop, chunk):
            e = min(stop, s + chunk)
            a, b = max(0, s - before), min(t_len, e + after)
            block = load(a, b)
            csum = np.zeros((b - a + 1, block.shape[1]), dtype=np.float64)
            np.cumsum(block, axis=0, out=csum[1:])
            t = np.arange(s, e)
            lo = np.maximum(0, t - before) - a
            hi = np.minimum(t_len, t + after + 1) - a
            f0 = csum[hi]
            f0 -= csum[lo]
            f0 /= (hi - lo)[:, None]
            yield s, block[s - a : e - a], f0
    else:
        step = window * max(1, chunk // window)
        for s in range(0, stop, step):
            e = min(t_len, s + step)
            block = load(s, e)
            f0 = np.empty_like(block)
            for b0 in range(0, e - s, window):
                b1 = min(e - s, b0 + window)
                f0[b0:b1] = block[b0:b1].mean(axis=0)
            n = min(e, stop) - s
            yield s, block[:n], f0[:n]


# ---------------------------------------------------------------------------
# spatial transforms
# ---------------------------------------------------------------------------
class _Buffers:
    """``n`` reused arrays (float64 by default) handed out in turn, each grown when a larger shape is asked for."""

    def __init__(self, n: int, dtype: Any = np.float64) -> None:
        self._arrays = [np.empty(0, dtype=dtype) for _ in range(n)]
        self._i = 0

    def next(self, shape: tuple[int, ...]) -> np.ndarray:
        i, self._i = self._i, (self._i + 1) % len(self._arrays)
        size = int(np.prod(shape))
        if self._arrays[i].size < size:
            self._arrays[i] = np.empty(size, dtype=self._arrays[i].dtype)
        return self._arrays[i][:size].reshape(shape)


def _binned(block: np.ndarray, k: int) -> np.ndarray:
    return block_mean(block, k)


def _blurred(block: np.ndarray, sy: float, sx: float, mode: str, truncate: float) -> np.ndarray:
    from scipy import ndimage

    if sy == 0 and sx == 0:
        return block
    return ndimage.gaussian_filter(block, sigma=(0.0, sy, sx), mode=mode, truncate=truncate)


def _map_chunks(stack: Any, func: Any, out_hw: tuple[int, int], chunk_size: int, out: Any, dtype: Any) -> Any:
    t_len, h, w = _stack_info(stack)
    chunk = _chunk(chunk_size)
    dt = check_float_dtype("dtype", dtype) if out is None else None
    out = _prepare_out(out, (t_len,) + out_hw, dt)
    for s in range(0, t_len, chunk):
        e = min(t_len, s + chunk)
        out[s:e] = func(_read(stack, s, e, (h, w)))
    return out


def gaussian_blur(
    stack: Any,
    sigma: float | tuple[float, float],
    *,
    mode: str = "reflect",
    truncate: float = 4.0,
    chunk_size: int = _DEFAULT_CHUNK,
    out: Any = None,
    dtype: Any = np.float32,
) -> Any:
    """Blur every frame with a 2-D Gaussian (spatial only, no smoothing over time).

    Same as ``scipy.ndimage.gaussian_filter(stack, sigma=(0, sy, sx))`` on the
    whole float64 array, computed chunk by chunk.

    Parameters
    ----------
    stack : array-like, shape (T, H, W)
    sigma : float or (float, float)
        Standard deviation in pixels (one for both axes, or ``(sy, sx)``);
        0 copies the stack.
    mode, truncate
        Passed to :func:`scipy.ndimage.gaussian_filter` (edge handling,
        kernel radius in sigmas). NaN pixels spread to their neighbours.
    chunk_size : int, default 256
        Frames per chunk.
    out : array-like, shape (T, H, W), optional
        Where to write; default a new array of ``dtype``.
    dtype : floating dtype, default float32

    Returns
    -------
    array-like, shape (T, H, W)
    """
    sy, sx = _sigma_pair(sigma)
    _, h, w = _stack_info(stack)
    return _map_chunks(stack, lambda b: _blurred(b, sy, sx, mode, truncate), (h, w), chunk_size, out, dtype)


def bin_frames(
    stack: Any, k: int = 2, *, chunk_size: int = _DEFAULT_CHUNK, out: Any = None, dtype: Any = np.float32
) -> Any:
    """Spatial k x k binning by mean: ``(T, H, W)`` -> ``(T, H // k, W // k)``.

    McCarthy (2019, Sec. II.D) bins the brain video 2 x 2. Rows and columns that
    do not fill a whole bin (the last ``H % k`` rows, ``W % k`` columns) are
    cropped.

    Parameters
    ----------
    stack : array-like, shape (T, H, W)
    k : int, default 2
        Bin size in pixels, 1 <= k <= min(H, W).
    chunk_size, out, dtype
        As in :func:`gaussian_blur`.

    Returns
    -------
    array-like, shape (T, H // k, W // k)

    Examples
    --------
    >>> import numpy as np
    >>> bin_frames(np.arange(16.0).reshape(1, 4, 4), 2)[0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    _, h, w = _stack_info(stack)
    k = check_int("k", k, 1)
    if k > min(h, w):
        raise InputError(f"k: got {k}; expected a bin size <= {min(h, w)}, the smaller side of the {h} x {w} frames")
    return _map_chunks(stack, lambda b: _binned(b, k), (h // k, w // k), chunk_size, out, dtype)


def mean_frame(stack: Any, *, chunk_size: int = _DEFAULT_CHUNK) -> np.ndarray:
    """Mean over time of a stack, shape (H, W) float64, read chunk by chunk."""
    t_len, h, w = _stack_info(stack)
    chunk = _chunk(chunk_size)
    total = np.zeros((h, w), dtype=np.float64)
    for s in range(0, t_len, chunk):
        e = min(t_len, s + chunk)
        total += _read(stack, s, e, (h, w)).sum(axis=0)
    return total / t_len


# ---------------------------------------------------------------------------
# brain mask
# ---------------------------------------------------------------------------
def otsu_threshold(values: Any, nbins: int = 256) -> float:
    """Otsu's threshold of the finite ``values``: the histogram-bin centre that
    maximises the between-class variance (as ``skimage.filters.threshold_otsu``).

    Raises
    ------
    InputError
        Fewer than two distinct finite values.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    nbins = check_int("nbins", nbins, 2)
    if v.size == 0 or v.min() == v.max():
        found = "no finite value" if v.size == 0 else f"a constant image ({v[0]})"
        raise InputError(f"mean_frame: got {found}; expected at least two intensity levels for Otsu's threshold")
    hist, edges = np.histogram(v, bins=nbins)
    centers = (edges[:-1] + edges[1:]) / 2
    hist = hist.astype(np.float64)
    w1 = np.cumsum(hist)
    w2 = np.cumsum(hist[::-1])[::-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        m1 = np.cumsum(hist * centers) / w1
        m2 = (np.cumsum((hist * centers)[::-1]) / w2[::-1])[::-1]
    between = w1[:-1] * w2[1:] * (m1[:-1] - m2[1:]) ** 2
    return float(centers[int(np.nanargmax(between))])


def brain_mask(
    mean_frame: Any,
    method: str | float = "otsu",
    *,
    nbins: int = 256,
    fill_holes: bool = False,
    return_threshold: bool = False,
) -> Any:
    """Pixels brighter than a threshold: True inside the brain.

    Parameters
    ----------
    mean_frame : array_like, shape (H, W)
        Mean (or other summary) frame, e.g. :func:`mean_frame` of the stack.
        NaN pixels are outside the mask.
    method : "otsu" or float, default "otsu"
        ``"otsu"``: Otsu's threshold (:func:`otsu_threshold`, numpy
        histogram with ``nbins`` bins); a number: that threshold.
    nbins : int, default 256
    fill_holes : bool, default False
        Fill holes inside the mask (``scipy.ndimage.binary_fill_holes``).
    return_threshold : bool, default False
        Also return the threshold used.

    Returns
    -------
    mask : ndarray of bool, shape (H, W)
        ``mean_frame > threshold``.
    threshold : float
        Only when ``return_threshold``.

    Examples
    --------
    >>> import numpy as np
    >>> img = np.zeros((4, 4)); img[1:3, 1:3] = 100.0
    >>> brain_mask(img).astype(int)
    array([[0, 0, 0, 0],
           [0, 1, 1, 0],
           [0, 1, 1, 0],
           [0, 0, 0, 0]])
    """
    img = np.asarray(mean_frame)
    if img.dtype.kind not in "biuf" or img.ndim != 2:
        raise InputError(f"mean_frame: got shape {img.shape} and dtype {img.dtype}; expected a numeric (H, W) frame")
    img = img.astype(np.float64)
    if isinstance(method, str):
        if method != "otsu":
            raise InputError(f"method: got {method!r}; expected 'otsu' or a threshold value")
        thr = otsu_threshold(img, nbins)
    elif (
        isinstance(method, (int, float, np.integer, np.floating))
        and not isinstance(method, bool)
        and np.isfinite(method)
    ):
        thr = float(method)
    else:
        raise InputError(f"method: got {method!r}; expected 'otsu' or a finite threshold value")
    with np.errstate(invalid="ignore"):
        mask = img > thr
    if fill_holes:
        from scipy import ndimage

        mask = ndimage.binary_fill_holes(mask)
    return (mask, thr) if return_threshold else mask


# ---------------------------------------------------------------------------
# the whole chain
# ---------------------------------------------------------------------------
class _Transformed:
    """Lazy view of a stack with a per-frame spatial transform applied on slicing."""

    def __init__(self, stack: Any, func: Any, hw: tuple[int, int], in_hw: tuple[int, int]) -> None:
        self._stack = stack
        self._func = func
        self._in_hw = in_hw
        self.shape = (len(stack),) + hw
        self.dtype = np.dtype(np.float64)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, sel: slice) -> np.ndarray:
        a, b, _ = sel.indices(self.shape[0])
        return self._func(_read(self._stack, a, b, self._in_hw))


def preprocess_widefield(
    stack: Any,
    window: int = 30,
    *,
    blur: float | None = None,
    bin: int | None = None,
    mask: Any = None,
    mode: str = "sliding",
    chunk_size: int = _DEFAULT_CHUNK,
    out: Any = None,
    dtype: Any = np.float32,
    blur_mode: str = "reflect",
    fill_value: float = np.nan,
) -> Any:
    """Bin, blur and dF/F a widefield movie in one chunked pass.

    Order: ``bin_frames(k=bin)`` -> ``gaussian_blur(sigma=blur)`` -> ``dff``.
    Binning first is cheapest (the blur and dF/F then touch k^2 times fewer
    pixels) and, being a mean, loses nothing the blur would keep; both are
    linear, so the baseline of the blurred movie is the blur of the baseline,
    and the non-linear dF/F ratio comes last, as in McCarthy (2019) (blur, then
    dF/F). The result equals ``dff(gaussian_blur(bin_frames(stack, bin),
    blur), window)`` without storing the intermediate movies.

    Parameters
    ----------
    stack : array-like, shape (T, H, W)
    window : int, default 30
        dF/F baseline window in frames (see :func:`dff`).
    blur : float or (float, float), optional
        Gaussian sigma in *binned* pixels; None or 0: no blur.
    bin : int, optional
        k x k binning (McCarthy 2019 uses 2); None or 1: no binning.
    mask : array_like of bool, shape (H // bin, W // bin), optional
        True inside the brain, in binned coordinates. Bin and blur are linear,
        so ``brain_mask(gaussian_blur(bin_frames(mean_frame(stack)[None], bin),
        blur)[0])`` is the mask of the preprocessed movie at the cost of one
        frame.
    mode : {"sliding", "block"}
        Baseline (see :func:`dff`).
    chunk_size : int, default 256
        Output frames per chunk; in sliding mode each chunk re-reads
        ``window - 1`` neighbouring frames, so prefer ``chunk_size >> window``.
    out : array-like, shape (T, H // bin, W // bin), optional
        Where to write; default a new array of ``dtype``.
    dtype : floating dtype, default float32
    blur_mode : str, default "reflect"
        Edge handling of the blur (scipy ``mode``).
    fill_value : float, default NaN
        Value outside ``mask``.

    Returns
    -------
    array-like, shape (T, H // bin, W // bin)
        dF/F, dimensionless.
    """
    _, h, w = _stack_info(stack)
    k = 1 if bin is None else check_int("bin", bin, 1)
    if k > min(h, w):
        raise InputError(f"bin: got {k}; expected a bin size <= {min(h, w)}, the smaller side of the {h} x {w} frames")
    sy, sx = (0.0, 0.0) if blur is None else _sigma_pair(blur)
    hb, wb = h // k, w // k

    def transform(block: np.ndarray) -> np.ndarray:
        if k > 1:
            block = _binned(block, k)
        return _blurred(block, sy, sx, blur_mode, 4.0)

    view = _Transformed(stack, transform, (hb, wb), (h, w))
    return dff(view, window, mode=mode, mask=mask, chunk_size=chunk_size, out=out, dtype=dtype, fill_value=fill_value)


class DffStream:
    """Bin, blur and dF/F a widefield movie chunk by chunk, for one pass over a movie larger than memory.

    Iterating yields ``(start, values)``: frames ``start .. start + n`` of the
    chosen pixels as an (n, n_pixels) float64 array; in modes ``"session"``
    and ``"none"`` without binning or blur, the frames as read, in the
    stack's own dtype (e.g. uint16: no conversion pass; cast them where
    floats are needed). A background thread reads and prepares the next
    chunk (binning, blur, baseline, dF/F) while the caller works on this
    one, so about three chunks of ``chunk_size + window`` frames are in
    memory at a time, whatever T is. ``values`` may be a view of a buffer
    that a later chunk overwrites: copy it to keep it.
    The baseline ``mode``:

    * ``"sliding"`` / ``"block"``: dF/F of :func:`dff` (a window of frames
      around each chunk is read). A pixel whose baseline is not positive is
      given 0 and flagged in :attr:`bad_baseline` (instead of raising: the
      brain mask may only be known after the pass).
    * ``"session"``: one baseline per pixel, the mean of the whole session,
      known only at the end. The stream yields the fluorescence F itself;
      dF/F is ``F / F̄ - 1`` with ``F̄`` = :attr:`mean` after the pass, an
      affine map per pixel that the caller applies afterwards (to sums of F,
      or, for a linear model with an intercept, to its coefficients: the
      explained variance does not change).
    * ``"none"``: F.

    Parameters
    ----------
    stack : array-like, shape (T, H, W)
        Fluorescence movie (an :class:`~neurocine.io.imaging.ImageStack`, memmap, array...).
    window : int, default 30
        Baseline window (frames) of the sliding and block modes.
    mode : {"sliding", "block", "session", "none"}
    blur : float, optional
        Gaussian sigma in binned pixels.
    bin : int, optional
        k x k binning.
    pixels : array_like of int, optional
        Flat indices (in the binned frame) of the pixels to yield; default all.
    chunk_size : int, default 256
        Frames per chunk.
    stop : int, optional
        Yield only the frames before ``stop`` (default T).

    Attributes
    ----------
    frame_shape : (int, int)
        (H // bin, W // bin).
    n_frames : int
    pixels : ndarray of int
    mean : ndarray, shape (n_pixels,)
        Mean binned, blurred fluorescence of every yielded frame (after a full pass: the session mean F̄).
    bad_baseline : ndarray of bool, shape (n_pixels,)
        Pixels with a non-positive baseline somewhere (sliding / block).

    Examples
    --------
    >>> import numpy as np
    >>> f = np.full((6, 1, 1), 100.0); f[::2] += 10
    >>> stream = DffStream(f, window=2, mode="block", chunk_size=4)
    >>> np.concatenate([v.copy() for _, v in stream])[:, 0].round(4).tolist()
    [0.0476, -0.0476, 0.0476, -0.0476, 0.0476, -0.0476]
    """

    def __init__(
        self,
        stack: Any,
        window: int = 30,
        *,
        mode: str = "sliding",
        blur: float | None = None,
        bin: int | None = None,
        pixels: Any = None,
        chunk_size: int = _DEFAULT_CHUNK,
        stop: int | None = None,
    ) -> None:
        t_len, h, w = _stack_info(stack)
        if mode not in ("sliding", "block", "session", "none"):
            raise InputError(f"mode: got {mode!r}; expected 'sliding', 'block', 'session' or 'none'")
        k = 1 if bin is None else check_int("bin", bin, 1)
        if k > min(h, w):
            raise InputError(
                f"bin: got {k}; expected a bin size <= {min(h, w)}, the smaller side of the {h} x {w} frames"
            )
        self.window = check_window(window, t_len) if mode in ("sliding", "block") else window
        sy, sx = (0.0, 0.0) if blur is None else _sigma_pair(blur)
        self.frame_shape = (h // k, w // k)
        self.n_frames = t_len
        n_all = self.frame_shape[0] * self.frame_shape[1]
        self.pixels = np.arange(n_all) if pixels is None else np.asarray(pixels, dtype=np.int64)
        if self.pixels.ndim != 1 or self.pixels.size == 0 or self.pixels.min() < 0 or self.pixels.max() >= n_all:
            raise InputError(f"pixels: expected flat indices in 0..{n_all - 1} of the {self.frame_shape} binned frame")
        self.mode = mode
        self.chunk = _chunk(chunk_size)
        self.stop = t_len if stop is None else check_int("stop", stop, 1, t_len)
        self.mean = np.zeros(self.pixels.size)
        self.bad_baseline = np.zeros(self.pixels.size, dtype=bool)

        def transform(block: np.ndarray) -> np.ndarray:
            if k > 1:
                block = _binned(block, k)
            return _blurred(block, sy, sx, "reflect", 4.0)

        whole = self.pixels.size == n_all
        # F itself, as read (no float64 copy of the chunk): nothing to bin, blur or divide
        as_read = mode in ("session", "none") and k == 1 and sy == sx == 0
        # reused float64 buffers, no fresh pages per chunk; those a yielded chunk may be a view of
        # rotate over every chunk in flight (the one yielded, those queued, the one being read)
        in_flight = _PREFETCH + 2
        frames = _Buffers(in_flight if whole and k == 1 and sy == sx == 0 else 1)
        picked = _Buffers(in_flight)
        read_into = getattr(stack, "read_into", None)  # ImageStack: into a reused buffer
        raws = _Buffers(in_flight if as_read else 1, getattr(stack, "dtype", np.float64))

        def load(a: int, b: int) -> np.ndarray:
            if read_into is not None:
                raw = read_into(a, raws.next((b - a, h, w)))
            else:
                raw = np.asarray(stack[a:b])
            if raw.shape != (b - a, h, w):
                raise InputError(f"stack[{a}:{b}]: returned shape {raw.shape}; expected {(b - a, h, w)}")
            if as_read:
                raw = raw.reshape(b - a, n_all)
                return raw if whole else raw[:, self.pixels]
            block = frames.next((b - a, h, w))
            np.copyto(block, raw)
            block = transform(block).reshape(b - a, n_all)
            if whole:
                return block
            return np.take(block, self.pixels, axis=1, out=picked.next((b - a, self.pixels.size)), mode="clip")

        self._load = load

    def _chunks(self) -> Any:
        """``(start, values, Σ F over the chunk, pixels with a non-positive baseline or None)`` per chunk."""
        if self.mode in ("sliding", "block"):
            blocks = _baseline_blocks(self._load, self.n_frames, self.window, self.mode, self.chunk, self.stop)
        else:
            blocks = ((s, self._load(s, min(self.stop, s + self.chunk)), None) for s in range(0, self.stop, self.chunk))
        for s, f, f0 in blocks:
            total = f.sum(0, dtype=np.float64)
            if f0 is None:
                yield s, f, total, None
                continue
            bad = ~(f0 > 0)
            flagged = None
            if bad.any():
                flagged = bad.any(0)
                f0 = np.where(bad, 1.0, f0)
                f = np.where(bad, 1.0, f)
            np.subtract(f, f0, out=f)  # (F - F0) / F0 in place: f is this chunk's own rows
            np.divide(f, f0, out=f)
            yield s, f, total, flagged

    def __iter__(self) -> Any:
        self.mean[:] = 0.0
        self.bad_baseline[:] = False
        # reading, binning, blurring and the baseline of the next chunk run in a background thread
        # while the caller works on this one (file reads and numpy release the GIL)
        for s, values, total, flagged in prefetched(self._chunks(), _PREFETCH):
            self.mean += total / self.stop
            if flagged is not None:
                self.bad_baseline |= flagged
            yield s, values
