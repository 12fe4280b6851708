"""The embedding coder: sentence vectors, code prototypes, and a trained logistic-regression head.

    >>> coder = EmbeddingCoder(load_codebook("perry6"))          # zero-shot, before any training
    >>> coder.predict(["Rapat koordinasi antar instansi digelar tiap bulan."])
    array(['koordinasi'], dtype=object)
    >>> coder.fit(texts, labels, valences)                         # supervised head

How a text is scored:

1. The text is embedded by :class:`~pipeline.classify.encoder.Encoder`
   (unit vectors, so a dot product is a cosine).
2. **Zero-shot** (not fitted): each code has a *prototype*, the normalised
   mean of the embeddings of its definition, indicators and examples.  The
   cosines to the prototypes are turned into probabilities by a softmax with
   a small temperature.  Because e5 cosines crowd into 0.84-0.87 whatever the
   pair, the decision is *relative*: a text is coded when its best prototype
   beats the mean of all prototypes by ``zero_shot_margin``, else ``uncoded``.
3. **Supervised** (after ``fit``): a multinomial logistic regression
   (``class_weight="balanced"``) on the embeddings.  Its logits are divided
   by a temperature learned on out-of-fold predictions (temperature scaling:
   one number, so the calibration stays a plain JSON value, unlike
   ``CalibratedClassifierCV``'s fitted objects); with fewer than three
   texts for some code there is nothing to calibrate on and the plain LR
   probabilities are used.  A text whose best
   probability is below ``threshold_`` is ``uncoded``; ``threshold_`` is
   tuned for macro-F1 on the out-of-fold predictions when the training data
   contain ``uncoded`` examples, else it is the ``min_confidence`` parameter.
4. Evidence: the probability of every code and the ``n_neighbours`` most
   similar training texts (text, code, similarity).
5. An optional valence head (logistic regression on the embeddings of the
   texts that carry a valence) gives ``predict_valence``; the ensemble decides
   whether to use it (see :mod:`pipeline.classify.ensemble`).

All learned state ends in ``_`` (scikit-learn's contract) and is plain numpy
arrays and numbers, which is what :mod:`pipeline.persist` writes.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

from pipeline.classify.base import Prediction
from pipeline.codebook import Code, Codebook
from pipeline.schema import UNCODED

ZERO_SHOT_TEMPERATURE = 0.01  # cosines differ by hundredths; this spreads them into usable probabilities
TEMPERATURES = np.geomspace(0.2, 5.0, 41)  # candidates for temperature scaling
MAX_CALIBRATION_FOLDS = 5
MIN_CALIBRATION_FOLDS = 3  # every code needs this many texts before calibration is attempted


@lru_cache(maxsize=1)
def default_encoder() -> Any:
    """The shared default encoder (multilingual-e5-small), loaded once per process."""
    from pipeline.classify.encoder import Encoder

    return Encoder.load(None)


def prototype_texts(code: Code) -> list[str]:
    """What a code's zero-shot prototype is made of: definition, indicators, examples."""
    texts = [f"{code.name}: {code.definition}", *code.indicators, *(example.text for example in code.examples)]
    return [text for text in texts if text.strip()]


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1.0, norms)


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


class EmbeddingCoder(ClassifierMixin, BaseEstimator):
    """Code texts by their sentence embeddings (scikit-learn estimator on texts).

    Parameters
    ----------
    codebook : Codebook
        The codebook to code against.
    encoder : Encoder or None
        The sentence encoder; ``None`` is the default offline e5-small.
    C : float
        Inverse regularisation strength of the logistic-regression heads.
    min_confidence : float
        The abstention threshold used when the training data have no
        ``uncoded`` examples to tune one on.
    zero_shot_margin : float
        Zero-shot only: how far the best prototype's cosine must exceed the
        mean cosine over all prototypes for the text to be coded.
    n_neighbours : int
        How many nearest training texts the evidence lists.
    random_state : int
        Seed of the cross-validation folds (results are deterministic).
    """

    def __init__(
        self,
        codebook: Codebook,
        encoder: Any = None,
        C: float = 4.0,
        min_confidence: float = 0.4,
        zero_shot_margin: float = 0.004,
        n_neighbours: int = 3,
        random_state: int = 0,
    ) -> None:
        self.codebook = codebook
        self.encoder = encoder
        self.C = C
        self.min_confidence = min_confidence
        self.zero_shot_margin = zero_shot_margin
        self.n_neighbours = n_neighbours
        self.random_state = random_state

    # ------------------------------------------------------------------ identity

    @property
    def model_id(self) -> str:
        """``embedding:<codebook>@<hash>`` plus ``/<name>`` once saved or loaded."""
        name = getattr(self, "name_", "")
        base = f"embedding:{self.codebook.id}@{self.codebook.content_hash}"
        return f"{base}/{name}" if name else base

    @property
    def classes_(self) -> np.ndarray:
        """The codebook's code ids, then ``uncoded``."""
        return np.array([*self.codebook.code_ids, UNCODED], dtype=object)

    @property
    def is_supervised(self) -> bool:
        """Whether a trained head is present (else the coder is zero-shot)."""
        return hasattr(self, "coef_")

    def get_encoder(self) -> Any:
        """The encoder in use (the default one when ``encoder`` is None)."""
        return self.encoder if self.encoder is not None else default_encoder()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors of ``texts`` (cached on disk by the encoder)."""
        return self.get_encoder().encode(_as_texts(texts))

    # ------------------------------------------------------------------ fitting

    def prototypes(self) -> np.ndarray:
        """The zero-shot prototypes, one unit row per code (computed once, then kept in ``prototypes_``)."""
        if not hasattr(self, "prototypes_"):
            rows = [self.embed(prototype_texts(code)).mean(axis=0) for code in self.codebook.codes]
            self.prototypes_ = unit_rows(np.vstack(rows)).astype(np.float32)
        return self.prototypes_

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], valences: Sequence[str | None] | None = None
    ) -> EmbeddingCoder:
        """Train the code head (and the valence head when ``valences`` has enough labels).

        ``labels`` are code ids or ``uncoded``; ``valences`` may hold ``None``
        for texts without a valence label.
        """
        texts = _as_texts(texts)
        labels = [str(label) for label in labels]
        if len(labels) != len(texts):
            raise ValueError(f"fit: {len(texts)} texts but {len(labels)} labels")
        unknown = sorted(set(labels) - set(self.classes_))
        if unknown:
            raise ValueError(f"fit: label '{unknown[0]}' is not a code of '{self.codebook.id}' nor '{UNCODED}'")
        if len(set(labels)) < 2:
            raise ValueError(f"fit: need at least two different labels, got only {sorted(set(labels))}")
        embeddings = self.embed(texts)
        self.prototypes()
        self._fit_code_head(embeddings, np.array(labels, dtype=object))
        self._fit_valence_head(embeddings, valences)
        self.train_embeddings_ = embeddings.astype(np.float16)
        self.train_texts_ = list(texts)
        self.train_labels_ = list(labels)
        return self

    def _new_head(self) -> LogisticRegression:
        return LogisticRegression(C=self.C, class_weight="balanced", max_iter=2000, random_state=self.random_state)

    def _fit_code_head(self, embeddings: np.ndarray, labels: np.ndarray) -> None:
        """Logistic regression, temperature and threshold from out-of-fold logits."""
        head = self._new_head().fit(embeddings, labels)
        self.head_classes_ = np.array([str(c) for c in head.classes_], dtype=object)
        self.coef_ = head.coef_.astype(np.float64)
        self.intercept_ = head.intercept_.astype(np.float64)
        if len(self.head_classes_) == 2:  # sklearn stores one row for two classes; make it two logits
            self.coef_ = np.vstack([-self.coef_ / 2, self.coef_ / 2])
            self.intercept_ = np.array([-self.intercept_[0] / 2, self.intercept_[0] / 2])
        self.temperature_, self.threshold_ = 1.0, float(self.min_confidence)
        folds = min(MAX_CALIBRATION_FOLDS, int(min(np.unique(labels, return_counts=True)[1])))
        if folds < MIN_CALIBRATION_FOLDS:  # too few texts per code to calibrate: plain LR probabilities
            return
        logits = np.zeros((len(labels), len(self.head_classes_)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for train, test in splitter.split(embeddings, labels):
            fold_head = self._new_head().fit(embeddings[train], labels[train])
            columns = [list(self.head_classes_).index(str(c)) for c in fold_head.classes_]
            fold_logits = np.full((len(test), len(self.head_classes_)), -1e3)
            raw = fold_head.decision_function(embeddings[test])
            if raw.ndim == 1:
                raw = np.column_stack([-raw / 2, raw / 2])
            fold_logits[:, columns] = raw
            logits[test] = fold_logits
        targets = np.array([list(self.head_classes_).index(label) for label in labels])
        self.temperature_ = best_temperature(logits, targets)
        if UNCODED in set(labels):
            self.threshold_ = self._tune_threshold(softmax(logits / self.temperature_), labels)

    def _tune_threshold(self, proba: np.ndarray, labels: np.ndarray) -> float:
        """The abstention threshold that maximises macro-F1 on out-of-fold probabilities."""
        best, best_f1 = float(self.min_confidence), -1.0
        for candidate in np.round(np.linspace(0.0, 0.9, 19), 2):
            predicted = _decide(proba, self.head_classes_, float(candidate))
            f1 = f1_score(labels, predicted, average="macro", zero_division=0)
            if f1 > best_f1 + 1e-9:
                best, best_f1 = float(candidate), f1
        return best

    def _fit_valence_head(self, embeddings: np.ndarray, valences: Sequence[str | None] | None) -> None:
        """A valence LR on the texts that have a valence, when at least two valences occur twice."""
        for name in ("valence_classes_", "valence_coef_", "valence_intercept_"):
            if hasattr(self, name):
                delattr(self, name)
        if valences is None:
            return
        keep = np.array([bool(v) for v in valences])
        values = np.array([v for v in valences if v], dtype=object)
        counts = np.unique(values, return_counts=True)[1] if len(values) else np.array([])
        if (counts >= 2).sum() < 2:
            return
        head = self._new_head().fit(embeddings[keep], values)
        self.valence_classes_ = np.array([str(c) for c in head.classes_], dtype=object)
        coef, intercept = head.coef_, head.intercept_
        if len(self.valence_classes_) == 2:
            coef, intercept = np.vstack([-coef / 2, coef / 2]), np.array([-intercept[0] / 2, intercept[0] / 2])
        self.valence_coef_, self.valence_intercept_ = coef.astype(np.float64), intercept.astype(np.float64)

    # ------------------------------------------------------------------ scoring

    def proba_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Probabilities over ``classes_`` (codes, then uncoded) before abstention."""
        columns = list(self.classes_)
        out = np.zeros((len(embeddings), len(columns)))
        if self.is_supervised:
            proba = softmax((embeddings @ self.coef_.T + self.intercept_) / self.temperature_)
            for j, code in enumerate(self.head_classes_):
                out[:, columns.index(code)] = proba[:, j]
        else:
            out[:, :-1] = softmax(embeddings @ self.prototypes().T / ZERO_SHOT_TEMPERATURE)
        return out

    def decide(self, embeddings: np.ndarray, proba: np.ndarray) -> list[str]:
        """Code or ``uncoded`` per row, by the threshold (trained) or the relative margin (zero-shot)."""
        if self.is_supervised:
            return _decide(proba, self.classes_, self.threshold_)
        sims = embeddings @ self.prototypes().T
        margins = sims.max(axis=1) - sims.mean(axis=1)
        codes = np.array(self.codebook.code_ids, dtype=object)[sims.argmax(axis=1)]
        return [str(code) if margin >= self.zero_shot_margin else UNCODED for code, margin in zip(codes, margins)]

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Probabilities over ``classes_`` (``uncoded`` last, 0 unless trained on uncoded texts)."""
        return self.proba_from_embeddings(self.embed(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Code id (or ``uncoded``) per text."""
        embeddings = self.embed(texts)
        return np.array(self.decide(embeddings, self.proba_from_embeddings(embeddings)), dtype=object)

    def valence_proba(self, embeddings: np.ndarray) -> np.ndarray | None:
        """Valence probabilities (columns ``valence_classes_``), or None without a valence head."""
        if not hasattr(self, "valence_coef_"):
            return None
        return softmax(embeddings @ self.valence_coef_.T + self.valence_intercept_)

    def predict_valence(self, texts: Sequence[str]) -> np.ndarray:
        """Valence per text from the valence head (``neutral`` everywhere without one)."""
        texts = _as_texts(texts)
        proba = self.valence_proba(self.embed(texts))
        if proba is None:
            return np.array(["neutral"] * len(texts), dtype=object)
        return self.valence_classes_[proba.argmax(axis=1)]

    def neighbours(self, embeddings: np.ndarray) -> list[list[dict[str, Any]]]:
        """The ``n_neighbours`` most similar training texts per row (prototype texts when zero-shot)."""
        if self.is_supervised:
            bank = self.train_embeddings_.astype(np.float32)
            texts, codes = self.train_texts_, self.train_labels_
        else:
            return [[] for _ in range(len(embeddings))]
        sims = embeddings @ bank.T
        k = min(self.n_neighbours, bank.shape[0])
        result = []
        for row in sims:
            top = np.argsort(-row, kind="stable")[:k]
            result.append([{"text": texts[i], "code": codes[i], "similarity": round(float(row[i]), 4)} for i in top])
        return result

    # ------------------------------------------------------------------ evidence

    def explain(self, texts: Sequence[str]) -> list[Prediction]:
        """Code, confidence, valence and evidence (scores, nearest training texts) per text."""
        from pipeline.classify.valence import valence_of

        texts = _as_texts(texts)
        embeddings = self.embed(texts)
        proba = self.proba_from_embeddings(embeddings)
        codes = self.decide(embeddings, proba)
        near = self.neighbours(embeddings)
        predictions = []
        for text, code, row, neighbours in zip(texts, codes, proba, near):
            scores = {c: round(float(p), 4) for c, p in zip(self.codebook.code_ids, row[:-1])}
            best = max(scores, key=scores.__getitem__) if scores else UNCODED
            confidence = float(row[:-1].max()) if code != UNCODED else 1.0 - float(row[:-1].max())
            valence, _, cues = valence_of(text) if code != UNCODED else ("neutral", 0.0, [])
            reason = self._reason(code, best, scores[best] if scores else 0.0)
            predictions.append(Prediction(code, confidence, valence, scores, [], neighbours, cues, reason))
        return predictions

    def _reason(self, code: str, best: str, best_score: float) -> str:
        mode = "trained head" if self.is_supervised else "zero-shot prototypes"
        if code == UNCODED:
            rule = f"threshold {self.threshold_:.2f}" if self.is_supervised else "the relative margin"
            return f"uncoded ({mode}): best code {best} ({best_score:.2f}) falls short of {rule}"
        return f"{code} ({best_score:.2f}) by {mode}"


def _decide(proba: np.ndarray, classes: np.ndarray, threshold: float) -> list[str]:
    """Arg-max class per row, ``uncoded`` when that class's probability is below ``threshold``."""
    best = proba.argmax(axis=1)
    return [
        UNCODED if proba[i, j] < threshold else str(classes[j]) for i, j in enumerate(best)
    ]


def _as_texts(texts: Sequence[str] | str) -> list[str]:
    """A list of strings; a single string is refused (it would be read letter by letter)."""
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got one string; wrap it in a list")
    return ["" if text is None else str(text) for text in texts]
