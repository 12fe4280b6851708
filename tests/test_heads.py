"""The numeric head under the embedding coder follows the scikit-learn estimator contract."""

from __future__ import annotations

import numpy as np
from sklearn.utils.estimator_checks import parametrize_with_checks

from pipeline.classify.heads import CalibratedLinearHead


@parametrize_with_checks([CalibratedLinearHead()])
def test_sklearn_estimator_contract(estimator, check):
    check(estimator)


def test_calibration_softens_an_overconfident_head():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    X = np.vstack([c + rng.normal(scale=2.5, size=(40, 16)) for c in centres])
    y = np.repeat(["a", "b", "c"], 40)
    head = CalibratedLinearHead(C=100.0).fit(X, y)
    assert head.temperature_ > 1.0  # weakly regularised LR is overconfident on noisy classes
    proba = head.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0) and list(head.classes_) == ["a", "b", "c"]


def test_too_few_examples_leave_the_plain_regression():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.1, 0.9], [0.9, 0.2]])
    head = CalibratedLinearHead().fit(X, ["x", "y", "x", "y"])
    assert head.temperature_ == 1.0
