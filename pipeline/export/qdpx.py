"""REFI-QDA project export (``.qdpx``): the coded corpus for NVivo, ATLAS.ti, MAXQDA and QualCoder.

A ``.qdpx`` is a ZIP holding ``project.qde`` (XML, namespace ``urn:QDA-XML:project:1.0``)
and ``sources/<guid>.txt``: every document's text, UTF-8 without BOM, exactly as
ingested, so selection offsets (Unicode code points from 0, end exclusive, the
same as Python ``str`` slices) point at the same characters in every tool.
(The standard's prose says a selection is "defined by the first and the last
character", but its own examples, e.g. ``granola`` at 62-69, and the tools'
importers slice end-exclusive.)

What the project holds:

* the codebook's codes, written by :func:`pipeline.export.qdc.codes_element`
  (same GUIDs as the ``.qdc`` export), plus a ``valence`` folder code with the
  codes ``positive``, ``negative`` and ``neutral``;
* one ``TextSource`` per document, one ``PlainTextSelection`` per coded unit
  (uncoded units get none) carrying two ``Coding``s, the framework code and the
  valence code, and a ``Description`` summarising score, model and evidence;
* one ``Case`` per informant with the variables ``agency``, ``city`` and
  ``role``, linked to the documents of that informant (``SourceRef``) and to
  the coded selections the informant spoke (``SelectionRef``); the document's
  study is a source variable ``study``;
* one user, ``wogcode``, as the creator of everything.

Why valence is a code group and not a note: a coding is the one thing all four
tools import and query alike.  As codes, valence can be crossed with the
framework codes in NVivo matrix queries, ATLAS.ti's code co-occurrence table,
MAXQDA's code relations browser and QualCoder's co-occurrence report ("which
coordination passages are negative?"), which is the analysis researchers run.
Notes and descriptions are imported differently by each tool (as memos,
annotations or comments) and none can query them.  So only the score and
evidence, which nobody queries, go into the selection's ``Description``
(QualCoder's coding memo, ATLAS.ti's quotation comment).

Re-exports are byte-identical: GUIDs are uuid5 of stable ids (document id,
unit id, informant), the creation date is fixed unless the caller passes one,
elements are sorted, and ZIP entries carry a fixed timestamp.

``pseudonymise`` maps real names to pseudonyms.  Every string written (text,
document names, case names, variable values, descriptions) passes through it
(:class:`pipeline.privacy.Pseudonymiser`): whole-word, case-sensitive, longest
name first, and selection offsets are moved to match the changed text.  Case
GUIDs are derived from the pseudonym, never from the real name.  (``wogcode
run --pseudonymise`` pseudonymises the corpus right after ingest instead, so
this export, like every other, already receives pseudonymised frames.)
"""

from __future__ import annotations

import json
import math
import re
import tempfile
import uuid
import xml.etree.ElementTree as ET
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pandas as pd

from pipeline import __version__
from pipeline.atomic import write_with
from pipeline.codebook import Codebook
from pipeline.export.qdc import code_guid, codes_element, uuid5_text
from pipeline.export.zip_entry import zip_entry
from pipeline.privacy import Pseudonymiser
from pipeline.schema import UNCODED, VALENCES

PROJECT_NS = "urn:QDA-XML:project:1.0"

#: Fixed namespace for the GUIDs of sources, selections, codings, cases, variables, the user.
GUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://wogcode.invalid/refi-qda/project")

#: Key of the valence folder code in :func:`code_guid`; the hyphen keeps it apart from codebook ids.
VALENCE_KEY = "wogcode-valence"
VALENCE_COLORS: dict[str, str] = {"positive": "#2E7D32", "negative": "#C62828", "neutral": "#757575"}
VALENCE_DESCRIPTIONS: dict[str, str] = {
    "positive": "Achieved, an enabler, works well.",
    "negative": "Not achieved, a barrier or a problem.",
    "neutral": "Definition or description without a verdict.",
}

USER_NAME = "wogcode"
#: Default creation date: the ZIP epoch, meaning "no real timestamp"; pass ``created`` for a real one.
DEFAULT_CREATED = datetime(1980, 1, 1, tzinfo=timezone.utc)

#: Case variables (informant attributes) and where they come from in units / document metadata.
CASE_VARIABLES: tuple[str, ...] = ("agency", "city", "role")
SOURCE_VARIABLES: tuple[str, ...] = ("study",)
VARIABLE_DESCRIPTIONS: dict[str, str] = {
    "agency": "The informant's agency (instansi).",
    "city": "City or regency of the informant.",
    "role": "The informant's position (jabatan).",
    "study": "The study the document belongs to.",
}
#: Speaker roles whose units are not an informant's words.
NOT_INFORMANT_ROLES = frozenset({"interviewer", "researcher"})

#: The REFI-QDA limit on an internal file (2 GiB - 1 byte).
MAX_SOURCE_BYTES = 2**31 - 1
#: Characters encoded and written at a time (source texts, the spooled project XML).
WRITE_CHARS = 1 << 20
SELECTION_NAME_CHARS = 60

DOCUMENT_COLUMNS = ("doc_id", "path", "kind", "text")
UNIT_COLUMNS = ("unit_id", "doc_id", "start", "end", "text")
CODING_COLUMNS = ("unit_id", "codebook", "code", "score", "valence", "model", "evidence")

_XML_INVALID = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class QdpxError(ValueError):
    """Input that cannot be exported or a ``.qdpx`` that cannot be read; the message is one line."""


# --------------------------------------------------------------------------- small helpers


def project_guid(kind: str, key: str) -> str:
    """Deterministic GUID of a project element: uuid5 of ``"<kind>:<key>"``."""
    return uuid5_text(GUID_NAMESPACE, f"{kind}:{key}")


def valence_guid(valence: str | None = None) -> str:
    """GUID of a valence code (or, with ``None``, of the valence folder code); the same in every project."""
    return code_guid(VALENCE_KEY, valence)


def _text(value: Any) -> str:
    """A cell as a string: ``None``/NaN (empty CSV cells) become ``""``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def _tidy(text: str) -> str:
    """Whitespace runs collapsed to one space (names and variable values from metadata are often untidy)."""
    return " ".join(text.split())


def _xml_safe(text: str) -> str:
    """Drop characters XML 1.0 cannot carry (control characters)."""
    return _XML_INVALID.sub("", text)


def _iso(moment: datetime) -> str:
    """An ``xsd:dateTime`` in UTC, whole seconds: ``2025-03-14T09:00:00Z``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _require(frame: pd.DataFrame, columns: Iterable[str], label: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise QdpxError(f"{label}: missing column(s) {', '.join(missing)}")


Row = Mapping[str, Any]  # one table row as a dict (``to_dict("records")``: much faster than ``iterrows``)


def _column(row: Row, name: str) -> str:
    """A text cell that may be absent from the frame."""
    return _text(row[name]) if name in row else ""


def _most_common(counts: Counter[str]) -> str:
    """The most frequent non-empty value (ties: alphabetical first), or ``""``."""
    present = [v for v in counts if v]
    return min(present, key=lambda v: (-counts[v], v)) if present else ""


# --------------------------------------------------------------------------- the project model


@dataclass
class Selection:
    """One coded unit as it will appear in the project."""

    guid: str
    unit_id: str
    start: int
    end: int
    name: str
    description: str
    code_guids: list[str]


@dataclass
class Source:
    """One document as a text source."""

    guid: str
    name: str
    text: str
    description: str
    variables: dict[str, str]


@dataclass
class Case:
    """One informant."""

    guid: str
    key: tuple[str, str]  # (study, informant), pseudonymised
    name: str = ""
    variables: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    source_guids: set[str] = field(default_factory=set)
    selection_guids: set[str] = field(default_factory=set)


@dataclass
class ProjectDocument:
    """One document as the project writer takes it: its row, its coded units with their codings.

    ``coded`` is in text order (start, end, unit id) and is drawn once; it may
    be lazy, filling in ``n_units`` and ``models`` as it is drawn, so a huge
    document never has to be held whole.
    """

    doc: Row
    coded: Iterable[tuple[Row, list[Row]]]
    n_units: int  # all its units, coded or not (for the project description)
    models: list[str]  # models that coded its units


def project_documents(
    documents: pd.DataFrame, units: pd.DataFrame, codings: pd.DataFrame, codebook: Codebook
) -> Iterator[ProjectDocument]:
    """Check the frames against each other; yield each document with its coded units, sorted by path."""
    _require(documents, DOCUMENT_COLUMNS, "documents")
    _require(units, UNIT_COLUMNS, "units")
    _require(codings, CODING_COLUMNS, "codings")
    for frame, column, label in ((documents, "doc_id", "documents"), (units, "unit_id", "units")):
        repeated = frame.loc[frame[column].duplicated(), column]
        if len(repeated):
            raise QdpxError(f"{label}: {column} '{repeated.iloc[0]}' occurs more than once")
    coded = _coded_rows(codings, codebook)
    coded_units = units[units["unit_id"].map(_text).isin(coded)]
    unit_rows = {_text(row["unit_id"]): row for row in coded_units.to_dict("records")}
    by_doc: dict[str, list[tuple[Row, list[Row]]]] = defaultdict(list)
    for unit_id, rows in coded.items():
        if unit_id not in unit_rows:
            raise QdpxError(f"codings: unit '{unit_id}' is not in the units table")
        by_doc[_text(unit_rows[unit_id]["doc_id"])].append((unit_rows[unit_id], rows))
    known_docs = {_text(d) for d in documents["doc_id"]}
    for doc_id in by_doc:
        if doc_id not in known_docs:
            raise QdpxError(f"units: document '{doc_id}' of a coded unit is not in the documents table")
    n_units = units.groupby(units["doc_id"].map(_text)).size().to_dict()
    models = sorted({_text(m) for m in codings["model"]} - {""})
    for doc in documents.sort_values(["path", "doc_id"], kind="stable").to_dict("records"):
        doc_id = _text(doc["doc_id"])
        coded_units = sorted(by_doc.get(doc_id, []), key=_text_order)
        yield ProjectDocument(doc, coded_units, n_units.get(doc_id, 0), models)


def _text_order(coded: tuple[Row, list[Row]]) -> tuple[int, int, str]:
    unit = coded[0]
    return int(unit["start"]), int(unit["end"]), _text(unit["unit_id"])


def _coded_rows(codings: pd.DataFrame, codebook: Codebook) -> dict[str, list[Row]]:
    """Codings of this codebook that carry a code, grouped by unit; unknown codes are errors."""
    books = sorted({_text(b) for b in codings["codebook"]})
    mine = codings[codings["codebook"].map(_text) == codebook.id]
    if len(codings) and mine.empty:
        raise QdpxError(f"codings: no rows for codebook '{codebook.id}' (found: {', '.join(books)})")
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in mine.to_dict("records"):
        code, valence = _text(row["code"]), _text(row["valence"])
        if code == UNCODED:
            continue
        if code not in codebook:
            raise QdpxError(f"codings: unit '{row['unit_id']}' has code '{code}', which codebook '{codebook.id}' lacks")
        if valence and valence not in VALENCES:
            expected = ", ".join(VALENCES)
            raise QdpxError(f"codings: unit '{row['unit_id']}' has valence '{valence}' (expected {expected})")
        grouped[_text(row["unit_id"])].append(row)
    order = {code_id: i for i, code_id in enumerate(codebook.code_ids)}
    for rows in grouped.values():  # the input's row order must not change the output
        rows.sort(key=lambda r: (order[_text(r["code"])], _text(r["valence"]), _text(r["model"]), float(r["score"])))
    return grouped


def _check_text(label: str, text: str) -> None:
    """Refuse texts other tools would read with shifted offsets, or that exceed the format's limit."""
    if "\r" in text:
        raise QdpxError(f"{label}: text contains CR line ends; offsets would drift in other tools (ingest writes LF)")
    if text.startswith("\ufeff"):
        raise QdpxError(f"{label}: text starts with a byte-order mark; other tools drop it and shift every offset")
    if len(text) * 4 > MAX_SOURCE_BYTES and len(text.encode("utf-8")) > MAX_SOURCE_BYTES:  # encode only near it
        raise QdpxError(f"{label}: text exceeds the REFI-QDA limit of 2 GiB per source file")


def _source(doc: Row, pseudo: Pseudonymiser, cases: dict[tuple[str, str], Case]) -> tuple[Source, str, Callable]:
    """A document as a :class:`Source`, its original text and the offset mover; registers its informant."""
    doc_id, path, original = _text(doc["doc_id"]), _text(doc["path"]), _text(doc["text"])
    _check_text(path or doc_id, original)
    text, move = pseudo.with_offsets(original)
    study = _tidy(pseudo(_column(doc, "study")))
    source = Source(
        guid=project_guid("source", doc_id),
        name=pseudo(path) or doc_id,
        text=text,
        description=pseudo(f"{_column(doc, 'kind')} {path} (doc_id {doc_id})").strip(),
        variables={"study": study} if study else {},
    )
    informant = _tidy(pseudo(_column(doc, "informant")))
    if informant:
        case = _case(cases, study, informant)
        case.source_guids.add(source.guid)
        for name, column in (("agency", "agency"), ("city", "city"), ("role", "role")):
            case.variables[name][_tidy(pseudo(_column(doc, column)))] += 1
    return source, original, move


def _selections(doc: Row, source: Source, original: str, move: Callable[[int, int], tuple[int, int]],
                coded: Iterable[tuple[Row, list[Row]]], codebook: Codebook, pseudo: Pseudonymiser,
                cases: dict[tuple[str, str], Case]) -> Iterator[Selection]:
    """The document's coded units as selections, one at a time; registers the informants who spoke them."""
    label = _text(doc["path"]) or _text(doc["doc_id"])
    study = source.variables.get("study", "")
    for unit, rows in coded:
        selection = _selection(unit, rows, original, source.text, move, codebook, pseudo, label)
        speaker = _tidy(pseudo(_column(unit, "informant")))
        if speaker and _column(unit, "speaker_role") not in NOT_INFORMANT_ROLES:
            case = _case(cases, study, speaker)
            case.selection_guids.add(selection.guid)
            for name, column in (("agency", "agency"), ("city", "city"), ("role", "position")):
                case.variables[name][_tidy(pseudo(_column(unit, column)))] += 1
        yield selection


def _selection(
    unit: Row,
    rows: list[Row],
    original: str,
    text: str,
    move: Callable[[int, int], tuple[int, int]],
    codebook: Codebook,
    pseudo: Pseudonymiser,
    doc_label: str,
) -> Selection:
    """A coded unit as a :class:`Selection`; its offsets must reproduce its text."""
    unit_id = _text(unit["unit_id"])
    start, end = int(unit["start"]), int(unit["end"])
    if not 0 <= start < end <= len(original) or original[start:end] != _text(unit["text"]):
        raise QdpxError(f"units: unit '{unit_id}' [{start}:{end}] does not match the text of {doc_label}")
    new_start, new_end = move(start, end)
    snippet = " ".join(text[new_start:new_end].split())
    name = snippet if len(snippet) <= SELECTION_NAME_CHARS else snippet[: SELECTION_NAME_CHARS - 1] + "…"
    codes = [c.id for c in codebook.codes if any(_text(r["code"]) == c.id for r in rows)]
    valences = [v for v in VALENCES if any(_text(r["valence"]) == v for r in rows)]
    return Selection(
        guid=project_guid("selection", unit_id),
        unit_id=unit_id,
        start=new_start,
        end=new_end,
        name=name,
        description=pseudo(" | ".join(_coding_summary(r, codebook) for r in rows)),
        code_guids=[code_guid(codebook.id, c) for c in codes] + [valence_guid(v) for v in valences],
    )


def _coding_summary(row: Row, codebook: Codebook) -> str:
    """One line per coding: code, score, valence, model, matched terms and valence cues, reason."""
    unit_id = _text(row["unit_id"])
    raw = _text(row["evidence"]).strip() or "{}"
    try:
        evidence = json.loads(raw)
    except json.JSONDecodeError:
        raise QdpxError(f"codings: unit '{unit_id}': evidence is not valid JSON") from None
    if not isinstance(evidence, dict):
        raise QdpxError(f"codings: unit '{unit_id}': evidence must be a JSON object")
    code = codebook.get(_text(row["code"]))
    parts = [f"{code.name} ({code.id}), score {float(row['score']):.2f}"]
    if _text(row["valence"]):
        parts.append(f"valence {_text(row['valence'])}")
    parts.append(f"model {_text(row['model'])}")
    terms = _unique(t.get("term", "") for t in evidence.get("terms", []) if isinstance(t, dict))
    if terms:
        parts.append("terms: " + ", ".join(terms[:8]))
    cues = _unique(c.get("cue", "") for c in evidence.get("valence_cues", []) if isinstance(c, dict))
    if cues:
        parts.append("valence cues: " + ", ".join(cues[:8]))
    reason = " ".join(str(evidence.get("reason", "")).split())
    if reason:
        parts.append(reason[:200])
    return "; ".join(parts)


def _unique(items: Iterable[Any]) -> list[str]:
    """Non-empty strings in first-seen order, without repeats."""
    return list(dict.fromkeys(str(i) for i in items if i))


def _case(cases: dict[tuple[str, str], Case], study: str, informant: str) -> Case:
    key = (study, informant)
    if key not in cases:
        cases[key] = Case(guid=project_guid("case", f"{study}\x1f{informant}"), key=key)
    return cases[key]


def _named_cases(cases: dict[tuple[str, str], Case]) -> list[Case]:
    """Name each case after its informant, adding the study when two studies share a name; sort by name."""
    studies_per_name: dict[str, set[str]] = defaultdict(set)
    for study, informant in cases:
        studies_per_name[informant].add(study)
    for (study, informant), case in cases.items():
        shared = len(studies_per_name[informant]) > 1
        case.name = f"{informant} ({study or 'no study'})" if shared else informant
    return sorted(cases.values(), key=lambda c: (c.name, c.guid))


def _project_description(codebook: Codebook, models: Iterable[str], n_coded: int, n_units: int) -> str:
    return (
        f"Exported by wogcode {__version__}. Codebook {codebook.id} {codebook.version} ({codebook.content_hash}): "
        f"{codebook.name}. Models: {', '.join(sorted(models)) or 'none'}. {n_coded} of {n_units} units carry a code; "
        "uncoded units have no selection. Every coded selection also carries one valence code "
        "(positive, negative, neutral) and a description with the score and evidence. "
        "Selections count Unicode code points from 0, end exclusive."
    )


# --------------------------------------------------------------------------- XML


#: Stands where the spooled ``TextSource`` elements go in ``project.qde``.
_SOURCES_MARK = "wogcode-sources"


def _project_head_and_tail(writer: QdpxWriter) -> tuple[str, str]:
    """``project.qde`` before and after the ``TextSource`` elements, children in the order the schema requires."""
    root = ET.Element("Project", {
        "xmlns": PROJECT_NS,
        "name": _xml_safe(writer.name),
        "origin": f"wogcode {__version__}",
        "creatingUserGUID": writer.user,
        "creationDateTime": writer.created,
    })
    users = ET.SubElement(root, "Users")
    ET.SubElement(users, "User", {"guid": writer.user, "name": USER_NAME})
    codebook_element = ET.SubElement(root, "CodeBook")
    codes = codes_element(writer.codebook)
    codes.append(_valence_codes())
    codebook_element.append(codes)
    cases = _named_cases(writer.cases)
    variables = _used_variables(cases, writer.source_variables)
    if variables:
        container = ET.SubElement(root, "Variables")
        for name in variables:
            element = ET.SubElement(container, "Variable", {
                "guid": project_guid("variable", name), "name": name, "typeOfVariable": "Text"})
            ET.SubElement(element, "Description").text = VARIABLE_DESCRIPTIONS[name]
    if cases:
        container = ET.SubElement(root, "Cases")
        for case in cases:
            container.append(_case_element(case))
    if writer.n_sources:
        ET.SubElement(root, "Sources").append(ET.Comment(_SOURCES_MARK))
    description = _project_description(writer.codebook, writer.models, writer.n_coded, writer.n_units)
    ET.SubElement(root, "Description").text = _xml_safe(description)
    ET.indent(root, space="  ")
    body = f'<?xml version="1.0" encoding="utf-8"?>\n{ET.tostring(root, encoding="unicode")}\n'
    if not writer.n_sources:
        return body, ""
    head, tail = body.split(f"    <!--{_SOURCES_MARK}-->\n")
    return head, tail


def _valence_codes() -> ET.Element:
    """The ``valence`` folder code with one codable code per valence."""
    folder = ET.Element("Code", {"guid": valence_guid(), "name": "valence", "isCodable": "false"})
    ET.SubElement(folder, "Description").text = "How the passage judges what it describes (wogcode valence)."
    for valence in VALENCES:
        code = ET.SubElement(folder, "Code", {
            "guid": valence_guid(valence), "name": valence, "isCodable": "true", "color": VALENCE_COLORS[valence]})
        ET.SubElement(code, "Description").text = VALENCE_DESCRIPTIONS[valence]
    return folder


def _used_variables(cases: list[Case], source_variables: set[str]) -> list[str]:
    """Variables that at least one case or source has a value for, in a fixed order."""
    used = {name for case in cases for name, values in case.variables.items() if _most_common(values)}
    used |= source_variables
    return [name for name in (*CASE_VARIABLES, *SOURCE_VARIABLES) if name in used]


def _variable_value(parent: ET.Element, name: str, value: str) -> None:
    element = ET.SubElement(parent, "VariableValue")
    ET.SubElement(element, "VariableRef", {"targetGUID": project_guid("variable", name)})
    ET.SubElement(element, "TextValue").text = _xml_safe(value)


def _case_element(case: Case) -> ET.Element:
    element = ET.Element("Case", {"guid": case.guid, "name": _xml_safe(case.name)})
    study = case.key[0]
    if study:
        ET.SubElement(element, "Description").text = _xml_safe(f"Informant in {study}")
    for name in CASE_VARIABLES:
        value = _most_common(case.variables.get(name, Counter()))
        if value:
            _variable_value(element, name, value)
    for guid in sorted(case.source_guids):
        ET.SubElement(element, "SourceRef", {"targetGUID": guid})
    for guid in sorted(case.selection_guids):
        ET.SubElement(element, "SelectionRef", {"targetGUID": guid})
    return element


#: Where a source's selections go in its serialised element (replaced by them).
_SELECTIONS_MARK = "wogcode:selections"


def _source_xml(source: Source, selections: Iterator[Selection], user: str, created: str) -> Iterator[str]:
    """The ``TextSource`` element as indented XML text, a selection at a time (``ET.indent`` level 2 layout)."""
    first = next(selections, None)
    element = ET.Element("TextSource", {
        "guid": source.guid,
        "name": _xml_safe(source.name),
        "plainTextPath": f"internal://{source.guid}.txt",
        "creatingUser": user,
        "creationDateTime": created,
    })
    ET.SubElement(element, "Description").text = _xml_safe(source.description)
    if first is not None:
        element.append(ET.Comment(_SELECTIONS_MARK))
    for name, value in source.variables.items():
        _variable_value(element, name, value)
    ET.indent(element, space="  ", level=2)
    xml = "    " + ET.tostring(element, encoding="unicode") + "\n"
    if first is None:
        yield xml
        return
    head, tail = xml.split(f"<!--{_SELECTIONS_MARK}-->")
    yield head
    yield _selection_xml(first, user, created)
    for selection in selections:
        yield "\n      "
        yield _selection_xml(selection, user, created)
    yield tail


#: What ElementTree escapes in an attribute value besides ``&<>`` (``escape`` does those).
_ATTRIBUTE_ENTITIES = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}


def _escape_attribute(value: str) -> str:
    """An attribute value escaped as ElementTree writes it (quotes and line breaks too)."""
    return escape(value, _ATTRIBUTE_ENTITIES)


def _selection_xml(selection: Selection, user: str, created: str) -> str:
    """One ``PlainTextSelection`` with its codings, indented as a child of a level-2 ``TextSource``.

    Written from a template, not through ElementTree (a third of the project's
    time went into building and serialising these elements); the bytes are
    ElementTree's at ``ET.indent`` level 3, which a test checks.
    """
    stamp = f'creatingUser="{_escape_attribute(user)}" creationDateTime="{_escape_attribute(created)}"'
    description = escape(_xml_safe(selection.description))
    parts = [
        f'<PlainTextSelection guid="{_escape_attribute(selection.guid)}" '
        f'name="{_escape_attribute(_xml_safe(selection.name))}" startPosition="{selection.start}" '
        f'endPosition="{selection.end}" {stamp}>\n        ',
        f"<Description>{description}</Description>" if description else "<Description />",
    ]
    for target in selection.code_guids:
        guid = project_guid("coding", f"{selection.unit_id}\x1f{target}")
        parts.append(f'\n        <Coding guid="{guid}" {stamp}>\n          '
                     f'<CodeRef targetGUID="{_escape_attribute(target)}" />\n        </Coding>')
    parts.append("\n      </PlainTextSelection>")
    return "".join(parts)


# --------------------------------------------------------------------------- the archive


class QdpxWriter:
    """Writes a REFI-QDA project a document at a time, in memory that does not grow with the corpus.

    Each source's text goes into the archive at once and its ``TextSource``
    element to a spool file; what depends on the whole corpus (cases,
    variables, the description) is written by :meth:`close`, which then copies
    the spooled sources into ``project.qde``, the archive's last member.
    Fixed timestamps, permissions and host system: the same documents in the
    same order give the same bytes.
    """

    def __init__(self, target: Path, codebook: Codebook, *, pseudonymise: dict[str, str] | None = None,
                 created: datetime | None = None, project_name: str | None = None) -> None:
        self.codebook, self.pseudo = codebook, Pseudonymiser(pseudonymise)
        self.user, self.created = project_guid("user", USER_NAME), _iso(created or DEFAULT_CREATED)
        self.name = self.pseudo(project_name or f"wogcode {codebook.id}")
        self.cases: dict[tuple[str, str], Case] = {}
        self.source_variables: set[str] = set()
        self.models: set[str] = set()
        self.n_sources = self.n_coded = self.n_units = 0
        self._archive = zipfile.ZipFile(target, "w")
        self._spool = tempfile.TemporaryFile("w+", encoding="utf-8")

    def add(self, item: ProjectDocument) -> None:
        """Write one document's source text and spool its XML, a selection at a time."""
        source, original, move = _source(item.doc, self.pseudo, self.cases)
        with self._archive.open(zip_entry(f"sources/{source.guid}.txt"), "w") as member:
            for start in range(0, len(source.text), WRITE_CHARS):  # a huge text is not encoded whole
                member.write(source.text[start:start + WRITE_CHARS].encode("utf-8"))
        selections = _selections(item.doc, source, original, move, item.coded, self.codebook, self.pseudo,
                                 self.cases)
        for piece in _source_xml(source, self._counted(selections), self.user, self.created):
            self._spool.write(piece)
        self.source_variables.update(source.variables)
        self.models.update(item.models)  # complete now that ``item.coded`` has been drawn
        self.n_sources += 1
        self.n_units += item.n_units

    def _counted(self, selections: Iterable[Selection]) -> Iterator[Selection]:
        for selection in selections:
            self.n_coded += 1
            yield selection

    def close(self) -> None:
        """Write ``project.qde`` and finish the archive."""
        head, tail = _project_head_and_tail(self)
        with self._archive.open(zip_entry("project.qde"), "w", force_zip64=True) as member:
            member.write(head.encode("utf-8"))
            self._spool.seek(0)
            while piece := self._spool.read(WRITE_CHARS):
                member.write(piece.encode("utf-8"))
            member.write(tail.encode("utf-8"))
        self._spool.close()
        self._archive.close()


def write_qdpx_documents(items: Iterable[ProjectDocument], codebook: Codebook, out_path: str | Path, *,
                         pseudonymise: dict[str, str] | None = None, created: datetime | None = None,
                         project_name: str | None = None) -> Path:
    """Write a REFI-QDA project from documents given one at a time, atomically; returns ``out_path``."""

    def write(tmp: Path) -> None:
        writer = QdpxWriter(tmp, codebook, pseudonymise=pseudonymise, created=created, project_name=project_name)
        for item in items:
            writer.add(item)
        writer.close()

    write_with(out_path, write)
    return Path(out_path)


def write_qdpx(
    documents: pd.DataFrame,
    units: pd.DataFrame,
    codings: pd.DataFrame,
    codebook: Codebook,
    out_path: str | Path,
    *,
    pseudonymise: dict[str, str] | None = None,
    created: datetime | None = None,
    project_name: str | None = None,
) -> Path:
    """Write the coded corpus as a REFI-QDA project atomically; returns ``out_path``.

    ``created`` is the creation date written on every element (default: a fixed
    date, so the same input always gives the same bytes).
    """
    return write_qdpx_documents(project_documents(documents, units, codings, codebook), codebook, out_path,
                                pseudonymise=pseudonymise, created=created, project_name=project_name)
