"""Writer of a spike sort in phy's template-gui layout, which phy and SpikeInterface read.

:func:`write_phy_folder` writes, into one folder (the layout Kilosort leaves for phy):

``params.py``
    ``dat_path``, ``n_channels_dat``, ``dtype``, ``offset``, ``sample_rate`` (Hz), ``hp_filtered``.
``recording.dat``
    The (filtered) recording, float32, channels interleaved, that ``dat_path`` names.
``spike_times.npy`` (S,) int64, ``spike_templates.npy`` and ``spike_clusters.npy`` (S,) int32, ``amplitudes.npy`` (S,) float32
    Each spike's sample index, unit and amplitude.
``templates.npy`` (U, D, N) float32, ``similar_templates.npy`` (U, U) float32
    Unit waveforms and their cosine similarities.
``channel_map.npy`` (N,) int32, ``channel_positions.npy`` (N, 2) float32
    Channel order and positions (µm; a vertical line 25 µm apart when none are known).
``whitening_mat.npy``, ``whitening_mat_inv.npy`` (N, N) float32
    The whitening applied to the data the templates are in, and its inverse.
``cluster_group.tsv``
    ``cluster_id`` and ``group`` (``unsorted``) of each unit.

``spikeinterface.extractors.read_phy(folder)`` reads it back as a sorting, and ``phy template-gui
params.py`` opens it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["write_phy_folder"]


def write_phy_folder(
    folder: str | os.PathLike,
    *,
    times,
    labels,
    templates,
    amplitudes,
    recording,
    sampling_rate: float,
    whitening=None,
    channel_positions=None,
) -> Path:
    """Write a spike sort as a phy template-gui folder (see the module docstring for the files).

    Parameters
    ----------
    folder : path
        Created if needed (inside a job's temporary result folder: the job publishes it whole).
    times : array_like, shape (S,)
        Spike sample indices.
    labels : array_like, shape (S,)
        Unit of each spike, ``0 .. U-1``.
    templates : array_like, shape (U, D, N)
        Unit waveforms.
    amplitudes : array_like, shape (S,)
        Each spike's amplitude.
    recording : array_like, shape (T, N)
        The recording phy shows (written as float32 ``recording.dat``).
    sampling_rate : float
        Hz.
    whitening : array_like, shape (N, N), optional
        Whitening matrix of the templates' space (identity when None).
    channel_positions : array_like, shape (N, 2), optional
        µm; default a vertical line, 25 µm apart.

    Returns
    -------
    pathlib.Path
        The folder.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = write_phy_folder(pathlib.Path(tempfile.mkdtemp()) / "phy", times=[10, 50], labels=[0, 0],
    ...     templates=np.zeros((1, 5, 2)), amplitudes=[1.0, 2.0], recording=np.zeros((100, 2)), sampling_rate=1e4)
    >>> sorted(p.name for p in out.iterdir())[:4]
    ['amplitudes.npy', 'channel_map.npy', 'channel_positions.npy', 'cluster_group.tsv']
    >>> np.load(out / "spike_times.npy").tolist()
    [10, 50]
    """
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    tpl = np.asarray(templates, dtype=np.float32)
    rec = np.ascontiguousarray(recording, dtype=np.float32)
    n_units, _, n_ch = tpl.shape if tpl.ndim == 3 else (0, 0, rec.shape[1])
    labels = np.asarray(labels, dtype=np.int32)
    white = np.eye(n_ch) if whitening is None else np.asarray(whitening, dtype=np.float64)
    positions = (
        np.stack([np.zeros(n_ch), 25.0 * np.arange(n_ch)], axis=1)
        if channel_positions is None
        else np.asarray(channel_positions)
    )
    flat = tpl.reshape(n_units, -1)
    norms = np.linalg.norm(flat, axis=1)
    similar = flat @ flat.T / np.maximum(np.outer(norms, norms), 1e-12)
    rec.tofile(out / "recording.dat")
    arrays = {
        "spike_times": np.asarray(times, dtype=np.int64),
        "spike_templates": labels,
        "spike_clusters": labels,
        "amplitudes": np.asarray(amplitudes, dtype=np.float32),
        "templates": tpl,
        "similar_templates": similar.astype(np.float32),
        "channel_map": np.arange(n_ch, dtype=np.int32),
        "channel_positions": positions.astype(np.float32),
        "whitening_mat": white.astype(np.float32),
        "whitening_mat_inv": np.linalg.inv(white).astype(np.float32),
    }
    for name, value in arrays.items():
        np.save(out / f"{name}.npy", value)
    (out / "cluster_group.tsv").write_text("cluster_id\tgroup\n" + "".join(f"{u}\tunsorted\n" for u in range(n_units)))
    (out / "params.py").write_text(
        "dat_path = 'recording.dat'\n"
        f"n_channels_dat = {n_ch}\n"
        "dtype = 'float32'\n"
        "offset = 0\n"
        f"sample_rate = {float(sampling_rate)!r}\n"
        "hp_filtered = True\n"
    )
    return out
