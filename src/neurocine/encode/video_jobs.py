"""Video jobs: motion energy / motion SVD of ROIs, and a picture of the ROIs.

``neurocine video motion`` and ``neurocine video rois`` call these; so does
``neurocine batch motion`` once per session.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from neurocine.errors import InputError
from neurocine.features.motion import MotionFeatures, MotionResult
from neurocine.features.rois import ROI, full_frame_roi, roi_masks
from neurocine.io.results import JobResult
from neurocine.io.rois import read_roi_specs
from neurocine.io.video import VideoReader
from neurocine.report.html import JobFolder
from neurocine.runtime import progress
from neurocine.validation import check_int

__all__ = ["compute_motion", "run_motion", "run_draw_rois", "load_rois"]


def load_rois(rois: str | os.PathLike | list[ROI] | None, reader: VideoReader) -> list[ROI]:
    """ROIs from a file, a list, or (None) the one ROI ``full`` covering the source frame."""
    if rois is None:
        return [full_frame_roi(reader.source_width, reader.source_height)]
    if isinstance(rois, (str, os.PathLike)):
        roi_list = []
        for name, spec in read_roi_specs(rois):
            try:
                roi_list.append(ROI(name, box=spec.get("box"), polygon=spec.get("polygon")))
            except InputError as exc:
                raise InputError(f"{rois}: {exc}") from None
    else:
        roi_list = list(rois)
    names = [r.name for r in roi_list]
    if len(set(names)) != len(names):
        raise InputError(
            f"rois: duplicate ROI names {sorted({n for n in names if names.count(n) > 1})}; expected unique names"
        )
    return roi_list


def compute_motion(
    video: str | os.PathLike | VideoReader,
    rois=None,
    *,
    n_svd: int = 0,
    bin: int = 1,
    crop=None,
    first_value: float = 0.0,
    allow_truncated: bool = False,
    chunk_size: int | None = None,
    oversample: int = 20,
) -> tuple[MotionResult, VideoReader]:
    """Motion energy (and motion SVD when ``n_svd > 0``) of every ROI in one pass over the video.

    Parameters
    ----------
    video : path or VideoReader
    rois : path to a TOML/JSON ROI file, list of ROI, or None (the full frame, named ``full``)
    n_svd : int
        Motion-SVD components per ROI.
    bin, crop, allow_truncated, chunk_size
        Passed to :class:`~neurocine.io.video.VideoReader` (ignored when a reader is given).
    first_value : float
        Motion energy of frame 0 (0.0, or NaN).

    Returns
    -------
    (MotionResult, VideoReader)
        The features and the reader (its ``metadata`` says how many frames decoded).
    """
    reader = (
        video
        if isinstance(video, VideoReader)
        else VideoReader(video, bin=bin, crop=crop, allow_truncated=allow_truncated, chunk_size=chunk_size)
    )
    roi_list = load_rois(rois, reader)
    masks = roi_masks(roi_list, reader.source_width, reader.source_height, crop=reader.crop, bin=reader.bin)
    if n_svd:  # a ROI of P pixels over T frames has at most min(P, T - 1) motion components
        # a smaller ROI's components beyond its own pixels are zero; more than the largest ROI holds is refused
        pixels = int(masks.reshape(len(masks), -1).sum(1).max())
        most, why = pixels, f"the largest ROI covers {pixels} binned pixels"
        if reader.n_frames_exact and reader.n_frames - 1 < most:
            most, why = reader.n_frames - 1, f"{reader.n_frames} frames give {reader.n_frames - 1} motion frames"
        check_int("n_svd", n_svd, 0, most, why=why)
    features = MotionFeatures(
        masks, [r.name for r in roi_list], n_svd=n_svd, first_value=first_value, oversample=oversample
    )
    total = -(-reader.n_frames // reader.chunk_size) if reader.n_frames else None
    # one BLAS thread: the decoder runs in parallel threads, and a multi-threaded BLAS competing
    # with it slows the motion-SVD merges down several-fold
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        for chunk in progress(reader.iter_chunks(), total=total, desc=f"motion {reader.path.name}"):
            features.update(chunk.frames, chunk.timestamps)
        return features.result(), reader


def run_motion(
    video: str | os.PathLike,
    out: str | os.PathLike,
    *,
    rois: str | os.PathLike | None = None,
    svd: int = 0,
    bin: int = 1,
    crop=None,
    first: str = "zero",
    allow_truncated: bool = False,
    chunk_size: int | None = None,
    nwb: bool = False,
    nwb_meta: str | os.PathLike | None = None,
    figures: bool = True,
) -> JobResult:
    """``neurocine video motion``: write ``OUT/motion.npz``, figures and ``summary.json``.

    ``motion.npz`` keys: ``motion_energy`` (T, n_rois), ``svd_temporal`` (T, n_rois, k),
    ``svd_masks`` (n_rois, k, H, W), ``svd_singular_values`` (n_rois, k), ``timestamps`` (T,) s,
    ``roi_names`` (n_rois,). With ``nwb=True`` also ``motion.nwb`` (a BehavioralTimeSeries) and, with
    ``svd``, ``motion_svd_<roi>.nwb`` (the ndx-facemap-motionsvd layout in core NWB types). ``nwb_meta``
    (a YAML/TOML/JSON file, :func:`neurocine.io.nwbmeta.read_nwb_metadata`; implies ``nwb``) gives the
    session and subject; all the files share one start time and ``session_id``. pynwb missing or a bad
    metadata file fail before any frame is read.

    Returns
    -------
    JobResult
        The result folder (``summary``: its ``summary.json``); indexing reads ``out``, ``frames``,
        ``seconds`` (wall time of the pass), ``rois`` (names), ``truncated``, ``n_decoded``.
    """
    if first not in ("zero", "nan"):
        raise InputError(f"--first: got {first!r}, expected 'zero' or 'nan'")
    meta = None
    if nwb or nwb_meta is not None:
        from neurocine.io.nwbmeta import NWBMetadata, read_nwb_metadata, require_pynwb

        require_pynwb("--nwb")
        meta = (read_nwb_metadata(nwb_meta) if nwb_meta is not None else NWBMetadata()).for_job()
    params = {
        "video": str(video),
        "rois": None if rois is None else str(rois),
        "svd": svd,
        "bin": bin,
        "crop": crop,
        "first": first,
        "allow_truncated": allow_truncated,
        "nwb_meta": None if nwb_meta is None else str(nwb_meta),
    }
    t0 = time.perf_counter()
    result, reader = compute_motion(
        video,
        rois,
        n_svd=svd,
        bin=bin,
        crop=crop,
        first_value=0.0 if first == "zero" else float("nan"),
        allow_truncated=allow_truncated,
        chunk_size=chunk_size,
    )
    seconds = time.perf_counter() - t0
    n = len(result.motion_energy)
    with JobFolder(out, params, job="video motion") as res:
        res.timings["motion_seconds"] = seconds
        res.save_arrays(
            "motion.npz",
            motion_energy=result.motion_energy,
            svd_temporal=result.svd_temporal,
            svd_masks=result.svd_masks,
            svd_singular_values=result.svd_singular_values,
            timestamps=result.timestamps,
            roi_names=np.asarray(result.roi_names),
        )
        if meta is not None:
            from neurocine.io.imaging import export_motion_svd_nwb, write_features_nwb

            names = [f"motion_energy_{r}" for r in result.roi_names]
            write_features_nwb(
                res.path("motion.nwb"),
                result.motion_energy,
                names,
                timestamps=result.timestamps,
                description=f"motion energy of {video}",
                metadata=meta,
            )
            for j, roi in enumerate(result.roi_names if svd else []):
                export_motion_svd_nwb(
                    res.path(f"motion_svd_{roi}.nwb"),
                    result.svd_temporal[:, j],
                    result.svd_masks[j],
                    timestamps=result.timestamps,
                    name=f"MotionSVD_{roi}",
                    downsampling_factor=float(bin),
                    description=f"motion SVD of ROI {roi} of {video}",
                    metadata=meta,
                )
        if figures:
            from neurocine.plotting.video import plot_motion_traces, plot_svd_masks

            res.save_figure(
                "motion_energy.png",
                plot_motion_traces(result.motion_energy, result.timestamps, result.roi_names),
                caption="Motion energy of each region over time: the mean absolute change of its pixels from one "
                "frame to the next (grey levels). Bouts of movement show as peaks; a flat trace is a still region.",
            )
            if svd:
                res.save_figure(
                    "svd_masks.png",
                    plot_svd_masks(result.svd_masks, result.roi_names),
                    caption="Spatial masks of the motion SVD, one row per region, one column per component: "
                    "which pixels move together. The first component weighs the pixels that move most; later "
                    "ones contrast parts of the region that move at different times.",
                )
        shown = ", ".join(result.roi_names)
        res.headline(
            f"{n} frames processed at {n / seconds if seconds > 0 else float('nan'):.0f} frames/s; mean motion "
            "energy "
            + ", ".join(
                f"{r} {float(np.nanmean(result.motion_energy[:, j])):.2f}" for j, r in enumerate(result.roi_names)
            )
            + " (grey levels per frame).",
            ran=f"Motion energy{f' and a {svd}-component motion SVD' if svd else ''} of {Path(video).name} in "
            f"{shown}{f', frames binned {bin} x {bin}' if bin > 1 else ''}.",
            figure="svd_masks.png" if svd and figures else ("motion_energy.png" if figures else ""),
        )
        res.metrics.update(
            {
                "frames": n,
                "frames_per_second": n / seconds if seconds > 0 else None,
                "mean_motion_energy": {
                    r: float(np.nanmean(result.motion_energy[:, j])) for j, r in enumerate(result.roi_names)
                },
            }
        )
        res.extra["video"] = reader.metadata
    return JobResult(
        res.out,
        {
            "out": str(out),
            "frames": n,
            "seconds": seconds,
            "rois": result.roi_names,
            "truncated": reader.truncated,
            "n_decoded": reader.n_decoded,
        },
    )


def run_draw_rois(
    video: str | os.PathLike, rois: str | os.PathLike, out: str | os.PathLike, *, max_frames: int = 300
) -> JobResult:
    """``neurocine video rois``: draw the ROIs on the mean of the first frames, save a PNG.

    Returns
    -------
    JobResult
        ``out`` the image; indexing (and its ``summary``) reads ``out`` and ``rois`` (names).
    """
    out = Path(out)
    if out.suffix.lower() not in (".png", ".pdf", ".svg", ".jpg"):
        raise InputError(f"--out {out}: expected an image file name (.png, .pdf, .svg or .jpg)")
    reader = VideoReader(video)
    roi_list = load_rois(rois, reader)
    roi_masks(roi_list, reader.source_width, reader.source_height)  # same checks as the motion job
    mean = reader.mean_frame(max_frames)
    from neurocine.plotting.base import pyplot
    from neurocine.plotting.video import plot_rois

    n_mean = min(max_frames, reader.n_frames)
    fig = plot_rois(mean, roi_list, title=f"{reader.path.name}: ROIs on the mean of {n_mean} frames")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    os.replace(tmp, out)
    return JobResult(out, {"out": str(out), "rois": [r.name for r in roi_list]})
