"""What every coder (lexicon, embedding, ensemble) returns, and how predictions become Codings.

A coder follows the scikit-learn estimator contract on texts:
``predict(texts) -> np.ndarray[str]`` (code ids or ``uncoded``),
``predict_proba(texts) -> np.ndarray`` (columns = ``classes_``, ``uncoded`` last),
``get_params()``, optional ``fit(texts, labels)``; and additionally
``explain(texts) -> list[Prediction]`` with the evidence a researcher reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import pandas as pd

from pipeline.codebook import Codebook
from pipeline.findings import excluding_heading
from pipeline.schema import CODABLE_KINDS, UNCODED, Coding
from pipeline.tables import compact_json


@dataclass
class Prediction:
    """One text's decision: code, confidence, valence, and why."""

    code: str  # code id or UNCODED
    score: float  # confidence of ``code`` in [0, 1]
    valence: str  # positive | negative | neutral
    scores: dict[str, float] = field(default_factory=dict)  # per code id
    terms: list[dict[str, Any]] = field(default_factory=list)  # {term, code, start, end, weight}
    neighbours: list[dict[str, Any]] = field(default_factory=list)  # {text, code, similarity}
    valence_cues: list[dict[str, Any]] = field(default_factory=list)  # {cue, start, end, polarity}
    reason: str = ""

    def evidence_json(self) -> str:
        """The evidence as compact, key-sorted JSON (deterministic across runs)."""
        evidence = {
            "scores": {k: round(v, 4) for k, v in sorted(self.scores.items())},
            "terms": self.terms,
            "neighbours": self.neighbours,
            "valence_cues": self.valence_cues,
            "reason": self.reason,
        }
        return compact_json(evidence).decode("utf-8", "surrogatepass")


class Coder(Protocol):
    """The interface the pipeline relies on."""

    codebook: Codebook

    @property
    def model_id(self) -> str: ...

    def explain(self, texts: Sequence[str]) -> list[Prediction]: ...


def uncodable(why: str) -> Prediction:
    """The decision for a unit that is not an informant's or author's statement."""
    return Prediction(UNCODED, 0.0, "neutral", reason=why)


def why_not_coded(kind: str, speaker_role: str, code_interviewer: bool, section: str = "") -> str | None:
    """Why a unit is never sent to the coder, or None if it is coded.

    Structure (headings, headers, captions, references) is not speech; interviewer
    turns are questions and prompts, which the codebooks leave uncoded; a thesis's
    abstract, introduction, method and literature review are not its findings
    (:mod:`pipeline.findings`).
    """
    if kind not in CODABLE_KINDS:
        return f"{kind} units are not coded"
    if speaker_role == "interviewer" and not code_interviewer:
        return "interviewer turns are not coded (questions and prompts)"
    heading = excluding_heading(kind, section)
    if heading is not None:
        return f"not findings: under the heading '{heading}' (lexicons/uncoded_examples.yaml)"
    return None


def code_units(coder: Coder, units: pd.DataFrame, text_column: str = "text",
               code_interviewer: bool = False) -> pd.DataFrame:
    """One Coding row per unit (``uncoded`` included, with the reason), in unit order."""
    rows = coding_rows(coder, units, text_column, code_interviewer)
    return pd.DataFrame(rows, columns=list(Coding.__dataclass_fields__))


#: The unit columns :func:`coding_rows` reads (with its default text column).
CODER_COLUMNS = ("unit_id", "kind", "speaker_role", "section", "text")


def coding_rows(coder: Coder, units: pd.DataFrame, text_column: str = "text",
                code_interviewer: bool = False) -> list[dict[str, Any]]:
    """:func:`code_units` as plain rows (what a coding task returns, without a frame in between)."""
    roles = units["speaker_role"] if "speaker_role" in units else pd.Series("", index=units.index)
    sections = units["section"] if "section" in units else pd.Series("", index=units.index)
    reasons = [why_not_coded(k, r, code_interviewer, s) for k, r, s in zip(units["kind"], roles, sections)]
    codable = [reason is None for reason in reasons]
    texts = units.loc[codable, text_column].astype(str).tolist()
    predictions = iter(coder.explain(texts)) if texts else iter(())
    codebook_id, model_id = coder.codebook.id, coder.model_id
    rows = []
    for unit_id, reason in zip(units["unit_id"], reasons):
        pred = next(predictions) if reason is None else uncodable(reason)
        rows.append(
            Coding(
                unit_id=unit_id,
                codebook=codebook_id,
                code=pred.code,
                score=round(float(pred.score), 4),
                valence=pred.valence,
                model=model_id,
                evidence=pred.evidence_json(),
            ).to_row()
        )
    return rows
