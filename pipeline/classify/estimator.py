"""The scikit-learn estimator contract for a classifier, without importing scikit-learn.

Importing ``sklearn.base`` takes ~0.8 s on a 2-core laptop (it pulls in
scipy.stats).  A lexicon run imports the lexicon coder in every process and
needs none of scikit-learn, so :class:`ClassifierContract` gives the coder
what ``BaseEstimator`` and ``ClassifierMixin`` would: ``get_params`` and
``set_params`` from ``__init__``'s parameters (so ``sklearn.base.clone``
works), ``score`` (accuracy) and the classifier tags, built only when
scikit-learn asks for them (by then it is imported).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import numpy as np


class ClassifierContract:
    """Mixin: the parts of scikit-learn's classifier contract that need no scikit-learn.

    A subclass keeps each ``__init__`` parameter in an attribute of the same
    name, as scikit-learn requires of every estimator.
    """

    _estimator_type = "classifier"

    @classmethod
    def _defaults(cls) -> dict[str, Any]:
        """The constructor's parameters and their defaults (``inspect.Parameter.empty`` where none)."""
        parameters = inspect.signature(cls.__init__).parameters.values()
        return {p.name: p.default for p in parameters if p.name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD}

    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's parameter names, sorted (as ``BaseEstimator`` gives them)."""
        return sorted(cls._defaults())

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor's parameters as set now (``deep``: for the contract; no parameter nests)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> ClassifierContract:
        """Set constructor parameters by name; an unknown name is a ``ValueError``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter '{name}' for {type(self).__name__}; valid: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def score(self, X: Sequence[Any], y: Sequence[Any], sample_weight: Sequence[float] | None = None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``)."""
        hits = np.asarray(self.predict(X), dtype=object) == np.asarray(y, dtype=object)  # type: ignore[attr-defined]
        return float(np.average(hits.astype(float), weights=sample_weight))

    def __sklearn_tags__(self) -> Any:
        """scikit-learn's tags of a classifier (asked only by scikit-learn, so importing it here costs nothing)."""
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True), transformer_tags=None,
                    regressor_tags=None, classifier_tags=ClassifierTags())

    def __repr__(self) -> str:
        """The class and the parameters that differ from their defaults (a codebook by its id and version)."""
        defaults = self._defaults()
        shown = [f"{name}={_short(value)}" for name, value in self.get_params().items()
                 if not _same(value, defaults[name])]
        return f"{type(self).__name__}({', '.join(shown)})"


def _same(value: Any, default: Any) -> bool:
    """Whether a parameter still has its default (compared by identity, or by value for plain scalars)."""
    return value is default or (type(value) is type(default) and isinstance(value, (int, float, str)) and value == default)


def _short(value: Any) -> str:
    """A parameter for :meth:`ClassifierContract.__repr__`: a codebook as ``<id version>``, else its repr."""
    if hasattr(value, "id") and hasattr(value, "version"):
        return f"<{value.id} {value.version}>"
    return repr(value)
