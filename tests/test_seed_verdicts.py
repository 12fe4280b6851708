"""Coding the seed studies' findings reproduces each study's own verdicts (issue 5).

Bengkulu (seed 002, Perry 6): coordination negative (only vertical coordination,
monitoring meetings of unclear timing), integration mixed (physically together,
data not synchronised with DUKCAPIL/BPJS), closeness and involvement negative
(no working group, unclear structure).  Pekanbaru (seed 003, Tamtanus): all
four values achieved.  Padang (seed 000, Perry 6): WoG "belum terlaksana";
closeness and involvement not realised.
"""

from __future__ import annotations

import pytest

from pipeline.aggregate import evidence_table
from pipeline.classify.base import code_units
from pipeline.classify.registry import load_coder
from pipeline.codebook import load_codebook
from pipeline.tables import units_frame

FINDINGS = {"002_": "Pembahasan|Kesimpulan|Hasil", "000_": "KESIMPULAN", "003_": "HASIL|KESIMPULAN"}


def study_verdicts(seed_result, seed: str, codebook: str, model: str) -> dict[str, str]:
    """Verdict per code at study level, from the units of a seed's findings sections."""
    units = units_frame(seed_result.units)
    findings = units[units["path"].str.startswith(seed) & units["section"].str.contains(FINDINGS[seed])]
    findings = findings.reset_index(drop=True).assign(study=seed)
    codings = code_units(load_coder(model, codebook), findings)
    evidence = evidence_table(findings, codings, load_codebook(codebook))
    study = evidence[evidence["level"] == "study"]
    return dict(zip(study["code"], study["verdict"]))


@pytest.mark.parametrize("model", ["lexicon", "default"])
def test_bengkulu_verdicts(seed_result, model: str) -> None:
    assert study_verdicts(seed_result, "002_", "perry6", model) == {
        "koordinasi": "negative", "integrasi": "mixed", "kedekatan_pelibatan": "negative"}


@pytest.mark.parametrize("model", ["lexicon", "default"])
def test_pekanbaru_verdicts(seed_result, model: str) -> None:
    assert study_verdicts(seed_result, "003_", "tamtanus", model) == {
        "koordinasi": "positive", "integrasi": "positive", "sinkronisasi": "positive", "simplifikasi": "positive"}


@pytest.mark.parametrize("model", ["lexicon", "default"])
def test_padang_verdicts(seed_result, model: str) -> None:
    verdicts = study_verdicts(seed_result, "000_", "perry6", model)
    assert verdicts["kedekatan_pelibatan"] == "negative"
    assert verdicts["koordinasi"] in ("negative", "mixed") and verdicts["integrasi"] in ("negative", "mixed")
