"""Where the project's data lives: the lexicons folder, the shipped models, the cache."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LEXICONS = Path(os.environ.get("WOGCODE_LEXICONS", REPO_ROOT / "lexicons"))
MODELS = REPO_ROOT / "models"


def cache_root() -> Path:
    """$WOGCODE_CACHE or ~/.cache/wogcode (not created)."""
    return Path(os.environ.get("WOGCODE_CACHE", Path.home() / ".cache" / "wogcode"))


def cache_dir() -> Path:
    """The cache root (encoder build, embeddings, resume cache), created if needed."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    return root


def resume_cache_path() -> Path:
    """The resume cache: finished batches of ingest and coding, which hold the corpus text (not created)."""
    return cache_root() / "resume"


def private_folder(path: Path) -> Path:
    """Create ``path`` if needed and make it readable by its owner only."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    return path


def embeddings_dir() -> Path:
    """The embedding cache: $WOGCODE_EMBED_CACHE or <cache_dir>/embeddings."""
    override = os.environ.get("WOGCODE_EMBED_CACHE")
    return Path(override) if override else cache_dir() / "embeddings"
