"""Motion energy and motion SVD of video ROIs, computed in one streaming pass (pure: no IO).

Motion energy (eq. 1 of McCarthy 2019)
    ``ME_i = mean over ROI pixels of |frame_i - frame_{i-1}|``. Frame 0 has no
    predecessor: its value is ``first_value`` (0 by default; NaN on request).
    Chunks carry their last frame over, so the value at every chunk boundary is
    the same as on the whole video (facemap 1.0.8's values are one frame early
    over its first 500-frame chunk and 0 at frame 499;
    :func:`neurocine.io.imaging.align_facemap_motion` realigns them).

Motion SVD (facemap-style)
    Spatial masks and temporal components of the absolute frame differences
    of each ROI, centred by their mean over time (facemap's ``avgmotion``):
    ``|diff| - mean ≈ temporal @ masks``. Computed by an incremental SVD
    (Brand 2006): each chunk of difference frames is merged into a running
    rank-``r`` factorisation (``r = n_components + oversample``) through the
    eigen-decomposition of a small Gram matrix, and the per-chunk temporal
    coefficients are rotated into the final basis at the end, so the video is
    decoded once and memory holds ``O((T + P) r)`` numbers. Centring is applied
    exactly on the factorisation at the end (the mean difference frame lies in
    the span of the factorisation up to truncation). The temporal component of
    frame 0 is ``first_value``.

Use :class:`MotionFeatures` to run both on the chunks of a
:class:`~neurocine.io.video.VideoReader` (or any ``(n, H, W)`` arrays in
order); :func:`motion_energy` is the direct whole-array definition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from neurocine.errors import InputError
from neurocine.validation import check_int

__all__ = ["motion_energy", "IncrementalSVD", "MotionFeatures", "MotionResult"]


def motion_energy(frames: np.ndarray, masks: np.ndarray | None = None, *, first_value: float = 0.0) -> np.ndarray:
    """Motion energy of every frame in every ROI, straight from the definition.

    Parameters
    ----------
    frames : ndarray, shape (T, H, W)
    masks : ndarray of bool, shape (n_rois, H, W), optional
        Default: one ROI, the full frame.
    first_value : float
        Value for frame 0 (0.0 or NaN).

    Returns
    -------
    ndarray, shape (T, n_rois), float64

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.array([[[0, 0]], [[2, 4]], [[2, 0]]], dtype=np.uint8)   # T=3, H=1, W=2
    >>> motion_energy(frames)[:, 0].tolist()
    [0.0, 3.0, 2.0]
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise InputError(f"frames: got shape {frames.shape}; expected (T, H, W)")
    if masks is None:
        masks = np.ones((1,) + frames.shape[1:], bool)
    diffs = np.abs(np.diff(frames.astype(np.float64), axis=0))
    out = np.full((len(frames), len(masks)), first_value, dtype=np.float64)
    for j, m in enumerate(masks):
        out[1:, j] = diffs[:, m].mean(axis=1)
    return out


class IncrementalSVD:
    """Rank-``rank`` SVD of a tall matrix delivered in row blocks, optionally centred at the end.

    ``partial_fit(rows)`` merges a block ``(n, P)``; :meth:`result` returns
    ``(temporal (T, k), singular_values (k,), components (k, P))`` with
    ``rows - mean ≈ temporal @ components`` (``temporal`` = left singular
    vectors × singular values, ``components`` orthonormal rows).

    Parameters
    ----------
    n_components : int
        k, the number of components returned.
    oversample : int, default 20
        Extra components carried while streaming; more is more accurate.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> data = rng.normal(size=(300, 3)) @ rng.normal(size=(3, 40))
    >>> svd = IncrementalSVD(3, oversample=2)
    >>> for a in range(0, 300, 50):
    ...     _ = svd.partial_fit(data[a:a + 50])  # returns the model, for chaining
    >>> temporal, s, comps = svd.result()
    >>> bool(np.allclose(temporal @ comps, data - data.mean(0), atol=1e-6))
    True
    """

    def __init__(self, n_components: int, oversample: int = 20) -> None:
        self.n_components = check_int("n_components", n_components)
        self.rank = self.n_components + check_int("oversample", oversample, minimum=0)
        self._basis: np.ndarray | None = None  # (P, r) right singular vectors, float32
        self._sing = np.zeros(0)  # (r,)
        # one entry per merged block b, both lists aligned (a block whose merge kept rank 0, e.g. rows of
        # zeros, still has its entries): its rows' coefficients at insertion (n_b, r_b) and the rotation
        # (r_{b-1}, r_b) it applied to the coefficients of every earlier block ((0, r_0) for the first)
        self._bottoms: list[np.ndarray] = []
        self._tops: list[np.ndarray] = []
        self.n_rows = 0

    def partial_fit(self, rows: np.ndarray) -> IncrementalSVD:
        """Merge rows ``(n, P)`` (any real dtype), in sub-blocks of about ``2 * rank`` rows.

        Sub-blocks bound the memory (one float32 sub-block at a time) and the cost:
        merging ``m`` rows into rank ``r`` costs about ``(r + m)^2 P / m`` per row,
        smallest near ``m = r``.
        """
        rows = np.asarray(rows)
        if rows.ndim != 2 or len(rows) == 0:
            return self
        block = max(32, 2 * self.rank)
        for a in range(0, len(rows), block):
            self._merge(rows[a : a + block].astype(np.float32))
        return self

    def _merge(self, rows: np.ndarray) -> None:
        n = len(rows)
        if self._basis is None:
            gram = (rows @ rows.T).astype(np.float64)
            r_old = 0
        else:
            r_old = self._basis.shape[1]
            proj = (rows @ self._basis).astype(np.float64)  # (n, r_old) = C V
            gram = np.empty((r_old + n, r_old + n))
            gram[:r_old, :r_old] = np.diag(self._sing**2)
            gram[:r_old, r_old:] = self._sing[:, None] * proj.T  # S V^T C^T
            gram[r_old:, :r_old] = gram[:r_old, r_old:].T
            gram[r_old:, r_old:] = rows @ rows.T
        evals, evecs = np.linalg.eigh(gram)
        order = np.argsort(evals)[::-1]
        keep = order[: min(self.rank, len(order))]
        lam = np.clip(evals[keep], 0.0, None)
        tiny = lam <= lam.max(initial=0.0) * 1e-12 if lam.size else lam.astype(bool)
        keep, lam = keep[~tiny], lam[~tiny]
        w = evecs[:, keep]  # (r_old + n, r_new)
        sing = np.sqrt(lam)
        # new right vectors: K^T W S^-1 with K = [S V^T; C]
        new_basis = rows.T @ (w[r_old:] / sing).astype(np.float32)
        if r_old:
            new_basis += self._basis @ ((self._sing[:, None] * w[:r_old]) / sing).astype(np.float32)
        self._tops.append(w[:r_old])
        self._bottoms.append(w[r_old:])
        self._basis, self._sing = new_basis, sing
        self.n_rows += n

    def result(self, center: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if self._basis is None:
            raise InputError("IncrementalSVD: no rows were given; expected at least one block of rows")
        r = self._basis.shape[1]
        left = np.empty((self.n_rows, r))
        rotation = np.eye(r)
        stop = self.n_rows
        # walk back: block b's coefficients pass through the rotations of every later block
        for b in range(len(self._bottoms) - 1, -1, -1):
            coef = self._bottoms[b] @ rotation
            left[stop - len(coef) : stop] = coef
            stop -= len(coef)
            rotation = self._tops[b] @ rotation
        scores = left * self._sing  # U S  (T, r)
        if center:
            scores = scores - scores.mean(axis=0)
        u, s, vt = np.linalg.svd(scores, full_matrices=False)
        k = min(self.n_components, len(s))
        components = (self._basis @ vt[:k].T.astype(np.float32)).T  # (k, P), float32 like the basis
        temporal = u[:, :k] * s[:k]
        # a deterministic sign: the largest-magnitude pixel of each mask is positive
        flip = np.sign(components[np.arange(k), np.abs(components).argmax(axis=1)])
        flip[flip == 0] = 1
        return temporal * flip, s[:k], components * flip[:, None]


@dataclass
class MotionResult:
    """Outputs of :class:`MotionFeatures` for T frames and n ROIs.

    Attributes
    ----------
    motion_energy : ndarray, shape (T, n_rois)
    svd_temporal : ndarray, shape (T, n_rois, k)
        Zero-width when no SVD was asked for.
    svd_masks : ndarray, shape (n_rois, k, H, W)
        Spatial masks on the (binned) frame, zero outside each ROI.
    svd_singular_values : ndarray, shape (n_rois, k)
    timestamps : ndarray, shape (T,)
    roi_names : list of str
    pupil : dict of str to PupilResult
        Pupil and blinks of each eye ROI (``pupil = true``), filled by the video jobs that track them in
        the same pass (:func:`neurocine.encode.video_jobs.compute_motion`).
    """

    motion_energy: np.ndarray
    svd_temporal: np.ndarray
    svd_masks: np.ndarray
    svd_singular_values: np.ndarray
    timestamps: np.ndarray
    roi_names: list = field(default_factory=list)
    pupil: dict = field(default_factory=dict)


class MotionFeatures:
    """Streaming motion energy (+ motion SVD) of named ROIs.

    Feed frame chunks in order with :meth:`update`, then call :meth:`result`.

    Parameters
    ----------
    masks : ndarray of bool, shape (n_rois, H, W)
    roi_names : sequence of str
    n_svd : int, default 0
        Motion-SVD components per ROI (0: motion energy only).
    first_value : float, default 0.0
        Motion energy (and SVD temporal value) of frame 0.
    oversample : int, default 20
        Extra components carried by the incremental SVD.

    Examples
    --------
    >>> import numpy as np
    >>> frames = np.random.default_rng(0).integers(0, 255, (50, 8, 8)).astype(np.uint8)
    >>> mf = MotionFeatures(np.ones((1, 8, 8), bool), ["full"], n_svd=2)
    >>> for a in range(0, 50, 16):
    ...     mf.update(frames[a:a + 16], np.arange(a, min(a + 16, 50)) / 30)
    >>> res = mf.result()
    >>> res.motion_energy.shape, res.svd_temporal.shape, res.svd_masks.shape
    ((50, 1), (50, 1, 2), (1, 2, 8, 8))
    """

    def __init__(
        self, masks: np.ndarray, roi_names, *, n_svd: int = 0, first_value: float = 0.0, oversample: int = 20
    ) -> None:
        masks = np.asarray(masks, dtype=bool)
        if masks.ndim != 3 or len(masks) != len(roi_names):
            raise InputError(f"masks: got shape {masks.shape} for {len(roi_names)} ROI names; expected (n_rois, H, W)")
        self.masks = masks
        self.roi_names = list(roi_names)
        self.n_svd = check_int("n_svd", n_svd, minimum=0)
        self.first_value = float(first_value)
        self._prev: np.ndarray | None = None
        self._me: list[np.ndarray] = []
        self._times: list[np.ndarray] = []
        self._n_frames = 0
        # differences are computed only inside the union box of the ROIs; per ROI: its box relative to the
        # union box, and the mask inside it (pixels outside a polygon are left out)
        union = np.asarray(masks.any(axis=0))
        rows, cols = np.nonzero(union.any(axis=1))[0], np.nonzero(union.any(axis=0))[0]
        self._union = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
        self._boxes = []
        for m in masks[(slice(None),) + self._union]:
            rows, cols = np.nonzero(m.any(axis=1))[0], np.nonzero(m.any(axis=0))[0]
            sl = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
            inner = m[sl]
            self._boxes.append((sl, None if inner.all() else inner, int(inner.sum())))
        self._svds = (
            [IncrementalSVD(min(self.n_svd, n_px), oversample) for (_, _, n_px) in self._boxes] if self.n_svd else []
        )

    @staticmethod
    def _absdiff(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> None:
        if out.dtype == np.uint8:  # |a - b| without leaving uint8
            np.maximum(a, b, out=out)
            out -= np.minimum(a, b)
        else:
            np.subtract(a, b, out=out, dtype=out.dtype)
            np.abs(out, out=out)

    def update(self, frames: np.ndarray, timestamps: np.ndarray | None = None) -> None:
        """Add the next ``(n, H, W)`` frames (uint8 or float) and their timestamps."""
        frames = np.asarray(frames)
        if frames.ndim != 3 or frames.shape[1:] != self.masks.shape[1:]:
            raise InputError(
                f"frames: got shape {frames.shape}; expected (n, {self.masks.shape[1]}, "
                f"{self.masks.shape[2]}) like the ROI masks"
            )
        n = len(frames)
        if n == 0:
            return
        if timestamps is not None:
            self._times.append(np.asarray(timestamps, dtype=np.float64))
        cur = frames[(slice(None),) + self._union]
        me = np.empty((n, len(self.masks)))
        if self._prev is None:
            me[0] = self.first_value
        dtype = np.uint8 if cur.dtype == np.uint8 else np.float32
        diff = np.empty(cur.shape, dtype)  # diff[i] = |frame_i - frame_{i-1}|; row 0 needs the previous chunk
        if n > 1:
            self._absdiff(cur[1:], cur[:-1], diff[1:])
        first = 0 if self._prev is not None else 1
        if self._prev is not None:
            self._absdiff(cur[0], self._prev, diff[0])
        diff = diff[first:]
        if len(diff):
            for j, (sl, inner, n_px) in enumerate(self._boxes):
                region = diff[(slice(None),) + sl]
                if inner is not None:
                    region = region * inner
                flat = region.reshape(len(region), region.shape[1], -1)
                if region.dtype == np.uint8:  # exact integer sums, row by row then over rows
                    sums = flat.sum(axis=2, dtype=np.uint32).sum(axis=1, dtype=np.uint64).astype(np.float64)
                else:
                    sums = flat.sum(axis=(1, 2), dtype=np.float64)
                me[first:, j] = sums / n_px
                if self._svds:
                    rows = region.reshape(len(region), -1)
                    if inner is not None:
                        rows = rows[:, inner.ravel()]
                    self._svds[j].partial_fit(rows)
        self._me.append(me)
        self._prev = cur[-1].copy()
        self._n_frames += n

    def result(self) -> MotionResult:
        if self._n_frames == 0:
            raise InputError("motion features: no frames were given; expected at least one frame")
        me = np.concatenate(self._me)
        n_rois, (h, w) = len(self.masks), self.masks.shape[1:]
        k = self.n_svd
        temporal = np.zeros((self._n_frames, n_rois, k))
        masks = np.zeros((n_rois, k, h, w), np.float32)
        sing = np.zeros((n_rois, k))
        for j, svd in enumerate(self._svds):
            if svd.n_rows == 0:
                continue
            t_j, s_j, comp = svd.result(center=True)
            kk = t_j.shape[1]
            temporal[0, j, :] = self.first_value
            temporal[1:, j, :kk] = t_j
            sing[j, :kk] = s_j
            sl, inner, _ = self._boxes[j]
            box = np.zeros((kk,) + (sl[0].stop - sl[0].start, sl[1].stop - sl[1].start), np.float32)
            if inner is None:
                box[:] = comp.reshape(box.shape)
            else:
                box[:, inner] = comp
            ys = slice(self._union[0].start + sl[0].start, self._union[0].start + sl[0].stop)
            xs = slice(self._union[1].start + sl[1].start, self._union[1].start + sl[1].stop)
            masks[j, :kk, ys, xs] = box
        times = np.concatenate(self._times) if self._times else np.arange(self._n_frames, dtype=np.float64)
        return MotionResult(me, temporal, masks, sing, times, list(self.roi_names))
