"""Write a run folder: the coded dataset, evidence, workbook, REFI-QDA project, report, manifest.

Every file is written atomically (a temp file renamed into place), so an
interrupted export leaves each output either complete or absent, never half
written.  A folder that cannot be written (read-only, full disk, no
permission) gives one :class:`OutputError` line naming the folder.
"""

from __future__ import annotations

import os
import platform
import tempfile
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline import __version__
from pipeline.atomic import write_text
from pipeline.codebook import load_codebook
from pipeline.tables import write_json, write_table
from pipeline.up_to_date import output_checksums

#: run_info keys that change from run to run and so stay out of the report (the manifest keeps them).
VOLATILE_KEYS = ("timings_s", "run_key")

PACKAGES = ("pandas", "scikit-learn", "spacy", "PySastrawi", "sentence-transformers", "torch", "prefect")


class OutputError(ValueError):
    """A run folder that cannot be written; the message is one line naming the folder."""


def check_output_folder(out: Path, what: str = "the run folder") -> None:
    """Create ``out`` if needed and prove a file can be written there, before any long work starts."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=out, prefix=".wogcode-probe-") as probe:
            probe.write(b"probe")
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as exc:
        raise OutputError(f"{out}: cannot write {what} ({_reason(exc)})") from None


def _reason(exc: OSError) -> str:
    """'No space left on device: units.parquet', 'Read-only file system', ..."""
    reason = exc.strerror or " ".join(str(exc).split()) or type(exc).__name__
    name = Path(exc.filename).name if exc.filename else ""
    if name.startswith(".") and name.endswith(".tmp"):  # an atomic write's temp file: name its target
        name = name[1:].rsplit(".", 2)[0]
    return f"{reason}: {name}" if name and "wogcode-probe" not in name else reason


def coded_units(units: pd.DataFrame, codings: pd.DataFrame) -> pd.DataFrame:
    """Every unit with its coding (``uncoded`` rows included), in unit order."""
    coding_cols = ["unit_id", "codebook", "code", "score", "valence", "model", "evidence"]
    return units.merge(codings[coding_cols], on="unit_id", how="left", validate="one_to_one")


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
    """Write all outputs atomically; returns the paths written (manifest last).

    Raises :class:`OutputError` (one line naming ``out``) when the folder cannot be written.
    """
    try:
        return _write_outputs(out, documents, units, codings, evidence, codebook, run_info)
    except OSError as exc:
        raise OutputError(f"{out}: cannot write the run folder ({_reason(exc)})") from None


def _write_outputs(out: Path, documents: pd.DataFrame, units: pd.DataFrame, codings: pd.DataFrame,
                   evidence: pd.DataFrame, codebook: str, run_info: dict[str, Any]) -> list[Path]:
    from pipeline.export.data_dictionary import data_dictionary_markdown
    from pipeline.export.qdpx import write_qdpx
    from pipeline.export.report import render_report, write_report
    from pipeline.export.workbook import write_workbook

    book = load_codebook(codebook)
    out.mkdir(parents=True, exist_ok=True)
    table = coded_units(units, codings)
    written = write_table(documents, out, "documents", csv=False)
    written += write_table(table, out, "units")
    written += write_table(evidence, out, "evidence")
    codebook_sheet = pd.DataFrame(
        [{"code": c.id, "name": c.name, "name_en": c.name_en, "definition": c.definition} for c in book.codes])
    sheets = {"units": table, "evidence": evidence, "documents": documents.drop(columns=["text"]),
              "codebook": codebook_sheet}
    write_workbook(sheets, out / "coded.xlsx")
    written.append(out / "coded.xlsx")
    write_text(out / "README.md", data_dictionary_markdown({"units": table, "evidence": evidence}))
    written.append(out / "README.md")
    write_qdpx(documents, units, codings, book, out / "project.qdpx")
    written.append(out / "project.qdpx")
    report_info = {k: v for k, v in run_info.items() if k not in VOLATILE_KEYS}  # same inputs, same bytes
    write_report(render_report(units, codings, evidence, book, report_info), out / "report.html")
    written.append(out / "report.html")
    manifest = run_info | {
        "inputs": documents[["doc_id", "path", "kind", "fmt"]].to_dict("records"),
        "counts": {"documents": len(documents), "units": len(units),
                   "coded": int((codings["code"] != "uncoded").sum())},
        "versions": package_versions(),
        "outputs": sorted(p.name for p in written),
        "output_sha256": output_checksums(written),
    }
    written.append(write_json(manifest, out / "manifest.json"))
    return written
