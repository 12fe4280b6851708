"""The main job as one Prefect flow: ingest -> code -> aggregate -> export.

Each document is one ingest task and one coding task; both are cached by
content (file hash + code/lexicon fingerprint + model id), so a repeated or
interrupted run reuses every finished document instead of starting over.
Business logic lives in plain functions; this module only orchestrates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.fingerprint import ingest_fingerprint
from pipeline.ingest.batch import collect, ingest_file
from pipeline.ingest.corpus import CorpusPlan, plan_corpus
from pipeline.ingest.document import content_hash
from pipeline.ingest.readers import DEFAULT_MAX_BYTES
from pipeline.progress import stage_progress
from pipeline.schema import Document, IngestError, Unit
from pipeline.tables import units_frame


@dataclass
class RunResult:
    """What a run produced, for the terminal summary and for tests."""

    out: Path
    documents: pd.DataFrame
    units: pd.DataFrame
    codings: pd.DataFrame
    evidence: pd.DataFrame
    report_lines: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def _ingest_key(_context: Any, params: dict[str, Any]) -> str:
    path = Path(params["path"])
    sidecar = sorted((params["plan"].sidecar.get(path.resolve()) or {}).items())
    return f"wogcode-ingest-{content_hash(path)}-{path.name}-{hash(tuple(sidecar)) & 0xFFFFFFFF:x}-{ingest_fingerprint()}"


@task(cache_key_fn=_ingest_key, persist_result=True, result_serializer="json")
def ingest_task(path: str, plan: CorpusPlan, max_bytes: int) -> dict[str, Any]:
    """One file -> {"document": row, "units": rows} or {"error": reason} (JSON-safe, cacheable)."""
    try:
        doc, units = ingest_file(Path(path), plan, max_bytes)
    except IngestError as exc:
        return {"error": exc.reason}
    return {"document": doc.to_row() | {"metadata": doc.metadata}, "units": [u.to_row() for u in units]}


def _code_key(_context: Any, params: dict[str, Any]) -> str:
    return f"wogcode-code-{params['doc_key']}-{params['model_id']}"


@task(cache_key_fn=_code_key, persist_result=True, result_serializer="json")
def code_task(doc_key: str, model_id: str, units: list[dict[str, Any]], model: str, codebook: str) -> list[dict[str, Any]]:
    """Code one document's units with the (process-cached) coder; rows of Coding."""
    from pipeline.classify.base import code_units
    from pipeline.classify.registry import load_coder

    coder = load_coder(model, codebook)
    return code_units(coder, pd.DataFrame(units)).to_dict("records")


def _document_from_row(row: dict[str, Any]) -> Document:
    fields = {k: row[k] for k in ("doc_id", "path", "kind", "fmt", "encoding", "text")}
    warnings = [w for w in row["warnings"].split("\n") if w]
    return Document(**fields, metadata=row["metadata"], warnings=warnings)


@task(cache_policy=NO_CACHE)
def export_task(out: str, documents: pd.DataFrame, units: pd.DataFrame, codings: pd.DataFrame,
                evidence: pd.DataFrame, codebook: str, run_info: dict[str, Any]) -> list[str]:
    """Write every output of the run folder atomically."""
    from pipeline.export.run_folder import write_run_folder

    return [str(p) for p in write_run_folder(Path(out), documents, units, codings, evidence, codebook, run_info)]


@flow(name="wogcode-run")
def run_flow(corpus: str, codebook: str, out: str, model: str = "default",
             max_bytes: int = DEFAULT_MAX_BYTES) -> RunResult:
    """Ingest a corpus, code it with ``model`` against ``codebook``, aggregate, export to ``out``."""
    from pipeline.aggregate import evidence_table
    from pipeline.classify.registry import load_coder
    from pipeline.codebook import load_codebook

    timings: dict[str, float] = {}
    clock = time.perf_counter()
    plan = plan_corpus(Path(corpus))
    with stage_progress("ingest", len(plan.files)) as advance:
        futures = [ingest_task.submit(str(p), plan, max_bytes) for p in plan.files]
        outcomes = []
        for path, future in zip(plan.files, futures):
            payload = future.result()
            outcomes.append((path, IngestError(str(path), payload["error"]) if "error" in payload else (
                _document_from_row(payload["document"]), [Unit(**u) for u in payload["units"]])))
            advance()
    ingested = collect(plan, outcomes)
    timings["ingest"] = time.perf_counter() - clock

    clock = time.perf_counter()
    book = load_codebook(codebook)
    coder = load_coder(model, codebook)
    units = units_frame(ingested.units)
    with stage_progress("code", len(ingested.documents)) as advance:
        futures = [
            code_task.submit(f"{doc.doc_id}-{ingest_fingerprint()}", coder.model_id,
                             units[units["doc_id"] == doc.doc_id].to_dict("records"), model, codebook)
            for doc in ingested.documents
        ]
        rows = []
        for future in futures:
            rows += future.result()
            advance()
    from pipeline.schema import Coding

    codings = pd.DataFrame(rows, columns=list(Coding.__dataclass_fields__))
    timings["code"] = time.perf_counter() - clock

    clock = time.perf_counter()
    evidence = evidence_table(units, codings, book)
    timings["aggregate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    from pipeline.tables import documents_frame

    documents = documents_frame(ingested.documents)
    run_info = {
        "corpus": str(Path(corpus)),
        "codebook": {"id": book.id, "version": book.version, "hash": book.content_hash},
        "model": coder.model_id,
        "ingest": ingested.report.to_dict(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    written = export_task(out, documents, units, codings, evidence, codebook, run_info)
    timings["export"] = time.perf_counter() - clock
    return RunResult(Path(out), documents, units, codings, evidence, ingested.report.summary_lines(),
                     timings, [Path(p) for p in written])
