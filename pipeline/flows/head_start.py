"""The ingest's head start: worker processes read the corpus while Prefect's API server still boots.

After its own imports a ``wogcode run`` waits ~1-1.5 s for the server to
answer and for Prefect to create the flow run; with worker processes (a
large lexicon run) a core sits idle meanwhile.  :func:`head_start` hands
the corpus's first ingest batches to the workers at once, in the order the
ingest stage will ask for them.  Each ingest task then takes its batch's
result (:func:`take`) instead of reading the files again: the same function
writes the same batch file, so every output is the same.

The batch files go where the ingest stage keeps them (the resume cache), or
without the resume cache to a folder of their own inside the run folder
(the run's working folder does not exist yet), from where :func:`take`
moves each into the run's working folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline import workers
from pipeline.flows.work import write_batch
from pipeline.ingest.corpus import CorpusPlan

#: Prefix of the head start's own folder inside the run folder (not the working folder's: the flow removes those).
HEAD_START_PREFIX = ".wogcode-head-start-"
#: Most batches handed over ahead: ~2 s of the workers' time on 1,000 transcripts, more than the server's boot
#: leaves idle.  The ingest stage hands over the rest as usual, so the summaries held stay bounded.
HEAD_START_BATCHES = 32

#: Batch file name -> (where the head start writes it, the worker's future: when it began, the batch's summary).
_pending: dict[str, tuple[Path, Future[tuple[float, list[dict[str, Any]]]]]] = {}
#: When the workers began and finished writing the running head start's batches (``time.perf_counter``: the
#: system's monotonic clock, the same in every process).
_began: list[float] = []
_finished: list[float] = []


@contextmanager
def head_start(plan: CorpusPlan, max_bytes: int, out: Path, store: Path | None,
               enabled: bool = True) -> Iterator[None]:
    """Within the block, the corpus's batches are being written by the workers (if the run has any).

    ``store``: the resume cache's folder, or None when the run keeps none.
    Whatever the ingest stage did not take is dropped at the end.
    """
    own: Path | None = None
    try:
        if enabled and workers.active():
            for stale in out.glob(f"{HEAD_START_PREFIX}*"):  # left by a run that was killed
                shutil.rmtree(stale, ignore_errors=True)
            if store is None:
                out.mkdir(parents=True, exist_ok=True)
                own = Path(tempfile.mkdtemp(prefix=HEAD_START_PREFIX, dir=out))
            _start(plan, max_bytes, store or own)
    except OSError:  # the run folder cannot be written: the flow says so in one line, without a head start
        pass
    try:
        yield
    finally:
        for _, future in _pending.values():  # not taken (the flow failed first): nothing may still write
            if not future.cancel():
                wait([future])
        _pending.clear()
        _began.clear()
        _finished.clear()
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


def _start(plan: CorpusPlan, max_bytes: int, folder: Path) -> None:
    """Submit the corpus's first batches whose file is not there yet, in the ingest stage's order."""
    from pipeline.flows.run import MAX_WORKERS, batch_plan, batch_size, file_batches, ingest_key

    folder.mkdir(parents=True, exist_ok=True)
    groups = file_batches(list(plan.files), batch_size(len(plan.files), MAX_WORKERS))
    for group in groups[:HEAD_START_BATCHES]:
        name = f"{ingest_key(plan, group)}.jsonl"
        target = folder / name
        if target.exists():  # in the resume cache already: the ingest task checks it
            continue
        future = workers.submit(_timed_write_batch, target, group, batch_plan(plan, group), max_bytes)
        if future is None:
            return
        future.add_done_callback(lambda _: _finished.append(time.perf_counter()))
        _pending[name] = (target, future)


def _timed_write_batch(target: Path, files: list[Path], plan: CorpusPlan,
                       max_bytes: int) -> tuple[float, list[dict[str, Any]]]:
    """:func:`write_batch`, and when it began."""
    began = time.perf_counter()
    return began, write_batch(target, files, plan, max_bytes)


def seconds() -> float:
    """How long the workers took for the batches taken so far: from the first begun to the last written (0: none)."""
    return max(_finished) - min(_began) if _began and _finished else 0.0


def take(target: Path) -> list[dict[str, Any]] | None:
    """The summary of the head start's batch file for ``target``, now at ``target``; None if it has none.

    Waits for the worker.  None also when the worker failed: the ingest task then does the work itself.
    """
    entry = _pending.pop(target.name, None)
    if entry is None:
        return None
    written, future = entry
    try:
        began, summary = future.result()
        _began.append(began)
        if written != target:
            os.replace(written, target)
    except Exception:  # noqa: BLE001 - a dead worker, a lost file: the ingest task redoes the batch
        return None
    return summary
