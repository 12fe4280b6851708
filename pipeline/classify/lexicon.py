"""The keyword-lexicon coder: a codebook's keywords, matched on normalised tokens.

    >>> coder = LexiconCoder(load_codebook("tamtanus"))
    >>> coder.predict(["Data BPJS belum sinkron dengan Dukcapil."])
    array(['sinkronisasi'], dtype=object)

How a text is scored against a codebook:

1. The text is tokenised by :mod:`pipeline.normalise` (informal words and typos
   mapped, Sastrawi stems, reduplication as one token).  Token offsets point
   into the text itself, so every piece of evidence can be sliced back out.
2. Each keyword was put through the same normaliser when the codebook was
   compiled: a ``stem`` keyword becomes its stem (``koordinasi`` matches
   ``berkoordinasi``, ``dikoordinasikan``, ``koordinasinya``); a ``phrase``
   keyword becomes its sequence of token norms (``satu gedung`` matches
   ``satu\\n gedung``; ``gak tahu`` matches ``nggak tahu``).  A stem keyword
   matches a token whose stem, or norm, equals the keyword's stem.
3. Within one code, a longer match hides the shorter ones inside it
   (``rapat koordinasi`` is one piece of evidence, not three).
4. Score per code: ``1 - exp(-sum of weights)`` over the DISTINCT matched
   keywords, a saturating sum: one weight-1.0 keyword gives 0.63, two give
   0.86; repeating a keyword adds nothing.
5. The best code wins when its score reaches ``threshold`` (and beats the
   runner-up by ``min_margin``); otherwise the text is ``uncoded``.

The keyword lookups are compiled once per codebook version into dicts
(stem -> keywords, first norm -> phrases), so coding is a few dict lookups per
token.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from pipeline.classify.base import Prediction
from pipeline.classify.estimator import ClassifierContract
from pipeline.codebook import Codebook
from pipeline.normalise import Token, normalise, tokenize
from pipeline.schema import UNCODED

if TYPE_CHECKING:  # valence.py imports this module's matcher, so the runtime import is deferred
    from pipeline.classify.valence import ValenceLexicon, ValenceRules

# --------------------------------------------------------------------------- term matching


@dataclass(frozen=True, slots=True)
class Term:
    """One lexicon entry compiled for matching.

    ``key`` is what tokens must show, one entry per token: stems when
    ``on == "stem"``, norms when ``on == "norm"``.  ``label`` is what the term
    is evidence for (a code id, a polarity, ...).
    """

    term: str  # as written in the lexicon file
    key: tuple[str, ...]
    on: str  # "stem" | "norm"
    label: str
    weight: float


@dataclass(frozen=True, slots=True)
class Match:
    """A term found at tokens ``[first, last)`` of a token list."""

    term: Term
    first: int
    last: int  # exclusive


def compile_term(term: str, kind: str, label: str, weight: float) -> Term:
    """Put a lexicon entry through the normaliser: ``kind`` is ``stem`` or ``phrase``.

    A ``stem`` entry of several tokens (rare) matches consecutive stems.
    Raises ``ValueError`` when the entry has no word in it.
    """
    tokens = normalise(term).tokens
    if not tokens:
        raise ValueError(f"term {term!r} has no word to match")
    if kind == "stem":
        return Term(term, tuple(t.stem for t in tokens), "stem", label, weight)
    return Term(term, tuple(t.norm for t in tokens), "norm", label, weight)


class TermIndex:
    """Terms keyed by their first stem / first norm, for matching in one pass over tokens.

    The terms a token can start are looked up once per distinct norm and
    memoised (a token's stem is a function of its norm).
    """

    def __init__(self, terms: Iterable[Term]) -> None:
        self.by_stem: dict[str, list[Term]] = {}
        self.by_norm: dict[str, list[Term]] = {}
        for term in terms:
            table = self.by_stem if term.on == "stem" else self.by_norm
            table.setdefault(term.key[0], []).append(term)
        self._starting: dict[str, tuple[Term, ...]] = {}

    def find(self, tokens: Sequence[Token]) -> list[Match]:
        """Every occurrence of every term in ``tokens`` (overlaps included), in token order."""
        matches: list[Match] = []
        memo = self._starting
        for i, token in enumerate(tokens):
            terms = memo.get(token.norm)
            if terms is None:
                terms = memo[token.norm] = self._terms_starting_at(token)
            for term in terms:
                if len(term.key) == 1 or _fits(term, tokens, i):
                    matches.append(Match(term, i, i + len(term.key)))
        return matches

    def _terms_starting_at(self, token: Token) -> tuple[Term, ...]:
        """The terms whose first word ``token`` can be: by its norm, its norm minus -nya, or its stem."""
        norm, stem = token.norm, token.stem
        terms = [*self.by_norm.get(norm, ()), *self.by_stem.get(stem, ())]
        if norm != stem:
            terms += self.by_stem.get(norm, ())
        base = _without_nya(norm)
        if base:
            terms += self.by_norm.get(base, ())
        return tuple(dict.fromkeys(terms))


def _without_nya(norm: str) -> str:
    """The norm without a trailing -nya ("kurangnya" -> "kurang"), or "" when there is none."""
    return norm[:-3] if len(norm) > 6 and norm.endswith("nya") else ""


def _fits(term: Term, tokens: Sequence[Token], i: int) -> bool:
    """Whether ``term.key`` matches the tokens from ``i`` on (a stem may also equal a token's norm)."""
    if i + len(term.key) > len(tokens):
        return False
    for offset, wanted in enumerate(term.key):
        token = tokens[i + offset]
        if wanted == token.norm or (term.on == "stem" and wanted == token.stem):
            continue
        if term.on == "norm" and wanted == _without_nya(token.norm):
            continue
        return False
    return True


def longest_first(matches: Iterable[Match]) -> list[Match]:
    """Drop matches that overlap a longer (or, at equal length, earlier) kept match."""
    kept: list[Match] = []
    taken: set[int] = set()
    for match in sorted(matches, key=lambda m: (m.first - m.last, m.first)):
        span = range(match.first, match.last)
        if taken.isdisjoint(span):
            kept.append(match)
            taken.update(span)
    return sorted(kept, key=lambda m: (m.first, m.last))


# --------------------------------------------------------------------------- codebook lexicon


@dataclass(frozen=True)
class CodebookLexicon:
    """A codebook's keywords compiled for matching; ``codes`` in codebook order."""

    codes: tuple[str, ...]
    index: TermIndex


@lru_cache(maxsize=32)
def compile_codebook(codebook: Codebook) -> CodebookLexicon:
    """Normalise every keyword of ``codebook`` once (cached per codebook content)."""
    terms = []
    for code in codebook.codes:
        for keyword in code.keywords:
            try:
                terms.append(compile_term(keyword.term, keyword.kind, code.id, keyword.weight))
            except ValueError as exc:
                raise ValueError(f"{codebook.path or codebook.id}: code '{code.id}': {exc}") from None
    return CodebookLexicon(tuple(codebook.code_ids), TermIndex(terms))


@dataclass
class LexicalEvidence:
    """What one text matched: per-code scores and the matches behind them."""

    scores: dict[str, float]  # code id -> saturating score, every code present
    matches: list[Match]  # kept matches of all codes, in text order


def score_tokens(lexicon: CodebookLexicon, tokens: Sequence[Token]) -> LexicalEvidence:
    """Match ``tokens`` against the lexicon and score every code."""
    by_code: dict[str, list[Match]] = {}
    for match in lexicon.index.find(tokens):
        by_code.setdefault(match.term.label, []).append(match)
    kept: list[Match] = []
    scores = dict.fromkeys(lexicon.codes, 0.0)
    for code, matches in by_code.items():
        code_matches = longest_first(matches)
        kept += code_matches
        weights: dict[tuple[str, tuple[str, ...]], float] = {}
        for match in code_matches:  # distinct terms count once (keys: same stem = same term)
            key = (match.term.on, match.term.key)
            weights[key] = max(weights.get(key, 0.0), match.term.weight)
        scores[code] = 1.0 - math.exp(-sum(weights.values()))
    kept.sort(key=lambda m: (m.first, m.last, m.term.label))
    return LexicalEvidence(scores, kept)


def span_of(match: Match, tokens: Sequence[Token]) -> tuple[int, int]:
    """(start, end) offsets of a match in the text the tokens came from."""
    return tokens[match.first].start, tokens[match.last - 1].end


# --------------------------------------------------------------------------- the estimator


class LexiconCoder(ClassifierContract):
    """Code texts against a codebook by its keywords (scikit-learn estimator on texts, without importing it).

    Parameters
    ----------
    codebook : Codebook
        The codebook whose ``keywords`` are matched (``load_codebook("perry6")``).
    threshold : float
        The lowest score a code needs; below it the text is ``uncoded``.
        One weight-0.5 keyword scores 0.39, one weight-0.3 keyword 0.26.
    min_margin : float
        The best code must beat the runner-up by this much, else ``uncoded``
        (0 disables the rule).
    valence : ValenceLexicon or None
        The valence rules (``None``: ``lexicons/valence.yaml``).

    ``fit(texts, labels)`` is optional: it learns ``threshold_``, the threshold
    that maximises macro-F1 on the given labelled texts (useful only when they
    include ``uncoded`` examples).  Without ``fit`` the ``threshold`` parameter
    is used.
    """

    def __init__(
        self,
        codebook: Codebook,
        threshold: float = 0.35,
        min_margin: float = 0.0,
        valence: ValenceLexicon | None = None,
    ):
        self.codebook = codebook
        self.threshold = threshold
        self.min_margin = min_margin
        self.valence = valence

    # -- identity

    @property
    def model_id(self) -> str:
        """``lexicon:<codebook id>@<codebook content hash>``."""
        return f"lexicon:{self.codebook.id}@{self.codebook.content_hash}"

    @property
    def classes_(self) -> np.ndarray:
        """The codebook's code ids, then ``uncoded``."""
        return np.array([*self.codebook.code_ids, UNCODED], dtype=object)

    def _threshold(self) -> float:
        return float(getattr(self, "threshold_", self.threshold))

    # -- scikit-learn API

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> LexiconCoder:
        """Learn ``threshold_``: the cut between observed best scores that maximises macro-F1.

        Ties go to the candidate nearest the ``threshold`` parameter.
        """
        from sklearn.metrics import f1_score

        labels = [str(label) for label in labels]
        if len(labels) != len(texts):
            raise ValueError(f"fit: {len(texts)} texts but {len(labels)} labels")
        unknown = sorted(set(labels) - set(self.classes_))
        if unknown:
            raise ValueError(f"fit: label '{unknown[0]}' is not a code of '{self.codebook.id}' nor '{UNCODED}'")
        scores = self.decision_function(texts)[:, :-1]
        tops = sorted(set(np.round(scores.max(axis=1), 6).tolist()))
        between = [(low + high) / 2 for low, high in zip(tops, tops[1:])]  # thresholds that separate scores
        candidates = sorted({0.0, self.threshold, *between, tops[-1] + 1e-6} if tops else {self.threshold})
        best: tuple[float, float] | None = None
        for candidate in candidates:
            predicted = _decide(scores, candidate, self.min_margin, self.classes_)
            f1 = f1_score(labels, predicted, average="macro", zero_division=0)
            rank = (round(f1, 9), -abs(candidate - self.threshold))
            if best is None or rank > best:
                best, self.threshold_ = rank, candidate
        return self

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """Per-code lexical scores, shape (n, n_codes + 1); the last column is the threshold."""
        lexicon = compile_codebook(self.codebook)
        rows = [list(score_tokens(lexicon, tokenize(text)).scores.values()) for text in _as_texts(texts)]
        matrix = np.array(rows, dtype=float).reshape(len(rows), len(lexicon.codes))
        return np.hstack([matrix, np.full((len(rows), 1), self._threshold())])

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """Code id (or ``uncoded``) per text."""
        scores = self.decision_function(texts)[:, :-1]
        return np.array(_decide(scores, self._threshold(), self.min_margin, self.classes_), dtype=object)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Scores and threshold normalised to sum to 1 per row (columns = ``classes_``).

        ``uncoded`` weighs as much as the threshold, so the arg-max equals
        ``predict`` (unless ``min_margin`` made a text ``uncoded``); a text
        with no match is ``uncoded`` with probability 1.
        """
        return self._proba(self.decision_function(texts)[:, :-1].tolist())

    def proba_of(self, predictions: Sequence[Prediction]) -> np.ndarray:
        """:meth:`predict_proba` of texts already explained, from their scores (no second tokenising)."""
        return self._proba([[float(score) for score in p.scores.values()] for p in predictions])

    def _proba(self, rows: list[list[float]]) -> np.ndarray:
        threshold = self._threshold()
        return np.array([_proba_row(row, threshold) for row in rows]).reshape(len(rows), -1)

    # -- evidence

    def valence_rules(self) -> ValenceRules:
        """The compiled valence rules this coder judges valence with."""
        from pipeline.classify.valence import ValenceLexicon

        return (self.valence if self.valence is not None else ValenceLexicon()).rules

    def explain(self, texts: Sequence[str]) -> list[Prediction]:
        """Code, confidence, valence and the evidence behind them, per text (uncoded texts too)."""
        lexicon = compile_codebook(self.codebook)
        rules = self.valence_rules()  # once, not per text
        threshold = self._threshold()
        predictions = []
        for text in _as_texts(texts):
            tokens = tokenize(text)
            evidence = score_tokens(lexicon, tokens)
            predictions.append(self._prediction(evidence, tokens, text, threshold, rules))
        return predictions

    def _prediction(
        self, evidence: LexicalEvidence, tokens: list[Token], text: str, threshold: float, rules: ValenceRules
    ) -> Prediction:
        """Assemble one :class:`Prediction` from a text's lexical evidence."""
        from pipeline.classify.valence import valence_of_tokens

        scores = evidence.scores
        codes, values = list(scores), list(scores.values())
        code = _decide_row(values, threshold, self.min_margin, codes)
        proba = _proba_row(values, threshold)
        confidence = proba[-1] if code == UNCODED else proba[codes.index(code)]
        terms = []
        for match in evidence.matches:
            start, end = span_of(match, tokens)
            terms.append(
                {"term": match.term.term, "code": match.term.label, "start": start, "end": end, "weight": match.term.weight}
            )
        polarity, _, cues = valence_of_tokens(text, tokens, rules, names_practice=code != UNCODED)
        reason = _reason(code, scores, evidence.matches, threshold, self.min_margin, self.codebook.id)
        return Prediction(code, confidence, polarity, dict(scores), terms, [], cues, reason)


def _as_texts(texts: Sequence[str] | str) -> list[str]:
    """A list of strings; a single string is refused (it would be read letter by letter)."""
    if isinstance(texts, str):
        raise TypeError("expected a list of texts, got one string; wrap it in a list")
    return ["" if text is None else str(text) for text in texts]


def _decide(scores: np.ndarray, threshold: float, min_margin: float, classes: np.ndarray) -> list[str]:
    """Best code per row of ``scores`` (codes in columns), or ``uncoded``; see :func:`_decide_row`."""
    codes = [str(c) for c in classes[:-1]]
    return [_decide_row(row, threshold, min_margin, codes) for row in scores.tolist()]


def _decide_row(scores: Sequence[float], threshold: float, min_margin: float, codes: Sequence[str]) -> str:
    """The best code if it scores > 0, reaches ``threshold`` and beats the runner-up by ``min_margin``."""
    if not scores:
        return UNCODED
    best = max(range(len(scores)), key=scores.__getitem__)  # first of equals: codebook order
    top = scores[best]
    runner_up = max((s for i, s in enumerate(scores) if i != best), default=0.0)
    if top > 0 and top >= threshold and top - runner_up >= min_margin:
        return codes[best]
    return UNCODED


def _proba_row(scores: Sequence[float], threshold: float) -> list[float]:
    """Scores and the threshold (for ``uncoded``, last) scaled to sum to 1; nothing matched: uncoded 1."""
    total = sum(scores) + threshold
    if sum(scores) <= 0 or total <= 0:
        return [0.0] * len(scores) + [1.0]
    return [s / total for s in scores] + [threshold / total]


def _reason(
    code: str, scores: dict[str, float], matches: list[Match], threshold: float, min_margin: float, codebook_id: str
) -> str:
    """The decision in words, for a researcher reading the evidence."""
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if not matches:
        return f"uncoded: no keyword of {codebook_id} matched"
    best, best_score = ranked[0]
    runner = f"; runner-up {ranked[1][0]} ({ranked[1][1]:.2f})" if len(ranked) > 1 and ranked[1][1] > 0 else ""
    if code == UNCODED:
        if best_score < threshold:
            return f"uncoded: best code {best} scores {best_score:.2f}, below the threshold {threshold:.2f}"
        return f"uncoded: {best} ({best_score:.2f}) is within {min_margin:.2f} of the runner-up{runner}"
    words = sorted({m.term.term for m in matches if m.term.label == code})
    quoted = ", ".join(f"'{w}'" for w in words)
    return f"{code} ({best_score:.2f}): matched {quoted}{runner}"
