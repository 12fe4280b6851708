"""Worker processes for the CPU-bound work of a large lexicon run: reading files, coding, workbook, REFI-QDA.

That work is pure Python and holds the GIL, so the flow's threads share one
core.  On a large corpus coded with the lexicon model the run hands it to
processes instead, forked from a forkserver that imported the pipeline once,
so a worker starts in milliseconds.  Prefect still orchestrates: its tasks
run in the flow's threads and each one waits for its worker; caching,
retries and resume are unchanged, and so is every output byte.

Small corpora, one-core machines, models with an encoder (it already uses
every core) and ``WOGCODE_WORKERS=0`` run everything in-process, as before.
A worker that dies (killed, out of memory) does not stop the run: its work,
and the rest of the run's, is done in-process instead.  Workers end with the
run's process, even when it is killed.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from typing import Any, TypeVar

from pipeline.gc_tuning import tune_gc

R = TypeVar("R")

#: Corpora smaller than this run in-process: starting the workers costs more than they would save.
MIN_CORPUS_BYTES = 1 << 20
#: Modules the forkserver imports once, so that every worker forked from it has them (not Prefect: 1.3 s less).
PRELOAD = ["pipeline.flows.work", "pipeline.classify.lexicon", "pipeline.classify.registry", "pipeline.segment",
           "pipeline.export.run_folder", "pipeline.export.workbook", "pipeline.export.qdpx"]
#: Environment variable that sets the number of worker processes (0: everything in-process).
WORKERS_ENV = "WOGCODE_WORKERS"

_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def codes_in_workers(coder: Any) -> bool:
    """Whether ``coder`` codes in worker processes: the lexicon coder does; a model with an encoder stays put."""
    from pipeline.classify.lexicon import LexiconCoder

    return isinstance(coder, LexiconCoder)


def worker_count(corpus_bytes: int, lexicon_only: bool) -> int:
    """How many worker processes a run over ``corpus_bytes`` of files gets: one per core, or 0 (none).

    None for a small corpus, on one core, or for a model with an encoder: the
    encoder already uses every core, and each worker would add ~300 MB to its
    ~1.6 GB.  ``WOGCODE_WORKERS`` overrides the choice (0: everything in-process).
    """
    setting = os.environ.get(WORKERS_ENV, "").strip()
    if setting:
        return max(0, int(setting))
    cores = os.cpu_count() or 1
    return cores if lexicon_only and cores > 1 and corpus_bytes >= MIN_CORPUS_BYTES else 0


def prestart(count: int) -> None:
    """Start the forkserver (it imports the pipeline on another core) if a run will have ``count`` workers."""
    if count > 0:
        multiprocessing.set_forkserver_preload(PRELOAD)
        forkserver.ensure_running()


def _prepare(environment: dict[str, str], cwd: str, run: Connection) -> None:
    """In each new worker: the run's environment and working folder (the forkserver's may be older).

    The worker ends when the run's process does, even when it was killed:
    ``run`` reaches end of file once no process holds its other end.
    """
    os.environ.update(environment)
    os.chdir(cwd)
    tune_gc()
    threading.Thread(target=_end_with, args=(run,), daemon=True).start()


def _end_with(run: Connection) -> None:
    try:
        run.recv()
    except (EOFError, OSError):
        pass
    os._exit(1)


@contextmanager
def worker_processes(count: int) -> Iterator[None]:
    """Within this block, :func:`call` runs work in ``count`` worker processes (none: in-process).

    Inside a block that already has them (the command starts them before the flow), it uses those.
    """
    global _pool
    if count <= 0 or _pool is not None:
        yield
        return
    prestart(count)
    context = multiprocessing.get_context("forkserver")
    environment = {k: v for k, v in os.environ.items() if k.startswith(("WOGCODE_", "PREFECT_"))}
    lifeline, held = context.Pipe(duplex=False)
    pool = ProcessPoolExecutor(count, mp_context=context, initializer=_prepare,
                               initargs=(environment, os.getcwd(), lifeline))
    with _lock:
        _pool = pool
    try:
        yield
    finally:
        with _lock:
            _pool = None
        pool.shutdown(wait=True, cancel_futures=True)
        held.close()
        lifeline.close()


def active() -> bool:
    """Whether worker processes are running work for the current run."""
    return _pool is not None


def call(function: Callable[..., R], *args: Any) -> R:
    """``function(*args)`` in a worker process when a run has them, else here.

    ``function`` and its arguments must be picklable (module-level functions,
    plain data).  If the pool broke (a worker died), the work is done here.
    """
    global _pool
    pool = _pool
    if pool is None:
        return function(*args)
    try:
        return pool.submit(function, *args).result()
    except BrokenProcessPool:
        with _lock:
            if _pool is pool:
                _pool = None
        return function(*args)


def submit(function: Callable[..., R], *args: Any) -> Future[R] | None:
    """Start ``function(*args)`` in a worker process and return its future; None when the run has no workers."""
    pool = _pool
    if pool is None:
        return None
    try:
        return pool.submit(function, *args)
    except BrokenProcessPool:
        return None


def background(function: Callable[..., R], *args: Any) -> Callable[[], R]:
    """Start ``function(*args)`` in a worker process (done here at once without one); returns a wait for its result."""
    pool = _pool
    if pool is None:
        result = function(*args)
        return lambda: result
    future = pool.submit(function, *args)

    def wait() -> R:
        try:
            return future.result()
        except BrokenProcessPool:
            return function(*args)

    return wait
