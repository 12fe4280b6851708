"""Build the two binary files of the sample corpus from plain-text sources.

    corpora/sample/wawancara/padang_bpn_petugas.docx  <- scripts/sample_sources/padang_bpn_petugas.txt
    corpora/sample/skripsi/sleman_bab4_hasil.pdf      <- scripts/sample_sources/sleman_bab4_hasil.txt

The sources live outside corpora/sample so the corpus does not hold the same
text twice.  Output is deterministic (fixed dates, fixed zip timestamps), so a
rebuild with the same library versions gives byte-identical files; run with
``--check`` to verify that the committed binaries match their sources.

Source formats:
  * transcript: a header block of ``Key: value`` lines, a blank line, then turns
    separated by blank lines (``Pewawancara: ...`` / ``Informan: ...``).  The
    header becomes a 2-column table at the top of the .docx; every turn becomes
    one paragraph with its speaker label in bold.
  * thesis: paragraphs separated by blank lines; ``# `` marks a centred chapter
    heading, ``## `` a section heading; a paragraph starting with a curly quote
    is set as an indented block quote.  Page numbers go in the footer, so the
    extracted text layer carries them mid-sentence as real PDFs do.

Usage:  .venv/bin/python scripts/build_sample_binaries.py [--check]
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import tempfile
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import docx
from docx.shared import Pt
from fpdf import FPDF

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "scripts" / "sample_sources"
CORPUS = ROOT / "corpora" / "sample"

#: Every date written into the binaries (document properties, zip entries).
FIXED_DATE = datetime(2025, 4, 1, 8, 0, 0, tzinfo=timezone.utc)
ZIP_DATE = (2025, 4, 1, 8, 0, 0)

#: (source, target, builder name) for every binary in the sample corpus.
TARGETS: tuple[tuple[str, str, str], ...] = (
    ("padang_bpn_petugas.txt", "wawancara/padang_bpn_petugas.docx", "docx"),
    ("sleman_bab4_hasil.txt", "skripsi/sleman_bab4_hasil.pdf", "pdf"),
)

HEADER_LINE = re.compile(r"^([A-Za-z][A-Za-z ]{0,30}):\s*(.*)$")
SPEAKER_LABEL = re.compile(r"^([^:\n]{1,30}:)\s*")


# --------------------------------------------------------------------------- sources


def split_header(text: str) -> tuple[list[tuple[str, str]], str]:
    """Split a leading ``Key: value`` block (ended by a blank line) from the body."""
    head, _, body = text.partition("\n\n")
    rows: list[tuple[str, str]] = []
    for line in head.splitlines():
        match = HEADER_LINE.match(line)
        if not match:
            raise ValueError(f"header line is not 'Key: value': {line!r}")
        rows.append((match.group(1), match.group(2).strip()))
    return rows, body


def paragraphs(text: str) -> list[str]:
    """Blank-line separated paragraphs, inner line breaks kept, outer whitespace stripped."""
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


# --------------------------------------------------------------------------- docx


def build_transcript_docx(source: Path) -> bytes:
    """A .docx transcript: metadata table first, then one paragraph per turn."""
    rows, body = split_header(source.read_text(encoding="utf-8"))
    document = docx.Document()
    document.styles["Normal"].font.name = "Calibri"
    document.styles["Normal"].font.size = Pt(11)
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for key, value in rows:
        cells = table.add_row().cells
        cells[0].text = key
        cells[1].text = value
    for turn in paragraphs(body):
        paragraph = document.add_paragraph()
        match = SPEAKER_LABEL.match(turn)
        if match:
            paragraph.add_run(match.group(1)).bold = True
            paragraph.add_run(" " + turn[match.end() :])
        else:
            paragraph.add_run(turn)
    _fix_core_properties(document, title=f"Transkrip wawancara {source.stem}")
    buffer = io.BytesIO()
    document.save(buffer)
    return _with_fixed_zip_dates(buffer.getvalue())


def _fix_core_properties(document: docx.document.Document, title: str) -> None:
    """Replace the template's author and dates with fixed values."""
    props = document.core_properties
    props.author = "Peneliti (fiktif)"
    props.last_modified_by = "Peneliti (fiktif)"
    props.title = title
    props.created = FIXED_DATE.replace(tzinfo=None)
    props.modified = FIXED_DATE.replace(tzinfo=None)
    props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1


def _with_fixed_zip_dates(data: bytes) -> bytes:
    """Rewrite a zip archive with every member dated ZIP_DATE (python-docx stamps 'now')."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


# --------------------------------------------------------------------------- pdf


def find_font(name: str) -> Path:
    """A DejaVu TTF from the system fonts, else the copy bundled with matplotlib."""
    candidates = [Path("/usr/share/fonts/truetype/dejavu") / name]
    try:
        import matplotlib

        candidates.append(Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name)
    except ImportError:
        pass
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"font {name} not found in: {', '.join(map(str, candidates))}")


#: Chapter IV of a thesis does not start on page 1.
FIRST_PAGE_NUMBER = 52


class ThesisPDF(FPDF):
    """A4 page with Indonesian thesis margins (4-4-3-3 cm) and a page number in the footer."""

    def footer(self) -> None:
        self.set_y(-20)
        self.set_font("DejaVu", size=10)
        self.cell(0, 10, str(self.page_no() + FIRST_PAGE_NUMBER - 1), align="C")


def build_thesis_pdf(source: Path) -> bytes:
    """A text-layer PDF of a thesis chapter: headings, justified paragraphs, block quotes."""
    pdf = ThesisPDF(format="A4", unit="mm")
    pdf.set_margins(left=40, top=40, right=30)
    pdf.set_auto_page_break(auto=True, margin=30)
    pdf.add_font("DejaVu", "", str(find_font("DejaVuSans.ttf")))
    pdf.add_font("DejaVu", "B", str(find_font("DejaVuSans-Bold.ttf")))
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title("BAB IV Hasil Penelitian dan Pembahasan (sampel fiktif)")
    pdf.set_author("Peneliti (fiktif)")
    pdf.set_creator("scripts/build_sample_binaries.py")
    pdf.set_producer("fpdf2")
    pdf.add_page()
    for block in paragraphs(source.read_text(encoding="utf-8")):
        _write_block(pdf, block)
    return bytes(pdf.output())


def _write_block(pdf: FPDF, block: str) -> None:
    """Write one source paragraph in the style its marker asks for."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    if block.startswith("# "):
        pdf.set_font("DejaVu", "B", 12)
        for line in block.splitlines():
            pdf.multi_cell(width, 7, line.removeprefix("# ").strip(), align="C")
        pdf.ln(4)
    elif block.startswith("## "):
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(width, 7, block.removeprefix("## ").strip(), align="L")
        pdf.ln(1)
    elif block.startswith("\u201c"):
        pdf.set_font("DejaVu", "", 10)
        pdf.set_x(pdf.l_margin + 10)
        pdf.multi_cell(width - 20, 5.5, " ".join(block.split()), align="J")
        pdf.ln(3)
    else:
        pdf.set_font("DejaVu", "", 11)
        pdf.multi_cell(width, 7, " ".join(block.split()), align="J")
        pdf.ln(3)


# --------------------------------------------------------------------------- main

BUILDERS = {"docx": build_transcript_docx, "pdf": build_thesis_pdf}


def build_all(out_root: Path) -> list[Path]:
    """Build every target under out_root; return the written paths."""
    written: list[Path] = []
    for source_name, target_name, kind in TARGETS:
        data = BUILDERS[kind](SOURCES / source_name)
        target = out_root / target_name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        written.append(target)
    return written


def check_committed() -> list[str]:
    """Names of committed binaries that differ from a fresh build (empty when all match)."""
    with tempfile.TemporaryDirectory() as tmp:
        build_all(Path(tmp))
        return [
            target
            for _, target, _ in TARGETS
            if not (CORPUS / target).is_file()
            or (CORPUS / target).read_bytes() != (Path(tmp) / target).read_bytes()
        ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only verify the committed binaries")
    args = parser.parse_args(argv)
    if args.check:
        stale = check_committed()
        for name in stale:
            print(f"corpora/sample/{name}: differs from a fresh build of its source", file=sys.stderr)
        return 1 if stale else 0
    for path in build_all(CORPUS):
        print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size / 1024:.1f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
