"""Checkpoint files: a data fingerprint, atomic torch saves, checked loads.

The training loop of the torch estimators
(:func:`neurocine.models.torch_base.train`) and the resumable K selection of
:mod:`neurocine.motifs.selection` keep their state in one file,
``checkpoint_dir/checkpoint.pt``, written atomically (temporary file +
:func:`os.replace`, so a crash leaves the previous checkpoint intact). Every
checkpoint is a dict with ``"format"`` (:data:`CHECKPOINT_FORMAT`) and a
``"fingerprint"`` (mapping of str to str: hyper-parameters, data shapes, a
hash of the data); a run resumes from it only when its own fingerprint is
the same (:func:`check_fingerprint`).

Nothing here imports torch at module import time.

Examples
--------
>>> import tempfile
>>> path = checkpoint_path(tempfile.mkdtemp())
>>> fingerprint = {"data": data_fingerprint([1.0, 2.0])}
>>> save_atomic({"format": CHECKPOINT_FORMAT, "fingerprint": fingerprint, "epoch": 3}, path)
>>> state = load_checkpoint(path)
>>> check_fingerprint(state["fingerprint"], fingerprint, path)
>>> state["epoch"]
3
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "check_fingerprint",
    "checkpoint_path",
    "data_fingerprint",
    "load_checkpoint",
    "save_atomic",
]

#: Name of the checkpoint file inside a ``checkpoint_dir``.
CHECKPOINT_FILE = "checkpoint.pt"
#: Format number written to (and expected in) every checkpoint.
CHECKPOINT_FORMAT = 1


def data_fingerprint(*arrays: Any, block_bytes: int = 2**24) -> str:
    """Hash (hex string) of the dtypes, shapes and bytes of ``arrays``, read in blocks of rows.

    Works on memory-mapped arrays without loading them whole.

    Parameters
    ----------
    *arrays : array_like
    block_bytes : int, default 2**24
        Bytes read at a time.

    Returns
    -------
    str
        32 hex digits (BLAKE2b, 16 bytes).
    """
    digest = hashlib.blake2b(digest_size=16)
    for arr in arrays:
        arr = np.asarray(arr)
        digest.update(f"{arr.dtype.str}{arr.shape};".encode())
        if arr.ndim == 0:
            digest.update(arr.tobytes())
            continue
        rows = max(1, block_bytes // max(1, arr[:1].nbytes))
        for start in range(0, arr.shape[0], rows):
            digest.update(memoryview(np.ascontiguousarray(arr[start : start + rows])).cast("B"))  # type: ignore[arg-type]
    return digest.hexdigest()


def checkpoint_path(checkpoint_dir: str | os.PathLike | None) -> Path | None:
    """``checkpoint_dir/checkpoint.pt`` (the directory is created), or None when ``checkpoint_dir`` is None."""
    if checkpoint_dir is None:
        return None
    if not isinstance(checkpoint_dir, (str, os.PathLike)):
        raise InputError(f"checkpoint_dir: got {checkpoint_dir!r}, expected a directory path or None")
    directory = Path(checkpoint_dir)
    if directory.exists() and not directory.is_dir():
        raise InputError(f"checkpoint_dir: {directory} is a file; expected a directory (it is created if missing)")
    directory.mkdir(parents=True, exist_ok=True)
    return directory / CHECKPOINT_FILE


def save_atomic(state: dict, path: Path) -> None:
    """``torch.save(state)`` to ``path`` through a temporary sibling, synced, then renamed into place.

    Parameters
    ----------
    state : dict
        Tensors, arrays and plain Python values (loadable with ``weights_only=True``).
    path : pathlib.Path
        Its directory must exist.
    """
    import torch

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_checkpoint(path: Path) -> dict:
    """The state saved at ``path`` (tensors on the CPU); InputError unless it is a checkpoint of this format.

    Parameters
    ----------
    path : pathlib.Path

    Returns
    -------
    dict
    """
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise InputError(
            f"{path}: cannot be read as a neurocine checkpoint ({exc}); "
            f"expected one written by fit, or delete the folder {path.parent} to start afresh"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise InputError(
            f"{path}: is not a neurocine checkpoint of format {CHECKPOINT_FORMAT}; "
            f"expected one written by fit, or delete the folder {path.parent} to start afresh"
        )
    return state


def check_fingerprint(saved: Mapping[str, str], current: Mapping[str, str], path: Path) -> None:
    """InputError naming (up to 3 of) the entries where ``saved`` and ``current`` differ, and the folder to delete.

    Parameters
    ----------
    saved, current : mapping of str to str
        The checkpoint's fingerprint and this run's.
    path : pathlib.Path
        The checkpoint (named in the message).
    """
    keys = sorted(set(saved) | set(current))
    differ = [k for k in keys if saved.get(k) != current.get(k)]
    if differ:
        shown = "; ".join(f"{k}: checkpoint {saved.get(k)!s}, now {current.get(k)!s}" for k in differ[:3])
        more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
        raise InputError(
            f"{path}: the checkpoint does not match this run ({shown}{more}); expected the same data and "
            f"parameters as the interrupted run, or delete the folder {path.parent} to start afresh"
        )
