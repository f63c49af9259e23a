"""scikit-learn's estimator checks on the torch estimators; checks that cannot apply are listed with the reason.

The sequence models take one time series (T, p) whose rows are not i.i.d.
samples, and answer bad input with neurocine's one-line ``InputError``
(argument, what was found, what was expected), not scikit-learn's wording.
ConvAutoencoder takes frames (T, H, W) and DNEM sequences of trials: their
tags say so (``input_tags.two_d_array=False``), scikit-learn runs none of its
data checks on them, and the checks that need no data run here directly.
"""

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from sklearn.base import clone, is_regressor
from sklearn.exceptions import NotFittedError
from sklearn.utils import estimator_checks as ec
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurocine.encode.autoencoder import ConvAutoencoder
from neurocine.encode.sequence import SequenceClassifier, SequenceRegressor
from neurocine.v1.dnem import DNEM

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py

SEQ = dict(hidden=(4,), dense=None, sequence_length=2, batch_size=4, steps_per_epoch=2, max_epochs=2, device="cpu")
SMALL = [
    SequenceRegressor(**SEQ, random_state=0),
    SequenceClassifier(**SEQ, random_state=0),
    ConvAutoencoder(filters=(2,), batch_size=4, max_epochs=1, random_state=0, device="cpu"),
    DNEM(core_channels=4, n_blocks=1, temporal_kernel=2, downsample=2, epochs=1, clip_length=6, device="cpu"),
]

WORDING = "bad input raises neurocine's one-line InputError (argument, found, expected), not scikit-learn's wording"
NOT_IID = "rows are time steps of one sequence: a recurrent prediction depends on the rows before it"
BINARY = "binary events, labels 0/1 only (one column per independent label); other labels raise InputError"
SEQUENCE_CHECKS = {
    "check_methods_sample_order_invariance": NOT_IID,
    "check_methods_subset_invariance": NOT_IID,
    "check_complex_data": WORDING,
    "check_dtype_object": WORDING + " (object arrays are refused, not converted)",
    "check_estimators_empty_data_messages": WORDING,
    "check_estimator_sparse_tag": "sparse input is refused with " + WORDING,
    "check_estimator_sparse_array": "sparse input is refused with " + WORDING,
    "check_estimator_sparse_matrix": "sparse input is refused with " + WORDING,
    "check_fit2d_1sample": WORDING,
    "check_fit2d_predict1d": WORDING,
    "check_requires_y_none": WORDING,
    "check_n_features_in_after_fitting": WORDING + " (the column count is checked)",
    "check_supervised_y_2d": "targets (T, q) are multi-output by design: a column vector is not warned about",
}
EXPECTED_FAILURES = {
    "SequenceRegressor": {**SEQUENCE_CHECKS, "check_regressors_train": NOT_IID},
    "SequenceClassifier": {
        **SEQUENCE_CHECKS,
        "check_classifiers_train": NOT_IID,
        "check_estimators_dtypes": BINARY,
        "check_classifier_data_not_an_array": BINARY,
        "check_classifiers_classes": BINARY,
        "check_classifiers_one_label": BINARY + " (one label: classes_ is still [0, 1])",
        "check_classifiers_regression_target": BINARY,
        "check_classifier_not_supporting_multiclass": BINARY,
        "check_fit2d_1feature": BINARY,
    },
}


@parametrize_with_checks(SMALL, expected_failed_checks=lambda est: EXPECTED_FAILURES.get(type(est).__name__, {}))
def test_torch_estimator_passes_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(estimator)


DATA_FREE_CHECKS = [
    ec.check_estimator_cloneable,
    ec.check_estimator_tags_renamed,
    ec.check_valid_tag_types,
    ec.check_estimator_repr,
    ec.check_no_attributes_set_in_init,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_mixin_order,
    ec.check_parameters_default_constructible,
    ec.check_get_params_invariance,
    ec.check_set_params,
]


@pytest.mark.parametrize("estimator", SMALL[2:], ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
def test_torch_frames_and_trials_estimators_pass_the_checks_that_need_no_data(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check(type(estimator).__name__, estimator)


@pytest.mark.parametrize("estimator", SMALL, ids=lambda e: type(e).__name__)
def test_torch_print_clone_and_not_fitted(estimator):
    text = repr(estimator)
    assert text.startswith(type(estimator).__name__ + "(") and "device='cpu'" in text
    print(estimator)
    copy = clone(estimator)
    assert copy is not estimator and copy.get_params() == estimator.get_params()
    method = "transform" if isinstance(estimator, ConvAutoencoder) else "predict"
    with pytest.raises(NotFittedError, match="not fitted yet"):
        getattr(copy, method)(np.zeros((8, 4, 4)) if method == "transform" else np.zeros((8, 3)))


def trials(n, rng):
    return [
        SimpleNamespace(
            video=rng.uniform(0, 255, (12, 8, 8)).astype(np.float32),
            responses=rng.poisson(1.0, (12, 3)).astype(np.float32),
            behavior=rng.normal(size=(12, 2)),
            pupil_center=rng.normal(size=(12, 2)),
        )
        for _ in range(n)
    ]


def test_torch_frames_and_trials_estimators_fit_return_self_score_one_float_and_keep_params():
    rng = np.random.default_rng(0)
    frames = rng.uniform(0, 1, (20, 8, 8))
    data = trials(3, rng)
    for estimator, args, score_args in (
        (SMALL[2], (frames,), (frames,)),
        (SMALL[3], (data[:2], data[2:]), (data, 2)),
    ):
        est = clone(estimator)
        params = est.get_params()
        assert est.fit(*args) is est
        assert est.get_params() == params  # fit validates, it does not rewrite hyper-parameters
        assert isinstance(est.score(*score_args), float)
    assert is_regressor(SMALL[3])
    assert [p.shape for p in est.predict(data)] == [(12, 3)] * 3
