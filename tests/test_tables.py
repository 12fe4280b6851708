"""The run's tables on disk: appended in row groups, read back in chunks or a few records at a time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from pipeline.tables import FREE_TEXT_COLUMNS, ChunkedTable, ParquetAppender, documents_schema


def documents(n: int, text_chars: int = 10) -> pd.DataFrame:
    """``n`` documents of the documents table, each with a text of ``text_chars`` characters."""
    names = documents_schema().names
    rows = [{name: f"{name}-{i}" for name in names} | {"text": f"{i:04d}" + "é" * (text_chars - 4)}
            for i in range(n)]
    return pd.DataFrame(rows, columns=names)


def appended(path: Path, frames: list[pd.DataFrame], max_bytes: int = ParquetAppender.MAX_BUFFER_BYTES) -> Path:
    appender = ParquetAppender(path, documents_schema(), max_bytes)
    for frame in frames:
        appender.append(frame)
    appender.close()
    return path


def test_free_text_columns_get_no_statistics_and_no_dictionary(tmp_path: Path) -> None:
    """Min/max statistics copy a whole value (a 50 MB transcript's text); ids and metadata keep theirs."""
    path = appended(tmp_path / "documents.parquet", [documents(3)])
    group = pq.ParquetFile(path).metadata.row_group(0)
    for i in range(group.num_columns):
        column = group.column(i)
        free = column.path_in_schema in FREE_TEXT_COLUMNS
        assert (column.statistics is None) == free, column.path_in_schema
        assert column.has_dictionary_page != free, column.path_in_schema


def test_long_texts_are_written_once_the_byte_bound_is_reached(tmp_path: Path) -> None:
    """A documents appender with a small byte bound does not keep big texts buffered until the end."""
    frames = [documents(1, text_chars=50_000) for _ in range(4)]
    bounded = appended(tmp_path / "bounded.parquet", frames, max_bytes=60_000)
    assert pq.ParquetFile(bounded).metadata.num_row_groups == 4
    assert pq.ParquetFile(appended(tmp_path / "default.parquet", frames)).metadata.num_row_groups == 1


def test_records_are_the_rows_in_order_whatever_the_read_size(tmp_path: Path) -> None:
    path = appended(tmp_path / "documents.parquet", [documents(5), documents(2)])
    table = ChunkedTable(path)
    expected = table.read().to_dict("records")
    for rows in (1, 3, 100):
        assert list(table.records(rows)) == expected
    narrow = table.without("text")
    assert list(narrow.records(2)) == narrow.read().to_dict("records")
