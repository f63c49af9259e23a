"""The encoding model of a widefield movie larger than memory: one pass over the movie, in time chunks.

:func:`stream_encode` reads the movie once, chunk by chunk
(:class:`~neurocine.features.widefield.DffStream`: binning, blur, dF/F) and
accumulates, for every pixel, the ridge sufficient statistics of contiguous
time blocks (:class:`~neurocine.models.block_ridge.BlockStatistics`) of the
design and of its group-wise circularly shifted copy. The nested
cross-validated EV map, the penalty choice, the refit (beta maps), the test
block EV and the unique and single-group EV of every feature group then
follow from those statistics (:mod:`neurocine.models.block_ridge`), with no
second pass. Memory: the statistics, ``n_blocks x 2p x n_pixels`` float64
numbers, plus about three chunks of frames (one summed, one read ahead
in a background thread, one being read); never the movie.

The brain mask: a mask file restricts the pixels before the pass; ``"otsu"``
is computed from the session's mean frame at the end of the pass (every
pixel is accumulated, the others dropped). The whole-session dF/F baseline
is the session mean, also known at the end: the statistics are those of the
fluorescence, and dF/F ``= F / F̄ - 1`` is applied to the fitted
coefficients (the EVs do not change under a per-pixel affine map).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.features.widefield import DffStream, brain_mask
from neurocine.models.attribution import GroupContributions, circular_shifts
from neurocine.models.block_ridge import BlockRidgeFit, BlockStatistics, block_contributions, fit_blocks, fold_bounds
from neurocine.runtime import progress

__all__ = ["StreamedEncoding", "modelled_pixels", "stream_encode", "streamed_series"]


@dataclass
class StreamedEncoding:
    """Result of :func:`stream_encode`.

    Attributes
    ----------
    fit : BlockRidgeFit
        Coefficients (p, n_pixels) in dF/F per unit of each design column, intercepts,
        penalties, cross-validated ``ev`` and ``test_ev`` per pixel, the fold models.
    contributions : GroupContributions
        Unique and single-group EV (n_groups, n_pixels).
    pixels : ndarray of int
        Flat indices of the modelled pixels in ``image_shape``.
    image_shape : (int, int)
    mask : ndarray of bool, shape image_shape
    baseline : ndarray, shape (n_pixels,) or None
        The whole-session baseline F̄ (``dff = "session"``).
    fold_edges : ndarray of int
        Boundaries of the outer folds.
    seconds_pass : float
        Wall time of the pass over the movie.
    """

    fit: BlockRidgeFit
    contributions: GroupContributions
    pixels: np.ndarray
    image_shape: tuple
    mask: np.ndarray
    baseline: np.ndarray | None
    fold_edges: np.ndarray
    seconds_pass: float = 0.0
    info: dict = field(default_factory=dict)


def _stream(stack, dff: str, window: int, bin: int, blur: float, pixels, chunk_size: int, stop=None) -> DffStream:
    return DffStream(
        stack,
        window,
        mode=dff,
        blur=blur or None,
        bin=bin,
        pixels=pixels,
        chunk_size=chunk_size,
        stop=stop,
    )


def stream_encode(
    stack,
    X: np.ndarray,
    groups: dict,
    *,
    dff: str = "sliding",
    window: int = 30,
    bin: int = 1,
    blur: float = 0.0,
    mask: Any = "otsu",
    cv: int = 5,
    alphas=None,
    random_state=None,
    split: int | None = None,
    chunk_size: int = 256,
    target_chunk: int = 4096,
) -> StreamedEncoding:
    """Cross-validated ridge of every pixel of a widefield movie, attribution included, in one pass.

    Parameters
    ----------
    stack : array-like, shape (T, H, W)
        Raw fluorescence, read chunk by chunk (an :class:`~neurocine.io.imaging.ImageStack`).
    X : ndarray, shape (T, p)
        Design matrix (z-scored or not), time first.
    groups : dict of str -> sequence of int
        Feature group -> its columns of ``X``.
    dff : {"sliding", "block", "session", "none"}
        Baseline (see :class:`~neurocine.features.widefield.DffStream`).
    window, bin, blur
        dF/F window (frames), k x k binning, Gaussian sigma (binned pixels).
    mask : "otsu", None or ndarray of bool, shape (H // bin, W // bin)
        Brain mask ("otsu": of the mean binned, blurred frame, computed in the same pass).
    cv : int
        Contiguous outer folds (the inner folds are the other outer folds).
    alphas : array_like, optional
        Penalty grid.
    random_state : int, optional
        Seeds the groups' circular shifts
        (:func:`~neurocine.models.attribution.circular_shifts`).
    split : int, optional
        First frame of the test block (``fit.test_ev``).
    chunk_size : int, default 256
        Frames per chunk.
    target_chunk : int, default 4096
        Pixels solved together after the pass.

    Returns
    -------
    StreamedEncoding

    Raises
    ------
    InputError
        A modelled pixel with a non-positive dF/F baseline, a mask that selects no pixel.
    """
    import time

    from threadpoolctl import threadpool_limits

    t_len = int(stack.shape[0])
    if X.shape[0] != t_len:
        raise InputError(f"X: has {X.shape[0]} rows but the movie has {t_len} frames; expected one row per frame")
    stream = _stream(stack, dff, window, bin, blur, None, chunk_size)
    hw = stream.frame_shape
    pixels = None
    if mask is not None and not isinstance(mask, str):
        pixels = np.flatnonzero(np.asarray(mask, dtype=bool).ravel())
        stream = _stream(stack, dff, window, bin, blur, pixels, chunk_size)
    names = list(groups)
    cols = [np.asarray(groups[g], dtype=np.int64) for g in names]
    shifts = circular_shifts(len(names), t_len, random_state=random_state)
    p = X.shape[1]
    shifted = X.copy()
    for idx, s in zip(cols, shifts):
        shifted[:, idx] = np.roll(X[:, idx], s, axis=0)
    edges = fold_bounds(t_len, cv)
    bounds = np.unique(np.concatenate([edges, [] if split is None else [split]])).astype(np.int64)
    stats = BlockStatistics(np.hstack([X, shifted]), bounds, stream.pixels.size)
    t0 = time.perf_counter()
    n_chunks = -(-t_len // chunk_size)
    # one BLAS thread: the stream reads and prepares the next chunk in a second thread meanwhile, and
    # the statistics' small products only lose to threads competing for the cores
    with threadpool_limits(limits=1, user_api="blas"):
        for start, values in progress(stream, total=n_chunks, desc="movie", unit="chunk"):
            stats.update(start, values)
    seconds = time.perf_counter() - t0
    stats.check_complete()

    keep, baseline = modelled_pixels(stream, mask, dff, getattr(stack, "source", "movie"))
    stats = stats.targets(np.flatnonzero(keep))
    fit = fit_blocks(stats, cv, cols=np.arange(p), alphas=alphas, split=split, target_chunk=target_chunk)
    full, reduced, single = block_contributions(
        stats, cv, p, cols, [c + p for c in cols], alphas=alphas, full_ev=fit.ev, target_chunk=target_chunk
    )
    if baseline is not None:  # dF/F = F / F̄ - 1: coefficients and intercepts scale, EVs do not change
        fit.coef = fit.coef / baseline
        fit.intercept = fit.intercept / baseline - 1.0
        fit.fold_coef = fit.fold_coef / baseline
        fit.fold_intercept = fit.fold_intercept / baseline - 1.0
    contributions = GroupContributions(
        group_names=[str(n) for n in names],
        full_ev=full,
        unique=full[None, :] - reduced,
        single=single,
        reduced_ev=reduced,
        shifts=np.asarray(shifts, dtype=np.int64),
        columns=cols,
    )
    modelled = stream.pixels[keep]
    mask_img = np.zeros(hw[0] * hw[1], dtype=bool)
    mask_img[modelled] = True
    return StreamedEncoding(
        fit=fit,
        contributions=contributions,
        pixels=modelled,
        image_shape=hw,
        mask=mask_img.reshape(hw),
        baseline=baseline,
        fold_edges=edges,
        seconds_pass=seconds,
        info={"blocks": bounds.tolist(), "statistics_bytes": int(stats.XY.nbytes)},
    )


def modelled_pixels(
    stream: DffStream, mask: Any, dff: str, source: Any = "movie"
) -> tuple[np.ndarray, np.ndarray | None]:
    """After a full pass of ``stream``: which of its pixels are modelled, and their session baseline.

    Parameters
    ----------
    stream : DffStream
        Iterated to the end once (its ``mean`` and ``bad_baseline`` are the session's).
    mask : "otsu", None or ndarray
        ``"otsu"``: the brain mask of the stream's mean frame
        (:func:`~neurocine.features.widefield.brain_mask`); otherwise every pixel
        of the stream (a mask array was already applied through its ``pixels``).
    dff : str
        The stream's mode; ``"session"`` returns the baseline F̄ of the kept pixels.
    source : str or path
        Names the movie in error messages.

    Returns
    -------
    keep : ndarray of bool, shape (stream.pixels.size,)
    baseline : ndarray, shape (keep.sum(),), or None
        F̄ of the kept pixels (``dff = "session"``: dF/F ``= F / F̄ - 1``).

    Raises
    ------
    InputError
        A mask that selects no pixel; a kept pixel whose dF/F baseline is not positive.
    """
    hw = stream.frame_shape
    keep = np.ones(stream.pixels.size, dtype=bool)
    if isinstance(mask, str) and mask == "otsu":
        mean_img = np.full(hw[0] * hw[1], np.nan)
        mean_img[stream.pixels] = stream.mean
        keep = brain_mask(mean_img.reshape(hw)).ravel()[stream.pixels]
    if not keep.any():
        raise InputError("[neural] mask: selects no pixel; expected a mask with brain pixels")
    baseline = None
    bad = stream.bad_baseline & keep
    if dff == "session":
        baseline = stream.mean[keep]
        bad = keep & ~(stream.mean > 0)
    if bad.any():
        j = int(stream.pixels[np.flatnonzero(bad)[0]])
        raise InputError(
            f"{source}: {int(bad.sum())} modelled pixels have a non-positive dF/F "
            f"baseline (first at y={j // hw[1]}, x={j % hw[1]}); expected F0 > 0 (use [neural] mask to leave out "
            f"dark or empty pixels)"
        )
    return keep, baseline


def streamed_series(
    stack, result: StreamedEncoding, targets, stop: int, *, dff: str, window: int, bin: int, blur: float
) -> np.ndarray:
    """dF/F of a few modelled pixels over the first ``stop`` frames, read again: shape (stop, len(targets)).

    ``targets`` index ``result.pixels``; the same preprocessing as the pass.
    """
    idx = np.asarray(targets, dtype=np.int64)
    stream = _stream(stack, dff, window, bin, blur, result.pixels[idx], 256, stop=stop)
    values = np.concatenate([v.astype(np.float64) for _, v in stream])
    if result.baseline is not None:
        values = values / result.baseline[idx] - 1.0
    return values
