"""Turn a model name into a coder: ``lexicon``, ``default`` (the shipped model), or a model folder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pipeline.classify.base import Coder
from pipeline.codebook import load_codebook
from pipeline.paths import MODELS

#: Names a user can pass to --model besides a folder path.
BUILTIN = ("default", "lexicon")


def default_model_dir(codebook_id: str) -> Path:
    """Where the shipped model for a codebook lives (``models/<codebook>/``)."""
    return MODELS / codebook_id


@lru_cache(maxsize=8)
def load_coder(model: str, codebook: str) -> Coder:
    """A coder for ``codebook`` (id or file); loaded once per process and reused."""
    book = load_codebook(codebook)
    if model == "lexicon":
        from pipeline.classify.lexicon import LexiconCoder

        return LexiconCoder(book)
    folder = default_model_dir(book.id) if model == "default" else Path(model)
    if model == "default" and not (folder / "manifest.json").is_file():
        from pipeline.classify.lexicon import LexiconCoder

        return LexiconCoder(book)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such model folder (use 'lexicon', 'default' or a model folder)")
    from pipeline.persist import load_model

    return load_model(folder, book)
