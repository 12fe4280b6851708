"""Every unit gets a coding row; structure and interviewer prompts are uncoded with a reason."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from pipeline.classify.base import Prediction, code_units
from pipeline.classify.lexicon import LexiconCoder
from pipeline.codebook import load_codebook
from pipeline.ingest.batch import units_from_text
from pipeline.tables import units_frame

TEXT = ("Kota: Kota Padang\nInforman: Ibu NK\n\n"
        "P: Bagaimana koordinasi antar instansi di MPP?\n"
        "I: Koordinasi antar instansi sudah rutin lewat rapat koordinasi bulanan.\n")


def coded(text: str, name: str, **options: bool) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The units of ``text`` and their perry6 lexicon codings."""
    frame = units_frame(units_from_text(text, name)[1])
    return frame, code_units(LexiconCoder(load_codebook("perry6")), frame, **options)


def test_every_unit_has_a_row_and_interviewer_questions_are_uncoded() -> None:
    frame, codings = coded(TEXT, "w.txt")
    assert codings["unit_id"].tolist() == frame["unit_id"].tolist()
    by_role = dict(zip(frame["speaker_role"] + ":" + frame["kind"], codings["code"]))
    assert by_role["interviewer:utterance"] == "uncoded"
    assert by_role["informant:utterance"] == "koordinasi"
    reasons = [json.loads(e)["reason"] for e in codings["evidence"]]
    assert any("interviewer turns are not coded" in r for r in reasons)
    assert any("header units are not coded" in r for r in reasons)


def test_interviewer_turns_can_be_coded_on_request() -> None:
    frame, codings = coded(TEXT, "w.txt", code_interviewer=True)
    question = codings[frame["speaker_role"].eq("interviewer").to_numpy()]
    assert question["code"].tolist() == ["koordinasi"]


THESIS = ("# Koordinasi MPP Kota Padang\n\n"
          "## ABSTRAK\n\nKoordinasi antar instansi di MPP sudah rutin lewat rapat koordinasi bulanan.\n\n"
          "## BAB II TINJAUAN PUSTAKA\n\n### 2.1 Koordinasi\n\n"
          "Koordinasi antar instansi menurut para ahli adalah rapat koordinasi yang rutin.\n\n"
          "## BAB IV HASIL PENELITIAN\n\n### 4.1 Koordinasi\n\n"
          "Koordinasi antar instansi di MPP sudah rutin lewat rapat koordinasi bulanan.\n")


def test_a_thesis_abstract_and_literature_review_are_not_coded_as_findings() -> None:
    frame, codings = coded(THESIS, "skripsi.md")
    prose = frame["kind"].eq("narrative").to_numpy()
    by_section = dict(zip(frame.loc[prose, "section"], codings.loc[prose, "code"]))
    reasons = dict(zip(frame.loc[prose, "section"], (json.loads(e)["reason"] for e in codings.loc[prose, "evidence"])))
    findings = [s for s in by_section if "HASIL" in s]
    assert len(by_section) == 3 and len(findings) == 1
    assert by_section[findings[0]] == "koordinasi"  # the same sentence, in the findings chapter
    for section, code in by_section.items():
        if section not in findings:
            assert code == "uncoded"
            assert reasons[section].startswith("not findings: under the heading '")


def test_the_non_findings_rule_is_for_thesis_prose_not_interview_turns() -> None:
    from pipeline.classify.base import why_not_coded

    assert why_not_coded("narrative", "", False, "BAB II > Tinjauan Pustaka > Koordinasi") is not None
    assert why_not_coded("utterance", "informant", False, "Pendahuluan") is None
    assert why_not_coded("narrative", "", False, "BAB IV > 4.2 Hasil Penelitian > 1. Koordinasi") is None


def test_thesis_text_outside_its_findings_is_no_evidence_and_not_offered_for_review() -> None:
    from pipeline.aggregate import evidence_units
    from pipeline.review import review_queue

    frame, codings = coded(THESIS, "skripsi.md")
    findings = frame.loc[frame["kind"].eq("narrative") & frame["section"].str.contains("HASIL"), "unit_id"].tolist()
    assert evidence_units(frame, codings, load_codebook("perry6"))["unit_id"].tolist() == findings
    assert review_queue(frame.merge(codings, on="unit_id"))["unit_id"].tolist() == findings


def test_a_barrier_no_code_caught_is_found_for_review() -> None:
    from pipeline.export.run_folder import coded_units
    from pipeline.review import review_queue

    text = ("Informan: Ibu NK\n\n"
            "P: Ada kendala di loket?\n"
            "I: Servernya sering gangguan, warga terpaksa kembali besok.\n"
            "I: Kantornya buka jam delapan.\n")
    frame, codings = coded(text, "w.txt")
    units = coded_units(frame, codings)
    barriers = review_queue(units, code="uncoded", valence="negative")
    assert barriers["text"].tolist() == ["Servernya sering gangguan, warga terpaksa kembali besok."]
    question = units[units["speaker_role"].eq("interviewer")]
    assert question["valence"].tolist() == ["neutral"]  # never read by a model: no verdict, even with "kendala"


def test_evidence_json_is_compact_sorted_json_whatever_the_text() -> None:
    """The evidence column is the same text whichever JSON encoder wrote it (orjson, or json for what it refuses)."""
    neighbours = [{"text": "Ada \"satgas\" 😀\u2028 baris", "code": "koordinasi", "similarity": 0.8731}]
    cases = [("kode tanpa istilah", 0.25), ("teks dengan surrogate \ud800", 0.5), ("skor numpy", np.float64(0.1))]
    for reason, score in cases:
        prediction = Prediction("koordinasi", 0.7, "positive", scores={"koordinasi": score, "integrasi": 1e-05},
                                terms=[{"term": "rapat", "code": "koordinasi", "start": 0, "end": 5, "weight": 1.0}],
                                neighbours=neighbours, reason=reason)
        evidence = {"scores": {"integrasi": 0.0, "koordinasi": round(score, 4)}, "terms": prediction.terms,
                    "neighbours": neighbours, "valence_cues": [], "reason": reason}
        assert prediction.evidence_json() == json.dumps(evidence, ensure_ascii=False, sort_keys=True,
                                                        separators=(",", ":"))
