"""The run's tables on disk: appended in row groups, read back in chunks or a few records at a time."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.tables import FREE_TEXT_COLUMNS, ChunkedTable, ParquetAppender, documents_schema, write_csv_batches


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


TRICKY = ["", "plain", "koma, di tengah", 'kutip "dalam" teks', "baris\nbaru", "carriage\rreturn", "crlf\r\nend",
          " spasi di tepi ", "emoji 😀 dan ñ", "\u2028 pemisah", None, ",", '"', "a,b\"c\nd"]
TEXTS = st.one_of(st.none(), st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")))
ROWS = st.lists(st.tuples(TEXTS, st.one_of(st.none(), st.floats(allow_infinity=True)), st.integers(-2**40, 2**40)),
                max_size=30)


def csv_of(rows: list[tuple], folder: Path) -> tuple[Path, ChunkedTable]:
    """``rows`` (text, score, index) as a parquet table, and the CSV written from it in batches of 7 rows."""
    path = folder / "units.parquet"
    pd.DataFrame(rows, columns=["text", "score", "index"]).to_parquet(path, index=False)
    table = ChunkedTable(path)
    return write_csv_batches(table.columns, table.batches(rows=7), path.with_suffix(".csv")), table


@settings(max_examples=60, deadline=None)
@given(ROWS)
def test_csv_is_what_pandas_writes_and_reads_back(tmp_path_factory: pytest.TempPathFactory, rows: list) -> None:
    """units.csv is built in Arrow: pandas reads every value back, and the bytes are pandas' own to_csv's."""
    rows = rows + [(text, 0.1 * i, i) for i, text in enumerate(TRICKY)]
    written, _ = csv_of(rows, tmp_path_factory.mktemp("csv"))
    back = pd.read_csv(written, keep_default_na=False, dtype={"text": str}, na_values={"score": [""]})
    assert back["text"].tolist() == [text or "" for text, _, _ in rows]
    assert back["index"].tolist() == [number for _, _, number in rows]
    scores = [s for _, s, _ in rows]
    assert [x if x == x else None for x in back["score"]] == [None if s is None or s != s else s for s in scores]
    # Python's csv module leaves a lone carriage return unquoted (a reader may take it for a line end); we quote it
    plain = [row for row in rows if "\r" not in (row[0] or "")]
    written, table = csv_of(plain, tmp_path_factory.mktemp("csv"))
    expected = "".join(chunk.to_csv(index=False, header=i == 0) for i, chunk in enumerate(table.chunks()))
    assert written.read_bytes() == expected.encode("utf-8")
