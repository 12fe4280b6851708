"""Faults a long run meets: a kill mid-stage, damaged caches, an unwritable or full disk, a broken model folder.

A kill is simulated by raising :class:`SimulatedKill` (a ``BaseException``,
like ``KeyboardInterrupt``: nothing in the pipeline may swallow it) inside a
stage on its second document; the rerun must resume from the task cache and
give the same bytes as a run that was never interrupted.
"""

from __future__ import annotations

import errno
import itertools
import json
import os
import shutil
import sqlite3
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

import pipeline.flows  # noqa: F401 - sets the quiet, offline Prefect defaults before prefect is imported

SAMPLE = Path(__file__).resolve().parents[1] / "corpora" / "sample"
MODELS = Path(__file__).resolve().parents[1] / "models"
FILES = ["wawancara/padang_dpmptsp_kabid.txt", "wawancara/bengkulu_warga_pemohon.txt",
         "wawancara/malang_fgd_samsat_imigrasi.txt", "wawancara/pekanbaru_warga_pemohon.txt"]


class SimulatedKill(BaseException):
    """Stands for SIGKILL or Ctrl-C in the middle of a stage."""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    for name in FILES:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(SAMPLE / name, root / name)
    return root


def results_in(folder: Path):
    """Prefect task results (the resume cache) in ``folder`` instead of the user's storage."""
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH, temporary_settings

    return temporary_settings(updates={PREFECT_LOCAL_STORAGE_PATH: str(folder)})


def run(corpus: Path, out: Path, **options):
    from pipeline.flows.run import run_flow

    return run_flow(str(corpus), "tamtanus", str(out), "lexicon", **options)


@pytest.fixture(scope="module")
def reference(corpus: Path, tmp_path_factory) -> Path:
    """An uninterrupted run with a cache of its own."""
    out = tmp_path_factory.mktemp("reference") / "run"
    with results_in(tmp_path_factory.mktemp("reference-cache")):
        run(corpus, out)
    return out


def assert_same_outputs(expected: Path, actual: Path) -> None:
    """Every output byte-identical; the manifest too, once its timings are set aside."""
    names = sorted(p.name for p in expected.iterdir() if p.is_file())
    assert sorted(p.name for p in actual.iterdir() if p.is_file()) == names
    for name in names:
        if name == "manifest.json":
            a, b = (json.loads((folder / name).read_text(encoding="utf-8")) for folder in (expected, actual))
            a.pop("timings_s"), b.pop("timings_s")
            assert a == b
        else:
            assert (expected / name).read_bytes() == (actual / name).read_bytes(), name


class CallCounter:
    """Wrap a function: count calls (thread-safe) and optionally raise SimulatedKill on call number ``kill_at``."""

    def __init__(self, real, kill_at: int | None = None) -> None:
        self.real, self.kill_at = real, kill_at
        self.count = itertools.count(1)
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, *args, **kwargs):
        with self.lock:
            self.calls = next(self.count)
            number = self.calls
        if number == self.kill_at:
            raise SimulatedKill(f"killed on call {number}")
        return self.real(*args, **kwargs)


def patch(monkeypatch, module, name: str, kill_at: int | None = None) -> CallCounter:
    counter = CallCounter(getattr(module, name), kill_at)
    monkeypatch.setattr(module, name, counter)
    return counter


STAGES = {  # stage -> (module, function) that does that stage's work for one document
    "ingest": ("pipeline.flows.work", "open_file"),
    "code": ("pipeline.classify.base", "coding_rows"),
    "export": ("pipeline.export.qdpx", "write_qdpx_documents"),
}


@pytest.mark.parametrize("stage", STAGES)
def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(stage, corpus, reference, tmp_path, monkeypatch):
    import importlib

    import pipeline.classify.base
    import pipeline.flows.work

    module, name = STAGES[stage]
    out = tmp_path / "run"
    with results_in(tmp_path / "cache"):
        with monkeypatch.context() as patched:
            patch(patched, importlib.import_module(module), name, kill_at=2 if stage != "export" else 1)
            with pytest.raises(SimulatedKill):
                run(corpus, out)
        assert not [p for p in out.glob(".*") if p.is_file()], "a half-written temp file was left behind"
        ingests = patch(monkeypatch, pipeline.flows.work, "open_file")
        codings = patch(monkeypatch, pipeline.classify.base, "coding_rows")
        run(corpus, out)
    assert_same_outputs(reference, out)
    if stage == "ingest":
        assert ingests.calls < len(FILES)  # at least the first document came from the cache
    else:
        assert ingests.calls == 0
        assert codings.calls < len(FILES) if stage == "code" else codings.calls == 0


def damage(target: Path, how: str) -> None:
    """Truncate a cached result file, or change a word in it keeping it valid JSON (Lines)."""
    raw = target.read_text(encoding="utf-8")
    if how == "truncate":
        target.write_text(raw[: len(raw) // 2], encoding="utf-8")
    elif target.suffix == ".jsonl":  # a batch file: every line still valid, only its checksum can tell
        target.write_text(raw.replace("koordinasi", "KOORDINASI"), encoding="utf-8")
    else:  # still valid JSON of the right shape, with a changed word: only a checksum can tell
        record = json.loads(raw)
        record["result"] = record["result"].replace("koordinasi", "KOORDINASI")
        target.write_text(json.dumps(record), encoding="utf-8")


def test_damaged_cache_entries_are_recomputed_not_trusted(corpus, reference, tmp_path):
    storage = tmp_path / "cache"
    with results_in(storage):
        run(corpus, tmp_path / "first")
        for prefix in ("wogcode-ingest-", "wogcode-code-"):
            mention = [p for p in sorted(storage.glob(f"{prefix}*")) if "koordinasi" in p.read_text(encoding="utf-8")]
            damage(mention[0], "edit")
            damage(mention[1], "truncate")
        result = run(corpus, tmp_path / "second")
        again = run(corpus, tmp_path / "third")
    assert_same_outputs(reference, tmp_path / "second")
    assert "KOORDINASI" not in (tmp_path / "second" / "units.csv").read_text(encoding="utf-8")
    repaired = [line for line in result.report_lines if "repaired" in line]
    assert len(repaired) == 3  # both batch files, the edited coding (Prefect treats an unreadable file as a miss)
    assert any("ingest cache" in line for line in repaired) and any("coding cache" in line for line in repaired)
    assert not [line for line in again.report_lines if "repaired" in line]  # the entries were rewritten


def test_without_the_resume_cache_no_copy_of_the_text_is_kept(corpus, reference, tmp_path):
    storage = tmp_path / "cache"
    with results_in(storage):
        run(corpus, tmp_path / "run", resume_cache=False)
    assert not storage.exists() or not any(storage.iterdir())
    assert not list((tmp_path / "run").glob(".wogcode-work-*"))  # the run's own spool is gone too
    assert_same_outputs(reference, tmp_path / "run")


def test_the_resume_cache_is_wogcodes_own_owner_only_folder_and_can_be_cleared(corpus, tmp_path, monkeypatch):
    from prefect.settings import PREFECT_LOCAL_STORAGE_PATH

    from pipeline.paths import resume_cache_path

    if os.environ.get("PREFECT_LOCAL_STORAGE_PATH", str(resume_cache_path())) != str(resume_cache_path()):
        pytest.skip("PREFECT_LOCAL_STORAGE_PATH was set by hand")
    assert Path(PREFECT_LOCAL_STORAGE_PATH.value()) == resume_cache_path()  # not Prefect's shared ~/.prefect
    run(corpus, tmp_path / "run")
    assert resume_cache_path().stat().st_mode & 0o777 == 0o700
    assert any(resume_cache_path().glob("wogcode-ingest-*"))
    monkeypatch.setenv("WOGCODE_CACHE", str(tmp_path / "elsewhere"))  # clearing acts on the configured cache
    (tmp_path / "elsewhere" / "resume").mkdir(parents=True)
    assert cli("cache", "--clear", "resume") == 0
    assert not (tmp_path / "elsewhere" / "resume").exists()


def test_a_file_that_breaks_the_reader_is_reported_and_the_run_goes_on(corpus, tmp_path, monkeypatch):
    import pipeline.flows.work

    real = pipeline.flows.work.open_file

    def flaky(path, *args):
        if path.name == "bengkulu_warga_pemohon.txt":
            raise ValueError("[E088] Text of length 1100000 exceeds maximum of 1000000")
        return real(path, *args)

    monkeypatch.setattr(pipeline.flows.work, "open_file", flaky)
    with results_in(tmp_path / "cache"):
        result = run(corpus, tmp_path / "run")
        assert len(result.documents) == len(FILES) - 1
        assert any("failed  wawancara/bengkulu_warga_pemohon.txt: internal error (ValueError: [E088]" in line
                   for line in result.report_lines)
        monkeypatch.setattr(pipeline.flows.work, "open_file", real)  # the failure was transient
        again = run(corpus, tmp_path / "again")
    assert len(again.documents) == len(FILES)  # an internal error is never served from the cache


# --------------------------------------------------------------------------- disks and folders


def cli(*args: str) -> int:
    from pipeline.cli import main

    return main(list(args))


@pytest.fixture
def unwritable(tmp_path: Path) -> Iterator[Path]:
    """A folder nothing can be written into: read-only by mode, or (as root, who ignores modes) under /sys."""
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        (folder / "probe").write_text("x")
    except PermissionError:
        yield folder / "run"
    else:
        if not Path("/sys/kernel").is_dir():
            pytest.skip("running as root and no read-only file system to write into")
        yield Path("/sys/kernel/wogcode-run")
    finally:
        folder.chmod(0o700)


def test_an_unwritable_output_folder_is_one_line_and_exit_2_before_any_work(unwritable, corpus, capsys, monkeypatch):
    import pipeline.flows.work

    ingests = patch(monkeypatch, pipeline.flows.work, "open_file")
    assert cli("run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(unwritable)) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"wogcode: error: {unwritable}: cannot write the run folder (")
    assert error.count("\n") == 1
    assert ingests.calls == 0


def test_a_full_disk_is_one_line_and_leaves_no_half_written_file(corpus, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"

    def disk_full(self, *args, **kwargs):  # pyarrow's own error names no file
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    with results_in(tmp_path / "cache"):
        monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
        code = cli("run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(out))
    assert code == 2
    error = capsys.readouterr().err
    assert error == f"wogcode: error: {out}: cannot write the run folder (No space left on device: documents.parquet)\n"
    assert [p.name for p in out.iterdir()] == []  # the atomic write removed its temp file


def test_an_output_path_that_is_a_file_is_one_line(corpus, tmp_path, capsys):
    out = tmp_path / "run"
    out.write_text("not a folder")
    assert cli("run", str(corpus), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(out)) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"wogcode: error: {out}: cannot write the run folder") and error.count("\n") == 1


# --------------------------------------------------------------------------- model folders


@pytest.fixture(scope="module")
def model_copy(tmp_path_factory) -> Path:
    if not (MODELS / "tamtanus" / "manifest.json").is_file():
        pytest.skip("no shipped tamtanus model")
    return MODELS / "tamtanus"


@pytest.mark.parametrize("missing", ["manifest.json", "arrays.npz", "training.json"])
def test_a_model_folder_with_a_missing_file_is_refused_with_one_line(missing, model_copy, tmp_path):
    from pipeline.codebook import load_codebook
    from pipeline.model_folder import ModelFolderError
    from pipeline.persist import load_model

    folder = tmp_path / "model"
    shutil.copytree(model_copy, folder)
    (folder / missing).unlink()
    with pytest.raises(ModelFolderError) as error:
        load_model(folder, load_codebook("tamtanus"))
    message = str(error.value)
    assert message.startswith(f"{folder}: ") and f"missing file '{missing}'" in message and "\n" not in message


def test_a_truncated_model_file_is_refused_with_one_line(model_copy, tmp_path):
    from pipeline.codebook import load_codebook
    from pipeline.model_folder import ModelFolderError
    from pipeline.persist import load_model

    folder = tmp_path / "model"
    shutil.copytree(model_copy, folder)
    data = (folder / "arrays.npz").read_bytes()
    (folder / "arrays.npz").write_bytes(data[: len(data) // 3])
    with pytest.raises(ModelFolderError, match=r"'arrays.npz' is not a readable NPZ archive"):
        load_model(folder, load_codebook("tamtanus"))


def test_the_cli_refuses_a_broken_model_before_any_work(model_copy, corpus, tmp_path, capsys, monkeypatch):
    import pipeline.flows.work

    folder = tmp_path / "model"
    shutil.copytree(model_copy, folder)
    (folder / "manifest.json").unlink()
    ingests = patch(monkeypatch, pipeline.flows.work, "open_file")
    assert cli("run", str(corpus), "--codebook", "tamtanus", "--model", str(folder), "--out", str(tmp_path / "o")) == 2
    assert capsys.readouterr().err == f"wogcode: error: {folder}: missing file 'manifest.json'\n"
    assert ingests.calls == 0


# --------------------------------------------------------------------------- the embedding cache


def test_a_damaged_embedding_is_dropped_and_reported_as_a_miss(tmp_path):
    from pipeline.classify.embed_cache import EmbedCache, text_sha256

    key, dim = "encoder@test", 4
    good, bad = text_sha256("rapat koordinasi"), text_sha256("grup WhatsApp")
    with EmbedCache(tmp_path) as cache:
        cache.put_many(key, [(good, np.ones(dim)), (bad, np.full(dim, 2.0))])
    with sqlite3.connect(tmp_path / "embeddings.sqlite3") as db:  # flip one vector's bytes behind the cache's back
        db.execute("UPDATE vectors SET vector = ? WHERE text_sha256 = ?", (np.zeros(dim, "<f4").tobytes(), bad))
    with EmbedCache(tmp_path) as cache:
        found = cache.get_many(key, [good, bad], dim)
        assert list(found) == [good] and cache.dropped == 1
        assert cache.count(key) == 1  # removed, so the caller's re-encoded vector replaces it


def test_an_unreadable_embedding_cache_file_is_set_aside(tmp_path):
    from pipeline.classify.embed_cache import EmbedCache, text_sha256

    (tmp_path / "embeddings.sqlite3").write_bytes(b"this is not a database" * 100)
    with warnings.catch_warnings(record=True) as caught, EmbedCache(tmp_path) as cache:
        warnings.simplefilter("always")
        assert cache.get_many("k", [text_sha256("x")], 4) == {}
        cache.put_many("k", [(text_sha256("x"), np.ones(4))])
        assert cache.count("k") == 1
    assert any("unreadable embedding cache" in str(w.message) for w in caught)
    assert list(tmp_path.glob("embeddings.sqlite3.corrupt-*"))


# --------------------------------------------------------------------------- memory


def _status_mb(key: str) -> float:
    import re

    return int(re.search(rf"{key}:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024


def peak_rss_growth(work) -> tuple[float, object]:
    """Peak resident memory above the level before ``work()`` (Linux: resets the peak via clear_refs)."""
    before = _status_mb("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")
    result = work()
    return _status_mb("VmHWM") - before, result


TURNS = ("P: Bagaimana koordinasi antar instansi di MPP selama ini, Pak?\n\n"
         "I: Koordinasinya lumayan, ada rapat tiap bulan. Tapi datanya belum sinkron sama Dukcapil.\n\n")


def write_big_transcript(folder: Path) -> Path:
    """A 5 MB interview transcript (about 100,000 units) in ``folder``."""
    big = folder / "wawancara.txt"
    folder.mkdir()
    big.write_text("Informan: Bapak XY\nInstansi: BPN\n\n" + TURNS * (5 * 2**20 // len(TURNS)), encoding="utf-8")
    return big


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc")
def test_ingest_memory_stays_bounded(tmp_path):
    """A 5 MB transcript peaks under 25x its size; 500 small files need no more working memory than 50."""
    from pipeline.ingest.batch import ingest, units_from_text
    from pipeline.ingest.corpus import plan_corpus

    big = write_big_transcript(tmp_path / "big")
    for count in (50, 500):
        folder = tmp_path / f"small{count}"
        folder.mkdir()
        for i in range(count):
            (folder / f"w{i:04d}.txt").write_text(f"Informan: Ibu N{i}\nInstansi: BPN\n\n{TURNS}", encoding="utf-8")
    units_from_text(TURNS)  # spaCy and the lexicons are loaded before measuring

    grown, result = peak_rss_growth(lambda: ingest(plan_corpus(big.parent)))
    assert len(result.units) > 50_000
    assert grown < 25 * 5
    del result
    small_peak, _ = peak_rss_growth(lambda: ingest(plan_corpus(tmp_path / "small50")))
    large_peak, result = peak_rss_growth(lambda: ingest(plan_corpus(tmp_path / "small500")))
    assert len(result.documents) == 500
    assert large_peak < small_peak + 20  # MB: the results of 450 more files, not 450 more working sets


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc")
def test_a_huge_transcript_goes_into_its_batch_file_without_holding_its_units(tmp_path):
    """The main job's ingest streams: a 5 MB transcript (100k units) costs a few copies of its text, no more."""
    from pipeline.flows.work import write_batch
    from pipeline.ingest.batch import units_from_text
    from pipeline.ingest.batch_file import read_summary
    from pipeline.ingest.corpus import plan_corpus

    big = write_big_transcript(tmp_path / "big")
    units_from_text(TURNS)
    plan = plan_corpus(big.parent)
    grown, summary = peak_rss_growth(lambda: write_batch(tmp_path / "batch.jsonl", plan.files, plan, 10**9))
    assert summary[0]["units"] > 100_000 and read_summary(tmp_path / "batch.jsonl") == summary
    assert grown < 8 * 5  # MB: ~25 streamed; holding the units, as the in-memory ingest does, costs ~65


def test_small_corpora_get_one_file_per_task_and_large_ones_batches():
    from pipeline.flows.run import MAX_BATCH, batch_size, batches

    assert batch_size(6, 2) == 1  # a kill loses at most one file's work
    assert batch_size(200, 2) == MAX_BATCH  # ~45 ms per Prefect task would otherwise dominate
    groups = batches(list(range(35)), 16)
    assert [len(g) for g in groups] == [16, 16, 3] and sum(groups, []) == list(range(35))


def test_small_files_of_a_large_corpus_share_an_ingest_task(tmp_path):
    """Each task costs ~45 ms: 10,000 short files get ~40 tasks, ordinary transcripts stay at MAX_BATCH a task."""
    from pipeline.flows.run import MAX_BATCH, MAX_SMALL_FILES, SMALL_BATCH_BYTES, file_batches

    def files(n: int, size: int, name: str) -> list[Path]:
        made = [tmp_path / f"{name}{i:04d}.txt" for i in range(n)]
        for path in made:
            path.write_bytes(b"x" * size)
        return made

    tiny = files(600, 200, "tiny")
    groups = file_batches(tiny, MAX_BATCH)
    assert [len(g) for g in groups] == [MAX_SMALL_FILES, MAX_SMALL_FILES, 600 - 2 * MAX_SMALL_FILES]
    assert sum(groups, []) == tiny
    medium = files(100, SMALL_BATCH_BYTES // 32, "medium")  # 32 of them fill a batch
    assert [len(g) for g in file_batches(medium, MAX_BATCH)] == [32, 32, 32, 4]
    transcripts = files(40, SMALL_BATCH_BYTES // 4, "transcript")
    assert [len(g) for g in file_batches(transcripts, MAX_BATCH)] == [16, 16, 8]
    assert [len(g) for g in file_batches(tiny[:5], 1)] == [1] * 5  # a small corpus: a kill loses one file's work


def test_a_repeated_run_on_an_unchanged_corpus_is_up_to_date(corpus, tmp_path, capsys):
    work = tmp_path / "corpus"
    shutil.copytree(corpus, work)
    out = tmp_path / "run"
    args = ["run", str(work), "--codebook", "tamtanus", "--model", "lexicon", "--out", str(out)]
    with results_in(tmp_path / "cache"):
        assert cli(*args) == 0
        first = (out / "units.parquet").read_bytes()
        capsys.readouterr()
        assert cli(*args) == 0
        assert "up to date" in capsys.readouterr().out  # nothing ran: seconds instead of a run
        (out / "evidence.csv").write_text("edited by hand\n", encoding="utf-8")
        assert cli(*args) == 0
        assert "up to date" not in capsys.readouterr().out  # a changed output is rewritten
        assert (out / "evidence.csv").read_text(encoding="utf-8") != "edited by hand\n"
        with open(work / FILES[0], "a", encoding="utf-8") as handle:
            handle.write("\nI: Koordinasi sekarang rutin tiap minggu.\n")
        assert cli(*args) == 0
        assert "up to date" not in capsys.readouterr().out  # a changed corpus file runs again
    assert (out / "units.parquet").read_bytes() != first


def test_a_long_transcript_is_coded_in_pieces_that_keep_document_order():
    """Coding jobs hold at most a fixed number of units, so one huge transcript cannot exhaust memory."""
    from pipeline.flows.run import coding_jobs, document_rows
    from pipeline.ingest.batch import units_from_text

    long_doc = units_from_text("I: Koordinasi jalan. Data belum sinkron. Rapat rutin.\n" * 4, "a.txt")
    empty_doc = (units_from_text("x", "b.txt")[0], [])
    short_doc = units_from_text("I: Antrean panjang.\n", "c.txt")
    jobs = list(coding_jobs(document_rows([long_doc, empty_doc, short_doc]), limit=5))
    assert all(len(records) <= 5 for _, records in jobs)
    units = [r["unit_id"] for _, records in jobs for r in records]
    assert units == [u.unit_id for u in long_doc[1] + short_doc[1]]
    docs = [d.path for docs, _ in jobs for d in docs]
    assert docs == ["a.txt", "b.txt", "c.txt"]  # each document once, in order, with its first unit's job
    firsts = {units[0].doc_id: units[0].unit_id for _, units in (long_doc, short_doc)}
    for docs_of_job, records in jobs:
        ids = {r["unit_id"] for r in records}
        assert all(d.doc_id not in firsts or firsts[d.doc_id] in ids for d in docs_of_job)


def test_jobs_in_flight_are_bounded_by_count_and_by_units():
    """A huge transcript's coding jobs are not all started at once: memory holds only a few in flight."""
    from pipeline.flows.run import in_order

    started: list[int] = []

    def start(sizes):
        for number, size in enumerate(sizes):
            started.append(number)
            yield number, size

    in_flight = []
    for number, _ in in_order(start([5_000] * 12), window=8, cost=lambda job: job[1], budget=20_000):
        in_flight.append(len(started) - number)  # started and not yet consumed, this one included
    assert max(in_flight) <= 4
    assert [n for n, _ in in_order(start([1] * 20), window=8)] == list(range(20))  # order kept
    started.clear()
    in_flight = [len(started) - n for n, _ in in_order(start([1] * 20), window=8)]
    assert max(in_flight) == 9  # the window (8 ahead) plus the one at hand
