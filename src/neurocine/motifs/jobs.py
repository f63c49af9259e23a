"""Conv-NMF jobs: simulate data, fit a model, choose K.

Each job validates its parameters before anything is written, then writes
one result folder (see :class:`neurocine.io.results.JobFolder`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.io.results import JobResult, checkpoint_folder
from neurocine.io.signals import read_signal_matrix, write_signal_npz
from neurocine.report.html import JobFolder


def run_simulate(
    out: str | os.PathLike,
    *,
    seed: int | None = 7,
    timesteps: int = 600,
    channels: int = 10,
    width: int = 10,
    neurons: int = 4,
    alpha: float = 3.0,
    beta: float = 0.1,
    noise: float = 1.0,
) -> JobResult:
    """Simulate the notebook's Conv-NMF data and write it as an npz.

    Keys: ``data`` (T, N), ``templates`` (K, N, D), ``amplitudes`` (T, K),
    ``noise_std``, ``seed``, ``oracle_r2`` (R^2 of the true model).

    Returns
    -------
    JobResult
        ``out`` the npz; indexing reads ``out``, ``data_shape``, ``n_spikes`` and ``oracle_r2``
        (R^2 of the true model), which are also its ``summary`` (no ``summary.json``, no report).
    """
    from neurocine.motifs.simulate import simulate_convnmf

    out = Path(out)
    if out.suffix != ".npz":
        raise InputError(f"--out {out}: expected a file name ending in .npz")
    sim = simulate_convnmf(
        seed,
        timesteps=timesteps,
        channels=channels,
        width=width,
        neurons=neurons,
        alpha=alpha,
        beta=beta,
        noise_std=noise,
    )
    oracle = sim.oracle_r2()
    write_signal_npz(
        out,
        sim.data,
        templates=sim.templates,
        amplitudes=sim.amplitudes,
        noise_std=np.float64(sim.noise_std),
        seed=np.int64(-1 if seed is None else seed),
        oracle_r2=np.float64(oracle),
    )
    return JobResult(
        out,
        {
            "out": str(out),
            "data_shape": list(sim.data.shape),
            "n_spikes": int((sim.amplitudes > 0).sum()),
            "oracle_r2": oracle,
        },
    )


def fit_figures(
    res: JobFolder,
    data: np.ndarray,
    model,
    *,
    channels=None,
    sampling_rate=None,
    truth: dict | None = None,
    score=None,
    title: str = "",
    prefix: str = "",
    amplitudes: np.ndarray | None = None,
    split: int | None = None,
) -> None:
    """Write the figures of one fitted model into a result folder (file names get ``prefix``).

    ``amplitudes`` (T, K) are drawn over ``data`` (default the model's fitted ``amplitudes_``);
    ``split`` is the first held-out sample, marked on ``sequences.png`` (nonnegative models only).
    """
    from neurocine.motifs.plotting import plot_ground_truth_comparison, plot_log_likelihood, plot_model

    res.save_figure(
        f"{prefix}model.png",
        plot_model(
            data,
            model.templates_,
            model.amplitudes_ if amplitudes is None else amplitudes,
            sampling_rate=sampling_rate,
            channel_names=channels,
            reconstruction=True,
            title=title,
        ),
        caption=f"{title + ': ' if title else ''}the data (channels x time), the {model.templates_.shape[0]} motif "
        "templates the fit found and when each fired (one colour per motif), and the data rebuilt from them. "
        "Look for every recurring pattern in the data to be covered by one motif, and for the rebuilt data "
        "to keep the sequences but not the noise.",
    )
    res.save_figure(
        f"{prefix}log_likelihood.png",
        plot_log_likelihood(model.log_likelihoods_),
        caption="Log-likelihood of the model after each iteration of the fit. It should rise and level off; "
        "a curve still climbing at the end means the fit stopped before converging.",
    )
    if getattr(model, "nonnegative", False):
        from neurocine.motifs.plotting import plot_sequences

        res.save_figure(
            f"{prefix}sequences.png",
            plot_sequences(
                data,
                model.templates_,
                model.amplitudes_ if amplitudes is None else amplitudes,
                sampling_rate=sampling_rate,
                split=split,
                title=title,
            ),
            caption="seqNMF's view: channels sorted by the unit and lag where their template peaks, so that each "
            "sequence is a diagonal in its template (left) and, each time it plays, in the data (right); above, "
            "each unit's events. Diagonals in the data that no event marks are sequences the fit missed"
            + ("; the dashed line is where the held-out part starts." if split is not None else "."),
        )
    if truth is not None and score is not None and "templates" in truth:
        f1 = {u["unit"]: u["f1"] for u in score.per_unit}
        res.save_figure(
            f"{prefix}ground_truth.png",
            plot_ground_truth_comparison(truth["templates"], model.templates_, score.assignment, f1),
            caption="Each true (simulated) template, left, beside the estimated template matched to it, right, "
            "with their cosine similarity and the F1 of the spike times. Matched pairs should look alike "
            "(cosine near 1); a 'no match' panel is a motif the fit missed or one it invented.",
        )


def fit_headline(metrics: dict[str, Any], oracle_r2: float | None = None) -> str:
    """The result of one fit in words, beside the truth where it is known.

    Examples
    --------
    >>> print(fit_headline({"n_spikes": 31, "r2": 0.871, "spike_f1": 0.95, "n_true_spikes": 33}, oracle_r2=0.877))
    31 spikes found for 33 true ones (spike F1 0.950), R² 0.871 against the true model's 0.877.
    """
    found = f"{metrics['n_spikes']} spikes found"
    if metrics.get("n_true_spikes") is not None:
        found += f" for {metrics['n_true_spikes']} true ones (spike F1 {metrics['spike_f1']:.3f})"
    fit = f"R² {metrics['r2']:.3f}"
    if oracle_r2 is not None:
        fit += f" against the true model's {oracle_r2:.3f}"
    return f"{found}, {fit}."


def fit_to_folder(
    res: JobFolder,
    data: np.ndarray,
    model,
    *,
    truth: dict | None = None,
    tolerance: int = 2,
    channels=None,
    sampling_rate=None,
    title: str = "",
    prefix: str = "",
    n_train: int | None = None,
    seed: int | None = None,
    behaviour: tuple[np.ndarray, float] | None = None,
) -> dict[str, Any]:
    """Fit ``model`` to ``data`` and store its arrays, metrics and figures in ``res``.

    With ``n_train`` the model is fitted to the first ``n_train`` time steps only and evaluated on
    the rest (:func:`neurocine.motifs.heldout.evaluate_heldout`, seeded with ``seed``): the metrics
    gain ``heldout_r2``, ``pvalues``, ``significant``, ``n_significant``, ``heldout_skewness``,
    ``n_null`` and ``n_train``, and the stored amplitudes cover the whole recording (fitted on the
    first part, found with the templates fixed on the held-out part).

    ``behaviour`` = (signal (T_b, F), rate in Hz) adds the behaviour locking of every unit's events
    (:func:`behaviour_to_folder`; needs ``sampling_rate``).

    Returns the metrics (the caller decides where they go in ``summary.json``).
    """
    from neurocine.motifs.scoring import score_against_truth

    model.fit(data if n_train is None else data[:n_train])
    amplitudes = model.amplitudes_
    metrics: dict[str, Any] = {
        "n_spikes": model.n_spikes_,
        "r2": model.r2_,
        "n_iter": model.n_iter_,
        "converged": model.converged_,
        "noise_std": model.noise_std_,
        "log_likelihoods": model.log_likelihoods_,
        "seconds": model.fit_seconds_,
    }
    if n_train is not None:
        from neurocine.motifs.heldout import evaluate_heldout

        heldout = evaluate_heldout(model, data[n_train:], random_state=seed)
        amplitudes = np.concatenate([model.amplitudes_, heldout.amplitudes])
        ev = heldout.to_dict()
        metrics.update(
            {
                "n_train": n_train,
                "heldout_r2": ev["heldout_r2"],
                "pvalues": ev["pvalues"],
                "significant": ev["significant"],
                "n_significant": ev["n_significant"],
                "heldout_skewness": ev["skewness"],
                "n_null": ev["n_null"],
            }
        )
        from neurocine.motifs.plotting import plot_significance

        res.save_figure(
            f"{prefix}significance.png",
            plot_significance(
                heldout.test.skewness, heldout.test.null_skewness, heldout.pvalues, alpha=heldout.test.alpha
            ),
            caption="seqNMF's test on the held-out part: each unit's template overlap with the held-out data is "
            "right-skewed when its sequence recurs there (dot), unlike templates whose channels are shifted at "
            "random (boxes). Filled dots and coloured bars are significant (p below the dashed alpha / K line).",
        )
    score = None
    if truth is not None and "amplitudes" in truth:
        score = score_against_truth(
            truth["amplitudes"], amplitudes, truth.get("templates"), model.templates_, tolerance=tolerance
        )
        o = score.overall
        metrics.update(
            {
                "spike_precision": o["precision"],
                "spike_recall": o["recall"],
                "spike_f1": o["f1"],
                "spike_accuracy": o["accuracy"],
                "spike_f1_unit_mean": o["unit_mean_f1"],
                "template_similarity": o["template_similarity"],
                "n_true_spikes": o["n_true"],
            }
        )
        res.write_json(f"{prefix}ground_truth_score.json", score.to_dict())
    res.save_arrays(
        f"{prefix}fit.npz",
        templates=model.templates_,
        amplitudes=amplitudes,
        log_likelihoods=model.log_likelihoods_,
    )
    fit_figures(
        res,
        data,
        model,
        channels=channels,
        sampling_rate=sampling_rate,
        truth=truth,
        score=score,
        title=title,
        prefix=prefix,
        amplitudes=amplitudes,
        split=n_train,
    )
    if behaviour is not None:
        metrics.update(
            behaviour_to_folder(
                res, amplitudes, *behaviour, sampling_rate=sampling_rate, width=model.width, seed=seed, prefix=prefix
            )
        )
    return metrics


def behaviour_to_folder(
    res: JobFolder,
    amplitudes: np.ndarray,
    signal: np.ndarray,
    rate: float,
    *,
    sampling_rate: float,
    width: int,
    seed: int | None = None,
    prefix: str = "",
) -> dict[str, Any]:
    """Behaviour locking of each unit's events (:func:`neurocine.motifs.behaviour.behaviour_locking`).

    The window runs from half a template before each event to one and a half after it. Writes
    ``behaviour.npz`` (``lags`` (L,) s, ``averages`` (K, L, F), ``baseline`` (F,), ``pvalues``,
    ``null_statistic``) and ``behaviour.png``; returns the metrics ``behaviour_pvalues``,
    ``behaviour_locked``, ``n_behaviour_locked``, ``behaviour_n_events``, ``behaviour_window``.
    """
    from neurocine.motifs.behaviour import behaviour_locking
    from neurocine.motifs.plotting import plot_behaviour_locking

    window = (-0.5 * width / sampling_rate, 1.5 * width / sampling_rate)
    lock = behaviour_locking(
        amplitudes, signal, sampling_rate=sampling_rate, behaviour_rate=rate, window=window, random_state=seed
    )
    res.save_arrays(
        f"{prefix}behaviour.npz",
        lags=lock.lags,
        averages=lock.averages,
        baseline=lock.baseline,
        pvalues=lock.pvalues,
        null_statistic=lock.null_statistic,
    )
    res.save_figure(
        f"{prefix}behaviour.png",
        plot_behaviour_locking(lock),
        caption="The behaviour around each unit's events (averaged over its events, minus the behaviour's overall "
        "mean; 0 s is the event), with the permutation p-value of that average against the same events shifted "
        "circularly in time (* below 0.05). A locked unit shows a consistent pattern; an unlocked one, noise.",
    )
    d = lock.to_dict()
    return {
        "behaviour_pvalues": d["pvalues"],
        "behaviour_locked": d["locked"],
        "n_behaviour_locked": d["n_locked"],
        "behaviour_n_events": d["n_events"],
        "behaviour_window": d["window"],
    }


def _model_params(
    components: int,
    width: int,
    rank: int | None,
    solver: str,
    amp_rate: float,
    seed: int | None,
    nonnegative: bool,
    n_init: int | None,
    noise_std: float | None,
    max_iter: int | None,
    device: str,
) -> dict[str, Any]:
    return {
        "n_components": components,
        "width": width,
        "rank": rank,
        "solver": solver,
        "amp_rate": amp_rate,
        "random_state": seed,
        "nonnegative": nonnegative,
        "n_init": n_init,
        "noise_std": noise_std,
        "max_iter": max_iter,
        "device": device,
    }


def _holdout_split(holdout_time: float | None, n_timesteps: int, width: int) -> int | None:
    """Time steps fitted when the last ``holdout_time`` of the recording is held out (None: no holdout)."""
    if holdout_time is None:
        return None
    if not (isinstance(holdout_time, (int, float)) and 0 < holdout_time < 1):
        raise InputError(f"--holdout-time: got {holdout_time!r}, expected a fraction of the recording in (0, 1)")
    n_train = int(np.floor((1 - holdout_time) * n_timesteps))
    if min(n_train, n_timesteps - n_train) <= width:
        raise InputError(
            f"--holdout-time: {holdout_time} splits the {n_timesteps} time steps into {n_train} fitted and "
            f"{n_timesteps - n_train} held out; expected both parts longer than width={width}"
        )
    return n_train


def _read_behaviour(
    path: str | os.PathLike | None,
    key: str | None,
    channels_first: bool,
    fs: float | str | None,
    neural_rate: float | None,
    n_timesteps: int,
) -> tuple[np.ndarray, float] | None:
    """The ``--behaviour`` signal (T_b, F) and its rate (Hz), checked before any folder is made."""
    if path is None:
        for flag, value in (
            ("--behaviour-key", key),
            ("--behaviour-fs", fs),
            ("--behaviour-channels-first", channels_first),
        ):
            if value not in (None, False):
                raise InputError(f"{flag}: got {value!r} without --behaviour; expected --behaviour FILE with it")
        return None
    if neural_rate is None:
        raise InputError(
            f"--behaviour {path}: the neural recording has no sampling rate; expected --fs (Hz, or the variable "
            "holding it) so that its events can be placed on the behaviour's clock"
        )
    sig = read_signal_matrix(path, key=key, channels_first=channels_first, sampling_rate=fs, dtype=None)
    rate = sig.sampling_rate
    if rate is None and sig.timestamps is not None and len(sig.timestamps) > 1:
        rate = 1.0 / float(np.median(np.diff(sig.timestamps)))
    if rate is None:
        raise InputError(
            f"--behaviour {path}: no sampling rate in the file; expected --behaviour-fs (Hz, or the variable holding it)"
        )
    span, needed = len(sig.data) / rate, (n_timesteps - 0.5) / neural_rate
    if span < needed:
        raise InputError(
            f"--behaviour {path}: covers {span:.3f} s ({len(sig.data)} samples at {rate:g} Hz); expected at least "
            f"the neural recording's {n_timesteps / neural_rate:.3f} s, starting with it"
        )
    return sig.data, float(rate)


def run_fit(
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    components: int,
    width: int,
    rank: int | None = None,
    solver: str = "default",
    amp_rate: float = 3.0,
    seed: int | None = 0,
    nonnegative: bool = False,
    n_init: int | None = None,
    noise_std: float | None = None,
    max_iter: int | None = None,
    tolerance: int = 2,
    series: str | None = None,
    device: str = "auto",
    key: str | None = None,
    channels_first: bool = False,
    fs: float | str | None = None,
    holdout_time: float | None = None,
    behaviour: str | os.PathLike | None = None,
    behaviour_key: str | None = None,
    behaviour_channels_first: bool = False,
    behaviour_fs: float | str | None = None,
) -> JobResult:
    """Fit a Conv-NMF model to a signal file and write the result folder.

    ``holdout_time`` (a fraction in (0, 1)) fits the model to the first
    ``floor((1 - holdout_time) * T)`` time steps and evaluates it on the rest,
    as seqNMF's demo does (:func:`neurocine.motifs.heldout.evaluate_heldout`,
    seeded with ``seed``): ``summary.json`` then also holds ``heldout_r2``, and per
    unit ``pvalues``, ``significant`` (Bonferroni over K) and ``n_significant``,
    ``heldout_skewness``, ``n_null`` and ``n_train``; ``r2`` is the fit's on the
    first part, and ``fit.npz``'s ``amplitudes`` (T, K) cover the whole recording.

    ``key``, ``channels_first`` and ``fs`` are passed to
    :func:`neurocine.io.signals.read_signal_matrix` as ``key``, ``channels_first``
    and ``sampling_rate``: the variable of a ``.mat`` (array of an ``.npz``) holding
    the signal, whether it is stored channels x time, and the sampling rate in Hz
    or the name of the variable holding it (``fs="VIDEOfs"``).

    ``behaviour`` names a behaviour signal recorded from the same moment (a song spectrogram, a
    running speed; any file :func:`~neurocine.io.signals.read_signal_matrix` reads, with
    ``behaviour_key``, ``behaviour_channels_first`` and ``behaviour_fs`` as ``key``,
    ``channels_first`` and ``fs`` above): each unit's events over the whole recording are related to
    it by :func:`neurocine.motifs.behaviour.behaviour_locking` (:func:`behaviour_to_folder`), adding
    ``behaviour_pvalues``, ``behaviour_locked``, ``n_behaviour_locked``, ``behaviour_n_events`` and
    ``behaviour_window`` to ``summary.json``, ``behaviour.npz`` and ``behaviour.png``. It needs the
    neural sampling rate (from the file or ``fs``) and the behaviour's.

    ``summary.json`` metrics: ``n_spikes``, ``r2``, ``n_iter``,
    ``log_likelihoods``, ``seconds`` (wall time of the fit), ``noise_std``
    and, when the input carries ground truth (``templates``/``amplitudes`` in
    an npz), ``spike_precision``, ``spike_recall``, ``spike_f1``,
    ``template_similarity``. Arrays in ``fit.npz``; figures ``model.png``,
    ``log_likelihood.png`` (and ``ground_truth.png``; ``sequences.png`` for nonnegative
    templates; ``significance.png`` with ``holdout_time``).

    Returns
    -------
    JobResult
        The result folder, its ``summary.json`` (indexing reads it) and ``report.html``.
    """
    from neurocine.motifs.convnmf import ConvNMF, resolve_solver

    solver = resolve_solver(solver)  # the summary records the current name
    signal = read_signal_matrix(input_path, series=series, key=key, channels_first=channels_first, sampling_rate=fs)
    params = _model_params(
        components, width, rank, solver, amp_rate, seed, nonnegative, n_init, noise_std, max_iter, device
    )
    model = ConvNMF(**params)
    n_train = _holdout_split(holdout_time, signal.n_timesteps, width)
    model._check_params(
        signal.n_timesteps if n_train is None else n_train, signal.data.shape[1]
    )  # fail before creating any folder
    if not (isinstance(tolerance, int) and tolerance >= 0):
        raise InputError(f"--tolerance: got {tolerance!r}, expected an integer >= 0 (samples)")
    behaviour_signal = _read_behaviour(
        behaviour, behaviour_key, behaviour_channels_first, behaviour_fs, signal.sampling_rate, signal.n_timesteps
    )
    job_params = {
        "input": str(input_path),
        **params,
        "tolerance": tolerance,
        "series": series,
        "key": key,
        "channels_first": channels_first,
        "fs": fs,
        "holdout_time": holdout_time,
        "behaviour": None if behaviour is None else str(behaviour),
        "behaviour_key": behaviour_key,
        "behaviour_channels_first": behaviour_channels_first,
        "behaviour_fs": behaviour_fs,
    }
    with JobFolder(out, job_params, job="motifs fit") as res:
        res.extra["input"] = {
            "shape": list(signal.data.shape),
            "channels": signal.channels,
            "sampling_rate": signal.sampling_rate,
            "has_ground_truth": signal.truth is not None,
        }
        metrics = fit_to_folder(
            res,
            signal.data,
            model,
            truth=signal.truth,
            tolerance=tolerance,
            channels=signal.channels,
            sampling_rate=signal.sampling_rate,
            title=f"{Path(input_path).name}: K = {components}, {solver} solver",
            n_train=n_train,
            seed=seed,
            behaviour=behaviour_signal,
        )
        res.metrics.update(metrics)
        res.timings["fit_seconds"] = metrics["seconds"]
        res.headline(
            fit_headline(metrics),
            ran=f"A Conv-NMF model with K = {components} motifs of {width} samples ({solver} solver) fitted to "
            f"{Path(input_path).name} ({signal.data.shape[0]} time steps x {signal.data.shape[1]} channels).",
            figure="ground_truth.png" if "spike_f1" in metrics else "model.png",
        )
        summary = res.summary()
    return JobResult(res.out, summary)


K_SELECTION_CAPTION = (
    "Held-out R² (fit to data the model did not see) and stability (how alike the motifs of repeated fits are) "
    "for each number of motifs K. Past the right K the held-out R² stops rising and the stability falls; "
    "the recommended K is marked."
)


def run_select(
    input_path: str | os.PathLike,
    out: str | os.PathLike,
    *,
    components: str,
    width: int,
    repeats: int = 3,
    mask_fraction: float = 0.1,
    seed: int | None = 0,
    rank: int | None = None,
    nonnegative: bool = False,
    amp_rate: float = 3.0,
    n_init: int = 3,
    series: str | None = None,
    device: str = "auto",
    jobs: int = 1,
    key: str | None = None,
    channels_first: bool = False,
    fs: float | str | None = None,
) -> JobResult:
    """Held-out fit and stability for a range of K; writes ``selection.json`` and ``k_selection.png``.

    ``key``, ``channels_first`` and ``fs`` read the input as :func:`run_fit` does.

    Each finished fit is checkpointed in ``.OUT.checkpoints`` beside ``out``: an interrupted run given the same
    arguments resumes from it (same result); it is removed on success. ``jobs`` fits run at once, in worker
    processes (``select_n_components(n_jobs=...)``); the result does not depend on it.

    Returns
    -------
    JobResult
        The result folder, its ``summary.json`` (indexing reads it) and ``report.html``.
    """
    from neurocine.motifs.plotting import plot_k_selection
    from neurocine.motifs.selection import check_fit_params, parse_k_range, select_n_components

    signal = read_signal_matrix(input_path, series=series, key=key, channels_first=channels_first, sampling_rate=fs)
    ks = parse_k_range(components)
    if not (isinstance(width, int) and 1 <= width < signal.n_timesteps):
        raise InputError(f"--width: got {width!r}, expected an integer in [1, {signal.n_timesteps - 1}]")
    # fail before creating any folder
    model_params = {"rank": rank, "nonnegative": nonnegative, "amp_rate": amp_rate, "n_init": n_init, "device": device}
    check_fit_params(signal.data.shape, ks[-1], width, model_params)
    params = {
        "input": str(input_path),
        "ks": ks,
        "width": width,
        "repeats": repeats,
        "mask_fraction": mask_fraction,
        "seed": seed,
        "rank": rank,
        "nonnegative": nonnegative,
        "amp_rate": amp_rate,
        "n_init": n_init,
        "series": series,
        "device": device,
        "jobs": jobs,
        "key": key,
        "channels_first": channels_first,
        "fs": fs,
    }
    checkpoints = checkpoint_folder(out)
    with JobFolder(out, params, job="motifs select") as res:
        with res.timer("selection_seconds"):
            sel = select_n_components(
                signal.data,
                ks,
                width,
                n_repeats=repeats,
                mask_fraction=mask_fraction,
                random_state=seed,
                checkpoint_dir=checkpoints,
                rank=rank,
                nonnegative=nonnegative,
                amp_rate=amp_rate,
                n_init=n_init,
                device=device,
                n_jobs=jobs,
            )
        res.write_json("selection.json", sel.to_dict())
        res.metrics.update(
            {
                "recommended_k": sel.recommended,
                "heldout_r2_mean": sel.heldout_r2.mean(1),
                "stability_mean": [float(np.mean(s)) if s.size else None for s in sel.stability],
            }
        )
        stab = sel.stability if sel.stability.shape[1] > 0 else None
        res.save_figure(
            "k_selection.png",
            plot_k_selection(
                sel.ks, sel.heldout_r2, stability=stab, recommended=sel.recommended, train_r2=sel.train_r2
            ),
            caption=K_SELECTION_CAPTION,
        )
        res.headline(
            f"Recommended K = {sel.recommended}.",
            ran=f"Conv-NMF fitted with K = {', '.join(map(str, sel.ks))} motifs, {repeats} times each with "
            f"{mask_fraction:.0%} of the data held out, to {Path(input_path).name}.",
            figure="k_selection.png",
        )
        summary = res.summary()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return JobResult(res.out, summary)
