"""Base class and training loop of neurocine's torch estimators: device, seeding, early stopping, checkpoints, resume.

:class:`TorchEstimator` is the scikit-learn base class of every torch
estimator (:class:`~neurocine.encode.sequence.SequenceRegressor`,
:class:`~neurocine.encode.sequence.SequenceClassifier`,
:class:`~neurocine.encode.autoencoder.ConvAutoencoder`,
:class:`~neurocine.v1.dnem.DNEM`, the fMRI nets); its docstring states what
a subclass implements. :func:`standardiser`, :func:`holdout`,
:func:`to_tensor` and :func:`mlp` are the small pieces they share.

One loop, :func:`train`, trains them all. The estimator supplies
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
  ``checkpoint_dir/checkpoint.pt``, atomically (see
  :mod:`neurocine.io.checkpoints`), so a crash leaves the previous
  checkpoint intact;
- **resume**: a later fit with the same ``checkpoint_dir`` loads that state
  and goes on from the next epoch. Nothing random happens between epochs
  outside the saved generators, so on CPU an interrupted-and-resumed fit ends
  with weights identical, bit for bit, to an uninterrupted one. The
  checkpoint records a fingerprint (hyper-parameters, data shapes and a hash
  of the data); a fit whose fingerprint differs refuses to resume.

Nothing here imports torch at module import time.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from neurocine.errors import InputError
from neurocine.io.checkpoints import (
    CHECKPOINT_FILE,
    CHECKPOINT_FORMAT,
    check_fingerprint,
    checkpoint_path,
    data_fingerprint,
    load_checkpoint,
    save_atomic,
)
from neurocine.runtime import progress, resolve_device, seed_everything
from neurocine.validation import check_int

__all__ = [
    "CHECKPOINT_FILE",
    "TorchEstimator",
    "holdout",
    "TrainingInterrupted",
    "TrainingResult",
    "check_sizes",
    "keras_init",
    "mlp",
    "param_repr",
    "standardiser",
    "to_tensor",
    "train",
]


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


def keras_init(module) -> None:
    """Initialise ``module``'s layers as Keras does (the framework of McCarthy 2019), in place.

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
    validate: Callable[[], Any] | None,
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
    validate : callable () -> float or (float, mapping), or None
        Validation loss of the current weights, or a tuple of it and a
        mapping of extra metrics (name to float), each recorded in
        ``history`` under its name, one value per epoch. None (no
        validation data): early stopping watches the epoch's training loss,
        which is also recorded as ``val_loss``.
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
        saved = load_checkpoint(path)
        check_fingerprint(saved["fingerprint"], fingerprint, path)
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
        for epoch in progress(range(start, max_epochs), total=max_epochs - start, desc=desc, unit="epoch"):
            model.train()
            loss = float(train_epoch())
            model.eval()
            if validate is None:
                val_loss, extras = loss, {}
            else:
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
                save_atomic(
                    {
                        "format": CHECKPOINT_FORMAT,
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


# ====================================================================== #
# shared pieces of the torch estimators
# ====================================================================== #
def standardiser(data: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Column means and standard deviations of ``data`` (1 where a column is constant), float32.

    Parameters
    ----------
    data : ndarray, shape (n, p)

    Returns
    -------
    mean, scale : ndarray, shape (p,)
        Computed in float64, returned as float32; ``(data - mean) / scale``
        standardises the columns.

    Examples
    --------
    >>> standardiser(np.array([[1.0, 5.0], [3.0, 5.0]]))
    (array([2., 5.], dtype=float32), array([1., 1.], dtype=float32))
    """
    mean = data.mean(0, dtype=np.float64)
    scale = data.std(0, dtype=np.float64)
    scale[scale == 0] = 1.0
    return mean.astype(np.float32), scale.astype(np.float32)


def to_tensor(a, device):
    """``a`` as a contiguous float32 torch tensor on ``device`` (no copy on the CPU when already so)."""
    import torch

    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)


def mlp(n_in: int, hidden, n_out: int, activation, *, dropout: float | None = None, zero_last: bool = False):
    """A multi-layer perceptron ``torch.nn.Sequential``: (Linear, activation[, Dropout]) per hidden layer, Linear.

    Parameters
    ----------
    n_in, n_out : int
        Input and output widths.
    hidden : int or tuple of int
        Width of each hidden layer.
    activation : type of torch.nn.Module
        E.g. ``torch.nn.GELU``; one instance after every hidden Linear.
    dropout : float or None, default None
        Rate of a Dropout layer after every activation; None: no Dropout layer.
    zero_last : bool, default False
        Start the last layer's weights and bias at 0 (the network starts as
        the constant 0: "no shift", "no change").

    Returns
    -------
    torch.nn.Sequential
        Layers initialised as torch's defaults (drawn in order from torch's
        global generator), the last one zeroed when ``zero_last``.

    Examples
    --------
    >>> from torch import nn
    >>> mlp(2, 8, 3, nn.Tanh)
    Sequential(
      (0): Linear(in_features=2, out_features=8, bias=True)
      (1): Tanh()
      (2): Linear(in_features=8, out_features=3, bias=True)
    )
    """
    from torch import nn

    layers, width = [], int(n_in)
    for h in (hidden,) if isinstance(hidden, int) else hidden:
        layers += [nn.Linear(width, int(h)), activation()]
        if dropout is not None:
            layers.append(nn.Dropout(dropout))
        width = int(h)
    layers.append(nn.Linear(width, int(n_out)))
    if zero_last:
        nn.init.zeros_(layers[-1].weight)
        nn.init.zeros_(layers[-1].bias)
    return nn.Sequential(*layers)


def check_sizes(
    name: str, value, what: str = "", *, allow_int: bool = True, allow_empty: bool = False
) -> tuple[int, ...]:
    """Layer sizes: ``value`` (positive integers) as a tuple of ints, else a one-line InputError.

    Parameters
    ----------
    name : str
        Hyper-parameter named in the error message.
    value : sequence of int, or int
        The sizes (units or channels of each layer).
    what : str, default ""
        What the sizes are, added to the error message.
    allow_int : bool, default True
        Accept one integer for a single layer.
    allow_empty : bool, default False
        Accept no layer at all.

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> check_sizes("hidden", 8), check_sizes("hidden", [4, 2])
    ((8,), (4, 2))
    """
    single = allow_int and isinstance(value, numbers.Integral) and not isinstance(value, bool)
    try:
        sizes = (value,) if single else tuple(value)
    except TypeError:
        sizes = None
    if (
        sizes is None
        or (not sizes and not allow_empty)
        or any(isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1 for v in sizes)
    ):
        raise InputError(
            f"{name}: got {value!r}, expected a tuple of positive integers" + (f" ({what})" if what else "")
        )
    return tuple(int(v) for v in sizes)


def holdout(n: int, fraction: float, name: str, *, unit: str = "samples", min_train: int = 1) -> int:
    """Rows that train when the last ``fraction`` of ``n`` rows (a contiguous block) is held out for validation.

    Parameters
    ----------
    n : int
        Rows (samples, frames, time steps).
    fraction : float
        Held-out fraction; ``round(n * fraction)`` rows validate. 0: none.
    name : str
        Argument named in the error message.
    unit : str, default "samples"
        What a row is, for the message.
    min_train : int, default 1
        Fewest training rows accepted.

    Returns
    -------
    int
        ``n_train``: rows ``[:n_train]`` train, rows ``[n_train:]`` validate.

    Examples
    --------
    >>> holdout(100, 0.1, "X")
    90
    """
    n_val = int(round(n * fraction))
    if n - n_val < min_train or (fraction > 0 and n_val < 1):
        raise InputError(
            f"{name}: {n} {unit} with validation_fraction={fraction} leave {n - n_val} training "
            f"and {n_val} validation {unit}; expected at least {min_train} training and 1 "
            f"validation {unit} (or pass validation data)"
        )
    return n - n_val


def param_repr(value) -> str:
    """Fingerprint text of a hyper-parameter: ``repr``, or for a fitted torch estimator a hash of its weights."""
    net = getattr(value, "network_", None)
    if net is None:
        return repr(value)
    arrays = [t.detach().cpu().numpy() for t in net.state_dict().values()]
    return f"{type(value).__name__}(weights {data_fingerprint(*arrays)})"


class TorchEstimator(BaseEstimator):
    """Base class of neurocine's torch estimators: the scikit-learn contract around :func:`train`.

    It owns what every torch estimator does the same way: the device
    (``device="auto"``: CUDA when present), seeding (``random_state``), the
    fitted check (:class:`sklearn.exceptions.NotFittedError`), the training
    run (early stopping, checkpoints and bit-exact resume through
    :func:`train`, with a fingerprint of the hyper-parameters and data) and
    the fitted attributes it leaves. The validation split, standardisation
    and small networks are the module functions :func:`holdout`,
    :func:`standardiser`, :func:`to_tensor` and :func:`mlp`.

    What a subclass implements
    --------------------------
    ``__init__``
        Stores every hyper-parameter under its own name, as given (no
        validation, no conversion: scikit-learn's ``get_params``, ``clone``
        and ``print`` rely on it). Among them: ``random_state``, ``device``,
        ``checkpoint_dir``, ``patience``, ``min_delta`` and the epoch limit,
        whose name is :attr:`_epochs_param` (``"max_epochs"``).
    ``fit(...)``
        Validates the hyper-parameters and the data (one-line
        :class:`~neurocine.errors.InputError`), calls :meth:`_forget_fit`
        (a failed refit leaves an unfitted model), then ``rng =
        self._seed()`` and ``device = self._resolve_device()`` -- in that
        order, before any network is built, so the same seed draws the same
        numbers --, builds the network and the optimiser, defines the
        closures ``train_epoch() -> float`` (one epoch of optimiser steps;
        randomness only from ``rng`` and torch's global generator) and
        ``validate() -> float or (float, dict)``, and hands them to
        :meth:`_train`. It returns ``self``.
    methods that use the fitted model
        Call :meth:`_check_fitted` first, or :meth:`_network_for_use` (the
        network in eval mode and its device).
    ``score``
        Returns one float (per-target scores go under their own name).
    ``__sklearn_tags__``
        Extends this one where scikit-learn's checks cannot apply (inputs
        that are not a 2-D sample matrix, samples that are not i.i.d.).

    Class attributes a subclass may set: :attr:`_fitted_attr` (the attribute
    that marks a fitted model, ``"network_"``), :attr:`_epochs_param`,
    :attr:`_fingerprint_exclude` (hyper-parameters a resumed fit may change)
    and :attr:`_fit_call` (how the not-fitted message says to fit).

    Fitted attributes left by :meth:`_train`
    ----------------------------------------
    network (under ``_fitted_attr``) : torch.nn.Module, in eval mode
    history_ : dict of str to list of float
        ``"loss"``, ``"val_loss"`` and the extra metrics of ``validate``, per epoch.
    best_epoch_, n_epochs_ : int
    stopped_early_ : bool
    """

    #: Attribute set by a successful fit (the trained network).
    _fitted_attr = "network_"
    #: Name of the epoch-limit hyper-parameter.
    _epochs_param = "max_epochs"
    #: Hyper-parameters left out of the checkpoint fingerprint (a resumed fit may change them).
    _fingerprint_exclude: tuple[str, ...] = ("max_epochs", "checkpoint_dir", "device")
    #: How the not-fitted message tells the user to fit.
    _fit_call = "fit(X, y)"

    def _check_fitted(self) -> None:
        """Raise :class:`sklearn.exceptions.NotFittedError` unless a fit has succeeded."""
        check_is_fitted(
            self,
            self._fitted_attr,
            msg=f"{type(self).__name__}: this model is not fitted yet; call {self._fit_call} first",
        )

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, self._fitted_attr)

    def _network_for_use(self):
        """The fitted network, put in eval mode, and the device of its parameters (NotFittedError when unfitted)."""
        self._check_fitted()
        net = getattr(self, self._fitted_attr)
        net.eval()
        return net, next(net.parameters()).device

    def _check_training_params(self, *int_names: str) -> None:
        """Check the positive-integer hyper-parameters ``int_names``, ``min_delta`` (>= 0) and ``learning_rate`` (> 0).

        Raises :class:`~neurocine.errors.InputError` naming the first bad one.
        """
        for name in int_names:
            check_int(name, getattr(self, name))
        if not (isinstance(self.min_delta, numbers.Real) and self.min_delta >= 0):
            raise InputError(f"min_delta: got {self.min_delta!r}, expected a non-negative number")
        if not (isinstance(self.learning_rate, numbers.Real) and self.learning_rate > 0):
            raise InputError(f"learning_rate: got {self.learning_rate!r}, expected a positive number")

    def _resolve_device(self):
        """``torch.device`` of the ``device`` hyper-parameter (``"auto"``: CUDA when present, else CPU)."""
        return resolve_device(self.device)

    def _seed(self) -> np.random.Generator:
        """Seed Python, numpy and torch with ``random_state``; the numpy generator of the training samples."""
        return seed_everything(self.random_state)

    def _forget_fit(self, *extra: str) -> None:
        """Drop the fitted network (and the attributes named in ``extra``): the model is unfitted again."""
        for attr in (self._fitted_attr, *extra):
            self.__dict__.pop(attr, None)

    def _fingerprint(self, shapes: Mapping[str, Any], data: tuple | Callable[[], str]) -> dict[str, str]:
        """What must match for a checkpoint to be resumed: hyper-parameters, ``shapes`` and a hash of ``data``.

        ``data`` is a tuple of arrays (hashed with :func:`data_fingerprint`) or a callable returning the
        hash; it is hashed only when ``checkpoint_dir`` is set.
        """
        params = self.get_params(deep=False)
        fingerprint = {k: param_repr(v) for k, v in params.items() if k not in self._fingerprint_exclude}
        if self.checkpoint_dir is None:
            digest = ""
        else:
            digest = data() if callable(data) else data_fingerprint(*data)
        fingerprint.update(estimator=type(self).__name__, **{k: str(v) for k, v in shapes.items()}, data=digest)
        return fingerprint

    def _train(
        self,
        net,
        optimizer,
        *,
        train_epoch: Callable[[], float],
        validate: Callable[[], Any] | None,
        rng: np.random.Generator,
        shapes: Mapping[str, Any],
        data: tuple | Callable[[], str] = (),
    ) -> TrainingResult:
        """Run :func:`train` with this estimator's settings; store the network and the training record.

        Parameters
        ----------
        net, optimizer, train_epoch, validate, rng
            As for :func:`train`.
        shapes : mapping of str to object
            Descriptions of the data (shapes, number of trials...) added, as
            text, to the checkpoint fingerprint.
        data : tuple of arrays or callable () -> str
            The data whose hash goes into the fingerprint (see :meth:`_fingerprint`).

        Returns
        -------
        TrainingResult
            Also stored: ``net`` under :attr:`_fitted_attr` (in eval mode),
            ``history_``, ``best_epoch_``, ``n_epochs_``, ``stopped_early_``.
            When training raises (or is interrupted) the model is left unfitted.
        """
        try:
            result = train(
                net,
                optimizer,
                train_epoch=train_epoch,
                validate=validate,
                rng=rng,
                max_epochs=int(getattr(self, self._epochs_param)),
                patience=int(self.patience),
                min_delta=float(self.min_delta),
                checkpoint_dir=self.checkpoint_dir,
                fingerprint=self._fingerprint(shapes, data),
                desc=f"{type(self).__name__} epochs",
                stop_after_epoch=getattr(self, "_stop_after_epoch", None),
            )
        except BaseException:
            self._forget_fit()  # not fitted: a failed or interrupted fit leaves no half-trained model behind
            raise
        setattr(self, self._fitted_attr, net)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.n_epochs_ = result.n_epochs
        self.stopped_early_ = result.stopped_early
        return result

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags
