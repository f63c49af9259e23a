"""Design matrix for encoding models: named columns, named groups of columns.

Pure numpy (no IO). A group gathers the columns of one behavioural
variable (e.g. every running mean of the whisk motion energy forms group
``"whisk"``), so models can drop, keep alone or shuffle a whole variable:
in McCarthy (2019, section II.C) the unique contribution of a feature is the
explained variance lost when that feature is shuffled throughout time, and
its non-unique contribution the variance explained by it alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.features.timing import as_times, lagged, one_hot, running_mean
from neurocine.validation import check_int, plural, validate_signal_matrix

__all__ = ["DesignMatrix"]


def _check_name(label: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{label}: got {value!r}; expected a non-empty string")
    return value


class DesignMatrix:
    """Builder of a ``(T, p)`` design matrix with named columns and named groups.

    Parameters
    ----------
    samples : int or array_like, shape (T,)
        The number of samples T, or the samples' timestamps (seconds,
        strictly increasing), kept as :attr:`timestamps`.

    Attributes
    ----------
    n_samples : int
        T.
    timestamps : ndarray, shape (T,), or None
        As given.

    Notes
    -----
    ``add*`` methods return the builder, so calls chain. Every block of
    columns has a name (unique); every column a name (unique across the
    matrix); every block a group (default: its name). Adding a block to an
    existing group extends that group.

    Examples
    --------
    >>> me = [0.0, 3.0, 6.0, 3.0]
    >>> dm = (DesignMatrix(4)
    ...       .add_running_means("whisk", me, windows=[1, 3])
    ...       .add_one_hot("stim", ["L", "R", "R", "L"])
    ...       .add("wheel", [1.0, 2.0, 3.0, 4.0], group="movement"))
    >>> dm.columns
    ['whisk_mean1', 'whisk_mean3', 'stim=L', 'stim=R', 'wheel']
    >>> {g: idx.tolist() for g, idx in dm.groups.items()}
    {'whisk': [0, 1], 'stim': [2, 3], 'movement': [4]}
    >>> dm.X[:, 1].tolist()
    [0.0, 1.5, 3.0, 4.0]
    """

    def __init__(self, samples: int | Any):
        if isinstance(samples, (int, np.integer)) and not isinstance(samples, bool):
            self.n_samples = check_int("samples", samples, minimum=1)
            self.timestamps: np.ndarray | None = None
        elif isinstance(samples, bool) or np.ndim(samples) != 1:
            raise InputError(f"samples: got {samples!r}; expected a number of samples (int >= 1) or 1-D timestamps")
        else:
            self.timestamps = as_times("samples", samples, min_len=1).copy()
            self.n_samples = int(self.timestamps.size)
        self._blocks: list[tuple[str, str, list[str], np.ndarray]] = []  # (name, group, columns, (T, k))
        self._cache: np.ndarray | None = None

    # ------------------------------------------------------------------ #
    # building
    # ------------------------------------------------------------------ #
    def _check_length(self, name: str, arr: np.ndarray) -> None:
        """InputError unless ``arr`` has one row per sample of the design matrix."""
        if arr.shape[0] != self.n_samples:
            raise InputError(
                f"{name}: has {plural(arr.shape[0], 'row')} but the design matrix has "
                f"{plural(self.n_samples, 'sample')}; expected equal lengths"
            )

    def _rows(self, name: str, values: Any, ndims: tuple[int, ...] = (1, 2)) -> np.ndarray:
        """``values`` as an array, checked to have one row per sample when it has one of ``ndims`` dimensions.

        Other shapes are left to the function that builds the block's columns, whose error names them.
        """
        arr = np.asarray(values)
        if arr.ndim in ndims:
            self._check_length(name, arr)
        return arr

    def add(
        self, name: str, values: Any, group: str | None = None, column_names: Sequence[str] | None = None
    ) -> DesignMatrix:
        """Add a block of columns.

        Parameters
        ----------
        name : str
            Block name, unique; also the column name of a 1-D block.
        values : array_like, shape (T,) or (T, k)
            Finite numbers (bool and int are cast to float64).
        group : str, optional
            Group the columns join; default ``name``.
        column_names : sequence of k str, optional
            Column names; default ``name`` for (T,), ``"{name}_{j}"`` for (T, k).

        Returns
        -------
        DesignMatrix
            ``self``.

        Raises
        ------
        InputError
            Naming the block: wrong length (with both lengths), not 1-D/2-D,
            non-numeric (strings: use :meth:`add_one_hot`), NaN or infinite
            values, a block or column name already used, wrong number of column names.
        """
        name = _check_name("name", name)
        group = name if group is None else _check_name("group", group)
        if any(b[0] == name for b in self._blocks):
            raise InputError(f"name: {name!r} is already a block of this design matrix; expected a new name")
        try:
            arr = np.asarray(values)
        except (TypeError, ValueError) as exc:
            raise InputError(f"{name}: cannot be read as an array ({exc}); expected (T,) or (T, k) numbers") from None
        if arr.dtype.kind not in "biuf":
            hint = " (use add_one_hot for categories)" if arr.dtype.kind in "USO" else ""
            raise InputError(f"{name}: has dtype {arr.dtype}; expected real numbers{hint}")
        if arr.ndim not in (1, 2):
            raise InputError(
                f"{name}: got a {arr.ndim}-D array of shape {arr.shape}; expected (T,) or (T, k), time first"
            )
        self._check_length(name, arr)
        a2 = arr.reshape(self.n_samples, -1) if arr.ndim == 1 else arr
        validate_signal_matrix(a2, name, min_timesteps=1)
        k = a2.shape[1]
        if column_names is None:
            cols = [name] if arr.ndim == 1 else [f"{name}_{j}" for j in range(k)]
        else:
            if isinstance(column_names, str):
                column_names = [column_names]
            cols = [_check_name("column_names", c) for c in column_names]
            if len(cols) != k:
                raise InputError(
                    f"column_names: got {len(cols)} names for {plural(k, 'column')} of {name!r}; expected {k}"
                )
        taken = set(self.columns)
        clash = [c for c in cols if c in taken] or [c for i, c in enumerate(cols) if c in cols[:i]]
        if clash:
            raise InputError(f"{name}: column name {clash[0]!r} is already used; expected unique column names")
        self._blocks.append((name, group, cols, a2.astype(np.float64, copy=True)))
        self._cache = None
        return self

    def add_running_means(self, name: str, x: Any, windows: Iterable[int], group: str | None = None) -> DesignMatrix:
        """Add trailing running means of ``x`` over several windows (:func:`~neurocine.features.timing.running_mean`).

        Parameters
        ----------
        name : str
            Block name; columns ``"{name}_mean{n}"`` (``"{name}{c}_mean{n}"`` for 2-D ``x``).
        x : array_like, shape (T,) or (T, C)
            Finite samples (motion energy, pupil diameter, wheel velocity).
        windows : iterable of int
            Distinct window lengths in frames, each >= 1 (1 is ``x`` itself).
        group : str, optional
            Default ``name``: all windows form one group.

        Returns
        -------
        DesignMatrix
            ``self``.
        """
        name = _check_name("name", name)
        wins = list(windows) if not isinstance(windows, (int, np.integer)) else [windows]
        if not wins:
            raise InputError("windows: empty; expected at least one window length")
        wins = [check_int("windows", w, minimum=1) for w in wins]
        if len(set(wins)) != len(wins):
            raise InputError(f"windows: {wins} has repeated lengths; expected distinct window lengths")
        arr = self._rows(name, x)
        means = [running_mean(arr, w).reshape(self.n_samples, -1) for w in wins]
        n_c = means[0].shape[1]
        stems = [name] if arr.ndim == 1 else [f"{name}{c}" for c in range(n_c)]
        values = np.concatenate([m[:, [c]] for c in range(n_c) for m in means], axis=1)
        cols = [f"{stems[c]}_mean{w}" for c in range(n_c) for w in wins]
        return self.add(name, values, group=group, column_names=cols)

    def add_lagged(self, name: str, events: Any, lags: Sequence[int], group: str | None = None) -> DesignMatrix:
        """Add time-lagged copies of ``events`` (:func:`~neurocine.features.timing.lagged`, zero fill).

        Parameters
        ----------
        name : str
            Block name; columns ``"{name}_lag{L}"`` (``"{name}{c}_lag{L}"`` for 2-D ``events``).
        events : array_like, shape (T,) or (T, C)
            Event indicators or any finite signal.
        lags : sequence of int
            Distinct lags in frames; the column for lag L holds ``events[t - L]``.
        group : str, optional
            Default ``name``.

        Returns
        -------
        DesignMatrix
            ``self``.
        """
        name = _check_name("name", name)
        arr = self._rows(name, events)
        values, cols = lagged(arr, lags, name=name)
        return self.add(name, values, group=group, column_names=cols)

    def add_one_hot(
        self, name: str, categories: Any, levels: Sequence[Any] | None = None, group: str | None = None
    ) -> DesignMatrix:
        """Add one-hot columns ``"{name}={level}"`` of a categorical variable (:func:`~neurocine.features.timing.one_hot`).

        Parameters
        ----------
        name : str
            Block name.
        categories : array_like, shape (T,)
            One label per sample.
        levels : sequence, optional
            Column order; default the sorted distinct labels.
        group : str, optional
            Default ``name``.

        Returns
        -------
        DesignMatrix
            ``self``.
        """
        name = _check_name("name", name)
        cats = self._rows(name, categories, ndims=(1,))
        values, cols = one_hot(cats, levels=levels, name=name)
        return self.add(name, values, group=group, column_names=cols)

    # ------------------------------------------------------------------ #
    # views
    # ------------------------------------------------------------------ #
    @property
    def X(self) -> np.ndarray:
        """The matrix, shape (T, p), float64, read-only (copy it to modify)."""
        if self._cache is None:
            blocks = [b[3] for b in self._blocks]
            X = np.concatenate(blocks, axis=1) if blocks else np.zeros((self.n_samples, 0))
            X.flags.writeable = False
            self._cache = X
        return self._cache

    @property
    def columns(self) -> list[str]:
        """Column names, length p, in matrix order."""
        return [c for b in self._blocks for c in b[2]]

    @property
    def groups(self) -> dict[str, np.ndarray]:
        """Group name -> int64 column indices, in order of first appearance."""
        out: dict[str, list[int]] = {}
        start = 0
        for _, group, cols, _ in self._blocks:
            out.setdefault(group, []).extend(range(start, start + len(cols)))
            start += len(cols)
        return {g: np.asarray(idx, dtype=np.int64) for g, idx in out.items()}

    @property
    def n_columns(self) -> int:
        """p."""
        return sum(len(b[2]) for b in self._blocks)

    def __len__(self) -> int:
        return self.n_samples

    def __repr__(self) -> str:
        groups = ", ".join(f"{g}: {len(i)}" for g, i in self.groups.items())
        return f"DesignMatrix({self.n_samples} samples x {self.n_columns} columns; groups {{{groups}}})"

    # ------------------------------------------------------------------ #
    # derived matrices
    # ------------------------------------------------------------------ #
    def _derived(self, blocks: list[tuple[str, str, list[str], np.ndarray]]) -> DesignMatrix:
        new = DesignMatrix.__new__(DesignMatrix)
        new.n_samples = self.n_samples
        new.timestamps = None if self.timestamps is None else self.timestamps.copy()
        new._blocks = blocks
        new._cache = None
        return new

    def _check_groups(self, groups: str | Iterable[str]) -> list[str]:
        wanted = [groups] if isinstance(groups, str) else list(groups)
        known = list(self.groups)
        for g in wanted:
            if g not in known:
                raise InputError(f"groups: {g!r} is not a group of this design matrix; expected one of {known}")
        if not wanted:
            raise InputError(f"groups: empty; expected some of {known}")
        return wanted

    def zscore(self) -> DesignMatrix:
        """A copy with every column centred and scaled to unit SD (``ddof=0``).

        Constant columns (all values equal, up to rounding) become zeros, not NaN.

        Returns
        -------
        DesignMatrix
            Same names and groups.
        """
        blocks = []
        for name, group, cols, vals in self._blocks:
            mean, sd = vals.mean(axis=0), vals.std(axis=0)
            const = (vals.max(axis=0) == vals.min(axis=0)) | (sd <= 1e-12 * np.abs(mean))
            z = (vals - mean) / np.where(const, 1.0, sd)
            z[:, const] = 0.0
            blocks.append((name, group, list(cols), z))
        return self._derived(blocks)

    def select(self, groups: str | Iterable[str]) -> DesignMatrix:
        """A copy with only the columns of ``groups`` (single-feature models).

        Parameters
        ----------
        groups : str or iterable of str

        Returns
        -------
        DesignMatrix
        """
        wanted = set(self._check_groups(groups))
        return self._derived([(n, g, list(c), v.copy()) for n, g, c, v in self._blocks if g in wanted])

    def shuffled(
        self, groups: str | Iterable[str], random_state: int | np.random.Generator | None = None
    ) -> DesignMatrix:
        """A copy whose ``groups`` columns are permuted in time (the reduced model of McCarthy 2019).

        One permutation of the T rows is drawn and applied to every column of
        the chosen groups (their joint structure survives, their relation to
        time and to the other columns does not); other columns are unchanged.

        Parameters
        ----------
        groups : str or iterable of str
        random_state : int, numpy Generator or None
            Seed of the permutation.

        Returns
        -------
        DesignMatrix
        """
        wanted = set(self._check_groups(groups))
        rng = np.random.default_rng(random_state)
        perm = rng.permutation(self.n_samples)
        return self._derived([(n, g, list(c), v[perm] if g in wanted else v.copy()) for n, g, c, v in self._blocks])

    def as_dict(self) -> dict[str, np.ndarray]:
        """Arrays to save (e.g. ``np.savez(path, **dm.as_dict())``); :meth:`from_dict` rebuilds the matrix.

        Returns
        -------
        dict
            ``"X"`` (T, p) float64; ``"columns"`` (p,) str; ``"groups"`` (p,)
            str, the group of each column; ``"blocks"`` (p,) str, the block of
            each column; ``"timestamps"`` (T,) when known.
        """
        out = {
            "X": np.array(self.X),
            "columns": np.array(self.columns, dtype=str),
            "groups": np.array([g for _, g, c, _ in self._blocks for _ in c], dtype=str),
            "blocks": np.array([n for n, _, c, _ in self._blocks for _ in c], dtype=str),
        }
        if self.timestamps is not None:
            out["timestamps"] = self.timestamps.copy()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DesignMatrix:
        """Rebuild a design matrix from :meth:`as_dict` arrays (``"blocks"`` optional: one block per column).

        Parameters
        ----------
        data : mapping with "X", "columns", "groups" and optional "blocks", "timestamps"

        Returns
        -------
        DesignMatrix
        """
        for key in ("X", "columns", "groups"):
            if key not in data:
                raise InputError(f"data: has no {key!r}; expected the keys of DesignMatrix.as_dict()")
        X = (
            validate_signal_matrix(data["X"], "data['X']", min_timesteps=1)
            if np.size(data["X"])
            else np.asarray(data["X"], dtype=np.float64)
        )
        cols = [str(c) for c in np.asarray(data["columns"]).ravel()]
        groups = [str(g) for g in np.asarray(data["groups"]).ravel()]
        blocks = [str(b) for b in np.asarray(data["blocks"]).ravel()] if "blocks" in data else cols
        if X.ndim != 2 or not (len(cols) == len(groups) == len(blocks) == X.shape[1]):
            raise InputError(
                f"data: X has shape {np.shape(X)} with {len(cols)} columns, {len(groups)} groups and "
                f"{len(blocks)} blocks; expected one name, group and block per column"
            )
        dm = cls(data["timestamps"] if "timestamps" in data else X.shape[0])
        j = 0
        while j < len(cols):
            k = j + 1
            while k < len(cols) and blocks[k] == blocks[j]:
                k += 1
            dm.add(blocks[j], X[:, j:k], group=groups[j], column_names=cols[j:k])
            j = k
        return dm
