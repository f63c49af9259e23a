"""Speed / memory / agreement benchmark of ``neurocine.models.RidgeCV`` against himalaya and scikit-learn.

Ridge with one penalty per target chosen by k-fold cross-validation. Every
solver runs in its own fresh (spawned) process on the same simulated data, so
peak memory is per solver. Prints one JSON line per (case, solver), one ratio
line per case, and a first line describing the machine.

Solvers
-------
neurocine_numpy   ``RidgeCV(alphas, cv=KFold(k), backend="numpy")``
neurocine_torch   the same with ``backend="torch", device=--device``
himalaya          ``himalaya.ridge.RidgeCV(alphas, cv=KFold(k), fit_intercept=True)`` on the numpy backend,
                  scored with explained variance (``solver_params=dict(score_func=...)``) so it selects the
                  same penalty as neurocine
himalaya_torch    the same on himalaya's ``torch_cuda`` backend (``torch`` without CUDA); not run by default
sklearn_kfold     per-target penalty emulated with scikit-learn: ``Ridge(alpha)`` fitted on every fold and penalty
                  (all targets at once), explained variance per target averaged over folds, argmax per target,
                  then ``Ridge`` refitted on all data once per distinct chosen penalty
sklearn_gcv       ``sklearn.linear_model.RidgeCV(alphas, alpha_per_target=True)``: efficient leave-one-out (GCV);
                  a different selection criterion, reported for its time (the issue quotes it at about 22 s)

Usage::

    python benchmarks/ridge.py                       # X 20000 x 200, Y 20000 x 5000, 10 penalties, 5 folds
    python benchmarks/ridge.py --quick               # X 2000 x 50, Y 2000 x 500
    python benchmarks/ridge.py --solvers neurocine_numpy,sklearn_kfold --repeats 1
    python benchmarks/ridge.py --targets-100k        # also: 100 000 targets, peak RSS of the fit
    python benchmarks/ridge.py --targets-100k --solvers none   # only that case
    python benchmarks/ridge.py --threads 1           # every solver on one BLAS/torch thread (shared machines)

Per (case, solver) line: ``seconds_median`` / ``seconds_all`` (wall time of each fit, ``--repeats`` fits,
``--peer-repeats`` for himalaya and scikit-learn; data generation and one tiny warm-up fit are not timed),
``rss_before_fit_gb`` (VmRSS with the data loaded), ``fit_peak_rss_gb`` (VmHWM, reset just before the first
fit: peak resident memory during the fits), ``fit_extra_rss_gb`` (the difference: the solver's own memory),
``peak_rss_gb`` (``getrusage`` ru_maxrss of the whole child process), ``loadavg_1min_start_end`` (the machine
is shared: load before and after the fits), ``test_ev_mean`` (explained variance on 2000 held-out samples,
mean over targets), ``n_distinct_alphas``.

Ratio line (reference: neurocine_numpy): ``speedup_vs_himalaya``, ``speedup_vs_sklearn`` (the per-fold
emulation), ``speedup_vs_sklearn_gcv`` = peer seconds / neurocine seconds (``*_torch``: against neurocine's
torch back end); ``max_abs_dev_test_ev_vs_<peer>`` = max over targets of |test EV(neurocine) − test EV(peer)|;
``max_abs_dev_cv_ev_vs_<peer>`` the same for the best mean CV score; ``alpha_agreement_vs_<peer>`` = fraction
of targets with the same penalty; ``speedups_from_min_seconds``: the same speedups from the fastest fit of each
solver (on a shared machine the median can be dominated by other users' load).

``targets_100k`` line: 100 000 targets (``--big-*``), float32, one fit: ``seconds``, ``data_gb``,
``fit_peak_rss_gb`` (VmHWM during the fit, data included), ``within_8_gib``.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import os
import platform
import resource
import statistics
import sys
import time
import traceback

import numpy as np

DEFAULT_SOLVERS = ("neurocine_numpy", "neurocine_torch", "himalaya", "sklearn_kfold", "sklearn_gcv")
ALL_SOLVERS = DEFAULT_SOLVERS + ("himalaya_torch",)
N_TEST = 2000  # extra samples, never fitted, for the test-set EV compared between solvers


# --------------------------------------------------------------------------- output helpers


def emit(record: dict) -> None:
    print(json.dumps(record, default=_json_default), flush=True)


def _json_default(obj):
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj) if np.isfinite(obj) else None
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
    return round(num / den, 2)


def _rss_gb(field: str) -> float | None:
    """``VmRSS`` / ``VmHWM`` of this process in GiB (Linux), else None."""
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return None


def _reset_peak_rss() -> bool:
    """Reset this process's peak-RSS counter (VmHWM); False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


def _maxrss_gb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak * (1 if sys.platform == "darwin" else 1024) / 2**30


# --------------------------------------------------------------------------- data


def make_data(
    n_samples: int,
    n_features: int,
    n_targets: int,
    seed: int = 0,
    dtype=np.float64,
    n_test: int = N_TEST,
    chunk: int = 5000,
):
    """Correlated features (condition number ~30) and planted coefficients scaled so that the signal to
    noise variance ratio of the targets runs from 0.01 to 10 (explained variance ~0.01 to ~0.9: targets
    want different penalties), unit noise, offsets of 0.5 (X) and 1 (Y). Returns X, Y, X_test, Y_test;
    Y is filled in blocks of targets (no full-size float64 temporary when ``dtype`` is float32)."""
    rng = np.random.default_rng(seed)
    n_all = n_samples + n_test
    q, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    mix = np.logspace(0, -1.5, n_features)[:, None] * q
    cov = mix.T @ mix  # covariance of the features
    X_all = (rng.standard_normal((n_all, n_features)) @ mix + 0.5).astype(dtype)
    Y_all = np.empty((n_all, n_targets), dtype=dtype)
    snr = np.logspace(-2, 1, n_targets)
    for start in range(0, n_targets, chunk):
        m = min(chunk, n_targets - start)
        W = rng.standard_normal((n_features, m))
        W *= np.sqrt(snr[start : start + m] / np.einsum("pq,pk,kq->q", W, cov, W))
        Y_all[:, start : start + m] = X_all @ W.astype(dtype)
        Y_all[:, start : start + m] += rng.standard_normal((n_all, m)).astype(dtype) + 1.0
    return X_all[:n_samples], Y_all[:n_samples], X_all[n_samples:], Y_all[n_samples:]


def ev_per_target(Y, P):
    """Explained variance per target, as ``sklearn.metrics.explained_variance_score(raw_values)``."""
    from neurocine.models.ridge import explained_variance

    return explained_variance(Y, P)


def _himalaya_ev_score(y_true, y_pred):
    """himalaya ``score_func``: (n_test, q) vs (n_alphas, n_test, q) -> (n_alphas, q) explained variance."""
    return 1.0 - (y_true - y_pred).var(-2) / y_true.var(0)


# --------------------------------------------------------------------------- solvers (run in a child)


def _fit_solver(solver: str, X, Y, alphas, n_folds: int, dtype: str, device: str, himalaya_alphas_batch):
    """Fit once; return (predict function, chosen alphas (q,), best mean CV EV (q,) or None)."""
    from sklearn.model_selection import KFold

    cv = KFold(n_folds)
    if solver.startswith("neurocine"):
        from neurocine.models import RidgeCV

        backend = "torch" if solver == "neurocine_torch" else "numpy"
        dev = device if backend == "torch" else "auto"
        model = RidgeCV(alphas=alphas, cv=cv, backend=backend, device=dev, dtype=dtype).fit(X, Y)
        return model.predict, model.alpha_, model.cv_scores_.max(0)
    if solver.startswith("himalaya"):
        import torch
        from himalaya.backend import set_backend
        from himalaya.ridge import RidgeCV as HimalayaRidgeCV

        if solver == "himalaya_torch":
            set_backend("torch_cuda" if torch.cuda.is_available() else "torch", on_error="raise")
        else:
            set_backend("numpy", on_error="raise")
        params = {"score_func": _himalaya_ev_score}
        if himalaya_alphas_batch:
            params["n_alphas_batch"] = himalaya_alphas_batch
        model = HimalayaRidgeCV(
            alphas=np.asarray(alphas, dtype=dtype), fit_intercept=True, cv=cv, solver_params=params
        ).fit(X, Y)
        coef = np.asarray(_to_numpy(model.coef_))
        intercept = np.asarray(_to_numpy(model.intercept_))
        return (
            (lambda Xt: Xt @ coef + intercept),
            np.asarray(_to_numpy(model.best_alphas_)),
            np.asarray(_to_numpy(model.cv_scores_)),
        )
    if solver == "sklearn_kfold":
        from sklearn.linear_model import Ridge
        from sklearn.metrics import explained_variance_score

        scores = np.zeros((len(alphas), Y.shape[1]))
        for train, test in cv.split(X):
            for i, alpha in enumerate(alphas):
                pred = Ridge(alpha=alpha).fit(X[train], Y[train]).predict(X[test])
                scores[i] += explained_variance_score(Y[test], pred, multioutput="raw_values")
        scores /= n_folds
        best = np.argmax(scores, axis=0)
        coef = np.empty((X.shape[1], Y.shape[1]))
        intercept = np.empty(Y.shape[1])
        for i in np.unique(best):
            cols = np.flatnonzero(best == i)
            m = Ridge(alpha=alphas[i]).fit(X, Y[:, cols])
            coef[:, cols], intercept[cols] = m.coef_.T, m.intercept_
        return (lambda Xt: Xt @ coef + intercept), np.asarray(alphas)[best], scores.max(0)
    if solver == "sklearn_gcv":
        from sklearn.linear_model import RidgeCV as SkRidgeCV

        model = SkRidgeCV(alphas=alphas, alpha_per_target=True).fit(X, Y)
        return model.predict, np.asarray(model.alpha_), None
    raise ValueError(f"unknown solver {solver!r}")


def _to_numpy(a):
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def _warm_up(solver: str, dtype: str, device: str):
    """One untimed tiny fit: imports and one-time initialisation (torch, BLAS) are not timed."""
    rng = np.random.default_rng(1)
    X, Y = rng.standard_normal((200, 5)).astype(dtype), rng.standard_normal((200, 3)).astype(dtype)
    _fit_solver(solver, X, Y, np.logspace(-1, 1, 3), 5, dtype, device, None)


def _child(conn, solver: str, cfg: dict):
    try:
        conn.send(_run_in_child(solver, cfg))
    except BaseException as exc:
        conn.send({"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(limit=3)})
    finally:
        conn.close()


def _run_in_child(solver: str, cfg: dict) -> dict:
    if cfg.get("threads"):
        # the same thread count for every solver: BLAS/OpenMP pools (numpy, scipy, sklearn, himalaya) and torch
        import torch
        from threadpoolctl import threadpool_limits

        torch.set_num_threads(cfg["threads"])
        with threadpool_limits(limits=cfg["threads"]):
            return _run_in_child_threads(solver, cfg)
    return _run_in_child_threads(solver, cfg)


def _run_in_child_threads(solver: str, cfg: dict) -> dict:
    dtype = cfg["dtype"]
    if solver == "big":
        return _run_big(cfg)
    if not cfg.get("no_warmup"):
        _warm_up(solver, dtype, cfg["device"])
    t0 = time.perf_counter()
    X, Y, X_test, Y_test = make_data(
        cfg["n_samples"], cfg["n_features"], cfg["n_targets"], cfg["seed"], dtype=np.dtype(dtype)
    )
    data_s = time.perf_counter() - t0
    alphas = np.logspace(-2, 7, cfg["n_alphas"]) if cfg["n_alphas"] > 1 else np.array([1.0])
    rss_before = _rss_gb("VmRSS")
    reset = _reset_peak_rss()
    load_start = os.getloadavg()[0]
    times = []
    for _ in range(cfg["repeats"]):
        t0 = time.perf_counter()
        predict, alpha, cv_best = _fit_solver(
            solver, X, Y, alphas, cfg["n_folds"], dtype, cfg["device"], cfg["himalaya_alphas_batch"]
        )
        times.append(time.perf_counter() - t0)
    fit_peak = _rss_gb("VmHWM") if reset else None
    test_ev = ev_per_target(Y_test, predict(X_test))
    out = {
        "seconds_median": _round(statistics.median(times), 4),
        "seconds_min": _round(min(times), 4),
        "seconds_all": [_round(t, 4) for t in times],
        "data_seconds": _round(data_s, 3),
        "rss_before_fit_gb": _round(rss_before, 4),
        "fit_peak_rss_gb": _round(fit_peak, 4),
        "fit_extra_rss_gb": _round(fit_peak - rss_before, 4) if fit_peak and rss_before else None,
        "peak_rss_gb": _round(_maxrss_gb(), 4),
        "loadavg_1min_start_end": [_round(load_start, 2), _round(os.getloadavg()[0], 2)],
        "test_ev_mean": _round(test_ev.mean(), 6),
        "test_ev": test_ev,
        "alpha": np.asarray(alpha, dtype=float),
        "cv_best": None if cv_best is None else np.asarray(cv_best, dtype=float),
    }
    if solver == "neurocine_torch":
        import torch

        from neurocine.runtime import resolve_device

        out["torch_device"] = str(resolve_device(cfg["device"]))
        out["torch_threads"] = torch.get_num_threads()
    return out


def _run_big(cfg: dict) -> dict:
    """100 000 targets in float32: fit time and peak resident memory of the fit."""
    from neurocine.models import RidgeCV

    n, p, q = cfg["big_samples"], cfg["big_features"], cfg["big_targets"]
    t0 = time.perf_counter()
    X, Y, X_test, Y_test = make_data(n, p, q, cfg["seed"], dtype=np.float32, n_test=500)
    data_s = time.perf_counter() - t0
    backend = cfg["big_backend"]
    model = RidgeCV(
        alphas=np.logspace(-2, 7, cfg["n_alphas"]),
        cv=cfg["n_folds"],
        backend=backend,
        device=cfg["device"] if backend == "torch" else "auto",
        dtype="float32",
    )
    rss_before = _rss_gb("VmRSS")
    reset = _reset_peak_rss()
    t0 = time.perf_counter()
    model.fit(X, Y)
    fit_s = time.perf_counter() - t0
    fit_peak = _rss_gb("VmHWM") if reset else None
    ev = ev_per_target(Y_test, model.predict(X_test))
    return {
        "N": n,
        "p": p,
        "q": q,
        "backend": backend,
        "dtype": "float32",
        "data_gb": _round((X.nbytes + Y.nbytes) / 2**30, 4),
        "data_seconds": _round(data_s, 2),
        "seconds": _round(fit_s, 3),
        "rss_before_fit_gb": _round(rss_before, 4),
        "fit_peak_rss_gb": _round(fit_peak, 4),
        "fit_extra_rss_gb": _round(fit_peak - rss_before, 4) if fit_peak and rss_before else None,
        "peak_rss_gb": _round(_maxrss_gb(), 4),
        "within_8_gib": bool((fit_peak or _maxrss_gb()) < 8.0),
        "test_ev_mean": _round(ev.mean(), 6),
        "n_distinct_alphas": int(np.unique(model.alpha_).size),
    }


def run_in_fresh_process(solver: str, cfg: dict, timeout: float | None) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(child, solver, cfg))
    proc.start()
    child.close()
    result = None
    if parent.poll(timeout):
        try:
            result = parent.recv()
        except EOFError:
            result = None
    proc.join(5 if result is not None else 0)
    if proc.is_alive():
        proc.terminate()
        proc.join()
        return result or {"error": f"timed out after {timeout} s"}
    if result is None:
        return {"error": f"child exited with code {proc.exitcode} (killed for memory?)"}
    return result


# --------------------------------------------------------------------------- main


def device_info(args) -> dict:
    info = {
        "bench": "ridge",
        "case": "device",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
    }
    try:
        import sklearn

        info["sklearn"] = sklearn.__version__
    except ImportError:
        pass
    try:
        import himalaya

        info["himalaya"] = himalaya.__version__
    except ImportError:
        info["himalaya"] = None
    try:
        import torch

        info.update(
            torch=torch.__version__, torch_threads=torch.get_num_threads(), cuda_available=torch.cuda.is_available()
        )
        if torch.cuda.is_available():
            info["cuda_device"] = torch.cuda.get_device_name(0)
    except ImportError:
        info["torch"] = None
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "num_threads", "version")} for d in threadpool_info()]
    except ImportError:
        pass
    try:
        info["loadavg_1min"] = os.getloadavg()[0]
    except OSError:
        pass
    return info


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-samples", type=int, default=20_000)
    ap.add_argument("--n-features", type=int, default=200)
    ap.add_argument("--n-targets", type=int, default=5_000)
    ap.add_argument("--n-alphas", type=int, default=10, help="penalties: logspace(-2, 7, n)")
    ap.add_argument("--cv", dest="n_folds", type=int, default=5, help="contiguous KFold folds")
    ap.add_argument("--repeats", type=int, default=3, help="fits per solver (median reported)")
    ap.add_argument(
        "--peer-repeats", type=int, default=None, help="fits per peer solver (himalaya, sklearn); default: --repeats"
    )
    ap.add_argument("--quick", action="store_true", help="small smoke test: 2000 x 50 -> 500 targets, 1 repeat")
    ap.add_argument(
        "--solvers", default=",".join(DEFAULT_SOLVERS), help=f"comma list from {', '.join(ALL_SOLVERS)}, or 'none'"
    )
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--device", default="auto", help="torch device for neurocine_torch / the 100k case")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=float, default=None, help="seconds per solver process")
    ap.add_argument(
        "--himalaya-alphas-batch",
        type=int,
        default=None,
        help="himalaya n_alphas_batch (memory); default: himalaya's (all penalties at once)",
    )
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="limit BLAS/OpenMP and torch threads of every solver to this number (default: libraries' "
        "own); on a shared machine 1 avoids descheduled-thread stalls",
    )
    ap.add_argument("--no-warmup", action="store_true")
    ap.add_argument("--targets-100k", action="store_true", help="also fit 100 000 targets (float32), report peak RSS")
    ap.add_argument("--big-samples", type=int, default=10_000)
    ap.add_argument("--big-features", type=int, default=200)
    ap.add_argument("--big-targets", type=int, default=100_000)
    ap.add_argument("--big-backend", default="numpy", choices=["numpy", "torch"])
    args = ap.parse_args(argv)
    if args.quick:
        args.n_samples, args.n_features, args.n_targets, args.repeats = 2000, 50, 500, 1
        args.big_samples, args.big_targets = 2000, 20_000
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    solvers = [] if args.solvers == "none" else [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = sorted(set(solvers) - set(ALL_SOLVERS))
    if unknown:
        raise SystemExit(f"--solvers: unknown {unknown}; expected names from {list(ALL_SOLVERS)}")
    keys = (
        "n_samples",
        "n_features",
        "n_targets",
        "n_alphas",
        "n_folds",
        "repeats",
        "dtype",
        "device",
        "seed",
        "himalaya_alphas_batch",
        "no_warmup",
        "threads",
        "big_samples",
        "big_features",
        "big_targets",
        "big_backend",
    )
    cfg = {k: getattr(args, k) for k in keys}
    emit(device_info(args))
    case = f"N{args.n_samples}_p{args.n_features}_q{args.n_targets}"
    results = {}
    for solver in solvers:
        peer = not solver.startswith("neurocine")
        reps = args.peer_repeats if peer and args.peer_repeats else args.repeats
        res = run_in_fresh_process(solver, {**cfg, "repeats": reps}, args.timeout)
        results[solver] = res
        line = {
            "bench": "ridge",
            "case": case,
            "solver": solver,
            "N": args.n_samples,
            "p": args.n_features,
            "q": args.n_targets,
            "n_alphas": args.n_alphas,
            "folds": args.n_folds,
            "dtype": args.dtype,
            "threads": args.threads,
        }
        line.update({k: v for k, v in res.items() if k not in ("test_ev", "alpha", "cv_best")})
        if "alpha" in res:
            line["n_distinct_alphas"] = int(np.unique(res["alpha"]).size)
        emit(line)
    ref = results.get("neurocine_numpy") or results.get("neurocine_torch")
    if ref is not None and "test_ev" in ref:
        ratio = {
            "bench": "ratio",
            "case": case,
            "reference": "neurocine_numpy" if "neurocine_numpy" in results else "neurocine_torch",
        }
        t_ref = ref["seconds_median"]
        for name, res in results.items():
            if res is ref or "test_ev" not in res:
                continue
            ratio[f"max_abs_dev_test_ev_vs_{name}"] = float(
                np.abs(np.asarray(ref["test_ev"]) - np.asarray(res["test_ev"])).max()
            )
            ratio[f"alpha_agreement_vs_{name}"] = _round(np.mean(np.isclose(ref["alpha"], res["alpha"], rtol=1e-9)), 4)
            if ref.get("cv_best") is not None and res.get("cv_best") is not None:
                ratio[f"max_abs_dev_cv_ev_vs_{name}"] = float(
                    np.abs(np.asarray(ref["cv_best"]) - np.asarray(res["cv_best"])).max()
                )
            ratio[f"{name}_over_reference_seconds"] = _ratio(res["seconds_median"], t_ref)
        num = results.get("neurocine_numpy", {})
        tor = results.get("neurocine_torch", {})
        for peer, key in (
            ("himalaya", "speedup_vs_himalaya"),
            ("sklearn_kfold", "speedup_vs_sklearn"),
            ("sklearn_gcv", "speedup_vs_sklearn_gcv"),
        ):
            t_peer = results.get(peer, {}).get("seconds_median")
            ratio[key] = _ratio(t_peer, num.get("seconds_median"))
            ratio[key + "_torch"] = _ratio(t_peer, tor.get("seconds_median"))
        ratio["speedups_from_min_seconds"] = {
            key: _ratio(results.get(peer, {}).get("seconds_min"), num.get("seconds_min"))
            for peer, key in (
                ("himalaya", "vs_himalaya"),
                ("sklearn_kfold", "vs_sklearn"),
                ("sklearn_gcv", "vs_sklearn_gcv"),
            )
        }
        if "himalaya_torch" in results:
            ratio["speedup_torch_vs_himalaya_torch"] = _ratio(
                results["himalaya_torch"].get("seconds_median"), tor.get("seconds_median")
            )
        ratio["notes"] = (
            "speedups: peer seconds / neurocine seconds (numpy back end; *_torch: neurocine torch); "
            "test EV on 2000 held-out samples; sklearn_gcv selects by leave-one-out error, "
            "so its penalties and EV differ by design"
        )
        emit(ratio)
    if args.targets_100k:
        res = run_in_fresh_process("big", cfg, args.timeout)
        emit({"bench": "ridge", "case": "targets_100k", "threads": args.threads, **res})


if __name__ == "__main__":
    main()
