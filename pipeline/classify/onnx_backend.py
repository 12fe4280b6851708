"""Run the default sentence encoder with ONNX Runtime instead of torch.

The built encoder folder (a sentence-transformers BERT + mean pooling) is
exported once, at set-up, with torch's own exporter (``torch.onnx.export``;
``optimum`` would downgrade transformers) to ``model.onnx``: the transformer
and the attention-masked mean pooling in one graph, then fused by ONNX
Runtime's BERT optimiser. The export is deterministic (same bytes on every
build), so the encoder manifest can record its sha256. At run time only
onnxruntime and the ``tokenizers`` library are needed (torch is not even
imported); the vectors equal torch's to cosine >= 0.9999 and encoding is
faster on a CPU (figures in the README and ``benchmarks/encode_speed.py``).

:class:`OnnxSentenceEncoder` offers the part of ``SentenceTransformer``'s
interface that :class:`pipeline.classify.encoder.Encoder` uses.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILE = "model.onnx"
#: Bump when :func:`export_onnx` would write different bytes: the encoder folder re-exports its graph.
EXPORT_RECIPE = 1
#: Bump when :func:`quantise_int8`'s settings change: the cached int8 graph is rebuilt.
INT8_RECIPE = 1
INT8_RECORD = "int8.json"
#: Lowest cosine allowed between the int8 and float32 graphs on the build's check sentences (measured ~0.99).
MIN_INT8_AGREEMENT = 0.97
OPSET = 17
EXPORT_SAMPLE = "passage: contoh kalimat pendek untuk ekspor"
#: Texts per session run, measured on 2 cores with token-length-sorted batches (benchmarks/encode_speed.py).
BATCH_SIZE = 8


# ------------------------------------------------------------------ export


def export_onnx(folder: Path, target: Path | None = None) -> Path:
    """Export the sentence-transformers model in ``folder`` to ``target`` (default ``folder/model.onnx``).

    The transformer is exported with eager attention, whose graph ONNX
    Runtime's BERT optimiser recognises, and then fused (attention, embedding
    and skip layer norms, bias GELU). Offline and deterministic; costs about
    20 s and 4-5 GB of RAM at its peak (the optimiser holds several copies of
    the 470 MB graph).
    """
    folder = Path(folder)
    target = Path(target) if target is not None else folder / ONNX_FILE
    raw = target.with_name(f".{target.name}.raw")
    try:
        heads, hidden = _export_raw(folder, raw)
        gc.collect()  # the torch model is gone before the optimiser loads its copies
        _fuse(raw, target, heads, hidden)
    finally:
        raw.unlink(missing_ok=True)
    return target


def _export_raw(folder: Path, raw: Path) -> tuple[int, int]:
    """Trace the transformer + mean pooling to ``raw`` (unfused); return (attention heads, hidden size)."""
    import torch

    from pipeline.classify.encoder import load_sentence_transformer  # late: encoder imports build_encoder

    model = load_sentence_transformer(str(folder), model_kwargs={"attn_implementation": "eager"})
    sample = model.tokenizer([EXPORT_SAMPLE], return_tensors="pt")
    bert = model[0].auto_model.eval()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer notes about Python control flow in the model code
        torch.onnx.export(
            _mean_pooled(bert),
            (sample["input_ids"], sample["attention_mask"]),
            str(raw),
            input_names=["input_ids", "attention_mask"],
            output_names=["sentence_embedding"],
            dynamic_axes={"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
                          "sentence_embedding": {0: "batch"}},
            opset_version=OPSET,
            dynamo=False,
        )
    return int(bert.config.num_attention_heads), int(bert.config.hidden_size)


def _fuse(raw: Path, target: Path, heads: int, hidden: int) -> None:
    """Fuse the raw graph with ONNX Runtime's BERT optimiser and save it to ``target``."""
    from onnxruntime.transformers import optimizer

    fused = optimizer.optimize_model(str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1)
    fused.save_model_to_file(str(target))


def _mean_pooled(bert: Any) -> Any:
    """The transformer followed by attention-masked mean pooling, as one torch module."""
    import torch

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return MeanPooled()


def quantise_int8(source: Path, target: Path, ffn_only: bool = False) -> Path:
    """Write an int8 copy of a fused graph: dynamic quantisation of the dense MatMuls only.

    Weights are quantised per output channel with 7-bit range (no int16
    saturation on CPUs without VNNI); the embeddings and the fused attention
    (Q/K/V) stay float32. ``ffn_only`` also keeps the attention output
    projection float32. Not lossless (cosine vs float32 ~0.99), so never the default.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(source), load_external_data=False)
    matmuls = [node.name for node in graph.graph.node if node.op_type == "MatMul"]
    del graph
    if ffn_only:
        matmuls = [name for name in matmuls if "/attention/" not in name]
    logging.disable(logging.WARNING)  # onnxruntime logs advice on pre-processing, meant for image models
    try:
        quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul"], nodes_to_quantize=matmuls,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    finally:
        logging.disable(logging.NOTSET)
    return Path(target)


def int8_graph(folder: Path) -> Path:
    """The int8 copy of ``folder``'s graph: built on first use (~8 s, same bytes every time), then reused.

    It lives in a sibling folder (``<folder>-int8``), since the encoder folder
    holds exactly the files its manifest records.  A record there names the
    source graph's sha256 and the copy's own; while the copy's size and mtime
    are unchanged it is trusted, otherwise it is hashed again, and rebuilt if
    it does not match (or if the source graph or the recipe changed).
    """
    from pipeline.classify.build_encoder import read_manifest, sha256_file

    home = folder.parent / f"{folder.name}-int8"
    graph, record_path = home / ONNX_FILE, home / INT8_RECORD
    wanted = {"recipe": INT8_RECIPE, "source_sha256": (read_manifest(folder) or {}).get("files", {}).get(ONNX_FILE)}
    record = read_record(record_path)
    if graph.is_file() and {k: record.get(k) for k in wanted} == wanted:
        if record.get("stat") == _stat(graph):
            return graph
        if sha256_file(graph) == record.get("sha256"):
            write_record(record_path, record | {"stat": _stat(graph)})
            return graph
    home.mkdir(parents=True, exist_ok=True)
    temp = home / f".{ONNX_FILE}.{os.getpid()}.tmp"
    try:
        quantise_int8(folder / ONNX_FILE, temp)
        lowest = float(int8_agreement(folder, temp).min())
        if lowest < MIN_INT8_AGREEMENT:  # e.g. another onnxruntime's quantiser: never code with a broken graph
            raise RuntimeError(f"{graph}: the int8 graph disagrees with the float32 one (lowest cosine "
                               f"{lowest:.3f} < {MIN_INT8_AGREEMENT}); use the default onnx backend")
        digest = sha256_file(temp)
        os.replace(temp, graph)
    finally:
        temp.unlink(missing_ok=True)
    write_record(record_path, wanted | {"sha256": digest, "stat": _stat(graph), "lowest_cosine": round(lowest, 6)})
    return graph


def int8_agreement(folder: Path, graph: Path) -> np.ndarray:
    """Per-sentence cosine between an int8 graph and the folder's float32 one, on the build's check sentences."""
    from pipeline.classify.build_encoder import CHECK_SENTENCES, PASSAGE_PROMPT

    texts = list(CHECK_SENTENCES)
    full = OnnxSentenceEncoder(folder, 1).encode(texts, prompt=PASSAGE_PROMPT)
    small = OnnxSentenceEncoder(folder, 1, graph).encode(texts, prompt=PASSAGE_PROMPT)
    return np.sum(full * small, axis=1)


def _stat(path: Path) -> list[int]:
    info = path.stat()
    return [info.st_size, info.st_mtime_ns]


def write_record(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` atomically (a read-only cache keeps working: the graph is then just hashed each time)."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        temp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        os.replace(temp, path)
    except OSError:
        temp.unlink(missing_ok=True)


# ------------------------------------------------------------------ run


def read_record(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or {} if absent or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def session_options(threads: int) -> Any:
    """ONNX Runtime options: ``threads`` intra-op threads, sequential execution, all graph optimisations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


class OnnxSentenceEncoder:
    """An exported encoder folder run by ONNX Runtime: texts -> L2-normalised float32 vectors.

    Tokenises with the folder's ``tokenizer.json`` and truncates to its
    ``max_seq_length`` as sentence-transformers does; ``graph`` is another
    graph of the same network (the int8 copy) instead of the folder's own.
    """

    def __init__(self, folder: Path, threads: int, graph: Path | None = None) -> None:
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.max_seq_length = int(read_record(folder / "sentence_bert_config.json").get("max_seq_length", 512))
        settings = read_record(folder / "config_sentence_transformers.json")
        self.prompts: dict[str, str] = dict(settings.get("prompts") or {})
        self.default_prompt_name = settings.get("default_prompt_name")
        self._dim = int(read_record(folder / "config.json").get("hidden_size", 0))
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=self.max_seq_length)  # counts the special tokens, as ST does
        self.tokenizer.no_padding()
        pad_id = self.tokenizer.token_to_id(str(read_record(folder / "tokenizer_config.json").get("pad_token", "")))
        self._pad_id = pad_id if pad_id is not None else 0
        self._start(graph or folder / ONNX_FILE, threads)

    def _start(self, graph: Path, threads: int) -> None:
        """Open ``graph`` in the runtime (ONNX Runtime here; subclasses run it elsewhere)."""
        import onnxruntime as ort

        self.session = ort.InferenceSession(str(graph), session_options(threads), providers=["CPUExecutionProvider"])

    def _batches(self, ids: Sequence[list[int]], batch_size: int) -> list[list[int]]:
        """Positions of ``ids`` in batches of ``batch_size``, longest first (little padding)."""
        order = sorted(range(len(ids)), key=lambda i: -len(ids[i]))
        return [order[start : start + batch_size] for start in range(0, len(order), batch_size)]

    def _pooled(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        """The graph's mean-pooled output for each padded (ids, mask) batch, in order."""
        return [self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0] for ids, mask in batches]

    def get_embedding_dimension(self) -> int:
        """Vector length."""
        return self._dim

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, special tokens included, truncated to ``max_seq_length``."""
        return [encoding.ids for encoding in self.tokenizer.encode_batch(list(texts))]

    def _batch_arrays(self, ids: Sequence[list[int]]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask, padded to the longest text of the batch."""
        width = max(len(row) for row in ids)
        padded = np.full((len(ids), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(ids), width), dtype=np.int64)
        for index, row in enumerate(ids):
            padded[index, : len(row)] = row
            mask[index, : len(row)] = 1
        return padded, mask

    def encode(self, texts: Sequence[str], prompt: str = "", batch_size: int = BATCH_SIZE,
               **_ignored: Any) -> np.ndarray:
        """Unit vectors (float32) for ``prompt + text`` of each text, in order; batches of similar token length."""
        ids = self.token_ids([prompt + text for text in texts])
        out = np.zeros((len(ids), self._dim), dtype=np.float32)
        batches = self._batches(ids, batch_size)
        pooled = self._pooled([self._batch_arrays([ids[i] for i in rows]) for rows in batches])
        for rows, vectors in zip(batches, pooled, strict=True):
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            out[rows] = vectors / np.where(norms == 0, 1.0, norms)
        return out
