"""A model folder read and checked without loading the model: its manifest, its codebook, its identity.

Loading a model (:mod:`pipeline.persist`) imports scikit-learn and starts the
encoder, ~2 s.  What is here is cheap: the manifest (pickles and unknown
formats refused), the codebook check, and :func:`model_identity`, which lets
``wogcode run`` see that an unchanged corpus needs no run before it loads
anything (:mod:`pipeline.up_to_date`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pipeline.classify.build_encoder import ENCODER_NAME
from pipeline.codebook import Codebook
from pipeline.fingerprint import hash_files

FORMAT_VERSION = 1
MANIFEST = "manifest.json"
FORBIDDEN_SUFFIXES = (".pkl", ".pickle", ".joblib", ".pck", ".dill")


class ModelFolderError(ValueError):
    """A model folder that cannot be used; the message is one line naming the folder."""


def folder_fingerprint(folder: Path) -> str:
    """sha256 (16 hex) of a model folder's files: a retrained model with the same name differs."""
    return hash_files([p for p in folder.iterdir() if p.is_file()])


def folder_error(folder: Path, reason: str) -> ModelFolderError:
    """The one-line error for ``folder``."""
    return ModelFolderError(f"{folder}: {reason}")


def read_manifest(folder: Path) -> dict[str, Any]:
    """The manifest, after refusing pickled files and an unknown format version."""
    if not folder.is_dir():
        raise folder_error(folder, "no such model folder")
    for path in sorted(folder.rglob("*")):
        if path.suffix.lower() in FORBIDDEN_SUFFIXES:
            raise folder_error(folder, f"refusing to load: '{path.relative_to(folder)}' is a pickle file (models are JSON/NPZ only)")
    manifest = read_json(folder, MANIFEST)
    if not isinstance(manifest, dict):
        raise folder_error(folder, f"{MANIFEST} is not a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise folder_error(folder, f"unknown model format_version {version!r} (this wogcode reads {FORMAT_VERSION})")
    for key in ("kind", "codebook", "encoder", "embedding", "arrays", "training_texts"):
        if key not in manifest:
            raise folder_error(folder, f"{MANIFEST} lacks '{key}'")
    return manifest


def safe_path(folder: Path, name: Any) -> Path:
    """``folder / name`` when ``name`` is a plain file name inside the folder; else refused."""
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise folder_error(folder, f"file name {name!r} in the manifest leaves the model folder")
    path = (folder / name).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise folder_error(folder, f"file name {name!r} in the manifest leaves the model folder")
    if not path.is_file():
        raise folder_error(folder, f"missing file '{name}'")
    return path


def read_json(folder: Path, name: str) -> Any:
    """The JSON file ``name`` of the folder, refused when it leaves the folder or is not JSON."""
    path = safe_path(folder, name)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise folder_error(folder, f"'{name}' is not valid JSON ({exc})") from None


def check_codebook(folder: Path, manifest: dict[str, Any], book: Codebook) -> None:
    """Refuse a codebook other than the one (id and content hash) the model was trained for."""
    trained = manifest["codebook"]
    if trained.get("id") != book.id or trained.get("hash") != book.content_hash:
        raise folder_error(
            folder,
            f"model was trained for {trained.get('id')}@{trained.get('hash')} (version {trained.get('version')}), "
            f"you asked for {book.id}@{book.content_hash} (version {book.version}); retrain it with `wogcode train`",
        )


def model_identity(folder: Path, book: Codebook) -> str | None:
    """What decides the codings of the model in ``folder``: its kind, name and files and its encoder's identity.

    Read without loading the model; None when only loading can tell (an
    encoder other than the default one, a default one not built yet, or
    another encoder checksum than the model's: loading then says what is wrong).
    """
    from pipeline.classify.encoder import default_encoder_identity

    manifest = read_manifest(folder)
    check_codebook(folder, manifest, book)
    wanted = manifest["encoder"]
    if not isinstance(wanted, dict) or wanted.get("name") != ENCODER_NAME:
        return None
    encoder = default_encoder_identity()
    if encoder is None or encoder[0] != wanted.get("checksum"):
        return None
    return f"{manifest['kind']}:{folder.name}:{folder_fingerprint(folder)}:{encoder[1]}"
