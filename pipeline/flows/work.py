"""The work of the main job's tasks as plain functions: reading a batch of files, coding a job's units.

Worker processes run these (:mod:`pipeline.workers`), so this module
imports neither Prefect nor the flow: a worker's start-up imports only what
the work needs.  The flow (:mod:`pipeline.flows.run`) wraps them in tasks.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.ingest.batch import open_file
from pipeline.ingest.batch_file import BatchWriter, loads
from pipeline.ingest.corpus import CorpusPlan
from pipeline.schema import IngestError
from pipeline.tables import compact_json, rows_frame

#: How the reason of an unforeseen failure of one file starts (such results are retried, never trusted cached).
INTERNAL_ERROR = "internal error ("


def digest(data: Any) -> str:
    """sha256 of the canonical JSON form of ``data`` (:func:`pipeline.tables.compact_json`)."""
    return hashlib.sha256(compact_json(data, default=str)).hexdigest()


def seal(data: Any) -> dict[str, Any]:
    """A task result that carries its own checksum."""
    return {"data": data, "sha256": digest(data)}


def unseal(payload: Any) -> Any | None:
    """The data of an intact sealed result, else None."""
    if not isinstance(payload, dict) or set(payload) != {"data", "sha256"}:
        return None
    return payload["data"] if digest(payload["data"]) == payload["sha256"] else None


def internal_error(exc: Exception) -> str:
    """The reason given for a file that failed in an unforeseen way (one line)."""
    return f"{INTERNAL_ERROR}{type(exc).__name__}: {' '.join(str(exc).split())[:200]})"


def write_batch(target: Path, files: list[Path], plan: CorpusPlan, max_bytes: int) -> list[dict[str, Any]]:
    """Read and segment ``files`` into the batch file ``target``, a unit at a time; returns its summary.

    A file that cannot be read, or breaks the reader or segmenter in an
    unforeseen way, becomes an error entry; the batch goes on.
    """
    writer = BatchWriter(target)
    try:
        for path in files:
            try:
                doc, units = open_file(path, plan, max_bytes)
                writer.add_document(doc, (unit.to_row() for unit in units))
            except IngestError as exc:
                writer.add_error(exc.reason)
            except Exception as exc:  # noqa: BLE001 - an unforeseen failure of one file must not stop the batch
                writer.add_error(internal_error(exc))
        return writer.close()
    except BaseException:
        writer.discard()
        raise


def coded_records(units_json: str, model: str, codebook: str) -> dict[str, Any]:
    """A coding job's units (JSON) coded with the process-cached coder: sealed rows of Coding."""
    from pipeline.classify.base import CODER_COLUMNS, coding_rows
    from pipeline.classify.registry import load_coder

    units = loads(units_json)
    columns = [c for c in CODER_COLUMNS if not units or c in units[0]]  # the rest of the unit is not read
    frame = rows_frame(units, columns) if units else pd.DataFrame(columns=columns)
    return seal(coding_rows(load_coder(model, codebook), frame))
