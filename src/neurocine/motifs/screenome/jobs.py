"""Screenome jobs: bin an event log into a (T, N) usage matrix; simulate a log with ground truth.

``binned.npz`` (key ``data``, time-first, float32) and ``<log>.truth.npz``
are valid inputs of ``neurocine motifs fit``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from neurocine.errors import InputError
from neurocine.io.results import JobResult
from neurocine.io.screenome import read_screenome_log, write_screenome_log
from neurocine.motifs.screenome.binning import bin_events, parse_duration
from neurocine.motifs.screenome.simulate import simulate_screenome_log
from neurocine.report.html import JobFolder

__all__ = ["run_screenome_bin", "run_screenome_simulate", "truth_path"]


def run_screenome_bin(
    log_path: str | os.PathLike,
    out: str | os.PathLike,
    bin: str | float = "5s",
    top: int | None = None,
    channel: str = "app",
    participant: str | None = None,
    max_gap: float | str = 5.0,
    quiet: bool = False,
) -> JobResult:
    """Read a screenome log, bin it, and write a result folder.

    Parameters
    ----------
    log_path : path
        CSV log (see :mod:`neurocine.io.screenome`).
    out : path
        Result folder: ``binned.npz``, ``summary.json``, ``usage.png``.
    bin : str or float
        Bin width, e.g. ``"5s"``, ``"1min"``, ``"500ms"`` or seconds.
    top : int, optional
        Keep the ``top`` most-used channels and merge the rest into ``other``.
    channel : {"app", "category"}
        Which column names the channels (see :func:`~neurocine.io.screenome.read_screenome_log`).
    participant : str, optional
        Keep only this participant's events. Without it, events of all
        participants are summed into one matrix.
    max_gap : float or str
        Seconds (or a duration string); longest duration given to a row of a
        log without a ``duration`` column.
    quiet : bool
        Accepted for symmetry with the other jobs (this job has no progress bar).

    Returns
    -------
    JobResult
        The result folder; its ``summary`` (``summary.json``, which indexing reads too) has ``metrics``
        ``n_events``,
        ``n_bins``, ``n_channels``, ``total_seconds``, ``n_participants``,
        ``warnings``.

    ``binned.npz`` keys: ``data`` (T, N) float32 seconds of use, ``channels``
    (N,) names, ``bin_starts`` (T,) seconds (epoch seconds for ISO logs),
    ``bin_seconds`` scalar, ``sampling_rate`` (1 / bin_seconds, Hz) and
    ``timestamps`` (= ``bin_starts``) as :func:`neurocine.io.signals.read_signal_matrix`
    reads them, and for ISO logs ``bin_starts_iso`` (T,) strings.
    """
    bin_seconds = parse_duration(bin, name="--bin")
    max_gap_s = parse_duration(max_gap, name="--max-gap")
    if top is not None and (isinstance(top, bool) or not isinstance(top, (int, np.integer)) or top < 1):
        raise InputError(f"--top: got {top!r}, expected an integer >= 1")
    params = {
        "log": str(log_path),
        "bin": str(bin),
        "bin_seconds": bin_seconds,
        "top": top,
        "channel": channel,
        "participant": participant,
        "max_gap": max_gap_s,
    }
    log = read_screenome_log(log_path, channel=channel, participant=participant, max_gap=max_gap_s)
    with JobFolder(out, params, job="screenome bin") as res:
        with res.timer("binning"):
            binned = bin_events(
                log.start, log.duration, log.channel, bin_seconds, channel_names=log.channels, top_n=top
            )
        data = binned.data
        arrays = {
            "data": data.astype(np.float32),
            "channels": np.asarray(binned.channels, dtype=str),
            "bin_starts": binned.bin_starts,
            "bin_seconds": np.float64(bin_seconds),
            "sampling_rate": np.float64(1.0 / bin_seconds),
            "timestamps": binned.bin_starts,
        }
        if log.time_kind != "numeric":
            arrays["bin_starts_iso"] = np.asarray(log.to_iso(binned.bin_starts), dtype=str)
        res.save_arrays("binned.npz", **arrays)
        res.metrics.update(
            {
                "n_events": log.n_events,
                "n_participants": len(log.participants),
                "n_bins": int(data.shape[0]),
                "n_channels": int(data.shape[1]),
                "channels": list(binned.channels),
                "channel_column": log.channel_column,
                "time_kind": log.time_kind,
                "duration_inferred": log.duration_inferred,
                "total_seconds": float(data.sum()),
                "seconds_per_channel": {n: float(s) for n, s in zip(binned.channels, data.sum(axis=0))},
                "first_bin_start": float(binned.bin_starts[0]),
                "warnings": list(log.warnings),
            }
        )
        from neurocine.motifs.screenome.plotting import plot_usage

        with res.timer("plot"):
            fig = plot_usage(
                data,
                binned.channels,
                binned.bin_starts,
                bin_seconds,
                title=f"{Path(log_path).name}: seconds of {log.channel_column} use per bin",
                start_label=log.to_iso(binned.bin_starts[:1])[0],
                channel_label=log.channel_column,
            )
            res.save_figure(
                "usage.png",
                fig,
                caption=f"Seconds of use of each {log.channel_column} (rows) in each time bin (columns). "
                "Look for the apps used together and for recurring stretches of use: the motifs a Conv-NMF fit "
                "of this matrix looks for.",
            )
        res.headline(
            f"{log.n_events} events binned into {data.shape[0]} bins of {bin_seconds:g} s x {data.shape[1]} "
            f"{log.channel_column}s ({float(data.sum()) / 3600:.1f} h of use in all).",
            ran=f"The log {Path(log_path).name} binned into seconds of use per {log.channel_column} per bin.",
            figure="usage.png",
        )
    return JobResult(out)


def truth_path(out_csv: str | os.PathLike) -> Path:
    """``LOG.csv`` -> ``LOG.truth.npz`` (next to the log)."""
    p = Path(out_csv)
    stem = p.name[: -len(p.suffix)] if p.suffix.lower() == ".csv" else p.name
    return p.with_name(stem + ".truth.npz")


def run_screenome_simulate(
    out_csv: str | os.PathLike,
    seed: int | None = 0,
    n_apps: int = 10,
    n_states: int = 3,
    hours: float = 10.0,
    bin: str | float = "60s",
    quiet: bool = False,
    **options,
) -> JobResult:
    """Simulate a screenome log; write ``out_csv`` and ``<name>.truth.npz`` next to it.

    Parameters
    ----------
    out_csv : path
        The CSV log to write.
    seed, n_apps, n_states, hours
        See :func:`~neurocine.motifs.screenome.simulate.simulate_screenome_log`.
    bin : str or float
        Bin width of the simulation (``"60s"``, ``"1min"``, seconds...).
    quiet : bool
        Accepted for symmetry with the other jobs.
    **options
        Further keyword arguments of ``simulate_screenome_log`` (``template_bins``,
        ``onsets_per_hour``, ``participant``, ``start``...).

    Returns
    -------
    JobResult
        ``out`` the log; indexing (and its ``summary``: no ``summary.json``, no report) reads ``log``,
        ``truth`` (paths), ``n_events``, ``n_bins``, ``n_apps``, ``n_states``, ``n_onsets``,
        ``total_seconds``, ``bin_seconds``, ``seed``.

    The truth file holds ``data`` (T, N) float32 seconds (what binning the
    log returns; ready for ``neurocine motifs fit``), ``model``,
    ``background`` (T, N), ``templates`` (K, N, D), ``amplitudes`` (T, K),
    ``channels`` (N,), ``bin_starts`` (T,), ``bin_seconds``, ``sampling_rate``
    (Hz), ``timestamps`` (= ``bin_starts``).
    """
    bin_seconds = parse_duration(bin, name="--bin")
    rows, truth = simulate_screenome_log(
        seed=seed, n_apps=n_apps, n_states=n_states, hours=hours, bin_seconds=bin_seconds, **options
    )
    out_csv = Path(out_csv)
    if out_csv.exists() and out_csv.is_dir():
        raise InputError(f"--out {out_csv}: is a folder; expected a CSV file path")
    tpath = truth_path(out_csv)
    write_screenome_log(out_csv, rows, columns=["timestamp", "app", "duration", "participant"])
    tmp = tpath.with_name(f".{tpath.name}.tmp-{os.getpid()}.npz")
    try:
        np.savez_compressed(tmp, **truth.arrays())
        os.replace(tmp, tpath)
    except OSError as exc:
        raise InputError(f"--out {tpath}: writing failed ({exc.strerror}); expected a writable path") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    info = {
        "log": str(out_csv),
        "truth": str(tpath),
        "n_events": len(rows),
        "n_bins": int(truth.data.shape[0]),
        "n_apps": int(truth.data.shape[1]),
        "n_states": int(truth.templates.shape[0]),
        "n_onsets": int((truth.amplitudes > 0).sum()),
        "total_seconds": float(truth.data.sum()),
        "bin_seconds": truth.bin_seconds,
        "seed": seed,
    }
    return JobResult(out_csv, info)
