"""Run-time helpers shared by all layers: seeds, devices, progress bars and stop signals.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import os
import queue
import random
import signal
import sys
import threading
from collections.abc import Generator, Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np

from neurocine.errors import InputError, Interrupted

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


#: Signals whose default action ends the process, turned into :class:`~neurocine.errors.Interrupted` by
#: :func:`stop_on_signals` (those this platform has): Ctrl-C, ``kill``, a closed terminal, Ctrl-\, and what
#: batch schedulers send before a time limit (SLURM ``--signal``, SGE ``-notify``, CPU-time limits).
STOP_SIGNALS = tuple(
    getattr(signal, name)
    for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGALRM", "SIGXCPU")
    if hasattr(signal, name)
)

_stop_state: dict = {"defer": 0, "pending": None, "raised": False}


def _raise_interrupted(signum: int, frame) -> None:
    if _stop_state["raised"]:  # a repeat while cleaning up: let the cleanup finish (SIGKILL still stops it)
        return
    if _stop_state["defer"]:
        _stop_state["pending"] = _stop_state["pending"] or signum
        return
    _stop_state["raised"] = True
    raise Interrupted(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Inside the block, a stop signal raises :class:`~neurocine.errors.Interrupted` in the main thread.

    So ``finally`` blocks and context managers run on SIGTERM, SIGHUP and the other
    :data:`STOP_SIGNALS` as they do on Ctrl-C: a job's temporary result folder is removed. Only
    signals left at their default action are taken (one that ``nohup`` ignores stays ignored); the
    previous handlers come back at the end. The same signal again while the first one's cleanup
    runs is ignored. Outside the main thread this does nothing.

    Examples
    --------
    >>> import os, signal
    >>> from neurocine.errors import Interrupted
    >>> try:
    ...     with stop_on_signals():
    ...         os.kill(os.getpid(), signal.SIGTERM)
    ... except Interrupted as stop:
    ...     print(stop.signal_name)
    SIGTERM
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {}
    for signum in STOP_SIGNALS:
        handler = signal.getsignal(signum)
        if handler in (signal.SIG_DFL, signal.default_int_handler):
            previous[signum] = handler
            signal.signal(signum, _raise_interrupted)
    saved = dict(_stop_state)
    _stop_state.update(defer=0, pending=None, raised=False)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _stop_state.update(saved)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """A stop signal arriving inside the block is raised (as ``Interrupted``) only when the block ends.

    For short steps that must not be cut in two, such as swapping a finished result folder into
    place. Without :func:`stop_on_signals` around it this changes nothing.
    """
    _stop_state["defer"] += 1
    try:
        yield
    finally:
        _stop_state["defer"] -= 1
        pending = _stop_state["pending"]
        if pending is not None and not _stop_state["defer"]:
            _stop_state["pending"] = None
            _raise_interrupted(pending, None)


def progress_enabled() -> bool:
    """Whether progress bars are shown: not quiet and stderr is a terminal.

    ``NEUROCINE_PROGRESS=1`` forces bars on (useful in notebooks and logs), ``0`` off;
    quiet (``--quiet``, :func:`set_quiet`, worker processes whose parent counts) wins over both.
    """
    if _QUIET:
        return False
    forced = os.environ.get("NEUROCINE_PROGRESS")
    if forced is not None:
        return forced == "1"
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def _bar(total: int | None, desc: str | None, unit: str, iterable: Iterable | None = None):
    """The one tqdm bar every progress display of neurocine uses: on stderr, cleared when done."""
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit=unit, leave=False, file=sys.stderr)


def progress(
    iterable: Iterable[T], *, total: int | None = None, desc: str | None = None, unit: str = "it"
) -> Iterator[T]:
    """Wrap ``iterable`` in a progress bar on stderr when bars are enabled, else return it unchanged.

    Parameters
    ----------
    iterable : iterable
        The loop's items (epochs, iterations, restarts, trials...).
    total : int, optional
        Number of items, when ``iterable`` has no length.
    desc : str, optional
        Label shown before the bar.
    unit : str, default "it"
        What one item is (``"epoch"``, ``"fit"``...).

    Returns
    -------
    iterator
        The same items, in order.

    Examples
    --------
    >>> [i for i in progress(range(3), desc="epochs")]
    [0, 1, 2]
    """
    if not progress_enabled():
        return iter(iterable)
    return iter(_bar(total, desc, unit, iterable))


def prefetched(items: Generator[T, None, None], depth: int) -> Iterator[T]:
    """Run the generator ``items`` in a background thread that stays at most ``depth`` items ahead.

    Reading or decoding the next item then overlaps the caller's work on the
    current one wherever the producer releases the GIL (file reads, numpy's
    conversions and reductions, BLAS, PyAV). An exception of the producer is
    raised here, at the item where it happened; when the caller stops early,
    the producer is closed and its thread joined before this generator ends.

    Parameters
    ----------
    items : generator
        The producer; its items must not be changed by it once yielded.
    depth : int
        Items queued ahead of the caller (memory: ``depth + 2`` items at most,
        counting the one being produced and the one the caller holds).

    Yields
    ------
    object
        The producer's items, in order.

    Examples
    --------
    >>> list(prefetched((i * i for i in range(4)), depth=2))
    [0, 1, 4, 9]
    """
    done = object()
    queued: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item) -> bool:
        while not stop.is_set():
            try:
                queued.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    break
        except BaseException as exc:  # handed to the consumer
            put(exc)
            return
        finally:
            if stop.is_set():
                items.close()
        put(done)

    worker = threading.Thread(target=produce, name="neurocine-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = queued.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        worker.join()


class _NoBar:
    """What :func:`progress_bar` gives when bars are off: every call does nothing."""

    def update(self, n: int = 1) -> None:
        pass

    def set_description_str(self, desc: str | None = None, refresh: bool = True) -> None:
        pass

    def set_postfix_str(self, s: str = "", refresh: bool = True) -> None:
        pass

    def close(self) -> None:
        pass


@contextmanager
def progress_bar(*, total: int | None = None, desc: str | None = None, unit: str = "it"):
    """A progress bar on stderr advanced by hand, for loops that are not one ``for`` over an iterable.

    When bars are disabled (see :func:`progress_enabled`) the object does
    nothing. Use it where the counted steps happen deep in a solver (pass
    the bar down and call ``update()``), or for the stages of a job (call
    ``set_postfix_str(stage)`` then ``update()`` after each).

    Parameters
    ----------
    total : int, optional
        Steps expected; None for an open count (sweeps until convergence).
    desc : str, optional
        Label shown before the bar.
    unit : str, default "it"
        What one step is.

    Yields
    ------
    bar
        ``update(n=1)``, ``set_description_str(text)``, ``set_postfix_str(text)``;
        closed when the ``with`` block ends, also on an exception.

    Examples
    --------
    >>> with progress_bar(total=2, desc="fmri pretrain", unit="step") as bar:
    ...     for stage in ("ridge", "MBM"):
    ...         bar.set_postfix_str(stage)
    ...         bar.update()
    """
    bar = _bar(total, desc, unit) if progress_enabled() else _NoBar()
    try:
        yield bar
    finally:
        bar.close()


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
