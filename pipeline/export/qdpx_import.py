"""Read a REFI-QDA project (``.qdpx``) from any tool, safely, and turn hand-coding into gold data.

A researcher who coded interviews by hand in NVivo, ATLAS.ti, MAXQDA or
QualCoder exports a ``.qdpx``; :func:`read_qdpx` gives back its texts and its
coded text selections, and :func:`qdpx_to_gold` turns those into records in
the gold JSONL format (``text``, ``label``, ``valence``, ``speaker``, ...), so
they can train or evaluate a model.

The archive comes from someone else, so reading is defensive: nothing is
extracted to disk; members with ``..`` or absolute paths, archives with too many
members, members that are absurdly large or compress suspiciously well (zip
bombs) are refused; the XML is parsed with ``defusedxml`` (no DTDs, no
entities, so no external entities or entity bombs); a missing source file is
an error naming the file.  Every problem is one :class:`QdpxError` line.

Conventions of other tools handled here: GUIDs are compared case-insensitively
and without braces; the sources folder may be ``sources`` or ``Sources``; a
nameless ``Case`` with one ``SourceRef`` carries *source* variables (MAXQDA,
Quirkos); a ``Coding`` whose target is a case GUID assigns the selection or
source to that case (NVivo); ATLAS.ti counts a CR LF line end as one position,
so its texts are read with LF line ends.  Selections without a coding and
codings of whole sources are not coding of a passage and are left out.
"""

from __future__ import annotations

import json
import logging
import xml.etree.ElementTree as ET
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd
from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from pipeline.codebook import heading_key, load_codebook
from pipeline.export.qdc import code_guid
from pipeline.export.qdpx import QdpxError, valence_guid
from pipeline.schema import VALENCES

log = logging.getLogger(__name__)

MAX_MEMBERS = 10_000
#: Largest project.qde or text source read (bytes, uncompressed).
MAX_READ_BYTES = 256 * 2**20
#: Largest total the archive may declare (bytes, uncompressed), media included.
MAX_TOTAL_BYTES = 4 * 2**30
#: Largest compression ratio accepted for a member bigger than ``RATIO_FLOOR`` bytes.
MAX_RATIO = 200
RATIO_FLOOR = 2**20

SELECTION_COLUMNS = (
    "doc_name", "source_guid", "selection_guid", "start", "end", "text",
    "code_name", "code_guid", "code_path", "case", "variables",
)
DOCUMENT_COLUMNS = ("doc_name", "source_guid", "text", "case", "variables")


# --------------------------------------------------------------------------- the archive


def _member_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a member is unsafe (a path leaving the archive, a zip bomb), or ``None``."""
    name = info.filename.replace("\\", "/")
    parts = PurePosixPath(name).parts
    if name.startswith("/") or (parts and parts[0].endswith(":")):
        return f"member '{info.filename}' has an absolute path"
    if ".." in parts:
        return f"member '{info.filename}' has a '..' path component"
    if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
        ratio = info.file_size // max(info.compress_size, 1)
        return f"member '{info.filename}' expands {ratio}x (over {MAX_RATIO}x: a zip bomb?)"
    return None


def open_archive(path: Path) -> zipfile.ZipFile:
    """Open a ``.qdpx`` after checking every member's path and size; raises :class:`QdpxError`."""
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise QdpxError(f"{path}: file not found") from None
    except (zipfile.BadZipFile, OSError) as exc:
        raise QdpxError(f"{path}: not a ZIP archive ({exc})") from None
    infos = archive.infolist()
    problem = None
    if len(infos) > MAX_MEMBERS:
        problem = f"{len(infos)} members (limit {MAX_MEMBERS})"
    elif len({i.filename for i in infos}) < len(infos):
        problem = "a member name occurs twice (which copy a tool reads is undefined)"
    elif sum(i.file_size for i in infos) > MAX_TOTAL_BYTES:
        problem = f"members expand to more than {MAX_TOTAL_BYTES // 2**30} GiB"
    else:
        problem = next((p for p in map(_member_problem, infos) if p), None)
    if problem:
        archive.close()
        raise QdpxError(f"{path}: refused: {problem}")
    return archive


def read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str) -> bytes:
    """A member's bytes, refusing more than :data:`MAX_READ_BYTES` whatever its header claims."""
    if info.file_size > MAX_READ_BYTES:
        raise QdpxError(f"{label}: refused: '{info.filename}' is {info.file_size} bytes (limit {MAX_READ_BYTES})")
    try:
        with archive.open(info) as stream:
            data = stream.read(MAX_READ_BYTES + 1)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise QdpxError(f"{label}: cannot read '{info.filename}' ({exc})") from None
    if len(data) > MAX_READ_BYTES:
        raise QdpxError(f"{label}: refused: '{info.filename}' expands beyond {MAX_READ_BYTES} bytes")
    return data


def _project_member(archive: zipfile.ZipFile, label: str) -> zipfile.ZipInfo:
    """``project.qde`` at the top of the archive (any case), else the only top-level ``.qde``."""
    top = [i for i in archive.infolist() if "/" not in i.filename.replace("\\", "/")]
    exact = [i for i in top if i.filename.lower() == "project.qde"]
    others = [i for i in top if i.filename.lower().endswith(".qde")]
    if exact:
        return exact[0]
    if len(others) == 1:
        return others[0]
    raise QdpxError(f"{label}: no project.qde in the archive")


def parse_xml(data: bytes, label: str) -> ET.Element:
    """Parse XML refusing DTDs and entities (external entities, entity expansion bombs)."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        reason = f"{type(exc).__name__}: DTDs and entities are not allowed"
        raise QdpxError(f"{label}: refused unsafe XML ({reason})") from None
    except ET.ParseError as exc:
        raise QdpxError(f"{label}: not well-formed XML ({exc})") from None


# --------------------------------------------------------------------------- the project XML


def _local(tag: str) -> str:
    """A tag without its ``{namespace}``."""
    return tag.rsplit("}", 1)[-1]


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _guid(value: str | None) -> str:
    """A GUID as compared here: lower case, no braces (tools write both)."""
    return (value or "").strip().strip("{}").lower()


def _codes(root: ET.Element) -> dict[str, dict[str, str]]:
    """Every code in the project's codebook: guid -> name and path (names from the top, ``/``-joined)."""
    found: dict[str, dict[str, str]] = {}

    def walk(element: ET.Element, prefix: str) -> None:
        for code in _children(element, "Code"):
            name = code.get("name", "")
            found[_guid(code.get("guid"))] = {"name": name, "path": f"{prefix}{name}"}
            walk(code, f"{prefix}{name}/")

    for codebook in _children(root, "CodeBook"):
        for codes in _children(codebook, "Codes"):
            walk(codes, "")
    return found


def _variable_values(element: ET.Element, names: dict[str, str]) -> dict[str, str]:
    """The ``VariableValue`` children of an element as ``{variable name: value text}``."""
    values = {}
    for value in _children(element, "VariableValue"):
        ref = next(iter(_children(value, "VariableRef")), None)
        data = [child for child in value if _local(child.tag) != "VariableRef"]
        if ref is not None and data:
            values[names.get(_guid(ref.get("targetGUID")), ref.get("targetGUID", ""))] = (data[0].text or "").strip()
    return values


@dataclass
class Cases:
    """Who is linked to what: case names by source and by selection, variables, file variables."""

    names: dict[str, str] = field(default_factory=dict)  # case guid -> name
    variables: dict[str, dict[str, str]] = field(default_factory=dict)  # case guid -> variables
    by_source: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    by_selection: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    source_variables: dict[str, dict[str, str]] = field(default_factory=lambda: defaultdict(dict))


def _variable_names(root: ET.Element) -> dict[str, str]:
    """Variable guid -> name."""
    variables = (v for container in _children(root, "Variables") for v in _children(container, "Variable"))
    return {_guid(v.get("guid")): v.get("name", "") for v in variables}


def _cases(root: ET.Element, names: dict[str, str]) -> Cases:
    """Cases, and the source variables that MAXQDA and Quirkos store as nameless cases."""
    cases = Cases()
    for case in (c for cs in _children(root, "Cases") for c in _children(cs, "Case")):
        guid = _guid(case.get("guid"))
        values = _variable_values(case, names)
        sources = [_guid(ref.get("targetGUID")) for ref in _children(case, "SourceRef")]
        if case.get("name") is None and len(sources) == 1:  # MAXQDA/Quirkos: variables of one source
            cases.source_variables[sources[0]].update(values)
            continue
        cases.names[guid] = case.get("name") or guid
        cases.variables[guid] = values
        for source in sources:
            cases.by_source[source].append(guid)
        for ref in _children(case, "SelectionRef"):
            cases.by_selection[_guid(ref.get("targetGUID"))].append(guid)
    return cases


def _text_sources(root: ET.Element) -> list[tuple[ET.Element, str]]:
    """``TextSource`` elements, and PDF text representations, each with the name to show."""
    found = []
    for sources in _children(root, "Sources"):
        for source in sources:
            kind = _local(source.tag)
            if kind == "TextSource":
                found.append((source, source.get("name", "")))
            elif kind == "PDFSource":
                found += [(rep, source.get("name", "")) for rep in _children(source, "Representation")]
    return found


def _source_text(
    archive: zipfile.ZipFile, members: dict[str, zipfile.ZipInfo], element: ET.Element, name: str, origin: str,
    label: str,
) -> str:
    """The plain text of a text source: inline ``PlainTextContent`` or an internal ``.txt``.

    ``members`` maps lower-case member names to their entries (tools write ``sources`` or ``Sources``).
    """
    inline = _children(element, "PlainTextContent")
    if inline:
        return inline[0].text or ""
    reference = element.get("plainTextPath", "")
    if not reference.startswith("internal://"):
        where = reference or "no plainTextPath"
        raise QdpxError(f"{label}: text source '{name}' is not inside the archive ({where})")
    file_name = reference[len("internal://"):]
    if not file_name or "/" in file_name or "\\" in file_name or file_name in (".", ".."):
        raise QdpxError(f"{label}: text source '{name}' has an unsafe path '{reference}'")
    info = members.get(f"sources/{file_name}".lower())
    if info is None:
        raise QdpxError(f"{label}: source file sources/{file_name} is missing (text source '{name}')")
    data = read_member(archive, info, label)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise QdpxError(f"{label}: source file {info.filename} is not UTF-8 (byte {exc.start})") from None
    if "ATLAS" in origin.upper():
        text = text.replace("\r\n", "\n")
    return text


def _case_info(cases: Cases, guids: list[str]) -> tuple[str, dict[str, str]]:
    """Case names (``"; "``-joined, sorted) and their merged variables."""
    unique = sorted(set(guids), key=lambda g: cases.names.get(g, g))
    variables: dict[str, str] = {}
    for guid in unique:
        variables.update(cases.variables.get(guid, {}))
    return "; ".join(cases.names.get(g, g) for g in unique), variables


def read_qdpx(path: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Texts and coded text selections of a ``.qdpx`` from any REFI-QDA tool.

    Returns ``(documents, selections)``.  ``documents``: one row per text source
    with ``doc_name``, ``source_guid``, ``text``, ``case`` and ``variables``
    (JSON text: the case's and the source's variables).  ``selections``: one row
    per coding of a text selection with ``doc_name``, ``source_guid``,
    ``selection_guid``, ``start``, ``end`` (code points, end exclusive),
    ``text`` (``document text[start:end]``), ``code_name``, ``code_guid``,
    ``code_path``, ``case`` and ``variables``.
    """
    path = Path(path)
    label = str(path)
    with open_archive(path) as archive:
        qde = _project_member(archive, label)
        root = parse_xml(read_member(archive, qde, label), f"{label}: {qde.filename}")
        if _local(root.tag) != "Project":
            raise QdpxError(f"{label}: {qde.filename} is not a REFI-QDA project (root <{_local(root.tag)}>)")
        codes = _codes(root)
        variable_names = _variable_names(root)
        cases = _cases(root, variable_names)
        origin = root.get("origin", "")
        members = {i.filename.replace("\\", "/").lower(): i for i in archive.infolist()}
        documents, selections = [], []
        for element, name in _text_sources(root):
            source_guid = _guid(element.get("guid"))
            text = _source_text(archive, members, element, name, origin, label)
            source_cases = list(cases.by_source.get(source_guid, []))
            coded_to = [_guid(_code_ref(c)) for c in _children(element, "Coding")]
            source_cases += [target for target in coded_to if target in cases.names]  # NVivo: cases are codes
            source_variables = {**cases.source_variables.get(source_guid, {}),
                                **_variable_values(element, variable_names)}
            case, variables = _case_info(cases, source_cases)
            variables = {**source_variables, **variables}
            documents.append({"doc_name": name, "source_guid": source_guid, "text": text,
                              "case": case, "variables": json.dumps(variables, ensure_ascii=False, sort_keys=True)})
            for selection in _children(element, "PlainTextSelection"):
                selections += _selection_rows(selection, name, source_guid, text, codes, cases, source_cases,
                                              source_variables, label)
    return (pd.DataFrame(documents, columns=list(DOCUMENT_COLUMNS)),
            pd.DataFrame(selections, columns=list(SELECTION_COLUMNS)))


def _code_ref(coding: ET.Element) -> str:
    ref = next(iter(_children(coding, "CodeRef")), None)
    return ref.get("targetGUID", "") if ref is not None else ""


def _selection_rows(
    selection: ET.Element,
    doc_name: str,
    source_guid: str,
    text: str,
    codes: dict[str, dict[str, str]],
    cases: Cases,
    source_cases: list[str],
    source_variables: dict[str, str],
    label: str,
) -> list[dict[str, Any]]:
    """One row per coding of a ``PlainTextSelection``; its offsets must lie inside the text."""
    guid = _guid(selection.get("guid"))
    where = f"{label}: selection {selection.get('guid', '?')} in '{doc_name}'"
    try:
        start, end = int(selection.get("startPosition", "")), int(selection.get("endPosition", ""))
    except ValueError:
        raise QdpxError(f"{where}: startPosition/endPosition are not integers") from None
    if not 0 <= start <= end <= len(text):
        raise QdpxError(f"{where}: [{start}:{end}] lies outside the text ({len(text)} characters)")
    targets = [_guid(_code_ref(c)) for c in _children(selection, "Coding")]
    own_cases = cases.by_selection.get(guid, []) + [t for t in targets if t in cases.names]
    case, variables = _case_info(cases, own_cases or source_cases)
    variables = json.dumps({**source_variables, **variables}, ensure_ascii=False, sort_keys=True)
    rows = []
    for target in targets:
        if target in cases.names:
            continue
        if target not in codes:
            raise QdpxError(f"{where}: coding refers to code {target}, which the codebook lacks")
        code = codes[target]
        rows.append({"doc_name": doc_name, "source_guid": source_guid, "selection_guid": guid,
                     "start": start, "end": end, "text": text[start:end],
                     "code_name": code["name"], "code_guid": target, "code_path": code["path"],
                     "case": case, "variables": variables})
    return rows


# --------------------------------------------------------------------------- gold records


def _label_index(framework: str) -> tuple[dict[str, str], dict[str, str]]:
    """How code names and GUIDs map to the framework's code ids (id, name, English name, synonyms)."""
    codebook = load_codebook(framework)
    by_name: dict[str, str] = {}
    by_guid: dict[str, str] = {}
    for code in codebook.codes:
        for alias in (code.id, code.name, code.name_en, *code.synonyms):
            if alias:
                by_name.setdefault(heading_key(alias), code.id)
        by_guid[code_guid(codebook.id, code.id)] = code.id
    return by_name, by_guid


def _valence_of(row: pd.Series) -> str | None:
    """The valence a coding expresses (wogcode's valence codes, or codes named positive/negative/neutral)."""
    for valence in VALENCES:
        if row["code_guid"] == valence_guid(valence) or heading_key(row["code_name"]) == valence:
            return valence
    return None


def _variable(variables: dict[str, str], name: str) -> str | None:
    """A variable's value by name, case-insensitively; ``None`` when absent or empty."""
    value = next((v for k, v in variables.items() if k.strip().lower() == name), "")
    return value or None


def qdpx_to_gold(path: str | Path, framework: str) -> list[dict[str, Any]]:
    """Hand-coded selections of a ``.qdpx`` as gold records for ``framework`` (format of gold/dev.jsonl).

    A selection's codes map to the framework's code ids by id, name, English
    name or synonym (case and spacing ignored), or by GUID for wogcode's own
    exports.  A selection with two framework codes gives two records; its
    valence is set when exactly one valence code is on it.  Codes that match
    nothing are logged and left out; if nothing matches, that is an error.
    """
    _, selections = read_qdpx(path)
    by_name, by_guid = _label_index(framework)
    records: list[dict[str, Any]] = []
    unmatched: set[str] = set()
    for _, group in selections.groupby("selection_guid", sort=False):
        labels, valences = [], []
        for _, row in group.iterrows():
            valence = _valence_of(row)
            label = by_guid.get(row["code_guid"]) or by_name.get(heading_key(row["code_name"]))
            if valence:
                valences.append(valence)
            elif label:
                labels.append(label)
            else:
                unmatched.add(row["code_path"])
        first = group.iloc[0]
        variables = json.loads(first["variables"])
        valence = valences[0] if len(set(valences)) == 1 else None
        for label in dict.fromkeys(labels):
            records.append({
                "id": f"{Path(path).stem}-{len(records) + 1:04d}",
                "source": first["doc_name"],
                "study": _variable(variables, "study"),
                "city": _variable(variables, "city"),
                "framework": framework,
                "section_heading": None,
                "label": label,
                "speaker": first["case"] or None,
                "agency": _variable(variables, "agency"),
                "text": first["text"].strip(),
                "kind": None,
                "valence": valence,
            })
    if unmatched:
        log.warning("%s: codes not in codebook '%s', left out: %s", path, framework, ", ".join(sorted(unmatched)))
    if not records and len(selections):
        found = ", ".join(sorted(set(selections["code_name"])))
        raise QdpxError(f"{path}: no code matches codebook '{framework}' (codes found: {found})")
    return records
