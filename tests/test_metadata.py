"""Metadata: header blocks, YAML front matter, metadata.csv sidecars (sidecar wins)."""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.batch import ingest, units_from_text
from pipeline.ingest.corpus import plan_corpus
from pipeline.ingest.metadata import parse_header


def test_header_block_fields() -> None:
    header = parse_header("Kota: Kota Padang\nInforman: Bapak AS\nJabatan: Kabid\nInstansi: DPMPTSP\n"
                          "Tanggal: 2024-03-12\nKerangka: perry6\n\nP: halo\n")
    assert header.fields == {"city": "Kota Padang", "informant": "Bapak AS", "role": "Kabid",
                             "agency": "DPMPTSP", "date": "2024-03-12", "framework": "perry6"}


def test_yaml_front_matter() -> None:
    text = "---\nstudy: Skripsi Padang\ncity: Kota Padang\nagency: BPJS Kesehatan\n---\nP: halo\nI: ya\n"
    doc, units = units_from_text(text, "w.md")
    assert doc.metadata["study"] == "Skripsi Padang" and doc.metadata["agency"] == "BPJS Kesehatan"
    assert units[-1].agency == "BPJS Kesehatan" and units[-1].study == "Skripsi Padang"


def test_malformed_front_matter_is_a_warning() -> None:
    doc, units = units_from_text("---\ncity: [unclosed\n---\nP: halo\nI: ya\n", "w.md")
    assert any("malformed YAML front matter" in w for w in doc.warnings)
    assert units


def test_malformed_header_line_is_a_warning() -> None:
    header = parse_header("Kota: Kota Padang\nInforman: Ibu NK\nini baris rusak\n\nteks")
    assert header.fields["city"] == "Kota Padang"
    assert any("malformed header line" in w for w in header.warnings)


def test_sidecar_beats_header_and_missing_rows_warn(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Kota: Kota Padang\nInforman: Ibu NK\n\nP: halo\nI: ya\n", encoding="utf-8")
    (tmp_path / "metadata.csv").write_text(
        "file,city,agency,study\na.txt,Kota Bukittinggi,Samsat,Studi X\nhilang.txt,Kota Y,,\n", encoding="utf-8")
    result = ingest(plan_corpus(tmp_path))
    doc = result.documents[0]
    assert doc.metadata["city"] == "Kota Bukittinggi" and doc.metadata["informant"] == "Ibu NK"
    assert {u.agency for u in result.units if u.kind == "utterance"} == {"Samsat"}
    messages = " ".join(m for _, m in result.report.warnings)
    assert "hilang.txt" in messages and "overrides header city" in messages


def test_sidecar_without_file_column_is_ignored_with_warning(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("P: halo\nI: ya\n", encoding="utf-8")
    (tmp_path / "metadata.csv").write_text("nama,kota\na.txt,Padang\n", encoding="utf-8")
    result = ingest(plan_corpus(tmp_path))
    assert result.report.read == ["a.txt"]
    assert any("no 'file' column" in m for _, m in result.report.warnings)
