"""The keyword-lexicon coder: matching, scoring, evidence, the scikit-learn API, and ``wogcode code``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.base import clone, is_classifier

from pipeline.classify.base import code_units
from pipeline.classify.lexicon import LexiconCoder, compile_codebook
from pipeline.cli import main
from pipeline.codebook import load_codebook
from pipeline.ingest.batch import ingest
from pipeline.ingest.corpus import plan_corpus
from pipeline.ingest.output import write_ingest
from pipeline.normalise import tokenize
from pipeline.schema import UNCODED

MINI_CODEBOOK = """\
id: mini
name: Mini test codebook
version: "0.1"
source: {author: Test, reference: Test 2025}
language: id
description: Two codes with known weights, for exact scores.
codes:
  - id: rapat
    name: Rapat
    definition: Pertemuan antarinstansi.
    keywords:
      - {term: koordinasi, weight: 1.0, kind: stem}
      - {term: rapat koordinasi, weight: 1.0, kind: phrase}
      - {term: instansi, weight: 0.3, kind: stem}
  - id: gedung
    name: Gedung
    definition: Layanan dalam satu gedung.
    keywords:
      - {term: satu gedung, weight: 0.9, kind: phrase}
      - {term: loket, weight: 0.5, kind: stem}
"""


@pytest.fixture(scope="module")
def mini(tmp_path_factory):
    path = tmp_path_factory.mktemp("codebooks") / "mini.yaml"
    path.write_text(MINI_CODEBOOK, encoding="utf-8")
    return load_codebook(path)


@pytest.fixture(scope="module")
def perry6():
    return LexiconCoder(load_codebook("perry6"))


@pytest.fixture(scope="module")
def tamtanus():
    return LexiconCoder(load_codebook("tamtanus"))


def terms_of(coder: LexiconCoder, text: str) -> list[dict]:
    return coder.explain([text])[0].terms


# --------------------------------------------------------------------------- matching


@pytest.mark.parametrize("word", ["berkoordinasi", "dikoordinasikan", "koordinasinya", "Koordinasi"])
def test_morphological_variants_hit_the_stem_keyword(perry6, word):
    text = f"Petugas {word} dengan atasan di kantor."
    prediction = perry6.explain([text])[0]
    assert prediction.code == "koordinasi"
    hits = [t for t in prediction.terms if t["term"] == "koordinasi"]
    assert [text[t["start"] : t["end"]] for t in hits] == [word]


@pytest.mark.parametrize("word", ["sinkron", "menyinkronkan", "sinkronisasi", "tersinkronisasi"])
def test_sinkronisasi_variants_in_tamtanus(tamtanus, word):
    assert tamtanus.predict([f"Sistem BPJS belum {word} dengan Dukcapil."])[0] == "sinkronisasi"


def test_informal_and_typo_forms_go_through_the_normaliser(perry6):
    # "integrase" is a typo of integrasi; "nggak tau" matches the phrase keyword "gak tahu".
    assert perry6.predict(["Semua layanan sudah integrase di MPP."])[0] == "integrasi"
    factors = LexiconCoder(load_codebook("mpp_factors"))
    text = "Warga banyak yang nggak tau alurnya."
    hits = [t for t in terms_of(factors, text) if t["term"] == "gak tahu"]
    assert [text[t["start"] : t["end"]] for t in hits] == ["nggak tau"]


def test_reduplication_hits_the_base_word(mini):
    text = "Instansi-instansi hadir."
    [term] = terms_of(LexiconCoder(mini), text)
    assert (term["term"], text[term["start"] : term["end"]]) == ("instansi", "Instansi-instansi")


def test_phrase_matches_across_a_line_break(perry6):
    text = "Semua urusan selesai di satu  \n gedung sekarang."
    prediction = perry6.explain([text])[0]
    assert prediction.code == "integrasi"
    [term] = [t for t in prediction.terms if t["term"] == "satu gedung"]
    assert text[term["start"] : term["end"]] == "satu  \n gedung"


def test_phrase_matches_a_word_with_nya(mini):
    text = "Semua loketnya di satu gedungnya."
    assert {t["term"] for t in terms_of(LexiconCoder(mini), text)} == {"loket", "satu gedung"}


def test_longest_match_hides_the_keywords_inside_it(mini):
    text = "Besok ada rapat koordinasi."
    assert [t["term"] for t in terms_of(LexiconCoder(mini), text)] == ["rapat koordinasi"]


def test_every_shipped_keyword_compiles():
    for codebook_id in ("perry6", "tamtanus", "sudrajat", "mpp_factors"):
        codebook = load_codebook(codebook_id)
        lexicon = compile_codebook(codebook)
        n_terms = sum(len(v) for v in lexicon.index.by_stem.values()) + sum(len(v) for v in lexicon.index.by_norm.values())
        assert n_terms == sum(len(code.keywords) for code in codebook.codes)


# --------------------------------------------------------------------------- scoring and decisions


def test_score_is_a_saturating_sum_of_distinct_terms(mini):
    coder = LexiconCoder(mini)
    once = coder.explain(["koordinasi"])[0].scores["rapat"]
    thrice = coder.explain(["koordinasi, dikoordinasikan, berkoordinasi"])[0].scores["rapat"]
    assert once == thrice == pytest.approx(1 - math.exp(-1.0))
    both = coder.explain(["koordinasi antar instansi"])[0].scores["rapat"]
    assert both == pytest.approx(1 - math.exp(-1.3))


def test_uncoded_when_nothing_matches(perry6):
    prediction = perry6.explain(["Selamat pagi, terima kasih atas waktunya."])[0]
    assert (prediction.code, prediction.score, prediction.valence) == (UNCODED, 1.0, "neutral")
    assert prediction.terms == [] and "no keyword" in prediction.reason


def test_an_uncoded_text_keeps_the_valence_of_its_cues(perry6):
    barrier, talk = perry6.explain(["Wah, kendalanya banyak sekali, Pak.", "Kantornya buka jam delapan."])
    assert (barrier.code, barrier.valence) == (UNCODED, "negative")
    assert barrier.valence_cues and barrier.valence_cues[0]["polarity"] == "negative"
    assert (talk.code, talk.valence, talk.valence_cues) == (UNCODED, "neutral", [])  # no cue, no practice


def test_uncoded_below_the_threshold(mini):
    text = "Semua instansi hadir."  # one weight-0.3 keyword: score 0.26
    prediction = LexiconCoder(mini, threshold=0.35).explain([text])[0]
    assert prediction.code == UNCODED
    assert "below the threshold" in prediction.reason
    assert prediction.terms[0]["term"] == "instansi"  # the evidence is kept
    assert LexiconCoder(mini, threshold=0.2).predict([text])[0] == "rapat"


def test_min_margin_leaves_close_calls_uncoded(mini):
    text = "Koordinasi di loket satu gedung."  # rapat 0.63, gedung 0.75
    assert LexiconCoder(mini).predict([text])[0] == "gedung"
    assert LexiconCoder(mini, min_margin=0.2).predict([text])[0] == UNCODED


def test_prediction_carries_scores_reason_and_model(perry6):
    prediction = perry6.explain(["Koordinasi antar instansi berjalan dengan baik."])[0]
    assert prediction.code == "koordinasi" and prediction.valence == "positive"
    assert set(prediction.scores) == set(perry6.codebook.code_ids)
    assert prediction.reason.startswith("koordinasi (")
    assert perry6.model_id == f"lexicon:perry6@{perry6.codebook.content_hash}"


# --------------------------------------------------------------------------- evidence offsets


def test_evidence_offsets_slice_back_on_seed_like_text(perry6):
    text = (
        "Koordinasi  pada penyelenggaraan MPP **belum** terjalin,\nmasih kurangnya koordinasi 66\n\n"
        "mengenai Kerjasama antar instansi-instansi; layanan di satu\ngedung."
    )
    prediction = perry6.explain([text])[0]
    tokens = tokenize(text)
    starts, ends = {t.start for t in tokens}, {t.end for t in tokens}
    assert prediction.terms
    for term in prediction.terms + prediction.valence_cues:
        assert term["start"] in starts and term["end"] in ends
        assert text[term["start"] : term["end"]].strip() == text[term["start"] : term["end"]]


KEYWORDS = ["koordinasi", "berkoordinasi", "satu gedung", "integrasi", "kelompok kerja", "dialog", "joint venture"]
FILLER = st.text(alphabet=st.sampled_from(list("abcdeikmnrstuy AEIKO-.,;:!?\n0123456789'\"*#()")), max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.tuples(FILLER, st.sampled_from(KEYWORDS)), min_size=1, max_size=5), tail=FILLER)
def test_property_inserted_keywords_are_found_and_offsets_slice_back(perry6, pieces, tail):
    text = "".join(f"{filler} . {keyword} . " for filler, keyword in pieces) + tail
    prediction = perry6.explain([text])[0]
    lexicon = compile_codebook(perry6.codebook)
    terms_by_name = {t.term: t for ts in [*lexicon.index.by_stem.values(), *lexicon.index.by_norm.values()] for t in ts}
    tokens = tokenize(text)
    by_start = {t.start: i for i, t in enumerate(tokens)}
    for found in prediction.terms:
        term = terms_by_name[found["term"]]
        first = by_start[found["start"]]
        span = tokens[first : first + len(term.key)]
        assert span[-1].end == found["end"]
        assert text[found["start"] : found["end"]] == text[span[0].start : span[-1].end]
        for token, wanted in zip(span, term.key):
            assert wanted in (token.norm, token.stem, token.norm.removesuffix("nya"))
    found_text = {text[t["start"] : t["end"]] for t in prediction.terms}
    for _, keyword in pieces:
        assert keyword in found_text


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pieces=st.lists(st.tuples(FILLER, st.sampled_from(KEYWORDS)), max_size=4))
def test_property_probabilities_from_explained_texts_equal_predict_proba(perry6, pieces):
    """The ensemble takes the lexicon's probabilities from its explanations instead of tokenising twice."""
    texts = ["".join(f"{filler} {keyword}, " for filler, keyword in pieces), "Rapat koordinasi tiap bulan."]
    assert np.array_equal(perry6.proba_of(perry6.explain(texts)), perry6.predict_proba(texts))


# --------------------------------------------------------------------------- scikit-learn API


def test_sklearn_params_clone_and_set_params(mini):
    coder = LexiconCoder(mini, threshold=0.4, min_margin=0.1)
    assert set(coder.get_params()) == {"codebook", "threshold", "min_margin", "valence"}
    twin = clone(coder)
    assert twin is not coder and twin.get_params()["threshold"] == 0.4
    twin.set_params(threshold=0.1)
    assert twin.threshold == 0.1 and coder.threshold == 0.4
    with pytest.raises(ValueError, match="invalid parameter 'treshold'"):
        twin.set_params(treshold=0.1)
    assert is_classifier(coder) and repr(twin) == "LexiconCoder(codebook=<mini 0.1>, min_margin=0.1, threshold=0.1)"


def test_score_is_accuracy(perry6):
    texts = ["Rapat koordinasi lintas instansi rutin.", "Cuaca cerah."]
    predicted = list(perry6.predict(texts))
    assert perry6.score(texts, predicted) == 1.0
    assert perry6.score(texts, [predicted[0], "koordinasi" if predicted[1] != "koordinasi" else "integrasi"]) == 0.5


def test_predict_proba_rows_sum_to_one_and_agree_with_predict(perry6):
    texts = ["Koordinasi antar instansi.", "Halo, apa kabar?", "Layanan di satu gedung, kelompok kerja belum ada.", ""]
    proba = perry6.predict_proba(texts)
    assert list(perry6.classes_) == [*perry6.codebook.code_ids, UNCODED]
    assert proba.shape == (4, len(perry6.classes_))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert list(perry6.classes_[proba.argmax(axis=1)]) == list(perry6.predict(texts))
    assert perry6.decision_function(texts).shape == proba.shape


def test_fit_learns_a_threshold_from_uncoded_examples(mini):
    texts = ["koordinasi rutin", "rapat koordinasi", "semua instansi hadir", "instansi lain", "di loket", "satu gedung"]
    labels = ["rapat", "rapat", UNCODED, UNCODED, "gedung", "gedung"]
    coder = LexiconCoder(mini, threshold=0.0).fit(texts, labels)
    assert 0.26 < coder.threshold_ <= 0.39  # above 'instansi' alone (0.26), at most 'loket' alone (0.39)
    assert list(coder.predict(texts)) == labels
    assert coder.score(texts, labels) == 1.0
    with pytest.raises(ValueError, match="not a code of 'mini'"):
        LexiconCoder(mini).fit(["x"], ["nope"])


def test_a_single_string_is_refused(perry6):
    with pytest.raises(TypeError, match="list of texts"):
        perry6.predict("koordinasi")


# --------------------------------------------------------------------------- code_units and the CLI


SAMPLE_TRANSCRIPT = """\
Kota: Kota Padang
Informan: Ibu RA
Jabatan: Petugas Gerai
Instansi: BPN
Kerangka: perry6

P: Selamat pagi Bu, terima kasih sudah bersedia.

I: Sama-sama. Di sini semua layanan sudah di satu gedung, warga gak perlu lagi ke kantor induk.

P: Bagaimana koordinasinya dengan pengelola MPP?

I: Koordinasi antar instansi masih kurang, rapatnya jarang. Kelompok kerja juga belum terbentuk.
"""


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "padang_bpn.txt").write_text(SAMPLE_TRANSCRIPT, encoding="utf-8")
    out = tmp_path / "run"
    write_ingest(ingest(plan_corpus(corpus)), out)
    return out


def test_code_units_returns_one_coding_per_unit(run_dir, perry6):
    units = pd.read_parquet(run_dir / "units.parquet")
    codings = code_units(perry6, units)
    assert list(codings["unit_id"]) == list(units["unit_id"])
    for text, evidence in zip(units["text"], codings["evidence"]):
        for term in json.loads(evidence)["terms"]:
            assert term["start"] < term["end"] <= len(text)


def test_cli_code_writes_codings_and_coded_units(run_dir, capsys):
    assert main(["code", str(run_dir), "--codebook", "perry6", "--model", "lexicon"]) == 0
    printed = capsys.readouterr().out
    units = pd.read_parquet(run_dir / "units.parquet")
    codings = pd.read_parquet(run_dir / "codings.parquet")
    coded = pd.read_csv(run_dir / "coded_units.csv")
    assert len(codings) == len(units) == len(coded)
    assert set(codings["code"]) <= {"koordinasi", "integrasi", "kedekatan_pelibatan", UNCODED}
    by_text = dict(zip(coded["text"], coded["code"]))
    assert by_text["Kelompok kerja juga belum terbentuk."] == "kedekatan_pelibatan"
    counts = {line.split()[0]: int(line.split()[1]) for line in printed.splitlines()[2:]}
    assert counts == codings["code"].value_counts().reindex(list(counts), fill_value=0).to_dict()
    assert not list(run_dir.glob(".*.tmp"))  # atomic writes leave no temp files


def test_cli_code_errors_are_one_line(tmp_path, capsys):
    assert main(["code", str(tmp_path), "--codebook", "perry6"]) == 2
    message = capsys.readouterr().err.strip()
    assert message.count("\n") == 0 and "units.parquet: not found" in message
