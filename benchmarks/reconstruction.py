"""Movie reconstruction: the paper's loop vs neurocine's faster optimisers, on the same trained models.

For each trial and method, reconstruct the movie from the recorded responses
with the same models, then report wall time, seconds per iteration, the final
video correlation (Pearson over the evaluation-mask pixels of frames >= 30),
the mean frame correlation, and the number of iterations to reach 95 % of the
final correlation (from the correlation recorded every ``--record-every``
steps). One JSON line per (trial, method), then one summary line per method
with medians over trials and ratios against the paper's loop.

Methods
-------
paper        momentum SGD (beta 0.9), lr 1000 on 0-255 pixels, 10-step warm-up, ``--paper-iterations`` steps
adam         full Adam, lr 30 pixels / step, cosine decay, ``--adam-iterations`` steps
adam_c2f     the same, coarse-to-fine (half resolution first, then full)

Models: ``--models DIR`` (written by ``neurocine v1 train``) with ``--data DIR``; without them a small mouse is
simulated and a DNEM ensemble trained here first (not timed), or ``--truth-model`` uses the simulator's
ground-truth population as the encoding model (any torch module following the protocol works).

Usage::

    python benchmarks/reconstruction.py --quick                      # tiny: minutes on 2 CPU cores
    python benchmarks/reconstruction.py --data DATA --models MODELS --trials 3
    python benchmarks/reconstruction.py --data DATA --models MODELS --device cuda   # on a GPU
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = {
    "paper": dict(method="paper"),
    "adam": dict(method="adam"),
    "adam_c2f": dict(method="adam", coarse_to_fine=1),
}


def _machine(args) -> dict:
    import torch

    return {
        "case": "machine",
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "device": args.device,
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "loadavg_1min": os.getloadavg()[0],
    }


def _prepare(args):
    """(mouse, models as torch modules, update mask, evaluation mask, description).

    Models and masks come from the same code as ``neurocine v1 reconstruct`` (a models folder's
    ``mask.npz``, or a mask learned now for the true population), so the benchmark times what the job runs.
    """
    from neurocine.io.sensorium import SensoriumMouse
    from neurocine.v1.jobs import _encoding_models, _masks, run_simulate, run_train

    if args.models and not args.data:
        raise SystemExit("--models needs --data (the mouse folder the models were trained on)")
    if args.data:
        mouse, models = SensoriumMouse(args.data), args.models
        described = "simulator ground-truth population" if args.truth_model else f"models {args.models}"
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-recon-"))
        size = (
            dict(
                n_neurons=500,
                n_train=48,
                n_oracle=2,
                oracle_repeats=2,
                n_test=2,
                test_repeats=2,
                n_frames=90,
                n_calibration=8,
            )
            if args.quick
            else dict(n_neurons=2000, n_train=120, n_oracle=3, oracle_repeats=3, n_test=3, test_repeats=3, n_frames=150)
        )
        run_simulate(root / "data", seed=0, **size)
        mouse = SensoriumMouse(root / "data")
        if args.truth_model:
            models, described = None, "simulator ground-truth population"
        else:
            models = root / "models"
            run_train(
                root / "data", models, instances=args.instances, device=args.device, figures=False, epochs=args.epochs
            )
            described = f"{args.instances} DNEMs trained on a simulated mouse ({size['n_neurons']} neurons)"
    modules, saved_mask = _encoding_models(mouse, models, args.truth_model, args.device)
    _, update, evaluation = _masks(saved_mask, modules, mouse, 0, args.device)
    return mouse, modules, update, evaluation, described


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data")
    p.add_argument("--models")
    p.add_argument("--truth-model", action="store_true", help="Use the simulator's ground-truth population.")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--trials", type=int, default=2)
    p.add_argument("--methods", default="paper,adam,adam_c2f")
    p.add_argument("--paper-iterations", type=int, default=1000)
    p.add_argument("--adam-iterations", type=int, default=250)
    p.add_argument("--record-every", type=int, default=10)
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.paper_iterations = min(args.paper_iterations, 200)
        args.adam_iterations = min(args.adam_iterations, 60)
        args.epochs = args.epochs or 4
    print(json.dumps(_machine(args)), flush=True)
    from neurocine.v1.jobs import _first_presentations, test_tier
    from neurocine.v1.reconstruction import reconstruct

    mouse, modules, update, evaluation, described = _prepare(args)
    ids = _first_presentations(mouse, test_tier(mouse))[: args.trials]
    results: dict[str, list[dict]] = {}
    for tid in ids:
        trial = mouse.trial(tid)
        for name in args.methods.split(","):
            iterations = args.paper_iterations if name == "paper" else args.adam_iterations
            t0 = time.perf_counter()
            r = reconstruct(
                modules,
                trial.responses,
                trial.behavior,
                trial.pupil_center,
                update_mask=update,
                iterations=iterations,
                truth=trial.video,
                evaluation_mask=evaluation,
                record_every=args.record_every,
                device=args.device,
                desc=None,
                **METHODS[name],
            )
            seconds = time.perf_counter() - t0
            line = {
                "case": "reconstruct",
                "trial": tid,
                "method": name,
                "models": described,
                "n_models": len(modules),
                "frames": int(trial.video.shape[0]),
                "iterations": iterations,
                "seconds": round(seconds, 3),
                "seconds_per_iteration": round(seconds / iterations, 4),
                "video_correlation": r.video_correlation,
                "mean_frame_correlation": r.mean_frame_correlation,
                "peak_recorded_correlation": float(np.nanmax(r.correlation_history)),
                "iterations_to_95pct_final": r.iterations_to(0.95),
                "loadavg_1min": os.getloadavg()[0],
            }
            results.setdefault(name, []).append(line)
            print(json.dumps(line), flush=True)
    ref = results.get("paper")
    for name, lines in results.items():
        med = {
            k: statistics.median([ln[k] for ln in lines if ln[k] is not None] or [float("nan")])
            for k in ("seconds", "video_correlation", "iterations_to_95pct_final")
        }
        summary = {
            "case": "summary",
            "method": name,
            "trials": len(lines),
            **{f"median_{k}": v for k, v in med.items()},
        }
        if ref and name != "paper":
            ref_s = statistics.median([ln["seconds"] for ln in ref])
            ref_c = statistics.median([ln["video_correlation"] for ln in ref])
            summary["speedup_vs_paper"] = ref_s / med["seconds"]
            summary["correlation_minus_paper"] = med["video_correlation"] - ref_c
            ref_it = [ln["iterations_to_95pct_final"] for ln in ref if ln["iterations_to_95pct_final"] is not None]
            if ref_it:
                summary["iterations_to_95_ratio_vs_paper"] = statistics.median(ref_it) / max(
                    med["iterations_to_95pct_final"], 1
                )
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    sys.exit(main())
