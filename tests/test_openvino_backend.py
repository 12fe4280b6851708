"""The default encoder under OpenVINO: float32 ONNX Runtime's vectors to cosine >= 0.999, from a checked cache."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.classify import openvino_backend
from pipeline.classify.encoder import BACKEND_ENV, Encoder, backend_variant, default_backend
from pipeline.classify.openvino_backend import RECORD, load_openvino, native_precision
from pipeline.paths import REPO_ROOT
from pipeline.persist import load_model
from tests.test_onnx_backend import DEV_GOLD, TEXTS, linked_encoder, shipped_gold_macro_f1


@pytest.fixture(scope="module")
def float32() -> Encoder:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BACKEND_ENV, "onnx")
        return Encoder.load(None, use_cache=False)


def test_openvino_vectors_agree_with_float32_onnx_runtime(float32: Encoder, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "openvino")
    openvino = Encoder.load(None, use_cache=False)
    assert openvino.backend == f"openvino-{native_precision()}"
    a, b = openvino.encode(TEXTS), float32.encode(TEXTS)
    assert a.dtype == np.float32 and a.shape == b.shape
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.sum(a * b, axis=1).min()) >= 0.999
    assert np.array_equal(openvino.encode(TEXTS), a)  # deterministic
    assert openvino.cache_key != float32.cache_key  # bfloat16 vectors never mix with float32 ones in the cache
    marked = load_model(REPO_ROOT / "models" / "perry6").model_id.endswith("+openvino-bf16")
    assert marked == (openvino.backend == "openvino-bf16")  # every coding on bfloat16 vectors says so


def test_on_a_cpu_without_bfloat16_openvino_runs_float32_and_codings_carry_no_suffix(
        tmp_path: Path, float32: Encoder, monkeypatch):
    monkeypatch.setattr(openvino_backend, "native_precision", lambda: "f32")
    monkeypatch.setenv(BACKEND_ENV, "openvino")
    assert backend_variant(default_backend()) == "openvino-f32"
    model = load_openvino(linked_encoder(tmp_path / "e5"), 2)  # its compiled cache goes to tmp_path
    np.testing.assert_allclose(model.encode(TEXTS), float32.model.encode(TEXTS), atol=1e-5)
    assert not load_model(REPO_ROOT / "models" / "perry6").model_id.endswith("+openvino-f32")  # lossless: no mark


def test_the_compiled_graph_is_cached_and_a_damaged_cache_is_recompiled(tmp_path: Path, float32: Encoder):
    dest = linked_encoder(tmp_path / "e5")
    precision = native_precision()
    first = load_openvino(dest, 2, precision).encode(TEXTS)
    cache = tmp_path / "e5-openvino" / precision
    blobs = list(cache.iterdir())
    assert blobs and (tmp_path / "e5-openvino" / RECORD).is_file()
    for blob in blobs:  # garbage in place of OpenVINO's compiled graph
        blob.chmod(0o600)
        blob.write_bytes(b"\x00" * 4096)
    again = load_openvino(dest, 2, precision).encode(TEXTS)
    assert float(np.sum(again * first, axis=1).min()) >= 0.9999
    assert float(np.sum(again * float32.model.encode(TEXTS), axis=1).min()) >= 0.999  # no prompt on either


def test_a_cache_folder_that_cannot_be_written_only_costs_the_compile(tmp_path: Path, float32: Encoder):
    (tmp_path / "not-a-folder").write_text("")
    model = openvino_backend.OpenVinoSentenceEncoder(linked_encoder(tmp_path / "e5"), 2, native_precision(),
                                                     tmp_path / "not-a-folder" / "cache")
    assert float(np.sum(model.encode(TEXTS) * float32.model.encode(TEXTS), axis=1).min()) >= 0.999


def test_vectors_that_disagree_with_float32_are_refused(tmp_path: Path):
    dest = linked_encoder(tmp_path / "e5")
    load_openvino(dest, 2)  # writes the record of float32 reference vectors
    record_path = tmp_path / "e5-openvino" / RECORD
    record = json.loads(record_path.read_text())
    record["vectors"] = (-np.asarray(record["vectors"])).tolist()  # stands in for a graph computing garbage
    record_path.write_text(json.dumps(record))
    with pytest.raises(RuntimeError, match="disagree with float32 ONNX Runtime's"):
        load_openvino(dest, 2)


@pytest.mark.skipif(not DEV_GOLD.is_file(), reason="../shared/gold/dev.jsonl is not present")
def test_openvino_costs_the_shipped_models_at_most_0_01_gold_macro_f1(float32: Encoder, monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "openvino")
    assert shipped_gold_macro_f1(Encoder.load(None, use_cache=False)) >= shipped_gold_macro_f1(float32) - 0.01


def test_coding_jobs_in_threads_share_one_openvino_encoder(monkeypatch):
    """The run codes jobs in worker threads; an OpenVINO infer request serves one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setenv(BACKEND_ENV, "openvino")
    encoder = Encoder.load(None, use_cache=False)
    jobs = [[f"{text} ({i})" for text in TEXTS] for i in range(6)]
    alone = [encoder.encode(job) for job in jobs]
    with ThreadPoolExecutor(3) as pool:
        together = list(pool.map(encoder.encode, jobs))
    assert all(np.array_equal(a, b) for a, b in zip(alone, together, strict=True))


def test_a_text_gets_the_same_vector_whatever_it_is_encoded_with(monkeypatch):
    """No padding in bfloat16 batches: a run's vectors do not depend on what the embedding cache already held."""
    monkeypatch.setenv(BACKEND_ENV, "openvino")
    encoder = Encoder.load(None, use_cache=False)
    texts = [f"Koordinasi {'antar instansi ' * (k % 7)}di MPP {'sudah ' * (k % 3)}jalan, kata informan {k}."
             for k in range(40)]
    together = encoder.encode(texts)
    alone = np.vstack([encoder.encode([text]) for text in texts])
    assert np.array_equal(together, alone)
