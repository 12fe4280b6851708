"""Turn a model name into a coder: ``lexicon``, ``default`` (the shipped model), or a model folder."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.codebook import Codebook, load_codebook
from pipeline.paths import MODELS

if TYPE_CHECKING:
    from pipeline.classify.base import Coder

#: Names a user can pass to --model besides a folder path.
BUILTIN = ("default", "lexicon")


def default_model_dir(codebook_id: str) -> Path:
    """Where the shipped model for a codebook lives (``models/<codebook>/``)."""
    return MODELS / codebook_id


def _model_folder(model: str, book: Codebook) -> Path | None:
    """The folder ``model`` names for ``book``; None for the lexicon (also "default" without a shipped model)."""
    if model == "lexicon":
        return None
    folder = default_model_dir(book.id) if model == "default" else Path(model)
    if model == "default" and not (folder / "manifest.json").is_file():
        return None
    return folder


@lru_cache(maxsize=8)
def load_coder(model: str, codebook: str) -> Coder:
    """A coder for ``codebook`` (id or file); loaded once per process and reused."""
    book = load_codebook(codebook)
    folder = _model_folder(model, book)
    if folder is None:
        from pipeline.classify.lexicon import LexiconCoder

        return LexiconCoder(book)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no such model folder (use 'lexicon', 'default' or a model folder)")
    from pipeline.persist import load_model

    return load_model(folder, book)


def model_identity(model: str, codebook: str) -> str:
    """A string that changes whenever ``load_coder(model, codebook)`` could code differently.

    Read without loading the model where possible: the lexicon coder is all
    code, language data and codebook (which the run key holds apart); a model
    folder on the default encoder is identified by its files (loading it
    takes ~2 s). Otherwise the coder is loaded.
    """
    book = load_codebook(codebook)
    folder = _model_folder(model, book)
    if folder is None:
        return "lexicon"
    if (folder / "manifest.json").is_file():
        from pipeline.model_folder import model_identity as folder_identity

        identity = folder_identity(folder, book)
        if identity is not None:
            return identity
    coder = load_coder(model, codebook)
    return f"{coder.model_id}|{getattr(coder, 'fingerprint_', '')}"
