"""One file -> a Document with metadata and its structure (blocks), ready to segment."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from pipeline.ingest.blocks import Block, trim_span
from pipeline.ingest.metadata import parse_header
from pipeline.ingest.readers import DEFAULT_MAX_BYTES, read_file
from pipeline.ingest.thesis import parse_thesis
from pipeline.ingest.transcript import parse_transcript
from pipeline.schema import Document

_TRANSCRIPT_NAME = re.compile(r"wawancara|transkrip|interview|transcript", re.I)


@dataclass
class ParsedDocument:
    """A document and the blocks its text was cut into (drawn once: a transcript's are made as drawn)."""

    doc: Document
    blocks: Iterable[Block]


def content_hash(path: Path) -> str:
    """The document id: sha256 of the file's bytes, first 12 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:12]


def header_blocks(text: str, end: int) -> list[Block]:
    """One ``header`` block per non-empty line of the metadata header."""
    blocks, cursor = [], 0
    for line in text[:end].split("\n"):
        start, stop = trim_span(text, cursor, cursor + len(line))
        if start < stop:
            blocks.append(Block(start, stop, "header"))
        cursor += len(line) + 1
    return blocks


def expects_transcript(path: Path, metadata: dict[str, str]) -> bool:
    """Whether a file looks like it should be an interview (by metadata or its name)."""
    return bool(metadata.get("informant")) or bool(_TRANSCRIPT_NAME.search(path.as_posix()))


@dataclass
class Structure:
    """What the text itself says: kind, metadata from its header, blocks, warnings."""

    kind: str
    metadata: dict[str, str]
    blocks: Iterable[Block]  # drawn once
    warnings: list[str]


def structure_text(text: str, name: Path, sidecar: dict[str, str] | None = None) -> Structure:
    """Header, then speaker turns if the text is a dialogue, else thesis paragraphs and headings."""
    header = parse_header(text)
    metadata = {**header.fields, **(sidecar or {})}
    warnings = list(header.warnings)
    warnings += [f"sidecar overrides header {k}: '{header.fields[k]}' -> '{v}'"
                 for k, v in (sidecar or {}).items() if header.fields.get(k, v) != v]
    blocks = header_blocks(text, header.end)
    forced = metadata.pop("kind", "").lower()
    turns = None if forced in ("thesis", "skripsi", "tesis") else parse_transcript(text, header.end, metadata)
    if turns:
        return Structure("transcript", metadata, chain(blocks, turns), warnings)
    if forced in ("transcript", "transkrip", "wawancara", "interview") or expects_transcript(name, metadata):
        warnings.append("no recognisable speaker turns; segmented by paragraph")
    return Structure("thesis", metadata, blocks + parse_thesis(text, header.end, metadata), warnings)


def parse_document(path: Path, root: Path, sidecar: dict[str, str] | None = None,
                   max_bytes: int = DEFAULT_MAX_BYTES) -> ParsedDocument:
    """Read, identify and structure one file; raises IngestError if it cannot be read."""
    raw = read_file(path, max_bytes=max_bytes)
    found = structure_text(raw.text, path, sidecar)
    doc = Document(
        doc_id=content_hash(path),
        path=path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name,
        kind=found.kind,
        fmt=raw.fmt,
        encoding=raw.encoding,
        text=raw.text,
        metadata=found.metadata,
        warnings=[*raw.notes, *found.warnings],
    )
    return ParsedDocument(doc, found.blocks)
