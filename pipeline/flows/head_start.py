"""The ingest's head start: worker processes read the corpus while Prefect's API server still boots.

After its own imports a ``wogcode run`` waits ~1-1.5 s for the server to
answer and for Prefect to create the flow run; with worker processes (a
large lexicon run) a core sits idle meanwhile.  :func:`start` hands every
ingest batch of the corpus to the workers at once, in the order the ingest
stage will ask for them.  Each ingest task then takes its batch's result
(:func:`take`) instead of reading the files again: the same function writes
the same batch file, so every output is the same.

The batch files go where the ingest stage keeps them (the resume cache), or
without the resume cache to a folder of their own inside the run folder
(the run's working folder does not exist yet), from where :func:`take`
moves each into the run's working folder.
"""

from __future__ import annotations

import os
import shutil
import tempfile
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

#: Batch file name -> (where the head start writes it, the worker's future).
_pending: dict[str, tuple[Path, Future[list[dict[str, Any]]]]] = {}


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
        if own is not None:
            shutil.rmtree(own, ignore_errors=True)


def _start(plan: CorpusPlan, max_bytes: int, folder: Path) -> None:
    """Submit every batch of the corpus whose file is not there yet, in the ingest stage's order."""
    from pipeline.flows.run import MAX_WORKERS, batch_plan, batch_size, file_batches, ingest_key

    folder.mkdir(parents=True, exist_ok=True)
    for group in file_batches(list(plan.files), batch_size(len(plan.files), MAX_WORKERS)):
        name = f"{ingest_key(plan, group)}.jsonl"
        target = folder / name
        if target.exists():  # in the resume cache already: the ingest task checks it
            continue
        future = workers.submit(write_batch, target, group, batch_plan(plan, group), max_bytes)
        if future is None:
            return
        _pending[name] = (target, future)


def take(target: Path) -> list[dict[str, Any]] | None:
    """The summary of the head start's batch file for ``target``, now at ``target``; None if it has none.

    Waits for the worker.  None also when the worker failed: the ingest task then does the work itself.
    """
    entry = _pending.pop(target.name, None)
    if entry is None:
        return None
    written, future = entry
    try:
        summary = future.result()
        if written != target:
            os.replace(written, target)
    except Exception:  # noqa: BLE001 - a dead worker, a lost file: the ingest task redoes the batch
        return None
    return summary
