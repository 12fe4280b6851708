"""Hostile input: arbitrary bytes and text never crash the readers, segmenter, normaliser or pseudonymiser,
offsets always slice back, and a malicious .docx can neither read local files nor exhaust memory.

Each property runs a moderate number of examples so the whole file stays under 30 s.
"""

from __future__ import annotations

import io
import re
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import docx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.ingest.batch import units_from_text
from pipeline.ingest.readers import read_file
from pipeline.normalise import normalise
from pipeline.privacy import Pseudonymiser, pseudonymise_document
from pipeline.schema import IngestError

FUZZ = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

#: Characters that break naive text code: NUL and controls, zero-width and direction marks, BOM, emoji.
NASTY = ["\x00", "\x01", "\x07", "\x0b", "\x0c", "\x1b", "\x7f", "\x85", "\u200b", "\u200c", "\u200d", "\u2060",
         "\ufeff", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u00ad", "\u2028", "\u2029",
         "😀", "👩🏽‍💻", "🇮🇩", "e\u0301", "İ", "ß", "ﬁ", "\ufffd", "\U0010ffff", "𝐇𝐀𝐒𝐈𝐋"]
PIECES = ["P: ", "I: ", "Ibu NK: ", "Pak TR:", "[00:01:02] T: ", "### **1. Koordinasi**", "a. Integrasi",
          "“kutipan. dua”", "Kota: Padang", "Informan: Bapak AR", "---", "koordinasi 66", "upaya- upaya",
          "pelaksa-\nnaan", "Jl. Jend. Sudirman", "0812-3456-7890", "nk@mail.go.id", "Bu RS", "Bapak Ibu",
          "Pak H. Budi Santoso", "ibu\nNK", "3273010101010001", "Sdr. TR", "Informan-01"]
LINE_ENDS = ["\n", "\r\n", "\r", "\n\n", "\r\r\n", "\u2028"]

TEXT = st.lists(
    st.one_of(
        st.text(st.characters(codec="utf-8"), max_size=40),
        st.sampled_from(NASTY),
        st.sampled_from(PIECES),
        st.sampled_from(LINE_ENDS),
    ),
    max_size=40,
).map("".join)


def check_units(doc, units) -> None:
    """The offset invariant and the unit contract."""
    previous_end, ids = 0, set()
    for unit in units:
        assert 0 <= unit.start < unit.end <= len(doc.text)
        assert doc.text[unit.start:unit.end] == unit.text
        assert unit.start >= previous_end
        previous_end = unit.end
        assert unit.unit_id not in ids
        ids.add(unit.unit_id)


# --------------------------------------------------------------------------- readers


@FUZZ
@given(st.binary(max_size=2000), st.sampled_from([".txt", ".md", ".docx", ".pdf"]))
def test_any_bytes_are_read_or_refused_with_one_line(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"berkas{suffix}"
        path.write_bytes(data)
        try:
            raw = read_file(path)
        except IngestError as error:
            assert str(error).startswith(str(path)) and "\n" not in str(error)
            return
    assert "\r" not in raw.text and not raw.text.startswith("\ufeff")
    assert unicodedata.is_normalized("NFC", raw.text)


@FUZZ
@given(TEXT, st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
def test_any_text_in_any_encoding_is_read_or_refused(text: str, encoding: str) -> None:
    data = text.encode(encoding, errors="replace")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "wawancara.txt"
        path.write_bytes(data)
        try:
            raw = read_file(path)
        except IngestError as error:
            assert "\n" not in str(error)
            return
    assert "\r" not in raw.text and unicodedata.is_normalized("NFC", raw.text)


# --------------------------------------------------------------------------- segmenter and normaliser


@FUZZ
@given(TEXT)
def test_segmenter_keeps_offsets_for_any_text(text: str) -> None:
    doc, units = units_from_text(text, "wawancara/fuzz.txt")
    check_units(doc, units)


@FUZZ
@given(TEXT)
def test_normaliser_tokens_slice_back_for_any_text(text: str) -> None:
    result = normalise(text)
    previous_end = 0
    for token in result.tokens:
        assert 0 <= token.start < token.end <= len(text)
        assert text[token.start:token.end] == token.surface
        assert token.start >= previous_end
        previous_end = token.end
    assert isinstance(result.text_norm, str) and isinstance(result.stems, str)


@FUZZ
@given(TEXT)
def test_pseudonymised_units_still_slice_back(text: str) -> None:
    doc, units = units_from_text(text, "wawancara/fuzz.txt")
    pseudo = Pseudonymiser({"Ibu NK": "Informan-01", "Bapak TR": "Informan-02", "NK": "Informan-01",
                           "TR": "Informan-02"}, detect=True)
    new_doc, new_units = pseudonymise_document(doc, units, pseudo)
    assert len(new_units) == len(units)
    for unit in new_units:
        assert new_doc.text[unit.start:unit.end] == unit.text
    assert not re.search(r"(?<!\w)(?:NK|TR)(?!\w)|(?<!\d)0812-3456-7890(?!\d)|nk@mail", new_doc.text)
    assert pseudo(new_doc.text) == new_doc.text  # pseudonymising twice changes nothing more


LONG_LINE = ("Koordinasi antar instansi sudah berjalan 😀 dan\u200brutin setiap bulan, kata Ibu NK. " * 13000)


def test_a_long_single_line_below_spacys_limit_is_segmented() -> None:
    text = LONG_LINE[:990_000]
    doc, units = units_from_text(text, "wawancara/panjang.txt")
    check_units(doc, units)
    assert len(units) > 10_000


def test_a_1_mb_single_line_is_normalised() -> None:
    text = LONG_LINE[:1_100_000]
    tokens = normalise(text).tokens
    assert len(tokens) > 100_000 and text[tokens[-1].start:tokens[-1].end] == tokens[-1].surface


def test_a_1_mb_single_line_is_segmented() -> None:
    doc, units = units_from_text(LONG_LINE[:1_100_000], "wawancara/panjang.txt")
    check_units(doc, units)


# --------------------------------------------------------------------------- hostile .docx


def docx_bytes(paragraph: str = "Halo MARKER dunia") -> bytes:
    document = docx.Document()
    document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def rewrite(data: bytes, part: str, change) -> bytes:
    """The same .docx with one zip member's bytes changed."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for info in source.infolist():
            payload = source.read(info.filename)
            archive.writestr(info.filename, change(payload) if info.filename == part else payload)
    return out.getvalue()


def with_doctype(doctype: str, marker: str):
    """Insert a DOCTYPE after the XML declaration and put ``marker`` where the paragraph says MARKER."""

    def change(xml: bytes) -> bytes:
        text = xml.decode("utf-8")
        declaration_end = text.index("?>") + 2
        return (text[:declaration_end] + "\n" + doctype + text[declaration_end:]).replace("MARKER", marker).encode()

    return change


LAUGHS = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
HOSTILE_XML = {
    "external entity (XXE)": ('<!DOCTYPE w:document [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>', "&xxe;"),
    "parameter entity from the network": (
        '<!DOCTYPE w:document [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>', "x"),
    "external DTD": ('<!DOCTYPE w:document SYSTEM "http://127.0.0.1:9/evil.dtd">', "x"),
    "billion laughs": (f'<!DOCTYPE w:document [<!ENTITY l0 "tawa">{LAUGHS}]>', "&l9;"),
    "quadratic blow-up": (f'<!DOCTYPE w:document [<!ENTITY big "{"A" * 50_000}">]>', "&big;" * 20_000),
}


@pytest.mark.parametrize("attack", HOSTILE_XML)
def test_hostile_xml_in_document_xml_is_refused_or_harmless(attack: str, tmp_path: Path) -> None:
    doctype, marker = HOSTILE_XML[attack]
    path = tmp_path / "wawancara.docx"
    path.write_bytes(rewrite(docx_bytes(), "word/document.xml", with_doctype(doctype, marker)))
    try:
        raw = read_file(path)
    except IngestError as error:  # refused, with one line
        assert str(error).startswith(f"{path}: not a valid .docx") and "\n" not in str(error)
        return
    assert "root:" not in raw.text and "tawa" not in raw.text and "AAAA" not in raw.text
    assert len(raw.text) < 100


@pytest.mark.parametrize("part", ["[Content_Types].xml", "_rels/.rels", "word/_rels/document.xml.rels"])
def test_an_external_entity_in_the_package_parts_reads_nothing(part: str, tmp_path: Path) -> None:
    path = tmp_path / "wawancara.docx"
    doctype = '<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    path.write_bytes(rewrite(docx_bytes(), part, with_doctype(doctype, "")))
    try:
        raw = read_file(path)
    except IngestError as error:
        assert "\n" not in str(error)
        return
    assert "root:" not in raw.text


def test_a_relationship_pointing_outside_the_package_reads_nothing(tmp_path: Path) -> None:
    def escape(rels: bytes) -> bytes:
        link = ('<Relationship Id="rIdX" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                'relationships/image" Target="../../../../../../etc/passwd"/>')
        return rels.replace(b"</Relationships>", link.encode() + b"</Relationships>")

    path = tmp_path / "wawancara.docx"
    path.write_bytes(rewrite(docx_bytes(), "word/_rels/document.xml.rels", escape))
    try:
        raw = read_file(path)
    except IngestError as error:
        assert "\n" not in str(error)
        return
    assert "root:" not in raw.text


def test_deeply_nested_xml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wawancara.docx"
    deep = "<w:r>" * 5000 + "</w:r>" * 5000
    path.write_bytes(rewrite(docx_bytes(), "word/document.xml", lambda xml: xml.replace(b"MARKER", deep.encode())))
    with pytest.raises(IngestError, match=r"not a valid \.docx") as error:
        read_file(path)
    assert "\n" not in str(error.value)


def test_a_zip_bomb_inside_a_real_docx_is_refused_before_unpacking(tmp_path: Path) -> None:
    bomb = b"<w:t>" + b"A" * (300 * 2**20) + b"</w:t>"
    path = tmp_path / "bom.docx"
    path.write_bytes(rewrite(docx_bytes(), "word/document.xml", lambda xml: bomb))
    assert path.stat().st_size < 2 * 2**20
    with pytest.raises(IngestError, match="zip bomb suspected"):
        read_file(path)
