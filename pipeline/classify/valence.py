"""Valence: does a unit say something works (positive), fails (negative), or only describes (neutral)?

    >>> valence_of("Alhamdulillah tidak ada kendala di loket.")[0]
    'positive'

Rules (the word lists are data, in ``lexicons/valence.yaml``):

1. Cues, negators, clause-break words, definition markers and fixed
   expressions are matched on the normaliser's tokens; where they overlap,
   the longest wins ("tidak semua" is a cue, not the negator "tidak").
2. Clauses end at ``, ; : . ! ? ( )`` and before a break word ("namun",
   "sehingga", ...).  A clause opened by a weighted word counts its cues
   times that weight (the concession after "meskipun" counts half).
3. A negator flips every cue that starts at most ``scope`` words after it in
   the same clause, unless the cue begins with a negator itself ("masih
   belum jelas serta belum terbentuknya ..." stays negative): "tidak ada kendala" and "belum pernah ada masalah" are
   positive, "tidak sinkron" negative.  A negator that flips nothing counts on
   its own with its ``alone`` weight ("belum terbentuk" is negative), and a
   cue it flips counts at least that much.  A remedy word ("mengatasi",
   "menghindari", "memangkas") turns the negative cues after it in its clause
   positive ("mengatasi kendala jaringan").
4. After a definition marker ("adalah", "merupakan", "yaitu", ...), the rest
   of the clause is a definition: only verdict cues count there, so
   "integrasi adalah kerja sama yang tidak saling bertentangan" is neutral.
5. The score is the sum of signed cue weights; ``|score| < neutral_band`` is
   neutral.
6. A text with no cue, negator, definition marker or fixed expression takes the
   file's ``no_cue`` polarity: in a findings chapter or an interview answer
   about a WoG practice, a plain statement that the practice exists ("Ada
   satgas pengaduan ...", "Tiap bulan hasil SKM diumumkan") reports it as
   achieved.  Its evidence is one cue-less entry that says so.  A text the
   coder left ``uncoded`` names no practice, so without a cue it is neutral.

Every decision returns its cues with offsets into the text, the polarity each
contributed, and the negator that flipped it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from pipeline import paths
from pipeline.classify.estimator import ClassifierContract
from pipeline.classify.lexicon import Match, Term, TermIndex, compile_term, longest_first, span_of
from pipeline.normalise import Token, tokenize
from pipeline.schema import VALENCES

POLARITY_SIGN: dict[str, int] = {"positive": 1, "negative": -1}
SIGN_POLARITY: dict[int, str] = {1: "positive", -1: "negative"}
CLAUSE_PUNCTUATION = frozenset(",;:.!?()[]")

# Labels of the entries in the one term index (cues are labelled by polarity).
NEGATOR, REMEDY, BREAK, DEFINITION, FIXED = "negator", "remedy", "break", "definition", "fixed"
#: A text without a term of these kinds is decided by the ``no_cue`` rule alone.
DECIDING = frozenset({*POLARITY_SIGN, NEGATOR, DEFINITION, FIXED})


class ValenceLexiconError(ValueError):
    """A valence file that cannot be used; the message is one line: ``<file>: <problem>``."""


@dataclass(frozen=True)
class ValenceRules:
    """``lexicons/valence.yaml`` compiled for matching."""

    index: TermIndex  # cues, negators, clause breaks, definition markers, fixed expressions
    verdicts: frozenset[Term]  # cues that count inside definitions too
    scope: int  # words a negator reaches
    neutral_band: float
    path: str
    no_cue: str = "neutral"  # the valence of a text with no cue, negator or definition marker
    negator_words: frozenset[str] = frozenset()  # first words of negators: a cue starting so is already negated


def default_path() -> Path:
    return paths.LEXICONS / "valence.yaml"


def load_rules(path: str | Path | None = None) -> ValenceRules:
    """Read and compile a valence file (cached per file version)."""
    path = Path(path) if path is not None else default_path()
    try:
        stat = path.stat()
    except OSError:
        raise ValenceLexiconError(f"{path}: file not found") from None
    return _load_rules(path, stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _load_rules(path: Path, size: int, mtime_ns: int) -> ValenceRules:
    """Parse, check and compile one valence file version."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ValenceLexiconError(f"{path}: cannot read ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ValenceLexiconError(f"{path}: expected a mapping with positive, negative, negation, ...")
    reader = _Reader(path)
    negation = reader.mapping(data, "negation")
    clauses = reader.mapping(data, "clauses")
    weights = reader.mapping(clauses, "weights", "clauses")
    terms: list[Term] = []
    verdicts: set[Term] = set()
    for polarity in POLARITY_SIGN:
        for where, entry in reader.entries(data, polarity):
            term = reader.term(entry, polarity, where)
            terms.append(term)
            if entry.get("verdict", False) is True:
                verdicts.add(term)
    for where, entry in reader.entries(negation, "negators", "negation"):
        alone = entry.get("alone", 0.0)
        if not isinstance(alone, (int, float)) or not -1 <= alone <= 1:
            raise ValenceLexiconError(f"{path}: {where}: 'alone' must be a number in [-1, 1]")
        terms.append(reader.term({**entry, "weight": float(alone)}, NEGATOR, where, low=-1.0))
    for where, entry in reader.entries(data, "remedies"):
        terms.append(reader.term({**entry, "weight": 0.0}, REMEDY, where))
    for word in reader.words(clauses, "breaks", "clauses"):
        entry = {"term": word, "weight": weights.get(word, 1.0)}
        terms.append(reader.term(entry, BREAK, f"clauses.weights '{word}'", high=3.0))
    unknown = sorted(set(weights) - set(reader.words(clauses, "breaks", "clauses")))
    if unknown:
        raise ValenceLexiconError(f"{path}: clauses: weights: '{unknown[0]}' is not one of the breaks")
    for word in reader.words(data, "definition_markers"):
        terms.append(reader.term({"term": word, "weight": 0.0}, DEFINITION, f"definition_markers '{word}'"))
    for word in reader.words(data, "fixed_expressions"):
        terms.append(reader.term({"term": word, "weight": 0.0}, FIXED, f"fixed_expressions '{word}'"))
    _check_unique(terms, path)
    scope = negation.get("scope", 4)
    band = data.get("neutral_band", 0.3)
    if not isinstance(scope, int) or scope < 0:
        raise ValenceLexiconError(f"{path}: negation: scope must be a whole number >= 0")
    if not isinstance(band, (int, float)) or band < 0:
        raise ValenceLexiconError(f"{path}: neutral_band must be a number >= 0")
    no_cue = data.get("no_cue", "neutral")
    if no_cue not in VALENCES:
        raise ValenceLexiconError(f"{path}: no_cue must be one of {', '.join(VALENCES)}")
    negator_words = frozenset(t.key[0] for t in terms if t.label == NEGATOR)
    return ValenceRules(TermIndex(terms), frozenset(verdicts), scope, float(band), str(path), no_cue, negator_words)


class _Reader:
    """Small helpers that read one part of the file and name the place of a problem."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, message: str) -> ValenceLexiconError:
        return ValenceLexiconError(f"{self.path}: {message}")

    def mapping(self, data: dict[str, Any], key: str, parent: str = "") -> dict[str, Any]:
        value = data.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(f"{parent + ': ' if parent else ''}'{key}' must be a mapping")
        return value

    def entries(self, data: dict[str, Any], key: str, parent: str = "") -> list[tuple[str, dict[str, Any]]]:
        """A list of ``{term, weight, kind, verdict}`` mappings (a plain string is a phrase of weight 1)."""
        value = data.get(key, [])
        where = f"{parent + '.' if parent else ''}{key}"
        if not isinstance(value, list):
            raise self.fail(f"'{where}' must be a list")
        found = []
        for i, entry in enumerate(value):
            if isinstance(entry, str):
                entry = {"term": entry, "weight": 1.0}
            if not isinstance(entry, dict) or not isinstance(entry.get("term"), str):
                raise self.fail(f"{where}[{i}]: expected {{term: ..., weight: ...}}")
            unknown = set(entry) - {"term", "weight", "kind", "verdict", "alone"}
            if unknown:
                raise self.fail(f"{where}[{i}] ({entry['term']}): unknown field '{sorted(unknown)[0]}'")
            found.append((f"{where}[{i}] ({entry['term']})", entry))
        return found

    def words(self, data: dict[str, Any], key: str, parent: str = "") -> list[str]:
        value = data.get(key, [])
        where = f"{parent + '.' if parent else ''}{key}"
        if not isinstance(value, list) or not all(isinstance(word, str) and word.strip() for word in value):
            raise self.fail(f"'{where}' must be a list of words")
        return value

    def term(self, entry: dict[str, Any], label: str, where: str, low: float = 0.0, high: float = 1.0) -> Term:
        weight = entry.get("weight", 1.0)
        if not isinstance(weight, (int, float)) or not low <= weight <= high:
            raise self.fail(f"{where}: weight must be a number in [{low:g}, {high:g}]")
        kind = entry.get("kind", "phrase")
        if kind not in ("phrase", "stem"):
            raise self.fail(f"{where}: kind must be phrase or stem, not {kind!r}")
        try:
            return compile_term(entry["term"], kind, label, float(weight))
        except ValueError as exc:
            raise self.fail(f"{where}: {exc}") from None


def _check_unique(terms: list[Term], path: Path) -> None:
    """A word sequence may appear once in the whole file (else its role would be ambiguous)."""
    seen: dict[tuple[str, tuple[str, ...]], Term] = {}
    for term in terms:
        key = (term.on, term.key)
        if key in seen:
            raise ValenceLexiconError(
                f"{path}: '{term.term}' ({term.label}) is also listed as '{seen[key].term}' ({seen[key].label})"
            )
        seen[key] = term


# --------------------------------------------------------------------------- deciding


def valence_of(
    text: str, rules: ValenceRules | None = None, names_practice: bool = True
) -> tuple[str, float, list[dict[str, Any]]]:
    """(valence, signed score, cues) of one text; cue offsets are into ``text``.

    ``names_practice``: whether the text was coded with a WoG dimension; only
    then does the ``no_cue`` rule read a cue-less statement as that practice
    existing (an uncoded text with no cue is neutral).
    """
    return valence_of_tokens(text, tokenize(text), rules or load_rules(), names_practice)


def valence_of_tokens(
    text: str, tokens: Sequence[Token], rules: ValenceRules, names_practice: bool = True
) -> tuple[str, float, list[dict[str, Any]]]:
    """Like :func:`valence_of` on tokens already made from ``text``."""
    matches = longest_first(rules.index.find(tokens))
    if not any(m.term.label in DECIDING for m in matches):  # most talk: no need for clauses
        if names_practice and rules.no_cue != "neutral":
            return rules.no_cue, 0.0, [no_cue_evidence(rules.no_cue)]
        return "neutral", 0.0, []
    parsed = _parse(text, tokens, matches, rules)
    weighed = [_weigh_cue(cue, parsed) for cue in parsed.cues]
    flipped = {id(item.negator) for item in weighed if item.negator is not None}
    weighed += [_weigh_lone_negator(n, parsed) for n in parsed.negators if id(n) not in flipped]
    weighed.sort(key=lambda item: item.match.first)
    score = sum(item.signed for item in weighed)
    cues = [item.evidence(text, tokens) for item in weighed if item.signed or item.extra.get("ignored")]
    if names_practice and not (weighed or parsed.definition_from or parsed.fixed) and rules.no_cue != "neutral":
        return rules.no_cue, 0.0, [no_cue_evidence(rules.no_cue)]
    return _label(score, rules.neutral_band), round(score, 4), cues


def no_cue_evidence(polarity: str) -> dict[str, Any]:
    """The evidence entry of a text decided by the ``no_cue`` rule (no span: nothing matched)."""
    return {"cue": "", "start": 0, "end": 0, "polarity": polarity, "weight": 0.0,
            "rule": f"no valence cue: a statement that a practice exists counts as {polarity} (no_cue)"}


@dataclass
class _Parsed:
    """One text's valence structure: its matches by role, clauses and definition spans."""

    cues: list[Match]
    negators: list[Match]
    remedies: list[Match]
    fixed: list[Match]  # fixed expressions: they judge nothing, but they are not a bare statement either
    clause_of: list[int]  # clause number per token
    clause_weight: dict[int, float]  # clauses opened by a weighted break word
    definition_from: dict[int, int]  # clause -> first token inside its definition
    rules: ValenceRules

    def in_definition(self, match: Match) -> bool:
        return match.first >= self.definition_from.get(self.clause_of[match.first], len(self.clause_of))

    def weight_of_clause(self, match: Match) -> float:
        return self.clause_weight.get(self.clause_of[match.first], 1.0)


@dataclass
class _Weighed:
    """A cue (or lone negator) with the sign and weight it finally contributes."""

    match: Match
    sign: int
    weight: float
    negator: Match | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def signed(self) -> float:
        return self.sign * self.weight

    def evidence(self, text: str, tokens: Sequence[Token]) -> dict[str, Any]:
        start, end = span_of(self.match, tokens)
        polarity = SIGN_POLARITY[self.sign] if self.weight > 0 else "neutral"
        return {"cue": self.match.term.term, "start": start, "end": end, "polarity": polarity,
                "weight": round(self.weight, 4), **self.extra}


def _parse(text: str, tokens: Sequence[Token], matches: list[Match], rules: ValenceRules) -> _Parsed:
    """The clauses and definitions of a text, and its terms (``matches``, longest first) by role."""
    clause_of, clause_weight = _clauses(text, tokens, matches)
    definition_from: dict[int, int] = {}
    for match in matches:
        if match.term.label == DEFINITION:
            definition_from.setdefault(clause_of[match.first], match.last)
    return _Parsed(
        cues=[m for m in matches if m.term.label in POLARITY_SIGN],
        negators=[m for m in matches if m.term.label == NEGATOR],
        remedies=[m for m in matches if m.term.label == REMEDY],
        fixed=[m for m in matches if m.term.label == FIXED],
        clause_of=clause_of,
        clause_weight=clause_weight,
        definition_from=definition_from,
        rules=rules,
    )


def _weigh_cue(cue: Match, parsed: _Parsed) -> _Weighed:
    """A cue's sign after negation and remedies, and its weight after clause and definition rules."""
    item = _Weighed(cue, POLARITY_SIGN[cue.term.label], cue.term.weight)
    if cue.term.key[0] not in parsed.rules.negator_words:  # "belum terbentuk" carries its own negation
        item.negator = _negator_of(cue, parsed.negators, parsed.clause_of, parsed.rules.scope)
    if item.negator is not None:
        item.sign = -item.sign
        item.weight = max(item.weight, abs(item.negator.term.weight))
        item.extra["negated_by"] = item.negator.term.term
    remedy = _remedy_of(cue, parsed.remedies, parsed.clause_of)
    if remedy is not None:
        item.sign = -item.sign
        item.extra["remedied_by"] = remedy.term.term
    item.weight *= parsed.weight_of_clause(cue)
    if parsed.in_definition(cue) and cue.term not in parsed.rules.verdicts:
        item.weight, item.extra["ignored"] = 0.0, "inside a definition"
    return item


def _weigh_lone_negator(negator: Match, parsed: _Parsed) -> _Weighed:
    """A negator that flipped nothing counts with its ``alone`` weight (not inside a definition)."""
    alone = negator.term.weight
    weight = 0.0 if parsed.in_definition(negator) else abs(alone) * parsed.weight_of_clause(negator)
    return _Weighed(negator, 1 if alone > 0 else -1, weight, extra={"alone": True})


def _label(score: float, band: float) -> str:
    if score >= band and score > 0:
        return "positive"
    if score <= -band and score < 0:
        return "negative"
    return "neutral"


def _clauses(text: str, tokens: Sequence[Token], matches: list[Match]) -> tuple[list[int], dict[int, float]]:
    """Clause number of every token, and the weight of clauses opened by a weighted break word."""
    break_at = {m.first: m.term.weight for m in matches if m.term.label == BREAK}
    clause_of: list[int] = []
    weights: dict[int, float] = {}
    clause = 0
    for i, token in enumerate(tokens):
        if i and not CLAUSE_PUNCTUATION.isdisjoint(text[tokens[i - 1].end : token.start]):
            clause += 1
        if i in break_at:
            clause += 1
            if break_at[i] != 1.0:
                weights[clause] = break_at[i]
        clause_of.append(clause)
    return clause_of, weights


def _remedy_of(cue: Match, remedies: list[Match], clause_of: list[int]) -> Match | None:
    """A remedy word before a negative ``cue`` in its clause, if any."""
    if cue.term.label != "negative":
        return None
    for remedy in remedies:
        if remedy.last <= cue.first and clause_of[remedy.first] == clause_of[cue.first]:
            return remedy
    return None


def _negator_of(cue: Match, negators: list[Match], clause_of: list[int], scope: int) -> Match | None:
    """The nearest negator ending at most ``scope`` words before ``cue``, in its clause."""
    best = None
    for negator in negators:
        gap = cue.first - negator.last
        if 0 <= gap <= scope and clause_of[negator.first] == clause_of[cue.first]:
            if best is None or negator.last > best.last:
                best = negator
    return best


# --------------------------------------------------------------------------- estimator


class ValenceLexicon(ClassifierContract):
    """Valence by cue rules, with the scikit-learn ``predict`` API on texts (without importing it).

    ``path``: a valence YAML file (``None``: ``lexicons/valence.yaml``).
    Rule-based: nothing to fit.
    """

    def __init__(self, path: str | None = None):
        self.path = path

    @property
    def classes_(self) -> np.ndarray:
        return np.array(VALENCES, dtype=object)

    @property
    def rules(self) -> ValenceRules:
        return load_rules(self.path)

    def decision_function(self, texts: Sequence[str]) -> np.ndarray:
        """The signed cue score per text (> 0 leans positive)."""
        rules = self.rules
        return np.array([valence_of(str(text), rules)[1] for text in texts], dtype=float)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """``positive`` / ``negative`` / ``neutral`` per text."""
        rules = self.rules
        return np.array([valence_of(str(text), rules)[0] for text in texts], dtype=object)
