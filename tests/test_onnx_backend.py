"""The default encoder under ONNX Runtime gives torch's vectors and torch's predictions, faster."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from pipeline.classify import build_encoder, openvino_backend
from pipeline.classify.encoder import BACKEND_ENV, Encoder, default_backend
from pipeline.classify.onnx_backend import INT8_RECORD, int8_graph
from pipeline.evaluate import evaluate
from pipeline.gold import read_gold
from pipeline.persist import load_model
from pipeline.paths import REPO_ROOT

DEV_GOLD = REPO_ROOT.parent / "shared" / "gold" / "dev.jsonl"
TEXTS = [
    "Iya.",
    "",
    "Koordinasi antar instansi di MPP sudah rutin lewat rapat bulanan.",
    "Datanya BPJS sama Dukcapil belum nyambung, jadi warga masih bolak-balik ke kantor cabang.",
    "Layanan terintegrasi " * 200,  # far over the 256-token cap: truncated the same way
]


@pytest.fixture(scope="module")
def encoders():
    """The default encoder under each backend, without the embedding cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BACKEND_ENV, "onnx")
        onnx = Encoder.load(None, use_cache=False)
        patch.setenv(BACKEND_ENV, "torch")
        torch = Encoder.load(None, use_cache=False)
    return onnx, torch


def test_onnx_vectors_equal_torch_vectors(encoders):
    onnx, torch = encoders
    assert (onnx.backend, torch.backend) == ("onnx", "torch")
    a, b = onnx.encode(TEXTS), torch.encode(TEXTS)
    assert a.dtype == np.float32 and a.shape == b.shape == (len(TEXTS), 384)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert float(np.sum(a * b, axis=1).min()) >= 0.9999


def test_onnx_tokenises_and_truncates_like_sentence_transformers(encoders):
    onnx, torch = encoders
    texts = [onnx.prompt + text for text in TEXTS]
    batch = torch.model.tokenize(texts)
    expected = [[int(i) for i, keep in zip(ids, mask, strict=True) if keep]
                for ids, mask in zip(batch["input_ids"].tolist(), batch["attention_mask"].tolist(), strict=True)]
    assert onnx.model.token_ids(texts) == expected
    assert max(map(len, expected)) == onnx.model.max_seq_length == 256


def test_backends_never_share_cache_entries(encoders):
    onnx, torch = encoders
    assert onnx.cache_key != torch.cache_key
    assert onnx.checksum == torch.checksum  # the same weights: models trained under one load under the other


@pytest.mark.skipif(not DEV_GOLD.is_file(), reason="../shared/gold/dev.jsonl is not present")
def test_the_shipped_models_predict_the_same_under_both_backends(encoders):
    onnx, torch = encoders
    records = read_gold(DEV_GOLD)
    for framework in sorted({r.framework for r in records}):
        texts = [r.text for r in records if r.framework == framework]
        coder = load_model(REPO_ROOT / "models" / framework)
        coder.embedding.encoder = onnx
        by_onnx = coder.predict(texts)
        coder.embedding.encoder = torch
        assert list(coder.predict(texts)) == list(by_onnx), framework


def test_the_backend_can_be_forced_and_a_wrong_name_is_one_line(monkeypatch):
    monkeypatch.setenv(BACKEND_ENV, "torch")
    assert default_backend() == "torch"
    monkeypatch.setenv(BACKEND_ENV, "tensorflow")
    with pytest.raises(ValueError, match="WOGCODE_ENCODER_BACKEND='tensorflow': use one of onnx, onnx-int8, openvino, "
                                         "torch"):
        default_backend()
    monkeypatch.delenv(BACKEND_ENV)
    assert default_backend() == "openvino"
    monkeypatch.setattr(openvino_backend, "openvino_installed", lambda: False)
    assert default_backend() == "onnx"  # without OpenVINO: float32 under ONNX Runtime
    monkeypatch.setenv(BACKEND_ENV, "openvino")
    with pytest.raises(ValueError, match="WOGCODE_ENCODER_BACKEND=openvino: openvino is not installed"):
        default_backend()


def test_a_damaged_onnx_file_fails_the_check_and_is_re_exported_alone(tmp_path: Path):
    source = build_encoder.default_encoder_dir()
    dest = tmp_path / "e5"
    dest.mkdir()
    for path in source.iterdir():
        if path.name == "model.onnx":
            shutil.copyfile(path, dest / path.name)
        elif path.is_file() and not path.name.startswith("."):
            (dest / path.name).symlink_to(path)
        elif path.is_dir():
            shutil.copytree(path, dest / path.name)
    assert build_encoder.is_intact(dest)
    assert json.loads((dest / build_encoder.VERIFIED_STAMP).read_text())["files"]["model.onnx"]
    with open(dest / "model.onnx", "r+b") as handle:
        handle.seek(1_000_000)
        handle.write(b"\x00" * 32)
    assert not build_encoder.is_intact(dest)
    assert build_encoder.damaged_files(dest) == {"model.onnx"}
    assert build_encoder.build_default_encoder(dest) == dest  # re-exports the graph, keeps the rest
    assert build_encoder.is_intact(dest)
    assert (dest / "model.safetensors").is_symlink()  # no full rebuild
    manifest = build_encoder.read_manifest(dest)
    assert build_encoder.sha256_file(dest / "model.onnx") == manifest["files"]["model.onnx"]
    assert not list(dest.glob(".model.onnx*"))  # no temp files left behind


# ------------------------------------------------------------ the opt-in int8 graph


@pytest.fixture(scope="module")
def int8_encoder():
    """The default encoder on the int8 copy of its graph, without the embedding cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(BACKEND_ENV, "onnx-int8")
        return Encoder.load(None, use_cache=False)


def test_int8_vectors_are_close_to_float32_but_never_share_its_cache(encoders, int8_encoder):
    onnx, _ = encoders
    assert int8_encoder.backend == "onnx-int8"
    a, b = onnx.encode(TEXTS), int8_encoder.encode(TEXTS)
    cosines = np.sum(a * b, axis=1)
    assert float(cosines.min()) >= 0.97
    assert float(cosines.min()) < 0.9999  # a different graph: its vectors must not pass for float32 ones
    assert int8_encoder.cache_key != onnx.cache_key
    assert int8_encoder.checksum == onnx.checksum  # the shipped models load on it


def shipped_gold_macro_f1(encoder: Encoder) -> float:
    """Macro-F1 of the shipped models on the dev gold file, every model on ``encoder``."""
    def coder(book):
        loaded = load_model(REPO_ROOT / "models" / book.id)
        loaded.embedding.encoder = encoder
        return loaded

    return evaluate(read_gold(DEV_GOLD), coder).overall.macro_f1


@pytest.mark.skipif(not DEV_GOLD.is_file(), reason="../shared/gold/dev.jsonl is not present")
def test_int8_costs_the_shipped_models_at_most_0_01_gold_macro_f1(encoders, int8_encoder):
    assert shipped_gold_macro_f1(int8_encoder) >= shipped_gold_macro_f1(encoders[0]) - 0.01


def test_switching_to_int8_changes_the_coding_fingerprint_and_every_coding_says_so(monkeypatch):
    """Cached codings and 'up to date' runs of the float32 encoder are never reused for int8 (or back)."""
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    float32 = load_model(REPO_ROOT / "models" / "perry6")
    monkeypatch.setenv(BACKEND_ENV, "onnx-int8")
    int8 = load_model(REPO_ROOT / "models" / "perry6")
    assert float32.fingerprint_ != int8.fingerprint_
    assert float32.fingerprint_.split("-")[0] == int8.fingerprint_.split("-")[0]  # the same model folder
    assert int8.model_id == float32.model_id + "+onnx-int8"  # the model column of every unit row


def linked_encoder(dest: Path) -> Path:
    """A folder of symlinks to the built encoder's files (its sibling ``-int8`` folder is then a temp one)."""
    dest.mkdir()
    for path in build_encoder.default_encoder_dir().iterdir():
        if not path.name.startswith("."):
            (dest / path.name).symlink_to(path)
    return dest


def test_the_int8_graph_is_built_once_and_rebuilt_the_same_when_damaged(tmp_path: Path):
    dest = linked_encoder(tmp_path / "e5")
    graph = int8_graph(dest)
    assert graph == tmp_path / "e5-int8" / "model.onnx" and not (dest / "e5-int8").exists()
    record = json.loads((graph.parent / INT8_RECORD).read_text())
    assert build_encoder.sha256_file(graph) == record["sha256"]
    built = graph.stat().st_mtime_ns
    assert int8_graph(dest) == graph and graph.stat().st_mtime_ns == built  # reused, not rebuilt
    with open(graph, "r+b") as handle:
        handle.seek(2_000_000)
        handle.write(b"\x00" * 32)
    assert int8_graph(dest) == graph
    assert build_encoder.sha256_file(graph) == record["sha256"]  # rebuilt: the same bytes as before
    assert not list(graph.parent.glob(".model.onnx*"))


def test_an_int8_graph_that_disagrees_with_float32_is_refused_and_not_kept(tmp_path: Path, monkeypatch):
    from pipeline.classify import onnx_backend

    dest = linked_encoder(tmp_path / "e5")
    monkeypatch.setattr(onnx_backend, "MIN_INT8_AGREEMENT", 1.5)  # no graph can pass: stands in for a broken one
    with pytest.raises(RuntimeError, match="the int8 graph disagrees with the float32 one"):
        int8_graph(dest)
    assert not list((tmp_path / "e5-int8").iterdir())  # neither the graph nor a temp file nor a record
