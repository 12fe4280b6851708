"""The main job as one Prefect flow: ingest -> (pseudonymise) -> code -> aggregate -> export.

Documents go through in small batches: one ingest task and one coding task
per batch (a submitted Prefect task costs ~45 ms, so one task per file made
the orchestration cost more than the work on a corpus of short transcripts).
Both are cached by content (file hashes + sidecar rows + code/lexicon
fingerprint; the units' own content + model id), so a repeated or interrupted
run reuses every finished batch instead of starting over, and gives the same
outputs.  Small corpora get batches of one file, large ones up to
``MAX_BATCH`` files (:func:`batch_size`).

A cached result is never trusted blindly: every task result carries a sha256
of its content, checked (with the offset invariant for ingest results) when
it is read back; a damaged entry is recomputed.  A file that breaks the
reader or segmenter in an unforeseen way is reported as failed, like any
unreadable file; the run goes on.

Business logic lives in plain functions; this module only orchestrates.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.task_runners import ThreadPoolTaskRunner

from pipeline.fingerprint import coding_fingerprint, ingest_fingerprint
from pipeline.ingest.batch import IngestResult, collect, ingest_file
from pipeline.ingest.corpus import CorpusPlan, plan_corpus
from pipeline.ingest.document import content_hash
from pipeline.ingest.readers import DEFAULT_MAX_BYTES
from pipeline.progress import stage_progress
from pipeline.schema import Coding, Document, IngestError, Unit
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
    pseudonym_map: Path | None = None


# --------------------------------------------------------------------------- sealed task results


def digest(data: Any) -> str:
    """sha256 of the canonical JSON form of ``data``."""
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def seal(data: Any) -> dict[str, Any]:
    """A task result that carries its own checksum."""
    return {"data": data, "sha256": digest(data)}


def unseal(payload: Any) -> Any | None:
    """The data of an intact sealed result, else None."""
    if not isinstance(payload, dict) or set(payload) != {"data", "sha256"}:
        return None
    return payload["data"] if digest(payload["data"]) == payload["sha256"] else None


def _intact_document(data: Any) -> bool:
    """One file's ingest result: an error string, or a document whose every unit slices back from it."""
    try:
        if "error" in data:
            return isinstance(data["error"], str)
        text, doc_id = data["document"]["text"], data["document"]["doc_id"]
        return all(u["doc_id"] == doc_id and text[u["start"]:u["end"]] == u["text"] for u in data["units"])
    except (KeyError, TypeError, AttributeError):
        return False


def intact_ingest(n_files: int) -> Callable[[Any], list[dict[str, Any]] | None]:
    """A check that a batch's ingest result is intact: its checksum, one entry per file, each slicing back."""

    def check(payload: Any) -> list[dict[str, Any]] | None:
        data = unseal(payload)
        if isinstance(data, list) and len(data) == n_files and all(_intact_document(d) for d in data):
            return data
        return None

    return check


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


#: The most files (or documents) one task handles.
MAX_BATCH = 16
#: How the reason of an unforeseen failure of one file starts (such results are retried, never trusted cached).
INTERNAL_ERROR = "internal error ("


def batch_size(n_items: int, workers: int) -> int:
    """Files per task: one for small corpora (fine-grained resume), up to ``MAX_BATCH`` for large ones."""
    return max(1, min(MAX_BATCH, n_items // (4 * max(1, workers))))


def batches(items: list[Any], size: int) -> list[list[Any]]:
    """``items`` in consecutive groups of ``size`` (the last may be shorter)."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def _sidecar_digest(plan: CorpusPlan, path: Path) -> str:
    """A stable digest of the file's sidecar row (Python's ``hash`` differs per process)."""
    row = sorted((plan.sidecar.get(path.resolve()) or {}).items())
    return digest(row)[:12]


def _ingest_key(_context: Any, params: dict[str, Any]) -> str:
    files = [Path(p) for p in params["paths"]]
    parts = [f"{content_hash(p)}-{p.name}-{_sidecar_digest(params['plan'], p)}" for p in files]
    return f"wogcode-ingest-{digest(parts)[:32]}-{ingest_fingerprint()}"


def _ingest_one(path: Path, plan: CorpusPlan, max_bytes: int) -> dict[str, Any]:
    """One file -> {"document": row, "units": rows} or {"error": reason}; never raises for one bad file."""
    try:
        doc, units = ingest_file(path, plan, max_bytes)
    except IngestError as exc:
        return {"error": exc.reason}
    except Exception as exc:  # noqa: BLE001 - an unforeseen failure of one file must not stop the batch
        return {"error": f"{INTERNAL_ERROR}{type(exc).__name__}: {' '.join(str(exc).split())[:200]})"}
    return {"document": doc.to_row() | {"metadata": doc.metadata}, "units": [u.to_row() for u in units]}


@task(cache_key_fn=_ingest_key, persist_result=True, result_serializer="json")
def ingest_task(paths: list[str], plan: CorpusPlan, max_bytes: int) -> dict[str, Any]:
    """A batch of files -> sealed list of per-file results (JSON-safe, cacheable)."""
    return seal([_ingest_one(Path(path), plan, max_bytes) for path in paths])


def _as_json(records: list[dict[str, Any]]) -> str:
    return json.dumps(records, ensure_ascii=False, default=str)


def _code_key(_context: Any, params: dict[str, Any]) -> str:
    return f"wogcode-code-{params['batch_key']}-{digest([params['model_id'], params['model_key']])[:32]}"


@task(cache_key_fn=_code_key, persist_result=True, result_serializer="json")
def code_task(batch_key: str, model_id: str, model_key: str, units_json: str, model: str,
              codebook: str) -> dict[str, Any]:
    """Code a batch of documents' units with the (process-cached) coder; sealed rows of Coding.

    The units come as one JSON string: Prefect walks every element of a list
    parameter looking for futures, which cost more than the coding itself.
    """
    from pipeline.classify.base import code_units
    from pipeline.classify.registry import load_coder

    units = json.loads(units_json)
    coder = load_coder(model, codebook)
    frame = pd.DataFrame(units) if units else pd.DataFrame(columns=["unit_id", "kind", "text"])
    return seal(code_units(coder, frame).to_dict("records"))


@task(cache_policy=NO_CACHE)
def export_task(out: str, documents: pd.DataFrame, units: pd.DataFrame, codings: pd.DataFrame,
                evidence: pd.DataFrame, codebook: str, run_info: dict[str, Any]) -> list[str]:
    """Write every output of the run folder atomically."""
    from pipeline.export.run_folder import write_run_folder

    return [str(p) for p in write_run_folder(Path(out), documents, units, codings, evidence, codebook, run_info)]


# --------------------------------------------------------------------------- stages


def _document_from_row(row: dict[str, Any]) -> Document:
    fields = {k: row[k] for k in ("doc_id", "path", "kind", "fmt", "encoding", "text")}
    warnings = [w for w in row["warnings"].split("\n") if w]
    return Document(**fields, metadata=row["metadata"], warnings=warnings)


def warm_up() -> None:
    """Build the shared sentence splitter once, before many threads would each build their own."""
    from pipeline.segment import sentence_splitter

    sentence_splitter()


def batch_plan(plan: CorpusPlan, paths: list[Path]) -> CorpusPlan:
    """The part of the plan a batch of files needs (the root and their sidecar rows).

    Prefect walks every task parameter; handing each task the whole plan (all
    file paths) made submitting n files cost O(n^2).
    """
    rows = {p.resolve(): plan.sidecar[p.resolve()] for p in paths if plan.sidecar.get(p.resolve())}
    return CorpusPlan(root=plan.root, sidecar=rows)


def _outcome(path: Path, data: dict[str, Any]) -> tuple[Path, tuple[Document, list[Unit]] | IngestError]:
    if "error" in data:
        return path, IngestError(str(path), data["error"])
    return path, (_document_from_row(data["document"]), [Unit(**u) for u in data["units"]])


def _internal_error(entry: dict[str, Any]) -> bool:
    return str(entry.get("error", "")).startswith(INTERNAL_ERROR)


def _retry_once(rerun: Callable[[], PrefectFuture], n_files: int, data: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The batch recomputed (cache refreshed) when that gives an intact result, else the result at hand."""
    outcome = rerun().result(raise_on_failure=False)
    fresh = None if isinstance(outcome, Exception) else intact_ingest(n_files)(outcome)
    return fresh if fresh is not None else data


def ingest_stage(plan: CorpusPlan, max_bytes: int, repaired: list[str]) -> IngestResult:
    """Read and segment every file (cached per batch); unreadable files are reported, not fatal."""
    warm_up()
    outcomes: list[tuple[Path, tuple[Document, list[Unit]] | IngestError]] = []
    groups = batches(list(plan.files), batch_size(len(plan.files), MAX_WORKERS))
    with stage_progress("ingest", len(plan.files)) as advance:
        futures = [ingest_task.submit([str(p) for p in group], batch_plan(plan, group), max_bytes) for group in groups]
        for group, future in zip(groups, futures):
            rerun = lambda group=group: ingest_task.with_options(refresh_cache=True).submit(
                [str(p) for p in group], batch_plan(plan, group), max_bytes)
            label = f"ingest cache of {group[0].name}" + (f" (+{len(group) - 1} files)" if len(group) > 1 else "")
            data = checked_result(future, intact_ingest(len(group)), rerun, repaired, label)
            if not isinstance(data, Exception) and any(_internal_error(entry) for entry in data):
                data = _retry_once(rerun, len(group), data)  # an unforeseen failure may be transient: never trust it cached
            if isinstance(data, Exception):
                reason = f"{INTERNAL_ERROR}{type(data).__name__}: {' '.join(str(data).split())[:200]})"
                data = [{"error": reason}] * len(group)
            for path, entry in zip(group, data):
                outcomes.append(_outcome(path, entry))
                advance()
    return collect(plan, outcomes)


def code_stage(documents: list[Document], units: pd.DataFrame, coder: Any, model: str, codebook: str,
               repaired: list[str]) -> pd.DataFrame:
    """Code every document's units, a batch of documents per task (cached by the units' content and model)."""
    rows: list[dict[str, Any]] = []
    by_doc = {doc_id: part.to_dict("records") for doc_id, part in units.groupby("doc_id", sort=False)}
    model_key = coding_fingerprint(coder)  # a retrained model or changed lexicon never reuses old codings
    with stage_progress("code", len(documents)) as advance:
        jobs = []
        for group in batches(documents, batch_size(len(documents), MAX_WORKERS)):
            records = [r for doc in group for r in by_doc.get(doc.doc_id, [])]
            batch_key = f"{group[0].doc_id}-{len(group)}-{digest(records)[:16]}"
            future = code_task.submit(batch_key, coder.model_id, model_key, _as_json(records), model, codebook)
            jobs.append((group, batch_key, records, future))
        for group, batch_key, records, future in jobs:
            rerun = lambda k=batch_key, r=records: code_task.with_options(refresh_cache=True).submit(
                k, coder.model_id, model_key, _as_json(r), model, codebook)
            check = intact_codings([r["unit_id"] for r in records])
            data = checked_result(future, check, rerun, repaired, f"coding cache of {group[0].path}")
            if isinstance(data, Exception):
                raise data
            rows += data
            advance(len(group))
    return pd.DataFrame(rows, columns=list(Coding.__dataclass_fields__))


# --------------------------------------------------------------------------- the flow


#: Worker threads for the per-document tasks.  The work holds the GIL, so more threads add memory, not speed;
#: without a bound Prefect starts one thread per document (10,000 files: 10,000 threads).
MAX_WORKERS = min(8, os.cpu_count() or 1)


@flow(name="wogcode-run", task_runner=ThreadPoolTaskRunner(max_workers=MAX_WORKERS))
def run_flow(corpus: str, codebook: str, out: str, model: str = "default",
             max_bytes: int = DEFAULT_MAX_BYTES, pseudonymise: bool = False,
             pseudonym_map: str | None = None, run_key: str | None = None) -> RunResult:
    """Ingest a corpus, code it with ``model`` against ``codebook``, aggregate, export to ``out``.

    With ``pseudonymise`` (implied by ``pseudonym_map``) people and identifiers
    are replaced right after ingest, so every output is pseudonymised; the map
    goes to ``pseudonym_map`` (default ``OUT/private/pseudonyms.csv``), which is
    reused when it exists and is never listed among the outputs.
    """
    from pipeline.aggregate import evidence_table
    from pipeline.classify.registry import load_coder
    from pipeline.codebook import load_codebook
    from pipeline.privacy import default_map_path, pseudonymise_codings, pseudonymise_ingest
    from pipeline.tables import documents_frame

    timings: dict[str, float] = {}
    repaired: list[str] = []
    book = load_codebook(codebook)
    coder = load_coder(model, codebook)  # a broken model folder fails before any work is done

    clock = time.perf_counter()
    ingested = ingest_stage(plan_corpus(Path(corpus)), max_bytes, repaired)
    pseudo, map_path = None, None
    if pseudonymise or pseudonym_map:
        map_path = Path(pseudonym_map) if pseudonym_map else default_map_path(Path(out))
        ingested, pseudo = pseudonymise_ingest(ingested, map_path, readme=not pseudonym_map)
    timings["ingest"] = time.perf_counter() - clock

    clock = time.perf_counter()
    units = units_frame(ingested.units)
    codings = code_stage(ingested.documents, units, coder, model, codebook, repaired)
    if pseudo is not None:  # the nearest training examples come from another corpus
        codings = pseudonymise_codings(codings, pseudo)
    timings["code"] = time.perf_counter() - clock

    clock = time.perf_counter()
    evidence = evidence_table(units, codings, book)
    timings["aggregate"] = time.perf_counter() - clock

    clock = time.perf_counter()
    documents = documents_frame(ingested.documents)
    run_info = {
        "corpus": pseudo(str(Path(corpus))) if pseudo is not None else str(Path(corpus)),
        "codebook": {"id": book.id, "version": book.version, "hash": book.content_hash},
        "model": coder.model_id,
        "pseudonymised": pseudo is not None,
        "ingest": ingested.report.to_dict(),
        "timings_s": {k: round(v, 3) for k, v in timings.items()},
    }
    if run_key:  # lets the next `wogcode run` with the same inputs see that nothing changed
        run_info["run_key"] = run_key
    written = export_task(out, documents, units, codings, evidence, codebook, run_info)
    timings["export"] = time.perf_counter() - clock
    report_lines = ingested.report.summary_lines()
    report_lines += [f"  repaired {label}: damaged cache entry recomputed" for label in repaired]
    return RunResult(Path(out), documents, units, codings, evidence, report_lines,
                     timings, [Path(p) for p in written], map_path)


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
