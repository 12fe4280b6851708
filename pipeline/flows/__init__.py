"""Prefect flows: thin layers over the plain functions of each stage."""

import os

from pipeline.paths import resume_cache_path

# Offline by design: no telemetry, a local ephemeral API, quiet logs unless asked.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")  # nor does the client start its telemetry service
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", "true")
# The resume cache holds corpus text: keep it in wogcode's own cache folder (owner-only, `wogcode cache --clear`)
# instead of Prefect's shared storage.  Set before Prefect is imported, which reads its settings once.
os.environ.setdefault("PREFECT_LOCAL_STORAGE_PATH", str(resume_cache_path()))
