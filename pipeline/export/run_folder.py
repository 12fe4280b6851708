"""Write a run folder: the coded dataset, evidence, workbook, REFI-QDA project, report, manifest.

Outputs are written from tables on disk read a chunk at a time
(:class:`RunTables`), so memory does not grow with the corpus.  Every file is
written atomically (a temp file renamed into place), so an
interrupted export leaves each output either complete or absent, never half
written.  A folder that cannot be written (read-only, full disk, no
permission) gives one :class:`OutputError` line naming the folder.
"""

from __future__ import annotations

import os
import platform
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow.compute as pc

from pipeline import __version__
from pipeline.atomic import OutputError, output_error_reason, write_text
from pipeline.codebook import Codebook, load_codebook
from pipeline.export.qdpx import ProjectDocument
from pipeline.schema import UNCODED
from pipeline.tables import (CHUNK_ROWS, CODING_COLUMNS, PARQUET_COMPRESSION, ChunkedTable, write_csv_batches,
                             write_json, write_table)
from pipeline.up_to_date import output_checksums

if TYPE_CHECKING:
    from pipeline.export.report import ReportFacts

#: Prefix of a run's working folder inside the run folder (removed at the end, and at the start if stale).
WORK_PREFIX = ".wogcode-work-"
#: run_info keys that change from run to run and so stay out of the report (the manifest keeps them).
VOLATILE_KEYS = ("timings_s", "run_key")
#: Documents read at a time for the REFI-QDA project: each comes with its whole text, so not ``CHUNK_ROWS``.
DOCUMENTS_PER_READ = 64

PACKAGES = ("pandas", "scikit-learn", "spacy", "PySastrawi", "sentence-transformers", "torch", "prefect")


def coded_units(units: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """Every unit with its coding (``uncoded`` rows included), in unit order."""
    coding_cols = ["unit_id", *CODING_COLUMNS]
    return units.merge(codings[coding_cols], on="unit_id", how="left", validate="one_to_one")


@dataclass(frozen=True)
class RunTables:
    """A run's per-unit data on disk: documents (with text) and the coded unit table, in document order."""

    documents: ChunkedTable
    units: ChunkedTable


def package_versions() -> dict[str, str]:
    """Versions of the libraries that shape results."""
    found = {"python": platform.python_version(), "wogcode": __version__}
    for name in PACKAGES:
        try:
            found[name] = version(name)
        except Exception:  # noqa: BLE001 - a missing optional package is simply not listed
            continue
    return found


def write_run_folder(out: Path, documents: pd.DataFrame, units: pd.DataFrame, codings: pd.DataFrame,
                     evidence: pd.DataFrame, codebook: str, run_info: dict[str, Any]) -> list[Path]:
    """Write all outputs of tables held in memory (notebooks, benchmarks); see :func:`export_run_folder`."""
    from pipeline.aggregate import evidence_units
    from pipeline.export.report import ReportFacts

    book = load_codebook(codebook)
    facts = ReportFacts(book)
    facts.add(units, codings, evidence_units(units, codings, book))
    order = {doc_id: i for i, doc_id in enumerate(documents["doc_id"])}
    table = coded_units(units, codings)
    table = table.iloc[table["doc_id"].map(order).argsort(kind="stable")]
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=out, prefix=WORK_PREFIX) as work:
            tables = RunTables(_parquet(documents, Path(work) / "documents.parquet"),
                               _parquet(table, Path(work) / "units.parquet"))
            return export_run_folder(out, tables, evidence, facts, run_info)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the run folder ({output_error_reason(exc)})") from None


def _parquet(frame: pd.DataFrame, path: Path) -> ChunkedTable:
    frame.to_parquet(path, index=False, compression=PARQUET_COMPRESSION)
    return ChunkedTable(path)


def export_run_folder(out: Path, tables: RunTables, evidence: pd.DataFrame, facts: ReportFacts,
                      run_info: dict[str, Any]) -> list[Path]:
    """Write every output from tables on disk, reading them a chunk at a time; returns the paths (manifest last).

    ``tables`` are moved into ``out`` as ``documents.parquet`` and ``units.parquet``.
    Raises :class:`OutputError` (one line naming ``out``) when the folder cannot be written.
    """
    try:
        return _write_outputs(out, tables, evidence, facts, run_info)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the run folder ({output_error_reason(exc)})") from None


def code_counts(units: ChunkedTable) -> dict[str, int]:
    """Units per code (``uncoded`` included) of a coded unit table, read a chunk at a time."""
    counts: Counter[str] = Counter()
    for batch in ChunkedTable(units.path, ("code",)).batches():  # counted in Arrow: ~10x faster than in pandas
        counts.update({item["values"]: item["counts"] for item in pc.value_counts(batch.column("code")).to_pylist()})
    return dict(counts)


def _move(table: ChunkedTable, target: Path) -> ChunkedTable:
    """Move a finished table into the run folder (atomic: the same file system)."""
    os.replace(table.path, target)
    return ChunkedTable(target)


@dataclass
class _Piece:
    """The units of one document within one chunk of the units table."""

    doc_id: str
    n_units: int
    coded: list[dict[str, Any]]
    models: set[str]


#: The unit columns the REFI-QDA project reads (not the cleaned text, kind, block, section, ...).
PROJECT_UNIT_COLUMNS = ("doc_id", "unit_id", "start", "end", "text", "codebook", "code", "score", "valence", "model",
                        "evidence", "informant", "speaker_role", "agency", "city", "position")


def _pieces(units: ChunkedTable, codebook: Codebook, rows: int) -> Iterator[_Piece]:
    """Per chunk, per run of one document's units: their number, the coded ones, the models (table order).

    Read as Arrow batches and filtered there: only the coded rows (a tenth
    of a typical run) become Python dicts.
    """
    columns = tuple(c for c in PROJECT_UNIT_COLUMNS if c in units.columns)
    for batch in ChunkedTable(units.path, columns).batches(rows):
        models = set(pc.unique(batch.column("model")).drop_null().to_pylist()) - {""}
        mine = pc.and_(pc.equal(batch.column("codebook"), codebook.id), pc.not_equal(batch.column("code"), UNCODED))
        coded: dict[str, list[dict[str, Any]]] = {}
        for row in batch.filter(mine).to_pylist():
            coded.setdefault(row["doc_id"], []).append(row)
        for doc_id, n_units in _runs(batch.column("doc_id").to_pylist()):
            yield _Piece(doc_id, n_units, coded.get(doc_id, []), models)


def _runs(ids: list[str]) -> Iterator[tuple[str, int]]:
    """(value, count) of each run of equal consecutive values."""
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or ids[i] != ids[start]:
            yield ids[start], i - start
            start = i


def project_items(documents: ChunkedTable, units: ChunkedTable, codebook: Codebook,
                  rows: int = CHUNK_ROWS) -> Iterator[ProjectDocument]:
    """The documents as the REFI-QDA writer takes them; each one's coded units are read as it draws them.

    Units are in document order, so a document's units are one run of the
    table, possibly across chunks: a huge document is never held whole.
    """
    pieces = _pieces(units, codebook, rows)
    head = next(pieces, None)

    def coded_units(item: ProjectDocument) -> Iterator[tuple[dict[str, Any], list[dict[str, Any]]]]:
        nonlocal head
        models: set[str] = set()
        while head is not None and head.doc_id == item.doc["doc_id"]:
            item.n_units += head.n_units
            models |= head.models
            item.models = sorted(models)
            yield from ((row, [row]) for row in head.coded)
            head = next(pieces, None)

    for doc in documents.records(rows=DOCUMENTS_PER_READ):
        item = ProjectDocument(doc, [], 0, [])
        item.coded = coded_units(item)
        yield item
    if head is not None:
        raise ValueError(f"units: document '{head.doc_id}' is not in the documents table, or out of order")


def write_project(documents: ChunkedTable, units: ChunkedTable, book: Codebook, target: Path) -> Path:
    """The REFI-QDA project of a run's tables, read a chunk at a time; returns ``target``."""
    from pipeline.export.qdpx import write_qdpx_documents

    return write_qdpx_documents(project_items(documents, units, book), book, target)


def _write_outputs(out: Path, tables: RunTables, evidence: pd.DataFrame, facts: ReportFacts,
                   run_info: dict[str, Any]) -> list[Path]:
    """Every output; the workbook and the REFI-QDA project in worker processes when the run has them.

    This process writes the tables, the data dictionary and the report meanwhile.
    """
    from pipeline.export.data_dictionary import data_dictionary_markdown
    from pipeline.export.report import render_report_facts, write_report
    from pipeline.export.workbook import write_workbook
    from pipeline import workers

    book = facts.codebook
    out.mkdir(parents=True, exist_ok=True)
    documents = _move(tables.documents, out / "documents.parquet")
    units = _move(tables.units, out / "units.parquet")
    codebook_sheet = pd.DataFrame(
        [{"code": c.id, "name": c.name, "name_en": c.name_en, "definition": c.definition} for c in book.codes])
    sheets = {"units": units, "evidence": evidence, "documents": documents.without("text"), "codebook": codebook_sheet}
    workbook = workers.background(write_workbook, sheets, out / "coded.xlsx")
    project = workers.background(write_project, documents, units, book, out / "project.qdpx")
    # meanwhile this process writes the rest
    written = [documents.path, units.path, write_csv_batches(units.columns, units.batches(), out / "units.csv")]
    written += write_table(evidence, out, "evidence")
    write_text(out / "README.md", data_dictionary_markdown({"units": units, "evidence": evidence}))
    report_info = {k: v for k, v in run_info.items() if k not in VOLATILE_KEYS}  # same inputs, same bytes
    write_report(render_report_facts(facts, evidence, report_info), out / "report.html")
    inputs = pd.concat(list(documents.chunks(columns=["doc_id", "path", "kind", "fmt"])), ignore_index=True)
    n_coded = sum(n for code, n in code_counts(units).items() if code != UNCODED)
    workbook()
    written += [out / "README.md", out / "report.html", out / "coded.xlsx", project()]
    manifest = run_info | {
        "inputs": inputs.to_dict("records"),
        "counts": {"documents": len(documents), "units": len(units), "coded": n_coded},
        "versions": package_versions(),
        "outputs": sorted(p.name for p in written),
        "output_sha256": output_checksums(written),
    }
    written.append(write_json(manifest, out / "manifest.json"))
    return written
