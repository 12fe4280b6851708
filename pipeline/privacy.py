"""Pseudonymisation: people and identifiers replaced by stable pseudonyms, offsets kept exact.

Interview transcripts are personal data collected under a promise of
anonymity.  ``wogcode run --pseudonymise`` applies this module right after
ingest, so every later stage (coding, evidence, workbook, ``.qdpx``, report)
only ever sees pseudonymised text:

* informants (from metadata, speaker labels and thesis quote attributions)
  become ``Informan-01``, ``Informan-02``, ...; anyone else named with an
  honorific ("Bu RS", "Bapak Ahmad Fauzi", "Sdr. YF") becomes ``Orang-01``, ...;
* phone numbers, e-mail addresses, NIK/KK, NIP and NPWP numbers become
  ``[TELEPON]``, ``[EMAIL]``, ``[NIK]``, ``[NIP]``, ``[NPWP]``;
* agencies, cities, job titles and dates are kept: they are the analysis.

A person is one canonical name ("Pak TR" and "Bapak TR" are "Bapak TR", see
:func:`pipeline.ingest.names.canonical_person`); the same name gets the same
pseudonym in every document of a run.  Numbers follow the order of first
appearance (documents sorted by path, then by position), which is
deterministic and, unlike alphabetical order, does not group people by
honorific (and so by gender).  An existing pseudonym map is reused, so
reruns, and runs over a grown corpus, keep every earlier pseudonym.

The map from real names to pseudonyms is written by
:func:`write_pseudonym_map` to a separate file, never into an export.

What is *not* found: a name written without an honorific that no metadata or
speaker label gives (there is no named-entity model), and names inside file
names written in another case ("ibu_nk.txt").  Vocabulary: ``lexicons/privacy.yaml``.
"""

from __future__ import annotations

import bisect
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from pipeline.atomic import write_text
from pipeline.ingest.names import canonical_person, split_list
from pipeline.lexicon_files import load_lines, load_yaml
from pipeline.normalise.clean import clean_text
from pipeline.schema import Document, IngestReport, Unit

if TYPE_CHECKING:
    from pipeline.ingest.batch import IngestResult

#: Default place of the map, relative to the run folder (never listed as an output).
PRIVATE_DIR = "private"
MAP_NAME = "pseudonyms.csv"
MAP_COLUMNS = ("pseudonym", "kind", "name")
KINDS = ("informant", "person")

_HAS_LETTER = re.compile(r"[^\W\d_]")
#: Name boundaries: no letter on either side.  Digits may touch a name ("NK0812..."), so a
#: name glued to a phone number is still found, and pseudonymising twice changes nothing more.
_NOT_AFTER_LETTER = r"(?<![^\W\d_])"
_NOT_BEFORE_LETTER = r"(?![^\W\d_])"

#: Unit fields that may hold a name (the others are ids, offsets, enumerations and the text itself).
_UNIT_NAME_FIELDS = ("section", "speaker", "informant", "position", "agency", "city", "study", "path")

MAP_README = """\
# PRIVATE: pseudonym map

`{name}` links every pseudonym of this run (Informan-01, Orang-01, ...) to the
real name it replaces. It undoes the pseudonymisation: keep it with the raw
transcripts, under the same protection, and never share it together with the
run folder. It is not listed in `manifest.json` and no export refers to it.

Delete this folder (or move it next to the raw data) before you share the run.
Passing the same map again (`--pseudonym-map`) keeps every pseudonym stable.
"""


class PseudonymMapError(ValueError):
    """A pseudonym map file that cannot be used; the message is one line naming the file."""


# --------------------------------------------------------------------------- vocabulary


@dataclass(frozen=True)
class Vocabulary:
    """Everything the detectors need, from ``lexicons/``."""

    honorifics: tuple[str, ...]
    titles: tuple[str, ...]
    not_names: frozenset[str]  # capitalised words that are never (part of) a name
    common_acronyms: frozenset[str]  # initials left alone when written without an honorific
    labels: frozenset[str]  # generic speaker labels ("P", "Peneliti"), lowercase
    prefixes: dict[str, str]  # kind -> pseudonym prefix
    unknown_name: str
    identifiers: tuple[tuple[str, str, str], ...]  # (name, placeholder, pattern)


@lru_cache(maxsize=1)
def vocabulary() -> Vocabulary:
    """Load and combine ``privacy.yaml``, ``speaker_labels.yaml``, ``attribution.yaml``, ``stopwords.txt``."""
    privacy = load_yaml("privacy.yaml")
    speakers = load_yaml("speaker_labels.yaml")
    attribution = load_yaml("attribution.yaml")
    honorifics = tuple(speakers["honorifics"])
    not_names = {*privacy["not_names"], *honorifics, *attribution["role_words"], *attribution["city_prefixes"]}
    not_names |= {agency.split()[0] for agency in attribution["agencies"]}
    not_names |= {word.capitalize() for word in load_lines("stopwords.txt")}
    not_names |= set(privacy["pseudonyms"].values())  # "Pak Informan-01" is already pseudonymised
    return Vocabulary(
        honorifics=honorifics,
        titles=tuple(privacy["titles"]),
        not_names=frozenset(not_names),
        common_acronyms=frozenset(privacy["common_acronyms"]) | frozenset(privacy["not_names"]),
        labels=frozenset(str(label).lower() for label in speakers["labels"]),
        prefixes=dict(privacy["pseudonyms"]),
        unknown_name=privacy["unknown_name"],
        identifiers=tuple((i["name"], i["placeholder"], i["pattern"]) for i in privacy["identifiers"]),
    )


def _alternation(words: Iterable[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=lambda w: (-len(w), w)))


@lru_cache(maxsize=1)
def person_pattern() -> re.Pattern[str]:
    """An honorific, optional titles, then initials or one to three capitalised words.

    Groups: ``honorific`` and ``name`` (the name without honorific and titles).
    The honorific may cross one line break ("Ibu\\nSW" in PDF text); the words
    of a name are on one line.
    """
    vocab = vocabulary()
    stop = rf"(?!(?:{_alternation(vocab.not_names)})(?![\w'’]))"
    sep = r"(?:[ \t]+\n?[ \t]*|\n[ \t]*)"
    initials = rf"(?:[A-Z]\.){{2,4}}|[A-Z]{{2,4}}{_NOT_BEFORE_LETTER}"
    word = r"(?:[A-Z][a-z]\w*(?:['’]\w+)?|[A-Z]\.)"
    name = rf"{stop}(?:{initials}|{word}(?:[ \t]+{stop}{word}){{0,2}})"
    titles = rf"(?:(?:{_alternation(vocab.titles)}){sep})*"
    honorific = rf"(?P<honorific>(?i:{_alternation(vocab.honorifics)}))"
    return re.compile(rf"{_NOT_AFTER_LETTER}{honorific}{sep}{titles}(?P<name>{name})")


def canonical_name(honorific: str, name: str) -> str:
    """'bu', 'RS' -> 'Ibu RS'; 'Pak', 'Budi  Santoso' -> 'Bapak Budi Santoso'."""
    if honorific.isupper() or honorific.islower():  # "BU", "bu" -> "Bu"
        honorific = honorific[:1].upper() + honorific[1:].lower()
    return canonical_person(f"{honorific} {' '.join(name.split())}")


def split_honorific(name: str) -> tuple[str, str]:
    """'Ibu NK' -> ('Ibu', 'NK'); 'NK' -> ('', 'NK'); titles are dropped from the name part."""
    match = person_pattern().fullmatch(name)
    if match:
        return match.group("honorific"), " ".join(match.group("name").split())
    return "", " ".join(name.split())


# --------------------------------------------------------------------------- the replacer


@dataclass(frozen=True)
class Span:
    """Replace ``text[start:end]`` by ``replacement``."""

    start: int
    end: int
    replacement: str


class Pseudonymiser:
    """Replace names by pseudonyms and map offsets from the old text to the new one.

    ``names`` maps a name as written to its replacement: whole words (no
    letter on either side; a digit may touch), case-sensitive, longest first.
    With ``detect=True`` a person written with an honorific is also found,
    canonicalised and looked up in ``names`` (a name nobody mapped becomes
    ``[NAMA]``), and identifiers (phone numbers, e-mails, NIK, ...) become
    placeholders.
    """

    def __init__(self, names: Mapping[str, str] | None = None, *, detect: bool = False) -> None:
        self.names = {n: r for n, r in (names or {}).items() if n}
        self.detect = detect
        parts: list[str] = []
        if detect:
            parts.append(f"(?P<person>{person_pattern().pattern})")
        if self.names:
            parts.append(rf"(?P<literal>{_NOT_AFTER_LETTER}(?:{_alternation(self.names)}){_NOT_BEFORE_LETTER})")
        self._placeholders: dict[str, str] = {}
        if detect:
            for i, (_, placeholder, pattern) in enumerate(vocabulary().identifiers):
                self._placeholders[f"id{i}"] = placeholder
                parts.append(f"(?P<id{i}>{pattern})")
        self.pattern = re.compile("|".join(parts)) if parts else None

    def resolve(self, honorific: str, name: str) -> str:
        """The replacement of a person found with an honorific: known name, known prefix, or ``[NAMA]``."""
        canonical = canonical_name(honorific, name)
        for candidate in (canonical, " ".join(name.split())):
            words = candidate.split()
            for n in range(len(words), 0, -1):
                replacement = self.names.get(" ".join(words[:n]))
                if replacement is not None:
                    return replacement
        return vocabulary().unknown_name

    def _replacement(self, match: re.Match[str]) -> str:
        group = match.lastgroup
        if group == "literal":
            return self.names[match.group(0)]
        if group in self._placeholders:
            return self._placeholders[group]
        return self.resolve(match.group("honorific"), match.group("name"))

    def spans(self, text: str) -> list[Span]:
        """Every replacement in ``text``, in order, not overlapping."""
        if self.pattern is None or not text:
            return []
        found = []
        for match in self.pattern.finditer(text):
            replacement = self._replacement(match)
            if replacement != match.group(0):
                found.append(Span(match.start(), match.end(), replacement))
        return found

    def __call__(self, text: str) -> str:
        return apply_spans(text, self.spans(text))

    def with_offsets(self, text: str) -> tuple[str, Callable[[int, int], tuple[int, int]]]:
        """The replaced text and a function mapping an old ``(start, end)`` span to the new text.

        A span edge inside a replaced name moves outwards to cover the whole pseudonym.
        """
        spans = self.spans(text)
        return apply_spans(text, spans), offset_mover(spans)


def apply_spans(text: str, spans: list[Span]) -> str:
    """``text`` with each span replaced (spans sorted, not overlapping)."""
    if not spans:
        return text
    pieces, last = [], 0
    for span in spans:
        pieces += [text[last:span.start], span.replacement]
        last = span.end
    pieces.append(text[last:])
    return "".join(pieces)


def offset_mover(spans: list[Span]) -> Callable[[int, int], tuple[int, int]]:
    """Map ``(start, end)`` in the original text to the text with ``spans`` applied."""
    if not spans:
        return lambda start, end: (start, end)
    old_starts = [s.start for s in spans]
    new_starts, new_ends, shift = [], [], 0
    for s in spans:
        new_starts.append(s.start + shift)
        new_ends.append(s.start + shift + len(s.replacement))
        shift += len(s.replacement) - (s.end - s.start)

    def move(position: int, is_end: bool) -> int:
        i = bisect.bisect_right(old_starts, position) - 1  # the last span starting at or before position
        if i < 0:
            return position
        if position >= spans[i].end:
            return position + new_ends[i] - spans[i].end
        if position == spans[i].start:
            return new_starts[i]
        return new_ends[i] if is_end else new_starts[i]

    return lambda start, end: (move(start, False), move(end, True))


# --------------------------------------------------------------------------- who is in the corpus


@dataclass(frozen=True)
class Person:
    """One row of the pseudonym map."""

    pseudonym: str
    kind: str  # informant | person
    name: str  # canonical real name


def _is_label(name: str) -> bool:
    """Generic speaker labels ("P", "Peneliti", "Informan") are roles, not names."""
    return name.lower() in vocabulary().labels or not name.strip()


@lru_cache(maxsize=4096)
def _field_names(value: str) -> tuple[str, ...]:
    """Names in a metadata/unit field: 'Ibu NK; Pak TR' -> ('Ibu NK', 'Bapak TR')."""
    return tuple(canonical_person(n) for n in split_list(value) if not _is_label(n) and _HAS_LETTER.search(n))


def find_people(documents: list[Document], units: list[Unit]) -> dict[str, str]:
    """Every person of the corpus, canonical name -> kind, in order of first appearance.

    Informants come from metadata, speaker labels and quote attributions;
    everyone else named with an honorific in the text is a ``person``.
    """
    units_by_doc: dict[str, list[Unit]] = {}
    for unit in units:
        units_by_doc.setdefault(unit.doc_id, []).append(unit)
    return people_in_corpus(lambda: ((doc, units_by_doc.get(doc.doc_id, [])) for doc in documents))


def people_in_corpus(read: Callable[[], Iterable[tuple[Document, list[Unit]]]]) -> dict[str, str]:
    """:func:`find_people` for a corpus read a document at a time (twice) by ``read()``.

    Memory grows with the people and documents, not with the text.
    """
    informants: set[str] = set()
    for doc, units in read():
        informants.update(_field_names(doc.metadata.get("informant", "")))
        for unit in units:
            informants.update(_field_names(unit.informant))
            if unit.speaker_role == "informant":
                informants.update(_field_names(unit.speaker))
    known = Pseudonymiser({n: n for n in informants}, detect=True)
    named = sorted(((doc.path, doc.doc_id), [name for name, _ in _mentions(doc, units, known)]) for doc, units in read())
    seen: dict[str, str] = {}
    for _, names in named:
        for name in names:
            seen.setdefault(name, "informant" if name in informants else "person")
    for name in sorted(informants):  # informants only named in a field of a unit with no text
        seen.setdefault(name, "informant")
    return seen


def _mentions(doc: Document, units: list[Unit], known: Pseudonymiser) -> list[tuple[str, int]]:
    """(canonical name, offset) of every person in a document: metadata first, then by position."""
    found: list[tuple[str, int]] = []
    for key in ("informant", "interviewer"):
        found += [(n, -1) for n in _field_names(doc.metadata.get(key, ""))]
    for unit in units:
        if unit.speaker_role != "cited":  # literature ("Perry 6, 2002") is not a participant
            found += [(n, unit.start) for n in (*_field_names(unit.speaker), *_field_names(unit.informant))]
    for match in person_pattern().finditer(doc.text):
        resolved = known.resolve(match.group("honorific"), match.group("name"))
        name = resolved if resolved != vocabulary().unknown_name else canonical_name(
            match.group("honorific"), match.group("name"))
        found.append((name, match.start()))
    return sorted(found, key=lambda item: item[1])


def assign_pseudonyms(people: Mapping[str, str], previous: Iterable[Person] = ()) -> list[Person]:
    """Pseudonyms for ``people`` (in their order), keeping every pseudonym of ``previous``."""
    prefixes = vocabulary().prefixes
    kept = {p.name: p for p in previous}
    used: dict[str, int] = dict.fromkeys(KINDS, 0)
    for person in kept.values():
        number = re.search(r"(\d+)$", person.pseudonym)
        if person.kind in used and number:
            used[person.kind] = max(used[person.kind], int(number.group(1)))
    result = dict(kept)
    for name, kind in people.items():
        if name in result:
            continue
        used[kind] += 1
        result[name] = Person(f"{prefixes[kind]}-{used[kind]:02d}", kind, name)
    return sorted(result.values(), key=_map_order)


def _map_order(person: Person) -> tuple[int, int, str]:
    """Informants first, then by pseudonym number."""
    number = re.search(r"(\d+)$", person.pseudonym)
    return KINDS.index(person.kind), int(number.group(1)) if number else 0, person.pseudonym


def pseudonymiser_for(people: Iterable[Person]) -> Pseudonymiser:
    """The replacer of a pseudonym map: full names, and name parts that stand alone unambiguously."""
    vocab = vocabulary()
    names: dict[str, str] = {}
    bare: dict[str, set[str]] = {}
    for person in people:
        names[person.name] = person.pseudonym
        honorific, part = split_honorific(person.name)
        if honorific and part and part not in vocab.common_acronyms and part not in vocab.not_names and len(part) > 1:
            bare.setdefault(part, set()).add(person.pseudonym)
    for part, pseudonyms in bare.items():
        if part not in names:
            names[part] = pseudonyms.pop() if len(pseudonyms) == 1 else vocab.unknown_name
    return Pseudonymiser(names, detect=True)


# --------------------------------------------------------------------------- applying it


def pseudonymise_document(doc: Document, units: list[Unit], pseudo: Pseudonymiser) -> tuple[Document, list[Unit]]:
    """A document and its units with names and identifiers replaced; unit offsets moved to match."""
    text, move = pseudo.with_offsets(doc.text)
    new_doc = replace(
        doc,
        text=text,
        path=pseudo(doc.path),
        metadata={key: pseudo(value) for key, value in doc.metadata.items()},
        warnings=[pseudo(w) for w in doc.warnings],
    )
    replaced: dict[str, str] = {}  # field values repeat (speaker, agency, path): replace each once
    new_units = []
    for unit in units:
        start, end = move(unit.start, unit.end)
        verbatim = text[start:end]
        changes: dict[str, Any] = {}
        for name in _UNIT_NAME_FIELDS:
            value = getattr(unit, name)
            if value not in replaced:
                replaced[value] = pseudo(value)
            changes[name] = replaced[value]
        if verbatim != unit.text:
            changes["text_clean"] = clean_text(verbatim)
        new_units.append(replace(unit, start=start, end=end, text=verbatim, **changes))
    return new_doc, new_units


def pseudonymise_report(report: IngestReport, pseudo: Pseudonymiser) -> IngestReport:
    """The ingest report with names in paths and messages replaced."""
    return IngestReport(
        read=[pseudo(p) for p in report.read],
        skipped=[(pseudo(p), pseudo(r)) for p, r in report.skipped],
        failed=[(pseudo(p), pseudo(r)) for p, r in report.failed],
        warnings=[(pseudo(p), pseudo(m)) for p, m in report.warnings],
    )


def pseudonymise_corpus(
    documents: list[Document], units: list[Unit], previous: Iterable[Person] = ()
) -> tuple[list[Document], list[Unit], list[Person], Pseudonymiser]:
    """Find everyone, assign pseudonyms (keeping ``previous``), and replace them everywhere."""
    people = assign_pseudonyms(find_people(documents, units), previous)
    pseudo = pseudonymiser_for(people)
    by_doc: dict[str, list[Unit]] = {}
    for unit in units:
        by_doc.setdefault(unit.doc_id, []).append(unit)
    new_docs, new_units = [], []
    for doc in documents:
        new_doc, doc_units = pseudonymise_document(doc, by_doc.get(doc.doc_id, []), pseudo)
        new_docs.append(new_doc)
        new_units += doc_units
    return new_docs, new_units, people, pseudo


def pseudonymise_ingest(
    result: IngestResult, map_path: Path, readme: bool = True
) -> tuple[IngestResult, Pseudonymiser]:
    """Pseudonymise an ingest result (documents, units, report), reusing and then writing the map at ``map_path``.

    The one call an exporting command needs right after ingest; see :func:`write_pseudonym_map` for ``readme``.
    """
    from pipeline.ingest.batch import IngestResult

    documents, units, people, pseudo = pseudonymise_corpus(result.documents, result.units, read_pseudonym_map(map_path))
    write_pseudonym_map(people, map_path, readme=readme)
    return IngestResult(documents, units, pseudonymise_report(result.report, pseudo)), pseudo


def pseudonymise_evidence_json(cell: Any, pseudo: Pseudonymiser) -> Any:
    """A coding's evidence JSON with the nearest training examples' texts pseudonymised.

    Those texts come from the model's training data, i.e. another corpus: names
    nobody mapped there become ``[NAMA]``.  Term offsets are left alone (they
    point into the unit's text, which is already pseudonymised).
    """
    if not isinstance(cell, str) or not cell.strip():
        return cell
    try:
        evidence = json.loads(cell)
    except json.JSONDecodeError:
        return pseudo(cell)
    if not isinstance(evidence, dict):
        return cell
    for neighbour in evidence.get("neighbours") or []:
        if isinstance(neighbour, dict) and isinstance(neighbour.get("text"), str):
            neighbour["text"] = pseudo(neighbour["text"])
    if isinstance(evidence.get("reason"), str):
        evidence["reason"] = pseudo(evidence["reason"])
    changed = json.dumps(evidence, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return cell if json.loads(changed) == json.loads(cell) else changed


def pseudonymise_codings(codings: pd.DataFrame, pseudo: Pseudonymiser) -> pd.DataFrame:
    """Codings with their evidence pseudonymised (see :func:`pseudonymise_evidence_json`)."""
    if "evidence" not in codings.columns or codings.empty:
        return codings
    return codings.assign(evidence=[pseudonymise_evidence_json(c, pseudo) for c in codings["evidence"]])


# --------------------------------------------------------------------------- the map file


def default_map_path(run_folder: Path) -> Path:
    """``RUN/private/pseudonyms.csv``."""
    return Path(run_folder) / PRIVATE_DIR / MAP_NAME


def read_pseudonym_map(path: Path) -> list[Person]:
    """The people of an existing map (an absent file is an empty map)."""
    path = Path(path)
    if not path.exists():
        return []
    try:
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise PseudonymMapError(f"{path}: cannot read the pseudonym map ({exc})") from None
    people = []
    for number, row in enumerate(rows, start=2):
        if set(MAP_COLUMNS) - set(row):
            raise PseudonymMapError(f"{path}: not a pseudonym map (expected columns {', '.join(MAP_COLUMNS)})")
        if row["kind"] not in KINDS or not row["name"] or not row["pseudonym"]:
            expected = f"a kind ({', '.join(KINDS)}), a name and a pseudonym"
            raise PseudonymMapError(f"{path}: line {number}: expected {expected}")
        people.append(Person(row["pseudonym"], row["kind"], row["name"]))
    return people


def write_pseudonym_map(people: list[Person], path: Path, readme: bool = True) -> Path:
    """Write the map as CSV (owner-only permissions) and, with ``readme``, a warning README beside it.

    ``readme`` is for a folder of its own (``RUN/private/``): the folder is made owner-only too.
    """
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MAP_COLUMNS)
    writer.writerows((p.pseudonym, p.kind, p.name) for p in people)
    write_text(path, buffer.getvalue())
    path.chmod(0o600)
    if readme:
        path.parent.chmod(0o700)
        write_text(path.parent / "README.md", MAP_README.format(name=path.name))
    return path
