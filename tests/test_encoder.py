"""The default offline encoder, its build, and the embedding cache (real model, no mocks).

The first run builds the default encoder into the wogcode cache (~15 s); later
runs reuse it. One loaded encoder is shared by the whole module.
"""

from __future__ import annotations

import shutil
import socket
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pipeline.classify import build_encoder
from pipeline.classify.embed_cache import EmbedCache, text_sha256
from pipeline.classify.encoder import Encoder, folder_checksum

PARAPHRASE = ("koordinasi antar instansi berjalan baik", "instansi-instansi saling berkoordinasi dengan lancar")
UNRELATED = "antrean online sering error karena jaringan internet lambat"
TEXTS = [
    "Pelayanan di MPP sudah terintegrasi dalam satu gedung.",
    "kalo sistemnya error ya kami gak bisa input data",
    "",
    "Gerai kosong " * 200,  # longer than max_seq_length: truncated, still one vector
]


REAL_CONNECT = socket.socket.connect


def refuse_connect(self: socket.socket, address: object) -> None:
    if self.family in (socket.AF_INET, socket.AF_INET6):
        raise AssertionError(f"the encoder tried the network: {address}")
    return REAL_CONNECT(self, address)


def refuse_lookup(host: object, *args: object, **kwargs: object) -> None:
    raise AssertionError(f"the encoder tried the network: looked up {host}")


@pytest.fixture(scope="module")
def encoder(tmp_path_factory: pytest.TempPathFactory) -> Encoder:
    """The default encoder, built (first run) and loaded with the network refused."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse_connect)
        patch.setattr(socket, "getaddrinfo", refuse_lookup)
        return Encoder.load(cache_dir=tmp_path_factory.mktemp("embeddings"))


@pytest.fixture
def fresh_cache(encoder: Encoder, tmp_path: Path):
    """Give the shared encoder an empty cache for one test, then restore the old one."""
    previous = encoder.cache
    encoder.cache = EmbedCache(tmp_path / "embeddings")
    yield encoder.cache
    encoder.cache.close()
    encoder.cache = previous


def test_default_encoder_identity(encoder: Encoder) -> None:
    manifest = build_encoder.read_manifest(build_encoder.default_encoder_dir())
    assert encoder.name == "multilingual-e5-small"
    assert encoder.dim == 384
    assert encoder.checksum == manifest["weights_sha256"]
    assert encoder.prompt == "passage: "


def test_vectors_are_float32_unit_rows_in_input_order(encoder: Encoder) -> None:
    vectors = encoder.encode(TEXTS)
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    reversed_vectors = encoder.encode(TEXTS[::-1])
    np.testing.assert_array_equal(reversed_vectors, vectors[::-1])
    assert encoder.encode([]).shape == (0, 384)


def test_paraphrase_is_nearer_than_unrelated_sentence(encoder: Encoder) -> None:
    first, paraphrase, unrelated = encoder.encode([*PARAPHRASE, UNRELATED])
    assert first @ paraphrase > first @ unrelated
    assert first @ paraphrase > paraphrase @ unrelated


def test_duplicates_are_encoded_once(encoder: Encoder, fresh_cache: EmbedCache) -> None:
    before = encoder.texts_encoded
    vectors = encoder.encode(["sama", "beda", "sama", "sama"])
    assert encoder.texts_encoded - before == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])


def test_cache_hit_returns_identical_vectors_without_encoding(encoder: Encoder, fresh_cache: EmbedCache) -> None:
    first = encoder.encode(TEXTS)
    calls = encoder.texts_encoded
    again = encoder.encode(TEXTS)
    assert encoder.texts_encoded == calls
    np.testing.assert_array_equal(again, first)
    # A new cache object on the same folder (as in a later run) sees the same entries.
    encoder.cache = EmbedCache(fresh_cache.folder)
    np.testing.assert_array_equal(encoder.encode(TEXTS), first)
    assert encoder.texts_encoded == calls


def test_corrupted_entry_is_dropped_and_recomputed(encoder: Encoder, fresh_cache: EmbedCache) -> None:
    texts = list(PARAPHRASE)
    original = encoder.encode(texts)
    tampered = (original[0] * -1.0).astype("<f4").tobytes()  # same size, wrong values
    with sqlite3.connect(fresh_cache.path) as db:
        db.execute("UPDATE vectors SET vector = ? WHERE text_sha256 = ?", (tampered, text_sha256(texts[0])))
    calls = encoder.texts_encoded
    recomputed = encoder.encode(texts)
    assert encoder.texts_encoded - calls == 1  # only the damaged entry
    assert fresh_cache.dropped == 1
    np.testing.assert_allclose(recomputed, original, atol=1e-5)
    encoder.encode(texts)
    assert encoder.texts_encoded - calls == 1  # the recomputed entry was stored again


def test_unreadable_cache_file_is_set_aside(encoder: Encoder, tmp_path: Path) -> None:
    folder = tmp_path / "embeddings"
    folder.mkdir()
    (folder / "embeddings.sqlite3").write_bytes(b"not a database at all" * 100)
    previous = encoder.cache
    encoder.cache = EmbedCache(folder)
    try:
        with pytest.warns(UserWarning, match="unreadable embedding cache"):
            vectors = encoder.encode(["pelayanan satu pintu"])
    finally:
        encoder.cache.close()
        encoder.cache = previous
    assert vectors.shape == (1, 384)
    assert list(folder.glob("embeddings.sqlite3.corrupt-*"))


def test_cache_rejects_entries_of_the_wrong_size(tmp_path: Path) -> None:
    with EmbedCache(tmp_path) as cache:
        cache.put_many("key", [("a" * 64, np.ones(8, dtype=np.float32))])
        assert cache.get_many("key", ["a" * 64], dim=384) == {}
        assert cache.dropped == 1 and cache.count() == 0


def test_encode_refuses_a_bare_string(encoder: Encoder) -> None:
    with pytest.raises(TypeError, match="sequence of texts"):
        encoder.encode("satu kalimat")


def test_building_twice_reuses_the_folder(encoder: Encoder) -> None:
    folder = build_encoder.default_encoder_dir()
    weights = folder / build_encoder.WEIGHTS_FILE
    inode = weights.stat().st_ino
    assert build_encoder.build_default_encoder() == folder
    assert weights.stat().st_ino == inode
    assert folder_checksum(folder) == encoder.checksum


def test_tampered_weights_fail_the_checksum_and_are_rebuilt(encoder: Encoder, tmp_path: Path) -> None:
    dest = tmp_path / "e5"
    shutil.copytree(build_encoder.default_encoder_dir(), dest)
    with open(dest / build_encoder.WEIGHTS_FILE, "r+b") as handle:
        handle.seek(100_000_000)
        handle.write(b"\xff" * 64)
    assert not build_encoder.is_intact(dest)
    assert build_encoder.build_default_encoder(dest) == dest
    assert build_encoder.is_intact(dest)
    assert build_encoder.read_manifest(dest)["weights_sha256"] == encoder.checksum
    assert not list(tmp_path.glob(".e5.*"))  # no temp or stale folders left behind


def test_a_local_folder_loads_by_path_with_its_weights_checksum(encoder: Encoder) -> None:
    folder = build_encoder.default_encoder_dir()
    by_path = Encoder.load(str(folder), use_cache=False)
    assert by_path.name == str(folder)
    assert by_path.checksum == encoder.checksum
    assert by_path.prompt == "passage: "
    # the same network (the default runs it in bfloat16 where the CPU has it: cosine ~0.99999, not bit-equal)
    assert float(np.sum(by_path.encode(PARAPHRASE) * encoder.encode(PARAPHRASE), axis=1).min()) >= 0.9999


def test_a_missing_folder_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no such encoder folder"):
        Encoder.load(str(tmp_path / "missing"))


def test_an_edited_config_file_fails_the_check(tmp_path: Path) -> None:
    source = build_encoder.default_encoder_dir()
    dest = tmp_path / "e5"
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns(build_encoder.WEIGHTS_FILE))
    (dest / build_encoder.WEIGHTS_FILE).symlink_to(source / build_encoder.WEIGHTS_FILE)
    assert build_encoder.is_intact(dest)
    pooling = dest / "1_Pooling" / "config.json"
    pooling.write_text(pooling.read_text().replace('"pooling_mode_max_tokens": false', '"pooling_mode_max_tokens": true'))
    assert not build_encoder.is_intact(dest)
