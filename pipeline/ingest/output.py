"""Write an ingest result to a run folder: documents, units, report."""

from __future__ import annotations

from pathlib import Path

from pipeline.ingest.batch import IngestResult
from pipeline.tables import documents_frame, units_frame, write_json, write_table


def write_ingest(result: IngestResult, out_dir: Path) -> list[Path]:
    """documents.parquet, units.parquet + units.csv, ingest_report.json (each written atomically)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = write_table(documents_frame(result.documents), out_dir, "documents", csv=False)
    written += write_table(units_frame(result.units), out_dir, "units")
    report = result.report.to_dict() | {"n_documents": len(result.documents), "n_units": len(result.units)}
    written.append(write_json(report, out_dir / "ingest_report.json"))
    return written
