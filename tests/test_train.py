"""Training data for abstention (uncoded examples) and models that learn it, on the real encoder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.classify.embedding import default_encoder
from pipeline.codebook import load_codebook
from pipeline.persist import load_model, save_model
from pipeline.schema import UNCODED
from pipeline.train import (
    OTHER_CODEBOOK,
    TrainingDataError,
    TrainingExample,
    codebook_examples,
    cross_validate,
    heading_title,
    non_findings_heading,
    read_uncoded_list,
    thesis_examples,
    train,
    uncoded_list_examples,
    with_pipeline_rules,
)

TRANSCRIPT = """Kota: Kota Contoh
Informan: Ibu XY
Jabatan: Petugas Gerai
Instansi: DPMPTSP Kota Contoh
Tanggal: 2025-01-10
Kerangka: perry6
Studi: Studi Contoh 2025

P: Selamat pagi, Bu. Boleh kita mulai wawancaranya?

I: Pagi. Silakan, Mas.

P: Bagaimana koordinasi dengan instansi lain di gedung ini?

I: Kami rapat koordinasi tiap bulan dengan semua instansi. Kalau ada perubahan jadwal langsung diumumkan di grup.
"""

THESIS = """BAB IV HASIL PENELITIAN DAN PEMBAHASAN

## 4.1 Gambaran Umum MPP Kota Contoh

MPP Kota Contoh diresmikan pada tahun 2020 dan terletak di pusat kota.

## 4.2 Hasil Penelitian

### 1. Koordinasi

Rapat koordinasi antar instansi diadakan setiap bulan oleh DPMPTSP.
"""

#: A study of researcher-corrected texts, two per code.
STUDY_A = [
    ("Kepala dinas memimpin rapat koordinasi dengan semua instansi tiap bulan.", "koordinasi"),
    ("Komunikasi antar instansi masih kurang karena jarang ada rapat bersama.", "koordinasi"),
    ("Semua layanan perizinan kini berada dalam satu gedung MPP.", "integrasi"),
    ("Aplikasi pelayanan tiap instansi masih terpisah dan belum terintegrasi.", "integrasi"),
    ("Dibentuk kelompok kerja bersama yang melibatkan seluruh tenant MPP.", "kedekatan_pelibatan"),
    ("Struktur organisasi MPP belum melibatkan instansi vertikal secara penuh.", "kedekatan_pelibatan"),
]

GREETING = "Halo Bu, selamat sore, maaf mengganggu sebentar ya."
COORDINATION = "Setiap bulan DPMPTSP mengadakan rapat koordinasi dengan seluruh instansi yang membuka gerai di MPP."


@pytest.fixture(scope="module")
def perry6():
    return load_codebook("perry6")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "wawancara").mkdir()
    (root / "skripsi").mkdir()
    (root / "wawancara" / "contoh_petugas.txt").write_text(TRANSCRIPT, encoding="utf-8")
    (root / "skripsi" / "contoh_bab4.txt").write_text(THESIS, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def small_set(perry6) -> list[TrainingExample]:
    """The codebook's own examples, the uncoded list, and the tamtanus examples as coded elsewhere."""
    elsewhere = [
        TrainingExample(e.text, OTHER_CODEBOOK, "", "codebook:tamtanus", "other_codebook")
        for e in codebook_examples(load_codebook("tamtanus"))
    ]
    return codebook_examples(perry6) + uncoded_list_examples() + elsewhere


# --------------------------------------------------------------------------- where uncoded examples come from


def test_interviewer_turns_become_uncoded_examples(corpus, perry6):
    examples, mapping = thesis_examples(corpus, perry6)
    interviewer = [e for e in examples if e.source == "interviewer"]
    assert [e.text for e in interviewer] == [
        "Selamat pagi, Bu.",
        "Boleh kita mulai wawancaranya?",
        "Bagaimana koordinasi dengan instansi lain di gedung ini?",
    ]
    assert {e.code for e in interviewer} == {UNCODED}
    assert {e.study for e in interviewer} == {"Studi Contoh 2025"}  # the transcript's study metadata
    assert not any("rapat koordinasi tiap bulan" in e.text for e in examples)  # informant turns carry no label
    assert mapping.interviewer_turns["wawancara/contoh_petugas.txt"] == 3


def test_non_findings_sections_map_to_uncoded_and_findings_to_their_code(corpus, perry6):
    examples, mapping = thesis_examples(corpus, perry6)
    thesis = {e.text: (e.code, e.source) for e in examples if e.source in ("thesis", "section")}
    assert thesis == {
        "MPP Kota Contoh diresmikan pada tahun 2020 dan terletak di pusat kota.": (UNCODED, "section"),
        "Rapat koordinasi antar instansi diadakan setiap bulan oleh DPMPTSP.": ("koordinasi", "thesis"),
    }
    assert mapping.uncoded_sections[("skripsi/contoh_bab4.txt", "4.1 Gambaran Umum MPP Kota Contoh")] == 1


def test_without_the_uncoded_list_no_uncoded_examples_are_made(corpus, perry6):
    examples, _ = thesis_examples(corpus, perry6, uncoded_list=None)
    assert [e.code for e in examples] == ["koordinasi"]


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ("Ririn Anggriyani > 2. Metodologi Penelitian", "2. Metodologi Penelitian"),
        ("ABSTRAK", "ABSTRAK"),
        ("BAB IV > HASIL > 4.1 Gambaran Umum Mal Pelayanan Publik Kota Malang", "4.1 Gambaran Umum Mal Pelayanan Publik Kota Malang"),
        ("BAB II > TINJAUAN PUSTAKA > 2.1 Koordinasi", "TINJAUAN PUSTAKA"),  # theory about a dimension is not findings
        ("BAB IV > 4.2 Hasil Penelitian > 1. Koordinasi", None),
        ("Metode Pelayanan Baru", None),  # "metode" must be the whole title or be followed by a word of the list
        ("Kesimpulan", None),
    ],
)
def test_non_findings_headings_come_from_the_lexicon_file(section, expected):
    headings = read_uncoded_list()["non_findings_headings"]
    assert non_findings_heading(section, headings) == expected


def test_heading_numbers_are_stripped_whatever_their_style():
    assert [heading_title(h) for h in ("4.2 Hasil Penelitian", "4.2. Hasil", "1. Koordinasi", "3 Hasil", "IV. HASIL", "### **b. Integrasi**")] == [
        "Hasil Penelitian", "Hasil", "Koordinasi", "Hasil", "HASIL", "Integrasi"]
    assert [heading_title(h) for h in ("BAB II TINJAUAN PUSTAKA", "Bab 3. Metode Penelitian", "BAB IV", "Babak Baru")] == [
        "TINJAUAN PUSTAKA", "Metode Penelitian", "", "Babak Baru"]


def test_the_uncoded_list_has_both_sides_of_the_conversation():
    data = read_uncoded_list()
    assert sum(len(texts) for texts in data["utterances"].values()) >= 50
    assert {"greeting", "consent_and_procedure", "interviewer_question"} <= set(data["utterances"])
    assert {"pendahuluan", "metodologi penelitian ...", "abstrak", "kajian pustaka ...", "gambaran umum ..."} <= set(
        data["non_findings_headings"])
    examples = uncoded_list_examples()
    assert {e.code for e in examples} == {UNCODED} and len({e.study for e in examples}) == 1
    assert {e.valence for e in examples} == {"neutral"}  # small talk reports no success or barrier


def test_a_broken_uncoded_list_is_refused_in_one_line_naming_the_file(tmp_path):
    bad = tmp_path / "uncoded.yaml"
    bad.write_text("utterances:\n  greeting: [Halo, 3]\nnon_findings_headings: [abstrak]\n", encoding="utf-8")
    with pytest.raises(TrainingDataError) as caught:
        read_uncoded_list(bad)
    assert str(bad) in str(caught.value) and "greeting" in str(caught.value) and "\n" not in str(caught.value)


# --------------------------------------------------------------------------- models that learn abstention


@pytest.mark.parametrize("abstention", ["class", "gate"])
def test_a_trained_model_leaves_a_greeting_uncoded_and_codes_coordination(perry6, small_set, abstention, tmp_path):
    result = train(perry6, small_set, cv=None, encoder=default_encoder(), abstention=abstention)
    assert list(result.coder.predict([GREETING, COORDINATION])) == [UNCODED, "koordinasi"]
    assert result.training_info()["abstention"] == abstention
    assert result.training_info()["n_coded_in_other_codebooks"] == len(codebook_examples(load_codebook("tamtanus")))
    # the model folder reproduces the same probabilities (the gate is an ordinary row of the head)
    save_model(result.coder, tmp_path / "perry6", result.training_info(), created="2025-06-01")
    loaded = load_model(tmp_path / "perry6", perry6)
    np.testing.assert_allclose(
        loaded.predict_proba([GREETING, COORDINATION]), result.coder.predict_proba([GREETING, COORDINATION]), atol=1e-6
    )


def test_training_without_cross_validation_also_learns_uncoded_by_the_gate(perry6, small_set):
    from pipeline.train import default_abstention

    assert train(perry6, small_set, cv=None, encoder=default_encoder()).training_info()["abstention"] == "gate"
    assert default_abstention(codebook_examples(perry6)) == "class"  # nothing to learn uncoded from


def test_cross_validation_learns_uncoded_by_the_gate_and_reports_uncoded_recall(perry6, small_set):
    study_a = [TrainingExample(text, code, "", "A", "review") for text, code in STUDY_A]
    result = cross_validate(perry6, small_set + study_a, encoder=default_encoder())
    metrics = result.metrics
    assert result.abstention == metrics["abstention"] == "gate"
    by_vote = metrics["by_neighbour_vote"]
    assert set(by_vote) == {"0.0", "0.5"} and metrics["macro_f1"] == by_vote[str(result.neighbour_vote)]["macro_f1"]
    no_vote, vote = by_vote["0.0"], by_vote["0.5"]
    kept = vote["macro_f1"] > no_vote["macro_f1"] and vote["coded_left_uncoded"] <= no_vote["coded_left_uncoded"]
    assert result.neighbour_vote == (0.5 if kept else 0.0)
    # one study with coded texts besides the codebook: the codebook examples are a fold; never the other codebook
    assert set(metrics["studies"]) == {"A", "codebook", "uncoded list:uncoded_examples.yaml"}
    assert metrics["uncoded_recall_by_source"]["uncoded_list"]["n"] == len(uncoded_list_examples())
    assert metrics["coded_texts"]["n"] == len(codebook_examples(perry6)) + len(STUDY_A)
    assert metrics["with_pipeline_rules"]["n"] == metrics["n"]
    assert 0.0 <= metrics["with_pipeline_rules"]["macro_f1_tuning_held_out"] <= 1.0


def test_cross_validation_without_uncoded_examples_abstains_by_class_at_the_default_threshold(perry6):
    from pipeline.classify.ensemble import DEFAULT_THRESHOLD

    study_a = [TrainingExample(text, code, "", "A", "review") for text, code in STUDY_A]
    result = cross_validate(perry6, codebook_examples(perry6) + study_a, encoder=default_encoder())
    assert result.abstention == "class" and result.threshold == DEFAULT_THRESHOLD
    assert set(result.metrics["studies"]) == {"A", "codebook"}  # the codebook examples are a fold of their own


def test_several_gold_files_all_become_training_data(perry6, tmp_path):
    import json

    from pipeline.train import assemble

    def gold_file(name: str, text: str, framework: str, label: str) -> Path:
        record = {"id": name, "framework": framework, "label": label, "valence": "positive", "text": text,
                  "study": f"Studi {name}"}
        path = tmp_path / f"{name}.jsonl"
        path.write_text(json.dumps(record) + "\n", encoding="utf-8")
        return path

    first = gold_file("a", "Tiap Senin ada briefing bareng pengelola dan semua gerai.", "perry6", "koordinasi")
    second = gold_file("b", "NIK warga langsung kebaca di sistem kami tanpa input ulang.", "perry6", "integrasi")
    other = gold_file("c", "Berkas cukup diunggah sekali untuk tiga izin sekaligus.", "tamtanus", "simplifikasi")
    examples, lines = assemble(perry6, gold=[first, second, other], uncoded_list=None)
    by_text = {e.text: e for e in examples}
    assert by_text["Tiap Senin ada briefing bareng pengelola dan semua gerai."].code == "koordinasi"
    assert by_text["NIK warga langsung kebaca di sistem kami tanpa input ulang."].study == "Studi b"
    assert by_text["Berkas cukup diunggah sekali untuk tiga izin sekaligus."].code == OTHER_CODEBOOK
    assert sum(line.startswith("gold ") for line in lines) == 3


def test_a_pseudonymised_model_folder_keeps_no_name_or_phone(perry6, tmp_path, capsys):
    import json

    from pipeline.cli import main

    texts = [
        ("Menurut Bapak Sutrisno Hadi, rapat koordinasi dengan semua instansi diadakan tiap bulan.", "koordinasi"),
        ("Koordinasi lewat grup WA, kata Ibu RS, nomornya 0812-3456-7890.", "koordinasi"),
        ("Pimpinan MPP memimpin rapat koordinasi lintas instansi setiap pekan.", "koordinasi"),
        ("Data kependudukan sudah terhubung langsung dengan sistem BPJS.", "integrasi"),
        ("Semua layanan sudah ada di satu gedung dengan satu sistem antrean.", "integrasi"),
        ("Aplikasi perizinan terintegrasi dengan server pusat.", "integrasi"),
    ]
    gold = tmp_path / "gold.jsonl"
    gold.write_text("".join(json.dumps({"id": f"g{i}", "framework": "perry6", "label": code, "valence": "positive",
                                        "text": text, "study": "Studi X"}) + "\n"
                            for i, (text, code) in enumerate(texts)), encoding="utf-8")
    out = tmp_path / "model"
    assert main(["train", "--codebook", "perry6", "--gold", str(gold), "--cv", "none", "--pseudonymise",
                 "--out", str(out)]) == 0
    saved = "".join(p.read_text(encoding="utf-8", errors="replace") for p in out.iterdir() if p.suffix != ".npz")
    assert "[NAMA]" in saved
    for secret in ("Sutrisno", "Ibu RS", "0812-3456-7890"):
        assert secret not in saved
    assert json.loads((out / "manifest.json").read_text())["training"]["pseudonymised"] is True


def test_run_rules_turn_interviewer_and_non_findings_examples_uncoded_and_nothing_else():
    held = [TrainingExample("Bagaimana koordinasinya?", "uncoded", "", "A", "interviewer"),
            TrainingExample("Koordinasi menurut teori ...", "uncoded", "", "A", "section"),
            TrainingExample("Selamat pagi, Bu.", "uncoded", "", "list", "uncoded_list"),
            TrainingExample("Rapat koordinasi tiap bulan.", "koordinasi", "", "A", "thesis")]
    predicted = ["koordinasi", "koordinasi", "koordinasi", "integrasi"]
    assert with_pipeline_rules(held, predicted) == ["uncoded", "uncoded", "koordinasi", "integrasi"]


def test_a_neighbour_vote_is_kept_only_if_it_scores_higher_without_leaving_more_coded_texts_uncoded():
    from pipeline.train import EnsembleTuning, choose_variant

    classes, gold = ["a", "b", "uncoded"], ["a", "b", "uncoded", "uncoded"]

    def rows(*codes: str) -> np.ndarray:
        return np.array([[0.8 if c == code else 0.1 for c in classes] for code in codes])

    def variants(voted: np.ndarray, f1_vote: float) -> tuple[str, float]:
        proba = {("class", 0.0): rows("a", "b", "a", "uncoded"), ("class", 0.5): voted}
        tunings = {key: EnsembleTuning(1.0, 0.0, f1, {}) for key, f1 in ((("class", 0.0), 0.6), (("class", 0.5), f1_vote))}
        return choose_variant(classes, gold, tunings, proba, np.zeros((4, 3)), ["class"])[0]

    assert variants(rows("a", "b", "uncoded", "uncoded"), 0.9) == ("class", 0.5)  # better, codes as much
    assert variants(rows("a", "uncoded", "uncoded", "uncoded"), 0.9) == ("class", 0.0)  # better by coding less
    assert variants(rows("a", "b", "uncoded", "uncoded"), 0.6) == ("class", 0.0)  # a tie keeps the simpler model
