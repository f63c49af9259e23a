"""The fMRI data folder: :func:`read_fmri_data` reads and checks it into an :class:`FMRIData`.

The folder's files are described in :mod:`neurocine.fmri.simulate` (which writes one); every check
failure raises :class:`~neurocine.errors.InputError` naming the file and what is wrong.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError

__all__ = ["SCANNER_FILES", "FMRIData", "read_fmri_data", "run_slices"]

#: The files a scanner session gives (BOLD, timing, design, voxel positions, the stimulus clips): all an
#: analysis may fit on. A simulation's ``truth.npz`` (and the easy simulator's ``features.npz``) are extra.
SCANNER_FILES = (
    "info.json",
    "stimulus_train.npy",
    "stimulus_test.npy",
    "fmri_train.npy",
    "fmri_test.npy",
    "design.npz",
    "voxels.npz",
    "library.npz",
)


def run_slices(runs: Any, n_scans: int, name: str = "train_run") -> list[slice]:
    """Contiguous runs of scans as slices; ``runs`` None means one run of ``n_scans`` scans.

    Raises InputError when a run label comes back after another run started (runs must be contiguous).
    """
    if runs is None:
        return [slice(0, n_scans)]
    lab = np.asarray(runs)
    if lab.shape != (n_scans,):
        raise InputError(f"{name}: has shape {lab.shape}; expected ({n_scans},), one run label per scan")
    if n_scans == 0:
        return []
    starts = np.r_[0, np.flatnonzero(lab[1:] != lab[:-1]) + 1]
    stops = np.r_[starts[1:], n_scans]
    seen = lab[starts]
    if len(set(seen.tolist())) != len(seen):
        raise InputError(
            f"{name}: a run label reappears after another run (labels {seen.tolist()[:12]}); "
            f"expected each run's scans to be contiguous"
        )
    return [slice(int(a), int(b)) for a, b in zip(starts, stops)]


@dataclass
class FMRIData:
    """A checked fMRI data folder (see :mod:`neurocine.fmri.simulate` for the files).

    Arrays keep the folder's layout: stimuli ``(n_frames, H, W[, 3])`` (memory-mapped),
    ``fmri_train`` ``(n_scans_train, V)``, ``fmri_test`` ``(n_repeats, n_scans_test, V)``.
    """

    folder: Path
    info: dict
    tr: float
    frames_per_scan: int
    stimulus_train: np.ndarray
    stimulus_test: np.ndarray
    fmri_train: np.ndarray
    fmri_test: np.ndarray
    train_run: np.ndarray | None = None
    train_segment: np.ndarray | None = None
    train_category: np.ndarray | None = None
    test_category: np.ndarray | None = None
    category_names: list[str] | None = None
    position: np.ndarray | None = None
    grid_shape: tuple[int, ...] | None = None
    library_frames: np.ndarray | None = None
    library_category: np.ndarray | None = None
    truth: dict | None = None
    files: list[str] = field(default_factory=list)

    @property
    def fps(self) -> float:
        return self.frames_per_scan / self.tr

    @property
    def n_voxels(self) -> int:
        return int(self.fmri_train.shape[1])

    @property
    def n_scans_train(self) -> int:
        return int(self.fmri_train.shape[0])

    @property
    def n_scans_test(self) -> int:
        return int(self.fmri_test.shape[1])

    @property
    def frame_shape(self) -> tuple[int, ...]:
        return tuple(self.stimulus_train.shape[1:])


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path}: cannot be read as a .npy array ({exc}); expected the file described in neurocine.fmri.simulate"
        ) from None


def _load_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise InputError(
            f"{path}: cannot be read as an .npz archive ({exc}); expected the file described in neurocine.fmri.simulate"
        ) from None


def _check_finite(path: Path, arr: np.ndarray, what: str, chunk: int = 256) -> np.ndarray:
    out = np.asarray(arr, dtype=np.float32 if arr.dtype != np.float64 else np.float64)
    flat = out.reshape(out.shape[0], -1)
    for a in range(0, flat.shape[0], chunk):
        bad = ~np.isfinite(flat[a : a + chunk])
        if bad.any():
            idx = np.unravel_index(int(np.argmax(bad.ravel())) + a * flat.shape[1], out.shape)
            raise InputError(
                f"{path}: has {int(bad.sum())}+ NaN/inf values (first at index "
                f"{tuple(int(i) for i in idx)}); expected finite {what}"
            )
    return out


def _frames_check(path: Path, arr: np.ndarray, n_frames: int | None, shape: tuple | None = None) -> np.ndarray:
    if arr.ndim not in (3, 4) or (arr.ndim == 4 and arr.shape[-1] != 3) or arr.dtype.kind not in "uif":
        raise InputError(
            f"{path}: has shape {arr.shape} and dtype {arr.dtype}; expected (n_frames, H, W) or "
            f"(n_frames, H, W, 3) frames, 0-255"
        )
    if n_frames is not None and arr.shape[0] != n_frames:
        raise InputError(f"{path}: has {arr.shape[0]} frames; expected {n_frames} (scans x frames_per_scan)")
    if shape is not None and tuple(arr.shape[1:]) != tuple(shape):
        raise InputError(
            f"{path}: frames of shape {tuple(arr.shape[1:])}; expected {tuple(shape)} like stimulus_train.npy"
        )
    return arr


def _labels(path: Path, z: dict, key: str, n: int) -> np.ndarray | None:
    if key not in z:
        return None
    v = np.asarray(z[key])
    if v.shape != (n,) or v.dtype.kind not in "iu":
        raise InputError(
            f"{path}: '{key}' has shape {v.shape} and dtype {v.dtype}; expected ({n},) integers (one per scan)"
        )
    return v.astype(np.int64)


def read_fmri_data(folder: str | os.PathLike) -> FMRIData:
    """Read and check an fMRI data folder; InputError names the file and what is wrong.

    Checks: the required files exist; frames match scans (``n_scans * frames_per_scan``); the
    voxel counts of ``fmri_train.npy``, ``fmri_test.npy`` (and ``truth.npz``, ``voxels.npz``) agree;
    the fMRI is finite; per-scan labels have one entry per scan.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(
            f"{root}: no such folder; expected an fMRI data folder (neurocine fmri simulate --out {root} writes one)"
        )
    info_path = root / "info.json"
    if not info_path.is_file():
        raise InputError(f"{info_path}: missing; expected a JSON file with tr and frames_per_scan")
    try:
        info = json.loads(info_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(
            f'{info_path}: is not valid JSON ({exc}); expected {{"tr": ..., "frames_per_scan": ...}}'
        ) from None
    if not isinstance(info, dict):
        raise InputError(f"{info_path}: holds a {type(info).__name__}; expected a JSON object")
    tr = info.get("tr")
    if isinstance(tr, bool) or not isinstance(tr, (int, float)) or not math.isfinite(tr) or tr <= 0:
        raise InputError(f"{info_path}: tr = {tr!r}; expected the repetition time in seconds (> 0)")
    k = info.get("frames_per_scan")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(
            f"{info_path}: frames_per_scan = {k!r}; expected a positive integer (stimulus frames per scan)"
        )
    for name in ("stimulus_train.npy", "stimulus_test.npy", "fmri_train.npy", "fmri_test.npy"):
        if not (root / name).is_file():
            raise InputError(f"{root / name}: missing; expected it in the data folder (see neurocine.fmri.simulate)")
    p_tr, p_te = root / "fmri_train.npy", root / "fmri_test.npy"
    y_tr, y_te = _load_npy(p_tr), _load_npy(p_te)
    if y_tr.ndim != 2 or y_tr.shape[0] < 2 or y_tr.shape[1] < 1 or y_tr.dtype.kind not in "iuf":
        raise InputError(
            f"{p_tr}: has shape {y_tr.shape} and dtype {y_tr.dtype}; expected (n_scans, n_voxels) real numbers"
        )
    if y_te.ndim == 2:
        y_te = y_te[None]
    if y_te.ndim != 3 or y_te.dtype.kind not in "iuf":
        raise InputError(f"{p_te}: has shape {y_te.shape}; expected (n_repeats, n_scans_test, n_voxels)")
    if y_te.shape[2] != y_tr.shape[1]:
        raise InputError(
            f"{p_te}: has {y_te.shape[2]} voxels but {p_tr.name} has {y_tr.shape[1]}; expected the same voxels in both"
        )
    n_vox = y_tr.shape[1]
    if "n_voxels" in info and info["n_voxels"] != n_vox:
        raise InputError(
            f"{info_path}: n_voxels = {info['n_voxels']!r} but {p_tr.name} has {n_vox} voxels; expected them to agree"
        )
    y_tr = _check_finite(p_tr, y_tr, "BOLD values")
    y_te = _check_finite(p_te, y_te, "BOLD values")
    s_tr = _frames_check(root / "stimulus_train.npy", _load_npy(root / "stimulus_train.npy"), y_tr.shape[0] * k)
    s_te = _frames_check(
        root / "stimulus_test.npy", _load_npy(root / "stimulus_test.npy"), y_te.shape[1] * k, s_tr.shape[1:]
    )
    data = FMRIData(root, info, float(tr), k, s_tr, s_te, y_tr, y_te)
    names = info.get("category_names")
    if names is not None:
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise InputError(f"{info_path}: category_names = {names!r}; expected a list of strings")
        data.category_names = names
    if (root / "design.npz").is_file():
        p = root / "design.npz"
        z = _load_npz(p)
        data.train_run = _labels(p, z, "train_run", y_tr.shape[0])
        data.train_segment = _labels(p, z, "train_segment", y_tr.shape[0])
        data.train_category = _labels(p, z, "train_category", y_tr.shape[0])
        data.test_category = _labels(p, z, "test_category", y_te.shape[1])
        if data.train_run is not None:
            try:
                run_slices(data.train_run, y_tr.shape[0])
            except InputError as exc:
                raise InputError(f"{p}: {exc}") from None
    if (root / "voxels.npz").is_file():
        p = root / "voxels.npz"
        z = _load_npz(p)
        if "position" in z:
            pos = np.asarray(z["position"])
            if pos.shape != (n_vox, 2) or pos.dtype.kind not in "iu" or (pos < 0).any():
                raise InputError(
                    f"{p}: 'position' has shape {pos.shape}; expected ({n_vox}, 2) non-negative "
                    f"integers (row, column per voxel)"
                )
            data.position = pos.astype(np.int64)
            gs = z.get("grid_shape")
            data.grid_shape = tuple(int(v) for v in gs) if gs is not None else None
    if (root / "library.npz").is_file():
        p = root / "library.npz"
        z = _load_npz(p)
        if "frames" not in z:
            raise InputError(f"{p}: has no 'frames'; expected frames (n, H, W) and category (n,)")
        data.library_frames = _frames_check(p, z["frames"], None, s_tr.shape[1:])
        if "category" in z:
            data.library_category = _labels(p, z, "category", len(data.library_frames))
    if (root / "truth.npz").is_file():
        p = root / "truth.npz"
        z = _load_npz(p)
        if "true_layer" in z:
            tl, layers = np.asarray(z["true_layer"]), z.get("layers")
            if (
                tl.shape != (n_vox,)
                or layers is None
                or tl.dtype.kind not in "iu"
                or tl.min() < -1
                or tl.max() >= len(layers)
            ):
                raise InputError(
                    f"{p}: 'true_layer' has shape {tl.shape}; expected ({n_vox},) indices into 'layers' (-1: no signal)"
                )
        data.truth = z
    data.files = sorted(f.name for f in root.iterdir() if f.is_file())
    return data
