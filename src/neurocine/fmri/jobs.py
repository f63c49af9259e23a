"""fMRI jobs (Wen et al. 2018 and successors): simulate a data set, voxel-wise encoding with CNN layers, feature decoding and identification.

``neurocine fmri simulate --out DATA`` -> :func:`run_fmri_simulate`;
``neurocine fmri encode DATA --out DIR`` -> :func:`run_fmri_encode`;
``neurocine fmri decode DATA --out DIR`` -> :func:`run_fmri_decode`;
``neurocine fmri pretrain DATA --out DIR`` -> :func:`run_fmri_pretrain` (the deep path of
:mod:`neurocine.fmri.models` -- masked brain modelling, contrastive alignment, frame generation, the
Kupershmidt encoder-decoder -- against decode's ridge on the same split; see its docstring);
``neurocine fmri reconstruct DATA --out DIR`` -> :func:`run_fmri_reconstruct` (feature inversion of
decoded features, Shen et al. 2019).
``DATA`` is a folder in the format of :mod:`neurocine.fmri.simulate`
(read and checked by :func:`neurocine.io.fmri.read_fmri_data`); each job writes one result
folder (``summary.json``, arrays, figures, ``report.html``).

Encoding (Wen et al. 2018)
    For every layer: per-frame features of the stimulus (the built-in
    EfficientNet-Lite0 taps, spatial mean pooling, or the Gabor motion-energy
    pyramid as one layer ``"gabor"``), each channel z-scored with the training
    frames' mean and SD, PCA keeping ``pca_fraction`` (99 %) of the training
    frames' variance (fitted on the training frames only), SPM canonical HRF
    convolution **at the frame rate** restarting at every run, then the mean of
    each scan's frames (:func:`~neurocine.fmri.features.scan_regressors`: the
    same forward model the simulation uses). Ridge regression per voxel
    (:class:`~neurocine.models.ridge.RidgeCV`, ``folds`` = 9 contiguous folds,
    penalty per voxel). The layer's cross-validated score of a voxel is the
    held-out explained variance of its best penalty, averaged over folds; the
    **best layer** of a voxel maximises it -- chosen on the training data only,
    never on the test set. The test correlation ``r`` is Pearson's between the
    prediction of the best layer's model and the mean of the test repeats.
    Training runs that show the same segment (``design.npz`` ``train_segment``)
    are averaged first (``average_repeats``).

Noise ceiling (:func:`neurocine.metrics.noise_ceiling`)
    The expected correlation of a perfect model with the mean of the test repeats
    (Hsu et al. 2004; Kay et al. 2013), from the repeats' noise and signal variances.

Banded ridge (``banded=True``; the idea of himalaya's multiple-kernel ridge)
    All layers at once, each layer a band with its own scale
    (:class:`~neurocine.models.ridge.BandedRidgeCV`, on the layers' scan regressors centred and
    scaled to equal mean squared norm): for candidate band weights ``g`` on the simplex (every
    single layer, the uniform mix and ``banded_candidates`` Dirichlet(1) draws) the kernel
    ``K_g = sum_l g_l X_l X_l^T`` is fitted by RidgeCV on its exact feature map; each voxel keeps
    the ``(g, alpha)`` with the best CV score. A voxel's banded best layer is the band with the
    largest share of its training prediction (``<y_l, y> / <y, y>``, the shares sum to 1).

Decoding (generic object decoding, Horikawa & Kamitani 2017)
    Targets: the features of ``layer`` (default the 1280-d ``"embedding"``)
    averaged over each scan's frames, z-scored with the training scans' mean
    and SD. Inputs: the voxels at scans ``t + d`` for ``d`` in ``delays``
    (default 1, 2, 3 scans: the HRF's peak), within the run; test inputs are
    the mean of the test repeats. Ridge per feature (RidgeCV, contiguous folds,
    penalty per feature) on the exact reparametrisation of the voxels by their
    training principal components (all of them: ridge depends on the inputs only
    through inner products, so this equals ridge on the raw voxels, at ``p <= n``).
    Scores on the test scans with every delay inside the run:

    - pairwise identification (the GOD rule, ``fmri.models.pairwise_identification``):
      the share of other test scans whose true features correlate less with the
      decoded vector than the scan's own; n-way top-1 (``nway_top1``; 2- and
      50-way, 100 random candidate sets per scan); errors ``sqrt(p (1 - p) / n)``
      over the ``n`` test scans.
    - category identification: the decoded vector against category-average
      features (the mean over the library and training frames of each category,
      i.e. each source movie/photo), ``identification_with_categories``.
    - classifier n-way (MinD-Video's semantic metric, with the built-in ImageNet
      classifier standing in for their ViT; only for ``layer="embedding"``): the
      decoded embedding, multiplied by one factor that gives the decoded vectors
      the mean norm of the training targets (undoing the ridge shrinkage, as a
      generated frame has full contrast) and put back in raw units, goes through
      the network's own ``fc`` head -> softmax; the ground-truth class is the top class of the
      true frames of the scan (mean of their softmax); a trial draws ``n - 1``
      other classes at random among the 1000 and is correct when the ground-truth
      class has the highest decoded probability; 100 trials per scan.
    - retrieval reconstruction: the candidate (library frames and the middle
      frames of the training scans; never a test frame) whose features correlate
      most with the decoded vector; SSIM, PSNR and pixel correlation of the
      retrieved against the true middle frame (:mod:`neurocine.metrics`), with
      the same for a random candidate (chance).
"""

from __future__ import annotations

import csv
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.fmri.features import log_activations, scan_regressors, stimulus_features
from neurocine.io.fmri import FMRIData, read_fmri_data, run_slices
from neurocine.io.results import JobResult, checkpoint_folder
from neurocine.metrics import (
    classifier_nway_accuracy,
    column_correlations,
    frame_correlations,
    identification_with_categories,
    noise_ceiling,
    nway_top1,
    pairwise_identification,
    psnr,
    ssim,
)
from neurocine.metrics.identification import pairwise_p_value, unit_rows
from neurocine.report.html import JobFolder
from neurocine.runtime import progress, progress_bar
from neurocine.validation import check_int

__all__ = [
    "DECODE_ALPHAS",
    "ENCODE_ALPHAS",
    "ENCODER_TRAINING",
    "run_fmri_decode",
    "run_fmri_encode",
    "run_fmri_pretrain",
    "run_fmri_reconstruct",
    "run_fmri_simulate",
]

#: Default penalty grid of the encoding ridge (PCA components of z-scored features).
ENCODE_ALPHAS = np.logspace(-1, 7, 17)
#: Default penalty grid of the decoding ridge (voxel principal components).
DECODE_ALPHAS = np.logspace(0, 8, 17)
_FEATURE_KINDS = ("efficientnet", "gabor")
#: Training settings of ``fmri pretrain``'s :class:`~neurocine.fmri.models.VideoFMRIEncoder`: AdamW at a
#: constant 1e-3 with weight decay 0.01, stopped 5 epochs after the best validation loss.
ENCODER_TRAINING: dict[str, Any] = {"learning_rate": 1e-3, "lr_step_epochs": None, "weight_decay": 1e-2, "patience": 5}


# --------------------------------------------------------------------------- statistics


def _binomial(p: float | None, n: int) -> float | None:
    if p is None or not np.isfinite(p):
        return None
    return float(math.sqrt(max(p * (1 - p), 0.0) / max(n, 1)))


# --------------------------------------------------------------------------- option checks


def _check_alphas(alphas: Any, default: np.ndarray) -> np.ndarray:
    if alphas is None:
        return default
    if isinstance(alphas, str):
        try:
            alphas = [float(v) for v in alphas.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--alphas: got {alphas!r}; expected comma-separated positive numbers") from None
    a = np.atleast_1d(np.asarray(alphas, dtype=np.float64))
    if a.ndim != 1 or a.size == 0 or not np.isfinite(a).all() or (a <= 0).any():
        raise InputError(f"--alphas: got {alphas!r}; expected positive penalties")
    return a


def _layer_list(layers: Any, features: str) -> list[str]:
    from neurocine.features.deep import DEFAULT_LAYERS

    if layers is None:
        return ["gabor"] if features == "gabor" else list(DEFAULT_LAYERS)
    if isinstance(layers, str):
        layers = [v.strip() for v in layers.split(",") if v.strip()]
    out = [str(v) for v in layers]
    if not out or len(set(out)) != len(out):
        raise InputError(f"--layers: got {layers!r}; expected distinct layer names")
    if features == "gabor" and out != ["gabor"]:
        raise InputError(f"--layers: got {out}; with --features gabor the only layer is 'gabor'")
    return out


def _check_fraction(name: str, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not 0 < float(value) <= 1
    ):
        raise InputError(f"{name}: got {value!r}; expected a number in (0, 1]")
    return float(value)


def _check_seed(seed: Any) -> int:
    if seed is None or isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError(f"--seed: got {seed!r}; expected a non-negative integer")
    return int(seed)


# --------------------------------------------------------------------------- shared steps


@dataclass
class _Training:
    """The training scans used by encode/decode (repeats averaged or not)."""

    Y: np.ndarray  # (n, V)
    frames: np.ndarray  # (n * k,) indices into stimulus_train
    runs: np.ndarray  # (n,) run label
    scans: np.ndarray  # (n,) index of the (first) presentation's scan
    n_averaged: int  # presentations averaged per scan (1: none)


def _training_scans(data: FMRIData, average_repeats: bool) -> _Training:
    k = data.frames_per_scan
    n = data.n_scans_train
    runs = data.train_run if data.train_run is not None else np.zeros(n, dtype=np.int64)
    slices = run_slices(runs, n)
    if not average_repeats or data.train_segment is None:
        return _Training(data.fmri_train, np.arange(n * k), runs, np.arange(n), 1)
    seg = data.train_segment
    groups: dict[int, list[slice]] = {}
    for s in slices:
        labels = np.unique(seg[s])
        if labels.size != 1:
            raise InputError(
                f"{data.folder / 'design.npz'}: run starting at scan {s.start} shows segments "
                f"{labels.tolist()[:5]}; expected one train_segment per run"
            )
        groups.setdefault(int(labels[0]), []).append(s)
    Y, frames, new_runs, scans = [], [], [], []
    n_avg = []
    for g, (label, runs_of) in enumerate(groups.items()):
        lengths = {s.stop - s.start for s in runs_of}
        if len(lengths) != 1:
            raise InputError(
                f"{data.folder / 'design.npz'}: segment {label} is shown in runs of "
                f"{sorted(lengths)} scans; expected repeats of equal length"
            )
        Y.append(np.mean([data.fmri_train[s] for s in runs_of], axis=0))
        first = runs_of[0]
        frames.append(np.arange(first.start * k, first.stop * k))
        new_runs.append(np.full(first.stop - first.start, g))
        scans.append(np.arange(first.start, first.stop))
        n_avg.append(len(runs_of))
    return _Training(
        np.concatenate(Y).astype(np.float64),
        np.concatenate(frames),
        np.concatenate(new_runs),
        np.concatenate(scans),
        int(max(n_avg)),
    )


def _zscore(train: np.ndarray, *others: np.ndarray):
    mu = train.mean(0)
    sd = train.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    return [(x - mu) / sd for x in (train,) + others], mu, sd


def _rank_correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    """Spearman's correlation of two label vectors (None when either is constant)."""
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None
    return float(spearmanr(a, b)[0])


def _truth_layers(data: FMRIData, layers: list[str]) -> tuple[np.ndarray | None, str | None]:
    """The true layer of every voxel as an index into ``layers`` (-1: a layer not fitted)."""
    if data.truth is None or "true_layer" not in data.truth:
        return None, None
    names = [str(v) for v in data.truth["layers"]]
    true = np.asarray(data.truth["true_layer"], dtype=np.int64)
    mapping = np.array([layers.index(n) if n in layers else -1 for n in names])
    missing = [n for n in names if n not in layers]
    note = f"true layers {missing} were not fitted" if missing else None
    if (true < 0).any():
        note = (note + "; " if note else "") + f"{int((true < 0).sum())} voxels carry no signal (not scored)"
    return np.where(true >= 0, mapping[np.clip(true, 0, None)], -1), note


# --------------------------------------------------------------------------- simulate


def run_fmri_simulate(
    out: str | os.PathLike, *, figures: bool = True, device: str = "auto", batch_size: int = 32, **options: Any
) -> JobResult:
    """Write the built-in simulated fMRI data set (``neurocine fmri simulate --out DATA``).

    Keywords are those of :func:`neurocine.fmri.simulate.simulate_fmri` (``n_voxels``, ``tr``, ``seed``,
    ``n_segments``, ``segment_scans``, ``snr``, ``easy``, ...). The folder holds the scanner's files
    (:data:`neurocine.io.fmri.SCANNER_FILES`), the ground truth ``truth.npz`` (which the analysis reads only
    to score) and, as every job's result folder, ``summary.json`` (metrics: shapes, voxels per layer, median
    noise ceilings; for the default simulator also ``true_layer`` and ``noise_ceiling`` of every voxel),
    figures (example frames, the planted layer map) and ``report.html``.
    """
    from neurocine.fmri.simulate import SIMULATION_DEFAULTS, check_simulation_options, write_fmri_data

    unknown = sorted(set(options) - set(SIMULATION_DEFAULTS) - {"input_size"})
    if unknown:
        raise InputError(
            f"{unknown[0]}: unknown option of fmri simulate; expected one of "
            f"{', '.join(sorted(SIMULATION_DEFAULTS))}, input_size, device, batch_size"
        )
    params = {**SIMULATION_DEFAULTS, **options, "device": device, "batch_size": batch_size}
    check_simulation_options({k: v for k, v in params.items() if k in SIMULATION_DEFAULTS})
    with JobFolder(out, params, job="fmri simulate") as res:
        root = res.path("info.json").parent
        summary = write_fmri_data(root, device=device, batch_size=batch_size, **options)
        seconds = summary.pop("seconds")
        res.timings.update({f"{k}_seconds": v for k, v in seconds.items()})
        res.metrics.update(summary)
        summary["out"] = str(out)
        if figures:
            from neurocine.fmri.plotting import plot_frame_pairs, plot_layer_map

            data = read_fmri_data(root)
            k = data.frames_per_scan
            n_show = min(8, data.n_scans_test)
            scans = np.linspace(0, data.n_scans_test - 1, n_show).round().astype(int)
            tr_scans = np.linspace(0, data.n_scans_train - 1, n_show).round().astype(int)
            res.save_figure(
                "stimulus_examples.png",
                plot_frame_pairs(
                    {
                        "train": np.asarray(data.stimulus_train[tr_scans * k + k // 2]),
                        "test": np.asarray(data.stimulus_test[scans * k + k // 2]),
                    },
                    title="stimulus frames (middle frame of some scans)",
                ),
                caption="The middle frame of some training (top) and test (bottom) scans of the simulated "
                "stimulus movie: what the simulated voxels respond to.",
            )
            true_layer = np.asarray(data.truth["true_layer"])
            names = [str(v) for v in data.truth["layers"]]
            if (true_layer < 0).any():  # voxels without signal get a colour of their own
                true_layer = np.where(true_layer < 0, len(names), true_layer)
                names = names + ["no signal"]
            res.save_figure(
                "true_layer_map.png",
                plot_layer_map(
                    true_layer,
                    names,
                    position=data.position,
                    grid_shape=data.grid_shape,
                    title="planted layer (region) per voxel",
                    label="true layer",
                ),
                caption="The region planted in each simulated voxel, named by the network layer of the same rank "
                "that an encoding model should find best (the easy simulator plants that very layer), voxels laid "
                "out on their grid, one colour per layer.",
            )
        hidden = summary.get("simulator") == "hidden"
        res.headline(
            f"{summary.get('n_voxels', '?')} voxels simulated in {len(summary['layers'])} regions, with a known "
            f"region and noise ceiling (median {summary['median_ceiling']:.2f}) for each.",
            ran="fMRI responses simulated from features the analysis never sees (Gabor motion energy, a random "
            "CNN), with voxel-specific HRFs, AR(1) noise, drift and motion spikes."
            if hidden
            else "fMRI responses simulated as noisy linear readouts of EfficientNet-Lite0 layers of a stimulus movie "
            "(easy).",
            figure="true_layer_map.png" if figures else "",
        )
        result = res.summary()
    return JobResult(res.out, result)


# --------------------------------------------------------------------------- encode


def run_fmri_encode(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    features: str = "efficientnet",
    layers: Any = None,
    pca_fraction: float = 0.99,
    log_features: bool = True,
    folds: int = 9,
    alphas: Any = None,
    banded: bool = False,
    banded_candidates: int = 20,
    average_repeats: bool = True,
    recompute_features: bool = False,
    input_size: Any = None,
    backend: str = "numpy",
    device: str = "auto",
    batch_size: int = 32,
    seed: int = 0,
    figures: bool = True,
) -> JobResult:
    """Voxel-wise encoding with CNN layers (or Gabor motion energy): best layer per voxel, test r, noise ceiling.

    Parameters
    ----------
    data : path
        fMRI data folder (:mod:`neurocine.fmri.simulate`).
    out : path
        Result folder.
    features : {"efficientnet", "gabor"}, default "efficientnet"
        The built-in CNN's taps (each a layer) or the Gabor motion-energy pyramid (one layer, ``"gabor"``;
        temporal frequencies above the stimulus Nyquist rate are dropped).
    layers : list of str or comma-separated str, optional
        CNN taps; default :data:`~neurocine.features.deep.DEFAULT_LAYERS`.
    pca_fraction : float, default 0.99
        Share of the training frames' variance each layer's PCA keeps.
    log_features : bool, default True
        Log-transform the CNN activations (:func:`~neurocine.fmri.features.log_activations`) before the
        z-scoring and PCA, as Wen et al. (2018); the Gabor features are log-compressed already.
    folds : int, default 9
        Contiguous cross-validation folds of the ridge (penalty per voxel) and of the layer choice.
    alphas : sequence of float, optional
        Penalties; default :data:`ENCODE_ALPHAS`.
    banded : bool, default False
        Also fit the banded ridge across layers (module notes).
    banded_candidates : int, default 20
        Random band weightings tried besides the single layers and the uniform mix.
    average_repeats : bool, default True
        Average training runs that show the same segment.
    recompute_features : bool, default False
        Ignore a matching ``features.npz`` cache in the data folder.
    input_size : (int, int), optional
        CNN input; default the frame size (longer side capped at 224).
    backend, device : str
        RidgeCV back end (``"numpy"``/``"torch"``) and the torch device (ridge and CNN).
    batch_size : int, default 32
        CNN frames per batch.
    seed : int, default 0
        Random band weightings.
    figures : bool, default True

    Returns
    -------
    JobResult
        The result folder (``.out``, ``.report``, ``.summary``); indexing reads ``summary.json``.
        The ``summary.json`` content. Metrics: ``median_test_r``, ``median_ceiling``,
        ``median_fraction_of_ceiling`` (median over voxels of r / ceiling, voxels with ceiling > 0.1),
        ``best_layer_counts`` and, when the truth is known, ``best_layer_accuracy`` (share of voxels whose
        best layer is their planted layer) with ``best_layer_accuracy_per_layer``; with ``banded``,
        ``banded_median_test_r`` and ``banded_best_layer_accuracy``.
    """
    from neurocine.features.fmri import VariancePCA
    from neurocine.models.ridge import BandedRidgeCV, RidgeCV

    if features not in _FEATURE_KINDS:
        raise InputError(f"--features: got {features!r}; expected one of {', '.join(_FEATURE_KINDS)}")
    layer_names = _layer_list(layers, features)
    frac = _check_fraction("--pca-fraction", pca_fraction)
    folds = check_int("--folds", folds, minimum=2)
    alpha_grid = _check_alphas(alphas, ENCODE_ALPHAS)
    seed = _check_seed(seed)
    banded_candidates = check_int("--banded-candidates", banded_candidates, minimum=0)
    _check_backend(backend)
    ds = read_fmri_data(data)
    params = {
        "data": str(data),
        "features": features,
        "layers": layer_names,
        "pca_fraction": frac,
        "log_features": bool(log_features),
        "folds": folds,
        "alphas": alpha_grid,
        "banded": bool(banded),
        "banded_candidates": banded_candidates,
        "average_repeats": bool(average_repeats),
        "recompute_features": bool(recompute_features),
        "input_size": input_size,
        "backend": backend,
        "device": device,
        "seed": seed,
    }
    training = _training_scans(ds, average_repeats)
    if training.Y.shape[0] < 2 * folds:
        raise InputError(
            f"{ds.folder / 'fmri_train.npy'}: {training.Y.shape[0]} training scans are too few for "
            f"--folds {folds}; expected at least {2 * folds}"
        )
    if features == "efficientnet" and banded and len(layer_names) < 2:
        raise InputError("--banded: needs at least two layers")
    with JobFolder(out, params, job="fmri encode") as res:
        feats = _timed_features(
            res, ds, features, layer_names, ["train", "test"], recompute_features, input_size, device, batch_size
        )
        k, fps, tr = ds.frames_per_scan, ds.fps, ds.tr
        Y = training.Y
        ybar = ds.fmri_test.mean(0).astype(np.float64)
        ceiling = noise_ceiling(ds.fmri_test) if ds.fmri_test.shape[0] >= 2 else np.full(ds.n_voxels, np.nan)
        n_l, n_vox = len(layer_names), ds.n_voxels
        cv = np.empty((n_l, n_vox))
        test_r = np.empty((n_l, n_vox))
        alpha = np.empty((n_l, n_vox))
        n_comp = []
        blocks_tr, blocks_te = [], []
        t0 = time.perf_counter()
        for li, layer in enumerate(progress(layer_names, desc="fmri encode layers", unit="layer")):
            f_tr = feats["train"][layer][training.frames].astype(np.float64)
            f_te = feats["test"][layer].astype(np.float64)
            if log_features and features != "gabor":
                f_tr, f_te = log_activations(f_tr), log_activations(f_te)
            (z_tr, z_te), _, _ = _zscore(f_tr, f_te)
            pca = VariancePCA(frac).fit(z_tr)
            n_comp.append(int(pca.n_components_))
            X_tr = scan_regressors(pca.transform(z_tr), fps, tr, k, training.runs)
            X_te = scan_regressors(pca.transform(z_te), fps, tr, k)
            model = RidgeCV(alphas=alpha_grid, cv=folds, backend=backend, device=device).fit(X_tr, Y)
            cv[li] = model.cv_scores_[model.best_alpha_index_, np.arange(n_vox)]
            alpha[li] = model.alpha_
            test_r[li] = column_correlations(model.predict(X_te), ybar)
            if banded:
                mu = X_tr.mean(0)
                scale = math.sqrt(((X_tr - mu) ** 2).sum(1).mean()) or 1.0
                blocks_tr.append((X_tr - mu) / scale)
                blocks_te.append((X_te - mu) / scale)
        res.timings["ridge_seconds"] = time.perf_counter() - t0
        best = cv.argmax(0)
        r_best = test_r[best, np.arange(n_vox)]
        ok = np.isfinite(ceiling) & (ceiling > 0.1)
        metrics: dict[str, Any] = {
            "median_test_r": float(np.median(r_best)),
            "mean_test_r": float(np.mean(r_best)),
            "median_ceiling": float(np.nanmedian(ceiling)) if np.isfinite(ceiling).any() else None,
            "median_fraction_of_ceiling": float(np.median(r_best[ok] / ceiling[ok])) if ok.any() else None,
            "median_cv_score": float(np.median(cv[best, np.arange(n_vox)])),
            "best_layer_counts": {n: int((best == i).sum()) for i, n in enumerate(layer_names)},
            "median_test_r_per_layer": {n: float(np.median(test_r[i])) for i, n in enumerate(layer_names)},
            "pca_components": dict(zip(layer_names, n_comp)),
            "n_voxels": n_vox,
            "n_training_scans": int(Y.shape[0]),
            "n_test_scans": ds.n_scans_test,
            "n_test_repeats": int(ds.fmri_test.shape[0]),
            "training_presentations_averaged": training.n_averaged,
        }
        true_idx, note = _truth_layers(ds, layer_names)
        arrays = {
            "layers": np.asarray(layer_names),
            "cv_score": cv,
            "test_r": test_r,
            "alpha": alpha,
            "best_layer": best,
            "best_test_r": r_best,
            "ceiling": ceiling,
        }
        if true_idx is not None and (true_idx >= 0).any():
            known = true_idx >= 0
            metrics["best_layer_accuracy"] = float((best[known] == true_idx[known]).mean())
            metrics["best_layer_accuracy_per_layer"] = {
                n: float((best[true_idx == i] == i).mean()) for i, n in enumerate(layer_names) if (true_idx == i).any()
            }
            metrics["best_layer_rank_correlation"] = _rank_correlation(best[known], true_idx[known])
            metrics["n_scored_voxels"] = int(known.sum())
            metrics["median_test_r_signal_voxels"] = float(np.median(r_best[known]))
            if "ceiling" in ds.truth:
                tc = np.asarray(ds.truth["ceiling"], dtype=np.float64)
                metrics["median_true_ceiling"] = float(np.median(tc))
                good = tc > 0.1
                metrics["median_fraction_of_true_ceiling"] = (
                    float(np.median(r_best[good] / tc[good])) if good.any() else None
                )
            arrays["true_layer"] = true_idx
        elif true_idx is not None:
            metrics["best_layer_accuracy"] = None
        if note:
            res.extra["truth_note"] = note
        if banded:
            t0 = time.perf_counter()
            band = BandedRidgeCV(
                bands=[b.shape[1] for b in blocks_tr],
                n_candidates=banded_candidates,
                alphas=alpha_grid,
                cv=folds,
                backend=backend,
                device=device,
                random_state=seed,
            ).fit(np.hstack(blocks_tr), Y)
            res.timings["banded_seconds"] = time.perf_counter() - t0
            r_band = column_correlations(band.predict(np.hstack(blocks_te)), ybar)
            band_best = band.share_.argmax(1)
            metrics["banded_median_test_r"] = float(np.median(r_band))
            metrics["banded_median_gain_over_best_layer"] = float(np.median(r_band - r_best))
            if "true_layer" in arrays:
                known = true_idx >= 0
                metrics["banded_best_layer_accuracy"] = float((band_best[known] == true_idx[known]).mean())
            arrays.update(
                banded_test_r=r_band,
                banded_cv_score=band.cv_score_,
                banded_share=band.share_,
                banded_weights=band.weights_,
                banded_best_layer=band_best,
            )
        res.metrics.update(metrics)
        res.save_arrays("encoding.npz", **arrays)
        _write_layer_table(res.path("layers.csv"), layer_names, n_comp, best, cv, test_r, true_idx)
        if figures:
            from neurocine.fmri.plotting import plot_layer_map, plot_r_histogram

            truth_fig = arrays.get("true_layer")
            if truth_fig is not None and (truth_fig < 0).any():
                truth_fig = None
            res.save_figure(
                "layer_map.png",
                plot_layer_map(best, layer_names, position=ds.position, grid_shape=ds.grid_shape, true_layer=truth_fig),
                caption="The layer whose features predict each voxel best (chosen by cross-validation on the "
                "training runs)"
                + (
                    ", beside the planted (true) layer and the share of each true layer given each estimate. "
                    "The two maps should match and the matrix be diagonal."
                    if truth_fig is not None
                    else ". Early visual areas should prefer early layers."
                ),
            )
            shown = ceiling if np.isfinite(ceiling).any() else None
            res.save_figure(
                "r_histogram.png",
                plot_r_histogram(r_best, shown),
                caption="Test-set correlation of each voxel's predicted and measured response"
                + (", beside the noise ceiling (the best any model can do)." if shown is not None else ".")
                + " Most voxels should sit well above 0.",
            )
        res.headline(
            f"Best layer right for {metrics['best_layer_accuracy']:.1%} of voxels; median test correlation "
            f"{metrics['median_test_r']:.3f} against a median noise ceiling of {metrics['median_ceiling']:.3f}."
            if metrics.get("best_layer_accuracy") is not None and metrics.get("median_ceiling") is not None
            else f"Median test correlation {metrics['median_test_r']:.3f} over voxels.",
            ran=f"Voxel-wise ridge encoding models from each of {len(layer_names)} network layers; the best layer "
            "per voxel chosen by cross-validation.",
            figure="layer_map.png" if figures else "",
        )
        result = res.summary()
    return JobResult(res.out, result)


def _write_layer_table(
    path: Path,
    names: list[str],
    n_comp: list[int],
    best: np.ndarray,
    cv: np.ndarray,
    test_r: np.ndarray,
    true_idx: np.ndarray | None,
) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        header = ["layer", "pca_components", "voxels_best", "median_cv_score", "median_test_r"]
        if true_idx is not None:
            header += ["true_voxels", "recovered_share"]
        w.writerow(header)
        for i, n in enumerate(names):
            row = [n, n_comp[i], int((best == i).sum()), f"{np.median(cv[i]):.4f}", f"{np.median(test_r[i]):.4f}"]
            if true_idx is not None:
                mine = true_idx == i
                row += [int(mine.sum()), f"{(best[mine] == i).mean():.4f}" if mine.any() else ""]
            w.writerow(row)


# --------------------------------------------------------------------------- decode


def _delayed(Y: np.ndarray, runs: np.ndarray, delays: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs ``[Y(t + d) for d in delays]`` for every scan t whose delays stay inside its run."""
    rows = []
    top = max(delays)
    for s in run_slices(runs, len(Y)):
        rows.extend(range(s.start, s.stop - top))
    idx = np.asarray(rows, dtype=np.int64)
    if idx.size == 0:
        return np.zeros((0, Y.shape[1] * len(delays))), idx
    return np.hstack([Y[idx + d] for d in delays]), idx


def _scan_mean(f: np.ndarray, k: int) -> np.ndarray:
    return f.reshape(len(f) // k, k, -1).mean(1)


def _grey(frames: np.ndarray) -> np.ndarray:
    arr = np.asarray(frames, dtype=np.float64)
    return arr.mean(-1) if arr.ndim == 4 else arr


def _frame_metrics(truth: np.ndarray, other: np.ndarray) -> dict[str, float]:
    r = frame_correlations(truth, other)
    return {
        "ssim": ssim(truth, other),
        "psnr": psnr(truth, other),
        "pixel_r": float(np.nanmean(r)) if np.isfinite(r).any() else float("nan"),
    }


_FC_HEAD: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _fc_head() -> tuple[np.ndarray, np.ndarray]:
    """Weights (1000, 1280) and bias (1000,) of the built-in network's ImageNet head (loaded once per process)."""
    if "lite0" not in _FC_HEAD:
        from neurocine.features.deep import efficientnet_lite0

        fc = efficientnet_lite0().fc
        _FC_HEAD["lite0"] = (
            fc.weight.detach().cpu().numpy().astype(np.float64),
            fc.bias.detach().cpu().numpy().astype(np.float64),
        )
    return _FC_HEAD["lite0"]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(1, keepdims=True)


def _parse_delays(delays: Any) -> tuple[int, ...]:
    if isinstance(delays, str):
        try:
            delays = [int(v) for v in delays.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--delays: got {delays!r}; expected comma-separated integers (scans)") from None
    try:
        delay_t = tuple(int(d) for d in delays)
    except (TypeError, ValueError):
        raise InputError(f"--delays: got {delays!r}; expected integers (scans)") from None
    if not delay_t or min(delay_t) < 0 or len(set(delay_t)) != len(delay_t):
        raise InputError(f"--delays: got {delays!r}; expected distinct integers >= 0")
    return delay_t


@dataclass
class _DecodeDesign:
    """Inputs and rows of the decoding jobs (decode, pretrain): delayed voxels of training and test scans."""

    training: _Training
    X_tr: np.ndarray  # (n_tr, V * len(delays)) voxels at t + d, d in delays
    idx_tr: np.ndarray  # (n_tr,) training scan (row of training.Y) of each sample
    X_te: np.ndarray  # (n_te, V * len(delays)) from the mean of the test repeats
    idx_te: np.ndarray  # (n_te,) test scan of each sample
    y_test: np.ndarray  # (n_scans_test, V) mean of the test repeats


def _decode_design(ds: FMRIData, delay_t: tuple[int, ...], folds: int, average_repeats: bool) -> _DecodeDesign:
    training = _training_scans(ds, average_repeats)
    X_tr, idx_tr = _delayed(training.Y, training.runs, delay_t)
    y_test = ds.fmri_test.mean(0).astype(np.float64)
    X_te, idx_te = _delayed(y_test, np.zeros(ds.n_scans_test, np.int64), delay_t)
    if len(idx_tr) < 2 * folds:
        raise InputError(
            f"--delays: with delays {list(delay_t)} only {len(idx_tr)} training scans keep every delay "
            f"inside their run; expected at least {2 * folds} (--folds {folds})"
        )
    if len(idx_te) < 3:
        raise InputError(
            f"{ds.folder / 'fmri_test.npy'}: {ds.n_scans_test} test scans leave {len(idx_te)} with "
            f"every delay {list(delay_t)}; expected at least 3"
        )
    return _DecodeDesign(training, X_tr, idx_tr, X_te, idx_te, y_test)


def _decode_targets(ds: FMRIData, feats: dict, layer: str, training: _Training):
    """Scan-mean features of ``layer``, z-scored with the training scans: (z_train, z_test, mean, sd)."""
    k = ds.frames_per_scan
    f_train = _scan_mean(feats["train"][layer][training.frames].astype(np.float64), k)  # (n_u, F)
    f_test = _scan_mean(feats["test"][layer].astype(np.float64), k)
    (z_train, z_test), mu, sd = _zscore(f_train, f_test)
    return z_train, z_test, mu, sd


def _timed_features(
    res, ds: FMRIData, kind: str, layers: list[str], splits: list[str], recompute: bool, input_size, device, batch_size
) -> dict:
    """:func:`stimulus_features` of ``splits``, its time and description recorded in ``res``."""
    t0 = time.perf_counter()
    feats, fdesc = stimulus_features(
        ds, kind, layers, splits, recompute=recompute, input_size=input_size, device=device, batch_size=batch_size
    )
    res.timings["features_seconds"] = time.perf_counter() - t0
    res.extra["features"] = fdesc
    return feats


def _decoding_features(
    ds: FMRIData, res, layer: str, training: _Training, recompute: bool, input_size: Any, device: str, batch_size: int
):
    """The built-in CNN's ``layer`` features of every split (timed and described in ``res``) and
    :func:`_decode_targets` of them: ``(feats, (z_train, z_test, mean, sd))``."""
    splits = ["train", "test"] + (["library"] if ds.library_frames is not None else [])
    feats = _timed_features(res, ds, "efficientnet", [layer], splits, recompute, input_size, device, batch_size)
    return feats, _decode_targets(ds, feats, layer, training)


def _ridge_decoder(
    X_tr: np.ndarray, Y_tr: np.ndarray, X_te: np.ndarray, alphas: np.ndarray, folds: int, backend: str, device: str
):
    """Ridge (RidgeCV, penalty per column of ``Y_tr``) on all training principal components of the inputs.

    Returns the test prediction, the fitted RidgeCV and the PCA.
    """
    from neurocine.features.fmri import VariancePCA
    from neurocine.models.ridge import RidgeCV

    pca = VariancePCA(1.0).fit(X_tr)
    model = RidgeCV(alphas=alphas, cv=folds, backend=backend, device=device).fit(pca.transform(X_tr), Y_tr)
    return model.predict(pca.transform(X_te)), model, pca


def _identification_scores(
    decoded: np.ndarray, true: np.ndarray, n_way: int, trials: int, rng: np.random.Generator
) -> tuple[dict, list, np.ndarray]:
    """Pairwise (GOD rule) and n-way top-1 (2 and ``n_way``) scores: metrics, table rows, per-sample pairwise."""
    n = len(true)
    metrics: dict[str, Any] = {}
    pw = pairwise_identification(decoded, true)
    rows = []  # (name, accuracy, error, chance)
    metrics["pairwise_identification"] = float(pw.mean())
    metrics["pairwise_identification_error"] = _binomial(float(pw.mean()), n)
    rows.append(
        ("pairwise (GOD rule)", metrics["pairwise_identification"], metrics["pairwise_identification_error"], 0.5)
    )
    for m in sorted({2, n_way}):
        key = f"nway{m}_accuracy"
        acc = nway_top1(decoded, true, n_way=m, trials=trials, random_state=rng) if m <= n else None
        metrics[key] = acc
        metrics[key.replace("accuracy", "error")] = _binomial(acc, n)
        rows.append((f"{m}-way top-1 (features)", acc, _binomial(acc, n), 1.0 / m))
    return metrics, rows, pw


def _decode_candidates(
    ds: FMRIData, training: _Training, feats: dict, layer: str, z_train: np.ndarray, mu: np.ndarray, sd: np.ndarray
):
    """Candidates of retrieval and category identification: (z features, frames, categories).

    The training scans (middle frame, scan-mean features) and the library frames; never a test frame.
    """
    k = ds.frames_per_scan
    cand_z = [z_train]
    cand_frames = [np.asarray(ds.stimulus_train[training.frames.reshape(-1, k)[:, k // 2]])]
    cand_cat = [ds.train_category[training.scans] if ds.train_category is not None else np.full(len(z_train), -1)]
    if ds.library_frames is not None:
        cand_z.append((feats["library"][layer].astype(np.float64) - mu) / sd)
        cand_frames.append(np.asarray(ds.library_frames))
        cand_cat.append(ds.library_category if ds.library_category is not None else np.full(len(ds.library_frames), -1))
    return np.concatenate(cand_z), np.concatenate(cand_frames), np.concatenate(cand_cat)


def _category_score(
    decoded: np.ndarray, cz: np.ndarray, ccat: np.ndarray, test_cat: np.ndarray | None
) -> tuple[dict, tuple | None, np.ndarray | None]:
    """Category identification against category-average candidate features: metrics, a table row, per sample.

    The per-sample accuracies cover the samples whose category has candidates (None: no score).
    """
    metrics: dict[str, Any] = {"category_identification": None}
    if test_cat is not None and (ccat >= 0).any():
        cats = np.unique(ccat[ccat >= 0])
        if cats.size >= 2:
            cat_feat = np.stack([cz[ccat == c].mean(0) for c in cats])
            have = np.isin(test_cat, cats)
            if have.any():
                lab = np.searchsorted(cats, test_cat[have])
                per_sample = identification_with_categories(decoded[have], cat_feat, lab)
                acc = float(per_sample.mean())
                metrics["category_identification"] = acc
                metrics["category_identification_error"] = _binomial(acc, int(have.sum()))
                metrics["n_categories"] = int(cats.size)
                return (
                    metrics,
                    (f"category ({cats.size} categories)", acc, metrics["category_identification_error"], 0.5),
                    per_sample,
                )
    return metrics, None, None


def _classifier_scores(
    decoded: np.ndarray,
    z_train: np.ndarray,
    mu: np.ndarray,
    sd: np.ndarray,
    test_embedding: np.ndarray,
    k: int,
    idx_te: np.ndarray,
    n_way: int,
    trials: int,
    rng: np.random.Generator,
) -> tuple[dict, list]:
    """MinD-Video's classifier n-way scores of decoded embeddings (module notes): metrics and table rows."""
    n = len(decoded)
    metrics: dict[str, Any] = {}
    rows = []
    W, b = _fc_head()
    # one factor undoing the ridge shrinkage: decoded vectors get the training targets' mean norm
    gain = float(np.linalg.norm(z_train, axis=1).mean() / max(np.linalg.norm(decoded, axis=1).mean(), 1e-12))
    probs_dec = _softmax((decoded * gain * sd + mu) @ W.T + b)
    metrics["classifier_shrinkage_gain"] = gain
    frame_probs = _softmax(test_embedding.astype(np.float64) @ W.T + b)
    true_class = _scan_mean(frame_probs, k)[idx_te].argmax(1)
    for m in sorted({2, n_way}):
        key = f"classifier_nway{m}_accuracy"
        acc = classifier_nway_accuracy(probs_dec, true_class, n_way=m, trials=trials, random_state=rng)
        metrics[key] = acc
        metrics[key.replace("accuracy", "error")] = _binomial(acc, n)
        rows.append((f"{m}-way top-1 (ImageNet classes)", acc, _binomial(acc, n), 1.0 / m))
    metrics["classifier_top1_match"] = float((probs_dec.argmax(1) == true_class).mean())
    return metrics, rows


def _check_backend(backend: str) -> None:
    """InputError unless ``backend`` is a RidgeCV back end."""
    if backend not in ("numpy", "torch"):
        raise InputError(f"--backend: got {backend!r}; expected 'numpy' or 'torch'")


def _decoding_params(
    data, layer, delay_t, folds, alpha_grid, n_way, trials, average_repeats, recompute_features, input_size, backend
) -> dict[str, Any]:
    """The ``summary.json`` parameters of the decode job, which the pretrain job's ridge baseline shares."""
    return {
        "data": str(data),
        "layer": layer,
        "delays": list(delay_t),
        "folds": folds,
        "alphas": alpha_grid,
        "n_way": n_way,
        "trials": trials,
        "average_repeats": bool(average_repeats),
        "recompute_features": bool(recompute_features),
        "input_size": input_size,
        "backend": backend,
    }


def _check_decoding_options(layer, delays, folds, n_way, trials, alphas, seed) -> tuple:
    """Options of ``fmri decode`` and ``fmri pretrain``, checked: (delays, folds, n_way, trials, alphas, seed)."""
    if not isinstance(layer, str) or not layer:
        raise InputError(f"--layer: got {layer!r}; expected a CNN tap name such as 'embedding'")
    return (
        _parse_delays(delays),
        check_int("--folds", folds, minimum=2),
        check_int("--n-way", n_way, minimum=2),
        check_int("--trials", trials),
        _check_alphas(alphas, DECODE_ALPHAS),
        _check_seed(seed),
    )


def run_fmri_decode(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layer: str = "embedding",
    delays: Any = (1, 2, 3),
    folds: int = 9,
    alphas: Any = None,
    n_way: int = 50,
    trials: int = 100,
    average_repeats: bool = True,
    recompute_features: bool = False,
    input_size: Any = None,
    backend: str = "numpy",
    device: str = "auto",
    batch_size: int = 32,
    seed: int = 0,
    n_examples: int = 8,
    figures: bool = True,
) -> JobResult:
    """Decode CNN features from voxels; identification (pairwise, n-way, category, classifier) and retrieval.

    Parameters
    ----------
    data : path
        fMRI data folder (:mod:`neurocine.fmri.simulate`).
    out : path
        Result folder.
    layer : str, default "embedding"
        CNN tap whose (spatially pooled) features are decoded; the classifier n-way scores need
        ``"embedding"`` (the 1280-d input of the ImageNet head).
    delays : sequence of int or comma-separated str, default (1, 2, 3)
        Scans after the stimulus whose voxels are the inputs (>= 0).
    folds : int, default 9
        Contiguous CV folds (penalty per feature).
    alphas : sequence of float, optional
        Penalties; default :data:`DECODE_ALPHAS`.
    n_way : int, default 50
        The larger n of the n-way scores (2-way is always computed); needs that many test scans.
    trials : int, default 100
        Random candidate sets per scan for the n-way scores.
    average_repeats, recompute_features, input_size, backend, device, batch_size
        As :func:`run_fmri_encode`.
    seed : int, default 0
        n-way candidate draws and the random (chance) retrieval.
    n_examples : int, default 8
        Test scans shown in ``retrieval.png``.
    figures : bool, default True

    Returns
    -------
    JobResult
        The result folder (``.out``, ``.report``, ``.summary``); indexing reads ``summary.json``.
        The ``summary.json`` content. Metrics: ``pairwise_identification``, ``nway2_accuracy``,
        ``nway50_accuracy`` (the ``n_way`` score; None with fewer test scans) each with ``*_error``
        (binomial), ``category_identification``, ``classifier_nway2_accuracy``,
        ``classifier_nway50_accuracy``, ``retrieval_ssim``, ``retrieval_psnr``, ``retrieval_pixel_r``
        (and their ``*_chance``), ``retrieval_category_accuracy``, ``n_test_samples``.
    """
    delay_t, folds, n_way, trials, alpha_grid, seed = _check_decoding_options(
        layer, delays, folds, n_way, trials, alphas, seed
    )
    ds = read_fmri_data(data)
    params = _decoding_params(
        data, layer, delay_t, folds, alpha_grid, n_way, trials, average_repeats, recompute_features, input_size, backend
    )
    params.update(device=device, seed=seed)
    design = _decode_design(ds, delay_t, folds, average_repeats)
    training, idx_tr, idx_te = design.training, design.idx_tr, design.idx_te
    k = ds.frames_per_scan
    rng = np.random.default_rng(seed)
    with JobFolder(out, params, job="fmri decode") as res:
        feats, (z_train, z_test, mu, sd) = _decoding_features(
            ds, res, layer, training, recompute_features, input_size, device, batch_size
        )
        t0 = time.perf_counter()
        decoded, model, pca = _ridge_decoder(
            design.X_tr, z_train[idx_tr], design.X_te, alpha_grid, folds, backend, device
        )
        res.timings["ridge_seconds"] = time.perf_counter() - t0
        true = z_test[idx_te]
        n = len(idx_te)
        metrics: dict[str, Any] = {
            "n_test_samples": n,
            "n_training_samples": int(len(idx_tr)),
            "n_features": int(true.shape[1]),
            "n_voxel_components": int(pca.n_components_),
            "median_feature_cv_score": float(
                np.median(model.cv_scores_[model.best_alpha_index_, np.arange(true.shape[1])])
            ),
            "median_feature_test_r": float(np.median(column_correlations(decoded, true))),
        }
        scores, rows, pw = _identification_scores(decoded, true, n_way, trials, rng)
        metrics.update(scores)
        if n_way == 50 and n < 50:
            res.extra["nway50_note"] = f"only {n} test scans; 50-way needs at least 50"

        # --- candidates: training scans (middle frame, scan-mean features) and the library frames
        cz, cframes, ccat = _decode_candidates(ds, training, feats, layer, z_train, mu, sd)
        test_cat = ds.test_category[idx_te] if ds.test_category is not None else None

        # --- category identification
        cat_metrics, cat_row, _ = _category_score(decoded, cz, ccat, test_cat)
        metrics.update(cat_metrics)
        if cat_row is not None:
            rows.append(cat_row)

        # --- classifier n-way (MinD-Video)
        if layer == "embedding":
            cls_metrics, cls_rows = _classifier_scores(
                decoded, z_train, mu, sd, feats["test"]["embedding"], k, idx_te, n_way, trials, rng
            )
            metrics.update(cls_metrics)
            rows.extend(cls_rows)
        else:
            res.extra["classifier_note"] = "classifier n-way scores need --layer embedding"

        # --- retrieval
        sims = unit_rows(decoded) @ unit_rows(cz).T
        top = sims.argmax(1)
        truth_frames = _grey(np.asarray(ds.stimulus_test[idx_te * k + k // 2]))
        retrieved = _grey(cframes[top])
        random_pick = rng.integers(0, len(cz), size=n)
        got = _frame_metrics(truth_frames, retrieved)
        chance = _frame_metrics(truth_frames, _grey(cframes[random_pick]))
        for key in ("ssim", "psnr", "pixel_r"):
            metrics[f"retrieval_{key}"] = got[key]
            metrics[f"retrieval_{key}_chance"] = chance[key]
        if test_cat is not None and (ccat >= 0).any():
            metrics["retrieval_category_accuracy"] = float((ccat[top] == test_cat).mean())
            metrics["retrieval_category_chance"] = float(np.mean([(ccat == c).mean() for c in test_cat]))
            rows.append(
                (
                    "retrieval: same category",
                    metrics["retrieval_category_accuracy"],
                    _binomial(metrics["retrieval_category_accuracy"], n),
                    metrics["retrieval_category_chance"],
                )
            )
        metrics["n_candidates"] = int(len(cz))
        res.metrics.update(metrics)

        res.save_arrays(
            "decoding.npz",
            decoded=decoded.astype(np.float32),
            true=true.astype(np.float32),
            test_scans=idx_te,
            pairwise=pw,
            retrieved=top,
            candidate_category=ccat,
            alpha=model.alpha_,
            feature_mean=mu.astype(np.float32),
            feature_std=sd.astype(np.float32),
        )
        with open(res.path("identification.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["score", "accuracy", "binomial_error", "chance", "n"])
            for name, acc, err, ch in rows:
                w.writerow(
                    [name, "" if acc is None else f"{acc:.4f}", "" if err is None else f"{err:.4f}", f"{ch:.4f}", n]
                )
        if figures:
            from neurocine.fmri.plotting import plot_frame_pairs, plot_identification

            shown = [r for r in rows if r[1] is not None]
            res.save_figure(
                "identification.png",
                plot_identification(
                    [r[0] for r in shown],
                    [r[1] for r in shown],
                    [r[2] for r in shown],
                    [r[3] for r in shown],
                    title=f"identification from decoded '{layer}' features ({n} test scans)",
                ),
                caption="Accuracy of identifying the scan seen among candidates from the decoded features, "
                "with its binomial error and the chance level (dashed). Bars well above chance mean the "
                "decoded features carry what was seen.",
            )
            pick = np.linspace(0, n - 1, min(n_examples, n)).round().astype(int)
            names = ds.category_names

            def label(c):
                return names[c] if names is not None and 0 <= c < len(names) else str(c)

            titles = [f"scan {idx_te[i]}" + (f"\n{label(test_cat[i])}" if test_cat is not None else "") for i in pick]
            res.save_figure(
                "retrieval.png",
                plot_frame_pairs(
                    {"truth": truth_frames[pick], "retrieved": retrieved[pick]},
                    column_titles=titles,
                    title="retrieval reconstruction: nearest library frame by decoded features",
                ),
                caption="For some test scans, the frame seen (top) and the library frame whose features are "
                "nearest to the decoded ones (bottom). Look for the same category or layout.",
            )
        res.headline(
            f"Pairwise identification {metrics['pairwise_identification']:.3f} (chance 0.5)"
            + (
                f", 50-way {metrics['nway50_accuracy']:.3f} (chance 0.02)"
                if metrics.get("nway50_accuracy") is not None
                else ""
            )
            + ".",
            ran=f"Features of network layer '{layer}' decoded from the voxels and matched against the features "
            f"of {n} test scans.",
            figure="identification.png" if figures else "",
        )
        result = res.summary()
    return JobResult(res.out, result)


# --------------------------------------------------------------------------- pretrain (the deep path)

_ALIGNER_INPUTS = ("auto", "voxels", "mbm")
_CYCLE_CHOICES = ("auto", "on", "off")


# --------------------------------------------------------------------------- reconstruct


def _check_weight(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name}: got {value!r}; expected a finite number >= 0")
    if not (math.isfinite(float(value)) and float(value) >= 0):
        raise InputError(f"{name}: got {value!r}; expected a finite number >= 0")
    return float(value)


def run_fmri_reconstruct(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layers: Any = None,
    identify_layer: str = "embedding",
    delays: Any = (1, 2, 3),
    folds: int = 9,
    alphas: Any = None,
    steps: int = 100,
    lr: float = 0.05,
    tv_weight: float = 0.5,
    spectrum_weight: float = 1e-3,
    n_permutations: int = 1000,
    average_repeats: bool = True,
    recompute_features: bool = False,
    input_size: Any = None,
    backend: str = "numpy",
    device: str = "auto",
    batch_size: int = 32,
    seed: int = 0,
    n_examples: int = 8,
    figures: bool = True,
) -> JobResult:
    """Reconstruct the test frames from fMRI by feature inversion (Shen et al. 2019), scored against retrieval.

    For every CNN tap of ``layers``, the scan-mean features are decoded from the voxels by the ridge
    decoder of :func:`run_fmri_decode` (z-scored targets, delays ``delays``). Each test scan's frame is
    then found by :func:`neurocine.fmri.reconstruction.reconstruct_frames`: pixels optimised (Adam, from
    the mean training frame) so that their z-scored features correlate with the decoded ones across the
    layers, under total-variation and 1/f priors. Scores against the true middle frame of each scan:
    pixel correlation and SSIM (chance: a random candidate frame), and pairwise identification among the
    test frames in the feature space of ``identify_layer`` and in pixel space, each with a permutation
    p-value (:func:`~neurocine.metrics.identification.pairwise_p_value`); the same for the retrieval
    baseline (the candidate frame whose ``identify_layer`` features correlate most with the decoded ones).

    Parameters
    ----------
    data : path
        fMRI data folder (:mod:`neurocine.fmri.simulate`).
    out : path
        Result folder.
    layers : list of str or comma-separated str, optional
        Taps whose features are decoded and matched; default :data:`~neurocine.features.deep.DEFAULT_LAYERS`.
    identify_layer : str, default "embedding"
        Tap of the feature space of identification and retrieval.
    delays, folds, alphas
        As :func:`run_fmri_decode`.
    steps, lr : int, float, default 100, 0.05
        Adam steps and learning rate of the pixel optimisation.
    tv_weight, spectrum_weight : float, default 0.5, 1e-3
        Weights of the total-variation and 1/f spectrum priors.
    n_permutations : int, default 1000
        Permutations of the identification p-values.
    average_repeats, recompute_features, input_size, backend, device, batch_size
        As :func:`run_fmri_encode`.
    seed : int, default 0
        The random chance frames and the permutations.
    n_examples : int, default 8
        Test scans shown in ``reconstruction.png``.
    figures : bool, default True

    Returns
    -------
    JobResult
        Metrics: ``pairwise_identification`` and ``pairwise_p_value`` (feature space of ``identify_layer``),
        ``pixel_pairwise_identification`` and ``pixel_pairwise_p_value``, ``pixel_r``, ``ssim`` with
        ``*_chance``, the same for retrieval (``retrieval_*``), ``layer_correlation`` (final match of the
        reconstructions' features to the decoded ones) and ``decoded_feature_test_r`` per layer.
    """
    from neurocine.features.deep import DEFAULT_LAYERS
    from neurocine.fmri.features import cnn_features, default_input_size
    from neurocine.fmri.reconstruction import reconstruct_frames
    from neurocine.metrics.identification import pairwise_p_value
    from neurocine.runtime import resolve_device

    layer_names = _layer_list(DEFAULT_LAYERS if layers is None else layers, "efficientnet")
    if not isinstance(identify_layer, str) or not identify_layer:
        raise InputError(f"--identify-layer: got {identify_layer!r}; expected a CNN tap such as 'embedding'")
    delay_t = _parse_delays(delays)
    folds = check_int("--folds", folds, minimum=2)
    alpha_grid = _check_alphas(alphas, DECODE_ALPHAS)
    steps = check_int("--steps", steps)
    lr = _check_weight("--lr", lr)
    tv_weight = _check_weight("--tv-weight", tv_weight)
    spectrum_weight = _check_weight("--spectrum-weight", spectrum_weight)
    n_permutations = check_int("--permutations", n_permutations)
    seed = _check_seed(seed)
    _check_backend(backend)
    ds = read_fmri_data(data)
    params = {
        "data": str(data),
        "layers": layer_names,
        "identify_layer": identify_layer,
        "delays": list(delay_t),
        "folds": folds,
        "alphas": alpha_grid,
        "steps": steps,
        "lr": lr,
        "tv_weight": tv_weight,
        "spectrum_weight": spectrum_weight,
        "n_permutations": n_permutations,
        "average_repeats": bool(average_repeats),
        "recompute_features": bool(recompute_features),
        "input_size": input_size,
        "backend": backend,
        "device": device,
        "seed": seed,
    }
    design = _decode_design(ds, delay_t, folds, average_repeats)
    training, idx_tr, idx_te = design.training, design.idx_tr, design.idx_te
    k = ds.frames_per_scan
    rng = np.random.default_rng(seed)
    size = default_input_size(ds.frame_shape) if input_size is None else tuple(int(v) for v in input_size)
    with JobFolder(out, params, job="fmri reconstruct") as res:
        taps = layer_names + ([identify_layer] if identify_layer not in layer_names else [])
        splits = ["train", "test"] + (["library"] if ds.library_frames is not None else [])
        feats = _timed_features(res, ds, "efficientnet", taps, splits, recompute_features, size, device, batch_size)
        t0 = time.perf_counter()
        decoded, means, sds, decoded_r = {}, {}, {}, {}
        targets = {}
        for layer in taps:
            z_train, z_test, mu, sd = _decode_targets(ds, feats, layer, training)
            pred, _, _ = _ridge_decoder(design.X_tr, z_train[idx_tr], design.X_te, alpha_grid, folds, backend, device)
            decoded[layer], means[layer], sds[layer], targets[layer] = pred, mu, sd, (z_train, z_test[idx_te])
            decoded_r[layer] = float(np.median(column_correlations(pred, z_test[idx_te])))
        res.timings["ridge_seconds"] = time.perf_counter() - t0
        truth = _grey(np.asarray(ds.stimulus_test[idx_te * k + k // 2])) / 255.0
        middles = _grey(np.asarray(ds.stimulus_train[training.frames.reshape(-1, k)[:, k // 2]])) / 255.0
        init = np.broadcast_to(middles.mean(0), truth.shape).copy()
        t0 = time.perf_counter()
        inv = reconstruct_frames(
            {n: decoded[n] for n in layer_names},
            means,
            sds,
            init,
            input_size=size,
            steps=steps,
            lr=lr,
            tv_weight=tv_weight,
            spectrum_weight=spectrum_weight,
            device=str(resolve_device(device)),
        )
        res.timings["inversion_seconds"] = time.perf_counter() - t0
        recon = inv.images[:, 0].astype(np.float64)
        # --- retrieval baseline in the identification space (never a test frame)
        z_train_id, true_id = targets[identify_layer]
        cz, cframes, _ = _decode_candidates(
            ds, training, feats, identify_layer, z_train_id, means[identify_layer], sds[identify_layer]
        )
        top = (unit_rows(decoded[identify_layer]) @ unit_rows(cz).T).argmax(1)
        retrieved = _grey(cframes[top]) / 255.0
        random_frames = _grey(cframes[rng.integers(0, len(cz), size=len(idx_te))]) / 255.0
        # --- scores
        f_rec = cnn_features(recon * 255.0, [identify_layer], input_size=size, device=device, batch_size=batch_size)
        rec_id = (f_rec[identify_layer].astype(np.float64) - means[identify_layer]) / sds[identify_layer]
        n = len(idx_te)
        metrics: dict[str, Any] = {"n_test_samples": n, "identify_layer": identify_layer, "pairwise_chance": 0.5}
        pw, p = pairwise_p_value(rec_id, true_id, n_permutations, rng)
        metrics.update(pairwise_identification=pw, pairwise_p_value=p)
        pw, p = pairwise_p_value(cz[top], true_id, n_permutations, rng)
        metrics.update(retrieval_pairwise_identification=pw, retrieval_pairwise_p_value=p)
        flat = truth.reshape(n, -1)
        pw, p = pairwise_p_value(recon.reshape(n, -1), flat, n_permutations, rng)
        metrics.update(pixel_pairwise_identification=pw, pixel_pairwise_p_value=p)
        pw, p = pairwise_p_value(retrieved.reshape(n, -1), flat, n_permutations, rng)
        metrics.update(retrieval_pixel_pairwise_identification=pw, retrieval_pixel_pairwise_p_value=p)
        for prefix, frames in (("", recon), ("retrieval_", retrieved)):
            got = _frame_metrics(truth * 255.0, frames * 255.0)
            metrics[f"{prefix}pixel_r"], metrics[f"{prefix}ssim"] = got["pixel_r"], got["ssim"]
        chance = _frame_metrics(truth * 255.0, random_frames * 255.0)
        metrics.update(pixel_r_chance=chance["pixel_r"], ssim_chance=chance["ssim"])
        metrics["layer_correlation"] = inv.layer_correlation
        metrics["decoded_feature_test_r"] = decoded_r
        res.metrics.update(metrics)
        res.save_arrays(
            "reconstruction.npz",
            reconstructed=recon.astype(np.float32),
            truth=truth.astype(np.float32),
            retrieved=retrieved.astype(np.float32),
            test_scans=idx_te,
            loss=np.asarray(inv.loss),
            feature_loss=np.asarray(inv.feature_loss),
        )
        if figures:
            from neurocine.fmri.plotting import plot_frame_pairs

            pick = np.linspace(0, n - 1, min(n_examples, n)).round().astype(int)
            res.save_figure(
                "reconstruction.png",
                plot_frame_pairs(
                    {
                        "truth": 255.0 * truth[pick],
                        "feature inversion": 255.0 * recon[pick],
                        "retrieval": 255.0 * retrieved[pick],
                    },
                    column_titles=[f"scan {idx_te[i]}" for i in pick],
                    title="frames reconstructed from fMRI",
                ),
                caption="For some test scans: the frame seen (top), the frame whose network features match the "
                "features decoded from fMRI (middle; feature inversion with smoothness priors) and the library "
                "frame nearest in decoded features (bottom). Look for the same coarse layout and contrast.",
            )
        res.headline(
            f"Feature-inversion pairwise identification {metrics['pairwise_identification']:.3f} "
            f"(p = {metrics['pairwise_p_value']:.3g}; chance 0.5) against "
            f"{metrics['retrieval_pairwise_identification']:.3f} for retrieval; pixel r "
            f"{metrics['pixel_r']:.3f} (chance {metrics['pixel_r_chance']:.3f}).",
            ran=f"Ridge decoders of {len(layer_names)} network layers from the voxels, then each test frame "
            f"optimised ({steps} steps) so its features match the decoded ones.",
            figure="reconstruction.png" if figures else "",
        )
        result = res.summary()
    return JobResult(res.out, result)


def _check_epochs(name: str, value: Any) -> int:
    return check_int(name, value, minimum=1)


def _check_frame_size(value: Any) -> tuple[int, int]:
    if isinstance(value, str):
        value = [v for v in value.replace("x", ",").split(",") if v.strip()]
    try:
        size = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        size = ()
    if len(size) != 2 or min(size) < 8:
        raise InputError(
            f"--frame-size: got {value!r}; expected two integers (height, width) >= 8 (SSIM needs 7 x 7 windows)"
        )
    return size  # type: ignore[return-value]


def _check_hidden(value: Any) -> tuple[int, ...]:
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (value,)
    try:
        hidden = tuple(int(v) for v in value)
    except (TypeError, ValueError):
        hidden = (0,)
    if any(h < 1 for h in hidden):
        raise InputError(
            f"--aligner-hidden: got {value!r}; expected hidden layer widths (positive integers), or "
            f"none for a linear head"
        )
    return hidden


def _small_grey(frames: Any, size: tuple[int, int], chunk: int = 512) -> np.ndarray:
    """Frames as grey (n, h, w) float32 at ``size`` (area averaging), chunk by chunk; 0-255 stay 0-255."""
    import torch
    from torch.nn import functional as F

    n = len(frames)
    out = np.empty((n, *size), dtype=np.float32)
    for a in range(0, n, chunk):
        block = np.asarray(frames[a : a + chunk], dtype=np.float32)
        if block.ndim == 4:
            block = block.mean(-1)
        if block.shape[1:] == tuple(size):
            out[a : a + len(block)] = block
            continue
        t = torch.from_numpy(np.ascontiguousarray(block))[:, None]
        out[a : a + len(block)] = F.interpolate(t, size=tuple(size), mode="area")[:, 0].numpy()
    return out


def _delay_mean(Y: np.ndarray, idx: np.ndarray, delays: tuple[int, ...]) -> np.ndarray:
    """Mean over the delays of the scans ``t + d`` (one voxel vector per sample): the HRF-peak response."""
    return np.mean([Y[idx + d] for d in delays], axis=0).astype(np.float32)


def _frame_scores(truth: np.ndarray, pred: np.ndarray) -> dict[str, Any]:
    """SSIM, PSNR and pixel correlation (means as :func:`_frame_metrics`) with per-frame values of SSIM and r."""
    out = dict(_frame_metrics(truth, pred))
    out["ssim_frames"] = np.array([ssim(truth[i : i + 1], pred[i : i + 1]) for i in range(len(truth))])
    out["pixel_r_frames"] = np.nan_to_num(frame_correlations(truth, pred))
    n = len(truth)
    for key in ("ssim", "pixel_r"):
        v = out[f"{key}_frames"]
        out[f"{key}_error"] = float(v.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    return out


def _paired_error(a: np.ndarray | None, b: np.ndarray | None) -> float | None:
    if a is None or b is None or len(a) < 2:
        return None
    return float(np.std(np.asarray(a) - np.asarray(b), ddof=1) / math.sqrt(len(a)))


def _diffusion_pipeline(ds: FMRIData, path: Any, device: str):
    """The diffusers pipeline of step 4 (None without a path), checked before any work starts."""
    if path is None:
        return None
    if not ds.category_names or ds.train_category is None:
        raise InputError(
            f"--diffusion: {ds.folder / 'info.json'} has no category_names or {ds.folder / 'design.npz'} "
            "no train_category; expected both to caption the training scans"
        )
    from neurocine.fmri.diffusion import load_diffusion_pipeline

    return load_diffusion_pipeline(path, device=device)


def _caption(name: str) -> str:
    return f"a photo of {name.replace('_', ' ')}"


def _diffusion_generation(
    pipe,
    category_names: list[str],
    cz: np.ndarray,
    ccat: np.ndarray,
    decoded: np.ndarray,
    true: np.ndarray,
    test_cat: np.ndarray | None,
    truth_frames: np.ndarray,
    size: tuple[int, int],
    steps: int,
    seed: int,
) -> tuple[dict, np.ndarray, dict]:
    """Step 4 of pretrain: frame scores, grey frames at ``size`` and metrics of the diffusion back end."""
    from neurocine.fmri.diffusion import DiffusionDecoder, prompt_conditioning

    known = ccat >= 0
    if not known.any():
        raise InputError(
            "--diffusion: no training scan or library frame has a category; expected categories to caption them"
        )
    cats = np.unique(ccat[known])
    table = prompt_conditioning(pipe, [_caption(category_names[c]) for c in cats])  # one per category
    target = table[np.searchsorted(cats, ccat[known])]
    model = DiffusionDecoder(pipe, num_inference_steps=steps, random_state=seed).fit(cz[known], target)
    predicted = model.predict_conditioning(decoded)
    metrics: dict[str, Any] = {"diffusion_conditioning_r2": model.conditioning_r2_}
    scored = np.isin(test_cat, cats) if test_cat is not None and len(cats) > 1 else np.zeros(0, bool)
    if scored.any():
        # pairwise among the category captions (as category identification), after removing what all share;
        # also for the true features of the test scans (the map's ceiling)
        captions = table.reshape(len(table), -1)
        centre = captions.mean(0)
        labels = np.searchsorted(cats, test_cat[scored])
        for key, cond in (
            ("diffusion_caption_identification", predicted),
            ("diffusion_true_embedding_caption_identification", model.predict_conditioning(true)),
        ):
            per_scan = identification_with_categories(
                cond.reshape(len(cond), -1)[scored] - centre, captions - centre, labels
            )
            metrics[key] = float(per_scan.mean())
            metrics[f"{key}_error"] = _binomial(float(per_scan.mean()), int(scored.sum()))
    frames = model.generate_from_conditioning(predicted)
    if frames.ndim == 5:  # video pipelines: the middle frame of each clip
        frames = frames[:, frames.shape[1] // 2]
    grey = _small_grey(frames, size)
    return _frame_scores(truth_frames, grey), grey, metrics


def _training_record(est) -> dict[str, Any]:
    """How a torch estimator's training went: epochs run, best validation epoch, first and last losses.

    ``final_loss`` and ``best_val_loss`` are those of the weights kept (the best validation epoch when
    early stopping restored them); ``stopped_early`` says whether the patience ran out before the limit.
    """
    loss, val = est.history_["loss"], est.history_["val_loss"]
    best = int(est.best_epoch_) - 1
    return {
        "epochs": int(est.n_epochs_),
        "best_epoch": best + 1,
        "first_loss": float(loss[0]),
        "final_loss": float(loss[best]),
        "first_val_loss": float(val[0]),
        "best_val_loss": float(val[best]),
        "stopped_early": bool(est.stopped_early_),
    }


def _delay_mean_ceiling(ds: FMRIData, idx: np.ndarray, delays: tuple[int, ...]) -> np.ndarray | None:
    """Noise ceiling of the delay-mean response of the test samples ``idx`` (None with one test repeat)."""
    if ds.fmri_test.shape[0] < 2 or len(idx) < 3:
        return None
    reps = np.stack([_delay_mean(np.asarray(rep, dtype=np.float64), idx, delays) for rep in ds.fmri_test])
    return noise_ceiling(reps)


def _comparison_record(
    task: str,
    score: str,
    baseline: str,
    ridge: float | None,
    model: str,
    deep: float | None,
    chance: float | None,
    n: int,
) -> dict[str, Any]:
    """One row of ``deep_vs_ridge``: the two scores, their ratio (deep / ridge), chance and the test size."""
    ratio = deep / ridge if deep is not None and ridge not in (None, 0.0) else None
    return {
        "task": task,
        "score": score,
        "baseline": baseline,
        "ridge": ridge,
        "model": model,
        "deep": deep,
        "deep_over_ridge": ratio,
        "chance": chance,
        "n_test": n,
    }


def _deep_vs_ridge_table(
    encoder_r: np.ndarray,
    ridge_encoder_r: dict[str, np.ndarray],
    ceiling: np.ndarray | None,
    aligned: dict[str, np.ndarray],
    ridge_decoded: np.ndarray,
    true: np.ndarray,
    nway: tuple[int, float | None, float | None],
    generated: dict[str, tuple[np.ndarray, dict]],
    ridge_generated: tuple[np.ndarray, dict],
    truth_frames: np.ndarray,
    seed: int,
    n_permutations: int = 1000,
) -> list[dict[str, Any]]:
    """Every deep model beside its ridge counterpart on the same test samples: one record per (model, score).

    Encoding: median per-voxel test r of the deep encoder and of ridge from the same input (pixels) and from
    the CNN features, with the median noise ceiling of the target. Decoding: pairwise identification (with
    permutation p-values, :func:`~neurocine.metrics.identification.pairwise_p_value`) of each aligner's
    embedding against ridge's decoded features (the aligner kept first in ``aligned``), and
    ``nway = (m, aligner, ridge)``, the m-way top-1 of the aligner kept. Frames: pixel correlation, SSIM
    (``generated`` and ``ridge_generated``: frames with their :func:`_frame_scores`) and pairwise
    identification among the test frames (pixel space, with p-values) of each generator against ridge
    voxels -> pixels.
    """
    n = len(true)
    med_ceiling = None if ceiling is None else float(np.median(ceiling))
    rows = []
    for key, label in (("pixels", "ridge: pixels -> voxels"), ("cnn", "ridge: CNN features -> voxels")):
        rec = _comparison_record(
            "encoding",
            "median test r",
            label,
            float(np.median(ridge_encoder_r[key])),
            "video-fMRI encoder",
            float(np.median(encoder_r)),
            0.0,
            n,
        )
        rows.append({**rec, "ceiling": med_ceiling})
    ridge_acc, ridge_p = pairwise_p_value(ridge_decoded, true, n_permutations, seed)
    for model, emb in aligned.items():
        acc, p = pairwise_p_value(emb, true, n_permutations, seed)
        rec = _comparison_record("decoding", "pairwise identification", "ridge decoder", ridge_acc, model, acc, 0.5, n)
        rows.append({**rec, "ridge_p": ridge_p, "deep_p": p})
    m, deep_m, ridge_m = nway
    kept = next(iter(aligned))
    rows.append(_comparison_record("decoding", f"{m}-way top-1", "ridge decoder", ridge_m, kept, deep_m, 1.0 / m, n))
    flat_truth = truth_frames.reshape(n, -1)
    ridge_frames, ridge_scores = ridge_generated
    ridge_pix_acc, ridge_pix_p = pairwise_p_value(ridge_frames.reshape(n, -1), flat_truth, n_permutations, seed)
    for model, (frames, gen) in generated.items():
        for score, key, chance in (("pixel correlation", "pixel_r", 0.0), ("SSIM", "ssim", None)):
            rows.append(
                _comparison_record(
                    "frames", score, "ridge: voxels -> pixels", ridge_scores[key], model, gen[key], chance, n
                )
            )
        acc, p = pairwise_p_value(frames.reshape(n, -1), flat_truth, n_permutations, seed)
        rec = _comparison_record(
            "frames", "pairwise identification (pixels)", "ridge: voxels -> pixels", ridge_pix_acc, model, acc, 0.5, n
        )
        rows.append({**rec, "ridge_p": ridge_pix_p, "deep_p": p})
    return rows


def _fit_aligner(
    name: str,
    X: np.ndarray,
    E: np.ndarray,
    n_val: int,
    ckpt: Path,
    encoder=None,
    hidden: tuple[int, ...] = (),
    epochs: int = 200,
    seed: int = 0,
    device: str = "auto",
):
    """A ContrastiveAligner fitted on all but the last ``n_val`` rows; returns it and its validation pairwise score."""
    from neurocine.fmri.models import ContrastiveAligner

    n_fit = len(X) - n_val
    aligner = ContrastiveAligner(
        encoder,
        hidden=hidden,
        max_epochs=epochs,
        random_state=seed,
        device=device,
        checkpoint_dir=ckpt / f"aligner_{name}",
    )
    aligner.fit(X[:n_fit], E[:n_fit], validation=(X[n_fit:], E[n_fit:]))
    score = float(pairwise_identification(aligner.transform(X[n_fit:]), E[n_fit:]).mean())
    return aligner, score


def run_fmri_pretrain(
    data: str | os.PathLike,
    out: str | os.PathLike,
    *,
    layer: str = "embedding",
    delays: Any = (1, 2, 3),
    folds: int = 9,
    alphas: Any = None,
    n_way: int = 50,
    trials: int = 100,
    average_repeats: bool = True,
    recompute_features: bool = False,
    input_size: Any = None,
    backend: str = "numpy",
    frame_size: Any = (48, 64),
    aligner_input: str = "auto",
    aligner_hidden: Any = (),
    mbm_epochs: int = 200,
    align_epochs: int = 200,
    generator_epochs: int = 100,
    encoder_epochs: int = 40,
    decoder_epochs: int = 60,
    decoder_cycle: str = "auto",
    diffusion: Any = None,
    diffusion_steps: int = 25,
    device: str = "auto",
    batch_size: int = 32,
    seed: int = 0,
    n_examples: int = 8,
    figures: bool = True,
) -> JobResult:
    """The deep path (MinD-Video, Kupershmidt et al.) against the ridge decoder, on the same split.

    Steps (all models trained on the training scans only; every score on the test scans, repeats averaged,
    with the samples, delays and targets of :func:`run_fmri_decode`):

    1. **Masked brain modelling** -- :class:`~neurocine.fmri.models.MaskedBrainAutoencoder` (patch 16,
       mask ratio 0.75) on every single training scan (all presentations: pretraining needs no labels);
       reported: the hidden-voxel variance explained (``score``, fixed masks) on the single test scans
       (``mbm_test_score``) and on their repeat mean (``mbm_test_score_averaged``).
    2. **Contrastive alignment** -- :class:`~neurocine.fmri.models.ContrastiveAligner` (InfoNCE) of fMRI
       to the built-in CNN's features of each scan's frames (``layer``, z-scored like decode's targets),
       from (a) the delayed voxels themselves (decode's inputs: scans ``t + d``, concatenated; head
       ``aligner_hidden``, linear by default) or (b) the frozen MBM embedding of the delay-mean scan (an
       MLP head of 512 units). Both hold out the last 10 % of the training samples (early stopping);
       ``aligner_input="auto"`` keeps the one with the better pairwise identification on those
       held-out training samples (never the test set). The aligned embedding of a test scan is scored as
       decode scores its ridge prediction: pairwise identification (GOD rule), n-way top-1 (2 and
       ``n_way``; both methods get the same random candidate sets), category identification and, for
       ``layer="embedding"``, the ImageNet-classifier n-way.
    3. **Generation** -- a :class:`~neurocine.fmri.models.ConditionalFrameDecoder` learns to paint grey
       ``frame_size`` frames (each scan's middle frame) from true CNN features (training scans and the
       library); it paints the aligned embedding of each test scan. The encoder-decoder of Kupershmidt
       et al.: :class:`~neurocine.fmri.models.VideoFMRIEncoder` (the scan's clip of ``frames_per_scan``
       frames -> the delay-mean response; the paper's loss, trained with :data:`ENCODER_TRAINING`, as the
       paper's schedule, learning rate 1e-4 cut five-fold every 3 epochs for 10 epochs, stops before the
       loss levels off) scored by per-voxel r on the test scans, beside ridge from the same pixels and
       from the CNN features to the same response (``ridge_encoder_median_test_r``), and
       :class:`~neurocine.fmri.models.FMRIVideoDecoder` (delay-mean response -> clip) trained with the
       self-supervised video -> fMRI -> video cycle on the library clips (unpaired); ``decoder_cycle="auto"`` keeps the cycle when it lowers the paired validation
       loss (last 10 % of the training samples), ``"on"``/``"off"`` force it. Baseline: ridge from the
       delayed voxels to the pixels (the same RidgeCV path as decode's features). Frames are clipped to
       0-255; SSIM, PSNR and pixel correlation against the true middle frames.
    4. **Diffusion** (optional, ``diffusion=PATH``: a diffusers pipeline folder already on disk, conditioned on
       ``prompt_embeds``, e.g. Stable Diffusion 1.x/2.x or a text-to-video pipeline) -- the pipeline's own
       encoding of the caption ``"a photo of <category>"`` of each candidate (training scans and library) is
       the conditioning target of a :class:`~neurocine.fmri.diffusion.DiffusionDecoder` (ridge from the
       true CNN features); it turns the aligned embedding of each test scan into conditioning and runs the
       pipeline (``diffusion_steps`` denoising steps, seeded). Scored like the generator (``diffusion_*``)
       and by ``diffusion_caption_identification``: pairwise identification of each test scan's category
       among the categories' caption conditionings (chance 0.5), as category identification, and the same
       from the test scans' true CNN features (``diffusion_true_embedding_caption_identification``: the map's
       ceiling). Needs ``category_names`` and categories in
       the data folder.

    Checkpoints of every model go to ``.OUT.checkpoints`` beside ``out``; an interrupted run resumes from
    them (finished models are reloaded, not retrained) and they are removed on success.

    Parameters
    ----------
    data : path
        fMRI data folder (:mod:`neurocine.fmri.simulate`).
    out : path
        Result folder.
    layer, delays, folds, alphas, n_way, trials, average_repeats, recompute_features, input_size, backend
        As :func:`run_fmri_decode` (the ridge baseline is its code path, with the same numbers).
    frame_size : (int, int), default (48, 64)
        Size of the generated grey frames (``"48,64"`` also accepted).
    aligner_input : {"auto", "voxels", "mbm"}, default "auto"
    aligner_hidden : tuple of int, default ()
        Hidden layers of the voxel aligner's head (``()``: linear; measured better than one layer of 512).
    mbm_epochs, align_epochs, generator_epochs, encoder_epochs, decoder_epochs : int
        Epoch limits (early stopping on the held-out training samples may end sooner); default 200, 200,
        100, 40, 60 (each model's validation loss reaches its minimum before its limit on the small
        simulations, easy and hidden-feature).
    decoder_cycle : {"auto", "on", "off"}, default "auto"
    diffusion : path or None
        A diffusers pipeline folder (step 4); None skips the step. Loaded offline, on ``device``.
    diffusion_steps : int, default 25
        Denoising steps of the diffusion pipeline.
    device : str, default "auto"
        Torch device of the models, the CNN and the ridge back end ``"torch"``.
    batch_size : int, default 32
        CNN frames per batch.
    seed : int, default 0
        Seeds every model and the n-way candidate draws: the same seed gives the same numbers on CPU.
    n_examples : int, default 8
        Test scans shown in ``frames.png``.
    figures : bool, default True

    Returns
    -------
    JobResult
        The result folder (``.out``, ``.report``, ``.summary``); indexing reads ``summary.json``.
        The ``summary.json`` content. Metrics: ``deep`` and ``ridge`` (each ``pairwise_identification``,
        ``nway2_accuracy``, ``nway<n>_accuracy`` with ``*_error``, ``category_identification``, the
        classifier n-way, ``generation_ssim``, ``generation_psnr``, ``generation_pixel_r``; ``deep`` also
        ``decoder_*``, the Kupershmidt decoder), ``deep_beats_ridge_on`` (names of the deep metrics above
        the ridge ones; ``decoder_*`` are compared with the ridge ``generation_*``), ``comparison``
        (per metric: deep, ridge, difference and, where per-scan values exist, its paired error),
        ``aligner_input`` and ``aligner_validation_pairwise`` (the choice and what it rested on),
        ``aligner_test_pairwise`` (every aligner fitted, for the record; never used to choose),
        ``mbm_test_score``, ``encoder_median_test_r``, ``decoder_cycle_used``, ``decoder_validation_loss``,
        ``generator_true_embedding_pixel_r`` (the generator fed the true features: its ceiling),
        ``ridge_encoder_median_test_r`` and ``encoder_median_ceiling``; ``deep_vs_ridge``, one record per
        (deep model, score) with its ridge counterpart on the same test samples (``task``, ``score``,
        ``baseline``, ``ridge``, ``model``, ``deep``, ``deep_over_ridge``, ``chance``, ``n_test``; ``ceiling``
        for encoding, permutation ``ridge_p`` / ``deep_p`` for pairwise identification); ``training``, per
        network, its epochs, best validation epoch, first and kept losses and ``stopped_early``. The
        per-epoch losses are ``history`` at the top level of ``summary.json``.
        Files: ``comparison.csv`` (the comparison table), ``deep_vs_ridge.csv`` (``deep_vs_ridge``),
        ``pretrain.npz`` (decoded features of both methods, per-scan pairwise scores, the true, ridge,
        generated and decoded frames, the encoder's per-voxel r), ``identification.png``, ``generation.png``, ``frames.png`` (truth | ridge | generator |
        encoder-decoder), ``training.png`` (loss curves), ``report.html``.

    Examples
    --------
    >>> run_fmri_pretrain("DATA", "PRETRAIN", mbm_epochs=5, align_epochs=50)   # doctest: +SKIP
    """
    from neurocine.fmri.models import (
        ConditionalFrameDecoder,
        FMRIVideoDecoder,
        MaskedBrainAutoencoder,
        VideoFMRIEncoder,
    )

    delay_t, folds, n_way, trials, alpha_grid, seed = _check_decoding_options(
        layer, delays, folds, n_way, trials, alphas, seed
    )
    size = _check_frame_size(frame_size)
    hidden = _check_hidden(aligner_hidden)
    if aligner_input not in _ALIGNER_INPUTS:
        raise InputError(f"--aligner-input: got {aligner_input!r}; expected one of {', '.join(_ALIGNER_INPUTS)}")
    if decoder_cycle not in _CYCLE_CHOICES:
        raise InputError(f"--decoder-cycle: got {decoder_cycle!r}; expected one of {', '.join(_CYCLE_CHOICES)}")
    epochs = {
        name: _check_epochs(f"--{name.replace('_', '-')}", value)
        for name, value in (
            ("mbm_epochs", mbm_epochs),
            ("align_epochs", align_epochs),
            ("generator_epochs", generator_epochs),
            ("encoder_epochs", encoder_epochs),
            ("decoder_epochs", decoder_epochs),
        )
    }
    n_examples = check_int("--n-examples", n_examples)
    _check_backend(backend)
    diffusion_steps = check_int("--diffusion-steps", diffusion_steps)
    ds = read_fmri_data(data)
    pipe = _diffusion_pipeline(ds, diffusion, device)
    out = Path(out)
    params = _decoding_params(
        data, layer, delay_t, folds, alpha_grid, n_way, trials, average_repeats, recompute_features, input_size, backend
    )
    params.update(
        {
            "frame_size": list(size),
            "aligner_input": aligner_input,
            "aligner_hidden": list(hidden),
            **epochs,
            "decoder_cycle": decoder_cycle,
            "diffusion": None if diffusion is None else str(diffusion),
            "diffusion_steps": diffusion_steps,
            "device": device,
            "seed": seed,
        }
    )
    design = _decode_design(ds, delay_t, folds, average_repeats)
    training, idx_tr, idx_te = design.training, design.idx_tr, design.idx_te
    n_tr, n = len(idx_tr), len(idx_te)
    n_val = max(2, int(round(0.1 * n_tr)))
    if n_tr - n_val < 4:
        raise InputError(
            f"{ds.folder / 'fmri_train.npy'}: {n_tr} training samples leave {n_tr - n_val} to train "
            f"the deep models after holding out {n_val} for validation; expected at least 4"
        )
    k = ds.frames_per_scan
    checkpoints = checkpoint_folder(out)
    stages = 6 + (pipe is not None)
    with (
        JobFolder(out, params, job="fmri pretrain") as res,
        progress_bar(total=stages, desc="fmri pretrain", unit="step") as steps,
    ):
        steps.set_postfix_str("features")
        feats, (z_train, z_test, mu, sd) = _decoding_features(
            ds, res, layer, training, recompute_features, input_size, device, batch_size
        )
        true = z_test[idx_te]
        cz, _, ccat = _decode_candidates(ds, training, feats, layer, z_train, mu, sd)
        test_cat = ds.test_category[idx_te] if ds.test_category is not None else None

        def scores_of(decoded: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray | None]:
            """decode's scores of one method (a fresh generator: both methods see the same candidate draws)."""
            rng = np.random.default_rng(seed)
            got, _, pw = _identification_scores(decoded, true, n_way, trials, rng)
            cat, _, cat_per_sample = _category_score(decoded, cz, ccat, test_cat)
            got.update({key: cat.get(key) for key in ("category_identification", "category_identification_error")})
            if layer == "embedding":
                cls, _ = _classifier_scores(
                    decoded, z_train, mu, sd, feats["test"]["embedding"], k, idx_te, n_way, trials, rng
                )
                got.update({key: v for key, v in cls.items() if key.startswith("classifier_nway")})
            return got, pw, cat_per_sample

        # --- ridge baseline: decode's code path
        steps.update()
        steps.set_postfix_str("ridge baseline")
        t0 = time.perf_counter()
        ridge_decoded, _, _ = _ridge_decoder(
            design.X_tr, z_train[idx_tr], design.X_te, alpha_grid, folds, backend, device
        )
        ridge, ridge_pw, ridge_cat = scores_of(ridge_decoded)
        truth_frames = _small_grey(ds.stimulus_test[idx_te * k + k // 2], size)
        mid_train = _small_grey(ds.stimulus_train[training.frames.reshape(-1, k)[:, k // 2]], size)  # (n_u, h, w)
        pix, _, _ = _ridge_decoder(
            design.X_tr, mid_train[idx_tr].reshape(n_tr, -1), design.X_te, alpha_grid, folds, backend, device
        )
        ridge_frames = np.clip(pix.reshape(n, *size), 0, 255).astype(np.float32)
        ridge_gen = _frame_scores(truth_frames, ridge_frames)
        res.timings["ridge_seconds"] = time.perf_counter() - t0
        steps.update()

        # --- 1. masked brain modelling on every single training scan
        steps.set_postfix_str("masked brain modelling")
        t0 = time.perf_counter()
        mbm = MaskedBrainAutoencoder(
            max_epochs=epochs["mbm_epochs"], random_state=seed, device=device, checkpoint_dir=checkpoints / "mbm"
        ).fit(ds.fmri_train)
        single_test = np.asarray(ds.fmri_test, dtype=np.float32).reshape(-1, ds.n_voxels)
        metrics: dict[str, Any] = {
            "n_test_samples": n,
            "n_training_samples": n_tr,
            "n_validation_samples": n_val,
            "mbm_validation_loss": float(min(mbm.history_["val_loss"])),
            "mbm_test_score": float(mbm.score(single_test, random_state=seed)),
            "mbm_test_score_averaged": float(mbm.score(design.y_test, random_state=seed)),
        }
        res.timings["mbm_seconds"] = time.perf_counter() - t0
        steps.update()
        steps.set_postfix_str("contrastive alignment")

        # --- 2. contrastive alignment: on the delayed voxels and/or on the MBM embedding; pick by validation
        t0 = time.perf_counter()
        Z = z_train[idx_tr]
        Xm_tr = _delay_mean(training.Y, idx_tr, delay_t)
        Xm_te = _delay_mean(design.y_test, idx_te, delay_t)
        inputs = {"voxels": (design.X_tr, design.X_te), "mbm": (Xm_tr, Xm_te)}
        fitted, val_scores = {}, {}
        for name in ("voxels", "mbm"):
            if aligner_input not in ("auto", name):
                continue
            fitted[name], val_scores[name] = _fit_aligner(
                name,
                inputs[name][0],
                Z,
                n_val,
                checkpoints,
                encoder=mbm if name == "mbm" else None,
                hidden=hidden if name == "voxels" else (512,),
                epochs=epochs["align_epochs"],
                seed=seed,
                device=device,
            )
        chosen = max(val_scores, key=lambda key: (val_scores[key], key == "voxels"))
        aligner = fitted[chosen]
        deep_decoded = aligner.transform(inputs[chosen][1]).astype(np.float64)
        deep, deep_pw, deep_cat = scores_of(deep_decoded)
        metrics.update(
            aligner_input=chosen,
            aligner_validation_pairwise=val_scores,
            aligner_temperature=float(aligner.temperature_),
            # reported, never used to choose: the test score of every aligner fitted
            aligner_test_pairwise={
                name: float(pairwise_identification(a.transform(inputs[name][1]), true).mean())
                for name, a in fitted.items()
            },
        )
        res.timings["align_seconds"] = time.perf_counter() - t0
        steps.update()
        steps.set_postfix_str("frame generator")

        # --- 3a. generation from the aligned embedding
        t0 = time.perf_counter()
        e_gen, f_gen = [z_train], [mid_train]
        lib_small = None
        if ds.library_frames is not None:
            lib_small = _small_grey(ds.library_frames, size)
            e_gen.append((feats["library"][layer].astype(np.float64) - mu) / sd)
            f_gen.append(lib_small)
        e_gen_a, f_gen_a = np.concatenate(e_gen), np.concatenate(f_gen)
        order = np.random.default_rng(seed).permutation(len(e_gen_a))
        generator = ConditionalFrameDecoder(
            max_epochs=epochs["generator_epochs"],
            random_state=seed,
            device=device,
            checkpoint_dir=checkpoints / "generator",
        ).fit(e_gen_a[order], f_gen_a[order])
        gen_frames = np.clip(generator.predict(deep_decoded), 0, 255).astype(np.float32)
        deep_gen = _frame_scores(truth_frames, gen_frames)
        ceiling_gen = _frame_scores(truth_frames, np.clip(generator.predict(true), 0, 255))
        metrics["generator_true_embedding_pixel_r"] = ceiling_gen["pixel_r"]
        metrics["generator_true_embedding_ssim"] = ceiling_gen["ssim"]
        res.timings["generator_seconds"] = time.perf_counter() - t0
        steps.update()
        steps.set_postfix_str("video-fMRI encoder and decoder")

        # --- 3b. Kupershmidt et al.: video -> fMRI encoder, fMRI -> video decoder with the unpaired cycle
        t0 = time.perf_counter()
        clips_train = _small_grey(ds.stimulus_train[training.frames], size).reshape(-1, k, *size)
        clips_test = _small_grey(ds.stimulus_test, size).reshape(-1, k, *size)
        if k == 1:
            clips_train, clips_test = clips_train[:, 0], clips_test[:, 0]
        encoder = VideoFMRIEncoder(
            **ENCODER_TRAINING,
            max_epochs=epochs["encoder_epochs"],
            random_state=seed,
            device=device,
            checkpoint_dir=checkpoints / "encoder",
        ).fit(clips_train[idx_tr], Xm_tr)
        encoder_r = encoder.score_targets(clips_test[idx_te], Xm_te)
        metrics["encoder_median_test_r"] = float(np.median(encoder_r))
        metrics["encoder_mean_test_r"] = float(np.mean(encoder_r))
        unpaired = None
        if lib_small is not None and len(lib_small) >= k:
            unpaired = lib_small[: len(lib_small) // k * k].reshape(-1, k, *size)
            unpaired = unpaired[:, 0] if k == 1 else unpaired
        cycles = {"auto": (True, False), "on": (True,), "off": (False,)}[decoder_cycle]
        if unpaired is None:
            cycles = (False,)
            res.extra["decoder_cycle_note"] = "no library clips in the data folder: the decoder has no unpaired cycle"
        n_fit = n_tr - n_val
        decoders, dec_val = {}, {}
        for cyc in cycles:
            tag = "cycle" if cyc else "paired"
            dec = FMRIVideoDecoder(
                encoder,
                max_epochs=epochs["decoder_epochs"],
                random_state=seed,
                device=device,
                checkpoint_dir=checkpoints / f"decoder_{tag}",
            )
            dec.fit(
                Xm_tr[:n_fit],
                clips_train[idx_tr][:n_fit],
                unpaired=unpaired if cyc else None,
                validation=(Xm_tr[n_fit:], clips_train[idx_tr][n_fit:]),
            )
            decoders[tag], dec_val[tag] = dec, float(min(dec.history_["val_loss"]))
        used = min(dec_val, key=lambda key: (dec_val[key], key != "cycle"))
        dec_frames = decoders[used].predict(Xm_te)
        dec_frames = np.clip(dec_frames[:, k // 2] if k > 1 else dec_frames, 0, 255).astype(np.float32)
        kup = _frame_scores(truth_frames, dec_frames)
        metrics.update(decoder_cycle_used=used == "cycle", decoder_validation_loss=dec_val)
        res.timings["kupershmidt_seconds"] = time.perf_counter() - t0

        # --- ridge encoders on the same samples and target as the deep encoder: pixels and CNN features
        t0 = time.perf_counter()
        ridge_enc_r = {}
        for name, (e_tr, e_te) in {
            "pixels": (clips_train[idx_tr].reshape(n_tr, -1), clips_test[idx_te].reshape(n, -1)),
            "cnn": (z_train[idx_tr], true),
        }.items():
            pred, _, _ = _ridge_decoder(e_tr, Xm_tr, e_te, alpha_grid, folds, backend, device)
            ridge_enc_r[name] = column_correlations(pred, Xm_te)
        ceiling = _delay_mean_ceiling(ds, idx_te, delay_t)
        metrics.update(
            ridge_encoder_median_test_r={key: float(np.median(r)) for key, r in ridge_enc_r.items()},
            encoder_median_ceiling=None if ceiling is None else float(np.median(ceiling)),
        )
        res.timings["ridge_encoder_seconds"] = time.perf_counter() - t0
        steps.update()

        # --- 4. optional: a diffusers pipeline, conditioned through the captions of the candidates' categories
        diff_gen, diff_frames = None, None
        if pipe is not None:
            steps.set_postfix_str("diffusion")
            t0 = time.perf_counter()
            diff_gen, diff_frames, diff_metrics = _diffusion_generation(
                pipe,
                ds.category_names,
                cz,
                ccat,
                deep_decoded,
                true,
                test_cat,
                truth_frames,
                size,
                diffusion_steps,
                seed,
            )
            metrics.update(diff_metrics)
            res.timings["diffusion_seconds"] = time.perf_counter() - t0
            steps.update()

        # --- deep vs ridge
        for target, gen in ((ridge, ridge_gen), (deep, deep_gen)):
            for key in ("ssim", "psnr", "pixel_r"):
                target[f"generation_{key}"] = gen[key]
            target["generation_ssim_error"] = gen["ssim_error"]
            target["generation_pixel_r_error"] = gen["pixel_r_error"]
        generated = {"decoder": kup, **({"diffusion": diff_gen} if diff_gen is not None else {})}
        for prefix, gen in generated.items():
            for key in ("ssim", "psnr", "pixel_r"):
                deep[f"{prefix}_{key}"] = gen[key]
            deep[f"{prefix}_ssim_error"], deep[f"{prefix}_pixel_r_error"] = gen["ssim_error"], gen["pixel_r_error"]
        compared = [
            ("pairwise_identification", "pairwise_identification", 0.5, (deep_pw, ridge_pw)),
            ("nway2_accuracy", "nway2_accuracy", 0.5, None),
        ]
        if n_way != 2:
            compared.append((f"nway{n_way}_accuracy", f"nway{n_way}_accuracy", 1.0 / n_way, None))
        compared.append(
            (
                "category_identification",
                "category_identification",
                0.5,
                None if deep_cat is None else (deep_cat, ridge_cat),
            )
        )
        if layer == "embedding":
            compared += [
                (f"classifier_nway{m}_accuracy", f"classifier_nway{m}_accuracy", 1.0 / m, None)
                for m in sorted({2, n_way})
            ]
        for prefix, gen in {"generation": deep_gen, **generated}.items():
            compared += [
                (f"{prefix}_pixel_r", "generation_pixel_r", 0.0, (gen["pixel_r_frames"], ridge_gen["pixel_r_frames"])),
                (f"{prefix}_ssim", "generation_ssim", float("nan"), (gen["ssim_frames"], ridge_gen["ssim_frames"])),
                (f"{prefix}_psnr", "generation_psnr", float("nan"), None),
            ]
        comparison, table = {}, []
        for deep_key, ridge_key, chance, per_sample in compared:
            d, r = deep.get(deep_key), ridge.get(ridge_key)
            if d is None or r is None:
                continue
            de = deep.get(deep_key.replace("accuracy", "error") if "accuracy" in deep_key else f"{deep_key}_error")
            re_ = ridge.get(ridge_key.replace("accuracy", "error") if "accuracy" in ridge_key else f"{ridge_key}_error")
            paired = _paired_error(*per_sample) if per_sample is not None else None
            comparison[deep_key] = {"deep": d, "ridge": r, "difference": d - r, "paired_error": paired}
            table.append((deep_key, d, de, r, re_, d - r, paired, chance))
        metrics["deep"] = deep
        metrics["ridge"] = ridge
        metrics["comparison"] = comparison
        metrics["deep_beats_ridge_on"] = [row[0] for row in table if row[1] > row[3]]
        metrics["deep_vs_ridge"] = _deep_vs_ridge_table(
            encoder_r,
            ridge_enc_r,
            ceiling,
            {
                f"contrastive aligner ({key})": fitted[key].transform(inputs[key][1])
                for key in sorted(fitted, key=lambda key: key != chosen)  # the aligner kept first
            },
            ridge_decoded,
            true,
            (n_way, deep[f"nway{n_way}_accuracy"], ridge[f"nway{n_way}_accuracy"]),
            {"frame generator": (gen_frames, deep_gen), f"Kupershmidt decoder ({used})": (dec_frames, kup)},
            (ridge_frames, ridge_gen),
            truth_frames,
            seed,
        )
        trained = {
            "mbm": mbm,
            **{f"aligner_{key}": a for key, a in fitted.items()},
            "generator": generator,
            "encoder": encoder,
            **{f"decoder_{key}": dd for key, dd in decoders.items()},
        }
        res.extra["history"] = {name: est.history_ for name, est in trained.items()}
        metrics["training"] = {name: _training_record(est) for name, est in trained.items()}
        res.metrics.update(metrics)
        res.extra["epochs"] = {
            name: int(m.n_epochs_)
            for name, m in (
                ("mbm", mbm),
                ("aligner", aligner),
                ("generator", generator),
                ("encoder", encoder),
                ("decoder", decoders[used]),
            )
        }

        res.save_arrays(
            "pretrain.npz",
            test_scans=idx_te,
            true=true.astype(np.float32),
            deep_decoded=deep_decoded.astype(np.float32),
            ridge_decoded=ridge_decoded.astype(np.float32),
            deep_pairwise=deep_pw,
            ridge_pairwise=ridge_pw,
            truth_frames=truth_frames,
            ridge_frames=ridge_frames,
            generated_frames=gen_frames,
            decoder_frames=dec_frames,
            encoder_test_r=encoder_r.astype(np.float32),
            **({"diffusion_frames": diff_frames} if diff_frames is not None else {}),
        )
        with open(res.path("deep_vs_ridge.csv"), "w", newline="") as fh:
            records = metrics["deep_vs_ridge"]
            dw = csv.DictWriter(fh, fieldnames=list(dict.fromkeys(key for rec in records for key in rec)))
            dw.writeheader()
            dw.writerows(records)
        with open(res.path("comparison.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                [
                    "metric",
                    "deep",
                    "deep_error",
                    "ridge",
                    "ridge_error",
                    "difference",
                    "paired_error",
                    "chance",
                    "n",
                    "deep_better",
                ]
            )

            def fmt(v):
                return "" if v is None or not np.isfinite(v) else f"{v:.4f}"

            for name, d, de, r, re_, diff, paired, chance in table:
                w.writerow(
                    [name, fmt(d), fmt(de), fmt(r), fmt(re_), fmt(diff), fmt(paired), fmt(chance), n, int(d > r)]
                )
        if figures:
            from neurocine.fmri.plotting import plot_frame_pairs, plot_method_comparison, plot_training_curves

            ident = [row for row in table if not row[0].startswith(("generation", "decoder"))]
            res.save_figure(
                "identification.png",
                plot_method_comparison(
                    [row[0] for row in ident],
                    {
                        "ridge": ([row[3] for row in ident], [np.nan if row[4] is None else row[4] for row in ident]),
                        "deep": ([row[1] for row in ident], [np.nan if row[2] is None else row[2] for row in ident]),
                    },
                    chance=[row[7] for row in ident],
                    title=f"identification: deep ({chosen} aligner) vs ridge, {n} test scans",
                ),
                caption="Identification accuracy of the deep path and of the ridge baseline for each score, with "
                "binomial errors and chance. The deep path is worth its cost where its bar clears ridge's error bar.",
            )
            gen_rows = [row for row in table if row[0].endswith(("pixel_r", "ssim"))]
            res.save_figure(
                "generation.png",
                plot_method_comparison(
                    [row[0] for row in gen_rows],
                    {
                        "ridge (voxels -> pixels)": (
                            [row[3] for row in gen_rows],
                            [np.nan if row[4] is None else row[4] for row in gen_rows],
                        ),
                        "deep": (
                            [row[1] for row in gen_rows],
                            [np.nan if row[2] is None else row[2] for row in gen_rows],
                        ),
                    },
                    title="generated frames vs truth (generation: aligned -> generator; decoder: Kupershmidt)",
                    xlabel="score",
                ),
                caption="How alike generated and true test frames are (pixel correlation, SSIM) for the ridge "
                "baseline and the deep generators. Higher is better; compare each deep bar with ridge's.",
            )
            pick = np.linspace(0, n - 1, min(n_examples, n)).round().astype(int)
            res.save_figure(
                "frames.png",
                plot_frame_pairs(
                    {
                        "truth": truth_frames[pick],
                        "ridge": ridge_frames[pick],
                        "deep: generator": gen_frames[pick],
                        "deep: Kupershmidt": dec_frames[pick],
                        **({"deep: diffusion": diff_frames[pick]} if diff_frames is not None else {}),
                    },
                    column_titles=[f"scan {idx_te[i]}" for i in pick],
                    title="test frames: truth | ridge voxels -> pixels | aligned embedding -> generator | "
                    "encoder-decoder",
                ),
                caption="Some test scans: the true frame (top row) and the frames generated from the voxels by "
                "each method (rows below). Look for the layout and category of the true frame.",
            )
            res.save_figure(
                "training.png",
                plot_training_curves(res.extra["history"]),
                caption="Loss per epoch of each network trained (pretraining, aligner, generator, encoder, "
                "decoder). Each should fall and level off.",
            )
        res.headline(
            "The deep path beats ridge on "
            + (", ".join(metrics["deep_beats_ridge_on"]) if metrics["deep_beats_ridge_on"] else "no score")
            + f" ({len(table)} scores compared on {n} test scans).",
            ran="A deep decoding path (masked-brain-model pretraining, an aligner, a generator and an "
            "encoder-decoder) trained on the voxels and compared with ridge decoding.",
            figure="identification.png" if figures else "",
        )
        result = res.summary()
    shutil.rmtree(checkpoints, ignore_errors=True)
    return JobResult(res.out, result)
