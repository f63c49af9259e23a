"""The ``neurocine`` command line: a thin layer over :mod:`neurocine.jobs`.

Each command turns its options into Python values, makes the one call
``neurocine.jobs.GROUP_COMMAND(...)`` and prints from the
:class:`~neurocine.io.results.JobResult` it returns. Bad input raises
:class:`~neurocine.errors.InputError`; the CLI prints its one line and exits
with status 2. ``python -m neurocine`` runs the same command line.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from neurocine import __version__
from neurocine import jobs as api
from neurocine.errors import InputError, Interrupted
from neurocine.io.results import checkpoint_folder
from neurocine.runtime import set_quiet, set_threads, stop_on_signals


class _DefaultCommandGroup(TyperGroup):
    """A command group whose first argument, when it is not a sub-command, goes to ``fit``.

    So ``neurocine encode CONFIG.toml`` and ``neurocine encode framerates CONFIG.toml`` both work.
    """

    def resolve_command(self, ctx, args):
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["fit", *args]
        return super().resolve_command(ctx, args)


# Options that many commands share, each written once: ``seed: Seed = 0``.
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Device = Annotated[str, typer.Option("--device", help="auto | cpu | cuda[:i].")]
# how a signal file's array is found and laid out (motifs fit and select)
SignalKey = Annotated[
    str | None, typer.Option("--key", help=".mat: the variable holding the signal (.npz: the array; default data).")
]
ChannelsFirst = Annotated[
    bool, typer.Option("--channels-first", help=".mat/.npz/.npy: the array is stored channels x time (as seqNMF's).")
]
SamplingRate = Annotated[
    str | None, typer.Option("--fs", help="Sampling rate in Hz, or the .mat/.npz variable holding it (e.g. VIDEOfs).")
]
# the clock of image sequences and frame arrays, and the ImageSeries of an NWB file (video commands)
FrameRate = Annotated[
    float | None, typer.Option("--fps", help="Image sequence / frame array: frames per second (default 30).")
]
FrameTimes = Annotated[
    Path | None,
    typer.Option("--timestamps", help="Image sequence / frame array: file of one time (s) per frame (csv, npy)."),
]
ImageSeriesName = Annotated[str | None, typer.Option("--series", help="NWB: name of the ImageSeries to read.")]
VIDEO_HELP = "mp4/avi/mov/mkv, tif/npy/h5/zarr frame stack, NWB file, or image frames (folder, frames/%05d.png, glob)."
# how an imaging stack's axes are laid out (imaging dff, video motion on a frame array)
StackAxes = Annotated[
    str | None,
    typer.Option("--axes", help="Stored axis order: TYX (default), YXT, TZYXC... (T time, Z plane, C channel)."),
]
StackPlane = Annotated[int | None, typer.Option("--plane", help="The plane (Z index) to read of a volume.")]
StackChannel = Annotated[int | None, typer.Option("--channel", help="The channel (C index) to read.")]
# the session and subject of the NWB files a job writes
NWBMeta = Annotated[
    Path | None,
    typer.Option(
        "--nwb-meta",
        help="YAML/TOML/JSON (or a config's [nwb] table): subject_id, species, sex, age, session_description, "
        "session_start_time, experimenter, institution. Implies --nwb.",
    ),
]

app = typer.Typer(no_args_is_help=True, add_completion=True, help="neurocine: link video and neural recordings.")
motifs_app = typer.Typer(no_args_is_help=True, help="Conv-NMF motif discovery in multichannel time series.")
screenome_app = typer.Typer(no_args_is_help=True, help="Phone-screen (screenome) event logs.")
app.add_typer(motifs_app, name="motifs")
app.add_typer(screenome_app, name="screenome")
video_app = typer.Typer(no_args_is_help=True, help="Behaviour video: motion energy, motion SVD, ROIs.")
app.add_typer(video_app, name="video")
imaging_app = typer.Typer(no_args_is_help=True, help="Widefield / 2-photon imaging movies.")
app.add_typer(imaging_app, name="imaging")
batch_app = typer.Typer(no_args_is_help=True, help="Run a job over many sessions on a Dask cluster.")
app.add_typer(batch_app, name="batch")
encode_app = typer.Typer(
    cls=_DefaultCommandGroup,
    no_args_is_help=True,
    help="Encoding models: predict neural data from video and task features (neurocine encode CONFIG.toml --out DIR).",
)
app.add_typer(encode_app, name="encode")
v1_app = typer.Typer(
    no_args_is_help=True,
    help="Mouse V1: dynamic neural encoding model (DNEM) and movie reconstruction from population activity.",
)
app.add_typer(v1_app, name="v1")
fmri_app = typer.Typer(
    no_args_is_help=True,
    help="Video and fMRI: voxel-wise encoding, feature decoding and identification, brain-signal pretraining.",
)
app.add_typer(fmri_app, name="fmri")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"neurocine {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    threads: int | None = typer.Option(
        None, "--threads", help="CPU threads for torch and BLAS (default: one per core)."
    ),
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    set_quiet(quiet)
    set_threads(threads)


def _echo_metrics(summary: dict, keys: list[str]) -> None:
    metrics = summary.get("metrics", {})
    for key in keys:
        if key in metrics and metrics[key] is not None:
            value = metrics[key]
            typer.echo(f"  {key}: {value:.4g}" if isinstance(value, float) else f"  {key}: {value}")


# --------------------------------------------------------------------------- #
# motifs
# --------------------------------------------------------------------------- #
@motifs_app.command("simulate")
def motifs_simulate(
    out: Path = typer.Option(..., "--out", help="Output .npz (keys data (T,N), templates, amplitudes (T,K))."),
    seed: int = typer.Option(7, "--seed", help="torch seed (7 reproduces the notebook)."),
    timesteps: int = typer.Option(600, "--timesteps", help="T, samples."),
    channels: int = typer.Option(10, "--channels", help="N, channels."),
    width: int = typer.Option(10, "--width", help="D, template duration in samples."),
    neurons: int = typer.Option(4, "--neurons", help="K, units."),
    alpha: float = typer.Option(3.0, "--alpha", help="Gamma shape of spike amplitudes."),
    beta: float = typer.Option(0.1, "--beta", help="Gamma rate (mean amplitude alpha/beta)."),
    noise: float = typer.Option(1.0, "--noise", help="Noise standard deviation."),
) -> None:
    """Simulate Conv-NMF data exactly as the Neural Screenomics notebook does."""
    s = api.motifs_simulate(
        out,
        seed=seed,
        timesteps=timesteps,
        channels=channels,
        width=width,
        neurons=neurons,
        alpha=alpha,
        beta=beta,
        noise=noise,
    )
    typer.echo(
        f"wrote {s['out']}: data {tuple(s['data_shape'])}, {s['n_spikes']} spikes, oracle R2 {s['oracle_r2']:.3f}"
    )


@motifs_app.command("fit")
def motifs_fit(
    input_path: Path = typer.Argument(
        ...,
        metavar="INPUT",
        help="npz (key data), npy, csv, NWB or MATLAB .mat file, time-first, or a suite2p plane folder.",
    ),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    components: int = typer.Option(..., "--components", "-k", help="K, number of units."),
    width: int = typer.Option(..., "--width", "-d", help="D, template duration in samples."),
    key: SignalKey = None,
    channels_first: ChannelsFirst = False,
    fs: SamplingRate = None,
    holdout_time: float | None = typer.Option(
        None,
        "--holdout-time",
        help="Fraction of time held out at the end (e.g. 0.25): fit on the rest, report held-out R2 and "
        "seqNMF's significance test per unit.",
    ),
    rank: int | None = typer.Option(None, "--rank", help="Template rank R (signed templates; default 1)."),
    solver: str = typer.Option(
        "default",
        "--solver",
        help="default | reference (the Neural Screenomics notebook's algorithm; seed: deprecated alias).",
    ),
    amp_rate: float = typer.Option(3.0, "--amp-rate", help="Rate of the exponential amplitude prior."),
    seed: Seed = 0,
    nonnegative: bool = typer.Option(False, "--nonnegative", help="Nonnegative full-rank (seqNMF-style) templates."),
    n_init: int | None = typer.Option(
        None,
        "--n-init",
        help="Starts of the default solver (default: 10; 3 on data longer than its 20 000-sample search block).",
    ),
    noise_std: float | None = typer.Option(None, "--noise-std", help="Noise std (default: estimated)."),
    max_iter: int | None = typer.Option(
        None, "--max-iter", help="Sweeps per start (and at most this many in any stage of the default solver)."
    ),
    tolerance: int = typer.Option(2, "--tolerance", help="Spike matching tolerance (samples) for ground truth."),
    series: str | None = typer.Option(None, "--series", help="NWB only: name or path of the TimeSeries."),
    device: Device = "auto",
    behaviour: Path | None = typer.Option(
        None,
        "--behaviour",
        help="Behaviour signal from the same moment (e.g. a song spectrogram; npz, npy, csv, NWB or .mat): "
        "event-triggered averages around each unit's events and a permutation p-value per unit.",
    ),
    behaviour_key: str | None = typer.Option(
        None, "--behaviour-key", help="--behaviour .mat/.npz: the variable holding it (e.g. SONG)."
    ),
    behaviour_channels_first: bool = typer.Option(
        False, "--behaviour-channels-first", help="--behaviour is stored features x time (as seqNMF's SONG)."
    ),
    behaviour_fs: str | None = typer.Option(
        None, "--behaviour-fs", help="Behaviour sampling rate in Hz, or the variable holding it (e.g. SONGfs)."
    ),
) -> None:
    """Fit a Conv-NMF model (templates + sparse spikes) to a multichannel signal."""
    s = api.motifs_fit(
        input_path,
        out,
        components=components,
        width=width,
        rank=rank,
        solver=solver,
        amp_rate=amp_rate,
        seed=seed,
        nonnegative=nonnegative,
        n_init=n_init,
        noise_std=noise_std,
        max_iter=max_iter,
        tolerance=tolerance,
        series=series,
        device=device,
        key=key,
        channels_first=channels_first,
        fs=fs,
        holdout_time=holdout_time,
        behaviour=behaviour,
        behaviour_key=behaviour_key,
        behaviour_channels_first=behaviour_channels_first,
        behaviour_fs=behaviour_fs,
    )
    typer.echo(f"Found {s['metrics']['n_spikes']} putative spikes (R2 = {s['metrics']['r2']:.2f}) -> {out}")
    _echo_metrics(
        s,
        [
            "n_iter",
            "seconds",
            "heldout_r2",
            "n_significant",
            "n_behaviour_locked",
            "spike_precision",
            "spike_recall",
            "spike_f1",
            "template_similarity",
        ],
    )


@motifs_app.command("sort")
def motifs_sort(
    input_path: Path = typer.Argument(
        ..., metavar="INPUT", help="Raw binary (.raw/.bin/.dat, channels interleaved), npy, npz, csv or NWB file."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    dtype: str | None = typer.Option(None, "--dtype", help="Raw files: number type in the file (int16, float32...)."),
    channels: int | None = typer.Option(None, "--channels", help="Raw files: channels interleaved."),
    fs: float | None = typer.Option(None, "--fs", help="Sampling rate in Hz (default: the file's)."),
    series: str | None = typer.Option(None, "--series", help="NWB only: name or path of the ElectricalSeries."),
    components: int = typer.Option(12, "--components", "-k", help="Conv-NMF templates that find the events."),
    width_ms: float = typer.Option(2.0, "--width-ms", help="Template duration in milliseconds."),
    rank: int = typer.Option(2, "--rank", help="Rank of the signed templates (channels x lags)."),
    threshold: float = typer.Option(5.0, "--threshold", help="Detection threshold, in noise units."),
    max_units: int = typer.Option(15, "--max-units", help="Most units the clustering may make."),
    band_low: float = typer.Option(300.0, "--band-low", help="Band-pass low cut-off (Hz)."),
    band_high: float = typer.Option(5000.0, "--band-high", help="Band-pass high cut-off (Hz)."),
    seed: Seed = 0,
    device: Device = "cpu",
) -> None:
    """Spike-sort an extracellular recording: band-pass, whitening, Conv-NMF detection, clustering."""
    s = api.motifs_sort(
        input_path,
        out,
        dtype=dtype,
        channels=channels,
        fs=fs,
        series=series,
        components=components,
        width_ms=width_ms,
        rank=rank,
        threshold=threshold,
        max_units=max_units,
        band_low=band_low,
        band_high=band_high,
        seed=seed,
        device=device,
    )
    typer.echo(f"Sorted {s['metrics']['n_spikes']} spikes into {s['metrics']['n_units']} units -> {out}")
    _echo_metrics(s, ["seconds"])


@motifs_app.command("select")
def motifs_select(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="npz (key data), npy, csv, NWB or MATLAB .mat file."),
    out: Path = typer.Option(..., "--out", help="Output folder."),
    components: str = typer.Option("1-8", "--components", "-k", help="K values: 1-8, 2,4,6 or 4."),
    width: int = typer.Option(..., "--width", "-d", help="D, template duration in samples."),
    key: SignalKey = None,
    channels_first: ChannelsFirst = False,
    fs: SamplingRate = None,
    repeats: int = typer.Option(3, "--repeats", help="Fits per K (random masks and starts)."),
    mask_fraction: float = typer.Option(0.1, "--mask-fraction", help="Fraction of entries held out."),
    seed: Seed = 0,
    rank: int | None = typer.Option(None, "--rank", help="Template rank R."),
    nonnegative: bool = typer.Option(False, "--nonnegative", help="Nonnegative full-rank templates."),
    amp_rate: float = typer.Option(3.0, "--amp-rate", help="Rate of the exponential amplitude prior."),
    n_init: int = typer.Option(3, "--n-init", help="Starts per fit."),
    series: str | None = typer.Option(None, "--series", help="NWB only: name or path of the TimeSeries."),
    device: Device = "auto",
    jobs: int = typer.Option(
        1, "--jobs", "-j", help="Fits run at once, one process each (-1: every CPU); the same result for any value."
    ),
) -> None:
    """Choose K: held-out fit (masked entries) and stability across restarts."""
    s = api.motifs_select(
        input_path,
        out,
        components=components,
        width=width,
        repeats=repeats,
        mask_fraction=mask_fraction,
        seed=seed,
        rank=rank,
        nonnegative=nonnegative,
        amp_rate=amp_rate,
        n_init=n_init,
        series=series,
        device=device,
        jobs=jobs,
        key=key,
        channels_first=channels_first,
        fs=fs,
    )
    m = s["metrics"]
    typer.echo(f"recommended K = {m['recommended_k']} -> {out}")
    for k, r2, st in zip(s["parameters"]["ks"], m["heldout_r2_mean"], m["stability_mean"]):
        typer.echo(f"  K={k}: held-out R2 {r2:.3f}" + (f", stability {st:.3f}" if st is not None else ""))


# --------------------------------------------------------------------------- #
# screenome
# --------------------------------------------------------------------------- #
@screenome_app.command("bin")
def screenome_bin(
    log: Path = typer.Argument(
        ..., metavar="LOG.csv", help="Event log: timestamp, app|category[, participant, duration]."
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (binned.npz, usage.png)."),
    bin: str = typer.Option("5s", "--bin", help="Bin width: 500ms, 5s, 1min, 2h..."),
    top: int | None = typer.Option(None, "--top", help="Keep the N most used apps, merge the rest into 'other'."),
    channel: str = typer.Option("app", "--channel", help="app | category."),
    participant: str | None = typer.Option(None, "--participant", help="Only this participant."),
    max_gap: str = typer.Option("5s", "--max-gap", help="Without durations: longest an event lasts."),
) -> None:
    """Turn a screen-use event log into a (T, N) matrix of seconds of use per app per bin."""
    s = api.screenome_bin(log, out, bin=bin, top=top, channel=channel, participant=participant, max_gap=max_gap)
    typer.echo(f"binned {log} -> {out}")
    _echo_metrics(s, ["n_events", "n_bins", "n_channels", "total_seconds"])
    for warning in s.get("metrics", {}).get("warnings", []):
        typer.echo(f"  warning: {warning}")


@screenome_app.command("simulate")
def screenome_simulate(
    out: Path = typer.Option(..., "--out", help="Output LOG.csv (ground truth in LOG.truth.npz)."),
    seed: Seed = 0,
    apps: int = typer.Option(10, "--apps", help="Number of apps."),
    states: int = typer.Option(3, "--states", help="Number of motivational states (motifs)."),
    hours: float = typer.Option(10.0, "--hours", help="Duration of the log."),
    bin: str = typer.Option("60s", "--bin", help="Bin of the generating model."),
) -> None:
    """Simulate a screen-use log driven by Conv-NMF motivational states."""
    s = api.screenome_simulate(out, seed=seed, n_apps=apps, n_states=states, hours=hours, bin=bin)
    typer.echo(f"wrote {s['log']} ({s['n_events']} events) and {s['truth']}")


# --------------------------------------------------------------------------- #
# video
# --------------------------------------------------------------------------- #
def _parse_box(text: str | None, name: str):
    if text is None:
        return None
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        values = []
    if len(values) != 4:
        raise InputError(f"{name}: got {text!r}, expected x0,y0,x1,y1 (four integers, end exclusive)")
    return values


@video_app.command("motion")
def video_motion(
    video: Path = typer.Argument(..., metavar="VIDEO", help=VIDEO_HELP),
    out: Path = typer.Option(..., "--out", help="Output folder (motion.npz, figures, summary.json)."),
    rois: Path | None = typer.Option(
        None, "--rois", help="TOML/JSON of named boxes or polygons (default: full frame)."
    ),
    svd: int = typer.Option(0, "--svd", help="Motion-SVD components per ROI (0: motion energy only)."),
    bin: int = typer.Option(1, "--bin", help="k x k spatial binning while reading."),
    crop: str | None = typer.Option(None, "--crop", help="x0,y0,x1,y1: keep only this box (before binning)."),
    first: str = typer.Option("zero", "--first", help="Motion energy of frame 0: zero | nan."),
    allow_truncated: bool = typer.Option(False, "--allow-truncated", help="Keep the frames of a truncated file."),
    fps: FrameRate = None,
    timestamps: FrameTimes = None,
    series: ImageSeriesName = None,
    axes: StackAxes = None,
    nwb: bool = typer.Option(
        False,
        "--nwb",
        help="Also write motion.nwb (motion energy, BehavioralTimeSeries) and, with --svd, motion_svd_<roi>.nwb "
        "per ROI (needs pip install neurocine[nwb]).",
    ),
    nwb_meta: NWBMeta = None,
) -> None:
    """Motion energy (and motion SVD) of ROIs, and pupil and blinks of eye ROIs, in one pass over a video."""
    s = api.video_motion(
        video,
        out,
        rois=rois,
        svd=svd,
        bin=bin,
        crop=_parse_box(crop, "--crop"),
        first=first,
        allow_truncated=allow_truncated,
        nwb=nwb,
        fps=fps,
        timestamps=timestamps,
        series=series,
        axes=axes,
        nwb_meta=nwb_meta,
    )
    extra = f" (TRUNCATED: {s['n_decoded']} frames decoded)" if s["truncated"] else ""
    typer.echo(
        f"{video}: {s['frames']} frames in {s['seconds']:.1f} s "
        f"({s['frames'] / max(s['seconds'], 1e-9):.0f} frames/s), ROIs {', '.join(s['rois'])}{extra}"
    )
    typer.echo(f"wrote {out}/motion.npz" + (f" and {out}/motion*.nwb" if nwb or nwb_meta else ""))


@video_app.command("pupil")
def video_pupil(
    video: Path = typer.Argument(..., metavar="VIDEO", help=VIDEO_HELP),
    roi: str = typer.Option(..., "--roi", help="x0,y0,x1,y1: the box around the eye (end exclusive)."),
    out: Path = typer.Option(..., "--out", help="Output folder (pupil.npz, pupil.png, summary.json, report.html)."),
    fps: FrameRate = None,
    timestamps: FrameTimes = None,
    series: ImageSeriesName = None,
    min_contrast: float = typer.Option(0.2, "--min-contrast", help="Least (iris - pupil) / iris of a pupil."),
    blink_fraction: float = typer.Option(
        0.5, "--blink-fraction", help="A pupil below this fraction of its running median area is a blink."
    ),
    allow_truncated: bool = typer.Option(False, "--allow-truncated", help="Keep the frames of a truncated file."),
    nwb: bool = typer.Option(False, "--nwb", help="Also write pupil.nwb (BehavioralTimeSeries)."),
    nwb_meta: NWBMeta = None,
) -> None:
    """Pupil diameter, area, centre and blinks in an eye ROI, frame by frame."""
    s = api.video_pupil(
        video,
        out,
        roi=_parse_box(roi, "--roi"),
        fps=fps,
        timestamps=timestamps,
        series=series,
        min_contrast=min_contrast,
        blink_fraction=blink_fraction,
        allow_truncated=allow_truncated,
        nwb=nwb,
        nwb_meta=nwb_meta,
    )
    typer.echo(
        f"{video}: {s['frames']} frames in {s['seconds']:.1f} s, median pupil diameter "
        f"{s['median_diameter']:.1f} px, {s['blinks']} blinks ({s['blink_frames']} frames)"
    )
    typer.echo(f"wrote {out}/pupil.npz")


@video_app.command("rois")
def video_rois(
    video: Path = typer.Argument(..., metavar="VIDEO", help="The video the ROIs belong to."),
    rois: Path = typer.Argument(..., metavar="ROIS", help="TOML/JSON of named boxes or polygons."),
    out: Path = typer.Option(..., "--out", help="Image file (png) of the ROIs on the mean frame."),
) -> None:
    """Draw the ROIs on the video's mean frame so you can check them."""
    s = api.video_rois(video, rois, out)
    typer.echo(f"wrote {s['out']} ({', '.join(s['rois'])})")


@imaging_app.command("dff")
def imaging_dff(
    stack: Path = typer.Argument(..., metavar="STACK", help="tif/npy/h5/zarr/nwb movie (T, H, W)."),
    out: Path = typer.Option(..., "--out", help="Output folder (dff.npy, dff.png, summary.json)."),
    window: int = typer.Option(30, "--window", help="Baseline window in frames."),
    blur: float = typer.Option(1.0, "--blur", help="Gaussian sigma in binned pixels (0: none)."),
    bin: int = typer.Option(2, "--bin", help="k x k spatial binning."),
    mode: str = typer.Option("sliding", "--mode", help="sliding (centred running mean) | block (McCarthy 2019)."),
    mask: str = typer.Option("none", "--mask", help="none | otsu | MASK.npy (boolean, binned coordinates)."),
    key: str | None = typer.Option(None, "--key", help="Dataset inside an h5/zarr file."),
    series: str | None = typer.Option(None, "--series", help="NWB: name of the imaging series."),
    axes: StackAxes = None,
    plane: StackPlane = None,
    channel: StackChannel = None,
) -> None:
    """dF/F of a widefield movie (bin, blur, sliding-window baseline) written chunk by chunk."""
    s = api.imaging_dff(
        stack,
        out,
        window=window,
        blur=blur,
        bin=bin,
        mode=mode,
        mask=mask,
        key=key,
        series=series,
        axes=axes,
        plane=plane,
        channel=channel,
    )
    typer.echo(f"{stack}: {s['frames']} frames -> dF/F {tuple(s['shape'])} in {s['seconds']:.1f} s")
    typer.echo(f"wrote {out}/dff.npy")


# the options every batch command shares
BatchOut = Annotated[
    Path, typer.Option("--out", help="Output folder: one sub-folder per session, batch.csv, report.html.")
]
Scheduler = Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster).")]
Workers = Annotated[int | None, typer.Option("--workers", help="LocalCluster workers (default: one per core).")]
RedoSessions = Annotated[bool, typer.Option("--force", help="Redo sessions that already have results.")]


@batch_app.command("motion")
def batch_motion(
    sessions: Annotated[Path, typer.Argument(metavar="SESSIONS.csv", help="CSV with columns session, video[, rois].")],
    out: BatchOut,
    rois: Path | None = typer.Option(None, "--rois", help="ROI file for every session (a rois column overrides)."),
    svd: int = typer.Option(0, "--svd", help="Motion-SVD components per ROI."),
    bin: int = typer.Option(1, "--bin", help="k x k spatial binning while reading."),
    scheduler: Scheduler = None,
    workers: Workers = None,
    force: RedoSessions = False,
) -> None:
    """Motion energy (and SVD) of many sessions in parallel; failed sessions are reported, the rest finish."""
    s = api.batch_motion(
        sessions, out, rois=rois, svd=svd, bin=bin, scheduler=scheduler, n_workers=workers, force=force
    )
    _echo_batch(s, out)


def _echo_batch(s, out: Path) -> None:
    """Print a batch job's outcome: counts, where the table and report are, each failed session; exit 1 if any failed."""
    typer.echo(
        f"{s['sessions']} sessions: {s['ok']} ok, {s['failed']} failed, {s['skipped']} skipped "
        f"-> {out}/batch.csv, {out}/report.html"
    )
    for r in s["results"]:
        if r["status"] == "failed":
            typer.echo(f"  {r['session']}: {r['error']}")
    if s["failed"]:
        raise typer.Exit(1)


@batch_app.command("encode")
def batch_encode(
    sessions: Annotated[
        Path, typer.Argument(metavar="SESSIONS.csv", help="CSV with columns session, config (encode.toml).")
    ],
    out: BatchOut,
    scheduler: Scheduler = None,
    workers: Workers = None,
    force: RedoSessions = False,
) -> None:
    """One encoding model per session in parallel, and one report comparing them (EV maps, unique EV per group)."""
    s = api.batch_encode(sessions, out, scheduler=scheduler, n_workers=workers, force=force)
    _echo_batch(s, out)


# --------------------------------------------------------------------------- #
# encode
# --------------------------------------------------------------------------- #
@encode_app.command("fit")
def encode_fit(
    config: Path = typer.Argument(..., metavar="CONFIG.toml", help="Session config (see README, 'Encoding models')."),
    out: Path = typer.Option(..., "--out", help="Output folder (maps, attribution, figures, summary.json)."),
) -> None:
    """Fit ridge (+ optional LSTM), attribute variance to feature groups, map betas and EV."""
    s = api.encode_fit(config, out)
    m = s["metrics"]
    typer.echo(
        f"{m['n_samples']} samples x {m['n_columns']} columns -> {m['n_targets']} targets: "
        f"cross-validated EV {m['mean_cv_ev']:.3f}, test-block EV ridge {m['ridge_test_ev']:.3f}"
        + (f", sequence {m['sequence_test_ev']:.3f}" if "sequence_test_ev" in m else "")
    )
    typer.echo("  unique EV: " + ", ".join(f"{g} {m['unique'][g]:.4f}" for g in m["ranking"]))
    if "beta_map_correlation" in m:
        typer.echo(
            f"  vs truth: ceiling EV {m.get('ceiling_ev', float('nan')):.3f}, min beta-map correlation "
            f"{m['min_beta_map_correlation']:.3f}, planted groups ranked first: {m['planted_ranked_first']}"
        )
    if "whisking" in m:
        w = m["whisking"]
        typer.echo(
            f"  whisking classifier accuracy train/val/test {w['accuracy_train']:.3f}/"
            f"{w['accuracy_validation']:.3f}/{w['accuracy_test']:.3f}; EV as the only regressor: "
            f"probability {w['ev_probability_mean']:.4f} vs whisk ME {w['ev_motion_energy_mean']:.4f}"
        )
    typer.echo(f"wrote {out}")


@encode_app.command("framerates")
def encode_framerates(
    configs: list[Path] = typer.Argument(..., metavar="CONFIG.toml...", help="One config per dataset (session)."),
    out: Path = typer.Option(..., "--out", help="Output folder (table.csv, table.md, framerates.png)."),
    lstm: bool = typer.Option(True, "--lstm/--no-lstm", help="Also train the sequence model on every variant."),
) -> None:
    """Ridge and LSTM at 1/3, 1/2 and full rate and half rate interpolated (Table III of McCarthy 2019)."""
    s = api.encode_framerates(configs, out, sequence=lstm)
    typer.echo((s.out / "table.md").read_text(), nl=False)
    typer.echo(f"wrote {out}")


@encode_app.command("simulate")
def encode_simulate(
    out: Path = typer.Option(..., "--out", help="Folder for the session files and encode.toml."),
    seconds: float = typer.Option(240.0, "--seconds", help="Session length (s)."),
    seed: Seed = 0,
    widefield: int = typer.Option(64, "--widefield", help="Widefield frame side (pixels)."),
    name: str | None = typer.Option(None, "--name", help="Dataset name in the config."),
) -> None:
    """Write a simulated face-video + widefield session with planted beta maps, and its encode config."""
    s = api.encode_simulate(out, duration_s=seconds, seed=seed, widefield_size=(widefield, widefield), name=name)
    typer.echo(
        f"wrote {out}/encode.toml ({s['metrics']['frames']} frames, ceiling EV "
        f"{s['metrics']['ceiling_ev']:.3f}); run: neurocine encode {out}/encode.toml --out RESULTS"
    )


# --------------------------------------------------------------------------- #
# v1: DNEM + movie reconstruction
# --------------------------------------------------------------------------- #
def _csv_list(text: str | None, name: str, cast=float) -> list | None:
    if text is None:
        return None
    try:
        values = [cast(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: got {text!r}; expected comma-separated values like 0,1,2") from None
    if not values:
        raise InputError(f"{name}: got {text!r}; expected at least one value")
    return values


def _given(**options) -> dict:
    """Only the options the user set (None means: the estimator's default)."""
    return {k: v for k, v in options.items() if v is not None}


Tier = Annotated[
    str | None,
    typer.Option(
        "--tier",
        help="Tier that scores and is reconstructed (default: final_test_main, live_test_main or oracle, the "
        "first with responses, else 'train' = a held-out part of train). Tiers with withheld responses are refused.",
    ),
]
DuplicateThreshold = Annotated[
    float,
    typer.Option(
        "--duplicate-threshold",
        help="Test clips whose first frame correlates at least this much with a training clip's are not scored "
        "(listed in summary.json); above 1 checks nothing.",
    ),
]
Negative = Annotated[
    str, typer.Option("--negative", help="Negative responses: clip (set to 0, counted in summary.json) | refuse.")
]


def _threshold(value: float) -> float | None:
    """--duplicate-threshold: a correlation in [-1, 1], or above 1 for no check (None)."""
    if value != value or value < -1:
        raise InputError(f"--duplicate-threshold: got {value}; expected a correlation in [-1, 1] (above 1: no check)")
    return None if value > 1 else float(value)


def _echo_tiers(metrics: dict) -> None:
    if metrics.get("withheld_tiers"):
        typer.echo(
            f"skipped tiers with withheld responses (all zeros): {', '.join(metrics['withheld_tiers'])}; "
            f"scored on {metrics.get('test_tier') or 'the given trials'}"
        )
    if metrics.get("duplicates_excluded"):
        typer.echo(
            f"left out {len(metrics['duplicates_excluded'])} test trial(s) duplicating a training clip: "
            + ", ".join(str(d["trial"]) for d in metrics["duplicates_excluded"])
        )


@v1_app.command("simulate")
def v1_simulate(
    out: Path = typer.Option(..., "--out", help="Mouse folder to write (Sensorium 2023 layout)."),
    neurons: int = typer.Option(8000, "--neurons", help="Neurons (a Sensorium mouse has 7-8k)."),
    train: int = typer.Option(240, "--train", help="Training clips."),
    test: int = typer.Option(6, "--test", help="Held-out test clips (from held-out source movies/photos)."),
    repeats: int = typer.Option(5, "--repeats", help="Presentations of each test clip."),
    frames: int = typer.Option(150, "--frames", help="Frames per trial (30 Hz, at most 300)."),
    ceiling: float = typer.Option(0.3, "--ceiling", help="Mean single-trial correlation of true rates and responses."),
    release_like: bool = typer.Option(
        False,
        "--release-like",
        help="Write it like the competition release: float32 responses with small negatives, 300-frame NaN "
        "padding, test responses withheld as zeros.",
    ),
    easy: bool = typer.Option(
        False,
        "--easy",
        help="The easy mouse: Gabor LN-Poisson neurons, independent counts (default: as hard as real data, with "
        "calcium imaging, shared variability and neurons beyond Gabor LN).",
    ),
    seed: Seed = 0,
) -> None:
    """Simulate a mouse V1 watching natural clips (calcium-imaged, shared variability; --easy: LN-Poisson)."""
    s = api.v1_simulate(
        out,
        n_neurons=neurons,
        n_train=train,
        n_test=test,
        test_repeats=repeats,
        n_frames=frames,
        ceiling=ceiling,
        release_like=release_like,
        easy=easy,
        seed=seed,
    )
    typer.echo(
        f"wrote {out}: {s['n_neurons']} neurons ({s['difficulty']}), {sum(s['tiers'].values())} trials "
        f"({', '.join(f'{k} {v}' for k, v in s['tiers'].items())}), ceiling correlation "
        f"{s['ceiling_correlation']:.3f}"
        + (
            f", repeat ceiling {s['repeat_ceiling']:.3f}, lag-1 autocorrelation {s['lag1_autocorrelation']:.2f}"
            if "repeat_ceiling" in s
            else ""
        )
    )


@v1_app.command("train")
def v1_train(
    data: Path = typer.Argument(..., metavar="DATA", help="Sensorium mouse folder."),
    out: Path = typer.Option(..., "--out", help="Models folder (model_<i>.pt, mask.npz, figures, summary.json)."),
    instances: int = typer.Option(3, "--instances", help="Models with different seeds (an ensemble)."),
    epochs: int | None = typer.Option(None, "--epochs", help="Epoch limit (early stopping on the oracle tier)."),
    channels: int | None = typer.Option(None, "--channels", help="Core width."),
    blocks: int | None = typer.Option(None, "--blocks", help="Core depth (factorised 3-D conv blocks)."),
    readout: str | None = typer.Option(None, "--readout", help="gaussian | linear."),
    clip_length: int | None = typer.Option(None, "--clip-length", help="Frames per training crop."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Crops per step."),
    lr: float | None = typer.Option(None, "--lr", help="Peak AdamW learning rate."),
    seed: int = typer.Option(0, "--seed", help="Seed of instance 0 (instance i uses seed + i)."),
    tier: Tier = None,
    negative: Negative = "clip",
    duplicate_threshold: DuplicateThreshold = 0.95,
    device: Device = "auto",
) -> None:
    """Train a DNEM ensemble (video + behaviour -> V1 activity); score it on held-out clips; map masks and RFs."""
    s = api.v1_train(
        data,
        out,
        instances=instances,
        seed=seed,
        tier=tier,
        negative=negative,
        duplicate_threshold=_threshold(duplicate_threshold),
        device=device,
        **_given(
            epochs=epochs,
            core_channels=channels,
            n_blocks=blocks,
            readout=readout,
            clip_length=clip_length,
            batch_size=batch_size,
            lr=lr,
        ),
    )
    m = s["metrics"]
    _echo_tiers(m)
    line = f"held-out single-trial correlation {m['single_trial_correlation']:.3f}"
    if "ceiling_correlation" in m:
        line += f" (ceiling {m['ceiling_correlation']:.3f}: {100 * m['fraction_of_ceiling']:.0f} %)"
    typer.echo(line)
    typer.echo(f"wrote {out}")


@v1_app.command("reconstruct")
def v1_reconstruct(
    data: Path = typer.Argument(..., metavar="DATA", help="Sensorium mouse folder."),
    models: Path | None = typer.Option(None, "--models", help="Folder written by `neurocine v1 train`."),
    out: Path = typer.Option(..., "--out", help="Output folder (movies, figures, summary.json)."),
    truth_model: bool = typer.Option(
        False,
        "--truth-model",
        help="Simulated data: use the simulator's own population (the upper bound) instead of --models.",
    ),
    trials: str | None = typer.Option(
        None, "--trials", help="Comma-separated trial ids (default: one presentation of every test clip)."
    ),
    n_trials: int | None = typer.Option(None, "--n-trials", help="Only the first N selected trials."),
    tier: Tier = None,
    negative: Negative = "clip",
    duplicate_threshold: DuplicateThreshold = 0.95,
    method: str = typer.Option("paper", "--method", help="paper (momentum SGD, 1000 steps) | adam (faster)."),
    iterations: int | None = typer.Option(None, "--iterations", help="Optimiser steps (default per method)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default per method)."),
    ensemble: str = typer.Option("videos", "--ensemble", help="videos (average finished movies) | gradients."),
    error_maps: bool = typer.Option(
        True, "--error-maps/--no-error-maps", help="Also reconstruct from predicted activity and map the difference."
    ),
    coarse_to_fine: int = typer.Option(0, "--coarse-to-fine", help="Coarser levels optimised first (0: none)."),
    holdout: float = typer.Option(
        0.0,
        "--holdout",
        help="Share of neurons held out to pick the best iteration (early stopping without ground truth).",
    ),
    tv_weight: float = typer.Option(
        0.0, "--tv-weight", help="Total-variation prior on the movie (0: none; choose it on training trials)."
    ),
    spectrum_weight: float = typer.Option(
        0.0, "--spectrum-weight", help="Prior against power above the natural 1/k^2 fall-off (0: none)."
    ),
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """Reconstruct the movies a mouse saw from its recorded V1 activity, by gradient descent on the pixels."""
    s = api.v1_reconstruct(
        data,
        models,
        out,
        trials=_csv_list(trials, "--trials", str),
        n_trials=n_trials,
        tier=tier,
        negative=negative,
        duplicate_threshold=_threshold(duplicate_threshold),
        method=method,
        iterations=iterations,
        lr=lr,
        ensemble=ensemble,
        error_maps=error_maps,
        truth_model=truth_model,
        coarse_to_fine=coarse_to_fine,
        holdout=holdout,
        tv_weight=tv_weight,
        spectrum_weight=spectrum_weight,
        seed=seed,
        device=device,
    )
    m = s["metrics"]
    _echo_tiers(m)
    for row in m["trials"]:
        typer.echo(
            f"  trial {row['trial']}: video correlation {row['video_correlation']:.3f}, mean frame "
            f"correlation {row['mean_frame_correlation']:.3f}"
        )
    typer.echo(
        f"mean video correlation {m['mean_video_correlation']:.3f}, mean frame correlation "
        f"{m['mean_frame_correlation']:.3f} ({m['n_models']} models)"
    )
    typer.echo(f"wrote {out}")


@v1_app.command("suite")
def v1_suite(
    kind: str = typer.Argument(..., metavar="KIND", help="noise | gratings | ablation."),
    data: Path = typer.Argument(..., metavar="DATA", help="Sensorium mouse folder."),
    models: Path | None = typer.Option(None, "--models", help="Folder written by `neurocine v1 train`."),
    out: Path = typer.Option(..., "--out", help="Output folder (table, figures, summary.json)."),
    truth_model: bool = typer.Option(False, "--truth-model", help="Simulated data: the simulator's own population."),
    lengths: str | None = typer.Option(None, "--lengths", help="noise: length constants (default 0,1,2,4,8,16,32)."),
    sf: str | None = typer.Option(None, "--sf", help="gratings: spatial frequencies, cycles/pixel."),
    tf: str | None = typer.Option(None, "--tf", help="gratings: temporal frequencies, Hz."),
    phase_inverted: bool = typer.Option(
        True, "--phase-inverted/--no-phase-inverted", help="noise: also reconstruct each movie's phase-inverted twin."
    ),
    fractions: str | None = typer.Option(
        None, "--fractions", help="ablation: fractions dropped (default 0,0.5,0.75,0.875)."
    ),
    frames: int = typer.Option(60, "--frames", help="noise/gratings: frames per movie."),
    n_trials: int | None = typer.Option(None, "--n-trials", help="ablation: test trials used."),
    tier: Tier = None,
    duplicate_threshold: DuplicateThreshold = 0.95,
    method: str = typer.Option("paper", "--method", help="paper | adam."),
    iterations: int | None = typer.Option(None, "--iterations", help="Optimiser steps."),
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """The paper's suites: Gaussian noise and drifting gratings (from predicted activity), population ablation."""
    noise_lengths = _csv_list(lengths, "--lengths")
    spatial_frequencies = _csv_list(sf, "--sf")
    temporal_frequencies = _csv_list(tf, "--tf")
    dropped = _csv_list(fractions, "--fractions")
    s = api.v1_suite(
        kind,
        data,
        models,
        out,
        spatial_frequencies=spatial_frequencies,
        temporal_frequencies=temporal_frequencies,
        phase_inverted=phase_inverted,
        n_frames=frames,
        n_trials=n_trials,
        method=method,
        iterations=iterations,
        truth_model=truth_model,
        tier=tier,
        duplicate_threshold=_threshold(duplicate_threshold),
        seed=seed,
        device=device,
        **_given(noise_lengths=noise_lengths, fractions=dropped),  # None: the job's defaults
    )
    value = s["metrics"]["mean_video_correlation"]
    shown = ", ".join(f"{v:.3f}" for v in value) if isinstance(value, list) else f"{value:.3f}"
    typer.echo(f"{kind}: mean video correlation {shown}")
    inverted = s["metrics"].get("mean_video_correlation_inverted")
    if inverted is not None:
        typer.echo(f"{kind}: phase-inverted twins {inverted:.3f}")
    typer.echo(f"wrote {out}")


# --------------------------------------------------------------------------- #
# fmri: encoding, decoding, pretraining
# --------------------------------------------------------------------------- #
@fmri_app.command("simulate")
def fmri_simulate(
    out: Path = typer.Option(..., "--out", help="Data folder to write (stimuli, fMRI, design, truth)."),
    voxels: int = typer.Option(2000, "--voxels", help="Voxels (one region each, 20 % without signal)."),
    small: bool = typer.Option(False, "--small", help="The small test-size simulation (300 voxels, 2 regions)."),
    easy: bool = typer.Option(
        False,
        "--easy",
        help="The earlier, circular generator: voxels read out the analysis's own EfficientNet-Lite0 layers.",
    ),
    seed: Seed = 0,
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda[:i] (CNN features, --easy)."),
) -> None:
    """Simulate fMRI (TR 2 s) while watching real footage, from features the analysis never sees (Gabor, random CNN)."""
    from neurocine.fmri.simulate import SMALL_SIMULATION

    options = dict(SMALL_SIMULATION) if small else {"n_voxels": voxels}
    s = api.fmri_simulate(out, seed=seed, device=device, easy=easy, **options)
    _echo_metrics(s, ["n_voxels", "n_training_scans", "n_test_scans", "median_ceiling"])
    typer.echo(f"wrote {out}")


@fmri_app.command("encode")
def fmri_encode(
    data: Path = typer.Argument(..., metavar="DATA", help="fMRI data folder."),
    out: Path = typer.Option(..., "--out", help="Output folder (layer map, r histogram, summary.json)."),
    features: str = typer.Option("efficientnet", "--features", help="efficientnet | gabor."),
    layers: str | None = typer.Option(None, "--layers", help="Comma-separated CNN taps (default: five)."),
    folds: int = typer.Option(9, "--folds", help="Contiguous cross-validation folds."),
    banded: bool = typer.Option(False, "--banded", help="Also fit banded ridge across layers."),
    log_features: bool = typer.Option(
        True, "--log-features/--no-log-features", help="Log-transform CNN activations before PCA (Wen et al.)."
    ),
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """Voxel-wise encoding: CNN layers (log, PCA 99 %, HRF, TR) -> ridge per voxel; best layer map, test r, ceiling."""
    s = api.fmri_encode(
        data,
        out,
        features=features,
        layers=layers,
        folds=folds,
        banded=banded,
        log_features=log_features,
        seed=seed,
        device=device,
    )
    _echo_metrics(
        s,
        [
            "median_test_r",
            "median_ceiling",
            "median_fraction_of_ceiling",
            "best_layer_accuracy",
            "best_layer_rank_correlation",
        ],
    )
    typer.echo(f"wrote {out}")


@fmri_app.command("decode")
def fmri_decode(
    data: Path = typer.Argument(..., metavar="DATA", help="fMRI data folder."),
    out: Path = typer.Option(..., "--out", help="Output folder (identification table, frames, summary.json)."),
    layer: str = typer.Option("embedding", "--layer", help="CNN tap whose features are decoded."),
    n_way: int = typer.Option(50, "--n-way", help="Candidates of the n-way identification."),
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """Feature decoding: ridge voxels -> CNN features; pairwise / n-way / category identification, retrieval."""
    s = api.fmri_decode(data, out, layer=layer, n_way=n_way, seed=seed, device=device)
    _echo_metrics(
        s,
        [
            "pairwise_identification",
            "nway2_accuracy",
            "nway50_accuracy",
            "category_identification",
            "classifier_nway50_accuracy",
        ],
    )
    typer.echo(f"wrote {out}")


@fmri_app.command("reconstruct")
def fmri_reconstruct(
    data: Path = typer.Argument(..., metavar="DATA", help="fMRI data folder."),
    out: Path = typer.Option(..., "--out", help="Output folder (reconstructed frames, scores, summary.json)."),
    layers: str | None = typer.Option(None, "--layers", help="Comma-separated CNN taps to match (default: five)."),
    steps: int = typer.Option(100, "--steps", help="Adam steps of the pixel optimisation."),
    tv_weight: float = typer.Option(0.5, "--tv-weight", help="Weight of the total-variation prior."),
    spectrum_weight: float = typer.Option(1e-3, "--spectrum-weight", help="Weight of the 1/f spectrum prior."),
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """Frames from fMRI by feature inversion: decoded CNN features -> pixels (Shen et al. 2019), vs retrieval."""
    s = api.fmri_reconstruct(
        data,
        out,
        layers=layers,
        steps=steps,
        tv_weight=tv_weight,
        spectrum_weight=spectrum_weight,
        seed=seed,
        device=device,
    )
    _echo_metrics(
        s,
        [
            "pairwise_identification",
            "pairwise_p_value",
            "retrieval_pairwise_identification",
            "pixel_r",
            "pixel_r_chance",
            "ssim",
            "ssim_chance",
        ],
    )
    typer.echo(f"wrote {out}")


@fmri_app.command("pretrain")
def fmri_pretrain(
    data: Path = typer.Argument(..., metavar="DATA", help="fMRI data folder."),
    out: Path = typer.Option(..., "--out", help="Output folder (models, comparison with ridge, summary.json)."),
    diffusion: Path | None = typer.Option(
        None,
        "--diffusion",
        metavar="PIPELINE",
        help="Also generate frames with this diffusers pipeline folder "
        "(weights on disk, conditioned on prompt_embeds; needs "
        "pip install 'neurocine[diffusion]').",
    ),
    diffusion_steps: int = typer.Option(25, "--diffusion-steps", help="Denoising steps of --diffusion."),
    seed: Seed = 0,
    device: Device = "auto",
) -> None:
    """Deep path: masked brain modelling, contrastive alignment, frame generation, video<->fMRI cycle vs ridge."""
    s = api.fmri_pretrain(data, out, diffusion=diffusion, diffusion_steps=diffusion_steps, seed=seed, device=device)
    m = s.get("metrics", {})
    for key in ("deep", "ridge"):
        if isinstance(m.get(key), dict):
            typer.echo(
                f"  {key}: "
                + ", ".join(
                    f"{k} {v:.3f}" for k, v in m[key].items() if isinstance(v, float) and not k.endswith("_error")
                )
            )
    if "deep_beats_ridge_on" in m:
        typer.echo(f"  deep beats ridge on: {', '.join(m['deep_beats_ridge_on']) or 'nothing'}")
    typer.echo(f"wrote {out}")


# --------------------------------------------------------------------------- #
# report
# --------------------------------------------------------------------------- #
@app.command("report")
def report(
    folders: list[Path] = typer.Argument(..., metavar="DIR...", help="Result folders (each with a summary.json)."),
    out: Path | None = typer.Option(None, "--out", help="Merge all folders into this one HTML page instead."),
    title: str | None = typer.Option(None, "--title", help="Page title."),
) -> None:
    """Rebuild DIR/report.html for each folder, or merge several folders into one page (--out)."""
    if out is None:
        for folder in folders:  # one at a time: each page is reported as soon as it is written
            (page,) = api.report([folder], title=title)
            typer.echo(f"wrote {page.report}")
    else:
        typer.echo(f"wrote {api.report(folders, out=out, title=title)[0].report}")


# --------------------------------------------------------------------------- #
# demo
# --------------------------------------------------------------------------- #
def _echo_conv_nmf(c: dict) -> None:
    typer.echo(f"Conv-NMF on the notebook's data ({c['n_true_spikes']} true spikes, oracle R2 {c['oracle_r2']:.3f}):")
    for k in (4, 2):
        r = c[f"reference_k{k}"]
        typer.echo(f"  notebook solver K={k}: Found {r['n_spikes']} putative spikes (R2 = {r['r2']:.2f})")
    r = c["default_k4"]
    typer.echo(f"  neurocine solver K=4: {r['n_spikes']} spikes, R2 {r['r2']:.3f}, spike F1 {r['spike_f1']:.3f}")


def _echo_screenome(sc: dict) -> None:
    typer.echo(
        f"Screenome: {sc['n_events']} events -> {sc['n_bins']} bins; motifs R2 {sc['r2']:.3f}, "
        f"onset F1 {sc['spike_f1']:.3f}"
    )


def _echo_k_selection(ks: dict) -> None:
    typer.echo(f"K selection: recommended K = {ks['recommended_k']} (true K = {ks['true_k']})")


def _echo_video(v: dict) -> None:
    typer.echo(
        f"Video: {v['frames']} frames, motion energy of ROIs {', '.join(v['rois'])} "
        f"({v['frames_per_second']:.0f} frames/s), max error vs truth {v['max_abs_error_vs_truth']:.2g}"
    )


def _echo_encoding(e: dict) -> None:
    typer.echo(
        f"Encoding (simulated widefield): cross-validated EV {e['mean_cv_ev']:.3f} (ceiling "
        f"{e['ceiling_ev']:.3f}), beta maps vs planted r >= {e['min_beta_map_correlation']:.3f}, "
        f"planted features ranked first: {e['planted_ranked_first']}"
    )
    if e.get("whisking"):
        w = e["whisking"]
        typer.echo(
            f"  whisking classifier test accuracy {w['accuracy_test']:.3f} (chance {w['chance_test']:.3f}); "
            f"EV as a regressor: probability {w['ev_probability_mean']:.3f}, "
            f"whisk ME {w['ev_motion_energy_mean']:.3f}"
        )


def _echo_v1(v: dict) -> None:
    line = (
        f"V1 (simulated, {v['neurons']} neurons, ceiling {v['ceiling_correlation']:.3f}): movies reconstructed "
        f"with the true population at video correlation {v['true_population_video_correlation']:.3f}"
    )
    if "dnem_video_correlation" in v:
        line += (
            f"; DNEM ensemble single-trial correlation {v['single_trial_correlation']:.3f} "
            f"({100 * v['fraction_of_ceiling']:.0f} % of the ceiling), reconstructions "
            f"{v['dnem_video_correlation']:.3f}"
        )
    typer.echo(line)


def _echo_fmri(f: dict) -> None:
    typer.echo(
        f"fMRI (simulated, hidden features): best layer {100 * (f['best_layer_accuracy'] or 0):.1f} % of the "
        f"planted rank, median test r "
        f"{f['median_test_r']:.3f} (ceiling {f['median_ceiling']:.3f}); pairwise identification "
        f"{f['pairwise_identification']:.3f}, 50-way {f['nway50_accuracy']:.3f}"
    )


_DEMO_ECHO = {
    "conv_nmf": _echo_conv_nmf,
    "screenome": _echo_screenome,
    "k_selection": _echo_k_selection,
    "video": _echo_video,
    "encoding": _echo_encoding,
    "v1": _echo_v1,
    "fmri": _echo_fmri,
}


@app.command("demo")
def demo(
    out: Path = typer.Option(Path("demo-out"), "--out", help="Output folder."),
    quick: bool = typer.Option(
        False, "--quick", help="Smaller settings: shorter simulations, fewer starts, epochs and iterations."
    ),
    only: str | None = typer.Option(
        None,
        "--only",
        help="Comma-separated sections (conv_nmf, screenome, k_selection, video, encoding, v1, fmri); default all.",
    ),
) -> None:
    """Run every capability on built-in data into one folder (open DIR/index.html)."""
    s = api.demo(out, quick=quick, only=_csv_list(only, "--only", str))
    m = s["metrics"]
    for section, echo in _DEMO_ECHO.items():
        if section in m:
            echo(m[section])
    typer.echo(f"wrote {out}/index.html")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the console script.

    typer handles usage errors itself (message, exit status 2); bad input
    found by neurocine raises InputError, printed here as one line. A message
    that starts with a Python parameter of the job (``n_components: got 0``)
    is printed with the option of the command it came from (``--components: got 0``).

    A stop signal (Ctrl-C, SIGTERM, SIGHUP and the rest of
    :data:`~neurocine.runtime.STOP_SIGNALS`) ends the job cleanly: its temporary
    result folder is removed, an earlier result at ``--out`` is left as it was,
    one line says what happened (and that a rerun resumes, where the job left
    checkpoints) and the exit status is 128 + the signal number (130 for Ctrl-C,
    143 for SIGTERM, 129 for SIGHUP), as a shell reports a process the signal killed.
    """
    try:
        with stop_on_signals():
            app(args=argv, prog_name="neurocine")
    except InputError as exc:
        typer.echo(f"error: {_with_flag_names(str(exc), _options_of_failed_command(exc))}", err=True)
        sys.exit(2)
    except Interrupted as stop:
        typer.echo(f"interrupted by {stop.signal_name}; {_after_interruption(stop)}", err=True)
        sys.exit(128 + stop.signum)


# Python parameters of jobs and estimators named otherwise than the option they come from (besides a
# leading ``n_``: ``n_components`` comes from ``--components``, ``n_svd`` from ``--svd``).
_PARAMETER_OPTIONS = {"random_state": "seed"}


def _options_of_failed_command(exc: BaseException) -> dict[str, str]:
    """``{python name: --option}`` of the command whose function raised ``exc`` (empty when none did)."""
    import typer.main

    by_code = {}
    stack = [typer.main.get_command(app)]
    while stack:
        command = stack.pop()
        stack.extend(getattr(command, "commands", {}).values())
        function = getattr(command.callback, "__wrapped__", command.callback)
        if function is not None:
            by_code[function.__code__] = command
    tb = exc.__traceback__
    while tb is not None:
        failed = by_code.get(tb.tb_frame.f_code)
        if failed is not None:
            long_options = ((p.name, [o for o in p.opts if o.startswith("--")]) for p in failed.params)
            return {name: opts[0] for name, opts in long_options if name and opts}
        tb = tb.tb_next
    return {}


def _with_flag_names(message: str, options: dict[str, str]) -> str:
    """``message`` with its leading Python parameter name replaced by the command's option.

    InputError messages start with the argument they are about (``n_components: got 0, ...``); on the
    command line that argument is an option (``--components: got 0, ...``).
    """
    match = re.match(r"([A-Za-z_]\w*):", message)
    if match is None:
        return message
    name = match.group(1)
    for candidate in (name, _PARAMETER_OPTIONS.get(name), name.removeprefix("n_")):
        if candidate in options:
            return options[candidate] + message[len(name) :]
    return message


def _after_interruption(stop: Interrupted) -> str:
    if stop.out is None:
        return "the job stopped before it finished"
    if stop.resumable:
        return f"rerun to resume (checkpoints in {checkpoint_folder(stop.out)}); --out {stop.out} was not written"
    return f"--out {stop.out} was not written (an earlier result there is left as it was)"


if __name__ == "__main__":
    main()
