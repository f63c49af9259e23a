"""Spike sorting of the real locust tetrode: ``neurocine motifs sort`` against SpikeInterface's own sorters.

The trial (``locust_tetrode/locust_trial_01.raw`` of the shared real data: int16, 4 channels, 15 kHz,
431 548 samples) is band-passed (300-5000 Hz, zero phase) once; neurocine sorts it
(:func:`neurocine.motifs.sorting.sort_spikes` after whitening) and SpikeInterface's sorters that need
no outside binaries (tridesclous2, spykingcircus2, default parameters, fixed seeds) sort the same
filtered data. Every pair of sorters is compared with ``spikeinterface.comparison.compare_two_sorters``
(``delta_time`` 0.4 ms): the units matched at agreement >= 0.5 and >= 0.8. neurocine's sort is handed
to SpikeInterface through its phy export (``spikeinterface.extractors.read_phy``), so the export is
checked too.

Prints one JSON line per sorter (``sorter``, ``seconds``, ``n_units``, ``n_spikes``), one per pair
(``pair``, ``matched_0.5``, ``matched_0.8``) and a ratio line (neurocine's seconds over
tridesclous2's, measured in the same run). neurocine's seconds include the band-pass and whitening.

SpikeInterface pins ``zarr<3`` on Python < 3.14, so it may live in another environment than
neurocine's: ``--si-python`` names that environment's interpreter (default: this one when it can
import spikeinterface, else ``$NEUROCINE_SI_PYTHON``). The peers run there in a subprocess, from this
same file (``--peer``), which then imports numpy and spikeinterface only.

Usage::

    pip install -e ".[bench]"                       # spikeinterface, numba
    python benchmarks/spike_sorting.py
    python benchmarks/spike_sorting.py --si-python /path/to/si-venv/bin/python --sorters tridesclous2
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

FS = 15000.0
N_CHANNELS = 4
DELTA_MS = 0.4
PEERS = ("tridesclous2", "spykingcircus2")
PEER_SEEDS = {"tridesclous2": {"seed": 0}, "spykingcircus2": {"seed": 42}}


def _emit(record: dict) -> None:
    print(json.dumps(record), flush=True)


# --------------------------------------------------------------------------- peers (SpikeInterface side)


def run_peers(folder: Path, sorters: list[str]) -> None:
    """In the SpikeInterface environment: sort ``folder/filtered.dat`` with each sorter, compare all pairs."""
    import spikeinterface.comparison as sc
    import spikeinterface.core as si
    import spikeinterface.extractors as se
    import spikeinterface.sorters as ss
    from probeinterface import generate_tetrode

    rec = si.read_binary(folder / "filtered.dat", sampling_frequency=FS, dtype="float32", num_channels=N_CHANNELS)
    probe = generate_tetrode()
    probe.set_device_channel_indices(np.arange(N_CHANNELS))
    rec.set_probe(probe)
    sortings = {"neurocine": se.read_phy(folder / "phy")}
    for name in sorters:
        t0 = time.perf_counter()
        sorting = ss.run_sorter(
            name, rec, folder=folder / f"si_{name}", remove_existing_folder=True, verbose=False, **PEER_SEEDS[name]
        )
        seconds = time.perf_counter() - t0
        sortings[name] = sorting
        n_spikes = int(sum(len(sorting.get_unit_spike_train(u)) for u in sorting.unit_ids))
        _emit({"sorter": name, "seconds": round(seconds, 2), "n_units": len(sorting.unit_ids), "n_spikes": n_spikes})
    for a, b in itertools.combinations(sortings, 2):
        cmp = sc.compare_two_sorters(sortings[a], sortings[b], a, b, delta_time=DELTA_MS)
        scores = cmp.agreement_scores.to_numpy()
        best = [scores[i, j] for i, j in zip(*_hungarian(scores))]
        _emit(
            {
                "pair": [a, b],
                "units": [len(sortings[a].unit_ids), len(sortings[b].unit_ids)],
                "matched_0.5": int(sum(s >= 0.5 for s in best)),
                "matched_0.8": int(sum(s >= 0.8 for s in best)),
                "agreements": sorted((round(float(s), 3) for s in best), reverse=True),
            }
        )


def _hungarian(scores: np.ndarray):
    from scipy.optimize import linear_sum_assignment

    return linear_sum_assignment(scores, maximize=True)


# --------------------------------------------------------------------------- neurocine side


def _si_python(given: str | None) -> str:
    if given:
        return given
    if importlib.util.find_spec("spikeinterface") is not None:
        return sys.executable
    env = os.environ.get("NEUROCINE_SI_PYTHON")
    if env:
        return env
    sys.exit("spikeinterface not importable here: pip install -e '.[bench]', or give --si-python / NEUROCINE_SI_PYTHON")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None, help="the .raw trial (default: $NEUROCINE_REALDATA/locust_tetrode/...)")
    parser.add_argument("--sorters", default=",".join(PEERS), help="SpikeInterface sorters, comma-separated")
    parser.add_argument("--si-python", default=None, help="Python interpreter that can import spikeinterface")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--peer", default=None, help=argparse.SUPPRESS)  # the subprocess: a work folder
    args = parser.parse_args()
    sorters = [s for s in args.sorters.split(",") if s]
    if args.peer is not None:
        run_peers(Path(args.peer), sorters)
        return

    from neurocine.features.extracellular import bandpass, preprocess_extracellular
    from neurocine.io.phy import write_phy_folder
    from neurocine.io.signals import read_raw_binary
    from neurocine.motifs.sorting import sort_spikes

    root = Path(os.environ.get("NEUROCINE_REALDATA", Path(__file__).resolve().parents[2] / "shared" / "realdata"))
    path = Path(args.data) if args.data else root / "locust_tetrode" / "locust_trial_01.raw"
    if not path.exists():
        sys.exit(f"{path} not found: set NEUROCINE_REALDATA or give --data")
    si_python = _si_python(args.si_python)
    raw = read_raw_binary(path, dtype="int16", n_channels=N_CHANNELS, sampling_rate=FS).data
    _emit({"data": str(path), "samples": len(raw), "channels": N_CHANNELS, "fs": FS, "cpus": os.cpu_count()})
    t0 = time.perf_counter()
    signal = preprocess_extracellular(raw, FS)
    sort = sort_spikes(signal.whitened, FS, seed=args.seed)
    seconds = time.perf_counter() - t0
    _emit({"sorter": "neurocine", "seconds": round(seconds, 2), "n_units": sort.n_units, "n_spikes": len(sort.times)})
    with tempfile.TemporaryDirectory(prefix="spike_sorting_bench_") as tmp:
        folder = Path(tmp)
        filtered = bandpass(raw - np.median(raw, axis=0), FS).astype(np.float32)  # what the peers get
        filtered.tofile(folder / "filtered.dat")
        write_phy_folder(
            folder / "phy",
            times=sort.times,
            labels=sort.labels,
            templates=signal.to_input_units(sort.templates),
            amplitudes=sort.amplitudes,
            recording=signal.filtered,
            sampling_rate=FS,
        )
        out = subprocess.run(
            [si_python, __file__, "--peer", str(folder), "--sorters", ",".join(sorters)],
            capture_output=True,
            text=True,
        )
    if out.returncode != 0:
        sys.exit(f"the SpikeInterface peers failed:\n{out.stderr[-3000:]}")
    records = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    for record in records:
        _emit(record)
    peer_seconds = {r["sorter"]: r["seconds"] for r in records if "sorter" in r}
    for name, s in peer_seconds.items():
        _emit({"ratio": f"neurocine / {name} seconds", "value": round(seconds / s, 3)})


if __name__ == "__main__":
    main()
