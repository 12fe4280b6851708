"""Model folders: save -> load round trip, and the refusals a researcher relies on."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.classify.embedding import EmbeddingCoder, default_encoder
from pipeline.classify.ensemble import EnsembleCoder
from pipeline.classify.lexicon import LexiconCoder
from pipeline.codebook import load_codebook
from pipeline.model_folder import FORMAT_VERSION, ModelFolderError
from pipeline.persist import load_model, npz_bytes, save_model

TEXTS = [
    ("Rapat koordinasi lintas instansi diadakan setiap bulan.", "koordinasi", "positive"),
    ("Koordinasi dengan dinas terkait masih lemah.", "koordinasi", "negative"),
    ("Layanan dari banyak instansi digabung dalam satu gedung.", "integrasi", "positive"),
    ("Sistem aplikasi antar instansi belum terintegrasi.", "integrasi", "negative"),
    ("Kelompok kerja MPP melibatkan semua instansi.", "kedekatan_pelibatan", "positive"),
    ("Instansi vertikal belum terlibat dalam struktur MPP.", "kedekatan_pelibatan", "negative"),
]
PROBES = [
    "Pimpinan memberi arahan dalam rapat koordinasi.",
    "Warga cukup datang ke satu tempat untuk semua urusan.",
    "Terima kasih, Pak.",
]


@pytest.fixture(scope="module")
def perry6():
    return load_codebook("perry6")


@pytest.fixture(scope="module")
def saved(tmp_path_factory, perry6):
    """An ensemble trained on six texts, saved once for the module."""
    texts, codes, valences = map(list, zip(*TEXTS))
    embedding = EmbeddingCoder(perry6, encoder=default_encoder()).fit(texts, codes, valences)
    coder = EnsembleCoder(embedding, LexiconCoder(perry6), weight=0.8)
    folder = tmp_path_factory.mktemp("models") / "perry6_test"
    save_model(coder, folder, {"n_examples": len(TEXTS)}, created="2025-06-01")
    return coder, folder


@pytest.fixture
def copy(saved, tmp_path):
    """A scratch copy of the saved folder that a test may damage."""
    target = tmp_path / "model"
    shutil.copytree(saved[1], target)
    return target


def test_round_trip_gives_identical_predictions(saved, perry6):
    coder, folder = saved
    loaded = load_model(folder, perry6)
    before, after = coder.explain(PROBES), loaded.explain(PROBES)
    assert [(p.code, p.valence, p.scores, p.neighbours) for p in before] == [
        (p.code, p.valence, p.scores, p.neighbours) for p in after
    ]
    for b, a in zip(before, after):
        assert a.score == pytest.approx(b.score, abs=1e-3)  # float16 neighbours do not touch scores


def test_folder_holds_json_npz_and_card_only(saved):
    _, folder = saved
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "arrays.npz", "manifest.json", "training.json"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["codebook"]["id"] == "perry6" and manifest["kind"] == "ensemble"
    assert manifest["arrays"]["coef"]["shape"] == [3, 384]
    with np.load(folder / "arrays.npz", allow_pickle=False) as arrays:
        assert arrays["train_embeddings"].dtype == np.float16


def test_saving_twice_gives_identical_bytes(saved, tmp_path):
    coder, folder = saved
    again = save_model(coder, tmp_path / "perry6_test", {"n_examples": len(TEXTS)}, created="2025-06-01")
    for name in ("arrays.npz", "manifest.json", "training.json", "README.md"):
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name


def test_load_without_codebook_uses_the_shipped_one(saved):
    assert load_model(saved[1]).codebook.id == "perry6"


def test_refuses_another_codebook(saved):
    with pytest.raises(ModelFolderError, match=r"model was trained for perry6@\w+ .*you asked for tamtanus@"):
        load_model(saved[1], load_codebook("tamtanus"))


def test_refuses_a_pickle_file(copy, perry6):
    (copy / "head.pkl").write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(ModelFolderError, match=r"model: refusing to load: 'head.pkl' is a pickle file"):
        load_model(copy, perry6)


def test_refuses_a_tampered_array_shape(copy, perry6):
    with np.load(copy / "arrays.npz", allow_pickle=False) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["coef"] = arrays["coef"][:2]
    (copy / "arrays.npz").write_bytes(npz_bytes(arrays))
    with pytest.raises(ModelFolderError, match=r"array 'coef' is float64\[2, 384\], the manifest says float64\[3, 384\]"):
        load_model(copy, perry6)


def test_refuses_a_manifest_shape_that_disagrees_with_the_codebook(copy, perry6):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["arrays"]["coef"]["shape"] = [2, 384]
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match="array 'coef'"):
        load_model(copy, perry6)


def test_refuses_file_names_leaving_the_folder(copy, perry6):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["training_texts"] = "../../etc/passwd"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match="leaves the model folder"):
        load_model(copy, perry6)


def test_refuses_an_unknown_format_version(copy, perry6):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["format_version"] = 99
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match="unknown model format_version 99"):
        load_model(copy, perry6)


def test_refuses_another_encoder(copy, perry6):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["encoder"]["checksum"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match="encoder checksum mismatch"):
        load_model(copy, perry6)


def test_the_neighbour_vote_is_saved_restored_and_checked(saved, copy, perry6, tmp_path):
    coder = saved[0]
    coder.embedding.set_params(neighbour_vote=0.5)
    try:
        folder = save_model(coder, tmp_path / "voting", created="2025-06-01")
    finally:
        coder.embedding.set_params(neighbour_vote=0.0)
    loaded = load_model(folder, perry6)
    assert loaded.embedding.neighbour_vote == 0.5
    assert not np.allclose(loaded.predict_proba(PROBES), load_model(saved[1], perry6).predict_proba(PROBES))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["embedding"]["params"]["neighbour_vote"] = "a lot"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ModelFolderError, match="neighbour_vote must be a number from 0 to 1"):
        load_model(copy, perry6)


def test_a_training_text_labelled_outside_the_codebook_is_refused(copy, perry6):
    texts = json.loads((copy / "training.json").read_text())
    texts["codes"][0] = "not_a_code"
    (copy / "training.json").write_text(json.dumps(texts))
    with pytest.raises(ModelFolderError, match="labels a text 'not_a_code', which is not a code of perry6"):
        load_model(copy, perry6)


def test_a_missing_file_is_refused_before_the_encoder_is_loaded(copy, perry6, monkeypatch):
    import pipeline.persist as persist

    def no_encoder(*_args):
        raise AssertionError("the encoder was loaded before the folder's files were checked")

    monkeypatch.setattr(persist, "_matching_encoder", no_encoder)
    (copy / "arrays.npz").unlink()
    with pytest.raises(ModelFolderError, match="arrays.npz"):
        load_model(copy, perry6)


def test_the_abstention_mode_is_saved_and_restored(saved, perry6):
    manifest = json.loads((saved[1] / "manifest.json").read_text())
    assert manifest["embedding"]["params"]["abstention"] == saved[0].embedding.abstention
    assert load_model(saved[1], perry6).embedding.abstention == saved[0].embedding.abstention


def test_a_retrained_model_never_reuses_cached_codings(copy, perry6):
    from pipeline.fingerprint import coding_fingerprint
    from pipeline.persist import folder_fingerprint

    before = load_model(copy, perry6)
    assert before.fingerprint_.startswith(folder_fingerprint(copy) + "-")  # then the encoder's vectors
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["created"] = "2030-01-01"  # what retraining under the same name changes, at the least
    (copy / "manifest.json").write_text(json.dumps(manifest))
    after = load_model(copy, perry6)
    assert after.model_id == before.model_id  # the name a researcher sees stays
    assert coding_fingerprint(after) != coding_fingerprint(before)  # the cache key does not


def test_the_identity_read_without_loading_changes_with_the_folder_and_the_encoder_backend(copy, perry6,
                                                                                          monkeypatch):
    """What `wogcode run` compares to say 'up to date' changes whenever the codings could."""
    from pipeline.classify.encoder import BACKEND_ENV
    from pipeline.model_folder import model_identity

    monkeypatch.setenv(BACKEND_ENV, "onnx")
    first = model_identity(copy, perry6)
    assert first is not None and first.startswith("ensemble:model:")
    assert model_identity(copy, perry6) == first  # deterministic
    monkeypatch.setenv(BACKEND_ENV, "onnx-int8")
    assert model_identity(copy, perry6) != first  # another network, other vectors
    monkeypatch.setenv(BACKEND_ENV, "onnx")
    (copy / "README.md").write_text("retrained\n", encoding="utf-8")
    assert model_identity(copy, perry6) != first  # any file of the folder


def test_the_identity_checks_the_folder_and_leaves_encoder_mismatches_to_loading(copy, perry6):
    from pipeline.classify.registry import model_identity as registry_identity
    from pipeline.model_folder import model_identity

    with pytest.raises(ModelFolderError, match="model was trained for perry6"):
        model_identity(copy, load_codebook("tamtanus"))
    (copy / "head.pkl").write_bytes(b"\x80\x04")
    with pytest.raises(ModelFolderError, match="is a pickle file"):
        model_identity(copy, perry6)
    (copy / "head.pkl").unlink()
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["encoder"]["checksum"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    assert model_identity(copy, perry6) is None  # only loading can say what is wrong...
    with pytest.raises(ModelFolderError, match="encoder checksum mismatch"):
        registry_identity(str(copy), "perry6")  # ...and it does
