"""Save and load model folders: JSON + NPZ only, never pickle, checked on load.

    >>> save_model(coder, Path("models/perry6"), training={...}, created="2025-06-01")
    >>> coder = load_model(Path("models/perry6"), load_codebook("perry6"))

A model folder holds:

- ``manifest.json``: format version, kind (``ensemble`` / ``embedding``),
  codebook id + version + content hash, encoder name + weights checksum,
  parameters and learned scalars, every array's file/shape/dtype, the
  training data hash and counts, metrics (incl. cross-validation), package
  versions and a ``created`` date (given, or ``$SOURCE_DATE_EPOCH``, so
  rebuilding the same data gives identical bytes);
- ``arrays.npz``: prototypes, head weights, valence head, training embeddings
  (float16), written with fixed zip timestamps, read with ``allow_pickle=False``;
- ``training.json``: the training texts and their codes (the evidence's
  nearest examples come from here);
- ``README.md``: a generated model card.

:func:`load_model` refuses, with one line naming the folder: pickled files,
file names leaving the folder, an unknown format version, a codebook or
encoder that differs from the one the model was trained with, and arrays
whose shapes disagree with the manifest.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import os
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.classify.embedding import VOTE_NEIGHBOURS, EmbeddingCoder
from pipeline.classify.ensemble import EnsembleCoder
from pipeline.codebook import Codebook, load_codebook
from pipeline.model_folder import (
    FORMAT_VERSION,
    MANIFEST,
    check_codebook,
    folder_error,
    folder_fingerprint,
    read_json,
    read_manifest,
    safe_path,
)

ARRAYS = "arrays.npz"
TRAINING = "training.json"
CARD = "README.md"
PACKAGES = ("numpy", "scikit-learn", "sentence-transformers", "torch")
EMBEDDING_PARAMS = (
    "C", "min_confidence", "zero_shot_margin", "n_neighbours", "random_state", "abstention", "valence_C",
    "neighbour_vote",
)


# --------------------------------------------------------------------------- saving


def save_model(
    coder: EnsembleCoder | EmbeddingCoder,
    folder: Path,
    training: dict[str, Any] | None = None,
    created: str | None = None,
) -> Path:
    """Write ``coder`` to ``folder`` (created if needed); returns the folder.

    ``training`` is the manifest's training section (data hash, counts, CV
    metrics; see :meth:`pipeline.train.TrainResult.training_info`).
    """
    embedding = coder.embedding if isinstance(coder, EnsembleCoder) else coder
    if not embedding.is_supervised:
        embedding.prototypes()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = _arrays_of(embedding)
    manifest = build_manifest(coder, embedding, arrays, training or {}, created or default_created())
    texts = {
        "texts": list(getattr(embedding, "train_texts_", [])),
        "codes": list(getattr(embedding, "train_labels_", [])),
    }
    _write_bytes(folder / ARRAYS, npz_bytes(arrays))
    _write_bytes(folder / TRAINING, _json_bytes(texts))
    _write_bytes(folder / MANIFEST, _json_bytes(manifest))
    _write_bytes(folder / CARD, model_card(manifest, folder.name).encode("utf-8"))
    return folder


def default_created() -> str:
    """``$SOURCE_DATE_EPOCH`` as a date (reproducible builds), else today."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = dt.datetime.fromtimestamp(int(epoch), dt.UTC) if epoch else dt.datetime.now(dt.UTC)
    return moment.date().isoformat()


def _arrays_of(embedding: EmbeddingCoder) -> dict[str, np.ndarray]:
    """The learned arrays of an embedding coder, by name (absent heads are left out)."""
    names = {
        "prototypes": "prototypes_",
        "coef": "coef_",
        "intercept": "intercept_",
        "valence_coef": "valence_coef_",
        "valence_intercept": "valence_intercept_",
        "train_embeddings": "train_embeddings_",
    }
    return {name: np.asarray(getattr(embedding, attr)) for name, attr in names.items() if hasattr(embedding, attr)}


def build_manifest(
    coder: EnsembleCoder | EmbeddingCoder,
    embedding: EmbeddingCoder,
    arrays: dict[str, np.ndarray],
    training: dict[str, Any],
    created: str,
) -> dict[str, Any]:
    """The manifest as plain data."""
    encoder = embedding.get_encoder()
    book = embedding.codebook
    learned: dict[str, Any] = {}
    if embedding.is_supervised:
        learned = {
            "head_classes": [str(c) for c in embedding.head_classes_],
            "temperature": float(embedding.temperature_),
            "threshold": float(embedding.threshold_),
        }
    if hasattr(embedding, "valence_classes_"):
        learned["valence_classes"] = [str(c) for c in embedding.valence_classes_]
    manifest: dict[str, Any] = {
        "format_version": FORMAT_VERSION,
        "kind": "ensemble" if isinstance(coder, EnsembleCoder) else "embedding",
        "codebook": {"id": book.id, "version": book.version, "hash": book.content_hash},
        "encoder": {"name": encoder.name, "checksum": encoder.checksum, "dim": int(encoder.dim)},
        "embedding": {"params": {name: getattr(embedding, name) for name in EMBEDDING_PARAMS}, "learned": learned},
        "arrays": {
            name: {"file": ARRAYS, "shape": list(array.shape), "dtype": str(array.dtype)} for name, array in arrays.items()
        },
        "training_texts": TRAINING,
        "training": training,
        "packages": package_versions(),
        "created": created,
    }
    if isinstance(coder, EnsembleCoder):
        manifest["ensemble"] = {
            "weight": float(coder.weight),
            "threshold": float(coder.threshold),
            "valence_source": coder.valence_source,
            "lexicon": {"threshold": float(coder.lexicon.threshold), "min_margin": float(coder.lexicon.min_margin)},
        }
    return manifest


def package_versions() -> dict[str, str]:
    """Installed versions of the packages a model depends on, and of wogcode."""
    from pipeline import __version__

    versions = {"wogcode": __version__}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An ``.npz`` archive with fixed timestamps and sorted members (same arrays, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def _json_bytes(data: Any) -> bytes:
    return (json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _write_bytes(path: Path, data: bytes) -> None:
    """Write via a temporary file and rename (a crash never leaves half a file)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def model_card(manifest: dict[str, Any], name: str) -> str:
    """The generated README: what the model codes, what it was trained on, how well it did."""
    book, training = manifest["codebook"], manifest.get("training") or {}
    lines = [
        f"# Model `{name}`: {manifest['kind']} coder for codebook `{book['id']}`",
        "",
        "Generated by `wogcode train`; do not edit by hand (retrain instead).",
        "",
        f"- codebook: `{book['id']}` version {book['version']}, content hash `{book['hash']}`",
        f"- encoder: `{manifest['encoder']['name']}` (weights sha256 `{manifest['encoder']['checksum'][:16]}...`)",
        f"- created: {manifest['created']}; format version {manifest['format_version']}",
    ]
    if "ensemble" in manifest:
        ens = manifest["ensemble"]
        lines.append(
            f"- ensemble: embedding weight {ens['weight']:.2f}, lexicon weight {1 - ens['weight']:.2f}, "
            f"valence from {ens['valence_source']}"
        )
    vote = manifest["embedding"]["params"].get("neighbour_vote", 0.0)
    if vote:
        lines.append(f"- embedding: the {VOTE_NEIGHBOURS} nearest training texts vote with weight {vote:.2f}, "
                     f"the trained head {1 - vote:.2f}")
    if training:
        lines += ["", "## Training data", "", f"{training.get('n_examples', 0)} texts "
                  f"(sha256 `{str(training.get('data_sha256', ''))[:16]}...`).", "",
                  "| code | texts |", "|---|---|"]
        lines += [f"| {code} | {n} |" for code, n in (training.get("counts_per_code") or {}).items()]
        lines += ["", "Sources: " + ", ".join(f"{k} {v}" for k, v in (training.get("counts_per_source") or {}).items())]
    cv = training.get("cv") if training else None
    if cv:
        kappa = "n/a" if cv.get("kappa") is None else f"{cv['kappa']:.3f}"
        valence = "n/a" if cv.get("valence_accuracy") is None else f"{cv['valence_accuracy']:.3f}"
        lines += [
            "", "## Leave-one-study-out cross-validation", "",
            f"Each study coded by a model that never saw it ({cv['n']} texts, {len(cv['studies'])} studies).", "",
            f"- macro-F1 {cv['macro_f1']:.3f}, kappa {kappa}, accuracy {cv['accuracy']:.3f}",
            f"- valence accuracy {valence} on {cv['valence_n']} texts with a valence label",
            f"- embedding only: macro-F1 {cv['embedding_only_macro_f1']:.3f}; "
            f"lexicon only: {cv['lexicon_only_macro_f1']:.3f}",
        ]
        if "macro_f1_tuning_held_out" in cv:
            lines.append(f"- with the settings (neighbour vote, ensemble weight, threshold) chosen without the scored "
                         f"study: macro-F1 {cv['macro_f1_tuning_held_out']:.3f}")
        ruled = cv.get("with_pipeline_rules")
        if ruled:
            nested = ruled.get("macro_f1_tuning_held_out")
            lines.append(f"- as a run outputs them (interviewer turns and non-findings thesis sections uncoded by "
                         f"rule): macro-F1 {ruled['macro_f1']:.3f}, kappa {ruled['kappa']:.3f}"
                         + (f"; {nested:.3f} with the settings chosen without the scored study" if nested is not None
                            else ""))
    lines += [
        "", "## Limits", "",
        "Trained on few studies; thesis units are labelled by the dimension heading they stand under, "
        "which is noisy. Check codings before citing them. Loading refuses another codebook version or encoder.",
        "",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- loading


def load_model(folder: Path, codebook: Codebook | None = None) -> EnsembleCoder | EmbeddingCoder:
    """The coder saved in ``folder``, after checking it is safe and matches ``codebook`` and the encoder.

    Without ``codebook`` the shipped codebook the manifest names is used
    (and must still have the hash the model was trained for).
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    book = codebook if codebook is not None else _shipped_codebook(folder, manifest)
    check_codebook(folder, manifest, book)
    arrays = read_arrays(folder, manifest)
    texts = read_json(folder, manifest["training_texts"])
    coder = build_coder(folder, manifest, book, None, arrays, texts)  # every file checked before the slow part
    embedding = coder.embedding if isinstance(coder, EnsembleCoder) else coder
    embedding.encoder = _matching_encoder(folder, manifest)
    # the encoder's vectors count too: an int8 graph codes a few texts differently from the float32 one
    coder.fingerprint_ = f"{folder_fingerprint(folder)}-{embedding.encoder.cache_key[:16]}"
    return coder


def _shipped_codebook(folder: Path, manifest: dict[str, Any]) -> Codebook:
    try:
        return load_codebook(manifest["codebook"]["id"])
    except Exception as exc:  # noqa: BLE001 - one line for the user
        raise folder_error(folder, f"cannot load the model's codebook '{manifest['codebook'].get('id')}': {exc}") from None


def _matching_encoder(folder: Path, manifest: dict[str, Any]) -> Any:
    """The encoder the model was trained with, refused when its weights checksum differs."""
    from pipeline.classify import build_encoder
    from pipeline.classify.embedding import default_encoder
    from pipeline.classify.encoder import Encoder

    wanted = manifest["encoder"]
    encoder = default_encoder() if wanted.get("name") == build_encoder.ENCODER_NAME else Encoder.load(wanted.get("name"))
    if encoder.checksum != wanted.get("checksum"):
        raise folder_error(
            folder,
            f"encoder checksum mismatch: model was trained with {wanted.get('name')} "
            f"sha256 {str(wanted.get('checksum'))[:12]}..., the installed one is {encoder.checksum[:12]}...",
        )
    return encoder


def read_arrays(folder: Path, manifest: dict[str, Any]) -> dict[str, np.ndarray]:
    """Every array the manifest lists, with its shape and dtype checked."""
    arrays: dict[str, np.ndarray] = {}
    opened: dict[str, Any] = {}
    try:
        for name, spec in manifest["arrays"].items():
            file = spec.get("file")
            if file not in opened:
                try:
                    opened[file] = np.load(safe_path(folder, file), allow_pickle=False)
                except (OSError, ValueError, zipfile.BadZipFile) as exc:
                    raise folder_error(folder, f"'{file}' is not a readable NPZ archive ({exc})") from None
            if name not in opened[file].files:
                raise folder_error(folder, f"array '{name}' missing from '{file}'")
            try:
                array = opened[file][name]
            except ValueError as exc:
                raise folder_error(folder, f"array '{name}' in '{file}' cannot be read without pickle ({exc})") from None
            if list(array.shape) != list(spec.get("shape", [])) or str(array.dtype) != spec.get("dtype"):
                raise folder_error(
                    folder,
                    f"array '{name}' is {array.dtype}{list(array.shape)}, the manifest says {spec.get('dtype')}{spec.get('shape')}",
                )
            arrays[name] = array
    finally:
        for archive in opened.values():
            archive.close()
    return arrays


def build_coder(
    folder: Path,
    manifest: dict[str, Any],
    book: Codebook,
    encoder: Any,
    arrays: dict[str, np.ndarray],
    texts: dict[str, Any],
) -> EnsembleCoder | EmbeddingCoder:
    """Rebuild the coder from checked parts, cross-checking the shapes against each other."""
    params = manifest["embedding"]["params"]
    learned = manifest["embedding"]["learned"]
    vote = params.get("neighbour_vote", 0.0)
    if isinstance(vote, bool) or not isinstance(vote, (int, float)) or not 0.0 <= vote <= 1.0:
        raise folder_error(folder, f"neighbour_vote must be a number from 0 to 1, not {vote!r}")
    embedding = EmbeddingCoder(book, encoder=encoder, **{k: params[k] for k in EMBEDDING_PARAMS if k in params})
    dim, n_codes = int(manifest["encoder"]["dim"]), len(book.codes)
    _expect(folder, arrays, "prototypes", (n_codes, dim))
    embedding.prototypes_ = arrays["prototypes"].astype(np.float32)
    if "coef" in arrays:
        classes = learned.get("head_classes", [])
        _expect(folder, arrays, "coef", (len(classes), dim))
        _expect(folder, arrays, "intercept", (len(classes),))
        n_train = len(texts.get("texts", []))
        _expect(folder, arrays, "train_embeddings", (n_train, dim))
        if len(texts.get("codes", [])) != n_train:
            raise folder_error(folder, f"{TRAINING} has {n_train} texts but {len(texts.get('codes', []))} codes")
        embedding.head_classes_ = np.array(classes, dtype=object)
        embedding.coef_, embedding.intercept_ = arrays["coef"], arrays["intercept"]
        embedding.temperature_, embedding.threshold_ = float(learned["temperature"]), float(learned["threshold"])
        embedding.train_embeddings_ = arrays["train_embeddings"]
        embedding.train_texts_, embedding.train_labels_ = list(texts["texts"]), list(texts["codes"])
        unknown = sorted(set(embedding.train_labels_) - set(embedding.classes_))
        if unknown:
            raise folder_error(folder, f"{TRAINING} labels a text '{unknown[0]}', which is not a code of {book.id}")
    if "valence_coef" in arrays:
        classes = learned.get("valence_classes", [])
        _expect(folder, arrays, "valence_coef", (len(classes), dim))
        _expect(folder, arrays, "valence_intercept", (len(classes),))
        embedding.valence_classes_ = np.array(classes, dtype=object)
        embedding.valence_coef_, embedding.valence_intercept_ = arrays["valence_coef"], arrays["valence_intercept"]
    embedding.name_ = folder.name
    if manifest["kind"] == "embedding":
        return embedding
    if manifest["kind"] != "ensemble" or "ensemble" not in manifest:
        raise folder_error(folder, f"unknown model kind {manifest['kind']!r}")
    from pipeline.classify.lexicon import LexiconCoder

    ens = manifest["ensemble"]
    lexicon = LexiconCoder(book, threshold=ens["lexicon"]["threshold"], min_margin=ens["lexicon"]["min_margin"])
    coder = EnsembleCoder(embedding, lexicon, ens["weight"], ens["threshold"], ens["valence_source"])
    coder.name_ = folder.name
    return coder


def _expect(folder: Path, arrays: dict[str, np.ndarray], name: str, shape: tuple[int, ...]) -> None:
    """Refuse a missing array or one whose shape disagrees with the codebook/encoder/training texts."""
    if name not in arrays:
        raise folder_error(folder, f"array '{name}' is missing")
    if tuple(arrays[name].shape) != shape:
        raise folder_error(folder, f"array '{name}' has shape {list(arrays[name].shape)}, expected {list(shape)}")
