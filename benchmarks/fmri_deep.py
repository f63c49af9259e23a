"""Benchmark of the fMRI deep path against ridge on the same split: ``neurocine fmri pretrain``'s table.

For each ``--seeds`` value: simulate fMRI with the hidden-feature simulator (``neurocine fmri simulate``;
``--small`` by default: 300 voxels, 2 regions; ``--easy`` the earlier circular generator), run
``neurocine fmri pretrain`` with its defaults on it, and print one JSON line per row of its
``deep_vs_ridge`` table: the deep model and its score beside the ridge baseline's on the same test
samples, their ratio (``deep_over_ridge``), chance, the permutation p-values of pairwise identification
and, for encoding, the median noise ceiling of the target. Then one line per seed of how each network's
training went (``training``: epochs run, best validation epoch, first and kept training and validation
losses, whether early stopping ended it) and the job's wall time per step.

The first line describes the machine (``"case": "device"``).

Usage::

    python benchmarks/fmri_deep.py                       # seeds 0 and 1, small simulation, CPU
    python benchmarks/fmri_deep.py --seeds 0,1,2 --threads 1
    python benchmarks/fmri_deep.py --full --device cuda  # the default simulation size
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np


def emit(record: dict) -> None:
    print(json.dumps(record, default=lambda o: o.item() if hasattr(o, "item") else str(o)), flush=True)


def device_info(args) -> dict:
    import torch

    return {
        "bench": "fmri_deep",
        "case": "device",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": args.device,
        "cuda_device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def run_seed(seed: int, root: Path, args) -> None:
    from neurocine.fmri.jobs import run_fmri_pretrain, run_fmri_simulate
    from neurocine.fmri.simulate import SMALL_SIMULATION

    sim = {} if args.full else dict(SMALL_SIMULATION)
    data = root / f"data{seed}"
    run_fmri_simulate(data, device=args.device, figures=False, easy=args.easy, **{**sim, "seed": seed})
    t0 = time.perf_counter()
    summary = run_fmri_pretrain(data, root / f"pretrain{seed}", device=args.device, seed=seed, figures=False).summary
    wall = time.perf_counter() - t0
    simulation = "easy" if args.easy else "hidden-feature"
    size = "default" if args.full else "small"
    for row in summary["metrics"]["deep_vs_ridge"]:
        emit(
            {"bench": "fmri_deep", "case": "deep_vs_ridge", "simulation": simulation, "size": size, "seed": seed, **row}
        )
    emit(
        {
            "bench": "fmri_deep",
            "case": "training",
            "simulation": simulation,
            "size": size,
            "seed": seed,
            "training": summary["metrics"]["training"],
            "seconds": round(wall, 1),
            "step_seconds": {k: round(v, 1) for k, v in summary["timings"].items()},
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0,1", help="comma-separated simulator (and training) seeds")
    parser.add_argument("--full", action="store_true", help="the default simulation size instead of --small")
    parser.add_argument("--easy", action="store_true", help="the earlier, circular simulator")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: library's)")
    args = parser.parse_args()
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(args.threads)
        threadpool_limits(args.threads)
    emit(device_info(args))
    with tempfile.TemporaryDirectory() as tmp:
        for seed in (int(s) for s in args.seeds.split(",")):
            run_seed(seed, Path(tmp), args)


if __name__ == "__main__":
    main()
