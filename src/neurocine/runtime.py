"""Run-time helpers shared by all layers: seeds, devices and progress bars.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np

from neurocine.errors import InputError

T = TypeVar("T")

_QUIET = False


def set_quiet(quiet: bool) -> None:
    """Silence (``True``) or allow (``False``) every progress bar of this process."""
    global _QUIET
    _QUIET = bool(quiet)


def set_threads(n: int | None) -> None:
    """Use at most ``n`` CPU threads in torch and in the BLAS/OpenMP pools numpy and scikit-learn use.

    ``None`` leaves the libraries' defaults (one thread per core). On a machine shared with other jobs,
    fewer threads than cores is often faster: oversubscribed threads wait on each other.
    """
    if n is None:
        return
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise InputError(f"--threads: got {n!r}, expected an integer >= 1")
    import torch
    from threadpoolctl import threadpool_limits

    torch.set_num_threads(int(n))
    threadpool_limits(int(n))


def progress_enabled() -> bool:
    """Whether progress bars are shown: not quiet and stderr is a terminal.

    ``NEUROCINE_PROGRESS=1`` forces bars on (useful in notebooks), ``0`` off.
    """
    forced = os.environ.get("NEUROCINE_PROGRESS")
    if forced is not None:
        return forced == "1"
    if _QUIET:
        return False
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def progress(iterable: Iterable[T], *, total: int | None = None, desc: str | None = None) -> Iterator[T]:
    """Wrap ``iterable`` in a tqdm bar when bars are enabled, else return it unchanged."""
    if not progress_enabled():
        return iter(iterable)
    from tqdm.auto import tqdm

    return iter(tqdm(iterable, total=total, desc=desc, leave=False))


def seed_everything(seed: int | None) -> np.random.Generator:
    """Seed Python, numpy and (if imported or importable) torch; return a numpy Generator.

    One seed drives every source of randomness, so the same seed gives the
    same numbers on CPU.
    """
    if seed is not None and (not isinstance(seed, (int, np.integer)) or seed < 0):
        raise InputError(f"seed: got {seed!r}, expected a non-negative integer or None")
    if seed is not None:
        random.seed(int(seed))
        np.random.seed(int(seed) % 2**32)
        import torch

        torch.manual_seed(int(seed))
    return np.random.default_rng(seed)


def resolve_device(device: str | None = "auto"):
    """Turn ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda[:i]"`` into a torch.device."""
    import torch

    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InputError(f"device: got {device!r}, expected 'auto', 'cpu' or 'cuda[:index]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InputError(f"device: got {device!r} but CUDA is not available on this machine; use 'auto' or 'cpu'")
    return dev
