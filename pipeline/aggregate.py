"""Evidence per (level, key, code): how much the fieldwork says about each code, and which way.

This is the "data display" step of a Miles & Huberman analysis: for every study,
city, agency and informant, and every code of the codebook, one row that a
thesis discussion chapter can cite ("koordinasi in Kota Padang: positive, strong,
5 informants, e.g. Bapak AR: '...'").

What counts as evidence
    Only units of a codable kind (utterance, narrative, quote) that have a coding
    for the chosen codebook.  Interviewer turns are never evidence: a question
    ("apakah koordinasinya sudah baik?") is the researcher's prompt, not a
    finding, even when a model codes it.  Literature cited in a thesis (speaker
    role ``cited``) is not fieldwork either and is left out.  What remains are
    the informants' own words (interview turns and the quotes a thesis gives)
    and the researcher's narrative (observations and interpretation).

Levels
    ``study`` and ``city`` pool everything that remains: informants and the
    researcher's narrative, so a thesis-only corpus still has findings.
    ``agency`` and ``informant`` use the informants' own words only (narrative
    has no agency or informant).  Informant initials ("Bapak AR") and agency
    names ("DPMPTSP") are only unique within a study and place, so agency and
    informant rows are keyed on (study, city, name) and carry ``study`` and
    ``city`` columns; ``city`` rows leave ``study`` empty and ``study`` rows
    leave ``city`` empty.  Units with an empty key are skipped at that level.
    Every code of the codebook gets a row for every key, so an absent code is
    visible (``n_units`` 0, verdict ``insufficient``).

Sources
    A source is one voice: an informant within a study (the interview and the
    thesis quotes of the same person are one source), or one document for the
    researcher's narrative and unattributed quotes (one author, one voice).

Strength (see :data:`STRENGTH_FORMULA`)
    Each source's support for a code is the sum of its unit scores, halved and
    capped at 1: a source counts fully once it has said the thing clearly twice,
    and never more, however often it repeats itself.  Strength is
    ``1 - exp(-total support / 2)``: 0.39 for one fully supporting source, 0.63
    for two, 0.78 for three, 0.92 for five.  It is 0 without evidence, below 1
    always, and grows with every unit and score until a source saturates.  One
    talkative informant with ten units (0.39) stays below five informants who
    say it twice each.

Verdict
    ``insufficient`` when there are fewer than 2 units, strength is below 0.2,
    or no unit is positive or negative (pure description gives no verdict).
    Otherwise the valence balance decides, one vote per source: each source's
    vote is its own share of positive among its positive and negative units,
    and the balance is the mean vote.  ``positive`` when the balance is at
    least 2/3, ``negative`` when at most 1/3, else ``mixed``.  Unit counts per
    valence (``n_positive``, ...) are reported as they are.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction
from typing import Any

import pandas as pd

from pipeline.codebook import Code, Codebook
from pipeline.findings import outside_findings
from pipeline.schema import CODABLE_KINDS, UNCODED, VALENCES

#: Levels from broad to narrow (the order of rows in the evidence table).
LEVELS: tuple[str, ...] = ("study", "city", "agency", "informant")

#: The strength index as the README and the report quote it.
STRENGTH_FORMULA = (
    "strength = 1 − exp(−S / 2), where S = Σ over sources of min(1, s / 2) and s is the sum of "
    "that source's unit scores for the code; a source is one informant within a study, or one "
    "document for the researcher's narrative"
)

#: Score sum at which one source supports a code fully (two clear statements).
FULL_SOURCE_SCORE = 2.0
#: Total support at which strength reaches 1 - 1/e (about 0.63).
SOURCE_SCALE = 2.0
#: Below this strength, or with fewer units than MIN_UNITS, the verdict is ``insufficient``.
MIN_STRENGTH = 0.2
MIN_UNITS = 2
#: Valence balance thresholds (one vote per source).
POSITIVE_AT_LEAST = Fraction(2, 3)
NEGATIVE_AT_MOST = Fraction(1, 3)
#: Excerpts per row: the best-scoring ones, and the ones that support the verdict.
TOP_EXCERPTS = 3
SUPPORTING_EXCERPTS = 2

VERDICTS: tuple[str, ...] = ("positive", "negative", "mixed", "insufficient")

EVIDENCE_COLUMNS: list[str] = [
    "level",
    "key",
    "study",
    "city",
    "codebook",
    "code",
    "code_name",
    "n_units",
    "n_codable",
    "share",
    "n_informants",
    "n_sources",
    "informants",
    "mean_score",
    "n_positive",
    "n_negative",
    "n_neutral",
    "positive_balance",
    "strength",
    "verdict",
    "top_excerpts",
    "supporting_excerpts",
]

SUMMARY_COLUMNS: list[str] = [
    "codebook", "code", "n_units", "share", "mean_score", "n_positive", "n_negative", "n_neutral"
]

_UNIT_COLUMNS = ("unit_id", "doc_id", "start", "end", "text", "kind", "speaker", "speaker_role",
                 "informant", "agency", "city", "study", "path")
_CODING_COLUMNS = ("unit_id", "codebook", "code", "score", "valence")
#: Roles whose units are never evidence (prompts, cited literature).
_NOT_EVIDENCE_ROLES = frozenset({"interviewer", "cited"})


# --------------------------------------------------------------------------- inputs


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} table: missing column(s) {', '.join(missing)}")


def _codings_for(codings: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """The codings of one codebook, checked: known codes and valences, scores in [0, 1], one row per unit."""
    _require_columns(codings, _CODING_COLUMNS, "codings")
    mine = codings[codings["codebook"] == codebook.id]
    if mine.empty:
        present = ", ".join(sorted(map(str, codings["codebook"].unique()))) or "none"
        raise ValueError(f"codings table: no rows for codebook '{codebook.id}' (codebooks present: {present})")
    unknown = sorted(set(mine["code"]) - set(codebook.code_ids) - {UNCODED})
    if unknown:
        raise ValueError(f"codings table: code '{unknown[0]}' is not in codebook '{codebook.id}'")
    bad_valence = sorted(set(mine["valence"]) - set(VALENCES))
    if bad_valence:
        raise ValueError(f"codings table: valence '{bad_valence[0]}' is not one of {', '.join(VALENCES)}")
    scores = pd.to_numeric(mine["score"], errors="coerce")
    bad_score = mine["unit_id"][~scores.between(0.0, 1.0)]
    if not bad_score.empty:
        raise ValueError(f"codings table: unit '{bad_score.iloc[0]}' has a score outside [0, 1]")
    duplicated = mine["unit_id"][mine["unit_id"].duplicated()]
    if not duplicated.empty:
        raise ValueError(f"codings table: unit '{duplicated.iloc[0]}' is coded twice for codebook '{codebook.id}'")
    return mine


def evidence_units(units: pd.DataFrame, codings: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """Units that count as evidence, joined with their coding for ``codebook``, plus a ``source`` column.

    Codable kinds only, no interviewer or cited-literature units, no thesis text
    outside its findings (:mod:`pipeline.findings`), and only units coded for
    this codebook (``uncoded`` included: they are the denominator of shares).
    """
    _require_columns(units, _UNIT_COLUMNS, "units")
    mine = _codings_for(codings, codebook)
    orphans = sorted(set(mine["unit_id"]) - set(units["unit_id"]))
    if orphans:
        raise ValueError(f"codings table: {len(orphans)} unit_id(s) not in the units table, e.g. '{orphans[0]}'")
    keep = list(_UNIT_COLUMNS) + (["text_clean"] if "text_clean" in units.columns else [])
    frame = units[keep].merge(mine[list(_CODING_COLUMNS)], on="unit_id", how="inner")
    text_columns = [c for c in keep if c not in ("start", "end")]
    frame[text_columns] = frame[text_columns].apply(_as_text)
    frame = frame[frame["kind"].isin(CODABLE_KINDS) & ~frame["speaker_role"].isin(_NOT_EVIDENCE_ROLES)]
    frame = frame[~frame["unit_id"].isin(set(units["unit_id"][outside_findings(units)]))]
    frame = frame.assign(score=frame["score"].astype(float), source=_sources(frame))
    return frame.sort_values("unit_id", kind="stable").reset_index(drop=True)


def _as_text(column: pd.Series) -> pd.Series:
    """The column as Python strings (object dtype; missing values empty): pandas' Arrow strings are slower here."""
    if column.dtype == object and pd.api.types.infer_dtype(column, skipna=False) == "string":
        return column
    return column.fillna("").astype(str).astype(object)


def _sources(frame: pd.DataFrame) -> list[str]:
    """One voice per unit: ``informant:<study>|<name>`` or ``document:<doc_id>``."""
    return [
        f"informant:{study}|{informant}" if role == "informant" and informant else f"document:{doc_id}"
        for role, informant, study, doc_id in zip(
            frame["speaker_role"], frame["informant"], frame["study"], frame["doc_id"]
        )
    ]


# --------------------------------------------------------------------------- the numbers


def source_support(scores: Iterable[float]) -> float:
    """One source's support for a code: its score sum over FULL_SOURCE_SCORE, capped at 1.

    Sums are exactly rounded (``math.fsum``), so the result does not depend on
    the order the units arrive in (a streaming run and a batch run agree to the bit).
    """
    return min(1.0, math.fsum(scores) / FULL_SOURCE_SCORE)


def strength_from_supports(supports: Iterable[float]) -> float:
    """``1 - exp(-Σ support / SOURCE_SCALE)`` for per-source supports (exactly rounded sum)."""
    return 1.0 - math.exp(-math.fsum(supports) / SOURCE_SCALE)


def strength_index(scores_by_source: dict[str, list[float]]) -> float:
    """``1 - exp(-Σ support / SOURCE_SCALE)`` over sources (see :data:`STRENGTH_FORMULA`)."""
    return strength_from_supports(source_support(scores) for scores in scores_by_source.values())


def positive_balance(polar_counts: Iterable[tuple[int, int]]) -> Fraction | None:
    """Mean over sources of each source's positive share, from (n positive, n negative) per source;
    None when no source has a polar unit."""
    votes = [Fraction(pos, pos + neg) for pos, neg in polar_counts if pos + neg]
    return sum(votes, Fraction(0)) / len(votes) if votes else None


def verdict(n_units: int, strength: float, balance: Fraction | None) -> str:
    """positive / negative / mixed / insufficient, by the rules in the module docstring."""
    if n_units < MIN_UNITS or strength < MIN_STRENGTH or balance is None:
        return "insufficient"
    if balance >= POSITIVE_AT_LEAST:
        return "positive"
    if balance <= NEGATIVE_AT_MOST:
        return "negative"
    return "mixed"


# --------------------------------------------------------------------------- excerpts


def _excerpt(unit: Any) -> dict[str, Any]:
    """A unit as the excerpt dict the evidence table stores (offsets into the document text)."""
    return {
        "unit_id": unit.unit_id,
        "path": unit.path,
        "start": int(unit.start),
        "end": int(unit.end),
        "speaker": unit.speaker,
        "speaker_role": unit.speaker_role,
        "text": unit.text,
        "text_clean": getattr(unit, "text_clean", "") or unit.text,
        "valence": unit.valence,
        "score": round(float(unit.score), 4),
    }


def supporting_excerpts(coded: Sequence[Any], verdict_: str, n: int = SUPPORTING_EXCERPTS) -> list[dict[str, Any]]:
    """Quotes a discussion chapter can cite for the verdict, picked one at a time.

    Each pick prefers, in this order: the valence the verdict needs (for
    ``mixed`` a positive one, then a negative one; any valence for
    ``insufficient``), a voice not quoted yet, an informant's own words over
    narrative, the higher score, the smaller unit_id.
    """
    polar = {"positive": ["positive"], "negative": ["negative"], "mixed": ["positive", "negative"]}.get(verdict_, [])
    chosen: list[Any] = []
    while len(chosen) < min(n, len(coded)):
        wanted = {polar[len(chosen)]} if len(chosen) < len(polar) else set(polar)
        quoted = {u.source for u in chosen}
        taken = {u.unit_id for u in chosen}
        candidates = (u for u in coded if u.unit_id not in taken)
        chosen.append(min(candidates, key=lambda u: (
            u.valence not in wanted, u.source in quoted, u.speaker_role != "informant", -u.score, u.unit_id
        )))
    return [_excerpt(unit) for unit in chosen]


# --------------------------------------------------------------------------- the table


class ExactSum:
    """A float sum that is exact until read (Shewchuk's partials, as ``math.fsum``), so its value
    does not depend on the order the numbers arrive in: a streaming run and a whole-table run agree."""

    __slots__ = ("partials",)

    def __init__(self) -> None:
        self.partials: list[float] = []

    def add(self, x: float) -> None:
        """Add ``x`` without rounding."""
        i = 0
        partials = self.partials
        for y in partials:
            if abs(x) < abs(y):
                x, y = y, x
            high = x + y
            low = y - (high - x)
            if low:
                partials[i] = low
                i += 1
            x = high
        partials[i:] = [x]

    @property
    def value(self) -> float:
        """The correctly rounded sum."""
        return math.fsum(self.partials)


def _keep_best(kept: list[Any], unit: Any, key: Callable[[Any], Any], n: int) -> None:
    """Insert ``unit`` into ``kept`` (sorted by ``key``) and keep only the ``n`` best."""
    kept.append(unit)
    kept.sort(key=key)
    del kept[n:]


def _top_key(unit: Any) -> tuple[float, str]:
    return -unit.score, unit.unit_id


def _support_key(unit: Any) -> tuple[bool, float, str]:
    return unit.speaker_role != "informant", -unit.score, unit.unit_id


class _CodeTally:
    """What one (level, key, code) row needs, in memory that does not grow with its number of units.

    The excerpt candidates kept are exactly those the row can quote: the
    ``TOP_EXCERPTS`` best units overall and, for :func:`supporting_excerpts`,
    per valence the best units and the best unit of each of the best sources.
    """

    __slots__ = ("n", "total", "sources", "n_valence", "top", "best", "best_by_source")

    def __init__(self) -> None:
        self.n = 0
        self.total = ExactSum()
        self.sources: dict[str, list[Any]] = {}  # source -> [ExactSum of scores, n positive, n negative]
        self.n_valence = dict.fromkeys(VALENCES, 0)
        self.top: list[Any] = []
        self.best: dict[str, list[Any]] = {v: [] for v in VALENCES}
        self.best_by_source: dict[str, list[Any]] = {v: [] for v in VALENCES}

    def add(self, unit: Any) -> None:
        self.n += 1
        self.total.add(unit.score)
        tally = self.sources.setdefault(unit.source, [ExactSum(), 0, 0])
        tally[0].add(unit.score)
        tally[1] += unit.valence == "positive"
        tally[2] += unit.valence == "negative"
        self.n_valence[unit.valence] += 1
        if len(self.top) < TOP_EXCERPTS or _top_key(unit) < _top_key(self.top[-1]):
            _keep_best(self.top, unit, _top_key, TOP_EXCERPTS)
        best = self.best[unit.valence]
        if len(best) < SUPPORTING_EXCERPTS or _support_key(unit) < _support_key(best[-1]):
            _keep_best(best, unit, _support_key, SUPPORTING_EXCERPTS)
        by_source = self.best_by_source[unit.valence]
        same = next((i for i, u in enumerate(by_source) if u.source == unit.source), None)
        if same is None:
            _keep_best(by_source, unit, _support_key, SUPPORTING_EXCERPTS)
        elif _support_key(unit) < _support_key(by_source[same]):
            by_source[same] = unit
            by_source.sort(key=_support_key)

    def candidates(self) -> list[Any]:
        """Every unit :func:`supporting_excerpts` could choose, without repeats."""
        pool = {u.unit_id: u for v in VALENCES for u in (*self.best[v], *self.best_by_source[v])}
        return list(pool.values())

    def row(self, scope: dict[str, str], codebook: Codebook, code: Code, n_codable: int) -> dict[str, Any]:
        """The evidence row (see :data:`EVIDENCE_COLUMNS`)."""
        informants = sorted(s.split("|", 1)[1] for s in self.sources if s.startswith("informant:"))
        strength = strength_from_supports(source_support([t[0].value]) for t in self.sources.values())
        balance = positive_balance((pos, neg) for _, pos, neg in self.sources.values())
        verdict_ = verdict(self.n, strength, balance)
        return {
            **scope,
            "codebook": codebook.id,
            "code": code.id,
            "code_name": code.name,
            "n_units": self.n,
            "n_codable": n_codable,
            "share": round(self.n / n_codable, 4),
            "n_informants": len(informants),
            "n_sources": len(self.sources),
            "informants": "; ".join(informants),
            "mean_score": round(self.total.value / self.n, 4) if self.n else math.nan,
            **{f"n_{v}": n for v, n in self.n_valence.items()},
            "positive_balance": round(float(balance), 4) if balance is not None else math.nan,
            "strength": round(strength, 4),
            "verdict": verdict_,
            "top_excerpts": _json([_excerpt(u) for u in self.top]),
            "supporting_excerpts": _json(supporting_excerpts(self.candidates(), verdict_)),
        }


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _scopes(unit: Any) -> Iterator[tuple[str, tuple[str, str, str]]]:
    """(level, (study, city, key)) of every evidence row a unit counts for.

    ``study`` and ``city`` rows pool every evidence unit; ``agency`` and
    ``informant`` rows only the informants' own words; an empty key is skipped.
    :func:`_scope_counts` applies the same rules to whole columns.
    """
    if unit.study:
        yield "study", (unit.study, "", unit.study)
    if unit.city:
        yield "city", ("", unit.city, unit.city)
    if unit.speaker_role == "informant":
        if unit.agency:
            yield "agency", (unit.study, unit.city, unit.agency)
        if unit.informant:
            yield "informant", (unit.study, unit.city, unit.informant)


def _scope_counts(frame: pd.DataFrame) -> dict[tuple[str, tuple[str, str, str]], int]:
    """Evidence units per scope of :func:`_scopes`, counted over whole columns (as Python lists: a chunk of a few
    thousand rows is counted ~2.7x faster than through pandas)."""
    study, city = frame["study"].tolist(), frame["city"].tolist()
    voices = [role == "informant" for role in frame["speaker_role"].tolist()]
    counts: Counter[tuple[str, tuple[str, str, str]]] = Counter()
    counts.update(("study", (s, "", s)) for s in study if s)
    counts.update(("city", ("", c, c)) for c in city if c)
    for level in ("agency", "informant"):
        counts.update((level, (s, c, k)) for s, c, k, voice in zip(study, city, frame[level].tolist(), voices)
                      if voice and k)
    return dict(counts)


class EvidenceAccumulator:
    """The evidence table built from units that arrive in chunks, in any order.

    ``add`` takes rows of :func:`evidence_units`; memory grows with the number
    of (level, key, code) rows, not with the number of units, and the table is
    the same however the units were chunked or ordered.
    """

    def __init__(self, codebook: Codebook) -> None:
        self.codebook = codebook
        self.codable: dict[tuple[str, tuple[str, str, str]], int] = {}
        self.tallies: dict[tuple[str, tuple[str, str, str]], dict[str, _CodeTally]] = {}

    def add(self, frame: pd.DataFrame) -> None:
        """Count a chunk of evidence units (rows of :func:`evidence_units`)."""
        for scope, n in _scope_counts(frame).items():
            self.codable[scope] = self.codable.get(scope, 0) + n
        for unit in frame[frame["code"] != UNCODED].itertuples(index=False):
            for scope in _scopes(unit):
                codes = self.tallies.setdefault(scope, {})
                tally = codes.get(unit.code)
                if tally is None:
                    tally = codes[unit.code] = _CodeTally()
                tally.add(unit)

    def table(self) -> pd.DataFrame:
        """One row per (level, key, code), ordered as :func:`evidence_table` documents."""
        rows = []
        for level in LEVELS:
            for scope in sorted(s for s in self.codable if s[0] == level):
                study, city, key = scope[1]
                fields = {"level": level, "key": key, "study": study, "city": city}
                codes = self.tallies.get(scope, {})
                for code in self.codebook.codes:
                    rows.append(codes.get(code.id, _CodeTally()).row(fields, self.codebook, code, self.codable[scope]))
        return pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)


def evidence_table(units: pd.DataFrame, codings: pd.DataFrame, codebook: Codebook) -> pd.DataFrame:
    """One row per (level, key, code) for the levels study, city, agency, informant.

    Rows are ordered by level (broad to narrow), study, city, key, then codes in
    codebook order; every code appears for every key.  See the module docstring.
    """
    accumulator = EvidenceAccumulator(codebook)
    accumulator.add(evidence_units(units, codings, codebook))
    return accumulator.table()


def summary_by_code(units: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """Coded share per code over all codable units (interviewer turns included): what the classifier did.

    One row per (codebook, code) with ``uncoded`` included; ``share`` is of the
    codable units coded with that codebook.  Ordered by codebook, then most units first.
    """
    _require_columns(units, ("unit_id", "kind"), "units")
    _require_columns(codings, _CODING_COLUMNS, "codings")
    codable = units.loc[units["kind"].isin(CODABLE_KINDS), ["unit_id"]]
    frame = codable.merge(codings[list(_CODING_COLUMNS)], on="unit_id", how="inner")
    rows = []
    for codebook_id, book in frame.groupby("codebook", sort=True):
        for code, coded in book.groupby("code", sort=True):
            counts = coded["valence"].value_counts()
            rows.append({
                "codebook": codebook_id,
                "code": code,
                "n_units": len(coded),
                "share": round(len(coded) / len(book), 4),
                "mean_score": round(float(coded["score"].astype(float).mean()), 4),
                **{f"n_{v}": int(counts.get(v, 0)) for v in VALENCES},
            })
    table = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
    table["_uncoded"] = table["code"] == UNCODED
    table = table.sort_values(["codebook", "_uncoded", "n_units", "code"], ascending=[True, True, False, True])
    return table.drop(columns="_uncoded").reset_index(drop=True)


def parse_excerpts(cell: str) -> Sequence[dict[str, Any]]:
    """Parse a ``top_excerpts`` / ``supporting_excerpts`` cell back into dicts."""
    return json.loads(cell) if cell else []
