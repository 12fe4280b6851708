"""The main job as one Prefect flow: ingest -> (pseudonymise) -> code -> aggregate -> export.

Documents go through in small batches: one ingest task and one coding task
per batch (a submitted Prefect task costs ~45 ms, so one task per file made
the orchestration cost more than the work on a corpus of short transcripts).
Small corpora get batches of one file, large ones ``MAX_BATCH`` files, or
more when the files are small (:func:`file_batches`); a huge transcript is
coded in jobs of at most ``MAX_TASK_UNITS`` units.

Both are kept across runs, so a repeated or interrupted run reuses every
finished batch instead of starting over, and gives the same outputs: an
ingested batch is a checksummed batch file named by its files' content,
sidecar rows and the code's fingerprint (:mod:`pipeline.ingest.batch_file`,
written a unit at a time); a coding job is a Prefect result keyed by its
units' content and the model.  Neither is trusted blindly: a damaged batch
file or coding result (each carries a sha256 of its content) is recomputed.
A file that breaks the reader or segmenter in an unforeseen way is reported
as failed, like any unreadable file; the run goes on, and the next run tries
that file again.

Memory does not grow with the corpus: at most ``WINDOW`` batches (and
``MAX_UNITS_IN_FLIGHT`` units) are in flight; ingested batches are read back
a line at a time; coded batches are appended to the run's parquet tables and
counted into the evidence table and the report as they arrive; every export
then reads the tables back a chunk at a time.

Business logic lives in plain functions; this module only orchestrates.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.settings import PREFECT_LOCAL_STORAGE_PATH
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.aggregate import EvidenceAccumulator, evidence_units
from pipeline.atomic import OutputError, output_error_reason
from pipeline.export.report import ReportFacts
from pipeline.gc_tuning import GarbageBudget
from pipeline import workers
from pipeline.flows import head_start
from pipeline.flows.work import INTERNAL_ERROR, coded_records, digest, internal_error, unseal, write_batch
from pipeline.codebook import Codebook
from pipeline.export.run_folder import (
    WORK_PREFIX,
    RunTables,
    code_counts,
    export_run_folder,
)
from pipeline.fingerprint import coding_fingerprint, ingest_fingerprint
from pipeline.ingest.batch import Collector
from pipeline.ingest.batch_file import document_from_row, read_rows, read_summary, row_value, rows_json, units_table
from pipeline.ingest.corpus import CorpusPlan, file_bytes, plan_corpus
from pipeline.ingest.document import content_hash
from pipeline.ingest.readers import DEFAULT_MAX_BYTES
from pipeline.privacy import (
    Pseudonymiser,
    assign_pseudonyms,
    default_map_path,
    people_in_corpus,
    pseudonymise_codings,
    pseudonymise_document,
    pseudonymise_report,
    pseudonymiser_for,
    read_pseudonym_map,
    write_pseudonym_map,
)
from pipeline.paths import private_folder, resume_cache_path
from pipeline.progress import stage_progress
from pipeline.schema import Coding, Document, IngestError, IngestReport, Unit
from pipeline.tables import (
    CODING_COLUMNS,
    ChunkedTable,
    ParquetAppender,
    coded_units_schema,
    coded_units_table,
    documents_frame,
    documents_schema,
    object_frame,
    rows_frame,
    units_schema,
)

T = TypeVar("T")


@dataclass
class RunResult:
    """What a run produced, for the terminal summary and for tests.

    The tables are read from the run folder when asked for: the run itself
    never holds the whole corpus in memory.
    """

    out: Path
    report_lines: list[str]
    timings: dict[str, float] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)
    pseudonym_map: Path | None = None

    @property
    def n_documents(self) -> int:
        return len(ChunkedTable(self.out / "documents.parquet"))

    @property
    def n_units(self) -> int:
        return len(ChunkedTable(self.out / "units.parquet"))

    def code_counts(self) -> dict[str, int]:
        """Units per code (``uncoded`` included), read a chunk at a time."""
        return code_counts(ChunkedTable(self.out / "units.parquet"))

    @property
    def documents(self) -> pd.DataFrame:
        return pd.read_parquet(self.out / "documents.parquet")

    @property
    def units(self) -> pd.DataFrame:
        """Every unit with its coding (the run folder's ``units.parquet``)."""
        return pd.read_parquet(self.out / "units.parquet")

    @property
    def codings(self) -> pd.DataFrame:
        return pd.read_parquet(self.out / "units.parquet", columns=["unit_id", *CODING_COLUMNS])

    @property
    def evidence(self) -> pd.DataFrame:
        return pd.read_parquet(self.out / "evidence.parquet")


# --------------------------------------------------------------------------- sealed task results


def intact_codings(unit_ids: list[str]) -> Callable[[Any], list[dict[str, Any]] | None]:
    """A check that a coding result is intact and has exactly one row per unit, in unit order."""

    def check(payload: Any) -> list[dict[str, Any]] | None:
        rows = unseal(payload)
        try:
            return rows if [r["unit_id"] for r in rows] == unit_ids else None
        except (KeyError, TypeError):
            return None

    return check


def checked_result(future: PrefectFuture, check: Callable[[Any], Any], rerun: Callable[[], PrefectFuture],
                   repaired: list[str], label: str) -> Any:
    """The checked result of a task; a damaged (cached) result is recomputed once, never trusted.

    Returns the task's exception instead of raising it, so one bad file does not stop a batch.
    """
    outcome = future.result(raise_on_failure=False)
    if isinstance(outcome, Exception):
        return outcome
    data = check(outcome)
    if data is None:
        repaired.append(label)
        outcome = rerun().result(raise_on_failure=False)
        if isinstance(outcome, Exception):
            return outcome
        data = check(outcome)
        if data is None:
            raise RuntimeError(f"{label}: recomputed result fails its integrity check")
    return data


# --------------------------------------------------------------------------- tasks


#: Files one ingest task of a large corpus handles ...
MAX_BATCH = 16
#: ... or more, while together they hold fewer bytes than this ...
SMALL_BATCH_BYTES = 512 * 1024
#: ... up to this many (8,000 files of 250 bytes: 32 batches instead of 500; the run took 28 s instead of 79).
MAX_SMALL_FILES = 256


def batch_size(n_items: int, workers: int) -> int:
    """Files per task: one for small corpora (fine-grained resume), up to ``MAX_BATCH`` for large ones."""
    return max(1, min(MAX_BATCH, n_items // (4 * max(1, workers))))


def batches(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive groups of ``size`` (the last may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def file_batches(files: list[Path], size: int) -> list[list[Path]]:
    """Consecutive groups of ``size`` files; in a large corpus (``size`` of ``MAX_BATCH``) small files group further.

    A group of a large corpus closes once it has ``size`` files holding
    ``SMALL_BATCH_BYTES`` together, or ``MAX_SMALL_FILES`` files.
    """
    if size < MAX_BATCH:
        return batches(files, size)
    groups: list[list[Path]] = []
    group: list[Path] = []
    total = 0
    for path in files:
        group.append(path)
        total += file_bytes(path)
        if len(group) >= MAX_SMALL_FILES or (len(group) >= size and total >= SMALL_BATCH_BYTES):
            groups.append(group)
            group, total = [], 0
    return groups + [group] if group else groups


def _sidecar_digest(plan: CorpusPlan, path: Path) -> str:
    """A stable digest of the file's sidecar row (Python's ``hash`` differs per process)."""
    row = sorted((plan.sidecar.get(path.resolve()) or {}).items())
    return digest(row)[:12]


def ingest_key(plan: CorpusPlan, files: list[Path]) -> str:
    """The name of a batch's file in the resume cache: the files' bytes, names and sidecar rows, the code."""
    parts = [f"{content_hash(p)}-{p.name}-{_sidecar_digest(plan, p)}" for p in files]
    return f"wogcode-ingest-{digest(parts)[:32]}-{ingest_fingerprint()}"


@task(cache_policy=NO_CACHE, persist_result=False)
def ingest_task(paths: list[str], plan: CorpusPlan, max_bytes: int, target: str, refresh: bool) -> dict[str, Any]:
    """A batch of files -> its batch file ``target``, reused when it is already there and intact.

    Returns the per-file summary and whether a damaged batch file was redone.
    """
    batch_path, files = Path(target), [Path(path) for path in paths]
    written = None if refresh else head_start.take(batch_path)
    if written is not None:
        return {"files": written, "repaired": False}
    damaged = False
    if not refresh and batch_path.exists():
        summary = read_summary(batch_path)
        if summary is not None and len(summary) == len(files):
            return {"files": summary, "repaired": False}
        damaged = True
    return {"files": workers.call(write_batch, batch_path, files, plan, max_bytes), "repaired": damaged}


def _code_key(_context: Any, params: dict[str, Any]) -> str:
    return f"wogcode-code-{params['batch_key']}-{digest([params['model_id'], params['model_key']])[:32]}"


@task(cache_key_fn=_code_key, persist_result=True, result_serializer="json", cache_result_in_memory=False)
def code_task(batch_key: str, model_id: str, model_key: str, units_json: str, model: str,
              codebook: str) -> dict[str, Any]:
    """Code a batch of documents' units with the (process-cached) coder; sealed rows of Coding.

    The units come as one JSON string: Prefect walks every element of a list
    parameter looking for futures, which cost more than the coding itself.
    The lexicon coder runs in a worker process when the run has them; a
    model with an encoder stays here (its encoder already uses every core).
    """
    from pipeline.classify.registry import load_coder

    if workers.codes_in_workers(load_coder(model, codebook)):
        return workers.call(coded_records, units_json, model, codebook)
    return coded_records(units_json, model, codebook)


# --------------------------------------------------------------------------- stages


def warm_up() -> None:
    """Build the shared sentence splitter once, before many threads would each build their own.

    Not when worker processes segment: then this process never imports spaCy (~0.6 s).
    """
    if workers.active():
        return
    from pipeline.segment import sentence_splitter

    sentence_splitter()


def batch_plan(plan: CorpusPlan, paths: list[Path]) -> CorpusPlan:
    """The part of the plan a batch of files needs (the root and their sidecar rows).

    Prefect walks every task parameter; handing each task the whole plan (all
    file paths) made submitting n files cost O(n^2).
    """
    rows = {p.resolve(): plan.sidecar[p.resolve()] for p in paths if plan.sidecar.get(p.resolve())}
    return CorpusPlan(root=plan.root, sidecar=rows)


def _outcome(path: Path, entry: dict[str, Any]) -> Document | IngestError:
    """One file's summary entry as the collector takes it (its units stay in the batch file)."""
    if "error" in entry:
        return IngestError(str(path), entry["error"])
    return document_from_row(entry["document"])


def _has_internal_error(result: Any) -> bool:
    return isinstance(result, dict) and any(str(e.get("error", "")).startswith(INTERNAL_ERROR) for e in result["files"])


#: Batches in flight at once: bounds the task results held in memory, whatever the corpus size.
WINDOW = 8


def in_order(started: Iterable[T], window: int = WINDOW, cost: Callable[[T], int] | None = None,
             budget: int = 0) -> Iterator[T]:
    """The items of ``started`` in order, drawing (starting) at most ``window`` ahead of the consumer.

    With ``cost`` and ``budget``, the items in flight also cost at most
    ``budget`` together (one item always goes, whatever its cost).
    """
    pending: deque[T] = deque()
    total = 0
    for item in started:
        pending.append(item)
        total += cost(item) if cost else 0
        while len(pending) > window or (budget and total >= budget and len(pending) > 1):
            done = pending.popleft()
            total -= cost(done) if cost else 0
            yield done
    while pending:
        yield pending.popleft()


class BatchSpool:
    """The run's ingested documents: batch files and which of their documents were kept, read back in order."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.parts: list[tuple[Path, list[int]]] = []
        self.n_documents = 0

    def add(self, batch_file: Path, keep: list[int]) -> None:
        """Take the documents at positions ``keep`` of ``batch_file``."""
        self.parts.append((batch_file, keep))
        self.n_documents += len(keep)

    def batches(self, raw_units: bool = False) -> Iterator[Iterator[Document | dict[str, Any] | bytes]]:
        """Per batch, each document followed by its unit rows (no Unit objects: cheaper for the coder).

        With ``raw_units`` the rows come as their JSON lines (see :func:`read_rows`).
        """
        for batch_file, keep in self.parts:
            yield read_rows(batch_file, keep, raw_units)

    def rows(self) -> Iterator[Document | dict[str, Any]]:
        """Every document followed by its unit rows, a line at a time."""
        for batch in self.batches():
            yield from batch

    def documents(self) -> Iterator[tuple[Document, list[Unit]]]:
        """Each document with its units (a whole document in memory at a time)."""
        return group_documents(self.rows())


def group_documents(rows: Iterable[Document | dict[str, Any]]) -> Iterator[tuple[Document, list[Unit]]]:
    """A row stream (each document followed by its unit rows) as documents with their units."""
    doc: Document | None = None
    units: list[Unit] = []
    for item in rows:
        if isinstance(item, Document):
            if doc is not None:
                yield doc, units
            doc, units = item, []
        else:
            units.append(Unit(**item))
    if doc is not None:
        yield doc, units


def _cache_options(resume_cache: bool) -> dict[str, Any]:
    """Task options: the default (results kept in the resume cache), or nothing kept at all."""
    return {} if resume_cache else {"persist_result": False}


def ingest_stage(plan: CorpusPlan, max_bytes: int, repaired: list[str], spool: BatchSpool,
                 resume_cache: bool = True) -> IngestReport:
    """Read and segment every file into batch files (reused across runs); unreadable files are reported, not fatal.

    The batch files live in the resume cache, or without ``resume_cache`` in
    the spool's own (temporary) folder, so nothing outlives the run.
    """
    warm_up()
    store = Path(PREFECT_LOCAL_STORAGE_PATH.value()) if resume_cache else spool.folder
    store.mkdir(parents=True, exist_ok=True)
    collector = Collector(plan)
    groups = file_batches(list(plan.files), batch_size(len(plan.files), MAX_WORKERS))

    def submit(group: list[Path], refresh: bool = False) -> tuple[Path, PrefectFuture]:
        target = store / f"{ingest_key(plan, group)}.jsonl"
        return target, ingest_task.submit([str(p) for p in group], batch_plan(plan, group), max_bytes, str(target),
                                          refresh)

    with stage_progress("ingest", len(plan.files)) as advance:
        for group, (target, future) in in_order((group, submit(group)) for group in groups):
            result = future.result(raise_on_failure=False)
            if _has_internal_error(result):  # an unforeseen failure may be transient: never trust it cached
                fresh = submit(group, refresh=True)[1].result(raise_on_failure=False)
                result = result if isinstance(fresh, Exception) else fresh
            if isinstance(result, Exception):
                files = [{"error": internal_error(result)}] * len(group)
            else:
                files = result["files"]
                if result["repaired"]:
                    more = f" (+{len(group) - 1} files)" if len(group) > 1 else ""
                    repaired.append(f"ingest cache of {group[0].name}{more}")
            keep = [i for i, (path, entry) in enumerate(zip(group, files)) if collector.add(path, _outcome(path, entry))]
            if keep:
                spool.add(target, keep)
            advance(len(group))
    return collector.report


@dataclass
class CodedSinks:
    """Where coded batches go: the two tables on disk, the evidence accumulator, the report's facts."""

    documents: ParquetAppender
    units: ParquetAppender
    evidence: EvidenceAccumulator
    facts: ReportFacts
    aggregate_seconds: float = 0.0

    def add(self, docs: list[Document], units: pa.Table, codings: pd.DataFrame) -> None:
        """One coding job's documents, and its units (a :func:`units_schema` table) with their codings in order."""
        self.documents.append(documents_frame(docs))
        self.units.append_table(coded_units_table(units, codings))
        clock = time.perf_counter()
        if len(codings):
            frame = object_frame(units)
            evidence = evidence_units(frame, codings, self.evidence.codebook)
            self.evidence.add(evidence)
            self.facts.add(frame, codings, evidence)
        self.aggregate_seconds += time.perf_counter() - clock


#: Most bytes of documents (whole texts) buffered before they are written to the documents table.
DOCUMENT_BUFFER_BYTES = 8 * 2**20
#: Most units one coding task gets: a huge transcript is coded in pieces, so memory stays bounded.
MAX_TASK_UNITS = 10_000
#: Most units in coding tasks in flight at once (the window's ``WINDOW`` jobs of a huge transcript would hold 80,000).
MAX_UNITS_IN_FLIGHT = 4 * MAX_TASK_UNITS


def coding_jobs(rows: Iterable[Document | dict[str, Any] | bytes],
                limit: int = MAX_TASK_UNITS) -> Iterator[tuple[list[Document], list[dict[str, Any] | bytes]]]:
    """Documents, each followed by its unit rows, as coding jobs of at most ``limit`` units, in order.

    A document joins the job at hand unless that job is full, so it always
    travels with its first unit, and documents and units keep the same order.
    """
    docs: list[Document] = []
    records: list[dict[str, Any] | bytes] = []
    for item in rows:
        if len(records) == limit:
            yield docs, records
            docs, records = [], []
        if isinstance(item, Document):
            docs.append(item)
        else:
            records.append(item)
    if docs or records:
        yield docs, records


def document_rows(documents: Iterable[tuple[Document, list[Unit]]]) -> Iterator[Document | dict[str, Any]]:
    """Documents with their units as the flat row stream :func:`coding_jobs` takes."""
    for doc, units in documents:
        yield doc
        for unit in units:
            yield unit.to_row()


def code_stage(spool: BatchSpool, coder: Any, model: str, codebook: str, repaired: list[str],
               sinks: CodedSinks, pseudo: Pseudonymiser | None = None, resume_cache: bool = True) -> None:
    """Code every spooled batch (cached by the units' content and model) into ``sinks``, in document order."""
    model_key = coding_fingerprint(coder)  # a retrained model or changed lexicon never reuses old codings
    submit = lambda key, units_json, **options: code_task.with_options(**options, **_cache_options(resume_cache)).submit(
        key, coder.model_id, model_key, units_json, model, codebook)

    def start(job: tuple[list[Document], list[Any]]) -> tuple[list[Document], list[Any], str, Any]:
        docs, records = job
        first = docs[0].doc_id if docs else row_value(records[0], "doc_id")
        units_json = rows_json(records)  # rows in the batch file's fixed field order: the same units, the same key
        key = f"{first}-{len(docs)}-{hashlib.sha256(units_json.encode('utf-8', 'surrogatepass')).hexdigest()[:16]}"
        return docs, records, key, submit(key, units_json)

    def jobs() -> Iterator[tuple[list[Document], list[Any]]]:
        # jobs never span batches: a kill loses at most a batch's coding; units stay JSON lines until parsed together
        for batch in spool.batches(raw_units=pseudo is None):
            if pseudo is not None:
                batch = document_rows(pseudonymise_document(doc, units, pseudo) for doc, units in group_documents(batch))
            yield from coding_jobs(batch)

    schema = units_schema()
    garbage = GarbageBudget(MAX_UNITS_IN_FLIGHT)  # finished futures hold their results in reference cycles
    with stage_progress("code", spool.n_documents) as advance:
        started = (start(job) for job in jobs())
        for docs, records, key, future in in_order(started, cost=lambda job: len(job[1]), budget=MAX_UNITS_IN_FLIGHT):
            units = units_table(records, schema)
            rerun = lambda k=key, r=records: submit(k, rows_json(r), refresh_cache=True)
            check = intact_codings(units.column("unit_id").to_pylist())
            label = f"coding cache of {docs[0].path if docs else row_value(records[0], 'path')}"
            data = checked_result(future, check, rerun, repaired, label)
            if isinstance(data, Exception):
                raise data
            codings = rows_frame(data, list(Coding.__dataclass_fields__))
            if pseudo is not None:  # the nearest training examples come from another corpus
                codings = pseudonymise_codings(codings, pseudo)
            sinks.add(docs, units, codings)
            advance(len(docs))
            garbage.spend(len(records))


# --------------------------------------------------------------------------- the flow


#: Worker threads for the per-document tasks.  The work holds the GIL, so more threads add memory, not speed;
#: without a bound Prefect starts one thread per document (10,000 files: 10,000 threads).
MAX_WORKERS = min(8, os.cpu_count() or 1)


@flow(name="wogcode-run", task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def run_flow(corpus: str, codebook: str, out: str, model: str = "default",
             max_bytes: int = DEFAULT_MAX_BYTES, pseudonymise: bool = False,
             pseudonym_map: str | None = None, run_key: str | None = None, resume_cache: bool = True) -> RunResult:
    """Ingest a corpus, code it with ``model`` against ``codebook``, aggregate, export to ``out``.

    With ``pseudonymise`` (implied by ``pseudonym_map``) people and identifiers
    are replaced right after ingest, so every output is pseudonymised; the map
    goes to ``pseudonym_map`` (default ``OUT/private/pseudonyms.csv``), which is
    reused when it exists and is never listed among the outputs.  Finished
    batches are kept in the resume cache (owner-only; it holds corpus text)
    unless ``resume_cache`` is False, in which case a killed run starts over.
    """
    from pipeline.classify.registry import load_coder
    from pipeline.codebook import load_codebook

    book = load_codebook(codebook)
    coder = load_coder(model, codebook)  # a broken model folder fails before any work is done
    out_path = Path(out)
    out_path.mkdir(parents=True, exist_ok=True)
    for stale in out_path.glob(f"{WORK_PREFIX}*"):  # left by a run that was killed
        shutil.rmtree(stale, ignore_errors=True)
    if resume_cache and Path(PREFECT_LOCAL_STORAGE_PATH.value()) == resume_cache_path():
        private_folder(resume_cache_path())
    try:
        plan = plan_corpus(Path(corpus))
        with workers.worker_processes(workers.worker_count(plan.total_bytes(), workers.codes_in_workers(coder))):
            return _run(corpus, plan, book, coder, model, out_path, max_bytes, pseudonymise, pseudonym_map, run_key,
                        resume_cache)
    except OSError as exc:  # the spool, the tables or an output could not be written
        raise OutputError(f"{out_path}: cannot write the run folder ({output_error_reason(exc)})") from None


def _run(corpus: str, plan: CorpusPlan, book: Codebook, coder: Any, model: str, out_path: Path, max_bytes: int,
         pseudonymise: bool, pseudonym_map: str | None, run_key: str | None, resume_cache: bool) -> RunResult:
    """The body of :func:`run_flow`, in the run's working folder."""
    codebook = book.id
    timings: dict[str, float] = {}
    repaired: list[str] = []
    with tempfile.TemporaryDirectory(dir=out_path, prefix=WORK_PREFIX) as work_dir:
        work = Path(work_dir)
        clock = time.perf_counter()
        spool = BatchSpool(work)
        report = ingest_stage(plan, max_bytes, repaired, spool, resume_cache)
        pseudo, map_path = None, None
        if pseudonymise or pseudonym_map:
            map_path = Path(pseudonym_map) if pseudonym_map else default_map_path(out_path)
            pseudo = pseudonymise_spool(spool, map_path, readme=not pseudonym_map)
            report = pseudonymise_report(report, pseudo)
        # the ingest stage only collects what the head start wrote while the API server booted: the longer counts
        timings["ingest"] = max(time.perf_counter() - clock, head_start.seconds())

        clock = time.perf_counter()
        sinks = CodedSinks(ParquetAppender(work / "documents.parquet", documents_schema(), DOCUMENT_BUFFER_BYTES),
                           ParquetAppender(work / "units.parquet", coded_units_schema()),
                           EvidenceAccumulator(book), ReportFacts(book))
        code_stage(spool, coder, model, codebook, repaired, sinks, pseudo, resume_cache)
        sinks.documents.close()
        sinks.units.close()
        timings["code"] = time.perf_counter() - clock - sinks.aggregate_seconds

        clock = time.perf_counter()
        evidence = sinks.evidence.table()
        timings["aggregate"] = time.perf_counter() - clock + sinks.aggregate_seconds

        clock = time.perf_counter()
        run_info = {
            "corpus": pseudo(str(Path(corpus))) if pseudo is not None else str(Path(corpus)),
            "codebook": {"id": book.id, "version": book.version, "hash": book.content_hash},
            "model": coder.model_id,
            "pseudonymised": pseudo is not None,
            "ingest": report.to_dict(),
            "timings_s": {k: round(v, 3) for k, v in timings.items()},
        }
        if run_key:  # lets the next `wogcode run` with the same inputs see that nothing changed
            run_info["run_key"] = run_key
        tables = RunTables(ChunkedTable(sinks.documents.path), ChunkedTable(sinks.units.path))
        written = export_run_folder(out_path, tables, evidence, sinks.facts, run_info)
        timings["export"] = time.perf_counter() - clock
    report_lines = report.summary_lines()
    report_lines += [f"  repaired {label}: damaged cache entry recomputed" for label in repaired]
    return RunResult(out_path, report_lines, timings, written, map_path)


def pseudonymise_spool(spool: BatchSpool, map_path: Path, readme: bool) -> Pseudonymiser:
    """Find everyone in the spooled corpus, assign pseudonyms (keeping the map's), write the map."""
    people = assign_pseudonyms(people_in_corpus(spool.documents), read_pseudonym_map(map_path))
    write_pseudonym_map(people, map_path, readme=readme)
    return pseudonymiser_for(people)


def with_task_runner(flow_fn: Any, dask_address: str | None = None, dask_local: int = 0) -> Any:
    """The run flow on Dask (an existing cluster, or a local one with N workers), else unchanged."""
    if not dask_address and not dask_local:
        return flow_fn
    from prefect_dask import DaskTaskRunner

    if dask_address:
        runner = DaskTaskRunner(address=dask_address)
    else:
        runner = DaskTaskRunner(cluster_kwargs={"n_workers": dask_local, "threads_per_worker": 1,
                                                "processes": False, "dashboard_address": None})
    return flow_fn.with_options(task_runner=runner)
