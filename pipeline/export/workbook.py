"""The coded dataset as one Excel workbook (``coded.xlsx``): a sheet per table, ready to filter.

Each sheet has a bold, frozen header row with filters, columns sized to their
content (capped), prose columns (unit text, definitions) wrapped, and JSON
columns left unwrapped so rows stay one line high.  Cell values are made safe
for Excel: control characters that XML cannot hold are removed, text longer
than Excel's cell limit is cut with a note, and text starting with ``=`` stays
text (never a formula).

The file is deterministic: document properties and zip entry times are fixed,
so the same tables give a byte-identical file on every run.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import zipfile
from collections.abc import Mapping
from typing import Any

import pandas as pd
from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.cell import WriteOnlyCell
from openpyxl.writer.excel import ExcelWriter

from pipeline.atomic import write_with
from pipeline.codebook import Codebook

#: Excel's limit on characters in one cell.
MAX_CELL_CHARS = 32_767
#: Column width bounds (in characters) and the width at which prose wraps.
MIN_WIDTH, MAX_WIDTH = 6, 60
#: Fixed timestamps: workbook properties and zip entries (reruns are byte-identical).
FIXED_DATE = dt.datetime(2000, 1, 1)
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
#: Characters a sheet name cannot contain, and its length limit.
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MAX_SHEET_NAME = 31

_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="E8EDF2")
_WRAP = Alignment(wrap_text=True, vertical="top")
_TOP = Alignment(vertical="top")


def excel_value(value: Any) -> Any:
    """A value openpyxl can write and Excel can open: None for missing, JSON for containers, clean text."""
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, (list, tuple, dict)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True)
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)
        if len(value) > MAX_CELL_CHARS:
            note = f" … [cut: {len(value)} characters; the full text is in the parquet/CSV table]"
            value = value[: MAX_CELL_CHARS - len(note)] + note
    return value


def _check_sheet_name(name: str) -> None:
    if not name or len(name) > _MAX_SHEET_NAME or _BAD_SHEET_CHARS.search(name):
        raise ValueError(f"sheet name {name!r}: must be 1-{_MAX_SHEET_NAME} characters without []:*?/\\")


def _column_layout(values: list[Any], header: str) -> tuple[float, bool]:
    """(width, wrap) for one column: width from the 90th-percentile text length, wrap for long prose."""
    lengths = sorted(len(str(v)) for v in values if v is not None)
    typical = lengths[int(0.9 * (len(lengths) - 1))] if lengths else 0
    width = min(MAX_WIDTH, max(MIN_WIDTH, len(header) + 2, typical + 2))
    texts = [v for v in values if isinstance(v, str) and v]
    is_json = bool(texts) and texts[0][:1] in "[{"
    wrap = bool(texts) and lengths[-1] > MAX_WIDTH and not is_json
    return width, wrap


def _styled(sheet: Any, value: Any, alignment: Alignment) -> WriteOnlyCell:
    """A write-only cell with an alignment; text starting with ``=`` stays text, never a formula."""
    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str) and value.startswith("="):
        cell.data_type = "s"
    cell.alignment = alignment
    return cell


def _fill_sheet(sheet: Any, frame: pd.DataFrame) -> None:
    """Widths, frozen header with filters, header row, then the rows of one table (write-only sheet)."""
    headers = [str(c) for c in frame.columns]
    columns = [[excel_value(v) for v in frame[c].tolist()] for c in frame.columns]
    alignments: list[Alignment] = []
    for index, (values, header) in enumerate(zip(columns, headers), start=1):
        width, wrap = _column_layout(values, header)
        sheet.column_dimensions[get_column_letter(index)].width = width
        alignments.append(_WRAP if wrap else _TOP)
    sheet.freeze_panes = "A2"
    if headers:
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(frame) + 1}"
    header_cells = []
    for header in headers:
        cell = _styled(sheet, header, _TOP)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        header_cells.append(cell)
    sheet.append(header_cells)
    for row in zip(*columns):
        sheet.append([_styled(sheet, value, alignment) for value, alignment in zip(row, alignments)])


def build_workbook(sheets: Mapping[str, pd.DataFrame]) -> Workbook:
    """A write-only openpyxl workbook with one sheet per table, in the given order."""
    if not sheets:
        raise ValueError("workbook: no tables to write")
    book = Workbook(write_only=True)
    for name, frame in sheets.items():
        _check_sheet_name(name)
        _fill_sheet(book.create_sheet(name), frame)
    book.properties.creator = "wogcode"
    book.properties.created = book.properties.modified = FIXED_DATE
    return book


class _FixedTimeZip(zipfile.ZipFile):
    """A zip file whose entries all carry the same timestamp and permissions."""

    def writestr(self, name: str | zipfile.ZipInfo, data: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(name, str):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            name = info
        super().writestr(name, data, *args, **kwargs)

    def write(self, filename: Any, arcname: str | None = None, *args: Any, **kwargs: Any) -> None:
        """openpyxl adds worksheets from temp files; store them with the fixed time too."""
        with open(filename, "rb") as handle:
            self.writestr(arcname or os.path.basename(filename), handle.read())


def save_deterministic(book: Workbook, path: str | os.PathLike[str]) -> None:
    """Save without openpyxl's "modified = now" and with fixed zip times."""
    with _FixedTimeZip(path, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        ExcelWriter(book, archive).write_data()


def write_workbook(sheets: Mapping[str, pd.DataFrame], path: str | os.PathLike[str]) -> None:
    """Write ``sheets`` (sheet name -> table) to an .xlsx file atomically."""
    book = build_workbook(sheets)
    write_with(path, lambda tmp: save_deterministic(book, tmp))


def codebook_table(codebook: Codebook) -> pd.DataFrame:
    """The codebook as a sheet: one row per code with what a human coder reads."""
    rows = [
        {
            "codebook": codebook.id,
            "version": codebook.version,
            "code": code.id,
            "name": code.name,
            "name_en": code.name_en,
            "definition": code.definition,
            "indicators": "; ".join(code.indicators),
            "include": code.include,
            "exclude": code.exclude,
            "keywords": ", ".join(keyword.term for keyword in code.keywords),
        }
        for code in codebook.codes
    ]
    return pd.DataFrame(rows, columns=CODEBOOK_TABLE_COLUMNS)


CODEBOOK_TABLE_COLUMNS: list[str] = [
    "codebook", "version", "code", "name", "name_en", "definition", "indicators", "include", "exclude", "keywords"
]
