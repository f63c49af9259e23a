"""Songbird HVC sequences: neurocine's Conv-NMF against the PyPI ``seqnmf`` port, side by side.

The seqNMF demo's data (``songbird_hvc/MackeviciusData.mat`` under ``$NEUROCINE_REALDATA``: 75
neurons x 666 frames at 30 Hz, and the song spectrogram at 200 Hz) are split as the demo does: both
tools fit the first 75 % of the frames with K = 10 templates of L = 20 frames; seqnmf with the demo's
settings (``Lambda=0.005``, ``lambda_L1W=0.1``, 100 iterations), neurocine with
``ConvNMF(10, 20, nonnegative=True, n_init=3)`` (``--n-init``; its default of 10 starts gives the same
quality here in about 2.5 times the time). Both are then scored by the same code, with their templates
fixed (seqnmf's ``W`` as a ``(K, N, L)`` array scaled to unit norm, its noise level the std of its own
training residual): :func:`neurocine.motifs.heldout.evaluate_heldout` on the last 25 % (held-out R²,
seqNMF's significance test per unit, Bonferroni over K), events found by ``ConvNMF.transform`` on the
whole recording, and :func:`neurocine.motifs.behaviour.behaviour_locking` of those events against
the song (window from half a template before each event to one and a half after; p < 0.05).

One JSON line per (tool, seed), then one summary line with the medians over seeds and the ratios.
seqnmf runs in this interpreter when importable, else in ``--seqnmf-python`` (default
``$NEUROCINE_SEQNMF_PYTHON``), a Python that has it: the package needs ``pkg_resources``
(``setuptools<81``) and seaborn, e.g. ``python -m venv V && V/bin/pip install "setuptools<81" seqnmf``.
``seconds`` is the wall time of the fit alone in both. ``heldout_r2_dense_refit`` is the other rule of
held-out R², seqNMF's own (what its paper and the real-data README report): seqnmf refits a dense
nonnegative H on the test part with W fixed (``W_fixed=True``), for both tools' templates alike;
``heldout_r2`` finds sparse events there instead (``ConvNMF.transform``, events at least L apart).

Usage::

    python benchmarks/songbird.py                    # seeds 0-4
    python benchmarks/songbird.py --seeds 0-9 --seqnmf-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

K, L, LAMBDA, LAMBDA_L1W, MAX_ITER, HOLDOUT = 10, 20, 0.005, 0.1, 100, 0.25
FIELDS = (
    "n_significant",
    "heldout_r2",
    "heldout_r2_dense_refit",
    "n_significant_song_locked",
    "n_song_locked",
    "seconds",
)


def dense_refit_r2(w: np.ndarray, x_test: np.ndarray) -> float:
    """seqNMF's own cross-validation: H refit on (N, T) test data with W (N, K, L) fixed; R² of its reconstruction.

    seqnmf rescales W and H together while it runs, so the prediction uses the W it returns.
    """
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from seqnmf import seqnmf
        from seqnmf.helpers import reconstruct

    w_out, h_test, *_ = seqnmf(
        x_test, K=w.shape[1], L=w.shape[2], Lambda=LAMBDA, W_init=w.copy(), W_fixed=True, max_iter=MAX_ITER
    )
    pred = reconstruct(w_out, h_test)
    return float(1.0 - ((x_test - pred) ** 2).sum() / ((x_test - x_test.mean()) ** 2).sum())


def seqnmf_fit(x_train: np.ndarray, x_test: np.ndarray, seed: int, w_other: np.ndarray) -> dict:
    """seqnmf on (N, T) arrays: W (N, K, L), H, the fit's seconds, the std of its training residual, and
    the dense held-out refit R² (:func:`dense_refit_r2`) of its W and of ``w_other`` (neurocine's)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from seqnmf import seqnmf
        from seqnmf.helpers import reconstruct

    np.random.seed(seed)  # seqnmf draws its initialisation from numpy's global generator
    start = time.perf_counter()
    w, h, _cost, _loadings, _power = seqnmf(x_train, K=K, L=L, Lambda=LAMBDA, lambda_L1W=LAMBDA_L1W, max_iter=MAX_ITER)
    seconds = time.perf_counter() - start
    residual = x_train - reconstruct(w, h)
    return {
        "W": w,
        "H": h,
        "seconds": seconds,
        "noise_std": float(residual.std()),
        "dense_r2": dense_refit_r2(w, x_test),
        "dense_r2_other": dense_refit_r2(w_other, x_test),
    }


def _worker(argv: list[str]) -> int:
    """``--seqnmf-worker IN.npz OUT.npz``: run :func:`seqnmf_fit` here (numpy and seqnmf only)."""
    src, dst = argv
    with np.load(src) as z:
        out = seqnmf_fit(z["x_train"], z["x_test"], int(z["seed"]), z["w_other"])
    np.savez(dst, **out)
    return 0


def run_seqnmf(x_train: np.ndarray, x_test: np.ndarray, seed: int, w_other: np.ndarray, python: str | None) -> dict:
    try:
        import seqnmf  # noqa: F401
    except Exception:
        if not python:
            raise SystemExit("seqnmf is not importable here; give --seqnmf-python (a Python that has it)") from None
    else:
        return seqnmf_fit(x_train, x_test, seed, w_other)
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.npz", Path(tmp) / "out.npz"
        np.savez(src, x_train=x_train, x_test=x_test, seed=seed, w_other=w_other)
        subprocess.run([python, __file__, "--seqnmf-worker", str(src), str(dst)], check=True)
        with np.load(dst) as z:
            return {k: z[k] if z[k].ndim else z[k].item() for k in z.files}


def fixed_template_model(w: np.ndarray, noise_std: float):
    """A ConvNMF holding seqnmf's templates (W (N, K, L) -> (K, N, L), unit norm), ready to transform."""
    from neurocine.motifs.convnmf import ConvNMF

    templates = np.transpose(w, (1, 0, 2)).astype(np.float64)
    norms = np.linalg.norm(templates.reshape(K, -1), axis=1)
    templates = np.divide(templates, norms[:, None, None], out=np.zeros_like(templates), where=norms[:, None, None] > 0)
    model = ConvNMF(K, L, nonnegative=True)
    model.templates_ = templates.astype(np.float32)
    model.noise_std_ = float(noise_std)
    model.n_features_in_ = w.shape[0]
    return model


def score(model, x: np.ndarray, n_train: int, song: np.ndarray, fs: float, song_fs: float, seed: int) -> dict:
    """The same scores for both tools: held-out R² and significance, and song locking of the events."""
    from neurocine.motifs.behaviour import behaviour_locking
    from neurocine.motifs.heldout import evaluate_heldout

    ev = evaluate_heldout(model, x[n_train:], random_state=seed)
    amplitudes = np.concatenate([model.transform(x[:n_train]), ev.amplitudes])
    lock = behaviour_locking(
        amplitudes,
        song,
        sampling_rate=fs,
        behaviour_rate=song_fs,
        window=(-0.5 * L / fs, 1.5 * L / fs),
        random_state=seed,
    )
    sig = ev.significant
    return {
        "heldout_r2": round(ev.r2, 4),
        "n_significant": ev.n_significant,
        "n_song_locked": lock.n_locked,
        "n_significant_song_locked": int((sig & lock.locked).sum()),
        "all_significant_song_locked": bool((lock.locked | ~sig).all()),
        "n_units_with_events": int((amplitudes > 0).any(axis=0).sum()),
        "pvalues": [round(float(p), 4) for p in ev.pvalues],
        "song_pvalues": [round(float(p), 4) for p in lock.pvalues],
    }


def load(realdata: Path):
    from neurocine.io.signals import read_signal_matrix

    path = realdata / "songbird_hvc" / "MackeviciusData.mat"
    if not path.exists():
        raise SystemExit(f"{path} not found; set NEUROCINE_REALDATA to the folder holding songbird_hvc/")
    neural = read_signal_matrix(path, key="NEURAL", channels_first=True, sampling_rate="VIDEOfs", dtype=np.float64)
    song = read_signal_matrix(path, key="SONG", channels_first=True, sampling_rate="SONGfs", dtype=np.float64)
    return neural, song


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",")]


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--seqnmf-worker"]:
        return _worker(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="0-4", help="seeds, as 0-4 or 0,3,7 (default 0-4)")
    p.add_argument("--n-init", type=int, default=3, help="neurocine's starts (ConvNMF n_init; default 3)")
    p.add_argument("--seqnmf-python", default=os.environ.get("NEUROCINE_SEQNMF_PYTHON"), help="a Python with seqnmf")
    p.add_argument("--realdata", default=os.environ.get("NEUROCINE_REALDATA", "../shared/realdata"))
    args = p.parse_args(argv)
    import torch

    from neurocine.motifs.convnmf import ConvNMF

    neural, song = load(Path(args.realdata))
    x = neural.data
    n_train = int(np.floor((1 - HOLDOUT) * len(x)))
    fs, song_fs = neural.sampling_rate, song.sampling_rate
    print(
        json.dumps(
            {
                "bench": "songbird",
                "case": "device",
                "torch_threads": torch.get_num_threads(),
                "data": list(x.shape),
                "n_train": n_train,
                "fs": fs,
                "song_fs": song_fs,
                "n_init": args.n_init,
            }
        ),
        flush=True,
    )
    ConvNMF(K, L, nonnegative=True, random_state=0, max_iter=2, n_init=1).fit(x[:n_train])  # warm-up, untimed
    lines = []
    for seed in parse_seeds(args.seeds):
        model = ConvNMF(K, L, nonnegative=True, n_init=args.n_init, random_state=seed)
        start = time.perf_counter()
        model.fit(x[:n_train])
        ours = {"tool": "neurocine", "seconds": round(time.perf_counter() - start, 3)}
        ours.update(score(model, x, n_train, song.data, fs, song_fs, seed))
        w_ours = np.ascontiguousarray(np.transpose(model.templates_, (1, 0, 2)), dtype=np.float64)  # (N, K, L)
        x_train, x_test = np.ascontiguousarray(x[:n_train].T), np.ascontiguousarray(x[n_train:].T)
        peer = run_seqnmf(x_train, x_test, seed, w_ours, args.seqnmf_python)
        ours["heldout_r2_dense_refit"] = round(float(peer["dense_r2_other"]), 4)
        theirs = {"tool": "seqnmf", "seconds": round(float(peer["seconds"]), 3)}
        theirs.update(
            score(fixed_template_model(peer["W"], float(peer["noise_std"])), x, n_train, song.data, fs, song_fs, seed)
        )
        theirs["heldout_r2_dense_refit"] = round(float(peer["dense_r2"]), 4)
        for line in (ours, theirs):
            line = {"bench": "songbird", "seed": seed, **line}
            lines.append(line)
            print(json.dumps(line), flush=True)
    summary: dict = {"bench": "songbird", "case": "median"}
    for tool in ("neurocine", "seqnmf"):
        rows = [r for r in lines if r["tool"] == tool]
        for field in FIELDS:
            summary[f"{tool}_{field}"] = statistics.median(r[field] for r in rows)
        summary[f"{tool}_seeds_all_significant_song_locked"] = sum(r["all_significant_song_locked"] for r in rows)
    summary["seqnmf_over_neurocine_seconds"] = round(summary["seqnmf_seconds"] / summary["neurocine_seconds"], 3)
    summary["neurocine_over_seqnmf_heldout_r2"] = round(
        summary["neurocine_heldout_r2"] / summary["seqnmf_heldout_r2"], 3
    )
    print(json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
