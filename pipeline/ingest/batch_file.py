"""One batch of ingested files on disk: a checksummed JSON Lines file, written and read a unit at a time.

The file holds, per file of the batch in order, either an ``{"error": reason}``
line, or a ``{"document": row}`` line followed by one line per unit row.  Its
last line is the trailer ``{"files": [...], "sha256": ...}``: a summary per
file (the document row without its text, and its unit count; or the error)
and the sha256 of every byte before the trailer.  A file whose checksum does
not match is damaged and is never read.

Units are written as the segmenter yields them and read back one by one, so
neither side ever holds a whole document's units: a 50 MB transcript costs
its text, not its hundreds of thousands of units several times over.  The
main job keeps these files in the resume cache (a finished batch is never
redone) or, without it, in the run's working folder.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson
import pyarrow as pa
import pyarrow.json as pa_json

from pipeline.schema import Document
from pipeline.tables import compact_json

#: A trailer line starts with this (no unit, document or error line does).
_TRAILER = b'{"files":'
#: A unit line starts with this (unit rows begin with their document's id, then their own).
_UNIT = b'{"doc_id":'


def document_row(doc: Document) -> dict[str, Any]:
    """A document as one JSON-safe row (its metadata dict kept whole)."""
    return doc.to_row() | {"metadata": doc.metadata}


def document_from_row(row: dict[str, Any]) -> Document:
    """The inverse of :func:`document_row` (the text may be absent in a summary)."""
    fields = {k: row.get(k, "") for k in ("doc_id", "path", "kind", "fmt", "encoding", "text")}
    warnings = [w for w in row["warnings"].split("\n") if w]
    return Document(**fields, metadata=row["metadata"], warnings=warnings)


def _json(record: Any) -> bytes:
    """One record as compact JSON, its fields in their order (the same text every time)."""
    return compact_json(record, sort_keys=False)


def _line(record: Any) -> bytes:
    return _json(record) + b"\n"


class BatchWriter:
    """Writes one batch file atomically (temp file + rename); a document that fails half-way is rolled back."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        self._out: BinaryIO = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/discard()
        self._sha = hashlib.sha256()
        self.files: list[dict[str, Any]] = []

    def _write(self, data: bytes) -> None:
        self._out.write(data)
        self._sha.update(data)

    def add_error(self, reason: str) -> None:
        """One file that could not be read."""
        self._write(_line({"error": reason}))
        self.files.append({"error": reason})

    def add_document(self, doc: Document, units: Iterable[dict[str, Any]]) -> None:
        """One document and its unit rows, streamed; if ``units`` raises, nothing of this document is kept."""
        mark, sha = self._out.tell(), self._sha.copy()
        try:
            row = document_row(doc)
            self._write(_json({"document": row}))  # not _line: adding the newline would copy a huge text again
            self._write(b"\n")
            count = 0
            for unit in units:
                self._write(_line(unit))
                count += 1
        except BaseException:
            self._out.seek(mark)
            self._out.truncate()
            self._sha = sha
            raise
        del row["text"]
        self.files.append({"document": row, "units": count})

    def close(self) -> list[dict[str, Any]]:
        """Write the trailer and move the file into place; returns the per-file summary."""
        self._out.write(_line({"files": self.files, "sha256": self._sha.hexdigest()}))
        self._out.close()
        os.replace(self._tmp, self.path)
        return self.files

    def discard(self) -> None:
        """Give up: remove the temp file."""
        self._out.close()
        self._tmp.unlink(missing_ok=True)


def _trailer(path: Path) -> tuple[bytes, int]:
    """The last line of ``path`` and where it starts."""
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        block, step = b"", 1 << 16
        while True:
            start = max(0, end - len(block) - step)
            handle.seek(start)
            block = handle.read(end - start)
            cut = block.rfind(b"\n", 0, len(block) - 1)
            if cut >= 0 or start == 0:
                return block[cut + 1:], start + cut + 1


def read_summary(path: Path) -> list[dict[str, Any]] | None:
    """The per-file summary of an intact batch file; None when it is missing, truncated or damaged."""
    try:
        last, where = _trailer(path)
        if not last.startswith(_TRAILER):
            return None
        trailer = json.loads(last)
        sha = hashlib.sha256()
        with open(path, "rb") as handle:
            remaining = where
            while remaining:
                chunk = handle.read(min(remaining, 1 << 20))
                if not chunk:
                    return None
                sha.update(chunk)
                remaining -= len(chunk)
    except (OSError, ValueError):
        return None
    return trailer["files"] if sha.hexdigest() == trailer.get("sha256") else None


class UnitRow(dict):  # type: ignore[type-arg]
    """A unit row read from a batch file, with its line: the row's JSON (:func:`_json`) is that line.

    So a coding job's units become JSON by joining their lines, without
    serialising every row again (:func:`rows_json`).
    """

    __slots__ = ("line",)
    line: str


def loads(raw: bytes | str) -> Any:
    """One JSON line; orjson where it can (twice as fast), json for what it refuses (lone surrogates)."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


def rows_json(rows: list[dict[str, Any]] | list[bytes]) -> str:
    """The rows as one JSON array, reusing the lines of rows read from a batch file (the same text either way)."""
    if rows and all(isinstance(r, bytes) for r in rows):
        return (b"[" + b",".join(rows) + b"]").decode("utf-8", "surrogatepass")  # type: ignore[arg-type]
    lines = (r.line if isinstance(r, UnitRow) else _line_text(r) for r in rows)
    return "[" + ",".join(lines) + "]"


def _line_text(row: dict[str, Any] | bytes) -> str:
    return (row if isinstance(row, bytes) else _json(row)).decode("utf-8", "surrogatepass")


def row_value(row: dict[str, Any] | bytes, name: str) -> Any:
    """One field of a unit row, also of a row still held as its line (:func:`read_rows` with ``raw_units``)."""
    return (row if isinstance(row, dict) else loads(row))[name]


def units_table(rows: list[dict[str, Any]] | list[bytes], schema: pa.Schema) -> pa.Table:
    """Unit rows as an Arrow table of ``schema``, in order.

    Rows held as their lines are parsed together by pyarrow's JSON reader:
    ~4x less CPU than a dict per row and a pandas frame (a large run's
    process spends most of its time on such bookkeeping).  Lines that are not
    valid UTF-8 (a lone surrogate, written with ``surrogatepass``) take the
    row-by-row way, as dict rows do.
    """
    if rows and all(isinstance(r, bytes) for r in rows):
        data = b"\n".join(rows)  # type: ignore[arg-type]
        try:
            data.decode("utf-8")  # pyarrow would take invalid UTF-8 into its strings unchecked
        except UnicodeDecodeError:
            pass
        else:
            return pa_json.read_json(
                io.BytesIO(data), read_options=pa_json.ReadOptions(use_threads=False, block_size=len(data) + 1),
                parse_options=pa_json.ParseOptions(explicit_schema=schema, unexpected_field_behavior="error"))
    return pa.Table.from_pylist([row if isinstance(row, dict) else loads(row) for row in rows], schema=schema)


def read_rows(path: Path, keep: Iterable[int] | None = None,
              raw_units: bool = False) -> Iterator[Document | UnitRow | bytes]:
    """The documents (as :class:`Document`) each followed by its unit rows, in file order.

    ``keep``: positions (in the batch) of the files wanted; the others, and
    error lines, are skipped.  Read a line at a time.  With ``raw_units`` a
    unit row comes as its line (bytes, without the newline), for
    :func:`units_table` and :func:`rows_json` to take whole.
    """
    wanted = None if keep is None else set(keep)
    position, keeping = -1, False
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.startswith(_TRAILER):
                return
            if raw.startswith(_UNIT):
                if keeping and raw_units:
                    yield raw[:-1] if raw.endswith(b"\n") else raw
                elif keeping:
                    row = UnitRow(loads(raw))
                    row.line = raw.decode("utf-8", "surrogatepass").rstrip("\n")
                    yield row
                continue
            record = json.loads(raw)
            position += 1
            keeping = "document" in record and (wanted is None or position in wanted)
            if keeping:
                yield document_from_row(record["document"])
