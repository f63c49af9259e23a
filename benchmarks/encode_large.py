"""``neurocine encode`` on a simulated session of the real size (McCarthy 2019, experiment 2), out of core.

Writes once, into ``--data`` (kept between runs; a ``manifest.json`` says what is there): a face video
(``face.mp4``, H.264, ``--video-size`` 700x948 by default) whose whisker and jaw regions move in bouts; a
``behaviour.csv`` (wheel, pupil, stimulus, null); a flat ``uint16`` widefield movie ``wf.dat`` of ``--frames``
x ``--size`` x ``--size`` (52 500 x 320 x 320, about 10.7 GB, the 640 x 640 movie after its 2 x 2 binning),
``F = F0 (1 + Σ_k r_k(t) β_k(x) + ε)`` with planted maps ``β_k`` for the video's motion energy (as neurocine
computes it from the written video) and the behaviour columns; ``truth.npz`` and ``encode.toml`` (session
dF/F, Otsu mask, ``--cv`` contiguous folds, ``streaming = true``).

Then it times, each in its own process:

``plain_read``   a sequential read of ``wf.dat`` in 256-frame chunks (``numpy.fromfile``).
``plain_read_dropping_pages``  the same read, telling the kernel after each chunk that its pages are not
                 needed again (``posix_fadvise(DONTNEED)``, as the streaming pass does): the floor of any pass.
``streaming``    ``neurocine encode encode.toml`` (the streaming path): video motion energy, one pass over the
                 movie, nested cross-validated ridge over every pixel, attribution, maps and figures.
``in_memory``    the same with ``streaming = false`` (the movie in memory as float64), run only when the
                 movie as float64 fits in ``--in-memory-limit-gb`` (default 4).

With ``--components K`` the two cases are instead ``svd_streaming`` and ``svd_in_memory``: the SVD-space route
(``[neural] components = K``), its components from ``2 + power_iterations`` chunked passes over the file
or from the movie in memory; their lines give ``components_seconds`` (the passes) and
``components_kept_variance``, and the ratio line the EV differences of the two.

One JSON line per case: ``seconds`` (wall), ``cpu_seconds`` (user + system of the child: steadier than wall
time on a shared machine), ``peak_rss_gb`` (the child's own ``ru_maxrss``, from ``os.wait4``),
``read_gb_per_s`` (file size / seconds of the pass over the movie: the whole read for ``plain_read``, the job's
``movie_pass_seconds`` for the others), ``mean_cv_ev`` and ``ceiling_ev`` (mean over the planted brain mask),
``min_beta_map_correlation`` (fitted vs planted maps over the modelled pixels), ``phase_seconds`` (the job's
timers: ``read_seconds`` = video features, ``streaming_seconds`` = the movie pass and every fit, ...),
``loadavg_1min``, ``repeat`` and ``cold``. ``--repeat N`` runs the plain read and the streaming encode N times,
one after the other (the peer once); ``--cold`` empties the page cache before every case (``sync`` and
``/proc/sys/vm/drop_caches``, needs root), so that each reads the movie from the disk. A last line
gives the ratios: ``pass_vs_plain_read`` (movie pass / plain read seconds of the same repeat, the median over
the repeats; target < 2; each in ``pass_vs_plain_read_each``), the same against the page-dropping read
(``pass_vs_plain_read_dropping_pages``) and, with the peer,
``ev_max_abs_diff`` and ``ev_mean_abs_diff`` between the two paths' EV maps (their nested inner folds differ:
the streaming path's inner folds are the other outer folds).

Usage::

    python benchmarks/encode_large.py --frames 5000            # reduced size (a few minutes)
    nice python benchmarks/encode_large.py                     # the real size: 52 500 frames, 10.7 GB on disk
    python benchmarks/encode_large.py --frames 2000 --size 128 --video-size 240x320   # smoke test
    nice python benchmarks/encode_large.py --frames 10000 --cold --repeat 3           # the pass against a cold read
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

CHUNK = 500
PLANTED = ("whisker_me", "jaw_me", "wheel", "pupil", "stimulus")


def _bouts(rng, n: int, fps: float, rate_hz: float, mean_s: float) -> np.ndarray:
    """0/1 bouts: Poisson onsets, exponential durations."""
    on = np.zeros(n)
    t = 0.0
    while True:
        t += rng.exponential(1.0 / rate_hz)
        a = int(t * fps)
        if a >= n:
            return on
        on[a : a + max(1, int(rng.exponential(mean_s) * fps))] = 1.0


def _smooth(rng, n: int, sigma_frames: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    x = gaussian_filter1d(rng.standard_normal(n), sigma_frames)
    return (x - x.mean()) / x.std()


def write_video(path: Path, n: int, fps: float, size: tuple[int, int], rng) -> str:
    """Face video: a still texture; the whisker and jaw boxes slide their texture during bouts. Returns rois.toml."""
    from scipy.ndimage import gaussian_filter

    from neurocine.io.video import write_video as write

    h, w = size
    bg = gaussian_filter(rng.standard_normal((h, w)), 3.0)
    bg = np.clip(128 + 40 * bg / bg.std(), 0, 255).astype(np.uint8)
    boxes = {
        "whisker": (int(0.55 * w), int(0.35 * h), int(0.8 * w), int(0.6 * h)),
        "jaw": (int(0.3 * w), int(0.7 * h), int(0.55 * w), int(0.9 * h)),
    }
    speed = {k: _bouts(rng, n, fps, 0.2, 2.0) * (2 + (rng.random(n) < 0.5)) for k in boxes}
    pos = {k: np.cumsum(v).astype(np.int64) for k, v in speed.items()}

    def chunks():
        for a in range(0, n, CHUNK):
            c = min(CHUNK, n - a)
            frames = np.broadcast_to(bg, (c, h, w)).copy()
            for k, (x0, y0, x1, y1) in boxes.items():
                patch = bg[y0:y1, x0:x1]
                for i in range(c):
                    frames[i, y0:y1, x0:x1] = np.roll(patch, int(pos[k][a + i]) % (x1 - x0), axis=1)
            yield frames

    write(path, chunks(), fps=fps)
    lines = ["# x0, y0, x1, y1 in pixels, end exclusive"]
    for k, b in boxes.items():
        lines += [f"[{k}]", "box = [" + ", ".join(map(str, b)) + "]"]
    return "\n".join(lines) + "\n"


def write_session(root: Path, frames: int, size: int, video_size: tuple[int, int], cv: int, seed: int) -> dict:
    from scipy.ndimage import gaussian_filter

    from neurocine.encode.video_jobs import compute_motion

    manifest = {"frames": frames, "size": size, "video_size": list(video_size), "seed": seed, "cv": cv}
    done = root / "manifest.json"
    if done.exists():
        old = json.loads(done.read_text())
        if {k: v for k, v in old.items() if k != "seconds_to_write"} == manifest:
            return old
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    fps = 30.0
    t0 = time.perf_counter()
    (root / "rois.toml").write_text(write_video(root / "face.mp4", frames, fps, video_size, rng))
    result, _ = compute_motion(root / "face.mp4", root / "rois.toml")  # the features encode will compute
    me = {f"{name}_me": result.motion_energy[:, j] for j, name in enumerate(result.roi_names)}
    behaviour = {
        "wheel": _smooth(rng, frames, 15.0),
        "pupil": _smooth(rng, frames, 60.0),
        "stimulus": _bouts(rng, frames, fps, 0.1, 1.0),
        "null": _smooth(rng, frames, 15.0),
    }
    cols = list(behaviour)
    np.savetxt(
        root / "behaviour.csv",
        np.stack([behaviour[c] for c in cols], 1),
        delimiter=",",
        header=",".join(cols),
        comments="",
        fmt="%.9g",
    )
    regs = {**me, **behaviour}
    yy, xx = (np.mgrid[:size, :size] + 0.5) / size
    brain = ((yy - 0.5) / 0.46) ** 2 + ((xx - 0.5) / 0.44) ** 2 <= 1
    f0 = np.where(brain, 2000.0 * (1 + 0.05 * gaussian_filter(rng.standard_normal((size, size)), 8)), 100.0)
    centres = {
        "whisker_me": (0.35, 0.3),
        "jaw_me": (0.35, 0.7),
        "wheel": (0.6, 0.5),
        "pupil": (0.75, 0.3),
        "stimulus": (0.75, 0.7),
    }
    betas = {}
    for k in regs:
        m = np.zeros((size, size))
        if k in centres:
            cy, cx = centres[k]
            m = np.exp(-0.5 * (((yy - cy) / 0.12) ** 2 + ((xx - cx) / 0.12) ** 2)) * brain
            m *= 0.02 / max(regs[k].std(), 1e-12)  # 2 % dF/F per SD of the regressor at the peak
        betas[k] = m
    R = np.stack([regs[k] - regs[k].mean() for k in regs], 1).astype(np.float32)
    B = np.stack([betas[k].ravel() for k in regs]).astype(np.float32)
    noise = 0.02
    f0f = f0.ravel().astype(np.float32)
    with open(root / "wf.dat", "wb") as fh:
        for a in range(0, frames, CHUNK):
            c = min(CHUNK, frames - a)
            s = R[a : a + c] @ B
            s += rng.standard_normal(s.shape, dtype=np.float32) * np.float32(noise)
            s += 1
            s *= f0f
            np.rint(s, out=s).astype(np.uint16).tofile(fh)
    var_s = np.einsum("kp,kl,lp->p", B.astype(np.float64), np.cov(R.T, bias=True), B.astype(np.float64))
    ceiling = var_s / (var_s + noise**2)
    np.savez(
        root / "truth.npz",
        **{f"beta_{k}": v for k, v in betas.items()},
        brain_mask=brain,
        ceiling_ev=float(ceiling.reshape(size, size)[brain].mean()),
    )
    (root / "encode.toml").write_text(f"""name = "large"
fps = 30

[video]
path = "face.mp4"
rois = "rois.toml"

[behaviour]
path = "behaviour.csv"

[neural]
path = "wf.dat"
shape = [{frames}, {size}, {size}]
dtype = "uint16"
dff = "session"
mask = "otsu"
streaming = true

[design]
kernel = "none"

[model]
cv = {cv}
seed = 0

[truth]
path = "truth.npz"
""")
    manifest["seconds_to_write"] = time.perf_counter() - t0
    done.write_text(json.dumps(manifest))
    return manifest


def _child(args: list[str]) -> tuple[float, float, float]:
    """Run a command; its wall seconds, its own peak RSS (GB) and its CPU seconds (user + system)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, env={**os.environ, "NEUROCINE_PROGRESS": "0"})
    _, status, usage = os.wait4(proc.pid, 0)  # the rusage of this child alone
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, args)
    return seconds, usage.ru_maxrss / 2**20, usage.ru_utime + usage.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=52_500)
    ap.add_argument("--size", type=int, default=320, help="widefield frame side (pixels)")
    ap.add_argument("--video-size", default="700x948", help="face video HxW")
    ap.add_argument("--cv", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--data", type=Path, default=Path("/tmp/neurocine_encode_large"))
    ap.add_argument("--in-memory-limit-gb", type=float, default=4.0)
    ap.add_argument("--write-only", action="store_true", help="only write the session (kept in --data)")
    ap.add_argument("--components", type=int, default=0, help="K > 0: time the SVD-space route instead")
    ap.add_argument("--cold", action="store_true", help="drop the page cache before each case (needs root)")
    ap.add_argument("--repeat", type=int, default=1, help="plain read + streaming pairs (the peer runs once)")
    a = ap.parse_args()
    vh, vw = (int(v) for v in a.video_size.lower().split("x"))
    if a.write_only:
        write_session(a.data, a.frames, a.size, (vh, vw), a.cv, a.seed)
        return
    # written in a child, so that this process stays small: a child's peak RSS counts its parent's at fork
    subprocess.run([sys.executable, __file__, *sys.argv[1:], "--write-only"], check=True)
    man = json.loads((a.data / "manifest.json").read_text())
    nbytes = (a.data / "wf.dat").stat().st_size
    base = {"frames": a.frames, "size": a.size, "video_size": [vh, vw], "movie_gb": nbytes / 1e9, "cv": a.cv}
    print(json.dumps({"case": "data", **base, "seconds_to_write": man.get("seconds_to_write")}), flush=True)

    def read_code(drop_pages: bool) -> str:
        advise = " os.posix_fadvise(fh.fileno(), p, b.nbytes, os.POSIX_FADV_DONTNEED)\n"
        return (
            "import numpy as np,os\n"
            f"fh=open({str(a.data / 'wf.dat')!r},'rb'); n={a.size * a.size * 256}; s=0.0; p=0\n"
            "while True:\n b=np.fromfile(fh,dtype=np.uint16,count=n)\n"
            " if b.size==0: break\n s+=float(b[:1].sum())\n" + (advise if drop_pages else "") + " p+=b.nbytes\n"
        )

    prefix = "svd_" if a.components else ""
    cases = [(f"{prefix}streaming", True)]
    if a.frames * a.size * a.size * 8 / 1e9 <= a.in_memory_limit_gb:
        cases.append((f"{prefix}in_memory", False))
    ratios: dict[str, list] = {"plain_read": [], "plain_read_dropping_pages": []}
    results: dict = {}
    for rep in range(a.repeat):
        reads = {}
        for read_case in ratios:
            if a.cold:
                _drop_caches()
            seconds, peak, cpu = _child([sys.executable, "-c", read_code(read_case != "plain_read")])
            reads[read_case] = seconds
            print(
                json.dumps(
                    {
                        "case": read_case,
                        **base,
                        "repeat": rep,
                        "cold": a.cold,
                        "seconds": seconds,
                        "cpu_seconds": cpu,
                        "peak_rss_gb": peak,
                        "read_gb_per_s": nbytes / 1e9 / seconds,
                        "loadavg_1min": os.getloadavg()[0],
                    }
                ),
                flush=True,
            )
        for case, streaming in cases if rep == 0 else cases[:1]:
            if a.cold:
                _drop_caches()
            line = _run_encode(a, case, streaming, base, nbytes, results)
            print(json.dumps({**line, "repeat": rep, "cold": a.cold}), flush=True)
        if "pass" in results:  # the SVD-space route has no pixel pass
            for read_case, seconds in reads.items():
                ratios[read_case].append(results["pass"] / seconds)
    ratio = {"case": "ratio", **base, "cold": a.cold}
    for read_case, each in ratios.items():
        if each:
            ratio[f"pass_vs_{read_case}"] = float(np.median(each))
            ratio[f"pass_vs_{read_case}_each"] = each
    if f"{prefix}in_memory" in results:
        diff = np.abs(results[f"{prefix}streaming"] - results[f"{prefix}in_memory"])
        ratio["ev_max_abs_diff"] = float(diff.max())
        ratio["ev_mean_abs_diff"] = float(diff.mean())
    print(json.dumps(ratio), flush=True)


def _drop_caches() -> None:
    """Empty the kernel's page cache (needs root), so that the next read comes from the disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        raise SystemExit(f"--cold: cannot drop the page cache ({exc}); run as root or leave --cold out") from None


def _run_encode(a, case: str, streaming: bool, base: dict, nbytes: int, results: dict) -> dict:
    """``neurocine encode`` with ``streaming`` on or off in a child: its JSON line; the EV map into ``results``."""
    cfg = a.data / f"encode_{case}.toml"
    text = (a.data / "encode.toml").read_text().replace("streaming = true", f"streaming = {str(streaming).lower()}")
    cfg.write_text(text.replace("streaming = ", f"components = {a.components}\nstreaming = ") if a.components else text)
    out = a.data / f"out_{case}"
    shutil.rmtree(out, ignore_errors=True)
    seconds, peak, cpu = _child([sys.executable, "-m", "neurocine.cli", "-q", "encode", str(cfg), "--out", str(out)])
    summary = json.loads((out / "summary.json").read_text())
    m = summary["metrics"]
    with np.load(out / "model.npz") as z:
        results[case] = z["ev"]
    line = {
        "case": case,
        **base,
        "seconds": seconds,
        "cpu_seconds": cpu,
        "peak_rss_gb": peak,
        "loadavg_1min": os.getloadavg()[0],
        "mean_cv_ev": m["mean_cv_ev"],
        "ceiling_ev": m.get("ceiling_ev"),
        "min_beta_map_correlation": m.get("min_beta_map_correlation"),
        "n_targets": m["n_targets"],
        "phase_seconds": summary.get("timings"),
    }
    if "movie_pass_seconds" in m:
        line["movie_pass_seconds"] = m["movie_pass_seconds"]
        line["read_gb_per_s"] = nbytes / 1e9 / m["movie_pass_seconds"]
    if a.components:
        line["components_kept_variance"] = m["components_kept_variance"]
        passes = summary["data"].get("components") or {}
        line["components_seconds"], line["components_passes"] = passes.get("seconds"), passes.get("passes")
    if case == "streaming":
        results["pass"] = m["movie_pass_seconds"]
    return line


if __name__ == "__main__":
    main()
