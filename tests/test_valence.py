"""Valence: cues, negation scope, double negation, definitions, clauses, and the valence file's checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.classify.valence import ValenceLexicon, ValenceLexiconError, default_path, load_rules, valence_of
from pipeline.schema import VALENCES


def label(text: str) -> str:
    return valence_of(text)[0]


# Cues taken from the seed texts.
@pytest.mark.parametrize(
    "text",
    [
        "Koordinasi sudah terjalin dengan semestinya sesuai yang diharapkan.",
        "Pelayanan di MPP berjalan dengan baik.",
        "Seluruh instansi terintegrasi dengan baik.",
        "Antrean online memudahkan masyarakat.",
        "Prosesnya cepat.",
    ],
)
def test_positive_cues(text):
    assert label(text) == "positive"


@pytest.mark.parametrize(
    "text",
    [
        "Pendekatan whole of government belum terlaksana.",
        "Kelompok kerja belum terbentuk.",
        "Masih kurangnya koordinasi mengenai kerja sama antar pihak.",
        "Komunikasi antar unit mungkin tidak terlalu terasa.",
        "Koordinasi hanya seputar petugas dan atasan mereka.",
        "Ada kendala di aplikasi.",
        "Sering ada gangguan jaringan.",
        "Warga masih harus ke kantor cabang.",
        "Setiap instansi bekerja secara terpisah.",
        "Servernya lambat.",
        "Gerainya kosong sejak pagi.",
    ],
)
def test_negative_cues(text):
    assert label(text) == "negative"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Selama ini tidak ada kendala.", "positive"),
        ("Belum pernah ada masalah dengan datanya.", "positive"),
        ("Tidak semua instansi hadir.", "negative"),
        ("Datanya tidak sinkron dengan Dukcapil.", "negative"),
        ("Sekarang tidak perlu lagi ke kantor induk.", "positive"),
        ("Gak ada kendala kok.", "positive"),  # informal negator via the normaliser
        ("Tanpa adanya pertentangan dari setiap instansi.", "positive"),
        ("Layanannya kurang lengkap.", "negative"),
    ],
)
def test_negation_scope_and_double_negation(text, expected):
    assert label(text) == expected


def test_negation_is_recorded_on_the_cue():
    text = "Selama ini tidak ada kendala."
    _, score, cues = valence_of(text)
    [cue] = cues
    assert score > 0
    assert (cue["cue"], cue["polarity"], cue["negated_by"]) == ("kendala", "positive", "tidak")


def test_negation_does_not_cross_a_clause_boundary():
    # "tidak" negates "hadir"'s clause only; the "kendala" after the comma stays negative.
    assert label("Petugas tidak hadir, jadi ada kendala.") == "negative"
    _, _, cues = valence_of("Tidak, ada kendala.")
    assert [c.get("negated_by") for c in cues if c["cue"] == "kendala"] == [None]


@pytest.mark.parametrize(
    "text",
    [
        "Koordinasi adalah pengaturan berbagai instansi agar terpadu dan harmonis.",
        "Integrasi merupakan cara kerja sama yang tidak saling bertentangan.",
        "Simplifikasi didefinisikan sebagai penyederhanaan prosedur yang berbelit-belit.",
        "Tujuan sinkronisasi yaitu menghindari inkonsistensi data.",
    ],
)
def test_definitions_are_neutral(text):
    assert label(text) == "neutral"


def test_a_definition_with_an_evaluation_is_not_neutral():
    assert label("Koordinasi adalah hal yang sudah berjalan dengan baik di MPP ini.") == "positive"
    text = "Koordinasi adalah pengaturan yang harmonis, namun di MPP ini belum terlaksana."
    assert label(text) == "negative"


def test_remedy_words_turn_problems_positive():
    assert label("Petugas khusus membantu mengatasi kendala warga.") == "positive"
    assert label("Penggabungan instansi memangkas prosedur yang berbelit-belit.") == "positive"


def test_the_main_clause_outweighs_a_concession():
    # Unweighted, the positive cues (1.35) would outweigh the negative ones (1.3).
    text = "Meskipun sudah berjalan dengan baik, namun masih ada kendala."
    assert label(text) == "negative"


def test_fixed_expressions_are_not_negations():
    assert label("Tidak jauh berbeda dengan hasil wawancara.") == "neutral"


def test_a_bare_statement_of_a_practice_takes_the_no_cue_polarity_and_says_so():
    polarity, score, cues = valence_of("Ada satgas pengaduan, jadi warga yang komplain ditemui bersama.")
    assert (polarity, score) == ("positive", 0.0)
    assert cues[0]["cue"] == "" and "no valence cue" in cues[0]["rule"]


def test_the_no_cue_rule_needs_a_coded_practice():
    text = "Ada satgas pengaduan, jadi warga yang komplain ditemui bersama."
    assert valence_of(text, names_practice=False) == ("neutral", 0.0, [])
    # cues still count on an uncoded text: a barrier is a barrier whatever its dimension
    assert valence_of("Aplikasinya masih sering error.", names_practice=False)[0] == "negative"


def test_definitions_and_fixed_expressions_keep_no_cue_texts_neutral():
    assert label("Kerja sama antaraktor mencakup hubungan kerja pengelola dan petugas.") == "neutral"
    assert label("Integrasi dipahami sebagai penyatuan layanan.") == "neutral"


def test_no_cue_can_be_switched_off(tmp_path):
    source = default_path().read_text(encoding="utf-8")
    off = tmp_path / "valence.yaml"
    off.write_text(source.replace("no_cue: positive", "no_cue: neutral"), encoding="utf-8")
    assert valence_of("Kantor ini buka jam delapan.", load_rules(off)) == ("neutral", 0.0, [])


def test_rarely_turns_a_problem_into_good_news():
    assert label("Alhamdulillah servernya jarang banget lemot.") == "positive"
    assert label("Rapat koordinasinya jarang.") == "negative"


def test_a_cue_that_carries_its_own_negation_is_not_flipped_again():
    text = "Strukturnya masih belum terdefinisi dengan jelas serta belum terbentuknya kelompok kerja."
    assert label(text) == "negative"


def test_recommendations_name_a_gap():
    assert label("Pola koordinasi antar OPD perlu diperkuat melalui jadwal rapat yang pasti.") == "negative"
    assert label("Kalau begitu tidak perlu lagi ke kantor cabang.") == "positive"


def test_cue_offsets_slice_back_to_the_text():
    text = "Meski  sudah\nterintegrasi, warga MASIH harus ke kantor cabang dan gak ada kendala."
    _, _, cues = valence_of(text)
    assert {text[c["start"] : c["end"]] for c in cues} >= {"MASIH harus ke kantor cabang", "kendala"}
    for cue in cues:
        assert set(cue) >= {"cue", "start", "end", "polarity", "weight"}
        assert cue["polarity"] in VALENCES


def test_valence_lexicon_estimator_api():
    model = ValenceLexicon()
    texts = ["Tidak ada kendala.", "Ada kendala.", "Koordinasi adalah pengaturan."]
    assert list(model.predict(texts)) == ["positive", "negative", "neutral"]
    assert list(model.classes_) == list(VALENCES)
    scores = model.decision_function(texts)
    assert scores[0] > 0 > scores[1] and scores[2] == 0
    assert model.get_params() == {"path": None}


# --------------------------------------------------------------------------- the valence file


def write_valence(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "valence.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_shipped_valence_file_loads():
    rules = load_rules()
    assert rules.scope >= 3 and 0 < rules.neutral_band < 1


def test_a_custom_valence_file_is_used(tmp_path):
    path = write_valence(tmp_path, "positive:\n  - {term: mantap, weight: 0.9}\nnegative: [payah]\n")
    model = ValenceLexicon(path=str(path))
    assert list(model.predict(["Layanannya mantap.", "Layanannya payah.", "Ada kendala."])) == [
        "positive",
        "negative",
        "neutral",
    ]


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ("positive:\n  - {term: bagus, weight: 2}\n", "positive[0] (bagus): weight must be a number in [0, 1]"),
        ("positive: [bagus]\nnegative: [bagus]\n", "'bagus' (negative) is also listed as 'bagus' (positive)"),
        ("positive:\n  - {term: bagus, polarity: up}\n", "unknown field 'polarity'"),
        ("negation: {negators: [{term: tidak, alone: -3}]}\n", "'alone' must be a number in [-1, 1]"),
        ("positive:\n  - {term: '...'}\n", "has no word to match"),
        ("- just a list\n", "expected a mapping"),
        ("positive: [bagus\n", "cannot read"),
    ],
)
def test_valence_file_errors_name_the_file_and_problem(tmp_path, body, problem):
    path = write_valence(tmp_path, body)
    with pytest.raises(ValenceLexiconError) as caught:
        load_rules(path)
    message = str(caught.value)
    assert message.startswith(str(path)) and problem in message and "\n" not in message


def test_a_negated_complaint_is_praise():
    assert label("Ruang tunggunya nyaman, jadi nunggu gak bosan.") == "positive"
    assert label("Ada petugas informasi di pintu masuk, jadi orang gak salah antre.") == "positive"
    assert label("Warga bingung harus antre di mana.") == "negative"
    assert label("Kapasitas SDM merupakan salah satu faktor penting.") == "neutral"
