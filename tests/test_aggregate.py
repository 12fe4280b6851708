"""Evidence numbers a thesis discussion cites: counts, shares, strength and verdicts, checked by hand."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest

from pipeline.aggregate import (
    EVIDENCE_COLUMNS,
    LEVELS,
    evidence_table,
    strength_index,
    summary_by_code,
)
from pipeline.codebook import load_codebook
from pipeline.schema import Coding, Unit

PERRY6 = load_codebook("perry6")  # codes: koordinasi, integrasi, kedekatan_pelibatan

S1, S2 = "Studi Kota A", "Studi Kota B"


def unit(doc: str, index: int, kind: str, role: str, informant: str, agency: str, city: str, study: str,
         speaker: str = "") -> Unit:
    text = f"kalimat {doc} {index}"
    return Unit(doc_id=doc, unit_id=f"{doc}-{index:05d}", index=index, start=10 * index, end=10 * index + len(text),
                text=text, kind=kind, block_id=f"{doc}-b{index}", speaker=speaker or informant or role,
                speaker_role=role, informant=informant, agency=agency, city=city, study=study,
                path=f"{doc}.txt", text_clean=text)


def coding(unit_id: str, code: str = "uncoded", score: float = 0.0, valence: str = "neutral") -> Coding:
    return Coding(unit_id=unit_id, codebook="perry6", code=code, score=score, valence=valence, model="test")


def fixture_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two studies in two cities: 3 informants, an interviewer, a thesis with narrative and a cited author.

    Interviewer questions (d1-0) and cited literature (d4-4) are coded but are
    not evidence; the header (d1-5) and the heading (d4-0) are not codable.
    """
    a1 = ("informant", "Ibu A1", "Dinas X", "Kota A", S1)
    a2 = ("informant", "Bapak A2", "Dinas X", "Kota A", S1)
    b1 = ("informant", "Ibu B1", "Dinas Y", "Kota B", S2)
    rows = [
        (unit("d1", 0, "utterance", "interviewer", "Ibu A1", "Dinas X", "Kota A", S1, "P"),
         coding("d1-00000", "koordinasi", 0.9, "positive")),
        (unit("d1", 1, "utterance", *a1), coding("d1-00001", "koordinasi", 0.8, "positive")),
        (unit("d1", 2, "utterance", *a1), coding("d1-00002", "koordinasi", 0.6, "positive")),
        (unit("d1", 3, "utterance", *a1), coding("d1-00003", "integrasi", 0.7, "negative")),
        (unit("d1", 4, "utterance", *a1), coding("d1-00004")),
        (unit("d1", 5, "header", "", "Ibu A1", "Dinas X", "Kota A", S1), coding("d1-00005")),
        (unit("d2", 0, "utterance", "interviewer", "Bapak A2", "Dinas X", "Kota A", S1, "P"), coding("d2-00000")),
        (unit("d2", 1, "utterance", *a2), coding("d2-00001", "koordinasi", 0.9, "negative")),
        (unit("d2", 2, "utterance", *a2), coding("d2-00002", "koordinasi", 0.5, "positive")),
        (unit("d2", 3, "utterance", *a2), coding("d2-00003")),
        (unit("d3", 1, "utterance", *b1), coding("d3-00001", "integrasi", 1.0, "negative")),
        (unit("d3", 2, "utterance", *b1), coding("d3-00002", "integrasi", 0.8, "negative")),
        (unit("d3", 3, "utterance", *b1), coding("d3-00003", "koordinasi", 0.4, "neutral")),
        (unit("d4", 0, "heading", "", "", "", "Kota B", S2), coding("d4-00000")),
        (unit("d4", 1, "narrative", "researcher", "", "", "Kota B", S2),
         coding("d4-00001", "integrasi", 0.6, "negative")),
        (unit("d4", 2, "quote", *b1), coding("d4-00002", "integrasi", 0.9, "positive")),
        (unit("d4", 3, "narrative", "researcher", "", "", "Kota B", S2), coding("d4-00003")),
        (unit("d4", 4, "quote", "cited", "", "", "Kota B", S2, "Perry 6"),
         coding("d4-00004", "koordinasi", 0.9, "neutral")),
    ]
    units = pd.DataFrame([u.to_row() for u, _ in rows])
    codings = pd.DataFrame([c.to_row() for _, c in rows])
    return units, codings


@pytest.fixture(scope="module")
def evidence() -> pd.DataFrame:
    return evidence_table(*fixture_tables(), PERRY6)


def row(evidence: pd.DataFrame, level: str, key: str, code: str) -> pd.Series:
    found = evidence[(evidence["level"] == level) & (evidence["key"] == key) & (evidence["code"] == code)]
    assert len(found) == 1, f"expected one row for {level}/{key}/{code}, got {len(found)}"
    return found.iloc[0]


def test_one_row_per_level_key_and_code(evidence: pd.DataFrame) -> None:
    assert list(evidence.columns) == EVIDENCE_COLUMNS
    keys = evidence.groupby("level")["key"].apply(lambda k: sorted(set(k))).to_dict()
    assert keys == {
        "study": [S1, S2],
        "city": ["Kota A", "Kota B"],
        "agency": ["Dinas X", "Dinas Y"],
        "informant": ["Bapak A2", "Ibu A1", "Ibu B1"],
    }
    assert len(evidence) == 9 * 3  # every code for every key, absent ones included
    assert list(dict.fromkeys(evidence["level"])) == list(LEVELS)


def test_city_numbers_exclude_interviewer_questions(evidence: pd.DataFrame) -> None:
    r = row(evidence, "city", "Kota A", "koordinasi")
    # d1-1, d1-2 (Ibu A1), d2-1, d2-2 (Bapak A2); the interviewer's d1-0 does not count
    assert r.n_units == 4
    assert r.n_codable == 7  # d1-1..d1-4, d2-1..d2-3 (no interviewer turns, no header)
    assert r.share == pytest.approx(4 / 7, abs=1e-4)
    assert (r.n_informants, r.n_sources, r.informants) == (2, 2, "Bapak A2; Ibu A1")
    assert (r.n_positive, r.n_negative, r.n_neutral) == (3, 1, 0)
    assert r.mean_score == pytest.approx(0.7)
    # each informant's scores sum to 1.4 -> support 0.7 each -> 1 - exp(-1.4 / 2)
    assert r.strength == pytest.approx(1 - math.exp(-0.7), abs=1e-4)
    # votes: Ibu A1 2/2 positive, Bapak A2 1/2 -> balance 0.75
    assert r.positive_balance == pytest.approx(0.75)
    assert r.verdict == "positive"


def test_thesis_narrative_counts_for_the_city_as_one_more_source(evidence: pd.DataFrame) -> None:
    r = row(evidence, "city", "Kota B", "integrasi")
    assert r.n_units == 4  # d3-1, d3-2, d4-2 (Ibu B1 in interview and quoted in the thesis), d4-1 (narrative)
    assert r.n_codable == 6  # cited literature d4-4 and the heading are not evidence
    assert (r.n_informants, r.n_sources) == (1, 2)  # Ibu B1 is one voice across her two documents
    assert (r.n_positive, r.n_negative) == (1, 3)
    # Ibu B1: 1.0 + 0.8 + 0.9 -> support 1; the thesis: 0.6 -> 0.3
    assert r.strength == pytest.approx(1 - math.exp(-1.3 / 2), abs=1e-4)
    assert r.positive_balance == pytest.approx((1 / 3 + 0) / 2, abs=1e-4)
    assert r.verdict == "negative"


def test_cited_literature_is_not_evidence(evidence: pd.DataFrame) -> None:
    r = row(evidence, "city", "Kota B", "koordinasi")
    assert r.n_units == 1  # only Ibu B1's d3-3; Perry 6 quoted in the thesis does not count
    assert r.verdict == "insufficient"


def test_informant_and_agency_rows_use_informants_own_words(evidence: pd.DataFrame) -> None:
    r = row(evidence, "informant", "Ibu B1", "integrasi")
    assert (r.study, r.city) == (S2, "Kota B")
    assert r.n_units == 3 and r.n_codable == 4  # her d3-1..d3-3 and her quote d4-2
    assert r.share == pytest.approx(0.75)
    assert r.positive_balance == pytest.approx(1 / 3, abs=1e-4)
    assert r.verdict == "negative"  # a balance of exactly 1/3 is negative
    agency = row(evidence, "agency", "Dinas Y", "integrasi")
    assert agency.n_units == 3  # the thesis narrative has no agency
    assert row(evidence, "agency", "Dinas X", "koordinasi").n_units == 4


def test_verdict_rules(evidence: pd.DataFrame) -> None:
    one_unit = row(evidence, "city", "Kota A", "integrasi")
    assert one_unit.n_units == 1 and one_unit.verdict == "insufficient"
    absent = row(evidence, "study", S1, "kedekatan_pelibatan")
    assert (absent.n_units, absent.strength, absent.verdict) == (0, 0.0, "insufficient")
    assert math.isnan(absent.mean_score)
    assert json.loads(absent.top_excerpts) == []
    assert set(evidence["verdict"]) <= {"positive", "negative", "mixed", "insufficient"}


def test_excerpts_are_the_best_scores_and_support_the_verdict(evidence: pd.DataFrame) -> None:
    r = row(evidence, "city", "Kota B", "integrasi")
    top = json.loads(r.top_excerpts)
    assert [x["unit_id"] for x in top] == ["d3-00001", "d4-00002", "d3-00002"]
    assert top[0] == {
        "unit_id": "d3-00001", "path": "d3.txt", "start": 10, "end": 22, "speaker": "Ibu B1",
        "speaker_role": "informant", "text": "kalimat d3 1", "text_clean": "kalimat d3 1",
        "valence": "negative", "score": 1.0,
    }
    # negative verdict: negative quotes only, the informant first, then a different voice (the thesis)
    supporting = json.loads(r.supporting_excerpts)
    assert [x["unit_id"] for x in supporting] == ["d3-00001", "d4-00001"]


def test_excerpt_ties_are_broken_by_unit_id() -> None:
    units, codings = fixture_tables()
    codings.loc[codings["unit_id"].isin(["d1-00001", "d1-00002"]), "score"] = 0.8
    r = row(evidence_table(units, codings, PERRY6), "informant", "Ibu A1", "koordinasi")
    assert [x["unit_id"] for x in json.loads(r.top_excerpts)] == ["d1-00001", "d1-00002"]


def test_study_level_equals_city_level_when_one_study_is_one_city(evidence: pd.DataFrame) -> None:
    numbers = ["code", "n_units", "n_codable", "strength", "verdict"]
    study = evidence[(evidence["level"] == "study") & (evidence["key"] == S2)][numbers].reset_index(drop=True)
    city = evidence[(evidence["level"] == "city") & (evidence["key"] == "Kota B")][numbers].reset_index(drop=True)
    pd.testing.assert_frame_equal(study, city)


def corpus_of_voices(voices: dict[str, int], score: float = 0.8) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One city per entry name "city/informant": that informant says koordinasi (positive) n times."""
    units, codings = [], []
    for n_doc, (name, n_units) in enumerate(sorted(voices.items())):
        city, informant = name.split("/")
        for i in range(n_units):
            u = unit(f"doc{n_doc}", i, "utterance", "informant", informant, "Dinas", city, f"Studi {city}")
            units.append(u.to_row())
            codings.append(coding(u.unit_id, "koordinasi", score, "positive").to_row())
    return pd.DataFrame(units), pd.DataFrame(codings)


def test_one_talkative_informant_cannot_outweigh_five_who_agree() -> None:
    voices = {"Talkative/Ibu T": 10, **{f"Chorus/Informan {i}": 2 for i in range(5)}}
    evidence = evidence_table(*corpus_of_voices(voices), PERRY6)
    talkative = row(evidence, "city", "Talkative", "koordinasi")
    chorus = row(evidence, "city", "Chorus", "koordinasi")
    assert talkative.n_units == chorus.n_units == 10
    assert chorus.strength > talkative.strength + 0.3
    assert talkative.strength == pytest.approx(1 - math.exp(-0.5), abs=1e-4)  # one saturated source


def test_strength_is_bounded_and_grows_with_every_agreeing_informant() -> None:
    strengths = []
    for n_informants in range(1, 8):
        voices = {f"Kota/Informan {i}": 2 for i in range(n_informants)}
        evidence = evidence_table(*corpus_of_voices(voices, score=0.7), PERRY6)
        strengths.append(row(evidence, "city", "Kota", "koordinasi").strength)
    assert all(0.0 < s < 1.0 for s in strengths)
    assert strengths == sorted(strengths) and len(set(strengths)) == len(strengths)


def test_strength_never_falls_when_a_source_says_more() -> None:
    previous = 0.0
    for n in range(1, 8):
        current = strength_index({"informant:S|A": [0.5] * n, "document:d": [0.3]})
        assert previous <= current <= 1.0
        previous = current
    assert strength_index({}) == 0.0


def test_output_does_not_depend_on_input_order() -> None:
    units, codings = fixture_tables()
    first = evidence_table(units, codings, PERRY6)
    shuffled = evidence_table(units.sample(frac=1, random_state=3), codings.sample(frac=1, random_state=5), PERRY6)
    pd.testing.assert_frame_equal(first, shuffled)


def test_bad_codings_give_one_line_errors() -> None:
    units, codings = fixture_tables()
    wrong_code = codings.copy()
    wrong_code.loc[1, "code"] = "sinkronisasi"
    with pytest.raises(ValueError, match="code 'sinkronisasi' is not in codebook 'perry6'"):
        evidence_table(units, wrong_code, PERRY6)
    with pytest.raises(ValueError, match="no rows for codebook 'perry6' \\(codebooks present: tamtanus\\)"):
        evidence_table(units, codings.assign(codebook="tamtanus"), PERRY6)
    with pytest.raises(ValueError, match="unit 'd1-00002' has a score outside \\[0, 1\\]"):
        evidence_table(units, codings.assign(score=codings["score"].where(codings.index != 2, 1.5)), PERRY6)
    with pytest.raises(ValueError, match="coded twice"):
        evidence_table(units, pd.concat([codings, codings.iloc[[1]]]), PERRY6)
    with pytest.raises(ValueError, match="not in the units table"):
        evidence_table(units[units["doc_id"] != "d2"], codings, PERRY6)
    with pytest.raises(ValueError, match="units table: missing column\\(s\\) informant"):
        evidence_table(units.drop(columns="informant"), codings, PERRY6)


def test_summary_by_code_counts_what_the_classifier_did() -> None:
    units, codings = fixture_tables()
    summary = summary_by_code(units, codings).set_index("code")
    # 16 codable units (all but the header and the heading), interviewer and cited ones included
    assert summary["n_units"].sum() == 16
    assert summary.loc["koordinasi", "n_units"] == 7
    assert summary.loc["koordinasi", "share"] == pytest.approx(7 / 16, abs=1e-4)
    assert summary.loc["uncoded", "n_units"] == 4
    assert list(summary.index)[-1] == "uncoded"
    assert (summary.loc["integrasi", ["n_positive", "n_negative", "n_neutral"]].tolist()) == [1, 4, 0]


def test_supporting_quotes_never_trade_the_verdict_for_a_new_voice() -> None:
    units, codings = fixture_tables()
    # Bapak A2's positive unit becomes neutral: Kota A koordinasi is then Ibu A1's 2 positives vs A2's negative
    codings.loc[codings["unit_id"] == "d2-00002", "valence"] = "neutral"
    r = row(evidence_table(units, codings, PERRY6), "city", "Kota A", "koordinasi")
    assert r.verdict == "mixed"  # votes 1 (Ibu A1) and 0 (Bapak A2)
    supporting = json.loads(r.supporting_excerpts)
    assert [(x["unit_id"], x["valence"]) for x in supporting] == [("d1-00001", "positive"), ("d2-00001", "negative")]
    codings.loc[codings["unit_id"] == "d2-00001", "valence"] = "neutral"  # Bapak A2 is now all neutral
    positive = row(evidence_table(units, codings, PERRY6), "city", "Kota A", "koordinasi")
    assert positive.verdict == "positive"
    # the second quote is Ibu A1's other positive unit, not Bapak A2's neutral one (a new voice)
    assert [x["unit_id"] for x in json.loads(positive.supporting_excerpts)] == ["d1-00001", "d1-00002"]


def test_units_arriving_in_chunks_give_the_same_table_as_the_whole_corpus() -> None:
    """A streaming run feeds the evidence table a batch of documents at a time, in any order."""
    import random

    from pipeline.aggregate import EvidenceAccumulator, evidence_units

    rng = random.Random(7)
    voices = {f"Kota {i % 3}/Ibu I{i}": rng.randint(1, 6) for i in range(12)}
    units, codings = corpus_of_voices(voices)
    codings["score"] = [round(rng.uniform(0.05, 1.0), 6) for _ in range(len(codings))]
    codings["valence"] = [rng.choice(["positive", "negative", "neutral"]) for _ in range(len(codings))]
    codings["code"] = [rng.choice(["koordinasi", "integrasi", "uncoded"]) for _ in range(len(codings))]
    whole = evidence_table(units, codings, PERRY6)
    order = list(range(len(units)))
    rng.shuffle(order)
    accumulator = EvidenceAccumulator(PERRY6)
    for start in range(0, len(order), 5):
        part = order[start:start + 5]
        accumulator.add(evidence_units(units.iloc[part], codings.iloc[part], PERRY6))
    pd.testing.assert_frame_equal(accumulator.table(), whole)
    assert (whole["n_units"] > 2).any() and whole["supporting_excerpts"].str.len().gt(2).any()
