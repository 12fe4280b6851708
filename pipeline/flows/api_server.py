"""Start Prefect's temporary API server first thing, so its boot overlaps the run's own start.

With no API configured, a process's first flow imports Prefect's server
module (~2.3 s) only to start that server in a subprocess, then waits for it
to answer (~3.5 s): ~6 s on the critical path of every ``wogcode run``.
:func:`launch` starts the same subprocess at once (the command Prefect runs:
uvicorn serving ``prefect.server.api.server:create_app``, with Prefect's
environment for a temporary server), so it boots on the other core while
this process checks its inputs and imports the pipeline.  :func:`api_server`
then points the flow at it through ``PREFECT_API_URL``.

Prefect's own path stays the fallback: if the early server does not answer,
the flow starts Prefect's temporary server as before, and a server the user
configured (``PREFECT_API_URL`` in the environment or the Prefect profile) is
always the one used.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import closing, contextmanager

from pipeline.gc_tuning import GC_THRESHOLDS

#: What Prefect sets for its temporary server (``SubprocessASGIServer``): no UI, ephemeral mode.  And what no one
#: would read from a server that ends with the run is not kept: task-run records (the run takes its tasks' results
#: from its own futures and result files), the event history, automations, and block types (registering them
#: imports every installed Prefect collection, prefect-dask with dask.distributed among them).  On 1,000
#: transcripts the server then spends 3.7 s of CPU instead of 5.9, most of the difference while the run codes.
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1",
              "PREFECT_SERVER_SERVICES_TASK_RUN_RECORDER_ENABLED": "false",
              "PREFECT_SERVER_SERVICES_EVENT_PERSISTER_ENABLED": "false",
              "PREFECT_SERVER_SERVICES_TRIGGERS_ENABLED": "false",
              "PREFECT_API_BLOCKS_REGISTER_ON_START": "false",
              "PREFECT_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false"}
#: The server process: uvicorn's command line, after collecting garbage less often during Prefect's imports
#: (pipeline/gc_tuning.py; it then boots in ~2.8 s instead of ~3.3-4 s).
SERVER_MAIN = ("import gc, sys; gc.set_threshold(*{thresholds}); from uvicorn.main import main; sys.exit(main())"
               .format(thresholds=GC_THRESHOLDS))
#: prctl option: the signal a process gets when its parent ends (linux/prctl.h).
PR_SET_PDEATHSIG = 1
#: Seconds to wait for the early server to answer before leaving the start to Prefect.
READY_TIMEOUT_S = 60.0


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _end_with_parent() -> None:
    """In the server's process (Linux): be sent SIGTERM when the run's process ends, even when it is killed."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class EarlyServer:
    """Prefect's temporary API server, started as a subprocess before anything imports Prefect."""

    def __init__(self) -> None:
        self.port = _free_port()
        command = [sys.executable, "-c", SERVER_MAIN, "--factory", "prefect.server.api.server:create_app",
                   "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on"]
        self.process: subprocess.Popen[bytes] | None = subprocess.Popen(
            command, env={**os.environ, **SERVER_ENV}, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, preexec_fn=_end_with_parent if sys.platform == "linux" else None)
        atexit.register(self.stop)

    @property
    def api_url(self) -> str:
        """The server's API address, for ``PREFECT_API_URL``."""
        return f"http://127.0.0.1:{self.port}/api"

    def ready(self, timeout: float = READY_TIMEOUT_S) -> bool:
        """Wait until the server answers its health check; False if it exits or does not answer in time."""
        deadline = time.monotonic() + timeout
        while self.process is not None and self.process.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:  # not listening yet
                pass
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """End the server process (at exit, or when it is not used)."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def launch() -> EarlyServer | None:
    """Start the early server unless ``PREFECT_API_URL`` is set in the environment, or it cannot start."""
    if os.environ.get("PREFECT_API_URL"):
        return None
    try:
        return EarlyServer()
    except OSError:  # no socket or no process: Prefect starts its own server later
        return None


@contextmanager
def api_server(server: EarlyServer | None) -> Iterator[None]:
    """Run the block's flows against ``server``, else wherever Prefect would run them.

    Not against ``server`` when the user configured a server (that one is
    used) or when it did not come up (Prefect then starts its own, as usual).
    On ``server`` flows send no heartbeats.
    """
    if server is None:
        yield
        return
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

    if PREFECT_API_URL.value() or not server.ready():
        server.stop()
        yield
        return
    # No flow-run heartbeats: they tell a lasting server which runs crashed, and this one ends with the run.
    # Stopping the heartbeat thread made every flow wait up to a second (its sleep) before it could end.
    with temporary_settings({PREFECT_API_URL: server.api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
        yield
