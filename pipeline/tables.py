"""Records <-> DataFrames, tables read in chunks, and atomic table writes (parquet, CSV, JSON).

A run's unit table can be larger than memory: it is appended to a parquet
file a batch at a time (:class:`ParquetAppender`) and read back in chunks
(:class:`ChunkedTable`), so every export streams.
"""

from __future__ import annotations

import errno
import json
import os
import typing
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline.atomic import write_text, write_with
from pipeline.schema import METADATA_FIELDS, Coding, Document, Unit

#: Rows per chunk when a table is read back for export, and per row group when it is written.  20,000 was
#: no faster (export of 31k units 3.3-3.8 s either way) and held ~60 MB more at 8,000 files.
CHUNK_ROWS = 5_000
#: The columns a coding adds to a unit in the coded unit table (``units.parquet`` of a run).
CODING_COLUMNS: list[str] = ["codebook", "code", "score", "valence", "model", "evidence"]
_ARROW_TYPES = {str: pa.string(), int: pa.int64(), float: pa.float64()}
#: Columns of free text (a document's whole text, a unit's text, its evidence JSON): parquet gets no
#: dictionary and no min/max statistics for them.  Statistics copy a value whole (a 50 MB document
#: cost ~300 MB more to write) and neither helps a column whose values are all different.
FREE_TEXT_COLUMNS = frozenset({"text", "text_clean", "evidence", "warnings"})


def _arrow_fields(record_type: type) -> list[pa.Field]:
    hints = typing.get_type_hints(record_type)
    return [pa.field(f.name, _ARROW_TYPES[hints[f.name]]) for f in fields(record_type) if hints[f.name] in _ARROW_TYPES]


def units_schema() -> pa.Schema:
    """Columns of a unit row (:meth:`Unit.to_row`)."""
    return pa.schema(_arrow_fields(Unit))


def coded_units_schema() -> pa.Schema:
    """Columns of the coded unit table: every unit field, then the coding's fields."""
    coding = {f.name: f for f in _arrow_fields(Coding)}
    return pa.schema(_arrow_fields(Unit) + [coding[name] for name in CODING_COLUMNS])


def coded_units_table(units: pa.Table, codings: pd.DataFrame) -> pa.Table:
    """Rows of the coded unit table: ``units`` (a :func:`units_schema` table) beside their codings.

    ``codings`` holds one row per unit, in the units' order (a ValueError
    otherwise): the two are put side by side, no join needed.
    """
    if codings["unit_id"].tolist() != units.column("unit_id").to_pylist():
        raise ValueError("codings: not one row per unit in the units' order")
    schema = coded_units_schema()
    columns = {name: pa.array(codings[name].tolist(), schema.field(name).type) for name in CODING_COLUMNS}
    return pa.table([columns[name] if name in columns else units.column(name) for name in schema.names],
                    schema=schema)


def documents_schema() -> pa.Schema:
    """Columns of the documents table (:meth:`Document.to_row`): all text."""
    names = [f.name for f in fields(Document) if f.name != "metadata"] + list(METADATA_FIELDS)
    return pa.schema([pa.field(name, pa.string()) for name in names])


#: Parquet compression of the run's tables: zstd (level 1) wrote a unit table ~2x as fast as pyarrow's default
#: snappy and ~3.7x smaller; pandas, polars, DuckDB and R's arrow all read it.
PARQUET_COMPRESSION = "zstd"


class ParquetAppender:
    """Append DataFrames with a fixed schema to one parquet file.

    Appends are buffered into row groups of about ``CHUNK_ROWS`` rows (or 64 MB):
    a row group per small append would make the file's metadata, parsed at every
    read, grow with the number of appends.
    """

    #: Most bytes of rows buffered before a row group is written (unless the appender is given a bound).
    MAX_BUFFER_BYTES = 64 * 2**20

    def __init__(self, path: Path, schema: pa.Schema, max_bytes: int = MAX_BUFFER_BYTES) -> None:
        self.path, self.schema, self.rows, self.max_bytes = Path(path), schema, 0, max_bytes
        indexed = [name for name in schema.names if name not in FREE_TEXT_COLUMNS]
        self._writer = pq.ParquetWriter(self.path, schema, use_dictionary=indexed, write_statistics=indexed,
                                        compression=PARQUET_COMPRESSION)
        self._buffer: list[pa.Table] = []
        self._buffered_rows = self._buffered_bytes = 0

    def append(self, frame: pd.DataFrame) -> None:
        """Add ``frame``'s rows (columns in schema order, extra columns dropped)."""
        if len(frame):
            self.append_table(pa.Table.from_pandas(frame[self.schema.names], schema=self.schema, preserve_index=False))

    def append_table(self, table: pa.Table) -> None:
        """Add the rows of an Arrow table of this appender's schema."""
        if table.num_rows:
            self._buffer.append(table)
            self._buffered_rows += table.num_rows
            self._buffered_bytes += table.nbytes
            self.rows += table.num_rows
            if self._buffered_rows >= CHUNK_ROWS or self._buffered_bytes >= self.max_bytes:
                self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        try:
            self._writer.write_table(pa.concat_tables(self._buffer), row_group_size=max(self._buffered_rows, 1))
        except OSError as exc:  # pyarrow's message names no file
            reason = os.strerror(exc.errno) if exc.errno else " ".join(str(exc).split())
            raise OSError(exc.errno or errno.EIO, reason, str(self.path)) from exc
        self._buffer, self._buffered_rows, self._buffered_bytes = [], 0, 0

    def close(self) -> None:
        """Write what is buffered and finish the file (an empty table still gets its columns)."""
        self._flush()
        self._writer.close()


@dataclass(frozen=True)
class ChunkedTable:
    """A parquet table read a chunk at a time (``select``: only these columns)."""

    path: Path
    select: tuple[str, ...] | None = None

    @property
    def columns(self) -> list[str]:
        return list(self.select or pq.ParquetFile(self.path).schema_arrow.names)

    def _selected(self) -> list[str] | None:
        """The selected columns, or None for all of them (without reading the file)."""
        return list(self.select) if self.select else None

    def without(self, *names: str) -> ChunkedTable:
        """The same table without some columns."""
        return ChunkedTable(self.path, tuple(c for c in self.columns if c not in names))

    def __len__(self) -> int:
        return pq.ParquetFile(self.path).metadata.num_rows

    def chunks(self, columns: list[str] | None = None, rows: int = CHUNK_ROWS) -> Iterator[pd.DataFrame]:
        """The table in order, ``rows`` rows at a time (one empty frame for an empty table)."""
        source = pq.ParquetFile(self.path)
        columns = columns or self._selected()
        empty = True
        for batch in source.iter_batches(batch_size=rows, columns=columns):
            empty = False
            yield batch.to_pandas()
        if empty:
            yield source.schema_arrow.empty_table().to_pandas()[columns or slice(None)]

    def batches(self, rows: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
        """The table in order as Arrow record batches of ``rows`` rows (none for an empty table)."""
        yield from pq.ParquetFile(self.path).iter_batches(batch_size=rows, columns=self._selected())

    def records(self, rows: int) -> Iterator[dict[str, Any]]:
        """The rows in order as dicts, read ``rows`` at a time (for tables of long texts: documents)."""
        for batch in self.batches(rows):
            yield from batch.to_pylist()

    def read(self, columns: list[str] | None = None) -> pd.DataFrame:
        """The whole table (for notebooks and tests: a run itself never does this)."""
        return pd.read_parquet(self.path, columns=columns or self._selected())


def rows_frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows as a frame whose text columns hold Python strings (object dtype), not pandas' Arrow strings.

    A run turns each coded batch into frames for the evidence and the report;
    on frames of a few thousand rows, ``isin`` and iteration over Arrow-backed
    strings took ~3x as long (a third of a large lexicon run's bookkeeping).
    The values are the same either way.
    """
    data = {name: [row[name] for row in rows] for name in columns}
    return pd.DataFrame({name: pd.Series(values, dtype=object) if values and isinstance(values[0], str)
                         else pd.Series(values) for name, values in data.items()}, columns=columns)


def object_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as a frame whose text columns hold Python strings (object dtype), as :func:`rows_frame` makes."""
    return pd.DataFrame({name: pd.Series(column.to_pylist(), dtype=object) if pa.types.is_string(column.type)
                         else column.to_pandas() for name, column in zip(table.column_names, table.columns)},
                        columns=table.column_names)


def units_frame(units: Iterable[Unit]) -> pd.DataFrame:
    """One row per unit, columns in schema order."""
    rows = [u.to_row() for u in units]
    columns = list(Unit.__dataclass_fields__)
    return pd.DataFrame(rows, columns=columns)


def documents_frame(documents: Iterable[Document]) -> pd.DataFrame:
    """One row per document, metadata fields as columns."""
    rows = [d.to_row() for d in documents]
    return pd.DataFrame(rows)


def write_table(frame: pd.DataFrame, out_dir: Path, name: str, csv: bool = True) -> list[Path]:
    """Write ``name.parquet`` (and ``name.csv``) atomically; returns the paths written."""
    parquet = out_dir / f"{name}.parquet"
    write_with(parquet, lambda tmp: frame.to_parquet(tmp, index=False, compression=PARQUET_COMPRESSION))
    written = [parquet]
    if csv:
        target = out_dir / f"{name}.csv"
        write_with(target, lambda tmp: frame.to_csv(tmp, index=False, encoding="utf-8"))
        written.append(target)
    return written


#: Characters that make a CSV field quoted: those Python's csv module quotes with pandas' "\n" line ends, and a
#: lone carriage return too, so that no reader takes it for a line end.
CSV_QUOTED = r'[",\n\r]'


def csv_field(column: pa.Array) -> pa.Array:
    """A column's CSV text as pandas' ``to_csv`` writes it: nulls and NaN empty, other values as ``str``.

    Strings are quoted only when they hold a quote, a comma or a line break
    (quotes doubled inside), like Python's csv module (see :data:`CSV_QUOTED`).
    """
    kind = column.type
    if pa.types.is_large_string(kind):  # a batch holds far less than 2 GB
        return csv_field(pc.cast(column, pa.string()))
    if pa.types.is_integer(kind):
        return pc.fill_null(pc.cast(column, pa.string()), "")
    if not pa.types.is_string(kind):  # floats (repr), booleans (True/False)
        return pa.array(["" if value is None or value != value else str(value) for value in column.to_pylist()],
                        pa.string())
    text = pc.fill_null(column, "")
    needs_quotes = pc.match_substring_regex(text, CSV_QUOTED)
    if not pc.any(needs_quotes).as_py():  # ids, codes, places: quoting them all would only be thrown away
        return text
    quoted = pc.binary_join_element_wise('"', pc.replace_substring(text, '"', '""'), '"', "")
    return pc.if_else(needs_quotes, quoted, text)


def csv_lines(batch: pa.RecordBatch) -> bytes:
    """A batch's rows as CSV lines (comma-separated, each ending in a newline), in UTF-8."""
    if batch.num_rows == 0:
        return b""
    fields = [csv_field(column) for column in batch.columns]
    lines = pc.binary_join_element_wise(*fields[:-1], pc.binary_join_element_wise(fields[-1], "", "\n"), ",")
    _, offsets, data = lines.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int32)[[lines.offset, lines.offset + len(lines)]]
    return data.to_pybytes()[bounds[0]:bounds[1]]


def write_csv_batches(names: list[str], batches: Iterable[pa.RecordBatch], target: Path) -> Path:
    """Write a table given in record batches as one CSV file atomically (header once).

    The bytes are those of pandas' ``to_csv(index=False)`` (a lone carriage
    return aside: it is quoted), built in Arrow: a run's 155k units take ~1 s
    instead of 4-6 s.
    """

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            handle.write(csv_lines(pa.record_batch([pa.array([name]) for name in names], names=names)))
            for batch in batches:
                handle.write(csv_lines(batch))

    write_with(target, write)
    return target


def compact_json(data: Any, default: Any = None, sort_keys: bool = True) -> bytes:
    """``data`` as compact JSON in UTF-8, keys sorted unless ``sort_keys`` is False.

    For evidence cells, checksums of task results and the lines of batch
    files.  orjson where it can (3-10x faster), json for what it refuses (lone
    surrogates, numpy scalars); both give the same text.  ``default`` turns
    values neither can encode into ones they can.
    """
    try:
        return orjson.dumps(data, option=orjson.OPT_SORT_KEYS if sort_keys else None, default=default)
    except TypeError:  # orjson.JSONEncodeError is one
        return json.dumps(data, ensure_ascii=False, sort_keys=sort_keys, separators=(",", ":"),
                          default=default).encode("utf-8", "surrogatepass")


def write_json(obj: Any, target: Path) -> Path:
    """Write pretty, key-sorted UTF-8 JSON atomically (deterministic across runs)."""
    write_text(target, json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True) + "\n")
    return target
