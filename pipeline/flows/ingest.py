"""The ingest flow: plan the corpus, read + segment each file as a task, write the run folder."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from pipeline.ingest.batch import IngestResult, collect, ingest_file
from pipeline.ingest.corpus import CorpusPlan, plan_corpus
from pipeline.ingest.output import write_ingest
from pipeline.ingest.readers import DEFAULT_MAX_BYTES
from pipeline.schema import IngestError


@task(cache_policy=NO_CACHE, retries=0)
def read_and_segment(path: Path, plan: CorpusPlan, max_bytes: int):
    """One file: its document and units, or the IngestError that explains why not."""
    try:
        return ingest_file(path, plan, max_bytes)
    except IngestError as exc:
        return exc


@flow(name="wogcode-ingest", log_prints=False)
def ingest_flow(source: str, out: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES) -> IngestResult:
    """Ingest a corpus folder (or file) and, if ``out`` is given, write documents + units there."""
    plan = plan_corpus(Path(source))
    futures = [read_and_segment.submit(path, plan, max_bytes) for path in plan.files]
    outcomes = [(path, future.result()) for path, future in zip(plan.files, futures)]
    result = collect(plan, outcomes)
    if out:
        write_ingest(result, Path(out))
    return result
