"""Training loop shared by neurocine's torch estimators: epochs, early stopping, checkpoints, resume.

One loop serves :class:`~neurocine.encode.sequence.SequenceRegressor`,
:class:`~neurocine.encode.sequence.SequenceClassifier` and
:class:`~neurocine.encode.autoencoder.ConvAutoencoder`. The estimator supplies
two closures -- ``train_epoch()`` (one epoch of optimiser steps, returns the
mean training loss) and ``validate()`` (returns the validation loss) -- and
the loop does the rest:

- **early stopping** as Keras' ``EarlyStopping(monitor="val_loss",
  patience, min_delta, restore_best_weights=True)``: an epoch improves when
  its validation loss is below the best so far by more than ``min_delta``;
  training stops after ``patience`` epochs in a row without improvement and
  the weights of the best epoch are restored;
- **checkpoints**: with a ``checkpoint_dir`` the whole training state
  (weights, optimiser, torch and numpy random states, epoch, history, best
  weights and early-stopping counters) is written after every epoch to
  ``checkpoint_dir/checkpoint.pt``, atomically (temporary file +
  :func:`os.replace`), so a crash leaves the previous checkpoint intact;
- **resume**: a later fit with the same ``checkpoint_dir`` loads that state
  and goes on from the next epoch. Nothing random happens between epochs
  outside the saved generators, so on CPU an interrupted-and-resumed fit ends
  with weights identical, bit for bit, to an uninterrupted one. The
  checkpoint records a fingerprint (hyper-parameters, data shapes and a hash
  of the data); a fit whose fingerprint differs refuses to resume.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurocine.errors import InputError
from neurocine.runtime import progress

CHECKPOINT_FILE = "checkpoint.pt"
_FORMAT = 1


class TrainingInterrupted(RuntimeError):
    """Raised by the ``stop_after_epoch`` hook once that epoch's checkpoint is written (tests simulate crashes)."""


@dataclass
class TrainingResult:
    """What :func:`train` reports.

    Attributes
    ----------
    history : dict of str to list of float
        ``"loss"`` (mean training loss) and ``"val_loss"`` (validation loss),
        plus any extra metrics ``validate`` returns, one value per epoch run
        (resumed epochs included).
    best_epoch : int
        1-based epoch whose weights were restored (0 when no epoch improved
        on the initial weights, e.g. a NaN loss from the start).
    n_epochs : int
        Epochs run in all.
    stopped_early : bool
        True when early stopping ended training (``patience`` epochs without
        improvement); such a run is not continued by a larger ``max_epochs``.
    """

    history: dict[str, list[float]] = field(default_factory=lambda: {"loss": [], "val_loss": []})
    best_epoch: int = 0
    n_epochs: int = 0
    stopped_early: bool = False


def data_fingerprint(*arrays: Any, block_bytes: int = 2**24) -> str:
    """Hash (hex string) of the dtypes, shapes and bytes of ``arrays``, read in blocks of rows.

    Works on memory-mapped arrays without loading them whole.
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
            digest.update(memoryview(np.ascontiguousarray(arr[start : start + rows])).cast("B"))
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


def _save_atomic(state: dict, path: Path) -> None:
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


def _load(path: Path) -> dict:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a truncated or foreign file
        raise InputError(
            f"checkpoint_dir: {path} cannot be read as a neurocine checkpoint ({exc}); "
            f"expected one written by fit, or remove it to start afresh"
        ) from None
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        raise InputError(
            f"checkpoint_dir: {path} is not a neurocine checkpoint of format {_FORMAT}; "
            f"expected one written by fit, or remove it to start afresh"
        )
    return state


def _check_fingerprint(saved: Mapping[str, str], current: Mapping[str, str], path: Path) -> None:
    keys = sorted(set(saved) | set(current))
    differ = [k for k in keys if saved.get(k) != current.get(k)]
    if differ:
        shown = "; ".join(f"{k}: checkpoint {saved.get(k)!s}, now {current.get(k)!s}" for k in differ[:3])
        more = f" (and {len(differ) - 3} more)" if len(differ) > 3 else ""
        raise InputError(
            f"checkpoint_dir: the checkpoint {path} does not match this fit ({shown}{more}); "
            f"expected the same data and hyper-parameters, or another/empty checkpoint_dir"
        )


def keras_init(module) -> None:
    """Initialise ``module``'s layers as Keras does (the seed's framework), in place.

    Dense and convolution kernels: Glorot-uniform, biases 0. LSTM/GRU: input
    kernels Glorot-uniform and recurrent kernels orthogonal (each over all
    gates, as Keras' single kernel matrices), biases 0 except the LSTM forget
    gate's, 1 (``unit_forget_bias``). Torch's default (uniform biases) lets a
    narrow ReLU autoencoder start with dead code channels and stall on some
    seeds; this start trains reliably.
    """
    from torch import nn

    for layer in module.modules():
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            nn.init.xavier_uniform_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, (nn.LSTM, nn.GRU)):
            for name, param in layer.named_parameters():
                if name.startswith("weight_ih"):
                    nn.init.xavier_uniform_(param)
                elif name.startswith("weight_hh"):
                    nn.init.orthogonal_(param.T)  # Keras: one (units, gates * units) orthogonal matrix
                elif name.startswith("bias"):
                    nn.init.zeros_(param)
                    if isinstance(layer, nn.LSTM) and name.startswith("bias_ih"):
                        nn.init.ones_(param[layer.hidden_size : 2 * layer.hidden_size])  # gates i, f, g, o


def _clone_state(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _split_validation(value) -> tuple[float, dict]:
    """``validate()``'s result as (loss, extra metrics): a float, or a tuple (loss, mapping of name to float)."""
    if isinstance(value, tuple):
        loss, extras = value
        return float(loss), dict(extras)
    return float(value), {}


def train(
    model,
    optimizer,
    *,
    train_epoch: Callable[[], float],
    validate: Callable[[], float],
    rng: np.random.Generator,
    max_epochs: int,
    patience: int,
    min_delta: float,
    checkpoint_dir: str | os.PathLike | None = None,
    fingerprint: Mapping[str, str] | None = None,
    desc: str = "epochs",
    stop_after_epoch: int | None = None,
) -> TrainingResult:
    """Run epochs with early stopping, checkpoints and resume; leave the best weights in ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        Put in train mode for ``train_epoch`` and in eval mode (under
        ``torch.no_grad``) for ``validate``.
    optimizer : torch.optim.Optimizer
        Saved and restored with the checkpoint.
    train_epoch : callable () -> float
        One epoch of optimiser steps; returns the mean training loss. Its
        randomness must come from ``rng`` and torch's global generator.
    validate : callable () -> float or (float, mapping)
        Validation loss of the current weights, or a tuple of it and a
        mapping of extra metrics (name to float), each recorded in
        ``history`` under its name, one value per epoch.
    rng : numpy.random.Generator
        The sampler's generator; its state is checkpointed.
    max_epochs, patience : int
        Epoch limit; epochs without improvement before stopping.
    min_delta : float
        Least decrease of the validation loss that counts as an improvement.
    checkpoint_dir : path or None
        Where ``checkpoint.pt`` is written after every epoch and resumed from.
    fingerprint : mapping of str to str
        What must match for a checkpoint to be resumed (hyper-parameters,
        data shapes, data hash). ``max_epochs`` should not be part of it: a
        finished run that did not stop early goes on to a larger
        ``max_epochs``.
    desc : str
        Progress-bar label.
    stop_after_epoch : int or None
        Test hook: raise :class:`TrainingInterrupted` after this epoch's
        checkpoint is written, as a crash would.

    Returns
    -------
    TrainingResult
    """
    import torch

    path = checkpoint_path(checkpoint_dir)
    fingerprint = dict(fingerprint or {})
    result = TrainingResult()
    best_loss, wait = float("inf"), 0
    best_state = _clone_state(model)
    if path is not None and path.exists():
        saved = _load(path)
        _check_fingerprint(saved["fingerprint"], fingerprint, path)
        if saved["epoch"] > max_epochs:
            raise InputError(
                f"max_epochs: got {max_epochs}, but the checkpoint {path} already holds "
                f"{saved['epoch']} epochs; expected max_epochs >= {saved['epoch']} or another "
                f"checkpoint_dir"
            )
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        torch.set_rng_state(saved["torch_rng"])
        if saved["cuda_rng"] is not None and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(saved["cuda_rng"])
        rng.bit_generator.state = saved["numpy_rng"]
        best_state = saved["best_model"]
        best_loss, wait = float(saved["best_loss"]), int(saved["wait"])
        result = TrainingResult(
            {k: list(v) for k, v in saved["history"].items()},
            int(saved["best_epoch"]),
            int(saved["epoch"]),
            bool(saved["stopped_early"]),
        )

    start = result.n_epochs
    if not result.stopped_early:
        for epoch in progress(range(start, max_epochs), total=max_epochs - start, desc=desc):
            model.train()
            loss = float(train_epoch())
            model.eval()
            with torch.no_grad():
                val_loss, extras = _split_validation(validate())
            result.history["loss"].append(loss)
            result.history["val_loss"].append(val_loss)
            for key, value in extras.items():
                result.history.setdefault(key, []).append(float(value))
            result.n_epochs = epoch + 1
            if val_loss < best_loss - min_delta:
                best_loss, wait, result.best_epoch = val_loss, 0, epoch + 1
                best_state = _clone_state(model)
            else:
                wait += 1
            result.stopped_early = wait >= patience
            if path is not None:
                _save_atomic(
                    {
                        "format": _FORMAT,
                        "fingerprint": fingerprint,
                        "epoch": result.n_epochs,
                        "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(),
                        "best_model": best_state,
                        "best_loss": best_loss,
                        "best_epoch": result.best_epoch,
                        "wait": wait,
                        "stopped_early": result.stopped_early,
                        "history": result.history,
                        "torch_rng": torch.get_rng_state(),
                        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
                        "numpy_rng": rng.bit_generator.state,
                    },
                    path,
                )
            if result.stopped_early:
                break
            if stop_after_epoch is not None and stop_after_epoch <= epoch + 1 < max_epochs:
                raise TrainingInterrupted(f"stopped after epoch {epoch + 1} (test hook)")
    model.load_state_dict(best_state)
    model.eval()
    return result
