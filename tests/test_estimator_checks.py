"""scikit-learn's estimator checks on every public estimator, with the checks that cannot apply listed and why.

Each case is ``(estimator, expected_failed_checks)``: the estimator with small, fast parameters and a
dict ``check name -> reason`` of the checks it is expected to fail. Add an estimator by appending a case.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.utils.estimator_checks import parametrize_with_checks

from neurocine.features.fmri import VariancePCA
from neurocine.models.ridge import BandedRidgeCV, RidgeCV
from neurocine.motifs.convnmf import ConvNMF

# neurocine.validation raises InputError (a ValueError) in one line that starts with the argument's name
# ("X: has 1 time step (shape (1, 10)); expected ..."); these checks look for scikit-learn's own wording.
NEUROCINE_MESSAGES = {
    "check_complex_data": "complex X raises InputError 'X: has complex dtype ...', not 'Complex data not supported'",
    "check_dtype_object": "object arrays are refused with InputError ('X: has ... dtype object'), not converted",
    "check_estimators_empty_data_messages": "X without columns raises InputError 'X: has 0 columns ...', "
    "not scikit-learn's '0 feature(s) (shape=(n, 0)) while a minimum of 1 is required'",
    "check_estimator_sparse_tag": "sparse X is refused with InputError as a non-numeric array; the message does "
    "not say 'sparse'",
    "check_estimator_sparse_array": "sparse X is refused with InputError as a non-numeric array; the message does "
    "not say 'sparse'",
    "check_estimator_sparse_matrix": "sparse X is refused with InputError as a non-numeric array; the message does "
    "not say 'sparse'",
    "check_fit2d_predict1d": "1-D X raises InputError with a reshape(-1, 1) hint, not the words 'Reshape your data'",
    "check_n_features_in_after_fitting": "a wrong number of columns raises InputError 'X: has 3 columns; expected "
    "4 ...', not 'X has 3 features, but ... is expecting 4 features as input'",
}
ONE_TIME_STEP = {
    "check_fit2d_1sample": "one row raises InputError 'X: has 1 time step ...; expected at least 2 rows', not "
    "scikit-learn's '1 sample' wording",
}
RIDGE = {
    **NEUROCINE_MESSAGES,
    **ONE_TIME_STEP,
    "check_requires_y_none": "y=None raises InputError 'Y: has non-numeric dtype object ...', not "
    "'requires y to be passed'",
}
TIME_SERIES = {
    "check_methods_sample_order_invariance": "X is a time series: templates span `width` consecutive samples, so "
    "the amplitudes of a sample depend on its neighbours and change when the rows are permuted",
    "check_methods_subset_invariance": "X is a time series: one time step is shorter than a template, so rows "
    "cannot be transformed one at a time",
}

CASES = [
    (RidgeCV(alphas=[0.1, 1.0, 10.0], cv=3), RIDGE),
    (BandedRidgeCV(n_candidates=0, alphas=[0.1, 1.0, 10.0], cv=3), RIDGE),
    (VariancePCA(0.9), NEUROCINE_MESSAGES),
    (
        ConvNMF(n_components=2, width=3, n_init=1, max_iter=5, random_state=0, device="cpu"),
        {**NEUROCINE_MESSAGES, **ONE_TIME_STEP, **TIME_SERIES},
    ),
]
_EXPECTED = {id(estimator): failed for estimator, failed in CASES}


@parametrize_with_checks([estimator for estimator, _ in CASES], expected_failed_checks=lambda e: _EXPECTED[id(e)])
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", [e for e, _ in CASES], ids=lambda e: type(e).__name__)
def test_print_and_clone(estimator):
    cls = type(estimator)
    assert repr(cls()) == f"{cls.__name__}()"  # every default prints as the default
    text = repr(estimator)
    assert text.startswith(f"{cls.__name__}(") and "\n" not in str(cls())
    copy = clone(estimator)
    assert copy is not estimator and type(copy) is cls
    for name, value in estimator.get_params().items():
        np.testing.assert_equal(copy.get_params()[name], value)


def test_every_expected_failure_names_a_check_it_runs_with_a_reason():
    from sklearn.utils.estimator_checks import estimator_checks_generator

    for estimator, failed in CASES:
        runs = {
            getattr(check, "func", check).__name__ for _, check in estimator_checks_generator(estimator, mark="skip")
        }
        assert set(failed) <= runs, f"{type(estimator).__name__}: {set(failed) - runs} are not checks it runs"
        assert all(len(reason) > 30 for reason in failed.values())
