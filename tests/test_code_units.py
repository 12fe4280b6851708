"""Every unit gets a coding row; structure and interviewer prompts are uncoded with a reason."""

from __future__ import annotations

import json

from pipeline.classify.base import code_units
from pipeline.classify.lexicon import LexiconCoder
from pipeline.codebook import load_codebook
from pipeline.ingest.batch import units_from_text
from pipeline.tables import units_frame

TEXT = ("Kota: Kota Padang\nInforman: Ibu NK\n\n"
        "P: Bagaimana koordinasi antar instansi di MPP?\n"
        "I: Koordinasi antar instansi sudah rutin lewat rapat koordinasi bulanan.\n")


def test_every_unit_has_a_row_and_interviewer_questions_are_uncoded() -> None:
    _, units = units_from_text(TEXT, "w.txt")
    frame = units_frame(units)
    codings = code_units(LexiconCoder(load_codebook("perry6")), frame)
    assert codings["unit_id"].tolist() == frame["unit_id"].tolist()
    by_role = dict(zip(frame["speaker_role"] + ":" + frame["kind"], codings["code"]))
    assert by_role["interviewer:utterance"] == "uncoded"
    assert by_role["informant:utterance"] == "koordinasi"
    reasons = [json.loads(e)["reason"] for e in codings["evidence"]]
    assert any("interviewer turns are not coded" in r for r in reasons)
    assert any("header units are not coded" in r for r in reasons)


def test_interviewer_turns_can_be_coded_on_request() -> None:
    _, units = units_from_text(TEXT, "w.txt")
    frame = units_frame(units)
    codings = code_units(LexiconCoder(load_codebook("perry6")), frame, code_interviewer=True)
    question = codings[frame["speaker_role"].eq("interviewer").to_numpy()]
    assert question["code"].tolist() == ["koordinasi"]
