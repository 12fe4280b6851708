"""Codebooks as data: load, validate and look up the deductive codebooks in ``lexicons/``.

A codebook is a YAML (or JSON) file checked against ``lexicons/codebook.schema.json``
plus a few rules JSON Schema cannot express (see :func:`check_rules`).  Every
problem becomes a :class:`CodebookError` whose message is one line naming the
file and the reason, e.g. ``mybook.yaml: code 'koordinasi' is defined twice``.

The crosswalk (``lexicons/crosswalk.yaml``) links codes of different codebooks
(``exact``, ``broader``, ``narrower``, ``related``); :func:`map_code` follows it.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline.paths import LEXICONS

#: Ids a code may not take: the valence labels and the "fits no code" answer.
RESERVED_IDS: frozenset[str] = frozenset({"positive", "negative", "neutral", "uncoded"})

#: Crosswalk relations.  ``A broader B`` means B is broader than A (SKOS ``broadMatch``).
RELATIONS: tuple[str, ...] = ("exact", "broader", "narrower", "related")
INVERSE_RELATION: dict[str, str] = {
    "exact": "exact",
    "broader": "narrower",
    "narrower": "broader",
    "related": "related",
}


class CodebookError(ValueError):
    """A codebook or crosswalk that cannot be used; the message is one line: ``<file>: <problem>``."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Keyword:
    """A lexicon cue: ``stem`` terms match Sastrawi stems, ``phrase`` terms match normalised text."""

    term: str
    weight: float
    kind: str  # "stem" | "phrase"


@dataclass(frozen=True)
class Example:
    """A short illustrative text; register is ``interview`` or ``thesis``, valence as in coding."""

    text: str
    register: str = ""
    valence: str = ""


@dataclass(frozen=True)
class Source:
    """Where a framework comes from: its author, a citable reference, studies that used it."""

    author: str
    reference: str
    used_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Code:
    """One code of a codebook with everything a coder (human or model) needs to apply it."""

    id: str
    name: str
    definition: str
    name_en: str = ""
    indicators: tuple[str, ...] = ()
    include: str = ""
    exclude: str = ""
    synonyms: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    keywords: tuple[Keyword, ...] = ()
    color: str = ""


@dataclass(frozen=True)
class Codebook:
    """A parsed, validated codebook.  ``path`` is where it was read from (not part of the hash)."""

    id: str
    name: str
    version: str
    source: Source
    language: str
    description: str
    codes: tuple[Code, ...]
    path: str = field(default="", compare=False)

    @property
    def code_ids(self) -> list[str]:
        """Code ids in file order."""
        return [code.id for code in self.codes]

    def get(self, code_id: str) -> Code:
        """The code with this id; ``KeyError`` naming the known ids if there is none."""
        for code in self.codes:
            if code.id == code_id:
                return code
        raise KeyError(f"codebook '{self.id}' has no code '{code_id}' (codes: {', '.join(self.code_ids)})")

    def __contains__(self, code_id: object) -> bool:
        return code_id in self.code_ids

    def to_dict(self) -> dict[str, Any]:
        """The parsed content as plain data (no ``path``): what the content hash is computed from."""
        data = asdict(self)
        del data["path"]
        return data

    @cached_property
    def content_hash(self) -> str:
        """First 16 hex of sha256 over canonical JSON of the content; blind to YAML layout and key order."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def codebooks_dir() -> Path:
    """The folder of shipped codebooks: ``lexicons/codebooks``."""
    return LEXICONS / "codebooks"


def shipped_ids() -> list[str]:
    """Ids of the codebooks shipped in ``lexicons/codebooks`` (file stems), sorted."""
    return sorted(p.stem for p in codebooks_dir().glob("*.yaml"))


def load_codebook(path_or_id: str | Path) -> Codebook:
    """Load a shipped codebook by id (``"perry6"``) or any YAML/JSON codebook file by path.

    Parsed codebooks are cached per file version (path, size, mtime), so
    repeated loads are cheap and an edited file is read again.
    """
    path, expected_id = _resolve(path_or_id)
    return _load_file(*_file_version(path), expected_id)


def _file_version(path: Path) -> tuple[Path, int, int]:
    """(path, size, mtime_ns): the cache key of a file's current content."""
    stat = path.stat()
    return path, stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=64)
def _load_file(path: Path, size: int, mtime_ns: int, expected_id: str | None) -> Codebook:
    """Read, validate and build one codebook file (cached by :func:`load_codebook`)."""
    label = _label(path)
    data = read_data_file(path, label)
    validate_data(data, label)
    if expected_id is not None and data["id"] != expected_id:
        raise CodebookError(f"{label}: id '{data['id']}' does not match the file name '{expected_id}'")
    return _build(data, str(path))


def list_codebooks() -> list[Codebook]:
    """All shipped codebooks, sorted by id."""
    return [load_codebook(codebook_id) for codebook_id in shipped_ids()]


def _resolve(path_or_id: str | Path) -> tuple[Path, str | None]:
    """Turn an id or a path into (file path, id the file must carry or None)."""
    text = str(path_or_id)
    looks_like_id = isinstance(path_or_id, str) and "/" not in text and "\\" not in text and "." not in text
    if looks_like_id:
        path = codebooks_dir() / f"{text}.yaml"
        if path.is_file():
            return path, text
        if not Path(text).exists():
            shipped = ", ".join(shipped_ids()) or "none"
            raise CodebookError(f"{text}: no such codebook (shipped: {shipped}); give a file path to load your own")
    path = Path(path_or_id)
    if not path.is_file():
        raise CodebookError(f"{text}: file not found")
    return path, None


def _label(path: Path) -> str:
    """How a file is named in messages: relative to the repository for shipped files, else as given."""
    try:
        return path.resolve().relative_to(LEXICONS.resolve().parent).as_posix()
    except ValueError:
        return str(path)


def read_data_file(path: Path, label: str) -> Any:
    """Parse a UTF-8 YAML or JSON file (``yaml.safe_load`` only); syntax errors become one line."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CodebookError(f"{label}: not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise CodebookError(f"{label}: cannot read ({exc.strerror})") from None
    if path.suffix.lower() == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise CodebookError(f"{label}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CodebookError(f"{label}: invalid YAML {_yaml_problem(exc)}") from None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """'at line L, column C: problem' from a PyYAML error, on one line."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    where = f"at line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
    return " ".join(f"{where}{problem}".split())


# --------------------------------------------------------------------------- validation


@cache
def codebook_schema() -> dict[str, Any]:
    """The JSON Schema in ``lexicons/codebook.schema.json``."""
    return json.loads((LEXICONS / "codebook.schema.json").read_text(encoding="utf-8"))


def validate_data(data: Any, label: str) -> None:
    """Raise :class:`CodebookError` for the first problem (in file order) in parsed codebook data."""
    if not isinstance(data, dict):
        kind = "empty" if data is None else f"a {type(data).__name__}"
        raise CodebookError(f"{label}: a codebook must be a mapping with id, name, codes, ...; this file is {kind}")
    validator = jsonschema.Draft202012Validator(codebook_schema())
    errors = list(validator.iter_errors(data))
    if errors:
        first = min(errors, key=lambda e: _document_order(data, list(e.absolute_path)))
        raise CodebookError(f"{label}: {describe_schema_error(data, first)}")
    check_rules(data, label)


def _document_order(data: Any, path: list[Any]) -> tuple[int, ...]:
    """Sort key placing a JSON path in the order its keys appear in the file."""
    key: list[int] = []
    node = data
    for step in path:
        if isinstance(node, dict):
            key.append(list(node).index(step))
        else:
            key.append(int(step))
        node = node[step]
    return tuple(key)


def describe_schema_error(data: Any, error: jsonschema.ValidationError) -> str:
    """A short, human sentence for one schema violation, prefixed with where it is."""
    path = list(error.absolute_path)
    value = error.instance
    kind = error.validator
    if kind == "required":
        missing = [name for name in error.validator_value if name not in value]
        return _at(data, path, f"missing required field '{missing[0]}'")
    if kind == "additionalProperties":
        known = list(error.schema.get("properties", {}))
        unknown = [name for name in value if name not in known]
        hint = difflib.get_close_matches(str(unknown[0]), known, n=1)
        suggestion = f" (did you mean '{hint[0]}'?)" if hint else f" (allowed: {', '.join(known)})"
        return _at(data, path, f"unknown field '{unknown[0]}'{suggestion}")
    parent = path[:-2] if len(path) >= 2 and isinstance(path[-1], int) else path[:-1]
    name = _field_name(path)
    if kind == "type":
        expected = error.validator_value
        wanted = " or ".join(_TYPE_WORDS[t] for t in (expected if isinstance(expected, list) else [expected]))
        return _at(data, parent, f"{name} must be {wanted}, not {_describe_value(value)}")
    if kind == "pattern":
        reason = error.schema.get("description", f"must match {error.validator_value}")
        return _at(data, parent, f"{name} {value!r} {reason}")
    if kind == "enum":
        allowed = ", ".join(map(str, error.validator_value))
        return _at(data, parent, f"{name} must be one of {allowed}, not {value!r}")
    if kind in ("minLength", "minItems"):
        return _at(data, parent, f"{name} must not be empty")
    if kind in ("exclusiveMinimum", "maximum", "minimum", "exclusiveMaximum"):
        return _at(data, parent, f"{name} must be in (0, 1], not {value!r}")
    return _at(data, parent, f"{name}: {error.message}")


#: JSON Schema type names as a YAML author would say them.
_TYPE_WORDS: dict[str, str] = {
    "string": "text",
    "object": "a mapping (key: value)",
    "array": "a list",
    "number": "a number",
    "integer": "a whole number",
    "boolean": "true or false",
    "null": "empty",
}


def _describe_value(value: Any) -> str:
    """'a number 1.0', 'a list', 'empty (null)': what was found instead, for messages."""
    if value is None:
        return "empty (null)"
    if isinstance(value, bool):
        return f"a boolean {value}"
    if isinstance(value, (int, float)):
        return f"a number {value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, str):
        return f"text {value!r}"
    return f"{type(value).__name__} {value}"  # e.g. a YAML date


def _field_name(path: Sequence[Any]) -> str:
    """'weight' for [..., 'weight'], 'keywords[3]' for [..., 'keywords', 3], 'the file' for []."""
    if not path:
        return "the file"
    if isinstance(path[-1], int) and len(path) >= 2:
        return f"{path[-2]}[{path[-1]}]"
    return str(path[-1])


def _at(data: Any, path: Sequence[Any], message: str) -> str:
    """Prefix a message with a readable location: ``codes[2] (integrasi): keywords[3]: ...``."""
    parts: list[str] = []
    node = data
    for i, step in enumerate(path):
        child = node[step]
        if isinstance(step, int):
            label = f"{path[i - 1]}[{step}]" if i else f"[{step}]"
            if isinstance(child, dict) and isinstance(child.get("id"), str):
                label += f" ({child['id']})"
            parts.append(label)
        elif not (i + 1 < len(path) and isinstance(path[i + 1], int)):
            parts.append(str(step))
        node = child
    return ": ".join([*parts, message])


def check_rules(data: dict[str, Any], label: str) -> None:
    """Rules beyond the schema: reserved and duplicate code ids, keyword and synonym clashes."""
    first_seen: dict[str, int] = {}
    owner_of_synonym: dict[str, str] = {}
    for index, code in enumerate(data["codes"]):
        code_id = code["id"]
        where = f"{label}: codes[{index}] ({code_id})"
        if code_id in RESERVED_IDS:
            reserved = ", ".join(sorted(RESERVED_IDS))
            raise CodebookError(f"{where}: id '{code_id}' is reserved ({reserved} cannot be code ids)")
        if code_id in first_seen:
            raise CodebookError(
                f"{label}: code '{code_id}' is defined twice (codes[{first_seen[code_id]}] and codes[{index}])"
            )
        first_seen[code_id] = index
        _check_keywords(code.get("keywords", []), where)
        for synonym in code.get("synonyms", []):
            key = heading_key(synonym)
            other = owner_of_synonym.setdefault(key, code_id)
            if other != code_id:
                raise CodebookError(f"{where}: synonym '{synonym}' is also a synonym of '{other}'")


def _check_keywords(keywords: Iterable[Mapping[str, Any]], where: str) -> None:
    """No term twice within a code; a ``stem`` is one word."""
    seen: set[str] = set()
    for i, keyword in enumerate(keywords):
        term = _clean(keyword["term"])
        if term in seen:
            raise CodebookError(f"{where}: keyword '{term}' is listed twice")
        seen.add(term)
        if keyword["kind"] == "stem" and " " in term:
            raise CodebookError(f"{where}: keywords[{i}] '{term}' has kind 'stem' but is several words; use kind: phrase")


def heading_key(text: str) -> str:
    """How synonyms compare: NFC, case-folded, whitespace collapsed."""
    return _clean(text).casefold()


# --------------------------------------------------------------------------- building


def _clean(text: str) -> str:
    """NFC with whitespace runs collapsed: YAML line folding never changes the content."""
    return unicodedata.normalize("NFC", " ".join(text.split()))


def _clean_all(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(_clean(item) for item in items)


def _build(data: dict[str, Any], path: str) -> Codebook:
    """Turn validated data into a :class:`Codebook`."""
    source = data["source"]
    return Codebook(
        id=data["id"],
        name=_clean(data["name"]),
        version=data["version"].strip(),
        source=Source(_clean(source["author"]), _clean(source["reference"]), _clean_all(source.get("used_by", []))),
        language=data["language"],
        description=_clean(data["description"]),
        codes=tuple(_build_code(code) for code in data["codes"]),
        path=path,
    )


def _build_code(code: dict[str, Any]) -> Code:
    return Code(
        id=code["id"],
        name=_clean(code["name"]),
        definition=_clean(code["definition"]),
        name_en=_clean(code.get("name_en", "")),
        indicators=_clean_all(code.get("indicators", [])),
        include=_clean(code.get("include", "")),
        exclude=_clean(code.get("exclude", "")),
        synonyms=_clean_all(code.get("synonyms", [])),
        examples=tuple(_build_example(example) for example in code.get("examples", [])),
        keywords=tuple(
            Keyword(_clean(k["term"]), float(k["weight"]), k["kind"]) for k in code.get("keywords", [])
        ),
        color=code.get("color", "").upper(),
    )


def _build_example(example: str | dict[str, str]) -> Example:
    if isinstance(example, str):
        return Example(_clean(example))
    return Example(_clean(example["text"]), example.get("register", ""), example.get("valence", ""))


# --------------------------------------------------------------------------- crosswalk


@dataclass(frozen=True)
class CrosswalkLink:
    """``from_codebook.from_code`` relates to ``to_codebook.to_code`` as ``relation``."""

    from_codebook: str
    from_code: str
    relation: str
    to_codebook: str
    to_code: str
    note: str = ""

    def inverse(self) -> CrosswalkLink:
        """The same link read from the other side (``broader`` becomes ``narrower``)."""
        return CrosswalkLink(
            self.to_codebook, self.to_code, INVERSE_RELATION[self.relation], self.from_codebook, self.from_code, self.note
        )


def crosswalk_path() -> Path:
    return LEXICONS / "crosswalk.yaml"


def load_crosswalk(path: str | Path | None = None) -> list[CrosswalkLink]:
    """Read and check the crosswalk: known relation, both codes exist, no pair listed twice."""
    path = Path(path) if path is not None else crosswalk_path()
    if not path.is_file():
        raise CodebookError(f"{_label(path)}: file not found")
    codebook_versions = tuple(_file_version(p) for p in sorted(codebooks_dir().glob("*.yaml")))
    return list(_load_crosswalk_file(*_file_version(path), codebook_versions))


@lru_cache(maxsize=8)
def _load_crosswalk_file(
    path: Path, size: int, mtime_ns: int, codebook_versions: tuple[tuple[Path, int, int], ...]
) -> tuple[CrosswalkLink, ...]:
    """Parse and check one crosswalk file version against the current codebooks (cached)."""
    label = _label(path)
    data = read_data_file(path, label)
    if not isinstance(data, dict) or not isinstance(data.get("links"), list):
        raise CodebookError(f"{label}: expected a mapping with a 'links' list")
    books: dict[str, Codebook] = {}
    links: list[CrosswalkLink] = []
    seen: set[frozenset[str]] = set()
    for index, entry in enumerate(data["links"]):
        link = _parse_link(entry, f"{label}: links[{index}]", books)
        pair = frozenset({f"{link.from_codebook}.{link.from_code}", f"{link.to_codebook}.{link.to_code}"})
        if pair in seen:
            raise CodebookError(f"{label}: links[{index}]: the pair {' / '.join(sorted(pair))} is listed twice")
        seen.add(pair)
        links.append(link)
    return tuple(links)


def _parse_link(entry: Any, where: str, books: dict[str, Codebook]) -> CrosswalkLink:
    """One crosswalk entry ``{from: book.code, relation: ..., to: book.code, note: ...}``."""
    if not isinstance(entry, dict):
        raise CodebookError(f"{where}: expected a mapping with from, relation, to")
    unknown = set(entry) - {"from", "relation", "to", "note"}
    if unknown:
        raise CodebookError(f"{where}: unknown field '{sorted(unknown)[0]}'")
    for name in ("from", "relation", "to"):
        if not isinstance(entry.get(name), str):
            raise CodebookError(f"{where}: missing required field '{name}'")
    if entry["relation"] not in RELATIONS:
        raise CodebookError(f"{where}: relation must be one of {', '.join(RELATIONS)}, not {entry['relation']!r}")
    from_book, from_code = _qualified_code(entry["from"], where, books)
    to_book, to_code = _qualified_code(entry["to"], where, books)
    if from_book == to_book:
        raise CodebookError(f"{where}: both codes are in '{from_book}'; the crosswalk links different codebooks")
    return CrosswalkLink(from_book, from_code, entry["relation"], to_book, to_code, _clean(str(entry.get("note", ""))))


def _qualified_code(ref: str, where: str, books: dict[str, Codebook]) -> tuple[str, str]:
    """Split ``"perry6.koordinasi"`` and check that codebook and code exist."""
    book_id, dot, code_id = ref.partition(".")
    if not dot or not code_id:
        raise CodebookError(f"{where}: {ref!r} must be written codebook.code, e.g. perry6.koordinasi")
    if book_id not in books:
        if book_id not in shipped_ids():
            raise CodebookError(f"{where}: unknown codebook '{book_id}' in {ref!r}")
        books[book_id] = load_codebook(book_id)
    if code_id not in books[book_id]:
        raise CodebookError(f"{where}: unknown code '{ref}'")
    return book_id, code_id


def links_between(codebook_from: str, code: str, codebook_to: str) -> list[CrosswalkLink]:
    """Crosswalk links from one code to codes of another codebook, read in either direction."""
    found = []
    for link in load_crosswalk():
        for candidate in (link, link.inverse()):
            if (candidate.from_codebook, candidate.from_code, candidate.to_codebook) == (codebook_from, code, codebook_to):
                found.append(candidate)
    order = {relation: rank for rank, relation in enumerate(RELATIONS)}
    return sorted(found, key=lambda link: (order[link.relation], link.to_code))


def map_code(
    codebook_from: str, code: str, codebook_to: str, relations: Iterable[str] = RELATIONS
) -> list[str]:
    """Codes of ``codebook_to`` that the crosswalk links to ``code`` (exact first, then broader, narrower, related).

    Only direct links count (no chains through a third codebook).  Mapping
    within one codebook returns ``[code]``.  An unknown code raises ``CodebookError``.
    """
    source = load_codebook(codebook_from)
    if code not in source:
        known = ", ".join(source.code_ids)
        raise CodebookError(f"{_label(Path(source.path))}: codebook '{codebook_from}' has no code '{code}' (codes: {known})")
    if codebook_from == codebook_to:
        return [code]
    wanted = set(relations)
    result: list[str] = []
    for link in links_between(codebook_from, code, codebook_to):
        if link.relation in wanted and link.to_code not in result:
            result.append(link.to_code)
    return result
