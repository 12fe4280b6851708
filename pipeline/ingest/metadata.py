"""Document metadata: header blocks, YAML front matter and ``metadata.csv`` sidecars.

Precedence: sidecar row > YAML front matter / header block.  Problems are
warnings (one line naming the file), never a crash.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.lexicon_files import load_yaml
from pipeline.schema import METADATA_FIELDS

SIDECAR_NAME = "metadata.csv"
EXTRA_FIELDS = ("kind", "interviewer")

_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|\Z)", re.S)
_KEY_VALUE = re.compile(r"^[ \t]*([A-Za-z][A-Za-z .]{0,30}?)[ \t]*(?::|\|)[ \t]*(.*?)[ \t]*$")


@dataclass
class Header:
    """Metadata found at the top of a document, and the span of text it occupies."""

    fields: dict[str, str] = field(default_factory=dict)
    end: int = 0  # offset just past the header in the document text (0 = no header)
    warnings: list[str] = field(default_factory=list)


def field_for_key(key: str) -> str | None:
    """Map a header key ('Kota', 'Jabatan', 'city') to a metadata field, or None."""
    return load_yaml("metadata_keys.yaml").get(key.strip().lower().rstrip("."))


_NONE_VALUES = frozenset({"-", "–", "—", "n/a", "na", "none", "null", "tidak ada", "?"})


def _clean_value(value: object) -> str:
    """One-line text; placeholders such as '-' or 'n/a' mean no value."""
    text = re.sub(r"\s+", " ", str(value)).strip() if value is not None else ""
    return "" if text.lower() in _NONE_VALUES else text


def parse_front_matter(text: str) -> Header | None:
    """YAML front matter (``---`` ... ``---``) at the very top, or None if there is none."""
    match = _FRONT_MATTER.match(text)
    if not match:
        return None
    header = Header(end=match.end())
    try:
        data = yaml.safe_load(match.group(1))
    except yaml.YAMLError as exc:
        header.warnings.append(f"malformed YAML front matter ({str(exc).splitlines()[0]}); ignored")
        return header
    if not isinstance(data, dict):
        header.warnings.append("YAML front matter is not a key: value mapping; ignored")
        return header
    for key, value in data.items():
        name = field_for_key(str(key))
        if name:
            header.fields[name] = _clean_value(value)
        else:
            header.warnings.append(f"unknown front-matter key '{key}' ignored")
    return header


def parse_header_block(text: str) -> Header | None:
    """A block of ``Key: value`` lines (or ``Key | value`` table rows) at the top of the text.

    The block ends at the first blank line.  It counts as a header when at least
    two lines carry known keys, not all of them speaker labels; unknown or
    malformed lines inside it are warnings.
    """
    stripped = text.lstrip("\n")
    offset = len(text) - len(stripped)
    block_end = stripped.find("\n\n")
    block = stripped if block_end < 0 else stripped[:block_end]
    lines = block.split("\n")
    found: dict[str, str] = {}
    problems: list[str] = []
    empty_fields: list[str] = []
    speaker_labels = load_yaml("speaker_labels.yaml")["labels"]
    only_speaker_keys = True
    for line in lines:
        match = _KEY_VALUE.match(line)
        name = field_for_key(match.group(1)) if match else None
        if name and match:
            found[name] = _clean_value(match.group(2))
            if not match.group(2).strip():
                empty_fields.append(name)
            only_speaker_keys &= match.group(1).strip().lower() in speaker_labels
        elif line.strip():
            problems.append(line.strip()[:40])
    if len(found) < 2 or len(problems) > len(found) or only_speaker_keys:
        return None  # "Peneliti: ... / Narasumber: ..." is a dialogue, not a header
    warnings = [f"malformed header line '{p}' ignored" for p in problems]
    warnings += [f"header field '{k}' is empty" for k in empty_fields]
    return Header({k: v for k, v in found.items() if v}, offset + len(block), warnings)


def parse_header(text: str) -> Header:
    """Front matter if present, else a header block, else an empty header."""
    return parse_front_matter(text) or parse_header_block(text) or Header()


def read_sidecar(path: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Rows of a ``metadata.csv`` keyed by the file path relative to its folder, plus warnings."""
    warnings: list[str] = []
    rows: dict[str, dict[str, str]] = {}
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip().lower() for c in (reader.fieldnames or [])]
            if "file" not in columns:
                return {}, [f"{path}: no 'file' column; sidecar ignored"]
            unknown = [c for c in columns if c not in ("file", *METADATA_FIELDS, *EXTRA_FIELDS)]
            if unknown:
                warnings.append(f"{path}: unknown column(s) {', '.join(unknown)} ignored")
            for lineno, raw in enumerate(reader, start=2):
                row = {(k or "").strip().lower(): _clean_value(v) for k, v in raw.items() if k}
                if None in raw:
                    warnings.append(f"{path}: line {lineno} has more cells than columns")
                name = row.pop("file", "")
                if not name:
                    warnings.append(f"{path}: line {lineno} has no file name; ignored")
                    continue
                rows[Path(name).as_posix()] = {
                    k: v for k, v in row.items() if v and k in (*METADATA_FIELDS, *EXTRA_FIELDS)
                }
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        return {}, [f"{path}: unreadable sidecar ({exc}); ignored"]
    return rows, warnings


def collect_sidecars(root: Path) -> tuple[dict[Path, dict[str, str]], list[str]]:
    """All sidecar rows under ``root`` keyed by absolute file path; warn on rows for missing files."""
    merged: dict[Path, dict[str, str]] = {}
    warnings: list[str] = []
    for sidecar in sorted(root.rglob(SIDECAR_NAME)):
        rows, problems = read_sidecar(sidecar)
        warnings += problems
        for name, fields in rows.items():
            target = (sidecar.parent / name).resolve()
            if not target.is_file():
                warnings.append(f"{sidecar}: row for missing file '{name}'")
                continue
            merged[target] = fields
    return merged, warnings
