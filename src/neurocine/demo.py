"""``neurocine demo``: every capability that exists, on built-in data, in one folder.

Sections (each a sub-folder; ``index.html`` shows each with its numbers and every figure, its parts
included, and ``report.html`` is the same page with the figures embedded and the parts linked):

* ``conv_nmf/`` -- the Neural Screenomics notebook reproduced (reference solver,
  K = 4 and K = 2) and neurocine's solver on the same data, scored against
  the simulation's ground truth;
* ``screenome/`` -- a simulated phone-use log binned into an app x time
  matrix and decomposed into nonnegative "motivational state" motifs;
* ``k_selection/`` -- held-out fit and stability for a range of K;
* ``video/`` -- a synthetic video with known motion in three ROIs: motion
  energy (checked against the truth) and motion SVD, the ROIs drawn;
* ``encoding/`` -- a simulated face video + widefield session: ``neurocine
  encode`` (ridge, LSTM, attribution, beta maps vs the planted maps, the
  whisking classifier) and ``encode framerates`` on a short and a long session;
* ``v1/`` -- a simulated mouse V1 in the Sensorium layout: movies reconstructed
  from its activity with the simulator's own population (the upper bound) and,
  in the full demo, with a DNEM ensemble trained here;
* ``fmri/`` -- simulated fMRI of voxels driven by features the analysis never
  sees (Gabor motion energy, a random CNN): voxel-wise encoding with
  EfficientNet-Lite0 layers (best-layer map vs the planted region hierarchy)
  and feature decoding with identification.
"""

from __future__ import annotations

import os
from typing import Any

from neurocine.errors import InputError
from neurocine.io.results import JobResult
from neurocine.report.html import JobFolder


def _section_conv_nmf(res: JobFolder, quick: bool) -> dict[str, Any]:
    from neurocine.motifs.convnmf import ConvNMF
    from neurocine.motifs.jobs import fit_to_folder
    from neurocine.motifs.simulate import simulate_convnmf

    sim = simulate_convnmf(7)
    truth = {"templates": sim.templates, "amplitudes": sim.amplitudes}
    out: dict[str, Any] = {"oracle_r2": sim.oracle_r2(), "n_true_spikes": int((sim.amplitudes > 0).sum())}
    for k in (4, 2):
        m = fit_to_folder(
            res,
            sim.data,
            ConvNMF(k, 10, solver="reference", random_state=7),
            truth=truth,
            title=f"notebook solver, K = {k}",
            prefix=f"conv_nmf/reference_k{k}_",
        )
        out[f"reference_k{k}"] = {key: m[key] for key in ("n_spikes", "r2", "spike_f1", "seconds")}
    m = fit_to_folder(
        res,
        sim.data,
        ConvNMF(4, 10, random_state=0, n_init=5 if quick else 10),
        truth=truth,
        title="neurocine solver, K = 4",
        prefix="conv_nmf/default_k4_",
    )
    out["default_k4"] = {key: m[key] for key in ("n_spikes", "r2", "spike_f1", "template_similarity", "seconds")}
    ref = out["reference_k4"]
    res.headline(
        f"{m['n_spikes']} spikes found for {out['n_true_spikes']} true ones (spike F1 {m['spike_f1']:.3f}), "
        f"R² {m['r2']:.3f} against the true model's {out['oracle_r2']:.3f}; the notebook's solver finds "
        f"{ref['n_spikes']} (R² {ref['r2']:.3f}).",
        ran="Conv-NMF with K = 4 motifs fitted to simulated spike data (600 time steps x 10 neurons, 4 planted "
        "sequences) by neurocine's solver and by the reference notebook's.",
        figure="conv_nmf/default_k4_ground_truth.png",
        title="conv_nmf",
    )
    return out


def _section_screenome(res: JobFolder, quick: bool) -> dict[str, Any]:
    import numpy as np

    from neurocine.motifs.convnmf import ConvNMF
    from neurocine.motifs.jobs import fit_to_folder
    from neurocine.motifs.screenome.jobs import run_screenome_bin, run_screenome_simulate, truth_path

    log = res.path("screenome/log.csv")
    sim_summary = run_screenome_simulate(log, seed=3, n_apps=10, n_states=3, hours=12 if quick else 48, bin="60s")
    binned = run_screenome_bin(log, res.path("screenome/binned"), bin="60s")
    truth_npz = np.load(truth_path(log))
    data = np.load(res.path("screenome/binned") / "binned.npz")
    truth = {"templates": truth_npz["templates"], "amplitudes": truth_npz["amplitudes"]}
    width = truth["templates"].shape[2]
    # binned use is zero-inflated (no MAD noise estimate): give the noise level, in seconds of use per bin
    m = fit_to_folder(
        res,
        data["data"],
        ConvNMF(3, width, nonnegative=True, noise_std=2.0, random_state=0, n_init=5),
        truth=truth,
        channels=[str(c) for c in data["channels"]],
        title="screenome motifs, K = 3",
        prefix="screenome/motifs_",
    )
    res.headline(
        f"{m['n_spikes']} state onsets found for {m['n_true_spikes']} planted (F1 {m['spike_f1']:.3f}), templates "
        f"matching the truth with cosine {m['template_similarity']:.3f}; R² {m['r2']:.3f}.",
        ran=f"A simulated {12 if quick else 48} h phone-use log ({sim_summary['n_events']} events, 10 apps, 3 "
        "planted states) binned per minute and decomposed into K = 3 nonnegative motifs.",
        figure="screenome/motifs_ground_truth.png",
        title="screenome",
    )
    return {
        "n_events": sim_summary["n_events"],
        "n_bins": binned["metrics"]["n_bins"],
        **{key: m[key] for key in ("n_spikes", "r2", "spike_f1", "template_similarity", "seconds")},
    }


def _section_k_selection(res: JobFolder, quick: bool) -> dict[str, Any]:
    from neurocine.motifs.jobs import K_SELECTION_CAPTION
    from neurocine.motifs.plotting import plot_k_selection
    from neurocine.motifs.selection import select_n_components
    from neurocine.motifs.simulate import simulate_convnmf

    sim = simulate_convnmf(7)
    ks = [2, 3, 4, 5, 6] if quick else list(range(1, 9))
    sel = select_n_components(sim.data, ks, 10, n_repeats=3, n_init=3 if quick else 5, random_state=0)
    res.write_json("k_selection/selection.json", sel.to_dict())
    res.save_figure(
        "k_selection/k_selection.png",
        plot_k_selection(
            sel.ks, sel.heldout_r2, stability=sel.stability, recommended=sel.recommended, train_r2=sel.train_r2
        ),
        caption=K_SELECTION_CAPTION,
    )
    res.headline(
        f"Recommended K = {sel.recommended} against the true K = 4.",
        ran=f"Conv-NMF fitted with K = {', '.join(map(str, ks))} to the simulated spike data, 3 times each with "
        "10% of the data held out; held-out fit and stability scored.",
        figure="k_selection/k_selection.png",
        title="k_selection",
    )
    return {"ks": sel.ks, "recommended_k": sel.recommended, "true_k": 4}


def _section_video(res: JobFolder, quick: bool) -> dict[str, Any]:
    """A synthetic face-like video with known motion in three ROIs -> motion energy + motion SVD."""
    import numpy as np

    from neurocine.encode.simulate_video import simulate_roi_motion_video
    from neurocine.encode.video_jobs import run_motion
    from neurocine.io.video import write_video
    from neurocine.plotting.video import plot_rois

    sim = simulate_roi_motion_video(n_frames=300 if quick else 900, seed=0)
    video = write_video(res.path("video/rois.mp4"), sim.frames, lossless=True)
    res.caption(
        "video/rois.mp4",
        "The simulated video: a still textured background; in each of three boxes an ellipse and the rest of the "
        "box brighten and darken (in a checkerboard) in independent bouts.",
    )
    rois = res.path("video/rois.toml")
    rois.write_text("".join(f"[{r.name}]\nbox = {list(r.box)}\n" for r in sim.rois))
    out = res.path("video/motion")
    s = run_motion(video, out, rois=rois, svd=5)
    res.save_figure(
        "video/rois.png",
        plot_rois(sim.frames[:50].mean(axis=0), sim.rois),
        caption="The mean of the first 50 frames of the simulated video with the three regions of interest drawn. "
        "Each region has two parts (an ellipse and the rest of the box) that move at different times.",
    )
    with np.load(out / "motion.npz") as z:
        err = float(np.abs(z["motion_energy"] - sim.motion_energy).max())
    res.headline(
        f"Motion energy matches the truth in every frame and region (largest error {err:.2g} grey levels); "
        f"{s['frames'] / max(s['seconds'], 1e-9):.0f} frames/s.",
        ran=f"A {sim.frames.shape[0]}-frame simulated video with known motion in two parts of each of three "
        "regions, processed by `video motion` (motion energy and a 5-component motion SVD per region: the first "
        "two components carry the two parts' motion).",
        figure="video/motion/svd_masks.png",
        title="video",
    )
    return {
        "frames": s["frames"],
        "frames_per_second": s["frames"] / max(s["seconds"], 1e-9),
        "rois": s["rois"],
        "max_abs_error_vs_truth": err,
    }


def _section_encoding(res: JobFolder, quick: bool) -> dict[str, Any]:
    """A simulated face video + widefield session -> ``encode`` (ridge, LSTM, attribution, whisking) and the
    frame-rate table for a short and a long session, all scored against the planted ground truth."""
    from neurocine.encode.jobs import run_encode, run_framerates, write_simulated_session

    if quick:
        sizes = {"video_size": (60, 80), "widefield_size": (32, 32)}
        durations = {"short": 60.0, "long": 120.0}
        sequence = {"hidden": (8,), "dense": 0, "max_epochs": 3}
        whisking = {
            "filters": (8, 4),
            "autoencoder_epochs": 3,
            "classifier_epochs": 5,
            "classifier_hidden": (8,),
            "classifier_dense": 0,
        }
    else:
        sizes = {"video_size": (120, 160), "widefield_size": (64, 64)}
        durations = {"short": 120.0, "long": 240.0}
        sequence = {}  # the LSTM of McCarthy (2019): 13/26 units, dense 250, <= 100 epochs
        whisking = {"filters": (16, 8), "autoencoder_epochs": 20, "classifier_epochs": 30}
    configs = {}
    for name, seconds in durations.items():
        folder = res.path(f"encoding/session_{name}")
        write_simulated_session(
            folder,
            duration_s=seconds,
            seed=0,
            name=name,
            sequence=sequence,
            whisking=whisking if name == "long" else None,
            **sizes,
        )
        configs[name] = folder / "encode.toml"
    enc = run_encode(configs["long"], res.path("encoding/results"))["metrics"]
    fr = run_framerates(list(configs.values()), res.path("encoding/framerates"))["metrics"]
    keys = (
        "mean_cv_ev",
        "ceiling_ev",
        "ridge_test_ev",
        "sequence_test_ev",
        "min_beta_map_correlation",
        "planted_ranked_first",
        "ranking",
    )
    res.headline(
        f"Cross-validated explained variance {enc['mean_cv_ev']:.3f} against the planted model's "
        f"{enc['ceiling_ev']:.3f}; every beta map correlates r ≥ {enc['min_beta_map_correlation']:.3f} with its "
        f"planted map"
        + (
            f"; whisking classified with accuracy {enc['whisking']['accuracy_test']:.3f} against "
            f"{enc['whisking']['chance_test']:.3f} by chance."
            if enc.get("whisking")
            else "."
        ),
        ran=f"A simulated {durations['long']:g} s face-video + widefield session with planted maps, fitted by "
        "`encode` (ridge, LSTM, attribution, whisking classifier); `encode framerates` on two sessions.",
        figure="encoding/results/beta_maps.png",
        title="encoding",
    )
    return {
        **{k: enc[k] for k in keys if k in enc},
        "whisking": enc.get("whisking", {}),
        "framerates": {"rows": fr["rows"], "columns": fr["columns"], "ev": fr["ev"]},
    }


def _section_v1(res: JobFolder, quick: bool) -> dict[str, Any]:
    """Simulated V1 -> reconstruction with the true population (and, in the full demo, a trained DNEM ensemble)."""
    from neurocine.v1.jobs import run_reconstruct, run_simulate, run_train

    size = (
        dict(
            n_neurons=600,
            n_train=12,
            n_oracle=2,
            oracle_repeats=2,
            n_test=2,
            test_repeats=2,
            n_frames=60,
            n_calibration=4,
            ceiling=0.5,
            easy=True,  # the quick demo shows the pipeline on the easy mouse, where 600 neurons suffice
        )
        if quick
        else dict(n_neurons=2000, n_train=80, n_oracle=3, oracle_repeats=3, n_test=3, test_repeats=3, n_frames=150)
    )
    data = res.path("v1/mouse")
    sim = run_simulate(data, seed=0, overwrite=True, **size)
    fast = dict(method="adam", iterations=40 if quick else 100, coarse_to_fine=1, holdout=0.1)
    upper = run_reconstruct(
        data, None, res.path("v1/reconstruct_true_population"), truth_model=True, error_maps=False, **fast
    )["metrics"]
    out = {
        "neurons": sim["n_neurons"],
        "ceiling_correlation": sim["ceiling_correlation"],
        "true_population_video_correlation": upper["mean_video_correlation"],
        "true_population_frame_correlation": upper["mean_frame_correlation"],
    }
    headline = (
        f"Movies reconstructed through the simulator's own population (the best a trained model could do) "
        f"correlate r = {upper['mean_video_correlation']:.3f} with the movies shown (1 is perfect, 0 chance)"
    )
    if not quick:
        trained = run_train(data, res.path("v1/models"), instances=2, epochs=10)["metrics"]
        rec = run_reconstruct(data, res.path("v1/models"), res.path("v1/reconstruct"), **fast)["metrics"]
        out.update(
            {
                "single_trial_correlation": trained["single_trial_correlation"],
                "fraction_of_ceiling": trained["fraction_of_ceiling"],
                "dnem_video_correlation": rec["mean_video_correlation"],
                "dnem_frame_correlation": rec["mean_frame_correlation"],
            }
        )
        headline += f"; a trained DNEM ensemble reaches r = {rec['mean_video_correlation']:.3f}"
    recon = res.path("v1/reconstruct" if not quick else "v1/reconstruct_true_population")
    first = sorted(recon.glob("trial_*/frames.png"))
    res.headline(
        headline + ".",
        ran=f"A simulated mouse V1 ({sim['n_neurons']} neurons) in the Sensorium layout; movies reconstructed "
        "from its activity by gradient descent"
        + (" through the simulator's own population." if quick else ", and DNEM models trained on it."),
        figure=first[0].relative_to(res.path("v1").parent).as_posix() if first else "",
        title="v1",
    )
    return out


def _section_fmri(res: JobFolder, quick: bool) -> dict[str, Any]:
    """Simulated fMRI -> voxel-wise encoding (best layer vs planted) and feature decoding (identification)."""
    from neurocine.fmri.jobs import run_fmri_decode, run_fmri_encode, run_fmri_simulate
    from neurocine.fmri.simulate import SMALL_SIMULATION

    data = res.path("fmri/data")
    run_fmri_simulate(data, **(dict(SMALL_SIMULATION) if quick else {}))
    enc = run_fmri_encode(data, res.path("fmri/encode"))["metrics"]
    dec = run_fmri_decode(data, res.path("fmri/decode"), layer="blocks.2" if quick else "embedding")["metrics"]
    res.headline(
        f"Best layer of the planted region's rank for {enc['best_layer_accuracy']:.1%} of the voxels with signal; "
        f"median test correlation "
        f"{enc['median_test_r']:.3f} against a median noise ceiling of {enc['median_ceiling']:.3f}; pairwise "
        f"identification {dec['pairwise_identification']:.3f} (chance 0.5).",
        ran="Simulated fMRI of voxels driven by hidden features (Gabor motion energy, a random CNN) with voxel HRFs "
        "and autocorrelated noise: voxel-wise encoding with EfficientNet-Lite0 layers (best layer per voxel against "
        "the planted region's rank) and decoding of layer features with identification of the scan seen.",
        figure="fmri/encode/layer_map.png",
        title="fmri",
    )
    return {
        "best_layer_accuracy": enc.get("best_layer_accuracy"),
        "median_test_r": enc["median_test_r"],
        "median_ceiling": enc["median_ceiling"],
        "pairwise_identification": dec["pairwise_identification"],
        "nway50_accuracy": dec["nway50_accuracy"],
    }


SECTIONS = ("conv_nmf", "screenome", "k_selection", "video", "encoding", "v1", "fmri")


def run_demo(out: str | os.PathLike, *, quick: bool = False, only=None) -> JobResult:
    """Run every capability (or the sections named in ``only``) on built-in data into one folder.

    Parameters
    ----------
    out : path
        The demo folder (``index.html``, ``report.html``, one sub-folder per section).
    quick : bool
        Smaller settings: shorter simulations, fewer starts, epochs and iterations.
    only : list of str, optional
        Sections to run, from ``SECTIONS``; default all.

    Returns
    -------
    JobResult
        The demo folder, its ``summary.json`` (indexing reads it; ``metrics`` holds one dict per section)
        and ``report.html``.
    """
    sections = {
        "conv_nmf": _section_conv_nmf,
        "screenome": _section_screenome,
        "k_selection": _section_k_selection,
        "video": _section_video,
        "encoding": _section_encoding,
        "v1": _section_v1,
        "fmri": _section_fmri,
    }
    if only is not None:
        unknown = [name for name in only if name not in sections]
        if unknown or not only:
            raise InputError(f"--only: got {list(only)}; expected one or more of {', '.join(SECTIONS)}")
        sections = {name: sections[name] for name in SECTIONS if name in only}
    with JobFolder(out, {"quick": quick, "only": list(sections)}, job="demo", index=True) as res:
        for name, run in sections.items():
            with res.timer(f"{name}_seconds"):
                res.metrics[name] = run(res, quick)
        summary = res.summary()
    return JobResult(res.out, summary)
