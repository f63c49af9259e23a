"""Whisking events from CAE codes of the whisker pad, and the classifier's output as a regressor of brain activity.

The whisking study of McCarthy (2019, section II.H and the last two
paragraphs of section III): a convolutional autoencoder
(:class:`~neurocine.encode.autoencoder.ConvAutoencoder`) compresses the
whisker-pad crop of the face video; the codes of every frame feed an LSTM
classifier (:class:`~neurocine.encode.sequence.SequenceClassifier`) that
predicts whisking events, a frame being a whisking frame when the whisker
motion energy exceeds its mean plus two standard deviations
(:func:`~neurocine.features.timing.whisking_events`); McCarthy (2019) reports 89.3 /
90.4 / 91.8 % train / validation / test accuracy. The classifier's probability
output and the raw motion energy are then each used alone as the regressor of
a ridge model of the brain activity, and their explained variances compared
(McCarthy 2019: 9.6 % for the probability, 4.9 % for the motion energy).

:func:`whisking_study` runs the whole chain on one recording, with one
contiguous train / validation / test split
(:func:`~neurocine.encode.sequence.contiguous_split`) shared by every stage,
so nothing fitted has seen the test block. Pure computation: no file IO.
torch is imported when the models are fitted, not when this module is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from neurocine.encode.autoencoder import ConvAutoencoder
from neurocine.encode.sequence import SequenceClassifier, check_fractions, contiguous_split
from neurocine.errors import InputError
from neurocine.features.timing import convolve_regressors, whisking_events
from neurocine.models.ridge import RidgeCV, explained_variance
from neurocine.validation import validate_signal_matrix

__all__ = ["WhiskingStudy", "whisking_study"]

_BLOCKS = ("train", "validation", "test")


@dataclass
class WhiskingStudy:
    """Result of :func:`whisking_study`.

    Attributes
    ----------
    encodings : ndarray, shape (T, code_dim), float32
        CAE codes of every frame, flattened.
    reconstruction_bce : float
        Mean binary cross-entropy per pixel of the CAE's reconstructions of
        the test-block frames (:meth:`ConvAutoencoder.evaluate`; McCarthy
        2019 reports 0.47-0.48 for its whisk CAE).
    whisking : ndarray of bool, shape (T,)
        Labels: ``whisk_me > mean + n_sd * SD`` over the whole trace.
    accuracy : dict
        ``{"train", "validation", "test"}``: accuracy of the classifier on
        each block (:meth:`SequenceClassifier.split_scores`).
    chance_accuracy : dict
        Same keys: accuracy of always predicting the majority class of the
        training block.
    probability : ndarray, shape (T,), float64
        Classifier's P(whisking) at every frame (one pass from a zero state).
    ev_probability : ndarray, shape (q,)
        Test-block explained variance of each column of ``Y`` by a ridge model
        whose only regressor is the (convolved) probability.
    ev_motion_energy : ndarray, shape (q,)
        The same with the (convolved) whisker motion energy as the regressor.
    blocks : tuple of 3 slices
        The train, validation and test blocks of the time axis.
    autoencoder : ConvAutoencoder
        The fitted autoencoder.
    classifier : SequenceClassifier
        The fitted classifier.
    """

    encodings: np.ndarray
    reconstruction_bce: float
    whisking: np.ndarray
    accuracy: dict
    chance_accuracy: dict
    probability: np.ndarray
    ev_probability: np.ndarray
    ev_motion_energy: np.ndarray
    blocks: tuple = ()
    autoencoder: object = field(default=None, repr=False, compare=False)
    classifier: object = field(default=None, repr=False, compare=False)

    def summary(self) -> dict:
        """JSON-friendly scalars (Python floats and ints).

        Returns
        -------
        dict
            ``accuracy_<block>`` and ``chance_<block>`` for the train,
            validation and test blocks, ``reconstruction_bce``, ``code_dim``,
            ``n_frames``, ``n_whisking_frames``, ``whisking_fraction``, and
            ``ev_probability_mean`` / ``ev_motion_energy_mean`` (mean test-block
            EV over the columns of ``Y``).
        """
        out = {}
        for name in _BLOCKS:
            out[f"accuracy_{name}"] = float(self.accuracy[name])
        for name in _BLOCKS:
            out[f"chance_{name}"] = float(self.chance_accuracy[name])
        n = int(self.whisking.shape[0])
        out.update(
            reconstruction_bce=float(self.reconstruction_bce),
            code_dim=int(self.encodings.shape[1]),
            n_frames=n,
            n_whisking_frames=int(np.count_nonzero(self.whisking)),
            whisking_fraction=float(np.count_nonzero(self.whisking) / n) if n else float("nan"),
            ev_probability_mean=float(np.mean(self.ev_probability)),
            ev_motion_energy_mean=float(np.mean(self.ev_motion_energy)),
        )
        return out


def _check_crops(crops) -> np.ndarray:
    """``crops`` as an array (T, h, w) of uint8; a memory map is not read."""
    try:
        arr = crops if isinstance(crops, np.ndarray) else np.asarray(crops)
    except (ValueError, TypeError) as exc:
        raise InputError(f"crops: cannot be read as an array ({exc}); expected uint8 frames (T, h, w)") from None
    if arr.ndim != 3:
        raise InputError(
            f"crops: got a {arr.ndim}-D array of shape {arr.shape}; expected uint8 frames (T, h, w) of the whisker pad"
        )
    if arr.dtype != np.uint8:
        raise InputError(
            f"crops: has dtype {arr.dtype}; expected uint8 frames (0-255), e.g. frames[:, y0:y1, x0:x1] of the video"
        )
    if min(arr.shape) < 1:
        raise InputError(f"crops: has shape {arr.shape}; expected at least one frame of at least 1x1 pixels")
    return arr


def _check_trace(x, name: str, n: int) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise InputError(f"{name}: got shape {arr.shape}; expected a 1-D trace of {n} values (one per frame)")
    if arr.dtype.kind not in "biuf":
        raise InputError(f"{name}: has dtype {arr.dtype}; expected real numbers")
    arr = arr.astype(np.float64)
    if arr.shape[0] != n:
        raise InputError(f"{name}: has {arr.shape[0]} values; expected {n} (the frames of crops)")
    bad = ~np.isfinite(arr)
    if bad.any():
        raise InputError(
            f"{name}: has {int(bad.sum())} NaN or infinite value(s), the first at frame "
            f"{int(np.flatnonzero(bad)[0])}; expected finite values"
        )
    return arr


def _check_kernel(kernel) -> np.ndarray | None:
    if kernel is None:
        return None
    k = np.asarray(kernel)
    if k.ndim != 1 or k.size < 1 or k.dtype.kind not in "biuf" or not np.isfinite(k).all():
        raise InputError(
            f"kernel: got an array of shape {k.shape} and dtype {k.dtype}; expected None or a 1-D "
            f"array of finite weights (e.g. hemodynamic_kernel(fps))"
        )
    return k.astype(np.float64)


def _regressor(r: np.ndarray, kernel: np.ndarray | None, fit_rows: slice) -> np.ndarray:
    """``r`` convolved with ``kernel`` (when given), z-scored with the statistics of ``fit_rows``, as (T, 1)."""
    x = convolve_regressors(r, kernel) if kernel is not None else r.astype(np.float64)
    sd = float(x[fit_rows].std())
    x = (x - float(x[fit_rows].mean())) / (sd if sd > 0 else 1.0)
    return x[:, None]


def whisking_study(
    crops,
    whisk_me,
    Y,
    *,
    kernel=None,
    n_sd: float = 2.0,
    split=(0.7, 0.1, 0.2),
    autoencoder=None,
    classifier=None,
    random_state: int | None = 0,
) -> WhiskingStudy:
    """CAE codes of the whisker pad -> LSTM whisking classifier -> its output vs motion energy as a regressor.

    1. Labels: ``whisking_events(whisk_me, n_sd).whisking``.
    2. The autoencoder is fitted on the train block of ``crops`` (early
       stopping on the validation block); ``encodings`` are the codes of
       every frame; ``reconstruction_bce`` is scored on the test block.
    3. The classifier is fitted on ``encodings -> whisking`` with the same
       split (it trains on the train block and stops early on the
       validation block); ``accuracy`` comes from its ``split_scores`` and
       ``probability`` from ``predict_proba`` of all frames.
    4. For each regressor ``r`` in (``probability``, ``whisk_me``):
       ``x = convolve_regressors(r, kernel)`` (or ``r`` when ``kernel`` is
       None), z-scored with the train + validation statistics (so the ridge
       penalties mean the same for both), a :class:`RidgeCV` of ``Y`` on
       ``x`` alone fitted on the train + validation blocks (the penalty chosen
       per column by 5-fold contiguous cross-validation there), and the
       explained variance of each column of ``Y`` on the test block.

    Parameters
    ----------
    crops : array_like, shape (T, h, w), uint8
        Whisker-pad crop of every video frame (a memory map is read block by
        block).
    whisk_me : array_like, shape (T,)
        Whisker-pad motion energy, finite, not constant.
    Y : array_like, shape (T, q)
        Neural targets, time first (e.g. dF/F of the brain pixels).
    kernel : array_like, shape (K,), optional
        Response kernel applied causally to both regressors
        (:func:`~neurocine.features.timing.convolve_regressors`), e.g.
        :func:`~neurocine.features.timing.hemodynamic_kernel` for widefield
        data. None: the regressors are used as they are.
    n_sd : float, default 2.0
        Whisking threshold in standard deviations above the mean (McCarthy 2019: 2).
    split : tuple of 3 floats, default (0.7, 0.1, 0.2)
        Train, validation and test fractions of the contiguous blocks
        (:func:`~neurocine.encode.sequence.contiguous_split`), used by every
        stage; the test block needs at least 2 frames.
    autoencoder : ConvAutoencoder, optional
        Unfitted model; cloned before fitting. Default
        ``ConvAutoencoder(random_state=random_state)`` (the 64/32/16/8
        filters of McCarthy 2019).
    classifier : SequenceClassifier, optional
        Unfitted model; cloned, and its ``split`` set to ``split``, before
        fitting. Default ``SequenceClassifier(random_state=random_state)``
        (the LSTM of McCarthy 2019).
    random_state : int or None, default 0
        Seed of the default models (given models keep their own
        ``random_state``).

    Returns
    -------
    WhiskingStudy

    Raises
    ------
    InputError
        One line naming the argument: ``crops`` not uint8 (T, h, w);
        ``whisk_me`` not 1-D, of another length, non-finite or constant;
        ``Y`` not a finite (T, q) matrix with q >= 1; a bad ``kernel``,
        ``n_sd`` or ``split``; a training block with only one class.

    Notes
    -----
    The motion energy is the quantity the labels are cut from, so as a
    regressor it carries everything the probability can, and more (the
    amplitude of sub-threshold whisking): where the brain responds to the
    motion energy, as in :func:`neurocine.encode.simulate.simulate_session`, it
    explains more variance than the probability. McCarthy (2019) found the opposite
    (9.6 % for the probability, 4.9 % for the motion energy).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> t = np.arange(300)
    >>> env = (np.sin(t / 15) > 0.6) * 1.0                          # whisking bouts
    >>> y, x = np.mgrid[:12, :16]
    >>> crops = (120 + 60 * env[:, None, None] * np.sin(x + 2.5 * t[:, None, None])
    ...          * np.exp(-((y - 6) ** 2) / 20)).astype(np.uint8)  # a vibrating pad
    >>> me = env * (1 + 0.1 * rng.random(300))
    >>> Y = np.convolve(me, np.ones(5) / 5)[:300, None] + 0.1 * rng.standard_normal((300, 3))
    >>> study = whisking_study(crops, me, Y, n_sd=0.5,
    ...     autoencoder=ConvAutoencoder(filters=(8, 4), batch_size=64, max_epochs=2, random_state=0),
    ...     classifier=SequenceClassifier(hidden=(8,), dense=None, batch_size=32, steps_per_epoch=5,
    ...                                   max_epochs=2, random_state=0))
    >>> study.encodings.shape, study.probability.shape, study.ev_motion_energy.shape   # 4 x 3 x 4 codes
    ((300, 48), (300,), (3,))
    >>> sorted(study.accuracy) == sorted(study.chance_accuracy) == ["test", "train", "validation"]
    True
    """
    crops = _check_crops(crops)
    n = crops.shape[0]
    me = _check_trace(whisk_me, "whisk_me", n)
    Y = validate_signal_matrix(Y, "Y")
    if Y.shape[0] != n:
        raise InputError(f"Y: has {Y.shape[0]} rows; expected {n} (the frames of crops), time first")
    kernel = _check_kernel(kernel)
    split = check_fractions(split, "split")
    train, val, test = contiguous_split(n, split)
    if test.stop - test.start < 2:
        raise InputError(
            f"split: got {split} of {n} frames, leaving {test.stop - test.start} test frame(s); "
            f"expected at least 2 (a larger test fraction or more frames)"
        )
    for name, est, kind in (
        ("autoencoder", autoencoder, ConvAutoencoder),
        ("classifier", classifier, SequenceClassifier),
    ):
        if est is not None and not isinstance(est, kind):
            raise InputError(f"{name}: got {type(est).__name__}; expected a {kind.__name__} or None")
    if not float(me.std()) > 0:
        raise InputError(f"whisk_me: is constant ({me[0]:g}); expected a varying motion energy trace")
    whisking = whisking_events(me, n_sd).whisking
    n_whisk_train = int(np.count_nonzero(whisking[train]))
    if n_whisk_train in (0, train.stop - train.start):
        raise InputError(
            f"whisk_me: the training block (frames {train.start}-{train.stop - 1}) has "
            f"{n_whisk_train} whisking frame(s) of {train.stop - train.start} at n_sd={n_sd:g}; "
            f"expected both whisking and non-whisking frames"
        )

    # 1. autoencoder: trained on the train block, early stopping on the validation block
    cae = clone(autoencoder) if autoencoder is not None else ConvAutoencoder(random_state=random_state)
    cae.fit(crops[train], validation=crops[val])
    encodings = cae.transform(crops)
    bce = float(cae.evaluate(crops[test])["bce"])

    # 2. classifier on the codes, with the same blocks
    clf = clone(classifier) if classifier is not None else SequenceClassifier(random_state=random_state)
    clf.set_params(split=split)
    labels = whisking.astype(np.float32)
    clf.fit(encodings, labels)
    accuracy = {k: float(v) for k, v in clf.split_scores(encodings, labels).items()}
    probability = np.asarray(clf.predict_proba(encodings), dtype=np.float64)
    majority = n_whisk_train * 2 > train.stop - train.start
    chance = {k: float(np.mean(whisking[s] == majority)) for k, s in zip(_BLOCKS, (train, val, test))}

    # 3. each regressor alone: ridge on train + validation, EV on the test block
    fit_rows = slice(0, val.stop)
    evs = []
    for r in (probability, me):
        x = _regressor(r, kernel, fit_rows)
        model = RidgeCV().fit(x[fit_rows], Y[fit_rows])
        evs.append(explained_variance(Y[test], model.predict(x[test])))

    return WhiskingStudy(
        encodings=encodings,
        reconstruction_bce=bce,
        whisking=whisking,
        accuracy=accuracy,
        chance_accuracy=chance,
        probability=probability,
        ev_probability=evs[0],
        ev_motion_energy=evs[1],
        blocks=(train, val, test),
        autoencoder=cae,
        classifier=clf,
    )
