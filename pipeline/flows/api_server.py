"""Start Prefect's temporary API server in the background, so its start-up overlaps the run's own.

With no ``PREFECT_API_URL`` set, the first flow starts a local API server in a
subprocess and polls it until it answers (~3.5 s here).  Started early, that
subprocess boots on the second core while this process imports the pipeline
and builds the sentence splitter.  Prefect keeps one such server per process,
so the flow engine then finds it running and uses it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


def start_api_server_early() -> Callable[[], None]:
    """Start the temporary API server on a background thread; returns a function that waits for it.

    A start that fails is left to the flow engine, which starts the server
    again and reports the failure itself.
    """
    from prefect.settings import PREFECT_API_URL

    if PREFECT_API_URL.value():  # a real server is configured: nothing to start
        return lambda: None
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()

    def start() -> None:
        try:
            server.start()
        except Exception:  # noqa: BLE001 - the flow engine retries the start and raises it properly
            return

    thread = threading.Thread(target=start, name="prefect-api-start", daemon=True)
    thread.start()
    return thread.join
