"""In-memory reference of the block-fold nested ridge: RidgeCV with the other outer folds as inner folds."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import PredefinedSplit

from neurocine.models.ridge import RidgeCV, explained_variance


def nested_block_ridge(X, Y, edges, alphas, split=None) -> dict:
    """Outer folds ``edges``; each fold's penalty by RidgeCV over the other outer folds; refit over all folds.

    Returns ``ev`` (q,), ``coef`` (p, q), ``intercept``, ``alpha``, ``fold_coef`` (k, p, q) and, with
    ``split``, ``test_ev``: fitted on the rows before ``split`` (inner folds: the folds there).
    """
    T = X.shape[0]
    label = np.searchsorted(edges, np.arange(T), side="right") - 1
    pred = np.empty(Y.shape)
    coefs = []
    for j in range(len(edges) - 1):
        tr = label != j
        model = RidgeCV(alphas=alphas, cv=PredefinedSplit(label[tr])).fit(X[tr], Y[tr])
        pred[~tr] = model.predict(X[~tr])
        coefs.append(model.coef_)
    full = RidgeCV(alphas=alphas, cv=PredefinedSplit(label)).fit(X, Y)
    out = {"ev": explained_variance(Y, pred), "coef": full.coef_, "intercept": full.intercept_, "alpha": full.alpha_}
    out["fold_coef"] = np.stack(coefs)
    if split is not None:
        pre = np.arange(split)
        model = RidgeCV(alphas=alphas, cv=PredefinedSplit(label[pre])).fit(X[pre], Y[pre])
        out["test_ev"] = explained_variance(Y[split:], model.predict(X[split:]))
    return out
