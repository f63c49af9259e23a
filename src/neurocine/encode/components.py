"""The SVD-space route of the encode job out of core: a widefield movie's top-k components in a few chunked passes.

``[neural] components = k`` fits the ridge model to the k temporal components
of the preprocessed movie and projects the fits back through the spatial
components (:func:`~neurocine.models.attribution.held_out_ev` with ``U``).
In memory the components come from the (T, pixels) matrix; for a movie larger
than memory, :func:`movie_components` reads it chunk by chunk
(:class:`~neurocine.features.widefield.DffStream`: binning, blur, dF/F) in
``2 + power_iterations`` passes of
:func:`~neurocine.features.chunked_svd.randomized_svd_chunks`, the function the
in-memory route calls on its matrix. The first pass also finds the brain mask
(``"otsu"``) and the session baseline, as the streaming pass of
:func:`~neurocine.encode.streaming.stream_encode` does. Memory: a chunk of
frames and a few (T, k + 20) and (pixels, k + 20) float64 arrays.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from neurocine.encode.streaming import modelled_pixels
from neurocine.features.chunked_svd import randomized_svd_chunks
from neurocine.features.widefield import DffStream

__all__ = ["MovieComponents", "component_space", "movie_components"]


@dataclass
class MovieComponents:
    """The top-k components of a preprocessed widefield movie: ``Y ≈ temporal @ U.T`` (dF/F).

    Attributes
    ----------
    temporal : ndarray, shape (T, k)
        Temporal components, singular values and the pixels' mean included
        (``U @ temporal.T`` approximates the movie, not its centred copy).
    U : ndarray, shape (n_pixels, k)
        Spatial components, orthonormal columns, one row per modelled pixel.
    kept_variance : float
        Fraction of the modelled pixels' variance the k components keep.
    pixels : ndarray of int
        Flat indices of the modelled pixels in ``image_shape``.
    image_shape : (int, int)
    mask : ndarray of bool, shape image_shape
    passes : int
        Passes over the movie.
    seconds : float
        Wall time of the passes.
    """

    temporal: np.ndarray
    U: np.ndarray
    kept_variance: float
    pixels: np.ndarray
    image_shape: tuple
    mask: np.ndarray
    passes: int
    seconds: float = 0.0


def component_space(svd) -> tuple[np.ndarray, np.ndarray]:
    """(temporal (T, k), U (n, k)) of a :class:`~neurocine.features.chunked_svd.ChunkedSVD`, mean kept.

    ``temporal = A diag(s) + mean @ U`` so that ``U @ temporal.T ≈ Yᵀ`` (the
    targets of the encode job's component route).
    """
    temporal = svd.temporal * svd.singular_values + svd.mean @ svd.spatial
    return temporal, svd.spatial


def movie_components(
    stack,
    k: int,
    *,
    dff: str = "sliding",
    window: int = 30,
    bin: int = 1,
    blur: float = 0.0,
    mask: Any = "otsu",
    chunk_size: int = 256,
    power_iterations: int = 2,
    random_state: int = 0,
) -> MovieComponents:
    """Top-k SVD of the preprocessed movie (pixels inside the mask, dF/F), reading it in time chunks.

    Parameters
    ----------
    stack : array-like, shape (T, H, W)
        Raw fluorescence (an :class:`~neurocine.io.imaging.ImageStack`, memmap, array).
    k : int
        Components.
    dff, window, bin, blur
        As :func:`~neurocine.encode.streaming.stream_encode`.
    mask : "otsu", None or ndarray of bool, shape (H // bin, W // bin)
        Brain mask (``"otsu"``: of the mean binned, blurred frame, found in the first pass).
    chunk_size : int, default 256
        Frames per chunk.
    power_iterations : int, default 2
        Power iterations of the randomized SVD; each is one more pass.
    random_state : int, default 0
        Seeds the random sketch.

    Returns
    -------
    MovieComponents

    Raises
    ------
    InputError
        ``k`` larger than the frames or the modelled pixels, a mask that selects no pixel, a modelled
        pixel with a non-positive dF/F baseline.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> F = 100 + rng.random((60, 8, 8))
    >>> comps = movie_components(F, 3, dff="none", mask=None, chunk_size=16)
    >>> comps.temporal.shape, comps.U.shape, comps.passes
    ((60, 3), (64, 3), 4)
    """

    def stream(pixels) -> DffStream:
        return DffStream(stack, window, mode=dff, blur=blur or None, bin=bin, pixels=pixels, chunk_size=chunk_size)

    given = None if mask is None or isinstance(mask, str) else np.flatnonzero(np.asarray(mask, dtype=bool).ravel())
    movie = stream(given)  # one stream (and one frame buffer) for every pass
    kept: dict[str, np.ndarray] = {}

    def chunks(columns):
        return movie if columns is None else ((start, values[:, columns]) for start, values in movie)

    def after_first_pass(_mean):
        keep, baseline = modelled_pixels(movie, mask, dff, getattr(stack, "source", "movie"))
        kept["pixels"] = movie.pixels[keep]
        columns = np.flatnonzero(keep)
        if baseline is None:
            return columns, None, None
        return columns, 1.0 / baseline, -1.0  # dF/F = F / F̄ - 1

    t0 = time.perf_counter()
    svd = randomized_svd_chunks(
        chunks,
        movie.n_frames,
        k,
        n_iter=power_iterations,
        random_state=random_state,
        after_first_pass=after_first_pass,
        n_chunks=-(-movie.n_frames // chunk_size),
        desc="movie SVD",
    )
    temporal, U = component_space(svd)
    pixels, hw = kept["pixels"], movie.frame_shape
    mask_img = np.zeros(hw[0] * hw[1], dtype=bool)
    mask_img[pixels] = True
    return MovieComponents(
        temporal=temporal,
        U=U,
        kept_variance=svd.kept_variance,
        pixels=pixels,
        image_shape=hw,
        mask=mask_img.reshape(hw),
        passes=svd.passes,
        seconds=time.perf_counter() - t0,
    )
