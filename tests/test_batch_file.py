"""Batch files: ingested documents on disk, streamed a unit at a time, never trusted when damaged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.ingest.batch import units_from_text
from pipeline.ingest.batch_file import BatchWriter, read_rows, read_summary, row_value, rows_json, units_table
from pipeline.schema import Coding, Document
from pipeline.tables import coded_units_schema, coded_units_table, object_frame, rows_frame, units_schema

INTERVIEW = ("Informan: Ibu SW\nInstansi: DPMPTSP\n\nP: Bagaimana koordinasi di MPP?\n\n"
             "I: Koordinasi rutin lewat rapat. Tapi data belum sinkron dengan Dukcapil.\n")


def written(path: Path, *documents: tuple[Document, list] | str) -> list[dict]:
    writer = BatchWriter(path)
    for item in documents:
        if isinstance(item, str):
            writer.add_error(item)
        else:
            doc, units = item
            writer.add_document(doc, (u.to_row() for u in units))
    return writer.close()


def test_documents_and_units_come_back_as_written_and_only_the_kept_ones(tmp_path: Path) -> None:
    first = units_from_text(INTERVIEW, "a.txt")
    second = units_from_text(INTERVIEW.replace("Ibu SW", "Bapak JJ"), "b.txt")
    summary = written(tmp_path / "batch.jsonl", first, "unreadable: no text layer", second)
    assert [entry.get("units") for entry in summary] == [len(first[1]), None, len(second[1])]
    assert summary[1] == {"error": "unreadable: no text layer"}
    assert "text" not in summary[0]["document"]  # the summary stays small, whatever the document's size
    rows = list(read_rows(tmp_path / "batch.jsonl"))
    assert rows[0] == first[0] and rows[len(first[1]) + 1] == second[0]
    assert [r["unit_id"] for r in rows if isinstance(r, dict)] == [u.unit_id for u in first[1] + second[1]]
    kept = list(read_rows(tmp_path / "batch.jsonl", keep=[2]))
    assert kept[0] == second[0] and [r["text"] for r in kept[1:]] == [u.text for u in second[1]]
    assert read_summary(tmp_path / "batch.jsonl") == summary


def test_units_read_back_become_json_exactly_as_if_serialised_again(tmp_path: Path) -> None:
    """The coding job's JSON (and so its cache key) is the same whether the rows are re-serialised or joined."""
    odd = INTERVIEW.replace("Bagaimana", 'Bagaimana "MPP" \\ 😀 é').replace("rapat.", "rapat.\t\u2028")
    doc, units = units_from_text(odd, "odd.txt")
    expected = [u.to_row() for u in units]
    expected[-1]["text_clean"] += "\ud800"  # a lone surrogate: orjson refuses it, json takes it
    writer = BatchWriter(tmp_path / "batch.jsonl")
    writer.add_document(doc, iter(expected))
    writer.close()
    rows = [r for r in read_rows(tmp_path / "batch.jsonl") if isinstance(r, dict)]
    plain = [dict(r) for r in rows]
    assert plain == expected
    assert json.loads(rows_json(rows)) == expected
    assert rows_json(rows[:1] + plain[1:]) == rows_json(rows)  # rows of other origin mix in


def test_units_read_as_lines_give_the_same_job_json_table_and_frame_as_rows(tmp_path: Path) -> None:
    """A coding job's units held as lines: the same cache key text, and the same table as row by row."""
    odd = INTERVIEW.replace("Bagaimana", 'Bagaimana "MPP" \\ 😀 é').replace("rapat.", "rapat.\t\u2028")
    doc, units = units_from_text(odd, "odd.txt")
    writer = BatchWriter(tmp_path / "batch.jsonl")
    writer.add_document(doc, (u.to_row() for u in units))
    writer.close()
    rows = [r for r in read_rows(tmp_path / "batch.jsonl") if isinstance(r, dict)]
    lines = [r for r in read_rows(tmp_path / "batch.jsonl", raw_units=True) if isinstance(r, bytes)]
    assert rows_json(lines) == rows_json(rows)
    assert row_value(lines[1], "unit_id") == rows[1]["unit_id"]
    from_lines, from_rows = units_table(lines, units_schema()), units_table(rows, units_schema())
    assert from_lines.equals(from_rows) and from_lines.to_pylist() == [u.to_row() for u in units]
    assert object_frame(from_lines).equals(rows_frame(rows, list(units_schema().names)))


def test_lines_that_are_not_utf8_are_not_parsed_unchecked() -> None:
    """A lone surrogate (written with surrogatepass) fails as it does row by row, never into a string silently."""
    line = b'{"doc_id":"d","unit_id":"u","text":"x\xed\xa0\x80"}'
    with pytest.raises(UnicodeError):
        units_table([line], units_schema())


def test_coded_units_sit_beside_their_units_row_for_row(tmp_path: Path) -> None:
    doc, units = units_from_text(INTERVIEW, "a.txt")
    table = units_table([u.to_row() for u in units], units_schema())
    codings = rows_frame([Coding(u.unit_id, "perry6", "koordinasi", 0.5, "positive", "m").to_row() for u in units],
                         list(Coding.__dataclass_fields__))
    coded = coded_units_table(table, codings)
    assert coded.schema == coded_units_schema() and coded.num_rows == len(units)
    assert coded.column("unit_id").to_pylist() == [u.unit_id for u in units]
    assert set(coded.column("code").to_pylist()) == {"koordinasi"}
    with pytest.raises(ValueError, match="order"):
        coded_units_table(table, codings.iloc[::-1])


def test_a_document_that_fails_half_way_leaves_nothing_behind(tmp_path: Path) -> None:
    doc, units = units_from_text(INTERVIEW, "a.txt")

    def breaks_after_two():
        yield from (u.to_row() for u in units[:2])
        raise ValueError("segmenter broke")

    writer = BatchWriter(tmp_path / "batch.jsonl")
    with pytest.raises(ValueError):
        writer.add_document(doc, breaks_after_two())
    writer.add_error("internal error (ValueError: segmenter broke)")
    writer.add_document(doc, (u.to_row() for u in units))
    summary = writer.close()
    assert len(summary) == 2 and read_summary(tmp_path / "batch.jsonl") == summary  # the checksum still holds
    rows = list(read_rows(tmp_path / "batch.jsonl"))
    assert len(rows) == 1 + len(units)  # the half-written document's units are gone


@pytest.mark.parametrize("damage", ["edit", "truncate", "empty", "missing"])
def test_a_damaged_batch_file_is_never_trusted(damage: str, tmp_path: Path) -> None:
    path = tmp_path / "batch.jsonl"
    written(path, units_from_text(INTERVIEW, "a.txt"))
    raw = path.read_bytes()
    if damage == "edit":  # every line still valid JSON: only the checksum can tell
        path.write_bytes(raw.replace(b"Koordinasi", b"KOORDINASI", 1))
    elif damage == "truncate":
        path.write_bytes(raw[: len(raw) // 2])
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.unlink()
    assert read_summary(path) is None


def test_an_abandoned_batch_leaves_no_file(tmp_path: Path) -> None:
    writer = BatchWriter(tmp_path / "batch.jsonl")
    writer.add_error("unreadable")
    writer.discard()
    assert list(tmp_path.iterdir()) == []
