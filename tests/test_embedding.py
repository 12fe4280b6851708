"""The embedding coder and ensemble on the real default encoder (e5-small, offline)."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.classify.embedding import EmbeddingCoder, default_encoder
from pipeline.classify.ensemble import EnsembleCoder
from pipeline.classify.lexicon import LexiconCoder
from pipeline.codebook import load_codebook
from pipeline.schema import UNCODED
from pipeline.train import heading_code, heading_table

COORDINATION = "Rapat koordinasi antar instansi digelar setiap bulan untuk bertukar informasi dan menyamakan langkah."

#: A few labelled texts, two per code, as a researcher would correct them.
LABELLED = [
    ("Kepala dinas memimpin rapat koordinasi dengan semua instansi tiap bulan.", "koordinasi", "positive"),
    ("Komunikasi antar instansi masih kurang karena jarang ada rapat bersama.", "koordinasi", "negative"),
    ("Semua layanan perizinan kini berada dalam satu gedung MPP.", "integrasi", "positive"),
    ("Aplikasi pelayanan tiap instansi masih terpisah dan belum terintegrasi.", "integrasi", "negative"),
    ("Dibentuk kelompok kerja bersama yang melibatkan seluruh tenant MPP.", "kedekatan_pelibatan", "positive"),
    ("Struktur organisasi MPP belum melibatkan instansi vertikal secara penuh.", "kedekatan_pelibatan", "negative"),
]


@pytest.fixture(scope="module")
def perry6():
    return load_codebook("perry6")


@pytest.fixture(scope="module")
def encoder():
    return default_encoder()


@pytest.fixture(scope="module")
def trained(perry6, encoder) -> EmbeddingCoder:
    texts, codes, valences = zip(*LABELLED)
    return EmbeddingCoder(perry6, encoder=encoder).fit(list(texts), list(codes), list(valences))


def test_zero_shot_codes_an_obvious_coordination_sentence(perry6, encoder):
    coder = EmbeddingCoder(perry6, encoder=encoder)
    prediction = coder.explain([COORDINATION])[0]
    assert prediction.code == "koordinasi"
    assert max(prediction.scores, key=prediction.scores.get) == "koordinasi"


def test_zero_shot_leaves_small_talk_uncoded(perry6, encoder):
    assert list(EmbeddingCoder(perry6, encoder=encoder).predict(["Oke.", "Selamat pagi, Bu."])) == [UNCODED, UNCODED]


def test_trained_head_predicts_its_training_texts_back(trained):
    texts, codes, _ = zip(*LABELLED)
    assert list(trained.predict(list(texts))) == list(codes)
    assert trained.coef_.shape == (3, trained.get_encoder().dim)


def test_evidence_lists_three_nearest_training_examples(trained):
    prediction = trained.explain([COORDINATION])[0]
    assert len(prediction.neighbours) == 3
    first = prediction.neighbours[0]
    assert first["code"] == "koordinasi" and first["text"] in {t for t, _, _ in LABELLED}
    similarities = [n["similarity"] for n in prediction.neighbours]
    assert similarities == sorted(similarities, reverse=True)
    assert set(prediction.scores) == {"koordinasi", "integrasi", "kedekatan_pelibatan"}


def test_probabilities_are_over_codes_then_uncoded(trained):
    proba = trained.predict_proba([COORDINATION, "Semua layanan dalam satu gedung."])
    assert proba.shape == (2, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(trained.classes_)[-1] == UNCODED


def test_the_nearest_training_texts_vote_by_similarity(trained):
    """A close paraphrase of a training text gets most of the vote for that text's code."""
    paraphrase = "Kepala dinas memimpin rapat koordinasi bersama semua instansi setiap bulan."
    vectors = trained.embed([paraphrase, COORDINATION])
    votes = trained.vote_proba(vectors)
    np.testing.assert_allclose(votes.sum(axis=1), 1.0, atol=1e-9)
    assert list(trained.classes_[votes.argmax(axis=1)]) == ["koordinasi", "koordinasi"]
    assert votes[0, list(trained.classes_).index("koordinasi")] > 0.5
    head = trained.proba_from_embeddings(vectors)  # neighbour_vote 0: the head alone
    trained.set_params(neighbour_vote=0.5)
    try:
        np.testing.assert_allclose(trained.proba_from_embeddings(vectors), (head + votes) / 2, atol=1e-9)
    finally:
        trained.set_params(neighbour_vote=0.0)


def test_fit_refuses_labels_outside_the_codebook(perry6, encoder):
    with pytest.raises(ValueError, match="'sinkronisasi' is not a code of 'perry6'"):
        EmbeddingCoder(perry6, encoder=encoder).fit(["a", "b"], ["koordinasi", "sinkronisasi"])


def test_ensemble_merges_keywords_and_neighbours(perry6, trained):
    coder = EnsembleCoder(trained, LexiconCoder(perry6), weight=0.5)
    prediction = coder.explain(["Koordinasi antar instansi belum berjalan baik karena jarang rapat."])[0]
    assert prediction.code == "koordinasi"
    assert any(term["code"] == "koordinasi" for term in prediction.terms)
    assert len(prediction.neighbours) == 3
    assert prediction.valence == "negative"


def test_a_valence_from_the_head_says_so_next_to_what_the_cues_say(perry6, trained):
    coder = EnsembleCoder(trained, LexiconCoder(perry6), weight=0.5, valence_source="embedding")
    prediction = coder.explain(["Koordinasi antar instansi belum berjalan baik karena jarang rapat."])[0]
    assert f"valence {prediction.valence} by the valence head (" in prediction.reason
    assert prediction.reason.endswith("the cues say negative)")
    assert prediction.valence_cues  # the lexicon's cues stay in the evidence


def test_the_valence_head_also_learns_from_texts_coded_in_other_codebooks(perry6, encoder):
    texts, codes, _ = zip(*LABELLED)
    elsewhere = [
        ("Warga cukup datang sekali, semua berkas selesai di satu tempat.", "positive"),
        ("Antrean sekarang cepat dan petugasnya ramah.", "positive"),
        ("Server sering down sehingga warga harus kembali besok.", "negative"),
        ("Petugas gerai sering kosong, warga menunggu lama.", "negative"),
    ]
    coder = EmbeddingCoder(perry6, encoder=encoder).fit(
        list(texts), list(codes), None, [t for t, _ in elsewhere], [v for _, v in elsewhere])
    assert sorted(coder.valence_classes_) == ["negative", "positive"]  # only the other codebook had valences
    with pytest.raises(ValueError, match="2 texts coded elsewhere but 1 valences"):
        EmbeddingCoder(perry6, encoder=encoder).fit(list(texts), list(codes), None, ["a", "b"], ["positive"])


def test_thesis_headings_map_to_codes_of_the_right_codebook(perry6):
    tables = {cb: heading_table(load_codebook(cb)) for cb in ("perry6", "tamtanus")}
    assert heading_code("BAB IV > 4.2 Hasil Penelitian > c. Kedekatan dan Pelibatan", tables, "perry6") == (
        "c. Kedekatan dan Pelibatan", "kedekatan_pelibatan")
    assert heading_code("Hasil > 3. Sinkronisasi", tables, "perry6") is None  # another framework's heading
    assert heading_code("BAB IV > PENUTUP > 4.1 Kesimpulan", tables, "perry6") is None


@pytest.fixture(scope="module")
def with_uncoded(perry6):
    """The labelled texts and the codebook's examples, plus the shipped uncoded examples."""
    from pipeline.train import codebook_examples, uncoded_list_examples

    coded = [(text, code) for text, code, _ in LABELLED] + [(e.text, e.code) for e in codebook_examples(perry6)]
    uncoded = [(e.text, UNCODED) for e in uncoded_list_examples()]
    texts, codes = zip(*(coded + uncoded))
    return list(texts), list(codes)


@pytest.mark.parametrize("abstention", ["class", "threshold", "gate"])
def test_every_abstention_mode_puts_a_greeting_below_a_finding(perry6, encoder, with_uncoded, abstention):
    texts, codes = with_uncoded
    elsewhere = ["Ruang tunggu MPP nyaman dan ber-AC.", "Server aplikasi sering gangguan sehingga layanan terhenti."]
    coder = EmbeddingCoder(perry6, encoder=encoder, abstention=abstention).fit(texts, codes, coded_elsewhere=elsewhere)
    proba = coder.predict_proba(["Halo Pak, selamat sore.", COORDINATION])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(coder.predict(["Halo Pak, selamat sore.", COORDINATION])) == [UNCODED, "koordinasi"]
    assert (UNCODED in coder.head_classes_) == (abstention != "threshold")  # the gate is a row of the one head
    assert coder.coef_.shape[0] == len(coder.head_classes_)


def test_unknown_abstention_is_refused(perry6, encoder, with_uncoded):
    with pytest.raises(ValueError, match="abstention must be one of class, threshold, gate"):
        EmbeddingCoder(perry6, encoder=encoder, abstention="vote").fit(*with_uncoded)
