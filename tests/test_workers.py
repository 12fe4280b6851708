"""Worker processes: a large run's CPU-bound work in processes gives the same bytes, and a dead worker is survived."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

import pipeline.flows  # noqa: F401 - sets the quiet, offline Prefect defaults before prefect is imported
from pipeline import workers

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample"


def _pid_and(value: int) -> tuple[int, int]:
    return os.getpid(), value * 2


def _die_in_a_worker(parent: int) -> str:
    """Kills the worker process that runs it (as the OOM killer would); in the parent it just answers."""
    if os.getpid() != parent:
        os._exit(1)
    return "done here"


def test_small_corpora_one_core_and_encoder_models_run_in_process(tmp_path, monkeypatch):
    monkeypatch.delenv(workers.WORKERS_ENV, raising=False)
    from pipeline.ingest.corpus import plan_corpus

    (tmp_path / "a.txt").write_bytes(b"x" * 1000)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert workers.worker_count(plan_corpus(tmp_path).total_bytes(), lexicon_only=True) == 0
    (tmp_path / "b.txt").write_bytes(b"x" * workers.MIN_CORPUS_BYTES)
    large = plan_corpus(tmp_path).total_bytes()
    assert workers.worker_count(large, lexicon_only=True) == 2
    assert workers.worker_count(large, lexicon_only=False) == 0  # an encoder already uses both cores
    assert workers.worker_count(plan_corpus(tmp_path / "a.txt").total_bytes(), lexicon_only=True) == 0  # one file
    monkeypatch.setattr(os, "cpu_count", lambda: 1)
    assert workers.worker_count(large, lexicon_only=True) == 0
    monkeypatch.setenv(workers.WORKERS_ENV, "3")
    assert workers.worker_count(large, lexicon_only=False) == 3


def test_call_runs_in_a_worker_process_only_inside_the_block():
    assert workers.call(_pid_and, 2) == (os.getpid(), 4)
    with workers.worker_processes(1):
        assert workers.active()
        pid, value = workers.call(_pid_and, 3)
        wait = workers.background(_pid_and, 5)
        assert pid != os.getpid() and value == 6
        assert wait()[1] == 10
    assert not workers.active()


def test_a_dead_worker_does_not_stop_the_run():
    with workers.worker_processes(1):
        assert workers.call(_die_in_a_worker, os.getpid()) == "done here"
        assert not workers.active()  # the rest of the run is done in-process
        assert workers.call(_pid_and, 1) == (os.getpid(), 2)


def _run_folder(corpus: Path, out: Path, model: str, monkeypatch, count: str) -> dict[str, bytes]:
    """The run folder's files (the manifest without its timings) of a run with ``count`` worker processes."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    from pipeline.flows.run import run_flow

    monkeypatch.setenv(workers.WORKERS_ENV, count)
    with temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: str(out.parent / f"cache-{count}")}):
        run_flow(str(corpus), "perry6", str(out), model, resume_cache=False)
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    manifest = json.loads(files.pop("manifest.json"))
    manifest.pop("timings_s")
    files["manifest.json"] = json.dumps(manifest).encode()
    return files


@pytest.mark.parametrize("model", ["lexicon", "default"])
def test_a_run_in_worker_processes_gives_the_same_bytes(tmp_path, monkeypatch, model):
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    in_process = _run_folder(corpus, tmp_path / "threads", model, monkeypatch, "0")
    sent: list[str] = []  # what was handed to the worker processes
    call, background = workers.call, workers.background

    def spy(real):
        def handed(function, *args):
            if workers.active():
                sent.append(function.__name__)
            return real(function, *args)
        return handed

    monkeypatch.setattr(workers, "call", spy(call))
    monkeypatch.setattr(workers, "background", spy(background))
    in_workers = _run_folder(corpus, tmp_path / "workers", model, monkeypatch, "2")
    expected = {"write_batch", "write_workbook", "write_project"} | ({"coded_records"} if model == "lexicon" else set())
    assert set(sent) == expected
    assert sorted(in_process) == sorted(in_workers)
    for name, data in in_process.items():
        assert in_workers[name] == data, name


def _head_started_run(corpus: Path, out: Path, monkeypatch) -> tuple[dict[str, bytes], list[bool]]:
    """A run whose batches the head start wrote, as the command does it; and per batch whether the stage took one."""
    from pipeline.flows import head_start
    from pipeline.ingest.corpus import plan_corpus
    from pipeline.ingest.readers import DEFAULT_MAX_BYTES

    taken: list[bool] = []
    take = head_start.take
    monkeypatch.setattr(head_start, "take", lambda target: _note(taken, take(target)))
    monkeypatch.setenv(workers.WORKERS_ENV, "2")
    with workers.worker_processes(2), head_start.head_start(plan_corpus(corpus), DEFAULT_MAX_BYTES, out, None):
        assert [p.name for p in out.iterdir()][0].startswith(head_start.HEAD_START_PREFIX)
        files = _run_folder(corpus, out, "lexicon", monkeypatch, "2")
    assert not any(p.name.startswith(head_start.HEAD_START_PREFIX) for p in out.iterdir())
    return files, taken


def _note(taken: list[bool], summary):
    taken.append(summary is not None)
    return summary


def test_the_ingest_stage_takes_the_batches_the_head_start_wrote(tmp_path, monkeypatch):
    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    expected = _run_folder(corpus, tmp_path / "plain", "lexicon", monkeypatch, "0")
    files, taken = _head_started_run(corpus, tmp_path / "head", monkeypatch)
    assert taken and all(taken)  # every batch came from the head start
    assert files == expected


def test_a_head_start_batch_that_failed_is_read_again_by_the_ingest_task(tmp_path, monkeypatch):
    from concurrent.futures import Future

    corpus = tmp_path / "corpus"
    shutil.copytree(SAMPLE, corpus)
    expected = _run_folder(corpus, tmp_path / "plain", "lexicon", monkeypatch, "0")

    def dead_worker(function, *args):
        future: Future = Future()
        future.set_exception(OSError("worker died"))
        return future

    monkeypatch.setattr(workers, "submit", dead_worker)
    files, taken = _head_started_run(corpus, tmp_path / "head", monkeypatch)
    assert taken and not any(taken)
    assert files == expected
