"""Gold files: hand-coded units in JSON Lines, one record per line.

    {"id": "dev-001", "source": "003_....txt", "study": "...", "city": "Kota Pekanbaru",
     "framework": "tamtanus", "section_heading": "1. Koordinasi", "label": "koordinasi",
     "speaker": null, "agency": null, "text": "...", "kind": "researcher_narrative",
     "valence": "positive"}

Every line is checked; the first problem raises :class:`GoldError` with one
line naming ``file:line`` and the reason.  ``framework`` must be a shipped
codebook id, ``label`` one of its codes or ``uncoded``, ``valence`` one of
positive / negative / neutral.  Blank lines are skipped; extra fields are kept
out of the record but allowed (annotators add notes).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.codebook import CodebookError, load_codebook
from pipeline.schema import UNCODED, VALENCES

REQUIRED_TEXT_FIELDS: tuple[str, ...] = ("id", "framework", "label", "text", "valence")
OPTIONAL_TEXT_FIELDS: tuple[str, ...] = ("source", "study", "city", "section_heading", "speaker", "agency", "kind")


class GoldError(ValueError):
    """A gold file that cannot be used; the message is one line: ``<file>:<line>: <problem>``."""


@dataclass(frozen=True)
class GoldRecord:
    """One hand-coded text."""

    id: str
    framework: str  # codebook id
    label: str  # code id or UNCODED
    text: str
    valence: str
    source: str = ""
    study: str = ""
    city: str = ""
    section_heading: str = ""
    speaker: str = ""
    agency: str = ""
    kind: str = ""


def read_gold(path: str | Path) -> list[GoldRecord]:
    """All records of a gold JSONL file, checked; ids must be unique."""
    path = Path(path)
    records: list[GoldRecord] = []
    first_line_of: dict[str, int] = {}
    for number, data in _json_lines(path):
        where = f"{path}:{number}"
        record = parse_record(data, where)
        if record.id in first_line_of:
            raise GoldError(f"{where}: id '{record.id}' was already used on line {first_line_of[record.id]}")
        first_line_of[record.id] = number
        records.append(record)
    if not records:
        raise GoldError(f"{path}: no records")
    return records


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed JSON) of every non-blank line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise GoldError(f"{path}: file not found") from None
    except UnicodeDecodeError as exc:
        raise GoldError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise GoldError(f"{path}:{number}: invalid JSON ({exc.msg} at column {exc.colno})") from None


def parse_record(data: Any, where: str) -> GoldRecord:
    """Check one parsed line and build its record; ``where`` prefixes every message."""
    if not isinstance(data, dict):
        raise GoldError(f"{where}: expected a JSON object, got {type(data).__name__}")
    for name in REQUIRED_TEXT_FIELDS:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            problem = "missing" if name not in data else f"must be non-empty text, not {json.dumps(value)}"
            raise GoldError(f"{where}: field '{name}' {problem}")
    optional = {}
    for name in OPTIONAL_TEXT_FIELDS:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise GoldError(f"{where}: field '{name}' must be text or null, not {json.dumps(value)}")
        optional[name] = value or ""
    if data["valence"] not in VALENCES:
        raise GoldError(f"{where}: valence must be one of {', '.join(VALENCES)}, not '{data['valence']}'")
    _check_label(data["framework"], data["label"], where)
    return GoldRecord(
        id=data["id"], framework=data["framework"], label=data["label"], text=data["text"],
        valence=data["valence"], **optional,
    )


def _check_label(framework: str, label: str, where: str) -> None:
    """The framework is a codebook and the label one of its codes (or ``uncoded``)."""
    try:
        codebook = load_codebook(framework)
    except CodebookError as exc:
        raise GoldError(f"{where}: framework '{framework}' is not a codebook ({exc})") from None
    if label != UNCODED and label not in codebook:
        raise GoldError(
            f"{where}: label '{label}' is not a code of {framework} (codes: {', '.join(codebook.code_ids)}, {UNCODED})"
        )
