"""The run folder's README.md: what each table is and what every column means.

Descriptions live in two dicts: :data:`COLUMNS` for columns that mean the same
in every table (``unit_id``, ``code``, ...) and :data:`TABLE_COLUMNS` for the
few that mean something else in one table (``kind`` of a document is not
``kind`` of a unit).  :func:`undescribed_columns` lists what is missing; a
test keeps it empty for the tables the pipeline writes.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from pipeline.aggregate import STRENGTH_FORMULA
from pipeline.tables import ChunkedTable

#: What each table is, by its name in the run folder.
TABLES: dict[str, str] = {
    "documents": "One row per source file that was read: its metadata and decoded text.",
    "units": "One row per unit (one sentence of an interview turn, of thesis prose or of a quote) "
    "with exact offsets into its document.",
    "codings": "One row per unit and codebook: the code the model chose (or `uncoded`), its "
    "confidence, the valence and the evidence for the decision.",
    "evidence": "One row per (level, key, code): how much the fieldwork says about a code for a "
    "study, city, agency or informant, which way it leans, and quotes to cite.",
    "summary": "One row per (codebook, code): how many codable units the model gave each code.",
    "codebook": "One row per code of the codebook used for this run.",
}

#: Columns that mean the same wherever they appear.
COLUMNS: dict[str, str] = {
    # documents and units
    "doc_id": "Content hash (12 hex) of the source file's bytes; the same file always gets the same id.",
    "path": "Source file, relative to the corpus folder (POSIX separators).",
    "fmt": "File format the text was read from: txt, md, docx or pdf.",
    "encoding": "Text encoding used to decode the file (or the container format, e.g. docx).",
    "text": "Verbatim text: the document's full text (NFC, LF line ends), or for a unit exactly "
    "`document text[start:end]`.",
    "warnings": "Problems met while reading the file, ` | ` separated (empty when none).",
    "study": "Study the source belongs to (metadata), e.g. `WoG MPP Kota Padang 2025`.",
    "city": "City or regency of the MPP studied (metadata), e.g. `Kota Padang`.",
    "informant": "Informant as named in the source (initials with an honorific, e.g. `Bapak XY`); for units, the person "
    "speaking or quoted; interviewer turns carry the interview's informant.",
    "role": "The informant's job title as given in the metadata.",
    "agency": "Agency the informant works for (metadata), e.g. `Disdukcapil Kota Pekanbaru`.",
    "date": "Date of the interview or year of the thesis (metadata, as written).",
    "framework": "Codebook id the study itself uses (metadata), e.g. `perry6`.",
    "unit_id": "Stable unit id: `<doc_id>-<index>`; the same across reruns of the same file.",
    "index": "Position of the unit in its document (0-based).",
    "start": "Start offset of the unit in the document text (Python string index, inclusive).",
    "end": "End offset of the unit in the document text (exclusive).",
    "kind": "Unit kind: utterance (interview sentence), narrative (thesis prose), quote (interview "
    "excerpt quoted in a thesis); heading, header and caption are structure and never coded.",
    "block_id": "The interview turn or thesis paragraph the unit belongs to.",
    "section": "Heading path of the unit in a thesis, ` > ` joined (empty for interviews).",
    "speaker": "Who speaks: the turn label (e.g. `P`, `Ibu XY`) or the person a quote is attributed to.",
    "speaker_role": "interviewer, informant, researcher (thesis narrative) or cited (quoted literature).",
    "position": "The speaking informant's job title (metadata `role`, `Jabatan`).",
    "text_clean": "The unit text without PDF artefacts (stray page numbers, broken hyphens, hard "
    "wraps); for reading only, offsets refer to `text`.",
    # codings
    "codebook": "Codebook id, e.g. `perry6`, `tamtanus`, `sudrajat`, `mpp_factors`.",
    "code": "Code id of the codebook, or `uncoded` when the unit fits no code.",
    "score": "The model's confidence in `code`, from 0 to 1.",
    "valence": "positive (achieved, an enabler), negative (not achieved, a barrier) or neutral "
    "(description, no verdict). Units left `uncoded` keep the valence of what they say; units no model "
    "reads (interviewer turns, headings, non-findings sections) are neutral.",
    "model": "Id of the model that coded the unit, e.g. `lexicon:perry6@<hash>`.",
    "evidence": "Why the model decided (JSON): per-code `scores`, matched `terms` with offsets into "
    "the unit text, nearest training `neighbours`, `valence_cues`, and a `reason`.",
    # evidence
    "level": "Aggregation level of the row: study, city, agency or informant.",
    "key": "The study, city, agency or informant the row is about.",
    "code_name": "The code's name in the codebook.",
    "n_units": "Evidence units coded with this code for this key (interviewer turns and cited "
    "literature never count; agency and informant rows count informants' own words only).",
    "n_codable": "Evidence units of this key coded with this codebook (any code or `uncoded`).",
    "share": "n_units / n_codable: the share of this key's evidence that is about the code.",
    "n_informants": "Distinct informants (within a study) among the units.",
    "n_sources": "Distinct sources among the units: informants, plus one per document for the "
    "researcher's narrative and unattributed quotes.",
    "informants": "The informants among the sources, `; ` separated.",
    "mean_score": "Mean model confidence of the units (empty when there are none).",
    "n_positive": "Units with positive valence.",
    "n_negative": "Units with negative valence.",
    "n_neutral": "Units with neutral valence.",
    "positive_balance": "One vote per source: mean over sources of each source's share of positive "
    "among its positive and negative units (empty when no unit is positive or negative).",
    "strength": f"Evidence strength from 0 to 1: {STRENGTH_FORMULA}.",
    "verdict": "positive (balance at least 2/3), negative (at most 1/3), mixed (in between) or "
    "insufficient (fewer than 2 units, strength below 0.2, or no positive or negative unit).",
    "top_excerpts": "Up to 3 highest-scoring units (JSON list of unit_id, path, start, end, speaker, "
    "speaker_role, text, text_clean, valence, score); ties broken by unit_id.",
    "supporting_excerpts": "Up to 2 units to quote for the verdict (same JSON form), each preferring "
    "the valence the verdict needs (one positive and one negative for mixed), then a voice not "
    "quoted yet, informants before narrative, and the highest score.",
    # codebook
    "version": "Version of the codebook.",
    "name": "Name of the code.",
    "name_en": "English name of the code.",
    "definition": "What the code means.",
    "indicators": "What to look for, `; ` separated.",
    "include": "When to apply the code.",
    "exclude": "When not to apply it, and which code to use instead.",
    "keywords": "Lexicon terms of the code, `, ` separated.",
}

#: Columns whose meaning differs in one table.
TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "documents": {
        "kind": "Document kind: transcript (an interview) or thesis (a thesis or article text).",
        "informant": "Informant(s) of the interview (metadata), `; ` separated for group interviews.",
        "agency": "Agency or agencies of the interview's informants (metadata).",
    },
    "evidence": {
        "study": "Study of the row: the key itself for study rows; for agency and informant rows "
        "the study their name belongs to; empty for city rows.",
        "city": "City of the row: the key itself for city rows; for agency and informant rows the "
        "city they belong to; empty for study rows.",
    },
    "summary": {
        "n_units": "Codable units (interviewer turns included) the model gave this code.",
        "share": "n_units / all codable units coded with this codebook.",
        "mean_score": "Mean model confidence of those units.",
    },
}


def describe(table: str, column: str) -> str:
    """The description of ``column`` in ``table``, or "" when there is none."""
    return TABLE_COLUMNS.get(table, {}).get(column) or COLUMNS.get(column, "")


def undescribed_columns(tables: Mapping[str, pd.DataFrame]) -> dict[str, list[str]]:
    """Per table, the columns without a description (empty dict when all are described)."""
    missing = {name: [str(c) for c in frame.columns if not describe(name, str(c))] for name, frame in tables.items()}
    return {name: columns for name, columns in missing.items() if columns}


def _type_name(series: pd.Series) -> str:
    """A reader's word for a column type."""
    if pd.api.types.is_bool_dtype(series):
        return "true/false"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "number"
    return "text"


def _cell(text: str) -> str:
    """Text safe inside a markdown table cell."""
    return text.replace("|", "\\|").replace("\n", " ")


def data_dictionary_markdown(tables: Mapping[str, pd.DataFrame | ChunkedTable],
                             files: Mapping[str, str] | None = None) -> str:
    """A README.md for a run folder: the files, then one section per table with every column described.

    ``files`` optionally maps other file names of the run folder to one-line descriptions.
    """
    lines = [
        "# Data dictionary",
        "",
        "What every table of this run contains and what each column means. Tables are saved as "
        "`<name>.parquet` and `<name>.csv` (UTF-8); `coded.xlsx` holds them as sheets. Offsets "
        "(`start`, `end`) are Python string offsets into the document text, so a unit's text is "
        "always `document text[start:end]`.",
        "",
    ]
    if files:
        lines += ["## Files", ""]
        lines += [f"- `{name}`: {description}" for name, description in files.items()]
        lines.append("")
    for name, table in tables.items():
        frame = table if isinstance(table, pd.DataFrame) else next(table.chunks(rows=1))  # the column types
        lines += [f"## {name}", ""]
        if name in TABLES:
            lines += [TABLES[name], ""]
        lines += [f"{len(table)} rows.", "", "| column | type | meaning |", "|---|---|---|"]
        for column in frame.columns:
            meaning = describe(name, str(column)) or "(not described)"
            lines.append(f"| `{column}` | {_type_name(frame[column])} | {_cell(meaning)} |")
        lines.append("")
    return "\n".join(lines)
