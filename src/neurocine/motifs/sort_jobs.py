"""The spike-sorting job: ``neurocine motifs sort`` (``nc.jobs.motifs_sort``).

Reads an extracellular recording (raw binary, npy, npz, csv, NWB ``ElectricalSeries``), band-passes and
whitens it (:func:`neurocine.features.extracellular.preprocess_extracellular`), sorts its spikes
(:func:`neurocine.motifs.sorting.sort_spikes`) and writes one result folder: the spike trains, the unit
waveforms, a quality table per unit, figures, a report and a phy folder.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from neurocine.errors import InputError
from neurocine.io.results import JobResult
from neurocine.io.signals import RAW_EXTENSIONS, SignalMatrix, check_rate, read_raw_binary, read_signal_matrix
from neurocine.report.html import JobFolder

#: Seconds of filtered data shown with the spikes marked.
TRACE_SECONDS = 0.2


def read_recording(
    path: str | os.PathLike,
    *,
    dtype: str | None = None,
    channels: int | None = None,
    fs: float | None = None,
    series: str | None = None,
) -> SignalMatrix:
    """An extracellular recording from a raw binary file (``.raw``/``.bin``/``.dat``) or any signal file.

    Raw files need ``dtype`` and ``channels`` (interleaved); other files are read by
    :func:`neurocine.io.signals.read_signal_matrix` (``series`` picks an NWB ``ElectricalSeries``).
    The sampling rate is ``fs`` or the file's own; one of them must exist.

    Raises
    ------
    InputError
        Naming the file: a raw file without ``dtype``/``channels`` or of the wrong size, ``dtype`` or
        ``channels`` given for another format, no sampling rate.
    """
    p = Path(path)
    if p.suffix.lower() in RAW_EXTENSIONS:
        if dtype is None or channels is None:
            raise InputError(
                f"{path}: a raw binary file needs --dtype and --channels; expected e.g. --dtype int16 --channels 4"
            )
        signal = read_raw_binary(p, dtype=dtype, n_channels=channels, sampling_rate=fs)
    else:
        if dtype is not None or channels is not None:
            raise InputError(
                f"{path}: --dtype and --channels describe raw binary files ({', '.join(RAW_EXTENSIONS)}); "
                f"expected neither for a {p.suffix or 'extensionless'} file"
            )
        signal = read_signal_matrix(p, series=series, dtype=np.float64, sampling_rate=fs)
    if signal.sampling_rate is None:
        raise InputError(f"{path}: no sampling rate in the file; expected --fs (Hz)")
    signal.sampling_rate = check_rate(signal.sampling_rate, str(path))
    return signal


def run_sort(
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dtype: str | None = None,
    channels: int | None = None,
    fs: float | None = None,
    series: str | None = None,
    components: int = 12,
    width_ms: float = 2.0,
    rank: int = 2,
    threshold: float = 5.0,
    max_units: int = 15,
    band_low: float = 300.0,
    band_high: float = 5000.0,
    seed: int | None = 0,
    device: str = "cpu",
) -> JobResult:
    """Sort the spikes of an extracellular recording and write the result folder.

    Steps: the median of each channel (the ADC offset) is removed, the channels are band-passed
    (``band_low``-``band_high`` Hz, zero phase), divided by their robust noise and whitened (ZCA);
    then :func:`neurocine.motifs.sorting.sort_spikes` (a Conv-NMF fit with ``components`` signed
    rank-``rank`` templates of ``width_ms`` ms finds the events, troughs of at least ``threshold``
    noise units are kept, their waveforms are clustered into at most ``max_units`` units, close units
    merged, small and weak ones dropped).

    Writes ``spikes.npz`` (``times`` sample indices, ``labels``, ``unit_ids``, ``fs``, ``amplitudes``
    in noise units), ``templates.npz`` (``templates`` (U, D, N) mean waveforms in the input's units,
    ``templates_whitened`` in noise units, ``peak_index``, ``noise``, ``offset``, ``whitening``),
    ``summary.json`` (``metrics``: ``n_units``, ``n_spikes``, ``noise`` per channel in input units,
    ``whitened_noise`` per channel, ``quality``: the quality table of
    :func:`neurocine.motifs.sorting.unit_quality`, ``seconds``), figures ``waveforms.png``,
    ``amplitudes.png``, ``isi.png``, ``traces.png``, ``report.html`` and ``phy/`` (phy's template-gui
    layout: :func:`neurocine.io.phy.write_phy_folder`).

    Returns
    -------
    JobResult
        The result folder, its ``summary.json`` (indexing reads it) and ``report.html``.
    """
    from neurocine.features.extracellular import preprocess_extracellular, robust_noise
    from neurocine.io.phy import write_phy_folder
    from neurocine.motifs import sort_plotting as figs
    from neurocine.motifs.sorting import sort_spikes, template_width, unit_quality

    signal = read_recording(input_path, dtype=dtype, channels=channels, fs=fs, series=series)
    rate = float(signal.sampling_rate)  # type: ignore[arg-type]
    template_width(width_ms, rate, name=f"{input_path}: --fs")
    if not (0 < band_low < band_high < rate / 2):
        raise InputError(
            f"{input_path}: band {band_low:g}-{band_high:g} Hz at --fs {rate:g} Hz; "
            f"expected 0 < --band-low < --band-high < {rate / 2:g} Hz (half the sampling rate)"
        )
    params = {
        "input": str(input_path),
        "dtype": dtype,
        "channels": channels,
        "fs": rate,
        "series": series,
        "components": components,
        "width_ms": width_ms,
        "rank": rank,
        "threshold": threshold,
        "max_units": max_units,
        "band": [band_low, band_high],
        "seed": seed,
        "device": device,
    }
    t0 = time.perf_counter()
    pre = preprocess_extracellular(signal.data, rate, (band_low, band_high))
    sort = sort_spikes(
        pre.whitened,
        rate,
        n_units=components,
        width_ms=width_ms,
        rank=rank,
        threshold=threshold,
        max_units=max_units,
        seed=seed,
        device=device,
    )
    seconds = time.perf_counter() - t0
    quality = unit_quality(sort, pre.filtered, pre.noise)
    templates = pre.to_input_units(sort.templates).astype(np.float32)
    name = Path(input_path).name
    with JobFolder(out, params, job="motifs sort") as res:
        res.extra["input"] = {"shape": list(signal.data.shape), "channels": signal.channels, "sampling_rate": rate}
        res.save_arrays(
            "spikes.npz",
            times=sort.times,
            labels=sort.labels,
            unit_ids=sort.unit_ids,
            fs=np.float64(rate),
            amplitudes=sort.amplitudes,
        )
        res.save_arrays(
            "templates.npz",
            templates=templates,
            templates_whitened=sort.templates,
            peak_index=np.int64(sort.peak_index),
            noise=pre.noise,
            offset=pre.offset,
            whitening=pre.whitening,
        )
        write_phy_folder(
            res.path("phy"),
            times=sort.times,
            labels=sort.labels,
            templates=templates,
            amplitudes=sort.amplitudes,
            recording=pre.filtered,
            sampling_rate=rate,
        )
        res.metrics.update(
            {
                "n_units": sort.n_units,
                "n_spikes": len(sort.times),
                "noise": pre.noise,
                "whitened_noise": robust_noise(pre.whitened),
                "quality": quality,
                "seconds": seconds,
            }
        )
        res.timings["sort_seconds"] = seconds
        duration = signal.n_timesteps / rate
        res.save_figure(
            "waveforms.png",
            figs.plot_unit_waveforms(sort, pre.filtered, channel_names=signal.channels, units="input units"),
            caption="Mean waveform of each unit (rows) on each channel (columns), black, over some of its spikes. "
            "A unit is one neuron when its spikes follow the mean closely and its footprint over the channels "
            "differs from the other units'.",
        )
        res.save_figure(
            "amplitudes.png",
            figs.plot_amplitudes_over_time(sort, duration),
            caption="Each spike's amplitude against time. A flat band is a stable unit; a slope is drift; "
            "a band cut off at the bottom means the threshold missed part of the unit.",
        )
        res.save_figure(
            "isi.png",
            figs.plot_isi_histograms(sort),
            caption="Inter-spike intervals of each unit. Counts inside the red refractory band (1.5 ms) are "
            "spikes of other neurons mixed in.",
        )
        start = int(sort.times[len(sort.times) // 2] - TRACE_SECONDS * rate / 2) if len(sort.times) else 0
        start = max(0, min(start, signal.n_timesteps - int(TRACE_SECONDS * rate)))
        res.save_figure(
            "traces.png",
            figs.plot_marked_traces(
                sort,
                pre.filtered,
                start,
                start + int(TRACE_SECONDS * rate),
                channel_names=signal.channels,
                units="input units",
            ),
            caption="A stretch of the band-passed recording with every sorted spike marked in its unit's colour. "
            "Each large deflection should carry a mark.",
        )
        worst_isi = max((q["isi_violation_ratio"] for q in quality), default=0.0)
        res.headline(
            f"{sort.n_units} units, {len(sort.times)} spikes in {duration:.1f} s; the largest ISI-violation "
            f"ratio is {worst_isi:.2f}.",
            ran=f"Spike sorting of {name} ({signal.n_timesteps} samples x {signal.n_channels} channels at "
            f"{rate:g} Hz): band-pass {band_low:g}-{band_high:g} Hz, whitening, Conv-NMF with {components} "
            f"rank-{rank} templates of {width_ms:g} ms, threshold {threshold:g} noise units, clustering.",
            figure="waveforms.png",
        )
        summary = res.summary()
    return JobResult(res.out, summary)
