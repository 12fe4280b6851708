"""Read one corpus file (.txt, .md, .docx, .pdf) into a RawText.

Every reader returns Unicode NFC text with "\\n" line ends and no byte-order
mark; everything else (spaces, wraps, typos) is kept verbatim, because unit
offsets point into this text.  Any failure becomes an ``IngestError`` whose
message names the file and gives a short reason; library exceptions never
escape ``read_file``.
"""

from __future__ import annotations

import codecs
import io
import re
import stat
import unicodedata
import zipfile
import zlib
from pathlib import Path, PureWindowsPath
from typing import TYPE_CHECKING

from pipeline.schema import IngestError, RawText

if TYPE_CHECKING:  # python-docx and pypdf are imported when a .docx or .pdf is read (~0.16 s a process otherwise)
    import pypdf
    from docx.table import Table

SUPPORTED_SUFFIXES: frozenset[str] = frozenset({".txt", ".md", ".docx", ".pdf"})
DEFAULT_MAX_BYTES = 100 * 2**20

#: Zip (docx) safety limits.  The ratio is judged only on members above
#: ZIP_RATIO_MIN_BYTES: tiny XML parts legitimately compress very well.
ZIP_MAX_MEMBER_BYTES = 200 * 2**20
ZIP_MAX_RATIO = 100
ZIP_RATIO_MIN_BYTES = 2**20

#: A PDF with pages but fewer non-whitespace characters than this is a scan.
PDF_MIN_TEXT_CHARS = 20

#: Decoded "text" with more control characters than this share is binary.
MAX_CONTROL_CHAR_SHARE = 0.01
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f]")  # keeps \t \n \v \f \r

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old binary .doc files


class _Unreadable(Exception):
    """Internal: why a reader refuses a file; ``read_file`` adds the path."""


def read_file(path: Path, max_bytes: int = DEFAULT_MAX_BYTES) -> RawText:
    """Read a supported file into NFC, LF-normalised text; raise IngestError on any failure."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix not in SUPPORTED_SUFFIXES:
            supported = ", ".join(sorted(SUPPORTED_SUFFIXES))
            raise _Unreadable(f"unsupported file type '{suffix or '(none)'}' (supported: {supported})")
        data = _read_bytes(path, max_bytes)
        if suffix == ".docx":
            return read_docx_bytes(data)
        if suffix == ".pdf":
            return read_pdf_bytes(data)
        return read_text_bytes(data, fmt=suffix.lstrip("."))
    except _Unreadable as exc:
        raise IngestError(str(path), str(exc)) from None
    except Exception as exc:  # a library failed in a way not foreseen above
        raise IngestError(str(path), f"cannot read {suffix or 'file'} ({_one_line(exc)})") from exc


# --------------------------------------------------------------------------- shared


def normalise_text(text: str) -> str:
    """Drop a leading BOM, turn CRLF and lone CR into LF, and apply Unicode NFC."""
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return unicodedata.normalize("NFC", text)


def _read_bytes(path: Path, max_bytes: int) -> bytes:
    """Return the file's bytes after checking it exists, is a file, and is within max_bytes."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise _Unreadable("file not found") from None
    except OSError as exc:
        raise _Unreadable(f"cannot open file ({exc.strerror or exc})") from None
    if not stat.S_ISREG(info.st_mode):
        raise _Unreadable("not a regular file (a folder?)")
    if info.st_size > max_bytes:
        raise _Unreadable(_over_limit(info.st_size, max_bytes))
    try:
        with path.open("rb") as handle:
            data = handle.read(min(info.st_size, max_bytes) + 1)  # the file may have grown since stat
    except OSError as exc:
        raise _Unreadable(f"cannot read file ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise _Unreadable(_over_limit(len(data), max_bytes))
    if not data:
        raise _Unreadable("empty file")
    return data


def _over_limit(size: int, max_bytes: int) -> str:
    return f"file is {_format_size(size)}, over the {_format_size(max_bytes)} limit (--max-mb)"


def _format_size(n_bytes: int) -> str:
    """240 MB, 1.5 MB, 12 KB, 80 bytes."""
    if n_bytes >= 2**20:
        mb = n_bytes / 2**20
        return f"{mb:.0f} MB" if mb >= 10 or mb.is_integer() else f"{mb:.1f} MB"
    if n_bytes >= 1024:
        return f"{n_bytes / 1024:.0f} KB"
    return f"{n_bytes} bytes"


def _one_line(exc: BaseException, limit: int = 200) -> str:
    """The first line of an exception message (or its type name), shortened."""
    lines = str(exc).strip().splitlines()
    message = lines[0] if lines else type(exc).__name__
    return message if len(message) <= limit else message[: limit - 3] + "..."


# --------------------------------------------------------------------------- txt / md


def read_text_bytes(data: bytes, fmt: str = "txt") -> RawText:
    """Decode a plain-text file (txt or md), refusing binary and empty content."""
    text, encoding, notes = decode_text(data)
    controls = len(_CONTROL_CHARS.findall(text))
    if "\x00" in text or controls > MAX_CONTROL_CHAR_SHARE * len(text):
        raise _Unreadable("binary file, not text (control bytes)")
    text = normalise_text(text)
    if not text.strip():
        raise _Unreadable("empty file (only whitespace)")
    return RawText(text=text, fmt=fmt, encoding=encoding, notes=notes)


def decode_text(data: bytes) -> tuple[str, str, list[str]]:
    """Decode text bytes; return (text, encoding, notes).

    Order: a byte-order mark (UTF-8, UTF-32, UTF-16), then strict UTF-8, then
    guesses (UTF-16 without BOM, cp1252, latin-1), each guess noted as
    "encoding guessed: NAME".  NUL bytes outside UTF-16/32 mean binary.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return _decode_strict(data[len(bom) :], encoding, "its byte-order mark"), encoding, []
    if b"\x00" in data:
        encoding = _utf16_without_bom(data)
        if encoding is None:
            raise _Unreadable("binary file, not text (NUL bytes)")
        return _decode_strict(data, encoding, "its NUL-byte pattern"), encoding, [f"encoding guessed: {encoding}"]
    try:
        return data.decode("utf-8"), "utf-8", []
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252", ["encoding guessed: cp1252"]
    except UnicodeDecodeError:  # 0x81 0x8d 0x8f 0x90 0x9d are undefined in cp1252
        return data.decode("latin-1"), "latin-1", ["encoding guessed: latin-1"]


# UTF-32 LE must be tried before UTF-16 LE: its BOM starts with the same two bytes.
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def _decode_strict(data: bytes, encoding: str, why: str) -> str:
    """Decode or refuse, saying which encoding was expected and why."""
    codec = "utf-8" if encoding == "utf-8-sig" else encoding
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        raise _Unreadable(f"not valid {encoding} (as {why} says) at byte {exc.start}") from None


def _utf16_without_bom(data: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' if NULs sit in alternate bytes like Latin-script UTF-16, else None."""
    half = max(len(data) // 2, 1)
    even_nuls = data[0::2].count(0) / half
    odd_nuls = data[1::2].count(0) / half
    if odd_nuls > 0.4 and even_nuls < 0.05:
        return "utf-16-le"
    if even_nuls > 0.4 and odd_nuls < 0.05:
        return "utf-16-be"
    return None


# --------------------------------------------------------------------------- docx


def read_docx_bytes(data: bytes) -> RawText:
    """Paragraphs and tables of the document body, in body order.

    Paragraphs are joined by a blank line; a table becomes one line per row
    with cells joined by " | ".  Headers, footers, footnotes and text boxes
    are not read.
    """
    import docx
    from docx.table import Table

    _check_docx_archive(data)
    try:
        document = docx.Document(io.BytesIO(data))
    except (zipfile.BadZipFile, zlib.error, EOFError):
        raise _Unreadable("not a valid .docx (zip archive is truncated or corrupt)") from None
    except Exception as exc:
        raise _Unreadable(f"not a valid .docx ({_one_line(exc)})") from None
    blocks: list[str] = []
    n_tables = 0
    for block in document.iter_inner_content():  # w:p and w:tbl children of w:body, in order
        if isinstance(block, Table):
            n_tables += 1
            rows = _docx_table_rows(block)
            if rows:
                blocks.append("\n".join(rows))
        elif block.text.strip():
            blocks.append(block.text)
    text = normalise_text("\n\n".join(blocks))
    if not text.strip():
        raise _Unreadable("empty document (no text in paragraphs or tables)")
    notes = [f"tables flattened to ' | ' rows: {n_tables}"] if n_tables else []
    return RawText(text=text, fmt="docx", encoding="docx", notes=notes)


def _docx_table_rows(table: Table) -> list[str]:
    """One ' | '-joined line per non-empty row; a merged cell's text appears once."""
    seen: set[object] = set()  # holds the <w:tc> elements themselves, so identity stays valid
    rows: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:  # a merged cell is yielded once per grid column / row it spans
            if cell._tc in seen:
                continue
            seen.add(cell._tc)
            cells.append(" ".join(cell.text.split("\n")))
        if any(c.strip() for c in cells):
            rows.append(" | ".join(cells))
    return rows


def _check_docx_archive(data: bytes) -> None:
    """Refuse non-zips, corrupt zips, unsafe member names and zip bombs before parsing."""
    if data.startswith(_OLE_MAGIC):
        raise _Unreadable("an old Word .doc file, not .docx; save it as .docx first")
    if not data.startswith(b"PK"):
        raise _Unreadable("not a valid .docx (not a zip archive)")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise _Unreadable("not a valid .docx (zip archive is truncated or corrupt)") from None
    total = 0
    for member in members:
        if _is_unsafe_member_name(member.filename):
            raise _Unreadable(f"not a valid .docx (unsafe member name in zip: {member.filename!r})")
        total += member.file_size
        ratio = member.file_size / max(member.compress_size, 1)
        too_compressed = member.file_size > ZIP_RATIO_MIN_BYTES and ratio > ZIP_MAX_RATIO
        if member.file_size > ZIP_MAX_MEMBER_BYTES or too_compressed:
            raise _Unreadable(
                f"zip bomb suspected ({member.filename} unpacks to {_format_size(member.file_size)}, "
                f"{ratio:.0f}x compressed)"
            )
    if total > ZIP_MAX_MEMBER_BYTES:
        raise _Unreadable(f"zip bomb suspected (members unpack to {_format_size(total)} in total)")
    if "[Content_Types].xml" not in {m.filename for m in members}:
        raise _Unreadable("not a valid .docx (zip archive without [Content_Types].xml)")


def _is_unsafe_member_name(name: str) -> bool:
    """True for absolute paths, drive letters and '..' components."""
    posix = name.replace("\\", "/")
    return posix.startswith("/") or bool(PureWindowsPath(name).drive) or ".." in posix.split("/")


# --------------------------------------------------------------------------- pdf


def read_pdf_bytes(data: bytes) -> RawText:
    """The text layer of every page, pages joined by a blank line."""
    if b"%PDF-" not in data[:1024]:
        raise _Unreadable("not a valid PDF (no %PDF- header)")
    import pypdf

    try:
        reader = pypdf.PdfReader(io.BytesIO(data))
    except Exception as exc:
        raise _Unreadable(f"not a valid PDF ({_one_line(exc)})") from None
    notes: list[str] = []
    if reader.is_encrypted:
        if not _decrypt_without_password(reader):
            raise _Unreadable("PDF is encrypted (password protected); remove the password first")
        notes.append("PDF encrypted without a user password; decrypted")
    try:
        pages = list(reader.pages)
    except Exception as exc:
        raise _Unreadable(f"not a valid PDF ({_one_line(exc)})") from None
    if not pages:
        raise _Unreadable("PDF has no pages")
    page_texts: list[str] = []
    failed: list[int] = []
    for number, page in enumerate(pages, start=1):
        try:
            page_texts.append(page.extract_text() or "")
        except Exception:
            page_texts.append("")
            failed.append(number)
    if len(failed) == len(pages):
        raise _Unreadable("text could not be extracted from any PDF page")
    text = normalise_text("\n\n".join(page_texts))
    if len("".join(text.split())) < PDF_MIN_TEXT_CHARS:
        raise _Unreadable("PDF has no text layer (scanned image?); run OCR first")
    notes.insert(0, f"pages: {len(pages)}")
    if failed:
        notes.append(f"text not extracted from page(s): {', '.join(map(str, failed))}")
    return RawText(text=text, fmt="pdf", encoding="pdf", notes=notes)


def _decrypt_without_password(reader: pypdf.PdfReader) -> bool:
    """Open a PDF that only has an owner password (copy/print restrictions); False if a password is needed."""
    from pypdf import PasswordType

    try:
        return reader.decrypt("") != PasswordType.NOT_DECRYPTED
    except Exception:  # unsupported algorithm, or AES without the `cryptography` package
        return False
