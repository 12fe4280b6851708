"""Where the project's data lives: the lexicons folder, the shipped models, the cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LEXICONS = Path(os.environ.get("WOGCODE_LEXICONS", REPO_ROOT / "lexicons"))
MODELS = REPO_ROOT / "models"


def cache_dir() -> Path:
    """The cache root (encoder build, embeddings): $WOGCODE_CACHE or ~/.cache/wogcode."""
    root = Path(os.environ.get("WOGCODE_CACHE", Path.home() / ".cache" / "wogcode"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def embeddings_dir() -> Path:
    """The embedding cache: $WOGCODE_EMBED_CACHE or <cache_dir>/embeddings."""
    override = os.environ.get("WOGCODE_EMBED_CACHE")
    return Path(override) if override else cache_dir() / "embeddings"
