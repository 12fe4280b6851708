"""Start-up and exit of the command line: what makes a run start and end quickly, still correct."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest


def run_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)


def test_the_segmenter_imports_spacy_without_torch_and_torch_stays_importable(tmp_path: Path) -> None:
    done = run_python("""
        import sys
        import pipeline.segment
        from pipeline.ingest.batch import units_from_text
        assert "torch" not in sys.modules, "spaCy pulled in torch"
        _, units = units_from_text("P: Apa?\\nI: Sudah rutin. Datanya terintegrasi.\\n", "a.txt")
        assert [u.text for u in units] == ["Apa?", "Sudah rutin.", "Datanya terintegrasi."]
        assert "spacy.cli" not in sys.modules, "spaCy imported its command line"
        import spacy, spacy.cli
        assert spacy.info()["spacy_version"] == spacy.__version__ and spacy.cli.info is not spacy.info
        import torch  # the torch encoder backend and training still get it
        print(torch.tensor([1, 2]).sum().item())
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


def test_lexicon_coding_imports_no_scikit_learn_matplotlib_or_document_readers(tmp_path: Path) -> None:
    """What a lexicon run's processes import (~1.4 s less each); those libraries load when they are used."""
    done = run_python("""
        import importlib, json, sys
        from pipeline.workers import PRELOAD
        for name in PRELOAD:
            importlib.import_module(name)
        from pipeline.flows.work import coded_records
        from pipeline.ingest.batch import units_from_text
        _, units = units_from_text("P: Bagaimana?\\nI: Rapat koordinasi rutin, tapi data belum terintegrasi.\\n", "a.txt")
        result = coded_records(json.dumps([u.to_row() for u in units]), "lexicon", "perry6")
        assert {row["code"] for row in result["data"]} >= {"koordinasi"}, result
        heavy = sorted({"sklearn", "scipy", "matplotlib", "docx", "pypdf"} & set(sys.modules))
        assert not heavy, heavy
        """, tmp_path)
    assert done.returncode == 0, done.stderr


def test_the_console_script_flushes_output_runs_exit_handlers_and_keeps_the_exit_status(tmp_path: Path) -> None:
    script = """
        import atexit, sys
        from pathlib import Path
        from pipeline.cli import entry
        atexit.register(lambda: Path("handler-ran").write_text("yes"))
        sys.argv = ["wogcode", "codebook", {args}]
        entry()
        raise AssertionError("entry() returned instead of exiting")
        """
    listed = run_python(script.format(args='"list"'), tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "perry6" in listed.stdout and "tamtanus" in listed.stdout
    assert (tmp_path / "handler-ran").read_text() == "yes"

    (tmp_path / "handler-ran").unlink()
    failed = run_python(script.format(args='"show", "no-such-codebook"'), tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.startswith("wogcode: error:") and "no-such-codebook" in failed.stderr
    assert (tmp_path / "handler-ran").read_text() == "yes"


def test_the_api_server_started_early_is_the_one_the_flow_uses(tmp_path: Path) -> None:
    """`wogcode run` starts Prefect's API server first thing; the flow uses it and starts no server of its own."""
    done = run_python("""
        import os, sys
        os.environ.pop("PREFECT_API_URL", None)
        from pipeline.flows.api_server import api_server, launch
        server = launch()
        assert server is not None and server.process.poll() is None
        from prefect import flow, get_client

        @flow
        def tiny() -> int:
            return 41 + 1

        with api_server(server):
            from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY
            assert PREFECT_FLOWS_HEARTBEAT_FREQUENCY.value() is None  # no one watches a server that ends with the run
            assert tiny() == 42
            with get_client(sync_client=True) as client:
                assert str(client.api_url).startswith(server.api_url)
                assert client.read_flows(), "the flow run is not on the early server"
        assert "prefect.server.api.server" not in sys.modules, "the flow started Prefect's own server"
        server.stop()
        assert server.process is None
        print("ok")
        """, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_cached_task_results_are_reused_on_the_early_server_that_records_no_task_runs(tmp_path: Path) -> None:
    """The early server keeps no task-run records; resume (cached, persisted task results) works all the same."""
    done = run_python("""
        import os
        os.environ.pop("PREFECT_API_URL", None)
        os.environ["PREFECT_LOCAL_STORAGE_PATH"] = os.path.abspath("results")
        from pipeline.flows.api_server import api_server, launch
        from prefect import flow, task

        calls = []

        @task(cache_key_fn=lambda _context, params: f"double-{params['x']}", persist_result=True,
              result_serializer="json")
        def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        @flow
        def doubles(xs: list[int]) -> list[int]:
            return [future.result() for future in [double.submit(x) for x in xs]]

        server = launch()
        with api_server(server):
            assert doubles([1, 2, 3]) == [2, 4, 6] and sorted(calls) == [1, 2, 3]
            assert doubles([1, 2, 3, 4]) == [2, 4, 6, 8] and sorted(calls) == [1, 2, 3, 4]
        print("ok")
        """, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_a_run_goes_on_with_prefects_own_server_when_the_early_one_is_gone(tmp_path: Path) -> None:
    done = run_python("""
        import os, sys
        os.environ.pop("PREFECT_API_URL", None)
        from pipeline.flows.api_server import api_server, launch
        server = launch()
        server.process.kill()  # e.g. its port was taken, or uvicorn failed
        from prefect import flow

        @flow
        def tiny() -> int:
            return 41 + 1

        with api_server(server):
            assert tiny() == 42
        assert "prefect.server.api.server" in sys.modules  # Prefect started its temporary server itself
        print("ok")
        """, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")


def test_the_early_server_and_the_worker_processes_end_when_the_run_is_killed(tmp_path: Path) -> None:
    """A run killed with SIGKILL (no exit handlers run) leaves no API server or worker process behind (Linux)."""
    if sys.platform != "linux":
        return
    (tmp_path / "run.py").write_text(textwrap.dedent("""
        import os, time
        from pipeline import workers
        from pipeline.flows.api_server import launch

        if __name__ == "__main__":
            os.environ.pop("PREFECT_API_URL", None)
            server = launch()
            with workers.worker_processes(2):
                first = workers.background(os.getpid)
                print(server.process.pid, first(), workers.call(os.getpid), flush=True)
                time.sleep(600)
        """))
    child = subprocess.Popen([sys.executable, str(tmp_path / "run.py")], stdout=subprocess.PIPE, text=True,
                             cwd=tmp_path)
    pids = [int(p) for p in child.stdout.readline().split()]
    assert len(pids) == 3 and child.pid not in pids, pids
    child.kill()
    child.wait()
    deadline = time.monotonic() + 30
    alive = pids
    while alive and time.monotonic() < deadline:
        time.sleep(0.2)
        alive = [p for p in pids if _running(p)]
    assert not alive, f"still running after the run was killed: {alive}"


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (not gone, not a zombie)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_a_command_builds_only_its_own_parser_and_run_starts_without_pandas(tmp_path: Path) -> None:
    done = run_python("""
        import sys
        from pipeline.cli import build_parser
        args = build_parser("run").parse_args(["run", "corpus", "--codebook", "perry6", "--out", "out"])
        assert args.command == "run" and args.model == "default"
        assert "pandas" not in sys.modules, "the run command's parser imported pandas"
        everything = build_parser(None)._subparsers._group_actions[0].choices
        assert {"run", "code", "review", "train", "evaluate", "codebook", "ingest", "cache"} <= set(everything)
        print("ok")
        """, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


@pytest.mark.parametrize("model", ["default", "lexicon"])
def test_an_up_to_date_run_loads_no_model(tmp_path: Path, model: str) -> None:
    """Saying 'up to date' reads the model folder's files; loading the model would take ~2 s more."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("P: Bagaimana koordinasinya?\nI: Rapat koordinasi rutin tiap bulan.\n")
    command = ["run", "corpus", "--codebook", "perry6", "--model", model, "--out", "out"]
    first = run_python(f"from pipeline.cli import main; raise SystemExit(main({command!r}))", tmp_path)
    assert first.returncode == 0, first.stderr[-2000:]
    done = run_python(f"""
        import sys
        from pipeline.cli import main
        assert main({command!r}) == 0
        heavy = {{"sklearn", "pandas", "spacy", "pipeline.persist", "pipeline.classify.lexicon", "onnxruntime"}}
        loaded = sorted(heavy & set(sys.modules))
        assert not loaded, loaded
        """, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "up to date" in done.stdout
