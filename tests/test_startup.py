"""Start-up and exit of the command line: what makes a run start and end quickly, still correct."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


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
        import torch  # the torch encoder backend and training still get it
        print(torch.tensor([1, 2]).sum().item())
        """, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "3"


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
    done = run_python("""
        import os
        os.environ.pop("PREFECT_API_URL", None)
        from pipeline.flows.api_server import start_api_server_early
        wait = start_api_server_early()
        wait()
        from prefect import flow
        from prefect.server.api.server import SubprocessASGIServer
        server = SubprocessASGIServer()
        assert server.running and server.server_process.poll() is None
        pid = server.server_process.pid

        @flow
        def tiny() -> int:
            return 41 + 1

        assert tiny() == 42
        servers = list(SubprocessASGIServer._instances.values())
        assert [s.server_process.pid for s in servers] == [pid], "the flow started a second API server"
        print("ok")
        """, tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().endswith("ok")
