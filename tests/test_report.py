"""The researcher-facing exports: the HTML report, the workbook and the run folder's data dictionary."""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from pipeline.aggregate import STRENGTH_FORMULA, evidence_table, summary_by_code
from pipeline.codebook import load_codebook
from pipeline.export.data_dictionary import data_dictionary_markdown, undescribed_columns
from pipeline.export.report import render_report, write_report
from pipeline.export.workbook import MAX_WIDTH, MIN_WIDTH, codebook_table, write_workbook
from pipeline.schema import Coding, Document, Unit
from pipeline.tables import documents_frame, units_frame

PERRY6 = load_codebook("perry6")
HOSTILE = 'Server <script>alert("x")</script> sering down & "lambat"'
RUN_INFO = {"corpus": "korpus/uji", "date": "2025-06-01", "model": "lexicon:perry6@test"}

TURNS = [  # (speaker, informant, agency, city, text, code, score, valence)
    ("Bapak AR", "Bapak AR", "DPMPTSP Kota Padang", "Kota Padang", "Rapat koordinasi rutin tiap bulan.",
     "koordinasi", 0.9, "positive"),
    ("Bapak AR", "Bapak AR", "DPMPTSP Kota Padang", "Kota Padang", "Koordinasi lewat grup WA juga jalan.",
     "koordinasi", 0.8, "positive"),
    ("Bapak MZ", "Bapak MZ", "BPN Kota Padang", "Kota Padang", HOSTILE, "integrasi", 0.9, "negative"),
    ("Bapak MZ", "Bapak MZ", "BPN Kota Padang", "Kota Padang", "Layanan BPN masih di kantor induk.",
     "integrasi", 0.7, "negative"),
    ("Ibu DS", "Ibu DS", "BPJS", "Kota Bengkulu", "Semua instansi ada di satu gedung.", "integrasi", 0.8, "positive"),
    ("Ibu DS", "Ibu DS", "BPJS", "Kota Bengkulu", "Terima kasih, Pak.", "uncoded", 0.0, "neutral"),
    ("P", "Ibu DS", "BPJS", "Kota Bengkulu", "Bagaimana koordinasinya?", "koordinasi", 0.6, "neutral"),
    ("Bapak AR", "Bapak AR", "DPMPTSP Kota Padang", "Kota Padang", "=SUM(A1:A9) bukan rumus\x07",
     "uncoded", 0.0, "neutral"),
]


def build_tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Units and codings of a two-city fixture, including a hostile quote, a formula and a control char."""
    units, codings = [], []
    for i, (speaker, informant, agency, city, text, code, score, valence) in enumerate(TURNS):
        doc = "padang" if city == "Kota Padang" else "bengkulu"
        units.append(Unit(doc_id=doc, unit_id=f"{doc}-{i:05d}", index=i, start=100 * i, end=100 * i + len(text),
                          text=text, kind="utterance", block_id=f"{doc}-t{i}", speaker=speaker,
                          speaker_role="interviewer" if speaker == "P" else "informant", informant=informant,
                          position="Petugas", agency=agency, city=city, study=f"WoG MPP {city} 2025",
                          path=f"wawancara/{doc}.txt", text_clean=text))
        codings.append(Coding(f"{doc}-{i:05d}", "perry6", code, score, valence, RUN_INFO["model"], "{}"))
    units_df = units_frame(units)
    codings_df = pd.DataFrame([c.to_row() for c in codings])
    return units_df, codings_df, evidence_table(units_df, codings_df, PERRY6)


@pytest.fixture(scope="module")
def tables() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    return build_tables()


@pytest.fixture(scope="module")
def page(tables) -> str:
    units, codings, evidence = tables
    return render_report(units, codings, evidence, PERRY6, RUN_INFO)


def test_report_is_self_contained(page: str) -> None:
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", page, re.I)
    assert not re.search(r"<link\b|@import|url\((?!#)", page, re.I)  # only url(#id) inside the SVGs
    assert "<script" not in page.lower()  # no scripts at all: the hostile one is escaped
    assert page.count("<svg") == 3  # two heatmaps and the valence bars, inline


def test_report_escapes_quotes_and_names_every_code(page: str) -> None:
    assert html.escape(HOSTILE) in page  # the quote is shown, verbatim and escaped
    assert "wawancara/padang.txt:200–" in page  # where it is: file and offsets
    for code in PERRY6.codes:
        assert html.escape(code.name) in page
    assert html.escape(STRENGTH_FORMULA) in page
    for fact in ("korpus/uji", "2025-06-01", PERRY6.version, PERRY6.content_hash):
        assert fact in page


def test_report_shows_findings_per_city_with_verdicts(page: str) -> None:
    padang = page[page.index("<h3>Kota Padang</h3>") :]
    assert padang.index("Rapat koordinasi rutin tiap bulan.") < padang.index("Koordinasi lewat grup WA")
    assert '<span class="pill positive">positive</span>' in padang
    assert '<span class="pill negative">negative</span>' in padang
    # the interviewer's question is coded but is never quoted as evidence
    assert "Bagaimana koordinasinya?" not in page


def test_report_renders_identically(tables, page: str, tmp_path: Path) -> None:
    units, codings, evidence = tables
    again = render_report(units, codings, evidence, PERRY6, RUN_INFO)
    assert again == page
    target = tmp_path / "report.html"
    write_report(page, target)
    assert target.read_text(encoding="utf-8") == page


def test_workbook_opens_with_every_sheet(tables, tmp_path: Path) -> None:
    units, codings, evidence = tables
    sheets = {
        "units": units.merge(codings, on="unit_id"),
        "evidence": evidence,
        "documents": pd.DataFrame({"doc_id": ["padang"], "text": ["x" * 40_000]}),
        "codebook": codebook_table(PERRY6),
    }
    target = tmp_path / "coded.xlsx"
    write_workbook(sheets, target)
    read = pd.read_excel(target, sheet_name=None)
    assert list(read) == ["units", "evidence", "documents", "codebook"]
    assert list(read["evidence"].columns) == list(evidence.columns)
    assert len(read["units"]) == len(units) and len(read["evidence"]) == len(evidence)
    texts = read["units"]["text"].tolist()
    assert HOSTILE in texts
    assert "=SUM(A1:A9) bukan rumus" in texts  # text, not a formula; the control character is gone
    assert len(read["documents"]["text"][0]) <= 32_767  # Excel's cell limit
    assert read["codebook"]["code"].tolist() == PERRY6.code_ids


def test_workbook_is_byte_identical_on_rewrite(tables, tmp_path: Path) -> None:
    units, codings, evidence = tables
    first, second = tmp_path / "a.xlsx", tmp_path / "b.xlsx"
    write_workbook({"evidence": evidence}, first)
    write_workbook({"evidence": evidence}, second)
    assert first.read_bytes() == second.read_bytes()


def test_workbook_refuses_a_bad_sheet_name(tables, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sheet name 'a/b'"):
        write_workbook({"a/b": tables[2]}, tmp_path / "x.xlsx")
    assert not (tmp_path / "x.xlsx").exists()


def test_data_dictionary_describes_every_column_of_the_run_tables(tables) -> None:
    units, codings, evidence = tables
    document = Document(doc_id="padang", path="wawancara/padang.txt", kind="transcript", fmt="txt",
                        encoding="utf-8", text="...", metadata={"city": "Kota Padang"})
    run_tables = {
        "documents": documents_frame([document]),
        "units": units,
        "codings": codings,
        "evidence": evidence,
        "summary": summary_by_code(units, codings),
        "codebook": codebook_table(PERRY6),
        "coded_units": units.merge(codings, on="unit_id"),  # a joined table is covered too
    }
    assert undescribed_columns(run_tables) == {}
    markdown = data_dictionary_markdown(run_tables, {"report.html": "the report"})
    for name, frame in run_tables.items():
        section = markdown[markdown.index(f"## {name}\n") :]
        for column in frame.columns:
            assert f"| `{column}` |" in section
    assert "(not described)" not in markdown
    assert "- `report.html`: the report" in markdown


def test_data_dictionary_flags_an_undescribed_column() -> None:
    frame = pd.DataFrame({"unit_id": ["a"], "mystery": [1]})
    assert undescribed_columns({"units": frame}) == {"units": ["mystery"]}
    assert "| `mystery` | integer | (not described) |" in data_dictionary_markdown({"units": frame})


def test_workbook_layout_survives_the_hand_written_xml(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    frame = pd.DataFrame({"unit_id": ["u1", "u2"], "score": [0.5, 1],
                          "text": ["Koordinasi antar instansi sudah berjalan, " * 3, "Belum."],
                          "evidence": ['{"terms": [], "reason": "' + "x" * 80 + '"}', "{}"]})
    target = tmp_path / "coded.xlsx"
    write_workbook({"units": frame}, target)
    sheet = load_workbook(target)["units"]
    assert [cell.value for cell in sheet[1]] == ["unit_id", "score", "text", "evidence"]
    assert [sheet.cell(r, 2).value for r in (2, 3)] == [0.5, 1]
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:D3"
    assert sheet["A1"].font.b and not sheet["A2"].font.b
    assert sheet["C2"].alignment.wrap_text and not sheet["D2"].alignment.wrap_text  # prose wraps, JSON does not
    assert all(MIN_WIDTH <= sheet.column_dimensions[c].width <= MAX_WIDTH for c in "ABCD")


def test_workbook_keeps_edge_white_space_and_writes_empty_text_as_an_empty_cell(tmp_path: Path) -> None:
    from openpyxl import load_workbook

    texts = ["  dua spasi di depan", "baris satu\nbaris dua ", "tanpa spasi", "", "\tdengan tab"]
    target = tmp_path / "coded.xlsx"
    write_workbook({"units": pd.DataFrame({"text": texts, "n": range(len(texts))})}, target)
    sheet = load_workbook(target)["units"]
    assert [sheet.cell(r, 1).value for r in range(2, 7)] == [*texts[:3], None, texts[4]]
    assert [sheet.cell(r, 2).value for r in range(2, 7)] == list(range(len(texts)))  # the row stays in place
    xml = zipfile.ZipFile(target).read("xl/worksheets/sheet1.xml").decode("utf-8")
    assert xml.count('xml:space="preserve"') == 3  # only where an edge would otherwise be lost
