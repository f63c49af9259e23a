"""DNEM ensemble against the simulator's ceilings, beside a behaviour-only peer, on the hard (default) or easy mouse.

Simulates a mouse with :func:`neurocine.v1.simulate.simulate_v1` (or reads ``--data``), trains
``--instances`` DNEMs on the first ``--n-train`` training trials (validation: the ``oracle`` tier)
and scores the ensemble on the ``final_test_main`` tier, exactly as ``neurocine v1 train`` does:

``single_trial_correlation``
    mean over neurons of the Sensorium single-trial correlation (frames >= 50), divided by the
    simulator's ``ceiling_correlation`` (true rates against single trials) as ``fraction_of_ceiling``;
``correlation_to_average``
    responses and predictions averaged over the repeats of each test clip, divided by the
    ``repeat_ceiling`` (a perfect stimulus model against the repeat mean) as
    ``fraction_of_repeat_ceiling``;
``val_fraction_curve``
    the validation (oracle) single-trial correlation after every epoch, divided by the oracle
    tier's true-rate ceiling: the learning curve; ``train_correlation`` scores 15 training trials.

The peer, ``behaviour_only``, is a per-neuron least-squares model of the responses on the pupil
dilation and running speed alone (``[1, p, p^2, tanh(v/10), tanh(v/5), v]``, no stimulus): whatever
a model scores above it comes from the movie. The last line gives the ratios of the two.

Usage::

    python benchmarks/v1_dnem.py --quick                        # 300 neurons, 30 clips, 1 epoch: minutes
    python benchmarks/v1_dnem.py --hard                         # 1000 neurons, 60 clips, 2 x 5 epochs
    python benchmarks/v1_dnem.py --hard --n-neurons 8000 --n-train 240 --instances 7 --epochs 20 --device cuda
    python benchmarks/v1_dnem.py --easy                         # the easy mouse at the same size
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np


def _load(mouse, ids):
    out = []
    for tid in ids:
        t = mouse.trial(tid)
        out.append(
            SimpleNamespace(
                trial_id=tid,
                video=np.asarray(t.video, np.float32),
                responses=np.asarray(t.responses, np.float32),
                behavior=np.asarray(t.behavior, np.float32),
                pupil_center=np.asarray(t.pupil_center, np.float32),
            )
        )
    return out


def _behaviour_features(trial) -> np.ndarray:
    b = np.asarray(trial.behavior, np.float64)
    p, v = b[:, 0], b[:, 1]
    return np.stack([np.ones_like(p), p, p * p / 20, np.tanh(v / 10), np.tanh(v / 5), v / 20], 1)


def _scores(mouse, test, predictions, sim) -> dict:
    from neurocine.metrics.neural import correlation_to_average, single_trial_correlation
    from neurocine.v1.jobs import _repeats

    responses = [t.responses for t in test]
    single = float(np.nanmean(single_trial_correlation(responses, predictions)))
    index = {t.trial_id: j for j, t in enumerate(test)}
    groups = _repeats(mouse, [t.trial_id for t in test])
    cta = float(
        np.nanmean(
            correlation_to_average(
                [[responses[index[i]] for i in g] for g in groups], [[predictions[index[i]] for i in g] for g in groups]
            )
        )
    )
    return {
        "single_trial_correlation": round(single, 4),
        "fraction_of_ceiling": round(single / sim["ceiling_correlation"], 3),
        "correlation_to_average": round(cta, 4),
        "fraction_of_repeat_ceiling": round(cta / sim["repeat_ceiling"], 3),
    }


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    kind = p.add_mutually_exclusive_group()
    kind.add_argument("--hard", action="store_true", help="The hard (default) simulated mouse (the default here).")
    kind.add_argument("--easy", action="store_true", help="The easy simulated mouse.")
    p.add_argument("--quick", action="store_true", help="300 neurons, 30 training clips, 1 instance, 1 epoch.")
    p.add_argument("--data", help="An existing simulated mouse folder (skips the simulation).")
    p.add_argument("--n-neurons", type=int, default=1000)
    p.add_argument("--n-train", type=int, default=60)
    p.add_argument("--instances", type=int, default=2)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        args.n_neurons, args.n_train, args.instances, args.epochs = 300, 30, 1, 1
    from neurocine.io.sensorium import SensoriumMouse
    from neurocine.metrics.neural import single_trial_correlation
    from neurocine.v1.dnem import train_ensemble
    from neurocine.v1.simulate import simulate_v1

    print(
        json.dumps(
            {"case": "machine", "torch": torch.__version__, "threads": torch.get_num_threads(), "device": args.device}
        ),
        flush=True,
    )
    t0 = time.perf_counter()
    if args.data:
        root = Path(args.data)
    else:
        root = Path(tempfile.mkdtemp(prefix="bench-dnem-")) / "mouse"
        simulate_v1(
            root,
            n_neurons=args.n_neurons,
            n_train=args.n_train,
            n_oracle=3,
            oracle_repeats=4,
            n_test=3,
            test_repeats=5,
            seed=args.seed,
            easy=args.easy,
        )
    mouse = SensoriumMouse(root)
    sim = mouse.simulation
    keys = ("difficulty", "n_neurons", "ceiling_correlation", "ceiling_correlation_oracle", "repeat_ceiling")
    print(
        json.dumps({"case": "simulation", **{k: sim.get(k) for k in keys}, "seconds": round(time.perf_counter() - t0)}),
        flush=True,
    )
    train = _load(mouse, mouse.trial_ids_of("train")[: args.n_train])
    val = _load(mouse, mouse.trial_ids_of("oracle"))
    test = _load(mouse, mouse.trial_ids_of("final_test_main"))

    x = np.concatenate([_behaviour_features(t)[20:] for t in train])
    y = np.concatenate([t.responses[20:] for t in train])
    weights = np.linalg.solve(x.T @ x + 1e-3 * np.eye(x.shape[1]), x.T @ y)
    peer = _scores(mouse, test, [_behaviour_features(t) @ weights for t in test], sim)
    print(json.dumps({"case": "behaviour_only", "n_train": len(train), **peer}), flush=True)

    t0 = time.perf_counter()
    options = {} if args.lr is None else {"lr": args.lr}
    fitted = train_ensemble(
        train,
        val,
        n_instances=args.instances,
        random_state=args.seed,
        device=args.device,
        epochs=args.epochs,
        **options,
    )
    wall = time.perf_counter() - t0
    per_model = [m.predict_trials(test) for m in fitted]
    ensemble = [np.mean([q[j] for q in per_model], axis=0) for j in range(len(test))]
    train_corr = single_trial_correlation([t.responses for t in train[:15]], fitted[0].predict_trials(train[:15]))
    dnem = _scores(mouse, test, ensemble, sim)
    line = {
        "case": "dnem",
        "difficulty": sim.get("difficulty"),
        "n_neurons": sim["n_neurons"],
        "n_train": len(train),
        "instances": args.instances,
        "epochs": args.epochs,
        **dnem,
        "instance_fractions_of_ceiling": [
            round(_scores(mouse, test, q, sim)["fraction_of_ceiling"], 3) for q in per_model
        ],
        "val_fraction_curve": [
            round(v / sim["ceiling_correlation_oracle"], 3) for v in fitted[0].history_["val_correlation"]
        ],
        "train_loss_curve": [round(v, 4) for v in fitted[0].history_["loss"]],
        "train_correlation": round(float(np.nanmean(train_corr)), 4),
        "train_seconds": round(wall, 1),
        "loadavg_1min": os.getloadavg()[0],
    }
    print(json.dumps(line), flush=True)
    print(
        json.dumps(
            {
                "case": "ratio",
                "dnem_over_behaviour_only": round(
                    dnem["single_trial_correlation"] / peer["single_trial_correlation"], 3
                ),
                "dnem_fraction_of_ceiling": dnem["fraction_of_ceiling"],
                "behaviour_only_fraction_of_ceiling": peer["fraction_of_ceiling"],
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
