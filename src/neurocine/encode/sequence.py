"""Recurrent (LSTM/GRU) models of time series, time first: X (T, p) -> Y (T, q).

The encoding model of McCarthy (2019, sections II.E-F): two
stacked LSTM layers of 13 and 26 units, dropout 0.3, a dense layer of 250
units with dropout 0.3 and a linear output, trained with MSE on random
windows of 20 time steps (batches of 128, 30 steps per epoch, at most 100
epochs, early stopping after 4 epochs without a validation improvement of
1e-4) on the first 70 % of a recording, validated on the next 10 % and
tested on the last 20 %. :class:`SequenceRegressor` is that model;
:class:`SequenceClassifier` is the same backbone with a sigmoid output and
binary cross-entropy (the whisking classifier of McCarthy 2019, section III).

torch is imported when a model is fitted or used, not when this module is.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin

from neurocine.errors import InputError
from neurocine.models.ridge import TargetScores, explained_variance
from neurocine.models.torch_base import TorchEstimator, check_sizes, keras_init, standardiser, to_tensor
from neurocine.validation import check_int, validate_signal_matrix

__all__ = ["CELLS", "SequenceClassifier", "SequenceRegressor", "check_fractions", "contiguous_split"]

#: Recurrent cells on offer.
CELLS = ("lstm", "gru")

_CHUNK_STEPS = 4096  # time steps per block of a full-sequence pass (the state is carried across blocks)


def contiguous_split(n_samples: int, fractions=(0.7, 0.1, 0.2)) -> tuple[slice, slice, slice]:
    """Split ``range(n_samples)`` into contiguous train, validation and test blocks, in that order.

    Parameters
    ----------
    n_samples : int
        Number of time steps T.
    fractions : sequence of 3 floats, default (0.7, 0.1, 0.2)
        Train, validation and test fractions (non-negative, summing to 1;
        train and validation positive). The train and validation blocks get
        ``round(T * fraction)`` steps, the test block the rest.

    Returns
    -------
    train, validation, test : slice
        Index slices into the time axis.

    Examples
    --------
    >>> contiguous_split(100)
    (slice(0, 70, None), slice(70, 80, None), slice(80, 100, None))
    """
    n_samples = check_int("n_samples", n_samples)
    fractions = check_fractions(fractions)
    n_train = int(round(n_samples * fractions[0]))
    n_val = int(round(n_samples * fractions[1]))
    if n_train < 1 or n_val < 1 or n_train + n_val > n_samples:
        raise InputError(
            f"fractions: {fractions} of {n_samples} time steps give {n_train} train and {n_val} "
            f"validation steps; expected at least 1 of each (more time steps or larger fractions)"
        )
    return slice(0, n_train), slice(n_train, n_train + n_val), slice(n_train + n_val, n_samples)


def check_fractions(fractions, name: str = "fractions") -> tuple[float, float, float]:
    """``fractions`` as 3 floats (train, validation, test): non-negative, summing to 1, the first two positive.

    Parameters
    ----------
    fractions : sequence of 3 numbers
    name : str, default "fractions"
        Argument named in the error message.

    Returns
    -------
    tuple of 3 floats

    Examples
    --------
    >>> check_fractions([0.6, 0.2, 0.2])
    (0.6, 0.2, 0.2)
    """
    try:
        values = tuple(float(f) for f in fractions)
    except (TypeError, ValueError):
        values = ()
    if (
        len(values) != 3
        or not all(np.isfinite(values))
        or min(values) < 0
        or values[0] <= 0
        or values[1] <= 0
        or abs(sum(values) - 1) > 1e-6
    ):
        raise InputError(
            f"{name}: got {fractions!r}, expected 3 non-negative fractions (train, validation, "
            f"test) summing to 1, train and validation positive"
        )
    return values


def _build_network(n_in: int, n_out: int, cell: str, hidden: tuple[int, ...], dropout: float, dense: int | None):
    """Recurrent stack + dense head as a ``ModuleDict`` of standard torch modules (picklable), Keras-initialised."""
    from torch import nn

    recurrent = nn.LSTM if cell == "lstm" else nn.GRU
    sizes = (n_in, *hidden)
    layers = nn.ModuleList(recurrent(a, b, batch_first=True) for a, b in zip(sizes[:-1], sizes[1:]))
    head, width = [nn.Dropout(dropout)], hidden[-1]
    if dense:
        head += [nn.Linear(width, dense), nn.ReLU(), nn.Dropout(dropout)]
        width = dense
    head.append(nn.Linear(width, n_out))
    net = nn.ModuleDict({"rnn": layers, "head": nn.Sequential(*head)})
    keras_init(net)
    return net


def _forward(net, x, states=None):
    """``x`` (B, L, p) -> outputs (B, L, q) and the recurrent states after the last step."""
    new_states = []
    for i, layer in enumerate(net["rnn"]):
        x, state = layer(x, None if states is None else states[i])
        new_states.append(state)
    return net["head"](x), new_states


def _run(net, x):
    """Full-sequence pass: ``x`` (T, p) -> (T, q), in blocks of time steps with the state carried over."""
    import torch

    outs, states = [], None
    for start in range(0, x.shape[0], _CHUNK_STEPS):
        out, states = _forward(net, x[None, start : start + _CHUNK_STEPS], states)
        outs.append(out[0])
    return torch.cat(outs)


class _SequenceModel(TorchEstimator):
    """Shared backbone, fitting and prediction of :class:`SequenceRegressor` and :class:`SequenceClassifier`."""

    _target_name = "Y"
    _fit_call = "fit(X, Y)"

    def __init__(
        self,
        cell: str = "lstm",
        hidden=(13, 26),
        dropout: float = 0.3,
        dense: int | None = 250,
        *,
        sequence_length: int = 20,
        batch_size: int = 128,
        steps_per_epoch: int = 30,
        max_epochs: int = 100,
        patience: int = 4,
        min_delta: float = 1e-4,
        learning_rate: float = 1e-3,
        split=(0.7, 0.1, 0.2),
        checkpoint_dir=None,
        random_state: int | None = None,
        device: str = "auto",
    ):
        self.cell = cell
        self.hidden = hidden
        self.dropout = dropout
        self.dense = dense
        self.sequence_length = sequence_length
        self.batch_size = batch_size
        self.steps_per_epoch = steps_per_epoch
        self.max_epochs = max_epochs
        self.patience = patience
        self.min_delta = min_delta
        self.learning_rate = learning_rate
        self.split = split
        self.checkpoint_dir = checkpoint_dir
        self.random_state = random_state
        self.device = device

    # ------------------------------------------------------------------ #
    # subclass hooks
    # ------------------------------------------------------------------ #
    def _check_target_values(self, Y: np.ndarray, name: str) -> None:
        """Raise InputError for target values the model cannot learn."""

    def _fit_target_encoding(self, Y: np.ndarray) -> None:
        """Learn what maps targets to the network's units (from the training targets)."""

    def _encode_targets(self, Y: np.ndarray) -> np.ndarray:
        return Y

    def _decode_outputs(self, out: np.ndarray) -> np.ndarray:
        return out

    def _loss_function(self):
        raise NotImplementedError

    def _metric(self, Y: np.ndarray, P: np.ndarray):
        """The score of :meth:`split_scores` (per target for the regressor)."""
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        if tags.regressor_tags is not None:  # the default fit is sized for long recordings, not toy data
            tags.regressor_tags.poor_score = True
        if tags.classifier_tags is not None:
            tags.classifier_tags.poor_score = True
        return tags

    # ------------------------------------------------------------------ #
    # validation
    # ------------------------------------------------------------------ #
    def _check_params(self) -> tuple[int, ...]:
        if self.cell not in CELLS:
            raise InputError(f"cell: got {self.cell!r}, expected one of {', '.join(CELLS)}")
        hidden = check_sizes("hidden", self.hidden, "units of each stacked recurrent layer")
        if not (isinstance(self.dropout, numbers.Real) and 0 <= self.dropout < 1):
            raise InputError(f"dropout: got {self.dropout!r}, expected a rate in [0, 1)")
        if self.dense is not None:
            check_int("dense", self.dense)
        self._check_training_params("sequence_length", "batch_size", "steps_per_epoch", "max_epochs", "patience")
        check_fractions(self.split, "split")
        return hidden

    def _check_X(self, X, name: str = "X") -> np.ndarray:
        X = validate_signal_matrix(X, name, min_timesteps=1, dtype=np.float32)
        if hasattr(self, "n_features_in_") and X.shape[1] != self.n_features_in_:
            raise InputError(f"{name}: has {X.shape[1]} columns, expected {self.n_features_in_} (as in fit)")
        return X

    def _check_Y(self, Y, name: str, n_samples: int) -> tuple[np.ndarray, int]:
        """``Y`` as float32 (T, q) and its original number of dimensions (1 or 2)."""
        arr = np.asarray(Y) if not isinstance(Y, np.ndarray) else Y
        ndim = arr.ndim
        if ndim == 1:
            arr = arr.reshape(-1, 1)
        arr = validate_signal_matrix(arr, name, min_timesteps=1)
        if arr.shape[0] != n_samples:
            raise InputError(f"{name}: has {arr.shape[0]} time steps, expected {n_samples} (the rows of X)")
        if hasattr(self, "n_targets_") and arr.shape[1] != self.n_targets_:
            raise InputError(f"{name}: has {arr.shape[1]} columns, expected {self.n_targets_} (as in fit)")
        self._check_target_values(arr, name)
        return arr.astype(np.float32, copy=False), ndim

    # ------------------------------------------------------------------ #
    # fitting
    # ------------------------------------------------------------------ #
    def fit(self, X, Y, *, validation=None):
        """Train on ``X`` -> ``Y`` with early stopping on a validation set.

        Parameters
        ----------
        X : array_like, shape (T, p)
            Inputs, time first.
        Y : array_like, shape (T, q) or (T,)
            Targets, time first.
        validation : tuple (X_val, Y_val) or None
            Validation sequence for early stopping. None: ``X`` and ``Y`` are
            cut by :func:`contiguous_split` with fractions ``split``; the
            model trains on the first block (70 %), validates on the next
            (10 %) and never sees the last (20 %): score it with
            ``score(X[test], Y[test])`` or :meth:`split_scores`. With a
            ``validation`` the model trains on all of ``X``.

        Returns
        -------
        self

        Notes
        -----
        Inputs (and, for the regressor, targets) are standardised with the
        means and standard deviations of the training block; predictions
        come back in the original units. Each optimiser step draws
        ``batch_size`` windows of ``sequence_length`` steps at random start
        times of the training block, the recurrent state starting at 0 in
        every window. The validation loss is that of a full pass over the
        validation sequence (as :meth:`predict` does). With
        ``checkpoint_dir`` set, the training state is saved after every
        epoch and a later ``fit`` with the same data and hyper-parameters
        resumes from it (see :mod:`neurocine.models.torch_base`); a larger
        ``max_epochs`` continues a finished run that did not stop early.
        """
        import torch

        hidden = self._check_params()
        X = validate_signal_matrix(X, "X", dtype=np.float32)
        self._forget_fit("n_features_in_", "n_targets_")  # a failed refit leaves an unfitted model
        Y, y_ndim = self._check_Y(Y, self._target_name, X.shape[0])
        if validation is None:
            train_idx, val_idx, _ = contiguous_split(X.shape[0], self.split)
            X_train, Y_train, X_val, Y_val = X[train_idx], Y[train_idx], X[val_idx], Y[val_idx]
        else:
            if not (isinstance(validation, (tuple, list)) and len(validation) == 2):
                raise InputError(
                    f"validation: got {type(validation).__name__}, expected a tuple (X_val, Y_val) or None"
                )
            X_val = validate_signal_matrix(validation[0], "validation X", min_timesteps=1, dtype=np.float32)
            if X_val.shape[1] != X.shape[1]:
                raise InputError(f"validation X: has {X_val.shape[1]} columns, expected {X.shape[1]} (as X)")
            Y_val, _ = self._check_Y(validation[1], f"validation {self._target_name}", X_val.shape[0])
            if Y_val.shape[1] != Y.shape[1]:
                raise InputError(
                    f"validation {self._target_name}: has {Y_val.shape[1]} columns, "
                    f"expected {Y.shape[1]} (as {self._target_name})"
                )
            X_train, Y_train = X, Y
        n_train, length = X_train.shape[0], int(self.sequence_length)
        if length >= n_train:
            where = "X" if validation is not None else f"the training block ({self.split[0]:g} of T={X.shape[0]})"
            raise InputError(f"sequence_length: got {length}, expected fewer than the {n_train} time steps of {where}")

        self.x_mean_, self.x_scale_ = standardiser(X_train)
        self._fit_target_encoding(Y_train)
        rng = self._seed()
        device = self._resolve_device()
        net = _build_network(
            X.shape[1],
            Y.shape[1],
            self.cell,
            hidden,
            float(self.dropout),
            None if self.dense is None else int(self.dense),
        ).to(device)
        optimizer = torch.optim.Adam(net.parameters(), lr=float(self.learning_rate))
        loss_fn = self._loss_function()

        x_train, y_train = to_tensor(self._scale_X(X_train), device), to_tensor(self._encode_targets(Y_train), device)
        x_val, y_val = to_tensor(self._scale_X(X_val), device), to_tensor(self._encode_targets(Y_val), device)
        offsets = torch.arange(length, device=device)
        batch_size, steps = int(self.batch_size), int(self.steps_per_epoch)

        def train_epoch() -> float:
            total = torch.zeros((), device=device)
            for _ in range(steps):
                starts = torch.from_numpy(rng.integers(0, n_train - length + 1, size=batch_size)).to(device)
                idx = starts[:, None] + offsets
                out, _ = _forward(net, x_train[idx])
                loss = loss_fn(out, y_train[idx])
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.detach()
            return float(total) / steps

        def validate() -> float:
            return float(loss_fn(_run(net, x_val), y_val))

        shapes = {
            "X": X.shape,
            "Y": Y.shape,
            "validation": "split" if validation is None else (X_val.shape, Y_val.shape),
        }
        self._train(
            net,
            optimizer,
            train_epoch=train_epoch,
            validate=validate,
            rng=rng,
            shapes=shapes,
            data=(X, Y, X_val, Y_val),
        )
        self.n_features_in_ = X.shape[1]
        self.n_targets_ = Y.shape[1]
        self.target_ndim_ = y_ndim
        return self

    # ------------------------------------------------------------------ #
    # using a fitted model
    # ------------------------------------------------------------------ #
    def _scale_X(self, X: np.ndarray) -> np.ndarray:
        return (X - self.x_mean_) / self.x_scale_

    def _outputs(self, X) -> np.ndarray:
        """Decoded network outputs (T, q) for ``X`` (T, p): a full pass from a zero state."""
        import torch

        net, device = self._network_for_use()
        X = self._check_X(X)
        with torch.no_grad():
            out = _run(net, to_tensor(self._scale_X(X), device))
        return self._decode_outputs(out.cpu().numpy())

    def _shape_like_targets(self, P: np.ndarray) -> np.ndarray:
        return P[:, 0] if self.target_ndim_ == 1 else P

    def _targets_and_outputs(self, X, Y) -> tuple[np.ndarray, np.ndarray]:
        """Checked targets (T, q) and the full-sequence outputs of ``X`` (T, q)."""
        self._check_fitted()
        X = self._check_X(X)
        Y, _ = self._check_Y(Y, self._target_name, X.shape[0])
        return Y, self._outputs(X)

    def split_scores(self, X, Y) -> dict:
        """Scores on the train, validation and test blocks of ``contiguous_split(T, split)``.

        One full pass predicts all of ``X`` (the state runs on across block
        boundaries; inputs only, no target leaks forward), then each block is
        scored. Called with the ``X, Y`` given to ``fit`` (without
        ``validation``), these are the train/validation/test numbers of McCarthy (2019).

        Returns
        -------
        dict
            ``{"train": ..., "validation": ..., "test": ...}``: per-target
            explained variances (:meth:`SequenceRegressor.score_targets`,
            arrays (q,)) or accuracies (:meth:`SequenceClassifier.score`,
            floats); ``NaN`` for an empty test block.
        """
        Y, P = self._targets_and_outputs(X, Y)
        out = {}
        for name, s in zip(("train", "validation", "test"), contiguous_split(X.shape[0], self.split)):
            out[name] = self._metric(Y[s], P[s]) if s.stop > s.start else float("nan")
        return out


class SequenceRegressor(TargetScores, RegressorMixin, _SequenceModel):
    """Recurrent encoding model (LSTM or GRU) mapping input time series to target time series.

    Network: ``len(hidden)`` stacked recurrent layers (``hidden[i]`` units
    each), dropout, a dense layer of ``dense`` ReLU units (McCarthy 2019 does not
    name its activation), dropout, and a linear output of q units. Loss: mean
    squared error of the standardised targets; optimiser Adam; weights start
    as Keras (the framework of McCarthy 2019) initialises them
    (:func:`neurocine.models.torch_base.keras_init`). Inputs and targets are
    standardised with the training block's statistics; predictions are in the
    targets' units.

    Parameters
    ----------
    cell : {"lstm", "gru"}, default "lstm"
        Recurrent cell.
    hidden : tuple of int, default (13, 26)
        Units of each stacked recurrent layer (McCarthy 2019: 13 and 26).
    dropout : float, default 0.3
        Dropout rate after the recurrent stack and after the dense layer.
    dense : int or None, default 250
        Units of the dense layer before the output; None: no dense layer.
    sequence_length : int, default 20
        Length (time steps) of the random training windows.
    batch_size : int, default 128
        Windows per optimiser step.
    steps_per_epoch : int, default 30
        Optimiser steps per epoch.
    max_epochs : int, default 100
        Epoch limit.
    patience : int, default 4
        Epochs without improvement of the validation loss before stopping;
        the best epoch's weights are restored.
    min_delta : float, default 1e-4
        Least decrease of the validation loss that counts as improvement.
    learning_rate : float, default 1e-3
        Adam step size.
    split : tuple of 3 floats, default (0.7, 0.1, 0.2)
        Train/validation/test fractions used by ``fit(X, Y)`` without
        ``validation`` (see :func:`contiguous_split`) and by
        :meth:`split_scores`.
    checkpoint_dir : path or None, default None
        Save the training state here after every epoch; resume from it.
    random_state : int or None
        Seed of the initial weights, the training windows and dropout: the
        same seed gives the same numbers on CPU.
    device : str, default "auto"
        ``"auto"`` (CUDA when present, else CPU), ``"cpu"`` or ``"cuda[:i]"``.

    Attributes
    ----------
    network_ : torch.nn.ModuleDict
        ``"rnn"`` (the recurrent layers) and ``"head"`` (dropout, dense, output).
    history_ : dict
        ``"loss"`` and ``"val_loss"`` (standardised MSE), one value per epoch.
    best_epoch_ : int
        1-based epoch whose weights were kept.
    n_epochs_ : int
        Epochs run.
    stopped_early_ : bool
    x_mean_, x_scale_ : ndarray, shape (p,)
    y_mean_, y_scale_ : ndarray, shape (q,)
    n_features_in_, n_targets_ : int

    Notes
    -----
    :meth:`predict` makes one stateful pass over the whole sequence (in
    blocks of 4096 steps, the state carried over), starting from a zero
    state at its first row -- the simplest use of a recurrent model, and
    McCarthy (2019)'s. Training windows also start from a zero state, so the first
    ``sequence_length`` predictions see less history than the rest.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 2))
    >>> Y = np.convolve(X[:, 0], 0.6 ** np.arange(10))[:1000, None]  # a leaky integrator of X[:, 0]
    >>> test = contiguous_split(1000)[2]
    >>> model = SequenceRegressor(max_epochs=3, random_state=0).fit(X, Y)   # 70 % train, 10 % validation
    >>> model.predict(X[test]).shape, model.score_targets(X[test], Y[test]).shape
    ((200, 1), (1,))
    """

    def _fit_target_encoding(self, Y: np.ndarray) -> None:
        self.y_mean_, self.y_scale_ = standardiser(Y)

    def _encode_targets(self, Y: np.ndarray) -> np.ndarray:
        return (Y - self.y_mean_) / self.y_scale_

    def _decode_outputs(self, out: np.ndarray) -> np.ndarray:
        return out * self.y_scale_ + self.y_mean_

    def _loss_function(self):
        from torch import nn

        return nn.MSELoss()

    def _metric(self, Y: np.ndarray, P: np.ndarray) -> np.ndarray:
        return explained_variance(Y, P)

    def predict(self, X) -> np.ndarray:
        """Predicted targets for ``X``.

        Parameters
        ----------
        X : array_like, shape (T, p)

        Returns
        -------
        ndarray, shape (T, q), or (T,) when ``Y`` was 1-D in fit
            In the targets' units.
        """
        return self._shape_like_targets(self._outputs(X))

    def _prediction_and_targets(self, X, Y) -> tuple[np.ndarray, np.ndarray]:
        """Full-sequence prediction (T, q) and checked targets (T, q): what ``score`` and ``score_targets`` compare."""
        Y, P = self._targets_and_outputs(X, Y)
        return P, Y


class SequenceClassifier(ClassifierMixin, _SequenceModel):
    """Recurrent classifier of binary events (the whisking classifier of McCarthy 2019).

    The backbone of :class:`SequenceRegressor` with a sigmoid output per
    target column and binary cross-entropy loss; inputs are standardised
    with the training block's statistics. Targets are 0/1 (or bool), one
    column per independent binary label.

    Parameters
    ----------
    cell, hidden, dropout, dense, sequence_length, batch_size, steps_per_epoch, max_epochs, patience, \
min_delta, learning_rate, split, checkpoint_dir, random_state, device
        As for :class:`SequenceRegressor`; early stopping watches the
        validation cross-entropy.

    Attributes
    ----------
    network_, history_, best_epoch_, n_epochs_, stopped_early_, x_mean_, x_scale_, n_features_in_, n_targets_
        As for :class:`SequenceRegressor` (``history_`` holds cross-entropies).
    classes_ : ndarray, ``array([0, 1])``
        The labels (of every target column).

    Notes
    -----
    Accuracy on the train/validation/test blocks of McCarthy (2019):
    ``model.fit(X, y).split_scores(X, y)`` returns
    ``{"train": acc, "validation": acc, "test": acc}``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((1000, 3))
    >>> y = (np.convolve(X[:, 0], np.ones(5))[:1000] > 1).astype(int)   # events of a 5-step sum
    >>> model = SequenceClassifier(max_epochs=3, random_state=0).fit(X, y)
    >>> model.predict_proba(X).shape, sorted(model.split_scores(X, y))
    ((1000,), ['test', 'train', 'validation'])
    """

    _target_name = "y"
    _fit_call = "fit(X, y)"

    def _fit_target_encoding(self, Y: np.ndarray) -> None:
        self.classes_ = np.array([0, 1])

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_class = False  # binary events (a column per independent label)
        tags.classifier_tags.multi_label = True
        return tags

    def _check_target_values(self, Y: np.ndarray, name: str) -> None:
        bad = (Y != 0) & (Y != 1)
        if bad.any():
            row, col = (int(i) for i in np.argwhere(bad)[0])
            raise InputError(
                f"{name}: has value {Y[row, col].item()!r} at (row {row}, column {col}); "
                f"expected binary labels 0/1 (or bool)"
            )

    def _loss_function(self):
        from torch import nn

        return nn.BCEWithLogitsLoss()

    def _decode_outputs(self, out: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-out.astype(np.float64)))

    def _metric(self, Y: np.ndarray, P: np.ndarray) -> float:
        return float(np.mean((P >= 0.5) == (Y > 0.5)))

    def predict_proba(self, X) -> np.ndarray:
        """Probability of the event (label 1) at every time step.

        Parameters
        ----------
        X : array_like, shape (T, p)

        Returns
        -------
        ndarray, shape (T,) when ``y`` was 1-D in fit, else (T, q)
        """
        return self._shape_like_targets(self._outputs(X))

    def predict(self, X) -> np.ndarray:
        """Labels 0/1 (int): probability >= 0.5. Shape as :meth:`predict_proba`."""
        return (self.predict_proba(X) >= 0.5).astype(np.int64)

    def score(self, X, y, sample_weight=None) -> float:
        """Accuracy of :meth:`predict` (fraction of time steps and labels right).

        Parameters
        ----------
        X : array_like, shape (T, p)
        y : array_like, shape (T,) or (T, q), binary
        sample_weight : array_like, shape (T,), optional
            Weight of every time step.

        Returns
        -------
        float
        """
        Y, P = self._targets_and_outputs(X, y)
        if sample_weight is None:
            return self._metric(Y, P)
        return float(np.average(((P >= 0.5) == (Y > 0.5)).mean(1), weights=np.asarray(sample_weight, dtype=float)))
