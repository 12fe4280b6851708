"""Prefect flows: thin layers over the plain functions of each stage."""

import os

# Offline by design: no telemetry, a local ephemeral API, quiet logs unless asked.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
