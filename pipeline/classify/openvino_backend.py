"""Run the default encoder's ONNX graph with OpenVINO, in bfloat16 where the CPU computes it natively.

OpenVINO reads the same ``model.onnx`` that ONNX Runtime runs
(:mod:`pipeline.classify.onnx_backend`). On CPUs with native bfloat16
(AVX512-BF16 or AMX), its matrix products run in bfloat16 with float32
accumulation: about twice as fast on 2 cores, with vectors within cosine
~0.99999 of float32 (int8 reaches ~0.99). Elsewhere it runs in float32,
like ONNX Runtime. Batches run in OpenVINO's throughput mode (one stream per
core) and hold texts of one token length only, so no text is padded and its
vector depends on nothing but the text. Measured in the README (Models, Speed).

Compiling the graph takes ~3-4 s, so OpenVINO's own compile cache is kept in
a sibling folder (``<encoder folder>-openvino``); loading from it takes
~0.3 s. A cache is never trusted blindly: every load encodes the build's
check sentences and compares them with float32 vectors recorded beside the
cache (computed once with ONNX Runtime); a disagreement clears the cache and
compiles afresh, and a fresh graph that still disagrees is refused.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.classify.onnx_backend import ONNX_FILE, OnnxSentenceEncoder, read_record, write_record

RECORD = "openvino.json"
#: Lowest cosine allowed between OpenVINO's vectors and float32 ONNX Runtime's on the check sentences.
MIN_AGREEMENT = 0.999


def openvino_installed() -> bool:
    """Whether the ``openvino`` package can be imported."""
    from importlib.util import find_spec

    return find_spec("openvino") is not None


@lru_cache(maxsize=1)
def native_precision() -> str:
    """``bf16`` when the CPU has native bfloat16 arithmetic (as OpenVINO reports it), else ``f32``."""
    import openvino as ov

    capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    return "bf16" if "BF16" in capabilities else "f32"


class OpenVinoSentenceEncoder(OnnxSentenceEncoder):
    """The encoder folder's ONNX graph compiled by OpenVINO for the CPU, in ``precision`` (``bf16`` or ``f32``)."""

    def __init__(self, folder: Path, threads: int, precision: str, cache: Path | None = None) -> None:
        self.precision = precision
        self._cache = cache
        super().__init__(folder, threads)

    def _start(self, graph: Path, threads: int) -> None:
        import openvino as ov

        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "THROUGHPUT",
                                  "INFERENCE_PRECISION_HINT": self.precision}
        try:
            cached = config | ({"CACHE_DIR": str(self._cache)} if self._cache is not None else {})
            compiled = ov.Core().compile_model(str(graph), "CPU", cached)
        except RuntimeError:
            if self._cache is None:
                raise
            compiled = ov.Core().compile_model(str(graph), "CPU", config)  # an unwritable cache: compile each time
        # Throughput mode runs several streams (2 of 1 thread each on 2 cores), each on its own batch:
        # 5-25% faster here than one stream of 2 threads, with bit-identical vectors (README, Models).
        self._queue = ov.AsyncInferQueue(compiled, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self._busy = threading.Lock()  # one caller at a time drives the queue (coding jobs run in threads)

    def _batches(self, ids: Sequence[list[int]], batch_size: int) -> list[list[int]]:
        """Batches of texts of exactly one token length: no padding, so a text's bfloat16 vector never depends
        on the texts it is encoded with (padding moved vectors by up to ~2e-3), nor on what the cache held."""
        by_length: dict[int, list[int]] = {}
        for index in sorted(range(len(ids)), key=lambda i: -len(ids[i])):
            by_length.setdefault(len(ids[index]), []).append(index)
        return [same[start : start + batch_size] for same in by_length.values()
                for start in range(0, len(same), batch_size)]

    def _pooled(self, batches: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
        pooled: list[np.ndarray | None] = [None] * len(batches)

        def done(request: Any, index: int) -> None:  # a copy: the request reuses its output buffer
            pooled[index] = np.array(request.get_output_tensor(0).data, dtype=np.float32)

        with self._busy:
            self._queue.set_callback(done)
            for index, (ids, mask) in enumerate(batches):
                self._queue.start_async({"input_ids": ids, "attention_mask": mask}, index)
            self._queue.wait_all()
        if any(vectors is None for vectors in pooled):
            raise RuntimeError("OpenVINO returned no vectors for a batch")
        return pooled  # type: ignore[return-value]


def load_openvino(folder: Path, threads: int, precision: str | None = None) -> OpenVinoSentenceEncoder:
    """The folder's graph under OpenVINO, compiled from its checked cache when it can be (see the module doc)."""
    precision = precision or native_precision()
    home = folder.parent / f"{folder.name}-openvino"
    reference = _reference_vectors(folder, home)
    cache = _cache_dir(home, precision)
    encoder = OpenVinoSentenceEncoder(folder, threads, precision, cache)
    if _agreement(encoder, reference) >= MIN_AGREEMENT:
        return encoder
    if cache is not None:  # a damaged or stale compiled blob: compile afresh
        shutil.rmtree(cache, ignore_errors=True)
        cache = _cache_dir(home, precision)
    encoder = OpenVinoSentenceEncoder(folder, threads, precision, cache)
    lowest = _agreement(encoder, reference)
    if lowest < MIN_AGREEMENT:
        raise RuntimeError(f"{folder}: OpenVINO's {precision} vectors disagree with float32 ONNX Runtime's (lowest "
                           f"cosine {lowest:.5f} < {MIN_AGREEMENT}); use the onnx backend")
    return encoder


def _cache_dir(home: Path, precision: str) -> Path | None:
    """Where OpenVINO keeps this precision's compiled graph; None (no cache) if it cannot be created."""
    target = home / precision
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return target


def _reference_vectors(folder: Path, home: Path) -> np.ndarray:
    """float32 ONNX Runtime vectors of the check sentences, recorded once per source graph."""
    from pipeline.classify.build_encoder import CHECK_SENTENCES, PASSAGE_PROMPT, read_manifest

    source = (read_manifest(folder) or {}).get("files", {}).get(ONNX_FILE)
    record = read_record(home / RECORD)
    if record.get("source_sha256") == source and record.get("vectors"):
        return np.asarray(record["vectors"], dtype=np.float32)
    vectors = OnnxSentenceEncoder(folder, 1).encode(list(CHECK_SENTENCES), prompt=PASSAGE_PROMPT)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError:
        return vectors
    write_record(home / RECORD, {"source_sha256": source, "vectors": vectors.tolist()})
    return vectors


def _agreement(encoder: OpenVinoSentenceEncoder, reference: np.ndarray) -> float:
    """Lowest cosine between ``encoder``'s check-sentence vectors and the float32 ones."""
    from pipeline.classify.build_encoder import CHECK_SENTENCES, PASSAGE_PROMPT

    vectors = encoder.encode(list(CHECK_SENTENCES), prompt=PASSAGE_PROMPT)
    return float(np.sum(vectors * reference, axis=1).min())
