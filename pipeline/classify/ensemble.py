"""The ensemble coder: embedding head and keyword lexicon, averaged.

    >>> coder = EnsembleCoder(embedding_coder, LexiconCoder(book), weight=0.7)
    >>> coder.explain(["Data BPJS belum sinkron dengan Dukcapil."])[0].code

Codes: the probability vectors of the two coders (columns: the codebook's
codes, then ``uncoded``) are averaged, ``weight`` on the embedding side and
``1 - weight`` on the lexicon side; where no keyword matched, the embedding's
probabilities are used alone (see :func:`average`).  The arg-max wins (it may
be ``uncoded``, which a trained embedding head gives a share to), and a code
whose probability is below ``threshold`` becomes ``uncoded``.  The weight and
threshold are tuned by leave-one-study-out cross-validation in
:mod:`pipeline.train`, never on the texts being evaluated.

Why the lexicon does not vote ``uncoded`` when nothing matched: keyword
lists miss most spoken phrasings, so "no keyword" says little about a
transcript sentence.  When the default models were trained, letting it vote
raised the cross-validated macro-F1 slightly on some codebooks, but lowered
it on the coded texts of all four and made the models leave most informant
sentences of the sample corpus uncoded.

Valence, for every text coded or left ``uncoded`` (it says whether the
statement reports something achieved, a barrier or neither, whatever the
dimension; a dimension the coder is unsure of must not erase it):
``valence_source`` ``lexicon`` uses the valence rules
(:func:`~pipeline.classify.valence.valence_of`), ``embedding`` uses the
embedding coder's valence head.  Training keeps whichever scored better in
cross-validation.

Evidence merges both: lexicon keyword matches and valence cues, embedding
nearest training texts, and the averaged scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from pipeline.classify.base import Prediction
from pipeline.classify.embedding import VOTE_NEIGHBOURS, EmbeddingCoder, _as_texts, encoder_suffix
from pipeline.schema import UNCODED

VALENCE_SOURCES = ("lexicon", "embedding")
#: The embedding's weight without cross-validation (``wogcode train --cv none``, the review notebook's quick
#: retraining).  Held out by study, 0.4 scored higher on all four shipped codebooks (cross-validation picks 0.3-0.4),
#: but then the keywords outvote a researcher's corrections, which only the embedding head learns: a model
#: retrained on five recodings kept coding one of them as before.
DEFAULT_WEIGHT = 0.7
DEFAULT_THRESHOLD = 0.3


def average(embedding_proba: np.ndarray, lexicon_proba: np.ndarray, weight: float) -> np.ndarray:
    """``weight`` times the embedding probabilities plus ``1 - weight`` times the lexicon's (same columns).

    A row where no keyword matched (the lexicon gives ``uncoded`` all its
    probability) takes the embedding's row alone: a missing keyword is no
    evidence that a text is uncoded (keyword lists miss most spoken
    phrasings), so the lexicon only votes when it found something.
    """
    no_keyword = lexicon_proba[:, -1] >= 1.0 - 1e-9
    combined = weight * embedding_proba + (1.0 - weight) * lexicon_proba
    combined[no_keyword] = embedding_proba[no_keyword]
    return combined


def decide_rows(proba: np.ndarray, classes: Sequence[str], threshold: float) -> list[str]:
    """Arg-max class per row; ``uncoded`` when that is ``uncoded`` or its probability is below ``threshold``."""
    best = proba.argmax(axis=1)
    return [
        UNCODED if classes[j] == UNCODED or proba[i, j] < threshold else str(classes[j])
        for i, j in enumerate(best)
    ]


class EnsembleCoder(ClassifierMixin, BaseEstimator):
    """Weighted average of an :class:`EmbeddingCoder` and a ``LexiconCoder``.

    Parameters
    ----------
    embedding : EmbeddingCoder
        A (usually fitted) embedding coder.
    lexicon : LexiconCoder
        The keyword coder of the same codebook.
    weight : float
        Share of the embedding probabilities in the average (0..1).
    threshold : float
        Lowest averaged probability a code needs, else ``uncoded``.
    valence_source : str
        ``lexicon`` or ``embedding`` (the latter needs a fitted valence head).
    """

    def __init__(
        self,
        embedding: EmbeddingCoder,
        lexicon: Any,
        weight: float = DEFAULT_WEIGHT,
        threshold: float = DEFAULT_THRESHOLD,
        valence_source: str = "lexicon",
    ) -> None:
        self.embedding = embedding
        self.lexicon = lexicon
        self.weight = weight
        self.threshold = threshold
        self.valence_source = valence_source

    @property
    def codebook(self) -> Any:
        """The codebook (the embedding coder's)."""
        return self.embedding.codebook

    @property
    def model_id(self) -> str:
        """``ensemble:<codebook>@<hash>`` plus ``/<name>`` once saved or loaded, plus ``+onnx-int8`` on that encoder."""
        name = getattr(self, "name_", "")
        base = f"ensemble:{self.codebook.id}@{self.codebook.content_hash}"
        return (f"{base}/{name}" if name else base) + encoder_suffix(self.embedding.encoder)

    @property
    def classes_(self) -> np.ndarray:
        """The codebook's code ids, then ``uncoded``."""
        return self.embedding.classes_

    def _check(self) -> None:
        if self.lexicon.codebook.content_hash != self.embedding.codebook.content_hash:
            raise ValueError("EnsembleCoder: the lexicon and embedding coders use different codebooks")
        if self.valence_source not in VALENCE_SOURCES:
            raise ValueError(f"EnsembleCoder: valence_source must be one of {VALENCE_SOURCES}, not {self.valence_source!r}")
        if self.valence_source == "embedding" and not hasattr(self.embedding, "valence_coef_"):
            raise ValueError("EnsembleCoder: valence_source 'embedding' needs an embedding coder with a valence head")

    def combine(self, embedding_proba: np.ndarray, lexicon_proba: np.ndarray) -> np.ndarray:
        """The weighted average of two probability matrices with the same columns."""
        return average(embedding_proba, lexicon_proba, self.weight)

    def decide(self, proba: np.ndarray) -> list[str]:
        """Arg-max per row; ``uncoded`` when it is ``uncoded`` or below ``threshold``."""
        return decide_rows(proba, list(self.classes_), self.threshold)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Averaged probabilities (columns ``classes_``)."""
        texts = _as_texts(texts)
        return self.combine(self.embedding.predict_proba(texts), self.lexicon.predict_proba(texts))

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Code id (or ``uncoded``) per text."""
        return np.array(self.decide(self.predict_proba(texts)), dtype=object)

    def explain(self, texts: Sequence[str]) -> list[Prediction]:
        """Code, confidence, valence and the merged evidence of both coders, per text."""
        self._check()
        texts = _as_texts(texts)
        embeddings = self.embedding.embed(texts)
        lexical = self.lexicon.explain(texts)
        proba = self.combine(self.embedding.proba_from_embeddings(embeddings), self.lexicon.proba_of(lexical))
        codes = self.decide(proba)
        near = self.embedding.neighbours(embeddings)
        valence_rows = self.embedding.valence_proba(embeddings) if self.valence_source == "embedding" else None
        predictions = []
        for i, (text, code) in enumerate(zip(texts, codes)):
            scores = {c: round(float(p), 4) for c, p in zip(self.codebook.code_ids, proba[i, :-1])}
            column = list(self.classes_).index(code)
            valence, cues, why_valence = self._valence(text, code, lexical[i],
                                                       None if valence_rows is None else valence_rows[i])
            words = sorted({term["term"] for term in lexical[i].terms if term["code"] == code})
            reason = self._reason(code, scores, words, float(proba[i, column]), float(proba[i, -1])) + why_valence
            predictions.append(
                Prediction(code, float(proba[i, column]), valence, scores, lexical[i].terms, near[i], cues, reason)
            )
        return predictions

    def _valence(self, text: str, code: str, lexical: Prediction,
                 valence_row: np.ndarray | None) -> tuple[str, list[dict[str, Any]], str]:
        """(valence, cues, a note for the reason) from the chosen source; the cues are the lexicon's either way.

        The lexicon coder's own judgement is reused when it agrees on whether
        the text is coded (the only thing the valence rules ask).  When the
        embedding head decides, the note gives its probability and what the
        lexicon cues alone would say, so a reader sees both.
        """
        from pipeline.classify.valence import valence_of

        if (lexical.code == UNCODED) == (code == UNCODED):
            polarity, cues = lexical.valence, lexical.valence_cues
        else:
            polarity, _, cues = valence_of(text, self.lexicon.valence_rules(), names_practice=code != UNCODED)
        if valence_row is None:
            return polarity, cues, ""
        best = int(valence_row.argmax())
        head = str(self.embedding.valence_classes_[best])
        return head, cues, f"; valence {head} by the valence head ({valence_row[best]:.2f}; the cues say {polarity})"

    def _reason(self, code: str, scores: dict[str, float], words: list[str], confidence: float,
                uncoded_score: float) -> str:
        ranked = sorted(scores.items(), key=lambda item: -item[1])
        best, best_score = ranked[0]
        voted = self.embedding.neighbour_vote > 0
        embedding = f"embedding (head + {VOTE_NEIGHBOURS} nearest texts' vote)" if voted else "embedding"
        mix = f"{embedding} x{self.weight:.2f} + lexicon x{1 - self.weight:.2f}"
        if code == UNCODED and best_score >= self.threshold:
            return (f"uncoded: reads as talk or non-findings text (uncoded {uncoded_score:.2f} > "
                    f"best code {best} {best_score:.2f}; {mix})")
        if code == UNCODED:
            return f"uncoded: best code {best} ({best_score:.2f}) below {self.threshold:.2f} ({mix})"
        matched = f"; keywords {', '.join(repr(w) for w in words)}" if words else "; no keyword matched"
        return f"{code} ({confidence:.2f}, {mix}){matched}"
