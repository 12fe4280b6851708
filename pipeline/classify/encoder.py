"""Sentence encoder: texts -> L2-normalised float32 vectors, with an on-disk cache.

``Encoder.load()`` gives the default offline encoder (multilingual-e5-small,
built locally by :mod:`pipeline.classify.build_encoder` on first use). Its
exported ONNX graph runs under OpenVINO (:mod:`pipeline.classify.openvino_backend`:
bfloat16 on CPUs that have it, ~1.8x faster, vectors within cosine ~0.99999
of float32; float32 elsewhere), or under ONNX Runtime
(:mod:`pipeline.classify.onnx_backend`, float32) without OpenVINO; neither
imports torch. ``WOGCODE_ENCODER_BACKEND`` picks one of :data:`BACKENDS`
(``onnx-int8``: an opt-in int8 copy of the graph, vectors within cosine
~0.99). Any other string is handed to
``sentence_transformers.SentenceTransformer``, so a local
sentence-transformers folder (or a hub id, when online) also works.

e5 models expect a ``passage: `` prefix; the encoder applies it. Cosine
scores of e5 crowd into a narrow band (about 0.84-0.87 for related and
unrelated pairs alike), so callers compare similarities relatively and never
use fixed thresholds.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pipeline.classify import build_encoder
from pipeline.classify.embed_cache import EmbedCache, text_sha256

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

E5_PASSAGE_PROMPT = "passage: "
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx", ".pt", ".pth", ".xml")
CHUNK_BATCHES = 8  # batches encoded between two cache writes
#: ``onnx-int8`` (opt-in) runs an int8 copy of the ONNX graph: ~1.8x faster, not lossless (README, Speed);
#: ``openvino`` runs the graph with OpenVINO, in bfloat16 on CPUs that have it (``openvino-bf16``) or float32.
BACKENDS = ("onnx", "onnx-int8", "openvino", "torch")
BACKEND_ENV = "WOGCODE_ENCODER_BACKEND"
#: Texts per batch, measured on 2 cores with length-sorted batches (benchmarks/encode_speed.py).
BATCH_SIZES = {"onnx": 8, "onnx-int8": 8, "openvino-bf16": 8, "openvino-f32": 8, "torch": 16}


# ------------------------------------------------------------ loading helpers


@contextmanager
def offline_hub() -> Iterator[None]:
    """Switch the Hugging Face hub off for the block so nothing tries the network.

    Sets HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE, and also huggingface_hub's own
    flag, which that library reads from the environment only once, at import.
    """
    import huggingface_hub.constants as hub_constants

    keys = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    saved = {key: os.environ.get(key) for key in keys}
    saved_flag = getattr(hub_constants, "HF_HUB_OFFLINE", False)
    os.environ.update({key: "1" for key in keys})
    hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        hub_constants.HF_HUB_OFFLINE = saved_flag
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def cpu_count() -> int:
    """Cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def load_sentence_transformer(name_or_path: str, **kwargs: object) -> SentenceTransformer:
    """Load a SentenceTransformer on CPU, quietly; local folders load with the hub switched off."""
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(cpu_count())
    transformers.utils.logging.disable_progress_bar()
    st_logger = logging.getLogger("sentence_transformers")
    level = st_logger.level
    st_logger.setLevel(logging.ERROR)  # e.g. the "default prompt name is set" notice
    try:
        if Path(name_or_path).is_dir():
            with offline_hub():
                return SentenceTransformer(str(name_or_path), device="cpu", local_files_only=True, **kwargs)
        return SentenceTransformer(name_or_path, device="cpu", **kwargs)
    finally:
        st_logger.setLevel(level)


def local_folder(name_or_path: str) -> Path | None:
    """The folder a user string names, or None for a hub id like "org/model".

    Absolute, ``./``, ``../`` and ``~`` strings and existing paths are folders;
    a folder that does not exist is a FileNotFoundError.
    """
    path = Path(name_or_path).expanduser()
    if not (name_or_path.startswith(("/", ".", "~")) or path.exists()):
        return None
    if not path.is_dir():
        raise FileNotFoundError(f"{name_or_path}: no such encoder folder")
    return path


def load_named_model(name_or_path: str, folder: Path | None) -> SentenceTransformer:
    """Load a user-named model (a local folder or a hub id), failing with one line that names it."""
    try:
        return load_sentence_transformer(str(folder) if folder else name_or_path)
    except Exception as exc:  # noqa: BLE001 - the libraries raise many kinds; the user needs one line
        lines = str(exc).strip().splitlines()
        reason = lines[0] if lines else type(exc).__name__
        hint = "" if folder else " (a hub id needs the network; offline, give a local folder)"
        raise ValueError(f"{name_or_path}: cannot load as a sentence-transformers model: {reason}{hint}") from exc


def folder_checksum(folder: Path) -> str:
    """sha256 of a model folder's weights (the first kind of WEIGHT_SUFFIXES present): the file's own
    sha256 if there is one such file, else a sha256 over the sorted ``path:sha256`` lines of all of
    them (of all files if none looks like weights)."""
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    for suffix in WEIGHT_SUFFIXES:  # the torch weights define the model; an exported copy does not
        if any(p.suffix == suffix for p in files):
            files = [p for p in files if p.suffix == suffix]
            break
    if len(files) == 1:
        return build_encoder.sha256_file(files[0])
    lines = "".join(f"{p.relative_to(folder).as_posix()}:{build_encoder.sha256_file(p)}\n" for p in files)
    return hashlib.sha256(lines.encode()).hexdigest()


def passage_prompt(model: SentenceTransformer, name: str) -> str:
    """The prompt to prepend: the model's own "passage" prompt, e5's by name, else its default (or none)."""
    prompts = getattr(model, "prompts", None) or {}
    if "passage" in prompts:
        return prompts["passage"]
    if "e5" in Path(name).name.lower():
        return E5_PASSAGE_PROMPT
    default = getattr(model, "default_prompt_name", None)
    return prompts.get(default, "") if default else ""


def default_backend() -> str:
    """``openvino`` when installed, else ``onnx`` when onnxruntime is, else ``torch``; ``$WOGCODE_ENCODER_BACKEND``
    decides if set.  (OpenVINO runs the ONNX graph, which onnxruntime's optimiser fuses at set-up.)"""
    from pipeline.classify.openvino_backend import openvino_installed

    chosen = os.environ.get(BACKEND_ENV, "").strip().lower()
    onnx = build_encoder.onnxruntime_installed()
    if chosen:
        if chosen not in BACKENDS:
            raise ValueError(f"{BACKEND_ENV}={chosen!r}: use one of {', '.join(BACKENDS)}")
        if chosen != "torch" and not onnx:
            raise ValueError(f"{BACKEND_ENV}={chosen}: onnxruntime is not installed (install it, or use torch)")
        if chosen == "openvino" and not openvino_installed():
            raise ValueError(f"{BACKEND_ENV}={chosen}: openvino is not installed (install it, or use onnx)")
        return chosen
    if onnx and openvino_installed():
        return "openvino"
    return "onnx" if onnx else "torch"


def backend_variant(backend: str) -> str:
    """What ``backend`` runs on this machine: ``openvino`` becomes ``openvino-bf16`` or ``openvino-f32``."""
    if backend != "openvino":
        return backend
    from pipeline.classify.openvino_backend import native_precision

    return f"openvino-{native_precision()}"


def default_encoder_identity() -> tuple[str, str] | None:
    """(weights checksum, identity) of the default encoder, read without loading it; None while its build is
    missing or damaged (loading rebuilds it).  The identity changes with any file of the build or the backend
    variant, so with anything that changes a vector (see :attr:`Encoder.cache_key`)."""
    folder = build_encoder.default_encoder_dir()
    if build_encoder.damaged_files(folder) != set():
        return None
    manifest = build_encoder.read_manifest(folder) or {}
    material = {"files": manifest.get("files"), "backend": backend_variant(default_backend())}
    identity = hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest()
    return str(manifest.get("weights_sha256")), identity


def _load_default(folder: Path, backend: str) -> object:
    """The built default encoder folder, run by ``backend`` (a :func:`backend_variant`)."""
    if backend.startswith("openvino"):
        from pipeline.classify.openvino_backend import load_openvino

        return load_openvino(folder, cpu_count(), backend.removeprefix("openvino-"))
    if backend.startswith("onnx"):
        from pipeline.classify.onnx_backend import OnnxSentenceEncoder, int8_graph

        return OnnxSentenceEncoder(folder, cpu_count(), int8_graph(folder) if backend == "onnx-int8" else None)
    return load_sentence_transformer(str(folder))


# -------------------------------------------------------------------- encoder


class Encoder:
    """A loaded sentence encoder with a content-addressed embedding cache.

    ``texts_encoded`` counts the texts actually run through the model (cache
    hits and duplicates do not count), which is how tests see the cache work.
    """

    def __init__(self, model: SentenceTransformer, name: str, checksum: str, cache: EmbedCache | None,
                 backend: str = "torch") -> None:
        self.model = model
        self.backend = backend
        self.cache = cache
        self.texts_encoded = 0
        self._name = name
        self._checksum = checksum
        self.prompt = passage_prompt(model, name)
        self._dim = int(model.get_embedding_dimension())

    @classmethod
    def load(
        cls, name_or_path: str | None = None, *, cache_dir: Path | None = None, use_cache: bool = True
    ) -> Encoder:
        """Load the default encoder (None; built on first use) or any sentence-transformers model.

        ``cache_dir`` overrides where embeddings are cached (default
        ``<cache>/embeddings``); ``use_cache=False`` disables the cache.
        """
        backend = "torch"
        if name_or_path is None:
            folder = build_encoder.build_default_encoder()
            manifest = build_encoder.read_manifest(folder) or {}
            name, checksum = build_encoder.ENCODER_NAME, manifest["weights_sha256"]
            backend = backend_variant(default_backend())
            model = _load_default(folder, backend)
        else:
            name = name_or_path
            folder = local_folder(name_or_path)
            model = load_named_model(name_or_path, folder)
            if folder is not None:
                checksum = folder_checksum(folder)
            else:
                checksum = hashlib.sha256(f"name:{name_or_path}".encode()).hexdigest()
        cache = EmbedCache(cache_dir) if use_cache else None
        return cls(model, name, checksum, cache, backend)

    @property
    def name(self) -> str:
        """The model's name (default encoder) or the string it was loaded from."""
        return self._name

    @property
    def checksum(self) -> str:
        """sha256 of the weights for local folders; a hash of the name for hub ids."""
        return self._checksum

    @property
    def dim(self) -> int:
        """Embedding dimension."""
        return self._dim

    @property
    def cache_key(self) -> str:
        """Everything that changes a vector: weights, prompt, max sequence length."""
        settings = {"weights": self.checksum, "prompt": self.prompt, "max_seq_length": self.model.max_seq_length}
        if self.backend != "torch":  # vectors of another runtime never mix with torch's in the cache
            settings["backend"] = self.backend
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()

    def encode(self, texts: Sequence[str], batch_size: int | None = None, show_progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as an ``[n, dim]`` float32 array of unit vectors (row i for texts[i])."""
        batch_size = batch_size or BATCH_SIZES.get(self.backend, 16)
        if isinstance(texts, str):
            raise TypeError("encode() takes a sequence of texts, not a single string")
        texts = list(texts)
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise TypeError(f"encode(): item {index} is {type(text).__name__}, expected str")
        hashes = [text_sha256(text) for text in texts]
        unique = dict(zip(hashes, texts, strict=True))  # hash -> text, duplicates collapse
        key = self.cache_key
        vectors = self.cache.get_many(key, list(unique), self.dim) if self.cache else {}
        missing = [h for h in unique if h not in vectors]
        for chunk, chunk_vectors in self._encode_missing(missing, unique, batch_size, show_progress):
            vectors.update(zip(chunk, chunk_vectors, strict=True))
            if self.cache:
                self.cache.put_many(key, zip(chunk, chunk_vectors, strict=True))
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.stack([vectors[h] for h in hashes]).astype(np.float32, copy=False)

    def _encode_missing(
        self, missing: list[str], unique: dict[str, str], batch_size: int, show_progress: bool
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Yield (hashes, vectors) for the uncached texts, longest first, a few batches at a time."""
        order = sorted(missing, key=lambda h: len(unique[h]), reverse=True)
        step = batch_size * CHUNK_BATCHES
        progress = None
        if show_progress and order:
            from tqdm.auto import tqdm

            progress = tqdm(total=len(order), desc="encoding", unit="text")
        for start in range(0, len(order), step):
            chunk = order[start : start + step]
            vectors = self.model.encode(
                [unique[h] for h in chunk],
                prompt=self.prompt,
                batch_size=batch_size,
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            ).astype(np.float32, copy=False)
            self.texts_encoded += len(chunk)
            if progress is not None:
                progress.update(len(chunk))
            yield chunk, vectors
        if progress is not None:
            progress.close()
