"""Every ``neurocine`` command as one Python call: ``neurocine GROUP COMMAND`` is ``jobs.GROUP_COMMAND``.

Each job reads its input, computes, writes its output (a result folder with ``summary.json`` and
``report.html``, or for the simulators a data file or folder) and returns a
:class:`~neurocine.io.results.JobResult`: ``.out``, ``.summary`` (``summary.json`` parsed), ``.report``,
``.metrics``; indexing it reads the job's return values. The CLI is a thin layer over these calls: it
turns option text into Python values and prints from the result. Jobs are loaded on first use, so
``import neurocine.jobs`` stays light.

Options have the same names as the command's, with ``-`` as ``_``; comma-separated lists are Python
lists. Where a Python name differs from the option it is listed here:

================================  ===============================================================
command                           call
================================  ===============================================================
``motifs simulate``               ``motifs_simulate(out, seed=7, timesteps=600, ...)``
``motifs fit INPUT``              ``motifs_fit(input_path, out, components=, width=, ...)``
``motifs select INPUT``           ``motifs_select(input_path, out, components="1-8", width=, ...)``
``motifs sort INPUT``             ``motifs_sort(input_path, out, dtype="int16", channels=4, fs=15000, ...)``
``screenome bin LOG``             ``screenome_bin(log_path, out, bin="5s", ...)``
``screenome simulate``            ``screenome_simulate(out_csv, n_apps=10, n_states=3, ...)``
``video motion VIDEO``            ``video_motion(video, out, crop=[x0, y0, x1, y1], ...)``
``video pupil VIDEO``             ``video_pupil(video, out, roi=[x0, y0, x1, y1], ...)``
``video rois VIDEO ROIS``         ``video_rois(video, rois, out)``
``imaging dff STACK``             ``imaging_dff(stack_path, out, window=30, ...)``
``batch motion SESSIONS``         ``batch_motion(sessions, out, n_workers=None, ...)``
``batch encode SESSIONS``         ``batch_encode(sessions, out, n_workers=None, processes=True, ...)``
``encode [fit] CONFIG``           ``encode_fit(config, out)``
``encode framerates CONFIG...``   ``encode_framerates(configs, out, sequence=True)`` (``--lstm``)
``encode simulate``               ``encode_simulate(out, duration_s=240.0, widefield_size=(64, 64), ...)``
``v1 simulate``                   ``v1_simulate(out, n_neurons=, n_train=, n_test=, test_repeats=, easy=,
                                  n_frames=, ...)``
``v1 train DATA``                 ``v1_train(data, out, core_channels=, n_blocks=, ...)``
``v1 reconstruct DATA``           ``v1_reconstruct(data, models, out, trials=[...], ...)``
``v1 suite KIND DATA``            ``v1_suite(kind, data, models, out, noise_lengths=,
                                  phase_inverted=True, spatial_frequencies=,
                                  temporal_frequencies=, n_frames=, ...)``
``fmri simulate``                 ``fmri_simulate(out, n_voxels=2000, easy=False, ...)``; ``--small`` is
                                  ``**neurocine.fmri.simulate.SMALL_SIMULATION``
``fmri encode DATA``              ``fmri_encode(data, out, features="efficientnet", ...)``
``fmri decode DATA``              ``fmri_decode(data, out, layer="embedding", ...)``
``fmri pretrain DATA``            ``fmri_pretrain(data, out, diffusion=None, ...)``
``fmri reconstruct DATA``         ``fmri_reconstruct(data, out, layers=None, steps=100, ...)``
``report DIR...``                 ``report(folders, out=None, title=None)``
``demo``                          ``demo(out, quick=False, only=None)``
================================  ===============================================================

Examples
--------
>>> import neurocine as nc
>>> sim = nc.jobs.motifs_simulate("sim.npz")  # doctest: +SKIP
>>> fit = nc.jobs.motifs_fit("sim.npz", "fit", components=4, width=10)  # doctest: +SKIP
>>> fit.metrics["r2"], fit.report  # doctest: +SKIP
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from neurocine._lazy import lazy_exports
from neurocine.io.results import JobResult

_EXPORTS = {
    "motifs_simulate": "neurocine.motifs.jobs:run_simulate",
    "motifs_fit": "neurocine.motifs.jobs:run_fit",
    "motifs_select": "neurocine.motifs.jobs:run_select",
    "motifs_sort": "neurocine.motifs.sort_jobs:run_sort",
    "screenome_bin": "neurocine.motifs.screenome.jobs:run_screenome_bin",
    "screenome_simulate": "neurocine.motifs.screenome.jobs:run_screenome_simulate",
    "video_motion": "neurocine.encode.video_jobs:run_motion",
    "video_pupil": "neurocine.encode.video_jobs:run_pupil",
    "video_rois": "neurocine.encode.video_jobs:run_draw_rois",
    "imaging_dff": "neurocine.encode.imaging_jobs:run_dff",
    "batch_motion": "neurocine.encode.batch_jobs:run_batch_motion",
    "batch_encode": "neurocine.encode.batch_jobs:run_batch_encode",
    "encode_fit": "neurocine.encode.jobs:run_encode",
    "encode_framerates": "neurocine.encode.jobs:run_framerates",
    "encode_simulate": "neurocine.encode.jobs:write_simulated_session",
    "v1_simulate": "neurocine.v1.jobs:run_simulate",
    "v1_train": "neurocine.v1.jobs:run_train",
    "v1_reconstruct": "neurocine.v1.jobs:run_reconstruct",
    "v1_suite": "neurocine.v1.jobs:run_suite",
    "fmri_simulate": "neurocine.fmri.jobs:run_fmri_simulate",
    "fmri_encode": "neurocine.fmri.jobs:run_fmri_encode",
    "fmri_decode": "neurocine.fmri.jobs:run_fmri_decode",
    "fmri_pretrain": "neurocine.fmri.jobs:run_fmri_pretrain",
    "fmri_reconstruct": "neurocine.fmri.jobs:run_fmri_reconstruct",
    "demo": "neurocine.demo:run_demo",
}

__all__ = sorted([*_EXPORTS, "report"])


def report(
    folders: Iterable[str | os.PathLike], *, out: str | os.PathLike | None = None, title: str | None = None
) -> list[JobResult]:
    """``neurocine report``: rebuild each folder's ``report.html``, or merge the folders into one page.

    Parameters
    ----------
    folders : iterable of paths
        Result folders, each with a ``summary.json``.
    out : path, optional
        An ``.html`` file: one page showing every folder (default: rebuild ``DIR/report.html`` in each).
    title : str, optional
        Page title.

    Returns
    -------
    list of JobResult
        One per folder, in order; its ``report`` is the page showing it (its own or ``out``).

    Examples
    --------
    Two result folders (as ``motifs fit`` writes them, here with one number each), then one page showing
    both, and each folder's own page rebuilt:

    >>> import tempfile, pathlib
    >>> from neurocine.io.results import ResultFolder
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for k, r2 in [(2, 0.7), (3, 0.8)]:
    ...     with ResultFolder(root / f"fit_k{k}", {"components": k}, job="motifs fit") as res:
    ...         res.metrics["r2"] = r2
    >>> pages = report([root / "fit_k2", root / "fit_k3"], out=root / "both.html")
    >>> [page.report.name for page in pages], [page.metrics["r2"] for page in pages]
    (['both.html', 'both.html'], [0.7, 0.8])
    >>> [page.report.relative_to(root).as_posix() for page in report([root / "fit_k2", root / "fit_k3"])]
    ['fit_k2/report.html', 'fit_k3/report.html']
    """
    from neurocine.report.html import merge_reports, write_report

    folders = [os.fspath(f) for f in folders]
    if out is not None:
        page = merge_reports(folders, out, title=title)
        return [JobResult(f, report=page) for f in folders]
    return [JobResult(f, report=write_report(f, title=title)) for f in folders]


__getattr__, __dir__ = lazy_exports(globals(), _EXPORTS)
