"""The records that flow between stages: Document, Unit, and the ingest report.

Every stage boundary uses these types (or their DataFrame form, one row per
record with the same field names).  Offsets are Python ``str`` offsets into
``Document.text`` with the end exclusive, so ``doc.text[u.start:u.end] == u.text``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: Metadata fields a document can carry (sidecar columns, header keys, YAML keys).
METADATA_FIELDS: tuple[str, ...] = (
    "study",
    "city",
    "informant",
    "role",
    "agency",
    "date",
    "framework",
)

#: Unit kinds.  ``utterance``: a sentence spoken in an interview turn;
#: ``narrative``: a sentence of researcher prose in a thesis; ``quote``: a
#: sentence inside a quoted interview excerpt in a thesis; ``heading``,
#: ``header`` (metadata lines), ``caption`` and ``reference`` (bibliography
#: entries) are structure, kept so nothing of the source is lost, and never coded.
UNIT_KINDS: tuple[str, ...] = ("utterance", "narrative", "quote", "heading", "header", "caption", "reference")
CODABLE_KINDS: frozenset[str] = frozenset({"utterance", "narrative", "quote"})

#: Speaker roles.
ROLES: tuple[str, ...] = ("interviewer", "informant", "researcher", "cited")


class IngestError(Exception):
    """A file that cannot be read; the message is one line naming the file and the reason."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


@dataclass
class RawText:
    """What a reader returns: decoded text plus how it was decoded."""

    text: str
    fmt: str  # txt | md | docx | pdf
    encoding: str  # the encoding used, or the container format
    notes: list[str] = field(default_factory=list)  # e.g. "encoding guessed: cp1252"


@dataclass
class Document:
    """One source file, decoded to NFC text with LF line ends."""

    doc_id: str  # content hash of the source bytes (12 hex)
    path: str  # relative to the corpus root, POSIX separators
    kind: str  # transcript | thesis
    fmt: str
    encoding: str
    text: str
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_row(self) -> dict[str, Any]:
        row = asdict(self)
        row.update({k: self.metadata.get(k, "") for k in METADATA_FIELDS})
        del row["metadata"]
        row["warnings"] = "\n".join(self.warnings)
        return row


@dataclass
class Unit:
    """One sentence-level utterance with exact offsets into its document."""

    doc_id: str
    unit_id: str  # f"{doc_id}-{index:05d}", stable across re-runs
    index: int
    start: int
    end: int
    text: str  # verbatim: Document.text[start:end]
    kind: str  # one of UNIT_KINDS
    block_id: str  # the turn (transcripts) or paragraph (theses) this sentence belongs to
    section: str = ""  # heading path, " > " joined
    speaker: str = ""
    speaker_role: str = ""  # one of ROLES, or "" when unknown
    informant: str = ""
    position: str = ""  # the informant's job title (metadata "role", "Jabatan")
    agency: str = ""
    city: str = ""
    study: str = ""
    path: str = ""
    text_clean: str = ""  # verbatim minus PDF artefacts (page numbers, broken hyphens, wraps)

    def to_row(self) -> dict[str, Any]:
        return dict(self.__dict__)  # scalar fields only: asdict() without its per-field deep copies (~40x faster)


@dataclass
class IngestReport:
    """What a batch read, skipped and why; printed at the end of every run."""

    read: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (path, message)

    def summary_lines(self) -> list[str]:
        lines = [f"read {len(self.read)} file(s), skipped {len(self.skipped)}, failed {len(self.failed)}"]
        lines += [f"  failed  {p}: {r}" for p, r in self.failed]
        lines += [f"  skipped {p}: {r}" for p, r in self.skipped]
        lines += [f"  warning {p}: {m}" for p, m in self.warnings]
        return lines

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


#: Valence ids (codebooks.md) and the answer for a unit that fits no code.
VALENCES: tuple[str, ...] = ("positive", "negative", "neutral")
UNCODED = "uncoded"


@dataclass
class Coding:
    """The classifier's decision for one unit: one row per unit, ``uncoded`` included.

    ``evidence`` is JSON text so it survives CSV/parquet/xlsx alike:
    ``{"terms": [{"term", "code", "start", "end", "weight"}],  # offsets into Unit.text
       "neighbours": [{"text", "code", "similarity"}],
       "scores": {code: score}, "valence_cues": [{"cue", "start", "end", "polarity"}],
       "reason": str}``
    """

    unit_id: str
    codebook: str
    code: str  # a code id of the codebook, or UNCODED
    score: float  # confidence of ``code`` in [0, 1]
    valence: str  # one of VALENCES (also for uncoded units a model read; "neutral" for units never read)
    model: str  # model id, e.g. "lexicon:perry6@<hash>"
    evidence: str = "{}"

    def to_row(self) -> dict[str, Any]:
        return dict(self.__dict__)  # scalar fields only: asdict() without its per-field deep copies (~40x faster)
