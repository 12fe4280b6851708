"""Numeric heads on embeddings: a class-balanced logistic regression with temperature scaling.

    >>> head = CalibratedLinearHead(C=4.0).fit(embeddings, labels)
    >>> head.predict_proba(embeddings)   # calibrated probabilities, columns ``classes_``

A plain scikit-learn classifier on numeric arrays (it passes
``sklearn.utils.estimator_checks.parametrize_with_checks``).  Temperature
scaling learns one number on out-of-fold logits, so the fitted state stays
plain arrays (``coef_``, ``intercept_``) and one float (``temperature_``)
that :mod:`pipeline.persist` writes as JSON/NPZ, never a pickled object.
The embedding coder's code and valence heads are built from these pieces.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

TEMPERATURES = np.geomspace(0.2, 5.0, 41)  # candidates for temperature scaling
MAX_CALIBRATION_FOLDS = 5
MIN_CALIBRATION_FOLDS = 3  # every class needs this many examples before calibration is attempted


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, numerically stable."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


def best_temperature(logits: np.ndarray, targets: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``targets`` (column indices)."""
    best, best_nll = 1.0, np.inf
    for temperature in TEMPERATURES:
        proba = softmax(logits / temperature)
        nll = -np.mean(np.log(np.clip(proba[np.arange(len(targets)), targets], 1e-12, None)))
        if nll < best_nll - 1e-12:
            best, best_nll = float(temperature), nll
    return best


def two_logit_rows(coef: np.ndarray, intercept: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A fitted LR's weights as one row per class (sklearn keeps a single row for two classes)."""
    coef, intercept = np.asarray(coef, dtype=np.float64), np.asarray(intercept, dtype=np.float64)
    if coef.shape[0] == 1:
        return np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
    return coef, intercept


def balanced_regression(C: float, random_state: int) -> LogisticRegression:
    """The logistic regression every head uses: class-balanced, deterministic."""
    return LogisticRegression(C=C, class_weight="balanced", max_iter=2000, random_state=random_state)


def calibration_folds(labels: np.ndarray) -> int:
    """How many stratified folds the rarest label allows (0 when too rare to calibrate)."""
    folds = min(MAX_CALIBRATION_FOLDS, int(np.unique(labels, return_counts=True)[1].min()))
    return folds if folds >= MIN_CALIBRATION_FOLDS else 0


class CalibratedLinearHead(ClassifierMixin, BaseEstimator):
    """Class-balanced logistic regression whose logits are divided by a learned temperature.

    Parameters
    ----------
    C : float
        Inverse regularisation strength.
    random_state : int
        Seed of the calibration folds (results are deterministic).
    """

    def __init__(self, C: float = 4.0, random_state: int = 0) -> None:
        self.C = C
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> CalibratedLinearHead:
        """Fit the regression, then the temperature on out-of-fold logits (1.0 if a class is too rare)."""
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        self.classes_ = np.unique(y)
        regression = balanced_regression(self.C, self.random_state).fit(X, y)
        self.coef_, self.intercept_ = two_logit_rows(regression.coef_, regression.intercept_)
        self.temperature_ = 1.0
        folds = calibration_folds(y) if len(self.classes_) > 1 else 0
        if folds:
            logits = self._out_of_fold_logits(X, y, folds)
            targets = np.searchsorted(self.classes_, y)
            self.temperature_ = best_temperature(logits, targets)
        return self

    def _out_of_fold_logits(self, X: np.ndarray, y: np.ndarray, folds: int) -> np.ndarray:
        """Logits (columns ``classes_``) of every row from a regression that did not see it."""
        logits = np.zeros((len(y), len(self.classes_)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for train, test in splitter.split(X, y):
            fold = balanced_regression(self.C, self.random_state).fit(X[train], y[train])
            coef, intercept = two_logit_rows(fold.coef_, fold.intercept_)
            logits[test] = X[test] @ coef.T + intercept
        return logits

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        """Temperature-scaled logits, one column per class (one signed column for two classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        logits = (X @ self.coef_.T + self.intercept_) / self.temperature_
        return logits[:, 1] - logits[:, 0] if len(self.classes_) == 2 else logits

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Calibrated probabilities, columns ``classes_``."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return softmax((X @ self.coef_.T + self.intercept_) / self.temperature_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """The most probable class per row."""
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]
