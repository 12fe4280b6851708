"""Thesis texts: headings and section paths, PDF artefacts, quoted excerpts and who said them."""

from __future__ import annotations

import pytest

from pipeline.ingest.batch import units_from_text
from pipeline.ingest.thesis import heading_style, heading_title


@pytest.mark.parametrize(
    ("line", "title"),
    [("### **1. Koordinasi**", "1. Koordinasi"), ("a. Integrasi", "a. Integrasi"), ("BAB IV", "BAB IV"),
     ("4.1 Kesimpulan", "4.1 Kesimpulan"), ("PENUTUP", "PENUTUP"), ("## **HASIL DAN PEMBAHASAN:**", "HASIL DAN PEMBAHASAN")],
)
def test_heading_forms(line: str, title: str) -> None:
    assert heading_style(line) is not None
    assert heading_title(line) == title


@pytest.mark.parametrize("line", ["1. Koordinasi,", "Sumber: laporan tahunan ombudsman 2023",
                                  "Mal Pelayanan Publik (MPP) merupakan inovasi dalam penyelenggaraan pelayanan publik.",
                                  "Gambar 2. Kunjungan DPMPTSP"])
def test_not_headings(line: str) -> None:
    assert heading_style(line) is None


def test_section_path_follows_numbering() -> None:
    text = ("BAB IV\n\nHASIL\n\n4.1 Temuan\n\na. Koordinasi\n\nRapat rutin sudah berjalan.\n\n"
            "b. Integrasi\n\nLayanan sudah satu gedung.\n\n4.2 Pembahasan\n\nSecara umum baik.\n")
    _, units = units_from_text(text, "skripsi.txt")
    sections = {u.text: u.section for u in units if u.kind == "narrative"}
    assert sections == {
        "Rapat rutin sudah berjalan.": "BAB IV > HASIL > 4.1 Temuan > a. Koordinasi",
        "Layanan sudah satu gedung.": "BAB IV > HASIL > 4.1 Temuan > b. Integrasi",
        "Secara umum baik.": "BAB IV > HASIL > 4.2 Pembahasan",
    }


def test_page_break_inside_a_sentence_is_rejoined() -> None:
    text = "Hal ini menunjukkan masih kurangnya koordinasi 66\n\nantar instansi di MPP. Kalimat lain.\n"
    doc, units = units_from_text(text, "skripsi.txt")
    first = units[0]
    assert doc.text[first.start:first.end] == first.text
    assert first.text.endswith("antar instansi di MPP.")
    assert " 66" not in first.text_clean and "koordinasi antar instansi" in first.text_clean


def test_hyphen_break_is_rejoined_in_clean_text() -> None:
    _, units = units_from_text("Berbagai upaya- upaya dilakukan dalam pelaksa- naan layanan.", "s.txt")
    assert "upaya-upaya" in units[0].text_clean and "pelaksanaan" in units[0].text_clean


def test_quote_is_attributed_to_the_named_informant() -> None:
    text = ("a. Koordinasi\n\nHasil wawancara dengan Ibu RS selaku Kepala Bidang Pelayanan DPMPTSP Kota Malang "
            "adalah sebagai berikut:\n\n“Kami rapat tiap bulan. Tapi data belum sinkron.”\n")
    _, units = units_from_text(text, "skripsi.txt")
    quotes = [u for u in units if u.kind == "quote"]
    assert len(quotes) == 2
    assert {(u.speaker, u.speaker_role, u.position, u.agency, u.city) for u in quotes} == {
        ("Ibu RS", "informant", "Kepala Bidang Pelayanan", "DPMPTSP", "Kota Malang")}
    assert quotes[0].section == "a. Koordinasi"


def test_literature_quote_is_attributed_to_its_citation() -> None:
    text = "Menurut ahli:\n\n“Integrasi bukan hanya fisik tetapi sistem.” (Fransiskus 2021)\n"
    _, units = units_from_text(text, "s.txt")
    quote = [u for u in units if u.kind == "quote"][0]
    assert (quote.speaker, quote.speaker_role) == ("Fransiskus 2021", "cited")


def test_seed_002_both_interview_quotes_attributed(seed_result) -> None:
    doc = next(d for d in seed_result.documents if d.path.startswith("002_"))
    quotes = [u for u in seed_result.units if u.doc_id == doc.doc_id and u.kind == "quote" and u.speaker_role == "informant"]
    speakers = {(u.speaker, u.position.lower(), u.agency, u.city) for u in quotes}
    assert speakers == {
        ("Bapak FA", "sekretaris", "DPMPTSP", "Kota Bengkulu"),
        ("Bapak JJ", "petugas layanan", "BPJS Ketenagakerjaan", "Kota Bengkulu"),
    }
    assert all(u.section == "Hasil Penelitian > Koordinasi" or u.section.endswith("Koordinasi") for u in quotes)


@pytest.mark.parametrize(
    ("seed", "sentence_start", "section"),
    [
        ("000_", "Berdasarkan hasil temuan peneliti", "BAB VI > PENUTUP > 6.1 KESIMPULAN"),
        ("002_", "Penerapan pendekatan *Whole of Government* dalam penyelenggaraan", "Pembahasan > a. Koordinasi"),
        ("003_", "Koordinasi pada penyelenggaraan MPP Kota Pekanbaru", "1. Koordinasi"),
        ("003_", "Mal pelayanan Publik di Kota Pekanbaru mengintegrasikan", "2. Integrasi"),
        ("003_", "Mal Pelayanan Publik Kota Pekanbaru sudah melakukan kerjasama", "4. Kerjasama Yang Baik"),
        ("004_", "Mal Pelayanan Publik (MPP) merupakan inovasi", "BAB IV > PENUTUP > 4.1 Kesimpulan"),
    ],
)
def test_seed_sections(seed_result, seed: str, sentence_start: str, section: str) -> None:
    doc = next(d for d in seed_result.documents if d.path.startswith(seed))
    hits = [u for u in seed_result.units if u.doc_id == doc.doc_id and sentence_start in u.text[:120]
            and u.kind == "narrative"]
    assert hits, sentence_start
    assert hits[0].section.endswith(section)


def test_seeds_are_theses_and_every_unit_slices_back(seed_result) -> None:
    docs = {d.doc_id: d for d in seed_result.documents}
    assert len(docs) == 4 and {d.kind for d in docs.values()} == {"thesis"}
    for u in seed_result.units:
        assert docs[u.doc_id].text[u.start:u.end] == u.text


def test_bibliography_entries_are_kept_but_not_codable() -> None:
    text = ("4. Kesimpulan\n\nKoordinasi belum optimal.\n\n5 Daftar Pustaka\n\n"
            "- Sudrajat. 2021. *Whole of Government*. Sukabumi.\n\n**Jurnal**\n\n- Ritonga. 2023. Koordinasi MPP.\n")
    _, units = units_from_text(text, "artikel.txt")
    kinds = {u.text: u.kind for u in units}
    assert kinds["Koordinasi belum optimal."] == "narrative"
    assert kinds["- Sudrajat. 2021. *Whole of Government*. Sukabumi."] == "reference"
    assert kinds["- Ritonga. 2023. Koordinasi MPP."] == "reference"
