"""V1 jobs (Bauer, Margrie & Clopath 2025): simulate a mouse, train a DNEM ensemble, reconstruct movies, run the stimulus suites.

``neurocine v1 simulate|train|reconstruct|suite`` call :func:`run_simulate`,
:func:`run_train`, :func:`run_reconstruct` and :func:`run_suite`. Data are
Sensorium 2023 mouse folders (:class:`neurocine.io.sensorium.SensoriumMouse`);
a models folder holds ``model_<i>.pt`` files (:meth:`neurocine.v1.dnem.DNEM.save`)
and ``mask.npz`` (the ensemble's transparency mask), written by ``train``.

Tiers: ``train`` trains, ``oracle`` validates (early stopping), and the test
tier scores the models and is what ``reconstruct`` reconstructs by default (the
first presentation of each test clip). Only tiers with responses are used: the
competition release stores the responses of its test tiers as zeros, and such
withheld tiers (:meth:`~neurocine.io.sensorium.SensoriumMouse.withheld_tiers`)
are skipped, logged and listed in ``summary.json``. The default test tier is the
first of ``final_test_main``, ``live_test_main``, ``oracle`` that has responses,
else a held-out part of ``train`` (tier name ``"train"``: every tenth training
trial, never trained on); ``tier=`` (``--tier``) chooses. When ``oracle`` is the
test tier, the held-out part of ``train`` validates instead.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.io.results import JobResult, checkpoint_folder
from neurocine.report.html import JobFolder

__all__ = [
    "run_simulate",
    "run_train",
    "run_reconstruct",
    "run_suite",
    "load_models",
    "test_tier",
    "SUITES",
    "DEFAULT_NOISE_LENGTHS",
    "DEFAULT_ABLATION",
]

TEST_TIERS = ("final_test_main", "live_test_main", "oracle")
SUITES = ("noise", "gratings", "ablation")
DEFAULT_NOISE_LENGTHS = (0, 1, 2, 4, 8, 16, 32)
DEFAULT_ABLATION = (0.0, 0.5, 0.75, 0.875)
MASK_FILE = "mask.npz"
#: First-frame correlation at or above which a test clip counts as a copy of a training clip (not scored).
DUPLICATE_THRESHOLD = 0.95
#: Every ``HELD_OUT_EVERY``-th training trial is held out when a part of ``train`` scores or validates.
HELD_OUT_EVERY = 10

log = logging.getLogger("neurocine.v1")


# --------------------------------------------------------------------------- helpers
def _mouse(data, negative: str = "clip"):
    from neurocine.io.sensorium import SensoriumMouse

    return SensoriumMouse(data, negative=negative)


def test_tier(mouse, tier: str | None = None) -> str:
    """The tier that scores models and is reconstructed (``"train"``: the held-out part of the training tier).

    Parameters
    ----------
    mouse : SensoriumMouse
    tier : str, optional
        A tier of the mouse that has responses. None: the first of ``TEST_TIERS`` with responses, else
        ``"train"``.

    Raises
    ------
    InputError
        ``tier`` is withheld (its responses are all zeros), absent from the mouse or ``'none'``.

    Examples
    --------
    >>> test_tier(SensoriumMouse("competition_mouse"))   # doctest: +SKIP
    'oracle'
    """
    with_responses = mouse.tiers_with_responses()
    if tier is not None:
        if tier in mouse.withheld_tiers():
            raise InputError(
                f"--tier {tier}: its responses are withheld (zero in every trial of {mouse.root}); "
                f"expected a tier with responses: {', '.join(with_responses) or 'none'}"
            )
        if tier not in with_responses:
            raise InputError(
                f"--tier {tier}: {mouse.root} has no trials of that tier; expected a tier with responses: "
                f"{', '.join(with_responses) or 'none'}"
            )
        return tier
    for name in TEST_TIERS:
        if name in with_responses:
            return name
    if "train" in with_responses:
        return "train"
    raise InputError(
        f"{mouse.root}: no tier has responses (withheld: {', '.join(mouse.withheld_tiers())}); expected "
        f"recorded responses in train, oracle or a test tier"
    )


test_tier.__test__ = False  # type: ignore[attr-defined]  # a job helper, not a test for pytest to collect


def _train_split(mouse) -> tuple[list[str], list[str]]:
    """(fitted, held out): every ``HELD_OUT_EVERY``-th training trial (at least one) is held out."""
    ids = mouse.trial_ids_of("train")
    if len(ids) < 2:
        raise InputError(
            f"{mouse.root}: has {len(ids)} training trials and no other tier with responses; expected at least 2 "
            f"to hold one out for scoring"
        )
    held = ids[HELD_OUT_EVERY - 1 :: HELD_OUT_EVERY] or ids[-1:]
    kept = set(held)
    return [t for t in ids if t not in kept], held


def _tier_ids(mouse, tier: str) -> list[str]:
    """Trials that score (and are reconstructed) for ``tier``: its trials, or the held-out part of ``train``."""
    return _train_split(mouse)[1] if tier == "train" else mouse.trial_ids_of(tier)


def _tier_report(mouse, tier: str, job: str) -> dict[str, Any]:
    """Summary entries on the tiers, and a warning in the log for each withheld tier."""
    withheld = mouse.withheld_tiers()
    for name in withheld:
        log.warning(
            "%s: tier %s of %s has withheld responses (zero in all %d trials); it is not scored or reconstructed",
            job,
            name,
            mouse.root,
            len(mouse.trial_ids_of(name)),
        )
    return {
        "test_tier": tier if tier != "train" else "train (held-out part)",
        "withheld_tiers": withheld,
        "tiers_with_responses": mouse.tiers_with_responses(),
    }


def _exclude_duplicates(mouse, ids: Sequence[str], threshold: float | None) -> tuple[list[str], dict[str, Any]]:
    """``ids`` without the trials whose clip duplicates a training clip (most-correlated first frame >= threshold).

    Returns the kept ids and the summary entries ``duplicate_threshold`` and ``duplicates_excluded`` (one
    ``{trial, train_trial, correlation}`` per excluded trial); ``threshold`` None checks nothing.
    """
    if threshold is None or not ids:
        return list(ids), {"duplicate_threshold": threshold, "duplicates_excluded": []}
    from neurocine.v1.analysis import duplicate_clips

    train_ids = [t for t in mouse.trial_ids_of("train") if t not in set(ids)]
    if not train_ids:
        return list(ids), {"duplicate_threshold": threshold, "duplicates_excluded": []}
    found = duplicate_clips(mouse.first_frames(ids), mouse.first_frames(train_ids), threshold)
    excluded = [
        {"trial": tid, "train_trial": train_ids[int(j)], "correlation": float(c)}
        for tid, j, c, dup in zip(ids, found["best_match"], found["correlation"], found["duplicate"])
        if dup
    ]
    for row in excluded:
        log.warning(
            "test trial %s duplicates training trial %s (first frames correlate %.3f); it is not scored",
            row["trial"],
            row["train_trial"],
            row["correlation"],
        )
    dropped = {row["trial"] for row in excluded}
    kept = [t for t in ids if t not in dropped]
    if not kept:
        raise InputError(
            f"--duplicate-threshold {threshold}: every one of the {len(ids)} test trials duplicates a training "
            f"clip; expected test clips unlike the training clips (or a higher threshold)"
        )
    return kept, {"duplicate_threshold": threshold, "duplicates_excluded": excluded}


def _first_presentations(mouse, ids: Sequence[str]) -> list[str]:
    """One trial per distinct clip among ``ids`` (see :meth:`SensoriumMouse.clip_keys`)."""
    return [group[0] for group in _clips(mouse, ids)]


def _clips(mouse, ids: Sequence[str]) -> list[list[str]]:
    """Trials ``ids`` grouped by clip (``video_ids``, else frame hashes), in order of first presentation."""
    groups: dict[Any, list[str]] = {}
    for tid, key in zip(ids, mouse.clip_keys(ids)):
        groups.setdefault(key, []).append(tid)
    return list(groups.values())


def _repeats(mouse, ids: Sequence[str]) -> list[list[str]]:
    """Trials ``ids`` grouped by clip, only clips shown more than once."""
    return [g for g in _clips(mouse, ids) if len(g) > 1]


def load_models(models: str | os.PathLike, device: str = "auto"):
    """The DNEMs of a models folder (``model_*.pt``, in index order) and its mask file (or None)."""
    from neurocine.v1.dnem import DNEM

    folder = Path(models)
    if not folder.is_dir():
        raise InputError(f"--models {folder}: no such folder; expected the output folder of `neurocine v1 train`")
    files = sorted(
        folder.glob("model_*.pt"), key=lambda p: int(p.stem.split("_")[1]) if p.stem.split("_")[1].isdigit() else 0
    )
    if not files:
        raise InputError(f"--models {folder}: holds no model_*.pt; expected the output folder of `neurocine v1 train`")
    fitted = [DNEM.load(f, device=device) for f in files]
    mask = None
    if (folder / MASK_FILE).is_file():
        with np.load(folder / MASK_FILE) as m:
            mask = {k: m[k] for k in m.files}
    return fitted, mask


def _encoding_models(mouse, models, truth_model: bool, device: str):
    """(torch modules, mask dict or None): the DNEMs of ``models``, or the simulator's true population."""
    if truth_model:
        if models is not None:
            raise InputError("--models and --truth-model: got both; expected one source of encoding models")
        if not mouse.simulation:
            raise InputError(
                f"--truth-model: {mouse.root} has no meta/simulation; expected a folder written by "
                f"`neurocine v1 simulate`"
            )
        from neurocine.v1.simulate import V1Population

        return [V1Population.from_folder(mouse.root).torch_module()], None
    if models is None:
        raise InputError(
            "--models: not given; expected the folder written by `neurocine v1 train` "
            "(or --truth-model for simulated data)"
        )
    fitted, mask = load_models(models, device)
    _check_frame_shape(mouse, fitted, models)
    return [m.module_ for m in fitted], mask


def _check_frame_shape(mouse, fitted, models) -> None:
    shape = tuple(mouse.frame_shape)
    n = mouse.n_neurons
    for i, m in enumerate(fitted):
        if tuple(m.frame_shape_) != shape or m.n_neurons_ != n:
            raise InputError(
                f"--models {models}: model_{i} was trained on {m.n_neurons_} neurons and "
                f"{tuple(m.frame_shape_)} frames; expected {n} neurons and {shape} frames like "
                f"{mouse.root}"
            )


# --------------------------------------------------------------------------- simulate
def run_simulate(out: str | os.PathLike, **options) -> JobResult:
    """``neurocine v1 simulate``: a simulated mouse V1 in the Sensorium format (see :func:`simulate_v1`).

    Returns
    -------
    JobResult
        ``out`` the mouse folder; indexing (and its ``summary``: no ``summary.json`` at the top, no report)
        reads the simulation summary of :func:`simulate_v1` (``n_neurons``, ``tiers``, ``ceiling_correlation``...).
    """
    from neurocine.v1.simulate import simulate_v1

    return JobResult(out, simulate_v1(out, **options))


# --------------------------------------------------------------------------- train
def run_train(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    instances: int = 3,
    seed: int = 0,
    device: str = "auto",
    mask_iterations: int = 300,
    rf_stimuli: int = 2000,
    tier: str | None = None,
    negative: str = "clip",
    duplicate_threshold: float | None = DUPLICATE_THRESHOLD,
    figures: bool = True,
    **dnem_params,
) -> JobResult:
    """``neurocine v1 train``: an ensemble of DNEMs, its held-out scores, transparency mask and receptive fields.

    Writes ``model_<i>.pt`` per instance, ``mask.npz`` (alpha, update and
    evaluation masks), ``receptive_fields.npz``, ``rf_centers.npz`` (each
    neuron's on and off centre, :func:`~neurocine.v1.receptive_fields.on_off_centers`),
    ``scores.npz`` (per-neuron correlations), figures and ``summary.json``
    whose metrics hold ``rf_centers`` (median, spread and eccentricity of the
    reliable centres, in screen pixels),
    ``single_trial_correlation`` (the ensemble's held-out mean, frames >= 50),
    per-instance values, ``correlation_to_average`` (test clips shown more
    than once), and for simulated data ``ceiling_correlation`` and
    ``fraction_of_ceiling`` (single trials against the true rates' single-trial
    correlation) and, on ``final_test_main``, ``repeat_ceiling`` and
    ``fraction_of_repeat_ceiling`` (the correlation to average against a
    perfect model's correlation with the repeat mean); also ``test_tier``, ``withheld_tiers`` (tiers
    whose responses are all zeros, never scored), ``tiers_with_responses``,
    ``validation`` and what reading cleaned (``negative_values_clipped``,
    ``nan_frames_interpolated_*``). ``tier`` chooses the test tier (see
    :func:`test_tier`); ``negative`` is ``"clip"`` (negative responses set to
    0) or ``"refuse"`` (see :class:`~neurocine.io.sensorium.SensoriumMouse`).
    Test trials whose first frame correlates ``>= duplicate_threshold`` with a
    training trial's are left out before scoring and listed under
    ``duplicates_excluded`` (:func:`~neurocine.v1.analysis.duplicate_clips`;
    None checks nothing).
    Checkpoints go to ``.OUT.checkpoints`` beside ``out``; an interrupted run
    resumes from them, and they are removed on success.

    Returns
    -------
    JobResult
        The result folder (``summary``: its ``summary.json``, and ``report.html``); indexing reads ``out``
        and ``metrics``.
    """
    from neurocine.io.sensorium import TrialSequence
    from neurocine.metrics.neural import correlation_to_average, single_trial_correlation
    from neurocine.v1.analysis import mask_sweep
    from neurocine.v1.dnem import EnsembleModule, train_ensemble
    from neurocine.v1.receptive_fields import map_receptive_fields, on_off_centers, population_rf

    mouse = _mouse(data, negative)
    out = Path(out)
    if int(instances) < 1:
        raise InputError(f"--instances: got {instances}; expected at least 1")
    if not mouse.trial_ids_of("train"):
        raise InputError(f"{mouse.root}: no trials in tier 'train'; expected training trials")
    if "train" in mouse.withheld_tiers():
        raise InputError(f"{mouse.root}: the responses of tier 'train' are zero in every trial; expected recordings")
    tier = test_tier(mouse, tier)
    tier_info = _tier_report(mouse, tier, "v1 train")
    fit_ids, held_ids = _train_split(mouse) if tier in ("train", "oracle") else (mouse.trial_ids_of("train"), [])
    train = TrialSequence(mouse, fit_ids)
    if tier == "oracle" or "oracle" not in tier_info["tiers_with_responses"]:
        val = TrialSequence(mouse, held_ids) if tier != "train" and held_ids else None
        validation = f"held-out part of train ({len(held_ids)} trials)" if val is not None else "none (training loss)"
    else:
        val = mouse.trials("oracle")
        validation = "oracle"
    scored, duplicates = _exclude_duplicates(mouse, _tier_ids(mouse, tier), duplicate_threshold)
    test = TrialSequence(mouse, scored)
    params = {
        "data": str(data),
        "instances": int(instances),
        "seed": seed,
        "device": device,
        "mask_iterations": mask_iterations,
        "rf_stimuli": rf_stimuli,
        "test_tier": tier,
        "negative": negative,
        **dnem_params,
    }
    checkpoints = checkpoint_folder(out)
    with JobFolder(out, params, job="v1 train") as res:
        t0 = time.perf_counter()
        fitted = train_ensemble(
            train,
            val,
            n_instances=int(instances),
            checkpoint_root=checkpoints,
            random_state=seed,
            device=device,
            **dnem_params,
        )
        res.timings["train_seconds"] = time.perf_counter() - t0
        for i, m in enumerate(fitted):
            m.save(res.path(f"model_{i}.pt"))
        responses = [t.responses for t in test]
        per_model = [m.predict_trials(test) for m in fitted]
        ensemble_pred = [np.mean([p[j] for p in per_model], axis=0) for j in range(len(test))]
        r_instances = [single_trial_correlation(responses, p) for p in per_model]
        r_ensemble = single_trial_correlation(responses, ensemble_pred)
        metrics: dict[str, Any] = {
            "single_trial_correlation": float(np.nanmean(r_ensemble)),
            "single_trial_correlation_instances": [float(np.nanmean(r)) for r in r_instances],
            "n_test_trials": len(test),
            "n_neurons": mouse.n_neurons,
            **tier_info,
            **duplicates,
            "validation": validation,
            "n_train_trials": len(train),
            "epochs": [int(m.n_epochs_) for m in fitted],
        }
        groups = _repeats(mouse, test.trial_ids)
        if groups:
            index = {t.trial_id: j for j, t in enumerate(test)}
            by_clip_resp = [[responses[index[tid]] for tid in g] for g in groups]
            # predictions differ between repeats through the behaviour: averaged like the responses (Sensorium)
            by_clip_pred = [[ensemble_pred[index[tid]] for tid in g] for g in groups]
            metrics["correlation_to_average"] = float(np.nanmean(correlation_to_average(by_clip_resp, by_clip_pred)))
        sim = mouse.simulation
        if sim and sim.get("ceiling_correlation") is not None:
            metrics["ceiling_correlation"] = float(sim["ceiling_correlation"])
            metrics["fraction_of_ceiling"] = metrics["single_trial_correlation"] / metrics["ceiling_correlation"]
        if sim and sim.get("repeat_ceiling") and tier == "final_test_main" and "correlation_to_average" in metrics:
            # the simulator measures the repeat ceiling (perfect model vs repeat mean) on this tier's repeats
            metrics["repeat_ceiling"] = float(sim["repeat_ceiling"])
            metrics["fraction_of_repeat_ceiling"] = metrics["correlation_to_average"] / metrics["repeat_ceiling"]
        modules = [m.module_ for m in fitted]
        ensemble = EnsembleModule(modules) if len(modules) > 1 else modules[0]

        t0 = time.perf_counter()
        alpha, update, evaluation = _train_mask(
            modules, mouse, iterations=int(mask_iterations), seed=seed, device=device
        )
        np.savez(res.path(MASK_FILE), alpha=alpha, update_mask=update, evaluation_mask=evaluation)
        res.timings["mask_seconds"] = time.perf_counter() - t0
        metrics["update_mask_fraction"] = float(update.mean())
        metrics["evaluation_mask_fraction"] = float(evaluation.mean())
        metrics["mask_sweep"] = mask_sweep(alpha)

        t0 = time.perf_counter()
        rfs = map_receptive_fields(
            ensemble, tuple(mouse.frame_shape), n_stimuli=int(rf_stimuli), random_state=seed, device=device
        )
        pop = population_rf(rfs.on - rfs.off)
        res.save_arrays(
            "receptive_fields.npz", on=rfs.on.astype(np.float32), off=rfs.off.astype(np.float32), population=pop
        )
        centres = on_off_centers(rfs.on, rfs.off)
        res.save_arrays("rf_centers.npz", **centres)
        metrics["rf_centers"] = _centre_summary(centres, mouse.frame_shape)
        res.timings["rf_seconds"] = time.perf_counter() - t0
        truth_rfs = _planted_rfs(mouse)
        if truth_rfs is not None:
            mapped = (rfs.on - rfs.off).reshape(rfs.on.shape[0], -1)
            planted = truth_rfs.reshape(truth_rfs.shape[0], -1)
            metrics["rf_correlation_median"] = float(np.nanmedian(_row_correlations(mapped, planted)))
        res.save_arrays(
            "scores.npz", single_trial_correlation=r_ensemble, single_trial_correlation_instances=np.stack(r_instances)
        )
        metrics.update(_cleaning(mouse))
        res.metrics.update(metrics)
        res.extra["history"] = [m.history_ for m in fitted]
        if figures:
            _train_figures(res, fitted, alpha, pop, rfs, truth_rfs, r_ensemble, metrics)
            _rf_centre_figure(res, centres, mouse.frame_shape)
    shutil.rmtree(checkpoints, ignore_errors=True)
    return JobResult(res.out, {"out": str(out), "metrics": metrics})


def _centre_summary(centres: dict[str, np.ndarray], frame_shape) -> dict[str, Any]:
    """Median, spread and eccentricity of the reliable on and off centres (:func:`center_distribution`)."""
    from neurocine.v1.receptive_fields import center_distribution

    out: dict[str, Any] = {"units": "screen pixels"}
    for pol in ("on", "off"):
        ok = centres[f"{pol}_reliable"]
        out[pol] = {
            **center_distribution(centres[f"{pol}_center"][ok], frame_shape),
            "fraction_reliable": float(ok.mean()) if ok.size else 0.0,
        }
    return out


def _rf_centre_figure(res, centres: dict[str, np.ndarray], frame_shape) -> None:
    from neurocine.v1.plotting import plot_rf_centers

    on = centres["on_center"][centres["on_reliable"]]
    off = centres["off_center"][centres["off_reliable"]]
    res.save_figure(
        "rf_centers.png",
        plot_rf_centers(on, off, tuple(frame_shape), title="on and off receptive-field centres of this mouse"),
        caption="Where on the screen each neuron's mapped receptive field is centred: on centres (lit patches "
        "excite) in red, off centres (dark patches excite) in blue, reliable centres only, with eccentricity rings "
        "around the screen centre in screen pixels (the screen's size in degrees is not recorded). The centres "
        "should cluster where the recorded patch of cortex looks; on and off centres of one cell lie near each other.",
    )


def _cleaning(mouse) -> dict[str, int]:
    """What reading changed (:meth:`SensoriumMouse.cleaning`), logged when anything was."""
    counts = mouse.cleaning()
    if counts["negative_values_clipped"]:
        log.info("clipped %d negative responses to 0", counts["negative_values_clipped"])
    for kind in ("behavior", "pupil_center"):
        if counts[f"nan_frames_interpolated_{kind}"]:
            log.info("interpolated %d NaN frames of %s", counts[f"nan_frames_interpolated_{kind}"], kind)
    return counts


def _planted_rfs(mouse) -> np.ndarray | None:
    if not mouse.simulation:
        return None
    from neurocine.v1.simulate import V1Population

    try:
        return V1Population.from_folder(mouse.root).spatial_filters()
    except (InputError, OSError, KeyError):
        return None


def _row_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    den = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs((a * b).sum(axis=1) / den)  # RF sign of complex cells is arbitrary


def _train_figures(res, fitted, alpha, pop, rfs, truth_rfs, r_ensemble, metrics) -> None:
    from neurocine.v1.plotting import plot_alpha_mask, plot_lines, plot_receptive_fields

    hist = [m.history_ for m in fitted]
    n = max(len(h["loss"]) for h in hist)
    x = np.arange(1, n + 1)

    def padded(values):
        v = np.full(n, np.nan)
        v[: len(values)] = values
        return v

    series = {}
    for i, h in enumerate(hist):
        series[f"train {i}"] = padded(h["loss"])
        series[f"validation {i}"] = padded(h["val_loss"])
    res.save_figure(
        "training.png",
        plot_lines(x, series, xlabel="epoch", ylabel="Poisson loss", title="DNEM training (one line per instance)"),
        caption="Training and validation loss of each model per epoch. Both should fall and level off; a "
        "validation loss rising while training loss falls is overfitting (training stops early on it).",
    )
    res.save_figure(
        "mask.png",
        plot_alpha_mask(alpha, population_rf=pop),
        caption="The transparency mask learned for reconstruction (where in the frame the neurons see) beside "
        "the population receptive field. The mask should cover the receptive fields.",
    )
    strongest = np.argsort(-np.nan_to_num(r_ensemble))[:6]
    res.save_figure(
        "receptive_fields.png",
        plot_receptive_fields(
            rfs.on,
            rfs.off,
            neurons=list(strongest),
            truth=truth_rfs,
            title="in-silico receptive fields of the best-predicted neurons",
        ),
        caption="Receptive fields (ON minus OFF response to noise) of the best-predicted neurons, mapped in "
        "silico through the trained models"
        + (", above the true, planted ones: they should match in place and shape." if truth_rfs is not None else "."),
    )

    from neurocine.plotting.base import new_figure

    fig = new_figure((5, 3))
    ax = fig.subplots()
    ax.hist(np.nan_to_num(r_ensemble), bins=50, color="tab:blue")
    ax.axvline(metrics["single_trial_correlation"], color="k", lw=1, label="mean")
    if "ceiling_correlation" in metrics:
        ax.axvline(metrics["ceiling_correlation"], color="tab:red", lw=1, ls="--", label="simulator ceiling")
    ax.set_xlabel("single-trial correlation (held-out, frames >= 50)")
    ax.set_ylabel("neurons")
    ax.legend(fontsize=7)
    res.save_figure(
        "correlation_histogram.png",
        fig,
        caption="Single-trial correlation of predicted and recorded activity for each neuron on held-out trials"
        + (", with the simulator's ceiling (dashed)." if "ceiling_correlation" in metrics else ".")
        + " The mean (solid line) is the headline score.",
    )
    headline = f"Single-trial correlation {metrics['single_trial_correlation']:.3f}"
    if "ceiling_correlation" in metrics:
        headline += (
            f" against the simulator's ceiling of {metrics['ceiling_correlation']:.3f} "
            f"({metrics['fraction_of_ceiling']:.0%} of it)"
        )
    res.headline(
        headline + ".",
        ran=f"An ensemble of {len(fitted)} DNEM model(s) trained to predict {metrics['n_neurons']} neurons from the "
        f"movie and behaviour, scored on {metrics['n_test_trials']} held-out trials.",
        figure="correlation_histogram.png",
    )


# --------------------------------------------------------------------------- reconstruct
def _check_reconstruct_options(mouse, options: dict) -> None:
    """The reconstruction options checked against the mouse's frames before any work (the mask takes minutes)."""
    import inspect

    from neurocine.v1.reconstruction import check_reconstruct_options

    names = inspect.signature(check_reconstruct_options).parameters
    check_reconstruct_options(frame_shape=tuple(mouse.frame_shape), **{k: v for k, v in options.items() if k in names})


def _masks(models_mask, modules, mouse, seed, device):
    """The models folder's saved masks, or masks learned now (models without a mask.npz, the true population)."""
    if models_mask is not None:
        return models_mask["alpha"], models_mask["update_mask"], models_mask["evaluation_mask"]
    return _train_mask(modules, mouse, seed=seed, device=device)


def _spread_trials(mouse, n: int) -> list:
    """Up to ``n`` training trials evenly spread over the tier (each loaded once)."""
    train = mouse.trials("train")
    return [train[i] for i in np.linspace(0, len(train) - 1, min(len(train), n)).astype(int)]


def _train_mask(modules, mouse, *, iterations: int = 300, seed: int = 0, device: str = "auto"):
    """(alpha, update mask, evaluation mask) learned on 32 training trials spread over the tier."""
    from neurocine.v1.reconstruction import train_transparency_mask

    alpha = train_transparency_mask(
        modules, _spread_trials(mouse, 32), iterations=iterations, random_state=seed, device=device
    )
    update, evaluation = _thresholded(alpha)
    return alpha, update, evaluation


def _thresholded(alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The paper's update (alpha >= 0.5) and evaluation (alpha >= 1) masks; each falls back to the next looser one.

    A weak or barely trained model can leave alpha below 1 everywhere; then the
    update mask is also the evaluation mask (and, if that is empty too, the whole
    frame), so a reconstruction is still scored rather than refused.
    """
    from neurocine.v1.reconstruction import masks_from_alpha

    update, evaluation = masks_from_alpha(alpha)
    if not update.any():
        update = np.ones_like(update)
    if not evaluation.any():
        evaluation = update.copy()
    return update, evaluation


def _select_trials(
    mouse,
    trials: Sequence[str] | None,
    n_trials: int | None,
    tier: str | None = None,
    duplicate_threshold: float | None = None,
) -> tuple[list[str], dict[str, Any]]:
    """``trials`` (checked: known, not in a withheld tier), else the first presentation of each test-tier clip
    that does not duplicate a training clip; and the duplicate report of :func:`_exclude_duplicates`."""
    if trials:
        ids = [str(t) for t in trials]
        known = set(mouse.trial_ids)
        missing = [t for t in ids if t not in known]
        if missing:
            raise InputError(
                f"--trials: {missing} are not trials of {mouse.root}; expected ids among "
                f"{len(known)} trials (e.g. {sorted(known)[:5]})"
            )
        withheld = set(mouse.withheld_tiers())
        bad = [t for t in ids if mouse.tier_of(t) in withheld]
        if bad:
            raise InputError(
                f"--trials: {bad[:5]} belong to tier {mouse.tier_of(bad[0])!r} whose responses are withheld "
                f"(all zeros); expected trials of a tier with responses: {', '.join(mouse.tiers_with_responses())}"
            )
        duplicates: dict[str, Any] = {"duplicate_threshold": None, "duplicates_excluded": []}
    else:
        ids = _first_presentations(mouse, _tier_ids(mouse, test_tier(mouse, tier)))
        ids, duplicates = _exclude_duplicates(mouse, ids, duplicate_threshold)
    if n_trials is not None:
        ids = ids[: int(n_trials)]
    if not ids:
        raise InputError("--trials: none selected; expected at least one trial")
    return ids, duplicates


def run_reconstruct(
    data: str | os.PathLike,
    models: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    trials: Sequence[str] | None = None,
    n_trials: int | None = None,
    tier: str | None = None,
    negative: str = "clip",
    duplicate_threshold: float | None = DUPLICATE_THRESHOLD,
    method: str = "paper",
    iterations: int | None = None,
    lr: float | None = None,
    ensemble: str = "videos",
    error_maps: bool = True,
    truth_model: bool = False,
    seed: int = 0,
    device: str = "auto",
    figures: bool = True,
    movies: bool = True,
    **reconstruct_options,
) -> JobResult:
    """``neurocine v1 reconstruct``: movies reconstructed from recorded activity, scored against the truth.

    For every trial: ``trial_<id>/`` with ``reconstruction.npz`` (truth,
    reconstruction, per-model movies, correlation curves), ``comparison.mp4``
    and ``comparison.gif`` (ground truth | reconstruction), ``frames.png``,
    ``correlation.png``, ``ethogram.npz`` and ``ethogram.png`` (the trial's
    time courses, :func:`~neurocine.v1.analysis.ethogram`) and, with
    ``error_maps``, the reconstruction from the activity the models predict
    for the true movie and ``error_map.png``.
    ``summary.json`` holds each trial's video correlation (Pearson over the
    evaluation-mask pixels of frames >= 30) and mean frame correlation, their
    means ``mean_video_correlation`` / ``mean_frame_correlation``, and the
    ensembling curve (mean video correlation when averaging 1..k models' movies),
    ``test_tier``, ``withheld_tiers`` and what reading cleaned (as ``train``).
    Without ``trials`` the first presentation of every clip of the test tier
    (``tier``, see :func:`test_tier`) is reconstructed, less the clips whose
    first frame correlates ``>= duplicate_threshold`` with a training clip's
    (``duplicates_excluded``); trials of a withheld tier are refused. A member
    whose movie stayed at its grey start is listed in ``models_not_moved`` and
    left out of the ensembling curve. Each trial also reports the paper's
    checks (:mod:`neurocine.v1.analysis`): the Poisson loss and correlation of
    the activity predicted for the reconstruction against that for the true
    movie, prediction accuracy, frame contrast and behaviour, and
    ``quality_correlates`` correlates the trials' video correlations with
    them (Pearson r, p-value).

    ``truth_model`` (simulated data) reconstructs with the simulator's own
    population instead of trained models: the upper bound a perfect encoding
    model would reach. Other keywords go to
    :func:`neurocine.v1.reconstruction.reconstruct` (``coarse_to_fine``,
    ``holdout``, ``window``, ``stride``, ...).

    Returns
    -------
    JobResult
        The result folder (``summary``: its ``summary.json``, and ``report.html``); indexing reads ``out``
        and ``metrics``.
    """
    from neurocine.metrics import match_contrast_luminance
    from neurocine.v1.analysis import ensemble_curve, mean_curve
    from neurocine.v1.reconstruction import error_map, reconstruct

    mouse = _mouse(data, negative)
    modules, models_mask = _encoding_models(mouse, models, truth_model, device)
    ids, duplicates = _select_trials(mouse, trials, n_trials, tier, duplicate_threshold)
    tier_info = _tier_report(mouse, test_tier(mouse, tier), "v1 reconstruct")
    tier_info.update(duplicates)
    if trials:
        tier_info["test_tier"] = None  # the trials were chosen one by one
    params = {
        "data": str(data),
        "models": "simulator ground truth" if truth_model else str(models),
        "trials": ids,
        "tier": tier,
        "negative": negative,
        "method": method,
        "iterations": iterations,
        "lr": lr,
        "ensemble": ensemble,
        "error_maps": error_maps,
        "seed": seed,
        "device": device,
        **reconstruct_options,
    }
    options = dict(
        method=method,
        iterations=iterations,
        lr=lr,
        ensemble=ensemble,
        random_state=seed,
        device=device,
        **reconstruct_options,
    )
    _check_reconstruct_options(mouse, options)
    with JobFolder(out, params, job="v1 reconstruct") as res:
        alpha, update, evaluation = _masks(models_mask, modules, mouse, seed, device)
        np.savez(res.path(MASK_FILE), alpha=alpha, update_mask=update, evaluation_mask=evaluation)
        rows, curves_by_k = [], []
        t0 = time.perf_counter()
        for tid in ids:
            trial = mouse.trial(tid)
            result = reconstruct(
                modules,
                trial.responses,
                trial.behavior,
                trial.pupil_center,
                update_mask=update,
                truth=trial.video,
                evaluation_mask=evaluation,
                desc=f"trial {tid}",
                **options,
            )
            row = {
                "trial": tid,
                "video_correlation": result.video_correlation,
                "mean_frame_correlation": result.mean_frame_correlation,
                "iterations_to_95": result.iterations_to(0.95),
                "seconds": result.timings.get("total_s"),
            }
            if result.model_videos is not None and len(result.model_videos) > 1:
                curve = ensemble_curve(  # scored as reconstruct scored result.video_correlation
                    result.model_videos,
                    trial.video,
                    evaluation,
                    float(result.params.get("smooth_sigma", 0.5)),
                    int(result.params["correlation_skip"]),
                )
                row["video_correlation_single_models"] = curve["single"]
                if curve["not_moved"]:
                    row["models_not_moved"] = curve["not_moved"]
                    log.warning(
                        "trial %s: model(s) %s stayed at the grey start (a held-out check kept iteration 0); "
                        "left out of the ensembling curve",
                        tid,
                        curve["not_moved"],
                    )
                if curve["by_k"]:
                    curves_by_k.append(curve["by_k"])
            from_truth, from_recon = _trial_analyses(row, modules, trial, result.video, evaluation, device)
            shown = match_contrast_luminance(result.video, trial.video, evaluation)
            arrays = {
                "truth": trial.video,
                "reconstruction": result.video,
                "shown": shown,
                "loss_history": result.loss_history,
            }
            if result.correlation_history is not None:
                arrays.update(
                    correlation_history=result.correlation_history, record_iterations=result.record_iterations
                )
            if result.model_videos is not None:
                arrays["model_videos"] = result.model_videos
            recon_pred = None
            if error_maps:
                recon_pred = reconstruct(
                    modules,
                    from_truth,
                    trial.behavior,
                    trial.pupil_center,
                    update_mask=update,
                    truth=trial.video,
                    evaluation_mask=evaluation,
                    desc=f"trial {tid} (predicted)",
                    **options,
                )
                row["video_correlation_from_predicted"] = recon_pred.video_correlation
                arrays["from_predicted"] = recon_pred.video
                arrays["error"] = error_map(result.video, recon_pred.video)
            res.save_arrays(f"trial_{tid}/reconstruction.npz", **arrays)
            _trial_ethogram(res, tid, trial, result.video, evaluation, from_truth, from_recon, figures)
            if figures or movies:
                _trial_outputs(res, tid, trial.video, shown, evaluation, recon_pred, arrays, figures, movies)
            rows.append(row)
        res.timings["reconstruct_seconds"] = time.perf_counter() - t0
        vc = [r["video_correlation"] for r in rows]
        fc = [r["mean_frame_correlation"] for r in rows]
        metrics = {
            "mean_video_correlation": float(np.mean(vc)),
            "mean_frame_correlation": float(np.mean(fc)),
            "n_trials": len(rows),
            "n_models": len(modules),
            "trials": rows,
            "evaluation_mask_fraction": float(evaluation.mean()),
            **tier_info,
            **_cleaning(mouse),
        }
        if curves_by_k:
            by_k = mean_curve(curves_by_k)
            metrics["video_correlation_by_ensemble_size"] = by_k
            metrics["mean_video_correlation_single_model"] = by_k[0]
        not_moved = {r["trial"]: r["models_not_moved"] for r in rows if r.get("models_not_moved")}
        if not_moved:
            metrics["models_not_moved"] = not_moved
        metrics.update(_across_trials(rows))
        if error_maps:
            metrics["mean_video_correlation_from_predicted"] = float(
                np.mean([r["video_correlation_from_predicted"] for r in rows])
            )
        res.metrics.update(metrics)
        first = f"trial_{rows[0]['trial']}/frames.png" if rows and figures else ""
        res.headline(
            f"Reconstructed movies correlate r = {metrics['mean_video_correlation']:.3f} with the movies shown "
            f"(frame by frame r = {metrics['mean_frame_correlation']:.3f}; 1 is perfect, 0 chance), mean over "
            f"{len(rows)} trial(s).",
            ran=f"Movies reconstructed from the neural activity of {mouse.root.name} by gradient descent through "
            + (
                "the simulator's own population (an upper bound)"
                if truth_model
                else f"an ensemble of {len(modules)} trained DNEM model(s)"
            )
            + ".",
            figure=first,
        )
        _write_table(
            res,
            "trials.csv",
            rows,
            [
                "trial",
                "video_correlation",
                "mean_frame_correlation",
                "video_correlation_from_predicted",
                "activity_correlation",
                "prediction_accuracy",
                "frame_contrast",
                "running_speed",
                "pupil_dilation",
                "iterations_to_95",
                "seconds",
            ],
        )
        if figures and curves_by_k:
            from neurocine.v1.plotting import plot_lines

            k = np.arange(1, len(metrics["video_correlation_by_ensemble_size"]) + 1)
            res.save_figure(
                "ensembling.png",
                plot_lines(
                    k,
                    {"mean over trials": metrics["video_correlation_by_ensemble_size"]},
                    xlabel="models averaged",
                    ylabel="video correlation",
                    title="ensembling: average of the models' movies",
                ),
                caption="Video correlation of the movie averaged over the first k models' reconstructions. "
                "It rises as models are added; where it levels off more models would not help.",
            )
    return JobResult(res.out, {"out": str(out), "metrics": metrics})


def _trial_analyses(row: dict, modules, trial, reconstruction, evaluation, device: str):
    """Per-trial entries of the paper's checks: predicted activity for the reconstruction vs for the true movie
    (:func:`~neurocine.v1.analysis.activity_agreement`), prediction accuracy, frame contrast and behaviour.

    Returns the two predictions (T, N): for the true movie and for the reconstruction."""
    from neurocine.metrics import single_trial_correlation
    from neurocine.v1.analysis import activity_agreement
    from neurocine.v1.reconstruction import predicted_responses

    from_truth = predicted_responses(modules, trial.video, trial.behavior, trial.pupil_center, device=device)
    from_recon = predicted_responses(modules, reconstruction, trial.behavior, trial.pupil_center, device=device)
    agreement = activity_agreement(from_recon, from_truth, trial.responses)
    row.update({f"activity_{k}": v for k, v in agreement.items()})
    skip = min(50, len(trial.responses) // 2)
    row["prediction_accuracy"] = float(np.nanmean(single_trial_correlation([trial.responses], [from_truth], skip=skip)))
    pixels = trial.video[:, evaluation]
    row["frame_contrast"] = float(np.mean(pixels.std(axis=1)))  # RMS contrast inside the evaluation mask
    row["running_speed"] = float(np.mean(trial.behavior[:, 1]))
    row["pupil_dilation"] = float(np.mean(trial.behavior[:, 0]))
    return from_truth, from_recon


def _trial_ethogram(res, tid, trial, reconstruction, evaluation, from_truth, from_recon, figures: bool) -> None:
    """``trial_<id>/ethogram.npz`` and ``ethogram.png``: the trial's time courses (:func:`~neurocine.v1.analysis.ethogram`)."""
    from neurocine.v1.analysis import ethogram

    traces = ethogram(
        trial.video,
        trial.behavior,
        trial.pupil_center,
        trial.responses,
        from_truth,
        reconstruction=reconstruction,
        predicted_from_reconstruction=from_recon,
        mask=evaluation,
    )
    res.save_arrays(f"trial_{tid}/ethogram.npz", **traces)
    if figures:
        from neurocine.v1.plotting import plot_ethogram

        res.save_figure(
            f"trial_{tid}/ethogram.png",
            plot_ethogram(traces, title=f"trial {tid}"),
            caption=f"Trial {tid} over time: motion energy of the movie in the evaluation mask, pupil and running, "
            f"the {traces['top_neurons'].size} best-predicted neurons (z-scored; recorded, predicted from the movie "
            "and from the reconstruction), the population means and the frame-by-frame correlation of the "
            "reconstruction with the movie. Where the movie moves, the activity and the reconstruction should "
            "follow it.",
        )


def _across_trials(rows: list[dict]) -> dict[str, Any]:
    """Means of the per-trial activity checks and the correlates of reconstruction quality (with p-values)."""
    from neurocine.v1.analysis import quality_correlates

    out: dict[str, Any] = {
        f"mean_{k}": float(np.mean([r[k] for r in rows]))
        for k in (
            "activity_poisson_loss_reconstruction",
            "activity_poisson_loss_truth",
            "activity_correlation",
            "prediction_accuracy",
        )
    }
    quality = [r["video_correlation"] for r in rows]
    out["quality_correlates"] = quality_correlates(
        quality,
        {k: [r[k] for r in rows] for k in ("frame_contrast", "running_speed", "pupil_dilation", "prediction_accuracy")},
    )
    return out


def _trial_outputs(res, tid, truth, shown, evaluation, recon_pred, arrays, figures: bool, movies: bool) -> None:
    from neurocine.metrics import frame_correlations

    if movies:
        from neurocine.io.video import write_gif, write_video
        from neurocine.v1.plotting import comparison_frames

        frames = comparison_frames(truth, shown, mask=evaluation)
        write_video(res.path(f"trial_{tid}/comparison.mp4"), frames, fps=30)
        write_gif(res.path(f"trial_{tid}/comparison.gif"), frames[:, ::2, ::2], fps=30)
        for name in ("comparison.mp4", "comparison.gif"):
            res.caption(
                f"trial_{tid}/{name}",
                f"Trial {tid}: the movie the mouse saw beside the movie reconstructed from its neural activity "
                "(outside the evaluation mask greyed). The reconstruction should follow the movie's motion and "
                "coarse shapes; fine detail is lost.",
            )
    if figures:
        from neurocine.v1.plotting import plot_correlation_curves, plot_error_maps, plot_frame_strip

        rows = {"ground truth": truth, "reconstruction": shown}
        curves = {"from recorded activity": frame_correlations(truth, shown, evaluation)}
        if recon_pred is not None:
            from neurocine.metrics import match_contrast_luminance

            pred_shown = match_contrast_luminance(recon_pred.video, truth, evaluation)
            rows["from predicted activity"] = pred_shown
            curves["from predicted activity"] = frame_correlations(truth, pred_shown, evaluation)
            res.save_figure(
                f"trial_{tid}/error_map.png",
                plot_error_maps(truth, arrays["error"], mask=evaluation),
                caption=f"Trial {tid}: the true frames and the pixel-wise difference between the reconstructions "
                "from recorded and from predicted activity, where the two disagree most.",
            )
        res.save_figure(
            f"trial_{tid}/frames.png",
            plot_frame_strip(rows, mask=evaluation, title=f"trial {tid}"),
            caption=f"Trial {tid}: frames of the true movie (top row) and of the reconstruction (below), matched "
            "in contrast and luminance, inside the evaluation mask. Look for the same shapes in the same places.",
        )
        res.save_figure(
            f"trial_{tid}/correlation.png",
            plot_correlation_curves(curves),
            caption=f"Trial {tid}: correlation of each reconstructed frame with the true frame, over time. "
            "Dips mark frames the neurons say little about (fast changes, the first frames).",
        )


def _write_table(res, name: str, rows: list[dict], columns: list[str]) -> None:
    import csv

    with open(res.path(name), "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(columns)
        for r in rows:
            w.writerow(
                ["" if r.get(c) is None else (f"{r[c]:.4f}" if isinstance(r.get(c), float) else r[c]) for c in columns]
            )


# --------------------------------------------------------------------------- suites
def run_suite(
    kind: str,
    data: str | os.PathLike,
    models: str | os.PathLike | None,
    out: str | os.PathLike,
    *,
    noise_lengths: Sequence[float] = DEFAULT_NOISE_LENGTHS,
    spatial_frequencies: Sequence[float] | None = None,
    temporal_frequencies: Sequence[float] | None = None,
    directions: Sequence[str] | None = None,
    phase_inverted: bool = True,
    fractions: Sequence[float] = DEFAULT_ABLATION,
    n_frames: int = 60,
    n_trials: int | None = None,
    method: str = "paper",
    iterations: int | None = None,
    truth_model: bool = False,
    tier: str | None = None,
    duplicate_threshold: float | None = DUPLICATE_THRESHOLD,
    seed: int = 0,
    device: str = "auto",
    figures: bool = True,
    **reconstruct_options,
) -> JobResult:
    """``neurocine v1 suite noise|gratings|ablation``: the paper's stimulus suites and population ablation.

    ``noise``: Gaussian-noise movies over spatial x temporal length constants,
    reconstructed from the models' *predicted* activity (as in the paper's
    Fig. 4); table of video correlations (plus frame entropy and motion
    energy of truth and reconstruction). With ``phase_inverted`` each noise movie's
    phase-inverted twin (:func:`neurocine.stimuli.phase_inverted`) is reconstructed too and scored
    against its own movie and its twin, and the two reconstructions are correlated; with an ensemble
    of two or more models each movie's ensembling gain
    (:func:`~neurocine.v1.analysis.ensembling_gain`) is reported. ``gratings``: drifting gratings over
    spatial x temporal frequencies, averaged over directions. ``ablation``:
    recorded test trials reconstructed from 100, 50, 25 and 12.5 % of the
    neurons (seeded random subsets) of the first presentation of each clip
    of the test tier (``tier``, see :func:`test_tier`; clips duplicating a
    training clip left out as in ``reconstruct``). Behaviour for synthetic
    stimuli is the training tier's median.

    Returns
    -------
    JobResult
        The result folder (``summary``: its ``summary.json``, and ``report.html``); indexing reads ``out``
        and ``metrics``.
    """
    from neurocine.v1.reconstruction import ablate_population, predicted_responses, reconstruct

    if kind not in SUITES:
        raise InputError(f"suite: got {kind!r}; expected one of {', '.join(SUITES)}")
    mouse = _mouse(data)
    modules, models_mask = _encoding_models(mouse, models, truth_model, device)
    if kind == "ablation":
        test_tier(mouse, tier)  # a withheld or unknown tier fails before any work
    params = {
        "kind": kind,
        "tier": tier,
        "data": str(data),
        "models": "simulator ground truth" if truth_model else str(models),
        "method": method,
        "iterations": iterations,
        "seed": seed,
        "device": device,
        "n_frames": n_frames,
        **({"phase_inverted": phase_inverted} if kind == "noise" else {}),
        **reconstruct_options,
    }
    options = dict(
        method=method, iterations=iterations, random_state=seed, device=device, desc=None, **reconstruct_options
    )
    _check_reconstruct_options(mouse, options)
    h, w = mouse.frame_shape
    with JobFolder(out, params, job=f"v1 suite {kind}") as res:
        alpha, update, evaluation = _masks(models_mask, modules, mouse, seed, device)
        behavior, pupil = _typical_behaviour(mouse, n_frames)

        def from_predicted(video):
            rates = predicted_responses(modules, video, behavior, pupil, device=device)
            return reconstruct(
                modules, rates, behavior, pupil, update_mask=update, truth=video, evaluation_mask=evaluation, **options
            )

        if kind == "noise":
            lengths = [float(x) for x in noise_lengths]
            table = _noise_suite(res, from_predicted, lengths, n_frames, seed, (h, w), evaluation, phase_inverted)
            rows, cols, row_label, col_label = lengths, lengths, "spatial length (px)", "temporal length (frames)"
        elif kind == "gratings":
            from neurocine.stimuli import drifting_grating, grating_suite

            sfs, tfs, dirs = _grating_axes(grating_suite, spatial_frequencies, temporal_frequencies, directions)
            table = np.full((len(sfs), len(tfs)), np.nan)
            per_direction = np.full((len(sfs), len(tfs), len(dirs)), np.nan)
            for i, sf in enumerate(sfs):
                for j, tf in enumerate(tfs):
                    for k, d in enumerate(dirs):
                        video = drifting_grating(n_frames, sf, tf, d, shape=(h, w))
                        per_direction[i, j, k] = from_predicted(video).video_correlation
                    table[i, j] = np.nanmean(per_direction[i, j])
            res.save_arrays(
                "gratings.npz",
                spatial_frequencies=np.asarray(sfs),
                temporal_frequencies=np.asarray(tfs),
                directions=np.asarray(dirs),
                video_correlation=table,
                per_direction=per_direction,
            )
            res.metrics.update(
                {
                    "video_correlation": table.tolist(),
                    "spatial_frequencies": sfs,
                    "temporal_frequencies": tfs,
                    "directions": dirs,
                    "mean_video_correlation": float(np.nanmean(table)),
                }
            )
            rows, cols, row_label, col_label = sfs, tfs, "cycles / pixel", "Hz"
        else:
            fr = [float(f) for f in fractions]
            ids, _ = _select_trials(mouse, None, n_trials, tier, duplicate_threshold)
            table = np.full((len(fr), len(ids)), np.nan)
            for j, tid in enumerate(ids):
                trial = mouse.trial(tid)
                for i, f in enumerate(fr):
                    kept = ablate_population(trial.responses, f, random_state=seed) if f > 0 else None
                    r = reconstruct(
                        modules,
                        trial.responses,
                        trial.behavior,
                        trial.pupil_center,
                        update_mask=update,
                        neurons=kept,
                        truth=trial.video,
                        evaluation_mask=evaluation,
                        **options,
                    )
                    table[i, j] = r.video_correlation
            res.save_arrays("ablation.npz", fractions=np.asarray(fr), trials=np.asarray(ids), video_correlation=table)
            res.metrics.update(
                {"fractions_dropped": fr, "mean_video_correlation": np.nanmean(table, axis=1).tolist(), "trials": ids}
            )
            rows, cols, row_label, col_label = fr, ids, "fraction of neurons dropped", "trial"
        if figures:
            from neurocine.v1.plotting import plot_lines, plot_table

            res.save_figure(
                f"{kind}.png",
                plot_table(
                    table,
                    rows,
                    cols,
                    row_label=row_label,
                    column_label=col_label,
                    title=f"{kind}: video correlation",
                    vmin=-0.2,
                    vmax=1.0,
                ),
                caption=f"Video correlation of each reconstruction with the movie shown ({row_label} by "
                f"{col_label}). Look for where the reconstruction breaks down: bright cells are recovered, "
                "dark ones lost.",
            )
            if kind == "noise":
                res.save_figure(
                    "noise_suite.png",
                    _noise_figure(res.metrics),
                    caption="Left and middle: video correlation against the noise's spatial and temporal length "
                    "constant (mean over the other), for each movie and its phase-inverted twin. Right: what "
                    "ensembling adds for each movie (ensemble minus the mean of its members). A reconstruction "
                    "that follows the phase scores alike on both twins; one blind to it falls to zero on them.",
                )
            if kind == "ablation":
                res.save_figure(
                    "ablation_curve.png",
                    plot_lines(
                        np.asarray(fr) * 100,
                        {"mean over trials": np.nanmean(table, axis=1)},
                        xlabel="% of neurons dropped",
                        ylabel="video correlation",
                    ),
                    caption="Mean video correlation as more of the population is dropped before reconstructing: "
                    "how gracefully the reconstruction degrades with fewer neurons.",
                )
        mean = np.nanmean(table)
        twins = res.metrics.get("mean_video_correlation_inverted")
        res.headline(
            f"Mean video correlation {mean:.3f} over the {kind} suite ({table.size} reconstructions; 1 is perfect)"
            + ("." if twins is None else f"; {twins:.3f} over their phase-inverted twins."),
            ran=f"Movies of the {kind} suite reconstructed from the activity the models predict for them.",
            figure=f"{kind}.png" if figures else "",
        )
    return JobResult(res.out, {"out": str(out), "metrics": dict(res.metrics)})


def _noise_suite(res, from_predicted, lengths, n_frames, seed, shape, evaluation, inverted: bool) -> np.ndarray:
    """Reconstruct every Gaussian-noise movie (and, with ``inverted``, its phase-inverted twin); write
    ``noise.npz`` and the metrics. Returns the (L, L) video correlations of the original movies."""
    from neurocine.metrics import motion_energy, shannon_entropy, video_correlation
    from neurocine.stimuli import gaussian_noise, phase_inverted
    from neurocine.v1.analysis import ensembling_gain

    n, phases = len(lengths), ("original", "inverted") if inverted else ("original",)
    corr, twin, gain = (np.full((len(phases), n, n), np.nan) for _ in range(3))
    pair = np.full((n, n), np.nan)
    entropy, energy = np.full((2, n, n), np.nan), np.full((2, n, n), np.nan)
    examples, not_moved, single = {}, [], {}  # single: phase -> (L, L, n_models) member correlations
    for i, s in enumerate(lengths):
        for j, t in enumerate(lengths):
            video = gaussian_noise(n_frames, s, t, seed + 1000 * i + j, shape=shape)
            truths = [video, phase_inverted(video)][: len(phases)]
            recons = []
            for p, truth in enumerate(truths):
                r = from_predicted(truth)
                recons.append(r.video)
                corr[p, i, j] = r.video_correlation
                skip = int(r.params["correlation_skip"])  # scored as reconstruct scores r.video_correlation
                if inverted:
                    twin[p, i, j] = video_correlation(truths[1 - p], r.video, evaluation, skip)
                if r.model_videos is not None and len(r.model_videos) > 1:
                    sigma = float(r.params.get("smooth_sigma", 0.5))
                    g = ensembling_gain(r.model_videos, truth, evaluation, sigma, skip)
                    gain[p, i, j] = np.nan if g["gain"] is None else g["gain"]
                    single.setdefault(p, np.full((n, n, len(g["single"])), np.nan))[i, j] = [
                        np.nan if c is None else c for c in g["single"]
                    ]
                    if g["not_moved"]:
                        not_moved.append({"spatial": s, "temporal": t, "phase": phases[p], "models": g["not_moved"]})
                if i == j:
                    examples[f"{'inverted_' if p else ''}s{s:g}_t{t:g}"] = np.stack([truth, r.video])
            if inverted:
                pair[i, j] = video_correlation(recons[0], recons[1], evaluation, skip)
            for k, v in enumerate((video, recons[0])):
                entropy[k, i, j] = float(np.mean(shannon_entropy(v)))
                energy[k, i, j] = float(np.mean(motion_energy(v)))
    if not_moved:
        log.warning(
            "noise suite: %d reconstruction(s) kept a model at its grey start; left out of the gain", len(not_moved)
        )
    res.save_arrays(
        "noise.npz",
        lengths=np.asarray(lengths),
        video_correlation=corr[0],
        entropy_truth=entropy[0],
        entropy_reconstruction=entropy[1],
        motion_energy_truth=energy[0],
        motion_energy_reconstruction=energy[1],
        ensembling_gain=gain[0],
        **{f"single_model_video_correlation{'_inverted' if p else ''}": v for p, v in single.items()},
        **(
            {
                "video_correlation_inverted": corr[1],
                "video_correlation_with_twin": twin,
                "reconstruction_pair_correlation": pair,
                "ensembling_gain_inverted": gain[1],
            }
            if inverted
            else {}
        ),
        **examples,
    )

    def mean(a):
        return float(np.nanmean(a)) if np.isfinite(a).any() else None

    res.metrics.update(
        {
            "video_correlation": corr[0].tolist(),
            "lengths": lengths,
            "mean_video_correlation": float(np.nanmean(corr[0])),
            "phase_inverted": inverted,
            "ensembling_gain": gain[0].tolist(),
            "mean_ensembling_gain": mean(gain),
            "models_not_moved": not_moved,
        }
    )
    if inverted:
        res.metrics.update(
            {
                "video_correlation_inverted": corr[1].tolist(),
                "mean_video_correlation_inverted": mean(corr[1]),
                "video_correlation_with_twin": {"original": twin[0].tolist(), "inverted": twin[1].tolist()},
                "reconstruction_pair_correlation": pair.tolist(),
                "mean_reconstruction_pair_correlation": mean(pair),
                "ensembling_gain_inverted": gain[1].tolist(),
            }
        )
    return corr[0]


def _noise_figure(metrics: dict):
    """``noise_suite.png`` from the noise suite's metrics."""
    from neurocine.v1.plotting import plot_noise_suite

    def table(key):
        value = metrics.get(key)
        return None if value is None else np.asarray(value, dtype=float)

    return plot_noise_suite(
        metrics["lengths"],
        table("video_correlation"),
        inverted=table("video_correlation_inverted"),
        gain=table("ensembling_gain"),
        gain_inverted=table("ensembling_gain_inverted"),
    )


def _grating_axes(grating_suite, sfs, tfs, dirs):
    """The requested spatial/temporal frequencies and directions, defaulting to :func:`grating_suite`'s."""
    import inspect

    defaults = {k: v.default for k, v in inspect.signature(grating_suite).parameters.items()}
    sfs = [float(x) for x in (sfs if sfs is not None else defaults["spatial_frequencies"])]
    tfs = [float(x) for x in (tfs if tfs is not None else defaults["temporal_frequencies"])]
    dirs = [str(x) for x in (dirs if dirs is not None else defaults["directions"])]
    return sfs, tfs, dirs


def _typical_behaviour(mouse, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The training tier's median behaviour and pupil centre, held constant for ``n_frames`` frames."""
    trials = _spread_trials(mouse, 16)
    beh = np.concatenate([t.behavior for t in trials])
    pup = np.concatenate([t.pupil_center for t in trials])
    return (
        np.repeat(np.median(beh, axis=0, keepdims=True), n_frames, axis=0).astype(np.float32),
        np.repeat(np.median(pup, axis=0, keepdims=True), n_frames, axis=0).astype(np.float32),
    )
