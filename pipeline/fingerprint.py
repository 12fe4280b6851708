"""Fingerprints: content hashes that say when a cached stage result is still valid."""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from pipeline import __version__
from pipeline.paths import LEXICONS, REPO_ROOT

PACKAGE = REPO_ROOT / "pipeline"
INGEST_SOURCES = ("ingest/*.py", "segment.py", "normalise/*.py", "schema.py")


def hash_files(paths: list[Path]) -> str:
    """sha256 (16 hex) over the names and bytes of files, in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def ingest_fingerprint() -> str:
    """Changes whenever ingest/segment/normalise code or any language data file changes."""
    files = [p for pattern in INGEST_SOURCES for p in PACKAGE.glob(pattern)]
    files += [p for p in LEXICONS.rglob("*") if p.is_file()]
    return f"{__version__}-{hash_files(files)}"


CODING_SOURCES = ("classify/*.py", "codebook.py", "findings.py")


@lru_cache(maxsize=1)
def _coding_code() -> str:
    return hash_files([p for pattern in CODING_SOURCES for p in PACKAGE.glob(pattern)])


def code_fingerprint() -> str:
    """Changes whenever any coder's results could through this package: the classify code or (through
    :func:`ingest_fingerprint`) the normaliser and any language data file."""
    return f"{ingest_fingerprint()}-{_coding_code()}"


def coding_fingerprint(coder: object) -> str:
    """:func:`code_fingerprint` plus the coder's model folder's files and encoder, when it has them."""
    return f"{code_fingerprint()}-{getattr(coder, 'fingerprint_', '')}"
