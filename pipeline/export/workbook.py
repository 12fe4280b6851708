"""The coded dataset as one Excel workbook (``coded.xlsx``): a sheet per table, ready to filter.

Each sheet has a bold, frozen header row with filters, columns sized to their
content (capped), prose columns (unit text, definitions) wrapped, and JSON
columns left unwrapped so rows stay one line high.  Cell values are made safe
for Excel: control characters that XML cannot hold are removed, text longer
than Excel's cell limit is cut with a note, and text starting with ``=`` stays
text (never a formula: every string is an inline string).

The sheets are written as SpreadsheetML directly (an .xlsx is a zip of a few
small XML parts): four cell styles shared by every cell, rows streamed to the
zip one at a time.  Styling each cell through openpyxl took ~12 s for 30,000
units; this takes well under a second.  The file is deterministic: no
timestamps in the parts, fixed zip entry times, so the same tables give a
byte-identical file on every run.  A sheet can be a DataFrame or a
:class:`~pipeline.tables.ChunkedTable` (a run's unit table) read a chunk at a
time; column widths then come from its first ``LAYOUT_ROWS`` rows.
"""

from __future__ import annotations

import json
import math
import os
import re
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from itertools import chain
from typing import Any, Union
from xml.sax.saxutils import escape, quoteattr

import numpy as np
import pandas as pd

from pipeline.atomic import write_with
from pipeline.codebook import Codebook
from pipeline.export.zip_entry import zip_entry
from pipeline.tables import ChunkedTable

#: A sheet's content: a table in memory, or one read from parquet a chunk at a time.
Sheet = Union[pd.DataFrame, ChunkedTable]
#: Rows that decide the column widths of a sheet.
LAYOUT_ROWS = 5_000
#: Rows whose cells are built at once (a column at a time) and written to the zip as one piece.
ROWS_PER_PIECE = 2_000

#: Excel's limit on characters in one cell.
MAX_CELL_CHARS = 32_767
#: Column width bounds (in characters) and the width at which prose wraps.
MIN_WIDTH, MAX_WIDTH = 6, 60
#: Characters a sheet name cannot contain, and its length limit.
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_MAX_SHEET_NAME = 31
#: Characters XML 1.0 cannot hold (as openpyxl's ILLEGAL_CHARACTERS_RE).
_ILLEGAL_CHARACTERS = re.compile(r"[\000-\010]|[\013-\014]|[\016-\037]")
#: Cell style indices in styles.xml: header, top-aligned, wrapped prose.
HEADER, TOP, WRAP = 1, 2, 3
#: The characters XML counts as white space (an edge one needs ``xml:space="preserve"`` to survive).
_XML_SPACE = frozenset(" \t\r\n")

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_STYLES = f"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<styleSheet xmlns="{_MAIN}"><fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/><name val="Calibri"/></font></fonts><fills count="3"><fill><patternFill patternType="none"/></fill><fill><patternFill patternType="gray125"/></fill><fill><patternFill patternType="solid"><fgColor rgb="00E8EDF2"/></patternFill></fill></fills><borders count="1"><border><left/><right/><top/><bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs><cellXfs count="4"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/><xf numFmtId="0" fontId="1" fillId="2" borderId="0" xfId="0" applyFont="1" applyFill="1" applyAlignment="1"><alignment vertical="top"/></xf><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment vertical="top"/></xf><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0" applyAlignment="1"><alignment vertical="top" wrapText="1"/></xf></cellXfs><cellStyles count="1"><cellStyle name="Normal" xfId="0" builtinId="0"/></cellStyles></styleSheet>"""


def excel_value(value: Any) -> Any:
    """A value Excel can open: None for missing, JSON for containers, clean text, plain numbers."""
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
        value = _ILLEGAL_CHARACTERS.sub("", value)
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


def column_letter(index: int) -> str:
    """1 -> A, 27 -> AA."""
    letters = ""
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _cell(ref: str, value: Any, style: int) -> str:
    """One ``<c>`` element; strings are inline (so ``=...`` is text, never a formula).

    ``ref`` may be empty: a cell without ``r`` follows the one before it, so
    a missing value is then written as an empty styled cell.
    """
    at = f' r="{ref}"' if ref else ""
    if value is None:
        return f'<c{at} s="{style}"/>' if not ref else ""
    if isinstance(value, bool):
        return f'<c{at} s="{style}" t="b"><v>{int(value)}</v></c>'
    if isinstance(value, (int, float)):
        if isinstance(value, float) and math.isinf(value):
            value = str(value)
        else:
            return f'<c{at} s="{style}"><v>{value!r}</v></c>'
    return _text_cell(str(value), style, at)


def _column_cells(series: pd.Series, style: int) -> list[str]:
    """The cells of one column, in order and without ``r`` (much faster than cell by cell for text and integers)."""
    if _only_text(series):
        codes, distinct = pd.factorize(series)  # most columns repeat a few values: build each cell once
        lookup = _text_cells(distinct.tolist(), style) + [f'<c s="{style}"/>']
        return [lookup[code] for code in codes.tolist()]  # code -1 (missing) is the last, empty cell
    if pd.api.types.is_integer_dtype(series) and not series.hasnans:
        return (f'<c s="{style}"><v>' + series.astype("int64").astype(str) + "</v></c>").tolist()
    if pd.api.types.is_float_dtype(series) and bool(np.isfinite(series.to_numpy(dtype=float)).all()):
        return [f'<c s="{style}"><v>{value!r}</v></c>' for value in series.tolist()]  # scores: no NaN, no inf
    return [_cell("", excel_value(v), style) for v in series.tolist()]


def _only_text(series: pd.Series) -> bool:
    """Whether every non-missing value is a ``str`` (a string dtype guarantees it; an object column is checked)."""
    if isinstance(series.dtype, pd.StringDtype):
        return True
    return pd.api.types.is_string_dtype(series) and bool(series.map(type, na_action="ignore").isin([str]).all())


def _text_cells(texts: list[str], style: int) -> list[str]:
    """Inline-string cells of non-missing texts, cleaned, cut and escaped as :func:`excel_value` and :func:`_cell` do.

    A plain loop over the distinct texts: pandas' string methods cost more
    per call than the few thousand short texts of a piece take.
    """
    return [_text_cell(_clean_text(text), style) for text in texts]


def _text_cell(text: str, style: int, at: str = "") -> str:
    """One inline-string cell; an empty text is an empty cell, and only edge whitespace asks to be preserved.

    (As openpyxl writes them: ``xml:space="preserve"`` on every cell made a
    third of a unit sheet's bytes.)
    """
    if not text:
        return f'<c{at} s="{style}"/>'
    space = ' xml:space="preserve"' if text[0] in _XML_SPACE or text[-1] in _XML_SPACE else ""
    return f'<c{at} s="{style}" t="inlineStr"><is><t{space}>{escape(text)}</t></is></c>'


def _clean_text(text: str) -> str:
    """``text`` without characters a worksheet cannot hold, cut to the most a cell holds."""
    if _ILLEGAL_CHARACTERS.search(text) is not None:
        text = _ILLEGAL_CHARACTERS.sub("", text)
    return excel_value(text) if len(text) > MAX_CELL_CHARS else text


def _chunks(sheet: Sheet) -> Iterator[pd.DataFrame]:
    return iter([sheet]) if isinstance(sheet, pd.DataFrame) else sheet.chunks()


def _shape(sheet: Sheet) -> tuple[int, int]:
    """(rows, columns) without reading a chunked table."""
    return sheet.shape if isinstance(sheet, pd.DataFrame) else (len(sheet), len(sheet.columns))


def _excel_columns(frame: pd.DataFrame) -> list[list[Any]]:
    return [[excel_value(v) for v in frame[c].tolist()] for c in frame.columns]


def sheet_parts(sheet: Sheet) -> Iterator[str]:
    """The worksheet XML of one table, in pieces: header, then one row at a time."""
    chunks = _chunks(sheet)
    first = next(chunks)
    headers = [str(c) for c in first.columns]
    letters = [column_letter(i) for i in range(1, len(headers) + 1)]
    sample = _excel_columns(first.head(LAYOUT_ROWS))
    layout = [_column_layout(values, header) for values, header in zip(sample, headers)]
    styles = [WRAP if wrap else TOP for _, wrap in layout]
    yield (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{_MAIN}" xmlns:r="{_REL}">'
           '<sheetViews><sheetView workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" '
           'state="frozen"/><selection pane="bottomLeft" activeCell="A2" sqref="A2"/></sheetView></sheetViews>'
           '<sheetFormatPr defaultRowHeight="15"/>')
    if headers:
        yield "<cols>" + "".join(f'<col min="{i}" max="{i}" width="{width:g}" customWidth="1"/>'
                                 for i, (width, _) in enumerate(layout, start=1)) + "</cols>"
    yield '<sheetData><row r="1">' + "".join(_cell(f"{c}1", h, HEADER) for c, h in zip(letters, headers)) + "</row>"
    number = 1
    for chunk in chain([first], chunks):
        for start in range(0, len(chunk), ROWS_PER_PIECE):  # a few thousand rows of cells in memory at a time
            piece = chunk.iloc[start:start + ROWS_PER_PIECE]
            columns = [_column_cells(piece[column], style) for column, style in zip(piece.columns, styles)]
            yield "".join(f'<row r="{n}">{"".join(cells)}</row>'
                          for n, cells in enumerate(zip(*columns), start=number + 1))
            number += len(piece)
    yield "</sheetData>"
    if headers:
        yield f'<autoFilter ref="A1:{letters[-1]}{number}"/>'
    yield "</worksheet>"


def _filter_name(index: int, name: str, sheet: Sheet) -> str:
    """The hidden defined name Excel keeps for a sheet's filter range."""
    rows, columns = _shape(sheet)
    quoted = "'" + name.replace("'", "''") + "'"
    ref = f"{quoted}!$A$1:${column_letter(columns)}${rows + 1}"
    return f'<definedName name="_xlnm._FilterDatabase" localSheetId="{index}" hidden="1">{escape(ref)}</definedName>'


def _package_parts(sheets: Mapping[str, Sheet]) -> list[tuple[str, str]]:
    """Content types, relationships, workbook and styles for ``sheets``."""
    names = list(sheets)
    n = len(names)
    overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.openxmlformats-'
                        'officedocument.spreadsheetml.worksheet+xml"/>' for i in range(1, n + 1))
    content_types = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="http://schemas.'
                     'openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/'
                     'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/'
                     'xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-'
                     'officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/styles.xml" ContentType='
                     '"application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
                     f"{overrides}</Types>")
    root_rels = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">'
                 '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
                 'officeDocument" Target="xl/workbook.xml"/></Relationships>')
    listed = "".join(f"<sheet name={quoteattr(name)} sheetId=\"{i}\" r:id=\"rId{i}\"/>"
                     for i, name in enumerate(names, start=1))
    filters = "".join(_filter_name(i, name, sheet) for i, (name, sheet) in enumerate(sheets.items()) if _shape(sheet)[1])
    workbook = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook xmlns="{_MAIN}" xmlns:r="{_REL}">'
                f"<sheets>{listed}</sheets><definedNames>{filters}</definedNames></workbook>")
    rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                   f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, n + 1))
    rels += (f'<Relationship Id="rId{n + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
             'relationships/styles" Target="styles.xml"/>')
    workbook_rels = f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{_PKG_REL}">{rels}</Relationships>'
    return [("[Content_Types].xml", content_types), ("_rels/.rels", root_rels), ("xl/workbook.xml", workbook),
            ("xl/_rels/workbook.xml.rels", workbook_rels), ("xl/styles.xml", _STYLES)]


def _write_streamed(archive: zipfile.ZipFile, name: str, pieces: Iterable[str]) -> None:
    """Write one zip member from text pieces without holding the whole part in memory."""
    with archive.open(zip_entry(name), "w", force_zip64=True) as member:
        for piece in pieces:
            member.write(piece.encode("utf-8"))


def save_tables(sheets: Mapping[str, Sheet], path: str | os.PathLike[str]) -> None:
    """Write ``sheets`` as an .xlsx at ``path`` (not atomic; see :func:`write_workbook`)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in _package_parts(sheets):
            archive.writestr(zip_entry(name), text)
        for index, sheet in enumerate(sheets.values(), start=1):
            _write_streamed(archive, f"xl/worksheets/sheet{index}.xml", sheet_parts(sheet))


def write_workbook(sheets: Mapping[str, Sheet], path: str | os.PathLike[str]) -> None:
    """Write ``sheets`` (sheet name -> table) to an .xlsx file atomically."""
    if not sheets:
        raise ValueError("workbook: no tables to write")
    for name in sheets:
        _check_sheet_name(name)
    write_with(path, lambda tmp: save_tables(sheets, tmp))


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
