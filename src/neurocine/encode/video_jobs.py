"""Video jobs: motion energy / motion SVD of ROIs, pupil and blinks of eye ROIs, and a picture of the ROIs.

``neurocine video motion``, ``neurocine video pupil`` and ``neurocine video rois`` call these; so does
``neurocine batch motion`` once per session.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from neurocine.errors import InputError
from neurocine.features.motion import MotionFeatures, MotionResult
from neurocine.features.pupil import PupilTracker
from neurocine.features.rois import ROI, full_frame_roi, roi_masks
from neurocine.io.results import JobResult
from neurocine.io.rois import read_roi_specs
from neurocine.io.video import VideoReader
from neurocine.report.html import JobFolder
from neurocine.runtime import progress
from neurocine.validation import check_int

__all__ = ["compute_motion", "pupil_arrays", "run_motion", "run_pupil", "run_draw_rois", "load_rois"]


def load_rois(rois: str | os.PathLike | list[ROI] | None, reader: VideoReader) -> list[ROI]:
    """ROIs from a file, a list, or (None) the one ROI ``full`` covering the source frame."""
    if rois is None:
        return [full_frame_roi(reader.source_width, reader.source_height)]
    if isinstance(rois, (str, os.PathLike)):
        roi_list = []
        for name, spec in read_roi_specs(rois):
            try:
                roi_list.append(
                    ROI(name, box=spec.get("box"), polygon=spec.get("polygon"), pupil=bool(spec.get("pupil", False)))
                )
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
    fps: float | None = None,
    timestamps: str | os.PathLike | None = None,
    series: str | None = None,
    axes: str | None = None,
    pupil_options: dict | None = None,
) -> tuple[MotionResult, VideoReader]:
    """Motion energy (and motion SVD when ``n_svd > 0``) of every ROI, and the pupil of every eye ROI
    (``pupil = true``), in one pass over the video.

    Parameters
    ----------
    video : path or VideoReader
        A video, frame array, image sequence (folder, ``%05d`` pattern, glob) or NWB file.
    rois : path to a TOML/JSON ROI file, list of ROI, or None (the full frame, named ``full``)
    n_svd : int
        Motion-SVD components per ROI.
    bin, crop, allow_truncated, chunk_size, fps, timestamps, series, axes
        Passed to :class:`~neurocine.io.video.VideoReader` (ignored when a reader is given).
    first_value : float
        Motion energy of frame 0 (0.0, or NaN).
    pupil_options : dict, optional
        Keyword arguments of :class:`~neurocine.features.pupil.PupilTracker` for the eye ROIs
        (``min_contrast``, ``blink_fraction``, ...).

    Returns
    -------
    (MotionResult, VideoReader)
        The features (``pupil``: name -> :class:`~neurocine.features.pupil.PupilResult`, in source pixels)
        and the reader (its ``metadata`` says how many frames decoded).

    Raises
    ------
    InputError
        Besides the reader's and the ROIs' errors: an eye ROI with no dark region (pupil) in any frame.
    """
    reader = (
        video
        if isinstance(video, VideoReader)
        else VideoReader(
            video,
            bin=bin,
            crop=crop,
            allow_truncated=allow_truncated,
            chunk_size=chunk_size,
            fps=fps,
            timestamps=timestamps,
            series=series,
            axes=axes,
        )
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
    x0, y0 = reader.crop[:2]
    trackers = {
        roi.name: PupilTracker(masks[j], scale=reader.bin, origin=(x0, y0), **(pupil_options or {}))
        for j, roi in enumerate(roi_list)
        if roi.pupil
    }
    total = -(-reader.n_frames // reader.chunk_size) if reader.n_frames else None
    # one BLAS thread: the decoder runs in parallel threads, and a multi-threaded BLAS competing
    # with it slows the motion-SVD merges down several-fold
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        for chunk in progress(reader.iter_chunks(), total=total, desc=f"motion {reader.path.name}"):
            features.update(chunk.frames, chunk.timestamps)
            for tracker in trackers.values():
                tracker.update(chunk.frames, chunk.timestamps)
        result = features.result()
    for name, tracker in trackers.items():
        pupil = tracker.result()
        if pupil.blink.all():
            raise InputError(
                f"{reader.name}: ROI '{name}' holds no dark region (pupil) in any of its {len(pupil.blink)} frames "
                f"(largest contrast {float(pupil.contrast.max()):.2f}, at least "
                f"{tracker.min_contrast:g} needed); expected the ROI box around the eye's pupil"
            )
        result.pupil[name] = pupil
    return result, reader


def pupil_arrays(result: MotionResult) -> dict[str, np.ndarray]:
    """The pupil arrays of a result's eye ROIs, ROIs stacked on axis 1, as ``motion.npz`` stores them.

    ``pupil_diameter`` (T, n) and ``pupil_area`` (T, n) in source pixels and pixels², ``pupil_center``
    (T, n, 2) ``(x, y)``, all NaN on blink frames; ``blink`` (T, n) bool; ``pupil_roi_names`` (n,).
    Empty dict without eye ROIs.
    """
    if not result.pupil:
        return {}
    values = list(result.pupil.values())
    return {
        "pupil_diameter": np.stack([p.diameter for p in values], 1),
        "pupil_area": np.stack([p.area for p in values], 1),
        "pupil_center": np.stack([p.center for p in values], 1),
        "blink": np.stack([p.blink for p in values], 1),
        "pupil_roi_names": np.asarray(list(result.pupil)),
    }


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
    fps: float | None = None,
    timestamps: str | os.PathLike | None = None,
    series: str | None = None,
    axes: str | None = None,
) -> JobResult:
    """``neurocine video motion``: write ``OUT/motion.npz``, figures and ``summary.json``.

    ``motion.npz`` keys: ``motion_energy`` (T, n_rois), ``svd_temporal`` (T, n_rois, k),
    ``svd_masks`` (n_rois, k, H, W), ``svd_singular_values`` (n_rois, k), ``timestamps`` (T,) s,
    ``roi_names`` (n_rois,); with eye ROIs (``pupil = true`` in the ROI file) also the arrays of
    :func:`pupil_arrays`. With ``nwb=True`` also ``motion.nwb`` (a BehavioralTimeSeries: motion energy,
    and pupil diameter, area, centre and blink of eye ROIs, blink frames interpolated) and, with
    ``svd``, ``motion_svd_<roi>.nwb`` (the ndx-facemap-motionsvd layout in core NWB types). ``nwb_meta``
    (a YAML/TOML/JSON file, :func:`neurocine.io.nwbmeta.read_nwb_metadata`; implies ``nwb``) gives the
    session and subject; all the files share one start time and ``session_id``. pynwb missing or a bad
    metadata file fail before any frame is read.

    ``video`` is a video file, frame array, image sequence (folder, ``%05d`` pattern or glob; ``fps`` or
    ``timestamps`` give its clock) or NWB file (``series`` names its ImageSeries); ``axes`` is a frame
    array's stored axis order (``"YXT"``; see :func:`~neurocine.io.imaging.open_stack`).

    Returns
    -------
    JobResult
        The result folder (``summary``: its ``summary.json``); indexing reads ``out``, ``frames``,
        ``seconds`` (wall time of the pass), ``rois`` (names), ``truncated``, ``n_decoded``.
    """
    if first not in ("zero", "nan"):
        raise InputError(f"--first: got {first!r}, expected 'zero' or 'nan'")
    meta = nwb_metadata(nwb, nwb_meta)
    params = {
        "video": str(video),
        "rois": None if rois is None else str(rois),
        "svd": svd,
        "bin": bin,
        "crop": crop,
        "first": first,
        "allow_truncated": allow_truncated,
        "fps": fps,
        "timestamps": None if timestamps is None else str(timestamps),
        "series": series,
        "axes": axes,
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
        fps=fps,
        timestamps=timestamps,
        series=series,
        axes=axes,
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
            **pupil_arrays(result),
        )
        if meta is not None:
            from neurocine.io.imaging import export_motion_svd_nwb, write_features_nwb

            names = [f"motion_energy_{r}" for r in result.roi_names]
            columns = [result.motion_energy]
            for roi, pupil in result.pupil.items():
                names += [f"pupil_{what}_{roi}" for what in ("diameter", "area", "x", "y")] + [f"blink_{roi}"]
                columns.append(_pupil_columns(pupil))
            write_features_nwb(
                res.path("motion.nwb"),
                np.concatenate(columns, axis=1),
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
            from neurocine.plotting.video import plot_motion_traces, plot_pupil, plot_svd_masks

            if result.pupil:
                arrays = pupil_arrays(result)
                res.save_figure(
                    "pupil.png",
                    plot_pupil(arrays["pupil_diameter"], arrays["blink"], result.timestamps, list(result.pupil)),
                    caption=PUPIL_CAPTION,
                )

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
        res.metrics.update(_pupil_metrics(result))
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


PUPIL_CAPTION = (
    "Pupil diameter of each eye region over time (pixels of the source frame: the diameter of the circle with "
    "the area of the ellipse fitted to the dark pupil). Shaded: blinks, frames where the eye is closed, the "
    "pupil is lost or a lid covers most of it; the diameter is not measured there."
)


def _pupil_columns(pupil) -> np.ndarray:
    """(T, 5) diameter, area, x, y (blink frames interpolated) and blink (0/1), for NWB and designs."""
    from neurocine.features.pupil import fill_blinks

    values = np.column_stack([pupil.diameter, pupil.area, pupil.center])
    return np.column_stack([fill_blinks(values, pupil.blink), pupil.blink.astype(np.float64)])


def _pupil_metrics(result: MotionResult) -> dict:
    out: dict = {}
    for roi, pupil in result.pupil.items():
        onsets = int(np.sum(np.diff(np.concatenate([[0], pupil.blink.astype(int)])) == 1))
        out[f"pupil_{roi}"] = {
            "median_diameter_px": float(np.nanmedian(pupil.diameter)) if (~pupil.blink).any() else None,
            "blink_frames": int(pupil.blink.sum()),
            "blinks": onsets,
            "blink_fraction": float(pupil.blink.mean()),
        }
    return out


def nwb_metadata(nwb: bool, nwb_meta: str | os.PathLike | None):
    """The session and subject of a job's NWB files, or None when it writes none.

    ``nwb_meta`` (a YAML/TOML/JSON file, :func:`neurocine.io.nwbmeta.read_nwb_metadata`) implies ``nwb``.
    Checked before any work: pynwb missing or a bad metadata file raise :class:`InputError`.
    """
    if not nwb and nwb_meta is None:
        return None
    from neurocine.io.nwbmeta import NWBMetadata, read_nwb_metadata, require_pynwb

    require_pynwb("--nwb")
    return (read_nwb_metadata(nwb_meta) if nwb_meta is not None else NWBMetadata()).for_job()


def run_pupil(
    video: str | os.PathLike,
    out: str | os.PathLike,
    *,
    roi,
    fps: float | None = None,
    timestamps: str | os.PathLike | None = None,
    series: str | None = None,
    min_contrast: float = 0.2,
    blink_fraction: float = 0.5,
    allow_truncated: bool = False,
    nwb: bool = False,
    nwb_meta: str | os.PathLike | None = None,
    figures: bool = True,
) -> JobResult:
    """``neurocine video pupil``: pupil diameter, area, centre and blinks of one eye ROI.

    Writes ``OUT/pupil.npz``: ``pupil_diameter`` (T,) and ``pupil_area`` (T,) in source pixels and
    pixels², ``pupil_center`` (T, 2) ``(x, y)`` source pixels, all NaN on blink frames; ``blink`` (T,)
    bool; ``motion_energy`` (T,) of the ROI; ``timestamps`` (T,) s. Also ``pupil.png``, ``summary.json``
    and ``report.html``; with ``nwb=True`` ``pupil.nwb`` (blink frames interpolated, ``blink`` as 0/1),
    its session and subject from ``nwb_meta`` (see :func:`nwb_metadata`). The science is :class:`neurocine.features.pupil.PupilTracker`.

    Parameters
    ----------
    video : path
        Video file, frame array, image sequence (folder, ``%05d`` pattern, glob) or NWB file.
    out : path
        Result folder.
    roi : (x0, y0, x1, y1)
        The eye box in source pixels, end exclusive.
    fps, timestamps, series
        The clock of an image sequence or array; the ImageSeries of an NWB file.
    min_contrast, blink_fraction : float
        See :class:`~neurocine.features.pupil.PupilTracker`.

    Returns
    -------
    JobResult
        Indexing reads ``out``, ``frames``, ``seconds``, ``blinks`` (blink onsets), ``blink_frames``,
        ``median_diameter``.

    Raises
    ------
    InputError
        A ROI outside the frame, no dark region (pupil) in the ROI, and the reader's errors; nothing is written.
    """
    try:
        box = tuple(int(v) for v in roi)
    except (TypeError, ValueError):
        box = ()
    if len(box) != 4:
        raise InputError(f"--roi: got {roi!r}; expected x0,y0,x1,y1 (four integers, end exclusive)")
    meta = nwb_metadata(nwb, nwb_meta)
    eye = ROI("eye", box=box, pupil=True)
    params = {
        "video": str(video),
        "roi": list(box),
        "fps": fps,
        "timestamps": None if timestamps is None else str(timestamps),
        "series": series,
        "min_contrast": min_contrast,
        "blink_fraction": blink_fraction,
        "allow_truncated": allow_truncated,
        "nwb_meta": None if nwb_meta is None else str(nwb_meta),
    }
    t0 = time.perf_counter()
    result, reader = compute_motion(
        video,
        [eye],
        allow_truncated=allow_truncated,
        fps=fps,
        timestamps=timestamps,
        series=series,
        pupil_options={"min_contrast": min_contrast, "blink_fraction": blink_fraction},
    )
    seconds = time.perf_counter() - t0
    pupil = result.pupil["eye"]
    n = len(pupil.blink)
    metrics = _pupil_metrics(result)["pupil_eye"]
    with JobFolder(out, params, job="video pupil") as res:
        res.timings["pupil_seconds"] = seconds
        res.save_arrays(
            "pupil.npz",
            pupil_diameter=pupil.diameter,
            pupil_area=pupil.area,
            pupil_center=pupil.center,
            blink=pupil.blink,
            motion_energy=result.motion_energy[:, 0],
            timestamps=pupil.timestamps,
        )
        if meta is not None:
            from neurocine.io.imaging import write_features_nwb

            write_features_nwb(
                res.path("pupil.nwb"),
                _pupil_columns(pupil),
                ["pupil_diameter", "pupil_area", "pupil_x", "pupil_y", "blink"],
                timestamps=pupil.timestamps,
                unit="pixels",
                description=f"pupil of ROI {list(box)} of {video} (blink frames interpolated; blink 0/1)",
                metadata=meta,
            )
        if figures:
            from neurocine.plotting.video import plot_pupil

            res.save_figure(
                "pupil.png", plot_pupil(pupil.diameter, pupil.blink, pupil.timestamps, ["eye"]), caption=PUPIL_CAPTION
            )
        median = metrics["median_diameter_px"]
        res.headline(
            f"Median pupil diameter {median:.1f} pixels; {metrics['blinks']} blinks ({metrics['blink_frames']} of "
            f"{n} frames).",
            ran=f"Pupil and blinks of {Path(str(video)).name} in the box {list(box)} ({n} frames).",
            figure="pupil.png" if figures else "",
        )
        res.metrics.update({"frames": n, "frames_per_second": n / seconds if seconds > 0 else None, **metrics})
        res.extra["video"] = reader.metadata
    return JobResult(
        res.out,
        {
            "out": str(out),
            "frames": n,
            "seconds": seconds,
            "blinks": metrics["blinks"],
            "blink_frames": metrics["blink_frames"],
            "median_diameter": median,
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
