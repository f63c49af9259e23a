"""suite2p output folders as time-first ROI traces.

suite2p, the two-photon pipeline, writes one folder per imaging plane
(``suite2p/plane0/``) of numpy files, each ROIs x frames:

``F.npy``
    fluorescence of every region of interest ``(n_rois, T)``.
``Fneu.npy``
    fluorescence of the neuropil around each ROI ``(n_rois, T)``.
``spks.npy``
    deconvolved activity ``(n_rois, T)``.
``iscell.npy``
    the classifier's verdict ``(n_rois, 2)``: is-cell flag (0/1) and probability.
``ops.npy`` (optional)
    the run's settings, a pickled dict; its ``fs`` (Hz, per plane) gives the
    frame rate.
``stat.npy`` (optional)
    per-ROI statistics (masks, centres); not needed for the traces.

:func:`read_suite2p` turns a folder into a :class:`~neurocine.io.signals.SignalMatrix`
``(T, n_cells)``: cells only by default, the fluorescence ``F``, neuropil
corrected (``F - 0.7 * Fneu``, suite2p's default coefficient) or not, or
the deconvolved ``spks``. :func:`neurocine.io.signals.read_signal_matrix`
(what ``neurocine motifs fit`` and the ``[neural]`` traces of ``neurocine
encode`` read) accepts such a folder, with ``key=`` choosing the trace
(:func:`parse_suite2p_key`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.io.signals import SignalMatrix, check_rate, error_reason
from neurocine.validation import check_float_dtype

__all__ = ["NEUROPIL_COEFFICIENT", "SUITE2P_TRACES", "find_suite2p_plane", "parse_suite2p_key", "read_suite2p"]

#: suite2p's default neuropil coefficient: corrected fluorescence is ``F - 0.7 * Fneu``.
NEUROPIL_COEFFICIENT = 0.7
#: The traces :func:`read_suite2p` reads, by the name of their file.
SUITE2P_TRACES = ("F", "Fneu", "spks")

_KEY = re.compile(r"^(all:)?\s*(?:(spks|Fneu|F)|F\s*-\s*([0-9]*\.?[0-9]+)\s*\*?\s*Fneu)\s*$")


def find_suite2p_plane(path: str | os.PathLike) -> Path | None:
    """The suite2p plane folder at ``path``, or None when ``path`` is not one.

    A plane folder holds ``iscell.npy`` and ``F.npy`` or ``spks.npy``; a
    ``suite2p/`` folder holding exactly one ``plane*`` folder is that plane.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> find_suite2p_plane(d) is None
    True
    >>> (d / "plane0").mkdir()
    >>> for f in ("F", "iscell"):
    ...     np.save(d / "plane0" / f"{f}.npy", np.zeros((2, 5)))
    >>> find_suite2p_plane(d).name
    'plane0'
    """
    p = Path(path)
    if not p.is_dir():
        return None

    def is_plane(q: Path) -> bool:
        return (q / "iscell.npy").exists() and ((q / "F.npy").exists() or (q / "spks.npy").exists())

    if is_plane(p):
        return p
    planes = [q for q in sorted(p.glob("plane*")) if is_plane(q)]
    return planes[0] if len(planes) == 1 else None


def parse_suite2p_key(key: str | None) -> dict[str, Any]:
    """Keyword arguments of :func:`read_suite2p` from a ``key`` string.

    ``"F"`` (default), ``"spks"``, ``"Fneu"`` or ``"F-0.7*Fneu"`` (any
    coefficient; ``F-0.7Fneu`` too), prefixed with ``all:`` to keep every ROI
    rather than the cells only.

    Examples
    --------
    >>> parse_suite2p_key("F-0.7*Fneu")
    {'trace': 'F', 'neuropil': 0.7, 'cells_only': True}
    >>> parse_suite2p_key("all:spks")
    {'trace': 'spks', 'neuropil': None, 'cells_only': False}
    """
    m = _KEY.match(key if key is not None else "F")
    if m is None:
        raise InputError(
            f"key={key!r}: not a suite2p trace; expected F, spks, Fneu or F-0.7*Fneu (neuropil corrected, "
            f"any coefficient), optionally prefixed with all: to keep every ROI, not only the cells"
        )
    trace = m.group(2) or "F"
    neuropil = float(m.group(3)) if m.group(3) is not None else None
    return {"trace": trace, "neuropil": neuropil, "cells_only": m.group(1) is None}


def _load(folder: Path, stem: str, required: bool = True) -> np.ndarray | None:
    q = folder / f"{stem}.npy"
    if not q.exists():
        if required:
            present = ", ".join(sorted(f.name for f in folder.glob("*.npy"))) or "no .npy files"
            raise InputError(f"{q}: file not found (the folder holds {present}); expected suite2p's {stem}.npy")
        return None
    try:
        arr = np.load(q, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise InputError(
            f"{q}: cannot be read as a numeric .npy ({error_reason(exc)}); expected suite2p's {stem}.npy"
        ) from None
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{q}: has dtype {arr.dtype}; expected a numeric array")
    return arr


def _pickled_dicts(folder: Path, stem: str) -> Any:
    """``ops.npy`` / ``stat.npy`` (pickled objects; written by suite2p), or None when absent or unreadable."""
    q = folder / f"{stem}.npy"
    if not q.exists():
        return None
    try:
        raw = np.load(q, allow_pickle=True)
    except Exception as exc:
        raise InputError(f"{q}: cannot be loaded ({error_reason(exc)}); expected suite2p's {stem}.npy") from None
    return raw.item() if raw.dtype == object and raw.shape == () else raw


def read_suite2p(
    folder: str | os.PathLike,
    *,
    trace: str = "F",
    neuropil: float | None = None,
    cells_only: bool = True,
    min_probability: float | None = None,
    sampling_rate: float | None = None,
    dtype: Any = np.float32,
) -> SignalMatrix:
    """Read the traces of a suite2p plane folder as a ``(T, n)`` signal matrix.

    Parameters
    ----------
    folder : path
        A suite2p plane folder (``suite2p/plane0``), or a ``suite2p/`` folder
        holding exactly one plane.
    trace : {"F", "spks", "Fneu"}, default "F"
        Fluorescence, deconvolved activity or neuropil fluorescence.
    neuropil : float, optional
        With ``trace="F"``: subtract this multiple of ``Fneu``
        (:data:`NEUROPIL_COEFFICIENT` = 0.7 is suite2p's default). Default no
        correction.
    cells_only : bool, default True
        Keep the ROIs ``iscell.npy`` flags as cells; False keeps every ROI.
    min_probability : float in [0, 1], optional
        Keep the ROIs whose cell probability (column 1 of ``iscell.npy``) is
        at least this, instead of the flag.
    sampling_rate : float, optional
        Frames per second (Hz); default ``ops.npy``'s ``fs`` when present.
    dtype : floating dtype, default float32

    Returns
    -------
    SignalMatrix
        ``data`` ``(T, n)`` (time first), ``channels`` ``roi<i>`` named by the
        ROI's row in suite2p's files, ``sampling_rate`` or None. Its ``truth``
        is None.

    Raises
    ------
    InputError
        A folder that is not a suite2p plane, a missing or unreadable file,
        files whose ROI or frame counts differ, no ROI kept, non-finite
        values, a trace name or coefficient out of range.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> np.save(d / "F.npy", np.full((3, 4), 10.0, np.float32))
    >>> np.save(d / "Fneu.npy", np.full((3, 4), 5.0, np.float32))
    >>> np.save(d / "iscell.npy", np.array([[1, 0.9], [0, 0.2], [1, 0.8]]))
    >>> m = read_suite2p(d, neuropil=0.7)
    >>> m.data.shape, m.channels, float(m.data[0, 0])
    ((4, 2), ['roi0', 'roi2'], 6.5)
    """
    dtype = check_float_dtype("dtype", dtype)
    plane = find_suite2p_plane(folder)
    if plane is None:
        listed = ", ".join(sorted(f.name for f in Path(folder).iterdir()))[:200] if Path(folder).is_dir() else ""
        found = f"holds {listed or 'nothing'}" if Path(folder).is_dir() else "is not a folder"
        raise InputError(
            f"{folder}: {found}; expected a suite2p plane folder (F.npy or spks.npy, and iscell.npy), "
            f"or a suite2p/ folder holding one plane"
        )
    if trace not in SUITE2P_TRACES:
        raise InputError(f"trace={trace!r}: not a suite2p trace; expected one of {', '.join(SUITE2P_TRACES)}")
    if neuropil is not None:
        if trace != "F":
            raise InputError(f"neuropil={neuropil!r}: applies to trace='F' only; got trace={trace!r}")
        if isinstance(neuropil, bool) or not isinstance(neuropil, (int, float)) or not 0 <= neuropil <= 2:
            raise InputError(f"neuropil={neuropil!r}: expected a coefficient in [0, 2] (suite2p's default 0.7)")
    values = _load(plane, trace)
    assert values is not None
    iscell = _load(plane, "iscell")
    assert iscell is not None
    if values.ndim != 2 or values.shape[1] == 0:
        raise InputError(f"{plane / f'{trace}.npy'}: has shape {values.shape}; expected (n_rois, T) with T >= 1")
    n_rois, t_len = values.shape
    if iscell.ndim == 1:
        iscell = iscell[:, None]
    if iscell.ndim != 2 or iscell.shape[0] != n_rois:
        raise InputError(
            f"{plane / 'iscell.npy'}: has shape {iscell.shape}; expected ({n_rois}, 2) like the {n_rois} "
            f"ROIs of {trace}.npy (is-cell flag, probability)"
        )
    if neuropil:
        fneu = _load(plane, "Fneu")
        assert fneu is not None
        if fneu.shape != values.shape:
            raise InputError(f"{plane / 'Fneu.npy'}: has shape {fneu.shape}; expected {values.shape} like F.npy")
        values = values.astype(np.float64) - float(neuropil) * fneu
    if min_probability is not None:
        if not 0 <= float(min_probability) <= 1 or iscell.shape[1] < 2:
            raise InputError(
                f"min_probability={min_probability!r}: expected a probability in [0, 1] and an iscell.npy "
                f"with a probability column (it has shape {iscell.shape})"
            )
        keep = np.flatnonzero(iscell[:, 1] >= float(min_probability))
    else:
        keep = np.flatnonzero(iscell[:, 0] > 0) if cells_only else np.arange(n_rois)
    if keep.size == 0:
        rule = f"cell probability >= {min_probability}" if min_probability is not None else "is-cell flag set"
        raise InputError(
            f"{plane / 'iscell.npy'}: no ROI of {n_rois} has {rule}; expected at least one cell "
            f"(key all:{trace} or cells_only=False keeps every ROI)"
        )
    data = np.ascontiguousarray(values[keep].T, dtype=dtype)
    if not np.isfinite(data).all():
        bad = np.argwhere(~np.isfinite(data))[0]
        raise InputError(
            f"{plane / f'{trace}.npy'}: non-finite value at frame {bad[0]} of ROI {keep[bad[1]]}; expected finite traces"
        )
    rate = None
    if sampling_rate is not None:
        rate = check_rate(sampling_rate, "sampling_rate")
    else:
        ops = _pickled_dicts(plane, "ops")
        if isinstance(ops, dict) and ops.get("fs"):
            rate = check_rate(ops["fs"], f"{plane / 'ops.npy'}: fs")
    return SignalMatrix(data, [f"roi{i}" for i in keep], rate, None, str(plane), None)
