"""Widefield job: a raw imaging movie -> binned, blurred dF/F written to disk chunk by chunk.

``neurocine imaging dff STACK --out DIR`` calls :func:`run_dff`.
"""

from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np

from neurocine.errors import InputError
from neurocine.features.widefield import brain_mask, check_window, gaussian_blur, mean_frame, preprocess_widefield
from neurocine.io.imaging import open_stack
from neurocine.io.results import JobResult
from neurocine.report.html import JobFolder

__all__ = ["run_dff", "widefield_mask"]


def widefield_mask(
    mask: str | os.PathLike | None, stack, bin: int, blur: float | None, chunk_size: int = 256, *, label: str = "--mask"
):
    """None, an Otsu mask of the preprocessed mean frame, or a boolean .npy file (binned coordinates).

    ``label`` names the option in error messages (``--mask``, ``[neural] mask``).
    """
    if mask is None or str(mask) == "none":
        return None
    if str(mask) == "otsu":
        mean = mean_frame(stack, chunk_size=chunk_size)[None]
        from neurocine.arrays import block_mean

        mean = block_mean(mean, bin) if bin > 1 else mean
        if blur:
            mean = gaussian_blur(mean, blur)
        return brain_mask(np.asarray(mean)[0])
    path = Path(mask)
    if path.suffix != ".npy" or not path.exists():
        raise InputError(f"{label} {mask}: expected 'none', 'otsu' or an existing boolean .npy file")
    arr = np.load(path)
    if arr.dtype != bool:
        raise InputError(f"{label} {mask}: has dtype {arr.dtype}; expected a boolean (H, W) array")
    hb, wb = stack.shape[1] // bin, stack.shape[2] // bin
    if arr.shape != (hb, wb):
        raise InputError(f"{label} {mask}: has shape {arr.shape}; expected ({hb}, {wb}), the binned frame")
    return arr


def run_dff(
    stack_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    window: int = 30,
    blur: float | None = 1.0,
    bin: int = 2,
    mode: str = "sliding",
    mask: str | None = None,
    key: str | None = None,
    series: str | None = None,
    axes: str | None = None,
    plane: int | None = None,
    channel: int | None = None,
    chunk_size: int = 256,
    figures: bool = True,
) -> JobResult:
    """``neurocine imaging dff``: write ``OUT/dff.npy`` (T, H/bin, W/bin) float32, figures, summary.json.

    The movie is read, binned, blurred and turned into dF/F one chunk at a time
    (:func:`neurocine.features.widefield.preprocess_widefield`) and written into a
    memory-mapped ``.npy``, so a movie larger than memory works. ``mask`` is
    ``None``/"none", ``"otsu"`` (a brain mask of the preprocessed mean frame) or a
    boolean ``.npy`` in binned coordinates; outside it dF/F is NaN (``mask.npy`` is saved).
    ``axes``, ``plane`` and ``channel`` say how the stack is stored
    (:func:`neurocine.io.imaging.open_stack`: ``"YXT"``, ``"TZYXC"`` with a plane and channel).

    Returns
    -------
    JobResult
        The result folder (``summary``: its ``summary.json``); indexing reads ``out``, ``frames``,
        ``shape`` (of ``dff.npy``) and ``seconds`` (wall time of the dF/F pass).
    """
    params = {
        "stack": str(stack_path),
        "window": window,
        "blur": blur,
        "bin": bin,
        "mode": mode,
        "mask": mask,
        "key": key,
        "series": series,
        "axes": axes,
        "plane": plane,
        "channel": channel,
    }
    with open_stack(stack_path, key=key, series=series, axes=axes, plane=plane, channel=channel) as stack:
        t_len, h, w = stack.shape[:3]
        if len(stack.shape) != 3:
            raise InputError(f"{stack_path}: has shape {stack.shape}; expected a (T, H, W) movie")
        check_window(window, t_len)  # before any work
        mask_arr = widefield_mask(mask, stack, bin, blur, chunk_size)
        with JobFolder(out, params, job="imaging dff") as res:
            t0 = time.perf_counter()
            dest = np.lib.format.open_memmap(
                res.path("dff.npy"), mode="w+", dtype=np.float32, shape=(t_len, h // bin, w // bin)
            )
            preprocess_widefield(
                stack, window, blur=blur or None, bin=bin, mask=mask_arr, mode=mode, chunk_size=chunk_size, out=dest
            )
            dest.flush()
            seconds = time.perf_counter() - t0
            res.timings["dff_seconds"] = seconds
            if mask_arr is not None:
                np.save(res.path("mask.npy"), mask_arr)
            with warnings.catch_warnings():  # all-NaN pixels outside the mask
                warnings.simplefilter("ignore", RuntimeWarning)
                std_map = np.nanstd(dest[:: max(1, t_len // 2000)], axis=0)
            if figures:
                from neurocine.plotting.imaging import plot_dff_summary

                res.save_figure(
                    "dff.png",
                    plot_dff_summary(dest, std_map, mask_arr),
                    caption="The standard deviation of ΔF/F at each pixel (where activity varies), then ΔF/F in "
                    "four frames spread over the movie. Activity should vary inside the brain; stripes or bright "
                    "edges point to motion or a bad baseline.",
                )
            res.headline(
                f"ΔF/F of {t_len} frames of {h // bin} x {w // bin} pixels; median standard deviation of ΔF/F "
                f"{float(np.nanmedian(std_map)):.3g}.",
                ran=f"ΔF/F of {Path(stack_path).name} against "
                + (f"a running baseline of {window} frames" if mode == "sliding" else f"a baseline per {mode}")
                + (f", binned {bin} x {bin}" if bin > 1 else "")
                + ".",
                figure="dff.png" if figures else "",
            )
            res.metrics.update(
                {
                    "frames": t_len,
                    "shape": [t_len, h // bin, w // bin],
                    "frames_per_second": t_len / seconds if seconds > 0 else None,
                    "median_dff_std": float(np.nanmedian(std_map)),
                }
            )
            res.extra["stack"] = {"path": str(stack_path), "shape": [t_len, h, w], "rate": stack.rate}
            del dest
    return JobResult(out, {"out": str(out), "frames": t_len, "shape": [t_len, h // bin, w // bin], "seconds": seconds})
