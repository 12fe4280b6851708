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
   texts for some label there is nothing to calibrate on and the plain LR
   probabilities are used.  A text whose best
   probability is below ``threshold_`` is ``uncoded``; ``threshold_`` is
   tuned for macro-F1 on the out-of-fold predictions when the training data
   contain ``uncoded`` examples, else it is the ``min_confidence`` parameter.
   ``uncoded`` training texts are used in one of three ways (``abstention``):

   - ``class``: ``uncoded`` is one more class of the regression;
   - ``threshold``: the regression sees the coded texts alone, and the
     ``uncoded`` texts only tune ``threshold_``;
   - ``gate``: the regression sees the coded texts alone, and one more row,
     the *gate*, is fitted for ``uncoded`` against everything that is coded:
     this codebook's coded texts and ``coded_elsewhere`` (texts coded in
     other codebooks).  Whether a text is talk or findings does not depend
     on the codebook, so the gate learns it from every codebook's data; its
     row is fitted with the code rows fixed (an offset), so the model stays
     one softmax: ``p(uncoded) = sigmoid(gate(x) - logsumexp(code logits))``.

   :mod:`pipeline.train` measures the three by cross-validation and keeps
   the best.

   With ``neighbour_vote`` > 0 the nearest training texts vote too: the
   :data:`VOTE_NEIGHBOURS` most similar ones, ``uncoded`` texts included,
   each weighted by ``exp(cosine / VOTE_TEMPERATURE)`` relative to the
   nearest, give a distribution over the labels that is averaged with the
   head's, ``neighbour_vote`` on the vote's side.  With few training texts
   per code a close paraphrase says more than a linear boundary; training
   keeps the vote only where cross-validation says it helps.  (Letting
   only coded texts vote, on the codes' share alone, cross-validated worse.)
4. Evidence: the probability of every code and the ``n_neighbours`` most
   similar training texts (text, code, similarity).
5. An optional valence head (:class:`~pipeline.classify.heads.CalibratedLinearHead`
   on the embeddings of the texts that carry a valence, this codebook's and
   other codebooks' alike: whether a statement reports success or a barrier
   does not depend on the codebook) gives ``predict_valence``; the ensemble
   decides whether to use it (see :mod:`pipeline.classify.ensemble`).

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
from pipeline.classify.heads import (
    CalibratedLinearHead,
    balanced_regression,
    best_temperature,
    calibration_folds,
    softmax,
    two_logit_rows,
)
from pipeline.codebook import Code, Codebook
from pipeline.schema import UNCODED

ZERO_SHOT_TEMPERATURE = 0.01  # cosines differ by hundredths; this spreads them into usable probabilities
VOTE_NEIGHBOURS = 7  # training texts that vote when ``neighbour_vote`` > 0
VOTE_TEMPERATURE = 0.02  # a voter 0.02 less similar than the nearest counts e^-1 times as much
ABSTENTIONS = ("class", "threshold", "gate")  # how uncoded training texts are used (see the module docstring)


#: Encoder backends whose vectors differ from the model's own float32 ones: named in every coding's model id.
LOSSY_BACKENDS = ("onnx-int8", "openvino-bf16")


def encoder_suffix(encoder: Any) -> str:
    """``+<backend>`` when ``encoder`` (None: the default one) runs a lossy copy of its network, else ``""``."""
    from pipeline.classify.encoder import backend_variant, default_backend

    try:
        backend = backend_variant(default_backend()) if encoder is None else getattr(encoder, "backend", "")
    except ValueError:  # a wrong $WOGCODE_ENCODER_BACKEND fails where the encoder loads, not here
        return ""
    return f"+{backend}" if backend in LOSSY_BACKENDS else ""


def default_encoder() -> Any:
    """The shared default encoder (multilingual-e5-small), loaded once per process and backend."""
    from pipeline.classify.encoder import default_backend

    return _default_encoder(default_backend())


@lru_cache(maxsize=1)
def _default_encoder(backend: str) -> Any:
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


class EmbeddingCoder(ClassifierMixin, BaseEstimator):
    """Code texts by their sentence embeddings (scikit-learn estimator on texts).

    Parameters
    ----------
    codebook : Codebook
        The codebook to code against.
    encoder : Encoder or None
        The sentence encoder; ``None`` is the default offline e5-small.
    C : float
        Inverse regularisation strength of the code heads.
    valence_C : float
        Inverse regularisation strength of the valence head (measured by
        cross-validation: valence needs a weaker prior than the codes).
    min_confidence : float
        The abstention threshold used when the training data have no
        ``uncoded`` examples to tune one on.
    zero_shot_margin : float
        Zero-shot only: how far the best prototype's cosine must exceed the
        mean cosine over all prototypes for the text to be coded.
    n_neighbours : int
        How many nearest training texts the evidence lists.
    neighbour_vote : float
        Weight (0-1) of the nearest training texts' vote against the trained
        head (see the module docstring); 0: the head alone.
    random_state : int
        Seed of the cross-validation folds (results are deterministic).
    abstention : str
        How ``uncoded`` training texts are used: ``class``, ``threshold`` or
        ``gate`` (see the module docstring).
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
        abstention: str = "class",
        valence_C: float = 30.0,
        neighbour_vote: float = 0.0,
    ) -> None:
        self.codebook = codebook
        self.encoder = encoder
        self.C = C
        self.min_confidence = min_confidence
        self.zero_shot_margin = zero_shot_margin
        self.n_neighbours = n_neighbours
        self.random_state = random_state
        self.abstention = abstention
        self.valence_C = valence_C
        self.neighbour_vote = neighbour_vote

    # ------------------------------------------------------------------ identity

    @property
    def model_id(self) -> str:
        """``embedding:<codebook>@<hash>`` plus ``/<name>`` once saved or loaded, plus ``+onnx-int8`` on that encoder."""
        name = getattr(self, "name_", "")
        base = f"embedding:{self.codebook.id}@{self.codebook.content_hash}"
        return (f"{base}/{name}" if name else base) + encoder_suffix(self.encoder)

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
        self,
        texts: Sequence[str],
        labels: Sequence[str],
        valences: Sequence[str | None] | None = None,
        coded_elsewhere: Sequence[str] = (),
        elsewhere_valences: Sequence[str | None] | None = None,
    ) -> EmbeddingCoder:
        """Train the code head (and the valence head when ``valences`` has enough labels).

        ``labels`` are code ids or ``uncoded``; ``valences`` may hold ``None``
        for texts without a valence label.  ``coded_elsewhere``: texts coded
        in other codebooks, which the ``gate`` uses (as not uncoded) and,
        with ``elsewhere_valences`` (parallel to them), the valence head.
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
        if self.abstention not in ABSTENTIONS:
            raise ValueError(f"fit: abstention must be one of {', '.join(ABSTENTIONS)}, not {self.abstention!r}")
        if self.abstention != "class" and len(set(labels) - {UNCODED}) < 2:
            raise ValueError(f"fit: abstention '{self.abstention}' needs texts of at least two codes besides '{UNCODED}'")
        if elsewhere_valences is not None and len(elsewhere_valences) != len(coded_elsewhere):
            raise ValueError(f"fit: {len(coded_elsewhere)} texts coded elsewhere but {len(elsewhere_valences)} valences")
        embeddings = self.embed(texts)
        elsewhere = self.embed(coded_elsewhere) if len(coded_elsewhere) else np.zeros((0, embeddings.shape[1]))
        self.prototypes()
        self._fit_code_head(embeddings, np.array(labels, dtype=object), elsewhere)
        own_valences = list(valences) if valences is not None else [None] * len(texts)
        other_valences = list(elsewhere_valences) if elsewhere_valences is not None else [None] * len(elsewhere)
        self._fit_valence_head(np.vstack([embeddings, elsewhere]), own_valences + other_valences)
        self.train_embeddings_ = embeddings.astype(np.float16)
        self.train_texts_ = list(texts)
        self.train_labels_ = list(labels)
        return self

    def _new_head(self) -> LogisticRegression:
        return balanced_regression(self.C, self.random_state)

    def _fit_code_head(self, embeddings: np.ndarray, labels: np.ndarray, elsewhere: np.ndarray) -> None:
        """Logistic regression (plus the gate row), temperature and threshold from out-of-fold predictions.

        ``in_head`` marks the texts the regression learns from: all of them
        (``class``), or only the coded ones (``threshold``, ``gate``).
        """
        in_head = labels != UNCODED if self.abstention != "class" else np.ones(len(labels), dtype=bool)
        gate = self.abstention == "gate" and UNCODED in set(labels)
        self.temperature_, self.threshold_ = 1.0, float(self.min_confidence)
        folds = calibration_folds(labels)
        calibrate = folds > 0  # else too few texts per label: plain LR probabilities
        if calibrate:
            classes = np.array(sorted({str(c) for c in labels[in_head]}), dtype=object)
            logits = self._out_of_fold_logits(embeddings, labels, in_head, folds, classes)
            targets = np.array([list(classes).index(label) for label in labels[in_head]])
            self.temperature_ = best_temperature(logits[in_head], targets)
        self.head_classes_, self.coef_, self.intercept_ = self._head_rows(embeddings, labels, in_head, elsewhere, gate)
        if calibrate and UNCODED in set(labels):
            proba = (
                self._out_of_fold_gate_proba(embeddings, labels, in_head, elsewhere, folds)
                if gate
                else softmax(logits / self.temperature_)
            )
            self.threshold_ = self._tune_threshold(proba, labels)

    def _head_rows(
        self, embeddings: np.ndarray, labels: np.ndarray, in_head: np.ndarray, elsewhere: np.ndarray, gate: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(classes, coef, intercept) of a head fitted on these texts: the regression, then the gate row."""
        head = self._new_head().fit(embeddings[in_head], labels[in_head])
        classes = np.array([str(c) for c in head.classes_], dtype=object)
        coef, intercept = two_logit_rows(head.coef_, head.intercept_)
        if not gate:
            return classes, coef, intercept
        features = np.vstack([embeddings, elsewhere])
        is_uncoded = np.concatenate([labels == UNCODED, np.zeros(len(elsewhere), dtype=bool)])
        code_logits = (features @ coef.T + intercept) / self.temperature_
        gate_coef, gate_intercept = fit_gate(features, is_uncoded, -_logsumexp(code_logits), self.C)
        # stored times the temperature, because proba_from_embeddings divides every row by it
        coef = np.vstack([coef, gate_coef * self.temperature_])
        intercept = np.append(intercept, gate_intercept * self.temperature_)
        return np.append(classes, UNCODED).astype(object), coef, intercept

    def _folds(self, embeddings: np.ndarray, labels: np.ndarray, folds: int) -> Any:
        return StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state).split(embeddings, labels)

    def _out_of_fold_logits(
        self, embeddings: np.ndarray, labels: np.ndarray, in_head: np.ndarray, folds: int, classes: np.ndarray
    ) -> np.ndarray:
        """Regression logits (columns ``classes``) of every text from a head that did not see it."""
        columns = list(classes)
        logits = np.zeros((len(labels), len(columns)))
        for train, test in self._folds(embeddings, labels, folds):
            train = train[in_head[train]]
            fold_head = self._new_head().fit(embeddings[train], labels[train])
            fold_logits = np.full((len(test), len(columns)), -1e3)  # a class missing from the fold: never chosen
            coef, intercept = two_logit_rows(fold_head.coef_, fold_head.intercept_)
            fold_logits[:, [columns.index(str(c)) for c in fold_head.classes_]] = embeddings[test] @ coef.T + intercept
            logits[test] = fold_logits
        return logits

    def _out_of_fold_gate_proba(
        self, embeddings: np.ndarray, labels: np.ndarray, in_head: np.ndarray, elsewhere: np.ndarray, folds: int
    ) -> np.ndarray:
        """Probabilities (columns ``head_classes_``) of every text from a head and gate that did not see it."""
        columns = list(self.head_classes_)
        proba = np.zeros((len(labels), len(columns)))
        for train, test in self._folds(embeddings, labels, folds):
            classes, coef, intercept = self._head_rows(embeddings[train], labels[train], in_head[train], elsewhere, True)
            fold_proba = softmax((embeddings[test] @ coef.T + intercept) / self.temperature_)
            proba[np.ix_(test, [columns.index(c) for c in classes])] = fold_proba
        return proba

    def _tune_threshold(self, proba: np.ndarray, labels: np.ndarray) -> float:
        """The abstention threshold that maximises macro-F1 on out-of-fold probabilities."""
        best, best_f1 = float(self.min_confidence), -1.0
        for candidate in np.round(np.linspace(0.0, 0.9, 19), 2):
            predicted = _decide(proba, self.head_classes_, float(candidate))
            f1 = f1_score(labels, predicted, average="macro", zero_division=0)
            if f1 > best_f1 + 1e-9:
                best, best_f1 = float(candidate), f1
        return best

    def _fit_valence_head(self, embeddings: np.ndarray, valences: Sequence[str | None]) -> None:
        """A valence LR on the texts that have a valence, when at least two valences occur twice."""
        for name in ("valence_classes_", "valence_coef_", "valence_intercept_"):
            if hasattr(self, name):
                delattr(self, name)
        keep = np.array([bool(v) for v in valences])
        values = np.array([v for v in valences if v], dtype=object)
        counts = np.unique(values, return_counts=True)[1] if len(values) else np.array([])
        if (counts >= 2).sum() < 2:
            return
        head = CalibratedLinearHead(self.valence_C, self.random_state).fit(embeddings[keep], values)
        self.valence_classes_ = np.array([str(c) for c in head.classes_], dtype=object)
        # the temperature folded into the weights, so a saved head stays two arrays
        self.valence_coef_, self.valence_intercept_ = head.coef_ / head.temperature_, head.intercept_ / head.temperature_

    # ------------------------------------------------------------------ scoring

    def proba_from_embeddings(self, embeddings: np.ndarray) -> np.ndarray:
        """Probabilities over ``classes_`` (codes, then uncoded) before abstention."""
        columns = list(self.classes_)
        out = np.zeros((len(embeddings), len(columns)))
        if self.is_supervised:
            proba = softmax((embeddings @ self.coef_.T + self.intercept_) / self.temperature_)
            for j, code in enumerate(self.head_classes_):
                out[:, columns.index(code)] = proba[:, j]
            if self.neighbour_vote > 0:
                out = with_vote(out, self.vote_proba(embeddings), self.neighbour_vote)
        else:
            out[:, :-1] = softmax(embeddings @ self.prototypes().T / ZERO_SHOT_TEMPERATURE)
        return out

    def vote_proba(self, embeddings: np.ndarray) -> np.ndarray:
        """Per row, the vote of the :data:`VOTE_NEIGHBOURS` nearest training texts over ``classes_`` (trained only)."""
        sims = self._training_similarities(embeddings)
        k = min(VOTE_NEIGHBOURS, sims.shape[1])
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        similarity = np.take_along_axis(sims, nearest, axis=1)
        weights = np.exp((similarity - similarity.max(axis=1, keepdims=True)) / VOTE_TEMPERATURE)
        columns = {code: j for j, code in enumerate(self.classes_)}
        labels = np.array([columns[label] for label in self.train_labels_])[nearest]
        votes = np.zeros((len(embeddings), len(columns)))
        np.add.at(votes, (np.arange(len(embeddings))[:, None], labels), weights)
        return votes / votes.sum(axis=1, keepdims=True)

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

    def _training_similarities(self, embeddings: np.ndarray) -> np.ndarray:
        """Cosine of each row to every training text (``[n, n_train]``; trained only)."""
        return embeddings @ self.train_embeddings_.astype(np.float32).T

    def neighbours(self, embeddings: np.ndarray) -> list[list[dict[str, Any]]]:
        """The ``n_neighbours`` most similar training texts per row (none when zero-shot)."""
        if not self.is_supervised:
            return [[] for _ in range(len(embeddings))]
        texts, codes = self.train_texts_, self.train_labels_
        sims = self._training_similarities(embeddings)
        k = min(self.n_neighbours, sims.shape[1])
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
            valence, _, cues = valence_of(text, names_practice=code != UNCODED)
            reason = self._reason(code, best, scores[best] if scores else 0.0)
            predictions.append(Prediction(code, confidence, valence, scores, [], neighbours, cues, reason))
        return predictions

    def _reason(self, code: str, best: str, best_score: float) -> str:
        mode = "trained head" if self.is_supervised else "zero-shot prototypes"
        if code == UNCODED:
            rule = f"threshold {self.threshold_:.2f}" if self.is_supervised else "the relative margin"
            return f"uncoded ({mode}): best code {best} ({best_score:.2f}) falls short of {rule}"
        return f"{code} ({best_score:.2f}) by {mode}"


def fit_gate(
    features: np.ndarray, is_uncoded: np.ndarray, offsets: np.ndarray, C: float
) -> tuple[np.ndarray, float]:
    """A binary logistic regression for ``uncoded`` with a fixed offset per text: (coef, intercept).

    Minimises ``C * sum(w * logloss(features @ coef + intercept + offsets))
    + |coef|^2 / 2`` (scikit-learn's L2 objective) with balanced class
    weights ``w``, by L-BFGS from zero: deterministic.
    """
    from scipy.optimize import minimize

    y = is_uncoded.astype(np.float64)
    n_uncoded = max(int(y.sum()), 1)
    n_coded = max(len(y) - n_uncoded, 1)
    weights = np.where(y > 0, len(y) / (2 * n_uncoded), len(y) / (2 * n_coded))
    dim = features.shape[1]

    def loss_and_gradient(theta: np.ndarray) -> tuple[float, np.ndarray]:
        coef, intercept = theta[:dim], theta[dim]
        scores = features @ coef + intercept + offsets
        loss = C * float(np.sum(weights * (np.logaddexp(0.0, scores) - y * scores))) + 0.5 * float(coef @ coef)
        residual = C * weights * (1.0 / (1.0 + np.exp(-scores)) - y)
        return loss, np.append(features.T @ residual + coef, residual.sum())

    result = minimize(loss_and_gradient, np.zeros(dim + 1), jac=True, method="L-BFGS-B", options={"maxiter": 2000})
    return result.x[:dim], float(result.x[dim])


def with_vote(head: np.ndarray, vote: np.ndarray, weight: float) -> np.ndarray:
    """The head's probabilities averaged with the neighbours' vote, ``weight`` on the vote."""
    return head if weight == 0 else (1.0 - weight) * head + weight * vote


def _logsumexp(logits: np.ndarray) -> np.ndarray:
    """Row-wise log(sum(exp)), numerically stable."""
    top = logits.max(axis=1)
    return top + np.log(np.exp(logits - top[:, None]).sum(axis=1))


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
