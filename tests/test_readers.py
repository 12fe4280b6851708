"""The file readers: decoding, normalisation, body order, and clear refusals of bad files."""

from __future__ import annotations

import io
import random
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfReader, PdfWriter

from pipeline.ingest.readers import SUPPORTED_SUFFIXES, read_file
from pipeline.schema import IngestError

INDONESIAN = "Koordinasi antar instansi di MPP Kota Padang sudah berjalan baik."


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def expect_error(path: Path, reason_fragment: str, **kwargs: int) -> IngestError:
    """read_file must raise IngestError naming the file and giving the reason."""
    with pytest.raises(IngestError) as caught:
        read_file(path, **kwargs)
    message = str(caught.value)
    assert path.name in message
    assert reason_fragment in message
    assert "\n" not in message
    return caught.value


def make_docx(path: Path) -> Path:
    """A real document: paragraph, empty paragraph, table, paragraph."""
    document = docx.Document()
    document.add_paragraph("Pembuka: pelayanan di MPP.")
    document.add_paragraph("")
    table = document.add_table(rows=2, cols=2)
    for (r, c), value in {(0, 0): "No", (0, 1): "Instansi", (1, 0): "1", (1, 1): "DUKCAPIL"}.items():
        table.cell(r, c).text = value
    document.add_paragraph("Penutup: gerai kosong.")
    document.save(path)
    return path


def make_pdf(path: Path, pages: list[str]) -> Path:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    pdf.output(str(path))
    return path


def encrypt_pdf(source: Path, target: Path, user_password: str, owner_password: str) -> Path:
    writer = PdfWriter(clone_from=PdfReader(source))
    writer.encrypt(user_password=user_password, owner_password=owner_password)
    with target.open("wb") as handle:
        writer.write(handle)
    return target


# --------------------------------------------------------------------------- text files


def test_utf8_is_read_verbatim(tmp_path: Path) -> None:
    text = "Informan: iya,   udah  \n\n\nkarna antrean online.  \n"
    raw = read_file(write(tmp_path, "wawancara.txt", text.encode("utf-8")))
    assert raw.text == text
    assert (raw.fmt, raw.encoding, raw.notes) == ("txt", "utf-8", [])


def test_markdown_and_uppercase_suffix(tmp_path: Path) -> None:
    assert read_file(write(tmp_path, "bab.md", b"### **1. Koordinasi**\n")).fmt == "md"
    assert read_file(write(tmp_path, "CATATAN.TXT", b"isi")).text == "isi"
    assert SUPPORTED_SUFFIXES == {".txt", ".md", ".docx", ".pdf"}


def test_utf8_bom_is_removed(tmp_path: Path) -> None:
    raw = read_file(write(tmp_path, "bom.txt", b"\xef\xbb\xbfPelayanan \xc3\xa9"))
    assert raw.text == "Pelayanan é"
    assert raw.encoding == "utf-8-sig"


@pytest.mark.parametrize("codec, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff")])
def test_utf16_with_bom(tmp_path: Path, codec: str, bom: bytes) -> None:
    text = "“Sudah terintegrasi,” kata Bapak FA.\r\nCafé"
    raw = read_file(write(tmp_path, "u16.txt", bom + text.encode(codec)))
    assert raw.text == "“Sudah terintegrasi,” kata Bapak FA.\nCafé"
    assert raw.encoding == codec
    assert raw.notes == []


def test_utf16_without_bom_is_guessed(tmp_path: Path) -> None:
    raw = read_file(write(tmp_path, "nobom.txt", INDONESIAN.encode("utf-16-le")))
    assert raw.text == INDONESIAN
    assert "encoding guessed: utf-16-le" in raw.notes


def test_cp1252_curly_quotes_are_guessed_right(tmp_path: Path) -> None:
    text = "Menurut informan, “pelayanan sudah cepat” — kafé di MPP ramai."
    raw = read_file(write(tmp_path, "windows.txt", text.encode("cp1252")))
    assert raw.text == text
    assert raw.encoding == "cp1252"
    assert "encoding guessed: cp1252" in raw.notes


def test_crlf_and_lone_cr_become_lf(tmp_path: Path) -> None:
    raw = read_file(write(tmp_path, "ends.txt", b"satu\r\ndua\rtiga\n\r\nempat"))
    assert raw.text == "satu\ndua\ntiga\n\nempat"


def test_text_is_nfc(tmp_path: Path) -> None:
    raw = read_file(write(tmp_path, "nfd.txt", "Cafe\u0301 Padang".encode("utf-8")))
    assert raw.text == "Caf\u00e9 Padang"


def test_empty_and_whitespace_only_files(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "kosong.txt", b""), "empty file")
    expect_error(write(tmp_path, "spasi.txt", b" \r\n\t\n  "), "empty file")


def test_binary_file_is_refused(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64 + b"\x7f\x01\x02"
    expect_error(write(tmp_path, "gambar.txt", png), "binary file, not text")


def test_invalid_utf16_after_bom_is_refused(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "odd.txt", b"\xff\xfea\x00b"), "not valid utf-16-le")


# --------------------------------------------------------------------------- docx


def test_docx_keeps_body_order(tmp_path: Path) -> None:
    raw = read_file(make_docx(tmp_path / "laporan.docx"))
    assert raw.text == (
        "Pembuka: pelayanan di MPP.\n\nNo | Instansi\n1 | DUKCAPIL\n\nPenutup: gerai kosong."
    )
    assert (raw.fmt, raw.encoding) == ("docx", "docx")


def test_docx_merged_cell_text_appears_once(tmp_path: Path) -> None:
    document = docx.Document()
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).merge(table.cell(0, 2)).text = "Dimensi koordinasi"
    for c, value in enumerate(["a", "b", "c"]):
        table.cell(1, c).text = value
    document.save(tmp_path / "merge.docx")
    assert read_file(tmp_path / "merge.docx").text == "Dimensi koordinasi\na | b | c"


def test_truncated_docx(tmp_path: Path) -> None:
    whole = make_docx(tmp_path / "utuh.docx").read_bytes()
    path = write(tmp_path, "rusak.docx", whole[: len(whole) // 2])
    expect_error(path, "not a valid .docx (zip archive is truncated or corrupt)")


def test_docx_that_is_really_text(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "palsu.docx", b"Ini sebenarnya file teks."), "not a valid .docx")


def test_docx_zip_bomb_and_unsafe_names(tmp_path: Path) -> None:
    def zip_with(name: str, payload: bytes) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr(name, payload)
        return buffer.getvalue()

    bomb = write(tmp_path, "bom.docx", zip_with("word/document.xml", b"\x00" * (4 * 2**20)))
    expect_error(bomb, "zip bomb suspected")
    escape = write(tmp_path, "jalan.docx", zip_with("../../etc/passwd", b"x"))
    expect_error(escape, "unsafe member name")
    absolute = write(tmp_path, "mutlak.docx", zip_with("/etc/passwd", b"x"))
    expect_error(absolute, "unsafe member name")


# --------------------------------------------------------------------------- pdf


def test_pdf_text_of_every_page(tmp_path: Path) -> None:
    path = make_pdf(tmp_path / "tesis.pdf", [INDONESIAN, "Integrasi layanan DUKCAPIL dan BPJS."])
    raw = read_file(path)
    first, second = raw.text.split("\n\n")
    assert "Koordinasi antar instansi" in first
    assert "DUKCAPIL dan BPJS" in second
    assert "pages: 2" in raw.notes


def test_scanned_pdf_has_no_text_layer(tmp_path: Path) -> None:
    pdf = FPDF()
    pdf.add_page()
    pdf.rect(20, 20, 100, 60, style="F")
    pdf.output(str(tmp_path / "pindaian.pdf"))
    expect_error(tmp_path / "pindaian.pdf", "PDF has no text layer (scanned image?); run OCR first")


def test_encrypted_pdf_is_refused(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "asli.pdf", [INDONESIAN])
    locked = encrypt_pdf(plain, tmp_path / "terkunci.pdf", user_password="rahasia", owner_password="pemilik")
    expect_error(locked, "PDF is encrypted")


def test_pdf_with_only_owner_password_is_read(tmp_path: Path) -> None:
    plain = make_pdf(tmp_path / "asli.pdf", [INDONESIAN])
    restricted = encrypt_pdf(plain, tmp_path / "dibatasi.pdf", user_password="", owner_password="pemilik")
    raw = read_file(restricted)
    assert "Koordinasi antar instansi" in raw.text
    assert any("decrypted" in note for note in raw.notes)


def test_corrupt_pdf(tmp_path: Path) -> None:
    noise = random.Random(7).randbytes(4096)
    expect_error(write(tmp_path, "acak.pdf", noise), "not a valid PDF")
    expect_error(write(tmp_path, "acak2.pdf", b"%PDF-1.7\n" + noise), "PDF")


# --------------------------------------------------------------------------- any file


def test_size_limit_is_checked_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "besar.txt", b"a" * 3000)
    expect_error(path, "file is 3 KB, over the 1 KB limit (--max-mb)", max_bytes=1024)
    assert read_file(path, max_bytes=3000).text == "a" * 3000


def test_unknown_suffix_and_missing_file(tmp_path: Path) -> None:
    expect_error(write(tmp_path, "catatan.rtf", b"{\\rtf1 teks}"), "unsupported file type '.rtf'")
    expect_error(tmp_path / "tidak_ada.txt", "file not found")
    (tmp_path / "folder.txt").mkdir()
    expect_error(tmp_path / "folder.txt", "not a regular file")
