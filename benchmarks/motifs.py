"""Speed / quality benchmark of the Conv-NMF solvers: ``solver="default"`` vs ``solver="reference"`` vs ``seqnmf``.

Prints one JSON line per (case, solver) to stdout, one ratio line per case,
and a first line describing the machine. See ``benchmarks/README.md`` for
the meaning of every field.

Cases
-----
a (``notebook_data``) the notebook's data: ``simulate_convnmf(7)`` (T=600, N=10, D=10, K=4)
b (``large``)      ``simulate_convnmf(0, timesteps=100_000, channels=100, width=50, neurons=10)``
                   (``--quick``: T=20 000)
c (``scale``)      N=384, T=1 000 000, D=50, K=32, default solver only (``--scale``):
                   wall time and peak memory
stability          (``--stability``) seqNMF's dissimilarity of two factorisations of case b's size
                   (the truth, and a reordered copy with noisy templates and amplitudes):
                   ``neurocine.motifs.selection.dissimilarity`` (spike and template
                   cross-correlations) against the definition computed from the
                   units' reconstructions; with ``--scale`` also at case c's size, neurocine only
selection          (``--selection``) K selection (K = 2, 4, 6, 8, 3 repeats) on N=50, T=20 000, D=20, K=5:
                   ``n_jobs`` worker processes against one process, the same selection asserted

Usage::

    python benchmarks/motifs.py                      # cases a and b
    python benchmarks/motifs.py --quick              # smoke test (case b with T=20 000)
    python benchmarks/motifs.py --cases b --scale --device cuda
    python benchmarks/motifs.py --cases none --stability
    python benchmarks/motifs.py --cases none --selection --selection-jobs 2
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import sys
import time
import warnings

import numpy as np

from neurocine.metrics import r2_score

SEQNMF_MISSING = "seqnmf not installed (pip install 'setuptools<81' seqnmf)"
SEQNMF_PEAK_RULE = (
    "seqnmf spikes: scipy.signal.find_peaks on each row of H with distance=L and "
    "height=0.1*max(row); spike time = peak index - 1 (seqnmf's reconstruct puts "
    "H[:, h] * W[:, :, l] at sample h + l - 1); amplitude = H * ||W_k||_F"
)
SEQNMF_DATA_RULE = (
    "seqnmf requires nonnegative data: fitted on max(X, 0); its R^2 is computed "
    "against the raw (signed) X with seqnmf.helpers.reconstruct"
)
LAG_RULE = (
    "spike_f1: score_against_truth(tolerance=2) after shifting each estimated unit's spike "
    "times by the lag of its template's best lagged cosine with any true template (a unit "
    "whose template is a delayed copy is not penalised for the delay); spike_f1_raw: no shift"
)

CASES = {
    "a": dict(name="notebook_data", seed=7, T=600, N=10, D=10, K=4),
    "b": dict(name="large", seed=0, T=100_000, N=100, D=50, K=10),
    "c": dict(name="scale", seed=0, T=1_000_000, N=384, D=50, K=32),
}


# --------------------------------------------------------------------------- output


def emit(record: dict) -> None:
    print(json.dumps(record, default=_json_default), flush=True)


def _json_default(obj):
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (np.floating,)):
        return None if not np.isfinite(obj) else float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    return str(obj)


def _round(x, digits=6):
    if x is None:
        return None
    x = float(x)
    return round(x, digits) if math.isfinite(x) else None


def _ratio(num, den):
    if num is None or den is None or den <= 0:
        return None
    return _round(num / den, 3)


def _diff(a, b):
    if a is None or b is None:
        return None
    return _round(a - b, 6)


def _peak_rss_gb() -> float:
    """Whole-process peak resident memory (``getrusage``; KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024
    return peak * scale / 2**30


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) of this process; False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _vm_hwm_gb() -> float | None:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def device_info(device: str) -> dict:
    import torch

    info = {
        "bench": "motifs",
        "case": "device",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "numpy": np.__version__,
        "cuda_available": torch.cuda.is_available(),
        "device_requested": device,
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    try:
        from importlib.metadata import version

        info["neurocine"] = version("neurocine")
        info["seqnmf"] = version("seqnmf")
    except Exception:
        info.setdefault("seqnmf", None)
    return info


# --------------------------------------------------------------------------- data and scoring


def make_case(key: str, quick: bool) -> dict:
    from neurocine.motifs.simulate import simulate_convnmf

    spec = dict(CASES[key])
    if quick and key == "b":
        spec["T"] = 20_000
    sim = simulate_convnmf(spec["seed"], timesteps=spec["T"], channels=spec["N"], width=spec["D"], neurons=spec["K"])
    spec["sim"] = sim
    return spec


def r2_of(data: np.ndarray, templates: np.ndarray, amplitudes: np.ndarray) -> float:
    """R^2 (grand-mean total sum of squares, as ``oracle_r2``) of ``sum_k a_k (*) W_k`` on data (T, N)."""
    import torch

    from neurocine.motifs.templates import convolve_templates

    pred = (
        convolve_templates(
            torch.from_numpy(np.ascontiguousarray(amplitudes.T, dtype=np.float32)),
            torch.from_numpy(np.ascontiguousarray(templates, dtype=np.float32)),
        )
        .numpy()
        .T
    )
    return r2_score(data, pred)


def _shift_amplitudes(amplitudes: np.ndarray, lags: list[int]) -> np.ndarray:
    """Move unit k's spikes ``lags[k]`` samples later (dropping those pushed out of [0, T))."""
    t_len = amplitudes.shape[0]
    out = np.zeros_like(amplitudes)
    for k, lag in enumerate(lags):
        idx = np.flatnonzero(amplitudes[:, k] > 0)
        new = idx + lag
        ok = (new >= 0) & (new < t_len)
        out[new[ok], k] = amplitudes[idx[ok], k]
    return out


def spike_scores(sim, templates: np.ndarray, amplitudes: np.ndarray) -> dict:
    """Spike F1 against the simulation's truth, raw and lag-aligned (see ``LAG_RULE``)."""
    from neurocine.motifs.scoring import lagged_cosine, score_against_truth

    true_t = sim.templates
    raw = score_against_truth(sim.amplitudes, amplitudes, true_t, templates, tolerance=2)
    lags = []
    for k in range(templates.shape[0]):
        best = max((lagged_cosine(templates[k], true_t[j]) for j in range(true_t.shape[0])), key=lambda c: c[0])
        # lagged_cosine(est, true) = (cos, lag): est is true delayed by lag, so the true onset
        # of an estimated spike at s is s + lag
        lags.append(best[1] if best[0] > 0 else 0)
    aligned = score_against_truth(sim.amplitudes, _shift_amplitudes(amplitudes, lags), true_t, templates, tolerance=2)
    return {
        "spike_f1": _round(aligned.overall["f1"], 4),
        "spike_precision": _round(aligned.overall["precision"], 4),
        "spike_recall": _round(aligned.overall["recall"], 4),
        "spike_f1_raw": _round(raw.overall["f1"], 4),
        "template_similarity": _round(raw.overall["template_similarity"], 4),
        "template_lags": [int(x) for x in lags],
        "n_spikes_est": int(raw.overall["n_est"]),
        "n_spikes_true": int(raw.overall["n_true"]),
    }


# --------------------------------------------------------------------------- solvers


def _convnmf_class():
    try:
        from neurocine.motifs.convnmf import ConvNMF
    except ImportError:
        return None
    return ConvNMF


def _estimator_result(est) -> dict:
    templates = np.asarray(est.templates_, dtype=np.float32)
    amplitudes = np.asarray(est.amplitudes_, dtype=np.float32)
    return {
        "templates": templates,
        "amplitudes": amplitudes,
        "n_iter": int(getattr(est, "n_iter_", -1)),
        "r2_reported": _round(getattr(est, "r2_", None)),
        "converged": bool(getattr(est, "converged_", False)) if hasattr(est, "converged_") else None,
    }


def fit_default(case: dict, device: str) -> dict:
    ConvNMF = _convnmf_class()
    if ConvNMF is None:
        raise RuntimeError("neurocine.motifs.convnmf.ConvNMF is not available yet")
    est = ConvNMF(n_components=case["K"], width=case["D"], solver="default", random_state=0, device=device)
    est.fit(case["sim"].data)
    return _estimator_result(est)


def fit_reference_solver(case: dict, device: str) -> dict:
    ConvNMF = _convnmf_class()
    if ConvNMF is not None:
        est = ConvNMF(
            n_components=case["K"],
            width=case["D"],
            rank=1,
            solver="reference",
            amp_rate=3.0,
            random_state=7,
            device=device,
        )
        est.fit(case["sim"].data)
        out = _estimator_result(est)
        out["via"] = "ConvNMF(solver='reference')"
        return out
    # fallback until the estimator lands: the low-level notebook solver, called as the notebook does
    import torch

    from neurocine.motifs._reference_solver import fit_reference
    from neurocine.motifs.templates import generate_templates
    from neurocine.runtime import resolve_device

    dev = resolve_device(device)
    data = torch.from_numpy(np.ascontiguousarray(case["sim"].data.T)).to(dev)
    torch.manual_seed(7)
    w0 = generate_templates(case["N"], case["D"], case["K"]).to(dev)
    templates, amplitudes, lls, converged = fit_reference(data, w0, rank=1, noise_std=float(data.std()), amp_rate=3.0)
    return {
        "templates": templates.cpu().numpy(),
        "amplitudes": amplitudes.T.cpu().numpy(),
        "n_iter": len(lls) - 1,
        "r2_reported": None,
        "converged": bool(converged),
        "via": "neurocine.motifs._reference_solver.fit_reference",
    }


def seqnmf_available() -> bool:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import seqnmf  # noqa: F401
    except Exception:
        return False
    return True


def fit_seqnmf(case: dict, max_iter: int, peak_height: float, lam: float = 0.001) -> dict:
    from scipy.signal import find_peaks

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from seqnmf import seqnmf
        from seqnmf.helpers import reconstruct

    raw = np.ascontiguousarray(case["sim"].data.T, dtype=np.float64)  # (N, T)
    k_units, d = case["K"], case["D"]
    np.random.seed(0)  # seqnmf draws its random initialisation from numpy's global generator
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w, h, cost, _loadings, _power = seqnmf(np.maximum(raw, 0.0), K=k_units, L=d, Lambda=lam, max_iter=max_iter)
    # W (N, K, L), H (K, T); prediction with seqnmf's own reconstruction
    pred = reconstruct(w, h)
    r2 = r2_score(raw.T, pred.T)
    t_len = h.shape[1]
    templates = np.transpose(w, (1, 0, 2)).astype(np.float64)  # (K, N, L)
    norms = np.linalg.norm(templates.reshape(k_units, -1), axis=1)
    amplitudes = np.zeros((t_len, k_units), dtype=np.float32)
    for k in range(k_units):
        row = h[k]
        top = float(row.max()) if row.size else 0.0
        if top <= 0 or norms[k] <= 0:
            continue
        peaks, props = find_peaks(row, distance=d, height=peak_height * top)
        times = peaks - 1
        ok = times >= 0
        amplitudes[times[ok], k] = props["peak_heights"][ok] * norms[k]
    templates = np.divide(
        templates, norms[:, None, None], out=np.zeros_like(templates), where=norms[:, None, None] > 0
    ).astype(np.float32)
    return {
        "templates": templates,
        "amplitudes": amplitudes,
        "n_iter": int(len(cost) - 1),
        "r2": r2,
        "r2_reported": None,
        "converged": None,
        "via": f"seqnmf.seqnmf(K={k_units}, L={d}, Lambda={lam:g}, max_iter={max_iter})",
    }


def timed(fit, repeats: int):
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fit()
        times.append(time.perf_counter() - start)
    return times, result


def record(case: dict, solver: str, times: list[float], result: dict, device: str, **extra) -> dict:
    sim = case["sim"]
    r2 = result.get("r2")
    if r2 is None:
        r2 = r2_of(sim.data, result["templates"], result["amplitudes"])
    out = {
        "bench": "motifs",
        "case": case["name"],
        "solver": solver,
        "N": case["N"],
        "T": case["T"],
        "D": case["D"],
        "K": case["K"],
        "seconds_median": _round(statistics.median(times), 4) if times else None,
        "seconds_all": [_round(t, 4) for t in times],
        "r2": _round(r2),
        "r2_reported": result.get("r2_reported"),
        "n_iter": result.get("n_iter"),
        "converged": result.get("converged"),
        "oracle_r2": _round(case.setdefault("oracle_r2", sim.oracle_r2())),
        "device": device,
        "via": result.get("via", "ConvNMF(solver='default')"),
    }
    out.update(spike_scores(sim, result["templates"], result["amplitudes"]))
    out.update(extra)
    return out


def run_solver(case: dict, solver: str, repeats: int, args) -> dict:
    """Fit ``solver`` ``repeats`` times on ``case``; return its JSON record (or a skipped/error record)."""
    base = {
        "bench": "motifs",
        "case": case["name"],
        "solver": solver,
        "N": case["N"],
        "T": case["T"],
        "D": case["D"],
        "K": case["K"],
    }
    try:
        if solver == "default":
            times, res = timed(lambda: fit_default(case, args.device), repeats)
            return record(case, solver, times, res, args.device)
        if solver == "reference":
            times, res = timed(lambda: fit_reference_solver(case, args.device), repeats)
            return record(case, solver, times, res, args.device)
        if solver.startswith("seqnmf"):
            if not seqnmf_available():
                return dict(base, skipped=SEQNMF_MISSING)
            lam = seqnmf_lambda(solver)
            times, res = timed(lambda: fit_seqnmf(case, args.seqnmf_max_iter, args.seqnmf_peak_height, lam), repeats)
            return record(
                case,
                solver,
                times,
                res,
                "cpu (numpy)",
                seqnmf_lambda=lam,
                notes=[
                    SEQNMF_PEAK_RULE.replace("0.1", str(args.seqnmf_peak_height)),
                    SEQNMF_DATA_RULE,
                    f"fixed iteration count: max_iter={args.seqnmf_max_iter}, tol=-inf; "
                    f"Lambda={lam:g} (package default 0.001)",
                ],
            )
    except Exception as exc:
        return dict(base, error=f"{type(exc).__name__}: {exc}")
    raise ValueError(solver)


def seqnmf_name(lam: float) -> str:
    """Solver label of a seqnmf run: ``seqnmf`` for the package default Lambda, else ``seqnmf(Lambda=x)``."""
    return "seqnmf" if lam == 0.001 else f"seqnmf(Lambda={lam:g})"


def seqnmf_lambda(name: str) -> float:
    return 0.001 if name == "seqnmf" else float(name[len("seqnmf(Lambda=") : -1])


def ratio_line(case_name: str, default: dict | None, reference: dict | None, seqs: list[dict], **extra) -> dict:
    """Ratios of one case; the seqnmf fields compare with the seqnmf run of highest R^2 (the strongest peer)."""
    fitted = [q for q in seqs if q.get("r2") is not None]
    seq = max(fitted, key=lambda q: q["r2"]) if fitted else None
    d_sec = default.get("seconds_median") if default else None
    s_sec = reference.get("seconds_median") if reference else None
    q_sec = seq.get("seconds_median") if seq else None
    d_r2 = default.get("r2") if default else None
    out = {
        "bench": "motifs",
        "case": case_name,
        "ratio": {
            "reference_over_default_seconds": _ratio(s_sec, d_sec),
            "seqnmf_over_default_seconds": _ratio(q_sec, d_sec),
        },
        "r2_gain_vs_reference": _diff(d_r2, reference.get("r2") if reference else None),
        "r2_gain_vs_seqnmf": _diff(d_r2, seq.get("r2") if seq else None),
        "spike_f1": {
            "default": default.get("spike_f1") if default else None,
            "reference": reference.get("spike_f1") if reference else None,
            "seqnmf": seq.get("spike_f1") if seq else None,
        },
        "seqnmf_compared": seq.get("solver") if seq else None,
    }
    if len(seqs) > 1:
        out["per_seqnmf_run"] = {
            q["solver"]: {
                "seqnmf_over_default_seconds": _ratio(q.get("seconds_median"), d_sec),
                "r2_gain_vs_seqnmf": _diff(d_r2, q.get("r2")),
                "spike_f1": q.get("spike_f1"),
            }
            for q in seqs
        }
    out.update(extra)
    return out


# --------------------------------------------------------------------------- cases


def warm_up(args, with_default: bool) -> None:
    """Untimed fits on a tiny simulation, so one-time torch initialisation is not timed."""
    from neurocine.motifs.simulate import simulate_convnmf

    case = dict(name="warmup", seed=1, T=300, N=6, D=8, K=2)
    case["sim"] = simulate_convnmf(1, timesteps=300, channels=6, width=8, neurons=2)
    try:
        if with_default:
            fit_default(case, args.device)
        fit_reference_solver(case, args.device)
    except Exception:
        pass


def run_scale(args) -> None:
    import torch

    spec = dict(CASES["c"])
    start = time.perf_counter()
    case = make_case("c", False)
    sim_seconds = time.perf_counter() - start
    rss_after_sim = _peak_rss_gb()
    base = {
        "bench": "motifs",
        "case": "scale",
        "solver": "default",
        "N": spec["N"],
        "T": spec["T"],
        "D": spec["D"],
        "K": spec["K"],
        "data_gb": _round(case["sim"].data.nbytes / 2**30, 3),
        "simulate_seconds": _round(sim_seconds, 1),
        "peak_rss_gb_after_simulation": _round(rss_after_sim, 3),
        "device": args.device,
    }
    reset = _reset_peak_rss()
    cuda = torch.cuda.is_available() and args.device != "cpu"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    try:
        times, res = timed(lambda: fit_default(case, args.device), 1)
    except Exception as exc:
        emit(dict(base, error=f"{type(exc).__name__}: {exc}", peak_rss_gb=_round(_peak_rss_gb(), 3)))
        return
    out = dict(
        base,
        seconds_median=_round(times[0], 2),
        seconds_all=[_round(times[0], 2)],
        peak_rss_gb=_round(_peak_rss_gb(), 3),
        fit_peak_rss_gb=_round(_vm_hwm_gb(), 3) if reset else None,
        n_iter=res["n_iter"],
        r2=res["r2_reported"],
        converged=res["converged"],
    )
    if cuda:
        out["cuda_peak_allocated_gb"] = _round(torch.cuda.max_memory_allocated() / 2**30, 3)
    try:
        out.update(spike_scores(case["sim"], res["templates"], res["amplitudes"]))
    except Exception as exc:
        out["spike_f1_error"] = f"{type(exc).__name__}: {exc}"
    out["notes"] = [
        "r2 is the estimator's r2_ (no second prediction is built, to keep memory low)",
        "fit_peak_rss_gb: peak resident memory during the fit alone (VmHWM reset before it); "
        "peak_rss_gb: whole process, simulation included",
    ]
    emit(out)


def dissimilarity_from_reconstructions(templates_a, amplitudes_a, templates_b, amplitudes_b) -> float:
    """The peer: seqNMF's dissimilarity from the units' reconstructions built in full (K T N numbers each)."""
    from neurocine.motifs.selection import unit_reconstructions

    ra = unit_reconstructions(templates_a, amplitudes_a).reshape(templates_a.shape[0], -1).astype(np.float64)
    rb = unit_reconstructions(templates_b, amplitudes_b).reshape(templates_b.shape[0], -1).astype(np.float64)
    c = (ra @ rb.T) / np.maximum(np.outer(np.linalg.norm(ra, axis=1), np.linalg.norm(rb, axis=1)), np.finfo(float).tiny)
    return float(1.0 - (c.max(1).sum() + c.max(0).sum()) / (2 * max(c.shape)))


def _measured(function, *args) -> tuple[float, float, float | None]:
    """(value, seconds, peak resident memory in GB above the memory in use before), one call."""
    reset = _reset_peak_rss()
    before = _vm_hwm_gb() if reset else None
    start = time.perf_counter()
    value = function(*args)
    seconds = time.perf_counter() - start
    extra = _vm_hwm_gb() - before if reset and before is not None else None
    return value, seconds, extra


def run_stability(args) -> None:
    """seqNMF's dissimilarity on case b's size (and c's with --scale): neurocine's against the reconstructions'."""
    from neurocine.motifs.selection import dissimilarity

    keys = ["b"] + (["c"] if args.scale else [])
    for key in keys:
        case = make_case(key, args.quick)
        truth_w, truth_a = case["sim"].templates, case["sim"].amplitudes
        rng = np.random.default_rng(0)
        order = rng.permutation(case["K"])
        noise = 0.3 / math.sqrt(case["N"] * case["D"])  # 30 % of a unit-norm template's norm
        other_w = truth_w[order] + noise * rng.normal(size=truth_w.shape).astype(np.float32)
        other_a = truth_a[:, order] * rng.uniform(0.5, 1.5, size=truth_a.shape).astype(np.float32)
        pair = (truth_w, truth_a, other_w, other_a)
        ours, peer = [], []
        for _ in range(args.repeats or 3):
            ours.append(_measured(dissimilarity, *pair))
            if key == "b":
                peer.append(_measured(dissimilarity_from_reconstructions, *pair))
        line = {
            "bench": "motifs",
            "case": f"stability_{case['name']}",
            "N": case["N"],
            "T": case["T"],
            "D": case["D"],
            "K": case["K"],
            "n_spikes": int((truth_a > 0).sum()),
            "dissimilarity": _round(ours[0][0], 8),
            "seconds_median": _round(statistics.median(r[1] for r in ours), 4),
            "seconds_all": [_round(r[1], 4) for r in ours],
            "extra_peak_rss_gb": _round(max((r[2] or 0.0) for r in ours), 3),
        }
        if peer:
            line.update(
                {
                    "peer": "reconstructions (K T N per factorisation, float64 cosines)",
                    "peer_dissimilarity": _round(peer[0][0], 8),
                    "abs_difference": _round(abs(ours[0][0] - peer[0][0]), 10),
                    "peer_seconds_median": _round(statistics.median(r[1] for r in peer), 4),
                    "peer_extra_peak_rss_gb": _round(max((r[2] or 0.0) for r in peer), 3),
                }
            )
            line["peer_over_neurocine_seconds"] = _ratio(line["peer_seconds_median"], line["seconds_median"])
        emit(line)


def run_selection(args) -> None:
    """K selection in ``--selection-jobs`` worker processes against one process: wall times, same result."""
    from neurocine.motifs.selection import select_n_components
    from neurocine.motifs.simulate import simulate_convnmf

    spec = dict(N=50, T=20_000, D=20, K=5)
    sim = simulate_convnmf(0, timesteps=spec["T"], channels=spec["N"], width=spec["D"], neurons=spec["K"])
    ks, repeats = [2, 4, 6, 8], 3
    jobs = args.selection_jobs or os.cpu_count() or 1
    runs = {1: [], jobs: []}
    results = {}
    for _ in range(args.repeats or 1):
        for n_jobs in runs:  # alternating, so that both see the same load
            start = time.perf_counter()
            results[n_jobs] = select_n_components(
                sim.data, ks, spec["D"], n_repeats=repeats, random_state=0, n_jobs=n_jobs
            )
            runs[n_jobs].append(time.perf_counter() - start)
    one, many = results[1], results[jobs]
    same = all(
        np.array_equal(getattr(one, name), getattr(many, name))
        for name in ("heldout_r2", "heldout_loglik", "train_r2", "stability")
    )
    line = {
        "bench": "motifs",
        "case": "selection",
        **spec,
        "ks": ks,
        "n_repeats": repeats,
        "fits": len(ks) * repeats,
        "n_jobs": jobs,
        "cpu_count": os.cpu_count(),
        "seconds_median": _round(statistics.median(runs[jobs]), 3),
        "seconds_all": [_round(t, 3) for t in runs[jobs]],
        "peer": "the same selection in one process (n_jobs=1)",
        "peer_seconds_median": _round(statistics.median(runs[1]), 3),
        "peer_seconds_all": [_round(t, 3) for t in runs[1]],
        "same_selection": same,
        "recommended_k": int(many.recommended),
    }
    line["peer_over_neurocine_seconds"] = _ratio(line["peer_seconds_median"], line["seconds_median"])
    emit(line)


# --------------------------------------------------------------------------- main


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--cases", default="a,b", help="comma-separated subset of a (notebook data), b (large), or none; default a,b"
    )
    p.add_argument(
        "--repeats", type=int, default=None, help="fits per solver and case (default: 3 for case a, 1 for case b)"
    )
    p.add_argument("--device", default="auto", help="torch device for the neurocine solvers: auto, cpu, cuda")
    p.add_argument("--quick", action="store_true", help="smoke test: case b with T=20 000")
    p.add_argument("--scale", action="store_true", help="also run case c (N=384, T=1e6, K=32; default solver)")
    p.add_argument("--seqnmf-max-iter", type=int, default=100, help="seqnmf iterations (its default, 100)")
    p.add_argument(
        "--seqnmf-lambdas",
        default="0.001,0",
        help="comma-separated seqnmf Lambda values, one fit each (default 0.001 = the package "
        "default, and 0 = plain convNMF, which keeps all K factors)",
    )
    p.add_argument(
        "--solvers",
        default="default,reference,seqnmf",
        help="comma-separated subset of default, reference, seqnmf (default: all; seed: former name of reference)",
    )
    p.add_argument(
        "--seqnmf-peak-height",
        type=float,
        default=0.1,
        help="seqnmf spike threshold as a fraction of each H row's maximum (default 0.1)",
    )
    p.add_argument(
        "--no-warmup",
        dest="warmup",
        action="store_false",
        help="skip the untimed warm-up fits (torch kernel initialisation) before the first case",
    )
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    p.add_argument(
        "--stability",
        action="store_true",
        help="also time seqNMF's dissimilarity (K selection's stability) against the peer computed "
        "from the units' reconstructions, on case b's size (and c's with --scale)",
    )
    p.add_argument(
        "--selection",
        action="store_true",
        help="also time K selection in --selection-jobs worker processes against one process",
    )
    p.add_argument(
        "--selection-jobs",
        type=int,
        default=None,
        help="worker processes for --selection (default: the number of CPUs)",
    )
    args = p.parse_args(argv)
    args.cases = [c.strip() for c in args.cases.split(",") if c.strip() and c.strip() != "none"]
    bad = [c for c in args.cases if c not in ("a", "b")]
    if bad:
        p.error(f"--cases: got {','.join(bad)}, expected a subset of a,b (case c is --scale)")
    args.solvers = [{"seed": "reference"}.get(c.strip(), c.strip()) for c in args.solvers.split(",") if c.strip()]
    bad = [c for c in args.solvers if c not in ("default", "reference", "seqnmf")]
    if bad:
        p.error(f"--solvers: got {','.join(bad)}, expected a subset of default,reference,seqnmf")
    try:
        args.seqnmf_lambdas = [float(x) for x in args.seqnmf_lambdas.split(",") if x.strip()]
    except ValueError:
        p.error(f"--seqnmf-lambdas: got {args.seqnmf_lambdas!r}, expected comma-separated numbers >= 0")
    if any(lam < 0 for lam in args.seqnmf_lambdas):
        p.error(f"--seqnmf-lambdas: got {args.seqnmf_lambdas}, expected numbers >= 0")
    if args.repeats is not None and args.repeats < 1:
        p.error(f"--repeats: got {args.repeats}, expected >= 1")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    emit(device_info(args.device))
    if ConvNMF_missing := (_convnmf_class() is None):
        emit(
            {
                "bench": "motifs",
                "case": "note",
                "note": "neurocine.motifs.convnmf.ConvNMF not importable: default solver skipped, "
                "reference solver run through neurocine.motifs._reference_solver.fit_reference",
            }
        )
    if args.warmup:
        warm_up(args, with_default=not ConvNMF_missing)
    for key in args.cases:
        case = make_case(key, args.quick)
        repeats = args.repeats or (3 if key == "a" else 1)
        results = {}
        names = [s for s in ("default", "reference") if s in args.solvers]
        if "seqnmf" in args.solvers:
            names += [seqnmf_name(lam) for lam in args.seqnmf_lambdas]
        for solver in names:
            if solver == "default" and ConvNMF_missing:
                continue
            results[solver] = run_solver(case, solver, repeats, args)
            emit(results[solver])
        emit(
            ratio_line(
                case["name"],
                results.get("default"),
                results.get("reference"),
                [r for k, r in results.items() if k.startswith("seqnmf")],
            )
        )
    if args.scale:
        run_scale(args)
    if args.stability:
        run_stability(args)
    if args.selection:
        run_selection(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
