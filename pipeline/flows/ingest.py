"""The ingest flow: plan the corpus, read + segment it in cached batches, write the run folder.

The batches, their content-keyed cache and the one-line report of unreadable
files are those of the main job (:func:`pipeline.flows.run.ingest_stage`).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import flow
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.flows.run import MAX_WORKERS, BatchSpool, ingest_stage
from pipeline.ingest.batch import IngestResult
from pipeline.ingest.corpus import plan_corpus
from pipeline.ingest.output import write_ingest
from pipeline.ingest.readers import DEFAULT_MAX_BYTES


@flow(name="wogcode-ingest", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def ingest_flow(source: str, out: str | None = None, max_bytes: int = DEFAULT_MAX_BYTES,
                pseudonym_map: str | None = None) -> IngestResult:
    """Ingest a corpus folder (or file) and, if ``out`` is given, write documents + units there.

    With ``pseudonym_map`` people and identifiers are replaced before anything
    is written; the map (reused when it exists) is written to that path.
    """
    repaired: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wogcode-ingest-") as work:
        spool = BatchSpool(Path(work))
        report = ingest_stage(plan_corpus(Path(source)), max_bytes, repaired, spool)
        result = IngestResult(report=report)
        for doc, units in spool.documents():
            result.documents.append(doc)
            result.units += units
    if pseudonym_map:
        from pipeline.privacy import pseudonymise_ingest

        result, _ = pseudonymise_ingest(result, Path(pseudonym_map))
    if out:
        write_ingest(result, Path(out))
    return result
